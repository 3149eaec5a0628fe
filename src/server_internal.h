/* server_internal.h - the server's state, shared by server.c (lifecycle, reload) and
 * frontend.c (what happens to each request). Not for other modules.
 */
#ifndef DAS_SERVER_INTERNAL_H
#define DAS_SERVER_INTERNAL_H

#include <pthread.h>

#include "build.h"
#include "callsite.h"
#include "clock.h"
#include "config.h"
#include "deterministic.h"
#include "dispatch.h"
#include "http.h"
#include "log.h"
#include "race.h"
#include "router.h"
#include "server.h"
#include "registry.h"
#include "static.h"
#include "watcher.h"

/* One loaded version of the app: its config, routes, static files and build. Immutable once
 * published; readers hold a reference (das__app_acquire/release), and a reload publishes a new
 * one, so a request keeps the app it started with. */
typedef struct {
    int refs; /* guarded by das_server_t.app_lock */
    das_config_t *config;
    das_router_t *router;
    das_static_t *statics;
    char *so_path;      /* NULL: no C sources, or the build failed */
    char *build_error;  /* the compiler's output when the build failed, else NULL */
    char *app_id;       /* "dev~name" */
    char *version_id;   /* "<version>.<18 digits>" */
    das_callsites_t *sites; /* deterministic dispatch: the build's call sites; else NULL */
} das_app_t;

struct das_server {
    das_server_options_t o;
    das_clock_t *clock;  /* real: timeouts, the watchdog, log timestamps */
    /* What the app can observe (ids, the services' time): the virtual clock under
     * deterministic dispatch, else `clock`. */
    das_clock_t *app_clock;
    das_clock_t *virtual_clock;       /* deterministic dispatch only */
    das_det_t *det;                   /* deterministic dispatch only */
    das_sched_strategy_t *strategy;   /* deterministic dispatch only */
    uint64_t seed;
    char *services_app_id, *services_app_root; /* what the services were created with */
    das_race_t *race;                 /* --race-detector only */
    char tsan_runtime[4096];          /* --race-detector: the runtime preloaded in instances */
    char *first_trace;                /* the first run's trace file, for the start-up line */
    das_log_t *log;
    char *storage_path;
    char *build_dir;
    char *sdk_include;
    das_dispatch_policy_t policy;
    bool threadsafe; /* app.yaml's, at start-up: the instance layout */
    int max_concurrent;
    das_dispatch_t *dispatch;
    das_services_t *services;
    das_http_t *http;
    das_watcher_t *watcher;
    int port;            /* written once listening (atomic: urlfetch asks from other threads) */
    /* Sent by the server's own urlfetch to itself (DAS_INBOUND_TOKEN_HEADER): the front end
     * then trusts the X-Appengine-Inbound-Appid it carries. */
    char inbound_token[33];
    bool started, stopped;
    pthread_mutex_t app_lock;
    das_app_t *app; /* guarded by app_lock */
    pthread_mutex_t reload_lock; /* one reload at a time */
};

/* Virtual time under deterministic dispatch starts here: 2026-01-01T00:00:00Z. */
#define DAS_VIRTUAL_START_NS (INT64_C(1767225600) * 1000000000)

das_app_t *das__app_acquire(das_server_t *s);
void das__app_release(das_server_t *s, das_app_t *app);

/* frontend.c: answers one HTTP request (the das_http_request_cb). */
void das__frontend_handle(void *ctx, const das_http_request_t *rq, das_http_response_t *rs);
/* frontend.c: the /_ah/warmup request for a new instance (the dispatcher's make_warmup). */
bool das__frontend_make_warmup(void *ctx, const char *instance_id, das_rpc_buf_t *out,
                               char log_id[41]);

#endif
