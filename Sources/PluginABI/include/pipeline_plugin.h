/*
 * pipeline_plugin.h: the pipeline-host plugin ABI, version 1.3.
 *
 * This header is the whole contract between pipeline-host and a processor
 * plugin. A plugin is one shared library (.so) that includes this header and
 * nothing else of the host, exports one function, and is loaded with dlopen by
 * the host when pipeline.yaml names its file. docs/plugin-abi.md explains the
 * rules below at length and ends with a complete plugin in C.
 *
 * VERSIONS
 *   PP_ABI_VERSION_MAJOR changes only when an existing struct, function or
 *   meaning changes; the host refuses a plugin of another major. The entry
 *   symbol carries the major in its name (pipeline_plugin_entry_v1), so a host
 *   of a later major can keep loading v1 plugins.
 *   PP_ABI_VERSION_MINOR grows when fields are appended to a struct. The host
 *   refuses a plugin built against a newer minor than its own (the plugin may
 *   rely on host services the host does not have) and accepts every older one.
 *
 * STRUCT SIZES
 *   Every struct passed by pointer across the boundary starts with
 *   `uint32_t struct_size`, set to sizeof(struct) as the writer compiled it.
 *   Fields are only ever appended, 8-byte aligned; none is removed or
 *   reordered. A reader applies three rules:
 *     - equal size: read as is;
 *     - smaller (an older writer): the missing fields read as absent (0/NULL);
 *     - larger (a newer writer): accepted only if every byte the reader does not
 *       know is zero; otherwise refused.
 *   A size below the struct's PP_*_SIZE_MIN is always refused.
 *
 * MEMORY OWNERSHIP (the same three rules everywhere)
 *   1. Everything the host passes in (strings, structs, the pp_call handle) is
 *      BORROWED: valid only until the function it was passed to returns. Copy
 *      what you keep. The one exception is the pp_host_api table given to
 *      init(), which stays valid for the life of the process.
 *   2. The plugin never hands heap memory to the host, and the host never hands
 *      heap memory to the plugin. Results, errors and logs go out through host
 *      callbacks, which COPY their arguments before returning. No allocator
 *      crosses the boundary, so nothing ever needs to be freed on the other side.
 *   3. Everything the descriptor points to (strings, the job_types array) is
 *      static storage in the plugin, valid for the life of the process. The
 *      host never unloads a plugin (it never calls dlclose).
 *   All strings are UTF-8 and NUL-terminated. JSON arguments are complete JSON
 *   texts (an object unless said otherwise).
 *
 * THREADS (each function below carries one of these tags)
 *   [entry]   called once, before anything else, on the loading thread.
 *   [loader]  called at most once per plugin instance, on the loading thread,
 *             never at the same time as any other call into that instance.
 *   [worker]  called on the host's worker threads, never on an async runtime's
 *             threads, so it may block on I/O. Several calls may run at once
 *             on one instance (up to the job type's concurrency) unless the
 *             descriptor sets PP_FLAG_SERIAL_EXECUTE.
 *   [any]     a host service that may be called from any thread, including
 *             threads the plugin started itself.
 *   [call]    a host service that takes a pp_call: valid only while the call
 *             that received the handle has not returned. It may be used from
 *             any thread during that time.
 *
 * NEVER let a C++ exception, a Swift error or a longjmp cross this boundary.
 */
#ifndef PIPELINE_PLUGIN_H
#define PIPELINE_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------
 * Versions and the entry symbol
 * ------------------------------------------------------------------------- */

#define PP_ABI_VERSION_MAJOR 1
#define PP_ABI_VERSION_MINOR 3

/** The one symbol a plugin exports. The "_v1" is PP_ABI_VERSION_MAJOR. */
#define PP_ENTRY_SYMBOL "pipeline_plugin_entry_v1"

/** Marks the entry function as exported. Build C plugins with
 *  -fvisibility=hidden so that nothing else is. */
#define PP_EXPORT __attribute__((visibility("default")))

/* ---------------------------------------------------------------------------
 * Status codes returned by host services and by init()
 * ------------------------------------------------------------------------- */

typedef int32_t pp_status;
#define PP_OK                     0
/** An argument was NULL where it may not be, or not valid JSON, or unknown. */
#define PP_ERR_INVALID_ARGUMENT (-1)
/** The host understood the request and refused it (an illegal request
 *  transition, a job type no plugin handles). set_error has no effect. */
