/* A descriptor 16 bytes larger than the host's, the extra bytes zero. */
#define FX_STRUCT_SIZE (sizeof(pp_plugin_descriptor) + 16)
#define FX_ID "org.pipeline.fixture.largezero"
#define FX_JOB_TYPES "large.echo"
#include "../Common/fixture_plugin.h"
