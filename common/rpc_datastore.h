/* rpc_datastore.h - the datastore service's message bodies, encoded and decoded in one place
 * for both sides: the SDK (in an instance, or in the testbed) builds a request and reads the
 * reply; the server's datastore service module reads the request and builds the reply. Also the
 * platform's URL-safe key string (the Reference protobuf, base64), which both sides need.
 *
 * The call envelope (rpc_codec.h) names the service "datastore_v3" and one of the platform's
 * methods: Get, Put, Delete, RunQuery, BeginTransaction, Commit, Rollback, AllocateIds. The
 * wire model mirrors the stub's (stubs/datastore/datastore.h) without depending on it: a key is
 * an app, a namespace and a path of (kind, id | name); a value is typed; a property holds one
 * value or a list; an entity is a key and its properties.
 *
 * Layout of the pieces (u32, i64, double and bytes are the codec's helpers; a string is bytes,
 * "" standing for NULL):
 *   key      str app, str ns, u32 n, n x (str kind, i64 id, str name)
 *   value    u32 type, then INT/TIME i64; BOOL u32; DOUBLE double; STRING/BYTES/TEXT/BLOB bytes;
 *            GEOPT double lat, double lng; USER str email, str auth_domain, str user_id;
 *            KEY key; ENTITY entity; NULL nothing
 *   property str name, u32 flags (1 indexed, 2 multiple), u32 n, n x value
 *   entity   key (n = 0: none, for an embedded entity), u32 n, n x property
 *   query    str ns, str kind, u32 has_ancestor, [key], u32 n_filters, n x (str prop, u32 op,
 *            u32 n, n x value), u32 n_orders, n x (str prop, u32 desc), u32 keys_only,
 *            u32 n_projection, n x str, u32 distinct, i64 limit, i64 offset, str start_cursor,
 *            str end_cursor, u32 count_only
 * Bodies, by method:
 *   Get              request u64 txn, u32 n, n x key    reply u32 n, n x (u32 found, [entity])
 *   Put              request u64 txn, u32 n, n x entity reply u32 n, n x key (completed)
 *   Delete           request u64 txn, u32 n, n x key    reply empty
 *   RunQuery         request u64 txn, query             reply u32 n, n x entity, str cursor,
 *                                                             u32 more, i64 count, i64 skipped
 *   BeginTransaction request u32 xg, u32 read_only      reply u64 handle
 *   Commit, Rollback request u64 handle                 reply empty
 *   AllocateIds      request key, i64 size, i64 max     reply i64 start, i64 end
 * A txn of 0 is none. Part of the codec library.
 *
 * Memory: a decoded message's arrays live in its own arena (das_arena_t, freed by the
 * message's dispose); its strings are borrowed from the payload (NUL-terminated by the codec),
 * so the payload must outlive the message.
 */
#ifndef DAS_RPC_DATASTORE_H
#define DAS_RPC_DATASTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "rpc_codec.h"

#define DAS_RPC_SERVICE_DATASTORE "datastore_v3"
#define DAS_RPC_DS_MAX_ITEMS 1000000 /* keys, entities, values or properties in one list */
#define DAS_RPC_DS_MAX_DEPTH 100     /* embedded entities (and keys in them) nested this deep */

typedef enum {
    DAS_RPC_DS_GET = 1,
    DAS_RPC_DS_PUT,
    DAS_RPC_DS_DELETE,
    DAS_RPC_DS_RUN_QUERY,
    DAS_RPC_DS_BEGIN,
    DAS_RPC_DS_COMMIT,
    DAS_RPC_DS_ROLLBACK,
    DAS_RPC_DS_ALLOCATE_IDS,
} das_rpc_ds_op_t;

/* The method name of `op` (NULL for none), and the op a method name names (0 for none). */
const char *das_rpc_ds_method_name(uint32_t op);
uint32_t das_rpc_ds_method_op(const char *method);

/* ---------------------------------------------------------------- the model */

