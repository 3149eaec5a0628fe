/* scheduler.c - the deterministic scheduler: tasks, steps, decisions, strategies, replay checks,
 * deadlocks, the exhaustive explorer and the schedule string (see scheduler.h for the model).
 *
 * Design: plain data driven by one thread. Tasks live in an array indexed by their number;
 * the tasks that can proceed are found by a scan in index order at every step, which makes
 * every pick a total order and costs nothing next to a step (a round trip to an instance).
 * Locks held are a small table in acquisition order. The step log keeps each step's action
 * (the task's pending action, moved there when the step is taken). Strategies draw from the
 * clock module's seeded PRNG, one stream per schedule: (seed, schedule number).
 */
#include "scheduler.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"

/* ---------------------------------------------------------------- private types */

typedef struct {
    das_sched_state_t state;
    das_sched_action_t pending; /* owned; kind START until the first step */
    char *what;
    uint64_t arrival;
    uint64_t wait_seq; /* WAITING_COND: when it began to wait, for the order of signals */
    bool signalled;    /* WAITING_COND */
} task_t;

typedef struct {
    uint64_t id;
    int holder;
    char *site; /* where it was acquired; NULL when unknown */
} lock_t;

struct das_sched {
    das_sched_strategy_t *strategy; /* borrowed; NULL: no preemption */

    task_t *tasks;
    int n_tasks, cap_tasks;
    int *could; /* scratch for das_sched_next, cap_tasks long */

    lock_t *locks; /* held locks, in acquisition order */
    size_t n_locks, cap_locks;
    uint64_t wait_seq;

    das_sched_step_t *steps;
    size_t n_steps, cap_steps;
    int *decisions;
    size_t n_decisions, cap_decisions;
    int running;     /* the running task, -1 when none */
    int prev;        /* the task of the previous step, -1 before the first */
    int preemptions;
    uint64_t max_steps;

    bool replay;
    int *replay_decisions;
    size_t n_replay_decisions, replay_pos;
    bool check_expect;
    das_sched_step_t *expect;
    size_t n_expect;
    size_t *expect_next; /* the index of the same task's next expected step; SIZE_MAX: none */

    das_sched_status_t final; /* DIVERGED or STEP_LIMIT once reached; STEP before */
    char *divergence;
};

/* ---------------------------------------------------------------- helpers */

static void grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return;
    size_t n = *cap ? *cap : 8;
    while (n < need)
        n *= 2;
    *p = das_xrealloc(*p, n * elem);
    *cap = n;
}

void *das_sched_alloc_realloc(const das_sched_alloc_t *a, void *p, size_t n)
{
    if (!a || !a->realloc) {
        if (n == 0) {
            free(p);
            return NULL;
        }
        return das_xrealloc(p, n);
    }
    void *q = a->realloc(a->ctx, p, n);
    if (n && !q)
        abort(); /* out of memory, as das_xrealloc */
    return q;
}

static void *st_calloc(const das_sched_alloc_t *a, size_t n)
{
    void *p = das_sched_alloc_realloc(a, NULL, n);
    memset(p, 0, n);
    return p;
}

static void st_free(const das_sched_alloc_t *a, void *p)
{
    if (p)
        das_sched_alloc_realloc(a, p, 0);
}

static void st_grow(const das_sched_alloc_t *a, void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return;
    size_t n = *cap ? *cap : 8;
    while (n < need)
        n *= 2;
    *p = das_sched_alloc_realloc(a, *p, n * elem);
    *cap = n;
}

static char *dup_or_null(const char *s)
{
    return s ? das_xstrdup(s) : NULL;
}

static void action_copy(das_sched_action_t *dst, const das_sched_action_t *src)
{
    *dst = *src;
    dst->service = dup_or_null(src->service);
    dst->op = dup_or_null(src->op);
    dst->site = dup_or_null(src->site);
    dst->keys = NULL;
    if (src->n_keys) {
        das_sched_key_t *keys = das_xcalloc(src->n_keys, sizeof *keys);
        for (size_t i = 0; i < src->n_keys; i++) {
            char *d = das_xmalloc(src->keys[i].len + 1);
            memcpy(d, src->keys[i].data, src->keys[i].len);
            d[src->keys[i].len] = '\0';
            keys[i].data = d;
            keys[i].len = src->keys[i].len;
        }
        dst->keys = keys;
    }
}

static void action_dispose(das_sched_action_t *a)
{
    free((void *)a->service);
    free((void *)a->op);
    free((void *)a->site);
    for (size_t i = 0; i < a->n_keys; i++)
        free((void *)a->keys[i].data);
    free((void *)a->keys);
    memset(a, 0, sizeof *a);
}

