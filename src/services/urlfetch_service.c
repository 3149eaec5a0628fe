/* urlfetch_service.c - the URL Fetch service: decodes the calls of rpc_urlfetch.h, runs them
 * on the urlfetch stub with the request's owner and deadline, encodes the responses. Its row
 * in table.c is `urlfetch`. A request's fetches not waited for are cancelled when it ends.
 */
#include "urlfetch_service.h"
#include "urlfetch_testbed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rpc_urlfetch.h"
#include "service.h"
#include "urlfetch.h"

/* A testbed stub: the app-level callback behind the stub's answer function. */
typedef struct testbed_stub {
    struct testbed_stub *next;
    ae_testbed_urlfetch_fn fn;
    void *ctx;
} testbed_stub_t;

typedef struct {
    das_urlfetch_t *uf;
    das_log_t *log;
    testbed_stub_t *stubs;
} urlfetch_service_t;

static void warn(void *ctx, const char *message)
{
    das_log_warning(((urlfetch_service_t *)ctx)->log, "urlfetch: %s", message);
}

static int create(const das_service_env_t *env, const void *options, void **state,
                  das_err_t *err)
{
    const das_urlfetch_service_options_t *o = options;
    urlfetch_service_t *svc = das_xcalloc(1, sizeof *svc);
    svc->log = env->log;
    das_urlfetch_options_t uo = {
        .app_id = env->app_id,
        .is_self = env->is_self,
        .self_ctx = env->self_ctx,
        .inbound_token_header = DAS_INBOUND_TOKEN_HEADER,
        .inbound_token = env->inbound_token,
        .record_path = o ? o->record_path : NULL,
        .replay_path = o ? o->replay_path : NULL,
        .warn = warn,
        .warn_ctx = svc,
    };
    das_urlfetch_err_t *e = das_xmalloc(sizeof *e);
    int rc = das_urlfetch_create(&uo, &svc->uf, e);
    if (rc < 0) {
        das_err_set(err, rc, "%s", e->msg);
        free(svc);
    } else {
        *state = svc;
    }
    free(e);
    return rc;
}

static void destroy(void *state)
{
    urlfetch_service_t *svc = state;
    if (!svc)
        return;
    das_urlfetch_destroy(svc->uf);
    while (svc->stubs) {
        testbed_stub_t *t = svc->stubs;
        svc->stubs = t->next;
        free(t);
    }
    free(svc);
}

/* The fetch's deadline: its own (or the default), never past what is left of the request's. */
static int64_t deadline_ms(int64_t asked, const das_call_ctx_t *ctx)
{
    int64_t d = asked > 0 ? asked : DAS_URLFETCH_DEFAULT_DEADLINE_MS;
    if (d > DAS_URLFETCH_MAX_DEADLINE_MS)
        d = DAS_URLFETCH_MAX_DEADLINE_MS;
    return ctx->time_left_ms < d ? ctx->time_left_ms : d;
}

static int put_response(das_urlfetch_response_t *rs, das_call_out_t *out)
{
    das_rpc_uf_response_t r = {
        .status = (uint32_t)rs->status,
        .final_url = rs->final_url ? rs->final_url : "",
        .truncated = rs->truncated,
        .headers = (const das_rpc_pair_t *)rs->headers, /* the same two pointers */
        .n_headers = (uint32_t)rs->n_headers,
        .body = rs->body,
        .body_len = rs->len,
    };
    das_rpc_uf_encode_response(out->body, &r);
    das_urlfetch_response_dispose(rs);
    return AE_OK;
}

_Static_assert(sizeof(das_rpc_pair_t) == sizeof(das_urlfetch_header_t),
               "a header is a name and a value on both sides");

