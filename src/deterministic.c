/* deterministic.c - the deterministic dispatch driver (see deterministic.h).
 *
 * Design: a baton. Each request's own thread blocks on its task's condition variable at every
 * point; the thread whose task reaches a point (or ends) takes the next step itself, under the
 * driver's lock: das_sched_next() names a task, the virtual clock moves 1 ms, and that task's
 * thread is woken. So exactly one request thread runs app code or a service call at a time, and
 * nothing here needs a thread of its own. The gather window is closed by whichever waiting
 * thread wakes first after it passed (or by an arrival after it passed).
 *
 * Trace lines are written only by the thread holding the baton, or under the lock at a step,
 * so their order is the run's. A request line is written just before the first step after the
 * task arrived (its arrival step), not when its HTTP thread got there.
 */
#include "deterministic.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "rpc_codec.h"

struct das_det_task {
    int n;
    pthread_cond_t cond;
    bool go;         /* a step picked it: run to the next point */
    int fail_rc;     /* failed while waiting: leave with this AE_* code */
    char fail_detail[1024];
    char instance_id[37];
    int slot;
    bool ended;      /* das_det_end counted it */
    char *line;      /* its request line, until it is written */
    /* A failed task's end line, held until the trace closes: tasks failed together (a
     * deadlock, the run's end) end in whatever order their threads get there, and the trace
     * must not depend on it. */
    bool end_held;
    uint64_t end_step;
    int end_status;
    char *end_body;
    size_t end_len;
    das_clock_t *clock; /* its view of the virtual clock */
};

struct sync_id {
    char instance_id[37];
    uint64_t addr;
};

struct das_det {
    das_det_options_t o;
    pthread_mutex_t lock;
    pthread_cond_t idle; /* broadcast when a task is finished */
    das_sched_t *sched;
    das_trace_t *trace;
    das_det_task_t **tasks;
    size_t n_tasks, cap_tasks;
    size_t traced;       /* request lines written: tasks [0, traced) */
    int running;         /* the task that holds the baton; -1 when none */
    /* Set by a caller that wakes the task a step picks itself, after unlocking
     * (unlock_and_wake): a thread woken under the lock would only block on it again. */
    bool defer_wake;
    das_det_task_t *to_wake;
    int unfinished;      /* tasks that arrived and did not end */
    int held;            /* tasks not finished by their threads */
    bool window_open;
    int64_t window_end_ns;
    bool stopping;
    bool over;           /* diverged or past the step bound: every task fails */
    size_t injected;     /* replay: requests asked to arrive */
    bool injecting;      /* scripted: the run waits for a request it asked to arrive */
    bool bypass;         /* requests are not tasks (das_det_set_bypass) */
    /* The app's mutexes and conditions by (instance, address), numbered 1, 2, ... in order of
     * first use: the ids the scheduler and the trace use (addresses vary between runs). */
    struct sync_id *syncs;
    size_t n_syncs, cap_syncs;
    int checks_failed;   /* AE_CHECK failures in this run */
    char first_check[600]; /* the first of them, "A: message (file:line)" */
    char over_detail[1024];
};

static void make_sched(das_det_t *det)
{
    const das_det_replay_t *r = det->o.replay;
    das_sched_options_t so = {
        .strategy = det->o.strategy,
        .replay = r != NULL,
        .decisions = r ? r->decisions : NULL,
        .n_decisions = r ? r->n_decisions : 0,
        .expect = r ? r->expect : NULL,
        .n_expect = r ? r->n_expect : 0,
        .max_steps = det->o.max_steps,
    };
    det->sched = das_sched_create(&so);
}

das_det_t *das_det_create(const das_det_options_t *o)
{
    das_det_t *det = das_xcalloc(1, sizeof *det);
    det->o = *o;
    det->trace = o->trace;
    det->running = -1;
    if (o->progress) {
        __atomic_store_n(&o->progress->running, -1, __ATOMIC_RELAXED);
        __atomic_store_n(&o->progress->steps, 0, __ATOMIC_RELAXED);
        __atomic_add_fetch(&o->progress->beat, 1, __ATOMIC_RELAXED);
    }
    /* Adaptive: a task woken by a step finds the lock still held by the thread that took the
     * step, for the moment it takes that thread to wait; spinning that moment out costs less
     * than sleeping on the lock and being woken again (explore, in process). */
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ADAPTIVE_NP);
    pthread_mutex_init(&det->lock, &ma);
    pthread_mutexattr_destroy(&ma);
    pthread_cond_init(&det->idle, NULL);
    make_sched(det);
    return det;
}

