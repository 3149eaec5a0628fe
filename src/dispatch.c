/* dispatch.c - the instance pool, the serial and concurrent policies, and the request path.
 *
 * Design: HTTP connection threads call das_dispatch_run() and block in it. Under `lock` a
 * thread either takes a free slot, starts a new instance (outside the lock; `n_starting`
 * counts it toward max_instances meanwhile) or waits on `cond` with a deadline. Slots are
 * released under the lock and the condition is broadcast. An instance is removed from the
 * pool and destroyed (outside the lock) once it is dead or draining and has no busy slot.
 * Lock order: dispatcher lock, then an instance's own lock (inside das_instance_*), never the
 * reverse.
 */
#include "dispatch.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "instance.h"
#include "util.h"

typedef struct member {
    das_instance_t *inst;
    uint64_t generation;
    int n_slots;
    int busy;         /* slots in use */
    bool *slot_busy;
    int next_slot;    /* the race detector's rotation: where the search for a free slot starts */
    bool dead;        /* crashed or killed: no new requests */
    char culprit[160]; /* "GET /path" of the request whose handler crashed it; guarded by lock */
    bool draining;    /* of an older build: no new requests */
    struct member *next;
} member_t;

/* A request waiting for a slot. Slots are handed to waiters in arrival order (a total order:
 * no herd of threads racing for a freed slot, and no request overtaken by a later one). */
typedef struct waiter {
    pthread_cond_t cond;
    member_t *m; /* set, with `slot`, when a slot was handed over */
    int slot;
    struct waiter *next;
} waiter_t;

struct das_dispatch {
    das_dispatch_options_t o; /* immutable */
    pthread_mutex_t lock;
    pthread_cond_t cond; /* broadcast when a request ends or the pool changes */
    /* Everything below is guarded by `lock`. */
    member_t *members; /* oldest first: list order breaks every tie between instances */
    int n_starting;
    char *so_path;
    char **envp;
    uint64_t generation;
    int in_flight;
    bool shutting_down;
    waiter_t *wait_head; /* requests waiting for a slot, oldest first */
    waiter_t **wait_tail;
    int64_t queued_since_ms; /* when the queue last went from empty to non-empty */
};

static bool shutting_down(das_dispatch_t *d)
{
    pthread_mutex_lock(&d->lock);
    bool stopping = d->shutting_down;
    pthread_mutex_unlock(&d->lock);
    return stopping;
}

/* One request on one slot: its context for the hooks, and its deadline. */
typedef struct {
    das_dispatch_t *d;
    das_call_ctx_t ctx;
    das_deadline_t deadline;
} task_t;

static int64_t now_ms(das_dispatch_t *d)
{
    return das_clock_monotonic_ns(d->o.clock) / 1000000;
}

static char **copy_env(char *const *envp)
{
    size_t n = 0;
    while (envp && envp[n])
        n++;
    char **copy = das_xcalloc(n + 1, sizeof *copy);
    for (size_t i = 0; i < n; i++)
        copy[i] = das_xstrdup(envp[i]);
    return copy;
}

static void free_env(char **envp)
{
    for (size_t i = 0; envp && envp[i]; i++)
        free(envp[i]);
    free(envp);
}

static void member_free(member_t *m)
{
    das_instance_destroy(m->inst);
    free(m->slot_busy);
    free(m);
}

/* Unlinks and returns the members that are finished (dead or draining, and idle). */
static member_t *take_finished_locked(das_dispatch_t *d)
{
    member_t *done = NULL;
    for (member_t **pp = &d->members; *pp;) {
        member_t *m = *pp;
        if ((m->dead || m->draining) && m->busy == 0) {
            *pp = m->next;
            m->next = done;
            done = m;
        } else {
            pp = &m->next;
        }
    }
    return done;
}

static void free_members(member_t *list)
{
    while (list) {
        member_t *next = list->next;
        member_free(list);
        list = next;
    }
}

