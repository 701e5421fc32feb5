/* Claims the job type echo, which FixtureCEcho claims too. */
#define FX_ID "org.pipeline.fixture.duplicate"
#define FX_JOB_TYPES "echo", "dup.other"
#include "../Common/fixture_plugin.h"
