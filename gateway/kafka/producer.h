/*
 * producer.h - the spool -> Kafka producer (librdkafka, idempotent).
 *
 * One thread reads durable records from the spool in seq order, produces
 * them with the event time as timestamp and the sensor id as key, and
 * releases a record (advances the spool's ack cursor) only when its
 * delivery report says PERSISTED and every earlier record is released.
 * Retriable failures rewind to the first unreleased record; records Kafka
 * refuses for good (too large, no such topic) go to the spool's
 * rejected.log and are counted; fatal producer errors recreate the
 * producer and resume from the spool.
 */
#ifndef SG_PRODUCER_H
#define SG_PRODUCER_H

#include <stdint.h>

#include "gateway/config/conf.h"
#include "gateway/base/err.h"
#include "gateway/spool/spool.h"

struct sg_producer;

/* bootstrap overrides conf->kafka.bootstrap (the embedded cluster). */
int sg_producer_new(const struct sg_conf *conf, const char *bootstrap, struct sg_spool *sp,
		    struct sg_producer **out, struct sg_errbuf *eb);
int sg_producer_start(struct sg_producer *p);
/* Deliver what is in flight and in the spool for up to timeout_ms, then
 * stop the thread.  Whatever is not delivered stays in the spool. */
void sg_producer_stop(struct sg_producer *p, int64_t timeout_ms);
void sg_producer_free(struct sg_producer *p);

/* Check a librdkafka property set: SG_OK or SG_ECONFIG with eb set. */
int sg_producer_check_props(const struct sg_conf *conf, struct sg_errbuf *eb);

#endif
