/* slow.c - loads slowly; GET /pid answers the instance's process id. */
#include <appengine/appengine.h>
#include <time.h>
#include <unistd.h>

__attribute__((constructor)) static void load_slowly(void)
{
    struct timespec ts = {1, 500 * 1000000};
    nanosleep(&ts, NULL);
}

static void pid(ae_request_t *rq, ae_response_t *rs)
{
    (void)rq;
    ae_response_printf(rs, "%ld", (long)getpid());
}

AE_APP(app, {"/pid", pid});
