/* urlfetch.h - the URL Fetch stub: the platform's outbound HTTP(S) fetches, on libcurl.
 *
 * Plain C in, plain C out: no RPC and no knowledge of the server's front end. The stub applies
 * the platform's rules (methods, URLs and ports, prohibited and added headers, the deadline,
 * redirects followed hop by hop, the size limits, certificate validation) and says what went
 * wrong in the platform's words, naming the URL.
 *
 * Connections: one libcurl multi handle carries every fetch, so connections to a host are
 * reused across fetches and requests, and fetches started together run in parallel. One thread
 * at a time drives it: the stub's own thread while fetches are in flight that nobody waits
 * for, or else a thread waiting for its fetch, which so costs no handoff between threads.
 * das_urlfetch_start() puts a fetch in flight and returns; das_urlfetch_wait() blocks until it
 * ended. Fetches belong to an owner (the request that made
 * them); das_urlfetch_cancel() drops an owner's unfinished ones when its request ends.
 *
 * Answers without the network, checked before it in this order: prefixes answered by a
 * callback (the testbed's stubs), a replay file (exchanges recorded earlier), offline mode
 * (every other URL fails).
 *
 * Time: the only clock is libcurl's own timeout (CURLOPT_TIMEOUT_MS), real time, as the
 * deadline of a fetch is. Thread-safe: every function may be called from any thread.
 */
#ifndef DAS_URLFETCH_H
#define DAS_URLFETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <appengine/status.h>

/* The platform's limits. */
#define DAS_URLFETCH_MAX_URL 10240
#define DAS_URLFETCH_MAX_PAYLOAD (10u * 1024 * 1024)
#define DAS_URLFETCH_MAX_RESPONSE (32u * 1024 * 1024) /* 2^25: longer bodies are cut */
#define DAS_URLFETCH_MAX_REDIRECTS 5
#define DAS_URLFETCH_DEFAULT_DEADLINE_MS 5000
#define DAS_URLFETCH_MAX_DEADLINE_MS 60000

typedef struct das_urlfetch das_urlfetch_t;

typedef struct {
    const char *name;
    const char *value;
} das_urlfetch_header_t;

/* A fetch as the app asked for it. Borrowed: nothing is kept once the call returns. */
typedef struct {
    const char *method; /* GET, POST, HEAD, PUT, DELETE or PATCH; NULL: GET */
    const char *url;
    const das_urlfetch_header_t *headers;
    size_t n_headers;
    const void *payload; /* sent with POST, PUT and PATCH only */
    size_t payload_len;
    bool follow_redirects;
    bool validate_certificate;
    int64_t deadline_ms; /* 0: DAS_URLFETCH_DEFAULT_DEADLINE_MS; at most the maximum */
} das_urlfetch_request_t;

/* What came back. Owned (malloc'd); free with das_urlfetch_response_dispose(). */
typedef struct {
    int status;
    das_urlfetch_header_t *headers;
    size_t n_headers;
    char *body; /* NUL-terminated for convenience; `len` bytes */
    size_t len;
    char *final_url; /* the URL after redirects; NULL when none was followed */
    bool truncated;  /* the body was cut at DAS_URLFETCH_MAX_RESPONSE */
} das_urlfetch_response_t;

void das_urlfetch_response_dispose(das_urlfetch_response_t *rs);

/* What went wrong, in the platform's words (the URL is in it). */
typedef struct {
    char msg[DAS_URLFETCH_MAX_URL + 1024];
} das_urlfetch_err_t;

/* Answers the fetches of URLs that start with a prefix, instead of the network (the
 * testbed's stubs). Fills `rs` (malloc'd, as a response) and returns AE_OK, or returns an
 * AE_* code with `err` filled. */
typedef int (*das_urlfetch_answer_fn)(void *ctx, const das_urlfetch_request_t *rq,
                                      das_urlfetch_response_t *rs, das_urlfetch_err_t *err);

typedef struct {
    const char *app_id; /* "dev~guestbook": the User-Agent's appid, and the inbound app id */
    /* This server's own front end: whether host:port reaches it. A fetch of it with
     * follow_redirects off carries X-Appengine-Inbound-Appid, and the header
     * `inbound_token_header: inbound_token` so that the front end trusts it (an app cannot
     * set that header). NULL: none. */
    bool (*is_self)(void *ctx, const char *host, int port);
    void *self_ctx;
    const char *inbound_token_header;
    const char *inbound_token;
    const char *record_path; /* append every exchange to this file (JSON lines); NULL: none */
    const char *replay_path; /* answer from this file, with no network; NULL: none */
    /* Told of what the app should know but that is not a failure: prohibited headers
     * dropped. NULL: nobody. */
    void (*warn)(void *ctx, const char *message);
    void *warn_ctx;
} das_urlfetch_options_t;

/* Starts the stub's thread (and reads the replay file). AE_OK, or an AE_* code with `err`. */
int das_urlfetch_create(const das_urlfetch_options_t *o, das_urlfetch_t **out,
                        das_urlfetch_err_t *err);
/* Stops the thread; unfinished fetches are dropped. NULL ok. */
void das_urlfetch_destroy(das_urlfetch_t *uf);

/* Answers the URLs that start with `prefix` with `fn` (added last, looked up first). */
void das_urlfetch_answer(das_urlfetch_t *uf, const char *prefix, das_urlfetch_answer_fn fn,
                         void *ctx);
/* Offline: a URL no answer or replay covers fails with AE_EFETCH instead of being fetched. */
void das_urlfetch_set_offline(das_urlfetch_t *uf, bool offline);

/* Checks the fetch and puts it in flight for `owner`; `*handle` names it for the wait.
 * AE_EINVAL (method, URL), AE_ETOOLARGE (payload), with `err` filled. */
int das_urlfetch_start(das_urlfetch_t *uf, const char *owner, const das_urlfetch_request_t *rq,
                       uint32_t *handle, das_urlfetch_err_t *err);
/* Waits for the fetch to end and hands its response over (the fetch is then forgotten).
 * AE_OK (any HTTP status below 600), AE_ETIMEOUT, AE_EREDIRECT, AE_ECERT, AE_EINVAL (a
 * redirect to a URL the rules refuse), AE_EFETCH, or AE_ENOTFOUND for a handle `owner` does
 * not have. A cut body is AE_OK with `truncated` set. */
int das_urlfetch_wait(das_urlfetch_t *uf, const char *owner, uint32_t handle,
                      das_urlfetch_response_t *rs, das_urlfetch_err_t *err);
/* Start and wait. */
int das_urlfetch_fetch(das_urlfetch_t *uf, const char *owner, const das_urlfetch_request_t *rq,
                       das_urlfetch_response_t *rs, das_urlfetch_err_t *err);
/* Drops every fetch of `owner` not waited for yet; returns how many were in flight. */
size_t das_urlfetch_cancel(das_urlfetch_t *uf, const char *owner);

typedef struct {
    uint64_t fetches;     /* started */
    uint64_t failures;    /* ended with an error */
    uint64_t connections; /* TCP connections libcurl opened */
    uint64_t cancelled;
    uint64_t recorded, replayed;
} das_urlfetch_stats_t;

void das_urlfetch_stats(das_urlfetch_t *uf, das_urlfetch_stats_t *out);

#endif
