/* test_datastore.c - the datastore stub's behaviour, one rule per test, through datastore.h only.
 *
 * Each test opens a fresh store (a temporary SQLite file, or one in a fresh mkdtemp directory
 * when the test is about the file or index.yaml) driven by a fake clock (fake_clock_t) that the
 * test moves by hand, so the "time" consistency policy is exact. Results are compared as
 * strings of key names ("a b c") in the expected order, and errors by code and wording.
 */
#include "datastore.h"

#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"

#define T0 1700000000000LL /* the fake clock's start, Unix ms */
#define APP "dev~test"

/* ---------------------------------------------------------------- fixtures */

typedef struct {
    int64_t now_ms;
} fake_clock_t;

static int64_t fake_now(void *ctx)
{
    return ((fake_clock_t *)ctx)->now_ms;
}

/* The options every test starts from: the testbed's (sequential ids, consistent). */
static das_ds_options_t base_opts(fake_clock_t *clk)
{
    clk->now_ms = T0;
    das_ds_options_t o = {.app = APP,
                          .ids = DAS_DS_IDS_SEQUENTIAL,
                          .consistency = DAS_DS_CONSISTENCY_CONSISTENT,
                          .now_ms = fake_now,
                          .clock_ctx = clk};
    return o;
}

static das_ds_t *open_store(const das_ds_options_t *o)
{
    das_ds_t *ds = NULL;
    das_ds_err_t err = {{0}};
    if (das_ds_open(o, &ds, &err) != AE_OK) {
        printf("#   das_ds_open: %s\n", err.msg);
        return NULL;
    }
    return ds;
}

/* A fresh mkdtemp directory per test (removed by the next one, or at exit). */
static char g_dir[PATH_MAX];

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void remove_dir(void)
{
    if (g_dir[0])
        nftw(g_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    g_dir[0] = '\0';
}

static const char *new_dir(void)
{
    static int registered;
    if (!registered) {
        atexit(remove_dir);
        registered = 1;
    }
    remove_dir();
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/das-ds-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_dir)) {
        g_dir[0] = '\0';
        return NULL;
    }
    return g_dir;
}

/* A path inside the test's directory (static storage, one per call site is enough). */
static const char *in_dir(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", g_dir, name);
    return buf;
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static int write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    fputs(text, f);
    return fclose(f);
}

/* ---------------------------------------------------------------- keys, values, entities */

/* A key: `parent`'s path (NULL: a root in namespace "") plus (kind, id or name). */
static das_ds_key_t *key_ns(das_ds_arena_t *a, const char *ns, const das_ds_key_t *parent,
                            const char *kind, int64_t id, const char *name)
{
    das_ds_key_t *k = das_ds_alloc(a, sizeof *k);
    size_t n = parent ? parent->n : 0;
    k->ns = parent ? parent->ns : ns;
    k->n = n + 1;
    k->path = das_ds_alloc(a, k->n * sizeof *k->path);
    if (n)
        memcpy(k->path, parent->path, n * sizeof *k->path);
    k->path[n] = (das_ds_elem_t){kind, id, name};
    return k;
}

static das_ds_key_t *key_id(das_ds_arena_t *a, const das_ds_key_t *parent, const char *kind,
                            int64_t id)
{
    return key_ns(a, "", parent, kind, id, NULL);
}

static das_ds_key_t *key_name(das_ds_arena_t *a, const das_ds_key_t *parent, const char *kind,
                              const char *name)
{
    return key_ns(a, "", parent, kind, 0, name);
}

static das_ds_value_t vnull(void)
{
    return (das_ds_value_t){.type = DAS_DS_NULL};
}
static das_ds_value_t vint(int64_t i)
{
    return (das_ds_value_t){.type = DAS_DS_INT, .u.i = i};
}
static das_ds_value_t vtime(int64_t us)
{
    return (das_ds_value_t){.type = DAS_DS_TIME, .u.i = us};
}
static das_ds_value_t vbool(bool b)
{
    return (das_ds_value_t){.type = DAS_DS_BOOL, .u.b = b};
}
static das_ds_value_t vdouble(double d)
{
    return (das_ds_value_t){.type = DAS_DS_DOUBLE, .u.d = d};
}
static das_ds_value_t vbytes_t(das_ds_type_t t, const char *p, size_t n)
{
    das_ds_value_t v = {.type = t};
    v.u.s.p = p;
    v.u.s.n = n;
    return v;
}
static das_ds_value_t vstr(const char *s)
{
    return vbytes_t(DAS_DS_STRING, s, strlen(s));
}
static das_ds_value_t vgeo(double lat, double lng)
{
    das_ds_value_t v = {.type = DAS_DS_GEOPT};
    v.u.geo.lat = lat;
    v.u.geo.lng = lng;
    return v;
}
static das_ds_value_t vuser(const char *email, const char *domain, const char *id)
{
    das_ds_value_t v = {.type = DAS_DS_USER};
    v.u.user.email = email;
    v.u.user.auth_domain = domain;
    v.u.user.user_id = id;
    return v;
}
static das_ds_value_t vkey(das_ds_key_t *k)
{
    return (das_ds_value_t){.type = DAS_DS_KEY, .u.key = k};
}
static das_ds_value_t ventity(das_ds_entity_t *e)
{
    return (das_ds_value_t){.type = DAS_DS_ENTITY, .u.entity = e};
}

static das_ds_entity_t *entity(das_ds_arena_t *a, const das_ds_key_t *k)
{
    das_ds_entity_t *e = das_ds_alloc(a, sizeof *e);
    if (k)
        e->key = *k;
    return e;
}

/* Adds a property of n values (copied into the arena). */
static void set_values(das_ds_arena_t *a, das_ds_entity_t *e, const char *name, bool indexed,
                       bool multiple, size_t n, const das_ds_value_t *values)
{
    das_ds_prop_t *props = das_ds_alloc(a, (e->n + 1) * sizeof *props);
    if (e->n)
        memcpy(props, e->props, e->n * sizeof *props);
    das_ds_prop_t *p = &props[e->n];
    p->name = name;
    p->indexed = indexed;
    p->multiple = multiple;
    p->n = n;
    p->values = das_ds_alloc(a, (n ? n : 1) * sizeof *p->values);
    if (n)
        memcpy(p->values, values, n * sizeof *values);
    e->props = props;
    e->n++;
}

static void set(das_ds_arena_t *a, das_ds_entity_t *e, const char *name, das_ds_value_t v)
{
    set_values(a, e, name, true, false, 1, &v);
}

static void set_unindexed(das_ds_arena_t *a, das_ds_entity_t *e, const char *name,
                          das_ds_value_t v)
{
    set_values(a, e, name, false, false, 1, &v);
}

#define SET_LIST(a, e, name, ...)                                                              \
    set_values(a, e, name, true, true,                                                         \
               sizeof((das_ds_value_t[]){__VA_ARGS__}) / sizeof(das_ds_value_t),               \
               (das_ds_value_t[]){__VA_ARGS__})

static const das_ds_prop_t *prop_of(const das_ds_entity_t *e, const char *name)
{
    for (size_t i = 0; e && i < e->n; i++)
        if (strcmp(e->props[i].name, name) == 0)
            return &e->props[i];
    return NULL;
}

/* The integer value of a one-valued property, or -999 when it has none. */
static int64_t int_of(const das_ds_entity_t *e, const char *name)
{
    const das_ds_prop_t *p = prop_of(e, name);
    return p && p->n == 1 && p->values[0].type == DAS_DS_INT ? p->values[0].u.i : -999;
}

/* The last path element of a key as text: its name, or its id. */
static const char *last_elem(das_ds_arena_t *a, const das_ds_key_t *k)
{
    const das_ds_elem_t *e = &k->path[k->n - 1];
    if (e->name)
        return e->name;
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", (long long)e->id);
    return das_ds_strndup(a, buf, strlen(buf));
}

/* The results as "a b c" (each key's last element), or "K:1/C:2 ..." with full = true. */
static const char *result_str(das_ds_arena_t *a, const das_ds_result_t *r, bool full)
{
    char *out = das_ds_alloc(a, 8192);
    size_t o = 0;
    for (size_t i = 0; i < r->n && o < 8000; i++) {
        char one[512];
        if (full)
            das_ds_key_format(&r->entities[i]->key, one, sizeof one);
        else
            snprintf(one, sizeof one, "%s", last_elem(a, &r->entities[i]->key));
        o += (size_t)snprintf(out + o, 8192 - o, "%s%s", i ? " " : "", one);
    }
    return out;
}

/* ---------------------------------------------------------------- store helpers */

static int put1(das_ds_t *ds, das_ds_txn_t *txn, das_ds_arena_t *a, das_ds_entity_t *e)
{
    das_ds_err_t err;
    int rc = das_ds_put(ds, txn, e, 1, a, &err);
    if (rc)
        printf("#   put: %d %s\n", rc, err.msg);
    return rc;
}

/* Puts KIND:name with x = value (a root). */
static int put_x(das_ds_t *ds, das_ds_arena_t *a, const char *kind, const char *name,
                 int64_t x)
{
    das_ds_entity_t *e = entity(a, key_name(a, NULL, kind, name));
    set(a, e, "x", vint(x));
    return put1(ds, NULL, a, e);
}

/* The entity at k, or NULL (a failed get is NULL too, and printed). */
static das_ds_entity_t *get1(das_ds_t *ds, das_ds_txn_t *txn, das_ds_arena_t *a,
                             const das_ds_key_t *k)
{
    das_ds_entity_t *out = NULL;
    das_ds_err_t err;
    int rc = das_ds_get(ds, txn, k, 1, a, &out, &err);
    if (rc) {
        printf("#   get: %d %s\n", rc, err.msg);
        return NULL;
    }
    return out;
}

static das_ds_query_t kind_query(const char *kind)
{
    return (das_ds_query_t){.kind = kind, .limit = -1};
}

/* Runs q and returns its results as result_str, or "ERROR <code>: <message>". */
static const char *run(das_ds_t *ds, das_ds_txn_t *txn, const das_ds_query_t *q,
                       das_ds_arena_t *a, das_ds_result_t *res)
{
    das_ds_result_t local;
    if (!res)
        res = &local;
    das_ds_err_t err;
    int rc = das_ds_run_query(ds, txn, q, a, res, &err);
    if (rc) {
        char *s = das_ds_alloc(a, sizeof err.msg + 32);
        snprintf(s, sizeof err.msg + 32, "ERROR %d: %s", rc, err.msg);
        return s;
    }
    return result_str(a, res, false);
}

static const char *run_full(das_ds_t *ds, const das_ds_query_t *q, das_ds_arena_t *a)
{
    das_ds_result_t res;
    das_ds_err_t err;
    int rc = das_ds_run_query(ds, NULL, q, a, &res, &err);
    if (rc) {
        char *s = das_ds_alloc(a, sizeof err.msg + 32);
        snprintf(s, sizeof err.msg + 32, "ERROR %d: %s", rc, err.msg);
        return s;
    }
    return result_str(a, &res, true);
}

/* The error a query fails with ("" when it succeeds), and its code in *code. */
static const char *query_error(das_ds_t *ds, das_ds_txn_t *txn, const das_ds_query_t *q,
                               das_ds_arena_t *a, int *code)
{
    das_ds_result_t res;
    das_ds_err_t err = {{0}};
    *code = das_ds_run_query(ds, txn, q, a, &res, &err);
    return *code ? das_ds_strndup(a, err.msg, strlen(err.msg)) : "";
}

/* The "Q" data set most query tests share:
 *   name  x  y  cat
 *   a     1  2  red
 *   b     2  1  blue
 *   c     3  2  red
 *   d     4  1  blue
 *   e     5  2  green          */
static int put_q(das_ds_t *ds, das_ds_arena_t *a)
{
    static const char *names[] = {"a", "b", "c", "d", "e"};
    static const char *cats[] = {"red", "blue", "red", "blue", "green"};
    for (int i = 0; i < 5; i++) {
        das_ds_entity_t *e = entity(a, key_name(a, NULL, "Q", names[i]));
        set(a, e, "x", vint(i + 1));
        set(a, e, "y", vint(i % 2 ? 1 : 2));
        set(a, e, "cat", vstr(cats[i]));
        int rc = put1(ds, NULL, a, e);
        if (rc)
            return rc;
    }
    return AE_OK;
}

#define FILTER(prop, op, ...)                                                                  \
    {                                                                                          \
        prop, op, sizeof((das_ds_value_t[]){__VA_ARGS__}) / sizeof(das_ds_value_t),            \
            (das_ds_value_t[]){__VA_ARGS__}                                                    \
    }

/* ---------------------------------------------------------------- keys and their order */

TEST(test_datastore_key_order_is_kind_then_ids_before_names_parent_before_children)
{
    fake_clock_t clk;
    das_ds_options_t o = base_opts(&clk);
    das_ds_t *ds = open_store(&o);
    CHECK(ds);
    das_ds_arena_t a = {0};
    das_ds_key_t *a1 = key_id(&a, NULL, "A", 1);
    das_ds_key_t *keys[] = {
        key_name(&a, NULL, "B", "z"), key_id(&a, NULL, "B", 1),   key_name(&a, NULL, "A", "b"),
        key_id(&a, a1, "B", 1),       key_id(&a, NULL, "A", 10),  key_name(&a, NULL, "A", "a"),
        key_id(&a, NULL, "AB", 1),    key_id(&a, a1, "A", 5),     key_id(&a, NULL, "A", 2),
        a1,
    };
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        CHECK_OK(put1(ds, NULL, &a, entity(&a, keys[i])));

    /* kindless, no order: key order */
    das_ds_query_t q = {.limit = -1};
    CHECK_STR_EQ(run_full(ds, &q, &a), "A:1 A:1/A:5 A:1/B:1 A:2 A:10 A:a A:b AB:1 B:1 B:z");
    /* kindless, __key__ ascending: the same */
    das_ds_order_t key_asc = {"__key__", false};
    q.n_orders = 1;
    q.orders = &key_asc;
    CHECK_STR_EQ(run_full(ds, &q, &a), "A:1 A:1/A:5 A:1/B:1 A:2 A:10 A:a A:b AB:1 B:1 B:z");
    /* one kind (children of any parent included), by key descending */
    das_ds_order_t key_desc = {"__key__", true};
    das_ds_query_t kq = kind_query("A");
    kq.n_orders = 1;
    kq.orders = &key_desc;
    CHECK_STR_EQ(run_full(ds, &kq, &a), "A:b A:a A:10 A:2 A:1/A:5 A:1");
    kq.orders = &key_asc;
    CHECK_STR_EQ(run_full(ds, &kq, &a), "A:1 A:1/A:5 A:2 A:10 A:a A:b");
    das_ds_close(ds);
    das_ds_arena_dispose(&a);
}

TEST(test_datastore_kindless_query_takes_key_filters_only)
{
    fake_clock_t clk;
    das_ds_options_t o = base_opts(&clk);
    das_ds_t *ds = open_store(&o);
    CHECK(ds);
    das_ds_arena_t a = {0};
    const char *kinds[] = {"A", "A", "A", "B", "C"};
    const char *names[] = {"a", "b", "c", "a", "a"};
    for (int i = 0; i < 5; i++)
        CHECK_OK(put1(ds, NULL, &a, entity(&a, key_name(&a, NULL, kinds[i], names[i]))));
    das_ds_filter_t f[] = {FILTER("__key__", DAS_DS_GT, vkey(key_name(&a, NULL, "A", "a"))),
                           FILTER("__key__", DAS_DS_LE, vkey(key_name(&a, NULL, "B", "a")))};
    das_ds_query_t q = {.limit = -1, .n_filters = 2, .filters = f};
    CHECK_STR_EQ(run_full(ds, &q, &a), "A:b A:c B:a");
    das_ds_filter_t eq[] = {FILTER("__key__", DAS_DS_EQ, vkey(key_name(&a, NULL, "C", "a")))};
    q.n_filters = 1;
    q.filters = eq;
    CHECK_STR_EQ(run_full(ds, &q, &a), "C:a");
    das_ds_close(ds);
    das_ds_arena_dispose(&a);
}

