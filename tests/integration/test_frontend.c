/* test_frontend.c - what the front end does to every request, as the platform's did: request
 * checks (bodies on GET, the 32 MB limit, dot segments, unmatched urls), headers a client may
 * not forge, the environment an app sees, the rewriting of app responses, warmup, keep-alive
 * and the access log; and static files, which the front end serves itself (headers from
 * app.yaml, conditional requests, HEAD, require_matching_file, and the files it must never
 * serve: outside static/, dotfiles, symlinks leading out of APPDIR).
 *
 * The static-file tests live here because an integration test named test_static.c would make
 * a CMake target clashing with the unit test tests/unit/test_static.c.
 *
 * Most tests use tests/apps/echo; see its app.yaml and echo.c for the routes. */
#include <curl/curl.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "itest.h"

/* A SERVER_TEST (itest.h) on tests/apps/echo. */
#define ECHO_TEST(name) SERVER_TEST(name, harness_app("echo"), NULL)

static bool all_hex(const char *s)
{
    for (; *s; s++)
        if (!isxdigit((unsigned char)*s))
            return false;
    return true;
}

/* ================================================================ request checks */

SERVER_TEST(test_frontend_unmatched_url_is_404_with_the_platform_message,
            harness_app("a_nohandler"), NULL)
{
    (void)check_skipped_;
    char body[256];
    CHECK_EQ(harness_get_text(s, "/other", body, sizeof body), 404);
    CHECK_STR_EQ(body, "<html><head><title>Not Found</title></head><body>The url \"/other\" "
                       "does not match any handlers.</body></html>");
    /* The url regex matches the whole path, not a prefix. */
    CHECK_EQ(harness_get_text(s, "/only/more", body, sizeof body), 404);
    CHECK_STR_EQ(body, "<html><head><title>Not Found</title></head><body>The url "
                       "\"/only/more\" does not match any handlers.</body></html>");
    CHECK_EQ(harness_get_text(s, "/only", body, sizeof body), 200);
    CHECK_STR_EQ(body, "only here");
}

ECHO_TEST(test_frontend_get_with_a_body_is_400_and_never_reaches_the_app)
{
    (void)check_skipped_;
    harness_response_t r;
    CHECK_OK(harness_request(s, "GET", "/count", NULL, "abc", 3, &r));
    CHECK_EQ(r.status, 400);
    CHECK_STR_EQ(r.body, "\"GET\" requests may not contain bodies.");
    harness_response_dispose(&r);
    CHECK_OK(harness_request(s, "DELETE", "/count", NULL, "abc", 3, &r));
    CHECK_EQ(r.status, 400);
    CHECK_STR_EQ(r.body, "\"DELETE\" requests may not contain bodies.");
    harness_response_dispose(&r);
    /* The app's counter never moved. */
    char body[128];
    CHECK_EQ(harness_get_text(s, "/count", body, sizeof body), 200);
    CHECK(strncmp(body, "1 ", 2) == 0);
}

ECHO_TEST(test_frontend_post_over_32_megabytes_is_413)
{
    (void)check_skipped_;
    size_t big = 33u * 1024 * 1024;
    char *data = malloc(big);
    CHECK(data);
    memset(data, 'a', big);
    harness_response_t r;
    int rc = harness_request(s, "POST", "/body", NULL, data, big, &r);
    free(data);
    CHECK_OK(rc);
    CHECK_EQ(r.status, 413);
    CHECK_STR_EQ(r.body, "Upload limited to 32 megabytes.");
    harness_response_dispose(&r);
}

ECHO_TEST(test_frontend_post_of_a_megabyte_reaches_the_app)
{
    (void)check_skipped_;
    size_t n = 1024 * 1024;
    char *data = malloc(n);
    CHECK(data);
    memset(data, 'a', n);
    harness_response_t r;
    int rc = harness_request(s, "POST", "/body", NULL, data, n, &r);
    free(data);
    CHECK_OK(rc);
    CHECK_EQ(r.status, 200);
    CHECK_STR_EQ(r.body, "1048576 POST -");
    harness_response_dispose(&r);
}

