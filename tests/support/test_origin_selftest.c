/* test_origin_selftest.c - checks the test origin server (origin.h) with libcurl, over HTTP and
 * HTTPS: what /echo shows, redirect chains, gzip, a 33 MiB body, a connection closed
 * mid-body, keep-alive, parallel slow requests, and that its certificate fails verification
 * against the system's CAs but passes against itself. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strcasestr */
#endif
#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../check.h"
#include "origin.h"

/* What one transfer brought back. */
typedef struct {
    CURLcode rc;
    long status;
    long redirects;
    char *body; /* NUL-terminated (the body itself may hold NULs: use len) */
    size_t len;
    char *headers; /* the raw header blocks, every response's */
    size_t hlen;
    bool oom;
} resp_t;

static size_t append(char **buf, size_t *len, bool *oom, const char *data, size_t n)
{
    char *p = realloc(*buf, *len + n + 1);
    if (!p) {
        *oom = true;
        return 0;
    }
    memcpy(p + *len, data, n);
    *len += n;
    p[*len] = '\0';
    *buf = p;
    return n;
}

static size_t on_body(char *data, size_t size, size_t n, void *cls)
{
    resp_t *r = cls;
    return append(&r->body, &r->len, &r->oom, data, size * n);
}

static size_t on_header(char *data, size_t size, size_t n, void *cls)
{
    resp_t *r = cls;
    return append(&r->headers, &r->hlen, &r->oom, data, size * n);
}

static void resp_free(resp_t *r)
{
    free(r->body);
    free(r->headers);
    memset(r, 0, sizeof *r);
}

/* An easy handle for origin `o`, not verifying its certificate. */
static CURL *easy(const origin_t *o)
{
    CURL *h = curl_easy_init();
    if (!h)
        return NULL;
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    if (origin_cert_pem(o)) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    return h;
}

/* Runs `h` on base + `path` into `r` (freed first). */
static CURLcode perform(CURL *h, const origin_t *o, const char *path, resp_t *r)
{
    char url[1024];
    snprintf(url, sizeof url, "%s%s", origin_base(o), path);
    resp_free(r);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
    r->rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_getinfo(h, CURLINFO_REDIRECT_COUNT, &r->redirects);
    if (r->rc == CURLE_OK && r->oom)
        r->rc = CURLE_OUT_OF_MEMORY;
    return r->rc;
}

/* A GET of `path` on a fresh handle. */
static CURLcode get(const origin_t *o, const char *path, bool follow, resp_t *r)
{
    CURL *h = easy(o);
    if (!h)
        return r->rc = CURLE_FAILED_INIT;
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, follow ? 1L : 0L);
    perform(h, o, path, r);
    curl_easy_cleanup(h);
    return r->rc;
}

/* A POST of `body` to `path` on a fresh handle, with `headers` (a curl_slist, or NULL). */
static CURLcode post(const origin_t *o, const char *path, const char *body, size_t len,
                     struct curl_slist *headers, bool follow, resp_t *r)
{
    CURL *h = easy(o);
    if (!h)
        return r->rc = CURLE_FAILED_INIT;
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    /* Followed as browsers do (no CURLOPT_POSTREDIR): 307 and 308 keep the POST, 301, 302
     * and 303 turn it into a GET. */
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, follow ? 1L : 0L);
    perform(h, o, path, r);
    curl_easy_cleanup(h);
    return r->rc;
}

/* Whether the last response's headers have the line "name: value" (name: any case). */
static bool has_header(const resp_t *r, const char *name, const char *value)
{
    char line[512];
    snprintf(line, sizeof line, "\n%s: %s\r\n", name, value);
    return r->headers && strcasestr(r->headers, line);
}

