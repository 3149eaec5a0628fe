/* instance.h - one instance: a child process running the app, reached through slot sockets.
 *
 * An instance is the devappserver binary started again in its instance role. It gets
 * `n_slots` Unix stream sockets, one per request it may run at once, loads the app's shared
 * object, and answers READY on every slot. das_instance_exchange() sends one request on one
 * slot and waits for its response; the caller (the dispatcher) makes sure a slot carries one
 * request at a time. The pid and exit status are guarded by the instance's own mutex.
 *
 * Or, for explore's in-process backend, an instance inside the calling process
 * (das_instance_spec_t.inprocess): the same calls, with the request served on the calling
 * thread and its service calls passed to `on_call` directly.
 */
#ifndef DAS_INSTANCE_H
#define DAS_INSTANCE_H

#include <stdbool.h>
#include <sys/types.h>

#include "clock.h"
#include "inprocess.h"
#include "rpc_codec.h"
#include "util.h"

typedef struct das_instance das_instance_t;

typedef struct {
    const char *exe;     /* the devappserver binary to start in its instance role */
    const char *so_path; /* the app build to load */
    int n_slots;         /* requests it may run at once, >= 1 */
    char *const *envp;   /* the child's environment, NULL-terminated */
    int ready_timeout_ms;
    /* The race detector: the instance starts through its trampoline (main.c's
     * --instance-role-tsan), which turns address-space randomisation off and preloads the
     * ThreadSanitizer runtime named by DAS_TSAN_RUNTIME in `envp`. */
    bool race_detector;
    /* In process instead (explore's in-process backend): the runtime that loads a private copy
     * of the app into this process, under `tmp_dir`, and serves requests on the caller's
     * thread. Such an instance cannot be killed (das_instance_kill does nothing) and never
     * dies alone: a crash of its handler ends the process. */
    const das_inprocess_runtime_t *inprocess;
    const char *tmp_dir;
} das_instance_spec_t;

/* Starts the process and waits until every slot reported READY. On failure (the app cannot be
 * loaded, the process died) fills `err` and returns a negative code; nothing is left running. */
int das_instance_spawn(const das_instance_spec_t *spec, das_clock_t *clock, das_instance_t **out,
                       das_err_t *err);

/* Closes the slots, lets the process exit (SIGKILL after a short grace) and reaps it. NULL ok. */
void das_instance_destroy(das_instance_t *inst);

/* 36 lowercase hex digits, as the platform's autoscaled instances had. */
const char *das_instance_id(const das_instance_t *inst);
pid_t das_instance_pid(const das_instance_t *inst);

/* Sends `request` (an encoded das_rpc_request_t) on `slot` and waits, until `deadline`
 * passes, for the response, stored encoded in `response`. Returns 0; -ECANCELED when the
 * deadline had passed before anything was sent (the instance is untouched); -EPIPE when the
 * instance was gone before the request reached it (it may be retried elsewhere);
 * -ECONNRESET when the instance died while it had the request (see das_instance_wait);
 * -ECONNABORTED when it died because this request's handler crashed (a fatal signal);
 * -ETIMEDOUT when the deadline passed while it had the request (the instance is then in an
 * unknown state and must be killed); -EPROTO for a malformed answer; -EBADMSG for a frame
 * that carries another request's id (a late one, or one a forked process wrote): the
 * instance must be killed.
 *
 * While the handler runs it may make service calls: each CALL frame is passed to `on_call`,
 * whose reply payload goes back as a REPLY frame on the same slot. The deadline belongs to the
 * request: `on_call` may pause it while it holds the reply (das_deadline_pause), and only the
 * time left is waited for after each call. */
typedef void (*das_instance_call_cb)(void *ctx, const void *payload, size_t len,
                                     das_rpc_buf_t *reply);

int das_instance_exchange(das_instance_t *inst, int slot, const das_rpc_buf_t *request,
                          das_rpc_buf_t *response, das_deadline_t *deadline,
                          das_instance_call_cb on_call, void *ctx);

/* Puts the app's globals back as they were when the instance loaded it, or as they were when
 * das_instance_snapshot() last took them (explore's fresh state between schedules). Every
 * slot must be idle. 0, or a negative errno (the instance must then be replaced). */
int das_instance_reset(das_instance_t *inst, int timeout_ms);
/* Takes the app's globals as they are now as the state das_instance_reset() puts back (after
 * the warmup request). The same conditions and results. */
int das_instance_snapshot(das_instance_t *inst, int timeout_ms);

/* Sends SIGKILL. Safe to call from any thread, any number of times. */
void das_instance_kill(das_instance_t *inst);

/* Waits for the process to end and describes how, e.g. "was killed by signal 11 (SIGSEGV,
 * Segmentation fault)". Returns the signal that ended it, or 0 when it exited. Safe to call
 * from several threads; the first one reaps. */
int das_instance_wait(das_instance_t *inst, char *desc, size_t cap);

#endif
