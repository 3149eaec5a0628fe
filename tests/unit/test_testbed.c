/* test_testbed.c - an app's own tests can run its handlers and the memcache and datastore APIs
 * in process, with the server's semantics and a clock they move, through the public headers
 * only. */
#include <appengine/apiproxy.h>
#include <appengine/datastore.h>
#include <appengine/log.h>
#include <appengine/memcache.h>
#include <appengine/testbed.h>
#include <pthread.h>
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
    CHECK_EQ(ae_apiproxy_call(rq, "blobstore", "CreateUploadURL", "x", 1, &reply, &len),
             AE_EINVAL);
    CHECK_STR_EQ(ae_request_last_error(rq),
                 "The API package 'blobstore' or call 'CreateUploadURL()' was not found.");
    CHECK_EQ(ae_apiproxy_call(rq, "memcache", "Get", "x", 1, &reply, &len), AE_EINVAL);
    CHECK_STR_CONTAINS(ae_request_last_error(rq), "malformed memcache.Get() request");
    /* The request goes on: a good call still works. */
    ae_memcache_stats_t st;
    CHECK_OK(ae_memcache_stats(rq, &st));
    ae_testbed_request_destroy(rq);
    ae_testbed_destroy(tb);
}

/* ---------------------------------------------------------------- datastore */

/* Puts a greeting under `book` at time `date`. */
static int put_greeting(ae_request_t *rq, const ae_datastore_key_t *book, int64_t date,
                        const char *content, ae_datastore_key_t **key)
{
    *key = ae_datastore_key(rq, book, "Greeting", 0);
    ae_datastore_entity_t *e = ae_datastore_entity(rq, *key);
    ae_datastore_set(e, "date", ae_datastore_time(date));
    ae_datastore_set(e, "author", ae_datastore_string("ann@example.com"));
    ae_datastore_set_unindexed(e, "content", ae_datastore_text(content, strlen(content)));
    ae_datastore_add(e, "tags", ae_datastore_string("a"));
    ae_datastore_add(e, "tags", ae_datastore_string("b"));
    return ae_datastore_put(rq, e);
}

