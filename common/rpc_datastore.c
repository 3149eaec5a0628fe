/* rpc_datastore.c - encoding and decoding of datastore request and reply bodies, and the
 * platform's URL-safe key strings. See rpc_datastore.h for the layouts.
 */
#include "rpc_datastore.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

static const char *const method_names[] = {
    [DAS_RPC_DS_GET] = "Get",
    [DAS_RPC_DS_PUT] = "Put",
    [DAS_RPC_DS_DELETE] = "Delete",
    [DAS_RPC_DS_RUN_QUERY] = "RunQuery",
    [DAS_RPC_DS_BEGIN] = "BeginTransaction",
    [DAS_RPC_DS_COMMIT] = "Commit",
    [DAS_RPC_DS_ROLLBACK] = "Rollback",
    [DAS_RPC_DS_ALLOCATE_IDS] = "AllocateIds",
};

const char *das_rpc_ds_method_name(uint32_t op)
{
    return op >= DAS_RPC_DS_GET && op <= DAS_RPC_DS_ALLOCATE_IDS ? method_names[op] : NULL;
}

uint32_t das_rpc_ds_method_op(const char *method)
{
    for (uint32_t op = DAS_RPC_DS_GET; op <= DAS_RPC_DS_ALLOCATE_IDS; op++)
        if (strcmp(method_names[op], method) == 0)
            return op;
    return 0;
}

/* Decoded arrays grow as their items are read, from room for a few: a count on the wire costs
 * memory only once its items are there. Allocated whole at its count (which the payload's
 * remaining bytes bound, not what is left once the earlier items are read), a list at each of
 * the 100 levels that embedded entities nest could claim the payload's worth of items: a 1 MiB
 * Put made the decoder zero about 1 GB before it found the payload short. */
#define FIRST_ITEMS 8u

static void *start_array(das_arena_t *a, uint32_t n, uint32_t *cap, size_t size)
{
    *cap = n < FIRST_ITEMS ? (n ? n : 1) : FIRST_ITEMS;
    return das_arena_calloc(a, *cap * size);
}

/* The array `items` (room for *cap, `used` read) with room for at least one more. */
static void *grow_array(das_arena_t *a, const void *items, uint32_t *cap, uint32_t used,
                        size_t size)
{
    if (used < *cap)
        return (void *)items;
    uint32_t ncap = *cap * 2; /* <= 2 * DAS_RPC_DS_MAX_ITEMS */
    void *grown = das_arena_calloc(a, (size_t)ncap * size);
    memcpy(grown, items, (size_t)used * size);
    *cap = ncap;
    return grown;
}

/* ---------------------------------------------------------------- pieces: encoding */

#define FLAG_INDEXED 1u
#define FLAG_MULTIPLE 2u

void das_rpc_ds_put_key(das_rpc_buf_t *b, const das_rpc_ds_key_t *k)
{
    das_rpc_put_str(b, k->app);
    das_rpc_put_str(b, k->ns);
    das_rpc_put_u32(b, k->n);
    for (uint32_t i = 0; i < k->n; i++) {
        das_rpc_put_str(b, k->path[i].kind);
        das_rpc_put_i64(b, k->path[i].id);
        das_rpc_put_str(b, k->path[i].name);
    }
}

void das_rpc_ds_put_value(das_rpc_buf_t *b, const das_rpc_ds_value_t *v)
{
    das_rpc_put_u32(b, v->type);
    switch (v->type) {
    case DAS_RPC_DS_INT:
    case DAS_RPC_DS_TIME: das_rpc_put_i64(b, v->u.i); break;
    case DAS_RPC_DS_BOOL: das_rpc_put_u32(b, v->u.b ? 1 : 0); break;
    case DAS_RPC_DS_DOUBLE: das_rpc_put_double(b, v->u.d); break;
    case DAS_RPC_DS_STRING:
    case DAS_RPC_DS_BYTES:
    case DAS_RPC_DS_TEXT:
    case DAS_RPC_DS_BLOB: das_rpc_put_bytes(b, v->u.s.p, v->u.s.n); break;
    case DAS_RPC_DS_GEOPT:
        das_rpc_put_double(b, v->u.geo.lat);
        das_rpc_put_double(b, v->u.geo.lng);
        break;
    case DAS_RPC_DS_USER:
        das_rpc_put_str(b, v->u.user.email);
        das_rpc_put_str(b, v->u.user.auth_domain);
        das_rpc_put_str(b, v->u.user.user_id);
        break;
    case DAS_RPC_DS_KEY: das_rpc_ds_put_key(b, v->u.key); break;
    case DAS_RPC_DS_ENTITY: das_rpc_ds_put_entity(b, v->u.entity); break;
    default: break; /* NULL (and nothing else is built by a caller) */
    }
}

