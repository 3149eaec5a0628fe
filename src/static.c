/* static.c - safe resolution of static files under APPDIR, skip_files, and MIME types.
 *
 * Files are opened with openat2(RESOLVE_BENEATH) relative to an open APPDIR, so the kernel
 * itself refuses ".." and symlinks that lead out, in one system call; older kernels fall back
 * to realpath() and a prefix check.
 */
#include "static.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <uthash.h>
#include <linux/openat2.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "httptext.h"
#include "regex.h"

#define CACHE_MAX_BYTES (32u * 1024 * 1024)

/* A small file's bytes, keyed by its normalized path, valid while its identity holds. */
typedef struct cache_entry {
    char *rel;
    das_static_file_t meta; /* fd unused */
    char *data;
    UT_hash_handle hh;
} cache_entry_t;

struct das_static {
    char *appdir; /* canonical, no trailing slash */
    size_t appdir_len;
    int dirfd;    /* APPDIR, for openat2(RESOLVE_BENEATH); -1 when it could not be opened */
    pcre2_code *skip;
    pthread_rwlock_t cache_lock;
    cache_entry_t *cache;  /* guarded by cache_lock */
    size_t cache_bytes;    /* guarded by cache_lock */
};

static const struct {
    const char *ext;
    const char *mime;
} mime_types[] = {
    {"html", "text/html"}, {"htm", "text/html"}, {"css", "text/css"},
    {"js", "text/javascript"}, {"mjs", "text/javascript"}, {"json", "application/json"},
    {"txt", "text/plain"}, {"xml", "application/xml"}, {"csv", "text/csv"},
    {"md", "text/markdown"}, {"png", "image/png"}, {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"}, {"gif", "image/gif"}, {"svg", "image/svg+xml"},
    {"ico", "image/x-icon"}, {"webp", "image/webp"}, {"avif", "image/avif"},
    {"bmp", "image/bmp"}, {"woff", "font/woff"}, {"woff2", "font/woff2"},
    {"ttf", "font/ttf"}, {"otf", "font/otf"}, {"pdf", "application/pdf"},
    {"zip", "application/zip"}, {"gz", "application/gzip"}, {"wasm", "application/wasm"},
    {"mp3", "audio/mpeg"}, {"ogg", "audio/ogg"}, {"wav", "audio/wav"},
    {"mp4", "video/mp4"}, {"webm", "video/webm"}, {"map", "application/json"},
    {"webmanifest", "application/manifest+json"}, {"c", "text/x-c"}, {"h", "text/x-c"},
};

int das_static_create(const char *appdir, const char *skip_files, das_static_t **out,
                      das_err_t *err)
{
    das_static_t *st = das_xcalloc(1, sizeof *st);
    st->appdir = das_xstrdup(appdir);
    st->appdir_len = strlen(appdir);
    while (st->appdir_len > 1 && st->appdir[st->appdir_len - 1] == '/')
        st->appdir[--st->appdir_len] = '\0';
    st->dirfd = open(st->appdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    pthread_rwlock_init(&st->cache_lock, NULL);
    int code;
    PCRE2_SIZE off;
    st->skip = pcre2_compile((PCRE2_SPTR)skip_files, PCRE2_ZERO_TERMINATED, 0, &code, &off, NULL);
    if (!st->skip) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        das_err_set(err, AE_EINVAL, "invalid skip_files '%s': %s", skip_files, (char *)msg);
        das_static_destroy(st);
        return AE_EINVAL;
    }
    *out = st;
    return 0;
}

void das_static_destroy(das_static_t *st)
{
    if (!st)
        return;
    pcre2_code_free(st->skip);
    if (st->dirfd >= 0)
        close(st->dirfd);
    cache_entry_t *e, *tmp;
    HASH_ITER(hh, st->cache, e, tmp) {
        HASH_DEL(st->cache, e);
        free(e->rel);
        free(e->data);
        free(e);
    }
    pthread_rwlock_destroy(&st->cache_lock);
    free(st->appdir);
    free(st);
}

bool das_static_is_skipped(const das_static_t *st, const char *relpath)
{
    pcre2_match_data *md = das_regex_thread_match_data();
    return pcre2_match(st->skip, (PCRE2_SPTR)relpath, strlen(relpath), 0, 0, md, NULL) >= 0;
}

const char *das_static_mime_type(const char *name)
{
    const char *slash = strrchr(name, '/');
    const char *dot = strrchr(slash ? slash : name, '.');
    if (dot) {
        for (size_t i = 0; i < sizeof mime_types / sizeof mime_types[0]; i++)
            if (strcasecmp(dot + 1, mime_types[i].ext) == 0)
                return mime_types[i].mime;
    }
    return "application/octet-stream";
}

static int64_t ts_ns(const struct timespec *ts)
{
    return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

/* Rewrites `rel` in place into a clean relative path without "." segments. Returns false for
 * a path the platform would not serve: one with a ".." segment (whatever it would resolve to),
 * an empty segment ("static//a.txt", a trailing '/') or a leading '/'. */
static bool normalize(char *rel)
{
    return rel[0] != '/' &&
           !(das_path_normalize(rel, true) & (DAS_PATH_HAD_DOTDOT | DAS_PATH_HAD_EMPTY));
}

/* Opens `rel` below APPDIR in one system call; the kernel refuses any path that would leave
 * APPDIR, through ".." or a symlink (RESOLVE_BENEATH). Returns an fd, or -errno (-ENOSYS on
 * kernels older than 5.6, -EXDEV for an escape). */
static int open_beneath(const das_static_t *st, const char *rel, bool follow_symlinks)
{
    if (st->dirfd < 0)
        return -ENOSYS;
    /* O_NONBLOCK: a FIFO must not block the open (it then fails the regular-file check). */
    struct open_how how = {.flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK,
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS |
                                      (follow_symlinks ? 0 : RESOLVE_NO_SYMLINKS)};
    long fd = syscall(SYS_openat2, st->dirfd, rel, &how, sizeof how);
    return fd < 0 ? -errno : (int)fd;
}

/* The same, for kernels without openat2: resolve with realpath() and check the prefix. */
static int open_checked(const das_static_t *st, const char *rel)
{
    char *joined = das_xasprintf("%s/%s", st->appdir, rel);
    char real[PATH_MAX];
    int fd;
    if (!realpath(joined, real))
        fd = -errno;
    else if (strncmp(real, st->appdir, st->appdir_len) != 0 || real[st->appdir_len] != '/')
        fd = -EXDEV;
    else if ((fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)) < 0)
        fd = -errno;
    free(joined);
    return fd;
}

/* True when the file open as `fd` is, once symlinks are resolved, one skip_files excludes. */
static bool resolves_to_skipped(const das_static_t *st, int fd)
{
    char link[64], real[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, real, sizeof real - 1);
    if (n <= 0)
        return false; /* no /proc: the unresolved path was checked already */
    real[n] = '\0';
    if ((size_t)n <= st->appdir_len + 1 || strncmp(real, st->appdir, st->appdir_len) != 0 ||
        real[st->appdir_len] != '/')
        return true; /* cannot happen after the checks above; refuse if it does */
    return das_static_is_skipped(st, real + st->appdir_len + 1);
}

int das_static_open(const das_static_t *st, const char *relpath, das_static_file_t *file)
{
    memset(file, 0, sizeof *file);
    file->fd = -1;
    char small[512];
    size_t len = strlen(relpath);
    char *rel = len < sizeof small ? memcpy(small, relpath, len + 1) : das_xstrdup(relpath);
    int rc = 0;
    if (!normalize(rel) || rel[0] == '\0' || das_static_is_skipped(st, rel)) {
        rc = AE_EINVAL;
        goto out;
    }
    /* Most paths have no symlink: one openat2() serves them. A path with one is opened again
     * following symlinks (still beneath APPDIR), and its target is checked against skip_files
     * (a link to .git/config, say). */
    bool via_symlink = false;
    int fd = open_beneath(st, rel, false);
    if (fd == -ELOOP) {
        fd = open_beneath(st, rel, true);
        via_symlink = true;
    } else if (fd == -ENOSYS) {
        fd = open_checked(st, rel);
        via_symlink = true;
    }
    if (fd < 0) {
        rc = fd == -ENOENT || fd == -ENOTDIR ? AE_ENOTFOUND
             : fd == -EXDEV || fd == -ELOOP  ? AE_EINVAL
                                             : AE_EIO;
        goto out;
    }
    struct stat sb;
    if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) ||
        (via_symlink && resolves_to_skipped(st, fd))) {
        close(fd);
        rc = AE_EINVAL;
        goto out;
    }
    file->fd = fd;
    file->size = (uint64_t)sb.st_size;
    file->mtime = sb.st_mtim.tv_sec;
    file->dev_ = (uint64_t)sb.st_dev;
    file->ino_ = (uint64_t)sb.st_ino;
    file->mtime_ns_ = ts_ns(&sb.st_mtim);
    file->ctime_ns_ = ts_ns(&sb.st_ctim);
    file->cacheable_ = !via_symlink;
    snprintf(file->etag, sizeof file->etag, "\"%llx-%llx\"", (unsigned long long)sb.st_size,
             (unsigned long long)file->mtime_ns_);
    file->mime = das_static_mime_type(rel);