TEST(test_testbed_datastore_put_get_and_query_a_guestbook)
{
    ae_testbed_t *tb = ae_testbed_create();
    ae_request_t *rq = ae_testbed_request_create(tb, "GET", "/", NULL, 0);
    ae_datastore_key_t *book = ae_datastore_key_named(rq, NULL, "Guestbook", "default");
    ae_datastore_key_t *keys[3];
    for (int i = 0; i < 3; i++) {
        char text[32];
        snprintf(text, sizeof text, "hello %d", i);
        CHECK_OK(put_greeting(rq, book, 1000 + i, text, &keys[i]));
        /* The testbed hands out ids in sequence, as the platform's did. */
        CHECK(ae_datastore_key_is_complete(keys[i]));
        CHECK(ae_datastore_key_id(keys[i]) > 0);
        if (i)
            CHECK(ae_datastore_key_id(keys[i]) > ae_datastore_key_id(keys[i - 1]));
    }
    CHECK(ae_datastore_key_equal(ae_datastore_key_parent(keys[0]), book));

    ae_datastore_entity_t *got;
    CHECK_OK(ae_datastore_get(rq, keys[1], &got));
    CHECK_STR_EQ(ae_datastore_get_string(got, "content", NULL), "hello 1");
    CHECK_EQ(ae_datastore_get_property(got, "content")->type, AE_DATASTORE_TEXT);
    CHECK_EQ(ae_datastore_get_int(got, "date", 0), 1001);
    size_t n_tags;
    const ae_datastore_value_t *tags = ae_datastore_get_list(got, "tags", &n_tags);
    CHECK_EQ(n_tags, 2);
    CHECK_STR_EQ(ae_datastore_value_string(&tags[1], NULL), "b");
    CHECK(ae_datastore_key_equal(ae_datastore_entity_key(got), keys[1]));

    ae_datastore_key_t *missing = ae_datastore_key(rq, book, "Greeting", 999999);
    CHECK_EQ(ae_datastore_get(rq, missing, &got), AE_ENOTFOUND);
    CHECK(got == NULL);
    const ae_datastore_key_t *both[] = {keys[0], missing};
    ae_datastore_entity_t *outs[2];
    int statuses[2];
    CHECK_OK(ae_datastore_get_multi(rq, both, 2, outs, statuses));
    CHECK_EQ(statuses[0], AE_OK);
    CHECK_EQ(statuses[1], AE_ENOTFOUND);
    CHECK(outs[0] != NULL && outs[1] == NULL);

    /* Newest first, two to a page, with a cursor. */
    ae_datastore_query_t *q = ae_datastore_query(rq, "Greeting");
    ae_datastore_query_ancestor(q, book);
    ae_datastore_query_order(q, "date", AE_DATASTORE_DESC);
    ae_datastore_page_t page;
    CHECK_OK(ae_datastore_fetch(rq, q, 2, NULL, &page));
    CHECK_EQ(page.n, 2);
    CHECK_EQ(ae_datastore_get_int(page.entities[0], "date", 0), 1002);
    CHECK_EQ(ae_datastore_get_int(page.entities[1], "date", 0), 1001);
    CHECK(page.next_cursor != NULL && page.next_cursor[0]);
    CHECK_OK(ae_datastore_fetch(rq, q, 2, page.next_cursor, &page));
    CHECK_EQ(page.n, 1);
    CHECK_STR_EQ(ae_datastore_get_string(page.entities[0], "content", NULL), "hello 0");
    int64_t count;
    CHECK_OK(ae_datastore_count(rq, q, &count));
    CHECK_EQ(count, 3);

    /* A filter, and keys only. */
    q = ae_datastore_query(rq, "Greeting");
    ae_datastore_query_filter(q, "date", AE_DATASTORE_GE, ae_datastore_time(1001));
    ae_datastore_query_keys_only(q);
    CHECK_OK(ae_datastore_fetch(rq, q, -1, NULL, &page));
    CHECK_EQ(page.n, 2);
    CHECK_EQ(ae_datastore_property_count(page.entities[0]), 0);

    /* Delete. */
    CHECK_OK(ae_datastore_delete(rq, keys[2]));
    CHECK_EQ(ae_datastore_get(rq, keys[2], &got), AE_ENOTFOUND);
    ae_testbed_request_destroy(rq);

    /* Another request sees the same data. */
    rq = ae_testbed_request_create(tb, "GET", "/", NULL, 0);
    q = ae_datastore_query(rq, "Greeting");
    CHECK_OK(ae_datastore_count(rq, q, &count));
    CHECK_EQ(count, 2);
    ae_testbed_request_destroy(rq);
    ae_testbed_destroy(tb);
}

TEST(test_testbed_datastore_key_strings_round_trip)
{
    ae_testbed_t *tb = ae_testbed_create();
    ae_request_t *rq = ae_testbed_request_create(tb, "GET", "/", NULL, 0);
    ae_datastore_key_t *book = ae_datastore_key_named(rq, NULL, "Guestbook", "default_guestbook");
    ae_datastore_key_t *k = ae_datastore_key(rq, book, "Greeting", 42);
    CHECK_STR_EQ(ae_datastore_key_string(k), "Guestbook:default_guestbook/Greeting:42");
    /* The platform's encoding of app "testbed-test" and this path. */
    const char *s = ae_datastore_key_urlsafe(rq, book);
    CHECK_STR_EQ(s, "agx0ZXN0YmVkLXRlc3RyIAsSCUd1ZXN0Ym9vayIRZGVmYXVsdF9ndWVzdGJvb2sM");
    ae_datastore_key_t *back;
    CHECK_OK(ae_datastore_key_from_urlsafe(rq, ae_datastore_key_urlsafe(rq, k), &back));
    CHECK(ae_datastore_key_equal(back, k));
    CHECK_EQ(ae_datastore_key_id(back), 42);
    CHECK_STR_EQ(ae_datastore_key_kind(ae_datastore_key_parent(back)), "Guestbook");
    CHECK_EQ(ae_datastore_key_from_urlsafe(rq, "not a key", &back), AE_EINVAL);
    CHECK_STR_CONTAINS(ae_request_last_error(rq), "Invalid string key not a key");
    CHECK(ae_datastore_key_urlsafe(rq, ae_datastore_key(rq, NULL, "Greeting", 0)) == NULL);
    /* A namespace is carried by the key. */
    ae_datastore_set_namespace(rq, "ns1");
    ae_datastore_key_t *in_ns = ae_datastore_key(rq, NULL, "K", 1);
    CHECK_STR_EQ(ae_datastore_key_namespace(in_ns), "ns1");
    CHECK_OK(ae_datastore_key_from_urlsafe(rq, ae_datastore_key_urlsafe(rq, in_ns), &back));
    CHECK_STR_EQ(ae_datastore_key_namespace(back), "ns1");
    CHECK(!ae_datastore_key_equal(back, ae_datastore_key(rq, book, "K", 1)));
    ae_testbed_request_destroy(rq);
    ae_testbed_destroy(tb);
}

