/* fuzz_rpc_codec.c - the wire format's decoders (common/rpc_codec.h, common/rpc_memcache.h) on
 * arbitrary bytes.
 *
 * The whole input is decoded as a REQUEST, a RESPONSE, a CALL and a REPLY payload. The first
 * byte picks a memcache method (1..6) and the rest is decoded as that method's request body
 * and reply body. Whatever decodes is encoded again and decoded again: the values must be the
 * same, the re-encoding must be a fixed point (encode(decode(encode(x))) == encode(x)), and a
 * CALL, whose encoding is canonical, must re-encode to exactly the input bytes. Every pointer a
 * decoder hands out must point into the input, at a NUL-terminated span.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "rpc_codec.h"
#include "rpc_memcache.h"

/* A borrowed string or byte span: inside the input, with a NUL right after it. */
#define CHECK_SPAN(ptr, len, data, size)                                                       \
    do {                                                                                       \
        FUZZ_CHECK(fuzz_within((ptr), (size_t)(len) + 1, (data), (size)));                    \
        FUZZ_CHECK(((const char *)(ptr))[(len)] == '\0');                                     \
    } while (0)
/* A borrowed C string: inside the input (or the decoder's static ""). */
#define CHECK_STR(s, data, size)                                                               \
    do {                                                                                       \
        if ((s)[0] != '\0')                                                                    \
            CHECK_SPAN((s), strlen(s), (data), (size));                                        \
    } while (0)

static int bytes_eq(const void *a, size_t alen, const void *b, size_t blen)
{
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

static int pairs_eq(const das_rpc_pair_t *a, const das_rpc_pair_t *b, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(a[i].name, b[i].name) != 0 || strcmp(a[i].value, b[i].value) != 0)
            return 0;
    return 1;
}

/* ---------------------------------------------------------------- REQUEST */

static void fuzz_request(const uint8_t *data, size_t size)
{
    das_rpc_request_t rq;
    int rc = das_rpc_decode_request(data, size, &rq);
    if (rc != 0) {
        FUZZ_CHECK(rc == -EPROTO);
        das_rpc_request_dispose(&rq);
        return;
    }
    CHECK_STR(rq.script, data, size);
    CHECK_STR(rq.method, data, size);
    CHECK_STR(rq.path, data, size);
    CHECK_STR(rq.query, data, size);
    for (uint32_t i = 0; i < rq.n_headers; i++) {
        CHECK_STR(rq.headers[i].name, data, size);
        CHECK_STR(rq.headers[i].value, data, size);
    }
    for (uint32_t i = 0; i < rq.n_env; i++) {
        CHECK_STR(rq.env[i].name, data, size);
        CHECK_STR(rq.env[i].value, data, size);
    }
    CHECK_SPAN(rq.body, rq.body_len, data, size);

    das_rpc_buf_t b1 = {0}, b2 = {0};
    das_rpc_encode_request(&b1, &rq);
    das_rpc_request_t rq2;
    FUZZ_CHECK(das_rpc_decode_request(b1.data, b1.len, &rq2) == 0);
    FUZZ_CHECK(strcmp(rq.script, rq2.script) == 0);
    FUZZ_CHECK(strcmp(rq.method, rq2.method) == 0);
    FUZZ_CHECK(strcmp(rq.path, rq2.path) == 0);
    FUZZ_CHECK(strcmp(rq.query, rq2.query) == 0);
    FUZZ_CHECK(rq.n_headers == rq2.n_headers && pairs_eq(rq.headers, rq2.headers, rq.n_headers));
    FUZZ_CHECK(rq.n_env == rq2.n_env && pairs_eq(rq.env, rq2.env, rq.n_env));
    FUZZ_CHECK(bytes_eq(rq.body, rq.body_len, rq2.body, rq2.body_len));
    FUZZ_CHECK(rq.virtual_now_ns == rq2.virtual_now_ns && rq.random_seed == rq2.random_seed &&
               rq.random_stream == rq2.random_stream);
    das_rpc_encode_request(&b2, &rq2);
    FUZZ_CHECK(bytes_eq(b1.data, b1.len, b2.data, b2.len));
    /* A string with a NUL inside it comes back shorter, never longer. */
    FUZZ_CHECK(b1.len <= size);
    das_rpc_request_dispose(&rq2);
    das_rpc_request_dispose(&rq);
    das_rpc_buf_dispose(&b1);
    das_rpc_buf_dispose(&b2);
}

