/* hello.c - the one handler of tests/apps/a_nohandler. */
#include <appengine/appengine.h>

static void only(ae_request_t *rq, ae_response_t *rs)
{
    (void)rq;
    ae_response_set_header(rs, "Content-Type", "text/plain");
    ae_response_puts(rs, "only here");
}

AE_APP(app, {"*", only});
