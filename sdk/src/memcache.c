/* memcache.c - the SDK's memcache calls: each builds one batch request for the memcache
 * service, sends it through the request's transport (the instance's slot socket, or the
 * testbed), and copies the answers into the request's arena.
 */
#include <appengine/memcache.h>

#include <stdlib.h>
#include <string.h>

#include "rpc_memcache.h"
#include "sdk_internal.h"

void ae_memcache_set_namespace(ae_request_t *rq, const char *ns)
{
    rq->memcache_ns = ns;
}

/* Sends `mrq` and decodes the reply into `rp` (dispose it, and `c`, after use). */
static int call(ae_request_t *rq, das_rpc_mc_request_t *mrq, ae__call_t *c,
                das_rpc_mc_reply_t *rp)
{
    mrq->ns = rq->memcache_ns ? rq->memcache_ns : "";
    das_rpc_buf_t *body = ae__call_begin(rq, c, DAS_RPC_SERVICE_MEMCACHE,
                                         das_rpc_mc_method_name(mrq->op));
    das_rpc_mc_encode_request(body, mrq);
    int rc = ae__call_send(rq, c);
    memset(rp, 0, sizeof *rp);
    if (rc < 0)
        return rc;
    if (das_rpc_mc_decode_reply(c->reply, c->reply_len, mrq->op, rp) < 0 || rp->n != mrq->n)
        return ae__fail(rq, AE_EINTERNAL, "malformed reply to memcache.%s()",
                        das_rpc_mc_method_name(mrq->op));
    return AE_OK;
}

static das_rpc_mc_item_t *key_items(const char *const *keys, size_t n)
{
    das_rpc_mc_item_t *items = calloc(n ? n : 1, sizeof *items);
    if (!items)
        abort();
    for (size_t i = 0; i < n; i++) {
        items[i].key = keys[i];
        items[i].key_len = strlen(keys[i]);
    }
    return items;
}

/* Get, or with `for_cas` gets (the same values; the trace names the operation). */
static int get_multi(ae_request_t *rq, const char *const *keys, size_t n,
                     ae_memcache_value_t *values, int *statuses, bool for_cas)
{
    das_rpc_mc_request_t mrq = {.op = DAS_RPC_MC_GET, .n = (uint32_t)n,
                                .mode = for_cas ? DAS_RPC_MC_FOR_CAS : 0};
    mrq.items = key_items(keys, n);
    ae__call_t c;
    das_rpc_mc_reply_t rp;
    int rc = call(rq, &mrq, &c, &rp);
    for (size_t i = 0; i < n; i++) {
        memset(&values[i], 0, sizeof values[i]);
        statuses[i] = rc == AE_OK ? rp.items[i].status : rc;
        if (statuses[i] != AE_OK)
            continue;
        values[i].data = das_arena_strndup(&rq->arena, rp.items[i].value,
                                           rp.items[i].value_len);
        values[i].len = rp.items[i].value_len;
        values[i].flags = rp.items[i].flags;
        values[i].cas = rp.items[i].cas;
    }
    das_rpc_mc_reply_dispose(&rp);
    ae__call_dispose(&c);
    free(mrq.items);
    return rc;
}

int ae_memcache_get_multi(ae_request_t *rq, const char *const *keys, size_t n,
                          ae_memcache_value_t *values, int *statuses)
{
    return get_multi(rq, keys, n, values, statuses, false);
}

int ae_memcache_get(ae_request_t *rq, const char *key, ae_memcache_value_t *out)
{
    int status;
    int rc = get_multi(rq, &key, 1, out, &status, false);
    return rc < 0 ? rc : status;
}

int ae_memcache_gets(ae_request_t *rq, const char *key, ae_memcache_value_t *out)
{
    int status;
    int rc = get_multi(rq, &key, 1, out, &status, true);
    return rc < 0 ? rc : status;
}