static int live_count_locked(das_dispatch_t *d)
{
    int n = 0;
    for (member_t *m = d->members; m; m = m->next)
        if (!m->dead && !m->draining)
            n++;
    return n;
}

/* The busiest current instance with a free slot; ties go to the oldest. */
static member_t *pick_locked(das_dispatch_t *d)
{
    member_t *best = NULL;
    for (member_t *m = d->members; m; m = m->next) {
        if (m->dead || m->draining || m->busy >= m->n_slots)
            continue;
        if (!best || m->busy > best->busy)
            best = m;
    }
    return best;
}

static int take_slot_locked(member_t *m)
{
    for (int k = 0; k < m->n_slots; k++) {
        int i = (m->next_slot + k) % m->n_slots;
        if (!m->slot_busy[i]) {
            m->slot_busy[i] = true;
            m->busy++;
            return i;
        }
    }
    abort(); /* the caller checked busy < n_slots */
}

/* After a slot was taken: the rotation moves on past it (the race detector), or stays at 0
 * (lowest free first). */
static void rotate_locked(das_dispatch_t *d, member_t *m, int slot)
{
    if (d->o.race_detector)
        m->next_slot = (slot + 1) % m->n_slots;
}

static void cond_wait_until(das_dispatch_t *d, pthread_cond_t *cond, int64_t deadline_ms)
{
    struct timespec ts = {.tv_sec = deadline_ms / 1000, .tv_nsec = (deadline_ms % 1000) * 1000000};
    pthread_cond_timedwait(cond, &d->lock, &ts);
}

static void init_monotonic_cond(pthread_cond_t *cond)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(cond, &ca);
    pthread_condattr_destroy(&ca);
}

/* Gives free slots to waiting requests, oldest first (none once shutdown began: the
 * waiters are woken to leave with a 503). */
static void hand_out_locked(das_dispatch_t *d)
{
    while (d->wait_head && !d->shutting_down) {
        member_t *m = pick_locked(d);
        if (!m)
            return;
        waiter_t *w = d->wait_head;
        d->wait_head = w->next;
        if (!d->wait_head)
            d->wait_tail = &d->wait_head;
        w->slot = take_slot_locked(m);
        rotate_locked(d, m, w->slot);
        w->m = m;
        pthread_cond_signal(&w->cond);
    }
}

static void unqueue_locked(das_dispatch_t *d, waiter_t *w)
{
    for (waiter_t **pp = &d->wait_head; *pp; pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            if (!*pp)
                d->wait_tail = pp;
            return;
        }
    }
}

static void wake_all_waiters_locked(das_dispatch_t *d)
{
    for (waiter_t *w = d->wait_head; w; w = w->next)
        pthread_cond_signal(&w->cond);
}

/* Every CALL frame of a running request: numbered, given the time left, and answered. */
static void task_call(void *arg, const void *payload, size_t len, das_rpc_buf_t *reply)
{
    task_t *t = arg;
    das_call_ctx_t call = t->ctx;
    call.seq = ++t->ctx.seq;
    call.time_left_ms = das_deadline_left_ms(&t->deadline);
    /* A deterministic hook holds the call until the scheduler picks it: that wait is not the
     * request's own time. With a deadline per step, the request's next step starts afresh. */
    bool held = t->d->o.policy == DAS_DISPATCH_DETERMINISTIC && call.task;
    if (held)
        das_deadline_pause(&t->deadline);
    t->d->o.hooks.on_call(t->d->o.ctx, &call, payload, len, reply);
    if (held && t->d->o.deadline_per_step)
        das_deadline_start(&t->deadline, t->d->o.clock, t->d->o.request_deadline_ms);
    else if (held)
        das_deadline_resume(&t->deadline);
}

/* Sends an encoded request on `slot` of `inst` with the request hooks around it (start has
 * fired when `started` is set: a retry on another instance is the same request). */
