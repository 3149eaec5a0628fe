/* http.h - the HTTP listener: libmicrohttpd behind a small request/response interface.
 *
 * http.c is the only file that includes microhttpd.h. It accepts connections (keep-alive,
 * a thread per connection), reads the whole request, enforces the body rules that must be
 * decided while the body arrives (413 over the limit, 400 for a body on GET/HEAD/DELETE/TRACE),
 * then calls `on_request` on the connection's thread, which fills a das_http_response_t.
 * Responses are either a buffer or an open file (served with sendfile).
 */
#ifndef DAS_HTTP_H
#define DAS_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"
#include "util.h"

typedef struct {
    char *name;
    char *value;
} das_http_header_t;

typedef struct {
    const char *method;
    const char *raw_target; /* the request target as sent: "/a%20b?x=1" */
    const char *path;       /* percent-decoded path, without the query */
    const char *query;      /* raw query string without '?', "" when none */
    const char *version;    /* "HTTP/1.1" */
    const char *remote_addr;
    const das_http_header_t *headers;
    size_t n_headers;
    const char *body;
    size_t body_len;
} das_http_request_t;

/* The most bytes of response headers ("Name: value\r\n" each) a response may carry; each
 * connection's memory is sized for them (libmicrohttpd's default of 32 KiB sent an empty reply
 * for a response with more). Not more: libmicrohttpd 0.9.75 zeroes a connection's whole
 * memory after every request, so its size is paid per request (256 KiB cost 5x the server's
 * instructions per request, in callgrind). */
#define DAS_HTTP_MAX_HEADER_BYTES (48 * 1024)

typedef struct {
    int status;
    das_http_header_t *headers; /* owned */
    size_t n_headers, cap_headers;
    das_buf_t body;
    int fd;           /* >= 0: serve this file instead of `body`; http.c closes it */
    uint64_t fd_size;
} das_http_response_t;

void das_http_response_init(das_http_response_t *rs);
void das_http_response_dispose(das_http_response_t *rs);
/* Copies name and value. */
void das_http_response_add_header(das_http_response_t *rs, const char *name, const char *value);
/* The first header of that name (case-insensitive), or NULL. */
const char *das_http_response_header(const das_http_response_t *rs, const char *name);
void das_http_response_remove_header(das_http_response_t *rs, const char *name);
void das_http_response_clear_headers(das_http_response_t *rs);
/* The bytes its headers take on the wire. */
size_t das_http_response_header_bytes(const das_http_response_t *rs);
/* Sets status, a text/plain (or `content_type`) body, replacing what was there. */
void das_http_response_set_text(das_http_response_t *rs, int status, const char *content_type,
                                const char *fmt, ...) __attribute__((format(printf, 4, 5)));

typedef void (*das_http_request_cb)(void *ctx, const das_http_request_t *rq,
                                    das_http_response_t *rs);

typedef struct das_http das_http_t;

typedef struct {
    const char *host;     /* address to bind, e.g. "127.0.0.1" or "::1" or "localhost" */
    int port;             /* 0 picks a free port */
    size_t max_body;      /* larger bodies get 413 */
    das_http_request_cb on_request;
    void *ctx;
    das_log_t *log;
    das_clock_t *clock;
    int head_timeout_ms;  /* a request's line and headers must arrive within this; 0: 10 s */
    int idle_timeout_ms;  /* an idle keep-alive connection is closed after this; 0: 120 s */
} das_http_options_t;

int das_http_start(const das_http_options_t *o, das_http_t **out, das_err_t *err);
/* The port actually bound. */
int das_http_port(const das_http_t *h);
/* Stops accepting new connections; open ones go on. */
void das_http_quiesce(das_http_t *h);
/* Waits up to `timeout_ms` until no request is in progress (every response begun has been
 * sent). Returns true when idle. Idle keep-alive connections do not count. */
bool das_http_drain(das_http_t *h, int timeout_ms);
/* Closes every connection, waits for their threads, frees `h`. NULL ok. */
void das_http_stop(das_http_t *h);

#endif
