/* util.c - allocation that aborts on out-of-memory, das_err_t, growable buffers, string and
 * file helpers shared by the server modules.
 */
#include "util.h"

#include <errno.h>
#include <ftw.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static void oom(size_t n)
{
    fprintf(stderr, "devappserver: out of memory allocating %zu bytes\n", n);
    abort();
}

int das_err_set(das_err_t *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

void *das_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *das_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        oom(n * size);
    return p;
}

void *das_xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

char *das_xstrdup(const char *s)
{
    return das_xstrndup(s, strlen(s));
}

char *das_xstrndup(const char *s, size_t n)
{
    char *p = das_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *das_xasprintf(const char *fmt, ...)
{
    das_buf_t b = {0};
    va_list ap;
    va_start(ap, fmt);
    das_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    return das_buf_steal(&b);
}

/* ---------------------------------------------------------------- buffers */

static void buf_reserve(das_buf_t *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1)
        cap *= 2;
    b->data = das_xrealloc(b->data, cap);
    b->cap = cap;
}

void das_buf_append(das_buf_t *b, const void *data, size_t n)
{
    buf_reserve(b, n);
    if (n)
        memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void das_buf_puts(das_buf_t *b, const char *s)
{
    das_buf_append(b, s, strlen(s));
}

void das_buf_vprintf(das_buf_t *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return;
    buf_reserve(b, (size_t)n);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void das_buf_printf(das_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    das_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

void das_buf_html_escape(das_buf_t *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': das_buf_puts(b, "&lt;"); break;
        case '>': das_buf_puts(b, "&gt;"); break;
        case '&': das_buf_puts(b, "&amp;"); break;
        case '"': das_buf_puts(b, "&quot;"); break;
        case '\'': das_buf_puts(b, "&#39;"); break;
        default: das_buf_append(b, s, 1);
        }
    }
}

void das_buf_reset(das_buf_t *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void das_buf_dispose(das_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

char *das_buf_steal(das_buf_t *b)
{
    char *p = b->data ? b->data : das_xstrdup("");
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

/* ---------------------------------------------------------------- strings */

bool das_str_ieq(const char *a, const char *b)
{
    return strcasecmp(a, b) == 0;
}

bool das_str_has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool das_str_has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

size_t das_str_distance(const char *a, const char *b)
{
    size_t n = strlen(a), m = strlen(b);
    size_t *row = das_xmalloc((m + 1) * sizeof *row);
    for (size_t j = 0; j <= m; j++)
        row[j] = j;
    for (size_t i = 1; i <= n; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= m; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    size_t d = row[m];
    free(row);
    return d;
}

/* ---------------------------------------------------------------- files */

int das_file_read(const char *path, char **data, size_t *len)
{
    /* O_NONBLOCK: opening a FIFO (or a device) must not hang the server. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return -errno;
    struct stat sb;
    int st = fstat(fd, &sb) < 0     ? -errno
             : S_ISREG(sb.st_mode) ? 0
             : S_ISDIR(sb.st_mode) ? -EISDIR
                                   : -EBADF;
    if (st < 0) {
        close(fd);
        return st;
    }
    das_buf_t b = {0};
    char chunk[65536];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int rc = -errno;
            close(fd);
            das_buf_dispose(&b);
            return rc;
        }
        if (n == 0)
            break;
        das_buf_append(&b, chunk, (size_t)n);
    }
    close(fd);
    if (len)
        *len = b.len;
    *data = das_buf_steal(&b);
    return 0;
}

int das_file_write_atomic(const char *path, const void *data, size_t len)
{
    char *tmp = das_xasprintf("%s.tmp.%ld", path, (long)getpid());
    int rc = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = -errno;
        goto out;
    }
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            close(fd);
            unlink(tmp);
            goto out;
        }
        p += n;
        len -= (size_t)n;
    }
    if (close(fd) < 0 || rename(tmp, path) < 0) {
        rc = -errno;
        unlink(tmp);
    }
out:
    free(tmp);
    return rc;
}

int das_mkdirs(const char *path, int mode)
{
    char *p = das_xstrdup(path);
    int rc = 0;
    for (char *s = p + 1;; s++) {
        if (*s == '/' || *s == '\0') {
            char c = *s;
            *s = '\0';
            if (mkdir(p, (mode_t)mode) < 0 && errno != EEXIST) {
                rc = -errno;
                break;
            }
            *s = c;
            if (c == '\0')
                break;
        }
    }
    free(p);
    return rc;
}

static int remove_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    return (type == FTW_DP ? rmdir(path) : unlink(path)) < 0 ? -errno : 0;
}

int das_remove_tree(const char *path)
{
    return nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void das_stay_on_this_cpu(void)
{
    int cpu = sched_getcpu();
    if (cpu < 0)
        return;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    sched_setaffinity(0, sizeof one, &one);
}
