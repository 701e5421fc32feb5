/* An older plugin: its descriptor ends with the required fields. The optional fields after them hold values that the host must not read. */
#define FX_STRUCT_SIZE PP_DESCRIPTOR_SIZE_MIN
#define FX_ID "org.pipeline.fixture.small"
#define FX_JOB_TYPES "small.echo"
#include "../Common/fixture_plugin.h"
