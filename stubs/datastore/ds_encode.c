/* ds_encode.c - the datastore stub's bytes: order-preserving components of index rows (see
 * ds_internal.h), the stored form of an entity, the checks every key and entity passes, and
 * the URL-safe base64 of cursors.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "ds_internal.h"

/* ---- buffers ---- */

static void reserve(ds_buf_t *b, size_t more)
{
    if (b->cap - b->n >= more)
        return;
    size_t cap = b->cap ? b->cap * 2 : 64;
    while (cap - b->n < more)
        cap *= 2;
    unsigned char *p = realloc(b->p, cap);
    if (!p)
        abort();
    b->p = p;
    b->cap = cap;
}

void ds_buf_put(ds_buf_t *b, const void *p, size_t n)
{
    if (!n)
        return;
    reserve(b, n);
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

void ds_buf_byte(ds_buf_t *b, unsigned char c)
{
    reserve(b, 1);
    b->p[b->n++] = c;
}

void ds_buf_varint(ds_buf_t *b, uint64_t v)
{
    do {
        unsigned char c = v & 0x7f;
        v >>= 7;
        ds_buf_byte(b, c | (v ? 0x80 : 0));
    } while (v);
}

int ds_bytes_cmp(const unsigned char *a, size_t an, const unsigned char *b, size_t bn)
{
    int c = an && bn ? memcmp(a, b, an < bn ? an : bn) : 0;
    return c ? c : (an > bn) - (an < bn);
}

int ds_buf_cmp(const void *a, const void *b)
{
    const ds_buf_t *x = a, *y = b;
    return ds_bytes_cmp(x->p, x->n, y->p, y->n);
}

void ds_buf_free(ds_buf_t *b)
{
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}

static void put_be64(ds_buf_t *b, uint64_t v)
{
    unsigned char x[8];
    for (int i = 0; i < 8; i++)
        x[i] = (unsigned char)(v >> (56 - 8 * i));
    ds_buf_put(b, x, 8);
}

static uint64_t get_be64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* ---- components ---- */

enum {
    TAG_NULL = 0x10,
    TAG_INT = 0x20, /* int and time */
    TAG_BOOL = 0x30,
    TAG_STRING = 0x40, /* string and short blob */
    TAG_DOUBLE = 0x50,
    TAG_GEOPT = 0x60,
    TAG_USER = 0x70,
    TAG_KEY = 0x80,
};

void ds_enc_string(ds_buf_t *b, const char *p, size_t n)
{
    reserve(b, n + 2);
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\0') {
            ds_buf_byte(b, 0x00);
            ds_buf_byte(b, 0xff);
        } else {
            ds_buf_byte(b, (unsigned char)p[i]);
        }
    }
    ds_buf_byte(b, 0x00);
    ds_buf_byte(b, 0x01);
}

static uint64_t double_bits(double d)
{
    if (d == 0)
        d = 0; /* -0.0 orders as 0.0 */
    uint64_t u;
    memcpy(&u, &d, 8);
    return (u & 0x8000000000000000ull) ? ~u : u ^ 0x8000000000000000ull;
}

static double bits_double(uint64_t u)
{
    u = (u & 0x8000000000000000ull) ? u ^ 0x8000000000000000ull : ~u;
    double d;
    memcpy(&d, &u, 8);
    return d;
}

static void enc_elems(ds_buf_t *b, const das_ds_key_t *k, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const das_ds_elem_t *e = &k->path[i];
        ds_enc_string(b, e->kind, strlen(e->kind));
        if (e->name) {
            ds_buf_byte(b, 0x02);
            ds_enc_string(b, e->name, strlen(e->name));
        } else {
            ds_buf_byte(b, 0x01);
            put_be64(b, (uint64_t)e->id);
        }
    }
}

void ds_enc_key(ds_buf_t *b, const das_ds_key_t *k, bool with_end)
{
    const char *ns = k->ns ? k->ns : "";
    ds_enc_string(b, ns, strlen(ns));
    enc_elems(b, k, k->n);
    if (with_end) {
        ds_buf_byte(b, 0x00);
        ds_buf_byte(b, 0x00);
    }
}

void ds_enc_path(ds_buf_t *b, const das_ds_key_t *k, size_t n_elems)
{
    enc_elems(b, k, n_elems);
    ds_buf_byte(b, 0x00);
    ds_buf_byte(b, 0x00);
}

