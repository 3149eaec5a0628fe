/* rpc_urlfetch.h - the URL Fetch service's message bodies, encoded and decoded in one place
 * for both sides: the SDK builds a fetch and reads the response; the server's urlfetch service
 * module reads the fetch and builds the response. Part of the codec library.
 *
 * The envelope (rpc_codec.h) names the service "urlfetch" and one of three methods:
 *   Fetch  das_rpc_uf_request_t        -> das_rpc_uf_response_t   (start, then wait)
 *   Start  das_rpc_uf_request_t        -> u32 handle              (the fetch is in flight)
 *   Wait   u32 handle, the fetch's URL -> das_rpc_uf_response_t
 * Wait carries the URL only to say which origin it reads (the deterministic mode's keys).
 */
#ifndef DAS_RPC_URLFETCH_H
#define DAS_RPC_URLFETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rpc_codec.h"

#define DAS_RPC_SERVICE_URLFETCH "urlfetch"

typedef struct {
    const char *method;
    const char *url;
    const das_rpc_pair_t *headers;
    uint32_t n_headers;
    const void *payload;
    size_t payload_len;
    bool follow_redirects;
    bool validate_certificate;
    int64_t deadline_ms; /* 0: the service's default */
    void *storage_;      /* decoder-owned; das_rpc_uf_request_dispose() */
} das_rpc_uf_request_t;

typedef struct {
    uint32_t status;
    const char *final_url; /* "" when no redirect was followed */
    bool truncated;
    const das_rpc_pair_t *headers;
    uint32_t n_headers;
    const char *body;
    size_t body_len;
    void *storage_;
} das_rpc_uf_response_t;

void das_rpc_uf_encode_request(das_rpc_buf_t *b, const das_rpc_uf_request_t *rq);
/* Pointers borrowed from `data`. 0 or -EPROTO; dispose either way. */
int das_rpc_uf_decode_request(const void *data, size_t len, das_rpc_uf_request_t *rq);
void das_rpc_uf_request_dispose(das_rpc_uf_request_t *rq);

void das_rpc_uf_encode_response(das_rpc_buf_t *b, const das_rpc_uf_response_t *rs);
int das_rpc_uf_decode_response(const void *data, size_t len, das_rpc_uf_response_t *rs);
void das_rpc_uf_response_dispose(das_rpc_uf_response_t *rs);

void das_rpc_uf_encode_wait(das_rpc_buf_t *b, uint32_t handle, const char *url);
int das_rpc_uf_decode_wait(const void *data, size_t len, uint32_t *handle, const char **url);

#endif
