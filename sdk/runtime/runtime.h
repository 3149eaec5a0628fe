/* runtime.h - the instance role: the process that loads an app's shared object and serves the
 * requests the server sends over its slot sockets. The SDK's side of the slot protocol; the
 * server's side is src/instance.c. main.c calls das_runtime_main() for --instance-role, and
 * hands das_runtime_inprocess to explore for instances inside its worker process.
 */
#ifndef DAS_RUNTIME_H
#define DAS_RUNTIME_H

#include "inprocess.h"

/* The descriptors it serves are laid out as DAS_RPC_FIRST_SLOT_FD (rpc_codec.h) says. */
/* Runs an instance: loads `so_path`, starts one handler thread per slot, and returns when the
 * server closes the slots. Returns the process exit code. */
int das_runtime_main(const char *so_path, int n_slots);

struct ae_request;
/* The request the calling thread serves (and its slot, when `slot` is not NULL), or NULL when
 * it serves none: for the deterministic build's wrappers (wrap.c). */
struct ae_request *das_runtime_request(int *slot);
/* In an instance inside another process: gives up the request this thread serves at once
 * (its serve call returns -1, and the instance is to be replaced). Returns only when the
 * thread serves no such request. */
void das_runtime_abandon(void);
/* Forgets the mutex and condition bookkeeping (wrap.c), for RESET. */
void das_runtime_wrap_reset(void);

/* Instances inside the calling process (explore's in-process backend): see inprocess.h. */
extern const das_inprocess_runtime_t das_runtime_inprocess;

#endif
