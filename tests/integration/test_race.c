/* test_race.c - `serve --race-detector`: a global `count++` hit by two sequential requests (on
 * rotating slots) yields a ThreadSanitizer report and a log line naming its source line;
 * without the flag there is none; a compiler other than GCC, or another dispatch policy, is
 * refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "itest.h"

/* A sanitized devappserver refuses the flag (one process cannot hold two sanitizers). */
static bool refused_by_this_build(const char *log)
{
    return strstr(log, "it is built with a sanitizer") != NULL;
}

TEST(test_race_detector_reports_a_global_count_naming_its_line)
{
    NEED_OWN_SERVER();
    char dir[256];
    harness_tmpdir(dir, sizeof dir);
    const char *const probe[] = {"--race-detector", "--port", "0", "--storage-path", dir,
                                 harness_app("echo"), NULL};
    char *out = NULL;
    harness_run_until_listening(probe, &out);
    bool refused = refused_by_this_build(out);
    free(out);
    harness_remove_tree(dir);
    if (refused)
        SKIP("this devappserver is built with a sanitizer");
    harness_server_t s;
    const char *const args[] = {"--race-detector", NULL};
    CHECK_OK(harness_start(&s, harness_app("echo"), args));
    char body[64];
    CHECK_EQ(harness_get_text(&s, "/count", body, sizeof body), 200);
    CHECK_EQ(harness_get_text(&s, "/count", body, sizeof body), 200);
    CHECK_EQ(harness_get_text(&s, "/count", body, sizeof body), 200);
    CHECK_LOG_CONTAINS(&s, "WARNING: ThreadSanitizer: data race");
    CHECK_LOG_CONTAINS(&s, "ThreadSanitizer: data race between echo.c:32 and echo.c:32");
    CHECK_EQ(harness_stop(&s), 0);
}

SERVER_TEST(test_race_without_the_flag_there_is_no_report, harness_app("echo"), NULL)
{
    (void)check_skipped_;
    char body[64];
    CHECK_EQ(harness_get_text(s, "/count", body, sizeof body), 200);
    CHECK_EQ(harness_get_text(s, "/count", body, sizeof body), 200);
    char *log = harness_log(s);
    CHECK(strstr(log, "ThreadSanitizer") == NULL);
    free(log);
}

TEST(test_race_detector_is_refused_with_another_compiler_or_policy)
{
    char dir[256], cc[300];
    harness_tmpdir(dir, sizeof dir);
    /* A compiler that says it is clang and does not know -dumpspecs, as clang does. */
    snprintf(cc, sizeof cc, "%s/clang", dir);
    CHECK_OK(harness_write_file(cc, "#!/bin/sh\n"
                                    "[ \"$1\" = --version ] && echo 'Debian clang version 14.0.6' "
                                    "&& exit 0\nexit 1\n"));
    chmod(cc, 0755);
    setenv("CC", cc, 1);
    const char *const args[] = {"--race-detector", "--port", "0", "--storage-path", dir,
                                harness_app("echo"), NULL};
    char *out = NULL;
    int rc = harness_run(args, &out);
    unsetenv("CC");
    CHECK_EQ(rc, 1);
    if (!refused_by_this_build(out))
        CHECK_STR_CONTAINS(out, "--race-detector needs GCC");
    free(out);
    const char *const serial[] = {"--race-detector", "--dispatch", "serial",
                                  harness_app("echo"), NULL};
    rc = harness_run(serial, &out);
    CHECK_EQ(rc, 2);
    CHECK_STR_CONTAINS(out, "--race-detector works under concurrent dispatch only");
    free(out);
    harness_remove_tree(dir);
}

CHECK_MAIN()
