/* service.h - what a service module gives the registry, and what it gets for each call.
 *
 * A service is a stub (stubs/NAME/, plain C, no bytes) plus one module here that decodes the
 * service's calls, runs them on the stub and encodes the replies. The module exports one
 * das_service_def_t, listed in one row of the table in table.c. The registry (registry.h)
 * looks the service and the method up by name, hands the call over with its request context,
 * and builds the reply envelope, so a module never sees frames, sockets or HTTP.
 *
 * Request scope: every call comes with a das_call_ctx_t naming the request it belongs to, and a
 * service is told when each request starts and how it ended. The context says nothing of how
 * the call arrived (an instance's slot, the testbed, later the platform's own API protocol):
 * each transport fills the same struct.
 *
 * Threads: create and destroy run on one thread; every other hook may run on any thread, many
 * at once, and the module does its own locking.
 */
#ifndef DAS_SERVICE_H
#define DAS_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clock.h"
#include "log.h"
#include "rpc_codec.h"
#include "util.h"

/* The request a call belongs to. Strings are borrowed for the duration of the hook. */
typedef struct {
    const char *request_log_id; /* REQUEST_LOG_ID; "" when the call belongs to no request */
    const char *instance_id;    /* "" when there is no instance (the testbed) */
    int slot;                   /* the instance's slot carrying the request; -1 when none */
    uint32_t seq;               /* the call's number within its request (1, 2, ...); 0 in hooks */
    int64_t time_left_ms;       /* before the request's deadline; INT64_MAX when it has none */
    void *task;                 /* deterministic dispatch: the request's task (deterministic.h);
                                   NULL otherwise, and for a warmup (outside the schedule) */
} das_call_ctx_t;

/* How a request ended, for the request_end hook: where an open transaction rolls back and an
 * unfinished fetch is cancelled. */
typedef enum {
    DAS_REQUEST_RETURNED = 0, /* the handler returned a response */
    DAS_REQUEST_CRASHED,      /* its instance died (a signal, an exit, a broken protocol) */
    DAS_REQUEST_DEADLINE,     /* it passed its deadline; its instance was stopped */
    DAS_REQUEST_CANCELLED,    /* the server stopped it: shutdown or reload */
} das_request_end_t;

const char *das_request_end_name(das_request_end_t how);

/* What a call does to the service's data, for the deterministic mode's trace and race
 * finding, and for the admin console. */
typedef enum {
    DAS_ACCESS_READ = 1,
    DAS_ACCESS_WRITE = 2, /* a write may also read (incr, cas) */
} das_access_t;

/* Receives one key a call touches: bytes in the service's own spelling ("ns/key"). */
typedef void (*das_key_cb)(void *ctx, const char *key, size_t len);

typedef struct {
    const char *name;    /* the platform's method name: "Get" */
    das_access_t access;
    bool all_keys;       /* touches every key (FlushAll, Stats) */
    /* Lists the keys a call's body touches; NULL when the method touches none or all.
     * Returns 0, or AE_EINVAL for a body that does not decode. */
    int (*keys)(const void *body, size_t len, das_key_cb emit, void *ctx);
    /* Optional, for traces and reports: appends the value the call wrote (from its body) or
     * read (from its reply body; NULL when the call failed) as a person reads it ("0"), or
     * nothing when there is none. */
    void (*value)(const void *body, size_t len, const void *reply, size_t reply_len,
                  das_buf_t *out);
    /* Nothing the app can read back depends on it (a log write): under deterministic
     * dispatch it runs at once, not at a scheduling point. */
    bool not_a_point;
    /* Optional, for traces and reports: the operation's name when the method has several
     * ("add" for a Set that adds), written into `out` (32 bytes); NULL: the method's name in
     * lower case. */
    void (*op_name)(const void *body, size_t len, char out[32]);
    /* Its reply comes from outside the server (a URL fetch's, from the network): a
     * deterministic run's trace records the whole reply, and replay answers the call from the
     * trace instead of running it. */
    bool external;
} das_service_method_t;

/* What a call fills in: its reply body, and for a failure a detail message. */
typedef struct {
    das_rpc_buf_t *body; /* append the reply body here (dropped when the call fails) */
    das_buf_t detail;    /* for a failure: what went wrong, in the platform's words */
} das_call_out_t;

/* Sets the detail of a failed call and returns `code`: `return das_call_fail(out, ...)`. */
int das_call_fail(das_call_out_t *out, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* What every service is created with. Time and randomness come from `clock` only. The strings
 * are borrowed for the duration of `create` (a service keeps copies). */
typedef struct {
    das_clock_t *clock;
    das_log_t *log;
    const char *app_id;       /* "dev~APP", as the requests' APPLICATION_ID; never NULL */
    const char *storage_path; /* where a service keeps files; NULL: none (keep data in memory) */
    const char *app_root;     /* APPDIR (index.yaml lives there); NULL: none */
    /* The server's own front end, for a service that reaches it over HTTP (urlfetch): whether
     * host:port is this server (asked at each call: the port is known once the server
     * listens), and the token that makes the front end trust the X-Appengine-* headers such a
     * request carries. NULL: no front end (the testbed). */
    bool (*is_self)(void *ctx, const char *host, int port);
    void *self_ctx;
    const char *inbound_token; /* sent as DAS_INBOUND_TOKEN_HEADER */
} das_service_env_t;

/* The header carrying das_service_env_t.inbound_token to the front end, which removes it. */
#define DAS_INBOUND_TOKEN_HEADER "X-Devappserver-Inbound-Token"

typedef struct {
    const char *name; /* the platform's package name: "memcache" */
    /* Creates the service's state. `options` is the service's own options struct, or NULL
     * for its defaults. Returns 0, or an AE_* code with `err` filled. */
    int (*create)(const das_service_env_t *env, const void *options, void **state,
                  das_err_t *err);
    void (*destroy)(void *state); /* NULL ok */
    /* Runs one call of `method` (one of `methods`, already looked up). Returns AE_OK or an
     * AE_* code; a malformed body is AE_EINVAL with a detail naming the method. */
    int (*call)(void *state, const das_call_ctx_t *ctx, const das_service_method_t *method,
                const void *body, size_t len, das_call_out_t *out);
    /* Optional: a request starts (before its first call) and ends (after its last), exactly
     * once each per request. */
    void (*request_start)(void *state, const das_call_ctx_t *rq);
    void (*request_end)(void *state, const das_call_ctx_t *rq, das_request_end_t how);
    /* Optional: appends one line of statistics ("12 hits, 3 misses, ..."). */
    void (*stats)(void *state, das_buf_t *out);
    const das_service_method_t *methods;
    size_t n_methods;
} das_service_def_t;

#endif
