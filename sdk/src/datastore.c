/* datastore.c - the SDK's datastore (appengine/datastore.h): keys, entities, values and queries
 * built in the request's arena, and the calls, each one round trip to the datastore service
 * (rpc_datastore.h) through the request's transport, their answers copied into the arena.
 *
 * A call's reply is copied into the arena whole and decoded there, so the strings of what it
 * returns point into that copy and nothing is copied twice. The transaction set on the request
 * (ae_datastore_begin) is a handle the service gave out; every call carries it until commit or
 * rollback clears it.
 */
#include <appengine/datastore.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc_datastore.h"
#include "sdk_internal.h"

_Static_assert((int)AE_DATASTORE_ENTITY == (int)DAS_RPC_DS_ENTITY &&
                   (int)AE_DATASTORE_TIME == (int)DAS_RPC_DS_TIME &&
                   (int)AE_DATASTORE_BLOB == (int)DAS_RPC_DS_BLOB &&
                   (int)AE_DATASTORE_KEY == (int)DAS_RPC_DS_KEY,
               "the SDK's value types are the wire's");
_Static_assert((int)AE_DATASTORE_LT == (int)DAS_RPC_DS_LT &&
                   (int)AE_DATASTORE_EQ == (int)DAS_RPC_DS_EQ &&
                   (int)AE_DATASTORE_NE == (int)DAS_RPC_DS_NE,
               "the SDK's operators are the wire's");

typedef struct {
    const char *kind;
    int64_t id;
    const char *name;
} elem_t;

struct ae_datastore_key {
    ae_request_t *rq;
    const char *app; /* NULL: the app's own */
    const char *ns;
    size_t n;
    elem_t *path; /* may be shared with the keys made from this one (never the last element) */
};

typedef struct {
    const char *name;
    bool indexed, multiple;
    size_t n, cap;
    ae_datastore_value_t *values;
} prop_t;

struct ae_datastore_entity {
    ae_request_t *rq;
    ae_datastore_key_t *key; /* NULL: embedded, keyless */
    size_t n, cap;
    prop_t *props;
};

typedef struct {
    const char *name;
    uint32_t op;
    size_t n;
    ae_datastore_value_t *values;
} filter_t;

typedef struct {
    const char *name;
    bool desc;
} order_t;

struct ae_datastore_query {
    ae_request_t *rq;
    const char *ns;
    const char *kind;
    const ae_datastore_key_t *ancestor;
    filter_t *filters;
    size_t n_filters, cap_filters;
    order_t *orders;
    size_t n_orders, cap_orders;
    const char **projection;
    size_t n_projection, cap_projection;
    bool keys_only, distinct;
    int64_t offset;
    const char *end_cursor;
};

/* ---------------------------------------------------------------- arena helpers */

static void *alloc(ae_request_t *rq, size_t n)
{
    void *p = das_arena_alloc(&rq->arena, n ? n : 1);
    memset(p, 0, n ? n : 1);
    return p;
}

static const char *dup_str(ae_request_t *rq, const char *s)
{
    return s ? das_arena_strndup(&rq->arena, s, strlen(s)) : NULL;
}

/* Grows an arena array of `*cap` items of `size` bytes to hold one more. */
static void *grow(ae_request_t *rq, void *items, size_t n, size_t *cap, size_t size)
{
    if (n < *cap)
        return items;
    size_t ncap = *cap ? *cap * 2 : 4;
    void *grown = alloc(rq, ncap * size);
    if (n)
        memcpy(grown, items, n * size);
    *cap = ncap;
    return grown;
}

static const char *own_app(const ae_request_t *rq)
{
    const char *app = ae_request_env(rq, "APPLICATION_ID");
    return app ? app : "";
}

/* A value whose bytes (strings, user fields) are copied into the arena. */
static ae_datastore_value_t copy_value(ae_request_t *rq, ae_datastore_value_t v)
{
    switch (v.type) {
    case AE_DATASTORE_STRING:
    case AE_DATASTORE_BYTES:
    case AE_DATASTORE_TEXT:
    case AE_DATASTORE_BLOB:
        v.u.s.p = das_arena_strndup(&rq->arena, v.u.s.p ? v.u.s.p : "", v.u.s.p ? v.u.s.n : 0);
        break;
    case AE_DATASTORE_USER:
        v.u.user.email = dup_str(rq, v.u.user.email ? v.u.user.email : "");
        v.u.user.auth_domain = dup_str(rq, v.u.user.auth_domain ? v.u.user.auth_domain : "");
        v.u.user.user_id = dup_str(rq, v.u.user.user_id ? v.u.user.user_id : "");
        break;
    default: break;
    }
    return v;
}

/* ---------------------------------------------------------------- values */

ae_datastore_value_t ae_datastore_null(void)
{
    return (ae_datastore_value_t){.type = AE_DATASTORE_NULL};
}

ae_datastore_value_t ae_datastore_bool(bool b)
{
    return (ae_datastore_value_t){.type = AE_DATASTORE_BOOL, .u.b = b};
}

ae_datastore_value_t ae_datastore_int(int64_t i)
{
    return (ae_datastore_value_t){.type = AE_DATASTORE_INT, .u.i = i};
}

ae_datastore_value_t ae_datastore_double(double d)
{
    return (ae_datastore_value_t){.type = AE_DATASTORE_DOUBLE, .u.d = d};
}

ae_datastore_value_t ae_datastore_time(int64_t microseconds)
{
    return (ae_datastore_value_t){.type = AE_DATASTORE_TIME, .u.i = microseconds};
}

