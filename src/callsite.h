/* callsite.h - call sites of an app build, from its debug information: an offset in the app's
 * shared object (what the SDK sends with each call under deterministic dispatch) to
 * "file:line", the file relative to APPDIR.
 *
 * The app is built with -g; libdw (elfutils) reads its DWARF line table. Lookups are cached.
 * Thread-safe (libdw is not: one mutex guards it).
 */
#ifndef DAS_CALLSITE_H
#define DAS_CALLSITE_H

#include <stddef.h>
#include <stdint.h>

typedef struct das_callsites das_callsites_t;

/* NULL when the file cannot be read (lookups then say nothing). */
das_callsites_t *das_callsites_open(const char *so_path, const char *appdir);
void das_callsites_close(das_callsites_t *cs); /* NULL ok */

/* `site` is the return address's offset in the object plus 0 (the SDK's ae__call_site): the
 * call instruction is the byte before it. Writes "counter.c:41", or "" when unknown. */
void das_callsites_resolve(das_callsites_t *cs, uint64_t site, char *out, size_t cap);

#endif
