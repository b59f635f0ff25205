/*
 * producer.c - the producer thread.  The shape follows the classic
 * librdkafka producer loop: produce until the local queue is full, serve
 * delivery reports, wait on file descriptors (the spool's and the
 * librdkafka queue's) instead of sleeping, flush at shutdown.
 *
 * In-flight records live in a ring in seq order; a delivery report marks
 * its slot, and the released prefix of the ring moves the spool cursor.
 */
#include "producer.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "gateway/base/log.h"
#include "producer_internal.h"

static const char *const reserved_props[] = {
    "enable.idempotence", "acks", "request.required.acks", "dr_msg_cb", "bootstrap.servers",
    "transactional.id",   NULL};

/* --- librdkafka callbacks (run on the producer thread, from poll) ------ */

bool prod_err_permanent(rd_kafka_resp_err_t e)
{
	switch (e) {
	case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
	case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
	case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
	case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
	case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
	case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
	case RD_KAFKA_RESP_ERR_INVALID_RECORD:
	case RD_KAFKA_RESP_ERR_INVALID_MSG:
	case RD_KAFKA_RESP_ERR__INVALID_ARG: return true;
	default: return false;
	}
}

void prod_reject(struct sg_producer *p, uint64_t seq, const void *payload, size_t len,
		 const char *topic, const char *why)
{
	static struct sg_log_rl rl;
	char reason[512];

	snprintf(reason, sizeof(reason), "topic %s: %s", topic, why);
	sg_counter_add(p->m_rejected, 1);
	sg_log_rl(&rl, SG_LOG_ERROR, "producer",
		  "event %s:%" PRIu64 " refused by Kafka (%s): kept in %s/rejected.log",
		  p->conf->gateway.id, seq, reason, p->conf->spool.dir);
	if (sg_spool_reject(p->sp, seq, payload, len, reason) != SG_OK)
		sg_error("producer", "cannot write rejected.log: %s", strerror(errno));
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct sg_producer *p = opaque;
	size_t idx = (size_t)(uintptr_t)m->_private - 1;
	struct slot *s;

	(void)rk;
	if (p->txn) {
		prod_txn_dr(p, m);
		return;
	}
	if (idx >= p->cap)
		return;
	s = &p->ring[idx];
	if (s->state != SLOT_SENT)
		return;
	if (!m->err && rd_kafka_message_status(m) == RD_KAFKA_MSG_STATUS_PERSISTED) {
		int64_t lat = sg_now_ns() - s->ts_ns;
		s->state = SLOT_DONE;
		sg_counter_add(p->m_delivered, 1);
		sg_hist_add(&sg_delivery_latency, lat > 0 ? (uint64_t)lat / 1000 : 0);
	} else if (m->err && prod_err_permanent(m->err)) {
		prod_reject(p, s->seq, m->payload, m->len, rd_kafka_topic_name(m->rkt),
			    rd_kafka_err2str(m->err));
		s->state = SLOT_DONE;
	} else {
		static struct sg_log_rl rl;
		if (m->err != RD_KAFKA_RESP_ERR__PURGE_QUEUE &&
		    m->err != RD_KAFKA_RESP_ERR__PURGE_INFLIGHT)
			sg_log_rl(&rl, SG_LOG_WARN, "producer",
				  "delivery of seq %" PRIu64
				  " failed: %s; it stays in the spool and is sent again",
				  s->seq, m->err ? rd_kafka_err2str(m->err) : "not persisted");
		s->state = SLOT_RETRY;
		sg_counter_add(p->m_retry, 1);
		p->need_rewind = true;
	}
}

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct sg_producer *p = opaque;
	static struct sg_log_rl rl;
	char fatal[512];

	sg_counter_add(p->m_kafka_errors, 1);
	if (err == RD_KAFKA_RESP_ERR__FATAL) {
		rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
		sg_error("producer", "fatal producer error: %s; recreating the producer", fatal);
		p->fatal = true;
		return;
	}
	sg_log_rl(&rl, SG_LOG_WARN, "producer", "kafka: %s: %s",
		  rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	(void)rk;
	sg_log(level <= 3   ? SG_LOG_ERROR
	       : level <= 4 ? SG_LOG_WARN
			    : SG_LOG_DEBUG,
	       "librdkafka", "%s: %s", fac, buf);
}

/* --- setup ----------------------------------------------------------- */

