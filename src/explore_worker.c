/* explore_worker.c - explore's worker process (see explore_worker.h).
 *
 * Design: two pipes. The explorer writes a command (a u32 length, then the bytes) to the
 * worker's command pipe and reads the answer, framed the same way, from the answer pipe. The
 * worker reads, serves, answers, and exits when the command pipe reaches end of file. A worker
 * that dies closes its end of the answer pipe, so the explorer's read ends there and it reaps
 * the worker for its status. The explorer ignores SIGPIPE for the command write (a worker that
 * died between commands).
 *
 * The watchdog: a thread of the worker that wakes every 50 ms while a command runs and
 * compares the run's progress (its beat, which every step and every new run moves) and the
 * command count with what it saw before; when neither moved for the step timeout, it ends the
 * worker with DAS_XWORKER_STUCK.
 */
#include "explore_worker.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

struct das_xworker {
    das_xworker_options_t o;
    pid_t pid;     /* the worker; -1: none */
    int cmd_fd;    /* explorer: the write end of the command pipe */
    int answer_fd; /* explorer: the read end of the answer pipe */
    int pidfd;     /* explorer: readable once the worker ended; -1 when none */
    bool in_worker;
    /* In the worker: commands begun and finished, for the watchdog. */
    uint64_t begun, finished;
};

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int read_all(int fd, void *data, size_t len)
{
    char *p = data;
    while (len > 0) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int send_msg(int fd, const das_rpc_buf_t *b)
{
    uint32_t len = (uint32_t)b->len;
    return write_all(fd, &len, sizeof len) < 0 || write_all(fd, b->data, b->len) < 0 ? -1 : 0;
}

static int recv_msg(int fd, das_rpc_buf_t *b)
{
    uint32_t len;
    if (read_all(fd, &len, sizeof len) < 0)
        return -1;
    b->len = 0;
    if (len) {
        if (b->cap < len) {
            b->data = das_xrealloc(b->data, len);
            b->cap = len;
        }
        if (read_all(fd, b->data, len) < 0)
            return -1;
    }
    b->len = len;
    return 0;
}

das_xworker_t *das_xworker_create(const das_xworker_options_t *o)
{
    das_xworker_t *w = das_xcalloc(1, sizeof *w);
    w->o = *o;
    w->pid = -1;
    w->cmd_fd = w->answer_fd = w->pidfd = -1;
    return w;
}

static void stop(das_xworker_t *w)
{
    if (w->cmd_fd >= 0)
        close(w->cmd_fd);
    if (w->answer_fd >= 0)
        close(w->answer_fd);
    if (w->pidfd >= 0)
        close(w->pidfd);
    w->cmd_fd = w->answer_fd = w->pidfd = -1;
}

/* Reaps the worker; returns its wait status. */
static int reap(das_xworker_t *w)
{
    int status = 0;
    while (waitpid(w->pid, &status, 0) < 0 && errno == EINTR)
        ;
    w->pid = -1;
    return status;
}

void das_xworker_destroy(das_xworker_t *w)
{
    if (!w)
        return;
    if (w->pid > 0) {
        stop(w); /* it reads end of file and exits */
        reap(w);
    }
    free(w);
}

bool das_xworker_in_worker(const das_xworker_t *w)
{
    return w->in_worker;
}

/* ---------------------------------------------------------------- the worker's side */

static void *watchdog(void *arg)
{
    das_xworker_t *w = arg;
    const int64_t tick_ns = 50 * 1000 * 1000;
    int64_t limit_ns = (int64_t)(w->o.step_timeout_s * 1e9);
    int64_t still_ns = 0;
    uint64_t seen_begun = 0, seen_beat = 0;
    for (;;) {
        struct timespec ts = {0, tick_ns};
        nanosleep(&ts, NULL);
        uint64_t begun = __atomic_load_n(&w->begun, __ATOMIC_RELAXED);
        uint64_t finished = __atomic_load_n(&w->finished, __ATOMIC_RELAXED);
        uint64_t beat = __atomic_load_n(&w->o.progress->beat, __ATOMIC_RELAXED);
        if (begun == finished || begun != seen_begun || beat != seen_beat) {
            still_ns = 0;
            seen_begun = begun;
            seen_beat = beat;
            continue;
        }
        still_ns += tick_ns;
        if (still_ns >= limit_ns)
            _exit(DAS_XWORKER_STUCK); /* the explorer reads where it stood from the progress */
    }
    return NULL;
}

static int compare_ints(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* Closes every descriptor above 2 but `keep` (n of them; sorted here). */
static void close_all_but(int *keep, size_t n)
{
    qsort(keep, n, sizeof *keep, compare_ints);
    unsigned first = 3;
    for (size_t i = 0; i < n; i++) {
        if (keep[i] < (int)first)
            continue;
        if ((unsigned)keep[i] > first)
            close_range(first, (unsigned)keep[i] - 1, 0);
        first = (unsigned)keep[i] + 1;
    }
    close_range(first, ~0u, 0);
}

static void worker_main(das_xworker_t *w, int cmd_fd, int answer_fd)
{
    int keep[66] = {cmd_fd, answer_fd};
    size_t n = 2;
    for (size_t i = 0; i < w->o.n_keep_fds && n < 66; i++)
        keep[n++] = w->o.keep_fds[i];
    close_all_but(keep, n);
    /* A fault of the app ends the worker by its signal, whatever handler the explorer had (a
     * sanitizer's would report and exit with a status instead, slowly). */
    static const int fatal[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL};
    for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++)
        signal(fatal[i], SIG_DFL);
    /* One CPU for all its threads: only one of them runs app code at a time. */
    das_stay_on_this_cpu();
    w->in_worker = true;
    w->pid = -1;
    w->cmd_fd = w->answer_fd = w->pidfd = -1;
    if (w->o.init)
        w->o.init(w->o.ctx);
    pthread_t t;
    if (w->o.progress && w->o.step_timeout_s > 0 && pthread_create(&t, NULL, watchdog, w) == 0)
        pthread_detach(t);
    das_rpc_buf_t cmd = {0}, answer = {0};
    while (recv_msg(cmd_fd, &cmd) == 0) {
        __atomic_add_fetch(&w->begun, 1, __ATOMIC_RELAXED);
        answer.len = 0;
        w->o.serve(w->o.ctx, cmd.data, cmd.len, &answer);
        __atomic_add_fetch(&w->finished, 1, __ATOMIC_RELAXED);
        if (send_msg(answer_fd, &answer) < 0)
            break;
    }
    /* The explorer is done with it (or gone): nothing of the worker's needs to be kept. */
    _exit(0);
}

/* ---------------------------------------------------------------- the explorer's side */

/* The threads of this process, from /proc (-1 when it cannot tell). */
static int thread_count(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[128];
    int n = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "Threads: %d", &n) == 1)
            break;
    fclose(f);
    return n;
}

