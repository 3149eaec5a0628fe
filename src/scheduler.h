/* scheduler.h - the deterministic scheduler: which request goes on next, and the record of it.
 *
 * Under deterministic dispatch at most one request runs at any moment, across all instances,
 * and it switches only where this module lets it. The model, in the words used everywhere
 * (code, docs, traces, reports):
 *
 * - A task is one request. Tasks are numbered 0, 1, ... in arrival order and named A, B, ...
 *   (das_sched_task_name).
 * - A task is at a point when it is waiting: to start; for the reply to a service call it made;
 *   on an app mutex or condition variable held by another task; in a sleep or yield. At most
 *   one task runs; all the others are at points (or ended).
 * - A step picks one task that can proceed and performs its pending action: start it, execute
 *   its call and send the reply, or let it out of its lock, wait or sleep. The step lasts until
 *   that task reaches its next point or ends. A task that makes c service calls (and takes no
 *   contended lock and no sleep) has c+1 steps, so tasks of s1, s2, ... steps have
 *   (s1+s2+...)! / (s1! s2! ...) schedules.
 * - A decision is recorded only at a step where two or more tasks could proceed; the decisions
 *   alone replay a run.
 * - A preemption is a step that picks a different task while the task of the previous step has
 *   not ended and could itself have proceeded. (Switching away from a task blocked on a mutex
 *   or condition is forced, not chosen, and is not counted: a schedule bounded to 0
 *   preemptions can still let a holder release its mutex. Nor is switching away from a task
 *   that stopped at a sleep or yield: it gave way itself, as in CHESS.)
 *
 * What it holds: the tasks, their states and pending actions; the locks the tasks hold; the
 * step log and the decision log; a strategy that makes the decisions (a method table: random,
 * pct, and the exhaustive explorer); or, for replay, a decision list to follow, checking at
 * every step that the same task makes the same operation on the same keys. It also reports a
 * deadlock, and encodes and decodes the schedule string.
 *
 * Driving it (the dispatcher does this; the unit test plays tasks from scripts):
 *   das_sched_add()      when a request arrives: a new task waiting to start. It joins at the
 *                        next step; the step count at its arrival is recorded.
 *   das_sched_next()     takes a step: says which task to run, or why none can.
 *   (the driver performs the step's action and lets the task run to its next point)
 *   das_sched_reached()  the running task reached its next point, or ended.
 *   das_sched_lock_acquired(), _lock_released(), _cond_signal()  what the running task did to
 *                        its locks without stopping (an uncontended lock is no point).
 *
 * Design: no I/O, no clock, no processes, no globals, no locking: one thread (the dispatcher's)
 * drives a scheduler. Every decision is a total order: tasks that can proceed are listed by
 * index, ties are broken by index, and the strategies draw from their own seeded PRNG. A
 * scheduler is one schedule (create, steps, destroy); a strategy lives across schedules (pct
 * learns from earlier runs, the explorer walks the space of schedules).
 */
#ifndef DAS_SCHED_H
#define DAS_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

typedef struct das_sched das_sched_t;
typedef struct das_sched_strategy das_sched_strategy_t;
typedef struct das_sched_explorer das_sched_explorer_t;

/* ---------------------------------------------------------------- actions */

/* What a task waits for at a point: the action a step performs. END is only ever reached. */
typedef enum {
    DAS_SCHED_START = 0, /* waiting to start: the step sends the request */
    DAS_SCHED_CALL,      /* waiting for a service call's reply: the step executes the call */
    DAS_SCHED_LOCK,      /* waiting for a mutex another task holds: the step gives it the mutex */
    DAS_SCHED_WAIT,      /* waiting on a condition (its mutex released): the step wakes it up,
                            holding the mutex again */
    DAS_SCHED_SLEEP,     /* in a sleep or a yield: the step lets it go on */
    DAS_SCHED_END,       /* the task ended */
} das_sched_kind_t;

