/* urlfetch.c - the URL Fetch stub on libcurl: the platform's rules, one multi handle driven by
 * a waiting thread or the stub's own, redirects followed hop by hop, and answers without the
 * network. The only file of the project that includes curl.h.
 */
#include "urlfetch.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "fixture.h"

#define USER_AGENT_FMT "AppEngine-Google; (+http://code.google.com/appengine; appid: %s)"

/* ---------------------------------------------------------------- small helpers */

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        abort();
    return p;
}

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p)
        abort();
    return p;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s);
    char *d = xmalloc(n + 1);
    memcpy(d, s, n + 1);
    return d;
}

static char *xmemdup(const void *p, size_t n)
{
    char *d = xmalloc(n + 1);
    if (n)
        memcpy(d, p, n);
    d[n] = '\0';
    return d;
}

static int fail(das_urlfetch_err_t *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(das_urlfetch_err_t *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return code;
}

void das_urlfetch_response_dispose(das_urlfetch_response_t *rs)
{
    if (!rs)
        return;
    for (size_t i = 0; i < rs->n_headers; i++) {
        free((char *)rs->headers[i].name);
        free((char *)rs->headers[i].value);
    }
    free(rs->headers);
    free(rs->body);
    free(rs->final_url);
    memset(rs, 0, sizeof *rs);
}

static void add_header(das_urlfetch_response_t *rs, const char *name, size_t nlen,
                       const char *value, size_t vlen)
{
    rs->headers = xrealloc(rs->headers, (rs->n_headers + 1) * sizeof *rs->headers);
    rs->headers[rs->n_headers].name = xmemdup(name, nlen);
    rs->headers[rs->n_headers].value = xmemdup(value, vlen);
    rs->n_headers++;
}

static void remove_header(das_urlfetch_response_t *rs, size_t i)
{
    free((char *)rs->headers[i].name);
    free((char *)rs->headers[i].value);
    memmove(&rs->headers[i], &rs->headers[i + 1], (rs->n_headers - i - 1) * sizeof *rs->headers);
    rs->n_headers--;
}

/* ---------------------------------------------------------------- the rules */

static const char *const methods[] = {"GET", "POST", "HEAD", "PUT", "DELETE", "PATCH"};

/* The method in upper case (static), or NULL when the platform has no such method. */
static const char *method_name(const char *m)
{
    if (!m || !*m)
        return "GET";
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (strcasecmp(m, methods[i]) == 0)
            return methods[i];
    return NULL;
}

static bool sends_payload(const char *method)
{
    return !strcmp(method, "POST") || !strcmp(method, "PUT") || !strcmp(method, "PATCH");
}

static bool port_allowed(long port)
{
    return (port >= 80 && port <= 90) || (port >= 440 && port <= 450) ||
           (port >= 1024 && port <= 65535);
}

/* Checks a URL against the platform's rules (the request's, and each redirect hop's): no port,
 * or an allowed one (an explicit 0 is not). On success its host (malloc'd) and port (0 when
 * none) go to `host` and `port` when not NULL. */
static int check_url(const char *url, char **host, long *port, das_urlfetch_err_t *err)
{
    size_t len = strlen(url);
    if (len > DAS_URLFETCH_MAX_URL)
        return fail(err, AE_EINVAL,
                    "Invalid request URL: %.200s... (%zu characters; the limit is %d)", url,
                    len, DAS_URLFETCH_MAX_URL);
    CURLU *u = curl_url();
    if (!u)
        abort();
    char *scheme = NULL, *h = NULL, *p = NULL;
    int rc = AE_OK;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0) ||
        curl_url_get(u, CURLUPART_HOST, &h, 0) != CURLUE_OK || !*h) {
        rc = fail(err, AE_EINVAL, "Invalid request URL: %s", url);
        goto out;
    }
    long n = 0;
    if (curl_url_get(u, CURLUPART_PORT, &p, 0) == CURLUE_OK) {
        n = strtol(p, NULL, 10);
        if (!port_allowed(n)) {
            rc = fail(err, AE_EINVAL,
                      "Invalid request URL: %s (port %ld is not allowed in production!)", url, n);
            goto out;
        }
    }
    if (host)
        *host = xstrdup(h);
    if (port)
        *port = n;
out:
    curl_free(scheme);
    curl_free(h);
    curl_free(p);
    curl_url_cleanup(u);
    return rc;
}

/* Headers the app may not set: dropped with a warning. */
static const char *const prohibited[] = {
    "Content-Length", "Host", "Vary", "Via", "X-Appengine-Inbound-Appid", "X-Forwarded-For",
    "X-ProxyUser-IP", NULL};

static bool is_prohibited(const das_urlfetch_t *uf, const char *name);

static bool header_is_valid(const das_urlfetch_header_t *h)
{
    if (!h->name || !*h->name || !h->value)
        return false;
    for (const char *c = h->name; *c; c++)
        if (*c <= ' ' || *c == ':' || *c == 0x7f)
            return false;
    return strpbrk(h->value, "\r\n") == NULL;
}

