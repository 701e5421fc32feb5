/* A memory driver that takes torrents. */
#define FX_PROTOCOLS PP_PROTOCOL_TORRENT
#define FX_KIND "fixture-torrent"
#define FX_ID "org.pipeline.fixture.torrent-driver"
#include "../Common/memory_driver.h"
