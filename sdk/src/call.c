/* call.c - the one way the SDK makes a service call: the envelope, the round trip through the
 * request's transport, and the request's last error. See ae__call_begin in sdk_internal.h.
 */
#include <appengine/apiproxy.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "sdk_internal.h"

das_rpc_buf_t *ae__call_begin(ae_request_t *rq, ae__call_t *c, const char *service,
                              const char *method)
{
    memset(c, 0, sizeof *c);
    c->mark = das_rpc_call_begin(&c->out, service, method, ++rq->call_seq);
    if (rq->app_base)
        das_rpc_call_set_site(&c->out, c->mark, ae__call_site(rq));
    return &c->out;
}

static void set_last_error(ae_request_t *rq, const char *detail, size_t len)
{
    rq->last_error = das_arena_strndup(&rq->arena, detail, len);
}

int ae__fail(ae_request_t *rq, int code, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    set_last_error(rq, text, n < 0 ? 0 : (size_t)n < sizeof text ? (size_t)n : sizeof text - 1);
    return code;
}

int ae__call_send(ae_request_t *rq, ae__call_t *c)
{
    das_rpc_call_end(&c->out, c->mark);
    if (c->out.len > DAS_RPC_MAX_FRAME) {
        das_rpc_call_t env;
        das_rpc_decode_call(c->out.data, c->out.len, &env);
        return ae__fail(rq, AE_ETOOLARGE, "The request to API call %s.%s() was too large.",
                        env.service, env.method);
    }
    if (!rq->call)
        return ae__fail(rq, AE_EUNAVAILABLE, "no service is reachable from this request");
    int rc = rq->call(rq, &c->out, &c->in);
    if (rc < 0)
        return ae__fail(rq, rc, "the server did not answer the call (%s)", ae_strerror(rc));
    das_rpc_reply_t reply;
    if (das_rpc_decode_reply(c->in.data, c->in.len, &reply) < 0)
        return ae__fail(rq, AE_EINTERNAL, "malformed reply from the server (%zu bytes)",
                        c->in.len);
    if (reply.now_ns)
        rq->virtual_now_ns = reply.now_ns;
    if (reply.status != AE_OK) {
        const char *detail = reply.detail[0] ? reply.detail : ae_strerror(reply.status);
        set_last_error(rq, detail, strlen(detail));
        return reply.status;
    }
    c->reply = reply.body;
    c->reply_len = reply.body_len;
    return AE_OK;
}

void ae__call_dispose(ae__call_t *c)
{
    das_rpc_buf_dispose(&c->out);
    das_rpc_buf_dispose(&c->in);
}

const char *ae_request_last_error(const ae_request_t *rq)
{
    return rq->last_error;
}

int ae_apiproxy_call(ae_request_t *rq, const char *service, const char *method,
                     const void *body, size_t len, const void **reply, size_t *reply_len)
{
    ae__call_t c;
    das_rpc_buf_t *out = ae__call_begin(rq, &c, service ? service : "", method ? method : "");
    das_rpc_put_raw(out, body, len);
    int rc = ae__call_send(rq, &c);
    if (rc == AE_OK) {
        char *copy = das_arena_strndup(&rq->arena, c.reply, c.reply_len);
        if (reply)
            *reply = copy;
        if (reply_len)
            *reply_len = c.reply_len;
    }
    ae__call_dispose(&c);
    return rc;
}
