/* test_memcache.c - the memcache stub's rules, one test per rule, through memcache.h only.
 *
 * Every test drives a fake clock (fake_clock_t) that it advances by hand, so expiry, delete
 * locks and oldest_item_age are exact.
 */
#include "memcache.h"

#include <stdlib.h>
#include <string.h>

#include "check.h"

#define T0 1700000000000LL /* the fake clock's start, Unix ms */
#define DAY 86400LL

/* A key or value given as a C string: expands to pointer, length. */
#define S(s) (s), strlen(s)

typedef struct {
    int64_t now_ms;
} fake_clock_t;

static int64_t fake_now(void *ctx)
{
    return ((fake_clock_t *)ctx)->now_ms;
}

static das_memcache_t *new_cache(fake_clock_t *clk, uint64_t max_bytes, int shards)
{
    clk->now_ms = T0;
    das_memcache_options_t o = {.max_bytes = max_bytes, .shards = shards, .now_ms = fake_now,
                                .clock_ctx = clk};
    return das_memcache_create(&o);
}

static int set(das_memcache_t *mc, const char *key, const char *value, int64_t expiration)
{
    return das_memcache_store(mc, "", DAS_MEMCACHE_SET, S(key), S(value), 0, expiration, 0);
}

static int store(das_memcache_t *mc, das_memcache_mode_t mode, const char *key,
                 const char *value)
{
    return das_memcache_store(mc, "", mode, S(key), S(value), 0, 0, 0);
}

/* Returns 1 when `key` hits in the default namespace (and frees the value). */
static int hit(das_memcache_t *mc, const char *key)
{
    das_memcache_value_t v;
    int rc = das_memcache_get(mc, "", S(key), &v);
    free(v.data);
    return rc == AE_OK;
}

/* The value of `key` as a C string the caller frees, or NULL on a miss. */
static char *value_of(das_memcache_t *mc, const char *key)
{
    das_memcache_value_t v;
    return das_memcache_get(mc, "", S(key), &v) == AE_OK ? v.data : NULL;
}

/* ---------------------------------------------------------------- creation */

TEST(test_memcache_create_requires_a_clock)
{
    das_memcache_options_t o = {0};
    CHECK(das_memcache_create(&o) == NULL);
    CHECK(das_memcache_create(NULL) == NULL);
    das_memcache_destroy(NULL);
}

/* ---------------------------------------------------------------- get and set */

TEST(test_memcache_set_then_get_returns_value_flags_and_cas)
{
    fake_clock_t clk;
    das_memcache_t *mc = new_cache(&clk, 0, 0);
    CHECK_OK(das_memcache_store(mc, "", DAS_MEMCACHE_SET, S("k"), "v\0w", 3, 0xdeadbeef, 0, 0));
    das_memcache_value_t v;
    CHECK_OK(das_memcache_get(mc, "", S("k"), &v));
    CHECK_EQ(v.len, 3);
    CHECK(memcmp(v.data, "v\0w", 4) == 0); /* binary value, NUL-terminated after len */
    CHECK_EQ(v.flags, 0xdeadbeef);
    CHECK(v.cas != 0);
    uint64_t first_cas = v.cas;
    free(v.data);

    CHECK_OK(set(mc, "k", "second", 0));
    CHECK_OK(das_memcache_get(mc, "", S("k"), &v));
    CHECK_STR_EQ(v.data, "second");
    CHECK_EQ(v.flags, 0);
    CHECK(v.cas != first_cas);
    free(v.data);
    das_memcache_destroy(mc);
}

TEST(test_memcache_get_counts_hits_misses_and_byte_hits)
{
    fake_clock_t clk;
    das_memcache_t *mc = new_cache(&clk, 0, 0);
    das_memcache_value_t v;
    CHECK_EQ(das_memcache_get(mc, "", S("absent"), &v), AE_ENOTFOUND);
    CHECK(v.data == NULL);
    CHECK_OK(set(mc, "key", "value", 0));
    CHECK(hit(mc, "key"));
    CHECK(hit(mc, "key"));
    CHECK(!hit(mc, "other"));
    das_memcache_stats_t st;
    das_memcache_stats(mc, &st);
    CHECK_EQ(st.hits, 2);
    CHECK_EQ(st.misses, 2);
    CHECK_EQ(st.byte_hits, 2 * (3 + 5)); /* key + value bytes per hit, as the Python stub */
    das_memcache_destroy(mc);
}

/* ---------------------------------------------------------------- add, replace, cas */

