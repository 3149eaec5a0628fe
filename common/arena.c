/* arena.c - the bump allocator of arena.h. */
#include "arena.h"

#include <stdlib.h>
#include <string.h>

struct das_arena_block {
    das_arena_block_t *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
};

#define ARENA_BLOCK 8192

void *das_arena_alloc(das_arena_t *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    das_arena_block_t *b = a->head;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > ARENA_BLOCK ? n : ARENA_BLOCK;
        b = malloc(sizeof *b + cap);
        if (!b)
            abort();
        b->used = 0;
        b->cap = cap;
        b->next = a->head;
        a->head = b;
    }
    void *p = b->data + b->used;
    b->used += n;
    return p;
}

void *das_arena_calloc(das_arena_t *a, size_t n)
{
    void *p = das_arena_alloc(a, n);
    memset(p, 0, n);
    return p;
}

char *das_arena_strndup(das_arena_t *a, const char *s, size_t n)
{
    char *p = das_arena_alloc(a, n + 1);
    if (n)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void das_arena_dispose(das_arena_t *a)
{
    for (das_arena_block_t *b = a->head, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    a->head = NULL;
}
