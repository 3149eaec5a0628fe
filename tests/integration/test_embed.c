/* test_embed.c - servers embedded in this process (das_server_create/start/stop/destroy): two
 * at once on different ports and storage paths, stopped in either order; a service's request
 * hooks, which must fire exactly once per request however it ends (returned, crashed,
 * deadline, cancelled by shutdown); and the dispatcher under load from many threads, which the
 * ThreadSanitizer job runs too. Instances are the real binary ($DAS_BIN). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "itest.h"
#include "server.h"

/* ---------------------------------------------------------------- a service that records */

#define MAX_REQUESTS 1024

typedef struct {
    char log_id[48];
    int starts, ends;
    das_request_end_t how;
} seen_t;

typedef struct {
    pthread_mutex_t lock;
    seen_t seen[MAX_REQUESTS];
    int n;
    int by_how[4];
} recorder_t;

static seen_t *find_locked(recorder_t *r, const char *log_id)
{
    for (int i = 0; i < r->n; i++)
        if (strcmp(r->seen[i].log_id, log_id) == 0)
            return &r->seen[i];
    if (r->n == MAX_REQUESTS)
        abort();
    seen_t *s = &r->seen[r->n++];
    snprintf(s->log_id, sizeof s->log_id, "%s", log_id);
    return s;
}

static int rec_create(const das_service_env_t *env, const void *options, void **state,
                      das_err_t *err)
{
    (void)env;
    (void)err;
    recorder_t *r = (recorder_t *)options; /* the test's own, passed through the options */
    *state = r;
    return 0;
}

static void rec_destroy(void *state)
{
    (void)state;
}

static int rec_call(void *state, const das_call_ctx_t *ctx, const das_service_method_t *m,
                    const void *body, size_t len, das_call_out_t *out)
{
    (void)state, (void)ctx, (void)m, (void)body, (void)len, (void)out;
    return AE_OK;
}

static void rec_start(void *state, const das_call_ctx_t *rq)
{
    recorder_t *r = state;
    pthread_mutex_lock(&r->lock);
    find_locked(r, rq->request_log_id)->starts++;
    pthread_mutex_unlock(&r->lock);
}

static void rec_end(void *state, const das_call_ctx_t *rq, das_request_end_t how)
{
    recorder_t *r = state;
    pthread_mutex_lock(&r->lock);
    seen_t *s = find_locked(r, rq->request_log_id);
    s->ends++;
    s->how = how;
    r->by_how[how]++;
    pthread_mutex_unlock(&r->lock);
}

static const das_service_method_t rec_methods[] = {{"Nothing", DAS_ACCESS_READ, false, NULL, NULL, false, NULL, false}};
static const das_service_def_t recorder_service = {
    .name = "recorder",
    .create = rec_create,
    .destroy = rec_destroy,
    .call = rec_call,
    .request_start = rec_start,
    .request_end = rec_end,
    .methods = rec_methods,
    .n_methods = 1,
};
static const das_service_def_t *const extra[] = {&recorder_service};

/* Reads the recorder under its lock. */
static void snapshot(recorder_t *r, int *n, int *starts, int *ends, int by_how[4])
{
    pthread_mutex_lock(&r->lock);
    *n = r->n;
    *starts = *ends = 0;
    for (int i = 0; i < r->n; i++) {
        *starts += r->seen[i].starts;
        *ends += r->seen[i].ends;
    }
    memcpy(by_how, r->by_how, sizeof r->by_how);
    pthread_mutex_unlock(&r->lock);
}

/* ---------------------------------------------------------------- servers */

typedef struct {
    das_server_t *server;
    harness_server_t h; /* for the HTTP helpers: host and port */
    char dir[256];
    FILE *log;
} embedded_t;

