/* test_helloworld.c - the quick start works: samples/helloworld answers "Hello, World!" with
 * the platform's default headers, prints its start-up line, and shuts down cleanly. */
#include <stdlib.h>

#include "check.h"
#include "harness.h"

TEST(test_helloworld_says_hello_and_stops_cleanly)
{
    harness_server_t s;
    CHECK_OK(harness_start(&s, harness_sample("helloworld"), NULL));
    harness_response_t r;
    CHECK_OK(harness_get(&s, "/", &r));
    CHECK_EQ(r.status, 200);
    CHECK_STR_EQ(r.body, "Hello, World!\n");
    char v[128];
    CHECK(harness_header(&r, "Server", v, sizeof v));
    CHECK_STR_EQ(v, "Development/2.0");
    CHECK(harness_header(&r, "Cache-Control", v, sizeof v));
    CHECK_STR_EQ(v, "no-cache");
    CHECK(harness_header(&r, "Expires", v, sizeof v));
    CHECK_STR_EQ(v, "Fri, 01 Jan 1990 00:00:00 GMT");
    harness_response_dispose(&r);
    char *log = harness_log(&s);
    CHECK_STR_CONTAINS(log, "serving dev~helloworld");
    CHECK_STR_CONTAINS(log, "concurrent dispatch");
    free(log);
    CHECK_EQ(harness_stop(&s), 0);
}

CHECK_MAIN()
