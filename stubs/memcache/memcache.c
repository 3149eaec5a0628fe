/* memcache.c - the memcache service, emulated in process (the contract is in memcache.h).
 *
 * Design. The cache is an array of shards, and a key belongs to the shard picked by a 64-bit
 * hash of its namespace and key. Each shard has one mutex that guards everything in it: a
 * uthash table of entries keyed by "namespace NUL key", an intrusive doubly linked LRU list
 * (head = most recently used; every hit, store, incr and delete-lock moves the entry to the
 * head), the items and bytes it holds, and its hit/miss counters. No code path holds two shard
 * locks at once, so there is no lock order; multi-operations, flush_all and stats visit the
 * shards one at a time. The byte cap is per shard (max_bytes / shards): a store that pushes a
 * shard over it evicts from that shard's LRU tail, but never the entry just written, so an item
 * larger than the shard cap is still stored, alone (the platform stores any item up to 1 MB).
 * The cas id comes from one atomic counter per cache, bumped on every store and incr/decr.
 *
 * A delete with a lock turns the entry into a tombstone: it has no value, costs no bytes, is
 * not counted by the statistics, expires like an item, and is evicted like one when it reaches
 * the LRU tail. Expired entries are dropped when they are looked up, when an eviction reaches
 * them, and by das_memcache_stats(), which sweeps so that items and bytes count live items.
 */
#include "memcache.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#define uthash_fatal(msg) abort() /* out of memory aborts, as everywhere in devappserver */
#include <uthash.h>

/* ---------------------------------------------------------------- constants and types */

#define DEFAULT_SHARDS 16
#define KEY_INLINE 384    /* namespace + NUL + key: 100 + 1 + 250 fit without a malloc */
#define NEVER INT64_MAX   /* expires_ms of an entry that does not expire */
#define U64_DIGITS 21     /* "18446744073709551615" and its NUL */

typedef struct entry {
    UT_hash_handle hh;            /* in the shard's table, keyed by hkey */
    struct entry *newer, *older;  /* the shard's LRU list */
    char *value;                  /* malloc'd, NUL-terminated; NULL for a delete lock */
    size_t value_len;
    uint32_t flags;
    uint64_t cas;
    int64_t expires_ms;           /* NEVER, or the Unix ms from which the entry is gone */
    int64_t touched_ms;           /* the last access, for oldest_item_age */
    size_t key_len;               /* the stored key (after hashing), for the byte count */
    size_t hkey_len;
    char hkey[];                  /* namespace, NUL, key */
} entry_t;

/* One stripe of the cache. Aligned to a cache line so that two shards' locks never share one. */
typedef struct {
    _Alignas(64) pthread_mutex_t lock; /* guards every field below */
    entry_t *table;
    entry_t *head, *tail;              /* most and least recently used */
    uint64_t items, bytes;             /* entries with a value, and their key + value bytes */
    uint64_t held;                     /* what counts against the cap: every entry's
                                          namespace + NUL + key, and every value */
    uint64_t hits, misses, byte_hits;
} shard_t;

struct das_memcache {
    shard_t *shards; /* the array is fixed after create; each shard guards itself */
    int nshards;
    uint64_t shard_cap;
    int64_t (*now_ms)(void *ctx);
    void *clock_ctx;
    _Alignas(64) _Atomic uint64_t next_cas; /* on its own cache line: every store bumps it */
};

/* A lookup key: "namespace NUL key" with a long key replaced by its SHA-1, and its hash. */
typedef struct {
    char *p;
    size_t len;
    size_t key_len;
    uint64_t hash;
    char inline_buf[KEY_INLINE];
} keybuf_t;

/* ---------------------------------------------------------------- helpers */

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        abort();
    return p;
}

/* A malloc'd, NUL-terminated copy of `len` bytes (`p` may be NULL when `len` is 0). */
static char *dup_bytes(const void *p, size_t len)
{
    char *s = xmalloc(len + 1);
    if (len)
        memcpy(s, p, len);
    s[len] = '\0';
    return s;
}

/* FNV-1a with a splitmix64 finaliser: the low 32 bits index uthash's buckets, the high 32
 * bits pick the shard, so the two choices stay independent. */
static uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    return h ^ (h >> 31);
}

