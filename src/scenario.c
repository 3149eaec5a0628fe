/* scenario.c - reading and checking explore scenarios (see scenario.h). */
#include "scenario.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "regex.h"
#include "yaml_tree.h"

static const char *const top_fields[] = {"name", "setup", "requests", "check", "oracle", NULL};
static const char *const request_fields[] = {"request", "method", "target", "headers", "body",
                                             "user", "admin", "repeat", "expect", NULL};
static const char *const check_fields[] = {"request", "method", "target", "headers", "body",
                                           "user", "admin", "expect", "status", "body_regex",
                                           NULL};
static const char *const expect_fields[] = {"status", "body", "body_regex", NULL};
static const char *const methods[] = {"GET", "POST", "PUT", "DELETE", "HEAD", "PATCH",
                                      "OPTIONS", NULL};

typedef struct {
    const char *file;
    das_err_t *err;
} loader_t;

static int fail(loader_t *ld, const das_yaml_node_t *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(loader_t *ld, const das_yaml_node_t *at, const char *fmt, ...)
{
    char msg[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return das_err_set(ld->err, AE_EINVAL, "%s:%d:%d: %s", ld->file, at->line, at->col, msg);
}

static bool in(const char *const *names, const char *s)
{
    for (size_t i = 0; names[i]; i++)
        if (strcmp(names[i], s) == 0)
            return true;
    return false;
}

/* Every key of `map` is one of `known`; an unknown one names the closest. */
static int known_keys(loader_t *ld, const das_yaml_node_t *map, const char *const *known,
                      const char *what)
{
    for (size_t i = 0; i < map->n_pairs; i++) {
        const das_yaml_node_t *key = map->pairs[i].key;
        if (in(known, key->text))
            continue;
        const char *best = NULL;
        size_t best_d = 3;
        for (size_t k = 0; known[k]; k++) {
            size_t d = das_str_distance(key->text, known[k]);
            if (d < best_d && d < strlen(key->text)) {
                best = known[k];
                best_d = d;
            }
        }
        if (best)
            return fail(ld, key, "unknown field '%s' in %s (did you mean '%s'?)", key->text,
                        what, best);
        das_buf_t list = {0};
        for (size_t k = 0; known[k]; k++)
            das_buf_printf(&list, "%s%s", k ? ", " : "", known[k]);
        int rc = fail(ld, key, "unknown field '%s' in %s; its fields are %s", key->text, what,
                      list.data);
        das_buf_dispose(&list);
        return rc;
    }
    return 0;
}

static int want_scalar(loader_t *ld, const das_yaml_node_t *n, const char *what)
{
    if (n->kind != DAS_YAML_SCALAR)
        return fail(ld, n, "%s must be a string, not %s", what,
                    das_yaml_tree_kind_name(n->kind));
    return 0;
}

static int parse_status(loader_t *ld, const das_yaml_node_t *n, int *out)
{
    char *end;
    long v = n->kind == DAS_YAML_SCALAR ? strtol(n->text, &end, 10) : 0;
    if (n->kind != DAS_YAML_SCALAR || !*n->text || *end || v < 100 || v > 599)
        return fail(ld, n, "a status is a number from 100 to 599, not '%s'",
                    n->kind == DAS_YAML_SCALAR ? n->text : das_yaml_tree_kind_name(n->kind));
    *out = (int)v;
    return 0;
}

static int parse_regex(loader_t *ld, const das_yaml_node_t *n, char **out)
{
    int rc = want_scalar(ld, n, "body_regex");
    if (rc < 0)
        return rc;
    int code;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)n->text, n->len, 0, &code, &off, NULL);
    if (!re) {
        PCRE2_UCHAR why[256];
        pcre2_get_error_message(code, why, sizeof why);
        return fail(ld, n, "body_regex '%s' is not a valid regular expression: %s at offset %zu",
                    n->text, (const char *)why, (size_t)off);
    }
    pcre2_code_free(re);
    *out = das_xstrdup(n->text);
    return 0;
}

