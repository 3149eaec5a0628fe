/* router.h - matches a request path against app.yaml's handlers.
 *
 * Handlers match in file order, against the path only (never the query string), as a whole
 * match: `url` is compiled as ^(?:URL)$ for script and static_files handlers and as ^URL/(.*)$
 * for static_dir. \1..\9 in `script` and `static_files` expand to the url's groups. The router
 * is immutable once created and may be used from any thread.
 */
#ifndef DAS_ROUTER_H
#define DAS_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "util.h"

typedef struct das_router das_router_t;

typedef struct {
    const das_config_handler_t *handler; /* borrowed from the config */
    size_t index;                        /* the handler's position in the config */
    char *target; /* SCRIPT: "FILE.SYMBOL"; STATIC_*: a path relative to APPDIR. Freed by
                     das_route_dispose(). */
    bool not_uploaded; /* STATIC_FILES: the target does not match the handler's `upload`
                          regex, so it is no file of the app's (as on the platform) */
} das_route_t;

/* Compiles every handler's url. `cfg` is borrowed and must outlive the router. */
int das_router_create(const das_config_t *cfg, das_router_t **out, das_err_t *err);
void das_router_destroy(das_router_t *r);

/* Finds the first handler at position >= `from` whose url matches `path`. Returns 0 and fills
 * `route`; AE_ENOTFOUND; or AE_EINTERNAL when a url could not be matched at all (a PCRE2 match
 * limit): the request must fail rather than fall through to a later handler. `from` lets a
 * caller fall through past a static handler with require_matching_file whose file is missing. */
int das_router_match(const das_router_t *r, const char *path, size_t from, das_route_t *route);
void das_route_dispose(das_route_t *route);

#endif
