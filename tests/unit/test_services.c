/* test_services.c - the services registry: routing by service and method name, the reply
 * envelope, errors with messages (and never another service's reply), request hooks and
 * context, method descriptions, and the logservice module. Runs the registry in process with a
 * manual clock, as the testbed does. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include <appengine/log.h>

#include "check.h"
#include "logservice_service.h"
#include "memcache_service.h"
#include "registry.h"
#include "rpc_datastore.h"
#include "rpc_memcache.h"

/* ---------------------------------------------------------------- a service that records */

typedef struct {
    int starts, ends, calls;
    das_request_end_t last_how;
    char last_log_id[64];
    uint32_t last_seq;
    int64_t last_left;
} recorder_t;

static recorder_t rec;

static int rec_create(const das_service_env_t *env, const void *options, void **state,
                      das_err_t *err)
{
    (void)env;
    (void)options;
    (void)err;
    memset(&rec, 0, sizeof rec);
    *state = &rec;
    return 0;
}

static void rec_destroy(void *state)
{
    (void)state;
}

static int rec_call(void *state, const das_call_ctx_t *ctx, const das_service_method_t *m,
                    const void *body, size_t len, das_call_out_t *out)
{
    (void)body;
    (void)len;
    recorder_t *r = state;
    r->calls++;
    r->last_seq = ctx->seq;
    r->last_left = ctx->time_left_ms;
    snprintf(r->last_log_id, sizeof r->last_log_id, "%s", ctx->request_log_id);
    if (strcmp(m->name, "Break") == 0)
        return das_call_fail(out, AE_EINTERNAL, "the recorder broke on purpose");
    das_rpc_put_str(out->body, "recorded");
    return AE_OK;
}

static void rec_start(void *state, const das_call_ctx_t *rq)
{
    recorder_t *r = state;
    r->starts++;
    snprintf(r->last_log_id, sizeof r->last_log_id, "%s", rq->request_log_id);
}

static void rec_end(void *state, const das_call_ctx_t *rq, das_request_end_t how)
{
    (void)rq;
    recorder_t *r = state;
    r->ends++;
    r->last_how = how;
}

static const das_service_method_t rec_methods[] = {
    {"Record", DAS_ACCESS_WRITE, false, NULL, NULL, false, NULL, false},
    {"Break", DAS_ACCESS_READ, false, NULL, NULL, false, NULL, false},
};

/* The least a service can be: no destroy, no hooks, no stats. */
static int bare_create(const das_service_env_t *env, const void *options, void **state,
                       das_err_t *err)
{
    (void)env, (void)options, (void)err;
    *state = NULL;
    return 0;
}

static const das_service_def_t bare_service = {
    .name = "bare",
    .create = bare_create,
    .call = rec_call,
    .methods = rec_methods,
    .n_methods = 1,
};

static const das_service_def_t recorder_service = {
    .name = "recorder",
    .create = rec_create,
    .destroy = rec_destroy,
    .call = rec_call,
    .request_start = rec_start,
    .request_end = rec_end,
    .methods = rec_methods,
    .n_methods = 2,
};

/* ---------------------------------------------------------------- fixture */

typedef struct {
    das_clock_t *clock;
    FILE *logf;
    das_log_t *log;
    das_services_t *s;
} fixture_t;

static void setup(fixture_t *f, das_log_level_t level)
{
    f->clock = das_clock_manual_create(1700000000ll * 1000000000, 1);
    f->logf = tmpfile();
    f->log = das_log_create(level, f->logf, f->clock);
    static const das_service_def_t *const extra[] = {&recorder_service, &bare_service};
    das_services_options_t o = {.clock = f->clock, .log = f->log, .extra = extra, .n_extra = 2};
    das_err_t err = {0};
    if (das_services_create(&o, &f->s, &err) < 0)
        abort();
}

static void teardown(fixture_t *f)
{
    das_services_destroy(f->s);
    das_log_destroy(f->log);
    fclose(f->logf);
    das_clock_manual_destroy(f->clock);
}

/* The log so far (malloc'd). */
static char *log_text(fixture_t *f)
{
    fflush(f->logf);
    long n = ftell(f->logf);
    char *t = calloc(1, (size_t)n + 1);
    rewind(f->logf);
    if (fread(t, 1, (size_t)n, f->logf) != (size_t)n)
        abort();
    return t;
}

