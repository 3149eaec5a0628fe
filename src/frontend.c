/* frontend.c - what happens to each HTTP request, as the platform's front end did it.
 *
 * In order: dot segments are redirected away, the development login pages are answered,
 * spoofable headers are stripped, the path is matched against app.yaml's handlers, `login:`
 * is enforced, and the request goes either to a static file (served here, never by an
 * instance) or through the dispatcher to an instance. App responses are rewritten as the
 * platform did (default Content-Type and Cache-Control, hop-by-hop headers dropped), and every
 * request gets one access-log line. Runs on HTTP connection threads; all state it reads is the
 * immutable app snapshot it holds a reference to.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "httptext.h"
#include "login.h"
#include "server_internal.h"
#include "service.h"

#define SERVER_SOFTWARE "Development/2.0"
#define OLD_EXPIRES "Fri, 01 Jan 1990 00:00:00 GMT"

/* A list of borrowed name/value pairs that can be handed to the RPC codec: the strings
 * belong to the request, the app snapshot or an env_values_t that outlives the list. */
typedef struct {
    das_rpc_pair_t *items;
    size_t n, cap;
} pairs_t;

static void pairs_add(pairs_t *p, const char *name, const char *value)
{
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 48;
        p->items = das_xrealloc(p->items, p->cap * sizeof *p->items);
    }
    p->items[p->n].name = name;
    p->items[p->n].value = value ? value : "";
    p->n++;
}

static void pairs_dispose(pairs_t *p)
{
    free(p->items);
}

/* The environment values computed per request, kept here so the pairs can borrow them. */
typedef struct {
    char port[16];
    char server_name[256];
    char hostname[300];
    char log_id[41];
    char hash[9];
} env_values_t;

static const char *request_header(const das_http_request_t *rq, const char *name)
{
    for (size_t i = 0; i < rq->n_headers; i++)
        if (strcasecmp(rq->headers[i].name, name) == 0)
            return rq->headers[i].value;
    return NULL;
}

static bool in_list(const char *name, const char *const *list)
{
    for (; *list; list++)
        if (strcasecmp(name, *list) == 0)
            return true;
    return false;
}

/* Request headers an app never sees: hop-by-hop ones, and the internal ones clients could use
 * to pose as an administrator. Every X-AppEngine-* header from a client is dropped as well. */
static const char *const dropped_request_headers[] = {
    "Accept-Encoding", "Connection", "Keep-Alive", "Proxy-Authorization", "TE", "Trailer",
    "Transfer-Encoding", "Upgrade", NULL};

/* Response headers an app may not set: hop-by-hop ones and those the server computes. */
static const char *const dropped_response_headers[] = {
    "Connection", "Keep-Alive", "Proxy-Authenticate", "TE", "Trailer", "Trailers",
    "Transfer-Encoding", "Upgrade", "Content-Length", "Date", "Server", "Content-Encoding",
    NULL};

/* ---------------------------------------------------------------- environment */

/* `ids` draws the request's ids: the real clock, or under deterministic dispatch the task's
 * own stream of the virtual clock. */
static void base_env(das_server_t *s, das_app_t *app, das_clock_t *ids, pairs_t *env,
                     env_values_t *v, const char *method, const char *path, const char *query,
                     const char *host_header, const char *remote, const char *protocol,
                     const das_login_user_t *user)
{
    snprintf(v->port, sizeof v->port, "%d", s->port);
    snprintf(v->server_name, sizeof v->server_name, "%s", s->o.host);
    if (host_header && *host_header) {
        snprintf(v->server_name, sizeof v->server_name, "%s", host_header);
        char *colon = strrchr(v->server_name, ':');
        if (colon && !strchr(colon, ']'))
            *colon = '\0';
    }
    snprintf(v->hostname, sizeof v->hostname, "%s:%d", s->o.host, s->port);
    das_clock_random_hex(ids, v->log_id, 40);
    das_clock_random_hex(ids, v->hash, 8);
    for (char *c = v->hash; *c; c++)
        if (*c >= 'a' && *c <= 'f')
            *c = (char)(*c - 'a' + 'A');
    pairs_add(env, "APPLICATION_ID", app->app_id);
    pairs_add(env, "CURRENT_MODULE_ID", "default");
    pairs_add(env, "CURRENT_VERSION_ID", app->version_id);
    pairs_add(env, "SERVER_SOFTWARE", SERVER_SOFTWARE);
    pairs_add(env, "APPENGINE_RUNTIME", "c");
    pairs_add(env, "AUTH_DOMAIN", "gmail.com");
    pairs_add(env, "DATACENTER", "us1");
    pairs_add(env, "DEFAULT_VERSION_HOSTNAME", v->hostname);
    pairs_add(env, "SERVER_NAME", v->server_name);
    pairs_add(env, "SERVER_PORT", v->port);
    pairs_add(env, "SERVER_PROTOCOL", protocol);
    pairs_add(env, "REMOTE_ADDR", remote);
    pairs_add(env, "REQUEST_METHOD", method);
    pairs_add(env, "PATH_INFO", path);
    pairs_add(env, "QUERY_STRING", query);
    pairs_add(env, "REQUEST_LOG_ID", v->log_id);
    pairs_add(env, "REQUEST_ID_HASH", v->hash);
    pairs_add(env, "HTTPS", "off");
    pairs_add(env, "SCRIPT_NAME", "");
    pairs_add(env, "TZ", "UTC");
    pairs_add(env, "USER_EMAIL", user ? user->email : "");
    pairs_add(env, "USER_ID", user ? user->user_id : "");
    pairs_add(env, "USER_NICKNAME", user ? user->nickname : "");
    pairs_add(env, "USER_ORGANIZATION", "");
    pairs_add(env, "USER_IS_ADMIN", user && user->admin ? "1" : "0");
    for (size_t i = 0; i < app->config->n_env_variables; i++)
        pairs_add(env, app->config->env_variables[i].name, app->config->env_variables[i].value);
}

