/* server.c - the server's life: storage, the app snapshot and its reloads, start-up, an
 * orderly shutdown, and the command line's run loop with its signals.
 *
 * Design: das_server_start() starts everything on the caller's thread; das_server_run() then
 * waits in sigwait() for SIGINT/SIGTERM (both blocked in every thread it starts). HTTP
 * connection threads read the current app snapshot under `app_lock`. The watcher thread runs
 * reloads (serialised by `reload_lock`): it loads app.yaml, builds, publishes a new snapshot
 * and moves the dispatcher to the new build, so requests in flight finish on the old instances
 * while new ones go to the new build. Nothing is global: each das_server_t holds all its state,
 * so several run in one process.
 */
#include "server.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "server_internal.h"

#define MAX_BODY (32u * 1024 * 1024)
#define SHUTDOWN_GRACE_MS 10000

extern char **environ;

/* ---------------------------------------------------------------- app snapshots */

static void app_free(das_app_t *app)
{
    if (!app)
        return;
    das_router_destroy(app->router);
    das_static_destroy(app->statics);
    das_config_destroy(app->config);
    das_callsites_close(app->sites);
    free(app->so_path);
    free(app->build_error);
    free(app->app_id);
    free(app->version_id);
    free(app);
}

das_app_t *das__app_acquire(das_server_t *s)
{
    pthread_mutex_lock(&s->app_lock);
    das_app_t *app = s->app;
    app->refs++;
    pthread_mutex_unlock(&s->app_lock);
    return app;
}

void das__app_release(das_server_t *s, das_app_t *app)
{
    pthread_mutex_lock(&s->app_lock);
    bool last = --app->refs == 0;
    pthread_mutex_unlock(&s->app_lock);
    if (last)
        app_free(app);
}

static void publish(das_server_t *s, das_app_t *app)
{
    app->refs = 1;
    pthread_mutex_lock(&s->app_lock);
    das_app_t *old = s->app;
    s->app = app;
    pthread_mutex_unlock(&s->app_lock);
    if (old)
        das__app_release(s, old);
}

/* The dispatcher's hooks: every request start, service call and request end passes here on
 * its way to the services. */
static void on_request_start(void *ctx, const das_call_ctx_t *rq)
{
    das_server_t *s = ctx;
    if (rq->task)
        das_det_started(s->det, rq->task, rq->instance_id, rq->slot);
    das_services_request_start(s->services, rq);
}

/* Under deterministic dispatch a scheduled request's call is a point (das_det_call runs it
 * when its turn comes); a warmup's, outside the schedule, runs at once. */
static void on_service_call(void *ctx, const das_call_ctx_t *call, const void *payload,
                            size_t len, das_rpc_buf_t *reply)
{
    das_server_t *s = ctx;
    if (call->task)
        das_det_call(s->det, call, payload, len, reply);
    else
        das_services_call(s->services, call, payload, len, reply);
}

static void on_request_end(void *ctx, const das_call_ctx_t *rq, das_request_end_t how,
                           const das_rpc_buf_t *response)
{
    das_server_t *s = ctx;
    das_services_request_end(s->services, rq, how);
    if (s->race)
        das_race_scan(s->race);
    if (rq->task)
        das_det_end(s->det, rq->task, how, response ? response->data : NULL,
                    response ? response->len : 0);
}

static bool is_skipped(void *ctx, const char *relpath)
{
    return das_static_is_skipped(ctx, relpath);
}

/* The environment instances start with: ours, plus TZ=UTC and app.yaml's env_variables (and
 * for the race detector, its runtime and options). */
static char **instance_env(const das_server_t *s, const das_config_t *cfg)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = das_xcalloc(n + cfg->n_env_variables + 4, sizeof *env);
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        bool overridden = das_str_has_prefix(environ[i], "TZ=");
        for (size_t j = 0; j < cfg->n_env_variables && !overridden; j++) {
            size_t k = strlen(cfg->env_variables[j].name);
            overridden = strncmp(environ[i], cfg->env_variables[j].name, k) == 0 &&
                         environ[i][k] == '=';
        }
        if (!overridden)
            env[w++] = das_xstrdup(environ[i]);
    }
    env[w++] = das_xstrdup("TZ=UTC");
    for (size_t j = 0; j < cfg->n_env_variables; j++)
        env[w++] = das_xasprintf("%s=%s", cfg->env_variables[j].name,
                                 cfg->env_variables[j].value);
    if (s->race) {
        env[w++] = das_xasprintf("DAS_TSAN_RUNTIME=%s", s->tsan_runtime);
        env[w++] = das_xasprintf("TSAN_OPTIONS=%s", das_race_tsan_options(s->race));
    }
    return env;
}

