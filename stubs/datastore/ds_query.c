/* ds_query.c - the datastore stub's queries: the platform's rules, the index each query
 * needs (and index.yaml), and the scan that streams its results.
 *
 * A query becomes one or more subqueries (IN and != expand, at most 30), all of one plan:
 *   - a merge join ("zigzag"): results in key order, from streams that each list entity keys
 *     in order: the kind's index (from an ancestor's prefix, or the namespace's), each equality
 *     filter's property index at that value, or for a kindless query the entities themselves;
 *   - a scan of one index (a property's built-in index, or a composite one) whose rows are in
 *     the query's order: the equality values and the ancestor make a prefix, the inequality
 *     bounds a range.
 * Subqueries merge by their sort key (the order's components, then the entity key); a cursor
 * is that sort key, behind a hash of the query, so it survives deletes and names its query.
 * The cost of a page is its offset plus its limit (plus rows skipped as duplicates).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>
#include <uthash.h>

#include "ds_internal.h"

#define CURSOR_VERSION 1

/* ---- index.yaml ---- */

static int64_t file_mtime_ns(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/index.yaml", dir);
    struct stat st;
    if (stat(path, &st) != 0)
        return -1;
    return (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec + st.st_size;
}

/* Reads index.yaml again when it changed, and makes each composite it lists exist. */
static int index_refresh(das_ds_t *ds, bool at_open, das_ds_err_t *err)
{
    if (!ds->o.app_root)
        return AE_OK;
    int64_t mtime = file_mtime_ns(ds->o.app_root);
    pthread_mutex_lock(&ds->pool_lock);
    bool same = !at_open && mtime == ds->index_mtime_ns;
    pthread_mutex_unlock(&ds->pool_lock);
    if (same)
        return AE_OK;
    das_ds_arena_t a = {0};
    das_ds_index_file_t f = {0};
    int rc = das_ds_index_file_read(ds->o.app_root, &a, &f, err);
    if (rc != AE_OK) {
        das_ds_arena_dispose(&a);
        if (at_open)
            return rc;
        /* A file broken while the server runs keeps the last good one. */
        pthread_mutex_lock(&ds->pool_lock);
        ds->index_mtime_ns = mtime;
        pthread_mutex_unlock(&ds->pool_lock);
        return AE_OK;
    }
    for (size_t i = 0; i < f.n && rc == AE_OK; i++)
        rc = ds_composite_ensure(ds, &f.defs[i], err);
    pthread_mutex_lock(&ds->pool_lock);
    das_ds_arena_dispose(&ds->index_arena);
    ds->index_arena = a;
    ds->index_file = f;
    ds->index_mtime_ns = mtime;
    pthread_mutex_unlock(&ds->pool_lock);
    return rc;
}

int ds_index_load(das_ds_t *ds, das_ds_err_t *err)
{
    return index_refresh(ds, true, err);
}

void ds_index_dispose(das_ds_t *ds)
{
    das_ds_arena_dispose(&ds->index_arena);
    for (size_t i = 0; i < ds->n_recorded; i++) {
        ds_buf_free(ds->recorded[i]);
        free(ds->recorded[i]);
    }
    free(ds->recorded);
}

static bool index_listed(das_ds_t *ds, const das_ds_index_def_t *def)
{
    bool found = false;
    pthread_mutex_lock(&ds->pool_lock);
    for (size_t i = 0; i < ds->index_file.n && !found; i++)
        found = das_ds_index_equal(&ds->index_file.defs[i], def);
    pthread_mutex_unlock(&ds->pool_lock);
    return found;
}

int ds_index_needed(das_ds_t *ds, const das_ds_index_def_t *def, das_ds_err_t *err)
{
    int rc = index_refresh(ds, false, err);
    if (rc)
        return rc;
    if (ds->o.require_indexes && !index_listed(ds, def)) {
        char yaml[2048];
        das_ds_index_yaml(def, "", yaml, sizeof yaml);
        return ds_fail(err, AE_ENEEDINDEX,
                       "This query requires a composite index that is not defined. You must "
                       "update the index.yaml file in your application root.\n"
                       "The suggested index for this query is:\n%s",
                       yaml);
    }
    if (ds->o.app_root && !ds->o.require_indexes && !index_listed(ds, def)) {
        ds_buf_t spec = {0};
        ds_enc_string(&spec, def->kind, strlen(def->kind));
        ds_buf_byte(&spec, def->ancestor);
        for (size_t i = 0; i < def->n; i++) {
            ds_enc_string(&spec, def->props[i].name, strlen(def->props[i].name));
            ds_buf_byte(&spec, def->props[i].desc);
        }
        bool recorded = false;
        pthread_mutex_lock(&ds->pool_lock);
        for (size_t i = 0; i < ds->n_recorded && !recorded; i++)
            recorded = ds->recorded[i]->n == spec.n &&
                       memcmp(ds->recorded[i]->p, spec.p, spec.n) == 0;
        if (!recorded) {
            ds->recorded = realloc(ds->recorded, (ds->n_recorded + 1) * sizeof *ds->recorded);
            ds_buf_t *copy = calloc(1, sizeof *copy);
            if (!ds->recorded || !copy)
                abort();
            *copy = spec;
            ds->recorded[ds->n_recorded++] = copy;
        } else {
            ds_buf_free(&spec);
        }
        pthread_mutex_unlock(&ds->pool_lock);
        if (!recorded) {
            das_ds_err_t werr;
            das_ds_index_file_add(ds->o.app_root, def, &werr); /* a failure only loses the hint */
        }
    }
    return ds_composite_ensure(ds, def, err);
}

/* ---- the compiled query ---- */

typedef struct {
    const char *name;
    bool desc;
    int eq; /* >= 0: the property has an equality filter (its index in the eq list) */
} ord_t;

typedef struct {
    das_ds_op_t op; /* LT LE GT GE */
    const das_ds_value_t *v;
} bound_t;

typedef struct {
    const char *name;
    size_t n;            /* alternatives: IN values, or 1 */
    const das_ds_value_t *values;
} eqspec_t;

typedef struct {
    /* what every subquery shares */
    const das_ds_query_t *q;
    das_ds_t *ds;
    const char *app;     /* the store's app, copied into the results' arena */
    ds_buf_t ns_comp;
    ds_buf_t anc_prefix; /* zigzag: [ns][ancestor elements]; empty: none */
    ds_buf_t anc_comp;   /* scan: [ancestor path] component */
    eqspec_t *eq;        /* sorted by name; __key__ excluded */
    size_t n_eq;
    ord_t *ord;          /* the effective orders (no trailing __key__ ascending) */
    size_t n_ord;
    const char *ineq;    /* the inequality property, or NULL */
    bound_t *ineq_b;     /* the bounds on it (LT.. GE) */
    size_t n_ineq_b;
    const das_ds_value_t *ne; /* a != value on the inequality property */
    const das_ds_filter_t *key_in; /* __key__ IN / =: alternatives */
    bound_t *key_b;      /* __key__ inequalities */
    size_t n_key_b;
    const das_ds_value_t *key_ne;
    bool zigzag;
    bool kindless;
    das_ds_index_def_t def; /* scan: the index */
    das_ds_index_prop_t *def_props;
    int64_t iid;            /* scan: its iid (0: empty) */
    bool composite;         /* scan: the index is a composite one (made on first use) */
    ds_buf_t sig;           /* the query's identity, for cursors */
} plan_t;

static bool is_key(const char *p)
{
    return strcmp(p, "__key__") == 0;
}

static bool is_ineq(das_ds_op_t op)
{
    return op == DAS_DS_LT || op == DAS_DS_LE || op == DAS_DS_GT || op == DAS_DS_GE;
}

static void plan_free(plan_t *p)
{
    ds_buf_free(&p->ns_comp);
    ds_buf_free(&p->anc_prefix);
    ds_buf_free(&p->anc_comp);
    ds_buf_free(&p->sig);
    free(p->eq);
    free(p->ord);
    free(p->ineq_b);
    free(p->key_b);
    free(p->def_props);
}

static int cmp_eq(const void *a, const void *b)
{
    return strcmp(((const eqspec_t *)a)->name, ((const eqspec_t *)b)->name);
}

static int eq_index(const plan_t *p, const char *name)
{
    for (size_t i = 0; i < p->n_eq; i++)
        if (strcmp(p->eq[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* Checks the query against the platform's rules and works out its plan. */
static int compile(das_ds_t *ds, das_ds_txn_t *txn, const das_ds_query_t *q, plan_t *p,
                   das_ds_err_t *err)
{
    memset(p, 0, sizeof *p);
    p->q = q;
    p->ds = ds;
    const char *ns = q->ns ? q->ns : "";
    if (!das_ds_namespace_is_valid(ns))
        return ds_fail(err, AE_EINVAL,
                       "namespace \"%.120s\" does not match regex \"^[0-9A-Za-z._-]{0,100}$\"",
                       ns);
    p->kindless = !q->kind;
    if (q->kind) {
        if (!*q->kind || strlen(q->kind) > DAS_DS_MAX_INDEXED_BYTES)
            return ds_fail(err, AE_EINVAL, "Kind must be 1 to 1500 bytes");
        if (ds_is_reserved(q->kind))
            return ds_fail(err, AE_EINVAL, "kind \"%.100s\" is reserved (metadata kinds are not "
                                           "emulated)", q->kind);
    }
    size_t components = q->n_filters + q->n_orders + (q->ancestor ? 1 : 0);
    if (components > DAS_DS_MAX_QUERY_COMPONENTS)
        return ds_fail(err, AE_EINVAL, "query is too large. may not have more than 100 filters "
                                       "+ sort orders ancestor total");
    if (q->ancestor) {
        int rc = ds_check_key(q->ancestor, ds->app, true, err);
        if (rc)
            return rc;
        const char *ans = q->ancestor->ns ? q->ancestor->ns : "";
        if (strcmp(ans, ns) != 0)
            return ds_fail(err, AE_EINVAL, "ancestor's namespace \"%s\" does not match the "
                                           "query's namespace \"%s\"", ans, ns);
    } else if (txn) {
        return ds_fail(err, AE_EINVAL, "Only ancestor queries are allowed inside transactions.");
    }
    if (q->offset < 0) /* a negative limit is "no limit" (datastore.h) */
        return ds_fail(err, AE_EINVAL, "offset must not be negative");

    ds_enc_string(&p->ns_comp, ns, strlen(ns));
    p->eq = calloc(q->n_filters + 1, sizeof *p->eq);
    p->ineq_b = calloc(q->n_filters + 1, sizeof *p->ineq_b);
    p->key_b = calloc(q->n_filters + 1, sizeof *p->key_b);
    p->ord = calloc(q->n_orders + q->n_projection + 2, sizeof *p->ord);
    if (!p->eq || !p->ineq_b || !p->key_b || !p->ord)
        abort();
    size_t subqueries = 1;
    for (size_t i = 0; i < q->n_filters; i++) {
        const das_ds_filter_t *f = &q->filters[i];
        if (!f->prop || !*f->prop)
            return ds_fail(err, AE_EINVAL, "a filter needs a property name");
        if (f->op < DAS_DS_LT || f->op > DAS_DS_NE)
            return ds_fail(err, AE_EINVAL, "filter on %s: unknown operator %d", f->prop,
                           (int)f->op);
        size_t nv = f->op == DAS_DS_IN ? f->n : 1;
        if (f->op == DAS_DS_IN && f->n == 0)
            return ds_fail(err, AE_EINVAL, "filter on %s: IN needs at least one value", f->prop);
        if (f->op != DAS_DS_IN && f->n != 1)
            return ds_fail(err, AE_EINVAL, "filter on %s takes one value", f->prop);
        for (size_t j = 0; j < nv; j++) {
            int rc = ds_check_value_for_query(f->prop, &f->values[j], err);
            if (rc)
                return rc;
            if (f->values[j].type == DAS_DS_KEY &&
                (rc = ds_check_key(f->values[j].u.key, ds->app, true, err)))
                return rc;
            if (is_key(f->prop)) {
                if (f->values[j].type != DAS_DS_KEY)
                    return ds_fail(err, AE_EINVAL, "__key__ filter value must be a Key");
                const das_ds_key_t *k = f->values[j].u.key;
                rc = ds_check_key(k, ds->app, true, err);
                if (rc)
                    return rc;
                if (strcmp(k->ns ? k->ns : "", ns) != 0)
                    return ds_fail(err, AE_EINVAL, "__key__ filter namespace does not match "
                                                   "the query's namespace");
            }
        }
        if (!is_key(f->prop) && p->kindless)
            return ds_fail(err, AE_EINVAL, "kind is required for non-__key__ filters");
        if (!is_key(f->prop) && ds_is_reserved(f->prop))
            return ds_fail(err, AE_EINVAL, "filter on reserved property %s", f->prop);
        if (f->op == DAS_DS_IN || f->op == DAS_DS_NE) {
            subqueries *= f->op == DAS_DS_IN ? f->n : 2;
            if (subqueries > DAS_DS_MAX_SUBQUERIES)
                return ds_fail(err, AE_EINVAL,
                               "Cannot satisfy query -- too many subqueries (max: 30, got %zu).",
                               subqueries);
        }
        if (is_ineq(f->op) || f->op == DAS_DS_NE) {
            if (is_key(f->prop)) {
                if (f->op == DAS_DS_NE) {
                    if (p->key_ne)
                        return ds_fail(err, AE_EINVAL, "only one != filter on __key__");
                    p->key_ne = &f->values[0];
                } else {
                    p->key_b[p->n_key_b++] = (bound_t){f->op, &f->values[0]};
                }
            }
            if (p->ineq && strcmp(p->ineq, f->prop) != 0)
                return ds_fail(err, AE_EINVAL, "Only one inequality filter per query is "
                                               "supported. Encountered both %s and %s",
                               p->ineq, f->prop);
            p->ineq = f->prop;
            if (!is_key(f->prop)) {
                if (f->op == DAS_DS_NE) {
                    if (p->ne)
                        return ds_fail(err, AE_EINVAL, "only one != filter per property");
                    p->ne = &f->values[0];
                } else {
                    p->ineq_b[p->n_ineq_b++] = (bound_t){f->op, &f->values[0]};
                }
            }
            continue;
        }
        /* EQ, IN */
        if (is_key(f->prop)) {
            if (p->key_in)
                return ds_fail(err, AE_EINVAL, "only one equality filter on __key__");
            p->key_in = f;
            continue;
        }
        /* tags = a AND tags = b: a list property may have two equality filters; each is
         * its own column of the index */
        p->eq[p->n_eq++] = (eqspec_t){f->prop, nv, f->values};
    }
    qsort(p->eq, p->n_eq, sizeof *p->eq, cmp_eq);

    /* orders */
    for (size_t i = 0; i < q->n_orders; i++) {
        const das_ds_order_t *o = &q->orders[i];
        if (!o->prop || !*o->prop)
            return ds_fail(err, AE_EINVAL, "a sort order needs a property name");
        if (p->kindless && !(is_key(o->prop) && !o->desc))
            return ds_fail(err, AE_EINVAL,
                           "kind is required for all orders except __key__ ascending");
        if (!is_key(o->prop) && ds_is_reserved(o->prop))
            return ds_fail(err, AE_EINVAL, "sort on reserved property %s", o->prop);
        bool dup = false;
        for (size_t j = 0; j < p->n_ord && !dup; j++)
            dup = strcmp(p->ord[j].name, o->prop) == 0;
        if (dup)
            continue; /* the first order on a property wins */
        p->ord[p->n_ord++] = (ord_t){o->prop, o->desc, eq_index(p, o->prop)};
    }
    if (p->ineq) {
        /* orders on properties with an equality filter do not count */
        size_t first = 0;
        while (first < p->n_ord && p->ord[first].eq >= 0)
            first++;
        if (first < p->n_ord && strcmp(p->ord[first].name, p->ineq) != 0)
            return ds_fail(err, AE_EINVAL,
                           "The first sort property must be the same as the property to which "
                           "the inequality filter is applied.  In your query the first sort "
                           "property is %s but the inequality filter is on %s",
                           p->ord[first].name, p->ineq);
        if (first == p->n_ord)
            p->ord[p->n_ord++] = (ord_t){p->ineq, false, -1};
    }
    /* projection */
    if (q->n_projection) {
        if (q->keys_only)
            return ds_fail(err, AE_EINVAL, "projection and keys_only cannot both be set");
        for (size_t i = 0; i < q->n_projection; i++) {
            const char *name = q->projection[i];
            if (!name || !*name || ds_is_reserved(name))
                return ds_fail(err, AE_EINVAL, "cannot project a property with a reserved or "
                                               "empty name");
            for (size_t j = 0; j < i; j++)
                if (strcmp(q->projection[j], name) == 0)
                    return ds_fail(err, AE_EINVAL, "cannot project a property multiple times");
            if (eq_index(p, name) >= 0)
                return ds_fail(err, AE_EINVAL,
                               "cannot use projection on a property with an equality filter");
        }
        if (q->distinct) {
            /* The group-by properties lead the ordering: each order before them must be one
             * of them. */
            for (size_t j = 0; j < p->n_ord; j++) {
                bool in_group = false;
                for (size_t i = 0; i < q->n_projection && !in_group; i++)
                    in_group = strcmp(q->projection[i], p->ord[j].name) == 0;
                if (!in_group)
                    return ds_fail(err, AE_EINVAL, "with distinct, every sort order must be on "
                                                   "a projected property (%s is not)",
                                   p->ord[j].name);
            }
        }
        for (size_t i = 0; i < q->n_projection; i++) {
            bool have = false;
            for (size_t j = 0; j < p->n_ord && !have; j++)
                have = strcmp(p->ord[j].name, q->projection[i]) == 0;
            if (!have)
                p->ord[p->n_ord++] = (ord_t){q->projection[i], false, -1};
        }
    } else if (q->distinct) {
        return ds_fail(err, AE_EINVAL, "distinct needs a projection");
    }
    /* a trailing __key__ ascending is the tiebreak every index already has */
    while (p->n_ord && is_key(p->ord[p->n_ord - 1].name) && !p->ord[p->n_ord - 1].desc)
        p->n_ord--;

    /* the plan */
    if (q->ancestor) {
        ds_enc_key(&p->anc_prefix, q->ancestor, false); /* [ns][its elements] */
        ds_enc_path(&p->anc_comp, q->ancestor, q->ancestor->n);
    }
    size_t n_scan_ord = 0; /* orders that are index columns */
    for (size_t i = 0; i < p->n_ord; i++)
        if (p->ord[i].eq < 0)
            n_scan_ord++;
    if (p->kindless || n_scan_ord == 0) {
        p->zigzag = true;
    } else {
        p->def.kind = q->kind;
        p->def.ancestor = q->ancestor != NULL;
        p->def_props = calloc(p->n_eq + p->n_ord + 1, sizeof *p->def_props);
        if (!p->def_props)
            abort();
        for (size_t i = 0; i < p->n_eq; i++)
            p->def_props[p->def.n++] = (das_ds_index_prop_t){p->eq[i].name, false};
        for (size_t i = 0; i < p->n_ord; i++)
            if (p->ord[i].eq < 0)
                p->def_props[p->def.n++] = (das_ds_index_prop_t){p->ord[i].name, p->ord[i].desc};
        p->def.props = p->def_props;
        bool builtin = !p->def.ancestor && p->def.n == 1 && !is_key(p->def_props[0].name);
        if (!builtin) {
            int rc = ds_index_needed(ds, &p->def, err);
            if (rc)
                return rc;
            p->composite = true;
        }
        p->iid = ds_iid_find(ds, p->def.kind, p->def.ancestor, p->def.props, p->def.n);
    }

    /* the query's identity, for its cursors */
    ds_buf_put(&p->sig, p->ns_comp.p, p->ns_comp.n);
    ds_enc_string(&p->sig, q->kind ? q->kind : "", q->kind ? strlen(q->kind) : 0);
    ds_buf_byte(&p->sig, q->ancestor ? 1 : 0);
    ds_buf_put(&p->sig, p->anc_comp.p, p->anc_comp.n);
    /* the filters as a set: the order they were given in does not make another query */
    ds_buf_t *fs = calloc(q->n_filters + 1, sizeof *fs);
    if (!fs)
        abort();
    for (size_t i = 0; i < q->n_filters; i++) {
        const das_ds_filter_t *f = &q->filters[i];
        ds_enc_string(&fs[i], f->prop, strlen(f->prop));
        ds_buf_byte(&fs[i], (unsigned char)f->op);
        for (size_t j = 0; j < (f->op == DAS_DS_IN ? f->n : 1); j++)
            ds_enc_value(&fs[i], &f->values[j]);
    }
    qsort(fs, q->n_filters, sizeof *fs, ds_buf_cmp);
    for (size_t i = 0; i < q->n_filters; i++) {
        ds_buf_put(&p->sig, fs[i].p, fs[i].n);
        ds_buf_free(&fs[i]);
    }
    free(fs);
    ds_buf_byte(&p->sig, 0xee);
    for (size_t i = 0; i < p->n_ord; i++) {
        ds_enc_string(&p->sig, p->ord[i].name, strlen(p->ord[i].name));
        ds_buf_byte(&p->sig, p->ord[i].desc);
    }
    ds_buf_byte(&p->sig, q->distinct);
    return AE_OK;
}

/* ---- streams: one range of one index (or of the entities) ---- */


typedef struct {
    sqlite3_stmt *st;
    ds_buf_t prefix; /* zigzag: the rows' common prefix; the rest of a row is the entity key */
    ds_buf_t lo, hi;
    bool done;
    const unsigned char *k;
    size_t kn;
    bool multi;
} stream_t;

static int stream_open(plan_t *p, ds_conn_t *c, stream_t *s, int64_t iid, das_ds_err_t *err)
{
    const char *sql = iid < 0 ? "SELECT ekey, 0 FROM entities WHERE ekey>=?2 AND ekey<?3 "
                                "ORDER BY ekey"
                              : "SELECT k, multi FROM idx WHERE iid=?1 AND k>=?2 AND k<?3 "
                                "ORDER BY k";
    int rc = sqlite3_prepare_v2(c->db, sql, -1, &s->st, NULL);
    if (rc != SQLITE_OK)
        return ds_sqlite_fail(p->ds, c->db, rc, err, "querying");
    if (iid >= 0)
        sqlite3_bind_int64(s->st, 1, iid);
    return AE_OK;
}

/* Positions the stream at the first row >= from (NULL: its lo). */
static int stream_seek(stream_t *s, const unsigned char *from, size_t n)
{
    sqlite3_reset(s->st);
    if (from && ds_bytes_cmp(from, n, s->lo.p, s->lo.n) > 0)
        sqlite3_bind_blob(s->st, 2, from, (int)n, SQLITE_TRANSIENT);
    else
        sqlite3_bind_blob(s->st, 2, s->lo.p, (int)s->lo.n, SQLITE_STATIC);
    sqlite3_bind_blob(s->st, 3, s->hi.p, (int)s->hi.n, SQLITE_STATIC);
    s->done = false;
    int rc = sqlite3_step(s->st);
    if (rc == SQLITE_ROW) {
        s->k = sqlite3_column_blob(s->st, 0);
        s->kn = (size_t)sqlite3_column_bytes(s->st, 0);
        s->multi = sqlite3_column_int(s->st, 1) != 0;
        return AE_OK;
    }
    s->done = true;
    return rc == SQLITE_DONE ? AE_OK : rc;
}

static int stream_next(stream_t *s)
{
    int rc = sqlite3_step(s->st);
    if (rc == SQLITE_ROW) {
        s->k = sqlite3_column_blob(s->st, 0);
        s->kn = (size_t)sqlite3_column_bytes(s->st, 0);
        s->multi = sqlite3_column_int(s->st, 1) != 0;
        return AE_OK;
    }
    s->done = true;
    return rc == SQLITE_DONE ? AE_OK : rc;
}

static void stream_close(stream_t *s)
{
    sqlite3_finalize(s->st);
    ds_buf_free(&s->prefix);
    ds_buf_free(&s->lo);
    ds_buf_free(&s->hi);
}

/* ---- subqueries ---- */

typedef struct {
    plan_t *p;
    stream_t *streams;
    size_t n_streams;
    ds_buf_t base;        /* scan: [ns][ancestor]?[equality values] */
    ds_buf_t *eqv;        /* the encoded equality value of each eq property (asc) */
    ds_buf_t key_lo, key_hi; /* entity key bounds: [lo, hi) */
    bool has_key_lo, has_key_hi;
    ds_buf_t zprefix;     /* zigzag: the sort key's leading part, the equality values the
                           * query orders by (an IN property in its order) */
    bool empty;           /* an index it needs does not exist: it has no results */
    /* the current row */
    bool done;
    ds_buf_t sortkey;
    const unsigned char *ekey;
    size_t ekey_n;
    const unsigned char *k;
    size_t kn;
    bool multi;
} sub_t;

/* Intersects the entity-key bounds with `op v` (v a key). */
static void key_bound(sub_t *s, das_ds_op_t op, const das_ds_value_t *v)
{
    ds_buf_t b = {0};
    ds_enc_key(&b, v->u.key, true);
    if (op == DAS_DS_GT || op == DAS_DS_GE) {
        if (op == DAS_DS_GT)
            ds_buf_byte(&b, 0x00); /* just after the key */
        if (!s->has_key_lo || ds_bytes_cmp(b.p, b.n, s->key_lo.p, s->key_lo.n) > 0) {
            s->key_lo.n = 0;
            ds_buf_put(&s->key_lo, b.p, b.n);
            s->has_key_lo = true;
        }
    } else {
        if (op == DAS_DS_LE)
            ds_buf_byte(&b, 0x00);
        if (!s->has_key_hi || ds_bytes_cmp(b.p, b.n, s->key_hi.p, s->key_hi.n) < 0) {
            s->key_hi.n = 0;
            ds_buf_put(&s->key_hi, b.p, b.n);
            s->has_key_hi = true;
        }
    }
    ds_buf_free(&b);
}

static bool key_in_bounds(const sub_t *s, const unsigned char *ek, size_t n)
{
    if (s->has_key_lo && ds_bytes_cmp(ek, n, s->key_lo.p, s->key_lo.n) < 0)
        return false;
    if (s->has_key_hi && ds_bytes_cmp(ek, n, s->key_hi.p, s->key_hi.n) >= 0)
        return false;
    return true;
}

/* The sort key of the scan row k: each effective order's component, then the entity key.
 * Sets s->ekey. Returns false for a row that does not parse. */
static bool row_sortkey(const sub_t *s, const unsigned char *k, size_t n, ds_buf_t *out,
                        const unsigned char **ekey, size_t *ekey_n)
{
    const plan_t *p = s->p;
    size_t i = s->base.n;
    out->n = 0;
    if (n < i)
        return false;
    for (size_t o = 0; o < p->n_ord; o++) {
        if (p->ord[o].eq >= 0) {
            size_t from = out->n;
            ds_buf_put(out, s->eqv[p->ord[o].eq].p, s->eqv[p->ord[o].eq].n);
            if (p->ord[o].desc)
                ds_invert(out, from);
            continue;
        }
        size_t l = ds_comp_len(k + i, n - i, p->ord[o].desc);
        if (!l)
            return false;
        ds_buf_put(out, k + i, l);
        i += l;
    }
    *ekey = k + i;
    *ekey_n = n - i;
    ds_buf_put(out, k + i, n - i);
    return true;
}

static bool scan_sortkey(sub_t *s)
{
    return row_sortkey(s, s->k, s->kn, &s->sortkey, &s->ekey, &s->ekey_n);
}

/* Moves the subquery to its next row that passes its entity-key bounds. */
static int sub_advance(sub_t *s, bool first, const unsigned char *from, size_t from_n)
{
    plan_t *p = s->p;
    for (;;) {
        if (!p->zigzag) {
            stream_t *st = &s->streams[0];
            int rc = first ? stream_seek(st, from, from_n) : stream_next(st);
            first = false;
            if (rc)
                return rc;
            if (st->done) {
                s->done = true;
                return AE_OK;
            }
            s->k = st->k;
            s->kn = st->kn;
            s->multi = st->multi;
            if (!scan_sortkey(s))
                continue;
            if (!key_in_bounds(s, s->ekey, s->ekey_n))
                continue;
            return AE_OK;
        }
        /* zigzag: every stream at the same entity key */
        if (first) {
            for (size_t i = 0; i < s->n_streams; i++) {
                stream_t *st = &s->streams[i];
                ds_buf_t target = {0};
                ds_buf_put(&target, st->prefix.p, st->prefix.n);
                if (from)
                    ds_buf_put(&target, from, from_n);
                else if (s->has_key_lo)
                    ds_buf_put(&target, s->key_lo.p, s->key_lo.n);
                int rc = stream_seek(st, target.n > st->prefix.n ? target.p : NULL, target.n);
                ds_buf_free(&target);
                if (rc)
                    return rc;
            }
        } else {
            int rc = stream_next(&s->streams[0]);
            if (rc)
                return rc;
        }
        first = false;
        for (;;) {
            const unsigned char *best = NULL;
            size_t best_n = 0;
            bool all_equal = true;
            for (size_t i = 0; i < s->n_streams; i++) {
                stream_t *st = &s->streams[i];
                if (st->done) {
                    s->done = true;
                    return AE_OK;
                }
                const unsigned char *ek = st->k + st->prefix.n;
                size_t en = st->kn - st->prefix.n;
                if (!best) {
                    best = ek;
                    best_n = en;
                    continue;
                }
                int c = ds_bytes_cmp(ek, en, best, best_n);
                if (c != 0)
                    all_equal = false;
                if (c > 0) {
                    best = ek;
                    best_n = en;
                }
            }
            if (all_equal) {
                s->ekey = best;
                s->ekey_n = best_n;
                break;
            }
            ds_buf_t target = {0}, ek = {0};
            ds_buf_put(&ek, best, best_n);
            for (size_t i = 0; i < s->n_streams; i++) {
                stream_t *st = &s->streams[i];
                if (ds_bytes_cmp(st->k + st->prefix.n, st->kn - st->prefix.n, ek.p, ek.n) >= 0)
                    continue;
                target.n = 0;
                ds_buf_put(&target, st->prefix.p, st->prefix.n);
                ds_buf_put(&target, ek.p, ek.n);
                int rc = stream_seek(st, target.p, target.n);
                if (rc) {
                    ds_buf_free(&target);
                    ds_buf_free(&ek);
                    return rc;
                }
            }
            ds_buf_free(&target);
            ds_buf_free(&ek);
        }
        if (s->has_key_hi && ds_bytes_cmp(s->ekey, s->ekey_n, s->key_hi.p, s->key_hi.n) >= 0) {
            s->done = true;
            return AE_OK;
        }
        if (!key_in_bounds(s, s->ekey, s->ekey_n))
            continue;
        s->sortkey.n = 0;
        ds_buf_put(&s->sortkey, s->zprefix.p, s->zprefix.n);
        ds_buf_put(&s->sortkey, s->ekey, s->ekey_n);
        s->k = s->streams[0].k;
        s->kn = s->streams[0].kn;
        s->multi = false; /* a list property: the entity may match other subqueries too */
        for (size_t i = 0; i < s->n_streams; i++)
            s->multi |= s->streams[i].multi;
        return AE_OK;
    }
}

static void sub_close(sub_t *s)
{
    for (size_t i = 0; i < s->n_streams; i++)
        stream_close(&s->streams[i]);
    free(s->streams);
    ds_buf_free(&s->base);
    for (size_t i = 0; i < s->p->n_eq; i++)
        ds_buf_free(&s->eqv[i]);
    free(s->eqv);
    ds_buf_free(&s->key_lo);
    ds_buf_free(&s->key_hi);
    ds_buf_free(&s->zprefix);
    ds_buf_free(&s->sortkey);
}

/* Narrows [lo, hi) of a scan by `op v` on its first column (after base). */
static void scan_bound(sub_t *s, stream_t *st, das_ds_op_t op, const das_ds_value_t *v,
                       bool desc)
{
    ds_buf_t b = {0}, end = {0};
    ds_buf_put(&b, s->base.p, s->base.n);
    size_t from = b.n;
    ds_enc_value(&b, v);
    if (desc) {
        ds_invert(&b, from);
        op = op == DAS_DS_LT ? DAS_DS_GT : op == DAS_DS_LE ? DAS_DS_GE
             : op == DAS_DS_GT ? DAS_DS_LT : DAS_DS_LE;
    }
    bool has_end = ds_prefix_end(b.p, b.n, &end);
    const ds_buf_t *lo = NULL, *hi = NULL;
    switch (op) {
    case DAS_DS_GT: lo = has_end ? &end : NULL; break; /* after every row of the value */
    case DAS_DS_GE: lo = &b; break;
    case DAS_DS_LT: hi = &b; break;
    case DAS_DS_LE: hi = has_end ? &end : NULL; break;
    default: break;
    }
    if (lo && ds_bytes_cmp(lo->p, lo->n, st->lo.p, st->lo.n) > 0) {
        st->lo.n = 0;
        ds_buf_put(&st->lo, lo->p, lo->n);
    }
    if (hi && ds_bytes_cmp(hi->p, hi->n, st->hi.p, st->hi.n) < 0) {
        st->hi.n = 0;
        ds_buf_put(&st->hi, hi->p, hi->n);
    }
    ds_buf_free(&b);
    ds_buf_free(&end);
}

static void set_range(stream_t *st, const ds_buf_t *prefix)
{
    st->lo.n = 0;
    ds_buf_put(&st->lo, prefix->p, prefix->n);
    if (!ds_prefix_end(prefix->p, prefix->n, &st->hi)) {
        st->hi.n = 0;
        for (int i = 0; i < 8; i++)
            ds_buf_byte(&st->hi, 0xff);
    }
}

/* Builds subquery number `which` (a mixed-radix number over the IN and != alternatives). */
static int sub_open(plan_t *p, ds_conn_t *c, size_t which, sub_t *s, das_ds_err_t *err)
{
    const das_ds_query_t *q = p->q;
    memset(s, 0, sizeof *s);
    s->p = p;
    s->eqv = calloc(p->n_eq + 1, sizeof *s->eqv);
    if (!s->eqv)
        abort();
    for (size_t i = 0; i < p->n_eq; i++) {
        size_t pick = which % p->eq[i].n;
        which /= p->eq[i].n;
        ds_enc_value(&s->eqv[i], &p->eq[i].values[pick]);
    }
    if (p->key_in) {
        size_t pick = which % p->key_in->n;
        which /= p->key_in->n;
        key_bound(s, DAS_DS_GE, &p->key_in->values[pick]);
        key_bound(s, DAS_DS_LE, &p->key_in->values[pick]);
    }
    for (size_t i = 0; i < p->n_key_b; i++)
        key_bound(s, p->key_b[i].op, p->key_b[i].v);
    das_ds_op_t key_ne_op = DAS_DS_LT;
    if (p->key_ne) {
        key_ne_op = which % 2 ? DAS_DS_GT : DAS_DS_LT;
        key_bound(s, key_ne_op, p->key_ne);
        which /= 2;
    }
    int ne_side = -1;
    if (p->ne) {
        ne_side = (int)(which % 2);
        which /= 2;
    }
    if (p->zigzag) {
        for (size_t o = 0; o < p->n_ord; o++) { /* every order is on an equality property */
            size_t from = s->zprefix.n;
            ds_buf_put(&s->zprefix, s->eqv[p->ord[o].eq].p, s->eqv[p->ord[o].eq].n);
            if (p->ord[o].desc)
                ds_invert(&s->zprefix, from);
        }
        size_t n = p->n_eq + 1;
        s->streams = calloc(n, sizeof *s->streams);
        if (!s->streams)
            abort();
        /* the base stream: the kind (from the ancestor or the namespace), or the entities */
        if (p->n_eq == 0 || q->ancestor) {
            stream_t *st = &s->streams[s->n_streams++];
            int64_t iid = -1;
            if (!p->kindless) {
                iid = ds_iid_find(p->ds, q->kind, false, NULL, 0);
                if (iid <= 0) {
                    s->done = s->empty = true;
                    return AE_OK;
                }
            }
            int rc = stream_open(p, c, st, iid, err);
            if (rc)
                return rc;
            /* the entities' rows are entity keys; the kind index's, [ns] and the key */
            const ds_buf_t *keys = q->ancestor ? &p->anc_prefix : &p->ns_comp;
            ds_buf_t range = {0};
            if (!p->kindless)
                ds_buf_put(&st->prefix, p->ns_comp.p, p->ns_comp.n);
            ds_buf_put(&range, st->prefix.p, st->prefix.n);
            ds_buf_put(&range, keys->p, keys->n);
            set_range(st, &range);
            ds_buf_free(&range);
        }
        for (size_t i = 0; i < p->n_eq; i++) {
            das_ds_index_prop_t ip = {p->eq[i].name, false};
            int64_t iid = ds_iid_find(p->ds, q->kind, false, &ip, 1);
            if (iid <= 0) {
                s->done = s->empty = true;
                return AE_OK;
            }
            stream_t *st = &s->streams[s->n_streams++];
            int rc = stream_open(p, c, st, iid, err);
            if (rc)
                return rc;
            ds_buf_put(&st->prefix, p->ns_comp.p, p->ns_comp.n);
            ds_buf_put(&st->prefix, s->eqv[i].p, s->eqv[i].n);
            set_range(st, &st->prefix);
        }
        return AE_OK;
    }
    /* a scan */
    if (p->iid <= 0) {
        s->done = s->empty = true;
        return AE_OK;
    }
    ds_buf_put(&s->base, p->ns_comp.p, p->ns_comp.n);
    ds_buf_put(&s->base, p->anc_comp.p, p->anc_comp.n);
    for (size_t i = 0; i < p->n_eq; i++)
        ds_buf_put(&s->base, s->eqv[i].p, s->eqv[i].n);
    s->streams = calloc(1, sizeof *s->streams);
    if (!s->streams)
        abort();
    s->n_streams = 1;
    stream_t *st = &s->streams[0];
    int rc = stream_open(p, c, st, p->iid, err);
    if (rc)
        return rc;
    set_range(st, &s->base);
    if (p->ineq) {
        /* the inequality property is the first scanned column (__key__ too: its value there
         * is the key as a key value) */
        bool desc = false;
        for (size_t o = 0; o < p->n_ord; o++)
            if (p->ord[o].eq < 0) {
                desc = p->ord[o].desc;
                break;
            }
        if (!is_key(p->ineq)) {
            for (size_t i = 0; i < p->n_ineq_b; i++)
                scan_bound(s, st, p->ineq_b[i].op, p->ineq_b[i].v, desc);
            if (ne_side >= 0)
                scan_bound(s, st, ne_side ? DAS_DS_GT : DAS_DS_LT, p->ne, desc);
        } else {
            for (size_t i = 0; i < p->n_key_b; i++)
                scan_bound(s, st, p->key_b[i].op, p->key_b[i].v, desc);
            if (p->key_ne)
                scan_bound(s, st, key_ne_op, p->key_ne, desc);
        }
    }
    return AE_OK;
}

/* Positions a fresh subquery after `cursor` (a sort key; NULL: at its start). */
static int sub_start(sub_t *s, const unsigned char *cursor, size_t n)
{
    plan_t *p = s->p;
    if (s->done)
        return AE_OK;
    if (!cursor)
        return sub_advance(s, true, NULL, 0);
    if (p->zigzag) {
        /* the cursor is [equality values it orders by][entity key]: this subquery's values
         * before, at or after the cursor's */
        const ds_buf_t *z = &s->zprefix;
        if (z->n && (n < z->n || memcmp(cursor, z->p, z->n) != 0)) {
            if (ds_bytes_cmp(cursor, n, z->p, z->n) < 0)
                return sub_advance(s, true, NULL, 0);
            s->done = true;
            return AE_OK;
        }
        ds_buf_t from = {0};
        ds_buf_put(&from, cursor + z->n, n - z->n);
        ds_buf_byte(&from, 0x00); /* just after it */
        int rc = sub_advance(s, true, from.p, from.n);
        ds_buf_free(&from);
        return rc;
    }
    /* The row to seek: the cursor's components, in order. A scanned column's component is the
     * row's; an equality property it orders by is not in the row but this subquery's value:
     * when it differs from the cursor's, the rows sharing what came before are all after the
     * cursor (seek there) or all before it (seek past them). Then skip what is <= the cursor,
     * so a page costs what it returns, wherever it starts. */
    ds_buf_t from = {0}, end = {0};
    ds_buf_put(&from, s->base.p, s->base.n);
    size_t i = 0;
    bool exact = true, past = false;
    for (size_t o = 0; o < p->n_ord && exact; o++) {
        size_t l = ds_comp_len(cursor + i, n - i, p->ord[o].desc);
        if (!l) {
            exact = false; /* not this query's shape: from the start, skipping */
            break;
        }
        if (p->ord[o].eq >= 0) {
            ds_buf_t own = {0};
            ds_buf_put(&own, s->eqv[p->ord[o].eq].p, s->eqv[p->ord[o].eq].n);
            if (p->ord[o].desc)
                ds_invert(&own, 0);
            int c = ds_bytes_cmp(cursor + i, l, own.p, own.n);
            ds_buf_free(&own);
            if (c != 0) {
                exact = false;
                past = c > 0;
            }
        } else {
            ds_buf_put(&from, cursor + i, l);
        }
        i += l;
    }
    int rc;
    if (exact) { /* every component matched: just after the cursor's entity key */
        ds_buf_put(&from, cursor + i, n - i);
        ds_buf_byte(&from, 0x00);
        rc = sub_advance(s, true, from.p, from.n);
    } else if (past) {
        if (ds_prefix_end(from.p, from.n, &end)) {
            rc = sub_advance(s, true, end.p, end.n);
        } else {
            s->done = true;
            rc = AE_OK;
        }
    } else {
        rc = sub_advance(s, true, from.n > s->base.n ? from.p : NULL, from.n);
    }
    ds_buf_free(&from);
    ds_buf_free(&end);
    while (rc == AE_OK && !s->done && ds_bytes_cmp(s->sortkey.p, s->sortkey.n, cursor, n) <= 0)
        rc = sub_advance(s, false, NULL, 0);
    return rc;
}

/* ---- results ---- */

/* True when entity `e` has the indexed value `enc` (encoded) in property `name`. */
static bool has_value(const das_ds_entity_t *e, const char *name, const ds_buf_t *enc)
{
    for (size_t i = 0; i < e->n; i++) {
        const das_ds_prop_t *pr = &e->props[i];
        if (!pr->indexed || strcmp(pr->name, name) != 0)
            continue;
        ds_buf_t b = {0};
        bool found = false;
        for (size_t j = 0; j < pr->n && !found; j++) {
            das_ds_type_t t = pr->values[j].type;
            if (t == DAS_DS_TEXT || t == DAS_DS_BLOB || t == DAS_DS_ENTITY)
                continue;
            b.n = 0;
            ds_enc_value(&b, &pr->values[j]);
            found = b.n == enc->n && memcmp(b.p, enc->p, b.n) == 0;
        }
        ds_buf_free(&b);
        return found;
    }
    return false;
}

/* The smallest sort key at which subquery `s` yields entity `e` (whose encoded key is ekey),
 * into `out`; false when it does not yield it. `rows` are e's rows in the scanned index. */
static bool entity_sortkey_in(const sub_t *s, const das_ds_entity_t *e, const unsigned char *ekey,
                              size_t ekey_n, const ds_rows_t *rows, ds_buf_t *out)
{
    const plan_t *p = s->p;
    if (s->empty)
        return false;
    if (p->zigzag) { /* the kind and ancestor are the query's, the same in every subquery */
        if (!key_in_bounds(s, ekey, ekey_n))
            return false;
        for (size_t i = 0; i < p->n_eq; i++)
            if (!has_value(e, p->eq[i].name, &s->eqv[i]))
                return false;
        out->n = 0;
        ds_buf_put(out, s->zprefix.p, s->zprefix.n);
        ds_buf_put(out, ekey, ekey_n);
        return true;
    }
    const stream_t *st = &s->streams[0];
    ds_buf_t sk = {0};
    bool found = false;
    for (size_t i = 0; i < rows->n; i++) {
        const ds_buf_t *k = &rows->rows[i].k;
        const unsigned char *ek;
        size_t ekn;
        if (ds_bytes_cmp(k->p, k->n, st->lo.p, st->lo.n) < 0 ||
            ds_bytes_cmp(k->p, k->n, st->hi.p, st->hi.n) >= 0 ||
            !row_sortkey(s, k->p, k->n, &sk, &ek, &ekn) || !key_in_bounds(s, ek, ekn))
            continue;
        if (!found || ds_bytes_cmp(sk.p, sk.n, out->p, out->n) < 0) {
            out->n = 0;
            ds_buf_put(out, sk.p, sk.n);
            found = true;
        }
    }
    ds_buf_free(&sk);
    return found;
}

/* True when the entity at subquery `i`'s current row is (or was, on an earlier page) a result
 * at a smaller sort key: a list property's other value, in this subquery or another. An
 * entity is a result once, at its smallest sort key (its smallest value ascending, its largest
 * descending). */
static bool shown_elsewhere(sub_t *subs, size_t n_subs, size_t i, const das_ds_entity_t *e)
{
    sub_t *s = &subs[i];
    const plan_t *p = s->p;
    ds_rows_t rows = {0};
    if (!p->zigzag)
        ds_entity_rows_in(e, p->def.ancestor, p->def.props, p->def.n, p->iid, &rows);
    ds_buf_t sk = {0};
    bool elsewhere = false;
    for (size_t j = 0; j < n_subs && !elsewhere; j++)
        elsewhere = entity_sortkey_in(&subs[j], e, s->ekey, s->ekey_n, &rows, &sk) &&
                    ds_bytes_cmp(sk.p, sk.n, s->sortkey.p, s->sortkey.n) < 0;
    ds_buf_free(&sk);
    ds_rows_free(&rows);
    return elsewhere;
}

static int load_entity(const plan_t *p, ds_conn_t *c, const unsigned char *ekey, size_t n,
                       das_ds_arena_t *a, das_ds_entity_t **out, das_ds_err_t *err)
{
    das_ds_t *ds = p->ds;
    *out = NULL;
    sqlite3_stmt *st = ds_stmt(c, ST_GET_ENTITY);
    sqlite3_bind_blob(st, 1, ekey, (int)n, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        das_ds_entity_t *e = das_ds_alloc(a, sizeof *e);
        if (ds_entity_parse(sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0), a,
                            p->app, e) == 0)
            *out = e;
        rc = AE_OK;
    } else {
        rc = rc == SQLITE_DONE ? AE_OK : ds_sqlite_fail(ds, c->db, rc, err, "reading");
    }
    sqlite3_reset(st);
    return rc;
}

/* The projected entity of a scan row: its key, and each projected property's value. */
static das_ds_entity_t *projected(sub_t *s, das_ds_arena_t *a)
{
    plan_t *p = s->p;
    das_ds_entity_t *e = das_ds_alloc(a, sizeof *e);
    if (ds_dec_key(s->ekey, s->ekey_n, a, p->app, &e->key) != 0)
        return NULL;
    const das_ds_query_t *q = p->q;
    e->props = das_ds_alloc(a, q->n_projection * sizeof *e->props);
    size_t i = s->base.n;
    for (size_t o = 0; o < p->n_ord; o++) {
        if (p->ord[o].eq >= 0)
            continue;
        size_t l = ds_comp_len(s->k + i, s->kn - i, p->ord[o].desc);
        for (size_t j = 0; j < q->n_projection; j++) {
            if (strcmp(q->projection[j], p->ord[o].name) != 0)
                continue;
            ds_buf_t comp = {0};
            ds_buf_put(&comp, s->k + i, l);
            if (p->ord[o].desc)
                ds_invert(&comp, 0);
            das_ds_prop_t *pr = &e->props[e->n++];
            pr->name = q->projection[j];
            pr->indexed = true;
            pr->n = 1;
            pr->values = das_ds_alloc(a, sizeof *pr->values);
            if (ds_dec_value(comp.p, comp.n, a, &pr->values[0]) != 0)
                e->n--;
            else if (pr->values[0].type == DAS_DS_KEY)
                pr->values[0].u.key->app = p->app; /* indexed without it */
            ds_buf_free(&comp);
        }
        i += l;
    }
    return e;
}

static const char *make_cursor(plan_t *p, das_ds_arena_t *a, const unsigned char *sk,
                               size_t n)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdn = 0;
    EVP_Digest(p->sig.p, p->sig.n, md, &mdn, EVP_sha1(), NULL);
    ds_buf_t b = {0};
    ds_buf_byte(&b, CURSOR_VERSION);
    ds_buf_put(&b, md, 8);
    ds_buf_byte(&b, sk ? 1 : 0);
    if (sk)
        ds_buf_put(&b, sk, n);
    const char *s = ds_b64url(a, b.p, b.n);
    ds_buf_free(&b);
    return s;
}

/* Decodes a cursor of this query into its sort key (has = false: "from the start"). */
static int read_cursor(plan_t *p, const char *s, ds_buf_t *sk, bool *has, das_ds_err_t *err)
{
    ds_buf_t b = {0};
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdn = 0;
    if (ds_unb64url(s, &b) != 0 || b.n < 10 || b.p[0] != CURSOR_VERSION) {
        ds_buf_free(&b);
        return ds_fail(err, AE_EINVAL, "Invalid cursor: it is not a cursor this server made");
    }
    EVP_Digest(p->sig.p, p->sig.n, md, &mdn, EVP_sha1(), NULL);
    if (memcmp(b.p + 1, md, 8) != 0) {
        ds_buf_free(&b);
        return ds_fail(err, AE_EINVAL, "Cursor does not match query: it was made by a query "
                                       "of another kind, filters, ancestor, order or direction");
    }
    *has = b.p[9] != 0;
    sk->n = 0;
    ds_buf_put(sk, b.p + 10, b.n - 10);
    ds_buf_free(&b);
    return AE_OK;
}

/* The index of the subquery with the smallest current sort key; -1 when all are done. */
static int smallest(sub_t *subs, size_t n)
{
    int best = -1;
    for (size_t i = 0; i < n; i++) {
        if (subs[i].done)
            continue;
        if (best < 0 || ds_bytes_cmp(subs[i].sortkey.p, subs[i].sortkey.n, subs[best].sortkey.p,
                                  subs[best].sortkey.n) < 0)
            best = (int)i;
    }
    return best;
}

/* The number of leading components of a sort key that hold the distinct properties. */
static size_t group_prefix_len(plan_t *p, const unsigned char *sk, size_t n)
{
    size_t i = 0;
    for (size_t o = 0; o < p->n_ord; o++) {
        size_t l = ds_comp_len(sk + i, n - i, p->ord[o].desc);
        if (!l)
            break;
        i += l;
    }
    return i;
}

/* The entity keys a merge of subqueries has returned (one entity may match several). */
typedef struct keyset_entry {
    UT_hash_handle hh;
    size_t len;
    unsigned char key[];
} keyset_entry_t;

typedef struct {
    keyset_entry_t *head;
} keyset_t;

static bool keyset_add(keyset_t *ks, const unsigned char *k, size_t n)
{
    keyset_entry_t *e = NULL;
    HASH_FIND(hh, ks->head, k, n, e);
    if (e)
        return false;
    e = malloc(sizeof *e + n);
    if (!e)
        abort();
    e->len = n;
    memcpy(e->key, k, n);
    HASH_ADD(hh, ks->head, key, e->len, e);
    return true;
}

static void keyset_free(keyset_t *ks)
{
    keyset_entry_t *e, *tmp;
    HASH_ITER(hh, ks->head, e, tmp)
    {
        HASH_DEL(ks->head, e);
        free(e);
    }
}

int das_ds_run_query(das_ds_t *ds, das_ds_txn_t *txn, const das_ds_query_t *q,
                     das_ds_arena_t *a, das_ds_result_t *out, das_ds_err_t *err)
{
    memset(out, 0, sizeof *out);
    plan_t p;
    int rc = compile(ds, txn, q, &p, err);
    p.app = das_ds_strndup(a, ds->app, strlen(ds->app));
    ds_buf_t start = {0}, end = {0};
    bool has_start = false, has_end = false;
    if (rc == AE_OK && q->start_cursor && *q->start_cursor)
        rc = read_cursor(&p, q->start_cursor, &start, &has_start, err);
    if (rc == AE_OK && q->end_cursor && *q->end_cursor) {
        rc = read_cursor(&p, q->end_cursor, &end, &has_end, err);
        if (rc == AE_OK && !has_end) { /* the end is the start: nothing */
            out->cursor = make_cursor(&p, a, has_start ? start.p : NULL, start.n);
            goto done;
        }
    }
    if (rc)
        goto done;

    /* what the query sees: its ancestor's group applied (or the transaction's snapshot), or
     * what the consistency policy lets through */
    ds_conn_t *c = NULL;
    bool own_conn = !txn;
    if (txn) {
        rc = ds_txn_read_group(ds, txn, q->ancestor, &c, err);
        if (rc == AE_OK && p.composite) /* its rows may be newer than the snapshot */
            rc = ds_txn_refresh(ds, txn, err);
    } else if (q->ancestor) {
        ds_buf_t grp = {0};
        ds_group_of(q->ancestor, &grp);
        rc = ds_apply_groups(ds, &grp, 1, err);
        ds_buf_free(&grp);
    } else {
        rc = ds_apply_for_query(ds, err);
    }
    if (rc)
        goto done;
    if (own_conn) {
        if (!(c = ds_reader_take(ds, err))) {
            rc = AE_EUNAVAILABLE;
            goto done;
        }
        sqlite3_exec(c->db, "BEGIN", NULL, NULL, NULL);
    }

    size_t n_subs = 1;
    for (size_t i = 0; i < p.n_eq; i++)
        n_subs *= p.eq[i].n;
    if (p.key_in)
        n_subs *= p.key_in->n;
    if (p.key_ne)
        n_subs *= 2;
    if (p.ne)
        n_subs *= 2;
    sub_t *subs = calloc(n_subs, sizeof *subs);
    if (!subs)
        abort();
    size_t opened = 0;
    for (; opened < n_subs && rc == AE_OK; opened++) {
        rc = sub_open(&p, c, opened, &subs[opened], err);
        if (rc == AE_OK)
            rc = sub_start(&subs[opened], has_start ? start.p : NULL, start.n);
        if (rc > 0)
            rc = ds_sqlite_fail(ds, c->db, rc, err, "querying");
    }

    size_t cap = 16;
    out->entities = das_ds_alloc(a, cap * sizeof *out->entities);
    ds_buf_t last = {0}, group = {0};
    bool has_last = false, has_group = false;
    if (has_start) {
        ds_buf_put(&last, start.p, start.n);
        has_last = true;
        if (q->distinct) {
            ds_buf_put(&group, start.p, group_prefix_len(&p, start.p, start.n));
            has_group = true;
        }
    }
    keyset_t seen = {0};
    int64_t skipped = 0, taken = 0;
    bool probing = q->limit == 0;
    while (rc == AE_OK) {
        int i = smallest(subs, n_subs);
        if (i < 0)
            break;
        sub_t *s = &subs[i];
        if (has_end && ds_bytes_cmp(s->sortkey.p, s->sortkey.n, end.p, end.n) > 0)
            break;
        bool emit = true;
        das_ds_entity_t *e = NULL;
        /* the same entity from two subqueries at one sort key (an IN list naming a value
         * twice); a projection's results are index rows, and distinct groups them */
        if (n_subs > 1 && q->n_projection == 0)
            emit = keyset_add(&seen, s->ekey, s->ekey_n);
        if (emit && q->distinct) {
            size_t g = group_prefix_len(&p, s->sortkey.p, s->sortkey.n);
            emit = !has_group || ds_bytes_cmp(s->sortkey.p, g, group.p, group.n) != 0;
            if (emit) {
                group.n = 0;
                ds_buf_put(&group, s->sortkey.p, g);
                has_group = true;
            }
        }
        bool need_entity = !q->keys_only && q->n_projection == 0 && !q->count_only && !probing;
        /* a list property: the entity's other values may come first, here or in another
         * subquery */
        if (emit && s->multi && q->n_projection == 0 && (!p.zigzag || n_subs > 1)) {
            rc = load_entity(&p, c, s->ekey, s->ekey_n, a, &e, err);
            if (rc)
                break;
            emit = e && !shown_elsewhere(subs, n_subs, (size_t)i, e);
        }
        if (emit) {
            if (probing) {
                out->more = true;
                break;
            }
            if (skipped < q->offset) {
                skipped++;
            } else {
                if (q->count_only) {
                    taken++;
                } else {
                    if (!e && need_entity)
                        rc = load_entity(&p, c, s->ekey, s->ekey_n, a, &e, err);
                    if (rc)
                        break;
                    if (q->n_projection) {
                        e = projected(s, a);
                    } else if (q->keys_only || !e) {
                        das_ds_entity_t *ke = das_ds_alloc(a, sizeof *ke);
                        if (ds_dec_key(s->ekey, s->ekey_n, a, p.app, &ke->key) != 0)
                            ke = NULL;
                        if (!e && !q->keys_only)
                            ke = NULL; /* deleted between the index and the entity */
                        e = ke;
                    } else {
                        /* keep the entity's properties; with keys only, none */
                    }
                    if (e) {
                        if (out->n == cap) {
                            das_ds_entity_t **bigger = das_ds_alloc(a, 2 * cap * sizeof *bigger);
                            memcpy(bigger, out->entities, cap * sizeof *bigger);
                            out->entities = bigger;
                            cap *= 2;
                        }
                        e->key.app = p.app;
                        out->entities[out->n++] = e;
                    }
                    taken++;
                }
            }
            last.n = 0;
            ds_buf_put(&last, s->sortkey.p, s->sortkey.n);
            has_last = true;
            if (q->limit >= 0 && taken >= q->limit)
                probing = true;
        }
        rc = sub_advance(s, false, NULL, 0);
        if (rc > 0)
            rc = ds_sqlite_fail(ds, c->db, rc, err, "querying");
    }
    if (rc == AE_OK) {
        out->cursor = make_cursor(&p, a, has_last ? last.p : NULL, last.n);
        out->skipped = skipped;
        out->count = q->count_only ? taken : (int64_t)out->n;
    }
    keyset_free(&seen);
    ds_buf_free(&last);
    ds_buf_free(&group);
    for (size_t i = 0; i < opened; i++)
        sub_close(&subs[i]);
    free(subs);
    if (own_conn) {
        sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
        ds_reader_give(ds, c);
    }
    __atomic_add_fetch(&ds->stats.queries, 1, __ATOMIC_RELAXED); /* no lock: reads never wait */
done:
    ds_buf_free(&start);
    ds_buf_free(&end);
    plan_free(&p);
    return rc;
}
