/* login.c - the development login cookie, user ids, and the sign-in page. */
#include "login.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "httptext.h"

void das_login_user_id(const char *email, char *out)
{
    size_t n = strlen(email);
    char *lower = das_xstrndup(email, n);
    for (size_t i = 0; i < n; i++)
        if (lower[i] >= 'A' && lower[i] <= 'Z')
            lower[i] = (char)(lower[i] - 'A' + 'a');
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(lower, n, digest, &len, EVP_md5(), NULL);
    free(lower);
    /* As dev_appserver_login.py: '1' + ''.join('%02d' % b for b in md5(email.lower()))[:20]
     * (bytes of 100 and more take three digits). */
    char digits[16 * 3 + 1];
    size_t w = 0;
    for (unsigned int i = 0; i < len && i < 16; i++)
        w += (size_t)snprintf(digits + w, sizeof digits - w, "%02d", digest[i]);
    snprintf(out, 22, "1%.20s", digits);
}

const char *das_login_email_check(const char *email)
{
    size_t n = strlen(email);
    if (n == 0 || !strchr(email, '@'))
        return "an email address must contain '@'";
    if (n > DAS_LOGIN_MAX_EMAIL)
        return "an email address may be at most 320 bytes";
    for (const unsigned char *p = (const unsigned char *)email; *p; p++)
        if (*p <= ' ' || *p == 0x7f || strchr("\";:,\\", *p))
            return "an email address may not contain spaces, control characters or any of "
                   "\" ; : , \\";
    return NULL;
}

int das_login_from_cookie_header(const char *cookie_header, das_login_user_t *user)
{
    memset(user, 0, sizeof *user);
    if (!cookie_header)
        return AE_ENOTFOUND;
    das_cookie_t c;
    for (const char *p = cookie_header; das_cookie_next(&p, &c);) {
        if (c.name_len != strlen(DAS_LOGIN_COOKIE) ||
            strncmp(c.name, DAS_LOGIN_COOKIE, c.name_len) != 0)
            continue;
        /* Exactly EMAIL:True|False:USER_ID, or nobody: "x@y:True" as an email must not make
         * an administrator, nor a forged id another user. */
        const char *v = c.value, *end = c.value + c.value_len;
        const char *c1 = memchr(v, ':', c.value_len);
        const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(end - c1 - 1)) : NULL;
        if (!c2 || memchr(c2 + 1, ':', (size_t)(end - c2 - 1)))
            return AE_ENOTFOUND;
        size_t elen = (size_t)(c1 - v), flen = (size_t)(c2 - c1 - 1), ilen = (size_t)(end - c2 - 1);
        if (elen > DAS_LOGIN_MAX_EMAIL)
            return AE_ENOTFOUND;
        memcpy(user->email, v, elen);
        user->email[elen] = '\0';
        bool is_true = flen == 4 && strncmp(c1 + 1, "True", 4) == 0;
        bool is_false = flen == 5 && strncmp(c1 + 1, "False", 5) == 0;
        char id[32];
        if (das_login_email_check(user->email) || !(is_true || is_false))
            goto nobody;
        das_login_user_id(user->email, id);
        if (ilen != strlen(id) || strncmp(c2 + 1, id, ilen) != 0)
            goto nobody;
        user->admin = is_true;
        snprintf(user->user_id, sizeof user->user_id, "%s", id);
        const char *at = strchr(user->email, '@');
        snprintf(user->nickname, sizeof user->nickname, "%.*s", (int)(at - user->email),
                 user->email);
        return 0;
    nobody:
        memset(user, 0, sizeof *user);
        return AE_ENOTFOUND;
    }
    return AE_ENOTFOUND;
}

char *das_login_set_cookie(const char *email, bool admin)
{
    if (!email)
        return das_xasprintf("%s=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
                             DAS_LOGIN_COOKIE);
    char id[32];
    das_login_user_id(email, id);
    return das_xasprintf("%s=\"%s:%s:%s\"; Path=/", DAS_LOGIN_COOKIE, email,
                         admin ? "True" : "False", id);
}

char *das_login_url_quote(const char *s)
{
    das_buf_t b = {0};
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("-_.~/:", *p))
            das_buf_append(&b, p, 1);
        else
            das_buf_printf(&b, "%%%02X", *p);
    }
    return das_buf_steal(&b);
}

char *das_login_page(const char *continue_url, const das_login_user_t *current)
{
    das_buf_t b = {0};
    das_buf_puts(&b, "<!DOCTYPE html>\n<html><head><title>Login</title></head><body>\n"
                     "<h3>Development login</h3>\n<p>Not a real Google sign-in: any address "
                     "works, and you may sign in as an administrator.</p>\n");
    if (current) {
        das_buf_puts(&b, "<p>Signed in as <b>");
        das_buf_html_escape(&b, current->email);
        das_buf_puts(&b, current->admin ? "</b> (administrator).</p>\n" : "</b>.</p>\n");
    }
    das_buf_puts(&b, "<form method=\"get\" action=\"/_ah/login\">\n"
                     "<input type=\"hidden\" name=\"continue\" value=\"");
    das_buf_html_escape(&b, continue_url);
    das_buf_puts(&b, "\">\n<p>Email: <input type=\"text\" name=\"email\" value=\"");
    das_buf_html_escape(&b, current ? current->email : "test@example.com");
    das_buf_puts(&b, "\"></p>\n<p><label><input type=\"checkbox\" name=\"admin\" "
                     "value=\"True\"> Sign in as Administrator</label></p>\n"
                     "<p><input type=\"submit\" name=\"action\" value=\"Login\"> "
                     "<input type=\"submit\" name=\"action\" value=\"Logout\"></p>\n"
                     "</form>\n</body></html>\n");
    return das_buf_steal(&b);
}