/* Whether the body ends with "\n\n" and then `tail` (len bytes): /echo's request body. */
static bool body_ends_with(const resp_t *r, const char *tail, size_t len)
{
    return r->len >= len + 2 && memcmp(r->body + r->len - len - 2, "\n\n", 2) == 0 &&
           memcmp(r->body + r->len - len, tail, len) == 0;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ------------------------------------------------------------------------------ tests */

TEST(echo_shows_the_request)
{
    for (int tls = 0; tls < 2; tls++) {
        origin_t *o = origin_start(tls);
        CHECK(o);
        static const char body[] = "line one\nline two\0tail"; /* a NUL inside */
        struct curl_slist *hs = curl_slist_append(NULL, "X-Test: one");
        hs = curl_slist_append(hs, "X-Second: two words");
        resp_t r = {0};
        CHECK_EQ(post(o, "/echo?a=1&b=x%20y", body, sizeof body - 1, hs, false, &r), CURLE_OK);
        curl_slist_free_all(hs);
        CHECK_EQ(r.status, 200);
        CHECK(has_header(&r, "Content-Type", "text/plain"));
        /* The raw request target; every header in order; a blank line; the body. */
        CHECK(strncmp(r.body, "POST /echo?a=1&b=x%20y\n", 23) == 0);
        char host[64];
        snprintf(host, sizeof host, "\nHost: 127.0.0.1:%d\n", origin_port(o));
        const char *h = strstr(r.body, host), *t1 = strstr(r.body, "\nX-Test: one\n"),
                   *t2 = strstr(r.body, "\nX-Second: two words\n");
        CHECK(h && t1 && t2 && h < t1 && t1 < t2);
        CHECK_STR_CONTAINS(r.body, "\nContent-Length: 22\n");
        CHECK(body_ends_with(&r, body, sizeof body - 1));

        /* 3 MiB in, after "Expect: 100-continue" (libmicrohttpd answers the 100), as much
         * out. */
        size_t n = 3u << 20;
        char *big = malloc(n);
        CHECK(big);
        for (size_t i = 0; i < n; i++)
            big[i] = (char)(i * 7);
        hs = curl_slist_append(NULL, "Expect: 100-continue");
        post(o, "/echo", big, n, hs, false, &r);
        curl_slist_free_all(hs);
        bool same = r.rc == CURLE_OK && r.status == 200 && body_ends_with(&r, big, n);
        CHECK_STR_CONTAINS(r.body, "\nExpect: 100-continue\n");
        free(big);
        CHECK(same);

        /* More than 16 MiB: 413. */
        n = (16u << 20) + 1;
        big = calloc(1, n);
        CHECK(big);
        post(o, "/echo", big, n, NULL, false, &r);
        free(big);
        CHECK_EQ(r.rc, CURLE_OK);
        CHECK_EQ(r.status, 413);

        /* A GET has nothing after the blank line. */
        CHECK_EQ(get(o, "/echo", false, &r), CURLE_OK);
        CHECK(strncmp(r.body, "GET /echo\n", 10) == 0);
        CHECK(r.len >= 2 && strcmp(r.body + r.len - 2, "\n\n") == 0);
        resp_free(&r);
        origin_stop(o);
    }
}

TEST(redirects)
{
    for (int tls = 0; tls < 2; tls++) {
        origin_t *o = origin_start(tls);
        CHECK(o);
        resp_t r = {0};

        /* A chain of 3, followed: the last step echoes. */
        CHECK_EQ(get(o, "/redirect/302/3", true, &r), CURLE_OK);
        CHECK_EQ(r.status, 200);
        CHECK_EQ(r.redirects, 3);
        CHECK(strncmp(r.body, "GET /redirect/302/0\n", 20) == 0);

        /* Not followed: the first step, relative. */
        CHECK_EQ(get(o, "/redirect/301/2", false, &r), CURLE_OK);
        CHECK_EQ(r.status, 301);
        CHECK(has_header(&r, "Location", "/redirect/301/1"));
        CHECK_STR_EQ(r.body, "redirect");

        /* 307 keeps the method and the body; 303 turns a POST into a GET. */
        CHECK_EQ(post(o, "/redirect/307/2", "payload", 7, NULL, true, &r), CURLE_OK);
        CHECK_EQ(r.status, 200);
        CHECK(strncmp(r.body, "POST /redirect/307/0\n", 21) == 0);
        CHECK(body_ends_with(&r, "payload", 7));
        CHECK_EQ(post(o, "/redirect/303/1", "payload", 7, NULL, true, &r), CURLE_OK);
        CHECK(strncmp(r.body, "GET /redirect/303/0\n", 20) == 0);
        CHECK(body_ends_with(&r, "", 0));

        /* /redirect-to: to an absolute URL, as given. */
        char path[256], location[256];
        snprintf(path, sizeof path, "/redirect-to?code=308&url=%s/echo%%3Fx%%3D1",
                 origin_base(o));
        snprintf(location, sizeof location, "%s/echo?x=1", origin_base(o));
        CHECK_EQ(get(o, path, false, &r), CURLE_OK);
        CHECK_EQ(r.status, 308);
        CHECK(has_header(&r, "Location", location));
        CHECK_EQ(get(o, path, true, &r), CURLE_OK);
        CHECK_EQ(r.status, 200);
        CHECK(strncmp(r.body, "GET /echo?x=1\n", 14) == 0);
        snprintf(path, sizeof path, "/redirect-to?url=%s/echo", origin_base(o));
        CHECK_EQ(get(o, path, false, &r), CURLE_OK);
        CHECK_EQ(r.status, 302);

        /* A 302 without Location: nothing to follow. */
        CHECK_EQ(get(o, "/redirect-nolocation", true, &r), CURLE_OK);
        CHECK_EQ(r.status, 302);
        CHECK_EQ(r.redirects, 0);
        CHECK(!strcasestr(r.headers, "\nLocation:"));

        CHECK_EQ(get(o, "/redirect/200/1", false, &r), CURLE_OK);
        CHECK_EQ(r.status, 404);
        CHECK_EQ(get(o, "/redirect/302/-1", false, &r), CURLE_OK);
        CHECK_EQ(r.status, 404);
        resp_free(&r);
        origin_stop(o);
    }
}

TEST(gzip)
{
    origin_t *o = origin_start(false);
    CHECK(o);
    char plain[ORIGIN_GZIP_PLAIN_LEN + 1] = "";
    for (int i = 0; i < ORIGIN_GZIP_REPEAT; i++)
        strcat(plain, ORIGIN_GZIP_UNIT);

    CURL *h = easy(o);
    CHECK(h);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "gzip");
    resp_t r = {0};
    CHECK_EQ(perform(h, o, "/gzip", &r), CURLE_OK);
    curl_easy_cleanup(h);
    CHECK_EQ(r.status, 200);
    CHECK(has_header(&r, "Content-Encoding", "gzip"));
    CHECK(has_header(&r, "X-Plain-Length", "1001"));
    CHECK_EQ(r.len, ORIGIN_GZIP_PLAIN_LEN);
    CHECK_STR_EQ(r.body, plain);

    /* Undecoded: a gzip stream, much shorter. */
    CHECK_EQ(get(o, "/gzip", false, &r), CURLE_OK);
    CHECK(r.len > 18 && r.len < 200);
    CHECK((unsigned char)r.body[0] == 0x1f && (unsigned char)r.body[1] == 0x8b);
    resp_free(&r);
    origin_stop(o);
}

