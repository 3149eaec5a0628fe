/* counter.c - page counters in memcache, with the races devappserver explore finds and their
 * fixes (in scenarios/): /racy reads then writes (loses updates), /incr and /cas count
 * safely; /first acts on a check it made earlier (twice), /first_fixed lets add decide;
 * /lazy fills a global lazily (built twice), /lazy_locked holds a mutex across the calls.
 * /get, /set, /add, /delete, /flush and /stats expose the rest of the API. */
#include <appengine/memcache.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *param(ae_request_t *rq, const char *name, const char *fallback)
{
    const char *v = ae_request_param(rq, name);
    return v ? v : fallback;
}

static void reply_number(ae_response_t *rs, long n)
{
    ae_response_set_header(rs, "Content-Type", "text/plain");
    ae_response_printf(rs, "%ld", n);
}

/* The counter in `key`, 0 when it is not there. */
static long get_number(ae_request_t *rq, const char *key)
{
    ae_memcache_value_t v;
    return ae_memcache_get(rq, key, &v) == AE_OK ? atol(v.data) : 0;
}

/* The bug: two requests read the same value and both write value + 1. Under concurrent
 * dispatch both can read before either writes; `devappserver explore` finds the interleaving
 * and names these two calls (lines 41 and 44) as the racing pair. */
static void racy(ae_request_t *rq, ae_response_t *rs)
{
    const char *key = param(rq, "key", "racy");
    ae_memcache_value_t v;
    long n = 0;
    char text[32];
    if (ae_memcache_get(rq, key, &v) == AE_OK)
        n = atol(v.data);
    int len = snprintf(text, sizeof text, "%ld", n + 1);
    ae_memcache_set(rq, key, text, (size_t)len, 0, 0);
    ae_response_set_header(rs, "Content-Type", "text/plain");
    ae_response_puts(rs, text);
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
    if (work > 0) { /* a sleep is a point under deterministic dispatch: only when asked */
        struct timespec ts = {work / 1000, (work % 1000) * 1000000};
        nanosleep(&ts, NULL);
    }
    uint64_t zero = 0, n = 0;
    int rc = ae_memcache_incr(rq, param(rq, "key", "hits"), 1, &zero, &n);
    if (rc != AE_OK) {
        ae_response_error(rs, 503, "memcache: %s\n", ae_strerror(rc));
        return;
    }
    ae_response_set_header(rs, "Content-Type", "text/plain");
    ae_response_printf(rs, "%llu", (unsigned long long)n);
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


/* The fix with compare-and-set: read with its cas id, write only if nobody wrote since. */
static void cas(ae_request_t *rq, ae_response_t *rs)
{
    const char *key = param(rq, "key", "counted");
    for (int attempt = 0; attempt < 10; attempt++) {
        ae_memcache_value_t v;
        int rc = ae_memcache_gets(rq, key, &v);
        char text[32];
        long n = rc == AE_OK ? atol(v.data) + 1 : 1;
        int len = snprintf(text, sizeof text, "%ld", n);
        rc = rc == AE_OK ? ae_memcache_cas(rq, key, text, (size_t)len, 0, 0, v.cas)
                         : ae_memcache_add(rq, key, text, (size_t)len, 0, 0);
        if (rc == AE_OK)
            return reply_number(rs, n);
    }
    ae_response_error(rs, 503, "too much contention on %s\n", key);
}

/* The bug: check, then act, then record. Two first visitors both get the welcome. */
static void first(ae_request_t *rq, ae_response_t *rs)
{
    ae_memcache_value_t v;
    if (ae_memcache_get(rq, "visited", &v) != AE_OK) {
        uint64_t zero = 0, n;
        ae_memcache_incr(rq, "welcomes", 1, &zero, &n);
        ae_memcache_add(rq, "visited", "1", 1, 0, 0);
        return ae_response_puts(rs, "welcome, first visitor");
    }
    ae_response_puts(rs, "welcome back");
}

/* The fix: add succeeds for exactly one request, so it is the check. */
static void first_fixed(ae_request_t *rq, ae_response_t *rs)
{
    if (ae_memcache_add(rq, "visited", "1", 1, 0, 0) == AE_OK) {
        uint64_t zero = 0, n;
        ae_memcache_incr(rq, "welcomes", 1, &zero, &n);
        return ae_response_puts(rs, "welcome, first visitor");
    }
    ae_response_puts(rs, "welcome back");
}

/* A global filled lazily from memcache: built once per instance, or so the author thought. */
static char settings[32]; /* "" until built */

static const char *load_settings(ae_request_t *rq)
{
    if (!settings[0]) {
        uint64_t zero = 0, builds;
        ae_memcache_incr(rq, "settings_builds", 1, &zero, &builds);
        snprintf(settings, sizeof settings, "theme=dark #%llu", (unsigned long long)builds);
    }
    return settings;
}

static void lazy(ae_request_t *rq, ae_response_t *rs)
{
    ae_response_puts(rs, load_settings(rq));
}

/* The fix: one mutex around the check and the build, held across the memcache call. Under
 * deterministic dispatch the second request waits for the mutex at a point of its own. */
static pthread_mutex_t settings_lock = PTHREAD_MUTEX_INITIALIZER;

static void lazy_locked(ae_request_t *rq, ae_response_t *rs)
{
    pthread_mutex_lock(&settings_lock);
    const char *s = load_settings(rq);
    pthread_mutex_unlock(&settings_lock);
    ae_response_puts(rs, s);
}

static void count(ae_request_t *rq, ae_response_t *rs)
{
    reply_number(rs, get_number(rq, param(rq, "key", "")));
}

AE_APP(app, {"/incr", incr}, {"/racy", racy}, {"/cas", cas}, {"/first", first},
       {"/first_fixed", first_fixed}, {"/lazy", lazy}, {"/lazy_locked", lazy_locked},
       {"/count", count}, {"/get", get}, {"/set", set}, {"/add", add}, {"/delete", del},
       {"/flush", flush}, {"/stats", stats});
