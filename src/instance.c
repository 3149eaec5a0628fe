/* instance.c - starting, talking to, and reaping instance processes.
 *
 * Design: the slots are socketpairs made before the spawn. The child's ends are moved to
 * descriptors 3..3+n-1 by posix_spawn file actions (every other descriptor of the server is
 * close-on-exec); the server keeps the other ends. Descriptor 3+n is the read end of a pipe
 * whose write end only the server holds: the instance exits when it reads end of file, so no
 * instance outlives the server, even one killed with SIGKILL. The child is put in its own process group so
 * that a Ctrl-C in the terminal reaches only the server, which then shuts instances down in
 * order; and it is the unit of teardown: killing or reaping an instance kills its whole group,
 * so processes the app started (popen, fork) never outlive it. `lock` guards `reaped` and
 * `status`; everything else is immutable after spawn.
 */

#include "instance.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>


struct das_instance {
    /* In process (explore's in-process backend): the app copy and the runtime that serves it;
     * no process, no descriptors. */
    const das_inprocess_runtime_t *ip;
    das_inprocess_app_t *app;
    pid_t pid;
    /* Death watch: a thread waits on a pidfd and, when the process ends, shuts the server's
     * ends of the slots down, so a request waiting on a slot learns of the death at once even
     * while a process the instance forked still holds the socket open. */
    int pidfd;          /* -1 when the kernel has no pidfd_open */
    int watch_stop;     /* eventfd that ends the watch (destroy) */
    pthread_t watcher;
    bool watching;
    int n_slots;
    int *fds;      /* the server's ends */
    int *timeouts; /* each slot's receive timeout as last set; owned by the slot's user */
    uint64_t *ids; /* each slot's last request id; owned by the slot's user */
    int lifeline; /* the write end of the instance's lifeline pipe; never written */
    das_clock_t *clock;
    char id[37];
    pthread_mutex_t lock;
    bool reaped; /* guarded by lock */
    int status;  /* guarded by lock; valid once reaped */
};

static void *watch_death(void *arg)
{
    das_instance_t *inst = arg;
    struct pollfd p[2] = {{.fd = inst->pidfd, .events = POLLIN},
                          {.fd = inst->watch_stop, .events = POLLIN}};
    while (poll(p, 2, -1) < 0 && errno == EINTR)
        ;
    if (p[0].revents) /* it ended: every read on its slots returns end of file now */
        for (int i = 0; i < inst->n_slots; i++)
            shutdown(inst->fds[i], SHUT_RDWR);
    return NULL;
}

/* Starts the death watch; without pidfd_open (Linux < 5.3) there is none, and a death is seen
 * by end of file on a slot, as before. */
static void start_watch(das_instance_t *inst)
{
    inst->pidfd = (int)syscall(SYS_pidfd_open, inst->pid, 0);
    if (inst->pidfd < 0)
        return;
    inst->watch_stop = eventfd(0, EFD_CLOEXEC);
    if (inst->watch_stop >= 0 && pthread_create(&inst->watcher, NULL, watch_death, inst) == 0) {
        inst->watching = true;
        return;
    }
    if (inst->watch_stop >= 0)
        close(inst->watch_stop);
    close(inst->pidfd);
    inst->pidfd = inst->watch_stop = -1;
}

static void stop_watch(das_instance_t *inst)
{
    if (!inst->watching)
        return;
    uint64_t one = 1;
    ssize_t n = write(inst->watch_stop, &one, sizeof one);
    (void)n;
    pthread_join(inst->watcher, NULL);
    close(inst->watch_stop);
    close(inst->pidfd);
    inst->watching = false;
}

