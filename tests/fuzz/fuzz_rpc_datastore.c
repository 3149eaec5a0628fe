/* fuzz_rpc_datastore.c - the datastore's wire decoders (common/rpc_datastore.h) and its URL-safe
 * key decoder on arbitrary bytes.
 *
 * Byte 0 picks a method (byte 0 % 8 + 1: Get .. AllocateIds); the rest, BODY, is decoded as
 * that method's request and reply body, and as each piece alone from BODY's start (a key, a
 * value, an entity, a query). Then BODY is given to das_rpc_ds_key_from_urlsafe twice: as the
 * text it is (up to its first NUL), and as the bytes of a Reference protobuf, URL-safe
 * base64-encoded first, so that the protobuf reader is reached by any bytes, not only by
 * valid base64.
 *
 * Checked beyond "no crash, no leak, no UB": a decoder returns 0 or -EPROTO (-EINVAL for a key
 * string), and a failed one leaves no items; every string and byte span a decoder hands out is
 * inside BODY and NUL-terminated; what decodes re-encodes and decodes again to the same values,
 * and re-encoding is a fixed point (a string holding a NUL comes back cut at it, so the first
 * encoding may differ from BODY, never the second from the first). A decoded key string is a
 * valid key (an app, a path whose elements each have a kind and exactly one of an id > 0 or a
 * name), and its own URL-safe string decodes to the same key.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "fuzz_util.h"
#include "rpc_codec.h"
#include "rpc_datastore.h"

/* A borrowed byte span: inside the input, with a NUL right after it. */
#define CHECK_SPAN(ptr, len, data, size)                                                       \
    do {                                                                                       \
        FUZZ_CHECK(fuzz_within((ptr), (size_t)(len) + 1, (data), (size)));                    \
        FUZZ_CHECK(((const char *)(ptr))[(len)] == '\0');                                     \
    } while (0)

typedef struct {
    const uint8_t *data;
    size_t size;
} input_t;

/* A borrowed C string (NULL allowed where "" stands for none): inside the input. */
static void check_str(const input_t *in, const char *s)
{
    if (s && s[0])
        CHECK_SPAN(s, strlen(s), in->data, in->size);
}

static int str_eq(const char *a, const char *b)
{
    if (!a || !b)
        return (a ? a : "")[0] == '\0' && (b ? b : "")[0] == '\0';
    return strcmp(a, b) == 0;
}

