/* deterministic.h - deterministic dispatch: runs the requests one at a time, in the order a
 * seeded scheduler picks, and records the run in a trace.
 *
 * This is the driver between the request threads and the scheduler (scheduler.h, which has no
 * I/O). Every request to an app handler is a task. The thread that carries it (an HTTP
 * connection thread, or replay's) blocks here at each point, and goes on only when a step picks
 * its task:
 *
 *   das_det_arrive()       the request arrived: a task, numbered in arrival order, with its own
 *                          stream of random values (das_det_task_clock) for its ids.
 *   das_det_await_start()  its start point: returns when a step starts it (then the dispatcher
 *                          takes a slot, starting an instance if needed, and sends it).
 *   das_det_call()         each service call: a point; when picked, the call runs on the
 *                          services and its reply carries the virtual time.
 *   das_det_end()          the request ended (its response came back, or its instance died).
 *
 * A request that arrives while no task is running or held opens a gather window of
 * `gather_ms` of real time; the first step is taken when it closes, so requests fired together
 * interleave by the seed. A later one joins at the next step. The virtual clock moves 1 ms per
 * step. Calls from outside the schedule (a warmup: no task) go straight to the services.
 *
 * Thread-safety: every function may be called from any thread; one mutex guards the driver,
 * and the scheduler, the virtual clock and the trace are touched only under it.
 */
#ifndef DAS_DETERMINISTIC_H
#define DAS_DETERMINISTIC_H

#include <stdbool.h>
#include <stdint.h>

#include "clock.h"
#include "log.h"
#include "registry.h"
#include "scheduler.h"
#include "trace.h"

typedef struct das_det das_det_t;
typedef struct das_det_task das_det_task_t;

/* Replay: the recorded run to follow. Borrowed; must outlive the driver. */
typedef struct {
    const int *decisions; /* the recorded decisions, followed instead of a strategy */
    size_t n_decisions;
    const das_sched_step_t *expect; /* the recorded steps, checked one by one */
    size_t n_expect;
    /* What each recorded step says beyond the scheduler's record (n_expect of them): an
     * external call (a URL fetch) is answered from its recorded reply, not run. NULL: none. */
    const das_trace_file_result_t *results;
} das_det_replay_t;

/* A scripted run (replay, explore): the requests arrive at given steps, not from sockets.
 * When the run reaches request i's step, `inject(ctx, i)` must make it arrive (das_det_arrive,
 * from a thread of its own); the run waits until it did, and the arrival takes the run on
 * (the next arrival due, or the step). `inject` is called without the driver's lock and must
 * not wait for the arrival. Nothing else may arrive but requests outside the schedule
 * (das_det_set_bypass). Borrowed. */
typedef struct {
    const uint64_t *arrivals; /* ascending, in task order */
    size_t n_arrivals;
    void (*inject)(void *ctx, size_t i);
    void *inject_ctx;
} das_det_script_t;

/* The run's progress, mirrored as it goes for a watcher that may not take the driver's lock or
 * may outlive the process (explore's in-process worker: its watchdog, and the explorer after a
 * crash). Read with __atomic_load_n. */
typedef struct {
    int running;    /* the task that runs app code now; -1: none */
    uint64_t steps; /* steps taken in this run */
    uint64_t beat;  /* counts every change above, across runs: it moves while runs do */
} das_det_progress_t;

typedef struct {
    das_sched_strategy_t *strategy; /* borrowed; NULL with `replay` */
    const das_det_replay_t *replay; /* NULL: the strategy picks */
    const das_det_script_t *script; /* NULL: requests arrive from the front end */
    uint64_t max_steps;             /* the run fails past this many steps; 0: no bound */
    int gather_ms;         /* the gather window, real time */
    das_clock_t *real;     /* for the window */
    das_clock_t *virt;     /* das_clock_virtual_create: stepped here */
    das_services_t *services;
    das_log_t *log;
    das_trace_t *trace;    /* adopted: closed with the driver or at a roll; NULL: no trace */
    /* Resolves a call site (the app's offset + 1) to "file:line"; NULL, or "" when unknown. */
    void (*resolve_site)(void *ctx, uint64_t site, char *out, size_t cap);
    void *site_ctx;
    das_det_progress_t *progress; /* NULL: not mirrored */
} das_det_options_t;

