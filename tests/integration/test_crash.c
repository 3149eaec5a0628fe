/* test_crash.c - an app that crashes or runs past its deadline costs one request, not the
 * server: the request gets a 500 that says what happened (signal, deadline), the log names
 * the request and the script, the instance is replaced, and other requests and connections
 * carry on.
 */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"

/* ---------------------------------------------------------------- helpers */

/* True when one line of the server's log contains all of a, b and c. */
static bool log_line_has(const harness_server_t *s, const char *a, const char *b, const char *c)
{
    char *log = harness_log(s);
    bool found = false;
    for (const char *line = log; !found && line && *line;) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        char *copy = strndup(line, len);
        found = strstr(copy, a) && strstr(copy, b) && strstr(copy, c);
        free(copy);
        line = eol ? eol + 1 : NULL;
    }
    free(log);
    return found;
}

/* ---------------------------------------------------------------- crashes */

TEST(test_segfault_gives_500_naming_the_signal_and_a_new_instance_takes_over)
{
    harness_server_t s;
    START(&s, harness_app("echo"), NULL);
    long before = get_pid(&s);
    CHECK(before > 0);

    harness_response_t r;
    CHECK_OK(harness_get(&s, "/crash", &r));
    CHECK_EQ(r.status, 500);
    CHECK_STR_CONTAINS(r.body, "signal 11");
    CHECK_STR_CONTAINS(r.body, "SIGSEGV");
    CHECK_STR_CONTAINS(r.body, "/crash");
    harness_response_dispose(&r);

    CHECK(log_line_has(&s, "signal 11", "/crash", "echo.app"));

    long after = get_pid(&s);
    CHECK(after > 0);
    CHECK(after != before);
    /* The crashed instance is gone (and reaped), not lingering. */
    CHECK(kill((pid_t)before, 0) < 0 && errno == ESRCH);
    /* The replacement stays and serves the next requests too. */
    harness_response_t r2;
    CHECK_OK(harness_get(&s, "/pid", &r2));
    if (r2.status != 200)
        printf("# %s", r2.body);
    CHECK_EQ(r2.status, 200);
    CHECK_EQ(atol(r2.body), after);
    harness_response_dispose(&r2);
    CHECK_EQ(harness_stop(&s), 0);
}

TEST(test_abort_gives_500_naming_sigabrt)
{
    harness_server_t s;
    START(&s, harness_app("echo"), NULL);
    long before = get_pid(&s);
    CHECK(before > 0);
    harness_response_t r;
    CHECK_OK(harness_get(&s, "/abort", &r));
    CHECK_EQ(r.status, 500);
    CHECK_STR_CONTAINS(r.body, "signal 6");
    CHECK_STR_CONTAINS(r.body, "SIGABRT");
    harness_response_dispose(&r);
    CHECK(log_line_has(&s, "SIGABRT", "/abort", "echo.app"));
    long after = get_pid(&s);
    CHECK(after > 0);
    CHECK(after != before);
    CHECK_EQ(harness_stop(&s), 0);
}

TEST(test_crash_on_one_instance_does_not_disturb_a_request_on_another)
{
    harness_server_t s;
    const char *args[] = {"--dispatch", "serial", "--max-instances", "2", NULL};
    START(&s, harness_app("echo"), args);
    CHECK(get_pid(&s) > 0);
    req_t slow = {.s = &s, .path = "/sleep?ms=1500"};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, req_main, &slow) == 0);
    harness_sleep_ms(300);
    harness_response_t r;
    int rc = harness_get(&s, "/crash", &r);
    pthread_join(t, NULL);
    CHECK_OK(rc);
    CHECK_EQ(r.status, 500);
    CHECK_STR_CONTAINS(r.body, "SIGSEGV");
    harness_response_dispose(&r);
    CHECK_OK(slow.rc);
    CHECK_EQ(slow.r.status, 200);
    CHECK_STR_CONTAINS(slow.r.body, "slept 1500 ms in ");
    harness_response_dispose(&slow.r);
    CHECK(get_pid(&s) > 0);
    CHECK_EQ(harness_stop(&s), 0);
}

/* ---------------------------------------------------------------- keep-alive */

