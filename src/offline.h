/* offline.h - requests without a socket, for replay and explore: each goes through the same
 * front end as HTTP (routing, login, headers, environment) by das_server_handle.
 *
 * das_offline_send() sends one and waits for its answer. A batch (das_offline_batch_*) is the
 * requests of a scripted deterministic run: the driver asks for each when the run reaches its
 * arrival step (the das_det_script_t the batch fills in), a thread of its own sends it, and
 * das_offline_batch_wait() returns once every request that arrived has its answer and either
 * all arrived or the run stopped early.
 */
#ifndef DAS_OFFLINE_H
#define DAS_OFFLINE_H

#include "server.h"
#include "trace.h"

typedef struct {
    int status; /* -1: it never ran (the run stopped before it arrived) */
    char *body;
    size_t len;
} das_offline_response_t;

/* `rq->user` (when not "") logs the request in, as the login cookie would. */
void das_offline_send(das_server_t *s, const das_trace_request_t *rq,
                      das_offline_response_t *out);
void das_offline_response_dispose(das_offline_response_t *r);

typedef struct das_offline_batch das_offline_batch_t;

/* `requests` are borrowed for the batch's life; it starts a thread per request, reused by
 * every run. */
das_offline_batch_t *das_offline_batch_create(const das_trace_request_t *requests, size_t n);
/* Before a run: forgets the last run's answers and fills `script` (arrivals borrowed) for the
 * server's options (das_server_options_t.script). `s` may be NULL until the server exists:
 * das_offline_batch_attach() then names it, before the run's first step. */
void das_offline_batch_begin(das_offline_batch_t *b, das_server_t *s, const uint64_t *arrivals,
                             das_det_script_t *script);
void das_offline_batch_attach(das_offline_batch_t *b, das_server_t *s);
/* Waits until every request that arrived has its answer, and either all arrived or the run
 * stopped early. */
void das_offline_batch_wait(das_offline_batch_t *b, das_det_t *det);
const das_offline_response_t *das_offline_batch_response(const das_offline_batch_t *b,
                                                         size_t i);
void das_offline_batch_destroy(das_offline_batch_t *b); /* after a wait; NULL ok */

#endif