TEST(test_memcache_add_on_existing_key_returns_enotstored)
{
    fake_clock_t clk;
    das_memcache_t *mc = new_cache(&clk, 0, 0);
    CHECK_OK(store(mc, DAS_MEMCACHE_ADD, "k", "first"));
    CHECK_EQ(store(mc, DAS_MEMCACHE_ADD, "k", "second"), AE_ENOTSTORED);
    char *s = value_of(mc, "k");
    CHECK_STR_EQ(s, "first");
    free(s);
    das_memcache_destroy(mc);
}

TEST(test_memcache_add_after_expiry_stores)
{
    fake_clock_t clk;
    das_memcache_t *mc = new_cache(&clk, 0, 0);
    CHECK_OK(set(mc, "k", "old", 10));
    CHECK_EQ(store(mc, DAS_MEMCACHE_ADD, "k", "new"), AE_ENOTSTORED);
    clk.now_ms += 10 * 1000;
    CHECK_OK(store(mc, DAS_MEMCACHE_ADD, "k", "new"));
    char *s = value_of(mc, "k");
    CHECK_STR_EQ(s, "new");
    free(s);
    das_memcache_destroy(mc);
}

TEST(test_memcache_replace_on_missing_key_returns_enotstored)
{
    fake_clock_t clk;
    das_memcache_t *mc = new_cache(&clk, 0, 0);
    CHECK_EQ(store(mc, DAS_MEMCACHE_REPLACE, "k", "v"), AE_ENOTSTORED);
    CHECK(!hit(mc, "k"));
    CHECK_OK(set(mc, "k", "v", 0));
    CHECK_OK(store(mc, DAS_MEMCACHE_REPLACE, "k", "w"));
    char *s = value_of(mc, "k");
    CHECK_STR_EQ(s, "w");
    free(s);
    das_memcache_destroy(mc);
}

TEST(test_memcache_cas_with_id_from_gets_stores)
{
    fake_clock_t clk;
    das_memcache_t *mc = new_cache(&clk, 0, 0);
    CHECK_OK(set(mc, "k", "1", 0));
    das_memcache_value_t v;
    CHECK_OK(das_memcache_get(mc, "", S("k"), &v));
    free(v.data);
    CHECK_OK(das_memcache_store(mc, "", DAS_MEMCACHE_CAS, S("k"), S("2"), 7, 0, v.cas));
    das_memcache_value_t after;
    CHECK_OK(das_memcache_get(mc, "", S("k"), &after));
    CHECK_STR_EQ(after.data, "2");
    CHECK_EQ(after.flags, 7);
    CHECK(after.cas != v.cas);
    free(after.data);
    das_memcache_destroy(mc);
}

TEST(test_memcache_cas_with_stale_id_returns_econtention)
{
    fake_clock_t clk;
    das_memcache_t *mc = new_cache(&clk, 0, 0);
    CHECK_OK(set(mc, "k", "1", 0));
    das_memcache_value_t v;
    CHECK_OK(das_memcache_get(mc, "", S("k"), &v));
    free(v.data);
    CHECK_OK(das_memcache_store(mc, "", DAS_MEMCACHE_CAS, S("k"), S("2"), 0, 0, v.cas));
    CHECK_EQ(das_memcache_store(mc, "", DAS_MEMCACHE_CAS, S("k"), S("3"), 0, 0, v.cas),
             AE_ECONTENTION);
    char *s = value_of(mc, "k");
    CHECK_STR_EQ(s, "2");
    free(s);
    das_memcache_destroy(mc);
}

TEST(test_memcache_cas_on_missing_key_returns_enotstored)
{
    fake_clock_t clk;
    das_memcache_t *mc = new_cache(&clk, 0, 0);
    CHECK_EQ(das_memcache_store(mc, "", DAS_MEMCACHE_CAS, S("k"), S("v"), 0, 0, 1),
             AE_ENOTSTORED);
    CHECK(!hit(mc, "k"));
    das_memcache_destroy(mc);
}

/* ---------------------------------------------------------------- expiration */

TEST(test_memcache_relative_expiration_misses_after_deadline)
{
    fake_clock_t clk;
    das_memcache_t *mc = new_cache(&clk, 0, 0);
    CHECK_OK(set(mc, "k", "v", 30));
    clk.now_ms += 29999;
    CHECK(hit(mc, "k"));
    clk.now_ms += 1;
    CHECK(!hit(mc, "k"));
    das_memcache_destroy(mc);
}

TEST(test_memcache_relative_expiration_limit_is_30_days)
{
    fake_clock_t clk;
    das_memcache_t *mc = new_cache(&clk, 0, 0);
    CHECK_OK(set(mc, "k", "v", DAS_MEMCACHE_RELATIVE_LIMIT)); /* still relative: 30 days on */
    clk.now_ms += 30 * DAY * 1000 - 1;
    CHECK(hit(mc, "k"));
    clk.now_ms += 1;
    CHECK(!hit(mc, "k"));
    das_memcache_destroy(mc);
}

