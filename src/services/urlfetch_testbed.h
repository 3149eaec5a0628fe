/* urlfetch_testbed.h - the testbed's hooks into the URL Fetch service (appengine/testbed.h):
 * fetches of URLs that start with `prefix` are answered by `fn`; and offline mode, where every
 * other URL fails with AE_EFETCH. `state` is das_services_state(s, "urlfetch").
 */
#ifndef DAS_URLFETCH_TESTBED_H
#define DAS_URLFETCH_TESTBED_H

#include <appengine/testbed.h>

void das_urlfetch_service_stub(void *state, const char *prefix, ae_testbed_urlfetch_fn fn,
                               void *ctx);
void das_urlfetch_service_offline(void *state);

#endif
