/* datastore.h - the datastore stub: the platform's datastore (keys, entities, queries,
 * transactions, High Replication consistency, index.yaml) on one SQLite file.
 *
 * Plain C in, plain C out: no HTTP, no RPC, no threads of its own. Time comes in through the
 * options (a callback), randomness from a PRNG seeded by the options, so one seed and one call
 * order give the same results. Every function returns AE_OK or an AE_* code; a failure fills
 * the caller's das_ds_err_t with the platform's wording.
 *
 * Threads: every function may be called from any thread, many at once. Reads (get, query)
 * run on their own SQLite connections (WAL readers) alongside writes; writes take turns on one
 * writer connection. An open transaction (das_ds_txn_t) belongs to one caller at a time.
 *
 * Memory: results are allocated in a das_ds_arena_t the caller passes and frees, strings
 * included (nothing returned points into the store). Nothing the caller passes is kept once a
 * call returns: a transaction copies the entities put in it.
 */
#ifndef DAS_DATASTORE_H
#define DAS_DATASTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <appengine/status.h>

/* Limits, as the platform. */
#define DAS_DS_MAX_ENTITY_BYTES 1048572     /* das_ds_entity_size() */
#define DAS_DS_MAX_INDEXED_BYTES 1500       /* an indexed string or short blob; a kind or name */
#define DAS_DS_MAX_UNINDEXED_BYTES 1048487  /* a text, blob or unindexed value */
#define DAS_DS_MAX_CALL_BYTES 1048576       /* one call's request */
#define DAS_DS_MAX_QUERY_COMPONENTS 100     /* filters + orders + ancestor */
#define DAS_DS_MAX_SUBQUERIES 30            /* IN and != expand into at most this many */
#define DAS_DS_MAX_XG_GROUPS 25
#define DAS_DS_MAX_NAMESPACE 100

/* ---- arena ---- */

typedef struct das_ds_arena_block das_ds_arena_block_t;
typedef struct {
    das_ds_arena_block_t *head;
} das_ds_arena_t; /* zero-initialised is empty */

void *das_ds_alloc(das_ds_arena_t *a, size_t n); /* zeroed; never NULL (aborts on OOM) */
char *das_ds_strndup(das_ds_arena_t *a, const char *s, size_t n); /* NUL-terminated copy */
void das_ds_arena_dispose(das_ds_arena_t *a);

/* ---- errors ---- */

typedef struct {
    char msg[4096];
} das_ds_err_t;

/* ---- the model ---- */

/* One path element: an id (> 0), a name, or neither (incomplete; only the last element). */
typedef struct {
    const char *kind;
    int64_t id;       /* 0 when named or incomplete */
    const char *name; /* NULL when it has an id or is incomplete */
} das_ds_elem_t;

typedef struct das_ds_key {
    const char *app; /* "dev~guestbook"; NULL or "" means the store's own app */
    const char *ns;  /* "" is the default namespace */
    size_t n;        /* >= 1 */
    das_ds_elem_t *path;
} das_ds_key_t;

/* The types, in the platform's index order where it matters: null < int/time < bool <
 * string/bytes < double < GeoPt < user < key. Text, blob and embedded entities are never
 * indexed. */
typedef enum {
    DAS_DS_NULL = 0,
    DAS_DS_INT,
    DAS_DS_TIME,   /* microseconds since the Unix epoch; orders with int */
    DAS_DS_BOOL,
    DAS_DS_STRING, /* UTF-8, <= 1500 bytes when indexed */
    DAS_DS_BYTES,  /* a short blob: indexed bytes, <= 1500 */
    DAS_DS_TEXT,   /* UTF-8, never indexed */
    DAS_DS_BLOB,   /* bytes, never indexed */
    DAS_DS_DOUBLE,
    DAS_DS_GEOPT,
    DAS_DS_USER,
    DAS_DS_KEY,
    DAS_DS_ENTITY, /* an embedded entity (its key optional), never indexed */
    DAS_DS_TYPE_COUNT
} das_ds_type_t;

typedef struct das_ds_entity das_ds_entity_t;

typedef struct {
    das_ds_type_t type;
    union {
        int64_t i; /* INT, TIME */
        bool b;
        double d;
        struct {
            const char *p; /* STRING, BYTES, TEXT, BLOB; NUL-terminated after n */
            size_t n;
        } s;
        struct {
            double lat, lng;
        } geo;
        struct {
            const char *email, *auth_domain, *user_id; /* user_id may be "" */
        } user;
        das_ds_key_t *key;
        das_ds_entity_t *entity; /* key.n == 0 when it has none */
    } u;
} das_ds_value_t;

