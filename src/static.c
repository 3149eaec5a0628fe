/* static.c - safe resolution of static files under APPDIR, skip_files, and MIME types. */
#include "static.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

struct das_static {
    char *appdir; /* canonical, no trailing slash */
    size_t appdir_len;
    pcre2_code *skip;
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
    free(st->appdir);
    free(st);
}

bool das_static_is_skipped(const das_static_t *st, const char *relpath)
{
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    int rc = pcre2_match(st->skip, (PCRE2_SPTR)relpath, strlen(relpath), 0, 0, md, NULL);
    pcre2_match_data_free(md);
    return rc >= 0;
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

/* Rewrites `rel` in place into a clean relative path: no empty or "." segments. Returns false
 * when a segment is ".." (never allowed, whatever it would resolve to). */
static bool normalize(char *rel)
{
    char *w = rel;
    for (char *seg = rel; *seg;) {
        char *end = strchr(seg, '/');
        size_t n = end ? (size_t)(end - seg) : strlen(seg);
        if (n == 2 && seg[0] == '.' && seg[1] == '.')
            return false;
        if (n > 0 && !(n == 1 && seg[0] == '.')) {
            if (w != rel)
                *w++ = '/';
            memmove(w, seg, n);
            w += n;
        }
        seg += n;
        if (*seg == '/')
            seg++;
    }
    *w = '\0';
    return true;
}

int das_static_open(const das_static_t *st, const char *relpath, das_static_file_t *file)
{
    memset(file, 0, sizeof *file);
    file->fd = -1;
    char *rel = das_xstrdup(relpath);
    int rc = 0;
    char *joined = NULL;
    char real[PATH_MAX];
    if (!normalize(rel) || rel[0] == '\0' || das_static_is_skipped(st, rel)) {
        rc = AE_EINVAL;
        goto out;
    }
    joined = das_xasprintf("%s/%s", st->appdir, rel);
    if (!realpath(joined, real)) {
        rc = errno == ENOENT || errno == ENOTDIR ? AE_ENOTFOUND : AE_EIO;
        goto out;
    }
    /* Symlinks may point anywhere inside APPDIR, never outside it. */
    if (strncmp(real, st->appdir, st->appdir_len) != 0 || real[st->appdir_len] != '/' ||
        das_static_is_skipped(st, real + st->appdir_len + 1)) {
        rc = AE_EINVAL;
        goto out;
    }
    int fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        rc = errno == ENOENT ? AE_ENOTFOUND : AE_EIO;
        goto out;
    }
    struct stat sb;
    if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        rc = AE_EINVAL;
        goto out;
    }
    file->fd = fd;
    file->size = (uint64_t)sb.st_size;
    file->mtime = sb.st_mtim.tv_sec;
    snprintf(file->etag, sizeof file->etag, "\"%llx-%llx\"", (unsigned long long)sb.st_size,
             (unsigned long long)sb.st_mtim.tv_sec * 1000000000ull +
                 (unsigned long long)sb.st_mtim.tv_nsec);
    file->mime = das_static_mime_type(rel);
out:
    free(joined);
    free(rel);
    return rc;
}
