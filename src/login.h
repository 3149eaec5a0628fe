/* login.h - the development login: the dev_appserver_login cookie and the /_ah/login page.
 *
 * As on the old SDK, anyone may sign in as any email, as an administrator or not; the cookie is
 * "EMAIL:True|False:USER_ID" where USER_ID is "1" followed by one decimal digit per byte of the
 * MD5 of the lower-cased email. Pure functions, no state.
 */
#ifndef DAS_LOGIN_H
#define DAS_LOGIN_H

#include <stdbool.h>

#include "util.h"

#define DAS_LOGIN_COOKIE "dev_appserver_login"

typedef struct {
    char email[256];
    char nickname[256]; /* the part before '@' */
    char user_id[32];
    bool admin;
} das_login_user_t;

/* Finds the login cookie in a Cookie header value. Returns 0 and fills `user`, or
 * AE_ENOTFOUND when nobody is logged in (no cookie, or an email without '@'). */
int das_login_from_cookie_header(const char *cookie_header, das_login_user_t *user);

/* The user id the platform derived from an email. `out` holds at least 32 bytes. */
void das_login_user_id(const char *email, char *out);

/* The Set-Cookie header value that logs `email` in (or, with email NULL, out). Caller frees. */
char *das_login_set_cookie(const char *email, bool admin);

/* The sign-in form, as HTML. `continue_url` is where the form returns to. Caller frees. */
char *das_login_page(const char *continue_url, const das_login_user_t *current);

/* Percent-encodes `s` for a query value. Caller frees. */
char *das_login_url_quote(const char *s);

#endif
