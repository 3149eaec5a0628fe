/* test_testbed.c - an app's own tests can run its handlers and the memcache and datastore APIs
 * in process, with the server's semantics and a clock they move, through the public headers
 * only. */
#include <appengine/apiproxy.h>
#include <appengine/datastore.h>
#include <appengine/log.h>
#include <appengine/memcache.h>
#include <appengine/testbed.h>
#include <appengine/urlfetch.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

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

/* ---------------------------------------------------------------- datastore: queries */

/* Puts Item:<name> with cat (a string), x (an int) and tags (a list of strings). */
static int put_item(ae_request_t *rq, const char *name, const char *cat, int64_t x,
                    const char *tag1, const char *tag2)
{
    ae_datastore_key_t *k = ae_datastore_key_named(rq, NULL, "Item", name);
    ae_datastore_entity_t *e = ae_datastore_entity(rq, k);
    ae_datastore_set(e, "cat", ae_datastore_string(cat));
    ae_datastore_set(e, "x", ae_datastore_int(x));
    if (tag1)
        ae_datastore_add(e, "tags", ae_datastore_string(tag1));
    if (tag2)
        ae_datastore_add(e, "tags", ae_datastore_string(tag2));
    return ae_datastore_put(rq, e);
}

/* Five items: a red 1, b blue 2, c green 3, d blue 4, e red 5. */
static int put_items(ae_request_t *rq)
{
    int rc = put_item(rq, "a", "red", 1, "t1", "t2");
    if (rc == AE_OK)
        rc = put_item(rq, "b", "blue", 2, "t2", NULL);
    if (rc == AE_OK)
        rc = put_item(rq, "c", "green", 3, NULL, NULL);
    if (rc == AE_OK)
        rc = put_item(rq, "d", "blue", 4, "t1", "t3");
    if (rc == AE_OK)
        rc = put_item(rq, "e", "red", 5, NULL, NULL);
    return rc;
}

/* The names of a page's keys, space-separated, in a static buffer (valid until the next call). */
static const char *page_names(const ae_datastore_page_t *page)
{
    static char out[256];
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < page->n && len < sizeof out - 1; i++) {
        const ae_datastore_key_t *k = ae_datastore_entity_key(page->entities[i]);
        const char *name = k ? ae_datastore_key_name(k) : NULL;
        len += (size_t)snprintf(out + len, sizeof out - len, "%s%s", i ? " " : "",
                                name ? name : "?");
    }
    return out;
}

TEST(test_testbed_datastore_projection_returns_only_the_projected_values_and_distinct_dedups)
{
    ae_testbed_t *tb = ae_testbed_create();
    ae_request_t *rq = ae_testbed_request_create(tb, "GET", "/", NULL, 0);
    CHECK_OK(put_items(rq));
    ae_datastore_page_t page;

    /* One property, ordered by it: results carry their key and only x. */
    ae_datastore_query_t *q = ae_datastore_query(rq, "Item");
    ae_datastore_query_project(q, "x");
    ae_datastore_query_order(q, "x", AE_DATASTORE_DESC);
    CHECK_OK(ae_datastore_fetch(rq, q, 2, NULL, &page));
    CHECK_STR_EQ(page_names(&page), "e d");
    CHECK_EQ(ae_datastore_property_count(page.entities[0]), 1);
    CHECK_EQ(ae_datastore_get_int(page.entities[0], "x", 0), 5);
    CHECK(ae_datastore_get_property(page.entities[0], "cat") == NULL);
    CHECK(ae_datastore_get_property(page.entities[0], "tags") == NULL);

    /* Two properties, with an inequality filter on one of them (its order implied). */
    q = ae_datastore_query(rq, "Item");
    ae_datastore_query_project(q, "cat");
    ae_datastore_query_project(q, "x");
    ae_datastore_query_filter(q, "x", AE_DATASTORE_GE, ae_datastore_int(3));
    CHECK_OK(ae_datastore_fetch(rq, q, -1, NULL, &page));
    CHECK_STR_EQ(page_names(&page), "c d e");
    CHECK_EQ(ae_datastore_property_count(page.entities[1]), 2);
    CHECK_STR_EQ(ae_datastore_get_string(page.entities[1], "cat", NULL), "blue");
    CHECK_EQ(ae_datastore_get_int(page.entities[1], "x", 0), 4);
    /* A property with an equality filter cannot be projected, as on the platform. */
    q = ae_datastore_query(rq, "Item");
    ae_datastore_query_project(q, "cat");
    ae_datastore_query_filter(q, "cat", AE_DATASTORE_EQ, ae_datastore_string("blue"));
    CHECK_EQ(ae_datastore_fetch(rq, q, -1, NULL, &page), AE_EINVAL);
    CHECK_STR_CONTAINS(ae_request_last_error(rq), "projection on a property with an equality");
    /* Nor can a projection be keys-only. */
    q = ae_datastore_query(rq, "Item");
    ae_datastore_query_project(q, "cat");
    ae_datastore_query_keys_only(q);
    CHECK_EQ(ae_datastore_fetch(rq, q, -1, NULL, &page), AE_EINVAL);

    /* Distinct: one result per category, in the category's order. */
    q = ae_datastore_query(rq, "Item");
    ae_datastore_query_project(q, "cat");
    ae_datastore_query_distinct(q);
    CHECK_OK(ae_datastore_fetch(rq, q, -1, NULL, &page));
    CHECK_EQ(page.n, 3);
    CHECK_STR_EQ(ae_datastore_get_string(page.entities[0], "cat", NULL), "blue");
    CHECK_STR_EQ(ae_datastore_get_string(page.entities[1], "cat", NULL), "green");
    CHECK_STR_EQ(ae_datastore_get_string(page.entities[2], "cat", NULL), "red");
    int64_t count;
    CHECK_OK(ae_datastore_count(rq, q, &count));
    CHECK_EQ(count, 3);

    /* A list property projects to one result per value; distinct makes each value once. */
    q = ae_datastore_query(rq, "Item");
    ae_datastore_query_project(q, "tags");
    CHECK_OK(ae_datastore_fetch(rq, q, -1, NULL, &page));
    CHECK_EQ(page.n, 5); /* a:t1 a:t2 b:t2 d:t1 d:t3 */
    q = ae_datastore_query(rq, "Item");
    ae_datastore_query_project(q, "tags");
    ae_datastore_query_distinct(q);
    CHECK_OK(ae_datastore_fetch(rq, q, -1, NULL, &page));
    CHECK_EQ(page.n, 3);
    CHECK_STR_EQ(ae_datastore_get_string(page.entities[0], "tags", NULL), "t1");
    CHECK_STR_EQ(ae_datastore_get_string(page.entities[2], "tags", NULL), "t3");

    /* Projection pages with a cursor like any query. */
    q = ae_datastore_query(rq, "Item");
    ae_datastore_query_project(q, "x");
    ae_datastore_query_order(q, "x", AE_DATASTORE_ASC);
    CHECK_OK(ae_datastore_fetch(rq, q, 3, NULL, &page));
    CHECK_STR_EQ(page_names(&page), "a b c");
    CHECK_OK(ae_datastore_fetch(rq, q, 3, page.next_cursor, &page));
    CHECK_STR_EQ(page_names(&page), "d e");
    ae_testbed_request_destroy(rq);
    ae_testbed_destroy(tb);
}

TEST(test_testbed_datastore_in_and_not_equal_merge_their_subqueries_in_the_query_order)
{
    ae_testbed_t *tb = ae_testbed_create();
    ae_request_t *rq = ae_testbed_request_create(tb, "GET", "/", NULL, 0);
    CHECK_OK(put_items(rq));
    ae_datastore_page_t page;
    ae_datastore_value_t xs[] = {ae_datastore_int(4), ae_datastore_int(1), ae_datastore_int(3)};

    /* IN with no order: by key. */
    ae_datastore_query_t *q = ae_datastore_query(rq, "Item");
    ae_datastore_query_filter_in(q, "x", xs, 3);
    CHECK_OK(ae_datastore_fetch(rq, q, -1, NULL, &page));
    CHECK_STR_EQ(page_names(&page), "a c d");
    /* IN ordered by its own property, descending. */
    ae_datastore_query_order(q, "x", AE_DATASTORE_DESC);
    CHECK_OK(ae_datastore_fetch(rq, q, -1, NULL, &page));
    CHECK_STR_EQ(page_names(&page), "d c a");
    /* Merged pages: a limit cuts the merged order, the cursor carries on from there. */
    CHECK_OK(ae_datastore_fetch(rq, q, 2, NULL, &page));
    CHECK_STR_EQ(page_names(&page), "d c");
    CHECK_OK(ae_datastore_fetch(rq, q, 2, page.next_cursor, &page));
    CHECK_STR_EQ(page_names(&page), "a");

    /* IN on one property, ordered by another. */
    ae_datastore_value_t cats[] = {ae_datastore_string("red"), ae_datastore_string("green")};
    q = ae_datastore_query(rq, "Item");
    ae_datastore_query_filter_in(q, "cat", cats, 2);
    ae_datastore_query_order(q, "x", AE_DATASTORE_DESC);
    CHECK_OK(ae_datastore_fetch(rq, q, -1, NULL, &page));
    CHECK_STR_EQ(page_names(&page), "e c a");
    int64_t count;
    CHECK_OK(ae_datastore_count(rq, q, &count));
    CHECK_EQ(count, 3);

    /* != is < and > merged, in the property's order (implied when none is given). */
    q = ae_datastore_query(rq, "Item");
    ae_datastore_query_filter(q, "x", AE_DATASTORE_NE, ae_datastore_int(3));
    CHECK_OK(ae_datastore_fetch(rq, q, -1, NULL, &page));
    CHECK_STR_EQ(page_names(&page), "a b d e");
    ae_datastore_query_order(q, "x", AE_DATASTORE_DESC);
    CHECK_OK(ae_datastore_fetch(rq, q, -1, NULL, &page));
    CHECK_STR_EQ(page_names(&page), "e d b a");

    /* A list matches IN once, however many of its values match. */
    ae_datastore_value_t tags[] = {ae_datastore_string("t1"), ae_datastore_string("t2")};
    q = ae_datastore_query(rq, "Item");
    ae_datastore_query_filter_in(q, "tags", tags, 2);
    CHECK_OK(ae_datastore_fetch(rq, q, -1, NULL, &page));
    CHECK_STR_EQ(page_names(&page), "a b d");

    /* != must be the first sort order, in the platform's words. */
    q = ae_datastore_query(rq, "Item");
    ae_datastore_query_filter(q, "x", AE_DATASTORE_NE, ae_datastore_int(3));
    ae_datastore_query_order(q, "cat", AE_DATASTORE_ASC);
    CHECK_EQ(ae_datastore_fetch(rq, q, -1, NULL, &page), AE_EINVAL);
    CHECK(ae_request_last_error(rq) != NULL && ae_request_last_error(rq)[0]);
    ae_testbed_request_destroy(rq);
    ae_testbed_destroy(tb);
}

