/* fuzz_static.c - static file resolution (src/static.h) on arbitrary relative paths.
 *
 * A scratch directory made once holds outside/secret.txt and two copies of an APPDIR: a few
 * files (each starting "INSIDE"), a subdirectory, a file over DAS_STATIC_SMALL_FILE (served as
 * an open fd), files skip_files excludes (holding "SKIPPED"), a FIFO, and symlinks: to a file
 * inside (relative and absolute), to a skipped file, a loop, one to APPDIR itself, and four
 * that lead outside (relative, absolute, to a file, to a directory, to "/"). The first copy is
 * served the usual way (openat2 with RESOLVE_BENEATH); the second by a das_static_t created
 * before its directory existed, which therefore takes the fallback of kernels without openat2
 * (realpath() and a prefix check).
 *
 * The input, NUL-terminated, is the relative path given to das_static_open() and then to
 * das_static_get() (whose small-file cache is kept across inputs), on each copy. Whenever a
 * file is served: the open fd's file, resolved with realpath() through /proc/self/fd/N, must
 * be a regular file inside that APPDIR which skip_files does not exclude, and what is read
 * from it (or what das_static_get() copied out) must be an inside file's bytes, never OUTSIDE
 * or SKIPPED. das_static_open() and das_static_get() must give the same answer.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h" /* DAS_CONFIG_DEFAULT_SKIP_FILES */
#include "fuzz_util.h"
#include "static.h"

/* One APPDIR, and how it is served. */
typedef struct {
    char dir[PATH_MAX];
    size_t len;
    das_static_t *st;
} tree_t;

/* `beneath` opens with openat2(RESOLVE_BENEATH); `fallback` is created before its directory
 * exists, so that it has no directory fd and takes the path older kernels take (realpath()
 * and a prefix check). */
static tree_t beneath, fallback;
static char outside[PATH_MAX];

static void put(const tree_t *t, const char *rel, const char *text)
{
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/%s", t->dir, rel);
    fuzz_write_file(p, text, strlen(text));
}

static void sub_dir(const tree_t *t, const char *rel)
{
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/%s", t->dir, rel);
    if (mkdir(p, 0755) < 0) {
        perror(p);
        abort();
    }
}

static void link_to(const tree_t *t, const char *target, const char *rel)
{
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/%s", t->dir, rel);
    if (symlink(target, p) < 0) {
        perror(p);
        abort();
    }
}

static void make_tree(tree_t *t)
{
    char p[PATH_MAX + 64];
    sub_dir(t, "");
    sub_dir(t, "static");
    sub_dir(t, "static/sub");
    sub_dir(t, ".git");
    put(t, "index.html", "INSIDE index\n");
    put(t, "static/a.txt", "INSIDE a\n");
    put(t, "static/sub/b.css", "INSIDE b\n");
    put(t, "static/.hidden", "SKIPPED hidden\n");
    put(t, "static/notes.txt~", "SKIPPED backup\n");
    put(t, ".git/config", "SKIPPED git\n");
    /* Bigger than DAS_STATIC_SMALL_FILE: das_static_get() hands out an fd. */
    size_t big_len = DAS_STATIC_SMALL_FILE + 4096;
    char *big = malloc(big_len + 1);
    memset(big, 'I', big_len);
    memcpy(big, "INSIDE big", 10);
    big[big_len] = '\0';
    put(t, "static/big.bin", big);
    free(big);
    snprintf(p, sizeof p, "%s/fifo", t->dir);
    if (mkfifo(p, 0644) < 0) {
        perror(p);
        abort();
    }
    link_to(t, "static/a.txt", "link-in");
    link_to(t, "../.git/config", "static/link-skipped");
    link_to(t, "link-loop", "link-loop");
    link_to(t, "..", "static/up");
    link_to(t, "../outside/secret.txt", "link-out");
    link_to(t, "../../outside", "static/link-dir-out");
    snprintf(p, sizeof p, "%s/secret.txt", outside);
    link_to(t, p, "link-abs");
    snprintf(p, sizeof p, "%s/index.html", t->dir);
    link_to(t, p, "link-abs-in");
    link_to(t, "/", "link-root");
}

