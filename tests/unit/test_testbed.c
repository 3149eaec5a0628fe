/* test_testbed.c - an app's own tests can run its handlers and the memcache API in process,
 * with the server's semantics and a clock they move, through the public headers only. */
#include <appengine/apiproxy.h>
#include <appengine/log.h>
#include <appengine/memcache.h>
#include <appengine/testbed.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

/* A handler as an app would write it: counts visits in memcache. */
static void visits(ae_request_t *rq, ae_response_t *rs)
{
    uint64_t zero = 0, n = 0;
    int rc = ae_memcache_incr(rq, "visits", 1, &zero, &n);
    if (rc != AE_OK)
        return ae_response_error(rs, 503, "memcache: %s", ae_strerror(rc));
    ae_response_printf(rs, "%llu", (unsigned long long)n);
}

TEST(test_testbed_runs_a_handler_whose_memcache_state_persists_across_requests)
{
    ae_testbed_t *tb = ae_testbed_create();
    ae_testbed_response_t r;
    for (int i = 1; i <= 3; i++) {
        CHECK_OK(ae_testbed_run(tb, visits, "GET", "/", NULL, 0, &r));
        CHECK_EQ(r.status, 200);
        CHECK_EQ(atoi(r.body), i);
        ae_testbed_response_dispose(&r);
    }
    ae_testbed_destroy(tb);
    /* A new testbed starts empty. */
    tb = ae_testbed_create();
    CHECK_OK(ae_testbed_run(tb, visits, "GET", "/", NULL, 0, &r));
    CHECK_STR_EQ(r.body, "1");
    ae_testbed_response_dispose(&r);
    ae_testbed_destroy(tb);
}

TEST(test_testbed_memcache_calls_follow_the_platform_rules)
{
    ae_testbed_t *tb = ae_testbed_create();
    ae_request_t *rq = ae_testbed_request_create(tb, "GET", "/x?a=1", NULL, 0);
    CHECK_STR_EQ(ae_request_param(rq, "a"), "1");
    CHECK_STR_EQ(ae_request_env(rq, "APPLICATION_ID"), "testbed-test");
    ae_memcache_value_t v;
    CHECK_EQ(ae_memcache_get(rq, "k", &v), AE_ENOTFOUND);
    CHECK_OK(ae_memcache_set(rq, "k", "hello", 5, 7, 0));
    CHECK_OK(ae_memcache_gets(rq, "k", &v));
    CHECK_EQ(v.len, 5);
    CHECK_EQ(v.flags, 7);
    CHECK(memcmp(v.data, "hello", 5) == 0);
    CHECK_EQ(ae_memcache_add(rq, "k", "x", 1, 0, 0), AE_ENOTSTORED);
    CHECK_OK(ae_memcache_cas(rq, "k", "v2", 2, 0, 0, v.cas));
    CHECK_EQ(ae_memcache_cas(rq, "k", "v3", 2, 0, 0, v.cas), AE_ECONTENTION);
    uint64_t n;
    CHECK_EQ(ae_memcache_incr(rq, "k", 1, NULL, &n), AE_EINVAL); /* "v2" is not a number */
    CHECK_EQ(ae_memcache_decr(rq, "missing", 1, NULL, &n), AE_ENOTFOUND);
    char big[AE_MEMCACHE_MAX_VALUE + 1];
    memset(big, 'b', sizeof big);
    CHECK_EQ(ae_memcache_set(rq, "big", big, sizeof big, 0, 0), AE_ETOOLARGE);
    CHECK_OK(ae_memcache_delete(rq, "k", 0));
    CHECK_EQ(ae_memcache_delete(rq, "k", 0), AE_ENOTFOUND);
    ae_testbed_request_destroy(rq);
    ae_testbed_destroy(tb);
}