static void sha1_hex(const void *key, size_t key_len, char hex[41])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (!EVP_Digest(key, key_len, md, &md_len, EVP_sha1(), NULL) || md_len != 20)
        abort(); /* SHA-1 is always available in libcrypto: a failure is a broken install */
    for (unsigned i = 0; i < md_len; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

bool das_memcache_namespace_is_valid(const char *ns)
{
    if (!ns)
        return true;
    size_t n = 0;
    for (const char *p = ns; *p; p++, n++) {
        char c = *p;
        bool ok = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok || n == DAS_MEMCACHE_MAX_NAMESPACE)
            return false;
    }
    return true;
}

static void key_init(keybuf_t *kb, const char *ns, const void *key, size_t key_len)
{
    char hex[41];
    if (!ns)
        ns = "";
    if (key_len > DAS_MEMCACHE_MAX_KEY) {
        sha1_hex(key, key_len, hex);
        key = hex;
        key_len = 40;
    }
    size_t ns_len = strlen(ns);
    kb->len = ns_len + 1 + key_len;
    kb->key_len = key_len;
    kb->p = kb->len <= sizeof kb->inline_buf ? kb->inline_buf : xmalloc(kb->len);
    memcpy(kb->p, ns, ns_len + 1);
    if (key_len)
        memcpy(kb->p + ns_len + 1, key, key_len);
    kb->hash = hash_bytes(kb->p, kb->len);
}

static void key_dispose(keybuf_t *kb)
{
    if (kb->p != kb->inline_buf)
        free(kb->p);
}

static shard_t *shard_of(das_memcache_t *mc, const keybuf_t *kb)
{
    return &mc->shards[(kb->hash >> 32) % (uint64_t)mc->nshards];
}

/* Expiration seconds (0, relative up to 30 days, or absolute Unix seconds) to Unix ms. */
static int64_t expiry_ms(int64_t now, int64_t seconds)
{
    if (seconds == 0)
        return NEVER;
    if (seconds > DAS_MEMCACHE_RELATIVE_LIMIT)
        return seconds > INT64_MAX / 1000 ? NEVER : seconds * 1000;
    return now > INT64_MAX - seconds * 1000 ? NEVER : now + seconds * 1000;
}

static bool is_expired(const entry_t *e, int64_t now)
{
    return now >= e->expires_ms;
}

