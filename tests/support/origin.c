/* origin.c - the test origin server (see origin.h): libmicrohttpd serving a few routes, with a
 * self-signed certificate made by libcrypto for HTTPS. */
#include "origin.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

#include <microhttpd.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <zlib.h>

#define ORIGIN_MAX_BODY (16u << 20)        /* /echo's request bodies */
#define ORIGIN_MAX_BIG (64ull << 20)       /* /big's bytes */
#define ORIGIN_MAX_SLOW_MS 600000          /* /slow's ms */
#define ORIGIN_CLOSE_DECLARED 100000       /* /close's Content-Length */
#define ORIGIN_BLOCK (64 * 1024)           /* how much a content reader is asked for at once */
#define ORIGIN_CONN_MEMORY (256 * 1024)    /* per connection: room for large request headers */

struct origin {
    struct MHD_Daemon *daemon;
    int port;
    char base[64];
    char *key_pem; /* https only */
    char *cert_pem;
    atomic_uint connections;
    atomic_uint requests;
};

/* One request, from its request line (the URI log callback) to its end (the completion
 * callback): the raw request target and the body as it arrives. */
typedef struct {
    bool started;  /* the access handler has seen it */
    bool too_big;  /* the body passed ORIGIN_MAX_BODY; the rest was dropped */
    char *body;
    size_t len, cap;
    char target[]; /* as on the request line */
} origin_request_t;

/* A growable byte buffer; `failed` once an allocation failed (later appends do nothing). */
typedef struct {
    char *data;
    size_t len, cap;
    bool failed;
} origin_buf_t;

/* ------------------------------------------------------------------------------- helpers */

static void origin_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void origin_log(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("origin: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* libmicrohttpd's own messages (MHD_USE_ERROR_LOG), with our prefix. */
static void origin_mhd_logger(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    fputs("origin: libmicrohttpd: ", stderr);
    vfprintf(stderr, fmt, ap);
    if (fmt[0] && fmt[strlen(fmt) - 1] != '\n')
        fputc('\n', stderr);
}

static bool origin_buf_reserve(origin_buf_t *b, size_t more)
{
    if (b->failed)
        return false;
    if (more <= b->cap - b->len)
        return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < more) {
        if (cap > SIZE_MAX / 2) {
            b->failed = true;
            return false;
        }
        cap *= 2;
    }
    char *p = realloc(b->data, cap);
    if (!p) {
        b->failed = true;
        return false;
    }
    b->data = p;
    b->cap = cap;
    return true;
}

static void origin_buf_add(origin_buf_t *b, const void *data, size_t n)
{
    if (n && origin_buf_reserve(b, n)) {
        memcpy(b->data + b->len, data, n);
        b->len += n;
    }
}

static void origin_buf_str(origin_buf_t *b, const char *s)
{
    origin_buf_add(b, s, strlen(s));
}

/* A decimal query parameter in [lo, hi]; `def` when absent (pass def < lo to require it).
 * Returns false when it is missing (and required), not a number, or out of range. */
static bool origin_query_num(struct MHD_Connection *c, const char *name, long long lo,
                             long long hi, long long def, long long *out)
{
    const char *s = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
    if (!s) {
        *out = def;
        return def >= lo;
    }
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* Byte `pos` of /big's and /close's bodies. */
static char origin_pattern(uint64_t pos)
{
    return (char)('a' + pos % 26);
}

/* --------------------------------------------------------------------------- responses */

/* Queues `r` with `status` and frees it (NULL: out of memory, the connection is dropped);
 * counts the request when queued. */
static enum MHD_Result origin_queue(origin_t *o, struct MHD_Connection *c, unsigned status,
                                    struct MHD_Response *r)
{
    if (!r) {
        origin_log("out of memory making a response");
        return MHD_NO;
    }
    enum MHD_Result ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    if (ok == MHD_YES)
        atomic_fetch_add(&o->requests, 1);
    else
        origin_log("could not queue a %u response", status);
    return ok;
}

/* A response whose body is `text` (copied), with Content-Type text/plain. */
static struct MHD_Response *origin_text_response(const char *text)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
    if (r && MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain") != MHD_YES) {
        MHD_destroy_response(r);
        return NULL;
    }
    return r;
}

static enum MHD_Result origin_text(origin_t *o, struct MHD_Connection *c, unsigned status,
                                   const char *text)
{
    return origin_queue(o, c, status, origin_text_response(text));
}

/* ------------------------------------------------------------------------------- routes */

static enum MHD_Result origin_echo_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                          size_t key_size, const char *value,
                                          size_t value_size)
{
    (void)kind;
    origin_buf_t *b = cls;
    origin_buf_add(b, key, key_size);
    origin_buf_add(b, ": ", 2);
    if (value)
        origin_buf_add(b, value, value_size);
    origin_buf_add(b, "\n", 1);
    return b->failed ? MHD_NO : MHD_YES;
}

