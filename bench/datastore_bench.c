/* datastore_bench.c - the datastore stub against raw SQLite on the same file system, for
 * bench.py. Each mode prints one line of numbers.
 *
 *   datastore_bench put DIR SECONDS SYNC     stub puts, one entity per commit: "<puts/s>"
 *   datastore_bench raw-put DIR SECONDS SYNC raw SQLite: one insert + commit: "<inserts/s>"
 *   datastore_bench get DIR SECONDS          stub gets of 1,000 stored entities: "<gets/s>"
 *   datastore_bench raw-get DIR SECONDS      raw SQLite primary-key selects: "<selects/s>"
 *   datastore_bench put100 DIR SECONDS       stub puts of 100 entities per commit: "<ents/s>"
 *   datastore_bench raw-put100 DIR SECONDS   raw SQLite: 100 inserts per commit: "<rows/s>"
 *   datastore_bench query DIR N              loads N items (price, category; 1 % "rare") with
 *                                            the time consistency policy and a background
 *                                            applier, as the server runs it, then prints
 *                                            "<first ms> <order-by-price ms> <rare ms>": the
 *                                            first query after the load, and the medians of
 *                                            20 sorted results, 200 runs each
 *   datastore_bench raw-query DIR N          the same data in one raw SQLite table with the
 *                                            two indexes the queries need: "<ms> <ms>"
 * SYNC is normal or full. Entities are about 100 bytes: a string, an int, a short text.
 */
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "datastore.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t wall_ms(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "datastore_bench: %s: %s\n", what, msg);
    exit(1);
}

static const char TEXT[] = "a greeting of some sixty bytes, as a guestbook would store it.";

static das_ds_t *open_store(const char *dir, bool sync_full, das_ds_consistency_t policy)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/datastore.db", dir);
    das_ds_options_t o = {.app = "dev~bench", .path = path, .clear = true,
                          .sync_full = sync_full, .consistency = policy,
                          .now_ms = wall_ms};
    das_ds_t *ds;
    das_ds_err_t err;
    if (das_ds_open(&o, &ds, &err) != AE_OK)
        die("open", err.msg);
    return ds;
}

/* One Item entity: key Item:id (0: incomplete), price, category, text. */
typedef struct {
    das_ds_elem_t elem;
    das_ds_prop_t props[3];
    das_ds_value_t values[3];
    das_ds_entity_t e;
} item_t;

static void item_init(item_t *it, int64_t id, int64_t price, const char *category)
{
    memset(it, 0, sizeof *it);
    it->elem = (das_ds_elem_t){"Item", id, NULL};
    it->e.key = (das_ds_key_t){.ns = "", .n = 1, .path = &it->elem};
    it->values[0] = (das_ds_value_t){.type = DAS_DS_INT, .u.i = price};
    it->values[1] = (das_ds_value_t){.type = DAS_DS_STRING,
                                     .u.s = {category, strlen(category)}};
    it->values[2] = (das_ds_value_t){.type = DAS_DS_TEXT, .u.s = {TEXT, sizeof TEXT - 1}};
    it->props[0] = (das_ds_prop_t){"price", true, false, 1, &it->values[0]};
    it->props[1] = (das_ds_prop_t){"category", true, false, 1, &it->values[1]};
    it->props[2] = (das_ds_prop_t){"text", false, false, 1, &it->values[2]};
    it->e.n = 3;
    it->e.props = it->props;
}

static uint64_t rng = 88172645463325252ull;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static const char *category_of(uint64_t r)
{
    return r % 100 == 0 ? "rare" : (r % 2 ? "common" : "usual");
}

/* ---- stub ---- */

/* Puts for `seconds` under the server's default policy (time: a commit is durable at once and
 * indexed later, in batches), then applies whatever is still pending: the rate counts all of
 * the work, the indexing included. */
