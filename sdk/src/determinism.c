/* determinism.c - the SDK's time, randomness, yields and checks (appengine/appengine.h), and
 * what makes them replayable under deterministic dispatch.
 *
 * Under deterministic dispatch a request carries the virtual time of its start step and a
 * random stream (seed, stream) in its REQUEST frame; every REPLY brings the virtual time of the
 * step that released it. Time is read from there, random bytes from the stream, and a yield or
 * a check failure is a call to the scheduler itself (service "devappserver"). Otherwise time
 * and randomness are the system's and a yield costs nothing.
 */
#include <appengine/appengine.h>
#include <appengine/log.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unwind.h>

#include "sdk_internal.h"

void ae__request_virtual(ae_request_t *rq)
{
    rq->virtual_now_ns = rq->wire.virtual_now_ns;
    das_prng_init(&rq->prng, rq->wire.random_seed, rq->wire.random_stream);
}

/* The unwinder's walk up the stack, stopping at the first frame in the app. */
typedef struct {
    uintptr_t lo, hi; /* the app's object */
    uintptr_t found;
} site_walk_t;

static _Unwind_Reason_Code site_frame(struct _Unwind_Context *ctx, void *arg)
{
    site_walk_t *w = arg;
    uintptr_t ip = _Unwind_GetIP(ctx);
    if (ip >= w->lo && ip < w->hi) {
        w->found = ip;
        return _URC_END_OF_STACK;
    }
    return _URC_NO_REASON;
}

uint64_t ae__call_site(const ae_request_t *rq)
{
    site_walk_t w = {(uintptr_t)rq->app_base, (uintptr_t)rq->app_end, 0};
    if (w.hi <= w.lo)
        return 0;
    _Unwind_Backtrace(site_frame, &w);
    return w.found ? (uint64_t)(w.found - w.lo) : 0;
}

int64_t ae_time_now_ns(const ae_request_t *rq)
{
    if (rq && rq->virtual_now_ns)
        return rq->virtual_now_ns;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void ae_random_bytes(ae_request_t *rq, void *buf, size_t n)
{
    if (rq && rq->virtual_now_ns) {
        das_prng_fill(&rq->prng, buf, n);
        return;
    }
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got <= 0)
            continue; /* EINTR; getrandom never fails otherwise once the pool is ready */
        p += got;
        n -= (size_t)got;
    }
}

int ae__scheduler_call(ae_request_t *rq, const char *method, const das_rpc_buf_t *body,
                       uint32_t *reply_u32)
{
    ae__call_t c;
    das_rpc_buf_t *out = ae__call_begin(rq, &c, "devappserver", method);
    das_rpc_put_raw(out, body->data, body->len);
    int rc = ae__call_send(rq, &c);
    if (rc == AE_OK && reply_u32) {
        das_rpc_reader_t r;
        das_rpc_reader_init(&r, c.reply, c.reply_len);
        *reply_u32 = das_rpc_get_u32(&r);
    }
    ae__call_dispose(&c);
    return rc;
}

int ae__sleep(ae_request_t *rq, int64_t ns)
{
    das_rpc_buf_t body = {0};
    das_rpc_put_i64(&body, ns);
    int rc = ae__scheduler_call(rq, "Sleep", &body, NULL);
    das_rpc_buf_dispose(&body);
    return rc;
}

int ae_yield(ae_request_t *rq)
{
    if (!rq || !rq->virtual_now_ns)
        return AE_OK;
    return ae__sleep(rq, 0);
}

void ae__check_failed(ae_request_t *rq, const char *file, int line, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *slash = strrchr(file, '/');
    ae_log(rq, AE_LOG_ERROR, "%s:%d: %s (request %s %s)", slash ? slash + 1 : file, line, msg,
           ae_request_method(rq), ae_request_path(rq));
    if (rq->virtual_now_ns) {
        das_rpc_buf_t body = {0};
        das_rpc_put_str(&body, msg);
        ae__scheduler_call(rq, "CheckFailed", &body, NULL);
        das_rpc_buf_dispose(&body);
    }
}
