/* det.c - handlers for the deterministic-dispatch and explore tests (see app.yaml). */
#include <appengine/log.h>
#include <appengine/memcache.h>
#include <errno.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t counter_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t first = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t second = PTHREAD_MUTEX_INITIALIZER;

static const char *param(ae_request_t *rq, const char *name, const char *fallback)
{
    const char *v = ae_request_param(rq, name);
    return v ? v : fallback;
}

static long get_number(ae_request_t *rq, const char *key)
{
    ae_memcache_value_t v;
    return ae_memcache_get(rq, key, &v) == AE_OK ? atol(v.data) : 0;
}

static void set_number(ae_request_t *rq, const char *key, long n)
{
    char text[32];
    int len = snprintf(text, sizeof text, "%ld", n);
    ae_memcache_set(rq, key, text, (size_t)len, 0, 0);
}

/* The lost update: read, then write the value read plus one. */
static void racy(ae_request_t *rq, ae_response_t *rs)
{
    const char *key = param(rq, "key", "racy");
    long n = get_number(rq, key);
    set_number(rq, key, n + 1);
    ae_response_printf(rs, "%ld", n + 1);
}

static void get(ae_request_t *rq, ae_response_t *rs)
{
    ae_response_printf(rs, "%ld", get_number(rq, param(rq, "key", "racy")));
}

/* What time and randomness give: libc's calls (wrapped) and the SDK's. */
static void times(ae_request_t *rq, ae_response_t *rs)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    unsigned char bytes[4];
    ae_random_bytes(rq, bytes, sizeof bytes);
    ae_response_printf(rs, "time=%lld now_ns=%lld clock=%lld.%09ld rand=%d bytes=%02x%02x%02x%02x "
                           "log_id=%s\n",
                       (long long)time(NULL), (long long)ae_time_now_ns(rq),
                       (long long)ts.tv_sec, ts.tv_nsec, rand(), bytes[0], bytes[1], bytes[2],
                       bytes[3], ae_request_env(rq, "REQUEST_LOG_ID"));
}

/* Sets a key that expires in 1 s, sleeps ?s= seconds, and says whether it is still there. */
static void expiry(ae_request_t *rq, ae_response_t *rs)
{
    ae_memcache_set(rq, "short", "x", 1, 0, 1);
    sleep((unsigned)atoi(param(rq, "s", "2")));
    ae_memcache_value_t v;
    ae_response_puts(rs, ae_memcache_get(rq, "short", &v) == AE_OK ? "present" : "expired");
}

/* A mutex held across two calls: the increment is not lost. */
static void locked(ae_request_t *rq, ae_response_t *rs)
{
    pthread_mutex_lock(&counter_lock);
    long n = get_number(rq, "locked");
    set_number(rq, "locked", n + 1);
    pthread_mutex_unlock(&counter_lock);
    ae_response_printf(rs, "%ld", n + 1);
}

/* Takes one mutex, waits until the other request took the other, then wants it too. */
static void deadlock(ae_request_t *rq, ae_response_t *rs)
{
    bool one = strcmp(param(rq, "first", "1"), "1") == 0;
    pthread_mutex_t *mine = one ? &first : &second, *theirs = one ? &second : &first;
    pthread_mutex_lock(mine);
    ae_memcache_set(rq, one ? "in1" : "in2", "1", 1, 0, 0);
    ae_memcache_value_t v;
    while (ae_memcache_get(rq, one ? "in2" : "in1", &v) != AE_OK)
        ae_yield(rq);
    pthread_mutex_lock(theirs);
    pthread_mutex_unlock(theirs);
    pthread_mutex_unlock(mine);
    ae_response_puts(rs, "no deadlock");
}

