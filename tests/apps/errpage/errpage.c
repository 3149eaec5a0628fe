/* errpage.c - /crash takes the instance down; anything else answers "fine". */
#include <appengine/appengine.h>
#include <signal.h>

static void crash(ae_request_t *rq, ae_response_t *rs)
{
    (void)rq;
    (void)rs;
    raise(SIGSEGV);
}

static void fine(ae_request_t *rq, ae_response_t *rs)
{
    (void)rq;
    ae_response_puts(rs, "fine");
}

AE_APP(app, {"/crash", crash}, {"*", fine});
