/* counter.c - page counters in memcache: /incr counts atomically, /racy with a get-then-set
 * that loses updates under concurrent requests; /get, /set, /add, /delete, /flush and /stats
 * expose the rest of the API for the integration tests. */
#include <appengine/memcache.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *param(ae_request_t *rq, const char *name, const char *fallback)
{
    const char *v = ae_request_param(rq, name);
    return v ? v : fallback;
}

static void reply_status(ae_response_t *rs, int rc)
{
    ae_response_set_header(rs, "Content-Type", "text/plain");
    ae_response_printf(rs, "%s", rc == AE_OK ? "ok" : ae_strerror(rc));
}

static void incr(ae_request_t *rq, ae_response_t *rs)
{
    /* ?work_ms=N: pretend the page takes N ms to build before it counts the view. */
    long work = atol(param(rq, "work_ms", "0"));
    struct timespec ts = {work / 1000, (work % 1000) * 1000000};
    nanosleep(&ts, NULL);
    uint64_t zero = 0, n = 0;
    int rc = ae_memcache_incr(rq, param(rq, "key", "hits"), 1, &zero, &n);
    if (rc != AE_OK) {
        ae_response_error(rs, 503, "memcache: %s\n", ae_strerror(rc));
        return;
    }
    ae_response_set_header(rs, "Content-Type", "text/plain");
    ae_response_printf(rs, "%llu", (unsigned long long)n);
}

/* The bug: two requests read the same value and both write value + 1. */
static void racy(ae_request_t *rq, ae_response_t *rs)
{
    const char *key = param(rq, "key", "racy");
    ae_memcache_value_t v;
    long n = ae_memcache_get(rq, key, &v) == AE_OK ? atol(v.data) : 0;
    char text[32];
    int len = snprintf(text, sizeof text, "%ld", n + 1);
    ae_memcache_set(rq, key, text, (size_t)len, 0, 0);
    ae_response_set_header(rs, "Content-Type", "text/plain");
    ae_response_puts(rs, text);
}

static void get(ae_request_t *rq, ae_response_t *rs)
{
    ae_memcache_value_t v;
    int rc = ae_memcache_get(rq, param(rq, "key", ""), &v);
    if (rc != AE_OK) {
        ae_response_error(rs, 404, "%s", ae_strerror(rc));
        return;
    }
    ae_response_set_header(rs, "Content-Type", "text/plain");
    ae_response_write(rs, v.data, v.len);
}

static void set(ae_request_t *rq, ae_response_t *rs)
{
    const char *value = param(rq, "value", "");
    reply_status(rs, ae_memcache_set(rq, param(rq, "key", ""), value, strlen(value), 0,
                                     atoll(param(rq, "expires", "0"))));
}

static void add(ae_request_t *rq, ae_response_t *rs)
{
    const char *value = param(rq, "value", "");
    reply_status(rs, ae_memcache_add(rq, param(rq, "key", ""), value, strlen(value), 0, 0));
}

static void del(ae_request_t *rq, ae_response_t *rs)
{
    reply_status(rs, ae_memcache_delete(rq, param(rq, "key", ""), atoll(param(rq, "lock", "0"))));
}

static void flush(ae_request_t *rq, ae_response_t *rs)
{
    reply_status(rs, ae_memcache_flush_all(rq));
}

static void stats(ae_request_t *rq, ae_response_t *rs)
{
    ae_memcache_stats_t st;
    int rc = ae_memcache_stats(rq, &st);
    if (rc != AE_OK)
        return reply_status(rs, rc);
    ae_response_set_header(rs, "Content-Type", "text/plain");
    ae_response_printf(rs, "hits=%llu misses=%llu items=%llu bytes=%llu",
                       (unsigned long long)st.hits, (unsigned long long)st.misses,
                       (unsigned long long)st.items, (unsigned long long)st.bytes);
}

AE_APP(app, {"/incr", incr}, {"/racy", racy}, {"/get", get}, {"/set", set}, {"/add", add},
       {"/delete", del}, {"/flush", flush}, {"/stats", stats});
