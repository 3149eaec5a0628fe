/* ds_internal.h - what the datastore stub's files share: byte buffers, the order-preserving
 * encodings that index rows are made of, the entity's stored form, and the store's state.
 *
 * Index rows. Every index is a set of byte strings compared with memcmp, so a query is one
 * range scan (or a merge of a few). A row is a sequence of self-delimiting components:
 *     [namespace] [ancestor path]? [value of property 1] ... [value of property n] [entity key]
 * A value's component starts with a tag in the platform's type order (null < int/time < bool
 * < string/bytes < double < GeoPt < user < key); a descending property's component is the
 * same bytes inverted. Strings are escaped (0x00 -> 00 FF) and end with 00 01, so no component
 * is a prefix of another. The entity key is its namespace, then each path element (kind, then
 * 01 + id or 02 + name), then 00 00: a parent sorts before its children, and every descendant
 * of a key starts with the key's bytes up to (not including) that 00 00.
 */
#ifndef DAS_DS_INTERNAL_H
#define DAS_DS_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "datastore.h"
#include "ds_index.h"

/* ---- growable bytes ---- */

typedef struct {
    unsigned char *p;
    size_t n, cap;
} ds_buf_t;

void ds_buf_put(ds_buf_t *b, const void *p, size_t n);
void ds_buf_byte(ds_buf_t *b, unsigned char c);
void ds_buf_varint(ds_buf_t *b, uint64_t v);
void ds_buf_free(ds_buf_t *b);
/* memcmp order, a prefix first: how SQLite compares blobs, so index rows sort as compared. */
int ds_bytes_cmp(const unsigned char *a, size_t an, const unsigned char *b, size_t bn);
int ds_buf_cmp(const void *a, const void *b); /* two ds_buf_t *; fits qsort */

/* ---- order-preserving components ---- */

void ds_enc_string(ds_buf_t *b, const char *p, size_t n); /* escaped, terminated */
void ds_enc_value(ds_buf_t *b, const das_ds_value_t *v);  /* tag + payload */
/* The entity key: [namespace][elements][00 00]. `with_end` false leaves 00 00 off (the prefix
 * every descendant shares). */
void ds_enc_key(ds_buf_t *b, const das_ds_key_t *k, bool with_end);
/* A path (no namespace) as one component: the ancestor part of an ancestor index row. */
void ds_enc_path(ds_buf_t *b, const das_ds_key_t *k, size_t n_elems);
/* Inverts the bytes from `from` to the end: a descending component. */
void ds_invert(ds_buf_t *b, size_t from);
/* The length of the component at p (n bytes available), ascending or inverted; 0 when it is
 * malformed. */
size_t ds_comp_len(const unsigned char *p, size_t n, bool inverted);
/* The length of a namespace (string) component, and of an ancestor path component. */
size_t ds_string_comp_len(const unsigned char *p, size_t n);
size_t ds_path_comp_len(const unsigned char *p, size_t n);
/* Decodes one ascending value component into `v` (strings in the arena). 0 or -1. */
int ds_dec_value(const unsigned char *p, size_t n, das_ds_arena_t *a, das_ds_value_t *v);
/* Decodes an entity key's bytes (as ds_enc_key with_end) into `k`. 0 or -1. */
int ds_dec_key(const unsigned char *p, size_t n, das_ds_arena_t *a, const char *app,
               das_ds_key_t *k);
/* The length of an encoded entity key at p: up to and including its 00 00. 0 if malformed. */
size_t ds_key_len(const unsigned char *p, size_t n);
/* The smallest byte string greater than every string starting with b[0..n): written into out.
 * False when there is none (all 0xFF). */
bool ds_prefix_end(const unsigned char *p, size_t n, ds_buf_t *out);

/* ---- the stored entity ---- */

void ds_entity_serialize(ds_buf_t *b, const das_ds_entity_t *e);
int ds_entity_parse(const unsigned char *p, size_t n, das_ds_arena_t *a, const char *app,
                    das_ds_entity_t *e);

/* ---- checks ---- */

