/* test_urlfetch.c - URL Fetch from handlers over HTTP (samples/urlfetch_proxy) against a local
 * origin (tests/support/origin.h): fetching the origin with the platform's headers, a
 * self-fetch refused, another URL of the app fetched under serial dispatch (and its deadline
 * when no instance is free), a deadline shorter than the origin's delay, X-Appengine-Inbound-
 * Appid trusted only from the server's own fetches, a record replayed with the origin stopped,
 * and a deterministic trace whose fetches `replay` serves back with no network.
 */
#include <unistd.h>

#include "itest.h"
#include "origin.h"

#define APP harness_sample("urlfetch_proxy")

/* "/fetch?url=<url, escaped>" and `extra` ("&deadline=1"). */
static void fetch_path(char *out, size_t cap, const char *url, const char *extra)
{
    size_t n = (size_t)snprintf(out, cap, "/fetch?url=");
    for (const char *c = url; *c && n + 4 < cap; c++) {
        if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
            strchr("-._~/:", *c))
            out[n++] = *c;
        else
            n += (size_t)snprintf(out + n, cap - n, "%%%02X", (unsigned char)*c);
    }
    snprintf(out + n, cap - n, "%s", extra ? extra : "");
}

/* GETs /fetch for `url`: the status of the handler's answer, its body in `r`. */
static long fetch(const harness_server_t *s, const char *url, const char *extra,
                  harness_response_t *r)
{
    char path[4096];
    fetch_path(path, sizeof path, url, extra);
    return harness_get(s, path, r) == 0 ? r->status : -1;
}

static void url_of(char *out, size_t cap, const origin_t *o, const char *path)
{
    snprintf(out, cap, "%s%s", origin_base(o), path);
}

TEST(test_urlfetch_fetches_the_origin_with_the_platforms_headers)
{
    origin_t *o = origin_start(false);
    CHECK(o);
    harness_server_t s;
    START(&s, APP, NULL);
    char url[256];
    harness_response_t r;
    url_of(url, sizeof url, o, "/echo");
    CHECK_EQ(fetch(&s, url, NULL, &r), 200);
    char status[16];
    CHECK(harness_header(&r, "X-Fetch-Status", status, sizeof status));
    CHECK_STR_EQ(status, "200");
    CHECK_STR_CONTAINS(r.body, "GET /echo\n");
    CHECK_STR_CONTAINS(r.body, "User-Agent: AppEngine-Google; "
                               "(+http://code.google.com/appengine; appid: dev~urlfetch-proxy)");
    CHECK_STR_CONTAINS(r.body, "Accept-Encoding: gzip");
    harness_response_dispose(&r);

    /* An HTTP error is the origin's answer, not a failed fetch. */
    url_of(url, sizeof url, o, "/status?code=503");
    CHECK_EQ(fetch(&s, url, NULL, &r), 200);
    CHECK(harness_header(&r, "X-Fetch-Status", status, sizeof status));
    CHECK_STR_EQ(status, "503");
    harness_response_dispose(&r);

    /* Redirects are followed, and the final URL said. */
    url_of(url, sizeof url, o, "/redirect/302/2");
    CHECK_EQ(fetch(&s, url, NULL, &r), 200);
    char final[256], want[256];
    CHECK(harness_header(&r, "X-Fetch-Final-Url", final, sizeof final));
    url_of(want, sizeof want, o, "/redirect/302/0");
    CHECK_STR_EQ(final, want);
    harness_response_dispose(&r);

    /* The platform's rules, with its messages. */
    CHECK_EQ(fetch(&s, "http://127.0.0.1:22/x", NULL, &r), 502);
    CHECK_STR_CONTAINS(r.body, "Invalid request URL: http://127.0.0.1:22/x");
    harness_response_dispose(&r);
    url_of(url, sizeof url, o, "/echo");
    CHECK_EQ(fetch(&s, url, "&method=TRACE", &r), 502);
    CHECK_STR_CONTAINS(r.body, "Invalid method TRACE.");
    harness_response_dispose(&r);
    CHECK_EQ(harness_stop(&s), 0);
    origin_stop(o);
}

SERVER_TEST(test_urlfetch_of_the_requests_own_url_is_refused, APP, NULL)
{
    (void)check_skipped_;
    harness_response_t r;
    CHECK_EQ(harness_get(s, "/self", &r), 0);
    CHECK_EQ(r.status, 502);
    CHECK_STR_CONTAINS(r.body, "App cannot fetch the same URL as the one used for the request.");
    harness_response_dispose(&r);
}

