/* http.c - libmicrohttpd adapter: connections in, das_http_request_t to the server, responses
 * out. The only file that includes microhttpd.h.
 *
 * Design: MHD runs a listening thread and a thread per connection (measured cheaper to hand
 * off from than a single epoll thread; see bench/). The request callback blocks on its
 * connection thread while an instance works, which is what lets thousands of lines of
 * dispatch code stay synchronous. Per-request state lives in *req_cls, created by the URI log
 * callback (which also gives us the raw request target) and freed in the completion callback.
 * libmicrohttpd 0.9.75 closes keep-alive connections whose response is queued on the very
 * first call of a request, so every response here is queued on a later call.
 *
 * Slow clients: libmicrohttpd's timeout restarts on every byte, so a client sending a header
 * byte every few seconds held a connection (and its thread) for ever, and 1,024 of them
 * locked everyone out. A watchdog thread bounds each phase of a connection, however slowly
 * the bytes come: a request's line and headers (head_timeout_ms from the connection's start,
 * or from its request line after an idle keep-alive), its body and the sending of its
 * response (TRANSFER_TIMEOUT_MS each), and keep-alive idleness (idle_timeout_ms); past one it
 * shuts the connection's socket down. The server's own work on a request is bounded by the
 * dispatcher's deadline instead. Each connection has a record (its socket context) in a list
 * under `lock`.
 */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "httptext.h"

#define MAX_CONNECTIONS 4096
#define TRANSFER_TIMEOUT_MS 60000 /* a request's body, or its response, in flight */

struct das_http {
    das_http_options_t o;
    struct MHD_Daemon *daemon;
    int port;
    int quiesced_fd; /* the listening socket after das_http_quiesce(); closed after stop */
    pthread_mutex_t lock;
    pthread_cond_t idle;
    int active; /* requests begun and not yet completed; guarded by lock */
    struct conn *conns; /* every open connection; guarded by lock */
    pthread_t watchdog;
    int watchdog_stop;  /* eventfd */
    bool watching;
};

/* Where a connection is, for the watchdog. */
typedef enum {
    CONN_HEAD = 0, /* waiting for (the rest of) a request's line and headers */
    CONN_UPLOAD,   /* its head is in; its body is arriving */
    CONN_HANDLER,  /* the server works on it: the dispatcher's deadline applies, not ours */
    CONN_SEND,     /* its response is being sent */
    CONN_IDLE,     /* between requests (keep-alive) */
} conn_phase_t;

typedef struct conn {
    int fd;
    conn_phase_t phase; /* guarded by das_http_t.lock, as is `since` */
    int64_t since;      /* monotonic ns when the phase began */
    bool cut;           /* the watchdog shut it down */
    struct conn *prev, *next;
} conn_t;

typedef struct {
    char *raw_target;
    bool started;     /* the first call has been seen */
    int reject;       /* an early answer (400, 413) decided from the headers or the body */
    const char *reject_why; /* for a 400: what is wrong (static text) */
    das_buf_t body;
    bool too_large;
} conn_state_t;

/* ---------------------------------------------------------------- responses */

void das_http_response_init(das_http_response_t *rs)
{
    memset(rs, 0, sizeof *rs);
    rs->status = 200;
    rs->fd = -1;
}

void das_http_response_dispose(das_http_response_t *rs)
{
    for (size_t i = 0; i < rs->n_headers; i++) {
        free(rs->headers[i].name);
        free(rs->headers[i].value);
    }
    free(rs->headers);
    das_buf_dispose(&rs->body);
    if (rs->fd >= 0)
        close(rs->fd);
    rs->headers = NULL;
    rs->n_headers = rs->cap_headers = 0;
    rs->fd = -1;
}

