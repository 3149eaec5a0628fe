/* explore.c - `devappserver explore APPDIR SCENARIO`: runs a scenario under many schedules,
 * each from fresh state, and reports the first that fails: the failing oracle, the racing
 * pair, the minimal schedule, its timeline and the command that replays it.
 *
 * Design: one embedded server (no socket, storage under a temporary folder, the app's build
 * cache, deterministic dispatch with a scripted run: every request arrives at step 0), made
 * fresh for every schedule by das_server_reset: new services, a new driver, the virtual clock
 * from its start, and every instance's globals put back as they were when it loaded the app.
 * Memory the app allocated survives a reset (a global pointing to it does not); schedule 0 is
 * run twice at the start to catch state the reset misses.
 *
 * Backends. With `instances` that server is the explorer's own, with instance processes. With
 * `inprocess` (the default) schedules run in a worker process forked from the explorer
 * (explore_worker.h), whose server has in-process instances: private copies of the app loaded
 * into the worker, their calls going straight to the driver. The explorer sends it one schedule
 * at a time, or a search batch: plain schedules of the search, one after another, until one
 * needs the explorer (the first failure, an error). The strategies (and the search's state)
 * live in a shared arena (shm_arena.h), so what the worker's runs taught them survives the
 * worker; the worker also mirrors there where it stands (the running task, the decisions so
 * far, a batch's counts). A worker that dies (a crash, or its watchdog ending a stuck step)
 * fails the schedule it was running, with what the explorer can read there, and the next
 * schedule forks a new one. A failure found in process is run again on a fresh real instance
 * (the explorer's server) before it is reported, and reported as that instance ran it; one
 * that does not fail there moves the search to `instances`.
 * Setup requests run first and checks after, outside the schedule (das_det_set_bypass). The
 * strategies are the scheduler's: the exhaustive explorer (iterative preemption bounding),
 * random walk and PCT, or the portfolio (exhaustive for the first half of the budget, then
 * random and PCT in turn). Each schedule writes a trace; a failing one is kept in the trace
 * folder. A failure is then explained:
 *   - the racing pair: conflicting calls (same service and key, one a write, two tasks) of the
 *     failing schedule, earliest first, are swapped (the later task's steps up to its call are
 *     moved before the earlier call) until a swapped schedule passes;
 *   - the minimal schedule: bounded search with fewer preemptions than the failure had, within
 *     the remaining budget or 2 s; the fewest found is reported, with whether that is proven,
 *     and replayed once more to confirm it.
 *
 * Exit status: 0 when no schedule failed, 1 when one did, 2 when the scenario could not be run
 * (usage, scenario, app.yaml or build error).
 */
#include "explore.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "datastore_service.h"
#include "explore_worker.h"
#include "offline.h"
#include "scenario.h"
#include "server.h"
#include "shm_arena.h"
#include "timeline.h"
#include "trace.h"

#define EXIT_FAIL 1
#define EXIT_USAGE 2
#define MINIMAL_SECONDS 2.0

/* ---------------------------------------------------------------- a guided strategy */

/* Picks the task `want` names for each step when it can proceed; else the first of `prio` that
 * can; else the lowest-numbered. The racing pair's swapped schedules and serializable's serial
 * orders are made with it. */
typedef struct {
    das_sched_strategy_t base;
    const int *want;
    size_t n_want;
    const int *prio;
    size_t n_prio;
} guided_t;

static void guided_begin(das_sched_strategy_t *st)
{
    (void)st;
}

static bool can(const das_sched_choice_t *c, int task)
{
    for (int i = 0; i < c->n; i++)
        if (c->could[i] == task)
            return true;
    return false;
}

static int guided_pick(das_sched_strategy_t *st, const das_sched_choice_t *c)
{
    guided_t *g = (guided_t *)st;
    if (c->step < g->n_want && can(c, g->want[c->step]))
        return g->want[c->step];
    for (size_t i = 0; i < g->n_prio; i++)
        if (can(c, g->prio[i]))
            return g->prio[i];
    return c->could[0];
}

static void guided_destroy(das_sched_strategy_t *st)
{
    (void)st;
}

static const das_sched_strategy_methods_t guided_methods = {guided_begin, NULL, guided_pick,
                                                            guided_destroy};

static int *copy_ints(const das_sched_alloc_t *a, const int *v, size_t n)
{
    if (!n)
        return NULL;
    int *c = das_sched_alloc_realloc(a, NULL, n * sizeof *c);
    memcpy(c, v, n * sizeof *c);
    return c;
}

/* A guided strategy, with copies of `want` and `prio`, in the strategies' memory. */
static guided_t *guided_new(const das_sched_alloc_t *a, const char *name, const int *want,
                            size_t n_want, const int *prio, size_t n_prio)
{
    guided_t *g = das_sched_alloc_realloc(a, NULL, sizeof *g);
    *g = (guided_t){{&guided_methods, name}, copy_ints(a, want, n_want), n_want,
                    copy_ints(a, prio, n_prio), n_prio};
    return g;
}

static void guided_free(const das_sched_alloc_t *a, guided_t *g)
{
    das_sched_alloc_realloc(a, (void *)g->want, 0);
    das_sched_alloc_realloc(a, (void *)g->prio, 0);
    das_sched_alloc_realloc(a, g, 0);
}

/* The decisions of a run, then (once they run out, or one cannot be taken) what a run with no
 * strategy does: the task of the previous step while it can proceed. Replays a run the worker
 * died in, of which only the decisions are known. */
typedef struct {
    das_sched_strategy_t base;
    const int *decisions;
    size_t n;
} prefix_t;

static int prefix_pick(das_sched_strategy_t *st, const das_sched_choice_t *c)
{
    prefix_t *p = (prefix_t *)st;
    if (c->decision < p->n && can(c, p->decisions[c->decision]))
        return p->decisions[c->decision];
    return das_sched_default_pick(c);
}

static const das_sched_strategy_methods_t prefix_methods = {guided_begin, NULL, prefix_pick,
                                                            guided_destroy};

/* ---------------------------------------------------------------- one schedule */

typedef struct {
    /* options */
    const char *strategy;
    uint64_t budget, seed, max_steps;
    int pct_depth, preemptions; /* preemptions < 0: no bound */
    double step_timeout, time_limit;
    bool json, keep_going, fresh_process;
    const char *appdir, *exe, *trace_dir;
    char *build_dir;
    das_scenario_t *sc;
    /* the scenario as the front end takes it */
    das_trace_request_t *requests, *setup, *checks;
    uint64_t *arrivals;
    /* where schedules run: one server, made fresh for each (das_server_reset); in the
     * explorer it has instance processes, in the worker in-process instances */
    das_server_t *server;
    das_offline_batch_t *batch;
    /* The in-process backend (`inprocess`): schedules run in a worker process (the explorer
     * keeps its instances server for the runs that confirm a failure). The strategies live in
     * `arena`, shared with the worker, and so does `shared`. */
    bool inprocess;
    const das_inprocess_runtime_t *runtime;
    das_shm_arena_t *arena;
    das_sched_alloc_t alloc; /* from the arena; realloc NULL: the heap */
    das_xworker_t *worker;
    struct worker_shared *shared;
    /* A search batch: the schedules it only counts run with no trace. */
    bool untraced;
    /* The services' options, for the server's life (every reset creates them again): fresh,
     * and never the app's own data: an in-memory datastore that writes no index.yaml, its
     * commits applied at steps (no thread of its own). */
    das_datastore_service_options_t datastore;
    das_service_config_t services[1];
    char tmp[64];
    char *storage;
    FILE *log;
    int log_fd; /* the worker keeps it */
    /* statistics */
    uint64_t schedules, failing;
    size_t steps_min, steps_max, steps_sum;
    int64_t started_ns;
    das_clock_t *clock;
    /* serializable: the outcomes the serial orders gave */
    char **allowed;
    size_t n_allowed;
} explore_t;

typedef struct {
    bool failed;
    bool error;            /* the schedule could not run (start-up, build): exit 2 */
    char kind[24];         /* the failing oracle */
    das_buf_t why;         /* expected against observed, or the error */
    char trace[320];       /* this schedule's trace (under tmp until kept) */
    char *schedule;        /* its schedule string */
    int *decisions;
    size_t n_decisions;
    size_t steps;
    int preemptions;
    das_buf_t outcome;     /* every response and check answer, for serializable */
    uint64_t not_found;    /* the requests that got a 404 (bit i: request i) */
    bool real;             /* it ran on real instances (not in the worker) */
} result_t;

/* What the worker shares with the explorer, in the arena: where the run stood, and the
 * decisions it made so far (recorded by record_t below), for a run the worker died in. */
typedef struct worker_shared {
    das_det_progress_t progress;
    int *decisions; /* in the arena */
    size_t n_decisions, cap_decisions;
    int preemptions;
    /* A search batch (search_batch): the schedules the worker ran to their end, counted as
     * they end, so that a worker that dies in a batch leaves them counted. */
    uint64_t batch_n, batch_failing;
    size_t batch_steps_min, batch_steps_max, batch_steps_sum;
} worker_shared_t;

