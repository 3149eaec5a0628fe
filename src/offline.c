/* offline.c - requests without a socket (see offline.h). */
#include "offline.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "httptext.h"
#include "login.h"

void das_offline_send(das_server_t *s, const das_trace_request_t *rq,
                      das_offline_response_t *out)
{
    /* The request as the HTTP front end would have parsed it, with a Host of its own and, for
     * a user, the login cookie. */
    das_http_header_t *headers = das_xcalloc(rq->n_headers + 3, sizeof *headers);
    size_t n = 0;
    for (size_t i = 0; i < rq->n_headers; i++)
        headers[n++] = (das_http_header_t){(char *)rq->headers[i].name,
                                           (char *)rq->headers[i].value};
    headers[n++] = (das_http_header_t){"Host", "localhost"};
    char *cookie = NULL;
    if (rq->user && rq->user[0]) {
        cookie = das_login_set_cookie(rq->user, rq->admin);
        char *semi = strchr(cookie, ';');
        if (semi)
            *semi = '\0';
        headers[n++] = (das_http_header_t){"Cookie", cookie};
    }
    const char *q = strchr(rq->target, '?');
    size_t path_len = q ? (size_t)(q - rq->target) : strlen(rq->target);
    char *path = das_xstrndup(rq->target, path_len);
    if (das_pct_decode(path, path_len, DAS_PCT_NO_NUL) < 0)
        path[0] = '\0';
    das_http_request_t hr = {
        .method = rq->method,
        .raw_target = rq->target,
        .path = path,
        .query = q ? q + 1 : "",
        .version = "HTTP/1.1",
        .remote_addr = "127.0.0.1",
        .headers = headers,
        .n_headers = n,
        .body = rq->body ? rq->body : "",
        .body_len = rq->body_len,
    };
    das_http_response_t rs;
    das_http_response_init(&rs);
    das_server_handle(s, &hr, &rs);
    out->status = rs.status;
    out->len = rs.body.len;
    out->body = das_xstrndup(rs.body.data ? rs.body.data : "", rs.body.len);
    das_http_response_dispose(&rs);
    free(path);
    free(cookie);
    free(headers);
}

void das_offline_response_dispose(das_offline_response_t *r)
{
    free(r->body);
    r->body = NULL;
}

/* ---------------------------------------------------------------- batches */

/* One worker thread per request, made once and reused by every run: request i is sent by
 * worker i when the driver injects it (a run waits on its tasks' threads, so each request
 * needs a thread of its own; starting them anew for every schedule showed in profiles). */
/* A request's thread: woken by its own condition variable when the run asks for it. */
typedef struct {
    das_offline_batch_t *b;
    size_t i;
    pthread_cond_t cond;
    bool go;               /* injected and not yet sent; guarded by the batch's lock */
} worker_t;

struct das_offline_batch {
    const das_trace_request_t *requests;
    size_t n;
    pthread_mutex_t lock;
    pthread_cond_t answered; /* signalled when every injected request has its answer */
    das_server_t *server;    /* the run's; guarded by lock, as is everything below */
    worker_t *workers;
    bool stop;
    size_t injected, done;
    pthread_t *threads;
    das_offline_response_t *responses;
};

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    das_offline_batch_t *b = w->b;
    pthread_mutex_lock(&b->lock);
    for (;;) {
        while (!w->go && !b->stop)
            pthread_cond_wait(&w->cond, &b->lock);
        if (b->stop)
            break;
        w->go = false;
        das_server_t *s = b->server;
        pthread_mutex_unlock(&b->lock);
        das_offline_response_t r;
        das_offline_send(s, &b->requests[w->i], &r);
        pthread_mutex_lock(&b->lock);
        b->responses[w->i] = r;
        if (++b->done == b->injected)
            pthread_cond_signal(&b->answered);
    }
    pthread_mutex_unlock(&b->lock);
    return NULL;
}

static void inject(void *ctx, size_t i)
{
    das_offline_batch_t *b = ctx;
    pthread_mutex_lock(&b->lock);
    b->injected++;
    b->workers[i].go = true;
    pthread_cond_signal(&b->workers[i].cond);
    pthread_mutex_unlock(&b->lock);
}

das_offline_batch_t *das_offline_batch_create(const das_trace_request_t *requests, size_t n)
{
    das_offline_batch_t *b = das_xcalloc(1, sizeof *b);
    b->requests = requests;
    b->n = n;
    pthread_mutex_init(&b->lock, NULL);
    pthread_cond_init(&b->answered, NULL);
    b->workers = das_xcalloc(n + 1, sizeof *b->workers);
    b->threads = das_xcalloc(n + 1, sizeof *b->threads);
    b->responses = das_xcalloc(n + 1, sizeof *b->responses);
    for (size_t i = 0; i < n; i++) {
        worker_t *w = &b->workers[i];
        w->b = b;
        w->i = i;
        pthread_cond_init(&w->cond, NULL);
        if (pthread_create(&b->threads[i], NULL, worker_main, w) != 0)
            abort();
    }
    return b;
}

void das_offline_batch_begin(das_offline_batch_t *b, das_server_t *s, const uint64_t *arrivals,
                             das_det_script_t *script)
{
    pthread_mutex_lock(&b->lock);
    b->server = s;
    b->injected = b->done = 0;
    for (size_t i = 0; i < b->n; i++) {
        das_offline_response_dispose(&b->responses[i]);
        b->responses[i].status = -1;
        b->responses[i].len = 0;
    }
    pthread_mutex_unlock(&b->lock);
    *script = (das_det_script_t){
        .arrivals = arrivals, .n_arrivals = b->n, .inject = inject, .inject_ctx = b};
}

void das_offline_batch_attach(das_offline_batch_t *b, das_server_t *s)
{
    pthread_mutex_lock(&b->lock);
    b->server = s;
    pthread_mutex_unlock(&b->lock);
}

void das_offline_batch_wait(das_offline_batch_t *b, das_det_t *det)
{
    pthread_mutex_lock(&b->lock);
    for (;;) {
        if (b->done == b->injected && (b->injected == b->n || das_det_over(det)))
            break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&b->answered, &b->lock, &ts);
    }
    pthread_mutex_unlock(&b->lock);
}

const das_offline_response_t *das_offline_batch_response(const das_offline_batch_t *b, size_t i)
{
    return &b->responses[i];
}

void das_offline_batch_destroy(das_offline_batch_t *b)
{
    if (!b)
        return;
    pthread_mutex_lock(&b->lock);
    b->stop = true;
    for (size_t i = 0; i < b->n; i++)
        pthread_cond_signal(&b->workers[i].cond);
    pthread_mutex_unlock(&b->lock);
    for (size_t i = 0; i < b->n; i++)
        pthread_join(b->threads[i], NULL);
    for (size_t i = 0; i < b->n; i++) {
        das_offline_response_dispose(&b->responses[i]);
        pthread_cond_destroy(&b->workers[i].cond);
    }
    free(b->responses);
    free(b->threads);
    free(b->workers);
    pthread_cond_destroy(&b->answered);
    pthread_mutex_destroy(&b->lock);
    free(b);
}