void das_http_response_add_header(das_http_response_t *rs, const char *name, const char *value)
{
    if (rs->n_headers == rs->cap_headers) {
        rs->cap_headers = rs->cap_headers ? rs->cap_headers * 2 : 8;
        rs->headers = das_xrealloc(rs->headers, rs->cap_headers * sizeof *rs->headers);
    }
    rs->headers[rs->n_headers].name = das_xstrdup(name);
    rs->headers[rs->n_headers].value = das_xstrdup(value);
    rs->n_headers++;
}

void das_http_response_clear_headers(das_http_response_t *rs)
{
    for (size_t i = 0; i < rs->n_headers; i++) {
        free(rs->headers[i].name);
        free(rs->headers[i].value);
    }
    rs->n_headers = 0;
}

size_t das_http_response_header_bytes(const das_http_response_t *rs)
{
    size_t n = 0;
    for (size_t i = 0; i < rs->n_headers; i++)
        n += strlen(rs->headers[i].name) + 2 + strlen(rs->headers[i].value) + 2;
    return n;
}

const char *das_http_response_header(const das_http_response_t *rs, const char *name)
{
    for (size_t i = 0; i < rs->n_headers; i++)
        if (strcasecmp(rs->headers[i].name, name) == 0)
            return rs->headers[i].value;
    return NULL;
}

void das_http_response_remove_header(das_http_response_t *rs, const char *name)
{
    size_t w = 0;
    for (size_t i = 0; i < rs->n_headers; i++) {
        if (strcasecmp(rs->headers[i].name, name) == 0) {
            free(rs->headers[i].name);
            free(rs->headers[i].value);
        } else {
            rs->headers[w++] = rs->headers[i];
        }
    }
    rs->n_headers = w;
}

void das_http_response_set_text(das_http_response_t *rs, int status, const char *content_type,
                                const char *fmt, ...)
{
    rs->status = status;
    das_buf_reset(&rs->body);
    if (rs->fd >= 0) {
        close(rs->fd);
        rs->fd = -1;
    }
    va_list ap;
    va_start(ap, fmt);
    das_buf_vprintf(&rs->body, fmt, ap);
    va_end(ap);
    das_http_response_remove_header(rs, "Content-Type");
    das_http_response_add_header(rs, "Content-Type",
                                 content_type ? content_type : "text/plain; charset=utf-8");
}

/* ---------------------------------------------------------------- requests */

/* Percent-decodes a path ('+' stays '+'). Returns NULL for an encoded NUL. */
static char *decode_path(const char *s, size_t n)
{
    char *out = das_xstrndup(s, n);
    if (das_pct_decode(out, n, DAS_PCT_NO_NUL) < 0) {
        free(out);
        return NULL;
    }
    return out;
}

typedef struct {
    das_http_header_t *items;
    size_t n, cap;
} header_list_t;

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    (void)kind;
    header_list_t *l = cls;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->items = das_xrealloc(l->items, l->cap * sizeof *l->items);
    }
    l->items[l->n].name = (char *)key;
    l->items[l->n].value = (char *)(value ? value : "");
    l->n++;
    return MHD_YES;
}

