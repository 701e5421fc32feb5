/*
 * An NZBGet download-client DRIVER in plain C, through NZBGet's JSON-RPC
 * (POST {url}/jsonrpc, HTTP basic auth). It offers PP_EXTENSION_DOWNLOAD_CLIENT
 * for usenet and no job types: the host runs download_torrent and
 * monitor_download over it. All HTTP goes through host->http_request, every
 * JSON read through host->json_get, and every JSON text that holds outside
 * strings is written by host->json_set. A 1.3 host only.
 *
 * config: "url" (NZBGet's address, required: http://host:6789, or with the
 *         path of a reverse proxy), "username" (NZBGet's ControlUsername,
 *         default "nzbget"), "password" (its ControlPassword).
 *
 * What NZBGet does (NZBGet 21, observed):
 * - append(NZBFilename, NZBContent in base64, Category, Priority, AddToTop,
 *   AddPaused, DupeKey, DupeScore, DupeMode, PPParameters) answers the NZBID.
 *   An NZB it cannot read still gets one and goes straight to the history as
 *   FAILURE/SCAN. Without DupeMode FORCE, an NZB it had before (same content)
 *   goes to the history as DELETED/COPY: this driver adds with FORCE and finds
 *   what it added before by DupeKey (the release's name) itself.
 * - listgroups(0) is the queue: Status QUEUED, PAUSED, DOWNLOADING, then the
 *   post-processing stages up to PP_FINISHED. history(false) is the history:
 *   Status "SUCCESS/...", "WARNING/...", "FAILURE/..." or "DELETED/...".
 *   A download is complete only once it is in the history: DestDir is then
 *   its final folder (FinalDir, when a script moved it). Sizes are 32-bit
 *   halves (FileSizeLo/Hi), counted in article bytes as the NZB gives them.
 * - editqueue(Command, Param, IDs) answers false for an id it does not have.
 *   GroupFinalDelete removes a queued download and its files without a
 *   history entry. NZBGet never deletes a completed download's files (the
 *   DestDir of a SUCCESS entry stays, whatever the command).
 * - A wrong password is HTTP 401 with an empty body. NZBGet also takes the
 *   credentials in the path (/USER:PASS/jsonrpc) but does not percent-decode
 *   them, so a password with '/', '?', '#', '%' or a space cannot go there:
 *   this driver has the host send HTTP Basic credentials instead
 *   (http_request's "basic_auth", which also masks them in messages).
 *
 * Build: cc -shared -fPIC -fvisibility=hidden -O2 -I Sources/PluginABI/include \
 *           -o libDownloadNZBGet.so Plugins/DownloadNZBGet/DownloadNZBGet.c
 */
#include <pipeline_plugin.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One instance. Nothing changes after init, so concurrent calls need no lock. */
typedef struct {
    const pp_host_api *host;
    char *endpoint;      /* {url}/jsonrpc */
    char *username;
    char *password;
} nzbget;

#define STR PP_JSON_STRING
#define NUM PP_JSON_NUMBER
#define BOOL PP_JSON_BOOL

static int fail(nzbget *d, pp_call *c, int status, const char *format, ...) {
    char message[1024];
    va_list args;
    va_start(args, format);
    vsnprintf(message, sizeof message, format, args);
    va_end(args);
    d->host->set_error(c, message, NULL);
    return status;
}

/* The value at `pointer` in `json`, or `fallback` when there is none (or `json` is NULL). */
static const char *text(nzbget *d, pp_call *c, const char *json, const char *pointer, const char *fallback) {
    const char *value = NULL;
    if (json == NULL || d->host->json_get(c, json, pointer, &value, NULL) != PP_OK) return fallback;
    return value;
}

static double number(nzbget *d, pp_call *c, const char *json, const char *pointer) {
    return strtod(text(d, c, json, pointer, "0"), NULL);
}

/* `json` with each (pointer, PP_JSON_* type, value) that follows set, up to a NULL pointer.
 * A NULL `json` or value gives NULL, so a chain of builds is checked once, at its end. */
