/*
 * producer_alo.c - at_least_once delivery: the idempotent producer loop
 * over the in-flight ring (ring.h).  The shape is librdkafka's classic
 * producer loop: produce until the local queue is full, serve delivery
 * reports, wait on file descriptors (the spool's and the librdkafka
 * queue's) instead of sleeping.
 *
 * A delivery report marks its slot; the released prefix moves the spool
 * cursor.  A failed report stops the sending until every report is in,
 * then the spool is read again from the first unreleased record,
 * skipping those delivered since.  A fatal producer error (the idempotent
 * producer's sequence got out of step) destroys and recreates the
 * producer, every record still in flight counts as failed, and the same
 * rewind follows.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway/base/log.h"
#include "gateway/base/mem.h"
#include "producer_mode.h"
#include "producer_send.h"
#include "ring.h"

struct alo {
	struct sg_prod_ctx *c;
	struct sg_ring ring;
	int qpipe[2]; /* librdkafka's main queue -> readable */
};

/* --- librdkafka callbacks (the producer thread, inside rd_kafka_poll) -- */

static void alo_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct alo *a = opaque;
	const struct sg_ring_slot *s;
	enum sg_ring_outcome what = SG_RING_FAILED;

	(void)rk;
	if (!m->err && rd_kafka_message_status(m) == RD_KAFKA_MSG_STATUS_PERSISTED)
		what = SG_RING_PERSISTED;
	else if (m->err && sg_send_permanent(m->err))
		what = SG_RING_REJECTED;
	s = sg_ring_report(&a->ring, (uintptr_t)m->_private, what);
	if (!s)
		return; /* not in flight (cannot happen: every report is awaited) */
	if (what == SG_RING_PERSISTED) {
		int64_t lat = sg_now_ns() - s->ts_ns;
		sg_counter_add(a->c->m.delivered, 1);
		sg_hist_add(&sg_delivery_latency, lat > 0 ? (uint64_t)lat / 1000 : 0);
	} else if (what == SG_RING_REJECTED) {
		sg_send_reject_err(a->c, s->seq, m->payload, m->len, rd_kafka_topic_name(m->rkt),
				   m->err);
	} else {
		static struct sg_log_rl rl;
		if (m->err != RD_KAFKA_RESP_ERR__PURGE_QUEUE &&
		    m->err != RD_KAFKA_RESP_ERR__PURGE_INFLIGHT)
			sg_log_rl(&rl, SG_LOG_WARN, "producer",
				  "delivery of seq %" PRIu64
				  " failed: %s: %s; it stays in the spool and is sent again",
				  s->seq, m->err ? rd_kafka_err2name(m->err) : "NOT_PERSISTED",
				  m->err ? rd_kafka_err2str(m->err) : "not persisted");
		sg_counter_add(a->c->m.retry, 1);
	}
}

static void alo_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct alo *a = opaque;
	sg_send_error(a->c, rk, err, reason);
}

/* --- the client ------------------------------------------------------- */

static int alo_client(struct alo *a, struct sg_errbuf *eb)
{
	struct sg_prod_ctx *c = a->c;
	struct sg_kafka_opts o = sg_send_opts(c->conf, c->bootstrap, c->client_id);
	rd_kafka_queue_t *q;
	int rc;

	o.dr_msg_cb = alo_dr_cb;
	o.error_cb = alo_error_cb;
	o.opaque = a;
	if ((rc = sg_kafka_new(&o, &c->rk, eb)) != SG_OK)
		return rc;
	q = rd_kafka_queue_get_main(c->rk);
	rd_kafka_queue_io_event_enable(q, a->qpipe[1], "1", 1);
	rd_kafka_queue_destroy(q);
	c->fatal = false;
	return SG_OK;
}

static void alo_close(struct sg_prod_ctx *c, void *st)
{
	struct alo *a = st;

	sg_send_destroy(c);
	if (!a)
		return;
	if (a->qpipe[0] >= 0)
		close(a->qpipe[0]);
	if (a->qpipe[1] >= 0)
		close(a->qpipe[1]);
	sg_ring_fini(&a->ring);
	free(a);
}

static int alo_open(struct sg_prod_ctx *c, void **st, struct sg_errbuf *eb)
{
	struct alo *a = sg_xcalloc(1, sizeof(*a));
	int rc;

	a->c = c;
	a->qpipe[0] = a->qpipe[1] = -1;
	sg_ring_init(&a->ring, (size_t)c->conf->kafka.max_in_flight, 0);
	if (pipe2(a->qpipe, O_NONBLOCK | O_CLOEXEC) != 0)
		rc = sg_errf(eb, SG_EIO, "pipe: %s", strerror(errno));
	else
		rc = alo_client(a, eb);
	if (rc != SG_OK) {
		alo_close(c, a);
		return rc;
	}
	*st = a;
	return SG_OK;
}

/* --- the loop ----------------------------------------------------------- */

static void alo_release(struct alo *a)
{
	struct sg_prod_ctx *c = a->c;
	uint64_t last = sg_ring_release(&a->ring);
	int64_t oldest = sg_ring_oldest_ts(&a->ring);

	if (last)
		sg_spool_ack(c->sp, last);
	sg_gauge_set(c->m.inflight, sg_ring_count(&a->ring));
	sg_gauge_set(c->m.oldest_age,
		     oldest ? (uint64_t)((sg_now_ns() - oldest) / SG_NS_PER_MS) : 0);
}

/* Every report is in: read the spool again after the released seq. */
static void alo_rewind(struct alo *a)
{
	struct sg_prod_ctx *c = a->c;
	size_t nskip;
	uint64_t after = sg_ring_rewind(&a->ring, &nskip);

	sg_spool_ack(c->sp, after);
	sg_info("producer",
		"resending from seq %" PRIu64 " (%zu records already delivered are skipped)",
		after + 1, nskip);
	c->have_rec = false;
	sg_spool_rewind(c->sp, after);
}

