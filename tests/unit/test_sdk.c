/* test_sdk.c - what a handler sees through the SDK: parameters from the query and a form
 * body, cookies, headers by any case, arena strings, and a response's headers and body. */
#include <stdlib.h>
#include <string.h>

#include <appengine/log.h>
#include <appengine/memcache.h>

#include "check.h"
#include "sdk_internal.h"

static das_rpc_pair_t headers[] = {
    {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
    {"Cookie", "a=1; session=\"abc def\" ; empty="},
    {"X-Thing", "yes"},
};
static das_rpc_pair_t env[] = {{"USER_EMAIL", "u@x.org"}, {"USER_IS_ADMIN", "1"},
                               {"USER_ID", "123"}};

static void make(ae_request_t *rq, const char *query, const char *body)
{
    memset(rq, 0, sizeof *rq);
    rq->wire.script = "x.app";
    rq->wire.method = "POST";
    rq->wire.path = "/p";
    rq->wire.query = query;
    rq->wire.headers = headers;
    rq->wire.n_headers = 3;
    rq->wire.env = env;
    rq->wire.n_env = 3;
    rq->wire.body = body;
    rq->wire.body_len = strlen(body);
}

TEST(test_sdk_params_come_from_query_then_form_body_decoded)
{
    ae_request_t rq;
    make(&rq, "q=a%20b&dup=query&flag", "dup=form&f=x+y%21&enc=%E2%82%AC");
    CHECK_STR_EQ(ae_request_param(&rq, "q"), "a b");
    CHECK_STR_EQ(ae_request_param(&rq, "dup"), "query");
    CHECK_STR_EQ(ae_request_param(&rq, "f"), "x y!");
    CHECK_STR_EQ(ae_request_param(&rq, "enc"), "\xE2\x82\xAC");
    CHECK_STR_EQ(ae_request_param(&rq, "flag"), "");
    CHECK(ae_request_param(&rq, "missing") == NULL);
    das_arena_dispose(&rq.arena);
}

TEST(test_sdk_cookies_and_headers)
{
    ae_request_t rq;
    make(&rq, "", "");
    CHECK_STR_EQ(ae_request_cookie(&rq, "a"), "1");
    CHECK_STR_EQ(ae_request_cookie(&rq, "session"), "abc def");
    CHECK_STR_EQ(ae_request_cookie(&rq, "empty"), "");
    CHECK(ae_request_cookie(&rq, "nope") == NULL);
    CHECK_STR_EQ(ae_request_header(&rq, "x-thing"), "yes");
    CHECK_EQ(ae_request_header_count(&rq), 3);
    CHECK_STR_EQ(ae_request_user_email(&rq), "u@x.org");
    CHECK(ae_request_user_is_admin(&rq));
    CHECK_STR_EQ(ae_request_user_id(&rq), "123");
    das_arena_dispose(&rq.arena);
}

TEST(test_sdk_arena_strings_outlive_many_allocations)
{
    ae_request_t rq;
    make(&rq, "", "");
    char *first = ae_request_printf(&rq, "%s-%d", "n", 42);
    for (int i = 0; i < 10000; i++)
        ae_request_alloc(&rq, 100);
    char *big = ae_request_alloc(&rq, 1 << 20);
    memset(big, 'x', 1 << 20);
    CHECK_STR_EQ(first, "n-42");
    CHECK_STR_EQ(ae_request_strdup(&rq, "copy"), "copy");
    das_arena_dispose(&rq.arena);
}

TEST(test_sdk_response_headers_replace_or_add_and_body_grows)
{
    das_arena_t arena = {0};
    ae_response_t rs;
    ae__response_init(&rs, &arena);
    CHECK_EQ(rs.status, 200);
    ae_response_set_header(&rs, "Content-Type", "text/plain");
    ae_response_set_header(&rs, "content-type", "text/csv");
    ae_response_add_header(&rs, "Set-Cookie", "a=1");
    ae_response_add_header(&rs, "Set-Cookie", "b=2");
    CHECK_EQ(rs.n_headers, 3);
    CHECK_STR_EQ(rs.headers[0].value, "text/csv");
    for (int i = 0; i < 1000; i++)
        ae_response_printf(&rs, "%04d", i);
    CHECK_EQ(rs.len, 4000);
    CHECK(memcmp(rs.body + 3996, "0999", 4) == 0);
    char long_text[2000];
    memset(long_text, 'y', sizeof long_text - 1);
    long_text[sizeof long_text - 1] = '\0';
    ae_response_error(&rs, 503, "unavailable: %s", long_text);
    CHECK_EQ(rs.status, 503);
    CHECK_EQ(rs.len, strlen("unavailable: ") + sizeof long_text - 1);
    ae__response_dispose(&rs);
    das_arena_dispose(&arena);
}

/* A transport that answers every call with AE_OK and an empty body, counting calls and the
 * app log lines they carry. */
typedef struct {
    int calls;
    int log_lines;
    char last_method[64];
} fake_t;

static int fake_call(ae_request_t *rq, const das_rpc_buf_t *call, das_rpc_buf_t *reply)
{
    fake_t *f = rq->call_ctx;
    das_rpc_call_t c;
    if (das_rpc_decode_call(call->data, call->len, &c) < 0)
        return AE_EINTERNAL;
    f->calls++;
    snprintf(f->last_method, sizeof f->last_method, "%s.%s", c.service, c.method);
    if (strcmp(c.service, "logservice") == 0) {
        das_rpc_reader_t r;
        das_rpc_reader_init(&r, c.body, c.body_len);
        f->log_lines += (int)das_rpc_get_u32(&r);
    }
    reply->len = 0;
    size_t mark = das_rpc_reply_begin(reply);
    das_rpc_reply_end(reply, mark, AE_OK, "");
    return AE_OK;
}

TEST(test_sdk_log_lines_are_batched_not_one_call_each)
{
    ae_request_t rq;
    make(&rq, "", "");
    fake_t f = {0};
    rq.call = fake_call;
    rq.call_ctx = &f;
    for (int i = 0; i < 10000; i++)
        ae_log_info(&rq, "line %d", i);
    ae_log_flush(&rq);
    CHECK_EQ(f.log_lines, 10000);
    CHECK(f.calls <= 10);
    CHECK_STR_EQ(f.last_method, "logservice.Flush");
    int before = f.calls;
    ae_log_flush(&rq); /* nothing left: no call */
    CHECK_EQ(f.calls, before);
    ae__request_dispose(&rq);
}

TEST(test_sdk_last_error_names_a_value_over_the_limit_without_a_round_trip)
{
    ae_request_t rq;
    make(&rq, "", "");
    fake_t f = {0};
    rq.call = fake_call;
    rq.call_ctx = &f;
    CHECK(ae_request_last_error(&rq) == NULL);
    static char big[AE_MEMCACHE_MAX_VALUE + 1];
    CHECK_EQ(ae_memcache_set(&rq, "k", big, sizeof big, 0, 0), AE_ETOOLARGE);
    CHECK_EQ(f.calls, 0);
    CHECK_STR_EQ(ae_request_last_error(&rq),
                 "Values may not be more than 1000000 bytes in length; received 1000001 bytes");
    ae__request_dispose(&rq);
}

TEST(test_sdk_calls_are_numbered_within_their_request)
{
    ae_request_t rq;
    make(&rq, "", "");
    fake_t f = {0};
    rq.call = fake_call;
    rq.call_ctx = &f;
    ae__call_t c;
    ae__call_begin(&rq, &c, "memcache", "Stats");
    CHECK_EQ(rq.call_seq, 1);
    ae__call_dispose(&c);
    ae__call_begin(&rq, &c, "memcache", "Stats");
    CHECK_OK(ae__call_send(&rq, &c));
    das_rpc_call_t sent;
    CHECK_OK(das_rpc_decode_call(c.out.data, c.out.len, &sent));
    CHECK_EQ(sent.seq, 2);
    ae__call_dispose(&c);
    ae__request_dispose(&rq);
}

CHECK_MAIN()
