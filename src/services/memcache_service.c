/* memcache_service.c - the memcache service: decodes the calls of rpc_memcache.h, runs them on
 * the memcache stub, encodes the replies. Its row in table.c is `memcache`.
 */
#include "memcache_service.h"

#include <stdlib.h>
#include <string.h>

#include "memcache.h"
#include "rpc_memcache.h"
#include "service.h"

typedef struct {
    das_memcache_t *mc;
    das_clock_t *clock;
} memcache_service_t;

static int64_t now_ms(void *ctx)
{
    return das_clock_wall_ns(ctx) / 1000000;
}

static int create(const das_service_env_t *env, const void *options, void **state,
                  das_err_t *err)
{
    (void)err;
    const das_memcache_service_options_t *o = options;
    memcache_service_t *svc = das_xcalloc(1, sizeof *svc);
    das_memcache_options_t mo = {
        .max_bytes = o ? o->max_bytes : 0,
        .now_ms = now_ms,
        .clock_ctx = env->clock,
    };
    svc->mc = das_memcache_create(&mo);
    svc->clock = env->clock;
    *state = svc;
    return 0;
}

static void destroy(void *state)
{
    memcache_service_t *svc = state;
    if (!svc)
        return;
    das_memcache_destroy(svc->mc);
    free(svc);
}

/* Get: each item is encoded as soon as it is read, so a reply is never held twice, and the
 * reply stops growing as soon as it cannot travel in one frame (a get_multi naming one big
 * value many times must not grow the server by gigabytes first). */
static int run_get(das_memcache_t *mc, const das_rpc_mc_request_t *rq, das_call_out_t *out)
{
    das_rpc_buf_t *body = out->body;
    size_t start = body->len;
    das_rpc_put_u32(body, rq->n);
    for (uint32_t i = 0; i < rq->n; i++) {
        if (body->len - start > DAS_RPC_MAX_FRAME - 1024)
            return das_call_fail(out, AE_ETOOLARGE,
                                 "The response from API call memcache.Get() was too large.");
        das_memcache_value_t v = {0};
        das_rpc_mc_item_t it = {0};
        it.status = das_memcache_get(mc, rq->ns, rq->items[i].key, rq->items[i].key_len, &v);
        if (it.status == AE_OK) {
            it.value = v.data;
            it.value_len = v.len;
            it.flags = v.flags;
            it.cas = v.cas;
        }
        das_rpc_mc_encode_get_item(body, &it);
        free(v.data);
    }
    return AE_OK;
}

