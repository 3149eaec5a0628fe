/* rpc_urlfetch.c - the URL Fetch service's message bodies (see rpc_urlfetch.h). */
#include "rpc_urlfetch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void das_rpc_uf_encode_request(das_rpc_buf_t *b, const das_rpc_uf_request_t *rq)
{
    das_rpc_put_str(b, rq->method);
    das_rpc_put_str(b, rq->url);
    das_rpc_put_pairs(b, rq->headers, rq->n_headers);
    das_rpc_put_bytes(b, rq->payload ? rq->payload : "", rq->payload_len);
    das_rpc_put_u32(b, (rq->follow_redirects ? 1u : 0u) | (rq->validate_certificate ? 2u : 0u));
    das_rpc_put_i64(b, rq->deadline_ms);
}

int das_rpc_uf_decode_request(const void *data, size_t len, das_rpc_uf_request_t *rq)
{
    memset(rq, 0, sizeof *rq);
    das_rpc_reader_t r;
    das_rpc_reader_init(&r, data, len);
    rq->method = das_rpc_get_str(&r);
    rq->url = das_rpc_get_str(&r);
    das_rpc_pair_t *h = das_rpc_get_pairs(&r, &rq->n_headers);
    rq->headers = h;
    rq->storage_ = h;
    rq->payload = das_rpc_get_bytes(&r, &rq->payload_len);
    uint32_t flags = das_rpc_get_u32(&r);
    rq->follow_redirects = flags & 1u;
    rq->validate_certificate = flags & 2u;
    rq->deadline_ms = das_rpc_get_i64(&r);
    return das_rpc_reader_done(&r) && flags < 4 ? 0 : -EPROTO;
}

void das_rpc_uf_request_dispose(das_rpc_uf_request_t *rq)
{
    free(rq->storage_);
    rq->storage_ = NULL;
}

void das_rpc_uf_encode_response(das_rpc_buf_t *b, const das_rpc_uf_response_t *rs)
{
    das_rpc_put_u32(b, rs->status);
    das_rpc_put_str(b, rs->final_url);
    das_rpc_put_u32(b, rs->truncated ? 1u : 0u);
    das_rpc_put_pairs(b, rs->headers, rs->n_headers);
    das_rpc_put_bytes(b, rs->body ? rs->body : "", rs->body_len);
}

int das_rpc_uf_decode_response(const void *data, size_t len, das_rpc_uf_response_t *rs)
{
    memset(rs, 0, sizeof *rs);
    das_rpc_reader_t r;
    das_rpc_reader_init(&r, data, len);
    rs->status = das_rpc_get_u32(&r);
    rs->final_url = das_rpc_get_str(&r);
    uint32_t truncated = das_rpc_get_u32(&r);
    rs->truncated = truncated != 0;
    das_rpc_pair_t *h = das_rpc_get_pairs(&r, &rs->n_headers);
    rs->headers = h;
    rs->storage_ = h;
    rs->body = das_rpc_get_bytes(&r, &rs->body_len);
    return das_rpc_reader_done(&r) && truncated < 2 ? 0 : -EPROTO;
}

void das_rpc_uf_response_dispose(das_rpc_uf_response_t *rs)
{
    free(rs->storage_);
    rs->storage_ = NULL;
}

void das_rpc_uf_encode_wait(das_rpc_buf_t *b, uint32_t handle, const char *url)
{
    das_rpc_put_u32(b, handle);
    das_rpc_put_str(b, url);
}

int das_rpc_uf_decode_wait(const void *data, size_t len, uint32_t *handle, const char **url)
{
    das_rpc_reader_t r;
    das_rpc_reader_init(&r, data, len);
    *handle = das_rpc_get_u32(&r);
    *url = das_rpc_get_str(&r);
    return das_rpc_reader_done(&r) ? 0 : -EPROTO;
}