TEST(test_memcache_expiration_over_30_days_is_absolute_unix_time)
{
    fake_clock_t clk;
    das_memcache_t *mc = new_cache(&clk, 0, 0);
    int64_t deadline = T0 / 1000 + 60; /* one minute from now, as a Unix time */
    CHECK_OK(set(mc, "k", "v", deadline));
    clk.now_ms += 59 * 1000;
    CHECK(hit(mc, "k"));
    clk.now_ms += 1000;
    CHECK(!hit(mc, "k"));
    /* An absolute time in the past: stored, but already gone. */
    CHECK_OK(set(mc, "past", "v", DAS_MEMCACHE_RELATIVE_LIMIT + 1));
    CHECK(!hit(mc, "past"));
    das_memcache_destroy(mc);
}

TEST(test_memcache_zero_expiration_never_expires)
{
    fake_clock_t clk;
    das_memcache_t *mc = new_cache(&clk, 0, 0);
    CHECK_OK(set(mc, "k", "v", 0));
    clk.now_ms += 100 * 365 * DAY * 1000;
    CHECK(hit(mc, "k"));
    das_memcache_destroy(mc);
}

TEST(test_memcache_negative_expiration_returns_einval)
{
    fake_clock_t clk;
    das_memcache_t *mc = new_cache(&clk, 0, 0);
    CHECK_EQ(set(mc, "k", "v", -1), AE_EINVAL);
    CHECK(!hit(mc, "k"));
    das_memcache_destroy(mc);
}

/* ---------------------------------------------------------------- delete */

TEST(test_memcache_delete_twice_returns_enotfound)
{
    fake_clock_t clk;
    das_memcache_t *mc = new_cache(&clk, 0, 0);
    CHECK_OK(set(mc, "k", "v", 0));
    CHECK_OK(das_memcache_delete(mc, "", S("k"), 0));
    CHECK(!hit(mc, "k"));
    CHECK_EQ(das_memcache_delete(mc, "", S("k"), 0), AE_ENOTFOUND);
    CHECK_EQ(das_memcache_delete(mc, "", S("never"), 0), AE_ENOTFOUND);
    CHECK_EQ(das_memcache_delete(mc, "", S("k"), -1), AE_EINVAL);
    das_memcache_destroy(mc);
}

TEST(test_memcache_delete_lock_blocks_add_replace_and_cas_until_it_expires)
{
    fake_clock_t clk;
    das_memcache_t *mc = new_cache(&clk, 0, 0);
    CHECK_OK(set(mc, "k", "v", 0));
    das_memcache_value_t v;
    CHECK_OK(das_memcache_get(mc, "", S("k"), &v));
    free(v.data);
    uint64_t cas = v.cas;
    CHECK_OK(das_memcache_delete(mc, "", S("k"), 10));

    CHECK_EQ(das_memcache_get(mc, "", S("k"), &v), AE_ENOTFOUND);
    CHECK_EQ(store(mc, DAS_MEMCACHE_ADD, "k", "a"), AE_ENOTSTORED);
    CHECK_EQ(store(mc, DAS_MEMCACHE_REPLACE, "k", "r"), AE_ENOTSTORED);
    CHECK_EQ(das_memcache_store(mc, "", DAS_MEMCACHE_CAS, S("k"), S("c"), 0, 0, cas),
             AE_ENOTSTORED);
    CHECK_EQ(das_memcache_delete(mc, "", S("k"), 0), AE_ENOTFOUND); /* already deleted */
    das_memcache_stats_t st;
    das_memcache_stats(mc, &st);
    CHECK_EQ(st.items, 0);
    CHECK_EQ(st.bytes, 0);

    clk.now_ms += 9999;
    CHECK_EQ(store(mc, DAS_MEMCACHE_ADD, "k", "a"), AE_ENOTSTORED);
    clk.now_ms += 1;
    CHECK_OK(store(mc, DAS_MEMCACHE_ADD, "k", "a"));
    char *s = value_of(mc, "k");
    CHECK_STR_EQ(s, "a");
    free(s);
    das_memcache_destroy(mc);
}

TEST(test_memcache_set_goes_through_delete_lock)
{
    fake_clock_t clk;
    das_memcache_t *mc = new_cache(&clk, 0, 0);
    CHECK_OK(set(mc, "k", "v", 0));
    CHECK_OK(das_memcache_delete(mc, "", S("k"), 3600));
    CHECK_OK(set(mc, "k", "through", 0));
    char *s = value_of(mc, "k");
    CHECK_STR_EQ(s, "through");
    free(s);
    CHECK_OK(store(mc, DAS_MEMCACHE_REPLACE, "k", "again")); /* the lock is gone */
    das_memcache_destroy(mc);
}

