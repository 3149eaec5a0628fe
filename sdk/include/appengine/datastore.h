/* appengine/datastore.h - the datastore for handlers: entities of typed properties under keys,
 * queries, and transactions, with the platform's semantics, shared by every instance of the app.
 *
 *     ae_datastore_key_t *book = ae_datastore_key_named(rq, NULL, "Guestbook", "default");
 *     ae_datastore_key_t *k = ae_datastore_key(rq, book, "Greeting", 0);  // incomplete
 *     ae_datastore_entity_t *e = ae_datastore_entity(rq, k);
 *     ae_datastore_set(e, "date", ae_datastore_time(now_us));
 *     ae_datastore_set_unindexed(e, "content", ae_datastore_text(s, n));
 *     if (ae_datastore_put(rq, e) != AE_OK) ...   // k now has its id
 *
 *     ae_datastore_query_t *q = ae_datastore_query(rq, "Greeting");
 *     ae_datastore_query_ancestor(q, book);
 *     ae_datastore_query_order(q, "date", AE_DATASTORE_DESC);
 *     ae_datastore_page_t page;
 *     if (ae_datastore_fetch(rq, q, 10, cursor, &page) == AE_OK)
 *         for (size_t i = 0; i < page.n; i++) ... page.entities[i] ...
 *
 * Every call that returns an int goes to the server (and, in the deterministic mode, is a point
 * where another request may be scheduled); keys, entities, values and queries are built locally.
 * Codes (appengine/status.h); the detail, in the platform's words where it had them, is
 * ae_request_last_error():
 *   AE_OK           done
 *   AE_ENOTFOUND    get: no entity has that key (get_multi: per item)
 *   AE_EINVAL       a bad key, kind, name, namespace, property name or value, a broken query
 *                   rule ("Only one inequality filter per query is supported. ..."), a cursor
 *                   from another query ("Cursor does not match query"), a malformed key string,
 *                   a write in a read-only transaction, a non-ancestor query in a transaction,
 *                   a second entity group without xg, a 26th with it, an unknown transaction
 *   AE_ECONTENTION  commit: an entity group the transaction read was changed by someone else
 *                   since; run_in_transaction after 4 attempts ("The transaction could not be
 *                   committed. Please try again.")
 *   AE_ETOOLARGE    an entity over 1,048,572 bytes, or a call over 1 MiB ("The request to API
 *                   call datastore_v3.Put() was too large.")
 *   AE_ENEEDINDEX   with --require-indexes: the query needs a composite index that index.yaml
 *                   lacks (the detail has the index to add)
 *   AE_EIO          the datastore's file failed (a full disk): nothing of the call was written
 *   AE_EUNAVAILABLE the server could not be reached
 *
 * Limits, as the platform: a kind or key name is non-empty UTF-8 of at most 1,500 bytes and
 * never __x__; an id is > 0; a namespace matches [0-9A-Za-z._-]{0,100}; an indexed string or
 * short blob is at most 1,500 bytes ("Property s is too long. Maximum length is 1500."); a text,
 * blob or other unindexed value at most 1,048,487 bytes; property names of the form __x__ are
 * reserved; an entity at most 1,048,572 bytes of its stored form (its key,
 * and per property the name and each value: numbers 8 bytes, strings their bytes and a length),
 * though one call is at most 1 MiB, which a put of one entity meets first; a query at most 100 filters + orders + ancestor, and IN / != expand into at
 * most 30 subqueries. A batch (the _multi forms) is checked whole before anything is written.
 *
 * Types, in the order queries sort them: null < int and time < bool < string and short blob
 * (bytes) < double < GeoPt < user < key. Text, blob and embedded entities are never indexed:
 * queries cannot filter or sort on them. A property holds one value or a list; a list matches
 * a filter when any value does, and sorts by its smallest value ascending, its largest
 * descending.
 *
 * Consistency, as the High Replication datastore: gets and ancestor queries always see every
 * commit; a query without an ancestor sees an entity group as of its last applied commit, and
 * how soon a commit applies follows --datastore-consistency-policy (in the testbed: at once,
 * unless ae_testbed_create_with() says otherwise).
 *
 * Transactions: optimistic, per entity group (the root of a key's path). ae_datastore_begin()
 * sets a transaction on the request; until its commit or rollback, every get, put, delete and
 * query of the request joins it. Reads see each group as it was when the transaction first read
 * it (not the transaction's own writes, which happen at commit); the commit fails with
 * AE_ECONTENTION when a group it read has moved since. A group only written, never read, does
 * not conflict. Without xg a transaction touches one group; with it, up to 25. Only ancestor
 * queries run in one. A transaction the request leaves open is rolled back when the request
 * ends, however it ends. ae_datastore_run_in_transaction() retries on contention, as ndb.
 *
 * Memory: keys, entities, queries and everything a call returns live in the request's arena
 * and are valid until the handler returns. A value's pointers are borrowed until it is stored
 * (ae_datastore_set and the query filters copy them). None of this is thread-safe: one request,
 * one thread.
 */