/* /big's body, checked as it arrives. */
typedef struct {
    uint64_t n;
    bool bad;
} pattern_t;

static size_t on_pattern(char *data, size_t size, size_t n, void *cls)
{
    pattern_t *p = cls;
    for (size_t i = 0; i < size * n; i++, p->n++)
        if (data[i] != (char)('a' + p->n % 26))
            p->bad = true;
    return size * n;
}

TEST(big_body)
{
    for (int tls = 0; tls < 2; tls++) {
        origin_t *o = origin_start(tls);
        CHECK(o);
        char url[128];
        snprintf(url, sizeof url, "%s/big?bytes=34603008", origin_base(o)); /* 33 MiB */
        CURL *h = easy(o);
        CHECK(h);
        pattern_t p = {0};
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_pattern);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &p);
        CURLcode rc = curl_easy_perform(h);
        long status = 0;
        curl_off_t length = -1;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
        curl_easy_cleanup(h);
        CHECK_EQ(rc, CURLE_OK);
        CHECK_EQ(status, 200);
        CHECK_EQ(length, 34603008);
        CHECK_EQ(p.n, 34603008);
        CHECK(!p.bad);

        resp_t r = {0};
        CHECK_EQ(get(o, "/big?bytes=0", false, &r), CURLE_OK);
        CHECK_EQ(r.status, 200);
        CHECK_EQ(r.len, 0);
        CHECK_EQ(get(o, "/big?bytes=67108865", false, &r), CURLE_OK);
        CHECK_EQ(r.status, 400);
        CHECK_EQ(get(o, "/big", false, &r), CURLE_OK);
        CHECK_EQ(r.status, 400);
        resp_free(&r);
        origin_stop(o);
    }
}

