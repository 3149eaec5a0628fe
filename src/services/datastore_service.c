/* datastore_service.c - the datastore service: decodes the calls of rpc_datastore.h, runs them
 * on the datastore stub (stubs/datastore/datastore.h), encodes the replies. Its row in table.c
 * is `datastore`; its name, the platform's package, is "datastore_v3".
 *
 * Transactions cross calls, so the service keeps them: a table from the handle it gave out to
 * the stub's transaction and the request that began it. Only that request may use it (another
 * request, or an unknown handle, gets the platform's "Transaction(<handle>) not found"), and when
 * the request ends, however it ended, whatever it left open is rolled back.
 *
 * Design: calls come from many threads at once. One lock guards the transaction table (and the
 * applier's flags); it is never held across a stub call. A transaction in use by a call is
 * marked busy, so a second call on it at the same moment is refused instead of racing inside
 * the stub; a request that ends while one of its transactions is busy leaves it to that call,
 * which rolls it back when it is done. With `background_apply`, one thread (the applier)
 * applies pending commits as they fall due, waking when a write commits or its next due time
 * comes; results never depend on it (queries apply what is due themselves).
 */
#include "datastore_service.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uthash.h>

#include "datastore.h"
#include "rpc_datastore.h"
#include "service.h"

/* The wire numbers its types and operators as the stub does (rpc_datastore.h says so). */
_Static_assert((int)DAS_RPC_DS_ENTITY == (int)DAS_DS_ENTITY &&
                   (int)DAS_RPC_DS_TIME == (int)DAS_DS_TIME &&
                   (int)DAS_RPC_DS_BYTES == (int)DAS_DS_BYTES &&
                   (int)DAS_RPC_DS_DOUBLE == (int)DAS_DS_DOUBLE &&
                   (int)DAS_RPC_DS_TYPE_COUNT == (int)DAS_DS_TYPE_COUNT,
               "wire value types follow das_ds_type_t");
_Static_assert((int)DAS_RPC_DS_LT == (int)DAS_DS_LT && (int)DAS_RPC_DS_EQ == (int)DAS_DS_EQ &&
                   (int)DAS_RPC_DS_NE == (int)DAS_DS_NE,
               "wire filter operators follow das_ds_op_t");

#define KEY_TEXT 8192 /* a key as the trace spells it; longer ones are cut */
#define APPLY_BATCH 256
#define APPLIER_IDLE_MS 1000 /* the longest the applier sleeps without being woken */

typedef struct txn_entry {
    uint64_t handle;
    char *request_log_id;
    das_ds_txn_t *txn;
    bool busy;   /* a call is using it */
    bool doomed; /* its request ended while busy: the call rolls it back */
    struct txn_entry *next; /* out of the table: request_end's list to roll back */
    UT_hash_handle hh;
} txn_entry_t;

typedef struct {
    das_ds_t *ds; /* NULL until first used, when opened lazily (see `deferred`) */
    das_clock_t *clock;
    das_log_t *log;
    /* An in-memory datastore with no applier and no index.yaml opens at its first call:
     * explore makes one per schedule, and most scenarios never touch it. Guarded by
     * open_lock. */
    pthread_mutex_t open_lock;
    bool deferred;
    das_ds_options_t deferred_options; /* its app string owned below */
    char *deferred_app;
    pthread_mutex_t lock;
    txn_entry_t *txns; /* by handle; guarded by lock, as are the fields below */
    uint64_t last_handle;
    bool applier_running;
    bool stop;
    bool kicked; /* a commit happened since the applier last looked */
    pthread_cond_t wake;
    pthread_t applier;
} datastore_service_t;

/* ---------------------------------------------------------------- wire <-> stub */

/* Wire to stub: arrays in `a`; strings borrowed from the call's body (the stub keeps nothing
 * of a call's input: a transaction copies its writes). */
static void key_from_wire(das_ds_arena_t *a, const das_rpc_ds_key_t *w,
                          das_ds_key_t *k)
{
    k->app = w->app;
    k->ns = w->ns ? w->ns : "";
    k->n = w->n;
    k->path = das_ds_alloc(a, (w->n ? w->n : 1) * sizeof *k->path);
    for (uint32_t i = 0; i < w->n; i++) {
        k->path[i].kind = w->path[i].kind;
        k->path[i].id = w->path[i].id;
        k->path[i].name = w->path[i].name;
    }
}

static void entity_from_wire(das_ds_arena_t *a, const das_rpc_ds_entity_t *w,
                             das_ds_entity_t *e);

