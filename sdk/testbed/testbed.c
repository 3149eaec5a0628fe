/* testbed.c - the in-process testbed: requests whose service calls go straight to the same
 * services registry and service modules the server uses (decoding, stubs, encoding), with a
 * clock the test moves. No sockets, no instances, no dispatcher: an app's handlers run on the
 * caller's thread, and each request is started and ended for the services as the server does.
 */
#include <appengine/testbed.h>

#include <appengine/log.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datastore_service.h"
#include "logservice_service.h"
#include "registry.h"
#include "sdk_internal.h"
#include "urlfetch_testbed.h"

struct ae_testbed {
    das_clock_t *clock; /* manual: moves only with ae_testbed_advance_clock() */
    das_log_t *log;
    das_services_t *services;
    ae_testbed_log_t *logs; /* the copy ae_testbed_logs() last returned */
    size_t n_logs, cap_logs;
};

/* A request together with what its wire form borrows from. */
typedef struct {
    ae_request_t rq;
    ae_testbed_t *tb;
    char *method, *path, *query, *body;
    char log_id[41];
    das_rpc_pair_t env[10];
} testbed_request_t;

static das_call_ctx_t request_ctx(const testbed_request_t *t)
{
    return (das_call_ctx_t){.request_log_id = t->log_id, .instance_id = "", .slot = -1,
                            .time_left_ms = INT64_MAX};
}

static int testbed_call(ae_request_t *rq, const das_rpc_buf_t *call, das_rpc_buf_t *reply)
{
    testbed_request_t *t = (testbed_request_t *)rq; /* rq is its first member */
    das_call_ctx_t ctx = request_ctx(t);
    ctx.seq = rq->call_seq;
    reply->len = 0;
    das_services_call(t->tb->services, &ctx, call->data, call->len, reply);
    return AE_OK;
}

/* Frees the lines ae_testbed_logs() last copied. */
static void clear_logs(ae_testbed_t *tb)
{
    for (size_t i = 0; i < tb->n_logs; i++) {
        free((char *)tb->logs[i].message);
        free((char *)tb->logs[i].request_log_id);
    }
    tb->n_logs = 0;
}

/* The app id of the requests (APPLICATION_ID) and of the datastore's keys, the platform
 * testbed's. */
#define TESTBED_APP_ID "testbed-test"

ae_testbed_t *ae_testbed_create_with(const ae_testbed_options_t *o)
{
    static const ae_testbed_options_t defaults = {0};
    if (!o)
        o = &defaults;
    ae_testbed_t *tb = calloc(1, sizeof *tb);
    if (!tb)
        abort();
    /* The starting point is the real time (absolute expirations make sense); after that only
     * the test moves it. Random draws are seeded, so ids repeat from run to run. */
    tb->clock = das_clock_manual_create(das_clock_wall_ns(das_clock_real()), 1);
    tb->log = das_log_create(DAS_LOG_ERROR, stderr, tb->clock);
    das_datastore_service_options_t ds = {
        .app_id = TESTBED_APP_ID,
        .path = o->datastore_path,
        .in_memory = o->datastore_path == NULL,
        .ids = o->auto_id_policy == AE_TESTBED_IDS_SCATTERED ? DAS_DATASTORE_IDS_SCATTERED
                                                             : DAS_DATASTORE_IDS_SEQUENTIAL,
        .consistency = o->datastore_consistency == AE_TESTBED_EVENTUAL_TIME
                           ? DAS_DATASTORE_CONSISTENCY_TIME
                       : o->datastore_consistency == AE_TESTBED_EVENTUAL_RANDOM
                           ? DAS_DATASTORE_CONSISTENCY_RANDOM
                           : DAS_DATASTORE_CONSISTENCY_CONSISTENT,
        .seed = o->datastore_seed,
        .app_root = o->app_root,
        .no_app_root = o->app_root == NULL,
        .require_indexes = o->require_indexes,
        .background_apply = false, /* queries apply what the test's clock made due */
    };
    const das_service_config_t config[] = {{"datastore_v3", &ds}};
    das_services_options_t so = {.clock = tb->clock, .log = tb->log, .app_id = TESTBED_APP_ID,
                                 .config = config, .n_config = 1};
    das_err_t err = {0};
    if (das_services_create(&so, &tb->services, &err) < 0) {
        fprintf(stderr, "ae_testbed_create: %s\n", err.msg);
        das_log_destroy(tb->log);
        das_clock_manual_destroy(tb->clock);
        free(tb);
        return NULL;
    }
    return tb;
}