TEST(test_memcache_delete_lock_over_30_days_is_absolute_unix_time)
{
    fake_clock_t clk;
    das_memcache_t *mc = new_cache(&clk, 0, 0);
    CHECK_OK(set(mc, "k", "v", 0));
    CHECK_OK(das_memcache_delete(mc, "", S("k"), T0 / 1000 + 5)); /* locked for 5 s */
    clk.now_ms += 4999;
    CHECK_EQ(store(mc, DAS_MEMCACHE_ADD, "k", "a"), AE_ENOTSTORED);
    clk.now_ms += 1;
    CHECK_OK(store(mc, DAS_MEMCACHE_ADD, "k", "a"));
    das_memcache_destroy(mc);
}

TEST(test_memcache_delete_lock_on_missing_key_leaves_no_lock)
{
    fake_clock_t clk;
    das_memcache_t *mc = new_cache(&clk, 0, 0);
    CHECK_EQ(das_memcache_delete(mc, "", S("k"), 3600), AE_ENOTFOUND);
    CHECK_OK(store(mc, DAS_MEMCACHE_ADD, "k", "v"));
    das_memcache_destroy(mc);
}

/* ---------------------------------------------------------------- incr and decr */

TEST(test_memcache_incr_wraps_at_2_pow_64)
{
    fake_clock_t clk;
    das_memcache_t *mc = new_cache(&clk, 0, 0);
    CHECK_OK(set(mc, "n", "18446744073709551614", 0)); /* 2^64 - 2 */
    uint64_t nv = 0;
    CHECK_OK(das_memcache_offset(mc, "", S("n"), 1, NULL, &nv));
    CHECK(nv == UINT64_MAX);
    CHECK_OK(das_memcache_offset(mc, "", S("n"), 3, NULL, &nv));
    CHECK_EQ(nv, 2);
    char *s = value_of(mc, "n");
    CHECK_STR_EQ(s, "2");
    free(s);
    das_memcache_destroy(mc);
}

TEST(test_memcache_decr_clamps_at_zero)
{
    fake_clock_t clk;
    das_memcache_t *mc = new_cache(&clk, 0, 0);
    CHECK_OK(set(mc, "n", "5", 0));
    uint64_t nv = 99;
    CHECK_OK(das_memcache_offset(mc, "", S("n"), -3, NULL, &nv));
    CHECK_EQ(nv, 2);
    CHECK_OK(das_memcache_offset(mc, "", S("n"), -10, NULL, &nv));
    CHECK_EQ(nv, 0);
    CHECK_OK(das_memcache_offset(mc, "", S("n"), INT64_MIN, NULL, &nv));
    CHECK_EQ(nv, 0);
    char *s = value_of(mc, "n");
    CHECK_STR_EQ(s, "0");
    free(s);
    das_memcache_destroy(mc);
}

TEST(test_memcache_incr_non_numeric_value_returns_einval)
{
    static const char *bad[] = {"abc", "", "-1", "+1", " 1", "1 ", "1.5",
                                "18446744073709551616" /* 2^64 */};
    fake_clock_t clk;
    das_memcache_t *mc = new_cache(&clk, 0, 0);
    uint64_t init = 0, nv = 99;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_OK(set(mc, "n", bad[i], 0));
        CHECK_EQ(das_memcache_offset(mc, "", S("n"), 1, &init, &nv), AE_EINVAL);
        CHECK_EQ(nv, 0);
        char *s = value_of(mc, "n");
        CHECK_STR_EQ(s, bad[i]); /* left unchanged */
        free(s);
    }
    CHECK_OK(set(mc, "n", "0018446744073709551615", 0)); /* leading zeros are fine */
    CHECK_OK(das_memcache_offset(mc, "", S("n"), 0, NULL, &nv));
    CHECK(nv == UINT64_MAX);
    das_memcache_destroy(mc);
}

TEST(test_memcache_incr_missing_without_initial_returns_enotfound)
{
    fake_clock_t clk;
    das_memcache_t *mc = new_cache(&clk, 0, 0);
    uint64_t nv = 99;
    CHECK_EQ(das_memcache_offset(mc, "", S("n"), 1, NULL, &nv), AE_ENOTFOUND);
    CHECK_EQ(nv, 0);
    CHECK(!hit(mc, "n"));
    das_memcache_destroy(mc);
}