void das_rpc_ds_put_entity(das_rpc_buf_t *b, const das_rpc_ds_entity_t *e)
{
    das_rpc_ds_put_key(b, &e->key);
    das_rpc_put_u32(b, e->n);
    for (uint32_t i = 0; i < e->n; i++) {
        const das_rpc_ds_prop_t *p = &e->props[i];
        das_rpc_put_str(b, p->name);
        das_rpc_put_u32(b, (p->indexed ? FLAG_INDEXED : 0) | (p->multiple ? FLAG_MULTIPLE : 0));
        das_rpc_put_u32(b, p->n);
        for (uint32_t j = 0; j < p->n; j++)
            das_rpc_ds_put_value(b, &p->values[j]);
    }
}

void das_rpc_ds_put_query(das_rpc_buf_t *b, const das_rpc_ds_query_t *q)
{
    das_rpc_put_str(b, q->ns);
    das_rpc_put_str(b, q->kind);
    das_rpc_put_u32(b, q->ancestor != NULL);
    if (q->ancestor)
        das_rpc_ds_put_key(b, q->ancestor);
    das_rpc_put_u32(b, q->n_filters);
    for (uint32_t i = 0; i < q->n_filters; i++) {
        const das_rpc_ds_filter_t *f = &q->filters[i];
        das_rpc_put_str(b, f->prop);
        das_rpc_put_u32(b, f->op);
        das_rpc_put_u32(b, f->n);
        for (uint32_t j = 0; j < f->n; j++)
            das_rpc_ds_put_value(b, &f->values[j]);
    }
    das_rpc_put_u32(b, q->n_orders);
    for (uint32_t i = 0; i < q->n_orders; i++) {
        das_rpc_put_str(b, q->orders[i].prop);
        das_rpc_put_u32(b, q->orders[i].desc ? 1 : 0);
    }
    das_rpc_put_u32(b, q->keys_only ? 1 : 0);
    das_rpc_put_u32(b, q->n_projection);
    for (uint32_t i = 0; i < q->n_projection; i++)
        das_rpc_put_str(b, q->projection[i]);
    das_rpc_put_u32(b, q->distinct ? 1 : 0);
    das_rpc_put_i64(b, q->limit);
    das_rpc_put_i64(b, q->offset);
    das_rpc_put_str(b, q->start_cursor);
    das_rpc_put_str(b, q->end_cursor);
    das_rpc_put_u32(b, q->count_only ? 1 : 0);
}

/* ---------------------------------------------------------------- pieces: decoding */

/* The smallest each piece can be on the wire, for das_rpc_get_count. */
#define MIN_STR 5
#define MIN_ELEM (MIN_STR + 8 + MIN_STR)
#define MIN_KEY (MIN_STR + MIN_STR + 4)
#define MIN_VALUE 4
#define MIN_PROP (MIN_STR + 4 + 4)
#define MIN_ENTITY (MIN_KEY + 4)
#define MIN_FILTER (MIN_STR + 4 + 4)
#define MIN_ORDER (MIN_STR + 4)

/* A string where "" stands for NULL. */
static const char *get_opt_str(das_rpc_reader_t *r)
{
    const char *s = das_rpc_get_str(r);
    return s[0] ? s : NULL;
}

static bool get_bool(das_rpc_reader_t *r)
{
    uint32_t v = das_rpc_get_u32(r);
    if (v > 1)
        r->bad = 1;
    return v == 1;
}

void das_rpc_ds_get_key(das_rpc_reader_t *r, das_arena_t *a, das_rpc_ds_key_t *k)
{
    k->app = get_opt_str(r);
    k->ns = das_rpc_get_str(r);
    k->n = das_rpc_get_count(r, MIN_ELEM, DAS_RPC_DS_MAX_ITEMS);
    uint32_t cap;
    k->path = start_array(a, k->n, &cap, sizeof *k->path);
    for (uint32_t i = 0; !r->bad && i < k->n; i++) {
        k->path = grow_array(a, k->path, &cap, i, sizeof *k->path);
        k->path[i].kind = das_rpc_get_str(r);
        k->path[i].id = das_rpc_get_i64(r);
        k->path[i].name = get_opt_str(r);
    }
    if (r->bad)
        k->n = 0;
}

