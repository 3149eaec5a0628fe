/* status.c - ae_strerror(): the text of each AE_* status code. */
#include <appengine/status.h>

const char *ae_strerror(int code)
{
    switch (code) {
    case AE_OK: return "success";
    case AE_EINVAL: return "invalid argument";
    case AE_ENOTFOUND: return "not found";
    case AE_ETIMEOUT: return "deadline exceeded";
    case AE_ECONTENTION: return "contention: a concurrent change won";
    case AE_ETOOLARGE: return "too large";
    case AE_EUNAVAILABLE: return "service unavailable";
    case AE_EINTERNAL: return "internal error";
    case AE_EIO: return "input/output error";
    case AE_ENOMEM: return "out of memory";
    case AE_ENOTSTORED: return "not stored";
    case AE_ENEEDINDEX: return "the query needs a composite index";
    case AE_EREDIRECT: return "too many redirects";
    case AE_ECERT: return "the server's certificate is not valid";
    case AE_EFETCH: return "the URL could not be fetched";
    default: return "unknown error";
    }
}