/* The fields of an expectation, from `map` (an expect: mapping, or a check itself). */
static int parse_expect(loader_t *ld, const das_yaml_node_t *map, das_scenario_expect_t *e)
{
    const das_yaml_node_t *v;
    int rc;
    if ((v = das_yaml_tree_get(map, "status")) && (rc = parse_status(ld, v, &e->status)) < 0)
        return rc;
    if ((v = das_yaml_tree_get(map, "body"))) {
        if ((rc = want_scalar(ld, v, "body")) < 0)
            return rc;
        e->body = das_xstrdup(v->text);
    }
    if ((v = das_yaml_tree_get(map, "body_regex")) && (rc = parse_regex(ld, v, &e->body_regex)) < 0)
        return rc;
    return 0;
}

/* "METHOD TARGET" into the request. */
static int parse_line(loader_t *ld, const das_yaml_node_t *n, das_scenario_request_t *r)
{
    int rc = want_scalar(ld, n, "a request");
    if (rc < 0)
        return rc;
    const char *sp = strchr(n->text, ' ');
    if (!sp || !sp[1])
        return fail(ld, n, "request '%s' has no target: write it as \"METHOD /path?query\", "
                           "for example \"GET /racy?key=racy\"",
                    n->text);
    r->method = das_xstrndup(n->text, (size_t)(sp - n->text));
    while (*sp == ' ')
        sp++;
    r->target = das_xstrdup(sp);
    return 0;
}

static int check_request(loader_t *ld, const das_yaml_node_t *at, das_scenario_request_t *r)
{
    if (!r->method || !r->target)
        return fail(ld, at, "the request needs a method and a target: \"GET /path\", or "
                            "request: \"GET /path\"");
    if (!in(methods, r->method))
        return fail(ld, at, "unknown method '%s'; use GET, POST, PUT, DELETE, HEAD, PATCH or "
                            "OPTIONS",
                    r->method);
    if (r->target[0] != '/')
        return fail(ld, at, "target '%s' must start with '/'", r->target);
    return 0;
}

static int parse_request(loader_t *ld, const das_yaml_node_t *n, bool is_check,
                         das_scenario_request_t *r, long *repeat)
{
    memset(r, 0, sizeof *r);
    r->line = n->line;
    r->col = n->col;
    r->user = das_xstrdup("");
    r->body = das_xstrdup("");
    *repeat = 1;
    int rc;
    if (n->kind == DAS_YAML_SCALAR) {
        if ((rc = parse_line(ld, n, r)) < 0)
            return rc;
        return check_request(ld, n, r);
    }
    if (n->kind != DAS_YAML_MAPPING)
        return fail(ld, n, "a request is \"METHOD /path\" or a mapping, not %s",
                    das_yaml_tree_kind_name(n->kind));
    if ((rc = known_keys(ld, n, is_check ? check_fields : request_fields,
                         is_check ? "a check" : "a request")) < 0)
        return rc;
    const das_yaml_node_t *v;
    if ((v = das_yaml_tree_get(n, "request")) && (rc = parse_line(ld, v, r)) < 0)
        return rc;
    if ((v = das_yaml_tree_get(n, "method"))) {
        if ((rc = want_scalar(ld, v, "method")) < 0)
            return rc;
        free(r->method);
        r->method = das_xstrdup(v->text);
    }
    if ((v = das_yaml_tree_get(n, "target"))) {
        if ((rc = want_scalar(ld, v, "target")) < 0)
            return rc;
        free(r->target);
        r->target = das_xstrdup(v->text);
    }
    if ((rc = check_request(ld, n, r)) < 0)
        return rc;
    if ((v = das_yaml_tree_get(n, "headers"))) {
        if (v->kind != DAS_YAML_MAPPING)
            return fail(ld, v, "headers is a mapping of names to values, {X-Name: value}");
        r->headers = das_xcalloc(v->n_pairs + 1, sizeof *r->headers);
        for (size_t i = 0; i < v->n_pairs; i++) {
            if ((rc = want_scalar(ld, v->pairs[i].value, "a header value")) < 0)
                return rc;
            r->headers[i].name = das_xstrdup(v->pairs[i].key->text);
            r->headers[i].value = das_xstrdup(v->pairs[i].value->text);
            r->n_headers++;
        }
    }
    if ((v = das_yaml_tree_get(n, "body"))) {
        if ((rc = want_scalar(ld, v, "body")) < 0)
            return rc;
        free(r->body);
        r->body = das_xstrdup(v->text);
        r->body_len = v->len;
    }
    if ((v = das_yaml_tree_get(n, "user"))) {
        if ((rc = want_scalar(ld, v, "user")) < 0)
            return rc;
        if (!strchr(v->text, '@'))
            return fail(ld, v, "user '%s' is not an email address", v->text);
        free(r->user);
        r->user = das_xstrdup(v->text);
    }
    if ((v = das_yaml_tree_get(n, "admin"))) {
        if (v->kind != DAS_YAML_SCALAR ||
            (strcmp(v->text, "true") != 0 && strcmp(v->text, "false") != 0))
            return fail(ld, v, "admin is true or false");
        r->admin = strcmp(v->text, "true") == 0;
    }
    if ((v = das_yaml_tree_get(n, "repeat"))) {
        char *end;
        *repeat = v->kind == DAS_YAML_SCALAR ? strtol(v->text, &end, 10) : 0;
        if (v->kind != DAS_YAML_SCALAR || *end || *repeat < 1 ||
            *repeat > DAS_SCENARIO_MAX_REQUESTS)
            return fail(ld, v, "repeat is a number from 1 to %d", DAS_SCENARIO_MAX_REQUESTS);
    }
    if ((v = das_yaml_tree_get(n, "expect"))) {
        if (v->kind != DAS_YAML_MAPPING)
            return fail(ld, v, "expect is a mapping: {status: 200, body: \"2\"}");
        if ((rc = known_keys(ld, v, expect_fields, "expect")) < 0 ||
            (rc = parse_expect(ld, v, &r->expect)) < 0)
            return rc;
    }
    if (is_check && (rc = parse_expect(ld, n, &r->expect)) < 0)
        return rc;
    return 0;
}

