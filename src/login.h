/* login.h - the development login: the dev_appserver_login cookie and the /_ah/login page.
 *
 * As on the old SDK, anyone may sign in as any email, as an administrator or not; the cookie is
 * "EMAIL:True|False:USER_ID" (quoted) where USER_ID is derived from the email as the old SDK
 * did. An email must be a valid cookie value (das_login_email_check), and a cookie that does not
 * parse exactly, or whose USER_ID is not its email's, means nobody is signed in. Pure
 * functions, no state.
 */
#ifndef DAS_LOGIN_H
#define DAS_LOGIN_H

#include <stdbool.h>

#include "util.h"

#define DAS_LOGIN_COOKIE "dev_appserver_login"
#define DAS_LOGIN_MAX_EMAIL 320 /* bytes */

typedef struct {
    char email[DAS_LOGIN_MAX_EMAIL + 1];
    char nickname[DAS_LOGIN_MAX_EMAIL + 1]; /* the part before '@' */
    char user_id[32];
    bool admin;
} das_login_user_t;

/* Whether `email` can sign in: it has an '@', at most DAS_LOGIN_MAX_EMAIL bytes, and none of
 * '"', ';', ':', ',', '\\', spaces or control bytes (which would change the cookie). Returns
 * NULL when it can, else what is wrong with it (a static string). */
const char *das_login_email_check(const char *email);

/* Finds the login cookie in a Cookie header value. Returns 0 and fills `user`, or
 * AE_ENOTFOUND when nobody is logged in: no cookie, or one that does not parse exactly. */
int das_login_from_cookie_header(const char *cookie_header, das_login_user_t *user);

/* The user id the platform derived from an email. `out` holds at least 32 bytes. */
void das_login_user_id(const char *email, char *out);

/* The Set-Cookie header value that logs `email` (which passed das_login_email_check) in, or
 * with email NULL, out. Caller frees. */
char *das_login_set_cookie(const char *email, bool admin);

/* The sign-in form, as HTML. `continue_url` is where the form returns to. Caller frees. */
char *das_login_page(const char *continue_url, const das_login_user_t *current);

/* Percent-encodes `s` for a query value. Caller frees. */
char *das_login_url_quote(const char *s);

#endif