static int start(das_xworker_t *w)
{
    /* Only a process with one thread forks a worker: a lock another thread held at the fork
     * (an allocator's, a log's) stays held in the child for ever. glibc's malloc guards its
     * own locks around fork, but a sanitizer's allocator and our own locks do not. A thread
     * just joined may still be counted for a moment (its exit ends after the join returns):
     * up to 2 s is allowed for that, ample on a loaded machine too. */
    for (int waited_ms = 0; thread_count() > 1; waited_ms++) {
        if (waited_ms == 2000) {
            errno = EDEADLK;
            return -1;
        }
        nanosleep(&(struct timespec){0, 1000 * 1000}, NULL);
    }
    int cmd[2], answer[2];
    if (pipe2(cmd, O_CLOEXEC) < 0)
        return -1;
    if (pipe2(answer, O_CLOEXEC) < 0) {
        close(cmd[0]);
        close(cmd[1]);
        return -1;
    }
    signal(SIGPIPE, SIG_IGN); /* a worker gone between commands: the write fails with EPIPE */
    fflush(NULL);             /* nothing buffered is written twice */
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(cmd[0]);
        close(cmd[1]);
        close(answer[0]);
        close(answer[1]);
        errno = e;
        return -1;
    }
    if (pid == 0) {
        close(cmd[1]);
        close(answer[0]);
        worker_main(w, cmd[0], answer[1]);
    }
    close(cmd[0]);
    close(answer[1]);
    w->pid = pid;
    w->cmd_fd = cmd[1];
    w->answer_fd = answer[0];
    w->pidfd = (int)syscall(SYS_pidfd_open, pid, 0); /* -1 before Linux 5.3: the pipe alone */
    return 0;
}

/* Waits until the answer pipe has something to read, or the worker ended: a process the app
 * forked may hold the pipe open after the worker died. */
static void await_answer(das_xworker_t *w)
{
    if (w->pidfd < 0)
        return;
    struct pollfd p[2] = {{.fd = w->answer_fd, .events = POLLIN},
                          {.fd = w->pidfd, .events = POLLIN}};
    while (poll(p, 2, -1) < 0 && errno == EINTR)
        ;
    if (!(p[0].revents & (POLLIN | POLLHUP)) && p[1].revents)
        stop(w); /* ended with nothing said: the read below fails */
}

int das_xworker_call(das_xworker_t *w, const das_rpc_buf_t *cmd, das_rpc_buf_t *answer,
                     int *status)
{
    *status = 0;
    if (w->pid < 0 && start(w) < 0)
        return -2;
    int rc = -1;
    if (send_msg(w->cmd_fd, cmd) == 0) {
        await_answer(w);
        rc = w->answer_fd >= 0 && recv_msg(w->answer_fd, answer) == 0 ? 0 : -1;
    }
    if (rc == 0)
        return 0;
    stop(w);
    *status = reap(w);
    return -1;
}

das_xworker_end_t das_xworker_describe_end(int status, char *how, size_t cap)
{
    if (WIFEXITED(status)) {
        snprintf(how, cap, "status %d", WEXITSTATUS(status));
        return WEXITSTATUS(status) == DAS_XWORKER_STUCK ? DAS_XWORKER_ENDED_STUCK
                                                         : DAS_XWORKER_ENDED_EXIT;
    }
    int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    const char *abbrev = sigabbrev_np(sig);
    snprintf(how, cap, "signal %d (SIG%s, %s)", sig, abbrev ? abbrev : "?", strsignal(sig));
    return sig == SIGKILL || sig == SIGTERM || sig == SIGINT || sig == SIGHUP
               ? DAS_XWORKER_ENDED_OUTSIDE
               : DAS_XWORKER_ENDED_CRASH;
}
