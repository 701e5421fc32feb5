/* A working plugin in plain C. The queue tests run its job types work and
 * slow; the hardening and isolation drills add other, stuck, crash_now and
 * slow_ok (each does what its payload's mode says). */
#define FX_JOB_TYPES "echo", "c.echo", "work", "slow", "other", "stuck", "crash_now", "slow_ok"
#include "../Common/fixture_plugin.h"
