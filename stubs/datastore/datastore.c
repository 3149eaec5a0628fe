/* datastore.c - the datastore stub's store: the SQLite file and its connections, entities and
 * their index rows, entity groups, commits and when they apply, transactions and ids.
 *
 * Tables:
 *   entities(ekey, data)       each entity as of its group's last applied commit
 *   idx(iid, k, multi)         every index row (see ds_internal.h); iid names the index
 *   indexes(iid, spec, kind, composite)  the index definitions that have rows
 *   pending(seq, cseq, grp, due, ekey, data)  committed writes not applied yet (NULL: delete)
 *   meta(k, v)                 schema version, id counters
 * A commit, unless the policy is "consistent", adds its writes to `pending` in one SQLite
 * transaction: once it returns it is durable. It also bumps, in memory, the commit count of
 * each of its entity groups that an open transaction has read: what transactions check at
 * commit (open transactions do not outlive the process, so neither do the counts). Applying a
 * pending write (ds_apply_*) moves it into `entities` and `idx`, in commit order per group.
 * Gets and ancestor queries apply their groups first; non-ancestor queries apply what the
 * policy says is due; so they see "each group as of its last applied commit".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uthash.h>

#include "ds_internal.h"

#define SCHEMA_VERSION 2 /* 2: key values are indexed and stored without their app */
#define ID_BLOCK 1000
#define MAX_INDEX_ROWS 20000 /* per entity, as the platform ("exploding" indexes) */

static const char *const SQL[ST_COUNT] = {
    [ST_GET_ENTITY] = "SELECT data FROM entities WHERE ekey=?1",
    [ST_PUT_ENTITY] = "INSERT OR REPLACE INTO entities(ekey,data) VALUES(?1,?2)",
    [ST_DEL_ENTITY] = "DELETE FROM entities WHERE ekey=?1",
    [ST_PUT_ROW] = "INSERT OR REPLACE INTO idx(iid,k,multi) VALUES(?1,?2,?3)",
    [ST_DEL_ROW] = "DELETE FROM idx WHERE iid=?1 AND k=?2",
    [ST_PENDING_OF_GROUP] = "SELECT seq,cseq,grp,due,ekey,data FROM pending WHERE grp=?1 "
                            "ORDER BY seq",
    [ST_PENDING_ADD] = "INSERT INTO pending(cseq,grp,due,ekey,data) VALUES(?1,?2,?3,?4,?5)",
    [ST_PENDING_DEL] = "DELETE FROM pending WHERE seq=?1",
    [ST_PENDING_DUE] = "SELECT seq,cseq,grp,due,ekey,data FROM pending WHERE due<=?1 "
                       "ORDER BY seq",
    [ST_PENDING_MIN_DUE] = "SELECT min(due) FROM pending",
    [ST_HAS_PENDING] = "SELECT 1 FROM pending WHERE grp=?1 LIMIT 1",
    [ST_META_GET] = "SELECT v FROM meta WHERE k=?1",
    [ST_META_SET] = "INSERT OR REPLACE INTO meta(k,v) VALUES(?1,?2)",
    [ST_INDEX_ADD] = "INSERT INTO indexes(spec,kind,composite) VALUES(?1,?2,?3)",
    [ST_BEGIN] = "BEGIN",
    [ST_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
};

static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS entities(ekey BLOB PRIMARY KEY, data BLOB NOT NULL) "
    "  WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS idx(iid INTEGER NOT NULL, k BLOB NOT NULL, multi INTEGER NOT "
    "  NULL, PRIMARY KEY(iid, k)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS indexes(iid INTEGER PRIMARY KEY, spec BLOB NOT NULL UNIQUE, "
    "  kind TEXT NOT NULL, composite INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS pending(seq INTEGER PRIMARY KEY, cseq INTEGER NOT NULL, "
    "  grp BLOB NOT NULL, due INTEGER NOT NULL, ekey BLOB NOT NULL, data BLOB);"
    "CREATE INDEX IF NOT EXISTS pending_by_group ON pending(grp, seq);"
    "CREATE INDEX IF NOT EXISTS pending_by_due ON pending(due);";

/* ---- index definitions -> iid ---- */

struct ds_iid {
    UT_hash_handle hh;
    int64_t iid;
    size_t len;
    unsigned char spec[];
};

struct ds_composite {
    UT_hash_handle hh;
    das_ds_arena_t arena;
    size_t n;
    das_ds_index_def_t *defs; /* arena */
    char kind[];
};

static void spec_of(ds_buf_t *b, const char *kind, bool ancestor, const das_ds_index_prop_t *p,
                    size_t n)
{
    b->n = 0;
    ds_enc_string(b, kind, strlen(kind));
    ds_buf_byte(b, ancestor ? 1 : 0);
    for (size_t i = 0; i < n; i++) {
        ds_enc_string(b, p[i].name, strlen(p[i].name));
        ds_buf_byte(b, p[i].desc ? 1 : 0);
    }
}

/* The iid of a spec, or 0. The entry is read under the lock: a rollback frees them all. */
static int64_t iid_lookup(das_ds_t *ds, const ds_buf_t *spec)
{
    ds_iid_t *e = NULL;
    pthread_mutex_lock(&ds->pool_lock);
    HASH_FIND(hh, ds->iids, spec->p, spec->n, e);
    int64_t iid = e ? e->iid : 0;
    pthread_mutex_unlock(&ds->pool_lock);
    return iid;
}

static ds_iid_t *iid_remember(das_ds_t *ds, const ds_buf_t *spec, int64_t iid)
{
    ds_iid_t *e = malloc(sizeof *e + spec->n);
    if (!e)
        abort();
    e->iid = iid;
    e->len = spec->n;
    memcpy(e->spec, spec->p, spec->n);
    pthread_mutex_lock(&ds->pool_lock);
    HASH_ADD(hh, ds->iids, spec, e->len, e);
    pthread_mutex_unlock(&ds->pool_lock);
    return e;
}

int64_t ds_iid_find(das_ds_t *ds, const char *kind, bool ancestor,
                    const das_ds_index_prop_t *p, size_t n)
{
    ds_buf_t spec = {0};
    spec_of(&spec, kind, ancestor, p, n);
    int64_t iid = iid_lookup(ds, &spec);
    ds_buf_free(&spec);
    return iid;
}

int64_t ds_iid_for(das_ds_t *ds, const char *kind, bool ancestor, const das_ds_index_prop_t *p,
                   size_t n, das_ds_err_t *err)
{
    ds_buf_t spec = {0};
    spec_of(&spec, kind, ancestor, p, n);
    int64_t known = iid_lookup(ds, &spec);
    if (known) {
        ds_buf_free(&spec);
        return known;
    }
    bool composite = ancestor || n > 1 || (n == 1 && strcmp(p[0].name, "__key__") == 0);
    sqlite3_stmt *st = ds_stmt(&ds->writer, ST_INDEX_ADD);
    sqlite3_bind_blob(st, 1, spec.p, (int)spec.n, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, composite);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        ds_buf_free(&spec);
        return ds_sqlite_fail(ds, ds->writer.db, rc, err, "adding an index");
    }
    int64_t iid = sqlite3_last_insert_rowid(ds->writer.db);
    if (ds->n_txn_iids == ds->cap_txn_iids) {
        ds->cap_txn_iids = ds->cap_txn_iids ? 2 * ds->cap_txn_iids : 16;
        ds->txn_iids = realloc(ds->txn_iids, ds->cap_txn_iids * sizeof *ds->txn_iids);
        if (!ds->txn_iids)
            abort();
    }
    ds->txn_iids[ds->n_txn_iids++] = iid_remember(ds, &spec, iid);
    ds_buf_free(&spec);
    return iid;
}

/* Forgets the iids the writer's transaction created, when it rolled back. Queries never see
 * the table empty: only those entries go. */
static void iids_forget_txn(das_ds_t *ds)
{
    pthread_mutex_lock(&ds->pool_lock);
    for (size_t i = 0; i < ds->n_txn_iids; i++) {
        HASH_DEL(ds->iids, ds->txn_iids[i]);
        free(ds->txn_iids[i]);
    }
    pthread_mutex_unlock(&ds->pool_lock);
    ds->n_txn_iids = 0;
}

/* Reads every iid from the file (at open). */
static void iids_load(das_ds_t *ds)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(ds->writer.db, "SELECT iid, spec FROM indexes", -1, &st, NULL))
        return;
    while (sqlite3_step(st) == SQLITE_ROW) {
        ds_buf_t spec = {0};
        ds_buf_put(&spec, sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1));
        iid_remember(ds, &spec, sqlite3_column_int64(st, 0));
        ds_buf_free(&spec);
    }
    sqlite3_finalize(st);
}

/* ---- index rows of an entity ---- */

void ds_rows_free(ds_rows_t *r)
{
    for (size_t i = 0; i < r->n; i++)
        ds_buf_free(&r->rows[i].k);
    free(r->rows);
    memset(r, 0, sizeof *r);
}

static ds_row_t *row_add(ds_rows_t *r, int64_t iid)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 16;
        r->rows = realloc(r->rows, r->cap * sizeof *r->rows);
        if (!r->rows)
            abort();
    }
    ds_row_t *row = &r->rows[r->n++];
    memset(row, 0, sizeof *row);
    row->iid = iid;
    return row;
}

static bool value_indexable(const das_ds_value_t *v)
{
    return v->type != DAS_DS_TEXT && v->type != DAS_DS_BLOB && v->type != DAS_DS_ENTITY;
}

/* The distinct encoded values of property `name` of `e` ("__key__": the key). */
typedef struct {
    ds_buf_t *v;
    size_t n;
} encvals_t;

static void encvals_free(encvals_t *ev)
{
    for (size_t i = 0; i < ev->n; i++)
        ds_buf_free(&ev->v[i]);
    free(ev->v);
    ev->v = NULL;
    ev->n = 0;
}

