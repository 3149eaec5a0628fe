/* appengine/status.h - the status codes shared by the SDK, the server and the stubs.
 *
 * Every fallible function in devappserver returns 0 (AE_OK) or one of these negative codes, and
 * codes cross the RPC unchanged. ae_strerror() gives each a short English description.
 *
 * The codes run from -1001 down to AE_ERR_LAST. An errno is never returned through an AE_*
 * channel, and Linux's errno values stay far below 1001 (the largest is 133), so -1001 and
 * below are always AE_* codes and a negative value above -1000 always a -errno.
 */
#ifndef AE_STATUS_H
#define AE_STATUS_H

#ifndef AE_API
#define AE_API __attribute__((visibility("default")))
#endif

#define AE_OK 0
#define AE_EINVAL (-1001)    /* an argument or input is malformed */
#define AE_ENOTFOUND (-1002) /* the thing asked for does not exist */
#define AE_ETIMEOUT (-1003)  /* a deadline passed */
#define AE_ECONTENTION (-1004) /* a concurrent change won; retry */
#define AE_ETOOLARGE (-1005) /* over a platform size limit */
#define AE_EUNAVAILABLE (-1006) /* the service or server cannot take the call now */
#define AE_EINTERNAL (-1007) /* a bug or a system failure */
#define AE_EIO (-1008)       /* a file or socket operation failed */
#define AE_ENOMEM (-1009)    /* out of memory */
#define AE_ENOTSTORED (-1010) /* a conditional store did not happen (add, replace, cas) */
#define AE_ENEEDINDEX (-1011) /* a datastore query needs a composite index index.yaml lacks */
#define AE_EREDIRECT (-1012) /* a URL fetch met more redirects than the platform follows (5) */
#define AE_ECERT (-1013)     /* a URL fetch's server certificate did not validate */
#define AE_EFETCH (-1014)    /* a URL fetch failed: DNS, connection, a malformed reply */

#define AE_ERR_FIRST AE_EINVAL /* the codes run from AE_ERR_FIRST down to AE_ERR_LAST */
#define AE_ERR_LAST AE_EFETCH

/* Returns a static, never-NULL description of `code`. */
AE_API const char *ae_strerror(int code);

#endif