/* Parses an unsigned 64-bit decimal: digits only, no sign, no space, no overflow. */
static bool parse_u64(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* incr wraps modulo 2^64; decr clamps at 0. */
static uint64_t apply_delta(uint64_t v, int64_t delta)
{
    if (delta >= 0)
        return v + (uint64_t)delta;
    uint64_t down = (uint64_t)0 - (uint64_t)delta; /* |delta|, also for INT64_MIN */
    return v > down ? v - down : 0;
}

/* ---------------------------------------------------------------- shard internals */

static void lru_unlink_locked(shard_t *sh, entry_t *e)
{
    if (e->newer)
        e->newer->older = e->older;
    else
        sh->head = e->older;
    if (e->older)
        e->older->newer = e->newer;
    else
        sh->tail = e->newer;
    e->newer = e->older = NULL;
}

static void lru_push_locked(shard_t *sh, entry_t *e)
{
    e->newer = NULL;
    e->older = sh->head;
    if (sh->head)
        sh->head->newer = e;
    sh->head = e;
    if (!sh->tail)
        sh->tail = e;
}

/* Marks an access: the entry becomes the most recently used. */
static void touch_locked(shard_t *sh, entry_t *e, int64_t now)
{
    if (sh->head != e) {
        lru_unlink_locked(sh, e);
        lru_push_locked(sh, e);
    }
    e->touched_ms = now;
}

/* Frees the value, leaving a tombstone; keeps the shard's items and bytes exact. */
static void clear_value_locked(shard_t *sh, entry_t *e)
{
    if (!e->value)
        return;
    sh->items--;
    sh->bytes -= e->key_len + e->value_len;
    sh->held -= e->value_len;
    free(e->value);
    e->value = NULL;
    e->value_len = 0;
}

static void drop_locked(shard_t *sh, entry_t *e)
{
    clear_value_locked(sh, e);
    sh->held -= e->hkey_len;
    HASH_DELETE(hh, sh->table, e);
    lru_unlink_locked(sh, e);
    free(e);
}

/* Returns the entry for the key (a tombstone has value == NULL), or NULL. An expired entry is
 * dropped and reported as missing. */
static entry_t *find_locked(shard_t *sh, const keybuf_t *kb, int64_t now)
{
    entry_t *e = NULL;
    HASH_FIND_BYHASHVALUE(hh, sh->table, kb->p, (unsigned)kb->len, (unsigned)kb->hash, e);
    if (e && is_expired(e, now)) {
        drop_locked(sh, e);
        e = NULL;
    }
    return e;
}

/* Adds an entry without a value at the LRU head; the caller gives it one or a lock time. */
static entry_t *insert_locked(shard_t *sh, const keybuf_t *kb, int64_t now)
{
    entry_t *e = xmalloc(sizeof *e + kb->len);
    memset(e, 0, sizeof *e);
    memcpy(e->hkey, kb->p, kb->len);
    e->hkey_len = kb->len;
    e->key_len = kb->key_len;
    e->expires_ms = NEVER;
    e->touched_ms = now;
    sh->held += e->hkey_len;
    HASH_ADD_KEYPTR_BYHASHVALUE(hh, sh->table, e->hkey, (unsigned)e->hkey_len,
                                (unsigned)kb->hash, e);
    lru_push_locked(sh, e);
    return e;
}

/* Gives `e` a new value (taking ownership of `value`), a new cas id, and the LRU head. */
static void set_value_locked(das_memcache_t *mc, shard_t *sh, entry_t *e, char *value,
                             size_t len, uint32_t flags, int64_t expires_ms, int64_t now)
{
    clear_value_locked(sh, e);
    e->value = value;
    e->value_len = len;
    e->flags = flags;
    e->expires_ms = expires_ms;
    e->cas = atomic_fetch_add_explicit(&mc->next_cas, 1, memory_order_relaxed);
    sh->items++;
    sh->bytes += e->key_len + len;
    sh->held += len;
    touch_locked(sh, e, now);
}

/* Evicts from the LRU tail until the shard is within its cap, sparing `keep`, which is at the
 * head: when only `keep` is left, it stays even if it alone is over the cap. */
static void evict_locked(das_memcache_t *mc, shard_t *sh, const entry_t *keep)
{
    while (sh->held > mc->shard_cap && sh->tail && sh->tail != keep)
        drop_locked(sh, sh->tail);
}

static void clear_shard_locked(shard_t *sh)
{
    entry_t *e = sh->head;
    HASH_CLEAR(hh, sh->table); /* first: it frees the buckets through an entry */
    while (e) {
        entry_t *older = e->older;
        free(e->value);
        free(e);
        e = older;
    }
    sh->head = sh->tail = NULL;
    sh->items = sh->bytes = sh->held = 0;
}

/* ---------------------------------------------------------------- public functions */

das_memcache_t *das_memcache_create(const das_memcache_options_t *o)
{
    if (!o || !o->now_ms || o->shards < 0)
        return NULL;
    das_memcache_t *mc = aligned_alloc(_Alignof(das_memcache_t), sizeof *mc);
    if (!mc)
        abort();
    memset(mc, 0, sizeof *mc);
    mc->nshards = o->shards ? o->shards : DEFAULT_SHARDS;
    uint64_t max_bytes = o->max_bytes ? o->max_bytes : DAS_MEMCACHE_DEFAULT_MAX_BYTES;
    mc->shard_cap = max_bytes / (uint64_t)mc->nshards;
    mc->now_ms = o->now_ms;
    mc->clock_ctx = o->clock_ctx;
    atomic_init(&mc->next_cas, 1); /* 0 is never a valid cas id */

    size_t size = (size_t)mc->nshards * sizeof(shard_t); /* a multiple of the alignment */
    mc->shards = aligned_alloc(_Alignof(shard_t), size);
    if (!mc->shards)
        abort();
    memset(mc->shards, 0, size);
    for (int i = 0; i < mc->nshards; i++)
        pthread_mutex_init(&mc->shards[i].lock, NULL);
    return mc;
}

void das_memcache_destroy(das_memcache_t *mc)
{
    if (!mc)
        return;
    for (int i = 0; i < mc->nshards; i++) {
        clear_shard_locked(&mc->shards[i]); /* no other thread may use mc any more */
        pthread_mutex_destroy(&mc->shards[i].lock);
    }
    free(mc->shards);
    free(mc);
}

int das_memcache_get(das_memcache_t *mc, const char *ns, const void *key, size_t key_len,
                     das_memcache_value_t *out)
{
    keybuf_t kb;
    int rc = AE_ENOTFOUND;
    int64_t now = mc->now_ms(mc->clock_ctx);

    memset(out, 0, sizeof *out);
    if (!das_memcache_namespace_is_valid(ns))
        return AE_EINVAL;
    key_init(&kb, ns, key, key_len);
    shard_t *sh = shard_of(mc, &kb);
    pthread_mutex_lock(&sh->lock);
    entry_t *e = find_locked(sh, &kb, now);
    if (e && e->value) {
        out->data = dup_bytes(e->value, e->value_len);
        out->len = e->value_len;
        out->flags = e->flags;
        out->cas = e->cas;
        sh->hits++;
        sh->byte_hits += e->key_len + e->value_len;
        touch_locked(sh, e, now);
        rc = AE_OK;
    } else {
        sh->misses++;
    }
    pthread_mutex_unlock(&sh->lock);
    key_dispose(&kb);
    return rc;
}

/* Checks the mode's condition against the entry found (a tombstone has no value). */
static int check_mode(das_memcache_mode_t mode, const entry_t *e, uint64_t cas)
{
    bool live = e && e->value;
    switch (mode) {
    case DAS_MEMCACHE_SET:
        return AE_OK;
    case DAS_MEMCACHE_ADD:
        return e ? AE_ENOTSTORED : AE_OK; /* present, or delete-locked */
    case DAS_MEMCACHE_REPLACE:
        return live ? AE_OK : AE_ENOTSTORED;
    case DAS_MEMCACHE_CAS:
        if (!live)
            return AE_ENOTSTORED;
        return e->cas == cas ? AE_OK : AE_ECONTENTION;
    }
    return AE_EINVAL;
}

int das_memcache_store(das_memcache_t *mc, const char *ns, das_memcache_mode_t mode,
                       const void *key, size_t key_len, const void *value, size_t value_len,
                       uint32_t flags, int64_t expiration, uint64_t cas)
{
    if (value_len > DAS_MEMCACHE_MAX_VALUE)
        return AE_ETOOLARGE;
    if (expiration < 0 || mode < DAS_MEMCACHE_SET || mode > DAS_MEMCACHE_CAS ||
        !das_memcache_namespace_is_valid(ns))
        return AE_EINVAL;

    keybuf_t kb;
    int64_t now = mc->now_ms(mc->clock_ctx);
    char *copy = dup_bytes(value, value_len); /* copied before taking the lock */

    key_init(&kb, ns, key, key_len);
    shard_t *sh = shard_of(mc, &kb);
    pthread_mutex_lock(&sh->lock);
    entry_t *e = find_locked(sh, &kb, now);
    int rc = check_mode(mode, e, cas);
    if (rc == AE_OK) {
        if (!e)
            e = insert_locked(sh, &kb, now);
        set_value_locked(mc, sh, e, copy, value_len, flags, expiry_ms(now, expiration), now);
        copy = NULL;
        evict_locked(mc, sh, e);
    }
    pthread_mutex_unlock(&sh->lock);
    key_dispose(&kb);
    free(copy);
    return rc;
}

void das_memcache_store_multi(das_memcache_t *mc, const char *ns, das_memcache_mode_t mode,
                              das_memcache_item_t *items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        das_memcache_item_t *it = &items[i];
        it->status = das_memcache_store(mc, ns, mode, it->key, it->key_len, it->value,
                                        it->value_len, it->flags, it->expiration, it->cas);
    }
}