static void encvals_of(const das_ds_entity_t *e, const char *name, encvals_t *out)
{
    out->n = 0;
    out->v = NULL;
    if (strcmp(name, "__key__") == 0) {
        das_ds_value_t kv = {.type = DAS_DS_KEY, .u.key = (das_ds_key_t *)&e->key};
        out->v = calloc(1, sizeof *out->v);
        if (!out->v)
            abort();
        ds_enc_value(&out->v[0], &kv);
        out->n = 1;
        return;
    }
    for (size_t i = 0; i < e->n; i++) {
        const das_ds_prop_t *p = &e->props[i];
        if (!p->indexed || strcmp(p->name, name) != 0)
            continue;
        out->v = calloc(p->n ? p->n : 1, sizeof *out->v);
        if (!out->v)
            abort();
        for (size_t j = 0; j < p->n; j++) {
            if (!value_indexable(&p->values[j]))
                continue;
            ds_enc_value(&out->v[out->n++], &p->values[j]);
        }
        /* each distinct value once: sorted, then neighbours compared */
        qsort(out->v, out->n, sizeof *out->v, ds_buf_cmp);
        size_t kept = 0;
        for (size_t j = 0; j < out->n; j++) {
            if (kept && ds_buf_cmp(&out->v[kept - 1], &out->v[j]) == 0)
                ds_buf_free(&out->v[j]);
            else
                out->v[kept++] = out->v[j];
        }
        out->n = kept;
        return;
    }
}

void ds_entity_rows_in(const das_ds_entity_t *e, bool ancestor, const das_ds_index_prop_t *p,
                       size_t n, int64_t iid, ds_rows_t *out)
{
    encvals_t *ev = calloc(n ? n : 1, sizeof *ev);
    if (!ev)
        abort();
    size_t total = 1;
    for (size_t i = 0; i < n; i++) {
        encvals_of(e, p[i].name, &ev[i]);
        total *= ev[i].n;
        if (total == 0 || total > MAX_INDEX_ROWS)
            break;
    }
    if (total > 0 && total <= MAX_INDEX_ROWS) {
        ds_buf_t ekey = {0}, ns = {0};
        ds_enc_key(&ekey, &e->key, true);
        const char *nsname = e->key.ns ? e->key.ns : "";
        ds_enc_string(&ns, nsname, strlen(nsname));
        size_t n_anc = ancestor ? e->key.n : 1;
        size_t *idx = calloc(n ? n : 1, sizeof *idx);
        for (size_t a = 1; a <= n_anc; a++) {
            memset(idx, 0, (n ? n : 1) * sizeof *idx);
            for (size_t c = 0; c < total; c++) {
                ds_row_t *row = row_add(out, iid);
                row->multi = total > 1;
                ds_buf_put(&row->k, ns.p, ns.n);
                if (ancestor)
                    ds_enc_path(&row->k, &e->key, a);
                for (size_t i = 0; i < n; i++) {
                    size_t from = row->k.n;
                    ds_buf_put(&row->k, ev[i].v[idx[i]].p, ev[i].v[idx[i]].n);
                    if (p[i].desc)
                        ds_invert(&row->k, from);
                }
                ds_buf_put(&row->k, ekey.p, ekey.n);
                for (size_t i = n; i-- > 0;) { /* the next combination */
                    if (++idx[i] < ev[i].n)
                        break;
                    idx[i] = 0;
                }
            }
        }
        free(idx);
        ds_buf_free(&ekey);
        ds_buf_free(&ns);
    }
    for (size_t i = 0; i < n; i++)
        encvals_free(&ev[i]);
    free(ev);
}

static ds_composite_t *composites_of(das_ds_t *ds, const char *kind)
{
    ds_composite_t *c = NULL;
    HASH_FIND_STR(ds->composites, kind, c);
    return c;
}

/* The number of index rows e would have (an upper bound for the built-in ones: repeated values
 * count twice), for the platform's cap on "exploding" indexes. */
static size_t index_row_count(das_ds_t *ds, const das_ds_entity_t *e)
{
    size_t total = 1; /* the kind */
    for (size_t i = 0; i < e->n; i++) {
        const das_ds_prop_t *p = &e->props[i];
        for (size_t j = 0; p->indexed && j < p->n; j++)
            total += value_indexable(&p->values[j]) ? 2 : 0; /* ascending, descending */
    }
    const char *kind = e->key.path[e->key.n - 1].kind;
    ds_composite_t *c = composites_of(ds, kind);
    for (size_t d = 0; c && d < c->n && total <= MAX_INDEX_ROWS; d++) {
        const das_ds_index_def_t *def = &c->defs[d];
        size_t rows = def->ancestor ? e->key.n : 1;
        for (size_t i = 0; i < def->n && rows; i++) {
            encvals_t ev;
            encvals_of(e, def->props[i].name, &ev);
            rows = rows * ev.n > MAX_INDEX_ROWS * 4 ? MAX_INDEX_ROWS * 4 : rows * ev.n;
            encvals_free(&ev);
        }
        total += rows;
    }
    return total;
}

int ds_entity_rows(das_ds_t *ds, const das_ds_entity_t *e, bool create, ds_rows_t *out,
                   das_ds_err_t *err)
{
    const char *kind = e->key.path[e->key.n - 1].kind;
    int64_t iid = create ? ds_iid_for(ds, kind, false, NULL, 0, err)
                         : ds_iid_find(ds, kind, false, NULL, 0);
    if (iid < 0)
        return (int)iid;
    if (iid > 0)
        ds_entity_rows_in(e, false, NULL, 0, iid, out);
    for (size_t i = 0; i < e->n; i++) {
        const das_ds_prop_t *p = &e->props[i];
        if (!p->indexed)
            continue;
        bool any = false;
        for (size_t j = 0; j < p->n && !any; j++)
            any = value_indexable(&p->values[j]);
        if (!any)
            continue;
        for (int desc = 0; desc <= 1; desc++) {
            das_ds_index_prop_t ip = {p->name, desc};
            iid = create ? ds_iid_for(ds, kind, false, &ip, 1, err)
                         : ds_iid_find(ds, kind, false, &ip, 1);
            if (iid < 0)
                return (int)iid;
            if (iid > 0)
                ds_entity_rows_in(e, false, &ip, 1, iid, out);
        }
    }
    ds_composite_t *c = composites_of(ds, kind);
    for (size_t d = 0; c && d < c->n; d++) {
        const das_ds_index_def_t *def = &c->defs[d];
        iid = ds_iid_find(ds, kind, def->ancestor, def->props, def->n);
        if (iid > 0)
            ds_entity_rows_in(e, def->ancestor, def->props, def->n, iid, out);
    }
    return AE_OK;
}

/* ---- connections ---- */

int ds_sqlite_fail(das_ds_t *ds, sqlite3 *db, int rc, das_ds_err_t *err, const char *what)
{
    int code = AE_EINTERNAL;
    switch (rc & 0xff) {
    case SQLITE_FULL:
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        code = AE_EIO;
        break;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        code = AE_EUNAVAILABLE;
        break;
    case SQLITE_NOMEM:
        code = AE_ENOMEM;
        break;
    default:
        break;
    }
    return ds_fail(err, code, "datastore %s: %s (%s)", ds && ds->path ? ds->path : "",
                   db ? sqlite3_errmsg(db) : sqlite3_errstr(rc), what);
}

sqlite3_stmt *ds_stmt(ds_conn_t *c, int which)
{
    if (!c->stmts[which]) {
        if (sqlite3_prepare_v3(c->db, SQL[which], -1, SQLITE_PREPARE_PERSISTENT,
                               &c->stmts[which], NULL) != SQLITE_OK) {
            fprintf(stderr, "datastore: preparing \"%s\": %s\n", SQL[which],
                    sqlite3_errmsg(c->db));
            abort(); /* the statements are ours: a failure here is a bug */
        }
    }
    return c->stmts[which];
}

/* das_skip_string(blob): the length of the escaped string the blob starts with (the namespace
 * a kind index row starts with). */
static void skip_string_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const unsigned char *p = sqlite3_value_blob(argv[0]);
    size_t n = (size_t)sqlite3_value_bytes(argv[0]);
    sqlite3_result_int64(ctx, p ? (sqlite3_int64)ds_string_comp_len(p, n) : 0);
}

static int conn_open(das_ds_t *ds, ds_conn_t *c, das_ds_err_t *err)
{
    c->stmts = calloc(ST_COUNT, sizeof *c->stmts);
    if (!c->stmts)
        abort();
    int rc = sqlite3_open_v2(ds->path, &c->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             NULL);
    if (rc != SQLITE_OK)
        return ds_sqlite_fail(ds, c->db, rc, err, "opening");
    sqlite3_busy_timeout(c->db, 10000);
    sqlite3_create_function(c->db, "das_skip_string", 1,
                            SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, NULL,
                            skip_string_fn, NULL, NULL);
    char pragmas[256];
    /* A checkpoint every 10,000 WAL pages (40 MB) rather than SQLite's 1,000: a commit
     * touches several b-trees, and each checkpoint syncs the file. */
    snprintf(pragmas, sizeof pragmas,
             "PRAGMA synchronous=%s; PRAGMA cache_size=-8000; PRAGMA wal_autocheckpoint=10000;",
             !ds->o.path ? "OFF" : ds->o.sync_full ? "FULL" : "NORMAL");
    rc = sqlite3_exec(c->db, pragmas, NULL, NULL, NULL);
    if (rc == SQLITE_NOTADB || rc == SQLITE_CORRUPT)
        return ds_fail(err, AE_EIO,
                       "%s is not a datastore file, or it is corrupt (%s); start with "
                       "--clear-datastore to replace it, or give another --datastore-path",
                       ds->path, sqlite3_errmsg(c->db));
    if (rc != SQLITE_OK)
        return ds_sqlite_fail(ds, c->db, rc, err, "setting it up");
    return AE_OK;
}

static void conn_close(ds_conn_t *c)
{
    if (c->stmts) {
        for (int i = 0; i < ST_COUNT; i++)
            sqlite3_finalize(c->stmts[i]);
        free(c->stmts);
    }
    sqlite3_close(c->db);
    memset(c, 0, sizeof *c);
}