TEST(test_testbed_datastore_end_cursor_stops_a_query_where_an_earlier_page_ended)
{
    ae_testbed_t *tb = ae_testbed_create();
    ae_request_t *rq = ae_testbed_request_create(tb, "GET", "/", NULL, 0);
    CHECK_OK(put_items(rq));
    ae_datastore_page_t first, four, page;
    ae_datastore_query_t *q = ae_datastore_query(rq, "Item");
    ae_datastore_query_order(q, "x", AE_DATASTORE_ASC);
    CHECK_OK(ae_datastore_fetch(rq, q, 2, NULL, &first));
    CHECK_STR_EQ(page_names(&first), "a b");
    CHECK_OK(ae_datastore_fetch(rq, q, 4, NULL, &four));
    CHECK_STR_EQ(page_names(&four), "a b c d");

    /* Up to the first page's end, with no limit. */
    ae_datastore_query_t *upto = ae_datastore_query(rq, "Item");
    ae_datastore_query_order(upto, "x", AE_DATASTORE_ASC);
    ae_datastore_query_end_cursor(upto, first.next_cursor);
    CHECK_OK(ae_datastore_fetch(rq, upto, -1, NULL, &page));
    CHECK_STR_EQ(page_names(&page), "a b");
    CHECK(!page.more);
    int64_t count;
    CHECK_OK(ae_datastore_count(rq, upto, &count));
    CHECK_EQ(count, 2);

    /* Between two cursors. */
    ae_datastore_query_t *mid = ae_datastore_query(rq, "Item");
    ae_datastore_query_order(mid, "x", AE_DATASTORE_ASC);
    ae_datastore_query_end_cursor(mid, four.next_cursor);
    CHECK_OK(ae_datastore_fetch(rq, mid, -1, first.next_cursor, &page));
    CHECK_STR_EQ(page_names(&page), "c d");
    /* A limit under the end cursor still wins. */
    CHECK_OK(ae_datastore_fetch(rq, mid, 1, first.next_cursor, &page));
    CHECK_STR_EQ(page_names(&page), "c");

    /* An end cursor from another query (another order) is refused. */
    ae_datastore_query_t *other = ae_datastore_query(rq, "Item");
    ae_datastore_query_order(other, "x", AE_DATASTORE_DESC);
    ae_datastore_query_end_cursor(other, first.next_cursor);
    CHECK_EQ(ae_datastore_fetch(rq, other, -1, NULL, &page), AE_EINVAL);
    CHECK_STR_CONTAINS(ae_request_last_error(rq), "Cursor does not match query");

    /* An end cursor survives deleting the entity it points at. */
    CHECK_OK(ae_datastore_delete(rq, ae_datastore_key_named(rq, NULL, "Item", "b")));
    CHECK_OK(ae_datastore_fetch(rq, upto, -1, NULL, &page));
    CHECK_STR_EQ(page_names(&page), "a");
    ae_testbed_request_destroy(rq);
    ae_testbed_destroy(tb);
}

TEST(test_testbed_datastore_count_and_fetch_honour_the_offset)
{
    ae_testbed_t *tb = ae_testbed_create();
    ae_request_t *rq = ae_testbed_request_create(tb, "GET", "/", NULL, 0);
    CHECK_OK(put_items(rq));
    ae_datastore_query_t *q = ae_datastore_query(rq, "Item");
    ae_datastore_query_order(q, "x", AE_DATASTORE_ASC);
    int64_t count;
    CHECK_OK(ae_datastore_count(rq, q, &count));
    CHECK_EQ(count, 5);
    ae_datastore_query_offset(q, 2);
    CHECK_OK(ae_datastore_count(rq, q, &count));
    CHECK_EQ(count, 3);
    ae_datastore_page_t page;
    CHECK_OK(ae_datastore_fetch(rq, q, 2, NULL, &page));
    CHECK_STR_EQ(page_names(&page), "c d");
    CHECK_EQ(page.skipped, 2);
    CHECK(page.more);
    /* As on the platform, the offset counts from the start cursor: the next page without
     * it is the rest, with it skips again. */
    const char *after_d = page.next_cursor;
    CHECK_OK(ae_datastore_fetch(rq, q, 2, after_d, &page));
    CHECK_EQ(page.n, 0);
    CHECK_EQ(page.skipped, 1);
    ae_datastore_query_offset(q, 0);
    CHECK_OK(ae_datastore_fetch(rq, q, 2, after_d, &page));
    CHECK_STR_EQ(page_names(&page), "e");
    /* An offset past the end: nothing to count, everything skipped. */
    ae_datastore_query_offset(q, 9);
    CHECK_OK(ae_datastore_count(rq, q, &count));
    CHECK_EQ(count, 0);
    CHECK_OK(ae_datastore_fetch(rq, q, -1, NULL, &page));
    CHECK_EQ(page.n, 0);
    CHECK_EQ(page.skipped, 5);
    /* With a filter, and keys only. */
    q = ae_datastore_query(rq, "Item");
    ae_datastore_query_filter(q, "cat", AE_DATASTORE_EQ, ae_datastore_string("red"));
    ae_datastore_query_keys_only(q);
    ae_datastore_query_offset(q, 1);
    CHECK_OK(ae_datastore_count(rq, q, &count));
    CHECK_EQ(count, 1);
    /* A negative offset is the app's mistake. */
    ae_datastore_query_offset(q, -1);
    CHECK_EQ(ae_datastore_count(rq, q, &count), AE_EINVAL);
    ae_testbed_request_destroy(rq);
    ae_testbed_destroy(tb);
}

/* ---------------------------------------------------------------- datastore: ids */

TEST(test_testbed_datastore_allocated_ids_are_never_handed_out_by_later_puts)
{
    ae_testbed_t *tb = ae_testbed_create(); /* sequential ids */
    ae_request_t *rq = ae_testbed_request_create(tb, "GET", "/", NULL, 0);
    ae_datastore_key_t *first = ae_datastore_key(rq, NULL, "Thing", 0);
    CHECK_OK(ae_datastore_put(rq, ae_datastore_entity(rq, first)));
    int64_t start, end;
    CHECK_OK(ae_datastore_allocate_ids(rq, ae_datastore_key(rq, NULL, "Thing", 0), 10, &start,
                                       &end));
    CHECK_EQ(end - start + 1, 10);
    CHECK(start > ae_datastore_key_id(first));
    /* A second range does not overlap the first. */
    int64_t start2, end2;
    CHECK_OK(ae_datastore_allocate_ids(rq, ae_datastore_key(rq, NULL, "Thing", 0), 5, &start2,
                                       &end2));
    CHECK_EQ(end2 - start2 + 1, 5);
    CHECK(start2 > end);
    /* Twenty puts, of this kind and another, in another request: none in either range. */
    ae_request_t *other = ae_testbed_request_create(tb, "GET", "/", NULL, 0);
    for (int i = 0; i < 20; i++) {
        ae_datastore_key_t *k = ae_datastore_key(other, NULL, i % 2 ? "Thing" : "Other", 0);
        CHECK_OK(ae_datastore_put(other, ae_datastore_entity(other, k)));
        int64_t id = ae_datastore_key_id(k);
        CHECK(id > 0);
        CHECK(id < start || id > end);
        CHECK(id < start2 || id > end2);
    }
    ae_testbed_request_destroy(other);
    /* An allocated id can be used explicitly. */
    ae_datastore_key_t *mine = ae_datastore_key(rq, NULL, "Thing", start + 3);
    ae_datastore_entity_t *e = ae_datastore_entity(rq, mine);
    ae_datastore_set(e, "n", ae_datastore_int(7));
    CHECK_OK(ae_datastore_put(rq, e));
    CHECK_OK(ae_datastore_get(rq, ae_datastore_key(rq, NULL, "Thing", start + 3), &e));
    CHECK_EQ(ae_datastore_get_int(e, "n", 0), 7);
    /* Under a parent too. */
    ae_datastore_key_t *parent = ae_datastore_key_named(rq, NULL, "Box", "b");
    CHECK_OK(ae_datastore_allocate_ids(rq, ae_datastore_key(rq, parent, "Thing", 0), 3, &start,
                                       &end));
    CHECK_EQ(end - start + 1, 3);
    ae_datastore_key_t *child = ae_datastore_key(rq, parent, "Thing", 0);
    CHECK_OK(ae_datastore_put(rq, ae_datastore_entity(rq, child)));
    CHECK(ae_datastore_key_id(child) < start || ae_datastore_key_id(child) > end);
    ae_testbed_request_destroy(rq);
    ae_testbed_destroy(tb);
}