static void request_dispose(das_scenario_request_t *r)
{
    free(r->method);
    free(r->target);
    for (size_t i = 0; i < r->n_headers; i++) {
        free((char *)r->headers[i].name);
        free((char *)r->headers[i].value);
    }
    free(r->headers);
    free(r->body);
    free(r->user);
    free(r->expect.body);
    free(r->expect.body_regex);
}

/* Copies a request (for repeat). */
static void request_copy(das_scenario_request_t *to, const das_scenario_request_t *from)
{
    *to = *from;
    to->method = das_xstrdup(from->method);
    to->target = das_xstrdup(from->target);
    to->headers = das_xcalloc(from->n_headers + 1, sizeof *to->headers);
    for (size_t i = 0; i < from->n_headers; i++) {
        to->headers[i].name = das_xstrdup(from->headers[i].name);
        to->headers[i].value = das_xstrdup(from->headers[i].value);
    }
    to->body = das_xstrndup(from->body, from->body_len);
    to->user = das_xstrdup(from->user);
    to->expect.body = from->expect.body ? das_xstrdup(from->expect.body) : NULL;
    to->expect.body_regex = from->expect.body_regex ? das_xstrdup(from->expect.body_regex)
                                                    : NULL;
}

static int parse_list(loader_t *ld, const das_yaml_node_t *n, const char *what, bool is_check,
                      bool expand, das_scenario_request_t **out, size_t *count)
{
    if (n->kind != DAS_YAML_SEQUENCE)
        return fail(ld, n, "%s is a list of requests (\"- GET /path\")", what);
    size_t cap = 0;
    for (size_t i = 0; i < n->n_items; i++) {
        das_scenario_request_t r;
        long repeat;
        int rc = parse_request(ld, n->items[i], is_check, &r, &repeat);
        if (rc < 0) {
            request_dispose(&r);
            return rc;
        }
        if (!expand)
            repeat = 1;
        if (expand && *count + (size_t)repeat > DAS_SCENARIO_MAX_REQUESTS) {
            request_dispose(&r);
            return fail(ld, n->items[i], "more than %d requests (repeat counted); explore "
                                         "interleaves at most %d",
                        DAS_SCENARIO_MAX_REQUESTS, DAS_SCENARIO_MAX_REQUESTS);
        }
        for (long k = 0; k < repeat; k++) {
            if (*count == cap) {
                cap = cap ? 2 * cap : 8;
                *out = das_xrealloc(*out, cap * sizeof **out);
            }
            if (k == repeat - 1)
                (*out)[(*count)++] = r;
            else
                request_copy(&(*out)[(*count)++], &r);
        }
    }
    return 0;
}