static void close_all(int *fds, int n)
{
    for (int i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

/* An instance process gets `envp` as its environment (TZ=UTC, the app's env_variables): in
 * process, the process's own becomes it. Every in-process instance of a server runs the same
 * app.yaml, so they agree. */
static void adopt_env(char *const *envp)
{
    for (size_t i = 0; envp && envp[i]; i++) {
        const char *eq = strchr(envp[i], '=');
        if (!eq || eq == envp[i])
            continue;
        char *name = das_xstrndup(envp[i], (size_t)(eq - envp[i]));
        setenv(name, eq + 1, 1);
        free(name);
    }
    tzset();
}

/* An instance inside this process: a private copy of the app, served on the caller's threads. */
static int spawn_inprocess(const das_instance_spec_t *spec, das_clock_t *clock,
                           das_instance_t **out, das_err_t *err)
{
    adopt_env(spec->envp);
    char why[512] = "";
    das_inprocess_app_t *app =
        spec->inprocess->load(spec->so_path, spec->tmp_dir, spec->n_slots, why, sizeof why);
    if (!app)
        return das_err_set(err, AE_EINTERNAL, "the instance could not load the app: %s", why);
    das_instance_t *inst = das_xcalloc(1, sizeof *inst);
    inst->ip = spec->inprocess;
    inst->app = app;
    inst->n_slots = spec->n_slots;
    inst->pid = getpid();
    inst->lifeline = inst->pidfd = inst->watch_stop = -1;
    inst->clock = clock;
    pthread_mutex_init(&inst->lock, NULL);
    das_clock_random_hex(clock, inst->id, 36);
    *out = inst;
    return 0;
}

int das_instance_spawn(const das_instance_spec_t *spec, das_clock_t *clock, das_instance_t **out,
                       das_err_t *err)
{
    if (spec->inprocess)
        return spawn_inprocess(spec, clock, out, err);
    int n = spec->n_slots;
    das_instance_t *inst = das_xcalloc(1, sizeof *inst);
    inst->n_slots = n;
    inst->pid = -1;
    inst->fds = das_xmalloc((size_t)n * sizeof *inst->fds);
    inst->timeouts = das_xmalloc((size_t)n * sizeof *inst->timeouts);
    inst->ids = das_xcalloc((size_t)n, sizeof *inst->ids);
    inst->lifeline = -1;
    inst->pidfd = inst->watch_stop = -1;
    inst->clock = clock;
    pthread_mutex_init(&inst->lock, NULL);
    das_clock_random_hex(clock, inst->id, 36);
    int *child = das_xmalloc((size_t)n * sizeof *child);
    for (int i = 0; i < n; i++)
        inst->fds[i] = child[i] = -1;

    int rc = 0;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    for (int i = 0; i < n; i++) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
            rc = das_err_set(err, AE_EIO, "cannot create instance socket: %s", strerror(errno));
            goto fail;
        }
        inst->fds[i] = sv[0];
        /* Park the child's end above the target range so the dup2s cannot clobber it. */
        child[i] = fcntl(sv[1], F_DUPFD_CLOEXEC, DAS_RPC_FIRST_SLOT_FD + n + 1);
        close(sv[1]);
        if (child[i] < 0) {
            rc = das_err_set(err, AE_EIO, "cannot place instance socket: %s", strerror(errno));
            goto fail;
        }
        posix_spawn_file_actions_adddup2(&fa, child[i], DAS_RPC_FIRST_SLOT_FD + i);
    }
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) < 0) {
        rc = das_err_set(err, AE_EIO, "cannot create instance lifeline: %s", strerror(errno));
        goto fail;
    }
    inst->lifeline = pipefd[1];
    int life_child = fcntl(pipefd[0], F_DUPFD_CLOEXEC, DAS_RPC_FIRST_SLOT_FD + n + 1);
    close(pipefd[0]);
    if (life_child < 0) {
        rc = das_err_set(err, AE_EIO, "cannot place instance lifeline: %s", strerror(errno));
        goto fail;
    }
    posix_spawn_file_actions_adddup2(&fa, life_child, DAS_RPC_FIRST_SLOT_FD + n);
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);
    sigaddset(&defaults, SIGINT);
    sigaddset(&defaults, SIGTERM);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                        POSIX_SPAWN_SETPGROUP);
    char nbuf[16];
    snprintf(nbuf, sizeof nbuf, "%d", n);
    char *argv[] = {(char *)spec->exe,
                    spec->race_detector ? "--instance-role-tsan" : "--instance-role",
                    (char *)spec->so_path, nbuf, NULL};
    int e = posix_spawn(&inst->pid, spec->exe, &fa, &attr, argv, spec->envp);
    close(life_child);
    if (e != 0) {
        inst->pid = -1;
        rc = das_err_set(err, AE_EIO, "cannot start instance %s: %s", spec->exe, strerror(e));
        goto fail;
    }
    close_all(child, n);
    for (int i = 0; i < n; i++)
        child[i] = -1;

    /* Every slot says READY once the app is loaded, or LOAD_ERROR with dlerror()'s text. */
    das_rpc_buf_t frame = {0};
    for (int i = 0; i < n; i++) {
        das_rpc_type_t type;
        das_rpc_set_timeout(inst->fds[i], spec->ready_timeout_ms);
        inst->timeouts[i] = spec->ready_timeout_ms;
        int r = das_rpc_recv_frame(inst->fds[i], &type, NULL, &frame);
        if (r == 0 && type == DAS_RPC_READY)
            continue;
        if (r == 0 && type == DAS_RPC_LOAD_ERROR)
            rc = das_err_set(err, AE_EINTERNAL, "the app could not be loaded: %.*s",
                             (int)frame.len, (const char *)frame.data);
        else if (r == -ETIMEDOUT)
            rc = das_err_set(err, AE_ETIMEOUT, "instance did not start within %d ms",
                             spec->ready_timeout_ms);
        else {
            char how[128];
            das_instance_wait(inst, how, sizeof how);
            rc = das_err_set(err, AE_EINTERNAL, "instance %s while starting", how);
        }
        das_rpc_buf_dispose(&frame);
        goto fail;
    }
    das_rpc_buf_dispose(&frame);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    free(child);
    start_watch(inst);
    *out = inst;
    return 0;