static ae_datastore_value_t bytes_value(ae_datastore_type_t type, const void *p, size_t n)
{
    ae_datastore_value_t v = {.type = type};
    v.u.s.p = p;
    v.u.s.n = p ? n : 0;
    return v;
}

ae_datastore_value_t ae_datastore_string(const char *s)
{
    return bytes_value(AE_DATASTORE_STRING, s, s ? strlen(s) : 0);
}

ae_datastore_value_t ae_datastore_string_n(const char *s, size_t n)
{
    return bytes_value(AE_DATASTORE_STRING, s, n);
}

ae_datastore_value_t ae_datastore_bytes(const void *p, size_t n)
{
    return bytes_value(AE_DATASTORE_BYTES, p, n);
}

ae_datastore_value_t ae_datastore_text(const char *s, size_t n)
{
    return bytes_value(AE_DATASTORE_TEXT, s, n);
}

ae_datastore_value_t ae_datastore_blob(const void *p, size_t n)
{
    return bytes_value(AE_DATASTORE_BLOB, p, n);
}

ae_datastore_value_t ae_datastore_geopt(double lat, double lng)
{
    ae_datastore_value_t v = {.type = AE_DATASTORE_GEOPT};
    v.u.geo.lat = lat;
    v.u.geo.lng = lng;
    return v;
}

ae_datastore_value_t ae_datastore_user(const char *email, const char *auth_domain,
                                       const char *user_id)
{
    ae_datastore_value_t v = {.type = AE_DATASTORE_USER};
    v.u.user.email = email ? email : "";
    v.u.user.auth_domain = auth_domain ? auth_domain : "gmail.com";
    v.u.user.user_id = user_id ? user_id : "";
    return v;
}

ae_datastore_value_t ae_datastore_key_value(const ae_datastore_key_t *k)
{
    return (ae_datastore_value_t){.type = AE_DATASTORE_KEY, .u.key = k};
}

ae_datastore_value_t ae_datastore_embedded(const ae_datastore_entity_t *e)
{
    return (ae_datastore_value_t){.type = AE_DATASTORE_ENTITY, .u.entity = e};
}

int64_t ae_datastore_value_int(const ae_datastore_value_t *v)
{
    return v && (v->type == AE_DATASTORE_INT || v->type == AE_DATASTORE_TIME) ? v->u.i : 0;
}

bool ae_datastore_value_bool(const ae_datastore_value_t *v)
{
    return v && v->type == AE_DATASTORE_BOOL && v->u.b;
}

double ae_datastore_value_double(const ae_datastore_value_t *v)
{
    return v && v->type == AE_DATASTORE_DOUBLE ? v->u.d : 0;
}

const char *ae_datastore_value_string(const ae_datastore_value_t *v, size_t *len)
{
    bool is_bytes = v && (v->type == AE_DATASTORE_STRING || v->type == AE_DATASTORE_TEXT ||
                          v->type == AE_DATASTORE_BYTES || v->type == AE_DATASTORE_BLOB);
    if (len)
        *len = is_bytes ? v->u.s.n : 0;
    return is_bytes ? v->u.s.p : NULL;
}

const ae_datastore_key_t *ae_datastore_value_key(const ae_datastore_value_t *v)
{
    return v && v->type == AE_DATASTORE_KEY ? v->u.key : NULL;
}

const ae_datastore_entity_t *ae_datastore_value_entity(const ae_datastore_value_t *v)
{
    return v && v->type == AE_DATASTORE_ENTITY ? v->u.entity : NULL;
}

/* ---------------------------------------------------------------- keys */

void ae_datastore_set_namespace(ae_request_t *rq, const char *ns)
{
    rq->datastore_ns = dup_str(rq, ns);
}

static const char *request_ns(const ae_request_t *rq)
{
    return rq->datastore_ns ? rq->datastore_ns : "";
}

static ae_datastore_key_t *make_key(ae_request_t *rq, const ae_datastore_key_t *parent,
                                    const char *kind, int64_t id, const char *name)
{
    ae_datastore_key_t *k = alloc(rq, sizeof *k);
    k->rq = rq;
    k->app = parent ? parent->app : NULL;
    k->ns = parent ? parent->ns : request_ns(rq);
    k->n = (parent ? parent->n : 0) + 1;
    k->path = alloc(rq, k->n * sizeof *k->path);
    if (parent)
        memcpy(k->path, parent->path, parent->n * sizeof *k->path);
    k->path[k->n - 1] = (elem_t){dup_str(rq, kind ? kind : ""), id, dup_str(rq, name)};
    return k;
}

ae_datastore_key_t *ae_datastore_key(ae_request_t *rq, const ae_datastore_key_t *parent,
                                     const char *kind, int64_t id)
{
    return make_key(rq, parent, kind, id, NULL);
}

ae_datastore_key_t *ae_datastore_key_named(ae_request_t *rq, const ae_datastore_key_t *parent,
                                           const char *kind, const char *name)
{
    /* A NULL name is an incomplete key, as id 0 is; "" is refused at the call (the wire cannot
     * tell it from NULL: see key_has_empty_name). */
    return make_key(rq, parent, kind, 0, name);
}

const char *ae_datastore_key_kind(const ae_datastore_key_t *k)
{
    return k->path[k->n - 1].kind;
}

int64_t ae_datastore_key_id(const ae_datastore_key_t *k)
{
    return k->path[k->n - 1].id;
}

const char *ae_datastore_key_name(const ae_datastore_key_t *k)
{
    return k->path[k->n - 1].name;
}

const ae_datastore_key_t *ae_datastore_key_parent(const ae_datastore_key_t *k)
{
    if (k->n < 2)
        return NULL;
    ae_datastore_key_t *p = alloc(k->rq, sizeof *p);
    *p = *k;
    p->n = k->n - 1;
    return p;
}

