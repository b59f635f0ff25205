/*
 * mem.h - allocation that aborts on exhaustion (start-up and config time)
 * and the array-length macro.
 */
#ifndef SG_MEM_H
#define SG_MEM_H

#include <stddef.h>

#define SG_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

char *sg_strdup(const char *s); /* aborts on OOM: for config-time use */
void *sg_xcalloc(size_t n, size_t sz);

#endif