static void get_entity(das_rpc_reader_t *r, das_arena_t *a, das_rpc_ds_entity_t *e,
                       int depth);

static void get_value(das_rpc_reader_t *r, das_arena_t *a, das_rpc_ds_value_t *v,
                      int depth)
{
    v->type = das_rpc_get_u32(r);
    switch (v->type) {
    case DAS_RPC_DS_NULL: break;
    case DAS_RPC_DS_INT:
    case DAS_RPC_DS_TIME: v->u.i = das_rpc_get_i64(r); break;
    case DAS_RPC_DS_BOOL: v->u.b = get_bool(r); break;
    case DAS_RPC_DS_DOUBLE: v->u.d = das_rpc_get_double(r); break;
    case DAS_RPC_DS_STRING:
    case DAS_RPC_DS_BYTES:
    case DAS_RPC_DS_TEXT:
    case DAS_RPC_DS_BLOB: v->u.s.p = das_rpc_get_bytes(r, &v->u.s.n); break;
    case DAS_RPC_DS_GEOPT:
        v->u.geo.lat = das_rpc_get_double(r);
        v->u.geo.lng = das_rpc_get_double(r);
        break;
    case DAS_RPC_DS_USER:
        v->u.user.email = das_rpc_get_str(r);
        v->u.user.auth_domain = das_rpc_get_str(r);
        v->u.user.user_id = das_rpc_get_str(r);
        break;
    case DAS_RPC_DS_KEY:
        v->u.key = das_arena_calloc(a, sizeof *v->u.key);
        das_rpc_ds_get_key(r, a, v->u.key);
        break;
    case DAS_RPC_DS_ENTITY:
        v->u.entity = das_arena_calloc(a, sizeof *v->u.entity);
        if (depth >= DAS_RPC_DS_MAX_DEPTH)
            r->bad = 1;
        else
            get_entity(r, a, v->u.entity, depth + 1);
        break;
    default: r->bad = 1; break;
    }
    if (r->bad)
        v->type = DAS_RPC_DS_NULL;
}

static void get_entity(das_rpc_reader_t *r, das_arena_t *a, das_rpc_ds_entity_t *e,
                       int depth)
{
    das_rpc_ds_get_key(r, a, &e->key);
    e->n = das_rpc_get_count(r, MIN_PROP, DAS_RPC_DS_MAX_ITEMS);
    uint32_t cap, vcap;
    e->props = start_array(a, e->n, &cap, sizeof *e->props);
    for (uint32_t i = 0; !r->bad && i < e->n; i++) {
        e->props = grow_array(a, e->props, &cap, i, sizeof *e->props);
        das_rpc_ds_prop_t *p = &e->props[i];
        p->name = das_rpc_get_str(r);
        uint32_t flags = das_rpc_get_u32(r);
        if (flags & ~(FLAG_INDEXED | FLAG_MULTIPLE))
            r->bad = 1;
        p->indexed = flags & FLAG_INDEXED;
        p->multiple = flags & FLAG_MULTIPLE;
        p->n = das_rpc_get_count(r, MIN_VALUE, DAS_RPC_DS_MAX_ITEMS);
        p->values = start_array(a, p->n, &vcap, sizeof *p->values);
        for (uint32_t j = 0; !r->bad && j < p->n; j++) {
            p->values = grow_array(a, p->values, &vcap, j, sizeof *p->values);
            get_value(r, a, &p->values[j], depth);
        }
        if (r->bad)
            p->n = 0;
    }
    if (r->bad)
        e->n = 0;
}

void das_rpc_ds_get_value(das_rpc_reader_t *r, das_arena_t *a, das_rpc_ds_value_t *v)
{
    get_value(r, a, v, 0);
}

void das_rpc_ds_get_entity(das_rpc_reader_t *r, das_arena_t *a, das_rpc_ds_entity_t *e)
{
    get_entity(r, a, e, 0);
}

