/* test_config_errors.c - a broken app.yaml stops the server at start-up with exit status 1 and
 * one message of the form "PATH/app.yaml:LINE:COL: what is wrong", pointing at the offending
 * line and column; an accepted-but-ignored field only logs a warning and the server starts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "itest.h"

static const char hello_c[] =
    "#include <appengine/appengine.h>\n"
    "static void h(ae_request_t *rq, ae_response_t *rs)\n"
    "{\n"
    "    (void)rq;\n"
    "    ae_response_puts(rs, \"hi\");\n"
    "}\n"
    "AE_APP(app, {\"*\", h});\n";

typedef struct {
    char tmp[256];  /* the temporary folder */
    char app[300];  /* tmp/app: the app directory */
    char *output;   /* what the server printed */
    int status;     /* its exit status */
} run_t;

/* Writes an app (hello.c and `yaml` as app.yaml) into a fresh folder. */
static void make_app(run_t *r, const char *yaml)
{
    memset(r, 0, sizeof *r);
    harness_tmpdir(r->tmp, sizeof r->tmp);
    snprintf(r->app, sizeof r->app, "%s/app", r->tmp);
    char cmd[400], path[400];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", r->app);
    if (system(cmd) != 0)
        abort();
    snprintf(path, sizeof path, "%s/hello.c", r->app);
    if (harness_write_file(path, hello_c) != 0)
        abort();
    snprintf(path, sizeof path, "%s/app.yaml", r->app);
    if (harness_write_file(path, yaml) != 0)
        abort();
}

/* Makes the app and runs the server on it to completion (it should not start). */
static void run_app(run_t *r, const char *yaml)
{
    make_app(r, yaml);
    char storage[320];
    snprintf(storage, sizeof storage, "%s/st", r->tmp);
    const char *const args[] = {"--port", "0", "--storage-path", storage, r->app, NULL};
    r->status = harness_run(args, &r->output);
}

static void run_dispose(run_t *r)
{
    free(r->output);
    r->output = NULL;
    harness_remove_tree(r->tmp);
}

/* What a server started on the app answered to one GET, gathered (and the server stopped)
 * before any check can end the test. */
typedef struct {
    int started, got, stopped; /* 0 when each step worked */
    long status;
    char body[16];
    char *log; /* the server's log (malloc'd) */
} served_t;

static void serve_one_get(const run_t *r, const char *path, served_t *out)
{
    harness_server_t s;
    harness_response_t resp = {0};
    out->started = harness_start(&s, r->app, NULL);
    out->got = out->started == 0 ? harness_get(&s, path, &resp) : -1;
    out->status = resp.status;
    snprintf(out->body, sizeof out->body, "%s", resp.body ? resp.body : "");
    harness_response_dispose(&resp);
    out->log = out->started == 0 ? harness_log(&s) : strdup("");
    out->stopped = out->started == 0 ? harness_stop(&s) : -1;
}

/* An app.yaml with `n` handlers, /h1 to /hN. */
static void yaml_with_handlers(char *yaml, size_t cap, int n)
{
    size_t len = (size_t)snprintf(yaml, cap, "runtime: c\nthreadsafe: true\nhandlers:\n");
    for (int i = 1; i <= n; i++)
        len += (size_t)snprintf(yaml + len, cap - len, "- url: /h%d\n  script: hello.app\n", i);
}

/* Runs the server on `yaml` and checks: exit status 1, nothing served, and the output holds
 * "APPDIR/app.yaml:POS: MESSAGE" (POS is "LINE:COL"). */
#define CHECK_CONFIG_ERROR(yaml, pos, message)                                                 \
    do {                                                                                       \
        run_t run_;                                                                            \
        run_app(&run_, (yaml));                                                                \
        char want_[1024];                                                                      \
        snprintf(want_, sizeof want_, "%s/app.yaml:%s: %s", run_.app, (pos), (message));       \
        int ok_ = run_.status == 1 && strstr(run_.output, want_) &&                            \
                  !strstr(run_.output, "serving");                                             \
        if (!ok_)                                                                              \
            fprintf(stdout, "#   exit status %d (want 1); output:\n%s\n#   wanted: %s\n",     \
                    run_.status, run_.output, want_);                                          \
        run_dispose(&run_);                                                                    \
        CHECK(ok_);                                                                            \
    } while (0)

