/* appengine/apiproxy.h - one service call by name, below the service headers: what
 * appengine/memcache.h and the others are built on (the platform's apiproxy.MakeSyncCall).
 *
 * Apps rarely need it; it is there for a service the SDK has no header for yet, and for tests
 * of the call path itself. The body is the method's own encoding.
 */
#ifndef AE_APIPROXY_H
#define AE_APIPROXY_H

#include <appengine/appengine.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Calls `service`.`method` with `body`. Returns the call's status: AE_OK, or an AE_* code
 * (AE_EINVAL for an unknown service or method, or a body the method cannot read; the
 * detail is then in ae_request_last_error()). On AE_OK `*reply`/`*reply_len` hold the reply
 * body in the request's arena (either may be NULL). */
AE_API int ae_apiproxy_call(ae_request_t *rq, const char *service, const char *method,
                            const void *body, size_t len, const void **reply, size_t *reply_len);

#ifdef __cplusplus
}
#endif

#endif