static int task_exchange(das_dispatch_t *d, task_t *t, das_instance_t *inst, int slot,
                         const das_rpc_buf_t *req, das_rpc_buf_t *response, bool started)
{
    t->ctx.instance_id = das_instance_id(inst);
    t->ctx.slot = slot;
    if (!started) {
        das_deadline_start(&t->deadline, d->o.clock, d->o.request_deadline_ms);
        d->o.hooks.on_request_start(d->o.ctx, &t->ctx);
    }
    return das_instance_exchange(inst, slot, req, response, &t->deadline, task_call, t);
}

/* Starts an instance of the current build. Called with the lock held; drops it while the
 * process starts. On success the new member is in the pool with slot 0 taken for the caller. */
static int start_member_locked(das_dispatch_t *d, member_t **out, das_err_t *err)
{
    if (!d->so_path)
        return das_err_set(err, AE_EUNAVAILABLE, "the app has no build to run");
    char *so = das_xstrdup(d->so_path);
    char **envp = copy_env(d->envp);
    uint64_t generation = d->generation;
    int n_slots = d->o.slots;
    d->n_starting++;
    pthread_mutex_unlock(&d->lock);

    das_instance_spec_t spec = {
        .exe = d->o.exe,
        .so_path = so,
        .n_slots = n_slots,
        .envp = envp,
        .ready_timeout_ms = d->o.start_timeout_ms,
        .race_detector = d->o.race_detector,
        .inprocess = d->o.inprocess,
        .tmp_dir = d->o.inprocess_dir,
    };
    das_instance_t *inst = NULL;
    int rc = das_instance_spawn(&spec, d->o.ids ? d->o.ids : d->o.clock, &inst, err);
    if (rc == 0 && d->o.make_warmup) {
        das_rpc_buf_t req = {0}, resp = {0};
        char log_id[41] = "";
        if (d->o.make_warmup(d->o.ctx, das_instance_id(inst), &req, log_id)) {
            task_t t = {.d = d, .ctx = {.request_log_id = log_id}};
            int w = task_exchange(d, &t, inst, 0, &req, &resp, false);
            das_request_end_t ended = w == 0              ? DAS_REQUEST_RETURNED
                                    : w == -ETIMEDOUT ? DAS_REQUEST_DEADLINE
                                    : shutting_down(d)  ? DAS_REQUEST_CANCELLED
                                                        : DAS_REQUEST_CRASHED;
            d->o.hooks.on_request_end(d->o.ctx, &t.ctx, ended, w == 0 ? &resp : NULL);
            /* Deterministic: the state explore puts back between schedules is the one after
             * the warmup. */
            if (w == 0 && d->o.policy == DAS_DISPATCH_DETERMINISTIC &&
                das_instance_snapshot(inst, d->o.start_timeout_ms) < 0)
                w = -EPROTO;
            if (w < 0) {
                char how[160] = "did not answer";
                if (w == -ETIMEDOUT)
                    das_instance_kill(inst);
                das_instance_wait(inst, how, sizeof how);
                rc = das_err_set(err, AE_EINTERNAL, "instance %s during /_ah/warmup", how);
                das_instance_destroy(inst);
                inst = NULL;
            }
        }
        das_rpc_buf_dispose(&req);
        das_rpc_buf_dispose(&resp);
    }
    free(so);
    free_env(envp);

    pthread_mutex_lock(&d->lock);
    d->n_starting--;
    pthread_cond_broadcast(&d->cond);
    if (rc < 0) {
        wake_all_waiters_locked(d); /* they may try a start of their own */
        return rc;
    }
    member_t *m = das_xcalloc(1, sizeof *m);
    m->inst = inst;
    m->generation = generation;
    m->n_slots = n_slots;
    m->slot_busy = das_xcalloc((size_t)n_slots, sizeof *m->slot_busy);
    m->draining = generation != d->generation;
    m->slot_busy[0] = true;
    m->busy = 1;
    rotate_locked(d, m, 0);
    member_t **pp = &d->members;
    while (*pp)
        pp = &(*pp)->next;
    *pp = m;
    das_log_info(d->o.log, "started instance %s (pid %ld, %d slot%s)", das_instance_id(inst),
                 (long)das_instance_pid(inst), n_slots, n_slots == 1 ? "" : "s");
    *out = m;
    return 0;
}

