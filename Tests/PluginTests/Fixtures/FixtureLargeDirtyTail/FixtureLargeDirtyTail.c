/* A descriptor 16 bytes larger than the host's, with a field the host does not know set. */
#define FX_STRUCT_SIZE (sizeof(pp_plugin_descriptor) + 16)
#define FX_TAIL 0xfeedULL
#define FX_ID "org.pipeline.fixture.largedirty"
#include "../Common/fixture_plugin.h"