TEST(test_datastore_namespaces_are_separate)
{
    fake_clock_t clk;
    das_ds_options_t o = base_opts(&clk);
    das_ds_t *ds = open_store(&o);
    CHECK(ds);
    das_ds_arena_t a = {0};
    das_ds_key_t *k1 = key_ns(&a, "", NULL, "K", 1, NULL);
    das_ds_key_t *k2 = key_ns(&a, "other", NULL, "K", 1, NULL);
    das_ds_entity_t *e = entity(&a, k1);
    set(&a, e, "x", vint(1));
    CHECK_OK(put1(ds, NULL, &a, e));
    e = entity(&a, k2);
    set(&a, e, "x", vint(2));
    CHECK_OK(put1(ds, NULL, &a, e));
    CHECK_EQ(int_of(get1(ds, NULL, &a, k1), "x"), 1);
    CHECK_EQ(int_of(get1(ds, NULL, &a, k2), "x"), 2);
    das_ds_query_t q = kind_query("K");
    CHECK_STR_EQ(run_full(ds, &q, &a), "K:1");
    q.ns = "other";
    CHECK_STR_EQ(run_full(ds, &q, &a), "other!K:1");
    das_ds_close(ds);
    das_ds_arena_dispose(&a);
}

/* ---------------------------------------------------------------- types */

TEST(test_datastore_every_type_round_trips_through_put_and_get)
{
    fake_clock_t clk;
    das_ds_options_t o = base_opts(&clk);
    das_ds_t *ds = open_store(&o);
    CHECK(ds);
    das_ds_arena_t a = {0}, b = {0};
    das_ds_key_t *k = key_name(&a, NULL, "T", "all");
    das_ds_key_t *ref = key_name(&a, key_id(&a, NULL, "Parent", 7), "Child", "c");
    das_ds_entity_t *inner = entity(&a, NULL);
    set(&a, inner, "n", vint(7));
    set(&a, inner, "s", vstr("inside"));
    das_ds_entity_t *e = entity(&a, k);
    set(&a, e, "null", vnull());
    set(&a, e, "bool", vbool(true));
    set(&a, e, "int", vint(-42));
    set(&a, e, "double", vdouble(-2.5));
    set(&a, e, "string", vstr("h\xc3\xa9llo"));
    set(&a, e, "bytes", vbytes_t(DAS_DS_BYTES, "a\0\xff", 3));
    set_unindexed(&a, e, "text", vbytes_t(DAS_DS_TEXT, "long text", 9));
    set_unindexed(&a, e, "blob", vbytes_t(DAS_DS_BLOB, "\0\1\2", 3));
    set(&a, e, "time", vtime(1700000000123456LL));
    set(&a, e, "key", vkey(ref));
    set(&a, e, "geo", vgeo(51.5, -0.125));
    set(&a, e, "user", vuser("a@example.com", "gmail.com", "123"));
    set_unindexed(&a, e, "inner", ventity(inner));
    SET_LIST(&a, e, "list", vint(1), vstr("two"), vdouble(3.0));
    SET_LIST(&a, e, "one", vint(9));
    CHECK_OK(put1(ds, NULL, &a, e));

    das_ds_entity_t *g = get1(ds, NULL, &b, k);
    CHECK(g);
    CHECK_EQ(g->n, 15);
    CHECK_EQ(prop_of(g, "null")->values[0].type, DAS_DS_NULL);
    const das_ds_value_t *v = &prop_of(g, "bool")->values[0];
    CHECK(v->type == DAS_DS_BOOL && v->u.b);
    CHECK_EQ(int_of(g, "int"), -42);
    v = &prop_of(g, "double")->values[0];
    CHECK(v->type == DAS_DS_DOUBLE && v->u.d == -2.5);
    v = &prop_of(g, "string")->values[0];
    CHECK(v->type == DAS_DS_STRING);
    CHECK_STR_EQ(v->u.s.p, "h\xc3\xa9llo");
    v = &prop_of(g, "bytes")->values[0];
    CHECK(v->type == DAS_DS_BYTES && v->u.s.n == 3 && memcmp(v->u.s.p, "a\0\xff", 3) == 0);
    const das_ds_prop_t *p = prop_of(g, "text");
    CHECK(p->values[0].type == DAS_DS_TEXT && !p->indexed);
    CHECK_STR_EQ(p->values[0].u.s.p, "long text");
    v = &prop_of(g, "blob")->values[0];
    CHECK(v->type == DAS_DS_BLOB && v->u.s.n == 3 && memcmp(v->u.s.p, "\0\1\2", 3) == 0);
    v = &prop_of(g, "time")->values[0];
    CHECK(v->type == DAS_DS_TIME && v->u.i == 1700000000123456LL);
    v = &prop_of(g, "key")->values[0];
    CHECK(v->type == DAS_DS_KEY);
    char buf[256];
    das_ds_key_format(v->u.key, buf, sizeof buf);
    CHECK_STR_EQ(buf, "Parent:7/Child:c");
    v = &prop_of(g, "geo")->values[0];
    CHECK(v->type == DAS_DS_GEOPT && v->u.geo.lat == 51.5 && v->u.geo.lng == -0.125);
    v = &prop_of(g, "user")->values[0];
    CHECK(v->type == DAS_DS_USER);
    CHECK_STR_EQ(v->u.user.email, "a@example.com");
    CHECK_STR_EQ(v->u.user.auth_domain, "gmail.com");
    CHECK_STR_EQ(v->u.user.user_id, "123");
    v = &prop_of(g, "inner")->values[0];
    CHECK(v->type == DAS_DS_ENTITY && v->u.entity->key.n == 0);
    CHECK_EQ(int_of(v->u.entity, "n"), 7);
    CHECK_STR_EQ(prop_of(v->u.entity, "s")->values[0].u.s.p, "inside");
    p = prop_of(g, "list");
    CHECK(p->multiple && p->n == 3);
    CHECK(p->values[0].type == DAS_DS_INT && p->values[0].u.i == 1);
    CHECK_STR_EQ(p->values[1].u.s.p, "two");
    CHECK(p->values[2].type == DAS_DS_DOUBLE && p->values[2].u.d == 3.0);
    p = prop_of(g, "one");
    CHECK(p->multiple && p->n == 1 && p->values[0].u.i == 9);
    /* the result's key names the store's app */
    CHECK_STR_EQ(g->key.app, APP);
    das_ds_close(ds);
    das_ds_arena_dispose(&a);
    das_ds_arena_dispose(&b);
}

TEST(test_datastore_mixed_types_sort_in_the_platform_type_order)
{
    fake_clock_t clk;
    das_ds_options_t o = base_opts(&clk);
    das_ds_t *ds = open_store(&o);
    CHECK(ds);
    das_ds_arena_t a = {0};
    struct {
        const char *name;
        das_ds_value_t v;
    } rows[] = {
        {"key", vkey(key_id(&a, NULL, "K", 1))},
        {"user", vuser("a@example.com", "gmail.com", "")},
        {"geo", vgeo(1, 2)},
        {"double", vdouble(-1.5)},
        {"string_b", vstr("b")},
        {"bytes_a", vbytes_t(DAS_DS_BYTES, "a", 1)},
        {"true", vbool(true)},
        {"false", vbool(false)},
        {"int5", vint(5)},
        {"time3", vtime(3)},
        {"null", vnull()},
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        das_ds_entity_t *e = entity(&a, key_name(&a, NULL, "M", rows[i].name));
        set(&a, e, "v", rows[i].v);
        CHECK_OK(put1(ds, NULL, &a, e));
    }
    /* neither an unindexed value nor a missing property is in the index */
    das_ds_entity_t *e = entity(&a, key_name(&a, NULL, "M", "text"));
    set_unindexed(&a, e, "v", vbytes_t(DAS_DS_TEXT, "t", 1));
    CHECK_OK(put1(ds, NULL, &a, e));
    CHECK_OK(put1(ds, NULL, &a, entity(&a, key_name(&a, NULL, "M", "none"))));

    das_ds_order_t asc = {"v", false}, desc = {"v", true};
    das_ds_query_t q = kind_query("M");
    q.n_orders = 1;
    q.orders = &asc;
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL),
                 "null time3 int5 false true bytes_a string_b double geo user key");
    q.orders = &desc;
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL),
                 "key user geo double string_b bytes_a true false int5 time3 null");
    das_ds_close(ds);
    das_ds_arena_dispose(&a);
}

TEST(test_datastore_key_property_filter_matches_with_or_without_the_app)
{
    fake_clock_t clk;
    das_ds_options_t o = base_opts(&clk);
    das_ds_t *ds = open_store(&o);
    CHECK(ds);
    das_ds_arena_t a = {0};
    das_ds_key_t *target = key_id(&a, NULL, "Author", 3);
    das_ds_entity_t *e = entity(&a, key_name(&a, NULL, "Book", "b"));
    set(&a, e, "author", vkey(target)); /* app NULL: the store's */
    CHECK_OK(put1(ds, NULL, &a, e));
    /* a key as the store hands it back names the app */
    das_ds_key_t *with_app = key_id(&a, NULL, "Author", 3);
    with_app->app = APP;
    das_ds_filter_t f[] = {FILTER("author", DAS_DS_EQ, vkey(with_app))};
    das_ds_query_t q = kind_query("Book");
    q.n_filters = 1;
    q.filters = f;
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), "b");
    das_ds_filter_t f2[] = {FILTER("author", DAS_DS_EQ, vkey(target))};
    q.filters = f2;
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), "b");
    /* and the stored value comes back naming the store's app */
    das_ds_entity_t *g = get1(ds, NULL, &a, &e->key);
    CHECK(g);
    CHECK_STR_EQ(prop_of(g, "author")->values[0].u.key->app, APP);
    das_ds_close(ds);
    das_ds_arena_dispose(&a);
}

/* ---------------------------------------------------------------- get, put, delete */

TEST(test_datastore_get_of_a_missing_key_is_null_and_delete_removes)
{
    fake_clock_t clk;
    das_ds_options_t o = base_opts(&clk);
    das_ds_t *ds = open_store(&o);
    CHECK(ds);
    das_ds_arena_t a = {0};
    CHECK_OK(put_x(ds, &a, "K", "a", 1));
    CHECK_OK(put_x(ds, &a, "K", "b", 2));
    das_ds_key_t keys[3] = {*key_name(&a, NULL, "K", "a"), *key_name(&a, NULL, "K", "none"),
                            *key_name(&a, NULL, "K", "b")};
    das_ds_entity_t *out[3];
    das_ds_err_t err;
    CHECK_OK(das_ds_get(ds, NULL, keys, 3, &a, out, &err));
    CHECK(out[0] && !out[1] && out[2]);
    CHECK_EQ(int_of(out[2], "x"), 2);
    CHECK_OK(das_ds_delete(ds, NULL, &keys[0], 1, &err));
    CHECK(get1(ds, NULL, &a, &keys[0]) == NULL);
    das_ds_query_t q = kind_query("K");
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), "b");
    /* deleting what is not there is no error */
    CHECK_OK(das_ds_delete(ds, NULL, &keys[1], 1, &err));
    das_ds_close(ds);
    das_ds_arena_dispose(&a);
}

TEST(test_datastore_put_replaces_and_old_index_rows_go)
{
    fake_clock_t clk;
    das_ds_options_t o = base_opts(&clk);
    das_ds_t *ds = open_store(&o);
    CHECK(ds);
    das_ds_arena_t a = {0};
    CHECK_OK(put_x(ds, &a, "K", "a", 1));
    CHECK_OK(put_x(ds, &a, "K", "a", 7));
    das_ds_filter_t f[] = {FILTER("x", DAS_DS_EQ, vint(1))};
    das_ds_query_t q = kind_query("K");
    q.n_filters = 1;
    q.filters = f;
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), "");
    f[0].values[0] = vint(7);
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), "a");
    das_ds_close(ds);
    das_ds_arena_dispose(&a);
}

/* ---------------------------------------------------------------- queries */

TEST(test_datastore_query_kind_and_each_comparison)
{
    fake_clock_t clk;
    das_ds_options_t o = base_opts(&clk);
    das_ds_t *ds = open_store(&o);
    CHECK(ds);
    das_ds_arena_t a = {0};
    CHECK_OK(put_q(ds, &a));
    CHECK_OK(put_x(ds, &a, "Other", "z", 3));
    das_ds_query_t q = kind_query("Q");
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), "a b c d e");
    struct {
        das_ds_op_t op;
        const char *want;
    } cases[] = {{DAS_DS_EQ, "c"},       {DAS_DS_LT, "a b"}, {DAS_DS_LE, "a b c"},
                 {DAS_DS_GT, "d e"},     {DAS_DS_GE, "c d e"}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        das_ds_filter_t f[] = {FILTER("x", cases[i].op, vint(3))};
        q.n_filters = 1;
        q.filters = f;
        CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), cases[i].want);
    }
    das_ds_filter_t range[] = {FILTER("x", DAS_DS_GT, vint(1)), FILTER("x", DAS_DS_LT, vint(5))};
    q.n_filters = 2;
    q.filters = range;
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), "b c d");
    /* two equalities: a merge of two indexes */
    das_ds_filter_t two[] = {FILTER("y", DAS_DS_EQ, vint(2)),
                             FILTER("cat", DAS_DS_EQ, vstr("red"))};
    q.filters = two;
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), "a c");
    /* an equality and an inequality */
    das_ds_filter_t mixed[] = {FILTER("y", DAS_DS_EQ, vint(2)), FILTER("x", DAS_DS_GT, vint(1))};
    q.filters = mixed;
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), "c e");
    das_ds_close(ds);
    das_ds_arena_dispose(&a);
}

TEST(test_datastore_query_orders_asc_desc_and_two_orders)
{
    fake_clock_t clk;
    das_ds_options_t o = base_opts(&clk);
    das_ds_t *ds = open_store(&o);
    CHECK(ds);
    das_ds_arena_t a = {0};
    CHECK_OK(put_q(ds, &a));
    das_ds_query_t q = kind_query("Q");
    das_ds_order_t x_desc = {"x", true};
    q.n_orders = 1;
    q.orders = &x_desc;
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), "e d c b a");
    das_ds_order_t two[] = {{"y", false}, {"x", true}};
    q.n_orders = 2;
    q.orders = two;
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), "d b e c a");
    das_ds_order_t cat_then_key_desc[] = {{"cat", false}, {"__key__", true}};
    q.orders = cat_then_key_desc;
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), "d b e c a");
    /* an inequality with its property as first order, descending */
    das_ds_filter_t f[] = {FILTER("x", DAS_DS_GE, vint(2)), FILTER("x", DAS_DS_LT, vint(5))};
    q.n_filters = 2;
    q.filters = f;
    q.n_orders = 1;
    q.orders = &x_desc;
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), "d c b");
    das_ds_close(ds);
    das_ds_arena_dispose(&a);
}

TEST(test_datastore_query_in_and_not_equal_merge_in_the_query_order)
{
    fake_clock_t clk;
    das_ds_options_t o = base_opts(&clk);
    das_ds_t *ds = open_store(&o);
    CHECK(ds);
    das_ds_arena_t a = {0};
    CHECK_OK(put_q(ds, &a));
    das_ds_query_t q = kind_query("Q");
    das_ds_filter_t in[] = {FILTER("x", DAS_DS_IN, vint(4), vint(1), vint(3))};
    q.n_filters = 1;
    q.filters = in;
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), "a c d"); /* no order: by key */
    das_ds_order_t x_desc = {"x", true}, x_asc = {"x", false};
    q.n_orders = 1;
    q.orders = &x_desc;
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), "d c a");
    q.orders = &x_asc;
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), "a c d");
    /* IN on one property, ordered by another */
    das_ds_filter_t in_cat[] = {FILTER("cat", DAS_DS_IN, vstr("red"), vstr("green"))};
    q.filters = in_cat;
    q.orders = &x_desc;
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), "e c a");
    das_ds_order_t y_then_x[] = {{"y", false}, {"x", true}};
    q.n_orders = 2;
    q.orders = y_then_x;
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), "e c a");
    /* != is < and >, in x order (the implied first order) */
    das_ds_filter_t ne[] = {FILTER("x", DAS_DS_NE, vint(3))};
    q.filters = ne;
    q.n_orders = 0;
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), "a b d e");
    q.n_orders = 1;
    q.orders = &x_desc;
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), "e d b a");
    /* IN on y with != on x */
    das_ds_filter_t both[] = {FILTER("y", DAS_DS_IN, vint(1), vint(2)),
                              FILTER("x", DAS_DS_NE, vint(2))};
    q.n_filters = 2;
    q.filters = both;
    q.orders = &x_asc;
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), "a c d e");
    das_ds_close(ds);
    das_ds_arena_dispose(&a);
}