typedef struct {
    const char *name;
    bool indexed;  /* ignored (false) for TEXT, BLOB and ENTITY values */
    bool multiple; /* a list (even of one value); n == 0 is not stored */
    size_t n;
    das_ds_value_t *values;
} das_ds_prop_t;

struct das_ds_entity {
    das_ds_key_t key;
    size_t n;
    das_ds_prop_t *props;
};

/* ---- the store ---- */

typedef struct das_ds das_ds_t;
typedef struct das_ds_txn das_ds_txn_t;

typedef enum {
    DAS_DS_IDS_SCATTERED = 0, /* as the old server: spread over (2^52, 2^52 + 2^51) */
    DAS_DS_IDS_SEQUENTIAL,    /* one counter for the store, ids < 2^52; the testbed's */
} das_ds_id_policy_t;

/* When a commit becomes visible to non-ancestor queries. Gets, ancestor queries and writes
 * on a group always see it (they apply the group's pending commits first). */
typedef enum {
    DAS_DS_CONSISTENCY_TIME = 0,   /* after a drawn delay: 100 ms 98 %, 300 ms 1 %, 2 s, 240 s */
    DAS_DS_CONSISTENCY_RANDOM,     /* with p = 0.5 at each non-ancestor query */
    DAS_DS_CONSISTENCY_CONSISTENT, /* at once */
} das_ds_consistency_t;

typedef struct {
    const char *app;  /* "dev~APP" */
    const char *path; /* the SQLite file; NULL: in memory (the testbed) */
    bool clear;       /* start empty */
    bool sync_full;   /* synchronous=FULL (a power loss loses nothing); else NORMAL */
    das_ds_id_policy_t ids;
    das_ds_consistency_t consistency;
    uint64_t seed;    /* for the consistency draws and scattered ids */
    /* index.yaml: the folder holding it (NULL: none is read or written). */
    const char *app_root;
    bool require_indexes; /* a query whose composite index is not in index.yaml fails */
    int64_t (*now_ms)(void *ctx); /* wall clock, ms; NULL: 0 */
    void *clock_ctx;
} das_ds_options_t;

/* Opens (creating) the store. Fails with AE_EIO naming the file for a file that is locked by
 * another server, corrupt, or from an unknown schema version; AE_EINVAL for a malformed
 * index.yaml (file:line:column). */
int das_ds_open(const das_ds_options_t *o, das_ds_t **out, das_ds_err_t *err);
/* Applies every pending commit, then closes. */
void das_ds_close(das_ds_t *ds);

/* The app id this store serves ("dev~APP"). */
const char *das_ds_app(const das_ds_t *ds);

/* ---- transactions ---- */

typedef struct {
    bool xg;        /* up to 25 entity groups */
    bool read_only; /* writes fail */
} das_ds_txn_options_t;

int das_ds_begin(das_ds_t *ds, const das_ds_txn_options_t *o, das_ds_txn_t **out);
/* Commits and frees the transaction, whatever the outcome: AE_ECONTENTION when a group it
 * read moved since the transaction first read it. */
int das_ds_commit(das_ds_t *ds, das_ds_txn_t *txn, das_ds_err_t *err);
void das_ds_rollback(das_ds_t *ds, das_ds_txn_t *txn); /* frees; NULL ok */

/* ---- entities ---- */

/* Looks `n` keys up: out[i] is the entity or NULL when there is none. In a transaction, reads
 * see each group as of the transaction's first read of it. */
int das_ds_get(das_ds_t *ds, das_ds_txn_t *txn, const das_ds_key_t *keys, size_t n,
               das_ds_arena_t *a, das_ds_entity_t **out, das_ds_err_t *err);
/* Stores `n` entities, all or none: an incomplete key gets its id (written into the entity's
 * key, in the arena). In a transaction the writes happen at commit. */
int das_ds_put(das_ds_t *ds, das_ds_txn_t *txn, das_ds_entity_t *ents, size_t n,
               das_ds_arena_t *a, das_ds_err_t *err);
int das_ds_delete(das_ds_t *ds, das_ds_txn_t *txn, const das_ds_key_t *keys, size_t n,
                  das_ds_err_t *err);