static int conf_set(rd_kafka_conf_t *kc, const char *k, const char *v, struct sg_errbuf *eb)
{
	char err[512];

	if (rd_kafka_conf_set(kc, k, v, err, sizeof(err)) != RD_KAFKA_CONF_OK)
		return sg_errf(eb, SG_ECONFIG, "kafka.properties.%s: %s", k, err);
	return SG_OK;
}

static rd_kafka_conf_t *prod_conf(const struct sg_conf *c, const char *bootstrap, void *opaque,
				  struct sg_errbuf *eb)
{
	rd_kafka_conf_t *kc = rd_kafka_conf_new();
	const struct sg_cfg_map *props = &c->kafka.properties;
	char num[32], cid[128];
	int rc = SG_OK;

	snprintf(cid, sizeof(cid), "sensorgate-%s", c->gateway.id);
	snprintf(num, sizeof(num), "%lld", (long long)c->kafka.max_in_flight + 1000);
	/* Our defaults first; the user's properties may change them. */
	rc |= conf_set(kc, "client.id", cid, eb);
	rc |= conf_set(kc, "linger.ms", "5", eb);
	/* Transactions must finish within transaction.timeout.ms (60 s by
	 * default), and no message may outlive its transaction. */
	rc |= conf_set(kc, "message.timeout.ms",
		       c->kafka.delivery == SG_DELIVERY_EXACTLY_ONCE ? "55000" : "600000", eb);
	rc |= conf_set(kc, "partitioner", "murmur2_random", eb);
	rc |= conf_set(kc, "queue.buffering.max.messages", num, eb);
	for (size_t i = 0; rc == SG_OK && i < props->n; i++) {
		for (int r = 0; reserved_props[r]; r++)
			if (!strcmp(props->kv[i].key, reserved_props[r])) {
				rd_kafka_conf_destroy(kc);
				sg_errf(eb, SG_ECONFIG,
					"kafka.properties.%s: set by the gateway (delivery "
					"guarantees); use kafka.%s",
					props->kv[i].key,
					strcmp(props->kv[i].key, "bootstrap.servers")
					    ? "delivery"
					    : "bootstrap");
				return NULL;
			}
		rc = conf_set(kc, props->kv[i].key, props->kv[i].val, eb);
	}
	/* The guarantees last, so nothing above can weaken them. */
	if (rc == SG_OK)
		rc = conf_set(kc, "bootstrap.servers", bootstrap, eb);
	if (rc == SG_OK)
		rc = conf_set(kc, "enable.idempotence", "true", eb);
	if (rc == SG_OK)
		rc = conf_set(kc, "acks", "all", eb);
	if (rc == SG_OK && c->kafka.delivery == SG_DELIVERY_EXACTLY_ONCE) {
		/* Stable across restarts, so a restarted gateway fences its
		 * previous incarnation's open transaction. */
		snprintf(cid, sizeof(cid), "sensorgate-%s", c->gateway.id);
		rc = conf_set(kc, "transactional.id", cid, eb);
	}
	if (rc != SG_OK) {
		rd_kafka_conf_destroy(kc);
		return NULL;
	}
	rd_kafka_conf_set_opaque(kc, opaque);
	rd_kafka_conf_set_dr_msg_cb(kc, dr_cb);
	rd_kafka_conf_set_error_cb(kc, error_cb);
	rd_kafka_conf_set_log_cb(kc, log_cb);
	return kc;
}

void sg_kafka_conf_security(rd_kafka_conf_t *kc, const struct sg_conf *c)
{
	static const char *const prefixes[] = {"security.", "sasl.", "ssl."};
	char err[256];

	for (size_t i = 0; i < c->kafka.properties.n; i++)
		for (size_t j = 0; j < 3; j++)
			if (!strncmp(c->kafka.properties.kv[i].key, prefixes[j],
				     strlen(prefixes[j])) &&
			    rd_kafka_conf_set(kc, c->kafka.properties.kv[i].key,
					      c->kafka.properties.kv[i].val, err, sizeof(err)))
				sg_warn("kafka", "kafka.properties.%s: %s",
					c->kafka.properties.kv[i].key, err);
}

int sg_producer_check_props(const struct sg_conf *conf, struct sg_errbuf *eb)
{
	const char *bs =
	    strcmp(conf->kafka.bootstrap, "embedded") ? conf->kafka.bootstrap : "localhost:9092";
	rd_kafka_conf_t *kc = prod_conf(conf, bs, NULL, eb);

	if (!kc)
		return SG_ECONFIG;
	rd_kafka_conf_destroy(kc);
	return SG_OK;
}