static double stub_put(const char *dir, double seconds, bool full, int batch)
{
    das_ds_t *ds = open_store(dir, full, DAS_DS_CONSISTENCY_TIME);
    item_t *items = calloc((size_t)batch, sizeof *items);
    das_ds_entity_t *ents = calloc((size_t)batch, sizeof *ents);
    long n = 0;
    double t0 = now_s(), t;
    do {
        das_ds_arena_t a = {0};
        for (int i = 0; i < batch; i++) {
            item_init(&items[i], 0, (int64_t)(next_rand() % 100000), "usual");
            ents[i] = items[i].e;
        }
        das_ds_err_t err;
        if (das_ds_put(ds, NULL, ents, (size_t)batch, &a, &err) != AE_OK)
            die("put", err.msg);
        das_ds_arena_dispose(&a);
        n += batch;
        if (n % 1000 == 0)
            das_ds_apply_due(ds, 0);
        t = now_s();
    } while (t - t0 < seconds);
    das_ds_apply_all(ds);
    t = now_s();
    das_ds_close(ds);
    free(items);
    free(ents);
    return (double)n / (t - t0);
}

static double stub_get(const char *dir, double seconds)
{
    das_ds_t *ds = open_store(dir, false, DAS_DS_CONSISTENCY_CONSISTENT);
    das_ds_err_t err;
    for (int64_t id = 1; id <= 1000; id++) {
        item_t it;
        item_init(&it, id, id, "usual");
        das_ds_arena_t a = {0};
        if (das_ds_put(ds, NULL, &it.e, 1, &a, &err) != AE_OK)
            die("put", err.msg);
        das_ds_arena_dispose(&a);
    }
    long n = 0;
    double t0 = now_s(), t;
    do {
        das_ds_elem_t el = {"Item", (int64_t)(next_rand() % 1000) + 1, NULL};
        das_ds_key_t k = {.ns = "", .n = 1, .path = &el};
        das_ds_entity_t *e;
        das_ds_arena_t a = {0};
        if (das_ds_get(ds, NULL, &k, 1, &a, &e, &err) != AE_OK || !e)
            die("get", err.msg);
        das_ds_arena_dispose(&a);
        n++;
        t = now_s();
    } while (t - t0 < seconds);
    das_ds_close(ds);
    return (double)n / (t - t0);
}

typedef struct {
    das_ds_t *ds;
    atomic_bool stop;
} applier_t;

/* What the server's datastore service does in the background: applies commits as they fall
 * due. */
static void *applier(void *arg)
{
    applier_t *ap = arg;
    while (!atomic_load(&ap->stop)) {
        int64_t due = das_ds_next_due_ms(ap->ds), now = wall_ms(NULL);
        if (due <= now)
            das_ds_apply_due(ap->ds, 1000);
        else
            usleep(due - now > 50 ? 50000 : (useconds_t)(due - now) * 1000);
    }
    return NULL;
}

/* The time of one query; `any` says it must find something (the first query after a load may
 * not: its commits may not have applied yet). */