TEST(test_config_unknown_top_level_field_suggests_the_right_name)
{
    CHECK_CONFIG_ERROR("threadsafe: true\n"
                       "runtim: c\n",
                       "2:1", "unknown field 'runtim' (did you mean 'runtime'?)");
}

TEST(test_config_unknown_handler_field_suggests_the_right_name)
{
    CHECK_CONFIG_ERROR("runtime: c\n"
                       "threadsafe: true\n"
                       "handlers:\n"
                       "- url: /.*\n"
                       "  scirpt: hello.app\n",
                       "5:3", "unknown handler field 'scirpt' (did you mean 'script'?)");
}

TEST(test_config_missing_threadsafe_is_an_error)
{
    CHECK_CONFIG_ERROR("runtime: c\n"
                       "handlers:\n"
                       "- url: /.*\n"
                       "  script: hello.app\n",
                       "1:1", "threadsafe must be present and set to a true or false YAML value");
}

TEST(test_config_unsupported_runtime_is_an_error)
{
    CHECK_CONFIG_ERROR("runtime: python27\n"
                       "threadsafe: true\n",
                       "1:10",
                       "runtime 'python27' is not supported by devappserver; supported "
                       "runtimes: c");
}

TEST(test_config_more_than_100_handlers_is_an_error)
{
    char yaml[8192];
    yaml_with_handlers(yaml, sizeof yaml, 101);
    /* The 101st handler starts on line 3 + 2*100 + 1, after "- ". */
    CHECK_CONFIG_ERROR(yaml, "204:3",
                       "Found more than 100 URLMap entries in application configuration");
}

TEST(test_config_exactly_100_handlers_is_accepted)
{
    char yaml[8192];
    yaml_with_handlers(yaml, sizeof yaml, 100);
    run_t r;
    make_app(&r, yaml);
    served_t got;
    serve_one_get(&r, "/h100", &got);
    free(got.log);
    run_dispose(&r);
    CHECK_OK(got.started);
    CHECK_OK(got.got);
    CHECK_EQ(got.status, 200);
    CHECK_STR_EQ(got.body, "hi");
    CHECK_EQ(got.stopped, 0);
}

TEST(test_config_static_files_without_upload_is_an_error)
{
    CHECK_CONFIG_ERROR("runtime: c\n"
                       "threadsafe: true\n"
                       "handlers:\n"
                       "- url: /x\n"
                       "  static_files: x.txt\n",
                       "4:3", "Missing \"upload\" attribute for URL \"/x\".");
}

TEST(test_config_invalid_url_regex_is_an_error)
{
    CHECK_CONFIG_ERROR("runtime: c\n"
                       "threadsafe: true\n"
                       "handlers:\n"
                       "- url: /(x\n"
                       "  script: hello.app\n",
                       "4:8", "invalid url '/(x' in script handler: missing closing parenthesis");
}

TEST(test_config_script_naming_a_missing_file_is_an_error)
{
    run_t r;
    run_app(&r, "runtime: c\n"
                "threadsafe: true\n"
                "handlers:\n"
                "- url: /.*\n"
                "  script: nothere.app\n");
    char want[1024];
    snprintf(want, sizeof want, "%s/app.yaml:5:11: script 'nothere.app': file '%s/nothere.c' "
                                "does not exist",
             r.app, r.app);
    int ok = r.status == 1 && strstr(r.output, want);
    if (!ok)
        fprintf(stdout, "#   exit status %d; output:\n%s\n#   wanted: %s\n", r.status, r.output,
                want);
    run_dispose(&r);
    CHECK(ok);
}

TEST(test_config_bad_expiration_is_an_error)
{
    CHECK_CONFIG_ERROR("runtime: c\n"
                       "threadsafe: true\n"
                       "handlers:\n"
                       "- url: /s\n"
                       "  static_dir: s\n"
                       "  expiration: 5x\n",
                       "6:15",
                       "expiration '5x' is invalid: expected a duration such as '4d 5h', '30m' "
                       "or '10s'");
}

TEST(test_config_yaml_syntax_error_points_at_the_problem)
{
    /* A key indented under a scalar: the classic misplaced-indent mistake. */
    CHECK_CONFIG_ERROR("runtime: c\n"
                       "threadsafe: true\n"
                       "  handlers: x\n",
                       "3:11", "mapping values are not allowed in this context");
}