#define PP_ERR_REFUSED          (-2)
/** The service is not available here: outside a job, or not offered by this
 *  host (a `pipeline-host plugin run` session has no queue, for instance). */
#define PP_ERR_UNSUPPORTED      (-3)
/** init(): the plugin cannot start. Say why with set_error first. */
#define PP_ERR_FAILED           (-4)

/* ---------------------------------------------------------------------------
 * Outcomes: what execute() returns
 * ------------------------------------------------------------------------- */

typedef int32_t pp_outcome;
/** The job is done. Its result is what set_result gave (JSON null if never
 *  called). Follow-up effects (request transitions, enqueued jobs) apply now. */
#define PP_OUTCOME_DONE       0
/** A transient failure (a timeout, a 5xx, a refused connection): the host
 *  retries the job according to its retry policy. set_error says why;
 *  set_delay, if called, overrides the policy's delay for this retry. When no
 *  attempts remain, the job fails for good. */
#define PP_OUTCOME_RETRY      1
/** A permanent failure (bad credentials, malformed payload): never retried,
 *  whatever attempts remain. set_error says why and what to fix. */
#define PP_OUTCOME_FAIL       2
/** Not a failure: the same job comes back after set_delay milliseconds, with
 *  the payload given to set_payload (the old one if never called), without
 *  counting an attempt. For pollers such as download monitoring. */
#define PP_OUTCOME_RESCHEDULE 3

/* ---------------------------------------------------------------------------
 * Log levels and descriptor flags
 * ------------------------------------------------------------------------- */

#define PP_LOG_DEBUG 0
#define PP_LOG_INFO  1
#define PP_LOG_WARN  2
#define PP_LOG_ERROR 3

/** The host never runs two execute() calls of this plugin at once. */
#define PP_FLAG_SERIAL_EXECUTE (1u << 0)

/* ---------------------------------------------------------------------------
 * Opaque handles
 * ------------------------------------------------------------------------- */

/** One call into the plugin (an init() or an execute()). Host services that
 *  report about that call take it. Valid only until the call returns. */
typedef struct pp_call pp_call;

/* ---------------------------------------------------------------------------
 * The job: input to execute()
 * ------------------------------------------------------------------------- */

/** One job, borrowed for the duration of execute(). Since 1.0. */
typedef struct pp_job {
    uint32_t struct_size;      /**< sizeof(pp_job) as the host compiled it. */
    /** This attempt's number, from 1. A rescheduled job keeps its number. */
    uint32_t attempt;
    /** Attempts allowed in all; attempt == max_attempts is the last one. */
    uint32_t max_attempts;
    uint32_t reserved0;        /**< Zero. */
    const char *id;            /**< The job's id in the queue. */
    const char *type;          /**< The job type, one of the descriptor's job_types. */
    const char *payload_json;  /**< The job's data: a JSON object. */
    int64_t created_at_ms;     /**< When the job was added, ms since the Unix epoch. */
} pp_job;

#define PP_JOB_SIZE_MIN 48

/* ---------------------------------------------------------------------------
 * Host services: the table the host gives to init()
 * ------------------------------------------------------------------------- */

/** Services the host offers to a plugin. Owned by the host, valid for the life
 *  of the process; keep the pointer init() receives. Every function pointer
 *  is non-NULL in a table whose struct_size covers it. Since 1.0. */