ECHO_TEST(test_frontend_form_post_reaches_the_app_decoded)
{
    (void)check_skipped_;
    const char *const headers[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    harness_response_t r;
    CHECK_OK(harness_request(s, "POST", "/body", headers, "field=x+y", 9, &r));
    CHECK_EQ(r.status, 200);
    CHECK_STR_EQ(r.body, "9 POST x y");
    harness_response_dispose(&r);
}

ECHO_TEST(test_frontend_dot_segments_are_redirected_to_the_normalized_path)
{
    (void)check_skipped_;
    harness_response_t r;
    char loc[256];
    CHECK_OK(harness_get(s, "/a/./b", &r));
    CHECK_EQ(r.status, 302);
    CHECK(harness_header(&r, "Location", loc, sizeof loc));
    CHECK_STR_EQ(loc, "/a/b");
    harness_response_dispose(&r);
    CHECK_OK(harness_get(s, "/a/b/../c?x=1", &r));
    CHECK_EQ(r.status, 302);
    CHECK(harness_header(&r, "Location", loc, sizeof loc));
    CHECK_STR_EQ(loc, "/a/c?x=1");
    harness_response_dispose(&r);
    /* Never a redirect to another host ("//host/..." is scheme-relative). */
    CHECK_OK(harness_get(s, "/..//evil.example/x", &r));
    CHECK_EQ(r.status, 302);
    CHECK(harness_header(&r, "Location", loc, sizeof loc));
    CHECK_STR_EQ(loc, "/evil.example/x");
    harness_response_dispose(&r);
}

/* ================================================================ headers clients may not forge */

ECHO_TEST(test_frontend_client_cannot_send_x_appengine_headers)
{
    (void)check_skipped_;
    const char *const forged[] = {"X-AppEngine-User-Is-Admin: 1", "X-AppEngine-Country: US",
                                  "X-AppEngine-User-Email: boss@example.com", NULL};
    harness_response_t r;
    CHECK_OK(harness_request(s, "GET", "/header?name=X-AppEngine-User-Is-Admin", forged, NULL, 0,
                             &r));
    CHECK_EQ(r.status, 200);
    CHECK_STR_EQ(r.body, "(absent)");
    harness_response_dispose(&r);
    /* The country is the platform's, not the client's. */
    CHECK_OK(harness_request(s, "GET", "/header?name=X-AppEngine-Country", forged, NULL, 0, &r));
    CHECK_STR_EQ(r.body, "ZZ");
    harness_response_dispose(&r);
    /* And the forged headers make nobody a user, let alone an admin. */
    CHECK_OK(harness_request(s, "GET", "/whoami", forged, NULL, 0, &r));
    CHECK_STR_EQ(r.body, "nobody user -");
    harness_response_dispose(&r);
    CHECK_OK(harness_request(s, "GET", "/admin/x", forged, NULL, 0, &r));
    CHECK_EQ(r.status, 302); /* to the login page */
    harness_response_dispose(&r);
    /* An ordinary header does get through. */
    const char *const plain[] = {"X-Custom: hello", NULL};
    CHECK_OK(harness_request(s, "GET", "/header?name=X-Custom", plain, NULL, 0, &r));
    CHECK_STR_EQ(r.body, "hello");
    harness_response_dispose(&r);
}

/* ================================================================ the app's environment */

ECHO_TEST(test_frontend_app_sees_the_platform_environment)
{
    (void)check_skipped_;
    char v[256];
    CHECK_EQ(harness_get_text(s, "/env?name=APPLICATION_ID", v, sizeof v), 200);
    CHECK_STR_EQ(v, "dev~echo-app");
    CHECK_EQ(harness_get_text(s, "/env?name=CURRENT_VERSION_ID", v, sizeof v), 200);
    CHECK(strncmp(v, "v7.", 3) == 0);
    CHECK_EQ(strlen(v), 3 + 18);
    for (const char *p = v + 3; *p; p++)
        CHECK(isdigit((unsigned char)*p));
    CHECK_EQ(harness_get_text(s, "/env?name=SERVER_SOFTWARE", v, sizeof v), 200);
    CHECK_STR_EQ(v, "Development/2.0");
    CHECK_EQ(harness_get_text(s, "/env?name=GREETING", v, sizeof v), 200);
    CHECK_STR_EQ(v, "hello from app.yaml");
    CHECK_EQ(harness_get_text(s, "/env?name=INSTANCE_ID", v, sizeof v), 200);
    CHECK_EQ(strlen(v), 36);
    CHECK(all_hex(v));
    CHECK_EQ(harness_get_text(s, "/env?name=CURRENT_MODULE_ID", v, sizeof v), 200);
    CHECK_STR_EQ(v, "default");
    char port[16];
    snprintf(port, sizeof port, "%d", s->port);
    CHECK_EQ(harness_get_text(s, "/env?name=SERVER_PORT", v, sizeof v), 200);
    CHECK_STR_EQ(v, port);
}

ECHO_TEST(test_frontend_request_log_id_differs_per_request)
{
    (void)check_skipped_;
    char a[256], b[256];
    CHECK_EQ(harness_get_text(s, "/env?name=REQUEST_LOG_ID", a, sizeof a), 200);
    CHECK_EQ(harness_get_text(s, "/env?name=REQUEST_LOG_ID", b, sizeof b), 200);
    CHECK(strlen(a) > 0);
    CHECK(strcmp(a, "(unset)") != 0);
    CHECK(strlen(b) > 0);
    CHECK(strcmp(a, b) != 0);
}

ECHO_TEST(test_frontend_warmup_ran_first_as_an_admin)
{
    (void)check_skipped_;
    char v[64];
    /* echo's /_ah/warmup stores 2 when it ran as an administrator, 1 otherwise. */
    CHECK_EQ(harness_get_text(s, "/warm", v, sizeof v), 200);
    CHECK_STR_EQ(v, "2");
}

/* ================================================================ rewriting app responses */

/* Does the raw header block hold a line "name: value..." with a value starting with `value`? */
static bool has_header_line(const harness_response_t *r, const char *name, const char *value)
{
    size_t n = strlen(name), vn = strlen(value);
    for (const char *line = r->headers; line && *line;) {
        const char *eol = strstr(line, "\r\n");
        if (strncasecmp(line, name, n) == 0 && line[n] == ':') {
            const char *v = line + n + 1;
            while (*v == ' ')
                v++;
            if (strncasecmp(v, value, vn) == 0)
                return true;
        }
        if (!eol)
            break;
        line = eol + 2;
    }
    return false;
}

ECHO_TEST(test_frontend_response_with_cookie_is_made_private)
{
    (void)check_skipped_;
    harness_response_t r;
    CHECK_OK(harness_get(s, "/cookie", &r));
    CHECK_EQ(r.status, 200);
    CHECK_STR_EQ(r.body, "cookie set");
    char v[128];
    CHECK(harness_header(&r, "Cache-Control", v, sizeof v));
    CHECK_STR_EQ(v, "private, max-age=60");
    CHECK(harness_header(&r, "Set-Cookie", v, sizeof v));
    CHECK_STR_EQ(v, "a=1");
    /* The app's "Connection: close" is a hop-by-hop header: dropped. */
    CHECK(!has_header_line(&r, "Connection", "close"));
    harness_response_dispose(&r);
}

ECHO_TEST(test_frontend_default_content_type_and_cache_headers)
{
    (void)check_skipped_;
    harness_response_t r;
    char v[128];
    /* /version sets no Content-Type: text/html, and no Cache-Control: no-cache + old Expires. */
    CHECK_OK(harness_get(s, "/version", &r));
    CHECK_EQ(r.status, 200);
    CHECK_STR_EQ(r.body, "v1");
    CHECK(harness_header(&r, "Content-Type", v, sizeof v));
    CHECK_STR_EQ(v, "text/html");
    CHECK(harness_header(&r, "Cache-Control", v, sizeof v));
    CHECK_STR_EQ(v, "no-cache");
    CHECK(harness_header(&r, "Expires", v, sizeof v));
    CHECK_STR_EQ(v, "Fri, 01 Jan 1990 00:00:00 GMT");
    CHECK(harness_header(&r, "Server", v, sizeof v));
    CHECK_STR_EQ(v, "Development/2.0");
    harness_response_dispose(&r);
    /* /count sets text/plain: kept. */
    CHECK_OK(harness_get(s, "/count", &r));
    CHECK(harness_header(&r, "Content-Type", v, sizeof v));
    CHECK_STR_EQ(v, "text/plain");
    harness_response_dispose(&r);
}

ECHO_TEST(test_frontend_status_204_has_no_body_and_invalid_status_is_500)
{
    (void)check_skipped_;
    harness_response_t r;
    CHECK_OK(harness_get(s, "/status?code=204", &r));
    CHECK_EQ(r.status, 204);
    CHECK_EQ(r.len, 0); /* the app wrote "status set"; a 204 carries no body */
    harness_response_dispose(&r);
    CHECK_OK(harness_get(s, "/status?code=999", &r));
    CHECK_EQ(r.status, 500);
    CHECK_STR_CONTAINS(r.body, "999");
    harness_response_dispose(&r);
    CHECK_OK(harness_get(s, "/status?code=418", &r));
    CHECK_EQ(r.status, 418);
    CHECK_STR_EQ(r.body, "status set");
    harness_response_dispose(&r);
}

/* ================================================================ connections and the log */

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

/* GETs `path` on the easy handle `c`; stores the status and the number of new connections. */
static CURLcode curl_get(CURL *c, const harness_server_t *s, const char *path, long *status,
                         long *new_connections)
{
    char url[512];
    snprintf(url, sizeof url, "http://%s:%d%s", s->host, s->port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode cc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, new_connections);
    return cc;
}

ECHO_TEST(test_frontend_keep_alive_reuses_the_connection)
{
    (void)check_skipped_;
    CURL *c = curl_easy_init();
    CHECK(c);
    long st[4] = {0}, conns[4] = {0};
    CURLcode cc[4];
    cc[0] = curl_get(c, s, "/count", &st[0], &conns[0]);
    cc[1] = curl_get(c, s, "/count", &st[1], &conns[1]);
    /* The app asks for "Connection: close"; the front end drops it, the connection lives. */
    cc[2] = curl_get(c, s, "/cookie", &st[2], &conns[2]);
    cc[3] = curl_get(c, s, "/static/hello.txt", &st[3], &conns[3]);
    curl_easy_cleanup(c);
    for (int i = 0; i < 4; i++) {
        CHECK_EQ(cc[i], CURLE_OK);
        CHECK_EQ(st[i], 200);
    }
    CHECK_EQ(conns[0], 1);
    CHECK_EQ(conns[1], 0);
    CHECK_EQ(conns[2], 0);
    CHECK_EQ(conns[3], 0);
}

ECHO_TEST(test_frontend_access_log_has_a_line_per_request)
{
    (void)check_skipped_;
    char body[128];
    CHECK_EQ(harness_get_text(s, "/count", body, sizeof body), 200);
    const char *space = strchr(body, ' '); /* "1 INSTANCE_ID" */
    CHECK(space);
    char want[128];
    snprintf(want, sizeof want, "instance=%s", space + 1);
    CHECK_EQ(harness_get_text(s, "/static/missing.txt", body, sizeof body), 404);
    char *log = harness_log(s);
    bool has_line = strstr(log, "\"GET /count HTTP/1.1\" 200") != NULL;
    bool has_instance = strstr(log, want) != NULL;
    bool has_404 = strstr(log, "\"GET /static/missing.txt HTTP/1.1\" 404") != NULL;
    if (!has_line || !has_instance || !has_404)
        fprintf(stdout, "# log:\n%s\n", log);
    free(log);
    CHECK(has_line);
    CHECK(has_instance);
    CHECK(has_404);
}

/* ================================================================ static files */

ECHO_TEST(test_static_dir_file_is_served_with_configured_headers)
{
    (void)check_skipped_;
    harness_response_t r;
    CHECK_OK(harness_get(s, "/static/hello.txt", &r));
    CHECK_EQ(r.status, 200);
    CHECK_STR_EQ(r.body, "static hello\n");
    char v[128];
    CHECK(harness_header(&r, "Content-Type", v, sizeof v));
    CHECK(strncmp(v, "text/plain", 10) == 0);
    CHECK(harness_header(&r, "ETag", v, sizeof v));
    CHECK(strlen(v) > 2);
    CHECK(harness_header(&r, "Cache-Control", v, sizeof v));
    CHECK_STR_CONTAINS(v, "max-age=3600"); /* expiration: 1h */
    CHECK(harness_header(&r, "Expires", v, sizeof v));
    CHECK(strcmp(v, "Fri, 01 Jan 1990 00:00:00 GMT") != 0); /* now + 1h, not the past */
    CHECK_STR_CONTAINS(v, " GMT");
    CHECK(harness_header(&r, "X-Static-Test", v, sizeof v));
    CHECK_STR_EQ(v, "yes-it-is");
    CHECK(harness_header(&r, "Server", v, sizeof v));
    CHECK_STR_EQ(v, "Development/2.0");
    harness_response_dispose(&r);
}

ECHO_TEST(test_static_if_none_match_with_the_etag_gives_304_without_body)
{
    (void)check_skipped_;
    harness_response_t r;
    CHECK_OK(harness_get(s, "/static/hello.txt", &r));
    char etag[128], line[200];
    CHECK(harness_header(&r, "ETag", etag, sizeof etag));
    harness_response_dispose(&r);
    snprintf(line, sizeof line, "If-None-Match: %s", etag);
    const char *const headers[] = {line, NULL};
    CHECK_OK(harness_request(s, "GET", "/static/hello.txt", headers, NULL, 0, &r));
    CHECK_EQ(r.status, 304);
    CHECK_EQ(r.len, 0);
    harness_response_dispose(&r);
    /* Another validator gets the file. */
    const char *const other[] = {"If-None-Match: \"not-the-etag\"", NULL};
    CHECK_OK(harness_request(s, "GET", "/static/hello.txt", other, NULL, 0, &r));
    CHECK_EQ(r.status, 200);
    CHECK_STR_EQ(r.body, "static hello\n");
    harness_response_dispose(&r);
}

ECHO_TEST(test_static_head_has_headers_and_length_but_no_body)
{
    (void)check_skipped_;
    harness_response_t r;
    CHECK_OK(harness_request(s, "HEAD", "/static/hello.txt", NULL, NULL, 0, &r));
    CHECK_EQ(r.status, 200);
    CHECK_EQ(r.len, 0);
    char v[64];
    CHECK(harness_header(&r, "Content-Length", v, sizeof v));
    CHECK_STR_EQ(v, "13");
    CHECK(harness_header(&r, "Content-Type", v, sizeof v));
    CHECK(strncmp(v, "text/plain", 10) == 0);
    harness_response_dispose(&r);
}

ECHO_TEST(test_static_mime_type_comes_from_the_extension_or_app_yaml)
{
    (void)check_skipped_;
    harness_response_t r;
    char v[128];
    CHECK_OK(harness_get(s, "/static/sub/page.html", &r));
    CHECK_EQ(r.status, 200);
    CHECK(harness_header(&r, "Content-Type", v, sizeof v));
    CHECK(strncmp(v, "text/html", 9) == 0);
    harness_response_dispose(&r);
    /* static_files with mime_type: text/x-test. */
    CHECK_OK(harness_get(s, "/img/hello.txt", &r));
    CHECK_EQ(r.status, 200);
    CHECK_STR_EQ(r.body, "static hello\n");
    CHECK(harness_header(&r, "Content-Type", v, sizeof v));
    CHECK_STR_EQ(v, "text/x-test");
    harness_response_dispose(&r);
}

ECHO_TEST(test_static_require_matching_file_serves_the_file_or_falls_through)
{
    (void)check_skipped_;
    char body[128];
    CHECK_EQ(harness_get_text(s, "/maybe/hello.txt", body, sizeof body), 200);
    CHECK_STR_EQ(body, "static hello\n");
    /* No such file: the next matching handler, the /.* script (its catch-all says who you are). */
    CHECK_EQ(harness_get_text(s, "/maybe/nothing", body, sizeof body), 200);
    CHECK(strncmp(body, "nobody", 6) == 0);
}

ECHO_TEST(test_static_missing_file_is_404)
{
    (void)check_skipped_;
    char body[256];
    CHECK_EQ(harness_get_text(s, "/static/missing.txt", body, sizeof body), 404);
    CHECK(!strstr(body, "nobody")); /* static_dir does not fall through to the script */
}

/* Would the response hand out app.yaml (whose text holds "runtime")? */
static bool leaks_app_yaml(const harness_response_t *r)
{
    return r->status == 200 && r->body && strstr(r->body, "runtime");
}

ECHO_TEST(test_static_dot_dot_is_redirected_not_served)
{
    (void)check_skipped_;
    harness_response_t r;
    CHECK_OK(harness_get(s, "/static/../app.yaml", &r)); /* sent as is (PATH_AS_IS) */
    CHECK_EQ(r.status, 302);
    CHECK(!leaks_app_yaml(&r));
    char loc[256];
    CHECK(harness_header(&r, "Location", loc, sizeof loc));
    CHECK_STR_EQ(loc, "/app.yaml");
    harness_response_dispose(&r);
}

ECHO_TEST(test_static_encoded_dot_dot_does_not_reach_files_outside_static)
{
    (void)check_skipped_;
    static const char *const paths[] = {
        "/static/%2e%2e/app.yaml", "/static/%2E%2E/%2E%2E/app.yaml", "/static/..%2fapp.yaml",
        "/static/%2e%2e%2fapp.yaml", "/maybe/..%2fapp.yaml", NULL};
    for (int i = 0; paths[i]; i++) {
        harness_response_t r;
        CHECK_OK(harness_get(s, paths[i], &r));
        bool leak = leaks_app_yaml(&r);
        if (leak)
            fprintf(stdout, "#   %s served app.yaml\n", paths[i]);
        harness_response_dispose(&r);
        CHECK(!leak);
    }
    harness_response_t r;
    CHECK_OK(harness_get(s, "/static/..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd", &r));
    CHECK(!strstr(r.body, "root:"));
    harness_response_dispose(&r);
}

ECHO_TEST(test_static_dotfile_is_not_served)
{
    (void)check_skipped_;
    char body[256];
    CHECK_EQ(harness_get_text(s, "/static/.hidden", body, sizeof body), 404);
    /* Nor through static_files' back-reference (default skip_files hides dotfiles); the
     * require_matching_file handler falls through to the script instead. */
    long st = harness_get_text(s, "/maybe/.hidden", body, sizeof body);
    CHECK(st == 404 || (st == 200 && strncmp(body, "nobody", 6) == 0));
}

TEST(test_static_symlink_out_of_appdir_is_refused_inside_is_served)
{
    char tmp[256], app[300];
    harness_tmpdir(tmp, sizeof tmp);
    snprintf(app, sizeof app, "%s/echo", tmp);
    static const char *const links[][2] = {
        {"static/evil.txt", "/etc/passwd"},
        {"static/etc", "/etc"},           /* a directory leading out */
        {"static/inside.txt", "hello.txt"},
        {"static/shown.txt", ".hidden"}, /* inside, but to a dotfile skip_files hides */
    };
    int made = harness_copy_tree(harness_app("echo"), app);
    for (size_t i = 0; made == 0 && i < sizeof links / sizeof links[0]; i++) {
        char link[400];
        snprintf(link, sizeof link, "%s/%s", app, links[i][0]);
        made = symlink(links[i][1], link);
    }
    if (made != 0)
        harness_remove_tree(tmp);
    CHECK_OK(made);

    harness_server_t s;
    int started = harness_start(&s, app, NULL);
    harness_response_t evil = {0}, dir = {0}, inside = {0}, shown = {0};
    int got = -1;
    if (started == 0) {
        got = harness_get(&s, "/static/evil.txt", &evil);
        got |= harness_get(&s, "/static/etc/passwd", &dir);
        got |= harness_get(&s, "/static/inside.txt", &inside);
        got |= harness_get(&s, "/static/shown.txt", &shown);
    }
    int stopped = started == 0 ? harness_stop(&s) : -1;
    harness_remove_tree(tmp);
    long evil_status = evil.status, dir_status = dir.status, inside_status = inside.status,
         shown_status = shown.status;
    bool evil_leak = evil.body && strstr(evil.body, "root:");
    bool dir_leak = dir.body && strstr(dir.body, "root:");
    bool inside_ok = inside.body && strcmp(inside.body, "static hello\n") == 0;
    harness_response_dispose(&evil);
    harness_response_dispose(&dir);
    harness_response_dispose(&inside);
    harness_response_dispose(&shown);
    CHECK_OK(started);
    CHECK_OK(got);
    CHECK_EQ(evil_status, 404);
    CHECK(!evil_leak);
    CHECK_EQ(dir_status, 404);
    CHECK(!dir_leak);
    CHECK_EQ(inside_status, 200);
    CHECK(inside_ok);
    CHECK_EQ(shown_status, 404);
    CHECK_EQ(stopped, 0);
}

TEST(test_static_large_file_arrives_whole_and_small_one_is_unchanged)
{
    /* Files above 64 KB go out with sendfile(), smaller ones are copied: both must be exact. */
    char tmp[256], app[300], path[400];
    harness_tmpdir(tmp, sizeof tmp);
    snprintf(app, sizeof app, "%s/echo", tmp);
    CHECK_OK(harness_copy_tree(harness_app("echo"), app));
    size_t n = 300 * 1024 + 7;
    char *big = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)('a' + i % 26);
    big[n] = '\0';
    snprintf(path, sizeof path, "%s/static/big.txt", app);
    CHECK_OK(harness_write_file(path, big));
    harness_server_t s;
    CHECK_OK(harness_start(&s, app, NULL));
    harness_response_t r, h;
    int got = harness_get(&s, "/static/big.txt", &r);
    int got_head = harness_request(&s, "HEAD", "/static/big.txt", NULL, NULL, 0, &h);
    char len[32] = "";
    harness_header(&h, "Content-Length", len, sizeof len);
    bool same = r.len == n && memcmp(r.body, big, n) == 0;
    size_t head_len = h.len;
    harness_response_dispose(&r);
    harness_response_dispose(&h);
    free(big);
    CHECK_EQ(harness_stop(&s), 0);
    harness_remove_tree(tmp);
    CHECK_OK(got);
    CHECK_OK(got_head);
    CHECK(same);
    CHECK_EQ(atol(len), (long)n);
    CHECK_EQ(head_len, 0);
}

CHECK_MAIN()
