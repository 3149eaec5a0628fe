/* test_hardening.c - defects found by hostile input, each pinned by a test that failed before
 * its fix: files that would block the server (FIFOs), statuses an app may not set, and more. */
#include <sys/stat.h>
#include <unistd.h>

#include "itest.h"

/* A copy of the echo app in a fresh folder: `dir` gets the folder, `app` the app in it. */
static void copy_echo(char *dir, size_t dcap, char *app, size_t acap)
{
    harness_tmpdir(dir, dcap);
    snprintf(app, acap, "%s/app", dir);
    if (harness_copy_tree(harness_app("echo"), app) != 0)
        abort();
}

TEST(test_fifo_under_a_static_dir_is_404_and_does_not_wedge_the_server)
{
    char dir[256], app[300], fifo[400];
    copy_echo(dir, sizeof dir, app, sizeof app);
    snprintf(fifo, sizeof fifo, "%s/static/pipe", app);
    CHECK_OK(mkfifo(fifo, 0644));
    harness_server_t s;
    START(&s, app, NULL);
    char body[256];
    CHECK_EQ(harness_get_text(&s, "/static/pipe", body, sizeof body), 404);
    CHECK_EQ(harness_get_text(&s, "/static/hello.txt", body, sizeof body), 200);
    CHECK_EQ(harness_stop(&s), 0);
    harness_remove_tree(dir);
}

TEST(test_fifo_as_an_include_is_a_config_error_not_a_hang)
{
    NEED_OWN_SERVER();
    char dir[256], app[300], path[400];
    copy_echo(dir, sizeof dir, app, sizeof app);
    snprintf(path, sizeof path, "%s/more.yaml", app);
    CHECK_OK(mkfifo(path, 0644));
    snprintf(path, sizeof path, "%s/app.yaml", app);
    CHECK_OK(harness_write_file(path, "runtime: c\napi_version: 1\nthreadsafe: true\n"
                                      "includes:\n- more.yaml\n"
                                      "handlers:\n- url: /.*\n  script: echo.app\n"));
    char storage[320];
    snprintf(storage, sizeof storage, "%s/st", dir);
    const char *const args[] = {"--port", "0", "--storage-path", storage, app, NULL};
    char *out = NULL;
    CHECK_EQ(harness_run(args, &out), 1);
    CHECK_STR_CONTAINS(out, "more.yaml");
    CHECK_STR_CONTAINS(out, "not a regular file");
    free(out);
    harness_remove_tree(dir);
}

CHECK_MAIN()
