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
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "client.h"
#include "gateway/base/buf.h"
#include "gateway/base/clock.h"
#include "gateway/base/err.h"
#include "gateway/config/conf.h"
#include "gateway/core/metrics.h"
#include "gateway/schema/encoder.h"
#include "gateway/spool/spool.h"

struct sg_hold;

struct sg_prod_metrics {
	struct sg_counter *produced, *delivered, *retry, *rejected, *restarts, *inflight,
	    *inflight_bytes, *oldest_age, *kafka_errors;
};

/* producer_watch.c's metrics. */
struct sg_prod_watch {
	struct sg_counter *txn_committed, *txn_aborted, *topics_refused, *held;
	struct sg_counter *brokers_up; /* registered by the first statistics */
};

/* Delivered events per source: the label values are the sources' names,
 * at most SG_PROD_MAX_SOURCES of them (the configured ones first); a
 * record of any other source counts under SG_PROD_OTHER_SOURCE. */
#define SG_PROD_MAX_SOURCES  256
#define SG_PROD_OTHER_SOURCE "(other)"
struct sg_prod_sources {
	struct {
		char name[64];
		struct sg_counter *delivered;
	} v[SG_PROD_MAX_SOURCES + 1]; /* the last one: SG_PROD_OTHER_SOURCE */
	size_t n;
};

/* What /ready says about Kafka beyond the counters, written by the
 * producer thread and read by the HTTP thread (under mu). */
struct sg_prod_problem {
	pthread_mutex_t mu;
	char conn[256]; /* the last connection error while no broker is up, or "" */
	/* exactly_once, which holds nothing: a topic refused, the transactions
	 * wait (at_least_once: struct sg_hold says). */
	char refused[256];
	unsigned nrefused;
};

/* Topic handles kept for the producer's topics: naming the topic in
 * rd_kafka_producev() costs a locked search of librdkafka's topics and a
 * reference taken and dropped per record (some 300 instructions); a
 * handle costs a compare.  At most SG_SEND_TOPICS, the oldest replaced
 * when a new topic comes; cleared before the producer is destroyed
 * (sg_send_destroy).  The producer thread only. */
#define SG_SEND_TOPICS 32
struct sg_send_topics {
	struct {
		rd_kafka_topic_t *rkt;
		uint16_t len;
		char name[256];
	} v[SG_SEND_TOPICS];
	unsigned n, last, next; /* in use; the last one used; the next to replace */
};

struct sg_prod_ctx {
	const struct sg_conf *conf;   /* borrowed, outlives the producer */
	struct sg_spool *sp;          /* borrowed */
	char *bootstrap;              /* owned */
	char client_id[160];          /* sensorgate-<gateway.id>; also the transactional.id */
	rd_kafka_t *rk;               /* the mode's producer handle, or NULL */
	struct sg_send_topics topics; /* rk's topic handles */
	bool fatal;                   /* a fatal producer error was raised: recreate */
	_Atomic bool stop;
	_Atomic int64_t stop_deadline; /* monotonic ns */
	int stop_fd;                   /* eventfd: sg_producer_stop() wakes the thread */

	struct sg_buf rec;         /* the current spool record ... */
	struct sg_buf scratch;     /* ... and what sg_record_render() composed for it */
	struct sg_schema_enc *enc; /* kafka.format avro: the value encoder; NULL: JSON */
	uint64_t rec_seq;
	bool have_rec; /* read but not produced yet (queue full) */

	uint64_t fault_fatal_after; /* test hook: SENSORGATE_FAULT_FATAL_AFTER */
	uint64_t nproduced;
	struct sg_prod_metrics m;
	struct sg_prod_watch w;
	struct sg_prod_sources src;    /* producer thread only */
	struct sg_kafka_errlog errlog; /* producer thread only */
	_Atomic int64_t due_ns;        /* the thread is back by then (monotonic) */
	_Atomic int64_t brokers_up;    /* from the last statistics; -1: none yet */
	struct sg_prod_problem problem;
	struct sg_hold *hold; /* the mode's hold of refused topics, or NULL */
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

/* The producer thread is about to wait (or work) for up to wait_ms: it
 * promises to be back by then (the liveness probe's heartbeat). */
static inline void sg_prod_beat(struct sg_prod_ctx *c, int64_t wait_ms)
{
	atomic_store(&c->due_ns, sg_now_mono_ns() + wait_ms * SG_NS_PER_MS);
}

/* producer_watch.c: what the producer shows of itself. */

/* Set up the metrics and the delivered-per-source table (conf's sources
 * first).  The caller of sg_producer_new(). */
void sg_prod_watch_init(struct sg_prod_ctx *c);
void sg_prod_watch_fini(struct sg_prod_ctx *c);
/* The index in c->src of the source named s[0..len) (len 0: a record
 * without a source). */
uint16_t sg_prod_source(struct sg_prod_ctx *c, const char *s, size_t len);
/* n records of source index idx were delivered. */
void sg_prod_delivered(struct sg_prod_ctx *c, uint16_t idx, uint64_t n);
/* librdkafka's statistics (every SG_PROD_STATS_MS): the brokers the
 * producer has a connection to (kafka_brokers_up); a connection clears
 * the connection problem.  Between two of them, _ALL_BROKERS_DOWN sets
 * it to 0 at once (sg_prod_all_brokers_down) and an acknowledgement
 * (sg_prod_delivered) to at least 1, so the probes follow at once. */
void sg_prod_stats(struct sg_prod_ctx *c, const char *json, size_t len);
void sg_prod_all_brokers_down(struct sg_prod_ctx *c);
/* librdkafka builds the whole statistics JSON (every broker, topic and
 * partition) for it: not every second. */
#define SG_PROD_STATS_MS 5000
/* The brokers counted in a statistics JSON (distinct broker ids in state
 * UP, of configured or learned brokers), or -1 if it has no brokers
 * object.  Pure. */
int sg_prod_stats_brokers_up(const char *json, size_t len);
/* exactly_once's account of a topic Kafka refuses (the transaction
 * cannot commit: it is aborted and the next one waits, 1 s doubling to
 * 30 s).  The producer thread only. */
struct sg_prod_refusal {
	bool now;   /* the current transaction met a refusal */
	bool shown; /* logged, in the metrics and /ready; until a commit */
	char topic[250];
	int err;
	int64_t backoff_ms;
};
/* Kafka refused topic[0..len) with err: logged once per change, shown. */
void sg_prod_refusal_note(struct sg_prod_ctx *c, struct sg_prod_refusal *r, const char *topic,
			  size_t len, int err);
/* A commit went through: a refusal is over (logged once). */
void sg_prod_refusal_over(struct sg_prod_ctx *c, struct sg_prod_refusal *r);
/* After the abort a refusal caused: wait the backoff (or until stopped). */
void sg_prod_refusal_wait(struct sg_prod_ctx *c, struct sg_prod_refusal *r);

/* Topics refused and records held now (the gauges). */
void sg_prod_refused(struct sg_prod_ctx *c, unsigned topics, uint64_t held);
/* The error callback's work for both modes (producer_send.c calls it). */
void sg_prod_conn_error(struct sg_prod_ctx *c, const rd_kafka_t *rk, int err, const char *reason);

#endif
