/* race.h - `serve --race-detector`: GCC's ThreadSanitizer in the instances, for races on the
 * app's own memory that request-level scheduling cannot see (`count++` with no service call
 * inside its window).
 *
 * The app is compiled with -fsanitize=thread (src/build.c) and its instances start with GCC's
 * runtime preloaded and address-space randomisation off (ThreadSanitizer needs both); they
 * write their reports to files under STORAGE/tsan/. After each request the server prints the
 * reports that appeared and logs one line per report naming the two accesses' source lines.
 * Thread-safe.
 */
#ifndef DAS_RACE_H
#define DAS_RACE_H

#include <stddef.h>

#include "log.h"
#include "util.h"

typedef struct das_race das_race_t;

/* Checks that `cc` is GCC and that its ThreadSanitizer runtime is installed (Debian's
 * libtsan2); fills `runtime` with the runtime's path. AE_EINVAL with the reason otherwise. */
int das_race_check_tools(const char *cc, char *runtime, size_t cap, das_err_t *err);

/* Reports go to `dir` (created), scanned by das_race_scan. */
das_race_t *das_race_create(const char *dir, das_log_t *log);
void das_race_destroy(das_race_t *r); /* NULL ok */
/* The TSAN_OPTIONS value the instances get. Borrowed. */
const char *das_race_tsan_options(const das_race_t *r);
/* Prints the reports written since the last scan (to stderr) and logs a summary of each. */
void das_race_scan(das_race_t *r);

#endif