TEST(test_datastore_query_ancestor)
{
    fake_clock_t clk;
    das_ds_options_t o = base_opts(&clk);
    das_ds_t *ds = open_store(&o);
    CHECK(ds);
    das_ds_arena_t a = {0};
    das_ds_key_t *book = key_name(&a, NULL, "Book", "b1");
    das_ds_key_t *other = key_name(&a, NULL, "Book", "b2");
    CHECK_OK(put1(ds, NULL, &a, entity(&a, book)));
    CHECK_OK(put1(ds, NULL, &a, entity(&a, other)));
    das_ds_key_t *c1 = key_id(&a, book, "Chapter", 1);
    for (int i = 1; i <= 3; i++) {
        das_ds_entity_t *e = entity(&a, key_id(&a, book, "Chapter", i));
        set(&a, e, "n", vint(10 - i));
        CHECK_OK(put1(ds, NULL, &a, e));
    }
    das_ds_entity_t *e = entity(&a, key_id(&a, other, "Chapter", 9));
    set(&a, e, "n", vint(1));
    CHECK_OK(put1(ds, NULL, &a, e));
    CHECK_OK(put1(ds, NULL, &a, entity(&a, key_id(&a, c1, "Page", 1))));
    das_ds_query_t q = kind_query("Chapter");
    q.ancestor = book;
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), "1 2 3");
    das_ds_order_t n_asc = {"n", false};
    q.n_orders = 1;
    q.orders = &n_asc;
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), "3 2 1");
    das_ds_filter_t f[] = {FILTER("n", DAS_DS_LT, vint(9))};
    q.n_filters = 1;
    q.filters = f;
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), "3 2");
    /* kindless: the ancestor itself and every descendant */
    das_ds_query_t k = {.ancestor = book, .limit = -1};
    CHECK_STR_EQ(run_full(ds, &k, &a),
                 "Book:b1 Book:b1/Chapter:1 Book:b1/Chapter:1/Page:1 Book:b1/Chapter:2 "
                 "Book:b1/Chapter:3");
    k.ancestor = c1;
    CHECK_STR_EQ(run_full(ds, &k, &a), "Book:b1/Chapter:1 Book:b1/Chapter:1/Page:1");
    das_ds_close(ds);
    das_ds_arena_dispose(&a);
}

/* m has tags [3, 1, 5]; p [2]; r [4]. */
static int put_tags(das_ds_t *ds, das_ds_arena_t *a)
{
    das_ds_entity_t *e = entity(a, key_name(a, NULL, "T", "m"));
    SET_LIST(a, e, "tags", vint(3), vint(1), vint(5));
    int rc = put1(ds, NULL, a, e);
    e = entity(a, key_name(a, NULL, "T", "p"));
    SET_LIST(a, e, "tags", vint(2));
    rc = rc ? rc : put1(ds, NULL, a, e);
    e = entity(a, key_name(a, NULL, "T", "r"));
    SET_LIST(a, e, "tags", vint(4));
    return rc ? rc : put1(ds, NULL, a, e);
}

TEST(test_datastore_multi_valued_property_appears_once_at_its_first_value)
{
    fake_clock_t clk;
    das_ds_options_t o = base_opts(&clk);
    das_ds_t *ds = open_store(&o);
    CHECK(ds);
    das_ds_arena_t a = {0};
    CHECK_OK(put_tags(ds, &a));
    das_ds_query_t q = kind_query("T");
    das_ds_order_t asc = {"tags", false}, desc = {"tags", true};
    q.n_orders = 1;
    q.orders = &asc;
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), "m p r"); /* m at 1 */
    q.orders = &desc;
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), "m r p"); /* m at 5 */
    das_ds_filter_t gt[] = {FILTER("tags", DAS_DS_GT, vint(1))};
    q.n_filters = 1;
    q.filters = gt;
    q.orders = &asc;
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), "p m r"); /* m at 3 */
    das_ds_filter_t lt[] = {FILTER("tags", DAS_DS_LT, vint(5))};
    q.filters = lt;
    q.orders = &desc;
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), "r m p"); /* m at 3 */
    das_ds_filter_t eq[] = {FILTER("tags", DAS_DS_EQ, vint(5))};
    q.filters = eq;
    q.n_orders = 0;
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), "m");
    /* tags = 1 AND tags = 5: both values on one entity */
    das_ds_filter_t both[] = {FILTER("tags", DAS_DS_EQ, vint(1)),
                              FILTER("tags", DAS_DS_EQ, vint(5))};
    q.n_filters = 2;
    q.filters = both;
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), "m");
    /* a count and keys-only see it once too */
    q.n_filters = 0;
    q.n_orders = 1;
    q.orders = &asc;
    q.count_only = true;
    das_ds_result_t res;
    run(ds, NULL, &q, &a, &res);
    CHECK_EQ(res.count, 3);
    das_ds_close(ds);
    das_ds_arena_dispose(&a);
}

TEST(test_datastore_multi_valued_in_and_not_equal_return_an_entity_once_across_pages)
{
    fake_clock_t clk;
    das_ds_options_t o = base_opts(&clk);
    das_ds_t *ds = open_store(&o);
    CHECK(ds);
    das_ds_arena_t a = {0};
    CHECK_OK(put_tags(ds, &a));
    das_ds_order_t asc = {"tags", false};
    struct {
        das_ds_filter_t f;
        const char *want;
    } cases[] = {
        {FILTER("tags", DAS_DS_NE, vint(3)), "m p r"},        /* m at 1 (not again at 5) */
        {FILTER("tags", DAS_DS_IN, vint(5), vint(1)), "m"},   /* m at 1 (not again at 5) */
        {FILTER("tags", DAS_DS_IN, vint(4), vint(3)), "m r"}, /* m at 3, r at 4 */
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        das_ds_query_t q = kind_query("T");
        q.n_filters = 1;
        q.filters = &cases[c].f;
        q.n_orders = 1;
        q.orders = &asc;
        /* one page */
        CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), cases[c].want);
        /* pages of one */
        char got[64] = "";
        q.limit = 1;
        for (int page = 0; page < 6; page++) {
            das_ds_result_t res;
            const char *s = run(ds, NULL, &q, &a, &res);
            CHECK(strncmp(s, "ERROR", 5) != 0);
            if (res.n == 0)
                break;
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s", *got ? " " : "", s);
            q.start_cursor = res.cursor;
        }
        CHECK_STR_EQ(got, cases[c].want);
    }
    das_ds_close(ds);
    das_ds_arena_dispose(&a);
}

TEST(test_datastore_query_limit_offset_count_keys_only)
{
    fake_clock_t clk;
    das_ds_options_t o = base_opts(&clk);
    das_ds_t *ds = open_store(&o);
    CHECK(ds);
    das_ds_arena_t a = {0};
    CHECK_OK(put_q(ds, &a));
    das_ds_query_t q = kind_query("Q");
    das_ds_order_t x_asc = {"x", false};
    q.n_orders = 1;
    q.orders = &x_asc;
    q.limit = 2;
    das_ds_result_t res;
    CHECK_STR_EQ(run(ds, NULL, &q, &a, &res), "a b");
    CHECK(res.more);
    CHECK_EQ(int_of(res.entities[1], "x"), 2); /* whole entities */
    q.offset = 1;
    CHECK_STR_EQ(run(ds, NULL, &q, &a, &res), "b c");
    CHECK_EQ(res.skipped, 1);
    q.offset = 4;
    CHECK_STR_EQ(run(ds, NULL, &q, &a, &res), "e");
    CHECK(!res.more);
    q.offset = 9;
    CHECK_STR_EQ(run(ds, NULL, &q, &a, &res), "");
    CHECK_EQ(res.skipped, 5);
    /* any negative limit is none; a negative offset is an error */
    q.offset = 0;
    q.limit = -5;
    CHECK_STR_EQ(run(ds, NULL, &q, &a, &res), "a b c d e");
    q.offset = -1;
    int code;
    query_error(ds, NULL, &q, &a, &code);
    CHECK_EQ(code, AE_EINVAL);
    q.limit = 0;
    q.offset = 0;
    CHECK_STR_EQ(run(ds, NULL, &q, &a, &res), "");
    CHECK(res.more);
    /* count: after the offset, up to the limit */
    q.count_only = true;
    q.limit = -1;
    run(ds, NULL, &q, &a, &res);
    CHECK_EQ(res.count, 5);
    CHECK_EQ(res.n, 0);
    q.offset = 1;
    q.limit = 3;
    run(ds, NULL, &q, &a, &res);
    CHECK_EQ(res.count, 3);
    q.offset = 3;
    q.limit = -1;
    run(ds, NULL, &q, &a, &res);
    CHECK_EQ(res.count, 2);
    /* keys only: keys, no properties */
    q.count_only = false;
    q.offset = 0;
    q.keys_only = true;
    CHECK_STR_EQ(run(ds, NULL, &q, &a, &res), "a b c d e");
    CHECK_EQ(res.entities[0]->n, 0);
    CHECK_STR_EQ(res.entities[0]->key.app, APP);
    das_ds_close(ds);
    das_ds_arena_dispose(&a);
}

TEST(test_datastore_query_projection_and_distinct)
{
    fake_clock_t clk;
    das_ds_options_t o = base_opts(&clk);
    das_ds_t *ds = open_store(&o);
    CHECK(ds);
    das_ds_arena_t a = {0};
    CHECK_OK(put_q(ds, &a));
    das_ds_query_t q = kind_query("Q");
    const char *proj_x[] = {"x"};
    das_ds_order_t x_desc = {"x", true};
    q.n_projection = 1;
    q.projection = proj_x;
    q.n_orders = 1;
    q.orders = &x_desc;
    q.limit = 2;
    das_ds_result_t res;
    CHECK_STR_EQ(run(ds, NULL, &q, &a, &res), "e d");
    CHECK_EQ(res.entities[0]->n, 1);
    CHECK_EQ(int_of(res.entities[0], "x"), 5);
    CHECK_EQ(int_of(res.entities[1], "x"), 4);
    /* two properties, with an equality filter on a third */
    const char *proj_cat_x[] = {"cat", "x"};
    das_ds_filter_t f[] = {FILTER("y", DAS_DS_EQ, vint(1))};
    q.n_filters = 1;
    q.filters = f;
    q.n_projection = 2;
    q.projection = proj_cat_x;
    q.n_orders = 0;
    q.limit = -1;
    CHECK_STR_EQ(run(ds, NULL, &q, &a, &res), "b d");
    CHECK_EQ(res.entities[0]->n, 2);
    CHECK_STR_EQ(prop_of(res.entities[0], "cat")->values[0].u.s.p, "blue");
    CHECK_EQ(int_of(res.entities[1], "x"), 4);
    CHECK(prop_of(res.entities[0], "y") == NULL);
    /* distinct: one result per value */
    const char *proj_cat[] = {"cat"};
    q.n_filters = 0;
    q.n_projection = 1;
    q.projection = proj_cat;
    q.distinct = true;
    CHECK_STR_EQ(run(ds, NULL, &q, &a, &res), "b e a");
    CHECK_STR_EQ(prop_of(res.entities[0], "cat")->values[0].u.s.p, "blue");
    CHECK_STR_EQ(prop_of(res.entities[1], "cat")->values[0].u.s.p, "green");
    CHECK_STR_EQ(prop_of(res.entities[2], "cat")->values[0].u.s.p, "red");
    /* without distinct, a list gives one result per value */
    CHECK_OK(put_tags(ds, &a));
    das_ds_query_t t = kind_query("T");
    const char *proj_tags[] = {"tags"};
    t.n_projection = 1;
    t.projection = proj_tags;
    CHECK_STR_EQ(run(ds, NULL, &t, &a, &res), "m p m r m");
    das_ds_close(ds);
    das_ds_arena_dispose(&a);
}

TEST(test_datastore_cursors_page_through_and_end)
{
    fake_clock_t clk;
    das_ds_options_t o = base_opts(&clk);
    das_ds_t *ds = open_store(&o);
    CHECK(ds);
    das_ds_arena_t a = {0};
    CHECK_OK(put_q(ds, &a));
    das_ds_order_t orders[][1] = {{{"x", false}}, {{"x", true}}};
    const char *pages[][3] = {{"a b", "c d", "e"}, {"e d", "c b", "a"}};
    for (int o2 = 0; o2 < 2; o2++) {
        das_ds_query_t q = kind_query("Q");
        q.n_orders = 1;
        q.orders = orders[o2];
        q.limit = 2;
        das_ds_result_t res;
        for (int p = 0; p < 3; p++) {
            CHECK_STR_EQ(run(ds, NULL, &q, &a, &res), pages[o2][p]);
            CHECK(res.more == (p < 2));
            q.start_cursor = res.cursor;
        }
        CHECK_STR_EQ(run(ds, NULL, &q, &a, &res), "");
    }
    /* an end cursor: up to and including the first page's last result */
    das_ds_query_t q = kind_query("Q");
    q.limit = 2;
    das_ds_result_t first;
    CHECK_STR_EQ(run(ds, NULL, &q, &a, &first), "a b");
    q.limit = -1;
    q.end_cursor = first.cursor;
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), "a b");
    /* start and end */
    q.limit = 4;
    q.end_cursor = NULL;
    das_ds_result_t four;
    CHECK_STR_EQ(run(ds, NULL, &q, &a, &four), "a b c d");
    q.limit = -1;
    q.start_cursor = first.cursor;
    q.end_cursor = four.cursor;
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), "c d");
    /* a kindless query's cursor */
    das_ds_query_t k = {.limit = 3};
    das_ds_result_t kr;
    CHECK_STR_EQ(run(ds, NULL, &k, &a, &kr), "a b c");
    k.start_cursor = kr.cursor;
    k.limit = -1;
    CHECK_STR_EQ(run(ds, NULL, &k, &a, NULL), "d e");
    das_ds_close(ds);
    das_ds_arena_dispose(&a);
}

/* Runs q in pages of `limit` with start cursors; returns the names of every page joined. */
static const char *paged(das_ds_t *ds, das_ds_query_t q, int64_t limit, das_ds_arena_t *a)
{
    char *out = das_ds_alloc(a, 4096);
    size_t o = 0;
    q.limit = limit;
    q.start_cursor = NULL;
    for (int page = 0; page < 200; page++) {
        das_ds_result_t res;
        const char *s = run(ds, NULL, &q, a, &res);
        if (strncmp(s, "ERROR", 5) == 0)
            return s;
        if (!res.n)
            break;
        o += (size_t)snprintf(out + o, 4096 - o, "%s%s", o ? " " : "", s);
        q.start_cursor = res.cursor;
    }
    return out;
}

TEST(test_datastore_pages_of_orders_on_equality_properties)
{
    fake_clock_t clk;
    das_ds_options_t o = base_opts(&clk);
    das_ds_t *ds = open_store(&o);
    CHECK(ds);
    das_ds_arena_t a = {0};
    /* w00..w29: cat = a, b, c in turn, x = 29 - i */
    for (int i = 0; i < 30; i++) {
        char name[8];
        snprintf(name, sizeof name, "w%02d", i);
        das_ds_entity_t *e = entity(&a, key_name(&a, NULL, "W", das_ds_strndup(&a, name, 3)));
        set(&a, e, "cat", vstr(i % 3 == 0 ? "a" : i % 3 == 1 ? "b" : "c"));
        set(&a, e, "x", vint(29 - i));
        CHECK_OK(put1(ds, NULL, &a, e));
    }
    das_ds_filter_t in[] = {FILTER("cat", DAS_DS_IN, vstr("a"), vstr("c"))};
    das_ds_filter_t eq[] = {FILTER("cat", DAS_DS_EQ, vstr("b"))};
    das_ds_order_t cat_desc_x[] = {{"cat", true}, {"x", false}};
    das_ds_order_t x_cat[] = {{"x", false}, {"cat", false}};
    das_ds_order_t cat_x_desc[] = {{"cat", false}, {"x", true}};
    das_ds_query_t q = kind_query("W");
    q.n_filters = 1;
    q.filters = in;
    q.n_orders = 2;
    q.orders = cat_desc_x;
    const char *want = "w29 w26 w23 w20 w17 w14 w11 w08 w05 w02 "
                       "w27 w24 w21 w18 w15 w12 w09 w06 w03 w00";
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), want);
    for (int limit = 1; limit <= 7; limit += 3)
        CHECK_STR_EQ(paged(ds, q, limit, &a), want);
    q.orders = x_cat;
    want = "w29 w27 w26 w24 w23 w21 w20 w18 w17 w15 w14 w12 w11 w09 w08 w06 w05 w03 w02 w00";
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), want);
    for (int limit = 1; limit <= 7; limit += 3)
        CHECK_STR_EQ(paged(ds, q, limit, &a), want);
    q.filters = eq;
    q.orders = cat_x_desc;
    want = "w01 w04 w07 w10 w13 w16 w19 w22 w25 w28";
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), want);
    for (int limit = 1; limit <= 7; limit += 3)
        CHECK_STR_EQ(paged(ds, q, limit, &a), want);
    das_ds_close(ds);
    das_ds_arena_dispose(&a);
}