/* ---------------------------------------------------------------- fetches */

typedef enum { JOB_PENDING, JOB_IN_FLIGHT, JOB_DONE } job_state_t;

typedef struct job {
    struct job *next;
    char *owner;
    uint32_t handle;
    job_state_t state;
    bool cancelled; /* its request ended: dropped, or ended at once for its waiter */
    bool waited;    /* a thread waits for it: only that thread frees it */
    /* The request as the app made it (kept for the record file and redirects). */
    const char *method0;
    das_urlfetch_request_t rq;
    das_urlfetch_header_t *headers;
    char *payload;
    /* The hop in flight. */
    CURL *easy;
    struct curl_slist *slist;
    const char *method; /* this hop's: a redirect may turn a POST into a GET */
    char *url;
    char *host;         /* this hop's, and its port (0: none), from the check of its URL */
    long port;
    bool with_payload;
    int hops;
    int64_t remaining_ms;
    bool decode_gzip; /* the app did not set Accept-Encoding: we asked for gzip */
    char errbuf[CURL_ERROR_SIZE];
    /* The result. */
    das_urlfetch_response_t rs;
    size_t body_cap;
    int rc;
    das_urlfetch_err_t err;
} job_t;

typedef struct answerer {
    struct answerer *next;
    char *prefix;
    das_urlfetch_answer_fn fn;
    void *ctx;
} answerer_t;

struct das_urlfetch {
    das_urlfetch_options_t o;
    char *app_id, *inbound_app_id, *inbound_token_header, *inbound_token, *user_agent;
    das_uf_fixture_t *fixture;
    das_uf_recorder_t *recorder;

    pthread_mutex_t lock;
    pthread_cond_t done; /* a fetch ended, or the driver's role is free */
    pthread_cond_t idle; /* the stub's thread: fetches need driving and nobody drives */
    bool driving;        /* a thread holds the driver's role: only it touches `multi` */
    answerer_t *answerers;
    bool offline;
    job_t *jobs; /* every fetch not waited for yet */
    CURL *spare[16]; /* easy handles of ended fetches, for the next ones (setup resets them) */
    size_t n_spare;
    uint32_t next_handle;
    das_urlfetch_stats_t stats;

    CURLM *multi; /* NULL until the first fetch that needs the network */
    pthread_t thread;
    bool stop;
};

static bool is_prohibited(const das_urlfetch_t *uf, const char *name)
{
    for (const char *const *p = prohibited; *p; p++)
        if (strcasecmp(name, *p) == 0)
            return true;
    return uf->inbound_token_header && strcasecmp(name, uf->inbound_token_header) == 0;
}

static void job_free(job_t *j)
{
    if (j->easy)
        curl_easy_cleanup(j->easy);
    curl_slist_free_all(j->slist);
    free(j->owner);
    free((char *)j->rq.url);
    for (size_t i = 0; i < j->rq.n_headers; i++) {
        free((char *)j->headers[i].name);
        free((char *)j->headers[i].value);
    }
    free(j->headers);
    free(j->payload);
    free(j->url);
    free(j->host);
    das_urlfetch_response_dispose(&j->rs);
    free(j);
}

static void unlink_job(das_urlfetch_t *uf, job_t *j)
{
    for (job_t **p = &uf->jobs; *p; p = &(*p)->next)
        if (*p == j) {
            *p = j->next;
            return;
        }
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ctx)
{
    job_t *j = ctx;
    size_t n = size * nmemb;
    das_urlfetch_response_t *rs = &j->rs;
    size_t take = n;
    if (rs->len + take > DAS_URLFETCH_MAX_RESPONSE) {
        take = DAS_URLFETCH_MAX_RESPONSE - rs->len;
        rs->truncated = true;
    }
    if (rs->len + take + 1 > j->body_cap) {
        size_t cap = j->body_cap ? j->body_cap : 16384;
        while (cap < rs->len + take + 1)
            cap *= 2;
        rs->body = xrealloc(rs->body, cap);
        j->body_cap = cap;
    }
    memcpy(rs->body + rs->len, data, take);
    rs->len += take;
    rs->body[rs->len] = '\0';
    return rs->truncated ? 0 : n; /* 0 stops the transfer: the body was cut */
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ctx)
{
    job_t *j = ctx;
    size_t n = size * nmemb;
    if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) { /* a new response (a 100, or a hop) */
        for (size_t i = j->rs.n_headers; i-- > 0;)
            remove_header(&j->rs, i);
        return n;
    }
    const char *colon = memchr(data, ':', n);
    if (!colon)
        return n; /* the blank line */
    const char *v = colon + 1, *end = data + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    add_header(&j->rs, data, (size_t)(colon - data), v, (size_t)(end - v));
    return n;
}