static void result_dispose(result_t *r)
{
    das_buf_dispose(&r->why);
    das_buf_dispose(&r->outcome);
    free(r->schedule);
    free(r->decisions);
    memset(r, 0, sizeof *r);
}

static das_trace_request_t as_request(const das_scenario_request_t *r)
{
    return (das_trace_request_t){
        .method = r->method,
        .target = r->target,
        .headers = r->headers,
        .n_headers = r->n_headers,
        .body = r->body,
        .body_len = r->body_len,
        .user = r->user,
        .admin = r->admin,
    };
}

static void fail_with(result_t *res, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail_with(result_t *res, const char *kind, const char *fmt, ...)
{
    if (res->failed)
        return; /* the first oracle that fails is the one reported */
    res->failed = true;
    snprintf(res->kind, sizeof res->kind, "%s", kind);
    va_list ap;
    va_start(ap, fmt);
    das_buf_vprintf(&res->why, fmt, ap);
    va_end(ap);
}

static void describe_response(das_buf_t *b, int status, const char *body, size_t len)
{
    das_buf_printf(b, "%d ", status);
    das_timeline_quote(b, body, len, 80);
}

/* The last call site task `task` reached in the run, or "". */
static const char *last_site(const das_sched_t *s, int task)
{
    const char *site = "";
    for (size_t i = 0; i < das_sched_steps(s); i++) {
        const das_sched_step_t *st = das_sched_step(s, i);
        if (st->task == task && st->action.site && st->action.site[0])
            site = st->action.site;
    }
    return site;
}

/* Judges one request's response. */
static void judge_request(explore_t *ex, const das_sched_t *sched, size_t i,
                          const das_offline_response_t *r, result_t *res)
{
    const das_scenario_request_t *rq = &ex->sc->requests[i];
    char name[16];
    das_sched_task_name((int)i, name);
    if (r->status < 0)
        return; /* it never ran: the run stopped first, which says why */
    if (r->status >= 500) {
        if (strstr(r->body, "deadlock under deterministic dispatch")) {
            const char *d = strstr(r->body, "deadlock under");
            fail_with(res, "deadlock", "%.*s", (int)strcspn(d, "\n"), d);
            return;
        }
        if (strstr(r->body, "was killed by signal") || strstr(r->body, "crashed it")) {
            const char *d = strstr(r->body, "instance ");
            fail_with(res, "crash", "instance crash while %s %s %s ran: %.*s", name,
                      rq->method, rq->target, d ? (int)strcspn(d, "\n") : 0, d ? d : "");
            return;
        }
        if (strstr(r->body, "exceeded its deadline")) {
            const char *site = last_site(sched, (int)i);
            fail_with(res, "step timeout",
                      "%s %s %s ran past --step-timeout (%.0f s) without reaching a point; its "
                      "last call site was %s (a loop, or a blocking call the scheduler does "
                      "not see, such as a pipe or socket?)",
                      name, rq->method, rq->target, ex->step_timeout,
                      site[0] ? site : "its start");
            return;
        }
    }
    const das_scenario_expect_t *e = &rq->expect;
    bool named = e->status && e->status == r->status;
    if (!das_scenario_expect_met(e, r->status, r->body, r->len)) {
        das_buf_t want = {0}, got = {0};
        das_scenario_expect_describe(e, &want);
        describe_response(&got, r->status, r->body, r->len);
        fail_with(res, "expect", "%s %s %s: expected %s, got %s", name, rq->method, rq->target,
                  want.data, got.data);
        das_buf_dispose(&want);
        das_buf_dispose(&got);
    } else if (r->status >= 500 && !named) {
        das_buf_t got = {0};
        describe_response(&got, r->status, r->body, r->len);
        fail_with(res, "status", "%s %s %s got %s, and its expect names no such status", name,
                  rq->method, rq->target, got.data);
        das_buf_dispose(&got);
    }
}

/* Runs the setup requests (setup) or the checks, outside the schedule, into the trace. */
static void run_outside(explore_t *ex, das_server_t *s, bool setup, result_t *res)
{
    das_det_t *det = das_server_det(s);
    das_det_set_bypass(det, true);
    size_t n = setup ? ex->sc->n_setup : ex->sc->n_checks;
    for (size_t i = 0; i < n; i++) {
        const das_scenario_request_t *sr = setup ? &ex->sc->setup[i] : &ex->sc->checks[i];
        das_trace_request_t rq = setup ? ex->setup[i] : ex->checks[i];
        das_offline_response_t r;
        if (ex->shared) /* each request has the step timeout, as a step has (the watchdog) */
            __atomic_add_fetch(&ex->shared->progress.beat, 1, __ATOMIC_RELAXED);
        das_offline_send(s, &rq, &r);
        char *line = setup ? das_trace_setup_line((int)i, &rq)
                           : das_trace_check_line((int)i, &rq, sr->expect.status,
                                                  sr->expect.body, sr->expect.body_regex,
                                                  r.status, r.body, r.len);
        das_det_trace_line(det, line);
        free(line);
        if (!setup) {
            das_buf_printf(&res->outcome, "check %zu: %d %zu:", i, r.status, r.len);
            das_buf_append(&res->outcome, r.body, r.len);
            das_buf_puts(&res->outcome, "\n");
            if (!das_scenario_expect_met(&sr->expect, r.status, r.body, r.len)) {
                das_buf_t want = {0}, got = {0};
                das_scenario_expect_describe(&sr->expect, &want);
                describe_response(&got, r.status, r.body, r.len);
                fail_with(res, "check", "check %s %s: expected %s, got %s", sr->method,
                          sr->target, want.data, got.data);
                das_buf_dispose(&want);
                das_buf_dispose(&got);
            }
        } else if (r.status >= 500) {
            das_buf_t got = {0};
            describe_response(&got, r.status, r.body, r.len);
            fail_with(res, "setup", "setup %s %s got %s", sr->method, sr->target, got.data);
            das_buf_dispose(&got);
        }
        das_offline_response_dispose(&r);
    }
    das_det_set_bypass(det, false);
}

/* In the worker: the command's strategy, with every pick recorded in the shared state. */
typedef struct {
    das_sched_strategy_t base;
    das_sched_strategy_t *real;
    explore_t *ex;
} record_t;

static void record_begin(das_sched_strategy_t *st)
{
    record_t *r = (record_t *)st;
    r->real->m->begin(r->real);
}

static void record_arrive(das_sched_strategy_t *st, int task)
{
    record_t *r = (record_t *)st;
    if (r->real->m->arrive)
        r->real->m->arrive(r->real, task);
}

static int record_pick(das_sched_strategy_t *st, const das_sched_choice_t *c)
{
    record_t *r = (record_t *)st;
    int pick = r->real->m->pick(r->real, c);
    worker_shared_t *sh = r->ex->shared;
    if (sh->n_decisions == sh->cap_decisions) {
        sh->cap_decisions = sh->cap_decisions ? 2 * sh->cap_decisions : 64;
        sh->decisions = das_sched_alloc_realloc(&r->ex->alloc, sh->decisions,
                                                sh->cap_decisions * sizeof *sh->decisions);
    }
    sh->decisions[sh->n_decisions++] = pick;
    sh->preemptions = c->preemptions + (c->prev_could && pick != c->prev);
    return pick;
}

static const das_sched_strategy_methods_t record_methods = {record_begin, record_arrive,
                                                            record_pick, guided_destroy};

/* Runs one schedule in this process, on its server: `strategy` picks, or the run follows the
 * trace at `replay_path` (its decisions, checking its steps; external calls answered as it
 * recorded them). The explorer's server has instance processes (made anew for the run when
 * `fresh`); the worker's has in-process instances. */
static void run_here(explore_t *ex, das_sched_strategy_t *strategy, const char *strategy_name,
                     const char *replay_path, bool fresh, result_t *res)
{
    memset(res, 0, sizeof *res);
    das_trace_file_t tf;
    das_det_replay_t rp, *replay = NULL;
    if (replay_path) {
        das_err_t terr = {0};
        if (das_trace_load(replay_path, &tf, &terr) < 0) {
            res->error = true;
            das_buf_puts(&res->why, terr.msg);
            return;
        }
        rp = (das_det_replay_t){tf.decisions, tf.n_decisions, tf.steps, tf.n_steps, tf.results};
        replay = &rp;
    }
    bool worker = ex->worker && das_xworker_in_worker(ex->worker);
    record_t rec = {{&record_methods, strategy ? strategy->name : ""}, strategy, ex};
    if (worker) {
        ex->shared->n_decisions = 0;
        ex->shared->preemptions = 0;
        if (strategy)
            strategy = &rec.base;
    }
    res->real = !worker;
    if (!ex->batch)
        ex->batch = das_offline_batch_create(ex->requests, ex->sc->n_requests);
    if (!ex->untraced)
        snprintf(res->trace, sizeof res->trace, "%s/schedule.jsonl", ex->tmp);
    das_det_script_t script;
    das_offline_batch_begin(ex->batch, ex->server, ex->arrivals, &script);
    das_offline_batch_t *batch = ex->batch;
    das_server_options_t o = {
        .app_path = ex->appdir,
        .storage_path = ex->storage,
        .build_dir = ex->build_dir,
        .dispatch = DAS_DISPATCH_DETERMINISTIC,
        /* Room for every request at once, on instances of one slot (threadsafe: false). */
        .max_instances = ex->sc->n_requests > 10 ? (int)ex->sc->n_requests : 10,
        .request_deadline_s = ex->step_timeout,
        .deadline_per_step = true,
        .log_level = DAS_LOG_ERROR,
        .log_out = ex->log,
        .exe = ex->exe,
        .seed = ex->seed,
        .has_seed = true,
        .strategy = strategy_name,
        .strategy_object = strategy,
        .replay = replay,
        .script = &script,
        .max_steps = ex->max_steps,
        .fresh_process = fresh,
        .trace_path = res->trace,
        .no_trace = ex->untraced,
        .no_http = true,
        .services = ex->services,
        .n_services = 1,
        .inprocess = worker ? ex->runtime : NULL,
        .inprocess_dir = ex->tmp,
        .det_progress = worker ? &ex->shared->progress : NULL,
    };
    das_err_t err = {0};
    if (ex->server) {
        if (das_server_reset(ex->server, &o, &err) < 0) {
            res->error = true;
            das_buf_puts(&res->why, err.msg);
            goto out;
        }
    } else if (das_server_create(&o, &ex->server, &err) < 0 ||
               das_server_start(ex->server, &err) < 0) {
        res->error = true;
        das_buf_puts(&res->why, err.msg);
        das_server_destroy(ex->server);
        ex->server = NULL;
        goto out;
    }
    das_server_t *s = ex->server;
    if (!*das_server_build_name(s)) {
        res->error = true;
        das_buf_printf(&res->why, "the app in %s has no build to run: it does not compile (see "
                                  "'devappserver %s'), or has no C sources",
                       ex->appdir, ex->appdir);
        goto out;
    }
    das_offline_batch_attach(batch, s);
    das_det_t *det = das_server_det(s);
    run_outside(ex, s, true, res);
    das_det_kick(det);
    das_offline_batch_wait(batch, det);
    const das_sched_t *sched = das_det_sched(det);
    const char *over = das_det_over(det);
    if (over && strstr(over, "step bound"))
        fail_with(res, "step bound", "the schedule passed --max-steps (%llu steps)",
                  (unsigned long long)ex->max_steps);
    else if (over)
        fail_with(res, "diverged", "%s", over);
    for (size_t i = 0; i < ex->sc->n_requests; i++) {
        const das_offline_response_t *r = das_offline_batch_response(batch, i);
        if (r->status == 404 && i < 64)
            res->not_found |= 1ull << i;
        judge_request(ex, sched, i, r, res);
        das_buf_printf(&res->outcome, "%zu: %d %zu:", i, r->status, r->len);
        das_buf_append(&res->outcome, r->body ? r->body : "", r->len);
        das_buf_puts(&res->outcome, "\n");
    }
    char first[600];
    if (das_det_checks_failed(det, first, sizeof first) > 0)
        fail_with(res, "AE_CHECK", "AE_CHECK failed in %s", first);
    if (!over)
        run_outside(ex, s, false, res);
    res->steps = das_sched_steps(sched);
    res->preemptions = das_sched_preemptions(sched);
    res->schedule = das_sched_schedule_string(sched);
    size_t n;
    const int *d = das_sched_decisions(sched, &n);
    res->decisions = das_xcalloc(n + 1, sizeof *res->decisions);
    if (n)
        memcpy(res->decisions, d, n * sizeof *d);
    res->n_decisions = n;
    das_det_close_trace(det);
out:
    if (replay)
        das_trace_file_dispose(&tf);
}

/* In process: the app is built here, before the first worker is forked, so that no worker's
 * watchdog takes a compile for a stuck step (the workers find the build in the cache). A
 * failure is left for the first schedule to report. */
static void prebuild(explore_t *ex)
{
    das_server_options_t o = {
        .app_path = ex->appdir,
        .storage_path = ex->storage,
        .build_dir = ex->build_dir,
        .dispatch = DAS_DISPATCH_DETERMINISTIC,
        .max_instances = 1,
        .log_level = DAS_LOG_ERROR,
        .log_out = ex->log,
        .exe = ex->exe,
        .seed = ex->seed,
        .has_seed = true,
        .no_http = true,
        .no_trace = true,
        .services = ex->services,
        .n_services = 1,
    };
    das_server_t *s = NULL;
    das_err_t err = {0};
    if (das_server_create(&o, &s, &err) == 0)
        das_server_destroy(s);
}

/* serializable: the outcome must be one a serial order of the requests gave. Judged where the
 * explorer learnt those outcomes, whichever process ran the schedule. */
static void judge_serializable(explore_t *ex, result_t *res)
{
    if (!ex->allowed || res->failed || res->error)
        return;
    bool ok = false;
    for (size_t i = 0; i < ex->n_allowed && !ok; i++)
        ok = strcmp(ex->allowed[i], res->outcome.data ? res->outcome.data : "") == 0;
    if (!ok)
        fail_with(res, "serializable", "the outcome matches no serial order of the %zu requests",
                  ex->sc->n_requests);
}

static double elapsed_s(explore_t *ex)
{
    return (double)(das_clock_monotonic_ns(ex->clock) - ex->started_ns) / 1e9;
}

/* ---------------------------------------------------------------- the search's strategies */

typedef enum { PHASE_EXHAUSTIVE, PHASE_RANDOM, PHASE_PCT } phase_t;

static const char *phase_name(phase_t p)
{
    return p == PHASE_EXHAUSTIVE ? "exhaustive" : p == PHASE_RANDOM ? "random" : "pct";
}

/* Where the search stands: its strategies and its phase. In the strategies' memory, since the
 * worker moves it on in a search batch. */
typedef struct {
    das_sched_explorer_t *explorer; /* NULL unless exhaustive or portfolio */
    das_sched_strategy_t *rnd, *pct;
    phase_t phase;
    bool portfolio;
    uint64_t exhaustive_budget; /* portfolio: the schedules before it turns to random and pct */
    bool exhausted;             /* the explorer covered its space */
    bool bounded;               /* ... within --preemptions */
} search_state_t;

static das_sched_strategy_t *search_strategy(search_state_t *ss)
{
    return ss->phase == PHASE_EXHAUSTIVE ? das_sched_explorer_strategy(ss->explorer)
           : ss->phase == PHASE_PCT      ? ss->pct
                                         : ss->rnd;
}

/* After a schedule (`schedules` run so far): the explorer moves on, or the portfolio turns.
 * False when the explorer covered its space: the search is over. */
static bool search_advance(search_state_t *ss, uint64_t schedules)
{
    if (ss->phase == PHASE_EXHAUSTIVE) {
        if (das_sched_explorer_advance(ss->explorer) == DAS_EXPLORE_DONE) {
            ss->exhausted = true;
            ss->bounded = !das_sched_explorer_complete(ss->explorer);
            return false;
        }
        if (ss->portfolio && schedules >= ss->exhaustive_budget)
            ss->phase = PHASE_RANDOM;
    } else if (ss->portfolio) {
        ss->phase = ss->phase == PHASE_RANDOM ? PHASE_PCT : PHASE_RANDOM;
    }
    return true;
}

/* ---------------------------------------------------------------- the worker */

static void put_buf(das_rpc_buf_t *b, const das_buf_t *d)
{
    das_rpc_put_bytes(b, d->data ? d->data : "", d->len);
}

static void get_buf(das_rpc_reader_t *r, das_buf_t *d)
{
    size_t len;
    const char *p = das_rpc_get_bytes(r, &len);
    if (p)
        das_buf_append(d, p, len);
}

static void encode_result(das_rpc_buf_t *b, const result_t *res)
{
    das_rpc_put_u32(b, res->failed);
    das_rpc_put_u32(b, res->error);
    das_rpc_put_str(b, res->kind);
    put_buf(b, &res->why);
    das_rpc_put_str(b, res->trace);
    das_rpc_put_str(b, res->schedule);
    das_rpc_put_u32(b, (uint32_t)res->n_decisions);
    for (size_t i = 0; i < res->n_decisions; i++)
        das_rpc_put_u32(b, (uint32_t)res->decisions[i]);
    das_rpc_put_u64(b, res->steps);
    das_rpc_put_u32(b, (uint32_t)res->preemptions);
    put_buf(b, &res->outcome);
    das_rpc_put_u64(b, res->not_found);
}

static void decode_result(const void *data, size_t len, result_t *res)
{
    memset(res, 0, sizeof *res);
    das_rpc_reader_t r;
    das_rpc_reader_init(&r, data, len);
    res->failed = das_rpc_get_u32(&r) != 0;
    res->error = das_rpc_get_u32(&r) != 0;
    snprintf(res->kind, sizeof res->kind, "%s", das_rpc_get_str(&r));
    get_buf(&r, &res->why);
    snprintf(res->trace, sizeof res->trace, "%s", das_rpc_get_str(&r));
    res->schedule = das_xstrdup(das_rpc_get_str(&r));
    res->n_decisions = das_rpc_get_count(&r, 4, 1u << 30);
    res->decisions = das_xcalloc(res->n_decisions + 1, sizeof *res->decisions);
    for (size_t i = 0; i < res->n_decisions; i++)
        res->decisions[i] = (int)das_rpc_get_u32(&r);
    res->steps = das_rpc_get_u64(&r);
    res->preemptions = (int)das_rpc_get_u32(&r);
    get_buf(&r, &res->outcome);
    res->not_found = das_rpc_get_u64(&r);
}

/* In the worker, right after the fork: the explorer's server, batch and threads stay its
 * own (their threads did not come along); the worker makes its own on its first command. */
static void worker_init(void *ctx)
{
    explore_t *ex = ctx;
    ex->server = NULL;
    ex->batch = NULL;
}

enum { CMD_RUN = 1, CMD_SEARCH_BATCH };

/* How long a search batch runs before it reports back (progress on a terminal). */
#define BATCH_NS (200 * 1000 * 1000)

/* In the worker: schedules of the search, one after another, moving the search on after each,
 * until one fails (when `stop_on_failure`) or cannot run, the budget, the time limit or the
 * explorer's space is spent, or BATCH_NS passed. Those that ended are counted in the shared
 * state; the one that stopped the batch (a failure, an error) is the answer, neither counted
 * nor moved on from: the explorer handles it as any. */
static void search_batch(explore_t *ex, search_state_t *ss, uint64_t done, bool stop_on_failure,
                         das_rpc_buf_t *answer)
{
    worker_shared_t *sh = ex->shared;
    sh->batch_n = sh->batch_failing = 0;
    sh->batch_steps_min = sh->batch_steps_max = sh->batch_steps_sum = 0;
    int64_t until = das_clock_monotonic_ns(ex->clock) + BATCH_NS;
    while (done + sh->batch_n < ex->budget) {
        if (ex->time_limit > 0 && elapsed_s(ex) >= ex->time_limit)
            break;
        if (sh->batch_n > 0 && das_clock_monotonic_ns(ex->clock) >= until)
            break;
        result_t r;
        ex->untraced = true;
        run_here(ex, search_strategy(ss), ex->strategy, NULL, false, &r);
        ex->untraced = false;
        if (r.error || (r.failed && stop_on_failure)) {
            /* The one the explorer gets: run again by its decisions, with its trace (the
             * run is deterministic; schedule 0 ran twice to check). Kept when it fails the
             * same way; else the first run goes, with no trace, as a crashed one would. */
            result_t traced;
            prefix_t p = {{&prefix_methods, "prefix"}, r.decisions, r.n_decisions};
            if (!r.error) {
                run_here(ex, &p.base, ex->strategy, NULL, false, &traced);
                if (traced.failed && strcmp(traced.kind, r.kind) == 0 &&
                    traced.n_decisions == r.n_decisions &&
                    memcmp(traced.decisions, r.decisions, r.n_decisions * sizeof *r.decisions) == 0) {
                    result_dispose(&r);
                    r = traced;
                } else {
                    result_dispose(&traced);
                }
            }
            das_rpc_put_u32(answer, 1);
            encode_result(answer, &r);
            result_dispose(&r);
            return;
        }
        if (sh->batch_n == 0 || r.steps < sh->batch_steps_min)
            sh->batch_steps_min = r.steps;
        if (r.steps > sh->batch_steps_max)
            sh->batch_steps_max = r.steps;
        sh->batch_steps_sum += r.steps;
        sh->batch_failing += r.failed;
        sh->batch_n++;
        result_dispose(&r);
        if (!search_advance(ss, done + sh->batch_n))
            break;
    }
    das_rpc_put_u32(answer, 0);
}

/* In the worker: one command, a schedule to run or a search batch. */
static void worker_serve(void *ctx, const void *cmd, size_t len, das_rpc_buf_t *answer)
{
    explore_t *ex = ctx;
    das_rpc_reader_t r;
    das_rpc_reader_init(&r, cmd, len);
    if (das_rpc_get_u32(&r) == CMD_SEARCH_BATCH) {
        search_state_t *ss = (search_state_t *)(uintptr_t)das_rpc_get_u64(&r);
        uint64_t done = das_rpc_get_u64(&r);
        bool stop_on_failure = das_rpc_get_u32(&r) != 0;
        search_batch(ex, ss, done, stop_on_failure, answer);
        return;
    }
    das_sched_strategy_t *strategy = (das_sched_strategy_t *)(uintptr_t)das_rpc_get_u64(&r);
    char name[64];
    snprintf(name, sizeof name, "%s", das_rpc_get_str(&r));
    const char *replay = das_rpc_get_str(&r);
    result_t res;
    run_here(ex, strategy, name, replay[0] ? replay : NULL, false, &res);
    encode_result(answer, &res);
    result_dispose(&res);
}

/* The result of a schedule the worker died in: a crash, or (its watchdog) a step timeout. What
 * is known is where it stood (the running task, the steps taken) and the decisions so far. */
static void worker_died(explore_t *ex, int status, const char *replay_path, result_t *res)
{
    memset(res, 0, sizeof *res);
    worker_shared_t *sh = ex->shared;
    int running = __atomic_load_n(&sh->progress.running, __ATOMIC_RELAXED);
    char who[600];
    if (running >= 0 && (size_t)running < ex->sc->n_requests) {
        char name[16];
        das_sched_task_name(running, name);
        snprintf(who, sizeof who, "%s %s %s", name, ex->sc->requests[running].method,
                 ex->sc->requests[running].target);
    } else {
        snprintf(who, sizeof who, "a request outside the schedule (warmup, setup or check)");
    }
    char how[160];
    switch (das_xworker_describe_end(status, how, sizeof how)) {
    case DAS_XWORKER_ENDED_OUTSIDE: /* not a handler's fault: the system or a person ended it */
        res->error = true;
        das_buf_printf(&res->why, "the in-process worker was ended from outside by %s while %s "
                                  "ran",
                       how, who);
        break;
    case DAS_XWORKER_ENDED_STUCK:
        fail_with(res, "step timeout",
                  "%s ran past --step-timeout (%.0f s) without reaching a point (a loop, or a "
                  "blocking call the scheduler does not see, such as a pipe or socket?)",
                  who, ex->step_timeout);
        break;
    case DAS_XWORKER_ENDED_CRASH:
        fail_with(res, "crash", "instance crash while %s ran: the in-process worker was killed "
                                "by %s",
                  who, how);
        break;
    case DAS_XWORKER_ENDED_EXIT:
        fail_with(res, "crash", "instance crash while %s ran: the in-process worker exited "
                                "with %s",
                  who, how);
        break;
    }
    das_trace_file_t tf;
    das_err_t err = {0};
    if (replay_path && das_trace_load(replay_path, &tf, &err) == 0) {
        res->decisions = copy_ints(NULL, tf.decisions, tf.n_decisions);
        res->n_decisions = tf.n_decisions;
        das_trace_file_dispose(&tf);
    } else if (!replay_path) {
        res->decisions = copy_ints(NULL, sh->decisions, sh->n_decisions);
        res->n_decisions = sh->n_decisions;
        res->preemptions = sh->preemptions;
    }
    res->steps = __atomic_load_n(&sh->progress.steps, __ATOMIC_RELAXED);
    res->schedule = das_sched_string_encode((int)ex->sc->n_requests, res->decisions,
                                            res->n_decisions);
    /* res->trace stays "": the worker's trace of it was cut short. */
}

/* No worker could be forked: the schedule could not run. */
static void no_worker(result_t *res)
{
    memset(res, 0, sizeof *res);
    res->error = true;
    if (errno == EDEADLK)
        das_buf_puts(&res->why, "cannot start the in-process worker: the explorer has threads "
                                "of its own, which a fork could leave holding a lock (a bug)");
    else
        das_buf_printf(&res->why, "cannot start the in-process worker: %s", strerror(errno));
}

/* Runs one schedule where the backend says: in the worker, or on this process's instances. */
static void run_schedule(explore_t *ex, das_sched_strategy_t *strategy, const char *strategy_name,
                         const char *replay_path, result_t *res)
{
    if (!ex->inprocess) {
        run_here(ex, strategy, strategy_name, replay_path, ex->fresh_process, res);
        judge_serializable(ex, res);
        return;
    }
    das_rpc_buf_t cmd = {0}, answer = {0};
    das_rpc_put_u32(&cmd, CMD_RUN);
    das_rpc_put_u64(&cmd, (uint64_t)(uintptr_t)strategy);
    das_rpc_put_str(&cmd, strategy_name);
    das_rpc_put_str(&cmd, replay_path ? replay_path : "");
    int status, rc = das_xworker_call(ex->worker, &cmd, &answer, &status);
    if (rc == 0)
        decode_result(answer.data, answer.len, res);
    else if (rc == -1)
        worker_died(ex, status, replay_path, res);
    else
        no_worker(res);
    das_rpc_buf_dispose(&cmd);
    das_rpc_buf_dispose(&answer);
    judge_serializable(ex, res);
}

static void show_progress(explore_t *ex)
{
    if (!ex->json && isatty(STDERR_FILENO))
        fprintf(stderr, "\rexplore: %llu schedules, %.0f/s ", (unsigned long long)ex->schedules,
                (double)ex->schedules / (elapsed_s(ex) > 0 ? elapsed_s(ex) : 1));
}

/* Counts `n` schedules that ran, `failing` of them failing, of the steps given. */
static void count_n(explore_t *ex, uint64_t n, uint64_t failing, size_t steps_min,
                    size_t steps_max, size_t steps_sum)
{
    if (!n)
        return;
    if (ex->schedules == 0 || steps_min < ex->steps_min)
        ex->steps_min = steps_min;
    if (steps_max > ex->steps_max)
        ex->steps_max = steps_max;
    ex->steps_sum += steps_sum;
    ex->schedules += n;
    ex->failing += failing;
}

static void count(explore_t *ex, const result_t *r)
{
    count_n(ex, 1, r->failed, r->steps, r->steps, r->steps);
    if (ex->schedules % 10 == 0)
        show_progress(ex);
}

/* In process: the worker runs schedules of the search until one needs the explorer (a
 * failure while none was found, an error), or the batch ends (search_batch). Those it ran to
 * their end are counted here; the one that stopped it, if any, goes into `r` (true). A worker
 * that died in the batch stopped it with its crash. */
static bool run_batch(explore_t *ex, search_state_t *ss, bool stop_on_failure, result_t *r)
{
    das_rpc_buf_t cmd = {0}, answer = {0};
    das_rpc_put_u32(&cmd, CMD_SEARCH_BATCH);
    das_rpc_put_u64(&cmd, (uint64_t)(uintptr_t)ss);
    das_rpc_put_u64(&cmd, ex->schedules);
    das_rpc_put_u32(&cmd, stop_on_failure);
    worker_shared_t *sh = ex->shared;
    sh->batch_n = sh->batch_failing = 0; /* a worker that dies before it reads: none ran */
    int status, rc = das_xworker_call(ex->worker, &cmd, &answer, &status);
    bool have = true;
    if (rc == 0) {
        das_rpc_reader_t rd;
        das_rpc_reader_init(&rd, answer.data, answer.len);
        have = das_rpc_get_u32(&rd) != 0;
        if (have)
            decode_result(rd.p, rd.end - rd.p, r);
    } else if (rc == -1) {
        worker_died(ex, status, NULL, r);
    } else {
        no_worker(r);
    }
    count_n(ex, sh->batch_n, sh->batch_failing, sh->batch_steps_min, sh->batch_steps_max,
            sh->batch_steps_sum);
    show_progress(ex);
    das_rpc_buf_dispose(&cmd);
    das_rpc_buf_dispose(&answer);
    if (have)
        judge_serializable(ex, r);
    return have;
}

/* Ends the server and the request threads this process ran schedules on (run_here), if any. */
static void end_own_server(explore_t *ex)
{
    das_offline_batch_destroy(ex->batch);
    ex->batch = NULL;
    das_server_destroy(ex->server);
    ex->server = NULL;
}

/* Runs the failing schedule `r` again and says whether it fails the same way. A failure found
 * in process runs again on a fresh real instance, and that run (its trace, its message) takes
 * r's place: what is reported is what a real instance did. A run the worker died in has no
 * trace: its decisions lead the way, then the run goes on as one with no strategy would. */
static bool confirm(explore_t *ex, result_t *r)
{
    result_t again;
    bool to_real = !r->real;
    prefix_t p = {{&prefix_methods, "prefix"}, r->decisions, r->n_decisions};
    das_sched_strategy_t *st = r->trace[0] ? NULL : &p.base;
    const char *trace = r->trace[0] ? r->trace : NULL;
    if (to_real || st) { /* `st` is on this stack: it never goes to the worker */
        run_here(ex, st, ex->strategy, trace, true, &again);
        judge_serializable(ex, &again);
        if (ex->inprocess) /* workers are forked here again: none of this run's threads stay */
            end_own_server(ex);
    } else
        run_schedule(ex, st, ex->strategy, trace, &again);
    bool same = again.failed && !again.error && strcmp(again.kind, r->kind) == 0;
    if (same && to_real) {
        result_dispose(r);
        *r = again;
    } else {
        result_dispose(&again);
    }
    return same;
}

/* ---------------------------------------------------------------- explaining a failure */

/* Keeps a schedule's trace: moves it to the trace folder as <scenario>-NNNN<suffix>.jsonl. */
static char *keep_trace(explore_t *ex, const result_t *r, uint64_t number, const char *suffix)
{
    das_mkdirs(ex->trace_dir, 0755);
    const char *base = strrchr(ex->sc->path, '/');
    base = base ? base + 1 : ex->sc->path;
    size_t len = strcspn(base, ".");
    char *path = das_xasprintf("%s/%.*s-%04llu%s.jsonl", ex->trace_dir, (int)len, base,
                               (unsigned long long)number, suffix);
    if (rename(r->trace, path) < 0) {
        /* Another file system: copy it. */
        char *data;
        size_t n;
        if (das_file_read(r->trace, &data, &n) == 0) {
            das_file_write_atomic(path, data, n);
            free(data);
        }
    }
    return path;
}

static bool conflict(const das_sched_action_t *a, const das_sched_action_t *b)
{
    if (a->kind != DAS_SCHED_CALL || b->kind != DAS_SCHED_CALL || !(a->write || b->write) ||
        strcmp(a->service, b->service) != 0)
        return false;
    for (size_t i = 0; i < a->n_keys; i++)
        for (size_t j = 0; j < b->n_keys; j++)
            if (a->keys[i].len == b->keys[j].len &&
                memcmp(a->keys[i].data, b->keys[j].data, a->keys[i].len) == 0)
                return true;
    return false;
}

static void name_call(das_buf_t *b, const das_trace_file_t *tf, size_t i)
{
    const das_sched_step_t *st = &tf->steps[i];
    const das_sched_action_t *a = &st->action;
    char name[16];
    das_sched_task_name(st->task, name);
    das_buf_printf(b, "%s %s.%s", name, a->service, a->op);
    for (size_t k = 0; k < a->n_keys; k++) {
        const char *key = a->keys[k].data;
        size_t len = a->keys[k].len;
        if (len && key[0] == '/') {
            key++;
            len--;
        }
        das_buf_puts(b, k ? ", " : " ");
        das_timeline_quote(b, key, len, 40);
    }
    if (a->site && a->site[0])
        das_buf_printf(b, " (%s)", a->site);
}

/* Finds the racing pair of the failing schedule in `tf` (see the top of the file), which has
 * `preemptions`. */
static void racing_pair(explore_t *ex, const das_trace_file_t *tf, int preemptions,
                        das_buf_t *out)
{
    size_t n = tf->n_steps;
    int *want = das_xcalloc(n + 1, sizeof *want);
    double until = elapsed_s(ex) + MINIMAL_SECONDS;
    for (size_t j = 0; j < n && !out->len; j++) {
        for (size_t i = 0; i < j && !out->len; i++) {
            const das_sched_step_t *a = &tf->steps[i], *b = &tf->steps[j];
            if (a->task == b->task || !conflict(&a->action, &b->action))
                continue;
            if (elapsed_s(ex) > until)
                goto done;
            /* b's task's steps in [i, j] move before step i, in their order. */
            size_t w = 0;
            for (size_t k = 0; k < i; k++)
                want[w++] = tf->steps[k].task;
            for (size_t k = i; k <= j; k++)
                if (tf->steps[k].task == b->task)
                    want[w++] = b->task;
            for (size_t k = i; k <= j; k++)
                if (tf->steps[k].task != b->task)
                    want[w++] = tf->steps[k].task;
            for (size_t k = j + 1; k < n; k++)
                want[w++] = tf->steps[k].task;
            guided_t *g = guided_new(&ex->alloc, "guided", want, w, NULL, 0);
            result_t r;
            run_schedule(ex, &g->base, tf->header.strategy, NULL, &r);
            guided_free(&ex->alloc, g);
            bool passes = !r.failed && !r.error;
            result_dispose(&r);
            if (!passes)
                continue;
            /* A later call of a's task on the same key makes it "came between". */
            size_t later = 0;
            for (size_t k = j + 1; k < n && !later; k++)
                if (tf->steps[k].task == a->task && conflict(&tf->steps[k].action, &b->action))
                    later = k;
            das_buf_puts(out, "racing pair: ");
            name_call(out, tf, j);
            if (later) {
                das_buf_puts(out, " came between\n             ");
                name_call(out, tf, i);
                das_buf_puts(out, " and ");
                name_call(out, tf, later);
            } else {
                das_buf_puts(out, " came after ");
                name_call(out, tf, i);
            }
            das_buf_puts(out, "\n");
        }
    }
done:
    if (!out->len && preemptions == 0)
        das_buf_puts(out, "racing pair: none: the schedule fails with no preemption, the "
                          "requests running one after another (an order that fails, not an "
                          "interleaving)\n");
    else if (!out->len)
        das_buf_puts(out, "racing pair: none among the service calls (no swap of two "
                          "conflicting calls passes): the race is on memory the scheduler does "
                          "not see, such as a global the requests share\n");
    free(want);
}

/* ---------------------------------------------------------------- the search */

/* The closed form (s1 + s2 + ...)! / (s1! s2! ...) from the steps per task of one schedule: the
 * number of schedules when there are no locks or sleeps. 0 when it overflows. */
static uint64_t closed_form(const das_trace_file_t *tf, size_t n_tasks)
{
    double logs = 0;
    size_t total = 0;
    for (size_t t = 0; t < n_tasks; t++) {
        size_t s = 0;
        for (size_t i = 0; i < tf->n_steps; i++)
            s += tf->steps[i].task == (int)t;
        logs -= lgamma((double)s + 1);
        total += s;
    }
    logs += lgamma((double)total + 1);
    return logs < 62 * log(2.0) ? (uint64_t)llround(exp(logs)) : 0;
}


typedef struct {
    result_t fail;        /* the first failing schedule */
    uint64_t number;      /* its number, from 1 */
    phase_t phase;
    bool found;
    bool exhausted;       /* the explorer covered its space */
    bool bounded;         /* ... within --preemptions */
    uint64_t space;       /* the closed form, 0 when unknown */
} search_t;

/* Runs schedules by the chosen strategy until a failure (or, with --keep-going, the budget). */
static int search(explore_t *ex, search_t *out)
{
    memset(out, 0, sizeof *out);
    bool portfolio = strcmp(ex->strategy, "portfolio") == 0;
    bool exhaustive = portfolio || strcmp(ex->strategy, "exhaustive") == 0;
    search_state_t *ss = das_sched_alloc_realloc(&ex->alloc, NULL, sizeof *ss);
    *ss = (search_state_t){
        .explorer = exhaustive ? das_sched_explorer_create_in(ex->preemptions, &ex->alloc) : NULL,
        .rnd = das_sched_random_create_in(ex->seed, &ex->alloc),
        .pct = das_sched_pct_create_in(ex->seed, ex->pct_depth, &ex->alloc),
        .phase = exhaustive                          ? PHASE_EXHAUSTIVE
                 : strcmp(ex->strategy, "pct") == 0 ? PHASE_PCT
                                                     : PHASE_RANDOM,
        .portfolio = portfolio,
        .exhaustive_budget = portfolio ? (ex->budget + 1) / 2 : ex->budget,
    };
    int rc = 0;
    bool first = true;
    while (ex->schedules < ex->budget) {
        if (ex->time_limit > 0 && elapsed_s(ex) >= ex->time_limit)
            break;
        phase_t phase = ss->phase;
        result_t r;
        /* In process the worker runs plain schedules on its own (no round trip each): all
         * but the first, which is checked here, and a serializable scenario's, judged here. */
        if (ex->inprocess && !first && !ex->allowed) {
            if (!run_batch(ex, ss, !out->found, &r)) {
                if (ss->exhausted)
                    break;
                continue;
            }
            phase = ss->phase;
        } else {
            run_schedule(ex, search_strategy(ss), ex->strategy, NULL, &r);
        }
        if (r.error) {
            fprintf(stderr, "devappserver explore: %s\n", r.why.data);
            result_dispose(&r);
            rc = EXIT_USAGE;
            break;
        }
        count(ex, &r);
        if (first) {
            /* A request no handler matches is an outcome, not an error: but say so, unless
             * its expect names the 404. */
            for (size_t i = 0; i < ex->sc->n_requests; i++) {
                const das_scenario_request_t *q = &ex->sc->requests[i];
                if (i < 64 && (r.not_found >> i & 1) && q->expect.status != 404)
                    fprintf(stderr, "devappserver explore: warning: %s:%d:%d: %s %s got 404: "
                                    "does it match a handler?\n",
                            ex->sc->path, q->line, q->col, q->method, q->target);
            }
            das_trace_file_t tf;
            das_err_t err = {0};
            if (das_trace_load(r.trace, &tf, &err) == 0) {
                out->space = closed_form(&tf, ex->sc->n_requests);
                /* Schedule 0 again, by its decisions: the same trace, or the app (or the
                 * reset) is not deterministic. */
                result_t again;
                char *copy = das_xasprintf("%s/first.jsonl", ex->tmp);
                rename(r.trace, copy); /* the rerun writes where it was */
                run_schedule(ex, NULL, ex->strategy, copy, &again);
                size_t line = das_trace_first_difference(copy, again.trace, true);
                if (line)
                    fprintf(stderr,
                            "devappserver explore: warning: schedule 0 ran twice and its traces "
                            "differ from line %zu: the app is not deterministic under explore "
                            "(time, randomness or state outside what is reset)\n",
                            line);
                rename(copy, r.trace);
                free(copy);
                result_dispose(&again);
                das_trace_file_dispose(&tf);
            }
            first = false;
        }
        if (r.failed && !out->found && !r.real && !confirm(ex, &r)) {
            /* Found in process only: what made it fail is not what the reset puts back. */
            fprintf(stderr,
                    "devappserver explore: schedule %llu failed in process (%s: %s) but not when "
                    "run again on a fresh real instance: state outside the app's globals "
                    "survived the reset between schedules; going on with --backend instances\n",
                    (unsigned long long)ex->schedules, r.kind, r.why.data ? r.why.data : "");
            ex->inprocess = false;
            das_xworker_destroy(ex->worker);
            ex->worker = NULL;
            /* Not counted, and the search not moved on: the schedule runs again, on
             * instances (a run the worker died in may not have run to its end). */
            ex->schedules--;
            ex->failing--;
            ex->steps_sum -= r.steps;
            result_dispose(&r);
            continue;
        } else if (r.failed && !out->found) {
            out->fail = r;
            out->number = ex->schedules;
            out->phase = phase;
            out->found = true;
            char *kept = keep_trace(ex, &r, ex->schedules, "");
            snprintf(out->fail.trace, sizeof out->fail.trace, "%s", kept);
            free(kept);
            if (!ex->keep_going)
                break;
        } else {
            result_dispose(&r);
        }
        if (!search_advance(ss, ex->schedules))
            break;
    }
    out->exhausted = ss->exhausted;
    out->bounded = ss->bounded;
    das_sched_explorer_destroy(ss->explorer);
    das_sched_strategy_destroy(ss->rnd);
    das_sched_strategy_destroy(ss->pct);
    das_sched_alloc_realloc(&ex->alloc, ss, 0);
    if (!ex->json && isatty(STDERR_FILENO))
        fprintf(stderr, "\r%60s\r", "");
    return rc;
}

/* The fewest preemptions a failing schedule needs, below the failure's own. */
typedef struct {
    result_t best;
    bool improved; /* a failure with fewer preemptions was found */
    bool proven;
} minimal_t;

static void find_minimal(explore_t *ex, const result_t *fail, minimal_t *m)
{
    memset(m, 0, sizeof *m);
    if (fail->preemptions == 0) {
        m->proven = true;
        return;
    }
    das_sched_explorer_t *e = das_sched_explorer_create_in(fail->preemptions - 1, &ex->alloc);
    double until = elapsed_s(ex) + MINIMAL_SECONDS;
    uint64_t left = ex->budget > ex->schedules ? ex->budget - ex->schedules : 0;
    for (;;) {
        if (elapsed_s(ex) > until || left == 0)
            break;
        result_t r;
        run_schedule(ex, das_sched_explorer_strategy(e), ex->strategy, NULL, &r);
        if (r.failed && strcmp(r.kind, fail->kind) == 0) {
            m->best = r;
            m->improved = true;
            m->proven = true; /* bound by bound: every schedule with fewer was run first */
            if (r.trace[0]) { /* a run the worker died in has none */
                char *copy = das_xasprintf("%s/minimal.jsonl", ex->tmp);
                rename(r.trace, copy);
                snprintf(m->best.trace, sizeof m->best.trace, "%s", copy);
                free(copy);
            }
            break;
        }
        result_dispose(&r);
        if (left)
            left--;
        if (das_sched_explorer_advance(e) == DAS_EXPLORE_DONE) {
            m->proven = true; /* nothing with fewer preemptions fails */
            break;
        }
    }
    das_sched_explorer_destroy(e);
}

/* ---------------------------------------------------------------- the report */

static void print_stats(explore_t *ex, das_buf_t *b)
{
    double wall = elapsed_s(ex);
    das_buf_printf(b, "stats: %llu schedule%s, %llu failing, ",
                   (unsigned long long)ex->schedules, ex->schedules == 1 ? "" : "s",
                   (unsigned long long)ex->failing);
    if (ex->steps_min == ex->steps_max)
        das_buf_printf(b, "%zu steps each", ex->steps_min);
    else
        das_buf_printf(b, "steps per schedule %zu min, %.1f avg, %zu max", ex->steps_min,
                       ex->schedules ? (double)ex->steps_sum / (double)ex->schedules : 0.0,
                       ex->steps_max);
    das_buf_printf(b, ", %.1f schedules/s, %.2f s\n",
                   wall > 0 ? (double)ex->schedules / wall : 0.0, wall);
}

static int report(explore_t *ex, search_t *s)
{
    das_buf_t out = {0};
    json_t *j = json_object();
    json_object_set_new(j, "scenario", json_string(ex->sc->name));
    json_object_set_new(j, "strategy", json_string(ex->strategy));
    char seed[24];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)ex->seed);
    json_object_set_new(j, "seed", json_string(seed));
    if (!s->found) {
        if (s->exhausted && !s->bounded)
            das_buf_printf(&out, "PASS %s: all %llu schedules passed (exhaustive)\n",
                           ex->sc->name, (unsigned long long)ex->schedules);
        else if (s->exhausted)
            das_buf_printf(&out, "PASS %s: all %llu schedules with at most %d preemption%s "
                                 "passed\n",
                           ex->sc->name, (unsigned long long)ex->schedules, ex->preemptions,
                           ex->preemptions == 1 ? "" : "s");
        else if (strcmp(ex->strategy, "exhaustive") == 0)
            das_buf_printf(&out, "PASS %s: %llu schedules passed (not all of them: the budget "
                                 "or the time limit ended the search; raise --schedules)\n",
                           ex->sc->name, (unsigned long long)ex->schedules);
        else
            das_buf_printf(&out, "PASS %s: %llu schedules passed (%s; not exhaustive)\n",
                           ex->sc->name, (unsigned long long)ex->schedules, ex->strategy);
        print_stats(ex, &out);
        json_object_set_new(j, "result", json_string("pass"));
        json_object_set_new(j, "schedules", json_integer((json_int_t)ex->schedules));
        json_object_set_new(j, "exhaustive", json_boolean(s->exhausted && !s->bounded));
    } else {
        result_t *f = &s->fail;
        char total[64] = "";
        /* The closed form counts the space when every schedule takes the same steps. */
        if (s->phase == PHASE_EXHAUSTIVE && s->space && ex->steps_min == ex->steps_max)
            snprintf(total, sizeof total, " of %llu", (unsigned long long)s->space);
        das_buf_printf(&out, "FAIL %s  strategy=%s seed=%s  schedule %llu%s (%s)\n",
                       ex->sc->name, ex->strategy, seed, (unsigned long long)s->number, total,
                       phase_name(s->phase));
        das_buf_printf(&out, "%s\n", f->why.data);
        minimal_t m;
        find_minimal(ex, f, &m);
        result_t *shown = m.improved ? &m.best : f;
        bool confirmed = confirm(ex, shown);
        das_trace_file_t tf;
        das_err_t err = {0};
        /* (A minimal schedule the worker died in, and no real instance confirmed, has no
         * trace: the failure's own is shown.) */
        char *minimal_path =
            m.improved && shown->trace[0] ? keep_trace(ex, shown, s->number, "-minimal") : NULL;
        const char *path = minimal_path ? minimal_path : f->trace;
        bool loaded = das_trace_load(path, &tf, &err) == 0;
        das_buf_t pair = {0};
        if (loaded)
            racing_pair(ex, &tf, shown->preemptions, &pair);
        das_buf_append(&out, pair.data ? pair.data : "", pair.len);
        das_buf_printf(&out, "minimal: %d preemption%s (%s)   schedule %s%s\n",
                       shown->preemptions, shown->preemptions == 1 ? "" : "s",
                       m.proven ? "proven" : "not proven: the search stopped first",
                       shown->schedule, confirmed ? "" : "  (did not fail again on replay)");
        das_buf_t timeline = {0};
        if (loaded)
            das_timeline_render(&tf, &timeline);
        das_buf_append(&out, timeline.data ? timeline.data : "", timeline.len);
        das_buf_printf(&out, "replay: devappserver replay %s\n", path);
        print_stats(ex, &out);
        json_object_set_new(j, "result", json_string("fail"));
        json_object_set_new(j, "schedule_number", json_integer((json_int_t)s->number));
        json_object_set_new(j, "phase", json_string(phase_name(s->phase)));
        json_object_set_new(j, "oracle", json_string(f->kind));
        json_object_set_new(j, "message", json_string(f->why.data));
        json_object_set_new(j, "racing_pair", json_string(pair.data ? pair.data : ""));
        json_object_set_new(j, "minimal_preemptions", json_integer(shown->preemptions));
        json_object_set_new(j, "minimal_proven", json_boolean(m.proven));
        json_object_set_new(j, "schedule", json_string(shown->schedule));
        json_object_set_new(j, "confirmed", json_boolean(confirmed));
        json_object_set_new(j, "timeline", json_string(timeline.data ? timeline.data : ""));
        json_object_set_new(j, "trace", json_string(path));
        char *cmd = das_xasprintf("devappserver replay %s", path);
        json_object_set_new(j, "replay", json_string(cmd));
        free(cmd);
        json_object_set_new(j, "schedules", json_integer((json_int_t)ex->schedules));
        json_object_set_new(j, "failing", json_integer((json_int_t)ex->failing));
        das_buf_dispose(&timeline);
        das_buf_dispose(&pair);
        if (loaded)
            das_trace_file_dispose(&tf);
        free(minimal_path);
        if (m.improved)
            result_dispose(&m.best);
    }
    json_object_set_new(j, "steps_min", json_integer((json_int_t)ex->steps_min));
    json_object_set_new(j, "steps_max", json_integer((json_int_t)ex->steps_max));
    json_object_set_new(j, "wall_s", json_real(elapsed_s(ex)));
    if (ex->json) {
        char *text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        printf("%s\n", text);
        free(text);
    } else {
        fputs(out.data, stdout);
    }
    fflush(stdout);
    json_decref(j);
    das_buf_dispose(&out);
    return s->found ? EXIT_FAIL : 0;
}

