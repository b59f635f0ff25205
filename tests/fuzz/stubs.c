/*
 * stubs.c - the two core functions the MQTT mapper names but the fuzz
 * targets never reach (they map with src NULL and their own emit).
 * Linked into every fuzz target in place of gateway/core/sources.c.
 */
#include <stdlib.h>

#include "drivers/driver.h"

int sg_source_emit_batch(struct sg_source *src, const struct sg_reading *rd, size_t n)
{
	(void)src, (void)rd, (void)n;
	abort();
}

void sg_source_error(struct sg_source *src, const char *cls)
{
	(void)src, (void)cls;
	abort();
}
