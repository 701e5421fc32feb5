/*
 * A configurable C plugin for the loader tests. Each fixture target is one .c
 * file that sets a few FX_* macros (what to get wrong) and includes this file.
 * The working behaviour is an "echo" plugin whose payload picks what it does:
 *   {"mode":"done"}        logs, reports progress, returns the payload as result
 *   {"mode":"retry"}       transient failure with a 1500 ms delay
 *   {"mode":"fail"}        permanent failure
 *   {"mode":"reschedule"}  comes back in 10 s with payload {"polls":1}
 *   {"mode":"wait_cancel"} blocks until the host cancels the call
 *   {"mode":"hang"}        ignores cancellation and blocks for 3 s
 *   {"mode":"probe", "sleep_ms":N, "fail_until_attempt":A}
 *                          for queue tests: sleeps N ms, fails (retry, no
 *                          delay of its own) while job->attempt < A, else
 *                          answers {"seq":S,"running":R,"attempt":A} where S
 *                          counts finished probes in this process and R is
 *                          how many probes were running when it started
 *   {"mode":"effects"}     asks for a request transition and a follow-up job
 *   {"mode":"effects_then_fail"}  moves request req-1 to searching, then fails for good
 *   {"mode":"library_full"}   reports a whole library of two books (ABI 1.1)
 *   {"mode":"library_added"}  reports one newly added book (ABI 1.1)
 *   {"mode":"bogus"}       returns an outcome that does not exist
 *   {"mode":"block"}       never returns and never looks at cancellation
 *   {"mode":"log_raw"}     logs a line holding a newline and terminal escapes
 *   {"mode":"crash_now"}   dereferences NULL (SIGSEGV)
 *   {"mode":"grow"}        allocates and touches memory without bound
 */
#include <pipeline_plugin.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef FX_ABI_MAJOR
#define FX_ABI_MAJOR PP_ABI_VERSION_MAJOR
#endif
#ifndef FX_ABI_MINOR
#define FX_ABI_MINOR PP_ABI_VERSION_MINOR
#endif
#ifndef FX_SIGNATURE
#define FX_SIGNATURE PP_BUILD_SIGNATURE
#endif
#ifndef FX_ID
#define FX_ID "org.pipeline.fixture.cecho"
#endif
#ifndef FX_NAME
#define FX_NAME "C echo fixture"
#endif
#ifndef FX_JOB_TYPES
#define FX_JOB_TYPES "echo", "c.echo"
#endif
#ifndef FX_INIT
#define FX_INIT fx_init
#endif
#ifndef FX_EXECUTE
#define FX_EXECUTE fx_execute
#endif
#ifndef FX_TAIL
#define FX_TAIL 0
#endif

typedef struct fx_state {
    const pp_host_api *host;
    int loud;
} fx_state;

static fx_state fx_the_state;

static __attribute__((unused)) pp_status fx_init(const pp_host_api *host, const char *config_json, pp_call *call,
                         void **state_out) {
    (void)call;
    fx_the_state.host = host;
    fx_the_state.loud = strstr(config_json, "\"loud\":true") != NULL;
    host->log(host->host_ctx, NULL, PP_LOG_INFO, "C echo fixture ready", NULL);
    *state_out = &fx_the_state;
    return PP_OK;
}

static __attribute__((unused)) pp_status fx_init_fails(const pp_host_api *host, const char *config_json, pp_call *call,
                               void **state_out) {
    (void)config_json;
    (void)state_out;
    host->set_error(call, "api_key is missing: set plugins.fixture.config.api_key", NULL);
    return PP_ERR_FAILED;
}

static int fx_mode(const pp_job *job, const char *mode) {
    char needle[64] = "\"mode\":\"";
    strncat(needle, mode, sizeof(needle) - strlen(needle) - 2);
    strcat(needle, "\"");
    return strstr(job->payload_json, needle) != NULL;
}

