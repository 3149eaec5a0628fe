/* server.h - one running devappserver: options from the command line, and the run loop.
 *
 * main.c parses arguments into das_server_options_t and calls das_server_run(), which loads
 * app.yaml, builds the app, serves HTTP until SIGINT/SIGTERM, and shuts down in order.
 */
#ifndef DAS_SERVER_H
#define DAS_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include "dispatch.h"
#include "log.h"

typedef struct {
    const char *app_path;      /* APPDIR, or a path to its app.yaml */
    const char *host;          /* default 127.0.0.1 */
    int port;                  /* default 8080; 0 picks a free one */
    const char *port_file;     /* written with the bound port once listening; may be NULL */
    const char *storage_path;  /* NULL: a per-app folder under the user's data directory */
    int dispatch;              /* a das_dispatch_policy_t, or -1 to follow `threadsafe` */
    int max_instances;         /* default 10 */
    int max_concurrent;        /* 0: app.yaml's max_concurrent_requests, else 8 */
    double request_deadline_s; /* default 60 */
    das_log_level_t log_level;
    bool watch;                /* rebuild and reload on source changes (default true) */
    unsigned long long memcache_max_bytes; /* 0: the memcache stub's default */
    const char *exe;           /* this binary, for the instance role */
} das_server_options_t;

/* Runs the server. Returns the process exit status: 0 after a clean shutdown, 1 for a
 * configuration, build or start-up error (already reported on stderr). */
int das_server_run(const das_server_options_t *o);

#endif