void ds_enc_value(ds_buf_t *b, const das_ds_value_t *v)
{
    switch (v->type) {
    case DAS_DS_INT:
    case DAS_DS_TIME:
        ds_buf_byte(b, TAG_INT);
        put_be64(b, (uint64_t)v->u.i ^ 0x8000000000000000ull);
        break;
    case DAS_DS_BOOL:
        ds_buf_byte(b, TAG_BOOL);
        ds_buf_byte(b, v->u.b ? 1 : 0);
        break;
    case DAS_DS_STRING:
    case DAS_DS_BYTES:
    case DAS_DS_TEXT:
    case DAS_DS_BLOB:
        ds_buf_byte(b, TAG_STRING);
        ds_enc_string(b, v->u.s.p, v->u.s.n);
        break;
    case DAS_DS_DOUBLE:
        ds_buf_byte(b, TAG_DOUBLE);
        put_be64(b, double_bits(v->u.d));
        break;
    case DAS_DS_GEOPT:
        ds_buf_byte(b, TAG_GEOPT);
        put_be64(b, double_bits(v->u.geo.lat));
        put_be64(b, double_bits(v->u.geo.lng));
        break;
    case DAS_DS_USER: {
        ds_buf_byte(b, TAG_USER);
        const char *em = v->u.user.email ? v->u.user.email : "";
        const char *ad = v->u.user.auth_domain ? v->u.user.auth_domain : "";
        const char *id = v->u.user.user_id ? v->u.user.user_id : "";
        ds_enc_string(b, em, strlen(em));
        ds_enc_string(b, ad, strlen(ad));
        ds_enc_string(b, id, strlen(id));
        break;
    }
    case DAS_DS_KEY:
        /* Every key a store holds or is asked about is its own app's (ds_check_key refuses
         * others), so the app is left out: a key value with app NULL, "" or the store's app
         * is one value. The empty app component stays, for the format. */
        ds_buf_byte(b, TAG_KEY);
        ds_enc_string(b, "", 0);
        ds_enc_key(b, v->u.key, true);
        break;
    case DAS_DS_NULL:
    case DAS_DS_ENTITY:
    default:
        ds_buf_byte(b, TAG_NULL);
        break;
    }
}

void ds_invert(ds_buf_t *b, size_t from)
{
    for (size_t i = from; i < b->n; i++)
        b->p[i] = (unsigned char)~b->p[i];
}

/* The length of an escaped string at p, terminator included; 0 if it has none. */
static size_t str_len(const unsigned char *p, size_t n, unsigned char x)
{
    for (size_t i = 0; i + 1 < n; i++) {
        if ((p[i] ^ x) != 0x00)
            continue;
        unsigned char next = p[i + 1] ^ x;
        if (next == 0x01)
            return i + 2;
        if (next != 0xff)
            return 0;
        i++;
    }
    return 0;
}

static size_t elems_len(const unsigned char *p, size_t n, unsigned char x)
{
    size_t i = 0;
    for (;;) {
        if (i + 1 < n && (p[i] ^ x) == 0 && (p[i + 1] ^ x) == 0)
            return i + 2;
        size_t l = str_len(p + i, n - i, x);
        if (!l || i + l >= n)
            return 0;
        i += l;
        unsigned char t = p[i++] ^ x;
        if (t == 0x01) {
            if (i + 8 > n)
                return 0;
            i += 8;
        } else if (t == 0x02) {
            l = str_len(p + i, n - i, x);
            if (!l)
                return 0;
            i += l;
        } else {
            return 0;
        }
    }
}

size_t ds_key_len(const unsigned char *p, size_t n)
{
    size_t l = str_len(p, n, 0);
    if (!l)
        return 0;
    size_t e = elems_len(p + l, n - l, 0);
    return e ? l + e : 0;
}

size_t ds_comp_len(const unsigned char *p, size_t n, bool inverted)
{
    unsigned char x = inverted ? 0xff : 0x00;
    if (n < 1)
        return 0;
    size_t l, m, o;
    switch (p[0] ^ x) {
    case TAG_NULL:
        return 1;
    case TAG_INT:
    case TAG_DOUBLE:
        return n >= 9 ? 9 : 0;
    case TAG_BOOL:
        return n >= 2 ? 2 : 0;
    case TAG_GEOPT:
        return n >= 17 ? 17 : 0;
    case TAG_STRING:
        l = str_len(p + 1, n - 1, x);
        return l ? 1 + l : 0;
    case TAG_USER:
        l = str_len(p + 1, n - 1, x);
        if (!l)
            return 0;
        m = str_len(p + 1 + l, n - 1 - l, x);
        if (!m)
            return 0;
        o = str_len(p + 1 + l + m, n - 1 - l - m, x);
        return o ? 1 + l + m + o : 0;
    case TAG_KEY:
        l = str_len(p + 1, n - 1, x); /* app */
        if (!l)
            return 0;
        m = str_len(p + 1 + l, n - 1 - l, x); /* namespace */
        if (!m)
            return 0;
        o = elems_len(p + 1 + l + m, n - 1 - l - m, x);
        return o ? 1 + l + m + o : 0;
    default:
        return 0;
    }
}