const char *ae_datastore_key_namespace(const ae_datastore_key_t *k)
{
    return k->ns;
}

bool ae_datastore_key_is_complete(const ae_datastore_key_t *k)
{
    const elem_t *last = &k->path[k->n - 1];
    return last->id != 0 || last->name != NULL;
}

static bool str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

bool ae_datastore_key_equal(const ae_datastore_key_t *a, const ae_datastore_key_t *b)
{
    if (!a || !b)
        return a == b;
    if (a->n != b->n || strcmp(a->ns, b->ns) != 0)
        return false;
    const char *app_a = a->app ? a->app : own_app(a->rq);
    const char *app_b = b->app ? b->app : own_app(b->rq);
    if (strcmp(app_a, app_b) != 0)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->path[i].kind, b->path[i].kind) != 0 || a->path[i].id != b->path[i].id ||
            !str_eq(a->path[i].name, b->path[i].name))
            return false;
    return true;
}

const char *ae_datastore_key_string(const ae_datastore_key_t *k)
{
    size_t cap = strlen(k->ns) + 2;
    for (size_t i = 0; i < k->n; i++)
        cap += strlen(k->path[i].kind) + (k->path[i].name ? strlen(k->path[i].name) : 21) + 2;
    char *s = alloc(k->rq, cap);
    size_t len = 0;
    if (k->ns[0])
        len += (size_t)snprintf(s + len, cap - len, "%s!", k->ns);
    for (size_t i = 0; i < k->n; i++) {
        const elem_t *e = &k->path[i];
        if (e->name)
            len += (size_t)snprintf(s + len, cap - len, "%s%s:%s", i ? "/" : "", e->kind, e->name);
        else if (e->id)
            len += (size_t)snprintf(s + len, cap - len, "%s%s:%lld", i ? "/" : "", e->kind,
                                    (long long)e->id);
        else
            len += (size_t)snprintf(s + len, cap - len, "%s%s:?", i ? "/" : "", e->kind);
    }
    return s;
}

/* ---------------------------------------------------------------- keys the wire cannot carry */

/* The wire spells a missing name as "" (rpc_datastore.h), so a key named "" would arrive as an
 * incomplete key: a put would store it under a fresh id that the app's key never shows, and
 * a get of it would fail as incomplete. Such keys are refused before they are sent, in the
 * stub's words. */
static bool key_has_empty_name(const ae_datastore_key_t *k)
{
    for (size_t i = 0; i < k->n; i++)
        if (k->path[i].name && !k->path[i].name[0])
            return true;
    return false;
}

static bool entity_has_empty_name(const ae_datastore_entity_t *e, int depth);

/* As value_to_wire goes: no deeper than the wire's depth. */
static bool value_has_empty_name(const ae_datastore_value_t *v, int depth)
{
    if (v->type == AE_DATASTORE_KEY)
        return v->u.key && key_has_empty_name(v->u.key);
    if (v->type == AE_DATASTORE_ENTITY)
        return v->u.entity && depth < DAS_RPC_DS_MAX_DEPTH &&
               entity_has_empty_name(v->u.entity, depth + 1);
    return false;
}

static bool entity_has_empty_name(const ae_datastore_entity_t *e, int depth)
{
    if (e->key && key_has_empty_name(e->key))
        return true;
    for (size_t i = 0; i < e->n; i++)
        for (size_t j = 0; j < e->props[i].n; j++)
            if (value_has_empty_name(&e->props[i].values[j], depth))
                return true;
    return false;
}

static int fail_empty_name(ae_request_t *rq)
{
    return ae__fail(rq, AE_EINVAL, "Key name must not be empty");
}

/* ---------------------------------------------------------------- to and from the wire */

static void key_to_wire(das_arena_t *a, const ae_datastore_key_t *k, das_rpc_ds_key_t *w)
{
    w->app = k->app;
    w->ns = k->ns;
    w->n = (uint32_t)k->n;
    w->path = das_arena_calloc(a, (k->n ? k->n : 1) * sizeof *w->path);
    for (size_t i = 0; i < k->n; i++) {
        w->path[i].kind = k->path[i].kind;
        w->path[i].id = k->path[i].id;
        w->path[i].name = k->path[i].name;
    }
}

static void entity_to_wire(das_arena_t *a, const ae_datastore_entity_t *e,
                           das_rpc_ds_entity_t *w, int depth);

static void value_to_wire(das_arena_t *a, const ae_datastore_value_t *v,
                          das_rpc_ds_value_t *w, int depth)
{
    w->type = (uint32_t)v->type;
    switch (v->type) {
    case AE_DATASTORE_INT:
    case AE_DATASTORE_TIME: w->u.i = v->u.i; break;
    case AE_DATASTORE_BOOL: w->u.b = v->u.b; break;
    case AE_DATASTORE_DOUBLE: w->u.d = v->u.d; break;
    case AE_DATASTORE_STRING:
    case AE_DATASTORE_BYTES:
    case AE_DATASTORE_TEXT:
    case AE_DATASTORE_BLOB:
        w->u.s.p = v->u.s.p;
        w->u.s.n = v->u.s.n;
        break;
    case AE_DATASTORE_GEOPT:
        w->u.geo.lat = v->u.geo.lat;
        w->u.geo.lng = v->u.geo.lng;
        break;
    case AE_DATASTORE_USER:
        w->u.user.email = v->u.user.email;
        w->u.user.auth_domain = v->u.user.auth_domain;
        w->u.user.user_id = v->u.user.user_id;
        break;
    case AE_DATASTORE_KEY:
        if (!v->u.key) {
            w->type = DAS_RPC_DS_NULL;
            break;
        }
        w->u.key = das_arena_calloc(a, sizeof *w->u.key);
        key_to_wire(a, v->u.key, w->u.key);
        break;
    case AE_DATASTORE_ENTITY:
        /* An entity that (through its values) holds itself would never end: past the wire's
         * depth it is sent as null, and the server refuses nothing it cannot decode. */
        if (!v->u.entity || depth >= DAS_RPC_DS_MAX_DEPTH) {
            w->type = DAS_RPC_DS_NULL;
            break;
        }
        w->u.entity = das_arena_calloc(a, sizeof *w->u.entity);
        entity_to_wire(a, v->u.entity, w->u.entity, depth + 1);
        break;
    default: w->type = DAS_RPC_DS_NULL; break;
    }
}

