/* test_datastore.c - the datastore over HTTP, through the real binary: the guestbook sample's
 * pages and cursors, entries that survive a restart and a kill -9 on the same storage,
 * --clear-datastore, transactions that contend across instances (tests/apps/ds), index.yaml
 * appended without a reload, and the --require-indexes message.
 */
#include <pthread.h>
#include <signal.h>

#include "itest.h"

#define FORM "Content-Type: application/x-www-form-urlencoded"

static int sign(const harness_server_t *s, const char *content)
{
    char body[256];
    snprintf(body, sizeof body, "content=%s", content);
    const char *h[] = {FORM, NULL};
    harness_response_t r;
    int rc = harness_request(s, "POST", "/sign", h, body, strlen(body), &r);
    long status = rc == 0 ? r.status : -1;
    harness_response_dispose(&r);
    return status == 303 ? 0 : -1;
}

/* The number of greetings a page lists. */
static int greetings(const char *page)
{
    int n = 0;
    for (const char *p = page; (p = strstr(p, "<li>")); p++)
        n++;
    return n;
}

/* The cursor of a page's "Older greetings" link, copied into out ("" when none). */
static void next_cursor(const char *page, char *out, size_t cap)
{
    out[0] = '\0';
    const char *p = strstr(page, "cursor=");
    if (!p)
        return;
    p += 7;
    size_t n = strcspn(p, "\"&");
    snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), p);
}

TEST(test_guestbook_pages_newest_first_with_a_cursor)
{
    harness_server_t s;
    START(&s, harness_sample("guestbook"), NULL);
    char content[32];
    for (int i = 1; i <= 12; i++) {
        snprintf(content, sizeof content, "greeting%02d", i);
        CHECK_OK(sign(&s, content));
    }
    harness_response_t r;
    CHECK_OK(harness_get(&s, "/", &r));
    CHECK_EQ(r.status, 200);
    CHECK_EQ(greetings(r.body), 10);
    const char *first = strstr(r.body, "greeting12"), *tenth = strstr(r.body, "greeting03");
    CHECK(first && tenth && first < tenth); /* newest first */
    CHECK(!strstr(r.body, "greeting02"));
    char cursor[512], path[700];
    next_cursor(r.body, cursor, sizeof cursor);
    harness_response_dispose(&r);
    CHECK(cursor[0]);
    snprintf(path, sizeof path, "/?cursor=%s", cursor);
    CHECK_OK(harness_get(&s, path, &r));
    CHECK_EQ(r.status, 200);
    CHECK_EQ(greetings(r.body), 2);
    CHECK_STR_CONTAINS(r.body, "greeting02");
    CHECK_STR_CONTAINS(r.body, "greeting01");
    CHECK(!strstr(r.body, "Older greetings")); /* the last page */
    harness_response_dispose(&r);
    /* a cursor that is not one, and one of another query (another guestbook) */
    CHECK_OK(harness_get(&s, "/?cursor=not-a-cursor", &r));
    CHECK_EQ(r.status, 400);
    harness_response_dispose(&r);
    snprintf(path, sizeof path, "/?guestbook_name=other&cursor=%s", cursor);
    CHECK_OK(harness_get(&s, path, &r));
    CHECK_EQ(r.status, 400);
    CHECK_STR_CONTAINS(r.body, "Cursor does not match query");
    harness_response_dispose(&r);
    CHECK_EQ(harness_stop(&s), 0);
}

TEST(test_greetings_survive_a_restart_and_a_kill)
{
    char storage[256];
    harness_tmpdir(storage, sizeof storage);
    const char *args[] = {"--storage-path", storage, NULL};
    harness_server_t s;
    START(&s, harness_sample("guestbook"), args);
    CHECK_OK(sign(&s, "before-restart"));
    CHECK_EQ(harness_stop(&s), 0);

    START(&s, harness_sample("guestbook"), args);
    char body[8192];
    CHECK_EQ(harness_get_text(&s, "/", body, sizeof body), 200);
    CHECK_STR_CONTAINS(body, "before-restart");
    for (int i = 0; i < 5; i++)
        CHECK_OK(sign(&s, "before-kill"));
    /* a commit that returned survives a SIGKILL of the server */
    harness_stop_with_signal(&s, SIGKILL);

    START(&s, harness_sample("guestbook"), args);
    CHECK_EQ(harness_get_text(&s, "/", body, sizeof body), 200);
    CHECK_STR_CONTAINS(body, "before-restart");
    CHECK_EQ(greetings(body), 6);
    CHECK_EQ(harness_stop(&s), 0);

    /* --clear-datastore starts empty */
    const char *clear[] = {"--storage-path", storage, "--clear-datastore", NULL};
    START(&s, harness_sample("guestbook"), clear);
    CHECK_EQ(harness_get_text(&s, "/", body, sizeof body), 200);
    CHECK_EQ(greetings(body), 0);
    CHECK_EQ(harness_stop(&s), 0);
    harness_remove_tree(storage);
}