/* ---------------------------------------------------------------- login */

static void full_url(das_server_t *s, const das_http_request_t *rq, das_buf_t *out)
{
    const char *host = request_header(rq, "Host");
    if (host && *host)
        das_buf_printf(out, "http://%s%s", host, rq->raw_target);
    else
        das_buf_printf(out, "http://%s:%d%s", s->o.host, s->port, rq->raw_target);
}

/* The value of `name` in a query string, decoded, or NULL. Caller frees. */
static char *query_value(const char *query, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = query; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len > n && strncmp(p, name, n) == 0 && p[n] == '=') {
            char *v = das_xstrndup(p + n + 1, len - n - 1);
            das_pct_decode(v, len - n - 1, DAS_PCT_PLUS);
            return v;
        }
        p = amp ? amp + 1 : NULL;
    }
    return NULL;
}

static void redirect(das_http_response_t *rs, const char *location, const char *text)
{
    das_http_response_set_text(rs, 302, NULL, "%s", text);
    das_http_response_add_header(rs, "Location", location);
}

static bool host_allowed(das_server_t *s, const char *host);

/* The host[:port] of an absolute http(s) URL, into `out`; false when `url` is not one. */
static bool url_host(const char *url, char *out, size_t cap)
{
    const char *p = das_str_has_prefix(url, "http://")    ? url + 7
                    : das_str_has_prefix(url, "https://") ? url + 8
                                                          : NULL;
    if (!p)
        return false;
    size_t n = strcspn(p, "/?#\\");
    if (n == 0 || n >= cap)
        return false;
    memcpy(out, p, n);
    out[n] = '\0';
    return true;
}

/* Where a login or logout may send the browser: a path on this server, or a URL whose host
 * passes the Host rule; anything else (another site, "//host", a control byte) goes to "/". */
static const char *safe_continue(das_server_t *s, const char *cont)
{
    if (!cont || !*cont)
        return "/";
    for (const unsigned char *p = (const unsigned char *)cont; *p; p++)
        if (*p < 0x20 || *p == 0x7f || *p == '\\')
            return "/";
    if (cont[0] == '/')
        return cont[1] == '/' ? "/" : cont;
    char host[256];
    return url_host(cont, host, sizeof host) && host_allowed(s, host) ? cont : "/";
}

/* Whether a request that signs in or out may do so: one that a browser marks as coming from
 * another site (Sec-Fetch-Site), or whose Origin (or else Referer) names another site, is a
 * forgery by that site (a link, a form or a script there), and is refused. A request with
 * none of them, a script's, may. */
static bool same_site(das_server_t *s, const das_http_request_t *rq)
{
    /* A browser says where a request comes from even when the page hides its Referer:
     * "same-origin" (this server's own page) and "none" (typed in, a bookmark) may sign in. */
    const char *fetch_site = request_header(rq, "Sec-Fetch-Site");
    if (fetch_site && strcasecmp(fetch_site, "same-origin") != 0 &&
        strcasecmp(fetch_site, "none") != 0)
        return false;
    const char *from = request_header(rq, "Origin");
    if (!from || !*from)
        from = request_header(rq, "Referer");
    if (!from || !*from)
        return true;
    char host[256];
    if (!url_host(from, host, sizeof host))
        return false; /* "null" (a sandboxed page), or garbage */
    const char *mine = request_header(rq, "Host");
    return mine && *mine ? strcasecmp(host, mine) == 0 : host_allowed(s, host);
}