static void entity_to_wire(das_arena_t *a, const ae_datastore_entity_t *e,
                           das_rpc_ds_entity_t *w, int depth)
{
    if (e->key)
        key_to_wire(a, e->key, &w->key);
    else
        w->key = (das_rpc_ds_key_t){.ns = ""};
    w->n = (uint32_t)e->n;
    w->props = das_arena_calloc(a, (e->n ? e->n : 1) * sizeof *w->props);
    for (size_t i = 0; i < e->n; i++) {
        const prop_t *p = &e->props[i];
        das_rpc_ds_prop_t *wp = &w->props[i];
        wp->name = p->name;
        wp->indexed = p->indexed;
        wp->multiple = p->multiple;
        wp->n = (uint32_t)p->n;
        wp->values = das_arena_calloc(a, (p->n ? p->n : 1) * sizeof *wp->values);
        for (size_t j = 0; j < p->n; j++)
            value_to_wire(a, &p->values[j], &wp->values[j], depth);
    }
}

/* Wire to SDK: strings stay where they are (the reply's copy in the arena). */
static ae_datastore_key_t *key_from_wire(ae_request_t *rq, const das_rpc_ds_key_t *w)
{
    ae_datastore_key_t *k = alloc(rq, sizeof *k);
    k->rq = rq;
    k->app = w->app;
    k->ns = w->ns ? w->ns : "";
    k->n = w->n;
    k->path = alloc(rq, (w->n ? w->n : 1) * sizeof *k->path);
    for (uint32_t i = 0; i < w->n; i++)
        k->path[i] = (elem_t){w->path[i].kind, w->path[i].id, w->path[i].name};
    return k;
}

static ae_datastore_entity_t *entity_from_wire(ae_request_t *rq, const das_rpc_ds_entity_t *w);

static void value_from_wire(ae_request_t *rq, const das_rpc_ds_value_t *w,
                            ae_datastore_value_t *v)
{
    v->type = (ae_datastore_type_t)w->type;
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
    case DAS_RPC_DS_KEY: v->u.key = key_from_wire(rq, w->u.key); break;
    case DAS_RPC_DS_ENTITY: v->u.entity = entity_from_wire(rq, w->u.entity); break;
    default: v->type = AE_DATASTORE_NULL; break;
    }
}

static ae_datastore_entity_t *entity_from_wire(ae_request_t *rq, const das_rpc_ds_entity_t *w)
{
    ae_datastore_entity_t *e = alloc(rq, sizeof *e);
    e->rq = rq;
    e->key = w->key.n ? key_from_wire(rq, &w->key) : NULL;
    e->n = e->cap = w->n;
    e->props = alloc(rq, (w->n ? w->n : 1) * sizeof *e->props);
    for (uint32_t i = 0; i < w->n; i++) {
        const das_rpc_ds_prop_t *wp = &w->props[i];
        prop_t *p = &e->props[i];
        p->name = wp->name;
        p->indexed = wp->indexed;
        p->multiple = wp->multiple;
        p->n = p->cap = wp->n;
        p->values = alloc(rq, (wp->n ? wp->n : 1) * sizeof *p->values);
        for (uint32_t j = 0; j < wp->n; j++)
            value_from_wire(rq, &wp->values[j], &p->values[j]);
    }
    return e;
}

/* ---------------------------------------------------------------- entities */

ae_datastore_entity_t *ae_datastore_entity(ae_request_t *rq, ae_datastore_key_t *key)
{
    ae_datastore_entity_t *e = alloc(rq, sizeof *e);
    e->rq = rq;
    e->key = key;
    return e;
}

ae_datastore_key_t *ae_datastore_entity_key(const ae_datastore_entity_t *e)
{
    return e->key;
}

static prop_t *find_prop(const ae_datastore_entity_t *e, const char *name)
{
    for (size_t i = 0; i < e->n; i++)
        if (strcmp(e->props[i].name, name) == 0)
            return &e->props[i];
    return NULL;
}

/* The property `name`, emptied, created at the end when absent. */
static prop_t *reset_prop(ae_datastore_entity_t *e, const char *name)
{
    prop_t *p = find_prop(e, name);
    if (!p) {
        e->props = grow(e->rq, e->props, e->n, &e->cap, sizeof *e->props);
        p = &e->props[e->n++];
        p->name = dup_str(e->rq, name ? name : "");
    }
    p->n = 0;
    p->multiple = false;
    return p;
}

static void append_value(ae_datastore_entity_t *e, prop_t *p, ae_datastore_value_t v)
{
    p->values = grow(e->rq, p->values, p->n, &p->cap, sizeof *p->values);
    p->values[p->n++] = copy_value(e->rq, v);
}

static void set_one(ae_datastore_entity_t *e, const char *name, ae_datastore_value_t v,
                    bool indexed)
{
    prop_t *p = reset_prop(e, name);
    p->indexed = indexed;
    append_value(e, p, v);
}