typedef struct {
    const harness_server_t *s;
    const char *path;
    int n, ok, contended, other;
    long pids[16];
    int n_pids;
} worker_t;

static void *incr_worker(void *arg)
{
    worker_t *w = arg;
    for (int i = 0; i < w->n; i++) {
        harness_response_t r;
        if (harness_get(w->s, w->path, &r) != 0) {
            w->other++;
            continue;
        }
        if (r.status == 200)
            w->ok++;
        else if (r.status == 409)
            w->contended++;
        else
            w->other++;
        harness_response_dispose(&r);
    }
    return NULL;
}

static long get_count(const harness_server_t *s)
{
    char body[64];
    return harness_get_text(s, "/count", body, sizeof body) == 200 ? atol(body) : -1;
}

/* 8 connections increment one counter in transactions, on several instances (the app is not
 * threadsafe): the counter ends equal to the number of commits that succeeded. */
TEST(test_transactions_contend_across_instances)
{
    harness_server_t s;
    const char *args[] = {"--max-instances", "8", NULL};
    START(&s, harness_app("ds"), args);
    worker_t w[8];
    pthread_t t[8];
    for (int i = 0; i < 8; i++) {
        w[i] = (worker_t){.s = &s, .path = "/incr?txn=1", .n = 8};
        pthread_create(&t[i], NULL, incr_worker, &w[i]);
    }
    int ok = 0, contended = 0, other = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        ok += w[i].ok;
        contended += w[i].contended;
        other += w[i].other;
    }
    CHECK_EQ(other, 0);
    CHECK(ok > 0);
    CHECK_EQ(get_count(&s), ok);
    printf("# transactional: %d committed, %d gave up after 4 attempts\n", ok, contended);
    /* the instances that served them: more than one */
    char log_needle[] = "instance=";
    char *log = harness_log(&s);
    char first[64] = "";
    bool two = false;
    for (char *p = log; (p = strstr(p, log_needle)); p++) {
        char id[64];
        snprintf(id, sizeof id, "%.40s", p + strlen(log_needle));
        id[strcspn(id, " \n")] = '\0';
        if (!first[0])
            snprintf(first, sizeof first, "%s", id);
        else if (strcmp(first, id) != 0)
            two = true;
    }
    free(log);
    CHECK(two);
    CHECK_EQ(harness_stop(&s), 0);
}

/* Without a transaction, concurrent read-modify-writes lose updates (as on the platform). */
TEST(test_updates_without_a_transaction_race)
{
    harness_server_t s;
    const char *args[] = {"--max-instances", "8", NULL};
    START(&s, harness_app("ds"), args);
    worker_t w[8];
    pthread_t t[8];
    for (int i = 0; i < 8; i++) {
        w[i] = (worker_t){.s = &s, .path = "/incr?txn=0", .n = 8};
        pthread_create(&t[i], NULL, incr_worker, &w[i]);
    }
    int ok = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        ok += w[i].ok;
    }
    CHECK_EQ(ok, 64);
    long n = get_count(&s);
    printf("# without a transaction: %ld of %d increments kept\n", n, ok);
    CHECK(n >= 1 && n <= ok);
    CHECK_EQ(harness_stop(&s), 0);
}

/* A query that needs a composite index runs, and its index is appended to index.yaml below the
 * marker, without reloading the app. */