/* ---------------------------------------------------------------- datastore: values */

TEST(test_testbed_datastore_every_value_type_round_trips_through_put_and_get)
{
    ae_testbed_t *tb = ae_testbed_create();
    ae_request_t *rq = ae_testbed_request_create(tb, "GET", "/", NULL, 0);
    ae_datastore_key_t *k = ae_datastore_key_named(rq, NULL, "All", "types");
    ae_datastore_entity_t *e = ae_datastore_entity(rq, k);
    ae_datastore_set(e, "null", ae_datastore_null());
    ae_datastore_set(e, "t", ae_datastore_bool(true));
    ae_datastore_set(e, "f", ae_datastore_bool(false));
    ae_datastore_set(e, "imin", ae_datastore_int(INT64_MIN));
    ae_datastore_set(e, "imax", ae_datastore_int(INT64_MAX));
    ae_datastore_set(e, "d", ae_datastore_double(-0.125));
    ae_datastore_set(e, "dbig", ae_datastore_double(1e300));
    ae_datastore_set(e, "when", ae_datastore_time(1234567890123456LL));
    ae_datastore_set(e, "before", ae_datastore_time(-1000000));
    ae_datastore_set(e, "s", ae_datastore_string("h\xc3\xa9llo \xe2\x9c\x93"));
    ae_datastore_set(e, "empty", ae_datastore_string(""));
    ae_datastore_set(e, "sb", ae_datastore_bytes("a\0b\xff", 4));
    const char text[] = "a long text\nwith lines";
    ae_datastore_set_unindexed(e, "text", ae_datastore_text(text, sizeof text - 1));
    ae_datastore_set_unindexed(e, "blob", ae_datastore_blob("\0\1\2\0", 4));
    ae_datastore_set_unindexed(e, "us", ae_datastore_string("not indexed"));
    ae_datastore_set(e, "geo", ae_datastore_geopt(52.5, -13.25));
    ae_datastore_set(e, "user", ae_datastore_user("ann@example.com", NULL, "1234"));
    ae_datastore_set(e, "user2", ae_datastore_user("bob@corp.example", "corp.example", NULL));
    ae_datastore_key_t *book = ae_datastore_key_named(rq, NULL, "Guestbook", "g");
    ae_datastore_key_t *ref = ae_datastore_key(rq, book, "Greeting", 42);
    ae_datastore_set(e, "ref", ae_datastore_key_value(ref));
    ae_datastore_set_namespace(rq, "other");
    ae_datastore_key_t *ref_ns = ae_datastore_key_named(rq, NULL, "Elsewhere", "x");
    ae_datastore_set_namespace(rq, "");
    ae_datastore_set(e, "ref_ns", ae_datastore_key_value(ref_ns));
    /* An embedded entity with a key, a list and an embedded entity of its own. */
    ae_datastore_entity_t *inner = ae_datastore_entity(rq, NULL);
    ae_datastore_set(inner, "depth", ae_datastore_int(2));
    ae_datastore_entity_t *emb =
        ae_datastore_entity(rq, ae_datastore_key_named(rq, NULL, "Addr", "home"));
    ae_datastore_set(emb, "city", ae_datastore_string("Berlin"));
    ae_datastore_add(emb, "zips", ae_datastore_int(10115));
    ae_datastore_add(emb, "zips", ae_datastore_int(10117));
    ae_datastore_set(emb, "inner", ae_datastore_embedded(inner));
    ae_datastore_set(e, "addr", ae_datastore_embedded(emb));
    /* Lists: mixed types, one value, and an empty one (not stored). */
    ae_datastore_value_t mixed[] = {ae_datastore_int(1), ae_datastore_string("two"),
                                    ae_datastore_null(), ae_datastore_double(4.5),
                                    ae_datastore_key_value(book)};
    ae_datastore_set_list(e, "mixed", mixed, 5, true);
    ae_datastore_value_t one[] = {ae_datastore_string("only")};
    ae_datastore_set_list(e, "one", one, 1, true);
    ae_datastore_set_list(e, "none", NULL, 0, true);
    ae_datastore_value_t embs[] = {ae_datastore_embedded(inner), ae_datastore_embedded(inner)};
    ae_datastore_set_list(e, "embs", embs, 2, false);
    CHECK_OK(ae_datastore_put(rq, e));

    /* Read back in another request, so nothing comes from the first one's memory. */
    ae_request_t *rq2 = ae_testbed_request_create(tb, "GET", "/", NULL, 0);
    ae_datastore_entity_t *got;
    CHECK_OK(ae_datastore_get(rq2, ae_datastore_key_named(rq2, NULL, "All", "types"), &got));
    const ae_datastore_value_t *v;
    CHECK((v = ae_datastore_get_property(got, "null")) != NULL);
    CHECK_EQ(v->type, AE_DATASTORE_NULL);
    CHECK((v = ae_datastore_get_property(got, "t")) != NULL);
    CHECK_EQ(v->type, AE_DATASTORE_BOOL);
    CHECK(ae_datastore_value_bool(v));
    CHECK((v = ae_datastore_get_property(got, "f")) != NULL);
    CHECK_EQ(v->type, AE_DATASTORE_BOOL);
    CHECK(!ae_datastore_value_bool(v));
    CHECK_EQ(ae_datastore_get_property(got, "imin")->type, AE_DATASTORE_INT);
    CHECK(ae_datastore_get_int(got, "imin", 0) == INT64_MIN);
    CHECK(ae_datastore_get_int(got, "imax", 0) == INT64_MAX);
    CHECK_EQ(ae_datastore_get_property(got, "d")->type, AE_DATASTORE_DOUBLE);
    CHECK(ae_datastore_value_double(ae_datastore_get_property(got, "d")) == -0.125);
    CHECK(ae_datastore_value_double(ae_datastore_get_property(got, "dbig")) == 1e300);
    CHECK_EQ(ae_datastore_get_property(got, "when")->type, AE_DATASTORE_TIME);
    CHECK_EQ(ae_datastore_get_int(got, "when", 0), 1234567890123456LL);
    CHECK_EQ(ae_datastore_get_int(got, "before", 0), -1000000);
    CHECK_EQ(ae_datastore_get_property(got, "s")->type, AE_DATASTORE_STRING);
    CHECK_STR_EQ(ae_datastore_get_string(got, "s", NULL), "h\xc3\xa9llo \xe2\x9c\x93");
    CHECK_EQ(ae_datastore_get_property(got, "empty")->type, AE_DATASTORE_STRING);
    CHECK_STR_EQ(ae_datastore_get_string(got, "empty", NULL), "");
    size_t len;
    v = ae_datastore_get_property(got, "sb");
    CHECK_EQ(v->type, AE_DATASTORE_BYTES);
    CHECK(ae_datastore_value_string(v, &len) != NULL);
    CHECK_EQ(len, 4);
    CHECK(memcmp(ae_datastore_value_string(v, NULL), "a\0b\xff", 4) == 0);
    v = ae_datastore_get_property(got, "text");
    CHECK_EQ(v->type, AE_DATASTORE_TEXT);
    CHECK_STR_EQ(ae_datastore_value_string(v, &len), text);
    CHECK_EQ(len, sizeof text - 1);
    v = ae_datastore_get_property(got, "blob");
    CHECK_EQ(v->type, AE_DATASTORE_BLOB);
    ae_datastore_value_string(v, &len);
    CHECK_EQ(len, 4);
    CHECK(memcmp(ae_datastore_value_string(v, NULL), "\0\1\2\0", 4) == 0);
    v = ae_datastore_get_property(got, "geo");
    CHECK_EQ(v->type, AE_DATASTORE_GEOPT);
    CHECK(v->u.geo.lat == 52.5 && v->u.geo.lng == -13.25);
    v = ae_datastore_get_property(got, "user");
    CHECK_EQ(v->type, AE_DATASTORE_USER);
    CHECK_STR_EQ(v->u.user.email, "ann@example.com");
    CHECK_STR_EQ(v->u.user.auth_domain, "gmail.com");
    CHECK_STR_EQ(v->u.user.user_id, "1234");
    v = ae_datastore_get_property(got, "user2");
    CHECK_STR_EQ(v->u.user.email, "bob@corp.example");
    CHECK_STR_EQ(v->u.user.auth_domain, "corp.example");
    CHECK_STR_EQ(v->u.user.user_id, "");
    v = ae_datastore_get_property(got, "ref");
    CHECK_EQ(v->type, AE_DATASTORE_KEY);
    const ae_datastore_key_t *rk = ae_datastore_value_key(v);
    CHECK(rk != NULL);
    CHECK_STR_EQ(ae_datastore_key_string(rk), "Guestbook:g/Greeting:42");
    CHECK(ae_datastore_key_equal(rk, ae_datastore_key(rq2, ae_datastore_key_named(rq2, NULL,
                                                                                  "Guestbook", "g"),
                                                      "Greeting", 42)));
    rk = ae_datastore_value_key(ae_datastore_get_property(got, "ref_ns"));
    CHECK(rk != NULL);
    CHECK_STR_EQ(ae_datastore_key_namespace(rk), "other");
    CHECK_STR_EQ(ae_datastore_key_string(rk), "other!Elsewhere:x");

    /* The embedded entity, its key, its list and its own embedded entity. */
    v = ae_datastore_get_property(got, "addr");
    CHECK_EQ(v->type, AE_DATASTORE_ENTITY);
    const ae_datastore_entity_t *addr = ae_datastore_value_entity(v);
    CHECK(addr != NULL);
    CHECK(ae_datastore_entity_key(addr) != NULL);
    CHECK_STR_EQ(ae_datastore_key_string(ae_datastore_entity_key(addr)), "Addr:home");
    CHECK_STR_EQ(ae_datastore_get_string(addr, "city", NULL), "Berlin");
    size_t n;
    const ae_datastore_value_t *zips = ae_datastore_get_list(addr, "zips", &n);
    CHECK_EQ(n, 2);
    CHECK_EQ(ae_datastore_value_int(&zips[0]), 10115);
    CHECK_EQ(ae_datastore_value_int(&zips[1]), 10117);
    const ae_datastore_entity_t *in2 =
        ae_datastore_value_entity(ae_datastore_get_property(addr, "inner"));
    CHECK(in2 != NULL);
    CHECK(ae_datastore_entity_key(in2) == NULL);
    CHECK_EQ(ae_datastore_get_int(in2, "depth", 0), 2);

    /* Lists keep their values, types and order; a list of one stays a list. */
    const ae_datastore_value_t *m = ae_datastore_get_list(got, "mixed", &n);
    CHECK_EQ(n, 5);
    CHECK_EQ(m[0].type, AE_DATASTORE_INT);
    CHECK_EQ(ae_datastore_value_int(&m[0]), 1);
    CHECK_STR_EQ(ae_datastore_value_string(&m[1], NULL), "two");
    CHECK_EQ(m[2].type, AE_DATASTORE_NULL);
    CHECK(ae_datastore_value_double(&m[3]) == 4.5);
    CHECK_STR_EQ(ae_datastore_key_string(ae_datastore_value_key(&m[4])), "Guestbook:g");
    const ae_datastore_value_t *embl = ae_datastore_get_list(got, "embs", &n);
    CHECK_EQ(n, 2);
    CHECK_EQ(ae_datastore_get_int(ae_datastore_value_entity(&embl[1]), "depth", 0), 2);
    CHECK(ae_datastore_get_property(got, "none") == NULL);
    bool indexed = true, is_list = false;
    const char *pname;
    bool seen_one = false, seen_us = false, seen_s = false;
    for (size_t i = 0; i < ae_datastore_property_count(got); i++) {
        CHECK(ae_datastore_property_at(got, i, &pname, NULL, &n, &indexed, &is_list));
        if (strcmp(pname, "one") == 0) {
            seen_one = true;
            CHECK(is_list);
            CHECK_EQ(n, 1);
        } else if (strcmp(pname, "us") == 0) {
            seen_us = true;
            CHECK(!indexed);
            CHECK(!is_list);
        } else if (strcmp(pname, "s") == 0) {
            seen_s = true;
            CHECK(indexed);
            CHECK(!is_list);
        }
    }
    CHECK(seen_one && seen_us && seen_s);
    CHECK(!ae_datastore_property_at(got, ae_datastore_property_count(got), &pname, NULL, &n,
                                    NULL, NULL));

    /* What is indexed can be queried by its value; what is not, cannot. */
    int64_t count;
    ae_datastore_query_t *q = ae_datastore_query(rq2, "All");
    ae_datastore_query_filter(q, "geo", AE_DATASTORE_EQ, ae_datastore_geopt(52.5, -13.25));
    CHECK_OK(ae_datastore_count(rq2, q, &count));
    CHECK_EQ(count, 1);
    q = ae_datastore_query(rq2, "All");
    ae_datastore_query_filter(q, "user", AE_DATASTORE_EQ,
                              ae_datastore_user("ann@example.com", NULL, "1234"));
    CHECK_OK(ae_datastore_count(rq2, q, &count));
    CHECK_EQ(count, 1);
    q = ae_datastore_query(rq2, "All");
    ae_datastore_query_filter(q, "ref", AE_DATASTORE_EQ, ae_datastore_key_value(ref));
    CHECK_OK(ae_datastore_count(rq2, q, &count));
    CHECK_EQ(count, 1);
    q = ae_datastore_query(rq2, "All");
    ae_datastore_query_filter(q, "mixed", AE_DATASTORE_EQ, ae_datastore_string("two"));
    CHECK_OK(ae_datastore_count(rq2, q, &count));
    CHECK_EQ(count, 1);
    q = ae_datastore_query(rq2, "All");
    ae_datastore_query_filter(q, "us", AE_DATASTORE_EQ, ae_datastore_string("not indexed"));
    CHECK_OK(ae_datastore_count(rq2, q, &count));
    CHECK_EQ(count, 0);
    ae_testbed_request_destroy(rq2);
    ae_testbed_request_destroy(rq);
    ae_testbed_destroy(tb);
}

