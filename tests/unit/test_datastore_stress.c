/* test_datastore_stress.c - many threads on one file-backed datastore: no crash, no data race
 * (it runs under ThreadSanitizer: scripts/test --tsan), and the counts add up.
 *
 * Eight threads increment one counter entity in transactions, retrying on contention up to
 * four attempts as ndb does, while a ninth runs global queries and gets alongside. At the end
 * the counter equals the number of commits that returned AE_OK. A second test does the same
 * read-modify-write without transactions and reports how many updates it lost (the old server
 * lost 74 %): it only asserts that the counter is not above the attempts. The clock is a
 * counter that every read moves by 1 ms, so the "time" policy's pending commits come due while
 * the threads run. DAS_STRESS_SCALE (a factor) scales the work.
 */
#include "datastore.h"

#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

#define THREADS 8
#define INCREMENTS_PER_THREAD 25 /* 200 in all */
#define ATTEMPTS 4               /* ndb: 3 retries */
#define T0 1700000000000LL

static long scaled(long n)
{
    const char *s = getenv("DAS_STRESS_SCALE");
    double f = s ? atof(s) : 1.0;
    long v = (long)((double)n * f / SANITIZER_SLOWDOWN);
    return v > 0 ? v : 1;
}

/* ---------------------------------------------------------------- fixtures */

static char g_dir[PATH_MAX];

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void remove_dir(void)
{
    if (g_dir[0])
        nftw(g_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    g_dir[0] = '\0';
}

static const char *new_dir(void)
{
    static int registered;
    if (!registered) {
        atexit(remove_dir);
        registered = 1;
    }
    remove_dir();
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/das-ds-stress-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_dir)) {
        g_dir[0] = '\0';
        return NULL;
    }
    return g_dir;
}

static _Atomic int64_t g_clock = T0;

static int64_t ticking_now(void *ctx)
{
    (void)ctx;
    return atomic_fetch_add(&g_clock, 1);
}

static das_ds_t *open_file_store(char *path, size_t size)
{
    if (!new_dir())
        return NULL;
    snprintf(path, size, "%s/datastore.db", g_dir);
    das_ds_options_t o = {.app = "dev~stress",
                          .path = path,
                          .ids = DAS_DS_IDS_SEQUENTIAL,
                          .consistency = DAS_DS_CONSISTENCY_TIME,
                          .seed = 7,
                          .now_ms = ticking_now};
    das_ds_t *ds = NULL;
    das_ds_err_t err;
    if (das_ds_open(&o, &ds, &err) != AE_OK) {
        printf("#   das_ds_open: %s\n", err.msg);
        return NULL;
    }
    return ds;
}

static das_ds_key_t counter_key(das_ds_elem_t *elem)
{
    *elem = (das_ds_elem_t){"Counter", 0, "c"};
    return (das_ds_key_t){.ns = "", .n = 1, .path = elem};
}

/* The counter's value in `e` (0 when there is none). */
static int64_t count_of(const das_ds_entity_t *e)
{
    if (!e)
        return 0;
    for (size_t i = 0; i < e->n; i++)
        if (strcmp(e->props[i].name, "n") == 0 && e->props[i].n == 1)
            return e->props[i].values[0].u.i;
    return -1;
}

/* Writes n into the counter (inside txn when there is one). */
static int put_count(das_ds_t *ds, das_ds_txn_t *txn, int64_t n, das_ds_err_t *err)
{
    das_ds_elem_t elem;
    das_ds_value_t v = {.type = DAS_DS_INT, .u.i = n};
    das_ds_prop_t p = {.name = "n", .indexed = true, .n = 1, .values = &v};
    das_ds_entity_t e = {.key = counter_key(&elem), .n = 1, .props = &p};
    das_ds_arena_t a = {0};
    int rc = das_ds_put(ds, txn, &e, 1, &a, err);
    das_ds_arena_dispose(&a);
    return rc;
}

/* ---------------------------------------------------------------- workers */

typedef struct {
    das_ds_t *ds;
    bool transactional;
    long increments;
    long ok, gave_up, errors, contentions;
    char first_error[256];
} worker_t;

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    das_ds_elem_t elem;
    das_ds_key_t k = counter_key(&elem);
    for (long i = 0; i < w->increments; i++) {
        bool done = false;
        for (int attempt = 0; attempt < ATTEMPTS && !done; attempt++) {
            das_ds_arena_t a = {0};
            das_ds_err_t err;
            das_ds_txn_t *txn = NULL;
            das_ds_entity_t *e = NULL;
            int rc = w->transactional ? das_ds_begin(w->ds, NULL, &txn) : AE_OK;
            if (rc == AE_OK)
                rc = das_ds_get(w->ds, txn, &k, 1, &a, &e, &err);
            if (rc == AE_OK)
                rc = put_count(w->ds, txn, count_of(e) + 1, &err);
            if (txn) {
                if (rc == AE_OK)
                    rc = das_ds_commit(w->ds, txn, &err); /* frees it */
                else
                    das_ds_rollback(w->ds, txn);
            }
            das_ds_arena_dispose(&a);
            if (rc == AE_OK) {
                w->ok++;
                done = true;
            } else if (rc == AE_ECONTENTION) {
                w->contentions++;
            } else {
                if (!w->errors++)
                    snprintf(w->first_error, sizeof w->first_error, "%d %.200s", rc, err.msg);
                done = true;
            }
        }
        if (!done)
            w->gave_up++;
    }
    return NULL;
}

