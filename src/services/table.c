/* table.c - the services devappserver emulates: one row each. Adding a service adds its row
 * here (see docs/adding-a-service.md); nothing else in the server names a service.
 */
#include "table.h"

#define SERVICES(X) \
    X(memcache)     \
    X(logservice)   \
    X(datastore)    \
    X(urlfetch)

#define DECLARE(name) extern const das_service_def_t das_##name##_service;
SERVICES(DECLARE)

#define ROW(name) &das_##name##_service,
const das_service_def_t *const das_service_table[] = {SERVICES(ROW) NULL};
