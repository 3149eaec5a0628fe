/* test_dispatch.c - how requests are spread over instances: serial dispatch runs one request
 * per instance (and starts more instances on demand, up to --max-instances), concurrent
 * dispatch runs several in one instance (8 by default, or --max-concurrent-requests, or
 * app.yaml's automatic_scaling.max_concurrent_requests), globals belong to one instance, and a
 * request that waits more than 10 s for an instance gets a 503.
 *
 * Timing bounds are generous on purpose (a 2-core machine, a Debug build): they tell "ran one
 * after another" from "ran side by side", nothing finer.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"

/* ---------------------------------------------------------------- helpers */

/* Sends every request from its own thread at once; returns the wall time of the batch. */
static long long run_batch(req_t *reqs, int n)
{
    pthread_t t[16];
    long long t0 = harness_now_ms();
    for (int i = 0; i < n; i++)
        if (pthread_create(&t[i], NULL, req_main, &reqs[i]) != 0)
            abort();
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    return harness_now_ms() - t0;
}

static void dispose_batch(req_t *reqs, int n)
{
    for (int i = 0; i < n; i++)
        harness_response_dispose(&reqs[i].r);
}

/* The PID in "slept N ms in PID", or -1. */
static long slept_pid(const char *body)
{
    long ms, pid;
    if (!body || sscanf(body, "slept %ld ms in %ld", &ms, &pid) != 2)
        return -1;
    return pid;
}

static int distinct_pids(const req_t *reqs, int n)
{
    long seen[16];
    int k = 0;
    for (int i = 0; i < n; i++) {
        long p = slept_pid(reqs[i].r.body);
        bool dup = false;
        for (int j = 0; j < k; j++)
            dup |= seen[j] == p;
        if (!dup)
            seen[k++] = p;
    }
    return k;
}

/* The first request makes sure an instance is up, so the batch measures dispatch only. */
static int warm(const harness_server_t *s)
{
    char body[32];
    return harness_get_text(s, "/pid", body, sizeof body) == 200 ? 0 : -1;
}

/* "N ID" from /count. */
static int parse_count(const char *body, long *n, char *id, size_t cap)
{
    char buf[64];
    if (!body || sscanf(body, "%ld %63s", n, buf) != 2)
        return -1;
    snprintf(id, cap, "%s", buf);
    return 0;
}

#define SLEEP4(server, url)                                                                    \
    {{.s = (server), .path = (url)}, {.s = (server), .path = (url)},                           \
     {.s = (server), .path = (url)}, {.s = (server), .path = (url)}}

/* Warms `s` up, sends the `n` requests of `reqs` at once and checks that each one got a 200;
 * `ms` gets the wall time of the batch. */
#define CHECK_BATCH(s, reqs, n, ms)                                                            \
    do {                                                                                       \
        CHECK_OK(warm(s));                                                                     \
        (ms) = run_batch((reqs), (n));                                                         \
        for (int i_ = 0; i_ < (n); i_++) {                                                     \
            CHECK_OK((reqs)[i_].rc);                                                           \
            CHECK_EQ((reqs)[i_].r.status, 200);                                                \
        }                                                                                      \
    } while (0)

/* ---------------------------------------------------------------- serial and concurrent */

TEST(test_serial_dispatch_with_one_instance_runs_requests_one_after_another)
{
    harness_server_t s;
    const char *args[] = {"--dispatch", "serial", "--max-instances", "1", NULL};
    START(&s, harness_app("echo"), args);
    req_t reqs[4] = SLEEP4(&s, "/sleep?ms=400");
    long long ms;
    CHECK_BATCH(&s, reqs, 4, ms);
    for (int i = 0; i < 4; i++)
        CHECK(slept_pid(reqs[i].r.body) > 0);
    printf("# 4 x 400 ms, serial, 1 instance: %lld ms\n", ms);
    CHECK(ms >= 1500);
    CHECK_EQ(distinct_pids(reqs, 4), 1);
    dispose_batch(reqs, 4);
    CHECK_LOG_CONTAINS(&s, "serial dispatch (1 request per instance, up to 1 instance");
    CHECK_EQ(harness_stop(&s), 0);
}

TEST(test_concurrent_dispatch_runs_requests_side_by_side_in_one_instance)
{
    harness_server_t s;
    const char *args[] = {"--dispatch", "concurrent", NULL};
    START(&s, harness_app("echo"), args);
    req_t reqs[4] = SLEEP4(&s, "/sleep?ms=400");
    long long ms;
    CHECK_BATCH(&s, reqs, 4, ms);
    for (int i = 0; i < 4; i++)
        CHECK(slept_pid(reqs[i].r.body) > 0);
    printf("# 4 x 400 ms, concurrent: %lld ms\n", ms);
    CHECK(ms < 1200);
    CHECK_EQ(distinct_pids(reqs, 4), 1);
    dispose_batch(reqs, 4);
    CHECK_LOG_CONTAINS(&s, "concurrent dispatch (8 requests per instance");
    CHECK_EQ(harness_stop(&s), 0);
}