static size_t to_buf(char *p, size_t size, size_t n, void *ud)
{
    char *buf = ud;
    size_t have = strlen(buf), add = size * n;
    if (have + add < 256) {
        memcpy(buf + have, p, add);
        buf[have + add] = '\0';
    }
    return size * n;
}

/* One request on a long-lived easy handle (so its connection is reused). Returns the status,
 * or -1; `body` gets the body and `*new_conns` how many connections curl had to open. */
static long keepalive_get(CURL *c, const harness_server_t *s, const char *path, char *body,
                          long *new_conns)
{
    char url[256];
    snprintf(url, sizeof url, "http://%s:%d%s", s->host, s->port, path);
    body[0] = '\0';
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, to_buf);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        printf("# keep-alive GET %s: %s\n", path, curl_easy_strerror(cc));
        return -1;
    }
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, new_conns);
    return status;
}

TEST(test_keep_alive_connection_keeps_working_across_crashes)
{
    harness_server_t s;
    START(&s, harness_app("echo"), NULL);
    CURL *c = curl_easy_init();
    CHECK(c != NULL);
    char body[256];
    long conns = -1;
    long status = keepalive_get(c, &s, "/pid", body, &conns);
    long first_pid = atol(body);

    /* Another connection crashes the (only) instance. */
    harness_response_t r;
    int rc = harness_get(&s, "/crash", &r);
    long crash_status = r.status;
    harness_response_dispose(&r);

    long status2 = keepalive_get(c, &s, "/pid", body, &conns);
    long second_pid = atol(body);
    long conns2 = conns;

    /* This connection's own request crashes; the connection still works afterwards. */
    long status3 = keepalive_get(c, &s, "/crash", body, &conns);
    long conns3 = conns;
    long status4 = keepalive_get(c, &s, "/pid", body, &conns);
    long conns4 = conns;
    long third_pid = atol(body);
    curl_easy_cleanup(c);

    CHECK_EQ(status, 200);
    CHECK(first_pid > 0);
    CHECK_OK(rc);
    CHECK_EQ(crash_status, 500);
    CHECK_EQ(status2, 200);
    CHECK(second_pid > 0 && second_pid != first_pid);
    CHECK_EQ(conns2, 0); /* the same connection, reused */
    CHECK_EQ(status3, 500);
    CHECK_EQ(conns3, 0);
    CHECK_EQ(status4, 200);
    CHECK_EQ(conns4, 0);
    CHECK(third_pid > 0 && third_pid != second_pid);
    CHECK_EQ(harness_stop(&s), 0);
}

/* ---------------------------------------------------------------- deadline */

TEST(test_request_past_its_deadline_gets_500_and_the_instance_is_replaced)
{
    harness_server_t s;
    const char *args[] = {"--request-deadline", "1", NULL};
    START(&s, harness_app("echo"), args);
    long before = get_pid(&s);
    CHECK(before > 0);
    harness_response_t r;
    long long t0 = harness_now_ms();
    CHECK_OK(harness_get(&s, "/sleep?ms=5000", &r));
    long long took = harness_now_ms() - t0;
    printf("# a 5 s request with a 1 s deadline answered after %lld ms\n", took);
    CHECK_EQ(r.status, 500);
    CHECK_STR_CONTAINS(r.body, "deadline");
    CHECK_STR_CONTAINS(r.body, "/sleep");
    harness_response_dispose(&r);
    CHECK(took >= 900 && took <= 4000);
    CHECK(log_line_has(&s, "deadline", "/sleep", "echo.app"));
    long after = get_pid(&s);
    CHECK(after > 0);
    CHECK(after != before);
    /* Requests within the deadline are unaffected. */
    CHECK_OK(harness_get(&s, "/sleep?ms=200", &r));
    if (r.status != 200)
        printf("# %s", r.body);
    CHECK_EQ(r.status, 200);
    harness_response_dispose(&r);
    CHECK_EQ(harness_stop(&s), 0);
}

TEST(test_instance_killed_while_idle_is_replaced_without_failing_a_request)
{
    harness_server_t s;
    START(&s, harness_app("echo"), NULL);
    long before = get_pid(&s);
    CHECK(before > 0);
    CHECK_OK(kill((pid_t)before, SIGKILL));
    harness_sleep_ms(100);
    /* The dead instance refuses the request before it is delivered; another one answers. */
    long after = get_pid(&s);
    CHECK(after > 0);
    CHECK(after != before);
    CHECK_LOG_CONTAINS(&s, "was gone before the request reached it");
    CHECK_EQ(harness_stop(&s), 0);
}