int prod_create(struct sg_producer *p, struct sg_errbuf *eb)
{
	rd_kafka_conf_t *kc = prod_conf(p->conf, p->bootstrap, p, eb);
	rd_kafka_queue_t *q;
	char err[512];

	if (!kc)
		return SG_ECONFIG;
	p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, err, sizeof(err));
	if (!p->rk) {
		rd_kafka_conf_destroy(kc);
		return sg_errf(eb, SG_EKAFKA, "cannot create the producer: %s", err);
	}
	q = rd_kafka_queue_get_main(p->rk);
	rd_kafka_queue_io_event_enable(q, p->qpipe[1], "1", 1);
	rd_kafka_queue_destroy(q);
	p->fatal = false;
	return SG_OK;
}

void prod_destroy(struct sg_producer *p)
{
	if (!p->rk)
		return;
	rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
	rd_kafka_poll(p->rk, 0);
	rd_kafka_flush(p->rk, 1000);
	rd_kafka_destroy(p->rk);
	p->rk = NULL;
}

int sg_producer_new(const struct sg_conf *conf, const char *bootstrap, struct sg_spool *sp,
		    struct sg_producer **out, struct sg_errbuf *eb)
{
	struct sg_producer *p = sg_xcalloc(1, sizeof(*p));
	int rc;

	p->conf = conf;
	p->sp = sp;
	p->bootstrap = sg_strdup(bootstrap ? bootstrap : conf->kafka.bootstrap);
	p->cap = (size_t)conf->kafka.max_in_flight;
	p->txn = conf->kafka.delivery == SG_DELIVERY_EXACTLY_ONCE;
	p->ring = sg_xcalloc(p->cap, sizeof(*p->ring));
	sg_buf_init(&p->rec);
	sg_buf_init(&p->scratch);
	p->qpipe[0] = p->qpipe[1] = -1;
	if (pipe2(p->qpipe, O_NONBLOCK | O_CLOEXEC) != 0) {
		rc = sg_errf(eb, SG_EIO, "pipe: %s", strerror(errno));
		goto err;
	}
	/* Fault injection for tests: raise a fatal producer error once after
	 * N records, to exercise the recreate-and-resume path. */
	if (getenv("SENSORGATE_FAULT_FATAL_AFTER"))
		p->fault_fatal_after = strtoull(getenv("SENSORGATE_FAULT_FATAL_AFTER"), NULL, 10);
	p->m_produced = sg_metric("produced", "", false);
	p->m_delivered = sg_metric("delivered", "", false);
	p->m_retry = sg_metric("delivery_retries", "", false);
	p->m_rejected = sg_metric("dropped", "reason=\"rejected_by_kafka\"", false);
	p->m_restarts = sg_metric("producer_restarts", "", false);
	p->m_inflight = sg_metric("in_flight", "", true);
	p->m_oldest_age = sg_metric("oldest_undelivered_age_ms", "", true);
	p->m_kafka_errors = sg_metric("errors", "class=\"kafka\"", false);
	if ((rc = prod_create(p, eb)) != SG_OK)
		goto err;
	*out = p;
	return SG_OK;
err:
	sg_producer_free(p);
	return rc;
}

/* --- the loop ---------------------------------------------------------- */

/* Release the done prefix of the ring and move the spool cursor. */
static void prod_release(struct sg_producer *p)
{
	uint64_t last = 0;

	while (p->count && p->ring[p->head].state == SLOT_DONE) {
		last = p->ring[p->head].seq;
		p->ring[p->head].state = SLOT_FREE;
		p->head = (p->head + 1) % p->cap;
		p->count--;
	}
	if (last) {
		p->released = last;
		sg_spool_ack(p->sp, last);
	}
	sg_gauge_set(p->m_inflight, p->count);
	sg_gauge_set(p->m_oldest_age,
		     p->count ? (uint64_t)((sg_now_ns() - p->ring[p->head].ts_ns) / SG_NS_PER_MS)
			      : 0);
}

/* All reports are in: re-read the spool from the first unreleased record,
 * skipping those delivered since. */