/* Writes the held end lines of failed tasks, in task order, and closes the trace. */
static void close_trace_locked(das_det_t *det)
{
    for (size_t i = 0; i < det->n_tasks && det->trace; i++) {
        das_det_task_t *t = det->tasks[i];
        if (t->end_held)
            das_trace_end(det->trace, t->n, t->end_step, "failed", t->end_status,
                          t->end_body ? t->end_body : "", t->end_len);
        t->end_held = false;
    }
    das_err_t err = {0};
    if (das_trace_close(det->trace, det->sched, &err) < 0)
        das_log_error(det->o.log, "%s", err.msg);
    det->trace = NULL;
}

static void free_tasks(das_det_t *det)
{
    for (size_t i = 0; i < det->n_tasks; i++) {
        das_det_task_t *t = det->tasks[i];
        pthread_cond_destroy(&t->cond);
        free(t->end_body);
        free(t->line);
        free(t);
    }
    free(det->tasks);
    det->tasks = NULL;
    det->n_tasks = det->cap_tasks = det->traced = 0;
}

void das_det_destroy(das_det_t *det)
{
    if (!det)
        return;
    close_trace_locked(det);
    das_sched_destroy(det->sched);
    free_tasks(det);
    free(det->syncs);
    pthread_cond_destroy(&det->idle);
    pthread_mutex_destroy(&det->lock);
    free(det);
}

/* ---------------------------------------------------------------- steps */

/* Who runs now; mirrored for a watcher that reads it without the lock (das_det_progress_t). */
static void set_running_locked(das_det_t *det, int task)
{
    det->running = task;
    das_det_progress_t *p = det->o.progress;
    if (p) {
        __atomic_store_n(&p->running, task, __ATOMIC_RELAXED);
        __atomic_store_n(&p->steps, (uint64_t)das_sched_steps(det->sched), __ATOMIC_RELAXED);
        __atomic_add_fetch(&p->beat, 1, __ATOMIC_RELAXED);
    }
}

static void fail_task_locked(das_det_t *det, das_det_task_t *t, int rc, const char *detail)
{
    if (t->fail_rc)
        return;
    t->fail_rc = rc;
    snprintf(t->fail_detail, sizeof t->fail_detail, "%s", detail);
    das_sched_cancel(det->sched, t->n);
    pthread_cond_signal(&t->cond);
}

/* Fails every task that waits at a point (not the running one, not the ended ones). */
static void fail_waiting_locked(das_det_t *det, int rc, const char *detail)
{
    for (size_t i = 0; i < det->n_tasks; i++) {
        das_sched_state_t st = das_sched_task_state(det->sched, (int)i);
        if (st != DAS_TASK_RUNNING && st != DAS_TASK_ENDED)
            fail_task_locked(det, det->tasks[i], rc, detail);
    }
}

static void trace_arrivals_locked(das_det_t *det)
{
    for (; det->traced < det->n_tasks; det->traced++) {
        das_det_task_t *t = det->tasks[det->traced];
        if (det->trace && t->line)
            das_trace_put_line(det->trace, t->line);
        free(t->line);
        t->line = NULL;
    }
}

/* A step once performed; for a call, what it did, and for an external call (`extra`) its
 * whole reply. */
static void trace_step_locked(das_det_t *det, size_t i, int status, const das_buf_t *value,
                              const das_trace_step_t *extra)
{
    if (!det->trace)
        return;
    das_trace_step_t ts = {
        .step = i,
        .st = das_sched_step(det->sched, i),
        .status = status,
        .value = value ? value->data : NULL,
        .value_len = value ? value->len : 0,
        .has_value = value && value->len > 0,
        .external = extra ? extra->external : NULL,
        .external_len = extra ? extra->external_len : 0,
    };
    das_trace_step(det->trace, &ts);
}

static void set_over_locked(das_det_t *det, const char *why)
{
    det->over = true;
    snprintf(det->over_detail, sizeof det->over_detail, "%s", why ? why : "diverged");
    fail_waiting_locked(det, AE_EINTERNAL, det->over_detail);
}

/* Scripted: asks the next request due at this step to arrive (from its own thread), and the run
 * waits for it (`injecting`): its arrival asks for the next one due, or takes the step. So the
 * requests arrive one at a time, in task order, each woken by the one before. True when one is
 * on its way; false when none is due, or the run went idle before a recorded arrival (it
 * diverged). */
