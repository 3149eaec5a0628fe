/* hello.c - the helloworld sample: every path answers "Hello, World!". */
#include <appengine/appengine.h>

static void hello(ae_request_t *rq, ae_response_t *rs)
{
    (void)rq;
    ae_response_set_header(rs, "Content-Type", "text/plain");
    ae_response_puts(rs, "Hello, World!\n");
}

/* `script: hello.app` in app.yaml names this table. */
AE_APP(app, {"*", hello});