static const das_call_ctx_t call_ctx = {.request_log_id = "abc123", .instance_id = "inst",
                                   .slot = 2, .seq = 5, .time_left_ms = 9000};

/* Sends a call with `body` and decodes the reply into `rp`, borrowing from `reply`. */
static void call(fixture_t *f, const char *service, const char *method, const das_rpc_buf_t *body,
                 das_rpc_buf_t *reply, das_rpc_reply_t *rp)
{
    das_rpc_buf_t c = {0};
    size_t mark = das_rpc_call_begin(&c, service, method, call_ctx.seq);
    if (body)
        das_rpc_put_raw(&c, body->data, body->len);
    das_rpc_call_end(&c, mark);
    reply->len = 0;
    das_services_call(f->s, &call_ctx, c.data, c.len, reply);
    das_rpc_buf_dispose(&c);
    if (das_rpc_decode_reply(reply->data, reply->len, rp) < 0)
        abort();
}

/* ---------------------------------------------------------------- tests */

TEST(test_unknown_service_and_method_get_einval_naming_them)
{
    fixture_t f;
    setup(&f, DAS_LOG_DEBUG);
    das_rpc_buf_t reply = {0};
    das_rpc_reply_t rp;
    call(&f, "nosuchservice", "Get", NULL, &reply, &rp);
    CHECK_EQ(rp.status, AE_EINVAL);
    CHECK_STR_EQ(rp.detail, "The API package 'nosuchservice' or call 'Get()' was not found.");
    CHECK_EQ(rp.body_len, 0);
    call(&f, "memcache", "Frobnicate", NULL, &reply, &rp);
    CHECK_EQ(rp.status, AE_EINVAL);
    CHECK_STR_EQ(rp.detail, "The API package 'memcache' or call 'Frobnicate()' was not found.");
    /* Failed calls are logged at debug, with the request log id. */
    char *t = log_text(&f);
    CHECK_STR_CONTAINS(t, "request abc123: call 5 memcache.Frobnicate() failed");
    free(t);
    das_rpc_buf_dispose(&reply);
    teardown(&f);
}

TEST(test_malformed_envelope_gets_einval_not_a_crash)
{
    fixture_t f;
    setup(&f, DAS_LOG_INFO);
    das_rpc_buf_t reply = {0};
    das_services_call(f.s, &call_ctx, "\x05garbage", 8, &reply);
    das_rpc_reply_t rp;
    CHECK_OK(das_rpc_decode_reply(reply.data, reply.len, &rp));
    CHECK_EQ(rp.status, AE_EINVAL);
    CHECK_STR_CONTAINS(rp.detail, "malformed service call");
    das_rpc_buf_dispose(&reply);
    teardown(&f);
}

TEST(test_truncated_memcache_body_gets_einval_at_every_length)
{
    fixture_t f;
    setup(&f, DAS_LOG_INFO);
    das_rpc_mc_item_t item = {.key = "k", .key_len = 1, .value = "value", .value_len = 5};
    das_rpc_mc_request_t mrq = {.op = DAS_RPC_MC_STORE, .ns = "", .n = 1, .items = &item};
    das_rpc_buf_t body = {0}, cut = {0}, reply = {0};
    das_rpc_mc_encode_request(&body, &mrq);
    for (size_t n = 0; n < body.len; n++) {
        cut.len = 0;
        das_rpc_put_raw(&cut, body.data, n);
        das_rpc_reply_t rp;
        call(&f, "memcache", "Set", &cut, &reply, &rp);
        CHECK_EQ(rp.status, AE_EINVAL);
        CHECK_STR_CONTAINS(rp.detail, "malformed memcache.Set() request");
        CHECK_EQ(rp.body_len, 0);
    }
    /* The whole body is stored; a Get then finds it. */
    das_rpc_reply_t rp;
    call(&f, "memcache", "Set", &body, &reply, &rp);
    CHECK_EQ(rp.status, AE_OK);
    mrq.op = DAS_RPC_MC_GET;
    body.len = 0;
    das_rpc_mc_encode_request(&body, &mrq);
    call(&f, "memcache", "Get", &body, &reply, &rp);
    CHECK_EQ(rp.status, AE_OK);
    das_rpc_mc_reply_t got;
    CHECK_OK(das_rpc_mc_decode_reply(rp.body, rp.body_len, DAS_RPC_MC_GET, &got));
    CHECK_EQ(got.n, 1);
    CHECK_EQ(got.items[0].status, AE_OK);
    CHECK_STR_EQ(got.items[0].value, "value");
    das_rpc_mc_reply_dispose(&got);
    das_rpc_buf_dispose(&body);
    das_rpc_buf_dispose(&cut);
    das_rpc_buf_dispose(&reply);
    teardown(&f);
}

