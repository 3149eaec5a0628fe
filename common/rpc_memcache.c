/* rpc_memcache.c - encoding and decoding of memcache request and reply bodies. */
#include "rpc_memcache.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *const method_names[] = {
    [DAS_RPC_MC_GET] = "Get",         [DAS_RPC_MC_STORE] = "Set",
    [DAS_RPC_MC_DELETE] = "Delete",   [DAS_RPC_MC_OFFSET] = "Increment",
    [DAS_RPC_MC_FLUSH] = "FlushAll",  [DAS_RPC_MC_STATS] = "Stats",
};

const char *das_rpc_mc_method_name(uint32_t op)
{
    return op >= DAS_RPC_MC_GET && op <= DAS_RPC_MC_STATS ? method_names[op] : NULL;
}

uint32_t das_rpc_mc_method_op(const char *method)
{
    for (uint32_t op = DAS_RPC_MC_GET; op <= DAS_RPC_MC_STATS; op++)
        if (strcmp(method_names[op], method) == 0)
            return op;
    return 0;
}

/* Allocates `n` items (checked by das_rpc_get_count). */
static das_rpc_mc_item_t *alloc_items(uint32_t n)
{
    das_rpc_mc_item_t *items = calloc(n ? n : 1, sizeof *items);
    if (!items)
        abort();
    return items;
}

void das_rpc_mc_encode_request(das_rpc_buf_t *b, const das_rpc_mc_request_t *rq)
{
    das_rpc_put_str(b, rq->ns);
    das_rpc_put_u32(b, rq->mode);
    das_rpc_put_i64(b, rq->lock_seconds);
    das_rpc_put_u32(b, rq->has_initial);
    das_rpc_put_u64(b, rq->initial);
    das_rpc_put_u32(b, rq->n);
    for (uint32_t i = 0; i < rq->n; i++) {
        const das_rpc_mc_item_t *it = &rq->items[i];
        das_rpc_put_bytes(b, it->key, it->key_len);
        if (rq->op == DAS_RPC_MC_STORE) {
            das_rpc_put_bytes(b, it->value, it->value_len);
            das_rpc_put_u32(b, it->flags);
            das_rpc_put_i64(b, it->expiration);
            das_rpc_put_u64(b, it->cas);
        } else if (rq->op == DAS_RPC_MC_OFFSET) {
            das_rpc_put_i64(b, it->delta);
        }
    }
}

int das_rpc_mc_decode_request(const void *data, size_t len, uint32_t op,
                              das_rpc_mc_request_t *rq)
{
    das_rpc_reader_t rd, *r = &rd;
    das_rpc_reader_init(r, data, len);
    memset(rq, 0, sizeof *rq);
    rq->op = op;
    rq->ns = das_rpc_get_str(r);
    rq->mode = das_rpc_get_u32(r);
    rq->lock_seconds = das_rpc_get_i64(r);
    rq->has_initial = das_rpc_get_u32(r);
    rq->initial = das_rpc_get_u64(r);
    rq->n = das_rpc_get_count(r, 5, DAS_RPC_MC_MAX_ITEMS);
    rq->items = alloc_items(rq->n);
    rq->storage_ = rq->items;
    for (uint32_t i = 0; !r->bad && i < rq->n; i++) {
        das_rpc_mc_item_t *it = &rq->items[i];
        it->key = das_rpc_get_bytes(r, &it->key_len);
        if (op == DAS_RPC_MC_STORE) {
            it->value = das_rpc_get_bytes(r, &it->value_len);
            it->flags = das_rpc_get_u32(r);
            it->expiration = das_rpc_get_i64(r);
            it->cas = das_rpc_get_u64(r);
        } else if (op == DAS_RPC_MC_OFFSET) {
            it->delta = das_rpc_get_i64(r);
        }
    }
    if (!das_rpc_reader_done(r) || !das_rpc_mc_method_name(op)) {
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

void das_rpc_mc_encode_get_item(das_rpc_buf_t *b, const das_rpc_mc_item_t *it)
{
    das_rpc_put_u32(b, (uint32_t)it->status);
    das_rpc_put_bytes(b, it->value, it->value_len);
    das_rpc_put_u32(b, it->flags);
    das_rpc_put_u64(b, it->cas);
}

void das_rpc_mc_encode_reply(das_rpc_buf_t *b, const das_rpc_mc_reply_t *rp, uint32_t op)
{
    das_rpc_put_u32(b, rp->n);
    for (uint32_t i = 0; i < rp->n; i++) {
        const das_rpc_mc_item_t *it = &rp->items[i];
        if (op == DAS_RPC_MC_GET) {
            das_rpc_mc_encode_get_item(b, it);
            continue;
        }
        das_rpc_put_u32(b, (uint32_t)it->status);
        if (op == DAS_RPC_MC_OFFSET)
            das_rpc_put_u64(b, it->new_value);
    }
    if (op == DAS_RPC_MC_STATS) {
        das_rpc_put_u64(b, rp->hits);
        das_rpc_put_u64(b, rp->misses);
        das_rpc_put_u64(b, rp->byte_hits);
        das_rpc_put_u64(b, rp->items_count);
        das_rpc_put_u64(b, rp->bytes);
        das_rpc_put_i64(b, rp->oldest_item_age);
    }
}

int das_rpc_mc_decode_reply(const void *data, size_t len, uint32_t op, das_rpc_mc_reply_t *rp)
{
    das_rpc_reader_t r;
    memset(rp, 0, sizeof *rp);
    das_rpc_reader_init(&r, data, len);
    rp->n = das_rpc_get_count(&r, 4, DAS_RPC_MC_MAX_ITEMS);
    rp->items = alloc_items(rp->n);
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
        rp->oldest_item_age = das_rpc_get_i64(&r);
    }
    if (!das_rpc_reader_done(&r)) {
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