/* "start", "call", "lock", "wait", "sleep", "end". */
const char *das_sched_kind_name(das_sched_kind_t kind);

/* A key a call touches, as bytes in the service's own spelling ("ns/key"). */
typedef struct {
    const char *data;
    size_t len;
} das_sched_key_t;

/* A task's pending action. Passed in, every pointer is borrowed for the call (the scheduler
 * keeps copies); handed out, it belongs to the scheduler. Fields not used by `kind` are 0. */
typedef struct {
    das_sched_kind_t kind;
    const char *service;         /* CALL: "memcache" */
    const char *op;              /* CALL: "get" */
    const das_sched_key_t *keys; /* CALL: the keys it touches, in the call's order */
    size_t n_keys;
    bool write;                  /* CALL: it writes (a write may also read) */
    uint64_t lock;               /* LOCK: the mutex; WAIT: the condition's mutex */
    uint64_t cond;               /* WAIT: the condition */
    bool timed;                  /* WAIT: a timed wait, which may also end by its timeout */
    int64_t sleep_ns;            /* SLEEP: how long, in virtual time (0: a yield) */
    const char *site;            /* where the task stands, "file:line"; may be NULL */
} das_sched_action_t;

/* Lock and condition ids are the driver's: any 64-bit value, unique across instances (an
 * instance's mutexes live in its own address space, so the driver combines the two). */

/* ---------------------------------------------------------------- strategies */

/* What a strategy is shown at a decision. */
typedef struct {
    uint64_t step;     /* this step's number, from 0 */
    uint64_t decision; /* this decision's number, from 0 */
    const int *could;  /* the tasks that can proceed, ascending; n >= 2 */
    int n;
    int prev;          /* the task of the previous step; -1 before the first */
    bool prev_could;   /* prev is among `could`: picking another task is a preemption */
    bool prev_yielded; /* prev can proceed, but it stopped at a sleep or yield: it offered to
                          let others run, so switching away is no preemption (prev_could is
                          false), and others should go first (a task spinning on yields must
                          not starve the one it waits for) */
    int preemptions;   /* so far in this schedule */
} das_sched_choice_t;

/* A strategy's method table (SQLite's VFS pattern). `begin` is called by das_sched_create for
 * every schedule; `arrive` for each task added (may be NULL); `pick` at every decision, and it
 * returns one of c->could (anything else stops the run as diverged). */
typedef struct {
    void (*begin)(das_sched_strategy_t *st);
    void (*arrive)(das_sched_strategy_t *st, int task);
    int (*pick)(das_sched_strategy_t *st, const das_sched_choice_t *c);
    void (*destroy)(das_sched_strategy_t *st);
} das_sched_strategy_methods_t;

struct das_sched_strategy {
    const das_sched_strategy_methods_t *m;
    const char *name; /* "random", "pct", "exhaustive" */
};

/* Where a strategy keeps its state: the heap, or (explore's in-process backend) memory shared
 * with the worker process that runs the schedules, so that what the strategy learnt survives
 * the worker. `realloc(ctx, p, n)` as realloc(3), and with n = 0 it frees p; it never fails. */
typedef struct {
    void *(*realloc)(void *ctx, void *p, size_t n);
    void *ctx;
} das_sched_alloc_t;

/* Memory from `a`, or the heap when `a` (or its realloc) is NULL: realloc(3), and with n = 0
 * it frees p. What the strategies allocate with; for strategies of the caller's own too. */
void *das_sched_alloc_realloc(const das_sched_alloc_t *a, void *p, size_t n);

/* Uniform among the tasks that can proceed. The i-th schedule run with it (counting from 0)
 * draws from the stream (seed, i): the same seed gives the same schedules in the same order.
 * Caller frees with das_sched_strategy_destroy(). */
