/* logservice_service.h - what the logservice service kept: the app log lines of the last
 * DAS_LOGSERVICE_KEEP requests that logged, for the testbed and (later) the admin console.
 */
#ifndef DAS_LOGSERVICE_SERVICE_H
#define DAS_LOGSERVICE_SERVICE_H

#include <stddef.h>
#include <stdint.h>

#define DAS_LOGSERVICE_KEEP 1000                   /* requests whose lines are kept */
#define DAS_LOGSERVICE_REQUEST_BYTES (1024 * 1024)   /* kept per request, at most */
#define DAS_LOGSERVICE_TOTAL_BYTES (64 * 1024 * 1024) /* kept in all, at most */

typedef struct {
    const char *request_log_id;
    int level;       /* AE_LOG_DEBUG .. AE_LOG_CRITICAL (appengine/log.h) */
    int64_t time_ns; /* when the app logged it (Unix time) */
    const char *message;
} das_log_line_t;

/* Calls `fn` for every kept line of request `request_log_id` (every request when NULL), oldest
 * first, and for a request whose lines went over its budget, a last warning line saying how
 * many were not kept; under the service's lock: `fn` must not call back into it. `state` is the service's
 * (das_services_state(s, "logservice")). */
void das_logservice_each_line(void *state, const char *request_log_id,
                              void (*fn)(void *ctx, const das_log_line_t *line), void *ctx);

#endif