TEST(test_testbed_clock_expires_entries)
{
    ae_testbed_t *tb = ae_testbed_create();
    ae_request_t *rq = ae_testbed_request_create(tb, "GET", "/", NULL, 0);
    CHECK_OK(ae_memcache_set(rq, "short", "1", 1, 0, 60));
    ae_memcache_value_t v;
    ae_testbed_advance_clock(tb, 59);
    CHECK_OK(ae_memcache_get(rq, "short", &v));
    ae_testbed_advance_clock(tb, 2);
    CHECK_EQ(ae_memcache_get(rq, "short", &v), AE_ENOTFOUND);
    ae_testbed_request_destroy(rq);
    ae_testbed_destroy(tb);
}

TEST(test_testbed_multi_calls_report_each_item)
{
    ae_testbed_t *tb = ae_testbed_create();
    ae_request_t *rq = ae_testbed_request_create(tb, "GET", "/", NULL, 0);
    ae_memcache_item_t items[] = {{.key = "a", .data = "1", .len = 1},
                                  {.key = "b", .data = "2", .len = 1}};
    CHECK_OK(ae_memcache_set_multi(rq, items, 2));
    CHECK_OK(items[0].status);
    ae_memcache_item_t again[] = {{.key = "a", .data = "x", .len = 1},
                                  {.key = "c", .data = "3", .len = 1}};
    CHECK_OK(ae_memcache_add_multi(rq, again, 2));
    CHECK_EQ(again[0].status, AE_ENOTSTORED);
    CHECK_OK(again[1].status);
    const char *keys[] = {"a", "zz", "c"};
    ae_memcache_value_t vals[3];
    int st[3];
    CHECK_OK(ae_memcache_get_multi(rq, keys, 3, vals, st));
    CHECK_OK(st[0]);
    CHECK_EQ(st[1], AE_ENOTFOUND);
    CHECK_STR_EQ(vals[2].data, "3");
    ae_memcache_offset_t offs[] = {{.key = "a", .delta = 5}, {.key = "b", .delta = -9}};
    CHECK_OK(ae_memcache_offset_multi(rq, offs, 2, NULL));
    CHECK_EQ(offs[0].new_value, 6);
    CHECK_EQ(offs[1].new_value, 0); /* decr clamps at zero */
    ae_memcache_stats_t stats;
    CHECK_OK(ae_memcache_stats(rq, &stats));
    CHECK_EQ(stats.items, 3);
    CHECK_EQ(stats.misses, 1);
    /* Namespaces keep keys apart. */
    ae_memcache_set_namespace(rq, "other");
    ae_memcache_value_t v;
    CHECK_EQ(ae_memcache_get(rq, "a", &v), AE_ENOTFOUND);
    CHECK_OK(ae_memcache_flush_all(rq));
    ae_memcache_set_namespace(rq, "");
    CHECK_EQ(ae_memcache_get(rq, "a", &v), AE_ENOTFOUND);
    ae_testbed_request_destroy(rq);
    ae_testbed_destroy(tb);
}

TEST(test_testbed_get_multi_too_large_for_one_reply_fails_as_a_whole)
{
    /* 70 values of almost 1 MB cannot come back in one 64 MB reply: the call says so, and
     * nothing else breaks (in a server, the instance lives on). */
    ae_testbed_t *tb = ae_testbed_create();
    ae_request_t *rq = ae_testbed_request_create(tb, "GET", "/", NULL, 0);
    enum { N = 70, SIZE = 999000 };
    char *value = malloc(SIZE);
    memset(value, 'v', SIZE);
    char names[N][16];
    const char *keys[N];
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "big%d", i);
        keys[i] = names[i];
        CHECK_OK(ae_memcache_set(rq, keys[i], value, SIZE, 0, 0));
    }
    free(value);
    ae_memcache_value_t *vals = calloc(N, sizeof *vals);
    int st[N];
    CHECK_EQ(ae_memcache_get_multi(rq, keys, N, vals, st), AE_ETOOLARGE);
    CHECK_EQ(st[0], AE_ETOOLARGE);
    CHECK_STR_EQ(ae_request_last_error(rq),
                 "The response from API call memcache.Get() was too large.");
    free(vals);
    ae_memcache_value_t one;
    CHECK_OK(ae_memcache_get(rq, "big0", &one));
    CHECK_EQ(one.len, SIZE);
    ae_testbed_request_destroy(rq);
    ae_testbed_destroy(tb);
}