das_sched_strategy_t *das_sched_random_create(uint64_t seed);
/* The same, its state from `a` (NULL: the heap); the *_create_in below likewise. */
das_sched_strategy_t *das_sched_random_create_in(uint64_t seed, const das_sched_alloc_t *a);

#define DAS_SCHED_PCT_DEPTH 3
/* Decisions assumed for the first schedule, before any run has taught pct its k. */
#define DAS_SCHED_PCT_FIRST_K 16

/* PCT (Burckhardt et al., ASPLOS 2010) of depth d >= 1: each task gets a random priority
 * above d when it arrives; d-1 priority change points are drawn among the k decisions of the
 * run; the highest-priority task that can proceed is picked, and at the i-th change point the
 * task about to be picked drops to priority i. k is the number of decisions of the longest run
 * seen so far by this strategy (DAS_SCHED_PCT_FIRST_K before the first). Counting decisions
 * rather than steps moves each change point past the steps where only one task could proceed,
 * as Coyote does. With d = 1 there are no change points: a task runs until it ends or blocks.
 * Seeded per schedule as random is. Caller frees with das_sched_strategy_destroy(). */
das_sched_strategy_t *das_sched_pct_create(uint64_t seed, int depth);
das_sched_strategy_t *das_sched_pct_create_in(uint64_t seed, int depth, const das_sched_alloc_t *a);

void das_sched_strategy_destroy(das_sched_strategy_t *st); /* NULL ok */

/* What a scheduler with no strategy picks: the task of the previous step when it can proceed
 * (no preemption ever); after a yield, the first other task; else the lowest-numbered. */
int das_sched_default_pick(const das_sched_choice_t *c);

/* ---------------------------------------------------------------- the scheduler */

typedef struct {
    /* Picks at the decisions; borrowed, must outlive the scheduler. NULL: the task of the
     * previous step when it can proceed, else the lowest-numbered one (no preemption ever). */
    das_sched_strategy_t *strategy;
    /* Replay: follow these decisions (task numbers) instead of a strategy; copied. */
    bool replay;
    const int *decisions;
    size_t n_decisions;
    /* Replay, optional: the recorded steps (das_sched_step_t, below, from a trace); copied.
     * Every step's task and action (kind; for calls service, operation, keys and write) must
     * match; a difference stops the run as diverged, naming the step and both sides. */
    const struct das_sched_step *expect;
    size_t n_expect;
    uint64_t max_steps; /* das_sched_next() says DAS_SCHED_STEP_LIMIT after this many; 0: none */
} das_sched_options_t;

/* One step of the log. */
typedef struct das_sched_step {
    int task;
    das_sched_action_t action; /* the action the step performed: the task's pending action */
    int could;                 /* how many tasks could proceed */
    bool decision;             /* could >= 2: it is in the decision log */
    bool preemption;
    bool timed_out;            /* a WAIT that ended by its timeout rather than a signal */
} das_sched_step_t;

typedef enum {
    DAS_SCHED_STEP = 0,   /* a task was picked: perform its action, run it to its next point */
    DAS_SCHED_IDLE,       /* no unfinished task: wait for an arrival, or the run is over */
    DAS_SCHED_DEADLOCK,   /* unfinished tasks, every one waiting on a mutex or condition, none
                             able to proceed: das_sched_deadlock_report() */
    DAS_SCHED_DIVERGED,   /* replay (or a forced prefix) does not match this run:
                             das_sched_divergence() */
    DAS_SCHED_STEP_LIMIT, /* max_steps were taken */
} das_sched_status_t;

typedef enum {
    DAS_TASK_WAITING_START = 0,
    DAS_TASK_WAITING_REPLY,
    DAS_TASK_WAITING_LOCK,
    DAS_TASK_WAITING_COND,
    DAS_TASK_SLEEPING,
    DAS_TASK_RUNNING,
    DAS_TASK_ENDED,
} das_sched_state_t;

/* One schedule. Calls the strategy's begin (not when replaying). Caller frees with
 * das_sched_destroy(). */