/* /echo (and /redirect/CODE/0): the request line, the headers, a blank line, the body. */
static enum MHD_Result origin_echo(origin_t *o, struct MHD_Connection *c, const char *method,
                                   origin_request_t *rq)
{
    origin_buf_t b = {0};
    origin_buf_reserve(&b, strlen(method) + strlen(rq->target) + rq->len + 1024);
    origin_buf_str(&b, method);
    origin_buf_add(&b, " ", 1);
    origin_buf_str(&b, rq->target);
    origin_buf_add(&b, "\n", 1);
    MHD_get_connection_values_n(c, MHD_HEADER_KIND, origin_echo_header, &b);
    origin_buf_add(&b, "\n", 1);
    origin_buf_add(&b, rq->body, rq->len);
    if (b.failed) {
        free(b.data);
        origin_log("out of memory echoing a request");
        return MHD_NO;
    }
    /* MHD_RESPMEM_MUST_FREE: libmicrohttpd free()s b.data with the response. */
    struct MHD_Response *r =
        MHD_create_response_from_buffer(b.len, b.data, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(b.data);
    } else if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain") != MHD_YES) {
        MHD_destroy_response(r);
        r = NULL;
    }
    return origin_queue(o, c, MHD_HTTP_OK, r);
}

/* A 3xx with `location` (none when NULL) and the body "redirect". */
static enum MHD_Result origin_redirect(origin_t *o, struct MHD_Connection *c, unsigned code,
                                       const char *location)
{
    struct MHD_Response *r = origin_text_response("redirect");
    if (r && location &&
        MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, location) != MHD_YES) {
        MHD_destroy_response(r);
        return origin_text(o, c, MHD_HTTP_BAD_REQUEST, "bad location");
    }
    return origin_queue(o, c, code, r);
}

/* /redirect/CODE/N: a step towards /redirect/CODE/0, which echoes. */
static enum MHD_Result origin_redirect_chain(origin_t *o, struct MHD_Connection *c,
                                             const char *url, const char *method,
                                             origin_request_t *rq)
{
    char code_s[4], n_s[7];
    int end = 0;
    if (sscanf(url, "/redirect/%3[0-9]/%6[0-9]%n", code_s, n_s, &end) != 2 || url[end] != '\0')
        return origin_text(o, c, MHD_HTTP_NOT_FOUND, "not found");
    unsigned code = (unsigned)atoi(code_s), n = (unsigned)atoi(n_s);
    if (code < 300 || code > 399)
        return origin_text(o, c, MHD_HTTP_NOT_FOUND, "not found");
    if (n == 0)
        return origin_echo(o, c, method, rq);
    char location[64];
    snprintf(location, sizeof location, "/redirect/%u/%u", code, n - 1);
    return origin_redirect(o, c, code, location);
}

static enum MHD_Result origin_redirect_to(origin_t *o, struct MHD_Connection *c)
{
    long long code;
    const char *url = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "url");
    if (!origin_query_num(c, "code", 300, 399, 302, &code) || !url)
        return origin_text(o, c, MHD_HTTP_BAD_REQUEST, "bad code or no url");
    return origin_redirect(o, c, (unsigned)code, url);
}

