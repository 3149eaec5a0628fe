/* origin.h - a test origin server for the urlfetch tests: a real HTTP (or HTTPS) server on
 * 127.0.0.1, in the test's own process, whose routes each show one thing an HTTP client must
 * handle (echoing what arrived, redirects, slow answers, gzip, large and truncated bodies,
 * odd statuses, chosen headers). It is libmicrohttpd with a thread per connection, so slow
 * routes answer in parallel, and HTTP/1.1 keep-alive, so a client that reuses connections
 * makes one connection for many sequential requests.
 *
 * HTTPS uses a self-signed certificate made at start (EC P-256, SHA-256, CN=localhost,
 * subjectAltName IP:127.0.0.1 and DNS:localhost, valid from an hour ago for a day). A client
 * that verifies against its usual CA bundle must fail; one given origin_cert_pem() as its CA
 * (libcurl: CURLOPT_CAINFO_BLOB) must succeed.
 *
 * Routes (GET parameters are read from the query string; a bad or missing one answers 400):
 *   /echo                   any method, a request body up to 16 MiB (more: 413). 200,
 *                           text/plain, and the body is exactly:
 *                             METHOD SP REQUEST-TARGET "\n"       (the target as on the request
 *                                                                  line: raw, query included)
 *                             NAME ": " VALUE "\n"                (each request header, in the
 *                                                                  order received, names as sent)
 *                             "\n"
 *                             the request body's bytes, as received
 *   /redirect/CODE/N        N > 0: status CODE (300..399) with "Location: /redirect/CODE/N-1"
 *                           (relative) and the body "redirect"; N == 0: exactly as /echo, so
 *                           the client sees which method and body arrived after the redirects.
 *   /redirect-to?code=C&url=U   status C (default 302, 300..399) with "Location: U" as given.
 *   /redirect-nolocation    302 without a Location header.
 *   /slow?ms=N              sleeps N ms (at most 600000), then 200 "slow".
 *   /gzip                   200 with "Content-Encoding: gzip"; the body inflates to
 *                           ORIGIN_GZIP_PLAIN_LEN bytes of ORIGIN_GZIP_UNIT repeated, and
 *                           "X-Plain-Length: <that length>" says so.
 *   /big?bytes=N            200 with a body of exactly N bytes (at most 64 MiB), made as it is
 *                           sent: byte i is 'a' + i % 26.
 *   /status?code=N          status N (100..999) with the body "status N". (A 1xx status leaves
 *                           a client waiting for a final one that never comes.)
 *   /close                  200 declaring Content-Length 100000, then ORIGIN_CLOSE_SENT bytes of
 *                           the /big pattern, then the connection is closed mid-body.
 *   /header?name=X&value=Y  200 with the response header "X: Y" and the body "ok" (400 when
 *                           libmicrohttpd refuses that header).
 *   anything else           404 "not found".
 *
 * All functions may be called from any thread; origin_stop() from one only, once the origin
 * is no longer used. Everything the origin prints goes to stderr, prefixed "origin: ".
 */
#ifndef DAS_TEST_ORIGIN_H
#define DAS_TEST_ORIGIN_H

#include <stdbool.h>

/* /gzip's uncompressed body: ORIGIN_GZIP_UNIT 91 times. */
#define ORIGIN_GZIP_UNIT "hello gzip "
#define ORIGIN_GZIP_REPEAT 91
#define ORIGIN_GZIP_PLAIN_LEN (ORIGIN_GZIP_REPEAT * (sizeof(ORIGIN_GZIP_UNIT) - 1)) /* 1001 */

/* How much of its declared 100000 bytes /close sends before closing the connection. */
#define ORIGIN_CLOSE_SENT 1000

typedef struct origin origin_t;

/* Starts an origin on 127.0.0.1 on an ephemeral port; https: TLS with a fresh self-signed
 * certificate. Returns NULL (and prints why to stderr) on failure, including when this
 * libmicrohttpd was built without TLS. */
origin_t *origin_start(bool https);

/* Stops (waiting for requests in progress, /slow ones too) and frees; NULL is ok. */
void origin_stop(origin_t *o);

int origin_port(const origin_t *o);

/* "http://127.0.0.1:PORT" or "https://127.0.0.1:PORT", without a trailing slash. */
const char *origin_base(const origin_t *o);

/* Connections accepted so far. */
unsigned origin_connections(const origin_t *o);

/* Requests answered so far (counted when the response is queued, before it is sent). */
unsigned origin_requests(const origin_t *o);

/* The certificate in PEM (https only; NULL otherwise). */
const char *origin_cert_pem(const origin_t *o);

#endif
