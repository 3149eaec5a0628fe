/* rpc_memcache.c - encoding and decoding of memcache requests and replies. */
#include "rpc_memcache.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void das_rpc_put_u64(das_rpc_buf_t *b, uint64_t v)
{
    das_rpc_put_u32(b, (uint32_t)v);
    das_rpc_put_u32(b, (uint32_t)(v >> 32));
}

uint64_t das_rpc_get_u64(das_rpc_reader_t *r)
{
    uint64_t lo = das_rpc_get_u32(r);
    uint64_t hi = das_rpc_get_u32(r);
    return lo | hi << 32;
}

/* Allocates `n` items, refusing counts the remaining payload cannot hold (each item takes at
 * least `min_bytes` on the wire). */
static das_rpc_mc_item_t *alloc_items(das_rpc_reader_t *r, uint32_t n, size_t min_bytes)
{
    if (r->bad || n > DAS_RPC_MC_MAX_ITEMS || (size_t)n > (size_t)(r->end - r->p) / min_bytes) {
        r->bad = 1;
        return NULL;
    }
    das_rpc_mc_item_t *items = calloc(n ? n : 1, sizeof *items);
    if (!items)
        abort();
    return items;
}

void das_rpc_mc_encode_request(das_rpc_buf_t *b, const das_rpc_mc_request_t *rq)
{
    das_rpc_put_str(b, DAS_RPC_SERVICE_MEMCACHE);
    das_rpc_put_u32(b, rq->op);
    das_rpc_put_str(b, rq->ns);
    das_rpc_put_u32(b, rq->mode);
    das_rpc_put_u64(b, (uint64_t)rq->lock_seconds);
    das_rpc_put_u32(b, rq->has_initial);
    das_rpc_put_u64(b, rq->initial);
    das_rpc_put_u32(b, rq->n);
    for (uint32_t i = 0; i < rq->n; i++) {
        const das_rpc_mc_item_t *it = &rq->items[i];
        das_rpc_put_bytes(b, it->key, it->key_len);
        if (rq->op == DAS_RPC_MC_STORE) {
            das_rpc_put_bytes(b, it->value, it->value_len);
            das_rpc_put_u32(b, it->flags);
            das_rpc_put_u64(b, (uint64_t)it->expiration);
            das_rpc_put_u64(b, it->cas);
        } else if (rq->op == DAS_RPC_MC_OFFSET) {
            das_rpc_put_u64(b, (uint64_t)it->delta);
        }
    }
}

int das_rpc_mc_decode_request(das_rpc_reader_t *r, das_rpc_mc_request_t *rq)
{
    memset(rq, 0, sizeof *rq);
    rq->op = das_rpc_get_u32(r);
    rq->ns = das_rpc_get_str(r);
    rq->mode = das_rpc_get_u32(r);
    rq->lock_seconds = (int64_t)das_rpc_get_u64(r);
    rq->has_initial = das_rpc_get_u32(r);
    rq->initial = das_rpc_get_u64(r);
    rq->n = das_rpc_get_u32(r);
    rq->items = alloc_items(r, rq->n, 5);
    rq->storage_ = rq->items;
    for (uint32_t i = 0; !r->bad && i < rq->n; i++) {
        das_rpc_mc_item_t *it = &rq->items[i];
        it->key = das_rpc_get_bytes(r, &it->key_len);
        if (rq->op == DAS_RPC_MC_STORE) {
            it->value = das_rpc_get_bytes(r, &it->value_len);
            it->flags = das_rpc_get_u32(r);
            it->expiration = (int64_t)das_rpc_get_u64(r);
            it->cas = das_rpc_get_u64(r);
        } else if (rq->op == DAS_RPC_MC_OFFSET) {
            it->delta = (int64_t)das_rpc_get_u64(r);
        }
    }
    if (r->bad || r->p != r->end || rq->op < DAS_RPC_MC_GET || rq->op > DAS_RPC_MC_STATS) {
        rq->n = 0;
        return -EPROTO;
    }
    return 0;
}

void das_rpc_mc_request_dispose(das_rpc_mc_request_t *rq)
{
    free(rq->storage_);
    rq->storage_ = NULL;
    rq->items = NULL;
}

void das_rpc_mc_encode_reply(das_rpc_buf_t *b, const das_rpc_mc_reply_t *rp, uint32_t op)
{
    das_rpc_put_u32(b, (uint32_t)rp->status);
    das_rpc_put_u32(b, rp->n);
    for (uint32_t i = 0; i < rp->n; i++) {
        const das_rpc_mc_item_t *it = &rp->items[i];
        das_rpc_put_u32(b, (uint32_t)it->status);
        if (op == DAS_RPC_MC_GET) {
            das_rpc_put_bytes(b, it->value, it->value_len);
            das_rpc_put_u32(b, it->flags);
            das_rpc_put_u64(b, it->cas);
        } else if (op == DAS_RPC_MC_OFFSET) {
            das_rpc_put_u64(b, it->new_value);
        }
    }
    if (op == DAS_RPC_MC_STATS) {
        das_rpc_put_u64(b, rp->hits);
        das_rpc_put_u64(b, rp->misses);
        das_rpc_put_u64(b, rp->byte_hits);
        das_rpc_put_u64(b, rp->items_count);
        das_rpc_put_u64(b, rp->bytes);
        das_rpc_put_u64(b, (uint64_t)rp->oldest_item_age);
    }
}

int das_rpc_mc_decode_reply(const void *data, size_t len, uint32_t op, das_rpc_mc_reply_t *rp)
{
    das_rpc_reader_t r;
    memset(rp, 0, sizeof *rp);
    das_rpc_reader_init(&r, data, len);
    rp->status = (int32_t)das_rpc_get_u32(&r);
    rp->n = das_rpc_get_u32(&r);
    rp->items = alloc_items(&r, rp->n, 4);
    rp->storage_ = rp->items;
    for (uint32_t i = 0; !r.bad && i < rp->n; i++) {
        das_rpc_mc_item_t *it = &rp->items[i];
        it->status = (int32_t)das_rpc_get_u32(&r);
        if (op == DAS_RPC_MC_GET) {
            it->value = das_rpc_get_bytes(&r, &it->value_len);
            it->flags = das_rpc_get_u32(&r);
            it->cas = das_rpc_get_u64(&r);
        } else if (op == DAS_RPC_MC_OFFSET) {
            it->new_value = das_rpc_get_u64(&r);
        }
    }
    if (op == DAS_RPC_MC_STATS) {
        rp->hits = das_rpc_get_u64(&r);
        rp->misses = das_rpc_get_u64(&r);
        rp->byte_hits = das_rpc_get_u64(&r);
        rp->items_count = das_rpc_get_u64(&r);
        rp->bytes = das_rpc_get_u64(&r);
        rp->oldest_item_age = (int64_t)das_rpc_get_u64(&r);
    }
    if (r.bad || r.p != r.end) {
        rp->n = 0;
        return -EPROTO;
    }
    return 0;
}

void das_rpc_mc_reply_dispose(das_rpc_mc_reply_t *rp)
{
    free(rp->storage_);
    rp->storage_ = NULL;
    rp->items = NULL;
}