TEST(test_index_yaml_is_written_without_a_reload)
{
    char dir[256], app[300], yaml[320];
    harness_tmpdir(dir, sizeof dir);
    snprintf(app, sizeof app, "%s/app", dir);
    snprintf(yaml, sizeof yaml, "%s/index.yaml", app);
    CHECK_OK(harness_copy_tree(harness_app("ds"), app));
    CHECK_OK(harness_write_file(yaml, "indexes:\n# my own, kept as written\n\n# AUTOGENERATED\n"));
    harness_server_t s;
    START(&s, app, NULL);
    long pid = get_pid(&s);
    CHECK(pid > 0);
    char body[256];
    CHECK_EQ(harness_get_text(&s, "/additem?cat=a&price=5", body, sizeof body), 200);
    CHECK_EQ(harness_get_text(&s, "/additem?cat=a&price=7", body, sizeof body), 200);
    CHECK_EQ(harness_get_text(&s, "/additem?cat=b&price=9", body, sizeof body), 200);
    /* non-ancestor queries are eventually consistent: wait for the commits to apply */
    long long until = harness_now_ms() + 10000;
    long status;
    while ((status = harness_get_text(&s, "/items?cat=a", body, sizeof body)) == 200 &&
           strcmp(body, "7\n5\n") != 0 && harness_now_ms() < until)
        harness_sleep_ms(50);
    CHECK_EQ(status, 200);
    CHECK_STR_EQ(body, "7\n5\n");
    char *text = harness_read_file(yaml);
    CHECK(text != NULL);
    bool kept = strncmp(text, "indexes:\n# my own, kept as written\n\n# AUTOGENERATED\n", 52) == 0;
    bool added = strstr(text, "- kind: Item\n") && strstr(text, "  - name: category\n") &&
                 strstr(text, "  - name: price\n    direction: desc\n");
    if (!kept || !added)
        printf("# index.yaml:\n%s\n", text);
    free(text);
    CHECK(kept);
    CHECK(added);
    harness_sleep_ms(700); /* longer than the watcher's settling time */
    CHECK_EQ(get_pid(&s), pid); /* the same instance: no reload */
    CHECK_EQ(harness_stop(&s), 0);
    harness_remove_tree(dir);
}

TEST(test_require_indexes_names_the_index_to_add)
{
    char dir[256], app[300];
    harness_tmpdir(dir, sizeof dir);
    snprintf(app, sizeof app, "%s/app", dir);
    CHECK_OK(harness_copy_tree(harness_app("ds"), app));
    const char *args[] = {"--require-indexes", NULL};
    harness_server_t s;
    START(&s, app, args);
    char body[2048];
    CHECK_EQ(harness_get_text(&s, "/items?cat=a", body, sizeof body), 500);
    CHECK_STR_CONTAINS(body, "This query requires a composite index that is not defined.");
    CHECK_STR_CONTAINS(body, "The suggested index for this query is:\n- kind: Item\n"
                             "  properties:\n  - name: category\n  - name: price\n"
                             "    direction: desc\n");
    char path[340];
    snprintf(path, sizeof path, "%s/index.yaml", app);
    char *text = harness_read_file(path);
    CHECK(text == NULL); /* nothing written in this mode */
    CHECK_EQ(harness_stop(&s), 0);
    harness_remove_tree(dir);
}

/* Two servers on one datastore file: the second refuses to start, naming the file. */
TEST(test_a_second_server_on_the_same_file_refuses_to_start)
{
    char storage[256];
    harness_tmpdir(storage, sizeof storage);
    const char *args[] = {"--storage-path", storage, NULL};
    harness_server_t s;
    START(&s, harness_sample("guestbook"), args);
    const char *second[] = {"--port", "0", "--storage-path", storage, harness_sample("guestbook"),
                            NULL};
    char *out = NULL;
    int rc = harness_run_until_listening(second, &out);
    int stopped = harness_stop(&s);
    CHECK_EQ(rc, 1);
    CHECK_STR_CONTAINS(out, "datastore.db is in use by another devappserver");
    free(out);
    CHECK_EQ(stopped, 0);
    harness_remove_tree(storage);
}

/* A datastore file that is not one stops start-up (exit 1), naming it and the way out. */
TEST(test_a_corrupt_datastore_file_stops_start_up)
{
    char storage[256], path[300];
    harness_tmpdir(storage, sizeof storage);
    snprintf(path, sizeof path, "%s/datastore.db", storage);
    char junk[8192];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (char)('a' + i % 26);
    junk[sizeof junk - 1] = '\0';
    CHECK_OK(harness_write_file(path, junk));
    const char *args[] = {"--port", "0", "--storage-path", storage, harness_sample("guestbook"),
                          NULL};
    char *out = NULL;
    int rc = harness_run_until_listening(args, &out);
    CHECK_EQ(rc, 1);
    CHECK_STR_CONTAINS(out, path);
    CHECK_STR_CONTAINS(out, "--clear-datastore");
    free(out);
    /* and --clear-datastore gets past it */
    const char *clear[] = {"--storage-path", storage, "--clear-datastore", NULL};
    harness_server_t s;
    START(&s, harness_sample("guestbook"), clear);
    char body[4096];
    CHECK_EQ(harness_get_text(&s, "/", body, sizeof body), 200);
    CHECK_EQ(harness_stop(&s), 0);
    harness_remove_tree(storage);
}

CHECK_MAIN()
