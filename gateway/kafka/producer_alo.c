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
 *
 * A topic Kafka refuses (an ACL: TOPIC_AUTHORIZATION_FAILED; a topic that
 * does not exist and is not created on first use; sg_send_holds) is held
 * (hold.h): the refusal counts as a failed report, so the usual rewind
 * reads the topic's records again in order, and from then on they go to
 * the topic's hold file instead of Kafka and are finished in the ring
 * once the file is synced; the other topics flow.  The held records are
 * produced again from the file (tokens tagged ALO_HOLD_TAG) when the
 * topic's retry is due.
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
#include "hold.h"
#include "producer_send.h"
#include "ring.h"

/* The opaque of a held record sent again: the hold's token | this bit
 * (ring tokens stay below kafka.max_in_flight + 1 <= 10^7 < 2^30). */
#define ALO_HOLD_TAG ((uintptr_t)1 << 30)

struct alo {
	struct sg_prod_ctx *c;
	struct sg_ring ring;
	uint16_t *slot_src;      /* per ring slot (token - 1): the record's source */
	uint32_t *slot_bytes;    /* per ring slot: its bytes in flight (0: none) */
	uint64_t inflight_bytes; /* the sum of slot_bytes: kafka.max_in_flight_bytes */
	int qpipe[2];            /* librdkafka's main queue -> readable */
	struct sg_hold *hold;
	bool hold_dirty;    /* held records written since the last sync */
	uint64_t ack_due;   /* released, waiting for the hold's sync to be acked */
	struct sg_buf hrec; /* a held record being sent again */
	uint64_t nread;     /* records read from the spool, ever */
	int64_t gather_end; /* mono ns: the spool is not read before (batch_wait) */
	uint16_t hold_src[SG_HOLD_WINDOW + 1];
	int64_t hold_ts[SG_HOLD_WINDOW + 1];
};

/* A topic Kafka refused: hold it (true), or say why it cannot be. */
static bool alo_refuse(struct alo *a, const char *topic, size_t len, rd_kafka_resp_err_t err)
{
	static struct sg_log_rl rl;
	int rc = sg_hold_refuse(a->hold, topic, len, err, sg_now_mono_ns());

	if (rc != SG_OK)
		sg_log_rl(&rl, SG_LOG_ERROR, "producer",
			  "topic %.*s refused by Kafka (%s) and cannot be held (%s): its events "
			  "stay in the spool and delivery waits for it",
			  (int)len, topic, rd_kafka_err2name(err), sg_strerror(rc));
	return rc == SG_OK;
}

/* The report of a held record sent again. */
static void alo_hold_dr(struct alo *a, uint32_t tok, const rd_kafka_message_t *m)
{
	int64_t now = sg_now_mono_ns(), lat;

	if (!m->err && rd_kafka_message_status(m) == RD_KAFKA_MSG_STATUS_PERSISTED) {
		lat = sg_now_ns() - a->hold_ts[tok];
		sg_prod_delivered(a->c, a->hold_src[tok], 1);
		sg_hist_add(&sg_delivery_latency, lat > 0 ? (uint64_t)lat / 1000 : 0);
		sg_hold_result(a->hold, tok, SG_HOLD_DELIVERED, 0, now);
	} else if (m->err && !sg_send_holds(m->err) && sg_send_permanent(m->err)) {
		sg_send_reject_err(a->c, 0, m->payload, m->len, rd_kafka_topic_name(m->rkt),
				   m->err);
		sg_hold_result(a->hold, tok, SG_HOLD_DONE, 0, now);
	} else {
		sg_hold_result(a->hold, tok, SG_HOLD_FAILED, m->err, now);
	}
}

/* --- librdkafka callbacks (the producer thread, inside rd_kafka_poll) -- */

