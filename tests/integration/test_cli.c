/* test_cli.c - the command line a user types: --help and --version, usage errors (exit 2 with a
 * message saying what is wrong), start-up errors (exit 1), and the accepted spellings of a
 * start (the `serve` subcommand, APPDIR given as the path of app.yaml, --dispatch serial). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"

/* ---------------------------------------------------------------- helpers */

/* Runs the binary with `args` and checks it failed with `status` and said `needle`. */
#define CHECK_RUN_FAILS(status, needle, ...)                                                   \
    do {                                                                                       \
        const char *const run_args_[] = {__VA_ARGS__, NULL};                                   \
        char *run_out_ = NULL;                                                                 \
        int run_rc_ = harness_run(run_args_, &run_out_);                                       \
        if (run_rc_ != (status) || !strstr(run_out_, (needle))) {                              \
            fprintf(stdout, "#   exit status %d, output:\n%s\n", run_rc_, run_out_);           \
            free(run_out_);                                                                    \
            run_out_ = NULL;                                                                   \
            CHECK_EQ(run_rc_, (status));                                                       \
            CHECK_STR_CONTAINS("(see output above)", (needle));                                \
        }                                                                                      \
        free(run_out_);                                                                        \
    } while (0)

/* ---------------------------------------------------------------- help and version */

TEST(test_cli_help_exits_0_and_lists_the_options)
{
    const char *const args[] = {"--help", NULL};
    char *out = NULL;
    int rc = harness_run(args, &out);
    if (rc != 0)
        fprintf(stdout, "# output:\n%s\n", out);
    CHECK_EQ(rc, 0);
    CHECK_STR_CONTAINS(out, "usage: devappserver");
    CHECK_STR_CONTAINS(out, "APPDIR");
    static const char *const options[] = {
        "--host", "--port ", "--port-file", "--storage-path", "--dispatch", "--max-instances",
        "--max-concurrent-requests", "--request-deadline", "--no-reload", "--log-level",
        "--help", "--version", NULL};
    for (int i = 0; options[i]; i++)
        CHECK_STR_CONTAINS(out, options[i]);
    free(out);

    const char *const short_args[] = {"-h", NULL};
    rc = harness_run(short_args, &out);
    CHECK_EQ(rc, 0);
    CHECK_STR_CONTAINS(out, "--port-file");
    free(out);
}

TEST(test_cli_version_exits_0_and_names_the_program)
{
    const char *const args[] = {"--version", NULL};
    char *out = NULL;
    int rc = harness_run(args, &out);
    CHECK_EQ(rc, 0);
    CHECK(strncmp(out, "devappserver ", 13) == 0);
    CHECK(strlen(out) > 14); /* a version follows */
    free(out);
}

/* ---------------------------------------------------------------- usage errors: exit 2 */

TEST(test_cli_missing_appdir_is_a_usage_error)
{
    const char *const args[] = {NULL};
    char *out = NULL;
    int rc = harness_run(args, &out);
    CHECK_EQ(rc, 2);
    CHECK_STR_CONTAINS(out, "missing APPDIR");
    CHECK_STR_CONTAINS(out, "--help");
    free(out);
    /* Options but still no APPDIR. */
    CHECK_RUN_FAILS(2, "missing APPDIR", "--port", "0");
}

TEST(test_cli_unknown_option_is_a_usage_error_naming_it)
{
    CHECK_RUN_FAILS(2, "unknown option '--bogus'", "--bogus", harness_app("echo"));
    CHECK_RUN_FAILS(2, "Try 'devappserver --help'", "--bogus", harness_app("echo"));
}

TEST(test_cli_port_must_be_a_number)
{
    CHECK_RUN_FAILS(2, "--port must be a number from 0 to 65535, not 'abc'", "--port", "abc",
                    harness_app("echo"));
    CHECK_RUN_FAILS(2, "not '65536'", "--port", "65536", harness_app("echo"));
}

TEST(test_cli_option_without_its_value_says_it_needs_a_value)
{
    /* `devappserver --port` (value forgotten): the option is known, its value is missing;
     * calling it an unknown option sends the user looking for a typo that is not there. */
    CHECK_RUN_FAILS(2, "option '--port' needs a value", "--port");
    CHECK_RUN_FAILS(2, "option '--storage-path' needs a value", "--storage-path");
}

