/* replay.c - `devappserver replay`: runs a trace's requests again under its recorded decisions,
 * with no socket, on fresh services and fresh instances, and shows what happened.
 *
 * Design: an embedded server (das_server_*, no HTTP listener, fresh storage, the app's build
 * cache) under deterministic dispatch in replay mode. An explore trace's setup requests run
 * first, outside the schedule. The driver asks for each request when the run reaches its
 * recorded arrival step, and a thread of its own sends it through the front end (offline.h).
 * The scheduler follows the recorded decisions and checks every step against the trace; a
 * difference ends the run as diverged. Then an explore trace's checks run again against their
 * expectations. The replay writes its own trace, compared with the recorded one line by line,
 * and renders the timeline from it.
 *
 * With --backend inprocess the instances are private copies of the app inside a worker process
 * (explore_worker.h), as explore's default backend runs them: a crash or a stuck step ends the
 * worker, and the replay fails saying so.
 *
 * Exit status: 0 when the run passes (no status >= 500, no failed AE_CHECK), 1 when it fails,
 * 3 when it diverged from the trace, 2 for bad input (usage, an unreadable or malformed trace, a
 * missing APPDIR, an app that does not build).
 */
#include "replay.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "explore_worker.h"
#include "offline.h"
#include "scenario.h"
#include "server.h"
#include "timeline.h"
#include "trace.h"

#define EXIT_FAILED 1
#define EXIT_USAGE 2
#define EXIT_DIVERGED 3
/* In process, a step that runs this long without reaching a point ends the replay. */
#define REPLAY_STEP_TIMEOUT_S 10

/* A trace's request as the front end takes it. Its headers already hold any login cookie. */
static das_trace_request_t as_request(const das_trace_file_request_t *r)
{
    return (das_trace_request_t){
        .method = r->method,
        .target = r->target,
        .headers = r->headers,
        .n_headers = r->n_headers,
        .body = r->body,
        .body_len = r->body_len,
        .user = "",
    };
}

/* Runs the recorded setup requests, outside the schedule. */
static void run_setup(das_server_t *s, const das_trace_file_t *tf)
{
    das_det_t *det = das_server_det(s);
    das_det_set_bypass(det, true);
    for (size_t i = 0; i < tf->n_setup; i++) {
        das_trace_request_t rq = as_request(&tf->setup[i]);
        das_offline_response_t r;
        das_offline_send(s, &rq, &r);
        char *line = das_trace_setup_line((int)i, &rq);
        das_det_trace_line(det, line);
        free(line);
        das_offline_response_dispose(&r);
    }
    das_det_set_bypass(det, false);
}

/* Runs the recorded checks again; returns how many missed their expectation. */
static size_t run_checks(das_server_t *s, const das_trace_file_t *tf, das_buf_t *report)
{
    das_det_t *det = das_server_det(s);
    das_det_set_bypass(det, true);
    size_t missed = 0;
    for (size_t i = 0; i < tf->n_checks_run; i++) {
        const das_trace_file_request_t *c = &tf->checks_run[i];
        das_trace_request_t rq = as_request(c);
        das_offline_response_t r;
        das_offline_send(s, &rq, &r);
        das_scenario_expect_t e = {.status = c->expect_status,
                                   .body = (char *)c->expect_body,
                                   .body_regex = (char *)c->expect_regex};
        if (!das_scenario_expect_met(&e, r.status, r.body, r.len)) {
            missed++;
            das_buf_printf(report, "check %s %s: expected ", c->method, c->target);
            das_scenario_expect_describe(&e, report);
            das_buf_printf(report, ", got %d ", r.status);
            das_timeline_quote(report, r.body, r.len, 64);
            das_buf_puts(report, "\n");
        }
        char *line = das_trace_check_line((int)i, &rq, c->expect_status, c->expect_body,
                                          c->expect_regex, r.status, r.body, r.len);
        das_det_trace_line(det, line);
        free(line);
        das_offline_response_dispose(&r);
    }
    das_det_set_bypass(det, false);
    return missed;
}

/* One replay, once its trace is loaded and its app found: `tf` is borrowed. */
typedef struct {
    const char *trace_path;
    das_trace_file_t *tf;
    const char *appdir;
    const char *exe;
    bool quiet, json;
    const das_inprocess_runtime_t *runtime; /* in process (in a worker), or NULL */
    das_det_progress_t *progress;           /* in process: the worker's watchdog reads it */
    const char *tmp;                        /* a folder of the run's own */
} replay_t;