ae_testbed_t *ae_testbed_create(void)
{
    ae_testbed_t *tb = ae_testbed_create_with(NULL);
    if (!tb)
        abort();
    return tb;
}

void ae_testbed_destroy(ae_testbed_t *tb)
{
    if (!tb)
        return;
    das_services_destroy(tb->services);
    clear_logs(tb);
    free(tb->logs);
    das_log_destroy(tb->log);
    das_clock_manual_destroy(tb->clock);
    free(tb);
}

void ae_testbed_urlfetch_stub(ae_testbed_t *tb, const char *prefix, ae_testbed_urlfetch_fn fn,
                              void *ctx)
{
    das_urlfetch_service_stub(das_services_state(tb->services, "urlfetch"), prefix, fn, ctx);
}

void ae_testbed_urlfetch_offline(ae_testbed_t *tb)
{
    das_urlfetch_service_offline(das_services_state(tb->services, "urlfetch"));
}

void ae_testbed_advance_clock(ae_testbed_t *tb, int64_t seconds)
{
    das_clock_manual_advance(tb->clock, seconds * 1000000000);
}

static void collect_line(void *ctx, const das_log_line_t *line)
{
    ae_testbed_t *tb = ctx;
    if (tb->n_logs == tb->cap_logs) {
        tb->cap_logs = tb->cap_logs ? tb->cap_logs * 2 : 16;
        tb->logs = realloc(tb->logs, tb->cap_logs * sizeof *tb->logs);
        if (!tb->logs)
            abort();
    }
    ae_testbed_log_t *l = &tb->logs[tb->n_logs++];
    l->level = line->level;
    l->message = strdup(line->message);
    l->request_log_id = strdup(line->request_log_id);
    if (!l->message || !l->request_log_id)
        abort();
}

size_t ae_testbed_logs(ae_testbed_t *tb, const ae_testbed_log_t **lines)
{
    clear_logs(tb);
    das_logservice_each_line(das_services_state(tb->services, "logservice"), NULL,
                             collect_line, tb);
    if (lines)
        *lines = tb->logs;
    return tb->n_logs;
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
    t->tb = tb;
    das_clock_random_hex(tb->clock, t->log_id, 40);
    const char *q = strchr(target, '?');
    t->method = dup_n(method, strlen(method));
    t->path = dup_n(target, q ? (size_t)(q - target) : strlen(target));
    t->query = dup_n(q ? q + 1 : "", q ? strlen(q + 1) : 0);
    t->body = dup_n(body ? body : "", body ? body_len : 0);
    /* The platform testbed's defaults (§6 of the reference). */
    static const das_rpc_pair_t defaults[] = {
        {"APPLICATION_ID", TESTBED_APP_ID},
        {"CURRENT_VERSION_ID", "testbed-version"},
        {"CURRENT_MODULE_ID", "default"},
        {"SERVER_SOFTWARE", "Development/1.0 (testbed)"},
        {"AUTH_DOMAIN", "gmail.com"},
        {"SERVER_NAME", "testbed.example.com"},
        {"HTTP_HOST", "testbed.example.com"},
        {"SERVER_PORT", "80"},
        {"USER_EMAIL", ""},
    };
    memcpy(t->env, defaults, sizeof defaults);
    t->env[sizeof defaults / sizeof defaults[0]] = (das_rpc_pair_t){"REQUEST_LOG_ID", t->log_id};
    ae_request_t *rq = &t->rq;
    rq->wire.script = "testbed";
    rq->wire.method = t->method;
    rq->wire.path = t->path;
    rq->wire.query = t->query;
    rq->wire.env = t->env;
    rq->wire.n_env = sizeof defaults / sizeof defaults[0] + 1;
    rq->wire.body = t->body;
    rq->wire.body_len = body ? body_len : 0;
    rq->call = testbed_call;
    rq->call_ctx = tb;
    das_call_ctx_t ctx = request_ctx(t);
    das_services_request_start(tb->services, &ctx);
    return rq;
}

void ae_testbed_request_destroy(ae_request_t *rq)
{
    if (!rq)
        return;
    testbed_request_t *t = (testbed_request_t *)rq; /* rq is its first member */
    ae_log_flush(rq);
    das_call_ctx_t ctx = request_ctx(t);
    das_services_request_end(t->tb->services, &ctx, DAS_REQUEST_RETURNED);
    ae__request_dispose(rq);
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
