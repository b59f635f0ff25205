/*
 * producer.h - the spool -> Kafka producer (librdkafka).
 *
 * One thread reads durable records from the spool in seq order, produces
 * them with the event time as timestamp and the sensor id as key, and
 * moves the spool's ack cursor only over records Kafka holds.  The
 * delivery mode comes from kafka.delivery:
 *   at_least_once (producer_alo.c): idempotent producer; a record is
 *     released when its delivery report says PERSISTED and every earlier
 *     one is released (ring.h); retriable failures rewind to the first
 *     unreleased record;
 *   exactly_once (producer_txn.c): transactions, each with a checkpoint
 *     record; the cursor moves at the commit.
 * Records Kafka refuses for good (too large, no such topic) go to the
 * spool's rejected.log and are counted; fatal producer errors recreate
 * the producer and resume from the spool.
 *
 * Ownership: the producer borrows conf and sp, which must outlive it;
 * sg_producer_free() destroys its librdkafka client.  Threads:
 * new/start/stop/free from one controlling thread (in that order; stop
 * and free may be called without start); check_props from any thread.
 */
#ifndef SG_PRODUCER_H
#define SG_PRODUCER_H

#include <stdint.h>

#include "gateway/config/conf.h"
#include "gateway/base/err.h"
#include "gateway/spool/spool.h"

struct sg_producer;

/* bootstrap overrides conf->kafka.bootstrap (the embedded cluster).
 * SG_OK, SG_ECONFIG (a refused property, in eb), SG_EKAFKA, SG_EIO. */
int sg_producer_new(const struct sg_conf *conf, const char *bootstrap, struct sg_spool *sp,
		    struct sg_producer **out, struct sg_errbuf *eb);
int sg_producer_start(struct sg_producer *p);
/* Deliver what is in flight and in the spool for up to timeout_ms, then
 * stop the thread.  Whatever is not delivered stays in the spool. */
void sg_producer_stop(struct sg_producer *p, int64_t timeout_ms);
void sg_producer_free(struct sg_producer *p);

/* The monotonic time by which the producer thread promises to be back
 * from its current wait or call (the liveness probe's heartbeat: a
 * thread past it is stalled).  Any thread. */
int64_t sg_producer_due_ns(const struct sg_producer *p);

/* What keeps records from Kafka, for /ready, besides the counters. */
struct sg_producer_health {
	int brokers_up;          /* from librdkafka's statistics; -1: none yet */
	char conn[256];          /* why no broker is connected ("" if none known) */
	unsigned topics_refused; /* topics whose records are held (hold.h) */
	uint64_t held;           /* records held for them */
	char refused[256];       /* "topic T: ERR_NAME" of the first ones */
};
/* Fill h.  Any thread, while the producer exists. */
void sg_producer_health(struct sg_producer *p, struct sg_producer_health *h);

/* Check kafka.properties as the producer and the gateway's consumers
 * would apply them: SG_OK, or SG_ECONFIG with one line per refused key
 * in eb. */
int sg_producer_check_props(const struct sg_conf *conf, struct sg_errbuf *eb);

#endif