typedef struct pp_host_api {
    uint32_t struct_size;      /**< sizeof(pp_host_api) as the host compiled it. */
    uint32_t abi_major;        /**< The host's PP_ABI_VERSION_MAJOR. */
    uint32_t abi_minor;        /**< The host's PP_ABI_VERSION_MINOR. */
    uint32_t reserved0;        /**< Zero. */
    /** The host's own pointer; pass it back to log(). */
    void *host_ctx;

    /** [any] Writes one log line, tagged with the plugin, and with the job if
     *  `call` is an execute() call. Inside a job the line also goes to the
     *  job's event log (info, warn and error; debug only to the host log).
     *  `call` may be NULL outside a call. `metadata_json` is a JSON object or
     *  NULL. Nothing is kept after it returns. */
    void (*log)(void *host_ctx, pp_call *call, int32_t level,
                const char *message, const char *metadata_json);

    /** [call] Reports progress of the running job: `percent` from 0 to 100,
     *  `details_json` a JSON object or NULL. The latest report wins. */
    pp_status (*progress)(pp_call *call, double percent, const char *details_json);

    /** [call] Returns 1 once the host wants the call to stop (the job's
     *  timeout expired, the host is shutting down, or the request was
     *  cancelled), else 0. Poll it between steps of long work and return
     *  PP_OUTCOME_RETRY promptly when it says 1. Cheap enough to call
     *  every millisecond. */
    uint32_t (*is_cancelled)(pp_call *call);

    /** [call] Sets the job's result (any JSON value), kept with a
     *  PP_OUTCOME_DONE. A later call replaces an earlier one. */
    pp_status (*set_result)(pp_call *call, const char *result_json);

    /** [call] Says why the call failed: a message for people (what went wrong
     *  and what to do about it) and optional JSON details. Used with
     *  PP_OUTCOME_RETRY, PP_OUTCOME_FAIL and a failing init(). */
    pp_status (*set_error)(pp_call *call, const char *message, const char *details_json);

    /** [call] The delay in milliseconds before the job runs again: required
     *  with PP_OUTCOME_RESCHEDULE, optional with PP_OUTCOME_RETRY (it then
     *  replaces the retry policy's backoff for this attempt). */
    pp_status (*set_delay)(pp_call *call, int64_t delay_ms);

    /** [call] The payload a rescheduled job comes back with (a JSON object).
     *  Only meaningful with PP_OUTCOME_RESCHEDULE. */
    pp_status (*set_payload)(pp_call *call, const char *payload_json);

    /** [call] Asks that a request move to `status` (one of the request
     *  statuses in docs/requests.md). The transition is checked at once
     *  (PP_ERR_REFUSED for an illegal one) and takes effect with the job's
     *  outcome: when the job is done, or when its last attempt has failed.
     *  `details_json` is a JSON object with the reason and fields to record,
     *  or NULL. */
    pp_status (*request_transition)(pp_call *call, const char *request_id,
                                    const char *status, const char *details_json);

    /** [call] Asks for a follow-up job of `job_type` with `payload_json` (a
     *  JSON object). `options_json` is NULL or an object with any of
     *  "delay_ms", "priority", "job_id". Like request_transition, it takes
     *  effect only when this job is done, so a retried attempt never enqueues
     *  its follow-ups twice. PP_ERR_REFUSED if no plugin handles job_type. */
    pp_status (*enqueue)(pp_call *call, const char *job_type,
                         const char *payload_json, const char *options_json);

    /* --- Since 1.1 (a plugin checks struct_size before calling these). --- */

    /** [call] Reports books a library backend lists. `backend` names the
     *  library ("plex", "audiobookshelf"); `items_json` is a JSON array of
     *  objects with "id" and "title" required and "author", "asin", "isbn",
     *  "path", "added_at" (ISO 8601) optional. With `complete` = 1 the list is
     *  the whole library: items of that backend not in it are removed. Like
     *  enqueue, it takes effect when this job is done; the host then records
     *  the items and moves each open request they match to `available`. */
    pp_status (*report_library)(pp_call *call, const char *backend, const char *items_json,
                                uint32_t complete);

    /* --- Since 1.2. --- */

    /** [call] Finds requests, for jobs that work through many (scheduled
     *  retries). `query_json` is an object: "status" (an array of request
     *  statuses, required), "order" ("created_at", "last_search_at" or
     *  "last_import_at", oldest and never-stamped first; default
     *  "created_at"), "limit" (1 to 500, default 50). On PP_OK `*out_json`
     *  points to a JSON array of request objects (docs/plugin-abi.md,
     *  "Finding requests"), owned by the host and valid until this call
     *  returns. PP_ERR_UNSUPPORTED without a request ledger (PostgreSQL off);
     *  PP_ERR_FAILED when the database cannot be read (retry the job). */
    pp_status (*find_requests)(pp_call *call, const char *query_json, const char **out_json);

    /* --- Since 1.3: services that spare a C plugin its own HTTP and JSON. --- */

    /** [call] Sends one HTTP request through the host and waits for the
     *  answer, so a plugin needs no HTTP code of its own. `request_json` is an
     *  object:
     *    "url"          required, http or https (TLS is the host's);
     *    "method"       default "GET";
     *    "headers"      an object of header names to string values, sent as
     *                   given (the host adds no Content-Type or charset);
     *    "body"         the body as text, or "body_base64" for bytes;
     *    "timeout_ms"   default 30000, at most 600000;
     *    "max_response_bytes"  default 16 MiB, at most 256 MiB;
     *    "basic_auth"   {"username": ..., "password": ...}: the host sends
     *                   them as HTTP Basic credentials and masks both;
     *    "secrets"      strings (passwords, tokens) the host masks as *** in
     *                   every log line and error message about this request
     *                   (empty strings are ignored).
     *  The host adds "Accept-Encoding: identity" (a compressed answer is
     *  refused) and the cookies it keeps: those a server set are kept per
     *  plugin instance, by host and path prefix, and sent back to it, as a
     *  browser would (a login session). Redirects are not followed: a 3xx
     *  comes back as the answer (its "location" header says where), so that
     *  credentials never reach another origin unasked. The call ends early,
     *  as a failure, when the job is cancelled.
     *  On PP_OK (an answer came, whatever its status code) `*response_json`
     *  is {"status": 200, "headers": {lower-case name: value}, "body": text}
     *  ("body_base64" instead of "body" when the answer is not UTF-8). On
     *  PP_ERR_FAILED (no answer: refused, timed out, cancelled, too large,
     *  TLS) it is {"error": message for people, "kind": "unreachable" |
     *  "timeout" | "cancelled" | "too_large" | "tls"}. PP_ERR_INVALID_ARGUMENT
     *  for a request that is not as above (the job's log says why).
     *  LIFETIME of this and the two services below: the text they hand out is
     *  owned by the host and stays valid until the call that received `call`
     *  (the execute, init or driver function) returns, so results can be
     *  chained: the output of one json_set is the input of the next. */
    pp_status (*http_request)(pp_call *call, const char *request_json, const char **response_json);

    /** [call] Reads the value at `pointer` (a JSON Pointer, RFC 6901: "" for
     *  the whole text, "/result/0/name" for a member of an element) in the
     *  JSON text `json`. On PP_OK `*out_value` is the value: a string's
     *  characters unescaped; a number in its shortest form that reads back
     *  the same ("100.0" comes back as "100"); "true", "false" or "null"; or
     *  an array's or object's JSON text. `*out_type` (may be NULL) is its
     *  PP_JSON_* type. PP_ERR_REFUSED when nothing is at `pointer`;
     *  PP_ERR_INVALID_ARGUMENT when `json` is NULL or not JSON. */
    pp_status (*json_get)(pp_call *call, const char *json, const char *pointer, const char **out_value,
                          int32_t *out_type);

    /** [call] Writes a value into a JSON text, escaping it for you: returns
     *  in `*out_json` the text `json` with the value at `pointer` set,
     *  creating missing objects on the way ("-" as the last token appends to
     *  an array). Start from "{}" or "[]". With `type` PP_JSON_STRING,
     *  `value` is plain text, escaped by the host; with any other type it is
     *  JSON text of that type ("42", "true", "null", "[1,2]"); numbers
     *  printed with printf are fine: the host never changes the C locale.
     *  PP_ERR_INVALID_ARGUMENT (and `*out_json` NULL) when `json` is NULL or
     *  not JSON, `value` is not of `type`, or the pointer passes through a
     *  value that is neither an object nor an array. Each call copies the
     *  whole text: build large texts (a torrent in base64) in few steps. */
    pp_status (*json_set)(pp_call *call, const char *json, const char *pointer, int32_t type, const char *value,
                          const char **out_json);

    /** [call] The PP_PROTOCOL_* bits of the releases the pipeline can
     *  download now: those of the download clients that take new downloads
     *  (pipeline.yaml's download_clients with accept_new, or the driver bound
     *  to download_torrent), as the job started. 0 outside a job or with no
     *  download client. A search keeps the releases of these protocols. */
    uint32_t (*download_protocols)(pp_call *call);
} pp_host_api;