static void logging_handler(ae_request_t *rq, ae_response_t *rs)
{
    ae_log_info(rq, "hello from %s", ae_request_path(rq));
    ae_log_error(rq, "something failed: %d", 42);
    ae_response_puts(rs, ae_request_env(rq, "REQUEST_LOG_ID"));
}

TEST(test_testbed_captures_app_log_lines_with_their_request)
{
    ae_testbed_t *tb = ae_testbed_create();
    ae_testbed_response_t r1, r2;
    ae_testbed_run(tb, logging_handler, "GET", "/one", NULL, 0, &r1);
    ae_testbed_run(tb, logging_handler, "GET", "/two", NULL, 0, &r2);
    const ae_testbed_log_t *lines;
    size_t n = ae_testbed_logs(tb, &lines);
    CHECK_EQ(n, 4);
    CHECK_STR_EQ(lines[0].message, "hello from /one");
    CHECK_EQ(lines[0].level, AE_LOG_INFO);
    CHECK_STR_EQ(lines[1].message, "something failed: 42");
    CHECK_EQ(lines[1].level, AE_LOG_ERROR);
    CHECK_STR_EQ(lines[0].request_log_id, r1.body);
    CHECK_STR_EQ(lines[3].request_log_id, r2.body);
    CHECK(strcmp(r1.body, r2.body) != 0);
    ae_testbed_response_dispose(&r1);
    ae_testbed_response_dispose(&r2);
    ae_testbed_destroy(tb);
}

TEST(test_testbed_invalid_namespace_fails_with_the_platforms_words)
{
    ae_testbed_t *tb = ae_testbed_create();
    ae_request_t *rq = ae_testbed_request_create(tb, "GET", "/", NULL, 0);
    ae_memcache_set_namespace(rq, "no spaces allowed");
    CHECK_EQ(ae_memcache_set(rq, "k", "v", 1, 0, 0), AE_EINVAL);
    CHECK_STR_EQ(ae_request_last_error(rq), "value \"no spaces allowed\" does not match regex "
                                            "\"^[0-9A-Za-z._-]{0,100}$\"");
    ae_memcache_set_namespace(rq, "fine.ns-1");
    CHECK_OK(ae_memcache_set(rq, "k", "v", 1, 0, 0));
    ae_testbed_request_destroy(rq);
    ae_testbed_destroy(tb);
}

TEST(test_testbed_unknown_service_fails_with_a_message)
{
    ae_testbed_t *tb = ae_testbed_create();
    ae_request_t *rq = ae_testbed_request_create(tb, "GET", "/", NULL, 0);
    const void *reply;
    size_t len;
    CHECK_EQ(ae_apiproxy_call(rq, "datastore_v3", "Put", "x", 1, &reply, &len), AE_EINVAL);
    CHECK_STR_EQ(ae_request_last_error(rq),
                 "The API package 'datastore_v3' or call 'Put()' was not found.");
    CHECK_EQ(ae_apiproxy_call(rq, "memcache", "Get", "x", 1, &reply, &len), AE_EINVAL);
    CHECK_STR_CONTAINS(ae_request_last_error(rq), "malformed memcache.Get() request");
    /* The request goes on: a good call still works. */
    ae_memcache_stats_t st;
    CHECK_OK(ae_memcache_stats(rq, &st));
    ae_testbed_request_destroy(rq);
    ae_testbed_destroy(tb);
}

CHECK_MAIN()
