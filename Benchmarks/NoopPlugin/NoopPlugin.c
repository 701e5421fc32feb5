/* The benchmarks' processor: a real plugin, loaded through the ABI, whose
 * job type "bench" does nothing and returns nothing. */
#include <pipeline_plugin.h>

static pp_status noop_init(const pp_host_api *host, const char *config_json, pp_call *call, void **state_out) {
    (void)host;
    (void)config_json;
    (void)call;
    *state_out = 0;
    return PP_OK;
}

static pp_outcome noop_execute(void *state, const pp_job *job, pp_call *call) {
    (void)state;
    (void)job;
    (void)call;
    return PP_OUTCOME_DONE;
}

static void noop_shutdown(void *state) { (void)state; }

static const char *const noop_job_types[] = {"bench", 0};

static const pp_plugin_descriptor noop_descriptor = {
    .struct_size = sizeof(pp_plugin_descriptor),
    .abi_major = PP_ABI_VERSION_MAJOR,
    .abi_minor = PP_ABI_VERSION_MINOR,
    .build_signature = PP_BUILD_SIGNATURE,
    .id = "org.pipeline.bench.noop",
    .name = "No-op benchmark processor",
    .version = "1.0.0",
    .job_types = noop_job_types,
    .init = noop_init,
    .execute = noop_execute,
    .shutdown = noop_shutdown,
};

PP_EXPORT const pp_plugin_descriptor *pipeline_plugin_entry_v1(uint32_t major, uint32_t minor) {
    (void)minor;
    return major == PP_ABI_VERSION_MAJOR ? &noop_descriptor : 0;
}
