/*
 * Compile-time checks that pin the published layout of ABI 1 (1.0 to 1.3). If one of
 * these fails, a change broke binary compatibility with built plugins: append
 * fields at the end instead, and read docs/plugin-abi.md, "Changing the ABI".
 * (This file also gives SwiftPM an object file for the PluginABI target.)
 */
#include "pipeline_plugin.h"

#define PP_PIN(type, field, offset) \
    _Static_assert(offsetof(type, field) == (offset), #type "." #field " moved")

_Static_assert(sizeof(void *) == 8, "ABI 1 is defined for 64-bit targets");

PP_PIN(pp_job, struct_size, 0);
PP_PIN(pp_job, attempt, 4);
PP_PIN(pp_job, max_attempts, 8);
PP_PIN(pp_job, id, 16);
PP_PIN(pp_job, type, 24);
PP_PIN(pp_job, payload_json, 32);
PP_PIN(pp_job, created_at_ms, 40);
_Static_assert(sizeof(pp_job) == PP_JOB_SIZE_MIN, "pp_job size changed");

PP_PIN(pp_host_api, struct_size, 0);
PP_PIN(pp_host_api, abi_major, 4);
PP_PIN(pp_host_api, abi_minor, 8);
PP_PIN(pp_host_api, host_ctx, 16);
PP_PIN(pp_host_api, log, 24);
PP_PIN(pp_host_api, progress, 32);
PP_PIN(pp_host_api, is_cancelled, 40);
PP_PIN(pp_host_api, set_result, 48);
PP_PIN(pp_host_api, set_error, 56);
PP_PIN(pp_host_api, set_delay, 64);
PP_PIN(pp_host_api, set_payload, 72);
PP_PIN(pp_host_api, request_transition, 80);
PP_PIN(pp_host_api, enqueue, 88);
_Static_assert(offsetof(pp_host_api, report_library) == PP_HOST_API_SIZE_MIN, "1.1 fields start after the 1.0 ones");
PP_PIN(pp_host_api, report_library, 96);
PP_PIN(pp_host_api, find_requests, PP_HOST_API_SIZE_1_1);
PP_PIN(pp_host_api, http_request, PP_HOST_API_SIZE_1_2);
PP_PIN(pp_host_api, json_get, 120);
PP_PIN(pp_host_api, json_set, 128);
PP_PIN(pp_host_api, download_protocols, 136);
_Static_assert(sizeof(pp_host_api) == PP_HOST_API_SIZE_1_3, "pp_host_api size changed");

PP_PIN(pp_plugin_descriptor, struct_size, 0);
PP_PIN(pp_plugin_descriptor, abi_major, 4);
PP_PIN(pp_plugin_descriptor, abi_minor, 8);
PP_PIN(pp_plugin_descriptor, flags, 12);
PP_PIN(pp_plugin_descriptor, build_signature, 16);
PP_PIN(pp_plugin_descriptor, id, 24);
PP_PIN(pp_plugin_descriptor, name, 32);
PP_PIN(pp_plugin_descriptor, version, 40);
PP_PIN(pp_plugin_descriptor, job_types, 48);
PP_PIN(pp_plugin_descriptor, init, 56);
PP_PIN(pp_plugin_descriptor, execute, 64);
PP_PIN(pp_plugin_descriptor, shutdown, 72);
_Static_assert(offsetof(pp_plugin_descriptor, description) == PP_DESCRIPTOR_SIZE_MIN,
               "the required block of pp_plugin_descriptor changed");
PP_PIN(pp_plugin_descriptor, check, 88);
PP_PIN(pp_plugin_descriptor, get_extension, 96);
_Static_assert(sizeof(pp_plugin_descriptor) == PP_DESCRIPTOR_SIZE_1_3, "pp_plugin_descriptor size changed");

PP_PIN(pp_download_client, struct_size, 0);
PP_PIN(pp_download_client, protocols, 4);
PP_PIN(pp_download_client, kind, 8);
PP_PIN(pp_download_client, display_name, 16);
PP_PIN(pp_download_client, add, 24);
PP_PIN(pp_download_client, status, 32);
PP_PIN(pp_download_client, remove, 40);
PP_PIN(pp_download_client, test, 48);
_Static_assert(sizeof(pp_download_client) == PP_DOWNLOAD_CLIENT_SIZE_MIN, "pp_download_client size changed");

PP_PIN(pp_library_backend, struct_size, 0);
PP_PIN(pp_library_backend, kind, 8);
PP_PIN(pp_library_backend, display_name, 16);
PP_PIN(pp_library_backend, books, 24);
PP_PIN(pp_library_backend, scan, 32);
PP_PIN(pp_library_backend, test, 40);
_Static_assert(sizeof(pp_library_backend) == PP_LIBRARY_BACKEND_SIZE_MIN, "pp_library_backend size changed");
