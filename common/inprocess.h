/* inprocess.h - an instance inside the calling process: what the server's instance module
 * (src/instance.c) needs from the instance runtime (sdk/runtime/runtime.c) to run an app
 * without a process of its own, for explore's in-process backend.
 *
 * The runtime loads a private copy of the app's shared object (so each in-process instance has
 * its own globals), and serves a request on the calling thread: the same encoded REQUEST goes
 * in and the same encoded RESPONSE comes out as over an instance's slot, and each service call
 * the handler makes goes to `call` at once, with no frame and no other thread. A handler that
 * crashes takes the whole process down: the caller runs in a process it can lose.
 *
 * The table is the runtime's (das_runtime_inprocess, runtime.h); the server only holds a
 * pointer to it, handed down by main.c, so neither layer includes the other.
 */
#ifndef DAS_INPROCESS_H
#define DAS_INPROCESS_H

#include <stddef.h>

#include "rpc_codec.h"

typedef struct das_inprocess_app das_inprocess_app_t;

/* A service call of the request being served: `payload` is the encoded das_rpc_call_t; the
 * encoded das_rpc_reply_t goes into `reply` (the shape of a CALL frame's handler,
 * das_instance_call_cb). */
typedef void (*das_inprocess_call_fn)(void *ctx, const void *payload, size_t len,
                                      das_rpc_buf_t *reply);

typedef struct {
    /* Loads a private copy of `so_path` (copied under `tmp_dir`, a folder of the caller's) for
     * an instance of `n_slots` slots, and snapshots its writable data. NULL on failure, with
     * the reason in `err`. */
    das_inprocess_app_t *(*load)(const char *so_path, const char *tmp_dir, int n_slots,
                                 char *err, size_t cap);
    /* Serves one encoded request as `slot` of the instance, on the calling thread; the encoded
     * response goes into `response`. Slots run at the same time on different threads. Returns
     * 0, or -1 when the request was given up at a point the scheduler failed (a deadlock, the
     * run's end), where an instance process would have ended: the instance is then replaced. */
    int (*serve)(das_inprocess_app_t *app, int slot, const void *request, size_t len,
                 das_rpc_buf_t *response, das_inprocess_call_fn call, void *ctx);
    /* Puts the app's globals back as they were at load or at the last snapshot; every slot
     * idle. */
    void (*reset)(das_inprocess_app_t *app);
    /* Takes the app's globals as they are now as what reset puts back (after the warmup). */
    void (*snapshot)(das_inprocess_app_t *app);
    /* Frees the bookkeeping. The copy stays mapped (no dlclose: the app may have registered
     * destructors or kept pointers into itself elsewhere). */
    void (*unload)(das_inprocess_app_t *app);
} das_inprocess_runtime_t;

#endif
