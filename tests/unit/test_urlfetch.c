/* test_urlfetch.c - the URL Fetch stub's rules (stubs/urlfetch/urlfetch.h), one test per rule,
 * against the in-process test origin (tests/support/origin.h): methods and payloads, the URL
 * and port rules (on every redirect hop too), prohibited and added headers, gzip, the inbound
 * headers of fetches to the server itself, the deadline, redirects, the size limits,
 * certificate validation, the failures and their messages, parallel fetches, connection
 * reuse, cancellation, record and replay, answerers and offline mode.
 *
 * One HTTP and one HTTPS origin serve the whole binary (started on first use, stopped at
 * exit), with a third HTTP one for the slow fetches tests abandon (so that the first one's
 * request counts stay exact) and one of its own for record and replay, which stops it. Each
 * test makes its own stub. Every URL is 127.0.0.1, a closed port on it, or a .invalid host:
 * nothing leaves the machine.
 *
 * Timings (the deadline, parallel fetches, cancel) are printed as TAP comments.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* mkstemp, usleep */
#endif
#include "urlfetch.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <zlib.h>

#include "check.h"
#include "origin.h"

#define APP_ID "dev~testapp"
#define OWNER "req"
#define PLATFORM_UA "AppEngine-Google; (+http://code.google.com/appengine; appid: " APP_ID ")"

#define MIB (1024u * 1024u)

/* The header the server trusts its own fetches by (src/services/service.h). */
#define TOKEN_HEADER "X-Devappserver-Inbound-Token"

/* ---------------------------------------------------------------- checks of our own */

#define CHECK_STARTS_WITH(s, prefix)                                                           \
    do {                                                                                       \
        const char *cs_s_ = (s), *cs_p_ = (prefix);                                            \
        if (!cs_s_ || strncmp(cs_s_, cs_p_, strlen(cs_p_)) != 0)                               \
            CHECK_FAIL_("%s starts with \"%s\": got \"%s\"", #s, cs_p_,                        \
                        cs_s_ ? cs_s_ : "(null)");                                             \
    } while (0)

/* A call's AE_* code, with the stub's message when it is not the one expected. */
#define CHECK_RC(call, want, err)                                                              \
    do {                                                                                       \
        int cr_rc_ = (call);                                                                   \
        if (cr_rc_ != (want))                                                                  \
            CHECK_FAIL_("%s returned %d, expected %s (%d); message: \"%s\"", #call, cr_rc_,    \
                        #want, (int)(want), cr_rc_ ? (err).msg : "");                          \
    } while (0)

/* ---------------------------------------------------------------- the origins */

static origin_t *g_http, *g_https, *g_slow;

static void stop_origins(void)
{
    origin_stop(g_http);
    origin_stop(g_https);
    origin_stop(g_slow); /* waits for the slow requests the tests gave up on */
}

static void start_origins(void)
{
    static bool started;
    if (!started) {
        started = true;
        g_http = origin_start(false);
        g_https = origin_start(true);
        g_slow = origin_start(false);
        atexit(stop_origins);
    }
}

/* The binary's HTTP or HTTPS origin, started on first use (NULL when it could not start). */
static origin_t *origin(bool https)
{
    start_origins();
    return https ? g_https : g_http;
}

/* A third (HTTP) origin for the /slow fetches a test abandons (deadline, cancel, destroy):
 * the origin still answers them after the test, and counts them then, so they stay off the
 * origin whose request counts the other tests check. */
static origin_t *slow_origin(void)
{
    start_origins();
    return g_slow;
}

/* base + the formatted path, in one of a few rotating buffers (the tests run one at a time). */
static const char *url_at(const origin_t *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static const char *url_at(const origin_t *o, const char *fmt, ...)
{
    static char bufs[8][1024];
    static unsigned next;
    char *b = bufs[next++ % 8];
    int n = snprintf(b, sizeof bufs[0], "%s", origin_base(o));
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b + n, sizeof bufs[0] - (size_t)n, fmt, ap);
    va_end(ap);
    return b;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ---------------------------------------------------------------- stubs and fetches */

/* What the options' warn callback was told. */
typedef struct {
    int n;
    char last[2048];
} warnings_t;

static void on_warn(void *ctx, const char *message)
{
    warnings_t *w = ctx;
    w->n++;
    snprintf(w->last, sizeof w->last, "%s", message);
}

static das_urlfetch_t *create(const das_urlfetch_options_t *o)
{
    das_urlfetch_t *uf = NULL;
    das_urlfetch_err_t err;
    int rc = das_urlfetch_create(o, &uf, &err);
    if (rc != AE_OK) {
        printf("#   das_urlfetch_create: %d: %s\n", rc, err.msg);
        return NULL;
    }
    return uf;
}

static das_urlfetch_t *new_stub(void)
{
    das_urlfetch_options_t o = {.app_id = APP_ID};
    return create(&o);
}

static int fetch(das_urlfetch_t *uf, const das_urlfetch_request_t *rq,
                 das_urlfetch_response_t *rs, das_urlfetch_err_t *err)
{
    return das_urlfetch_fetch(uf, OWNER, rq, rs, err);
}

/* A GET of `url` (redirects followed when `follow`). */
static int get(das_urlfetch_t *uf, const char *url, bool follow, das_urlfetch_response_t *rs,
               das_urlfetch_err_t *err)
{
    das_urlfetch_request_t rq = {.url = url, .follow_redirects = follow};
    return fetch(uf, &rq, rs, err);
}

/* `method` on `url` with a C-string payload (NULL: none). */
static int send_with(das_urlfetch_t *uf, const char *method, const char *url,
                     const char *payload, das_urlfetch_response_t *rs, das_urlfetch_err_t *err)
{
    das_urlfetch_request_t rq = {.method = method, .url = url, .payload = payload,
                                 .payload_len = payload ? strlen(payload) : 0};
    return fetch(uf, &rq, rs, err);
}

/* The same, following redirects. */
static int send_following(das_urlfetch_t *uf, const char *method, const char *url,
                          const char *payload, das_urlfetch_response_t *rs,
                          das_urlfetch_err_t *err)
{
    das_urlfetch_request_t rq = {.method = method, .url = url, .payload = payload,
                                 .payload_len = payload ? strlen(payload) : 0,
                                 .follow_redirects = true};
    return fetch(uf, &rq, rs, err);
}

/* A response header's value (the first of that name, any case), or NULL. */
static const char *header_of(const das_urlfetch_response_t *rs, const char *name)
{
    for (size_t i = 0; i < rs->n_headers; i++)
        if (strcasecmp(rs->headers[i].name, name) == 0)
            return rs->headers[i].value;
    return NULL;
}

/* ---------------------------------------------------------------- what /echo saw */

/* /echo's body is "METHOD TARGET\n", then "Name: value\n" per request header, "\n", then the
 * request body. These read it back. */

static const char *echo_headers_end(const das_urlfetch_response_t *rs)
{
    return rs->body ? strstr(rs->body, "\n\n") : NULL;
}

/* "METHOD TARGET", in a static buffer ("" when the body is not /echo's). */
static const char *echo_line(const das_urlfetch_response_t *rs)
{
    static char line[16384];
    line[0] = '\0';
    const char *nl = rs->body ? strchr(rs->body, '\n') : NULL;
    if (nl && (size_t)(nl - rs->body) < sizeof line) {
        memcpy(line, rs->body, (size_t)(nl - rs->body));
        line[nl - rs->body] = '\0';
    }
    return line;
}

/* How many request headers named `name` (any case) arrived; the last one's value goes to
 * `value` (a static buffer) when not NULL. */
static int echo_header_n(const das_urlfetch_response_t *rs, const char *name,
                         const char **value)
{
    static char v[16384];
    const char *end = echo_headers_end(rs);
    if (value)
        *value = NULL;
    if (!end)
        return 0;
    int n = 0;
    size_t nlen = strlen(name);
    for (const char *p = strchr(rs->body, '\n') + 1; p < end + 1;) {
        const char *eol = strchr(p, '\n');
        if (strncasecmp(p, name, nlen) == 0 && p[nlen] == ':' && p[nlen + 1] == ' ') {
            n++;
            size_t vlen = (size_t)(eol - (p + nlen + 2));
            if (vlen >= sizeof v)
                vlen = sizeof v - 1;
            memcpy(v, p + nlen + 2, vlen);
            v[vlen] = '\0';
            if (value)
                *value = v;
        }
        p = eol + 1;
    }
    return n;
}

/* The value of request header `name` as /echo saw it, or NULL when it did not arrive. */
static const char *echo_header(const das_urlfetch_response_t *rs, const char *name)
{
    const char *v;
    echo_header_n(rs, name, &v);
    return v;
}

/* The request body /echo saw (NULL when the body is not /echo's); its length in `len`. */
static const char *echo_body(const das_urlfetch_response_t *rs, size_t *len)
{
    const char *end = echo_headers_end(rs);
    if (!end)
        return NULL;
    *len = rs->len - (size_t)(end + 2 - rs->body);
    return end + 2;
}

/* ---------------------------------------------------------------- methods and payloads */

TEST(test_urlfetch_methods_are_case_insensitive_and_sent_as_named)
{
    origin_t *o = origin(false);
    CHECK(o);
    das_urlfetch_t *uf = new_stub();
    CHECK(uf);
    const char *asked[] = {"get", "Post", "put", "delete", "patch", NULL};
    const char *sent[] = {"GET /echo", "POST /echo", "PUT /echo", "DELETE /echo", "PATCH /echo",
                          "GET /echo"};
    das_urlfetch_response_t rs;
    das_urlfetch_err_t err;
    for (int i = 0; i < 6; i++) {
        CHECK_RC(send_with(uf, asked[i], url_at(o, "/echo"), NULL, &rs, &err), AE_OK, err);
        CHECK_EQ(rs.status, 200);
        CHECK_STR_EQ(echo_line(&rs), sent[i]);
        das_urlfetch_response_dispose(&rs);
    }
    /* HEAD: the origin answers, and no body comes back. */
    unsigned before = origin_requests(o);
    CHECK_RC(send_with(uf, "head", url_at(o, "/echo"), NULL, &rs, &err), AE_OK, err);
    CHECK_EQ(rs.status, 200);
    CHECK_EQ(rs.len, 0);
    CHECK_EQ(origin_requests(o) - before, 1);
    das_urlfetch_response_dispose(&rs);
    das_urlfetch_destroy(uf);
}

TEST(test_urlfetch_other_methods_are_einval_and_nothing_is_sent)
{
    origin_t *o = origin(false);
    CHECK(o);
    das_urlfetch_t *uf = new_stub();
    CHECK(uf);
    const char *bad[] = {"OPTIONS", "TRACE", "CONNECT", "FETCH", "GETX"};
    das_urlfetch_response_t rs;
    das_urlfetch_err_t err;
    unsigned before = origin_requests(o);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_RC(send_with(uf, bad[i], url_at(o, "/echo"), NULL, &rs, &err), AE_EINVAL, err);
        char want[64];
        snprintf(want, sizeof want, "Invalid method %s.", bad[i]);
        CHECK_STR_EQ(err.msg, want);
    }
    CHECK_EQ(origin_requests(o), before);
    das_urlfetch_destroy(uf);
}

TEST(test_urlfetch_payload_is_sent_with_post_put_patch_only)
{
    origin_t *o = origin(false);
    CHECK(o);
    das_urlfetch_t *uf = new_stub();
    CHECK(uf);
    const char *payload = "name=value&x=1";
    const struct {
        const char *method;
        bool sent;
    } cases[] = {{"GET", false}, {"DELETE", false}, {"POST", true}, {"PUT", true},
                 {"PATCH", true}};
    das_urlfetch_response_t rs;
    das_urlfetch_err_t err;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CHECK_RC(send_with(uf, cases[i].method, url_at(o, "/echo"), payload, &rs, &err), AE_OK,
                 err);
        size_t len = 0;
        const char *body = echo_body(&rs, &len);
        CHECK(body);
        if (cases[i].sent) {
            CHECK_EQ(len, strlen(payload));
            CHECK(memcmp(body, payload, len) == 0);
            CHECK_STR_EQ(echo_header(&rs, "Content-Length"), "14");
        } else {
            CHECK_EQ(len, 0);
            CHECK(echo_header(&rs, "Content-Length") == NULL);
            CHECK(echo_header(&rs, "Transfer-Encoding") == NULL);
        }
        das_urlfetch_response_dispose(&rs);
    }
    das_urlfetch_destroy(uf);
}