/* Whether instances can be started with `env` at all: execve() refuses an environment and
 * arguments over the system's ARG_MAX. Fills `err` when they cannot. */
static int check_env_fits(char **env, das_err_t *err)
{
    size_t total = 0;
    for (size_t i = 0; env[i]; i++)
        total += strlen(env[i]) + 1 + sizeof(char *);
    /* The instance's arguments: the binary, --instance-role, the build's path, the slots. */
    total += 4 * (PATH_MAX + sizeof(char *));
    long max = sysconf(_SC_ARG_MAX);
    if (max > 0 && total >= (size_t)max)
        return das_err_set(err, AE_EINVAL,
                           "app.yaml: env_variables make the instances' environment too large: "
                           "%zu bytes with the server's own environment, over the system's "
                           "limit of %ld; keep big data in a file",
                           total, max);
    return 0;
}

static void free_env(char **env)
{
    for (size_t i = 0; env[i]; i++)
        free(env[i]);
    free(env);
}

/* "dev~" and the application id, or when app.yaml names none, the directory's name made into
 * a valid id (lower case, letters, digits and '-'), so logs and APPLICATION_ID say something
 * useful instead of the old SDK's "dev~None". */
static char *app_id_for(const das_config_t *cfg)
{
    if (cfg->application[0])
        return das_xasprintf("dev~%s", cfg->application);
    const char *slash = strrchr(cfg->appdir, '/');
    const char *name = slash && slash[1] ? slash + 1 : "app";
    das_buf_t b = {0};
    das_buf_puts(&b, "dev~");
    for (const char *p = name; *p && b.len < 4 + 100; p++) {
        char c = *p >= 'A' && *p <= 'Z' ? (char)(*p - 'A' + 'a') : *p;
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
            c = '-';
        das_buf_append(&b, &c, 1);
    }
    return das_buf_steal(&b);
}

/* Loads app.yaml and builds the app into a new snapshot. Config errors fail (err set); a
 * compile error succeeds with app->build_error set, so requests can show it. */
static int load_app(das_server_t *s, das_app_t **out, das_err_t *err)
{
    das_app_t *app = das_xcalloc(1, sizeof *app);
    int rc = das_config_load(s->o.app_path, &app->config, err);
    if (rc < 0)
        goto fail;
    for (size_t i = 0; i < app->config->n_warnings; i++)
        das_log_warning(s->log, "%s", app->config->warnings[i]);
    char **env = instance_env(s, app->config);
    rc = check_env_fits(env, err);
    free_env(env);
    if (rc < 0)
        goto fail;
    if ((rc = das_router_create(app->config, &app->router, err)) < 0 ||
        (rc = das_static_create(app->config->appdir, app->config->skip_files, &app->statics,
                                err)) < 0)
        goto fail;
    app->app_id = app_id_for(app->config);
    char digits[19];
    unsigned char rnd[18];
    das_clock_random(s->app_clock, rnd, sizeof rnd);
    for (int i = 0; i < 18; i++)
        digits[i] = (char)('0' + rnd[i] % 10);
    digits[18] = '\0';
    app->version_id = das_xasprintf("%s.%s", app->config->version[0] ? app->config->version
                                                                        : "None",
                                    digits);

    das_build_options_t bo = {
        .appdir = app->config->appdir,
        .build_dir = s->build_dir,
        .cc = getenv("CC") && *getenv("CC") ? getenv("CC") : "cc",
        .sdk_include = s->sdk_include,
        .is_skipped = is_skipped,
        .ctx = app->statics,
        .deterministic = s->policy == DAS_DISPATCH_DETERMINISTIC,
        .race_detector = s->race != NULL,
    };
    das_build_result_t br;
    int64_t t0 = das_clock_monotonic_ns(s->clock);
    rc = das_build_app(&bo, &br, err);
    double ms = (double)(das_clock_monotonic_ns(s->clock) - t0) / 1e6;
    if (rc == AE_EINVAL) {
        das_log_text(s->log, DAS_LOG_ERROR,
                     "the app does not compile; requests will show this until it does:",
                     br.output);
        app->build_error = das_xstrdup(br.output);
        rc = 0;
    } else if (rc < 0) {
        das_build_result_dispose(&br);
        goto fail;
    } else if (br.so_path) {
        if (br.output[0])
            das_log_text(s->log, DAS_LOG_WARNING, "compiler output:", br.output);
        das_log_info(s->log, "%s %s (%.0f ms)", br.cached ? "using cached build" : "built",
                     br.so_path, ms);
        app->so_path = das_xstrdup(br.so_path);
        if (s->policy == DAS_DISPATCH_DETERMINISTIC)
            app->sites = das_callsites_open(app->so_path, app->config->appdir);
    }
    das_build_result_dispose(&br);
    *out = app;
    return 0;
fail:
    app_free(app);
    return rc;
}