static void value_from_wire(das_ds_arena_t *a, const das_rpc_ds_value_t *w,
                            das_ds_value_t *v)
{
    v->type = (das_ds_type_t)w->type;
    switch (w->type) {
    case DAS_RPC_DS_INT:
    case DAS_RPC_DS_TIME: v->u.i = w->u.i; break;
    case DAS_RPC_DS_BOOL: v->u.b = w->u.b; break;
    case DAS_RPC_DS_DOUBLE: v->u.d = w->u.d; break;
    case DAS_RPC_DS_STRING:
    case DAS_RPC_DS_BYTES:
    case DAS_RPC_DS_TEXT:
    case DAS_RPC_DS_BLOB:
        v->u.s.p = w->u.s.p;
        v->u.s.n = w->u.s.n;
        break;
    case DAS_RPC_DS_GEOPT:
        v->u.geo.lat = w->u.geo.lat;
        v->u.geo.lng = w->u.geo.lng;
        break;
    case DAS_RPC_DS_USER:
        v->u.user.email = w->u.user.email;
        v->u.user.auth_domain = w->u.user.auth_domain;
        v->u.user.user_id = w->u.user.user_id;
        break;
    case DAS_RPC_DS_KEY:
        v->u.key = das_ds_alloc(a, sizeof *v->u.key);
        key_from_wire(a, w->u.key, v->u.key);
        break;
    case DAS_RPC_DS_ENTITY:
        v->u.entity = das_ds_alloc(a, sizeof *v->u.entity);
        entity_from_wire(a, w->u.entity, v->u.entity);
        break;
    default: break;
    }
}

static void entity_from_wire(das_ds_arena_t *a, const das_rpc_ds_entity_t *w,
                             das_ds_entity_t *e)
{
    key_from_wire(a, &w->key, &e->key);
    e->n = w->n;
    e->props = das_ds_alloc(a, (w->n ? w->n : 1) * sizeof *e->props);
    for (uint32_t i = 0; i < w->n; i++) {
        const das_rpc_ds_prop_t *wp = &w->props[i];
        das_ds_prop_t *p = &e->props[i];
        p->name = wp->name;
        p->indexed = wp->indexed;
        p->multiple = wp->multiple;
        p->n = wp->n;
        p->values = das_ds_alloc(a, (wp->n ? wp->n : 1) * sizeof *p->values);
        for (uint32_t j = 0; j < wp->n; j++)
            value_from_wire(a, &wp->values[j], &p->values[j]);
    }
}

static void query_from_wire(das_ds_arena_t *a, const das_rpc_ds_query_t *w, das_ds_query_t *q)
{
    memset(q, 0, sizeof *q);
    q->ns = w->ns ? w->ns : "";
    q->kind = w->kind;
    if (w->ancestor) {
        das_ds_key_t *anc = das_ds_alloc(a, sizeof *anc);
        key_from_wire(a, w->ancestor, anc);
        q->ancestor = anc;
    }
    das_ds_filter_t *filters = das_ds_alloc(a, (w->n_filters ? w->n_filters : 1) *
                                                   sizeof *filters);
    for (uint32_t i = 0; i < w->n_filters; i++) {
        const das_rpc_ds_filter_t *wf = &w->filters[i];
        filters[i].prop = wf->prop;
        filters[i].op = (das_ds_op_t)wf->op;
        filters[i].n = wf->n;
        filters[i].values = das_ds_alloc(a, (wf->n ? wf->n : 1) * sizeof *filters[i].values);
        for (uint32_t j = 0; j < wf->n; j++)
            value_from_wire(a, &wf->values[j], &filters[i].values[j]);
    }
    q->n_filters = w->n_filters;
    q->filters = filters;
    das_ds_order_t *orders = das_ds_alloc(a, (w->n_orders ? w->n_orders : 1) * sizeof *orders);
    for (uint32_t i = 0; i < w->n_orders; i++) {
        orders[i].prop = w->orders[i].prop;
        orders[i].desc = w->orders[i].desc;
    }
    q->n_orders = w->n_orders;
    q->orders = orders;
    q->keys_only = w->keys_only;
    q->n_projection = w->n_projection;
    q->projection = w->projection;
    q->distinct = w->distinct;
    q->limit = w->limit;
    q->offset = w->offset;
    q->start_cursor = w->start_cursor;
    q->end_cursor = w->end_cursor;
    q->count_only = w->count_only;
}

