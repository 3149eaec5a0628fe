/* clock.h - the one place time and randomness come from.
 *
 * Every module that needs the time of day, a monotonic timestamp, or random bytes asks a
 * das_clock_t, never time()/clock_gettime()/getrandom() directly. Today there is one backend,
 * the real clock; the deterministic-interleaving mode will add a virtual, seeded one with the
 * same method table (SQLite's VFS pattern), and tests can add one they advance by hand.
 */
#ifndef DAS_CLOCK_H
#define DAS_CLOCK_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "prng.h" /* das_prng_t: the seeded PRNG, in common/ for the SDK too */

typedef struct das_clock das_clock_t;

typedef struct {
    int64_t (*monotonic_ns)(das_clock_t *c);
    void (*wall)(das_clock_t *c, struct timespec *ts);
    /* Unpredictable enough for ids (instance, request log); not for secrets. */
    void (*random)(das_clock_t *c, void *buf, size_t n);
} das_clock_methods_t;

struct das_clock {
    const das_clock_methods_t *m;
};

/* The real clock: CLOCK_MONOTONIC, CLOCK_REALTIME, and a per-thread PRNG seeded from
 * getrandom(). Shared by every thread. */
das_clock_t *das_clock_real(void);

static inline int64_t das_clock_monotonic_ns(das_clock_t *c)
{
    return c->m->monotonic_ns(c);
}

static inline void das_clock_wall(das_clock_t *c, struct timespec *ts)
{
    c->m->wall(c, ts);
}

/* The wall-clock time in nanoseconds since the Unix epoch. */
static inline int64_t das_clock_wall_ns(das_clock_t *c)
{
    struct timespec ts;
    c->m->wall(c, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline void das_clock_random(das_clock_t *c, void *buf, size_t n)
{
    c->m->random(c, buf, n);
}

/* A clock for tests, the testbed and (later) the deterministic mode: its time moves only when
 * das_clock_manual_advance() is called, and its random bytes come from a PRNG seeded with
 * `seed`, so the same seed gives the same bytes. Thread-safe. */
das_clock_t *das_clock_manual_create(int64_t wall_ns, uint64_t seed);
void das_clock_manual_advance(das_clock_t *c, int64_t ns);
void das_clock_manual_destroy(das_clock_t *c); /* NULL ok */

/* The virtual clock of deterministic dispatch (issue 10): a manual clock whose time starts at
 * `start_wall_ns` (recorded in the trace) and moves 1 ms per scheduler step
 * (das_clock_virtual_step) and by a sleep's length (das_clock_virtual_advance). Its random
 * bytes come from one stream per task: das_clock_virtual_task(c, i) is a view of the same time
 * drawing from the stream (seed, i), so what task i draws never depends on which thread drew
 * first or on what other tasks drew. The clock itself draws from a stream of its own. A view
 * belongs to the clock and lives as long as it; asking twice gives the same view. */
das_clock_t *das_clock_virtual_create(int64_t start_wall_ns, uint64_t seed);
das_clock_t *das_clock_virtual_task(das_clock_t *c, uint32_t task);
void das_clock_virtual_step(das_clock_t *c);
void das_clock_virtual_advance(das_clock_t *c, int64_t ns);
void das_clock_virtual_destroy(das_clock_t *c); /* NULL ok; its views too */
/* Back to its start time, and every stream (its own, each view's) to its first value, as if
 * new; the views stay valid. */
void das_clock_virtual_reset(das_clock_t *c);

/* A request's deadline. It belongs to the request, not to a socket read: a dispatch policy
 * may pause it while the server holds the request (a reply it has not released yet), and
 * the time paused is not counted. Used by the one thread that owns the request. */
typedef struct {
    das_clock_t *clock;
    int64_t end_ns;    /* monotonic time the deadline passes, not counting pauses to come */
    int64_t paused_at; /* when the current pause began; 0 when running */
} das_deadline_t;

void das_deadline_start(das_deadline_t *d, das_clock_t *c, int64_t budget_ms);
/* Milliseconds left (frozen while paused); 0 or less once it passed. */
int64_t das_deadline_left_ms(const das_deadline_t *d);
void das_deadline_pause(das_deadline_t *d);
void das_deadline_resume(das_deadline_t *d);

/* Writes `n` random lowercase hex digits and a NUL into `out` (n + 1 bytes). */
void das_clock_random_hex(das_clock_t *c, char *out, size_t n);

/* Formats a Unix time as an RFC 1123 HTTP date into `out` (at least 30 bytes). */
void das_clock_http_date(time_t t, char *out, size_t cap);

#endif