static enum MHD_Result queue(struct MHD_Connection *con, das_http_response_t *rs)
{
    struct MHD_Response *r;
    if (rs->fd >= 0) {
        r = MHD_create_response_from_fd64(rs->fd_size, rs->fd);
        if (r)
            rs->fd = -1; /* MHD closes it now; on failure das_http_response_dispose() does */
    } else {
        size_t len = rs->body.len;
        r = MHD_create_response_from_buffer(len, das_buf_steal(&rs->body),
                                            MHD_RESPMEM_MUST_FREE);
    }
    if (!r)
        return MHD_NO;
    bool added = true;
    for (size_t i = 0; i < rs->n_headers && added; i++)
        added = MHD_add_response_header(r, rs->headers[i].name, rs->headers[i].value) == MHD_YES;
    if (!added) { /* a name or value libmicrohttpd refuses (a CR or LF in it, say) */
        MHD_destroy_response(r);
        static const char msg[] = "Internal Server Error: a response header could not be sent.\n";
        r = MHD_create_response_from_buffer(sizeof msg - 1, (void *)msg, MHD_RESPMEM_PERSISTENT);
        if (!r)
            return MHD_NO;
        MHD_add_response_header(r, "Content-Type", "text/plain; charset=utf-8");
        rs->status = 500;
    }
    enum MHD_Result ret = MHD_queue_response(con, (unsigned int)rs->status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result queue_text(struct MHD_Connection *con, int status, const char *text)
{
    das_http_response_t rs;
    das_http_response_init(&rs);
    das_http_response_set_text(&rs, status, "text/plain; charset=utf-8", "%s", text);
    /* A request refused for its framing (or its size) leaves the stream at an unknown place:
     * what follows must not be read as the next request (request smuggling). */
    das_http_response_add_header(&rs, "Connection", "close");
    enum MHD_Result ret = queue(con, &rs);
    das_http_response_dispose(&rs);
    return ret;
}

/* What the headers say about the request's framing and form, checked before anything else
 * (libmicrohttpd 0.9.75 accepts these, and would frame or read them in ways a proxy in front
 * would not: request smuggling). */
typedef struct {
    const char *content_length; /* the first */
    bool two_lengths;           /* two Content-Length headers that differ */
    bool transfer_encoding;
    bool other_coding;          /* a Transfer-Encoding other than exactly "chunked" */
    bool bad_name;              /* not a token (a space before the colon, say) */
    bool bad_value;             /* a CR, LF or NUL in a value (an obs-fold line) */
} header_check_t;

static bool is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static enum MHD_Result check_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
    (void)kind;
    header_check_t *c = cls;
    if (!*key)
        c->bad_name = true;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        c->bad_name |= !is_tchar(*p);
    if (value && strpbrk(value, "\r\n"))
        c->bad_value = true;
    if (strcasecmp(key, "Content-Length") == 0) {
        if (c->content_length && strcmp(c->content_length, value ? value : "") != 0)
            c->two_lengths = true;
        if (!c->content_length)
            c->content_length = value ? value : "";
    }
    if (strcasecmp(key, "Transfer-Encoding") == 0) {
        c->other_coding |= c->transfer_encoding || !value || strcasecmp(value, "chunked") != 0;
        c->transfer_encoding = true;
    }
    return MHD_YES;
}

static bool method_forbids_body(const char *m)
{
    return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0 || strcmp(m, "DELETE") == 0 ||
           strcmp(m, "TRACE") == 0;
}

/* ---------------------------------------------------------------- slow clients */

static int64_t now_ns(das_http_t *h)
{
    return das_clock_monotonic_ns(h->o.clock);
}

/* Moves the connection to `phase`. With `keep_clock`, a phase it is already in goes on
 * counting from when it began (the request line of a new connection is part of its head). */
static void set_phase(das_http_t *h, struct MHD_Connection *con, conn_phase_t phase,
                      bool keep_clock)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(con, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    conn_t *c = ci ? ci->socket_context : NULL;
    if (!c)
        return;
    pthread_mutex_lock(&h->lock);
    if (!(keep_clock && c->phase == phase)) {
        c->phase = phase;
        c->since = now_ns(h);
    }
    pthread_mutex_unlock(&h->lock);
}

static void on_connection(void *cls, struct MHD_Connection *con, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    das_http_t *h = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(con, MHD_CONNECTION_INFO_CONNECTION_FD);
        conn_t *c = das_xcalloc(1, sizeof *c);
        c->fd = ci ? ci->connect_fd : -1;
        pthread_mutex_lock(&h->lock);
        c->phase = CONN_HEAD;
        c->since = now_ns(h);
        c->next = h->conns;
        if (h->conns)
            h->conns->prev = c;
        h->conns = c;
        pthread_mutex_unlock(&h->lock);
        *socket_context = c;
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED && *socket_context) {
        conn_t *c = *socket_context;
        pthread_mutex_lock(&h->lock); /* before libmicrohttpd closes the socket */
        if (c->prev)
            c->prev->next = c->next;
        else
            h->conns = c->next;
        if (c->next)
            c->next->prev = c->prev;
        pthread_mutex_unlock(&h->lock);
        free(c);
        *socket_context = NULL;
    }
}