static bool inject_next_locked(das_det_t *det)
{
    const das_det_script_t *r = det->o.script;
    uint64_t steps = das_sched_steps(det->sched);
    if (det->injected < r->n_arrivals && r->arrivals[det->injected] <= steps) {
        size_t i = det->injected++;
        det->injecting = true;
        pthread_mutex_unlock(&det->lock);
        r->inject(r->inject_ctx, i);
        pthread_mutex_lock(&det->lock);
        return true;
    }
    if (det->injected < r->n_arrivals && det->unfinished == 0) {
        char why[200];
        snprintf(why, sizeof why,
                 "step %llu: the trace has request %zu arriving at step %llu, the run had "
                 "nothing left to run",
                 (unsigned long long)steps, det->injected + 1,
                 (unsigned long long)r->arrivals[det->injected]);
        set_over_locked(det, why);
    }
    return false;
}

/* Takes steps until a task holds the baton, or none can (idle, deadlock handled, over). */
static void advance_locked(das_det_t *det)
{
    while (!det->window_open && det->running < 0 && !det->over && !det->injecting) {
        if (det->o.script && (inject_next_locked(det) || det->over))
            return;
        trace_arrivals_locked(det);
        int task;
        das_sched_status_t st = das_sched_next(det->sched, &task);
        if (st == DAS_SCHED_STEP) {
            das_clock_virtual_step(det->o.virt);
            set_running_locked(det, task);
            size_t i = das_sched_steps(det->sched) - 1;
            /* A call's line is written once the call ran, with its result. */
            if (das_sched_step(det->sched, i)->action.kind != DAS_SCHED_CALL)
                trace_step_locked(det, i, 0, NULL, NULL);
            det->tasks[task]->go = true;
            if (det->defer_wake)
                det->to_wake = det->tasks[task];
            else
                pthread_cond_signal(&det->tasks[task]->cond);
            return;
        }
        if (st == DAS_SCHED_IDLE)
            return;
        if (st == DAS_SCHED_DEADLOCK) {
            das_buf_t report = {0};
            das_buf_puts(&report, "deadlock under deterministic dispatch: ");
            das_sched_deadlock_report(det->sched, &report);
            das_log_error(det->o.log, "%s; failing those requests", (report.data ? report.data : ""));
            fail_waiting_locked(det, AE_EINTERNAL, (report.data ? report.data : ""));
            das_buf_dispose(&report);
            continue;
        }
        /* DIVERGED or STEP_LIMIT: the run is over. */
        set_over_locked(det, st == DAS_SCHED_DIVERGED ? das_sched_divergence(det->sched)
                                                      : "the run passed its step bound");
    }
}

static void close_window_if_due_locked(das_det_t *det)
{
    if (det->window_open && das_clock_monotonic_ns(det->o.real) >= det->window_end_ns) {
        det->window_open = false;
        advance_locked(det);
    }
}

/* Unlocks the driver, then wakes the task a step picked while `defer_wake` was set, unless
 * that is `self` (which goes on: its `go` is set). The task cannot miss the wake: `go` was set
 * under the lock and it waits only while `go` is false; tasks live as long as the driver. */
static void unlock_and_wake(das_det_t *det, const das_det_task_t *self)
{
    das_det_task_t *w = det->to_wake;
    det->to_wake = NULL;
    det->defer_wake = false;
    pthread_mutex_unlock(&det->lock);
    if (w && w != self)
        pthread_cond_signal(&w->cond);
}

/* Blocks until a step picks `t` (0) or it is failed (its AE_* code). */
static int wait_turn_locked(das_det_t *det, das_det_task_t *t)
{
    while (!t->go && !t->fail_rc) {
        if (det->window_open) {
            close_window_if_due_locked(det);
            if (t->go || t->fail_rc || !det->window_open)
                continue;
            struct timespec ts = {.tv_sec = det->window_end_ns / 1000000000,
                                  .tv_nsec = det->window_end_ns % 1000000000};
            pthread_cond_timedwait(&t->cond, &det->lock, &ts);
        } else {
            pthread_cond_wait(&t->cond, &det->lock);
        }
    }
    if (t->go) {
        t->go = false;
        return 0;
    }
    return t->fail_rc;
}

/* ---------------------------------------------------------------- tasks */

