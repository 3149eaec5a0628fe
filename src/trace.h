/* trace.h - the trace of a deterministic run: JSON lines, written as the run goes and read
 * back by `replay`.
 *
 * The format (version 1), one JSON object per line, in this order:
 *   {"trace":"devappserver","format":1,"version":..,"build":"app-<sha1>.so","appdir":..,
 *    "threadsafe":..,"slots":..,"max_instances":..,"strategy":..,"seed":"<u64>","pct_depth":..,
 *    "gather_ms":..,"start_ns":..,"max_steps":..}
 *   {"setup":0,"method":"POST","target":"/set?key=racy&value=0",..}   explore's setup
 *   {"request":0,"task":"A","arrival":0,"method":"GET","target":"/racy?key=racy",
 *    "headers":[["Name","value"],..],"body":"..","user":"","admin":false}   per request
 *   {"step":0,"task":"A","action":"start","could":2,"decision":true,"preemption":false}
 *   {"step":1,"task":"A","action":"call","service":"memcache","op":"get","keys":["/racy"],
 *    "access":"read","status":"ok","value":"0","digest":"<16 hex>","site":"counter.c:41",..}
 *   {"step":4,..,"service":"urlfetch","op":"fetch","keys":["http://127.0.0.1:9000"],..,
 *    "external":{"base64":".."}}   a call whose reply came from outside (the network): the
 *                                   reply as it came, which replay serves back
 *   {"check_failed":"A","step":3,"message":"AE_CHECK(n > 0) failed","site":"a.c:9"}
 *   {"end":"A","step":6,"how":"returned","status":200,"body":"1","digest":".."}  per request
 *   {"check":0,"method":"GET","target":"/get?key=racy",..,"expect":{"status":200,"body":"2"},
 *    "response":{"status":200,"body":"1"}}   explore's checks, after every request ended
 *   {"close":true,"schedule":"s1.2.AABBB","steps":6,"preemptions":1}  when the run closes
 * Strings that are not UTF-8 (bodies, keys, values) are written as {"base64":".."} instead.
 * Seeds are strings, since JSON numbers lose 64-bit integers in many readers.
 *
 * Writing goes line by line, flushed, so a trace can be read while the server runs. Lines hold
 * nothing that depends on timing (no wall time, pid or port), so the same run gives the same
 * bytes. Not thread-safe: the deterministic driver writes under its lock.
 */
#ifndef DAS_TRACE_H
#define DAS_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rpc_codec.h"
#include "scheduler.h"
#include "util.h"

#define DAS_TRACE_FORMAT 1

typedef struct das_trace das_trace_t;

typedef struct {
    const char *build;   /* "app-<sha1>.so" */
    const char *appdir;
    bool threadsafe;
    int slots;
    int max_instances;
    const char *strategy; /* "random", "pct", "replay", ... */
    uint64_t seed;
    int pct_depth;
    int gather_ms;
    int64_t start_ns;     /* the virtual clock's start */
    uint64_t max_steps;   /* the run's step bound (explore); 0: none */
} das_trace_header_t;

/* A request as it arrived at the front end. */
typedef struct {
    const char *method;
    const char *target; /* as sent: path and query */
    const das_rpc_pair_t *headers;
    size_t n_headers;
    const char *body;
    size_t body_len;
    const char *user; /* logged-in email, "" when none */
    bool admin;
} das_trace_request_t;

/* A step once performed: the scheduler's record, and for a call what it did. */
typedef struct {
    uint64_t step;
    const das_sched_step_t *st;
    int status;          /* CALL: the AE_* status */
    const char *value;   /* CALL: the value read or written, as the service describes it */
    size_t value_len;
    bool has_value;
    /* CALL of an external method (a URL fetch): the whole reply payload, which replay serves
     * back; NULL otherwise. */
    const void *external;
    size_t external_len;
} das_trace_step_t;

/* Creates `path` (and its folder) and writes the header line; each line is flushed as it is
 * written. Or, `held`, the lines are kept in memory and the file is written when the trace is
 * closed: for runs read only once closed (replay, explore). */
int das_trace_create(const char *path, const das_trace_header_t *h, bool held, das_trace_t **out,
                     das_err_t *err);
