/* wrap.c - what the app's libc calls become in a deterministic build.
 *
 * Under deterministic dispatch (and explore and replay) the app is linked with -Wl,--wrap=NAME
 * for the calls below (src/build.c), so its own references to NAME resolve to __wrap_NAME,
 * exported by this binary (pthread_create is renamed at compile time instead, see
 * das__wrap_pthread_create); the server's and the runtime's own calls are untouched. On a thread
 * serving a deterministic request:
 *   - time, gettimeofday, clock_gettime read the request's virtual time;
 *   - rand, random, getrandom (and srand, srandom) draw from the request's random stream;
 *   - sleep, usleep, nanosleep, sched_yield are points of the schedule (a sleep moves virtual
 *     time by its length);
 *   - a mutex taken without contention costs nothing; a contended one is a point: the request
 *     waits for its turn at the server (which knows the holder from the waiter), so a lock held
 *     across a service call blocks the other request instead of hanging the instance;
 *   - a condition wait is a point that ends by a signal or, for a timed wait, by its timeout in
 *     virtual time, as the scheduler chooses;
 *   - pthread_create fails with EPERM: the scheduler sees only request threads.
 * Anywhere else (no request on the thread, or a request not under deterministic dispatch) each
 * is the libc call itself.
 *
 * The bookkeeping of mutexes and conditions (who holds a mutex, how many wait, whether the
 * server was told) is per instance, in a table guarded by a real mutex of its own.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <appengine/log.h>

#include "runtime.h"
#include "sdk_internal.h"

#define WRAP __attribute__((visibility("default")))

/* The request this thread serves, when it is under deterministic dispatch. */
static ae_request_t *det_request(int *slot)
{
    ae_request_t *rq = das_runtime_request(slot);
    return rq && rq->virtual_now_ns ? rq : NULL;
}

/* ---------------------------------------------------------------- time */

WRAP time_t __wrap_time(time_t *t)
{
    ae_request_t *rq = det_request(NULL);
    time_t now = rq ? (time_t)(rq->virtual_now_ns / 1000000000) : time(NULL);
    if (t)
        *t = now;
    return now;
}

WRAP int __wrap_gettimeofday(struct timeval *tv, void *tz)
{
    ae_request_t *rq = det_request(NULL);
    if (!rq)
        return gettimeofday(tv, tz);
    tv->tv_sec = (time_t)(rq->virtual_now_ns / 1000000000);
    tv->tv_usec = (suseconds_t)(rq->virtual_now_ns % 1000000000 / 1000);
    return 0;
}

WRAP int __wrap_clock_gettime(clockid_t clk, struct timespec *ts)
{
    ae_request_t *rq = det_request(NULL);
    /* CPU-time clocks stay real: they measure this process, not the schedule. */
    if (!rq || clk == CLOCK_PROCESS_CPUTIME_ID || clk == CLOCK_THREAD_CPUTIME_ID)
        return clock_gettime(clk, ts);
    ts->tv_sec = (time_t)(rq->virtual_now_ns / 1000000000);
    ts->tv_nsec = (long)(rq->virtual_now_ns % 1000000000);
    return 0;
}

/* ---------------------------------------------------------------- randomness */

/* rand() and random() draw 31 bits from the request's stream; srand() and srandom() reseed
 * it, so the same seed gives the same values in a replay. */
static bool det_rand(long *out)
{
    ae_request_t *rq = det_request(NULL);
    if (rq)
        *out = (long)(das_prng_next(&rq->prng) >> 33);
    return rq != NULL;
}

static bool det_srand(unsigned seed)
{
    ae_request_t *rq = det_request(NULL);
    if (rq)
        das_prng_init(&rq->prng, rq->wire.random_seed ^ seed, rq->wire.random_stream);
    return rq != NULL;
}

WRAP int __wrap_rand(void)
{
    long v;
    return det_rand(&v) ? (int)v : rand();
}

WRAP long __wrap_random(void)
{
    long v;
    return det_rand(&v) ? v : random();
}

WRAP void __wrap_srand(unsigned seed)
{
    if (!det_srand(seed))
        srand(seed);
}