/* ---------------------------------------------------------------- datastore: transactions */

TEST(test_testbed_datastore_read_only_transaction_reads_and_refuses_writes)
{
    ae_testbed_t *tb = ae_testbed_create();
    ae_request_t *rq = ae_testbed_request_create(tb, "GET", "/", NULL, 0);
    ae_datastore_key_t *k = ae_datastore_key_named(rq, NULL, "Counter", "c");
    ae_datastore_entity_t *e = ae_datastore_entity(rq, k);
    ae_datastore_set(e, "n", ae_datastore_int(1));
    CHECK_OK(ae_datastore_put(rq, e));

    ae_datastore_txn_options_t ro = {.read_only = true};
    CHECK_OK(ae_datastore_begin(rq, &ro));
    CHECK(ae_datastore_in_transaction(rq));
    ae_datastore_entity_t *got;
    CHECK_OK(ae_datastore_get(rq, k, &got));
    CHECK_EQ(ae_datastore_get_int(got, "n", 0), 1);
    ae_datastore_set(got, "n", ae_datastore_int(2));
    CHECK_EQ(ae_datastore_put(rq, got), AE_EINVAL);
    CHECK_STR_EQ(ae_request_last_error(rq), "Cannot modify entities in a read-only transaction.");
    /* An incomplete key gets no id from a refused put. */
    ae_datastore_key_t *fresh = ae_datastore_key(rq, k, "Child", 0);
    CHECK_EQ(ae_datastore_put(rq, ae_datastore_entity(rq, fresh)), AE_EINVAL);
    CHECK(!ae_datastore_key_is_complete(fresh));
    CHECK_EQ(ae_datastore_delete(rq, k), AE_EINVAL);
    CHECK_STR_EQ(ae_request_last_error(rq), "Cannot modify entities in a read-only transaction.");
    /* Ancestor queries still run in it. */
    ae_datastore_query_t *q = ae_datastore_query(rq, "Counter");
    ae_datastore_query_ancestor(q, k);
    int64_t count;
    CHECK_OK(ae_datastore_count(rq, q, &count));
    CHECK_EQ(count, 1);
    /* It is still usable, and commits (nothing). */
    CHECK(ae_datastore_in_transaction(rq));
    CHECK_OK(ae_datastore_commit(rq));
    CHECK(!ae_datastore_in_transaction(rq));
    CHECK_OK(ae_datastore_get(rq, k, &got));
    CHECK_EQ(ae_datastore_get_int(got, "n", 0), 1);

    /* run_in_transaction with read_only returns fn's refusal, without retrying. */
    incr_t in = {k, 0};
    CHECK_EQ(ae_datastore_run_in_transaction(rq, &ro, increment, &in), AE_EINVAL);
    CHECK_EQ(in.runs, 1);
    CHECK_STR_EQ(ae_request_last_error(rq), "Cannot modify entities in a read-only transaction.");
    CHECK(!ae_datastore_in_transaction(rq));
    CHECK_OK(ae_datastore_get(rq, k, &got));
    CHECK_EQ(ae_datastore_get_int(got, "n", 0), 1);
    ae_testbed_request_destroy(rq);
    ae_testbed_destroy(tb);
}

/* Puts `kind`:`name` with n = `n`. */
static int put_n(ae_request_t *rq, const char *kind, const char *name, int64_t n)
{
    ae_datastore_key_t *k = ae_datastore_key_named(rq, NULL, kind, name);
    ae_datastore_entity_t *e = ae_datastore_entity(rq, k);
    ae_datastore_set(e, "n", ae_datastore_int(n));
    return ae_datastore_put(rq, e);
}

static int64_t get_n(ae_request_t *rq, const char *kind, const char *name)
{
    ae_datastore_entity_t *e;
    if (ae_datastore_get(rq, ae_datastore_key_named(rq, NULL, kind, name), &e) != AE_OK)
        return -1;
    return ae_datastore_get_int(e, "n", -2);
}