static enum MHD_Result origin_slow(origin_t *o, struct MHD_Connection *c)
{
    long long ms;
    if (!origin_query_num(c, "ms", 0, ORIGIN_MAX_SLOW_MS, -1, &ms))
        return origin_text(o, c, MHD_HTTP_BAD_REQUEST, "bad ms");
    struct timespec left = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&left, &left) != 0 && errno == EINTR) {
    }
    return origin_text(o, c, MHD_HTTP_OK, "slow");
}

/* /gzip: ORIGIN_GZIP_UNIT repeated, gzip-compressed (zlib's windowBits 31: a gzip wrapper). */
static enum MHD_Result origin_gzip(origin_t *o, struct MHD_Connection *c)
{
    const size_t unit = sizeof(ORIGIN_GZIP_UNIT) - 1;
    char plain[ORIGIN_GZIP_PLAIN_LEN];
    for (size_t i = 0; i < ORIGIN_GZIP_REPEAT; i++)
        memcpy(plain + i * unit, ORIGIN_GZIP_UNIT, unit);

    z_stream zs = {0};
    if (deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        origin_log("deflateInit2 failed");
        return MHD_NO;
    }
    uLong cap = deflateBound(&zs, sizeof plain);
    unsigned char *out = malloc(cap);
    if (!out) {
        deflateEnd(&zs);
        origin_log("out of memory compressing /gzip");
        return MHD_NO;
    }
    zs.next_in = (Bytef *)plain;
    zs.avail_in = sizeof plain;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    int zrc = deflate(&zs, Z_FINISH);
    size_t out_len = zs.total_out;
    deflateEnd(&zs);
    if (zrc != Z_STREAM_END) {
        free(out);
        origin_log("deflate failed (%d)", zrc);
        return MHD_NO;
    }

    char plain_len[32];
    snprintf(plain_len, sizeof plain_len, "%zu", sizeof plain);
    struct MHD_Response *r = MHD_create_response_from_buffer(out_len, out, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(out);
    } else if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain") != MHD_YES ||
               MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip") != MHD_YES ||
               MHD_add_response_header(r, "X-Plain-Length", plain_len) != MHD_YES) {
        MHD_destroy_response(r);
        r = NULL;
    }
    return origin_queue(o, c, MHD_HTTP_OK, r);
}

/* /big's body, made as it is sent; cls is the body's size. */
static ssize_t origin_big_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    uint64_t size = (uint64_t)(uintptr_t)cls;
    if (pos >= size)
        return MHD_CONTENT_READER_END_OF_STREAM;
    if (max > size - pos)
        max = (size_t)(size - pos);
    for (size_t i = 0; i < max; i++)
        buf[i] = origin_pattern(pos + i);
    return (ssize_t)max;
}

static enum MHD_Result origin_big(origin_t *o, struct MHD_Connection *c)
{
    long long n;
    if (!origin_query_num(c, "bytes", 0, (long long)ORIGIN_MAX_BIG, -1, &n))
        return origin_text(o, c, MHD_HTTP_BAD_REQUEST, "bad bytes");
    struct MHD_Response *r = MHD_create_response_from_callback(
        (uint64_t)n, ORIGIN_BLOCK, origin_big_reader, (void *)(uintptr_t)n, NULL);
    return origin_queue(o, c, MHD_HTTP_OK, r);
}

/* /close's body: ORIGIN_CLOSE_SENT bytes of the pattern, then an error, which makes
 * libmicrohttpd close the connection short of the declared length. */
static ssize_t origin_close_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)cls;
    if (pos >= ORIGIN_CLOSE_SENT)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    if (max > ORIGIN_CLOSE_SENT - pos)
        max = (size_t)(ORIGIN_CLOSE_SENT - pos);
    for (size_t i = 0; i < max; i++)
        buf[i] = origin_pattern(pos + i);
    return (ssize_t)max;
}