const char *das_trace_path(const das_trace_t *t);
/* A request's line, made when it arrives (caller frees) and written later with
 * das_trace_put_line, at its place in the run. */
char *das_trace_request_line(int task, uint64_t arrival, const das_trace_request_t *rq);
/* explore's lines: a setup request (run before the schedule, outside it), and a check (run
 * after) with what it expected and what it got. Caller frees. */
char *das_trace_setup_line(int index, const das_trace_request_t *rq);
char *das_trace_check_line(int index, const das_trace_request_t *rq, int expect_status,
                           const char *expect_body, const char *expect_regex, int status,
                           const char *body, size_t len);
void das_trace_put_line(das_trace_t *t, const char *line);
void das_trace_step(das_trace_t *t, const das_trace_step_t *s);
/* `status` is the HTTP status (0 when the request got none from its handler). */
void das_trace_end(das_trace_t *t, int task, uint64_t step, const char *how, int status,
                   const char *body, size_t len);
/* An AE_CHECK failed in `task` (after `step` steps). */
void das_trace_check_failed(das_trace_t *t, int task, uint64_t step, const char *message,
                            const char *site);
/* Writes the closing line and closes the file (a held trace: writes it to its file). Returns
 * 0, or -1 with `err` saying why when any write of it failed: the file is not whole. NULL ok. */
int das_trace_close(das_trace_t *t, const das_sched_t *s, das_err_t *err);

/* The first line where two traces differ (1-based), or 0 when they are the same (or either
 * cannot be read: 1). A recorded trace of a server still running has no closing line yet:
 * with `recorded_closed` false the replay's closing line is then not compared. */
size_t das_trace_first_difference(const char *recorded, const char *replayed,
                                  bool recorded_closed);

/* The first free "<dir>/<prefix>-NNNN.jsonl" (0001 and up). Caller frees. */
char *das_trace_next_path(const char *dir, const char *prefix);

/* ---------------------------------------------------------------- reading */

typedef struct {
    int task;
    uint64_t arrival;
    char *method, *target, *user;
    das_rpc_pair_t *headers; /* strings owned by the file */
    size_t n_headers;
    char *body;
    size_t body_len;
    bool admin;
    /* A check's expectation (0 / NULL: any) and the answer it got. */
    int expect_status;
    const char *expect_body, *expect_regex;
    int got_status;
    const char *got_body;
    size_t got_len;
} das_trace_file_request_t;

/* What a step line says beyond the scheduler's record. */
typedef struct {
    const char *status; /* CALL: "ok" or the AE_* name; NULL otherwise */
    const char *value;  /* CALL: the value read or written; NULL when none */
    size_t value_len;
    const char *external; /* CALL of an external method: its recorded reply; NULL: none */
    size_t external_len;
} das_trace_file_result_t;

/* An "end" line: how a request ended, after `step` steps. */
typedef struct {
    int task;
    uint64_t step;
    const char *how;
    int status;
    const char *body;
    size_t body_len;
} das_trace_file_end_t;

/* A "check_failed" line. */
typedef struct {
    int task;
    uint64_t step;
    const char *message;
    const char *site;
} das_trace_file_check_t;

typedef struct {
    das_trace_header_t header;   /* strings owned by the file */
    int format;
    char *version;
    das_trace_file_request_t *requests;
    size_t n_requests;
    das_trace_file_request_t *setup; /* explore's setup requests (task, arrival unused) */
    size_t n_setup;
    das_trace_file_request_t *checks_run; /* explore's checks (their expectations below) */
    size_t n_checks_run;
    das_sched_step_t *steps;     /* action strings owned by the file */
    das_trace_file_result_t *results; /* one per step */
    size_t n_steps;
    das_trace_file_end_t *ends;
    size_t n_ends;
    das_trace_file_check_t *checks;
    size_t n_checks;
    bool closed;                 /* the run's closing line is there */
    int *decisions;              /* the tasks of the steps marked decision */
    size_t n_decisions;
    void *storage_;
} das_trace_file_t;

/* Reads a trace. Returns 0, or AE_EINVAL/AE_EIO with `err` naming the file and, for a bad
 * line, its number. */
int das_trace_load(const char *path, das_trace_file_t *out, das_err_t *err);
void das_trace_file_dispose(das_trace_file_t *f);

#endif