/* /_ah/login and /_ah/logout. */
static void serve_login(das_server_t *s, const das_http_request_t *rq,
                        const das_login_user_t *user, das_http_response_t *rs)
{
    char *cont = query_value(rq->query, "continue");
    const char *target = safe_continue(s, cont);
    char *action = query_value(rq->query, "action");
    bool logout = strcmp(rq->path, "/_ah/logout") == 0 ||
                  (action && strcasecmp(action, "logout") == 0);
    bool login = !logout && action && strcasecmp(action, "login") == 0;
    if ((login || logout) && !same_site(s, rq)) {
        das_http_response_set_text(rs, 403, NULL,
                                   "Forbidden: a page on another site may not sign you in or "
                                   "out of this server.\n");
    } else if (logout) {
        char *cookie = das_login_set_cookie(NULL, false);
        redirect(rs, target, "Logged out");
        das_http_response_add_header(rs, "Set-Cookie", cookie);
        free(cookie);
    } else if (login) {
        char *email = query_value(rq->query, "email");
        char *admin = query_value(rq->query, "admin");
        const char *wrong = email ? das_login_email_check(email)
                                  : "an email address must contain '@'";
        if (wrong) {
            das_http_response_set_text(rs, 400, NULL, "Bad request: cannot sign in: %s.\n",
                                       wrong);
        } else {
            char *cookie = das_login_set_cookie(
                email, admin && (strcasecmp(admin, "true") == 0 || strcmp(admin, "1") == 0 ||
                                 strcasecmp(admin, "on") == 0));
            redirect(rs, target, "Logged in");
            das_http_response_add_header(rs, "Set-Cookie", cookie);
            free(cookie);
        }
        free(email);
        free(admin);
    } else {
        char *page = das_login_page(target, user);
        das_http_response_set_text(rs, 200, "text/html; charset=utf-8", "%s", page);
        free(page);
    }
    free(action);
    free(cont);
}

/* Returns true when the handler's `login:` lets the request through; otherwise fills `rs`. */
static bool login_allows(das_server_t *s, const das_config_handler_t *h,
                         const das_http_request_t *rq, const das_login_user_t *user,
                         das_http_response_t *rs)
{
    if (h->login == DAS_LOGIN_OPTIONAL)
        return true;
    if (!user) {
        if (h->auth_fail_action == DAS_AUTH_FAIL_UNAUTHORIZED) {
            das_http_response_set_text(rs, 401, NULL, "Login required to view page.");
        } else {
            das_buf_t url = {0};
            full_url(s, rq, &url);
            char *quoted = das_login_url_quote(url.data);
            const char *host = request_header(rq, "Host");
            char *loc = host && *host
                            ? das_xasprintf("http://%s/_ah/login?continue=%s", host, quoted)
                            : das_xasprintf("http://%s:%d/_ah/login?continue=%s", s->o.host,
                                            s->port, quoted);
            redirect(rs, loc, "Requires login");
            free(loc);
            free(quoted);
            das_buf_dispose(&url);
        }
        return false;
    }
    if (h->login == DAS_LOGIN_ADMIN && !user->admin) {
        das_http_response_set_text(rs, 401, NULL,
                                   "Current logged in user %s is not authorized to view this "
                                   "page.",
                                   user->email);
        return false;
    }
    return true;
}

/* ---------------------------------------------------------------- static files */

/* Whether `header` (If-Match or If-None-Match: "*" or a comma-separated list) names `etag`.
 * The weak comparison (If-None-Match) compares a W/ validator by its opaque part; the strong
 * one (If-Match, RFC 9110 13.1.1) never matches a weak validator. */
static bool etag_matches(const char *header, const char *etag, bool weak)
{
    if (!header)
        return false;
    if (strcmp(header, "*") == 0)
        return true;
    size_t n = strlen(etag);
    for (const char *p = header; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        if (strncmp(p, "W/", 2) == 0)
            p += weak ? 2 : 0;
        if (strncmp(p, etag, n) == 0 && (p[n] == '\0' || p[n] == ',' || p[n] == ' '))
            return true;
        const char *comma = strchr(p, ',');
        if (!comma)
            break;
        p = comma + 1;
    }
    return false;
}

/* Serves a static handler's file. Returns AE_ENOTFOUND when there is no such file (so a
 * require_matching_file handler can fall through); otherwise fills `rs` and returns 0. */
