/* harness.h - integration tests' view of a real devappserver: start the binary on an
 * ephemeral port (--port 0 --port-file), talk HTTP to it with libcurl, stop it with SIGTERM and
 * check it exited cleanly.
 *
 * The binary is $DAS_BIN; test apps live in $DAS_TEST_APPS and samples in $DAS_SAMPLES (ctest
 * sets all three). With DAS_TEST_SERVER=host:port the tests talk to a server already running
 * (under gdb, say) instead of starting one; tests that need their own server then skip.
 */
#ifndef DAS_HARNESS_H
#define DAS_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct {
    pid_t pid;          /* -1 when using DAS_TEST_SERVER */
    char host[64];
    int port;
    char dir[256];      /* a mkdtemp folder: storage, port file, log */
    char log_path[300]; /* the server's stdout and stderr */
} harness_server_t;

typedef struct {
    long status;
    char *body;      /* NUL-terminated; free with harness_response_dispose() */
    size_t len;
    char *headers;   /* the raw header block of the final response */
} harness_response_t;

/* A fresh temporary directory; returns its path in `out`. */
void harness_tmpdir(char *out, size_t cap);

/* Starts `devappserver [args...] --port 0 --port-file F --storage-path DIR APPDIR` (no
 * --storage-path of its own when `args` has one) and waits
 * (up to 120 s, which covers a compile under sanitizers) for the port file. `args` is a
 * NULL-terminated list, or NULL. Returns 0, or -1 (the log is printed) when it did not start.
 *
 * No server outlives the test binary: the harness keeps a registry of the servers it started
 * (up to 32 running at once; more are not tracked) and, on the first start, registers an
 * atexit handler that stops (harness_stop) every one still running, printing
 * "# a failed test left server N running; its log:" and its log. So a test may simply return
 * (a failed CHECK does) with its server running. Call from the test's own thread: the
 * registry has no lock. */
int harness_start(harness_server_t *s, const char *appdir, const char *const *args);

/* Sends SIGTERM and waits up to 30 s. Returns the exit status (0 for a clean shutdown), or -1
 * when it had to be killed or died by a signal (the log is printed unless it returns 0).
 * Removes the temporary folder, and the server from the registry of servers left running. */
int harness_stop(harness_server_t *s);
/* The same with `sig` (SIGINT, say) instead of SIGTERM. */
int harness_stop_with_signal(harness_server_t *s, int sig);

/* Runs the binary to completion with `args` (NULL-terminated), capturing stdout+stderr into
 * `*output` (malloc'd). Returns the exit status, or -1 for a signal or timeout (60 s). */
int harness_run(const char *const *args, char **output);

/* Runs `devappserver --port-file F args...` until it either exits or writes F (it is
 * listening; it is then stopped with SIGTERM), for 120 s at most. Returns its exit status,
 * -2 when it started listening, or -1 for a signal or timeout; `*output` as harness_run. */
int harness_run_until_listening(const char *const *args, char **output);

/* One request. `headers` is a NULL-terminated list of "Name: value" lines, or NULL; `body`
 * may be NULL. Returns 0 when an HTTP response arrived. */
int harness_request(const harness_server_t *s, const char *method, const char *path,
                    const char *const *headers, const char *body, size_t body_len,
                    harness_response_t *r);
int harness_get(const harness_server_t *s, const char *path, harness_response_t *r);
/* GETs `path` and copies the body (at most cap-1 bytes; "" without one) into `out`. Returns
 * the status, or -1 when no response arrived. */
long harness_get_text(const harness_server_t *s, const char *path, char *out, size_t cap);
void harness_response_dispose(harness_response_t *r);

/* The value of a response header (case-insensitive), copied into `out`; false when absent. */
bool harness_header(const harness_response_t *r, const char *name, char *out, size_t cap);

/* The server's log so far (malloc'd; "" when there is none). */
char *harness_log(const harness_server_t *s);
/* The whole of a file (malloc'd, NUL-terminated), or NULL when it cannot be read. */
char *harness_read_file(const char *path);

/* Paths of test inputs: $DAS_TEST_APPS/name and $DAS_SAMPLES/name. */
const char *harness_app(const char *name);
const char *harness_sample(const char *name);

/* Copies a directory tree (regular files only) from `src` into `dst` (created). */
int harness_copy_tree(const char *src, const char *dst);
/* Removes a file, or a directory with everything in it (symbolic links are not followed). */
void harness_remove_tree(const char *path);
/* Writes `text` into `path`. */
int harness_write_file(const char *path, const char *text);

/* Milliseconds from a monotonic clock, for generous bounds and deadlines in tests. */
long long harness_now_ms(void);
void harness_sleep_ms(long ms);

#endif