ds_conn_t *ds_reader_take(das_ds_t *ds, das_ds_err_t *err)
{
    pthread_mutex_lock(&ds->pool_lock);
    if (ds->n_idle) {
        ds_conn_t *c = ds->idle[--ds->n_idle];
        pthread_mutex_unlock(&ds->pool_lock);
        return c;
    }
    pthread_mutex_unlock(&ds->pool_lock);
    ds_conn_t *c = calloc(1, sizeof *c);
    if (!c)
        abort();
    if (conn_open(ds, c, err) != AE_OK) {
        conn_close(c);
        free(c);
        return NULL;
    }
    return c;
}

void ds_reader_give(das_ds_t *ds, ds_conn_t *c)
{
    if (!c)
        return;
    if (!sqlite3_get_autocommit(c->db))
        sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    pthread_mutex_lock(&ds->pool_lock);
    if (ds->n_idle == ds->cap_idle) {
        ds->cap_idle = ds->cap_idle ? ds->cap_idle * 2 : 8;
        ds->idle = realloc(ds->idle, ds->cap_idle * sizeof *ds->idle);
        if (!ds->idle)
            abort();
    }
    ds->idle[ds->n_idle++] = c;
    pthread_mutex_unlock(&ds->pool_lock);
}

static int exec_st(ds_conn_t *c, int which)
{
    sqlite3_stmt *st = ds_stmt(c, which);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

/* ---- small things ---- */

uint64_t ds_random(das_ds_t *ds)
{
    uint64_t z = (ds->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

int64_t ds_now_ms(das_ds_t *ds)
{
    return ds->o.now_ms ? ds->o.now_ms(ds->o.clock_ctx) : 0;
}

const char *das_ds_app(const das_ds_t *ds)
{
    return ds->app;
}

void ds_group_of(const das_ds_key_t *k, ds_buf_t *out)
{
    das_ds_key_t root = *k;
    root.n = 1;
    out->n = 0;
    ds_enc_key(out, &root, true);
}

static int64_t meta_get(ds_conn_t *c, const char *k, int64_t dflt)
{
    sqlite3_stmt *st = ds_stmt(c, ST_META_GET);
    sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
    int64_t v = dflt;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return v;
}

static int meta_set(ds_conn_t *c, const char *k, int64_t v)
{
    sqlite3_stmt *st = ds_stmt(c, ST_META_SET);
    sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, v);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* ---- applying commits (the writer, in its transaction) ---- */

/* Makes `ekey` hold `data` (NULL: deleted) in entities and idx. `e` is data parsed, if the
 * caller has it. */
static int apply_write(das_ds_t *ds, const unsigned char *ekey, size_t ekey_len,
                       const unsigned char *data, size_t len, const das_ds_entity_t *e,
                       das_ds_err_t *err)
{
    ds_conn_t *w = &ds->writer;
    das_ds_arena_t a = {0};
    ds_rows_t old_rows = {0}, new_rows = {0};
    int rc = AE_OK;
    sqlite3_stmt *st = ds_stmt(w, ST_GET_ENTITY);
    sqlite3_bind_blob(st, 1, ekey, (int)ekey_len, SQLITE_STATIC);
    bool existed = false;
    if (sqlite3_step(st) == SQLITE_ROW) {
        das_ds_entity_t old;
        existed = true;
        if (ds_entity_parse(sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0), &a,
                            ds->app, &old) == 0)
            rc = ds_entity_rows(ds, &old, false, &old_rows, err);
    }
    sqlite3_reset(st);
    if (rc)
        goto out;
    das_ds_entity_t parsed;
    if (data && !e) {
        if (ds_entity_parse(data, len, &a, ds->app, &parsed) != 0) {
            rc = ds_fail(err, AE_EINTERNAL, "a pending write does not parse");
            goto out;
        }
        e = &parsed;
    }
    if (e) {
        rc = ds_entity_rows(ds, e, true, &new_rows, err);
        if (rc)
            goto out;
    }
    /* Rows in both stay; the others go or come. */
    for (size_t i = 0; i < old_rows.n; i++) {
        ds_row_t *r = &old_rows.rows[i];
        bool keep = false;
        for (size_t j = 0; j < new_rows.n && !keep; j++) {
            ds_row_t *q = &new_rows.rows[j];
            keep = q->iid == r->iid && q->k.n == r->k.n && q->multi == r->multi &&
                   memcmp(q->k.p, r->k.p, r->k.n) == 0;
            if (keep)
                q->iid = -q->iid; /* already there */
        }
        if (keep)
            continue;
        st = ds_stmt(w, ST_DEL_ROW);
        sqlite3_bind_int64(st, 1, r->iid);
        sqlite3_bind_blob(st, 2, r->k.p, (int)r->k.n, SQLITE_STATIC);
        int src = sqlite3_step(st);
        sqlite3_reset(st);
        if (src != SQLITE_DONE) {
            rc = ds_sqlite_fail(ds, w->db, src, err, "deleting an index row");
            goto out;
        }
    }
    for (size_t i = 0; i < new_rows.n; i++) {
        ds_row_t *r = &new_rows.rows[i];
        if (r->iid < 0)
            continue;
        st = ds_stmt(w, ST_PUT_ROW);
        sqlite3_bind_int64(st, 1, r->iid);
        sqlite3_bind_blob(st, 2, r->k.p, (int)r->k.n, SQLITE_STATIC);
        sqlite3_bind_int(st, 3, r->multi);
        int src = sqlite3_step(st);
        sqlite3_reset(st);
        if (src != SQLITE_DONE) {
            rc = ds_sqlite_fail(ds, w->db, src, err, "writing an index row");
            goto out;
        }
    }
    ds_buf_t ser = {0};
    if (e && !data) {
        ds_entity_serialize(&ser, e);
        data = ser.p;
        len = ser.n;
    }
    st = ds_stmt(w, data ? ST_PUT_ENTITY : ST_DEL_ENTITY);
    sqlite3_bind_blob(st, 1, ekey, (int)ekey_len, SQLITE_STATIC);
    if (data)
        sqlite3_bind_blob(st, 2, data, (int)len, SQLITE_STATIC);
    int src = sqlite3_step(st);
    sqlite3_reset(st);
    ds_buf_free(&ser);
    if (src != SQLITE_DONE) {
        rc = ds_sqlite_fail(ds, w->db, src, err, "writing an entity");
        goto out;
    }
    ds->stats.entities += (data ? 1 : 0) - (existed ? 1 : 0);
out:
    ds_rows_free(&old_rows);
    ds_rows_free(&new_rows);
    das_ds_arena_dispose(&a);
    return rc;
}

/* Pending writes, read out of `pending` before they are applied (applying writes to the
 * table being read). */
typedef struct {
    int64_t seq;
    ds_buf_t ekey, data;
    bool del;
} pending_write_t;

typedef struct {
    pending_write_t *w;
    size_t n, cap;
} pending_list_t;

/* Adds the current row of a statement selecting seq, cseq, grp, due, ekey, data. */
static void pending_list_add(pending_list_t *l, sqlite3_stmt *st)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->w = realloc(l->w, l->cap * sizeof *l->w);
        if (!l->w)
            abort();
    }
    pending_write_t *p = &l->w[l->n++];
    memset(p, 0, sizeof *p);
    p->seq = sqlite3_column_int64(st, 0);
    ds_buf_put(&p->ekey, sqlite3_column_blob(st, 4), (size_t)sqlite3_column_bytes(st, 4));
    p->del = sqlite3_column_type(st, 5) == SQLITE_NULL;
    ds_buf_put(&p->data, sqlite3_column_blob(st, 5), (size_t)sqlite3_column_bytes(st, 5));
}

/* Applies the list's writes in order while rc is AE_OK, deleting each applied one from
 * `pending`; frees the list. Returns the first failure, or rc. */
static int pending_list_apply(das_ds_t *ds, pending_list_t *l, int rc, das_ds_err_t *err)
{
    ds_conn_t *w = &ds->writer;
    for (size_t i = 0; i < l->n && rc == AE_OK; i++) {
        pending_write_t *p = &l->w[i];
        rc = apply_write(ds, p->ekey.p, p->ekey.n, p->del ? NULL : p->data.p, p->data.n, NULL,
                         err);
        if (rc != AE_OK)
            break;
        sqlite3_stmt *st = ds_stmt(w, ST_PENDING_DEL);
        sqlite3_bind_int64(st, 1, p->seq);
        int src = sqlite3_step(st);
        sqlite3_reset(st);
        if (src != SQLITE_DONE)
            rc = ds_sqlite_fail(ds, w->db, src, err, "applying a commit");
        else
            __atomic_sub_fetch(&ds->pending, 1, __ATOMIC_RELAXED);
    }
    for (size_t i = 0; i < l->n; i++) {
        ds_buf_free(&l->w[i].ekey);
        ds_buf_free(&l->w[i].data);
    }
    free(l->w);
    memset(l, 0, sizeof *l);
    return rc;
}

/* Applies every pending write of one group, in order. */
static int apply_group_locked(das_ds_t *ds, const ds_buf_t *grp, das_ds_err_t *err)
{
    if (__atomic_load_n(&ds->pending, __ATOMIC_RELAXED) == 0)
        return AE_OK;
    ds_conn_t *w = &ds->writer;
    sqlite3_stmt *st = ds_stmt(w, ST_PENDING_OF_GROUP);
    sqlite3_bind_blob(st, 1, grp->p, (int)grp->n, SQLITE_STATIC);
    pending_list_t list = {0};
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW)
        pending_list_add(&list, st);
    sqlite3_reset(st);
    int rc = src == SQLITE_DONE ? AE_OK : ds_sqlite_fail(ds, w->db, src, err, "reading commits");
    return pending_list_apply(ds, &list, rc, err);
}

static int writer_begin(das_ds_t *ds, das_ds_err_t *err)
{
    pthread_mutex_lock(&ds->write_lock);
    int rc = exec_st(&ds->writer, ST_BEGIN_IMMEDIATE);
    if (rc != SQLITE_OK) {
        pthread_mutex_unlock(&ds->write_lock);
        return ds_sqlite_fail(ds, ds->writer.db, rc, err, "starting a write");
    }
    ds->n_txn_iids = 0;
    return AE_OK;
}

