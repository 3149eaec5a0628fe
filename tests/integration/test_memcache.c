/* test_memcache.c - memcache from handlers over HTTP (samples/memcache_counter): values
 * round-trip, the platform's rules hold end to end, and the cache is one for the whole server,
 * shared by every instance. */
#include <pthread.h>

#include "itest.h"

#define APP harness_sample("memcache_counter")

static long get(const harness_server_t *s, const char *path, char *body, size_t cap)
{
    return harness_get_text(s, path, body, cap);
}

SERVER_TEST(test_memcache_values_round_trip_through_handlers, APP, NULL)
{
    (void)check_skipped_;
    char body[256];
    CHECK_EQ(get(s, "/get?key=greeting", body, sizeof body), 404);
    CHECK_EQ(get(s, "/set?key=greeting&value=hello+there", body, sizeof body), 200);
    CHECK_STR_EQ(body, "ok");
    CHECK_EQ(get(s, "/get?key=greeting", body, sizeof body), 200);
    CHECK_STR_EQ(body, "hello there");
    CHECK_EQ(get(s, "/add?key=greeting&value=x", body, sizeof body), 200);
    CHECK_STR_EQ(body, "not stored");
    CHECK_EQ(get(s, "/delete?key=greeting", body, sizeof body), 200);
    CHECK_STR_EQ(body, "ok");
    CHECK_EQ(get(s, "/delete?key=greeting", body, sizeof body), 200);
    CHECK_STR_EQ(body, "not found");
    CHECK_EQ(get(s, "/get?key=greeting", body, sizeof body), 404);
    CHECK_EQ(get(s, "/stats", body, sizeof body), 200);
    CHECK_STR_CONTAINS(body, "hits=1 misses=2 items=0");
}

SERVER_TEST(test_memcache_delete_lock_blocks_add_over_http, APP, NULL)
{
    (void)check_skipped_;
    char body[64];
    get(s, "/set?key=k&value=1", body, sizeof body);
    CHECK_EQ(get(s, "/delete?key=k&lock=30", body, sizeof body), 200);
    CHECK_STR_EQ(body, "ok");
    CHECK_EQ(get(s, "/add?key=k&value=2", body, sizeof body), 200);
    CHECK_STR_EQ(body, "not stored");
    CHECK_EQ(get(s, "/set?key=k&value=3", body, sizeof body), 200);
    CHECK_STR_EQ(body, "ok");
}

SERVER_TEST(test_memcache_entries_expire, APP, NULL)
{
    (void)check_skipped_;
    char body[64];
    CHECK_EQ(get(s, "/set?key=brief&value=v&expires=1", body, sizeof body), 200);
    CHECK_EQ(get(s, "/get?key=brief", body, sizeof body), 200);
    harness_sleep_ms(2100);
    CHECK_EQ(get(s, "/get?key=brief", body, sizeof body), 404);
}

typedef struct {
    const harness_server_t *s;
    int n;
    int failures;
} hammer_t;

static void *hammer(void *arg)
{
    hammer_t *h = arg;
    for (int i = 0; i < h->n; i++) {
        char body[32];
        if (harness_get_text(h->s, "/incr?key=shared&work_ms=20", body, sizeof body) != 200)
            h->failures++;
    }
    return NULL;
}

/* Serial dispatch with two instances at once: both increment the same counter, because the
 * cache belongs to the server, not to an instance; and incr loses no update. */
SERVER_TEST(test_memcache_is_shared_by_all_instances_and_incr_loses_nothing, APP, "--dispatch",
            "serial", "--max-instances", "2")
{
    (void)check_skipped_;
    /* Each request takes 20 ms, so the queue for one instance lasts long enough for a second
     * to start. */
    enum { THREADS = 4, EACH = 15 };
    hammer_t h[THREADS];
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        h[i] = (hammer_t){s, EACH, 0};
        pthread_create(&t[i], NULL, hammer, &h[i]);
    }
    int failures = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        failures += h[i].failures;
    }
    CHECK_EQ(failures, 0);
    char body[64];
    CHECK_EQ(get(s, "/get?key=shared", body, sizeof body), 200);
    CHECK_EQ(atol(body), THREADS * EACH);
    /* The access log names the instance of each request: there were two. */
    char *log = harness_log(s);
    char first[40] = "", other[40] = "";
    for (char *line = strstr(log, "/incr?key=shared"); line;
         line = strstr(line + 1, "/incr?key=shared")) {
        char *id = strstr(line, "instance=");
        if (!id)
            break;
        char this_id[40];
        sscanf(id + 9, "%39[0-9a-f]", this_id);
        if (!first[0])
            snprintf(first, sizeof first, "%s", this_id);
        else if (strcmp(first, this_id) != 0)
            snprintf(other, sizeof other, "%s", this_id);
    }
    free(log);
    CHECK(first[0] && other[0]);
}

SERVER_TEST(test_memcache_flush_all_empties_the_cache, APP, NULL)
{
    (void)check_skipped_;
    char body[64];
    get(s, "/incr?key=a", body, sizeof body);
    get(s, "/incr?key=b", body, sizeof body);
    CHECK_EQ(get(s, "/flush", body, sizeof body), 200);
    CHECK_EQ(get(s, "/get?key=a", body, sizeof body), 404);
    CHECK_EQ(get(s, "/stats", body, sizeof body), 200);
    CHECK_STR_CONTAINS(body, "items=0");
}

/* --memcache-max-bytes caps the cache: older values are evicted to make room. */
SERVER_TEST(test_memcache_max_bytes_flag_evicts_least_recently_used, APP,
            "--memcache-max-bytes", "16000")
{
    (void)check_skipped_;
    char body[128], path[1200], value[1001];
    memset(value, 'v', 1000);
    value[1000] = '\0';
    for (int i = 0; i < 100; i++) {
        snprintf(path, sizeof path, "/set?key=k%d&value=%s", i, value);
        CHECK_EQ(get(s, path, body, sizeof body), 200);
        CHECK_STR_EQ(body, "ok");
    }
    CHECK_EQ(get(s, "/stats", body, sizeof body), 200);
    char *items = strstr(body, "items=");
    CHECK(items);
    long n = atol(items + 6);
    CHECK(n > 0 && n < 100);
    /* The newest value survived; the oldest did not. */
    CHECK_EQ(get(s, "/get?key=k99", body, sizeof body), 200);
    CHECK_EQ(get(s, "/get?key=k0", body, sizeof body), 404);
}

TEST(test_memcache_max_bytes_must_be_a_positive_number)
{
    const char *args[] = {"--memcache-max-bytes", "lots", "samples/x", NULL};
    char *out = NULL;
    CHECK_EQ(harness_run(args, &out), 2);
    CHECK_STR_CONTAINS(out, "--memcache-max-bytes must be a positive number");
    free(out);
}

CHECK_MAIN()
