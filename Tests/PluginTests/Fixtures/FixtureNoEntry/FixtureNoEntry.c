/* Exports pipeline_plugin_entry instead of pipeline_plugin_entry_v1. */
#define FX_NO_ENTRY 1
#include "../Common/fixture_plugin.h"
