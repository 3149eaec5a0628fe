/* datastore_service.h - the datastore service's options, parsed by the CLI (or set by the
 * testbed) and handed to the service through the registry
 * (das_service_config_t{"datastore_v3", &options}). NULL options, or a zeroed struct, are the
 * server's defaults: the app's id, STORAGE/datastore.db, scattered ids, the time policy,
 * seed 0, index.yaml in APPDIR, no background thread.
 */
#ifndef DAS_DATASTORE_SERVICE_H
#define DAS_DATASTORE_SERVICE_H

#include <stdbool.h>
#include <stdint.h>

typedef enum {
    DAS_DATASTORE_IDS_SCATTERED = 0, /* as the old server */
    DAS_DATASTORE_IDS_SEQUENTIAL,    /* the testbed's */
} das_datastore_ids_t;

typedef enum {
    DAS_DATASTORE_CONSISTENCY_TIME = 0, /* as the old server */
    DAS_DATASTORE_CONSISTENCY_RANDOM,
    DAS_DATASTORE_CONSISTENCY_CONSISTENT,
} das_datastore_consistency_t;

typedef struct {
    const char *app_id;   /* NULL: the app's ("dev~" + app.yaml's application) */
    const char *path;     /* the SQLite file; NULL: STORAGE/datastore.db, or in memory when the
                             services have no storage path (the testbed) */
    bool in_memory;       /* in memory whatever `path` and the storage path say */
    bool clear;           /* --clear-datastore */
    bool sync_full;       /* --datastore-sync full */
    das_datastore_ids_t ids;
    das_datastore_consistency_t consistency;
    uint64_t seed;
    const char *app_root; /* where index.yaml is; NULL: APPDIR */
    bool no_app_root;     /* read and write no index.yaml at all */
    bool require_indexes;
    /* Applies pending commits from a thread of the service as they fall due (the server), so
     * that no backlog builds up; the testbed leaves it off (queries apply what is due). */
    bool background_apply;
} das_datastore_service_options_t;

#endif