/* Takes a slot for a request: a free one at once when nobody is waiting, else a place in the
 * queue; an instance is started when there is none, or when the request has waited
 * pending_wait_ms; after queue_timeout_ms the answer is 503. */
static int acquire(das_dispatch_t *d, member_t **out_m, int *out_slot, das_dispatch_result_t *res)
{
    int64_t start = now_ms(d);
    int64_t spawn_at = start + d->o.pending_wait_ms;
    int64_t give_up_at = start + d->o.queue_timeout_ms;
    int rc = 0;
    waiter_t w = {.m = NULL};
    bool queued = false;
    init_monotonic_cond(&w.cond);
    pthread_mutex_lock(&d->lock);
    for (;;) {
        if (w.m) { /* a slot was handed over while we waited */
            *out_m = w.m;
            *out_slot = w.slot;
            queued = false;
            break;
        }
        if (d->shutting_down) {
            snprintf(res->detail, sizeof res->detail, "the server is shutting down");
            rc = AE_EUNAVAILABLE;
            break;
        }
        member_t *m = !d->wait_head ? pick_locked(d) : NULL;
        if (m) {
            *out_slot = take_slot_locked(m);
            rotate_locked(d, m, *out_slot);
            *out_m = m;
            break;
        }
        int64_t now = now_ms(d);
        int have = live_count_locked(d) + d->n_starting;
        /* Deterministic: one request runs at a time and the others hold their slots while
         * they wait at points, so waiting for a slot would wait forever. Start an instance at
         * once, or refuse. */
        bool det = d->o.policy == DAS_DISPATCH_DETERMINISTIC;
        if (det && have >= d->o.max_instances) {
            snprintf(res->detail, sizeof res->detail,
                     "every slot of the %d instance%s (--max-instances) holds a request waiting "
                     "for its turn under deterministic dispatch",
                     have, have == 1 ? "" : "s");
            rc = AE_EUNAVAILABLE;
            break;
        }
        /* A new instance when there is none; when this request has waited pending_wait_ms;
         * or when requests have queued without a break for that long (steady demand beyond
         * the pool, where each single request waits only briefly), one start at a time. */
        bool backlog = d->wait_head && d->n_starting == 0 &&
                       now - d->queued_since_ms >= d->o.pending_wait_ms;
        if (have < d->o.max_instances && (det || have == 0 || now >= spawn_at || backlog)) {
            if (queued)
                unqueue_locked(d, &w);
            queued = false;
            das_err_t err = {0};
            rc = start_member_locked(d, &m, &err);
            if (rc == 0 && d->shutting_down) { /* began while it started: do not run */
                m->slot_busy[0] = false;
                m->busy = 0;
                snprintf(res->detail, sizeof res->detail, "the server is shutting down");
                rc = AE_EUNAVAILABLE;
                break;
            }
            if (rc == 0) {
                *out_m = m;
                *out_slot = 0;
                hand_out_locked(d); /* its other slots go to whoever waits */
                break;
            }
            snprintf(res->detail, sizeof res->detail, "%s", err.msg);
            das_log_error(d->o.log, "cannot start an instance: %s", err.msg);
            if (rc != AE_EUNAVAILABLE)
                rc = AE_EINTERNAL;
            break;
        }
        if (now >= give_up_at) {
            snprintf(res->detail, sizeof res->detail,
                     "no instance became free within %d ms (%d instance%s, all busy)",
                     d->o.queue_timeout_ms, have, have == 1 ? "" : "s");
            rc = AE_EUNAVAILABLE;
            break;
        }
        if (!queued) {
            if (!d->wait_head)
                d->queued_since_ms = now;
            *d->wait_tail = &w;
            d->wait_tail = &w.next;
            w.next = NULL;
            queued = true;
        }
        cond_wait_until(d, &w.cond,
                        have < d->o.max_instances && spawn_at < give_up_at ? spawn_at
                                                                           : give_up_at);
    }
    if (queued)
        unqueue_locked(d, &w);
    if (rc == 0)
        d->in_flight++;
    pthread_mutex_unlock(&d->lock);
    pthread_cond_destroy(&w.cond);
    return rc;
}

