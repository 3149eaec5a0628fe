/* test_reload.c - live reload: editing a source file rebuilds the app and new requests see the
 * change without one failed request; a compile error is shown on every request (and in the
 * log) until it is fixed; an app.yaml change (env_variables) reaches the app; a broken
 * app.yaml keeps the previous configuration serving; index.yaml (which the datastore writes)
 * reloads nothing.
 *
 * Each test edits a copy of tests/apps/echo in a temporary folder.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"

/* ---------------------------------------------------------------- helpers */

/* App copies a failed CHECK left behind are removed at exit, after the harness has stopped
 * the servers still running on them (its atexit handler is registered later, so runs first). */
static char copies[32][256];
static int n_copies;

static void remove_copies(void)
{
    for (int i = 0; i < n_copies; i++)
        if (copies[i][0])
            harness_remove_tree(copies[i]);
}

/* A copy of the echo app: `root` is the temporary folder (removed by remove_copy), `app` the
 * app directory inside it. */
typedef struct {
    char root[256];
    char app[300];
} app_copy_t;

static int copy_echo(app_copy_t *c)
{
    harness_tmpdir(c->root, sizeof c->root);
    snprintf(c->app, sizeof c->app, "%s/app", c->root);
    if (n_copies < 32) {
        if (n_copies == 0)
            atexit(remove_copies);
        snprintf(copies[n_copies++], sizeof copies[0], "%s", c->root);
    }
    return harness_copy_tree(harness_app("echo"), c->app);
}

static void remove_copy(app_copy_t *c)
{
    harness_remove_tree(c->root);
    for (int i = 0; i < n_copies; i++)
        if (strcmp(copies[i], c->root) == 0)
            copies[i][0] = '\0';
}

/* Replaces the first `from` in the file `dir/name` with `to`. Returns 0, or -1 when the file
 * or `from` is missing. */
static int edit_file(const char *dir, const char *name, const char *from, const char *to)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *text = harness_read_file(path);
    if (!text)
        return -1;
    char *at = strstr(text, from);
    if (!at) {
        free(text);
        return -1;
    }
    size_t flen = strlen(from), tlen = strlen(to), len = strlen(text);
    char *out = malloc(len - flen + tlen + 1);
    size_t pre = (size_t)(at - text);
    memcpy(out, text, pre);
    memcpy(out + pre, to, tlen);
    memcpy(out + pre + tlen, at + flen, len - pre - flen + 1);
    int rc = harness_write_file(path, out);
    free(out);
    free(text);
    return rc;
}

/* Polls `path` every 50 ms until it answers `status` with a body containing `want`, or the
 * deadline passes. Returns 0 when it did. */
static int poll_until(const harness_server_t *s, const char *path, long status, const char *want,
                      long timeout_ms)
{
    long long until = harness_now_ms() + timeout_ms;
    while (harness_now_ms() < until) {
        harness_response_t r;
        bool ok = harness_get(s, path, &r) == 0 && r.status == status && r.body &&
                  strstr(r.body, want);
        harness_response_dispose(&r);
        if (ok)
            return 0;
        harness_sleep_ms(50);
    }
    printf("# %s never answered %ld with \"%s\" within %ld ms\n", path, status, want,
           timeout_ms);
    return -1;
}

static int poll_log(const harness_server_t *s, const char *want, long timeout_ms)
{
    long long until = harness_now_ms() + timeout_ms;
    while (harness_now_ms() < until) {
        char *log = harness_log(s);
        bool ok = strstr(log, want) != NULL;
        free(log);
        if (ok)
            return 0;
        harness_sleep_ms(50);
    }
    printf("# the log never said \"%s\" within %ld ms\n", want, timeout_ms);
    return -1;
}

/* A GET that must answer 200 with exactly `want`. */
static bool get_is(const harness_server_t *s, const char *path, const char *want)
{
    harness_response_t r;
    bool ok = harness_get(s, path, &r) == 0 && r.status == 200 && r.body &&
              strcmp(r.body, want) == 0;
    if (!ok)
        printf("# GET %s: %ld \"%s\", expected 200 \"%s\"\n", path, r.status,
               r.body ? r.body : "(none)", want);
    harness_response_dispose(&r);
    return ok;
}

/* A thread that sends one path again and again until told to stop, counting answers that
 * were not 200. */
typedef struct {
    const harness_server_t *s;
    const char *path;
    atomic_int stop;
    int total, failed;
    char first_failure[512];
} hammer_t;

static void *hammer_main(void *arg)
{
    hammer_t *h = arg;
    while (!atomic_load(&h->stop)) {
        harness_response_t r;
        int rc = harness_get(h->s, h->path, &r);
        h->total++;
        if (rc != 0 || r.status != 200) {
            if (h->failed++ == 0)
                snprintf(h->first_failure, sizeof h->first_failure, "%s: rc %d, status %ld: %s",
                         h->path, rc, r.status, r.body ? r.body : "(none)");
        }
        harness_response_dispose(&r);
    }
    return NULL;
}

