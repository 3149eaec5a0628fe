/* test_shutdown.c - Ctrl-C (SIGINT) and SIGTERM stop the server in order: a request already
 * running finishes and gets its answer, requests arriving afterwards are refused, every
 * instance process is gone afterwards, and the server exits 0.
 */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"

/* ---------------------------------------------------------------- helpers */

static bool process_gone(long pid)
{
    return kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

/* Stops `s` with `sig` while a 1.5 s request runs; checks the request got its answer, the
 * server exited 0 and the instance is gone. */
static void stop_during_request(int sig, int *check_failed_)
{
    harness_server_t s;
    CHECK_OK(harness_start(&s, harness_app("echo"), NULL));
    long pid = get_pid(&s);
    CHECK(pid > 0);
    req_t slow = {.s = &s, .path = "/sleep?ms=1500"};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, req_main, &slow) == 0);
    harness_sleep_ms(300);
    long long t0 = harness_now_ms();
    int rc = harness_stop_with_signal(&s, sig);
    long long took = harness_now_ms() - t0;
    pthread_join(t, NULL);
    printf("# stopping with a request running took %lld ms\n", took);
    CHECK_EQ(rc, 0);
    CHECK_OK(slow.rc);
    CHECK_EQ(slow.r.status, 200);
    char want[64];
    snprintf(want, sizeof want, "slept 1500 ms in %ld", pid);
    CHECK_STR_EQ(slow.r.body, want);
    harness_response_dispose(&slow.r);
    CHECK(took >= 900);   /* it waited for the request... */
    CHECK(took < 8000);   /* ...and not for the whole grace period */
    CHECK(process_gone(pid));
}

/* ---------------------------------------------------------------- tests */

TEST(test_sigterm_lets_the_running_request_finish_and_exits_0)
{
    NEED_OWN_SERVER();
    stop_during_request(SIGTERM, check_failed_);
}

TEST(test_sigint_lets_the_running_request_finish_and_exits_0)
{
    NEED_OWN_SERVER();
    stop_during_request(SIGINT, check_failed_);
}

TEST(test_idle_server_stops_promptly_and_leaves_no_instance)
{
    harness_server_t s;
    START(&s, harness_app("echo"), NULL);
    long pid = get_pid(&s);
    CHECK(pid > 0);
    long long t0 = harness_now_ms();
    CHECK_EQ(harness_stop(&s), 0);
    long long took = harness_now_ms() - t0;
    printf("# an idle server stopped in %lld ms\n", took);
    CHECK(took < 5000);
    CHECK(process_gone(pid));
}

TEST(test_no_instance_survives_shutdown_with_several_instances)
{
    harness_server_t s;
    const char *args[] = {"--dispatch", "serial", "--max-instances", "3", NULL};
    START(&s, harness_app("echo"), args);
    CHECK(get_pid(&s) > 0);
    /* Three requests at once run on three instances; stop while they run. */
    req_t reqs[3] = {{.s = &s, .path = "/sleep?ms=1500"},
                     {.s = &s, .path = "/sleep?ms=1500"},
                     {.s = &s, .path = "/sleep?ms=1500"}};
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        CHECK(pthread_create(&t[i], NULL, req_main, &reqs[i]) == 0);
    harness_sleep_ms(700);
    int rc = harness_stop(&s);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    CHECK_EQ(rc, 0);
    long pids[3];
    for (int i = 0; i < 3; i++) {
        CHECK_OK(reqs[i].rc);
        CHECK_EQ(reqs[i].r.status, 200);
        long ms;
        CHECK(sscanf(reqs[i].r.body, "slept %ld ms in %ld", &ms, &pids[i]) == 2);
        harness_response_dispose(&reqs[i].r);
    }
    CHECK(pids[0] != pids[1] && pids[1] != pids[2] && pids[0] != pids[2]);
    for (int i = 0; i < 3; i++)
        CHECK(process_gone(pids[i]));
}

/* Eight requests running side by side on one instance (its 8 slots), all finishing at about
 * the same moment during the shutdown: each one must still get its answer. Four rounds, since
 * losing an answer depends on thread timing. */
