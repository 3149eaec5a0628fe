/* rpc_memcache.h - the memcache service's messages on the wire, encoded and decoded in one
 * place for both sides: the SDK (in an instance, or in the testbed) builds a request and reads
 * the reply; the server's services module reads the request and builds the reply.
 *
 * A CALL frame's payload starts with the service name ("memcache"); the rest is one
 * das_rpc_mc_request_t. Every operation is a batch of items (a single get is a batch of one),
 * so six operations cover the whole API. Part of the codec library: no dependencies.
 */
#ifndef DAS_RPC_MEMCACHE_H
#define DAS_RPC_MEMCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "rpc_codec.h"

#define DAS_RPC_SERVICE_MEMCACHE "memcache"
#define DAS_RPC_MC_MAX_ITEMS 100000 /* items in one batch; more is refused as malformed */

typedef enum {
    DAS_RPC_MC_GET = 1, /* items: key */
    DAS_RPC_MC_STORE,   /* mode; items: key, value, flags, expiration, cas */
    DAS_RPC_MC_DELETE,  /* lock_seconds; items: key */
    DAS_RPC_MC_OFFSET,  /* has_initial, initial; items: key, delta */
    DAS_RPC_MC_FLUSH,   /* no items */
    DAS_RPC_MC_STATS,   /* no items */
} das_rpc_mc_op_t;

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
    int32_t status; /* the call as a whole: AE_OK, or why it failed */
    uint32_t n;
    das_rpc_mc_item_t *items; /* GET: value, flags, cas, status; others: status (+new_value) */
    uint64_t hits, misses, byte_hits, items_count, bytes; /* STATS */
    int64_t oldest_item_age;
    void *storage_;
} das_rpc_mc_reply_t;

/* Appends the service name and the request to `b`. */
void das_rpc_mc_encode_request(das_rpc_buf_t *b, const das_rpc_mc_request_t *rq);
/* Decodes a request (after the service name has been read by `r`'s owner). Borrowed strings;
 * dispose either way. Returns 0 or -EPROTO. */
int das_rpc_mc_decode_request(das_rpc_reader_t *r, das_rpc_mc_request_t *rq);
void das_rpc_mc_request_dispose(das_rpc_mc_request_t *rq);

void das_rpc_mc_encode_reply(das_rpc_buf_t *b, const das_rpc_mc_reply_t *rp, uint32_t op);
int das_rpc_mc_decode_reply(const void *data, size_t len, uint32_t op, das_rpc_mc_reply_t *rp);
void das_rpc_mc_reply_dispose(das_rpc_mc_reply_t *rp);

/* 64-bit values, as two u32 (low first). */
void das_rpc_put_u64(das_rpc_buf_t *b, uint64_t v);
uint64_t das_rpc_get_u64(das_rpc_reader_t *r);

#endif
