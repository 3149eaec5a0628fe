/* appengine/log.h - the app's own log lines, kept with the request that wrote them, at the
 * platform's five levels (Python's logging: debug, info, warning, error, critical).
 *
 *     ae_log_info(rq, "loaded %d greetings", n);
 *
 * Each line goes to the server's log with the request log id and its level (filtered by
 * --log-level), and the server keeps the lines of the last 1,000 requests. A line over
 * AE_LOG_MAX_LINE bytes is cut, with a marker saying so. Lines are sent in batches: at the
 * end of the request, or when a batch is large, never one round trip per line. In the
 * testbed, ae_testbed_logs() returns them.
 */
#ifndef AE_LOG_H
#define AE_LOG_H

#include <appengine/appengine.h>

#ifdef __cplusplus
extern "C" {
#endif

#define AE_LOG_MAX_LINE 8192
/* What ends a line that was cut at AE_LOG_MAX_LINE bytes. */
#define AE_LOG_CUT_MARKER "... [line cut at 8192 bytes]"

typedef enum {
    AE_LOG_DEBUG = 0,
    AE_LOG_INFO,
    AE_LOG_WARNING,
    AE_LOG_ERROR,
    AE_LOG_CRITICAL,
} ae_log_level_t;

AE_API void ae_log(ae_request_t *rq, ae_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
AE_API void ae_logv(ae_request_t *rq, ae_log_level_t level, const char *fmt, va_list ap);

#define ae_log_debug(rq, ...) ae_log((rq), AE_LOG_DEBUG, __VA_ARGS__)
#define ae_log_info(rq, ...) ae_log((rq), AE_LOG_INFO, __VA_ARGS__)
#define ae_log_warning(rq, ...) ae_log((rq), AE_LOG_WARNING, __VA_ARGS__)
#define ae_log_error(rq, ...) ae_log((rq), AE_LOG_ERROR, __VA_ARGS__)
#define ae_log_critical(rq, ...) ae_log((rq), AE_LOG_CRITICAL, __VA_ARGS__)

/* Sends the lines logged so far (the SDK does this at the end of every request). */
AE_API void ae_log_flush(ae_request_t *rq);

#ifdef __cplusplus
}
#endif

#endif
