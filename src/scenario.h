/* scenario.h - an explore scenario: requests fired together, with setup before and checks
 * after, read from YAML (through yaml_tree, so every error names file:line:col and the fix).
 *
 *     name: racy counter loses an update
 *     setup:                       # one after another before every schedule; not explored
 *     - POST /set?key=racy&value=0
 *     requests:                    # fired together: each is a task (at most 64 after repeat)
 *     - GET /racy?key=racy
 *     - request: GET /racy?key=racy
 *       headers: {X-Trace: b}
 *       user: alice@example.com    # logged in (admin: true for an administrator)
 *       repeat: 1
 *       expect: {status: 200}      # optional: status, body, body_regex
 *     check:                       # after every request ended, one after another
 *     - request: GET /get?key=racy
 *       status: 200
 *       body: "2"
 *     oracle: serializable         # optional
 *
 * A request is "METHOD TARGET" or a mapping of request (or method and target), headers, body,
 * user, admin, repeat and expect; a check may give status, body and body_regex directly.
 */
#ifndef DAS_SCENARIO_H
#define DAS_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>

#include "rpc_codec.h"
#include "util.h"

#define DAS_SCENARIO_MAX_REQUESTS 64

typedef struct {
    int status;       /* 0: any */
    char *body;       /* NULL: any */
    char *body_regex; /* NULL: none; compiled by the loader, so known to be valid */
} das_scenario_expect_t;

typedef struct {
    char *method;
    char *target;
    das_rpc_pair_t *headers; /* strings owned */
    size_t n_headers;
    char *body;
    size_t body_len;
    char *user; /* "" when not logged in */
    bool admin;
    das_scenario_expect_t expect;
    int line, col; /* where it was written */
} das_scenario_request_t;

typedef struct {
    char *path;
    char *name;
    das_scenario_request_t *setup;
    size_t n_setup;
    das_scenario_request_t *requests; /* repeat expanded */
    size_t n_requests;
    das_scenario_request_t *checks;
    size_t n_checks;
    bool serializable;
} das_scenario_t;

/* Reads and checks a scenario file. AE_EINVAL with "file:line:col: what, and the fix" in
 * `err`; AE_EIO when it cannot be read. */
int das_scenario_load(const char *path, das_scenario_t **out, das_err_t *err);
void das_scenario_destroy(das_scenario_t *s); /* NULL ok */

/* Whether `body` (len bytes) meets `e`: its status and body (exact) and regex (a match
 * anywhere). */
bool das_scenario_expect_met(const das_scenario_expect_t *e, int status, const char *body,
                             size_t len);
/* "200 \"2\"" (what an expectation says), for reports. */
void das_scenario_expect_describe(const das_scenario_expect_t *e, das_buf_t *out);

#endif