static int serve_static(das_server_t *s, das_app_t *app, const das_route_t *route,
                        const das_http_request_t *rq, das_http_response_t *rs)
{
    const das_config_handler_t *h = route->handler;
    das_static_file_t f;
    int64_t now_ns = das_clock_wall_ns(s->clock);
    int rc = route->not_uploaded
                 ? AE_ENOTFOUND
                 : das_static_get(app->statics, route->target, &f, &rs->body, now_ns);
    if (rc == AE_ENOTFOUND && h->require_matching_file)
        return AE_ENOTFOUND;
    if (rc < 0) {
        if (rc == AE_EINVAL)
            das_log_debug(s->log, "refused static path '%s' for %s", route->target, rq->path);
        if (rc == AE_EIO)
            das_http_response_set_text(rs, 403, NULL, "Forbidden");
        else
            das_http_response_set_text(rs, 404, NULL, "Not Found");
        return 0;
    }
    bool user_etag = false, user_expires = false, user_cache = false, user_type = false;
    for (size_t i = 0; i < h->n_http_headers; i++) {
        const char *n = h->http_headers[i].name;
        user_etag |= strcasecmp(n, "ETag") == 0;
        user_expires |= strcasecmp(n, "Expires") == 0;
        user_cache |= strcasecmp(n, "Cache-Control") == 0;
        user_type |= strcasecmp(n, "Content-Type") == 0;
        das_http_response_add_header(rs, n, h->http_headers[i].value);
    }
    if (!user_type)
        das_http_response_add_header(rs, "Content-Type", h->mime_type ? h->mime_type : f.mime);
    if (!user_etag)
        das_http_response_add_header(rs, "ETag", f.etag);
    long expiration = h->expiration >= 0 ? h->expiration : app->config->default_expiration;
    if (!user_cache) {
        char cc[64];
        if (expiration >= 0)
            snprintf(cc, sizeof cc, "public, max-age=%ld", expiration);
        else
            snprintf(cc, sizeof cc, "public");
        das_http_response_add_header(rs, "Cache-Control", cc);
    }
    if (!user_expires) {
        char date[64];
        if (expiration >= 0)
            das_clock_http_date(now_ns / 1000000000 + expiration, date, sizeof date);
        else
            snprintf(date, sizeof date, "%s", OLD_EXPIRES);
        das_http_response_add_header(rs, "Expires", date);
    }
    const char *if_match = request_header(rq, "If-Match");
    if (if_match && !etag_matches(if_match, f.etag, false)) {
        if (f.fd >= 0)
            close(f.fd);
        das_buf_reset(&rs->body);
        rs->status = 412;
        return 0;
    }
    if (etag_matches(request_header(rq, "If-None-Match"), f.etag, true)) {
        if (f.fd >= 0)
            close(f.fd);
        das_buf_reset(&rs->body);
        rs->status = 304;
        return 0;
    }
    rs->status = 200;
    if (f.fd >= 0) { /* a large file goes out with sendfile() */
        rs->fd = f.fd;
        rs->fd_size = f.size;
    }
    /* A small one is in rs->body already: headers and body then leave in one send (with
     * sendfile() it cost a second TCP segment, which measured slower than the copy). */
    return 0;
}

/* ---------------------------------------------------------------- app handlers */

static void build_error_page(das_app_t *app, das_http_response_t *rs)
{
    das_buf_t b = {0};
    das_buf_puts(&b, "<!DOCTYPE html>\n<html><head><title>Build error</title></head><body>\n"
                     "<h1>500 - the app does not compile</h1>\n<p>devappserver rebuilds it as "
                     "soon as a source file changes. The compiler said:</p>\n<pre>");
    das_buf_html_escape(&b, app->build_error);
    das_buf_puts(&b, "</pre>\n</body></html>\n");
    das_http_response_set_text(rs, 500, "text/html; charset=utf-8", "%s", b.data);
    das_buf_dispose(&b);
}

/* Copies an instance's response into `rs`, applying the platform's rewriting rules. */
static void rewrite_app_response(const das_rpc_response_t *ar, das_http_response_t *rs)
{
    /* 1xx are interim responses: sent as the final one they leave the client waiting. */
    if (ar->status < 200 || ar->status > 599) {
        das_http_response_set_text(rs, 500, NULL,
                                   "Internal Server Error: the handler set the invalid HTTP "
                                   "status %u (an app's response must be 200 to 599).\n",
                                   ar->status);
        return;
    }
    /* As the platform: a body over 2^25 bytes is a 500. An instance reports one it did not
     * send (body_dropped); one that sends it anyway is held to the same limit. */
    uint64_t body_len = ar->body_dropped ? ar->body_dropped : ar->body_len;
    if (body_len > DAS_RPC_MAX_RESPONSE_BODY) {
        das_http_response_set_text(rs, 500, NULL,
                                   "HTTP response was too large: %llu. The limit is: %u.\n",
                                   (unsigned long long)body_len, DAS_RPC_MAX_RESPONSE_BODY);
        return;
    }
    rs->status = (int)ar->status;
    bool has_cookie = false;
    for (uint32_t i = 0; i < ar->n_headers; i++) {
        const char *n = ar->headers[i].name;
        if (in_list(n, dropped_response_headers))
            continue;
        has_cookie |= strcasecmp(n, "Set-Cookie") == 0;
        das_http_response_add_header(rs, n, ar->headers[i].value);
    }
    const char *cc = das_http_response_header(rs, "Cache-Control");
    if (cc && has_cookie && strstr(cc, "public")) {
        /* A response that sets a cookie must not be stored by shared caches. */
        das_buf_t b = {0};
        const char *p = strstr(cc, "public");
        das_buf_append(&b, cc, (size_t)(p - cc));
        das_buf_puts(&b, "private");
        das_buf_puts(&b, p + 6);
        das_http_response_remove_header(rs, "Cache-Control");
        das_http_response_add_header(rs, "Cache-Control", b.data);
        das_buf_dispose(&b);
    }
    bool no_body = ar->status < 200 || ar->status == 204 || ar->status == 304;
    if (!no_body)
        das_buf_append(&rs->body, ar->body, ar->body_len);
}