TEST(test_memcache_incr_missing_with_initial_creates_without_expiry)
{
    fake_clock_t clk;
    das_memcache_t *mc = new_cache(&clk, 0, 0);
    uint64_t init = 10, nv = 0;
    CHECK_OK(das_memcache_offset(mc, "", S("n"), 5, &init, &nv));
    CHECK_EQ(nv, 15);
    CHECK_OK(das_memcache_offset(mc, "", S("m"), -20, &init, &nv));
    CHECK_EQ(nv, 0);
    /* Over a delete lock too, as the Python stub does. */
    CHECK_OK(set(mc, "locked", "1", 0));
    CHECK_OK(das_memcache_delete(mc, "", S("locked"), 60));
    CHECK_OK(das_memcache_offset(mc, "", S("locked"), 1, &init, &nv));
    CHECK_EQ(nv, 11);
    clk.now_ms += 365 * DAY * 1000;
    das_memcache_value_t v;
    CHECK_OK(das_memcache_get(mc, "", S("n"), &v));
    CHECK_STR_EQ(v.data, "15");
    CHECK_EQ(v.flags, 0);
    free(v.data);
    das_memcache_destroy(mc);
}

TEST(test_memcache_incr_keeps_flags_and_expiration_and_changes_cas)
{
    fake_clock_t clk;
    das_memcache_t *mc = new_cache(&clk, 0, 0);
    CHECK_OK(das_memcache_store(mc, "", DAS_MEMCACHE_SET, S("n"), S("9"), 42, 60, 0));
    das_memcache_value_t before, after;
    CHECK_OK(das_memcache_get(mc, "", S("n"), &before));
    free(before.data);
    uint64_t nv;
    CHECK_OK(das_memcache_offset(mc, "", S("n"), 1, NULL, &nv));
    CHECK_EQ(nv, 10);
    CHECK_OK(das_memcache_get(mc, "", S("n"), &after));
    CHECK_STR_EQ(after.data, "10");
    CHECK_EQ(after.flags, 42);
    CHECK(after.cas != before.cas);
    free(after.data);
    das_memcache_stats_t st;
    das_memcache_stats(mc, &st);
    CHECK_EQ(st.bytes, 1 + 2); /* re-accounted: the value grew by one byte */
    clk.now_ms += 60 * 1000;
    CHECK(!hit(mc, "n"));
    das_memcache_destroy(mc);
}

/* ---------------------------------------------------------------- keys and values */

TEST(test_memcache_key_over_250_bytes_is_replaced_by_its_sha1)
{
    fake_clock_t clk;
    das_memcache_t *mc = new_cache(&clk, 0, 0);
    char a[252], b[252];
    memset(a, 'a', 251);
    a[251] = '\0';
    memcpy(b, a, sizeof b);
    b[250] = 'b'; /* the same first 250 bytes */
    CHECK_OK(set(mc, a, "A", 0));
    CHECK_OK(set(mc, b, "B", 0));
    char *s = value_of(mc, a);
    CHECK_STR_EQ(s, "A");
    free(s);
    s = value_of(mc, b);
    CHECK_STR_EQ(s, "B");
    free(s);
    /* The stored key is the lowercase hex SHA-1 of the long key (sha1sum of 251 'a's). */
    s = value_of(mc, "bec71b27a6b2710dedf1d7135c47f4506051f089");
    CHECK_STR_EQ(s, "A");
    free(s);
    das_memcache_stats_t st;
    das_memcache_stats(mc, &st);
    CHECK_EQ(st.bytes, 2 * (40 + 1));
    das_memcache_destroy(mc);
}

TEST(test_memcache_key_of_250_bytes_is_kept_as_is)
{
    fake_clock_t clk;
    das_memcache_t *mc = new_cache(&clk, 0, 0);
    char k[251];
    memset(k, 'a', 250);
    k[250] = '\0';
    CHECK_OK(set(mc, k, "v", 0));
    CHECK(hit(mc, k));
    CHECK(!hit(mc, "b5d5e3e0fcccfb49d704a1e10bc97ce9761a14fe")); /* its SHA-1: not used */
    das_memcache_stats_t st;
    das_memcache_stats(mc, &st);
    CHECK_EQ(st.bytes, 250 + 1);
    das_memcache_destroy(mc);
}

TEST(test_memcache_value_over_1000000_bytes_returns_etoolarge)
{
    fake_clock_t clk;
    das_memcache_t *mc = new_cache(&clk, 0, 0);
    char *big = calloc(1, DAS_MEMCACHE_MAX_VALUE + 1);
    CHECK(big != NULL);
    CHECK_OK(das_memcache_store(mc, "", DAS_MEMCACHE_SET, S("ok"), big, 1000000, 0, 0, 0));
    int rc = das_memcache_store(mc, "", DAS_MEMCACHE_SET, S("big"), big, 1000001, 0, 0, 0);
    free(big);
    CHECK_EQ(rc, AE_ETOOLARGE);
    das_memcache_value_t v;
    CHECK_OK(das_memcache_get(mc, "", S("ok"), &v));
    CHECK_EQ(v.len, 1000000);
    free(v.data);
    CHECK(!hit(mc, "big"));
    das_memcache_destroy(mc);
}