/* Stub results to the wire: arrays in `a`, strings shared with the stub's arena. */
static void key_to_wire(das_arena_t *a, const das_ds_key_t *k, das_rpc_ds_key_t *w)
{
    w->app = k->app;
    w->ns = k->ns ? k->ns : "";
    w->n = (uint32_t)k->n;
    w->path = das_arena_calloc(a, (k->n ? k->n : 1) * sizeof *w->path);
    for (size_t i = 0; i < k->n; i++) {
        w->path[i].kind = k->path[i].kind;
        w->path[i].id = k->path[i].id;
        w->path[i].name = k->path[i].name;
    }
}

static void entity_to_wire(das_arena_t *a, const das_ds_entity_t *e,
                           das_rpc_ds_entity_t *w);

static void value_to_wire(das_arena_t *a, const das_ds_value_t *v, das_rpc_ds_value_t *w)
{
    w->type = (uint32_t)v->type;
    switch (v->type) {
    case DAS_DS_INT:
    case DAS_DS_TIME: w->u.i = v->u.i; break;
    case DAS_DS_BOOL: w->u.b = v->u.b; break;
    case DAS_DS_DOUBLE: w->u.d = v->u.d; break;
    case DAS_DS_STRING:
    case DAS_DS_BYTES:
    case DAS_DS_TEXT:
    case DAS_DS_BLOB:
        w->u.s.p = v->u.s.p;
        w->u.s.n = v->u.s.n;
        break;
    case DAS_DS_GEOPT:
        w->u.geo.lat = v->u.geo.lat;
        w->u.geo.lng = v->u.geo.lng;
        break;
    case DAS_DS_USER:
        w->u.user.email = v->u.user.email;
        w->u.user.auth_domain = v->u.user.auth_domain;
        w->u.user.user_id = v->u.user.user_id;
        break;
    case DAS_DS_KEY:
        w->u.key = das_arena_calloc(a, sizeof *w->u.key);
        key_to_wire(a, v->u.key, w->u.key);
        break;
    case DAS_DS_ENTITY:
        w->u.entity = das_arena_calloc(a, sizeof *w->u.entity);
        entity_to_wire(a, v->u.entity, w->u.entity);
        break;
    default: w->type = DAS_RPC_DS_NULL; break;
    }
}

static void entity_to_wire(das_arena_t *a, const das_ds_entity_t *e,
                           das_rpc_ds_entity_t *w)
{
    key_to_wire(a, &e->key, &w->key);
    w->n = (uint32_t)e->n;
    w->props = das_arena_calloc(a, (e->n ? e->n : 1) * sizeof *w->props);
    for (size_t i = 0; i < e->n; i++) {
        const das_ds_prop_t *p = &e->props[i];
        das_rpc_ds_prop_t *wp = &w->props[i];
        wp->name = p->name;
        wp->indexed = p->indexed;
        wp->multiple = p->multiple;
        wp->n = (uint32_t)p->n;
        wp->values = das_arena_calloc(a, (p->n ? p->n : 1) * sizeof *wp->values);
        for (size_t j = 0; j < p->n; j++)
            value_to_wire(a, &p->values[j], &wp->values[j]);
    }
}

/* ---------------------------------------------------------------- transactions */

static void wake_applier(datastore_service_t *svc)
{
    pthread_mutex_lock(&svc->lock);
    svc->kicked = true;
    pthread_cond_signal(&svc->wake);
    pthread_mutex_unlock(&svc->lock);
}

static int txn_not_found(das_call_out_t *out, uint64_t handle)
{
    return das_call_fail(out, AE_EINVAL, "Transaction(%" PRIu64 ") not found", handle);
}

/* Finds `handle` for the request and marks it busy. Caller holds svc->lock. */
static txn_entry_t *find_txn_locked(datastore_service_t *svc, uint64_t handle,
                                    const char *request_log_id)
{
    txn_entry_t *t;
    HASH_FIND(hh, svc->txns, &handle, sizeof handle, t);
    if (!t || t->doomed || strcmp(t->request_log_id, request_log_id) != 0)
        return NULL;
    return t;
}

/* The transaction a call names, marked busy until release_txn(). */
static int acquire_txn(datastore_service_t *svc, uint64_t handle, const char *request_log_id,
                       txn_entry_t **out_t, das_call_out_t *out)
{
    pthread_mutex_lock(&svc->lock);
    txn_entry_t *t = find_txn_locked(svc, handle, request_log_id);
    bool busy = t && t->busy;
    if (t && !busy)
        t->busy = true;
    pthread_mutex_unlock(&svc->lock);
    if (!t)
        return txn_not_found(out, handle);
    if (busy)
        return das_call_fail(out, AE_EINVAL,
                             "Transaction(%" PRIu64 ") is in use by another call of this request",
                             handle);
    *out_t = t;
    return AE_OK;
}

