/* test_hardening.c - defects found by hostile input, each pinned by a test that failed before
 * its fix: files that would block the server (FIFOs), statuses an app may not set, and more. */
#include <arpa/inet.h>
#include <pthread.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "itest.h"

/* A copy of the echo app in a fresh folder: `dir` gets the folder, `app` the app in it. */
static void copy_echo(char *dir, size_t dcap, char *app, size_t acap)
{
    harness_tmpdir(dir, dcap);
    snprintf(app, acap, "%s/app", dir);
    if (harness_copy_tree(harness_app("echo"), app) != 0)
        abort();
}

TEST(test_fifo_under_a_static_dir_is_404_and_does_not_wedge_the_server)
{
    char dir[256], app[300], fifo[400];
    copy_echo(dir, sizeof dir, app, sizeof app);
    snprintf(fifo, sizeof fifo, "%s/static/pipe", app);
    CHECK_OK(mkfifo(fifo, 0644));
    harness_server_t s;
    START(&s, app, NULL);
    char body[256];
    CHECK_EQ(harness_get_text(&s, "/static/pipe", body, sizeof body), 404);
    CHECK_EQ(harness_get_text(&s, "/static/hello.txt", body, sizeof body), 200);
    CHECK_EQ(harness_stop(&s), 0);
    harness_remove_tree(dir);
}

TEST(test_fifo_as_an_include_is_a_config_error_not_a_hang)
{
    NEED_OWN_SERVER();
    char dir[256], app[300], path[400];
    copy_echo(dir, sizeof dir, app, sizeof app);
    snprintf(path, sizeof path, "%s/more.yaml", app);
    CHECK_OK(mkfifo(path, 0644));
    snprintf(path, sizeof path, "%s/app.yaml", app);
    CHECK_OK(harness_write_file(path, "runtime: c\napi_version: 1\nthreadsafe: true\n"
                                      "includes:\n- more.yaml\n"
                                      "handlers:\n- url: /.*\n  script: echo.app\n"));
    char storage[320];
    snprintf(storage, sizeof storage, "%s/st", dir);
    const char *const args[] = {"--port", "0", "--storage-path", storage, app, NULL};
    char *out = NULL;
    CHECK_EQ(harness_run(args, &out), 1);
    CHECK_STR_CONTAINS(out, "more.yaml");
    CHECK_STR_CONTAINS(out, "not a regular file");
    free(out);
    harness_remove_tree(dir);
}

SERVER_TEST(test_interim_and_out_of_range_statuses_from_an_app_are_a_500_naming_them,
            harness_app("echo"), NULL)
{
    (void)check_skipped_;
    char body[256];
    CHECK_EQ(harness_get_text(s, "/status?code=101", body, sizeof body), 500);
    CHECK_STR_CONTAINS(body, "invalid HTTP status 101");
    CHECK_EQ(harness_get_text(s, "/status?code=199", body, sizeof body), 500);
    CHECK_EQ(harness_get_text(s, "/status?code=600", body, sizeof body), 500);
    /* The connection is still in step: the next request on it is answered. */
    CHECK_EQ(harness_get_text(s, "/status?code=204", body, sizeof body), 204);
    CHECK_EQ(harness_get_text(s, "/status?code=599", body, sizeof body), 599);
}

SERVER_TEST(test_if_match_uses_the_strong_comparison, harness_app("echo"), NULL)
{
    (void)check_skipped_;
    harness_response_t r;
    CHECK_OK(harness_get(s, "/static/hello.txt", &r));
    char etag[128], header[200];
    CHECK(harness_header(&r, "ETag", etag, sizeof etag));
    harness_response_dispose(&r);
    snprintf(header, sizeof header, "If-Match: W/%s", etag);
    const char *weak[] = {header, NULL};
    CHECK_OK(harness_request(s, "GET", "/static/hello.txt", weak, NULL, 0, &r));
    CHECK_EQ(r.status, 412);
    harness_response_dispose(&r);
    snprintf(header, sizeof header, "If-Match: %s", etag);
    const char *strong[] = {header, NULL};
    CHECK_OK(harness_request(s, "GET", "/static/hello.txt", strong, NULL, 0, &r));
    CHECK_EQ(r.status, 200);
    harness_response_dispose(&r);
    /* If-None-Match keeps the weak comparison: a W/ validator of the same tag is a 304. */
    snprintf(header, sizeof header, "If-None-Match: W/%s", etag);
    const char *none[] = {header, NULL};
    CHECK_OK(harness_request(s, "GET", "/static/hello.txt", none, NULL, 0, &r));
    CHECK_EQ(r.status, 304);
    harness_response_dispose(&r);
}