/* When the app names a default error page (error_handlers), a request the platform could not
 * serve (its instance crashed, it passed its deadline, no instance was free) gets that page,
 * with the same status, as in production; the log keeps the reason. */
static void serve_error_handler(das_server_t *s, das_app_t *app, das_http_response_t *rs)
{
    const char *file = app->config->error_handler_file;
    if (!file)
        return;
    das_static_file_t f;
    das_buf_t page = {0};
    int rc = das_static_get(app->statics, file, &f, &page, das_clock_wall_ns(s->clock));
    if (rc == 0 && f.fd >= 0)
        close(f.fd); /* a page over 64 KB: not read; the platform's would not be that big */
    const char *mime = app->config->error_handler_mime_type;
    if (rc == 0 && f.fd < 0)
        das_http_response_set_text(rs, rs->status, mime ? mime : f.mime, "%s", page.data);
    else
        das_http_response_set_text(rs, rs->status, "text/html", "Failed to load error handler");
    das_buf_dispose(&page);
}

/* Makes the request a deterministic task, with what its trace line records. */
static das_det_task_t *arrive(das_server_t *s, const das_http_request_t *rq,
                              const das_login_user_t *user)
{
    /* The Host header names this run's port: it stays out of the trace (replay sends its
     * own), so that the same requests give the same trace on any port. */
    das_rpc_pair_t *headers = das_xcalloc(rq->n_headers + 1, sizeof *headers);
    size_t n = 0;
    for (size_t i = 0; i < rq->n_headers; i++)
        if (strcasecmp(rq->headers[i].name, "Host") != 0)
            headers[n++] = (das_rpc_pair_t){rq->headers[i].name, rq->headers[i].value};
    das_trace_request_t tr = {
        .method = rq->method,
        .target = rq->raw_target,
        .headers = headers,
        .n_headers = n,
        .body = rq->body,
        .body_len = rq->body_len,
        .user = user ? user->email : "",
        .admin = user && user->admin,
    };
    das_det_task_t *t = das_det_arrive(s->det, &tr);
    free(headers);
    return t;
}

/* A task whose request the front end answered itself (a static file, a redirect, a 404, a
 * login page): it takes its start step, then ends with the response already made. */
static void run_answered_task(das_server_t *s, das_det_task_t *task, das_http_response_t *rs)
{
    char detail[1024];
    int rc = das_det_await_start(s->det, task, detail, sizeof detail);
    if (rc != 0) {
        if (rs->fd >= 0)
            close(rs->fd);
        rs->fd = -1;
        das_http_response_clear_headers(rs);
        das_http_response_set_text(rs, 500, NULL, "500 Internal Server Error: %s.\n", detail);
    }
    /* What the trace records of it: the status, and the body when it is in memory (a file is
     * sent from its descriptor). */
    das_rpc_response_t ar = {
        .status = (uint32_t)rs->status,
        .body = rs->fd >= 0 || !rs->body.data ? "" : rs->body.data,
        .body_len = rs->fd >= 0 ? 0 : rs->body.len,
    };
    das_rpc_buf_t out = {0};
    das_rpc_encode_response(&out, &ar);
    das_det_end(s->det, task, DAS_REQUEST_RETURNED, out.data, out.len);
    das_rpc_buf_dispose(&out);
    das_det_finish(s->det, task);
}