static void free_entry(txn_entry_t *t)
{
    free(t->request_log_id);
    free(t);
}

static void release_txn(datastore_service_t *svc, txn_entry_t *t)
{
    pthread_mutex_lock(&svc->lock);
    t->busy = false;
    bool doomed = t->doomed;
    if (doomed)
        HASH_DEL(svc->txns, t);
    pthread_mutex_unlock(&svc->lock);
    if (doomed) {
        das_ds_rollback(svc->ds, t->txn);
        free_entry(t);
    }
}

/* Takes the transaction out of the table, for Commit and Rollback. */
static int take_txn(datastore_service_t *svc, uint64_t handle, const char *request_log_id,
                    txn_entry_t **out_t, das_call_out_t *out)
{
    pthread_mutex_lock(&svc->lock);
    txn_entry_t *t = find_txn_locked(svc, handle, request_log_id);
    bool busy = t && t->busy;
    if (t && !busy)
        HASH_DEL(svc->txns, t);
    pthread_mutex_unlock(&svc->lock);
    if (!t)
        return txn_not_found(out, handle);
    if (busy)
        return das_call_fail(out, AE_EINVAL,
                             "Transaction(%" PRIu64 ") is in use by another call of this request",
                             handle);
    *out_t = t;
    return AE_OK;
}

static int run_begin(datastore_service_t *svc, const das_call_ctx_t *ctx,
                     const das_rpc_ds_request_t *rq, das_call_out_t *out)
{
    das_ds_txn_options_t o = {.xg = rq->xg, .read_only = rq->read_only};
    das_ds_txn_t *txn;
    int rc = das_ds_begin(svc->ds, &o, &txn);
    if (rc < 0)
        return das_call_fail(out, rc, "BeginTransaction(): %s", ae_strerror(rc));
    txn_entry_t *t = das_xcalloc(1, sizeof *t);
    t->txn = txn;
    t->request_log_id = das_xstrdup(ctx->request_log_id);
    pthread_mutex_lock(&svc->lock);
    t->handle = ++svc->last_handle;
    HASH_ADD(hh, svc->txns, handle, sizeof t->handle, t);
    pthread_mutex_unlock(&svc->lock);
    das_rpc_ds_reply_t rp = {.handle = t->handle};
    das_rpc_ds_encode_reply(out->body, &rp, DAS_RPC_DS_BEGIN);
    return AE_OK;
}

/* ---------------------------------------------------------------- calls */

/* Sets the call's detail from the stub's message (when it gave one) and returns rc. */
static int stub_fail(das_call_out_t *out, int rc, const das_ds_err_t *err)
{
    if (err->msg[0])
        return das_call_fail(out, rc, "%s", err->msg);
    return rc;
}

