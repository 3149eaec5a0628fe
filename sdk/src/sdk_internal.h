/* sdk_internal.h - the insides of ae_request_t and ae_response_t, shared by the SDK's request
 * code and the instance runtime that creates them from an RPC frame.
 */
#ifndef DAS_SDK_INTERNAL_H
#define DAS_SDK_INTERNAL_H

#include <appengine/appengine.h>

#include "rpc_codec.h"

typedef struct ae_arena_chunk ae_arena_chunk_t;

/* A bump allocator; chunks are freed together by ae__arena_dispose(). */
typedef struct {
    ae_arena_chunk_t *head;
} ae_arena_t;

void *ae__arena_alloc(ae_arena_t *a, size_t n);
void ae__arena_dispose(ae_arena_t *a);

typedef struct {
    char *name;
    char *value;
} ae_pair_t;

/* How a request reaches the services: over its slot socket in an instance, or straight to
 * in-process stubs in the testbed. Sends the CALL payload `call` and stores the REPLY payload
 * in `reply`. Returns 0, or a negative AE_* code when the service cannot be reached. */
typedef int (*ae_call_fn)(ae_request_t *rq, const das_rpc_buf_t *call, das_rpc_buf_t *reply);

struct ae_request {
    das_rpc_request_t wire; /* borrowed strings point into the REQUEST frame */
    ae_call_fn call;
    void *call_ctx;         /* the transport's own: the slot descriptor, or the testbed */
    const char *memcache_ns;
    ae_arena_t arena;
    ae_pair_t *params;      /* parsed lazily */
    size_t n_params;
    bool params_parsed;
    ae_pair_t *cookies;
    size_t n_cookies;
    bool cookies_parsed;
};

struct ae_response {
    int status;
    das_rpc_pair_t *headers; /* strings in the request's arena */
    size_t n_headers, cap_headers;
    char *body; /* malloc'd */
    size_t len, cap;
    ae_arena_t *arena;
};

/* The instance's transport: CALL and REPLY frames on the slot descriptor in call_ctx. */
int ae__rpc_call(ae_request_t *rq, const das_rpc_buf_t *call, das_rpc_buf_t *reply);

/* Decodes `%XX` and '+' (when `plus`) in place. */
void ae__url_decode(char *s, bool plus);

void ae__response_init(ae_response_t *rs, ae_arena_t *arena);
void ae__response_dispose(ae_response_t *rs);

#endif
