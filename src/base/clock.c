/* clock.c - the clocks (real, manual, and the virtual one of deterministic dispatch with a
 * random stream per task), request deadlines, and time/randomness formatting helpers. */
#include "clock.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

static int64_t real_monotonic_ns(das_clock_t *c)
{
    (void)c;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void real_wall(das_clock_t *c, struct timespec *ts)
{
    (void)c;
    clock_gettime(CLOCK_REALTIME, ts);
}

static void os_random(void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            abort(); /* getrandom() cannot fail on Linux >= 3.17 once the pool is ready */
        }
        p += got;
        n -= (size_t)got;
    }
}

/* xoshiro256** per thread, seeded from the kernel once: ids and nonces are drawn on every
 * request, and a getrandom() system call each time showed up in profiles. Not for secrets. */
static _Thread_local das_prng_t prng;
static _Thread_local int prng_seeded;

static void real_random(das_clock_t *c, void *buf, size_t n)
{
    (void)c;
    if (!prng_seeded) {
        do
            os_random(prng.s, sizeof prng.s);
        while (!(prng.s[0] | prng.s[1] | prng.s[2] | prng.s[3]));
        prng_seeded = 1;
    }
    das_prng_fill(&prng, buf, n);
}

static const das_clock_methods_t real_methods = {real_monotonic_ns, real_wall, real_random};
static das_clock_t real_clock = {&real_methods};

das_clock_t *das_clock_real(void)
{
    return &real_clock;
}

/* ---------------------------------------------------------------- the manual clock */

typedef struct {
    das_clock_t base;
    pthread_mutex_t lock;
    int64_t mono_ns; /* guarded by lock, as are the two below */
    int64_t wall_ns;
    das_prng_t prng;
} manual_clock_t;

static int64_t manual_monotonic_ns(das_clock_t *c)
{
    manual_clock_t *m = (manual_clock_t *)c;
    pthread_mutex_lock(&m->lock);
    int64_t v = m->mono_ns;
    pthread_mutex_unlock(&m->lock);
    return v;
}

static void manual_wall(das_clock_t *c, struct timespec *ts)
{
    manual_clock_t *m = (manual_clock_t *)c;
    pthread_mutex_lock(&m->lock);
    int64_t v = m->wall_ns;
    pthread_mutex_unlock(&m->lock);
    ts->tv_sec = v / 1000000000;
    ts->tv_nsec = v % 1000000000;
}

static void manual_random(das_clock_t *c, void *buf, size_t n)
{
    manual_clock_t *m = (manual_clock_t *)c;
    pthread_mutex_lock(&m->lock);
    das_prng_fill(&m->prng, buf, n);
    pthread_mutex_unlock(&m->lock);
}

static const das_clock_methods_t manual_methods = {manual_monotonic_ns, manual_wall,
                                                   manual_random};

das_clock_t *das_clock_manual_create(int64_t wall_ns, uint64_t seed)
{
    manual_clock_t *m = calloc(1, sizeof *m);
    if (!m)
        abort();
    m->base.m = &manual_methods;
    pthread_mutex_init(&m->lock, NULL);
    m->mono_ns = 1000000000; /* never 0: some callers treat 0 as "unset" */
    m->wall_ns = wall_ns;
    for (int i = 0; i < 4; i++)
        m->prng.s[i] = das_splitmix64(&seed);
    return &m->base;
}

void das_clock_manual_advance(das_clock_t *c, int64_t ns)
{
    manual_clock_t *m = (manual_clock_t *)c;
    pthread_mutex_lock(&m->lock);
    m->mono_ns += ns;
    m->wall_ns += ns;
    pthread_mutex_unlock(&m->lock);
}

void das_clock_manual_destroy(das_clock_t *c)
{
    if (!c)
        return;
    manual_clock_t *m = (manual_clock_t *)c;
    pthread_mutex_destroy(&m->lock);
    free(m);
}

/* ---------------------------------------------------------------- the virtual clock */

#define VIRTUAL_STEP_NS 1000000 /* a scheduler step moves virtual time 1 ms */

typedef struct virtual_clock virtual_clock_t;

/* A task's view: the owner's time, its own random stream (drawn under the owner's lock). */
typedef struct {
    das_clock_t base;
    virtual_clock_t *owner;
    das_prng_t prng;
} task_view_t;

struct virtual_clock {
    manual_clock_t time; /* first: the clock is a manual clock to its own methods */
    uint64_t seed;
    int64_t start_wall_ns;
    task_view_t **views; /* by task number; NULL until asked for */
    size_t n_views;
};

static int64_t view_monotonic_ns(das_clock_t *c)
{
    return manual_monotonic_ns(&((task_view_t *)c)->owner->time.base);
}

