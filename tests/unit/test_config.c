/* test_config.c - unit tests for das_config_load() and the yaml tree under it.
 *
 * Each test writes an app.yaml (plus an empty hello.c, so that `script: hello.app` resolves)
 * into a fresh mkdtemp directory, loads it, and checks either the config's fields or the exact
 * error text, which always starts with "app.yaml:LINE:COL:" once the directory is stripped.
 */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "config.h"

/* ---------------------------------------------------------------- fixtures */

static char g_dir[PATH_MAX];  /* the app directory of the current test */
static char g_real[PATH_MAX]; /* its realpath */
static char g_err[4096];     /* the last error message, without the "g_dir/" prefix */

#define HEADER "runtime: c\napi_version: 1\nthreadsafe: true\n"

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void fixture_remove(void)
{
    if (g_dir[0])
        nftw(g_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    g_dir[0] = '\0';
}

/* Writes `text` to g_dir/name, making directories on the way. */
static void fixture_write(const char *name, const char *text)
{
    char path[PATH_MAX + 256];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    char *slash = strrchr(path, '/');
    *slash = '\0';
    das_mkdirs(path, 0755);
    *slash = '/';
    if (das_file_write_atomic(path, text, strlen(text)) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        abort();
    }
}

static void fixture_new(void)
{
    fixture_remove();
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/das_config_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        abort();
    }
    if (!realpath(g_dir, g_real))
        abort();
    fixture_write("hello.c", "");
}

/* Returns `msg` with every "g_dir/" removed (in a static buffer), so that expected messages
 * can be written without the temporary directory. */
static const char *rel(const char *msg)
{
    static char out[4096];
    char prefix[PATH_MAX + 2];
    snprintf(prefix, sizeof prefix, "%s/", g_dir);
    size_t n = strlen(prefix), o = 0;
    while (*msg && o + 1 < sizeof out) {
        if (g_dir[0] && strncmp(msg, prefix, n) == 0)
            msg += n;
        else
            out[o++] = *msg++;
    }
    out[o] = '\0';
    return out;
}

/* Loads `path` (relative to g_dir when not absolute), keeping the message in g_err. */
static int fixture_load_path(const char *path, das_config_t **cfg)
{
    das_err_t err = {0};
    char full[PATH_MAX + 256];
    if (path[0] == '/')
        snprintf(full, sizeof full, "%s", path);
    else
        snprintf(full, sizeof full, "%s/%s", g_dir, path);
    if (!path[0])
        snprintf(full, sizeof full, "%s", g_dir);
    *cfg = NULL;
    int rc = das_config_load(full, cfg, &err);
    snprintf(g_err, sizeof g_err, "%s", rc < 0 ? rel(err.msg) : "");
    return rc;
}

/* Writes app.yaml and loads the directory. */
static int load_app(const char *yaml, das_config_t **cfg)
{
    fixture_new();
    fixture_write("app.yaml", yaml);
    return fixture_load_path("", cfg);
}

#define CHECK_LOAD_ERROR(yaml, code, expected)                                                 \
    do {                                                                                       \
        das_config_t *c_ = NULL;                                                               \
        int rc_ = load_app(yaml, &c_);                                                         \
        das_config_destroy(c_);                                                                \
        fixture_remove();                                                                      \
        CHECK_STR_EQ(g_err, expected);                                                         \
        CHECK_EQ(rc_, code);                                                                   \
    } while (0)

#define CHECK_LOADS(yaml, cfg)                                                                 \
    do {                                                                                       \
        int rc_ = load_app(yaml, &(cfg));                                                      \
        CHECK_STR_EQ(g_err, "");                                                               \
        CHECK_OK(rc_);                                                                         \
    } while (0)

/* ---------------------------------------------------------------- valid configs */

TEST(test_config_full_valid_config_fills_every_field)
{
    das_config_t *cfg;
    CHECK_LOADS("application: my-app\n"
                "version: v1\n"
                "runtime: c\n"
                "api_version: 1\n"
                "threadsafe: true\n"
                "default_expiration: 4d 5h\n"
                "skip_files: ^(.*/)?#.*#$\n"
                "env_variables:\n"
                "  GREETING: hello\n"
                "  EMPTY:\n"
                "inbound_services:\n"
                "- mail\n"
                "- warmup\n"
                "automatic_scaling:\n"
                "  min_idle_instances: automatic\n"
                "  max_pending_latency: 30ms\n"
                "  max_concurrent_requests: 10\n"
                "error_handlers:\n"
                "- error_code: over_quota\n"
                "  file: quota.html\n"
                "- file: default.html\n"
                "  mime_type: text/html\n"
                "handlers:\n"
                "- url: /static\n"
                "  static_dir: static\n"
                "  expiration: 1h 30m\n"
                "  http_headers:\n"
                "    X-Frame-Options: DENY\n"
                "    Cache-Control: public\n"
                "  mime_type: text/plain\n"
                "  require_matching_file: true\n"
                "  application_readable: yes\n"
                "- url: /(.*\\.png)\n"
                "  static_files: img/\\1\n"
                "  upload: img/.*\\.png\n"
                "  secure: default\n"
                "  redirect_http_response_code: 301\n"
                "- url: /admin/.*\n"
                "  script: hello.app\n"
                "  login: admin\n"
                "  auth_fail_action: unauthorized\n"
                "  secure: always\n"
                "- url: /.*\n"
                "  script: hello.app\n",
                cfg);
    CHECK_STR_EQ(cfg->appdir, g_real);
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/app.yaml", g_real);
    CHECK_STR_EQ(cfg->path, path);
    CHECK_STR_EQ(cfg->application, "my-app");
    CHECK_STR_EQ(cfg->version, "v1");
    CHECK_STR_EQ(cfg->runtime, "c");
    CHECK_STR_EQ(cfg->api_version, "1");
    CHECK(cfg->threadsafe);
    CHECK_EQ(cfg->default_expiration, 4 * 86400 + 5 * 3600);
    CHECK_STR_EQ(cfg->skip_files, "^(.*/)?#.*#$");
    CHECK_EQ(cfg->n_env_variables, 2);
    CHECK_STR_EQ(cfg->env_variables[0].name, "GREETING");
    CHECK_STR_EQ(cfg->env_variables[0].value, "hello");
    CHECK_STR_EQ(cfg->env_variables[1].name, "EMPTY");
    CHECK_STR_EQ(cfg->env_variables[1].value, "");
    CHECK(cfg->inbound_warmup);
    CHECK_EQ(cfg->max_concurrent_requests, 10);
    CHECK_STR_EQ(cfg->error_handler_file, "default.html");
    CHECK_STR_EQ(cfg->error_handler_mime_type, "text/html");
    CHECK_EQ(cfg->n_warnings, 0);
    CHECK_EQ(cfg->n_handlers, 4);

    const das_config_handler_t *h = &cfg->handlers[0];
    CHECK_EQ(h->kind, DAS_HANDLER_STATIC_DIR);
    CHECK_STR_EQ(h->url, "/static");
    CHECK_STR_EQ(h->static_dir, "static");
    CHECK_EQ(h->expiration, 5400);
    CHECK_EQ(h->n_http_headers, 2);
    CHECK_STR_EQ(h->http_headers[0].name, "X-Frame-Options");
    CHECK_STR_EQ(h->http_headers[0].value, "DENY");
    CHECK_STR_EQ(h->http_headers[1].name, "Cache-Control");
    CHECK_STR_EQ(h->mime_type, "text/plain");
    CHECK(h->require_matching_file);
    CHECK(h->application_readable);
    CHECK_EQ(h->line, 24);
    CHECK_EQ(h->col, 3);
    CHECK_STR_EQ(rel(h->file), "app.yaml");

    h = &cfg->handlers[1];
    CHECK_EQ(h->kind, DAS_HANDLER_STATIC_FILES);
    CHECK_STR_EQ(h->url, "/(.*\\.png)");
    CHECK_STR_EQ(h->static_files, "img/\\1");
    CHECK_STR_EQ(h->upload, "img/.*\\.png");
    CHECK_EQ(h->secure, DAS_SECURE_OPTIONAL);
    CHECK_EQ(h->expiration, -1);
    CHECK(h->mime_type == NULL);
    CHECK(!h->require_matching_file);

    h = &cfg->handlers[2];
    CHECK_EQ(h->kind, DAS_HANDLER_SCRIPT);
    CHECK_STR_EQ(h->script, "hello.app");
    CHECK_EQ(h->login, DAS_LOGIN_ADMIN);
    CHECK_EQ(h->auth_fail_action, DAS_AUTH_FAIL_UNAUTHORIZED);
    CHECK_EQ(h->secure, DAS_SECURE_ALWAYS);

    h = &cfg->handlers[3];
    CHECK_EQ(h->login, DAS_LOGIN_OPTIONAL);
    CHECK_EQ(h->auth_fail_action, DAS_AUTH_FAIL_REDIRECT);
    CHECK_EQ(h->secure, DAS_SECURE_OPTIONAL);
    das_config_destroy(cfg);
    fixture_remove();
}