static int call(void *state, const das_call_ctx_t *ctx, const das_service_method_t *method,
                const void *body, size_t len, das_call_out_t *out)
{
    urlfetch_service_t *svc = state;
    const char *owner = ctx->request_log_id;
    das_urlfetch_err_t *err = das_xmalloc(sizeof *err);
    das_urlfetch_response_t rs = {0};
    int rc;
    if (strcmp(method->name, "Wait") == 0) {
        uint32_t handle;
        const char *url;
        if (das_rpc_uf_decode_wait(body, len, &handle, &url) < 0) {
            rc = das_call_fail(out, AE_EINVAL, "malformed urlfetch.Wait() request (%zu bytes)",
                               len);
        } else {
            rc = das_urlfetch_wait(svc->uf, owner, handle, &rs, err);
            rc = rc == AE_OK ? put_response(&rs, out) : das_call_fail(out, rc, "%s", err->msg);
        }
        free(err);
        return rc;
    }
    das_rpc_uf_request_t rq;
    if (das_rpc_uf_decode_request(body, len, &rq) < 0) {
        das_rpc_uf_request_dispose(&rq);
        free(err);
        return das_call_fail(out, AE_EINVAL, "malformed urlfetch.%s() request (%zu bytes)",
                             method->name, len);
    }
    das_urlfetch_request_t f = {
        .method = rq.method,
        .url = rq.url,
        .headers = (const das_urlfetch_header_t *)rq.headers,
        .n_headers = rq.n_headers,
        .payload = rq.payload,
        .payload_len = rq.payload_len,
        .follow_redirects = rq.follow_redirects,
        .validate_certificate = rq.validate_certificate,
        .deadline_ms = deadline_ms(rq.deadline_ms, ctx),
    };
    if (f.deadline_ms <= 0) {
        rc = das_call_fail(out, AE_ETIMEOUT, "Deadline exceeded while waiting for HTTP response "
                                             "from URL: %s (the request's deadline has passed)",
                           rq.url);
    } else if (strcmp(method->name, "Start") == 0) {
        uint32_t handle;
        rc = das_urlfetch_start(svc->uf, owner, &f, &handle, err);
        if (rc == AE_OK)
            das_rpc_put_u32(out->body, handle);
        else
            das_call_fail(out, rc, "%s", err->msg);
    } else {
        rc = das_urlfetch_fetch(svc->uf, owner, &f, &rs, err);
        rc = rc == AE_OK ? put_response(&rs, out) : das_call_fail(out, rc, "%s", err->msg);
    }
    das_rpc_uf_request_dispose(&rq);
    free(err);
    return rc;
}

static void request_end(void *state, const das_call_ctx_t *rq, das_request_end_t how)
{
    urlfetch_service_t *svc = state;
    size_t n = das_urlfetch_cancel(svc->uf, rq->request_log_id);
    if (n)
        das_log_debug(svc->log, "request %s %s with %zu fetch%s in flight: cancelled",
                      rq->request_log_id, das_request_end_name(how), n, n == 1 ? "" : "es");
}

static void stats(void *state, das_buf_t *out)
{
    das_urlfetch_stats_t st;
    das_urlfetch_stats(((urlfetch_service_t *)state)->uf, &st);
    das_buf_printf(out, "%llu fetches, %llu failed, %llu cancelled, %llu connections opened, "
                        "%llu recorded, %llu replayed",
                   (unsigned long long)st.fetches, (unsigned long long)st.failures,
                   (unsigned long long)st.cancelled, (unsigned long long)st.connections,
                   (unsigned long long)st.recorded, (unsigned long long)st.replayed);
}

/* ---------------------------------------------------------------- for the trace */

/* The origin a URL reaches ("http://host:port", lower case): the one key a fetch reads and
 * writes, "the network" there. */
