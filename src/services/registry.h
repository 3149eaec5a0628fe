/* registry.h - the platform services behind the calls: one table lists them, and this module
 * routes each call to its service by name.
 *
 * The server owns one das_services_t holding every service (memcache, logservice; datastore
 * and urlfetch later), shared by all instances as on the platform. das_services_call() takes
 * one CALL payload (the envelope of rpc_codec.h) with the request context of the call, finds
 * the service and the method, runs it, and encodes the REPLY payload: an unknown service or
 * method, or a malformed envelope, gets AE_EINVAL with a message naming it. Nothing here knows
 * a service by name (they are rows of table.c), nor how the call arrived: the instance slots,
 * the testbed and, later, the platform's API protocol over HTTP all come through here. Every
 * failed call is logged: at debug with its request log id, at warning for AE_EINTERNAL/AE_EIO.
 *
 * Thread-safe: the table is immutable after create; each service does its own locking.
 */
#ifndef DAS_REGISTRY_H
#define DAS_REGISTRY_H

#include "service.h"

typedef struct das_services das_services_t;

/* Options for one service, by name: the CLI parses them into the service's own struct. */
typedef struct {
    const char *service;
    const void *options; /* borrowed for the duration of das_services_create() */
} das_service_config_t;

typedef struct {
    das_clock_t *clock; /* required: the only source of time and randomness for services */
    das_log_t *log;     /* required */
    /* What the services are told of the app (das_service_env_t); borrowed for the call. */
    const char *app_id;       /* NULL: "dev~app" */
    const char *storage_path; /* NULL: the services keep their data in memory */
    const char *app_root;     /* NULL: no app folder */
    /* The server's own front end (das_service_env_t); NULL: none. */
    bool (*is_self)(void *ctx, const char *host, int port);
    void *self_ctx;
    const char *inbound_token;
    const das_service_config_t *config;
    size_t n_config;
    /* Services beyond the table, for embedders and tests (a service that records its hooks).
     * Borrowed; they must outlive the registry. */
    const das_service_def_t *const *extra;
    size_t n_extra;
} das_services_options_t;

/* Creates every service of the table (and the extras). Returns 0, or an AE_* code with `err`
 * filled when a service cannot start or options name no service. */
int das_services_create(const das_services_options_t *o, das_services_t **out, das_err_t *err);
void das_services_destroy(das_services_t *s); /* NULL ok */

/* Answers one CALL payload, appending the REPLY payload to `reply`. Never fails: whatever
 * goes wrong is the reply's status and detail. */
void das_services_call(das_services_t *s, const das_call_ctx_t *ctx, const void *payload,
                       size_t len, das_rpc_buf_t *reply);

/* Tell every service that a request starts, and that it ended and how. The caller (the
 * dispatcher, the testbed) calls each exactly once per request, start before end. */
void das_services_request_start(das_services_t *s, const das_call_ctx_t *rq);
void das_services_request_end(das_services_t *s, const das_call_ctx_t *rq,
                              das_request_end_t how);

/* Logs each service's statistics line at debug ("memcache at shutdown: ..."). */
void das_services_log_stats(das_services_t *s, const char *when);

/* The services, in table order, for whoever describes them (the trace, the admin console). */
size_t das_services_count(const das_services_t *s);
const das_service_def_t *das_services_def(const das_services_t *s, size_t i);
/* A service's state by name (for the testbed, which reads what logservice captured); NULL
 * when there is no such service. */
void *das_services_state(das_services_t *s, const char *name);
/* A method's description; NULL when the service or the method does not exist. */
const das_service_method_t *das_services_method(const das_services_t *s, const char *service,
                                                const char *method);

#endif
