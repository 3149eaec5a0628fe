/* regex.h - the one PCRE2 helper the router and static files share: a match block per
 * thread, reused across requests and freed when the thread ends.
 */
#ifndef DAS_REGEX_H
#define DAS_REGEX_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

/* Capture groups a pattern may use (the whole match counts as one). */
#define DAS_REGEX_MAX_GROUPS 100

/* This thread's match block, room for DAS_REGEX_MAX_GROUPS. Never NULL. Valid until the
 * thread ends; do not keep results across another match on the same thread. */
pcre2_match_data *das_regex_thread_match_data(void);

#endif
