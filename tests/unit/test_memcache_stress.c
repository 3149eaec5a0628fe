/* test_memcache_stress.c - many threads on one cache: no crash, no data race, exact counters.
 *
 * Four worker threads run a random mix of get/set/add/replace/delete/incr/cas/get_multi on a
 * small key space while a clock thread moves the cache's time forward, so items and delete
 * locks expire under the workers' feet. At the end the counters must add up exactly. The
 * iteration count shrinks under sanitizers and scales with DAS_STRESS_SCALE (a factor, e.g.
 * 0.1 or 4). A second test prints throughput with 1 and 2 threads and asserts nothing on it.
 */
#include "memcache.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"

#if defined(__SANITIZE_THREAD__)
#define SANITIZER_SLOWDOWN 4
#elif defined(__SANITIZE_ADDRESS__)
#define SANITIZER_SLOWDOWN 2
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SANITIZER_SLOWDOWN 4
#elif __has_feature(address_sanitizer)
#define SANITIZER_SLOWDOWN 2
#endif
#endif
#ifndef SANITIZER_SLOWDOWN
#define SANITIZER_SLOWDOWN 1
#endif

#define WORKERS 4
#define ITERS_PER_WORKER 200000
#define MIX_KEYS 64      /* short keys "k<n>" */
#define MIX_LONG_KEYS 4  /* 300-byte keys, stored under their SHA-1 */
#define SMALL_KEYS 256   /* keys of the small, evicting cache */
#define SMALL_CAP (64 * 1024)
#define T0 1700000000000LL

/* ---------------------------------------------------------------- shared helpers */

typedef struct {
    _Atomic int64_t now_ms;
    atomic_bool stop;
} shared_clock_t;

static int64_t clock_now(void *ctx)
{
    return atomic_load_explicit(&((shared_clock_t *)ctx)->now_ms, memory_order_relaxed);
}

static void *clock_main(void *arg)
{
    shared_clock_t *clk = arg;
    struct timespec tick = {0, 100 * 1000}; /* every 0.1 ms of real time, 0.25 s of cache time */
    while (!atomic_load(&clk->stop)) {
        atomic_fetch_add(&clk->now_ms, 250);
        nanosleep(&tick, NULL);
    }
    return NULL;
}

static long scaled(long n)
{
    const char *s = getenv("DAS_STRESS_SCALE");
    double f = s ? atof(s) : 1.0;
    long v = (long)((double)n * f / SANITIZER_SLOWDOWN);
    return v > 0 ? v : 1;
}

static uint64_t next_rand(uint64_t *s) /* xorshift64* */
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Key i of the mixed key space: short keys first, then long ones. Returns its length. */
static size_t mix_key(int i, char buf[301])
{
    if (i < MIX_KEYS)
        return (size_t)snprintf(buf, 301, "k%d", i);
    int n = snprintf(buf, 301, "L%d-", i); /* differs in the first bytes; then padding */
    memset(buf + n, 'L', (size_t)(300 - n));
    buf[300] = '\0';
    return 300;
}

/* ---------------------------------------------------------------- the mixed workload */

typedef struct {
    das_memcache_t *mc, *small;
    int id;
    long iters;
    uint64_t rng;
    uint64_t private_incrs; /* increments of this thread's own counter */
    uint64_t shared_incrs;  /* successful cas increments of the shared counter */
    uint64_t cas_retries;
    long bad;               /* status codes outside the allowed set */
    char bad_what[160];
} worker_t;

#define EXPECT(w, cond, what, rc)                                                              \
    do {                                                                                       \
        if (!(cond) && (w)->bad++ == 0)                                                        \
            snprintf((w)->bad_what, sizeof (w)->bad_what, "%s returned %d", what, rc);        \
    } while (0)