static int call(void *state, const das_call_ctx_t *ctx, const das_service_method_t *method,
                const void *body, size_t len, das_call_out_t *out)
{
    (void)ctx;
    das_memcache_t *mc = ((memcache_service_t *)state)->mc;
    uint32_t op = das_rpc_mc_method_op(method->name);
    das_rpc_mc_request_t rq;
    if (das_rpc_mc_decode_request(body, len, op, &rq) < 0) {
        das_rpc_mc_request_dispose(&rq);
        return das_call_fail(out, AE_EINVAL, "malformed memcache.%s() request (%zu bytes)",
                             method->name, len);
    }
    if (!das_memcache_namespace_is_valid(rq.ns)) {
        int rc = das_call_fail(out, AE_EINVAL,
                               "value \"%.120s\" does not match regex \"^[0-9A-Za-z._-]{0,100}$\"",
                               rq.ns);
        das_rpc_mc_request_dispose(&rq);
        return rc;
    }
    if (op == DAS_RPC_MC_STORE && rq.mode > DAS_MEMCACHE_CAS) {
        das_rpc_mc_request_dispose(&rq);
        return das_call_fail(out, AE_EINVAL, "memcache.Set(): unknown set policy %u", rq.mode);
    }
    if (op == DAS_RPC_MC_GET) {
        int rc = run_get(mc, &rq, out);
        das_rpc_mc_request_dispose(&rq);
        return rc;
    }
    das_rpc_mc_reply_t rp = {.n = rq.n};
    rp.items = das_xcalloc(rq.n ? rq.n : 1, sizeof *rp.items);
    for (uint32_t i = 0; i < rq.n; i++) {
        const das_rpc_mc_item_t *it = &rq.items[i];
        das_rpc_mc_item_t *o = &rp.items[i];
        switch (op) {
        case DAS_RPC_MC_STORE:
            o->status = das_memcache_store(mc, rq.ns, (das_memcache_mode_t)rq.mode, it->key,
                                           it->key_len, it->value, it->value_len, it->flags,
                                           it->expiration, it->cas);
            break;
        case DAS_RPC_MC_DELETE:
            o->status = das_memcache_delete(mc, rq.ns, it->key, it->key_len, rq.lock_seconds);
            break;
        case DAS_RPC_MC_OFFSET:
            o->status = das_memcache_offset(mc, rq.ns, it->key, it->key_len, it->delta,
                                            rq.has_initial ? &rq.initial : NULL, &o->new_value);
            break;
        }
    }
    if (op == DAS_RPC_MC_FLUSH)
        das_memcache_flush_all(mc);
    if (op == DAS_RPC_MC_STATS) {
        das_memcache_stats_t st;
        das_memcache_stats(mc, &st);
        rp.hits = st.hits;
        rp.misses = st.misses;
        rp.byte_hits = st.byte_hits;
        rp.items_count = st.items;
        rp.bytes = st.bytes;
        rp.oldest_item_age = st.oldest_item_age;
    }
    das_rpc_mc_encode_reply(out->body, &rp, op);
    free(rp.items);
    das_rpc_mc_request_dispose(&rq);
    return AE_OK;
}

static void stats(void *state, das_buf_t *out)
{
    das_memcache_stats_t st;
    das_memcache_stats(((memcache_service_t *)state)->mc, &st);
    das_buf_printf(out, "%llu hits, %llu misses, %llu byte hits, %llu items, %llu bytes, oldest "
                        "item %lld s",
                   (unsigned long long)st.hits, (unsigned long long)st.misses,
                   (unsigned long long)st.byte_hits, (unsigned long long)st.items,
                   (unsigned long long)st.bytes, (long long)st.oldest_item_age);
}

/* The keys of a call, as "namespace/key" (namespaces never hold '/'). */
static int keys(const void *body, size_t len, uint32_t op, das_key_cb emit, void *ctx)
{
    das_rpc_mc_request_t rq;
    if (das_rpc_mc_decode_request(body, len, op, &rq) < 0) {
        das_rpc_mc_request_dispose(&rq);
        return AE_EINVAL;
    }
    das_buf_t k = {0};
    for (uint32_t i = 0; i < rq.n; i++) {
        das_buf_reset(&k);
        das_buf_puts(&k, rq.ns);
        das_buf_append(&k, "/", 1);
        das_buf_append(&k, rq.items[i].key, rq.items[i].key_len);
        emit(ctx, k.data, k.len);
    }
    das_buf_dispose(&k);
    das_rpc_mc_request_dispose(&rq);
    return 0;
}

#define KEYS_OF(OP, fn)                                                                \
    static int fn(const void *body, size_t len, das_key_cb emit, void *ctx)            \
    {                                                                                  \
        return keys(body, len, OP, emit, ctx);                                         \
    }
KEYS_OF(DAS_RPC_MC_GET, get_keys)
KEYS_OF(DAS_RPC_MC_STORE, set_keys)
KEYS_OF(DAS_RPC_MC_DELETE, delete_keys)
KEYS_OF(DAS_RPC_MC_OFFSET, increment_keys)

/* The values, for traces: each item's, joined by ", "; a miss reads as (none). */
static void put_values(das_buf_t *out, const das_rpc_mc_item_t *items, uint32_t n, bool reply,
                       uint32_t op)
{
    for (uint32_t i = 0; i < n; i++) {
        if (i)
            das_buf_puts(out, ", ");
        const das_rpc_mc_item_t *it = &items[i];
        if (op == DAS_RPC_MC_OFFSET && reply && it->status == 0)
            das_buf_printf(out, "%llu", (unsigned long long)it->new_value);
        else if (reply && it->status != 0)
            das_buf_puts(out, "(none)");
        else
            das_buf_append(out, it->value, it->value_len);
    }
}

