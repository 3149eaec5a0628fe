/* runtime.h - the instance role: the process that loads an app's shared object and serves the
 * requests the server sends over its slot sockets.
 */
#ifndef DAS_RUNTIME_H
#define DAS_RUNTIME_H

/* The first slot socket is this descriptor; slot i is DAS_RUNTIME_FIRST_FD + i, and the
 * lifeline (a pipe that reaches end of file when the server goes away) is
 * DAS_RUNTIME_FIRST_FD + n_slots. */
#define DAS_RUNTIME_FIRST_FD 3

/* Runs an instance: loads `so_path`, starts one handler thread per slot, and returns when the
 * server closes the slots. Returns the process exit code. */
int das_runtime_main(const char *so_path, int n_slots);

#endif