void ae_datastore_set(ae_datastore_entity_t *e, const char *name, ae_datastore_value_t v)
{
    set_one(e, name, v, true);
}

void ae_datastore_set_unindexed(ae_datastore_entity_t *e, const char *name,
                                ae_datastore_value_t v)
{
    set_one(e, name, v, false);
}

void ae_datastore_set_list(ae_datastore_entity_t *e, const char *name,
                           const ae_datastore_value_t *values, size_t n, bool indexed)
{
    prop_t *p = reset_prop(e, name);
    p->indexed = indexed;
    p->multiple = true;
    for (size_t i = 0; i < n; i++)
        append_value(e, p, values[i]);
}

void ae_datastore_add(ae_datastore_entity_t *e, const char *name, ae_datastore_value_t v)
{
    prop_t *p = find_prop(e, name);
    if (!p) {
        p = reset_prop(e, name);
        p->indexed = true;
    }
    p->multiple = true;
    append_value(e, p, v);
}

bool ae_datastore_unset(ae_datastore_entity_t *e, const char *name)
{
    prop_t *p = find_prop(e, name);
    if (!p)
        return false;
    size_t i = (size_t)(p - e->props);
    memmove(&e->props[i], &e->props[i + 1], (e->n - i - 1) * sizeof *e->props);
    e->n--;
    return true;
}

const ae_datastore_value_t *ae_datastore_get_property(const ae_datastore_entity_t *e,
                                                      const char *name)
{
    const prop_t *p = find_prop(e, name);
    return p && p->n ? &p->values[0] : NULL;
}

const ae_datastore_value_t *ae_datastore_get_list(const ae_datastore_entity_t *e,
                                                  const char *name, size_t *n)
{
    const prop_t *p = find_prop(e, name);
    if (n)
        *n = p ? p->n : 0;
    return p && p->n ? p->values : NULL;
}

int64_t ae_datastore_get_int(const ae_datastore_entity_t *e, const char *name, int64_t dflt)
{
    const ae_datastore_value_t *v = ae_datastore_get_property(e, name);
    return v && (v->type == AE_DATASTORE_INT || v->type == AE_DATASTORE_TIME) ? v->u.i : dflt;
}

const char *ae_datastore_get_string(const ae_datastore_entity_t *e, const char *name,
                                    const char *dflt)
{
    const char *s = ae_datastore_value_string(ae_datastore_get_property(e, name), NULL);
    return s ? s : dflt;
}

size_t ae_datastore_property_count(const ae_datastore_entity_t *e)
{
    return e->n;
}

bool ae_datastore_property_at(const ae_datastore_entity_t *e, size_t i, const char **name,
                              const ae_datastore_value_t **values, size_t *n, bool *indexed,
                              bool *is_list)
{
    if (i >= e->n)
        return false;
    const prop_t *p = &e->props[i];
    if (name)
        *name = p->name;
    if (values)
        *values = p->values;
    if (n)
        *n = p->n;
    if (indexed)
        *indexed = p->indexed;
    if (is_list)
        *is_list = p->multiple;
    return true;
}

/* ---------------------------------------------------------------- calls */

/* One round trip: `rq_body` encoded, sent, and the reply decoded into `rp` from a copy in the
 * arena (so what it points to lives as long as the request). Dispose `rp` either way. */
static int call(ae_request_t *rq, das_rpc_ds_request_t *body, das_rpc_ds_reply_t *rp)
{
    memset(rp, 0, sizeof *rp);
    const char *method = das_rpc_ds_method_name(body->op);
    ae__call_t c;
    das_rpc_buf_t *out = ae__call_begin(rq, &c, DAS_RPC_SERVICE_DATASTORE, method);
    size_t start = out->len;
    das_rpc_ds_encode_request(out, body);
    if (out->len - start > AE_DATASTORE_MAX_CALL_BYTES) {
        ae__call_dispose(&c);
        return ae__fail(rq, AE_ETOOLARGE, "The request to API call datastore_v3.%s() was too large.",
                        method);
    }
    int rc = ae__call_send(rq, &c);
    if (rc == AE_OK) {
        void *copy = das_arena_alloc(&rq->arena, c.reply_len ? c.reply_len : 1);
        if (c.reply_len)
            memcpy(copy, c.reply, c.reply_len);
        if (das_rpc_ds_decode_reply(copy, c.reply_len, body->op, rp) < 0)
            rc = ae__fail(rq, AE_EINTERNAL, "malformed reply to datastore_v3.%s()", method);
    }
    ae__call_dispose(&c);
    return rc;
}

int ae_datastore_get_multi(ae_request_t *rq, const ae_datastore_key_t *const *keys, size_t n,
                           ae_datastore_entity_t **out, int *statuses)
{
    for (size_t i = 0; i < n; i++) {
        out[i] = NULL;
        if (statuses)
            statuses[i] = AE_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        if (!keys[i])
            return ae__fail(rq, AE_EINVAL, "get: key %zu is NULL", i);
        if (key_has_empty_name(keys[i]))
            return fail_empty_name(rq);
    }
    das_arena_t a = {0};
    das_rpc_ds_request_t body = {.op = DAS_RPC_DS_GET, .txn = rq->datastore_txn,
                                 .n = (uint32_t)n};
    body.keys = das_arena_calloc(&a, (n ? n : 1) * sizeof *body.keys);
    for (size_t i = 0; i < n; i++)
        key_to_wire(&a, keys[i], &body.keys[i]);
    das_rpc_ds_reply_t rp;
    int rc = call(rq, &body, &rp);
    if (rc == AE_OK && rp.n != n)
        rc = ae__fail(rq, AE_EINTERNAL, "datastore_v3.Get() answered %u keys of %zu", rp.n, n);
    for (size_t i = 0; i < n; i++) {
        if (rc == AE_OK && rp.entities[i])
            out[i] = entity_from_wire(rq, rp.entities[i]);
        if (statuses)
            statuses[i] = rc != AE_OK ? rc : out[i] ? AE_OK : AE_ENOTFOUND;
    }
    das_rpc_ds_reply_dispose(&rp);
    das_arena_dispose(&a);
    return rc;
}