/* Runs one call, in the transaction `t` names (NULL: none). */
static int run_data_call(datastore_service_t *svc, txn_entry_t *t,
                         const das_rpc_ds_request_t *rq, das_ds_arena_t *a,
                         das_call_out_t *out)
{
    das_ds_txn_t *txn = t ? t->txn : NULL;
    das_ds_err_t err;
    err.msg[0] = '\0';
    das_arena_t wa = {0};
    das_rpc_ds_reply_t rp = {0};
    int rc = AE_OK;
    switch (rq->op) {
    case DAS_RPC_DS_GET: {
        das_ds_key_t *keys = das_ds_alloc(a, (rq->n ? rq->n : 1) * sizeof *keys);
        for (uint32_t i = 0; i < rq->n; i++)
            key_from_wire(a, &rq->keys[i], &keys[i]);
        das_ds_entity_t **found = das_ds_alloc(a, (rq->n ? rq->n : 1) * sizeof *found);
        if ((rc = das_ds_get(svc->ds, txn, keys, rq->n, a, found, &err)) < 0)
            break;
        rp.n = rq->n;
        rp.entities = das_arena_calloc(&wa, (rq->n ? rq->n : 1) * sizeof *rp.entities);
        for (uint32_t i = 0; i < rq->n; i++) {
            if (!found[i])
                continue;
            rp.entities[i] = das_arena_calloc(&wa, sizeof *rp.entities[i]);
            entity_to_wire(&wa, found[i], rp.entities[i]);
        }
        break;
    }
    case DAS_RPC_DS_PUT: {
        das_ds_entity_t *ents = das_ds_alloc(a, (rq->n ? rq->n : 1) * sizeof *ents);
        for (uint32_t i = 0; i < rq->n; i++)
            entity_from_wire(a, &rq->entities[i], &ents[i]);
        if ((rc = das_ds_put(svc->ds, txn, ents, rq->n, a, &err)) < 0)
            break;
        rp.n = rq->n;
        rp.keys = das_arena_calloc(&wa, (rq->n ? rq->n : 1) * sizeof *rp.keys);
        for (uint32_t i = 0; i < rq->n; i++)
            key_to_wire(&wa, &ents[i].key, &rp.keys[i]);
        break;
    }
    case DAS_RPC_DS_DELETE: {
        das_ds_key_t *keys = das_ds_alloc(a, (rq->n ? rq->n : 1) * sizeof *keys);
        for (uint32_t i = 0; i < rq->n; i++)
            key_from_wire(a, &rq->keys[i], &keys[i]);
        rc = das_ds_delete(svc->ds, txn, keys, rq->n, &err);
        break;
    }
    case DAS_RPC_DS_RUN_QUERY: {
        das_ds_query_t q;
        query_from_wire(a, &rq->query, &q);
        das_ds_result_t res;
        memset(&res, 0, sizeof res);
        if ((rc = das_ds_run_query(svc->ds, txn, &q, a, &res, &err)) < 0)
            break;
        rp.n = (uint32_t)res.n;
        rp.entities = das_arena_calloc(&wa, (res.n ? res.n : 1) * sizeof *rp.entities);
        for (size_t i = 0; i < res.n; i++) {
            rp.entities[i] = das_arena_calloc(&wa, sizeof *rp.entities[i]);
            entity_to_wire(&wa, res.entities[i], rp.entities[i]);
        }
        rp.cursor = res.cursor;
        rp.more = res.more;
        rp.count = res.count;
        rp.skipped = res.skipped;
        break;
    }
    case DAS_RPC_DS_ALLOCATE_IDS: {
        das_ds_key_t model;
        key_from_wire(a, &rq->model, &model);
        rc = das_ds_allocate_ids(svc->ds, &model, rq->size, rq->max, &rp.start, &rp.end, &err);
        break;
    }
    }
    if (rc == AE_OK)
        das_rpc_ds_encode_reply(out->body, &rp, rq->op);
    das_arena_dispose(&wa);
    return rc < 0 ? stub_fail(out, rc, &err) : AE_OK;
}

/* Opens a deferred datastore at its first call (a no-op after, or when not deferred). */
static int open_deferred(datastore_service_t *svc, das_call_out_t *out)
{
    int rc = 0;
    pthread_mutex_lock(&svc->open_lock);
    if (svc->deferred) {
        das_ds_err_t *dserr = das_xcalloc(1, sizeof *dserr);
        rc = das_ds_open(&svc->deferred_options, &svc->ds, dserr);
        if (rc < 0) {
            das_call_fail(out, rc, "%s", dserr->msg[0] ? dserr->msg : ae_strerror(rc));
            svc->ds = NULL;
        } else {
            svc->deferred = false;
        }
        free(dserr);
    }
    pthread_mutex_unlock(&svc->open_lock);
    return rc;
}

static int call(void *state, const das_call_ctx_t *ctx, const das_service_method_t *method,
                const void *body, size_t len, das_call_out_t *out)
{
    datastore_service_t *svc = state;
    uint32_t op = das_rpc_ds_method_op(method->name);
    int opened = open_deferred(svc, out);
    if (opened < 0)
        return opened;
    if (len > DAS_DS_MAX_CALL_BYTES)
        return das_call_fail(out, AE_ETOOLARGE,
                             "The request to API call datastore_v3.%s() was too large.",
                             method->name);
    das_rpc_ds_request_t rq;
    if (das_rpc_ds_decode_request(body, len, op, &rq) < 0) {
        das_rpc_ds_request_dispose(&rq);
        return das_call_fail(out, AE_EINVAL, "malformed datastore_v3.%s() request (%zu bytes)",
                             method->name, len);
    }
    das_ds_arena_t a = {0};
    das_ds_err_t err;
    err.msg[0] = '\0';
    txn_entry_t *t = NULL;
    int rc;
    switch (op) {
    case DAS_RPC_DS_BEGIN: rc = run_begin(svc, ctx, &rq, out); break;
    case DAS_RPC_DS_COMMIT:
        if ((rc = take_txn(svc, rq.txn, ctx->request_log_id, &t, out)) < 0)
            break;
        rc = das_ds_commit(svc->ds, t->txn, &err);
        free_entry(t);
        if (rc < 0)
            rc = stub_fail(out, rc, &err);
        wake_applier(svc);
        break;
    case DAS_RPC_DS_ROLLBACK:
        if ((rc = take_txn(svc, rq.txn, ctx->request_log_id, &t, out)) < 0)
            break;
        das_ds_rollback(svc->ds, t->txn);
        free_entry(t);
        break;
    default:
        /* AllocateIds carries no transaction. */
        if (rq.txn && op != DAS_RPC_DS_ALLOCATE_IDS &&
            (rc = acquire_txn(svc, rq.txn, ctx->request_log_id, &t, out)) < 0)
            break;
        rc = run_data_call(svc, t, &rq, &a, out);
        if (t)
            release_txn(svc, t);
        if (rc == AE_OK && !t && (op == DAS_RPC_DS_PUT || op == DAS_RPC_DS_DELETE))
            wake_applier(svc);
        break;
    }
    das_ds_arena_dispose(&a);
    das_rpc_ds_request_dispose(&rq);
    return rc;
}

