/* services.h - the platform services behind the RPC: answers CALL frames from instances.
 *
 * The server owns one das_services_t holding every service stub (memcache today; datastore
 * and urlfetch later), shared by all instances as on the platform. das_services_call() decodes
 * one call, runs it on the stub and encodes the reply: the stubs never see bytes, and nothing
 * here knows HTTP. The testbed links this module too, so an app's own tests run the very same
 * code with no server. Thread-safe (each stub has its own locking).
 */
#ifndef DAS_SERVICES_H
#define DAS_SERVICES_H

#include <stddef.h>
#include <stdint.h>

#include "memcache.h"
#include "rpc_codec.h"

typedef struct das_services das_services_t;

typedef struct {
    uint64_t memcache_max_bytes; /* 0: the stub's default */
    /* The current Unix time in milliseconds (the server's clock module). */
    int64_t (*now_ms)(void *ctx);
    void *clock_ctx;
} das_services_options_t;

das_services_t *das_services_create(const das_services_options_t *o);
void das_services_destroy(das_services_t *s); /* NULL ok */

/* Answers one CALL payload, writing the REPLY payload into `reply` (appended). A call that
 * cannot be decoded gets a reply whose status is AE_EINVAL. */
void das_services_call(das_services_t *s, const void *payload, size_t len, das_rpc_buf_t *reply);

/* The memcache stub, for statistics at shutdown (borrowed). */
das_memcache_t *das_services_memcache(das_services_t *s);

#endif