int ae_datastore_get(ae_request_t *rq, const ae_datastore_key_t *k, ae_datastore_entity_t **out)
{
    int status;
    int rc = ae_datastore_get_multi(rq, &k, 1, out, &status);
    return rc < 0 ? rc : status;
}

int ae_datastore_put_multi(ae_request_t *rq, ae_datastore_entity_t *const *entities, size_t n,
                           int *statuses)
{
    int rc = AE_OK;
    for (size_t i = 0; i < n && rc == AE_OK; i++) {
        if (!entities[i] || !entities[i]->key)
            rc = ae__fail(rq, AE_EINVAL, "put: entity %zu has no key (only an embedded entity "
                                         "may be keyless)",
                          i);
        else if (entity_has_empty_name(entities[i], 0))
            rc = fail_empty_name(rq);
    }
    das_arena_t a = {0};
    das_rpc_ds_reply_t rp = {0};
    if (rc == AE_OK) {
        das_rpc_ds_request_t body = {.op = DAS_RPC_DS_PUT, .txn = rq->datastore_txn,
                                     .n = (uint32_t)n};
        body.entities = das_arena_calloc(&a, (n ? n : 1) * sizeof *body.entities);
        for (size_t i = 0; i < n; i++)
            entity_to_wire(&a, entities[i], &body.entities[i], 0);
        rc = call(rq, &body, &rp);
        if (rc == AE_OK && rp.n != n)
            rc = ae__fail(rq, AE_EINTERNAL, "datastore_v3.Put() answered %u keys of %zu", rp.n,
                          n);
    }
    /* The keys get their ids in place: the app's own key objects see them. */
    for (size_t i = 0; rc == AE_OK && i < n; i++) {
        ae_datastore_key_t *k = entities[i]->key;
        const das_rpc_ds_key_t *done = &rp.keys[i];
        if (done->n == k->n && !ae_datastore_key_is_complete(k)) {
            elem_t *path = alloc(rq, k->n * sizeof *path);
            memcpy(path, k->path, k->n * sizeof *path);
            path[k->n - 1].id = done->path[k->n - 1].id;
            path[k->n - 1].name = done->path[k->n - 1].name;
            k->path = path; /* a fresh array: keys sharing the old one keep their own */
        }
    }
    for (size_t i = 0; statuses && i < n; i++)
        statuses[i] = rc;
    das_rpc_ds_reply_dispose(&rp);
    das_arena_dispose(&a);
    return rc;
}

int ae_datastore_put(ae_request_t *rq, ae_datastore_entity_t *e)
{
    return ae_datastore_put_multi(rq, &e, 1, NULL);
}

int ae_datastore_delete_multi(ae_request_t *rq, const ae_datastore_key_t *const *keys, size_t n,
                              int *statuses)
{
    int rc = AE_OK;
    for (size_t i = 0; i < n && rc == AE_OK; i++) {
        if (!keys[i])
            rc = ae__fail(rq, AE_EINVAL, "delete: key %zu is NULL", i);
        else if (key_has_empty_name(keys[i]))
            rc = fail_empty_name(rq);
    }
    if (rc == AE_OK) {
        das_arena_t a = {0};
        das_rpc_ds_request_t body = {.op = DAS_RPC_DS_DELETE, .txn = rq->datastore_txn,
                                     .n = (uint32_t)n};
        body.keys = das_arena_calloc(&a, (n ? n : 1) * sizeof *body.keys);
        for (size_t i = 0; i < n; i++)
            key_to_wire(&a, keys[i], &body.keys[i]);
        das_rpc_ds_reply_t rp;
        rc = call(rq, &body, &rp);
        das_rpc_ds_reply_dispose(&rp);
        das_arena_dispose(&a);
    }
    for (size_t i = 0; statuses && i < n; i++)
        statuses[i] = rc;
    return rc;
}

int ae_datastore_delete(ae_request_t *rq, const ae_datastore_key_t *k)
{
    return ae_datastore_delete_multi(rq, &k, 1, NULL);
}

int ae_datastore_allocate_ids(ae_request_t *rq, const ae_datastore_key_t *model, int64_t n,
                              int64_t *start, int64_t *end)
{
    if (!model)
        return ae__fail(rq, AE_EINVAL, "allocate_ids: the model key is NULL");
    if (key_has_empty_name(model))
        return fail_empty_name(rq);
    das_arena_t a = {0};
    das_rpc_ds_request_t body = {.op = DAS_RPC_DS_ALLOCATE_IDS, .size = n};
    key_to_wire(&a, model, &body.model);
    das_rpc_ds_reply_t rp;
    int rc = call(rq, &body, &rp);
    if (start)
        *start = rc == AE_OK ? rp.start : 0;
    if (end)
        *end = rc == AE_OK ? rp.end : 0;
    das_rpc_ds_reply_dispose(&rp);
    das_arena_dispose(&a);
    return rc;
}

/* ---------------------------------------------------------------- URL-safe keys */