TEST(test_threadsafe_app_gets_concurrent_dispatch_by_default)
{
    harness_server_t s;
    START(&s, harness_app("echo"), NULL);
    req_t reqs[4] = SLEEP4(&s, "/sleep?ms=400");
    long long ms;
    CHECK_BATCH(&s, reqs, 4, ms);
    printf("# 4 x 400 ms, default dispatch: %lld ms\n", ms);
    CHECK(ms < 1200);
    CHECK_EQ(distinct_pids(reqs, 4), 1);
    dispose_batch(reqs, 4);
    CHECK_EQ(harness_stop(&s), 0);
}

TEST(test_serial_dispatch_starts_more_instances_on_demand)
{
    harness_server_t s;
    const char *args[] = {"--dispatch", "serial", "--max-instances", "4", NULL};
    START(&s, harness_app("echo"), args);
    req_t reqs[4] = SLEEP4(&s, "/sleep?ms=400");
    long long ms;
    CHECK_BATCH(&s, reqs, 4, ms);
    for (int i = 0; i < 4; i++)
        CHECK(slept_pid(reqs[i].r.body) > 0);
    int pids = distinct_pids(reqs, 4);
    printf("# 4 x 400 ms, serial, up to 4 instances: %lld ms, %d PIDs\n", ms, pids);
    CHECK(ms < 1300); /* one after another would take 1600 ms */
    CHECK(pids > 1);
    dispose_batch(reqs, 4);
    CHECK_LOG_CONTAINS(&s, "started instance");
    CHECK_EQ(harness_stop(&s), 0);
}

/* ---------------------------------------------------------------- per-instance globals */

TEST(test_concurrent_instance_keeps_its_global_counter_across_requests)
{
    harness_server_t s;
    const char *args[] = {"--dispatch", "concurrent", NULL};
    START(&s, harness_app("echo"), args);
    char first_id[64] = "";
    for (long i = 1; i <= 5; i++) {
        harness_response_t r;
        CHECK_OK(harness_get(&s, "/count", &r));
        CHECK_EQ(r.status, 200);
        long n;
        char id[64];
        CHECK_OK(parse_count(r.body, &n, id, sizeof id));
        harness_response_dispose(&r);
        CHECK_EQ(n, i);
        CHECK_EQ(strlen(id), 36);
        if (i == 1)
            snprintf(first_id, sizeof first_id, "%s", id);
        CHECK_STR_EQ(id, first_id);
    }
    CHECK_EQ(harness_stop(&s), 0);
}

/* Two serial instances: each has its own counter, starting from 1, and keeps it. Instance A
 * (the oldest) takes requests when both are idle; a long /sleep keeps it busy so that /count
 * goes to instance B. */
TEST(test_serial_instances_each_have_their_own_globals)
{
    harness_server_t s;
    const char *args[] = {"--dispatch", "serial", "--max-instances", "2", NULL};
    START(&s, harness_app("echo"), args);

    /* Two requests at once need two instances. */
    req_t two[2] = {{.s = &s, .path = "/sleep?ms=600"}, {.s = &s, .path = "/sleep?ms=600"}};
    long long ms;
    CHECK_BATCH(&s, two, 2, ms);
    printf("# 2 x 600 ms, serial, up to 2 instances: %lld ms\n", ms);
    CHECK_EQ(distinct_pids(two, 2), 2);
    dispose_batch(two, 2);

    /* Keep the oldest instance busy; /count goes to the other one, twice. */
    req_t busy = {.s = &s, .path = "/sleep?ms=2000"};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, req_main, &busy) == 0);
    harness_sleep_ms(400);
    char id_b[2][64] = {"", ""};
    long n_b[2] = {0, 0};
    for (int i = 0; i < 2; i++) {
        harness_response_t r;
        if (harness_get(&s, "/count", &r) == 0 && r.status == 200)
            parse_count(r.body, &n_b[i], id_b[i], sizeof id_b[i]);
        printf("# /count while the oldest instance sleeps: %ld %s\n", r.status,
               r.body ? r.body : "(none)");
        harness_response_dispose(&r);
    }
    pthread_join(t, NULL);
    CHECK_OK(busy.rc);
    CHECK_EQ(busy.r.status, 200);
    harness_response_dispose(&busy.r);

    /* Now both are idle: /count goes to the oldest, which has not counted yet. */
    char id_a[2][64];
    long n_a[2];
    for (int i = 0; i < 2; i++) {
        harness_response_t r;
        CHECK_OK(harness_get(&s, "/count", &r));
        CHECK_EQ(r.status, 200);
        printf("# /count with both instances idle: %s\n", r.body);
        CHECK_OK(parse_count(r.body, &n_a[i], id_a[i], sizeof id_a[i]));
        harness_response_dispose(&r);
    }
    char *log = harness_log(&s);
    bool replaced = strstr(log, "was gone before the request reached it") != NULL;
    free(log);
    CHECK_EQ(harness_stop(&s), 0);

    CHECK_EQ(n_a[0], 1);
    CHECK_EQ(n_a[1], 2);
    CHECK_STR_EQ(id_a[0], id_a[1]);
    CHECK_EQ(n_b[0], 1);
    CHECK(strcmp(id_b[0], id_a[0]) != 0);
    /* The second instance keeps its counter between two requests on separate connections. */
    CHECK_STR_EQ(id_b[1], id_b[0]);
    CHECK_EQ(n_b[1], 2);
    CHECK(!replaced);
}