/* ---------------------------------------------------------------- RESPONSE */

static void fuzz_response(const uint8_t *data, size_t size)
{
    das_rpc_response_t rs;
    int rc = das_rpc_decode_response(data, size, &rs);
    if (rc != 0) {
        FUZZ_CHECK(rc == -EPROTO);
        das_rpc_response_dispose(&rs);
        return;
    }
    for (uint32_t i = 0; i < rs.n_headers; i++) {
        CHECK_STR(rs.headers[i].name, data, size);
        CHECK_STR(rs.headers[i].value, data, size);
    }
    CHECK_SPAN(rs.body, rs.body_len, data, size);

    das_rpc_buf_t b1 = {0}, b2 = {0};
    das_rpc_encode_response(&b1, &rs);
    das_rpc_response_t rs2;
    FUZZ_CHECK(das_rpc_decode_response(b1.data, b1.len, &rs2) == 0);
    FUZZ_CHECK(rs.status == rs2.status);
    FUZZ_CHECK(rs.n_headers == rs2.n_headers && pairs_eq(rs.headers, rs2.headers, rs.n_headers));
    FUZZ_CHECK(bytes_eq(rs.body, rs.body_len, rs2.body, rs2.body_len));
    das_rpc_encode_response(&b2, &rs2);
    FUZZ_CHECK(bytes_eq(b1.data, b1.len, b2.data, b2.len));
    FUZZ_CHECK(b1.len <= size);
    das_rpc_response_dispose(&rs2);
    das_rpc_response_dispose(&rs);
    das_rpc_buf_dispose(&b1);
    das_rpc_buf_dispose(&b2);
}

/* ---------------------------------------------------------------- CALL */

static void encode_call(das_rpc_buf_t *b, const das_rpc_call_t *c)
{
    size_t mark = das_rpc_call_begin(b, c->service, c->method, c->seq);
    das_rpc_call_set_site(b, mark, c->site);
    das_rpc_put_raw(b, c->body, c->body_len);
    das_rpc_call_end(b, mark);
}

static void fuzz_call(const uint8_t *data, size_t size)
{
    das_rpc_call_t c;
    int rc = das_rpc_decode_call(data, size, &c);
    if (rc != 0) {
        FUZZ_CHECK(rc == -EPROTO);
        return;
    }
    FUZZ_CHECK(strlen(c.service) <= DAS_RPC_MAX_NAME && strlen(c.method) <= DAS_RPC_MAX_NAME);
    CHECK_STR(c.service, data, size);
    CHECK_STR(c.method, data, size);
    CHECK_SPAN(c.body, c.body_len, data, size);

    das_rpc_buf_t b = {0};
    encode_call(&b, &c);
    /* Names hold no NUL and nothing follows the body: the encoding is the input itself. */
    FUZZ_CHECK(bytes_eq(b.data, b.len, data, size));
    das_rpc_call_t c2;
    FUZZ_CHECK(das_rpc_decode_call(b.data, b.len, &c2) == 0);
    FUZZ_CHECK(strcmp(c.service, c2.service) == 0 && strcmp(c.method, c2.method) == 0);
    FUZZ_CHECK(c.seq == c2.seq && c.site == c2.site);
    FUZZ_CHECK(bytes_eq(c.body, c.body_len, c2.body, c2.body_len));
    das_rpc_buf_dispose(&b);
}