/* The value types, numbered as the stub's das_ds_type_t (which the service relies on). */
typedef enum {
    DAS_RPC_DS_NULL = 0,
    DAS_RPC_DS_INT,
    DAS_RPC_DS_TIME,
    DAS_RPC_DS_BOOL,
    DAS_RPC_DS_STRING,
    DAS_RPC_DS_BYTES,
    DAS_RPC_DS_TEXT,
    DAS_RPC_DS_BLOB,
    DAS_RPC_DS_DOUBLE,
    DAS_RPC_DS_GEOPT,
    DAS_RPC_DS_USER,
    DAS_RPC_DS_KEY,
    DAS_RPC_DS_ENTITY,
    DAS_RPC_DS_TYPE_COUNT
} das_rpc_ds_type_t;

/* Filter operators, numbered as the stub's das_ds_op_t. */
typedef enum {
    DAS_RPC_DS_LT = 1,
    DAS_RPC_DS_LE,
    DAS_RPC_DS_GT,
    DAS_RPC_DS_GE,
    DAS_RPC_DS_EQ,
    DAS_RPC_DS_IN,
    DAS_RPC_DS_NE,
} das_rpc_ds_filter_op_t;

typedef struct {
    const char *kind;
    int64_t id;       /* 0 when named or incomplete */
    const char *name; /* NULL when it has an id or is incomplete */
} das_rpc_ds_elem_t;

typedef struct {
    const char *app; /* NULL: the store's own */
    const char *ns;  /* never NULL after decoding ("" is the default namespace) */
    uint32_t n;
    das_rpc_ds_elem_t *path;
} das_rpc_ds_key_t;

typedef struct das_rpc_ds_entity das_rpc_ds_entity_t;

typedef struct {
    uint32_t type; /* das_rpc_ds_type_t */
    union {
        int64_t i; /* INT, TIME (microseconds since the Unix epoch) */
        bool b;
        double d;
        struct {
            const char *p; /* STRING, BYTES, TEXT, BLOB */
            size_t n;
        } s;
        struct {
            double lat, lng;
        } geo;
        struct {
            const char *email, *auth_domain, *user_id;
        } user;
        das_rpc_ds_key_t *key;
        das_rpc_ds_entity_t *entity;
    } u;
} das_rpc_ds_value_t;

typedef struct {
    const char *name;
    bool indexed;
    bool multiple;
    uint32_t n;
    das_rpc_ds_value_t *values;
} das_rpc_ds_prop_t;

struct das_rpc_ds_entity {
    das_rpc_ds_key_t key; /* key.n == 0: none (an embedded entity) */
    uint32_t n;
    das_rpc_ds_prop_t *props;
};

typedef struct {
    const char *prop;
    uint32_t op; /* das_rpc_ds_filter_op_t */
    uint32_t n;
    das_rpc_ds_value_t *values;
} das_rpc_ds_filter_t;

typedef struct {
    const char *prop;
    bool desc;
} das_rpc_ds_order_t;

typedef struct {
    const char *ns;
    const char *kind;           /* NULL: kindless */
    das_rpc_ds_key_t *ancestor; /* NULL: none */
    uint32_t n_filters;
    das_rpc_ds_filter_t *filters;
    uint32_t n_orders;
    das_rpc_ds_order_t *orders;
    bool keys_only;
    uint32_t n_projection;
    const char **projection;
    bool distinct;
    int64_t limit; /* < 0: none */
    int64_t offset;
    const char *start_cursor; /* NULL: none */
    const char *end_cursor;
    bool count_only;
} das_rpc_ds_query_t;

/* ---------------------------------------------------------------- pieces */

/* Append one piece. A key's NULL app or name, and a NULL string, travel as "". */
void das_rpc_ds_put_key(das_rpc_buf_t *b, const das_rpc_ds_key_t *k);
void das_rpc_ds_put_value(das_rpc_buf_t *b, const das_rpc_ds_value_t *v);
void das_rpc_ds_put_entity(das_rpc_buf_t *b, const das_rpc_ds_entity_t *e);
void das_rpc_ds_put_query(das_rpc_buf_t *b, const das_rpc_ds_query_t *q);

