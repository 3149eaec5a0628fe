/* maxconc.c - /sleep?ms=N sleeps and prints "slept N ms in PID"; /pid prints the PID. */
#include <appengine/appengine.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(ae_request_t *rq, ae_response_t *rs)
{
    const char *ms = ae_request_param(rq, "ms");
    long n = ms ? atol(ms) : 100;
    struct timespec ts = {n / 1000, (n % 1000) * 1000000};
    nanosleep(&ts, NULL);
    ae_response_printf(rs, "slept %ld ms in %ld", n, (long)getpid());
}

static void pid(ae_request_t *rq, ae_response_t *rs)
{
    (void)rq;
    ae_response_printf(rs, "%ld", (long)getpid());
}

AE_APP(app, {"/sleep", sleep_ms}, {"/pid", pid});