static int replay_run(replay_t *r)
{
    das_trace_file_t tf = *r->tf; /* a shallow copy: the caller disposes of it */
    const char *trace_path = r->trace_path, *appdir = r->appdir, *exe = r->exe;
    bool quiet = r->quiet, json = r->json;
    das_err_t err = {0};
    const char *tmp = r->tmp;
    char *out_path = das_xasprintf("%s/replay.jsonl", tmp);
    char *storage = das_xasprintf("%s/storage", tmp);
    char *app_storage = das_server_default_storage_path(appdir, &err);
    char *build_dir = app_storage ? das_xasprintf("%s/build", app_storage) : NULL;

    uint64_t *arrivals = das_xcalloc(tf.n_requests + 1, sizeof *arrivals);
    das_trace_request_t *requests = das_xcalloc(tf.n_requests + 1, sizeof *requests);
    for (size_t i = 0; i < tf.n_requests; i++) {
        arrivals[i] = tf.requests[i].arrival;
        requests[i] = as_request(&tf.requests[i]);
    }
    das_det_replay_t rp = {
        .decisions = tf.decisions,
        .n_decisions = tf.n_decisions,
        .expect = tf.steps,
        .n_expect = tf.n_steps,
        .results = tf.results,
    };
    das_det_script_t script;
    das_offline_batch_t *batch = das_offline_batch_create(requests, tf.n_requests);
    das_offline_batch_begin(batch, NULL, arrivals, &script);
    das_server_options_t o = {
        .app_path = appdir,
        .storage_path = storage,
        .dispatch = DAS_DISPATCH_DETERMINISTIC,
        .max_instances = tf.header.max_instances,
        .log_level = quiet || json ? DAS_LOG_ERROR : DAS_LOG_WARNING,
        .log_out = stderr,
        .exe = exe,
        .seed = tf.header.seed,
        .has_seed = true,
        .strategy = tf.header.strategy,
        .pct_depth = tf.header.pct_depth,
        .gather_ms = tf.header.gather_ms,
        .max_steps = tf.header.max_steps,
        .trace_path = out_path,
        .replay = &rp,
        .script = &script,
        .no_http = true,
        .build_dir = build_dir,
        .inprocess = r->runtime,
        .inprocess_dir = tmp,
        .det_progress = r->progress,
    };
    int rc = EXIT_USAGE;
    das_server_t *s = NULL;
    if (das_server_create(&o, &s, &err) < 0 || das_server_start(s, &err) < 0) {
        fprintf(stderr, "devappserver replay: %s\n", err.msg);
        goto done;
    }
    const char *build = das_server_build_name(s);
    if (!*build) {
        fprintf(stderr, "devappserver replay: the app in %s has no build to run (it does not "
                        "compile, or has no C sources)\n",
                appdir);
        goto done;
    }
    bool same_build = tf.header.build && strcmp(build, tf.header.build) == 0;
    if (!same_build)
        fprintf(stderr,
                "devappserver replay: warning: the build differs from the recorded one "
                "(recorded %s, now %s); replaying until the first divergence\n",
                tf.header.build ? tf.header.build : "(none)", build);
    das_offline_batch_attach(batch, s);
    das_det_t *det = das_server_det(s);
    run_setup(s, &tf);
    das_det_kick(det);
    das_offline_batch_wait(batch, det);
    char *over = das_det_over(det) ? das_xstrdup(das_det_over(det)) : NULL;
    /* The recorded run stopped at its step bound, and so did this one: that is the failure
     * reproduced, not a divergence. */
    bool at_bound = over && tf.header.max_steps && strstr(over, "step bound");
    if (at_bound) {
        free(over);
        over = NULL;
    }
    das_buf_t missed = {0};
    if (!over && !at_bound) /* explore runs no checks after a run it stopped */
        run_checks(s, &tf, &missed);
    das_server_stop(s); /* closes the replay's trace */

    das_trace_file_t out;
    das_trace_file_t *shown = &tf;
    bool loaded = das_trace_load(out_path, &out, &err) == 0;
    if (loaded)
        shown = &out;
    size_t diff = das_trace_first_difference(trace_path, out_path, tf.closed);
    bool failed = false;
    for (size_t i = 0; i < shown->n_ends; i++)
        failed |= shown->ends[i].status >= 500 || strcmp(shown->ends[i].how, "returned") != 0;
    failed |= shown->n_checks > 0 || missed.len > 0 || at_bound;
    rc = over ? EXIT_DIVERGED : failed ? EXIT_FAILED : 0;
    const char *verdict = over ? "diverged" : failed ? "failed" : "passed";
    char *kept = NULL;
    if (diff) { /* keep the replay's trace beside the recorded one, to compare */
        kept = das_xasprintf("%s.replay.jsonl", trace_path);
        if (rename(out_path, kept) < 0) {
            free(kept);
            kept = NULL;
        }
    }

    das_buf_t timeline = {0};
    das_timeline_render(shown, &timeline);
    char *schedule = das_sched_string_encode((int)tf.n_requests, tf.decisions, tf.n_decisions);
    if (json) {
        json_t *j = json_object();
        json_object_set_new(j, "trace", json_string(trace_path));
        json_object_set_new(j, "result", json_string(verdict));
        if (over)
            json_object_set_new(j, "divergence", json_string(over));
        json_object_set_new(j, "same_build", json_boolean(same_build));
        json_object_set_new(j, "trace_identical", json_boolean(diff == 0));
        if (diff)
            json_object_set_new(j, "first_different_line", json_integer((json_int_t)diff));
        json_object_set_new(j, "schedule", json_string(schedule));
        json_object_set_new(j, "steps", json_integer((json_int_t)shown->n_steps));
        json_t *responses = json_array();
        for (size_t i = 0; i < tf.n_requests; i++) {
            json_t *x = json_object();
            char name[16];
            das_sched_task_name((int)i, name);
            json_object_set_new(x, "task", json_string(name));
            const das_offline_response_t *resp = das_offline_batch_response(batch, i);
            json_object_set_new(x, "status", json_integer(resp->status));
            json_object_set_new(x, "body", json_stringn(resp->body ? resp->body : "",
                                                        resp->len));
            json_array_append_new(responses, x);
        }
        json_object_set_new(j, "responses", responses);
        if (missed.len)
            json_object_set_new(j, "checks_missed", json_string(missed.data));
        json_object_set_new(j, "timeline", json_string(timeline.data ? timeline.data : ""));
        char *text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        printf("%s\n", text);
        free(text);
        json_decref(j);
    } else {
        if (!quiet) {
            printf("replay of %s (seed %llu, %s; %zu request%s)\n", trace_path,
                   (unsigned long long)tf.header.seed,
                   tf.header.strategy ? tf.header.strategy : "?", tf.n_requests,
                   tf.n_requests == 1 ? "" : "s");
            fputs(timeline.data ? timeline.data : "", stdout);
            printf("schedule %s\n", schedule);
            if (missed.len)
                fputs(missed.data, stdout);
            if (diff)
                printf("trace: differs from the recorded one from line %zu%s%s\n", diff,
                       kept ? "; the replay's is " : "", kept ? kept : "");
            else
                printf("trace: identical to the recorded one\n");
        }
        if (over)
            printf("diverged: %s\n", over);
        else if (at_bound)
            printf("failed: the run passed its step bound (%llu steps), as the recorded one did\n",
                   (unsigned long long)tf.header.max_steps);
        else
            printf("%s\n", verdict);
    }
    fflush(stdout);
    free(schedule);
    das_buf_dispose(&timeline);
    free(kept);
    free(over);
    das_buf_dispose(&missed);
    if (loaded)
        das_trace_file_dispose(&out);
done:
    das_server_destroy(s);
    das_offline_batch_destroy(batch);
    free(requests);
    free(arrivals);
    free(out_path);
    free(storage);
    free(app_storage);
    free(build_dir);
    return rc;
}