/* Locks and unlocks 5,000 distinct mutexes, as an app with one mutex per object would. */
static void many_mutexes(ae_request_t *rq, ae_response_t *rs)
{
    (void)rq;
    static pthread_mutex_t many[5000];
    int n = 0;
    for (size_t i = 0; i < sizeof many / sizeof many[0]; i++) {
        pthread_mutex_init(&many[i], NULL);
        n += pthread_mutex_lock(&many[i]) == 0 && pthread_mutex_unlock(&many[i]) == 0;
        pthread_mutex_destroy(&many[i]);
    }
    ae_response_printf(rs, "%d", n);
}

static void *nothing(void *arg)
{
    return arg;
}

static void thread(ae_request_t *rq, ae_response_t *rs)
{
    (void)rq;
    pthread_t t;
    int rc = pthread_create(&t, NULL, nothing, NULL);
    if (rc == 0)
        pthread_join(t, NULL);
    ae_response_printf(rs, "pthread_create: %s", rc == EPERM ? "EPERM" : rc == 0 ? "ok" : "?");
}

static void check(ae_request_t *rq, ae_response_t *rs)
{
    long n = get_number(rq, "checked");
    AE_CHECK(rq, n == 42);
    ae_response_printf(rs, "%ld", n);
}

/* For explore's oracles: a crash, a 500, a loop with no point, endless yields, a body. */
static void crash(ae_request_t *rq, ae_response_t *rs)
{
    (void)rs;
    ae_memcache_set(rq, "crashing", "1", 1, 0, 0);
    *(volatile int *)(uintptr_t)0 = 1;
}

static void fail500(ae_request_t *rq, ae_response_t *rs)
{
    (void)rq;
    ae_response_error(rs, 500, "failing on purpose\n");
}

static void spin(ae_request_t *rq, ae_response_t *rs)
{
    (void)rs;
    ae_memcache_set(rq, "spinning", "1", 1, 0, 0);
    for (volatile unsigned long i = 0;; i++)
        ;
}

/* Three steps of 700 ms of real time each (a raw nanosleep, which the deterministic build
 * does not see: not a point), each ended by a call. */
static void slowsteps(ae_request_t *rq, ae_response_t *rs)
{
    for (int i = 0; i < 3; i++) {
        struct timespec ts = {0, 700 * 1000 * 1000};
        syscall(SYS_nanosleep, &ts, NULL);
        ae_memcache_set(rq, "slowsteps", "1", 1, 0, 0);
    }
    ae_response_puts(rs, "done");
}

static void yields(ae_request_t *rq, ae_response_t *rs)
{
    for (;;)
        if (ae_yield(rq) != AE_OK)
            break;
    ae_response_puts(rs, "stopped");
}

/* State outside the app's globals: the process's environment, which explore's reset between
 * schedules does not put back. A 500 from the second request on in a process. */
static void env(ae_request_t *rq, ae_response_t *rs)
{
    (void)rq;
    if (getenv("DAS_TEST_DET_SEEN")) {
        ae_response_error(rs, 500, "this process served /env before\n");
        return;
    }
    setenv("DAS_TEST_DET_SEEN", "1", 1);
    ae_response_puts(rs, "first");
}

/* The environment app.yaml gives instances, and their time zone (UTC, as on the platform). */
static void appenv(ae_request_t *rq, ae_response_t *rs)
{
    (void)rq;
    const char *greeting = getenv("DET_GREETING");
    const char *tz = getenv("TZ");
    ae_response_printf(rs, "%s %s", greeting ? greeting : "(none)", tz ? tz : "(none)");
}

static void hello(ae_request_t *rq, ae_response_t *rs)
{
    (void)rq;
    ae_response_puts(rs, "hello");
}

AE_APP(app, {"/racy", racy}, {"/get", get}, {"/time", times}, {"/expiry", expiry},
       {"/locked", locked}, {"/deadlock", deadlock}, {"/thread", thread}, {"/check", check},
       {"/crash", crash}, {"/fail500", fail500}, {"/spin", spin}, {"/yields", yields},
       {"/slowsteps", slowsteps}, {"/env", env}, {"/appenv", appenv},
       {"/hello", hello}, {"/many_mutexes", many_mutexes});