static void view_wall(das_clock_t *c, struct timespec *ts)
{
    manual_wall(&((task_view_t *)c)->owner->time.base, ts);
}

static void view_random(das_clock_t *c, void *buf, size_t n)
{
    task_view_t *v = (task_view_t *)c;
    pthread_mutex_lock(&v->owner->time.lock);
    das_prng_fill(&v->prng, buf, n);
    pthread_mutex_unlock(&v->owner->time.lock);
}

static const das_clock_methods_t view_methods = {view_monotonic_ns, view_wall, view_random};

das_clock_t *das_clock_virtual_create(int64_t start_wall_ns, uint64_t seed)
{
    virtual_clock_t *v = calloc(1, sizeof *v);
    if (!v)
        abort();
    v->time.base.m = &manual_methods;
    pthread_mutex_init(&v->time.lock, NULL);
    v->start_wall_ns = start_wall_ns;
    v->seed = seed;
    das_clock_virtual_reset(&v->time.base); /* the start time, the streams' first values */
    return &v->time.base;
}

das_clock_t *das_clock_virtual_task(das_clock_t *c, uint32_t task)
{
    virtual_clock_t *v = (virtual_clock_t *)c;
    pthread_mutex_lock(&v->time.lock);
    if (task >= v->n_views) {
        size_t n = v->n_views ? v->n_views : 16;
        while (n <= task)
            n *= 2;
        task_view_t **views = realloc(v->views, n * sizeof *views);
        if (!views)
            abort();
        memset(views + v->n_views, 0, (n - v->n_views) * sizeof *views);
        v->views = views;
        v->n_views = n;
    }
    if (!v->views[task]) {
        task_view_t *t = calloc(1, sizeof *t);
        if (!t)
            abort();
        t->base.m = &view_methods;
        t->owner = v;
        das_prng_init(&t->prng, v->seed, task);
        v->views[task] = t;
    }
    das_clock_t *view = &v->views[task]->base;
    pthread_mutex_unlock(&v->time.lock);
    return view;
}

void das_clock_virtual_step(das_clock_t *c)
{
    das_clock_manual_advance(c, VIRTUAL_STEP_NS);
}

void das_clock_virtual_advance(das_clock_t *c, int64_t ns)
{
    das_clock_manual_advance(c, ns);
}

void das_clock_virtual_reset(das_clock_t *c)
{
    virtual_clock_t *v = (virtual_clock_t *)c;
    pthread_mutex_lock(&v->time.lock);
    v->time.mono_ns = 1000000000;
    v->time.wall_ns = v->start_wall_ns;
    das_prng_init(&v->time.prng, v->seed, UINT32_MAX + (uint64_t)1); /* not any task's */
    for (size_t i = 0; i < v->n_views; i++)
        if (v->views[i])
            das_prng_init(&v->views[i]->prng, v->seed, i);
    pthread_mutex_unlock(&v->time.lock);
}

void das_clock_virtual_destroy(das_clock_t *c)
{
    if (!c)
        return;
    virtual_clock_t *v = (virtual_clock_t *)c;
    for (size_t i = 0; i < v->n_views; i++)
        free(v->views[i]);
    free(v->views);
    pthread_mutex_destroy(&v->time.lock);
    free(v);
}

/* ---------------------------------------------------------------- deadlines */

void das_deadline_start(das_deadline_t *d, das_clock_t *c, int64_t budget_ms)
{
    d->clock = c;
    d->end_ns = das_clock_monotonic_ns(c) + budget_ms * 1000000;
    d->paused_at = 0;
}

int64_t das_deadline_left_ms(const das_deadline_t *d)
{
    int64_t now = d->paused_at ? d->paused_at : das_clock_monotonic_ns(d->clock);
    int64_t left = d->end_ns - now;
    return left > 0 ? (left + 999999) / 1000000 : 0;
}

void das_deadline_pause(das_deadline_t *d)
{
    if (!d->paused_at)
        d->paused_at = das_clock_monotonic_ns(d->clock);
}

void das_deadline_resume(das_deadline_t *d)
{
    if (d->paused_at) {
        d->end_ns += das_clock_monotonic_ns(d->clock) - d->paused_at;
        d->paused_at = 0;
    }
}

void das_clock_random_hex(das_clock_t *c, char *out, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    unsigned char bytes[64];
    size_t done = 0;
    while (done < n) {
        size_t chunk = n - done < sizeof bytes ? n - done : sizeof bytes;
        das_clock_random(c, bytes, chunk);
        for (size_t i = 0; i < chunk; i++)
            out[done + i] = digits[bytes[i] & 15];
        done += chunk;
    }
    out[n] = '\0';
}

void das_clock_http_date(time_t t, char *out, size_t cap)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, cap, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}