size_t ds_string_comp_len(const unsigned char *p, size_t n)
{
    return str_len(p, n, 0);
}

size_t ds_path_comp_len(const unsigned char *p, size_t n)
{
    return elems_len(p, n, 0);
}

static char *dec_string(const unsigned char *p, size_t n, das_ds_arena_t *a, size_t *len,
                        size_t *used)
{
    size_t l = str_len(p, n, 0);
    if (!l)
        return NULL;
    char *s = das_ds_alloc(a, l);
    size_t o = 0;
    for (size_t i = 0; i < l - 2; i++) {
        if (p[i] == 0x00) { /* 00 FF */
            s[o++] = '\0';
            i++;
        } else {
            s[o++] = (char)p[i];
        }
    }
    s[o] = '\0';
    if (len)
        *len = o;
    *used = l;
    return s;
}

static int dec_elems(const unsigned char *p, size_t n, das_ds_arena_t *a, das_ds_key_t *k)
{
    size_t cap = 4, i = 0;
    das_ds_elem_t *path = das_ds_alloc(a, cap * sizeof *path);
    k->n = 0;
    for (;;) {
        if (i + 1 < n && p[i] == 0 && p[i + 1] == 0)
            break;
        size_t used;
        das_ds_elem_t e = {0};
        e.kind = dec_string(p + i, n - i, a, NULL, &used);
        if (!e.kind || i + used >= n)
            return -1;
        i += used;
        unsigned char t = p[i++];
        if (t == 0x01 && i + 8 <= n) {
            e.id = (int64_t)get_be64(p + i);
            i += 8;
        } else if (t == 0x02) {
            e.name = dec_string(p + i, n - i, a, NULL, &used);
            if (!e.name)
                return -1;
            i += used;
        } else {
            return -1;
        }
        if (k->n == cap) {
            das_ds_elem_t *bigger = das_ds_alloc(a, 2 * cap * sizeof *path);
            memcpy(bigger, path, cap * sizeof *path);
            path = bigger;
            cap *= 2;
        }
        path[k->n++] = e;
    }
    k->path = path;
    return k->n ? 0 : -1;
}

int ds_dec_key(const unsigned char *p, size_t n, das_ds_arena_t *a, const char *app,
               das_ds_key_t *k)
{
    size_t used;
    memset(k, 0, sizeof *k);
    k->app = app;
    k->ns = dec_string(p, n, a, NULL, &used);
    if (!k->ns)
        return -1;
    return dec_elems(p + used, n - used, a, k);
}

int ds_dec_value(const unsigned char *p, size_t n, das_ds_arena_t *a, das_ds_value_t *v)
{
    memset(v, 0, sizeof *v);
    size_t used, l;
    switch (n ? p[0] : 0) {
    case TAG_NULL:
        v->type = DAS_DS_NULL;
        return 0;
    case TAG_INT:
        if (n < 9)
            return -1;
        v->type = DAS_DS_INT;
        v->u.i = (int64_t)(get_be64(p + 1) ^ 0x8000000000000000ull);
        return 0;
    case TAG_BOOL:
        if (n < 2)
            return -1;
        v->type = DAS_DS_BOOL;
        v->u.b = p[1] != 0;
        return 0;
    case TAG_STRING:
        v->type = DAS_DS_STRING;
        v->u.s.p = dec_string(p + 1, n - 1, a, &v->u.s.n, &used);
        return v->u.s.p ? 0 : -1;
    case TAG_DOUBLE:
        if (n < 9)
            return -1;
        v->type = DAS_DS_DOUBLE;
        v->u.d = bits_double(get_be64(p + 1));
        return 0;
    case TAG_GEOPT:
        if (n < 17)
            return -1;
        v->type = DAS_DS_GEOPT;
        v->u.geo.lat = bits_double(get_be64(p + 1));
        v->u.geo.lng = bits_double(get_be64(p + 9));
        return 0;
    case TAG_USER:
        v->type = DAS_DS_USER;
        v->u.user.email = dec_string(p + 1, n - 1, a, NULL, &used);
        if (!v->u.user.email)
            return -1;
        l = 1 + used;
        v->u.user.auth_domain = dec_string(p + l, n - l, a, NULL, &used);
        if (!v->u.user.auth_domain)
            return -1;
        l += used;
        v->u.user.user_id = dec_string(p + l, n - l, a, NULL, &used);
        return v->u.user.user_id ? 0 : -1;
    case TAG_KEY: {
        v->type = DAS_DS_KEY;
        const char *app = dec_string(p + 1, n - 1, a, NULL, &used);
        if (!app)
            return -1;
        v->u.key = das_ds_alloc(a, sizeof *v->u.key);
        return ds_dec_key(p + 1 + used, n - 1 - used, a, app, v->u.key);
    }
    default:
        return -1;
    }
}