static long max_rss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

TEST(test_get_naming_one_big_value_thousands_of_times_stops_at_the_frame_limit)
{
    /* 2,000 copies of a 1 MB value do not fit in one 64 MB reply: the call fails early
     * instead of building a 2 GB reply first (it once peaked at 3.9 GB). */
    fixture_t f;
    setup(&f, DAS_LOG_INFO);
    char *big = malloc(1000000);
    memset(big, 'b', 1000000);
    das_rpc_mc_item_t one = {.key = "big", .key_len = 3, .value = big, .value_len = 1000000};
    das_rpc_mc_request_t mrq = {.op = DAS_RPC_MC_STORE, .ns = "", .n = 1, .items = &one};
    das_rpc_buf_t body = {0}, reply = {0};
    das_rpc_reply_t rp;
    das_rpc_mc_encode_request(&body, &mrq);
    call(&f, "memcache", "Set", &body, &reply, &rp);
    CHECK_EQ(rp.status, AE_OK);
    enum { N = 2000 };
    das_rpc_mc_item_t *keys = calloc(N, sizeof *keys);
    for (int i = 0; i < N; i++)
        keys[i] = (das_rpc_mc_item_t){.key = "big", .key_len = 3};
    mrq = (das_rpc_mc_request_t){.op = DAS_RPC_MC_GET, .ns = "", .n = N, .items = keys};
    body.len = 0;
    das_rpc_mc_encode_request(&body, &mrq);
    long before = max_rss_kb();
    call(&f, "memcache", "Get", &body, &reply, &rp);
    long grew_mb = (max_rss_kb() - before) / 1024;
    CHECK_EQ(rp.status, AE_ETOOLARGE);
    CHECK_STR_EQ(rp.detail, "The response from API call memcache.Get() was too large.");
    CHECK(grew_mb < 400);
    free(keys);
    free(big);
    das_rpc_buf_dispose(&body);
    das_rpc_buf_dispose(&reply);
    teardown(&f);
}

TEST(test_call_context_and_request_hooks_reach_the_service)
{
    fixture_t f;
    setup(&f, DAS_LOG_INFO);
    das_call_ctx_t rq = {.request_log_id = "req-1", .instance_id = "i", .slot = 0};
    das_services_request_start(f.s, &rq);
    CHECK_EQ(rec.starts, 1);
    CHECK_STR_EQ(rec.last_log_id, "req-1");
    das_rpc_buf_t reply = {0};
    das_rpc_reply_t rp;
    call(&f, "recorder", "Record", NULL, &reply, &rp);
    CHECK_EQ(rp.status, AE_OK);
    CHECK_EQ(rec.last_seq, 5);
    CHECK_EQ(rec.last_left, 9000);
    CHECK_STR_EQ(rec.last_log_id, "abc123");
    das_rpc_reader_t r;
    das_rpc_reader_init(&r, rp.body, rp.body_len);
    CHECK_STR_EQ(das_rpc_get_str(&r), "recorded");
    das_services_request_end(f.s, &rq, DAS_REQUEST_DEADLINE);
    CHECK_EQ(rec.ends, 1);
    CHECK_EQ(rec.last_how, DAS_REQUEST_DEADLINE);
    CHECK_STR_EQ(das_request_end_name(DAS_REQUEST_CANCELLED), "cancelled");
    das_rpc_buf_dispose(&reply);
    teardown(&f);
}

