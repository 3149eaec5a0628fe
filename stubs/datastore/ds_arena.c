/* ds_arena.c - the arena the datastore stub allocates its results in: blocks freed together.
 */
#include <stdlib.h>
#include <string.h>

#include "datastore.h"

struct das_ds_arena_block {
    das_ds_arena_block_t *next;
    size_t used, size;
    _Alignas(16) unsigned char data[];
};

#define ARENA_BLOCK 16384

void *das_ds_alloc(das_ds_arena_t *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    das_ds_arena_block_t *b = a->head;
    if (!b || b->size - b->used < n) {
        size_t size = n > ARENA_BLOCK / 2 ? n : ARENA_BLOCK;
        b = malloc(sizeof *b + size);
        if (!b)
            abort();
        b->used = 0;
        b->size = size;
        if (n > ARENA_BLOCK / 2 && a->head) { /* a big one goes behind the current block */
            b->next = a->head->next;
            a->head->next = b;
        } else {
            b->next = a->head;
            a->head = b;
        }
    }
    void *p = b->data + b->used;
    b->used += n;
    memset(p, 0, n);
    return p;
}

char *das_ds_strndup(das_ds_arena_t *a, const char *s, size_t n)
{
    char *p = das_ds_alloc(a, n + 1);
    if (n)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void das_ds_arena_dispose(das_ds_arena_t *a)
{
    das_ds_arena_block_t *b = a->head;
    while (b) {
        das_ds_arena_block_t *next = b->next;
        free(b);
        b = next;
    }
    a->head = NULL;
}
