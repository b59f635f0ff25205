/*
 * avro_codec.h - the event in Avro, with libavro (avro-c): the event schema
 * (gateway/schema/sensorgate.avsc, built in as sg_avro_event_schema),
 * the Avro binary of a decoded spool record (avro_enc.c), and the way
 * back from the Avro binary of an event to the JSON envelope v1
 * (avro_read.c, for `sensorgate sink`).  The Confluent wire framing
 * around the binary is wire.h; schema ids come from registry.h.
 *
 * An evolved schema (schema_registry.schema_file) may add fields: every
 * field of the built-in schema it has keeps its exact type, and every
 * added field is a union whose first branch is "null" (written as null:
 * the gateway has nothing to put there).  Fields are matched by name.
 *
 * Ownership: each handle owns its libavro schema and values.  Threads: a
 * handle is used by one thread at a time (libavro values are not shared).
 */
#ifndef SG_SCHEMA_AVRO_CODEC_H
#define SG_SCHEMA_AVRO_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "gateway/base/buf.h"
#include "gateway/base/err.h"
#include "gateway/core/event.h"

/* The text of gateway/schema/sensorgate.avsc. */
extern const char sg_avro_event_schema[];

struct sg_avro;

/*
 * Parse the event schema json[0..len) (the built-in one, or an evolved
 * one as above) for encoding.  SG_OK; SG_EINVAL with the reason in eb (not
 * JSON, not a record, a field of the built-in schema with another type,
 * an added field that is not nullable); SG_ENOMEM.
 */
int sg_avro_open(const char *json, size_t len, struct sg_avro **out, struct sg_errbuf *eb);
void sg_avro_close(struct sg_avro *a);
/* The schema's full name ("sensorgate.Event"): RecordNameStrategy's subject. */
const char *sg_avro_fullname(const struct sg_avro *a);

/*
 * Append the Avro binary of the decoded version 2 event record r (not
 * raw) as seq to out.  Strings that are not valid UTF-8 get U+FFFD for
 * each bad byte, as in the JSON envelope.  SG_OK, SG_ENOMEM, or SG_EINVAL
 * (libavro refused a value).
 */
int sg_avro_encode(struct sg_avro *a, const struct sg_record *r, uint64_t seq, struct sg_buf *out);
/* Append the Avro binary of the Avro string key[0..len) (schema "string"). */
int sg_avro_encode_key(struct sg_avro *a, const void *key, size_t len, struct sg_buf *out);

/* The key schema, as registered under `<topic>-key`. */
#define SG_AVRO_KEY_SCHEMA "\"string\""

/* Largest block libavro may allocate: more than any record can hold
 * (spool.max_record_bytes is at most 256 MiB). */
#define SG_AVRO_MAX_BLOCK ((size_t)512 << 20)
/* Install the bound above as libavro's allocator (once per process;
 * sg_avro_open and sg_avro_reader_new call it). */
void sg_avro_guard(void);

/* --- reading back (avro_read.c) ----------------------------------------- */

struct sg_avro_reader;

/* A reader of data written with the schema writer_json[0..len) (as the
 * registry returned it for a schema id).  SG_OK, SG_EINVAL (eb), SG_ENOMEM. */
int sg_avro_reader_new(const char *writer_json, size_t len, struct sg_avro_reader **out,
		       struct sg_errbuf *eb);
void sg_avro_reader_free(struct sg_avro_reader *rd);
/*
 * Append the JSON of the Avro binary body[0..n) to out: for a
 * sensorgate.Event, the JSON envelope v1 of docs/events.md (the same text
 * kafka.format json produces for the event); for a string schema (an
 * Avro key) the text itself; for any other schema, Avro's JSON encoding
 * of the datum.  SG_OK, SG_ECORRUPT (body does not decode
 * with the schema), SG_ENOMEM.
 */
int sg_avro_reader_json(struct sg_avro_reader *rd, const void *body, size_t n, struct sg_buf *out);

#endif
