/* fixture.c - the URL Fetch stub's record and replay files (JSON lines, with libjansson; see
 * fixture.h for the format).
 */
#include "fixture.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

/* ---------------------------------------------------------------- bytes in JSON */

/* A string when the bytes are UTF-8 with no NUL, else {"base64": ".."}. */
static json_t *bytes_json(const void *data, size_t len)
{
    if (!memchr(data, 0, len)) {
        json_t *s = json_stringn(data, len);
        if (s)
            return s;
    }
    unsigned char *out = malloc(4 * ((len + 2) / 3) + 1);
    if (!out)
        abort();
    int n = EVP_EncodeBlock(out, data, (int)len);
    json_t *o = json_pack("{s:s%}", "base64", (const char *)out, (size_t)n);
    free(out);
    return o;
}

/* Back to bytes (malloc'd, NUL-terminated); NULL when `v` is neither form. */
static char *json_bytes(json_t *v, size_t *len)
{
    if (json_is_string(v)) {
        *len = json_string_length(v);
        char *d = malloc(*len + 1);
        if (!d)
            abort();
        memcpy(d, json_string_value(v), *len + 1);
        return d;
    }
    json_t *b = json_is_object(v) ? json_object_get(v, "base64") : NULL;
    if (!json_is_string(b))
        return NULL;
    const char *in = json_string_value(b);
    size_t n_in = json_string_length(b);
    if (n_in % 4)
        return NULL;
    unsigned char *out = malloc(n_in / 4 * 3 + 1);
    if (!out)
        abort();
    int n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)n_in);
    if (n < 0) {
        free(out);
        return NULL;
    }
    for (size_t i = n_in; i > 0 && in[i - 1] == '='; i--)
        n--; /* EVP_DecodeBlock counts the padding */
    out[n] = '\0';
    *len = (size_t)n;
    return (char *)out;
}

static json_t *headers_json(const das_urlfetch_header_t *h, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_pack("[o,o]", bytes_json(h[i].name, strlen(h[i].name)),
                                           bytes_json(h[i].value, strlen(h[i].value))));
    return a;
}

/* ---------------------------------------------------------------- replay */

typedef struct {
    char *method, *url, *payload;
    size_t payload_len;
    das_urlfetch_response_t rs;
    bool used;
} exchange_t;

struct das_uf_fixture {
    char *path;
    exchange_t *ex;
    size_t n;
    pthread_mutex_t lock;
};

static int bad_line(das_urlfetch_err_t *err, const char *path, size_t line, const char *why)
{
    snprintf(err->msg, sizeof err->msg, "%s:%zu: not a urlfetch exchange: %s", path, line, why);
    return AE_EINVAL;
}

static int parse_exchange(json_t *o, exchange_t *x)
{
    json_t *m = json_object_get(o, "method"), *u = json_object_get(o, "url");
    json_t *st = json_object_get(o, "status"), *hs = json_object_get(o, "response_headers");
    if (!json_is_string(m) || !json_is_integer(st) || !json_is_array(hs))
        return -1;
    size_t url_len;
    x->method = strdup(json_string_value(m));
    x->url = json_bytes(u, &url_len);
    json_t *p = json_object_get(o, "payload");
    x->payload = p ? json_bytes(p, &x->payload_len) : strdup("");
    json_t *b = json_object_get(o, "body");
    x->rs.body = b ? json_bytes(b, &x->rs.len) : strdup("");
    if (!x->method || !x->url || !x->payload || !x->rs.body)
        return -1;
    x->rs.status = (int)json_integer_value(st);
    json_t *f = json_object_get(o, "final_url");
    if (json_is_string(f))
        x->rs.final_url = strdup(json_string_value(f));
    x->rs.truncated = json_is_true(json_object_get(o, "truncated"));
    size_t i;
    json_t *pair;
    x->rs.headers = calloc(json_array_size(hs) + 1, sizeof *x->rs.headers);
    if (!x->rs.headers)
        abort();
    json_array_foreach(hs, i, pair) {
        size_t nl, vl;
        char *name = json_bytes(json_array_get(pair, 0), &nl);
        char *value = json_bytes(json_array_get(pair, 1), &vl);
        if (!name || !value) {
            free(name);
            free(value);
            return -1;
        }
        x->rs.headers[x->rs.n_headers].name = name;
        x->rs.headers[x->rs.n_headers].value = value;
        x->rs.n_headers++;
    }
    return 0;
}