static void alo_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct alo *a = opaque;
	const struct sg_ring_slot *s;
	enum sg_ring_outcome what = SG_RING_FAILED;
	uintptr_t token = (uintptr_t)m->_private;
	uint16_t src = token && token <= a->ring.cap ? a->slot_src[token - 1] : 0;
	const char *topic = rd_kafka_topic_name(m->rkt);

	(void)rk;
	if (token & ALO_HOLD_TAG) {
		alo_hold_dr(a, (uint32_t)(token & ~ALO_HOLD_TAG), m);
		return;
	}
	if (token && token <= a->ring.cap) {
		a->inflight_bytes -= a->slot_bytes[token - 1];
		a->slot_bytes[token - 1] = 0;
	}
	if (!m->err && rd_kafka_message_status(m) == RD_KAFKA_MSG_STATUS_PERSISTED)
		what = SG_RING_PERSISTED;
	else if (sg_send_holds(m->err))
		alo_refuse(a, topic, strlen(topic), m->err); /* FAILED: the rewind holds it */
	else if (m->err && sg_send_permanent(m->err))
		what = SG_RING_REJECTED;
	s = sg_ring_report(&a->ring, token, what);
	if (!s)
		return; /* not in flight (cannot happen: every report is awaited) */
	if (what == SG_RING_PERSISTED) {
		int64_t lat = sg_now_ns() - s->ts_ns;
		sg_prod_delivered(a->c, src, 1);
		sg_hist_add(&sg_delivery_latency, lat > 0 ? (uint64_t)lat / 1000 : 0);
	} else if (what == SG_RING_REJECTED) {
		sg_send_reject_err(a->c, s->seq, m->payload, m->len, rd_kafka_topic_name(m->rkt),
				   m->err);
	} else {
		static struct sg_log_rl rl;
		if (m->err != RD_KAFKA_RESP_ERR__PURGE_QUEUE &&
		    m->err != RD_KAFKA_RESP_ERR__PURGE_INFLIGHT &&
		    !sg_send_holds(m->err)) /* said above */
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

static int alo_stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
	struct alo *a = opaque;

	(void)rk;
	sg_prod_stats(a->c, json, len);
	return 0; /* librdkafka frees json */
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
	o.stats_cb = alo_stats_cb;
	o.stats_interval_ms = SG_PROD_STATS_MS;
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
	free(a->slot_src);
	free(a->slot_bytes);
	c->hold = NULL;
	sg_hold_close(a->hold);
	sg_buf_free(&a->hrec);
	free(a);
}

/* The hold beside the spool: <spool.dir>/held, at most a quarter of
 * spool.max_bytes (and 1 MiB at least). */
static int alo_hold_open(struct alo *a, struct sg_errbuf *eb)
{
	const struct sg_spool_conf *sc = &a->c->conf->spool;
	char dir[4096];
	struct sg_hold_conf hc = {
	    .dir = dir,
	    .max_bytes =
		(uint64_t)sc->max_bytes / 4 > (1u << 20) ? (uint64_t)sc->max_bytes / 4 : (1u << 20),
	    .max_record = (uint32_t)sc->max_record_bytes + 4096,
	};
	int rc;

	snprintf(dir, sizeof(dir), "%s/held", sc->dir);
	if ((rc = sg_hold_open(&hc, &a->hold, eb)) == SG_OK)
		a->c->hold = a->hold;
	return rc;
}

static int alo_open(struct sg_prod_ctx *c, void **st, struct sg_errbuf *eb)
{
	struct alo *a = sg_xcalloc(1, sizeof(*a));
	int rc;

	a->c = c;
	a->qpipe[0] = a->qpipe[1] = -1;
	sg_ring_init(&a->ring, (size_t)c->conf->kafka.max_in_flight, 0);
	a->slot_src = sg_xcalloc((size_t)c->conf->kafka.max_in_flight, sizeof(*a->slot_src));
	a->slot_bytes = sg_xcalloc((size_t)c->conf->kafka.max_in_flight, sizeof(*a->slot_bytes));
	sg_buf_init(&a->hrec);
	if (pipe2(a->qpipe, O_NONBLOCK | O_CLOEXEC) != 0)
		rc = sg_errf(eb, SG_EIO, "pipe: %s", strerror(errno));
	else if ((rc = alo_hold_open(a, eb)) == SG_OK)
		rc = alo_client(a, eb);
	if (rc != SG_OK) {
		alo_close(c, a);
		return rc;
	}
	*st = a;
	return SG_OK;
}

/* --- the loop ----------------------------------------------------------- */

/* The held records written so far are on disk: the cursor may pass them. */
static bool alo_hold_synced(struct alo *a)
{
	static struct sg_log_rl rl;

	if (!a->hold_dirty)
		return true;
	if (sg_hold_sync(a->hold) != SG_OK) {
		sg_log_rl(&rl, SG_LOG_ERROR, "producer",
			  "cannot sync the held records (%s): the spool keeps them",
			  strerror(errno));
		return false;
	}
	a->hold_dirty = false;
	return true;
}