das_det_task_t *das_det_arrive(das_det_t *det, const das_trace_request_t *rq)
{
    pthread_mutex_lock(&det->lock);
    bool bypass = det->bypass;
    pthread_mutex_unlock(&det->lock);
    if (bypass)
        return NULL;
    das_det_task_t *t = das_xcalloc(1, sizeof *t);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&t->cond, &ca);
    pthread_condattr_destroy(&ca);
    das_buf_t what = {0};
    das_buf_printf(&what, "%s %s", rq->method, rq->target);

    pthread_mutex_lock(&det->lock);
    close_window_if_due_locked(det); /* the first step comes before this one joins */
    if (!det->o.script && det->unfinished == 0 && det->running < 0 && !det->window_open) {
        det->window_open = true;
        det->window_end_ns = das_clock_monotonic_ns(det->o.real) +
                             (int64_t)det->o.gather_ms * 1000000;
    }
    t->n = das_sched_add(det->sched, what.data);
    t->clock = das_clock_virtual_task(det->o.virt, (uint32_t)t->n);
    if (det->trace)
        t->line = das_trace_request_line(t->n, das_sched_arrival(det->sched, t->n), rq);
    if (det->n_tasks == det->cap_tasks) {
        det->cap_tasks = det->cap_tasks ? 2 * det->cap_tasks : 16;
        det->tasks = das_xrealloc(det->tasks, det->cap_tasks * sizeof *det->tasks);
    }
    det->tasks[det->n_tasks++] = t;
    det->unfinished++;
    det->held++;
    if (det->stopping)
        fail_task_locked(det, t, AE_EUNAVAILABLE, "the server is shutting down");
    else if (det->over)
        fail_task_locked(det, t, AE_EINTERNAL, det->over_detail);
    pthread_cond_broadcast(&det->idle);
    /* Scripted: the run waited for this arrival; otherwise nothing may be running, with no
     * window (after a deadlock). Either way, go on: the next arrival due, or a step. */
    det->injecting = false;
    advance_locked(det);
    pthread_mutex_unlock(&det->lock);
    das_buf_dispose(&what);
    return t;
}

das_clock_t *das_det_task_clock(das_det_task_t *t)
{
    return t->clock;
}

uint64_t das_det_task_app_stream(const das_det_task_t *t)
{
    /* The front end's ids come from stream n (das_clock_virtual_task); the app's own draws
     * from a stream no task's ids use. */
    return (1ull << 32) | (uint64_t)t->n;
}

int das_det_await_start(das_det_t *det, das_det_task_t *t, char *detail, size_t cap)
{
    pthread_mutex_lock(&det->lock);
    int rc = wait_turn_locked(det, t);
    if (rc)
        snprintf(detail, cap, "%s", t->fail_detail);
    pthread_mutex_unlock(&det->lock);
    return rc;
}

void das_det_started(das_det_t *det, das_det_task_t *t, const char *instance_id, int slot)
{
    pthread_mutex_lock(&det->lock);
    snprintf(t->instance_id, sizeof t->instance_id, "%s", instance_id ? instance_id : "");
    t->slot = slot;
    pthread_mutex_unlock(&det->lock);
}

/* The id of the mutex or condition at `addr` in the task's instance. Under the lock. */
static uint64_t sync_id_locked(das_det_t *det, const das_det_task_t *t, uint64_t addr)
{
    for (size_t i = 0; i < det->n_syncs; i++)
        if (det->syncs[i].addr == addr && strcmp(det->syncs[i].instance_id, t->instance_id) == 0)
            return i + 1;
    if (det->n_syncs == det->cap_syncs) {
        det->cap_syncs = det->cap_syncs ? 2 * det->cap_syncs : 16;
        det->syncs = das_xrealloc(det->syncs, det->cap_syncs * sizeof *det->syncs);
    }
    struct sync_id *e = &det->syncs[det->n_syncs++];
    snprintf(e->instance_id, sizeof e->instance_id, "%s", t->instance_id);
    e->addr = addr;
    return det->n_syncs;
}

/* The unfinished task on `slot` of `t`'s instance, or -1. Under the lock. */
static int task_on_slot_locked(das_det_t *det, const das_det_task_t *t, int slot)
{
    for (size_t i = 0; i < det->n_tasks; i++) {
        const das_det_task_t *o = det->tasks[i];
        if (!o->ended && o->slot == slot && strcmp(o->instance_id, t->instance_id) == 0 &&
            das_sched_task_state(det->sched, o->n) != DAS_TASK_ENDED)
            return o->n;
    }
    return -1;
}

/* ---------------------------------------------------------------- calls */