static const char *build(nzbget *d, pp_call *c, const char *json, ...) {
    va_list args;
    va_start(args, json);
    while (json != NULL) {
        const char *pointer = va_arg(args, const char *);
        if (pointer == NULL) break;
        int32_t type = va_arg(args, int32_t);
        const char *value = va_arg(args, const char *);
        const char *out = NULL;
        if (value == NULL || d->host->json_set(c, json, pointer, type, value, &out) != PP_OK) out = NULL;
        json = out;
    }
    va_end(args);
    return json;
}

static int result(nzbget *d, pp_call *c, const char *json) {
    if (json == NULL || d->host->set_result(c, json) != PP_OK) {
        return fail(d, c, PP_DRIVER_TRANSIENT, "could not give the answer");
    }
    return PP_DRIVER_OK;
}

/* One JSON-RPC call. PP_DRIVER_OK with *out = "result" (as json_get gives it: a string's characters,
 * a number's digits, an array's JSON text); else a PP_DRIVER_* failure, explained with set_error. */
static int rpc(nzbget *d, pp_call *c, const char *method, const char *params, const char **out) {
    const char *body = build(d, c, "{\"id\":1}", "/method", STR, method, "/params", PP_JSON_ARRAY, params, NULL);
    const char *request = build(d, c, "{\"method\":\"POST\",\"timeout_ms\":30000,\"max_response_bytes\":67108864,"
                                      "\"headers\":{\"Content-Type\":\"application/json\"}}",
                                "/url", STR, d->endpoint, "/basic_auth/username", STR, d->username,
                                "/basic_auth/password", STR, d->password, "/body", STR, body, NULL);
    const char *response = NULL;
    pp_status sent = PP_ERR_INVALID_ARGUMENT;
    if (request != NULL) sent = d->host->http_request(c, request, &response);
    if (sent == PP_ERR_FAILED) { /* no answer: refused, timed out, cancelled */
        return fail(d, c, PP_DRIVER_TRANSIENT, "NZBGet at %s did not answer %s: %s", d->endpoint, method,
                    text(d, c, response, "/error", "no answer"));
    }
    if (sent != PP_OK) {
        return fail(d, c, PP_DRIVER_PERMANENT, "the host would not send %s to %s (check url)", method, d->endpoint);
    }
    const char *status = text(d, c, response, "/status", "?");
    const char *answer = text(d, c, response, "/body", NULL);
    if (strcmp(status, "401") == 0) {
        return fail(d, c, PP_DRIVER_PERMANENT, "NZBGet at %s refused the login: set username and password to its "
                    "ControlUsername and ControlPassword", d->endpoint);
    }
    if (status[0] == '5') {
        return fail(d, c, PP_DRIVER_TRANSIENT, "NZBGet at %s answered %s with HTTP %s", d->endpoint, method, status);
    }
    const char *error = text(d, c, answer, "/error/message", NULL);
    if (strcmp(status, "200") == 0 && error != NULL) {
        return fail(d, c, PP_DRIVER_TRANSIENT, "NZBGet answered %s with an error: %s", method, error);
    }
    const char *value = text(d, c, answer, "/result", NULL);
    if (strcmp(status, "200") != 0 || value == NULL) {
        return fail(d, c, PP_DRIVER_PERMANENT, "%s answered %s with HTTP %s, not as NZBGet's JSON-RPC does: set url to "
                    "NZBGet's address (http://host:6789)", d->endpoint, method, status);
    }
    *out = value;
    return PP_DRIVER_OK;
}

/* The length of the JSON object or array that starts at `p`, or 0 if it does not end. */
static size_t value_length(const char *p) {
    int depth = 0;
    int in_string = 0;
    for (const char *q = p; *q != '\0'; q++) {
        if (in_string) {
            if (*q == '\\' && q[1] != '\0') {
                q++; /* the escaped character */
            } else if (*q == '"') {
                in_string = 0;
            }
        } else if (*q == '"') {
            in_string = 1;
        } else if (*q == '{' || *q == '[') {
            depth++;
        } else if (*q == '}' || *q == ']') {
            depth--;
            if (depth == 0) return (size_t)(q - p) + 1;
        }
    }
    return 0;
}

