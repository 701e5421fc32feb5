/* A working plugin in plain C. */
#include "../Common/fixture_plugin.h"
