/* appengine/appengine.h - what a devappserver app includes: its request, its response, and the
 * table that names its handlers.
 *
 * A handler is a function `void f(ae_request_t *rq, ae_response_t *rs)`. An app file lists its
 * handlers in a table with AE_APP, and app.yaml names the table as `script: FILE.TABLE` (the way
 * the Python runtime named `module.app`):
 *
 *     static void hello(ae_request_t *rq, ae_response_t *rs)
 *     {
 *         ae_response_set_header(rs, "Content-Type", "text/plain");
 *         const char *name = ae_request_param(rq, "name");
 *         ae_response_printf(rs, "Hello, %s!", name ? name : "World");
 *     }
 *     AE_APP(app, {"/", hello}, {"/greet*", hello});
 *
 * A route's path matches exactly, or as a prefix when it ends in '*'; "*" alone matches every
 * path. A request no route matches gets a 404 from the app.
 *
 * Memory: every string and buffer the SDK returns lives in the request's arena and stays valid
 * until the handler returns; ae_request_alloc() gives a handler arena memory of its own, so app
 * code rarely calls free(). Requests and responses belong to one handler thread; do not share
 * them with other threads.
 */
#ifndef AE_APPENGINE_H
#define AE_APPENGINE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <appengine/status.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ae_request ae_request_t;
typedef struct ae_response ae_response_t;
typedef void (*ae_handler_fn)(ae_request_t *rq, ae_response_t *rs);

typedef struct {
    const char *path; /* "/exact", a prefix ending in a star, or a star alone */
    ae_handler_fn handler;
} ae_route_t;

typedef struct {
    const ae_route_t *routes;
    size_t n_routes;
} ae_app_t;

/* devappserver compiles each source file with -DAE_MODULE=<file stem>, so `script: FILE.NAME`
 * finds the table AE_APP(NAME, ...) declared in FILE.c. */
#ifndef AE_MODULE
#define AE_MODULE main
#endif
#define AE__CAT4_(a, b, c, d) a##b##c##d
#define AE__CAT4(a, b, c, d) AE__CAT4_(a, b, c, d)
#define AE_APP_SYMBOL(name) AE__CAT4(ae_app__, AE_MODULE, __, name)

#define AE_APP(name, ...)                                                                      \
    static const ae_route_t ae__routes_##name[] = {__VA_ARGS__};                               \
    AE_API const ae_app_t AE_APP_SYMBOL(name) = {                                              \
        ae__routes_##name, sizeof ae__routes_##name / sizeof ae__routes_##name[0]}

/* ---------------------------------------------------------------- the request */

AE_API const char *ae_request_method(const ae_request_t *rq); /* "GET", "POST", ... */
AE_API const char *ae_request_path(const ae_request_t *rq);   /* "/a/b", decoded */
AE_API const char *ae_request_query(const ae_request_t *rq);  /* "x=1&y=2" or "" */

/* A request header by name (case-insensitive), or NULL. */
AE_API const char *ae_request_header(const ae_request_t *rq, const char *name);
AE_API size_t ae_request_header_count(const ae_request_t *rq);
/* The i-th header; returns false past the end. */
AE_API bool ae_request_header_at(const ae_request_t *rq, size_t i, const char **name,
                                 const char **value);

/* A query-string parameter, or for a POST with an application/x-www-form-urlencoded body, a
 * form field (query first), decoded; NULL when absent. */
AE_API const char *ae_request_param(ae_request_t *rq, const char *name);
/* A cookie's value, or NULL. */
AE_API const char *ae_request_cookie(ae_request_t *rq, const char *name);
/* The body (may hold NUL bytes; always followed by one extra NUL). */
AE_API const void *ae_request_body(const ae_request_t *rq, size_t *len);

/* The platform's per-request environment: APPLICATION_ID ("dev~app"), CURRENT_VERSION_ID,
 * CURRENT_MODULE_ID, INSTANCE_ID, REQUEST_LOG_ID, SERVER_SOFTWARE, SERVER_NAME, SERVER_PORT,
 * REMOTE_ADDR, AUTH_DOMAIN, USER_EMAIL, USER_ID, USER_NICKNAME, USER_IS_ADMIN, and the app's
 * env_variables. NULL when unset. */
AE_API const char *ae_request_env(const ae_request_t *rq, const char *name);

/* The logged-in user (the development login at /_ah/login), or NULL when nobody is. */
AE_API const char *ae_request_user_email(const ae_request_t *rq);
AE_API const char *ae_request_user_id(const ae_request_t *rq);
AE_API bool ae_request_user_is_admin(const ae_request_t *rq);

/* The detail message of this request's last failed service call, in the platform's wording
 * where it had one ("Values may not be more than 1000000 bytes in length; received 1000001
 * bytes"), or NULL when no call has failed. Arena memory. */
AE_API const char *ae_request_last_error(const ae_request_t *rq);

/* Arena memory, freed when the request ends. Never NULL (out of memory aborts). */
AE_API void *ae_request_alloc(ae_request_t *rq, size_t n);
AE_API char *ae_request_strdup(ae_request_t *rq, const char *s);
AE_API char *ae_request_printf(ae_request_t *rq, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---------------------------------------------------------------- time, randomness, yields */

/* The wall-clock time in nanoseconds since the Unix epoch. Under deterministic dispatch it is
 * virtual: it starts at a fixed instant and moves 1 ms per scheduler step, so a replay sees the
 * same times. */
AE_API int64_t ae_time_now_ns(const ae_request_t *rq);
/* Random bytes (not for secrets). Under deterministic dispatch they come from a stream seeded
 * by the run's seed and this request's task number, so a replay draws the same bytes. */
AE_API void ae_random_bytes(ae_request_t *rq, void *buf, size_t n);
/* Under deterministic dispatch, a point: another request may run before this one goes on.
 * Otherwise returns at once, with no round trip. Returns AE_OK, or AE_EUNAVAILABLE when the
 * server is going away. */
AE_API int ae_yield(ae_request_t *rq);

/* An app-level assertion: when `cond` is false it logs an error naming the request and
 * FILE:LINE, in every mode, and under `devappserver explore` it fails the schedule. */
#define AE_CHECK(rq, cond)                                                                     \
    do {                                                                                       \
        if (!(cond))                                                                           \
            ae__check_failed((rq), __FILE__, __LINE__, "AE_CHECK(%s) failed", #cond);          \
    } while (0)
/* The same, with a message of the app's own, for a check `if` cannot express. */
#define ae_check_failed(rq, ...) ae__check_failed((rq), __FILE__, __LINE__, __VA_ARGS__)
AE_API void ae__check_failed(ae_request_t *rq, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---------------------------------------------------------------- the response */

/* 200 unless set. */
AE_API void ae_response_set_status(ae_response_t *rs, int status);
/* Replaces every header of that name (case-insensitive). */
AE_API void ae_response_set_header(ae_response_t *rs, const char *name, const char *value);
/* Adds a header even if one of that name exists (Set-Cookie). */
AE_API void ae_response_add_header(ae_response_t *rs, const char *name, const char *value);
/* Appends to the body (buffered; sent when the handler returns). */
AE_API void ae_response_write(ae_response_t *rs, const void *data, size_t len);
AE_API void ae_response_puts(ae_response_t *rs, const char *s);
AE_API void ae_response_printf(ae_response_t *rs, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
AE_API void ae_response_vprintf(ae_response_t *rs, const char *fmt, va_list ap);
/* Replaces the body with a text/plain message and sets the status. */
AE_API void ae_response_error(ae_response_t *rs, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#ifdef __cplusplus
}
#endif

#endif