/* A request retried after its idle instance was killed, whose new instance takes longer to
 * load than the request's deadline: it times out before it is sent, and the new instance,
 * which never saw it, is not stopped for it. */
SERVER_TEST(test_retry_out_of_time_before_sending_spares_the_new_instance,
            harness_app("slowstart"), "--request-deadline", "1", "--dispatch", "serial",
            "--max-instances", "2")
{
    (void)check_skipped_;
    char body[512];
    CHECK_EQ(harness_get_text(s, "/pid", body, sizeof body), 200);
    long first = atol(body);
    CHECK(first > 0);
    CHECK_EQ(kill((pid_t)first, SIGKILL), 0);
    harness_sleep_ms(100);
    CHECK_EQ(harness_get_text(s, "/pid", body, sizeof body), 500);
    CHECK_STR_CONTAINS(body, "before an instance could take it");
    /* The instance started for the retry serves the next request. */
    CHECK_EQ(harness_get_text(s, "/pid", body, sizeof body), 200);
    long second = atol(body);
    CHECK(second > 0 && second != first);
    CHECK_EQ(kill((pid_t)second, 0), 0);
    char *log = harness_log(s);
    bool stopped = strstr(log, "was stopped and will be replaced") != NULL;
    free(log);
    CHECK(!stopped);
}

TEST(test_instances_exit_when_the_server_is_killed_outright)
{
    harness_server_t s;
    START(&s, harness_app("echo"), NULL);
    long inst = get_pid(&s);
    CHECK(inst > 0);
    /* SIGKILL leaves no chance to clean up: the instance must notice on its own. */
    CHECK_OK(kill(s.pid, SIGKILL));
    long long until = harness_now_ms() + 10000;
    while (kill((pid_t)inst, 0) == 0 && harness_now_ms() < until)
        harness_sleep_ms(20);
    CHECK_EQ(kill((pid_t)inst, 0), -1);
    CHECK_EQ(errno, ESRCH);
    CHECK_EQ(harness_stop(&s), -1); /* it died by a signal, as intended */
}

TEST(test_crash_serves_the_apps_error_page_with_status_500)
{
    harness_server_t s;
    START(&s, harness_app("errpage"), NULL);
    harness_response_t r;
    CHECK_OK(harness_get(&s, "/crash", &r));
    long status = r.status;
    bool page = r.body && strstr(r.body, "Sorry, something went wrong.") != NULL;
    char type[64] = "";
    harness_header(&r, "Content-Type", type, sizeof type);
    harness_response_dispose(&r);
    CHECK_EQ(status, 500);
    CHECK(page);
    CHECK_STR_EQ(type, "text/html");
    /* The log still says what happened. */
    CHECK_LOG_CONTAINS(&s, "SIGSEGV");
    char body[32];
    CHECK_EQ(harness_get_text(&s, "/", body, sizeof body), 200);
    CHECK_STR_EQ(body, "fine");
    CHECK_EQ(harness_stop(&s), 0);
}

/* A request queued behind one that dies must not wait out the 10 s queue timeout: the dead
 * instance's place is taken at once. */
TEST(test_request_queued_behind_a_dying_instance_is_served_promptly)
{
    harness_server_t s;
    const char *args[] = {"--dispatch", "serial", "--max-instances", "1", "--request-deadline",
                          "1", NULL};
    START(&s, harness_app("echo"), args);
    req_t slow = {.s = &s, .path = "/sleep?ms=5000"};
    pthread_t t;
    pthread_create(&t, NULL, req_main, &slow);
    harness_sleep_ms(300);
    long long t0 = harness_now_ms();
    long pid = get_pid(&s); /* queued: the only instance is busy until its deadline kills it */
    long long waited = harness_now_ms() - t0;
    pthread_join(t, NULL);
    long slow_status = slow.r.status;
    harness_response_dispose(&slow.r);
    CHECK(pid > 0);
    CHECK_EQ(slow_status, 500);
    CHECK(waited < 6000); /* generous; it was 10 s before the fix */
    CHECK_EQ(harness_stop(&s), 0);
}

CHECK_MAIN()