/* ---------------------------------------------------------------- REPLY */

static void encode_reply(das_rpc_buf_t *b, const das_rpc_reply_t *r)
{
    size_t mark = das_rpc_reply_begin(b);
    das_rpc_put_raw(b, r->body, r->body_len);
    das_rpc_reply_end(b, mark, r->status, r->detail);
    das_rpc_reply_set_time(b, r->now_ns);
}

static void fuzz_reply(const uint8_t *data, size_t size)
{
    das_rpc_reply_t r;
    int rc = das_rpc_decode_reply(data, size, &r);
    if (rc != 0) {
        FUZZ_CHECK(rc == -EPROTO);
        return;
    }
    CHECK_STR(r.detail, data, size);
    CHECK_SPAN(r.body, r.body_len, data, size);

    das_rpc_buf_t b1 = {0}, b2 = {0};
    encode_reply(&b1, &r);
    das_rpc_reply_t r2;
    FUZZ_CHECK(das_rpc_decode_reply(b1.data, b1.len, &r2) == 0);
    FUZZ_CHECK(r.status == r2.status && r.now_ns == r2.now_ns);
    FUZZ_CHECK(strcmp(r.detail, r2.detail) == 0);
    /* A failed call carries no body: _end() drops it. */
    if (r.status == 0)
        FUZZ_CHECK(bytes_eq(r.body, r.body_len, r2.body, r2.body_len));
    else
        FUZZ_CHECK(r2.body_len == 0);
    encode_reply(&b2, &r2);
    FUZZ_CHECK(bytes_eq(b1.data, b1.len, b2.data, b2.len));
    FUZZ_CHECK(b1.len <= size);
    das_rpc_buf_dispose(&b1);
    das_rpc_buf_dispose(&b2);
}

/* ---------------------------------------------------------------- memcache bodies */

static int mc_items_eq(uint32_t op, const das_rpc_mc_request_t *a, const das_rpc_mc_request_t *b)
{
    if (a->n != b->n)
        return 0;
    for (uint32_t i = 0; i < a->n; i++) {
        const das_rpc_mc_item_t *x = &a->items[i], *y = &b->items[i];
        if (!bytes_eq(x->key, x->key_len, y->key, y->key_len))
            return 0;
        if (op == DAS_RPC_MC_STORE &&
            (!bytes_eq(x->value, x->value_len, y->value, y->value_len) || x->flags != y->flags ||
             x->expiration != y->expiration || x->cas != y->cas))
            return 0;
        if (op == DAS_RPC_MC_OFFSET && x->delta != y->delta)
            return 0;
    }
    return 1;
}

static void fuzz_mc_request(const uint8_t *data, size_t size, uint32_t op)
{
    das_rpc_mc_request_t rq;
    int rc = das_rpc_mc_decode_request(data, size, op, &rq);
    if (rc != 0) {
        FUZZ_CHECK(rc == -EPROTO);
        FUZZ_CHECK(rq.n == 0);
        das_rpc_mc_request_dispose(&rq);
        return;
    }
    FUZZ_CHECK(rq.op == op && rq.n <= DAS_RPC_MC_MAX_ITEMS);
    CHECK_STR(rq.ns, data, size);
    for (uint32_t i = 0; i < rq.n; i++) {
        CHECK_SPAN(rq.items[i].key, rq.items[i].key_len, data, size);
        if (op == DAS_RPC_MC_STORE)
            CHECK_SPAN(rq.items[i].value, rq.items[i].value_len, data, size);
    }

    das_rpc_buf_t b1 = {0}, b2 = {0};
    das_rpc_mc_encode_request(&b1, &rq);
    das_rpc_mc_request_t rq2;
    FUZZ_CHECK(das_rpc_mc_decode_request(b1.data, b1.len, op, &rq2) == 0);
    FUZZ_CHECK(strcmp(rq.ns, rq2.ns) == 0);
    FUZZ_CHECK(rq.mode == rq2.mode && rq.lock_seconds == rq2.lock_seconds);
    FUZZ_CHECK(rq.has_initial == rq2.has_initial && rq.initial == rq2.initial);
    FUZZ_CHECK(mc_items_eq(op, &rq, &rq2));
    das_rpc_mc_encode_request(&b2, &rq2);
    FUZZ_CHECK(bytes_eq(b1.data, b1.len, b2.data, b2.len));
    FUZZ_CHECK(b1.len <= size);
    das_rpc_mc_request_dispose(&rq2);
    das_rpc_mc_request_dispose(&rq);
    das_rpc_buf_dispose(&b1);
    das_rpc_buf_dispose(&b2);
}

