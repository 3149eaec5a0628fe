/* static.h - finding the file a static handler serves, without ever leaving APPDIR.
 *
 * The HTTP front end serves static_dir and static_files handlers itself, never through an
 * instance. This module turns a handler's target path into an open file, refusing `..`
 * segments, symlinks that lead outside APPDIR, files matched by skip_files, and anything that
 * is not a regular file. It also guesses MIME types from extensions. Immutable after create.
 */
#ifndef DAS_STATIC_H
#define DAS_STATIC_H

#include <stdint.h>
#include <sys/types.h>

#include "util.h"

typedef struct das_static das_static_t;

typedef struct {
    int fd;            /* open for reading; the caller closes it (or hands it to MHD) */
    uint64_t size;
    int64_t mtime;     /* seconds */
    char etag[64];     /* a quoted strong validator: size and mtime in nanoseconds */
    const char *mime;  /* static string guessed from the extension */
} das_static_file_t;

/* `appdir` must be canonical (realpath); `skip_files` is app.yaml's skip_files regex. */
int das_static_create(const char *appdir, const char *skip_files, das_static_t **out,
                      das_err_t *err);
void das_static_destroy(das_static_t *st);

/* Opens APPDIR/`relpath`. Returns 0 and fills `file`; AE_ENOTFOUND when there is no such file;
 * AE_EINVAL when the path is refused (`..`, outside APPDIR, skip_files, not a regular file);
 * AE_EIO for another I/O error. */
int das_static_open(const das_static_t *st, const char *relpath, das_static_file_t *file);

/* True when `relpath` (relative to APPDIR, no leading slash) matches skip_files. */
bool das_static_is_skipped(const das_static_t *st, const char *relpath);

/* The MIME type for a file name's extension; "application/octet-stream" when unknown. */
const char *das_static_mime_type(const char *name);

#endif
