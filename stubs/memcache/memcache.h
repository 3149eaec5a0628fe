/* memcache.h - the memcache service, emulated in process: a plain C library.
 *
 * One das_memcache_t holds the cache of the whole server, shared by every instance, as on the
 * platform. It knows nothing of HTTP, RPC or scheduling: it takes C values and returns AE_*
 * status codes (appengine/status.h). Time comes from a callback (the server's clock module),
 * never from time(), so a test or the deterministic mode can move it.
 *
 * Semantics (see shared/reference/appengine-platform.md §2):
 * - keys are bytes in a namespace ("" is the default; [0-9A-Za-z._-]{0,100}, else AE_EINVAL);
 *   a key longer than 250 bytes is replaced by the 40-character hex SHA-1 of the key, as the
 *   platform's client did;
 * - values are bytes with 32-bit flags, at most DAS_MEMCACHE_MAX_VALUE bytes (AE_ETOOLARGE);
 * - expiration: 0 never; up to 30 days (2,592,000 s) it is relative seconds; larger is an
 *   absolute Unix time; expired entries are dropped lazily, when touched;
 * - delete with lock seconds > 0 leaves a tombstone that misses on reads and makes add and
 *   replace (and cas) fail until it expires; set goes through it;
 * - incr/decr work on values that are unsigned 64-bit decimal numbers: decr clamps at 0, incr
 *   wraps modulo 2^64; a missing key with an initial value is created (without expiry) first;
 * - every stored item has a cas id; cas succeeds only if the item still has the id from the
 *   caller's gets;
 * - a byte cap evicts least-recently-used items. Everything an item holds counts against it:
 *   its namespace, a separator byte, its key and its value (delete locks count their key).
 *
 * Threads: every function may be called from any thread. The cache is split into shards by
 * key hash, each with its own lock and LRU list, so operations on different keys rarely
 * contend; the byte cap and the LRU order are per shard (cap / shards each). With shards = 1
 * eviction is exactly LRU over the whole cache.
 */
#ifndef DAS_MEMCACHE_H
#define DAS_MEMCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <appengine/status.h>

#define DAS_MEMCACHE_MAX_KEY 250               /* longer keys are hashed */
#define DAS_MEMCACHE_MAX_NAMESPACE 100         /* bytes */
#define DAS_MEMCACHE_MAX_VALUE 1000000         /* bytes */
#define DAS_MEMCACHE_RELATIVE_LIMIT 2592000    /* 30 days: larger expirations are absolute */
#define DAS_MEMCACHE_DEFAULT_MAX_BYTES (256ull * 1024 * 1024)

typedef struct das_memcache das_memcache_t;

typedef struct {
    uint64_t max_bytes;  /* 0: DAS_MEMCACHE_DEFAULT_MAX_BYTES */
    int shards;          /* 0: 16; 1 for exact global LRU */
    /* The current Unix time in milliseconds. Required. */
    int64_t (*now_ms)(void *ctx);
    void *clock_ctx;
} das_memcache_options_t;

/* Whether `ns` is a namespace the platform accepts: [0-9A-Za-z._-]{0,100} (NULL is ""). */
bool das_memcache_namespace_is_valid(const char *ns);

/* Returns NULL only when `o` or `o->now_ms` is NULL or `o->shards` < 0. */
das_memcache_t *das_memcache_create(const das_memcache_options_t *o);
void das_memcache_destroy(das_memcache_t *mc); /* NULL ok */

/* A value read from the cache: `data` is malloc'd (caller frees), NUL-terminated after `len`. */
typedef struct {
    char *data;
    size_t len;
    uint32_t flags;
    uint64_t cas; /* the item's cas id, for das_memcache_cas() */
} das_memcache_value_t;

/* Returns AE_OK and fills `out`, or AE_ENOTFOUND (missing, expired, or delete-locked). */
int das_memcache_get(das_memcache_t *mc, const char *ns, const void *key, size_t key_len,
                     das_memcache_value_t *out);

