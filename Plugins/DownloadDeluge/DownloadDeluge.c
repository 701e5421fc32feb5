/*
 * A Deluge 2 download-client DRIVER in plain C, through deluge-web's JSON-RPC
 * (POST {url}/json). It offers PP_EXTENSION_DOWNLOAD_CLIENT and no job types:
 * the host runs download_torrent and monitor_download over it. All HTTP goes
 * through host->http_request (which keeps deluge-web's _session_id cookie per
 * instance), every JSON read through host->json_get, and every JSON text that
 * holds outside strings is written by host->json_set. A 1.3 host only (an
 * older one refuses a plugin of a newer minor, so these services are there).
 *
 * config: "url" (deluge-web's address, required), "password" (deluge-web's,
 *         default "deluge"), "host_id" (the daemon in deluge-web's host list to
 *         connect to when it is not connected; default: the first listed).
 *
 * Build: cc -shared -fPIC -fvisibility=hidden -O2 -I Sources/PluginABI/include \
 *           -o libDownloadDeluge.so Plugins/DownloadDeluge/DownloadDeluge.c
 */
#include <pipeline_plugin.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One instance: one block (shutdown is free) with the strings after the struct. endpoint is {url}/json;
 * host_id "" means the first daemon deluge-web lists. */
typedef struct { const pp_host_api *host; char *endpoint, *password, *host_id; } deluge;

/* rpc() and call(): Deluge answered with an error the caller accepted; *out is its message. */
#define RPC_ERROR 100
#define STR PP_JSON_STRING

static int fail(deluge *d, pp_call *c, int status, const char *format, ...) {
    char message[1024];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    return d->host->set_error(c, message, NULL), status;
}

/* The value at `pointer` in `json`, or `fallback` when there is none (or `json` is NULL). */
static const char *text(deluge *d, pp_call *c, const char *json, const char *pointer, const char *fallback) {
    const char *value = NULL;
    return json != NULL && d->host->json_get(c, json, pointer, &value, NULL) == PP_OK ? value : fallback;
}

/* `json` with each (pointer, PP_JSON_* type, value) that follows set, up to a NULL pointer.
 * A NULL `json` or value gives NULL, so a chain of builds fails as a whole. */
static const char *build(deluge *d, pp_call *c, const char *json, ...) {
    va_list args;
    va_start(args, json);
    for (const char *pointer, *value, *out; json != NULL && (pointer = va_arg(args, const char *)) != NULL; json = out) {
        int32_t type = va_arg(args, int32_t);
        if ((value = va_arg(args, const char *)) == NULL || d->host->json_set(c, json, pointer, type, value, &out) != PP_OK) out = NULL;
    }
    va_end(args);
    return json;
}

static int result(deluge *d, pp_call *c, const char *json) {
    return json && d->host->set_result(c, json) == PP_OK ? PP_DRIVER_OK : fail(d, c, PP_DRIVER_TRANSIENT, "could not give the answer");
}

/* One JSON-RPC call. PP_DRIVER_OK with *out = "result" (as json_get gives it); RPC_ERROR with *out = the
 * error's message when it contains `accept`; else a PP_DRIVER_* failure, explained with set_error. */