das_sched_t *das_sched_create(const das_sched_options_t *opts);
void das_sched_destroy(das_sched_t *s); /* NULL ok */

/* A request arrived: a new task, waiting to start; returns its number. `what` (may be NULL;
 * copied) describes it for reports ("GET /racy?key=racy"). */
int das_sched_add(das_sched_t *s, const char *what);

/* Takes the next step. On DAS_SCHED_STEP, *task is the task to run: it is now running, and
 * the step is in the log (das_sched_step(s, das_sched_steps(s) - 1)). No task may be running.
 * DIVERGED and STEP_LIMIT are final; DEADLOCK and IDLE hold until something changes. */
das_sched_status_t das_sched_next(das_sched_t *s, int *task);

/* The running task reached its next point (waiting for `a`), or ended (a->kind END). A WAIT
 * releases the task's hold on a->lock. Returns DAS_SCHED_STEP, or DAS_SCHED_DIVERGED when
 * replay expected another action from this task. */
das_sched_status_t das_sched_reached(das_sched_t *s, int task, const das_sched_action_t *a);

/* A task that is not running ends without a step: its instance crashed while it waited, or
 * the driver failed it after a deadlock. It lets go of every lock it holds. Not in the step
 * log (the trace records why). No-op on a task that already ended. */
void das_sched_cancel(das_sched_t *s, int task);

/* What the running task did without stopping. An acquire the scheduler did not grant (an
 * uncontended mutex costs no point) must be told before a point of another task waits on it;
 * `site` may be NULL. A signal wakes the earliest waiter on `cond` (all of them if
 * `broadcast`); with none waiting it is lost, as in pthreads. */
void das_sched_lock_acquired(das_sched_t *s, int task, uint64_t lock, const char *site);
void das_sched_lock_released(das_sched_t *s, int task, uint64_t lock);
void das_sched_cond_signal(das_sched_t *s, uint64_t cond, bool broadcast);
/* The task holding `lock`, or -1. */
int das_sched_lock_holder(const das_sched_t *s, uint64_t lock);

int das_sched_tasks(const das_sched_t *s);
das_sched_state_t das_sched_task_state(const das_sched_t *s, int task);
/* The action the task waits for; NULL while it runs and once it ended. */
const das_sched_action_t *das_sched_pending(const das_sched_t *s, int task);
/* The number of steps taken before the task arrived (it joined at the step of that number,
 * counting from 0). */
uint64_t das_sched_arrival(const das_sched_t *s, int task);
const char *das_sched_task_what(const das_sched_t *s, int task); /* "" when none was given */

size_t das_sched_steps(const das_sched_t *s);
const das_sched_step_t *das_sched_step(const das_sched_t *s, size_t i); /* borrowed */
/* The decision log: one task number per decision. Borrowed, valid until the next step. */
const int *das_sched_decisions(const das_sched_t *s, size_t *n);
int das_sched_preemptions(const das_sched_t *s);
/* The schedule string of the decisions so far (das_sched_string_encode). Caller frees. */
char *das_sched_schedule_string(const das_sched_t *s);

/* After DAS_SCHED_DIVERGED: "step 5: the trace has B memcache.set \"racy\", the run made B
 * memcache.get \"racy\"". NULL before. Borrowed. */
const char *das_sched_divergence(const das_sched_t *s);
/* After DAS_SCHED_DEADLOCK: appends one clause per task, "A holds mutex 0x1 (a.c:10) and
 * waits for mutex 0x2 (a.c:12) held by B", joined by "; ". */
void das_sched_deadlock_report(const das_sched_t *s, das_buf_t *out);