static int on_sockopt(void *ctx, curl_socket_t fd, curlsocktype purpose)
{
    (void)fd;
    if (purpose == CURLSOCKTYPE_IPCXN) {
        das_urlfetch_t *uf = ctx;
        pthread_mutex_lock(&uf->lock);
        uf->stats.connections++;
        pthread_mutex_unlock(&uf->lock);
    }
    return CURL_SOCKOPT_OK;
}

static bool app_set(const job_t *j, const char *name)
{
    for (size_t i = 0; i < j->rq.n_headers; i++)
        if (strcasecmp(j->headers[i].name, name) == 0)
            return true;
    return false;
}

/* Appends the header line "Name: value" ("Name;" when the value is empty: libcurl's way to
 * send an empty header). */
static struct curl_slist *append_header(struct curl_slist *l, const char *name,
                                        const char *value)
{
    size_t n = strlen(name) + strlen(value) + 3;
    char *line = xmalloc(n);
    if (*value)
        snprintf(line, n, "%s: %s", name, value);
    else
        snprintf(line, n, "%s;", name);
    struct curl_slist *out = curl_slist_append(l, line);
    free(line);
    if (!out)
        abort();
    return out;
}

/* The header lines of this hop: the app's (less the prohibited ones), then ours. An empty
 * "Name:" line removes a header libcurl would add by itself. */
static struct curl_slist *hop_headers(das_urlfetch_t *uf, job_t *j, const char *host,
                                      long port)
{
    struct curl_slist *l = NULL;
    for (size_t i = 0; i < j->rq.n_headers; i++) {
        const das_urlfetch_header_t *h = &j->headers[i];
        if (strcasecmp(h->name, "User-Agent") == 0)
            continue; /* it goes first in ours */
        if (strcasecmp(h->name, "Content-Type") == 0 && !j->with_payload)
            continue;
        l = append_header(l, h->name, h->value);
    }
    /* libcurl's own defaults the platform does not send. */
    l = curl_slist_append(l, "Expect:");
    if (!app_set(j, "Accept"))
        l = curl_slist_append(l, "Accept:");
    if (!app_set(j, "Content-Type") || !j->with_payload) {
        if (!strcmp(j->method, "POST") && j->with_payload && j->rq.payload_len)
            l = curl_slist_append(l, "Content-Type: application/x-www-form-urlencoded");
        else
            l = curl_slist_append(l, "Content-Type:");
    }
    if (!j->rq.follow_redirects && uf->o.is_self && uf->o.is_self(uf->o.self_ctx, host, port)) {
        l = append_header(l, "X-Appengine-Inbound-Appid", uf->inbound_app_id);
        if (uf->inbound_token && uf->inbound_token_header)
            l = append_header(l, uf->inbound_token_header, uf->inbound_token);
    }
    if (!l)
        abort();
    return l;
}

/* Sets the easy handle up for the hop to j->url, whose check gave j->host and j->port. */
static void setup_hop(das_urlfetch_t *uf, job_t *j)
{
    curl_slist_free_all(j->slist);
    j->slist = hop_headers(uf, j, j->host, j->port);

    CURL *e = j->easy;
    curl_easy_reset(e);
    curl_easy_setopt(e, CURLOPT_URL, j->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, j);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L); /* hops are ours: the rules apply to each */
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, j->errbuf);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, j);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, j);
    curl_easy_setopt(e, CURLOPT_SOCKOPTFUNCTION, on_sockopt);
    curl_easy_setopt(e, CURLOPT_SOCKOPTDATA, uf);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, j->slist);
    j->errbuf[0] = '\0';
    /* The User-Agent: the app's, then the platform's (libcurl copies it). */
    const char *mine = NULL;
    for (size_t i = 0; i < j->rq.n_headers; i++)
        if (strcasecmp(j->headers[i].name, "User-Agent") == 0)
            mine = j->headers[i].value;
    if (mine && *mine) {
        size_t n = strlen(mine) + strlen(uf->user_agent) + 2;
        char *ua = xmalloc(n);
        snprintf(ua, n, "%s %s", mine, uf->user_agent);
        curl_easy_setopt(e, CURLOPT_USERAGENT, ua);
        free(ua);
    } else {
        curl_easy_setopt(e, CURLOPT_USERAGENT, uf->user_agent);
    }
    if (j->decode_gzip)
        curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "gzip");
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, j->rq.validate_certificate ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, j->rq.validate_certificate ? 2L : 0L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(j->remaining_ms > 0 ? j->remaining_ms : 1));

    if (!strcmp(j->method, "GET")) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else if (!strcmp(j->method, "HEAD")) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (j->with_payload) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)j->rq.payload_len);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, j->payload);
        if (strcmp(j->method, "POST") != 0)
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, j->method);
    } else {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, j->method);
    }

    /* A new hop's answer starts afresh. */
    for (size_t i = j->rs.n_headers; i-- > 0;)
        remove_header(&j->rs, i);
    j->rs.len = 0;
    j->rs.truncated = false;
}

