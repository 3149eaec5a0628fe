/* memcache_bench.c - memcache get/set operations per second, for bench.py:
 *   memcache_bench stub THREADS SECONDS       the in-process stub (stubs/memcache), as the
 *                                             server's handlers reach it, minus the RPC
 *   memcache_bench memcached PORT SECONDS     the same loop against a memcached server over
 *                                             one loopback connection (text protocol)
 * Prints one line: "<ops per second>". The loop alternates a set and a get on 1,000 keys of
 * 16-byte values.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "memcache.h"

#define KEYS 1000

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t wall_ms(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

typedef struct {
    das_memcache_t *mc;
    int id;
    double seconds;
    long ops;
} worker_t;

static void *stub_worker(void *arg)
{
    worker_t *w = arg;
    char key[32];
    const char value[] = "0123456789abcdef";
    double end = now_s() + w->seconds;
    long ops = 0;
    while (now_s() < end) {
        for (int i = 0; i < 1000; i++) {
            int k = (int)((ops + i) % KEYS);
            int n = snprintf(key, sizeof key, "key:%d:%d", w->id, k);
            das_memcache_store(w->mc, "", DAS_MEMCACHE_SET, key, (size_t)n, value, 16, 0, 0, 0);
            das_memcache_value_t v;
            if (das_memcache_get(w->mc, "", key, (size_t)n, &v) == AE_OK)
                free(v.data);
        }
        ops += 2000;
    }
    w->ops = ops;
    return NULL;
}

static int run_stub(int threads, double seconds)
{
    das_memcache_options_t o = {.now_ms = wall_ms};
    das_memcache_t *mc = das_memcache_create(&o);
    worker_t w[64];
    pthread_t t[64];
    for (int i = 0; i < threads; i++) {
        w[i] = (worker_t){mc, i, seconds, 0};
        pthread_create(&t[i], NULL, stub_worker, &w[i]);
    }
    long total = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        total += w[i].ops;
    }
    das_memcache_destroy(mc);
    printf("%.0f\n", (double)total / seconds);
    return 0;
}

/* Reads until `want` appears at the end of what was read (one reply). */
static int read_reply(int fd, char *buf, size_t cap, const char *want)
{
    size_t len = 0, wl = strlen(want);
    for (;;) {
        ssize_t n = read(fd, buf + len, cap - len - 1);
        if (n <= 0)
            return -1;
        len += (size_t)n;
        buf[len] = '\0';
        if (len >= wl && strcmp(buf + len - wl, want) == 0)
            return 0;
    }
}

static int run_memcached(int port, double seconds)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        perror("connect");
        return 1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char cmd[128], buf[4096];
    double end = now_s() + seconds;
    long ops = 0;
    while (now_s() < end) {
        for (int i = 0; i < 100; i++) {
            int k = (int)((ops + i) % KEYS);
            int n = snprintf(cmd, sizeof cmd, "set key:%d 0 0 16\r\n0123456789abcdef\r\n", k);
            if (write(fd, cmd, (size_t)n) != n || read_reply(fd, buf, sizeof buf, "\r\n") < 0)
                return 1;
            n = snprintf(cmd, sizeof cmd, "get key:%d\r\n", k);
            if (write(fd, cmd, (size_t)n) != n || read_reply(fd, buf, sizeof buf, "END\r\n") < 0)
                return 1;
        }
        ops += 200;
    }
    close(fd);
    printf("%.0f\n", (double)ops / seconds);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "stub") == 0)
        return run_stub(atoi(argv[2]), atof(argv[3]));
    if (argc == 4 && strcmp(argv[1], "memcached") == 0)
        return run_memcached(atoi(argv[2]), atof(argv[3]));
    fprintf(stderr, "usage: memcache_bench stub THREADS SECONDS | memcached PORT SECONDS\n");
    return 2;
}
