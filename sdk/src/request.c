/* request.c - the SDK's request and response objects, in the request's arena (arena.h).
 *
 * Everything here runs on one handler thread for one request: no locks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "httptext.h"
#include "sdk_internal.h"

void ae__request_dispose(ae_request_t *rq)
{
    das_rpc_buf_dispose(&rq->log_batch);
    das_arena_dispose(&rq->arena);
}

/* ---------------------------------------------------------------- parsing */

/* Appends the pairs of "a=1&b=2" to `*pairs`. */
static void parse_urlencoded(das_arena_t *a, const char *text, size_t len, ae_pair_t **pairs,
                             size_t *n, size_t *cap)
{
    const char *end = text + len;
    for (const char *p = text; p < end;) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        if (stop > p) {
            const char *eq = memchr(p, '=', (size_t)(stop - p));
            const char *name_end = eq ? eq : stop;
            if (*n == *cap) {
                size_t ncap = *cap ? *cap * 2 : 8;
                ae_pair_t *grown = das_arena_alloc(a, ncap * sizeof *grown);
                if (*n)
                    memcpy(grown, *pairs, *n * sizeof *grown);
                *pairs = grown;
                *cap = ncap;
            }
            ae_pair_t *pair = &(*pairs)[(*n)++];
            pair->name = das_arena_strndup(a, p, (size_t)(name_end - p));
            pair->value = eq ? das_arena_strndup(a, eq + 1, (size_t)(stop - eq - 1))
                             : das_arena_strndup(a, "", 0);
            das_pct_decode(pair->name, strlen(pair->name), DAS_PCT_PLUS);
            das_pct_decode(pair->value, strlen(pair->value), DAS_PCT_PLUS);
        }
        p = stop + 1;
    }
}

static void parse_params(ae_request_t *rq)
{
    size_t cap = 0;
    rq->params_parsed = true;
    parse_urlencoded(&rq->arena, rq->wire.query, strlen(rq->wire.query), &rq->params,
                     &rq->n_params, &cap);
    const char *ct = ae_request_header(rq, "Content-Type");
    if (ct && strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0)
        parse_urlencoded(&rq->arena, rq->wire.body, rq->wire.body_len, &rq->params,
                         &rq->n_params, &cap);
}

static void parse_cookies(ae_request_t *rq)
{
    rq->cookies_parsed = true;
    size_t cap = 0;
    for (uint32_t h = 0; h < rq->wire.n_headers; h++) {
        if (strcasecmp(rq->wire.headers[h].name, "Cookie") != 0)
            continue;
        das_cookie_t c;
        for (const char *p = rq->wire.headers[h].value; das_cookie_next(&p, &c);) {
            if (rq->n_cookies == cap) {
                size_t ncap = cap ? cap * 2 : 8;
                ae_pair_t *grown = das_arena_alloc(&rq->arena, ncap * sizeof *grown);
                if (rq->n_cookies)
                    memcpy(grown, rq->cookies, rq->n_cookies * sizeof *grown);
                rq->cookies = grown;
                cap = ncap;
            }
            ae_pair_t *pair = &rq->cookies[rq->n_cookies++];
            pair->name = das_arena_strndup(&rq->arena, c.name, c.name_len);
            pair->value = das_arena_strndup(&rq->arena, c.value, c.value_len);
        }
    }
}

/* ---------------------------------------------------------------- request */

const char *ae_request_method(const ae_request_t *rq)
{
    return rq->wire.method;
}

const char *ae_request_path(const ae_request_t *rq)
{
    return rq->wire.path;
}

const char *ae_request_query(const ae_request_t *rq)
{
    return rq->wire.query;
}

const char *ae_request_header(const ae_request_t *rq, const char *name)
{
    for (uint32_t i = 0; i < rq->wire.n_headers; i++)
        if (strcasecmp(rq->wire.headers[i].name, name) == 0)
            return rq->wire.headers[i].value;
    return NULL;
}

size_t ae_request_header_count(const ae_request_t *rq)
{
    return rq->wire.n_headers;
}

bool ae_request_header_at(const ae_request_t *rq, size_t i, const char **name,
                          const char **value)
{
    if (i >= rq->wire.n_headers)
        return false;
    *name = rq->wire.headers[i].name;
    *value = rq->wire.headers[i].value;
    return true;
}

const char *ae_request_param(ae_request_t *rq, const char *name)
{
    if (!rq->params_parsed)
        parse_params(rq);
    for (size_t i = 0; i < rq->n_params; i++)
        if (strcmp(rq->params[i].name, name) == 0)
            return rq->params[i].value;
    return NULL;
}

const char *ae_request_cookie(ae_request_t *rq, const char *name)
{
    if (!rq->cookies_parsed)
        parse_cookies(rq);
    for (size_t i = 0; i < rq->n_cookies; i++)
        if (strcmp(rq->cookies[i].name, name) == 0)
            return rq->cookies[i].value;
    return NULL;
}

