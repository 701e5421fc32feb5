/*
 * A download-client driver that keeps its downloads in memory and finishes
 * each at once: for routing tests that need a driver of a given protocol
 * without a client. Define FX_PROTOCOLS, FX_KIND and FX_ID before including.
 * It reads and writes JSON only through the host's json_get and json_set.
 *
 * config: "complete_dir", where its downloads "are" once complete; "ratio"
 * and "seeding_seconds" (numbers), which every download reports when given.
 */
#include <pipeline_plugin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { FX_MAX = 64 };

typedef struct {
    const pp_host_api *host;
    char complete_dir[512];
    char ratio[64], seeding_seconds[64]; /* JSON numbers, "" when not given */
    pthread_mutex_t lock;
    int count;
    char ids[FX_MAX][48];
    char names[FX_MAX][128];
} memory_driver;

static pp_status fx_init(const pp_host_api *host, const char *config, pp_call *call, void **state_out) {
    memory_driver *d = calloc(1, sizeof *d);
    if (d == NULL) return PP_ERR_FAILED;
    const char *dir = "/downloads";
    host->json_get(call, config, "/complete_dir", &dir, NULL);
    d->host = host;
    snprintf(d->complete_dir, sizeof d->complete_dir, "%s", dir);
    const char *value = NULL;
    int32_t type = PP_JSON_NULL;
    if (host->json_get(call, config, "/ratio", &value, &type) == PP_OK && type == PP_JSON_NUMBER)
        snprintf(d->ratio, sizeof d->ratio, "%s", value);
    if (host->json_get(call, config, "/seeding_seconds", &value, &type) == PP_OK && type == PP_JSON_NUMBER)
        snprintf(d->seeding_seconds, sizeof d->seeding_seconds, "%s", value);
    pthread_mutex_init(&d->lock, NULL);
    *state_out = d;
    return PP_OK;
}

static void fx_shutdown(void *state) { free(state); }

static int fx_find(memory_driver *d, const char *id) {
    for (int i = 0; i < d->count; i++)
        if (strcmp(d->ids[i], id) == 0) return i;
    return -1;
}

static pp_driver_status fx_add(void *state, pp_call *call, const char *item) {
    memory_driver *d = state;
    const char *name = "download", *hash = NULL, *nzb = NULL, *out = NULL;
    char id[48];
    d->host->json_get(call, item, "/name", &name, NULL);
    if (d->host->json_get(call, item, "/nzb_base64", &nzb, NULL) == PP_OK) {
        unsigned long long fnv = 1469598103934665603ULL; /* the NZB's FNV-1a: the same NZB, the same id */
        for (const char *p = nzb; *p; p++) fnv = (fnv ^ (unsigned char)*p) * 1099511628211ULL;
        snprintf(id, sizeof id, "nzb-%016llx", fnv);
    } else if (d->host->json_get(call, item, "/info_hash", &hash, NULL) == PP_OK) {
        snprintf(id, sizeof id, "%s", hash);
    } else {
        d->host->set_error(call, "the item has neither an NZB nor an info hash", NULL);
        return PP_DRIVER_REJECTED;
    }
    pthread_mutex_lock(&d->lock);
    if (fx_find(d, id) < 0 && d->count < FX_MAX) {
        snprintf(d->ids[d->count], sizeof d->ids[0], "%s", id);
        snprintf(d->names[d->count], sizeof d->names[0], "%s", name);
        d->count++;
    }
    pthread_mutex_unlock(&d->lock);
    d->host->json_set(call, "{}", "/id", PP_JSON_STRING, id, &out);
    d->host->set_result(call, out);
    return PP_DRIVER_OK;
}

static pp_driver_status fx_status(void *state, pp_call *call, const char *id) {
    memory_driver *d = state;
    char name[128], path[700];
    pthread_mutex_lock(&d->lock);
    int index = fx_find(d, id);
    if (index >= 0) snprintf(name, sizeof name, "%s", d->names[index]);
    pthread_mutex_unlock(&d->lock);
    if (index < 0) return d->host->set_result(call, "null"), PP_DRIVER_OK;
    snprintf(path, sizeof path, "%s/%s", d->complete_dir, name);
    const char *out = "{\"state\":\"completed\",\"progress\":1,\"size_bytes\":1000,\"download_rate\":0}";
    d->host->json_set(call, out, "/name", PP_JSON_STRING, name, &out);
    d->host->json_set(call, out, "/content_path", PP_JSON_STRING, path, &out);
    if (d->ratio[0] != '\0') d->host->json_set(call, out, "/ratio", PP_JSON_NUMBER, d->ratio, &out);
    if (d->seeding_seconds[0] != '\0') d->host->json_set(call, out, "/seeding_seconds", PP_JSON_NUMBER, d->seeding_seconds, &out);
    d->host->set_result(call, out);
    return PP_DRIVER_OK;
}

static pp_driver_status fx_remove(void *state, pp_call *call, const char *id, uint32_t delete_data) {
    memory_driver *d = state;
    (void)call, (void)delete_data;
    pthread_mutex_lock(&d->lock);
    int index = fx_find(d, id);
    if (index >= 0) {
        d->count--;
        memmove(d->ids[index], d->ids[d->count], sizeof d->ids[0]);
        memmove(d->names[index], d->names[d->count], sizeof d->names[0]);
    }
    pthread_mutex_unlock(&d->lock);
    return PP_DRIVER_OK;
}

static pp_driver_status fx_test(void *state, pp_call *call) {
    memory_driver *d = state;
    d->host->set_result(call, "{\"version\":\"memory\"}");
    return PP_DRIVER_OK;
}

static const pp_download_client fx_client = {
    .struct_size = sizeof(pp_download_client), .protocols = FX_PROTOCOLS, .kind = FX_KIND, .display_name = FX_KIND,
    .add = fx_add, .status = fx_status, .remove = fx_remove, .test = fx_test};

static const void *fx_extension(const char *id) { return strcmp(id, PP_EXTENSION_DOWNLOAD_CLIENT) == 0 ? &fx_client : NULL; }

static const pp_plugin_descriptor fx_descriptor = {
    .struct_size = sizeof(pp_plugin_descriptor), .abi_major = PP_ABI_VERSION_MAJOR, .abi_minor = PP_ABI_VERSION_MINOR,
    .build_signature = PP_BUILD_SIGNATURE, .id = FX_ID, .name = FX_KIND " memory driver", .version = "0.1.0",
    .job_types = (const char *const[]){NULL}, .init = fx_init, .shutdown = fx_shutdown, .get_extension = fx_extension};

PP_EXPORT const pp_plugin_descriptor *pipeline_plugin_entry_v1(uint32_t major, uint32_t minor) {
    (void)minor;
    return major == PP_ABI_VERSION_MAJOR ? &fx_descriptor : NULL;
}
