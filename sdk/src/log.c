/* log.c - the app's log lines (appengine/log.h): formatted into the request's batch, cut at
 * AE_LOG_MAX_LINE, and sent to the logservice service in one call per batch ("Flush": u32
 * count, then per line u32 level, i64 Unix time in ns, bytes message).
 */
#include <appengine/log.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sdk_internal.h"

#define BATCH_BYTES (256 * 1024) /* a batch this big is sent before the request ends */
#define BATCH_LINES 1000

void ae_logv(ae_request_t *rq, ae_log_level_t level, const char *fmt, va_list ap)
{
    if (level < AE_LOG_DEBUG || level > AE_LOG_CRITICAL)
        level = AE_LOG_CRITICAL;
    char line[AE_LOG_MAX_LINE + 1];
    int n = vsnprintf(line, sizeof line, fmt, ap);
    if (n < 0)
        return;
    size_t len = (size_t)n;
    if (len > AE_LOG_MAX_LINE) {
        len = AE_LOG_MAX_LINE - (sizeof AE_LOG_CUT_MARKER - 1);
        memcpy(line + len, AE_LOG_CUT_MARKER, sizeof AE_LOG_CUT_MARKER - 1);
        len = AE_LOG_MAX_LINE;
    }
    das_rpc_put_u32(&rq->log_batch, (uint32_t)level);
    das_rpc_put_i64(&rq->log_batch, ae_time_now_ns(rq));
    das_rpc_put_bytes(&rq->log_batch, line, len);
    if (++rq->log_lines >= BATCH_LINES || rq->log_batch.len >= BATCH_BYTES)
        ae_log_flush(rq);
}

void ae_log(ae_request_t *rq, ae_log_level_t level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ae_logv(rq, level, fmt, ap);
    va_end(ap);
}

void ae_log_flush(ae_request_t *rq)
{
    if (!rq->log_lines)
        return;
    ae__call_t c;
    das_rpc_buf_t *body = ae__call_begin(rq, &c, "logservice", "Flush");
    das_rpc_put_u32(body, rq->log_lines);
    das_rpc_put_raw(body, rq->log_batch.data, rq->log_batch.len);
    rq->log_batch.len = 0;
    rq->log_lines = 0;
    /* A lost batch is not the handler's business: it keeps the last error it had. */
    const char *last_error = rq->last_error;
    ae__call_send(rq, &c);
    rq->last_error = last_error;
    ae__call_dispose(&c);
}