bool ds_prefix_end(const unsigned char *p, size_t n, ds_buf_t *out)
{
    out->n = 0;
    while (n > 0 && p[n - 1] == 0xff)
        n--;
    if (n == 0)
        return false;
    ds_buf_put(out, p, n);
    out->p[n - 1]++;
    return true;
}

/* ---- the stored entity ----
 * varint-prefixed strings; the key (namespace, elements), then each property: name, flags
 * (1 indexed, 2 multiple), the number of values, and each value: type, payload. */

static void put_str(ds_buf_t *b, const char *p, size_t n)
{
    ds_buf_varint(b, n);
    ds_buf_put(b, p, n);
}

static void put_cstr(ds_buf_t *b, const char *s)
{
    put_str(b, s ? s : "", s ? strlen(s) : 0);
}

static void ser_key(ds_buf_t *b, const das_ds_key_t *k)
{
    put_cstr(b, k->ns);
    ds_buf_varint(b, k->n);
    for (size_t i = 0; i < k->n; i++) {
        put_cstr(b, k->path[i].kind);
        if (k->path[i].name) {
            ds_buf_byte(b, 2);
            put_cstr(b, k->path[i].name);
        } else {
            ds_buf_byte(b, 1);
            ds_buf_varint(b, (uint64_t)k->path[i].id);
        }
    }
}

static void ser_value(ds_buf_t *b, const das_ds_value_t *v)
{
    ds_buf_byte(b, (unsigned char)v->type);
    switch (v->type) {
    case DAS_DS_INT:
    case DAS_DS_TIME:
        put_be64(b, (uint64_t)v->u.i);
        break;
    case DAS_DS_BOOL:
        ds_buf_byte(b, v->u.b);
        break;
    case DAS_DS_STRING:
    case DAS_DS_BYTES:
    case DAS_DS_TEXT:
    case DAS_DS_BLOB:
        put_str(b, v->u.s.p, v->u.s.n);
        break;
    case DAS_DS_DOUBLE: {
        uint64_t u;
        memcpy(&u, &v->u.d, 8);
        put_be64(b, u);
        break;
    }
    case DAS_DS_GEOPT: {
        uint64_t u;
        memcpy(&u, &v->u.geo.lat, 8);
        put_be64(b, u);
        memcpy(&u, &v->u.geo.lng, 8);
        put_be64(b, u);
        break;
    }
    case DAS_DS_USER:
        put_cstr(b, v->u.user.email);
        put_cstr(b, v->u.user.auth_domain);
        put_cstr(b, v->u.user.user_id);
        break;
    case DAS_DS_KEY:
        put_cstr(b, ""); /* the store's app (see ds_enc_value), given back at parse */
        ser_key(b, v->u.key);
        break;
    case DAS_DS_ENTITY:
        ds_entity_serialize(b, v->u.entity);
        break;
    default:
        break;
    }
}

void ds_entity_serialize(ds_buf_t *b, const das_ds_entity_t *e)
{
    ser_key(b, &e->key);
    ds_buf_varint(b, e->n);
    for (size_t i = 0; i < e->n; i++) {
        const das_ds_prop_t *p = &e->props[i];
        put_cstr(b, p->name);
        ds_buf_byte(b, (p->indexed ? 1 : 0) | (p->multiple ? 2 : 0));
        ds_buf_varint(b, p->n);
        for (size_t j = 0; j < p->n; j++)
            ser_value(b, &p->values[j]);
    }
}

size_t das_ds_entity_size(const das_ds_entity_t *e)
{
    ds_buf_t b = {0};
    ds_entity_serialize(&b, e);
    size_t n = b.n;
    ds_buf_free(&b);
    return n;
}

