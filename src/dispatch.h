/* dispatch.h - decides which instance runs each request, and when.
 *
 * The dispatcher owns the pool of instances. das_dispatch_run() is the one path every request
 * to an app handler takes: it picks a free slot (or starts an instance, up to max_instances),
 * sends the request, waits for the answer within the request deadline, and handles crashes and
 * deadlines by retiring the instance. The server thus sees each request start and end in one
 * place; the deterministic policy (a later issue) will hold requests here and at service calls.
 *
 * Policies: serial gives each instance one slot; concurrent gives it `slots`; deterministic
 * lays instances out as threadsafe implies (the caller says how many slots) and, since its
 * requests run one at a time, takes slots without waiting and keeps each reply's wait out of
 * the request's deadline.
 * Picks are a total order: the busiest instance with a free slot, ties to the oldest.
 * Thread-safety: every function may be called from any thread; `lock` guards the pool.
 */
#ifndef DAS_DISPATCH_H
#define DAS_DISPATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "clock.h"
#include "inprocess.h"
#include "log.h"
#include "rpc_codec.h"
#include "service.h"

typedef enum {
    DAS_DISPATCH_SERIAL = 0,
    DAS_DISPATCH_CONCURRENT,
    DAS_DISPATCH_DETERMINISTIC,
} das_dispatch_policy_t;

typedef struct das_dispatch das_dispatch_t;

/* What the dispatcher tells about each request that reaches an instance: its start, every
 * service call it makes (answered by `on_call`, the one place every call passes, where the
 * deterministic policy will schedule), and its end, exactly once, with how it ended. Each
 * gets the request's context (log id, instance, slot; for calls the sequence number and the
 * time left). All three are required. */
typedef struct {
    void (*on_request_start)(void *ctx, const das_call_ctx_t *rq);
    void (*on_call)(void *ctx, const das_call_ctx_t *call, const void *payload, size_t len,
                    das_rpc_buf_t *reply);
    /* `response` is the encoded das_rpc_response_t when the handler returned, else NULL. */
    void (*on_request_end)(void *ctx, const das_call_ctx_t *rq, das_request_end_t how,
                           const das_rpc_buf_t *response);
} das_dispatch_hooks_t;

typedef struct {
    das_dispatch_policy_t policy;
    int max_instances;        /* >= 1 */
    int slots;                /* requests an instance runs at once (its slots), >= 1 */
    /* The race detector: slots are used in rotation, not lowest free first (two requests on
     * one slot's thread are ordered by it, and ThreadSanitizer would see no race), and
     * instances start through the ThreadSanitizer trampoline. */
    bool race_detector;
    int pending_wait_ms;      /* wait this long for a free slot before starting an instance */
    int queue_timeout_ms;     /* no slot within this long: 503 */
    int request_deadline_ms;  /* a request running longer gets a 500; its instance is replaced */
    bool deadline_per_step;   /* deterministic: the deadline starts again at each point */
    int start_timeout_ms;     /* an instance must load within this long */
    const char *exe;          /* the devappserver binary (instance role) */
    /* Instances inside this process instead, their app copies under `inprocess_dir`
     * (instance.h). */
    const das_inprocess_runtime_t *inprocess;
    const char *inprocess_dir;
    das_clock_t *clock;       /* timeouts */
    das_clock_t *ids;         /* instance ids (the virtual clock under deterministic dispatch) */
    das_log_t *log;
    /* Encodes the /_ah/warmup request for a new instance into `out` and writes its request
     * log id into `log_id`; returns false when the app has no warmup. Called without the
     * dispatcher's lock. May be NULL. */
    bool (*make_warmup)(void *ctx, const char *instance_id, das_rpc_buf_t *out,
                        char log_id[41]);
    das_dispatch_hooks_t hooks;
    void *ctx;
} das_dispatch_options_t;

typedef struct {
    char instance_id[37]; /* who served the request ("" when none did) */
    char detail[1200];    /* for errors: what happened, for the log and the 500 page */
} das_dispatch_result_t;

das_dispatch_t *das_dispatch_create(const das_dispatch_options_t *opts);
/* Stops every instance. Call das_dispatch_shutdown() first when requests may be in flight. */
void das_dispatch_destroy(das_dispatch_t *d);

/* Switches to a new build: requests already running finish on their instances, which are then
 * stopped; new requests go to instances of this build. `envp` is the instances' environment.
 * Both are copied. */
void das_dispatch_set_build(das_dispatch_t *d, const char *so_path, char *const *envp);

/* Starts one instance of the current build if none is running, so the first request does not
 * wait for it. Logs a failure rather than returning it. */
void das_dispatch_prestart(das_dispatch_t *d);

/* Runs `rq` (its env gets INSTANCE_ID added) and stores the encoded response; `log_id` is its
 * REQUEST_LOG_ID and `task` its deterministic task (NULL under the other policies), both for
 * the hooks. Under the deterministic policy the caller runs one request at a time: a slot is
 * taken at once, from a free one or a new instance, never waited for. Returns 0;
 * AE_EUNAVAILABLE when no instance could take it in time or the server is stopping (503);
 * AE_ETIMEOUT when the request passed its deadline (500); AE_EINTERNAL when the instance
 * crashed or could not start (500, `res->detail` says why). */
int das_dispatch_run(das_dispatch_t *d, const das_rpc_request_t *rq, const char *log_id,
                     void *task, das_rpc_buf_t *response, das_dispatch_result_t *res);

/* Makes every instance fresh for the next run (explore): each puts the app's globals back as
 * they were when it loaded the app (one that cannot is retired), or with `restart` every one
 * is retired and new ones start as requests come. No request may be in flight. */
void das_dispatch_reset_instances(das_dispatch_t *d, bool restart);

/* Refuses new requests (503), lets running ones finish for up to `grace_ms`, then kills the
 * instances still busy and waits for their requests to return. */
void das_dispatch_shutdown(das_dispatch_t *d, int grace_ms);

#endif
