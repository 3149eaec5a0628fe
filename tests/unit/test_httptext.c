/* test_httptext.c - the one percent-decoder, cookie parser and path normalizer that the
 * server and the SDK share: the edge cases where three copies used to disagree. */
#include "check.h"
#include "httptext.h"

/* Decodes `in` with `flags` into `out` (at most 63 bytes); returns the decoder's result. */
static long decode(const char *in, int flags, char *out)
{
    snprintf(out, 64, "%s", in);
    return das_pct_decode(out, strlen(out), flags);
}

TEST(test_pct_decodes_escapes_in_either_case)
{
    char b[64];
    CHECK_EQ(decode("a%20b%2fc%2F", 0, b), 6);
    CHECK_STR_EQ(b, "a b/c/");
}

TEST(test_pct_nul_is_refused_where_asked_and_kept_as_a_byte_otherwise)
{
    char b[64];
    CHECK_EQ(decode("/a%00b", DAS_PCT_NO_NUL, b), -1);
    CHECK_EQ(decode("a%00b", 0, b), 3);
    CHECK_EQ(b[0], 'a');
    CHECK_EQ(b[1], '\0');
    CHECK_EQ(b[2], 'b');
}

TEST(test_pct_bad_escapes_stay_as_they_are)
{
    char b[64];
    CHECK_EQ(decode("%zz", 0, b), 3);
    CHECK_STR_EQ(b, "%zz");
    /* sscanf("%2x") once read "%-1" as 0xFF. */
    CHECK_EQ(decode("%-1", 0, b), 3);
    CHECK_STR_EQ(b, "%-1");
    CHECK_EQ(decode("x%2", 0, b), 3);
    CHECK_STR_EQ(b, "x%2");
    CHECK_EQ(decode("%", 0, b), 1);
    CHECK_STR_EQ(b, "%");
    CHECK_EQ(decode("%4", DAS_PCT_NO_NUL, b), 2);
    CHECK_STR_EQ(b, "%4");
}

TEST(test_pct_plus_is_a_space_only_in_queries)
{
    char b[64];
    decode("a+b%2B", DAS_PCT_PLUS, b);
    CHECK_STR_EQ(b, "a b+");
    decode("a+b%2B", 0, b);
    CHECK_STR_EQ(b, "a+b+");
}

TEST(test_pct_encode_path_leaves_only_a_path)
{
    char out[64];
    das_pct_encode_path("/\\evil.example/x", 16, out);
    CHECK_STR_EQ(out, "/%5Cevil.example/x");
    das_pct_encode_path("/\t/evil.example", 15, out);
    CHECK_STR_EQ(out, "/%09/evil.example");
    das_pct_encode_path("/b?c=1#f %", 10, out);
    CHECK_STR_EQ(out, "/b%3Fc=1%23f%20%25");
    das_pct_encode_path("/caf\xc3\xa9/a-b_c.d~e", 16, out);
    CHECK_STR_EQ(out, "/caf%C3%A9/a-b_c.d~e");
    /* Decoding it gives the path back. */
    char back[64];
    snprintf(back, sizeof back, "%s", out);
    das_pct_decode(back, strlen(back), 0);
    CHECK_STR_EQ(back, "/caf\xc3\xa9/a-b_c.d~e");
}

/* The cookies of `header` as "name=value|" pairs. */
static void cookies(const char *header, char *out, size_t cap)
{
    out[0] = '\0';
    das_cookie_t c;
    size_t n = 0;
    for (const char *p = header; das_cookie_next(&p, &c);)
        n += (size_t)snprintf(out + n, cap - n, "%.*s=%.*s|", (int)c.name_len, c.name,
                              (int)c.value_len, c.value);
}

TEST(test_cookies_split_trim_and_unquote)
{
    char b[256];
    cookies("a=1; b=2;c=3", b, sizeof b);
    CHECK_STR_EQ(b, "a=1|b=2|c=3|");
    cookies("  sid = \"x y\" ;  theme=dark  ", b, sizeof b);
    CHECK_STR_EQ(b, "sid=x y|theme=dark|");
}

TEST(test_cookies_with_empty_names_are_skipped_and_empty_values_kept)
{
    char b[256];
    cookies("=orphan; a=; ;b=\"\"; noequals; c=d=e", b, sizeof b);
    CHECK_STR_EQ(b, "a=|b=|c=d=e|");
    cookies("", b, sizeof b);
    CHECK_STR_EQ(b, "");
    cookies(";;;", b, sizeof b);
    CHECK_STR_EQ(b, "");
}

/* Normalizes `in` into `out`; returns the flags. */
static int norm(const char *in, bool drop_empty, char *out)
{
    snprintf(out, 64, "%s", in);
    return das_path_normalize(out, drop_empty);
}

TEST(test_path_dot_segments_resolve_and_never_climb_above_the_root)
{
    char b[64];
    CHECK_EQ(norm("/a/./b/../c", false, b), DAS_PATH_HAD_DOT | DAS_PATH_HAD_DOTDOT);
    CHECK_STR_EQ(b, "/a/c");
    norm("/../../x", false, b);
    CHECK_STR_EQ(b, "/x");
    norm("/a/b/..", false, b);
    CHECK_STR_EQ(b, "/a/");
    norm("/a/.", false, b);
    CHECK_STR_EQ(b, "/a/");
    norm("/..", false, b);
    CHECK_STR_EQ(b, "/");
    CHECK_EQ(norm("/plain/path/", false, b), DAS_PATH_HAD_EMPTY); /* the trailing '/' */
    CHECK_STR_EQ(b, "/plain/path/");
    /* Dots inside names are names. */
    CHECK_EQ(norm("/a.b/..c/.d", false, b), 0);
    CHECK_STR_EQ(b, "/a.b/..c/.d");
}

TEST(test_path_empty_segments_kept_for_urls_dropped_for_files)
{
    char b[64];
    norm("/a//b/./c", false, b);
    CHECK_STR_EQ(b, "/a//b/c");
    norm("a//b/./c/", true, b);
    CHECK_STR_EQ(b, "a/b/c");
    CHECK_EQ(norm("css/../../etc/passwd", true, b) & DAS_PATH_HAD_DOTDOT, DAS_PATH_HAD_DOTDOT);
    norm("./x", true, b);
    CHECK_STR_EQ(b, "x");
    /* Empty segments are reported, in either mode; a path of just "/" or "" has none. */
    CHECK_EQ(norm("a//b", true, b), DAS_PATH_HAD_EMPTY);
    CHECK_EQ(norm("/a//b", false, b), DAS_PATH_HAD_EMPTY);
    CHECK_EQ(norm("a/", true, b), DAS_PATH_HAD_EMPTY);
    CHECK_EQ(norm("/", false, b), 0);
    CHECK_EQ(norm("", true, b), 0);
    CHECK_EQ(norm("/a/b", false, b), 0);
}

CHECK_MAIN()
