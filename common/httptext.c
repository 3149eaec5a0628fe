/* httptext.c - percent-decoding, Cookie headers and path normalization (see httptext.h). */
#include "httptext.h"

#include <string.h>

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

long das_pct_decode(char *s, size_t len, int flags)
{
    size_t w = 0;
    for (size_t r = 0; r < len; r++) {
        int hi, lo;
        if (s[r] == '%' && r + 2 < len && (hi = hexval((unsigned char)s[r + 1])) >= 0 &&
            (lo = hexval((unsigned char)s[r + 2])) >= 0) {
            char c = (char)(hi * 16 + lo);
            if (c == '\0' && (flags & DAS_PCT_NO_NUL))
                return -1;
            s[w++] = c;
            r += 2;
        } else if (s[r] == '+' && (flags & DAS_PCT_PLUS)) {
            s[w++] = ' ';
        } else {
            s[w++] = s[r];
        }
    }
    s[w] = '\0';
    return (long)w;
}

void das_pct_encode_path(const char *in, size_t len, char *out)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t w = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    (c && strchr("/-._~!$&'()*+,;=:@", c));
        if (keep) {
            out[w++] = (char)c;
        } else {
            out[w++] = '%';
            out[w++] = hex[c >> 4];
            out[w++] = hex[c & 15];
        }
    }
    out[w] = '\0';
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

bool das_cookie_next(const char **p, das_cookie_t *c)
{
    const char *s = *p;
    while (*s) {
        const char *semi = strchr(s, ';');
        const char *stop = semi ? semi : s + strlen(s);
        const char *eq = memchr(s, '=', (size_t)(stop - s));
        const char *next = semi ? semi + 1 : stop;
        if (eq) {
            const char *n = s, *n_end = eq;
            while (n < n_end && is_space(*n))
                n++;
            while (n_end > n && is_space(n_end[-1]))
                n_end--;
            const char *v = eq + 1, *v_end = stop;
            while (v < v_end && is_space(*v))
                v++;
            while (v_end > v && is_space(v_end[-1]))
                v_end--;
            if (v_end - v >= 2 && v[0] == '"' && v_end[-1] == '"') {
                v++;
                v_end--;
            }
            if (n_end > n) {
                c->name = n;
                c->name_len = (size_t)(n_end - n);
                c->value = v;
                c->value_len = (size_t)(v_end - v);
                *p = next;
                return true;
            }
        }
        s = next;
    }
    *p = s;
    return false;
}

int das_path_normalize(char *path, bool drop_empty)
{
    int met = 0;
    size_t root = path[0] == '/' ? 1 : 0; /* what ".." never removes */
    size_t w = root;
    const char *seg = path + root;
    bool trailing_dir = false;
    for (;;) {
        const char *end = strchr(seg, '/');
        size_t n = end ? (size_t)(end - seg) : strlen(seg);
        trailing_dir = false;
        if (n == 0 && (end || seg > path + root)) /* not the whole of "" or "/" */
            met |= DAS_PATH_HAD_EMPTY;
        if (n == 2 && seg[0] == '.' && seg[1] == '.') {
            met |= DAS_PATH_HAD_DOTDOT;
            /* Drop the last written segment and its separator. */
            while (w > root && path[w - 1] != '/')
                w--;
            if (w > root)
                w--;
            trailing_dir = true;
        } else if (n == 1 && seg[0] == '.') {
            met |= DAS_PATH_HAD_DOT;
            trailing_dir = true;
        } else if (n > 0 || !drop_empty) {
            if (w > root)
                path[w++] = '/';
            memmove(path + w, seg, n);
            w += n;
        }
        if (!end)
            break;
        seg = end + 1;
    }
    if (trailing_dir && !drop_empty && w > root)
        path[w++] = '/';
    path[w] = '\0';
    return met;
}