static bool str_same(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

static void append_key(das_buf_t *out, const das_sched_key_t *k)
{
    das_buf_puts(out, "\"");
    for (size_t i = 0; i < k->len; i++) {
        unsigned char c = (unsigned char)k->data[i];
        if (c == '"' || c == '\\')
            das_buf_printf(out, "\\%c", c);
        else if (c >= 0x20 && c < 0x7f)
            das_buf_append(out, &c, 1);
        else
            das_buf_printf(out, "\\x%02x", c);
    }
    das_buf_puts(out, "\"");
}

static void append_site(das_buf_t *out, const char *site)
{
    if (site && *site)
        das_buf_printf(out, " (%s)", site);
}

/* ---------------------------------------------------------------- actions */

const char *das_sched_kind_name(das_sched_kind_t kind)
{
    switch (kind) {
    case DAS_SCHED_START: return "start";
    case DAS_SCHED_CALL: return "call";
    case DAS_SCHED_LOCK: return "lock";
    case DAS_SCHED_WAIT: return "wait";
    case DAS_SCHED_SLEEP: return "sleep";
    case DAS_SCHED_END: return "end";
    }
    return "?";
}

void das_sched_task_name(int task, char out[16])
{
    if (task >= 0 && task < 26)
        snprintf(out, 16, "%c", 'A' + task);
    else
        snprintf(out, 16, "T%d", task + 1);
}

void das_sched_describe(int task, const das_sched_action_t *a, das_buf_t *out)
{
    char name[16];
    das_sched_task_name(task, name);
    das_buf_puts(out, name);
    switch (a->kind) {
    case DAS_SCHED_CALL:
        das_buf_printf(out, " %s.%s", a->service ? a->service : "?", a->op ? a->op : "?");
        for (size_t i = 0; i < a->n_keys; i++) {
            das_buf_puts(out, " ");
            append_key(out, &a->keys[i]);
        }
        break;
    case DAS_SCHED_LOCK:
        das_buf_printf(out, " lock mutex 0x%" PRIx64, a->lock);
        append_site(out, a->site);
        break;
    case DAS_SCHED_WAIT:
        das_buf_printf(out, " wait%s condition 0x%" PRIx64 " with mutex 0x%" PRIx64,
                       a->timed ? " (timed)" : "", a->cond, a->lock);
        append_site(out, a->site);
        break;
    case DAS_SCHED_SLEEP:
        das_buf_puts(out, a->sleep_ns ? " sleep" : " yield");
        append_site(out, a->site);
        break;
    default:
        das_buf_printf(out, " %s", das_sched_kind_name(a->kind));
        break;
    }
}

bool das_sched_action_same(const das_sched_action_t *a, const das_sched_action_t *b)
{
    if (a->kind != b->kind)
        return false;
    if (a->kind != DAS_SCHED_CALL)
        return true;
    if (!str_same(a->service, b->service) || !str_same(a->op, b->op) || a->write != b->write ||
        a->n_keys != b->n_keys)
        return false;
    for (size_t i = 0; i < a->n_keys; i++)
        if (a->keys[i].len != b->keys[i].len ||
            memcmp(a->keys[i].data, b->keys[i].data, a->keys[i].len) != 0)
            return false;
    return true;
}

/* ---------------------------------------------------------------- locks */

static lock_t *lock_find(const das_sched_t *s, uint64_t id)
{
    for (size_t i = 0; i < s->n_locks; i++)
        if (s->locks[i].id == id)
            return &s->locks[i];
    return NULL;
}

static void lock_take(das_sched_t *s, uint64_t id, int task, const char *site)
{
    lock_t *l = lock_find(s, id);
    if (!l) {
        grow((void **)&s->locks, &s->cap_locks, s->n_locks + 1, sizeof *s->locks);
        l = &s->locks[s->n_locks++];
        l->id = id;
        l->site = NULL;
    }
    l->holder = task;
    free(l->site);
    l->site = dup_or_null(site);
}

static void lock_drop(das_sched_t *s, uint64_t id, int task)
{
    lock_t *l = lock_find(s, id);
    if (!l || l->holder != task)
        return;
    free(l->site);
    size_t i = (size_t)(l - s->locks);
    memmove(&s->locks[i], &s->locks[i + 1], (s->n_locks - i - 1) * sizeof *s->locks);
    s->n_locks--;
}

void das_sched_lock_acquired(das_sched_t *s, int task, uint64_t lock, const char *site)
{
    assert(task >= 0 && task < s->n_tasks);
    assert(das_sched_lock_holder(s, lock) < 0 || das_sched_lock_holder(s, lock) == task);
    lock_take(s, lock, task, site);
}

void das_sched_lock_released(das_sched_t *s, int task, uint64_t lock)
{
    lock_drop(s, lock, task);
}

void das_sched_cond_signal(das_sched_t *s, uint64_t cond, bool broadcast)
{
    int first = -1;
    for (int i = 0; i < s->n_tasks; i++) {
        task_t *t = &s->tasks[i];
        if (t->state != DAS_TASK_WAITING_COND || t->pending.cond != cond || t->signalled)
            continue;
        if (broadcast)
            t->signalled = true;
        else if (first < 0 || t->wait_seq < s->tasks[first].wait_seq)
            first = i;
    }
    if (first >= 0)
        s->tasks[first].signalled = true;
}

int das_sched_lock_holder(const das_sched_t *s, uint64_t lock)
{
    const lock_t *l = lock_find(s, lock);
    return l ? l->holder : -1;
}

/* ---------------------------------------------------------------- the scheduler */

das_sched_t *das_sched_create(const das_sched_options_t *o)
{
    das_sched_t *s = das_xcalloc(1, sizeof *s);
    s->strategy = o->strategy;
    s->running = -1;
    s->prev = -1;
    s->max_steps = o->max_steps;
    s->replay = o->replay;
    if (o->replay && o->n_decisions) {
        s->replay_decisions = das_xmalloc(o->n_decisions * sizeof(int));
        memcpy(s->replay_decisions, o->decisions, o->n_decisions * sizeof(int));
        s->n_replay_decisions = o->n_decisions;
    }
    if (o->replay && o->expect) {
        s->check_expect = true;
        s->n_expect = o->n_expect;
        s->expect = das_xcalloc(o->n_expect ? o->n_expect : 1, sizeof *s->expect);
        s->expect_next = das_xcalloc(o->n_expect ? o->n_expect : 1, sizeof *s->expect_next);
        size_t *last = NULL; /* the latest expected step of each task, by task number */
        size_t n_last = 0;
        for (size_t i = 0; i < o->n_expect; i++) {
            const das_sched_step_t *e = &o->expect[i];
            s->expect[i] = *e;
            action_copy(&s->expect[i].action, &e->action);
            s->expect_next[i] = SIZE_MAX;
            assert(e->task >= 0);
            if ((size_t)e->task >= n_last) {
                last = das_xrealloc(last, ((size_t)e->task + 1) * sizeof *last);
                for (size_t j = n_last; j <= (size_t)e->task; j++)
                    last[j] = SIZE_MAX;
                n_last = (size_t)e->task + 1;
            }
            if (last[e->task] != SIZE_MAX)
                s->expect_next[last[e->task]] = i;
            last[e->task] = i;
        }
        free(last);
    }
    if (s->strategy && !s->replay)
        s->strategy->m->begin(s->strategy);
    return s;
}

void das_sched_destroy(das_sched_t *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->n_tasks; i++) {
        action_dispose(&s->tasks[i].pending);
        free(s->tasks[i].what);
    }
    free(s->tasks);
    free(s->could);
    for (size_t i = 0; i < s->n_locks; i++)
        free(s->locks[i].site);
    free(s->locks);
    for (size_t i = 0; i < s->n_steps; i++)
        action_dispose(&s->steps[i].action);
    free(s->steps);
    free(s->decisions);
    free(s->replay_decisions);
    for (size_t i = 0; i < s->n_expect; i++)
        action_dispose(&s->expect[i].action);
    free(s->expect);
    free(s->expect_next);
    free(s->divergence);
    free(s);
}

