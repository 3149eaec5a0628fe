/* test_login.c - the development login cookie: parsing, user ids as the platform derived
 * them, and what is refused. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "login.h"

TEST(test_login_cookie_round_trips_email_and_admin)
{
    char *set = das_login_set_cookie("Alice@Example.com", true);
    /* The Set-Cookie value starts with name=value; feed that back as a Cookie header. */
    char *semi = strchr(set, ';');
    *semi = '\0';
    das_login_user_t u;
    CHECK_OK(das_login_from_cookie_header(set, &u));
    CHECK_STR_EQ(u.email, "Alice@Example.com");
    CHECK(u.admin);
    CHECK_STR_EQ(u.nickname, "Alice");
    free(set);
}

TEST(test_login_user_id_is_the_old_servers)
{
    /* dev_appserver_login.py: '1' + ''.join('%02d' % b for b in md5(email.lower()))[:20] */
    char a[32], b[32];
    das_login_user_id("user@example.com", a);
    CHECK_STR_EQ(a, "118113715019704197991");
    das_login_user_id("test@example.com", a);
    das_login_user_id("TEST@example.com", b);
    CHECK_STR_EQ(a, b);
    CHECK_STR_EQ(a, "185804764220139124118");
}

TEST(test_login_cookie_among_others_is_found_and_quotes_are_stripped)
{
    das_login_user_t u;
    char header[200], id[32];
    das_login_user_id("bob@x.org", id);
    snprintf(header, sizeof header, "a=1; dev_appserver_login=\"bob@x.org:False:%s\"; z=2", id);
    CHECK_OK(das_login_from_cookie_header(header, &u));
    CHECK_STR_EQ(u.email, "bob@x.org");
    CHECK_STR_EQ(u.user_id, id);
    CHECK(!u.admin);
}

TEST(test_login_cookie_without_at_sign_means_nobody)
{
    das_login_user_t u;
    CHECK_EQ(das_login_from_cookie_header("dev_appserver_login=bob:True:1", &u), AE_ENOTFOUND);
    CHECK_EQ(das_login_from_cookie_header("other=x", &u), AE_ENOTFOUND);
    CHECK_EQ(das_login_from_cookie_header(NULL, &u), AE_ENOTFOUND);
    CHECK_EQ(das_login_from_cookie_header("dev_appserver_login=", &u), AE_ENOTFOUND);
}

TEST(test_login_cookie_that_does_not_parse_exactly_means_nobody)
{
    das_login_user_t u;
    char id[32], header[256];
    das_login_user_id("x@y", id);
    /* The email "x@y:True" signed in without the admin box once became an administrator. */
    snprintf(header, sizeof header, "dev_appserver_login=\"x@y:True:False:%s\"", id);
    CHECK_EQ(das_login_from_cookie_header(header, &u), AE_ENOTFOUND);
    CHECK(!u.admin);
    /* A forged or missing user id, a bad flag, two fields: nobody. */
    CHECK_EQ(das_login_from_cookie_header("dev_appserver_login=\"x@y:True:1\"", &u),
             AE_ENOTFOUND);
    snprintf(header, sizeof header, "dev_appserver_login=\"x@y:true:%s\"", id);
    CHECK_EQ(das_login_from_cookie_header(header, &u), AE_ENOTFOUND);
    CHECK_EQ(das_login_from_cookie_header("dev_appserver_login=\"x@y:True\"", &u),
             AE_ENOTFOUND);
    snprintf(header, sizeof header, "dev_appserver_login=\"x@y:True:%s\"", id);
    CHECK_OK(das_login_from_cookie_header(header, &u));
    CHECK(u.admin);
}

TEST(test_login_email_check_refuses_what_would_change_the_cookie)
{
    CHECK(das_login_email_check("a@b.c") == NULL);
    CHECK(das_login_email_check("no-at-sign") != NULL);
    CHECK(das_login_email_check("") != NULL);
    CHECK(das_login_email_check("a@b.c; Domain=evil.example") != NULL);
    CHECK(das_login_email_check("a@b\"c") != NULL);
    CHECK(das_login_email_check("a@b:True") != NULL);
    CHECK(das_login_email_check("a@b,c") != NULL);
    CHECK(das_login_email_check("a@b\tc") != NULL);
    CHECK(das_login_email_check("a@b\x7f") != NULL);
    char long_email[400];
    memset(long_email, 'a', sizeof long_email);
    strcpy(long_email + 320 - 6, "@b.com"); /* exactly 320 bytes */
    CHECK(das_login_email_check(long_email) == NULL);
    /* And it logs in: its cookie parses back. */
    char *set = das_login_set_cookie(long_email, false);
    *strchr(set, ';') = '\0';
    das_login_user_t u;
    CHECK_OK(das_login_from_cookie_header(set, &u));
    CHECK_STR_EQ(u.email, long_email);
    free(set);
    memmove(long_email + 1, long_email, strlen(long_email) + 1); /* 321 bytes */
    CHECK_STR_EQ(das_login_email_check(long_email), "an email address may be at most 320 bytes");
}

TEST(test_login_logout_cookie_expires_it)
{
    char *set = das_login_set_cookie(NULL, false);
    CHECK_STR_CONTAINS(set, "Max-Age=0");
    free(set);
}

TEST(test_login_page_escapes_the_continue_url)
{
    char *page = das_login_page("/x\"><script>", NULL);
    CHECK(strstr(page, "<script>") == NULL);
    CHECK_STR_CONTAINS(page, "&quot;&gt;&lt;script&gt;");
    free(page);
}

TEST(test_login_url_quote_encodes_reserved_characters)
{
    char *q = das_login_url_quote("http://h:1/a b?c=d&e");
    CHECK_STR_EQ(q, "http://h:1/a%20b%3Fc%3Dd%26e");
    free(q);
}

CHECK_MAIN()