void das_rpc_ds_get_query(das_rpc_reader_t *r, das_arena_t *a, das_rpc_ds_query_t *q)
{
    memset(q, 0, sizeof *q);
    q->ns = das_rpc_get_str(r);
    q->kind = get_opt_str(r);
    if (get_bool(r)) {
        q->ancestor = das_arena_calloc(a, sizeof *q->ancestor);
        das_rpc_ds_get_key(r, a, q->ancestor);
    }
    q->n_filters = das_rpc_get_count(r, MIN_FILTER, DAS_RPC_DS_MAX_ITEMS);
    uint32_t cap, vcap;
    q->filters = start_array(a, q->n_filters, &cap, sizeof *q->filters);
    for (uint32_t i = 0; !r->bad && i < q->n_filters; i++) {
        q->filters = grow_array(a, q->filters, &cap, i, sizeof *q->filters);
        das_rpc_ds_filter_t *f = &q->filters[i];
        f->prop = das_rpc_get_str(r);
        f->op = das_rpc_get_u32(r);
        if (f->op < DAS_RPC_DS_LT || f->op > DAS_RPC_DS_NE)
            r->bad = 1;
        f->n = das_rpc_get_count(r, MIN_VALUE, DAS_RPC_DS_MAX_ITEMS);
        f->values = start_array(a, f->n, &vcap, sizeof *f->values);
        for (uint32_t j = 0; !r->bad && j < f->n; j++) {
            f->values = grow_array(a, f->values, &vcap, j, sizeof *f->values);
            get_value(r, a, &f->values[j], 0);
        }
    }
    q->n_orders = das_rpc_get_count(r, MIN_ORDER, DAS_RPC_DS_MAX_ITEMS);
    q->orders = start_array(a, q->n_orders, &cap, sizeof *q->orders);
    for (uint32_t i = 0; !r->bad && i < q->n_orders; i++) {
        q->orders = grow_array(a, q->orders, &cap, i, sizeof *q->orders);
        q->orders[i].prop = das_rpc_get_str(r);
        q->orders[i].desc = get_bool(r);
    }
    q->keys_only = get_bool(r);
    q->n_projection = das_rpc_get_count(r, MIN_STR, DAS_RPC_DS_MAX_ITEMS);
    q->projection = start_array(a, q->n_projection, &cap, sizeof *q->projection);
    for (uint32_t i = 0; !r->bad && i < q->n_projection; i++) {
        q->projection = grow_array(a, q->projection, &cap, i, sizeof *q->projection);
        q->projection[i] = das_rpc_get_str(r);
    }
    q->distinct = get_bool(r);
    q->limit = das_rpc_get_i64(r);
    q->offset = das_rpc_get_i64(r);
    q->start_cursor = get_opt_str(r);
    q->end_cursor = get_opt_str(r);
    q->count_only = get_bool(r);
    if (r->bad) {
        q->n_filters = q->n_orders = q->n_projection = 0;
        q->ancestor = NULL;
    }
}

/* ---------------------------------------------------------------- requests */

void das_rpc_ds_encode_request(das_rpc_buf_t *b, const das_rpc_ds_request_t *rq)
{
    switch (rq->op) {
    case DAS_RPC_DS_GET:
    case DAS_RPC_DS_DELETE:
        das_rpc_put_u64(b, rq->txn);
        das_rpc_put_u32(b, rq->n);
        for (uint32_t i = 0; i < rq->n; i++)
            das_rpc_ds_put_key(b, &rq->keys[i]);
        break;
    case DAS_RPC_DS_PUT:
        das_rpc_put_u64(b, rq->txn);
        das_rpc_put_u32(b, rq->n);
        for (uint32_t i = 0; i < rq->n; i++)
            das_rpc_ds_put_entity(b, &rq->entities[i]);
        break;
    case DAS_RPC_DS_RUN_QUERY:
        das_rpc_put_u64(b, rq->txn);
        das_rpc_ds_put_query(b, &rq->query);
        break;
    case DAS_RPC_DS_BEGIN:
        das_rpc_put_u32(b, rq->xg ? 1 : 0);
        das_rpc_put_u32(b, rq->read_only ? 1 : 0);
        break;
    case DAS_RPC_DS_COMMIT:
    case DAS_RPC_DS_ROLLBACK: das_rpc_put_u64(b, rq->txn); break;
    case DAS_RPC_DS_ALLOCATE_IDS:
        das_rpc_ds_put_key(b, &rq->model);
        das_rpc_put_i64(b, rq->size);
        das_rpc_put_i64(b, rq->max);
        break;
    }
}

