/*
 * reports.h - librdkafka's callbacks served on a thread of their own.
 *
 * A producer's delivery reports, errors and statistics come out of
 * rd_kafka_poll(), on the thread that calls it.  Serving them is most of
 * the cost: librdkafka's queue, and freeing each message with its
 * headers.  The reports thread does that part, and keeps only what the
 * callbacks said, in order, as struct sg_report entries; the producer
 * thread takes them (sg_reports_take) and acts on them as it would have
 * inside the callbacks.  So the producer's state (the in-flight ring, the
 * hold, the error log) keeps one owner, and the producer thread pays a
 * copy per report instead of librdkafka's serving.
 *
 * The queue's eventfd is readable while entries wait: the producer
 * polls it instead of librdkafka's queue, and no report is missed (the
 * eventfd is written under the queue's lock, when it goes from empty to
 * not).  The queue holds at most the reports of what is in flight.
 *
 * The callbacks may also run on another thread that calls rd_kafka_poll()
 * or rd_kafka_flush() (the producer, while it destroys its handle): they
 * take the same lock.
 */
#ifndef SG_KAFKA_REPORTS_H
#define SG_KAFKA_REPORTS_H

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/base/err.h"

enum sg_report_kind { SG_REPORT_DR, SG_REPORT_ERROR, SG_REPORT_STATS };

struct sg_report {
	enum sg_report_kind kind;
	int err;         /* DR: the message's error; ERROR: the error */
	int status;      /* DR: rd_kafka_msg_status_t */
	uintptr_t token; /* DR: the message's opaque (_private) */
	int64_t at_ns;   /* DR: wall clock when the report came */
	char *topic;     /* DR with an error: its topic (owned), else NULL */
	/* Owned, NUL-terminated, or NULL: a DR's value when keep_value(err)
	 * says it is needed (kept in rejected.log); ERROR: the reason;
	 * STATS: the JSON. */
	char *data;
	size_t len;
};

struct sg_reports {
	pthread_mutex_t mu;
	struct sg_report *v; /* pushed, not taken yet */
	size_t n, cap;
	struct sg_report *out; /* the last sg_reports_take()'s */
	size_t out_n, out_cap;
	int efd;         /* eventfd: readable while v is not empty */
	bool signalled;  /* efd written since the last take */
	bool (*keep_value)(rd_kafka_resp_err_t err);
	rd_kafka_t *rk; /* served by the thread, while it runs */
	pthread_t th;
	bool running;
	_Atomic bool stop;
};

/* keep_value: which failed reports need the message's value. */
int sg_reports_init(struct sg_reports *q, bool (*keep_value)(rd_kafka_resp_err_t),
		    struct sg_errbuf *eb);
/* Frees what is queued (nothing acted on). */
void sg_reports_fini(struct sg_reports *q);

/* The thread serving rk (its opaque must be q, and the callbacks below
 * installed).  SG_OK or SG_EIO. */
int sg_reports_start(struct sg_reports *q, rd_kafka_t *rk, struct sg_errbuf *eb);
/* Ends and joins the thread (rd_kafka_yield() wakes it). */
void sg_reports_stop(struct sg_reports *q);

void sg_reports_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque);
void sg_reports_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque);
int sg_reports_stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque);

static inline int sg_reports_fd(const struct sg_reports *q)
{
	return q->efd;
}
/* Everything pushed so far, in order: *n entries, valid (and their
 * strings) until the next take. */
struct sg_report *sg_reports_take(struct sg_reports *q, size_t *n);

#endif