static double query_ms(das_ds_t *ds, const das_ds_query_t *q, bool any)
{
    das_ds_arena_t a = {0};
    das_ds_result_t r;
    das_ds_err_t err;
    double t0 = now_s();
    if (das_ds_run_query(ds, NULL, q, &a, &r, &err) != AE_OK)
        die("query", err.msg);
    double ms = (now_s() - t0) * 1000;
    if (any && r.n == 0)
        die("query", "no results");
    das_ds_arena_dispose(&a);
    return ms;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median_of(das_ds_t *ds, const das_ds_query_t *q, int runs)
{
    double *t = calloc((size_t)runs, sizeof *t);
    for (int i = 0; i < runs; i++)
        t[i] = query_ms(ds, q, true);
    qsort(t, (size_t)runs, sizeof *t, cmp_double);
    double m = t[runs / 2];
    free(t);
    return m;
}

static void stub_query(const char *dir, long n)
{
    das_ds_t *ds = open_store(dir, false, DAS_DS_CONSISTENCY_TIME);
    das_ds_order_t by_price = {"price", false};
    das_ds_value_t rare = {.type = DAS_DS_STRING, .u.s = {"rare", 4}};
    das_ds_filter_t is_rare = {"category", DAS_DS_EQ, 1, &rare};
    das_ds_query_t q1 = {.kind = "Item", .n_orders = 1, .orders = &by_price, .limit = 20};
    das_ds_query_t q2 = {.kind = "Item", .n_filters = 1, .filters = &is_rare, .n_orders = 1,
                         .orders = &by_price, .limit = 20};
    das_ds_arena_t a = {0};
    das_ds_result_t r;
    das_ds_err_t err;
    /* the composite index exists before the load, as when index.yaml lists it */
    if (das_ds_run_query(ds, NULL, &q2, &a, &r, &err) != AE_OK)
        die("query", err.msg);
    das_ds_arena_dispose(&a);
    applier_t ap = {.ds = ds};
    pthread_t th;
    pthread_create(&th, NULL, applier, &ap);
    enum { BATCH = 100 };
    item_t items[BATCH];
    das_ds_entity_t ents[BATCH];
    for (long done = 0; done < n; done += BATCH) {
        int m = n - done < BATCH ? (int)(n - done) : BATCH;
        for (int i = 0; i < m; i++) {
            uint64_t r1 = next_rand();
            item_init(&items[i], 0, (int64_t)(r1 % 1000000), category_of(r1 >> 20));
            ents[i] = items[i].e;
        }
        if (das_ds_put(ds, NULL, ents, (size_t)m, &a, &err) != AE_OK)
            die("put", err.msg);
        das_ds_arena_dispose(&a);
    }
    double first = query_ms(ds, &q1, false);
    usleep(300000); /* the commits fall due; the applier catches up */
    double m1 = median_of(ds, &q1, 200), m2 = median_of(ds, &q2, 200);
    atomic_store(&ap.stop, true);
    pthread_join(th, NULL);
    printf("%.3f %.3f %.3f\n", first, m1, m2);
    das_ds_close(ds);
}

/* ---- raw SQLite ---- */

static sqlite3 *raw_open(const char *dir, bool full)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/raw.db", dir);
    unlink(path);
    sqlite3 *db;
    if (sqlite3_open(path, &db) != SQLITE_OK)
        die("raw open", sqlite3_errmsg(db));
    char sql[512];
    snprintf(sql, sizeof sql,
             "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s;"
             "CREATE TABLE items(id INTEGER PRIMARY KEY, price INTEGER, category TEXT, "
             "data BLOB);"
             "CREATE INDEX by_price ON items(price);"
             "CREATE INDEX by_category_price ON items(category, price);",
             full ? "FULL" : "NORMAL");
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
        die("raw schema", sqlite3_errmsg(db));
    return db;
}

static double raw_put(const char *dir, double seconds, bool full, int batch)
{
    sqlite3 *db = raw_open(dir, full);
    sqlite3_stmt *ins;
    sqlite3_prepare_v2(db, "INSERT INTO items(price, category, data) VALUES(?1, ?2, ?3)", -1,
                       &ins, NULL);
    long n = 0;
    double t0 = now_s(), t;
    do {
        sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
        for (int i = 0; i < batch; i++) {
            sqlite3_bind_int64(ins, 1, (int64_t)(next_rand() % 100000));
            sqlite3_bind_text(ins, 2, "usual", -1, SQLITE_STATIC);
            sqlite3_bind_blob(ins, 3, TEXT, sizeof TEXT - 1, SQLITE_STATIC);
            if (sqlite3_step(ins) != SQLITE_DONE)
                die("raw insert", sqlite3_errmsg(db));
            sqlite3_reset(ins);
        }
        if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
            die("raw commit", sqlite3_errmsg(db));
        n += batch;
        t = now_s();
    } while (t - t0 < seconds);
    sqlite3_finalize(ins);
    sqlite3_close(db);
    return (double)n / (t - t0);
}

