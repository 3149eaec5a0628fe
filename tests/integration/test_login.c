/* test_login.c - the development login: `login: required` redirects to /_ah/login (or answers
 * 401 with auth_fail_action: unauthorized), the login page signs in with any address by
 * setting the dev_appserver_login cookie, the app then sees the user, `login: admin` needs an
 * administrator, logging out clears the cookie, and clients cannot pose as administrators with
 * X-AppEngine-* headers.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"

/* ---------------------------------------------------------------- helpers */

/* These tests only read, so they can also run against a server started by hand
 * (DAS_TEST_SERVER) that serves tests/apps/echo: unlike START, this does not skip then. */
#define START_ECHO(s) CHECK_OK(harness_start((s), harness_app("echo"), NULL))

/* Decodes %XX and '+' in place. */
static void url_decode(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        if (*r == '%' && isxdigit((unsigned char)r[1]) && isxdigit((unsigned char)r[2])) {
            char hex[3] = {r[1], r[2], 0};
            *w++ = (char)strtol(hex, NULL, 16);
            r += 2;
        } else if (*r == '+') {
            *w++ = ' ';
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
}

/* Signs in through /_ah/login and copies "dev_appserver_login=..." (the part of Set-Cookie a
 * browser sends back) into `cookie` as a "Cookie: ..." header line. Returns 0 on success. */
static int sign_in(const harness_server_t *s, const char *email_quoted, bool admin, char *cookie,
                   size_t cap)
{
    char path[1024];
    snprintf(path, sizeof path, "/_ah/login?email=%s&action=Login%s&continue=%%2Fwhoami",
             email_quoted, admin ? "&admin=True" : "");
    harness_response_t r;
    int rc = harness_get(s, path, &r);
    char set[1024];
    if (rc != 0 || r.status != 302 || !harness_header(&r, "Set-Cookie", set, sizeof set)) {
        printf("# sign in: %ld %s\n", r.status, r.headers ? r.headers : "");
        harness_response_dispose(&r);
        return -1;
    }
    harness_response_dispose(&r);
    char *semi = strchr(set, ';');
    if (semi)
        *semi = '\0';
    snprintf(cookie, cap, "Cookie: %s", set);
    return 0;
}

static int get_with(const harness_server_t *s, const char *path, const char *h1, const char *h2,
                    harness_response_t *r)
{
    const char *headers[] = {h1, h2, NULL};
    return harness_request(s, "GET", path, h1 ? headers : NULL, NULL, 0, r);
}

/* "EMAIL admin|user USER_ID" from the echo app's catch-all handler. */
static bool parse_whoami(const char *body, char *email, char *role, char *id)
{
    return body && sscanf(body, "%127s %15s %63s", email, role, id) == 3;
}

static bool all_digits(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return false;
    return true;
}

/* ---------------------------------------------------------------- not signed in */

TEST(test_login_required_redirects_to_the_login_page_with_the_original_url)
{
    harness_server_t s;
    START_ECHO(&s);
    harness_response_t r;
    CHECK_OK(harness_get(&s, "/required/x?a=1&b=two%20words", &r));
    CHECK_EQ(r.status, 302);
    char loc[1024];
    CHECK(harness_header(&r, "Location", loc, sizeof loc));
    harness_response_dispose(&r);
    char expect_prefix[128];
    snprintf(expect_prefix, sizeof expect_prefix, "http://%s:%d/_ah/login?continue=", s.host,
             s.port);
    CHECK(strncmp(loc, expect_prefix, strlen(expect_prefix)) == 0);
    /* The continue URL is quoted: it holds no raw '?', '&' or '=' of its own... */
    char *cont = loc + strlen(expect_prefix);
    CHECK(strpbrk(cont, "?&= ") == NULL);
    /* ...and decodes to the full URL asked for. */
    char expect_url[256];
    snprintf(expect_url, sizeof expect_url, "http://%s:%d/required/x?a=1&b=two%%20words", s.host,
             s.port);
    url_decode(cont);
    CHECK_STR_EQ(cont, expect_url);
    CHECK_EQ(harness_stop(&s), 0);
}

TEST(test_login_required_with_unauthorized_action_answers_401)
{
    harness_server_t s;
    START_ECHO(&s);
    harness_response_t r;
    CHECK_OK(harness_get(&s, "/unauthorized/x", &r));
    CHECK_EQ(r.status, 401);
    CHECK_STR_CONTAINS(r.body, "Login required to view page.");
    char v[64];
    CHECK(!harness_header(&r, "Location", v, sizeof v));
    harness_response_dispose(&r);
    CHECK_EQ(harness_stop(&s), 0);
}

TEST(test_login_page_without_action_shows_a_form)
{
    harness_server_t s;
    START_ECHO(&s);
    harness_response_t r;
    CHECK_OK(harness_get(&s, "/_ah/login?continue=%2Frequired%2Fx", &r));
    CHECK_EQ(r.status, 200);
    char type[128];
    CHECK(harness_header(&r, "Content-Type", type, sizeof type));
    CHECK_STR_CONTAINS(type, "text/html");
    CHECK_STR_CONTAINS(r.body, "<form");
    CHECK_STR_CONTAINS(r.body, "name=\"email\"");
    CHECK_STR_CONTAINS(r.body, "name=\"admin\"");
    CHECK_STR_CONTAINS(r.body, "value=\"Login\"");
    CHECK_STR_CONTAINS(r.body, "value=\"/required/x\""); /* the continue URL is kept */
    harness_response_dispose(&r);
    CHECK_EQ(harness_stop(&s), 0);
}

/* ---------------------------------------------------------------- signing in */

TEST(test_signing_in_sets_a_cookie_and_the_app_sees_the_user)
{
    harness_server_t s;
    START_ECHO(&s);
    harness_response_t r;
    CHECK_OK(harness_get(
        &s, "/_ah/login?email=a%40example.com&action=Login&continue=%2Frequired%2Fx", &r));
    CHECK_EQ(r.status, 302);
    char loc[256], set[512];
    CHECK(harness_header(&r, "Location", loc, sizeof loc));
    CHECK_STR_EQ(loc, "/required/x");
    CHECK(harness_header(&r, "Set-Cookie", set, sizeof set));
    harness_response_dispose(&r);
    CHECK(strncmp(set, "dev_appserver_login=", 20) == 0);
    CHECK_STR_CONTAINS(set, "a@example.com");
    CHECK_STR_CONTAINS(set, "Path=/");

    char *semi = strchr(set, ';');
    if (semi)
        *semi = '\0';
    char cookie[600];
    snprintf(cookie, sizeof cookie, "Cookie: %s", set);
    CHECK_OK(get_with(&s, "/required/x", cookie, NULL, &r));
    CHECK_EQ(r.status, 200);
    char email[128], role[16], id[64];
    CHECK(parse_whoami(r.body, email, role, id));
    harness_response_dispose(&r);
    CHECK_STR_EQ(email, "a@example.com");
    CHECK_STR_EQ(role, "user");
    CHECK(id[0] == '1');
    CHECK(all_digits(id));
    CHECK(strlen(id) > 10);

    /* The same address always has the same user id, whatever its case. */
    char cookie2[600];
    CHECK_OK(sign_in(&s, "A%40Example.COM", false, cookie2, sizeof cookie2));
    CHECK_OK(get_with(&s, "/required/y", cookie2, NULL, &r));
    CHECK_EQ(r.status, 200);
    char email2[128], role2[16], id2[64];
    CHECK(parse_whoami(r.body, email2, role2, id2));
    harness_response_dispose(&r);
    CHECK_STR_EQ(id2, id);

    /* A different address has a different id. */
    CHECK_OK(sign_in(&s, "b%40example.com", false, cookie2, sizeof cookie2));
    CHECK_OK(get_with(&s, "/required/y", cookie2, NULL, &r));
    CHECK(parse_whoami(r.body, email2, role2, id2));
    harness_response_dispose(&r);
    CHECK_STR_EQ(email2, "b@example.com");
    CHECK(strcmp(id2, id) != 0);
    CHECK_EQ(harness_stop(&s), 0);
}

TEST(test_signing_in_without_an_email_address_is_refused)
{
    harness_server_t s;
    START_ECHO(&s);
    harness_response_t r;
    CHECK_OK(harness_get(&s, "/_ah/login?email=nobody&action=Login&continue=%2F", &r));
    CHECK_EQ(r.status, 400);
    char v[256];
    CHECK(!harness_header(&r, "Set-Cookie", v, sizeof v));
    harness_response_dispose(&r);
    CHECK_EQ(harness_stop(&s), 0);
}

TEST(test_admin_pages_need_an_administrator)
{
    harness_server_t s;
    START_ECHO(&s);
    char user[600], admin[600];
    CHECK_OK(sign_in(&s, "a%40example.com", false, user, sizeof user));
    CHECK_OK(sign_in(&s, "a%40example.com", true, admin, sizeof admin));

    harness_response_t r;
    CHECK_OK(get_with(&s, "/admin/x", user, NULL, &r));
    CHECK_EQ(r.status, 401);
    CHECK_STR_CONTAINS(r.body,
                       "Current logged in user a@example.com is not authorized to view this page.");
    harness_response_dispose(&r);

    CHECK_OK(get_with(&s, "/admin/x", admin, NULL, &r));
    CHECK_EQ(r.status, 200);
    char email[128], role[16], id[64];
    CHECK(parse_whoami(r.body, email, role, id));
    harness_response_dispose(&r);
    CHECK_STR_EQ(email, "a@example.com");
    CHECK_STR_EQ(role, "admin");
    CHECK(id[0] == '1' && all_digits(id));

    /* An administrator may also see login: required pages, as an administrator. */
    CHECK_OK(get_with(&s, "/required/x", admin, NULL, &r));
    CHECK_EQ(r.status, 200);
    CHECK(parse_whoami(r.body, email, role, id));
    harness_response_dispose(&r);
    CHECK_STR_EQ(role, "admin");

    /* Not signed in at all: the admin page redirects to the login page. */
    CHECK_OK(harness_get(&s, "/admin/x", &r));
    CHECK_EQ(r.status, 302);
    harness_response_dispose(&r);
    CHECK_EQ(harness_stop(&s), 0);
}

TEST(test_logging_out_clears_the_cookie)
{
    harness_server_t s;
    START_ECHO(&s);
    harness_response_t r;
    CHECK_OK(harness_get(&s, "/_ah/logout?continue=%2F", &r));
    CHECK_EQ(r.status, 302);
    char loc[256], set[512];
    CHECK(harness_header(&r, "Location", loc, sizeof loc));
    CHECK_STR_EQ(loc, "/");
    CHECK(harness_header(&r, "Set-Cookie", set, sizeof set));
    harness_response_dispose(&r);
    CHECK(strncmp(set, "dev_appserver_login=", 20) == 0);
    CHECK_STR_CONTAINS(set, "Max-Age=0");

    /* The login page's Logout button (action=Logout) does the same. */
    CHECK_OK(harness_get(&s, "/_ah/login?action=Logout&continue=%2Fwhoami", &r));
    CHECK_EQ(r.status, 302);
    CHECK(harness_header(&r, "Location", loc, sizeof loc));
    CHECK_STR_EQ(loc, "/whoami");
    CHECK(harness_header(&r, "Set-Cookie", set, sizeof set));
    harness_response_dispose(&r);
    CHECK_STR_CONTAINS(set, "Max-Age=0");
    CHECK_EQ(harness_stop(&s), 0);
}

/* ---------------------------------------------------------------- spoofing */

TEST(test_clients_cannot_pose_as_administrator_with_appengine_headers)
{
    harness_server_t s;
    START_ECHO(&s);
    harness_response_t r;
    CHECK_OK(get_with(&s, "/admin/x", "X-AppEngine-User-Is-Admin: 1",
                      "X-AppEngine-User-Email: evil@example.com", &r));
    CHECK_EQ(r.status, 302);
    harness_response_dispose(&r);

    CHECK_OK(get_with(&s, "/whoami", "X-AppEngine-User-Is-Admin: 1",
                      "X-AppEngine-User-Email: evil@example.com", &r));
    CHECK_EQ(r.status, 200);
    CHECK_STR_EQ(r.body, "nobody user -");
    harness_response_dispose(&r);

    /* Nor does a signed-in user become one. */
    char user[600];
    CHECK_OK(sign_in(&s, "a%40example.com", false, user, sizeof user));
    CHECK_OK(get_with(&s, "/admin/x", user, "X-AppEngine-User-Is-Admin: 1", &r));
    CHECK_EQ(r.status, 401);
    harness_response_dispose(&r);
    CHECK_OK(get_with(&s, "/required/x", user, "X-AppEngine-Fake-Is-Admin: 1", &r));
    CHECK_EQ(r.status, 200);
    CHECK_STR_CONTAINS(r.body, " user ");
    harness_response_dispose(&r);

    /* The app never sees the client's X-AppEngine-* headers. */
    CHECK_OK(get_with(&s, "/header?name=X-AppEngine-User-Is-Admin",
                      "X-AppEngine-User-Is-Admin: 1", NULL, &r));
    CHECK_EQ(r.status, 200);
    CHECK_STR_EQ(r.body, "(absent)");
    harness_response_dispose(&r);
    CHECK_EQ(harness_stop(&s), 0);
}

TEST(test_forged_admin_cookie_without_at_sign_is_ignored)
{
    harness_server_t s;
    START_ECHO(&s);
    harness_response_t r;
    CHECK_OK(get_with(&s, "/admin/x", "Cookie: dev_appserver_login=\"root:True:1\"", NULL, &r));
    CHECK_EQ(r.status, 302);
    harness_response_dispose(&r);
    CHECK_EQ(harness_stop(&s), 0);
}

/* ---------------------------------------------------------------- hardening */

/* GET `path`; the status, and whether a Set-Cookie and which Location came back. */
static long login_get(const harness_server_t *s, const char *path, const char *header,
                      bool *set_cookie, char *location, size_t cap)
{
    harness_response_t r;
    if (get_with(s, path, header, NULL, &r) != 0)
        return -1;
    char v[1024];
    *set_cookie = harness_header(&r, "Set-Cookie", v, sizeof v);
    if (location && !harness_header(&r, "Location", location, cap))
        location[0] = '\0';
    long status = r.status;
    harness_response_dispose(&r);
    return status;
}

TEST(test_login_email_that_would_change_the_cookie_is_refused)
{
    harness_server_t s;
    START_ECHO(&s);
    bool set;
    /* "a@b.c; Domain=evil.example; Max-Age=99999" would inject cookie attributes. */
    CHECK_EQ(login_get(&s, "/_ah/login?action=Login&email=a%40b.c%3B+Domain%3Devil.example%3B"
                           "+Max-Age%3D99999",
                       NULL, &set, NULL, 0),
             400);
    CHECK(!set);
    /* "x@y:True" without the admin box once signed in as an administrator. */
    CHECK_EQ(login_get(&s, "/_ah/login?action=Login&email=x%40y%3ATrue", NULL, &set, NULL, 0),
             400);
    CHECK(!set);
    CHECK_EQ(login_get(&s, "/_ah/login?action=Login&email=a%22b%40c", NULL, &set, NULL, 0), 400);
    CHECK(!set);
    CHECK_EQ(harness_stop(&s), 0);
}

TEST(test_login_emails_up_to_320_bytes_sign_in_and_longer_ones_are_told_why)
{
    harness_server_t s;
    START_ECHO(&s);
    char email[400], path[600], cookie[1200];
    memset(email, 'u', 300);
    strcpy(email + 300 - 12, "%40long.test"); /* 300 bytes once decoded: 288 + "@long.test" */
    CHECK_OK(sign_in(&s, email, false, cookie, sizeof cookie));
    harness_response_t r;
    CHECK_OK(get_with(&s, "/whoami", cookie, NULL, &r));
    CHECK_EQ(r.status, 200);
    CHECK(r.body && strncmp(r.body, "uuuu", 4) == 0);
    CHECK_STR_CONTAINS(r.body, "@long.test user 1");
    harness_response_dispose(&r);
    memset(email, 'u', 320);
    strcpy(email + 320, "%40long.test");
    snprintf(path, sizeof path, "/_ah/login?action=Login&email=%s", email);
    CHECK_OK(harness_get(&s, path, &r));
    CHECK_EQ(r.status, 400);
    CHECK_STR_CONTAINS(r.body, "at most 320 bytes");
    harness_response_dispose(&r);
    CHECK_EQ(harness_stop(&s), 0);
}

TEST(test_cross_site_login_and_logout_are_refused)
{
    harness_server_t s;
    START_ECHO(&s);
    bool set;
    const char *login = "/_ah/login?action=Login&email=a%40b.c&continue=%2F";
    CHECK_EQ(login_get(&s, login, "Origin: http://evil.example", &set, NULL, 0), 403);
    CHECK(!set);
    CHECK_EQ(login_get(&s, login, "Referer: http://evil.example/page", &set, NULL, 0), 403);
    CHECK(!set);
    CHECK_EQ(login_get(&s, "/_ah/logout", "Origin: null", &set, NULL, 0), 403);
    CHECK(!set);
    /* A page that hides its Referer: the browser still says the navigation is cross-site. */
    CHECK_EQ(login_get(&s, login, "Sec-Fetch-Site: cross-site", &set, NULL, 0), 403);
    CHECK(!set);
    CHECK_EQ(login_get(&s, login, "Sec-Fetch-Site: same-site", &set, NULL, 0), 403);
    CHECK_EQ(login_get(&s, login, "Sec-Fetch-Site: none", &set, NULL, 0), 302);
    char same[128];
    snprintf(same, sizeof same, "Origin: http://127.0.0.1:%d", s.port);
    CHECK_EQ(login_get(&s, login, same, &set, NULL, 0), 302);
    CHECK(set);
    CHECK_EQ(login_get(&s, login, NULL, &set, NULL, 0), 302); /* a link typed in */
    CHECK(set);
    /* The form itself may be shown to anyone. */
    CHECK_EQ(login_get(&s, "/_ah/login", "Referer: http://evil.example/", &set, NULL, 0), 200);
    CHECK_EQ(harness_stop(&s), 0);
}

TEST(test_continue_may_name_only_this_server)
{
    harness_server_t s;
    START_ECHO(&s);
    bool set;
    char loc[256], path[256];
    CHECK_EQ(login_get(&s, "/_ah/logout?continue=http%3A%2F%2Fevil.example%2F", NULL, &set, loc,
                       sizeof loc),
             302);
    CHECK_STR_EQ(loc, "/");
    CHECK_EQ(login_get(&s, "/_ah/logout?continue=%2F%2Fevil.example%2Fx", NULL, &set, loc,
                       sizeof loc),
             302);
    CHECK_STR_EQ(loc, "/");
    CHECK_EQ(login_get(&s, "/_ah/logout?continue=%2Fback%3Fx%3D1", NULL, &set, loc, sizeof loc),
             302);
    CHECK_STR_EQ(loc, "/back?x=1");
    snprintf(path, sizeof path, "/_ah/logout?continue=http%%3A%%2F%%2Flocalhost%%3A%d%%2Fhere",
             s.port);
    CHECK_EQ(login_get(&s, path, NULL, &set, loc, sizeof loc), 302);
    char want[128];
    snprintf(want, sizeof want, "http://localhost:%d/here", s.port);
    CHECK_STR_EQ(loc, want);
    CHECK_EQ(harness_stop(&s), 0);
}

CHECK_MAIN()