/* ---------------------------------------------------------------- serializable */

static void next_permutation(int *a, size_t n, bool *done)
{
    /* Lexicographic order. */
    size_t i = n - 1;
    while (i > 0 && a[i - 1] >= a[i])
        i--;
    if (i == 0) {
        *done = true;
        return;
    }
    size_t j = n - 1;
    while (a[j] <= a[i - 1])
        j--;
    int t = a[i - 1];
    a[i - 1] = a[j];
    a[j] = t;
    for (size_t l = i, r = n - 1; l < r; l++, r--) {
        t = a[l];
        a[l] = a[r];
        a[r] = t;
    }
}

/* Runs every serial order and keeps the outcomes they give. */
static int learn_serial_outcomes(explore_t *ex)
{
    size_t n = ex->sc->n_requests;
    int order[8];
    for (size_t i = 0; i < n; i++)
        order[i] = (int)i;
    bool done = false;
    while (!done) {
        guided_t *g = guided_new(&ex->alloc, "serial", NULL, 0, order, n);
        result_t r;
        run_schedule(ex, &g->base, ex->strategy, NULL, &r);
        guided_free(&ex->alloc, g);
        if (r.error) {
            fprintf(stderr, "devappserver explore: %s\n", r.why.data);
            result_dispose(&r);
            return EXIT_USAGE;
        }
        ex->allowed = das_xrealloc(ex->allowed, (ex->n_allowed + 1) * sizeof *ex->allowed);
        ex->allowed[ex->n_allowed++] = das_xstrdup(r.outcome.data ? r.outcome.data : "");
        result_dispose(&r);
        next_permutation(order, n, &done);
    }
    return 0;
}