das_det_t *das_det_create(const das_det_options_t *o);
void das_det_destroy(das_det_t *det); /* NULL ok; no task may be in flight */

/* A request arrived. `rq` describes it for the trace and reports (borrowed for the call). */
das_det_task_t *das_det_arrive(das_det_t *det, const das_trace_request_t *rq);
/* The task's view of the virtual clock: its ids and its app's random values come from the
 * stream (seed, task number). */
das_clock_t *das_det_task_clock(das_det_task_t *t);
/* The stream the task's app draws from (das_rpc_request_t.random_stream). */
uint64_t das_det_task_app_stream(const das_det_task_t *t);

/* Waits for the task's start step. Returns 0 (it is now the running task), or an AE_* code
 * when it was failed instead (AE_EUNAVAILABLE: the server stops; AE_EINTERNAL: a deadlock or
 * a divergence; `detail` says which). */
int das_det_await_start(das_det_t *det, das_det_task_t *t, char *detail, size_t cap);
/* The running task started on an instance (for a crash: the others waiting on it end too). */
void das_det_started(das_det_t *det, das_det_task_t *t, const char *instance_id, int slot);

/* A service call of the task (ctx->task): a point. Appends the REPLY payload to `reply`. */
void das_det_call(das_det_t *det, const das_call_ctx_t *ctx, const void *payload, size_t len,
                  das_rpc_buf_t *reply);

/* The task ended: its handler returned `response` (an encoded das_rpc_response_t; NULL when
 * there is none), or it did not (`how`). Called once or more: the first counts. */
void das_det_end(das_det_t *det, das_det_task_t *t, das_request_end_t how,
                 const void *response, size_t len);
/* Why the task was failed (a deadlock, a divergence, the server stopping), or NULL. */
const char *das_det_task_failure(const das_det_task_t *t);
/* The request's thread is done with the task (it ends it first if nothing did, as cancelled).
 * The task must not be used after. */
void das_det_finish(das_det_t *det, das_det_task_t *t);

/* The server stops: every task waiting at a point leaves with AE_EUNAVAILABLE. */
void das_det_shutdown(das_det_t *det);

/* Starts a new run (after a reload): waits until every task was finished, closes the trace,
 * and goes on with a fresh scheduler (tasks numbered from 0 again) writing to `trace`
 * (adopted; NULL: none). The virtual clock goes on. */
void das_det_roll(das_det_t *det, das_trace_t *trace);

/* A scripted run: takes the first step (the requests of step 0 are injected). */
void das_det_kick(das_det_t *det);
/* While on, requests are not tasks: das_det_arrive returns NULL and the request runs at once,
 * outside the schedule (explore's setup and checks). Only while no task is in flight. */
void das_det_set_bypass(das_det_t *det, bool on);
/* AE_CHECK failures in this run so far; `first` (when not NULL, `cap` bytes) gets the first,
 * as "A: message (file:line)". */
int das_det_checks_failed(das_det_t *det, char *first, size_t cap);
/* Appends a line of the caller's own to the trace (explore's setup and checks). */
void das_det_trace_line(das_det_t *det, const char *line);
/* Why the run stopped early (a divergence from the trace, the step bound), or NULL. The
 * string lives as long as the driver. */
const char *das_det_over(das_det_t *det);

/* Writes the trace's closing line and closes it (the run is over; explore reads it next). */
void das_det_close_trace(das_det_t *det);
/* The path of the run's trace, or NULL when it has none. */
const char *das_det_trace_path(const das_det_t *det);

/* The scheduler, for reports (replay, tests). Valid until the driver is destroyed; read it
 * only once the tasks ended. */
const das_sched_t *das_det_sched(const das_det_t *det);

#endif