TEST(test_urlfetch_of_another_url_of_the_app_under_serial_dispatch)
{
    harness_server_t s;
    const char *const args[] = {"--dispatch", "serial", NULL};
    START(&s, APP, args);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hello", s.port);
    harness_response_t r;
    /* The fetching request holds its instance: the fetched one gets another. */
    CHECK_EQ(fetch(&s, url, NULL, &r), 200);
    CHECK_STR_EQ(r.body, "hello\n");
    harness_response_dispose(&r);
    CHECK_EQ(harness_stop(&s), 0);

    /* With one instance there is none for it: the fetch fails at its deadline, and the
     * server is not stuck. */
    const char *const one[] = {"--dispatch", "serial", "--max-instances", "1", NULL};
    START(&s, APP, one);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hello", s.port);
    long long t0 = harness_now_ms();
    CHECK_EQ(fetch(&s, url, "&deadline=1", &r), 502);
    CHECK_STR_CONTAINS(r.body, "Deadline exceeded while waiting for HTTP response from URL: ");
    CHECK(harness_now_ms() - t0 < 30000);
    harness_response_dispose(&r);
    char body[64];
    CHECK_EQ(harness_get_text(&s, "/hello", body, sizeof body), 200);
    CHECK_EQ(harness_stop(&s), 0);
}

TEST(test_urlfetch_deadline_shorter_than_the_origins_delay)
{
    origin_t *o = origin_start(false);
    CHECK(o);
    harness_server_t s;
    START(&s, APP, NULL);
    char url[256];
    url_of(url, sizeof url, o, "/slow?ms=3000");
    harness_response_t r;
    long long t0 = harness_now_ms();
    CHECK_EQ(fetch(&s, url, "&deadline=0.5", &r), 502);
    long long took = harness_now_ms() - t0;
    CHECK_STR_CONTAINS(r.body, "error -1003");
    CHECK_STR_CONTAINS(r.body, "Deadline exceeded while waiting for HTTP response from URL: ");
    CHECK(took < 2500);
    harness_response_dispose(&r);
    CHECK_EQ(harness_stop(&s), 0);
    origin_stop(o);
}

TEST(test_urlfetch_fetches_started_together_all_answer)
{
    origin_t *o = origin_start(false);
    CHECK(o);
    harness_server_t s;
    START(&s, APP, NULL);
    char path[512];
    snprintf(path, sizeof path, "/parallel?url=%s/slow%%3Fms%%3D100&n=5", origin_base(o));
    char body[256];
    CHECK_EQ(harness_get_text(&s, path, body, sizeof body), 200);
    CHECK_STR_EQ(body, "200\n200\n200\n200\n200\n");
    CHECK_EQ(harness_stop(&s), 0);
    origin_stop(o);
}

TEST(test_urlfetch_a_fetch_not_waited_for_is_cancelled_when_its_request_ends)
{
    origin_t *o = origin_start(false);
    CHECK(o);
    harness_server_t s;
    const char *const args[] = {"--log-level", "debug", NULL};
    START(&s, APP, args);
    char path[512];
    snprintf(path, sizeof path, "/forget?url=%s/slow%%3Fms%%3D5000", origin_base(o));
    char body[64];
    long long t0 = harness_now_ms();
    CHECK_EQ(harness_get_text(&s, path, body, sizeof body), 200);
    CHECK_STR_EQ(body, "started\n");
    CHECK(harness_now_ms() - t0 < 4000); /* the request did not wait for it */
    CHECK_LOG_CONTAINS(&s, "returned with 1 fetch in flight: cancelled");
    CHECK_EQ(harness_stop(&s), 0);
    origin_stop(o);
}