/* ---------------------------------------------------------------- the command */

static int usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "devappserver explore: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nusage: devappserver explore [OPTIONS] APPDIR SCENARIO\n"
                    "Try 'devappserver --help' for more information.\n");
    return EXIT_USAGE;
}

static bool parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (!(*s >= '0' && *s <= '9') || *end || errno == ERANGE)
        return false;
    *out = v;
    return true;
}

static bool parse_seconds(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (!*s || *end || !(v > 0) || v > 86400)
        return false;
    *out = v;
    return true;
}

int das_explore_main(int argc, char **argv, const char *exe,
                     const das_inprocess_runtime_t *runtime)
{
    enum { OPT_STRATEGY = 256, OPT_SCHEDULES, OPT_SEED, OPT_PCT_DEPTH, OPT_PREEMPTIONS,
           OPT_MAX_STEPS, OPT_STEP_TIMEOUT, OPT_TIME_LIMIT, OPT_BACKEND, OPT_FRESH, OPT_STORAGE,
           OPT_TRACE_DIR, OPT_JSON, OPT_KEEP_GOING };
    static const struct option longopts[] = {
        {"strategy", required_argument, NULL, OPT_STRATEGY},
        {"schedules", required_argument, NULL, OPT_SCHEDULES},
        {"seed", required_argument, NULL, OPT_SEED},
        {"pct-depth", required_argument, NULL, OPT_PCT_DEPTH},
        {"preemptions", required_argument, NULL, OPT_PREEMPTIONS},
        {"max-steps", required_argument, NULL, OPT_MAX_STEPS},
        {"step-timeout", required_argument, NULL, OPT_STEP_TIMEOUT},
        {"time-limit", required_argument, NULL, OPT_TIME_LIMIT},
        {"backend", required_argument, NULL, OPT_BACKEND},
        {"fresh", required_argument, NULL, OPT_FRESH},
        {"storage-path", required_argument, NULL, OPT_STORAGE},
        {"trace-dir", required_argument, NULL, OPT_TRACE_DIR},
        {"json", no_argument, NULL, OPT_JSON},
        {"keep-going", no_argument, NULL, OPT_KEEP_GOING},
        {NULL, 0, NULL, 0},
    };
    explore_t ex = {
        .strategy = "portfolio",
        .budget = 1000,
        .pct_depth = DAS_SCHED_PCT_DEPTH,
        .preemptions = -1,
        .max_steps = 10000,
        .step_timeout = 10,
        .exe = exe,
        .inprocess = runtime != NULL,
        .runtime = runtime,
    };
    const char *storage_path = NULL, *trace_dir = NULL;
    optind = 1;
    opterr = 0;
    int c;
    uint64_t v;
    while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_STRATEGY:
            if (strcmp(optarg, "portfolio") != 0 && strcmp(optarg, "random") != 0 &&
                strcmp(optarg, "pct") != 0 && strcmp(optarg, "exhaustive") != 0)
                return usage("--strategy must be portfolio, random, pct or exhaustive, not '%s'",
                             optarg);
            ex.strategy = optarg;
            break;
        case OPT_SCHEDULES:
            if (!parse_u64(optarg, &ex.budget) || ex.budget == 0)
                return usage("--schedules must be a number of schedules above 0, not '%s'",
                             optarg);
            break;
        case OPT_SEED:
            if (!parse_u64(optarg, &ex.seed))
                return usage("--seed must be a number from 0 to 2^64 - 1, not '%s'", optarg);
            break;
        case OPT_PCT_DEPTH:
            if (!parse_u64(optarg, &v) || v < 1 || v > 100)
                return usage("--pct-depth must be a number from 1 to 100, not '%s'", optarg);
            ex.pct_depth = (int)v;
            break;
        case OPT_PREEMPTIONS:
            if (!parse_u64(optarg, &v) || v > 1000)
                return usage("--preemptions must be a number from 0 to 1000, not '%s'", optarg);
            ex.preemptions = (int)v;
            break;
        case OPT_MAX_STEPS:
            if (!parse_u64(optarg, &ex.max_steps) || ex.max_steps == 0)
                return usage("--max-steps must be a number above 0, not '%s'", optarg);
            break;
        case OPT_STEP_TIMEOUT:
            if (!parse_seconds(optarg, &ex.step_timeout))
                return usage("--step-timeout must be a number of seconds above 0, not '%s'",
                             optarg);
            break;
        case OPT_TIME_LIMIT:
            if (!parse_seconds(optarg, &ex.time_limit))
                return usage("--time-limit must be a number of seconds above 0, not '%s'",
                             optarg);
            break;
        case OPT_BACKEND:
            if (strcmp(optarg, "instances") != 0 && strcmp(optarg, "inprocess") != 0)
                return usage("--backend must be inprocess or instances, not '%s'", optarg);
            ex.inprocess = strcmp(optarg, "inprocess") == 0;
            break;
        case OPT_FRESH:
            if (strcmp(optarg, "globals") != 0 && strcmp(optarg, "process") != 0)
                return usage("--fresh must be globals or process, not '%s'", optarg);
            ex.fresh_process = strcmp(optarg, "process") == 0;
            break;
        case OPT_STORAGE: storage_path = optarg; break;
        case OPT_TRACE_DIR: trace_dir = optarg; break;
        case OPT_JSON: ex.json = true; break;
        case OPT_KEEP_GOING: ex.keep_going = true; break;
        case ':': return usage("option '%s' needs a value", argv[optind - 1]);
        default: return usage("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind != 2)
        return usage("%s", argc - optind < 2 ? "needs APPDIR and SCENARIO"
                                              : "takes only APPDIR and SCENARIO");
    ex.appdir = argv[optind];
    das_err_t err = {0};
    if (das_scenario_load(argv[optind + 1], &ex.sc, &err) < 0) {
        fprintf(stderr, "devappserver explore: %s\n", err.msg);
        return EXIT_USAGE;
    }
    char *app_storage = storage_path ? das_xstrdup(storage_path)
                                     : das_server_default_storage_path(ex.appdir, &err);
    if (!app_storage) {
        fprintf(stderr, "devappserver explore: %s\n", err.msg);
        das_scenario_destroy(ex.sc);
        return EXIT_USAGE;
    }
    ex.build_dir = das_xasprintf("%s/build", app_storage);
    char *traces = trace_dir ? das_xstrdup(trace_dir) : das_xasprintf("%s/traces", app_storage);
    ex.trace_dir = traces;
    snprintf(ex.tmp, sizeof ex.tmp, "/tmp/devappserver-explore-XXXXXX");
    int rc = EXIT_USAGE;
    bool have_tmp = false;
    search_t s = {.found = false};
    if (!(have_tmp = mkdtemp(ex.tmp) != NULL)) {
        fprintf(stderr, "devappserver explore: cannot make a folder in /tmp: %s\n",
                strerror(errno));
        goto out;
    }
    ex.storage = das_xasprintf("%s/storage", ex.tmp);
    char *log_path = das_xasprintf("%s/server.log", ex.tmp);
    ex.log = fopen(log_path, "we");
    free(log_path);
    ex.clock = das_clock_real();
    ex.started_ns = das_clock_monotonic_ns(ex.clock);
    size_t n = ex.sc->n_requests;
    ex.requests = das_xcalloc(n, sizeof *ex.requests);
    ex.arrivals = das_xcalloc(n, sizeof *ex.arrivals);
    for (size_t i = 0; i < n; i++)
        ex.requests[i] = as_request(&ex.sc->requests[i]);
    ex.setup = das_xcalloc(ex.sc->n_setup + 1, sizeof *ex.setup);
    for (size_t i = 0; i < ex.sc->n_setup; i++)
        ex.setup[i] = as_request(&ex.sc->setup[i]);
    ex.checks = das_xcalloc(ex.sc->n_checks + 1, sizeof *ex.checks);
    for (size_t i = 0; i < ex.sc->n_checks; i++)
        ex.checks[i] = as_request(&ex.sc->checks[i]);

    /* --fresh process asks for new instance processes: instances it is. */
    if (ex.fresh_process || !ex.runtime)
        ex.inprocess = false;
    if (ex.inprocess) {
        /* Address space only (pages come as they are used): room for any search. */
        ex.arena = das_shm_arena_create((size_t)16 << 30);
        if (!ex.arena) {
            fprintf(stderr, "devappserver explore: cannot map shared memory for the in-process "
                            "backend: %s\n",
                    strerror(errno));
            goto out;
        }
        ex.alloc = (das_sched_alloc_t){das_shm_arena_realloc, ex.arena};
        ex.shared = das_shm_arena_realloc(ex.arena, NULL, sizeof *ex.shared);
        memset(ex.shared, 0, sizeof *ex.shared);
        ex.shared->progress.running = -1;
        ex.log_fd = ex.log ? fileno(ex.log) : -1;
        das_xworker_options_t wo = {worker_serve, worker_init, &ex, &ex.shared->progress,
                                    ex.step_timeout, &ex.log_fd, ex.log_fd >= 0};
        ex.worker = das_xworker_create(&wo);
    }
    ex.datastore = (das_datastore_service_options_t){.in_memory = true, .no_app_root = true};
    ex.services[0] = (das_service_config_t){"datastore_v3", &ex.datastore};
    if (ex.inprocess)
        prebuild(&ex);
    if (ex.sc->serializable && (rc = learn_serial_outcomes(&ex)) != 0)
        goto out;
    ex.schedules = 0;
    if ((rc = search(&ex, &s)) == 0)
        rc = report(&ex, &s);
    if (s.found)
        result_dispose(&s.fail);
out:
    das_xworker_destroy(ex.worker);
    end_own_server(&ex);
    das_shm_arena_destroy(ex.arena);
    if (ex.log)
        fclose(ex.log);
    if (have_tmp)
        das_remove_tree(ex.tmp);
    for (size_t i = 0; i < ex.n_allowed; i++)
        free(ex.allowed[i]);
    free(ex.allowed);
    free(ex.requests);
    free(ex.arrivals);
    free(ex.setup);
    free(ex.checks);
    free(ex.storage);
    free(ex.build_dir);
    free(traces);
    free(app_storage);
    das_scenario_destroy(ex.sc);
    return rc;
}