/* Commits (rc == AE_OK) or rolls back the writer's transaction, and unlocks. */
static int writer_end(das_ds_t *ds, int rc, int64_t pending_before, das_ds_err_t *err)
{
    if (rc == AE_OK) {
        int src = exec_st(&ds->writer, ST_COMMIT);
        if (src != SQLITE_OK)
            rc = ds_sqlite_fail(ds, ds->writer.db, src, err, "committing");
    }
    if (rc != AE_OK) {
        if (!sqlite3_get_autocommit(ds->writer.db))
            exec_st(&ds->writer, ST_ROLLBACK);
        __atomic_store_n(&ds->pending, pending_before, __ATOMIC_RELAXED);
        iids_forget_txn(ds);
        /* A reservation written in the rolled-back transaction is gone from the file: the
         * next id taken writes one again, or a reopened store would hand out ids again. */
        ds->seq_limit = meta_get(&ds->writer, "seq_limit", 1);
        ds->scatter_limit = meta_get(&ds->writer, "scatter_limit", 1);
    }
    pthread_mutex_unlock(&ds->write_lock);
    return rc;
}

static bool has_pending(ds_conn_t *c, const ds_buf_t *grp);

int ds_apply_groups(das_ds_t *ds, const ds_buf_t *groups, size_t n, das_ds_err_t *err)
{
    if (__atomic_load_n(&ds->pending, __ATOMIC_RELAXED) == 0)
        return AE_OK;
    /* Only a group with something pending needs the writer: reads of the others do not wait
     * for commits in progress. */
    ds_conn_t *c = ds_reader_take(ds, err);
    if (!c)
        return AE_EUNAVAILABLE;
    bool any = false;
    for (size_t i = 0; i < n && !any; i++)
        any = has_pending(c, &groups[i]);
    ds_reader_give(ds, c);
    if (!any)
        return AE_OK;
    int rc = writer_begin(ds, err);
    if (rc)
        return rc;
    int64_t before = __atomic_load_n(&ds->pending, __ATOMIC_RELAXED);
    for (size_t i = 0; i < n && rc == AE_OK; i++)
        rc = apply_group_locked(ds, &groups[i], err);
    return writer_end(ds, rc, before, err);
}

/* Applies pending writes in commit order: those due by now (APPLY_DUE), each commit with
 * p = 0.5 (APPLY_RANDOM), or all. A group has at most one commit pending (every write to a
 * group applies what it has pending first), so no write waits behind another of its group;
 * the writes of one commit in one group (consecutive in commit order) decide together.
 * `max` > 0 stops after that many commits. */
typedef enum { APPLY_DUE, APPLY_RANDOM, APPLY_ALL } apply_how_t;

/* When the next pending write falls due (the writer's transaction is open). */
static int64_t min_due_locked(das_ds_t *ds)
{
    sqlite3_stmt *st = ds_stmt(&ds->writer, ST_PENDING_MIN_DUE);
    int64_t due = INT64_MAX;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        due = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return due;
}

static int apply_where(das_ds_t *ds, apply_how_t how, int max, int *applied,
                       das_ds_err_t *err)
{
    *applied = 0;
    if (__atomic_load_n(&ds->pending, __ATOMIC_RELAXED) == 0)
        return AE_OK;
    int64_t now = ds_now_ms(ds);
    if (how == APPLY_DUE && now < __atomic_load_n(&ds->next_due, __ATOMIC_RELAXED))
        return AE_OK; /* nothing is due: no lock, no read */
    int rc = writer_begin(ds, err);
    if (rc)
        return rc;
    int64_t before = __atomic_load_n(&ds->pending, __ATOMIC_RELAXED);
    ds_conn_t *w = &ds->writer;
    pending_list_t list = {0};
    sqlite3_stmt *st = ds_stmt(w, ST_PENDING_DUE);
    sqlite3_bind_int64(st, 1, how == APPLY_DUE ? now : INT64_MAX);
    int64_t last_cseq = -1;
    ds_buf_t last_grp = {0};
    bool go = false;
    int src;
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t cseq = sqlite3_column_int64(st, 1);
        const void *grp = sqlite3_column_blob(st, 2);
        size_t grp_n = (size_t)sqlite3_column_bytes(st, 2);
        if (cseq != last_cseq || grp_n != last_grp.n || memcmp(grp, last_grp.p, grp_n) != 0) {
            if (max > 0 && *applied >= max)
                break;
            go = how != APPLY_RANDOM || (ds_random(ds) >> 11) * (1.0 / 9007199254740992.0) < 0.5;
            *applied += go;
            last_cseq = cseq;
            last_grp.n = 0;
            ds_buf_put(&last_grp, grp, grp_n);
        }
        if (go)
            pending_list_add(&list, st);
    }
    sqlite3_reset(st);
    ds_buf_free(&last_grp);
    if (src != SQLITE_DONE && src != SQLITE_ROW)
        rc = ds_sqlite_fail(ds, w->db, src, err, "reading commits");
    rc = pending_list_apply(ds, &list, rc, err);
    if (rc == AE_OK)
        __atomic_store_n(&ds->next_due, min_due_locked(ds), __ATOMIC_RELAXED);
    else
        *applied = 0; /* rolled back: nothing was */
    return writer_end(ds, rc, before, err);
}

int ds_apply_for_query(das_ds_t *ds, das_ds_err_t *err)
{
    int applied;
    switch (ds->o.consistency) {
    case DAS_DS_CONSISTENCY_RANDOM:
        return apply_where(ds, APPLY_RANDOM, 0, &applied, err);
    case DAS_DS_CONSISTENCY_TIME:
        return apply_where(ds, APPLY_DUE, 0, &applied, err);
    default:
        return AE_OK;
    }
}

int das_ds_apply_due(das_ds_t *ds, int max)
{
    if (ds->o.consistency != DAS_DS_CONSISTENCY_TIME)
        return 0;
    das_ds_err_t err;
    int applied = 0;
    apply_where(ds, APPLY_DUE, max, &applied, &err);
    return applied;
}

void das_ds_apply_all(das_ds_t *ds)
{
    das_ds_err_t err;
    int applied;
    apply_where(ds, APPLY_ALL, 0, &applied, &err);
}

int64_t das_ds_next_due_ms(das_ds_t *ds)
{
    if (ds->o.consistency != DAS_DS_CONSISTENCY_TIME ||
        __atomic_load_n(&ds->pending, __ATOMIC_RELAXED) == 0)
        return INT64_MAX;
    return __atomic_load_n(&ds->next_due, __ATOMIC_RELAXED);
}

/* ---- entity group versions (under write_lock) ---- */

struct ds_version {
    UT_hash_handle hh;
    int64_t version;
    int watchers; /* open transactions that read the group */
    size_t len;
    unsigned char grp[];
};

static ds_version_t *version_find(das_ds_t *ds, const ds_buf_t *grp)
{
    ds_version_t *v = NULL;
    HASH_FIND(hh, ds->versions, grp->p, grp->n, v);
    return v;
}

/* Starts watching a group for a transaction; returns its version. */
static int64_t version_watch(das_ds_t *ds, const ds_buf_t *grp)
{
    ds_version_t *v = version_find(ds, grp);
    if (!v) {
        v = calloc(1, sizeof *v + grp->n);
        if (!v)
            abort();
        v->len = grp->n;
        memcpy(v->grp, grp->p, grp->n);
        HASH_ADD(hh, ds->versions, grp, v->len, v);
    }
    v->watchers++;
    return v->version;
}

static void version_unwatch(das_ds_t *ds, const ds_buf_t *grp)
{
    ds_version_t *v = version_find(ds, grp);
    if (v && --v->watchers == 0) {
        HASH_DEL(ds->versions, v);
        free(v);
    }
}

static int64_t version_of(das_ds_t *ds, const ds_buf_t *grp)
{
    ds_version_t *v = version_find(ds, grp);
    return v ? v->version : 0;
}

/* A commit touched the group: transactions that read it can no longer commit. (A commit that
 * then fails to reach the disk leaves the bump: a spurious retry, never a lost update.) */
static void version_bump(das_ds_t *ds, const ds_buf_t *grp)
{
    ds_version_t *v = version_find(ds, grp);
    if (v)
        v->version++;
}

/* ---- commits ---- */

/* One write of a commit. */
typedef struct {
    ds_buf_t ekey, grp;
    das_ds_entity_t *e; /* NULL: delete */
} write_t;

/* The delay before a commit applies under the time policy, as the old server drew it. */
static int64_t draw_delay_ms(das_ds_t *ds)
{
    uint64_t r = ds_random(ds) % 1000;
    if (r < 980)
        return 100;
    if (r < 990)
        return 300;
    if (r < 995)
        return 2000;
    return 240000;
}

static int cmp_write(const void *x, const void *y)
{
    const write_t *a = x, *b = y;
    int c = ds_buf_cmp(&a->grp, &b->grp);
    return c;
}

/* Writes a commit (the writer's transaction is open): per group, in group order, apply what
 * is pending, bump the version, then apply the writes or queue them. */
static int commit_writes(das_ds_t *ds, write_t *w, size_t n, das_ds_err_t *err)
{
    qsort(w, n, sizeof *w, cmp_write); /* stable enough: one write per key (deduplicated) */
    int64_t cseq = ds->stats.commits + 1;
    int64_t now = ds_now_ms(ds);
    int rc = AE_OK;
    for (size_t i = 0; i < n && rc == AE_OK;) {
        size_t j = i;
        while (j < n && ds_buf_cmp(&w[j].grp, &w[i].grp) == 0)
            j++;
        rc = apply_group_locked(ds, &w[i].grp, err);
        if (rc)
            break;
        version_bump(ds, &w[i].grp);
        sqlite3_stmt *st;
        int src;
        bool now_apply = ds->o.consistency == DAS_DS_CONSISTENCY_CONSISTENT;
        int64_t due = now_apply ? 0 : now + draw_delay_ms(ds);
        for (size_t k = i; k < j && rc == AE_OK; k++) {
            if (now_apply) {
                rc = apply_write(ds, w[k].ekey.p, w[k].ekey.n, NULL, 0, w[k].e, err);
                continue;
            }
            ds_buf_t ser = {0};
            if (w[k].e)
                ds_entity_serialize(&ser, w[k].e);
            st = ds_stmt(&ds->writer, ST_PENDING_ADD);
            sqlite3_bind_int64(st, 1, cseq);
            sqlite3_bind_blob(st, 2, w[k].grp.p, (int)w[k].grp.n, SQLITE_STATIC);
            sqlite3_bind_int64(st, 3, due);
            sqlite3_bind_blob(st, 4, w[k].ekey.p, (int)w[k].ekey.n, SQLITE_STATIC);
            if (w[k].e)
                sqlite3_bind_blob(st, 5, ser.p, (int)ser.n, SQLITE_STATIC);
            else
                sqlite3_bind_null(st, 5);
            src = sqlite3_step(st);
            sqlite3_reset(st);
            ds_buf_free(&ser);
            if (src != SQLITE_DONE)
                rc = ds_sqlite_fail(ds, ds->writer.db, src, err, "committing");
            else
                __atomic_add_fetch(&ds->pending, 1, __ATOMIC_RELAXED);
        }
        if (!now_apply && due < __atomic_load_n(&ds->next_due, __ATOMIC_RELAXED))
            __atomic_store_n(&ds->next_due, due, __ATOMIC_RELAXED);
        i = j;
    }
    return rc;
}