static void prod_rewind(struct sg_producer *p)
{
	size_t n = 0;

	free(p->skip);
	p->skip = sg_xcalloc(p->count, sizeof(*p->skip));
	for (size_t i = 0; i < p->count; i++) {
		struct slot *s = &p->ring[(p->head + i) % p->cap];
		if (s->state == SLOT_DONE)
			p->skip[n++] = s->seq;
		s->state = SLOT_FREE;
	}
	p->nskip = n;
	p->skip_pos = 0;
	sg_info("producer",
		"resending from seq %" PRIu64 " (%zu records already delivered are skipped)",
		p->released + 1, n);
	/* The released prefix may have advanced the cursor further than the
	 * ring head: rewind to what is released. */
	p->head = 0;
	p->count = 0;
	p->have_rec = false;
	p->need_rewind = false;
	sg_spool_rewind(p->sp, p->released);
}

static bool prod_skip(struct sg_producer *p, uint64_t seq)
{
	while (p->skip_pos < p->nskip && p->skip[p->skip_pos] < seq)
		p->skip_pos++;
	return p->skip_pos < p->nskip && p->skip[p->skip_pos] == seq;
}

rd_kafka_resp_err_t prod_produce(struct sg_producer *p, const struct sg_record *r, void *opaque)
{
	rd_kafka_headers_t *hdrs = rd_kafka_headers_new(r->nheaders);
	rd_kafka_resp_err_t err;
	size_t pos = 0, nl, vl;
	const char *name;
	const void *val;
	char topic[256];

	snprintf(topic, sizeof(topic), "%.*s", (int)r->topic_len, r->topic);
	while (sg_record_header_next(r, &pos, &name, &nl, &val, &vl))
		rd_kafka_header_add(hdrs, name, (ssize_t)nl, val, (ssize_t)vl);
	err = rd_kafka_producev(
	    p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(r->key, r->key_len),
	    RD_KAFKA_V_VALUE((void *)r->value, r->value_len),
	    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_TIMESTAMP(r->ts_ns / SG_NS_PER_MS),
	    RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
	if (err)
		rd_kafka_headers_destroy(hdrs); /* ownership passes only on success */
	return err;
}

/* Produce one record.  SG_OK, SG_EAGAIN (local queue full: retry later). */
static int prod_send(struct sg_producer *p)
{
	struct sg_record r;
	rd_kafka_resp_err_t err;
	char topic[256];
	size_t slot;

	if (sg_record_decode(p->rec.p, p->rec.len, &r) != SG_OK ||
	    sg_record_render(&r, p->rec_seq, &p->scratch) != SG_OK) {
		prod_reject(p, p->rec_seq, p->rec.p, p->rec.len, "-", "undecodable spool record");
		goto done_now;
	}
	snprintf(topic, sizeof(topic), "%.*s", (int)r.topic_len, r.topic);
	slot = (p->head + p->count) % p->cap;
	err = prod_produce(p, &r, (void *)(uintptr_t)(slot + 1));
	if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
		return SG_EAGAIN;
	if (err) {
		if (prod_err_permanent(err)) {
			prod_reject(p, p->rec_seq, r.value, r.value_len, topic,
				    rd_kafka_err2str(err));
			goto done_now;
		}
		sg_warn("producer", "produce of seq %" PRIu64 " failed: %s; retrying", p->rec_seq,
			rd_kafka_err2str(err));
		return SG_EAGAIN;
	}
	p->ring[slot] = (struct slot){p->rec_seq, r.ts_ns, SLOT_SENT};
	p->count++;
	sg_counter_add(p->m_produced, 1);
	if (++p->nproduced == p->fault_fatal_after)
		rd_kafka_test_fatal_error(p->rk, RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
					  "injected by SENSORGATE_FAULT_FATAL_AFTER");
	return SG_OK;
done_now:
	/* Not produced but finished: a DONE slot keeps the cursor in order. */
	slot = (p->head + p->count) % p->cap;
	p->ring[slot] = (struct slot){p->rec_seq, sg_now_ns(), SLOT_DONE};
	p->count++;
	return SG_OK;
}

/* Produce as much as possible; returns true if blocked on a full queue. */
static bool prod_fill(struct sg_producer *p)
{
	while (p->count < p->cap && !p->need_rewind && !p->fatal) {
		if (!p->have_rec) {
			if (sg_spool_read(p->sp, &p->rec_seq, &p->rec) != SG_OK)
				return false;
			if (p->nskip && prod_skip(p, p->rec_seq))
				continue;
			p->have_rec = true;
		}
		if (prod_send(p) == SG_EAGAIN)
			return true;
		p->have_rec = false;
	}
	return p->count >= p->cap;
}

static void prod_restart(struct sg_producer *p)
{
	struct sg_errbuf eb;

	sg_counter_add(p->m_restarts, 1);
	prod_destroy(p); /* purges: every SENT slot becomes RETRY */
	for (size_t i = 0; i < p->count; i++) {
		struct slot *s = &p->ring[(p->head + i) % p->cap];
		if (s->state == SLOT_SENT)
			s->state = SLOT_RETRY;
	}
	while (prod_create(p, &eb) != SG_OK) {
		sg_error("producer", "%s; retrying in 1 s", eb.msg);
		struct pollfd none;
		poll(&none, 0, 1000);
		if (atomic_load(&p->stop))
			return;
	}
	prod_release(p);
	prod_rewind(p);
}

static void *prod_main(void *arg)
{
	struct sg_producer *p = arg;
	int64_t idle_since = 0;
	struct sg_spool_stats st;

	/* Resume after what the cursor says is delivered; never before it
	 * (records below it may still sit in a live segment). */
	sg_spool_stats(p->sp, &st);
	p->released = st.acked_seq;
	sg_spool_rewind(p->sp, st.acked_seq);
	for (;;) {
		struct pollfd fds[2];
		bool full;
		char drain[64];

		while (read(p->qpipe[0], drain, sizeof(drain)) > 0)
			;
		rd_kafka_poll(p->rk, 0);
		prod_release(p);
		if (p->fatal) {
			prod_restart(p);
			if (!p->rk)
				break;
		}
		if (p->need_rewind) {
			/* Stop sending; let every report come back first. */
			bool sent = false;
			for (size_t i = 0; i < p->count; i++)
				if (p->ring[(p->head + i) % p->cap].state == SLOT_SENT)
					sent = true;
			if (!sent)
				prod_rewind(p);
		}
		full = prod_fill(p);
		if (atomic_load(&p->stop)) {
			sg_spool_stats(p->sp, &st);
			if (!p->count && st.acked_seq + 1 >= st.next_seq)
				break; /* drained */
			if (sg_now_mono_ns() >= atomic_load(&p->stop_deadline))
				break;
		}
		(void)idle_since;
		fds[0] = (struct pollfd){.fd = p->qpipe[0], .events = POLLIN};
		fds[1] = (struct pollfd){.fd = sg_spool_read_fd(p->sp),
					 .events = full || p->need_rewind ? 0 : POLLIN};
		/* librdkafka signals its queue fd once per non-polling period,
		 * and a delivery report can slip in while we serve the queue;
		 * so with records in flight the wait is short (5 ms), and idle
		 * (only the spool's eventfd matters, which never misses) it is
		 * long.  The stop flag is looked at on every pass. */
		poll(fds, 2, p->count ? 5 : 250);
	}
	return NULL;
}

int sg_producer_start(struct sg_producer *p)
{
	if (pthread_create(&p->thr, NULL, p->txn ? prod_txn_main : prod_main, p) != 0)
		return SG_ERR;
	p->running = true;
	return SG_OK;
}

void sg_producer_stop(struct sg_producer *p, int64_t timeout_ms)
{
	uint64_t undelivered;
	struct sg_spool_stats st;

	if (!p || !p->running)
		return;
	atomic_store(&p->stop_deadline, sg_now_mono_ns() + timeout_ms * SG_NS_PER_MS);
	atomic_store(&p->stop, true);
	pthread_join(p->thr, NULL);
	p->running = false;
	if (p->rk) {
		rd_kafka_poll(p->rk, 0);
		prod_release(p);
	}
	sg_spool_stats(p->sp, &st);
	undelivered = st.next_seq - 1 - st.acked_seq;
	if (undelivered)
		sg_warn("producer",
			"stopping with %" PRIu64 " events not yet delivered; "
			"they stay in the spool and are sent after the next start",
			undelivered);
}

void sg_producer_free(struct sg_producer *p)
{
	if (!p)
		return;
	if (p->running)
		sg_producer_stop(p, 0);
	prod_destroy(p);
	if (p->qpipe[0] >= 0)
		close(p->qpipe[0]);
	if (p->qpipe[1] >= 0)
		close(p->qpipe[1]);
	sg_buf_free(&p->rec);
	sg_buf_free(&p->scratch);
	free(p->skip);
	free(p->rejected);
	free(p->txn_ts);
	free(p->ring);
	free(p->bootstrap);
	free(p);
}