typedef struct {
    das_buf_t bytes;
    size_t *offs;
    size_t *lens;
    size_t n, cap;
} keys_t;

static void add_key(void *ctx, const char *key, size_t len)
{
    keys_t *k = ctx;
    if (k->n == k->cap) {
        k->cap = k->cap ? 2 * k->cap : 4;
        k->offs = das_xrealloc(k->offs, k->cap * sizeof *k->offs);
        k->lens = das_xrealloc(k->lens, k->cap * sizeof *k->lens);
    }
    k->offs[k->n] = k->bytes.len;
    k->lens[k->n++] = len;
    das_buf_append(&k->bytes, key, len);
}

static void fail_reply(das_rpc_buf_t *reply, int rc, const char *detail)
{
    reply->len = 0;
    size_t mark = das_rpc_reply_begin(reply);
    das_rpc_reply_end(reply, mark, rc, detail);
}

/* The scheduler's own calls (service "devappserver"): Sleep (a point) and CheckFailed. */
static bool scheduler_call(const das_rpc_call_t *call)
{
    return strcmp(call->service, "devappserver") == 0;
}

/* The answer to a scheduler call: AE_OK, whether a wait timed out, and the virtual time. */
static void ok_reply(das_det_t *det, das_rpc_buf_t *reply, bool timed_out)
{
    reply->len = 0;
    size_t mark = das_rpc_reply_begin(reply);
    das_rpc_put_u32(reply, timed_out);
    das_rpc_reply_end(reply, mark, AE_OK, "");
    das_rpc_reply_set_time(reply, das_clock_wall_ns(det->o.virt));
}

/* A service call as the scheduler sees it: fills `a`, pointing into `call`, `op` and `keys`
 * (whose `k` the caller frees with the keys). */
static void describe_call(const das_service_method_t *m, const das_rpc_call_t *call, char *op,
                          keys_t *keys, das_sched_key_t **k, das_sched_action_t *a)
{
    for (size_t i = 0; call->method[i] && i < DAS_RPC_MAX_NAME; i++)
        op[i] = (char)(call->method[i] >= 'A' && call->method[i] <= 'Z'
                           ? call->method[i] - 'A' + 'a'
                           : call->method[i]);
    if (m && m->op_name) {
        char name[32];
        m->op_name(call->body, call->body_len, name);
        snprintf(op, DAS_RPC_MAX_NAME + 1, "%s", name);
    }
    if (m && m->keys)
        m->keys(call->body, call->body_len, add_key, keys);
    *k = das_xcalloc(keys->n + 1, sizeof **k);
    for (size_t i = 0; i < keys->n; i++)
        (*k)[i] = (das_sched_key_t){keys->bytes.data + keys->offs[i], keys->lens[i]};
    *a = (das_sched_action_t){.kind = DAS_SCHED_CALL, .service = call->service, .op = op,
                              .keys = *k, .n_keys = keys->n,
                              .write = m && m->access == DAS_ACCESS_WRITE};
}

/* The scheduler's mutex and condition calls. Lock and Wait are points (`a` is filled and true
 * is returned, with the wait's timeout in *deadline_ns); Unlock and Signal are told to the
 * scheduler at once (false). */
static bool sync_call(das_det_t *det, das_det_task_t *t, const das_rpc_call_t *call,
                      das_sched_action_t *a, int64_t *deadline_ns)
{
    das_rpc_reader_t r;
    das_rpc_reader_init(&r, call->body, call->body_len);
    uint64_t addr = das_rpc_get_u64(&r);
    pthread_mutex_lock(&det->lock);
    uint64_t id = sync_id_locked(det, t, addr);
    bool is_point = false;
    if (strcmp(call->method, "Lock") == 0) {
        /* The instance saw who holds it (without contention the server was not told). */
        uint32_t slot = das_rpc_get_u32(&r);
        int holder = slot == UINT32_MAX ? -1 : task_on_slot_locked(det, t, (int)slot);
        int known = das_sched_lock_holder(det->sched, id);
        if (known != holder) {
            if (known >= 0)
                das_sched_lock_released(det->sched, known, id);
            if (holder >= 0)
                das_sched_lock_acquired(det->sched, holder, id, NULL);
        }
        *a = (das_sched_action_t){.kind = DAS_SCHED_LOCK, .lock = id};
        is_point = true;
    } else if (strcmp(call->method, "Unlock") == 0) {
        if (das_sched_lock_holder(det->sched, id) == t->n)
            das_sched_lock_released(det->sched, t->n, id);
    } else if (strcmp(call->method, "Wait") == 0) {
        uint64_t lock = sync_id_locked(det, t, das_rpc_get_u64(&r));
        bool timed = das_rpc_get_u32(&r) != 0;
        *deadline_ns = das_rpc_get_i64(&r);
        *a = (das_sched_action_t){.kind = DAS_SCHED_WAIT, .lock = lock, .cond = id,
                                  .timed = timed};
        is_point = true;
    } else if (strcmp(call->method, "Signal") == 0) {
        das_sched_cond_signal(det->sched, id, das_rpc_get_u32(&r) != 0);
    }
    pthread_mutex_unlock(&det->lock);
    return is_point;
}