/* mode: 0 set, 1 add, 2 replace, 3 cas (das_memcache_mode_t's order). */
static int store_multi(ae_request_t *rq, uint32_t mode, ae_memcache_item_t *items, size_t n)
{
    das_rpc_mc_request_t mrq = {.op = DAS_RPC_MC_STORE, .mode = mode, .n = (uint32_t)n};
    mrq.items = calloc(n ? n : 1, sizeof *mrq.items);
    if (!mrq.items)
        abort();
    for (size_t i = 0; i < n; i++) {
        mrq.items[i] = (das_rpc_mc_item_t){
            .key = items[i].key,
            .key_len = strlen(items[i].key),
            .value = items[i].data,
            .value_len = items[i].len,
            .flags = items[i].flags,
            .expiration = items[i].expiration,
            .cas = items[i].cas,
        };
    }
    ae__call_t c;
    das_rpc_mc_reply_t rp;
    int rc = call(rq, &mrq, &c, &rp);
    for (size_t i = 0; i < n; i++)
        items[i].status = rc == AE_OK ? rp.items[i].status : rc;
    das_rpc_mc_reply_dispose(&rp);
    ae__call_dispose(&c);
    free(mrq.items);
    return rc;
}

static int store_one(ae_request_t *rq, uint32_t mode, const char *key, const void *data,
                     size_t len, uint32_t flags, int64_t expiration, uint64_t cas)
{
    if (len > AE_MEMCACHE_MAX_VALUE) /* refused before the round trip, as the platform's
                                        client did, in its words */
        return ae__fail(rq, AE_ETOOLARGE,
                        "Values may not be more than %d bytes in length; received %zu bytes",
                        AE_MEMCACHE_MAX_VALUE, len);
    ae_memcache_item_t it = {key, data, len, flags, expiration, cas, 0};
    int rc = store_multi(rq, mode, &it, 1);
    return rc < 0 ? rc : it.status;
}

int ae_memcache_set(ae_request_t *rq, const char *key, const void *data, size_t len,
                    uint32_t flags, int64_t expiration)
{
    return store_one(rq, 0, key, data, len, flags, expiration, 0);
}

int ae_memcache_add(ae_request_t *rq, const char *key, const void *data, size_t len,
                    uint32_t flags, int64_t expiration)
{
    return store_one(rq, 1, key, data, len, flags, expiration, 0);
}

int ae_memcache_replace(ae_request_t *rq, const char *key, const void *data, size_t len,
                        uint32_t flags, int64_t expiration)
{
    return store_one(rq, 2, key, data, len, flags, expiration, 0);
}

int ae_memcache_cas(ae_request_t *rq, const char *key, const void *data, size_t len,
                    uint32_t flags, int64_t expiration, uint64_t cas)
{
    return store_one(rq, 3, key, data, len, flags, expiration, cas);
}

int ae_memcache_set_multi(ae_request_t *rq, ae_memcache_item_t *items, size_t n)
{
    return store_multi(rq, 0, items, n);
}

int ae_memcache_add_multi(ae_request_t *rq, ae_memcache_item_t *items, size_t n)
{
    return store_multi(rq, 1, items, n);
}

int ae_memcache_replace_multi(ae_request_t *rq, ae_memcache_item_t *items, size_t n)
{
    return store_multi(rq, 2, items, n);
}

int ae_memcache_cas_multi(ae_request_t *rq, ae_memcache_item_t *items, size_t n)
{
    return store_multi(rq, 3, items, n);
}

int ae_memcache_delete_multi(ae_request_t *rq, const char *const *keys, size_t n,
                             int64_t lock_seconds, int *statuses)
{
    das_rpc_mc_request_t mrq = {.op = DAS_RPC_MC_DELETE, .lock_seconds = lock_seconds,
                                .n = (uint32_t)n};
    mrq.items = key_items(keys, n);
    ae__call_t c;
    das_rpc_mc_reply_t rp;
    int rc = call(rq, &mrq, &c, &rp);
    for (size_t i = 0; i < n; i++)
        statuses[i] = rc == AE_OK ? rp.items[i].status : rc;
    das_rpc_mc_reply_dispose(&rp);
    ae__call_dispose(&c);
    free(mrq.items);
    return rc;
}

