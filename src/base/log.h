/* log.h - the server's log: leveled lines on stderr, one write per line. Control bytes in a
 * message are written as \xNN (a message is always one line).
 *
 * A das_log_t is created by the server and passed to the modules that log; there is no global
 * logger. Lines look like "INFO     2026-11-25 23:55:41,123 message". Thread-safe.
 */
#ifndef DAS_LOG_H
#define DAS_LOG_H

#include <stdarg.h>
#include <stdio.h>

#include "clock.h"

typedef enum {
    DAS_LOG_DEBUG = 0,
    DAS_LOG_INFO,
    DAS_LOG_WARNING,
    DAS_LOG_ERROR,
    DAS_LOG_CRITICAL,
} das_log_level_t;

typedef struct das_log das_log_t;

das_log_t *das_log_create(das_log_level_t level, FILE *out, das_clock_t *clock);
void das_log_destroy(das_log_t *log);

/* Parses "debug|info|warning|error|critical". Returns 0 or AE_EINVAL. */
int das_log_parse_level(const char *name, das_log_level_t *level);
int das_log_is_enabled(das_log_t *log, das_log_level_t level);

void das_log(das_log_t *log, das_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void das_logv(das_log_t *log, das_log_level_t level, const char *fmt, va_list ap);

/* Logs `intro`, then each line of `text` as a line of its own (compiler output, say). */
void das_log_text(das_log_t *log, das_log_level_t level, const char *intro, const char *text);

#define das_log_debug(l, ...) das_log((l), DAS_LOG_DEBUG, __VA_ARGS__)
#define das_log_info(l, ...) das_log((l), DAS_LOG_INFO, __VA_ARGS__)
#define das_log_warning(l, ...) das_log((l), DAS_LOG_WARNING, __VA_ARGS__)
#define das_log_error(l, ...) das_log((l), DAS_LOG_ERROR, __VA_ARGS__)

#endif