TEST(test_config_minimal_config_gets_defaults)
{
    das_config_t *cfg;
    CHECK_LOADS("runtime: c\nthreadsafe: false\n", cfg);
    CHECK_STR_EQ(cfg->application, "");
    CHECK_STR_EQ(cfg->version, "");
    CHECK_STR_EQ(cfg->api_version, "");
    CHECK(!cfg->threadsafe);
    CHECK_EQ(cfg->n_handlers, 0);
    CHECK_EQ(cfg->default_expiration, -1);
    CHECK_STR_EQ(cfg->skip_files, DAS_CONFIG_DEFAULT_SKIP_FILES);
    CHECK(cfg->error_handler_file == NULL);
    CHECK(!cfg->inbound_warmup);
    CHECK_EQ(cfg->max_concurrent_requests, 0);
    das_config_destroy(cfg);
    fixture_remove();
}

TEST(test_config_yaml11_booleans_are_accepted_when_plain)
{
    static const struct {
        const char *text;
        bool value;
    } cases[] = {{"yes", true}, {"on", true}, {"Off", false}, {"NO", false},
                 {"y", true},   {"N", false}, {"True", true}, {"false", false}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char yaml[256];
        snprintf(yaml, sizeof yaml,
                 "runtime: c\nthreadsafe: %s\nhandlers:\n- url: /s\n  static_dir: s\n"
                 "  require_matching_file: %s\n",
                 cases[i].text, cases[i].text);
        das_config_t *cfg;
        CHECK_LOADS(yaml, cfg);
        CHECK_EQ(cfg->threadsafe, cases[i].value);
        CHECK_EQ(cfg->handlers[0].require_matching_file, cases[i].value);
        das_config_destroy(cfg);
        fixture_remove();
    }
}

TEST(test_config_quoted_yes_is_not_a_boolean_for_threadsafe)
{
    CHECK_LOAD_ERROR("runtime: c\nthreadsafe: \"yes\"\n", AE_EINVAL,
                     "app.yaml:2:13: threadsafe must be true or false, not the quoted string "
                     "\"yes\" (quotes make a YAML value a string)");
    CHECK_LOAD_ERROR("runtime: c\nthreadsafe: maybe\n", AE_EINVAL,
                     "app.yaml:2:13: threadsafe must be true or false (or yes/no, on/off), not "
                     "'maybe'");
}

TEST(test_config_parse_bool_accepts_yaml11_words_in_any_case)
{
    bool v = false;
    CHECK_OK(das_config_parse_bool("YeS", &v));
    CHECK(v);
    CHECK_OK(das_config_parse_bool("oFF", &v));
    CHECK(!v);
    CHECK_EQ(das_config_parse_bool("1", &v), AE_EINVAL);
    CHECK_EQ(das_config_parse_bool("", &v), AE_EINVAL);
}

/* ---------------------------------------------------------------- top-level fields */

TEST(test_config_missing_threadsafe_is_an_error_with_position)
{
    CHECK_LOAD_ERROR("runtime: c\napi_version: 1\n", AE_EINVAL,
                     "app.yaml:1:1: threadsafe must be present and set to a true or false YAML "
                     "value");
    CHECK_LOAD_ERROR("runtime: c\nthreadsafe:\n", AE_EINVAL,
                     "app.yaml:1:1: threadsafe must be present and set to a true or false YAML "
                     "value");
}

TEST(test_config_missing_runtime_is_an_error)
{
    CHECK_LOAD_ERROR("threadsafe: true\n", AE_EINVAL,
                     "app.yaml:1:1: You must specify a \"runtime\" field for non-vm "
                     "applications.");
}

TEST(test_config_unsupported_runtime_names_the_value_position)
{
    CHECK_LOAD_ERROR("api_version: 1\nthreadsafe: true\nruntime: python27\n", AE_EINVAL,
                     "app.yaml:3:10: runtime 'python27' is not supported by devappserver; "
                     "supported runtimes: c");
}

