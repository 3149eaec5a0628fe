/* config.c - loads app.yaml (and the files its `includes:` name) into a validated das_config_t.
 *
 * Design: yaml_tree.c turns each file into a tree of positioned nodes; this file walks the tree
 * and checks every field the way the App Engine platform's appinfo did, so that every error
 * can say "file:line:col: message". A loader_t carries what one load needs: the config being
 * filled, the file being read (its name as the user would write it), the include stack for
 * cycle detection, and three handler lists (include `head` handlers, app.yaml's own, include
 * `tail` handlers) that are joined in that order once everything is read. Nothing is global;
 * on any error the partly filled config is destroyed.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <pcre2.h>

#include "yaml_tree.h"

#define MAX_HTTP_HEADERS 500
#define MAX_INCLUDE_DEPTH 32
#define TOO_MANY_HANDLERS "Found more than 100 URLMap entries in application configuration"
#define POSITION_IN_APP_YAML                                                                   \
    "The position attribute was specified for this handler, but this is an app.yaml file. "   \
    "Position attribute is only valid for the include.yaml file."

/* The platform's patterns (appinfo.py), matched whole. */
#define APPLICATION_RE                                                                         \
    "(?:[a-z\\d\\-]{1,100}\\~)?(?:(?!\\-)[a-z\\d\\-\\.]{1,100}:)?(?!-)[a-z\\d\\-]{0,99}[a-z\\d]"
#define VERSION_RE "(?!-)[a-z\\d\\-]{0,62}[a-z\\d]"
#define API_VERSION_RE "[\\w.]{1,32}"
#define ENV_NAME_RE "[a-zA-Z_][a-zA-Z0-9_]*"

/* ---------------------------------------------------------------- field tables */

/* Fields app.yaml may hold and devappserver uses. */
static const char *const app_fields[] = {
    "application", "project", "version", "runtime", "api_version", "threadsafe", "handlers",
    "default_expiration", "error_handlers", "skip_files", "env_variables", "inbound_services",
    "automatic_scaling", "manual_scaling", "basic_scaling", "includes", NULL};

/* Fields the platform accepts that devappserver does not emulate: a warning, not an error. */
static const char *const ignored_fields[] = {
    "service", "module", "instance_class", "builtins", "libraries", "auto_id_policy",
    "api_config", "admin_console", "backends", "derived_file_type", "nobuild_files",
    "code_lock", "standard_websocket", "vm", "env", "vm_settings", "beta_settings",
    "vm_health_check", "health_check", "liveness_check", "readiness_check", "resources",
    "network", "vpc_access_connector", "zones", "entrypoint", "runtime_config",
    "runtime_channel", "main", "source_language", "endpoints_api_service", NULL};

/* Fields an included file may hold, and those it may hold that we ignore. */
static const char *const include_fields[] = {"includes", "handlers", "env_variables",
                                             "inbound_services", "error_handlers", "skip_files",
                                             NULL};
static const char *const include_ignored_fields[] = {
    "builtins", "admin_console", "manual_scaling", "vm", "vm_settings", "beta_settings", NULL};

/* Handler fields, and the handler kinds each may appear in (the platform's "allowed
 * combinations"). */
#define K_SCRIPT (1u << DAS_HANDLER_SCRIPT)
#define K_DIR (1u << DAS_HANDLER_STATIC_DIR)
#define K_FILES (1u << DAS_HANDLER_STATIC_FILES)
#define K_STATIC (K_DIR | K_FILES)
#define K_ALL (K_SCRIPT | K_STATIC)
static const char *const handler_fields[] = {
    "url", "script", "static_dir", "static_files", "upload", "mime_type", "expiration",
    "http_headers", "require_matching_file", "application_readable", "login",
    "auth_fail_action", "secure", "redirect_http_response_code", "position", "api_endpoint",
    NULL};
static const unsigned handler_field_kinds[] = {
    K_ALL,    K_SCRIPT, K_DIR,    K_FILES, K_FILES, K_STATIC, K_STATIC, K_STATIC,
    K_STATIC, K_STATIC, K_ALL,    K_ALL,   K_ALL,   K_ALL,    K_SCRIPT, K_ALL};

static const char *const login_names[] = {"optional", "required", "admin", NULL};
static const char *const auth_fail_names[] = {"redirect", "unauthorized", NULL};
static const char *const secure_names[] = {"optional", "never", "always", "default", NULL};
static const char *const redirect_code_names[] = {"301", "302", "303", "307", NULL};
static const char *const position_names[] = {"head", "tail", NULL};
static const char *const error_code_names[] = {"default", "over_quota", "dos_api_denial",
                                               "timeout", NULL};
static const char *const error_handler_fields[] = {"error_code", "file", "mime_type", NULL};
static const char *const inbound_names[] = {
    "mail", "mail_bounce", "rest", "warmup", "xmpp_message", "xmpp_subscribe",
    "xmpp_presence", "xmpp_error", "channel_presence", NULL};

/* automatic_scaling sub-keys: a whole-match pattern (NULL: checked specially) and a minimum. */
static const struct {
    const char *name;
    const char *pattern;
    long min;
} auto_fields[] = {
    {"min_idle_instances", "\\d+|automatic", 0},
    {"max_idle_instances", "\\d+|automatic", 0},
    {"min_pending_latency", "\\d+((\\.\\d{1,3})?s|ms)|automatic", 0},
    {"max_pending_latency", "\\d+((\\.\\d{1,3})?s|ms)|automatic", 0},
    {"max_concurrent_requests", NULL, 0},
    {"min_num_instances", "\\d+", 1},
    {"max_num_instances", "\\d+", 1},
    {"cool_down_period_sec", "\\d+", 60},
    {"cpu_utilization", NULL, 0},
    {"min_instances", "\\d+", 0},
    {"max_instances", "\\d+", 0},
    {"target_cpu_utilization", "\\d*\\.?\\d+", 0},
    {"target_throughput_utilization", "\\d*\\.?\\d+", 0},
    {"target_network_sent_bytes_per_sec", "\\d+", 0},
    {"target_network_sent_packets_per_sec", "\\d+", 0},
    {"target_network_received_bytes_per_sec", "\\d+", 0},
    {"target_network_received_packets_per_sec", "\\d+", 0},
    {"target_disk_write_bytes_per_sec", "\\d+", 0},
    {"target_disk_write_ops_per_sec", "\\d+", 0},
    {"target_disk_read_bytes_per_sec", "\\d+", 0},
    {"target_disk_read_ops_per_sec", "\\d+", 0},
    {"target_request_count_per_sec", "\\d+", 0},
    {"target_concurrent_requests", "\\d+", 0},
    {"custom_metrics", NULL, 0},
};
#define N_AUTO_FIELDS (sizeof auto_fields / sizeof auto_fields[0])

/* http_headers names the platform refuses (appinfo.HttpHeadersDict). */
static const char *const request_only_headers[] = {
    "accept", "accept-charset", "accept-encoding", "accept-language", "authorization",
    "expect", "from", "host", "if-match", "if-modified-since", "if-none-match", "if-range",
    "if-unmodified-since", "max-forwards", "proxy-authorization", "range", "referer", "te",
    "user-agent", NULL};
static const char *const hop_by_hop_headers[] = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
    "transfer-encoding", "upgrade", NULL};
static const char *const server_set_headers[] = {"content-encoding", "content-length", "date",
                                                 "server", NULL};

/* ---------------------------------------------------------------- private types */

typedef struct {
    das_config_handler_t *v;
    size_t n;
} handler_list_t;

