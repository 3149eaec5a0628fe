/* replay.h - `devappserver replay`: runs a trace again and shows its timeline (replay.c). */
#ifndef DAS_REPLAY_H
#define DAS_REPLAY_H

#include "inprocess.h"

/* argv[0] is "replay"; `exe` is the devappserver binary; `runtime` runs --backend inprocess.
 * Returns the exit status. */
int das_replay_main(int argc, char **argv, const char *exe,
                    const das_inprocess_runtime_t *runtime);

#endif