TEST(test_config_unknown_top_level_field_suggests_the_closest_name)
{
    CHECK_LOAD_ERROR("threadsafe: true\nruntim: c\n", AE_EINVAL,
                     "app.yaml:2:1: unknown field 'runtim' (did you mean 'runtime'?)");
    CHECK_LOAD_ERROR(HEADER "librarys: []\n", AE_EINVAL,
                     "app.yaml:4:1: unknown field 'librarys' (did you mean 'libraries'?)");
    CHECK_LOAD_ERROR(HEADER "frobnicate: 1\n", AE_EINVAL,
                     "app.yaml:4:1: unknown field 'frobnicate'");
}

TEST(test_config_unknown_handler_field_suggests_the_closest_name)
{
    CHECK_LOAD_ERROR(HEADER "handlers:\n"
                            "  - url: /a\n"
                            "    scirpt: hello.app\n",
                     AE_EINVAL,
                     "app.yaml:6:5: unknown handler field 'scirpt' (did you mean 'script'?)");
}

TEST(test_config_accepted_but_ignored_fields_become_warnings)
{
    das_config_t *cfg;
    CHECK_LOADS(HEADER "service: default\n"
                       "libraries:\n"
                       "- name: webapp2\n"
                       "  version: latest\n",
                cfg);
    CHECK_EQ(cfg->n_warnings, 2);
    CHECK_STR_EQ(rel(cfg->warnings[0]),
                 "app.yaml:4:1: field 'service' is accepted but ignored by devappserver");
    CHECK_STR_EQ(rel(cfg->warnings[1]),
                 "app.yaml:5:1: field 'libraries' is accepted but ignored by devappserver");
    das_config_destroy(cfg);
    fixture_remove();
}

TEST(test_config_application_and_project_together_are_an_error)
{
    CHECK_LOAD_ERROR(HEADER "application: a\nproject: b\n", AE_EINVAL,
                     "app.yaml:5:10: both 'application' and 'project' are set; specify only one "
                     "of them");
    das_config_t *cfg;
    CHECK_LOADS(HEADER "project: dev~example.com:my-app\n", cfg);
    CHECK_STR_EQ(cfg->application, "dev~example.com:my-app");
    das_config_destroy(cfg);
    fixture_remove();
    CHECK_LOAD_ERROR(HEADER "application: My_App\n", AE_EINVAL,
                     "app.yaml:4:14: application 'My_App' is invalid: use lowercase letters, "
                     "digits and hyphens (at most 100), not starting or ending with a hyphen");
}

TEST(test_config_version_rules_follow_the_platform)
{
    CHECK_LOAD_ERROR(HEADER "version: a-dot-b\n", AE_EINVAL,
                     "app.yaml:4:10: Version \"a-dot-b\" cannot contain the string \"-dot-\"");
    CHECK_LOAD_ERROR(HEADER "version: ah-builtin-x\n", AE_EINVAL,
                     "app.yaml:4:10: Version \"ah-builtin-x\" cannot start with \"ah-builtin\" "
                     "because it is a reserved version name prefix.");
    CHECK_LOAD_ERROR(HEADER "version: -v1\n", AE_EINVAL,
                     "app.yaml:4:10: version '-v1' is invalid: use 1 to 63 lowercase letters, "
                     "digits and hyphens, not starting or ending with a hyphen");
}

TEST(test_config_max_concurrent_requests_must_be_positive)
{
    CHECK_LOAD_ERROR(HEADER "automatic_scaling:\n  max_concurrent_requests: 0\n", AE_EINVAL,
                     "app.yaml:5:28: automatic_scaling.max_concurrent_requests must be a "
                     "positive integer, not '0'");
    das_config_t *cfg;
    CHECK_LOADS(HEADER "automatic_scaling:\n  max_concurrent_requests: 10\n", cfg);
    CHECK_EQ(cfg->max_concurrent_requests, 10);
    das_config_destroy(cfg);
    fixture_remove();
}

TEST(test_config_automatic_scaling_sub_keys_are_checked)
{
    CHECK_LOAD_ERROR(HEADER "automatic_scaling:\n  max_idle_instance: 3\n", AE_EINVAL,
                     "app.yaml:5:3: unknown automatic_scaling field 'max_idle_instance' (did you "
                     "mean 'max_idle_instances'?)");
    CHECK_LOAD_ERROR(HEADER "automatic_scaling:\n  min_pending_latency: fast\n", AE_EINVAL,
                     "app.yaml:5:24: automatic_scaling.min_pending_latency 'fast' is invalid: it "
                     "must match \\d+((\\.\\d{1,3})?s|ms)|automatic");
    CHECK_LOAD_ERROR(HEADER "automatic_scaling:\n  cool_down_period_sec: 30\n", AE_EINVAL,
                     "app.yaml:5:25: automatic_scaling.cool_down_period_sec '30' is invalid: it "
                     "must match \\d+ and be at least 60");
}

TEST(test_config_only_one_scaling_block_and_manual_scaling_warns)
{
    CHECK_LOAD_ERROR(HEADER "automatic_scaling:\n  max_concurrent_requests: 2\n"
                            "manual_scaling:\n  instances: 1\n",
                     AE_EINVAL,
                     "app.yaml:6:1: There may be only one of 'automatic_scaling', "
                     "'manual_scaling', or 'basic_scaling'.");
    CHECK_LOAD_ERROR(HEADER "basic_scaling:\n  idle_timeout: 10m\n", AE_EINVAL,
                     "app.yaml:5:3: missing required field 'max_instances' in basic_scaling");
    das_config_t *cfg;
    CHECK_LOADS(HEADER "manual_scaling:\n  instances: 3\n", cfg);
    CHECK_EQ(cfg->n_warnings, 1);
    CHECK_STR_EQ(rel(cfg->warnings[0]),
                 "app.yaml:4:1: field 'manual_scaling' is accepted but ignored by devappserver: "
                 "instances start on demand");
    das_config_destroy(cfg);
    fixture_remove();
}

TEST(test_config_skip_files_default_and_list_form)
{
    das_config_t *cfg;
    CHECK_LOADS(HEADER, cfg);
    CHECK_STR_EQ(cfg->skip_files, DAS_CONFIG_DEFAULT_SKIP_FILES);
    das_config_destroy(cfg);
    CHECK_LOADS(HEADER "skip_files:\n- ^(.*/)?.*\\.bak$\n- ^tmp/.*\n", cfg);
    CHECK_STR_EQ(cfg->skip_files, "^(?:^(.*/)?.*\\.bak$)$|^(?:^tmp/.*)$");
    das_config_destroy(cfg);
    fixture_remove();
    CHECK_LOAD_ERROR(HEADER "skip_files:\n- ok\n- bad[\n", AE_EINVAL,
                     "app.yaml:6:3: invalid skip_files regex 'bad[': missing terminating ] for "
                     "character class at offset 4");
}