WRAP void __wrap_srandom(unsigned seed)
{
    if (!det_srand(seed))
        srandom(seed);
}

WRAP ssize_t __wrap_getrandom(void *buf, size_t n, unsigned flags)
{
    ae_request_t *rq = det_request(NULL);
    if (!rq)
        return getrandom(buf, n, flags);
    das_prng_fill(&rq->prng, buf, n);
    return (ssize_t)n;
}

/* ---------------------------------------------------------------- sleeps */

static int64_t ns_of(const struct timespec *ts)
{
    return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

WRAP unsigned __wrap_sleep(unsigned s)
{
    ae_request_t *rq = det_request(NULL);
    if (!rq)
        return sleep(s);
    ae__sleep(rq, (int64_t)s * 1000000000);
    return 0;
}

WRAP int __wrap_usleep(useconds_t us)
{
    ae_request_t *rq = det_request(NULL);
    if (!rq)
        return usleep(us);
    ae__sleep(rq, (int64_t)us * 1000);
    return 0;
}

WRAP int __wrap_nanosleep(const struct timespec *req, struct timespec *rem)
{
    ae_request_t *rq = det_request(NULL);
    if (!rq)
        return nanosleep(req, rem);
    if (req->tv_nsec < 0 || req->tv_nsec >= 1000000000 || req->tv_sec < 0) {
        errno = EINVAL;
        return -1;
    }
    ae__sleep(rq, ns_of(req));
    if (rem)
        *rem = (struct timespec){0, 0};
    return 0;
}

WRAP int __wrap_sched_yield(void)
{
    ae_request_t *rq = det_request(NULL);
    if (!rq)
        return sched_yield();
    ae__sleep(rq, 0);
    return 0;
}

/* ---------------------------------------------------------------- mutexes and conditions */

#define TABLE_SIZE 4096 /* open addressing, kept at most 3/4 full (compact) */

typedef struct {
    const void *addr; /* NULL: free */
    int owner;        /* mutex: the slot holding it, -1 when none */
    int waiters;      /* requests waiting for it (mutex) or on it (condition) */
    bool told;        /* mutex: the server knows its holder (it must hear of the unlock) */
} sync_t;

typedef struct {
    pthread_mutex_t lock;
    size_t used; /* entries with an address */
    sync_t table[TABLE_SIZE];
} sync_table_t;

/* Per instance: the table is the process's. The one mutable global of the runtime's own, as
 * mutexes are the process's too. */
static sync_table_t syncs = {.lock = PTHREAD_MUTEX_INITIALIZER};

void das_runtime_wrap_reset(void)
{
    pthread_mutex_lock(&syncs.lock);
    memset(syncs.table, 0, sizeof syncs.table);
    syncs.used = 0;
    pthread_mutex_unlock(&syncs.lock);
}

static bool sync_idle(const sync_t *e)
{
    return e->owner < 0 && e->waiters == 0 && !e->told;
}

static sync_t *probe(const void *addr)
{
    size_t h = ((uintptr_t)addr >> 3) * 0x9e3779b97f4a7c15ull % TABLE_SIZE;
    for (size_t i = 0; i < TABLE_SIZE; i++) {
        sync_t *e = &syncs.table[(h + i) % TABLE_SIZE];
        if (e->addr == addr || !e->addr)
            return e;
    }
    return NULL;
}

/* Keeps only the entries in use (held, waited on, or known to the server): an idle one says
 * nothing a new entry would not. An app that makes and frees mutexes as it goes (one per
 * object) fills the table with addresses it no longer uses. */
static void compact(void)
{
    static sync_t busy[TABLE_SIZE]; /* under syncs.lock */
    size_t n = 0;
    for (size_t i = 0; i < TABLE_SIZE; i++)
        if (syncs.table[i].addr && !sync_idle(&syncs.table[i]))
            busy[n++] = syncs.table[i];
    memset(syncs.table, 0, sizeof syncs.table);
    for (size_t i = 0; i < n; i++)
        *probe(busy[i].addr) = busy[i];
    syncs.used = n;
}

/* The entry of the mutex or condition at `addr`, made when it has none. Caller holds
 * syncs.lock; the pointer is good until the next call. */
static sync_t *sync_of(const void *addr)
{
    sync_t *e = probe(addr);
    if (e && e->addr == addr)
        return e;
    if (syncs.used >= TABLE_SIZE * 3 / 4) {
        compact();
        e = probe(addr);
    }
    if (!e || syncs.used >= TABLE_SIZE * 3 / 4) {
        fprintf(stderr, "devappserver: deterministic dispatch: more than 3,072 app mutexes and "
                        "conditions held or waited on at once in one instance\n");
        abort();
    }
    *e = (sync_t){.addr = addr, .owner = -1};
    syncs.used++;
    return e;
}

/* ae__scheduler_call, for a lock or condition call that cannot fail: a failure (the request
 * was failed: a deadlock, the server stopping) ends the instance, and the request gets a
 * 500. An instance inside another process (explore's in-process backend) gives up only the
 * request, and is replaced as a process would be. */
static void scheduler_call(ae_request_t *rq, const char *method, const das_rpc_buf_t *body,
                           uint32_t *reply_u32)
{
    int rc = ae__scheduler_call(rq, method, body, reply_u32);
    if (rc != AE_OK) {
        const char *why = ae_request_last_error(rq);
        ae_log(rq, AE_LOG_CRITICAL, "deterministic dispatch: %s; the instance ends",
               why ? why : ae_strerror(rc));
        ae_log_flush(rq);
        das_runtime_abandon();
        _exit(70);
    }
}

WRAP int __wrap_pthread_mutex_lock(pthread_mutex_t *m)
{
    int slot;
    ae_request_t *rq = det_request(&slot);
    if (!rq)
        return pthread_mutex_lock(m);
    int rc = pthread_mutex_trylock(m);
    pthread_mutex_lock(&syncs.lock);
    sync_t *e = sync_of(m);
    if (rc == 0) {
        e->owner = slot;
        pthread_mutex_unlock(&syncs.lock);
        return 0;
    }
    if (rc != EBUSY || e->owner == slot) { /* an error, or a relock (error-checking types) */
        pthread_mutex_unlock(&syncs.lock);
        return rc == EBUSY ? pthread_mutex_lock(m) : rc;
    }
    int holder = e->owner;
    e->waiters++;
    e->told = true;
    pthread_mutex_unlock(&syncs.lock);
    /* A point: the server gives us the mutex once its holder let go of it. */
    das_rpc_buf_t body = {0};
    das_rpc_put_u64(&body, (uint64_t)(uintptr_t)m);
    das_rpc_put_u32(&body, holder < 0 ? UINT32_MAX : (uint32_t)holder);
    scheduler_call(rq, "Lock", &body, NULL);
    das_rpc_buf_dispose(&body);
    rc = pthread_mutex_lock(m); /* free now: its holder unlocked it before our turn came */
    pthread_mutex_lock(&syncs.lock);
    e->waiters--;
    e->owner = slot;
    e->told = true;
    pthread_mutex_unlock(&syncs.lock);
    return rc;
}

WRAP int __wrap_pthread_mutex_trylock(pthread_mutex_t *m)
{
    int slot;
    ae_request_t *rq = det_request(&slot);
    int rc = pthread_mutex_trylock(m);
    if (rq && rc == 0) {
        pthread_mutex_lock(&syncs.lock);
        sync_of(m)->owner = slot;
        pthread_mutex_unlock(&syncs.lock);
    }
    return rc;
}

/* Lets go of `m`, telling the server when it knows the holder. */
static int unlock(ae_request_t *rq, pthread_mutex_t *m)
{
    pthread_mutex_lock(&syncs.lock);
    sync_t *e = sync_of(m);
    bool told = e->told;
    e->owner = -1;
    e->told = e->waiters > 0;
    pthread_mutex_unlock(&syncs.lock);
    int rc = pthread_mutex_unlock(m);
    if (told) {
        das_rpc_buf_t body = {0};
        das_rpc_put_u64(&body, (uint64_t)(uintptr_t)m);
        scheduler_call(rq, "Unlock", &body, NULL);
        das_rpc_buf_dispose(&body);
    }
    return rc;
}

WRAP int __wrap_pthread_mutex_unlock(pthread_mutex_t *m)
{
    ae_request_t *rq = det_request(NULL);
    if (!rq)
        return pthread_mutex_unlock(m);
    return unlock(rq, m);
}

/* A condition wait: `m` is released (the server hears of it with the wait), the request waits
 * at a point until a signal reaches it or (timed) its timeout passes, and gets `m` back. */
static int cond_wait(pthread_cond_t *c, pthread_mutex_t *m, const struct timespec *abstime)
{
    int slot;
    ae_request_t *rq = det_request(&slot);
    pthread_mutex_lock(&syncs.lock);
    sync_of(c)->waiters++;
    sync_t *e = sync_of(m);
    e->owner = -1;
    e->told = true; /* the wait tells it, and it gives the mutex back with the wake-up */
    pthread_mutex_unlock(&syncs.lock);
    pthread_mutex_unlock(m);
    das_rpc_buf_t body = {0};
    das_rpc_put_u64(&body, (uint64_t)(uintptr_t)c);
    das_rpc_put_u64(&body, (uint64_t)(uintptr_t)m);
    das_rpc_put_u32(&body, abstime != NULL);
    das_rpc_put_i64(&body, abstime ? ns_of(abstime) : 0);
    uint32_t timed_out = 0;
    scheduler_call(rq, "Wait", &body, &timed_out);
    das_rpc_buf_dispose(&body);
    pthread_mutex_lock(m);
    pthread_mutex_lock(&syncs.lock);
    sync_of(c)->waiters--;
    e->owner = slot;
    pthread_mutex_unlock(&syncs.lock);
    return timed_out ? ETIMEDOUT : 0;
}

WRAP int __wrap_pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
{
    if (!det_request(NULL))
        return pthread_cond_wait(c, m);
    return cond_wait(c, m, NULL);
}

WRAP int __wrap_pthread_cond_timedwait(pthread_cond_t *c, pthread_mutex_t *m,
                                       const struct timespec *abstime)
{
    if (!det_request(NULL))
        return pthread_cond_timedwait(c, m, abstime);
    return cond_wait(c, m, abstime);
}

static int cond_signal(pthread_cond_t *c, bool broadcast)
{
    ae_request_t *rq = det_request(NULL);
    if (!rq)
        return broadcast ? pthread_cond_broadcast(c) : pthread_cond_signal(c);
    pthread_mutex_lock(&syncs.lock);
    bool waiters = sync_of(c)->waiters > 0;
    pthread_mutex_unlock(&syncs.lock);
    if (waiters) { /* with none waiting a signal is lost, as in pthreads: no round trip */
        das_rpc_buf_t body = {0};
        das_rpc_put_u64(&body, (uint64_t)(uintptr_t)c);
        das_rpc_put_u32(&body, broadcast);
        scheduler_call(rq, "Signal", &body, NULL);
        das_rpc_buf_dispose(&body);
    }
    return 0;
}

WRAP int __wrap_pthread_cond_signal(pthread_cond_t *c)
{
    return cond_signal(c, false);
}

WRAP int __wrap_pthread_cond_broadcast(pthread_cond_t *c)
{
    return cond_signal(c, true);
}

/* ---------------------------------------------------------------- threads */

/* Not __wrap_pthread_create: libgcc.a has one (see src/build.c, which renames the app's calls
 * to this at compile time). */
WRAP int das__wrap_pthread_create(pthread_t *t, const pthread_attr_t *attr,
                                   void *(*fn)(void *), void *arg)
{
    ae_request_t *rq = det_request(NULL);
    if (!rq)
        return pthread_create(t, attr, fn, arg);
    ae_log(rq, AE_LOG_ERROR,
           "pthread_create: threads started by the app are not supported under deterministic "
           "dispatch (the scheduler sees only request threads); it fails with EPERM");
    return EPERM;
}