/* ---------------------------------------------------------------- deterministic dispatch */

static int slots_per_instance(const das_server_t *s)
{
    if (s->policy == DAS_DISPATCH_CONCURRENT ||
        (s->policy == DAS_DISPATCH_DETERMINISTIC && s->threadsafe))
        return s->max_concurrent;
    return 1;
}

static const char *strategy_name(const das_server_t *s)
{
    return s->o.strategy ? s->o.strategy : "random";
}

static int pct_depth(const das_server_t *s)
{
    return s->o.pct_depth > 0 ? s->o.pct_depth : DAS_SCHED_PCT_DEPTH;
}

/* The driver's resolve_site: the current build's call sites. */
static void resolve_site(void *ctx, uint64_t site, char *out, size_t cap)
{
    das_server_t *s = ctx;
    das_app_t *app = das__app_acquire(s);
    das_callsites_resolve(app->sites, site, out, cap);
    das__app_release(s, app);
}

/* Opens the trace of a new run: `path`, or when NULL the next free
 * STORAGE/traces/serve-NNNN.jsonl. NULL (logged) when it cannot be written. */
static das_trace_t *open_trace(das_server_t *s, das_app_t *app, const char *given,
                               uint64_t max_steps)
{
    char *path;
    if (given) {
        path = das_xstrdup(given);
    } else {
        char *dir = das_xasprintf("%s/traces", s->storage_path);
        das_mkdirs(dir, 0755);
        path = das_trace_next_path(dir, "serve");
        free(dir);
    }
    const char *slash = app->so_path ? strrchr(app->so_path, '/') : NULL;
    das_trace_header_t h = {
        .build = slash ? slash + 1 : app->so_path ? app->so_path : "",
        .appdir = app->config->appdir,
        .threadsafe = s->threadsafe,
        .slots = slots_per_instance(s),
        .max_instances = s->o.max_instances,
        .strategy = strategy_name(s),
        .seed = s->seed,
        .pct_depth = pct_depth(s),
        .gather_ms = s->o.gather_ms < 0 ? 20 : s->o.gather_ms,
        .start_ns = DAS_VIRTUAL_START_NS,
        .max_steps = max_steps,
    };
    das_trace_t *t = NULL;
    das_err_t err = {0};
    /* Replay and explore read it once it is closed: it is held in memory until then. */
    if (das_trace_create(path, &h, s->o.no_http, &t, &err) < 0)
        das_log_error(s->log, "%s; this run has no trace", err.msg);
    free(path);
    return t;
}

/* Points the dispatcher at the snapshot's build. */
static void adopt_build(das_server_t *s, das_app_t *app)
{
    char **env = instance_env(s, app->config);
    das_dispatch_set_build(s->dispatch, app->so_path, env);
    free_env(env);
    if (app->so_path)
        das_dispatch_prestart(s->dispatch);
}

