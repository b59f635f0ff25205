/*
 * producer_mode.h - the contract between producer.c (the public API,
 * the thread, the stop) and a delivery mode: producer_alo.c
 * (at_least_once: idempotent producer over the in-flight ring) and
 * producer_txn.c (exactly_once: transactions with a checkpoint).
 *
 * struct sg_prod_ctx is what every mode needs and nothing that belongs
 * to one mode: the spool, the librdkafka handle, the stop request, the
 * record being sent and the counters.  producer.c owns it; a mode keeps
 * its own state behind the void * it returns from open().
 *
 * Threads: open() and close() run on the caller of sg_producer_new() and
 * sg_producer_free(); run() is the producer thread; settle() runs on the
 * caller of sg_producer_stop() after that thread has ended.
 */
#ifndef SG_PRODUCER_MODE_H
#define SG_PRODUCER_MODE_H

#include <librdkafka/rdkafka.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "gateway/base/buf.h"
#include "gateway/base/err.h"
#include "gateway/config/conf.h"
#include "gateway/core/metrics.h"
#include "gateway/schema/encoder.h"
#include "gateway/spool/spool.h"

struct sg_prod_metrics {
	struct sg_counter *produced, *delivered, *retry, *rejected, *restarts, *inflight,
	    *oldest_age, *kafka_errors;
};

struct sg_prod_ctx {
	const struct sg_conf *conf; /* borrowed, outlives the producer */
	struct sg_spool *sp;        /* borrowed */
	char *bootstrap;            /* owned */
	char client_id[160];        /* sensorgate-<gateway.id>; also the transactional.id */
	rd_kafka_t *rk;             /* the mode's producer handle, or NULL */
	bool fatal;                 /* a fatal producer error was raised: recreate */
	_Atomic bool stop;
	_Atomic int64_t stop_deadline; /* monotonic ns */

	struct sg_buf rec;         /* the current spool record ... */
	struct sg_buf scratch;     /* ... and what sg_record_render() composed for it */
	struct sg_schema_enc *enc; /* kafka.format avro: the value encoder; NULL: JSON */
	uint64_t rec_seq;
	bool have_rec; /* read but not produced yet (queue full) */

	uint64_t fault_fatal_after; /* test hook: SENSORGATE_FAULT_FATAL_AFTER */
	uint64_t nproduced;
	struct sg_prod_metrics m;
};

struct sg_prod_mode {
	const char *name;
	/* Create the mode's state and its client.  SG_OK, SG_ECONFIG, SG_EKAFKA. */
	int (*open)(struct sg_prod_ctx *c, void **st, struct sg_errbuf *eb);
	/* The producer thread: returns once stopped (drained or deadline). */
	void (*run)(struct sg_prod_ctx *c, void *st);
	/* After run() returned: serve the last delivery reports. */
	void (*settle)(struct sg_prod_ctx *c, void *st);
	/* Destroy the client and the state (st may be NULL). */
	void (*close)(struct sg_prod_ctx *c, void *st);
};

extern const struct sg_prod_mode sg_prod_at_least_once; /* producer_alo.c */
extern const struct sg_prod_mode sg_prod_exactly_once;  /* producer_txn.c */

static inline bool sg_prod_stopping(struct sg_prod_ctx *c)
{
	return atomic_load(&c->stop);
}

#endif
