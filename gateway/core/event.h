/*
 * event.h - from a driver's reading to the record kept in the spool, and
 * from that record to what is produced to Kafka.
 *
 * The spool keeps the event, not its Kafka rendering.  A source thread
 * encodes the reading with sg_event_encode() before it appends (outside the
 * spool lock, without the seq, which the append assigns); the producer
 * decodes the payload with sg_record_decode() and renders the Kafka value
 * and headers for the record's seq with sg_record_render() when the record
 * leaves the spool.
 *
 * Spool payload version 2 (written now; all little endian):
 *   u8 version (2) | i64 event time ns |
 *   u16 len | gateway id | u16 len | source | u16 len | topic (expanded) |
 *   u32 len | key | u8 body kind, then the body:
 *     kind 0, event: u16 len | sensor | u8 value type (enum sg_vtype) |
 *       value (none: nothing; double: u64 IEEE bits; int, uint: u64;
 *       bool: u8; string, bytes: u32 len | bytes) | u8 quality |
 *       u8 flags (1: unit, 2: reason) | [u16 len | unit] | [u32 len | reason] |
 *       u16 attribute count | { u16 len | key | u32 len | value } ...
 *     kind 1, raw passthrough: u16 len | content type | u32 len | value
 *   u16 extra header count | { u16 name len | name | u32 len | bytes } ...
 *
 * Spool payload version 1 (the previous release; still read): the Kafka
 * record as produced, with the seq baked in:
 *   u8 version (1) | i64 event time ns | u16 topic len | topic |
 *   u32 key len | key | u32 value len | value |
 *   u16 header count | { u16 name len | name | u32 len | bytes } ...
 *
 * The Kafka value is the JSON envelope v1 (docs/events.md) unless the
 * reading is raw passthrough.  The headers always start with sg-id
 * (`<gateway>:<seq>`), sg-source and content-type, then sg-epoch (the
 * spool's epoch, when the caller set r->epoch), then the extra ones.
 *
 * Threads: every function here is pure (no shared state); call it from
 * any thread.
 */
#ifndef SG_EVENT_H
#define SG_EVENT_H

#include <stdint.h>

#include "drivers/driver.h"
#include "gateway/base/buf.h"
#include "gateway/base/clock.h"
#include "gateway/base/mem.h"

#define SG_CONTENT_TYPE_JSON "application/vnd.sensorgate.event.v1+json"
#define SG_CONTENT_TYPE_RAW  "application/octet-stream"

/* Versions of the spool payload (its first byte). */
enum { SG_RECORD_V1 = 1, SG_RECORD_V2 = 2 };

/* What the source knows about itself when encoding; borrowed. */
struct sg_event_ctx {
	const char *gateway;
	const char *source;
	const char *topic_tmpl;
};

/*
 * Append the spool payload (version 2) of reading rd to out.  Takes the
 * event time (now, if rd->ts_ns is 0) and expands the topic template.
 * SG_OK, SG_EINVAL (a field too long for its length prefix, a topic over
 * Kafka's 249 characters, or a value type that does not exist; nothing
 * usable in out) or SG_ENOMEM.
 */
int sg_event_encode(const struct sg_event_ctx *ec, const struct sg_reading *rd, struct sg_buf *out);
/* The JSON envelope of rd as seq with event time ts_ns, appended to out
 * (tests, tools).  The same bytes sg_record_render() produces. */
void sg_event_json(const struct sg_event_ctx *ec, const struct sg_reading *rd, uint64_t seq,
		   int64_t ts_ns, struct sg_buf *out);

/* The event of a version 2 record; strings point into the payload and
 * are NOT NUL-terminated. */
struct sg_event_view {
	const char *sensor;
	uint16_t sensor_len;
	struct sg_value value; /* STR and BYTES: value.s points into the payload */
	enum sg_quality quality;
	const char *unit; /* NULL if none */
	uint16_t unit_len;
	const char *reason; /* NULL if none */
	uint32_t reason_len;
	uint16_t nattrs;
	const uint8_t *attrs; /* encoded; iterate with sg_event_attr_next() */
	size_t attrs_len;
};

/* A decoded spool payload; pointers into the payload buffer (and, after
 * sg_record_render(), into its scratch buffer). */
