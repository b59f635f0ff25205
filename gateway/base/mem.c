/*
 * mem.c - allocation that aborts on exhaustion, for start-up and config-time use.
 */
#include "mem.h"

#include <stdlib.h>
#include <string.h>

char *sg_strdup(const char *s)
{
	char *d = strdup(s ? s : "");
	if (!d)
		abort();
	return d;
}

void *sg_xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz ? sz : 1);
	if (!p)
		abort();
	return p;
}