static void request_end(void *state, const das_call_ctx_t *rq, das_request_end_t how)
{
    datastore_service_t *svc = state;
    txn_entry_t *t, *tmp, *left = NULL;
    size_t n = 0;
    pthread_mutex_lock(&svc->lock);
    HASH_ITER(hh, svc->txns, t, tmp) {
        if (strcmp(t->request_log_id, rq->request_log_id) != 0 || t->doomed)
            continue;
        if (t->busy) {
            t->doomed = true; /* the call using it rolls it back (release_txn) */
            continue;
        }
        HASH_DEL(svc->txns, t);
        t->next = left; /* rolled back below, outside the lock */
        left = t;
        n++;
    }
    pthread_mutex_unlock(&svc->lock);
    for (t = left; t; t = tmp) {
        tmp = t->next;
        das_ds_rollback(svc->ds, t->txn);
        free_entry(t);
    }
    if (n && das_log_is_enabled(svc->log, DAS_LOG_DEBUG))
        das_log_debug(svc->log, "request %s %s with %zu datastore transaction%s open: rolled back",
                      rq->request_log_id[0] ? rq->request_log_id : "-",
                      das_request_end_name(how), n, n == 1 ? "" : "s");
}

/* ---------------------------------------------------------------- the applier */

static int64_t now_ms(void *ctx)
{
    return das_clock_wall_ns(ctx) / 1000000;
}

