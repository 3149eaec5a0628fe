/* logservice_service.c - the app's log lines (appengine/log.h): each line goes to the server's
 * log with its request log id and level, and the lines of the last DAS_LOGSERVICE_KEEP
 * requests that logged are kept in memory, with their request. Its row in table.c is
 * `logservice`; its one method is "Flush" (a batch of lines, see sdk/src/log.c).
 *
 * What is kept is bounded: at most DAS_LOGSERVICE_KEEP requests, DAS_LOGSERVICE_REQUEST_BYTES
 * of lines per request (later lines still reach the server's log; the record counts them), and
 * DAS_LOGSERVICE_TOTAL_BYTES in all (the oldest requests go first).
 *
 * Design: one lock guards the kept requests: a FIFO of records (the oldest is dropped when
 * the FIFO is full) and a hash from request log id to record.
 */
#include "logservice_service.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <appengine/log.h>
#include <uthash.h>

#include "service.h"

#define MAX_LINES_PER_CALL 100000

typedef struct {
    int level;
    int64_t time_ns;
    char *message;
} line_t;

typedef struct record {
    char *log_id;
    line_t *lines;
    size_t n, cap;
    size_t bytes;   /* of the kept messages */
    size_t dropped; /* lines over the request's budget, not kept */
    struct record *next; /* FIFO order: oldest first */
    UT_hash_handle hh;
} record_t;

typedef struct {
    das_log_t *log;
    pthread_mutex_t lock;
    record_t *by_id; /* guarded by lock, as are the three below */
    record_t *oldest, *newest;
    size_t n_records;
    size_t bytes; /* kept in all */
    uint64_t n_lines;
} logservice_t;

static int create(const das_service_env_t *env, const void *options, void **state,
                  das_err_t *err)
{
    (void)options;
    (void)err;
    logservice_t *ls = das_xcalloc(1, sizeof *ls);
    ls->log = env->log;
    pthread_mutex_init(&ls->lock, NULL);
    *state = ls;
    return 0;
}

static void record_free(record_t *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->lines[i].message);
    free(r->lines);
    free(r->log_id);
    free(r);
}

static void destroy(void *state)
{
    logservice_t *ls = state;
    if (!ls)
        return;
    HASH_CLEAR(hh, ls->by_id);
    for (record_t *r = ls->oldest, *next; r; r = next) {
        next = r->next;
        record_free(r);
    }
    pthread_mutex_destroy(&ls->lock);
    free(ls);
}

static void drop_oldest_locked(logservice_t *ls)
{
    record_t *old = ls->oldest;
    ls->oldest = old->next;
    if (!ls->oldest)
        ls->newest = NULL;
    HASH_DEL(ls->by_id, old);
    ls->bytes -= old->bytes;
    record_free(old);
    ls->n_records--;
}

/* The record of `log_id`, made (and the oldest dropped) when it has none. */
static record_t *record_for_locked(logservice_t *ls, const char *log_id)
{
    record_t *r;
    HASH_FIND_STR(ls->by_id, log_id, r);
    if (r)
        return r;
    if (ls->n_records == DAS_LOGSERVICE_KEEP)
        drop_oldest_locked(ls);
    r = das_xcalloc(1, sizeof *r);
    r->log_id = das_xstrdup(log_id);
    HASH_ADD_KEYPTR(hh, ls->by_id, r->log_id, strlen(r->log_id), r);
    if (ls->newest)
        ls->newest->next = r;
    else
        ls->oldest = r;
    ls->newest = r;
    ls->n_records++;
    return r;
}

static const das_log_level_t level_map[] = {DAS_LOG_DEBUG, DAS_LOG_INFO, DAS_LOG_WARNING,
                                            DAS_LOG_ERROR, DAS_LOG_CRITICAL};

