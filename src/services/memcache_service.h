/* memcache_service.h - the memcache service's options, parsed by the CLI and handed to the
 * service through the registry (das_service_config_t{"memcache", &options}).
 */
#ifndef DAS_MEMCACHE_SERVICE_H
#define DAS_MEMCACHE_SERVICE_H

#include <stdint.h>

typedef struct {
    uint64_t max_bytes; /* the cache's cap on key + value bytes; 0: the stub's default */
} das_memcache_service_options_t;

#endif