static void on_change(void *ctx)
{
    das_server_t *s = ctx;
    pthread_mutex_lock(&s->reload_lock);
    das_log_info(s->log, "change detected in %s; reloading", s->o.app_path);
    das_err_t err = {0};
    das_app_t *app;
    if (load_app(s, &app, &err) < 0) {
        das_log_error(s->log, "%s", err.msg);
        das_log_error(s->log, "keeping the previous configuration until app.yaml is fixed");
        pthread_mutex_unlock(&s->reload_lock);
        return;
    }
    das_app_t *old = das__app_acquire(s);
    bool same_build = (old->so_path && app->so_path && strcmp(old->so_path, app->so_path) == 0) ||
                      (!old->so_path && !app->so_path && !old->build_error && !app->build_error);
    publish(s, app);
    das__app_release(s, old);
    /* A changed config (env_variables, say) also gets fresh instances, as on the platform. */
    adopt_build(s, app);
    if (s->det) { /* a new build is a new run: its own trace, once the requests in flight end */
        das_trace_t *trace = open_trace(s, app, NULL, s->o.max_steps);
        das_det_roll(s->det, trace);
        if (trace)
            das_log_info(s->log, "deterministic dispatch: the trace of the new run is %s",
                         das_trace_path(trace));
    }
    das_log_info(s->log, "reloaded%s; new requests go to the new %s", same_build ? "" : " and rebuilt",
                 app->build_error ? "(failing) build" : "instances");
    pthread_mutex_unlock(&s->reload_lock);
}

/* The driver of a run: `run`'s replay, script, strategy and trace (the options', or a
 * reset's). */
static void make_det(das_server_t *s, const das_server_options_t *run)
{
    das_det_options_t det = {
        .strategy = run->strategy_object ? run->strategy_object : s->strategy,
        .replay = run->replay,
        .script = run->script,
        .max_steps = run->max_steps,
        .gather_ms = s->o.gather_ms < 0 ? 20 : s->o.gather_ms,
        .real = s->clock,
        .virt = s->virtual_clock,
        .services = s->services,
        .log = s->log,
        .trace = run->no_trace ? NULL
                               : open_trace(s, s->app, run->trace_path, run->max_steps),
        .resolve_site = resolve_site,
        .site_ctx = s,
        .progress = run->det_progress,
    };
    s->det = das_det_create(&det);
}

/* ---------------------------------------------------------------- start-up */

static char *default_storage_path(const das_config_t *cfg)
{
    const char *xdg = getenv("XDG_DATA_HOME");
    const char *home = getenv("HOME");
    char *base;
    if (xdg && xdg[0] == '/')
        base = das_xasprintf("%s/devappserver", xdg);
    else if (home && home[0] == '/')
        base = das_xasprintf("%s/.local/share/devappserver", home);
    else
        base = das_xstrdup("/var/tmp/devappserver");
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(cfg->appdir, strlen(cfg->appdir), digest, &len, EVP_sha1(), NULL);
    const char *slash = strrchr(cfg->appdir, '/');
    const char *name = cfg->application[0] ? cfg->application : (slash ? slash + 1 : "app");
    char *path = das_xasprintf("%s/%s-%02x%02x%02x%02x", base, name, digest[0], digest[1],
                               digest[2], digest[3]);
    free(base);
    return path;
}

char *das_server_default_storage_path(const char *app_path, das_err_t *err)
{
    das_config_t *cfg;
    if (das_config_load(app_path, &cfg, err) < 0)
        return NULL;
    char *path = default_storage_path(cfg);
    das_config_destroy(cfg);
    return path;
}

static const char *policy_name(das_dispatch_policy_t p)
{
    switch (p) {
    case DAS_DISPATCH_SERIAL: return "serial";
    case DAS_DISPATCH_CONCURRENT: return "concurrent";
    case DAS_DISPATCH_DETERMINISTIC: return "deterministic";
    }
    return "?";
}

/* Whether host:port reaches this server's front end (the urlfetch service asks). */
static bool is_self(void *ctx, const char *host, int port)
{
    das_server_t *s = ctx;
    int mine = __atomic_load_n(&s->port, __ATOMIC_ACQUIRE);
    if (!mine || (port ? port : 80) != mine)
        return false;
    static const char *const loopback[] = {"localhost", "127.0.0.1", "::1", "[::1]"};
    for (size_t i = 0; i < sizeof loopback / sizeof loopback[0]; i++)
        if (strcasecmp(host, loopback[i]) == 0)
            return true;
    return strcasecmp(host, s->o.host) == 0;
}