static int rpc(deluge *d, pp_call *c, const char *method, const char *params, const char *accept, const char **out) {
    const char *response = NULL, *error, *request = build(d, c, "{\"method\":\"POST\",\"timeout_ms\":20000,\"secrets\":[],"
        "\"headers\":{\"Content-Type\":\"application/json\"}}", "/url", STR, d->endpoint, "/secrets/-", STR, d->password, "/body", STR,
        build(d, c, "{\"id\":1}", "/method", STR, method, "/params", PP_JSON_ARRAY, params, NULL), NULL);
    pp_status sent = request != NULL ? d->host->http_request(c, request, &response) : PP_ERR_INVALID_ARGUMENT;
    if (sent != PP_OK) /* no answer: refused, timed out, cancelled; or the host would not send it */
        return fail(d, c, sent == PP_ERR_FAILED ? PP_DRIVER_TRANSIENT : PP_DRIVER_PERMANENT, "deluge-web at %s did not answer %s: %s",
                    d->endpoint, method, text(d, c, response, "/error", "the host refused the request (check url)"));
    const char *status = text(d, c, response, "/status", "?"), *body = text(d, c, response, "/body", NULL);
    if (strcmp(status, "200") != 0 || text(d, c, body, "/result", NULL) == NULL) /* 5xx: retry; else not deluge-web */
        return fail(d, c, status[0] == '5' ? PP_DRIVER_TRANSIENT : PP_DRIVER_PERMANENT, "%s answered %s with HTTP %s%s", d->endpoint,
                    method, status, status[0] == '5' ? "" : ", not as deluge-web's JSON-RPC does: set url to deluge-web's address");
    if ((error = text(d, c, body, "/error/message", NULL)) == NULL) return d->host->json_get(c, body, "/result", out, NULL), PP_DRIVER_OK;
    if (accept != NULL && strstr(error, accept) != NULL) return *out = error, RPC_ERROR;
    int account = strstr(error, "NotAuthorizedError") != NULL; /* the daemon refused the account deluge-web uses */
    return fail(d, c, account ? PP_DRIVER_PERMANENT : PP_DRIVER_TRANSIENT, "deluge-web answered %s with an error: %s%s", method, error,
                account ? " (fix that daemon's user and password in deluge-web's Connection Manager, or set host_id)" : "");
}

/* Logs in when there is no session, connects deluge-web to its daemon when it is not, then calls `method`.
 * web.connected comes first, always: a daemon call to a deluge-web without a daemon may never be answered. */
static int call(deluge *d, pp_call *c, const char *method, const char *params, const char *accept, const char **out) {
    const char *r = NULL, *id = d->host_id;
    int s = rpc(d, c, "web.connected", "[]", "Not authenticated", &r);
    /* No session yet, or it expired: log in. */
    if (s == RPC_ERROR && (s = rpc(d, c, "auth.login", build(d, c, "[]", "/-", STR, d->password, NULL), NULL, &r)) == PP_DRIVER_OK)
        s = strcmp(r, "true") == 0 ? rpc(d, c, "web.connected", "[]", NULL, &r)
                                   : fail(d, c, PP_DRIVER_PERMANENT, "deluge-web refused the password: set password in the config");
    if (s != PP_DRIVER_OK || strcmp(r, "true") == 0) return s != PP_DRIVER_OK ? s : rpc(d, c, method, params, accept, out);
    if (id[0] == '\0' && (s = rpc(d, c, "web.get_hosts", "[]", NULL, &r)) != PP_DRIVER_OK) return s;
    if (id[0] == '\0' && (id = text(d, c, r, "/0/0", NULL)) == NULL)
        return fail(d, c, PP_DRIVER_PERMANENT, "deluge-web lists no daemon: add one in its Connection Manager");
    if ((s = rpc(d, c, "web.connect", build(d, c, "[]", "/-", STR, id, NULL), NULL, &r)) != PP_DRIVER_OK) return s;
    if (r[0] != '[') /* the daemon's methods, or null: the daemon is down, refused the account, or deluge-web does not list it */
        return fail(d, c, PP_DRIVER_TRANSIENT, "deluge-web could not connect to its daemon %s: is deluged running? is host_id right?", id);
    d->host->log(d->host->host_ctx, c, PP_LOG_INFO, "deluge-web connected to its daemon", NULL);
    return rpc(d, c, method, params, accept, out);
}

