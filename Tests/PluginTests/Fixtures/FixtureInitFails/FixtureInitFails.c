/* Refuses to start: its configuration lacks an API key. */
#define FX_INIT fx_init_fails
#define FX_ID "org.pipeline.fixture.initfails"
#define FX_JOB_TYPES "initfails.echo"
#include "../Common/fixture_plugin.h"