/* The first object of the JSON array `array` whose value at `pointer` is `wanted` (and, when `skip_prefix`
 * is given, whose Status does not start with it), or NULL. The array is walked here, one object at a time,
 * because json_get reads the whole text on every call: a history of hundreds of entries would be read
 * hundreds of times. Each object is then read with json_get alone. */
static const char *find_entry(nzbget *d, pp_call *c, const char *array, const char *pointer, const char *wanted,
                              const char *skip_prefix) {
    const char *p = array;
    if (p == NULL || *p != '[') return NULL;
    p++;
    while (*p != '\0' && *p != ']') {
        if (*p != '{') { /* whitespace and commas between the objects */
            p++;
            continue;
        }
        size_t length = value_length(p);
        if (length == 0) return NULL;
        char *entry = malloc(length + 1);
        if (entry == NULL) return NULL;
        memcpy(entry, p, length);
        entry[length] = '\0';
        const char *found = NULL;
        const char *value = text(d, c, entry, pointer, NULL);
        const char *status = text(d, c, entry, "/Status", "");
        int skipped = skip_prefix != NULL && strncmp(status, skip_prefix, strlen(skip_prefix)) == 0;
        if (value != NULL && strcmp(value, wanted) == 0 && !skipped) {
            found = text(d, c, entry, "", NULL); /* a copy the host keeps until the call returns */
        }
        free(entry);
        if (found != NULL) return found;
        p += length;
    }
    return NULL;
}

/* A size NZBGet gives as two 32-bit halves: `name`Lo and `name`Hi. */
static double size_of(nzbget *d, pp_call *c, const char *entry, const char *name) {
    char pointer[64];
    snprintf(pointer, sizeof pointer, "/%sLo", name);
    double low = number(d, c, entry, pointer);
    snprintf(pointer, sizeof pointer, "/%sHi", name);
    double high = number(d, c, entry, pointer);
    if (low < 0) low += 4294967296.0; /* printed as a signed number */
    return high * 4294967296.0 + low;
}

/* The queue's entries (listgroups) or the history's (history), as a JSON array. */
static int queue(nzbget *d, pp_call *c, const char **out) {
    return rpc(d, c, "listgroups", "[0]", out);
}

static int history(nzbget *d, pp_call *c, const char **out) {
    return rpc(d, c, "history", "[false]", out);
}

static int answer_id(nzbget *d, pp_call *c, const char *entry) {
    return result(d, c, build(d, c, "{}", "/id", STR, text(d, c, entry, "/NZBID", NULL), NULL));
}

/* FNV-1a, 64 bits: a short fingerprint of the NZB for its DupeKey. */
static uint64_t fnv1a(const char *s) {
    uint64_t hash = 14695981039346656037ull;
    for (; *s != '\0'; s++) {
        hash ^= (unsigned char)*s;
        hash *= 1099511628211ull;
    }
    return hash;
}