#define PP_HOST_API_SIZE_MIN 96
/** sizeof(pp_host_api) of a 1.1 host: report_library is there. */
#define PP_HOST_API_SIZE_1_1 104
/** sizeof(pp_host_api) of a 1.2 host: find_requests is there. */
#define PP_HOST_API_SIZE_1_2 112
/** sizeof(pp_host_api) of a 1.3 host: http_request, json_get, json_set,
 *  download_protocols. */
#define PP_HOST_API_SIZE_1_3 144

/** The types json_get reports and json_set takes. */
#define PP_JSON_NULL   0
#define PP_JSON_BOOL   1
#define PP_JSON_NUMBER 2
#define PP_JSON_STRING 3
#define PP_JSON_ARRAY  4
#define PP_JSON_OBJECT 5

/* ---------------------------------------------------------------------------
 * The plugin descriptor: what the entry function returns
 * ------------------------------------------------------------------------- */

/** Describes a plugin. Static storage in the plugin: the struct and every
 *  string and array it points to live as long as the process. The host reads
 *  and checks all of it before it calls any function in it. Since 1.0. */
typedef struct pp_plugin_descriptor {
    uint32_t struct_size;      /**< sizeof(pp_plugin_descriptor) as compiled. */
    uint32_t abi_major;        /**< PP_ABI_VERSION_MAJOR as compiled. */
    uint32_t abi_minor;        /**< PP_ABI_VERSION_MINOR as compiled. */
    uint32_t flags;            /**< PP_FLAG_* bits, or 0. */
    /** PP_BUILD_SIGNATURE as compiled: the platform the binary is for. The
     *  host refuses a plugin whose signature differs from its own. */
    const char *build_signature;
    /** Required. A reverse-DNS id, unique to the plugin: "org.example.deluge". */
    const char *id;
    /** Required. A short name for people: "Deluge download client". */
    const char *name;
    /** Required. The plugin's own version: "1.4.2". */
    const char *version;
    /** Required. The job types the plugin handles, NULL-terminated, no
     *  repeats: { "fetch_metadata", NULL }. At least one, unless the plugin
     *  offers an interface through get_extension (since 1.3): a download
     *  client's or library backend's list may be just { NULL }, the host
     *  then runs that interface's jobs over it. */
    const char *const *job_types;

    /** [loader] Required. Creates the plugin's state from its configuration
     *  (the `config` object of its pipeline.yaml entry, as JSON; "{}" if none)
     *  and stores it in *state_out (may stay NULL). Keep `host`: it lives as
     *  long as the process. Return PP_OK, or PP_ERR_FAILED after
     *  set_error(call, ...) saying what is wrong and which setting to fix. */
    pp_status (*init)(const pp_host_api *host, const char *config_json,
                      pp_call *call, void **state_out);

    /** [worker] Required, unless job_types is empty (a pure driver, since
     *  1.3): may then be NULL. Runs one job and returns a PP_OUTCOME_*. `job`
     *  and `call` are borrowed until it returns. Any other return value is
     *  taken as PP_OUTCOME_FAIL. */
    pp_outcome (*execute)(void *state, const pp_job *job, pp_call *call);

    /** [loader] Required. Frees what init() created. Called when the host
     *  retires the instance; no execute() runs at the same time or after. */
    void (*shutdown)(void *state);

    /* --- End of the required fields: PP_DESCRIPTOR_SIZE_MIN. --- */

    /** Optional (NULL). A sentence or two for `pipeline-host plugin inspect`. */
    const char *description;

    /** [worker] Optional (NULL). Checks that the outside service the plugin
     *  talks to is reachable and the configuration works (log in, list one
     *  item). PP_OK, or PP_ERR_FAILED after set_error. Called by
     *  `pipeline-host validate --probe`; for a driver without it, the host
     *  calls its interface's test() instead. */
    pp_status (*check)(void *state, pp_call *call);

    /* --- Since 1.3. --- */

    /** [any] Optional (NULL). Returns the plugin's table for the interface
     *  `id` (a PP_EXTENSION_* string), or NULL when it does not offer it. The
     *  table is static storage, like the descriptor; it starts with
     *  `uint32_t struct_size` and follows the STRUCT SIZES rules. Must not
     *  do I/O or start threads: the host asks while it loads the plugin. */
    const void *(*get_extension)(const char *id);
} pp_plugin_descriptor;

