/* rpc_memcache.h - the memcache service's message bodies, encoded and decoded in one place
 * for both sides: the SDK (in an instance, or in the testbed) builds a request and reads the
 * reply; the server's memcache service module reads the request and builds the reply.
 *
 * The call envelope (rpc_codec.h) names the service "memcache" and one of six methods, the
 * platform's names: Get, Set, Delete, Increment, FlushAll, Stats. Its body is one
 * das_rpc_mc_request_t. Every method takes a batch of items (a single get is a batch of one).
 * A reply body's layout follows from the method the call named. Part of the codec library.
 */
#ifndef DAS_RPC_MEMCACHE_H
#define DAS_RPC_MEMCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "rpc_codec.h"

#define DAS_RPC_SERVICE_MEMCACHE "memcache"
#define DAS_RPC_MC_MAX_ITEMS 100000 /* items in one batch; more is refused as malformed */
#define DAS_RPC_MC_FOR_CAS 1        /* a Get's mode when the app wants the cas ids (gets) */

typedef enum {
    DAS_RPC_MC_GET = 1, /* "Get": mode (DAS_RPC_MC_FOR_CAS: a gets); items: key */
    DAS_RPC_MC_STORE,   /* "Set": mode; items: key, value, flags, expiration, cas */
    DAS_RPC_MC_DELETE,  /* "Delete": lock_seconds; items: key */
    DAS_RPC_MC_OFFSET,  /* "Increment": has_initial, initial; items: key, delta */
    DAS_RPC_MC_FLUSH,   /* "FlushAll": no items */
    DAS_RPC_MC_STATS,   /* "Stats": no items */
} das_rpc_mc_op_t;

/* The method name of `op` (NULL for none), and the op a method name names (0 for none). */
const char *das_rpc_mc_method_name(uint32_t op);
uint32_t das_rpc_mc_method_op(const char *method);

/* One item of a request or of a reply (the fields each operation uses; see above). */
typedef struct {
    const char *key;
    size_t key_len;
    const char *value;
    size_t value_len;
    uint32_t flags;
    int64_t expiration;
    uint64_t cas;
    int64_t delta;
    uint64_t new_value; /* reply: OFFSET */
    int32_t status;     /* reply: the item's AE_* code */
} das_rpc_mc_item_t;

typedef struct {
    uint32_t op;          /* das_rpc_mc_op_t */
    const char *ns;
    uint32_t mode;        /* STORE: das_memcache_mode_t */
    int64_t lock_seconds; /* DELETE */
    uint32_t has_initial; /* OFFSET */
    uint64_t initial;
    uint32_t n;
    das_rpc_mc_item_t *items;
    void *storage_;
} das_rpc_mc_request_t;

typedef struct {
    int32_t status; /* the call as a whole (from the envelope): AE_OK, or why it failed */
    uint32_t n;
    das_rpc_mc_item_t *items; /* GET: value, flags, cas, status; others: status (+new_value) */
    uint64_t hits, misses, byte_hits, items_count, bytes; /* STATS */
    int64_t oldest_item_age;
    void *storage_;
} das_rpc_mc_reply_t;

/* Appends the request body to `b` (rq->op says which fields). */
void das_rpc_mc_encode_request(das_rpc_buf_t *b, const das_rpc_mc_request_t *rq);
/* Decodes the body of a call to method `op`. Borrowed strings; dispose either way. Returns 0,
 * or -EPROTO when the body is malformed. */
int das_rpc_mc_decode_request(const void *data, size_t len, uint32_t op,
                              das_rpc_mc_request_t *rq);
void das_rpc_mc_request_dispose(das_rpc_mc_request_t *rq);

/* A reply body to a call of method `op` (the call's own method). The status of the call as
 * a whole travels in the envelope; `rp->status` is not encoded. */
void das_rpc_mc_encode_reply(das_rpc_buf_t *b, const das_rpc_mc_reply_t *rp, uint32_t op);
int das_rpc_mc_decode_reply(const void *data, size_t len, uint32_t op, das_rpc_mc_reply_t *rp);
void das_rpc_mc_reply_dispose(das_rpc_mc_reply_t *rp);

/* Appends one item of a Get reply (status, and for a hit value, flags and cas) to `b`: lets the
 * service write a reply item by item and stop at the frame limit. */
void das_rpc_mc_encode_get_item(das_rpc_buf_t *b, const das_rpc_mc_item_t *it);

#endif