/* What a Get read; what a Set wrote; the new value an Increment made. */
static void value_of(const void *body, size_t len, const void *reply, size_t reply_len,
                     uint32_t op, das_buf_t *out)
{
    if (op == DAS_RPC_MC_STORE) {
        das_rpc_mc_request_t rq;
        if (das_rpc_mc_decode_request(body, len, op, &rq) == 0)
            put_values(out, rq.items, rq.n, false, op);
        das_rpc_mc_request_dispose(&rq);
    } else if (reply) {
        das_rpc_mc_reply_t rp;
        if (das_rpc_mc_decode_reply(reply, reply_len, op, &rp) == 0)
            put_values(out, rp.items, rp.n, true, op);
        das_rpc_mc_reply_dispose(&rp);
    }
}

#define VALUE_OF(OP, fn)                                                                    \
    static void fn(const void *body, size_t len, const void *reply, size_t reply_len,       \
                   das_buf_t *out)                                                          \
    {                                                                                       \
        value_of(body, len, reply, reply_len, OP, out);                                     \
    }
VALUE_OF(DAS_RPC_MC_GET, get_value)
VALUE_OF(DAS_RPC_MC_STORE, set_value)
VALUE_OF(DAS_RPC_MC_OFFSET, increment_value)

/* A Get's name ("gets" when the app asked for the cas ids); a Set's mode ("set", "add",
 * "replace", "cas"); an Increment's direction ("incr", "decr"). */
static void get_op(const void *body, size_t len, char out[32])
{
    das_rpc_mc_request_t rq;
    bool ok = das_rpc_mc_decode_request(body, len, DAS_RPC_MC_GET, &rq) == 0;
    snprintf(out, 32, "%s", ok && rq.mode == DAS_RPC_MC_FOR_CAS ? "gets" : "get");
    das_rpc_mc_request_dispose(&rq);
}

static void set_op(const void *body, size_t len, char out[32])
{
    static const char *const modes[] = {"set", "add", "replace", "cas"};
    das_rpc_mc_request_t rq;
    bool ok = das_rpc_mc_decode_request(body, len, DAS_RPC_MC_STORE, &rq) == 0;
    snprintf(out, 32, "%s", ok && rq.mode < 4 ? modes[rq.mode] : "set");
    das_rpc_mc_request_dispose(&rq);
}

static void increment_op(const void *body, size_t len, char out[32])
{
    das_rpc_mc_request_t rq;
    bool ok = das_rpc_mc_decode_request(body, len, DAS_RPC_MC_OFFSET, &rq) == 0;
    snprintf(out, 32, "%s", ok && rq.n > 0 && rq.items[0].delta < 0 ? "decr" : "incr");
    das_rpc_mc_request_dispose(&rq);
}

static void flush_op(const void *body, size_t len, char out[32])
{
    (void)body;
    (void)len;
    snprintf(out, 32, "flush_all");
}

static const das_service_method_t methods[] = {
    {"Get", DAS_ACCESS_READ, false, get_keys, get_value, false, get_op, false},
    {"Set", DAS_ACCESS_WRITE, false, set_keys, set_value, false, set_op, false},
    {"Delete", DAS_ACCESS_WRITE, false, delete_keys, NULL, false, NULL, false},
    {"Increment", DAS_ACCESS_WRITE, false, increment_keys, increment_value, false,
     increment_op, false},
    {"FlushAll", DAS_ACCESS_WRITE, true, NULL, NULL, false, flush_op, false},
    {"Stats", DAS_ACCESS_READ, true, NULL, NULL, false, NULL, false},
};

const das_service_def_t das_memcache_service = {
    .name = "memcache",
    .create = create,
    .destroy = destroy,
    .call = call,
    .stats = stats,
    .methods = methods,
    .n_methods = sizeof methods / sizeof methods[0],
};
