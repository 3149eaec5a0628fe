/* appengine/urlfetch.h - outbound HTTP(S) for handlers, with the platform's rules.
 *
 *     ae_urlfetch_request_t f = AE_URLFETCH_REQUEST_INIT;   (GET, follow redirects, 5 s)
 *     f.url = "http://127.0.0.1:9000/x";
 *     ae_urlfetch_response_t r;
 *     int rc = ae_urlfetch(rq, &f, &r);    r.status, r.headers, r.body, r.len, r.final_url
 *
 * Several at once: ae_urlfetch_start() returns as soon as the server has the fetch in flight,
 * ae_urlfetch_wait() blocks until it ended; fetches started together run in parallel. A fetch
 * not waited for is cancelled when its request ends.
 *
 * Results (the platform's message, naming the URL, is ae_request_last_error(rq)):
 *   AE_OK         an answer came, whatever its HTTP status (a 404 or a 500 is AE_OK too)
 *   AE_EINVAL     a method other than GET, POST, HEAD, PUT, DELETE, PATCH; a URL that is not
 *                 http(s) with a host, longer than 10,240 characters, or on a port other than
 *                 80-90, 440-450, 1024-65535 (this or any redirect's); a GET of the request's
 *                 own URL
 *   AE_ETOOLARGE  a payload over 10 MiB (nothing is sent); a body cut at 32 MiB while
 *                 allow_truncated is off (the cut response is still filled in)
 *   AE_ETIMEOUT   the deadline passed: the fetch's own (default 5 s, at most 60 s) or what
 *                 was left of the request's
 *   AE_EREDIRECT  more than 5 redirects
 *   AE_ECERT      validate_certificate is on and the certificate or host name did not check
 *   AE_EFETCH     anything else: DNS, a refused or reset connection, a malformed reply, a
 *                 status of 600 or more
 *
 * What the platform does to a fetch: Content-Length, Host, Vary, Via, X-Forwarded-For,
 * X-ProxyUser-IP and X-Appengine-Inbound-Appid set by the app are dropped (the log says so);
 * the User-Agent gets "AppEngine-Google; (+http://code.google.com/appengine; appid: APPID)"
 * after the app's own; unless the app set Accept-Encoding, gzip is asked for and decoded
 * (Content-Encoding removed); a POST with a payload and no Content-Type is sent as
 * application/x-www-form-urlencoded; a payload is sent only with POST, PUT and PATCH.
 * Redirects (301, 302, 303, 307; not 308) turn a method other than GET or HEAD into a GET
 * without its payload, except on a 307. A fetch of this app with follow_redirects off carries
 * X-Appengine-Inbound-Appid.
 *
 * Responses live in the request's arena.
 */
#ifndef AE_URLFETCH_H
#define AE_URLFETCH_H

#include <appengine/appengine.h>

#ifdef __cplusplus
extern "C" {
#endif

#define AE_URLFETCH_MAX_PAYLOAD (10 * 1024 * 1024)
#define AE_URLFETCH_MAX_RESPONSE (32 * 1024 * 1024)

typedef struct {
    const char *method;          /* "GET", "POST", ...; NULL: GET */
    const char *url;
    const char *const *headers;  /* "Name: value", NULL-terminated; NULL: none */
    const void *payload;         /* POST, PUT and PATCH only */
    size_t payload_len;
    bool follow_redirects;
    bool validate_certificate;   /* off by default, as in the old SDK */
    bool allow_truncated;        /* a body cut at 32 MiB is AE_OK, with truncated set */
    double deadline;             /* seconds; 0: ae_urlfetch_set_default_deadline()'s, else 5 */
} ae_urlfetch_request_t;

#define AE_URLFETCH_REQUEST_INIT {.method = "GET", .follow_redirects = true}

typedef struct {
    int status;
    const char *const *headers; /* "Name: value", NULL-terminated */
    size_t n_headers;
    const char *body;           /* NUL-terminated after len */
    size_t len;
    const char *final_url;      /* the URL after redirects; NULL when none was followed */
    bool truncated;
} ae_urlfetch_response_t;

/* A fetch in flight (ae_urlfetch_start); it lives in the request's arena. */
typedef struct ae_urlfetch_rpc ae_urlfetch_rpc_t;

AE_API int ae_urlfetch(ae_request_t *rq, const ae_urlfetch_request_t *f,
                       ae_urlfetch_response_t *out);
AE_API int ae_urlfetch_start(ae_request_t *rq, const ae_urlfetch_request_t *f,
                             ae_urlfetch_rpc_t **rpc);
/* Once per rpc; AE_EINVAL for an rpc already waited for. */
AE_API int ae_urlfetch_wait(ae_request_t *rq, ae_urlfetch_rpc_t *rpc,
                            ae_urlfetch_response_t *out);
/* The deadline of this request's later fetches that set none (seconds; at most 60). */
AE_API void ae_urlfetch_set_default_deadline(ae_request_t *rq, double seconds);
/* The value of a response header (the first, by name in any case); NULL when absent. */
AE_API const char *ae_urlfetch_header(const ae_urlfetch_response_t *r, const char *name);

#ifdef __cplusplus
}
#endif

#endif