const char *ae_datastore_key_urlsafe(ae_request_t *rq, const ae_datastore_key_t *k)
{
    das_arena_t a = {0};
    das_rpc_ds_key_t w;
    key_to_wire(&a, k, &w);
    das_rpc_buf_t b = {0};
    int rc = das_rpc_ds_key_to_urlsafe(&w, own_app(rq), &b);
    const char *s = rc == 0 ? das_arena_strndup(&rq->arena, (const char *)b.data, b.len) : NULL;
    if (!s)
        ae__fail(rq, AE_EINVAL, "Cannot encode an incomplete key %s", ae_datastore_key_string(k));
    das_rpc_buf_dispose(&b);
    das_arena_dispose(&a);
    return s;
}

int ae_datastore_key_from_urlsafe(ae_request_t *rq, const char *s, ae_datastore_key_t **out)
{
    *out = NULL;
    das_arena_t a = {0};
    das_rpc_ds_key_t w;
    const char *why = NULL;
    if (das_rpc_ds_key_from_urlsafe(s, &a, &w, &why) < 0) {
        das_arena_dispose(&a);
        return ae__fail(rq, AE_EINVAL, "Invalid string key %.200s. Details: %s", s ? s : "",
                        why ? why : "malformed");
    }
    ae_datastore_key_t *k = alloc(rq, sizeof *k);
    k->rq = rq;
    k->app = dup_str(rq, w.app);
    k->ns = dup_str(rq, w.ns);
    k->n = w.n;
    k->path = alloc(rq, w.n * sizeof *k->path);
    for (uint32_t i = 0; i < w.n; i++)
        k->path[i] = (elem_t){dup_str(rq, w.path[i].kind), w.path[i].id,
                              dup_str(rq, w.path[i].name)};
    das_arena_dispose(&a);
    *out = k;
    return AE_OK;
}

/* ---------------------------------------------------------------- queries */

ae_datastore_query_t *ae_datastore_query(ae_request_t *rq, const char *kind)
{
    ae_datastore_query_t *q = alloc(rq, sizeof *q);
    q->rq = rq;
    q->ns = request_ns(rq);
    q->kind = dup_str(rq, kind);
    return q;
}

void ae_datastore_query_ancestor(ae_datastore_query_t *q, const ae_datastore_key_t *ancestor)
{
    q->ancestor = ancestor;
    if (ancestor)
        q->ns = ancestor->ns;
}

static void add_filter(ae_datastore_query_t *q, const char *name, uint32_t op,
                       const ae_datastore_value_t *values, size_t n)
{
    q->filters = grow(q->rq, q->filters, q->n_filters, &q->cap_filters, sizeof *q->filters);
    filter_t *f = &q->filters[q->n_filters++];
    f->name = dup_str(q->rq, name ? name : "");
    f->op = op;
    f->n = n;
    f->values = alloc(q->rq, (n ? n : 1) * sizeof *f->values);
    for (size_t i = 0; i < n; i++)
        f->values[i] = copy_value(q->rq, values[i]);
}

void ae_datastore_query_filter(ae_datastore_query_t *q, const char *name, ae_datastore_op_t op,
                               ae_datastore_value_t v)
{
    add_filter(q, name, (uint32_t)op, &v, 1);
}

void ae_datastore_query_filter_in(ae_datastore_query_t *q, const char *name,
                                  const ae_datastore_value_t *values, size_t n)
{
    add_filter(q, name, DAS_RPC_DS_IN, values, n);
}

void ae_datastore_query_order(ae_datastore_query_t *q, const char *name, ae_datastore_dir_t dir)
{
    q->orders = grow(q->rq, q->orders, q->n_orders, &q->cap_orders, sizeof *q->orders);
    q->orders[q->n_orders++] = (order_t){dup_str(q->rq, name ? name : ""),
                                         dir == AE_DATASTORE_DESC};
}

void ae_datastore_query_keys_only(ae_datastore_query_t *q)
{
    q->keys_only = true;
}

void ae_datastore_query_project(ae_datastore_query_t *q, const char *name)
{
    q->projection = grow(q->rq, q->projection, q->n_projection, &q->cap_projection,
                         sizeof *q->projection);
    q->projection[q->n_projection++] = dup_str(q->rq, name ? name : "");
}

void ae_datastore_query_distinct(ae_datastore_query_t *q)
{
    q->distinct = true;
}

void ae_datastore_query_offset(ae_datastore_query_t *q, int64_t n)
{
    q->offset = n;
}

void ae_datastore_query_end_cursor(ae_datastore_query_t *q, const char *cursor)
{
    q->end_cursor = cursor && cursor[0] ? dup_str(q->rq, cursor) : NULL;
}

