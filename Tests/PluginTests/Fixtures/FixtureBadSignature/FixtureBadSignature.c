/* Claims to be built for another platform. */
#define FX_SIGNATURE "pp1 aarch64-darwin-libc lp64"
#define FX_ID "org.pipeline.fixture.signature"
#include "../Common/fixture_plugin.h"