/* ---- ids ---- */

static uint64_t reverse_bits(uint64_t v, int bits)
{
    uint64_t r = 0;
    for (int i = 0; i < bits; i++, v >>= 1)
        r = r << 1 | (v & 1);
    return r;
}

#define SEQUENTIAL_MAX ((int64_t)1 << 52)
#define SCATTER_BITS 51

/* Takes `n` sequential ids, writing the new reservation when it runs past the block. Under
 * write_lock, in the writer's transaction. */
static int take_sequential(das_ds_t *ds, int64_t n, int64_t *first, das_ds_err_t *err)
{
    if (n <= 0 || n > SEQUENTIAL_MAX - ds->seq_next)
        return ds_fail(err, AE_EINVAL, "cannot allocate %lld ids: the sequential ids run out "
                                       "at 2^52", (long long)n);
    *first = ds->seq_next;
    ds->seq_next += n;
    if (ds->seq_next > ds->seq_limit) {
        ds->seq_limit = ds->seq_next + ID_BLOCK;
        int rc = meta_set(&ds->writer, "seq_limit", ds->seq_limit);
        if (rc)
            return ds_sqlite_fail(ds, ds->writer.db, rc, err, "reserving ids");
    }
    return AE_OK;
}

/* True when an entity has key `k` (with `id` as its last id), applied or still pending. Under
 * write_lock. */
static bool key_in_use(das_ds_t *ds, const das_ds_key_t *k, int64_t id)
{
    das_ds_elem_t last = k->path[k->n - 1];
    last.id = id;
    last.name = NULL;
    das_ds_elem_t *path = malloc(k->n * sizeof *path);
    if (!path)
        abort();
    memcpy(path, k->path, (k->n - 1) * sizeof *path);
    path[k->n - 1] = last;
    das_ds_key_t probe = *k;
    probe.path = path;
    ds_buf_t ekey = {0}, grp = {0};
    ds_enc_key(&ekey, &probe, true);
    ds_group_of(&probe, &grp);
    free(path);
    sqlite3_stmt *st = ds_stmt(&ds->writer, ST_GET_ENTITY);
    sqlite3_bind_blob(st, 1, ekey.p, (int)ekey.n, SQLITE_STATIC);
    bool used = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_reset(st);
    if (!used && __atomic_load_n(&ds->pending, __ATOMIC_RELAXED)) {
        st = ds_stmt(&ds->writer, ST_PENDING_OF_GROUP);
        sqlite3_bind_blob(st, 1, grp.p, (int)grp.n, SQLITE_STATIC);
        while (!used && sqlite3_step(st) == SQLITE_ROW)
            used = (size_t)sqlite3_column_bytes(st, 4) == ekey.n &&
                   memcmp(sqlite3_column_blob(st, 4), ekey.p, ekey.n) == 0;
        sqlite3_reset(st);
    }
    ds_buf_free(&ekey);
    ds_buf_free(&grp);
    return used;
}

/* An id for the incomplete key k. A scattered id skips one an entity already has: an id put
 * explicitly (an import, a key from another store) is never overwritten by a new entity.
 * Sequential ids need no check: an explicit id below 2^52 pushes the counter past it. */
static int take_id(das_ds_t *ds, const das_ds_key_t *k, int64_t *id, das_ds_err_t *err)
{
    if (ds->o.ids == DAS_DS_IDS_SEQUENTIAL)
        return take_sequential(ds, 1, id, err);
    do {
        if (ds->scatter_next >= ((int64_t)1 << SCATTER_BITS))
            return ds_fail(err, AE_EINVAL, "the scattered ids have run out");
        int64_t c = ds->scatter_next++;
        if (ds->scatter_next > ds->scatter_limit) {
            ds->scatter_limit = ds->scatter_next + ID_BLOCK;
            int rc = meta_set(&ds->writer, "scatter_limit", ds->scatter_limit);
            if (rc)
                return ds_sqlite_fail(ds, ds->writer.db, rc, err, "reserving ids");
        }
        *id = SEQUENTIAL_MAX + (int64_t)reverse_bits((uint64_t)c, SCATTER_BITS);
    } while (key_in_use(ds, k, *id));
    return AE_OK;
}

/* A put with an explicit id below 2^52: later sequential ids go past it. */
static int note_id(das_ds_t *ds, int64_t id, das_ds_err_t *err)
{
    if (id < ds->seq_next || id >= SEQUENTIAL_MAX)
        return AE_OK;
    int64_t first;
    return take_sequential(ds, id - ds->seq_next + 1, &first, err);
}

int das_ds_allocate_ids(das_ds_t *ds, const das_ds_key_t *model, int64_t size, int64_t max,
                        int64_t *start, int64_t *end, das_ds_err_t *err)
{
    int rc = ds_check_key(model, ds->app, false, err);
    if (rc)
        return rc;
    if (size && max)
        return ds_fail(err, AE_EINVAL, "Both size and max cannot be set.");
    if (size < 0 || max < 0 || (!size && !max))
        return ds_fail(err, AE_EINVAL, "size must be positive, or max given");
    if (size > 1000000000)
        return ds_fail(err, AE_EINVAL, "Cannot allocate more than 1 billion ids at once");
    if ((rc = writer_begin(ds, err)))
        return rc;
    int64_t before = __atomic_load_n(&ds->pending, __ATOMIC_RELAXED);
    if (size) {
        rc = take_sequential(ds, size, start, err);
        *end = *start + size - 1;
    } else {
        *start = ds->seq_next;
        if (max >= ds->seq_next)
            rc = take_sequential(ds, max - ds->seq_next + 1, start, err);
        *end = max;
    }
    return writer_end(ds, rc, before, err);
}

/* ---- entities ---- */

static int check_size(const das_ds_entity_t *e, das_ds_err_t *err)
{
    size_t n = das_ds_entity_size(e);
    if (n > DAS_DS_MAX_ENTITY_BYTES)
        return ds_fail(err, AE_ETOOLARGE, "entity is too big (%zu bytes; the most is %d)", n,
                       DAS_DS_MAX_ENTITY_BYTES);
    return AE_OK;
}

/* ---- transactions ---- */

typedef struct {
    ds_buf_t grp;
    int64_t version; /* as first read */
    bool read;
} txn_group_t;

struct das_ds_txn {
    das_ds_txn_options_t o;
    txn_group_t *groups;
    size_t n_groups;
    write_t *writes;
    size_t n_writes, cap_writes;
    das_ds_arena_t arena; /* the entities of the writes */
    ds_conn_t *conn;      /* holds the snapshot once something was read */
};

int das_ds_begin(das_ds_t *ds, const das_ds_txn_options_t *o, das_ds_txn_t **out)
{
    (void)ds;
    das_ds_txn_t *t = calloc(1, sizeof *t);
    if (!t)
        abort();
    if (o)
        t->o = *o;
    *out = t;
    return AE_OK;
}

static void txn_free(das_ds_t *ds, das_ds_txn_t *t)
{
    pthread_mutex_lock(&ds->write_lock);
    for (size_t i = 0; i < t->n_groups; i++)
        if (t->groups[i].read)
            version_unwatch(ds, &t->groups[i].grp);
    pthread_mutex_unlock(&ds->write_lock);
    for (size_t i = 0; i < t->n_groups; i++)
        ds_buf_free(&t->groups[i].grp);
    for (size_t i = 0; i < t->n_writes; i++) {
        ds_buf_free(&t->writes[i].ekey);
        ds_buf_free(&t->writes[i].grp);
    }
    free(t->groups);
    free(t->writes);
    das_ds_arena_dispose(&t->arena);
    ds_reader_give(ds, t->conn);
    free(t);
}

void das_ds_rollback(das_ds_t *ds, das_ds_txn_t *txn)
{
    if (txn)
        txn_free(ds, txn);
}

static bool has_pending(ds_conn_t *c, const ds_buf_t *grp)
{
    sqlite3_stmt *st = ds_stmt(c, ST_HAS_PENDING);
    sqlite3_bind_blob(st, 1, grp->p, (int)grp->n, SQLITE_STATIC);
    bool yes = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_reset(st);
    return yes;
}

static bool txn_has_group(const das_ds_txn_t *t, const ds_buf_t *grp)
{
    for (size_t i = 0; i < t->n_groups; i++)
        if (ds_buf_cmp(&t->groups[i].grp, grp) == 0)
            return true;
    return false;
}

/* Checks that the transaction may take the groups of a batch (the xg rules), before any of
 * them is added: a batch joins whole or not at all. */
static int txn_check_groups(const das_ds_txn_t *t, const ds_buf_t *const *grps, size_t n,
                            das_ds_err_t *err)
{
    size_t fresh = 0;
    for (size_t i = 0; i < n; i++) {
        if (txn_has_group(t, grps[i]))
            continue;
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = !txn_has_group(t, grps[j]) && ds_buf_cmp(grps[j], grps[i]) == 0;
        fresh += !seen;
    }
    if (t->n_groups + fresh > 1 && !t->o.xg)
        return ds_fail(err, AE_EINVAL,
                       "cross-groups transaction need to be explicitly specified (xg=True)");
    if (t->n_groups + fresh > DAS_DS_MAX_XG_GROUPS)
        return ds_fail(err, AE_EINVAL,
                       "operating on too many entity groups in a single transaction.");
    return AE_OK;
}