#define PP_DESCRIPTOR_SIZE_MIN 80
/** sizeof(pp_plugin_descriptor) of a 1.3 plugin: get_extension is there. */
#define PP_DESCRIPTOR_SIZE_1_3 104

/* ---------------------------------------------------------------------------
 * Interfaces (since 1.3): typed tables a plugin offers through get_extension
 *
 * A driver's `config` (given to init) is its instance's `config` object in
 * pipeline.yaml, which also holds the settings of the host's jobs over it
 * (category, tags, save_path, path_mappings, poll_interval, page_size, ...):
 * ignore keys you do not know. `pipeline-host plugin test FILE --kind ...
 * --config JSON` checks a driver against its live service.
 *
 * A plugin that offers an interface is a DRIVER: the host writes the jobs of
 * that kind once (fetching a release, trying alternates, polling with
 * backoff, path mapping, progress, request transitions) and calls the
 * driver's few functions for what differs from one service to another. Each
 * function runs like execute(): [worker], on the instance's `state`, with a
 * `call` of its own whose host services work as in a job (log, is_cancelled,
 * http_request, json_*); it returns a pp_driver_status and gives its answer
 * with set_result, or says why it failed with set_error. Effects
 * (request_transition, enqueue, report_library) are refused in a driver call.
 * ------------------------------------------------------------------------- */