/* The running task `t` reached the point `a`: the next step is taken, and this returns once
 * one picks `t` again (0) or `t` was failed (its AE_* code). */
static int point(das_det_t *det, das_det_task_t *t, const das_sched_action_t *a, size_t *step,
                 int64_t deadline_ns, bool *timed_out)
{
    pthread_mutex_lock(&det->lock);
    int rc = t->fail_rc;
    if (!rc && das_sched_task_state(det->sched, t->n) == DAS_TASK_RUNNING) {
        set_running_locked(det, -1);
        if (das_sched_reached(det->sched, t->n, a) == DAS_SCHED_DIVERGED) {
            set_over_locked(det, das_sched_divergence(det->sched));
            fail_task_locked(det, t, AE_EINTERNAL, det->over_detail);
        }
        det->defer_wake = true;
        advance_locked(det);
        if (det->to_wake && det->to_wake != t) {
            unlock_and_wake(det, t);
            pthread_mutex_lock(&det->lock);
        }
        det->to_wake = NULL;
        det->defer_wake = false;
        rc = wait_turn_locked(det, t);
    } else if (!rc) {
        rc = AE_EINTERNAL;
        snprintf(t->fail_detail, sizeof t->fail_detail, "a call from a task not running");
    }
    *step = das_sched_steps(det->sched) - 1;
    if (!rc && a->kind == DAS_SCHED_SLEEP && a->sleep_ns > 0)
        das_clock_virtual_advance(det->o.virt, a->sleep_ns);
    *timed_out = !rc && a->kind == DAS_SCHED_WAIT && das_sched_step(det->sched, *step)->timed_out;
    if (*timed_out) { /* it waited until its timeout, in virtual time */
        int64_t now = das_clock_wall_ns(det->o.virt);
        if (deadline_ns > now)
            das_clock_virtual_advance(det->o.virt, deadline_ns - now);
    }
    pthread_mutex_unlock(&det->lock);
    return rc;
}

static void check_failed(das_det_t *det, das_det_task_t *t, const das_rpc_call_t *call,
                         const char *site, das_rpc_buf_t *reply)
{
    das_rpc_reader_t r;
    das_rpc_reader_init(&r, call->body, call->body_len);
    const char *msg = das_rpc_get_str(&r);
    pthread_mutex_lock(&det->lock);
    if (det->trace)
        das_trace_check_failed(det->trace, t->n, das_sched_steps(det->sched), msg, site);
    if (det->checks_failed++ == 0) {
        char name[16];
        das_sched_task_name(t->n, name);
        snprintf(det->first_check, sizeof det->first_check, "%s: %s%s%s%s", name, msg,
                 site[0] ? " (" : "", site, site[0] ? ")" : "");
    }
    pthread_mutex_unlock(&det->lock);
    ok_reply(det, reply, false);
}

/* The scheduler's own calls: Sleep, Lock and Wait are points (answered once the task's turn
 * comes, with whether a wait timed out); Unlock and Signal are told at once; CheckFailed is
 * recorded. */
static void scheduler_request(das_det_t *det, das_det_task_t *t, const das_rpc_call_t *call,
                              const char *site, das_rpc_buf_t *reply)
{
    das_sched_action_t a = {.kind = DAS_SCHED_SLEEP};
    int64_t deadline_ns = 0;
    if (strcmp(call->method, "CheckFailed") == 0) {
        check_failed(det, t, call, site, reply);
        return;
    }
    if (strcmp(call->method, "Sleep") == 0) {
        das_rpc_reader_t r;
        das_rpc_reader_init(&r, call->body, call->body_len);
        int64_t ns = das_rpc_get_i64(&r);
        a.sleep_ns = ns > 0 ? ns : 0;
    } else if (!sync_call(det, t, call, &a, &deadline_ns)) {
        ok_reply(det, reply, false); /* Unlock, Signal */
        return;
    }
    a.site = site[0] ? site : NULL;
    size_t step;
    bool timed_out = false;
    int rc = point(det, t, &a, &step, deadline_ns, &timed_out);
    if (rc) {
        fail_reply(reply, rc, t->fail_detail);
        return;
    }
    ok_reply(det, reply, timed_out); /* its trace line was written at the step */
}

