/* No name. */
#define FX_NAME ""
#define FX_ID "org.pipeline.fixture.noname"
#include "../Common/fixture_plugin.h"
