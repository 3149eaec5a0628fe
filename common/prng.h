/* prng.h - the seeded PRNG of everything that must replay from a seed: xoshiro256** (Blackman
 * and Vigna), with its state spread from (seed, stream) by splitmix64, so that two seeds, or two
 * streams of one seed, share no state. Used by the server's clocks and scheduler, and by the SDK
 * for an app's random values under deterministic dispatch. Not for secrets. No locking: a
 * generator belongs to one thread, or to its owner's lock.
 */
#ifndef DAS_PRNG_H
#define DAS_PRNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t s[4];
} das_prng_t;

/* One splitmix64 step: advances *x and returns the next value. */
uint64_t das_splitmix64(uint64_t *x);
/* The stream (seed, stream). */
void das_prng_init(das_prng_t *r, uint64_t seed, uint64_t stream);
uint64_t das_prng_next(das_prng_t *r);
uint64_t das_prng_below(das_prng_t *r, uint64_t n); /* uniform in [0, n), n >= 1, unbiased */
/* Fills `buf` with the next values' bytes. */
void das_prng_fill(das_prng_t *r, void *buf, size_t n);

#endif