static int bytes_eq(const void *a, size_t alen, const void *b, size_t blen)
{
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

/* A buffer's bytes, never NULL (an empty buffer has no data, and a reader over NULL is
 * pointer arithmetic on NULL: das_rpc_reader_init's UB, not the decoders'). */
static const uint8_t *buf_data(const das_rpc_buf_t *b)
{
    return b->data ? b->data : (const uint8_t *)"";
}

/* ---------------------------------------------------------------- the model: checks */

static void check_entity(const input_t *in, const das_rpc_ds_entity_t *e, int depth);

static void check_key(const input_t *in, const das_rpc_ds_key_t *k)
{
    check_str(in, k->app);
    FUZZ_CHECK(k->ns != NULL);
    check_str(in, k->ns);
    FUZZ_CHECK(k->n <= DAS_RPC_DS_MAX_ITEMS);
    FUZZ_CHECK(k->n == 0 || k->path != NULL);
    for (uint32_t i = 0; i < k->n; i++) {
        FUZZ_CHECK(k->path[i].kind != NULL);
        check_str(in, k->path[i].kind);
        check_str(in, k->path[i].name);
    }
}

static void check_value(const input_t *in, const das_rpc_ds_value_t *v, int depth)
{
    FUZZ_CHECK(v->type < DAS_RPC_DS_TYPE_COUNT);
    switch (v->type) {
    case DAS_RPC_DS_STRING:
    case DAS_RPC_DS_BYTES:
    case DAS_RPC_DS_TEXT:
    case DAS_RPC_DS_BLOB: CHECK_SPAN(v->u.s.p, v->u.s.n, in->data, in->size); break;
    case DAS_RPC_DS_USER:
        check_str(in, v->u.user.email);
        check_str(in, v->u.user.auth_domain);
        check_str(in, v->u.user.user_id);
        break;
    case DAS_RPC_DS_KEY:
        FUZZ_CHECK(v->u.key != NULL);
        check_key(in, v->u.key);
        break;
    case DAS_RPC_DS_ENTITY:
        FUZZ_CHECK(v->u.entity != NULL);
        FUZZ_CHECK(depth < DAS_RPC_DS_MAX_DEPTH);
        check_entity(in, v->u.entity, depth + 1);
        break;
    default: break;
    }
}

static void check_entity(const input_t *in, const das_rpc_ds_entity_t *e, int depth)
{
    check_key(in, &e->key);
    FUZZ_CHECK(e->n == 0 || e->props != NULL);
    for (uint32_t i = 0; i < e->n; i++) {
        const das_rpc_ds_prop_t *p = &e->props[i];
        FUZZ_CHECK(p->name != NULL);
        check_str(in, p->name);
        FUZZ_CHECK(p->n == 0 || p->values != NULL);
        for (uint32_t j = 0; j < p->n; j++)
            check_value(in, &p->values[j], depth);
    }
}

static void check_query(const input_t *in, const das_rpc_ds_query_t *q)
{
    FUZZ_CHECK(q->ns != NULL);
    check_str(in, q->ns);
    check_str(in, q->kind);
    if (q->ancestor)
        check_key(in, q->ancestor);
    for (uint32_t i = 0; i < q->n_filters; i++) {
        const das_rpc_ds_filter_t *f = &q->filters[i];
        check_str(in, f->prop);
        FUZZ_CHECK(f->op >= DAS_RPC_DS_LT && f->op <= DAS_RPC_DS_NE);
        for (uint32_t j = 0; j < f->n; j++)
            check_value(in, &f->values[j], 0);
    }
    for (uint32_t i = 0; i < q->n_orders; i++)
        check_str(in, q->orders[i].prop);
    for (uint32_t i = 0; i < q->n_projection; i++)
        check_str(in, q->projection[i]);
    check_str(in, q->start_cursor);
    check_str(in, q->end_cursor);
}

/* ---------------------------------------------------------------- the model: equality */

static int entity_eq(const das_rpc_ds_entity_t *a, const das_rpc_ds_entity_t *b);

static int key_eq(const das_rpc_ds_key_t *a, const das_rpc_ds_key_t *b)
{
    if (!str_eq(a->app, b->app) || !str_eq(a->ns, b->ns) || a->n != b->n)
        return 0;
    for (uint32_t i = 0; i < a->n; i++)
        if (!str_eq(a->path[i].kind, b->path[i].kind) || a->path[i].id != b->path[i].id ||
            !str_eq(a->path[i].name, b->path[i].name))
            return 0;
    return 1;
}

static int value_eq(const das_rpc_ds_value_t *a, const das_rpc_ds_value_t *b)
{
    if (a->type != b->type)
        return 0;
    switch (a->type) {
    case DAS_RPC_DS_INT:
    case DAS_RPC_DS_TIME: return a->u.i == b->u.i;
    case DAS_RPC_DS_BOOL: return a->u.b == b->u.b;
    case DAS_RPC_DS_DOUBLE: return memcmp(&a->u.d, &b->u.d, sizeof a->u.d) == 0; /* NaN too */
    case DAS_RPC_DS_STRING:
    case DAS_RPC_DS_BYTES:
    case DAS_RPC_DS_TEXT:
    case DAS_RPC_DS_BLOB: return bytes_eq(a->u.s.p, a->u.s.n, b->u.s.p, b->u.s.n);
    case DAS_RPC_DS_GEOPT:
        return memcmp(&a->u.geo, &b->u.geo, sizeof a->u.geo) == 0;
    case DAS_RPC_DS_USER:
        return str_eq(a->u.user.email, b->u.user.email) &&
               str_eq(a->u.user.auth_domain, b->u.user.auth_domain) &&
               str_eq(a->u.user.user_id, b->u.user.user_id);
    case DAS_RPC_DS_KEY: return key_eq(a->u.key, b->u.key);
    case DAS_RPC_DS_ENTITY: return entity_eq(a->u.entity, b->u.entity);
    default: return 1;
    }
}

static int entity_eq(const das_rpc_ds_entity_t *a, const das_rpc_ds_entity_t *b)
{
    if (!key_eq(&a->key, &b->key) || a->n != b->n)
        return 0;
    for (uint32_t i = 0; i < a->n; i++) {
        const das_rpc_ds_prop_t *x = &a->props[i], *y = &b->props[i];
        if (!str_eq(x->name, y->name) || x->indexed != y->indexed ||
            x->multiple != y->multiple || x->n != y->n)
            return 0;
        for (uint32_t j = 0; j < x->n; j++)
            if (!value_eq(&x->values[j], &y->values[j]))
                return 0;
    }
    return 1;
}

static int query_eq(const das_rpc_ds_query_t *a, const das_rpc_ds_query_t *b)
{
    if (!str_eq(a->ns, b->ns) || !str_eq(a->kind, b->kind) ||
        (a->ancestor != NULL) != (b->ancestor != NULL) ||
        (a->ancestor && !key_eq(a->ancestor, b->ancestor)))
        return 0;
    if (a->n_filters != b->n_filters || a->n_orders != b->n_orders ||
        a->n_projection != b->n_projection)
        return 0;
    for (uint32_t i = 0; i < a->n_filters; i++) {
        const das_rpc_ds_filter_t *x = &a->filters[i], *y = &b->filters[i];
        if (!str_eq(x->prop, y->prop) || x->op != y->op || x->n != y->n)
            return 0;
        for (uint32_t j = 0; j < x->n; j++)
            if (!value_eq(&x->values[j], &y->values[j]))
                return 0;
    }
    for (uint32_t i = 0; i < a->n_orders; i++)
        if (!str_eq(a->orders[i].prop, b->orders[i].prop) || a->orders[i].desc != b->orders[i].desc)
            return 0;
    for (uint32_t i = 0; i < a->n_projection; i++)
        if (!str_eq(a->projection[i], b->projection[i]))
            return 0;
    return a->keys_only == b->keys_only && a->distinct == b->distinct && a->limit == b->limit &&
           a->offset == b->offset && str_eq(a->start_cursor, b->start_cursor) &&
           str_eq(a->end_cursor, b->end_cursor) && a->count_only == b->count_only;
}

/* ---------------------------------------------------------------- requests */

static int request_eq(uint32_t op, const das_rpc_ds_request_t *a, const das_rpc_ds_request_t *b)
{
    switch (op) {
    case DAS_RPC_DS_GET:
    case DAS_RPC_DS_DELETE:
        if (a->txn != b->txn || a->n != b->n)
            return 0;
        for (uint32_t i = 0; i < a->n; i++)
            if (!key_eq(&a->keys[i], &b->keys[i]))
                return 0;
        return 1;
    case DAS_RPC_DS_PUT:
        if (a->txn != b->txn || a->n != b->n)
            return 0;
        for (uint32_t i = 0; i < a->n; i++)
            if (!entity_eq(&a->entities[i], &b->entities[i]))
                return 0;
        return 1;
    case DAS_RPC_DS_RUN_QUERY: return a->txn == b->txn && query_eq(&a->query, &b->query);
    case DAS_RPC_DS_BEGIN: return a->xg == b->xg && a->read_only == b->read_only;
    case DAS_RPC_DS_COMMIT:
    case DAS_RPC_DS_ROLLBACK: return a->txn == b->txn;
    case DAS_RPC_DS_ALLOCATE_IDS:
        return key_eq(&a->model, &b->model) && a->size == b->size && a->max == b->max;
    default: return 0;
    }
}

static void fuzz_request(const input_t *in, uint32_t op)
{
    das_rpc_ds_request_t rq;
    int rc = das_rpc_ds_decode_request(in->data, in->size, op, &rq);
    if (rc != 0) {
        FUZZ_CHECK(rc == -EPROTO);
        FUZZ_CHECK(rq.n == 0);
        das_rpc_ds_request_dispose(&rq);
        return;
    }
    FUZZ_CHECK(rq.op == op);
    switch (op) {
    case DAS_RPC_DS_GET:
    case DAS_RPC_DS_DELETE:
        for (uint32_t i = 0; i < rq.n; i++)
            check_key(in, &rq.keys[i]);
        break;
    case DAS_RPC_DS_PUT:
        for (uint32_t i = 0; i < rq.n; i++)
            check_entity(in, &rq.entities[i], 0);
        break;
    case DAS_RPC_DS_RUN_QUERY: check_query(in, &rq.query); break;
    case DAS_RPC_DS_ALLOCATE_IDS: check_key(in, &rq.model); break;
    default: break;
    }

    das_rpc_buf_t b1 = {0}, b2 = {0};
    das_rpc_ds_encode_request(&b1, &rq);
    FUZZ_CHECK(b1.len <= in->size); /* strings come back cut at a NUL, never longer */
    das_rpc_ds_request_t rq2;
    FUZZ_CHECK(das_rpc_ds_decode_request(buf_data(&b1), b1.len, op, &rq2) == 0);
    FUZZ_CHECK(request_eq(op, &rq, &rq2));
    das_rpc_ds_encode_request(&b2, &rq2);
    FUZZ_CHECK(bytes_eq(b1.data, b1.len, b2.data, b2.len));
    das_rpc_ds_request_dispose(&rq2);
    das_rpc_ds_request_dispose(&rq);
    das_rpc_buf_dispose(&b1);
    das_rpc_buf_dispose(&b2);
}

/* ---------------------------------------------------------------- replies */

static int reply_eq(uint32_t op, const das_rpc_ds_reply_t *a, const das_rpc_ds_reply_t *b)
{
    switch (op) {
    case DAS_RPC_DS_GET:
        if (a->n != b->n)
            return 0;
        for (uint32_t i = 0; i < a->n; i++) {
            if ((a->entities[i] != NULL) != (b->entities[i] != NULL))
                return 0;
            if (a->entities[i] && !entity_eq(a->entities[i], b->entities[i]))
                return 0;
        }
        return 1;
    case DAS_RPC_DS_PUT:
        if (a->n != b->n)
            return 0;
        for (uint32_t i = 0; i < a->n; i++)
            if (!key_eq(&a->keys[i], &b->keys[i]))
                return 0;
        return 1;
    case DAS_RPC_DS_RUN_QUERY:
        if (a->n != b->n)
            return 0;
        for (uint32_t i = 0; i < a->n; i++)
            if (!entity_eq(a->entities[i], b->entities[i]))
                return 0;
        return str_eq(a->cursor, b->cursor) && a->more == b->more && a->count == b->count &&
               a->skipped == b->skipped;
    case DAS_RPC_DS_BEGIN: return a->handle == b->handle;
    case DAS_RPC_DS_ALLOCATE_IDS: return a->start == b->start && a->end == b->end;
    default: return 1; /* empty */
    }
}

static void fuzz_reply(const input_t *in, uint32_t op)
{
    das_rpc_ds_reply_t rp;
    int rc = das_rpc_ds_decode_reply(in->data, in->size, op, &rp);
    if (rc != 0) {
        FUZZ_CHECK(rc == -EPROTO);
        FUZZ_CHECK(rp.n == 0);
        das_rpc_ds_reply_dispose(&rp);
        return;
    }
    switch (op) {
    case DAS_RPC_DS_GET:
        for (uint32_t i = 0; i < rp.n; i++)
            if (rp.entities[i])
                check_entity(in, rp.entities[i], 0);
        break;
    case DAS_RPC_DS_PUT:
        for (uint32_t i = 0; i < rp.n; i++)
            check_key(in, &rp.keys[i]);
        break;
    case DAS_RPC_DS_RUN_QUERY:
        for (uint32_t i = 0; i < rp.n; i++) {
            FUZZ_CHECK(rp.entities[i] != NULL);
            check_entity(in, rp.entities[i], 0);
        }
        check_str(in, rp.cursor);
        break;
    case DAS_RPC_DS_DELETE:
    case DAS_RPC_DS_COMMIT:
    case DAS_RPC_DS_ROLLBACK: FUZZ_CHECK(in->size == 0); break;
    default: break;
    }

    das_rpc_buf_t b1 = {0}, b2 = {0};
    das_rpc_ds_encode_reply(&b1, &rp, op);
    FUZZ_CHECK(b1.len <= in->size);
    das_rpc_ds_reply_t rp2;
    FUZZ_CHECK(das_rpc_ds_decode_reply(buf_data(&b1), b1.len, op, &rp2) == 0);
    FUZZ_CHECK(reply_eq(op, &rp, &rp2));
    das_rpc_ds_encode_reply(&b2, &rp2, op);
    FUZZ_CHECK(bytes_eq(b1.data, b1.len, b2.data, b2.len));
    das_rpc_ds_reply_dispose(&rp2);
    das_rpc_ds_reply_dispose(&rp);
    das_rpc_buf_dispose(&b1);
    das_rpc_buf_dispose(&b2);
}

/* ---------------------------------------------------------------- pieces */

typedef enum { PIECE_KEY, PIECE_VALUE, PIECE_ENTITY, PIECE_QUERY } piece_t;

/* Decodes one piece from the start of the input; when it decodes, re-encodes it, decodes that
 * whole, and checks it is the same and a fixed point. */
static void fuzz_piece(const input_t *in, piece_t kind)
{
    das_arena_t a = {0}, a2 = {0};
    das_rpc_reader_t r;
    das_rpc_reader_init(&r, in->data, in->size);
    union {
        das_rpc_ds_key_t key;
        das_rpc_ds_value_t value;
        das_rpc_ds_entity_t entity;
        das_rpc_ds_query_t query;
    } x, y;
    memset(&x, 0, sizeof x);
    memset(&y, 0, sizeof y);
    das_rpc_buf_t b1 = {0}, b2 = {0};
    switch (kind) {
    case PIECE_KEY:
        das_rpc_ds_get_key(&r, &a, &x.key);
        if (r.bad) {
            FUZZ_CHECK(x.key.n == 0);
            break;
        }
        check_key(in, &x.key);
        das_rpc_ds_put_key(&b1, &x.key);
        break;
    case PIECE_VALUE:
        das_rpc_ds_get_value(&r, &a, &x.value);
        if (r.bad) {
            FUZZ_CHECK(x.value.type == DAS_RPC_DS_NULL);
            break;
        }
        check_value(in, &x.value, 0);
        das_rpc_ds_put_value(&b1, &x.value);
        break;
    case PIECE_ENTITY:
        das_rpc_ds_get_entity(&r, &a, &x.entity);
        if (r.bad) {
            FUZZ_CHECK(x.entity.n == 0);
            break;
        }
        check_entity(in, &x.entity, 0);
        das_rpc_ds_put_entity(&b1, &x.entity);
        break;
    case PIECE_QUERY:
        das_rpc_ds_get_query(&r, &a, &x.query);
        if (r.bad) {
            FUZZ_CHECK(x.query.n_filters == 0 && x.query.n_orders == 0 &&
                       x.query.n_projection == 0 && x.query.ancestor == NULL);
            break;
        }
        check_query(in, &x.query);
        das_rpc_ds_put_query(&b1, &x.query);
        break;
    }
    if (!r.bad) {
        /* The piece took a prefix of the input; its encoding is no longer than that. */
        FUZZ_CHECK(b1.len <= (size_t)(r.p - (const uint8_t *)in->data));
        das_rpc_reader_t r2;
        das_rpc_reader_init(&r2, buf_data(&b1), b1.len);
        switch (kind) {
        case PIECE_KEY:
            das_rpc_ds_get_key(&r2, &a2, &y.key);
            FUZZ_CHECK(das_rpc_reader_done(&r2) && key_eq(&x.key, &y.key));
            das_rpc_ds_put_key(&b2, &y.key);
            break;
        case PIECE_VALUE:
            das_rpc_ds_get_value(&r2, &a2, &y.value);
            FUZZ_CHECK(das_rpc_reader_done(&r2) && value_eq(&x.value, &y.value));
            das_rpc_ds_put_value(&b2, &y.value);
            break;
        case PIECE_ENTITY:
            das_rpc_ds_get_entity(&r2, &a2, &y.entity);
            FUZZ_CHECK(das_rpc_reader_done(&r2) && entity_eq(&x.entity, &y.entity));
            das_rpc_ds_put_entity(&b2, &y.entity);
            break;
        case PIECE_QUERY:
            das_rpc_ds_get_query(&r2, &a2, &y.query);
            FUZZ_CHECK(das_rpc_reader_done(&r2) && query_eq(&x.query, &y.query));
            das_rpc_ds_put_query(&b2, &y.query);
            break;
        }
        FUZZ_CHECK(bytes_eq(b1.data, b1.len, b2.data, b2.len));
    }
    das_rpc_buf_dispose(&b1);
    das_rpc_buf_dispose(&b2);
    das_arena_dispose(&a);
    das_arena_dispose(&a2);
}

/* ---------------------------------------------------------------- URL-safe key strings */

/* A key string decoded: the key is a valid one and its own string gives it back. */
static void fuzz_urlsafe(const char *s)
{
    das_arena_t a = {0}, a2 = {0};
    das_rpc_ds_key_t k, k2;
    const char *why = NULL;
    int rc = das_rpc_ds_key_from_urlsafe(s, &a, &k, &why);
    if (rc != 0) {
        FUZZ_CHECK(rc == -EINVAL);
        FUZZ_CHECK(why != NULL && why[0]);
        FUZZ_CHECK(k.n == 0 && k.ns != NULL && k.ns[0] == '\0');
        das_arena_dispose(&a);
        return;
    }
    FUZZ_CHECK(k.app != NULL && k.app[0]);
    FUZZ_CHECK(k.ns != NULL);
    FUZZ_CHECK(k.n >= 1 && k.path != NULL);
    for (uint32_t i = 0; i < k.n; i++) {
        const das_rpc_ds_elem_t *e = &k.path[i];
        FUZZ_CHECK(e->kind != NULL && e->kind[0]);
        FUZZ_CHECK((e->id > 0) != (e->name != NULL));
        FUZZ_CHECK(e->name == NULL || e->name[0]);
    }
    das_rpc_buf_t b1 = {0}, b2 = {0};
    FUZZ_CHECK(das_rpc_ds_key_to_urlsafe(&k, NULL, &b1) == 0);
    FUZZ_CHECK(strlen((const char *)b1.data) == b1.len);
    FUZZ_CHECK(strspn((const char *)b1.data, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                              "0123456789-_") == b1.len);
    FUZZ_CHECK(das_rpc_ds_key_from_urlsafe((const char *)b1.data, &a2, &k2, NULL) == 0);
    FUZZ_CHECK(key_eq(&k, &k2));
    FUZZ_CHECK(das_rpc_ds_key_to_urlsafe(&k2, "unused", &b2) == 0);
    FUZZ_CHECK(bytes_eq(b1.data, b1.len, b2.data, b2.len));
    das_rpc_buf_dispose(&b1);
    das_rpc_buf_dispose(&b2);
    das_arena_dispose(&a);
    das_arena_dispose(&a2);
}

/* The bytes as unpadded URL-safe base64 (malloc'd). */
static char *urlsafe_base64(const uint8_t *data, size_t size)
{
    char *s = malloc(4 * ((size + 2) / 3) + 1);
    if (!s)
        abort();
    int n = size ? EVP_EncodeBlock((unsigned char *)s, data, (int)size) : 0;
    while (n > 0 && s[n - 1] == '=')
        n--;
    s[n] = '\0';
    for (int i = 0; i < n; i++)
        s[i] = s[i] == '+' ? '-' : s[i] == '/' ? '_' : s[i];
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint32_t op = (uint32_t)(data[0] % DAS_RPC_DS_ALLOCATE_IDS) + 1; /* GET .. ALLOCATE_IDS */
    FUZZ_CHECK(das_rpc_ds_method_name(op) != NULL);
    FUZZ_CHECK(das_rpc_ds_method_op(das_rpc_ds_method_name(op)) == op);
    input_t in = {data + 1, size - 1};
    fuzz_request(&in, op);
    fuzz_reply(&in, op);
    fuzz_piece(&in, PIECE_KEY);
    fuzz_piece(&in, PIECE_VALUE);
    fuzz_piece(&in, PIECE_ENTITY);
    fuzz_piece(&in, PIECE_QUERY);

    char *text = fuzz_cstr(in.data, in.size);
    fuzz_urlsafe(text);
    free(text);
    char *encoded = urlsafe_base64(in.data, in.size);
    fuzz_urlsafe(encoded);
    free(encoded);
    return 0;
}