TEST(test_config_empty_file_is_an_error)
{
    CHECK_CONFIG_ERROR("", "1:1", "empty configuration file");
}

TEST(test_config_two_documents_is_an_error)
{
    CHECK_CONFIG_ERROR("runtime: c\n"
                       "threadsafe: true\n"
                       "---\n"
                       "runtime: c\n",
                       "3:1", "multiple documents in one configuration file");
}

TEST(test_config_http_headers_may_not_set_server_headers)
{
    CHECK_CONFIG_ERROR("runtime: c\n"
                       "threadsafe: true\n"
                       "handlers:\n"
                       "- url: /s\n"
                       "  static_dir: s\n"
                       "  http_headers:\n"
                       "    Content-Length: 5\n",
                       "7:5", "http header 'Content-Length' is disallowed: the server sets it");
    CHECK_CONFIG_ERROR("runtime: c\n"
                       "threadsafe: true\n"
                       "handlers:\n"
                       "- url: /s\n"
                       "  static_dir: s\n"
                       "  http_headers:\n"
                       "    X-Ok: fine\n"
                       "    Connection: close\n",
                       "8:5", "http header 'Connection' is a hop-by-hop header");
}

TEST(test_config_max_concurrent_requests_zero_is_an_error)
{
    CHECK_CONFIG_ERROR("runtime: c\n"
                       "threadsafe: true\n"
                       "automatic_scaling:\n"
                       "  max_concurrent_requests: 0\n",
                       "4:28",
                       "automatic_scaling.max_concurrent_requests must be a positive integer, "
                       "not '0'");
}

TEST(test_config_application_and_project_together_is_an_error)
{
    CHECK_CONFIG_ERROR("application: a\n"
                       "project: b\n"
                       "runtime: c\n"
                       "threadsafe: true\n",
                       "2:10", "both 'application' and 'project' are set; specify only one of them");
}

TEST(test_config_ignored_field_is_a_warning_and_the_server_starts)
{
    run_t r;
    make_app(&r, "runtime: c\n"
                 "threadsafe: true\n"
                 "instance_class: F2\n"
                 "handlers:\n"
                 "- url: /.*\n"
                 "  script: hello.app\n");
    served_t got;
    serve_one_get(&r, "/", &got);
    char want[600];
    snprintf(want, sizeof want, "%s/app.yaml:3:1: field 'instance_class' is accepted but "
                                "ignored by devappserver",
             r.app);
    run_dispose(&r);
    CHECK_OK(got.started);
    CHECK_OK(got.got);
    CHECK_EQ(got.status, 200);
    CHECK_STR_EQ(got.body, "hi");
    CHECK_STR_CONTAINS(got.log, "WARNING");
    CHECK_STR_CONTAINS(got.log, want);
    free(got.log);
    CHECK_EQ(got.stopped, 0);
}

/* Environment strings that each fit but together pass ARG_MAX: refused at start-up, where
 * before the server started and every instance start failed ("Argument list too long"). */
TEST(test_env_variables_over_the_argument_limit_are_refused_at_start_up)
{
    NEED_OWN_SERVER();
    long max = sysconf(_SC_ARG_MAX);
    if (max <= 0 || max > 12 * 1024 * 1024)
        SKIP("ARG_MAX is unknown or too large to reach with a test file");
    size_t each = 120 * 1024, n = (size_t)max / each + 2;
    size_t cap = n * (each + 32) + 256;
    char *yaml = malloc(cap), *value = malloc(each + 1);
    memset(value, 'e', each);
    value[each] = '\0';
    size_t w = (size_t)snprintf(yaml, cap, "runtime: c\napi_version: 1\nthreadsafe: true\n"
                                           "handlers:\n- url: /.*\n  script: hello.app\n"
                                           "env_variables:\n");
    for (size_t i = 0; i < n; i++)
        w += (size_t)snprintf(yaml + w, cap - w, "  BIG%zu: %s\n", i, value);
    run_t r;
    run_app(&r, yaml);
    free(yaml);
    free(value);
    CHECK_EQ(r.status, 1);
    CHECK_STR_CONTAINS(r.output, "env_variables make the instances' environment too large");
    run_dispose(&r);
}

CHECK_MAIN()
