/* No execute function. */
#define FX_EXECUTE NULL
#define FX_ID "org.pipeline.fixture.noexecute"
#include "../Common/fixture_plugin.h"