/* "A".."Z" for tasks 0..25, then "T27", "T28", ... (1-based). `out` has 16 bytes. */
void das_sched_task_name(int task, char out[16]);
/* Appends "B memcache.set \"racy\"", "A start", "B lock mutex 0x2 (a.c:12)", "A end", ... */
void das_sched_describe(int task, const das_sched_action_t *a, das_buf_t *out);
/* Whether two actions are the same for replay: kind; for calls service, op, write and keys. */
bool das_sched_action_same(const das_sched_action_t *a, const das_sched_action_t *b);

/* ---------------------------------------------------------------- the exhaustive explorer */

/* Depth-first search over every schedule, with iterative preemption bounding (Musuvathi and
 * Qadeer, PLDI 2007): first every schedule with 0 preemptions, then every one with exactly 1,
 * then 2, ... Each schedule is run once. At a decision it first tries the task of the previous
 * step (or, when that one cannot proceed, every task in turn); a choice that would preempt is
 * kept for the next bound as the decision prefix leading to it.
 *
 * Use: give das_sched_explorer_strategy(e) to each schedule's scheduler; after each schedule
 * (whatever its outcome) call das_sched_explorer_advance(e), until it says DONE. Choices of
 * tasks numbered 64 and above are not explored (the search then says it is not complete). The
 * runs must be deterministic: the same decisions must lead to the same choices (a forced
 * decision that cannot be taken stops that run as diverged). */
typedef enum {
    DAS_EXPLORE_NEXT = 0,   /* run another schedule at the same bound */
    DAS_EXPLORE_NEXT_BOUND, /* every schedule at this bound ran; the next has one preemption
                               more (das_sched_explorer_bound) */
    DAS_EXPLORE_DONE,       /* nothing left (das_sched_explorer_complete says whether that is
                               every schedule, or every one within max_preemptions) */
} das_explore_status_t;

/* max_preemptions < 0: no bound (the search goes on until the space is exhausted). Caller frees
 * with das_sched_explorer_destroy(). */
das_sched_explorer_t *das_sched_explorer_create(int max_preemptions);
das_sched_explorer_t *das_sched_explorer_create_in(int max_preemptions, const das_sched_alloc_t *a);
void das_sched_explorer_destroy(das_sched_explorer_t *e); /* NULL ok */
/* Borrowed from the explorer; do not destroy it. */
das_sched_strategy_t *das_sched_explorer_strategy(das_sched_explorer_t *e);
/* The decisions the next schedule will be forced through before the search goes on its own.
 * Borrowed, valid until the next advance. */
const int *das_sched_explorer_prefix(das_sched_explorer_t *e, size_t *n);
/* The preemption bound of the next schedule: it has exactly that many preemptions. */
int das_sched_explorer_bound(const das_sched_explorer_t *e);
das_explore_status_t das_sched_explorer_advance(das_sched_explorer_t *e);
/* Schedules completed (advance calls). */
uint64_t das_sched_explorer_schedules(const das_sched_explorer_t *e);
/* After DONE: true when every schedule ran, false when some were left out by the bound. */
bool das_sched_explorer_complete(const das_sched_explorer_t *e);

/* ---------------------------------------------------------------- the schedule string */

/* The schedule string of `n` decisions among `n_tasks` tasks: "s1.<n_tasks>.<decisions>".
 * - While n_tasks <= 26 and n <= 64: one letter per decision, A = task 0: "s1.2.ABA";
 *   "s1.2." has no decision.
 * - Beyond: "s1.<n_tasks>.<n>.<base64url>", the decisions packed most significant bit first,
 *   b bits each (the fewest that hold n_tasks - 1, at least 1), zero-padded to whole
 *   characters, no '=' padding. 100 decisions among 8 tasks take 59 characters.
 * Caller frees. */
char *das_sched_string_encode(int n_tasks, const int *decisions, size_t n);
/* Parses either form. Returns 0 with *decisions malloc'd (caller frees; NULL when *n is 0), or
 * AE_EINVAL with `err` saying what is wrong. */
int das_sched_string_decode(const char *str, int *n_tasks, int **decisions, size_t *n,
                            das_err_t *err);

#endif