struct sg_record {
	int64_t ts_ns;
	const char *topic; /* NOT NUL-terminated */
	uint16_t topic_len;
	const void *key;
	uint32_t key_len;
	/* The Kafka value and headers.  Version 1: set by decode.  Version 2:
	 * set by render (before it, value is the raw passthrough payload or
	 * empty, and the headers are only the extra ones). */
	const void *value;
	uint32_t value_len;
	uint16_t nheaders;
	const uint8_t *headers; /* encoded header block */
	size_t headers_len;

	uint8_t version; /* SG_RECORD_V1 or SG_RECORD_V2 */
	/* Version 2 only: */
	const char *gateway;
	uint16_t gateway_len;
	const char *source;
	uint16_t source_len;
	bool raw;                 /* passthrough: value is the payload as is */
	const char *content_type; /* raw only */
	uint16_t content_type_len;
	struct sg_event_view ev; /* not raw */
	uint16_t nextra;         /* the driver's extra headers */
	const uint8_t *extra;
	size_t extra_len;

	/* Set by the caller after decode, before render: the epoch of the
	 * spool the record was read from (sg_spool_epoch()), so the id stays
	 * unique when the spool is lost.  NULL: none (sg-epoch and the
	 * envelope's epoch are left out). */
	const char *epoch;
	uint16_t epoch_len;
};

/* SG_OK, or SG_ECORRUPT if the payload is not a well-formed record of a
 * version we read.  Everything is validated here, so render and the
 * iterators cannot read past the payload. */
int sg_record_decode(const void *p, size_t n, struct sg_record *r);
/*
 * Finish a decoded record for its seq: afterwards r->value/value_len is
 * the Kafka value and the headers iterate with sg-id first.  What depends
 * on the seq (the event id, the JSON envelope, the header block) is
 * composed into scratch, which render resets first and which must outlive
 * every use of r (one scratch per record in use at the same time).
 * Version 1 records are left as decoded (their id is baked in).
 * SG_OK or SG_ENOMEM.  The producer calls it after sg_record_decode() for
 * every record it sends.
 */
int sg_record_render(struct sg_record *r, uint64_t seq, struct sg_buf *scratch);
/*
 * The headers of sg_record_render() alone, with content type ct, for a
 * value the caller composes itself (the Avro encoder, gateway/schema/):
 * afterwards the headers iterate with sg-id first; r->value is left as
 * it is.  Version 2 event records only.  scratch as for render.  SG_OK
 * or SG_ENOMEM.
 */
int sg_record_render_headers(struct sg_record *r, uint64_t seq, const char *ct,
			     struct sg_buf *scratch);
/* Iterate headers: *pos starts at 0; returns 0 at the end. */
int sg_record_header_next(const struct sg_record *r, size_t *pos, const char **name,
			  size_t *name_len, const void **val, size_t *val_len);
/* Iterate the attributes of ev: *pos starts at 0; returns 0 at the end. */
int sg_event_attr_next(const struct sg_event_view *ev, size_t *pos, const char **key,
		       size_t *key_len, const char **val, size_t *val_len);

/* Between event.c and event_json.c: */
/* Append the JSON envelope v1 of the decoded version 2 event record r
 * whose seq is the decimal digits seq[0..seq_len). */
void sg_event_json_record(struct sg_buf *b, const struct sg_record *r, const char *seq,
			  size_t seq_len);
/* Write v in decimal to out (no NUL); returns the length (1..20). */
size_t sg_fmt_u64(char out[20], uint64_t v);
/* Write the finite double d to out (no NUL) as the first of "%.15g",
 * "%.16g", "%.17g" that reads back as d; returns the length. */
#define SG_FMT_DOUBLE_MAX 32
size_t sg_fmt_double(char out[SG_FMT_DOUBLE_MAX], double d);
/* Its printf-free path (event_json.c says why the text is the same):
 * zero, and 1e-4 <= |d| < 1e15 with at most 15 significant digits and 8
 * decimals.  Returns 0 for any other d (the caller uses printf). */
size_t sg_fmt_double_fixed(char out[SG_FMT_DOUBLE_MAX], double d);

#endif
