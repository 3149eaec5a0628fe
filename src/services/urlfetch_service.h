/* urlfetch_service.h - the URL Fetch service's options, parsed by the CLI and handed to the
 * service through the registry (das_service_config_t{"urlfetch", &options}). The testbed's
 * hooks into the service are in urlfetch_testbed.h.
 */
#ifndef DAS_URLFETCH_SERVICE_H
#define DAS_URLFETCH_SERVICE_H

typedef struct {
    const char *record_path; /* --urlfetch-record FILE: every exchange appended as a JSON line */
    const char *replay_path; /* --urlfetch-replay FILE: answers from it, with no network */
} das_urlfetch_service_options_t;

#endif