/* The answer is the final one: tidy it as the platform does. */
static void finish_response(job_t *j)
{
    das_urlfetch_response_t *rs = &j->rs;
    if (!rs->body)
        rs->body = xmemdup("", 0);
    bool decoded = false;
    for (size_t i = 0; i < rs->n_headers; i++)
        if (j->decode_gzip && strcasecmp(rs->headers[i].name, "Content-Encoding") == 0 &&
            strcasecmp(rs->headers[i].value, "gzip") == 0) {
            remove_header(rs, i);
            decoded = true;
            break;
        }
    if (decoded && strcmp(j->method, "HEAD") != 0)
        for (size_t i = 0; i < rs->n_headers; i++)
            if (strcasecmp(rs->headers[i].name, "Content-Length") == 0) {
                char n[32];
                snprintf(n, sizeof n, "%zu", rs->len);
                free((char *)rs->headers[i].value);
                rs->headers[i].value = xstrdup(n);
            }
}

/* Maps a transfer's failure onto the platform's errors. */
static int transfer_error(job_t *j, CURLcode cc)
{
    const char *why = j->errbuf[0] ? j->errbuf : curl_easy_strerror(cc);
    switch (cc) {
    case CURLE_OPERATION_TIMEDOUT:
        return fail(&j->err, AE_ETIMEOUT,
                    "Deadline exceeded while waiting for HTTP response from URL: %s", j->url);
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        return fail(&j->err, AE_ECERT, "Invalid and/or missing SSL certificate for URL: %s (%s)",
                    j->url, why);
    case CURLE_COULDNT_RESOLVE_HOST:
        return fail(&j->err, AE_EFETCH, "Unable to fetch URL: %s (DNS lookup failed: %s)",
                    j->url, why);
    default:
        return fail(&j->err, AE_EFETCH, "Unable to fetch URL: %s (%s)", j->url, why);
    }
}

typedef enum { HOP_DONE, HOP_AGAIN } hop_t;

/* A hop ended (by the driver): the fetch is done, or it goes on to the redirect's target. */
static hop_t hop_ended(das_urlfetch_t *uf, job_t *j, CURLcode cc)
{
    curl_off_t spent_us = 0;
    curl_easy_getinfo(j->easy, CURLINFO_TOTAL_TIME_T, &spent_us);
    j->remaining_ms -= (int64_t)(spent_us / 1000);
    if (cc != CURLE_OK && !(cc == CURLE_WRITE_ERROR && j->rs.truncated)) {
        j->rc = transfer_error(j, cc);
        return HOP_DONE;
    }
    long status = 0;
    curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &status);
    j->rs.status = (int)status;
    if (status >= 600) {
        j->rc = fail(&j->err, AE_EFETCH, "Unable to fetch URL: %s (status %ld is not an HTTP "
                                         "status)",
                     j->url, status);
        return HOP_DONE;
    }
    bool redirect = status == 301 || status == 302 || status == 303 || status == 307;
    if (!j->rq.follow_redirects || !redirect) {
        finish_response(j);
        j->rc = AE_OK;
        return HOP_DONE;
    }
    char *next = NULL;
    curl_easy_getinfo(j->easy, CURLINFO_REDIRECT_URL, &next);
    if (!next) {
        j->rc = fail(&j->err, AE_EFETCH, "Unable to fetch URL: %s (a %ld redirect with no "
                                         "Location header)",
                     j->url, status);
        return HOP_DONE;
    }
    if (++j->hops > DAS_URLFETCH_MAX_REDIRECTS) {
        j->rc = fail(&j->err, AE_EREDIRECT, "Too many repeated redirects while fetching URL: "
                                            "%s (more than %d)",
                     j->rq.url, DAS_URLFETCH_MAX_REDIRECTS);
        return HOP_DONE;
    }
    char *host = NULL;
    long port = 0;
    if ((j->rc = check_url(next, &host, &port, &j->err)) != AE_OK)
        return HOP_DONE;
    if (j->remaining_ms <= 0) {
        free(host);
        j->rc = fail(&j->err, AE_ETIMEOUT,
                     "Deadline exceeded while waiting for HTTP response from URL: %s", next);
        return HOP_DONE;
    }
    char *target = xstrdup(next); /* `next` belongs to the handle, which is reset */
    free(j->url);
    j->url = target;
    free(j->host);
    j->host = host;
    j->port = port;
    free(j->rs.final_url);
    j->rs.final_url = xstrdup(target);
    if (strcmp(j->method, "GET") != 0 && strcmp(j->method, "HEAD") != 0 && status != 307) {
        j->method = "GET";
        j->with_payload = false;
    }
    setup_hop(uf, j);
    return HOP_AGAIN;
}

