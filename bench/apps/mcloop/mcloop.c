/* mcloop.c - GET /loop?n=N makes N memcache set+get pairs (2N calls over the RPC). */
#include <appengine/memcache.h>
#include <stdio.h>
#include <stdlib.h>

static void loop(ae_request_t *rq, ae_response_t *rs)
{
    const char *p = ae_request_param(rq, "n");
    long n = p ? atol(p) : 1000;
    long hits = 0;
    char key[32];
    for (long i = 0; i < n; i++) {
        snprintf(key, sizeof key, "key:%ld", i % 1000);
        ae_memcache_set(rq, key, "0123456789abcdef", 16, 0, 0);
        ae_memcache_value_t v;
        hits += ae_memcache_get(rq, key, &v) == AE_OK;
    }
    ae_response_printf(rs, "%ld", hits);
}

AE_APP(app, {"*", loop});