/* ---------------------------------------------------------------- source changes */

TEST(test_source_change_is_served_after_reload_without_a_failed_request)
{
    app_copy_t app;
    CHECK_OK(copy_echo(&app));
    harness_server_t s;
    START(&s, app.app, NULL);
    CHECK(get_is(&s, "/version", "v1"));

    hammer_t h = {.s = &s, .path = "/count"};
    hammer_t v = {.s = &s, .path = "/version"};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, hammer_main, &h) == 0);
    harness_sleep_ms(200);

    int edited = edit_file(app.app, "echo.c", "ae_response_puts(rs, \"v1\");",
                           "ae_response_puts(rs, \"v2\");");
    int seen = edited == 0 ? poll_until(&s, "/version", 200, "v2", 60000) : -1;
    /* Keep hammering while the old instance drains and the new one settles in, with a second
     * client on /version, which must say v2 from now on. */
    pthread_t tv;
    bool second = pthread_create(&tv, NULL, hammer_main, &v) == 0;
    harness_sleep_ms(800);
    atomic_store(&h.stop, 1);
    atomic_store(&v.stop, 1);
    pthread_join(th, NULL);
    if (second)
        pthread_join(tv, NULL);

    CHECK_OK(edited);
    CHECK_OK(seen);
    CHECK(second);
    printf("# %d /count requests during the reload, %d failed\n", h.total, h.failed);
    if (h.failed)
        printf("# first failure: %s\n", h.first_failure);
    CHECK(h.total > 0);
    CHECK_EQ(h.failed, 0);
    if (v.failed)
        printf("# first failure: %s\n", v.first_failure);
    CHECK_EQ(v.failed, 0);
    CHECK(get_is(&s, "/version", "v2"));
    char *log = harness_log(&s);
    bool reloaded = strstr(log, "reloaded and rebuilt") != NULL;
    free(log);
    CHECK(reloaded);
    CHECK_EQ(harness_stop(&s), 0);
    remove_copy(&app);
}

TEST(test_compile_error_is_shown_until_the_source_is_fixed)
{
    app_copy_t app;
    CHECK_OK(copy_echo(&app));
    harness_server_t s;
    START(&s, app.app, NULL);
    CHECK(get_is(&s, "/version", "v1"));

    CHECK_OK(edit_file(app.app, "echo.c", "ae_response_puts(rs, \"v1\");",
                       "ae_response_puts(rs, b_undeclared_identifier);"));
    CHECK_OK(poll_until(&s, "/version", 500, "b_undeclared_identifier", 60000));
    /* Every request to the app shows the compiler's message, not only the edited handler. */
    harness_response_t r;
    CHECK_OK(harness_get(&s, "/count", &r));
    CHECK_EQ(r.status, 500);
    CHECK_STR_CONTAINS(r.body, "error");
    CHECK_STR_CONTAINS(r.body, "b_undeclared_identifier");
    CHECK_STR_CONTAINS(r.body, "echo.c");
    harness_response_dispose(&r);
    char *log = harness_log(&s);
    CHECK_STR_CONTAINS(log, "does not compile");
    CHECK_STR_CONTAINS(log, "b_undeclared_identifier");
    free(log);

    CHECK_OK(edit_file(app.app, "echo.c", "ae_response_puts(rs, b_undeclared_identifier);",
                       "ae_response_puts(rs, \"v3\");"));
    CHECK_OK(poll_until(&s, "/version", 200, "v3", 60000));
    CHECK(get_is(&s, "/version", "v3"));
    CHECK_EQ(harness_stop(&s), 0);
    remove_copy(&app);
}

/* ---------------------------------------------------------------- app.yaml changes */

TEST(test_new_env_variable_in_app_yaml_reaches_the_app_after_reload)
{
    app_copy_t app;
    CHECK_OK(copy_echo(&app));
    harness_server_t s;
    START(&s, app.app, NULL);
    CHECK(get_is(&s, "/env?name=B_NEW", "(unset)"));
    CHECK_OK(edit_file(app.app, "app.yaml", "env_variables:\n",
                       "env_variables:\n  B_NEW: fresh value\n"));
    CHECK_OK(poll_until(&s, "/env?name=B_NEW", 200, "fresh value", 60000));
    CHECK(get_is(&s, "/env?name=B_NEW", "fresh value"));
    CHECK(get_is(&s, "/env?name=GREETING", "hello from app.yaml"));
    CHECK(get_is(&s, "/version", "v1"));
    CHECK_EQ(harness_stop(&s), 0);
    remove_copy(&app);
}

