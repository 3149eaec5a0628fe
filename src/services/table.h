/* table.h - the table of services (table.c), read by the registry only. */
#ifndef DAS_TABLE_H
#define DAS_TABLE_H

#include "service.h"

/* Every service, NULL-terminated, in a fixed order (the order hooks run in). */
extern const das_service_def_t *const das_service_table[];

#endif