TEST(test_config_env_variables_names_and_values_are_checked)
{
    CHECK_LOAD_ERROR(HEADER "env_variables:\n  1BAD: x\n", AE_EINVAL,
                     "app.yaml:5:3: env_variables name '1BAD' is invalid: it must match "
                     "[a-zA-Z_][a-zA-Z0-9_]*");
    CHECK_LOAD_ERROR(HEADER "env_variables:\n  GOOD: [1, 2]\n", AE_EINVAL,
                     "app.yaml:5:9: an env_variables value must be a string, not a list");
    CHECK_LOAD_ERROR(HEADER "env_variables: [A]\n", AE_EINVAL,
                     "app.yaml:4:16: env_variables must be a mapping of names to values, not a "
                     "list");
}

TEST(test_config_inbound_services_are_checked)
{
    CHECK_LOAD_ERROR(HEADER "inbound_services:\n- mail\n- warmups\n", AE_EINVAL,
                     "app.yaml:6:3: inbound service 'warmups' is not one of: mail, mail_bounce, "
                     "rest, warmup, xmpp_message, xmpp_subscribe, xmpp_presence, xmpp_error, "
                     "channel_presence");
    das_config_t *cfg;
    CHECK_LOADS(HEADER "inbound_services: [mail, xmpp_message]\n", cfg);
    CHECK(!cfg->inbound_warmup);
    das_config_destroy(cfg);
    fixture_remove();
}

TEST(test_config_error_handlers_keep_the_default_entry)
{
    das_config_t *cfg;
    CHECK_LOADS(HEADER "error_handlers:\n"
                       "- error_code: timeout\n"
                       "  file: timeout.html\n"
                       "- error_code: default\n"
                       "  file: oops.html\n"
                       "- file: later.html\n",
                cfg);
    CHECK_STR_EQ(cfg->error_handler_file, "oops.html");
    CHECK(cfg->error_handler_mime_type == NULL);
    das_config_destroy(cfg);
    fixture_remove();
    CHECK_LOAD_ERROR(HEADER "error_handlers:\n- error_code: over_quota\n", AE_EINVAL,
                     "app.yaml:5:3: missing required field 'file' in error handler");
    CHECK_LOAD_ERROR(HEADER "error_handlers:\n- error_code: boom\n  file: x.html\n", AE_EINVAL,
                     "app.yaml:5:15: error_code 'boom' is not one of: default, over_quota, "
                     "dos_api_denial, timeout");
    CHECK_LOAD_ERROR(HEADER "error_handlers:\n- fille: x.html\n", AE_EINVAL,
                     "app.yaml:5:3: unknown error_handlers field 'fille' (did you mean 'file'?)");
}

TEST(test_config_default_expiration_is_validated)
{
    CHECK_LOAD_ERROR(HEADER "default_expiration: 4x\n", AE_EINVAL,
                     "app.yaml:4:21: default_expiration '4x' is invalid: expected a duration "
                     "such as '4d 5h', '30m' or '10s'");
}

TEST(test_config_expiration_grammar_matches_the_platform)
{
    long s = 0;
    CHECK_OK(das_config_parse_expiration("4d 5h", &s));
    CHECK_EQ(s, 363600);
    CHECK_OK(das_config_parse_expiration("10", &s));
    CHECK_EQ(s, 10);
    CHECK_OK(das_config_parse_expiration("1h 30m", &s));
    CHECK_EQ(s, 5400);
    CHECK_OK(das_config_parse_expiration("30s", &s));
    CHECK_EQ(s, 30);
    CHECK_OK(das_config_parse_expiration("  2D\t3M 4S ", &s));
    CHECK_EQ(s, 2 * 86400 + 180 + 4);
    CHECK_OK(das_config_parse_expiration("0", &s));
    CHECK_EQ(s, 0);
    CHECK_EQ(das_config_parse_expiration("4x", &s), AE_EINVAL);
    CHECK_EQ(das_config_parse_expiration("", &s), AE_EINVAL);
    CHECK_EQ(das_config_parse_expiration("   ", &s), AE_EINVAL);
    CHECK_EQ(das_config_parse_expiration("4d5h", &s), AE_EINVAL);
    CHECK_EQ(das_config_parse_expiration("d", &s), AE_EINVAL);
    CHECK_EQ(das_config_parse_expiration("-1", &s), AE_EINVAL);
    CHECK_EQ(das_config_parse_expiration("1.5h", &s), AE_EINVAL);
    CHECK_EQ(das_config_parse_expiration("99999999999999999999d", &s), AE_EINVAL);
}

/* ---------------------------------------------------------------- handlers */

TEST(test_config_more_than_100_handlers_is_an_error)
{
    das_buf_t yaml = {0};
    das_buf_puts(&yaml, HEADER "handlers:\n");
    for (int i = 0; i < 101; i++)
        das_buf_printf(&yaml, "- url: /h%d\n  script: hello.app\n", i);
    das_config_t *cfg = NULL;
    int rc = load_app(yaml.data, &cfg);
    das_config_destroy(cfg);
    das_buf_dispose(&yaml);
    fixture_remove();
    CHECK_EQ(rc, AE_EINVAL);
    CHECK_STR_EQ(g_err, "app.yaml:205:3: Found more than 100 URLMap entries in application "
                        "configuration");
}

TEST(test_config_exactly_100_handlers_is_fine)
{
    das_buf_t yaml = {0};
    das_buf_puts(&yaml, HEADER "handlers:\n");
    for (int i = 0; i < 100; i++)
        das_buf_printf(&yaml, "- url: /h%d\n  script: hello.app\n", i);
    das_config_t *cfg = NULL;
    int rc = load_app(yaml.data, &cfg);
    das_buf_dispose(&yaml);
    CHECK_OK(rc);
    CHECK_EQ(cfg->n_handlers, 100);
    CHECK_STR_EQ(cfg->handlers[99].url, "/h99");
    das_config_destroy(cfg);
    fixture_remove();
}