typedef struct {
    ae_datastore_key_t *counter;
    int runs;
} incr_t;

/* Reads the counter and writes it back one higher, in the transaction run_in_transaction set. */
static int increment(ae_request_t *rq, void *ctx)
{
    incr_t *in = ctx;
    in->runs++;
    ae_datastore_entity_t *e;
    int rc = ae_datastore_get(rq, in->counter, &e);
    if (rc == AE_ENOTFOUND)
        e = ae_datastore_entity(rq, in->counter);
    else if (rc != AE_OK)
        return rc;
    ae_datastore_set(e, "n", ae_datastore_int(ae_datastore_get_int(e, "n", 0) + 1));
    return ae_datastore_put(rq, e);
}

/* The same, with a write from another request between the read and the commit every time. */
typedef struct {
    incr_t in;
    ae_testbed_t *tb;
} meddle_t;

static int increment_with_interference(ae_request_t *rq, void *ctx)
{
    meddle_t *m = ctx;
    int rc = increment(rq, &m->in);
    ae_request_t *other = ae_testbed_request_create(m->tb, "GET", "/", NULL, 0);
    ae_datastore_entity_t *e = ae_datastore_entity(other, m->in.counter);
    ae_datastore_set(e, "n", ae_datastore_int(100));
    int prc = ae_datastore_put(other, e);
    ae_testbed_request_destroy(other);
    return rc != AE_OK ? rc : prc;
}

TEST(test_testbed_datastore_transactions_commit_conflict_and_roll_back)
{
    ae_testbed_t *tb = ae_testbed_create();
    ae_request_t *rq = ae_testbed_request_create(tb, "GET", "/", NULL, 0);
    incr_t in = {ae_datastore_key_named(rq, NULL, "Counter", "c"), 0};
    for (int i = 0; i < 3; i++)
        CHECK_OK(ae_datastore_run_in_transaction(rq, NULL, increment, &in));
    CHECK_EQ(in.runs, 3);
    ae_datastore_entity_t *e;
    CHECK_OK(ae_datastore_get(rq, in.counter, &e));
    CHECK_EQ(ae_datastore_get_int(e, "n", 0), 3);
    CHECK(!ae_datastore_in_transaction(rq));

    /* Someone else writes the group between every read and commit: 4 attempts, then the
     * platform's message. */
    meddle_t m = {{in.counter, 0}, tb};
    CHECK_EQ(ae_datastore_run_in_transaction(rq, NULL, increment_with_interference, &m),
             AE_ECONTENTION);
    CHECK_EQ(m.in.runs, 4);
    CHECK_STR_EQ(ae_request_last_error(rq),
                 "The transaction could not be committed. Please try again.");
    CHECK(!ae_datastore_in_transaction(rq));

    /* By hand: a rollback drops the writes; nested begins are refused. */
    CHECK_OK(ae_datastore_begin(rq, NULL));
    CHECK_EQ(ae_datastore_begin(rq, NULL), AE_EINVAL);
    CHECK_STR_EQ(ae_request_last_error(rq), "Nested transactions are not supported.");
    e = ae_datastore_entity(rq, in.counter);
    ae_datastore_set(e, "n", ae_datastore_int(-1));
    CHECK_OK(ae_datastore_put(rq, e));
    /* Only ancestor queries run in a transaction. */
    ae_datastore_page_t page;
    CHECK_EQ(ae_datastore_fetch(rq, ae_datastore_query(rq, "Counter"), 10, NULL, &page),
             AE_EINVAL);
    CHECK_STR_EQ(ae_request_last_error(rq),
                 "Only ancestor queries are allowed inside transactions.");
    CHECK_OK(ae_datastore_rollback(rq));
    CHECK_OK(ae_datastore_get(rq, in.counter, &e));
    CHECK_EQ(ae_datastore_get_int(e, "n", 0), 100);

    /* A put in a transaction is written at commit, after its call is long over; an incomplete
     * key gets its id at the put. */
    CHECK_OK(ae_datastore_begin(rq, NULL));
    ae_datastore_key_t *child = ae_datastore_key(rq, in.counter, "Child", 0);
    e = ae_datastore_entity(rq, child);
    ae_datastore_set(e, "s", ae_datastore_string("written at commit"));
    CHECK_OK(ae_datastore_put(rq, e));
    CHECK(ae_datastore_key_id(child) > 0);
    CHECK_OK(ae_datastore_commit(rq));
    CHECK_OK(ae_datastore_get(rq, child, &e));
    CHECK_STR_EQ(ae_datastore_get_string(e, "s", NULL), "written at commit");
    ae_testbed_request_destroy(rq);
    ae_testbed_destroy(tb);
}

