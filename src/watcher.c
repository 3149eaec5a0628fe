/* watcher.c - recursive inotify watch of APPDIR, debounced, on its own thread.
 *
 * Design: one thread polls the inotify descriptor and an eventfd used to stop it. The watch
 * table (wd -> directory) is touched only by that thread.
 */
#include "watcher.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#define WATCH_MASK                                                                             \
    (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_ATTRIB |        \
     IN_ONLYDIR)

typedef struct {
    int wd;
    char *dir;
} watch_t;

struct das_watcher {
    int ifd;
    int stop_fd;
    int settle_ms;
    das_watcher_change_cb on_change;
    void *ctx;
    das_log_t *log;
    char *ignore; /* a directory never watched (the storage path, when it is inside APPDIR) */
    pthread_t thread;
    watch_t *watches; /* owned by the watcher thread after start */
    size_t n_watches, cap_watches;
};

/* Whether `dir` is the ignored directory or below it. */
static bool ignored(const das_watcher_t *w, const char *dir)
{
    if (!w->ignore)
        return false;
    size_t n = strlen(w->ignore);
    return strncmp(dir, w->ignore, n) == 0 && (dir[n] == '\0' || dir[n] == '/');
}

static void add_tree(das_watcher_t *w, const char *dir, int depth)
{
    if (depth > 16 || ignored(w, dir))
        return;
    int wd = inotify_add_watch(w->ifd, dir, WATCH_MASK & ~(uint32_t)IN_ONLYDIR);
    if (wd < 0) {
        das_log_warning(w->log, "cannot watch %s for changes: %s", dir, strerror(errno));
        return;
    }
    if (w->n_watches == w->cap_watches) {
        w->cap_watches = w->cap_watches ? w->cap_watches * 2 : 16;
        w->watches = das_xrealloc(w->watches, w->cap_watches * sizeof *w->watches);
    }
    w->watches[w->n_watches++] = (watch_t){wd, das_xstrdup(dir)};
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue; /* ., .., and dot-directories such as .git */
        char *child = das_xasprintf("%s/%s", dir, e->d_name);
        struct stat sb;
        if (lstat(child, &sb) == 0 && S_ISDIR(sb.st_mode))
            add_tree(w, child, depth + 1);
        free(child);
    }
    closedir(d);
}

static const char *dir_of(das_watcher_t *w, int wd)
{
    for (size_t i = 0; i < w->n_watches; i++)
        if (w->watches[i].wd == wd)
            return w->watches[i].dir;
    return NULL;
}

static bool relevant(const char *name)
{
    return das_str_has_suffix(name, ".c") || das_str_has_suffix(name, ".h") ||
           das_str_has_suffix(name, ".yaml") || das_str_has_suffix(name, ".yml");
}

/* Reads pending events; returns true when one of them matters. */
static bool drain(das_watcher_t *w)
{
    _Alignas(struct inotify_event) char buf[16384];
    bool changed = false;
    for (;;) {
        ssize_t n = read(w->ifd, buf, sizeof buf);
        if (n <= 0)
            break;
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *ev = (struct inotify_event *)p;
            p += sizeof *ev + ev->len;
            if (ev->len == 0)
                continue;
            if ((ev->mask & IN_ISDIR) && (ev->mask & (IN_CREATE | IN_MOVED_TO)) &&
                ev->name[0] != '.') {
                const char *parent = dir_of(w, ev->wd);
                char *child = parent ? das_xasprintf("%s/%s", parent, ev->name) : NULL;
                if (child && !ignored(w, child)) {
                    add_tree(w, child, 0);
                    changed = true; /* it may already hold sources */
                }
                free(child);
            } else if (relevant(ev->name)) {
                changed = true;
            }
        }
    }
    return changed;
}

static void *watch_main(void *arg)
{
    das_watcher_t *w = arg;
    bool pending = false;
    for (;;) {
        struct pollfd pfd[2] = {{.fd = w->ifd, .events = POLLIN}, {.fd = w->stop_fd, .events = POLLIN}};
        int rc = poll(pfd, 2, pending ? w->settle_ms : -1);
        if (rc < 0 && errno != EINTR)
            break;
        if (pfd[1].revents)
            break;
        if (rc > 0 && pfd[0].revents) {
            if (drain(w))
                pending = true;
            continue;
        }
        if (rc == 0 && pending) {
            pending = false;
            w->on_change(w->ctx);
        }
    }
    return NULL;
}

int das_watcher_start(const char *appdir, const char *ignore, int settle_ms,
                      das_watcher_change_cb on_change, void *ctx, das_log_t *log,
                      das_watcher_t **out, das_err_t *err)
{
    das_watcher_t *w = das_xcalloc(1, sizeof *w);
    w->ignore = ignore ? das_xstrdup(ignore) : NULL;
    w->settle_ms = settle_ms;
    w->on_change = on_change;
    w->ctx = ctx;
    w->log = log;
    w->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    w->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (w->ifd < 0 || w->stop_fd < 0) {
        int rc = das_err_set(err, AE_EIO, "cannot watch %s for changes: %s", appdir,
                             strerror(errno));
        if (w->ifd >= 0)
            close(w->ifd);
        if (w->stop_fd >= 0)
            close(w->stop_fd);
        free(w->ignore);
        free(w);
        return rc;
    }
    add_tree(w, appdir, 0);
    int e = pthread_create(&w->thread, NULL, watch_main, w);
    if (e != 0) {
        w->thread = 0;
        das_watcher_stop(w);
        return das_err_set(err, AE_EIO, "cannot start the watcher thread: %s", strerror(e));
    }
    *out = w;
    return 0;
}

void das_watcher_stop(das_watcher_t *w)
{
    if (!w)
        return;
    if (w->thread) {
        uint64_t one = 1;
        ssize_t n = write(w->stop_fd, &one, sizeof one);
        (void)n;
        pthread_join(w->thread, NULL);
    }
    close(w->ifd);
    close(w->stop_fd);
    for (size_t i = 0; i < w->n_watches; i++)
        free(w->watches[i].dir);
    free(w->watches);
    free(w->ignore);
    free(w);
}