static void serve_script(das_server_t *s, das_app_t *app, const das_route_t *route,
                         const das_http_request_t *rq, const das_login_user_t *user,
                         das_det_task_t *task, das_http_response_t *rs, char *instance_id)
{
    if (app->build_error) {
        build_error_page(app, rs);
        if (task)
            run_answered_task(s, task, rs);
        return;
    }
    pairs_t headers = {0}, env = {0};
    env_values_t values;
    /* X-Appengine-Inbound-Appid is trusted only from this server's own urlfetch. */
    const char *token = request_header(rq, DAS_INBOUND_TOKEN_HEADER);
    bool from_urlfetch = token && strcmp(token, s->inbound_token) == 0;
    for (size_t i = 0; i < rq->n_headers; i++) {
        const char *n = rq->headers[i].name;
        bool inbound = from_urlfetch && strcasecmp(n, "X-Appengine-Inbound-Appid") == 0;
        if ((strncasecmp(n, "X-AppEngine-", 12) == 0 && !inbound) ||
            strcasecmp(n, DAS_INBOUND_TOKEN_HEADER) == 0 || in_list(n, dropped_request_headers))
            continue;
        pairs_add(&headers, n, rq->headers[i].value);
    }
    pairs_add(&headers, "X-AppEngine-Country", "ZZ");
    /* Deterministic dispatch: the request is a task (numbered before its ids are drawn, from
     * its own stream), and it waits for its start step. */
    base_env(s, app, task ? das_det_task_clock(task) : s->app_clock, &env, &values, rq->method,
             rq->path, rq->query, request_header(rq, "Host"), rq->remote_addr, rq->version,
             user);
    das_rpc_request_t wire = {
        .script = route->target,
        .method = rq->method,
        .path = rq->path,
        .query = rq->query,
        .headers = headers.items,
        .n_headers = (uint32_t)headers.n,
        .env = env.items,
        .n_env = (uint32_t)env.n,
        .body = rq->body,
        .body_len = rq->body_len,
    };
    das_rpc_buf_t out = {0};
    das_dispatch_result_t res = {.instance_id = ""};
    int rc = 0;
    if (task)
        rc = das_det_await_start(s->det, task, res.detail, sizeof res.detail);
    if (s->det) { /* a task, or a request outside the schedule (explore's setup, checks) */
        wire.virtual_now_ns = das_clock_wall_ns(s->virtual_clock);
        wire.random_seed = s->seed;
        wire.random_stream = task ? das_det_task_app_stream(task) : UINT64_C(2) << 32;
    }
    if (rc == 0)
        rc = das_dispatch_run(s->dispatch, &wire, values.log_id, task, &out, &res);
    if (task) {
        /* A failed task's instance was ended for it: the 500 says why, not how it ended. */
        const char *why = das_det_task_failure(task);
        if (rc < 0 && why)
            snprintf(res.detail, sizeof res.detail, "%s", why);
        das_det_finish(s->det, task);
    }
    snprintf(instance_id, 37, "%s", res.instance_id[0] ? res.instance_id : "-");
    if (rc == 0) {
        das_rpc_response_t ar;
        if (das_rpc_decode_response(out.data, out.len, &ar) == 0)
            rewrite_app_response(&ar, rs);
        else
            das_http_response_set_text(rs, 500, NULL,
                                       "Internal Server Error: malformed response from "
                                       "instance %s.\n",
                                       instance_id);
        das_rpc_response_dispose(&ar);
    } else if (rc == AE_EUNAVAILABLE) {
        das_http_response_set_text(rs, 503, NULL, "503 Service Unavailable: %s.\n", res.detail);
        serve_error_handler(s, app, rs);
    } else {
        das_http_response_set_text(rs, 500, NULL, "500 Internal Server Error: %s.\n",
                                   res.detail);
        serve_error_handler(s, app, rs);
    }
    das_rpc_buf_dispose(&out);
    pairs_dispose(&headers);
    pairs_dispose(&env);
}

/* ---------------------------------------------------------------- the request */

/* The path without "." and ".." segments, percent-encoded again for a Location header;
 * NULL when the (decoded) path has no such segment. Caller frees. */
static char *normalized_if_dotted(const char *path)
{
    char *clean = das_xstrdup(path);
    if (!(das_path_normalize(clean, false) & (DAS_PATH_HAD_DOT | DAS_PATH_HAD_DOTDOT))) {
        free(clean);
        return NULL;
    }
    /* "//host/x" would send the browser to another host: keep one leading slash. */
    size_t lead = 0;
    while (clean[lead] == '/' && clean[lead + 1] == '/')
        lead++;
    /* Encoded again, so that a decoded '\\', tab or '?' ("/a/../%5Cevil.example") cannot make
     * the Location name another host or a query. */
    size_t len = strlen(clean + lead);
    char *out = das_xmalloc(3 * len + 1);
    das_pct_encode_path(clean + lead, len, out);
    free(clean);
    return out;
}

/* Answers the request; `task` (deterministic dispatch) goes to its script, if it reaches
 * one. Returns whether it did. */
