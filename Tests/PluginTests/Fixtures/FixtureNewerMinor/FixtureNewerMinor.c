/* Built against ABI 1.7, newer than the host. */
#define FX_ABI_MINOR 7
#define FX_ID "org.pipeline.fixture.minor"
#include "../Common/fixture_plugin.h"