SERVER_TEST(test_urlfetch_inbound_appid_is_trusted_only_from_its_own_fetches, APP, NULL)
{
    (void)check_skipped_;
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/inbound", s->port);
    harness_response_t r;
    CHECK_EQ(fetch(s, url, "&follow=0", &r), 200);
    CHECK_STR_EQ(r.body, "urlfetch-proxy\n");
    harness_response_dispose(&r);
    /* Following redirects, the platform does not say who is calling. */
    CHECK_EQ(fetch(s, url, NULL, &r), 200);
    CHECK_STR_EQ(r.body, "(none)\n");
    harness_response_dispose(&r);
    /* A client cannot pose as another app, even with a token of its own. */
    const char *const spoof[] = {"X-Appengine-Inbound-Appid: other-app",
                                 "X-Devappserver-Inbound-Token: 00000000000000000000000000000000",
                                 NULL};
    CHECK_EQ(harness_request(s, "GET", "/inbound", spoof, NULL, 0, &r), 0);
    CHECK_STR_EQ(r.body, "(none)\n");
    harness_response_dispose(&r);
}

TEST(test_urlfetch_record_then_replay_with_the_origin_stopped)
{
    origin_t *o = origin_start(false);
    CHECK(o);
    char dir[256], file[300], url[256];
    harness_tmpdir(dir, sizeof dir);
    snprintf(file, sizeof file, "%s/fetches.jsonl", dir);
    url_of(url, sizeof url, o, "/echo");
    harness_server_t s;
    const char *const rec[] = {"--urlfetch-record", file, NULL};
    START(&s, APP, rec);
    harness_response_t r;
    CHECK_EQ(fetch(&s, url, "&method=POST&payload=a%3D1", &r), 200);
    char *recorded = strdup(r.body);
    CHECK_STR_CONTAINS(recorded, "POST /echo\n");
    CHECK_STR_CONTAINS(recorded, "\n\na=1");
    harness_response_dispose(&r);
    CHECK_EQ(harness_stop(&s), 0);
    origin_stop(o);

    const char *const rep[] = {"--urlfetch-replay", file, NULL};
    START(&s, APP, rep);
    CHECK_EQ(fetch(&s, url, "&method=POST&payload=a%3D1", &r), 200);
    CHECK_STR_EQ(r.body, recorded);
    harness_response_dispose(&r);
    /* What was not recorded fails, saying which request. */
    CHECK_EQ(fetch(&s, url, "&method=POST&payload=b%3D2", &r), 502);
    CHECK_STR_CONTAINS(r.body, "Unable to fetch URL: ");
    CHECK_STR_CONTAINS(r.body, "matches POST");
    harness_response_dispose(&r);
    CHECK_EQ(harness_stop(&s), 0);
    free(recorded);
    harness_remove_tree(dir);
}

TEST(test_urlfetch_results_are_in_the_trace_and_replay_serves_them)
{
    origin_t *o = origin_start(false);
    CHECK(o);
    char dir[256], trace[300], url[256];
    harness_tmpdir(dir, sizeof dir);
    snprintf(trace, sizeof trace, "%s/run.jsonl", dir);
    url_of(url, sizeof url, o, "/echo");
    harness_server_t s;
    const char *const args[] = {"--dispatch", "deterministic", "--seed", "7", "--trace", trace,
                                NULL};
    START(&s, APP, args);
    harness_response_t r;
    CHECK_EQ(fetch(&s, url, NULL, &r), 200);
    CHECK_STR_CONTAINS(r.body, "GET /echo\n");
    harness_response_dispose(&r);
    /* A failed fetch is recorded too, failure and all. */
    CHECK_EQ(fetch(&s, "http://127.0.0.1:22/", NULL, &r), 502);
    CHECK_STR_CONTAINS(r.body, "Invalid request URL: http://127.0.0.1:22/");
    harness_response_dispose(&r);
    CHECK_EQ(harness_stop(&s), 0);
    char *text = harness_read_file(trace);
    CHECK(text);
    CHECK_STR_CONTAINS(text, "\"service\":\"urlfetch\",\"op\":\"fetch\"");
    CHECK_STR_CONTAINS(text, "\"external\":");
    free(text);
    origin_stop(o); /* replay needs no network */

    const char *const rargs[] = {"replay", trace, NULL};
    char *out = NULL;
    int rc = harness_run(rargs, &out);
    if (rc != 1)
        printf("# replay said:\n%s\n", out);
    CHECK_EQ(rc, 1); /* the run "failed": a request answered 502 */
    CHECK_STR_CONTAINS(out, "urlfetch.fetch \"");
    CHECK_STR_CONTAINS(out, "\"200, ");
    CHECK_STR_CONTAINS(out, "-> invalid argument");
    CHECK_STR_CONTAINS(out, "trace: identical to the recorded one");
    free(out);
    harness_remove_tree(dir);
}

CHECK_MAIN()
