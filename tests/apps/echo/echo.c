/* echo.c - the integration tests' app. Each route reports one thing the tests check. */
#include <appengine/appengine.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Globals are per instance: tests count on that. */
static long counter;
static int warmed_up;

static void env(ae_request_t *rq, ae_response_t *rs)
{
    const char *name = ae_request_param(rq, "name");
    const char *v = name ? ae_request_env(rq, name) : NULL;
    ae_response_set_header(rs, "Content-Type", "text/plain");
    ae_response_puts(rs, v ? v : "(unset)");
}

static void header(ae_request_t *rq, ae_response_t *rs)
{
    const char *name = ae_request_param(rq, "name");
    const char *v = name ? ae_request_header(rq, name) : NULL;
    ae_response_set_header(rs, "Content-Type", "text/plain");
    ae_response_puts(rs, v ? v : "(absent)");
}

static void count(ae_request_t *rq, ae_response_t *rs)
{
    long n = ++counter; /* deliberately unsynchronised, like a real app's bug */
    ae_response_set_header(rs, "Content-Type", "text/plain");
    ae_response_printf(rs, "%ld %s", n, ae_request_env(rq, "INSTANCE_ID"));
}

static void sleep_ms(ae_request_t *rq, ae_response_t *rs)
{
    const char *ms = ae_request_param(rq, "ms");
    long n = ms ? atol(ms) : 100;
    struct timespec ts = {n / 1000, (n % 1000) * 1000000};
    nanosleep(&ts, NULL);
    ae_response_printf(rs, "slept %ld ms in %ld", n, (long)getpid());
}

static void crash(ae_request_t *rq, ae_response_t *rs)
{
    (void)rq;
    (void)rs;
    raise(SIGSEGV);
}

static void do_abort(ae_request_t *rq, ae_response_t *rs)
{
    (void)rq;
    (void)rs;
    abort();
}

/* Starts `sleep 300` in the background, as an app might with popen("... &"), and answers its
 * pid: it must not outlive the instance. */
static void spawn(ae_request_t *rq, ae_response_t *rs)
{
    (void)rq;
    pid_t child = fork();
    if (child == 0) {
        execlp("sleep", "sleep", "300", (char *)NULL);
        _exit(127);
    }
    ae_response_printf(rs, "%ld", (long)child);
}

/* GET /forkhold: forks a child that keeps the instance's sockets open (it never execs), then
 * crashes: the server must notice the crash at once, not at the deadline. */
static void forkhold(ae_request_t *rq, ae_response_t *rs)
{
    (void)rq;
    (void)rs;
    if (fork() == 0) {
        sleep(300);
        _exit(0);
    }
    raise(SIGSEGV);
}

/* GET /forkforge: forks a child that, 300 ms later, writes a RESPONSE frame of its own onto
 * the first slot socket, as if it answered whatever request comes next. */
static void forkforge(ae_request_t *rq, ae_response_t *rs)
{
    (void)rq;
    if (fork() == 0) {
        struct timespec ts = {0, 300 * 1000000};
        nanosleep(&ts, NULL);
        /* The slot frame format: u32 length, u8 type (4: RESPONSE), 3 zero bytes, u64 request
         * id; then u32 status, u32 header count, u32 body length, body, NUL, u64 dropped. */
        unsigned char f[16 + 4 + 4 + 4 + 7 + 8] = {0};
        f[0] = sizeof f - 16;
        f[4] = 4;
        f[16] = 200;
        f[24] = 6;
        memcpy(f + 28, "forged", 6);
        ssize_t n = write(3, f, sizeof f);
        (void)n;
        _exit(0);
    }
    ae_response_puts(rs, "real");
}

/* GET /overflow: recursion without end. */
static int deeper(volatile char *up)
{
    volatile char frame[4096];
    frame[0] = up ? up[0] : 1;
    return deeper(frame) + frame[1];
}

static void overflow(ae_request_t *rq, ae_response_t *rs)
{
    (void)rq;
    ae_response_printf(rs, "%d", deeper(NULL));
}

/* GET /bigbody?mb=M: a body of M MB. */
static void bigbody(ae_request_t *rq, ae_response_t *rs)
{
    const char *mb = ae_request_param(rq, "mb");
    long n = mb ? atol(mb) : 1;
    static char chunk[1024 * 1024];
    memset(chunk, 'b', sizeof chunk);
    for (long i = 0; i < n; i++)
        ae_response_write(rs, chunk, sizeof chunk);
}

/* GET /bigheaders?kb=K: K response headers of about 1 KB each. */
static void bigheaders(ae_request_t *rq, ae_response_t *rs)
{
    const char *kb = ae_request_param(rq, "kb");
    int n = kb ? atoi(kb) : 1;
    char value[1001];
    memset(value, 'h', 1000);
    value[1000] = '\0';
    for (int i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "X-Big-%d", i);
        ae_response_add_header(rs, name, value);
    }
    ae_response_printf(rs, "%d headers", n);
}

static void pid(ae_request_t *rq, ae_response_t *rs)
{
    (void)rq;
    ae_response_printf(rs, "%ld", (long)getpid());
}

static void warmup(ae_request_t *rq, ae_response_t *rs)
{
    warmed_up = ae_request_user_is_admin(rq) ? 2 : 1;
    ae_response_puts(rs, "warm");
}

static void warm(ae_request_t *rq, ae_response_t *rs)
{
    (void)rq;
    ae_response_printf(rs, "%d", warmed_up);
}

static void body(ae_request_t *rq, ae_response_t *rs)
{
    size_t len;
    ae_request_body(rq, &len);
    const char *p = ae_request_param(rq, "field");
    ae_response_printf(rs, "%zu %s %s", len, ae_request_method(rq), p ? p : "-");
}

static void whoami(ae_request_t *rq, ae_response_t *rs)
{
    const char *email = ae_request_user_email(rq);
    ae_response_printf(rs, "%s %s %s", email ? email : "nobody",
                       ae_request_user_is_admin(rq) ? "admin" : "user",
                       ae_request_user_id(rq) ? ae_request_user_id(rq) : "-");
}

static void status(ae_request_t *rq, ae_response_t *rs)
{
    const char *code = ae_request_param(rq, "code");
    ae_response_set_status(rs, code ? atoi(code) : 200);
    ae_response_puts(rs, "status set");
}

static void cookie(ae_request_t *rq, ae_response_t *rs)
{
    (void)rq;
    ae_response_set_header(rs, "Cache-Control", "public, max-age=60");
    ae_response_add_header(rs, "Set-Cookie", "a=1");
    ae_response_add_header(rs, "Connection", "close");
    ae_response_puts(rs, "cookie set");
}

static void version(ae_request_t *rq, ae_response_t *rs)
{
    (void)rq;
    ae_response_puts(rs, "v1");
}

AE_APP(app,
       {"/env", env},
       {"/header", header},
       {"/count", count},
       {"/sleep", sleep_ms},
       {"/crash", crash},
       {"/abort", do_abort},
       {"/pid", pid},
       {"/spawn", spawn},
       {"/bigheaders", bigheaders},
       {"/bigbody", bigbody},
       {"/forkhold", forkhold},
       {"/overflow", overflow},
       {"/forkforge", forkforge},
       {"/_ah/warmup", warmup},
       {"/warm", warm},
       {"/body", body},
       {"/status", status},
       {"/cookie", cookie},
       {"/version", version},
       {"*", whoami});
