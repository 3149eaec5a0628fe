/* rpc_codec.c - framing and message encoding between the server and its instances.
 * See rpc_codec.h for the wire format.
 */
#include "rpc_codec.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>

#define HEADER_LEN 16 /* u32 length, u8 type, 3 zero bytes, u64 request id */
#define RECV_CHUNK 16384 /* the first read of a frame asks for this much */

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p)
        abort();
    return p;
}

/* ---------------------------------------------------------------- buffers */

static void reserve(das_rpc_buf_t *b, size_t extra)
{
    if (b->len + extra <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra)
        cap *= 2;
    b->data = xrealloc(b->data, cap);
    b->cap = cap;
}

void das_rpc_buf_dispose(das_rpc_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void das_rpc_put_u32(das_rpc_buf_t *b, uint32_t v)
{
    reserve(b, 4);
    b->data[b->len++] = (uint8_t)v;
    b->data[b->len++] = (uint8_t)(v >> 8);
    b->data[b->len++] = (uint8_t)(v >> 16);
    b->data[b->len++] = (uint8_t)(v >> 24);
}

void das_rpc_put_bytes(das_rpc_buf_t *b, const void *data, size_t len)
{
    das_rpc_put_u32(b, (uint32_t)len);
    reserve(b, len + 1);
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len++] = 0;
}

void das_rpc_put_raw(das_rpc_buf_t *b, const void *data, size_t len)
{
    reserve(b, len);
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
}

void das_rpc_put_str(das_rpc_buf_t *b, const char *s)
{
    if (!s)
        s = "";
    das_rpc_put_bytes(b, s, strlen(s));
}

void das_rpc_reader_init(das_rpc_reader_t *r, const void *data, size_t len)
{
    r->p = data;
    r->end = r->p + len;
    r->bad = 0;
}

uint32_t das_rpc_get_u32(das_rpc_reader_t *r)
{
    if (r->bad || r->end - r->p < 4) {
        r->bad = 1;
        return 0;
    }
    uint32_t v = (uint32_t)r->p[0] | (uint32_t)r->p[1] << 8 | (uint32_t)r->p[2] << 16 |
                 (uint32_t)r->p[3] << 24;
    r->p += 4;
    return v;
}

const char *das_rpc_get_bytes(das_rpc_reader_t *r, size_t *len)
{
    uint32_t n = das_rpc_get_u32(r);
    if (r->bad || (size_t)(r->end - r->p) < (size_t)n + 1 || r->p[n] != 0) {
        r->bad = 1;
        if (len)
            *len = 0;
        return "";
    }
    const char *s = (const char *)r->p;
    r->p += (size_t)n + 1;
    if (len)
        *len = n;
    return s;
}

const char *das_rpc_get_str(das_rpc_reader_t *r)
{
    return das_rpc_get_bytes(r, NULL);
}

/* Little-endian, whatever the host. */
static inline void store64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint64_t load64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

void das_rpc_put_u64(das_rpc_buf_t *b, uint64_t v)
{
    reserve(b, 8);
    store64(b->data + b->len, v);
    b->len += 8;
}

void das_rpc_put_i64(das_rpc_buf_t *b, int64_t v)
{
    reserve(b, 8);
    store64(b->data + b->len, (uint64_t)v);
    b->len += 8;
}

void das_rpc_put_double(das_rpc_buf_t *b, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    das_rpc_put_u64(b, bits);
}

uint64_t das_rpc_get_u64(das_rpc_reader_t *r)
{
    if (r->bad || r->end - r->p < 8) {
        r->bad = 1;
        return 0;
    }
    uint64_t v = load64(r->p);
    r->p += 8;
    return v;
}

int64_t das_rpc_get_i64(das_rpc_reader_t *r)
{
    return (int64_t)das_rpc_get_u64(r);
}

