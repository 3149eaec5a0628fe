/* testbed.c - the in-process testbed: requests whose service calls go straight to the same
 * services module the server uses (decoding, stubs, encoding), with a clock the test moves.
 * No sockets, no instances: an app's handlers run on the caller's thread.
 */
#include <appengine/testbed.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sdk_internal.h"
#include "services.h"

struct ae_testbed {
    das_services_t *services;
    _Atomic int64_t now_ms; /* the testbed's clock */
};

/* A request together with what its wire form borrows from. */
typedef struct {
    ae_request_t rq;
    char *method, *path, *query, *body;
    das_rpc_pair_t env[8];
} testbed_request_t;

static int64_t testbed_now_ms(void *ctx)
{
    ae_testbed_t *tb = ctx;
    return atomic_load(&tb->now_ms);
}

static int testbed_call(ae_request_t *rq, const das_rpc_buf_t *call, das_rpc_buf_t *reply)
{
    ae_testbed_t *tb = rq->call_ctx;
    reply->len = 0;
    das_services_call(tb->services, call->data, call->len, reply);
    return AE_OK;
}

ae_testbed_t *ae_testbed_create(void)
{
    ae_testbed_t *tb = calloc(1, sizeof *tb);
    if (!tb)
        abort();
    /* The starting point is the real time (absolute expirations make sense); after that only
     * the test moves it. This is the testbed's clock, not the server's. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    atomic_store(&tb->now_ms, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
    das_services_options_t o = {.now_ms = testbed_now_ms, .clock_ctx = tb};
    tb->services = das_services_create(&o);
    return tb;
}

void ae_testbed_destroy(ae_testbed_t *tb)
{
    if (!tb)
        return;
    das_services_destroy(tb->services);
    free(tb);
}

void ae_testbed_advance_clock(ae_testbed_t *tb, int64_t seconds)
{
    atomic_fetch_add(&tb->now_ms, seconds * 1000);
}

static char *dup_n(const void *s, size_t n)
{
    char *p = malloc(n + 1);
    if (!p)
        abort();
    if (n)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

ae_request_t *ae_testbed_request_create(ae_testbed_t *tb, const char *method, const char *target,
                                        const void *body, size_t body_len)
{
    testbed_request_t *t = calloc(1, sizeof *t);
    if (!t)
        abort();
    const char *q = strchr(target, '?');
    t->method = dup_n(method, strlen(method));
    t->path = dup_n(target, q ? (size_t)(q - target) : strlen(target));
    t->query = dup_n(q ? q + 1 : "", q ? strlen(q + 1) : 0);
    t->body = dup_n(body ? body : "", body ? body_len : 0);
    /* The platform testbed's defaults (§6 of the reference). */
    static const das_rpc_pair_t defaults[] = {
        {"APPLICATION_ID", "testbed-test"},
        {"CURRENT_VERSION_ID", "testbed-version"},
        {"CURRENT_MODULE_ID", "default"},
        {"SERVER_SOFTWARE", "Development/1.0 (testbed)"},
        {"AUTH_DOMAIN", "gmail.com"},
        {"SERVER_NAME", "testbed.example.com"},
        {"SERVER_PORT", "80"},
        {"USER_EMAIL", ""},
    };
    memcpy(t->env, defaults, sizeof defaults);
    ae_request_t *rq = &t->rq;
    rq->wire.script = "testbed";
    rq->wire.method = t->method;
    rq->wire.path = t->path;
    rq->wire.query = t->query;
    rq->wire.env = t->env;
    rq->wire.n_env = sizeof defaults / sizeof defaults[0];
    rq->wire.body = t->body;
    rq->wire.body_len = body ? body_len : 0;
    rq->call = testbed_call;
    rq->call_ctx = tb;
    return rq;
}

void ae_testbed_request_destroy(ae_request_t *rq)
{
    if (!rq)
        return;
    testbed_request_t *t = (testbed_request_t *)rq; /* rq is its first member */
    ae__arena_dispose(&rq->arena);
    free(t->method);
    free(t->path);
    free(t->query);
    free(t->body);
    free(t);
}

int ae_testbed_run(ae_testbed_t *tb, ae_handler_fn handler, const char *method,
                   const char *target, const void *body, size_t body_len,
                   ae_testbed_response_t *out)
{
    ae_request_t *rq = ae_testbed_request_create(tb, method, target, body, body_len);
    ae_response_t rs;
    ae__response_init(&rs, &rq->arena);
    handler(rq, &rs);
    memset(out, 0, sizeof *out);
    out->status = rs.status;
    out->body = dup_n(rs.body ? rs.body : "", rs.len);
    out->len = rs.len;
    out->headers = calloc(rs.n_headers + 1, sizeof *out->headers);
    if (!out->headers)
        abort();
    for (size_t i = 0; i < rs.n_headers; i++) {
        size_t n = strlen(rs.headers[i].name) + strlen(rs.headers[i].value) + 3;
        out->headers[i] = malloc(n);
        if (!out->headers[i])
            abort();
        snprintf(out->headers[i], n, "%s: %s", rs.headers[i].name, rs.headers[i].value);
    }
    ae__response_dispose(&rs);
    ae_testbed_request_destroy(rq);
    return AE_OK;
}

void ae_testbed_response_dispose(ae_testbed_response_t *r)
{
    free(r->body);
    for (size_t i = 0; r->headers && r->headers[i]; i++)
        free(r->headers[i]);
    free(r->headers);
    memset(r, 0, sizeof *r);
}