typedef struct {
    const char *canon;   /* realpath, owned by loader_t.seen */
    const char *display; /* borrowed from the frame that pushed it */
} include_frame_t;

typedef struct {
    das_config_t *cfg;
    das_err_t *err;
    const char *file;     /* name of the yaml file being read, as the user would write it */
    char *disp_dir;       /* the user's spelling of APPDIR: "" or ending in '/' */
    bool in_include;      /* reading an included file, not app.yaml */
    include_frame_t stack[MAX_INCLUDE_DEPTH + 1];
    size_t depth;
    char **seen; /* realpaths of every file read, to skip repeated includes */
    size_t n_seen;
    handler_list_t head, own, tail;
} loader_t;

/* ---------------------------------------------------------------- messages */

static int fail_code(loader_t *ld, int code, const das_yaml_node_t *at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(loader_t *ld, const das_yaml_node_t *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void warn(loader_t *ld, const das_yaml_node_t *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int vfail(loader_t *ld, int code, const das_yaml_node_t *at, const char *fmt, va_list ap)
{
    das_buf_t msg = {0};
    das_buf_vprintf(&msg, fmt, ap);
    das_err_set(ld->err, code, "%s:%d:%d: %s", ld->file, at->line, at->col, msg.data);
    das_buf_dispose(&msg);
    return code;
}

static int fail_code(loader_t *ld, int code, const das_yaml_node_t *at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(ld, code, at, fmt, ap);
    va_end(ap);
    return code;
}

/* Fills the error with "file:line:col: message" about `at`; returns AE_EINVAL. */
static int fail(loader_t *ld, const das_yaml_node_t *at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(ld, AE_EINVAL, at, fmt, ap);
    va_end(ap);
    return AE_EINVAL;
}

static void warn(loader_t *ld, const das_yaml_node_t *at, const char *fmt, ...)
{
    das_config_t *cfg = ld->cfg;
    das_buf_t msg = {0};
    das_buf_printf(&msg, "%s:%d:%d: ", ld->file, at->line, at->col);
    va_list ap;
    va_start(ap, fmt);
    das_buf_vprintf(&msg, fmt, ap);
    va_end(ap);
    cfg->warnings = das_xrealloc(cfg->warnings, (cfg->n_warnings + 1) * sizeof *cfg->warnings);
    cfg->warnings[cfg->n_warnings++] = das_buf_steal(&msg);
}

static int index_of(const char *const *names, const char *s)
{
    for (int i = 0; names[i]; i++)
        if (strcmp(names[i], s) == 0)
            return i;
    return -1;
}

/* The closest name in `a` or `b` (either may be NULL) within edit distance 2, or NULL. */
static const char *suggest(const char *word, const char *const *a, const char *const *b)
{
    const char *best = NULL;
    size_t best_d = 3, len = strlen(word);
    const char *const *lists[2] = {a, b};
    for (int l = 0; l < 2; l++) {
        for (size_t i = 0; lists[l] && lists[l][i]; i++) {
            size_t d = das_str_distance(word, lists[l][i]);
            if (d < best_d && d < len) {
                best = lists[l][i];
                best_d = d;
            }
        }
    }
    return best;
}

/* "unknown WHATfield 'KEY' (did you mean 'X'?)" at the key. */
static int fail_unknown(loader_t *ld, const das_yaml_node_t *key, const char *what,
                        const char *const *a, const char *const *b)
{
    const char *hint = suggest(key->text, a, b);
    if (hint)
        return fail(ld, key, "unknown %sfield '%s' (did you mean '%s'?)", what, key->text, hint);
    return fail(ld, key, "unknown %sfield '%s'", what, key->text);
}

/* Fails on the first key of `map` not in `known`. */
static int check_keys(loader_t *ld, const das_yaml_node_t *map, const char *what,
                      const char *const *known)
{
    for (size_t i = 0; i < map->n_pairs; i++)
        if (index_of(known, map->pairs[i].key->text) < 0)
            return fail_unknown(ld, map->pairs[i].key, what, known, NULL);
    return 0;
}

/* ---------------------------------------------------------------- scalar helpers */

/* A YAML 1.1 null: an empty or ~/null plain scalar. Such a value counts as absent. */
static bool is_null(const das_yaml_node_t *n)
{
    return n->kind == DAS_YAML_SCALAR && n->plain &&
           (n->len == 0 || strcmp(n->text, "~") == 0 || strcmp(n->text, "null") == 0 ||
            strcmp(n->text, "Null") == 0 || strcmp(n->text, "NULL") == 0);
}

/* The non-null value under `key`, or NULL. */
static const das_yaml_node_t *get(const das_yaml_node_t *map, const char *key)
{
    const das_yaml_node_t *v = das_yaml_tree_get(map, key);
    return v && !is_null(v) ? v : NULL;
}

static int want_str(loader_t *ld, const das_yaml_node_t *v, const char *what, const char **out)
{
    *out = "";
    if (v->kind != DAS_YAML_SCALAR)
        return fail(ld, v, "%s must be a string, not %s", what,
                    das_yaml_tree_kind_name(v->kind));
    *out = v->text;
    return 0;
}

/* A string field that must not be empty; stores a copy in *out. */
static int want_strdup(loader_t *ld, const das_yaml_node_t *v, const char *what, char **out)
{
    const char *s;
    int rc = want_str(ld, v, what, &s);
    if (rc < 0)
        return rc;
    if (!*s)
        return fail(ld, v, "%s must not be empty", what);
    *out = das_xstrdup(s);
    return 0;
}

static int want_bool(loader_t *ld, const das_yaml_node_t *v, const char *what, bool *out)
{
    if (v->kind != DAS_YAML_SCALAR)
        return fail(ld, v, "%s must be true or false, not %s", what,
                    das_yaml_tree_kind_name(v->kind));
    if (!v->plain)
        return fail(ld, v,
                    "%s must be true or false, not the quoted string \"%s\" (quotes make a YAML "
                    "value a string)",
                    what, v->text);
    if (das_config_parse_bool(v->text, out) < 0)
        return fail(ld, v, "%s must be true or false (or yes/no, on/off), not '%s'", what,
                    v->text);
    return 0;
}

static int want_enum(loader_t *ld, const das_yaml_node_t *v, const char *what,
                     const char *const *names, int *out)
{
    const char *s;
    int rc = want_str(ld, v, what, &s);
    if (rc < 0)
        return rc;
    if ((*out = index_of(names, s)) >= 0)
        return 0;
    das_buf_t opts = {0};
    for (size_t i = 0; names[i]; i++)
        das_buf_printf(&opts, "%s%s", i ? ", " : "", names[i]);
    rc = fail(ld, v, "%s '%s' is not one of: %s", what, s, opts.data);
    das_buf_dispose(&opts);
    return rc;
}

static int want_expiration(loader_t *ld, const das_yaml_node_t *v, const char *what, long *out)
{
    const char *s;
    int rc = want_str(ld, v, what, &s);
    if (rc < 0)
        return rc;
    if (das_config_parse_expiration(s, out) < 0)
        return fail(ld, v,
                    "%s '%s' is invalid: expected a duration such as '4d 5h', '30m' or '10s'",
                    what, s);
    return 0;
}

/* ---------------------------------------------------------------- regexes */

/* Compiles `re` with PCRE2; on failure stores the message and offset and returns false. */
static bool regex_compiles(const char *re, char *msg, size_t msg_len, size_t *offset)
{
    int code;
    PCRE2_SIZE off;
    pcre2_code *c = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, 0, &code, &off, NULL);
    if (c) {
        pcre2_code_free(c);
        return true;
    }
    if (pcre2_get_error_message(code, (PCRE2_UCHAR *)msg, msg_len) < 0)
        snprintf(msg, msg_len, "PCRE2 error %d", code);
    *offset = (size_t)off;
    return false;
}

static int want_regex(loader_t *ld, const das_yaml_node_t *at, const char *what, const char *re)
{
    char msg[256];
    size_t off;
    if (regex_compiles(re, msg, sizeof msg, &off))
        return 0;
    return fail(ld, at, "invalid %s '%s': %s at offset %zu", what, re, msg, off);
}

/* True when all of `text` matches `pattern` (the platform wraps patterns as ^(?:P)$). */
static bool whole_match(const char *pattern, const char *text)
{
    char *full = das_xasprintf("^(?:%s)$", pattern);
    int code;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)full, PCRE2_ZERO_TERMINATED, 0, &code, &off, NULL);
    free(full);
    if (!re)
        return false;
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    int rc = pcre2_match(re, (PCRE2_SPTR)text, PCRE2_ZERO_TERMINATED, 0, 0, md, NULL);
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    return rc >= 0;
}