int das_rpc_ds_decode_request(const void *data, size_t len, uint32_t op,
                              das_rpc_ds_request_t *rq)
{
    das_rpc_reader_t rd, *r = &rd;
    das_rpc_reader_init(r, data, len);
    memset(rq, 0, sizeof *rq);
    rq->op = op;
    das_arena_t *a = &rq->storage_;
    uint32_t cap;
    switch (op) {
    case DAS_RPC_DS_GET:
    case DAS_RPC_DS_DELETE:
        rq->txn = das_rpc_get_u64(r);
        rq->n = das_rpc_get_count(r, MIN_KEY, DAS_RPC_DS_MAX_ITEMS);
        rq->keys = start_array(a, rq->n, &cap, sizeof *rq->keys);
        for (uint32_t i = 0; !r->bad && i < rq->n; i++) {
            rq->keys = grow_array(a, rq->keys, &cap, i, sizeof *rq->keys);
            das_rpc_ds_get_key(r, a, &rq->keys[i]);
        }
        break;
    case DAS_RPC_DS_PUT:
        rq->txn = das_rpc_get_u64(r);
        rq->n = das_rpc_get_count(r, MIN_ENTITY, DAS_RPC_DS_MAX_ITEMS);
        rq->entities = start_array(a, rq->n, &cap, sizeof *rq->entities);
        for (uint32_t i = 0; !r->bad && i < rq->n; i++) {
            rq->entities = grow_array(a, rq->entities, &cap, i, sizeof *rq->entities);
            das_rpc_ds_get_entity(r, a, &rq->entities[i]);
        }
        break;
    case DAS_RPC_DS_RUN_QUERY:
        rq->txn = das_rpc_get_u64(r);
        das_rpc_ds_get_query(r, a, &rq->query);
        break;
    case DAS_RPC_DS_BEGIN:
        rq->xg = get_bool(r);
        rq->read_only = get_bool(r);
        break;
    case DAS_RPC_DS_COMMIT:
    case DAS_RPC_DS_ROLLBACK: rq->txn = das_rpc_get_u64(r); break;
    case DAS_RPC_DS_ALLOCATE_IDS:
        das_rpc_ds_get_key(r, a, &rq->model);
        rq->size = das_rpc_get_i64(r);
        rq->max = das_rpc_get_i64(r);
        break;
    default: r->bad = 1; break;
    }
    if (!das_rpc_reader_done(r)) {
        rq->n = 0;
        return -EPROTO;
    }
    return 0;
}

void das_rpc_ds_request_dispose(das_rpc_ds_request_t *rq)
{
    das_arena_dispose(&rq->storage_);
    rq->n = 0;
    rq->keys = NULL;
    rq->entities = NULL;
}

/* ---------------------------------------------------------------- replies */

void das_rpc_ds_encode_reply(das_rpc_buf_t *b, const das_rpc_ds_reply_t *rp, uint32_t op)
{
    switch (op) {
    case DAS_RPC_DS_GET:
        das_rpc_put_u32(b, rp->n);
        for (uint32_t i = 0; i < rp->n; i++) {
            das_rpc_put_u32(b, rp->entities[i] != NULL);
            if (rp->entities[i])
                das_rpc_ds_put_entity(b, rp->entities[i]);
        }
        break;
    case DAS_RPC_DS_PUT:
        das_rpc_put_u32(b, rp->n);
        for (uint32_t i = 0; i < rp->n; i++)
            das_rpc_ds_put_key(b, &rp->keys[i]);
        break;
    case DAS_RPC_DS_RUN_QUERY:
        das_rpc_put_u32(b, rp->n);
        for (uint32_t i = 0; i < rp->n; i++)
            das_rpc_ds_put_entity(b, rp->entities[i]);
        das_rpc_put_str(b, rp->cursor);
        das_rpc_put_u32(b, rp->more ? 1 : 0);
        das_rpc_put_i64(b, rp->count);
        das_rpc_put_i64(b, rp->skipped);
        break;
    case DAS_RPC_DS_BEGIN: das_rpc_put_u64(b, rp->handle); break;
    case DAS_RPC_DS_ALLOCATE_IDS:
        das_rpc_put_i64(b, rp->start);
        das_rpc_put_i64(b, rp->end);
        break;
    default: break; /* DELETE, COMMIT, ROLLBACK: empty */
    }
}

