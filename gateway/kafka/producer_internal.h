/*
 * producer_internal.h - the producer's state and the helpers shared by
 * producer.c (at_least_once: idempotent, in-flight ring) and
 * producer_txn.c (exactly_once: transactions with a checkpoint record).
 */
#ifndef SG_PRODUCER_INTERNAL_H
#define SG_PRODUCER_INTERNAL_H

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "gateway/core/event.h"
#include "gateway/core/metrics.h"
#include "producer.h"

enum slot_state { SLOT_FREE, SLOT_SENT, SLOT_DONE, SLOT_RETRY };

struct slot {
	uint64_t seq;
	int64_t ts_ns;
	uint8_t state;
};

struct sg_producer {
	const struct sg_conf *conf;
	char *bootstrap;
	struct sg_spool *sp;
	rd_kafka_t *rk;
	int qpipe[2]; /* librdkafka main queue -> readable */
	pthread_t thr;
	bool running;
	_Atomic bool stop;
	_Atomic int64_t stop_deadline; /* monotonic ns */

	struct slot *ring;
	size_t cap, head, count; /* count = slots in use from head */
	uint64_t released;       /* highest seq released (acked) */
	bool need_rewind, fatal;
	uint64_t *skip; /* seqs already delivered, skipped after a rewind */
	size_t nskip, skip_pos;

	struct sg_buf rec;     /* the current record from the spool */
	struct sg_buf scratch; /* its rendered value and id (sg_record_render) */
	uint64_t rec_seq;
	bool have_rec; /* rec read but not yet produced (queue full) */

	/* exactly_once mode (producer_txn.c) */
	bool txn;
	uint64_t committed; /* highest seq committed in a transaction */
	uint64_t *rejected; /* seqs refused for good: skipped on replay */
	size_t nrejected;
	int64_t *txn_ts; /* event times of the open transaction */

	uint64_t fault_fatal_after; /* test hook: SENSORGATE_FAULT_FATAL_AFTER */
	uint64_t nproduced;

	struct sg_counter *m_produced, *m_delivered, *m_retry, *m_rejected, *m_restarts,
	    *m_inflight, *m_oldest_age, *m_kafka_errors;
};

bool prod_err_permanent(rd_kafka_resp_err_t e);
void prod_reject(struct sg_producer *p, uint64_t seq, const void *payload, size_t len,
		 const char *topic, const char *why);
int prod_create(struct sg_producer *p, struct sg_errbuf *eb);
void prod_destroy(struct sg_producer *p);
/* Produce the decoded record r with opaque; returns the librdkafka error. */
rd_kafka_resp_err_t prod_produce(struct sg_producer *p, const struct sg_record *r, void *opaque);
void *prod_txn_main(void *arg);
/* Delivery report in exactly_once mode. */
void prod_txn_dr(struct sg_producer *p, const rd_kafka_message_t *m);

#endif
