/* fuzz_router.c - handler url patterns (src/router.h) on arbitrary input.
 *
 * The input is split at its first NUL or newline: the first part is a url pattern, the rest a
 * request path. The pattern goes into a minimal app.yaml (written as a YAML double-quoted
 * string, so that every byte of it reaches the loader as written):
 *
 *   runtime: c / api_version: 1 / threadsafe: true / handlers: - url: PATTERN, script: a.app
 *
 * which is loaded with das_config_load(); when it loads, the router is created and the path
 * matched. A match must be a whole match of the path, checked independently with PCRE2.
 *
 * A second app.yaml then puts the same pattern in each kind of handler (a script with a
 * back-reference, a static_dir and a static_files with \1), and the path is matched from each
 * handler in turn: the route must be the handler asked for or a later one, its target the
 * handler's shape (a static_dir's under the directory).
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "fuzz_util.h"
#include "router.h"

static char appdir[4096], app_yaml[4200];

static void setup(void)
{
    const char *dir = fuzz_scratch_dir("router");
    snprintf(appdir, sizeof appdir, "%s/app", dir);
    snprintf(app_yaml, sizeof app_yaml, "%s/app.yaml", appdir);
    mkdir(appdir, 0755);
    char p[4400];
    snprintf(p, sizeof p, "%s/a.c", appdir);
    fuzz_write_file(p, "", 0);
}

/* Appends `s` (`n` bytes) to `b` as the inside of a YAML double-quoted string. */
static void yaml_quote(das_buf_t *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            das_buf_printf(b, "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            das_buf_printf(b, "\\x%02x", c);
        else
            das_buf_append(b, &s[i], 1);
    }
}

static int load(const das_buf_t *yaml, das_config_t **cfg)
{
    fuzz_write_file(app_yaml, yaml->data, yaml->len);
    das_err_t err = {0};
    int rc = das_config_load(appdir, cfg, &err);
    if (getenv("FUZZ_VERBOSE"))
        fprintf(stderr, "das_config_load: %d %s\n", rc, rc < 0 ? err.msg : "");
    if (rc < 0)
        FUZZ_CHECK(*cfg == NULL && err.msg[0] != '\0');
    return rc;
}

/* Does `pattern` match the whole of `path`, by PCRE2 directly, the way router.h says? Returns
 * 1 or 0, or -1 when PCRE2 cannot tell (the pattern does not compile, or hits a limit). */
static int whole_match(const char *pattern, const char *path)
{
    char *full = das_xasprintf("^(?:%s)$", pattern);
    int code;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)full, PCRE2_ZERO_TERMINATED, PCRE2_DOTALL, &code,
                                   &off, NULL);
    free(full);
    if (!re)
        return -1;
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    size_t len = strlen(path);
    int rc = pcre2_match(re, (PCRE2_SPTR)path, len, 0, 0, md, NULL);
    int result = -1;
    if (rc >= 0) {
        const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        /* Ends at the end of the path: (*ACCEPT) can end a match early. (Not ov[0] == 0: a \K
         * moves the reported start.) '$' also matches before a final newline, as in Python's
         * re, which the platform used: "/a" matches "/a\n" there too. */
        result = ov[1] == len || (ov[1] + 1 == len && path[len - 1] == '\n');
    } else if (rc == PCRE2_ERROR_NOMATCH) {
        result = 0;
    }
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    return result;
}

/* The brief's case: one script handler. */
static void fuzz_one_handler(const char *pattern, size_t plen, const char *path)
{
    das_buf_t yaml = {0};
    das_buf_puts(&yaml, "runtime: c\napi_version: 1\nthreadsafe: true\nhandlers:\n- url: \"");
    yaml_quote(&yaml, pattern, plen);
    das_buf_puts(&yaml, "\"\n  script: a.app\n");
    das_config_t *cfg = NULL;
    int rc = load(&yaml, &cfg);
    das_buf_dispose(&yaml);
    if (rc < 0)
        return;
    FUZZ_CHECK(cfg->n_handlers == 1 && strcmp(cfg->handlers[0].url, pattern) == 0);
    das_router_t *r = NULL;
    das_err_t err = {0};
    if (das_router_create(cfg, &r, &err) == 0) {
        das_route_t route;
        rc = das_router_match(r, path, 0, &route);
        FUZZ_CHECK(rc == 0 || rc == AE_ENOTFOUND || rc == AE_EINTERNAL); /* a match limit */
        if (rc == 0) {
            FUZZ_CHECK(route.index == 0 && route.handler == &cfg->handlers[0]);
            FUZZ_CHECK(route.target && strcmp(route.target, "a.app") == 0);
            das_route_dispose(&route);
        }
        int expect = whole_match(pattern, path);
        if (expect >= 0)
            FUZZ_CHECK((rc == 0) == (expect == 1));
        /* Past the last handler nothing matches. */
        FUZZ_CHECK(das_router_match(r, path, 1, &route) == AE_ENOTFOUND);
        das_router_destroy(r);
    }
    das_config_destroy(cfg);
}

/* The same pattern in a script handler with a back-reference, a static_dir and a
 * static_files handler. */
static void fuzz_handler_kinds(const char *pattern, size_t plen, const char *path)
{
    das_buf_t yaml = {0};
    das_buf_puts(&yaml, "runtime: c\napi_version: 1\nthreadsafe: true\nhandlers:\n");
    static const char *const bodies[] = {
        "  script: a\\1.app\n",
        "  static_dir: static/\n",
        "  static_files: static/\\1\n  upload: static/.*\n",
    };
    for (int i = 0; i < 3; i++) {
        das_buf_puts(&yaml, "- url: \"");
        yaml_quote(&yaml, pattern, plen);
        das_buf_puts(&yaml, "\"\n");
        das_buf_puts(&yaml, bodies[i]);
    }
    das_config_t *cfg = NULL;
    int rc = load(&yaml, &cfg);
    das_buf_dispose(&yaml);
    if (rc < 0)
        return;
    FUZZ_CHECK(cfg->n_handlers == 3);
    das_router_t *r = NULL;
    das_err_t err = {0};
    if (das_router_create(cfg, &r, &err) == 0) {
        for (size_t from = 0; from < 3; from++) {
            das_route_t route;
            rc = das_router_match(r, path, from, &route);
            FUZZ_CHECK(rc == 0 || rc == AE_ENOTFOUND || rc == AE_EINTERNAL); /* a match limit */
            if (rc < 0)
                continue;
            FUZZ_CHECK(route.index >= from && route.index < 3);
            FUZZ_CHECK(route.handler == &cfg->handlers[route.index] && route.target);
            if (route.index == 0)
                FUZZ_CHECK(route.target[0] == 'a' && das_str_has_suffix(route.target, ".app"));
            else
                FUZZ_CHECK(das_str_has_prefix(route.target, "static/"));
            das_route_dispose(&route);
        }
        das_router_destroy(r);
    }
    das_config_destroy(cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!appdir[0])
        setup();
    char *input = fuzz_cstr(data, size);
    size_t plen = strcspn(input, "\n"); /* stops at the first NUL too */
    char *pattern = das_xstrndup(input, plen);
    const char *path = plen < size ? input + plen + 1 : "";
    fuzz_one_handler(pattern, plen, path);
    fuzz_handler_kinds(pattern, plen, path);
    free(pattern);
    free(input);
    return 0;
}
