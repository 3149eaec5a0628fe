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
    CHECK_OK(das_login_from_cookie_header(
        "a=1; dev_appserver_login=\"bob@x.org:False:123\"; z=2", &u));
    CHECK_STR_EQ(u.email, "bob@x.org");
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