int ds_check_entity(const das_ds_entity_t *e, const char *app, das_ds_err_t *err);
int ds_check_key(const das_ds_key_t *k, const char *app, bool complete, das_ds_err_t *err);
int ds_check_value_for_query(const char *prop, const das_ds_value_t *v, das_ds_err_t *err);
bool ds_utf8_valid(const char *p, size_t n);
int ds_fail(das_ds_err_t *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
bool ds_is_reserved(const char *name);

/* ---- index rows of an entity ---- */

/* The index an entity row belongs to, by its definition; built-ins are the kind index (no
 * props) and each property ascending and descending. */
typedef struct {
    int64_t iid;
    ds_buf_t k;
    bool multi; /* the entity has other rows in this index */
} ds_row_t;

typedef struct {
    ds_row_t *rows;
    size_t n, cap;
} ds_rows_t;

void ds_rows_free(ds_rows_t *r);

/* ---- the store ---- */

typedef struct {
    sqlite3 *db;
    sqlite3_stmt **stmts; /* prepared on first use, by statement number */
} ds_conn_t;

typedef struct ds_iid ds_iid_t;          /* index definition -> iid (uthash) */
typedef struct ds_version ds_version_t;  /* entity group -> commit count (uthash) */
typedef struct ds_composite ds_composite_t; /* composite indexes of a kind */

struct das_ds {
    das_ds_options_t o;
    char *app;
    char *path;
    char *lock_path;
    int lock_fd;

    pthread_mutex_t write_lock; /* the writer connection, the id counters, the PRNG */
    ds_conn_t writer;

    pthread_mutex_t pool_lock; /* idle readers, iids, index.yaml as read */
    ds_conn_t **idle;
    size_t n_idle, cap_idle;
    ds_iid_t *iids;
    ds_iid_t **txn_iids; /* iids the writer's open transaction created (write_lock) */
    size_t n_txn_iids, cap_txn_iids;
    ds_composite_t *composites; /* under write_lock */
    das_ds_index_file_t index_file; /* index.yaml as last read */
    das_ds_arena_t index_arena;
    int64_t index_mtime_ns;
    ds_buf_t **recorded; /* composite indexes already added to index.yaml (their spec) */
    size_t n_recorded;

    uint64_t rng; /* PRNG state (splitmix64), under write_lock */
    int64_t seq_next, seq_limit;          /* sequential ids handed out / reserved on disk */
    int64_t scatter_next, scatter_limit;  /* the scattered counter */
    int64_t pending;                      /* pending commit rows, under write_lock */
    int64_t next_due;                     /* no pending commit falls due before (atomic) */
    /* The commit count of each entity group an open transaction has read, under write_lock:
     * a transaction fails at commit when a group it read has moved since. Only groups being
     * watched are kept, so the table stays as small as the open transactions. */
    ds_version_t *versions;

    das_ds_stats_t stats; /* under write_lock; gets and queries atomic, without it */
};

uint64_t ds_random(das_ds_t *ds); /* under write_lock */
int64_t ds_now_ms(das_ds_t *ds);

/* Connections and statements. */
enum {
    ST_GET_ENTITY,
    ST_PUT_ENTITY,
    ST_DEL_ENTITY,
    ST_PUT_ROW,
    ST_DEL_ROW,
    ST_PENDING_OF_GROUP,
    ST_PENDING_ADD,
    ST_PENDING_DEL,
    ST_PENDING_DUE,
    ST_PENDING_MIN_DUE,
    ST_HAS_PENDING,
    ST_META_GET,
    ST_META_SET,
    ST_INDEX_ADD,
    ST_BEGIN,
    ST_BEGIN_IMMEDIATE,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_COUNT
};

sqlite3_stmt *ds_stmt(ds_conn_t *c, int which);
ds_conn_t *ds_reader_take(das_ds_t *ds, das_ds_err_t *err);
void ds_reader_give(das_ds_t *ds, ds_conn_t *c);
int ds_sqlite_fail(das_ds_t *ds, sqlite3 *db, int rc, das_ds_err_t *err, const char *what);

/* The iid of an index definition, created (and, for a composite, filled from the entities
 * already stored) on first use. Under write_lock (on the writer, in its transaction). */
int64_t ds_iid_for(das_ds_t *ds, const char *kind, bool ancestor, const das_ds_index_prop_t *p,
                   size_t n, das_ds_err_t *err);
/* The same, without creating it: 0 when it does not exist yet (nothing is stored in it). */
int64_t ds_iid_find(das_ds_t *ds, const char *kind, bool ancestor,
                    const das_ds_index_prop_t *p, size_t n);
/* Every index row of `e` (built-ins and each composite of its kind). */
int ds_entity_rows(das_ds_t *ds, const das_ds_entity_t *e, bool create, ds_rows_t *out,
                   das_ds_err_t *err);
/* The rows of `e` in one index (for the multi-valued check of a scan). */
void ds_entity_rows_in(const das_ds_entity_t *e, bool ancestor, const das_ds_index_prop_t *p,
                       size_t n, int64_t iid, ds_rows_t *out);
/* Makes the index of a composite definition exist and be complete. Under write_lock. */
int ds_composite_ensure(das_ds_t *ds, const das_ds_index_def_t *def, das_ds_err_t *err);

/* Applies the pending commits of the groups of `keys` (gets, ancestor queries, writes). */
int ds_apply_groups(das_ds_t *ds, const ds_buf_t *groups, size_t n, das_ds_err_t *err);
/* Applies what the consistency policy says before a non-ancestor query. */
int ds_apply_for_query(das_ds_t *ds, das_ds_err_t *err);
/* The entity group of a key: its root element, encoded as a key. */
void ds_group_of(const das_ds_key_t *k, ds_buf_t *out);

/* Transactions (datastore.c) as the query code sees them. */
int ds_txn_read_group(das_ds_t *ds, das_ds_txn_t *txn, const das_ds_key_t *k,
                      ds_conn_t **conn, das_ds_err_t *err);
/* Moves a transaction's snapshot to now (after a query made an index): AE_ECONTENTION when a
 * group it read has moved meanwhile. */
int ds_txn_refresh(das_ds_t *ds, das_ds_txn_t *t, das_ds_err_t *err);

/* index.yaml (ds_query.c): read at open (a malformed file fails it), forgotten at close. */
int ds_index_load(das_ds_t *ds, das_ds_err_t *err);
void ds_index_dispose(das_ds_t *ds);

/* index.yaml: records a composite index a query used (adds it below the marker), or says
 * whether it is defined (require_indexes). */
int ds_index_needed(das_ds_t *ds, const das_ds_index_def_t *def, das_ds_err_t *err);

/* Cursors: URL-safe base64 of bytes, and back. */
char *ds_b64url(das_ds_arena_t *a, const unsigned char *p, size_t n);
int ds_unb64url(const char *s, ds_buf_t *out);

#endif
