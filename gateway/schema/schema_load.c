/*
 * schema_load.c - the core's side of kafka.format avro: the API of
 * encoder.h and decoder.h as thin wrappers that load sensorgate-avro.so
 * (avro_module.h) when a configuration first needs it and forward to its
 * table.  A gateway that produces JSON never loads it, so it never maps
 * libavro, libcurl or jansson.  Each handle keeps the table it came from,
 * so rendering costs one indirect call and no lookup.
 */
#include "decoder.h"
#include "encoder.h"

#include <stdlib.h>

#include "avro_module.h"
#include "gateway/base/mem.h"

struct sg_schema_enc {
	const struct sg_avro_module *m;
	struct sg_avro_enc *impl;
};

struct sg_schema_dec {
	const struct sg_avro_module *m;
	struct sg_avro_dec *impl;
};

/* Linked in by programs that carry the module's objects (the unit
 * tests); in sensorgate itself it is not there and the module is loaded. */
extern const struct sg_avro_module sg_avro_module __attribute__((weak));

static const struct sg_avro_module *schema_module(const char *who, struct sg_errbuf *eb)
{
	if (&sg_avro_module)
		return &sg_avro_module;
	return sg_module_table(SG_AVRO_MODULE_FILE, SG_AVRO_MODULE_TABLE, SG_AVRO_MODULE_ABI,
			       sizeof(struct sg_avro_module), who, eb);
}

#define WHO_ENC "kafka.format: avro"
#define WHO_DEC "Avro decoding (schema_registry.url)"

int sg_schema_enc_check(const struct sg_conf *conf, struct sg_errbuf *eb)
{
	if (conf->kafka.format != SG_FORMAT_AVRO)
		return SG_OK;
	return schema_module(WHO_ENC, eb) ? SG_OK : SG_ECONFIG;
}

int sg_schema_enc_new(const struct sg_conf *conf, struct sg_schema_enc **out, struct sg_errbuf *eb)
{
	const struct sg_avro_module *m;
	struct sg_avro_enc *impl;
	int rc;

	*out = NULL;
	if (conf->kafka.format != SG_FORMAT_AVRO)
		return SG_OK;
	if (!(m = schema_module(WHO_ENC, eb)))
		return SG_ECONFIG;
	if ((rc = m->enc_new(conf, &impl, eb)) != SG_OK || !impl)
		return rc;
	*out = sg_xcalloc(1, sizeof(**out));
	(*out)->m = m;
	(*out)->impl = impl;
	return SG_OK;
}

void sg_schema_enc_free(struct sg_schema_enc *e)
{
	if (!e)
		return;
	e->m->enc_free(e->impl);
	free(e);
}

int sg_schema_enc_render(struct sg_schema_enc *e, struct sg_record *r, uint64_t seq,
			 struct sg_buf *scratch)
{
	return e->m->enc_render(e->impl, r, seq, scratch);
}

int sg_schema_dec_new(const struct sg_registry_conf *rc, struct sg_schema_dec **out,
		      struct sg_errbuf *eb)
{
	const struct sg_avro_module *m = schema_module(WHO_DEC, eb);
	struct sg_avro_dec *impl;
	int err;

	*out = NULL;
	if (!m)
		return SG_ECONFIG;
	if ((err = m->dec_new(rc, &impl, eb)) != SG_OK)
		return err;
	*out = sg_xcalloc(1, sizeof(**out));
	(*out)->m = m;
	(*out)->impl = impl;
	return SG_OK;
}

void sg_schema_dec_free(struct sg_schema_dec *d)
{
	if (!d)
		return;
	d->m->dec_free(d->impl);
	free(d);
}

int sg_schema_dec_text(struct sg_schema_dec *d, const void *p, size_t n, struct sg_buf *out,
		       struct sg_errbuf *eb)
{
	return d->m->dec_text(d->impl, p, n, out, eb);
}
