/* soak.c - the soak test's own handlers (bench/soak): /version answers SOAK_VERSION, which
 * bench/soak rewrites in its copy of this file to make the server rebuild and reload; /log
 * writes app log lines; /crash kills its instance with SIGSEGV on purpose. */
#include <appengine/appengine.h>
#include <appengine/log.h>
#include <signal.h>
#include <stdlib.h>

#define SOAK_VERSION "soak-version-0"

static void version(ae_request_t *rq, ae_response_t *rs)
{
    (void)rq;
    ae_response_set_header(rs, "Content-Type", "text/plain");
    ae_response_puts(rs, SOAK_VERSION "\n");
}

static void log_lines(ae_request_t *rq, ae_response_t *rs)
{
    const char *n_param = ae_request_param(rq, "n");
    int n = n_param ? atoi(n_param) : 3;
    if (n < 0 || n > 100)
        n = 3;
    for (int i = 0; i < n; i++)
        ae_log_info(rq, "soak log line %d of %d from %s", i + 1, n, SOAK_VERSION);
    ae_response_set_header(rs, "Content-Type", "text/plain");
    ae_response_printf(rs, "logged %d\n", n);
}

static void crash(ae_request_t *rq, ae_response_t *rs)
{
    (void)rq;
    (void)rs;
    raise(SIGSEGV);
}

AE_APP(app, {"/version", version}, {"/log", log_lines}, {"/crash", crash});