/* Frees the slot; the request stays in flight (shutdown waits for it) when `still_in_flight`,
 * until done() says its last hook returned. */
static void release(das_dispatch_t *d, member_t *m, int slot, bool broken, bool still_in_flight)
{
    pthread_mutex_lock(&d->lock);
    m->slot_busy[slot] = false;
    m->busy--;
    if (broken) {
        m->dead = true;
        wake_all_waiters_locked(d); /* one instance fewer: a waiter may start another */
    }
    if (!still_in_flight)
        d->in_flight--;
    member_t *finished = take_finished_locked(d);
    hand_out_locked(d);
    pthread_cond_broadcast(&d->cond);
    pthread_mutex_unlock(&d->lock);
    free_members(finished);
}

/* Encodes `rq` with INSTANCE_ID added to its environment. */
static void encode_for(const das_rpc_request_t *rq, das_instance_t *inst, das_rpc_buf_t *out)
{
    das_rpc_pair_t *env = das_xmalloc((rq->n_env + 1) * sizeof *env);
    if (rq->n_env)
        memcpy(env, rq->env, rq->n_env * sizeof *env);
    env[rq->n_env] = (das_rpc_pair_t){"INSTANCE_ID", das_instance_id(inst)};
    das_rpc_request_t with_id = *rq;
    with_id.env = env;
    with_id.n_env = rq->n_env + 1;
    out->len = 0;
    das_rpc_encode_request(out, &with_id);
    free(env);
}

/* ---------------------------------------------------------------- public */

das_dispatch_t *das_dispatch_create(const das_dispatch_options_t *opts)
{
    das_dispatch_t *d = das_xcalloc(1, sizeof *d);
    d->o = *opts;
    pthread_mutex_init(&d->lock, NULL);
    init_monotonic_cond(&d->cond);
    d->wait_tail = &d->wait_head;
    return d;
}

void das_dispatch_destroy(das_dispatch_t *d)
{
    if (!d)
        return;
    pthread_mutex_lock(&d->lock);
    member_t *all = d->members;
    d->members = NULL;
    pthread_mutex_unlock(&d->lock);
    free_members(all);
    free(d->so_path);
    free_env(d->envp);
    pthread_cond_destroy(&d->cond);
    pthread_mutex_destroy(&d->lock);
    free(d);
}

void das_dispatch_set_build(das_dispatch_t *d, const char *so_path, char *const *envp)
{
    pthread_mutex_lock(&d->lock);
    free(d->so_path);
    free_env(d->envp);
    d->so_path = so_path ? das_xstrdup(so_path) : NULL;
    d->envp = copy_env(envp);
    d->generation++;
    for (member_t *m = d->members; m; m = m->next)
        m->draining = true;
    member_t *finished = take_finished_locked(d);
    wake_all_waiters_locked(d); /* nothing to wait for on the old build: start a new one */
    pthread_cond_broadcast(&d->cond);
    pthread_mutex_unlock(&d->lock);
    free_members(finished);
}

void das_dispatch_prestart(das_dispatch_t *d)
{
    pthread_mutex_lock(&d->lock);
    if (!d->shutting_down && d->so_path && live_count_locked(d) + d->n_starting == 0) {
        member_t *m;
        das_err_t err = {0};
        if (start_member_locked(d, &m, &err) == 0) {
            m->slot_busy[0] = false;
            m->busy = 0;
            hand_out_locked(d);
            pthread_cond_broadcast(&d->cond);
        } else {
            das_log_error(d->o.log, "cannot start an instance: %s", err.msg);
        }
    }
    pthread_mutex_unlock(&d->lock);
}

