/*
 * wire.c - the Confluent wire format's 5-byte header (wire.h).
 */
#include "wire.h"

#include "gateway/base/err.h"

void sg_wire_header(struct sg_buf *out, uint32_t id)
{
	uint8_t h[SG_WIRE_HEADER] = {SG_WIRE_MAGIC, (uint8_t)(id >> 24), (uint8_t)(id >> 16),
				     (uint8_t)(id >> 8), (uint8_t)id};

	sg_buf_add(out, h, sizeof(h));
}

int sg_wire_parse(const void *p, size_t n, uint32_t *id, const uint8_t **body, size_t *body_len)
{
	const uint8_t *b = p;

	if (!p || n < SG_WIRE_HEADER || b[0] != SG_WIRE_MAGIC)
		return SG_EINVAL;
	*id = (uint32_t)b[1] << 24 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 8 | b[4];
	*body = b + SG_WIRE_HEADER;
	*body_len = n - SG_WIRE_HEADER;
	return SG_OK;
}