void das_det_call(das_det_t *det, const das_call_ctx_t *ctx, const void *payload, size_t len,
                  das_rpc_buf_t *reply)
{
    das_det_task_t *t = ctx->task;
    das_rpc_call_t call;
    char site[512] = "";
    bool decoded = das_rpc_decode_call(payload, len, &call) == 0;
    if (decoded && call.site && det->o.resolve_site)
        det->o.resolve_site(det->o.site_ctx, call.site, site, sizeof site);
    if (decoded && scheduler_call(&call)) {
        scheduler_request(det, t, &call, site, reply);
        return;
    }
    const das_service_method_t *m =
        decoded ? das_services_method(det->o.services, call.service, call.method) : NULL;
    if (m && m->not_a_point) { /* a log write: at once, in this step */
        das_services_call(det->o.services, ctx, payload, len, reply);
        das_rpc_reply_set_time(reply, das_clock_wall_ns(det->o.virt));
        return;
    }

    /* A point: the call runs when the task's turn comes, alone. */
    keys_t keys = {0};
    das_sched_key_t *k = NULL;
    char op[DAS_RPC_MAX_NAME + 1] = "";
    das_sched_action_t a;
    describe_call(m, &call, op, &keys, &k, &a);
    a.site = site[0] ? site : NULL;
    size_t step;
    bool timed_out;
    int rc = point(det, t, &a, &step, 0, &timed_out);
    free(k);
    das_buf_dispose(&keys.bytes);
    free(keys.offs);
    free(keys.lens);
    if (rc) {
        fail_reply(reply, rc, t->fail_detail);
        return;
    }
    /* A call whose reply comes from outside (a URL fetch) runs for real and its reply is
     * recorded; under replay the recorded reply answers it, with no network. */
    bool external = m && m->external;
    const das_trace_file_result_t *recorded =
        external && det->o.replay && det->o.replay->results && step < det->o.replay->n_expect
            ? &det->o.replay->results[step]
            : NULL;
    if (recorded && recorded->external) {
        reply->len = 0;
        das_rpc_put_raw(reply, recorded->external, recorded->external_len);
    } else if (external && det->o.replay) {
        size_t mark = das_rpc_reply_begin(reply);
        das_rpc_reply_end(reply, mark, AE_EINTERNAL,
                          "replay: the trace holds no recorded reply for this call");
    } else {
        das_services_call(det->o.services, ctx, payload, len, reply);
    }
    das_trace_step_t extra = {.external = external ? reply->data : NULL,
                              .external_len = external ? reply->len : 0};
    das_buf_t value = {0};
    das_rpc_reply_t r;
    int status = AE_EINTERNAL;
    if (das_rpc_decode_reply(reply->data, reply->len, &r) == 0) {
        status = r.status;
        if (m && m->value)
            m->value(call.body, call.body_len, status == 0 ? r.body : NULL,
                     status == 0 ? r.body_len : 0, &value);
    }
    pthread_mutex_lock(&det->lock);
    trace_step_locked(det, step, status, &value, &extra);
    pthread_mutex_unlock(&det->lock);
    das_buf_dispose(&value);
    das_rpc_reply_set_time(reply, das_clock_wall_ns(det->o.virt));
}

/* ---------------------------------------------------------------- ends */

