/* clock.c - the real clock backend and time/randomness formatting helpers. */
#include "clock.h"

#include <errno.h>
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
static _Thread_local uint64_t prng[4];
static _Thread_local int prng_seeded;

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t prng_next(void)
{
    if (!prng_seeded) {
        do
            os_random(prng, sizeof prng);
        while (!(prng[0] | prng[1] | prng[2] | prng[3]));
        prng_seeded = 1;
    }
    uint64_t result = rotl(prng[1] * 5, 7) * 9;
    uint64_t t = prng[1] << 17;
    prng[2] ^= prng[0];
    prng[3] ^= prng[1];
    prng[1] ^= prng[2];
    prng[0] ^= prng[3];
    prng[2] ^= t;
    prng[3] = rotl(prng[3], 45);
    return result;
}

static void real_random(das_clock_t *c, void *buf, size_t n)
{
    (void)c;
    unsigned char *p = buf;
    while (n > 0) {
        uint64_t v = prng_next();
        size_t k = n < sizeof v ? n : sizeof v;
        memcpy(p, &v, k);
        p += k;
        n -= k;
    }
}

static const das_clock_methods_t real_methods = {real_monotonic_ns, real_wall, real_random};
static das_clock_t real_clock = {&real_methods};

das_clock_t *das_clock_real(void)
{
    return &real_clock;
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