TEST(test_every_running_request_gets_its_answer_on_shutdown)
{
    NEED_OWN_SERVER();
    int lost = 0, total = 0;
    for (int round = 0; round < 4; round++) {
        harness_server_t s;
        CHECK_OK(harness_start(&s, harness_app("echo"), NULL));
        CHECK(get_pid(&s) > 0);
        req_t reqs[8];
        pthread_t t[8];
        int n = 0;
        for (int i = 0; i < 8; i++) {
            reqs[i] = (req_t){.s = &s, .path = "/sleep?ms=1500"};
            if (pthread_create(&t[i], NULL, req_main, &reqs[i]) == 0)
                n++;
            else
                break;
        }
        harness_sleep_ms(500);
        int rc = harness_stop(&s);
        for (int i = 0; i < n; i++)
            pthread_join(t[i], NULL);
        for (int i = 0; i < n; i++) {
            total++;
            if (reqs[i].rc != 0 || reqs[i].r.status != 200)
                lost++;
            harness_response_dispose(&reqs[i].r);
        }
        CHECK_EQ(n, 8);
        CHECK_EQ(rc, 0);
    }
    printf("# %d of %d requests running at shutdown got no answer\n", lost, total);
    CHECK_EQ(lost, 0);
}

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

TEST(test_requests_arriving_during_shutdown_are_refused)
{
    harness_server_t s;
    START(&s, harness_app("echo"), NULL);
    char url[128];
    snprintf(url, sizeof url, "http://%s:%d/pid", s.host, s.port);

    /* A keep-alive connection opened before the shutdown. */
    CURL *c = curl_easy_init();
    CHECK(c != NULL);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode cc = curl_easy_perform(c);
    long before = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &before);

    req_t slow = {.s = &s, .path = "/sleep?ms=2000"};
    pthread_t t;
    bool running = pthread_create(&t, NULL, req_main, &slow) == 0;
    harness_sleep_ms(300);
    kill(s.pid, SIGTERM);
    harness_sleep_ms(300);

    /* The old connection: the server answers 503 (or closes it), never runs the request. */
    CURLcode cc_old = curl_easy_perform(c);
    long status_old = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status_old);
    curl_easy_cleanup(c);
    /* A new connection is not served either. */
    harness_response_t r;
    int rc_new = harness_get(&s, "/pid", &r);
    long status_new = r.status;
    harness_response_dispose(&r);

    if (running)
        pthread_join(t, NULL);
    int rc = harness_stop(&s); /* already stopping: waits for the exit */

    CHECK_EQ(cc, CURLE_OK);
    CHECK_EQ(before, 200);
    printf("# during shutdown: old connection %s/%ld, new connection rc %d/%ld\n",
           curl_easy_strerror(cc_old), status_old, rc_new, status_new);
    CHECK(cc_old != CURLE_OK || status_old == 503);
    CHECK(rc_new != 0 || status_new == 503);
    CHECK(running);
    CHECK_OK(slow.rc);
    CHECK_EQ(slow.r.status, 200);
    harness_response_dispose(&slow.r);
    CHECK_EQ(rc, 0);
}

/* Slow (~10 s): a request still running when the grace period ends is stopped with its
 * instance; it gets an error answer rather than hanging, and the server still exits 0. */
TEST(test_request_outliving_the_shutdown_grace_period_is_stopped)
{
    harness_server_t s;
    START(&s, harness_app("echo"), NULL);
    long pid = get_pid(&s);
    CHECK(pid > 0);
    req_t slow = {.s = &s, .path = "/sleep?ms=60000"};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, req_main, &slow) == 0);
    harness_sleep_ms(300);
    long long t0 = harness_now_ms();
    int rc = harness_stop(&s);
    long long took = harness_now_ms() - t0;
    pthread_join(t, NULL);
    printf("# stopping with a 60 s request running took %lld ms; the request got %d/%ld\n", took,
           slow.rc, slow.r.status);
    CHECK_EQ(rc, 0);
    CHECK(took >= 9000 && took < 20000);
    CHECK(slow.ended_ms - t0 < 20000);
    CHECK(slow.rc != 0 || slow.r.status == 503 || slow.r.status == 500);
    harness_response_dispose(&slow.r);
    CHECK(process_gone(pid));
}

CHECK_MAIN()
