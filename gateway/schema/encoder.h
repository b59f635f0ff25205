/*
 * encoder.h - kafka.format avro in the producer: when a record leaves the
 * spool, its Kafka value becomes the Confluent wire format (byte 0, the
 * schema id, the Avro binary of the event), and with
 * schema_registry.key_format avro its key too; the headers are those of
 * the JSON format with content-type SG_CONTENT_TYPE_AVRO.
 *
 * Schema ids come from the registry: once per subject (TopicNameStrategy
 * `<topic>-value` / `<topic>-key`, or RecordNameStrategy, the schema's
 * full name), registered or, with auto_register off, looked up, then
 * cached for the life of the encoder.  The subjects the configuration
 * names (topic templates without {sensor}) are asked for at creation;
 * others when their first record comes.
 *
 * The registry is part of delivery: when it cannot give an id
 * (unreachable, or it refuses the credentials or the schema), render
 * says SG_EAGAIN and the record stays where it is, in the spool; the
 * producer offers it again, and the registry is asked again after a
 * backoff (0.5 s doubling to schema_registry.retry_max).  Each failure is
 * logged with what to do and counted in
 * schema_registry_errors{reason=...}, and schema_registry_up is 0 until
 * an id comes (/ready fails meanwhile).  Nothing is dropped for the
 * registry's sake.
 *
 * The encoder lives in the loadable module sensorgate-avro.so
 * (avro_module.h, gateway/base/module.h): sg_schema_enc_new() loads it
 * on first use, and a missing or foreign module is an SG_ECONFIG that
 * names the file ("kafka.format: avro needs PATH: why").
 *
 * Ownership: the encoder borrows conf (it outlives the producer).
 * Threads: new, free and check on the main thread; render on the
 * producer thread.
 */
#ifndef SG_SCHEMA_ENCODER_H
#define SG_SCHEMA_ENCODER_H

#include <stdint.h>

#include "gateway/base/buf.h"
#include "gateway/base/err.h"
#include "gateway/config/conf.h"
#include "gateway/core/event.h"

#define SG_CONTENT_TYPE_AVRO "application/vnd.sensorgate.event+avro"

struct sg_schema_enc;

/* With kafka.format avro: read the schema (built in, or schema_file),
 * prepare the registry client and ask for the configuration's subjects;
 * SG_OK (also when the registry is not reachable yet), or SG_ECONFIG /
 * SG_EIO / SG_ENOMEM with eb.  With kafka.format json: SG_OK and *out
 * NULL. */
int sg_schema_enc_new(const struct sg_conf *conf, struct sg_schema_enc **out, struct sg_errbuf *eb);
/* What `check` asks: with kafka.format avro, can the module be loaded?
 * SG_OK (also with kafka.format json), or SG_ECONFIG with eb. */
int sg_schema_enc_check(const struct sg_conf *conf, struct sg_errbuf *eb);
void sg_schema_enc_free(struct sg_schema_enc *e);

/*
 * Render the decoded record r for seq, as sg_record_render() does for
 * JSON: afterwards r's value, key and headers are what to produce; they
 * point into scratch and into the encoder, valid until the next call.
 * Raw passthrough and version 1 records are rendered as before.  SG_OK;
 * SG_EAGAIN: no schema id now, keep the record and offer it again;
 * SG_ECORRUPT: libavro refused a value of the record (no valid record
 * does that): it can never be encoded; SG_ENOMEM.
 */
int sg_schema_enc_render(struct sg_schema_enc *e, struct sg_record *r, uint64_t seq,
			 struct sg_buf *scratch);

#endif
