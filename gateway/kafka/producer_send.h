/*
 * producer_send.h - what both delivery modes do with one spool record:
 * decode and render it, produce it with its headers, classify a
 * librdkafka error as permanent or not, keep a refused record in the
 * spool's rejected.log, serve the producer's error callback, and build
 * the producer's client options.
 *
 * Threads: the producer thread (the callers' delivery reports and error
 * callbacks run there too, inside rd_kafka_poll()), except
 * sg_send_opts(), which any thread may call.
 */
#ifndef SG_PRODUCER_SEND_H
#define SG_PRODUCER_SEND_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>

#include "client.h"
#include "gateway/core/event.h"
#include "producer_mode.h"

/* The client options of the gateway's producer for conf's delivery mode
 * (client_id is borrowed; it is also the transactional.id). */
struct sg_kafka_opts sg_send_opts(const struct sg_conf *conf, const char *bootstrap,
				  const char *client_id);

/* Kafka refuses this record for good (too large, invalid): sending it
 * again cannot help.  False for what sg_send_holds() says. */
bool sg_send_permanent(rd_kafka_resp_err_t e);
/* Kafka refuses the record's topic, not the record, until an operator
 * acts: an ACL denies it (TOPIC_AUTHORIZATION_FAILED) or the topic does
 * not exist where topics are not created on first use (UNKNOWN_TOPIC_OR_PART
 * from the broker, _UNKNOWN_TOPIC from librdkafka).  Its records are held
 * (hold.h), or with transactions waited for, never rejected. */
bool sg_send_holds(rd_kafka_resp_err_t e);

/* Count a refused record, log it (rate-limited) and append it to the
 * spool's rejected.log with the reason "topic T: why". */
void sg_send_reject(struct sg_prod_ctx *c, uint64_t seq, const void *payload, size_t len,
		    const char *topic, const char *why);
/* The same with why = "ERR_NAME: text" of a librdkafka error. */
void sg_send_reject_err(struct sg_prod_ctx *c, uint64_t seq, const void *payload, size_t len,
			const char *topic, rd_kafka_resp_err_t e);

/*
 * Decode c->rec (seq c->rec_seq) into r and render it for its seq, in
 * JSON or, with c->enc, in Avro (r points into c->rec, c->scratch and the
 * encoder until the next call).  SG_OK; SG_ECORRUPT: undecodable (or not
 * encodable in Avro), already kept in rejected.log, the record is
 * finished; SG_ENOMEM, or SG_EAGAIN (no schema id from the registry
 * now): keep the record and try again later.
 */
int sg_send_prepare(struct sg_prod_ctx *c, struct sg_record *r);

/* Produce r (copied) to its topic with its key, event time and headers,
 * through the topic's handle in t (NULL: by name).  Returns librdkafka's
 * error (RD_KAFKA_RESP_ERR__QUEUE_FULL: later). */
rd_kafka_resp_err_t sg_send_produce(rd_kafka_t *rk, struct sg_send_topics *t,
				    const struct sg_record *r, void *opaque);
/* Drop every topic handle of t (before rd_kafka_destroy of their rk). */
void sg_send_topics_clear(struct sg_send_topics *t);

/* A record was handed to librdkafka: count it, and raise the injected
 * fatal error of SENSORGATE_FAULT_FATAL_AFTER when its turn comes. */
void sg_send_count(struct sg_prod_ctx *c);

/* The error callback's work: count (errors{class="kafka"} and
 * kafka_errors by name), log once per change, keep the reason for /ready
 * (sg_prod_conn_error), and on a fatal error set c->fatal (the mode then
 * recreates its producer). */
void sg_send_error(struct sg_prod_ctx *c, rd_kafka_t *rk, int err, const char *reason);

/* Purge what is queued, serve the last reports, destroy c->rk. */
void sg_send_destroy(struct sg_prod_ctx *c);

#endif
