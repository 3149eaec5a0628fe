/* shm_arena.h - an allocator over memory shared with forked processes.
 *
 * Explore's in-process backend keeps its strategies here (das_sched_alloc_t), so that the
 * worker process running the schedules and the explorer that forked it see the same strategy
 * state: what the worker's schedules taught a strategy survives the worker's crash.
 *
 * The arena is one shared anonymous mapping made before the fork, at the same address in
 * every process; its bookkeeping lives inside it. It does no locking: the processes must take
 * turns (explore's protocol: the explorer waits while the worker runs a schedule).
 * Blocks come in power-of-two size classes, each with a free list; memory is never returned
 * to the system before das_shm_arena_destroy.
 */
#ifndef DAS_SHM_ARENA_H
#define DAS_SHM_ARENA_H

#include <stddef.h>

typedef struct das_shm_arena das_shm_arena_t;

/* Reserves `size` bytes of address space (pages are used as they are touched). NULL on
 * failure. */
das_shm_arena_t *das_shm_arena_create(size_t size);
void das_shm_arena_destroy(das_shm_arena_t *a); /* NULL ok; in the process that created it */

/* realloc(3) in the arena: `n` = 0 frees `p`; NULL `p` allocates. Aborts when the arena is
 * full. The signature of das_sched_alloc_t.realloc, with the arena as `ctx`. */
void *das_shm_arena_realloc(void *arena, void *p, size_t n);

#endif