static int call(void *state, const das_call_ctx_t *ctx, const das_service_method_t *method,
                const void *body, size_t len, das_call_out_t *out)
{
    (void)method;
    logservice_t *ls = state;
    das_rpc_reader_t r;
    das_rpc_reader_init(&r, body, len);
    uint32_t n = das_rpc_get_count(&r, 17, MAX_LINES_PER_CALL);
    line_t *lines = das_xcalloc(n ? n : 1, sizeof *lines);
    for (uint32_t i = 0; i < n && !r.bad; i++) {
        uint32_t level = das_rpc_get_u32(&r);
        lines[i].level = level > AE_LOG_CRITICAL ? AE_LOG_CRITICAL : (int)level;
        lines[i].time_ns = das_rpc_get_i64(&r);
        size_t mlen;
        const char *m = das_rpc_get_bytes(&r, &mlen);
        if (mlen > AE_LOG_MAX_LINE) { /* the SDK cuts lines; a raw call may not have */
            char *cut = das_xmalloc(AE_LOG_MAX_LINE + 1);
            size_t keep = AE_LOG_MAX_LINE - (sizeof AE_LOG_CUT_MARKER - 1);
            memcpy(cut, m, keep);
            memcpy(cut + keep, AE_LOG_CUT_MARKER, sizeof AE_LOG_CUT_MARKER);
            lines[i].message = cut;
        } else {
            lines[i].message = das_xstrndup(m, mlen);
        }
    }
    if (!das_rpc_reader_done(&r)) {
        for (uint32_t i = 0; i < n; i++)
            free(lines[i].message);
        free(lines);
        return das_call_fail(out, AE_EINVAL, "malformed logservice.Flush() request (%zu bytes)",
                             len);
    }
    const char *id = ctx->request_log_id[0] ? ctx->request_log_id : "-";
    for (uint32_t i = 0; i < n; i++)
        if (das_log_is_enabled(ls->log, level_map[lines[i].level]))
            das_log(ls->log, level_map[lines[i].level], "app [%s]: %s", id, lines[i].message);
    pthread_mutex_lock(&ls->lock);
    record_t *rec = record_for_locked(ls, id);
    for (uint32_t i = 0; i < n; i++) {
        size_t size = strlen(lines[i].message) + 1;
        if (rec->bytes + size > DAS_LOGSERVICE_REQUEST_BYTES) {
            rec->dropped++;
            free(lines[i].message);
            continue;
        }
        if (rec->n == rec->cap) {
            rec->cap = rec->cap ? rec->cap * 2 : 16;
            rec->lines = das_xrealloc(rec->lines, rec->cap * sizeof *rec->lines);
        }
        rec->lines[rec->n++] = lines[i];
        rec->bytes += size;
        ls->bytes += size;
    }
    /* The oldest requests go while the whole is over budget (never the one just written). */
    while (ls->bytes > DAS_LOGSERVICE_TOTAL_BYTES && ls->oldest != rec)
        drop_oldest_locked(ls);
    ls->n_lines += n;
    pthread_mutex_unlock(&ls->lock);
    free(lines);
    return AE_OK;
}

static void stats(void *state, das_buf_t *out)
{
    logservice_t *ls = state;
    pthread_mutex_lock(&ls->lock);
    das_buf_printf(out, "%llu app log lines, %zu requests kept", (unsigned long long)ls->n_lines,
                   ls->n_records);
    pthread_mutex_unlock(&ls->lock);
}

void das_logservice_each_line(void *state, const char *request_log_id,
                              void (*fn)(void *ctx, const das_log_line_t *line), void *ctx)
{
    logservice_t *ls = state;
    pthread_mutex_lock(&ls->lock);
    for (record_t *r = ls->oldest; r; r = r->next) {
        if (request_log_id && strcmp(r->log_id, request_log_id) != 0)
            continue;
        for (size_t i = 0; i < r->n; i++) {
            das_log_line_t line = {r->log_id, r->lines[i].level, r->lines[i].time_ns,
                                   r->lines[i].message};
            fn(ctx, &line);
        }
        if (r->dropped) {
            char note[96];
            snprintf(note, sizeof note, "... %zu more line%s not kept (over %d bytes for one "
                                        "request)",
                     r->dropped, r->dropped == 1 ? "" : "s", DAS_LOGSERVICE_REQUEST_BYTES);
            das_log_line_t line = {r->log_id, AE_LOG_WARNING,
                                   r->n ? r->lines[r->n - 1].time_ns : 0, note};
            fn(ctx, &line);
        }
    }
    pthread_mutex_unlock(&ls->lock);
}

static const das_service_method_t methods[] = {
    {"Flush", DAS_ACCESS_WRITE, false, NULL, NULL, true, NULL, false},
};

const das_service_def_t das_logservice_service = {
    .name = "logservice",
    .create = create,
    .destroy = destroy,
    .call = call,
    .stats = stats,
    .methods = methods,
    .n_methods = sizeof methods / sizeof methods[0],
};