/* The transaction's entry for a group, added (within the xg rules) when it is new. */
static int txn_group(das_ds_txn_t *t, const ds_buf_t *grp, txn_group_t **out, das_ds_err_t *err)
{
    for (size_t i = 0; i < t->n_groups; i++) {
        if (ds_buf_cmp(&t->groups[i].grp, grp) == 0) {
            *out = &t->groups[i];
            return AE_OK;
        }
    }
    int rc = txn_check_groups(t, &grp, 1, err);
    if (rc)
        return rc;
    t->groups = realloc(t->groups, (t->n_groups + 1) * sizeof *t->groups);
    if (!t->groups)
        abort();
    txn_group_t *g = &t->groups[t->n_groups++];
    memset(g, 0, sizeof *g);
    ds_buf_put(&g->grp, grp->p, grp->n);
    *out = g;
    return AE_OK;
}

/* The first read of a group in a transaction: apply what it has pending, then take a fresh
 * snapshot in which every group read before is unchanged (else contention) and this one has
 * nothing pending. Later reads of any of these groups use the snapshot. */
static int txn_first_read(das_ds_t *ds, das_ds_txn_t *t, txn_group_t *g, das_ds_err_t *err)
{
    if (!t->conn && !(t->conn = ds_reader_take(ds, err)))
        return AE_EUNAVAILABLE;
    for (int attempt = 0; attempt < 100; attempt++) {
        int rc = ds_apply_groups(ds, &g->grp, 1, err);
        if (rc)
            return rc;
        /* Under write_lock no commit is under way: the snapshot and the versions agree. */
        pthread_mutex_lock(&ds->write_lock);
        if (!sqlite3_get_autocommit(t->conn->db))
            exec_st(t->conn, ST_COMMIT);
        int src = exec_st(t->conn, ST_BEGIN);
        if (src) {
            pthread_mutex_unlock(&ds->write_lock);
            return ds_sqlite_fail(ds, t->conn->db, src, err, "starting a transaction");
        }
        if (has_pending(t->conn, &g->grp)) { /* (this read starts the snapshot) */
            pthread_mutex_unlock(&ds->write_lock);
            continue; /* a commit landed between applying and the snapshot */
        }
        for (size_t i = 0; i < t->n_groups; i++) {
            txn_group_t *o = &t->groups[i];
            if (o != g && o->read && version_of(ds, &o->grp) != o->version) {
                ds->stats.contentions++;
                pthread_mutex_unlock(&ds->write_lock);
                return ds_fail(err, AE_ECONTENTION, "Concurrency exception.");
            }
        }
        g->version = version_watch(ds, &g->grp);
        g->read = true;
        pthread_mutex_unlock(&ds->write_lock);
        return AE_OK;
    }
    return ds_fail(err, AE_ECONTENTION, "too much contention on these datastore entities. "
                                        "please try again.");
}

/* Moves the transaction's snapshot to now, for an index made after it was taken (a query's
 * composite index, filled from the entities): the groups it read must not have moved, so what
 * it reads of them is the same. */
int ds_txn_refresh(das_ds_t *ds, das_ds_txn_t *t, das_ds_err_t *err)
{
    if (!t->conn || sqlite3_get_autocommit(t->conn->db))
        return AE_OK;
    pthread_mutex_lock(&ds->write_lock);
    exec_st(t->conn, ST_COMMIT);
    int src = exec_st(t->conn, ST_BEGIN);
    if (src) {
        pthread_mutex_unlock(&ds->write_lock);
        return ds_sqlite_fail(ds, t->conn->db, src, err, "starting a transaction");
    }
    int rc = AE_OK;
    for (size_t i = 0; i < t->n_groups && rc == AE_OK; i++) {
        txn_group_t *g = &t->groups[i];
        if (g->read && version_of(ds, &g->grp) != g->version) {
            ds->stats.contentions++;
            rc = ds_fail(err, AE_ECONTENTION, "Concurrency exception.");
        }
    }
    if (rc == AE_OK && t->n_groups)
        has_pending(t->conn, &t->groups[0].grp); /* starts the snapshot, under the lock */
    pthread_mutex_unlock(&ds->write_lock);
    return rc;
}

int ds_txn_read_group(das_ds_t *ds, das_ds_txn_t *txn, const das_ds_key_t *k,
                      ds_conn_t **conn, das_ds_err_t *err)
{
    ds_buf_t grp = {0};
    ds_group_of(k, &grp);
    txn_group_t *g;
    int rc = txn_group(txn, &grp, &g, err);
    ds_buf_free(&grp);
    if (rc)
        return rc;
    if (!g->read && (rc = txn_first_read(ds, txn, g, err)))
        return rc;
    *conn = txn->conn;
    return AE_OK;
}

int das_ds_commit(das_ds_t *ds, das_ds_txn_t *t, das_ds_err_t *err)
{
    if (t->conn && !sqlite3_get_autocommit(t->conn->db))
        exec_st(t->conn, ST_COMMIT);
    if (t->n_writes == 0) { /* an empty commit is a rollback */
        txn_free(ds, t);
        return AE_OK;
    }
    int rc = writer_begin(ds, err);
    if (rc) {
        txn_free(ds, t);
        return rc;
    }
    int64_t before = __atomic_load_n(&ds->pending, __ATOMIC_RELAXED);
    for (size_t i = 0; i < t->n_groups && rc == AE_OK; i++) {
        txn_group_t *g = &t->groups[i];
        if (g->read && version_of(ds, &g->grp) != g->version) {
            ds->stats.contentions++;
            rc = ds_fail(err, AE_ECONTENTION, "Concurrency exception.");
        }
    }
    if (rc == AE_OK)
        rc = commit_writes(ds, t->writes, t->n_writes, err);
    if (rc == AE_OK) /* still under write_lock: the next commit's cseq is another */
        ds->stats.commits++;
    rc = writer_end(ds, rc, before, err);
    txn_free(ds, t);
    return rc;
}

/* Adds a write to a transaction, replacing an earlier one of the same key. The entity is
 * copied into the transaction: what was put is what commits, whatever the caller does with
 * its memory afterwards. */
static int txn_write(das_ds_t *ds, das_ds_txn_t *t, const ds_buf_t *ekey, const ds_buf_t *grp,
                     const das_ds_entity_t *src, das_ds_err_t *err)
{
    if (t->o.read_only)
        return ds_fail(err, AE_EINVAL, "Cannot modify entities in a read-only transaction.");
    txn_group_t *g;
    int rc = txn_group(t, grp, &g, err);
    if (rc)
        return rc;
    das_ds_entity_t *e = NULL;
    if (src) {
        ds_buf_t ser = {0};
        ds_entity_serialize(&ser, src);
        e = das_ds_alloc(&t->arena, sizeof *e);
        rc = ds_entity_parse(ser.p, ser.n, &t->arena, ds->app, e);
        ds_buf_free(&ser);
        if (rc)
            return ds_fail(err, AE_EINTERNAL, "an entity does not copy");
    }
    for (size_t i = 0; i < t->n_writes; i++) {
        if (ds_buf_cmp(&t->writes[i].ekey, ekey) == 0) {
            t->writes[i].e = e;
            return AE_OK;
        }
    }
    if (t->n_writes == t->cap_writes) {
        t->cap_writes = t->cap_writes ? t->cap_writes * 2 : 8;
        t->writes = realloc(t->writes, t->cap_writes * sizeof *t->writes);
        if (!t->writes)
            abort();
    }
    write_t *w = &t->writes[t->n_writes++];
    memset(w, 0, sizeof *w);
    ds_buf_put(&w->ekey, ekey->p, ekey->n);
    ds_buf_put(&w->grp, grp->p, grp->n);
    w->e = e;
    return AE_OK;
}

/* Checks a batch of writes against the transaction before any joins it. */
static int txn_check_batch(const das_ds_txn_t *t, const write_t *w, size_t n, das_ds_err_t *err)
{
    if (t->o.read_only)
        return ds_fail(err, AE_EINVAL, "Cannot modify entities in a read-only transaction.");
    const ds_buf_t **grps = calloc(n ? n : 1, sizeof *grps);
    if (!grps)
        abort();
    for (size_t i = 0; i < n; i++)
        grps[i] = &w[i].grp;
    int rc = txn_check_groups(t, grps, n, err);
    free(grps);
    return rc;
}

/* ---- get, put, delete ---- */

int das_ds_get(das_ds_t *ds, das_ds_txn_t *txn, const das_ds_key_t *keys, size_t n,
               das_ds_arena_t *a, das_ds_entity_t **out, das_ds_err_t *err)
{
    for (size_t i = 0; i < n; i++) {
        int rc = ds_check_key(&keys[i], ds->app, true, err);
        if (rc)
            return rc;
    }
    ds_conn_t *c = NULL;
    int rc = AE_OK;
    ds_buf_t *groups = calloc(n ? n : 1, sizeof *groups);
    if (!groups)
        abort();
    for (size_t i = 0; i < n; i++)
        ds_group_of(&keys[i], &groups[i]);
    if (txn) {
        const ds_buf_t **grps = calloc(n ? n : 1, sizeof *grps);
        if (!grps)
            abort();
        for (size_t i = 0; i < n; i++)
            grps[i] = &groups[i];
        rc = txn_check_groups(txn, grps, n, err); /* a batch joins whole or not at all */
        free(grps);
        for (size_t i = 0; i < n && rc == AE_OK; i++)
            rc = ds_txn_read_group(ds, txn, &keys[i], &c, err);
    } else {
        rc = ds_apply_groups(ds, groups, n, err);
        if (rc == AE_OK && !(c = ds_reader_take(ds, err)))
            rc = AE_EUNAVAILABLE;
        if (rc == AE_OK && n > 1)
            exec_st(c, ST_BEGIN); /* one snapshot for the batch */
    }
    ds_buf_t ekey = {0};
    /* the results name the app with a copy in their arena: they may outlive the store */
    const char *app = n ? das_ds_strndup(a, ds->app, strlen(ds->app)) : ds->app;
    for (size_t i = 0; i < n && rc == AE_OK; i++) {
        out[i] = NULL;
        ekey.n = 0;
        ds_enc_key(&ekey, &keys[i], true);
        sqlite3_stmt *st = ds_stmt(c, ST_GET_ENTITY);
        sqlite3_bind_blob(st, 1, ekey.p, (int)ekey.n, SQLITE_STATIC);
        int src = sqlite3_step(st);
        if (src == SQLITE_ROW) {
            das_ds_entity_t *e = das_ds_alloc(a, sizeof *e);
            if (ds_entity_parse(sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0),
                                a, app, e) != 0)
                rc = ds_fail(err, AE_EINTERNAL, "a stored entity does not parse");
            e->key.app = app;
            out[i] = e;
        } else if (src != SQLITE_DONE) {
            rc = ds_sqlite_fail(ds, c->db, src, err, "reading");
        }
        sqlite3_reset(st);
    }
    ds_buf_free(&ekey);
    if (!txn && c)
        ds_reader_give(ds, c);
    for (size_t i = 0; i < n; i++)
        ds_buf_free(&groups[i]);
    free(groups);
    __atomic_add_fetch(&ds->stats.gets, n, __ATOMIC_RELAXED); /* no lock: reads never wait */
    return rc;
}