TEST(test_datastore_cursor_survives_deleting_the_entity_it_points_at)
{
    fake_clock_t clk;
    das_ds_options_t o = base_opts(&clk);
    das_ds_t *ds = open_store(&o);
    CHECK(ds);
    das_ds_arena_t a = {0};
    CHECK_OK(put_q(ds, &a));
    das_ds_err_t err;
    /* a scan (ordered by x) and a merge (equality, no order) */
    das_ds_order_t x_asc = {"x", false};
    das_ds_query_t q = kind_query("Q");
    q.n_orders = 1;
    q.orders = &x_asc;
    q.limit = 2;
    das_ds_result_t res;
    CHECK_STR_EQ(run(ds, NULL, &q, &a, &res), "a b");
    CHECK_OK(das_ds_delete(ds, NULL, key_name(&a, NULL, "Q", "b"), 1, &err));
    CHECK_OK(das_ds_delete(ds, NULL, key_name(&a, NULL, "Q", "c"), 1, &err));
    q.start_cursor = res.cursor;
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), "d e");

    das_ds_filter_t f[] = {FILTER("y", DAS_DS_EQ, vint(2))}; /* a, c (gone), e */
    das_ds_query_t m = kind_query("Q");
    m.n_filters = 1;
    m.filters = f;
    m.limit = 1;
    CHECK_STR_EQ(run(ds, NULL, &m, &a, &res), "a");
    CHECK_OK(das_ds_delete(ds, NULL, key_name(&a, NULL, "Q", "a"), 1, &err));
    m.start_cursor = res.cursor;
    m.limit = -1;
    CHECK_STR_EQ(run(ds, NULL, &m, &a, NULL), "e");
    das_ds_close(ds);
    das_ds_arena_dispose(&a);
}

TEST(test_datastore_cursor_from_another_query_is_refused)
{
    fake_clock_t clk;
    das_ds_options_t o = base_opts(&clk);
    das_ds_t *ds = open_store(&o);
    CHECK(ds);
    das_ds_arena_t a = {0};
    CHECK_OK(put_q(ds, &a));
    CHECK_OK(put_x(ds, &a, "Other", "a", 1));
    das_ds_order_t x_asc = {"x", false}, x_desc = {"x", true};
    das_ds_query_t q = kind_query("Q");
    q.n_orders = 1;
    q.orders = &x_asc;
    q.limit = 2;
    das_ds_result_t res;
    CHECK_STR_EQ(run(ds, NULL, &q, &a, &res), "a b");
    const char *cursor = res.cursor;
    int code;
    das_ds_query_t other = q;
    other.start_cursor = cursor;
    other.orders = &x_desc; /* direction */
    CHECK_STR_CONTAINS(query_error(ds, NULL, &other, &a, &code), "Cursor does not match query");
    CHECK_EQ(code, AE_EINVAL);
    other = q;
    other.start_cursor = cursor;
    other.kind = "Other"; /* kind */
    CHECK_STR_CONTAINS(query_error(ds, NULL, &other, &a, &code), "Cursor does not match query");
    CHECK_EQ(code, AE_EINVAL);
    das_ds_filter_t f[] = {FILTER("x", DAS_DS_GT, vint(0))};
    other = q;
    other.end_cursor = cursor;
    other.n_filters = 1; /* filters */
    other.filters = f;
    CHECK_STR_CONTAINS(query_error(ds, NULL, &other, &a, &code), "Cursor does not match query");
    CHECK_EQ(code, AE_EINVAL);
    other = q;
    other.start_cursor = "not-a-cursor!";
    query_error(ds, NULL, &other, &a, &code);
    CHECK_EQ(code, AE_EINVAL);
    /* a different limit is the same query */
    other = q;
    other.start_cursor = cursor;
    other.limit = 10;
    CHECK_STR_EQ(run(ds, NULL, &other, &a, NULL), "c d e");
    das_ds_close(ds);
    das_ds_arena_dispose(&a);
}

TEST(test_datastore_query_rules_and_their_wording)
{
    fake_clock_t clk;
    das_ds_options_t o = base_opts(&clk);
    das_ds_t *ds = open_store(&o);
    CHECK(ds);
    das_ds_arena_t a = {0};
    CHECK_OK(put_q(ds, &a));
    int code;
    das_ds_query_t q;

    das_ds_filter_t two_ineq[] = {FILTER("x", DAS_DS_GT, vint(1)), FILTER("y", DAS_DS_LT, vint(3))};
    q = kind_query("Q");
    q.n_filters = 2;
    q.filters = two_ineq;
    CHECK_STR_EQ(query_error(ds, NULL, &q, &a, &code),
                 "Only one inequality filter per query is supported. Encountered both x and y");
    CHECK_EQ(code, AE_EINVAL);

    das_ds_filter_t ineq[] = {FILTER("x", DAS_DS_GT, vint(1))};
    das_ds_order_t y_asc = {"y", false};
    q = kind_query("Q");
    q.n_filters = 1;
    q.filters = ineq;
    q.n_orders = 1;
    q.orders = &y_asc;
    CHECK_STR_EQ(query_error(ds, NULL, &q, &a, &code),
                 "The first sort property must be the same as the property to which the "
                 "inequality filter is applied.  In your query the first sort property is y but "
                 "the inequality filter is on x");
    CHECK_EQ(code, AE_EINVAL);

    q = (das_ds_query_t){.limit = -1, .n_filters = 1, .filters = ineq};
    CHECK_STR_EQ(query_error(ds, NULL, &q, &a, &code), "kind is required for non-__key__ filters");
    CHECK_EQ(code, AE_EINVAL);
    q = (das_ds_query_t){.limit = -1, .n_orders = 1, .orders = &y_asc};
    CHECK_STR_EQ(query_error(ds, NULL, &q, &a, &code),
                 "kind is required for all orders except __key__ ascending");

    /* 100 components pass, 101 do not (the ancestor counts) */
    das_ds_filter_t many[101];
    das_ds_value_t zero = vint(0);
    for (int i = 0; i < 101; i++)
        many[i] = (das_ds_filter_t){"x", DAS_DS_GE, 1, &zero};
    q = kind_query("Q");
    q.n_filters = 100;
    q.filters = many;
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), "a b c d e");
    q.n_filters = 99;
    q.ancestor = key_name(&a, NULL, "Q", "a");
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), "a");
    q.n_filters = 100;
    CHECK_STR_EQ(query_error(ds, NULL, &q, &a, &code),
                 "query is too large. may not have more than 100 filters + sort orders ancestor "
                 "total");
    CHECK_EQ(code, AE_EINVAL);

    /* 30 subqueries pass, 32 do not */
    das_ds_filter_t subs[] = {
        FILTER("x", DAS_DS_IN, vint(1), vint(2), vint(3), vint(4), vint(5)),
        FILTER("y", DAS_DS_IN, vint(1), vint(2), vint(3)),
        FILTER("cat", DAS_DS_IN, vstr("red"), vstr("blue")),
    };
    q = kind_query("Q");
    q.n_filters = 3;
    q.filters = subs;
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), "a b c d");
    das_ds_filter_t too_many[] = {
        FILTER("x", DAS_DS_IN, vint(1), vint(2), vint(3), vint(4)),
        FILTER("y", DAS_DS_IN, vint(1), vint(2), vint(3), vint(4)),
        FILTER("cat", DAS_DS_NE, vstr("red")),
    };
    q.filters = too_many;
    CHECK_STR_EQ(query_error(ds, NULL, &q, &a, &code),
                 "Cannot satisfy query -- too many subqueries (max: 30, got 32).");
    CHECK_EQ(code, AE_EINVAL);

    const char *proj_x[] = {"x"}, *proj_xx[] = {"x", "x"}, *proj_y[] = {"y"};
    q = kind_query("Q");
    q.n_projection = 1;
    q.projection = proj_x;
    q.keys_only = true;
    CHECK_STR_EQ(query_error(ds, NULL, &q, &a, &code),
                 "projection and keys_only cannot both be set");
    CHECK_EQ(code, AE_EINVAL);
    q.keys_only = false;
    q.n_projection = 2;
    q.projection = proj_xx;
    CHECK_STR_EQ(query_error(ds, NULL, &q, &a, &code), "cannot project a property multiple times");
    das_ds_filter_t eq_y[] = {FILTER("y", DAS_DS_EQ, vint(1))};
    q.n_projection = 1;
    q.projection = proj_y;
    q.n_filters = 1;
    q.filters = eq_y;
    CHECK_STR_EQ(query_error(ds, NULL, &q, &a, &code),
                 "cannot use projection on a property with an equality filter");
    CHECK_EQ(code, AE_EINVAL);

    das_ds_txn_t *txn;
    CHECK_OK(das_ds_begin(ds, NULL, &txn));
    q = kind_query("Q");
    CHECK_STR_EQ(query_error(ds, txn, &q, &a, &code),
                 "Only ancestor queries are allowed inside transactions.");
    CHECK_EQ(code, AE_EINVAL);
    das_ds_rollback(ds, txn);
    das_ds_close(ds);
    das_ds_arena_dispose(&a);
}

TEST(test_datastore_cursors_with_offset_projection_distinct_in_and_keys)
{
    fake_clock_t clk;
    das_ds_options_t o = base_opts(&clk);
    das_ds_t *ds = open_store(&o);
    CHECK(ds);
    das_ds_arena_t a = {0};
    CHECK_OK(put_q(ds, &a));
    das_ds_result_t res;
    /* offset, then a cursor: the cursor is after the last result */
    das_ds_order_t x_asc = {"x", false};
    das_ds_query_t q = kind_query("Q");
    q.n_orders = 1;
    q.orders = &x_asc;
    q.offset = 1;
    q.limit = 2;
    CHECK_STR_EQ(run(ds, NULL, &q, &a, &res), "b c");
    q.offset = 0;
    q.start_cursor = res.cursor;
    CHECK_STR_EQ(run(ds, NULL, &q, &a, &res), "d e");
    /* projection pages */
    const char *proj_cat[] = {"cat"};
    das_ds_query_t p = kind_query("Q");
    p.n_projection = 1;
    p.projection = proj_cat;
    p.limit = 2;
    CHECK_STR_EQ(run(ds, NULL, &p, &a, &res), "b d");
    p.start_cursor = res.cursor;
    CHECK_STR_EQ(run(ds, NULL, &p, &a, &res), "e a");
    p.start_cursor = res.cursor;
    CHECK_STR_EQ(run(ds, NULL, &p, &a, &res), "c");
    /* distinct pages: a group is not repeated on the next page */
    p.distinct = true;
    p.limit = 1;
    p.start_cursor = NULL;
    char got[64] = "";
    for (int i = 0; i < 5; i++) {
        CHECK(strncmp(run(ds, NULL, &p, &a, &res), "ERROR", 5) != 0);
        if (!res.n)
            break;
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s", *got ? " " : "",
                 prop_of(res.entities[0], "cat")->values[0].u.s.p);
        p.start_cursor = res.cursor;
    }
    CHECK_STR_EQ(got, "blue green red");
    /* IN on an equality, by key, in pages */
    das_ds_filter_t in[] = {FILTER("cat", DAS_DS_IN, vstr("red"), vstr("green"))};
    das_ds_query_t m = kind_query("Q");
    m.n_filters = 1;
    m.filters = in;
    m.limit = 2;
    CHECK_STR_EQ(run(ds, NULL, &m, &a, &res), "a c");
    m.start_cursor = res.cursor;
    CHECK_STR_EQ(run(ds, NULL, &m, &a, &res), "e");
    /* IN ordered by the IN property, in pages */
    das_ds_order_t cat_desc = {"cat", true};
    m.n_orders = 1;
    m.orders = &cat_desc;
    m.start_cursor = NULL;
    CHECK_STR_EQ(run(ds, NULL, &m, &a, &res), "a c");
    m.start_cursor = res.cursor;
    CHECK_STR_EQ(run(ds, NULL, &m, &a, &res), "e");
    /* __key__ IN and __key__ != */
    das_ds_filter_t kin[] = {FILTER("__key__", DAS_DS_IN, vkey(key_name(&a, NULL, "Q", "d")),
                                    vkey(key_name(&a, NULL, "Q", "b")))};
    das_ds_query_t k = kind_query("Q");
    k.n_filters = 1;
    k.filters = kin;
    CHECK_STR_EQ(run(ds, NULL, &k, &a, &res), "b d");
    das_ds_filter_t kne[] = {FILTER("__key__", DAS_DS_NE, vkey(key_name(&a, NULL, "Q", "c")))};
    k.filters = kne;
    k.limit = 3;
    CHECK_STR_EQ(run(ds, NULL, &k, &a, &res), "a b d");
    k.start_cursor = res.cursor;
    CHECK_STR_EQ(run(ds, NULL, &k, &a, &res), "e");
    /* keys only, descending by key, in pages */
    das_ds_order_t key_desc = {"__key__", true};
    das_ds_query_t kd = kind_query("Q");
    kd.keys_only = true;
    kd.n_orders = 1;
    kd.orders = &key_desc;
    kd.limit = 3;
    CHECK_STR_EQ(run(ds, NULL, &kd, &a, &res), "e d c");
    kd.start_cursor = res.cursor;
    CHECK_STR_EQ(run(ds, NULL, &kd, &a, &res), "b a");
    /* an inequality on __key__, descending */
    das_ds_filter_t kgt[] = {FILTER("__key__", DAS_DS_GT, vkey(key_name(&a, NULL, "Q", "b")))};
    kd.n_filters = 1;
    kd.filters = kgt;
    kd.start_cursor = NULL;
    kd.limit = 2;
    CHECK_STR_EQ(run(ds, NULL, &kd, &a, &res), "e d");
    kd.start_cursor = res.cursor;
    CHECK_STR_EQ(run(ds, NULL, &kd, &a, &res), "c");
    das_ds_filter_t krange[] = {FILTER("__key__", DAS_DS_GE, vkey(key_name(&a, NULL, "Q", "b"))),
                                FILTER("__key__", DAS_DS_LT, vkey(key_name(&a, NULL, "Q", "e")))};
    kd.n_filters = 2;
    kd.filters = krange;
    kd.start_cursor = NULL;
    kd.limit = -1;
    CHECK_STR_EQ(run(ds, NULL, &kd, &a, &res), "d c b");
    das_ds_filter_t kne_desc[] = {
        FILTER("__key__", DAS_DS_NE, vkey(key_name(&a, NULL, "Q", "c")))};
    kd.n_filters = 1;
    kd.filters = kne_desc;
    CHECK_STR_EQ(run(ds, NULL, &kd, &a, &res), "e d b a");
    das_ds_close(ds);
    das_ds_arena_dispose(&a);
}