TEST(test_config_more_than_100_handlers_after_merging_includes_is_an_error)
{
    das_buf_t app = {0}, inc = {0};
    das_buf_puts(&app, HEADER "includes:\n- inc.yaml\nhandlers:\n");
    das_buf_puts(&inc, "handlers:\n");
    for (int i = 0; i < 60; i++) {
        das_buf_printf(&app, "- url: /a%d\n  script: hello.app\n", i);
        das_buf_printf(&inc, "- url: /i%d\n  script: hello.app\n", i);
    }
    fixture_new();
    fixture_write("app.yaml", app.data);
    fixture_write("inc.yaml", inc.data);
    das_buf_dispose(&app);
    das_buf_dispose(&inc);
    das_config_t *cfg = NULL;
    int rc = fixture_load_path("", &cfg);
    das_config_destroy(cfg);
    fixture_remove();
    CHECK_EQ(rc, AE_EINVAL);
    CHECK_STR_EQ(g_err, "app.yaml:1:1: Found more than 100 URLMap entries in application "
                        "configuration (120 after merging includes)");
}

TEST(test_config_handlers_must_be_a_list_of_mappings)
{
    CHECK_LOAD_ERROR(HEADER "handlers:\n  url: /\n", AE_EINVAL,
                     "app.yaml:5:3: handlers must be a list of mappings, not a mapping");
    CHECK_LOAD_ERROR(HEADER "handlers:\n- /foo\n", AE_EINVAL,
                     "app.yaml:5:3: handlers must be a list of mappings, but this entry is a "
                     "string");
}

TEST(test_config_static_files_without_upload_is_an_error)
{
    CHECK_LOAD_ERROR(HEADER "handlers:\n- url: /favicon.ico\n  static_files: favicon.ico\n",
                     AE_EINVAL,
                     "app.yaml:5:3: Missing \"upload\" attribute for URL \"/favicon.ico\".");
    CHECK_LOAD_ERROR(HEADER "handlers:\n- url: /f\n  static_files: f\n  upload: (\n", AE_EINVAL,
                     "app.yaml:7:11: invalid upload regex '(': missing closing parenthesis at "
                     "offset 1");
}

TEST(test_config_bad_url_regex_reports_the_pcre2_error)
{
    CHECK_LOAD_ERROR(HEADER "handlers:\n- url: /foo(\n  script: hello.app\n", AE_EINVAL,
                     "app.yaml:5:8: invalid url '/foo(' in script handler: missing closing "
                     "parenthesis at offset 5");
    CHECK_LOAD_ERROR(HEADER "handlers:\n- url: /a[b\n  static_dir: s\n", AE_EINVAL,
                     "app.yaml:5:8: invalid url '/a[b' in static_dir handler: missing "
                     "terminating ] for character class at offset 4");
    CHECK_LOAD_ERROR(HEADER "handlers:\n- url: /a)|(/b\n  script: hello.app\n", AE_EINVAL,
                     "app.yaml:5:8: invalid url '/a)|(/b' in script handler: unmatched closing "
                     "parenthesis at offset 2");
    CHECK_LOAD_ERROR(HEADER "handlers:\n- url: (*UTF)/x\n  script: hello.app\n", AE_EINVAL,
                     "app.yaml:5:8: invalid url '(*UTF)/x': '(*' at offset 0 is not a Python "
                     "regular expression (nothing to repeat); write \\(* for a literal '('");
}

TEST(test_config_url_must_not_start_with_caret)
{
    CHECK_LOAD_ERROR(HEADER "handlers:\n- url: ^/foo\n  script: hello.app\n", AE_EINVAL,
                     "app.yaml:5:8: url '^/foo' must not start with '^' (handler urls always "
                     "match from the start of the path)");
    CHECK_LOAD_ERROR(HEADER "handlers:\n- script: hello.app\n", AE_EINVAL,
                     "app.yaml:5:3: missing required field 'url' in handler");
}

TEST(test_config_handler_needs_exactly_one_type)
{
    CHECK_LOAD_ERROR(HEADER "handlers:\n- url: /s\n  script: hello.app\n  static_dir: s\n",
                     AE_EINVAL,
                     "app.yaml:7:3: a handler may have only one of script, static_dir or "
                     "static_files; this one has both 'script' and 'static_dir'");
    CHECK_LOAD_ERROR(HEADER "handlers:\n- url: /s\n  login: admin\n", AE_EINVAL,
                     "app.yaml:5:3: Unknown url handler type. A handler needs one of script, "
                     "static_dir or static_files.");
}

TEST(test_config_fields_must_suit_the_handler_type)
{
    CHECK_LOAD_ERROR(HEADER "handlers:\n- url: /s\n  static_dir: s\n  upload: x\n", AE_EINVAL,
                     "app.yaml:7:3: field 'upload' is not allowed in a static_dir handler");
    CHECK_LOAD_ERROR(HEADER "handlers:\n- url: /s\n  script: hello.app\n  expiration: 1d\n",
                     AE_EINVAL,
                     "app.yaml:7:3: field 'expiration' is not allowed in a script handler");
    CHECK_LOAD_ERROR(HEADER "handlers:\n- url: /s\n  script: hello.app\n  login: maybe\n",
                     AE_EINVAL,
                     "app.yaml:7:10: login 'maybe' is not one of: optional, required, admin");
    CHECK_LOAD_ERROR(HEADER "handlers:\n- url: /s\n  script: hello.app\n  secure: sometimes\n",
                     AE_EINVAL,
                     "app.yaml:7:11: secure 'sometimes' is not one of: optional, never, always, "
                     "default");
    CHECK_LOAD_ERROR(HEADER "handlers:\n- url: /s\n  script: hello.app\n"
                            "  redirect_http_response_code: 308\n",
                     AE_EINVAL,
                     "app.yaml:7:32: redirect_http_response_code '308' is not one of: 301, 302, "
                     "303, 307");
    CHECK_LOAD_ERROR(HEADER "handlers:\n- url: /s\n  static_dir: s\n  expiration: soon\n",
                     AE_EINVAL,
                     "app.yaml:7:15: expiration 'soon' is invalid: expected a duration such as "
                     "'4d 5h', '30m' or '10s'");
}

TEST(test_config_script_must_name_an_existing_c_file)
{
    CHECK_LOAD_ERROR(HEADER "handlers:\n- url: /.*\n  script: nope.app\n", AE_EINVAL,
                     "app.yaml:6:11: script 'nope.app': file 'nope.c' does not exist");
    CHECK_LOAD_ERROR(HEADER "handlers:\n- url: /.*\n  script: hello\n", AE_EINVAL,
                     "app.yaml:6:11: script 'hello' must be FILE.SYMBOL: a .c file in the app "
                     "directory without its extension, a dot, and the name of the AE_APP table "
                     "it defines (e.g. 'hello.app')");
    CHECK_LOAD_ERROR(HEADER "handlers:\n- url: /.*\n  script: hello.1app\n", AE_EINVAL,
                     "app.yaml:6:11: script 'hello.1app' must be FILE.SYMBOL: a .c file in the "
                     "app directory without its extension, a dot, and the name of the AE_APP "
                     "table it defines (e.g. 'hello.app')");
    CHECK_LOAD_ERROR(HEADER "handlers:\n- url: /.*\n  script: ../hello.app\n", AE_EINVAL,
                     "app.yaml:6:11: script '../hello.app' must be FILE.SYMBOL: a .c file in the "
                     "app directory without its extension, a dot, and the name of the AE_APP "
                     "table it defines (e.g. 'hello.app')");
}