void das_memcache_get_multi(das_memcache_t *mc, const char *ns, const das_memcache_item_t *keys,
                            size_t n, das_memcache_value_t *values, int *statuses)
{
    for (size_t i = 0; i < n; i++) {
        int rc = das_memcache_get(mc, ns, keys[i].key, keys[i].key_len, &values[i]);
        if (statuses)
            statuses[i] = rc;
    }
}

int das_memcache_delete(das_memcache_t *mc, const char *ns, const void *key, size_t key_len,
                        int64_t lock_seconds)
{
    if (lock_seconds < 0 || !das_memcache_namespace_is_valid(ns))
        return AE_EINVAL;

    keybuf_t kb;
    int rc = AE_OK;
    int64_t now = mc->now_ms(mc->clock_ctx);

    key_init(&kb, ns, key, key_len);
    shard_t *sh = shard_of(mc, &kb);
    pthread_mutex_lock(&sh->lock);
    entry_t *e = find_locked(sh, &kb, now);
    if (!e || !e->value) {
        rc = AE_ENOTFOUND; /* a tombstone is already deleted: it stays as it is */
    } else if (lock_seconds == 0) {
        drop_locked(sh, e);
    } else {
        clear_value_locked(sh, e);
        e->expires_ms = expiry_ms(now, lock_seconds);
        touch_locked(sh, e, now);
    }
    pthread_mutex_unlock(&sh->lock);
    key_dispose(&kb);
    return rc;
}

