/* appengine/memcache.h - memcache for handlers: the platform's semantics, shared by every
 * instance of the app.
 *
 * Every call goes to the server (and, in the deterministic mode, is a point where another
 * request may be scheduled). Results use the AE_* codes of appengine/status.h:
 *   AE_OK           hit / stored / deleted
 *   AE_ENOTFOUND    miss (absent, expired, or locked by a delete), or nothing to delete
 *   AE_ENOTSTORED   add found the key, replace or cas did not (or a delete lock holds)
 *   AE_ECONTENTION  cas: the value changed since the gets that returned the cas id
 *   AE_ETOOLARGE    the value is over 1,000,000 bytes
 *   AE_EINVAL       incr/decr on a value that is not an unsigned 64-bit decimal number
 *   AE_EUNAVAILABLE the service could not be reached
 * Keys are strings; a key longer than 250 bytes is replaced by its SHA-1, as on the platform.
 * Expiration: 0 never, up to 30 days relative seconds, above that an absolute Unix time.
 * Values returned live in the request's arena.
 */
#ifndef AE_MEMCACHE_H
#define AE_MEMCACHE_H

#include <appengine/appengine.h>

#ifdef __cplusplus
extern "C" {
#endif

#define AE_MEMCACHE_MAX_VALUE 1000000

typedef struct {
    const void *data; /* arena memory, NUL-terminated after len */
    size_t len;
    uint32_t flags;
    uint64_t cas;     /* for ae_memcache_cas() */
} ae_memcache_value_t;

/* The namespace every later call of this request uses ("" is the default). Borrowed. */
AE_API void ae_memcache_set_namespace(ae_request_t *rq, const char *ns);

AE_API int ae_memcache_get(ae_request_t *rq, const char *key, ae_memcache_value_t *out);
/* The same as get; the name says the cas id is wanted. */
AE_API int ae_memcache_gets(ae_request_t *rq, const char *key, ae_memcache_value_t *out);
AE_API int ae_memcache_set(ae_request_t *rq, const char *key, const void *data, size_t len,
                           uint32_t flags, int64_t expiration);
AE_API int ae_memcache_add(ae_request_t *rq, const char *key, const void *data, size_t len,
                           uint32_t flags, int64_t expiration);
AE_API int ae_memcache_replace(ae_request_t *rq, const char *key, const void *data, size_t len,
                               uint32_t flags, int64_t expiration);
AE_API int ae_memcache_cas(ae_request_t *rq, const char *key, const void *data, size_t len,
                           uint32_t flags, int64_t expiration, uint64_t cas);
/* `lock_seconds` > 0: add and replace of this key fail for that long. */
AE_API int ae_memcache_delete(ae_request_t *rq, const char *key, int64_t lock_seconds);
/* `initial` NULL: a missing key is AE_ENOTFOUND; else it is created with *initial first. */
AE_API int ae_memcache_incr(ae_request_t *rq, const char *key, uint64_t delta,
                            const uint64_t *initial, uint64_t *new_value);
AE_API int ae_memcache_decr(ae_request_t *rq, const char *key, uint64_t delta,
                            const uint64_t *initial, uint64_t *new_value);

/* Batches, one round trip each. Every item gets its own status. */
typedef struct {
    const char *key;
    const void *data; /* stores */
    size_t len;
    uint32_t flags;
    int64_t expiration;
    uint64_t cas;     /* cas_multi */
    int status;       /* out */
} ae_memcache_item_t;

AE_API int ae_memcache_get_multi(ae_request_t *rq, const char *const *keys, size_t n,
                                 ae_memcache_value_t *values, int *statuses);
AE_API int ae_memcache_set_multi(ae_request_t *rq, ae_memcache_item_t *items, size_t n);
AE_API int ae_memcache_add_multi(ae_request_t *rq, ae_memcache_item_t *items, size_t n);
AE_API int ae_memcache_replace_multi(ae_request_t *rq, ae_memcache_item_t *items, size_t n);
AE_API int ae_memcache_cas_multi(ae_request_t *rq, ae_memcache_item_t *items, size_t n);
AE_API int ae_memcache_delete_multi(ae_request_t *rq, const char *const *keys, size_t n,
                                    int64_t lock_seconds, int *statuses);

typedef struct {
    const char *key;
    int64_t delta;      /* negative decrements */
    uint64_t new_value; /* out */
    int status;         /* out */
} ae_memcache_offset_t;

AE_API int ae_memcache_offset_multi(ae_request_t *rq, ae_memcache_offset_t *items, size_t n,
                                    const uint64_t *initial);

AE_API int ae_memcache_flush_all(ae_request_t *rq);

typedef struct {
    uint64_t hits, misses, byte_hits, items, bytes;
    int64_t oldest_item_age; /* seconds */
} ae_memcache_stats_t;

AE_API int ae_memcache_stats(ae_request_t *rq, ae_memcache_stats_t *out);

#ifdef __cplusplus
}
#endif

#endif