static das_ds_key_t copy_key(das_ds_arena_t *a, const das_ds_key_t *k)
{
    das_ds_key_t c = *k;
    c.path = das_ds_alloc(a, k->n * sizeof *c.path);
    memcpy(c.path, k->path, k->n * sizeof *c.path);
    return c;
}

int das_ds_put(das_ds_t *ds, das_ds_txn_t *txn, das_ds_entity_t *ents, size_t n,
               das_ds_arena_t *a, das_ds_err_t *err)
{
    if (txn && txn->o.read_only) /* before an id is taken */
        return ds_fail(err, AE_EINVAL, "Cannot modify entities in a read-only transaction.");
    /* The whole batch is checked before anything is written. */
    for (size_t i = 0; i < n; i++) {
        int rc = ds_check_entity(&ents[i], ds->app, err);
        if (!rc)
            rc = check_size(&ents[i], err);
        if (rc)
            return rc;
    }
    int rc = writer_begin(ds, err);
    if (rc)
        return rc;
    int64_t before = __atomic_load_n(&ds->pending, __ATOMIC_RELAXED);
    /* the keys name the app with a copy in the caller's arena: they may outlive the store */
    const char *app = n ? das_ds_strndup(a, ds->app, strlen(ds->app)) : ds->app;
    for (size_t i = 0; i < n && rc == AE_OK; i++) {
        das_ds_key_t *k = &ents[i].key;
        das_ds_elem_t *last = &k->path[k->n - 1];
        if (index_row_count(ds, &ents[i]) > MAX_INDEX_ROWS)
            rc = ds_fail(err, AE_EINVAL, "Too many indexed properties for entity %s.",
                         last->kind);
        else if (!last->name && last->id == 0) {
            *k = copy_key(a, k);
            last = &k->path[k->n - 1];
            rc = take_id(ds, k, &last->id, err);
        } else if (!last->name) {
            rc = note_id(ds, last->id, err);
        }
        k->app = app;
    }
    write_t *w = calloc(n ? n : 1, sizeof *w);
    if (!w)
        abort();
    size_t nw = 0;
    for (size_t i = 0; i < n && rc == AE_OK; i++) {
        write_t x = {0};
        ds_enc_key(&x.ekey, &ents[i].key, true);
        ds_group_of(&ents[i].key, &x.grp);
        x.e = &ents[i];
        size_t j;
        for (j = 0; j < nw && ds_buf_cmp(&w[j].ekey, &x.ekey) != 0; j++)
            ;
        if (j < nw) { /* the same key twice: the last one wins */
            ds_buf_free(&x.ekey);
            ds_buf_free(&x.grp);
            w[j].e = &ents[i];
        } else {
            w[nw++] = x;
        }
    }
    if (txn) { /* ids are taken now; the writes wait for the commit */
        rc = writer_end(ds, rc, before, err);
        if (rc == AE_OK)
            rc = txn_check_batch(txn, w, nw, err);
        for (size_t i = 0; i < nw && rc == AE_OK; i++)
            rc = txn_write(ds, txn, &w[i].ekey, &w[i].grp, w[i].e, err);
    } else {
        if (rc == AE_OK)
            rc = commit_writes(ds, w, nw, err);
        if (rc == AE_OK) {
            ds->stats.commits++;
            ds->stats.puts += n;
        }
        rc = writer_end(ds, rc, before, err);
    }
    for (size_t i = 0; i < nw; i++) {
        ds_buf_free(&w[i].ekey);
        ds_buf_free(&w[i].grp);
    }
    free(w);
    return rc;
}

int das_ds_delete(das_ds_t *ds, das_ds_txn_t *txn, const das_ds_key_t *keys, size_t n,
                  das_ds_err_t *err)
{
    for (size_t i = 0; i < n; i++) {
        int rc = ds_check_key(&keys[i], ds->app, true, err);
        if (rc)
            return rc;
    }
    write_t *w = calloc(n ? n : 1, sizeof *w);
    if (!w)
        abort();
    size_t nw = 0;
    for (size_t i = 0; i < n; i++) {
        write_t x = {0};
        ds_enc_key(&x.ekey, &keys[i], true);
        ds_group_of(&keys[i], &x.grp);
        size_t j;
        for (j = 0; j < nw && ds_buf_cmp(&w[j].ekey, &x.ekey) != 0; j++)
            ;
        if (j < nw) {
            ds_buf_free(&x.ekey);
            ds_buf_free(&x.grp);
        } else {
            w[nw++] = x;
        }
    }
    int rc = AE_OK;
    if (txn) {
        rc = txn_check_batch(txn, w, nw, err);
        for (size_t i = 0; i < nw && rc == AE_OK; i++)
            rc = txn_write(ds, txn, &w[i].ekey, &w[i].grp, NULL, err);
    } else if ((rc = writer_begin(ds, err)) == AE_OK) {
        int64_t before = __atomic_load_n(&ds->pending, __ATOMIC_RELAXED);
        rc = commit_writes(ds, w, nw, err);
        if (rc == AE_OK) {
            ds->stats.commits++;
            ds->stats.deletes += n;
        }
        rc = writer_end(ds, rc, before, err);
    }
    for (size_t i = 0; i < nw; i++) {
        ds_buf_free(&w[i].ekey);
        ds_buf_free(&w[i].grp);
    }
    free(w);
    return rc;
}

/* ---- composites ---- */

/* Adds `def` to its kind's composites (its rows are written from now on). Under write_lock. */
static void composite_remember(das_ds_t *ds, const das_ds_index_def_t *def)
{
    ds_composite_t *c = composites_of(ds, def->kind);
    if (!c) {
        size_t kl = strlen(def->kind);
        c = calloc(1, sizeof *c + kl + 1);
        if (!c)
            abort();
        memcpy(c->kind, def->kind, kl + 1);
        HASH_ADD_STR(ds->composites, kind, c);
    }
    for (size_t i = 0; i < c->n; i++)
        if (das_ds_index_equal(&c->defs[i], def))
            return;
    das_ds_index_def_t *defs = das_ds_alloc(&c->arena, (c->n + 1) * sizeof *defs);
    if (c->n)
        memcpy(defs, c->defs, c->n * sizeof *defs);
    das_ds_index_def_t *d = &defs[c->n];
    d->kind = c->kind;
    d->ancestor = def->ancestor;
    d->n = def->n;
    d->props = das_ds_alloc(&c->arena, (def->n ? def->n : 1) * sizeof *d->props);
    for (size_t i = 0; i < def->n; i++) {
        d->props[i].name = das_ds_strndup(&c->arena, def->props[i].name,
                                          strlen(def->props[i].name));
        d->props[i].desc = def->props[i].desc;
    }
    c->defs = defs;
    c->n++;
}

int ds_composite_ensure(das_ds_t *ds, const das_ds_index_def_t *def, das_ds_err_t *err)
{
    if (ds_iid_find(ds, def->kind, def->ancestor, def->props, def->n) > 0)
        return AE_OK;
    int rc = writer_begin(ds, err);
    if (rc)
        return rc;
    int64_t before = __atomic_load_n(&ds->pending, __ATOMIC_RELAXED);
    if (ds_iid_find(ds, def->kind, def->ancestor, def->props, def->n) > 0)
        return writer_end(ds, AE_OK, before, err);
    int64_t iid = ds_iid_for(ds, def->kind, def->ancestor, def->props, def->n, err);
    if (iid < 0)
        return writer_end(ds, (int)iid, before, err);
    composite_remember(ds, def);
    /* Fill it from the entities of the kind (every namespace). */
    int64_t kind_iid = ds_iid_find(ds, def->kind, false, NULL, 0);
    if (kind_iid > 0) {
        /* the kind index's rows are [namespace][entity key] */
        sqlite3_stmt *scan;
        rc = sqlite3_prepare_v2(ds->writer.db,
                                "SELECT e.data FROM idx i JOIN entities e "
                                "ON e.ekey = substr(i.k, 1 + das_skip_string(i.k)) "
                                "WHERE i.iid = ?1",
                                -1, &scan, NULL);
        if (rc != SQLITE_OK)
            return writer_end(ds, ds_sqlite_fail(ds, ds->writer.db, rc, err, "indexing"),
                              before, err);
        sqlite3_bind_int64(scan, 1, kind_iid);
        rc = AE_OK;
        while (rc == AE_OK && sqlite3_step(scan) == SQLITE_ROW) {
            das_ds_arena_t a = {0};
            das_ds_entity_t e;
            if (ds_entity_parse(sqlite3_column_blob(scan, 0),
                                (size_t)sqlite3_column_bytes(scan, 0), &a, ds->app, &e) == 0) {
                ds_rows_t rows = {0};
                ds_entity_rows_in(&e, def->ancestor, def->props, def->n, iid, &rows);
                for (size_t i = 0; i < rows.n && rc == AE_OK; i++) {
                    sqlite3_stmt *st = ds_stmt(&ds->writer, ST_PUT_ROW);
                    sqlite3_bind_int64(st, 1, iid);
                    sqlite3_bind_blob(st, 2, rows.rows[i].k.p, (int)rows.rows[i].k.n,
                                      SQLITE_STATIC);
                    sqlite3_bind_int(st, 3, rows.rows[i].multi);
                    int s2 = sqlite3_step(st);
                    sqlite3_reset(st);
                    if (s2 != SQLITE_DONE)
                        rc = ds_sqlite_fail(ds, ds->writer.db, s2, err, "indexing");
                }
                ds_rows_free(&rows);
            }
            das_ds_arena_dispose(&a);
        }
        sqlite3_finalize(scan);
    }
    return writer_end(ds, rc, before, err);
}