static void shared_cas_increment(worker_t *w)
{
    for (;;) {
        das_memcache_value_t v;
        int rc = das_memcache_get(w->mc, "ctr", "shared", 6, &v);
        EXPECT(w, rc == AE_OK, "get shared", rc);
        if (rc != AE_OK)
            return;
        uint64_t n = strtoull(v.data, NULL, 10);
        free(v.data);
        char text[24];
        int len = snprintf(text, sizeof text, "%" PRIu64, n + 1);
        rc = das_memcache_store(w->mc, "ctr", DAS_MEMCACHE_CAS, "shared", 6, text, (size_t)len,
                                0, 0, v.cas);
        if (rc == AE_OK) {
            w->shared_incrs++;
            return;
        }
        EXPECT(w, rc == AE_ECONTENTION, "cas shared", rc);
        if (rc != AE_ECONTENTION)
            return;
        w->cas_retries++;
    }
}

static void mixed_op(worker_t *w)
{
    uint64_t r = next_rand(&w->rng);
    char key[301], value[32];
    size_t key_len = mix_key((int)((r >> 8) % (MIX_KEYS + MIX_LONG_KEYS)), key);
    int64_t exp = (r >> 16) & 1 ? 0 : (int64_t)((r >> 17) % 3) + 1; /* none, or 1-3 s */
    int vlen = (r >> 20) & 3 ? snprintf(value, sizeof value, "%" PRIu64, (r >> 24) % 1000)
                             : snprintf(value, sizeof value, "text%d", w->id);
    das_memcache_value_t v;
    uint64_t nv, init = 5;
    int rc;

    unsigned pick = (unsigned)(r % 100); /* the op mix, in percent */
    if (pick < 25) {
        rc = das_memcache_get(w->mc, "mix", key, key_len, &v);
        EXPECT(w, rc == AE_OK || rc == AE_ENOTFOUND, "get", rc);
        free(v.data);
    } else if (pick < 40) {
        rc = das_memcache_store(w->mc, "mix", DAS_MEMCACHE_SET, key, key_len, value,
                                (size_t)vlen, (uint32_t)w->id, exp, 0);
        EXPECT(w, rc == AE_OK, "set", rc);
    } else if (pick < 50) {
        das_memcache_mode_t mode = pick < 47 ? DAS_MEMCACHE_ADD : DAS_MEMCACHE_REPLACE;
        rc = das_memcache_store(w->mc, "mix", mode, key, key_len, value, (size_t)vlen, 0, exp,
                                0);
        EXPECT(w, rc == AE_OK || rc == AE_ENOTSTORED, "add/replace", rc);
    } else if (pick < 55) {
        rc = das_memcache_delete(w->mc, "mix", key, key_len, (int64_t)((r >> 30) % 3));
        EXPECT(w, rc == AE_OK || rc == AE_ENOTFOUND, "delete", rc);
    } else if (pick < 65) {
        char name[16];
        int len = snprintf(name, sizeof name, "priv%d", w->id);
        rc = das_memcache_offset(w->mc, "ctr", name, (size_t)len, 1, NULL, &nv);
        EXPECT(w, rc == AE_OK && nv == w->private_incrs + 1, "incr private", rc);
        w->private_incrs++;
    } else if (pick < 75) {
        shared_cas_increment(w);
    } else if (pick < 83) {
        rc = das_memcache_offset(w->mc, "mix", key, key_len, (r >> 30) & 1 ? 3 : -2,
                                 (r >> 31) & 1 ? &init : NULL, &nv);
        EXPECT(w, rc == AE_OK || rc == AE_ENOTFOUND || rc == AE_EINVAL, "incr mixed", rc);
    } else if (pick < 90) {
        rc = das_memcache_get(w->mc, "mix", key, key_len, &v);
        free(v.data);
        if (rc == AE_OK) {
            rc = das_memcache_store(w->mc, "mix", DAS_MEMCACHE_CAS, key, key_len, value,
                                    (size_t)vlen, 0, exp, v.cas);
            EXPECT(w, rc == AE_OK || rc == AE_ECONTENTION || rc == AE_ENOTSTORED, "cas", rc);
        }
    } else if (pick < 94) {
        das_memcache_item_t keys[4];
        char names[4][8];
        das_memcache_value_t values[4];
        int statuses[4];
        for (int i = 0; i < 4; i++) {
            keys[i].key = names[i];
            keys[i].key_len = (size_t)snprintf(names[i], sizeof names[i], "k%d",
                                               (int)((r >> (8 * i)) % MIX_KEYS));
        }
        das_memcache_get_multi(w->mc, "mix", keys, 4, values, statuses);
        for (int i = 0; i < 4; i++) {
            EXPECT(w, statuses[i] == AE_OK || statuses[i] == AE_ENOTFOUND, "get_multi",
                   statuses[i]);
            free(values[i].data);
        }
    } else { /* the small cache: values up to 3 KB in 64 KB make it evict all the time */
        static const char filler[3000];
        char name[8];
        int len = snprintf(name, sizeof name, "s%d", (int)((r >> 8) % SMALL_KEYS));
        if ((r >> 40) & 1) {
            rc = das_memcache_store(w->small, "", DAS_MEMCACHE_SET, name, (size_t)len, filler,
                                    (size_t)((r >> 41) % sizeof filler), 0, exp, 0);
            EXPECT(w, rc == AE_OK, "set small", rc);
        } else {
            rc = das_memcache_get(w->small, "", name, (size_t)len, &v);
            EXPECT(w, rc == AE_OK || rc == AE_ENOTFOUND, "get small", rc);
            free(v.data);
        }
    }
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    for (long i = 0; i < w->iters; i++) {
        mixed_op(w);
        if (i % 5000 == 0) { /* stats sweeps every shard while the others work */
            das_memcache_stats_t st;
            das_memcache_stats(w->mc, &st);
        }
    }
    return NULL;
}