static enum MHD_Result origin_close(origin_t *o, struct MHD_Connection *c)
{
    struct MHD_Response *r = MHD_create_response_from_callback(
        ORIGIN_CLOSE_DECLARED, ORIGIN_BLOCK, origin_close_reader, NULL, NULL);
    return origin_queue(o, c, MHD_HTTP_OK, r);
}

static enum MHD_Result origin_status(origin_t *o, struct MHD_Connection *c)
{
    long long code;
    if (!origin_query_num(c, "code", 100, 999, -1, &code))
        return origin_text(o, c, MHD_HTTP_BAD_REQUEST, "bad code");
    char text[32];
    snprintf(text, sizeof text, "status %lld", code);
    return origin_text(o, c, (unsigned)code, text);
}

static enum MHD_Result origin_header(origin_t *o, struct MHD_Connection *c)
{
    const char *name = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "name");
    const char *value = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "value");
    if (!name || !*name || !value)
        return origin_text(o, c, MHD_HTTP_BAD_REQUEST, "need name and value");
    struct MHD_Response *r = origin_text_response("ok");
    if (r && MHD_add_response_header(r, name, value) != MHD_YES) {
        MHD_destroy_response(r);
        return origin_text(o, c, MHD_HTTP_BAD_REQUEST, "bad header");
    }
    return origin_queue(o, c, MHD_HTTP_OK, r);
}

/* ------------------------------------------------------------------- libmicrohttpd hooks */

/* Every accepted connection (MHD_OPTION_NOTIFY_CONNECTION). */
static void origin_on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                                 enum MHD_ConnectionNotificationCode code)
{
    (void)c;
    (void)socket_context;
    origin_t *o = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED)
        atomic_fetch_add(&o->connections, 1);
}

/* The request line has been read (MHD_OPTION_URI_LOG_CALLBACK): `uri` is the request target
 * still raw, query included. What this returns is the request's *req_cls; NULL (out of
 * memory) makes the access handler drop the connection. */
static void *origin_on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    (void)cls;
    (void)c;
    size_t n = strlen(uri);
    origin_request_t *rq = calloc(1, sizeof *rq + n + 1);
    if (!rq) {
        origin_log("out of memory starting a request");
        return NULL;
    }
    memcpy(rq->target, uri, n + 1);
    return rq;
}

/* The request is over, answered or not (MHD_OPTION_NOTIFY_COMPLETED). */
static void origin_on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                                enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    origin_request_t *rq = *req_cls;
    if (rq) {
        free(rq->body);
        free(rq);
        *req_cls = NULL;
    }
}

/* Appends a piece of the request body; past ORIGIN_MAX_BODY the rest is dropped. */
static void origin_take_body(origin_request_t *rq, const char *data, size_t n)
{
    if (rq->too_big)
        return;
    if (n > ORIGIN_MAX_BODY - rq->len) {
        rq->too_big = true;
        free(rq->body);
        rq->body = NULL;
        rq->len = rq->cap = 0;
        return;
    }
    if (n > rq->cap - rq->len) {
        size_t cap = rq->cap ? rq->cap : 4096;
        while (cap - rq->len < n)
            cap *= 2; /* at most 32 MiB: len + n <= 16 MiB */
        char *p = realloc(rq->body, cap);
        if (!p) {
            origin_log("out of memory reading a request body; answering 413");
            rq->too_big = true;
            free(rq->body);
            rq->body = NULL;
            rq->len = rq->cap = 0;
            return;
        }
        rq->body = p;
        rq->cap = cap;
    }
    memcpy(rq->body + rq->len, data, n);
    rq->len += n;
}

/* The access handler: called once when the headers are in, once per piece of body, and once
 * more (with no data) when the body is complete, which is when we answer. `url` is the path,
 * percent-decoded, without the query. */