static int nzbget_add(void *state, pp_call *c, const char *item) {
    nzbget *d = state;
    const char *nzb = text(d, c, item, "/nzb_base64", NULL);
    const char *name = text(d, c, item, "/name", "");
    const char *category = text(d, c, item, "/category", "");
    const char *list = NULL;
    const char *entry = NULL;
    if (nzb == NULL) return fail(d, c, PP_DRIVER_REJECTED, "the item has no nzb_base64");
    if (name[0] == '\0') name = "release";
    /* The DupeKey: the name and a hash of the NZB, so that the same NZB is found again and another release
     * of the same name is not taken for it. */
    char key[1200];
    snprintf(key, sizeof key, "%.1000s #%016llx", name, (unsigned long long)fnv1a(nzb));

    /* Added before (the same job run again)? Then the same id. The queue first; then the history, but not
     * what was deleted there (a user's deletion, or this driver's remove): that one is added anew. */
    int s = queue(d, c, &list);
    if (s != PP_DRIVER_OK) return s;
    entry = find_entry(d, c, list, "/DupeKey", key, NULL);
    if (entry == NULL) {
        s = history(d, c, &list);
        if (s != PP_DRIVER_OK) return s;
        entry = find_entry(d, c, list, "/DupeKey", key, "DELETED/");
        if (entry != NULL && strcmp(text(d, c, entry, "/Status", ""), "FAILURE/SCAN") == 0) {
            return fail(d, c, PP_DRIVER_REJECTED, "NZBGet could not read this NZB before (its history says FAILURE/SCAN)");
        }
    }
    if (entry != NULL) return answer_id(d, c, entry);

    /* append: the small parameters first, the NZB (the one large text) set last, in one step. */
    char filename[1024];
    snprintf(filename, sizeof filename, "%s.nzb", name);
    const char *params = build(d, c, "[]", "/-", STR, filename, "/-", STR, "", "/-", STR, category, "/-", NUM, "0",
                               "/-", BOOL, "false", "/-", BOOL, "false", "/-", STR, key, "/-", NUM, "0",
                               "/-", STR, "FORCE", "/-", PP_JSON_ARRAY, "[]", "/1", STR, nzb, NULL);
    const char *id = "";
    s = rpc(d, c, "append", params, &id);
    if (s != PP_DRIVER_OK) return s;
    if (strtol(id, NULL, 10) <= 0) return fail(d, c, PP_DRIVER_REJECTED, "NZBGet refused the NZB (append answered %s)", id);

    /* An NZB NZBGet cannot read still gets an id, and is in the history as FAILURE/SCAN at once. */
    s = queue(d, c, &list);
    if (s != PP_DRIVER_OK) return s;
    if (find_entry(d, c, list, "/NZBID", id, NULL) == NULL) {
        s = history(d, c, &list);
        if (s != PP_DRIVER_OK) return s;
        entry = find_entry(d, c, list, "/NZBID", id, NULL);
        if (entry != NULL && strcmp(text(d, c, entry, "/Status", ""), "FAILURE/SCAN") == 0) {
            return fail(d, c, PP_DRIVER_REJECTED, "NZBGet could not read the NZB (its history says FAILURE/SCAN)");
        }
    }
    return result(d, c, build(d, c, "{}", "/id", STR, id, NULL));
}

/* NZBGet's queue statuses and the interface's states. Everything after the download (par check, repair,
 * unpack, the move to DestDir, scripts) is "moving": the download is complete only once in the history. */
static const char *const queue_states[][2] = {
    {"QUEUED", "queued"},           {"PAUSED", "paused"},
    {"DOWNLOADING", "downloading"}, {"FETCHING", "downloading"},
    {"PP_QUEUED", "checking"},      {"LOADING_PARS", "checking"},
    {"VERIFYING_SOURCES", "checking"}, {"REPAIRING", "checking"},
    {"VERIFYING_REPAIRED", "checking"}, {NULL, "moving"},
};

static const char *queue_state(const char *status) {
    size_t n = 0;
    while (queue_states[n][0] != NULL && strcmp(queue_states[n][0], status) != 0) n++;
    return queue_states[n][1];
}

/* What a failed history entry's status means, in words, for "error". */
static void describe_failure(nzbget *d, pp_call *c, const char *entry, char *out, size_t size) {
    const char *status = text(d, c, entry, "/Status", "?");
    if (strstr(status, "/HEALTH") != NULL) {
        snprintf(out, size, "NZBGet: %s: %s of %s articles missing on the news servers (health %.1f%%, critical %.1f%%)",
                 status, text(d, c, entry, "/FailedArticles", "?"), text(d, c, entry, "/TotalArticles", "?"),
                 number(d, c, entry, "/Health") / 10, number(d, c, entry, "/CriticalHealth") / 10);
    } else if (strcmp(status, "FAILURE/SCAN") == 0) {
        snprintf(out, size, "NZBGet: %s: it could not read the NZB", status);
    } else if (strncmp(status, "DELETED/", 8) == 0) {
        snprintf(out, size, "NZBGet: %s: deleted in NZBGet (DeleteStatus %s)", status,
                 text(d, c, entry, "/DeleteStatus", "?"));
    } else {
        snprintf(out, size, "NZBGet: %s (par %s, unpack %s, move %s)", status, text(d, c, entry, "/ParStatus", "?"),
                 text(d, c, entry, "/UnpackStatus", "?"), text(d, c, entry, "/MoveStatus", "?"));
    }
}