TEST(test_urlfetch_post_gets_a_form_content_type_put_gets_none)
{
    origin_t *o = origin(false);
    CHECK(o);
    das_urlfetch_t *uf = new_stub();
    CHECK(uf);
    das_urlfetch_response_t rs;
    das_urlfetch_err_t err;

    CHECK_RC(send_with(uf, "POST", url_at(o, "/echo"), "a=1", &rs, &err), AE_OK, err);
    CHECK_STR_EQ(echo_header(&rs, "Content-Type"), "application/x-www-form-urlencoded");
    das_urlfetch_response_dispose(&rs);

    CHECK_RC(send_with(uf, "PUT", url_at(o, "/echo"), "a=1", &rs, &err), AE_OK, err);
    CHECK_EQ(echo_header_n(&rs, "Content-Type", NULL), 0);
    das_urlfetch_response_dispose(&rs);

    /* The app's own Content-Type is the only one. */
    das_urlfetch_header_t json = {"Content-Type", "application/json"};
    das_urlfetch_request_t rq = {.method = "POST", .url = url_at(o, "/echo"), .headers = &json,
                                 .n_headers = 1, .payload = "{}", .payload_len = 2};
    CHECK_RC(fetch(uf, &rq, &rs, &err), AE_OK, err);
    const char *ct;
    CHECK_EQ(echo_header_n(&rs, "Content-Type", &ct), 1);
    CHECK_STR_EQ(ct, "application/json");
    das_urlfetch_response_dispose(&rs);
    das_urlfetch_destroy(uf);
}

/* ---------------------------------------------------------------- URLs */

TEST(test_urlfetch_url_rules_scheme_host_and_ports)
{
    das_urlfetch_t *uf = new_stub();
    CHECK(uf);
    /* Offline, a URL the rules accept fails with AE_EFETCH without the network; one they refuse
     * fails with AE_EINVAL first. */
    das_urlfetch_set_offline(uf, true);
    const char *bad[] = {"",
                         "ftp://127.0.0.1/x",
                         "file:///etc/passwd",
                         "mailto:someone@example.com",
                         "http://",
                         "127.0.0.1/x",
                         "http://127.0.0.1:1/",
                         "http://127.0.0.1:22/",
                         "http://127.0.0.1:79/",
                         "http://127.0.0.1:91/",
                         "https://127.0.0.1:439/",
                         "https://127.0.0.1:451/",
                         "http://127.0.0.1:1023/",
                         "http://127.0.0.1:65536/",
                         "http://127.0.0.1:99999/"};
    const char *good[] = {"http://127.0.0.1/",        "http://127.0.0.1:80/",
                          "http://127.0.0.1:90/",     "https://127.0.0.1:440/",
                          "https://127.0.0.1:443/",   "https://127.0.0.1:450/",
                          "http://127.0.0.1:1024/",   "http://127.0.0.1:65535/x?y=1",
                          "HTTPS://127.0.0.1:8443/",  "https://localhost/"};
    das_urlfetch_response_t rs;
    das_urlfetch_err_t err;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err.msg[0] = '\0';
        int rc = get(uf, bad[i], false, &rs, &err);
        if (rc != AE_EINVAL)
            CHECK_FAIL_("URL \"%s\": %d (\"%s\"), expected AE_EINVAL", bad[i], rc, err.msg);
        CHECK_STARTS_WITH(err.msg, "Invalid request URL: ");
    }
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        err.msg[0] = '\0';
        int rc = get(uf, good[i], false, &rs, &err);
        if (rc != AE_EFETCH)
            CHECK_FAIL_("URL \"%s\": %d (\"%s\"), expected the offline AE_EFETCH", good[i], rc,
                        err.msg);
    }
    das_urlfetch_request_t none = {.url = NULL};
    CHECK_RC(fetch(uf, &none, &rs, &err), AE_EINVAL, err);
    CHECK_STARTS_WITH(err.msg, "Invalid request URL: ");
    das_urlfetch_destroy(uf);
}

TEST(test_urlfetch_explicit_port_0_is_refused)
{
    /* Port 0 is in none of the allowed ranges; only a URL with no port at all is exempt. */
    das_urlfetch_t *uf = new_stub();
    CHECK(uf);
    das_urlfetch_set_offline(uf, true);
    das_urlfetch_response_t rs;
    das_urlfetch_err_t err;
    CHECK_RC(get(uf, "http://127.0.0.1:0/", false, &rs, &err), AE_EINVAL, err);
    CHECK_STARTS_WITH(err.msg, "Invalid request URL: ");
    das_urlfetch_destroy(uf);
}

TEST(test_urlfetch_url_length_limit_is_10240_characters)
{
    origin_t *o = origin(false);
    CHECK(o);
    das_urlfetch_t *uf = new_stub();
    CHECK(uf);
    char *url = malloc(DAS_URLFETCH_MAX_URL + 2);
    CHECK(url);
    int n = snprintf(url, DAS_URLFETCH_MAX_URL + 2, "%s/echo?pad=", origin_base(o));
    memset(url + n, 'x', (size_t)(DAS_URLFETCH_MAX_URL - n));
    url[DAS_URLFETCH_MAX_URL] = '\0';
    das_urlfetch_response_t rs;
    das_urlfetch_err_t err;
    CHECK_RC(get(uf, url, false, &rs, &err), AE_OK, err); /* exactly the limit */
    CHECK_EQ(rs.status, 200);
    CHECK_EQ(strlen(echo_line(&rs)), strlen("GET ") + DAS_URLFETCH_MAX_URL -
                                         strlen(origin_base(o)));
    das_urlfetch_response_dispose(&rs);

    strcat(url, "x"); /* one over */
    unsigned before = origin_requests(o);
    CHECK_RC(get(uf, url, false, &rs, &err), AE_EINVAL, err);
    CHECK_STARTS_WITH(err.msg, "Invalid request URL: ");
    CHECK_EQ(origin_requests(o), before);
    free(url);
    das_urlfetch_destroy(uf);
}

