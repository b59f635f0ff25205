/*
 * reports.c - librdkafka's callbacks served on a thread of their own
 * (see reports.h).
 */
#include "reports.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "gateway/base/clock.h"
#include "gateway/base/log.h"

int sg_reports_init(struct sg_reports *q, bool (*keep_value)(rd_kafka_resp_err_t),
		    struct sg_errbuf *eb)
{
	memset(q, 0, sizeof(*q));
	q->keep_value = keep_value;
	q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (q->efd < 0)
		return sg_errf(eb, SG_EIO, "eventfd: %s", strerror(errno));
	pthread_mutex_init(&q->mu, NULL);
	return SG_OK;
}

static void reports_free(struct sg_report *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].topic);
		free(v[i].data);
	}
}

void sg_reports_fini(struct sg_reports *q)
{
	if (q->efd < 0)
		return;
	reports_free(q->v, q->n);
	reports_free(q->out, q->out_n);
	free(q->v);
	free(q->out);
	close(q->efd);
	pthread_mutex_destroy(&q->mu);
	q->efd = -1;
}

/* Copy of p[0..n), NUL-terminated; NULL when memory is short. */
static char *dup_n(const void *p, size_t n)
{
	char *s = malloc(n + 1);

	if (s) {
		if (n)
			memcpy(s, p, n);
		s[n] = '\0';
	}
	return s;
}

/* Append e (its strings now the queue's).  Out of memory, a report is
 * never lost: the push waits and tries again (what is queued is bounded
 * by what is in flight, and the producer frees as it takes). */
static void reports_push(struct sg_reports *q, const struct sg_report *e)
{
	static const uint64_t one = 1;

	pthread_mutex_lock(&q->mu);
	while (q->n == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 1024;
		struct sg_report *v = realloc(q->v, cap * sizeof(*v));

		if (v) {
			q->v = v;
			q->cap = cap;
			break;
		}
		pthread_mutex_unlock(&q->mu);
		poll(NULL, 0, 10);
		pthread_mutex_lock(&q->mu);
	}
	q->v[q->n++] = *e;
	if (!q->signalled) {
		q->signalled = true;
		if (write(q->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			sg_error("producer", "reports eventfd: %s", strerror(errno));
	}
	pthread_mutex_unlock(&q->mu);
}

void sg_reports_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct sg_reports *q = opaque;
	struct sg_report e = {
	    .kind = SG_REPORT_DR,
	    .err = m->err,
	    .status = (int)rd_kafka_message_status(m),
	    .token = (uintptr_t)m->_private,
	    .at_ns = sg_now_ns(),
	};

	(void)rk;
	if (m->err) {
		e.topic = dup_n(rd_kafka_topic_name(m->rkt), strlen(rd_kafka_topic_name(m->rkt)));
		if (q->keep_value && q->keep_value(m->err)) {
			e.data = dup_n(m->payload, m->len);
			e.len = e.data ? m->len : 0;
		}
	}
	reports_push(q, &e);
}

void sg_reports_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct sg_report e = {.kind = SG_REPORT_ERROR, .err = err};

	(void)rk;
	e.data = dup_n(reason, strlen(reason));
	e.len = e.data ? strlen(reason) : 0;
	reports_push(opaque, &e);
}

int sg_reports_stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
	struct sg_report e = {.kind = SG_REPORT_STATS};

	(void)rk;
	e.data = dup_n(json, len);
	if (!e.data)
		return 0; /* statistics come again in SG_PROD_STATS_MS */
	e.len = len;
	reports_push(opaque, &e);
	return 0; /* librdkafka frees json */
}

struct sg_report *sg_reports_take(struct sg_reports *q, size_t *n)
{
	struct sg_report *v;
	uint64_t drain;
	size_t cap;

	reports_free(q->out, q->out_n);
	q->out_n = 0;
	pthread_mutex_lock(&q->mu);
	if (q->signalled) {
		/* Read under the lock: a push after it writes the fd again. */
		if (read(q->efd, &drain, sizeof(drain)) < 0 && errno != EAGAIN)
			sg_error("producer", "reports eventfd: %s", strerror(errno));
		q->signalled = false;
	}
	v = q->out;
	cap = q->out_cap;
	q->out = q->v;
	q->out_cap = q->cap;
	q->out_n = q->n;
	q->v = v;
	q->cap = cap;
	q->n = 0;
	pthread_mutex_unlock(&q->mu);
	*n = q->out_n;
	return q->out;
}

static void *reports_main(void *arg)
{
	struct sg_reports *q = arg;

	while (!atomic_load(&q->stop))
		rd_kafka_poll(q->rk, 1000);
	return NULL;
}

int sg_reports_start(struct sg_reports *q, rd_kafka_t *rk, struct sg_errbuf *eb)
{
	int rc;

	q->rk = rk;
	atomic_store(&q->stop, false);
	if ((rc = pthread_create(&q->th, NULL, reports_main, q)) != 0) {
		q->rk = NULL;
		return sg_errf(eb, SG_EIO, "cannot start the delivery reports thread: %s",
			       strerror(rc));
	}
	q->running = true;
	return SG_OK;
}

void sg_reports_stop(struct sg_reports *q)
{
	if (!q->running)
		return;
	atomic_store(&q->stop, true);
	rd_kafka_yield(q->rk);
	pthread_join(q->th, NULL);
	q->running = false;
	q->rk = NULL;
}