/* Creates and starts a server of `appdir`; `rec`, when given, is registered as a service. */
static int embed_start(embedded_t *e, const char *appdir, recorder_t *rec, int policy,
                       double deadline_s)
{
    memset(e, 0, sizeof *e);
    harness_tmpdir(e->dir, sizeof e->dir);
    char path[300];
    snprintf(path, sizeof path, "%s/server.log", e->dir);
    e->log = fopen(path, "w+");
    das_service_config_t config[] = {{"recorder", rec}}; /* only for das_server_create() */
    das_server_options_t o = {
        .app_path = appdir,
        .host = "127.0.0.1",
        .port = 0,
        .storage_path = e->dir,
        .dispatch = policy,
        .max_instances = 2,
        .max_concurrent = 4,
        .request_deadline_s = deadline_s,
        .log_level = DAS_LOG_INFO,
        .log_out = e->log,
        .watch = false,
        .shutdown_grace_ms = 300,
        .services = rec ? config : NULL,
        .n_services = rec ? 1 : 0,
        .extra_services = rec ? extra : NULL,
        .n_extra_services = rec ? 1 : 0,
        .exe = getenv("DAS_BIN"),
    };
    das_err_t err = {0};
    if (das_server_create(&o, &e->server, &err) < 0 || das_server_start(e->server, &err) < 0) {
        fprintf(stdout, "# embedded server did not start: %s\n", err.msg);
        return -1;
    }
    e->h.pid = -1;
    snprintf(e->h.host, sizeof e->h.host, "127.0.0.1");
    e->h.port = das_server_port(e->server);
    return 0;
}

static void embed_destroy(embedded_t *e)
{
    das_server_destroy(e->server);
    e->server = NULL;
    if (e->log)
        fclose(e->log);
    e->log = NULL;
    harness_remove_tree(e->dir);
}

/* ---------------------------------------------------------------- tests */

/* Starts two servers of helloworld, checks both answer, stops them in the given order. */
static void two_servers(int *check_failed_, int *check_skipped_, bool first_stops_first)
{
    (void)check_skipped_;
    embedded_t a, b;
    const char *app = harness_sample("helloworld");
    CHECK_OK(embed_start(&a, app, NULL, DAS_DISPATCH_CONCURRENT, 60));
    CHECK_OK(embed_start(&b, app, NULL, DAS_DISPATCH_SERIAL, 60));
    CHECK(a.h.port != b.h.port);
    char body[64];
    CHECK_EQ(harness_get_text(&a.h, "/", body, sizeof body), 200);
    CHECK_STR_CONTAINS(body, "Hello, World!");
    CHECK_EQ(harness_get_text(&b.h, "/", body, sizeof body), 200);
    CHECK_STR_CONTAINS(body, "Hello, World!");
    embedded_t *first = first_stops_first ? &a : &b, *second = first_stops_first ? &b : &a;
    das_server_stop(first->server);
    CHECK_EQ(harness_get_text(&first->h, "/", body, sizeof body), -1); /* not listening */
    CHECK_EQ(harness_get_text(&second->h, "/", body, sizeof body), 200);
    CHECK_STR_CONTAINS(body, "Hello, World!");
    embed_destroy(first);
    CHECK_EQ(harness_get_text(&second->h, "/", body, sizeof body), 200);
    das_server_stop(second->server);
    embed_destroy(second);
}

TEST(test_two_servers_in_one_process_stop_first_then_second)
{
    two_servers(check_failed_, check_skipped_, true);
}

TEST(test_two_servers_in_one_process_stop_second_then_first)
{
    two_servers(check_failed_, check_skipped_, false);
}

/* An embedder that sets only what it must gets the command line's defaults for the rest. */
TEST(test_embedder_gets_defaults_for_what_it_leaves_at_zero)
{
    (void)check_skipped_;
    char dir[256];
    harness_tmpdir(dir, sizeof dir);
    FILE *log = tmpfile();
    das_server_options_t o = {
        .app_path = harness_sample("helloworld"),
        .storage_path = dir,
        .exe = getenv("DAS_BIN"),
        .log_out = log,
    };
    das_server_t *server = NULL;
    das_err_t err = {0};
    CHECK_OK(das_server_create(&o, &server, &err));
    CHECK_OK(das_server_start(server, &err));
    harness_server_t h = {.pid = -1, .host = "127.0.0.1", .port = das_server_port(server)};
    char body[64];
    CHECK_EQ(harness_get_text(&h, "/", body, sizeof body), 200);
    CHECK_STR_CONTAINS(body, "Hello, World!");
    CHECK_EQ(das_server_start(server, &err), AE_EINVAL); /* a server starts once */
    das_server_destroy(server);
    fclose(log);
    harness_remove_tree(dir);
}