static bool handle(das_server_t *s, das_app_t *app, const das_http_request_t *rq,
                   const das_login_user_t *user, das_det_task_t *task, das_http_response_t *rs,
                   char *instance_id)
{
    char *clean = normalized_if_dotted(rq->path);
    if (clean) {
        char *loc = rq->query[0] ? das_xasprintf("%s?%s", clean, rq->query) : das_xstrdup(clean);
        redirect(rs, loc, "Moved");
        free(loc);
        free(clean);
        return false;
    }
    if (strcmp(rq->path, "/_ah/login") == 0 || strcmp(rq->path, "/_ah/logout") == 0) {
        serve_login(s, rq, user, rs);
        return false;
    }
    size_t from = 0;
    for (;;) {
        das_route_t route;
        int matched = das_router_match(app->router, rq->path, from, &route);
        if (matched == AE_EINTERNAL) {
            das_http_response_set_text(rs, 500, NULL,
                                       "Internal Server Error: a handler's url pattern could "
                                       "not be matched against this path (a regular "
                                       "expression limit).\n");
            return false;
        }
        if (matched < 0) {
            das_buf_t path = {0};
            das_buf_html_escape(&path, rq->path);
            das_http_response_set_text(rs, 404, "text/html",
                                       "<html><head><title>Not Found</title></head><body>The "
                                       "url \"%s\" does not match any handlers.</body></html>",
                                       path.data ? path.data : "");
            das_buf_dispose(&path);
            return false;
        }
        if (!login_allows(s, route.handler, rq, user, rs)) {
            das_route_dispose(&route);
            return false;
        }
        if (route.handler->kind == DAS_HANDLER_SCRIPT) {
            serve_script(s, app, &route, rq, user, task, rs, instance_id);
            das_route_dispose(&route);
            return true;
        }
        int rc = serve_static(s, app, &route, rq, rs);
        from = route.index + 1;
        das_route_dispose(&route);
        if (rc == 0)
            return false;
    }
}

/* Defaults every response gets, then one access-log line. */
static void finish(das_server_t *s, const das_http_request_t *rq, const das_login_user_t *user,
                   das_http_response_t *rs, const char *instance_id, int64_t t0)
{
    if (!das_http_response_header(rs, "Content-Type"))
        das_http_response_add_header(rs, "Content-Type", "text/html");
    if (!das_http_response_header(rs, "Cache-Control")) {
        das_http_response_add_header(rs, "Cache-Control", "no-cache");
        if (!das_http_response_header(rs, "Expires"))
            das_http_response_add_header(rs, "Expires", OLD_EXPIRES);
    }
    das_http_response_add_header(rs, "Server", SERVER_SOFTWARE);
    size_t header_bytes = das_http_response_header_bytes(rs);
    if (header_bytes > DAS_HTTP_MAX_HEADER_BYTES) {
        if (rs->fd >= 0)
            close(rs->fd);
        rs->fd = -1;
        das_http_response_clear_headers(rs);
        das_http_response_set_text(rs, 500, NULL,
                                   "Internal Server Error: the response headers are %zu bytes; "
                                   "the limit is %d.\n",
                                   header_bytes, DAS_HTTP_MAX_HEADER_BYTES);
        das_http_response_add_header(rs, "Cache-Control", "no-cache");
        das_http_response_add_header(rs, "Server", SERVER_SOFTWARE);
    }

    if (!das_log_is_enabled(s->log, DAS_LOG_INFO))
        return;
    double ms = (double)(das_clock_monotonic_ns(s->clock) - t0) / 1e6;
    struct timespec now;
    das_clock_wall(s->clock, &now);
    struct tm tm;
    gmtime_r(&now.tv_sec, &tm);
    char when[40];
    strftime(when, sizeof when, "%d/%b/%Y:%H:%M:%S +0000", &tm);
    unsigned long long bytes = rs->fd >= 0 ? rs->fd_size : rs->body.len;
    if (strcmp(rq->method, "HEAD") == 0 || rs->status == 304)
        bytes = 0;
    /* The request line is quoted: a '"' in it is written \" and a '\\' \\\\, so it cannot
     * close the field (and the log escapes controls). */
    das_buf_t line = {0};
    das_buf_printf(&line, "%s %s %s", rq->method, rq->raw_target, rq->version);
    das_buf_t quoted = {0};
    for (size_t i = 0; i < line.len; i++) {
        if (line.data[i] == '"' || line.data[i] == '\\')
            das_buf_append(&quoted, "\\", 1);
        das_buf_append(&quoted, &line.data[i], 1);
    }
    das_log_info(s->log, "%s - %s [%s] \"%s\" %d %llu %.3fms instance=%s", rq->remote_addr,
                 user ? user->email : "-", when, quoted.data, rs->status, bytes, ms,
                 instance_id);
    das_buf_dispose(&line);
    das_buf_dispose(&quoted);
}

