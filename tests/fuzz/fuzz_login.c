/* fuzz_login.c - src/login.h's reading of the dev_appserver_login cookie from a Cookie header
 * (the bytes a browser sends), on arbitrary input.
 *
 * The input, NUL-terminated, is the Cookie header. When a user is found: the email holds an
 * '@' and fits its buffer, the nickname is the part before the '@', the user id is '1' and 20
 * digits at most and the one das_login_user_id() derives, and the cookie
 * das_login_set_cookie() would set for that user reads back as the same user. The sign-in
 * page and the query quoting run on the input too (the continue URL comes from the request).
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
    FUZZ_CHECK(elen > 0 && elen < sizeof u->email);
    const char *at = strchr(u->email, '@');
    FUZZ_CHECK(at != NULL);
    size_t nlen = strnlen(u->nickname, sizeof u->nickname);
    FUZZ_CHECK(nlen < sizeof u->nickname);
    FUZZ_CHECK(nlen == (size_t)(at - u->email) && memcmp(u->nickname, u->email, nlen) == 0);
    size_t ulen = strnlen(u->user_id, sizeof u->user_id);
    FUZZ_CHECK(ulen >= 2 && ulen <= 21 && u->user_id[0] == '1');
    for (size_t i = 0; i < ulen; i++)
        FUZZ_CHECK(isdigit((unsigned char)u->user_id[i]));
    char id[32];
    das_login_user_id(u->email, id);
    FUZZ_CHECK(strcmp(id, u->user_id) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *header = fuzz_cstr(data, size);
    das_login_user_t user;
    int rc = das_login_from_cookie_header(header, &user);
    FUZZ_CHECK(rc == 0 || rc == AE_ENOTFOUND);
    if (rc == 0) {
        check_user(&user);
        /* Logging in as that user sets a cookie that reads back as the same user. */
        char *set = das_login_set_cookie(user.email, user.admin);
        char *semi = strchr(set, ';'); /* "NAME=VALUE; Path=/": the Cookie header is NAME=VALUE */
        FUZZ_CHECK(semi != NULL);
        *semi = '\0';
        das_login_user_t again;
        FUZZ_CHECK(das_login_from_cookie_header(set, &again) == 0);
        FUZZ_CHECK(strcmp(again.email, user.email) == 0);
        FUZZ_CHECK(again.admin == user.admin);
        FUZZ_CHECK(strcmp(again.user_id, user.user_id) == 0);
        free(set);
    }
    char *page = das_login_page(header, rc == 0 ? &user : NULL);
    free(page);
    char *quoted = das_login_url_quote(header);
    free(quoted);
    free(header);
    return 0;
}