/* The number of keys of the mixed space (plus the counters) that a get finds. */
static uint64_t count_found(das_memcache_t *mc)
{
    uint64_t found = 0;
    das_memcache_value_t v;
    char key[301];
    for (int i = 0; i < MIX_KEYS + MIX_LONG_KEYS; i++) {
        size_t len = mix_key(i, key);
        if (das_memcache_get(mc, "mix", key, len, &v) == AE_OK)
            found++;
        free(v.data);
    }
    for (int i = 0; i <= WORKERS; i++) {
        int len = i < WORKERS ? snprintf(key, sizeof key, "priv%d", i)
                              : snprintf(key, sizeof key, "shared");
        if (das_memcache_get(mc, "ctr", key, (size_t)len, &v) == AE_OK)
            found++;
        free(v.data);
    }
    return found;
}

static uint64_t count_found_small(das_memcache_t *small)
{
    uint64_t found = 0;
    das_memcache_value_t v;
    char key[8];
    for (int i = 0; i < SMALL_KEYS; i++) {
        int len = snprintf(key, sizeof key, "s%d", i);
        if (das_memcache_get(small, "", key, (size_t)len, &v) == AE_OK)
            found++;
        free(v.data);
    }
    return found;
}

static uint64_t counter_value(das_memcache_t *mc, const char *key)
{
    das_memcache_value_t v;
    if (das_memcache_get(mc, "ctr", key, strlen(key), &v) != AE_OK)
        return UINT64_MAX;
    uint64_t n = strtoull(v.data, NULL, 10);
    free(v.data);
    return n;
}