/* A client that sends its headers a byte at a time is cut off when the head timeout passes
 * (libmicrohttpd's own timeout restarts on every byte); others are served meanwhile. */
TEST(test_a_client_dripping_its_headers_is_cut_at_the_head_timeout)
{
    (void)check_skipped_;
    char dir[256];
    harness_tmpdir(dir, sizeof dir);
    FILE *log = tmpfile();
    das_server_options_t o = {
        .app_path = harness_sample("helloworld"),
        .storage_path = dir,
        .exe = getenv("DAS_BIN"),
        .log_out = log,
        .head_timeout_ms = 1000,
    };
    das_server_t *server = NULL;
    das_err_t err = {0};
    CHECK_OK(das_server_create(&o, &server, &err));
    CHECK_OK(das_server_start(server, &err));
    harness_server_t h = {.pid = -1, .host = "127.0.0.1", .port = das_server_port(server)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)h.port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    CHECK_OK(connect(fd, (struct sockaddr *)&a, sizeof a));
    static const char head[] = "GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: ";
    CHECK_EQ(write(fd, head, sizeof head - 1), (long)(sizeof head - 1));
    long long t0 = harness_now_ms();
    bool closed = false;
    while (!closed && harness_now_ms() - t0 < 6000) {
        harness_sleep_ms(200);
        /* A byte every 200 ms keeps an idle timer alive; one sent after the server's reset
         * fails with EPIPE, which must not end this process by SIGPIPE. */
        closed = send(fd, "x", 1, MSG_NOSIGNAL) < 0;
        char c;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (!closed && poll(&p, 1, 0) == 1)
            closed = read(fd, &c, 1) <= 0;
    }
    close(fd);
    char body[64];
    CHECK_EQ(harness_get_text(&h, "/", body, sizeof body), 200);
    das_server_destroy(server);
    fclose(log);
    harness_remove_tree(dir);
    CHECK(closed); /* libmicrohttpd's own timeout (120 s) never would have in 6 s */
}

/* Options for a service that does not exist fail at create, naming it. */
TEST(test_options_for_an_unknown_service_fail_at_create)
{
    (void)check_skipped_;
    char dir[256];
    harness_tmpdir(dir, sizeof dir);
    int dummy = 0;
    das_service_config_t config[] = {{"memcahce", &dummy}};
    das_server_options_t o = {
        .app_path = harness_sample("helloworld"),
        .storage_path = dir,
        .exe = getenv("DAS_BIN"),
        .services = config,
        .n_services = 1,
    };
    das_server_t *server = NULL;
    das_err_t err = {0};
    CHECK_EQ(das_server_create(&o, &server, &err), AE_EINVAL);
    CHECK(server == NULL);
    CHECK_STR_CONTAINS(err.msg, "unknown service 'memcahce'");
    harness_remove_tree(dir);
}

/* Waits up to 10 s for `pred` of the recorder to hold. */
#define WAIT_FOR(r, cond)                                                                      \
    do {                                                                                       \
        int n_, starts, ends, by_how[4];                                                       \
        long long until_ = harness_now_ms() + 10000;                                           \
        for (;;) {                                                                             \
            snapshot((r), &n_, &starts, &ends, by_how);                                        \
            if ((cond) || harness_now_ms() > until_)                                           \
                break;                                                                         \
            harness_sleep_ms(10);                                                              \
        }                                                                                      \
        (void)n_, (void)ends, (void)by_how;                                                    \
        CHECK(cond);                                                                           \
    } while (0)

