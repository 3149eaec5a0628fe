/* server.h - one devappserver: options from the command line (or an embedder), and its life.
 *
 * A server is an object: das_server_create() loads app.yaml and builds the app,
 * das_server_start() starts the services, the dispatcher and the HTTP front end and returns
 * once it listens, das_server_stop() shuts it down in order (requests in flight finish, then
 * the instances stop), and das_server_destroy() frees it. Several can run in one process, on
 * different ports and storage paths: nothing is global. das_server_run() is the command line's
 * way: create, start, wait for SIGINT/SIGTERM, stop, destroy.
 */
#ifndef DAS_SERVER_H
#define DAS_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "deterministic.h"
#include "dispatch.h"
#include "http.h"
#include "log.h"
#include "registry.h"

typedef struct das_server das_server_t;

/* Zero (or NULL) gives a field its default where one is named. */
typedef struct {
    const char *app_path;      /* APPDIR, or a path to its app.yaml */
    const char *host;          /* default 127.0.0.1 */
    int port;                  /* 0 picks a free one (the command line's default is 8080) */
    const char *port_file;     /* written with the bound port once listening; may be NULL */
    const char *storage_path;  /* NULL: a per-app folder under the user's data directory */
    int dispatch;              /* a das_dispatch_policy_t, or -1 to follow `threadsafe` */
    int max_instances;         /* default 10 */
    int max_concurrent;        /* 0: app.yaml's max_concurrent_requests, else 8 */
    double request_deadline_s; /* default 60 */
    /* Deterministic dispatch: the deadline is a budget per step (restarted at each point),
     * not for the whole request: explore's --step-timeout. */
    bool deadline_per_step;
    das_log_level_t log_level;
    FILE *log_out;             /* where the log goes; NULL: stderr */
    bool watch;                /* rebuild and reload on source changes (default true) */
    int shutdown_grace_ms;     /* how long requests in flight may finish; 0: 10 s */
    int head_timeout_ms;       /* a request's line and headers must arrive within; 0: 10 s */
    /* Host header names accepted beyond the listening address, localhost, 127.0.0.1 and
     * [::1]; "*" accepts any (the check guards against DNS rebinding). Borrowed. */
    const char *const *allow_hosts;
    size_t n_allow_hosts;
    /* Each service's own options, by service name (see registry.h); borrowed until
     * das_server_create() returns (the services are created there), or for the server's life
     * when it is reset (das_server_reset creates them again). */
    const das_service_config_t *services;
    size_t n_services;
    /* Services beyond the table (embedders, tests); borrowed, must outlive the server. */
    const das_service_def_t *const *extra_services;
    size_t n_extra_services;
    const char *exe;           /* the devappserver binary, for the instance role */
    /* Deterministic dispatch (dispatch == DAS_DISPATCH_DETERMINISTIC). */
    uint64_t seed;             /* with has_seed; else one is drawn at start */
    bool has_seed;
    const char *strategy;      /* "random" (default) or "pct" */
    int pct_depth;             /* 0: 3 */
    int gather_ms;             /* the gather window; < 0: 20 */
    const char *trace_path;    /* NULL: STORAGE/traces/serve-NNNN.jsonl, a new one per run */
    bool no_trace;             /* no trace at all (explore's runs that only count) */
    /* ThreadSanitizer in the instances (concurrent dispatch only; needs GCC and libtsan2):
     * reports printed, and a line naming the two source lines logged. */
    bool race_detector;
    const das_det_replay_t *replay; /* follow a recorded run (devappserver replay); borrowed */
    const das_det_script_t *script; /* scripted arrivals (replay, explore); borrowed */
    das_sched_strategy_t *strategy_object; /* picks instead of `strategy`'s; borrowed */
    uint64_t max_steps;        /* deterministic: a run past this many steps fails; 0: none */
    bool fresh_process;        /* das_server_reset starts new instances instead of resetting
                                  the globals of the ones running */
    /* For runs with no socket (replay, explore): requests come through das_server_handle. */
    bool no_http;
    /* Where builds are cached; NULL: STORAGE/build. A replay or explore on fresh storage
     * points it at the app's usual build cache. */
    const char *build_dir;
    /* Instances inside this process (explore's in-process backend), under `inprocess_dir`: see
     * instance.h. NULL: instance processes. */
    const das_inprocess_runtime_t *inprocess;
    const char *inprocess_dir;
    das_det_progress_t *det_progress; /* deterministic: where the driver mirrors its progress */
} das_server_options_t;

/* Loads app.yaml, makes the storage path, creates the services and builds the app (a compile
 * error is not a failure: requests show it). Returns 0, or an AE_* code with `err` filled. `o`
 * is copied; the strings it points to are borrowed for the server's life, the services'
 * options only for this call. */
int das_server_create(const das_server_options_t *o, das_server_t **out, das_err_t *err);
/* Starts the instances' dispatcher, the HTTP front end and the watcher; returns once it
 * listens (and the port file is written). 0, or an AE_* code with `err` filled; after a
 * failure, only das_server_destroy() (a server starts once). */
int das_server_start(das_server_t *s, das_err_t *err);
/* The port it listens on (after a successful start). */
int das_server_port(const das_server_t *s);
/* Stops serving: new requests get 503, requests in flight finish (for up to the grace, then
 * they are cancelled), instances are stopped and reaped, the services are destroyed. Idempotent. */
void das_server_stop(das_server_t *s);
void das_server_destroy(das_server_t *s); /* stops it first if need be; NULL ok */

/* One more deterministic run on a started server (explore's next schedule), from fresh
 * state: the services are created again, every instance puts its globals back as they were
 * when it loaded the app, the virtual clock starts over, and a new driver follows `run`'s
 * fields (replay, script, strategy_object, strategy, max_steps, trace_path) in place of the
 * options'. No request may be in flight. The options' services configuration must still be
 * valid. 0, or an AE_* code with `err` filled. */
int das_server_reset(das_server_t *s, const das_server_options_t *run, das_err_t *err);

/* The storage path the server uses for the app at `app_path` (APPDIR, or its app.yaml)
 * when none is given: a folder per app under the user's data directory. NULL with `err`
 * filled when app.yaml cannot be loaded. Caller frees. */
char *das_server_default_storage_path(const char *app_path, das_err_t *err);

/* Answers one request as the HTTP front end would (routing, login, static files, the app),
 * without a socket: for replay and explore. Blocks until the response is ready. */
void das_server_handle(das_server_t *s, const das_http_request_t *rq, das_http_response_t *rs);
/* The deterministic driver (NULL under the other policies). */
das_det_t *das_server_det(das_server_t *s);
/* The app build's file name ("app-<sha1>.so"), or "" when there is none. Borrowed until the
 * next reload. */
const char *das_server_build_name(das_server_t *s);

/* Runs the server until SIGINT or SIGTERM. Returns the process exit status: 0 after a clean
 * shutdown, 1 for a configuration, build or start-up error (already reported on stderr). */
int das_server_run(const das_server_options_t *o);

#endif