TEST(test_testbed_datastore_xg_transaction_spans_groups_and_a_plain_one_stops_at_the_second)
{
    ae_testbed_t *tb = ae_testbed_create();
    ae_request_t *rq = ae_testbed_request_create(tb, "GET", "/", NULL, 0);
    CHECK_OK(put_n(rq, "Account", "alice", 100));
    CHECK_OK(put_n(rq, "Account", "bob", 0));

    /* A transfer across two groups, with xg: both or neither. */
    ae_datastore_txn_options_t xg = {.xg = true};
    CHECK_OK(ae_datastore_begin(rq, &xg));
    int64_t a = get_n(rq, "Account", "alice"), b = get_n(rq, "Account", "bob");
    CHECK_EQ(a, 100);
    CHECK_EQ(b, 0);
    CHECK_OK(put_n(rq, "Account", "alice", a - 30));
    CHECK_OK(put_n(rq, "Account", "bob", b + 30));
    /* Reads in the transaction see the snapshot, not its own writes. */
    CHECK_EQ(get_n(rq, "Account", "alice"), 100);
    CHECK_OK(ae_datastore_commit(rq));
    CHECK_EQ(get_n(rq, "Account", "alice"), 70);
    CHECK_EQ(get_n(rq, "Account", "bob"), 30);

    /* A rolled-back xg transfer changes neither. */
    CHECK_OK(ae_datastore_begin(rq, &xg));
    CHECK_OK(put_n(rq, "Account", "alice", 0));
    CHECK_OK(put_n(rq, "Account", "bob", 0));
    CHECK_OK(ae_datastore_rollback(rq));
    CHECK_EQ(get_n(rq, "Account", "alice"), 70);
    CHECK_EQ(get_n(rq, "Account", "bob"), 30);

    /* Without xg: the second group is refused, in the platform's words, and the transaction
     * goes on with the first. */
    CHECK_OK(ae_datastore_begin(rq, NULL));
    CHECK_EQ(get_n(rq, "Account", "alice"), 70);
    CHECK_OK(put_n(rq, "Account", "alice", 69));
    ae_datastore_entity_t *e;
    CHECK_EQ(ae_datastore_get(rq, ae_datastore_key_named(rq, NULL, "Account", "bob"), &e),
             AE_EINVAL);
    CHECK_STR_EQ(ae_request_last_error(rq),
                 "cross-groups transaction need to be explicitly specified (xg=True)");
    CHECK_EQ(put_n(rq, "Account", "bob", 31), AE_EINVAL);
    CHECK_STR_EQ(ae_request_last_error(rq),
                 "cross-groups transaction need to be explicitly specified (xg=True)");
    CHECK(ae_datastore_in_transaction(rq));
    /* Entities under the same root are one group. */
    ae_datastore_key_t *alice = ae_datastore_key_named(rq, NULL, "Account", "alice");
    ae_datastore_entity_t *log = ae_datastore_entity(rq, ae_datastore_key(rq, alice, "Log", 0));
    ae_datastore_set(log, "delta", ae_datastore_int(-1));
    CHECK_OK(ae_datastore_put(rq, log));
    CHECK_OK(ae_datastore_commit(rq));
    CHECK_EQ(get_n(rq, "Account", "alice"), 69);
    CHECK_EQ(get_n(rq, "Account", "bob"), 30);
    CHECK_OK(ae_datastore_get(rq, ae_datastore_entity_key(log), &e));

    /* xg stops at 25 groups: the 26th is refused, the 25 commit. */
    CHECK_OK(ae_datastore_begin(rq, &xg));
    for (int i = 0; i < 25; i++) {
        char name[16];
        snprintf(name, sizeof name, "g%d", i);
        CHECK_OK(put_n(rq, "Group", name, i));
    }
    CHECK_EQ(put_n(rq, "Group", "g25", 25), AE_EINVAL);
    CHECK_STR_CONTAINS(ae_request_last_error(rq),
                       "operating on too many entity groups in a single transaction.");
    CHECK_OK(ae_datastore_commit(rq));
    int64_t count;
    CHECK_OK(ae_datastore_count(rq, ae_datastore_query(rq, "Group"), &count));
    CHECK_EQ(count, 25);
    ae_testbed_request_destroy(rq);
    ae_testbed_destroy(tb);
}

/* Increments: reads the counter, then (on the first `meddle` attempts only) has another
 * request write it outside the transaction, then puts the value read plus one. */
typedef struct {
    incr_t in;
    ae_testbed_t *tb;
    int meddle;
} meddle_some_t;

static int increment_meddled_at_first(ae_request_t *rq, void *ctx)
{
    meddle_some_t *m = ctx;
    m->in.runs++;
    ae_datastore_entity_t *e;
    int rc = ae_datastore_get(rq, m->in.counter, &e);
    if (rc == AE_ENOTFOUND)
        e = ae_datastore_entity(rq, m->in.counter);
    else if (rc != AE_OK)
        return rc;
    if (m->in.runs <= m->meddle) {
        ae_request_t *other = ae_testbed_request_create(m->tb, "GET", "/", NULL, 0);
        ae_datastore_entity_t *o = ae_datastore_entity(other, m->in.counter);
        ae_datastore_set(o, "n", ae_datastore_int(100 * m->in.runs));
        rc = ae_datastore_put(other, o);
        ae_testbed_request_destroy(other);
        if (rc != AE_OK)
            return rc;
    }
    ae_datastore_set(e, "n", ae_datastore_int(ae_datastore_get_int(e, "n", 0) + 1));
    return ae_datastore_put(rq, e);
}

static int fail_with_not_found(ae_request_t *rq, void *ctx)
{
    int rc = increment(rq, ctx);
    return rc != AE_OK ? rc : AE_ENOTFOUND;
}

TEST(test_testbed_datastore_run_in_transaction_retries_contention_and_gives_up_after_four)
{
    ae_testbed_t *tb = ae_testbed_create();
    ae_request_t *rq = ae_testbed_request_create(tb, "GET", "/", NULL, 0);
    ae_datastore_key_t *k = ae_datastore_key_named(rq, NULL, "Counter", "c");

    /* Contention on the first two attempts: the third commits, on top of the last outside
     * write. */
    meddle_some_t m = {{k, 0}, tb, 2};
    CHECK_OK(ae_datastore_run_in_transaction(rq, NULL, increment_meddled_at_first, &m));
    CHECK_EQ(m.in.runs, 3);
    CHECK_EQ(get_n(rq, "Counter", "c"), 201);
    CHECK(!ae_datastore_in_transaction(rq));

    /* Contention every time: 4 attempts, then the platform's message; the outside write
     * stands, none of the transaction's do. */
    m = (meddle_some_t){{k, 0}, tb, 1000};
    CHECK_EQ(ae_datastore_run_in_transaction(rq, NULL, increment_meddled_at_first, &m),
             AE_ECONTENTION);
    CHECK_EQ(m.in.runs, AE_DATASTORE_TXN_ATTEMPTS);
    CHECK_STR_EQ(ae_request_last_error(rq),
                 "The transaction could not be committed. Please try again.");
    CHECK(!ae_datastore_in_transaction(rq));
    CHECK_EQ(get_n(rq, "Counter", "c"), 400);

    /* Another failure of fn is not retried, and rolls back. */
    incr_t in = {k, 0};
    CHECK_EQ(ae_datastore_run_in_transaction(rq, NULL, fail_with_not_found, &in), AE_ENOTFOUND);
    CHECK_EQ(in.runs, 1);
    CHECK_EQ(get_n(rq, "Counter", "c"), 400);
    /* The request goes on: a plain transaction works. */
    CHECK_OK(ae_datastore_run_in_transaction(rq, NULL, increment, &in));
    CHECK_EQ(get_n(rq, "Counter", "c"), 401);
    ae_testbed_request_destroy(rq);
    ae_testbed_destroy(tb);
}

/* ---------------------------------------------------------------- datastore: keys, namespaces */

TEST(test_testbed_datastore_urlsafe_keys_round_trip_and_malformed_ones_are_einval)
{
    ae_testbed_t *tb = ae_testbed_create();
    ae_request_t *rq = ae_testbed_request_create(tb, "GET", "/", NULL, 0);
    ae_datastore_set_namespace(rq, "shop-1");
    ae_datastore_key_t *root = ae_datastore_key_named(rq, NULL, "Store", "na\xc3\xafve name");
    ae_datastore_key_t *mid = ae_datastore_key(rq, root, "Shelf", 7);
    ae_datastore_key_t *k = ae_datastore_key_named(rq, mid, "Book", "isbn:0-13-110362-8");
    ae_datastore_entity_t *e = ae_datastore_entity(rq, k);
    ae_datastore_set(e, "title", ae_datastore_string("K&R"));
    CHECK_OK(ae_datastore_put(rq, e));
    const char *s = ae_datastore_key_urlsafe(rq, k);
    CHECK(s != NULL);
    /* URL-safe: no padding, no '+' or '/'. */
    CHECK(strpbrk(s, "+/=") == NULL);

    /* Another request, in the default namespace, finds the entity by the string alone. */
    ae_request_t *rq2 = ae_testbed_request_create(tb, "GET", "/", NULL, 0);
    ae_datastore_key_t *back;
    CHECK_OK(ae_datastore_key_from_urlsafe(rq2, s, &back));
    CHECK_STR_EQ(ae_datastore_key_namespace(back), "shop-1");
    CHECK_STR_EQ(ae_datastore_key_string(back),
                 "shop-1!Store:na\xc3\xafve name/Shelf:7/Book:isbn:0-13-110362-8");
    CHECK_STR_EQ(ae_datastore_key_urlsafe(rq2, back), s);
    CHECK_OK(ae_datastore_get(rq2, back, &e));
    CHECK_STR_EQ(ae_datastore_get_string(e, "title", NULL), "K&R");
    /* Padding is accepted. */
    char padded[512];
    size_t n = strlen(s);
    snprintf(padded, sizeof padded, "%s%s", s, n % 4 == 2 ? "==" : n % 4 == 3 ? "=" : "");
    CHECK_OK(ae_datastore_key_from_urlsafe(rq2, padded, &back));
    CHECK(ae_datastore_key_equal(back, k));

    /* Malformed strings: each AE_EINVAL with "Invalid string key", the output NULL. */
    char cut[512];
    snprintf(cut, sizeof cut, "%.*s", (int)(n - 4), s);
    char flipped[512];
    snprintf(flipped, sizeof flipped, "%s", s);
    flipped[0] = flipped[0] == 'b' ? 'c' : 'b'; /* the app field's tag */
    const char *bad[] = {"", "@@@@", "abc+def/", "a", cut, flipped, "AAAA", "agx0ZXN0YmVkLXRlc3Q"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        back = (ae_datastore_key_t *)1;
        CHECK_EQ(ae_datastore_key_from_urlsafe(rq2, bad[i], &back), AE_EINVAL);
        CHECK(back == NULL);
        CHECK_STR_CONTAINS(ae_request_last_error(rq2), "Invalid string key");
    }
    /* The request goes on. */
    CHECK_OK(ae_datastore_key_from_urlsafe(rq2, s, &back));
    ae_testbed_request_destroy(rq2);
    ae_testbed_request_destroy(rq);
    ae_testbed_destroy(tb);
}