static int create_services(das_server_t *s, das_err_t *err)
{
    das_services_options_t sopts = {
        .clock = s->app_clock,
        .log = s->log,
        .app_id = s->services_app_id,
        .storage_path = s->storage_path,
        .app_root = s->services_app_root,
        .is_self = is_self,
        .self_ctx = s,
        .inbound_token = s->inbound_token,
        .config = s->o.services,
        .n_config = s->o.n_services,
        .extra = s->o.extra_services,
        .n_extra = s->o.n_extra_services,
    };
    return das_services_create(&sopts, &s->services, err);
}

int das_server_create(const das_server_options_t *o, das_server_t **out, das_err_t *err)
{
    das_server_t *s = das_xcalloc(1, sizeof *s);
    s->o = *o;
    /* What an embedder leaves at zero gets the command line's defaults. */
    if (!s->o.host || !*s->o.host)
        s->o.host = "127.0.0.1";
    if (s->o.max_instances <= 0)
        s->o.max_instances = 10;
    if (!(s->o.request_deadline_s > 0))
        s->o.request_deadline_s = 60;
    s->clock = das_clock_real();
    s->log = das_log_create(o->log_level, o->log_out ? o->log_out : stderr, s->clock);
    uint8_t token[16];
    das_clock_random(s->clock, token, sizeof token);
    for (size_t i = 0; i < sizeof token; i++)
        snprintf(s->inbound_token + 2 * i, 3, "%02x", token[i]);
    pthread_mutex_init(&s->app_lock, NULL);
    pthread_mutex_init(&s->reload_lock, NULL);
    s->sdk_include = das_build_find_sdk_include(o->exe);

    /* The storage path comes from the config (app name), so load it once without building. */
    das_config_t *probe = NULL;
    char *app_id = NULL, *app_root = NULL;
    int rc = das_config_load(o->app_path, &probe, err);
    if (rc < 0)
        goto fail;
    s->storage_path = o->storage_path ? das_xstrdup(o->storage_path) : default_storage_path(probe);
    s->build_dir = o->build_dir ? das_xstrdup(o->build_dir)
                                : das_xasprintf("%s/build", s->storage_path);
    if (o->dispatch >= 0)
        s->policy = (das_dispatch_policy_t)o->dispatch;
    else
        s->policy = probe->threadsafe ? DAS_DISPATCH_CONCURRENT : DAS_DISPATCH_SERIAL;
    s->max_concurrent = o->max_concurrent > 0             ? o->max_concurrent
                        : probe->max_concurrent_requests > 0 ? probe->max_concurrent_requests
                                                             : 8;
    /* The services see the app as it is at start-up (a reload does not move the datastore). */
    app_id = app_id_for(probe);
    app_root = das_xstrdup(probe->appdir);
    s->threadsafe = probe->threadsafe;
    s->app_clock = s->clock;
    if (o->race_detector) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
        rc = das_err_set(err, AE_EINVAL, "devappserver: --race-detector cannot run in this "
                                         "build of devappserver: it is built with a sanitizer, "
                                         "which cannot share an instance with ThreadSanitizer");
        goto fail;
#endif
        if (s->policy != DAS_DISPATCH_CONCURRENT) {
            rc = das_err_set(err, AE_EINVAL, "devappserver: --race-detector works under "
                                             "concurrent dispatch only");
            goto fail;
        }
        const char *cc = getenv("CC") && *getenv("CC") ? getenv("CC") : "cc";
        if ((rc = das_race_check_tools(cc, s->tsan_runtime, sizeof s->tsan_runtime, err)) < 0)
            goto fail;
        char *dir = das_xasprintf("%s/tsan", s->storage_path);
        s->race = das_race_create(dir, s->log);
        free(dir);
    }
    if (s->policy == DAS_DISPATCH_DETERMINISTIC) {
        if (o->has_seed)
            s->seed = o->seed;
        else
            das_clock_random(s->clock, &s->seed, sizeof s->seed);
        s->virtual_clock = das_clock_virtual_create(DAS_VIRTUAL_START_NS, s->seed);
        s->app_clock = s->virtual_clock;
    }
    int mk = das_mkdirs(s->storage_path, 0755);
    if (mk < 0) {
        rc = das_err_set(err, AE_EIO, "devappserver: cannot create storage path %s: %s",
                         s->storage_path, strerror(-mk));
        goto fail;
    }
    das_config_destroy(probe);
    probe = NULL;
    s->services_app_id = app_id;
    s->services_app_root = app_root;
    app_id = app_root = NULL;
    rc = create_services(s, err);
    if (rc < 0)
        goto fail;
    das_app_t *app;
    if ((rc = load_app(s, &app, err)) < 0)
        goto fail;
    publish(s, app);
    *out = s;
    return 0;
