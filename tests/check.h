/* check.h - the tiny assertion and registration macros every test binary uses.
 *
 * A test file defines tests with TEST(name) { ... } and ends with CHECK_MAIN(). The binary runs
 * every test (or only the one named in argv[1]), prints TAP ("ok 1 - name" / "not ok ..."), and
 * exits 0 when all passed, 1 when one failed, 77 when every test skipped (ctest SKIP_RETURN_CODE).
 * A failed CHECK prints file:line and both values, and ends the current test.
 */
#ifndef DAS_CHECK_H
#define DAS_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct check_test {
    const char *name;
    void (*fn)(int *failed, int *skipped);
    struct check_test *next;
} check_test_t;

static check_test_t *check_tests_head, **check_tests_tail = &check_tests_head;

#define TEST(name)                                                                             \
    static void name(int *check_failed_, int *check_skipped_);                                 \
    __attribute__((constructor)) static void check_register_##name(void)                       \
    {                                                                                          \
        static check_test_t t = {#name, name, NULL};                                           \
        *check_tests_tail = &t;                                                                \
        check_tests_tail = &t.next;                                                            \
    }                                                                                          \
    static void name(int *check_failed_, int *check_skipped_)

#define CHECK_FAIL_(...)                                                                       \
    do {                                                                                       \
        fprintf(stdout, "#   %s:%d: ", __FILE__, __LINE__);                                    \
        fprintf(stdout, __VA_ARGS__);                                                          \
        fputc('\n', stdout);                                                                   \
        *check_failed_ = 1;                                                                    \
        return;                                                                                \
    } while (0)

#define CHECK(cond)                                                                            \
    do {                                                                                       \
        if (!(cond))                                                                           \
            CHECK_FAIL_("CHECK(%s) failed", #cond);                                            \
    } while (0)

#define CHECK_EQ(a, b)                                                                         \
    do {                                                                                       \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);                        \
        if (check_a_ != check_b_)                                                              \
            CHECK_FAIL_("%s == %s: %lld != %lld", #a, #b, check_a_, check_b_);                 \
    } while (0)

#define CHECK_STR_EQ(a, b)                                                                     \
    do {                                                                                       \
        const char *check_a_ = (a), *check_b_ = (b);                                           \
        if (!check_a_ || !check_b_ || strcmp(check_a_, check_b_) != 0)                         \
            CHECK_FAIL_("%s == %s: \"%s\" != \"%s\"", #a, #b, check_a_ ? check_a_ : "(null)",  \
                        check_b_ ? check_b_ : "(null)");                                       \
    } while (0)

#define CHECK_STR_CONTAINS(hay, needle)                                                        \
    do {                                                                                       \
        const char *check_h_ = (hay), *check_n_ = (needle);                                    \
        if (!check_h_ || !strstr(check_h_, check_n_))                                          \
            CHECK_FAIL_("%s contains \"%s\": got \"%s\"", #hay, check_n_,                      \
                        check_h_ ? check_h_ : "(null)");                                       \
    } while (0)

#define CHECK_OK(rc)                                                                           \
    do {                                                                                       \
        long long check_rc_ = (long long)(rc);                                                 \
        if (check_rc_ != 0)                                                                    \
            CHECK_FAIL_("%s returned %lld, expected 0", #rc, check_rc_);                       \
    } while (0)

#define SKIP(why)                                                                              \
    do {                                                                                       \
        fprintf(stdout, "#   skipped: %s\n", why);                                             \
        *check_skipped_ = 1;                                                                   \
        return;                                                                                \
    } while (0)

#define CHECK_MAIN()                                                                           \
    int main(int argc, char **argv)                                                            \
    {                                                                                          \
        int n = 0, failed = 0, skipped = 0, ran = 0;                                           \
        for (check_test_t *t = check_tests_head; t; t = t->next)                               \
            if (argc < 2 || strcmp(argv[1], t->name) == 0)                                     \
                n++;                                                                           \
        printf("1..%d\n", n);                                                                  \
        for (check_test_t *t = check_tests_head; t; t = t->next) {                             \
            if (argc >= 2 && strcmp(argv[1], t->name) != 0)                                    \
                continue;                                                                      \
            int f = 0, s = 0;                                                                  \
            fflush(stdout);                                                                    \
            t->fn(&f, &s);                                                                     \
            ran++;                                                                             \
            failed += f;                                                                       \
            skipped += s && !f;                                                                \
            printf("%s %d - %s%s\n", f ? "not ok" : "ok", ran, t->name, s && !f ? " # SKIP" : ""); \
            fflush(stdout);                                                                    \
        }                                                                                      \
        if (n == 0) {                                                                          \
            fprintf(stderr, "no test named %s\n", argc >= 2 ? argv[1] : "");                   \
            return 1;                                                                          \
        }                                                                                      \
        if (failed)                                                                            \
            return 1;                                                                          \
        return skipped == ran ? 77 : 0;                                                        \
    }

#endif