TEST(test_urlfetch_url_rules_apply_to_every_redirect_hop)
{
    origin_t *o = origin(false), *s = origin(true);
    CHECK(o && s);
    das_urlfetch_t *uf = new_stub();
    CHECK(uf);
    das_urlfetch_response_t rs;
    das_urlfetch_err_t err;
    CHECK_RC(get(uf, url_at(o, "/redirect-to?url=http://127.0.0.1:22/x"), true, &rs, &err),
             AE_EINVAL, err);
    CHECK_STARTS_WITH(err.msg, "Invalid request URL: http://127.0.0.1:22/x");
    CHECK_RC(get(uf, url_at(o, "/redirect-to?url=ftp://127.0.0.1/x"), true, &rs, &err),
             AE_EINVAL, err);
    CHECK_STARTS_WITH(err.msg, "Invalid request URL: ");

    /* Not followed, the same redirect is just an answer. */
    CHECK_RC(get(uf, url_at(o, "/redirect-to?url=http://127.0.0.1:22/x"), false, &rs, &err),
             AE_OK, err);
    CHECK_EQ(rs.status, 302);
    CHECK_STR_EQ(header_of(&rs, "Location"), "http://127.0.0.1:22/x");
    das_urlfetch_response_dispose(&rs);

    /* A hop the rules accept is followed, across origins and schemes. */
    char target[256];
    snprintf(target, sizeof target, "%s/echo", origin_base(s));
    CHECK_RC(get(uf, url_at(o, "/redirect-to?url=%s", target), true, &rs, &err), AE_OK, err);
    CHECK_EQ(rs.status, 200);
    CHECK_STR_EQ(echo_line(&rs), "GET /echo");
    CHECK_STR_EQ(rs.final_url, target);
    das_urlfetch_response_dispose(&rs);
    das_urlfetch_destroy(uf);
}

/* ---------------------------------------------------------------- headers */

TEST(test_urlfetch_prohibited_headers_are_stripped_with_a_warning)
{
    origin_t *o = origin(false);
    CHECK(o);
    warnings_t w = {0};
    das_urlfetch_options_t opt = {.app_id = APP_ID, .warn = on_warn, .warn_ctx = &w};
    das_urlfetch_t *uf = create(&opt);
    CHECK(uf);
    const das_urlfetch_header_t hs[] = {
        {"Content-Length", "999"},      {"Host", "evil.example"},
        {"Vary", "Accept"},             {"Via", "1.1 proxy"},
        {"X-Appengine-Inbound-Appid", "evil"}, {"X-Forwarded-For", "10.1.2.3"},
        {"X-ProxyUser-IP", "10.1.2.3"}, {"X-Custom", "kept"},
    };
    das_urlfetch_request_t rq = {.method = "POST", .url = url_at(o, "/echo"), .headers = hs,
                                 .n_headers = sizeof hs / sizeof hs[0], .payload = "abc",
                                 .payload_len = 3};
    das_urlfetch_response_t rs;
    das_urlfetch_err_t err;
    CHECK_RC(fetch(uf, &rq, &rs, &err), AE_OK, err);
    CHECK_EQ(w.n, 1);
    CHECK_STARTS_WITH(w.last, "Stripped prohibited headers from URLFetch request: ");
    for (size_t i = 0; i + 1 < sizeof hs / sizeof hs[0]; i++)
        CHECK_STR_CONTAINS(w.last, hs[i].name);
    CHECK(strstr(w.last, "X-Custom") == NULL);

    char host[64];
    snprintf(host, sizeof host, "127.0.0.1:%d", origin_port(o));
    CHECK_STR_EQ(echo_header(&rs, "Host"), host);
    CHECK_STR_EQ(echo_header(&rs, "Content-Length"), "3");
    CHECK(echo_header(&rs, "Vary") == NULL);
    CHECK(echo_header(&rs, "Via") == NULL);
    CHECK(echo_header(&rs, "X-Appengine-Inbound-Appid") == NULL);
    CHECK(echo_header(&rs, "X-Forwarded-For") == NULL);
    CHECK(echo_header(&rs, "X-ProxyUser-IP") == NULL);
    CHECK_STR_EQ(echo_header(&rs, "X-Custom"), "kept");
    das_urlfetch_response_dispose(&rs);

    /* Names match in any case. */
    das_urlfetch_header_t lower = {"x-forwarded-for", "10.9.9.9"};
    das_urlfetch_request_t rq2 = {.url = url_at(o, "/echo"), .headers = &lower, .n_headers = 1};
    CHECK_RC(fetch(uf, &rq2, &rs, &err), AE_OK, err);
    CHECK_EQ(w.n, 2);
    CHECK_STR_CONTAINS(w.last, "x-forwarded-for");
    CHECK(echo_header(&rs, "X-Forwarded-For") == NULL);
    das_urlfetch_response_dispose(&rs);

    /* Nothing prohibited: no warning. */
    das_urlfetch_header_t fine = {"X-Fine", "1"};
    das_urlfetch_request_t rq3 = {.url = url_at(o, "/echo"), .headers = &fine, .n_headers = 1};
    CHECK_RC(fetch(uf, &rq3, &rs, &err), AE_OK, err);
    CHECK_EQ(w.n, 2);
    CHECK_STR_EQ(echo_header(&rs, "X-Fine"), "1");
    das_urlfetch_response_dispose(&rs);
    das_urlfetch_destroy(uf);
}

TEST(test_urlfetch_header_with_a_line_break_is_einval_empty_value_is_sent)
{
    origin_t *o = origin(false);
    CHECK(o);
    das_urlfetch_t *uf = new_stub();
    CHECK(uf);
    das_urlfetch_response_t rs;
    das_urlfetch_err_t err;
    const das_urlfetch_header_t bad[] = {{"X-A", "1\r\nX-Injected: yes"},
                                         {"X-B", "1\nX-Injected: yes"},
                                         {"X Space", "1"},
                                         {"X-Colon:", "1"},
                                         {"", "1"}};
    unsigned before = origin_requests(o);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        das_urlfetch_request_t rq = {.url = url_at(o, "/echo"), .headers = &bad[i],
                                     .n_headers = 1};
        CHECK_RC(fetch(uf, &rq, &rs, &err), AE_EINVAL, err);
    }
    CHECK_EQ(origin_requests(o), before);

    das_urlfetch_header_t empty = {"X-Empty", ""};
    das_urlfetch_request_t rq = {.url = url_at(o, "/echo"), .headers = &empty, .n_headers = 1};
    CHECK_RC(fetch(uf, &rq, &rs, &err), AE_OK, err);
    CHECK_STR_EQ(echo_header(&rs, "X-Empty"), "");
    das_urlfetch_response_dispose(&rs);
    das_urlfetch_destroy(uf);
}

TEST(test_urlfetch_user_agent_is_the_apps_then_the_platforms)
{
    origin_t *o = origin(false);
    CHECK(o);
    das_urlfetch_t *uf = new_stub();
    CHECK(uf);
    das_urlfetch_response_t rs;
    das_urlfetch_err_t err;
    const char *ua;
    CHECK_RC(get(uf, url_at(o, "/echo"), false, &rs, &err), AE_OK, err);
    CHECK_EQ(echo_header_n(&rs, "User-Agent", &ua), 1);
    CHECK_STR_EQ(ua, PLATFORM_UA);
    das_urlfetch_response_dispose(&rs);

    das_urlfetch_header_t mine = {"user-agent", "Mine/1"};
    das_urlfetch_request_t rq = {.url = url_at(o, "/echo"), .headers = &mine, .n_headers = 1};
    CHECK_RC(fetch(uf, &rq, &rs, &err), AE_OK, err);
    CHECK_EQ(echo_header_n(&rs, "User-Agent", &ua), 1);
    CHECK_STR_EQ(ua, "Mine/1 " PLATFORM_UA);
    das_urlfetch_response_dispose(&rs);
    das_urlfetch_destroy(uf);
}

/* The plain text /gzip inflates to. */
static char *gzip_plain(void)
{
    static char plain[ORIGIN_GZIP_PLAIN_LEN + 1];
    plain[0] = '\0';
    for (int i = 0; i < ORIGIN_GZIP_REPEAT; i++)
        strcat(plain, ORIGIN_GZIP_UNIT);
    return plain;
}

TEST(test_urlfetch_gzip_is_asked_for_and_decoded)
{
    origin_t *o = origin(false);
    CHECK(o);
    das_urlfetch_t *uf = new_stub();
    CHECK(uf);
    das_urlfetch_response_t rs;
    das_urlfetch_err_t err;
    const char *ae;
    CHECK_RC(get(uf, url_at(o, "/echo"), false, &rs, &err), AE_OK, err);
    CHECK_EQ(echo_header_n(&rs, "Accept-Encoding", &ae), 1);
    CHECK_STR_EQ(ae, "gzip");
    das_urlfetch_response_dispose(&rs);

    CHECK_RC(get(uf, url_at(o, "/gzip"), false, &rs, &err), AE_OK, err);
    CHECK_EQ(rs.status, 200);
    CHECK_EQ(rs.len, ORIGIN_GZIP_PLAIN_LEN);
    CHECK_STR_EQ(rs.body, gzip_plain());
    CHECK(header_of(&rs, "Content-Encoding") == NULL);
    if (header_of(&rs, "Content-Length")) {
        char n[32];
        snprintf(n, sizeof n, "%zu", (size_t)ORIGIN_GZIP_PLAIN_LEN);
        CHECK_STR_EQ(header_of(&rs, "Content-Length"), n);
    }
    das_urlfetch_response_dispose(&rs);
    das_urlfetch_destroy(uf);
}