fail:
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    close_all(child, n);
    free(child);
    das_instance_kill(inst);
    das_instance_destroy(inst);
    return rc;
}

/* Waits up to `tries` times 10 ms for the process to end by itself, then ends it, and ends
 * every process left in its group (what the app started: popen, fork) before reaping it: the
 * group id is the instance's pid, which cannot be reused until it is reaped. Caller holds
 * inst->lock; the process is not reaped yet. */
static void reap_locked(das_instance_t *inst, int tries)
{
    for (int i = 0; i < tries; i++) {
        siginfo_t si;
        memset(&si, 0, sizeof si);
        int r = waitid(P_PID, (id_t)inst->pid, &si, WEXITED | WNOHANG | WNOWAIT);
        if (r < 0 && errno == ECHILD) { /* reaped by someone else: its pid may be reused */
            inst->reaped = true;
            return;
        }
        if (r == 0 && si.si_pid == inst->pid)
            break; /* it ended: a zombie now, so its pid (the group id) is still its own */
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    kill(-inst->pid, SIGKILL); /* the whole group, the instance too if it is still alive */
    while (waitpid(inst->pid, &inst->status, 0) < 0 && errno == EINTR)
        ;
    inst->reaped = true;
}

void das_instance_destroy(das_instance_t *inst)
{
    if (!inst)
        return;
    if (inst->ip) {
        inst->ip->unload(inst->app);
        pthread_mutex_destroy(&inst->lock);
        free(inst);
        return;
    }
    stop_watch(inst); /* first: it may shut the slots down, which must still be ours */
    close_all(inst->fds, inst->n_slots);
    if (inst->pid > 0) {
        /* Closing the slots ends the instance's threads; give it 2 s, then insist. */
        pthread_mutex_lock(&inst->lock);
        if (!inst->reaped)
            reap_locked(inst, 200);
        pthread_mutex_unlock(&inst->lock);
    }
    /* Last: closed earlier, it would end the instance at once (its lifeline thread kills its
     * group) instead of letting it finish on its own once its slots are closed. */
    if (inst->lifeline >= 0)
        close(inst->lifeline);
    pthread_mutex_destroy(&inst->lock);
    free(inst->fds);
    free(inst->timeouts);
    free(inst->ids);
    free(inst);
}

const char *das_instance_id(const das_instance_t *inst)
{
    return inst->id;
}

pid_t das_instance_pid(const das_instance_t *inst)
{
    return inst->pid;
}

/* Sets a slot's receive timeout, skipping the system call when the one set is already within
 * 20 ms above it (the deadline is then overshot by at most that: a system call per request
 * showed in profiles). Only the slot's current user touches it: no lock needed. */
static void set_slot_timeout(das_instance_t *inst, int slot, int timeout_ms)
{
    int set = inst->timeouts[slot];
    if (set < timeout_ms || set - timeout_ms > 20) {
        das_rpc_set_timeout(inst->fds[slot], timeout_ms);
        inst->timeouts[slot] = timeout_ms;
    }
}

int das_instance_exchange(das_instance_t *inst, int slot, const das_rpc_buf_t *request,
                          das_rpc_buf_t *response, das_deadline_t *deadline,
                          das_instance_call_cb on_call, void *ctx)
{
    if (inst->ip) {
        /* On this thread, with no deadline of its own: whoever runs in-process instances
         * watches for a handler that never returns (explore's worker). */
        if (das_deadline_left_ms(deadline) <= 0)
            return -ECANCELED;
        response->len = 0;
        if (inst->ip->serve(inst->app, slot, request->data, request->len, response, on_call,
                            ctx) < 0) {
            pthread_mutex_lock(&inst->lock);
            inst->reaped = true; /* it "ended", as an instance process would have */
            pthread_mutex_unlock(&inst->lock);
            return -ECONNRESET;
        }
        return 0;
    }
    int fd = inst->fds[slot];
    int64_t left = das_deadline_left_ms(deadline);
    if (left <= 0)
        return -ECANCELED; /* nothing was sent: the instance is as it was */
    set_slot_timeout(inst, slot, (int)left);
    uint64_t id = ++inst->ids[slot];
    int rc = das_rpc_send_frame(fd, DAS_RPC_REQUEST, id, request->data, request->len);
    if (rc < 0)
        return rc == -ECONNRESET ? -EPIPE : rc; /* gone before the request reached it */
    das_rpc_buf_t reply = {0};
    for (;;) {
        das_rpc_type_t type;
        uint64_t frame_id = id;
        rc = das_rpc_recv_frame(fd, &type, &frame_id, response);
        if ((rc == 0 || rc == -EPROTO) && frame_id != id) {
            rc = -EBADMSG; /* written for another request: by a process the instance forked? */
            break;
        }
        if (rc < 0 || type == DAS_RPC_RESPONSE)
            break;
        if (type == DAS_RPC_CRASH) {
            rc = -ECONNABORTED; /* this request's handler crashed it; it dies now */
            break;
        }
        if (type != DAS_RPC_CALL || !on_call) {
            rc = -EPROTO;
            break;
        }
        reply.len = 0;
        on_call(ctx, response->data, response->len, &reply);
        rc = das_rpc_send_frame(fd, DAS_RPC_REPLY, id, reply.data, reply.len);
        if (rc < 0) {
            rc = -ECONNRESET; /* it had the request: never to be retried elsewhere */
            break;
        }
        /* Wait only for what is left of the request's deadline (less any pause). */
        left = das_deadline_left_ms(deadline);
        if (left <= 0) {
            rc = -ETIMEDOUT;
            break;
        }
        set_slot_timeout(inst, slot, (int)left);
    }
    das_rpc_buf_dispose(&reply);
    return rc;
}

/* RESET, with `take` in its payload; READY answers. */
static int reset_frame(das_instance_t *inst, uint32_t take, int timeout_ms)
{
    int fd = inst->fds[0];
    das_rpc_buf_t payload = {0};
    if (take)
        das_rpc_put_u32(&payload, take);
    int rc = das_rpc_send_frame(fd, DAS_RPC_RESET, 0, payload.data, payload.len);
    das_rpc_buf_dispose(&payload);
    if (rc < 0)
        return rc;
    set_slot_timeout(inst, 0, timeout_ms);
    das_rpc_buf_t frame = {0};
    das_rpc_type_t type;
    uint64_t id = 0;
    rc = das_rpc_recv_frame(fd, &type, &id, &frame);
    das_rpc_buf_dispose(&frame);
    if (rc == 0 && (type != DAS_RPC_READY || id != 0))
        rc = -EPROTO;
    return rc;
}

int das_instance_reset(das_instance_t *inst, int timeout_ms)
{
    if (inst->ip) {
        inst->ip->reset(inst->app);
        return 0;
    }
    return reset_frame(inst, 0, timeout_ms);
}

int das_instance_snapshot(das_instance_t *inst, int timeout_ms)
{
    if (inst->ip) {
        inst->ip->snapshot(inst->app);
        return 0;
    }
    return reset_frame(inst, 1, timeout_ms);
}

void das_instance_kill(das_instance_t *inst)
{
    if (inst->ip)
        return; /* a handler in this process cannot be stopped; its crash ends the process */
    pthread_mutex_lock(&inst->lock);
    if (inst->pid > 0 && !inst->reaped)
        kill(-inst->pid, SIGKILL); /* its group: the instance and what the app started */
    pthread_mutex_unlock(&inst->lock);
}

int das_instance_wait(das_instance_t *inst, char *desc, size_t cap)
{
    if (inst->ip) {
        pthread_mutex_lock(&inst->lock);
        bool ended = inst->reaped;
        pthread_mutex_unlock(&inst->lock);
        snprintf(desc, cap, "%s", ended ? "gave up its request where the scheduler failed it"
                                        : "runs in process");
        return 0;
    }
    pthread_mutex_lock(&inst->lock);
    if (!inst->reaped && inst->pid > 0) {
        /* A dying process is gone within milliseconds; one that is still alive after a second
         * (it closed a slot, or garbled a frame) is ended, so no caller waits forever. */
        reap_locked(inst, 100);
    }
    int st = inst->status;
    pthread_mutex_unlock(&inst->lock);
    if (WIFSIGNALED(st)) {
        int sig = WTERMSIG(st);
        const char *abbrev = sigabbrev_np(sig);
        snprintf(desc, cap, "was killed by signal %d (SIG%s, %s)", sig, abbrev ? abbrev : "?",
                 strsignal(sig));
        return sig;
    }
    if (WIFEXITED(st))
        snprintf(desc, cap, "exited with status %d", WEXITSTATUS(st));
    else
        snprintf(desc, cap, "ended");
    return 0;
}
