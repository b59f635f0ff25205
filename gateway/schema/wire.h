/*
 * wire.h - the Confluent wire format of a Kafka key or value: magic byte
 * 0, the schema id as 4 bytes big endian, then the Avro binary.  Every
 * client of a Confluent-compatible registry (Java, librdkafka's serdes,
 * confluent-kafka-python, Apicurio's ccompat mode) reads this framing.
 *
 * Threads: pure functions, any thread.
 */
#ifndef SG_SCHEMA_WIRE_H
#define SG_SCHEMA_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "gateway/base/buf.h"

#define SG_WIRE_MAGIC  0
#define SG_WIRE_HEADER 5 /* magic + id */

/* Append the 5-byte header for schema id to out. */
void sg_wire_header(struct sg_buf *out, uint32_t id);
/* Split p[0..n): SG_OK with *id and the Avro body, or SG_EINVAL when p
 * is not in the wire format (too short, or another magic byte). */
int sg_wire_parse(const void *p, size_t n, uint32_t *id, const uint8_t **body, size_t *body_len);

#endif