TEST(test_datastore_query_ancestor_with_equality_and_missing_properties)
{
    fake_clock_t clk;
    das_ds_options_t o = base_opts(&clk);
    das_ds_t *ds = open_store(&o);
    CHECK(ds);
    das_ds_arena_t a = {0};
    das_ds_key_t *p1 = key_name(&a, NULL, "P", "1"), *p2 = key_name(&a, NULL, "P", "2");
    const char *names[] = {"a", "b", "c", "d"};
    for (int i = 0; i < 4; i++) {
        das_ds_entity_t *e = entity(&a, key_name(&a, i < 2 ? p1 : p2, "C", names[i]));
        set(&a, e, "color", vstr(i % 2 ? "red" : "blue"));
        CHECK_OK(put1(ds, NULL, &a, e));
    }
    das_ds_filter_t f[] = {FILTER("color", DAS_DS_EQ, vstr("red"))};
    das_ds_query_t q = kind_query("C");
    q.n_filters = 1;
    q.filters = f;
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), "b d");
    q.ancestor = p2;
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), "d");
    /* a filter or an order on a property no entity has */
    das_ds_filter_t none[] = {FILTER("nothing", DAS_DS_EQ, vint(1))};
    q.ancestor = NULL;
    q.filters = none;
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), "");
    das_ds_order_t by_nothing = {"nothing", false};
    q.n_filters = 0;
    q.n_orders = 1;
    q.orders = &by_nothing;
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), "");
    /* a kind nobody stored */
    das_ds_query_t empty = kind_query("Nobody");
    CHECK_STR_EQ(run(ds, NULL, &empty, &a, NULL), "");
    /* the ancestor must be in the query's namespace */
    das_ds_query_t wrong = kind_query("C");
    wrong.ns = "other";
    wrong.ancestor = p1;
    int code;
    query_error(ds, NULL, &wrong, &a, &code);
    CHECK_EQ(code, AE_EINVAL);
    das_ds_close(ds);
    das_ds_arena_dispose(&a);
}

TEST(test_datastore_composite_index_follows_updates_and_deletes)
{
    fake_clock_t clk;
    das_ds_options_t o = base_opts(&clk);
    das_ds_t *ds = open_store(&o);
    CHECK(ds);
    das_ds_arena_t a = {0};
    das_ds_err_t err;
    das_ds_key_t *book = key_name(&a, NULL, "Guestbook", "g");
    for (int i = 1; i <= 3; i++) {
        das_ds_entity_t *e = entity(&a, key_id(&a, book, "Greeting", i));
        set(&a, e, "date", vint(i));
        CHECK_OK(put1(ds, NULL, &a, e));
    }
    das_ds_order_t date_desc = {"date", true};
    das_ds_query_t q = kind_query("Greeting");
    q.ancestor = book;
    q.n_orders = 1;
    q.orders = &date_desc;
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), "3 2 1");
    das_ds_entity_t *e = entity(&a, key_id(&a, book, "Greeting", 1));
    set(&a, e, "date", vint(10));
    CHECK_OK(put1(ds, NULL, &a, e));
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), "1 3 2");
    CHECK_OK(das_ds_delete(ds, NULL, key_id(&a, book, "Greeting", 3), 1, &err));
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), "1 2");
    /* a greeting without a date is not in the index */
    CHECK_OK(put1(ds, NULL, &a, entity(&a, key_id(&a, book, "Greeting", 2))));
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), "1");
    das_ds_close(ds);
    das_ds_arena_dispose(&a);
}

TEST(test_datastore_composite_index_is_kept_up_after_reopening)
{
    fake_clock_t clk;
    CHECK(new_dir());
    char path[PATH_MAX + 32];
    das_ds_options_t o = base_opts(&clk);
    o.path = in_dir(path, sizeof path, "datastore.db");
    das_ds_t *ds = open_store(&o);
    CHECK(ds);
    das_ds_arena_t a = {0};
    das_ds_order_t two[] = {{"y", false}, {"x", true}};
    das_ds_query_t q = kind_query("Q");
    q.n_orders = 2;
    q.orders = two;
    CHECK_OK(put_q(ds, &a));
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), "d b e c a");
    das_ds_close(ds);
    ds = open_store(&o);
    CHECK(ds);
    das_ds_entity_t *e = entity(&a, key_name(&a, NULL, "Q", "f"));
    set(&a, e, "x", vint(6));
    set(&a, e, "y", vint(1));
    CHECK_OK(put1(ds, NULL, &a, e));
    e = entity(&a, key_name(&a, NULL, "Q", "a"));
    set(&a, e, "x", vint(1));
    set(&a, e, "y", vint(1));
    CHECK_OK(put1(ds, NULL, &a, e));
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), "f d b a e c");
    das_ds_close(ds);
    das_ds_arena_dispose(&a);
}

/* ---------------------------------------------------------------- transactions */

TEST(test_datastore_txn_second_commit_on_one_group_is_contention)
{
    fake_clock_t clk;
    das_ds_options_t o = base_opts(&clk);
    das_ds_t *ds = open_store(&o);
    CHECK(ds);
    das_ds_arena_t a = {0};
    das_ds_err_t err;
    CHECK_OK(put_x(ds, &a, "C", "k", 1));
    das_ds_key_t *k = key_name(&a, NULL, "C", "k");
    das_ds_txn_t *t1, *t2;
    CHECK_OK(das_ds_begin(ds, NULL, &t1));
    CHECK_OK(das_ds_begin(ds, NULL, &t2));
    das_ds_entity_t *e1 = get1(ds, t1, &a, k), *e2 = get1(ds, t2, &a, k);
    CHECK(e1 && e2);
    e1->props[0].values[0].u.i = 2;
    e2->props[0].values[0].u.i = 3;
    CHECK_OK(put1(ds, t1, &a, e1));
    CHECK_OK(put1(ds, t2, &a, e2));
    CHECK_OK(das_ds_commit(ds, t1, &err));
    CHECK_EQ(das_ds_commit(ds, t2, &err), AE_ECONTENTION);
    CHECK_EQ(int_of(get1(ds, NULL, &a, k), "x"), 2);
    das_ds_stats_t st;
    das_ds_stats(ds, &st);
    CHECK_EQ(st.contentions, 1);
    das_ds_close(ds);
    das_ds_arena_dispose(&a);
}

TEST(test_datastore_txn_reads_a_snapshot_and_then_fails)
{
    fake_clock_t clk;
    das_ds_options_t o = base_opts(&clk);
    das_ds_t *ds = open_store(&o);
    CHECK(ds);
    das_ds_arena_t a = {0};
    das_ds_err_t err;
    CHECK_OK(put_x(ds, &a, "C", "k", 1));
    das_ds_key_t *k = key_name(&a, NULL, "C", "k");
    das_ds_txn_t *t;
    CHECK_OK(das_ds_begin(ds, NULL, &t));
    CHECK_EQ(int_of(get1(ds, t, &a, k), "x"), 1);
    CHECK_OK(put_x(ds, &a, "C", "k", 2)); /* outside */
    CHECK_EQ(int_of(get1(ds, t, &a, k), "x"), 1);
    /* its own writes are not read back either */
    das_ds_entity_t *e = entity(&a, k);
    set(&a, e, "x", vint(10));
    CHECK_OK(put1(ds, t, &a, e));
    CHECK_EQ(int_of(get1(ds, t, &a, k), "x"), 1);
    CHECK_EQ(das_ds_commit(ds, t, &err), AE_ECONTENTION);
    CHECK_STR_EQ(err.msg, "Concurrency exception.");
    CHECK_EQ(int_of(get1(ds, NULL, &a, k), "x"), 2);
    das_ds_close(ds);
    das_ds_arena_dispose(&a);
}

TEST(test_datastore_txn_blind_write_does_not_conflict)
{
    fake_clock_t clk;
    das_ds_options_t o = base_opts(&clk);
    das_ds_t *ds = open_store(&o);
    CHECK(ds);
    das_ds_arena_t a = {0};
    das_ds_err_t err;
    CHECK_OK(put_x(ds, &a, "C", "k", 1));
    das_ds_key_t *k = key_name(&a, NULL, "C", "k");
    das_ds_txn_t *t;
    CHECK_OK(das_ds_begin(ds, NULL, &t));
    das_ds_entity_t *e = entity(&a, k);
    set(&a, e, "x", vint(5));
    CHECK_OK(put1(ds, t, &a, e));
    CHECK_OK(put_x(ds, &a, "C", "k", 2)); /* outside */
    CHECK_OK(das_ds_commit(ds, t, &err));
    CHECK_EQ(int_of(get1(ds, NULL, &a, k), "x"), 5);
    das_ds_close(ds);
    das_ds_arena_dispose(&a);
}

TEST(test_datastore_non_transactional_write_fails_an_open_txn_on_its_group)
{
    fake_clock_t clk;
    das_ds_options_t o = base_opts(&clk);
    das_ds_t *ds = open_store(&o);
    CHECK(ds);
    das_ds_arena_t a = {0};
    das_ds_err_t err;
    das_ds_key_t *root = key_name(&a, NULL, "P", "p");
    CHECK_OK(put1(ds, NULL, &a, entity(&a, root)));
    das_ds_txn_t *t, *other;
    CHECK_OK(das_ds_begin(ds, NULL, &t));
    CHECK_OK(das_ds_begin(ds, NULL, &other));
    CHECK(get1(ds, t, &a, root));
    CHECK(get1(ds, other, &a, key_name(&a, NULL, "P", "q")) == NULL);
    /* a child in the same group, written outside any transaction */
    CHECK_OK(put1(ds, NULL, &a, entity(&a, key_id(&a, root, "Child", 1))));
    das_ds_entity_t *e = entity(&a, root);
    set(&a, e, "x", vint(1));
    CHECK_OK(put1(ds, t, &a, e));
    CHECK_EQ(das_ds_commit(ds, t, &err), AE_ECONTENTION);
    CHECK(int_of(get1(ds, NULL, &a, root), "x") == -999);
    /* a transaction on another group is not disturbed */
    das_ds_entity_t *q = entity(&a, key_name(&a, NULL, "P", "q"));
    set(&a, q, "x", vint(2));
    CHECK_OK(put1(ds, other, &a, q));
    CHECK_OK(das_ds_commit(ds, other, &err));
    CHECK_EQ(int_of(get1(ds, NULL, &a, &q->key), "x"), 2);
    das_ds_close(ds);
    das_ds_arena_dispose(&a);
}

TEST(test_datastore_txn_other_group_untouched_commits)
{
    fake_clock_t clk;
    das_ds_options_t o = base_opts(&clk);
    das_ds_t *ds = open_store(&o);
    CHECK(ds);
    das_ds_arena_t a = {0};
    das_ds_err_t err;
    CHECK_OK(put_x(ds, &a, "C", "k", 1));
    das_ds_key_t *k = key_name(&a, NULL, "C", "k");
    das_ds_txn_t *t;
    CHECK_OK(das_ds_begin(ds, NULL, &t));
    das_ds_entity_t *e = get1(ds, t, &a, k);
    CHECK(e);
    CHECK_OK(put_x(ds, &a, "C", "other", 1)); /* another group */
    e->props[0].values[0].u.i = 2;
    CHECK_OK(put1(ds, t, &a, e));
    CHECK_OK(das_ds_commit(ds, t, &err));
    CHECK_EQ(int_of(get1(ds, NULL, &a, k), "x"), 2);
    das_ds_close(ds);
    das_ds_arena_dispose(&a);
}

TEST(test_datastore_xg_allows_25_groups_and_the_26th_fails_leaving_it_usable)
{
    fake_clock_t clk;
    das_ds_options_t o = base_opts(&clk);
    das_ds_t *ds = open_store(&o);
    CHECK(ds);
    das_ds_arena_t a = {0};
    das_ds_err_t err;
    das_ds_key_t keys[26];
    for (int i = 0; i < 26; i++)
        keys[i] = *key_id(&a, NULL, "G", i + 1);
    das_ds_txn_options_t xg = {.xg = true};
    das_ds_txn_t *t;
    CHECK_OK(das_ds_begin(ds, &xg, &t));
    das_ds_entity_t *out[26];
    CHECK_OK(das_ds_get(ds, t, keys, 25, &a, out, &err));
    CHECK_EQ(das_ds_get(ds, t, &keys[25], 1, &a, out, &err), AE_EINVAL);
    CHECK_STR_EQ(err.msg, "operating on too many entity groups in a single transaction.");
    das_ds_entity_t *e26 = entity(&a, &keys[25]);
    CHECK_EQ(das_ds_put(ds, t, e26, 1, &a, &err), AE_EINVAL);
    CHECK_STR_EQ(err.msg, "operating on too many entity groups in a single transaction.");
    /* still usable: write two of its groups and commit */
    das_ds_entity_t *e1 = entity(&a, &keys[0]), *e25 = entity(&a, &keys[24]);
    set(&a, e1, "x", vint(1));
    set(&a, e25, "x", vint(25));
    CHECK_OK(put1(ds, t, &a, e1));
    CHECK_OK(put1(ds, t, &a, e25));
    CHECK_OK(das_ds_commit(ds, t, &err));
    CHECK_EQ(int_of(get1(ds, NULL, &a, &keys[0]), "x"), 1);
    CHECK_EQ(int_of(get1(ds, NULL, &a, &keys[24]), "x"), 25);
    CHECK(get1(ds, NULL, &a, &keys[25]) == NULL);
    das_ds_close(ds);
    das_ds_arena_dispose(&a);
}

TEST(test_datastore_txn_batch_over_the_group_limit_adds_nothing)
{
    fake_clock_t clk;
    das_ds_options_t o = base_opts(&clk);
    das_ds_t *ds = open_store(&o);
    CHECK(ds);
    das_ds_arena_t a = {0};
    das_ds_err_t err;
    das_ds_key_t keys[26];
    for (int i = 0; i < 26; i++)
        keys[i] = *key_id(&a, NULL, "G", i + 1);
    das_ds_txn_options_t xg = {.xg = true};
    das_ds_txn_t *t;
    CHECK_OK(das_ds_begin(ds, &xg, &t));
    das_ds_entity_t *out[26];
    CHECK_OK(das_ds_get(ds, t, keys, 24, &a, out, &err));
    /* groups 25 and 26 in one batch: the batch fails whole */
    das_ds_entity_t batch[2] = {{.key = keys[24]}, {.key = keys[25]}};
    CHECK_EQ(das_ds_put(ds, t, batch, 2, &a, &err), AE_EINVAL);
    CHECK_STR_EQ(err.msg, "operating on too many entity groups in a single transaction.");
    CHECK_OK(das_ds_commit(ds, t, &err));
    CHECK(get1(ds, NULL, &a, &keys[24]) == NULL);
    /* the same for a delete */
    CHECK_OK(put1(ds, NULL, &a, entity(&a, &keys[24])));
    CHECK_OK(das_ds_begin(ds, &xg, &t));
    CHECK_OK(das_ds_get(ds, t, keys, 24, &a, out, &err));
    CHECK_EQ(das_ds_delete(ds, t, &keys[24], 2, &err), AE_EINVAL);
    CHECK_OK(das_ds_commit(ds, t, &err));
    CHECK(get1(ds, NULL, &a, &keys[24]));
    /* without xg, a batch over two groups */
    das_ds_txn_t *one;
    CHECK_OK(das_ds_begin(ds, NULL, &one));
    CHECK_EQ(das_ds_put(ds, one, batch, 2, &a, &err), AE_EINVAL);
    CHECK_STR_EQ(err.msg, "cross-groups transaction need to be explicitly specified (xg=True)");
    CHECK_OK(das_ds_commit(ds, one, &err));
    CHECK(get1(ds, NULL, &a, &keys[25]) == NULL);
    das_ds_close(ds);
    das_ds_arena_dispose(&a);
}

TEST(test_datastore_non_xg_second_group_fails_leaving_it_usable)
{
    fake_clock_t clk;
    das_ds_options_t o = base_opts(&clk);
    das_ds_t *ds = open_store(&o);
    CHECK(ds);
    das_ds_arena_t a = {0};
    das_ds_err_t err;
    das_ds_key_t *g1 = key_id(&a, NULL, "G", 1), *g2 = key_id(&a, NULL, "G", 2);
    das_ds_txn_t *t;
    CHECK_OK(das_ds_begin(ds, NULL, &t));
    CHECK(get1(ds, t, &a, g1) == NULL);
    das_ds_entity_t *out;
    CHECK_EQ(das_ds_get(ds, t, g2, 1, &a, &out, &err), AE_EINVAL);
    CHECK_STR_EQ(err.msg, "cross-groups transaction need to be explicitly specified (xg=True)");
    CHECK_EQ(das_ds_put(ds, t, entity(&a, g2), 1, &a, &err), AE_EINVAL);
    CHECK_STR_EQ(err.msg, "cross-groups transaction need to be explicitly specified (xg=True)");
    /* a child of the first group is the same group */
    CHECK_OK(put1(ds, t, &a, entity(&a, key_id(&a, g1, "Child", 1))));
    CHECK_OK(put1(ds, t, &a, entity(&a, g1)));
    CHECK_OK(das_ds_commit(ds, t, &err));
    CHECK(get1(ds, NULL, &a, g1));
    CHECK(get1(ds, NULL, &a, key_id(&a, g1, "Child", 1)));
    das_ds_close(ds);
    das_ds_arena_dispose(&a);
}

