/* scope.c - handlers for the services-core tests. */
#include <appengine/apiproxy.h>
#include <appengine/log.h>
#include <appengine/memcache.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* GET /raw?service=S&method=M&body=B: one call by name; answers "<status name>|<last error>|<pid>". */
static void raw(ae_request_t *rq, ae_response_t *rs)
{
    const char *service = ae_request_param(rq, "service");
    const char *method = ae_request_param(rq, "method");
    const char *body = ae_request_param(rq, "body");
    int rc = ae_apiproxy_call(rq, service ? service : "", method ? method : "", body ? body : "",
                              body ? strlen(body) : 0, NULL, NULL);
    const char *err = ae_request_last_error(rq);
    ae_response_printf(rs, "%s|%s|%ld", ae_strerror(rc), err ? err : "(none)", (long)getpid());
}

/* GET /pid */
static void pid(ae_request_t *rq, ae_response_t *rs)
{
    (void)rq;
    ae_response_printf(rs, "%ld", (long)getpid());
}

/* GET /toolarge: a memcache value one byte over the limit. */
static void toolarge(ae_request_t *rq, ae_response_t *rs)
{
    size_t n = AE_MEMCACHE_MAX_VALUE + 1;
    char *v = ae_request_alloc(rq, n);
    memset(v, 'v', n);
    int rc = ae_memcache_set(rq, "big", v, n, 0, 0);
    const char *err = ae_request_last_error(rq);
    ae_response_printf(rs, "%s|%s", ae_strerror(rc), err ? err : "(none)");
}

/* GET /log?n=N: N info lines, one warning, one debug line. */
static void logs(ae_request_t *rq, ae_response_t *rs)
{
    const char *n = ae_request_param(rq, "n");
    int lines = n ? atoi(n) : 1;
    for (int i = 0; i < lines; i++)
        ae_log_info(rq, "info line %d", i);
    ae_log_warning(rq, "a warning from the app");
    ae_log_debug(rq, "a debug line from the app");
    ae_response_puts(rs, ae_request_env(rq, "REQUEST_LOG_ID"));
}

/* GET /ok: a memcache call, then a normal return. */
static void ok(ae_request_t *rq, ae_response_t *rs)
{
    uint64_t zero = 0, v = 0;
    ae_memcache_incr(rq, "ok-count", 1, &zero, &v);
    ae_response_printf(rs, "ok %llu", (unsigned long long)v);
}

/* GET /crash: a memcache call, then SIGSEGV. */
static void crash(ae_request_t *rq, ae_response_t *rs)
{
    (void)rs;
    uint64_t zero = 0, v;
    ae_memcache_incr(rq, "crash-count", 1, &zero, &v);
    raise(SIGSEGV);
}

/* GET /sleep?ms=N */
static void sleep_ms(ae_request_t *rq, ae_response_t *rs)
{
    const char *ms = ae_request_param(rq, "ms");
    long n = ms ? atol(ms) : 100;
    struct timespec ts = {n / 1000, (n % 1000) * 1000000};
    nanosleep(&ts, NULL);
    ae_response_printf(rs, "slept %ld ms", n);
}

AE_APP(app, {"/raw", raw}, {"/pid", pid}, {"/toolarge", toolarge}, {"/log", logs}, {"/ok", ok},
       {"/crash", crash}, {"/sleep", sleep_ms});