SERVER_TEST(test_unmatched_url_gets_the_platforms_html_404_escaped, harness_app("a_nohandler"),
            NULL)
{
    (void)check_skipped_;
    harness_response_t r;
    CHECK_OK(harness_get(s, "/nothing/%3Cb%3E", &r));
    CHECK_EQ(r.status, 404);
    char type[128];
    CHECK(harness_header(&r, "Content-Type", type, sizeof type));
    CHECK_STR_EQ(type, "text/html");
    CHECK_STR_EQ(r.body, "<html><head><title>Not Found</title></head><body>The url "
                         "\"/nothing/&lt;b&gt;\" does not match any handlers.</body></html>");
    harness_response_dispose(&r);
}

/* Whether process `pid` is gone (a zombie left for init to reap counts as gone), waiting up
 * to 3 s for it to go. */
static bool gone(long pid)
{
    for (int i = 0; i < 300; i++) {
        char path[64], stat[256] = "";
        snprintf(path, sizeof path, "/proc/%ld/stat", pid);
        FILE *f = fopen(path, "r");
        if (!f)
            return true;
        size_t n = fread(stat, 1, sizeof stat - 1, f);
        fclose(f);
        stat[n] = '\0';
        const char *paren = strrchr(stat, ')');
        if (paren && paren[1] == ' ' && paren[2] == 'Z')
            return true;
        harness_sleep_ms(10);
    }
    return false;
}

TEST(test_processes_an_app_started_end_with_the_server)
{
    harness_server_t s;
    START(&s, harness_app("echo"), NULL);
    char body[64];
    CHECK_EQ(harness_get_text(&s, "/spawn", body, sizeof body), 200);
    long child = atol(body);
    CHECK(child > 0);
    CHECK(!gone(child) || !"the sleep ended too early");
    CHECK_EQ(harness_stop(&s), 0);
    CHECK(gone(child));
}

TEST(test_processes_an_app_started_end_with_an_instance_stopped_at_its_deadline)
{
    harness_server_t s;
    const char *const args[] = {"--request-deadline", "1", "--max-instances", "1", NULL};
    START(&s, harness_app("echo"), args);
    char body[256];
    CHECK_EQ(harness_get_text(&s, "/spawn", body, sizeof body), 200);
    long child = atol(body);
    CHECK(child > 0);
    CHECK_EQ(harness_get_text(&s, "/sleep?ms=3000", body, sizeof body), 500);
    CHECK_STR_CONTAINS(body, "exceeded its deadline");
    CHECK(gone(child));
    CHECK_EQ(harness_stop(&s), 0);
}

