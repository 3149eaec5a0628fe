/* warm.c - a global the warmup request fills (explore must put it back as the warmup left
 * it, not as the app was loaded), and a request that changes it. */
#include <appengine/appengine.h>
#include <appengine/memcache.h>

static int greeting_ready;
static int bumps;

static void warmup(ae_request_t *rq, ae_response_t *rs)
{
    (void)rq;
    greeting_ready = 1;
    ae_response_puts(rs, "warm");
}

/* "ready=1 bumps=0" in a fresh instance after its warmup; a call makes it a point. */
static void warm(ae_request_t *rq, ae_response_t *rs)
{
    ae_memcache_set(rq, "seen", "1", 1, 0, 0);
    ae_response_printf(rs, "ready=%d bumps=%d", greeting_ready, bumps++);
}

AE_APP(app, {"/_ah/warmup", warmup}, {"/warm", warm});
