/* itest.h - what several integration tests share on top of check.h and harness.h: starting a
 * server of the test's own, tests that run against a server, and small helpers for the echo
 * app (tests/apps/echo).
 *
 * harness_start() keeps track of the servers it started, so a test that fails a CHECK with
 * its server running leaves nothing behind (see harness.h).
 */
#ifndef DAS_ITEST_H
#define DAS_ITEST_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "harness.h"

/* Skips the test when DAS_TEST_SERVER is set: a test that needs a server of its own (its
 * flags, its instances, its shutdown) cannot run against one started by hand. */
#define NEED_OWN_SERVER()                                                                      \
    do {                                                                                       \
        const char *ext_ = getenv("DAS_TEST_SERVER");                                          \
        if (ext_ && *ext_)                                                                     \
            SKIP("needs a server of its own (DAS_TEST_SERVER is set)");                        \
    } while (0)

/* Starts a server of the test's own on `appdir` with `args` (NULL-terminated, or NULL) into
 * `s`, failing the test when it does not start (and skipping it, see NEED_OWN_SERVER, when
 * DAS_TEST_SERVER is set). */
#define START(s, appdir, args)                                                                 \
    do {                                                                                       \
        NEED_OWN_SERVER();                                                                     \
        CHECK_OK(harness_start((s), (appdir), (args)));                                        \
    } while (0)

/* TEST(name) whose body runs against a server started on `appdir` with the arguments `...`
 * (NULL for none), as `s`, and which stops that server however the body ends: a failing check
 * leaves no server behind. The body may use SKIP; one that does not says
 * `(void)check_skipped_;`. */
#define SERVER_TEST(name, appdir, ...)                                                         \
    static void name##_body(const harness_server_t *s, int *check_failed_,                     \
                            int *check_skipped_);                                              \
    TEST(name)                                                                                 \
    {                                                                                          \
        const char *const server_args_[] = {__VA_ARGS__, NULL};                                \
        harness_server_t server_;                                                              \
        CHECK_OK(harness_start(&server_, (appdir), server_args_));                             \
        name##_body(&server_, check_failed_, check_skipped_);                                  \
        int stop_rc_ = harness_stop(&server_);                                                 \
        CHECK_EQ(stop_rc_, 0);                                                                 \
    }                                                                                          \
    static void name##_body(const harness_server_t *s, int *check_failed_, int *check_skipped_)

/* Checks that the log of the server `s` (a harness_server_t *) so far contains `needle`;
 * prints the log when it does not. */
#define CHECK_LOG_CONTAINS(s, needle)                                                          \
    do {                                                                                       \
        char *log_ = harness_log(s);                                                           \
        bool has_ = strstr(log_, (needle)) != NULL;                                            \
        if (!has_)                                                                             \
            fprintf(stdout, "#   the log:\n%s\n", log_);                                       \
        free(log_);                                                                            \
        if (!has_)                                                                             \
            CHECK_FAIL_("the log of %s contains \"%s\"", #s, (needle));                        \
    } while (0)

/* GET /pid of the echo app: the PID of the instance that answered, or -1. */
static inline long get_pid(const harness_server_t *s)
{
    char body[32];
    return harness_get_text(s, "/pid", body, sizeof body) == 200 ? atol(body) : -1;
}

/* One GET sent from a thread of its own: pthread_create(&t, NULL, req_main, &q) with
 * `req_t q = {.s = &s, .path = "/sleep?ms=1500"}`; after pthread_join, `rc` and `r` hold what
 * harness_get() returned (dispose of `r`), and `ended_ms` when (harness_now_ms). */
typedef struct {
    const harness_server_t *s;
    const char *path;
    harness_response_t r;
    int rc;
    long long ended_ms;
} req_t;

static inline void *req_main(void *arg)
{
    req_t *q = arg;
    q->rc = harness_get(q->s, q->path, &q->r);
    q->ended_ms = harness_now_ms();
    return NULL;
}

#endif