int ae_memcache_delete(ae_request_t *rq, const char *key, int64_t lock_seconds)
{
    int status;
    int rc = ae_memcache_delete_multi(rq, &key, 1, lock_seconds, &status);
    return rc < 0 ? rc : status;
}

int ae_memcache_offset_multi(ae_request_t *rq, ae_memcache_offset_t *items, size_t n,
                             const uint64_t *initial)
{
    das_rpc_mc_request_t mrq = {.op = DAS_RPC_MC_OFFSET, .has_initial = initial != NULL,
                                .initial = initial ? *initial : 0, .n = (uint32_t)n};
    mrq.items = calloc(n ? n : 1, sizeof *mrq.items);
    if (!mrq.items)
        abort();
    for (size_t i = 0; i < n; i++) {
        mrq.items[i].key = items[i].key;
        mrq.items[i].key_len = strlen(items[i].key);
        mrq.items[i].delta = items[i].delta;
    }
    ae__call_t c;
    das_rpc_mc_reply_t rp;
    int rc = call(rq, &mrq, &c, &rp);
    for (size_t i = 0; i < n; i++) {
        items[i].status = rc == AE_OK ? rp.items[i].status : rc;
        items[i].new_value = rc == AE_OK ? rp.items[i].new_value : 0;
    }
    das_rpc_mc_reply_dispose(&rp);
    ae__call_dispose(&c);
    free(mrq.items);
    return rc;
}

static int offset_one(ae_request_t *rq, const char *key, int64_t delta, const uint64_t *initial,
                      uint64_t *new_value)
{
    ae_memcache_offset_t it = {key, delta, 0, 0};
    int rc = ae_memcache_offset_multi(rq, &it, 1, initial);
    if (rc < 0)
        return rc;
    if (new_value)
        *new_value = it.new_value;
    return it.status;
}

int ae_memcache_incr(ae_request_t *rq, const char *key, uint64_t delta, const uint64_t *initial,
                     uint64_t *new_value)
{
    if (delta > (uint64_t)INT64_MAX)
        return ae__fail(rq, AE_EINVAL, "delta must be at most 2^63 - 1; received %llu",
                        (unsigned long long)delta);
    return offset_one(rq, key, (int64_t)delta, initial, new_value);
}

int ae_memcache_decr(ae_request_t *rq, const char *key, uint64_t delta, const uint64_t *initial,
                     uint64_t *new_value)
{
    if (delta > (uint64_t)INT64_MAX)
        return ae__fail(rq, AE_EINVAL, "delta must be at most 2^63 - 1; received %llu",
                        (unsigned long long)delta);
    return offset_one(rq, key, -(int64_t)delta, initial, new_value);
}

int ae_memcache_flush_all(ae_request_t *rq)
{
    das_rpc_mc_request_t mrq = {.op = DAS_RPC_MC_FLUSH};
    ae__call_t c;
    das_rpc_mc_reply_t rp;
    int rc = call(rq, &mrq, &c, &rp);
    das_rpc_mc_reply_dispose(&rp);
    ae__call_dispose(&c);
    return rc;
}

int ae_memcache_stats(ae_request_t *rq, ae_memcache_stats_t *out)
{
    das_rpc_mc_request_t mrq = {.op = DAS_RPC_MC_STATS};
    ae__call_t c;
    das_rpc_mc_reply_t rp;
    int rc = call(rq, &mrq, &c, &rp);
    memset(out, 0, sizeof *out);
    if (rc == AE_OK) {
        out->hits = rp.hits;
        out->misses = rp.misses;
        out->byte_hits = rp.byte_hits;
        out->items = rp.items_count;
        out->bytes = rp.bytes;
        out->oldest_item_age = rp.oldest_item_age;
    }
    das_rpc_mc_reply_dispose(&rp);
    ae__call_dispose(&c);
    return rc;
}