/* Inflates gzip `data` into `out` (NUL-terminated); returns its length, or -1. */
static long gunzip(const void *data, size_t len, char *out, size_t cap)
{
    z_stream z = {0};
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
        return -1;
    z.next_in = (Bytef *)data;
    z.avail_in = (uInt)len;
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)(cap - 1);
    int zrc = inflate(&z, Z_FINISH);
    long n = zrc == Z_STREAM_END ? (long)z.total_out : -1;
    inflateEnd(&z);
    if (n >= 0)
        out[n] = '\0';
    return n;
}

TEST(test_urlfetch_apps_accept_encoding_gets_raw_gzip)
{
    origin_t *o = origin(false);
    CHECK(o);
    das_urlfetch_t *uf = new_stub();
    CHECK(uf);
    das_urlfetch_header_t h = {"Accept-Encoding", "gzip"};
    das_urlfetch_request_t rq = {.url = url_at(o, "/gzip"), .headers = &h, .n_headers = 1};
    das_urlfetch_response_t rs;
    das_urlfetch_err_t err;
    CHECK_RC(fetch(uf, &rq, &rs, &err), AE_OK, err);
    CHECK_EQ(rs.status, 200);
    CHECK_STR_EQ(header_of(&rs, "Content-Encoding"), "gzip");
    CHECK(rs.len >= 2 && (unsigned char)rs.body[0] == 0x1f && (unsigned char)rs.body[1] == 0x8b);
    char plain[4096];
    CHECK_EQ(gunzip(rs.body, rs.len, plain, sizeof plain), ORIGIN_GZIP_PLAIN_LEN);
    CHECK_STR_EQ(plain, gzip_plain());
    das_urlfetch_response_dispose(&rs);

    /* Whatever the app asks for is what goes out, alone. */
    das_urlfetch_header_t id = {"Accept-Encoding", "identity"};
    das_urlfetch_request_t rq2 = {.url = url_at(o, "/echo"), .headers = &id, .n_headers = 1};
    const char *ae;
    CHECK_RC(fetch(uf, &rq2, &rs, &err), AE_OK, err);
    CHECK_EQ(echo_header_n(&rs, "Accept-Encoding", &ae), 1);
    CHECK_STR_EQ(ae, "identity");
    das_urlfetch_response_dispose(&rs);
    das_urlfetch_destroy(uf);
}

/* is_self: whether host:port is the HTTP origin (when `yes`); records what it was asked. */
typedef struct {
    bool yes;
    int calls;
    char host[64];
    int port;
} self_t;

static bool is_self(void *ctx, const char *host, int port)
{
    self_t *s = ctx;
    s->calls++;
    snprintf(s->host, sizeof s->host, "%s", host);
    s->port = port;
    return s->yes && strcmp(host, "127.0.0.1") == 0 && port == origin_port(g_http);
}

TEST(test_urlfetch_fetches_of_self_carry_the_inbound_app_id_and_token)
{
    origin_t *o = origin(false);
    CHECK(o);
    self_t self = {.yes = true};
    das_urlfetch_options_t opt = {.app_id = APP_ID, .is_self = is_self, .self_ctx = &self,
                                  .inbound_token_header = TOKEN_HEADER,
                                  .inbound_token = "tok-123"};
    das_urlfetch_t *uf = create(&opt);
    CHECK(uf);
    das_urlfetch_response_t rs;
    das_urlfetch_err_t err;
    const char *v;

    /* The app's own (forged) values are dropped; the stub's go out, once. */
    das_urlfetch_header_t forged[] = {{"X-Appengine-Inbound-Appid", "evil"},
                                      {TOKEN_HEADER, "forged"}};
    das_urlfetch_request_t rq = {.url = url_at(o, "/echo"), .headers = forged, .n_headers = 2};
    CHECK_RC(fetch(uf, &rq, &rs, &err), AE_OK, err);
    CHECK(self.calls >= 1);
    CHECK_STR_EQ(self.host, "127.0.0.1");
    CHECK_EQ(self.port, origin_port(o));
    CHECK_EQ(echo_header_n(&rs, "X-Appengine-Inbound-Appid", &v), 1);
    CHECK_STR_EQ(v, "testapp");
    CHECK_EQ(echo_header_n(&rs, TOKEN_HEADER, &v), 1);
    CHECK_STR_EQ(v, "tok-123");
    das_urlfetch_response_dispose(&rs);

    /* With redirects followed: neither. */
    rq.follow_redirects = true;
    CHECK_RC(fetch(uf, &rq, &rs, &err), AE_OK, err);
    CHECK_EQ(echo_header_n(&rs, "X-Appengine-Inbound-Appid", NULL), 0);
    CHECK_EQ(echo_header_n(&rs, TOKEN_HEADER, NULL), 0);
    das_urlfetch_response_dispose(&rs);

    /* Not self: neither, forged or not. */
    self.yes = false;
    rq.follow_redirects = false;
    CHECK_RC(fetch(uf, &rq, &rs, &err), AE_OK, err);
    CHECK_EQ(echo_header_n(&rs, "X-Appengine-Inbound-Appid", NULL), 0);
    CHECK_EQ(echo_header_n(&rs, TOKEN_HEADER, NULL), 0);
    das_urlfetch_response_dispose(&rs);
    das_urlfetch_destroy(uf);
}

/* ---------------------------------------------------------------- the deadline */

TEST(test_urlfetch_deadline_exceeded_is_etimeout_and_returns_at_the_deadline)
{
    origin_t *o = slow_origin();
    CHECK(o);
    das_urlfetch_t *uf = new_stub();
    CHECK(uf);
    const char *url = url_at(o, "/slow?ms=1500");
    das_urlfetch_request_t rq = {.url = url, .deadline_ms = 300};
    das_urlfetch_response_t rs;
    das_urlfetch_err_t err;
    double t0 = now_ms();
    CHECK_RC(fetch(uf, &rq, &rs, &err), AE_ETIMEOUT, err);
    double took = now_ms() - t0;
    printf("# a 300 ms deadline on /slow?ms=1500 returned after %.0f ms\n", took);
    CHECK(took >= 250 && took < 1000);
    char want[1024];
    snprintf(want, sizeof want, "Deadline exceeded while waiting for HTTP response from URL: %s",
             url);
    CHECK_STARTS_WITH(err.msg, want);
    das_urlfetch_destroy(uf);
}

TEST(test_urlfetch_default_deadline_is_5_seconds)
{
    origin_t *o = slow_origin();
    CHECK(o);
    das_urlfetch_t *uf = new_stub();
    CHECK(uf);
    das_urlfetch_request_t in_time = {.url = url_at(o, "/slow?ms=4300")};
    das_urlfetch_request_t late = {.url = url_at(o, "/slow?ms=5300")};
    das_urlfetch_response_t rs;
    das_urlfetch_err_t err;
    uint32_t h1, h2;
    double t0 = now_ms();
    CHECK_RC(das_urlfetch_start(uf, OWNER, &in_time, &h1, &err), AE_OK, err);
    CHECK_RC(das_urlfetch_start(uf, OWNER, &late, &h2, &err), AE_OK, err);
    CHECK_RC(das_urlfetch_wait(uf, OWNER, h1, &rs, &err), AE_OK, err);
    CHECK_STR_EQ(rs.body, "slow");
    das_urlfetch_response_dispose(&rs);
    CHECK_RC(das_urlfetch_wait(uf, OWNER, h2, &rs, &err), AE_ETIMEOUT, err);
    double took = now_ms() - t0;
    printf("# the default deadline ended a /slow?ms=5300 after %.0f ms\n", took);
    CHECK(took >= 4900 && took < 5600);
    das_urlfetch_destroy(uf);
}

/* An answerer that records the request it saw and answers 200 "answered". */
typedef struct {
    int calls;
    char method[16];
    char url[256];
    int64_t deadline_ms;
    size_t payload_len;
    bool follow_redirects;
} seen_t;

static int answer_seen(void *ctx, const das_urlfetch_request_t *rq, das_urlfetch_response_t *rs,
                       das_urlfetch_err_t *err)
{
    seen_t *s = ctx;
    s->calls++;
    snprintf(s->method, sizeof s->method, "%s", rq->method ? rq->method : "(null)");
    snprintf(s->url, sizeof s->url, "%s", rq->url);
    s->deadline_ms = rq->deadline_ms;
    s->payload_len = rq->payload_len;
    s->follow_redirects = rq->follow_redirects;
    rs->status = 201;
    rs->body = strdup("answered");
    rs->len = strlen("answered");
    rs->headers = malloc(sizeof *rs->headers);
    rs->headers[0].name = strdup("X-Answered-By");
    rs->headers[0].value = strdup("the test");
    rs->n_headers = 1;
    return AE_OK;
}

TEST(test_urlfetch_deadline_defaults_to_5s_and_is_capped_at_60s)
{
    das_urlfetch_t *uf = new_stub();
    CHECK(uf);
    seen_t seen = {0};
    das_urlfetch_answer(uf, "http://stub.example/", answer_seen, &seen);
    const struct {
        int64_t asked, effective;
    } cases[] = {{0, 5000}, {1234, 1234}, {60000, 60000}, {60001, 60000}, {3600000, 60000}};
    das_urlfetch_response_t rs;
    das_urlfetch_err_t err;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        das_urlfetch_request_t rq = {.url = "http://stub.example/d",
                                     .deadline_ms = cases[i].asked};
        CHECK_RC(fetch(uf, &rq, &rs, &err), AE_OK, err);
        CHECK_EQ(seen.deadline_ms, cases[i].effective);
        das_urlfetch_response_dispose(&rs);
    }
    das_urlfetch_destroy(uf);
}