static atomic_int fx_probe_sequence;
static atomic_int fx_probe_running;

/* The integer after "key": in the payload, or `fallback`. */
static long fx_number(const pp_job *job, const char *key, long fallback) {
    char needle[64];
    snprintf(needle, sizeof needle, "\"%s\":", key);
    const char *found = strstr(job->payload_json, needle);
    return found ? strtol(found + strlen(needle), NULL, 10) : fallback;
}

static __attribute__((unused)) pp_outcome fx_probe(const pp_host_api *host, const pp_job *job, pp_call *call) {
    int running = atomic_fetch_add(&fx_probe_running, 1) + 1;
    long sleep_ms = fx_number(job, "sleep_ms", 0);
    if (sleep_ms > 0) {
        struct timespec pause = {sleep_ms / 1000, (sleep_ms % 1000) * 1000000L};
        while (nanosleep(&pause, &pause) != 0 && errno == EINTR) {}
    }
    atomic_fetch_sub(&fx_probe_running, 1);
    if ((long)job->attempt < fx_number(job, "fail_until_attempt", 0)) {
        host->set_error(call, "probe: failing this attempt on purpose", NULL);
        return PP_OUTCOME_RETRY;
    }
    char result[128];
    snprintf(result, sizeof result, "{\"seq\":%d,\"running\":%d,\"attempt\":%u,\"pid\":%d}",
             atomic_fetch_add(&fx_probe_sequence, 1) + 1, running, job->attempt, (int)getpid());
    host->set_result(call, result);
    return PP_OUTCOME_DONE;
}

static __attribute__((unused)) pp_outcome fx_execute(void *state, const pp_job *job, pp_call *call) {
    const pp_host_api *host = ((fx_state *)state)->host;
    if (fx_mode(job, "probe")) return fx_probe(host, job, call);
    if (fx_mode(job, "retry")) {
        host->set_error(call, "the service answered 503; trying again", NULL);
        host->set_delay(call, 1500);
        return PP_OUTCOME_RETRY;
    }
    if (fx_mode(job, "fail")) {
        host->set_error(call, "the payload names no book", "{\"field\":\"title\"}");
        return PP_OUTCOME_FAIL;
    }
    if (fx_mode(job, "reschedule")) {
        host->set_payload(call, "{\"polls\":1}");
        host->set_delay(call, 10000);
        return PP_OUTCOME_RESCHEDULE;
    }
    if (fx_mode(job, "wait_cancel")) {
        struct timespec step = {0, 1000000};
        while (!host->is_cancelled(call)) nanosleep(&step, NULL);
        host->set_error(call, "cancelled by the host", NULL);
        return PP_OUTCOME_RETRY;
    }
    if (fx_mode(job, "hang")) {
        struct timespec hang = {3, 0};
        nanosleep(&hang, NULL);
        return PP_OUTCOME_DONE;
    }
    if (fx_mode(job, "effects")) {
        if (host->request_transition(call, "req-1", "searching", NULL) != PP_OK) {
            host->set_error(call, "transition refused", NULL);
            return PP_OUTCOME_FAIL;
        }
        int enqueued = host->enqueue(call, "echo", "{\"mode\":\"done\"}", "{\"delay_ms\":3000}");
        if (enqueued != PP_OK) {
            char message[64];
            snprintf(message, sizeof message, "enqueue refused (status %d)", enqueued);
            host->set_error(call, message, NULL);
            return PP_OUTCOME_FAIL;
        }
        return PP_OUTCOME_DONE;
    }
    if (fx_mode(job, "library_full") || fx_mode(job, "library_added")) {
        if (host->struct_size < PP_HOST_API_SIZE_1_1) {
            host->set_error(call, "the host is older than ABI 1.1", NULL);
            return PP_OUTCOME_FAIL;
        }
        int full = fx_mode(job, "library_full");
        const char *items = full
            ? "[{\"id\":\"pl-1\",\"title\":\"Project Hail Mary (Unabridged)\",\"author\":\"Andy Weir\"},"
              "{\"id\":\"pl-2\",\"title\":\"Dune\",\"author\":\"Frank Herbert\",\"asin\":\"B002V1OF70\"}]"
            : "[{\"id\":\"pl-3\",\"title\":\"Emma\",\"author\":\"Jane Austen\",\"added_at\":\"2026-11-29T10:00:00Z\"}]";
        if (host->report_library(call, "plex", items, full ? 1u : 0u) != PP_OK) {
            host->set_error(call, "library report refused", NULL);
            return PP_OUTCOME_FAIL;
        }
        return PP_OUTCOME_DONE;
    }
    if (fx_mode(job, "effects_then_fail")) {
        host->request_transition(call, "req-1", "searching", NULL);
        host->set_error(call, "failing after asking for searching", NULL);
        return PP_OUTCOME_FAIL;
    }
    if (fx_mode(job, "bogus")) return 42;
    if (fx_mode(job, "block")) {
        for (;;) {
            struct timespec nap = {3600, 0};
            nanosleep(&nap, NULL);
        }
    }
    if (fx_mode(job, "log_raw")) {
        host->log(host->host_ctx, call, PP_LOG_WARN, "first line\nforged: [error] second line \x1b[31mred\x1b[0m \x1b]0;title\x07", NULL);
        host->set_result(call, "{\"logged\":true}");
        return PP_OUTCOME_DONE;
    }
    if (fx_mode(job, "crash_now")) {
        volatile int *nowhere = NULL;
        *nowhere = 42;
        return PP_OUTCOME_DONE;
    }
    if (fx_mode(job, "grow")) {
        for (;;) {
            char *block = malloc(1 << 20);
            if (block == NULL) continue;
            memset(block, 1, 1 << 20);
        }
    }
    host->log(host->host_ctx, call, PP_LOG_INFO, "echoing", "{\"lang\":\"c\"}");
    host->progress(call, 50.0, NULL);
    host->set_result(call, job->payload_json);
    return PP_OUTCOME_DONE;
}