TEST(test_config_script_with_backreference_is_not_checked_on_disk)
{
    das_config_t *cfg;
    CHECK_LOADS(HEADER "handlers:\n- url: /(\\w+)/(\\w+)\n  script: \\1.handle_\\2\n", cfg);
    CHECK_STR_EQ(cfg->handlers[0].script, "\\1.handle_\\2");
    das_config_destroy(cfg);
    fixture_remove();
}

TEST(test_config_script_in_a_subdirectory_is_found)
{
    fixture_new();
    fixture_write("app.yaml", HEADER "handlers:\n- url: /api/.*\n  script: api/v1.main\n");
    fixture_write("api/v1.c", "");
    das_config_t *cfg;
    int rc = fixture_load_path("app.yaml", &cfg);
    CHECK_STR_EQ(g_err, "");
    CHECK_OK(rc);
    CHECK_STR_EQ(cfg->handlers[0].script, "api/v1.main");
    das_config_destroy(cfg);
    fixture_remove();
}

TEST(test_config_http_headers_forbidden_names_are_rejected)
{
    CHECK_LOAD_ERROR(HEADER "handlers:\n- url: /s\n  static_dir: s\n  http_headers:\n"
                            "    Content-Length: 10\n",
                     AE_EINVAL,
                     "app.yaml:8:5: http header 'Content-Length' is disallowed: the server sets "
                     "it");
    CHECK_LOAD_ERROR(HEADER "handlers:\n- url: /s\n  static_dir: s\n  http_headers:\n"
                            "    X-AppEngine-Country: US\n",
                     AE_EINVAL,
                     "app.yaml:8:5: http header 'X-AppEngine-Country' is reserved: names "
                     "beginning with X-Appengine belong to the platform");
    CHECK_LOAD_ERROR(HEADER "handlers:\n- url: /s\n  static_dir: s\n  http_headers:\n"
                            "    Connection: close\n",
                     AE_EINVAL,
                     "app.yaml:8:5: http header 'Connection' is a hop-by-hop header; only "
                     "end-to-end headers may be set (RFC 2616 section 13.5.1)");
    CHECK_LOAD_ERROR(HEADER "handlers:\n- url: /s\n  static_dir: s\n  http_headers:\n"
                            "    Host: example.com\n",
                     AE_EINVAL,
                     "app.yaml:8:5: http header 'Host' can only be used in requests, not "
                     "responses");
    CHECK_LOAD_ERROR(HEADER "handlers:\n- url: /s\n  static_dir: s\n  http_headers:\n"
                            "    \"Bad Name\": x\n",
                     AE_EINVAL,
                     "app.yaml:8:5: http header name 'Bad Name' is not an RFC 2616 token");
    CHECK_LOAD_ERROR(HEADER "handlers:\n- url: /s\n  static_dir: s\n  http_headers: [a]\n",
                     AE_EINVAL,
                     "app.yaml:7:17: http_headers must be a mapping of header names to values, "
                     "not a list");
}

TEST(test_config_mime_type_and_content_type_header_conflict)
{
    CHECK_LOAD_ERROR(HEADER "handlers:\n- url: /s\n  static_dir: s\n  mime_type: text/plain\n"
                            "  http_headers:\n    content-type: text/html\n",
                     AE_EINVAL,
                     "app.yaml:9:5: Content-Type is given both by mime_type and in http_headers; "
                     "set it in one place");
}

TEST(test_config_position_in_app_yaml_is_an_error)
{
    CHECK_LOAD_ERROR(HEADER "handlers:\n- url: /.*\n  script: hello.app\n  position: head\n",
                     AE_EINVAL,
                     "app.yaml:7:3: The position attribute was specified for this handler, but "
                     "this is an app.yaml file. Position attribute is only valid for the "
                     "include.yaml file.");
}

/* ---------------------------------------------------------------- includes */

TEST(test_config_includes_merge_head_tail_and_env)
{
    fixture_new();
    fixture_write("app.yaml", HEADER "env_variables:\n  SHARED: app\n"
                                     "includes:\n- lib/a.yaml\n- more\n"
                                     "handlers:\n- url: /app\n  script: hello.app\n");
    fixture_write("lib/a.yaml", "handlers:\n"
                                "- url: /a-head\n  script: hello.app\n  position: head\n"
                                "- url: /a-tail\n  script: hello.app\n  position: tail\n"
                                "- url: /a-none\n  script: hello.app\n"
                                "env_variables:\n  SHARED: include\n  FROM_A: a\n"
                                "inbound_services: [warmup]\n"
                                "error_handlers:\n- file: a-error.html\n"
                                "includes:\n- nested.yaml\n");
    fixture_write("nested.yaml", "handlers:\n- url: /nested\n  script: hello.app\n"
                                 "  position: head\n");
    fixture_write("more/include.yaml", "handlers:\n- url: /more\n  static_dir: more\n");
    das_config_t *cfg;
    int rc = fixture_load_path("", &cfg);
    CHECK_STR_EQ(g_err, "");
    CHECK_OK(rc);
    static const char *const order[] = {"/a-head", "/nested", "/app", "/a-tail", "/a-none",
                                        "/more"};
    CHECK_EQ(cfg->n_handlers, 6);
    for (size_t i = 0; i < 6; i++)
        CHECK_STR_EQ(cfg->handlers[i].url, order[i]);
    CHECK_STR_EQ(rel(cfg->handlers[0].file), "lib/a.yaml");
    CHECK_STR_EQ(rel(cfg->handlers[1].file), "nested.yaml");
    CHECK_STR_EQ(rel(cfg->handlers[2].file), "app.yaml");
    CHECK_STR_EQ(rel(cfg->handlers[5].file), "more/include.yaml");
    CHECK_EQ(cfg->n_env_variables, 2);
    CHECK_STR_EQ(cfg->env_variables[0].name, "SHARED");
    CHECK_STR_EQ(cfg->env_variables[0].value, "app");
    CHECK_STR_EQ(cfg->env_variables[1].name, "FROM_A");
    CHECK_STR_EQ(cfg->env_variables[1].value, "a");
    CHECK(cfg->inbound_warmup);
    CHECK_STR_EQ(cfg->error_handler_file, "a-error.html");
    das_config_destroy(cfg);
    fixture_remove();
}

