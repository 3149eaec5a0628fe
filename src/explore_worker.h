/* explore_worker.h - explore's worker process: where the in-process backend runs the app.
 *
 * The in-process backend loads the app into the process that runs its schedules, so a handler
 * that crashes, or never returns, takes that process with it. That process is a worker forked
 * from the explorer: the explorer sends it one command at a time (a schedule to run) and waits
 * for the answer. When the worker dies instead of answering, das_xworker_call says how it
 * ended, and the next call forks a new one.
 *
 * The worker is the explorer as it was at the fork (its memory copied): it needs no set-up of
 * its own, and whatever it must share with the explorer across a crash lives in memory mapped
 * shared before the fork (shm_arena.h). In the worker, a watchdog thread ends the process when
 * the run's progress (das_det_progress_t) stands still for longer than the step timeout while a
 * command runs: a handler in a loop, or blocked where the scheduler does not see it.
 */
#ifndef DAS_EXPLORE_WORKER_H
#define DAS_EXPLORE_WORKER_H

#include <stdint.h>
#include <sys/types.h>

#include "deterministic.h"
#include "rpc_codec.h"

/* The worker's exit status when its watchdog ended it. */
#define DAS_XWORKER_STUCK 86

typedef struct das_xworker das_xworker_t;

/* Serves one command in the worker: `cmd` in, the answer appended to `answer`. */
typedef void (*das_xworker_serve_fn)(void *ctx, const void *cmd, size_t len,
                                     das_rpc_buf_t *answer);

typedef struct {
    das_xworker_serve_fn serve;
    /* Called once in the worker, right after the fork, before its first command: the place to
     * forget what belongs to the explorer (its threads did not come along). */
    void (*init)(void *ctx);
    void *ctx;
    /* The watchdog's view of a command's progress: in shared memory, so that the explorer can
     * read where the worker stood when it died. */
    das_det_progress_t *progress;
    double step_timeout_s;
    /* Descriptors the worker keeps besides 0-2 and its pipes (a log); it closes the rest, so
     * that it holds none of the explorer's (an instance's socket held open here would not
     * see its end when the explorer closes it). */
    const int *keep_fds;
    size_t n_keep_fds;
} das_xworker_options_t;

/* No process yet: the first call forks it. */
das_xworker_t *das_xworker_create(const das_xworker_options_t *o);
/* Ends the worker (it exits when its command pipe closes) and reaps it. NULL ok. */
void das_xworker_destroy(das_xworker_t *w);

/* Runs one command in the worker (forking one first when there is none). Returns 0 with the
 * answer in `answer`; -1 when the worker died first: `*status` is its wait status (see
 * waitpid(2)), and the next call starts a new worker; -2 when no worker could be started
 * (errno says why; EDEADLK: this process has other threads, which it must not fork). */
int das_xworker_call(das_xworker_t *w, const das_rpc_buf_t *cmd, das_rpc_buf_t *answer,
                     int *status);

/* How a worker that died ended, from its wait status. */
typedef enum {
    DAS_XWORKER_ENDED_STUCK,   /* its watchdog ended it: a step ran past the step timeout */
    DAS_XWORKER_ENDED_CRASH,   /* a fault of the app's (SIGSEGV, SIGABRT...) */
    DAS_XWORKER_ENDED_OUTSIDE, /* ended from outside: SIGKILL (out of memory?), SIGTERM... */
    DAS_XWORKER_ENDED_EXIT,    /* it exited with another status */
} das_xworker_end_t;

/* Classifies `status`, and writes how it ended to `how`: "signal 11 (SIGSEGV, Segmentation
 * fault)" or "status 3". */
das_xworker_end_t das_xworker_describe_end(int status, char *how, size_t cap);

/* Whether the calling process is a worker. */
bool das_xworker_in_worker(const das_xworker_t *w);

#endif
