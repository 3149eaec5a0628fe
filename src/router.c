/* router.c - app.yaml url patterns compiled with PCRE2 (Python-style regexes), matched in
 * order, with \N back-references expanded into script names and static file paths.
 */
#include "router.h"

#include "regex.h"

#include <stdlib.h>
#include <string.h>

struct das_router {
    const das_config_t *cfg;
    pcre2_code **codes;   /* one per handler, same order */
    pcre2_code **uploads; /* static_files handlers' `upload`, as ^(?:upload)$; else NULL */
    size_t n;
};

int das_router_create(const das_config_t *cfg, das_router_t **out, das_err_t *err)
{
    das_router_t *r = das_xcalloc(1, sizeof *r);
    r->cfg = cfg;
    r->n = cfg->n_handlers;
    r->codes = das_xcalloc(r->n, sizeof *r->codes);
    r->uploads = das_xcalloc(r->n, sizeof *r->uploads);
    for (size_t i = 0; i < r->n; i++) {
        const das_config_handler_t *h = &cfg->handlers[i];
        char *pattern = h->kind == DAS_HANDLER_STATIC_DIR
                            ? das_xasprintf("^(?:%s)/(.*)$", h->url)
                            : das_xasprintf("^(?:%s)$", h->url);
        int code;
        PCRE2_SIZE off;
        r->codes[i] = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_DOTALL,
                                    &code, &off, NULL);
        free(pattern);
        if (!r->codes[i]) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(code, msg, sizeof msg);
            das_err_set(err, AE_EINVAL, "%s:%d:%d: invalid url '%s': %s", h->file, h->line,
                        h->col, h->url, (char *)msg);
            das_router_destroy(r);
            return AE_EINVAL;
        }
        uint32_t groups = 0;
        pcre2_pattern_info(r->codes[i], PCRE2_INFO_CAPTURECOUNT, &groups);
        if (groups >= DAS_REGEX_MAX_GROUPS) {
            das_err_set(err, AE_EINVAL, "%s:%d:%d: url '%s' has %u groups; at most %d are allowed",
                        h->file, h->line, h->col, h->url, groups, DAS_REGEX_MAX_GROUPS - 2);
            das_router_destroy(r);
            return AE_EINVAL;
        }
        pcre2_jit_compile(r->codes[i], PCRE2_JIT_COMPLETE); /* falls back to the interpreter */
        if (h->kind == DAS_HANDLER_STATIC_FILES && h->upload) {
            /* config.c checked that it compiles. */
            char *up = das_xasprintf("^(?:%s)$", h->upload);
            r->uploads[i] = pcre2_compile((PCRE2_SPTR)up, PCRE2_ZERO_TERMINATED, PCRE2_DOTALL,
                                          &code, &off, NULL);
            free(up);
            if (!r->uploads[i]) {
                das_err_set(err, AE_EINVAL, "%s:%d:%d: invalid upload regex '%s'", h->file,
                            h->line, h->col, h->upload);
                das_router_destroy(r);
                return AE_EINVAL;
            }
        }
    }
    *out = r;
    return 0;
}

void das_router_destroy(das_router_t *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++) {
        pcre2_code_free(r->codes[i]);
        pcre2_code_free(r->uploads[i]);
    }
    free(r->codes);
    free(r->uploads);
    free(r);
}

/* Copies `tmpl`, replacing \1..\9 with the groups of the match. */
static char *expand(const char *tmpl, const char *subject, const PCRE2_SIZE *ov, int ngroups)
{
    das_buf_t b = {0};
    for (const char *p = tmpl; *p; p++) {
        if (p[0] == '\\' && p[1] >= '1' && p[1] <= '9') {
            int g = p[1] - '0';
            if (g < ngroups && ov[2 * g] != PCRE2_UNSET)
                das_buf_append(&b, subject + ov[2 * g], ov[2 * g + 1] - ov[2 * g]);
            p++;
        } else {
            das_buf_append(&b, p, 1);
        }
    }
    return das_buf_steal(&b);
}

int das_router_match(const das_router_t *r, const char *path, size_t from, das_route_t *route)
{
    memset(route, 0, sizeof *route);
    size_t len = strlen(path);
    pcre2_match_data *md = das_regex_thread_match_data();
    for (size_t i = from; i < r->n; i++) {
        int rc = pcre2_match(r->codes[i], (PCRE2_SPTR)path, len, 0, 0, md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH)
            continue;
        if (rc < 0) /* a match or JIT stack limit: never fall through to the next handler */
            return AE_EINTERNAL;
        const das_config_handler_t *h = &r->cfg->handlers[i];
        const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        /* A whole match (as Python's re, the platform's, '$' also matches before a final
         * newline), and for static_dir a set last group, whatever verbs such as (*ACCEPT) in
         * the url did to the anchors (Python's re has none). */
        uint32_t groups = 0;
        pcre2_pattern_info(r->codes[i], PCRE2_INFO_CAPTURECOUNT, &groups);
        bool whole = ov[1] == len || (ov[1] + 1 == len && path[len - 1] == '\n'); /* '$' */
        if (!whole ||
            (h->kind == DAS_HANDLER_STATIC_DIR &&
             ((uint32_t)rc <= groups || ov[2 * groups] == PCRE2_UNSET)))
            continue;
        route->handler = h;
        route->index = i;
        switch (h->kind) {
        case DAS_HANDLER_SCRIPT:
            route->target = expand(h->script, path, ov, rc);
            break;
        case DAS_HANDLER_STATIC_FILES:
            route->target = expand(h->static_files, path, ov, rc);
            /* Only files `upload` names were uploaded: any other is not there. */
            route->not_uploaded =
                r->uploads[i] && pcre2_match(r->uploads[i], (PCRE2_SPTR)route->target,
                                             strlen(route->target), 0, 0, md, NULL) < 0;
            break;
        case DAS_HANDLER_STATIC_DIR: {
            /* The last group is the rest of the path below the url prefix. */
            const char *rest = path + ov[2 * groups];
            size_t rest_len = ov[2 * groups + 1] - ov[2 * groups];
            size_t dir_len = strlen(h->static_dir);
            while (dir_len > 1 && h->static_dir[dir_len - 1] == '/')
                dir_len--; /* "static/" is "static" */
            route->target = das_xasprintf("%.*s/%.*s", (int)dir_len, h->static_dir,
                                          (int)rest_len, rest);
            break;
        }
        }
        return 0;
    }
    return AE_ENOTFOUND;
}

void das_route_dispose(das_route_t *route)
{
    free(route->target);
    route->target = NULL;
}