TEST(test_datastore_read_only_txn_refuses_writes_and_empty_commit_is_ok)
{
    fake_clock_t clk;
    das_ds_options_t o = base_opts(&clk);
    das_ds_t *ds = open_store(&o);
    CHECK(ds);
    das_ds_arena_t a = {0};
    das_ds_err_t err;
    CHECK_OK(put_x(ds, &a, "C", "k", 1));
    das_ds_key_t *k = key_name(&a, NULL, "C", "k");
    das_ds_txn_options_t ro = {.read_only = true};
    das_ds_txn_t *t;
    CHECK_OK(das_ds_begin(ds, &ro, &t));
    CHECK_EQ(int_of(get1(ds, t, &a, k), "x"), 1);
    das_ds_entity_t *e = entity(&a, k);
    CHECK_EQ(das_ds_put(ds, t, e, 1, &a, &err), AE_EINVAL);
    CHECK_STR_EQ(err.msg, "Cannot modify entities in a read-only transaction.");
    CHECK_EQ(das_ds_delete(ds, t, k, 1, &err), AE_EINVAL);
    CHECK_STR_EQ(err.msg, "Cannot modify entities in a read-only transaction.");
    CHECK_OK(das_ds_commit(ds, t, &err));
    CHECK_EQ(int_of(get1(ds, NULL, &a, k), "x"), 1);
    /* an empty transaction commits */
    CHECK_OK(das_ds_begin(ds, NULL, &t));
    CHECK_OK(das_ds_commit(ds, t, &err));
    /* a rollback discards the writes */
    CHECK_OK(das_ds_begin(ds, NULL, &t));
    CHECK_OK(das_ds_delete(ds, t, k, 1, &err));
    das_ds_rollback(ds, t);
    CHECK(get1(ds, NULL, &a, k));
    das_ds_close(ds);
    das_ds_arena_dispose(&a);
}

TEST(test_datastore_txn_put_keeps_what_was_put_not_later_changes)
{
    fake_clock_t clk;
    das_ds_options_t o = base_opts(&clk);
    das_ds_t *ds = open_store(&o);
    CHECK(ds);
    das_ds_arena_t a = {0}, scratch = {0};
    das_ds_err_t err;
    das_ds_txn_t *t;
    CHECK_OK(das_ds_begin(ds, NULL, &t));
    das_ds_entity_t *e = entity(&scratch, key_name(&scratch, NULL, "C", "k"));
    set(&scratch, e, "x", vint(1));
    set(&scratch, e, "s", vstr("first"));
    CHECK_OK(put1(ds, t, &scratch, e));
    /* the caller reuses its entity and frees its memory before the commit */
    e->props[0].values[0].u.i = 2;
    memset(e->props, 0xab, e->n * sizeof *e->props);
    das_ds_arena_dispose(&scratch);
    CHECK_OK(das_ds_commit(ds, t, &err));
    das_ds_entity_t *g = get1(ds, NULL, &a, key_name(&a, NULL, "C", "k"));
    CHECK_EQ(int_of(g, "x"), 1);
    CHECK_STR_EQ(prop_of(g, "s")->values[0].u.s.p, "first");
    das_ds_close(ds);
    das_ds_arena_dispose(&a);
}

TEST(test_datastore_txn_incomplete_key_gets_its_id_at_put)
{
    fake_clock_t clk;
    das_ds_options_t o = base_opts(&clk);
    das_ds_t *ds = open_store(&o);
    CHECK(ds);
    das_ds_arena_t a = {0};
    das_ds_err_t err;
    das_ds_txn_t *t;
    CHECK_OK(das_ds_begin(ds, NULL, &t));
    das_ds_entity_t *e = entity(&a, key_id(&a, NULL, "C", 0));
    CHECK_OK(put1(ds, t, &a, e));
    CHECK_EQ(e->key.path[0].id, 1);
    CHECK(get1(ds, NULL, &a, &e->key) == NULL); /* not before the commit */
    CHECK_OK(das_ds_commit(ds, t, &err));
    CHECK(get1(ds, NULL, &a, &e->key));
    das_ds_close(ds);
    das_ds_arena_dispose(&a);
}

TEST(test_datastore_txn_ancestor_query_reads_the_snapshot)
{
    fake_clock_t clk;
    das_ds_options_t o = base_opts(&clk);
    das_ds_t *ds = open_store(&o);
    CHECK(ds);
    das_ds_arena_t a = {0};
    das_ds_key_t *root = key_name(&a, NULL, "P", "p");
    CHECK_OK(put1(ds, NULL, &a, entity(&a, key_id(&a, root, "C", 1))));
    das_ds_txn_t *t;
    CHECK_OK(das_ds_begin(ds, NULL, &t));
    das_ds_query_t q = kind_query("C");
    q.ancestor = root;
    CHECK_STR_EQ(run(ds, t, &q, &a, NULL), "1");
    CHECK_OK(put1(ds, NULL, &a, entity(&a, key_id(&a, root, "C", 2))));
    CHECK_STR_EQ(run(ds, t, &q, &a, NULL), "1");
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), "1 2");
    das_ds_rollback(ds, t);
    das_ds_close(ds);
    das_ds_arena_dispose(&a);
}

TEST(test_datastore_xg_txn_sees_contention_at_the_first_read_of_a_new_group)
{
    fake_clock_t clk;
    das_ds_options_t o = base_opts(&clk);
    das_ds_t *ds = open_store(&o);
    CHECK(ds);
    das_ds_arena_t a = {0};
    das_ds_err_t err;
    CHECK_OK(put_x(ds, &a, "G", "1", 1));
    das_ds_txn_options_t xg = {.xg = true};
    das_ds_txn_t *t;
    CHECK_OK(das_ds_begin(ds, &xg, &t));
    CHECK(get1(ds, t, &a, key_name(&a, NULL, "G", "1")));
    CHECK_OK(put_x(ds, &a, "G", "1", 2));
    das_ds_entity_t *out;
    CHECK_EQ(das_ds_get(ds, t, key_name(&a, NULL, "G", "2"), 1, &a, &out, &err),
             AE_ECONTENTION);
    das_ds_rollback(ds, t);
    das_ds_close(ds);
    das_ds_arena_dispose(&a);
}

TEST(test_datastore_txn_under_the_time_policy)
{
    fake_clock_t clk;
    das_ds_options_t o = base_opts(&clk);
    o.consistency = DAS_DS_CONSISTENCY_TIME;
    das_ds_t *ds = open_store(&o);
    CHECK(ds);
    das_ds_arena_t a = {0};
    das_ds_err_t err;
    das_ds_key_t *k = key_name(&a, NULL, "C", "k");
    /* a transaction reads what was committed, applied or not */
    CHECK_OK(put_x(ds, &a, "C", "k", 1));
    das_ds_txn_t *t;
    CHECK_OK(das_ds_begin(ds, NULL, &t));
    das_ds_entity_t *e = get1(ds, t, &a, k);
    CHECK_EQ(int_of(e, "x"), 1);
    e->props[0].values[0].u.i = 2;
    CHECK_OK(put1(ds, t, &a, e));
    CHECK_OK(das_ds_commit(ds, t, &err));
    /* its commit is eventually consistent for global queries, strong for gets */
    das_ds_filter_t f[] = {FILTER("x", DAS_DS_EQ, vint(2))};
    das_ds_query_t q = kind_query("C");
    q.n_filters = 1;
    q.filters = f;
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), "");
    CHECK_EQ(int_of(get1(ds, NULL, &a, k), "x"), 2);
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), "k");
    /* two transactions racing on a group with a pending commit: one wins */
    CHECK_OK(put_x(ds, &a, "C", "k", 3));
    das_ds_txn_t *t1, *t2;
    CHECK_OK(das_ds_begin(ds, NULL, &t1));
    CHECK_OK(das_ds_begin(ds, NULL, &t2));
    das_ds_entity_t *e1 = get1(ds, t1, &a, k), *e2 = get1(ds, t2, &a, k);
    CHECK_EQ(int_of(e1, "x"), 3);
    CHECK_EQ(int_of(e2, "x"), 3);
    CHECK_OK(put1(ds, t1, &a, e1));
    CHECK_OK(put1(ds, t2, &a, e2));
    CHECK_OK(das_ds_commit(ds, t1, &err));
    CHECK_EQ(das_ds_commit(ds, t2, &err), AE_ECONTENTION);
    das_ds_close(ds);
    das_ds_arena_dispose(&a);
}

TEST(test_datastore_txn_query_needing_a_new_composite_index_sees_the_group)
{
    fake_clock_t clk;
    das_ds_options_t o = base_opts(&clk);
    das_ds_t *ds = open_store(&o);
    CHECK(ds);
    das_ds_arena_t a = {0};
    das_ds_key_t *book = key_name(&a, NULL, "Guestbook", "g");
    CHECK_OK(put1(ds, NULL, &a, entity(&a, book)));
    for (int i = 1; i <= 3; i++) {
        das_ds_entity_t *e = entity(&a, key_id(&a, book, "Greeting", i));
        set(&a, e, "date", vint(i));
        CHECK_OK(put1(ds, NULL, &a, e));
    }
    das_ds_txn_t *t;
    CHECK_OK(das_ds_begin(ds, NULL, &t));
    CHECK(get1(ds, t, &a, book)); /* the snapshot is taken here */
    /* ancestor + date desc: the composite index is made (and filled) now */
    das_ds_order_t date_desc = {"date", true};
    das_ds_query_t q = kind_query("Greeting");
    q.ancestor = book;
    q.n_orders = 1;
    q.orders = &date_desc;
    CHECK_STR_EQ(run(ds, t, &q, &a, NULL), "3 2 1");
    das_ds_err_t err;
    CHECK_OK(das_ds_commit(ds, t, &err));
    das_ds_close(ds);
    das_ds_arena_dispose(&a);
}

/* ---------------------------------------------------------------- consistency */

static bool visible(das_ds_t *ds, das_ds_arena_t *a, const char *kind, const char *name)
{
    das_ds_query_t q = kind_query(kind);
    das_ds_result_t res;
    das_ds_err_t err;
    if (das_ds_run_query(ds, NULL, &q, a, &res, &err) != AE_OK)
        return false;
    for (size_t i = 0; i < res.n; i++)
        if (strcmp(last_elem(a, &res.entities[i]->key), name) == 0)
            return true;
    return false;
}

TEST(test_datastore_time_policy_shows_a_commit_to_global_queries_after_100ms)
{
    fake_clock_t clk;
    das_ds_options_t o = base_opts(&clk);
    o.consistency = DAS_DS_CONSISTENCY_TIME;
    o.seed = 0;
    das_ds_t *ds = open_store(&o);
    CHECK(ds);
    das_ds_arena_t a = {0};
    CHECK_EQ(das_ds_next_due_ms(ds), INT64_MAX);
    CHECK_OK(put_x(ds, &a, "E", "a", 1));
    CHECK_EQ(das_ds_next_due_ms(ds), T0 + 100); /* the 98 % case, for seed 0 */
    CHECK(!visible(ds, &a, "E", "a"));
    clk.now_ms = T0 + 99;
    CHECK(!visible(ds, &a, "E", "a"));
    clk.now_ms = T0 + 100;
    CHECK(visible(ds, &a, "E", "a"));
    CHECK_EQ(das_ds_next_due_ms(ds), INT64_MAX);

    /* a get applies the group at once, and then global queries see it too */
    CHECK_OK(put_x(ds, &a, "E", "b", 1));
    CHECK(!visible(ds, &a, "E", "b"));
    CHECK(get1(ds, NULL, &a, key_name(&a, NULL, "E", "b")));
    CHECK(visible(ds, &a, "E", "b"));

    /* so does an ancestor query */
    CHECK_OK(put_x(ds, &a, "E", "c", 1));
    CHECK(!visible(ds, &a, "E", "c"));
    das_ds_query_t q = kind_query("E");
    q.ancestor = key_name(&a, NULL, "E", "c");
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), "c");
    CHECK(visible(ds, &a, "E", "c"));

    /* a delete is eventually consistent too */
    das_ds_err_t err;
    clk.now_ms = T0 + 1000;
    CHECK_OK(das_ds_delete(ds, NULL, key_name(&a, NULL, "E", "a"), 1, &err));
    CHECK(visible(ds, &a, "E", "a"));
    CHECK(get1(ds, NULL, &a, key_name(&a, NULL, "E", "a")) == NULL);
    CHECK(!visible(ds, &a, "E", "a"));
    das_ds_close(ds);
    das_ds_arena_dispose(&a);
}

TEST(test_datastore_time_policy_apply_due_and_next_due)
{
    fake_clock_t clk;
    das_ds_options_t o = base_opts(&clk);
    o.consistency = DAS_DS_CONSISTENCY_TIME;
    das_ds_t *ds = open_store(&o);
    CHECK(ds);
    das_ds_arena_t a = {0};
    CHECK_OK(put_x(ds, &a, "E", "a", 1));
    clk.now_ms = T0 + 50;
    CHECK_OK(put_x(ds, &a, "E", "b", 1));
    das_ds_stats_t st;
    das_ds_stats(ds, &st);
    CHECK_EQ(st.pending, 2);
    CHECK_EQ(das_ds_next_due_ms(ds), T0 + 100);
    clk.now_ms = T0 + 99;
    CHECK_EQ(das_ds_apply_due(ds, 10), 0);
    clk.now_ms = T0 + 100;
    CHECK_EQ(das_ds_apply_due(ds, 10), 1);
    CHECK_EQ(das_ds_next_due_ms(ds), T0 + 150);
    das_ds_stats(ds, &st);
    CHECK_EQ(st.pending, 1);
    /* what apply_due applied, a query shows without waiting more */
    clk.now_ms = T0 + 100;
    CHECK(visible(ds, &a, "E", "a"));
    CHECK(!visible(ds, &a, "E", "b"));
    /* max bounds one call */
    clk.now_ms = T0 + 200;
    CHECK_OK(put_x(ds, &a, "E", "c", 1));
    CHECK_OK(put_x(ds, &a, "E", "d", 1));
    clk.now_ms = T0 + 1000;
    CHECK_EQ(das_ds_apply_due(ds, 1), 1);
    CHECK_EQ(das_ds_apply_due(ds, 5), 2);
    CHECK_EQ(das_ds_apply_due(ds, 5), 0);
    CHECK_EQ(das_ds_next_due_ms(ds), INT64_MAX);
    CHECK(visible(ds, &a, "E", "d"));
    das_ds_close(ds);
    das_ds_arena_dispose(&a);
}

/* Puts 16 entities in 16 groups, then runs 6 global queries; returns each query's visible set
 * as 16 bits. */
static int random_run(uint64_t seed, uint32_t seen[6])
{
    fake_clock_t clk;
    das_ds_options_t o = base_opts(&clk);
    o.consistency = DAS_DS_CONSISTENCY_RANDOM;
    o.seed = seed;
    das_ds_t *ds = open_store(&o);
    if (!ds)
        return -1;
    das_ds_arena_t a = {0};
    char names[16][8];
    for (int i = 0; i < 16; i++) {
        snprintf(names[i], sizeof names[i], "n%02d", i);
        if (put_x(ds, &a, "R", names[i], i))
            return -1;
    }
    for (int r = 0; r < 6; r++) {
        seen[r] = 0;
        das_ds_query_t q = kind_query("R");
        das_ds_result_t res;
        das_ds_err_t err;
        if (das_ds_run_query(ds, NULL, &q, &a, &res, &err) != AE_OK)
            return -1;
        for (size_t j = 0; j < res.n; j++)
            seen[r] |= 1u << atoi(res.entities[j]->key.path[0].name + 1);
    }
    das_ds_close(ds);
    das_ds_arena_dispose(&a);
    return 0;
}

TEST(test_datastore_random_policy_same_seed_same_decisions)
{
    uint32_t one[6], two[6], other[6];
    CHECK_OK(random_run(42, one));
    CHECK_OK(random_run(42, two));
    CHECK_OK(random_run(43, other));
    for (int r = 0; r < 6; r++)
        CHECK_EQ(one[r], two[r]);
    /* about half at the first query, more at each, never fewer */
    int first = __builtin_popcount(one[0]);
    CHECK(first >= 3 && first <= 13);
    for (int r = 1; r < 6; r++)
        CHECK((one[r] & one[r - 1]) == one[r - 1]);
    CHECK(__builtin_popcount(one[5]) > first);
    CHECK(memcmp(one, other, sizeof one) != 0);
}