static void create(tree_t *t)
{
    das_err_t err = {0};
    if (das_static_create(t->dir, DAS_CONFIG_DEFAULT_SKIP_FILES, &t->st, &err) < 0) {
        fprintf(stderr, "das_static_create: %s\n", err.msg);
        abort();
    }
}

static void setup(void)
{
    const char *dir = fuzz_scratch_dir("static");
    snprintf(outside, sizeof outside, "%s/outside", dir);
    if (mkdir(outside, 0755) < 0) {
        perror(outside);
        abort();
    }
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/secret.txt", outside);
    fuzz_write_file(p, "OUTSIDE secret\n", 15);

    snprintf(beneath.dir, sizeof beneath.dir, "%s/app", dir);
    beneath.len = strlen(beneath.dir);
    make_tree(&beneath);
    create(&beneath);

    snprintf(fallback.dir, sizeof fallback.dir, "%s/app-fallback", dir);
    fallback.len = strlen(fallback.dir);
    create(&fallback); /* before the directory exists: no directory fd */
    make_tree(&fallback);
}

/* What was served is an inside file's bytes. */
static void check_bytes(const char *data, size_t len)
{
    FUZZ_CHECK(len >= 6 && memcmp(data, "INSIDE", 6) == 0);
    FUZZ_CHECK(!memmem(data, len, "OUTSIDE", 7) && !memmem(data, len, "SKIPPED", 7));
}

/* The open `fd` is a regular file inside APPDIR that skip_files does not exclude. */
static void check_fd(const tree_t *t, int fd, uint64_t size)
{
    FUZZ_CHECK(fd >= 0);
    char link[64], real[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    FUZZ_CHECK(realpath(link, real) != NULL);
    FUZZ_CHECK(strncmp(real, t->dir, t->len) == 0 && real[t->len] == '/');
    FUZZ_CHECK(!das_static_is_skipped(t->st, real + t->len + 1));
    struct stat sb;
    FUZZ_CHECK(fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode));
    FUZZ_CHECK((uint64_t)sb.st_size == size);
    char head[64];
    ssize_t n = pread(fd, head, sizeof head, 0);
    FUZZ_CHECK(n > 0);
    check_bytes(head, (size_t)n);
}

static void check_rc(int rc)
{
    FUZZ_CHECK(rc == 0 || rc == AE_ENOTFOUND || rc == AE_EINVAL || rc == AE_EIO);
}

static void fuzz_tree(const tree_t *t, const char *rel)
{
    das_static_file_t f;
    int rc_open = das_static_open(t->st, rel, &f);
    check_rc(rc_open);
    if (getenv("FUZZ_VERBOSE"))
        fprintf(stderr, "das_static_open(%s, \"%s\"): %d\n", t->dir, rel, rc_open);
    if (rc_open == 0) {
        check_fd(t, f.fd, f.size);
        FUZZ_CHECK(f.mime != NULL);
        close(f.fd);
    } else {
        FUZZ_CHECK(f.fd == -1);
    }

    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t now_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec + 10 * 1000000000LL;
    das_buf_t body = {0};
    das_static_file_t g;
    int rc_get = das_static_get(t->st, rel, &g, &body, now_ns);
    check_rc(rc_get);
    FUZZ_CHECK(rc_get == rc_open);
    if (rc_get == 0) {
        if (g.fd >= 0) {
            FUZZ_CHECK(g.size > DAS_STATIC_SMALL_FILE);
            check_fd(t, g.fd, g.size);
            close(g.fd);
        } else {
            FUZZ_CHECK(body.len == g.size);
            check_bytes(body.data, body.len);
        }
    }
    das_buf_dispose(&body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!beneath.st)
        setup();
    char *rel = fuzz_cstr(data, size);
    fuzz_tree(&beneath, rel);
    fuzz_tree(&fallback, rel);
    free(rel);
    return 0;
}