#ifndef AE_DATASTORE_H
#define AE_DATASTORE_H

#include <appengine/appengine.h>

#ifdef __cplusplus
extern "C" {
#endif

#define AE_DATASTORE_MAX_ENTITY_BYTES 1048572
#define AE_DATASTORE_MAX_INDEXED_BYTES 1500
#define AE_DATASTORE_MAX_UNINDEXED_BYTES 1048487
#define AE_DATASTORE_MAX_CALL_BYTES 1048576
#define AE_DATASTORE_MAX_XG_GROUPS 25
#define AE_DATASTORE_TXN_ATTEMPTS 4 /* run_in_transaction: the first try and 3 retries */

typedef struct ae_datastore_key ae_datastore_key_t;
typedef struct ae_datastore_entity ae_datastore_entity_t;
typedef struct ae_datastore_query ae_datastore_query_t;

/* ---------------------------------------------------------------- values */

typedef enum {
    AE_DATASTORE_NULL = 0,
    AE_DATASTORE_INT,
    AE_DATASTORE_TIME,   /* microseconds since the Unix epoch (UTC) */
    AE_DATASTORE_BOOL,
    AE_DATASTORE_STRING, /* UTF-8; indexed unless set unindexed; <= 1,500 bytes indexed */
    AE_DATASTORE_BYTES,  /* a short blob: indexed bytes, <= 1,500 */
    AE_DATASTORE_TEXT,   /* UTF-8, never indexed */
    AE_DATASTORE_BLOB,   /* bytes, never indexed */
    AE_DATASTORE_DOUBLE,
    AE_DATASTORE_GEOPT,
    AE_DATASTORE_USER,
    AE_DATASTORE_KEY,
    AE_DATASTORE_ENTITY, /* an embedded entity, never indexed */
} ae_datastore_type_t;

/* A value, passed by value. Build one with the constructors below; read one with the
 * accessors (or the fields). */
typedef struct {
    ae_datastore_type_t type;
    union {
        int64_t i; /* INT, TIME */
        bool b;
        double d;
        struct {
            const char *p; /* STRING, BYTES, TEXT, BLOB; NUL-terminated after n when read */
            size_t n;
        } s;
        struct {
            double lat, lng;
        } geo;
        struct {
            const char *email, *auth_domain, *user_id; /* user_id may be "" */
        } user;
        const ae_datastore_key_t *key;
        const ae_datastore_entity_t *entity;
    } u;
} ae_datastore_value_t;

AE_API ae_datastore_value_t ae_datastore_null(void);
AE_API ae_datastore_value_t ae_datastore_bool(bool b);
AE_API ae_datastore_value_t ae_datastore_int(int64_t i);
AE_API ae_datastore_value_t ae_datastore_double(double d);
AE_API ae_datastore_value_t ae_datastore_time(int64_t microseconds);
AE_API ae_datastore_value_t ae_datastore_string(const char *s); /* NUL-terminated */
AE_API ae_datastore_value_t ae_datastore_string_n(const char *s, size_t n);
AE_API ae_datastore_value_t ae_datastore_bytes(const void *p, size_t n); /* short blob */
AE_API ae_datastore_value_t ae_datastore_text(const char *s, size_t n);
AE_API ae_datastore_value_t ae_datastore_blob(const void *p, size_t n);
AE_API ae_datastore_value_t ae_datastore_geopt(double lat, double lng);
/* `auth_domain` NULL: "gmail.com"; `user_id` NULL: "". */
AE_API ae_datastore_value_t ae_datastore_user(const char *email, const char *auth_domain,
                                              const char *user_id);
AE_API ae_datastore_value_t ae_datastore_key_value(const ae_datastore_key_t *k);
AE_API ae_datastore_value_t ae_datastore_embedded(const ae_datastore_entity_t *e);

/* Accessors: the value as that type, or 0 / false / NULL when it is another type. INT and TIME
 * read as each other; string reads STRING, TEXT, BYTES and BLOB (`len` may be NULL). */
AE_API int64_t ae_datastore_value_int(const ae_datastore_value_t *v);
AE_API bool ae_datastore_value_bool(const ae_datastore_value_t *v);
AE_API double ae_datastore_value_double(const ae_datastore_value_t *v);
AE_API const char *ae_datastore_value_string(const ae_datastore_value_t *v, size_t *len);
AE_API const ae_datastore_key_t *ae_datastore_value_key(const ae_datastore_value_t *v);
AE_API const ae_datastore_entity_t *ae_datastore_value_entity(const ae_datastore_value_t *v);

/* ---------------------------------------------------------------- keys */

/* The default namespace of the request's later keys and queries ("" is the default one).
 * Copied. An invalid one fails at the first call that uses it. */
AE_API void ae_datastore_set_namespace(ae_request_t *rq, const char *ns);

/* A key of `kind` under `parent` (NULL: a root key, in the request's namespace; else the
 * parent's namespace). id 0 makes it incomplete: ae_datastore_put gives it an id. Never NULL;
 * a bad kind, id or name fails at the call that uses the key. */
AE_API ae_datastore_key_t *ae_datastore_key(ae_request_t *rq, const ae_datastore_key_t *parent,
                                            const char *kind, int64_t id);
AE_API ae_datastore_key_t *ae_datastore_key_named(ae_request_t *rq,
                                                  const ae_datastore_key_t *parent,
                                                  const char *kind, const char *name);

AE_API const char *ae_datastore_key_kind(const ae_datastore_key_t *k);
AE_API int64_t ae_datastore_key_id(const ae_datastore_key_t *k);      /* 0: named/incomplete */
AE_API const char *ae_datastore_key_name(const ae_datastore_key_t *k); /* NULL: none */
/* The parent key, or NULL for a root key. */
AE_API const ae_datastore_key_t *ae_datastore_key_parent(const ae_datastore_key_t *k);
AE_API const char *ae_datastore_key_namespace(const ae_datastore_key_t *k);
AE_API bool ae_datastore_key_is_complete(const ae_datastore_key_t *k);
AE_API bool ae_datastore_key_equal(const ae_datastore_key_t *a, const ae_datastore_key_t *b);
/* "Guestbook:default/Greeting:42" ("ns!..." in a namespace), for logs and pages. Arena. */
AE_API const char *ae_datastore_key_string(const ae_datastore_key_t *k);

/* The platform's URL-safe string for a complete key (unpadded URL-safe base64 of its Reference
 * protobuf; what ndb's key.urlsafe() gives), in the arena; NULL for an incomplete key. */
AE_API const char *ae_datastore_key_urlsafe(ae_request_t *rq, const ae_datastore_key_t *k);
/* The key a URL-safe string names; AE_EINVAL for a malformed one ("Invalid string key ..."). */
AE_API int ae_datastore_key_from_urlsafe(ae_request_t *rq, const char *s,
                                         ae_datastore_key_t **out);

/* ---------------------------------------------------------------- entities */

/* A new entity with no properties. `key` NULL: an entity to embed in another, keyless. The
 * entity holds `key` itself: put fills in its id. */
AE_API ae_datastore_entity_t *ae_datastore_entity(ae_request_t *rq, ae_datastore_key_t *key);
AE_API ae_datastore_key_t *ae_datastore_entity_key(const ae_datastore_entity_t *e);

/* Sets a property to one value (replacing what it held), indexed where the type allows. */
AE_API void ae_datastore_set(ae_datastore_entity_t *e, const char *name, ae_datastore_value_t v);
AE_API void ae_datastore_set_unindexed(ae_datastore_entity_t *e, const char *name,
                                       ae_datastore_value_t v);
/* Sets a property to a list of `n` values (n == 0: an empty list, which is not stored). */
AE_API void ae_datastore_set_list(ae_datastore_entity_t *e, const char *name,
                                  const ae_datastore_value_t *values, size_t n, bool indexed);
/* Appends a value, making the property a list (a new one is indexed). */
AE_API void ae_datastore_add(ae_datastore_entity_t *e, const char *name, ae_datastore_value_t v);
/* Removes a property; false when there was none. */
AE_API bool ae_datastore_unset(ae_datastore_entity_t *e, const char *name);

/* A property's (first) value, or NULL when the entity has no such property. */
AE_API const ae_datastore_value_t *ae_datastore_get_property(const ae_datastore_entity_t *e,
                                                             const char *name);
/* All its values (a list), and how many in `*n`; NULL (n = 0) when absent. */
AE_API const ae_datastore_value_t *ae_datastore_get_list(const ae_datastore_entity_t *e,
                                                         const char *name, size_t *n);
/* Shortcuts: the property's first value as that type, or `dflt` when absent or another type. */
AE_API int64_t ae_datastore_get_int(const ae_datastore_entity_t *e, const char *name,
                                    int64_t dflt);
AE_API const char *ae_datastore_get_string(const ae_datastore_entity_t *e, const char *name,
                                           const char *dflt);

/* The properties in order: returns false past the end. */
AE_API size_t ae_datastore_property_count(const ae_datastore_entity_t *e);
AE_API bool ae_datastore_property_at(const ae_datastore_entity_t *e, size_t i,
                                     const char **name, const ae_datastore_value_t **values,
                                     size_t *n, bool *indexed, bool *is_list);

/* ---------------------------------------------------------------- get, put, delete */

/* Stores the entity; an incomplete key gets its id (visible through the key at once). */
AE_API int ae_datastore_put(ae_request_t *rq, ae_datastore_entity_t *e);
/* The entity with key `k` in `*out` (NULL when AE_ENOTFOUND). */
AE_API int ae_datastore_get(ae_request_t *rq, const ae_datastore_key_t *k,
                            ae_datastore_entity_t **out);
/* Deletes it; deleting what is not there is AE_OK. */
AE_API int ae_datastore_delete(ae_request_t *rq, const ae_datastore_key_t *k);

/* Batches, one round trip each, checked whole before anything is written. The return value
 * is the call's; `statuses` (may be NULL) gets each item's: for get, AE_OK or AE_ENOTFOUND
 * (out[i] NULL); for put and delete, the call's own code. */
AE_API int ae_datastore_get_multi(ae_request_t *rq, const ae_datastore_key_t *const *keys,
                                  size_t n, ae_datastore_entity_t **out, int *statuses);
AE_API int ae_datastore_put_multi(ae_request_t *rq, ae_datastore_entity_t *const *entities,
                                  size_t n, int *statuses);
AE_API int ae_datastore_delete_multi(ae_request_t *rq, const ae_datastore_key_t *const *keys,
                                     size_t n, int *statuses);

/* Reserves ids for entities of the kind and parent of `model` (its own id or name is
 * ignored): `n` ids in [*start, *end] that puts with incomplete keys will never hand out. */
AE_API int ae_datastore_allocate_ids(ae_request_t *rq, const ae_datastore_key_t *model,
                                     int64_t n, int64_t *start, int64_t *end);

/* ---------------------------------------------------------------- queries */

typedef enum {
    AE_DATASTORE_LT = 1,
    AE_DATASTORE_LE,
    AE_DATASTORE_GT,
    AE_DATASTORE_GE,
    AE_DATASTORE_EQ,
    AE_DATASTORE_IN, /* one subquery per value: see ae_datastore_query_filter_in */
    AE_DATASTORE_NE, /* two subqueries, < and >, merged */
} ae_datastore_op_t;

typedef enum {
    AE_DATASTORE_ASC = 0,
    AE_DATASTORE_DESC,
} ae_datastore_dir_t;

/* A query of `kind` (NULL: kindless, which filters and sorts only on "__key__") in the
 * request's namespace. The builders below never fail: a broken rule fails at fetch or count,
 * in the platform's words. Filter and order on "__key__" with key values. */
AE_API ae_datastore_query_t *ae_datastore_query(ae_request_t *rq, const char *kind);
/* Only entities under `ancestor` (itself included); the query takes the ancestor's namespace.
 * The only kind of query a transaction runs. */
AE_API void ae_datastore_query_ancestor(ae_datastore_query_t *q, const ae_datastore_key_t *ancestor);
AE_API void ae_datastore_query_filter(ae_datastore_query_t *q, const char *name,
                                      ae_datastore_op_t op, ae_datastore_value_t v);
/* name IN (values): one subquery each, merged in the query's order (by key when none). */
AE_API void ae_datastore_query_filter_in(ae_datastore_query_t *q, const char *name,
                                         const ae_datastore_value_t *values, size_t n);
AE_API void ae_datastore_query_order(ae_datastore_query_t *q, const char *name,
                                     ae_datastore_dir_t dir);
/* Results carry keys and no properties. */
AE_API void ae_datastore_query_keys_only(ae_datastore_query_t *q);
/* Results carry only the projected properties (each an indexed property; call once per name). */
AE_API void ae_datastore_query_project(ae_datastore_query_t *q, const char *name);
/* With a projection: one result per distinct combination of the projected values. */
AE_API void ae_datastore_query_distinct(ae_datastore_query_t *q);
/* Skips the first `n` results. */
AE_API void ae_datastore_query_offset(ae_datastore_query_t *q, int64_t n);
/* Stops at a cursor from an earlier page (results before it only). Copied. */
AE_API void ae_datastore_query_end_cursor(ae_datastore_query_t *q, const char *cursor);

typedef struct {
    size_t n;
    ae_datastore_entity_t **entities;
    const char *next_cursor; /* URL-safe; where the next page starts (never NULL after fetch) */
    bool more;               /* more results may follow next_cursor */
    int64_t skipped;         /* how much of the offset was skipped */
} ae_datastore_page_t;

/* Runs the query: up to `limit` results (< 0: no limit) from `start_cursor` (NULL or "": the
 * start). Cursors are opaque, survive deletes, and belong to their query: another kind,
 * filters, ancestor, order or direction is AE_EINVAL "Cursor does not match query". */
AE_API int ae_datastore_fetch(ae_request_t *rq, ae_datastore_query_t *q, int64_t limit,
                              const char *start_cursor, ae_datastore_page_t *page);
/* How many results the query has (after its offset). */
AE_API int ae_datastore_count(ae_request_t *rq, ae_datastore_query_t *q, int64_t *n);

/* ---------------------------------------------------------------- transactions */

typedef struct {
    bool xg;        /* across up to 25 entity groups */
    bool read_only; /* writes fail */
} ae_datastore_txn_options_t;

/* Sets a transaction on the request (`o` NULL: one group, read-write). AE_EINVAL when one is
 * already set ("Nested transactions are not supported."). */
AE_API int ae_datastore_begin(ae_request_t *rq, const ae_datastore_txn_options_t *o);
/* Commits it and clears it from the request, whatever the outcome. */
AE_API int ae_datastore_commit(ae_request_t *rq);
/* Rolls it back and clears it. AE_OK also when there was none. */
AE_API int ae_datastore_rollback(ae_request_t *rq);
/* True while a transaction is set on the request. */
AE_API bool ae_datastore_in_transaction(const ae_request_t *rq);

/* Runs `fn` in a transaction: AE_OK from fn commits; another code rolls back and is returned
 * (AE_ECONTENTION from fn is retried, like a failed commit). Contention is retried up to
 * AE_DATASTORE_TXN_ATTEMPTS in all, then AE_ECONTENTION ("The transaction could not be
 * committed. Please try again."). fn may run more than once: it should only change the
 * datastore and what it returns through ctx. */
typedef int (*ae_datastore_txn_fn)(ae_request_t *rq, void *ctx);
AE_API int ae_datastore_run_in_transaction(ae_request_t *rq, const ae_datastore_txn_options_t *o,
                                           ae_datastore_txn_fn fn, void *ctx);

#ifdef __cplusplus
}
#endif

#endif