/* A BeginTransaction or Commit body as the wire has it (rpc_datastore.h): little-endian. */
static void put_le(unsigned char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

TEST(test_testbed_datastore_transactions_belong_to_their_request)
{
    ae_testbed_t *tb = ae_testbed_create();
    ae_request_t *a = ae_testbed_request_create(tb, "GET", "/", NULL, 0);
    ae_request_t *b = ae_testbed_request_create(tb, "GET", "/", NULL, 0);
    unsigned char begin[8] = {0}, commit[8];
    const void *reply;
    size_t len;
    CHECK_OK(ae_apiproxy_call(a, "datastore_v3", "BeginTransaction", begin, 8, &reply, &len));
    CHECK_EQ(len, 8);
    uint64_t handle = get_le64(reply);
    put_le(commit, handle, 8);
    char want[64];
    snprintf(want, sizeof want, "Transaction(%llu) not found", (unsigned long long)handle);
    /* Another request cannot use it... */
    CHECK_EQ(ae_apiproxy_call(b, "datastore_v3", "Commit", commit, 8, &reply, &len), AE_EINVAL);
    CHECK_STR_EQ(ae_request_last_error(b), want);
    /* ...and when its own request ends, it is rolled back and gone. */
    ae_testbed_request_destroy(a);
    a = ae_testbed_request_create(tb, "GET", "/", NULL, 0);
    CHECK_EQ(ae_apiproxy_call(a, "datastore_v3", "Rollback", commit, 8, &reply, &len),
             AE_EINVAL);
    CHECK_STR_EQ(ae_request_last_error(a), want);
    ae_testbed_request_destroy(a);
    ae_testbed_request_destroy(b);
    ae_testbed_destroy(tb);
}

TEST(test_testbed_datastore_refuses_a_call_over_one_mib)
{
    ae_testbed_t *tb = ae_testbed_create();
    ae_request_t *rq = ae_testbed_request_create(tb, "GET", "/", NULL, 0);
    size_t n = 1100 * 1000;
    char *big = calloc(1, n);
    ae_datastore_entity_t *e = ae_datastore_entity(rq, ae_datastore_key(rq, NULL, "Blob", 1));
    ae_datastore_set_unindexed(e, "data", ae_datastore_blob(big, n));
    CHECK_EQ(ae_datastore_put(rq, e), AE_ETOOLARGE);
    CHECK_STR_EQ(ae_request_last_error(rq),
                 "The request to API call datastore_v3.Put() was too large.");
    /* The service says the same to a body that bypasses the SDK's check. */
    const void *reply;
    size_t len;
    CHECK_EQ(ae_apiproxy_call(rq, "datastore_v3", "Delete", big, 1024 * 1024 + 1, &reply, &len),
             AE_ETOOLARGE);
    CHECK_STR_EQ(ae_request_last_error(rq),
                 "The request to API call datastore_v3.Delete() was too large.");
    CHECK_EQ(ae_apiproxy_call(rq, "datastore_v3", "Get", "x", 1, &reply, &len), AE_EINVAL);
    CHECK_STR_CONTAINS(ae_request_last_error(rq), "malformed datastore_v3.Get() request");
    free(big);
    ae_testbed_request_destroy(rq);
    ae_testbed_destroy(tb);
}

TEST(test_testbed_datastore_options_choose_eventual_consistency)
{
    ae_testbed_options_t o = {.datastore_consistency = AE_TESTBED_EVENTUAL_TIME};
    ae_testbed_t *tb = ae_testbed_create_with(&o);
    CHECK(tb != NULL);
    ae_request_t *rq = ae_testbed_request_create(tb, "GET", "/", NULL, 0);
    ae_datastore_key_t *book = ae_datastore_key_named(rq, NULL, "Guestbook", "g");
    ae_datastore_key_t *k;
    CHECK_OK(put_greeting(rq, book, 1, "x", &k));
    int64_t count;
    /* Not yet applied: a global query does not see it; an ancestor query does. */
    CHECK_OK(ae_datastore_count(rq, ae_datastore_query(rq, "Greeting"), &count));
    CHECK_EQ(count, 0);
    ae_datastore_query_t *q = ae_datastore_query(rq, "Greeting");
    ae_datastore_query_ancestor(q, book);
    CHECK_OK(ae_datastore_count(rq, q, &count));
    CHECK_EQ(count, 1);
    /* Once the clock passes the longest delay, it is applied. */
    CHECK_OK(put_greeting(rq, ae_datastore_key_named(rq, NULL, "Guestbook", "h"), 2, "y", &k));
    ae_testbed_advance_clock(tb, 241);
    CHECK_OK(ae_datastore_count(rq, ae_datastore_query(rq, "Greeting"), &count));
    CHECK_EQ(count, 2);
    ae_testbed_request_destroy(rq);
    ae_testbed_destroy(tb);
}

/* Eight threads, each its own request, increment one counter in transactions. */
typedef struct {
    ae_testbed_t *tb;
    int ok, contention;
} incr_thread_t;

static void *increment_thread(void *arg)
{
    incr_thread_t *it = arg;
    for (int i = 0; i < 10; i++) {
        ae_request_t *rq = ae_testbed_request_create(it->tb, "POST", "/", NULL, 0);
        incr_t in = {ae_datastore_key_named(rq, NULL, "Counter", "shared"), 0};
        int rc = ae_datastore_run_in_transaction(rq, NULL, increment, &in);
        if (rc == AE_OK)
            it->ok++;
        else if (rc == AE_ECONTENTION)
            it->contention++;
        ae_testbed_request_destroy(rq);
    }
    return NULL;
}

TEST(test_testbed_datastore_concurrent_transactions_lose_no_update)
{
    ae_testbed_t *tb = ae_testbed_create();
    incr_thread_t its[8];
    pthread_t threads[8];
    for (int i = 0; i < 8; i++) {
        its[i] = (incr_thread_t){tb, 0, 0};
        CHECK_OK(pthread_create(&threads[i], NULL, increment_thread, &its[i]));
    }
    int ok = 0, contention = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(threads[i], NULL);
        ok += its[i].ok;
        contention += its[i].contention;
    }
    CHECK_EQ(ok + contention, 80);
    CHECK(ok > 0);
    ae_request_t *rq = ae_testbed_request_create(tb, "GET", "/", NULL, 0);
    ae_datastore_entity_t *e;
    CHECK_OK(ae_datastore_get(rq, ae_datastore_key_named(rq, NULL, "Counter", "shared"), &e));
    CHECK_EQ(ae_datastore_get_int(e, "n", 0), ok);
    ae_testbed_request_destroy(rq);
    ae_testbed_destroy(tb);
}

CHECK_MAIN()