static void alo_ack(struct alo *a, uint64_t seq)
{
	if (seq > a->ack_due)
		a->ack_due = seq;
	if (a->ack_due && alo_hold_synced(a)) {
		sg_spool_ack(a->c->sp, a->ack_due);
		a->ack_due = 0;
	}
}

static void alo_release(struct alo *a)
{
	struct sg_prod_ctx *c = a->c;
	uint64_t last = sg_ring_release(&a->ring);
	int64_t oldest = sg_ring_oldest_ts(&a->ring);

	unsigned refused;
	uint64_t held;

	alo_ack(a, last);
	sg_hold_counts(a->hold, &refused, &held, NULL, 0);
	sg_prod_refused(c, refused, held);
	sg_gauge_set(c->m.inflight, sg_ring_count(&a->ring));
	sg_gauge_set(c->m.inflight_bytes, a->inflight_bytes);
	sg_gauge_set(c->m.oldest_age,
		     oldest ? (uint64_t)((sg_now_ns() - oldest) / SG_NS_PER_MS) : 0);
}

/* Every report is in: read the spool again after the released seq. */
static void alo_rewind(struct alo *a)
{
	struct sg_prod_ctx *c = a->c;
	size_t nskip;
	uint64_t after = sg_ring_rewind(&a->ring, &nskip);

	alo_ack(a, after);
	sg_info("producer",
		"resending from seq %" PRIu64 " (%zu records already delivered are skipped)",
		after + 1, nskip);
	c->have_rec = false;
	a->gather_end = 0; /* the resend reads at once */
	sg_spool_rewind(c->sp, after);
}

/* The current record's topic is held: into its file, finished here.
 * SG_OK, or SG_EAGAIN when the hold cannot take it (full, I/O error): it
 * stays in the spool and is tried again. */
static int alo_hold_put(struct alo *a, const struct sg_record *r)
{
	static struct sg_log_rl rl;
	struct sg_prod_ctx *c = a->c;
	int rc = sg_hold_put(a->hold, r->topic, r->topic_len, c->rec_seq, c->rec.p, c->rec.len);

	if (rc == SG_OK) {
		sg_ring_finished(&a->ring, c->rec_seq, r->ts_ns);
		a->hold_dirty = true;
		return SG_OK;
	}
	sg_log_rl(&rl, SG_LOG_ERROR, "producer",
		  "cannot hold event %s:%" PRIu64 " of refused topic %.*s: %s; it stays in the "
		  "spool and delivery waits",
		  c->conf->gateway.id, c->rec_seq, (int)r->topic_len, r->topic,
		  rc == SG_ENOSPC ? "the hold is full (a quarter of spool.max_bytes)"
				  : strerror(errno));
	return SG_EAGAIN;
}

/* Produce the current record.  SG_OK (sent, or finished without
 * producing), SG_EAGAIN (local queue full or a passing error: later). */
static int alo_send(struct alo *a)
{
	struct sg_prod_ctx *c = a->c;
	struct sg_record r;
	rd_kafka_resp_err_t err;
	uintptr_t token;
	int rc = sg_send_prepare(c, &r);

	if (rc == SG_ECORRUPT) {
		sg_ring_finished(&a->ring, c->rec_seq, sg_now_ns());
		return SG_OK;
	}
	if (rc != SG_OK)
		return SG_EAGAIN;
	if (sg_hold_is_held(a->hold, r.topic, r.topic_len))
		return alo_hold_put(a, &r);
	token = sg_ring_token(&a->ring);
	a->slot_src[token - 1] = sg_prod_source(c, r.source, r.source_len);
	err = sg_send_produce(c->rk, &c->topics, &r, (void *)token);
	if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
		return SG_EAGAIN;
	if (sg_send_holds(err)) {
		/* As a failed report: the rewind reads the topic's records in
		 * flight again, and holds them, in order. */
		alo_refuse(a, r.topic, r.topic_len, err);
		sg_ring_sent(&a->ring, c->rec_seq, r.ts_ns);
		sg_ring_report(&a->ring, token, SG_RING_FAILED);
		return SG_OK;
	}
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
	a->slot_bytes[token - 1] =
	    (uint32_t)(r.value_len + r.key_len + r.headers_len + r.topic_len);
	a->inflight_bytes += a->slot_bytes[token - 1];
	sg_send_count(c);
	return SG_OK;
}

/* The window is full: in records (the ring) or in bytes. */
static bool alo_window_full(const struct alo *a)
{
	return sg_ring_full(&a->ring) ||
	       a->inflight_bytes >= (uint64_t)a->c->conf->kafka.max_in_flight_bytes;
}