int das_scenario_load(const char *path, das_scenario_t **out, das_err_t *err)
{
    char *data;
    size_t len;
    int rc = das_file_read(path, &data, &len);
    if (rc < 0)
        return das_err_set(err, AE_EIO, "cannot read the scenario %s: %s", path, strerror(-rc));
    das_yaml_node_t *root = NULL;
    rc = das_yaml_tree_parse(data, len, path, &root, err);
    free(data);
    if (rc < 0)
        return rc;
    loader_t ld = {path, err};
    das_scenario_t *s = das_xcalloc(1, sizeof *s);
    s->path = das_xstrdup(path);
    const das_yaml_node_t *v;
    if (root->kind != DAS_YAML_MAPPING) {
        rc = fail(&ld, root, "a scenario is a mapping with name, setup, requests, check and "
                             "oracle");
        goto out;
    }
    if ((rc = known_keys(&ld, root, top_fields, "a scenario")) < 0)
        goto out;
    if ((v = das_yaml_tree_get(root, "name"))) {
        if ((rc = want_scalar(&ld, v, "name")) < 0)
            goto out;
        s->name = das_xstrdup(v->text);
    } else {
        const char *slash = strrchr(path, '/');
        s->name = das_xstrdup(slash ? slash + 1 : path);
    }
    if ((v = das_yaml_tree_get(root, "setup")) &&
        (rc = parse_list(&ld, v, "setup", false, false, &s->setup, &s->n_setup)) < 0)
        goto out;
    v = das_yaml_tree_get(root, "requests");
    if (!v) {
        rc = fail(&ld, root, "the scenario has no requests: add \"requests:\" with the requests "
                             "to fire together");
        goto out;
    }
    if ((rc = parse_list(&ld, v, "requests", false, true, &s->requests, &s->n_requests)) < 0)
        goto out;
    if (s->n_requests == 0) {
        rc = fail(&ld, v, "requests is empty: list the requests to fire together");
        goto out;
    }
    if ((v = das_yaml_tree_get(root, "check")) &&
        (rc = parse_list(&ld, v, "check", true, false, &s->checks, &s->n_checks)) < 0)
        goto out;
    if ((v = das_yaml_tree_get(root, "oracle"))) {
        if (v->kind != DAS_YAML_SCALAR || strcmp(v->text, "serializable") != 0) {
            rc = fail(&ld, v, "oracle must be serializable");
            goto out;
        }
        if (s->n_requests > 6) {
            rc = fail(&ld, v, "oracle: serializable runs every serial order first, so it takes "
                              "at most 6 requests (this scenario has %zu)",
                      s->n_requests);
            goto out;
        }
        s->serializable = true;
    }
out:
    das_yaml_tree_destroy(root);
    if (rc < 0) {
        das_scenario_destroy(s);
        return rc;
    }
    *out = s;
    return 0;
}

void das_scenario_destroy(das_scenario_t *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_setup; i++)
        request_dispose(&s->setup[i]);
    for (size_t i = 0; i < s->n_requests; i++)
        request_dispose(&s->requests[i]);
    for (size_t i = 0; i < s->n_checks; i++)
        request_dispose(&s->checks[i]);
    free(s->setup);
    free(s->requests);
    free(s->checks);
    free(s->name);
    free(s->path);
    free(s);
}

bool das_scenario_expect_met(const das_scenario_expect_t *e, int status, const char *body,
                             size_t len)
{
    if (e->status && e->status != status)
        return false;
    if (e->body && (strlen(e->body) != len || memcmp(e->body, body, len) != 0))
        return false;
    if (e->body_regex) {
        int code;
        PCRE2_SIZE off;
        pcre2_code *re = pcre2_compile((PCRE2_SPTR)e->body_regex, PCRE2_ZERO_TERMINATED, 0,
                                       &code, &off, NULL);
        if (!re)
            return false;
        int m = pcre2_match(re, (PCRE2_SPTR)body, len, 0, 0, das_regex_thread_match_data(),
                            NULL);
        pcre2_code_free(re);
        if (m < 0)
            return false;
    }
    return true;
}

void das_scenario_expect_describe(const das_scenario_expect_t *e, das_buf_t *out)
{
    if (e->status)
        das_buf_printf(out, "%d", e->status);
    else
        das_buf_puts(out, "any status");
    if (e->body)
        das_buf_printf(out, " \"%s\"", e->body);
    if (e->body_regex)
        das_buf_printf(out, " matching /%s/", e->body_regex);
}