/* Whether the Host header names this server: the address it listens on, localhost,
 * 127.0.0.1, [::1], or a name given with --allow-host. A page on another site that rebinds its
 * own name to 127.0.0.1 (DNS rebinding) sends its own name, and gets a 400. No Host (HTTP/1.0)
 * is allowed. */
static bool host_allowed(das_server_t *s, const char *host)
{
    if (!host || !*host)
        return true;
    size_t n = strlen(host);
    const char *colon = strrchr(host, ':');
    if (colon && (host[0] != '[' || colon > strchr(host, ']'))) {
        bool digits = colon[1] != '\0';
        for (const char *p = colon + 1; *p; p++)
            digits &= *p >= '0' && *p <= '9';
        if (digits)
            n = (size_t)(colon - host); /* without its port */
    }
    static const char *const local[] = {"localhost", "127.0.0.1", "[::1]"};
    for (size_t i = 0; i < sizeof local / sizeof local[0]; i++)
        if (strlen(local[i]) == n && strncasecmp(host, local[i], n) == 0)
            return true;
    const char *listen = s->o.host;
    bool v6 = strchr(listen, ':') != NULL; /* a v6 address is [bracketed] in a Host header */
    if (n == strlen(listen) + (v6 ? 2 : 0) && (!v6 || (host[0] == '[' && host[n - 1] == ']')) &&
        strncasecmp(host + (v6 ? 1 : 0), listen, strlen(listen)) == 0)
        return true;
    for (size_t i = 0; i < s->o.n_allow_hosts; i++) {
        const char *a = s->o.allow_hosts[i];
        if (strcmp(a, "*") == 0 || (strlen(a) == n && strncasecmp(host, a, n) == 0))
            return true;
    }
    return false;
}

void das__frontend_handle(void *ctx, const das_http_request_t *rq, das_http_response_t *rs)
{
    das_server_t *s = ctx;
    int64_t t0 = das_clock_monotonic_ns(s->clock);
    const char *host = request_header(rq, "Host");
    if (!host_allowed(s, host)) {
        das_http_response_set_text(rs, 400, NULL,
                                   "Request host '%s' is not allowed. Allowed hosts are "
                                   "localhost, 127.0.0.1, [::1] and %s; start the server with "
                                   "--allow-host NAME to add one.\n",
                                   host, s->o.host);
        finish(s, rq, NULL, rs, "-", t0);
        return;
    }
    das_app_t *app = das__app_acquire(s);
    das_login_user_t user_storage;
    const das_login_user_t *user =
        das_login_from_cookie_header(request_header(rq, "Cookie"), &user_storage) == 0
            ? &user_storage
            : NULL;
    char instance_id[37] = "-";
    /* Deterministic dispatch: every request is a task, from here (a scenario's, or a
     * replay's, waits for each to arrive), whatever answers it. */
    das_det_task_t *task = s->det ? arrive(s, rq, user) : NULL;
    if (!handle(s, app, rq, user, task, rs, instance_id) && task)
        run_answered_task(s, task, rs);
    finish(s, rq, user, rs, instance_id, t0);
    das__app_release(s, app);
}

bool das__frontend_make_warmup(void *ctx, const char *instance_id, das_rpc_buf_t *out,
                               char log_id[41])
{
    das_server_t *s = ctx;
    das_app_t *app = das__app_acquire(s);
    bool made = false;
    das_route_t route;
    if (app->config->inbound_warmup &&
        das_router_match(app->router, "/_ah/warmup", 0, &route) == 0) {
        if (route.handler->kind == DAS_HANDLER_SCRIPT) {
            /* As on the platform: a GET from 0.1.0.3, as a logged-in administrator. */
            das_login_user_t admin = {.admin = true};
            snprintf(admin.email, sizeof admin.email, "warmup@devappserver.local");
            snprintf(admin.nickname, sizeof admin.nickname, "warmup");
            das_login_user_id(admin.email, admin.user_id);
            pairs_t env = {0};
            env_values_t values;
            base_env(s, app, s->app_clock, &env, &values, "GET", "/_ah/warmup", "", NULL,
                     "0.1.0.3", "HTTP/1.1", &admin);
            pairs_add(&env, "INSTANCE_ID", instance_id);
            das_rpc_pair_t header = {"X-AppEngine-Country", "ZZ"};
            das_rpc_request_t wire = {
                .script = route.target,
                .method = "GET",
                .path = "/_ah/warmup",
                .query = "",
                .headers = &header,
                .n_headers = 1,
                .env = env.items,
                .n_env = (uint32_t)env.n,
                .body = "",
                .body_len = 0,
            };
            das_rpc_encode_request(out, &wire);
            memcpy(log_id, values.log_id, sizeof values.log_id);
            pairs_dispose(&env);
            made = true;
        }
        das_route_dispose(&route);
    }
    das__app_release(s, app);
    return made;
}
