/*
 * decoder.c - the sink's Avro decoder (decoder.h), inside
 * sensorgate-avro.so (avro_module.h): schema id -> reader, cached for the
 * life of the sink.
 */
#include "decoder.h"

#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "avro_codec.h"
#include "avro_module.h"
#include "gateway/base/mem.h"
#include "registry.h"
#include "wire.h"

/* Tries when the registry does not answer, a second apart. */
#define DEC_TRIES 3

struct dec_schema {
	struct dec_schema *next;
	uint32_t id;
	struct sg_avro_reader *rd;
};

struct sg_avro_dec {
	struct sg_registry *reg;
	struct dec_schema *schemas;
};

int sg_avro_dec_new(const struct sg_registry_conf *rc, struct sg_avro_dec **out,
		    struct sg_errbuf *eb)
{
	struct sg_avro_dec *d = sg_xcalloc(1, sizeof(*d));
	int rc2 = sg_registry_new(rc, &d->reg, eb);

	if (rc2 != SG_OK) {
		free(d);
		return rc2;
	}
	*out = d;
	return SG_OK;
}

void sg_avro_dec_free(struct sg_avro_dec *d)
{
	if (!d)
		return;
	for (struct dec_schema *s = d->schemas, *next; s; s = next) {
		next = s->next;
		sg_avro_reader_free(s->rd);
		free(s);
	}
	sg_registry_free(d->reg);
	free(d);
}

/* The reader of schema id, fetched when new. */
static int dec_reader(struct sg_avro_dec *d, uint32_t id, struct sg_avro_reader **rd,
		      struct sg_errbuf *eb)
{
	enum sg_reg_reason why;
	struct dec_schema *s;
	char *text = NULL;
	int rc = SG_EAGAIN;

	for (s = d->schemas; s; s = s->next)
		if (s->id == id) {
			*rd = s->rd;
			return SG_OK;
		}
	for (int i = 0; i < DEC_TRIES && rc == SG_EAGAIN; i++) {
		if (i)
			poll(NULL, 0, 1000);
		rc = sg_registry_schema(d->reg, id, &text, &why, eb);
	}
	if (rc != SG_OK)
		return rc == SG_ENOTFOUND ? SG_ECONFIG : rc;
	s = sg_xcalloc(1, sizeof(*s));
	rc = sg_avro_reader_new(text, strlen(text), &s->rd, eb);
	free(text);
	if (rc != SG_OK) {
		free(s);
		return rc == SG_EINVAL ? SG_ECORRUPT : rc;
	}
	s->id = id;
	s->next = d->schemas;
	d->schemas = s;
	*rd = s->rd;
	return SG_OK;
}

int sg_avro_dec_text(struct sg_avro_dec *d, const void *p, size_t n, struct sg_buf *out,
		     struct sg_errbuf *eb)
{
	struct sg_avro_reader *rd;
	const uint8_t *body;
	size_t blen;
	uint32_t id;
	int rc;

	sg_buf_reset(out);
	if (sg_wire_parse(p, n, &id, &body, &blen) != SG_OK)
		return SG_ENOTFOUND;
	if ((rc = dec_reader(d, id, &rd, eb)) != SG_OK)
		return rc;
	rc = sg_avro_reader_json(rd, body, blen, out);
	if (rc == SG_ECORRUPT)
		sg_errf(eb, rc, "the record does not decode with schema id %u", (unsigned)id);
	return rc;
}