/* Produce as much as possible; returns true if blocked (full queue or
 * window). */
static bool alo_fill(struct alo *a)
{
	struct sg_prod_ctx *c = a->c;
	struct sg_ring *r = &a->ring;

	while (!alo_window_full(a) && !sg_ring_rewinding(r) && !c->fatal) {
		if (!c->have_rec) {
			if (sg_spool_read(c->sp, &c->rec_seq, &c->rec) != SG_OK)
				return false;
			a->nread++;
			if (sg_ring_skipping(r) && sg_ring_skip(r, c->rec_seq, sg_now_ns()))
				continue;
			c->have_rec = true;
		}
		if (alo_send(a) == SG_EAGAIN)
			return true;
		c->have_rec = false;
	}
	return alo_window_full(a);
}

/*
 * Fill unless gathering: while events flow, the spool is read at most
 * once per kafka.batch_wait, so a trickle of events reaches librdkafka
 * (and its broker thread, and the broker) in bursts, one wake-up each,
 * instead of one per event.  A fill that read something and caught up
 * starts a gathering; one that read nothing leaves the spool's eventfd
 * armed, so the first event after a quiet spell is read at once.  A fill
 * stopped by the window or the queue is not a gathering: reports free
 * room, and the next pass fills again.  Returns alo_fill's blocked;
 * *gathering: the spool is not to be polled now.
 */
static bool alo_gather(struct alo *a, bool *gathering)
{
	int64_t wait_ns = a->c->conf->kafka.batch_wait_ms * 1000000, now;
	uint64_t before = a->nread;
	bool blocked;

	if (a->gather_end) {
		now = sg_now_mono_ns();
		if (now < a->gather_end) {
			*gathering = true;
			return false;
		}
	}
	blocked = alo_fill(a);
	a->gather_end = 0;
	if (wait_ns > 0 && !blocked && a->nread != before && !a->c->fatal &&
	    !sg_ring_rewinding(&a->ring))
		a->gather_end = sg_now_mono_ns() + wait_ns;
	*gathering = a->gather_end != 0;
	return blocked;
}

/* Render a held record for seq into r, through the same path as a spool
 * record (the current one is set aside meanwhile).  SG_OK, SG_ECORRUPT
 * (kept in rejected.log), or another error: later. */
static int alo_hold_prepare(struct alo *a, uint64_t seq, struct sg_record *r)
{
	struct sg_prod_ctx *c = a->c;
	struct sg_buf keep = c->rec;
	uint64_t keep_seq = c->rec_seq;
	int rc;

	c->rec = a->hrec;
	c->rec_seq = seq;
	rc = sg_send_prepare(c, r);
	a->hrec = c->rec;
	c->rec = keep;
	c->rec_seq = keep_seq;
	return rc;
}

/* Send held records again whose turn it is (hold.h). */
static void alo_hold_send(struct alo *a)
{
	struct sg_prod_ctx *c = a->c;
	int64_t now = sg_now_mono_ns();
	struct sg_record r;
	uint64_t seq;
	uint32_t tok;

	while (!c->fatal && sg_hold_next(a->hold, now, &seq, &a->hrec, &tok)) {
		rd_kafka_resp_err_t err;
		int rc = alo_hold_prepare(a, seq, &r);

		if (rc == SG_ECORRUPT) {
			sg_hold_result(a->hold, tok, SG_HOLD_DONE, 0, now);
			continue;
		}
		if (rc != SG_OK) {
			sg_hold_result(a->hold, tok, SG_HOLD_FAILED, 0, now);
			return;
		}
		a->hold_src[tok] = sg_prod_source(c, r.source, r.source_len);
		a->hold_ts[tok] = r.ts_ns;
		err = sg_send_produce(c->rk, &c->topics, &r, (void *)(ALO_HOLD_TAG | tok));
		if (!err) {
			sg_counter_add(c->m.produced, 1);
			continue;
		}
		sg_hold_result(a->hold, tok, SG_HOLD_FAILED, err, now);
		return;
	}
}

