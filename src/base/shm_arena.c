/* shm_arena.c - an allocator over memory shared with forked processes (see shm_arena.h).
 *
 * Layout: the arena's header (bump offset, one free list per size class) at the start of the
 * mapping, then blocks. A block is a 16-byte header holding its class, then the caller's bytes;
 * class c holds 2^c bytes. A freed block goes on its class's list and is reused by the next
 * request of that class.
 */
#include "shm_arena.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define MIN_CLASS 4  /* 16 bytes */
#define MAX_CLASS 40

typedef struct block {
    uint64_t cls;
    struct block *next_free; /* on its class's free list; the header is 16 bytes either way */
} block_t;

struct das_shm_arena {
    size_t size;
    size_t used; /* bytes from the start of the mapping, header included */
    block_t *free[MAX_CLASS + 1];
};

das_shm_arena_t *das_shm_arena_create(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    das_shm_arena_t *a = p;
    a->size = size;
    a->used = (sizeof *a + 15) & ~(size_t)15;
    return a;
}

void das_shm_arena_destroy(das_shm_arena_t *a)
{
    if (a)
        munmap(a, a->size);
}

static int class_of(size_t n)
{
    int c = MIN_CLASS;
    while (c < MAX_CLASS && ((size_t)1 << c) < n)
        c++;
    return c;
}

static void *alloc(das_shm_arena_t *a, size_t n)
{
    int c = class_of(n);
    block_t *b = a->free[c];
    if (b) {
        a->free[c] = b->next_free;
    } else {
        size_t need = sizeof *b + ((size_t)1 << c);
        if (((size_t)1 << c) < n || a->used + need > a->size) {
            fprintf(stderr, "devappserver: the shared arena is full (%zu bytes)\n", a->size);
            abort();
        }
        b = (block_t *)((char *)a + a->used);
        a->used += need;
        b->cls = (uint64_t)c;
    }
    return b + 1;
}

void *das_shm_arena_realloc(void *arena, void *p, size_t n)
{
    das_shm_arena_t *a = arena;
    block_t *b = p ? (block_t *)p - 1 : NULL;
    if (n == 0) {
        if (b) {
            b->next_free = a->free[b->cls];
            a->free[b->cls] = b;
        }
        return NULL;
    }
    if (b && ((size_t)1 << b->cls) >= n)
        return p;
    void *q = alloc(a, n);
    if (b) {
        memcpy(q, p, (size_t)1 << b->cls);
        das_shm_arena_realloc(a, p, 0);
    }
    return q;
}