typedef int32_t pp_driver_status;
/** Done; the answer, if the function has one, was given with set_result. */
#define PP_DRIVER_OK        0
/** Try again later: the service did not answer, timed out, answered 5xx or
 *  something this driver does not understand. */
#define PP_DRIVER_TRANSIENT 1
/** Will not work until someone changes the configuration: wrong password or
 *  token, a URL that is not the service. set_error says which setting. */
#define PP_DRIVER_PERMANENT 2
/** The service refused this item (not a valid torrent, a duplicate NZB it
 *  will not take): the host tries the next release. */
#define PP_DRIVER_REJECTED  3

/** The protocols a download client takes (pp_download_client.protocols). */
#define PP_PROTOCOL_TORRENT (1u << 0)
#define PP_PROTOCOL_USENET  (1u << 1)

/** The id of the download-client interface, version 1. */
#define PP_EXTENSION_DOWNLOAD_CLIENT "pipeline.download-client.v1"

/** A download client: the host runs download_torrent and monitor_download
 *  over it. docs/writing-a-download-client.md walks through one in C. */
typedef struct pp_download_client {
    uint32_t struct_size;      /**< sizeof(pp_download_client) as compiled. */
    uint32_t protocols;        /**< PP_PROTOCOL_* bits: what it takes. */
    /** The client's short name, recorded with each download: "deluge". */
    const char *kind;
    /** Its name for people, in log lines and errors: "Deluge". */
    const char *display_name;

    /** Adds a download. `item_json` is an object: "protocol" ("torrent" or
     *  "usenet"); "name" (the release's title); one of "torrent_base64" (a
     *  .torrent file), "magnet" (a magnet URI) or "nzb_base64" (an NZB
     *  file); "info_hash" (40 lower-case hex digits, for a torrent); and the
     *  instance's "category", "tags" (an array) and "save_path" when set.
     *  On PP_DRIVER_OK, set_result({"id": ...}): the client's id for the
     *  download (a torrent's info hash in lower case). Adding what the
     *  client already has must succeed with the same id. */
    pp_driver_status (*add)(void *state, pp_call *call, const char *item_json);

    /** The state of the download `id`. On PP_DRIVER_OK, set_result(null)
     *  when the client does not have it, else an object: "name", "state"
     *  (one of "metadata", "queued", "checking", "downloading", "stalled",
     *  "paused", "moving", "completed", "failed"), "progress" (0 to 1),
     *  "size_bytes" (null while unknown), "download_rate" (bytes/s),
     *  "content_path" (where the data is, as the client sees it), and when
     *  they apply "final_save_path" (where the client will move the data
     *  once done: the host waits while a completed download is not there
     *  yet; leave it out once the client has moved it, or will not),
     *  "temporary_path" (the client's folder for unfinished data), "error"
     *  (the client's words for a failed download), "ratio" (a number:
     *  uploaded over downloaded; left out, or negative, when the client does
     *  not know) and "seeding_seconds" (an integer: the time spent seeding
     *  since complete). Ids reach the driver as it gave them from add. */
    pp_driver_status (*status)(void *state, pp_call *call, const char *id);

    /** Removes the download `id`, with its data when `delete_data` is 1.
     *  Removing what the client does not have succeeds. */
    pp_driver_status (*remove)(void *state, pp_call *call, const char *id, uint32_t delete_data);

    /** Checks that the client answers and takes the credentials. On
     *  PP_DRIVER_OK, set_result({"version": ...}). */
    pp_driver_status (*test)(void *state, pp_call *call);
} pp_download_client;

#define PP_DOWNLOAD_CLIENT_SIZE_MIN 56

