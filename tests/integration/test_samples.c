/* test_samples.c - the guestbook sample works as its README promises: static files from the
 * server, an entry posted to /sign shows up on /, and bad input gets a clear status. Its
 * datastore behaviour (pages, cursors, restarts) is in test_datastore.c. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "harness.h"

TEST(test_guestbook_signing_adds_an_entry)
{
    harness_server_t s;
    CHECK_OK(harness_start(&s, harness_sample("guestbook"), NULL));
    harness_response_t r;
    const char *form[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    const char *body = "content=hello+%3Cworld%3E";
    CHECK_OK(harness_request(&s, "POST", "/sign", form, body, strlen(body), &r));
    CHECK_EQ(r.status, 303);
    char v[64];
    CHECK(harness_header(&r, "Location", v, sizeof v));
    CHECK_STR_EQ(v, "/?guestbook_name=default_guestbook");
    harness_response_dispose(&r);
    CHECK_OK(harness_get(&s, "/", &r));
    CHECK_EQ(r.status, 200);
    CHECK_STR_CONTAINS(r.body, "<li><b>anonymous</b> wrote: hello &lt;world&gt;</li>");
    harness_response_dispose(&r);
    CHECK_OK(harness_request(&s, "POST", "/sign", form, "content=", 8, &r));
    CHECK_EQ(r.status, 400);
    harness_response_dispose(&r);
    CHECK_OK(harness_get(&s, "/sign", &r));
    CHECK_EQ(r.status, 405);
    harness_response_dispose(&r);
    CHECK_EQ(harness_stop(&s), 0);
}

TEST(test_guestbook_static_files_come_from_the_server)
{
    harness_server_t s;
    CHECK_OK(harness_start(&s, harness_sample("guestbook"), NULL));
    harness_response_t r;
    CHECK_OK(harness_get(&s, "/static/style.css", &r));
    CHECK_EQ(r.status, 200);
    char v[64];
    CHECK(harness_header(&r, "Content-Type", v, sizeof v));
    CHECK_STR_EQ(v, "text/css");
    CHECK(harness_header(&r, "Cache-Control", v, sizeof v));
    CHECK_STR_EQ(v, "public, max-age=600");
    CHECK_STR_CONTAINS(r.body, "font-family");
    harness_response_dispose(&r);
    CHECK_OK(harness_get(&s, "/favicon.ico", &r));
    CHECK_EQ(r.status, 200);
    CHECK_EQ(r.len, 4);
    harness_response_dispose(&r);
    CHECK_EQ(harness_stop(&s), 0);
}

CHECK_MAIN()
