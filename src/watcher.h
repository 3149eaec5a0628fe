/* watcher.h - tells the server when the app's files change (inotify, recursive).
 *
 * A watcher thread reads inotify events for APPDIR and its subdirectories, waits until the
 * changes settle (`settle_ms` without a new event, so an editor's save-as-rename counts once),
 * and then calls on_change once on its own thread. Only files whose names end in .c, .h, .yaml
 * or .yml count, except APPDIR/index.yaml (the datastore writes it; it is not the app's code);
 * new subdirectories are watched as they appear. `ignore` (an absolute path,
 * or NULL) and what is below it is never watched: the storage path, when it is inside APPDIR,
 * where every build would otherwise look like a change.
 */
#ifndef DAS_WATCHER_H
#define DAS_WATCHER_H

#include "log.h"
#include "util.h"

typedef struct das_watcher das_watcher_t;
typedef void (*das_watcher_change_cb)(void *ctx);

int das_watcher_start(const char *appdir, const char *ignore, int settle_ms,
                      das_watcher_change_cb on_change, void *ctx, das_log_t *log,
                      das_watcher_t **out, das_err_t *err);
/* Stops the thread (waiting for a running on_change to return) and frees the watcher. */
void das_watcher_stop(das_watcher_t *w);

#endif
