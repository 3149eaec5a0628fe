/* fixture.h - the URL Fetch stub's fixture files: each exchange written as a JSON line
 * (--urlfetch-record), and answers read back from such a file with no network
 * (--urlfetch-replay).
 *
 * A line: {"method":"GET","url":"http://..","headers":[["Name","value"],..],"payload":"..",
 *          "status":200,"response_headers":[[..]],"body":"..","final_url":"..",
 *          "truncated":false}
 * Payloads and bodies that are not UTF-8 are written as {"base64":".."}; final_url is null
 * when no redirect was followed. A request matches a line with the same method, URL and
 * payload; lines that match the same request answer in the order they were recorded, and the
 * last one answers again once all were used.
 */
#ifndef DAS_URLFETCH_FIXTURE_H
#define DAS_URLFETCH_FIXTURE_H

#include "urlfetch.h"

typedef struct das_uf_fixture das_uf_fixture_t;

/* Reads a fixture file. AE_OK, or AE_EIO/AE_EINVAL with `err` naming the file and line. */
int das_uf_fixture_load(const char *path, das_uf_fixture_t **out, das_urlfetch_err_t *err);
void das_uf_fixture_free(das_uf_fixture_t *f); /* NULL ok */
/* Fills `rs` from the line that answers `rq`: AE_OK, or AE_ENOTFOUND when none does.
 * `method` is the request's method, already checked. Thread-safe. */
int das_uf_fixture_answer(das_uf_fixture_t *f, const char *method,
                          const das_urlfetch_request_t *rq, das_urlfetch_response_t *rs);
const char *das_uf_fixture_path(const das_uf_fixture_t *f);

/* The record file: opened for appending; one line per exchange, written whole and flushed. */
typedef struct das_uf_recorder das_uf_recorder_t;
int das_uf_recorder_open(const char *path, das_uf_recorder_t **out, das_urlfetch_err_t *err);
void das_uf_recorder_close(das_uf_recorder_t *r); /* NULL ok */
/* Thread-safe. */
void das_uf_record(das_uf_recorder_t *r, const char *method, const das_urlfetch_request_t *rq,
                   const das_urlfetch_response_t *rs);

#endif