static int deluge_add(void *d, pp_call *c, const char *item) {
    const char *torrent = text(d, c, item, "/torrent_base64", NULL), *magnet = text(d, c, item, "/magnet", NULL), *r = NULL;
    const char *hash = text(d, c, item, "/info_hash", ""), *save_path = text(d, c, item, "/save_path", NULL);
    if (torrent == NULL && magnet == NULL) return fail(d, c, PP_DRIVER_REJECTED, "the item has no torrent_base64 and no magnet");
    const char *params = build(d, c, "[]", "/-", STR, torrent ? (hash[0] ? hash : "release") : magnet, NULL); /* [filename, filedump, */
    if (torrent != NULL) params = build(d, c, params, "/-", STR, torrent, NULL);                               /*  options] or [uri, */
    params = build(d, c, params, "/-", PP_JSON_OBJECT,                                                           /*  options]          */
                   save_path ? build(d, c, "{}", "/download_location", STR, save_path, NULL) : "{}", NULL);
    int s = call(d, c, torrent ? "core.add_torrent_file" : "core.add_torrent_magnet", params, "AddTorrentError", &r);
    if (s != PP_DRIVER_OK && s != RPC_ERROR) return s;
    if (s == RPC_ERROR && strstr(r, "already in session") == NULL) return fail(d, c, PP_DRIVER_REJECTED, "Deluge refused it: %s", r);
    if (s == RPC_ERROR) r = hash; /* added before (the same job run again): the same id */
    if (strlen(r) != 40) return fail(d, c, PP_DRIVER_TRANSIENT, "Deluge answered the add without an info hash: %s", r);
    return result(d, c, build(d, c, "{}", "/id", STR, r, NULL));
}

/* Deluge's states, in this order: Error and Moving win over is_finished, which wins over the rest. */
static const char *const deluge_states[][2] = {{"Error", "failed"}, {"Moving", "moving"}, {"Seeding", "completed"},
    {"Paused", "paused"}, {"Queued", "queued"}, {"Checking", "checking"}, {"Allocating", "checking"}, {NULL, "downloading"}};

static int deluge_status(void *d, pp_call *c, const char *id) {
    const char *t = NULL, *fields = "[\"name\",\"state\",\"progress\",\"total_wanted\",\"total_size\",\"download_payload_rate\","
                                    "\"save_path\",\"message\",\"is_finished\",\"move_completed\",\"move_completed_path\","
                                    "\"ratio\",\"seeding_time\"]";
    int s = call(d, c, "core.get_torrent_status", build(d, c, "[]", "/-", STR, id, "/-", PP_JSON_ARRAY, fields, NULL), NULL, &t);
    const char *name = text(d, c, t, "/name", NULL), *deluge_state = text(d, c, t, "/state", NULL);
    if (s != PP_DRIVER_OK || name == NULL || deluge_state == NULL) return s != PP_DRIVER_OK ? s : result(d, c, "null"); /* {}: unknown */
    size_t n = 0;
    while (deluge_states[n][0] != NULL && strcmp(deluge_states[n][0], deluge_state) != 0) n++;
    /* total_size 0: a magnet still without its metadata */
    int finished = strcmp(text(d, c, t, "/is_finished", ""), "true") == 0, metadata = strcmp(text(d, c, t, "/total_size", "0"), "0") != 0;
    const char *mapped = n > 1 && finished ? "completed" : !metadata && deluge_states[n][0] == NULL ? "metadata" : deluge_states[n][1];
    char progress[32], path[4096];
    snprintf(progress, sizeof progress, "%.6f", strtod(text(d, c, t, "/progress", "0"), NULL) / 100); /* Deluge counts 0-100 */
    const char *save = text(d, c, t, "/save_path", ""), *final = text(d, c, t, "/move_completed_path", "");
    snprintf(path, sizeof path, "%s/%s", save, name);
    const char *o = build(d, c, "{}", "/name", STR, name, "/state", STR, mapped, "/progress", PP_JSON_NUMBER, progress,
                          "/size_bytes", metadata ? PP_JSON_NUMBER : PP_JSON_NULL,
                          metadata ? text(d, c, t, "/total_wanted", "0") : "null", "/content_path", STR, path,
                          "/download_rate", PP_JSON_NUMBER, text(d, c, t, "/download_payload_rate", "0"), NULL);
    if (n == 0) o = build(d, c, o, "/error", STR, text(d, c, t, "/message", "Deluge reports an error"), NULL);
    /* Deluge moves a download there once done (is_finished turns true after the move), unless it downloaded nothing. */
    if (!finished && strcmp(text(d, c, t, "/move_completed", ""), "true") == 0 && strcmp(final, save) != 0)
        o = build(d, c, o, "/final_save_path", STR, final, NULL);
    /* ratio (-1 while Deluge has downloaded nothing: the host reads it as unknown) and seeding_time, when they are numbers */
    const char *value = NULL, *const copies[][2] = {{"/ratio", "/ratio"}, {"/seeding_time", "/seeding_seconds"}};
    for (int32_t i = 0, type = PP_JSON_NULL; i < 2; i++)
        if (((deluge *)d)->host->json_get(c, t, copies[i][0], &value, &type) == PP_OK && type == PP_JSON_NUMBER)
            o = build(d, c, o, copies[i][1], PP_JSON_NUMBER, value, NULL);
    return result(d, c, o);
}

