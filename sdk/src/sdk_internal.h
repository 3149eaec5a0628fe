/* sdk_internal.h - the insides of ae_request_t and ae_response_t, shared by the SDK's request
 * code, its service modules, and the two places that create requests: the instance runtime
 * (sdk/runtime/, from a REQUEST frame) and the testbed (sdk/testbed/).
 */
#ifndef DAS_SDK_INTERNAL_H
#define DAS_SDK_INTERNAL_H

#include <appengine/appengine.h>

#include "arena.h"
#include "prng.h"
#include "rpc_codec.h"

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
    uint32_t call_seq;      /* calls made so far */
    const char *last_error; /* arena; the detail of the last failed call */
    das_rpc_buf_t log_batch; /* app log lines not sent yet (see log.c) */
    uint32_t log_lines;
    const char *memcache_ns;
    const char *datastore_ns; /* arena; NULL: the default namespace */
    uint64_t datastore_txn;   /* the transaction set on the request (datastore.c); 0: none */
    double urlfetch_deadline; /* seconds, for fetches that set none (urlfetch.c); 0: the
                                 service's default */
    das_arena_t arena;
    /* Deterministic dispatch: the virtual time (from the REQUEST, then each REPLY) and the
     * task's random stream. virtual_now_ns 0: real time and randomness. */
    int64_t virtual_now_ns;
    das_prng_t prng;
    /* The app's shared object's load address, and the end of its last segment: each call
     * then carries its call site (deterministic dispatch); NULL: none. */
    const void *app_base, *app_end;
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
    das_arena_t *arena;
};

/* One service call, for the SDK's service modules (memcache.c, log.c, ...), so that none of
 * them deals with frames or envelopes:
 *
 *     ae__call_t c;
 *     das_rpc_buf_t *body = ae__call_begin(rq, &c, "memcache", "Get");
 *     ... append the body with das_rpc_put_* ...
 *     int rc = ae__call_send(rq, &c);   // AE_OK: c.reply / c.reply_len hold the reply body
 *     ...
 *     ae__call_dispose(&c);
 *
 * A failed call's detail becomes the request's last error. */
typedef struct {
    das_rpc_buf_t out;
    size_t mark;
    das_rpc_buf_t in;
    const void *reply; /* valid until ae__call_dispose() */
    size_t reply_len;
} ae__call_t;

das_rpc_buf_t *ae__call_begin(ae_request_t *rq, ae__call_t *c, const char *service,
                              const char *method);
int ae__call_send(ae_request_t *rq, ae__call_t *c);
/* Starts deterministic mode for a request that carries virtual time (the runtime calls it). */
void ae__request_virtual(ae_request_t *rq);
/* The return address of the innermost frame in the app's object, as an offset in it; 0 when
 * none is found. */
uint64_t ae__call_site(const ae_request_t *rq);
/* A call to the scheduler itself (service "devappserver", deterministic dispatch only):
 * `method` with `body`; the reply's first u32 goes to `reply_u32` when not NULL. Returns the
 * call's AE_* code. */
int ae__scheduler_call(ae_request_t *rq, const char *method, const das_rpc_buf_t *body,
                       uint32_t *reply_u32);
/* A sleep of `ns` in virtual time: a point of the schedule (deterministic dispatch only). */
int ae__sleep(ae_request_t *rq, int64_t ns);
void ae__call_dispose(ae__call_t *c);
/* Records a failure found before any round trip (the SDK's own checks); returns `code`. */
int ae__fail(ae_request_t *rq, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Frees what the SDK holds for a request (its arena, its unsent log lines). The runtime and
 * the testbed call ae_log_flush() when a handler returns, then this. */
void ae__request_dispose(ae_request_t *rq);

void ae__response_init(ae_response_t *rs, das_arena_t *arena);
void ae__response_dispose(ae_response_t *rs);

#endif