/* Publishes a finished fetch (the lock is held). */
static void done_locked(das_urlfetch_t *uf, job_t *j)
{
    j->state = JOB_DONE;
    if (j->rc != AE_OK)
        uf->stats.failures++;
    if (j->easy) { /* its connection stays in the multi handle's pool either way */
        if (uf->n_spare < sizeof uf->spare / sizeof uf->spare[0])
            uf->spare[uf->n_spare++] = j->easy;
        else
            curl_easy_cleanup(j->easy);
        j->easy = NULL;
    }
    if (j->cancelled && !j->waited) {
        unlink_job(uf, j);
        job_free(j);
        return;
    }
    pthread_cond_broadcast(&uf->done);
}

/* Drops a cancelled fetch not in the multi handle; one a thread waits for ends instead, with
 * an error, and its waiter frees it. */
static void cancelled_locked(das_urlfetch_t *uf, job_t *j)
{
    if (!j->waited) {
        unlink_job(uf, j);
        job_free(j);
        return;
    }
    j->rc = fail(&j->err, AE_EFETCH, "Unable to fetch URL: %s (cancelled: its request ended)",
                 j->rq.url);
    done_locked(uf, j);
}

/* Whether a fetch still needs the multi handle: one waiting to be taken in, or in flight. */
static bool busy_locked(const das_urlfetch_t *uf)
{
    for (const job_t *j = uf->jobs; j; j = j->next)
        if (j->state != JOB_DONE)
            return true;
    return false;
}

/* One turn of the multi handle, by the thread that holds the driver's role (the lock not
 * held): takes new fetches in, drops cancelled ones, moves every transfer on, and finishes
 * those that ended (or sends them on to their redirect's target). */
static void turn(das_urlfetch_t *uf)
{
    pthread_mutex_lock(&uf->lock);
    for (job_t *j = uf->jobs, *next; j; j = next) {
        next = j->next;
        if (j->state == JOB_PENDING) {
            j->state = JOB_IN_FLIGHT;
            curl_multi_add_handle(uf->multi, j->easy);
        } else if (j->state == JOB_IN_FLIGHT && j->cancelled) {
            curl_multi_remove_handle(uf->multi, j->easy);
            cancelled_locked(uf, j);
        }
    }
    pthread_mutex_unlock(&uf->lock);

    int running = 0;
    curl_multi_perform(uf->multi, &running);
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(uf->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        job_t *j = NULL;
        CURL *e = m->easy_handle;
        CURLcode cc = m->data.result;
        curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&j);
        curl_multi_remove_handle(uf->multi, e);
        if (hop_ended(uf, j, cc) == HOP_AGAIN) {
            curl_multi_add_handle(uf->multi, e);
            continue;
        }
        if (j->rc == AE_OK && uf->recorder)
            das_uf_record(uf->recorder, j->method0, &j->rq, &j->rs);
        pthread_mutex_lock(&uf->lock);
        if (j->rc == AE_OK && uf->recorder)
            uf->stats.recorded++;
        done_locked(uf, j);
        pthread_mutex_unlock(&uf->lock);
    }
}

/* Drives the multi handle until `until` ended (a waiter), or until no fetch needs it (the
 * stub's thread, `until` NULL). Called with the lock and the driver's role held; returns with
 * the lock held and the role given up, to the stub's thread when fetches remain.
 *
 * The role is why a fetch waited for costs no handoff between threads: the thread that waits
 * moves the transfers itself, as long as no other thread does. The stub's thread drives only
 * what nobody waits for (fetches started and not yet waited for). */
static void drive_locked(das_urlfetch_t *uf, const job_t *until)
{
    for (;;) {
        pthread_mutex_unlock(&uf->lock);
        turn(uf);
        pthread_mutex_lock(&uf->lock);
        if (uf->stop || (until ? until->state == JOB_DONE : !busy_locked(uf)))
            break;
        pthread_mutex_unlock(&uf->lock);
        curl_multi_poll(uf->multi, NULL, 0, 1000, NULL);
        pthread_mutex_lock(&uf->lock);
    }
    uf->driving = false;
    if (busy_locked(uf))
        pthread_cond_signal(&uf->idle);
    pthread_cond_broadcast(&uf->done); /* a waiter may take the role over */
}

static void *run(void *arg)
{
    das_urlfetch_t *uf = arg;
    pthread_mutex_lock(&uf->lock);
    for (;;) {
        while (!uf->stop && (uf->driving || !busy_locked(uf)))
            pthread_cond_wait(&uf->idle, &uf->lock);
        if (uf->stop)
            break;
        uf->driving = true;
        drive_locked(uf, NULL);
    }
    pthread_mutex_unlock(&uf->lock);
    return NULL;
}