const void *ae_request_body(const ae_request_t *rq, size_t *len)
{
    if (len)
        *len = rq->wire.body_len;
    return rq->wire.body;
}

const char *ae_request_env(const ae_request_t *rq, const char *name)
{
    for (uint32_t i = 0; i < rq->wire.n_env; i++)
        if (strcmp(rq->wire.env[i].name, name) == 0)
            return rq->wire.env[i].value;
    return NULL;
}

const char *ae_request_user_email(const ae_request_t *rq)
{
    const char *e = ae_request_env(rq, "USER_EMAIL");
    return e && *e ? e : NULL;
}

const char *ae_request_user_id(const ae_request_t *rq)
{
    const char *e = ae_request_env(rq, "USER_ID");
    return e && *e ? e : NULL;
}

bool ae_request_user_is_admin(const ae_request_t *rq)
{
    const char *e = ae_request_env(rq, "USER_IS_ADMIN");
    return e && strcmp(e, "1") == 0;
}

void *ae_request_alloc(ae_request_t *rq, size_t n)
{
    return das_arena_alloc(&rq->arena, n);
}

char *ae_request_strdup(ae_request_t *rq, const char *s)
{
    return das_arena_strndup(&rq->arena, s, strlen(s));
}

char *ae_request_printf(ae_request_t *rq, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *p = das_arena_alloc(&rq->arena, n > 0 ? (size_t)n + 1 : 1);
    vsnprintf(p, n > 0 ? (size_t)n + 1 : 1, fmt, ap2);
    va_end(ap2);
    return p;
}

/* ---------------------------------------------------------------- response */

void ae__response_init(ae_response_t *rs, das_arena_t *arena)
{
    memset(rs, 0, sizeof *rs);
    rs->status = 200;
    rs->arena = arena;
}

void ae__response_dispose(ae_response_t *rs)
{
    free(rs->body);
    rs->body = NULL;
}

void ae_response_set_status(ae_response_t *rs, int status)
{
    rs->status = status;
}

void ae_response_add_header(ae_response_t *rs, const char *name, const char *value)
{
    if (rs->n_headers == rs->cap_headers) {
        size_t ncap = rs->cap_headers ? rs->cap_headers * 2 : 8;
        das_rpc_pair_t *grown = das_arena_alloc(rs->arena, ncap * sizeof *grown);
        if (rs->n_headers)
            memcpy(grown, rs->headers, rs->n_headers * sizeof *grown);
        rs->headers = grown;
        rs->cap_headers = ncap;
    }
    rs->headers[rs->n_headers].name = das_arena_strndup(rs->arena, name, strlen(name));
    rs->headers[rs->n_headers].value = das_arena_strndup(rs->arena, value, strlen(value));
    rs->n_headers++;
}

void ae_response_set_header(ae_response_t *rs, const char *name, const char *value)
{
    size_t w = 0;
    for (size_t i = 0; i < rs->n_headers; i++)
        if (strcasecmp(rs->headers[i].name, name) != 0)
            rs->headers[w++] = rs->headers[i];
    rs->n_headers = w;
    ae_response_add_header(rs, name, value);
}

void ae_response_write(ae_response_t *rs, const void *data, size_t len)
{
    if (rs->len + len + 1 > rs->cap) {
        size_t cap = rs->cap ? rs->cap : 1024;
        while (cap < rs->len + len + 1)
            cap *= 2;
        rs->body = realloc(rs->body, cap);
        if (!rs->body)
            abort();
        rs->cap = cap;
    }
    if (len)
        memcpy(rs->body + rs->len, data, len);
    rs->len += len;
    rs->body[rs->len] = '\0';
}

void ae_response_puts(ae_response_t *rs, const char *s)
{
    ae_response_write(rs, s, strlen(s));
}

void ae_response_vprintf(ae_response_t *rs, const char *fmt, va_list ap)
{
    char small[512];
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    if (n < 0) {
        va_end(ap2);
        return;
    }
    if ((size_t)n < sizeof small) {
        ae_response_write(rs, small, (size_t)n);
    } else {
        char *big = malloc((size_t)n + 1);
        if (!big)
            abort();
        vsnprintf(big, (size_t)n + 1, fmt, ap2);
        ae_response_write(rs, big, (size_t)n);
        free(big);
    }
    va_end(ap2);
}

void ae_response_printf(ae_response_t *rs, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ae_response_vprintf(rs, fmt, ap);
    va_end(ap);
}

void ae_response_error(ae_response_t *rs, int status, const char *fmt, ...)
{
    rs->status = status;
    rs->len = 0;
    ae_response_set_header(rs, "Content-Type", "text/plain; charset=utf-8");
    va_list ap;
    va_start(ap, fmt);
    ae_response_vprintf(rs, fmt, ap);
    va_end(ap);
}
