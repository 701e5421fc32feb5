/*
 * A download-client driver that breaks the interface's rules on purpose, for
 * the conformance suite's own test: its add is not idempotent (a new id each
 * time), an unknown id is an error rather than null, removing an unknown id
 * fails, a wrong password is called transient, and it never notices that the
 * client is away. It keeps its "downloads" in memory and talks to nothing.
 */
#include <pipeline_plugin.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static const pp_host_api *host;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned counter;
static int wrong_password;

static pp_status broken_init(const pp_host_api *api, const char *config, pp_call *call, void **state) {
    (void)call, (void)state;
    host = api;
    const char *password = NULL;
    wrong_password = api->json_get(call, config, "/password", &password, NULL) == PP_OK && strcmp(password, "right") != 0;
    return PP_OK;
}

static pp_outcome broken_execute(void *state, const pp_job *job, pp_call *call) {
    (void)state, (void)job, (void)call;
    return PP_OUTCOME_FAIL;
}

static void broken_shutdown(void *state) { (void)state; }

static pp_driver_status broken_add(void *state, pp_call *call, const char *item) {
    (void)state, (void)item;
    char result[64];
    pthread_mutex_lock(&lock);
    snprintf(result, sizeof result, "{\"id\":\"%040u\"}", ++counter);
    pthread_mutex_unlock(&lock);
    host->set_result(call, result);
    return PP_DRIVER_OK;
}

static pp_driver_status broken_status(void *state, pp_call *call, const char *id) {
    (void)state;
    if (strlen(id) == 40 && strspn(id, "0") >= 30) {
        host->set_result(call, "{\"name\":\"x\",\"state\":\"downloading\",\"progress\":0.5,\"size_bytes\":10,\"download_rate\":0}");
        return PP_DRIVER_OK;
    }
    host->set_error(call, "no such torrent", NULL);
    return PP_DRIVER_TRANSIENT;
}

static pp_driver_status broken_remove(void *state, pp_call *call, const char *id, uint32_t delete_data) {
    (void)state, (void)id, (void)delete_data;
    host->set_error(call, "no such torrent", NULL);
    return PP_DRIVER_REJECTED;
}

static pp_driver_status broken_test(void *state, pp_call *call) {
    (void)state;
    if (wrong_password) {
        host->set_error(call, "login failed", NULL);
        return PP_DRIVER_TRANSIENT;
    }
    host->set_result(call, "{\"version\":\"0.1\"}");
    return PP_DRIVER_OK;
}

static const pp_download_client broken_client = {
    .struct_size = sizeof(pp_download_client), .protocols = PP_PROTOCOL_TORRENT, .kind = "broken", .display_name = "Broken",
    .add = broken_add, .status = broken_status, .remove = broken_remove, .test = broken_test};

static const void *broken_extension(const char *id) {
    return strcmp(id, PP_EXTENSION_DOWNLOAD_CLIENT) == 0 ? &broken_client : NULL;
}

static const pp_plugin_descriptor descriptor = {
    .struct_size = sizeof(pp_plugin_descriptor), .abi_major = PP_ABI_VERSION_MAJOR, .abi_minor = PP_ABI_VERSION_MINOR,
    .build_signature = PP_BUILD_SIGNATURE, .id = "org.pipeline.fixture.broken-driver", .name = "Broken driver",
    .version = "0.1.0", .job_types = (const char *const[]){NULL}, .init = broken_init, .execute = broken_execute,
    .shutdown = broken_shutdown, .get_extension = broken_extension};

PP_EXPORT const pp_plugin_descriptor *pipeline_plugin_entry_v1(uint32_t major, uint32_t minor) {
    (void)minor;
    return major == PP_ABI_VERSION_MAJOR ? &descriptor : NULL;
}