TEST(test_config_include_cycle_is_an_error)
{
    fixture_new();
    fixture_write("app.yaml", HEADER "includes:\n- a.yaml\n");
    fixture_write("a.yaml", "includes:\n- b.yaml\n");
    fixture_write("b.yaml", "includes:\n- a.yaml\n");
    das_config_t *cfg;
    int rc = fixture_load_path("", &cfg);
    fixture_remove();
    CHECK_STR_EQ(g_err, "b.yaml:2:3: include cycle: a.yaml -> b.yaml -> a.yaml");
    CHECK_EQ(rc, AE_EINVAL);
}

TEST(test_config_including_app_yaml_itself_is_a_cycle)
{
    CHECK_LOAD_ERROR(HEADER "includes:\n- app.yaml\n", AE_EINVAL,
                     "app.yaml:5:3: include cycle: app.yaml -> app.yaml");
}

TEST(test_config_include_repeated_without_cycle_is_a_warning)
{
    fixture_new();
    fixture_write("app.yaml", HEADER "includes:\n- a.yaml\n- b.yaml\n");
    fixture_write("a.yaml", "includes:\n- c.yaml\n");
    fixture_write("b.yaml", "includes:\n- c.yaml\n");
    fixture_write("c.yaml", "handlers:\n- url: /c\n  script: hello.app\n");
    das_config_t *cfg;
    int rc = fixture_load_path("", &cfg);
    CHECK_STR_EQ(g_err, "");
    CHECK_OK(rc);
    CHECK_EQ(cfg->n_handlers, 1);
    CHECK_EQ(cfg->n_warnings, 1);
    CHECK_STR_EQ(rel(cfg->warnings[0]),
                 "b.yaml:2:3: 'c.yaml' is included more than once; this include is ignored");
    das_config_destroy(cfg);
    fixture_remove();
}

TEST(test_config_include_errors_name_the_included_file)
{
    fixture_new();
    fixture_write("app.yaml", HEADER "includes:\n- inc.yaml\n- missing.yaml\n");
    fixture_write("inc.yaml", "runtime: c\n");
    das_config_t *cfg;
    int rc = fixture_load_path("", &cfg);
    CHECK_EQ(rc, AE_EINVAL);
    CHECK_STR_EQ(g_err, "inc.yaml:1:1: field 'runtime' is not allowed in an included file "
                        "(allowed: includes, handlers, env_variables, inbound_services, "
                        "error_handlers, skip_files)");
    fixture_write("inc.yaml", "handler:\n- url: /x\n");
    rc = fixture_load_path("", &cfg);
    CHECK_EQ(rc, AE_EINVAL);
    CHECK_STR_EQ(g_err, "inc.yaml:1:1: unknown field 'handler' (did you mean 'handlers'?)");
    fixture_write("inc.yaml", "handlers:\n- url: /x\n  scriptt: hello.app\n");
    rc = fixture_load_path("", &cfg);
    CHECK_STR_EQ(g_err, "inc.yaml:3:3: unknown handler field 'scriptt' (did you mean 'script'?)");
    fixture_write("inc.yaml", "handlers:\n- url: /x\n  static_dir: x\n  position: head\n");
    rc = fixture_load_path("", &cfg);
    CHECK_STR_EQ(g_err, "inc.yaml:4:3: field 'position' is not allowed in a static_dir handler");
    fixture_write("inc.yaml", "builtins:\n- deferred: on\n");
    rc = fixture_load_path("", &cfg);
    CHECK_EQ(rc, AE_ENOTFOUND);
    CHECK_STR_EQ(g_err, "app.yaml:6:3: cannot read include 'missing.yaml': No such file or "
                        "directory");
    fixture_remove();
}

TEST(test_config_include_skip_files_are_merged)
{
    fixture_new();
    fixture_write("app.yaml", HEADER "skip_files: ^a$\nincludes:\n- inc.yaml\n");
    fixture_write("inc.yaml", "skip_files: ^b$\n");
    das_config_t *cfg;
    int rc = fixture_load_path("", &cfg);
    CHECK_OK(rc);
    CHECK_STR_EQ(cfg->skip_files, "(?:^a$)|(?:^b$)");
    das_config_destroy(cfg);
    fixture_remove();
}

/* ---------------------------------------------------------------- yaml level */

TEST(test_config_duplicate_key_names_both_positions)
{
    CHECK_LOAD_ERROR("runtime: c\nthreadsafe: true\nruntime: c\n", AE_EINVAL,
                     "app.yaml:3:1: duplicate key 'runtime' (first defined at line 1, column 1)");
    CHECK_LOAD_ERROR(HEADER "handlers:\n- url: /a\n  script: hello.app\n  url: /b\n", AE_EINVAL,
                     "app.yaml:7:3: duplicate key 'url' (first defined at line 5, column 3)");
}

TEST(test_config_empty_file_is_an_error)
{
    CHECK_LOAD_ERROR("", AE_EINVAL, "app.yaml:1:1: empty configuration file");
    CHECK_LOAD_ERROR("# only a comment\n", AE_EINVAL, "app.yaml:1:1: empty configuration file");
    CHECK_LOAD_ERROR("---\n", AE_EINVAL, "app.yaml:2:1: empty configuration file");
}

TEST(test_config_two_documents_are_an_error)
{
    CHECK_LOAD_ERROR(HEADER "---\nruntime: c\n", AE_EINVAL,
                     "app.yaml:4:1: multiple documents in one configuration file");
}

TEST(test_config_yaml_syntax_error_reports_libyaml_problem_and_position)
{
    CHECK_LOAD_ERROR("runtime: c\nthreadsafe: true\nhandlers:\n- url: /\n script: x\n",
                     AE_EINVAL,
                     "app.yaml:5:2: did not find expected key while parsing a block mapping that "
                     "started at line 1, column 1");
    CHECK_LOAD_ERROR("runtime: c\nthreadsafe: [true\n", AE_EINVAL,
                     "app.yaml:3:1: did not find expected ',' or ']' while parsing a flow "
                     "sequence that started at line 2, column 13");
    CHECK_LOAD_ERROR("runtime: \"c\n", AE_EINVAL,
                     "app.yaml:2:1: found unexpected end of stream while scanning a quoted "
                     "scalar that started at line 1, column 10");
    CHECK_LOAD_ERROR("runtime: c\nthreadsafe: true\n\tbad: x\n", AE_EINVAL,
                     "app.yaml:3:1: found a tab character that violates indentation while "
                     "scanning a plain scalar that started at line 2, column 13");
    CHECK_LOAD_ERROR("runtime: c\nthreadsafe: \xff\n", AE_EINVAL,
                     "app.yaml:2:13: invalid leading UTF-8 octet (byte 0xff)");
}

