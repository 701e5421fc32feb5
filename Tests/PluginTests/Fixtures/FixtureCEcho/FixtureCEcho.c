/* A working plugin in plain C. The queue tests run its job types work and slow. */
#define FX_JOB_TYPES "echo", "c.echo", "work", "slow"
#include "../Common/fixture_plugin.h"