TEST(test_testbed_datastore_namespaces_keep_entities_and_queries_apart)
{
    ae_testbed_t *tb = ae_testbed_create();
    ae_request_t *rq = ae_testbed_request_create(tb, "GET", "/", NULL, 0);
    CHECK_OK(put_n(rq, "Doc", "d", 0)); /* the default namespace */
    ae_datastore_set_namespace(rq, "tenant-a");
    CHECK_OK(put_n(rq, "Doc", "d", 1));
    CHECK_OK(put_n(rq, "Doc", "only-a", 1));
    ae_datastore_set_namespace(rq, "tenant-b");
    CHECK_OK(put_n(rq, "Doc", "d", 2));

    /* The same kind and name are three entities. */
    CHECK_EQ(get_n(rq, "Doc", "d"), 2);
    CHECK_EQ(get_n(rq, "Doc", "only-a"), -1); /* not found here */
    ae_datastore_set_namespace(rq, "tenant-a");
    CHECK_EQ(get_n(rq, "Doc", "d"), 1);
    CHECK_EQ(get_n(rq, "Doc", "only-a"), 1);
    ae_datastore_set_namespace(rq, "");
    CHECK_EQ(get_n(rq, "Doc", "d"), 0);

    /* Queries see their namespace only. */
    int64_t count;
    CHECK_OK(ae_datastore_count(rq, ae_datastore_query(rq, "Doc"), &count));
    CHECK_EQ(count, 1);
    ae_datastore_set_namespace(rq, "tenant-a");
    ae_datastore_query_t *qa = ae_datastore_query(rq, "Doc");
    CHECK_OK(ae_datastore_count(rq, qa, &count));
    CHECK_EQ(count, 2);
    ae_datastore_set_namespace(rq, "tenant-c");
    CHECK_OK(ae_datastore_count(rq, ae_datastore_query(rq, "Doc"), &count));
    CHECK_EQ(count, 0);
    /* A query built earlier keeps its namespace; a kindless one too. */
    CHECK_OK(ae_datastore_count(rq, qa, &count));
    CHECK_EQ(count, 2);
    ae_datastore_set_namespace(rq, "tenant-b");
    CHECK_OK(ae_datastore_count(rq, ae_datastore_query(rq, NULL), &count));
    CHECK_EQ(count, 1);
    /* A key carries its namespace: a get of it works from anywhere, and an ancestor query
     * takes the ancestor's namespace. */
    ae_datastore_set_namespace(rq, "tenant-a");
    ae_datastore_key_t *ka = ae_datastore_key_named(rq, NULL, "Doc", "only-a");
    ae_datastore_set_namespace(rq, "");
    ae_datastore_entity_t *e;
    CHECK_OK(ae_datastore_get(rq, ka, &e));
    CHECK_STR_EQ(ae_datastore_key_namespace(ae_datastore_entity_key(e)), "tenant-a");
    ae_datastore_query_t *q = ae_datastore_query(rq, "Doc");
    ae_datastore_query_ancestor(q, ka);
    CHECK_OK(ae_datastore_count(rq, q, &count));
    CHECK_EQ(count, 1);
    /* A child takes its parent's namespace. */
    ae_datastore_key_t *child = ae_datastore_key(rq, ka, "Part", 0);
    CHECK_STR_EQ(ae_datastore_key_namespace(child), "tenant-a");
    /* Memcache's namespace is its own. */
    ae_memcache_value_t mv;
    CHECK_OK(ae_memcache_set(rq, "k", "v", 1, 0, 0));
    CHECK_OK(ae_memcache_get(rq, "k", &mv));
    /* A bad namespace fails at the first call that uses it. */
    ae_datastore_set_namespace(rq, "no spaces");
    CHECK_EQ(put_n(rq, "Doc", "d", 3), AE_EINVAL);
    CHECK_STR_CONTAINS(ae_request_last_error(rq), "no spaces");
    CHECK_EQ(ae_datastore_count(rq, ae_datastore_query(rq, "Doc"), &count), AE_EINVAL);
    char long_ns[102];
    memset(long_ns, 'n', 101);
    long_ns[101] = '\0';
    ae_datastore_set_namespace(rq, long_ns);
    CHECK_EQ(put_n(rq, "Doc", "d", 3), AE_EINVAL);
    long_ns[100] = '\0';
    ae_datastore_set_namespace(rq, long_ns);
    CHECK_OK(put_n(rq, "Doc", "d", 3));
    ae_testbed_request_destroy(rq);
    ae_testbed_destroy(tb);
}

/* An empty key name travelled as "no name" (the wire's "" is NULL), so the put of a key named
 * "" succeeded under a fresh id that the app's key never showed, and a get of that key then
 * failed as incomplete. The key is refused, in the stub's words, wherever it goes. */
TEST(test_testbed_datastore_regress_empty_key_name_is_refused_not_turned_into_an_id)
{
    ae_testbed_t *tb = ae_testbed_create();
    ae_request_t *rq = ae_testbed_request_create(tb, "GET", "/", NULL, 0);
    ae_datastore_key_t *k = ae_datastore_key_named(rq, NULL, "K", "");
    CHECK_EQ(ae_datastore_put(rq, ae_datastore_entity(rq, k)), AE_EINVAL);
    CHECK_STR_EQ(ae_request_last_error(rq), "Key name must not be empty");
    int64_t count;
    CHECK_OK(ae_datastore_count(rq, ae_datastore_query(rq, "K"), &count));
    CHECK_EQ(count, 0);
    ae_datastore_entity_t *e;
    CHECK_EQ(ae_datastore_get(rq, k, &e), AE_EINVAL);
    CHECK_STR_EQ(ae_request_last_error(rq), "Key name must not be empty");
    CHECK_EQ(ae_datastore_delete(rq, k), AE_EINVAL);
    /* As a parent, an ancestor, a key value or an embedded entity's key. */
    ae_datastore_key_t *child = ae_datastore_key(rq, k, "C", 1);
    CHECK_EQ(ae_datastore_put(rq, ae_datastore_entity(rq, child)), AE_EINVAL);
    CHECK_STR_EQ(ae_request_last_error(rq), "Key name must not be empty");
    ae_datastore_query_t *q = ae_datastore_query(rq, "C");
    ae_datastore_query_ancestor(q, k);
    CHECK_EQ(ae_datastore_count(rq, q, &count), AE_EINVAL);
    CHECK_STR_EQ(ae_request_last_error(rq), "Key name must not be empty");
    e = ae_datastore_entity(rq, ae_datastore_key(rq, NULL, "K", 1));
    ae_datastore_set(e, "ref", ae_datastore_key_value(k));
    CHECK_EQ(ae_datastore_put(rq, e), AE_EINVAL);
    CHECK_STR_EQ(ae_request_last_error(rq), "Key name must not be empty");
    ae_datastore_entity_t *emb = ae_datastore_entity(rq, k);
    e = ae_datastore_entity(rq, ae_datastore_key(rq, NULL, "K", 1));
    ae_datastore_set(e, "emb", ae_datastore_embedded(emb));
    CHECK_EQ(ae_datastore_put(rq, e), AE_EINVAL);
    CHECK_STR_EQ(ae_request_last_error(rq), "Key name must not be empty");
    q = ae_datastore_query(rq, "K");
    ae_datastore_query_filter(q, "ref", AE_DATASTORE_EQ, ae_datastore_key_value(k));
    CHECK_EQ(ae_datastore_count(rq, q, &count), AE_EINVAL);
    CHECK_EQ(ae_datastore_allocate_ids(rq, ae_datastore_key(rq, k, "C", 0), 1, NULL, NULL),
             AE_EINVAL);
    CHECK_OK(ae_datastore_count(rq, ae_datastore_query(rq, NULL), &count));
    CHECK_EQ(count, 0);
    ae_testbed_request_destroy(rq);
    ae_testbed_destroy(tb);
}

/* A Put body of 1 MiB (within the call limit) announcing, at each of 99 levels of embedded
 * entities, as many properties and values as the bytes left could hold: the decoder
 * (common/rpc_datastore.c) allocated every announced array whole before reading its items, and
 * zeroed about 1 GB (2 s) before it found the body short. It must refuse the body with the
 * memory of a body, not of a thousand. */
static void put_le32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static size_t nested_put_body(unsigned char *b, size_t size)
{
    size_t len = 12, at[2 * 99];
    int n = 0;
    memset(b, 0, size);
    put_le32(b + 8, 1); /* txn 0, one entity */
    for (int d = 0; d < 99; d++) {
        len += 5 + 5 + 4;     /* key: app "", ns "", no path */
        at[n++] = len;        /* its property count */
        len += 4 + 5 + 4;     /* then a property named "", flags 0 */
        at[n++] = len;        /* its value count */
        len += 4;
        put_le32(b + len, 12); /* DAS_RPC_DS_ENTITY: the next level */
        len += 4;
    }
    for (int i = 0; i < n; i++) /* each count as big as what follows it could hold */
        put_le32(b + at[i], (uint32_t)((size - at[i] - 4) / (i % 2 == 0 ? 13 : 4)));
    return size;
}