/* A string field that must match `pattern` whole; `rule` says in words what it must be. */
static int want_match(loader_t *ld, const das_yaml_node_t *v, const char *what,
                      const char *pattern, const char *rule, const char **out)
{
    int rc = want_str(ld, v, what, out);
    if (rc < 0)
        return rc;
    if (!whole_match(pattern, *out))
        return fail(ld, v, "%s '%s' is invalid: %s", what, *out, rule);
    return 0;
}

/* ---------------------------------------------------------------- handlers */

static void handler_dispose(das_config_handler_t *h)
{
    free(h->url);
    free(h->script);
    free(h->static_dir);
    free(h->static_files);
    free(h->upload);
    free(h->mime_type);
    for (size_t i = 0; i < h->n_http_headers; i++) {
        free(h->http_headers[i].name);
        free(h->http_headers[i].value);
    }
    free(h->http_headers);
    free(h->file);
}

static void list_push(handler_list_t *l, const das_config_handler_t *h)
{
    l->v = das_xrealloc(l->v, (l->n + 1) * sizeof *l->v);
    l->v[l->n++] = *h;
}

static void list_dispose(handler_list_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        handler_dispose(&l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static const char *kind_name(das_handler_kind_t kind)
{
    return kind == DAS_HANDLER_SCRIPT ? "script"
           : kind == DAS_HANDLER_STATIC_DIR ? "static_dir"
                                            : "static_files";
}

static int parse_url(loader_t *ld, const das_yaml_node_t *v, das_config_handler_t *h)
{
    const char *s;
    int rc = want_str(ld, v, "url", &s);
    if (rc < 0)
        return rc;
    if (s[0] == '^')
        return fail(ld, v, "url '%s' must not start with '^' (handler urls always match from the "
                           "start of the path)", s);
    if (s[0] != '/' && s[0] != '.' && s[0] != '(')
        return fail(ld, v, "url '%s' must start with '/'", s);
    /* PCRE2's verbs ((*ACCEPT), (*COMMIT), ...) are not Python regular expressions, which the
     * platform's urls were: "(*" is an error there ("nothing to repeat"). */
    for (size_t i = 0; s[i]; i++) {
        if (s[i] == '\\' && s[i + 1]) {
            i++;
            continue;
        }
        if (s[i] == '(' && s[i + 1] == '*')
            return fail(ld, v, "invalid url '%s': '(*' at offset %zu is not a Python regular "
                               "expression (nothing to repeat); write \\(* for a literal '('",
                        s, i);
    }
    /* It must compile as written (so that "/a)|(/b" cannot break out of the anchors) and
     * the way the router uses it, anchored at both ends (so that a leading "(*VERB)" is
     * caught); an offset in the anchored form is mapped back into the url as written. */
    char msg[256], *anchored = das_xasprintf("^(?:%s)$", s);
    size_t off, len = strlen(s);
    bool ok = regex_compiles(s, msg, sizeof msg, &off);
    if (ok && !(ok = regex_compiles(anchored, msg, sizeof msg, &off)))
        off = off > 4 ? off - 4 : 0;
    free(anchored);
    if (!ok)
        return fail(ld, v, "invalid url '%s' in %s handler: %s at offset %zu", s,
                    kind_name(h->kind), msg, off < len ? off : len);
    h->url = das_xstrdup(s);
    return 0;
}

/* Is s[i] the start of a \1..\9 back-reference? */
static bool is_backref(const char *s, size_t i, size_t end)
{
    return s[i] == '\\' && i + 1 < end && s[i + 1] >= '1' && s[i + 1] <= '9';
}

/* script: FILE.SYMBOL, where FILE.c is a source file in APPDIR and SYMBOL a C identifier;
 * either part may hold \1..\9 back-references to the url's groups. */
static int parse_script(loader_t *ld, const das_yaml_node_t *v, das_config_handler_t *h)
{
    const char *s;
    int rc = want_str(ld, v, "script", &s);
    if (rc < 0)
        return rc;
    const char *dot = strrchr(s, '.');
    size_t stem = dot ? (size_t)(dot - s) : 0, len = strlen(s);
    bool ok = dot && stem > 0 && stem + 1 < len && s[0] != '/' && !strstr(s, "..");
    bool stem_backref = false;
    for (size_t i = 0; ok && i < stem; i++) {
        if (is_backref(s, i, stem)) {
            stem_backref = true;
            i++;
        }
        else if (!isalnum((unsigned char)s[i]) && !strchr("_-/.", s[i]))
            ok = false;
    }
    for (size_t i = stem + 1; ok && i < len; i++) {
        if (is_backref(s, i, len))
            i++;
        else if (!isalnum((unsigned char)s[i]) && s[i] != '_')
            ok = false;
        else if (i == stem + 1 && isdigit((unsigned char)s[i]))
            ok = false;
    }
    if (!ok)
        return fail(ld, v,
                    "script '%s' must be FILE.SYMBOL: a .c file in the app directory without its "
                    "extension, a dot, and the name of the AE_APP table it defines "
                    "(e.g. 'hello.app')", s);
    if (!stem_backref) {
        char *path = das_xasprintf("%s/%.*s.c", ld->cfg->appdir, (int)stem, s);
        struct stat st;
        bool exists = stat(path, &st) == 0 && S_ISREG(st.st_mode);
        free(path);
        if (!exists)
            return fail(ld, v, "script '%s': file '%s%.*s.c' does not exist", s, ld->disp_dir,
                        (int)stem, s);
    }
    h->script = das_xstrdup(s);
    return 0;
}

static bool is_token(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if ((unsigned char)*s <= 32 || (unsigned char)*s >= 127 ||
            strchr("()<>@,;:\\\"/[]?={}", *s))
            return false;
    return true;
}

static bool in_ilist(const char *const *names, const char *s)
{
    for (size_t i = 0; names[i]; i++)
        if (das_str_ieq(names[i], s))
            return true;
    return false;
}

static int check_header(loader_t *ld, const das_yaml_node_t *k, const das_yaml_node_t *v,
                        const char *value)
{
    const char *name = k->text;
    if (!is_token(name))
        return fail(ld, k, "http header name '%s' is not an RFC 2616 token", name);
    if (in_ilist(request_only_headers, name))
        return fail(ld, k, "http header '%s' can only be used in requests, not responses", name);
    if (strncasecmp(name, "x-appengine", 11) == 0)
        return fail(ld, k, "http header '%s' is reserved: names beginning with X-Appengine "
                           "belong to the platform", name);
    if (in_ilist(hop_by_hop_headers, name))
        return fail(ld, k, "http header '%s' is a hop-by-hop header; only end-to-end headers may "
                           "be set (RFC 2616 section 13.5.1)", name);
    if (in_ilist(server_set_headers, name))
        return fail(ld, k, "http header '%s' is disallowed: the server sets it", name);
    for (const char *p = value; *p; p++)
        if ((unsigned char)*p < 32 || (unsigned char)*p > 126)
            return fail(ld, v, "http header '%s' value must be printable ASCII", name);
    size_t limit = 500;
    if (das_str_ieq(name, "content-security-policy") ||
        das_str_ieq(name, "x-content-security-policy") || das_str_ieq(name, "x-webkit-csp") ||
        das_str_ieq(name, "content-security-policy-report-only"))
        limit = 10240;
    else if (das_str_ieq(name, "set-cookie") || das_str_ieq(name, "set-cookie2"))
        limit = 4096;
    else if (das_str_ieq(name, "location"))
        limit = 2047;
    if (strlen(name) + strlen(value) + 4 >= limit)
        return fail(ld, v, "http header '%s' is too long: '%s: value' must be under %zu bytes",
                    name, name, limit);
    return 0;
}

static int parse_headers(loader_t *ld, const das_yaml_node_t *v, das_config_handler_t *h)
{
    if (v->kind != DAS_YAML_MAPPING)
        return fail(ld, v, "http_headers must be a mapping of header names to values, not %s",
                    das_yaml_tree_kind_name(v->kind));
    if (v->n_pairs > MAX_HTTP_HEADERS)
        return fail(ld, v->pairs[MAX_HTTP_HEADERS].key, "too many http_headers (at most %d)",
                    MAX_HTTP_HEADERS);
    h->http_headers = das_xcalloc(v->n_pairs, sizeof *h->http_headers);
    for (size_t i = 0; i < v->n_pairs; i++) {
        const das_yaml_node_t *k = v->pairs[i].key, *val = v->pairs[i].value;
        const char *value = "";
        if (!is_null(val)) {
            int rc = want_str(ld, val, "an http_headers value", &value);
            if (rc < 0)
                return rc;
        }
        int rc = check_header(ld, k, val, value);
        if (rc < 0)
            return rc;
        if (h->mime_type && das_str_ieq(k->text, "content-type"))
            return fail(ld, k, "Content-Type is given both by mime_type and in http_headers; "
                               "set it in one place");
        h->http_headers[h->n_http_headers].name = das_xstrdup(k->text);
        h->http_headers[h->n_http_headers].value = das_xstrdup(value);
        h->n_http_headers++;
    }
    return 0;
}

/* Checks the field names of handler `m` and works out its kind. */
static int handler_kind(loader_t *ld, const das_yaml_node_t *m, das_config_handler_t *h)
{
    const das_yaml_pair_t *kind_pair = NULL;
    for (size_t i = 0; i < m->n_pairs; i++) {
        const das_yaml_pair_t *p = &m->pairs[i];
        int idx = index_of(handler_fields, p->key->text);
        if (idx < 0)
            return fail_unknown(ld, p->key, "handler ", handler_fields, NULL);
        if (idx < 1 || idx > 3 || is_null(p->value))
            continue;
        if (kind_pair)
            return fail(ld, p->key, "a handler may have only one of script, static_dir or "
                                    "static_files; this one has both '%s' and '%s'",
                        kind_pair->key->text, p->key->text);
        kind_pair = p;
        h->kind = (das_handler_kind_t)idx;
    }
    if (!kind_pair)
        return fail(ld, m, "Unknown url handler type. A handler needs one of script, static_dir "
                           "or static_files.");
    for (size_t i = 0; i < m->n_pairs; i++) {
        const das_yaml_pair_t *p = &m->pairs[i];
        int idx = index_of(handler_fields, p->key->text);
        if (is_null(p->value))
            continue;
        if (strcmp(p->key->text, "position") == 0 && !ld->in_include)
            return fail(ld, p->key, POSITION_IN_APP_YAML);
        if (!(handler_field_kinds[idx] & (1u << h->kind)))
            return fail(ld, p->key, "field '%s' is not allowed in a %s handler", p->key->text,
                        kind_name(h->kind));
    }
    return 0;
}

/* Parses one handler mapping into `h` (zeroed by the caller); *position is 0, 1 (head) or 2
 * (tail). */
static int parse_handler(loader_t *ld, const das_yaml_node_t *m, das_config_handler_t *h,
                         int *position)
{
    const das_yaml_node_t *v;
    int rc, idx;

    h->line = m->line;
    h->col = m->col;
    h->expiration = -1;
    if (m->kind != DAS_YAML_MAPPING)
        return fail(ld, m, "handlers must be a list of mappings, but this entry is %s",
                    das_yaml_tree_kind_name(m->kind));
    h->file = das_xstrdup(ld->file);
    if ((rc = handler_kind(ld, m, h)) < 0)
        return rc;
    if (!(v = get(m, "url")))
        return fail(ld, m, "missing required field 'url' in handler");
    if ((rc = parse_url(ld, v, h)) < 0)
        return rc;
    if (h->kind == DAS_HANDLER_SCRIPT)
        rc = parse_script(ld, get(m, "script"), h);
    else if (h->kind == DAS_HANDLER_STATIC_DIR)
        rc = want_strdup(ld, get(m, "static_dir"), "static_dir", &h->static_dir);
    else
        rc = want_strdup(ld, get(m, "static_files"), "static_files", &h->static_files);
    if (rc < 0)
        return rc;
    if (h->kind == DAS_HANDLER_STATIC_FILES) {
        if (!(v = get(m, "upload")))
            return fail(ld, m, "Missing \"upload\" attribute for URL \"%s\".", h->url);
        if ((rc = want_strdup(ld, v, "upload", &h->upload)) < 0 ||
            (rc = want_regex(ld, v, "upload regex", h->upload)) < 0)
            return rc;
    }
    if ((v = get(m, "mime_type")) && (rc = want_strdup(ld, v, "mime_type", &h->mime_type)) < 0)
        return rc;
    if ((v = get(m, "expiration")) &&
        (rc = want_expiration(ld, v, "expiration", &h->expiration)) < 0)
        return rc;
    if ((v = get(m, "http_headers")) && (rc = parse_headers(ld, v, h)) < 0)
        return rc;
    if ((v = get(m, "login"))) {
        if ((rc = want_enum(ld, v, "login", login_names, &idx)) < 0)
            return rc;
        h->login = (das_login_t)idx;
    }
    if ((v = get(m, "auth_fail_action"))) {
        if ((rc = want_enum(ld, v, "auth_fail_action", auth_fail_names, &idx)) < 0)
            return rc;
        h->auth_fail_action = (das_auth_fail_t)idx;
    }
    if ((v = get(m, "secure"))) {
        if ((rc = want_enum(ld, v, "secure", secure_names, &idx)) < 0)
            return rc;
        h->secure = idx == 3 ? DAS_SECURE_OPTIONAL : (das_secure_t)idx;
    }
    if ((v = get(m, "require_matching_file")) &&
        (rc = want_bool(ld, v, "require_matching_file", &h->require_matching_file)) < 0)
        return rc;
    if ((v = get(m, "application_readable")) &&
        (rc = want_bool(ld, v, "application_readable", &h->application_readable)) < 0)
        return rc;
    if ((v = get(m, "redirect_http_response_code")) &&
        (rc = want_enum(ld, v, "redirect_http_response_code", redirect_code_names, &idx)) < 0)
        return rc;
    *position = 0;
    if ((v = get(m, "position"))) {
        if ((rc = want_enum(ld, v, "position", position_names, &idx)) < 0)
            return rc;
        *position = idx + 1;
    }
    if ((v = get(m, "api_endpoint"))) {
        bool on;
        if ((rc = want_bool(ld, v, "api_endpoint", &on)) < 0)
            return rc;
        warn(ld, v, "field 'api_endpoint' is accepted but ignored by devappserver");
    }
    return 0;
}

static int parse_handlers(loader_t *ld, const das_yaml_node_t *v)
{
    if (v->kind != DAS_YAML_SEQUENCE)
        return fail(ld, v, "handlers must be a list of mappings, not %s",
                    das_yaml_tree_kind_name(v->kind));
    if (v->n_items > DAS_CONFIG_MAX_HANDLERS)
        return fail(ld, v->items[DAS_CONFIG_MAX_HANDLERS], TOO_MANY_HANDLERS);
    for (size_t i = 0; i < v->n_items; i++) {
        das_config_handler_t h = {0};
        int position = 0, rc = parse_handler(ld, v->items[i], &h, &position);
        if (rc < 0) {
            handler_dispose(&h);
            return rc;
        }
        list_push(!ld->in_include ? &ld->own : position == 1 ? &ld->head : &ld->tail, &h);
    }
    return 0;
}

/* ---------------------------------------------------------------- other sections */

static int parse_env(loader_t *ld, const das_yaml_node_t *v)
{
    das_config_t *cfg = ld->cfg;
    if (v->kind != DAS_YAML_MAPPING)
        return fail(ld, v, "env_variables must be a mapping of names to values, not %s",
                    das_yaml_tree_kind_name(v->kind));
    for (size_t i = 0; i < v->n_pairs; i++) {
        const das_yaml_node_t *k = v->pairs[i].key, *val = v->pairs[i].value;
        const char *value = "";
        if (!whole_match(ENV_NAME_RE, k->text))
            return fail(ld, k, "env_variables name '%s' is invalid: it must match %s", k->text,
                        ENV_NAME_RE);
        if (!is_null(val)) {
            int rc = want_str(ld, val, "an env_variables value", &value);
            if (rc < 0)
                return rc;
        }
        /* execve() refuses a string of 128 KiB or more (MAX_ARG_STRLEN): every instance start
         * would fail with "Argument list too long". */
        if (strlen(k->text) + 1 + strlen(value) + 1 > DAS_CONFIG_MAX_ENV_STRING)
            return fail(ld, val ? val : k,
                        "env_variables value of '%s' is too long: '%s=value' must be under %d "
                        "bytes (the limit on one environment string); keep big data in a file",
                        k->text, k->text, DAS_CONFIG_MAX_ENV_STRING);
        bool have = false; /* app.yaml is read first, so its values win over includes' */
        for (size_t j = 0; j < cfg->n_env_variables && !have; j++)
            have = strcmp(cfg->env_variables[j].name, k->text) == 0;
        if (have)
            continue;
        cfg->env_variables = das_xrealloc(cfg->env_variables,
                                          (cfg->n_env_variables + 1) * sizeof *cfg->env_variables);
        cfg->env_variables[cfg->n_env_variables].name = das_xstrdup(k->text);
        cfg->env_variables[cfg->n_env_variables].value = das_xstrdup(value);
        cfg->n_env_variables++;
    }
    return 0;
}

static int parse_inbound(loader_t *ld, const das_yaml_node_t *v)
{
    if (v->kind != DAS_YAML_SEQUENCE)
        return fail(ld, v, "inbound_services must be a list, not %s",
                    das_yaml_tree_kind_name(v->kind));
    for (size_t i = 0; i < v->n_items; i++) {
        int idx, rc = want_enum(ld, v->items[i], "inbound service", inbound_names, &idx);
        if (rc < 0)
            return rc;
        if (strcmp(inbound_names[idx], "warmup") == 0)
            ld->cfg->inbound_warmup = true;
    }
    return 0;
}

/* Keeps the first `default` (or code-less) entry seen across app.yaml and its includes. */
static int parse_error_handlers(loader_t *ld, const das_yaml_node_t *v)
{
    das_config_t *cfg = ld->cfg;
    if (v->kind != DAS_YAML_SEQUENCE)
        return fail(ld, v, "error_handlers must be a list of mappings, not %s",
                    das_yaml_tree_kind_name(v->kind));
    for (size_t i = 0; i < v->n_items; i++) {
        const das_yaml_node_t *e = v->items[i], *f, *code, *mime;
        const char *file, *mime_type = NULL;
        int idx = 0, rc;
        if (e->kind != DAS_YAML_MAPPING)
            return fail(ld, e, "error_handlers must be a list of mappings, but this entry is %s",
                        das_yaml_tree_kind_name(e->kind));
        if ((rc = check_keys(ld, e, "error_handlers ", error_handler_fields)) < 0)
            return rc;
        if ((code = get(e, "error_code")) &&
            (rc = want_enum(ld, code, "error_code", error_code_names, &idx)) < 0)
            return rc;
        if (!(f = get(e, "file")))
            return fail(ld, e, "missing required field 'file' in error handler");
        if ((rc = want_str(ld, f, "file", &file)) < 0)
            return rc;
        if ((mime = get(e, "mime_type")) && (rc = want_str(ld, mime, "mime_type", &mime_type)) < 0)
            return rc;
        if (idx == 0 && !cfg->error_handler_file) {
            cfg->error_handler_file = das_xstrdup(file);
            cfg->error_handler_mime_type = mime_type ? das_xstrdup(mime_type) : NULL;
        }
    }
    return 0;
}

/* skip_files: a regex, or a list of regexes joined as ^(?:a)$|^(?:b)$. An included file's
 * skip_files is added to the current one as another alternative. */
static int parse_skip_files(loader_t *ld, const das_yaml_node_t *v)
{
    das_config_t *cfg = ld->cfg;
    das_buf_t re = {0};
    int rc = 0;
    if (v->kind == DAS_YAML_SCALAR) {
        das_buf_puts(&re, v->text);
    } else if (v->kind == DAS_YAML_SEQUENCE) {
        for (size_t i = 0; i < v->n_items && rc == 0; i++) {
            const char *item;
            if ((rc = want_str(ld, v->items[i], "each skip_files entry", &item)) == 0 &&
                (rc = want_regex(ld, v->items[i], "skip_files regex", item)) == 0)
                das_buf_printf(&re, "%s^(?:%s)$", i ? "|" : "", item);
        }
        if (v->n_items == 0)
            das_buf_puts(&re, "^$"); /* an empty list skips nothing */
    } else {
        rc = fail(ld, v, "skip_files must be a regex or a list of regexes, not %s",
                  das_yaml_tree_kind_name(v->kind));
    }
    if (rc == 0)
        rc = want_regex(ld, v, "skip_files regex", re.data);
    if (rc == 0 && cfg->skip_files) {
        char *merged = das_xasprintf("(?:%s)|(?:%s)", cfg->skip_files, re.data);
        free(cfg->skip_files);
        cfg->skip_files = merged;
    } else if (rc == 0) {
        cfg->skip_files = das_buf_steal(&re);
    }
    das_buf_dispose(&re);
    return rc;
}

static int parse_automatic_scaling(loader_t *ld, const das_yaml_node_t *v)
{
    if (v->kind != DAS_YAML_MAPPING)
        return fail(ld, v, "automatic_scaling must be a mapping, not %s",
                    das_yaml_tree_kind_name(v->kind));
    for (size_t i = 0; i < v->n_pairs; i++) {
        const das_yaml_node_t *k = v->pairs[i].key, *val = v->pairs[i].value;
        size_t f = 0;
        while (f < N_AUTO_FIELDS && strcmp(auto_fields[f].name, k->text) != 0)
            f++;
        if (f == N_AUTO_FIELDS) {
            const char *names[N_AUTO_FIELDS + 1];
            for (size_t j = 0; j < N_AUTO_FIELDS; j++)
                names[j] = auto_fields[j].name;
            names[N_AUTO_FIELDS] = NULL;
            return fail_unknown(ld, k, "automatic_scaling ", names, NULL);
        }
        if (is_null(val))
            continue;
        const char *s;
        int rc = 0;
        if (strcmp(k->text, "max_concurrent_requests") == 0) {
            if ((rc = want_str(ld, val, "automatic_scaling.max_concurrent_requests", &s)) < 0)
                return rc;
            long n = whole_match("[1-9]\\d{0,8}", s) ? strtol(s, NULL, 10) : 0;
            if (n <= 0)
                return fail(ld, val, "automatic_scaling.max_concurrent_requests must be a "
                                     "positive integer, not '%s'", s);
            ld->cfg->max_concurrent_requests = (int)n;
        } else if (strcmp(k->text, "cpu_utilization") == 0) {
            if (val->kind != DAS_YAML_MAPPING)
                return fail(ld, val, "automatic_scaling.cpu_utilization must be a mapping");
            static const char *const cpu_fields[] = {"target_utilization",
                                                     "aggregation_window_length_sec", NULL};
            if ((rc = check_keys(ld, val, "cpu_utilization ", cpu_fields)) < 0)
                return rc;
        } else if (strcmp(k->text, "custom_metrics") == 0) {
            if (val->kind != DAS_YAML_SEQUENCE)
                return fail(ld, val, "automatic_scaling.custom_metrics must be a list");
        } else {
            if ((rc = want_str(ld, val, k->text, &s)) < 0)
                return rc;
            if (!whole_match(auto_fields[f].pattern, s) ||
                (auto_fields[f].min > 0 && strtol(s, NULL, 10) < auto_fields[f].min))
                return fail(ld, val, "automatic_scaling.%s '%s' is invalid: it must match %s%s",
                            k->text, s, auto_fields[f].pattern,
                            auto_fields[f].min == 60 ? " and be at least 60"
                            : auto_fields[f].min    ? " and be at least 1"
                                                    : "");
        }
    }
    return 0;
}

/* Only one scaling block; manual and basic scaling are checked, then ignored with a warning. */
static int parse_scaling(loader_t *ld, const das_yaml_node_t *root)
{
    const das_yaml_pair_t *block = NULL;
    for (size_t i = 0; i < root->n_pairs; i++) {
        const das_yaml_pair_t *p = &root->pairs[i];
        if (!strstr(p->key->text, "_scaling") || index_of(app_fields, p->key->text) < 0 ||
            is_null(p->value))
            continue;
        if (block)
            return fail(ld, p->key, "There may be only one of 'automatic_scaling', "
                                    "'manual_scaling', or 'basic_scaling'.");
        block = p;
    }
    if (!block)
        return 0;
    const das_yaml_node_t *v = block->value, *n;
    const char *s;
    int rc;
    if (strcmp(block->key->text, "automatic_scaling") == 0)
        return parse_automatic_scaling(ld, v);
    if (v->kind != DAS_YAML_MAPPING)
        return fail(ld, v, "%s must be a mapping, not %s", block->key->text,
                    das_yaml_tree_kind_name(v->kind));
    bool manual = strcmp(block->key->text, "manual_scaling") == 0;
    static const char *const manual_fields[] = {"instances", NULL};
    static const char *const basic_fields[] = {"max_instances", "idle_timeout", NULL};
    const char *required = manual ? "instances" : "max_instances";
    if ((rc = check_keys(ld, v, manual ? "manual_scaling " : "basic_scaling ",
                         manual ? manual_fields : basic_fields)) < 0)
        return rc;
    if (!(n = get(v, required)))
        return fail(ld, v, "missing required field '%s' in %s", required, block->key->text);
    if ((rc = want_match(ld, n, required, "[1-9]\\d*", "it must be a positive integer", &s)) < 0)
        return rc;
    if (!manual && (n = get(v, "idle_timeout")) &&
        (rc = want_match(ld, n, "idle_timeout", "\\d+(s|m)",
                         "it must be a number of seconds or minutes, such as '10m'", &s)) < 0)
        return rc;
    warn(ld, block->key, "field '%s' is accepted but ignored by devappserver: instances start "
                         "on demand", block->key->text);
    return 0;
}

/* ---------------------------------------------------------------- includes */

static int load_file(loader_t *ld, const das_yaml_node_t *at, const char *path,
                     const char *display, das_yaml_node_t **root);
static int load_includes(loader_t *ld, const das_yaml_node_t *v);

/* The sections app.yaml and included files share, in the order they are checked. */
static int parse_shared(loader_t *ld, const das_yaml_node_t *root)
{
    const das_yaml_node_t *v;
    int rc = 0;
    if ((v = get(root, "skip_files")) && (rc = parse_skip_files(ld, v)) < 0)
        return rc;
    if ((v = get(root, "env_variables")) && (rc = parse_env(ld, v)) < 0)
        return rc;
    if ((v = get(root, "inbound_services")) && (rc = parse_inbound(ld, v)) < 0)
        return rc;
    if ((v = get(root, "error_handlers")) && (rc = parse_error_handlers(ld, v)) < 0)
        return rc;
    if (!ld->in_include && (rc = parse_scaling(ld, root)) < 0)
        return rc;
    if ((v = get(root, "handlers")) && (rc = parse_handlers(ld, v)) < 0)
        return rc;
    if ((v = get(root, "includes")) && (rc = load_includes(ld, v)) < 0)
        return rc;
    return 0;
}

static int parse_include_file(loader_t *ld, const das_yaml_node_t *root)
{
    if (is_null(root))
        return 0;
    if (root->kind != DAS_YAML_MAPPING)
        return fail(ld, root, "the top level of an included file must be a mapping of field "
                              "names to values, not %s", das_yaml_tree_kind_name(root->kind));
    for (size_t i = 0; i < root->n_pairs; i++) {
        const das_yaml_node_t *k = root->pairs[i].key;
        if (index_of(include_fields, k->text) >= 0)
            continue;
        if (index_of(include_ignored_fields, k->text) >= 0)
            warn(ld, k, "field '%s' is accepted but ignored by devappserver", k->text);
        else if (index_of(app_fields, k->text) >= 0 || index_of(ignored_fields, k->text) >= 0)
            return fail(ld, k, "field '%s' is not allowed in an included file (allowed: "
                               "includes, handlers, env_variables, inbound_services, "
                               "error_handlers, skip_files)", k->text);
        else
            return fail_unknown(ld, k, "", include_fields, include_ignored_fields);
    }
    return parse_shared(ld, root);
}

/* One `includes:` entry: a yaml file, or a directory holding include.yaml, relative to
 * APPDIR. A file already on the include stack is a cycle; one read before is skipped. */
static int load_include(loader_t *ld, const das_yaml_node_t *at, const char *rel)
{
    bool abs = rel[0] == '/';
    char *path = abs ? das_xstrdup(rel) : das_xasprintf("%s/%s", ld->cfg->appdir, rel);
    char *display = abs ? das_xstrdup(rel) : das_xasprintf("%s%s", ld->disp_dir, rel);
    char *canon = NULL;
    das_yaml_node_t *root = NULL;
    int rc = 0;
    struct stat st;

    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        const char *sep = das_str_has_suffix(path, "/") ? "" : "/";
        char *p2 = das_xasprintf("%s%sinclude.yaml", path, sep);
        char *d2 = das_xasprintf("%s%sinclude.yaml", display, sep);
        free(path);
        free(display);
        path = p2;
        display = d2;
    }
    if (!(canon = realpath(path, NULL))) {
        int e = errno;
        rc = fail_code(ld, e == ENOENT ? AE_ENOTFOUND : AE_EIO, at, "cannot read include '%s': %s",
                       display, strerror(e));
        goto out;
    }
    for (size_t i = 0; i < ld->depth; i++) {
        if (strcmp(ld->stack[i].canon, canon) != 0)
            continue;
        das_buf_t chain = {0};
        for (size_t j = i; j < ld->depth; j++)
            das_buf_printf(&chain, "%s -> ", ld->stack[j].display);
        das_buf_puts(&chain, display);
        rc = fail(ld, at, "include cycle: %s", chain.data);
        das_buf_dispose(&chain);
        goto out;
    }
    for (size_t i = 0; i < ld->n_seen; i++) {
        if (strcmp(ld->seen[i], canon) == 0) {
            warn(ld, at, "'%s' is included more than once; this include is ignored", display);
            goto out;
        }
    }
    if (ld->depth >= MAX_INCLUDE_DEPTH) {
        rc = fail(ld, at, "includes nested more than %d deep", MAX_INCLUDE_DEPTH);
        goto out;
    }
    ld->seen = das_xrealloc(ld->seen, (ld->n_seen + 1) * sizeof *ld->seen);
    ld->seen[ld->n_seen++] = canon;
    if ((rc = load_file(ld, at, path, display, &root)) < 0) {
        canon = NULL;
        goto out;
    }
    const char *saved_file = ld->file;
    bool saved_in_include = ld->in_include;
    ld->stack[ld->depth].canon = canon;
    ld->stack[ld->depth].display = display;
    ld->depth++;
    ld->file = display;
    ld->in_include = true;
    rc = parse_include_file(ld, root);
    ld->depth--;
    ld->file = saved_file;
    ld->in_include = saved_in_include;
    canon = NULL; /* owned by ld->seen */
out:
    das_yaml_tree_destroy(root);
    free(canon);
    free(display);
    free(path);
    return rc;
}

static int load_includes(loader_t *ld, const das_yaml_node_t *v)
{
    if (v->kind != DAS_YAML_SEQUENCE)
        return fail(ld, v, "includes must be a list of files or directories, not %s",
                    das_yaml_tree_kind_name(v->kind));
    for (size_t i = 0; i < v->n_items; i++) {
        const char *rel;
        int rc = want_str(ld, v->items[i], "each includes entry", &rel);
        if (rc == 0 && !*rel)
            rc = fail(ld, v->items[i], "includes entries must not be empty");
        if (rc == 0)
            rc = load_include(ld, v->items[i], rel);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Reads and parses one yaml file; read errors are reported at `at` (or without a position
 * when `at` is NULL, for app.yaml itself). */
static int load_file(loader_t *ld, const das_yaml_node_t *at, const char *path,
                     const char *display, das_yaml_node_t **root)
{
    char *data = NULL;
    size_t len = 0;
    int rc = das_file_read(path, &data, &len);
    if (rc < 0) {
        int code = rc == -ENOENT ? AE_ENOTFOUND : AE_EIO;
        const char *why = rc == -EBADF ? "not a regular file" : strerror(-rc);
        if (at)
            return fail_code(ld, code, at, "cannot read include '%s': %s", display, why);
        return das_err_set(ld->err, code, "%s: cannot read: %s", display, why);
    }
    rc = das_yaml_tree_parse(data, len, display, root, ld->err);
    free(data);
    return rc;
}

/* ---------------------------------------------------------------- app.yaml */

static int check_top_level_keys(loader_t *ld, const das_yaml_node_t *root)
{
    for (size_t i = 0; i < root->n_pairs; i++) {
        const das_yaml_node_t *k = root->pairs[i].key;
        if (index_of(app_fields, k->text) >= 0)
            continue;
        if (index_of(ignored_fields, k->text) < 0)
            return fail_unknown(ld, k, "", app_fields, ignored_fields);
        warn(ld, k, "field '%s' is accepted but ignored by devappserver", k->text);
    }
    return 0;
}

static int parse_identity(loader_t *ld, const das_yaml_node_t *root)
{
    das_config_t *cfg = ld->cfg;
    const das_yaml_node_t *app = get(root, "application"), *proj = get(root, "project"), *v;
    const char *s;
    int rc;

    if (app && proj) {
        bool proj_later =
            proj->line > app->line || (proj->line == app->line && proj->col > app->col);
        return fail(ld, proj_later ? proj : app,
                    "both 'application' and 'project' are set; specify only one of them");
    }
    if ((v = app ? app : proj)) {
        if ((rc = want_match(ld, v, app ? "application" : "project", APPLICATION_RE,
                             "use lowercase letters, digits and hyphens (at most 100), not "
                             "starting or ending with a hyphen",
                             &s)) < 0)
            return rc;
        free(cfg->application);
        cfg->application = das_xstrdup(s);
    }
    if ((v = get(root, "version"))) {
        if ((rc = want_match(ld, v, "version", VERSION_RE,
                             "use 1 to 63 lowercase letters, digits and hyphens, not starting or "
                             "ending with a hyphen",
                             &s)) < 0)
            return rc;
        if (strstr(s, "-dot-"))
            return fail(ld, v, "Version \"%s\" cannot contain the string \"-dot-\"", s);
        if (das_str_has_prefix(s, "ah-builtin"))
            return fail(ld, v, "Version \"%s\" cannot start with \"ah-builtin\" because it is a "
                               "reserved version name prefix.", s);
        free(cfg->version);
        cfg->version = das_xstrdup(s);
    }
    if (!(v = get(root, "runtime")))
        return fail(ld, root, "You must specify a \"runtime\" field for non-vm applications.");
    if ((rc = want_str(ld, v, "runtime", &s)) < 0)
        return rc;
    if (strcmp(s, "c") != 0)
        return fail(ld, v, "runtime '%s' is not supported by devappserver; supported runtimes: c",
                    s);
    if ((v = get(root, "api_version"))) {
        if ((rc = want_match(ld, v, "api_version", API_VERSION_RE,
                             "use 1 to 32 letters, digits, '_' or '.'", &s)) < 0)
            return rc;
        free(cfg->api_version);
        cfg->api_version = das_xstrdup(s);
    }
    if (!(v = get(root, "threadsafe")))
        return fail(ld, root, "threadsafe must be present and set to a true or false YAML value");
    if ((rc = want_bool(ld, v, "threadsafe", &cfg->threadsafe)) < 0)
        return rc;
    if ((v = get(root, "default_expiration")) &&
        (rc = want_expiration(ld, v, "default_expiration", &cfg->default_expiration)) < 0)
        return rc;
    return 0;
}

static int parse_app_yaml(loader_t *ld, const das_yaml_node_t *root)
{
    das_config_t *cfg = ld->cfg;
    int rc;
    if (is_null(root))
        return fail(ld, root, "empty configuration file");
    if (root->kind != DAS_YAML_MAPPING)
        return fail(ld, root, "the top level must be a mapping of field names to values, not %s",
                    das_yaml_tree_kind_name(root->kind));
    if ((rc = check_top_level_keys(ld, root)) < 0 || (rc = parse_identity(ld, root)) < 0 ||
        (rc = parse_shared(ld, root)) < 0)
        return rc;
    if (!cfg->skip_files)
        cfg->skip_files = das_xstrdup(DAS_CONFIG_DEFAULT_SKIP_FILES);
    /* head handlers from includes, then app.yaml's own, then tail handlers. */
    size_t n = ld->head.n + ld->own.n + ld->tail.n;
    if (n > DAS_CONFIG_MAX_HANDLERS)
        return fail(ld, root, TOO_MANY_HANDLERS " (%zu after merging includes)", n);
    cfg->handlers = das_xcalloc(n, sizeof *cfg->handlers);
    handler_list_t *parts[3] = {&ld->head, &ld->own, &ld->tail};
    for (int i = 0; i < 3; i++) {
        if (parts[i]->n)
            memcpy(cfg->handlers + cfg->n_handlers, parts[i]->v, parts[i]->n * sizeof *parts[i]->v);
        cfg->n_handlers += parts[i]->n;
        free(parts[i]->v);
        parts[i]->v = NULL;
        parts[i]->n = 0;
    }
    return 0;
}

/* Works out APPDIR and the yaml file from `path`: the user's spelling for messages
 * (ld->disp_dir, *display) and the canonical forms (cfg->appdir, cfg->path). */
static int locate(loader_t *ld, const char *path, char **display)
{
    das_config_t *cfg = ld->cfg;
    struct stat st;
    char *dir = NULL;
    const char *base = NULL;
    int rc = 0;

    if (stat(path, &st) < 0)
        return das_err_set(ld->err, errno == ENOENT ? AE_ENOTFOUND : AE_EIO, "%s: %s", path,
                           strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        dir = das_xstrdup(path);
        ld->disp_dir = das_xasprintf("%s%s", path, das_str_has_suffix(path, "/") ? "" : "/");
        static const char *const names[] = {"app.yaml", "app.yml"};
        int first_errno = 0;
        for (size_t i = 0; i < 2 && !base; i++) {
            char *p = das_xasprintf("%s%s", ld->disp_dir, names[i]);
            if (stat(p, &st) == 0)
                base = names[i];
            else if (i == 0)
                first_errno = errno;
            free(p);
        }
        if (!base) {
            rc = das_err_set(ld->err, first_errno == ENOENT ? AE_ENOTFOUND : AE_EIO,
                             "%s: no app.yaml found: %s", path, strerror(first_errno));
            goto out;
        }
    } else {
        const char *slash = strrchr(path, '/');
        base = slash ? slash + 1 : path;
        ld->disp_dir = das_xstrndup(path, (size_t)(base - path));
        dir = slash == path ? das_xstrdup("/") : slash ? das_xstrndup(path, (size_t)(slash - path))
                                                      : das_xstrdup(".");
    }
    if (!(cfg->appdir = realpath(dir, NULL))) {
        rc = das_err_set(ld->err, AE_EIO, "%s: %s", dir, strerror(errno));
        goto out;
    }
    cfg->path = das_xasprintf("%s%s%s", cfg->appdir, strcmp(cfg->appdir, "/") ? "/" : "", base);
    *display = das_xasprintf("%s%s", ld->disp_dir, base);
out:
    free(dir);
    return rc;
}

/* ---------------------------------------------------------------- public */

int das_config_load(const char *path, das_config_t **out, das_err_t *err)
{
    loader_t ld = {.err = err};
    das_config_t *cfg = das_xcalloc(1, sizeof *cfg);
    das_yaml_node_t *root = NULL;
    char *display = NULL, *canon = NULL;
    int rc;

    *out = NULL;
    ld.cfg = cfg;
    cfg->application = das_xstrdup("");
    cfg->version = das_xstrdup("");
    cfg->runtime = das_xstrdup("c");
    cfg->api_version = das_xstrdup("");
    cfg->default_expiration = -1;
    if ((rc = locate(&ld, path, &display)) < 0)
        goto out;
    ld.file = display;
    if ((rc = load_file(&ld, NULL, cfg->path, display, &root)) < 0)
        goto out;
    canon = realpath(cfg->path, NULL);
    ld.seen = das_xmalloc(sizeof *ld.seen);
    ld.seen[ld.n_seen++] = canon ? canon : das_xstrdup(cfg->path);
    ld.stack[0].canon = ld.seen[0];
    ld.stack[0].display = display;
    ld.depth = 1;
    rc = parse_app_yaml(&ld, root);
out:
    das_yaml_tree_destroy(root);
    list_dispose(&ld.head);
    list_dispose(&ld.own);
    list_dispose(&ld.tail);
    for (size_t i = 0; i < ld.n_seen; i++)
        free(ld.seen[i]);
    free(ld.seen);
    free(ld.disp_dir);
    free(display);
    if (rc < 0) {
        das_config_destroy(cfg);
        return rc;
    }
    *out = cfg;
    return 0;
}

void das_config_destroy(das_config_t *cfg)
{
    if (!cfg)
        return;
    free(cfg->path);
    free(cfg->appdir);
    free(cfg->application);
    free(cfg->version);
    free(cfg->runtime);
    free(cfg->api_version);
    for (size_t i = 0; i < cfg->n_handlers; i++)
        handler_dispose(&cfg->handlers[i]);
    free(cfg->handlers);
    free(cfg->error_handler_file);
    free(cfg->error_handler_mime_type);
    free(cfg->skip_files);
    for (size_t i = 0; i < cfg->n_env_variables; i++) {
        free(cfg->env_variables[i].name);
        free(cfg->env_variables[i].value);
    }
    free(cfg->env_variables);
    for (size_t i = 0; i < cfg->n_warnings; i++)
        free(cfg->warnings[i]);
    free(cfg->warnings);
    free(cfg);
}

int das_config_parse_expiration(const char *text, long *seconds)
{
    const char *p = text;
    long total = 0;
    int parts = 0;

    while (isspace((unsigned char)*p))
        p++;
    while (*p) {
        if (!isdigit((unsigned char)*p))
            return AE_EINVAL;
        long n = 0, mult = 1;
        for (; isdigit((unsigned char)*p); p++) {
            if (n > (LONG_MAX - 9) / 10)
                return AE_EINVAL;
            n = n * 10 + (*p - '0');
        }
        switch (*p) {
        case 'd': case 'D': mult = 86400; p++; break;
        case 'h': case 'H': mult = 3600; p++; break;
        case 'm': case 'M': mult = 60; p++; break;
        case 's': case 'S': p++; break;
        default: break;
        }
        if (n > (LONG_MAX - total) / mult)
            return AE_EINVAL;
        total += n * mult;
        parts++;
        const char *ws = p;
        while (isspace((unsigned char)*p))
            p++;
        if (*p && p == ws)
            return AE_EINVAL; /* "4x" or "4d5h": parts must be separated by whitespace */
    }
    if (parts == 0)
        return AE_EINVAL;
    *seconds = total;
    return 0;
}

int das_config_parse_bool(const char *text, bool *value)
{
    static const char *const yes[] = {"y", "yes", "true", "on", NULL};
    static const char *const no[] = {"n", "no", "false", "off", NULL};
    for (size_t i = 0; yes[i]; i++) {
        if (das_str_ieq(text, yes[i])) {
            *value = true;
            return 0;
        }
        if (das_str_ieq(text, no[i])) {
            *value = false;
            return 0;
        }
    }
    return AE_EINVAL;
}
