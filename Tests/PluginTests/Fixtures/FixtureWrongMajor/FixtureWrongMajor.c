/* Built against ABI 2. */
#define FX_ABI_MAJOR 2
#define FX_ID "org.pipeline.fixture.major"
#include "../Common/fixture_plugin.h"
