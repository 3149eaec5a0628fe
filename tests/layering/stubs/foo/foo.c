/* foo.c - a stub that includes a server header: a violation. */
#include "dispatch.h"