TEST(test_cli_dispatch_must_be_a_known_policy)
{
    CHECK_RUN_FAILS(2, "--dispatch must be serial, concurrent or deterministic, not 'fast'",
                    "--dispatch", "fast", harness_app("echo"));
}

TEST(test_cli_max_instances_must_be_at_least_1)
{
    CHECK_RUN_FAILS(2, "--max-instances must be a number from 1 to 1000, not '0'",
                    "--max-instances", "0", harness_app("echo"));
}

TEST(test_cli_datastore_options_must_have_known_values)
{
    CHECK_RUN_FAILS(2, "--datastore-consistency-policy must be time, random or consistent, not "
                       "'eventual'",
                    "--datastore-consistency-policy", "eventual", harness_app("echo"));
    CHECK_RUN_FAILS(2, "--auto-id-policy must be scattered or sequential, not 'random'",
                    "--auto-id-policy", "random", harness_app("echo"));
    CHECK_RUN_FAILS(2, "--datastore-sync must be normal or full, not 'off'", "--datastore-sync",
                    "off", harness_app("echo"));
    CHECK_RUN_FAILS(2, "--datastore-seed must be a number from 0 to 2^64 - 1, not '-1'",
                    "--datastore-seed", "-1", harness_app("echo"));
    CHECK_RUN_FAILS(2, "--datastore-path needs a file name", "--datastore-path", "",
                    harness_app("echo"));
}

TEST(test_cli_deterministic_options_need_the_deterministic_policy)
{
    CHECK_RUN_FAILS(2, "--seed is an option of deterministic dispatch: add --dispatch "
                       "deterministic",
                    "--seed", "5", harness_app("echo"));
    CHECK_RUN_FAILS(2, "--gather-ms is an option of deterministic dispatch", "--dispatch",
                    "concurrent", "--gather-ms", "5", harness_app("echo"));
    CHECK_RUN_FAILS(2, "--trace is an option", "--trace", "/tmp/x.jsonl", harness_app("echo"));
    CHECK_RUN_FAILS(2, "--strategy exhaustive is for 'devappserver explore'", "--dispatch",
                    "deterministic", "--strategy", "exhaustive", harness_app("echo"));
    CHECK_RUN_FAILS(2, "--strategy must be random or pct, not 'dfs'", "--dispatch",
                    "deterministic", "--strategy", "dfs", harness_app("echo"));
    CHECK_RUN_FAILS(2, "--seed must be a number from 0 to 2^64 - 1, not '-3'", "--dispatch",
                    "deterministic", "--seed", "-3", harness_app("echo"));
    CHECK_RUN_FAILS(2, "--seed must be a number from 0 to 2^64 - 1, not '18446744073709551616'",
                    "--dispatch", "deterministic", "--seed", "18446744073709551616",
                    harness_app("echo"));
}

TEST(test_cli_two_appdirs_is_a_usage_error)
{
    char other[256];
    harness_tmpdir(other, sizeof other);
    CHECK_RUN_FAILS(2, "unexpected argument", "--port", "0", harness_app("echo"), other);
    CHECK_RUN_FAILS(2, other, "--port", "0", harness_app("echo"), other);
    harness_remove_tree(other);
}

/* ---------------------------------------------------------------- start-up errors: exit 1 */

TEST(test_cli_nonexistent_appdir_exits_1_naming_it)
{
    char st[256], storage[300], missing[300];
    harness_tmpdir(st, sizeof st);
    snprintf(storage, sizeof storage, "%s/storage", st);
    snprintf(missing, sizeof missing, "%s/no-such-app", st);
    const char *const args[] = {"--port", "0", "--storage-path", storage, missing, NULL};
    char *out = NULL;
    int rc = harness_run(args, &out);
    harness_remove_tree(st);
    CHECK_EQ(rc, 1);
    CHECK_STR_CONTAINS(out, missing);
    CHECK_STR_CONTAINS(out, "No such file or directory");
    free(out);
}

