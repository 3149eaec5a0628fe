/* timeline.h - a run as people read it: one column per request, one row per step.
 *
 *          A  GET /racy?key=racy            B  GET /racy?key=racy
 *       1  start
 *       2  memcache.get "racy" -> "0"  counter.c:41
 *          ~~ preempted ~~
 *       3                                   start
 *
 * Each call shows its keys (a leading '/', the default namespace, is not shown), the value read
 * or written, its result and its call site; lock, wait and sleep steps show what they wait for;
 * preemptions are marked; a request's status and (cut) body follow its last step; a failed
 * AE_CHECK shows under the step it followed. Rendered from a trace (trace.h), so `replay` and
 * `explore` print the same thing.
 */
#ifndef DAS_TIMELINE_H
#define DAS_TIMELINE_H

#include "trace.h"
#include "util.h"

void das_timeline_render(const das_trace_file_t *f, das_buf_t *out);

/* Appends `data` quoted, with non-printable bytes as \xNN, cut after `max` bytes ("..."). */
void das_timeline_quote(das_buf_t *out, const char *data, size_t len, size_t max);

#endif
