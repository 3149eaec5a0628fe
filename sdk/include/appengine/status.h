/* appengine/status.h - the status codes shared by the SDK, the server and the stubs.
 *
 * Every fallible function in devappserver returns 0 (AE_OK) or one of these negative codes, and
 * codes cross the RPC unchanged. ae_strerror() gives each a short English description.
 */
#ifndef AE_STATUS_H
#define AE_STATUS_H

#ifndef AE_API
#define AE_API __attribute__((visibility("default")))
#endif

#define AE_OK 0
#define AE_EINVAL (-1)       /* an argument or input is malformed */
#define AE_ENOTFOUND (-2)    /* the thing asked for does not exist */
#define AE_ETIMEOUT (-3)     /* a deadline passed */
#define AE_ECONTENTION (-4)  /* a concurrent change won; retry */
#define AE_ETOOLARGE (-5)    /* over a platform size limit */
#define AE_EUNAVAILABLE (-6) /* the service or server cannot take the call now */
#define AE_EINTERNAL (-7)    /* a bug or a system failure */
#define AE_EIO (-8)          /* a file or socket operation failed */
#define AE_ENOMEM (-9)       /* out of memory */
#define AE_ENOTSTORED (-10)  /* a conditional store did not happen (add, replace, cas) */

/* Returns a static, never-NULL description of `code`. */
AE_API const char *ae_strerror(int code);

#endif