/* Produce the current record.  SG_OK (sent, or finished without
 * producing), SG_EAGAIN (local queue full or a passing error: later). */
static int alo_send(struct alo *a)
{
	struct sg_prod_ctx *c = a->c;
	struct sg_record r;
	rd_kafka_resp_err_t err;
	int rc = sg_send_prepare(c, &r);

	if (rc == SG_ECORRUPT) {
		sg_ring_finished(&a->ring, c->rec_seq, sg_now_ns());
		return SG_OK;
	}
	if (rc != SG_OK)
		return SG_EAGAIN;
	err = sg_send_produce(c->rk, &r, (void *)sg_ring_token(&a->ring));
	if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
		return SG_EAGAIN;
	if (err && sg_send_permanent(err)) {
		char topic[256];
		snprintf(topic, sizeof(topic), "%.*s", (int)r.topic_len, r.topic);
		sg_send_reject_err(c, c->rec_seq, r.value, r.value_len, topic, err);
		sg_ring_finished(&a->ring, c->rec_seq, r.ts_ns);
		return SG_OK;
	}
	if (err) {
		static struct sg_log_rl rl;
		sg_log_rl(&rl, SG_LOG_WARN, "producer",
			  "produce of seq %" PRIu64 " failed: %s: %s; retrying", c->rec_seq,
			  rd_kafka_err2name(err), rd_kafka_err2str(err));
		return SG_EAGAIN;
	}
	sg_ring_sent(&a->ring, c->rec_seq, r.ts_ns);
	sg_send_count(c);
	return SG_OK;
}

/* Produce as much as possible; returns true if blocked (full queue or ring). */
static bool alo_fill(struct alo *a)
{
	struct sg_prod_ctx *c = a->c;
	struct sg_ring *r = &a->ring;

	while (!sg_ring_full(r) && !sg_ring_rewinding(r) && !c->fatal) {
		if (!c->have_rec) {
			if (sg_spool_read(c->sp, &c->rec_seq, &c->rec) != SG_OK)
				return false;
			if (sg_ring_skipping(r) && sg_ring_skip(r, c->rec_seq, sg_now_ns()))
				continue;
			c->have_rec = true;
		}
		if (alo_send(a) == SG_EAGAIN)
			return true;
		c->have_rec = false;
	}
	return sg_ring_full(r);
}

/* Destroy the producer after a fatal error, create a new one, resend. */
static void alo_restart(struct alo *a)
{
	struct sg_prod_ctx *c = a->c;
	struct sg_errbuf eb;

	sg_counter_add(c->m.restarts, 1);
	sg_send_destroy(c);         /* purged records report as failed */
	sg_ring_fail_all(&a->ring); /* and no report comes for the rest */
	while (alo_client(a, &eb) != SG_OK) {
		sg_error("producer", "%s; retrying in 1 s", eb.msg);
		poll(NULL, 0, 1000);
		if (sg_prod_stopping(c))
			return;
	}
	alo_release(a);
	alo_rewind(a);
}

/* Stopping: true once drained, or at the deadline. */
static bool alo_done(struct alo *a)
{
	struct sg_prod_ctx *c = a->c;
	struct sg_spool_stats st;

	if (!sg_prod_stopping(c))
		return false;
	sg_spool_stats(c->sp, &st);
	if (!sg_ring_count(&a->ring) && st.acked_seq + 1 >= st.next_seq)
		return true;
	return sg_now_mono_ns() >= atomic_load(&c->stop_deadline);
}

static void alo_run(struct sg_prod_ctx *c, void *st)
{
	struct alo *a = st;
	struct sg_spool_stats sst;
	char drain[64];

	/* Resume after what the cursor says is delivered; never before it
	 * (records below it may still sit in a live segment). */
	sg_spool_stats(c->sp, &sst);
	sg_ring_fini(&a->ring);
	sg_ring_init(&a->ring, (size_t)c->conf->kafka.max_in_flight, sst.acked_seq);
	sg_spool_rewind(c->sp, sst.acked_seq);
	for (;;) {
		struct pollfd fds[2];
		bool blocked;

		while (read(a->qpipe[0], drain, sizeof(drain)) > 0)
			;
		rd_kafka_poll(c->rk, 0);
		alo_release(a);
		if (c->fatal) {
			alo_restart(a);
			if (!c->rk)
				break;
		}
		if (sg_ring_rewind_ready(&a->ring))
			alo_rewind(a);
		blocked = alo_fill(a);
		if (alo_done(a))
			break;
		fds[0] = (struct pollfd){.fd = a->qpipe[0], .events = POLLIN};
		fds[1] =
		    (struct pollfd){.fd = sg_spool_read_fd(c->sp),
				    .events = blocked || sg_ring_rewinding(&a->ring) ? 0 : POLLIN};
		/* librdkafka signals its queue fd once per non-polling period,
		 * and a delivery report can slip in while we serve the queue;
		 * so with records in flight the wait is short (5 ms), and idle
		 * (only the spool's eventfd matters, which never misses) it is
		 * long.  The stop flag is looked at on every pass. */
		poll(fds, 2, sg_ring_count(&a->ring) ? 5 : 250);
	}
}

static void alo_settle(struct sg_prod_ctx *c, void *st)
{
	if (!c->rk)
		return;
	rd_kafka_poll(c->rk, 0);
	alo_release(st);
}

const struct sg_prod_mode sg_prod_at_least_once = {
    .name = "at_least_once",
    .open = alo_open,
    .run = alo_run,
    .settle = alo_settle,
    .close = alo_close,
};
