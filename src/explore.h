/* explore.h - `devappserver explore`: a scenario under many schedules (explore.c). */
#ifndef DAS_EXPLORE_H
#define DAS_EXPLORE_H

#include "inprocess.h"

/* argv[0] is "explore"; `exe` is the devappserver binary; `runtime` runs the in-process backend
 * (NULL: instances only). Returns the exit status. */
int das_explore_main(int argc, char **argv, const char *exe,
                     const das_inprocess_runtime_t *runtime);

#endif
