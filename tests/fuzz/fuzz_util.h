/* fuzz_util.h - what the fuzz targets share: a check that reports and abort()s (libFuzzer
 * then saves the input as a crash), a NUL-terminated copy of the input, and a scratch
 * directory under $TMPDIR that is removed at exit.
 */
#ifndef DAS_FUZZ_UTIL_H
#define DAS_FUZZ_UTIL_H

#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* abort()s with the condition and where it failed when `cond` is false. */
#define FUZZ_CHECK(cond)                                                                       \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__, #cond);     \
            abort();                                                                           \
        }                                                                                      \
    } while (0)

/* A malloc'd copy of the input with a NUL after it (the input may hold NULs of its own). */
static inline char *fuzz_cstr(const unsigned char *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* The input as a file, for code that reads a path: an anonymous memory file holding it, named
 * by /proc/self/fd/N in `path`. Returns its descriptor (close it when done), or -1. */
static inline int fuzz_memfile(const unsigned char *data, size_t size, char path[64])
{
    int fd = memfd_create("fuzz", 0);
    if (fd < 0)
        return -1;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return -1;
    }
    snprintf(path, 64, "/proc/self/fd/%d", fd);
    return fd;
}

/* True when the `n` bytes at `p` lie within [base, base + size] (the end included: an empty
 * span may point just past the input). */
static inline int fuzz_within(const void *p, size_t n, const void *base, size_t size)
{
    uintptr_t a = (uintptr_t)p, b = (uintptr_t)base;
    return a >= b && a - b <= size && n <= size - (a - b);
}

static char fuzz_tmp_dir[4096];

static int fuzz_rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void fuzz_rm_tmp(void)
{
    if (fuzz_tmp_dir[0])
        nftw(fuzz_tmp_dir, fuzz_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Creates (once per process) a fresh directory under $TMPDIR (or /tmp), removed at exit, and
 * returns its canonical path. */
static inline const char *fuzz_scratch_dir(const char *tag)
{
    if (fuzz_tmp_dir[0])
        return fuzz_tmp_dir;
    const char *tmp = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/das-fuzz-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", tag);
    if (!mkdtemp(tmpl) || !realpath(tmpl, fuzz_tmp_dir)) {
        perror("fuzz: cannot create a scratch directory");
        abort();
    }
    atexit(fuzz_rm_tmp);
    return fuzz_tmp_dir;
}

/* Writes `len` bytes to `path` (truncating it); abort()s on failure. */
static inline void fuzz_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || (len && fwrite(data, 1, len, f) != len) || fclose(f) != 0) {
        perror(path);
        abort();
    }
}

#endif