TEST(test_datastore_random_policy_applies_a_group_in_commit_order)
{
    fake_clock_t clk;
    das_ds_options_t o = base_opts(&clk);
    o.consistency = DAS_DS_CONSISTENCY_RANDOM;
    o.seed = 1;
    das_ds_t *ds = open_store(&o);
    CHECK(ds);
    das_ds_arena_t a = {0};
    /* x = 1, 2, ..., 8 on one entity: a global query sees them in order, never going back */
    for (int i = 1; i <= 8; i++)
        CHECK_OK(put_x(ds, &a, "S", "k", i));
    int64_t last = 0;
    for (int r = 0; r < 40; r++) {
        das_ds_query_t q = kind_query("S");
        das_ds_result_t res;
        CHECK(strncmp(run(ds, NULL, &q, &a, &res), "ERROR", 5) != 0);
        int64_t x = res.n ? int_of(res.entities[0], "x") : 0;
        CHECK(x >= last);
        last = x;
    }
    CHECK_EQ(last, 8);
    das_ds_close(ds);
    das_ds_arena_dispose(&a);
}

TEST(test_datastore_consistent_policy_shows_a_commit_at_once)
{
    fake_clock_t clk;
    das_ds_options_t o = base_opts(&clk);
    das_ds_t *ds = open_store(&o);
    CHECK(ds);
    das_ds_arena_t a = {0};
    CHECK_OK(put_x(ds, &a, "E", "a", 1));
    CHECK(visible(ds, &a, "E", "a"));
    das_ds_stats_t st;
    das_ds_stats(ds, &st);
    CHECK_EQ(st.pending, 0);
    CHECK_EQ(das_ds_next_due_ms(ds), INT64_MAX);
    das_ds_close(ds);
    das_ds_arena_dispose(&a);
}

/* ---------------------------------------------------------------- ids */

TEST(test_datastore_sequential_ids_count_from_one)
{
    fake_clock_t clk;
    das_ds_options_t o = base_opts(&clk);
    das_ds_t *ds = open_store(&o);
    CHECK(ds);
    das_ds_arena_t a = {0};
    das_ds_err_t err;
    das_ds_entity_t batch[3] = {{.key = *key_id(&a, NULL, "K", 0)},
                                {.key = *key_id(&a, NULL, "K", 0)},
                                {.key = *key_id(&a, NULL, "K", 0)}};
    CHECK_OK(das_ds_put(ds, NULL, batch, 3, &a, &err));
    CHECK_EQ(batch[0].key.path[0].id, 1);
    CHECK_EQ(batch[1].key.path[0].id, 2);
    CHECK_EQ(batch[2].key.path[0].id, 3);
    das_ds_query_t q = kind_query("K");
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), "1 2 3");
    das_ds_close(ds);
    das_ds_arena_dispose(&a);
}

TEST(test_datastore_scattered_ids_are_spread_over_2_52_to_2_52_plus_2_51)
{
    fake_clock_t clk;
    das_ds_options_t o = base_opts(&clk);
    o.ids = DAS_DS_IDS_SCATTERED;
    das_ds_t *ds = open_store(&o);
    CHECK(ds);
    das_ds_arena_t a = {0};
    int64_t ids[20];
    for (int i = 0; i < 20; i++) {
        das_ds_entity_t *e = entity(&a, key_id(&a, NULL, "K", 0));
        CHECK_OK(put1(ds, NULL, &a, e));
        ids[i] = e->key.path[0].id;
        CHECK(ids[i] > (1LL << 52) && ids[i] < (1LL << 52) + (1LL << 51));
        for (int j = 0; j < i; j++)
            CHECK(ids[j] != ids[i]);
    }
    CHECK(ids[1] != ids[0] + 1); /* not a counter */
    das_ds_close(ds);
    das_ds_arena_dispose(&a);
}

TEST(test_datastore_scattered_id_never_lands_on_an_existing_entity)
{
    fake_clock_t clk;
    das_ds_options_t o = base_opts(&clk);
    o.ids = DAS_DS_IDS_SCATTERED;
    das_ds_t *ds = open_store(&o);
    CHECK(ds);
    das_ds_arena_t a = {0};
    /* what a fresh store hands out first, put under an explicit id (an import, say) */
    das_ds_t *probe = open_store(&o);
    CHECK(probe);
    das_ds_entity_t *first = entity(&a, key_id(&a, NULL, "K", 0));
    CHECK_OK(put1(probe, NULL, &a, first));
    das_ds_close(probe);
    for (int round = 0; round < 2; round++) {
        /* the first: a root, applied; the second: under a parent, still pending (the time
         * policy, set at the end of the first round) */
        das_ds_key_t *k = round ? key_id(&a, key_name(&a, NULL, "P", "p"), "K",
                                         first->key.path[0].id)
                                : key_id(&a, NULL, "K", first->key.path[0].id);
        das_ds_entity_t *mine = entity(&a, k);
        set(&a, mine, "x", vint(7));
        CHECK_OK(put1(ds, NULL, &a, mine));
        das_ds_entity_t *e = entity(&a, round ? key_id(&a, key_name(&a, NULL, "P", "p"), "K", 0)
                                              : key_id(&a, NULL, "K", 0));
        CHECK_OK(put1(ds, NULL, &a, e));
        CHECK(e->key.path[e->key.n - 1].id != mine->key.path[mine->key.n - 1].id);
        CHECK_EQ(int_of(get1(ds, NULL, &a, &mine->key), "x"), 7);
        das_ds_close(ds); /* in memory: the next store starts its ids afresh */
        o.consistency = DAS_DS_CONSISTENCY_TIME;
        ds = open_store(&o);
        CHECK(ds);
    }
    das_ds_close(ds);
    das_ds_arena_dispose(&a);
}

TEST(test_datastore_allocate_ids_reserves_a_range_puts_never_reuse)
{
    fake_clock_t clk;
    das_ds_options_t o = base_opts(&clk);
    das_ds_t *ds = open_store(&o);
    CHECK(ds);
    das_ds_arena_t a = {0};
    das_ds_err_t err;
    das_ds_key_t *model = key_id(&a, NULL, "K", 0);
    int64_t start, end;
    CHECK_OK(das_ds_allocate_ids(ds, model, 10, 0, &start, &end, &err));
    CHECK_EQ(end - start + 1, 10);
    CHECK(start >= 1);
    das_ds_entity_t *e = entity(&a, key_id(&a, NULL, "K", 0));
    CHECK_OK(put1(ds, NULL, &a, e));
    CHECK(e->key.path[0].id > end);
    /* up to a max */
    int64_t s2, e2;
    CHECK_OK(das_ds_allocate_ids(ds, model, 0, 500, &s2, &e2, &err));
    CHECK_EQ(e2, 500);
    CHECK(s2 > e->key.path[0].id);
    e = entity(&a, key_id(&a, NULL, "K", 0));
    CHECK_OK(put1(ds, NULL, &a, e));
    CHECK_EQ(e->key.path[0].id, 501);
    /* a second range does not overlap the first */
    int64_t s3, e3;
    CHECK_OK(das_ds_allocate_ids(ds, model, 5, 0, &s3, &e3, &err));
    CHECK(s3 > 501);
    CHECK_EQ(das_ds_allocate_ids(ds, model, 5, 5, &s3, &e3, &err), AE_EINVAL);
    das_ds_close(ds);
    das_ds_arena_dispose(&a);
}

TEST(test_datastore_explicit_id_above_the_counter_pushes_sequential_ids_past_it)
{
    fake_clock_t clk;
    das_ds_options_t o = base_opts(&clk);
    das_ds_t *ds = open_store(&o);
    CHECK(ds);
    das_ds_arena_t a = {0};
    CHECK_OK(put1(ds, NULL, &a, entity(&a, key_id(&a, NULL, "K", 100))));
    das_ds_entity_t *e = entity(&a, key_id(&a, NULL, "K", 0));
    CHECK_OK(put1(ds, NULL, &a, e));
    CHECK_EQ(e->key.path[0].id, 101);
    /* one below the counter changes nothing */
    CHECK_OK(put1(ds, NULL, &a, entity(&a, key_id(&a, NULL, "K", 50))));
    e = entity(&a, key_id(&a, NULL, "K", 0));
    CHECK_OK(put1(ds, NULL, &a, e));
    CHECK_EQ(e->key.path[0].id, 102);
    das_ds_close(ds);
    das_ds_arena_dispose(&a);
}

TEST(test_datastore_ids_are_never_reused_after_reopening)
{
    fake_clock_t clk;
    CHECK(new_dir());
    char path[PATH_MAX + 32];
    das_ds_options_t o = base_opts(&clk);
    o.path = in_dir(path, sizeof path, "datastore.db");
    das_ds_t *ds = open_store(&o);
    CHECK(ds);
    das_ds_arena_t a = {0};
    das_ds_err_t err;
    /* a composite index on (a, b): an entity with 200 x 200 values has too many rows */
    das_ds_order_t ab[] = {{"a", false}, {"b", false}};
    das_ds_query_t q = kind_query("E");
    q.n_orders = 2;
    q.orders = ab;
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), "");
    das_ds_value_t many[200];
    for (int i = 0; i < 200; i++)
        many[i] = vint(i);
    das_ds_entity_t batch[2] = {{.key = *key_id(&a, NULL, "E", 0)},
                                {.key = *key_id(&a, NULL, "E", 0)}};
    set_values(&a, &batch[1], "a", true, true, 200, many);
    set_values(&a, &batch[1], "b", true, true, 200, many);
    CHECK_EQ(das_ds_put(ds, NULL, batch, 2, &a, &err), AE_EINVAL);
    CHECK_STR_CONTAINS(err.msg, "Too many indexed properties");
    das_ds_entity_t *kept = entity(&a, key_id(&a, NULL, "E", 0));
    set(&a, kept, "x", vint(42));
    CHECK_OK(put1(ds, NULL, &a, kept));
    das_ds_close(ds);

    ds = open_store(&o);
    CHECK(ds);
    for (int i = 0; i < 3; i++) {
        das_ds_entity_t *e = entity(&a, key_id(&a, NULL, "E", 0));
        CHECK_OK(put1(ds, NULL, &a, e));
        CHECK(e->key.path[0].id != kept->key.path[0].id);
    }
    CHECK_EQ(int_of(get1(ds, NULL, &a, &kept->key), "x"), 42);
    das_ds_close(ds);
    das_ds_arena_dispose(&a);
}

/* ---------------------------------------------------------------- limits */

static char *filled(das_ds_arena_t *a, size_t n)
{
    char *s = das_ds_alloc(a, n + 1);
    memset(s, 'x', n);
    return s;
}

TEST(test_datastore_value_limits_and_their_messages)
{
    fake_clock_t clk;
    das_ds_options_t o = base_opts(&clk);
    das_ds_t *ds = open_store(&o);
    CHECK(ds);
    das_ds_arena_t a = {0};
    das_ds_err_t err;
    das_ds_entity_t *e = entity(&a, key_name(&a, NULL, "L", "ok"));
    set(&a, e, "s", vbytes_t(DAS_DS_STRING, filled(&a, 1500), 1500));
    CHECK_OK(put1(ds, NULL, &a, e));
    e = entity(&a, key_name(&a, NULL, "L", "bad"));
    set(&a, e, "s", vbytes_t(DAS_DS_STRING, filled(&a, 1501), 1501));
    CHECK_EQ(das_ds_put(ds, NULL, e, 1, &a, &err), AE_EINVAL);
    CHECK_STR_EQ(err.msg, "Property s is too long. Maximum length is 1500.");
    e = entity(&a, key_name(&a, NULL, "L", "bad"));
    set(&a, e, "s", vbytes_t(DAS_DS_BYTES, filled(&a, 1501), 1501));
    CHECK_EQ(das_ds_put(ds, NULL, e, 1, &a, &err), AE_EINVAL);
    CHECK_STR_EQ(err.msg, "Property s is too long. Maximum length is 1500.");
    /* unindexed: up to 1,048,487 */
    e = entity(&a, key_name(&a, NULL, "L", "long"));
    set_unindexed(&a, e, "s", vbytes_t(DAS_DS_STRING, filled(&a, 1501), 1501));
    CHECK_OK(put1(ds, NULL, &a, e));
    e = entity(&a, key_name(&a, NULL, "L", "text"));
    set_unindexed(&a, e, "s", vbytes_t(DAS_DS_TEXT, filled(&a, 1048487), 1048487));
    CHECK_OK(put1(ds, NULL, &a, e));
    das_ds_entity_t *g = get1(ds, NULL, &a, &e->key);
    CHECK(g && prop_of(g, "s")->values[0].u.s.n == 1048487);
    e = entity(&a, key_name(&a, NULL, "L", "bad"));
    set_unindexed(&a, e, "s", vbytes_t(DAS_DS_BLOB, filled(&a, 1048488), 1048488));
    CHECK_EQ(das_ds_put(ds, NULL, e, 1, &a, &err), AE_EINVAL);
    CHECK_STR_EQ(err.msg, "Property s is too long. Maximum length is 1048487.");
    /* the entity as a whole: 1,048,572 bytes */
    e = entity(&a, key_name(&a, NULL, "L", "big"));
    set_unindexed(&a, e, "t1", vbytes_t(DAS_DS_TEXT, filled(&a, 600000), 600000));
    set_unindexed(&a, e, "t2", vbytes_t(DAS_DS_TEXT, filled(&a, 600000), 600000));
    CHECK_EQ(das_ds_put(ds, NULL, e, 1, &a, &err), AE_ETOOLARGE);
    CHECK(get1(ds, NULL, &a, &e->key) == NULL);
    /* bad UTF-8 in a string */
    e = entity(&a, key_name(&a, NULL, "L", "bad"));
    set(&a, e, "s", vstr("\xff\xfe"));
    CHECK_EQ(das_ds_put(ds, NULL, e, 1, &a, &err), AE_EINVAL);
    CHECK_STR_EQ(err.msg, "Property s is not valid UTF-8.");
    das_ds_close(ds);
    das_ds_arena_dispose(&a);
}