TEST(test_internal_failures_are_logged_at_warning)
{
    fixture_t f;
    setup(&f, DAS_LOG_WARNING);
    das_rpc_buf_t reply = {0};
    das_rpc_reply_t rp;
    call(&f, "recorder", "Break", NULL, &reply, &rp);
    CHECK_EQ(rp.status, AE_EINTERNAL);
    CHECK_STR_EQ(rp.detail, "the recorder broke on purpose");
    call(&f, "nosuch", "X", NULL, &reply, &rp); /* debug only: not in this log */
    char *t = log_text(&f);
    CHECK_STR_CONTAINS(t, "WARNING");
    CHECK_STR_CONTAINS(t, "recorder.Break() failed: the recorder broke on purpose");
    CHECK(strstr(t, "nosuch") == NULL);
    free(t);
    das_rpc_buf_dispose(&reply);
    teardown(&f);
}

TEST(test_options_for_an_unknown_service_are_an_error)
{
    das_clock_t *c = das_clock_manual_create(0, 1);
    das_log_t *log = das_log_create(DAS_LOG_ERROR, stderr, c);
    das_memcache_service_options_t mo = {.max_bytes = 1000};
    das_service_config_t cfg[] = {{"memcache", &mo}, {"memcahce", &mo}};
    das_services_options_t o = {.clock = c, .log = log, .config = cfg, .n_config = 2};
    das_services_t *s = NULL;
    das_err_t err = {0};
    CHECK_EQ(das_services_create(&o, &s, &err), AE_EINVAL);
    CHECK_STR_CONTAINS(err.msg, "unknown service 'memcahce'");
    o.n_config = 1;
    CHECK_OK(das_services_create(&o, &s, &err));
    das_services_destroy(s);
    das_log_destroy(log);
    das_clock_manual_destroy(c);
}

static void collect_key(void *ctx, const char *key, size_t len)
{
    das_buf_t *b = ctx;
    das_buf_append(b, key, len);
    das_buf_puts(b, "|");
}

TEST(test_methods_describe_access_and_keys)
{
    fixture_t f;
    setup(&f, DAS_LOG_INFO);
    CHECK(das_services_count(f.s) >= 3);
    CHECK_STR_EQ(das_services_def(f.s, 0)->name, "memcache");
    const das_service_method_t *get = das_services_method(f.s, "memcache", "Get");
    CHECK(get && get->access == DAS_ACCESS_READ && !get->all_keys);
    const das_service_method_t *flush = das_services_method(f.s, "memcache", "FlushAll");
    CHECK(flush && flush->access == DAS_ACCESS_WRITE && flush->all_keys);
    CHECK(das_services_method(f.s, "memcache", "Nope") == NULL);
    das_rpc_mc_item_t items[2] = {{.key = "a", .key_len = 1}, {.key = "b", .key_len = 1}};
    das_rpc_mc_request_t mrq = {.op = DAS_RPC_MC_GET, .ns = "users", .n = 2, .items = items};
    das_rpc_buf_t body = {0};
    das_rpc_mc_encode_request(&body, &mrq);
    das_buf_t keys = {0};
    CHECK_OK(get->keys(body.data, body.len, collect_key, &keys));
    CHECK_STR_EQ(keys.data, "users/a|users/b|");
    CHECK_EQ(get->keys(body.data, body.len - 1, collect_key, &keys), AE_EINVAL);
    das_buf_dispose(&keys);
    das_rpc_buf_dispose(&body);
    teardown(&f);
}

