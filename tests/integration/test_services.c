/* test_services.c - the services core over the real binary: a bad call (unknown service or
 * method, a body its method cannot read) gets AE_EINVAL and a message and the instance lives;
 * the request's last error; app log lines in the server's log with their request. */
#include "itest.h"

#define APP harness_app("scope")

/* GET `path`; the body into `out`. Fails the test on a status other than 200. */
#define GET_OK(s, path, out)                                                                   \
    CHECK_EQ(harness_get_text((s), (path), (out), sizeof(out)), 200)

SERVER_TEST(test_bad_calls_get_einval_with_a_message_and_the_instance_lives, APP, "--log-level",
            "debug", "--dispatch", "serial", "--max-instances", "1")
{
    (void)check_skipped_;
    char pid[32], body[512], expect[512];
    GET_OK(s, "/pid", pid);
    GET_OK(s, "/raw?service=nosuchservice&method=Get&body=x", body);
    snprintf(expect, sizeof expect,
             "invalid argument|The API package 'nosuchservice' or call 'Get()' was not "
             "found.|%s",
             pid);
    CHECK_STR_EQ(body, expect);
    GET_OK(s, "/raw?service=memcache&method=Frobnicate", body);
    snprintf(expect, sizeof expect,
             "invalid argument|The API package 'memcache' or call 'Frobnicate()' was not "
             "found.|%s",
             pid);
    CHECK_STR_EQ(body, expect);
    /* A body cut short: the memcache module names the method, and answers no memcache reply. */
    GET_OK(s, "/raw?service=memcache&method=Set&body=abc", body);
    CHECK_STR_CONTAINS(body, "invalid argument|malformed memcache.Set() request (3 bytes)|");
    CHECK_STR_CONTAINS(body, pid);
    GET_OK(s, "/pid", body);
    CHECK_STR_EQ(body, pid); /* the same instance served it all */
    CHECK_LOG_CONTAINS(s, "call 1 memcache.Set() failed: malformed memcache.Set() request");
}

SERVER_TEST(test_last_error_names_a_memcache_value_over_the_limit, APP, NULL)
{
    (void)check_skipped_;
    char body[512];
    GET_OK(s, "/toolarge", body);
    CHECK_STR_EQ(body, "too large|Values may not be more than 1000000 bytes in length; received "
                       "1000001 bytes");
}

SERVER_TEST(test_app_log_lines_reach_the_server_log_with_their_request, APP, NULL)
{
    (void)check_skipped_;
    char id[128], line[256];
    GET_OK(s, "/log?n=3", id);
    CHECK(strlen(id) == 40);
    snprintf(line, sizeof line, "app [%s]: info line 2", id);
    CHECK_LOG_CONTAINS(s, line);
    snprintf(line, sizeof line, "app [%s]: a warning from the app", id);
    CHECK_LOG_CONTAINS(s, line);
    char *log = harness_log(s);
    bool debug_shown = strstr(log, "a debug line from the app") != NULL;
    free(log);
    CHECK(!debug_shown); /* --log-level info filters it */
}

SERVER_TEST(test_app_debug_lines_show_at_log_level_debug, APP, "--log-level", "debug")
{
    (void)check_skipped_;
    char id[128];
    GET_OK(s, "/log?n=10000", id);
    CHECK_LOG_CONTAINS(s, "a debug line from the app");
    CHECK_LOG_CONTAINS(s, "info line 9999");
}

CHECK_MAIN()