static void fx_shutdown(void *state) { (void)state; }

static __attribute__((unused)) pp_status fx_check(void *state, pp_call *call) {
    (void)state;
    (void)call;
    return PP_OK;
}

static const char *const fx_job_types[] = {FX_JOB_TYPES, NULL};

#define FX_DESCRIPTOR_FIELDS                                    \
    .abi_major = FX_ABI_MAJOR, .abi_minor = FX_ABI_MINOR,       \
    .build_signature = FX_SIGNATURE, .id = FX_ID,               \
    .name = FX_NAME, .version = "1.0.0", .job_types = fx_job_types, \
    .init = FX_INIT, .execute = FX_EXECUTE, .shutdown = fx_shutdown, \
    .description = "A plugin the loader tests use.", .check = fx_check

/* The descriptor sits inside a larger struct so that FX_STRUCT_SIZE can claim
 * more than the host knows, with FX_TAIL in the extra bytes. */
static const struct {
    pp_plugin_descriptor descriptor;
    uint64_t tail[2];
} fx_storage = {
    {
#ifdef FX_STRUCT_SIZE
        .struct_size = FX_STRUCT_SIZE,
#else
        .struct_size = sizeof(pp_plugin_descriptor),
#endif
        FX_DESCRIPTOR_FIELDS
    },
    {FX_TAIL, 0},
};

#ifndef FX_NO_ENTRY
PP_EXPORT const pp_plugin_descriptor *pipeline_plugin_entry_v1(uint32_t host_abi_major,
                                                               uint32_t host_abi_minor) {
    (void)host_abi_major;
    (void)host_abi_minor;
    return &fx_storage.descriptor;
}
#else
/* A plugin that forgot the entry point (or misspelled it). */
PP_EXPORT const pp_plugin_descriptor *pipeline_plugin_entry(void) { return &fx_storage.descriptor; }
#endif