TEST(test_end_hook_fires_once_per_request_in_each_of_the_four_endings)
{
    static recorder_t rec = {.lock = PTHREAD_MUTEX_INITIALIZER};
    embedded_t e;
    CHECK_OK(embed_start(&e, harness_app("scope"), &rec, DAS_DISPATCH_CONCURRENT, 1.0));
    char body[256];
    CHECK_EQ(harness_get_text(&e.h, "/ok", body, sizeof body), 200);
    WAIT_FOR(&rec, by_how[DAS_REQUEST_RETURNED] == 1);
    CHECK_EQ(harness_get_text(&e.h, "/crash", body, sizeof body), 500);
    WAIT_FOR(&rec, by_how[DAS_REQUEST_CRASHED] == 1);
    CHECK_EQ(harness_get_text(&e.h, "/sleep?ms=3000", body, sizeof body), 500);
    CHECK_STR_CONTAINS(body, "exceeded its deadline");
    WAIT_FOR(&rec, by_how[DAS_REQUEST_DEADLINE] == 1);
    /* A request still running when the server stops, past the grace: cancelled. */
    req_t q = {.s = &e.h, .path = "/sleep?ms=800"};
    pthread_t t;
    pthread_create(&t, NULL, req_main, &q);
    WAIT_FOR(&rec, starts == 4);
    das_server_stop(e.server);
    pthread_join(t, NULL);
    CHECK_EQ(q.rc, 0);
    CHECK_EQ(q.r.status, 503);
    harness_response_dispose(&q.r);

    int n, starts, ends, by_how[4];
    snapshot(&rec, &n, &starts, &ends, by_how);
    CHECK_EQ(n, 4);
    for (int i = 0; i < rec.n; i++) {
        CHECK_EQ(rec.seen[i].starts, 1);
        CHECK_EQ(rec.seen[i].ends, 1);
        CHECK_EQ(strlen(rec.seen[i].log_id), 40);
    }
    CHECK_EQ(by_how[DAS_REQUEST_RETURNED], 1);
    CHECK_EQ(by_how[DAS_REQUEST_CRASHED], 1);
    CHECK_EQ(by_how[DAS_REQUEST_DEADLINE], 1);
    CHECK_EQ(by_how[DAS_REQUEST_CANCELLED], 1);
    embed_destroy(&e);
}

typedef struct {
    const harness_server_t *s;
    int n, ok;
} load_t;

static void *load_main(void *arg)
{
    load_t *l = arg;
    for (int i = 0; i < l->n; i++) {
        char body[64];
        if (harness_get_text(l->s, "/ok", body, sizeof body) == 200)
            l->ok++;
    }
    return NULL;
}

/* Many threads through acquire/release, hand-outs and instance starts of both policies. */
static void load(int *check_failed_, int policy)
{
    static recorder_t rec;
    memset(&rec, 0, sizeof rec);
    pthread_mutex_init(&rec.lock, NULL);
    embedded_t e;
    CHECK_OK(embed_start(&e, harness_app("scope"), &rec, policy, 60));
    enum { THREADS = 8, EACH = 25 };
    load_t l[THREADS];
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        l[i] = (load_t){.s = &e.h, .n = EACH};
        pthread_create(&t[i], NULL, load_main, &l[i]);
    }
    int ok = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        ok += l[i].ok;
    }
    das_server_stop(e.server);
    CHECK_EQ(ok, THREADS * EACH);
    int n, starts, ends, by_how[4];
    snapshot(&rec, &n, &starts, &ends, by_how);
    CHECK_EQ(n, THREADS * EACH);
    CHECK_EQ(starts, THREADS * EACH);
    CHECK_EQ(ends, THREADS * EACH);
    CHECK_EQ(by_how[DAS_REQUEST_RETURNED], THREADS * EACH);
    embed_destroy(&e);
}

TEST(test_dispatch_under_load_concurrent_policy)
{
    (void)check_skipped_;
    load(check_failed_, DAS_DISPATCH_CONCURRENT);
}

TEST(test_dispatch_under_load_serial_policy)
{
    (void)check_skipped_;
    load(check_failed_, DAS_DISPATCH_SERIAL);
}

CHECK_MAIN()
