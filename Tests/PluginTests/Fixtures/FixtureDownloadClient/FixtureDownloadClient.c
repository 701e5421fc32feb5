/*
 * A download client that downloads nothing, for routing tests: it claims
 * download_torrent and monitor_download, and each instance answers with the
 * `label` of its config, so a test sees which instance ran which job.
 *   download_torrent: enqueues monitor_download {"hash":"<label>-<job id>"}
 *                     and reports {"label":..., "payload":<its payload>}.
 *   monitor_download: done with {"label":..., "payload":<its payload>}.
 */
#include <pipeline_plugin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const pp_host_api *host;
    char label[64];
} client_state;

static pp_status client_init(const pp_host_api *host, const char *config_json, pp_call *call, void **state_out) {
    client_state *state = calloc(1, sizeof *state);
    if (state == NULL) {
        host->set_error(call, "out of memory", NULL);
        return PP_ERR_FAILED;
    }
    state->host = host;
    const char *found = strstr(config_json, "\"label\":\"");
    if (found == NULL) {
        free(state);
        host->set_error(call, "config.label is missing: give each instance a label", NULL);
        return PP_ERR_FAILED;
    }
    found += strlen("\"label\":\"");
    size_t length = strcspn(found, "\"");
    if (length >= sizeof state->label) length = sizeof state->label - 1;
    memcpy(state->label, found, length);
    *state_out = state;
    return PP_OK;
}

static pp_outcome client_execute(void *opaque, const pp_job *job, pp_call *call) {
    client_state *state = opaque;
    const pp_host_api *host = state->host;
    char *result = malloc(strlen(job->payload_json) + 128);
    if (result == NULL) return PP_OUTCOME_RETRY;
    sprintf(result, "{\"label\":\"%s\",\"payload\":%s}", state->label, job->payload_json);
    if (strcmp(job->type, "download_torrent") == 0) {
        char follow[160];
        snprintf(follow, sizeof follow, "{\"hash\":\"%s-%s\"}", state->label, job->id);
        if (host->enqueue(call, "monitor_download", follow, NULL) != PP_OK) {
            free(result);
            host->set_error(call, "enqueue refused", NULL);
            return PP_OUTCOME_FAIL;
        }
    }
    host->set_result(call, result);
    free(result);
    return PP_OUTCOME_DONE;
}

static void client_shutdown(void *state) { free(state); }

static const char *const client_job_types[] = {"download_torrent", "monitor_download", NULL};

static const pp_plugin_descriptor client_descriptor = {
    .struct_size = sizeof(pp_plugin_descriptor),
    .abi_major = PP_ABI_VERSION_MAJOR,
    .abi_minor = PP_ABI_VERSION_MINOR,
    .build_signature = PP_BUILD_SIGNATURE,
    .id = "org.pipeline.fixture.downloadclient",
    .name = "Download client fixture",
    .version = "1.0.0",
    .job_types = client_job_types,
    .init = client_init,
    .execute = client_execute,
    .shutdown = client_shutdown,
};

PP_EXPORT const pp_plugin_descriptor *pipeline_plugin_entry_v1(uint32_t major, uint32_t minor) {
    (void)minor;
    return major == PP_ABI_VERSION_MAJOR ? &client_descriptor : NULL;
}