typedef enum {
    DAS_MEMCACHE_SET = 0, /* always stores */
    DAS_MEMCACHE_ADD,     /* only when absent and not delete-locked */
    DAS_MEMCACHE_REPLACE, /* only when present */
    DAS_MEMCACHE_CAS,     /* only when present with the same cas id */
} das_memcache_mode_t;

/* Stores a value. Returns AE_OK; AE_ENOTSTORED when the mode's condition fails (for CAS: the
 * item is absent or delete-locked); AE_ECONTENTION for CAS when the item changed since the
 * gets that returned `cas`; AE_ETOOLARGE when the value is over DAS_MEMCACHE_MAX_VALUE;
 * AE_EINVAL for a negative expiration. `cas` is used only by DAS_MEMCACHE_CAS. */
int das_memcache_store(das_memcache_t *mc, const char *ns, das_memcache_mode_t mode,
                       const void *key, size_t key_len, const void *value, size_t value_len,
                       uint32_t flags, int64_t expiration, uint64_t cas);

/* One item of a multi-operation; `status` is filled per item with the single call's code. */
typedef struct {
    const void *key;
    size_t key_len;
    const void *value; /* stores only */
    size_t value_len;
    uint32_t flags;
    int64_t expiration;
    uint64_t cas;      /* DAS_MEMCACHE_CAS only */
    int status;        /* out */
} das_memcache_item_t;

void das_memcache_store_multi(das_memcache_t *mc, const char *ns, das_memcache_mode_t mode,
                              das_memcache_item_t *items, size_t n);

/* get_multi: fills values[i] and statuses[i] (AE_OK or AE_ENOTFOUND) for each key. */
void das_memcache_get_multi(das_memcache_t *mc, const char *ns, const das_memcache_item_t *keys,
                            size_t n, das_memcache_value_t *values, int *statuses);

/* Deletes. `lock_seconds` > 0 keeps a tombstone that blocks add/replace that long.
 * Returns AE_OK, or AE_ENOTFOUND when there was no such item. */
int das_memcache_delete(das_memcache_t *mc, const char *ns, const void *key, size_t key_len,
                        int64_t lock_seconds);
void das_memcache_delete_multi(das_memcache_t *mc, const char *ns, das_memcache_item_t *items,
                               size_t n, int64_t lock_seconds);
/* Details of delete: `lock_seconds` follows the expiration rule (over 30 days it is a Unix
 * time), as the platform's stub did; a negative one returns AE_EINVAL. A delete-locked key
 * counts as missing (AE_ENOTFOUND, the lock stays), and a missing key gets no lock. */

/* incr (delta >= 0) or decr (delta < 0). With `initial` non-NULL a missing item is first
 * created with that value. Returns AE_OK and the new value; AE_ENOTFOUND when missing and no
 * initial value; AE_EINVAL when the stored value is not an unsigned 64-bit decimal number. */
int das_memcache_offset(das_memcache_t *mc, const char *ns, const void *key, size_t key_len,
                        int64_t delta, const uint64_t *initial, uint64_t *new_value);

typedef struct {
    const void *key;
    size_t key_len;
    int64_t delta;
    uint64_t new_value; /* out */
    int status;         /* out */
} das_memcache_offset_item_t;

void das_memcache_offset_multi(das_memcache_t *mc, const char *ns,
                               das_memcache_offset_item_t *items, size_t n,
                               const uint64_t *initial);

/* Drops every item in every namespace and resets the statistics. */
void das_memcache_flush_all(das_memcache_t *mc);

typedef struct {
    uint64_t hits, misses, byte_hits, items, bytes;
    int64_t oldest_item_age; /* seconds since the least recently used item was last touched */
} das_memcache_stats_t;

/* items and bytes count live values (expired entries are swept first; delete locks are not
 * items); byte_hits adds key + value bytes per hit, as the platform's stub did. */
void das_memcache_stats(das_memcache_t *mc, das_memcache_stats_t *out);

#endif