int das_rpc_ds_decode_reply(const void *data, size_t len, uint32_t op, das_rpc_ds_reply_t *rp)
{
    das_rpc_reader_t rd, *r = &rd;
    das_rpc_reader_init(r, data, len);
    memset(rp, 0, sizeof *rp);
    das_arena_t *a = &rp->storage_;
    uint32_t cap;
    switch (op) {
    case DAS_RPC_DS_GET:
        rp->n = das_rpc_get_count(r, 4, DAS_RPC_DS_MAX_ITEMS);
        rp->entities = start_array(a, rp->n, &cap, sizeof *rp->entities);
        for (uint32_t i = 0; !r->bad && i < rp->n; i++) {
            rp->entities = grow_array(a, rp->entities, &cap, i, sizeof *rp->entities);
            if (!get_bool(r))
                continue;
            rp->entities[i] = das_arena_calloc(a, sizeof *rp->entities[i]);
            das_rpc_ds_get_entity(r, a, rp->entities[i]);
        }
        break;
    case DAS_RPC_DS_PUT:
        rp->n = das_rpc_get_count(r, MIN_KEY, DAS_RPC_DS_MAX_ITEMS);
        rp->keys = start_array(a, rp->n, &cap, sizeof *rp->keys);
        for (uint32_t i = 0; !r->bad && i < rp->n; i++) {
            rp->keys = grow_array(a, rp->keys, &cap, i, sizeof *rp->keys);
            das_rpc_ds_get_key(r, a, &rp->keys[i]);
        }
        break;
    case DAS_RPC_DS_RUN_QUERY:
        rp->n = das_rpc_get_count(r, MIN_ENTITY, DAS_RPC_DS_MAX_ITEMS);
        rp->entities = start_array(a, rp->n, &cap, sizeof *rp->entities);
        for (uint32_t i = 0; !r->bad && i < rp->n; i++) {
            rp->entities = grow_array(a, rp->entities, &cap, i, sizeof *rp->entities);
            rp->entities[i] = das_arena_calloc(a, sizeof *rp->entities[i]);
            das_rpc_ds_get_entity(r, a, rp->entities[i]);
        }
        rp->cursor = get_opt_str(r);
        rp->more = get_bool(r);
        rp->count = das_rpc_get_i64(r);
        rp->skipped = das_rpc_get_i64(r);
        break;
    case DAS_RPC_DS_BEGIN: rp->handle = das_rpc_get_u64(r); break;
    case DAS_RPC_DS_ALLOCATE_IDS:
        rp->start = das_rpc_get_i64(r);
        rp->end = das_rpc_get_i64(r);
        break;
    case DAS_RPC_DS_DELETE:
    case DAS_RPC_DS_COMMIT:
    case DAS_RPC_DS_ROLLBACK: break;
    default: r->bad = 1; break;
    }
    if (!das_rpc_reader_done(r)) {
        rp->n = 0;
        return -EPROTO;
    }
    return 0;
}

void das_rpc_ds_reply_dispose(das_rpc_ds_reply_t *rp)
{
    das_arena_dispose(&rp->storage_);
    rp->n = 0;
    rp->entities = NULL;
    rp->keys = NULL;
}

/* ---------------------------------------------------------------- URL-safe keys */

/* The Reference protobuf's tags (field << 3 | wire type). */
#define TAG_APP 0x6a       /* 13, length-delimited */
#define TAG_PATH 0x72      /* 14, length-delimited */
#define TAG_NS (20u << 3 | 2) /* 20, length-delimited (0xa2 0x01 as a varint) */
#define TAG_ELEM_START 0x0b /* Path.Element: 1, start group */
#define TAG_ELEM_END 0x0c   /* 1, end group */
#define TAG_TYPE 0x12       /* 2, length-delimited */
#define TAG_ID 0x18         /* 3, varint */
#define TAG_NAME 0x22       /* 4, length-delimited */

static void put_varint(das_rpc_buf_t *b, uint64_t v)
{
    uint8_t out[10];
    size_t n = 0;
    do {
        out[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v)
            out[n] |= 0x80;
        n++;
    } while (v);
    das_rpc_put_raw(b, out, n);
}

static void put_field(das_rpc_buf_t *b, uint64_t tag, const void *data, size_t len)
{
    put_varint(b, tag);
    put_varint(b, len);
    das_rpc_put_raw(b, data, len);
}