TEST(test_broken_app_yaml_keeps_the_previous_configuration_serving)
{
    app_copy_t app;
    CHECK_OK(copy_echo(&app));
    harness_server_t s;
    START(&s, app.app, NULL);
    CHECK(get_is(&s, "/env?name=GREETING", "hello from app.yaml"));

    /* A YAML syntax error, and a changed value that must not be picked up with it. */
    CHECK_OK(edit_file(app.app, "app.yaml", "GREETING: hello from app.yaml",
                       "GREETING: [broken"));
    CHECK_OK(poll_log(&s, "keeping the previous configuration", 30000));
    CHECK(get_is(&s, "/env?name=GREETING", "hello from app.yaml"));
    CHECK(get_is(&s, "/version", "v1"));
    harness_response_t r;
    CHECK_OK(harness_get(&s, "/static/hello.txt", &r));
    CHECK_EQ(r.status, 200);
    harness_response_dispose(&r);
    CHECK_LOG_CONTAINS(&s, "app.yaml");

    /* Fixing it is picked up. */
    CHECK_OK(edit_file(app.app, "app.yaml", "GREETING: [broken", "GREETING: fixed greeting"));
    CHECK_OK(poll_until(&s, "/env?name=GREETING", 200, "fixed greeting", 60000));
    CHECK_EQ(harness_stop(&s), 0);
    remove_copy(&app);
}

/* The number of times `needle` occurs in the server's log. */
static int log_count(const harness_server_t *s, const char *needle)
{
    char *log = harness_log(s);
    int n = 0;
    for (const char *p = log; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    free(log);
    return n;
}

/* A storage path inside APPDIR: every edit reloads once (the builds it writes are not changes),
 * and builds do not pile up: the current one and the one before it stay. */
TEST(test_storage_inside_the_app_is_not_watched_and_old_builds_go)
{
    app_copy_t app;
    CHECK_OK(copy_echo(&app));
    char storage[400], build[420];
    snprintf(storage, sizeof storage, "%s/storage", app.app);
    snprintf(build, sizeof build, "%s/build", storage);
    const char *const args[] = {"--storage-path", storage, NULL};
    harness_server_t s;
    START(&s, app.app, args);
    CHECK(get_is(&s, "/version", "v1"));
    static const char *const versions[] = {"v1", "v2", "v3", "v4"};
    for (int i = 1; i < 4; i++) {
        char from[64], to[64];
        snprintf(from, sizeof from, "ae_response_puts(rs, \"%s\");", versions[i - 1]);
        snprintf(to, sizeof to, "ae_response_puts(rs, \"%s\");", versions[i]);
        CHECK_OK(edit_file(app.app, "echo.c", from, to));
        CHECK_OK(poll_until(&s, "/version", 200, versions[i], 60000));
        harness_sleep_ms(500); /* a second, spurious reload would show by now */
        CHECK_EQ(log_count(&s, "change detected"), i);
    }
    int builds = 0;
    DIR *d = opendir(build);
    CHECK(d != NULL);
    for (struct dirent *e; (e = readdir(d));)
        builds += strncmp(e->d_name, "app-", 4) == 0;
    closedir(d);
    CHECK_EQ(builds, 2);
    CHECK_EQ(harness_stop(&s), 0);
    remove_copy(&app);
}

/* The datastore appends to APPDIR/index.yaml when a query needs an index: that write (a
 * temporary file renamed over it, or an edit in place) reloads nothing, while another YAML
 * file beside it still does. */
TEST(test_index_yaml_written_by_the_datastore_does_not_reload)
{
    app_copy_t app;
    CHECK_OK(copy_echo(&app));
    harness_server_t s;
    START(&s, app.app, NULL);
    CHECK(get_is(&s, "/version", "v1"));
    char index[400], tmp[420], other[400];
    snprintf(index, sizeof index, "%s/index.yaml", app.app);
    snprintf(tmp, sizeof tmp, "%s/.index.yaml.tmp.%d", app.app, 12345);
    snprintf(other, sizeof other, "%s/other.yaml", app.app);
    CHECK_OK(harness_write_file(tmp, "indexes:\n\n# AUTOGENERATED\n"));
    CHECK(rename(tmp, index) == 0);
    CHECK_OK(harness_write_file(index, "indexes:\n\n# AUTOGENERATED\n\n- kind: Greeting\n"));
    harness_sleep_ms(1000); /* the watcher settles in 20 ms: a reload would show by now */
    CHECK_EQ(log_count(&s, "change detected"), 0);

    CHECK_OK(harness_write_file(other, "a: b\n"));
    CHECK_OK(poll_log(&s, "change detected", 30000));
    CHECK(get_is(&s, "/version", "v1"));
    CHECK_EQ(harness_stop(&s), 0);
    remove_copy(&app);
}

CHECK_MAIN()