/* In the worker: the one command, the replay; its exit status is the answer. */
static void replay_serve(void *ctx, const void *cmd, size_t len, das_rpc_buf_t *answer)
{
    (void)cmd;
    (void)len;
    int rc = replay_run(ctx);
    fflush(stdout);
    das_rpc_put_u32(answer, (uint32_t)rc);
}

/* In process: the replay runs in a worker process, which the app may crash or hang. */
static int replay_in_worker(replay_t *r)
{
    das_det_progress_t *progress = mmap(NULL, sizeof *progress, PROT_READ | PROT_WRITE,
                                        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (progress == MAP_FAILED) {
        fprintf(stderr, "devappserver replay: cannot map shared memory: %s\n", strerror(errno));
        return EXIT_USAGE;
    }
    progress->running = -1;
    r->progress = progress;
    das_xworker_options_t wo = {replay_serve, NULL, r, progress, REPLAY_STEP_TIMEOUT_S, NULL, 0};
    das_xworker_t *w = das_xworker_create(&wo);
    das_rpc_buf_t cmd = {0}, answer = {0};
    int status, rc, called = das_xworker_call(w, &cmd, &answer, &status);
    if (called == -2) {
        fprintf(stderr, "devappserver replay: cannot start the in-process worker: %s\n",
                strerror(errno));
        rc = EXIT_USAGE;
    } else if (called == 0) {
        das_rpc_reader_t rd;
        das_rpc_reader_init(&rd, answer.data, answer.len);
        rc = (int)das_rpc_get_u32(&rd);
    } else {
        int task = __atomic_load_n(&progress->running, __ATOMIC_RELAXED);
        char who[64] = "a request outside the schedule";
        if (task >= 0)
            das_sched_task_name(task, who);
        char how[160];
        switch (das_xworker_describe_end(status, how, sizeof how)) {
        case DAS_XWORKER_ENDED_STUCK:
            printf("failed: %s ran %d s without reaching a point (a loop, or a blocking call "
                   "the scheduler does not see); the in-process replay was stopped\n",
                   who, REPLAY_STEP_TIMEOUT_S);
            break;
        case DAS_XWORKER_ENDED_CRASH:
            printf("failed: %s crashed the in-process replay, %s; replay with --backend "
                   "instances to see it end one instance\n",
                   who, how);
            break;
        case DAS_XWORKER_ENDED_OUTSIDE:
            printf("failed: the in-process replay was ended from outside by %s while %s ran\n",
                   how, who);
            break;
        case DAS_XWORKER_ENDED_EXIT:
            printf("failed: the in-process replay ended with %s\n", how);
            break;
        }
        rc = EXIT_FAILED;
    }
    fflush(stdout);
    das_rpc_buf_dispose(&answer);
    das_xworker_destroy(w);
    munmap(progress, sizeof *progress);
    return rc;
}

static int usage(const char *fmt, const char *arg)
{
    fprintf(stderr, "devappserver replay: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nusage: devappserver replay [--quiet] [--json] [--backend "
                    "instances|inprocess] TRACE [APPDIR]\n");
    return EXIT_USAGE;
}

int das_replay_main(int argc, char **argv, const char *exe,
                    const das_inprocess_runtime_t *runtime)
{
    enum { OPT_QUIET = 256, OPT_JSON, OPT_BACKEND };
    static const struct option longopts[] = {
        {"quiet", no_argument, NULL, OPT_QUIET},
        {"json", no_argument, NULL, OPT_JSON},
        {"backend", required_argument, NULL, OPT_BACKEND},
        {NULL, 0, NULL, 0},
    };
    bool quiet = false, json = false, inprocess = false;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_QUIET: quiet = true; break;
        case OPT_JSON: json = true; break;
        case OPT_BACKEND:
            if (strcmp(optarg, "instances") != 0 && strcmp(optarg, "inprocess") != 0)
                return usage("--backend must be instances or inprocess, not '%s'", optarg);
            inprocess = strcmp(optarg, "inprocess") == 0;
            break;
        case ':': return usage("option '%s' needs a value", argv[optind - 1]);
        default: return usage("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return usage("%s", "missing TRACE (a .jsonl file written under deterministic dispatch)");
    if (optind + 2 < argc)
        return usage("unexpected argument '%s'", argv[optind + 2]);
    const char *trace_path = argv[optind];

    das_trace_file_t tf;
    das_err_t err = {0};
    if (das_trace_load(trace_path, &tf, &err) < 0) {
        fprintf(stderr, "devappserver replay: %s\n", err.msg);
        return EXIT_USAGE;
    }
    const char *appdir = optind + 1 < argc ? argv[optind + 1] : tf.header.appdir;
    struct stat sb;
    if (!appdir || !*appdir || stat(appdir, &sb) < 0) {
        fprintf(stderr, "devappserver replay: the app folder %s is not there (%s); give APPDIR "
                        "after the trace\n",
                appdir && *appdir ? appdir : "(none recorded)", strerror(errno));
        das_trace_file_dispose(&tf);
        return EXIT_USAGE;
    }

    char tmp[] = "/tmp/devappserver-replay-XXXXXX";
    if (!mkdtemp(tmp)) {
        fprintf(stderr, "devappserver replay: cannot make a folder in /tmp: %s\n",
                strerror(errno));
        das_trace_file_dispose(&tf);
        return EXIT_USAGE;
    }
    replay_t r = {trace_path, &tf,  appdir, exe, quiet, json, inprocess ? runtime : NULL,
                  NULL,       tmp};
    int rc = inprocess ? replay_in_worker(&r) : replay_run(&r);
    das_remove_tree(tmp);
    das_trace_file_dispose(&tf);
    return rc;
}