TEST(test_memcache_namespaces_isolate_keys)
{
    fake_clock_t clk;
    das_memcache_t *mc = new_cache(&clk, 0, 0);
    CHECK_OK(das_memcache_store(mc, "a", DAS_MEMCACHE_SET, S("k"), S("in a"), 0, 0, 0));
    CHECK_OK(das_memcache_store(mc, "b", DAS_MEMCACHE_SET, S("k"), S("in b"), 0, 0, 0));
    das_memcache_value_t v;
    CHECK_OK(das_memcache_get(mc, "a", S("k"), &v));
    CHECK_STR_EQ(v.data, "in a");
    free(v.data);
    CHECK_OK(das_memcache_get(mc, "b", S("k"), &v));
    CHECK_STR_EQ(v.data, "in b");
    free(v.data);
    CHECK(!hit(mc, "k")); /* the default namespace */
    CHECK_OK(set(mc, "k", "default", 0));
    CHECK_OK(das_memcache_get(mc, NULL, S("k"), &v)); /* NULL is the default namespace */
    CHECK_STR_EQ(v.data, "default");
    free(v.data);
    CHECK_OK(das_memcache_delete(mc, "a", S("k"), 0));
    CHECK_OK(das_memcache_get(mc, "b", S("k"), &v));
    free(v.data);
    das_memcache_destroy(mc);
}

/* ---------------------------------------------------------------- eviction */

TEST(test_memcache_eviction_drops_least_recently_used_first)
{
    fake_clock_t clk;
    das_memcache_t *mc = new_cache(&clk, 100, 1); /* entries of 1 + 29 bytes: 3 fit */
    const char *v29 = "0123456789012345678901234567X";
    CHECK_OK(set(mc, "a", v29, 0));
    CHECK_OK(set(mc, "b", v29, 0));
    CHECK_OK(set(mc, "c", v29, 0));
    CHECK(hit(mc, "a")); /* a is now the most recently used; b the least */
    CHECK_OK(set(mc, "d", v29, 0));
    CHECK(!hit(mc, "b"));
    CHECK(hit(mc, "a"));
    CHECK(hit(mc, "c"));
    CHECK(hit(mc, "d"));
    das_memcache_stats_t st;
    das_memcache_stats(mc, &st);
    CHECK_EQ(st.items, 3);
    CHECK_EQ(st.bytes, 90);
    das_memcache_destroy(mc);
}

TEST(test_memcache_item_over_the_cap_is_stored_alone)
{
    fake_clock_t clk;
    das_memcache_t *mc = new_cache(&clk, 100, 1);
    CHECK_OK(set(mc, "a", "small", 0));
    CHECK_OK(set(mc, "b", "small", 0));
    char big[200];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    CHECK_OK(set(mc, "big", big, 0));
    CHECK(hit(mc, "big"));
    CHECK(!hit(mc, "a"));
    CHECK(!hit(mc, "b"));
    CHECK_OK(set(mc, "c", "small", 0)); /* the next store evicts the big one */
    CHECK(!hit(mc, "big"));
    CHECK(hit(mc, "c"));
    das_memcache_destroy(mc);
}

TEST(test_memcache_namespaces_count_against_the_cap)
{
    /* With only key + value counted, 100-byte namespaces let a 1,000-byte cache hold 500
     * one-byte items (and the server grew to 527 MB with a 1 MB cap). */
    fake_clock_t clk;
    das_memcache_t *mc = new_cache(&clk, 1000, 1);
    char ns[101];
    for (int i = 0; i < 100; i++) {
        snprintf(ns, sizeof ns, "%03d%097d", i, 0); /* 100 bytes, a different one each time */
        CHECK_OK(das_memcache_store(mc, ns, DAS_MEMCACHE_SET, "k", 1, "v", 1, 0, 0, 0));
    }
    das_memcache_stats_t st;
    das_memcache_stats(mc, &st);
    CHECK(st.items <= 1000 / (100 + 1 + 1 + 1));
    CHECK(st.items >= 1);
    CHECK_EQ(st.bytes, 2 * st.items); /* the statistic stays key + value, as the platform's */
    das_memcache_destroy(mc);
}

