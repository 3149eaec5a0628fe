/* services.c - decodes service calls, runs them on the stubs, encodes the replies. */
#include "services.h"

#include <stdlib.h>
#include <string.h>

#include "rpc_memcache.h"

struct das_services {
    das_memcache_t *memcache;
};

das_services_t *das_services_create(const das_services_options_t *o)
{
    das_services_t *s = calloc(1, sizeof *s);
    if (!s)
        abort();
    das_memcache_options_t mo = {
        .max_bytes = o->memcache_max_bytes,
        .now_ms = o->now_ms,
        .clock_ctx = o->clock_ctx,
    };
    s->memcache = das_memcache_create(&mo);
    return s;
}

void das_services_destroy(das_services_t *s)
{
    if (!s)
        return;
    das_memcache_destroy(s->memcache);
    free(s);
}

das_memcache_t *das_services_memcache(das_services_t *s)
{
    return s->memcache;
}

/* ---------------------------------------------------------------- memcache */

static void memcache_call(das_memcache_t *mc, const das_rpc_mc_request_t *rq,
                          das_rpc_mc_reply_t *rp, das_memcache_value_t *values)
{
    const char *ns = rq->ns;
    switch (rq->op) {
    case DAS_RPC_MC_GET:
        for (uint32_t i = 0; i < rq->n; i++) {
            das_rpc_mc_item_t *out = &rp->items[i];
            out->status = das_memcache_get(mc, ns, rq->items[i].key, rq->items[i].key_len,
                                           &values[i]);
            if (out->status == AE_OK) {
                out->value = values[i].data;
                out->value_len = values[i].len;
                out->flags = values[i].flags;
                out->cas = values[i].cas;
            }
        }
        break;
    case DAS_RPC_MC_STORE:
        if (rq->mode > DAS_MEMCACHE_CAS) {
            rp->status = AE_EINVAL;
            break;
        }
        for (uint32_t i = 0; i < rq->n; i++) {
            const das_rpc_mc_item_t *it = &rq->items[i];
            rp->items[i].status = das_memcache_store(
                mc, ns, (das_memcache_mode_t)rq->mode, it->key, it->key_len, it->value,
                it->value_len, it->flags, it->expiration, it->cas);
        }
        break;
    case DAS_RPC_MC_DELETE:
        for (uint32_t i = 0; i < rq->n; i++)
            rp->items[i].status = das_memcache_delete(mc, ns, rq->items[i].key,
                                                      rq->items[i].key_len, rq->lock_seconds);
        break;
    case DAS_RPC_MC_OFFSET:
        for (uint32_t i = 0; i < rq->n; i++)
            rp->items[i].status = das_memcache_offset(
                mc, ns, rq->items[i].key, rq->items[i].key_len, rq->items[i].delta,
                rq->has_initial ? &rq->initial : NULL, &rp->items[i].new_value);
        break;
    case DAS_RPC_MC_FLUSH:
        das_memcache_flush_all(mc);
        break;
    case DAS_RPC_MC_STATS: {
        das_memcache_stats_t st;
        das_memcache_stats(mc, &st);
        rp->hits = st.hits;
        rp->misses = st.misses;
        rp->byte_hits = st.byte_hits;
        rp->items_count = st.items;
        rp->bytes = st.bytes;
        rp->oldest_item_age = st.oldest_item_age;
        break;
    }
    }
}

void das_services_call(das_services_t *s, const void *payload, size_t len, das_rpc_buf_t *reply)
{
    das_rpc_reader_t r;
    das_rpc_reader_init(&r, payload, len);
    const char *service = das_rpc_get_str(&r);
    das_rpc_mc_reply_t rp;
    memset(&rp, 0, sizeof rp);
    if (r.bad || strcmp(service, DAS_RPC_SERVICE_MEMCACHE) != 0) {
        rp.status = AE_EINVAL;
        das_rpc_mc_encode_reply(reply, &rp, 0);
        return;
    }
    das_rpc_mc_request_t rq;
    if (das_rpc_mc_decode_request(&r, &rq) < 0) {
        rp.status = AE_EINVAL;
        das_rpc_mc_encode_reply(reply, &rp, rq.op);
        das_rpc_mc_request_dispose(&rq);
        return;
    }
    rp.n = rq.n;
    rp.items = calloc(rq.n ? rq.n : 1, sizeof *rp.items);
    das_memcache_value_t *values = calloc(rq.n ? rq.n : 1, sizeof *values);
    if (!rp.items || !values)
        abort();
    memcache_call(s->memcache, &rq, &rp, values);
    if (rp.status != AE_OK)
        rp.n = 0;
    size_t start = reply->len;
    das_rpc_mc_encode_reply(reply, &rp, rq.op);
    if (reply->len - start > DAS_RPC_MAX_FRAME) {
        /* A get_multi whose values cannot travel in one frame: the call fails as a whole. */
        reply->len = start;
        rp.status = AE_ETOOLARGE;
        rp.n = 0;
        das_rpc_mc_encode_reply(reply, &rp, rq.op);
    }
    for (uint32_t i = 0; i < rq.n; i++)
        free(values[i].data);
    free(values);
    free(rp.items);
    das_rpc_mc_request_dispose(&rq);
}