TEST(test_datastore_invalid_keys_and_names_are_refused)
{
    fake_clock_t clk;
    das_ds_options_t o = base_opts(&clk);
    das_ds_t *ds = open_store(&o);
    CHECK(ds);
    das_ds_arena_t a = {0};
    das_ds_err_t err;
    struct {
        das_ds_key_t *k;
        const char *msg;
    } bad[] = {
        {key_ns(&a, "bad ns", NULL, "K", 1, NULL), "namespace \"bad ns\" does not match regex"},
        {key_ns(&a, filled(&a, 101), NULL, "K", 1, NULL), "does not match regex"},
        {key_name(&a, NULL, "", "n"), "Kind must not be empty"},
        {key_name(&a, NULL, "__K__", "n"), "is reserved"},
        {key_name(&a, NULL, filled(&a, 1501), "n"), "Maximum length is 1500"},
        {key_name(&a, NULL, "K", ""), "Key name must not be empty"},
        {key_name(&a, NULL, "K", filled(&a, 1501)), "Maximum length is 1500"},
        {key_name(&a, NULL, "K", "__n__"), "is reserved"},
        {key_id(&a, NULL, "K", -3), "Key id must be positive"},
        {key_id(&a, key_id(&a, NULL, "P", 0), "K", 1), "incomplete"},
        {&(das_ds_key_t){.n = 0}, "Key path must not be empty"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        das_ds_entity_t *e = entity(&a, bad[i].k);
        err.msg[0] = '\0';
        CHECK_EQ(das_ds_put(ds, NULL, e, 1, &a, &err), AE_EINVAL);
        CHECK_STR_CONTAINS(err.msg, bad[i].msg);
    }
    /* a get wants a complete key */
    das_ds_entity_t *out;
    CHECK_EQ(das_ds_get(ds, NULL, key_id(&a, NULL, "K", 0), 1, &a, &out, &err), AE_EINVAL);
    /* another app's key */
    das_ds_key_t *foreign = key_id(&a, NULL, "K", 1);
    foreign->app = "dev~other";
    CHECK_EQ(das_ds_get(ds, NULL, foreign, 1, &a, &out, &err), AE_EINVAL);
    /* the namespace at its limits */
    CHECK(das_ds_namespace_is_valid(""));
    CHECK(das_ds_namespace_is_valid("a-Z_0.9"));
    CHECK(das_ds_namespace_is_valid(filled(&a, 100)));
    CHECK(!das_ds_namespace_is_valid(filled(&a, 101)));
    CHECK(!das_ds_namespace_is_valid("a/b"));
    das_ds_close(ds);
    das_ds_arena_dispose(&a);
}

TEST(test_datastore_reserved_property_name_is_refused)
{
    fake_clock_t clk;
    das_ds_options_t o = base_opts(&clk);
    das_ds_t *ds = open_store(&o);
    CHECK(ds);
    das_ds_arena_t a = {0};
    das_ds_err_t err;
    das_ds_entity_t *e = entity(&a, key_name(&a, NULL, "K", "k"));
    set(&a, e, "__x__", vint(1));
    CHECK_EQ(das_ds_put(ds, NULL, e, 1, &a, &err), AE_EINVAL);
    CHECK_STR_EQ(err.msg, "cannot store entity with reserved property name '__x__'");
    /* "__x" and "x__" are ordinary names */
    e = entity(&a, key_name(&a, NULL, "K", "k"));
    set(&a, e, "__x", vint(1));
    set(&a, e, "x__", vint(1));
    CHECK_OK(put1(ds, NULL, &a, e));
    das_ds_close(ds);
    das_ds_arena_dispose(&a);
}

TEST(test_datastore_batch_with_one_bad_entity_writes_nothing)
{
    fake_clock_t clk;
    das_ds_options_t o = base_opts(&clk);
    das_ds_t *ds = open_store(&o);
    CHECK(ds);
    das_ds_arena_t a = {0};
    das_ds_err_t err;
    das_ds_entity_t batch[3] = {{.key = *key_name(&a, NULL, "K", "a")},
                                {.key = *key_name(&a, NULL, "K", "b")},
                                {.key = *key_name(&a, NULL, "K", "c")}};
    set(&a, &batch[2], "s", vbytes_t(DAS_DS_STRING, filled(&a, 2000), 2000));
    CHECK_EQ(das_ds_put(ds, NULL, batch, 3, &a, &err), AE_EINVAL);
    CHECK(get1(ds, NULL, &a, &batch[0].key) == NULL);
    CHECK(get1(ds, NULL, &a, &batch[1].key) == NULL);
    /* an oversized one: the same */
    das_ds_entity_t big[2] = {{.key = *key_name(&a, NULL, "K", "a")},
                              {.key = *key_name(&a, NULL, "K", "big")}};
    set_unindexed(&a, &big[1], "t1", vbytes_t(DAS_DS_TEXT, filled(&a, 600000), 600000));
    set_unindexed(&a, &big[1], "t2", vbytes_t(DAS_DS_TEXT, filled(&a, 600000), 600000));
    CHECK_EQ(das_ds_put(ds, NULL, big, 2, &a, &err), AE_ETOOLARGE);
    CHECK(get1(ds, NULL, &a, &big[0].key) == NULL);
    /* a delete batch with a bad key deletes nothing */
    CHECK_OK(put_x(ds, &a, "K", "a", 1));
    das_ds_key_t del[2] = {*key_name(&a, NULL, "K", "a"), *key_name(&a, NULL, "", "x")};
    CHECK_EQ(das_ds_delete(ds, NULL, del, 2, &err), AE_EINVAL);
    CHECK(get1(ds, NULL, &a, &del[0]));
    das_ds_close(ds);
    das_ds_arena_dispose(&a);
}

/* ---------------------------------------------------------------- index.yaml */

TEST(test_datastore_query_needing_a_composite_index_adds_it_to_index_yaml)
{
    fake_clock_t clk;
    CHECK(new_dir());
    das_ds_options_t o = base_opts(&clk);
    o.app_root = g_dir;
    das_ds_t *ds = open_store(&o);
    CHECK(ds);
    das_ds_arena_t a = {0};
    das_ds_key_t *book = key_name(&a, NULL, "Guestbook", "default");
    for (int i = 1; i <= 3; i++) {
        das_ds_entity_t *e = entity(&a, key_id(&a, book, "Greeting", i));
        set(&a, e, "date", vtime(i * 1000));
        CHECK_OK(put1(ds, NULL, &a, e));
    }
    char path[PATH_MAX + 32];
    in_dir(path, sizeof path, "index.yaml");
    CHECK(access(path, F_OK) != 0);
    /* a built-in index: nothing written */
    das_ds_order_t date_desc = {"date", true};
    das_ds_query_t q = kind_query("Greeting");
    q.n_orders = 1;
    q.orders = &date_desc;
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), "3 2 1");
    CHECK(access(path, F_OK) != 0);
    /* ancestor + order desc: composite */
    q.ancestor = book;
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), "3 2 1");
    const char *text = read_text(path);
    CHECK(text);
    const char *marker = strstr(text, "# AUTOGENERATED");
    CHECK(marker);
    CHECK_STR_CONTAINS(marker, "- kind: Greeting\n"
                               "  ancestor: yes\n"
                               "  properties:\n"
                               "  - name: date\n"
                               "    direction: desc\n");
    /* once */
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), "3 2 1");
    text = read_text(path);
    const char *first = strstr(text, "- kind: Greeting");
    CHECK(first && !strstr(first + 1, "- kind: Greeting"));
    das_ds_close(ds);
    das_ds_arena_dispose(&a);
}

TEST(test_datastore_require_indexes_fails_until_the_index_is_in_the_file)
{
    fake_clock_t clk;
    CHECK(new_dir());
    das_ds_options_t o = base_opts(&clk);
    o.app_root = g_dir;
    o.require_indexes = true;
    das_ds_t *ds = open_store(&o);
    CHECK(ds);
    das_ds_arena_t a = {0};
    das_ds_key_t *book = key_name(&a, NULL, "Guestbook", "default");
    for (int i = 1; i <= 3; i++) {
        das_ds_entity_t *e = entity(&a, key_id(&a, book, "Greeting", i));
        set(&a, e, "date", vtime(i * 1000));
        CHECK_OK(put1(ds, NULL, &a, e));
    }
    das_ds_order_t date_desc = {"date", true};
    das_ds_query_t q = kind_query("Greeting");
    q.ancestor = book;
    q.n_orders = 1;
    q.orders = &date_desc;
    int code;
    const char *msg = query_error(ds, NULL, &q, &a, &code);
    CHECK_EQ(code, AE_ENEEDINDEX);
    CHECK_STR_CONTAINS(msg, "This query requires a composite index that is not defined.");
    CHECK_STR_CONTAINS(msg, "The suggested index for this query is:\n"
                            "- kind: Greeting\n"
                            "  ancestor: yes\n"
                            "  properties:\n"
                            "  - name: date\n"
                            "    direction: desc\n");
    char path[PATH_MAX + 32];
    CHECK(access(in_dir(path, sizeof path, "index.yaml"), F_OK) != 0); /* nothing written */
    CHECK_OK(write_text(path, "indexes:\n"
                              "- kind: Greeting\n"
                              "  ancestor: yes\n"
                              "  properties:\n"
                              "  - name: date\n"
                              "    direction: desc\n"));
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), "3 2 1");
    /* built-in indexes need nothing */
    q.ancestor = NULL;
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), "3 2 1");
    das_ds_close(ds);
    das_ds_arena_dispose(&a);
}

TEST(test_datastore_manual_index_yaml_is_never_written)
{
    fake_clock_t clk;
    CHECK(new_dir());
    char path[PATH_MAX + 32];
    const char *manual = "indexes:\n"
                         "# mine\n"
                         "- kind: Other\n"
                         "  properties:\n"
                         "  - name: a\n"
                         "  - name: b\n";
    CHECK_OK(write_text(in_dir(path, sizeof path, "index.yaml"), manual));
    das_ds_options_t o = base_opts(&clk);
    o.app_root = g_dir;
    das_ds_t *ds = open_store(&o);
    CHECK(ds);
    das_ds_arena_t a = {0};
    CHECK_OK(put_q(ds, &a));
    das_ds_order_t two[] = {{"y", false}, {"x", true}};
    das_ds_query_t q = kind_query("Q");
    q.n_orders = 2;
    q.orders = two;
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), "d b e c a");
    CHECK_STR_EQ(read_text(path), manual);
    das_ds_close(ds);
    das_ds_arena_dispose(&a);
}

TEST(test_datastore_index_yaml_keeps_the_text_above_the_marker)
{
    fake_clock_t clk;
    CHECK(new_dir());
    char path[PATH_MAX + 32];
    const char *start = "indexes:\n"
                        "# kept as it is\n"
                        "- kind: Other\n"
                        "  properties:\n"
                        "  - name: a\n"
                        "  - name: b\n"
                        "\n"
                        "# AUTOGENERATED\n";
    CHECK_OK(write_text(in_dir(path, sizeof path, "index.yaml"), start));
    das_ds_options_t o = base_opts(&clk);
    o.app_root = g_dir;
    das_ds_t *ds = open_store(&o);
    CHECK(ds);
    das_ds_arena_t a = {0};
    CHECK_OK(put_q(ds, &a));
    das_ds_order_t two[] = {{"y", false}, {"x", true}};
    das_ds_query_t q = kind_query("Q");
    q.n_orders = 2;
    q.orders = two;
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), "d b e c a");
    const char *text = read_text(path);
    CHECK(text && strncmp(text, start, strlen(start)) == 0);
    CHECK_STR_CONTAINS(text + strlen(start), "- kind: Q\n"
                                             "  properties:\n"
                                             "  - name: \"y\"\n" /* YAML 1.1's yes */
                                             "  - name: x\n"
                                             "    direction: desc\n");
    /* an index listed above the marker is not added again */
    das_ds_order_t ab[] = {{"a", false}, {"b", false}};
    das_ds_query_t other = kind_query("Other");
    other.n_orders = 2;
    other.orders = ab;
    CHECK_STR_EQ(run(ds, NULL, &other, &a, NULL), "");
    CHECK(!strstr(read_text(path) + strlen(start), "kind: Other"));
    das_ds_close(ds);
    das_ds_arena_dispose(&a);
}

TEST(test_datastore_empty_index_yaml_fails_open)
{
    fake_clock_t clk;
    CHECK(new_dir());
    char path[PATH_MAX + 32];
    CHECK_OK(write_text(in_dir(path, sizeof path, "index.yaml"), ""));
    das_ds_options_t o = base_opts(&clk);
    o.app_root = g_dir;
    das_ds_t *ds = NULL;
    das_ds_err_t err;
    CHECK_EQ(das_ds_open(&o, &ds, &err), AE_EINVAL);
    CHECK_STR_CONTAINS(err.msg, "indexes:");
}

TEST(test_datastore_malformed_index_yaml_fails_open)
{
    fake_clock_t clk;
    CHECK(new_dir());
    char path[PATH_MAX + 32];
    CHECK_OK(write_text(in_dir(path, sizeof path, "index.yaml"), "indexes:\n- kind: [\n"));
    das_ds_options_t o = base_opts(&clk);
    o.app_root = g_dir;
    das_ds_t *ds = NULL;
    das_ds_err_t err;
    CHECK_EQ(das_ds_open(&o, &ds, &err), AE_EINVAL);
    CHECK(ds == NULL);
    CHECK_STR_CONTAINS(err.msg, path);
}

/* ---------------------------------------------------------------- the file */

TEST(test_datastore_data_survives_close_and_reopen)
{
    fake_clock_t clk;
    CHECK(new_dir());
    char path[PATH_MAX + 32];
    das_ds_options_t o = base_opts(&clk);
    o.path = in_dir(path, sizeof path, "datastore.db");
    o.consistency = DAS_DS_CONSISTENCY_TIME; /* a pending commit is kept too */
    das_ds_t *ds = open_store(&o);
    CHECK(ds);
    das_ds_arena_t a = {0};
    CHECK_OK(put_x(ds, &a, "K", "a", 1));
    CHECK_OK(put_x(ds, &a, "K", "b", 2));
    das_ds_close(ds);
    ds = open_store(&o);
    CHECK(ds);
    das_ds_entity_t *g = get1(ds, NULL, &a, key_name(&a, NULL, "K", "a"));
    CHECK_EQ(int_of(g, "x"), 1);
    das_ds_query_t q = kind_query("K");
    das_ds_result_t res;
    CHECK_STR_EQ(run(ds, NULL, &q, &a, &res), "a b");
    das_ds_close(ds);
    /* results live in the caller's arena, not in the store */
    CHECK_STR_EQ(g->key.app, APP);
    CHECK_STR_EQ(res.entities[1]->key.app, APP);
    /* clear: empty */
    o.clear = true;
    ds = open_store(&o);
    CHECK(ds);
    CHECK(get1(ds, NULL, &a, key_name(&a, NULL, "K", "a")) == NULL);
    CHECK_STR_EQ(run(ds, NULL, &q, &a, NULL), "");
    das_ds_close(ds);
    das_ds_arena_dispose(&a);
}

TEST(test_datastore_second_open_of_one_file_fails_naming_it)
{
    fake_clock_t clk;
    CHECK(new_dir());
    char path[PATH_MAX + 32];
    das_ds_options_t o = base_opts(&clk);
    o.path = in_dir(path, sizeof path, "datastore.db");
    das_ds_t *ds = open_store(&o);
    CHECK(ds);
    das_ds_t *second = NULL;
    das_ds_err_t err;
    CHECK_EQ(das_ds_open(&o, &second, &err), AE_EIO);
    CHECK(second == NULL);
    CHECK_STR_CONTAINS(err.msg, path);
    /* the first still works, and once it is closed the file opens again */
    das_ds_arena_t a = {0};
    CHECK_OK(put_x(ds, &a, "K", "a", 1));
    das_ds_close(ds);
    ds = open_store(&o);
    CHECK(ds);
    CHECK(get1(ds, NULL, &a, key_name(&a, NULL, "K", "a")));
    das_ds_close(ds);
    das_ds_arena_dispose(&a);
}

TEST(test_datastore_garbage_file_fails_open_naming_clear_datastore)
{
    fake_clock_t clk;
    CHECK(new_dir());
    char path[PATH_MAX + 32];
    in_dir(path, sizeof path, "datastore.db");
    FILE *f = fopen(path, "wb");
    CHECK(f);
    for (int i = 0; i < 8192; i++)
        fputc((i * 7919) & 0xff, f);
    fclose(f);
    das_ds_options_t o = base_opts(&clk);
    o.path = path;
    das_ds_t *ds = NULL;
    das_ds_err_t err;
    CHECK_EQ(das_ds_open(&o, &ds, &err), AE_EIO);
    CHECK(ds == NULL);
    CHECK_STR_CONTAINS(err.msg, path);
    CHECK_STR_CONTAINS(err.msg, "--clear-datastore");
    /* --clear-datastore replaces it */
    o.clear = true;
    ds = open_store(&o);
    CHECK(ds);
    das_ds_close(ds);
}

/* The platform's cap on an entity's index rows (20,000) counts the built-in ones: a list of
 * 10,000 indexed values (two rows each) is refused, not stored unindexed; unindexed, it is
 * stored. */
TEST(test_datastore_too_many_index_rows_is_refused)
{
    fake_clock_t clk;
    das_ds_options_t o = base_opts(&clk);
    das_ds_t *ds = open_store(&o);
    CHECK(ds != NULL);
    das_ds_arena_t a = {0};
    enum { N = 10000 };
    das_ds_value_t *vals = das_ds_alloc(&a, N * sizeof *vals);
    for (int i = 0; i < N; i++)
        vals[i] = vint(i);
    das_ds_entity_t *e = entity(&a, key_name(&a, NULL, "Big", "b"));
    set_values(&a, e, "tags", true, true, N, vals);
    das_ds_err_t err;
    CHECK_EQ(das_ds_put(ds, NULL, e, 1, &a, &err), AE_EINVAL);
    CHECK_STR_CONTAINS(err.msg, "Too many indexed properties for entity");
    CHECK(get1(ds, NULL, &a, key_name(&a, NULL, "Big", "b")) == NULL);
    e->props[0].indexed = false;
    CHECK_EQ(put1(ds, NULL, &a, e), AE_OK);
    CHECK(get1(ds, NULL, &a, key_name(&a, NULL, "Big", "b")) != NULL);
    das_ds_arena_dispose(&a);
    das_ds_close(ds);
}

CHECK_MAIN()
