/* explore.h - `devappserver explore`: a scenario under many schedules (explore.c). */
#ifndef DAS_EXPLORE_H
#define DAS_EXPLORE_H

/* argv[0] is "explore"; `exe` is the devappserver binary. Returns the exit status. */
int das_explore_main(int argc, char **argv, const char *exe);

#endif