static enum MHD_Result origin_handle(void *cls, struct MHD_Connection *c, const char *url,
                                     const char *method, const char *version,
                                     const char *upload_data, size_t *upload_data_size,
                                     void **req_cls)
{
    (void)version;
    origin_t *o = cls;
    origin_request_t *rq = *req_cls;
    if (!rq)
        return MHD_NO; /* origin_on_uri ran out of memory */
    if (!rq->started) {
        rq->started = true;
        return MHD_YES;
    }
    if (*upload_data_size) {
        origin_take_body(rq, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }

    if (strcmp(url, "/echo") == 0) {
        if (rq->too_big)
            return origin_text(o, c, MHD_HTTP_CONTENT_TOO_LARGE, "body too large");
        return origin_echo(o, c, method, rq);
    }
    if (strncmp(url, "/redirect/", 10) == 0) {
        if (rq->too_big)
            return origin_text(o, c, MHD_HTTP_CONTENT_TOO_LARGE, "body too large");
        return origin_redirect_chain(o, c, url, method, rq);
    }
    if (strcmp(url, "/redirect-to") == 0)
        return origin_redirect_to(o, c);
    if (strcmp(url, "/redirect-nolocation") == 0)
        return origin_redirect(o, c, MHD_HTTP_FOUND, NULL);
    if (strcmp(url, "/slow") == 0)
        return origin_slow(o, c);
    if (strcmp(url, "/gzip") == 0)
        return origin_gzip(o, c);
    if (strcmp(url, "/big") == 0)
        return origin_big(o, c);
    if (strcmp(url, "/status") == 0)
        return origin_status(o, c);
    if (strcmp(url, "/close") == 0)
        return origin_close(o, c);
    if (strcmp(url, "/header") == 0)
        return origin_header(o, c);
    return origin_text(o, c, MHD_HTTP_NOT_FOUND, "not found");
}

/* ----------------------------------------------------------------- the certificate */

/* The contents of a memory BIO as a malloc'd, NUL-terminated string (NULL on failure). */
static char *origin_bio_string(BIO *bio)
{
    char *data;
    long n = BIO_get_mem_data(bio, &data);
    if (n <= 0)
        return NULL;
    char *s = malloc((size_t)n + 1);
    if (!s)
        return NULL;
    memcpy(s, data, (size_t)n);
    s[n] = '\0';
    return s;
}

/* Adds the extension `nid` = `value` (OpenSSL config syntax) to the self-signed `x`. */
static bool origin_add_ext(X509 *x, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ext)
        return false;
    int ok = X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    return ok == 1;
}

/* A fresh EC P-256 key and a self-signed certificate for it, both PEM, into o. A CA:TRUE
 * certificate with keyCertSign, so that a client may take it as its only trust anchor. */