TEST(test_memcache_namespaces_are_validated_as_the_platform_does)
{
    fake_clock_t clk;
    das_memcache_t *mc = new_cache(&clk, 0, 0);
    CHECK(das_memcache_namespace_is_valid(""));
    CHECK(das_memcache_namespace_is_valid(NULL));
    CHECK(das_memcache_namespace_is_valid("Az09._-"));
    char longest[102];
    memset(longest, 'a', 101);
    longest[100] = '\0';
    CHECK(das_memcache_namespace_is_valid(longest));
    longest[100] = 'a';
    longest[101] = '\0';
    CHECK(!das_memcache_namespace_is_valid(longest));
    CHECK(!das_memcache_namespace_is_valid("a b"));
    CHECK(!das_memcache_namespace_is_valid("a/b"));
    CHECK(!das_memcache_namespace_is_valid("caf\xc3\xa9"));
    das_memcache_value_t v;
    uint64_t n;
    CHECK_EQ(das_memcache_store(mc, "a b", DAS_MEMCACHE_SET, "k", 1, "v", 1, 0, 0, 0),
             AE_EINVAL);
    CHECK_EQ(das_memcache_get(mc, "a b", "k", 1, &v), AE_EINVAL);
    CHECK_EQ(das_memcache_delete(mc, "a b", "k", 1, 0), AE_EINVAL);
    CHECK_EQ(das_memcache_offset(mc, "a b", "k", 1, 1, NULL, &n), AE_EINVAL);
    das_memcache_destroy(mc);
}

/* ---------------------------------------------------------------- multi-operations */

TEST(test_memcache_set_multi_reports_too_large_item)
{
    fake_clock_t clk;
    das_memcache_t *mc = new_cache(&clk, 0, 0);
    char *big = calloc(1, DAS_MEMCACHE_MAX_VALUE + 1);
    CHECK(big != NULL);
    das_memcache_item_t items[3] = {
        {.key = "a", .key_len = 1, .value = "1", .value_len = 1},
        {.key = "b", .key_len = 1, .value = big, .value_len = DAS_MEMCACHE_MAX_VALUE + 1},
        {.key = "c", .key_len = 1, .value = "3", .value_len = 1, .expiration = -5},
    };
    das_memcache_store_multi(mc, "", DAS_MEMCACHE_SET, items, 3);
    free(big);
    CHECK_OK(items[0].status);
    CHECK_EQ(items[1].status, AE_ETOOLARGE);
    CHECK_EQ(items[2].status, AE_EINVAL);
    CHECK(hit(mc, "a"));
    CHECK(!hit(mc, "b"));
    CHECK(!hit(mc, "c"));
    das_memcache_destroy(mc);
}

TEST(test_memcache_add_multi_reports_existing_key)
{
    fake_clock_t clk;
    das_memcache_t *mc = new_cache(&clk, 0, 0);
    CHECK_OK(set(mc, "b", "old", 0));
    das_memcache_item_t items[3] = {
        {.key = "a", .key_len = 1, .value = "1", .value_len = 1},
        {.key = "b", .key_len = 1, .value = "2", .value_len = 1},
        {.key = "c", .key_len = 1, .value = "3", .value_len = 1},
    };
    das_memcache_store_multi(mc, "", DAS_MEMCACHE_ADD, items, 3);
    CHECK_OK(items[0].status);
    CHECK_EQ(items[1].status, AE_ENOTSTORED);
    CHECK_OK(items[2].status);
    char *s = value_of(mc, "b");
    CHECK_STR_EQ(s, "old");
    free(s);
    das_memcache_destroy(mc);
}

TEST(test_memcache_get_multi_reports_partial_hits)
{
    fake_clock_t clk;
    das_memcache_t *mc = new_cache(&clk, 0, 0);
    CHECK_OK(set(mc, "a", "A", 0));
    CHECK_OK(set(mc, "c", "C", 0));
    das_memcache_item_t keys[3] = {{.key = "a", .key_len = 1},
                                   {.key = "b", .key_len = 1},
                                   {.key = "c", .key_len = 1}};
    das_memcache_value_t values[3];
    int statuses[3];
    das_memcache_get_multi(mc, "", keys, 3, values, statuses);
    CHECK_OK(statuses[0]);
    CHECK_EQ(statuses[1], AE_ENOTFOUND);
    CHECK_OK(statuses[2]);
    CHECK_STR_EQ(values[0].data, "A");
    CHECK(values[1].data == NULL);
    CHECK_STR_EQ(values[2].data, "C");
    free(values[0].data);
    free(values[2].data);
    das_memcache_stats_t st;
    das_memcache_stats(mc, &st);
    CHECK_EQ(st.hits, 2);
    CHECK_EQ(st.misses, 1);
    das_memcache_destroy(mc);
}