static int nzbget_status(void *state, pp_call *c, const char *id) {
    nzbget *d = state;
    const char *list = NULL;
    char progress[32], size[32], rate[32] = "0", error[512];

    int s = queue(d, c, &list);
    if (s != PP_DRIVER_OK) return s;
    const char *entry = find_entry(d, c, list, "/NZBID", id, NULL);
    if (entry != NULL) {
        double total = size_of(d, c, entry, "FileSize");
        double remaining = size_of(d, c, entry, "RemainingSize");
        snprintf(size, sizeof size, "%.0f", total);
        snprintf(progress, sizeof progress, "%.6f", total > 0 ? (total - remaining) / total : 0.0);
        /* listgroups has no rate of its own; status has NZBGet's, for the downloads running now. */
        if (number(d, c, entry, "/ActiveDownloads") > 0) {
            const char *server = "{}";
            s = rpc(d, c, "status", "[]", &server);
            if (s != PP_DRIVER_OK) return s;
            snprintf(rate, sizeof rate, "%.0f", number(d, c, server, "/DownloadRate"));
        }
        const char *folder = text(d, c, entry, "/DestDir", "");
        return result(d, c, build(d, c, "{}", "/name", STR, text(d, c, entry, "/NZBName", id),
                                  "/state", STR, queue_state(text(d, c, entry, "/Status", "")),
                                  "/progress", NUM, progress, "/size_bytes", NUM, size, "/download_rate", NUM, rate,
                                  "/content_path", STR, folder, "/temporary_path", STR, folder, NULL));
    }

    s = history(d, c, &list);
    if (s != PP_DRIVER_OK) return s;
    entry = find_entry(d, c, list, "/NZBID", id, NULL);
    if (entry == NULL) return result(d, c, "null");
    const char *status = text(d, c, entry, "/Status", "");
    /* WARNING/SCRIPT: a script failed after the files were in place. Other warnings (DAMAGED, REPAIRABLE,
     * SPACE, PASSWORD, HEALTH) leave no usable files. */
    int completed = strncmp(status, "SUCCESS/", 8) == 0 || strcmp(status, "WARNING/SCRIPT") == 0;
    const char *folder = text(d, c, entry, "/FinalDir", "");
    if (folder[0] == '\0') folder = text(d, c, entry, "/DestDir", "");
    double total = size_of(d, c, entry, "FileSize");
    double articles = number(d, c, entry, "/TotalArticles");
    double fetched = completed || articles <= 0 ? 1.0 : number(d, c, entry, "/SuccessArticles") / articles;
    snprintf(size, sizeof size, "%.0f", total);
    snprintf(progress, sizeof progress, "%.6f", fetched);
    const char *o = build(d, c, "{}", "/name", STR, text(d, c, entry, "/Name", id), "/state", STR,
                          completed ? "completed" : "failed", "/progress", NUM, progress, "/size_bytes", NUM, size,
                          "/download_rate", NUM, "0", "/content_path", STR, folder, NULL);
    if (!completed) {
        describe_failure(d, c, entry, error, sizeof error);
        o = build(d, c, o, "/error", STR, error, NULL);
    }
    return result(d, c, o);
}

/* editqueue(command, "", [id]): *done is whether NZBGet had the id there. */
static int edit(nzbget *d, pp_call *c, const char *command, const char *id, int *done) {
    const char *answer = "";
    const char *ids = build(d, c, "[]", "/-", NUM, id, NULL);
    const char *params = build(d, c, "[]", "/-", STR, command, "/-", STR, "", "/-", PP_JSON_ARRAY, ids, NULL);
    int s = rpc(d, c, "editqueue", params, &answer);
    *done = s == PP_DRIVER_OK && strcmp(answer, "true") == 0;
    return s;
}