fail:
    das_config_destroy(probe);
    free(app_id);
    free(app_root);
    das_server_destroy(s);
    return rc;
}

int das_server_start(das_server_t *s, das_err_t *err)
{
    const das_server_options_t *o = &s->o;
    if (s->started)
        return das_err_set(err, AE_EINVAL, "devappserver: a server starts once");
    s->started = true;
    int rc;

    das_dispatch_options_t dopts = {
        .policy = s->policy,
        .max_instances = o->max_instances,
        .slots = slots_per_instance(s),
        .race_detector = s->race != NULL,
        .pending_wait_ms = 100,
        .queue_timeout_ms = 10000,
        .request_deadline_ms = (int)(o->request_deadline_s * 1000),
        .deadline_per_step = o->deadline_per_step,
        .start_timeout_ms = 30000,
        .exe = o->exe,
        .inprocess = o->inprocess,
        .inprocess_dir = o->inprocess_dir,
        .clock = s->clock,
        .ids = s->app_clock,
        .log = s->log,
        .make_warmup = das__frontend_make_warmup,
        .hooks = {on_request_start, on_service_call, on_request_end},
        .ctx = s,
    };
    s->dispatch = das_dispatch_create(&dopts);
    if (s->policy == DAS_DISPATCH_DETERMINISTIC) {
        if (!o->replay && !o->strategy_object)
            s->strategy = strcmp(strategy_name(s), "pct") == 0
                              ? das_sched_pct_create(s->seed, pct_depth(s))
                              : das_sched_random_create(s->seed);
        make_det(s, o);
        if (s->det && das_det_trace_path(s->det))
            s->first_trace = das_xstrdup(das_det_trace_path(s->det));
    }
    adopt_build(s, s->app);

    if (o->no_http)
        return 0;
    das_http_options_t hopts = {
        .host = o->host,
        .port = o->port,
        .max_body = MAX_BODY,
        .on_request = das__frontend_handle,
        .ctx = s,
        .log = s->log,
        .clock = s->clock,
        .head_timeout_ms = o->head_timeout_ms,
    };
    if ((rc = das_http_start(&hopts, &s->http, err)) < 0) {
        char why[sizeof err->msg];
        snprintf(why, sizeof why, "%s", err->msg);
        return das_err_set(err, rc, "devappserver: %s", why);
    }
    __atomic_store_n(&s->port, das_http_port(s->http), __ATOMIC_RELEASE);
    if (o->port_file) {
        char text[16];
        int n = snprintf(text, sizeof text, "%d\n", s->port);
        int w = das_file_write_atomic(o->port_file, text, (size_t)n);
        if (w < 0)
            return das_err_set(err, AE_EIO, "devappserver: cannot write port file %s: %s",
                               o->port_file, strerror(-w));
    }
    /* 20 ms without a new event: an editor's save (write, rename) is one change, and the
     * reload benchmark's goal (compile time + 50 ms) keeps room for the instance start. */
    das_err_t werr = {0};
    char *storage = realpath(s->storage_path, NULL); /* as APPDIR is: absolute, no links */
    if (o->watch && das_watcher_start(s->app->config->appdir, storage, 20, on_change, s,
                                      s->log, &s->watcher, &werr) < 0)
        das_log_warning(s->log, "%s; live reload is off", werr.msg);
    free(storage);
    return 0;
}

int das_server_reset(das_server_t *s, const das_server_options_t *run, das_err_t *err)
{
    if (!s->det)
        return das_err_set(err, AE_EINVAL, "devappserver: only a deterministic server resets");
    das_det_destroy(s->det); /* closes the last run's trace */
    s->det = NULL;
    das_services_destroy(s->services);
    s->services = NULL;
    das_clock_virtual_reset(s->virtual_clock);
    int rc = create_services(s, err);
    if (rc < 0)
        return rc;
    das_dispatch_reset_instances(s->dispatch, run->fresh_process);
    make_det(s, run);
    return 0;
}