int das_dispatch_run(das_dispatch_t *d, const das_rpc_request_t *rq, const char *log_id,
                     void *task, das_rpc_buf_t *response, das_dispatch_result_t *res)
{
    memset(res, 0, sizeof *res);
    member_t *m;
    int slot, rc, x;
    const char *id;
    task_t t = {.d = d, .ctx = {.request_log_id = log_id ? log_id : "", .task = task}};
    das_rpc_buf_t req = {0};
    /* An instance that went away while idle (killed from outside) refuses the request before
     * it is delivered: retire it and try another. */
    for (int attempt = 0;; attempt++) {
        rc = acquire(d, &m, &slot, res);
        if (rc < 0) {
            if (attempt > 0) /* it started, on an instance that was gone (killed) */
                d->o.hooks.on_request_end(d->o.ctx, &t.ctx,
                                          shutting_down(d) ? DAS_REQUEST_CANCELLED
                                                           : DAS_REQUEST_CRASHED,
                                          NULL);
            das_rpc_buf_dispose(&req);
            return rc;
        }
        id = das_instance_id(m->inst);
        encode_for(rq, m->inst, &req);
        x = task_exchange(d, &t, m->inst, slot, &req, response, attempt > 0);
        if (x != -EPIPE || attempt == 3)
            break;
        das_log_warning(d->o.log,
                        "instance %s was gone before the request reached it (it crashed or was "
                        "killed); sending %s %s to another",
                        id, rq->method, rq->path);
        t.ctx.instance_id = ""; /* released below, the instance may be freed */
        t.ctx.slot = -1;
        release(d, m, slot, true, false);
    }
    das_rpc_buf_dispose(&req);
    snprintf(res->instance_id, sizeof res->instance_id, "%s", id);
    /* Out of time before it was sent (a retry after a slow start): the instance never saw
     * it and stays in service. */
    bool broken = x < 0 && x != -ECANCELED;
    das_request_end_t how = DAS_REQUEST_RETURNED;
    if (x == -ECANCELED) {
        snprintf(res->detail, sizeof res->detail,
                 "the request to %s %s (script %s) exceeded its deadline of %d ms before an "
                 "instance could take it",
                 rq->method, rq->path, rq->script, d->o.request_deadline_ms);
        das_log_error(d->o.log, "%s", res->detail);
        rc = AE_ETIMEOUT;
        how = DAS_REQUEST_DEADLINE;
    } else if (x == -ETIMEDOUT) {
        das_instance_kill(m->inst);
        char how_ended[160];
        das_instance_wait(m->inst, how_ended, sizeof how_ended);
        snprintf(res->detail, sizeof res->detail,
                 "the request to %s %s (script %s) exceeded its deadline of %d ms; instance %s "
                 "was stopped and will be replaced",
                 rq->method, rq->path, rq->script, d->o.request_deadline_ms, id);
        rc = AE_ETIMEOUT;
        how = DAS_REQUEST_DEADLINE;
    } else if (x < 0) {
        char how_ended[200], note[300] = "";
        if (x == -ECONNABORTED) {
            /* This request's handler crashed the instance; the others on it were only there.
             * Said before the wait, so that they find it once the instance is reaped. */
            pthread_mutex_lock(&d->lock);
            snprintf(m->culprit, sizeof m->culprit, "%s %s", rq->method, rq->path);
            pthread_cond_broadcast(&d->cond);
            pthread_mutex_unlock(&d->lock);
            das_instance_wait(m->inst, how_ended, sizeof how_ended);
            snprintf(note, sizeof note, "; this request's handler crashed it");
        } else if (x != -ECONNRESET) {
            /* It is alive but broke the protocol (a garbled or oversized frame, or one for
             * another request): end it, and say so to the request. */
            const char *why = x == -EBADMSG ? "it sent a frame that belongs to another "
                                              "request (a process it forked writing to its "
                                              "socket?)"
                                            : strerror(-x);
            das_log_error(d->o.log, "instance %s broke the protocol: %s; stopping it", id, why);
            das_instance_kill(m->inst);
            das_instance_wait(m->inst, how_ended, sizeof how_ended);
            snprintf(how_ended, sizeof how_ended, "broke the protocol (%s) and was stopped",
                     why);
        } else {
            int sig = das_instance_wait(m->inst, how_ended, sizeof how_ended);
            /* Another request's handler may have crashed it: say so. Its thread read the
             * CRASH frame before this one saw the end of the socket, but may not have said so
             * yet: a killed instance gives it a moment. */
            char culprit[sizeof m->culprit];
            pthread_mutex_lock(&d->lock);
            int64_t until = now_ms(d) + 200;
            bool fatal = sig != 0 && sig != SIGKILL; /* a handler's fault, not our kill */
            while (!m->culprit[0] && fatal && now_ms(d) < until)
                cond_wait_until(d, &d->cond, until);
            snprintf(culprit, sizeof culprit, "%s", m->culprit);
            pthread_mutex_unlock(&d->lock);
            if (culprit[0])
                snprintf(note, sizeof note,
                         "; the handler of %s crashed it, and this request was on the same "
                         "instance",
                         culprit);
        }
        bool stopping = shutting_down(d);
        snprintf(res->detail, sizeof res->detail,
                 "instance %s %s while serving %s %s (script %s)%s%s", id, how_ended,
                 rq->method, rq->path, rq->script, note,
                 stopping ? " because the server is shutting down" : "");
        rc = stopping ? AE_EUNAVAILABLE : AE_EINTERNAL;
        how = stopping ? DAS_REQUEST_CANCELLED : DAS_REQUEST_CRASHED;
    }
    if (broken)
        das_log_error(d->o.log, "%s", res->detail);
    /* The slot is free before the end is told: under deterministic dispatch the end lets the
     * next request run at once, and it must find the slot free whatever the timing (a serial
     * instance would otherwise be busy, or not, by chance). The instance may go with the
     * release: the hook gets its id from the result. */
    t.ctx.instance_id = res->instance_id;
    release(d, m, slot, broken, true);
    d->o.hooks.on_request_end(d->o.ctx, &t.ctx, how, rc == 0 ? response : NULL);
    pthread_mutex_lock(&d->lock);
    d->in_flight--;
    pthread_cond_broadcast(&d->cond);
    pthread_mutex_unlock(&d->lock);
    return rc;
}