static void *watchdog_main(void *arg)
{
    das_http_t *h = arg;
    int64_t limits[] = {
        [CONN_HEAD] = (int64_t)h->o.head_timeout_ms * 1000000,
        [CONN_UPLOAD] = (int64_t)TRANSFER_TIMEOUT_MS * 1000000,
        [CONN_HANDLER] = 0, /* none */
        [CONN_SEND] = (int64_t)TRANSFER_TIMEOUT_MS * 1000000,
        [CONN_IDLE] = (int64_t)h->o.idle_timeout_ms * 1000000,
    };
    for (;;) {
        struct pollfd p = {.fd = h->watchdog_stop, .events = POLLIN};
        int r = poll(&p, 1, 250);
        if (r > 0 || (r < 0 && errno != EINTR))
            break; /* stopped */
        pthread_mutex_lock(&h->lock);
        int64_t now = now_ns(h);
        int cut = 0;
        for (conn_t *c = h->conns; c; c = c->next) {
            int64_t limit = limits[c->phase];
            if (limit && !c->cut && c->fd >= 0 && now - c->since > limit) {
                shutdown(c->fd, SHUT_RDWR); /* its thread sees the end and closes it */
                c->cut = true;
                cut++;
            }
        }
        pthread_mutex_unlock(&h->lock);
        if (cut)
            das_log_debug(h->o.log, "closed %d connection%s too slow to send a request or to "
                                "take a response",
                      cut, cut == 1 ? "" : "s");
    }
    return NULL;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *con, const char *url,
                                 const char *method, const char *version,
                                 const char *upload_data, size_t *upload_data_size,
                                 void **req_cls)
{
    (void)url;
    das_http_t *h = cls;
    conn_state_t *st = *req_cls;
    if (!st) { /* no URI log callback ran: cannot happen, but never crash on it */
        st = das_xcalloc(1, sizeof *st);
        st->raw_target = das_xstrdup(url);
        *req_cls = st;
    }
    if (!st->started) {
        st->started = true;
        set_phase(h, con, CONN_UPLOAD, false); /* the head is in */
        header_check_t c = {0};
        MHD_get_connection_values(con, MHD_HEADER_KIND, check_header, &c);
        const char *cl = c.content_length;
        bool has_body = (cl && strtoull(cl, NULL, 10) > 0) || c.transfer_encoding;
        st->reject = 400;
        if (c.bad_name)
            st->reject_why = "Bad request: a header name is not a token (a space before the "
                             "colon?).";
        else if (c.bad_value)
            st->reject_why = "Bad request: a header value holds a line break (obsolete line "
                             "folding is not accepted).";
        else if (c.two_lengths)
            st->reject_why = "Bad request: two different Content-Length headers.";
        else if (c.transfer_encoding && cl)
            st->reject_why = "Bad request: both Transfer-Encoding and Content-Length.";
        else if (c.other_coding)
            st->reject_why = "Bad request: the only Transfer-Encoding accepted is chunked.";
        else if (has_body && method_forbids_body(method))
            st->reject_why = NULL; /* the platform's words, below */
        else if (cl && strtoull(cl, NULL, 10) > h->o.max_body)
            st->reject = 413;
        else
            st->reject = 0;
        /* A request whose framing cannot be trusted is answered at once, its body unread (it
         * may never end): the connection closes after the 400. */
        if (st->reject == 400 && st->reject_why)
            return queue_text(con, 400, st->reject_why);
        return MHD_YES;
    }
    if (st->reject) {
        if (*upload_data_size > 0) {
            /* libmicrohttpd 0.9.75 refuses a response queued while the body still arrives:
             * discard the body, answer once it is all in. */
            *upload_data_size = 0;
            return MHD_YES;
        }
        if (st->reject == 400) {
            char msg[128];
            snprintf(msg, sizeof msg, "\"%s\" requests may not contain bodies.", method);
            return queue_text(con, 400, msg);
        }
        return queue_text(con, 413, "Upload limited to 32 megabytes.");
    }
    if (*upload_data_size > 0) {
        if (st->body.len + *upload_data_size > h->o.max_body)
            st->too_large = true;
        if (!st->too_large)
            das_buf_append(&st->body, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (st->too_large)
        return queue_text(con, 413, "Upload limited to 32 megabytes.");

    /* The whole request is here. */
    const char *q = strchr(st->raw_target, '?');
    size_t path_len = q ? (size_t)(q - st->raw_target) : strlen(st->raw_target);
    char *path = decode_path(st->raw_target, path_len);
    if (!path || path[0] != '/') {
        free(path);
        return queue_text(con, 400, "Bad request: the path must start with '/' and may not "
                                    "contain NUL bytes.");
    }
    header_list_t headers = {0};
    MHD_get_connection_values(con, MHD_HEADER_KIND, collect_header, &headers);
    char addr[INET6_ADDRSTRLEN] = "0.0.0.0";
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(con, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, addr, sizeof addr);
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, addr,
                      sizeof addr);
    }
    das_http_request_t rq = {
        .method = method,
        .raw_target = st->raw_target,
        .path = path,
        .query = q ? q + 1 : "",
        .version = version,
        .remote_addr = addr,
        .headers = headers.items,
        .n_headers = headers.n,
        .body = st->body.data ? st->body.data : "",
        .body_len = st->body.len,
    };
    das_http_response_t rs;
    das_http_response_init(&rs);
    set_phase(h, con, CONN_HANDLER, false);
    h->o.on_request(h->o.ctx, &rq, &rs);
    set_phase(h, con, CONN_SEND, false);
    int logged_status = rs.status;
    enum MHD_Result ret = queue(con, &rs);
    if (ret != MHD_YES || rs.status != logged_status) /* the access log said otherwise */
        das_log_error(h->o.log, "the response to %s %s was %s", method, st->raw_target,
                      ret != MHD_YES ? "not sent (the connection was closed)"
                                     : "replaced by a 500: a header could not be sent");
    das_http_response_dispose(&rs);
    free(headers.items);
    free(path);
    return ret;
}