/* Read one piece, arrays in `a`, strings borrowed from the payload. A malformed piece (an
 * unknown type or operator, nesting deeper than DAS_RPC_DS_MAX_DEPTH, a count the payload
 * cannot hold) sets r->bad. */
void das_rpc_ds_get_key(das_rpc_reader_t *r, das_arena_t *a, das_rpc_ds_key_t *k);
void das_rpc_ds_get_value(das_rpc_reader_t *r, das_arena_t *a, das_rpc_ds_value_t *v);
void das_rpc_ds_get_entity(das_rpc_reader_t *r, das_arena_t *a, das_rpc_ds_entity_t *e);
void das_rpc_ds_get_query(das_rpc_reader_t *r, das_arena_t *a, das_rpc_ds_query_t *q);

/* ---------------------------------------------------------------- requests and replies */

typedef struct {
    uint32_t op;  /* das_rpc_ds_op_t */
    uint64_t txn; /* GET, PUT, DELETE, RUN_QUERY: the transaction's handle, 0 for none;
                     COMMIT, ROLLBACK: the handle */
    uint32_t n;
    das_rpc_ds_key_t *keys;         /* GET, DELETE */
    das_rpc_ds_entity_t *entities;  /* PUT */
    das_rpc_ds_query_t query;       /* RUN_QUERY */
    bool xg, read_only;             /* BEGIN */
    das_rpc_ds_key_t model;         /* ALLOCATE_IDS */
    int64_t size, max;              /* ALLOCATE_IDS */
    das_arena_t storage_;
} das_rpc_ds_request_t;

typedef struct {
    uint32_t n;
    das_rpc_ds_entity_t **entities; /* GET: NULL where not found; RUN_QUERY: the results */
    das_rpc_ds_key_t *keys;         /* PUT: the keys as stored (ids filled in) */
    const char *cursor;             /* RUN_QUERY */
    bool more;
    int64_t count, skipped;
    uint64_t handle;                /* BEGIN */
    int64_t start, end;             /* ALLOCATE_IDS */
    das_arena_t storage_;
} das_rpc_ds_reply_t;

/* Appends the request body to `b` (rq->op says which fields). */
void das_rpc_ds_encode_request(das_rpc_buf_t *b, const das_rpc_ds_request_t *rq);
/* Decodes the body of a call to method `op`. Returns 0, or -EPROTO for a malformed body or an
 * unknown op. Dispose either way. */
int das_rpc_ds_decode_request(const void *data, size_t len, uint32_t op,
                              das_rpc_ds_request_t *rq);
void das_rpc_ds_request_dispose(das_rpc_ds_request_t *rq);

/* A reply body to a call of method `op`. */
void das_rpc_ds_encode_reply(das_rpc_buf_t *b, const das_rpc_ds_reply_t *rp, uint32_t op);
int das_rpc_ds_decode_reply(const void *data, size_t len, uint32_t op, das_rpc_ds_reply_t *rp);
void das_rpc_ds_reply_dispose(das_rpc_ds_reply_t *rp);

/* ---------------------------------------------------------------- URL-safe key strings */

/* Appends the platform's URL-safe string for `k` to `out`, followed by a NUL that out->len does
 * not count: unpadded URL-safe base64 of the Reference protobuf (13 app, 14 path of groups of 2 type,
 * 3 id, 4 name; 20 name_space when not ""). `app` stands in for a key whose app is NULL or "".
 * Returns 0, or -EINVAL when the key is incomplete or has no path or app. */
int das_rpc_ds_key_to_urlsafe(const das_rpc_ds_key_t *k, const char *app, das_rpc_buf_t *out);
/* Decodes a URL-safe string (padding is accepted, not needed) into `out`, its path and strings
 * in `a`. Returns 0, or -EINVAL, with `*why` (when not NULL) set to a static reason: not
 * base64, an unknown or malformed field, a string holding a NUL, cut short, no app, no path,
 * a path element without its kind, or with neither or both of an id and a name, an id <= 0. */
int das_rpc_ds_key_from_urlsafe(const char *s, das_arena_t *a, das_rpc_ds_key_t *out,
                                const char **why);

#endif