TEST(test_cli_port_in_use_exits_1_with_a_message)
{
    harness_server_t s;
    CHECK_OK(harness_start(&s, harness_app("echo"), NULL));
    char port[16], storage[320], db[320];
    snprintf(port, sizeof port, "%d", s.port);
    snprintf(storage, sizeof storage, "%s/storage", s.dir); /* the build is cached there */
    /* Its own datastore file: the first server holds the one in the storage path, and a
     * second server on it would stop at that before it reached the port. */
    snprintf(db, sizeof db, "%s/second.db", s.dir);
    const char *const args[] = {"--port",           port, "--storage-path", storage,
                                "--datastore-path", db,   harness_app("echo"), NULL};
    char *out = NULL;
    int rc = harness_run_until_listening(args, &out);
    if (rc != 1)
        fprintf(stdout, "# second server on port %s: status %d (-2: it started listening on "
                        "the port the first one holds); output:\n%s\n",
                port, rc, out);
    /* The first server still answers. */
    harness_response_t r;
    int got = harness_get(&s, "/version", &r);
    long status = r.status;
    harness_response_dispose(&r);
    int stopped = harness_stop(&s);
    CHECK_EQ(rc, 1);
    CHECK_STR_CONTAINS(out, port);
    CHECK_STR_CONTAINS(out, "in use");
    free(out);
    CHECK_OK(got);
    CHECK_EQ(status, 200);
    CHECK_EQ(stopped, 0);
}

TEST(test_cli_second_server_on_the_same_datastore_exits_1_naming_the_file)
{
    harness_server_t s;
    CHECK_OK(harness_start(&s, harness_app("echo"), NULL));
    char storage[320];
    snprintf(storage, sizeof storage, "%s/storage", s.dir);
    const char *const args[] = {"--port", "0", "--storage-path", storage, harness_app("echo"),
                                NULL};
    char *out = NULL;
    int rc = harness_run_until_listening(args, &out);
    int stopped = harness_stop(&s);
    if (rc != 1)
        fprintf(stdout, "# second server: status %d; output:\n%s\n", rc, out);
    CHECK_EQ(rc, 1);
    CHECK_STR_CONTAINS(out, "datastore.db is in use");
    free(out);
    CHECK_EQ(stopped, 0);
}

/* ---------------------------------------------------------------- ways to start */

static const char *echo_app_yaml(void)
{
    static char path[600];
    snprintf(path, sizeof path, "%s/app.yaml", harness_app("echo"));
    return path;
}

SERVER_TEST(test_cli_appdir_may_be_the_path_of_app_yaml, echo_app_yaml(), NULL)
{
    (void)check_skipped_;
    harness_response_t r;
    CHECK_OK(harness_get(s, "/env?name=APPLICATION_ID", &r));
    CHECK_EQ(r.status, 200);
    CHECK_STR_EQ(r.body, "dev~echo-app");
    harness_response_dispose(&r);
    /* Static paths are relative to the directory holding app.yaml. */
    CHECK_OK(harness_get(s, "/static/hello.txt", &r));
    CHECK_EQ(r.status, 200);
    CHECK_STR_EQ(r.body, "static hello\n");
    harness_response_dispose(&r);
}

/* harness_start puts these first: `devappserver serve --port 0 ... APPDIR`. */
SERVER_TEST(test_cli_serve_subcommand_starts_the_server, harness_app("echo"), "serve")
{
    (void)check_skipped_;
    harness_response_t r;
    CHECK_OK(harness_get(s, "/version", &r));
    CHECK_EQ(r.status, 200);
    CHECK_STR_EQ(r.body, "v1");
    harness_response_dispose(&r);
    char *log = harness_log(s);
    bool serving = strstr(log, "serving dev~echo-app") != NULL;
    free(log);
    CHECK(serving);
}

SERVER_TEST(test_cli_dispatch_serial_is_announced_at_start_up, harness_app("echo"),
            "--dispatch", "serial")
{
    (void)check_skipped_;
    harness_response_t r;
    CHECK_OK(harness_get(s, "/version", &r));
    CHECK_EQ(r.status, 200);
    harness_response_dispose(&r);
    char *log = harness_log(s);
    bool serial = strstr(log, "with serial dispatch (1 request per instance") != NULL;
    bool concurrent = strstr(log, "concurrent dispatch") != NULL;
    if (!serial || concurrent)
        fprintf(stdout, "# log:\n%s\n", log);
    free(log);
    CHECK(serial);
    CHECK(!concurrent);
}

CHECK_MAIN()