/** The id of the library-backend interface, version 1. */
#define PP_EXTENSION_LIBRARY_BACKEND "pipeline.library-backend.v1"

/** A library backend (a media server): the host runs scan_library and
 *  library_recently_added_check over it. */
typedef struct pp_library_backend {
    uint32_t struct_size;      /**< sizeof(pp_library_backend) as compiled. */
    uint32_t reserved0;        /**< Zero. */
    /** The backend's short name: "plex". */
    const char *kind;
    /** Its name for people, in log lines and errors: "Plex". */
    const char *display_name;

    /** One page of the library's books. `page_json` is {"offset": N,
     *  "limit": N, "newest_first": true|false}. On PP_DRIVER_OK,
     *  set_result({"total": N, "listed": N, "items": [...]}): "total" is
     *  the size of the whole listing, "listed" how many entries this page
     *  covered (items without audio may be left out of "items"), and each
     *  item has "id" and "title", and may have "author", "asin", "isbn",
     *  "path", "added_at" (ISO 8601). */
    pp_driver_status (*books)(void *state, pp_call *call, const char *page_json);

    /** Asks the server to scan for new files: the folder `path` as the host
     *  sees it, or the whole library when `path` is NULL. */
    pp_driver_status (*scan)(void *state, pp_call *call, const char *path);

    /** Checks that the server answers, takes the token and has the library.
     *  On PP_DRIVER_OK, set_result({"version": ...}) or any object. */
    pp_driver_status (*test)(void *state, pp_call *call);
} pp_library_backend;

#define PP_LIBRARY_BACKEND_SIZE_MIN 48

/** The entry function's type. The host passes its own ABI version; a plugin
 *  that cannot work with it returns NULL (the host then refuses the plugin). */
typedef const pp_plugin_descriptor *(*pp_entry_fn)(uint32_t host_abi_major,
                                                   uint32_t host_abi_minor);

/** [entry] The one exported symbol. Returns the plugin's descriptor. Must not
 *  start threads or do I/O: the host has checked nothing yet when it calls it. */
PP_EXPORT const pp_plugin_descriptor *pipeline_plugin_entry_v1(uint32_t host_abi_major,
                                                               uint32_t host_abi_minor);

/* ---------------------------------------------------------------------------
 * The build signature
 * ------------------------------------------------------------------------- */

#if defined(__x86_64__)
#define PP__ARCH "x86_64"
#elif defined(__aarch64__)
#define PP__ARCH "aarch64"
#elif defined(__riscv) && __riscv_xlen == 64
#define PP__ARCH "riscv64"
#else
#define PP__ARCH "unknown-arch"
#endif

#if defined(__linux__)
#define PP__OS "linux"
#elif defined(__APPLE__)
#define PP__OS "darwin"
#else
#define PP__OS "unknown-os"
#endif

#if defined(__GLIBC__)
#define PP__LIBC "gnu"
#elif defined(__linux__)
#define PP__LIBC "musl"
#else
#define PP__LIBC "libc"
#endif

#if defined(__LP64__)
#define PP__MODEL "lp64"
#else
#define PP__MODEL "ilp32"
#endif

/** What the binary is built for: ABI major, CPU, OS, C library and data
 *  model, e.g. "pp1 x86_64-linux-gnu lp64". A plugin puts it in its
 *  descriptor's build_signature; the host refuses a plugin whose signature
 *  differs from its own, naming both. Swift plugins (through PluginKit) add
 *  the Swift toolchain they were built with, since they share the host's
 *  Swift runtime: " swift=..." must then equal the host's. */
#define PP_BUILD_SIGNATURE "pp1 " PP__ARCH "-" PP__OS "-" PP__LIBC " " PP__MODEL

/** PP_BUILD_SIGNATURE as a function, for languages that cannot use the macro. */
static inline const char *pp_build_signature(void) { return PP_BUILD_SIGNATURE; }

#if defined(__swift__)
#define PP__STR2(x) #x
#define PP__STR(x) PP__STR2(x)
/** For the host and PluginKit only: the Swift toolchain this module is
 *  compiled with (the Swift version and the exact Clang build inside it). */
static inline const char *pp_swift_toolchain_signature(void) {
    return "swift=" PP__STR(__swift__) "/clang-" __clang_version__;
}
#endif

#ifdef __cplusplus
}
#endif

#endif /* PIPELINE_PLUGIN_H */