TEST(close_mid_body)
{
    for (int tls = 0; tls < 2; tls++) {
        origin_t *o = origin_start(tls);
        CHECK(o);
        resp_t r = {0};
        get(o, "/close", false, &r);
        CHECK(r.rc == CURLE_PARTIAL_FILE || r.rc == CURLE_RECV_ERROR);
        CHECK_EQ(r.status, 200);
        CHECK(has_header(&r, "Content-Length", "100000"));
        CHECK_EQ(r.len, ORIGIN_CLOSE_SENT);
        CHECK(strncmp(r.body, "abcdefghijklmnopqrstuvwxyzabc", 29) == 0);
        resp_free(&r);
        origin_stop(o);
    }
}

TEST(keep_alive)
{
    for (int tls = 0; tls < 2; tls++) {
        origin_t *o = origin_start(tls);
        CHECK(o);
        CURL *h = easy(o);
        CHECK(h);
        resp_t r = {0};
        int ok = 0;
        for (int i = 0; i < 100; i++)
            ok += perform(h, o, i % 2 ? "/echo" : "/big?bytes=1000", &r) == CURLE_OK &&
                  r.status == 200;
        curl_easy_cleanup(h);
        resp_free(&r);
        CHECK_EQ(ok, 100);
        CHECK_EQ(origin_connections(o), 1);
        CHECK_EQ(origin_requests(o), 100);
        /* A second handle: a second connection. */
        CHECK_EQ(get(o, "/echo", false, &r), CURLE_OK);
        resp_free(&r);
        CHECK_EQ(origin_connections(o), 2);
        CHECK_EQ(origin_requests(o), 101);
        origin_stop(o);
    }
}

TEST(slow_requests_run_in_parallel)
{
    origin_t *o = origin_start(false);
    CHECK(o);
    enum { N = 4 };
    CURLM *m = curl_multi_init();
    CHECK(m);
    CURL *hs[N];
    resp_t rs[N] = {{0}};
    char url[128];
    snprintf(url, sizeof url, "%s/slow?ms=500", origin_base(o));
    for (int i = 0; i < N; i++) {
        hs[i] = easy(o);
        CHECK(hs[i]);
        curl_easy_setopt(hs[i], CURLOPT_URL, url);
        curl_easy_setopt(hs[i], CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(hs[i], CURLOPT_WRITEDATA, &rs[i]);
        curl_multi_add_handle(m, hs[i]);
    }
    double t0 = now_ms();
    int running = N;
    while (running) {
        curl_multi_perform(m, &running);
        if (running)
            curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    double took = now_ms() - t0;
    int done = 0;
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(m, &left)))
        done += msg->msg == CURLMSG_DONE && msg->data.result == CURLE_OK;
    for (int i = 0; i < N; i++) {
        curl_multi_remove_handle(m, hs[i]);
        curl_easy_cleanup(hs[i]);
    }
    curl_multi_cleanup(m);
    bool bodies = true;
    for (int i = 0; i < N; i++) {
        bodies = bodies && rs[i].body && strcmp(rs[i].body, "slow") == 0;
        resp_free(&rs[i]);
    }
    CHECK_EQ(done, N);
    CHECK(bodies);
    CHECK(took >= 500);
    if (took >= N * 500 - 100)
        CHECK_FAIL_("%d slow requests took %.0f ms: not in parallel", N, took);
    CHECK_EQ(origin_connections(o), N);
    origin_stop(o);
}

