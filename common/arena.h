/* arena.h - a bump allocator whose blocks are freed together: a request's memory in the SDK,
 * and the arrays of a decoded message. Part of the codec library.
 */
#ifndef DAS_ARENA_H
#define DAS_ARENA_H

#include <stddef.h>

typedef struct das_arena_block das_arena_block_t;

typedef struct {
    das_arena_block_t *head;
} das_arena_t; /* zero-initialised is empty */

void *das_arena_alloc(das_arena_t *a, size_t n);  /* 16-byte aligned; aborts on OOM */
void *das_arena_calloc(das_arena_t *a, size_t n); /* the same, zeroed */
/* The `n` bytes at `s`, NUL-terminated, in the arena. */
char *das_arena_strndup(das_arena_t *a, const char *s, size_t n);
void das_arena_dispose(das_arena_t *a);

#endif
