/* prng.c - xoshiro256** seeded through splitmix64 (see prng.h). */
#include "prng.h"

#include <string.h>

uint64_t das_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t das_prng_next(das_prng_t *r)
{
    uint64_t *st = r->s;
    uint64_t result = rotl(st[1] * 5, 7) * 9;
    uint64_t t = st[1] << 17;
    st[2] ^= st[0];
    st[3] ^= st[1];
    st[1] ^= st[2];
    st[0] ^= st[3];
    st[2] ^= t;
    st[3] = rotl(st[3], 45);
    return result;
}

void das_prng_init(das_prng_t *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = stream;
    x = seed ^ das_splitmix64(&x);
    for (int i = 0; i < 4; i++)
        r->s[i] = das_splitmix64(&x);
    if (!(r->s[0] | r->s[1] | r->s[2] | r->s[3]))
        r->s[0] = 1;
}

uint64_t das_prng_below(das_prng_t *r, uint64_t n)
{
    uint64_t limit = (UINT64_MAX / n) * n, v;
    do
        v = das_prng_next(r);
    while (v >= limit);
    return v % n;
}

void das_prng_fill(das_prng_t *r, void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        uint64_t v = das_prng_next(r);
        size_t k = n < sizeof v ? n : sizeof v;
        memcpy(p, &v, k);
        p += k;
        n -= k;
    }
}