int das_rpc_ds_key_to_urlsafe(const das_rpc_ds_key_t *k, const char *app, das_rpc_buf_t *out)
{
    if (k->app && k->app[0])
        app = k->app;
    if (!app || !app[0] || k->n == 0)
        return -EINVAL;
    das_rpc_buf_t path = {0}, ref = {0};
    for (uint32_t i = 0; i < k->n; i++) {
        const das_rpc_ds_elem_t *e = &k->path[i];
        if (!e->kind || !e->kind[0] || (e->id <= 0 && !(e->name && e->name[0]))) {
            das_rpc_buf_dispose(&path);
            return -EINVAL;
        }
        put_varint(&path, TAG_ELEM_START);
        put_field(&path, TAG_TYPE, e->kind, strlen(e->kind));
        if (e->name && e->name[0]) {
            put_field(&path, TAG_NAME, e->name, strlen(e->name));
        } else {
            put_varint(&path, TAG_ID);
            put_varint(&path, (uint64_t)e->id);
        }
        put_varint(&path, TAG_ELEM_END);
    }
    put_field(&ref, TAG_APP, app, strlen(app));
    put_field(&ref, TAG_PATH, path.data, path.len);
    if (k->ns && k->ns[0])
        put_field(&ref, TAG_NS, k->ns, strlen(k->ns));
    das_rpc_buf_dispose(&path);

    char *text = malloc(4 * ((ref.len + 2) / 3) + 1);
    if (!text)
        abort();
    size_t len = (size_t)EVP_EncodeBlock((unsigned char *)text, ref.data, (int)ref.len);
    das_rpc_buf_dispose(&ref);
    while (len > 0 && text[len - 1] == '=')
        len--;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '+')
            text[i] = '-';
        else if (text[i] == '/')
            text[i] = '_';
    }
    text[len] = '\0';
    das_rpc_put_raw(out, text, len + 1);
    out->len--; /* the NUL is there, not counted */
    free(text);
    return 0;
}

/* A protobuf reader over [p, end). */
typedef struct {
    const uint8_t *p, *end;
    const char *why; /* set at the first problem */
} pb_t;

static bool pb_fail(pb_t *pb, const char *why)
{
    if (!pb->why)
        pb->why = why;
    return false;
}

static bool pb_varint(pb_t *pb, uint64_t *v)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (pb->p >= pb->end)
            return pb_fail(pb, "cut short");
        uint8_t c = *pb->p++;
        if (shift == 63 && c > 1)
            return pb_fail(pb, "a varint over 64 bits");
        x |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *v = x;
            return true;
        }
    }
    return pb_fail(pb, "a varint over 64 bits");
}

/* A length-delimited field's bytes, after its tag. */
static bool pb_bytes(pb_t *pb, const uint8_t **data, size_t *len)
{
    uint64_t n;
    if (!pb_varint(pb, &n))
        return false;
    if (n > (uint64_t)(pb->end - pb->p))
        return pb_fail(pb, "cut short");
    *data = pb->p;
    *len = (size_t)n;
    pb->p += n;
    return true;
}

/* A string field, copied NUL-terminated into the arena; NULs inside are refused. */
static bool pb_string(pb_t *pb, das_arena_t *a, const char **out)
{
    const uint8_t *data;
    size_t len;
    if (!pb_bytes(pb, &data, &len))
        return false;
    if (memchr(data, 0, len))
        return pb_fail(pb, "a string holds a NUL byte");
    char *s = das_arena_calloc(a, len + 1);
    memcpy(s, data, len);
    *out = s;
    return true;
}

/* One Path.Element, after its start-group tag, up to and including its end-group tag. */
static bool pb_element(pb_t *pb, das_arena_t *a, das_rpc_ds_elem_t *e)
{
    bool has_id = false;
    memset(e, 0, sizeof *e);
    for (;;) {
        uint64_t tag;
        if (!pb_varint(pb, &tag))
            return false;
        if (tag == TAG_ELEM_END)
            break;
        if (tag == TAG_TYPE) {
            if (e->kind)
                return pb_fail(pb, "a path element has two kinds");
            if (!pb_string(pb, a, &e->kind))
                return false;
        } else if (tag == TAG_NAME) {
            if (e->name)
                return pb_fail(pb, "a path element has two names");
            if (!pb_string(pb, a, &e->name))
                return false;
        } else if (tag == TAG_ID) {
            uint64_t v;
            if (has_id)
                return pb_fail(pb, "a path element has two ids");
            if (!pb_varint(pb, &v))
                return false;
            has_id = true;
            e->id = (int64_t)v;
            if (e->id <= 0)
                return pb_fail(pb, "a path element has an id of 0 or less");
        } else {
            return pb_fail(pb, "an unknown field in a path element");
        }
    }
    if (!e->kind || !e->kind[0])
        return pb_fail(pb, "a path element has no kind");
    if (e->name && !e->name[0])
        return pb_fail(pb, "a path element has an empty name");
    if (has_id == (e->name != NULL))
        return pb_fail(pb, has_id ? "a path element has both an id and a name"
                                  : "a path element has neither an id nor a name");
    return true;
}