typedef struct {
    const unsigned char *p;
    size_t n, i;
    bool bad;
    das_ds_arena_t *a;
} reader_t;

static uint64_t rd_varint(reader_t *r)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->i >= r->n) {
            r->bad = true;
            return 0;
        }
        unsigned char c = r->p[r->i++];
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80))
            return v;
    }
    r->bad = true;
    return 0;
}

static unsigned char rd_byte(reader_t *r)
{
    if (r->i >= r->n) {
        r->bad = true;
        return 0;
    }
    return r->p[r->i++];
}

static uint64_t rd_be64(reader_t *r)
{
    if (r->n - r->i < 8 || r->i > r->n) {
        r->bad = true;
        return 0;
    }
    uint64_t v = get_be64(r->p + r->i);
    r->i += 8;
    return v;
}

static const char *rd_str(reader_t *r, size_t *len)
{
    uint64_t n = rd_varint(r);
    if (r->bad || n > r->n - r->i) {
        r->bad = true;
        return "";
    }
    const char *s = das_ds_strndup(r->a, (const char *)r->p + r->i, n);
    r->i += n;
    if (len)
        *len = n;
    return s;
}

static void rd_key(reader_t *r, das_ds_key_t *k)
{
    k->ns = rd_str(r, NULL);
    uint64_t n = rd_varint(r);
    if (r->bad || n > r->n - r->i) {
        r->bad = true;
        return;
    }
    k->n = n;
    k->path = das_ds_alloc(r->a, (n ? n : 1) * sizeof *k->path);
    for (size_t i = 0; i < n && !r->bad; i++) {
        k->path[i].kind = rd_str(r, NULL);
        if (rd_byte(r) == 2)
            k->path[i].name = rd_str(r, NULL);
        else
            k->path[i].id = (int64_t)rd_varint(r);
    }
}

static void rd_entity(reader_t *r, const char *app, das_ds_entity_t *e, int depth);

static void rd_value(reader_t *r, const char *app, das_ds_value_t *v, int depth)
{
    v->type = rd_byte(r);
    uint64_t u;
    switch (v->type) {
    case DAS_DS_NULL:
        break;
    case DAS_DS_INT:
    case DAS_DS_TIME:
        v->u.i = (int64_t)rd_be64(r);
        break;
    case DAS_DS_BOOL:
        v->u.b = rd_byte(r) != 0;
        break;
    case DAS_DS_STRING:
    case DAS_DS_BYTES:
    case DAS_DS_TEXT:
    case DAS_DS_BLOB:
        v->u.s.p = rd_str(r, &v->u.s.n);
        break;
    case DAS_DS_DOUBLE:
        u = rd_be64(r);
        memcpy(&v->u.d, &u, 8);
        break;
    case DAS_DS_GEOPT:
        u = rd_be64(r);
        memcpy(&v->u.geo.lat, &u, 8);
        u = rd_be64(r);
        memcpy(&v->u.geo.lng, &u, 8);
        break;
    case DAS_DS_USER:
        v->u.user.email = rd_str(r, NULL);
        v->u.user.auth_domain = rd_str(r, NULL);
        v->u.user.user_id = rd_str(r, NULL);
        break;
    case DAS_DS_KEY:
        v->u.key = das_ds_alloc(r->a, sizeof *v->u.key);
        rd_str(r, NULL); /* written empty: a key value is the store's app's */
        v->u.key->app = app;
        rd_key(r, v->u.key);
        break;
    case DAS_DS_ENTITY:
        if (depth > 100) {
            r->bad = true;
            break;
        }
        v->u.entity = das_ds_alloc(r->a, sizeof *v->u.entity);
        rd_entity(r, app, v->u.entity, depth + 1);
        break;
    default:
        r->bad = true;
    }
}

static void rd_entity(reader_t *r, const char *app, das_ds_entity_t *e, int depth)
{
    e->key.app = app;
    rd_key(r, &e->key);
    uint64_t n = rd_varint(r);
    if (r->bad || n > r->n - r->i) {
        r->bad = true;
        return;
    }
    e->n = n;
    e->props = das_ds_alloc(r->a, (n ? n : 1) * sizeof *e->props);
    for (size_t i = 0; i < n && !r->bad; i++) {
        das_ds_prop_t *p = &e->props[i];
        p->name = rd_str(r, NULL);
        unsigned char f = rd_byte(r);
        p->indexed = f & 1;
        p->multiple = f & 2;
        uint64_t m = rd_varint(r);
        if (r->bad || m > r->n - r->i) {
            r->bad = true;
            return;
        }
        p->n = m;
        p->values = das_ds_alloc(r->a, (m ? m : 1) * sizeof *p->values);
        for (size_t j = 0; j < m && !r->bad; j++)
            rd_value(r, app, &p->values[j], depth);
    }
}