static int run_query(ae_request_t *rq, ae_datastore_query_t *q, int64_t limit,
                     const char *start_cursor, bool count_only, das_rpc_ds_reply_t *rp)
{
    memset(rp, 0, sizeof *rp);
    if (rq->datastore_txn && !q->ancestor)
        return ae__fail(rq, AE_EINVAL, "Only ancestor queries are allowed inside transactions.");
    if (q->ancestor && key_has_empty_name(q->ancestor))
        return fail_empty_name(rq);
    for (size_t i = 0; i < q->n_filters; i++)
        for (size_t j = 0; j < q->filters[i].n; j++)
            if (value_has_empty_name(&q->filters[i].values[j], 0))
                return fail_empty_name(rq);
    das_arena_t a = {0};
    das_rpc_ds_request_t body = {.op = DAS_RPC_DS_RUN_QUERY, .txn = rq->datastore_txn};
    das_rpc_ds_query_t *w = &body.query;
    w->ns = q->ns;
    w->kind = q->kind;
    if (q->ancestor) {
        w->ancestor = das_arena_calloc(&a, sizeof *w->ancestor);
        key_to_wire(&a, q->ancestor, w->ancestor);
    }
    w->n_filters = (uint32_t)q->n_filters;
    w->filters = das_arena_calloc(&a, (q->n_filters ? q->n_filters : 1) * sizeof *w->filters);
    for (size_t i = 0; i < q->n_filters; i++) {
        const filter_t *f = &q->filters[i];
        das_rpc_ds_filter_t *wf = &w->filters[i];
        wf->prop = f->name;
        wf->op = f->op;
        wf->n = (uint32_t)f->n;
        wf->values = das_arena_calloc(&a, (f->n ? f->n : 1) * sizeof *wf->values);
        for (size_t j = 0; j < f->n; j++)
            value_to_wire(&a, &f->values[j], &wf->values[j], 0);
    }
    w->n_orders = (uint32_t)q->n_orders;
    w->orders = das_arena_calloc(&a, (q->n_orders ? q->n_orders : 1) * sizeof *w->orders);
    for (size_t i = 0; i < q->n_orders; i++)
        w->orders[i] = (das_rpc_ds_order_t){q->orders[i].name, q->orders[i].desc};
    w->keys_only = q->keys_only;
    w->n_projection = (uint32_t)q->n_projection;
    w->projection = q->projection;
    w->distinct = q->distinct;
    w->limit = limit < 0 ? -1 : limit;
    w->offset = q->offset;
    w->start_cursor = start_cursor && start_cursor[0] ? start_cursor : NULL;
    w->end_cursor = q->end_cursor;
    w->count_only = count_only;
    int rc = call(rq, &body, rp);
    das_arena_dispose(&a);
    return rc;
}

int ae_datastore_fetch(ae_request_t *rq, ae_datastore_query_t *q, int64_t limit,
                       const char *start_cursor, ae_datastore_page_t *page)
{
    memset(page, 0, sizeof *page);
    das_rpc_ds_reply_t rp;
    int rc = run_query(rq, q, limit, start_cursor, false, &rp);
    if (rc == AE_OK) {
        page->n = rp.n;
        page->entities = alloc(rq, (rp.n ? rp.n : 1) * sizeof *page->entities);
        for (uint32_t i = 0; i < rp.n; i++)
            page->entities[i] = entity_from_wire(rq, rp.entities[i]);
        page->next_cursor = rp.cursor ? rp.cursor : "";
        page->more = rp.more;
        page->skipped = rp.skipped;
    }
    das_rpc_ds_reply_dispose(&rp);
    return rc;
}

int ae_datastore_count(ae_request_t *rq, ae_datastore_query_t *q, int64_t *n)
{
    das_rpc_ds_reply_t rp;
    int rc = run_query(rq, q, -1, NULL, true, &rp);
    *n = rc == AE_OK ? rp.count : 0;
    das_rpc_ds_reply_dispose(&rp);
    return rc;
}

/* ---------------------------------------------------------------- transactions */

int ae_datastore_begin(ae_request_t *rq, const ae_datastore_txn_options_t *o)
{
    if (rq->datastore_txn)
        return ae__fail(rq, AE_EINVAL, "Nested transactions are not supported.");
    das_rpc_ds_request_t body = {.op = DAS_RPC_DS_BEGIN, .xg = o && o->xg,
                                 .read_only = o && o->read_only};
    das_rpc_ds_reply_t rp;
    int rc = call(rq, &body, &rp);
    if (rc == AE_OK)
        rq->datastore_txn = rp.handle;
    das_rpc_ds_reply_dispose(&rp);
    return rc;
}

/* Commit or Rollback of the request's transaction, which is cleared whatever the outcome. */
static int end_txn(ae_request_t *rq, uint32_t op)
{
    das_rpc_ds_request_t body = {.op = op, .txn = rq->datastore_txn};
    rq->datastore_txn = 0;
    das_rpc_ds_reply_t rp;
    int rc = call(rq, &body, &rp);
    das_rpc_ds_reply_dispose(&rp);
    return rc;
}

int ae_datastore_commit(ae_request_t *rq)
{
    if (!rq->datastore_txn)
        return ae__fail(rq, AE_EINVAL, "There is no transaction in progress to commit.");
    return end_txn(rq, DAS_RPC_DS_COMMIT);
}

int ae_datastore_rollback(ae_request_t *rq)
{
    return rq->datastore_txn ? end_txn(rq, DAS_RPC_DS_ROLLBACK) : AE_OK;
}

bool ae_datastore_in_transaction(const ae_request_t *rq)
{
    return rq->datastore_txn != 0;
}

int ae_datastore_run_in_transaction(ae_request_t *rq, const ae_datastore_txn_options_t *o,
                                    ae_datastore_txn_fn fn, void *ctx)
{
    if (rq->datastore_txn)
        return ae__fail(rq, AE_EINVAL, "Nested transactions are not supported.");
    for (int attempt = 0; attempt < AE_DATASTORE_TXN_ATTEMPTS; attempt++) {
        int rc = ae_datastore_begin(rq, o);
        if (rc != AE_OK)
            return rc;
        uint64_t handle = rq->datastore_txn;
        rc = fn(rq, ctx);
        if (rq->datastore_txn != handle) /* fn ended it itself */
            return rc;
        if (rc != AE_OK) {
            /* Keep what fn's failure said, not what the rollback says. */
            const char *last_error = rq->last_error;
            ae_datastore_rollback(rq);
            rq->last_error = last_error;
            if (rc == AE_ECONTENTION)
                continue;
            return rc;
        }
        rc = ae_datastore_commit(rq);
        if (rc != AE_ECONTENTION)
            return rc;
    }
    return ae__fail(rq, AE_ECONTENTION,
                    "The transaction could not be committed. Please try again.");
}