int das_sched_add(das_sched_t *s, const char *what)
{
    if (s->n_tasks == s->cap_tasks) {
        size_t cap = (size_t)s->cap_tasks;
        grow((void **)&s->tasks, &cap, (size_t)s->n_tasks + 1, sizeof *s->tasks);
        s->could = das_xrealloc(s->could, cap * sizeof *s->could);
        s->cap_tasks = (int)cap;
    }
    int n = s->n_tasks++;
    task_t *t = &s->tasks[n];
    memset(t, 0, sizeof *t);
    t->state = DAS_TASK_WAITING_START;
    t->pending.kind = DAS_SCHED_START;
    t->what = das_xstrdup(what ? what : "");
    t->arrival = s->n_steps;
    if (s->strategy && !s->replay && s->strategy->m->arrive)
        s->strategy->m->arrive(s->strategy, n);
    return n;
}

static bool can_proceed(const das_sched_t *s, int i)
{
    const task_t *t = &s->tasks[i];
    switch (t->state) {
    case DAS_TASK_WAITING_START:
    case DAS_TASK_WAITING_REPLY:
    case DAS_TASK_SLEEPING:
        return true;
    case DAS_TASK_WAITING_LOCK:
        return das_sched_lock_holder(s, t->pending.lock) < 0;
    case DAS_TASK_WAITING_COND:
        return (t->signalled || t->pending.timed) && das_sched_lock_holder(s, t->pending.lock) < 0;
    default:
        return false;
    }
}