static void emit_origin(const char *url, das_key_cb emit, void *ctx)
{
    const char *p = strstr(url, "://");
    const char *end = p ? p + 3 + strcspn(p + 3, "/?#") : url + strlen(url);
    das_buf_t k = {0};
    for (const char *c = url; c < end; c++)
        das_buf_printf(&k, "%c", *c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
    emit(ctx, k.data ? k.data : "", k.len);
    das_buf_dispose(&k);
}

static int fetch_keys(const void *body, size_t len, das_key_cb emit, void *ctx)
{
    das_rpc_uf_request_t rq;
    int bad = das_rpc_uf_decode_request(body, len, &rq) < 0;
    if (!bad)
        emit_origin(rq.url, emit, ctx);
    das_rpc_uf_request_dispose(&rq);
    return bad ? AE_EINVAL : 0;
}

static int wait_keys(const void *body, size_t len, das_key_cb emit, void *ctx)
{
    uint32_t handle;
    const char *url;
    if (das_rpc_uf_decode_wait(body, len, &handle, &url) < 0)
        return AE_EINVAL;
    emit_origin(url, emit, ctx);
    return 0;
}

/* What a fetch read: its status and size ("200, 12 bytes"). */
static void response_value(const void *body, size_t len, const void *reply, size_t reply_len,
                           das_buf_t *out)
{
    (void)body;
    (void)len;
    if (!reply)
        return; /* the fetch failed: its status says how */
    das_rpc_uf_response_t r;
    if (das_rpc_uf_decode_response(reply, reply_len, &r) == 0)
        das_buf_printf(out, "%u, %zu bytes%s", r.status, r.body_len,
                       r.truncated ? " (truncated)" : "");
    das_rpc_uf_response_dispose(&r);
}

static const das_service_method_t methods[] = {
    {"Fetch", DAS_ACCESS_WRITE, false, fetch_keys, response_value, false, NULL, true},
    {"Start", DAS_ACCESS_WRITE, false, fetch_keys, NULL, false, NULL, true},
    {"Wait", DAS_ACCESS_WRITE, false, wait_keys, response_value, false, NULL, true},
};

const das_service_def_t das_urlfetch_service = {
    .name = "urlfetch",
    .create = create,
    .destroy = destroy,
    .call = call,
    .request_end = request_end,
    .stats = stats,
    .methods = methods,
    .n_methods = sizeof methods / sizeof methods[0],
};

/* ---------------------------------------------------------------- the testbed's stubs */

/* "Name: value" lines of a stub's request, in one allocation with the array. */
static const char **header_lines(const das_urlfetch_request_t *rq)
{
    size_t bytes = (rq->n_headers + 1) * sizeof(char *);
    for (size_t i = 0; i < rq->n_headers; i++)
        bytes += strlen(rq->headers[i].name) + strlen(rq->headers[i].value) + 3;
    const char **lines = das_xmalloc(bytes);
    char *p = (char *)(lines + rq->n_headers + 1);
    for (size_t i = 0; i < rq->n_headers; i++) {
        lines[i] = p;
        p += sprintf(p, "%s: %s", rq->headers[i].name, rq->headers[i].value) + 1;
    }
    lines[rq->n_headers] = NULL;
    return lines;
}

static int answer(void *ctx, const das_urlfetch_request_t *rq, das_urlfetch_response_t *rs,
                  das_urlfetch_err_t *err)
{
    testbed_stub_t *t = ctx;
    const char **lines = header_lines(rq);
    ae_urlfetch_request_t f = {
        .method = rq->method,
        .url = rq->url,
        .headers = lines,
        .payload = rq->payload,
        .payload_len = rq->payload_len,
        .follow_redirects = rq->follow_redirects,
        .validate_certificate = rq->validate_certificate,
        .deadline = (double)rq->deadline_ms / 1000.0,
    };
    ae_urlfetch_response_t r = {.status = 200};
    int rc = t->fn(t->ctx, &f, &r);
    free(lines);
    if (rc != AE_OK) {
        snprintf(err->msg, sizeof err->msg, "Unable to fetch URL: %s (the test's stub answered "
                                            "%s)",
                 rq->url, ae_strerror(rc));
        return rc;
    }
    rs->status = r.status;
    rs->len = r.body ? r.len : 0;
    rs->body = das_xmalloc(rs->len + 1);
    if (rs->len)
        memcpy(rs->body, r.body, rs->len);
    rs->body[rs->len] = '\0';
    size_t n = 0;
    while (r.headers && r.headers[n])
        n++;
    rs->headers = das_xcalloc(n + 1, sizeof *rs->headers);
    for (size_t i = 0; i < n; i++) {
        const char *colon = strchr(r.headers[i], ':');
        size_t nl = colon ? (size_t)(colon - r.headers[i]) : strlen(r.headers[i]);
        const char *v = colon ? colon + 1 + strspn(colon + 1, " \t") : "";
        rs->headers[i].name = das_xstrndup(r.headers[i], nl);
        rs->headers[i].value = das_xstrdup(v);
    }
    rs->n_headers = n;
    return AE_OK;
}

void das_urlfetch_service_stub(void *state, const char *prefix, ae_testbed_urlfetch_fn fn,
                               void *ctx)
{
    urlfetch_service_t *svc = state;
    testbed_stub_t *t = das_xcalloc(1, sizeof *t);
    t->fn = fn;
    t->ctx = ctx;
    t->next = svc->stubs;
    svc->stubs = t;
    das_urlfetch_answer(svc->uf, prefix, answer, t);
}

void das_urlfetch_service_offline(void *state)
{
    das_urlfetch_set_offline(((urlfetch_service_t *)state)->uf, true);
}
