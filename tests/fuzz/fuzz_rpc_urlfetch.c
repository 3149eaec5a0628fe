/* fuzz_rpc_urlfetch.c - URL Fetch's wire decoders (common/rpc_urlfetch.h) on arbitrary bytes:
 * the server decodes what an instance sends (a fetch, a wait), the SDK what the server sends
 * back (a response).
 *
 * Byte 0 picks the decoder (0: fetch request, 1: response, 2: wait); the rest, BODY, is
 * decoded. Checked beyond "no crash, no leak, no UB": a decoder returns 0 or -EPROTO; every
 * string and byte span it hands out is inside BODY and NUL-terminated; what decodes re-encodes
 * to bytes that decode to the same values.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "rpc_urlfetch.h"

static const uint8_t *in_data;
static size_t in_size;

static void check_span(const void *p, size_t len)
{
    FUZZ_CHECK(fuzz_within(p, len + 1, in_data, in_size));
    FUZZ_CHECK(((const char *)p)[len] == '\0');
}

static void check_str(const char *s)
{
    check_span(s, strlen(s));
}

static int same(const void *a, size_t alen, const void *b, size_t blen)
{
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

static void headers_same(const das_rpc_pair_t *a, uint32_t na, const das_rpc_pair_t *b,
                         uint32_t nb)
{
    FUZZ_CHECK(na == nb);
    for (uint32_t i = 0; i < na; i++) {
        FUZZ_CHECK(strcmp(a[i].name, b[i].name) == 0);
        FUZZ_CHECK(strcmp(a[i].value, b[i].value) == 0);
    }
}

static void fuzz_request(void)
{
    das_rpc_uf_request_t rq;
    int rc = das_rpc_uf_decode_request(in_data, in_size, &rq);
    FUZZ_CHECK(rc == 0 || rc == -EPROTO);
    if (rc == 0) {
        check_str(rq.method);
        check_str(rq.url);
        check_span(rq.payload, rq.payload_len);
        for (uint32_t i = 0; i < rq.n_headers; i++) {
            check_str(rq.headers[i].name);
            check_str(rq.headers[i].value);
        }
        das_rpc_buf_t b = {0};
        das_rpc_uf_encode_request(&b, &rq);
        das_rpc_uf_request_t again;
        FUZZ_CHECK(das_rpc_uf_decode_request(b.data, b.len, &again) == 0);
        FUZZ_CHECK(strcmp(again.method, rq.method) == 0 && strcmp(again.url, rq.url) == 0);
        FUZZ_CHECK(same(again.payload, again.payload_len, rq.payload, rq.payload_len));
        FUZZ_CHECK(again.follow_redirects == rq.follow_redirects &&
                   again.validate_certificate == rq.validate_certificate &&
                   again.deadline_ms == rq.deadline_ms);
        headers_same(again.headers, again.n_headers, rq.headers, rq.n_headers);
        das_rpc_uf_request_dispose(&again);
        das_rpc_buf_dispose(&b);
    }
    das_rpc_uf_request_dispose(&rq);
}

static void fuzz_response(void)
{
    das_rpc_uf_response_t rs;
    int rc = das_rpc_uf_decode_response(in_data, in_size, &rs);
    FUZZ_CHECK(rc == 0 || rc == -EPROTO);
    if (rc == 0) {
        check_str(rs.final_url);
        check_span(rs.body, rs.body_len);
        for (uint32_t i = 0; i < rs.n_headers; i++) {
            check_str(rs.headers[i].name);
            check_str(rs.headers[i].value);
        }
        das_rpc_buf_t b = {0};
        das_rpc_uf_encode_response(&b, &rs);
        das_rpc_uf_response_t again;
        FUZZ_CHECK(das_rpc_uf_decode_response(b.data, b.len, &again) == 0);
        FUZZ_CHECK(again.status == rs.status && again.truncated == rs.truncated);
        FUZZ_CHECK(strcmp(again.final_url, rs.final_url) == 0);
        FUZZ_CHECK(same(again.body, again.body_len, rs.body, rs.body_len));
        headers_same(again.headers, again.n_headers, rs.headers, rs.n_headers);
        das_rpc_uf_response_dispose(&again);
        das_rpc_buf_dispose(&b);
    }
    das_rpc_uf_response_dispose(&rs);
}

static void fuzz_wait(void)
{
    uint32_t handle;
    const char *url;
    int rc = das_rpc_uf_decode_wait(in_data, in_size, &handle, &url);
    FUZZ_CHECK(rc == 0 || rc == -EPROTO);
    if (rc == 0)
        check_str(url);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    in_data = data + 1;
    in_size = size - 1;
    switch (data[0] % 3) {
    case 0: fuzz_request(); break;
    case 1: fuzz_response(); break;
    default: fuzz_wait(); break;
    }
    return 0;
}