void das_server_handle(das_server_t *s, const das_http_request_t *rq, das_http_response_t *rs)
{
    das__frontend_handle(s, rq, rs);
}

das_det_t *das_server_det(das_server_t *s)
{
    return s->det;
}

const char *das_server_build_name(das_server_t *s)
{
    const char *so = s->app->so_path;
    const char *slash = so ? strrchr(so, '/') : NULL;
    return slash ? slash + 1 : so ? so : "";
}

int das_server_port(const das_server_t *s)
{
    return s->port;
}

void das_server_stop(das_server_t *s)
{
    if (s->stopped)
        return;
    s->stopped = true;
    das_watcher_stop(s->watcher);
    s->watcher = NULL;
    if (s->http)
        das_http_quiesce(s->http);
    if (s->det)
        das_det_shutdown(s->det);
    if (s->dispatch)
        das_dispatch_shutdown(s->dispatch, s->o.shutdown_grace_ms > 0 ? s->o.shutdown_grace_ms
                                                                      : SHUTDOWN_GRACE_MS);
    /* Answers the instances gave must still reach their clients before connections close. */
    if (s->http && !das_http_drain(s->http, 5000))
        das_log_warning(s->log, "closing connections with responses still being sent");
    das_http_stop(s->http);
    s->http = NULL;
    das_dispatch_destroy(s->dispatch);
    s->dispatch = NULL;
    das_det_destroy(s->det);
    s->det = NULL;
    das_sched_strategy_destroy(s->strategy);
    s->strategy = NULL;
    if (s->services) {
        das_services_log_stats(s->services, "at shutdown");
        das_services_destroy(s->services);
        s->services = NULL;
    }
}

void das_server_destroy(das_server_t *s)
{
    if (!s)
        return;
    das_server_stop(s);
    if (s->app)
        das__app_release(s, s->app);
    free(s->storage_path);
    free(s->build_dir);
    free(s->sdk_include);
    pthread_mutex_destroy(&s->app_lock);
    pthread_mutex_destroy(&s->reload_lock);
    das_log_destroy(s->log);
    das_clock_virtual_destroy(s->virtual_clock);
    das_race_destroy(s->race);
    free(s->first_trace);
    free(s->services_app_id);
    free(s->services_app_root);
    free(s);
}

int das_server_run(const das_server_options_t *o)
{
    /* Signals: SIGINT/SIGTERM are taken by sigwait() below, in no other thread (every thread
     * the server starts inherits this mask). */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* A connection is a descriptor: allow as many as the system lets this user have. */
    struct rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
        nofile.rlim_cur = nofile.rlim_max;
        setrlimit(RLIMIT_NOFILE, &nofile);
    }

    das_server_t *s = NULL;
    das_err_t err = {0};
    if (das_server_create(o, &s, &err) < 0 || das_server_start(s, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        das_server_destroy(s);
        return 1;
    }
    das_app_t *app = das__app_acquire(s);
    const char *h = s->o.host;
    bool v6 = strchr(h, ':') != NULL;
    char limits[1200];
    int per = slots_per_instance(s);
    if (s->det) {
        snprintf(limits, sizeof limits, "seed %llu, %s; trace %s", (unsigned long long)s->seed,
                 strategy_name(s), s->first_trace ? s->first_trace : "(none)");
    } else {
        snprintf(limits, sizeof limits, "%d request%s per instance, up to %d instance%s", per,
                 per == 1 ? "" : "s", s->o.max_instances, s->o.max_instances == 1 ? "" : "s");
    }
    printf("devappserver: serving %s (version %s) at http://%s%s%s:%d/ with %s dispatch (%s)\n",
           app->app_id, app->config->version[0] ? app->config->version : "None", v6 ? "[" : "",
           h, v6 ? "]" : "", s->port, policy_name(s->policy), limits);
    fflush(stdout);
    das__app_release(s, app);

    int sig = 0;
    while (sigwait(&stop, &sig) != 0)
        ;
    das_log_info(s->log, "received %s; shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    das_server_stop(s);
    das_log_info(s->log, "stopped cleanly");
    das_server_destroy(s);
    return 0;
}
