/* fuzz_httptext.c - common/httptext.h on arbitrary bytes: percent-decoding, percent-encoding
 * of paths, Cookie headers and path normalization.
 *
 * The whole input is each function's argument (as a C string for the ones that take one).
 * Checked:
 *  - das_pct_decode, under each of the four flag combinations, gives what a straightforward
 *    reading of its contract gives (a small model below), in place and NUL-terminated;
 *  - das_pct_encode_path writes only path characters and %XX, and decoding its output gives
 *    back the input exactly;
 *  - das_cookie_next moves forward, ends, and hands out spans inside the header: a non-empty
 *    name without '=', ';' or surrounding blanks, a value without ';';
 *  - das_path_normalize, in both modes, leaves no "." or ".." segment (and with drop_empty no
 *    empty one), keeps a leading '/' and never adds one, never grows the path, reports the
 *    segments it met as they were in the input, and is idempotent.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "httptext.h"

static int hex(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The contract of das_pct_decode, written out plainly: %XX (two hex digits) is a byte, any other
 * '%' stays, '+' is a space under DAS_PCT_PLUS, "%00" is -1 under DAS_PCT_NO_NUL. */
static long model_pct_decode(const unsigned char *in, size_t len, int flags, unsigned char *out)
{
    size_t w = 0;
    for (size_t i = 0; i < len; i++) {
        if (in[i] == '%' && len - i >= 3 && hex(in[i + 1]) >= 0 && hex(in[i + 2]) >= 0) {
            int v = hex(in[i + 1]) * 16 + hex(in[i + 2]);
            if (v == 0 && (flags & DAS_PCT_NO_NUL))
                return -1;
            out[w++] = (unsigned char)v;
            i += 2;
        } else if (in[i] == '+' && (flags & DAS_PCT_PLUS)) {
            out[w++] = ' ';
        } else {
            out[w++] = in[i];
        }
    }
    return (long)w;
}

static void fuzz_pct_decode(const uint8_t *data, size_t size)
{
    unsigned char *want = malloc(size + 1);
    for (int flags = 0; flags < 4; flags++) {
        char *s = fuzz_cstr(data, size);
        long got = das_pct_decode(s, size, flags);
        long exp = model_pct_decode(data, size, flags, want);
        FUZZ_CHECK(got == exp);
        if (got >= 0) {
            FUZZ_CHECK((size_t)got <= size);
            FUZZ_CHECK(memcmp(s, want, (size_t)got) == 0);
            FUZZ_CHECK(s[got] == '\0');
        }
        free(s);
    }
    free(want);
}

static bool path_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("/-._~!$&'()*+,;=:@", c));
}

static void fuzz_pct_encode_path(const uint8_t *data, size_t size)
{
    char *out = malloc(3 * size + 1);
    das_pct_encode_path((const char *)data, size, out);
    size_t n = strlen(out);
    FUZZ_CHECK(n >= size && n <= 3 * size);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)out[i];
        if (c == '%') {
            FUZZ_CHECK(i + 2 < n && hex((unsigned char)out[i + 1]) >= 0 &&
                       hex((unsigned char)out[i + 2]) >= 0);
            i += 2;
        } else {
            /* Never '?', '#', '\\', a blank, a control or a non-ASCII byte. */
            FUZZ_CHECK(path_char(c));
        }
    }
    /* Decoding (as a path: '+' stays, "%00" allowed) gives back the input exactly. */
    long back = das_pct_decode(out, n, 0);
    FUZZ_CHECK(back == (long)size);
    FUZZ_CHECK(size == 0 || memcmp(out, data, size) == 0);
    free(out);
}

static bool blank(char c)
{
    return c == ' ' || c == '\t';
}

static void fuzz_cookies(const uint8_t *data, size_t size)
{
    char *header = fuzz_cstr(data, size);
    size_t len = strlen(header);
    const char *p = header;
    das_cookie_t c;
    size_t rounds = 0;
    for (;;) {
        const char *before = p;
        bool more = das_cookie_next(&p, &c);
        FUZZ_CHECK(p >= before && p <= header + len);
        if (!more) {
            FUZZ_CHECK(*p == '\0');
            break;
        }
        FUZZ_CHECK(p > before);
        FUZZ_CHECK(++rounds <= len);
        FUZZ_CHECK(c.name_len > 0);
        FUZZ_CHECK(fuzz_within(c.name, c.name_len, header, len));
        FUZZ_CHECK(fuzz_within(c.value, c.value_len, header, len));
        FUZZ_CHECK(c.name >= before && c.value + c.value_len <= p);
        FUZZ_CHECK(!memchr(c.name, '=', c.name_len) && !memchr(c.name, ';', c.name_len));
        FUZZ_CHECK(!memchr(c.value, ';', c.value_len));
        FUZZ_CHECK(!blank(c.name[0]) && !blank(c.name[c.name_len - 1]));
    }
    free(header);
}

/* What das_path_normalize must report: the segments of the path as given. */
static int model_path_flags(const char *path)
{
    const char *s = path[0] == '/' ? path + 1 : path;
    if (!*s)
        return 0; /* "" and "/" have no segment */
    int met = 0;
    for (;;) {
        const char *end = strchr(s, '/');
        size_t n = end ? (size_t)(end - s) : strlen(s);
        if (n == 0)
            met |= DAS_PATH_HAD_EMPTY;
        else if (n == 1 && s[0] == '.')
            met |= DAS_PATH_HAD_DOT;
        else if (n == 2 && s[0] == '.' && s[1] == '.')
            met |= DAS_PATH_HAD_DOTDOT;
        if (!end)
            return met;
        s = end + 1;
    }
}

/* Checks that the normalized `out` has no "." or ".." segment (nor, with `drop_empty`, an
 * empty one, a trailing '/' included). */
static void check_segments(const char *out, bool drop_empty)
{
    const char *s = out[0] == '/' ? out + 1 : out;
    if (!*s)
        return;
    for (;;) {
        const char *end = strchr(s, '/');
        size_t n = end ? (size_t)(end - s) : strlen(s);
        FUZZ_CHECK(!(n == 1 && s[0] == '.'));
        FUZZ_CHECK(!(n == 2 && s[0] == '.' && s[1] == '.'));
        if (drop_empty)
            FUZZ_CHECK(n > 0);
        if (!end)
            return;
        s = end + 1;
    }
}

static void fuzz_path_normalize(const uint8_t *data, size_t size)
{
    char *orig = fuzz_cstr(data, size);
    for (int drop = 0; drop < 2; drop++) {
        char *path = strdup(orig);
        int met = das_path_normalize(path, drop);
        FUZZ_CHECK(met == model_path_flags(orig));
        FUZZ_CHECK(strlen(path) <= strlen(orig));
        FUZZ_CHECK((orig[0] == '/') == (path[0] == '/'));
        FUZZ_CHECK(strncmp(path, "../", 3) != 0 && strcmp(path, "..") != 0);
        check_segments(path, drop);
        /* Normalizing again changes nothing and meets no dot segment. */
        char *again = strdup(path);
        int met2 = das_path_normalize(again, drop);
        FUZZ_CHECK(strcmp(again, path) == 0);
        FUZZ_CHECK(!(met2 & (DAS_PATH_HAD_DOT | DAS_PATH_HAD_DOTDOT)));
        if (drop)
            FUZZ_CHECK(met2 == 0);
        free(again);
        free(path);
    }
    free(orig);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_pct_decode(data, size);
    fuzz_pct_encode_path(data, size);
    fuzz_cookies(data, size);
    fuzz_path_normalize(data, size);
    return 0;
}
