/* appengine/testbed.h - run an app's handlers and SDK calls in process, with no server: the
 * same service semantics the server gives (memcache, app logs), from the same code, for an
 * app's own tests.
 *
 *     ae_testbed_t *tb = ae_testbed_create();
 *     ae_testbed_response_t r;
 *     ae_testbed_run(tb, my_handler, "GET", "/count?x=1", NULL, 0, &r);
 *     assert(r.status == 200 && strcmp(r.body, "1") == 0);
 *     ae_testbed_response_dispose(&r);
 *     ae_testbed_advance_clock(tb, 3600);   // memcache entries expire as time passes
 *     ae_testbed_destroy(tb);
 *
 * Link with the testbed library: `pkg-config --cflags --libs ae_testbed` once installed (or
 * the CMake target ae_testbed in this tree). Each testbed has fresh services and
 * its own clock, which starts at the real time and moves only when told to.
 */
#ifndef AE_TESTBED_H
#define AE_TESTBED_H

#include <appengine/appengine.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ae_testbed ae_testbed_t;

typedef struct {
    int status;
    char *body; /* malloc'd, NUL-terminated after len */
    size_t len;
    char **headers; /* "Name: value" strings, NULL-terminated; malloc'd */
} ae_testbed_response_t;

AE_API ae_testbed_t *ae_testbed_create(void);
AE_API void ae_testbed_destroy(ae_testbed_t *tb);
/* Moves the testbed's clock forward (memcache expiration follows it). */
AE_API void ae_testbed_advance_clock(ae_testbed_t *tb, int64_t seconds);

/* The app log lines (appengine/log.h) of every request the testbed ran, oldest first: stores
 * a pointer to them in `*lines` (valid until the next call or ae_testbed_destroy) and returns
 * how many there are. The testbed keeps the lines of the last 1,000 requests, as the server. */
typedef struct {
    int level;                  /* AE_LOG_DEBUG .. AE_LOG_CRITICAL */
    const char *message;
    const char *request_log_id; /* the request's REQUEST_LOG_ID */
} ae_testbed_log_t;

AE_API size_t ae_testbed_logs(ae_testbed_t *tb, const ae_testbed_log_t **lines);

/* A request whose service calls go to the testbed: for calling SDK functions directly.
 * `target` is the path with an optional "?query". Free with ae_testbed_request_destroy(). */
AE_API ae_request_t *ae_testbed_request_create(ae_testbed_t *tb, const char *method,
                                               const char *target, const void *body,
                                               size_t body_len);
AE_API void ae_testbed_request_destroy(ae_request_t *rq);

/* Runs `handler` on a fresh request and copies its response into `out`. Returns AE_OK. */
AE_API int ae_testbed_run(ae_testbed_t *tb, ae_handler_fn handler, const char *method,
                          const char *target, const void *body, size_t body_len,
                          ae_testbed_response_t *out);
AE_API void ae_testbed_response_dispose(ae_testbed_response_t *r);

#ifdef __cplusplus
}
#endif

#endif
