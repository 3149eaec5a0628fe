/* util.h - small helpers every server module uses: allocation that aborts on OOM, the readable
 * error struct, growable strings, and string helpers.
 */
#ifndef DAS_UTIL_H
#define DAS_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include <appengine/status.h>

/* A status code plus readable detail, filled by the callee, owned by the caller. */
typedef struct {
    int code;
    char msg[1024];
} das_err_t;

/* Sets err->code and formats err->msg; returns `code` so callers can `return das_err_set(...)`.
 * `err` may be NULL. */
int das_err_set(das_err_t *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

void *das_xmalloc(size_t n);
void *das_xcalloc(size_t n, size_t size);
void *das_xrealloc(void *p, size_t n);
char *das_xstrdup(const char *s);
char *das_xstrndup(const char *s, size_t n);
char *das_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A growable byte buffer, always NUL-terminated. Zero-initialise, then das_buf_dispose(). */
typedef struct {
    char *data;
    size_t len;
    size_t cap;
} das_buf_t;

void das_buf_append(das_buf_t *b, const void *data, size_t n);
void das_buf_puts(das_buf_t *b, const char *s);
void das_buf_printf(das_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void das_buf_vprintf(das_buf_t *b, const char *fmt, va_list ap);
/* Appends `s` with <, >, &, " and ' written as HTML entities. */
void das_buf_html_escape(das_buf_t *b, const char *s);
void das_buf_reset(das_buf_t *b);
void das_buf_dispose(das_buf_t *b);
/* Hands the bytes to the caller (free() them) and leaves `b` empty. */
char *das_buf_steal(das_buf_t *b);

bool das_str_ieq(const char *a, const char *b);
bool das_str_has_prefix(const char *s, const char *prefix);
bool das_str_has_suffix(const char *s, const char *suffix);
/* Levenshtein distance, for "did you mean" suggestions. */
size_t das_str_distance(const char *a, const char *b);

/* Reads a whole regular file into a malloc'd, NUL-terminated buffer. Never blocks on opening
 * it. Returns 0 or -errno (-EISDIR for a directory, -EBADF for anything else that is not a
 * regular file: a FIFO, a device, a socket). */
int das_file_read(const char *path, char **data, size_t *len);
/* Writes `len` bytes to `path` atomically (a temporary file renamed over it). 0 or -errno. */
int das_file_write_atomic(const char *path, const void *data, size_t len);
/* mkdir -p. Returns 0 or -errno. */
int das_mkdirs(const char *path, int mode);
/* Removes `path` and everything under it (not following symbolic links). 0 or -errno. */
int das_remove_tree(const char *path);

/* Keeps the calling thread, and the threads it starts from now on, on the CPU it runs on: for
 * threads that hand one baton around, where a hand-over on the same CPU is a switch and not
 * a wake-up of another CPU. Best effort. */
void das_stay_on_this_cpu(void);

#endif