static double raw_get(const char *dir, double seconds)
{
    sqlite3 *db = raw_open(dir, false);
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    for (int i = 1; i <= 1000; i++) {
        char sql[200];
        snprintf(sql, sizeof sql, "INSERT INTO items VALUES(%d, %d, 'usual', '%s')", i, i, TEXT);
        sqlite3_exec(db, sql, NULL, NULL, NULL);
    }
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    sqlite3_stmt *sel;
    sqlite3_prepare_v2(db, "SELECT price, category, data FROM items WHERE id=?1", -1, &sel,
                       NULL);
    long n = 0;
    double t0 = now_s(), t;
    do {
        sqlite3_bind_int64(sel, 1, (int64_t)(next_rand() % 1000) + 1);
        if (sqlite3_step(sel) != SQLITE_ROW)
            die("raw get", sqlite3_errmsg(db));
        sqlite3_reset(sel);
        n++;
        t = now_s();
    } while (t - t0 < seconds);
    sqlite3_finalize(sel);
    sqlite3_close(db);
    return (double)n / (t - t0);
}

static double raw_query_ms(sqlite3_stmt *st)
{
    double t0 = now_s();
    int rows = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        (void)sqlite3_column_blob(st, 3);
        rows++;
    }
    sqlite3_reset(st);
    if (!rows)
        die("raw query", "no results");
    return (now_s() - t0) * 1000;
}

static void raw_query(const char *dir, long n)
{
    sqlite3 *db = raw_open(dir, false);
    sqlite3_stmt *ins;
    sqlite3_prepare_v2(db, "INSERT INTO items(price, category, data) VALUES(?1, ?2, ?3)", -1,
                       &ins, NULL);
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    for (long i = 0; i < n; i++) {
        uint64_t r1 = next_rand();
        sqlite3_bind_int64(ins, 1, (int64_t)(r1 % 1000000));
        sqlite3_bind_text(ins, 2, category_of(r1 >> 20), -1, SQLITE_STATIC);
        sqlite3_bind_blob(ins, 3, TEXT, sizeof TEXT - 1, SQLITE_STATIC);
        sqlite3_step(ins);
        sqlite3_reset(ins);
    }
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    sqlite3_finalize(ins);
    sqlite3_stmt *q1, *q2;
    sqlite3_prepare_v2(db, "SELECT id, price, category, data FROM items ORDER BY price LIMIT 20",
                       -1, &q1, NULL);
    sqlite3_prepare_v2(db, "SELECT id, price, category, data FROM items WHERE category='rare' "
                           "ORDER BY price LIMIT 20",
                       -1, &q2, NULL);
    double t1[200], t2[200];
    for (int i = 0; i < 200; i++) {
        t1[i] = raw_query_ms(q1);
        t2[i] = raw_query_ms(q2);
    }
    qsort(t1, 200, sizeof *t1, cmp_double);
    qsort(t2, 200, sizeof *t2, cmp_double);
    printf("%.4f %.4f\n", t1[100], t2[100]);
    sqlite3_finalize(q1);
    sqlite3_finalize(q2);
    sqlite3_close(db);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: datastore_bench MODE DIR SECONDS|N [normal|full]\n");
        return 2;
    }
    const char *mode = argv[1], *dir = argv[2];
    double x = atof(argv[3]);
    bool full = argc > 4 && strcmp(argv[4], "full") == 0;
    if (strcmp(mode, "put") == 0)
        printf("%.1f\n", stub_put(dir, x, full, 1));
    else if (strcmp(mode, "raw-put") == 0)
        printf("%.1f\n", raw_put(dir, x, full, 1));
    else if (strcmp(mode, "put100") == 0)
        printf("%.1f\n", stub_put(dir, x, full, 100));
    else if (strcmp(mode, "raw-put100") == 0)
        printf("%.1f\n", raw_put(dir, x, full, 100));
    else if (strcmp(mode, "get") == 0)
        printf("%.1f\n", stub_get(dir, x));
    else if (strcmp(mode, "raw-get") == 0)
        printf("%.1f\n", raw_get(dir, x));
    else if (strcmp(mode, "query") == 0)
        stub_query(dir, (long)x);
    else if (strcmp(mode, "raw-query") == 0)
        raw_query(dir, (long)x);
    else
        die("mode", mode);
    return 0;
}
