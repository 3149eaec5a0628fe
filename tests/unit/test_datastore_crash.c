/* test_datastore_crash.c - a datastore commit that returned survives a SIGKILL.
 *
 * A child process opens the store and commits without pause (new entities, and transactional
 * updates of a counter), writing the number of each commit to a pipe as soon as it returns. The
 * parent kills it with SIGKILL after a random moment, 50 rounds on the same file. After each
 * round the store must open, hold every acknowledged entity and the counter at least at its
 * last acknowledged value, and pass PRAGMA integrity_check.
 *
 * A full disk (a file size limit, RLIMIT_FSIZE, in a child) fails a put with AE_EIO and leaves
 * what was stored before intact.
 */
#include "datastore.h"

#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

#define ROUNDS 50

static int64_t wall_ms(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int open_with(const char *path, das_ds_consistency_t policy, das_ds_t **ds,
                     das_ds_err_t *err)
{
    das_ds_options_t o = {.app = "dev~crash", .path = path, .ids = DAS_DS_IDS_SEQUENTIAL,
                          .consistency = policy, .now_ms = wall_ms};
    return das_ds_open(&o, ds, err);
}

static int open_store(const char *path, das_ds_t **ds, das_ds_err_t *err)
{
    return open_with(path, DAS_DS_CONSISTENCY_TIME, ds, err);
}

/* Item:id with a property n = id; the counter Counter:c with n. */
static das_ds_entity_t *entity(das_ds_arena_t *a, const char *kind, int64_t id,
                               const char *name, int64_t n)
{
    das_ds_entity_t *e = das_ds_alloc(a, sizeof *e);
    das_ds_elem_t *el = das_ds_alloc(a, sizeof *el);
    *el = (das_ds_elem_t){kind, id, name};
    e->key = (das_ds_key_t){.ns = "", .n = 1, .path = el};
    das_ds_prop_t *p = das_ds_alloc(a, sizeof *p);
    das_ds_value_t *v = das_ds_alloc(a, sizeof *v);
    *v = (das_ds_value_t){.type = DAS_DS_INT, .u.i = n};
    *p = (das_ds_prop_t){"n", true, false, 1, v};
    e->n = 1;
    e->props = p;
    return e;
}

static int64_t counter_of(das_ds_t *ds, das_ds_txn_t *txn, das_ds_arena_t *a)
{
    das_ds_elem_t el = {"Counter", 0, "c"};
    das_ds_key_t k = {.ns = "", .n = 1, .path = &el};
    das_ds_entity_t *e = NULL;
    das_ds_err_t err;
    if (das_ds_get(ds, txn, &k, 1, a, &e, &err) != AE_OK)
        return -1;
    return e ? e->props[0].values[0].u.i : 0;
}

/* The child: commits forever, acknowledging each on `fd` as "I <id>\n" or "C <n>\n". */
static void committer(const char *path, int fd, int64_t first_id)
{
    das_ds_t *ds;
    das_ds_err_t err;
    if (open_store(path, &ds, &err) != AE_OK) {
        dprintf(fd, "E %s\n", err.msg);
        _exit(1);
    }
    for (int64_t id = first_id;; id++) {
        das_ds_arena_t a = {0};
        if (id % 3 == 0) {
            das_ds_txn_t *txn;
            das_ds_begin(ds, NULL, &txn);
            int64_t n = counter_of(ds, txn, &a) + 1;
            das_ds_entity_t *c = entity(&a, "Counter", 0, "c", n);
            if (das_ds_put(ds, txn, c, 1, &a, &err) == AE_OK &&
                das_ds_commit(ds, txn, &err) == AE_OK)
                dprintf(fd, "C %lld\n", (long long)n);
        } else if (das_ds_put(ds, NULL, entity(&a, "Item", id, NULL, id), 1, &a, &err) ==
                   AE_OK) {
            dprintf(fd, "I %lld\n", (long long)id);
        }
        das_ds_arena_dispose(&a);
    }
}

TEST(test_acknowledged_commits_survive_sigkill)
{
    char dir[] = "/tmp/das-crash-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256];
    snprintf(path, sizeof path, "%s/datastore.db", dir);
    srand(12345);
    int64_t next_id = 1, acked_counter = 0;
    int64_t *acked = NULL;
    size_t n_acked = 0, cap = 0;
    for (int round = 0; round < ROUNDS; round++) {
        int fds[2];
        CHECK_EQ(pipe(fds), 0);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            committer(path, fds[1], next_id);
        }
        close(fds[1]);
        usleep(20000 + (useconds_t)(rand() % 80000));
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        FILE *in = fdopen(fds[0], "r");
        char line[4200];
        while (fgets(line, sizeof line, in)) {
            long long v;
            if (line[0] == 'E')
                CHECK_FAIL_("the child could not open the store: %s", line + 2);
            if (sscanf(line + 2, "%lld", &v) != 1)
                continue; /* a line cut by the kill */
            if (line[0] == 'I') {
                if (n_acked == cap) {
                    cap = cap ? cap * 2 : 1024;
                    acked = realloc(acked, cap * sizeof *acked);
                }
                acked[n_acked++] = v;
                if (v >= next_id)
                    next_id = v + 1;
            } else if (line[0] == 'C' && v > acked_counter) {
                acked_counter = v;
            }
        }
        fclose(in);
        next_id += 3; /* past anything the child may have written unacknowledged */

        das_ds_t *ds;
        das_ds_err_t err;
        int rc = open_store(path, &ds, &err);
        if (rc != AE_OK)
            CHECK_FAIL_("round %d: the store does not open: %s", round, err.msg);
        das_ds_arena_t a = {0};
        for (size_t i = 0; i < n_acked; i++) {
            das_ds_elem_t el = {"Item", acked[i], NULL};
            das_ds_key_t k = {.ns = "", .n = 1, .path = &el};
            das_ds_entity_t *e = NULL;
            CHECK_EQ(das_ds_get(ds, NULL, &k, 1, &a, &e, &err), AE_OK);
            if (!e)
                CHECK_FAIL_("round %d: acknowledged Item:%lld is gone", round,
                            (long long)acked[i]);
        }
        int64_t c = counter_of(ds, NULL, &a);
        if (c < acked_counter)
            CHECK_FAIL_("round %d: the counter is %lld, %lld was acknowledged", round,
                        (long long)c, (long long)acked_counter);
        das_ds_arena_dispose(&a);
        das_ds_close(ds);

        sqlite3 *db;
        CHECK_EQ(sqlite3_open(path, &db), SQLITE_OK);
        sqlite3_stmt *st;
        CHECK_EQ(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
        CHECK_EQ(sqlite3_step(st), SQLITE_ROW);
        char result[256];
        snprintf(result, sizeof result, "%s", (const char *)sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
        sqlite3_close(db);
        CHECK_STR_EQ(result, "ok");
    }
    printf("# %d rounds, %zu acknowledged puts and the counter at %lld survived\n", ROUNDS,
           n_acked, (long long)acked_counter);
    CHECK(n_acked > ROUNDS); /* the child did commit between the kills */
    free(acked);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK_EQ(system(cmd), 0);
}

/* The child of the full-disk test: stores 20 entities, then limits its files to their size plus
 * a little and puts 100 KB entities until one fails; exits 0 when that failure was AE_EIO and
 * the first 20 still read back. (Consistent: with commits pending, a get applies them first,
 * which a full disk refuses too.) */
static int fill_the_disk(const char *path)
{
    das_ds_t *ds;
    das_ds_err_t err;
    if (open_with(path, DAS_DS_CONSISTENCY_CONSISTENT, &ds, &err) != AE_OK)
        return 10;
    das_ds_arena_t a = {0};
    for (int64_t id = 1; id <= 20; id++)
        if (das_ds_put(ds, NULL, entity(&a, "Item", id, NULL, id), 1, &a, &err) != AE_OK)
            return 11;
    signal(SIGXFSZ, SIG_IGN); /* a write past the limit fails with EFBIG instead */
    char wal[300];
    snprintf(wal, sizeof wal, "%s-wal", path);
    struct stat st1, st2;
    off_t biggest = 0;
    if (stat(path, &st1) == 0)
        biggest = st1.st_size;
    if (stat(wal, &st2) == 0 && st2.st_size > biggest)
        biggest = st2.st_size;
    struct rlimit rl = {(rlim_t)biggest + 512 * 1024, (rlim_t)biggest + 512 * 1024};
    if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
        return 12;
    static char blob[100000];
    memset(blob, 'x', sizeof blob);
    int rc = AE_OK;
    for (int64_t id = 1000; id < 1100 && rc == AE_OK; id++) {
        das_ds_entity_t *e = entity(&a, "Big", id, NULL, id);
        das_ds_value_t *v = das_ds_alloc(&a, sizeof *v);
        *v = (das_ds_value_t){.type = DAS_DS_BLOB, .u.s = {blob, sizeof blob}};
        das_ds_prop_t *p = das_ds_alloc(&a, 2 * sizeof *p);
        p[0] = e->props[0];
        p[1] = (das_ds_prop_t){"b", false, false, 1, v};
        e->props = p;
        e->n = 2;
        rc = das_ds_put(ds, NULL, e, 1, &a, &err);
    }
    if (rc != AE_EIO) {
        fprintf(stderr, "the put past the limit returned %d: %s\n", rc, err.msg);
        return 13;
    }
    fprintf(stderr, "past the limit: %s\n", err.msg);
    for (int64_t id = 1; id <= 20; id++) {
        das_ds_elem_t el = {"Item", id, NULL};
        das_ds_key_t k = {.ns = "", .n = 1, .path = &el};
        das_ds_entity_t *e = NULL;
        if (das_ds_get(ds, NULL, &k, 1, &a, &e, &err) != AE_OK || !e ||
            e->props[0].values[0].u.i != id)
            return 14;
    }
    return 0;
}

TEST(test_a_full_disk_is_eio_and_loses_nothing)
{
    char dir[] = "/tmp/das-full-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256];
    snprintf(path, sizeof path, "%s/datastore.db", dir);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0)
        _exit(fill_the_disk(path));
    int status;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status));
    CHECK_EQ(WEXITSTATUS(status), 0);
    /* without the limit, the store opens whole */
    das_ds_t *ds;
    das_ds_err_t err;
    CHECK_EQ(open_store(path, &ds, &err), AE_OK);
    das_ds_arena_t a = {0};
    for (int64_t id = 1; id <= 20; id++) {
        das_ds_elem_t el = {"Item", id, NULL};
        das_ds_key_t k = {.ns = "", .n = 1, .path = &el};
        das_ds_entity_t *e = NULL;
        CHECK_EQ(das_ds_get(ds, NULL, &k, 1, &a, &e, &err), AE_OK);
        CHECK(e != NULL);
    }
    das_ds_arena_dispose(&a);
    das_ds_close(ds);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK_EQ(system(cmd), 0);
}

CHECK_MAIN()