static long vm_size_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmSize: %ld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define UNDER_SANITIZER 1
#endif
#endif

TEST(test_testbed_datastore_regress_nested_counts_do_not_multiply_memory)
{
#ifdef UNDER_SANITIZER
    SKIP("a sanitizer's shadow memory does not fit under an address-space limit");
#endif
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        /* The child: 400 MB more address space than it has now, then the call. */
        long kb = vm_size_kb();
        struct rlimit lim = {(rlim_t)(kb + 400 * 1024) * 1024, (rlim_t)(kb + 400 * 1024) * 1024};
        if (kb < 0 || setrlimit(RLIMIT_AS, &lim) != 0)
            _exit(3);
        size_t size = 1024 * 1024;
        unsigned char *body = malloc(size);
        if (!body)
            _exit(4);
        nested_put_body(body, size);
        ae_testbed_t *tb = ae_testbed_create();
        ae_request_t *rq = ae_testbed_request_create(tb, "GET", "/", NULL, 0);
        const void *reply;
        size_t len;
        int rc = ae_apiproxy_call(rq, "datastore_v3", "Put", body, size, &reply, &len);
        int ok = rc == AE_EINVAL &&
                 strstr(ae_request_last_error(rq), "malformed datastore_v3.Put() request");
        ae_testbed_request_destroy(rq);
        ae_testbed_destroy(tb);
        free(body);
        _exit(ok ? 0 : 1);
    }
    int status;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status)); /* not killed by the abort of a failed allocation */
    CHECK_EQ(WEXITSTATUS(status), 0);
}

/* ---------------------------------------------------------------- datastore: limits */

TEST(test_testbed_datastore_value_and_entity_limits_fail_with_the_platforms_words)
{
    ae_testbed_t *tb = ae_testbed_create();
    ae_request_t *rq = ae_testbed_request_create(tb, "GET", "/", NULL, 0);
    enum { BIG = 1100 * 1000 };
    char *buf = malloc(BIG);
    memset(buf, 's', BIG);
    ae_datastore_key_t *k = ae_datastore_key_named(rq, NULL, "Limits", "l");

    /* An indexed string: 1,500 bytes are fine, 1,501 are not. */
    ae_datastore_entity_t *e = ae_datastore_entity(rq, k);
    ae_datastore_set(e, "s", ae_datastore_string_n(buf, 1500));
    CHECK_OK(ae_datastore_put(rq, e));
    ae_datastore_set(e, "s", ae_datastore_string_n(buf, 1501));
    CHECK_EQ(ae_datastore_put(rq, e), AE_EINVAL);
    CHECK_STR_EQ(ae_request_last_error(rq), "Property s is too long. Maximum length is 1500.");
    /* So is a short blob. */
    e = ae_datastore_entity(rq, k);
    ae_datastore_set(e, "b", ae_datastore_bytes(buf, 1501));
    CHECK_EQ(ae_datastore_put(rq, e), AE_EINVAL);
    CHECK_STR_EQ(ae_request_last_error(rq), "Property b is too long. Maximum length is 1500.");
    /* Unindexed, the same string is fine; over 1,048,487 bytes it is not. */
    e = ae_datastore_entity(rq, k);
    ae_datastore_set_unindexed(e, "s", ae_datastore_string_n(buf, 1501));
    CHECK_OK(ae_datastore_put(rq, e));
    e = ae_datastore_entity(rq, k);
    ae_datastore_set_unindexed(e, "t",
                               ae_datastore_text(buf, AE_DATASTORE_MAX_UNINDEXED_BYTES + 1));
    CHECK_EQ(ae_datastore_put(rq, e), AE_EINVAL);
    CHECK_STR_EQ(ae_request_last_error(rq),
                 "Property t is too long. Maximum length is 1048487.");
    /* What failed wrote nothing: the last good put stands. */
    ae_datastore_entity_t *got;
    CHECK_OK(ae_datastore_get(rq, k, &got));
    size_t len;
    CHECK(ae_datastore_value_string(ae_datastore_get_property(got, "s"), &len) != NULL);
    CHECK_EQ(len, 1501);

    /* An entity over 1,048,572 bytes, every value within its limit: AE_ETOOLARGE, nothing
     * written. Two blobs of 524,300 bytes are 1,048,600 bytes of values alone. (Through the
     * SDK the call's 1 MiB limit is always met first: an entity's size as the stub counts it
     * is smaller than its encoding in a Put body, so the words are the call's.) */
    ae_datastore_key_t *big = ae_datastore_key_named(rq, NULL, "Limits", "big");
    e = ae_datastore_entity(rq, big);
    ae_datastore_set_unindexed(e, "b1", ae_datastore_blob(buf, 524300));
    ae_datastore_set_unindexed(e, "b2", ae_datastore_blob(buf, 524300));
    CHECK_EQ(ae_datastore_put(rq, e), AE_ETOOLARGE);
    CHECK_STR_EQ(ae_request_last_error(rq),
                 "The request to API call datastore_v3.Put() was too large.");
    CHECK_EQ(ae_datastore_get(rq, big, &got), AE_ENOTFOUND);
    /* The same in a batch with a good entity: the batch fails whole. */
    ae_datastore_entity_t *good =
        ae_datastore_entity(rq, ae_datastore_key_named(rq, NULL, "Limits", "good"));
    ae_datastore_set(good, "n", ae_datastore_int(1));
    ae_datastore_entity_t *batch[] = {good, e};
    int st[2];
    CHECK_EQ(ae_datastore_put_multi(rq, batch, 2, st), AE_ETOOLARGE);
    CHECK_EQ(st[0], AE_ETOOLARGE);
    CHECK_EQ(ae_datastore_get(rq, ae_datastore_entity_key(good), &got), AE_ENOTFOUND);
    /* Just under the limit is stored. */
    e = ae_datastore_entity(rq, big);
    ae_datastore_set_unindexed(e, "b1", ae_datastore_blob(buf, 524000));
    ae_datastore_set_unindexed(e, "b2", ae_datastore_blob(buf, 524000));
    CHECK_OK(ae_datastore_put(rq, e));
    CHECK_OK(ae_datastore_get(rq, big, &got));
    ae_datastore_value_string(ae_datastore_get_property(got, "b2"), &len);
    CHECK_EQ(len, 524000);
    free(buf);
    ae_testbed_request_destroy(rq);
    ae_testbed_destroy(tb);
}

/* ---------------------------------------------------------------- datastore: index.yaml */

/* A fresh folder under $TMPDIR with index.yaml holding `yaml` (NULL: no file). */
static char *make_app_root(const char *yaml)
{
    const char *tmp = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/test_testbed-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(tmpl))
        return NULL;
    if (yaml) {
        char path[4200];
        snprintf(path, sizeof path, "%s/index.yaml", tmpl);
        FILE *f = fopen(path, "w");
        if (!f)
            return NULL;
        fputs(yaml, f);
        fclose(f);
    }
    return strdup(tmpl);
}