int ds_entity_parse(const unsigned char *p, size_t n, das_ds_arena_t *a, const char *app,
                    das_ds_entity_t *e)
{
    reader_t r = {.p = p, .n = n, .a = a};
    memset(e, 0, sizeof *e);
    rd_entity(&r, app, e, 0);
    return r.bad || r.i != n ? -1 : 0;
}

/* ---- checks ---- */

int ds_fail(das_ds_err_t *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

bool ds_utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned char c = p[i];
        size_t len;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            len = 2;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + len > n)
            return false;
        for (size_t j = 1; j < len; j++) {
            if ((p[i + j] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (p[i + j] & 0x3f);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += len;
    }
    return true;
}

bool ds_is_reserved(const char *name)
{
    size_t n = strlen(name);
    return n >= 4 && name[0] == '_' && name[1] == '_' && name[n - 1] == '_' &&
           name[n - 2] == '_';
}

bool das_ds_namespace_is_valid(const char *ns)
{
    size_t n = 0;
    for (const char *p = ns; *p; p++, n++) {
        char c = *p;
        if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return n <= DAS_DS_MAX_NAMESPACE;
}

static int check_name(const char *what, const char *s, das_ds_err_t *err)
{
    if (!s || !*s)
        return ds_fail(err, AE_EINVAL, "%s must not be empty", what);
    size_t n = strlen(s);
    if (n > DAS_DS_MAX_INDEXED_BYTES)
        return ds_fail(err, AE_EINVAL, "%s is too long (%zu bytes). Maximum length is 1500.",
                       what, n);
    if (!ds_utf8_valid(s, n))
        return ds_fail(err, AE_EINVAL, "%s is not valid UTF-8.", what);
    if (ds_is_reserved(s))
        return ds_fail(err, AE_EINVAL, "%s \"%.100s\" is reserved (names of the form __*__ are "
                                       "the datastore's own)", what, s);
    return AE_OK;
}

int ds_check_key(const das_ds_key_t *k, const char *app, bool complete, das_ds_err_t *err)
{
    if (k->app && *k->app && strcmp(k->app, app) != 0)
        return ds_fail(err, AE_EINVAL, "app \"%.200s\" cannot access app \"%.200s\"'s data", app,
                       k->app);
    if (!das_ds_namespace_is_valid(k->ns ? k->ns : ""))
        return ds_fail(err, AE_EINVAL,
                       "namespace \"%.120s\" does not match regex \"^[0-9A-Za-z._-]{0,100}$\"",
                       k->ns);
    if (k->n == 0 || !k->path)
        return ds_fail(err, AE_EINVAL, "Key path must not be empty");
    if (k->n > 100)
        return ds_fail(err, AE_EINVAL, "Key path has %zu elements; the most is 100", k->n);
    for (size_t i = 0; i < k->n; i++) {
        const das_ds_elem_t *e = &k->path[i];
        int rc = check_name("Kind", e->kind, err);
        if (rc)
            return rc;
        if (e->name && e->id)
            return ds_fail(err, AE_EINVAL,
                           "each key path element should have id or name but not both");
        if (e->name) {
            rc = check_name("Key name", e->name, err);
            if (rc)
                return rc;
        } else if (e->id < 0) {
            return ds_fail(err, AE_EINVAL, "Key id must be positive, not %lld",
                           (long long)e->id);
        } else if (e->id == 0 && (complete || i + 1 < k->n)) {
            return ds_fail(err, AE_EINVAL,
                           i + 1 < k->n ? "Key path element %zu of %zu (%s) is incomplete: "
                                          "only the last element may lack an id or name"
                                        : "Key is incomplete (element %zu of %zu, kind %s, has "
                                          "no id or name)",
                           i + 1, k->n, e->kind);
        }
    }
    return AE_OK;
}

int das_ds_key_check(const das_ds_key_t *k, bool complete, das_ds_err_t *err)
{
    return ds_check_key(k, k->app ? k->app : "", complete, err);
}

static int check_value(const char *prop, const das_ds_value_t *v, bool indexed, const char *app,
                       int depth, das_ds_err_t *err);

static int cmp_name_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Each property name once (sorted, not pairwise: an entity may have tens of thousands). */
static int check_names_unique(const das_ds_entity_t *e, das_ds_err_t *err)
{
    if (e->n < 2)
        return AE_OK;
    const char **names = malloc(e->n * sizeof *names);
    if (!names)
        abort();
    for (size_t i = 0; i < e->n; i++)
        names[i] = e->props[i].name;
    qsort(names, e->n, sizeof *names, cmp_name_ptr);
    int rc = AE_OK;
    for (size_t i = 1; i < e->n && rc == AE_OK; i++)
        if (strcmp(names[i - 1], names[i]) == 0)
            rc = ds_fail(err, AE_EINVAL, "property %s is set twice (use a list)", names[i]);
    free(names);
    return rc;
}

static int check_props(const das_ds_entity_t *e, const char *app, int depth, das_ds_err_t *err)
{
    for (size_t i = 0; i < e->n; i++) {
        const das_ds_prop_t *p = &e->props[i];
        if (!p->name || !*p->name)
            return ds_fail(err, AE_EINVAL, "property name must not be empty");
        size_t nl = strlen(p->name);
        if (nl > DAS_DS_MAX_INDEXED_BYTES)
            return ds_fail(err, AE_EINVAL, "Property name is too long. Maximum length is 1500.");
        if (!ds_utf8_valid(p->name, nl))
            return ds_fail(err, AE_EINVAL, "Property name is not valid UTF-8.");
        if (ds_is_reserved(p->name))
            return ds_fail(err, AE_EINVAL, "cannot store entity with reserved property name '%s'",
                           p->name);
        if (p->n > 1 && !p->multiple)
            return ds_fail(err, AE_EINVAL, "property %s has %zu values but is not a list",
                           p->name, p->n);
        for (size_t j = 0; j < p->n; j++) {
            int rc = check_value(p->name, &p->values[j], p->indexed, app, depth, err);
            if (rc)
                return rc;
        }
    }
    return check_names_unique(e, err);

}

static int check_value(const char *prop, const das_ds_value_t *v, bool indexed, const char *app,
                       int depth, das_ds_err_t *err)
{
    switch (v->type) {
    case DAS_DS_STRING:
    case DAS_DS_TEXT:
        if (!ds_utf8_valid(v->u.s.p, v->u.s.n))
            return ds_fail(err, AE_EINVAL, "Property %s is not valid UTF-8.", prop);
        /* fall through */
    case DAS_DS_BYTES:
    case DAS_DS_BLOB: {
        bool idx = indexed && (v->type == DAS_DS_STRING || v->type == DAS_DS_BYTES);
        if (idx && v->u.s.n > DAS_DS_MAX_INDEXED_BYTES)
            return ds_fail(err, AE_EINVAL, "Property %s is too long. Maximum length is 1500.",
                           prop);
        if (v->u.s.n > DAS_DS_MAX_UNINDEXED_BYTES)
            return ds_fail(err, AE_EINVAL, "Property %s is too long. Maximum length is 1048487.",
                           prop);
        if (!v->u.s.p && v->u.s.n)
            return ds_fail(err, AE_EINVAL, "Property %s has no bytes", prop);
        return AE_OK;
    }
    case DAS_DS_DOUBLE:
    case DAS_DS_INT:
    case DAS_DS_TIME:
    case DAS_DS_BOOL:
    case DAS_DS_NULL:
        return AE_OK;
    case DAS_DS_GEOPT:
        if (!(v->u.geo.lat >= -90 && v->u.geo.lat <= 90 && v->u.geo.lng >= -180 &&
              v->u.geo.lng <= 180))
            return ds_fail(err, AE_EINVAL, "Property %s: a GeoPt needs -90 <= lat <= 90 and "
                                           "-180 <= lon <= 180", prop);
        return AE_OK;
    case DAS_DS_USER: {
        const char *em = v->u.user.email ? v->u.user.email : "";
        if (!*em)
            return ds_fail(err, AE_EINVAL, "Property %s: a user needs an email", prop);
        if (strlen(em) > DAS_DS_MAX_INDEXED_BYTES)
            return ds_fail(err, AE_EINVAL, "Property %s is too long. Maximum length is 1500.",
                           prop);
        return AE_OK;
    }
    case DAS_DS_KEY:
        if (!v->u.key)
            return ds_fail(err, AE_EINVAL, "Property %s: a key value needs a key", prop);
        return ds_check_key(v->u.key, app, true, err);
    case DAS_DS_ENTITY:
        if (!v->u.entity)
            return ds_fail(err, AE_EINVAL, "Property %s: an embedded entity is missing", prop);
        if (depth > 20)
            return ds_fail(err, AE_EINVAL, "Property %s: embedded entities nest too deep", prop);
        if (v->u.entity->key.n) {
            int rc = ds_check_key(&v->u.entity->key, app, false, err);
            if (rc)
                return rc;
        }
        return check_props(v->u.entity, app, depth + 1, err);
    default:
        return ds_fail(err, AE_EINVAL, "Property %s has an unknown type %d", prop, (int)v->type);
    }
}

int ds_check_entity(const das_ds_entity_t *e, const char *app, das_ds_err_t *err)
{
    int rc = ds_check_key(&e->key, app, false, err);
    if (rc)
        return rc;
    return check_props(e, app, 0, err);
}

int ds_check_value_for_query(const char *prop, const das_ds_value_t *v, das_ds_err_t *err)
{
    switch (v->type) {
    case DAS_DS_TEXT:
    case DAS_DS_BLOB:
    case DAS_DS_ENTITY:
        return ds_fail(err, AE_EINVAL, "filter on %s: text, blob and embedded entity values are "
                                       "not indexed and cannot be filtered on", prop);
    case DAS_DS_STRING:
    case DAS_DS_BYTES:
        if (v->u.s.n > DAS_DS_MAX_INDEXED_BYTES)
            return ds_fail(err, AE_EINVAL, "Property %s is too long. Maximum length is 1500.",
                           prop);
        return AE_OK;
    case DAS_DS_KEY:
        if (!v->u.key || v->u.key->n == 0)
            return ds_fail(err, AE_EINVAL, "filter on %s: a key value needs a key", prop);
        return AE_OK;
    default:
        return v->type < DAS_DS_TYPE_COUNT
                   ? AE_OK
                   : ds_fail(err, AE_EINVAL, "filter on %s: unknown type %d", prop, (int)v->type);
    }
}

void das_ds_key_format(const das_ds_key_t *k, char *buf, size_t size)
{
    size_t o = 0;
    if (!size)
        return;
    buf[0] = '\0';
#define OUT(...)                                                        \
    do {                                                                \
        int w_ = snprintf(buf + o, size - o, __VA_ARGS__);              \
        if (w_ < 0 || (size_t)w_ >= size - o) {                         \
            return;                                                     \
        }                                                               \
        o += (size_t)w_;                                                \
    } while (0)
    if (k->ns && *k->ns)
        OUT("%s!", k->ns);
    for (size_t i = 0; i < k->n; i++) {
        const das_ds_elem_t *e = &k->path[i];
        if (e->name)
            OUT("%s%s:%s", i ? "/" : "", e->kind, e->name);
        else if (e->id)
            OUT("%s%s:%lld", i ? "/" : "", e->kind, (long long)e->id);
        else
            OUT("%s%s:?", i ? "/" : "", e->kind);
    }
#undef OUT
}

/* ---- URL-safe base64 ---- */

char *ds_b64url(das_ds_arena_t *a, const unsigned char *p, size_t n)
{
    char *s = das_ds_alloc(a, 4 * ((n + 2) / 3) + 1);
    int len = n ? EVP_EncodeBlock((unsigned char *)s, p, (int)n) : 0;
    while (len > 0 && s[len - 1] == '=')
        len--;
    s[len] = '\0';
    for (int i = 0; i < len; i++)
        s[i] = s[i] == '+' ? '-' : s[i] == '/' ? '_' : s[i];
    return s;
}

int ds_unb64url(const char *s, ds_buf_t *out)
{
    size_t n = strlen(s);
    if (n % 4 == 1 || n > (1u << 20))
        return -1;
    char *t = malloc(n + 4);
    if (!t)
        abort();
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '-')
            c = '+';
        else if (c == '_')
            c = '/';
        else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) {
            free(t);
            return -1;
        }
        t[i] = c;
    }
    size_t pad = (4 - n % 4) % 4;
    for (size_t i = 0; i < pad; i++)
        t[n + i] = '=';
    size_t tn = n + pad;
    out->n = 0;
    reserve(out, tn);
    int len = tn ? EVP_DecodeBlock(out->p, (unsigned char *)t, (int)tn) : 0;
    free(t);
    if (len < 0)
        return -1;
    out->n = (size_t)len - pad;
    return 0;
}