void das_dispatch_reset_instances(das_dispatch_t *d, bool restart)
{
    pthread_mutex_lock(&d->lock);
    for (member_t *m = d->members; m; m = m->next) {
        if (m->dead || m->draining || m->busy)
            continue;
        if (restart) {
            m->draining = true; /* stopped below, as a reload's are */
            continue;
        }
        if (das_instance_reset(m->inst, d->o.start_timeout_ms) < 0) {
            das_log_warning(d->o.log, "instance %s could not be reset; replacing it",
                            das_instance_id(m->inst));
            das_instance_kill(m->inst);
            m->dead = true;
        }
    }
    member_t *finished = take_finished_locked(d);
    pthread_mutex_unlock(&d->lock);
    free_members(finished);
}

void das_dispatch_shutdown(das_dispatch_t *d, int grace_ms)
{
    pthread_mutex_lock(&d->lock);
    d->shutting_down = true;
    wake_all_waiters_locked(d);
    pthread_cond_broadcast(&d->cond);
    int64_t until = now_ms(d) + grace_ms;
    while (d->in_flight > 0 && now_ms(d) < until)
        cond_wait_until(d, &d->cond, until);
    if (d->in_flight > 0) {
        das_log_warning(d->o.log, "%d request%s still running after %d ms; stopping instances",
                        d->in_flight, d->in_flight == 1 ? "" : "s", grace_ms);
        for (member_t *m = d->members; m; m = m->next)
            if (m->busy)
                das_instance_kill(m->inst);
        while (d->in_flight > 0)
            pthread_cond_wait(&d->cond, &d->lock);
    }
    pthread_mutex_unlock(&d->lock);
}
