/* fuzz_login.c - src/login.h's reading of the dev_appserver_login cookie from a Cookie header
 * (bytes a browser sends), on arbitrary input.
 *
 * The input, NUL-terminated, is the Cookie header. When a user is found: the email passes
 * das_login_email_check(), the nickname is the part before its '@', the user id is the one
 * das_login_user_id() derives ('1' and at most 20 digits), and the cookie
 * das_login_set_cookie() sets for that user reads back as the same user. The input is also
 * tried as an email: when das_login_email_check() accepts it, its cookie must read back as it,
 * as an administrator and as not. The sign-in page and the query quoting run on the input
 * too (the continue URL comes from the request).
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "login.h"

static void check_user(const das_login_user_t *u)
{
    size_t elen = strnlen(u->email, sizeof u->email);
    FUZZ_CHECK(elen > 0 && elen <= DAS_LOGIN_MAX_EMAIL);
    FUZZ_CHECK(das_login_email_check(u->email) == NULL);
    const char *at = strchr(u->email, '@');
    FUZZ_CHECK(at != NULL);
    size_t nlen = strnlen(u->nickname, sizeof u->nickname);
    FUZZ_CHECK(nlen == (size_t)(at - u->email) && memcmp(u->nickname, u->email, nlen) == 0);
    size_t ulen = strnlen(u->user_id, sizeof u->user_id);
    FUZZ_CHECK(ulen >= 2 && ulen <= 21 && u->user_id[0] == '1');
    for (size_t i = 0; i < ulen; i++)
        FUZZ_CHECK(isdigit((unsigned char)u->user_id[i]));
    char id[32];
    das_login_user_id(u->email, id);
    FUZZ_CHECK(strcmp(id, u->user_id) == 0);
}

/* The cookie that signs `email` in, read back from a Cookie header, is that user. */
static void check_set_cookie_reads_back(const char *email, bool admin)
{
    char *set = das_login_set_cookie(email, admin);
    char *semi = strchr(set, ';'); /* "NAME=VALUE; Path=/": a Cookie header sends NAME=VALUE */
    FUZZ_CHECK(semi != NULL);
    *semi = '\0';
    das_login_user_t u;
    FUZZ_CHECK(das_login_from_cookie_header(set, &u) == 0);
    check_user(&u);
    FUZZ_CHECK(strcmp(u.email, email) == 0);
    FUZZ_CHECK(u.admin == admin);
    free(set);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *header = fuzz_cstr(data, size);
    das_login_user_t user;
    int rc = das_login_from_cookie_header(header, &user);
    FUZZ_CHECK(rc == 0 || rc == AE_ENOTFOUND);
    if (getenv("FUZZ_VERBOSE"))
        fprintf(stderr, "das_login_from_cookie_header: %d %s%s\n", rc, user.email,
                user.admin ? " (admin)" : "");
    if (rc == 0) {
        check_user(&user);
        check_set_cookie_reads_back(user.email, user.admin);
    } else {
        FUZZ_CHECK(user.email[0] == '\0' && !user.admin);
    }

    if (das_login_email_check(header) == NULL) {
        FUZZ_CHECK(strchr(header, '@') && strlen(header) <= DAS_LOGIN_MAX_EMAIL);
        check_set_cookie_reads_back(header, true);
        check_set_cookie_reads_back(header, false);
    }

    char *page = das_login_page(header, rc == 0 ? &user : NULL);
    free(page);
    char *quoted = das_login_url_quote(header);
    free(quoted);
    free(header);
    return 0;
}
