/* log.c - leveled log lines on a FILE*, each formatted whole and written with one fwrite.
 *
 * Messages carry what clients and apps sent (request targets, headers, emails, app log lines):
 * every control byte in a message is written as \xNN, so nobody can send escape sequences to
 * the developer's terminal or forge a log line with a newline. */
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

static bool is_control(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

/* Whether the bytes at `p` (of `left`) begin a C1 control in UTF-8 (U+0080..U+009F, such as
 * CSI, which terminals act on as ESC [ is). */
static bool is_c1(const unsigned char *p, size_t left)
{
    return left >= 2 && p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f;
}

/* Rewrites the bytes of `b` from `start` on with each control byte (and each byte of a UTF-8
 * C1 control) as \xNN. */
static void escape_controls(das_buf_t *b, size_t start)
{
    const unsigned char *d = (const unsigned char *)b->data;
    size_t n = 0;
    for (size_t i = start; i < b->len; i++)
        n += is_control(d[i]) || is_c1(d + i, b->len - i);
    if (!n)
        return;
    das_buf_t e = {0};
    das_buf_append(&e, b->data, start);
    for (size_t i = start; i < b->len; i++) {
        if (is_c1(d + i, b->len - i)) {
            das_buf_printf(&e, "\\x%02x\\x%02x", d[i], d[i + 1]);
            i++;
        } else if (is_control(d[i])) {
            das_buf_printf(&e, "\\x%02x", d[i]);
        } else {
            das_buf_append(&e, &b->data[i], 1);
        }
    }
    das_buf_dispose(b);
    *b = e;
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
    size_t start = b.len;
    das_buf_vprintf(&b, fmt, ap);
    escape_controls(&b, start);
    das_buf_puts(&b, "\n");
    fwrite(b.data, 1, b.len, log->out);
    fflush(log->out);
    das_buf_dispose(&b);
}

void das_log_text(das_log_t *log, das_log_level_t level, const char *intro, const char *text)
{
    if (!das_log_is_enabled(log, level))
        return;
    das_log(log, level, "%s", intro);
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        das_log(log, level, "  %.*s", (int)n, p);
        p += n + (nl ? 1 : 0);
    }
}

void das_log(das_log_t *log, das_log_level_t level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    das_logv(log, level, fmt, ap);
    va_end(ap);
}