TEST(test_datastore_methods_list_entity_keys_groups_and_kinds)
{
    fixture_t f;
    setup(&f, DAS_LOG_INFO);
    const das_service_method_t *get = das_services_method(f.s, "datastore_v3", "Get");
    const das_service_method_t *put = das_services_method(f.s, "datastore_v3", "Put");
    const das_service_method_t *query = das_services_method(f.s, "datastore_v3", "RunQuery");
    const das_service_method_t *commit = das_services_method(f.s, "datastore_v3", "Commit");
    CHECK(get && get->access == DAS_ACCESS_READ && get->keys);
    CHECK(put && put->access == DAS_ACCESS_WRITE && put->keys);
    CHECK(query && query->access == DAS_ACCESS_READ && query->keys);
    CHECK(commit && commit->access == DAS_ACCESS_WRITE && !commit->keys);

    das_rpc_ds_elem_t path[] = {{"Guestbook", 0, "default"}, {"Greeting", 42, NULL}};
    das_rpc_ds_key_t keys[] = {{NULL, "", 2, path}, {NULL, "", 1, path}, {NULL, "ns", 1, path}};
    das_rpc_ds_request_t rq = {.op = DAS_RPC_DS_GET, .n = 3, .keys = keys};
    das_rpc_buf_t body = {0};
    das_rpc_ds_encode_request(&body, &rq);
    das_buf_t out = {0};
    CHECK_OK(get->keys(body.data, body.len, collect_key, &out));
    CHECK_STR_EQ(out.data, "Guestbook:default/Greeting:42|group Guestbook:default|"
                           "Guestbook:default|ns!Guestbook:default|group ns!Guestbook:default|");
    CHECK_EQ(get->keys(body.data, body.len - 1, collect_key, &out), AE_EINVAL);

    /* An incomplete key: its parent's group and its kind. */
    das_rpc_ds_elem_t incomplete[] = {{"Guestbook", 0, "default"}, {"Greeting", 0, NULL}};
    das_rpc_ds_entity_t ents[] = {{.key = {NULL, "", 2, incomplete}},
                                  {.key = {NULL, "", 1, incomplete + 1}}};
    rq = (das_rpc_ds_request_t){.op = DAS_RPC_DS_PUT, .n = 2, .entities = ents};
    body.len = 0;
    das_rpc_ds_encode_request(&body, &rq);
    das_buf_reset(&out);
    CHECK_OK(put->keys(body.data, body.len, collect_key, &out));
    CHECK_STR_EQ(out.data, "group Guestbook:default|kind Greeting|kind Greeting|");

    /* A query reads its kind, or its ancestor's group. */
    rq = (das_rpc_ds_request_t){.op = DAS_RPC_DS_RUN_QUERY,
                                .query = {.ns = "", .kind = "Greeting", .limit = -1}};
    body.len = 0;
    das_rpc_ds_encode_request(&body, &rq);
    das_buf_reset(&out);
    CHECK_OK(query->keys(body.data, body.len, collect_key, &out));
    CHECK_STR_EQ(out.data, "kind Greeting|");
    rq.query.ancestor = &keys[0];
    body.len = 0;
    das_rpc_ds_encode_request(&body, &rq);
    das_buf_reset(&out);
    CHECK_OK(query->keys(body.data, body.len, collect_key, &out));
    CHECK_STR_EQ(out.data, "group Guestbook:default|");
    das_buf_dispose(&out);
    das_rpc_buf_dispose(&body);
    teardown(&f);
}

/* Encodes a Flush body of one line. */
static void flush_body(das_rpc_buf_t *b, int level, const char *msg, size_t len)
{
    b->len = 0;
    das_rpc_put_u32(b, 1);
    das_rpc_put_u32(b, (uint32_t)level);
    das_rpc_put_i64(b, 1);
    das_rpc_put_bytes(b, msg, len);
}

typedef struct {
    int n;
    char last[AE_LOG_MAX_LINE + 1];
    char last_id[64];
} lines_t;

static void count_line(void *ctx, const das_log_line_t *line)
{
    lines_t *l = ctx;
    l->n++;
    snprintf(l->last, sizeof l->last, "%s", line->message);
    snprintf(l->last_id, sizeof l->last_id, "%s", line->request_log_id);
}

TEST(test_app_log_lines_reach_the_log_filtered_and_are_kept_per_request)
{
    fixture_t f;
    setup(&f, DAS_LOG_INFO);
    das_rpc_buf_t body = {0}, reply = {0};
    das_rpc_reply_t rp;
    flush_body(&body, AE_LOG_WARNING, "disk nearly full", 16);
    call(&f, "logservice", "Flush", &body, &reply, &rp);
    CHECK_EQ(rp.status, AE_OK);
    flush_body(&body, AE_LOG_DEBUG, "chatter", 7);
    call(&f, "logservice", "Flush", &body, &reply, &rp);
    char *t = log_text(&f);
    CHECK_STR_CONTAINS(t, "WARNING");
    CHECK_STR_CONTAINS(t, "app [abc123]: disk nearly full");
    CHECK(strstr(t, "chatter") == NULL); /* under --log-level info */
    free(t);
    lines_t l = {0};
    void *ls = das_services_state(f.s, "logservice");
    das_logservice_each_line(ls, "abc123", count_line, &l);
    CHECK_EQ(l.n, 2); /* kept whatever the level */
    /* A line over 8 KB is cut, with a marker. */
    char *big = malloc(20000);
    memset(big, 'x', 20000);
    flush_body(&body, AE_LOG_INFO, big, 20000);
    call(&f, "logservice", "Flush", &body, &reply, &rp);
    CHECK_EQ(rp.status, AE_OK);
    l.n = 0;
    das_logservice_each_line(ls, "abc123", count_line, &l);
    CHECK_EQ(strlen(l.last), AE_LOG_MAX_LINE);
    CHECK_STR_CONTAINS(l.last, "[line cut at 8192 bytes]");
    /* A truncated batch is refused. */
    body.len -= 3;
    call(&f, "logservice", "Flush", &body, &reply, &rp);
    CHECK_EQ(rp.status, AE_EINVAL);
    free(big);
    das_rpc_buf_dispose(&body);
    das_rpc_buf_dispose(&reply);
    teardown(&f);
}