/* libmicrohttpd marks a request "client aware" when this callback runs, so the completion
 * callback always follows: the pair brackets a request exactly (used to drain on shutdown). */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *con)
{
    das_http_t *h = cls;
    /* The request line is in; its headers must follow soon (on a new connection, the head's
     * clock started with the connection). */
    set_phase(h, con, CONN_HEAD, true);
    pthread_mutex_lock(&h->lock);
    h->active++;
    pthread_mutex_unlock(&h->lock);
    conn_state_t *st = das_xcalloc(1, sizeof *st);
    if (!uri)
        uri = "/";
    /* The absolute form (GET http://host/path), which a server must accept (RFC 9112 3.2.2):
     * the path and query are what count; the Host rule checks the Host header. */
    if (strncasecmp(uri, "http://", 7) == 0 || strncasecmp(uri, "https://", 8) == 0) {
        const char *rest = strstr(uri, "://") + 3;
        rest += strcspn(rest, "/?");
        st->raw_target = *rest == '/' ? das_xstrdup(rest) : das_xasprintf("/%s", rest);
    } else {
        st->raw_target = das_xstrdup(uri);
    }
    return st;
}

static void on_completed(void *cls, struct MHD_Connection *con, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)toe;
    das_http_t *h = cls;
    set_phase(h, con, CONN_IDLE, false);
    conn_state_t *st = *req_cls;
    if (st) {
        free(st->raw_target);
        das_buf_dispose(&st->body);
        free(st);
        *req_cls = NULL;
    }
    pthread_mutex_lock(&h->lock);
    if (--h->active == 0)
        pthread_cond_broadcast(&h->idle);
    pthread_mutex_unlock(&h->lock);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    das_http_t *h = cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    das_log_debug(h->o.log, "http: %s", msg);
}