static int nzbget_remove(void *state, pp_call *c, const char *id, uint32_t delete_data) {
    nzbget *d = state;
    int done = 0;
    if (id[0] == '\0' || strspn(id, "0123456789") != strlen(id)) return PP_DRIVER_OK; /* not an NZBID: not NZBGet's */
    /* In the queue: GroupFinalDelete takes it out with its files and leaves no history entry; GroupDelete
     * moves it to the history as DELETED/MANUAL. */
    int s = edit(d, c, delete_data ? "GroupFinalDelete" : "GroupDelete", id, &done);
    if (s != PP_DRIVER_OK || done) return s;
    /* In the history: HistoryFinalDelete forgets it; HistoryDelete hides it. NZBGet deletes a failed one's
     * folder itself, never a completed one's. */
    s = edit(d, c, delete_data ? "HistoryFinalDelete" : "HistoryDelete", id, &done);
    return s; /* false: NZBGet does not have it, which is success */
}

static int nzbget_test(void *state, pp_call *c) {
    nzbget *d = state;
    const char *version = "";
    int s = rpc(d, c, "version", "[]", &version);
    if (s != PP_DRIVER_OK) return s;
    return result(d, c, build(d, c, "{}", "/version", STR, version, NULL));
}

static void nzbget_shutdown(void *state) {
    nzbget *d = state;
    if (d == NULL) return;
    free(d->endpoint);
    free(d->username);
    free(d->password);
    free(d);
}

static pp_status nzbget_init(const pp_host_api *host, const char *config, pp_call *c, void **state_out) {
    nzbget probe = {.host = host};
    const char *url = text(&probe, c, config, "/url", "");
    const char *username = text(&probe, c, config, "/username", "nzbget");
    const char *password = text(&probe, c, config, "/password", "");
    size_t length = strlen(url);
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
        return fail(&probe, c, PP_ERR_FAILED, "config.url is missing or not http(s): set url to NZBGet's address "
                    "(http://host:6789)");
    }
    if (strchr(username, ':') != NULL) {
        return fail(&probe, c, PP_ERR_FAILED, "config.username may not contain ':' (HTTP basic auth)");
    }
    nzbget *d = calloc(1, sizeof *d);
    if (d == NULL) return fail(&probe, c, PP_ERR_FAILED, "out of memory");
    d->host = host;
    d->endpoint = malloc(length + sizeof "/jsonrpc");
    d->username = strdup(username);
    d->password = strdup(password);
    if (d->endpoint == NULL || d->username == NULL || d->password == NULL) {
        nzbget_shutdown(d);
        return fail(&probe, c, PP_ERR_FAILED, "out of memory");
    }
    while (length > 0 && url[length - 1] == '/') length--;
    snprintf(d->endpoint, length + sizeof "/jsonrpc", "%.*s/jsonrpc", (int)length, url);
    *state_out = d;
    return PP_OK;
}

static const pp_download_client nzbget_client = {
    .struct_size = sizeof(pp_download_client),
    .protocols = PP_PROTOCOL_USENET,
    .kind = "nzbget",
    .display_name = "NZBGet",
    .add = nzbget_add,
    .status = nzbget_status,
    .remove = nzbget_remove,
    .test = nzbget_test,
};

static const void *nzbget_extension(const char *id) {
    if (id != NULL && strcmp(id, PP_EXTENSION_DOWNLOAD_CLIENT) == 0) return &nzbget_client;
    return NULL;
}

static const char *const nzbget_job_types[] = {NULL};

static const pp_plugin_descriptor nzbget_descriptor = {
    .struct_size = sizeof(pp_plugin_descriptor),
    .abi_major = PP_ABI_VERSION_MAJOR,
    .abi_minor = PP_ABI_VERSION_MINOR,
    .build_signature = PP_BUILD_SIGNATURE,
    .id = "org.pipeline-host.nzbget",
    .name = "NZBGet download client",
    .version = "1.0.0",
    .job_types = nzbget_job_types,
    .init = nzbget_init,
    .execute = NULL,
    .shutdown = nzbget_shutdown,
    .description = "NZBGet through its JSON-RPC: adds NZBs, follows them through the queue and the history, removes "
                   "them. config: url (http://host:6789), username (default nzbget), password.",
    .get_extension = nzbget_extension,
};

PP_EXPORT const pp_plugin_descriptor *pipeline_plugin_entry_v1(uint32_t host_abi_major, uint32_t host_abi_minor) {
    (void)host_abi_minor;
    if (host_abi_major != PP_ABI_VERSION_MAJOR) return NULL;
    return &nzbget_descriptor;
}