/* The dot-segment redirect names a path on this server, whatever the path decodes to. */
SERVER_TEST(test_dot_segment_redirect_cannot_name_another_host_or_a_query, harness_app("echo"),
            NULL)
{
    (void)check_skipped_;
    static const char *const cases[][2] = {
        {"/a/../%5Cevil.example/x", "/%5Cevil.example/x"},
        {"/./%09/evil.example", "/%09/evil.example"},
        {"/a/../b%3Fc=1", "/b%3Fc=1"},
        {"/a/..//evil.example/", "/evil.example/"},
        {"/x/./y?q=1", "/x/y?q=1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        harness_response_t r;
        CHECK_OK(harness_get(s, cases[i][0], &r));
        CHECK_EQ(r.status, 302);
        char location[256];
        CHECK(harness_header(&r, "Location", location, sizeof location));
        CHECK_STR_EQ(location, cases[i][1]);
        harness_response_dispose(&r);
    }
}

SERVER_TEST(test_access_log_quotes_a_double_quote_in_the_request_line, harness_app("echo"),
            NULL)
{
    (void)check_skipped_;
    char body[64];
    harness_get_text(s, "/env?name=\"quoted\"", body, sizeof body);
    CHECK_LOG_CONTAINS(s, "\"GET /env?name=\\\"quoted\\\" HTTP/1.1\"");
}

SERVER_TEST(test_redundant_separators_in_a_static_path_are_404, harness_app("echo"), NULL)
{
    (void)check_skipped_;
    char body[256];
    CHECK_EQ(harness_get_text(s, "/static/hello.txt", body, sizeof body), 200);
    CHECK_EQ(harness_get_text(s, "/static//hello.txt", body, sizeof body), 404);
    CHECK_EQ(harness_get_text(s, "/static/sub/page.html", body, sizeof body), 200);
    CHECK_EQ(harness_get_text(s, "/static/sub//page.html", body, sizeof body), 404);
    CHECK_EQ(harness_get_text(s, "/img//hello.txt", body, sizeof body), 404);
}

SERVER_TEST(test_static_files_serve_only_what_upload_names, harness_app("echo"), NULL)
{
    (void)check_skipped_;
    char body[256];
    CHECK_EQ(harness_get_text(s, "/narrow/hello.txt", body, sizeof body), 200);
    CHECK_EQ(harness_get_text(s, "/narrow/sub/page.html", body, sizeof body), 404);
    CHECK_EQ(harness_get_text(s, "/maybe/sub/page.html", body, sizeof body), 200);
}

/* The status of GET / with the Host header `host`. */
static long status_with_host(const harness_server_t *s, const char *host)
{
    char header[300];
    snprintf(header, sizeof header, "Host: %s", host);
    const char *headers[] = {header, NULL};
    harness_response_t r;
    if (harness_request(s, "GET", "/env?name=SERVER_NAME", headers, NULL, 0, &r) != 0)
        return -1;
    long status = r.status;
    harness_response_dispose(&r);
    return status;
}

SERVER_TEST(test_a_foreign_host_header_gets_400, harness_app("echo"), NULL)
{
    (void)check_skipped_;
    char local[64];
    snprintf(local, sizeof local, "localhost:%d", s->port);
    CHECK_EQ(status_with_host(s, local), 200);
    CHECK_EQ(status_with_host(s, "127.0.0.1"), 200);
    CHECK_EQ(status_with_host(s, "[::1]:8080"), 200);
    CHECK_EQ(status_with_host(s, "LOCALHOST"), 200);
    CHECK_EQ(status_with_host(s, "evil.example.com"), 400);
    CHECK_EQ(status_with_host(s, "evil.example.com:8080"), 400);
    CHECK_EQ(status_with_host(s, "localhost.evil.example.com"), 400);
    /* The login redirect no longer echoes a foreign host. */
    harness_response_t r;
    const char *evil[] = {"Host: evil.example.com", NULL};
    CHECK_OK(harness_request(s, "GET", "/required/x", evil, NULL, 0, &r));
    CHECK_EQ(r.status, 400);
    CHECK(!harness_header(&r, "Location", local, sizeof local));
    harness_response_dispose(&r);
}

SERVER_TEST(test_allow_host_adds_names_and_star_allows_any, harness_app("echo"),
            "--allow-host", "dev.test", "--allow-host", "other.test")
{
    (void)check_skipped_;
    CHECK_EQ(status_with_host(s, "dev.test"), 200);
    CHECK_EQ(status_with_host(s, "other.test:99"), 200);
    CHECK_EQ(status_with_host(s, "third.test"), 400);
}

SERVER_TEST(test_allow_host_star_turns_the_check_off, harness_app("echo"), "--allow-host", "*")
{
    (void)check_skipped_;
    CHECK_EQ(status_with_host(s, "anything.example"), 200);
}

SERVER_TEST(test_response_headers_over_32kb_are_sent_and_over_the_limit_are_a_500,
            harness_app("echo"), NULL)
{
    (void)check_skipped_;
    harness_response_t r;
    /* 40 KB of headers once gave an empty reply (libmicrohttpd's 32 KiB connection memory). */
    CHECK_OK(harness_get(s, "/bigheaders?kb=40", &r));
    CHECK_EQ(r.status, 200);
    CHECK_STR_EQ(r.body, "40 headers");
    char v[1100];
    CHECK(harness_header(&r, "X-Big-39", v, sizeof v));
    CHECK_EQ(strlen(v), 1000);
    harness_response_dispose(&r);
    CHECK_OK(harness_get(s, "/bigheaders?kb=70", &r));
    CHECK_EQ(r.status, 500);
    CHECK_STR_CONTAINS(r.body, "the response headers are");
    CHECK_STR_CONTAINS(r.body, "the limit is 49152");
    CHECK(!harness_header(&r, "X-Big-0", v, sizeof v));
    harness_response_dispose(&r);
    CHECK_LOG_CONTAINS(s, "\"GET /bigheaders?kb=70 HTTP/1.1\" 500");
}

/* A response body over 64 MB could not travel in one frame: the request waited out its
 * deadline and its instance was killed with every request on it. Now it is the same prompt 500
 * as a 33 MB one, and the instance goes on. */
SERVER_TEST(test_response_over_64mb_is_a_prompt_500_and_the_instance_lives, harness_app("echo"),
            "--request-deadline", "30", "--max-instances", "1")
{
    (void)check_skipped_;
    char body[256], pid[32];
    CHECK_EQ(harness_get_text(s, "/pid", pid, sizeof pid), 200);
    long long t0 = harness_now_ms();
    CHECK_EQ(harness_get_text(s, "/bigbody?mb=70", body, sizeof body), 500);
    CHECK(harness_now_ms() - t0 < 20000);
    CHECK_STR_EQ(body, "HTTP response was too large: 73400320. The limit is: 33554432.\n");
    CHECK_EQ(harness_get_text(s, "/bigbody?mb=40", body, sizeof body), 500);
    CHECK_STR_EQ(body, "HTTP response was too large: 41943040. The limit is: 33554432.\n");
    CHECK_EQ(harness_get_text(s, "/pid", body, sizeof body), 200);
    CHECK_STR_EQ(body, pid); /* the same instance */
    CHECK_EQ(harness_get_text(s, "/bigbody?mb=32", body, sizeof body), 200);
}

/* A crash while a forked child holds the instance's socket open was a deadline (end of file
 * never came); the server now watches the instance's pid. */
SERVER_TEST(test_crash_is_noticed_at_once_while_a_forked_child_holds_the_socket,
            harness_app("echo"), "--request-deadline", "20")
{
    (void)check_skipped_;
    char body[512];
    long long t0 = harness_now_ms();
    CHECK_EQ(harness_get_text(s, "/forkhold", body, sizeof body), 500);
    CHECK(harness_now_ms() - t0 < 5000);
    CHECK_STR_CONTAINS(body, "SIGSEGV");
    CHECK_EQ(harness_get_text(s, "/pid", body, sizeof body), 200);
}

/* A frame a forked child wrote onto the slot once became the next request's response. */
SERVER_TEST(test_a_frame_for_another_request_is_a_protocol_error_not_a_response,
            harness_app("echo"), "--dispatch", "serial", "--max-instances", "1")
{
    (void)check_skipped_;
    char body[512], first[32], later[32];
    CHECK_EQ(harness_get_text(s, "/pid", first, sizeof first), 200);
    CHECK_EQ(harness_get_text(s, "/forkforge", body, sizeof body), 200);
    CHECK_STR_EQ(body, "real");
    harness_sleep_ms(800); /* the child has written its frame by now */
    CHECK_EQ(harness_get_text(s, "/pid", body, sizeof body), 500);
    CHECK(strstr(body, "forged") == NULL);
    CHECK_STR_CONTAINS(body, "broke the protocol");
    CHECK_STR_CONTAINS(body, "belongs to another request");
    CHECK_EQ(harness_get_text(s, "/pid", later, sizeof later), 200);
    CHECK(strcmp(later, first) != 0); /* a new instance */
}

/* Sends `req` (`len` bytes, as they are) to the server and reads the answer into `out` until
 * the server closes or 2 s pass. Returns the status of the first response, or -1. */
static long raw_request(const harness_server_t *s, const char *req, size_t len, char *out,
                        size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    struct timeval tv = {2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
        send(fd, req, len, MSG_NOSIGNAL) != (ssize_t)len) { /* a server that closed: EPIPE */
        close(fd);
        return -1;
    }
    size_t got = 0;
    for (ssize_t n; got + 1 < cap && (n = read(fd, out + got, cap - 1 - got)) > 0;) {
        got += (size_t)n;
        char *end = strstr(out, "\r\n\r\n");
        out[got] = '\0';
        if (end && strstr(out, "Content-Length: ")) {
            size_t body = (size_t)atol(strstr(out, "Content-Length: ") + 16);
            if (got >= (size_t)(end + 4 - out) + body)
                break;
        }
    }
    out[got] = '\0';
    close(fd);
    long status = -1;
    if (sscanf(out, "HTTP/1.1 %ld", &status) != 1)
        return -1;
    return status;
}

#define RAW(s, text, out) raw_request((s), (text), sizeof(text) - 1, (out), sizeof(out))

/* Framing that libmicrohttpd 0.9.75 accepts and a proxy in front might read otherwise. */
SERVER_TEST(test_ambiguous_framing_and_malformed_header_lines_are_400, harness_app("echo"), NULL)
{
    (void)check_skipped_;
    char out[2048];
    CHECK_EQ(RAW(s, "POST /body HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\n"
                    "Content-Length: 5\r\n\r\nabcde",
                 out),
             400);
    CHECK_STR_CONTAINS(out, "two different Content-Length headers");
    CHECK_EQ(RAW(s, "POST /body HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n"
                    "Content-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
                 out),
             400);
    CHECK_STR_CONTAINS(out, "both Transfer-Encoding and Content-Length");
    CHECK_EQ(RAW(s, "GET /header?name=X-A HTTP/1.1\r\nHost: localhost\r\nX-A : one\r\n\r\n",
                 out),
             400);
    CHECK_STR_CONTAINS(out, "not a token");
    /* After such a 400 the connection closes: what follows the body is never a request. */
    CHECK_EQ(RAW(s, "POST /body HTTP/1.1\r\nHost: localhost\r\nContent-Length: 40\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /pid HTTP/1.1\r\n"
                    "Host: localhost\r\n\r\n",
                 out),
             400);
    CHECK(strstr(strstr(out, "HTTP/1.1") + 1, "HTTP/1.1") == NULL);
    CHECK_EQ(RAW(s, "POST /body HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip, "
                    "chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
                 out),
             400);
    CHECK_STR_CONTAINS(out, "the only Transfer-Encoding accepted is chunked");
    /* The same Content-Length twice is not ambiguous. */
    CHECK_EQ(RAW(s, "POST /body HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\n"
                    "Content-Length: 3\r\n\r\nabc",
                 out),
             200);
}

SERVER_TEST(test_absolute_form_targets_are_served_by_their_path, harness_app("echo"), NULL)
{
    (void)check_skipped_;
    char out[2048];
    CHECK_EQ(RAW(s, "GET http://localhost/env?name=PATH_INFO HTTP/1.1\r\nHost: localhost\r\n\r\n",
                 out),
             200);
    CHECK_STR_CONTAINS(out, "\r\n\r\n/env");
}

/* Under threadsafe: true a crash ends every request on the instance, as on the platform; the
 * log says which request's handler crashed it and which requests were only on it. */
SERVER_TEST(test_log_names_the_request_that_crashed_the_instance_and_those_caught_with_it,
            harness_app("echo"), "--max-instances", "1")
{
    (void)check_skipped_;
    req_t q = {.s = s, .path = "/sleep?ms=3000"};
    pthread_t t;
    pthread_create(&t, NULL, req_main, &q);
    harness_sleep_ms(500); /* the sleep is on the instance */
    char body[512];
    CHECK_EQ(harness_get_text(s, "/crash", body, sizeof body), 500);
    CHECK_STR_CONTAINS(body, "this request's handler crashed it");
    pthread_join(t, NULL);
    CHECK_EQ(q.rc, 0);
    CHECK_EQ(q.r.status, 500);
    CHECK_STR_CONTAINS(q.r.body, "the handler of GET /crash crashed it, and this request was on "
                                 "the same instance");
    harness_response_dispose(&q.r);
    CHECK_LOG_CONTAINS(s, "while serving GET /crash (script echo.app); this request's handler "
                          "crashed it");
    /* A stack overflow, the commonest crash, is attributed too (the handler has a stack of
     * its own). */
    CHECK_EQ(harness_get_text(s, "/overflow", body, sizeof body), 500);
    CHECK_STR_CONTAINS(body, "this request's handler crashed it");
}

CHECK_MAIN()