/* ---------------------------------------------------------------- slots per instance */

TEST(test_max_concurrent_requests_flag_limits_requests_per_instance)
{
    harness_server_t s;
    const char *args[] = {"--dispatch", "concurrent", "--max-instances", "1",
                          "--max-concurrent-requests", "2", NULL};
    START(&s, harness_app("echo"), args);
    req_t reqs[4] = SLEEP4(&s, "/sleep?ms=400");
    long long ms;
    CHECK_BATCH(&s, reqs, 4, ms);
    printf("# 4 x 400 ms, 2 per instance, 1 instance: %lld ms\n", ms);
    CHECK(ms >= 700); /* two waves */
    CHECK_EQ(distinct_pids(reqs, 4), 1);
    dispose_batch(reqs, 4);
    CHECK_LOG_CONTAINS(&s, "concurrent dispatch (2 requests per instance");
    CHECK_EQ(harness_stop(&s), 0);
}

TEST(test_app_yaml_max_concurrent_requests_is_honoured)
{
    harness_server_t s;
    const char *args[] = {"--max-instances", "1", NULL};
    START(&s, harness_app("b_maxconc"), args);
    /* threadsafe: true still means concurrent dispatch, with one slot per instance. */
    CHECK_LOG_CONTAINS(&s, "with concurrent dispatch (1 request");
    req_t reqs[3] = {{.s = &s, .path = "/sleep?ms=400"},
                     {.s = &s, .path = "/sleep?ms=400"},
                     {.s = &s, .path = "/sleep?ms=400"}};
    long long ms;
    CHECK_BATCH(&s, reqs, 3, ms);
    printf("# 3 x 400 ms, max_concurrent_requests: 1: %lld ms\n", ms);
    CHECK(ms >= 1100); /* one after another */
    CHECK_EQ(distinct_pids(reqs, 3), 1);
    dispose_batch(reqs, 3);
    CHECK_EQ(harness_stop(&s), 0);
}

TEST(test_max_concurrent_requests_flag_overrides_app_yaml)
{
    harness_server_t s;
    const char *args[] = {"--max-instances", "1", "--max-concurrent-requests", "4", NULL};
    START(&s, harness_app("b_maxconc"), args);
    req_t reqs[4] = SLEEP4(&s, "/sleep?ms=400");
    long long ms;
    CHECK_BATCH(&s, reqs, 4, ms);
    printf("# 4 x 400 ms, flag 4 over app.yaml 1: %lld ms\n", ms);
    CHECK(ms < 1200);
    dispose_batch(reqs, 4);
    CHECK_LOG_CONTAINS(&s, "concurrent dispatch (4 requests per instance");
    CHECK_EQ(harness_stop(&s), 0);
}

/* ---------------------------------------------------------------- queue timeout (slow: ~12 s) */

TEST(test_request_waiting_more_than_10s_for_an_instance_gets_503)
{
    harness_server_t s;
    const char *args[] = {"--dispatch", "serial", "--max-instances", "1", NULL};
    START(&s, harness_app("echo"), args);
    CHECK_OK(warm(&s));
    req_t hog = {.s = &s, .path = "/sleep?ms=12000"};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, req_main, &hog) == 0);
    harness_sleep_ms(300);
    long long t0 = harness_now_ms();
    harness_response_t r;
    int rc = harness_get(&s, "/pid", &r);
    long long waited = harness_now_ms() - t0;
    pthread_join(t, NULL);
    printf("# the queued request waited %lld ms\n", waited);
    CHECK_OK(rc);
    CHECK_EQ(r.status, 503);
    CHECK_STR_CONTAINS(r.body, "no instance became free");
    CHECK(waited >= 9000 && waited <= 12500);
    harness_response_dispose(&r);
    /* The request that held the instance was not disturbed. */
    CHECK_OK(hog.rc);
    CHECK_EQ(hog.r.status, 200);
    CHECK_STR_CONTAINS(hog.r.body, "slept 12000 ms");
    harness_response_dispose(&hog.r);
    /* And the instance serves again. */
    CHECK_OK(harness_get(&s, "/pid", &r));
    CHECK_EQ(r.status, 200);
    harness_response_dispose(&r);
    CHECK_EQ(harness_stop(&s), 0);
}

CHECK_MAIN()
