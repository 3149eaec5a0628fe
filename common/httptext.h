/* httptext.h - the small text helpers of HTTP that both sides need, in one place: percent-
 * decoding, Cookie headers, and path normalization. The server (front end, login, static
 * files) and the SDK (request parameters, cookies) use these same functions, so a request
 * reads the same on both sides. A leaf: no dependencies.
 */
#ifndef DAS_HTTPTEXT_H
#define DAS_HTTPTEXT_H

#include <stdbool.h>
#include <stddef.h>

enum {
    DAS_PCT_PLUS = 1,   /* '+' is a space (a query or form field; never a path) */
    DAS_PCT_NO_NUL = 2, /* "%00" is refused */
};

/* Decodes the %XX escapes of the `len` bytes at `s` in place, and writes a NUL after the
 * result. A '%' not followed by two hex digits stays as it is ("%zz", "%-1", "%2" at the
 * end). Returns the decoded length, or -1 for "%00" under DAS_PCT_NO_NUL (`s` is then
 * unspecified). Without it a "%00" becomes a NUL byte inside the result. */
long das_pct_decode(char *s, size_t len, int flags);

/* Percent-encodes the `len` bytes of a decoded path at `in` into `out` (at least 3 * len + 1
 * bytes), NUL-terminated: '/' and the characters RFC 3986 allows in a path segment stay, every
 * other byte (controls, space, '\\', '?', '#', '%', non-ASCII) becomes %XX. What comes out can
 * only name a path: never another host, never a query. */
void das_pct_encode_path(const char *in, size_t len, char *out);

/* One cookie of a Cookie header: borrowed spans of the header. */
typedef struct {
    const char *name;
    size_t name_len;
    const char *value; /* without surrounding spaces or double quotes; may be empty */
    size_t value_len;
} das_cookie_t;

/* Reads the next cookie of the header text at `*p` ("a=1; b=2") and moves `*p` past it.
 * Returns false at the end. Pieces without '=' or with an empty name are skipped; spaces
 * around names and values are dropped, and a value in double quotes loses them. */
bool das_cookie_next(const char **p, das_cookie_t *c);

/* Rewrites the path `path` in place without "." and ".." segments ("/a/./b/../c" is "/a/c"):
 * ".." removes the segment before it and never goes above the start. A leading '/' is kept,
 * and a path that ended in "." or ".." ends in '/'. With `drop_empty`, empty segments ("a//b")
 * go too, and so does a trailing '/'. Returns what it met: a bit set of the flags below. */
enum {
    DAS_PATH_HAD_DOT = 1,    /* a "." segment */
    DAS_PATH_HAD_DOTDOT = 2, /* a ".." segment */
    DAS_PATH_HAD_EMPTY = 4,  /* an empty segment ("a//b", a trailing '/'); not a leading '/' */
};
int das_path_normalize(char *path, bool drop_empty);

#endif