TEST(test_memcache_delete_multi_reports_per_item)
{
    fake_clock_t clk;
    das_memcache_t *mc = new_cache(&clk, 0, 0);
    CHECK_OK(set(mc, "a", "A", 0));
    CHECK_OK(set(mc, "c", "C", 0));
    das_memcache_item_t items[3] = {{.key = "a", .key_len = 1},
                                    {.key = "b", .key_len = 1},
                                    {.key = "c", .key_len = 1}};
    das_memcache_delete_multi(mc, "", items, 3, 5);
    CHECK_OK(items[0].status);
    CHECK_EQ(items[1].status, AE_ENOTFOUND);
    CHECK_OK(items[2].status);
    CHECK_EQ(store(mc, DAS_MEMCACHE_ADD, "a", "x"), AE_ENOTSTORED); /* locked */
    CHECK_OK(store(mc, DAS_MEMCACHE_ADD, "b", "x"));                /* never locked */
    das_memcache_destroy(mc);
}

TEST(test_memcache_offset_multi_reports_non_numeric_item)
{
    fake_clock_t clk;
    das_memcache_t *mc = new_cache(&clk, 0, 0);
    CHECK_OK(set(mc, "a", "1", 0));
    CHECK_OK(set(mc, "b", "not a number", 0));
    das_memcache_offset_item_t items[3] = {{.key = "a", .key_len = 1, .delta = 2},
                                           {.key = "b", .key_len = 1, .delta = 2},
                                           {.key = "c", .key_len = 1, .delta = -1}};
    das_memcache_offset_multi(mc, "", items, 3, NULL);
    CHECK_OK(items[0].status);
    CHECK_EQ(items[0].new_value, 3);
    CHECK_EQ(items[1].status, AE_EINVAL);
    CHECK_EQ(items[2].status, AE_ENOTFOUND);
    uint64_t init = 7;
    das_memcache_offset_multi(mc, "", items, 3, &init);
    CHECK_EQ(items[0].new_value, 5);
    CHECK_EQ(items[1].status, AE_EINVAL);
    CHECK_OK(items[2].status);
    CHECK_EQ(items[2].new_value, 6);
    das_memcache_destroy(mc);
}

/* ---------------------------------------------------------------- flush and stats */

TEST(test_memcache_flush_all_clears_items_and_resets_stats)
{
    fake_clock_t clk;
    das_memcache_t *mc = new_cache(&clk, 0, 0);
    CHECK_OK(set(mc, "a", "A", 0));
    CHECK_OK(das_memcache_store(mc, "ns", DAS_MEMCACHE_SET, S("b"), S("B"), 0, 0, 0));
    CHECK_OK(set(mc, "locked", "L", 0));
    CHECK_OK(das_memcache_delete(mc, "", S("locked"), 600));
    CHECK(hit(mc, "a"));
    CHECK(!hit(mc, "z"));
    das_memcache_flush_all(mc);
    das_memcache_stats_t st;
    das_memcache_stats(mc, &st);
    CHECK_EQ(st.hits, 0);
    CHECK_EQ(st.misses, 0);
    CHECK_EQ(st.byte_hits, 0);
    CHECK_EQ(st.items, 0);
    CHECK_EQ(st.bytes, 0);
    CHECK_EQ(st.oldest_item_age, 0);
    das_memcache_value_t v;
    CHECK_EQ(das_memcache_get(mc, "ns", S("b"), &v), AE_ENOTFOUND);
    CHECK(!hit(mc, "a"));
    CHECK_OK(store(mc, DAS_MEMCACHE_ADD, "locked", "x")); /* locks are gone too */
    das_memcache_destroy(mc);
}

TEST(test_memcache_stats_items_bytes_and_oldest_age_follow_clock)
{
    fake_clock_t clk;
    das_memcache_t *mc = new_cache(&clk, 0, 4);
    CHECK_OK(set(mc, "old", "12345", 0));       /* 3 + 5 bytes, touched at T0 */
    clk.now_ms += 10 * 1000;
    CHECK_OK(set(mc, "brief", "1234567890", 20)); /* 5 + 10 bytes, gone at T0 + 30 s */
    clk.now_ms += 5 * 1000;
    das_memcache_stats_t st;
    das_memcache_stats(mc, &st);
    CHECK_EQ(st.items, 2);
    CHECK_EQ(st.bytes, 8 + 15);
    CHECK_EQ(st.oldest_item_age, 15);

    clk.now_ms += 15 * 1000; /* T0 + 30 s: "brief" has expired, untouched */
    das_memcache_stats(mc, &st);
    CHECK_EQ(st.items, 1);
    CHECK_EQ(st.bytes, 8);
    CHECK_EQ(st.oldest_item_age, 30);

    CHECK(hit(mc, "old")); /* an access resets the age */
    clk.now_ms += 2500;
    das_memcache_stats(mc, &st);
    CHECK_EQ(st.oldest_item_age, 2);
    das_memcache_destroy(mc);
}

CHECK_MAIN()