static void *applier_main(void *arg)
{
    datastore_service_t *svc = arg;
    pthread_mutex_lock(&svc->lock);
    while (!svc->stop) {
        svc->kicked = false;
        pthread_mutex_unlock(&svc->lock);
        int64_t due = das_ds_next_due_ms(svc->ds);
        int64_t now = now_ms(svc->clock);
        int64_t wait_ms = due == INT64_MAX || due - now > APPLIER_IDLE_MS ? APPLIER_IDLE_MS
                                                                           : due - now;
        if (due <= now) {
            if (das_ds_apply_due(svc->ds, APPLY_BATCH) > 0) {
                pthread_mutex_lock(&svc->lock);
                continue;
            }
            wait_ms = 100; /* due but not applied (a full disk): try again soon, not at once */
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += wait_ms / 1000;
        ts.tv_nsec += (wait_ms % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_mutex_lock(&svc->lock);
        while (!svc->stop && !svc->kicked)
            if (pthread_cond_timedwait(&svc->wake, &svc->lock, &ts) == ETIMEDOUT)
                break;
    }
    pthread_mutex_unlock(&svc->lock);
    return NULL;
}

/* ---------------------------------------------------------------- life */

static void destroy(void *state)
{
    datastore_service_t *svc = state;
    if (!svc)
        return;
    if (svc->applier_running) {
        pthread_mutex_lock(&svc->lock);
        svc->stop = true;
        pthread_cond_signal(&svc->wake);
        pthread_mutex_unlock(&svc->lock);
        pthread_join(svc->applier, NULL);
    }
    txn_entry_t *t, *tmp;
    HASH_ITER(hh, svc->txns, t, tmp) {
        HASH_DEL(svc->txns, t);
        das_ds_rollback(svc->ds, t->txn);
        free_entry(t);
    }
    das_ds_close(svc->ds);
    free(svc->deferred_app);
    pthread_cond_destroy(&svc->wake);
    pthread_mutex_destroy(&svc->open_lock);
    pthread_mutex_destroy(&svc->lock);
    free(svc);
}


static int create(const das_service_env_t *env, const void *options, void **state,
                  das_err_t *err)
{
    static const das_datastore_service_options_t defaults = {0};
    const das_datastore_service_options_t *o = options ? options : &defaults;
    char *default_path = NULL;
    const char *path = NULL;
    if (o->in_memory)
        path = NULL;
    else if (o->path)
        path = o->path;
    else if (env->storage_path)
        path = default_path = das_xasprintf("%s/datastore.db", env->storage_path);
    das_ds_options_t dso = {
        .app = o->app_id ? o->app_id : env->app_id,
        .path = path,
        .clear = o->clear,
        .sync_full = o->sync_full,
        .ids = o->ids == DAS_DATASTORE_IDS_SEQUENTIAL ? DAS_DS_IDS_SEQUENTIAL
                                                      : DAS_DS_IDS_SCATTERED,
        .consistency = o->consistency == DAS_DATASTORE_CONSISTENCY_RANDOM
                           ? DAS_DS_CONSISTENCY_RANDOM
                       : o->consistency == DAS_DATASTORE_CONSISTENCY_CONSISTENT
                           ? DAS_DS_CONSISTENCY_CONSISTENT
                           : DAS_DS_CONSISTENCY_TIME,
        .seed = o->seed,
        .app_root = o->no_app_root ? NULL : o->app_root ? o->app_root : env->app_root,
        .require_indexes = o->require_indexes,
        .now_ms = now_ms,
        .clock_ctx = env->clock,
    };
    datastore_service_t *svc = das_xcalloc(1, sizeof *svc);
    svc->clock = env->clock;
    svc->log = env->log;
    pthread_mutex_init(&svc->lock, NULL);
    pthread_mutex_init(&svc->open_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&svc->wake, &ca);
    pthread_condattr_destroy(&ca);
    /* Deferred only when nothing can fail at the open (no index.yaml to read). */
    if (o->in_memory && !o->background_apply && !dso.app_root) {
        svc->deferred = true;
        svc->deferred_options = dso;
        svc->deferred_options.path = NULL; /* in memory */
        svc->deferred_options.app = svc->deferred_app = das_xstrdup(dso.app);
        free(default_path);
        *state = svc;
        return 0;
    }
    das_ds_err_t *dserr = das_xcalloc(1, sizeof *dserr);
    int rc = das_ds_open(&dso, &svc->ds, dserr);
    if (rc < 0) {
        das_err_set(err, rc, "%s", dserr->msg[0] ? dserr->msg : ae_strerror(rc));
        free(dserr);
        free(default_path);
        svc->ds = NULL;
        pthread_cond_destroy(&svc->wake);
        pthread_mutex_destroy(&svc->open_lock);
        pthread_mutex_destroy(&svc->lock);
        free(svc);
        return rc;
    }
    free(dserr);
    if (das_log_is_enabled(env->log, DAS_LOG_DEBUG))
        das_log_debug(env->log, "datastore %s: %s", dso.app, path ? path : "in memory");
    free(default_path);
    if (o->background_apply) {
        int prc = pthread_create(&svc->applier, NULL, applier_main, svc);
        if (prc != 0) {
            destroy(svc);
            return das_err_set(err, AE_EINTERNAL, "datastore: cannot start a thread: %s",
                               strerror(prc));
        }
        svc->applier_running = true;
    }
    *state = svc;
    return 0;
}

static void stats(void *state, das_buf_t *out)
{
    das_ds_stats_t st;
    das_ds_t *ds = ((datastore_service_t *)state)->ds;
    if (!ds) {
        das_buf_puts(out, "not used");
        return;
    }
    das_ds_stats(ds, &st);
    das_buf_printf(out,
                   "%llu entities, %llu puts, %llu gets, %llu deletes, %llu queries, %llu "
                   "commits, %llu contentions, %llu pending",
                   (unsigned long long)st.entities, (unsigned long long)st.puts,
                   (unsigned long long)st.gets, (unsigned long long)st.deletes,
                   (unsigned long long)st.queries, (unsigned long long)st.commits,
                   (unsigned long long)st.contentions, (unsigned long long)st.pending);
}

/* ---------------------------------------------------------------- keys, for the trace */

typedef struct {
    das_key_cb emit;
    void *ctx;
    char last_group[KEY_TEXT]; /* consecutive keys of one group name it once */
} emitter_t;

static void emit_text(emitter_t *em, const char *text)
{
    em->emit(em->ctx, text, strlen(text));
}

/* "kind K" (namespace first, as keys spell it: "ns!K"; "*" for a kindless query). */
static void emit_kind(emitter_t *em, const char *ns, const char *kind)
{
    char text[KEY_TEXT];
    snprintf(text, sizeof text, "kind %s%s%.*s", ns && ns[0] ? ns : "", ns && ns[0] ? "!" : "",
             KEY_TEXT - 200, kind ? kind : "*");
    emit_text(em, text);
}

static void emit_group(emitter_t *em, const das_ds_key_t *k)
{
    das_ds_key_t root = *k;
    root.n = 1;
    char text[KEY_TEXT];
    memcpy(text, "group ", 6);
    das_ds_key_format(&root, text + 6, sizeof text - 6);
    if (strcmp(text, em->last_group) == 0)
        return;
    memcpy(em->last_group, text, sizeof text);
    emit_text(em, text);
}

static bool is_complete(const das_ds_key_t *k)
{
    const das_ds_elem_t *last = &k->path[k->n - 1];
    return last->id > 0 || last->name;
}

/* A key and its group; for an incomplete key, its parent's group and its kind. */
static void emit_key(emitter_t *em, const das_ds_key_t *k)
{
    if (k->n == 0)
        return;
    if (is_complete(k)) {
        char text[KEY_TEXT];
        das_ds_key_format(k, text, sizeof text);
        emit_text(em, text);
        emit_group(em, k);
    } else {
        if (k->n > 1)
            emit_group(em, k);
        emit_kind(em, k->ns, k->path[k->n - 1].kind);
    }
}

static int keys(const void *body, size_t len, uint32_t op, das_key_cb emit, void *ctx)
{
    das_rpc_ds_request_t rq;
    if (das_rpc_ds_decode_request(body, len, op, &rq) < 0) {
        das_rpc_ds_request_dispose(&rq);
        return AE_EINVAL;
    }
    das_ds_arena_t a = {0};
    emitter_t *em = das_xcalloc(1, sizeof *em);
    em->emit = emit;
    em->ctx = ctx;
    das_ds_key_t k;
    switch (op) {
    case DAS_RPC_DS_GET:
    case DAS_RPC_DS_DELETE:
        for (uint32_t i = 0; i < rq.n; i++) {
            key_from_wire(&a, &rq.keys[i], &k);
            emit_key(em, &k);
        }
        break;
    case DAS_RPC_DS_PUT:
        for (uint32_t i = 0; i < rq.n; i++) {
            key_from_wire(&a, &rq.entities[i].key, &k);
            emit_key(em, &k);
        }
        break;
    case DAS_RPC_DS_RUN_QUERY:
        if (rq.query.ancestor && rq.query.ancestor->n) {
            key_from_wire(&a, rq.query.ancestor, &k);
            emit_group(em, &k);
        } else {
            emit_kind(em, rq.query.ns, rq.query.kind);
        }
        break;
    case DAS_RPC_DS_ALLOCATE_IDS:
        key_from_wire(&a, &rq.model, &k);
        if (k.n) {
            if (k.n > 1)
                emit_group(em, &k);
            emit_kind(em, k.ns, k.path[k.n - 1].kind);
        }
        break;
    }
    free(em);
    das_ds_arena_dispose(&a);
    das_rpc_ds_request_dispose(&rq);
    return 0;
}

#define KEYS_OF(OP, fn)                                                                \
    static int fn(const void *body, size_t len, das_key_cb emit, void *ctx)            \
    {                                                                                  \
        return keys(body, len, OP, emit, ctx);                                         \
    }
KEYS_OF(DAS_RPC_DS_GET, get_keys)
KEYS_OF(DAS_RPC_DS_PUT, put_keys)
KEYS_OF(DAS_RPC_DS_DELETE, delete_keys)
KEYS_OF(DAS_RPC_DS_RUN_QUERY, query_keys)
KEYS_OF(DAS_RPC_DS_ALLOCATE_IDS, allocate_keys)

static const das_service_method_t methods[] = {
    {"Get", DAS_ACCESS_READ, false, get_keys, NULL, false, NULL, false},
    {"Put", DAS_ACCESS_WRITE, false, put_keys, NULL, false, NULL, false},
    {"Delete", DAS_ACCESS_WRITE, false, delete_keys, NULL, false, NULL, false},
    {"RunQuery", DAS_ACCESS_READ, false, query_keys, NULL, false, NULL, false},
    {"BeginTransaction", DAS_ACCESS_READ, false, NULL, NULL, false, NULL, false},
    {"Commit", DAS_ACCESS_WRITE, false, NULL, NULL, false, NULL, false},
    {"Rollback", DAS_ACCESS_READ, false, NULL, NULL, false, NULL, false},
    {"AllocateIds", DAS_ACCESS_WRITE, false, allocate_keys, NULL, false, NULL, false},
};

const das_service_def_t das_datastore_service = {
    .name = DAS_RPC_SERVICE_DATASTORE,
    .create = create,
    .destroy = destroy,
    .call = call,
    .request_end = request_end,
    .stats = stats,
    .methods = methods,
    .n_methods = sizeof methods / sizeof methods[0],
};