static void fuzz_mc_reply(const uint8_t *data, size_t size, uint32_t op)
{
    das_rpc_mc_reply_t rp;
    int rc = das_rpc_mc_decode_reply(data, size, op, &rp);
    if (rc != 0) {
        FUZZ_CHECK(rc == -EPROTO);
        FUZZ_CHECK(rp.n == 0);
        das_rpc_mc_reply_dispose(&rp);
        return;
    }
    FUZZ_CHECK(rp.n <= DAS_RPC_MC_MAX_ITEMS);
    if (op == DAS_RPC_MC_GET)
        for (uint32_t i = 0; i < rp.n; i++)
            CHECK_SPAN(rp.items[i].value, rp.items[i].value_len, data, size);

    das_rpc_buf_t b1 = {0}, b2 = {0};
    das_rpc_mc_encode_reply(&b1, &rp, op);
    /* The input's own encoding has no slack: strings are length-prefixed bytes. */
    FUZZ_CHECK(bytes_eq(b1.data, b1.len, data, size));
    das_rpc_mc_reply_t rp2;
    FUZZ_CHECK(das_rpc_mc_decode_reply(b1.data, b1.len, op, &rp2) == 0);
    FUZZ_CHECK(rp.n == rp2.n);
    for (uint32_t i = 0; i < rp.n; i++) {
        const das_rpc_mc_item_t *x = &rp.items[i], *y = &rp2.items[i];
        FUZZ_CHECK(x->status == y->status);
        if (op == DAS_RPC_MC_GET)
            FUZZ_CHECK(bytes_eq(x->value, x->value_len, y->value, y->value_len) &&
                       x->flags == y->flags && x->cas == y->cas);
        if (op == DAS_RPC_MC_OFFSET)
            FUZZ_CHECK(x->new_value == y->new_value);
    }
    if (op == DAS_RPC_MC_STATS)
        FUZZ_CHECK(rp.hits == rp2.hits && rp.misses == rp2.misses &&
                   rp.byte_hits == rp2.byte_hits && rp.items_count == rp2.items_count &&
                   rp.bytes == rp2.bytes && rp.oldest_item_age == rp2.oldest_item_age);
    das_rpc_mc_encode_reply(&b2, &rp2, op);
    FUZZ_CHECK(bytes_eq(b1.data, b1.len, b2.data, b2.len));
    das_rpc_mc_reply_dispose(&rp2);
    das_rpc_mc_reply_dispose(&rp);
    das_rpc_buf_dispose(&b1);
    das_rpc_buf_dispose(&b2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_request(data, size);
    fuzz_response(data, size);
    fuzz_call(data, size);
    fuzz_reply(data, size);
    if (size >= 1) {
        uint32_t op = (uint32_t)(data[0] % 6) + 1; /* DAS_RPC_MC_GET .. DAS_RPC_MC_STATS */
        FUZZ_CHECK(das_rpc_mc_method_name(op) != NULL);
        FUZZ_CHECK(das_rpc_mc_method_op(das_rpc_mc_method_name(op)) == op);
        fuzz_mc_request(data + 1, size - 1, op);
        fuzz_mc_reply(data + 1, size - 1, op);
    }
    return 0;
}