static bool origin_make_cert(origin_t *o)
{
    bool ok = false;
    EVP_PKEY *key = NULL;
    X509 *x = NULL;
    BIO *key_bio = NULL, *cert_bio = NULL;
    unsigned char serial[16];

    key = EVP_EC_gen("P-256");
    x = X509_new();
    key_bio = BIO_new(BIO_s_mem());
    cert_bio = BIO_new(BIO_s_mem());
    if (!key || !x || !key_bio || !cert_bio)
        goto out;

    /* A positive random serial, as CAs do. */
    if (RAND_bytes(serial, sizeof serial) != 1)
        goto out;
    serial[0] &= 0x7f;
    BIGNUM *bn = BN_bin2bn(serial, sizeof serial, NULL);
    if (!bn)
        goto out;
    ASN1_INTEGER *sn = BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
    BN_free(bn);
    if (!sn)
        goto out;

    X509_NAME *name = X509_get_subject_name(x);
    if (X509_set_version(x, X509_VERSION_3) != 1 ||
        !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
        !X509_gmtime_adj(X509_getm_notAfter(x), 24 * 3600) ||
        X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                                   (const unsigned char *)"devappserver test origin", -1, -1,
                                   0) != 1 ||
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost",
                                   -1, -1, 0) != 1 ||
        X509_set_issuer_name(x, name) != 1 || X509_set_pubkey(x, key) != 1)
        goto out;
    if (!origin_add_ext(x, NID_basic_constraints, "critical,CA:TRUE") ||
        !origin_add_ext(x, NID_key_usage, "critical,digitalSignature,keyCertSign") ||
        !origin_add_ext(x, NID_ext_key_usage, "serverAuth") ||
        !origin_add_ext(x, NID_subject_key_identifier, "hash") ||
        !origin_add_ext(x, NID_authority_key_identifier, "keyid:always") ||
        !origin_add_ext(x, NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost"))
        goto out;
    if (X509_sign(x, key, EVP_sha256()) <= 0)
        goto out;

    /* The key as PKCS#8 ("BEGIN PRIVATE KEY"), which GnuTLS (libmicrohttpd's TLS) reads. */
    if (PEM_write_bio_PrivateKey(key_bio, key, NULL, NULL, 0, NULL, NULL) != 1 ||
        PEM_write_bio_X509(cert_bio, x) != 1)
        goto out;
    o->key_pem = origin_bio_string(key_bio);
    o->cert_pem = origin_bio_string(cert_bio);
    ok = o->key_pem && o->cert_pem;

out:
    if (!ok) {
        unsigned long e = ERR_get_error();
        char why[256] = "out of memory";
        if (e)
            ERR_error_string_n(e, why, sizeof why);
        origin_log("could not make a self-signed certificate: %s", why);
        ERR_clear_error();
    }
    BIO_free(cert_bio);
    BIO_free(key_bio);
    X509_free(x);
    EVP_PKEY_free(key);
    return ok;
}

/* ---------------------------------------------------------------------------- the API */

origin_t *origin_start(bool https)
{
    origin_t *o = calloc(1, sizeof *o);
    if (!o) {
        origin_log("out of memory");
        return NULL;
    }
    atomic_init(&o->connections, 0);
    atomic_init(&o->requests, 0);

    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_ERROR_LOG;
    /* The TLS options go in an MHD_OPTION_ARRAY: empty for plain HTTP. */
    struct MHD_OptionItem tls[3] = {{MHD_OPTION_END, 0, NULL}};
    if (https) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            origin_log("this libmicrohttpd was built without TLS: no https origin");
            free(o);
            return NULL;
        }
        if (!origin_make_cert(o)) {
            origin_stop(o);
            return NULL;
        }
        flags |= MHD_USE_TLS;
        tls[0] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, o->key_pem};
        tls[1] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, o->cert_pem};
        tls[2] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    }

    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(0)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    o->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, origin_handle, o,
        MHD_OPTION_EXTERNAL_LOGGER, origin_mhd_logger, NULL, /* first, or MHD complains */
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sin,
        MHD_OPTION_NOTIFY_CONNECTION, origin_on_connection, o,
        MHD_OPTION_URI_LOG_CALLBACK, origin_on_uri, o,
        MHD_OPTION_NOTIFY_COMPLETED, origin_on_completed, o,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)ORIGIN_CONN_MEMORY,
        MHD_OPTION_ARRAY, tls,
        MHD_OPTION_END);
    if (!o->daemon) {
        origin_log("could not start libmicrohttpd on 127.0.0.1%s", https ? " with TLS" : "");
        origin_stop(o);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(o->daemon, MHD_DAEMON_INFO_BIND_PORT);
    if (!info || info->port == 0) {
        origin_log("could not read back the port");
        origin_stop(o);
        return NULL;
    }
    o->port = info->port;
    snprintf(o->base, sizeof o->base, "%s://127.0.0.1:%d", https ? "https" : "http", o->port);
    return o;
}

void origin_stop(origin_t *o)
{
    if (!o)
        return;
    if (o->daemon)
        MHD_stop_daemon(o->daemon);
    free(o->key_pem);
    free(o->cert_pem);
    free(o);
}

int origin_port(const origin_t *o)
{
    return o->port;
}

const char *origin_base(const origin_t *o)
{
    return o->base;
}

unsigned origin_connections(const origin_t *o)
{
    return atomic_load(&o->connections);
}

unsigned origin_requests(const origin_t *o)
{
    return atomic_load(&o->requests);
}

const char *origin_cert_pem(const origin_t *o)
{
    return o->cert_pem;
}
