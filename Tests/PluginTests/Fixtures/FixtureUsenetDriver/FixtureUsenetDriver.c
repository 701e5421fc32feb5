/* A memory driver that takes usenet (NZB files). */
#define FX_PROTOCOLS PP_PROTOCOL_USENET
#define FX_KIND "fixture-usenet"
#define FX_ID "org.pipeline.fixture.usenet-driver"
#include "../Common/memory_driver.h"