/* Destroy the producer after a fatal error, create a new one, resend. */
static void alo_restart(struct alo *a)
{
	struct sg_prod_ctx *c = a->c;
	struct sg_errbuf eb;

	sg_counter_add(c->m.restarts, 1);
	sg_prod_beat(c, 2000);      /* the flush inside waits up to 1 s */
	sg_send_destroy(c);         /* purged records report as failed */
	sg_ring_fail_all(&a->ring); /* and no report comes for the rest */
	memset(a->slot_bytes, 0, (size_t)c->conf->kafka.max_in_flight * sizeof(*a->slot_bytes));
	a->inflight_bytes = 0;
	while (alo_client(a, &eb) != SG_OK) {
		sg_error("producer", "%s; retrying in 1 s", eb.msg);
		sg_prod_beat(c, 2000);
		poll(NULL, 0, 1000);
		if (sg_prod_stopping(c))
			return;
	}
	alo_release(a);
	alo_rewind(a);
}

/* The longest wait with nothing in flight and nothing due on time. */
#define ALO_IDLE_MAX_MS 60000

/* The wait with nothing in flight: retries that are due on time (an
 * acknowledgement the hold's sync held back, held records) are looked
 * at four times a second; otherwise only what the fds say can arrive:
 * librdkafka's statistics, errors and logs signal its queue fd (it marks
 * the queue served and takes every op under one lock, so an op that
 * comes later writes the fd again), events the spool's eventfd, a stop
 * stop_fd.  The bound is for the liveness heartbeat, not a poll: an idle
 * gateway costs librdkafka's wake-ups, not the producer's. */
static int alo_idle_ms(struct alo *a)
{
	unsigned refused;
	uint64_t held;

	if (a->ack_due)
		return 250;
	if (a->c->have_rec)
		return 1000; /* a record waits to be tried again (a registry down) */
	sg_hold_counts(a->hold, &refused, &held, NULL, 0);
	return refused || held ? 250 : ALO_IDLE_MAX_MS;
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
	bool gathering = false, qready = true;

	/* Resume after what the cursor says is delivered; never before it
	 * (records below it may still sit in a live segment). */
	sg_spool_stats(c->sp, &sst);
	sg_ring_fini(&a->ring);
	sg_ring_init(&a->ring, (size_t)c->conf->kafka.max_in_flight, sst.acked_seq);
	memset(a->slot_bytes, 0, (size_t)c->conf->kafka.max_in_flight * sizeof(*a->slot_bytes));
	a->inflight_bytes = 0;
	sg_spool_rewind(c->sp, sst.acked_seq);
	for (;;) {
		struct pollfd fds[3];
		bool blocked;
		int wait;

		/* Only what the last poll saw ready: no read(2) per pass; and
		 * a short read is the pipe drained, no read to hear EAGAIN. */
		while (qready && read(a->qpipe[0], drain, sizeof(drain)) == (ssize_t)sizeof(drain))
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
		blocked = alo_gather(a, &gathering);
		alo_hold_send(a);
		alo_ack(a, 0); /* a sync that failed before */
		if (alo_done(a))
			break;
		/* While gathering, the reports wait too: they are served when
		 * the gathering ends, a batch_wait at most later, so a trickle
		 * of events costs one wake-up per batch, not two. */
		fds[0] = (struct pollfd){.fd = a->qpipe[0], .events = gathering ? 0 : POLLIN};
		fds[1] = (struct pollfd){
		    .fd = sg_spool_read_fd(c->sp),
		    .events = blocked || gathering || sg_ring_rewinding(&a->ring) ? 0 : POLLIN};
		fds[2] = (struct pollfd){.fd = c->stop_fd, .events = POLLIN};
		/* librdkafka signals its queue fd once per non-polling period,
		 * and a delivery report can slip in while we serve the queue;
		 * so with records in flight the wait is short (5 ms), and idle
		 * (only the spool's eventfd matters, which never misses) it is
		 * long; while gathering, until the gathering ends.  The stop
		 * flag is looked at on every pass; sg_producer_stop() wakes
		 * the wait through stop_fd. */
		wait = sg_ring_count(&a->ring) ? 5 : alo_idle_ms(a);
		if (gathering) {
			int64_t left = (a->gather_end - sg_now_mono_ns() + 999999) / 1000000;
			wait = left < 1 ? 1 : left < wait ? (int)left : wait;
		}
		sg_prod_beat(c, wait);
		qready = poll(fds, 3, wait) > 0 && (fds[0].revents & POLLIN);
		sg_prod_beat(c, 0); /* back: due now, not at the wait's end */
		if (!fds[0].events)
			qready = true; /* unwatched: drain whatever came */
		if ((fds[2].revents & POLLIN) && read(c->stop_fd, drain, sizeof(uint64_t)) < 0 &&
		    errno != EAGAIN)
			sg_warn("producer", "stop eventfd: %s", strerror(errno));
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