/* ---------------------------------------------------------------- redirects */

TEST(test_urlfetch_follows_301_302_303_307_and_sets_final_url)
{
    origin_t *o = origin(false);
    CHECK(o);
    das_urlfetch_t *uf = new_stub();
    CHECK(uf);
    const int codes[] = {301, 302, 303, 307};
    das_urlfetch_response_t rs;
    das_urlfetch_err_t err;
    for (size_t i = 0; i < 4; i++) {
        CHECK_RC(get(uf, url_at(o, "/redirect/%d/2", codes[i]), true, &rs, &err), AE_OK, err);
        CHECK_EQ(rs.status, 200);
        char line[64];
        snprintf(line, sizeof line, "GET /redirect/%d/0", codes[i]);
        CHECK_STR_EQ(echo_line(&rs), line);
        CHECK_STR_EQ(rs.final_url, url_at(o, "/redirect/%d/0", codes[i]));
        CHECK(header_of(&rs, "Location") == NULL); /* the last hop's headers, not a redirect's */
        das_urlfetch_response_dispose(&rs);
    }
    /* No redirect: no final_url. */
    CHECK_RC(get(uf, url_at(o, "/echo"), true, &rs, &err), AE_OK, err);
    CHECK(rs.final_url == NULL);
    das_urlfetch_response_dispose(&rs);
    das_urlfetch_destroy(uf);
}

TEST(test_urlfetch_redirect_turns_post_into_get_except_on_307)
{
    origin_t *o = origin(false);
    CHECK(o);
    das_urlfetch_t *uf = new_stub();
    CHECK(uf);
    const char *payload = "k=v&w=x";
    das_urlfetch_response_t rs;
    das_urlfetch_err_t err;
    size_t len = 0;

    CHECK_RC(send_following(uf, "POST", url_at(o, "/redirect/307/2"), payload, &rs, &err),
             AE_OK, err);
    CHECK_STR_EQ(echo_line(&rs), "POST /redirect/307/0");
    const char *body = echo_body(&rs, &len);
    CHECK(body && len == strlen(payload) && memcmp(body, payload, len) == 0);
    CHECK_STR_EQ(echo_header(&rs, "Content-Type"), "application/x-www-form-urlencoded");
    das_urlfetch_response_dispose(&rs);

    const int codes[] = {301, 302, 303};
    for (size_t i = 0; i < 3; i++) {
        CHECK_RC(send_following(uf, "POST", url_at(o, "/redirect/%d/2", codes[i]), payload,
                                &rs, &err),
                 AE_OK, err);
        char line[64];
        snprintf(line, sizeof line, "GET /redirect/%d/0", codes[i]);
        CHECK_STR_EQ(echo_line(&rs), line);
        body = echo_body(&rs, &len);
        CHECK(body && len == 0);
        CHECK(echo_header(&rs, "Content-Length") == NULL);
        CHECK(echo_header(&rs, "Content-Type") == NULL);
        das_urlfetch_response_dispose(&rs);
    }

    /* PUT and DELETE too. */
    CHECK_RC(send_following(uf, "PUT", url_at(o, "/redirect/302/1"), payload, &rs, &err), AE_OK,
             err);
    CHECK_STR_EQ(echo_line(&rs), "GET /redirect/302/0");
    das_urlfetch_response_dispose(&rs);
    CHECK_RC(send_following(uf, "DELETE", url_at(o, "/redirect/303/1"), NULL, &rs, &err), AE_OK,
             err);
    CHECK_STR_EQ(echo_line(&rs), "GET /redirect/303/0");
    das_urlfetch_response_dispose(&rs);
    das_urlfetch_destroy(uf);
}

TEST(test_urlfetch_308_is_not_followed)
{
    origin_t *o = origin(false);
    CHECK(o);
    das_urlfetch_t *uf = new_stub();
    CHECK(uf);
    das_urlfetch_response_t rs;
    das_urlfetch_err_t err;
    unsigned before = origin_requests(o);
    CHECK_RC(get(uf, url_at(o, "/redirect/308/1"), true, &rs, &err), AE_OK, err);
    CHECK_EQ(rs.status, 308);
    CHECK_STR_EQ(header_of(&rs, "Location"), "/redirect/308/0");
    CHECK_STR_EQ(rs.body, "redirect");
    CHECK(rs.final_url == NULL);
    CHECK_EQ(origin_requests(o) - before, 1);
    das_urlfetch_response_dispose(&rs);
    das_urlfetch_destroy(uf);
}

TEST(test_urlfetch_five_redirects_are_followed_six_are_eredirect)
{
    origin_t *o = origin(false);
    CHECK(o);
    das_urlfetch_t *uf = new_stub();
    CHECK(uf);
    das_urlfetch_response_t rs;
    das_urlfetch_err_t err;
    CHECK_RC(get(uf, url_at(o, "/redirect/302/5"), true, &rs, &err), AE_OK, err);
    CHECK_EQ(rs.status, 200);
    CHECK_STR_EQ(echo_line(&rs), "GET /redirect/302/0");
    das_urlfetch_response_dispose(&rs);

    unsigned before = origin_requests(o);
    CHECK_RC(get(uf, url_at(o, "/redirect/302/6"), true, &rs, &err), AE_EREDIRECT, err);
    CHECK_STR_CONTAINS(err.msg, url_at(o, "/redirect/302/6"));
    CHECK_EQ(origin_requests(o) - before, 6); /* the sixth redirect is not followed */
    das_urlfetch_destroy(uf);
}

TEST(test_urlfetch_redirect_without_location_is_efetch)
{
    origin_t *o = origin(false);
    CHECK(o);
    das_urlfetch_t *uf = new_stub();
    CHECK(uf);
    das_urlfetch_response_t rs;
    das_urlfetch_err_t err;
    const char *url = url_at(o, "/redirect-nolocation");
    CHECK_RC(get(uf, url, true, &rs, &err), AE_EFETCH, err);
    char want[512];
    snprintf(want, sizeof want, "Unable to fetch URL: %s", url);
    CHECK_STARTS_WITH(err.msg, want);
    /* Not followed: just a 302. */
    CHECK_RC(get(uf, url, false, &rs, &err), AE_OK, err);
    CHECK_EQ(rs.status, 302);
    das_urlfetch_response_dispose(&rs);
    das_urlfetch_destroy(uf);
}

TEST(test_urlfetch_redirects_off_returns_the_302_as_is)
{
    origin_t *o = origin(false);
    CHECK(o);
    das_urlfetch_t *uf = new_stub();
    CHECK(uf);
    das_urlfetch_response_t rs;
    das_urlfetch_err_t err;
    unsigned before = origin_requests(o);
    CHECK_RC(get(uf, url_at(o, "/redirect/302/3"), false, &rs, &err), AE_OK, err);
    CHECK_EQ(rs.status, 302);
    CHECK_STR_EQ(header_of(&rs, "Location"), "/redirect/302/2");
    CHECK_STR_EQ(rs.body, "redirect");
    CHECK(rs.final_url == NULL);
    CHECK_EQ(origin_requests(o) - before, 1);
    das_urlfetch_response_dispose(&rs);
    das_urlfetch_destroy(uf);
}

/* ---------------------------------------------------------------- sizes */

TEST(test_urlfetch_payload_over_10mib_is_etoolarge_before_sending)
{
    origin_t *o = origin(false);
    CHECK(o);
    das_urlfetch_t *uf = new_stub();
    CHECK(uf);
    size_t max = DAS_URLFETCH_MAX_PAYLOAD;
    CHECK_EQ(max, 10 * MIB);
    char *big = malloc(max + 1);
    CHECK(big);
    memset(big, 'p', max + 1);
    das_urlfetch_response_t rs;
    das_urlfetch_err_t err;
    const char *methods[] = {"POST", "PUT", "PATCH"};
    unsigned before = origin_requests(o), conns = origin_connections(o);
    for (size_t i = 0; i < 3; i++) {
        das_urlfetch_request_t rq = {.method = methods[i], .url = url_at(o, "/echo"),
                                     .payload = big, .payload_len = max + 1};
        CHECK_RC(fetch(uf, &rq, &rs, &err), AE_ETOOLARGE, err);
    }
    CHECK_EQ(origin_requests(o), before);
    CHECK_EQ(origin_connections(o), conns);

    /* Exactly the limit goes through whole. */
    das_urlfetch_request_t rq = {.method = "POST", .url = url_at(o, "/echo"), .payload = big,
                                 .payload_len = max};
    CHECK_RC(fetch(uf, &rq, &rs, &err), AE_OK, err);
    size_t len = 0;
    const char *body = echo_body(&rs, &len);
    CHECK(body);
    CHECK_EQ(len, max);
    das_urlfetch_response_dispose(&rs);

    /* A GET sends no payload, so none is too large. */
    rq.method = "GET";
    rq.payload_len = max + 1;
    CHECK_RC(fetch(uf, &rq, &rs, &err), AE_OK, err);
    CHECK_EQ(rs.status, 200);
    das_urlfetch_response_dispose(&rs);
    free(big);
    das_urlfetch_destroy(uf);
}