/* index.yaml's text (malloc'd), or NULL when there is none. */
static char *read_index_yaml(const char *dir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/index.yaml", dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *text = calloc(1, 65536);
    size_t n = fread(text, 1, 65535, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

static void remove_app_root(char *dir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/index.yaml", dir);
    unlink(path);
    rmdir(dir);
    free(dir);
}

#define OTHER_INDEX                                                                            \
    "indexes:\n"                                                                               \
    "- kind: Other\n"                                                                          \
    "  properties:\n"                                                                          \
    "  - name: a\n"                                                                            \
    "  - name: b\n"                                                                            \
    "    direction: desc\n"
#define GREETING_INDEX                                                                         \
    "- kind: Greeting\n"                                                                       \
    "  ancestor: yes\n"                                                                        \
    "  properties:\n"                                                                          \
    "  - name: date\n"                                                                         \
    "    direction: desc\n"

/* Puts three greetings under a book in `rq` and fetches them newest first (an ancestor query
 * ordered by date descending needs a composite index). */
static int fetch_newest_first(ae_request_t *rq, ae_datastore_page_t *page)
{
    ae_datastore_key_t *book = ae_datastore_key_named(rq, NULL, "Guestbook", "default");
    ae_datastore_key_t *k;
    for (int i = 0; i < 3; i++) {
        int rc = put_greeting(rq, book, 1000 + i, "hi", &k);
        if (rc != AE_OK)
            return rc;
    }
    ae_datastore_query_t *q = ae_datastore_query(rq, "Greeting");
    ae_datastore_query_ancestor(q, book);
    ae_datastore_query_order(q, "date", AE_DATASTORE_DESC);
    return ae_datastore_fetch(rq, q, 10, NULL, page);
}

TEST(test_testbed_datastore_require_indexes_fails_a_query_whose_index_is_not_listed)
{
    /* index.yaml lists another index only. */
    char *dir = make_app_root(OTHER_INDEX);
    CHECK(dir != NULL);
    ae_testbed_options_t o = {.app_root = dir, .require_indexes = true};
    ae_testbed_t *tb = ae_testbed_create_with(&o);
    CHECK(tb != NULL);
    ae_request_t *rq = ae_testbed_request_create(tb, "GET", "/", NULL, 0);
    ae_datastore_page_t page;
    CHECK_EQ(fetch_newest_first(rq, &page), AE_ENEEDINDEX);
    CHECK_EQ(page.n, 0);
    const char *msg = ae_request_last_error(rq);
    CHECK_STR_CONTAINS(msg, "The suggested index for this query is:");
    CHECK_STR_CONTAINS(msg, "- kind: Greeting\n"
                            "  ancestor: yes\n"
                            "  properties:\n"
                            "  - name: date\n"
                            "    direction: desc\n");
    /* A count needs the same index. */
    ae_datastore_query_t *q = ae_datastore_query(rq, "Greeting");
    ae_datastore_query_ancestor(q, ae_datastore_key_named(rq, NULL, "Guestbook", "default"));
    ae_datastore_query_order(q, "date", AE_DATASTORE_DESC);
    int64_t count;
    CHECK_EQ(ae_datastore_count(rq, q, &count), AE_ENEEDINDEX);
    /* Queries on built-in indexes need nothing. */
    q = ae_datastore_query(rq, "Greeting");
    ae_datastore_query_order(q, "date", AE_DATASTORE_DESC);
    CHECK_OK(ae_datastore_fetch(rq, q, 10, NULL, &page));
    CHECK_EQ(page.n, 3);
    /* The file is the app's: nothing is written to it. */
    char *text = read_index_yaml(dir);
    CHECK_STR_EQ(text, OTHER_INDEX);
    free(text);
    ae_testbed_request_destroy(rq);
    ae_testbed_destroy(tb);
    remove_app_root(dir);

    /* With the index listed, the same query runs. */
    dir = make_app_root(OTHER_INDEX GREETING_INDEX);
    CHECK(dir != NULL);
    o.app_root = dir;
    tb = ae_testbed_create_with(&o);
    CHECK(tb != NULL);
    rq = ae_testbed_request_create(tb, "GET", "/", NULL, 0);
    CHECK_OK(fetch_newest_first(rq, &page));
    CHECK_EQ(page.n, 3);
    CHECK_EQ(ae_datastore_get_int(page.entities[0], "date", 0), 1002);
    CHECK_EQ(ae_datastore_get_int(page.entities[2], "date", 0), 1000);
    ae_testbed_request_destroy(rq);
    ae_testbed_destroy(tb);
    remove_app_root(dir);
}

TEST(test_testbed_datastore_app_root_gets_the_missing_index_appended_without_require_indexes)
{
    char *dir = make_app_root(NULL);
    CHECK(dir != NULL);
    ae_testbed_options_t o = {.app_root = dir};
    ae_testbed_t *tb = ae_testbed_create_with(&o);
    CHECK(tb != NULL);
    ae_request_t *rq = ae_testbed_request_create(tb, "GET", "/", NULL, 0);
    ae_datastore_page_t page;
    CHECK_OK(fetch_newest_first(rq, &page));
    CHECK_EQ(page.n, 3);
    char *text = read_index_yaml(dir);
    CHECK(text != NULL);
    CHECK_STR_CONTAINS(text, "# AUTOGENERATED");
    CHECK_STR_CONTAINS(text, GREETING_INDEX);
    CHECK(strstr(text, "# AUTOGENERATED") < strstr(text, GREETING_INDEX));
    free(text);
    ae_testbed_request_destroy(rq);
    ae_testbed_destroy(tb);
    remove_app_root(dir);

    /* A malformed index.yaml stops the testbed from starting. */
    dir = make_app_root("indexes:\n- kind: [\n");
    CHECK(dir != NULL);
    o.app_root = dir;
    tb = ae_testbed_create_with(&o);
    CHECK(tb == NULL);
    remove_app_root(dir);
}

/* ---------------------------------------------------------------- urlfetch */

typedef struct {
    int calls;
    char method[16];
    char payload[64];
    bool saw_user_agent;
} weather_stub_t;

/* A test's stand-in for a remote API: answers from the test, seeing what the app sent. */
static int weather(void *ctx, const ae_urlfetch_request_t *rq, ae_urlfetch_response_t *out)
{
    weather_stub_t *w = ctx;
    w->calls++;
    snprintf(w->method, sizeof w->method, "%s", rq->method);
    snprintf(w->payload, sizeof w->payload, "%.*s", (int)rq->payload_len,
             (const char *)rq->payload);
    for (size_t i = 0; rq->headers && rq->headers[i]; i++)
        if (strncmp(rq->headers[i], "X-Api-Key: ", 11) == 0)
            w->saw_user_agent = strcmp(rq->headers[i] + 11, "k1") == 0;
    if (strstr(rq->url, "/down"))
        return AE_EFETCH;
    static const char *const headers[] = {"Content-Type: application/json", NULL};
    out->status = 201;
    out->headers = headers;
    out->body = "{\"sky\":\"clear\"}";
    out->len = strlen(out->body);
    return AE_OK;
}

TEST(test_testbed_urlfetch_stub_answers_its_prefix)
{
    ae_testbed_t *tb = ae_testbed_create();
    weather_stub_t w = {0};
    ae_testbed_urlfetch_stub(tb, "http://weather.example/", weather, &w);
    ae_request_t *rq = ae_testbed_request_create(tb, "GET", "/", NULL, 0);
    const char *const headers[] = {"X-Api-Key: k1", NULL};
    ae_urlfetch_request_t f = AE_URLFETCH_REQUEST_INIT;
    f.url = "http://weather.example/today";
    f.method = "POST";
    f.headers = headers;
    f.payload = "city=Oslo";
    f.payload_len = 9;
    ae_urlfetch_response_t r;
    CHECK_EQ(ae_urlfetch(rq, &f, &r), AE_OK);
    CHECK_EQ(r.status, 201);
    CHECK_STR_EQ(r.body, "{\"sky\":\"clear\"}");
    CHECK_STR_EQ(ae_urlfetch_header(&r, "content-type"), "application/json");
    CHECK_EQ(w.calls, 1);
    CHECK_STR_EQ(w.method, "POST");
    CHECK_STR_EQ(w.payload, "city=Oslo");
    CHECK(w.saw_user_agent);

    /* Started and waited for, as in production code. */
    ae_urlfetch_rpc_t *rpc;
    f.method = "GET";
    CHECK_EQ(ae_urlfetch_start(rq, &f, &rpc), AE_OK);
    CHECK_EQ(ae_urlfetch_wait(rq, rpc, &r), AE_OK);
    CHECK_EQ(r.status, 201);
    CHECK_EQ(ae_urlfetch_wait(rq, rpc, &r), AE_EINVAL);

    /* The stub's failure is the app's. */
    f.url = "http://weather.example/down";
    CHECK_EQ(ae_urlfetch(rq, &f, &r), AE_EFETCH);
    CHECK_STR_CONTAINS(ae_request_last_error(rq), "http://weather.example/down");

    /* The platform's rules hold in the testbed too. */
    f.url = "ftp://weather.example/x";
    CHECK_EQ(ae_urlfetch(rq, &f, &r), AE_EINVAL);
    CHECK_STR_CONTAINS(ae_request_last_error(rq), "Invalid request URL: ftp://weather.example/x");

    /* A payload over 10 MiB is refused before anything is sent. */
    size_t big = AE_URLFETCH_MAX_PAYLOAD + 1;
    char *payload = calloc(1, big);
    CHECK(payload);
    f.url = "http://weather.example/upload";
    f.method = "PUT";
    f.payload = payload;
    f.payload_len = big;
    CHECK_EQ(ae_urlfetch(rq, &f, &r), AE_ETOOLARGE);
    CHECK_STR_CONTAINS(ae_request_last_error(rq), "the limit is 10485760 bytes");
    free(payload);
    CHECK_EQ(w.calls, 3);
    ae_testbed_request_destroy(rq);
    ae_testbed_destroy(tb);
}

TEST(test_testbed_urlfetch_offline_fails_what_no_stub_answers)
{
    ae_testbed_t *tb = ae_testbed_create();
    weather_stub_t w = {0};
    ae_testbed_urlfetch_stub(tb, "http://weather.example/", weather, &w);
    ae_testbed_urlfetch_offline(tb);
    ae_request_t *rq = ae_testbed_request_create(tb, "GET", "/", NULL, 0);
    ae_urlfetch_request_t f = AE_URLFETCH_REQUEST_INIT;
    ae_urlfetch_response_t r;
    f.url = "http://127.0.0.1:9999/never";
    CHECK_EQ(ae_urlfetch(rq, &f, &r), AE_EFETCH);
    CHECK_STR_CONTAINS(ae_request_last_error(rq), "offline");
    CHECK_STR_CONTAINS(ae_request_last_error(rq), "GET http://127.0.0.1:9999/never");
    f.url = "http://weather.example/today";
    CHECK_EQ(ae_urlfetch(rq, &f, &r), AE_OK);
    CHECK_EQ(r.status, 201);
    ae_testbed_request_destroy(rq);
    ae_testbed_destroy(tb);
}

TEST(test_testbed_urlfetch_refuses_the_requests_own_url)
{
    ae_testbed_t *tb = ae_testbed_create();
    ae_testbed_urlfetch_offline(tb);
    ae_request_t *rq = ae_testbed_request_create(tb, "GET", "/here?x=1", NULL, 0);
    ae_urlfetch_request_t f = AE_URLFETCH_REQUEST_INIT;
    ae_urlfetch_response_t r;
    f.url = "http://testbed.example.com/here";
    CHECK_EQ(ae_urlfetch(rq, &f, &r), AE_EINVAL);
    CHECK_STR_EQ(ae_request_last_error(rq),
                 "App cannot fetch the same URL as the one used for the request.");
    f.method = "POST"; /* only a GET is refused */
    CHECK_EQ(ae_urlfetch(rq, &f, &r), AE_EFETCH);
    ae_testbed_request_destroy(rq);
    ae_testbed_destroy(tb);
}

CHECK_MAIN()