TEST(test_config_top_level_must_be_a_mapping)
{
    CHECK_LOAD_ERROR("- runtime: c\n", AE_EINVAL,
                     "app.yaml:1:1: the top level must be a mapping of field names to values, "
                     "not a list");
    CHECK_LOAD_ERROR("[a]: b\n", AE_EINVAL,
                     "app.yaml:1:1: mapping keys must be plain strings, not a list");
}

TEST(test_config_anchors_and_aliases_are_expanded)
{
    das_config_t *cfg;
    CHECK_LOADS(HEADER "handlers:\n"
                       "- &h\n"
                       "  url: /one\n"
                       "  script: hello.app\n"
                       "  login: &lvl admin\n"
                       "- url: /two\n"
                       "  script: hello.app\n"
                       "  login: *lvl\n",
                cfg);
    CHECK_EQ(cfg->n_handlers, 2);
    CHECK_EQ(cfg->handlers[1].login, DAS_LOGIN_ADMIN);
    das_config_destroy(cfg);
    fixture_remove();
    CHECK_LOAD_ERROR(HEADER "handlers:\n- *nothing\n", AE_EINVAL,
                     "app.yaml:5:3: alias '*nothing' names no anchor defined before it");
    CHECK_LOAD_ERROR(HEADER "handlers: &a\n- *a\n", AE_EINVAL,
                     "app.yaml:5:3: alias '*a' refers to a node that contains it");
}

TEST(test_config_alias_bombs_are_bounded)
{
    das_buf_t yaml = {0};
    das_buf_puts(&yaml, HEADER "env_variables:\n  X: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for (int i = 1; i < 9; i++)
        das_buf_printf(&yaml, "  X%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, "
                              "*a%d, *a%d]\n",
                       i, i, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
    das_config_t *cfg = NULL;
    int rc = load_app(yaml.data, &cfg);
    das_buf_dispose(&yaml);
    das_config_destroy(cfg);
    fixture_remove();
    CHECK_EQ(rc, AE_EINVAL);
    CHECK_STR_CONTAINS(g_err, "document too large (more than 100000 nodes, counting aliases)");
}

TEST(test_config_alias_bombs_of_big_strings_are_bounded_by_bytes)
{
    /* A 100 KB string aliased 50,000 times: few nodes, gigabytes once expanded. It once
     * reached 4.9 GB before it was refused. */
    das_buf_t yaml = {0};
    das_buf_puts(&yaml, HEADER "skip_files: &big \"");
    for (int i = 0; i < 100000; i++)
        das_buf_append(&yaml, "y", 1);
    das_buf_puts(&yaml, "\"\nenv_variables:\n  L: [");
    for (int i = 0; i < 50000; i++)
        das_buf_puts(&yaml, i ? ", *big" : "*big");
    das_buf_puts(&yaml, "]\n");
    das_config_t *cfg = NULL;
    int rc = load_app(yaml.data, &cfg);
    das_buf_dispose(&yaml);
    das_config_destroy(cfg);
    fixture_remove();
    CHECK_EQ(rc, AE_EINVAL);
    CHECK_STR_CONTAINS(g_err, "app.yaml:");
    CHECK_STR_CONTAINS(g_err, "document too large (more than 16 MB once its aliases are "
                              "expanded)");
}

TEST(test_config_env_variable_execve_cannot_pass_is_refused)
{
    das_buf_t yaml = {0};
    das_buf_puts(&yaml, HEADER "env_variables:\n  SMALL: ok\n  BIG: ");
    for (int i = 0; i < 128 * 1024; i++)
        das_buf_append(&yaml, "z", 1);
    das_buf_puts(&yaml, "\n");
    das_config_t *cfg = NULL;
    int rc = load_app(yaml.data, &cfg);
    das_buf_dispose(&yaml);
    das_config_destroy(cfg);
    fixture_remove();
    CHECK_EQ(rc, AE_EINVAL);
    CHECK_STR_CONTAINS(g_err, "app.yaml:");
    CHECK_STR_CONTAINS(g_err, "env_variables value of 'BIG' is too long");
}

/* ---------------------------------------------------------------- paths */

TEST(test_config_accepts_a_file_path_and_app_yml)
{
    fixture_new();
    fixture_write("app.yml", HEADER);
    das_config_t *cfg;
    int rc = fixture_load_path("", &cfg);
    CHECK_STR_EQ(g_err, "");
    CHECK_OK(rc);
    CHECK_STR_EQ(cfg->appdir, g_real);
    CHECK(das_str_has_suffix(cfg->path, "/app.yml"));
    das_config_destroy(cfg);
    rc = fixture_load_path("app.yml", &cfg);
    CHECK_OK(rc);
    CHECK_STR_EQ(cfg->appdir, g_real);
    das_config_destroy(cfg);
    fixture_remove();
}

TEST(test_config_relative_path_is_kept_in_messages)
{
    fixture_new();
    fixture_write("app/app.yaml", "runtime: go\nthreadsafe: true\n");
    char cwd[PATH_MAX];
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    CHECK_OK(chdir(g_dir));
    das_config_t *cfg = NULL;
    das_err_t err = {0};
    int rc = das_config_load("app", &cfg, &err);
    int rc2 = chdir(cwd);
    fixture_remove();
    CHECK_OK(rc2);
    CHECK_EQ(rc, AE_EINVAL);
    CHECK_STR_EQ(err.msg, "app/app.yaml:1:10: runtime 'go' is not supported by devappserver; "
                          "supported runtimes: c");
}

TEST(test_config_missing_app_yaml_is_not_found)
{
    fixture_new();
    das_config_t *cfg;
    int rc = fixture_load_path("", &cfg);
    char expected[PATH_MAX + 64];
    snprintf(expected, sizeof expected, "%s: no app.yaml found: No such file or directory",
             g_dir);
    CHECK_EQ(rc, AE_ENOTFOUND);
    CHECK(cfg == NULL);
    CHECK_STR_EQ(g_err, expected);
    rc = fixture_load_path("nowhere", &cfg);
    CHECK_EQ(rc, AE_ENOTFOUND);
    CHECK_STR_EQ(g_err, "nowhere: No such file or directory");
    fixture_remove();
    das_config_destroy(NULL);
}

CHECK_MAIN()