TEST(test_urlfetch_response_over_32mib_is_cut_and_marked_truncated)
{
    origin_t *o = origin(false);
    CHECK(o);
    das_urlfetch_t *uf = new_stub();
    CHECK(uf);
    size_t max = DAS_URLFETCH_MAX_RESPONSE;
    CHECK_EQ(max, 32 * MIB);
    das_urlfetch_response_t rs;
    das_urlfetch_err_t err;
    CHECK_RC(get(uf, url_at(o, "/big?bytes=34603008"), false, &rs, &err), AE_OK, err);
    CHECK_EQ(rs.status, 200);
    CHECK(rs.truncated);
    CHECK_EQ(rs.len, 33554432);
    CHECK_EQ(rs.body[0], 'a');
    CHECK_EQ(rs.body[max - 1], 'a' + (max - 1) % 26);
    CHECK_EQ(rs.body[max], '\0');
    das_urlfetch_response_dispose(&rs);

    /* Exactly the limit is whole. */
    CHECK_RC(get(uf, url_at(o, "/big?bytes=%zu", max), false, &rs, &err), AE_OK, err);
    CHECK(!rs.truncated);
    CHECK_EQ(rs.len, max);
    das_urlfetch_response_dispose(&rs);
    das_urlfetch_destroy(uf);
}

/* ---------------------------------------------------------------- certificates */

TEST(test_urlfetch_https_without_validation_works)
{
    origin_t *s = origin(true);
    CHECK(s);
    das_urlfetch_t *uf = new_stub();
    CHECK(uf);
    das_urlfetch_response_t rs;
    das_urlfetch_err_t err;
    CHECK_RC(get(uf, url_at(s, "/echo"), false, &rs, &err), AE_OK, err);
    CHECK_EQ(rs.status, 200);
    CHECK_STR_EQ(echo_line(&rs), "GET /echo");
    das_urlfetch_response_dispose(&rs);
    das_urlfetch_destroy(uf);
}

TEST(test_urlfetch_validate_certificate_refuses_a_self_signed_one)
{
    origin_t *s = origin(true);
    CHECK(s);
    das_urlfetch_t *uf = new_stub();
    CHECK(uf);
    const char *url = url_at(s, "/echo");
    das_urlfetch_request_t rq = {.url = url, .validate_certificate = true};
    das_urlfetch_response_t rs;
    das_urlfetch_err_t err;
    unsigned before = origin_requests(s);
    CHECK_RC(fetch(uf, &rq, &rs, &err), AE_ECERT, err);
    char want[512];
    snprintf(want, sizeof want, "Invalid and/or missing SSL certificate for URL: %s", url);
    CHECK_STARTS_WITH(err.msg, want);
    CHECK_EQ(origin_requests(s), before);
    /* The same stub still fetches it without validation. */
    rq.validate_certificate = false;
    CHECK_RC(fetch(uf, &rq, &rs, &err), AE_OK, err);
    das_urlfetch_response_dispose(&rs);
    das_urlfetch_destroy(uf);
}

/* ---------------------------------------------------------------- failures */

/* Fetches `url` and expects AE_EFETCH with "Unable to fetch URL: <url>". */
#define CHECK_EFETCH(uf, url)                                                                  \
    do {                                                                                       \
        das_urlfetch_response_t ce_rs;                                                         \
        das_urlfetch_err_t ce_err;                                                             \
        CHECK_RC(get((uf), (url), false, &ce_rs, &ce_err), AE_EFETCH, ce_err);                 \
        char ce_want[1024];                                                                    \
        snprintf(ce_want, sizeof ce_want, "Unable to fetch URL: %s", (url));                   \
        CHECK_STARTS_WITH(ce_err.msg, ce_want);                                                \
    } while (0)

TEST(test_urlfetch_dns_failure_is_efetch)
{
    das_urlfetch_t *uf = new_stub();
    CHECK(uf);
    CHECK_EFETCH(uf, "http://nonexistent.invalid/");
    das_urlfetch_destroy(uf);
}