double das_rpc_get_double(das_rpc_reader_t *r)
{
    uint64_t bits = das_rpc_get_u64(r);
    double v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

uint32_t das_rpc_get_count(das_rpc_reader_t *r, size_t min_bytes, uint32_t max)
{
    uint32_t n = das_rpc_get_u32(r);
    if (r->bad || n > max || (min_bytes && (size_t)n > (size_t)(r->end - r->p) / min_bytes)) {
        r->bad = 1;
        return 0;
    }
    return n;
}

int das_rpc_reader_done(const das_rpc_reader_t *r)
{
    return !r->bad && r->p == r->end;
}

/* Overwrites the u32 at `at` (already written). */
static void patch_u32(das_rpc_buf_t *b, size_t at, uint32_t v)
{
    b->data[at] = (uint8_t)v;
    b->data[at + 1] = (uint8_t)(v >> 8);
    b->data[at + 2] = (uint8_t)(v >> 16);
    b->data[at + 3] = (uint8_t)(v >> 24);
}

/* ---------------------------------------------------------------- frames */

int das_rpc_send_frame(int fd, das_rpc_type_t type, uint64_t id, const void *payload, size_t len)
{
    if (len > DAS_RPC_MAX_FRAME)
        return -EMSGSIZE;
    uint8_t hdr[HEADER_LEN] = {(uint8_t)len, (uint8_t)(len >> 8), (uint8_t)(len >> 16),
                               (uint8_t)(len >> 24), (uint8_t)type, 0, 0, 0};
    store64(hdr + 8, id);
    struct iovec iov[2] = {{hdr, HEADER_LEN}, {(void *)payload, len}};
    int niov = len ? 2 : 1;
    struct iovec *v = iov;
    while (niov > 0) {
        struct msghdr mh = {.msg_iov = v, .msg_iovlen = (size_t)niov};
        ssize_t n = sendmsg(fd, &mh, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        while (niov > 0 && (size_t)n >= v->iov_len) {
            n -= (ssize_t)v->iov_len;
            v++;
            niov--;
        }
        if (niov > 0) {
            v->iov_base = (uint8_t *)v->iov_base + n;
            v->iov_len -= (size_t)n;
        }
    }
    return 0;
}

int das_rpc_set_timeout(int fd, int timeout_ms)
{
    struct timeval tv = {0, 0};
    if (timeout_ms > 0) {
        tv.tv_sec = timeout_ms / 1000;
        tv.tv_usec = (timeout_ms % 1000) * 1000;
    }
    return setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0 ? -errno : 0;
}

/* One read(); maps the socket's receive timeout to -ETIMEDOUT and end of file to
 * -ECONNRESET. Returns the byte count (> 0) or a negative errno. */
static ssize_t read_some(int fd, void *dst, size_t len)
{
    for (;;) {
        ssize_t n = read(fd, dst, len);
        if (n > 0)
            return n;
        if (n == 0)
            return -ECONNRESET;
        if (errno == EINTR)
            continue;
        return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
    }
}

int das_rpc_recv_frame(int fd, das_rpc_type_t *type, uint64_t *id, das_rpc_buf_t *payload)
{
    /* One read usually brings the whole frame: with one frame in flight per direction there
     * is never a second frame behind it to over-read. */
    payload->len = 0;
    reserve(payload, RECV_CHUNK);
    size_t got = 0;
    while (got < HEADER_LEN) {
        ssize_t n = read_some(fd, payload->data + got, payload->cap - got);
        if (n < 0)
            return (int)n;
        got += (size_t)n;
    }
    const uint8_t *hdr = payload->data;
    uint32_t len = (uint32_t)hdr[0] | (uint32_t)hdr[1] << 8 | (uint32_t)hdr[2] << 16 |
                   (uint32_t)hdr[3] << 24;
    uint8_t t = hdr[4];
    uint64_t frame_id = load64(hdr + 8);
    if (id)
        *id = frame_id; /* even for a malformed frame: a wrong id says more about it */
    if (len > DAS_RPC_MAX_FRAME || t < DAS_RPC_READY || t > DAS_RPC_RESET ||
        got > HEADER_LEN + (size_t)len)
        return -EPROTO;
    /* Move what arrived of the payload to the front, then read the rest in place. */
    memmove(payload->data, payload->data + HEADER_LEN, got - HEADER_LEN);
    payload->len = got - HEADER_LEN;
    reserve(payload, (size_t)len + 1);
    while (payload->len < len) {
        ssize_t n = read_some(fd, payload->data + payload->len, len - payload->len);
        if (n < 0)
            return (int)n;
        payload->len += (size_t)n;
    }
    payload->data[len] = 0;
    *type = (das_rpc_type_t)t;
    return 0;
}

/* ---------------------------------------------------------------- messages */

void das_rpc_put_pairs(das_rpc_buf_t *b, const das_rpc_pair_t *pairs, uint32_t n)
{
    das_rpc_put_u32(b, n);
    for (uint32_t i = 0; i < n; i++) {
        das_rpc_put_str(b, pairs[i].name);
        das_rpc_put_str(b, pairs[i].value);
    }
}

das_rpc_pair_t *das_rpc_get_pairs(das_rpc_reader_t *r, uint32_t *n_out)
{
    uint32_t n = das_rpc_get_u32(r);
    /* Each pair needs at least 10 bytes on the wire; refuse counts the payload cannot hold. */
    if (r->bad || n > (size_t)(r->end - r->p) / 10) {
        r->bad = 1;
        *n_out = 0;
        return NULL;
    }
    das_rpc_pair_t *pairs = xrealloc(NULL, (size_t)n * sizeof *pairs);
    for (uint32_t i = 0; i < n; i++) {
        pairs[i].name = das_rpc_get_str(r);
        pairs[i].value = das_rpc_get_str(r);
    }
    *n_out = n;
    return pairs;
}

void das_rpc_encode_request(das_rpc_buf_t *b, const das_rpc_request_t *rq)
{
    das_rpc_put_str(b, rq->script);
    das_rpc_put_str(b, rq->method);
    das_rpc_put_str(b, rq->path);
    das_rpc_put_str(b, rq->query);
    das_rpc_put_pairs(b, rq->headers, rq->n_headers);
    das_rpc_put_pairs(b, rq->env, rq->n_env);
    das_rpc_put_bytes(b, rq->body, rq->body_len);
    das_rpc_put_i64(b, rq->virtual_now_ns);
    das_rpc_put_u64(b, rq->random_seed);
    das_rpc_put_u64(b, rq->random_stream);
}

int das_rpc_decode_request(const void *data, size_t len, das_rpc_request_t *rq)
{
    das_rpc_reader_t r;
    memset(rq, 0, sizeof *rq);
    das_rpc_reader_init(&r, data, len);
    rq->script = das_rpc_get_str(&r);
    rq->method = das_rpc_get_str(&r);
    rq->path = das_rpc_get_str(&r);
    rq->query = das_rpc_get_str(&r);
    das_rpc_pair_t *h = das_rpc_get_pairs(&r, &rq->n_headers);
    das_rpc_pair_t *e = das_rpc_get_pairs(&r, &rq->n_env);
    rq->body = das_rpc_get_bytes(&r, &rq->body_len);
    rq->virtual_now_ns = das_rpc_get_i64(&r);
    rq->random_seed = das_rpc_get_u64(&r);
    rq->random_stream = das_rpc_get_u64(&r);
    /* One allocation owns both lists. */
    das_rpc_pair_t *all = xrealloc(h, ((size_t)rq->n_headers + rq->n_env) * sizeof *all);
    if (rq->n_env)
        memcpy(all + rq->n_headers, e, rq->n_env * sizeof *e);
    free(e);
    rq->headers = all;
    rq->env = all + rq->n_headers;
    rq->storage_ = all;
    return r.bad || r.p != r.end ? -EPROTO : 0;
}

void das_rpc_request_dispose(das_rpc_request_t *rq)
{
    free(rq->storage_);
    rq->storage_ = NULL;
}

void das_rpc_encode_response(das_rpc_buf_t *b, const das_rpc_response_t *rs)
{
    das_rpc_put_u32(b, rs->status);
    das_rpc_put_pairs(b, rs->headers, rs->n_headers);
    das_rpc_put_bytes(b, rs->body, rs->body_len);
    das_rpc_put_u64(b, rs->body_dropped);
}

int das_rpc_decode_response(const void *data, size_t len, das_rpc_response_t *rs)
{
    das_rpc_reader_t r;
    memset(rs, 0, sizeof *rs);
    das_rpc_reader_init(&r, data, len);
    rs->status = das_rpc_get_u32(&r);
    das_rpc_pair_t *h = das_rpc_get_pairs(&r, &rs->n_headers);
    rs->headers = h;
    rs->storage_ = h;
    rs->body = das_rpc_get_bytes(&r, &rs->body_len);
    rs->body_dropped = das_rpc_get_u64(&r);
    return r.bad || r.p != r.end ? -EPROTO : 0;
}

void das_rpc_response_dispose(das_rpc_response_t *rs)
{
    free(rs->storage_);
    rs->storage_ = NULL;
}

/* ---------------------------------------------------------------- the call envelope
 *
 * CALL:  str service, str method, u32 seq, bytes body
 * REPLY: u32 status, bytes body, str detail
 * A body is written in place after a u32 placeholder that the _end() call fills in. */

size_t das_rpc_call_begin(das_rpc_buf_t *b, const char *service, const char *method,
                          uint32_t seq)
{
    das_rpc_put_str(b, service);
    das_rpc_put_str(b, method);
    das_rpc_put_u32(b, seq);
    das_rpc_put_u64(b, 0); /* the call site, set by das_rpc_call_set_site */
    size_t mark = b->len;
    das_rpc_put_u32(b, 0);
    return mark;
}

void das_rpc_call_set_site(das_rpc_buf_t *b, size_t mark, uint64_t site)
{
    patch_u32(b, mark - 8, (uint32_t)site);
    patch_u32(b, mark - 4, (uint32_t)(site >> 32));
}

void das_rpc_call_end(das_rpc_buf_t *b, size_t mark)
{
    patch_u32(b, mark, (uint32_t)(b->len - mark - 4));
    reserve(b, 1);
    b->data[b->len++] = 0;
}

int das_rpc_decode_call(const void *data, size_t len, das_rpc_call_t *c)
{
    das_rpc_reader_t r;
    das_rpc_reader_init(&r, data, len);
    memset(c, 0, sizeof *c);
    size_t service_len, method_len;
    c->service = das_rpc_get_bytes(&r, &service_len);
    c->method = das_rpc_get_bytes(&r, &method_len);
    c->seq = das_rpc_get_u32(&r);
    c->site = das_rpc_get_u64(&r);
    c->body = das_rpc_get_bytes(&r, &c->body_len);
    if (!das_rpc_reader_done(&r) || service_len > DAS_RPC_MAX_NAME ||
        method_len > DAS_RPC_MAX_NAME || strlen(c->service) != service_len ||
        strlen(c->method) != method_len) {
        c->service = c->method = "";
        c->body = "";
        c->body_len = 0;
        return -EPROTO;
    }
    return 0;
}

size_t das_rpc_reply_begin(das_rpc_buf_t *b)
{
    das_rpc_put_i64(b, 0); /* the virtual time, set by das_rpc_reply_set_time */
    size_t mark = b->len;
    das_rpc_put_u32(b, 0); /* status */
    das_rpc_put_u32(b, 0); /* body length */
    return mark;
}

void das_rpc_reply_end(das_rpc_buf_t *b, size_t mark, int32_t status, const char *detail)
{
    if (status != 0)
        b->len = mark + 8; /* a failed call has no body */
    patch_u32(b, mark, (uint32_t)status);
    patch_u32(b, mark + 4, (uint32_t)(b->len - mark - 8));
    reserve(b, 1);
    b->data[b->len++] = 0;
    das_rpc_put_str(b, detail);
}

void das_rpc_reply_set_time(das_rpc_buf_t *b, int64_t now_ns)
{
    if (b->len < 8)
        return;
    patch_u32(b, 0, (uint32_t)(uint64_t)now_ns);
    patch_u32(b, 4, (uint32_t)((uint64_t)now_ns >> 32));
}

int das_rpc_decode_reply(const void *data, size_t len, das_rpc_reply_t *r)
{
    das_rpc_reader_t rd;
    das_rpc_reader_init(&rd, data, len);
    memset(r, 0, sizeof *r);
    r->now_ns = das_rpc_get_i64(&rd);
    r->status = (int32_t)das_rpc_get_u32(&rd);
    r->body = das_rpc_get_bytes(&rd, &r->body_len);
    r->detail = das_rpc_get_str(&rd);
    if (!das_rpc_reader_done(&rd)) {
        r->body = r->detail = "";
        r->body_len = 0;
        return -EPROTO;
    }
    return 0;
}
