/* config.h - app.yaml, parsed and validated into a das_config_t.
 *
 * das_config_load() reads APPDIR/app.yaml (and the files its `includes:` name), validates every
 * field the way the App Engine platform did, and returns an immutable config. Errors carry
 * "file:line:col: message" text a user can act on. The config is read-only once loaded, so any
 * thread may read it without a lock; a live reload loads a new one and swaps the pointer.
 */
#ifndef DAS_CONFIG_H
#define DAS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

#define DAS_CONFIG_MAX_HANDLERS 100
#define DAS_CONFIG_MAX_ENV_STRING (128 * 1024) /* execve's MAX_ARG_STRLEN, NUL included */
#define DAS_CONFIG_DEFAULT_SKIP_FILES                                                          \
    "^(.*/)?((#.*#)|(.*~)|(.*\\.py[co])|(.*/RCS/.*)|(\\..*)|)$"

typedef enum {
    DAS_HANDLER_SCRIPT = 1,
    DAS_HANDLER_STATIC_DIR,
    DAS_HANDLER_STATIC_FILES,
} das_handler_kind_t;

typedef enum { DAS_LOGIN_OPTIONAL = 0, DAS_LOGIN_REQUIRED, DAS_LOGIN_ADMIN } das_login_t;
typedef enum { DAS_AUTH_FAIL_REDIRECT = 0, DAS_AUTH_FAIL_UNAUTHORIZED } das_auth_fail_t;
typedef enum {
    DAS_SECURE_OPTIONAL = 0, /* "default" is rewritten to "optional", as the platform did */
    DAS_SECURE_NEVER,
    DAS_SECURE_ALWAYS,
} das_secure_t;

/* One `name: value` pair (http_headers, env_variables). */
typedef struct {
    char *name;
    char *value;
} das_config_pair_t;

typedef struct {
    das_handler_kind_t kind;
    char *url;           /* the regex as written (static_dir: a plain prefix) */
    char *script;        /* DAS_HANDLER_SCRIPT: "FILE.SYMBOL", may hold \1 back-references */
    char *static_dir;    /* DAS_HANDLER_STATIC_DIR: directory relative to APPDIR */
    char *static_files;  /* DAS_HANDLER_STATIC_FILES: path relative to APPDIR, may hold \1 */
    char *upload;        /* DAS_HANDLER_STATIC_FILES: regex of the files it may serve */
    char *mime_type;     /* NULL: guessed from the extension */
    long expiration;     /* seconds; -1 when not set (then default_expiration applies) */
    das_config_pair_t *http_headers;
    size_t n_http_headers;
    das_login_t login;
    das_auth_fail_t auth_fail_action;
    das_secure_t secure;
    bool require_matching_file;
    bool application_readable;
    int line, col;       /* where the handler's mapping starts, for messages */
    char *file;          /* the yaml file it came from (app.yaml or an include) */
} das_config_handler_t;

typedef struct {
    char *path;          /* absolute path of app.yaml */
    char *appdir;        /* absolute, canonical APPDIR */
    char *application;   /* from application/project; "" when absent */
    char *version;       /* "" when absent */
    char *runtime;       /* always "c" once validated */
    char *api_version;   /* "" when absent */
    bool threadsafe;
    das_config_handler_t *handlers;
    size_t n_handlers;
    long default_expiration; /* seconds; -1 when not set */
    char *error_handler_file; /* the `default` (or code-less) error_handlers entry, or NULL */
    char *error_handler_mime_type;
    char *skip_files;         /* a regex; DAS_CONFIG_DEFAULT_SKIP_FILES when absent */
    das_config_pair_t *env_variables;
    size_t n_env_variables;
    bool inbound_warmup;
    int max_concurrent_requests; /* automatic_scaling.max_concurrent_requests; 0 when absent */
    char **warnings;             /* "file:line:col: ..." for accepted-but-ignored fields */
    size_t n_warnings;
} das_config_t;

/* Loads and validates `path` (an app.yaml file, or a directory holding one). On success stores
 * a config the caller frees with das_config_destroy() and returns 0. On failure returns a
 * negative AE_E* code and fills `err` with "file:line:col: message". */
int das_config_load(const char *path, das_config_t **out, das_err_t *err);

void das_config_destroy(das_config_t *cfg);

/* Parses the platform's expiration grammar ("4d 5h", "10", "1h 30m", "30s").
 * Returns 0 and stores seconds, or AE_EINVAL. */
int das_config_parse_expiration(const char *text, long *seconds);

/* Parses a YAML 1.1 boolean scalar (yes/no/on/off/true/false/y/n, any case).
 * Returns 0 and stores the value, or AE_EINVAL. */
int das_config_parse_bool(const char *text, bool *value);

#endif