int das_http_start(const das_http_options_t *o, das_http_t **out, das_err_t *err)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    char port[16];
    snprintf(port, sizeof port, "%d", o->port);
    int g = getaddrinfo(o->host, port, &hints, &ai);
    if (g != 0)
        return das_err_set(err, AE_EINVAL, "cannot use host '%s': %s", o->host, gai_strerror(g));
    das_http_t *h = das_xcalloc(1, sizeof *h);
    h->o = *o;
    if (h->o.head_timeout_ms <= 0)
        h->o.head_timeout_ms = 10000;
    if (h->o.idle_timeout_ms <= 0)
        h->o.idle_timeout_ms = 120000;
    h->quiesced_fd = -1;
    h->watchdog_stop = -1;
    pthread_mutex_init(&h->lock, NULL);
    pthread_cond_init(&h->idle, NULL);
    /* poll(), not select(): a descriptor past FD_SETSIZE (1,024) is a connection too. */
    unsigned int flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                         MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    h->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_access, h, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, h, MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, h, MHD_OPTION_NOTIFY_CONNECTION, on_connection,
        h, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)(h->o.idle_timeout_ms / 1000),
        /* Slow clients are cut by the watchdog; this many may be connected at once. */
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)MAX_CONNECTIONS,
        MHD_OPTION_THREAD_STACK_SIZE, (size_t)(512 * 1024),
        /* Room for the response headers we allow, beside the request's own. */
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(2 * DAS_HTTP_MAX_HEADER_BYTES),
        MHD_OPTION_END);
    freeaddrinfo(ai);
    if (h->daemon) {
        h->watchdog_stop = eventfd(0, EFD_CLOEXEC);
        int e = h->watchdog_stop >= 0 ? pthread_create(&h->watchdog, NULL, watchdog_main, h)
                                      : errno;
        h->watching = e == 0;
        if (!h->watching)
            das_log_warning(h->o.log, "cannot start the slow-client watchdog: %s", strerror(e));
    }
    if (!h->daemon) {
        pthread_mutex_destroy(&h->lock);
        pthread_cond_destroy(&h->idle);
        free(h);
        return das_err_set(err, AE_EIO, "cannot listen on %s:%d (is the port in use?)", o->host,
                           o->port);
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    h->port = di ? di->port : o->port;
    *out = h;
    return 0;
}

int das_http_port(const das_http_t *h)
{
    return h->port;
}

void das_http_quiesce(das_http_t *h)
{
    if (h->quiesced_fd < 0)
        h->quiesced_fd = MHD_quiesce_daemon(h->daemon);
}

bool das_http_drain(das_http_t *h, int timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until); /* pthread_cond_timedwait's default clock */
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&h->lock);
    while (h->active > 0)
        if (pthread_cond_timedwait(&h->idle, &h->lock, &until) != 0)
            break;
    bool idle = h->active == 0;
    pthread_mutex_unlock(&h->lock);
    return idle;
}

void das_http_stop(das_http_t *h)
{
    if (!h)
        return;
    if (h->watching) {
        uint64_t one = 1;
        ssize_t n = write(h->watchdog_stop, &one, sizeof one);
        (void)n;
        pthread_join(h->watchdog, NULL);
    }
    if (h->watchdog_stop >= 0)
        close(h->watchdog_stop);
    MHD_stop_daemon(h->daemon);
    if (h->quiesced_fd >= 0)
        close(h->quiesced_fd);
    pthread_mutex_destroy(&h->lock);
    pthread_cond_destroy(&h->idle);
    free(h);
}
