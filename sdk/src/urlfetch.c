/* urlfetch.c - the SDK's URL Fetch calls: the platform client's own check (a GET of the
 * request's own URL is refused before any round trip), the fetch sent to the urlfetch service
 * (Fetch, or Start then Wait), and the response copied into the request's arena. The
 * platform's other rules are the service's.
 */
#include <appengine/urlfetch.h>

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rpc_urlfetch.h"
#include "sdk_internal.h"

struct ae_urlfetch_rpc {
    uint32_t handle;
    const char *url; /* arena */
    bool allow_truncated;
    bool waited;
};

void ae_urlfetch_set_default_deadline(ae_request_t *rq, double seconds)
{
    rq->urlfetch_deadline = seconds > 0 ? seconds : 0;
}

/* ---------------------------------------------------------------- self-fetch */

static int hex(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The byte at s[*i], a %XX escape decoded; moves *i past it. */
static int next_byte(const char *s, size_t len, size_t *i)
{
    int c = (unsigned char)s[*i];
    if (c == '%' && *i + 2 < len && hex(s[*i + 1]) >= 0 && hex(s[*i + 2]) >= 0) {
        c = hex(s[*i + 1]) * 16 + hex(s[*i + 2]);
        *i += 2;
    }
    (*i)++;
    return c;
}

/* Compares two paths with their %XX escapes decoded; "" and "/" are the same. */
static bool same_path(const char *a, size_t alen, const char *b, size_t blen)
{
    if ((alen == 0 || (alen == 1 && a[0] == '/')) && (blen == 0 || (blen == 1 && b[0] == '/')))
        return true;
    size_t i = 0, j = 0;
    while (i < alen && j < blen)
        if (next_byte(a, alen, &i) != next_byte(b, blen, &j))
            return false;
    return i == alen && j == blen;
}

/* The platform client's check: a GET of this request's host and path (its query aside). */
static bool fetches_self(const ae_request_t *rq, const char *method, const char *url)
{
    if (method && strcasecmp(method, "GET") != 0)
        return false;
    const char *host = ae_request_header(rq, "Host");
    if (!host)
        host = ae_request_env(rq, "HTTP_HOST");
    const char *path = rq->wire.path;
    const char *p = strstr(url, "://");
    if (!host || !path || !p)
        return false;
    p += 3;
    size_t hlen = strcspn(p, "/?#");
    if (hlen != strlen(host) || strncasecmp(p, host, hlen) != 0)
        return false;
    const char *u = p + hlen;
    return same_path(u, strcspn(u, "?#"), path, strlen(path));
}

/* ---------------------------------------------------------------- calls */

static void encode_request(ae_request_t *rq, das_rpc_buf_t *body, const ae_urlfetch_request_t *f)
{
    size_t n = 0;
    while (f->headers && f->headers[n])
        n++;
    das_rpc_pair_t *pairs = n ? das_arena_alloc(&rq->arena, n * sizeof *pairs) : NULL;
    for (size_t i = 0; i < n; i++) {
        const char *h = f->headers[i];
        const char *colon = strchr(h, ':');
        size_t nl = colon ? (size_t)(colon - h) : strlen(h);
        pairs[i].name = das_arena_strndup(&rq->arena, h, nl);
        pairs[i].value = colon ? colon + 1 + strspn(colon + 1, " \t") : "";
    }
    double d = f->deadline > 0 ? f->deadline : rq->urlfetch_deadline;
    das_rpc_uf_request_t w = {
        .method = f->method ? f->method : "GET",
        .url = f->url,
        .headers = pairs,
        .n_headers = (uint32_t)n,
        .payload = f->payload,
        .payload_len = f->payload ? f->payload_len : 0,
        .follow_redirects = f->follow_redirects,
        .validate_certificate = f->validate_certificate,
        .deadline_ms = d > 0 ? (int64_t)(d * 1000.0 + 0.5) : 0,
    };
    das_rpc_uf_encode_request(body, &w);
}

/* Copies a response body into the arena, and says AE_ETOOLARGE for a cut one unless allowed. */
static int take_response(ae_request_t *rq, const ae__call_t *c, const char *url,
                         bool allow_truncated, ae_urlfetch_response_t *out)
{
    das_rpc_uf_response_t r;
    if (das_rpc_uf_decode_response(c->reply, c->reply_len, &r) < 0) {
        das_rpc_uf_response_dispose(&r);
        return ae__fail(rq, AE_EINTERNAL, "malformed reply to urlfetch");
    }
    const char **headers = das_arena_alloc(&rq->arena, (r.n_headers + 1) * sizeof *headers);
    for (uint32_t i = 0; i < r.n_headers; i++) {
        size_t nl = strlen(r.headers[i].name), vl = strlen(r.headers[i].value);
        char *line = das_arena_alloc(&rq->arena, nl + vl + 3);
        memcpy(line, r.headers[i].name, nl);
        memcpy(line + nl, ": ", 2);
        memcpy(line + nl + 2, r.headers[i].value, vl + 1);
        headers[i] = line;
    }
    headers[r.n_headers] = NULL;
    out->status = (int)r.status;
    out->headers = headers;
    out->n_headers = r.n_headers;
    out->body = das_arena_strndup(&rq->arena, r.body, r.body_len);
    out->len = r.body_len;
    out->final_url = r.final_url[0] ? das_arena_strndup(&rq->arena, r.final_url,
                                                        strlen(r.final_url))
                                    : NULL;
    out->truncated = r.truncated;
    das_rpc_uf_response_dispose(&r);
    if (out->truncated && !allow_truncated)
        return ae__fail(rq, AE_ETOOLARGE,
                        "The response from URL %.300s was too large: cut at %d bytes (set "
                        "allow_truncated to accept it)",
                        url, AE_URLFETCH_MAX_RESPONSE);
    return AE_OK;
}

static int check(ae_request_t *rq, const ae_urlfetch_request_t *f)
{
    if (!f || !f->url)
        return ae__fail(rq, AE_EINVAL, "Invalid request URL: (none)");
    if (fetches_self(rq, f->method, f->url))
        return ae__fail(rq, AE_EINVAL,
                        "App cannot fetch the same URL as the one used for the request.");
    /* Refused here too (the service refuses it), so that it never crosses to the server. */
    const char *m = f->method ? f->method : "GET";
    bool sends = !strcasecmp(m, "POST") || !strcasecmp(m, "PUT") || !strcasecmp(m, "PATCH");
    if (sends && f->payload && f->payload_len > AE_URLFETCH_MAX_PAYLOAD)
        return ae__fail(rq, AE_ETOOLARGE,
                        "The request payload to URL %.300s is %zu bytes; the limit is %d bytes.",
                        f->url, f->payload_len, AE_URLFETCH_MAX_PAYLOAD);
    return AE_OK;
}

int ae_urlfetch(ae_request_t *rq, const ae_urlfetch_request_t *f, ae_urlfetch_response_t *out)
{
    memset(out, 0, sizeof *out);
    int rc = check(rq, f);
    if (rc < 0)
        return rc;
    ae__call_t c;
    encode_request(rq, ae__call_begin(rq, &c, DAS_RPC_SERVICE_URLFETCH, "Fetch"), f);
    rc = ae__call_send(rq, &c);
    if (rc == AE_OK)
        rc = take_response(rq, &c, f->url, f->allow_truncated, out);
    ae__call_dispose(&c);
    return rc;
}

int ae_urlfetch_start(ae_request_t *rq, const ae_urlfetch_request_t *f, ae_urlfetch_rpc_t **rpc)
{
    *rpc = NULL;
    int rc = check(rq, f);
    if (rc < 0)
        return rc;
    ae__call_t c;
    encode_request(rq, ae__call_begin(rq, &c, DAS_RPC_SERVICE_URLFETCH, "Start"), f);
    rc = ae__call_send(rq, &c);
    das_rpc_reader_t r;
    das_rpc_reader_init(&r, c.reply, c.reply_len);
    uint32_t handle = rc == AE_OK ? das_rpc_get_u32(&r) : 0;
    if (rc == AE_OK && !das_rpc_reader_done(&r))
        rc = ae__fail(rq, AE_EINTERNAL, "malformed reply to urlfetch.Start()");
    ae__call_dispose(&c);
    if (rc < 0)
        return rc;
    ae_urlfetch_rpc_t *p = das_arena_calloc(&rq->arena, sizeof *p);
    p->handle = handle;
    p->url = das_arena_strndup(&rq->arena, f->url, strlen(f->url));
    p->allow_truncated = f->allow_truncated;
    *rpc = p;
    return AE_OK;
}

int ae_urlfetch_wait(ae_request_t *rq, ae_urlfetch_rpc_t *rpc, ae_urlfetch_response_t *out)
{
    memset(out, 0, sizeof *out);
    if (!rpc || rpc->waited)
        return ae__fail(rq, AE_EINVAL, "this fetch was %s",
                        rpc ? "already waited for" : "never started");
    rpc->waited = true;
    ae__call_t c;
    das_rpc_uf_encode_wait(ae__call_begin(rq, &c, DAS_RPC_SERVICE_URLFETCH, "Wait"),
                           rpc->handle, rpc->url);
    int rc = ae__call_send(rq, &c);
    if (rc == AE_OK)
        rc = take_response(rq, &c, rpc->url, rpc->allow_truncated, out);
    ae__call_dispose(&c);
    return rc;
}

const char *ae_urlfetch_header(const ae_urlfetch_response_t *r, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; r->headers && r->headers[i]; i++)
        if (strncasecmp(r->headers[i], name, n) == 0 && r->headers[i][n] == ':')
            return r->headers[i] + n + 1 + strspn(r->headers[i] + n + 1, " \t");
    return NULL;
}