TEST(statuses_headers_and_not_found)
{
    origin_t *o = origin_start(false);
    CHECK(o);
    resp_t r = {0};
    CHECK_EQ(get(o, "/status?code=418", false, &r), CURLE_OK);
    CHECK_EQ(r.status, 418);
    CHECK_STR_EQ(r.body, "status 418");
    CHECK_EQ(get(o, "/status?code=599", false, &r), CURLE_OK);
    CHECK_EQ(r.status, 599);
    CHECK_EQ(get(o, "/status?code=99", false, &r), CURLE_OK);
    CHECK_EQ(r.status, 400);
    CHECK_EQ(get(o, "/header?name=X-Custom&value=hello%20there", false, &r), CURLE_OK);
    CHECK_EQ(r.status, 200);
    CHECK(has_header(&r, "X-Custom", "hello there"));
    CHECK_STR_EQ(r.body, "ok");
    CHECK_EQ(get(o, "/header?name=X-Custom", false, &r), CURLE_OK);
    CHECK_EQ(r.status, 400);
    CHECK_EQ(get(o, "/nope", false, &r), CURLE_OK);
    CHECK_EQ(r.status, 404);
    CHECK_STR_EQ(r.body, "not found");
    CHECK_EQ(get(o, "/echo/more", false, &r), CURLE_OK);
    CHECK_EQ(r.status, 404);
    resp_free(&r);
    CHECK(origin_cert_pem(o) == NULL);
    CHECK(strncmp(origin_base(o), "http://127.0.0.1:", 17) == 0);
    origin_stop(o);
    origin_stop(NULL);
}

TEST(self_signed_certificate)
{
    origin_t *o = origin_start(true);
    CHECK(o);
    CHECK(strncmp(origin_base(o), "https://127.0.0.1:", 18) == 0);
    const char *pem = origin_cert_pem(o);
    CHECK(pem && strstr(pem, "-----BEGIN CERTIFICATE-----"));

    /* Against the system's CAs: refused. */
    CURL *h = curl_easy_init();
    CHECK(h);
    resp_t r = {0};
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    CHECK_EQ(perform(h, o, "/echo", &r), CURLE_PEER_FAILED_VERIFICATION);
    curl_easy_cleanup(h);

    /* Against itself: accepted, by IP and by name. */
    struct curl_blob blob = {(void *)pem, strlen(pem), CURL_BLOB_COPY};
    h = curl_easy_init();
    CHECK(h);
    curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &blob);
    CHECK_EQ(perform(h, o, "/echo", &r), CURLE_OK);
    CHECK_EQ(r.status, 200);
    char url[128], resolve[64];
    snprintf(url, sizeof url, "https://localhost:%d/echo", origin_port(o));
    snprintf(resolve, sizeof resolve, "localhost:%d:127.0.0.1", origin_port(o));
    struct curl_slist *rl = curl_slist_append(NULL, resolve);
    curl_easy_setopt(h, CURLOPT_RESOLVE, rl);
    curl_easy_setopt(h, CURLOPT_URL, url);
    CURLcode rc = curl_easy_perform(h);
    curl_easy_cleanup(h);
    curl_slist_free_all(rl);
    resp_free(&r);
    CHECK_EQ(rc, CURLE_OK);
    origin_stop(o);
}

/* libcurl's global state around the tests. */
__attribute__((constructor(101))) static void selftest_init(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
}

__attribute__((destructor)) static void selftest_cleanup(void)
{
    curl_global_cleanup();
}

CHECK_MAIN()