TEST(test_logservice_keeps_the_last_1000_requests)
{
    fixture_t f;
    setup(&f, DAS_LOG_WARNING);
    void *ls = das_services_state(f.s, "logservice");
    das_rpc_buf_t body = {0}, reply = {0};
    flush_body(&body, AE_LOG_INFO, "hello", 5);
    for (int i = 0; i < DAS_LOGSERVICE_KEEP + 5; i++) {
        char id[32];
        snprintf(id, sizeof id, "req-%d", i);
        das_call_ctx_t c = call_ctx;
        c.request_log_id = id;
        das_rpc_buf_t frame = {0};
        size_t mark = das_rpc_call_begin(&frame, "logservice", "Flush", 1);
        das_rpc_put_raw(&frame, body.data, body.len);
        das_rpc_call_end(&frame, mark);
        reply.len = 0;
        das_services_call(f.s, &c, frame.data, frame.len, &reply);
        das_rpc_buf_dispose(&frame);
    }
    lines_t l = {0};
    das_logservice_each_line(ls, NULL, count_line, &l);
    CHECK_EQ(l.n, DAS_LOGSERVICE_KEEP);
    CHECK_STR_EQ(l.last_id, "req-1004");
    l.n = 0;
    das_logservice_each_line(ls, "req-4", count_line, &l);
    CHECK_EQ(l.n, 0); /* among the five oldest, dropped */
    das_logservice_each_line(ls, "req-5", count_line, &l);
    CHECK_EQ(l.n, 1);
    das_rpc_buf_dispose(&body);
    das_rpc_buf_dispose(&reply);
    teardown(&f);
}

TEST(test_logservice_keeps_at_most_a_megabyte_of_one_request)
{
    fixture_t f;
    setup(&f, DAS_LOG_WARNING);
    void *ls = das_services_state(f.s, "logservice");
    char *line = malloc(8000);
    memset(line, 'y', 8000);
    das_rpc_buf_t body = {0}, reply = {0};
    das_rpc_reply_t rp;
    flush_body(&body, AE_LOG_INFO, line, 8000);
    for (int i = 0; i < 200; i++) /* 1.6 MB in all */
        call(&f, "logservice", "Flush", &body, &reply, &rp);
    lines_t l = {0};
    das_logservice_each_line(ls, "abc123", count_line, &l);
    CHECK_EQ(l.n, (DAS_LOGSERVICE_REQUEST_BYTES / 8001) + 1);
    CHECK_STR_CONTAINS(l.last, "more lines not kept");
    free(line);
    das_rpc_buf_dispose(&body);
    das_rpc_buf_dispose(&reply);
    teardown(&f);
}

TEST(test_statistics_come_through_the_stats_hook)
{
    fixture_t f;
    setup(&f, DAS_LOG_DEBUG);
    das_services_log_stats(f.s, "at shutdown");
    char *t = log_text(&f);
    CHECK_STR_CONTAINS(t, "memcache at shutdown: 0 hits, 0 misses");
    CHECK_STR_CONTAINS(t, "logservice at shutdown: 0 app log lines");
    CHECK_STR_CONTAINS(t, "datastore_v3 at shutdown: 0 entities, 0 puts");
    free(t);
    teardown(&f);
}

CHECK_MAIN()
