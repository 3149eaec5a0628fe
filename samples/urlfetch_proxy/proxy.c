/* proxy.c - the urlfetch_proxy sample: URL Fetch from a handler.
 *
 *   /fetch?url=U[&method=M][&payload=P][&deadline=S][&follow=0][&validate=1][&truncated=1]
 *       fetches U and answers with its body, its status in X-Fetch-Status and, after
 *       redirects, the final URL in X-Fetch-Final-Url; a failed fetch answers 502 with the
 *       error and the platform's message.
 *   /self          fetches this very URL (the platform refuses: 502)
 *   /parallel?url=U&n=N, /sequential?url=U&n=N
 *       fetches U N times, started together or one after the other; answers the statuses.
 *   /forget?url=U  starts a fetch of U and answers at once, never waiting for it (the server
 *                  cancels it when the request ends)
 *   /hello         answers "hello" (a URL of this app for /fetch to fetch)
 *   /inbound       answers the X-Appengine-Inbound-Appid header it got, or "(none)"
 */
#include <appengine/appengine.h>
#include <appengine/urlfetch.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void failed(ae_request_t *rq, ae_response_t *rs, int rc)
{
    ae_response_set_status(rs, 502);
    ae_response_set_header(rs, "Content-Type", "text/plain");
    ae_response_printf(rs, "error %d (%s): %s\n", rc, ae_strerror(rc),
                       ae_request_last_error(rq) ? ae_request_last_error(rq) : "");
}

static void fetch(ae_request_t *rq, ae_response_t *rs)
{
    ae_urlfetch_request_t f = AE_URLFETCH_REQUEST_INIT;
    const char *p;
    f.url = ae_request_param(rq, "url");
    if ((p = ae_request_param(rq, "method")))
        f.method = p;
    if ((p = ae_request_param(rq, "payload"))) {
        f.payload = p;
        f.payload_len = strlen(p);
    }
    if ((p = ae_request_param(rq, "deadline")))
        f.deadline = atof(p);
    if ((p = ae_request_param(rq, "follow")))
        f.follow_redirects = strcmp(p, "0") != 0;
    if ((p = ae_request_param(rq, "validate")))
        f.validate_certificate = strcmp(p, "1") == 0;
    if ((p = ae_request_param(rq, "truncated")))
        f.allow_truncated = strcmp(p, "1") == 0;
    ae_urlfetch_response_t r;
    int rc = ae_urlfetch(rq, &f, &r);
    if (rc != AE_OK) {
        failed(rq, rs, rc);
        return;
    }
    char status[16];
    snprintf(status, sizeof status, "%d", r.status);
    ae_response_set_header(rs, "X-Fetch-Status", status);
    if (r.final_url)
        ae_response_set_header(rs, "X-Fetch-Final-Url", r.final_url);
    const char *type = ae_urlfetch_header(&r, "Content-Type");
    ae_response_set_header(rs, "Content-Type", type ? type : "application/octet-stream");
    ae_response_write(rs, r.body, r.len);
}

static void self(ae_request_t *rq, ae_response_t *rs)
{
    char url[512];
    snprintf(url, sizeof url, "http://%s/self", ae_request_header(rq, "Host"));
    ae_urlfetch_request_t f = AE_URLFETCH_REQUEST_INIT;
    f.url = url;
    ae_urlfetch_response_t r;
    int rc = ae_urlfetch(rq, &f, &r);
    if (rc != AE_OK)
        failed(rq, rs, rc);
    else
        ae_response_printf(rs, "fetched myself: %d\n", r.status);
}

/* N fetches of one URL, all started before any is waited for (or one by one). */
static void many(ae_request_t *rq, ae_response_t *rs, bool together)
{
    const char *n_text = ae_request_param(rq, "n");
    int n = n_text ? atoi(n_text) : 1;
    if (n < 1 || n > 100) {
        ae_response_set_status(rs, 400);
        ae_response_puts(rs, "n must be from 1 to 100\n");
        return;
    }
    ae_urlfetch_request_t f = AE_URLFETCH_REQUEST_INIT;
    f.url = ae_request_param(rq, "url");
    ae_urlfetch_rpc_t *rpcs[100];
    ae_urlfetch_response_t r;
    ae_response_set_header(rs, "Content-Type", "text/plain");
    for (int i = 0; i < n; i++) {
        int rc = together ? ae_urlfetch_start(rq, &f, &rpcs[i]) : ae_urlfetch(rq, &f, &r);
        if (rc != AE_OK) {
            failed(rq, rs, rc);
            return;
        }
        if (!together)
            ae_response_printf(rs, "%d\n", r.status);
    }
    for (int i = 0; together && i < n; i++) {
        int rc = ae_urlfetch_wait(rq, rpcs[i], &r);
        if (rc != AE_OK) {
            failed(rq, rs, rc);
            return;
        }
        ae_response_printf(rs, "%d\n", r.status);
    }
}

static void parallel(ae_request_t *rq, ae_response_t *rs)
{
    many(rq, rs, true);
}

static void sequential(ae_request_t *rq, ae_response_t *rs)
{
    many(rq, rs, false);
}

static void forget(ae_request_t *rq, ae_response_t *rs)
{
    ae_urlfetch_request_t f = AE_URLFETCH_REQUEST_INIT;
    f.url = ae_request_param(rq, "url");
    ae_urlfetch_rpc_t *rpc;
    int rc = ae_urlfetch_start(rq, &f, &rpc);
    if (rc != AE_OK)
        return failed(rq, rs, rc);
    ae_response_puts(rs, "started\n");
}

static void hello(ae_request_t *rq, ae_response_t *rs)
{
    (void)rq;
    ae_response_set_header(rs, "Content-Type", "text/plain");
    ae_response_puts(rs, "hello\n");
}

static void inbound(ae_request_t *rq, ae_response_t *rs)
{
    const char *appid = ae_request_header(rq, "X-Appengine-Inbound-Appid");
    ae_response_set_header(rs, "Content-Type", "text/plain");
    ae_response_printf(rs, "%s\n", appid ? appid : "(none)");
}

AE_APP(app, {"/fetch", fetch}, {"/self", self}, {"/parallel", parallel},
       {"/sequential", sequential}, {"/forget", forget}, {"/hello", hello},
       {"/inbound", inbound});
