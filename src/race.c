/* race.c - the race detector's tools and reports (see race.h). */
#include "race.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "build.h"

#define MAX_FILES 256

typedef struct {
    char name[64];
    long offset; /* bytes already reported */
} seen_t;

struct das_race {
    pthread_mutex_t lock;
    char *dir;
    char *options;
    das_log_t *log;
    seen_t seen[MAX_FILES];
    int n_seen;
};

/* Runs `cc` with one argument: its first line of output (caller frees), or NULL when it
 * failed. */
static char *first_line(const char *cc, const char *arg)
{
    char *argv[] = {(char *)cc, (char *)arg, NULL};
    das_buf_t out = {0};
    das_buf_puts(&out, ""); /* never NULL below */
    char *line = das_build_run_tool(argv, &out) == 0
                     ? das_xstrndup(out.data, strcspn(out.data, "\n"))
                     : NULL;
    das_buf_dispose(&out);
    return line;
}

int das_race_check_tools(const char *cc, char *runtime, size_t cap, das_err_t *err)
{
    /* GCC answers -dumpspecs (clang refuses it); its first line says which it is. */
    char *version = first_line(cc, "--version");
    char *specs = first_line(cc, "-dumpspecs");
    bool gcc = version && specs && !strstr(version, "clang");
    free(specs);
    if (!gcc) {
        int rc = das_err_set(err, AE_EINVAL,
                             "devappserver: --race-detector needs GCC, and the compiler is %s "
                             "(\"%s\"): clang's ThreadSanitizer runtime crashes when preloaded "
                             "into an instance; set CC=gcc",
                             cc, version ? version : "not runnable");
        free(version);
        return rc;
    }
    free(version);
    char *lib = first_line(cc, "-print-file-name=libtsan.so");
    char *real = lib && lib[0] == '/' ? realpath(lib, NULL) : NULL;
    free(lib);
    if (!real)
        return das_err_set(err, AE_EINVAL,
                           "devappserver: --race-detector needs GCC's ThreadSanitizer runtime, "
                           "which is not installed: apt-get install libtsan2");
    snprintf(runtime, cap, "%s", real);
    free(real);
    return 0;
}

das_race_t *das_race_create(const char *dir, das_log_t *log)
{
    das_race_t *r = das_xcalloc(1, sizeof *r);
    pthread_mutex_init(&r->lock, NULL);
    r->dir = das_xstrdup(dir);
    r->log = log;
    das_mkdirs(dir, 0755);
    /* Reports to files (the server prints them), every one of them, and an instance that
     * raced goes on serving. */
    r->options = das_xasprintf("log_path=%s/report halt_on_error=0 report_signal_unsafe=0 "
                               "history_size=4",
                               dir);
    return r;
}

void das_race_destroy(das_race_t *r)
{
    if (!r)
        return;
    pthread_mutex_destroy(&r->lock);
    free(r->dir);
    free(r->options);
    free(r);
}

const char *das_race_tsan_options(const das_race_t *r)
{
    return r->options;
}

/* "file:line" of the first frame after `header` in `report`, into `out`. */
static void frame_after(const char *report, const char *header, char *out, size_t cap)
{
    out[0] = '\0';
    const char *h = strstr(report, header);
    const char *f = h ? strstr(h, "#0 ") : NULL;
    if (!f)
        return;
    /* "#0 function file:line (object+offset)" */
    const char *sp = strchr(f + 3, ' ');
    if (!sp)
        return;
    size_t n = strcspn(sp + 1, " \n");
    const char *slash = memrchr(sp + 1, '/', n);
    const char *start = slash ? slash + 1 : sp + 1;
    snprintf(out, cap, "%.*s", (int)(sp + 1 + n - start), start);
}

/* Logs one report: the kind, and the two accesses' source lines. */
static void summarize(das_race_t *r, const char *report)
{
    const char *kind = strstr(report, "ThreadSanitizer: ");
    char what[80] = "a race";
    if (kind)
        snprintf(what, sizeof what, "%.*s", (int)strcspn(kind + 17, "(\n"), kind + 17);
    size_t wl = strlen(what);
    while (wl && what[wl - 1] == ' ')
        what[--wl] = '\0';
    char here[256], before[256];
    frame_after(report, " by ", here, sizeof here);
    frame_after(report, "Previous ", before, sizeof before);
    das_log_warning(r->log, "ThreadSanitizer: %s between %s and %s (the report is above)",
                    what, here[0] ? here : "?", before[0] ? before : "?");
}

/* Prints and summarizes the complete reports in `text`; returns the bytes consumed. */
static size_t take_reports(das_race_t *r, const char *text, size_t len)
{
    static const char rule[] = "==================\n";
    size_t used = 0;
    for (;;) {
        const char *start = strstr(text + used, rule);
        if (!start)
            break;
        const char *end = strstr(start + sizeof rule - 1, rule);
        if (!end)
            break;
        size_t n = (size_t)(end + sizeof rule - 1 - start);
        fwrite(start, 1, n, stderr);
        char *report = das_xstrndup(start, n);
        summarize(r, report);
        free(report);
        used = (size_t)(end + sizeof rule - 1 - text);
    }
    (void)len;
    return used;
}

void das_race_scan(das_race_t *r)
{
    pthread_mutex_lock(&r->lock);
    DIR *d = opendir(r->dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (strncmp(e->d_name, "report", 6) != 0 || strlen(e->d_name) >= sizeof r->seen[0].name)
            continue;
        seen_t *s = NULL;
        for (int i = 0; i < r->n_seen && !s; i++)
            if (strcmp(r->seen[i].name, e->d_name) == 0)
                s = &r->seen[i];
        if (!s && r->n_seen < MAX_FILES) {
            s = &r->seen[r->n_seen++];
            memcpy(s->name, e->d_name, strlen(e->d_name) + 1); /* shorter, checked above */
            s->offset = 0;
        }
        if (!s)
            continue;
        char *path = das_xasprintf("%s/%s", r->dir, e->d_name);
        FILE *f = fopen(path, "re");
        free(path);
        if (!f)
            continue;
        das_buf_t text = {0};
        char buf[8192];
        size_t n;
        if (fseek(f, s->offset, SEEK_SET) == 0)
            while ((n = fread(buf, 1, sizeof buf, f)) > 0)
                das_buf_append(&text, buf, n);
        fclose(f);
        if (text.len)
            s->offset += (long)take_reports(r, text.data, text.len);
        das_buf_dispose(&text);
    }
    if (d)
        closedir(d);
    fflush(stderr);
    pthread_mutex_unlock(&r->lock);
}