/* Reads alongside the writers: global queries (applying what is due), gets, and stats. */
typedef struct {
    das_ds_t *ds;
    atomic_bool stop;
    long queries, errors;
} reader_t;

static void *reader_main(void *arg)
{
    reader_t *r = arg;
    das_ds_elem_t elem;
    das_ds_key_t k = counter_key(&elem);
    while (!atomic_load(&r->stop)) {
        das_ds_arena_t a = {0};
        das_ds_err_t err;
        das_ds_query_t q = {.kind = "Counter", .limit = -1};
        das_ds_result_t res;
        if (das_ds_run_query(r->ds, NULL, &q, &a, &res, &err) != AE_OK)
            r->errors++;
        das_ds_entity_t *e;
        if (das_ds_get(r->ds, NULL, &k, 1, &a, &e, &err) != AE_OK)
            r->errors++;
        das_ds_apply_due(r->ds, 8);
        (void)das_ds_next_due_ms(r->ds);
        das_ds_stats_t st;
        das_ds_stats(r->ds, &st);
        das_ds_arena_dispose(&a);
        r->queries++;
    }
    return NULL;
}

typedef struct {
    long ok, gave_up, errors, contentions, attempts;
    int64_t counter;
    char first_error[256];
} totals_t;

static int run_workers(bool transactional, totals_t *t)
{
    memset(t, 0, sizeof *t);
    char path[PATH_MAX + 32];
    das_ds_t *ds = open_file_store(path, sizeof path);
    if (!ds)
        return -1;
    das_ds_err_t err;
    if (put_count(ds, NULL, 0, &err) != AE_OK)
        return -1;
    worker_t w[THREADS];
    pthread_t th[THREADS], rt;
    reader_t r = {.ds = ds};
    pthread_create(&rt, NULL, reader_main, &r);
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker_t){.ds = ds, .transactional = transactional,
                          .increments = scaled(INCREMENTS_PER_THREAD)};
        pthread_create(&th[i], NULL, worker_main, &w[i]);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        t->ok += w[i].ok;
        t->gave_up += w[i].gave_up;
        t->errors += w[i].errors;
        t->contentions += w[i].contentions;
        t->attempts += w[i].increments;
        if (w[i].errors && !t->first_error[0])
            memcpy(t->first_error, w[i].first_error, sizeof t->first_error);
    }
    atomic_store(&r.stop, true);
    pthread_join(rt, NULL);
    t->errors += r.errors;
    /* what a fresh open of the file says (every pending commit applied at close) */
    das_ds_close(ds);
    das_ds_options_t o = {.app = "dev~stress", .path = path, .now_ms = ticking_now};
    if (das_ds_open(&o, &ds, &err) != AE_OK)
        return -1;
    das_ds_elem_t elem;
    das_ds_key_t k = counter_key(&elem);
    das_ds_arena_t a = {0};
    das_ds_entity_t *e = NULL;
    int rc = das_ds_get(ds, NULL, &k, 1, &a, &e, &err);
    t->counter = count_of(e);
    das_ds_arena_dispose(&a);
    das_ds_close(ds);
    return rc;
}

/* ---------------------------------------------------------------- tests */

TEST(test_datastore_stress_transactional_increments_add_up)
{
    totals_t t;
    CHECK_OK(run_workers(true, &t));
    printf("#   %ld increments: %ld committed, %ld gave up after %d attempts, %ld contentions\n",
           t.attempts, t.ok, t.gave_up, ATTEMPTS, t.contentions);
    if (t.errors)
        printf("#   first error: %s\n", t.first_error);
    CHECK_EQ(t.errors, 0);
    CHECK_EQ(t.ok + t.gave_up, t.attempts);
    CHECK_EQ(t.counter, t.ok);
    CHECK(t.ok > 0);
}

TEST(test_datastore_stress_non_transactional_increments_lose_updates)
{
    totals_t t;
    CHECK_OK(run_workers(false, &t));
    printf("#   %ld read-modify-writes without a transaction: the counter says %lld (%.0f %% "
           "lost)\n",
           t.attempts, (long long)t.counter,
           t.attempts ? 100.0 * (double)(t.attempts - t.counter) / (double)t.attempts : 0.0);
    CHECK_EQ(t.errors, 0);
    CHECK_EQ(t.ok, t.attempts); /* no contention outside a transaction */
    CHECK(t.counter >= 1 && t.counter <= t.attempts);
}

CHECK_MAIN()