/* The composites already in the file (their iids exist) are the kinds' composites. */
static void composites_load(das_ds_t *ds)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(ds->writer.db, "SELECT spec FROM indexes WHERE composite = 1", -1,
                           &st, NULL))
        return;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const unsigned char *p = sqlite3_column_blob(st, 0);
        size_t n = (size_t)sqlite3_column_bytes(st, 0), i = 0;
        das_ds_arena_t a = {0};
        das_ds_value_t v;
        /* spec: kind (escaped string), ancestor byte, then (name, dir) pairs */
        ds_buf_t tmp = {0};
        ds_buf_byte(&tmp, 0x40); /* decode the strings as string values */
        ds_buf_put(&tmp, p, n);
        das_ds_index_def_t def = {0};
        das_ds_index_prop_t props[DAS_DS_MAX_QUERY_COMPONENTS + 1];
        if (ds_dec_value(tmp.p, tmp.n, &a, &v) == 0) {
            def.kind = v.u.s.p;
            i = ds_string_comp_len(p, n);
            if (i && i < n) {
                def.ancestor = p[i++] != 0;
                while (i < n && def.n < DAS_DS_MAX_QUERY_COMPONENTS + 1) {
                    tmp.n = 0;
                    ds_buf_byte(&tmp, 0x40);
                    ds_buf_put(&tmp, p + i, n - i);
                    size_t l = ds_string_comp_len(p + i, n - i);
                    if (!l || i + l >= n || ds_dec_value(tmp.p, tmp.n, &a, &v) != 0)
                        break;
                    props[def.n].name = v.u.s.p;
                    props[def.n].desc = p[i + l] != 0;
                    def.n++;
                    i += l + 1;
                }
                def.props = props;
                if (i == n)
                    composite_remember(ds, &def);
            }
        }
        ds_buf_free(&tmp);
        das_ds_arena_dispose(&a);
    }
    sqlite3_finalize(st);
}

/* ---- open and close ---- */

static int lock_file(das_ds_t *ds, das_ds_err_t *err)
{
    size_t n = strlen(ds->path) + 6;
    ds->lock_path = malloc(n);
    if (!ds->lock_path)
        abort();
    snprintf(ds->lock_path, n, "%s.lock", ds->path);
    ds->lock_fd = open(ds->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (ds->lock_fd < 0)
        return ds_fail(err, AE_EIO, "%s: cannot open: %s", ds->lock_path, strerror(errno));
    if (flock(ds->lock_fd, LOCK_EX | LOCK_NB) != 0)
        return ds_fail(err, AE_EIO,
                       "%s is in use by another devappserver: stop it, or give this one "
                       "another --datastore-path",
                       ds->path);
    return AE_OK;
}

static void remove_files(const char *path)
{
    char buf[4096];
    unlink(path);
    snprintf(buf, sizeof buf, "%s-wal", path);
    unlink(buf);
    snprintf(buf, sizeof buf, "%s-shm", path);
    unlink(buf);
}

static int open_schema(das_ds_t *ds, das_ds_err_t *err)
{
    sqlite3 *db = ds->writer.db;
    int rc = sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, SCHEMA, NULL, NULL, NULL);
    if (rc == SQLITE_NOTADB || rc == SQLITE_CORRUPT)
        return ds_fail(err, AE_EIO,
                       "%s is not a datastore file, or it is corrupt (%s); start with "
                       "--clear-datastore to replace it, or give another --datastore-path",
                       ds->path, sqlite3_errmsg(db));
    if (rc != SQLITE_OK)
        return ds_sqlite_fail(ds, db, rc, err, "creating its tables");
    if (ds->o.path) {
        sqlite3_stmt *st;
        rc = sqlite3_prepare_v2(db, "PRAGMA quick_check(1)", -1, &st, NULL);
        const char *res = NULL;
        char msg[512] = "";
        if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
            res = (const char *)sqlite3_column_text(st, 0);
        if (res)
            snprintf(msg, sizeof msg, "%s", res);
        sqlite3_finalize(st);
        if (rc != SQLITE_OK || strcmp(msg, "ok") != 0)
            return ds_fail(err, AE_EIO,
                           "%s is corrupt (%s); start with --clear-datastore to replace it",
                           ds->path, rc != SQLITE_OK ? sqlite3_errmsg(db) : msg);
    }
    int64_t version = meta_get(&ds->writer, "schema", 0);
    if (version == 0) {
        if ((rc = meta_set(&ds->writer, "schema", SCHEMA_VERSION)))
            return ds_sqlite_fail(ds, db, rc, err, "writing its version");
    } else if (version != SCHEMA_VERSION) {
        return ds_fail(err, AE_EIO,
                       "%s has datastore schema version %lld; this devappserver reads version "
                       "%d. Start with --clear-datastore to replace it, or use the build that "
                       "wrote it",
                       ds->path, (long long)version, SCHEMA_VERSION);
    }
    ds->seq_next = ds->seq_limit = meta_get(&ds->writer, "seq_limit", 1);
    ds->scatter_next = ds->scatter_limit = meta_get(&ds->writer, "scatter_limit", 1);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT (SELECT count(*) FROM pending), "
                               "(SELECT count(*) FROM entities)",
                           -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) {
            ds->pending = sqlite3_column_int64(st, 0);
            ds->stats.entities = (uint64_t)sqlite3_column_int64(st, 1);
        }
        sqlite3_finalize(st);
    }
    iids_load(ds);
    composites_load(ds);
    return AE_OK;
}

int das_ds_open(const das_ds_options_t *o, das_ds_t **out, das_ds_err_t *err)
{
    *out = NULL;
    das_ds_t *ds = calloc(1, sizeof *ds);
    if (!ds)
        abort();
    ds->o = *o;
    ds->lock_fd = -1;
    ds->next_due = INT64_MAX;
    ds->app = strdup(o->app && *o->app ? o->app : "dev~testbed-test");
    ds->o.app = ds->app;
    ds->o.app_root = o->app_root ? strdup(o->app_root) : NULL;
    ds->rng = o->seed;
    pthread_mutex_init(&ds->write_lock, NULL);
    pthread_mutex_init(&ds->pool_lock, NULL);
    int rc = AE_OK;
    if (o->path) {
        ds->path = strdup(o->path);
        rc = lock_file(ds, err);
        if (rc == AE_OK && o->clear)
            remove_files(ds->path);
    } else {
        const char *tmp = getenv("TMPDIR");
        char tmpl[4096];
        snprintf(tmpl, sizeof tmpl, "%s/das-datastore-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        int fd = mkstemp(tmpl);
        if (fd < 0)
            rc = ds_fail(err, AE_EIO, "%s: cannot create the in-memory store's file: %s", tmpl,
                         strerror(errno));
        else
            close(fd);
        ds->path = strdup(tmpl);
    }
    if (rc == AE_OK)
        rc = conn_open(ds, &ds->writer, err);
    if (rc == AE_OK)
        rc = open_schema(ds, err);
    if (rc == AE_OK)
        rc = ds_index_load(ds, err);
    if (rc == AE_OK && ds->pending) /* what a crash left: apply it now */
        das_ds_apply_all(ds);
    if (rc != AE_OK) {
        das_ds_close(ds);
        return rc;
    }
    *out = ds;
    return AE_OK;
}

void das_ds_close(das_ds_t *ds)
{
    if (!ds)
        return;
    if (ds->writer.db) {
        if (ds->pending)
            das_ds_apply_all(ds);
        conn_close(&ds->writer);
    }
    for (size_t i = 0; i < ds->n_idle; i++) {
        conn_close(ds->idle[i]);
        free(ds->idle[i]);
    }
    free(ds->idle);
    free(ds->txn_iids);
    ds_iid_t *e, *tmp;
    HASH_ITER(hh, ds->iids, e, tmp)
    {
        HASH_DEL(ds->iids, e);
        free(e);
    }
    ds_version_t *v, *vtmp;
    HASH_ITER(hh, ds->versions, v, vtmp)
    {
        HASH_DEL(ds->versions, v);
        free(v);
    }
    ds_composite_t *c, *ctmp;
    HASH_ITER(hh, ds->composites, c, ctmp)
    {
        HASH_DEL(ds->composites, c);
        das_ds_arena_dispose(&c->arena);
        free(c);
    }
    ds_index_dispose(ds);
    if (!ds->o.path && ds->path)
        remove_files(ds->path);
    if (ds->lock_fd >= 0)
        close(ds->lock_fd);
    free(ds->lock_path);
    free(ds->path);
    free(ds->app);
    free((char *)ds->o.app_root);
    pthread_mutex_destroy(&ds->write_lock);
    pthread_mutex_destroy(&ds->pool_lock);
    free(ds);
}

void das_ds_stats(das_ds_t *ds, das_ds_stats_t *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&ds->write_lock); /* gets and queries are counted without it */
    out->entities = ds->stats.entities;
    out->puts = ds->stats.puts;
    out->deletes = ds->stats.deletes;
    out->commits = ds->stats.commits;
    out->contentions = ds->stats.contentions;
    pthread_mutex_unlock(&ds->write_lock);
    out->gets = __atomic_load_n(&ds->stats.gets, __ATOMIC_RELAXED);
    out->queries = __atomic_load_n(&ds->stats.queries, __ATOMIC_RELAXED);
    out->pending = (uint64_t)__atomic_load_n(&ds->pending, __ATOMIC_RELAXED);
}
