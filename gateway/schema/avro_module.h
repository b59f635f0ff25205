/*
 * avro_module.h - the table of sensorgate-avro.so: the Avro encoder of
 * the producer (encoder.c), the Avro decoder of the sink (decoder.c) and
 * all they use (avro_enc.c, avro_read.c, registry.c, wire.c,
 * event_schema.c, with libavro, libcurl and jansson) are one loadable
 * module (gateway/base/module.h).  The core calls the API of encoder.h
 * and decoder.h (schema_load.c), which loads the module on the first
 * sg_schema_enc_new() or sg_schema_dec_new() and forwards through this
 * table; nothing else of the module is reachable from the core.
 *
 * A program that links the module's objects itself (the unit tests)
 * uses them directly: schema_load.c then finds sg_avro_module linked in
 * and loads nothing.
 *
 * Ownership and threads: as in encoder.h and decoder.h.
 */
#ifndef SG_SCHEMA_AVRO_MODULE_H
#define SG_SCHEMA_AVRO_MODULE_H

#include <stddef.h>
#include <stdint.h>

#include "gateway/base/buf.h"
#include "gateway/base/err.h"
#include "gateway/base/module.h"
#include "gateway/config/conf.h"
#include "gateway/core/event.h"

#define SG_AVRO_MODULE_FILE  "sensorgate-avro.so"
#define SG_AVRO_MODULE_TABLE "sg_avro_module"
/* Grows with every change to the table or to what it passes. */
#define SG_AVRO_MODULE_ABI 1

struct sg_avro_enc; /* encoder.c */
struct sg_avro_dec; /* decoder.c */

struct sg_avro_module {
	struct sg_module_head head;
	/* encoder.h's sg_schema_enc_new() with kafka.format avro, _free, _render */
	int (*enc_new)(const struct sg_conf *conf, struct sg_avro_enc **out, struct sg_errbuf *eb);
	void (*enc_free)(struct sg_avro_enc *e);
	int (*enc_render)(struct sg_avro_enc *e, struct sg_record *r, uint64_t seq,
			  struct sg_buf *scratch);
	/* decoder.h's sg_schema_dec_new(), _free, _text */
	int (*dec_new)(const struct sg_registry_conf *rc, struct sg_avro_dec **out,
		       struct sg_errbuf *eb);
	void (*dec_free)(struct sg_avro_dec *d);
	int (*dec_text)(struct sg_avro_dec *d, const void *p, size_t n, struct sg_buf *out,
			struct sg_errbuf *eb);
};

/* The table, defined in the module (avro_table.c). */
extern const struct sg_avro_module sg_avro_module;

/* The implementations the table points to (inside the module only). */
int sg_avro_enc_new(const struct sg_conf *conf, struct sg_avro_enc **out, struct sg_errbuf *eb);
void sg_avro_enc_free(struct sg_avro_enc *e);
int sg_avro_enc_render(struct sg_avro_enc *e, struct sg_record *r, uint64_t seq,
		       struct sg_buf *scratch);
int sg_avro_dec_new(const struct sg_registry_conf *rc, struct sg_avro_dec **out,
		    struct sg_errbuf *eb);
void sg_avro_dec_free(struct sg_avro_dec *d);
int sg_avro_dec_text(struct sg_avro_dec *d, const void *p, size_t n, struct sg_buf *out,
		     struct sg_errbuf *eb);

#endif