int das_uf_fixture_load(const char *path, das_uf_fixture_t **out, das_urlfetch_err_t *err)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err->msg, sizeof err->msg, "cannot read the urlfetch replay file %s: %s", path,
                 strerror(errno));
        return AE_EIO;
    }
    das_uf_fixture_t *fx = calloc(1, sizeof *fx);
    if (!fx)
        abort();
    fx->path = strdup(path);
    pthread_mutex_init(&fx->lock, NULL);
    char *line = NULL;
    size_t cap = 0, number = 0;
    ssize_t n;
    int rc = AE_OK;
    while ((n = getline(&line, &cap, f)) >= 0) {
        number++;
        if (n == 0 || line[0] == '\n')
            continue;
        json_error_t je;
        json_t *o = json_loadb(line, (size_t)n, 0, &je);
        if (!o) {
            rc = bad_line(err, path, number, je.text);
            break;
        }
        fx->ex = realloc(fx->ex, (fx->n + 1) * sizeof *fx->ex);
        if (!fx->ex)
            abort();
        exchange_t *x = &fx->ex[fx->n++];
        memset(x, 0, sizeof *x);
        int prc = json_is_object(o) ? parse_exchange(o, x) : -1;
        json_decref(o);
        if (prc < 0) {
            rc = bad_line(err, path, number, "it needs method, url, status and response_headers");
            break;
        }
    }
    free(line);
    fclose(f);
    if (rc < 0) {
        das_uf_fixture_free(fx);
        return rc;
    }
    *out = fx;
    return AE_OK;
}

void das_uf_fixture_free(das_uf_fixture_t *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n; i++) {
        free(f->ex[i].method);
        free(f->ex[i].url);
        free(f->ex[i].payload);
        das_urlfetch_response_dispose(&f->ex[i].rs);
    }
    free(f->ex);
    free(f->path);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

const char *das_uf_fixture_path(const das_uf_fixture_t *f)
{
    return f->path;
}

static void copy_response(const das_urlfetch_response_t *from, das_urlfetch_response_t *to)
{
    memset(to, 0, sizeof *to);
    to->status = from->status;
    to->truncated = from->truncated;
    to->len = from->len;
    to->body = malloc(from->len + 1);
    to->headers = calloc(from->n_headers + 1, sizeof *to->headers);
    if (!to->body || !to->headers)
        abort();
    memcpy(to->body, from->body, from->len + 1);
    for (size_t i = 0; i < from->n_headers; i++) {
        to->headers[i].name = strdup(from->headers[i].name);
        to->headers[i].value = strdup(from->headers[i].value);
        if (!to->headers[i].name || !to->headers[i].value)
            abort();
    }
    to->n_headers = from->n_headers;
    if (from->final_url && !(to->final_url = strdup(from->final_url)))
        abort();
}

int das_uf_fixture_answer(das_uf_fixture_t *f, const char *method,
                          const das_urlfetch_request_t *rq, das_urlfetch_response_t *rs)
{
    pthread_mutex_lock(&f->lock);
    exchange_t *pick = NULL, *last = NULL;
    for (size_t i = 0; i < f->n && !pick; i++) {
        exchange_t *x = &f->ex[i];
        if (strcmp(x->method, method) != 0 || strcmp(x->url, rq->url) != 0 ||
            x->payload_len != rq->payload_len ||
            (rq->payload_len && memcmp(x->payload, rq->payload, rq->payload_len) != 0))
            continue;
        last = x;
        if (!x->used)
            pick = x;
    }
    if (!pick)
        pick = last;
    if (pick) {
        pick->used = true;
        copy_response(&pick->rs, rs);
    }
    pthread_mutex_unlock(&f->lock);
    return pick ? AE_OK : AE_ENOTFOUND;
}

/* ---------------------------------------------------------------- record */

struct das_uf_recorder {
    FILE *f;
    pthread_mutex_t lock;
};

int das_uf_recorder_open(const char *path, das_uf_recorder_t **out, das_urlfetch_err_t *err)
{
    FILE *f = fopen(path, "a");
    if (!f) {
        snprintf(err->msg, sizeof err->msg, "cannot write the urlfetch record file %s: %s", path,
                 strerror(errno));
        return AE_EIO;
    }
    das_uf_recorder_t *r = calloc(1, sizeof *r);
    if (!r)
        abort();
    r->f = f;
    pthread_mutex_init(&r->lock, NULL);
    *out = r;
    return AE_OK;
}

void das_uf_recorder_close(das_uf_recorder_t *r)
{
    if (!r)
        return;
    fclose(r->f);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

void das_uf_record(das_uf_recorder_t *r, const char *method, const das_urlfetch_request_t *rq,
                   const das_urlfetch_response_t *rs)
{
    json_t *o = json_object();
    json_object_set_new(o, "method", json_string(method));
    json_object_set_new(o, "url", bytes_json(rq->url, strlen(rq->url)));
    json_object_set_new(o, "headers", headers_json(rq->headers, rq->n_headers));
    json_object_set_new(o, "payload", bytes_json(rq->payload ? rq->payload : "",
                                                 rq->payload_len));
    json_object_set_new(o, "status", json_integer(rs->status));
    json_object_set_new(o, "response_headers", headers_json(rs->headers, rs->n_headers));
    json_object_set_new(o, "body", bytes_json(rs->body ? rs->body : "", rs->len));
    json_object_set_new(o, "final_url", rs->final_url ? json_string(rs->final_url) : json_null());
    json_object_set_new(o, "truncated", json_boolean(rs->truncated));
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    json_decref(o);
    if (!text)
        return;
    pthread_mutex_lock(&r->lock);
    fputs(text, r->f);
    fputc('\n', r->f);
    fflush(r->f);
    pthread_mutex_unlock(&r->lock);
    free(text);
}
