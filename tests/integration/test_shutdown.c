/* test_shutdown.c - Ctrl-C (SIGINT) and SIGTERM stop the server in order: a request already
 * running finishes and gets its answer, requests arriving afterwards are refused, every
 * instance process is gone afterwards, and the server exits 0.
 */
#include <curl/curl.h>
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "check.h"
#include "harness.h"

/* ---------------------------------------------------------------- helpers */

/* Servers still running when a CHECK fails are stopped at exit, so none is left behind. */
static harness_server_t started[32];
static int n_started;

static void stop_leftovers(void)
{
    for (int i = 0; i < n_started; i++) {
        if (started[i].pid > 0) {
            char *log = harness_log(&started[i]);
            printf("# a failed test left server %d running; its log:\n%s\n", (int)started[i].pid,
                   log);
            free(log);
            harness_stop(&started[i]);
        }
    }
}

static int start(harness_server_t *s, const char *appdir, const char *const *args)
{
    int rc = harness_start(s, appdir, args);
    if (rc == 0 && n_started < 32) {
        if (n_started == 0)
            atexit(stop_leftovers);
        started[n_started++] = *s;
    }
    return rc;
}

static void forget(const harness_server_t *s)
{
    for (int i = 0; i < n_started; i++)
        if (started[i].pid == s->pid)
            started[i].pid = -1;
}

static int stop(harness_server_t *s)
{
    forget(s);
    return harness_stop(s);
}

#define START(s, appdir, args)                                                                 \
    do {                                                                                       \
        const char *ext_ = getenv("DAS_TEST_SERVER");                                          \
        if (ext_ && *ext_)                                                                     \
            SKIP("needs a server of its own (DAS_TEST_SERVER is set)");                        \
        CHECK_OK(start((s), (appdir), (args)));                                                \
    } while (0)

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

/* Like harness_stop(), with a signal of our choosing: sends `sig`, waits up to 30 s, returns
 * the exit status (or -1 for a signal death or a timeout, printing the log). */
static int stop_with_signal(harness_server_t *s, int sig)
{
    forget(s);
    kill(s->pid, sig);
    long long until = harness_now_ms() + 30000;
    int st = 0, rc = -1;
    for (;;) {
        pid_t r = waitpid(s->pid, &st, WNOHANG);
        if (r == s->pid) {
            rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
            break;
        }
        if (harness_now_ms() > until) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, &st, 0);
            break;
        }
        harness_sleep_ms(10);
    }
    char *log = harness_log(s);
    if (rc != 0)
        printf("# server exit status %d after signal %d; its log:\n%s\n", rc, sig, log);
    free(log);
    s->pid = -1;
    nftw(s->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return rc;
}

static long get_pid(const harness_server_t *s)
{
    harness_response_t r;
    long pid = -1;
    if (harness_get(s, "/pid", &r) == 0 && r.status == 200)
        pid = atol(r.body);
    harness_response_dispose(&r);
    return pid;
}

static bool process_gone(long pid)
{
    return kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

typedef struct {
    const harness_server_t *s;
    const char *path;
    harness_response_t r;
    int rc;
    long long ended_ms;
} req_t;

static void *req_main(void *arg)
{
    req_t *q = arg;
    q->rc = harness_get(q->s, q->path, &q->r);
    q->ended_ms = harness_now_ms();
    return NULL;
}

/* Stops `s` with `sig` while a 1.5 s request runs; checks the request got its answer, the
 * server exited 0 and the instance is gone. */
static void stop_during_request(int sig, int *check_failed_)
{
    harness_server_t s;
    CHECK_OK(start(&s, harness_app("echo"), NULL));
    long pid = get_pid(&s);
    CHECK(pid > 0);
    req_t slow = {&s, "/sleep?ms=1500", {0}, 0, 0};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, req_main, &slow) == 0);
    harness_sleep_ms(300);
    long long t0 = harness_now_ms();
    int rc = sig == SIGTERM ? stop(&s) : stop_with_signal(&s, sig);
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
    const char *ext = getenv("DAS_TEST_SERVER");
    if (ext && *ext)
        SKIP("needs a server of its own (DAS_TEST_SERVER is set)");
    stop_during_request(SIGTERM, check_failed_);
}

TEST(test_sigint_lets_the_running_request_finish_and_exits_0)
{
    const char *ext = getenv("DAS_TEST_SERVER");
    if (ext && *ext)
        SKIP("needs a server of its own (DAS_TEST_SERVER is set)");
    stop_during_request(SIGINT, check_failed_);
}

TEST(test_idle_server_stops_promptly_and_leaves_no_instance)
{
    harness_server_t s;
    START(&s, harness_app("echo"), NULL);
    long pid = get_pid(&s);
    CHECK(pid > 0);
    long long t0 = harness_now_ms();
    CHECK_EQ(stop(&s), 0);
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
    req_t reqs[3] = {{&s, "/sleep?ms=1500", {0}, 0, 0},
                     {&s, "/sleep?ms=1500", {0}, 0, 0},
                     {&s, "/sleep?ms=1500", {0}, 0, 0}};
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        CHECK(pthread_create(&t[i], NULL, req_main, &reqs[i]) == 0);
    harness_sleep_ms(700);
    int rc = stop(&s);
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
    const char *ext = getenv("DAS_TEST_SERVER");
    if (ext && *ext)
        SKIP("needs a server of its own (DAS_TEST_SERVER is set)");
    int lost = 0, total = 0;
    for (int round = 0; round < 4; round++) {
        harness_server_t s;
        CHECK_OK(start(&s, harness_app("echo"), NULL));
        CHECK(get_pid(&s) > 0);
        req_t reqs[8];
        pthread_t t[8];
        int n = 0;
        for (int i = 0; i < 8; i++) {
            reqs[i] = (req_t){&s, "/sleep?ms=1500", {0}, 0, 0};
            if (pthread_create(&t[i], NULL, req_main, &reqs[i]) == 0)
                n++;
            else
                break;
        }
        harness_sleep_ms(500);
        int rc = stop(&s);
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

    req_t slow = {&s, "/sleep?ms=2000", {0}, 0, 0};
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
    int rc = stop(&s); /* already stopping: waits for the exit */

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
    req_t slow = {&s, "/sleep?ms=60000", {0}, 0, 0};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, req_main, &slow) == 0);
    harness_sleep_ms(300);
    long long t0 = harness_now_ms();
    int rc = stop(&s);
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
