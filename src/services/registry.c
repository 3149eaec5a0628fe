/* registry.c - creates the services of the table, routes each call to its service and method,
 * builds the reply envelope, and tells services when requests start and end.
 */
#include "registry.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "table.h"

typedef struct {
    const das_service_def_t *def;
    void *state;
} entry_t;

struct das_services {
    das_log_t *log;
    entry_t *entries; /* immutable after create */
    size_t n;
};

const char *das_request_end_name(das_request_end_t how)
{
    switch (how) {
    case DAS_REQUEST_RETURNED: return "returned";
    case DAS_REQUEST_CRASHED: return "crashed";
    case DAS_REQUEST_DEADLINE: return "deadline";
    case DAS_REQUEST_CANCELLED: return "cancelled";
    }
    return "?";
}

int das_call_fail(das_call_out_t *out, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    das_buf_reset(&out->detail);
    das_buf_vprintf(&out->detail, fmt, ap);
    va_end(ap);
    return code;
}

int das_services_create(const das_services_options_t *o, das_services_t **out, das_err_t *err)
{
    das_services_t *s = das_xcalloc(1, sizeof *s);
    s->log = o->log;
    size_t n_table = 0;
    while (das_service_table[n_table])
        n_table++;
    s->entries = das_xcalloc(n_table + o->n_extra, sizeof *s->entries);
    for (size_t i = 0; i < n_table + o->n_extra; i++)
        s->entries[i].def = i < n_table ? das_service_table[i] : o->extra[i - n_table];

    /* Options must name a service that exists: a typo is an error, not a silent default. */
    for (size_t c = 0; c < o->n_config; c++) {
        bool found = false;
        for (size_t i = 0; i < n_table + o->n_extra && !found; i++)
            found = strcmp(s->entries[i].def->name, o->config[c].service) == 0;
        if (!found) {
            free(s->entries);
            free(s);
            return das_err_set(err, AE_EINVAL, "options for an unknown service '%s'",
                               o->config[c].service);
        }
    }
    das_service_env_t env = {.clock = o->clock, .log = o->log,
                             .app_id = o->app_id ? o->app_id : "dev~app",
                             .storage_path = o->storage_path, .app_root = o->app_root,
                             .is_self = o->is_self, .self_ctx = o->self_ctx,
                             .inbound_token = o->inbound_token};
    for (size_t i = 0; i < n_table + o->n_extra; i++) {
        const void *options = NULL;
        for (size_t c = 0; c < o->n_config; c++)
            if (strcmp(s->entries[i].def->name, o->config[c].service) == 0)
                options = o->config[c].options;
        int rc = s->entries[i].def->create(&env, options, &s->entries[i].state, err);
        if (rc < 0) {
            das_services_destroy(s);
            return rc;
        }
        s->n = i + 1;
    }
    *out = s;
    return 0;
}

void das_services_destroy(das_services_t *s)
{
    if (!s)
        return;
    for (size_t i = s->n; i-- > 0;)
        if (s->entries[i].def->destroy)
            s->entries[i].def->destroy(s->entries[i].state);
    free(s->entries);
    free(s);
}

static const entry_t *find(const das_services_t *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->entries[i].def->name, name) == 0)
            return &s->entries[i];
    return NULL;
}

static const das_service_method_t *find_method(const das_service_def_t *def, const char *name)
{
    for (size_t i = 0; i < def->n_methods; i++)
        if (strcmp(def->methods[i].name, name) == 0)
            return &def->methods[i];
    return NULL;
}

/* Names in a message may come from a broken or hostile instance: keep them short. */
#define NAME_FMT "%.64s"

void das_services_call(das_services_t *s, const das_call_ctx_t *ctx, const void *payload,
                       size_t len, das_rpc_buf_t *reply)
{
    das_rpc_call_t call;
    das_call_out_t out = {.body = reply};
    size_t mark = das_rpc_reply_begin(reply);
    int rc;
    const entry_t *e = NULL;
    const das_service_method_t *m = NULL;
    if (das_rpc_decode_call(payload, len, &call) < 0) {
        rc = das_call_fail(&out, AE_EINVAL, "malformed service call (%zu bytes): not a call "
                                            "envelope",
                           len);
    } else if (!(e = find(s, call.service)) || !(m = find_method(e->def, call.method))) {
        rc = das_call_fail(&out, AE_EINVAL,
                           "The API package '" NAME_FMT "' or call '" NAME_FMT
                           "()' was not found.",
                           call.service, call.method);
    } else {
        rc = e->def->call(e->state, ctx, m, call.body, call.body_len, &out);
        if (rc == AE_OK && reply->len - mark > DAS_RPC_MAX_FRAME - 1024)
            rc = das_call_fail(&out, AE_ETOOLARGE,
                               "The response from API call " NAME_FMT "." NAME_FMT
                               "() was too large.",
                               call.service, call.method);
    }
    if (rc != AE_OK) {
        if (!out.detail.len)
            das_buf_puts(&out.detail, ae_strerror(rc));
        das_log_level_t level = rc == AE_EINTERNAL || rc == AE_EIO ? DAS_LOG_WARNING
                                                                   : DAS_LOG_DEBUG;
        if (das_log_is_enabled(s->log, level))
            das_log(s->log, level, "request %s: call %u " NAME_FMT "." NAME_FMT "() failed: %s (%s)",
                    ctx->request_log_id[0] ? ctx->request_log_id : "-", ctx->seq,
                    call.service[0] ? call.service : "?", call.method[0] ? call.method : "?",
                    out.detail.data,
                    ae_strerror(rc));
    }
    das_rpc_reply_end(reply, mark, rc, rc != AE_OK ? out.detail.data : "");
    das_buf_dispose(&out.detail);
}

void das_services_request_start(das_services_t *s, const das_call_ctx_t *rq)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->entries[i].def->request_start)
            s->entries[i].def->request_start(s->entries[i].state, rq);
}

void das_services_request_end(das_services_t *s, const das_call_ctx_t *rq,
                              das_request_end_t how)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->entries[i].def->request_end)
            s->entries[i].def->request_end(s->entries[i].state, rq, how);
}

void das_services_log_stats(das_services_t *s, const char *when)
{
    if (!das_log_is_enabled(s->log, DAS_LOG_DEBUG))
        return;
    for (size_t i = 0; i < s->n; i++) {
        if (!s->entries[i].def->stats)
            continue;
        das_buf_t line = {0};
        s->entries[i].def->stats(s->entries[i].state, &line);
        das_log_debug(s->log, "%s %s: %s", s->entries[i].def->name, when,
                      line.data ? line.data : "");
        das_buf_dispose(&line);
    }
}

size_t das_services_count(const das_services_t *s)
{
    return s->n;
}

const das_service_def_t *das_services_def(const das_services_t *s, size_t i)
{
    return i < s->n ? s->entries[i].def : NULL;
}

void *das_services_state(das_services_t *s, const char *name)
{
    const entry_t *e = find(s, name);
    return e ? e->state : NULL;
}

const das_service_method_t *das_services_method(const das_services_t *s, const char *service,
                                                const char *method)
{
    const entry_t *e = find(s, service);
    return e ? find_method(e->def, method) : NULL;
}