out:
    if (rel != small)
        free(rel);
    return rc;
}

/* ---------------------------------------------------------------- small-file cache */

static bool same_file(const das_static_file_t *m, const struct stat *sb)
{
    return m->dev_ == (uint64_t)sb->st_dev && m->ino_ == (uint64_t)sb->st_ino &&
           m->size == (uint64_t)sb->st_size &&
           m->mtime_ns_ == ts_ns(&sb->st_mtim) && m->ctime_ns_ == ts_ns(&sb->st_ctim);
}

/* Reads exactly `size` bytes; false if the file is not that long any more. */
static bool read_exactly(int fd, char *dst, size_t size)
{
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, dst + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        got += (size_t)n;
    }
    return true;
}

/* Serves `rel` (normalized, already checked against skip_files) from the cache when one stat
 * shows the cached file is still the one at that path. */
static bool cache_hit(das_static_t *st, const char *rel, das_static_file_t *file, das_buf_t *body)
{
    struct stat sb;
    if (st->dirfd < 0 || fstatat(st->dirfd, rel, &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
        !S_ISREG(sb.st_mode))
        return false;
    bool hit = false;
    pthread_rwlock_rdlock(&st->cache_lock);
    cache_entry_t *e;
    HASH_FIND_STR(st->cache, rel, e);
    if (e && same_file(&e->meta, &sb)) {
        *file = e->meta;
        das_buf_append(body, e->data, e->meta.size);
        hit = true;
    }
    pthread_rwlock_unlock(&st->cache_lock);
    return hit;
}

static void cache_put(das_static_t *st, const char *rel, const das_static_file_t *file,
                      const char *data)
{
    pthread_rwlock_wrlock(&st->cache_lock);
    cache_entry_t *old;
    HASH_FIND_STR(st->cache, rel, old);
    if (old) { /* a stale version: replace it */
        HASH_DEL(st->cache, old);
        st->cache_bytes -= old->meta.size;
        free(old->rel);
        free(old->data);
        free(old);
    }
    if (st->cache_bytes + file->size <= CACHE_MAX_BYTES) {
        cache_entry_t *e = das_xcalloc(1, sizeof *e);
        e->rel = das_xstrdup(rel);
        e->meta = *file;
        e->meta.fd = -1;
        e->data = das_xmalloc(file->size + 1);
        memcpy(e->data, data, file->size);
        HASH_ADD_KEYPTR(hh, st->cache, e->rel, strlen(e->rel), e);
        st->cache_bytes += file->size;
    }
    pthread_rwlock_unlock(&st->cache_lock);
}

int das_static_get(das_static_t *st, const char *relpath, das_static_file_t *file,
                   das_buf_t *body, int64_t now_ns)
{
    char small[512];
    size_t len = strlen(relpath);
    char *rel = len < sizeof small ? memcpy(small, relpath, len + 1) : das_xstrdup(relpath);
    int rc = 0;
    if (normalize(rel) && rel[0] != '\0' && !das_static_is_skipped(st, rel) &&
        cache_hit(st, rel, file, body))
        goto out;
    rc = das_static_open(st, relpath, file);
    if (rc < 0 || file->size > DAS_STATIC_SMALL_FILE)
        goto out;
    size_t start = body->len;
    das_buf_append(body, "", 0);
    body->data = das_xrealloc(body->data, start + file->size + 1);
    body->cap = start + file->size + 1;
    if (!read_exactly(file->fd, body->data + start, file->size)) {
        /* It changed while we read: send it with sendfile() at the size it has now. */
        body->data[start] = '\0';
        struct stat sb;
        if (fstat(file->fd, &sb) < 0) {
            close(file->fd);
            file->fd = -1;
            rc = AE_EIO;
        } else {
            file->size = (uint64_t)sb.st_size;
            file->cacheable_ = false;
        }
        goto out;
    }
    body->len = start + file->size;
    body->data[body->len] = '\0';
    int64_t changed = file->mtime_ns_ > file->ctime_ns_ ? file->mtime_ns_ : file->ctime_ns_;
    if (file->cacheable_ && now_ns - changed > 1000000000)
        cache_put(st, rel, file, body->data + start);
    close(file->fd);
    file->fd = -1;
out:
    if (rel != small)
        free(rel);
    return rc;
}