static void end_locked(das_det_t *det, das_det_task_t *t, das_request_end_t how,
                       const void *response, size_t len)
{
    if (t->ended)
        return;
    t->ended = true;
    das_sched_state_t st = das_sched_task_state(det->sched, t->n);
    if (st == DAS_TASK_RUNNING) {
        das_sched_action_t end = {.kind = DAS_SCHED_END};
        das_sched_reached(det->sched, t->n, &end);
        set_running_locked(det, -1);
    } else if (st != DAS_TASK_ENDED) {
        das_sched_cancel(det->sched, t->n);
    }
    det->unfinished--;
    if (det->trace) {
        trace_arrivals_locked(det);
        das_rpc_response_t rs;
        bool decoded = response && das_rpc_decode_response(response, len, &rs) == 0;
        int status = decoded ? (int)rs.status : 0;
        const char *body = decoded ? rs.body : "";
        size_t body_len = decoded ? rs.body_len : 0;
        if (t->fail_rc) { /* written when the trace closes (close_trace_locked) */
            t->end_held = true;
            t->end_step = das_sched_steps(det->sched);
            t->end_status = status;
            t->end_body = das_xmalloc(body_len + 1);
            memcpy(t->end_body, body, body_len);
            t->end_len = body_len;
        } else {
            das_trace_end(det->trace, t->n, das_sched_steps(det->sched),
                          das_request_end_name(how), status, body, body_len);
        }
        if (response)
            das_rpc_response_dispose(&rs);
    }
    /* Its instance died: the other requests on it waited for replies that cannot arrive. */
    if (how == DAS_REQUEST_CRASHED && t->instance_id[0]) {
        for (size_t i = 0; i < det->n_tasks; i++) {
            das_det_task_t *o = det->tasks[i];
            if (o != t && !o->ended && strcmp(o->instance_id, t->instance_id) == 0 &&
                das_sched_task_state(det->sched, o->n) != DAS_TASK_RUNNING)
                fail_task_locked(det, o, AE_EUNAVAILABLE,
                                 "its instance crashed while it waited for its turn");
        }
    }
    advance_locked(det);
}

void das_det_end(das_det_t *det, das_det_task_t *t, das_request_end_t how,
                 const void *response, size_t len)
{
    pthread_mutex_lock(&det->lock);
    det->defer_wake = true;
    end_locked(det, t, how, response, len);
    unlock_and_wake(det, t);
}

const char *das_det_task_failure(const das_det_task_t *t)
{
    return t->fail_rc ? t->fail_detail : NULL;
}

void das_det_finish(das_det_t *det, das_det_task_t *t)
{
    pthread_mutex_lock(&det->lock);
    end_locked(det, t, DAS_REQUEST_CANCELLED, NULL, 0);
    det->held--;
    pthread_cond_broadcast(&det->idle);
    pthread_mutex_unlock(&det->lock);
}

void das_det_shutdown(das_det_t *det)
{
    pthread_mutex_lock(&det->lock);
    det->stopping = true;
    det->window_open = false;
    fail_waiting_locked(det, AE_EUNAVAILABLE, "the server is shutting down");
    pthread_mutex_unlock(&det->lock);
}

void das_det_roll(das_det_t *det, das_trace_t *trace)
{
    pthread_mutex_lock(&det->lock);
    while (det->held > 0 || det->window_open)
        pthread_cond_wait(&det->idle, &det->lock);
    close_trace_locked(det);
    det->trace = trace;
    das_sched_destroy(det->sched);
    free_tasks(det);
    det->n_syncs = 0; /* ids start again at 1, as a replay of the new trace will */
    det->checks_failed = 0;
    det->first_check[0] = '\0';
    make_sched(det);
    pthread_mutex_unlock(&det->lock);
}

void das_det_kick(das_det_t *det)
{
    pthread_mutex_lock(&det->lock);
    advance_locked(det);
    pthread_mutex_unlock(&det->lock);
}

void das_det_set_bypass(das_det_t *det, bool on)
{
    pthread_mutex_lock(&det->lock);
    det->bypass = on;
    pthread_mutex_unlock(&det->lock);
}

int das_det_checks_failed(das_det_t *det, char *first, size_t cap)
{
    pthread_mutex_lock(&det->lock);
    int n = det->checks_failed;
    if (first && cap)
        snprintf(first, cap, "%s", det->first_check);
    pthread_mutex_unlock(&det->lock);
    return n;
}

void das_det_trace_line(das_det_t *det, const char *line)
{
    pthread_mutex_lock(&det->lock);
    if (det->trace)
        das_trace_put_line(det->trace, line);
    pthread_mutex_unlock(&det->lock);
}

const char *das_det_over(das_det_t *det)
{
    pthread_mutex_lock(&det->lock);
    const char *why = det->over ? det->over_detail : NULL;
    pthread_mutex_unlock(&det->lock);
    return why;
}

void das_det_close_trace(das_det_t *det)
{
    pthread_mutex_lock(&det->lock);
    close_trace_locked(det);
    pthread_mutex_unlock(&det->lock);
}

const char *das_det_trace_path(const das_det_t *det)
{
    return det->trace ? das_trace_path(det->trace) : NULL;
}

const das_sched_t *das_det_sched(const das_det_t *det)
{
    return det->sched;
}