static das_sched_status_t diverge(das_sched_t *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static das_sched_status_t diverge(das_sched_t *s, const char *fmt, ...)
{
    if (!s->divergence) {
        das_buf_t b = {0};
        va_list ap;
        va_start(ap, fmt);
        das_buf_vprintf(&b, fmt, ap);
        va_end(ap);
        s->divergence = das_buf_steal(&b);
    }
    s->final = DAS_SCHED_DIVERGED;
    return s->final;
}

/* Why task i cannot proceed, for a divergence message. */
static const char *why_not(const das_sched_t *s, int i)
{
    if (i < 0 || i >= s->n_tasks)
        return "there is no such task";
    switch (s->tasks[i].state) {
    case DAS_TASK_ENDED: return "it has ended";
    case DAS_TASK_WAITING_LOCK: return "it waits for a mutex";
    case DAS_TASK_WAITING_COND: return "it waits on a condition";
    default: return "it cannot proceed";
    }
}

static das_sched_status_t diverge_pick(das_sched_t *s, const char *who, int pick)
{
    char name[16];
    das_sched_task_name(pick, name);
    return diverge(s, "step %zu: %s picks %s, which cannot proceed (%s)", s->n_steps + 1, who,
                   name, why_not(s, pick));
}

/* Replay has run out of tasks that can proceed: anything recorded and not done is a divergence. */
static das_sched_status_t check_replay_over(das_sched_t *s)
{
    if (s->replay_pos < s->n_replay_decisions)
        return diverge(s, "the run ended after %zu steps having taken %zu of the schedule's %zu "
                          "decisions", s->n_steps, s->replay_pos, s->n_replay_decisions);
    if (s->check_expect && s->n_steps < s->n_expect) {
        das_buf_t d = {0};
        das_sched_describe(s->expect[s->n_steps].task, &s->expect[s->n_steps].action, &d);
        diverge(s, "step %zu: the trace has %s, the run ended after %zu steps", s->n_steps + 1,
                d.data, s->n_steps);
        das_buf_dispose(&d);
        return s->final;
    }
    return DAS_SCHED_IDLE;
}

das_sched_status_t das_sched_next(das_sched_t *s, int *task)
{
    assert(s->running < 0);
    if (s->final != DAS_SCHED_STEP)
        return s->final;
    if (s->max_steps && s->n_steps >= s->max_steps)
        return s->final = DAS_SCHED_STEP_LIMIT;

    int n = 0;
    bool unfinished = false, prev_could = false, prev_yielded = false;
    for (int i = 0; i < s->n_tasks; i++) {
        if (s->tasks[i].state != DAS_TASK_ENDED)
            unfinished = true;
        if (can_proceed(s, i)) {
            s->could[n++] = i;
            if (i == s->prev)
                prev_could = true;
        }
    }
    /* A task at a sleep or yield gave way: leaving it is no preemption. */
    if (prev_could && s->tasks[s->prev].state == DAS_TASK_SLEEPING) {
        prev_could = false;
        prev_yielded = true;
    }
    if (n == 0) {
        if (unfinished)
            return DAS_SCHED_DEADLOCK;
        return s->replay ? check_replay_over(s) : DAS_SCHED_IDLE;
    }

    int pick;
    bool decision = n >= 2;
    das_sched_choice_t c = {
        .step = s->n_steps,
        .decision = s->n_decisions,
        .could = s->could,
        .n = n,
        .prev = s->prev,
        .prev_could = prev_could,
        .prev_yielded = prev_yielded,
        .preemptions = s->preemptions,
    };
    if (!decision) {
        pick = s->could[0];
    } else if (s->replay) {
        if (s->replay_pos >= s->n_replay_decisions)
            return diverge(s, "step %zu: %d tasks can proceed, and the schedule has no decision "
                              "left (it has %zu)", s->n_steps + 1, n, s->n_replay_decisions);
        pick = s->replay_decisions[s->replay_pos++];
    } else if (s->strategy) {
        pick = s->strategy->m->pick(s->strategy, &c);
    } else {
        pick = das_sched_default_pick(&c);
    }
    if (decision) {
        bool ok = false;
        for (int i = 0; i < n && !ok; i++)
            ok = s->could[i] == pick;
        if (!ok)
            return diverge_pick(s, s->replay ? "the schedule" : "the strategy", pick);
    }

    task_t *t = &s->tasks[pick];
    if (s->check_expect) {
        das_buf_t want = {0}, got = {0};
        das_sched_describe(pick, &t->pending, &got);
        if (s->n_steps >= s->n_expect) {
            diverge(s, "step %zu: the trace has no step %zu, the run made %s", s->n_steps + 1,
                    s->n_steps + 1, got.data);
        } else {
            const das_sched_step_t *e = &s->expect[s->n_steps];
            das_sched_describe(e->task, &e->action, &want);
            if (e->task != pick || !das_sched_action_same(&e->action, &t->pending))
                diverge(s, "step %zu: the trace has %s, the run made %s", s->n_steps + 1,
                        want.data, got.data);
        }
        das_buf_dispose(&want);
        das_buf_dispose(&got);
        if (s->final != DAS_SCHED_STEP)
            return s->final;
    }

    grow((void **)&s->steps, &s->cap_steps, s->n_steps + 1, sizeof *s->steps);
    das_sched_step_t *st = &s->steps[s->n_steps];
    memset(st, 0, sizeof *st);
    st->task = pick;
    st->action = t->pending; /* moved: the task runs and waits for nothing now */
    memset(&t->pending, 0, sizeof t->pending);
    st->could = n;
    st->decision = decision;
    st->preemption = s->prev >= 0 && pick != s->prev && prev_could;
    if (st->action.kind == DAS_SCHED_LOCK) {
        lock_take(s, st->action.lock, pick, st->action.site);
    } else if (st->action.kind == DAS_SCHED_WAIT) {
        st->timed_out = !t->signalled;
        lock_take(s, st->action.lock, pick, st->action.site);
    }
    if (decision) {
        grow((void **)&s->decisions, &s->cap_decisions, s->n_decisions + 1, sizeof(int));
        s->decisions[s->n_decisions++] = pick;
    }
    s->preemptions += st->preemption;
    t->state = DAS_TASK_RUNNING;
    t->signalled = false;
    s->running = pick;
    s->prev = pick;
    s->n_steps++;
    *task = pick;
    return DAS_SCHED_STEP;
}

/* The task that ran step i reached `a`: compare with its next step in the trace. */
static void check_reached(das_sched_t *s, size_t i, int task, const das_sched_action_t *a)
{
    if (i >= s->n_expect)
        return;
    size_t next = s->expect_next[i];
    das_buf_t want = {0}, got = {0};
    das_sched_describe(task, a, &got);
    if (next == SIZE_MAX) {
        /* The recorded run took no later step of this task: it ended, or it was failed where
         * it waited, at the step bound or, waiting on a lock or condition, in a deadlock
         * (which this run will find again). */
        bool at_bound = s->max_steps && s->n_steps >= s->max_steps;
        bool may_deadlock = a->kind == DAS_SCHED_LOCK || a->kind == DAS_SCHED_WAIT;
        if (a->kind != DAS_SCHED_END && !at_bound && !may_deadlock) {
            char name[16];
            das_sched_task_name(task, name);
            diverge(s, "after step %zu: the trace has %s end, the run made %s", i + 1, name,
                    got.data);
        }
    } else {
        das_sched_describe(task, &s->expect[next].action, &want);
        if (!das_sched_action_same(&s->expect[next].action, a))
            diverge(s, "step %zu: the trace has %s, the run made %s", next + 1, want.data,
                    got.data);
    }
    das_buf_dispose(&want);
    das_buf_dispose(&got);
}

das_sched_status_t das_sched_reached(das_sched_t *s, int task, const das_sched_action_t *a)
{
    assert(task == s->running && task >= 0);
    assert(a->kind != DAS_SCHED_START);
    task_t *t = &s->tasks[task];
    s->running = -1;
    switch (a->kind) {
    case DAS_SCHED_END: t->state = DAS_TASK_ENDED; break;
    case DAS_SCHED_CALL: t->state = DAS_TASK_WAITING_REPLY; break;
    case DAS_SCHED_LOCK: t->state = DAS_TASK_WAITING_LOCK; break;
    case DAS_SCHED_WAIT: t->state = DAS_TASK_WAITING_COND; break;
    default: t->state = DAS_TASK_SLEEPING; break;
    }
    if (a->kind != DAS_SCHED_END)
        action_copy(&t->pending, a);
    if (a->kind == DAS_SCHED_WAIT) {
        lock_drop(s, a->lock, task);
        t->wait_seq = ++s->wait_seq;
        t->signalled = false;
    }
    if (s->check_expect && s->final == DAS_SCHED_STEP)
        check_reached(s, s->n_steps - 1, task, a);
    return s->final;
}

void das_sched_cancel(das_sched_t *s, int task)
{
    assert(task >= 0 && task < s->n_tasks && task != s->running);
    task_t *t = &s->tasks[task];
    if (t->state == DAS_TASK_ENDED)
        return;
    t->state = DAS_TASK_ENDED;
    action_dispose(&t->pending);
    for (size_t i = s->n_locks; i-- > 0;)
        if (s->locks[i].holder == task)
            lock_drop(s, s->locks[i].id, task);
}

int das_sched_tasks(const das_sched_t *s)
{
    return s->n_tasks;
}

das_sched_state_t das_sched_task_state(const das_sched_t *s, int task)
{
    assert(task >= 0 && task < s->n_tasks);
    return s->tasks[task].state;
}

const das_sched_action_t *das_sched_pending(const das_sched_t *s, int task)
{
    assert(task >= 0 && task < s->n_tasks);
    das_sched_state_t st = s->tasks[task].state;
    return st == DAS_TASK_RUNNING || st == DAS_TASK_ENDED ? NULL : &s->tasks[task].pending;
}

uint64_t das_sched_arrival(const das_sched_t *s, int task)
{
    assert(task >= 0 && task < s->n_tasks);
    return s->tasks[task].arrival;
}

const char *das_sched_task_what(const das_sched_t *s, int task)
{
    assert(task >= 0 && task < s->n_tasks);
    return s->tasks[task].what;
}

size_t das_sched_steps(const das_sched_t *s)
{
    return s->n_steps;
}

const das_sched_step_t *das_sched_step(const das_sched_t *s, size_t i)
{
    assert(i < s->n_steps);
    return &s->steps[i];
}

const int *das_sched_decisions(const das_sched_t *s, size_t *n)
{
    *n = s->n_decisions;
    return s->decisions;
}

int das_sched_preemptions(const das_sched_t *s)
{
    return s->preemptions;
}

char *das_sched_schedule_string(const das_sched_t *s)
{
    return das_sched_string_encode(s->n_tasks, s->decisions, s->n_decisions);
}

const char *das_sched_divergence(const das_sched_t *s)
{
    return s->divergence;
}

void das_sched_deadlock_report(const das_sched_t *s, das_buf_t *out)
{
    bool first = true;
    for (int i = 0; i < s->n_tasks; i++) {
        const task_t *t = &s->tasks[i];
        if (t->state != DAS_TASK_WAITING_LOCK && t->state != DAS_TASK_WAITING_COND)
            continue;
        char name[16];
        das_sched_task_name(i, name);
        das_buf_printf(out, "%s%s", first ? "" : "; ", name);
        first = false;
        bool holds = false;
        for (size_t j = 0; j < s->n_locks; j++) {
            if (s->locks[j].holder != i)
                continue;
            das_buf_printf(out, "%s mutex 0x%" PRIx64, holds ? "," : " holds", s->locks[j].id);
            append_site(out, s->locks[j].site);
            holds = true;
        }
        if (holds)
            das_buf_puts(out, " and");
        int holder = das_sched_lock_holder(s, t->pending.lock);
        if (t->state == DAS_TASK_WAITING_LOCK) {
            das_buf_printf(out, " waits for mutex 0x%" PRIx64, t->pending.lock);
        } else {
            das_buf_printf(out, " waits on condition 0x%" PRIx64, t->pending.cond);
            if (!t->signalled)
                das_buf_puts(out, ", never signalled,");
            das_buf_printf(out, " for mutex 0x%" PRIx64, t->pending.lock);
        }
        append_site(out, t->pending.site);
        if (holder >= 0) {
            das_sched_task_name(holder, name);
            das_buf_printf(out, " held by %s%s", name,
                           s->tasks[holder].state == DAS_TASK_ENDED ? ", which ended" : "");
        }
    }
}

int das_sched_default_pick(const das_sched_choice_t *c)
{
    if (c->prev_could)
        return c->prev;
    /* After a yield, the first other task. */
    return c->prev_yielded && c->could[0] == c->prev ? c->could[1] : c->could[0];
}

/* ---------------------------------------------------------------- random */

typedef struct {
    das_sched_strategy_t base;
    das_sched_alloc_t alloc;
    uint64_t seed, schedule;
    das_prng_t rng;
} random_strategy_t;

static void random_begin(das_sched_strategy_t *st)
{
    random_strategy_t *r = (random_strategy_t *)st;
    das_prng_init(&r->rng, r->seed, r->schedule++);
}

static int random_pick(das_sched_strategy_t *st, const das_sched_choice_t *c)
{
    random_strategy_t *r = (random_strategy_t *)st;
    return c->could[das_prng_below(&r->rng, (uint64_t)c->n)];
}

static void random_destroy(das_sched_strategy_t *st)
{
    random_strategy_t *r = (random_strategy_t *)st;
    das_sched_alloc_t a = r->alloc;
    st_free(&a, r);
}

static const das_sched_strategy_methods_t random_methods = {random_begin, NULL, random_pick,
                                                             random_destroy};

das_sched_strategy_t *das_sched_random_create(uint64_t seed)
{
    return das_sched_random_create_in(seed, NULL);
}

das_sched_strategy_t *das_sched_random_create_in(uint64_t seed, const das_sched_alloc_t *a)
{
    random_strategy_t *r = st_calloc(a, sizeof *r);
    if (a)
        r->alloc = *a;
    r->base.m = &random_methods;
    r->base.name = "random";
    r->seed = seed;
    return &r->base;
}

void das_sched_strategy_destroy(das_sched_strategy_t *st)
{
    if (st)
        st->m->destroy(st);
}

/* ---------------------------------------------------------------- pct */

/* Priorities: a task arriving draws one at or above PCT_HIGH; the i-th change point (from 1)
 * sets priority i, below every drawn one. Ties go to the lower task number. */
#define PCT_HIGH (1ull << 40)

typedef struct {
    das_sched_strategy_t base;
    das_sched_alloc_t alloc;
    uint64_t seed, schedule;
    das_prng_t rng;
    int depth;
    uint64_t longest;  /* decisions in the longest run so far: k */
    uint64_t *prio;    /* by task number */
    size_t cap_prio;
    uint64_t *changes; /* depth - 1 decision numbers, distinct */
    int n_changes;
} pct_strategy_t;

static void pct_begin(das_sched_strategy_t *st)
{
    pct_strategy_t *p = (pct_strategy_t *)st;
    das_prng_init(&p->rng, p->seed, p->schedule++);
    uint64_t k = p->longest ? p->longest : DAS_SCHED_PCT_FIRST_K;
    p->n_changes = (uint64_t)(p->depth - 1) < k ? p->depth - 1 : (int)k;
    for (int i = 0; i < p->n_changes; i++) {
        bool again;
        do {
            p->changes[i] = das_prng_below(&p->rng, k);
            again = false;
            for (int j = 0; j < i; j++)
                again |= p->changes[j] == p->changes[i];
        } while (again);
    }
}

static void pct_arrive(das_sched_strategy_t *st, int task)
{
    pct_strategy_t *p = (pct_strategy_t *)st;
    st_grow(&p->alloc, (void **)&p->prio, &p->cap_prio, (size_t)task + 1, sizeof *p->prio);
    p->prio[task] = PCT_HIGH + (das_prng_next(&p->rng) >> 24);
}

static int pct_highest(const pct_strategy_t *p, const das_sched_choice_t *c)
{
    int best = c->could[0];
    for (int i = 1; i < c->n; i++)
        if (p->prio[c->could[i]] > p->prio[best])
            best = c->could[i];
    return best;
}

static int pct_pick(das_sched_strategy_t *st, const das_sched_choice_t *c)
{
    pct_strategy_t *p = (pct_strategy_t *)st;
    if (c->decision + 1 > p->longest)
        p->longest = c->decision + 1;
    int best = pct_highest(p, c);
    for (int i = 0; i < p->n_changes; i++) {
        if (p->changes[i] == c->decision) {
            p->prio[best] = (uint64_t)i + 1;
            best = pct_highest(p, c);
        }
    }
    return best;
}

static void pct_destroy(das_sched_strategy_t *st)
{
    pct_strategy_t *p = (pct_strategy_t *)st;
    das_sched_alloc_t a = p->alloc;
    st_free(&a, p->prio);
    st_free(&a, p->changes);
    st_free(&a, p);
}

static const das_sched_strategy_methods_t pct_methods = {pct_begin, pct_arrive, pct_pick,
                                                          pct_destroy};

das_sched_strategy_t *das_sched_pct_create(uint64_t seed, int depth)
{
    return das_sched_pct_create_in(seed, depth, NULL);
}

das_sched_strategy_t *das_sched_pct_create_in(uint64_t seed, int depth, const das_sched_alloc_t *a)
{
    assert(depth >= 1);
    pct_strategy_t *p = st_calloc(a, sizeof *p);
    if (a)
        p->alloc = *a;
    p->base.m = &pct_methods;
    p->base.name = "pct";
    p->seed = seed;
    p->depth = depth;
    p->changes = st_calloc(a, (size_t)depth * sizeof *p->changes);
    return &p->base;
}

/* ---------------------------------------------------------------- the exhaustive explorer */

/* A node of the search: a decision of the current path, the task chosen there, and the other
 * choices of the same preemption count not tried yet (a bit per task). */
typedef struct {
    int chosen;
    uint64_t rest;
} node_t;

/* Decision prefixes waiting for their bound, first in first out, packed one byte a decision. */
typedef struct {
    uint8_t *data;
    size_t len, cap;
    size_t *starts;
    size_t n, cap_n, head;
} queue_t;

struct das_sched_explorer {
    das_sched_strategy_t base;
    das_sched_alloc_t alloc;
    int max;   /* the highest bound to explore; < 0: none */
    int bound; /* of the current schedule */
    node_t *path;
    size_t n_path, cap_path;
    size_t fixed; /* path[0 .. fixed) is the prefix of the current item: not backtracked */
    size_t depth; /* decisions seen in the current run */
    queue_t cur;  /* items of this bound not yet started */
    queue_t next; /* items of the next bound */
    int *prefix;  /* for das_sched_explorer_prefix */
    size_t cap_prefix;
    uint64_t schedules;
    bool beyond; /* a choice was left out by max */
    bool done, complete;
};

static void queue_push(const das_sched_alloc_t *a, queue_t *q, const node_t *path, size_t n,
                       int last)
{
    st_grow(a, (void **)&q->data, &q->cap, q->len + n + 1, 1);
    st_grow(a, (void **)&q->starts, &q->cap_n, q->n + 1, sizeof *q->starts);
    q->starts[q->n++] = q->len;
    for (size_t i = 0; i < n; i++)
        q->data[q->len++] = (uint8_t)path[i].chosen;
    q->data[q->len++] = (uint8_t)last;
}

static void queue_dispose(const das_sched_alloc_t *a, queue_t *q)
{
    st_free(a, q->data);
    st_free(a, q->starts);
    memset(q, 0, sizeof *q);
}

/* Loads the next item of `q` as the current path. */
static bool queue_pop(das_sched_explorer_t *e, queue_t *q)
{
    if (q->head == q->n)
        return false;
    size_t start = q->starts[q->head];
    size_t end = q->head + 1 < q->n ? q->starts[q->head + 1] : q->len;
    q->head++;
    st_grow(&e->alloc, (void **)&e->path, &e->cap_path, end - start, sizeof *e->path);
    for (size_t i = start; i < end; i++)
        e->path[i - start] = (node_t){q->data[i], 0};
    e->n_path = e->fixed = end - start;
    return true;
}

static void explorer_begin(das_sched_strategy_t *st)
{
    das_sched_explorer_t *e = (das_sched_explorer_t *)st;
    assert(!e->done);
    e->depth = 0;
}

static int explorer_pick(das_sched_strategy_t *st, const das_sched_choice_t *c)
{
    das_sched_explorer_t *e = (das_sched_explorer_t *)st;
    size_t j = e->depth++;
    if (j < e->n_path)
        return e->path[j].chosen;
    node_t node = {c->could[0], 0};
    if (c->prev_could) {
        node.chosen = c->prev;
        for (int i = 0; i < c->n; i++) {
            if (c->could[i] == c->prev)
                continue;
            if ((e->max < 0 || c->preemptions + 1 <= e->max) && c->could[i] < 64)
                queue_push(&e->alloc, &e->next, e->path, j, c->could[i]);
            else
                e->beyond = true;
        }
    } else {
        /* After a yield the others go first; the yielding task is tried last. */
        int first = 0;
        if (c->prev_yielded && c->could[0] == c->prev)
            first = 1;
        node.chosen = c->could[first];
        for (int i = 0; i < c->n; i++) {
            if (i == first)
                continue;
            if (c->could[i] < 64)
                node.rest |= 1ull << c->could[i];
            else
                e->beyond = true; /* past the documented limit: the search is not complete */
        }
    }
    st_grow(&e->alloc, (void **)&e->path, &e->cap_path, j + 1, sizeof *e->path);
    e->path[j] = node;
    e->n_path = j + 1;
    return node.chosen;
}

static void explorer_destroy_method(das_sched_strategy_t *st)
{
    das_sched_explorer_destroy((das_sched_explorer_t *)st);
}

static const das_sched_strategy_methods_t explorer_methods = {
    explorer_begin, NULL, explorer_pick, explorer_destroy_method};

das_sched_explorer_t *das_sched_explorer_create(int max_preemptions)
{
    return das_sched_explorer_create_in(max_preemptions, NULL);
}

das_sched_explorer_t *das_sched_explorer_create_in(int max_preemptions, const das_sched_alloc_t *a)
{
    das_sched_explorer_t *e = st_calloc(a, sizeof *e);
    if (a)
        e->alloc = *a;
    e->base.m = &explorer_methods;
    e->base.name = "exhaustive";
    e->max = max_preemptions;
    return e;
}

void das_sched_explorer_destroy(das_sched_explorer_t *e)
{
    if (!e)
        return;
    das_sched_alloc_t a = e->alloc;
    st_free(&a, e->path);
    queue_dispose(&a, &e->cur);
    queue_dispose(&a, &e->next);
    st_free(&a, e->prefix);
    st_free(&a, e);
}

das_sched_strategy_t *das_sched_explorer_strategy(das_sched_explorer_t *e)
{
    return &e->base;
}

const int *das_sched_explorer_prefix(das_sched_explorer_t *e, size_t *n)
{
    st_grow(&e->alloc, (void **)&e->prefix, &e->cap_prefix, e->n_path + 1, sizeof *e->prefix);
    for (size_t i = 0; i < e->n_path; i++)
        e->prefix[i] = e->path[i].chosen;
    *n = e->n_path;
    return e->prefix;
}

int das_sched_explorer_bound(const das_sched_explorer_t *e)
{
    return e->bound;
}

das_explore_status_t das_sched_explorer_advance(das_sched_explorer_t *e)
{
    assert(!e->done);
    e->schedules++;
    for (size_t j = e->n_path; j-- > e->fixed;) {
        uint64_t rest = e->path[j].rest;
        if (rest) {
            e->path[j].chosen = __builtin_ctzll(rest);
            e->path[j].rest = rest & (rest - 1);
            e->n_path = j + 1;
            return DAS_EXPLORE_NEXT;
        }
    }
    if (queue_pop(e, &e->cur))
        return DAS_EXPLORE_NEXT;
    if (e->next.n == 0) {
        e->done = true;
        e->complete = !e->beyond;
        e->n_path = 0;
        return DAS_EXPLORE_DONE;
    }
    e->bound++;
    queue_dispose(&e->alloc, &e->cur);
    e->cur = e->next;
    memset(&e->next, 0, sizeof e->next);
    queue_pop(e, &e->cur);
    return DAS_EXPLORE_NEXT_BOUND;
}

uint64_t das_sched_explorer_schedules(const das_sched_explorer_t *e)
{
    return e->schedules;
}

bool das_sched_explorer_complete(const das_sched_explorer_t *e)
{
    return e->done && e->complete;
}

/* ---------------------------------------------------------------- the schedule string */

static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* The fewest bits (at least 1) that hold every task number below n_tasks. */
static int code_bits(int n_tasks)
{
    int b = 1;
    while (b < 31 && (1l << b) < n_tasks)
        b++;
    return b;
}

char *das_sched_string_encode(int n_tasks, const int *decisions, size_t n)
{
    das_buf_t b = {0};
    das_buf_printf(&b, "s1.%d.", n_tasks);
    if (n_tasks <= 26 && n <= 64) {
        for (size_t i = 0; i < n; i++) {
            assert(decisions[i] >= 0 && decisions[i] < n_tasks);
            char c = (char)('A' + decisions[i]);
            das_buf_append(&b, &c, 1);
        }
        return das_buf_steal(&b);
    }
    das_buf_printf(&b, "%zu.", n);
    int bits = code_bits(n_tasks), have = 0;
    uint64_t acc = 0;
    for (size_t i = 0; i < n; i++) {
        assert(decisions[i] >= 0 && decisions[i] < n_tasks);
        acc = (acc << bits) | (uint64_t)decisions[i];
        have += bits;
        while (have >= 6) {
            have -= 6;
            das_buf_append(&b, &b64url[(acc >> have) & 63], 1);
        }
        acc &= (1ull << have) - 1;
    }
    if (have > 0)
        das_buf_append(&b, &b64url[(acc << (6 - have)) & 63], 1);
    return das_buf_steal(&b);
}

/* Reads a decimal number of at most 9 digits at *p; false when there is none. */
static bool read_count(const char **p, long *out)
{
    const char *s = *p;
    long v = 0;
    int digits = 0;
    while (*s >= '0' && *s <= '9' && digits < 10) {
        v = v * 10 + (*s++ - '0');
        digits++;
    }
    if (digits == 0 || digits > 9)
        return false;
    *out = v;
    *p = s;
    return true;
}

int das_sched_string_decode(const char *str, int *n_tasks, int **decisions, size_t *n,
                            das_err_t *err)
{
    *decisions = NULL;
    *n = 0;
    if (strncmp(str, "s1.", 3) != 0)
        return das_err_set(err, AE_EINVAL, "schedule string \"%.80s\": it must begin with "
                                           "\"s1.\"", str);
    const char *p = str + 3;
    long tasks, count;
    if (!read_count(&p, &tasks) || tasks < 1 || *p != '.')
        return das_err_set(err, AE_EINVAL, "schedule string \"%.80s\": \"s1.\" must be followed "
                                           "by the number of tasks and a dot", str);
    p++;
    int *out = NULL;
    if (!strchr(p, '.')) {
        size_t len = strlen(p);
        if (len && tasks > 26)
            return das_err_set(err, AE_EINVAL, "schedule string \"%.80s\": letters name at most "
                                               "26 tasks, it has %ld", str, tasks);
        out = len ? das_xmalloc(len * sizeof *out) : NULL;
        for (size_t i = 0; i < len; i++) {
            if (p[i] < 'A' || p[i] >= 'A' + tasks) {
                free(out);
                return das_err_set(err, AE_EINVAL, "schedule string \"%.80s\": decision %zu "
                                                   "('%c') names no task of %ld", str, i + 1,
                                   p[i], tasks);
            }
            out[i] = p[i] - 'A';
        }
        *n_tasks = (int)tasks;
        *decisions = out;
        *n = len;
        return 0;
    }
    if (!read_count(&p, &count) || *p != '.')
        return das_err_set(err, AE_EINVAL, "schedule string \"%.80s\": the packed form is "
                                           "s1.<tasks>.<decisions>.<base64url>", str);
    p++;
    int bits = code_bits((int)tasks);
    size_t len = strlen(p), need = ((size_t)count * (size_t)bits + 5) / 6;
    if (len != need)
        return das_err_set(err, AE_EINVAL, "schedule string \"%.80s\": %ld decisions of %d bits "
                                           "take %zu characters, it has %zu", str, count, bits,
                           need, len);
    out = count ? das_xmalloc((size_t)count * sizeof *out) : NULL;
    uint64_t acc = 0;
    int have = 0;
    size_t got = 0;
    for (size_t i = 0; i < len; i++) {
        const char *c = p[i] ? strchr(b64url, p[i]) : NULL;
        if (!c) {
            free(out);
            return das_err_set(err, AE_EINVAL, "schedule string \"%.80s\": '%c' is not "
                                               "base64url", str, p[i]);
        }
        acc = (acc << 6) | (uint64_t)(c - b64url);
        have += 6;
        while (have >= bits && got < (size_t)count) {
            have -= bits;
            uint64_t code = (acc >> have) & ((1ull << bits) - 1);
            if (code >= (uint64_t)tasks) {
                free(out);
                return das_err_set(err, AE_EINVAL, "schedule string \"%.80s\": decision %zu "
                                                   "names task %" PRIu64 " of %ld", str,
                                   got + 1, code + 1, tasks);
            }
            out[got++] = (int)code;
        }
        acc &= (1ull << have) - 1;
    }
    if (acc != 0) {
        free(out);
        return das_err_set(err, AE_EINVAL, "schedule string \"%.80s\": the padding bits are "
                                           "not zero", str);
    }
    *n_tasks = (int)tasks;
    *decisions = out;
    *n = (size_t)count;
    return 0;
}