TEST(test_urlfetch_connection_refused_is_efetch)
{
    /* A port bound but not listening refuses connections for as long as we hold it. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sin;
    CHECK(bind(fd, (struct sockaddr *)&sin, sizeof sin) == 0);
    CHECK(getsockname(fd, (struct sockaddr *)&sin, &sl) == 0);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/x", ntohs(sin.sin_port));
    das_urlfetch_t *uf = new_stub();
    CHECK(uf);
    CHECK_EFETCH(uf, url);
    das_urlfetch_stats_t st;
    das_urlfetch_stats(uf, &st);
    CHECK_EQ(st.fetches, 1);
    CHECK_EQ(st.failures, 1);
    das_urlfetch_destroy(uf);
    close(fd);
}

TEST(test_urlfetch_connection_closed_mid_body_is_efetch)
{
    origin_t *o = origin(false);
    CHECK(o);
    das_urlfetch_t *uf = new_stub();
    CHECK(uf);
    CHECK_EFETCH(uf, url_at(o, "/close"));
    das_urlfetch_destroy(uf);
}

TEST(test_urlfetch_status_600_and_up_is_efetch_4xx_5xx_are_answers)
{
    origin_t *o = origin(false);
    CHECK(o);
    das_urlfetch_t *uf = new_stub();
    CHECK(uf);
    CHECK_EFETCH(uf, url_at(o, "/status?code=600"));
    CHECK_EFETCH(uf, url_at(o, "/status?code=999"));
    const int ok[] = {404, 503, 599};
    das_urlfetch_response_t rs;
    das_urlfetch_err_t err;
    for (size_t i = 0; i < 3; i++) {
        CHECK_RC(get(uf, url_at(o, "/status?code=%d", ok[i]), true, &rs, &err), AE_OK, err);
        CHECK_EQ(rs.status, ok[i]);
        char body[32];
        snprintf(body, sizeof body, "status %d", ok[i]);
        CHECK_STR_EQ(rs.body, body);
        das_urlfetch_response_dispose(&rs);
    }
    das_urlfetch_destroy(uf);
}

/* ---------------------------------------------------------------- async, reuse, cancel */

TEST(test_urlfetch_started_fetches_run_in_parallel)
{
    origin_t *o = origin(false);
    CHECK(o);
    das_urlfetch_t *uf = new_stub();
    CHECK(uf);
    das_urlfetch_request_t rq = {.url = url_at(o, "/slow?ms=200")};
    das_urlfetch_response_t rs;
    das_urlfetch_err_t err;
    uint32_t h[5];
    double t0 = now_ms();
    for (int i = 0; i < 5; i++)
        CHECK_RC(das_urlfetch_start(uf, OWNER, &rq, &h[i], &err), AE_OK, err);
    for (int i = 0; i < 5; i++) {
        CHECK_RC(das_urlfetch_wait(uf, OWNER, h[i], &rs, &err), AE_OK, err);
        CHECK_STR_EQ(rs.body, "slow");
        das_urlfetch_response_dispose(&rs);
    }
    double took = now_ms() - t0;
    printf("# 5 fetches of /slow?ms=200 started together took %.0f ms\n", took);
    CHECK(took < 400);
    das_urlfetch_destroy(uf);
}

TEST(test_urlfetch_sequential_fetches_reuse_one_connection)
{
    origin_t *o = origin(false);
    CHECK(o);
    das_urlfetch_t *uf = new_stub();
    CHECK(uf);
    unsigned conns = origin_connections(o), reqs = origin_requests(o);
    das_urlfetch_response_t rs;
    das_urlfetch_err_t err;
    double t0 = now_ms();
    for (int i = 0; i < 100; i++) {
        CHECK_RC(get(uf, url_at(o, "/echo?i=%d", i), false, &rs, &err), AE_OK, err);
        CHECK_EQ(rs.status, 200);
        das_urlfetch_response_dispose(&rs);
    }
    printf("# 100 sequential fetches took %.0f ms\n", now_ms() - t0);
    CHECK_EQ(origin_requests(o) - reqs, 100);
    CHECK_EQ(origin_connections(o) - conns, 1);
    das_urlfetch_stats_t st;
    das_urlfetch_stats(uf, &st);
    CHECK_EQ(st.connections, 1);
    CHECK_EQ(st.fetches, 100);
    CHECK_EQ(st.failures, 0);
    das_urlfetch_destroy(uf);
}

TEST(test_urlfetch_cancel_drops_an_owners_fetches)
{
    origin_t *o = slow_origin();
    CHECK(o);
    das_urlfetch_t *uf = new_stub();
    CHECK(uf);
    das_urlfetch_request_t slow = {.url = url_at(o, "/slow?ms=2000")};
    das_urlfetch_request_t quick = {.url = url_at(o, "/echo")};
    das_urlfetch_response_t rs;
    das_urlfetch_err_t err;
    uint32_t h1, h2;
    CHECK_RC(das_urlfetch_start(uf, "r1", &slow, &h1, &err), AE_OK, err);
    CHECK_RC(das_urlfetch_start(uf, "r2", &quick, &h2, &err), AE_OK, err);
    usleep(50 * 1000); /* the slow one is in flight */
    double t0 = now_ms();
    CHECK_EQ(das_urlfetch_cancel(uf, "r1"), 1);
    CHECK_RC(das_urlfetch_wait(uf, "r1", h1, &rs, &err), AE_ENOTFOUND, err);
    double took = now_ms() - t0;
    printf("# cancel and the wait after it took %.1f ms\n", took);
    CHECK(took < 100);
    CHECK_EQ(das_urlfetch_cancel(uf, "r1"), 0);
    CHECK_EQ(das_urlfetch_cancel(uf, "nobody"), 0);

    /* Another owner's fetch is untouched, and only its owner may wait for it. */
    CHECK_RC(das_urlfetch_wait(uf, "r1", h2, &rs, &err), AE_ENOTFOUND, err);
    CHECK_RC(das_urlfetch_wait(uf, "r2", h2, &rs, &err), AE_OK, err);
    CHECK_STR_EQ(echo_line(&rs), "GET /echo");
    das_urlfetch_response_dispose(&rs);
    CHECK_RC(das_urlfetch_wait(uf, "r2", h2, &rs, &err), AE_ENOTFOUND, err); /* waited once */
    das_urlfetch_stats_t st;
    das_urlfetch_stats(uf, &st);
    CHECK_EQ(st.cancelled, 1);
    das_urlfetch_destroy(uf);
}

TEST(test_urlfetch_destroy_drops_fetches_in_flight)
{
    origin_t *o = slow_origin();
    CHECK(o);
    das_urlfetch_t *uf = new_stub();
    CHECK(uf);
    das_urlfetch_request_t slow = {.url = url_at(o, "/slow?ms=2000")};
    das_urlfetch_request_t pending = {.url = url_at(o, "/echo")};
    das_urlfetch_err_t err;
    uint32_t h;
    CHECK_RC(das_urlfetch_start(uf, OWNER, &slow, &h, &err), AE_OK, err);
    usleep(50 * 1000);
    CHECK_RC(das_urlfetch_start(uf, OWNER, &pending, &h, &err), AE_OK, err);
    double t0 = now_ms();
    das_urlfetch_destroy(uf); /* nothing leaks (the ASan build checks) */
    double took = now_ms() - t0;
    printf("# destroy with a fetch in flight took %.1f ms\n", took);
    CHECK(took < 500);
    das_urlfetch_destroy(NULL);
}

/* A request blocked in its fetch on another thread while the server ends the request: the
 * thread waits for a handle started earlier (`rq` NULL: the stub's thread drives the fetch),
 * or makes the whole fetch (it drives the fetch itself). */
typedef struct {
    das_urlfetch_t *uf;
    const das_urlfetch_request_t *rq;
    uint32_t handle;
    int rc;
    das_urlfetch_err_t err;
    atomic_bool returned;
} waiter_t;

static void *wait_in_thread(void *arg)
{
    waiter_t *w = arg;
    das_urlfetch_response_t rs;
    if (w->rq)
        w->rc = das_urlfetch_fetch(w->uf, "r1", w->rq, &rs, &w->err);
    else
        w->rc = das_urlfetch_wait(w->uf, "r1", w->handle, &rs, &w->err);
    if (w->rc == AE_OK)
        das_urlfetch_response_dispose(&rs);
    atomic_store(&w->returned, true);
    return NULL;
}

/* Cancels "r1" while `w` waits on a fetch of /slow?ms=2000; NULL when the wait then ended
 * within 1 s with an error, else what went wrong. `w` is static: a wait that never returns is
 * left as it is, with its stub (destroying a stub under a blocked waiter is undefined). */
static const char *cancel_under_a_wait(waiter_t *w, bool whole_fetch)
{
    static das_urlfetch_request_t slow;
    slow = (das_urlfetch_request_t){.url = url_at(slow_origin(), "/slow?ms=2000")};
    das_urlfetch_t *uf = new_stub();
    if (!uf)
        return "no stub";
    das_urlfetch_err_t err;
    w->uf = uf;
    if (whole_fetch)
        w->rq = &slow;
    else if (das_urlfetch_start(uf, "r1", &slow, &w->handle, &err) != AE_OK)
        return "the start failed";
    pthread_t thread;
    if (pthread_create(&thread, NULL, wait_in_thread, w) != 0)
        return "no thread";
    usleep(100 * 1000); /* the thread is blocked in its wait */
    if (das_urlfetch_cancel(uf, "r1") != 1)
        return "the cancel did not find the fetch";
    double t0 = now_ms();
    while (!atomic_load(&w->returned) && now_ms() - t0 < 1000)
        usleep(5 * 1000);
    if (!atomic_load(&w->returned))
        return "the wait was still blocked 1 s after the cancel";
    pthread_join(thread, NULL);
    das_urlfetch_destroy(uf);
    return w->rc == AE_OK ? "the wait returned AE_OK" : NULL;
}

TEST(test_urlfetch_cancel_ends_a_wait_in_progress)
{
    static waiter_t waiting, fetching;
    const char *why = cancel_under_a_wait(&waiting, false);
    if (why)
        CHECK_FAIL_("a wait for a started fetch: %s", why);
    CHECK_RC(waiting.rc, AE_EFETCH, waiting.err);
    CHECK_STARTS_WITH(waiting.err.msg, "Unable to fetch URL: ");
    why = cancel_under_a_wait(&fetching, true);
    if (why)
        CHECK_FAIL_("a whole fetch: %s", why);
    CHECK_RC(fetching.rc, AE_EFETCH, fetching.err);
}

/* Two threads of one request wait for the same handle: one gets the response, the other
 * AE_ENOTFOUND (the fetch is forgotten once waited for), and neither touches a fetch the other
 * freed. */
typedef struct {
    das_urlfetch_t *uf;
    uint32_t handle;
    int rc;
} twin_t;

static void *twin_wait(void *arg)
{
    twin_t *t = arg;
    das_urlfetch_response_t rs;
    das_urlfetch_err_t err;
    t->rc = das_urlfetch_wait(t->uf, "r1", t->handle, &rs, &err);
    if (t->rc == AE_OK)
        das_urlfetch_response_dispose(&rs);
    return NULL;
}

/* 0 when one wait got the response and the other AE_ENOTFOUND. */
static int two_waits(const char *url)
{
    das_urlfetch_t *uf = new_stub();
    if (!uf)
        return 2;
    das_urlfetch_request_t rq = {.url = url};
    das_urlfetch_err_t err;
    twin_t t[2] = {{.uf = uf}, {.uf = uf}};
    if (das_urlfetch_start(uf, "r1", &rq, &t[0].handle, &err) != AE_OK)
        return 2;
    t[1].handle = t[0].handle;
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        if (pthread_create(&th[i], NULL, twin_wait, &t[i]) != 0)
            return 2;
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    das_urlfetch_destroy(uf);
    bool one_each = (t[0].rc == AE_OK && t[1].rc == AE_ENOTFOUND) ||
                    (t[1].rc == AE_OK && t[0].rc == AE_ENOTFOUND);
    if (!one_each)
        printf("#   the two waits returned %d and %d\n", t[0].rc, t[1].rc);
    return one_each ? 0 : 1;
}

TEST(test_urlfetch_two_waits_for_one_handle_get_it_once)
{
    origin_t *o = slow_origin();
    CHECK(o);
    CHECK_EQ(two_waits(url_at(o, "/slow?ms=300")), 0);
}

/* ---------------------------------------------------------------- record and replay */

/* A temporary file's path (in `path`, at least 64 bytes) holding `content`. */
static bool temp_file(char *path, const char *content)
{
    const char *dir = getenv("TMPDIR");
    snprintf(path, 64, "%s/urlfetch-XXXXXX", dir && strlen(dir) < 40 ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0)
        return false;
    size_t n = strlen(content);
    bool ok = write(fd, content, n) == (ssize_t)n;
    close(fd);
    return ok;
}

/* Whether two responses are the same: status, body bytes, headers, final_url, truncated. */
static bool same_response(const das_urlfetch_response_t *a, const das_urlfetch_response_t *b)
{
    if (a->status != b->status || a->len != b->len || memcmp(a->body, b->body, a->len) != 0 ||
        a->n_headers != b->n_headers || a->truncated != b->truncated)
        return false;
    if ((a->final_url == NULL) != (b->final_url == NULL) ||
        (a->final_url && strcmp(a->final_url, b->final_url) != 0))
        return false;
    for (size_t i = 0; i < a->n_headers; i++)
        if (strcmp(a->headers[i].name, b->headers[i].name) != 0 ||
            strcmp(a->headers[i].value, b->headers[i].value) != 0)
            return false;
    return true;
}

TEST(test_urlfetch_record_then_replay_without_the_network)
{
    /* An origin of its own, stopped before the replay. */
    origin_t *o = origin_start(false);
    CHECK(o);
    char base[64];
    snprintf(base, sizeof base, "%s", origin_base(o));
    char path[64];
    CHECK(temp_file(path, ""));

    char echo[128], gz[128], redirect[128], other[128];
    snprintf(echo, sizeof echo, "%s/echo", base);
    snprintf(gz, sizeof gz, "%s/gzip", base);
    snprintf(redirect, sizeof redirect, "%s/redirect/302/1", base);
    snprintf(other, sizeof other, "%s/echo?never", base);
    das_urlfetch_header_t raw = {"Accept-Encoding", "gzip"};
    const das_urlfetch_request_t rqs[] = {
        {.method = "POST", .url = echo, .payload = "a=1&b=\xc3\xa9", .payload_len = 8},
        {.url = gz},
        {.url = gz, .headers = &raw, .n_headers = 1}, /* raw gzip bytes: not UTF-8 */
        {.url = redirect, .follow_redirects = true},
    };
    enum { N = sizeof rqs / sizeof rqs[0] };
    das_urlfetch_response_t live[N];
    das_urlfetch_err_t err;

    das_urlfetch_options_t rec = {.app_id = APP_ID, .record_path = path};
    das_urlfetch_t *uf = create(&rec);
    CHECK(uf);
    for (size_t i = 0; i < N; i++)
        CHECK_RC(fetch(uf, &rqs[i], &live[i], &err), AE_OK, err);
    CHECK_STR_EQ(live[1].body, gzip_plain());
    CHECK_STR_EQ(header_of(&live[2], "Content-Encoding"), "gzip");
    CHECK(live[3].final_url != NULL);
    das_urlfetch_stats_t st;
    das_urlfetch_stats(uf, &st);
    CHECK_EQ(st.recorded, N);
    das_urlfetch_destroy(uf);
    origin_stop(o);

    /* The file: one JSON line per exchange; bytes that are not UTF-8 in base64. */
    FILE *f = fopen(path, "r");
    CHECK(f);
    char *line = NULL;
    size_t cap = 0;
    int lines = 0;
    while (getline(&line, &cap, f) > 0) {
        lines++;
        CHECK_STARTS_WITH(line, "{\"method\":\"");
        if (lines == 3)
            CHECK_STR_CONTAINS(line, "\"body\":{\"base64\":\"");
    }
    free(line);
    fclose(f);
    CHECK_EQ(lines, N);

    das_urlfetch_options_t rep = {.app_id = APP_ID, .replay_path = path};
    uf = create(&rep);
    CHECK(uf);
    das_urlfetch_response_t rs;
    for (size_t i = 0; i < N; i++) {
        CHECK_RC(fetch(uf, &rqs[i], &rs, &err), AE_OK, err);
        if (!same_response(&live[i], &rs))
            CHECK_FAIL_("the replay of exchange %zu (%s) differs from what was recorded", i,
                        rqs[i].url);
        das_urlfetch_response_dispose(&rs);
    }
    /* Again: the last recorded answer answers again. */
    CHECK_RC(fetch(uf, &rqs[0], &rs, &err), AE_OK, err);
    CHECK(same_response(&live[0], &rs));
    das_urlfetch_response_dispose(&rs);
    das_urlfetch_stats(uf, &st);
    CHECK_EQ(st.replayed, N + 1);
    CHECK_EQ(st.connections, 0);

    /* What was not recorded fails, naming the request: another URL, another payload. */
    CHECK_RC(get(uf, other, false, &rs, &err), AE_EFETCH, err);
    CHECK_STARTS_WITH(err.msg, "Unable to fetch URL: ");
    char named[256];
    snprintf(named, sizeof named, "GET %s", other);
    CHECK_STR_CONTAINS(err.msg, named);
    CHECK_STR_CONTAINS(err.msg, path);
    CHECK_RC(send_with(uf, "POST", echo, "a=1", &rs, &err), AE_EFETCH, err);
    snprintf(named, sizeof named, "POST %s", echo);
    CHECK_STR_CONTAINS(err.msg, named);
    das_urlfetch_destroy(uf);
    for (size_t i = 0; i < N; i++)
        das_urlfetch_response_dispose(&live[i]);
    unlink(path);
}

/* Expects das_urlfetch_create with a replay file of `content` to fail with AE_EINVAL naming
 * the file and `line`. */
#define CHECK_BAD_REPLAY(content, line)                                                        \
    do {                                                                                       \
        char bp_path[64];                                                                      \
        CHECK(temp_file(bp_path, (content)));                                                  \
        das_urlfetch_options_t bp_o = {.app_id = APP_ID, .replay_path = bp_path};              \
        das_urlfetch_t *bp_uf = NULL;                                                          \
        das_urlfetch_err_t bp_err;                                                             \
        CHECK_RC(das_urlfetch_create(&bp_o, &bp_uf, &bp_err), AE_EINVAL, bp_err);              \
        char bp_where[96];                                                                     \
        snprintf(bp_where, sizeof bp_where, "%s:%d:", bp_path, (line));                        \
        CHECK_STR_CONTAINS(bp_err.msg, bp_where);                                              \
        unlink(bp_path);                                                                       \
    } while (0)

#define GOOD_LINE                                                                              \
    "{\"method\":\"GET\",\"url\":\"http://127.0.0.1:1025/\",\"headers\":[],\"payload\":\"\","  \
    "\"status\":200,\"response_headers\":[[\"A\",\"b\"]],\"body\":\"hi\",\"final_url\":null,"  \
    "\"truncated\":false}\n"

TEST(test_urlfetch_malformed_replay_file_fails_create_naming_file_and_line)
{
    CHECK_BAD_REPLAY(GOOD_LINE "this is not JSON\n", 2);
    CHECK_BAD_REPLAY("{\"method\":\"GET\",\"url\":\"http://x/\",\"response_headers\":[]}\n", 1);
    CHECK_BAD_REPLAY(GOOD_LINE "\n" GOOD_LINE "[1,2,3]\n", 4);
    CHECK_BAD_REPLAY(GOOD_LINE "{\"method\":\"GET\",\"url\":\"http://x/\",\"status\":200,"
                               "\"response_headers\":[[\"A\",7]]}\n",
                     2);

    /* The good line alone loads, and answers. */
    char path[64];
    CHECK(temp_file(path, GOOD_LINE));
    das_urlfetch_options_t o = {.app_id = APP_ID, .replay_path = path};
    das_urlfetch_t *uf = create(&o);
    CHECK(uf);
    das_urlfetch_response_t rs;
    das_urlfetch_err_t err;
    CHECK_RC(get(uf, "http://127.0.0.1:1025/", false, &rs, &err), AE_OK, err);
    CHECK_EQ(rs.status, 200);
    CHECK_STR_EQ(rs.body, "hi");
    CHECK_STR_EQ(header_of(&rs, "A"), "b");
    das_urlfetch_response_dispose(&rs);
    das_urlfetch_destroy(uf);
    unlink(path);

    /* A file that is not there fails too. */
    das_urlfetch_t *none = NULL;
    o.replay_path = "/nonexistent-dir/urlfetch-replay.jsonl";
    CHECK(das_urlfetch_create(&o, &none, &err) != AE_OK);
    CHECK_STR_CONTAINS(err.msg, o.replay_path);
}

/* ---------------------------------------------------------------- answerers and offline */

static int answer_fails(void *ctx, const das_urlfetch_request_t *rq, das_urlfetch_response_t *rs,
                        das_urlfetch_err_t *err)
{
    snprintf(err->msg, sizeof err->msg, "Unable to fetch URL: %s (the test says no)", rq->url);
    return AE_EFETCH;
}

TEST(test_urlfetch_answerers_answer_their_prefix)
{
    origin_t *o = origin(false);
    CHECK(o);
    das_urlfetch_t *uf = new_stub();
    CHECK(uf);
    seen_t seen = {0};
    das_urlfetch_answer(uf, "http://stub.example/", answer_seen, &seen);
    das_urlfetch_response_t rs;
    das_urlfetch_err_t err;
    CHECK_RC(send_with(uf, "post", "http://stub.example/a?b=c", "xyz", &rs, &err), AE_OK, err);
    CHECK_EQ(seen.calls, 1);
    CHECK_STR_EQ(seen.method, "POST");
    CHECK_STR_EQ(seen.url, "http://stub.example/a?b=c");
    CHECK_EQ(seen.payload_len, 3);
    CHECK_EQ(rs.status, 201);
    CHECK_STR_EQ(rs.body, "answered");
    CHECK_STR_EQ(header_of(&rs, "X-Answered-By"), "the test");
    das_urlfetch_response_dispose(&rs);

    /* Added later, looked up first; its error is the fetch's. */
    das_urlfetch_answer(uf, "http://stub.example/no/", answer_fails, NULL);
    CHECK_RC(get(uf, "http://stub.example/no/x", false, &rs, &err), AE_EFETCH, err);
    CHECK_STR_EQ(err.msg, "Unable to fetch URL: http://stub.example/no/x (the test says no)");
    CHECK_EQ(seen.calls, 1);

    /* The rules still come first. */
    CHECK_RC(send_with(uf, "OPTIONS", "http://stub.example/a", NULL, &rs, &err), AE_EINVAL, err);
    CHECK_EQ(seen.calls, 1);

    /* Other URLs go to the network. */
    CHECK_RC(get(uf, url_at(o, "/echo"), false, &rs, &err), AE_OK, err);
    CHECK_STR_EQ(echo_line(&rs), "GET /echo");
    das_urlfetch_response_dispose(&rs);
    das_urlfetch_destroy(uf);
}

TEST(test_urlfetch_offline_fails_what_no_answerer_covers)
{
    origin_t *o = origin(false);
    CHECK(o);
    das_urlfetch_t *uf = new_stub();
    CHECK(uf);
    seen_t seen = {0};
    das_urlfetch_answer(uf, "http://stub.example/", answer_seen, &seen);
    das_urlfetch_set_offline(uf, true);
    das_urlfetch_response_t rs;
    das_urlfetch_err_t err;
    unsigned before = origin_requests(o), conns = origin_connections(o);
    CHECK_EFETCH(uf, url_at(o, "/echo"));
    CHECK_EQ(origin_requests(o), before);
    CHECK_EQ(origin_connections(o), conns);
    CHECK_RC(get(uf, "http://stub.example/x", false, &rs, &err), AE_OK, err);
    CHECK_EQ(rs.status, 201);
    das_urlfetch_response_dispose(&rs);

    das_urlfetch_set_offline(uf, false);
    CHECK_RC(get(uf, url_at(o, "/echo"), false, &rs, &err), AE_OK, err);
    CHECK_EQ(rs.status, 200);
    das_urlfetch_response_dispose(&rs);
    das_urlfetch_destroy(uf);
}

CHECK_MAIN()