static int deluge_remove(void *d, pp_call *c, const char *id, uint32_t delete_data) {
    const char *params = build(d, c, "[]", "/-", STR, id, "/-", PP_JSON_BOOL, delete_data ? "true" : "false", NULL), *r = NULL;
    int s = call(d, c, "core.remove_torrent", params, "not in session", &r);
    return s == RPC_ERROR ? PP_DRIVER_OK : s; /* not in session: gone already */
}

static int deluge_test(void *d, pp_call *c) {
    const char *version = NULL;
    int s = call(d, c, "daemon.get_version", "[]", NULL, &version);
    return s != PP_DRIVER_OK ? s : result(d, c, build(d, c, "{}", "/version", STR, version, NULL));
}

static pp_status deluge_init(const pp_host_api *host, const char *config, pp_call *c, void **state_out) {
    deluge probe = {.host = host}, *d;
    const char *url = text(&probe, c, config, "/url", ""), *password = text(&probe, c, config, "/password", "deluge");
    const char *host_id = text(&probe, c, config, "/host_id", "");
    size_t length = strlen(url), password_size = strlen(password) + 1;
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
        return fail(&probe, c, PP_ERR_FAILED, "config.url is missing or not http(s): set url to deluge-web's address (http://host:8112)");
    if ((d = calloc(1, sizeof *d + length + 6 + password_size + strlen(host_id) + 1)) == NULL)
        return fail(&probe, c, PP_ERR_FAILED, "out of memory");
    d->host = host, d->endpoint = (char *)(d + 1), d->password = d->endpoint + length + 6, d->host_id = d->password + password_size;
    sprintf(d->endpoint, "%s%s", url, url[length - 1] == '/' ? "json" : "/json");
    memcpy(d->password, password, password_size), strcpy(d->host_id, host_id);
    return *state_out = d, PP_OK;
}

static const pp_download_client deluge_client = {.struct_size = sizeof(pp_download_client), .protocols = PP_PROTOCOL_TORRENT,
    .kind = "deluge", .display_name = "Deluge", .add = deluge_add, .status = deluge_status, .remove = deluge_remove, .test = deluge_test};

static const void *deluge_extension(const char *id) { return id && strcmp(id, PP_EXTENSION_DOWNLOAD_CLIENT) == 0 ? &deluge_client : NULL; }

static const pp_plugin_descriptor deluge_descriptor = {.struct_size = sizeof(pp_plugin_descriptor),
    .abi_major = PP_ABI_VERSION_MAJOR, .abi_minor = PP_ABI_VERSION_MINOR, .build_signature = PP_BUILD_SIGNATURE,
    .id = "org.pipeline-host.deluge", .name = "Deluge download client", .version = "1.0.0", .job_types = (const char *const[]){NULL},
    .init = deluge_init, .shutdown = free, .get_extension = deluge_extension,
    .description = "Deluge 2 through deluge-web's JSON-RPC: adds torrents and magnets, follows and removes them. config: url "
                   "(deluge-web), password (default deluge), host_id (default: the first daemon deluge-web lists)."};

PP_EXPORT const pp_plugin_descriptor *pipeline_plugin_entry_v1(uint32_t host_abi_major, uint32_t host_abi_minor) {
    (void)host_abi_minor;
    return host_abi_major == PP_ABI_VERSION_MAJOR ? &deluge_descriptor : NULL;
}