static bool pb_path(pb_t *outer, das_arena_t *a, das_rpc_ds_key_t *k)
{
    const uint8_t *data;
    size_t len;
    if (!pb_bytes(outer, &data, &len))
        return false;
    pb_t pb = {data, data + len, NULL};
    uint32_t cap = 0;
    while (pb.p < pb.end) {
        uint64_t tag;
        if (!pb_varint(&pb, &tag))
            break;
        if (tag != TAG_ELEM_START) {
            pb_fail(&pb, "an unknown field in the path");
            break;
        }
        if (k->n == cap) {
            cap = cap ? cap * 2 : 4;
            das_rpc_ds_elem_t *grown = das_arena_calloc(a, cap * sizeof *grown);
            if (k->n)
                memcpy(grown, k->path, k->n * sizeof *grown);
            k->path = grown;
        }
        if (!pb_element(&pb, a, &k->path[k->n]))
            break;
        k->n++;
    }
    if (pb.why)
        return pb_fail(outer, pb.why);
    if (k->n == 0)
        return pb_fail(outer, "the path is empty");
    return true;
}

/* URL-safe base64, padded or not, to bytes in `*out` (malloc'd). */
static bool unbase64(const char *s, uint8_t **out, size_t *out_len, const char **why)
{
    size_t len = strlen(s);
    size_t pad = 0;
    while (len > 0 && s[len - 1] == '=' && pad < 2) {
        len--;
        pad++;
    }
    /* Padding, when given, must make the length a multiple of 4. */
    if (len % 4 == 1 || (pad && (len + pad) % 4 != 0)) {
        *why = "not base64 (a wrong length)";
        return false;
    }
    size_t full = (len + 3) / 4 * 4;
    char *std = malloc(full + 1);
    if (!std)
        abort();
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '-')
            c = '+';
        else if (c == '_')
            c = '/';
        else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) {
            free(std);
            *why = "not URL-safe base64";
            return false;
        }
        std[i] = c;
    }
    size_t missing = full - len;
    for (size_t i = len; i < full; i++)
        std[i] = '=';
    std[full] = '\0';
    *out = malloc(full / 4 * 3 + 1);
    if (!*out)
        abort();
    int n = full ? EVP_DecodeBlock(*out, (const unsigned char *)std, (int)full) : 0;
    free(std);
    if (n < 0 || (size_t)n < missing) {
        free(*out);
        *why = "not base64";
        return false;
    }
    *out_len = (size_t)n - missing; /* EVP_DecodeBlock counts the padding as zero bytes */
    return true;
}

int das_rpc_ds_key_from_urlsafe(const char *s, das_arena_t *a, das_rpc_ds_key_t *out,
                                const char **why)
{
    const char *reason = NULL;
    memset(out, 0, sizeof *out);
    out->ns = "";
    uint8_t *bytes;
    size_t len;
    if (!s || !s[0]) {
        reason = "empty";
        goto fail;
    }
    if (!unbase64(s, &bytes, &len, &reason))
        goto fail;
    pb_t pb = {bytes, bytes + len, NULL};
    bool seen_app = false, seen_path = false, seen_ns = false;
    while (pb.p < pb.end) {
        uint64_t tag;
        if (!pb_varint(&pb, &tag))
            break;
        if (tag == TAG_APP && !seen_app) {
            seen_app = true;
            if (!pb_string(&pb, a, &out->app))
                break;
        } else if (tag == TAG_PATH && !seen_path) {
            seen_path = true;
            if (!pb_path(&pb, a, out))
                break;
        } else if (tag == TAG_NS && !seen_ns) {
            seen_ns = true;
            if (!pb_string(&pb, a, &out->ns))
                break;
        } else {
            pb_fail(&pb, tag == TAG_APP || tag == TAG_PATH || tag == TAG_NS
                             ? "a field appears twice"
                             : "an unknown field");
            break;
        }
    }
    free(bytes);
    reason = pb.why;
    if (!reason && (!out->app || !out->app[0]))
        reason = "no app";
    if (!reason && !seen_path)
        reason = "no path";
    if (!reason)
        return 0;
fail:
    memset(out, 0, sizeof *out);
    out->ns = "";
    if (why)
        *why = reason;
    return -EINVAL;
}
