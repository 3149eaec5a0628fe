/* log.c - leveled log lines on a FILE*, each formatted whole and written with one fwrite. */
#include "log.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

struct das_log {
    das_log_level_t level; /* immutable after create */
    FILE *out;
    das_clock_t *clock;
};

static const char *const level_names[] = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"};

das_log_t *das_log_create(das_log_level_t level, FILE *out, das_clock_t *clock)
{
    das_log_t *log = das_xcalloc(1, sizeof *log);
    log->level = level;
    log->out = out;
    log->clock = clock;
    return log;
}

void das_log_destroy(das_log_t *log)
{
    free(log);
}

int das_log_parse_level(const char *name, das_log_level_t *level)
{
    for (int i = 0; i <= DAS_LOG_CRITICAL; i++) {
        if (strcasecmp(name, level_names[i]) == 0) {
            *level = (das_log_level_t)i;
            return 0;
        }
    }
    return AE_EINVAL;
}

int das_log_is_enabled(das_log_t *log, das_log_level_t level)
{
    return level >= log->level;
}

void das_logv(das_log_t *log, das_log_level_t level, const char *fmt, va_list ap)
{
    if (!das_log_is_enabled(log, level))
        return;
    struct timespec ts;
    das_clock_wall(log->clock, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &tm);
    das_buf_t b = {0};
    das_buf_printf(&b, "%-8s %s,%03ld ", level_names[level], stamp, ts.tv_nsec / 1000000);
    das_buf_vprintf(&b, fmt, ap);
    das_buf_puts(&b, "\n");
    fwrite(b.data, 1, b.len, log->out);
    fflush(log->out);
    das_buf_dispose(&b);
}

void das_log(das_log_t *log, das_log_level_t level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    das_logv(log, level, fmt, ap);
    va_end(ap);
}
