/*
 * event.h - from a driver's reading to the record kept in the spool and
 * produced to Kafka.
 *
 * The spool payload of one event (all little endian):
 *   u8 version (1) | i64 event time ns | u16 topic len | topic |
 *   u32 key len | key | u32 value len | value |
 *   u16 header count | { u16 name len | name | u32 len | bytes } ...
 * The Kafka value is the JSON envelope v1 (docs/events.md) unless the
 * reading is raw passthrough.  The headers always start with sg-id
 * (`<gateway>:<seq>`), sg-source and content-type.
 */
#ifndef SG_EVENT_H
#define SG_EVENT_H

#include <stdint.h>

#include "drivers/driver.h"
#include "gateway/base/buf.h"
#include "gateway/base/clock.h"
#include "gateway/base/mem.h"

#define SG_CONTENT_TYPE_JSON "application/vnd.sensorgate.event.v1+json"

/* What the source knows about itself when encoding. */
struct sg_event_ctx {
	const char *gateway;
	const char *source;
	const char *topic_tmpl;
};

/* Append the spool payload for reading rd with seq to out. */
int sg_event_encode(const struct sg_event_ctx *ec, const struct sg_reading *rd, uint64_t seq,
		    struct sg_buf *out);
/* The JSON envelope alone (tests, dump). */
void sg_event_json(const struct sg_event_ctx *ec, const struct sg_reading *rd, uint64_t seq,
		   int64_t ts_ns, struct sg_buf *out);

/* A decoded spool payload; pointers into the payload buffer. */
struct sg_record {
	int64_t ts_ns;
	const char *topic; /* NOT NUL-terminated */
	uint16_t topic_len;
	const void *key;
	uint32_t key_len;
	const void *value;
	uint32_t value_len;
	uint16_t nheaders;
	const uint8_t *headers; /* encoded header block */
	size_t headers_len;
};

/* SG_OK, or SG_ECORRUPT if the payload is not a well-formed record. */
int sg_record_decode(const void *p, size_t n, struct sg_record *r);
/*
 * Finish a decoded record for its seq: afterwards r->value/value_len is
 * the Kafka value and the headers iterate with sg-id first.  What depends
 * on the seq (the event id) is composed into scratch, which must outlive
 * every use of r.  SG_OK or SG_ENOMEM.  The producer calls it after
 * sg_record_decode() for every record it sends.
 */
int sg_record_render(struct sg_record *r, uint64_t seq, struct sg_buf *scratch);
/* Iterate headers: *pos starts at 0; returns 0 at the end. */
int sg_record_header_next(const struct sg_record *r, size_t *pos, const char **name,
			  size_t *name_len, const void **val, size_t *val_len);

#endif