TEST(test_memcache_stress_mixed_ops_keep_counters_exact)
{
    shared_clock_t clk = {.now_ms = T0, .stop = false};
    das_memcache_options_t o = {.now_ms = clock_now, .clock_ctx = &clk};
    das_memcache_t *mc = das_memcache_create(&o);
    o.max_bytes = SMALL_CAP;
    o.shards = 4;
    das_memcache_t *small = das_memcache_create(&o);
    CHECK(mc && small);

    worker_t w[WORKERS];
    pthread_t th[WORKERS], clock_th;
    char name[16];
    CHECK_OK(das_memcache_store(mc, "ctr", DAS_MEMCACHE_SET, "shared", 6, "0", 1, 0, 0, 0));
    for (int i = 0; i < WORKERS; i++) {
        int len = snprintf(name, sizeof name, "priv%d", i);
        CHECK_OK(das_memcache_store(mc, "ctr", DAS_MEMCACHE_SET, name, (size_t)len, "0", 1, 0,
                                    0, 0));
        w[i] = (worker_t){.mc = mc, .small = small, .id = i, .iters = scaled(ITERS_PER_WORKER),
                          .rng = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1)};
    }

    double t0 = seconds_now();
    CHECK_OK(pthread_create(&clock_th, NULL, clock_main, &clk));
    for (int i = 0; i < WORKERS; i++)
        CHECK_OK(pthread_create(&th[i], NULL, worker_main, &w[i]));
    for (int i = 0; i < WORKERS; i++)
        pthread_join(th[i], NULL);
    atomic_store(&clk.stop, true);
    pthread_join(clock_th, NULL);
    double elapsed = seconds_now() - t0;

    uint64_t shared = 0, retries = 0;
    for (int i = 0; i < WORKERS; i++) {
        if (w[i].bad)
            printf("#   worker %d: %ld bad statuses, first: %s\n", i, w[i].bad, w[i].bad_what);
        CHECK_EQ(w[i].bad, 0);
        snprintf(name, sizeof name, "priv%d", i);
        CHECK_EQ(counter_value(mc, name), w[i].private_incrs);
        shared += w[i].shared_incrs;
        retries += w[i].cas_retries;
    }
    CHECK_EQ(counter_value(mc, "shared"), shared);

    das_memcache_stats_t st;
    uint64_t found = count_found(mc); /* the clock is stopped: both see the same live set */
    das_memcache_stats(mc, &st);
    CHECK_EQ(st.items, found);
    found = count_found_small(small);
    das_memcache_stats(small, &st);
    CHECK_EQ(st.items, found);
    CHECK(st.bytes <= SMALL_CAP);
    printf("# %d workers x %ld ops in %.2f s; %" PRIu64 " cas increments, %" PRIu64
           " retries; cache time +%" PRId64 " s\n",
           WORKERS, w[0].iters, elapsed, shared, retries, (int64_t)((clock_now(&clk) - T0) / 1000));
    das_memcache_destroy(small);
    das_memcache_destroy(mc);
}

/* ---------------------------------------------------------------- throughput */

#define TP_KEYS 1024

typedef struct {
    das_memcache_t *mc;
    long iters;
    uint64_t rng;
} tp_worker_t;

static void *tp_main(void *arg) /* 80% get, 20% set over TP_KEYS keys */
{
    tp_worker_t *w = arg;
    char key[16];
    for (long i = 0; i < w->iters; i++) {
        uint64_t r = next_rand(&w->rng);
        int len = snprintf(key, sizeof key, "key%d", (int)((r >> 8) % TP_KEYS));
        if (r % 5 == 0) {
            das_memcache_store(w->mc, "", DAS_MEMCACHE_SET, key, (size_t)len, "some value", 10,
                               0, 0, 0);
        } else {
            das_memcache_value_t v;
            das_memcache_get(w->mc, "", key, (size_t)len, &v);
            free(v.data);
        }
    }
    return NULL;
}

static double ops_per_second(int threads, long iters)
{
    shared_clock_t clk = {.now_ms = T0};
    das_memcache_options_t o = {.now_ms = clock_now, .clock_ctx = &clk};
    das_memcache_t *mc = das_memcache_create(&o);
    tp_worker_t w[2];
    pthread_t th[2];
    double t0 = seconds_now();
    for (int i = 0; i < threads; i++) {
        w[i] = (tp_worker_t){.mc = mc, .iters = iters, .rng = 88172645463325252ull + (uint64_t)i};
        pthread_create(&th[i], NULL, tp_main, &w[i]);
    }
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    double elapsed = seconds_now() - t0;
    das_memcache_destroy(mc);
    return (double)threads * (double)iters / (elapsed > 0 ? elapsed : 1e-9);
}

TEST(test_memcache_stress_throughput_is_printed)
{
    long iters = scaled(300000);
    double one = ops_per_second(1, iters);
    double two = ops_per_second(2, iters);
    printf("# throughput (80%% get, 20%% set, 16 shards): 1 thread %.0f ops/s, 2 threads %.0f "
           "ops/s (%.2fx)\n",
           one, two, two / one);
    CHECK(one > 0 && two > 0); /* nothing is asserted about speed */
}

CHECK_MAIN()
