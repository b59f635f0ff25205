/*
 * decoder.h - Avro records back to text for `sensorgate sink`: a key or
 * value in the Confluent wire format is decoded with the schema its id
 * names, fetched from the registry once per id (registry.h) and kept; a
 * sensorgate event becomes the JSON envelope v1 (the same text as with
 * kafka.format json), an Avro string key its text, anything else Avro's
 * JSON.  Bytes that are not in the wire format are left as they are.
 *
 * The decoder lives in sensorgate-avro.so, like the encoder (encoder.h):
 * sg_schema_dec_new() loads it, or says which file is missing.
 *
 * Ownership: borrows rc, which must outlive the decoder.  Threads: the
 * sink's thread (new and free too).
 */
#ifndef SG_SCHEMA_DECODER_H
#define SG_SCHEMA_DECODER_H

#include <stddef.h>

#include "gateway/base/buf.h"
#include "gateway/base/err.h"
#include "gateway/config/conf.h"

struct sg_schema_dec;

/* SG_OK, or SG_ENOMEM / SG_ECONFIG (also: the module cannot be loaded) with eb. */
int sg_schema_dec_new(const struct sg_registry_conf *rc, struct sg_schema_dec **out,
		      struct sg_errbuf *eb);
void sg_schema_dec_free(struct sg_schema_dec *d);

/*
 * p[0..n) as text, appended to out (reset first).  SG_OK; SG_ENOTFOUND:
 * not in the wire format (use the bytes as they are); otherwise the
 * record cannot be decoded now, with the reason in eb: SG_EAGAIN (the
 * registry stayed unreachable over a few tries), SG_ECONFIG (it refused:
 * credentials, no such id), SG_ECORRUPT (the body does not decode with
 * its schema).
 */
int sg_schema_dec_text(struct sg_schema_dec *d, const void *p, size_t n, struct sg_buf *out,
		       struct sg_errbuf *eb);

#endif