void das_memcache_delete_multi(das_memcache_t *mc, const char *ns, das_memcache_item_t *items,
                               size_t n, int64_t lock_seconds)
{
    for (size_t i = 0; i < n; i++)
        items[i].status = das_memcache_delete(mc, ns, items[i].key, items[i].key_len,
                                              lock_seconds);
}

int das_memcache_offset(das_memcache_t *mc, const char *ns, const void *key, size_t key_len,
                        int64_t delta, const uint64_t *initial, uint64_t *new_value)
{
    keybuf_t kb;
    int rc = AE_OK;
    uint64_t v = 0;
    uint32_t flags = 0;
    int64_t expires = NEVER;
    char text[U64_DIGITS];
    if (!das_memcache_namespace_is_valid(ns))
        return AE_EINVAL;
    int64_t now = mc->now_ms(mc->clock_ctx);

    key_init(&kb, ns, key, key_len);
    shard_t *sh = shard_of(mc, &kb);
    pthread_mutex_lock(&sh->lock);
    entry_t *e = find_locked(sh, &kb, now);
    if (e && e->value) {
        if (!parse_u64(e->value, e->value_len, &v)) {
            rc = AE_EINVAL;
            goto out;
        }
        flags = e->flags;
        expires = e->expires_ms;
    } else if (initial) {
        v = *initial; /* created with flags 0 and no expiry, over a delete lock if any */
        if (!e)
            e = insert_locked(sh, &kb, now);
    } else {
        rc = AE_ENOTFOUND;
        goto out;
    }
    v = apply_delta(v, delta);
    int len = snprintf(text, sizeof text, "%" PRIu64, v);
    set_value_locked(mc, sh, e, dup_bytes(text, (size_t)len), (size_t)len, flags, expires, now);
    evict_locked(mc, sh, e);
out:
    pthread_mutex_unlock(&sh->lock);
    key_dispose(&kb);
    if (new_value)
        *new_value = rc == AE_OK ? v : 0;
    return rc;
}

void das_memcache_offset_multi(das_memcache_t *mc, const char *ns,
                               das_memcache_offset_item_t *items, size_t n,
                               const uint64_t *initial)
{
    for (size_t i = 0; i < n; i++) {
        das_memcache_offset_item_t *it = &items[i];
        it->status = das_memcache_offset(mc, ns, it->key, it->key_len, it->delta, initial,
                                         &it->new_value);
    }
}

void das_memcache_flush_all(das_memcache_t *mc)
{
    for (int i = 0; i < mc->nshards; i++) {
        shard_t *sh = &mc->shards[i];
        pthread_mutex_lock(&sh->lock);
        clear_shard_locked(sh);
        sh->hits = sh->misses = sh->byte_hits = 0;
        pthread_mutex_unlock(&sh->lock);
    }
}

void das_memcache_stats(das_memcache_t *mc, das_memcache_stats_t *out)
{
    int64_t now = mc->now_ms(mc->clock_ctx);
    int64_t oldest = NEVER; /* the earliest last access among each shard's LRU item */

    memset(out, 0, sizeof *out);
    for (int i = 0; i < mc->nshards; i++) {
        shard_t *sh = &mc->shards[i];
        bool found = false;
        pthread_mutex_lock(&sh->lock);
        for (entry_t *e = sh->tail, *newer; e; e = newer) { /* from least recently used */
            newer = e->newer;
            if (is_expired(e, now)) {
                drop_locked(sh, e);
            } else if (e->value && !found) {
                found = true;
                if (e->touched_ms < oldest)
                    oldest = e->touched_ms;
            }
        }
        out->hits += sh->hits;
        out->misses += sh->misses;
        out->byte_hits += sh->byte_hits;
        out->items += sh->items;
        out->bytes += sh->bytes;
        pthread_mutex_unlock(&sh->lock);
    }
    if (oldest != NEVER && now > oldest)
        out->oldest_item_age = (now - oldest) / 1000;
}