/* Reserves `size` ids (or every id up to `max` when size is 0) for the kind and parent of
 * `model`: [*start, *end]. Ids the store hands out never fall in a reserved range. */
int das_ds_allocate_ids(das_ds_t *ds, const das_ds_key_t *model, int64_t size, int64_t max,
                        int64_t *start, int64_t *end, das_ds_err_t *err);

/* ---- queries ---- */

typedef enum {
    DAS_DS_LT = 1,
    DAS_DS_LE,
    DAS_DS_GT,
    DAS_DS_GE,
    DAS_DS_EQ,
    DAS_DS_IN, /* n values: one subquery each */
    DAS_DS_NE, /* two subqueries: < and > */
} das_ds_op_t;

typedef struct {
    const char *prop; /* "__key__" filters on the key (a KEY value) */
    das_ds_op_t op;
    size_t n;         /* 1, or the IN list's length */
    das_ds_value_t *values;
} das_ds_filter_t;

typedef struct {
    const char *prop; /* "__key__" orders by key */
    bool desc;
} das_ds_order_t;

typedef struct {
    const char *ns;
    const char *kind; /* NULL: kindless (only __key__ filters and __key__ ascending) */
    const das_ds_key_t *ancestor; /* NULL: none */
    size_t n_filters;
    const das_ds_filter_t *filters;
    size_t n_orders;
    const das_ds_order_t *orders;
    bool keys_only;
    size_t n_projection;
    const char *const *projection;
    bool distinct;      /* with a projection: one result per distinct projected values */
    int64_t limit;      /* < 0: no limit */
    int64_t offset;
    const char *start_cursor; /* URL-safe strings from an earlier result; NULL: none */
    const char *end_cursor;
    bool count_only;    /* only count the results (after offset, up to limit) */
} das_ds_query_t;

typedef struct {
    size_t n;
    das_ds_entity_t **entities; /* keys-only: no properties; projection: the projected ones */
    const char *cursor;         /* after the last result (or the start when none): URL-safe */
    bool more;                  /* more results may follow the cursor */
    int64_t count;              /* count_only: the count; else n */
    int64_t skipped;            /* how much of the offset was skipped */
} das_ds_result_t;

/* Runs a query. Non-ancestor queries see each group as of its last applied commit; in a
 * transaction only ancestor queries are allowed. Needs composite index: recorded in
 * index.yaml below "# AUTOGENERATED", or AE_ENEEDINDEX with require_indexes. */
int das_ds_run_query(das_ds_t *ds, das_ds_txn_t *txn, const das_ds_query_t *q,
                     das_ds_arena_t *a, das_ds_result_t *out, das_ds_err_t *err);

/* ---- consistency ---- */

/* Applies pending commits that are due now (the time policy), at most `max`. Returns how many
 * were applied. A caller may run it in the background; results do not depend on whether it
 * ran. */
int das_ds_apply_due(das_ds_t *ds, int max);
/* When the next pending commit falls due (ms on the options' clock), or INT64_MAX. */
int64_t das_ds_next_due_ms(das_ds_t *ds);
/* Applies every pending commit. */
void das_ds_apply_all(das_ds_t *ds);

/* ---- helpers for callers ---- */

/* An entity's size as the limit counts it: the bytes of its stored form, which holds the key
 * (namespace, and each element's kind and id or name) and each property (name, flags, and each
 * value: a type byte, then 8 bytes for a number, 16 for a GeoPt, a varint length and the
 * bytes for a string, the same form for an embedded entity). */
size_t das_ds_entity_size(const das_ds_entity_t *e);

/* The spelling used in traces and error messages: "Guestbook:default/Greeting:42"
 * (namespace first with '!' when not the default: "ns!Kind:1"). */
void das_ds_key_format(const das_ds_key_t *k, char *buf, size_t size);
/* Checks a key (kinds, names, ids, namespace); `complete` also wants the last id or name. */
int das_ds_key_check(const das_ds_key_t *k, bool complete, das_ds_err_t *err);
bool das_ds_namespace_is_valid(const char *ns);

typedef struct {
    uint64_t entities;
    uint64_t puts, gets, deletes, queries, commits, contentions;
    uint64_t pending; /* commits not yet applied */
} das_ds_stats_t;

void das_ds_stats(das_ds_t *ds, das_ds_stats_t *out);

#endif
