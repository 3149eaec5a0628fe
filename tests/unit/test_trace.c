/* test_trace.c - a trace that could not be written whole says so when it is closed (a full
 * disk, a file size limit), written as it goes or held in memory until then; one written
 * whole closes quietly; one pointed at a device writes to it and leaves it in place.
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "check.h"
#include "trace.h"

static const das_trace_header_t header = {
    .build = "app-0000.so", .appdir = "/app", .strategy = "random", .seed = 7, .gather_ms = 20};

static char dir[64];

/* `name` in this run's own folder, made on first use and removed by remove_temp(). */
static const char *temp_path(const char *name)
{
    static char path[128];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/das-trace-XXXXXX");
        if (!mkdtemp(dir))
            abort();
    }
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

static void remove_temp(void)
{
    static const char *const names[] = {"whole.jsonl", "whole-held.jsonl", "cut.jsonl",
                                        "cut-held.jsonl", "null-device"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        unlink(temp_path(names[i]));
    rmdir(dir);
    dir[0] = '\0';
}

/* Writes a trace of `lines` long lines to `path` and closes it: das_trace_close's result. */
static int write_trace(const char *path, bool held, int lines, das_err_t *err)
{
    das_trace_t *t = NULL;
    if (das_trace_create(path, &header, held, &t, err) < 0)
        return -2;
    char line[256];
    for (int i = 0; i < lines; i++) {
        snprintf(line, sizeof line, "{\"note\":\"%0200d\"}", i);
        das_trace_put_line(t, line);
    }
    return das_trace_close(t, NULL, err);
}

TEST(test_a_trace_written_whole_closes_quietly)
{
    das_err_t err = {0};
    CHECK_EQ(write_trace(temp_path("whole.jsonl"), false, 10, &err), 0);
    CHECK_EQ(write_trace(temp_path("whole-held.jsonl"), true, 10, &err), 0);
    FILE *f = fopen(temp_path("whole-held.jsonl"), "r");
    CHECK(f != NULL);
    int n = 0;
    for (int c; (c = fgetc(f)) != EOF;)
        n += c == '\n';
    fclose(f);
    remove_temp();
    CHECK_EQ(n, 11); /* the header, then the ten lines */
}

/* A trace pointed at a device (as --trace /dev/null) writes to it and leaves it in place: a
 * character device like /dev/null, made in the test's folder (as root; skipped otherwise). */
TEST(test_a_trace_at_a_device_writes_to_it_and_leaves_it)
{
    const char *node = temp_path("null-device");
    if (mknod(node, S_IFCHR | 0666, makedev(1, 3)) < 0) {
        remove_temp();
        SKIP("cannot make a device node here (not root)");
    }
    das_err_t err = {0};
    int rc = write_trace(node, false, 10, &err);
    struct stat st;
    bool still_a_device = lstat(node, &st) == 0 && S_ISCHR(st.st_mode);
    remove_temp();
    CHECK_EQ(rc, 0);
    CHECK(still_a_device);
}

/* Over the file size limit, writes fail with EFBIG (SIGXFSZ ignored, as a server would). */
TEST(test_a_trace_cut_short_by_a_failed_write_is_reported_at_close)
{
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit old, small = {4096, 0};
    getrlimit(RLIMIT_FSIZE, &old);
    small.rlim_max = old.rlim_max;
    CHECK(setrlimit(RLIMIT_FSIZE, &small) == 0);
    das_err_t err = {0}, held_err = {0};
    int rc = write_trace(temp_path("cut.jsonl"), false, 100, &err);
    int held_rc = write_trace(temp_path("cut-held.jsonl"), true, 100, &held_err);
    setrlimit(RLIMIT_FSIZE, &old);
    remove_temp();
    CHECK_EQ(rc, -1);
    CHECK_STR_CONTAINS(err.msg, "cut.jsonl was not written whole: File too large");
    CHECK_EQ(held_rc, -1);
    CHECK_STR_CONTAINS(held_err.msg, "cut-held.jsonl was not written whole: File too large");
}

CHECK_MAIN()
