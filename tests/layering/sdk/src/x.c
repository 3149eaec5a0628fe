/* x.c - SDK code that includes a server header: a violation. */
#include "dispatch.h"
