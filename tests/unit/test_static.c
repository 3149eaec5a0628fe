/* test_static.c - static files never come from outside APPDIR: `..`, symlinks out, skip_files
 * and non-regular files are refused; MIME types and ETags are right. */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "config.h"
#include "static.h"

static char dir[64], real[PATH_MAX];

static das_static_t *setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/das-static-XXXXXX");
    if (!mkdtemp(dir) || !realpath(dir, real))
        return NULL;
    char p[PATH_MAX + 64];
    snprintf(p, sizeof p, "%s/pub", real);
    mkdir(p, 0755);
    const char *files[] = {"pub/a.css", "pub/.secret", "pub/b.txt~", "app.yaml", NULL};
    for (int i = 0; files[i]; i++) {
        snprintf(p, sizeof p, "%s/%s", real, files[i]);
        FILE *f = fopen(p, "w");
        fputs("body{}", f);
        fclose(f);
    }
    snprintf(p, sizeof p, "%s/pub/out", real);
    if (symlink("/etc/passwd", p) < 0)
        return NULL;
    snprintf(p, sizeof p, "%s/pub/in.css", real);
    if (symlink("a.css", p) < 0)
        return NULL;
    snprintf(p, sizeof p, "%s/pub/to-secret.txt", real);
    if (symlink(".secret", p) < 0)
        return NULL;
    snprintf(p, sizeof p, "%s/pub/up.css", real);
    if (symlink("../pub/a.css", p) < 0)
        return NULL;
    das_static_t *st;
    das_err_t err;
    if (das_static_create(real, DAS_CONFIG_DEFAULT_SKIP_FILES, &st, &err) < 0)
        return NULL;
    return st;
}

static void teardown(das_static_t *st)
{
    das_static_destroy(st);
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf %s", real);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", real);
}

TEST(test_static_serves_a_file_with_mime_and_etag)
{
    das_static_t *st = setup();
    CHECK(st);
    das_static_file_t f;
    CHECK_OK(das_static_open(st, "pub/a.css", &f));
    CHECK_EQ(f.size, 6);
    CHECK_STR_EQ(f.mime, "text/css");
    CHECK(f.etag[0] == '"');
    char buf[8] = {0};
    CHECK_EQ(read(f.fd, buf, sizeof buf), 6);
    close(f.fd);
    /* "." segments are harmless; redundant separators are not (404 on the platform), nor is a
     * leading '/' (a static_files target of "\1" for a request to //pub/a.css). */
    CHECK_OK(das_static_open(st, "pub/./a.css", &f));
    close(f.fd);
    CHECK_EQ(das_static_open(st, "pub//a.css", &f), AE_EINVAL);
    CHECK_EQ(das_static_open(st, "pub/a.css/", &f), AE_EINVAL);
    CHECK_EQ(das_static_open(st, "/pub/a.css", &f), AE_EINVAL);
    CHECK_EQ(das_static_open(st, "//pub/a.css", &f), AE_EINVAL);
    teardown(st);
}

TEST(test_static_refuses_dot_dot_anywhere)
{
    das_static_t *st = setup();
    CHECK(st);
    das_static_file_t f;
    CHECK_EQ(das_static_open(st, "pub/../app.yaml", &f), AE_EINVAL);
    CHECK_EQ(das_static_open(st, "../etc/passwd", &f), AE_EINVAL);
    CHECK_EQ(das_static_open(st, "pub/..", &f), AE_EINVAL);
    teardown(st);
}

TEST(test_static_refuses_symlinks_out_of_appdir_but_follows_those_inside)
{
    das_static_t *st = setup();
    CHECK(st);
    das_static_file_t f;
    CHECK_EQ(das_static_open(st, "pub/out", &f), AE_EINVAL);
    CHECK_OK(das_static_open(st, "pub/in.css", &f));
    close(f.fd);
    /* A link that climbs with ".." but stays inside APPDIR is fine. */
    CHECK_OK(das_static_open(st, "pub/up.css", &f));
    close(f.fd);
    /* A link to a file skip_files hides is refused like the file itself. */
    CHECK_EQ(das_static_open(st, "pub/to-secret.txt", &f), AE_EINVAL);
    teardown(st);
}

TEST(test_static_refuses_skip_files_and_directories)
{
    das_static_t *st = setup();
    CHECK(st);
    das_static_file_t f;
    CHECK_EQ(das_static_open(st, "pub/.secret", &f), AE_EINVAL);
    CHECK_EQ(das_static_open(st, "pub/b.txt~", &f), AE_EINVAL);
    CHECK_EQ(das_static_open(st, "pub", &f), AE_EINVAL);
    CHECK_EQ(das_static_open(st, "pub/missing.css", &f), AE_ENOTFOUND);
    CHECK(das_static_is_skipped(st, ".git/config"));
    CHECK(!das_static_is_skipped(st, "pub/a.css"));
    teardown(st);
}

TEST(test_static_mime_types_by_extension)
{
    CHECK_STR_EQ(das_static_mime_type("x/index.HTML"), "text/html");
    CHECK_STR_EQ(das_static_mime_type("a.png"), "image/png");
    CHECK_STR_EQ(das_static_mime_type("a.js"), "text/javascript");
    CHECK_STR_EQ(das_static_mime_type("noext"), "application/octet-stream");
    CHECK_STR_EQ(das_static_mime_type("dir.d/noext"), "application/octet-stream");
}

TEST(test_static_get_serves_small_files_as_bytes_and_notices_changes)
{
    das_static_t *st = setup();
    CHECK(st);
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/pub/c.txt", real);
    FILE *f = fopen(path, "w");
    fputs("first", f);
    fclose(f);
    /* Far in the future, so the file counts as settled and is cached. */
    int64_t later = (int64_t)4102444800 * 1000000000;
    das_static_file_t file;
    das_buf_t body = {0};
    CHECK_OK(das_static_get(st, "pub/c.txt", &file, &body, later));
    CHECK_EQ(file.fd, -1);
    CHECK_STR_EQ(body.data, "first");
    das_buf_reset(&body);
    CHECK_OK(das_static_get(st, "pub/c.txt", &file, &body, later)); /* from the cache */
    CHECK_STR_EQ(body.data, "first");
    /* Replaced by another file of the same size: the cache must not answer for it. */
    char tmp[PATH_MAX + 16];
    snprintf(tmp, sizeof tmp, "%s/pub/c.tmp", real);
    f = fopen(tmp, "w");
    fputs("other", f);
    fclose(f);
    CHECK_OK(rename(tmp, path));
    das_buf_reset(&body);
    CHECK_OK(das_static_get(st, "pub/c.txt", &file, &body, later));
    CHECK_STR_EQ(body.data, "other");
    /* The same refusals as das_static_open(). */
    das_buf_reset(&body);
    CHECK_EQ(das_static_get(st, "pub/../app.yaml", &file, &body, later), AE_EINVAL);
    CHECK_EQ(das_static_get(st, "pub/out", &file, &body, later), AE_EINVAL);
    CHECK_EQ(das_static_get(st, "pub/.secret", &file, &body, later), AE_EINVAL);
    CHECK_EQ(body.len, 0);
    das_buf_dispose(&body);
    teardown(st);
}

CHECK_MAIN()