/* ---------------------------------------------------------------- the API */

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void global_init(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* libcurl (curl_global_init, once in the process), the multi handle and the stub's thread,
 * made for the first fetch that needs the network: a stub that never fetches (the testbed's,
 * one of explore's schedules, an app that makes no fetch) costs none of them. */
static int start_network_locked(das_urlfetch_t *uf, das_urlfetch_err_t *err)
{
    if (uf->multi)
        return AE_OK;
    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK)
        return fail(err, AE_EINTERNAL, "libcurl did not start: %s",
                    curl_easy_strerror(global_rc));
    if (!(uf->multi = curl_multi_init()))
        return fail(err, AE_EINTERNAL, "libcurl could not make a multi handle");
    int prc = pthread_create(&uf->thread, NULL, run, uf);
    if (prc) {
        curl_multi_cleanup(uf->multi);
        uf->multi = NULL;
        return fail(err, AE_EINTERNAL, "cannot start the urlfetch thread: %s", strerror(prc));
    }
    return AE_OK;
}

int das_urlfetch_create(const das_urlfetch_options_t *o, das_urlfetch_t **out,
                        das_urlfetch_err_t *err)
{
    das_urlfetch_t *uf = calloc(1, sizeof *uf);
    if (!uf)
        abort();
    uf->o = *o;
    const char *app = o->app_id && *o->app_id ? o->app_id : "dev~app";
    uf->app_id = xstrdup(app);
    const char *tilde = strchr(app, '~');
    uf->inbound_app_id = xstrdup(tilde ? tilde + 1 : app);
    uf->inbound_token = o->inbound_token ? xstrdup(o->inbound_token) : NULL;
    uf->inbound_token_header = o->inbound_token_header ? xstrdup(o->inbound_token_header) : NULL;
    uf->o.inbound_token = uf->inbound_token;
    uf->o.inbound_token_header = uf->inbound_token_header;
    char ua[512];
    snprintf(ua, sizeof ua, USER_AGENT_FMT, uf->app_id);
    uf->user_agent = xstrdup(ua);
    uf->o.app_id = uf->app_id;
    uf->o.record_path = uf->o.replay_path = NULL;
    uf->next_handle = 1;
    pthread_mutex_init(&uf->lock, NULL);
    pthread_cond_init(&uf->done, NULL);
    pthread_cond_init(&uf->idle, NULL);
    int rc = AE_OK;
    if ((o->replay_path && (rc = das_uf_fixture_load(o->replay_path, &uf->fixture, err)) < 0) ||
        (o->record_path && (rc = das_uf_recorder_open(o->record_path, &uf->recorder, err)) < 0)) {
        das_urlfetch_destroy(uf); /* nothing started yet */
        return rc;
    }
    *out = uf;
    return AE_OK;
}

void das_urlfetch_destroy(das_urlfetch_t *uf)
{
    if (!uf)
        return;
    if (uf->multi) {
        pthread_mutex_lock(&uf->lock);
        uf->stop = true;
        pthread_cond_signal(&uf->idle);
        pthread_mutex_unlock(&uf->lock);
        curl_multi_wakeup(uf->multi);
        pthread_join(uf->thread, NULL);
    }
    while (uf->jobs) {
        job_t *j = uf->jobs;
        uf->jobs = j->next;
        if (j->state == JOB_IN_FLIGHT)
            curl_multi_remove_handle(uf->multi, j->easy);
        job_free(j);
    }
    while (uf->n_spare)
        curl_easy_cleanup(uf->spare[--uf->n_spare]);
    if (uf->multi)
        curl_multi_cleanup(uf->multi);
    while (uf->answerers) {
        answerer_t *a = uf->answerers;
        uf->answerers = a->next;
        free(a->prefix);
        free(a);
    }
    das_uf_fixture_free(uf->fixture);
    das_uf_recorder_close(uf->recorder);
    pthread_mutex_destroy(&uf->lock);
    pthread_cond_destroy(&uf->done);
    pthread_cond_destroy(&uf->idle);
    free(uf->app_id);
    free(uf->inbound_app_id);
    free(uf->inbound_token);
    free(uf->inbound_token_header);
    free(uf->user_agent);
    free(uf);
}

void das_urlfetch_answer(das_urlfetch_t *uf, const char *prefix, das_urlfetch_answer_fn fn,
                         void *ctx)
{
    answerer_t *a = xmalloc(sizeof *a);
    a->prefix = xstrdup(prefix ? prefix : "");
    a->fn = fn;
    a->ctx = ctx;
    pthread_mutex_lock(&uf->lock);
    a->next = uf->answerers;
    uf->answerers = a;
    pthread_mutex_unlock(&uf->lock);
}

void das_urlfetch_set_offline(das_urlfetch_t *uf, bool offline)
{
    pthread_mutex_lock(&uf->lock);
    uf->offline = offline;
    pthread_mutex_unlock(&uf->lock);
}

/* Answers without the network when something covers the URL: AE_OK or an AE_* code with the
 * job's response or error filled; 1 when the network must answer. */
static int answer_locally(das_urlfetch_t *uf, job_t *j)
{
    pthread_mutex_lock(&uf->lock);
    answerer_t *a = uf->answerers;
    while (a && strncmp(j->rq.url, a->prefix, strlen(a->prefix)) != 0)
        a = a->next;
    das_urlfetch_answer_fn fn = a ? a->fn : NULL;
    void *ctx = a ? a->ctx : NULL;
    bool offline = uf->offline;
    pthread_mutex_unlock(&uf->lock);
    das_urlfetch_request_t rq = j->rq;
    rq.method = j->method0;
    if (fn) {
        int rc = fn(ctx, &rq, &j->rs, &j->err);
        if (rc == AE_OK) {
            if (!j->rs.body)
                j->rs.body = xmemdup("", 0);
            if (j->rs.len > DAS_URLFETCH_MAX_RESPONSE) {
                j->rs.len = DAS_URLFETCH_MAX_RESPONSE;
                j->rs.body[j->rs.len] = '\0';
                j->rs.truncated = true;
            }
        } else if (!j->err.msg[0]) {
            fail(&j->err, rc, "Unable to fetch URL: %s (the test's stub failed: %s)", j->rq.url,
                 ae_strerror(rc));
        }
        return rc;
    }
    if (uf->fixture) {
        if (das_uf_fixture_answer(uf->fixture, j->method0, &rq, &j->rs) == AE_OK) {
            pthread_mutex_lock(&uf->lock);
            uf->stats.replayed++;
            pthread_mutex_unlock(&uf->lock);
            return AE_OK;
        }
        return fail(&j->err, AE_EFETCH,
                    "Unable to fetch URL: %s (no exchange in %s matches %s %s with a %zu-byte "
                    "payload)",
                    j->rq.url, das_uf_fixture_path(uf->fixture), j->method0, j->rq.url,
                    j->with_payload ? j->rq.payload_len : (size_t)0);
    }
    if (offline)
        return fail(&j->err, AE_EFETCH,
                    "Unable to fetch URL: %s (offline: no stub answers %s %s)", j->rq.url,
                    j->method0, j->rq.url);
    return 1;
}

/* Puts a fetch in flight. `waited` says its caller waits for it at once (and so drives it):
 * the stub's thread is not woken for it. */
static int start(das_urlfetch_t *uf, const char *owner, const das_urlfetch_request_t *rq,
                 bool waited, uint32_t *handle, das_urlfetch_err_t *err)
{
    const char *method = method_name(rq->method);
    if (!method)
        return fail(err, AE_EINVAL, "Invalid method %.64s.", rq->method);
    if (!rq->url)
        return fail(err, AE_EINVAL, "Invalid request URL: (none)");
    char *host = NULL; /* the job's, once it exists */
    long port = 0;
    int rc = check_url(rq->url, &host, &port, err);
    if (rc != AE_OK)
        return rc;
    bool with_payload = sends_payload(method);
    if (with_payload && rq->payload_len > DAS_URLFETCH_MAX_PAYLOAD) {
        free(host);
        return fail(err, AE_ETOOLARGE,
                    "The request payload to URL %s is %zu bytes; the limit is %u bytes.",
                    rq->url, rq->payload_len, DAS_URLFETCH_MAX_PAYLOAD);
    }
    /* Prohibited headers are dropped, and said so; malformed ones are refused. */
    char dropped[1024] = "";
    size_t kept = 0;
    for (size_t i = 0; i < rq->n_headers; i++) {
        if (!header_is_valid(&rq->headers[i])) {
            free(host);
            return fail(err, AE_EINVAL, "Invalid request header for URL %s: \"%.200s\"",
                        rq->url, rq->headers[i].name ? rq->headers[i].name : "(null)");
        }
        if (is_prohibited(uf, rq->headers[i].name)) {
            size_t n = strlen(dropped);
            snprintf(dropped + n, sizeof dropped - n, "%s%s", n ? ", " : "",
                     rq->headers[i].name);
        } else {
            kept++;
        }
    }
    if (dropped[0] && uf->o.warn) {
        char msg[1200];
        snprintf(msg, sizeof msg, "Stripped prohibited headers from URLFetch request: %s",
                 dropped);
        uf->o.warn(uf->o.warn_ctx, msg);
    }

    job_t *j = calloc(1, sizeof *j);
    if (!j)
        abort();
    j->owner = xstrdup(owner ? owner : "");
    j->method0 = j->method = method;
    j->rq = *rq;
    j->rq.method = method;
    j->rq.url = xstrdup(rq->url);
    j->url = xstrdup(rq->url);
    j->host = host;
    j->port = port;
    j->headers = xmalloc(kept * sizeof *j->headers);
    j->rq.headers = j->headers;
    j->rq.n_headers = 0;
    for (size_t i = 0; i < rq->n_headers; i++) {
        if (is_prohibited(uf, rq->headers[i].name))
            continue;
        j->headers[j->rq.n_headers].name = xstrdup(rq->headers[i].name);
        j->headers[j->rq.n_headers].value = xstrdup(rq->headers[i].value);
        j->rq.n_headers++;
    }
    j->with_payload = with_payload;
    j->payload = xmemdup(with_payload ? rq->payload : "", with_payload ? rq->payload_len : 0);
    j->rq.payload = j->payload;
    j->rq.payload_len = with_payload ? rq->payload_len : 0;
    j->remaining_ms = rq->deadline_ms > 0 ? rq->deadline_ms : DAS_URLFETCH_DEFAULT_DEADLINE_MS;
    if (j->remaining_ms > DAS_URLFETCH_MAX_DEADLINE_MS)
        j->remaining_ms = DAS_URLFETCH_MAX_DEADLINE_MS;
    j->rq.deadline_ms = j->remaining_ms;
    j->decode_gzip = !app_set(j, "Accept-Encoding");

    int local = answer_locally(uf, j);
    if (local == 1) {
        pthread_mutex_lock(&uf->lock);
        int started = start_network_locked(uf, err);
        j->easy = uf->n_spare ? uf->spare[--uf->n_spare] : NULL;
        pthread_mutex_unlock(&uf->lock);
        if (started < 0) {
            job_free(j);
            return started;
        }
        if (!j->easy && !(j->easy = curl_easy_init()))
            abort();
        setup_hop(uf, j);
    } else {
        j->rc = local;
        j->state = JOB_DONE;
    }
    pthread_mutex_lock(&uf->lock);
    j->handle = uf->next_handle++;
    if (!uf->next_handle)
        uf->next_handle = 1;
    j->next = uf->jobs;
    uf->jobs = j;
    uf->stats.fetches++;
    if (local != 1 && local != AE_OK)
        uf->stats.failures++;
    *handle = j->handle;
    bool wake_driver = local == 1 && uf->driving;
    if (local == 1 && !uf->driving && !waited)
        pthread_cond_signal(&uf->idle);
    pthread_mutex_unlock(&uf->lock);
    if (wake_driver)
        curl_multi_wakeup(uf->multi); /* it takes the fetch in at its next turn */
    return AE_OK;
}

int das_urlfetch_start(das_urlfetch_t *uf, const char *owner, const das_urlfetch_request_t *rq,
                       uint32_t *handle, das_urlfetch_err_t *err)
{
    return start(uf, owner, rq, false, handle, err);
}

int das_urlfetch_wait(das_urlfetch_t *uf, const char *owner, uint32_t handle,
                      das_urlfetch_response_t *rs, das_urlfetch_err_t *err)
{
    memset(rs, 0, sizeof *rs);
    pthread_mutex_lock(&uf->lock);
    job_t *j = uf->jobs;
    while (j && (j->handle != handle || strcmp(j->owner, owner ? owner : "") != 0 ||
                 j->cancelled || j->waited)) /* a fetch is waited for once */
        j = j->next;
    if (!j) {
        pthread_mutex_unlock(&uf->lock);
        return fail(err, AE_ENOTFOUND, "no fetch %u in flight for this request", handle);
    }
    j->waited = true;
    while (j->state != JOB_DONE) {
        if (!uf->driving) {
            uf->driving = true;
            drive_locked(uf, j);
        } else {
            pthread_cond_wait(&uf->done, &uf->lock);
        }
    }
    unlink_job(uf, j);
    pthread_mutex_unlock(&uf->lock);
    int rc = j->rc;
    if (rc == AE_OK) {
        *rs = j->rs;
        memset(&j->rs, 0, sizeof j->rs);
    } else {
        memcpy(err->msg, j->err.msg, sizeof err->msg);
    }
    job_free(j);
    return rc;
}

int das_urlfetch_fetch(das_urlfetch_t *uf, const char *owner, const das_urlfetch_request_t *rq,
                       das_urlfetch_response_t *rs, das_urlfetch_err_t *err)
{
    uint32_t h;
    memset(rs, 0, sizeof *rs);
    int rc = start(uf, owner, rq, true, &h, err);
    return rc < 0 ? rc : das_urlfetch_wait(uf, owner, h, rs, err);
}

size_t das_urlfetch_cancel(das_urlfetch_t *uf, const char *owner)
{
    size_t n = 0;
    bool wake = false;
    pthread_mutex_lock(&uf->lock);
    for (job_t *j = uf->jobs, *next; j; j = next) {
        next = j->next;
        if (strcmp(j->owner, owner ? owner : "") != 0 || j->cancelled)
            continue;
        j->cancelled = true;
        if (j->state == JOB_IN_FLIGHT) {
            wake = true; /* the driver takes it out of the multi handle */
            n++;
        } else if (j->state == JOB_PENDING) {
            n++;
            cancelled_locked(uf, j);
        } else if (!j->waited) {
            unlink_job(uf, j);
            job_free(j);
        }
    }
    uf->stats.cancelled += n;
    pthread_mutex_unlock(&uf->lock);
    if (wake)
        curl_multi_wakeup(uf->multi);
    return n;
}

void das_urlfetch_stats(das_urlfetch_t *uf, das_urlfetch_stats_t *out)
{
    pthread_mutex_lock(&uf->lock);
    *out = uf->stats;
    pthread_mutex_unlock(&uf->lock);
}
