/* explore_baton.c - the ceiling of `bench/run explore`: two /racy handlers (a memcache get,
 * then a set of the value plus one) run in process on two threads, handing a baton at each
 * service call, on a fresh memcache stub per schedule, with a seeded random pick at each
 * point, all on one CPU (as explore's in-process worker). No scheduler, trace, server or
 * checks: what explore's machinery is measured against.
 *
 *     explore_baton SECONDS      prints schedules per second, and how many lost the update
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "memcache.h"
#include "util.h"

#define TASKS 2

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int turn;              /* the thread holding the baton; -1: the driver */
    int steps_left[TASKS]; /* points each task still has (start, get, set: 3) */
    bool stop;
    das_memcache_t *mc;
    uint64_t rng;
} baton_t;

typedef struct {
    baton_t *b;
    int id;
} worker_t;

static int64_t now_ms(void *ctx)
{
    (void)ctx;
    return 0;
}

static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* At a point: give the baton to a task that still has steps (seeded pick), or to the driver. */
static void pass_baton(baton_t *b)
{
    int could[TASKS], n = 0;
    for (int i = 0; i < TASKS; i++)
        if (b->steps_left[i] > 0)
            could[n++] = i;
    b->turn = n ? could[next_rand(&b->rng) % (uint64_t)n] : -1;
    pthread_cond_broadcast(&b->cond);
}

static void wait_turn(baton_t *b, int id)
{
    while (b->turn != id && !b->stop)
        pthread_cond_wait(&b->cond, &b->lock);
}

static void *worker(void *arg)
{
    worker_t *w = arg;
    baton_t *b = w->b;
    pthread_mutex_lock(&b->lock);
    for (;;) {
        wait_turn(b, w->id); /* start */
        if (b->stop)
            break;
        b->steps_left[w->id]--;
        pass_baton(b);
        wait_turn(b, w->id); /* the get */
        das_memcache_value_t v;
        long n = 0;
        if (das_memcache_get(b->mc, "", "racy", 4, &v) == 0) {
            n = atol(v.data);
            free(v.data);
        }
        b->steps_left[w->id]--;
        pass_baton(b);
        wait_turn(b, w->id); /* the set */
        char text[24];
        int len = snprintf(text, sizeof text, "%ld", n + 1);
        das_memcache_store(b->mc, "", DAS_MEMCACHE_SET, "racy", 4, text, (size_t)len, 0, 0, 0);
        b->steps_left[w->id]--;
        pass_baton(b);
    }
    pthread_mutex_unlock(&b->lock);
    return NULL;
}

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    double limit = argc > 1 ? atof(argv[1]) : 2;
    das_stay_on_this_cpu(); /* as explore's worker: here about twice as fast as on two */
    baton_t b = {.turn = -1, .rng = 0x9e3779b97f4a7c15ull};
    pthread_mutex_init(&b.lock, NULL);
    pthread_cond_init(&b.cond, NULL);
    das_memcache_options_t mo = {.shards = 1, .now_ms = now_ms};
    pthread_t t[TASKS];
    worker_t w[TASKS];
    for (int i = 0; i < TASKS; i++) {
        w[i] = (worker_t){&b, i};
        pthread_create(&t[i], NULL, worker, &w[i]);
    }
    unsigned long schedules = 0, lost = 0;
    double start = seconds();
    pthread_mutex_lock(&b.lock);
    while (seconds() - start < limit) {
        b.mc = das_memcache_create(&mo); /* fresh state per schedule */
        for (int i = 0; i < TASKS; i++)
            b.steps_left[i] = 3;
        pass_baton(&b);
        wait_turn(&b, -1);
        das_memcache_value_t v;
        if (das_memcache_get(b.mc, "", "racy", 4, &v) == 0) {
            lost += atol(v.data) != TASKS;
            free(v.data);
        }
        das_memcache_destroy(b.mc);
        schedules++;
    }
    b.stop = true;
    pthread_cond_broadcast(&b.cond);
    pthread_mutex_unlock(&b.lock);
    for (int i = 0; i < TASKS; i++)
        pthread_join(t[i], NULL);
    double took = seconds() - start;
    printf("%.1f %lu %lu\n", (double)schedules / took, schedules, lost);
    return 0;
}
