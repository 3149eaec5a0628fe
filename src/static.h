/* static.h - finding the file a static handler serves, without ever leaving APPDIR.
 *
 * The HTTP front end serves static_dir and static_files handlers itself, never through an
 * instance. This module turns a handler's target path into an open file, refusing `..`
 * segments, symlinks that lead outside APPDIR, files matched by skip_files, and anything that
 * is not a regular file. It also guesses MIME types from extensions. Immutable after create
 * but for the small-file cache, which has its own lock.
 */
#ifndef DAS_STATIC_H
#define DAS_STATIC_H

#include <stdint.h>
#include <sys/types.h>

#include "util.h"

typedef struct das_static das_static_t;

typedef struct {
    int fd;            /* open for reading, or -1 (das_static_get: the body was copied out);
                          the caller closes it (or hands it to MHD) */
    uint64_t size;
    int64_t mtime;     /* seconds */
    char etag[64];     /* a quoted strong validator: size and mtime in nanoseconds */
    const char *mime;  /* static string guessed from the extension */
    /* Private: the file's identity, for the small-file cache. */
    uint64_t dev_, ino_;
    int64_t mtime_ns_, ctime_ns_;
    bool cacheable_;   /* opened without following a symlink */
} das_static_file_t;

/* Files up to this size are returned by das_static_get() as bytes (and cached). */
#define DAS_STATIC_SMALL_FILE (64u * 1024)

/* `appdir` must be canonical (realpath); `skip_files` is app.yaml's skip_files regex. */
int das_static_create(const char *appdir, const char *skip_files, das_static_t **out,
                      das_err_t *err);
void das_static_destroy(das_static_t *st);

/* Opens APPDIR/`relpath`. Returns 0 and fills `file`; AE_ENOTFOUND when there is no such file;
 * AE_EINVAL when the path is refused (`..`, outside APPDIR, skip_files, not a regular file);
 * AE_EIO for another I/O error. */
int das_static_open(const das_static_t *st, const char *relpath, das_static_file_t *file);

/* das_static_open() for serving: a file up to DAS_STATIC_SMALL_FILE bytes is appended to
 * `body` and file->fd is -1; a larger one is left open in file->fd. Small files are kept in a
 * cache (up to 32 MB) and served again after one stat() shows the same file (device, inode,
 * size, mtime, ctime) still at that path; the cache never changes what is served, only how
 * fast. A file changed in the last second is not cached: file times are coarse, and a
 * rewrite of the same size within one tick would look unchanged (git's "racy clean" rule).
 * `now_ns` is the wall-clock time (the server's clock). Thread-safe. Same return codes as
 * das_static_open(). */
int das_static_get(das_static_t *st, const char *relpath, das_static_file_t *file,
                   das_buf_t *body, int64_t now_ns);

/* True when `relpath` (relative to APPDIR, no leading slash) matches skip_files. */
bool das_static_is_skipped(const das_static_t *st, const char *relpath);

/* The MIME type for a file name's extension; "application/octet-stream" when unknown. */
const char *das_static_mime_type(const char *name);

#endif
