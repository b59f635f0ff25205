/*
 * producer_txn.c - exactly_once delivery: Kafka transactions.
 *
 * Each transaction carries a span of spool records (at most
 * kafka.transaction_records, open at most kafka.transaction_interval)
 * plus one checkpoint record, key = gateway id, value = the span's last
 * seq and the spool epoch ("<seq> <epoch>"), to kafka.checkpoint_topic
 * (compacted).  The spool cursor moves only
 * after the commit succeeds.  On start, the last committed checkpoint is
 * read with read_committed and the spool resumes after it, so a crash
 * between the commit and saving the cursor sends nothing twice: a
 * read_committed consumer sees every event exactly once.  This is the
 * pattern of Kafka Connect's exactly-once source connectors.
 *
 * Errors: a record Kafka refuses for good fails the transaction, which is
 * aborted; the record goes to rejected.log and is skipped on the replay.
 * Abortable errors abort and replay from the last commit.  Retriable
 * commit (and abort) errors are retried for at most TXN_RETRY_MS (and
 * never past the stop deadline); at that bound the outcome of the commit
 * is unknown, so it is treated like a fatal error: the producer is
 * recreated (init_transactions completes or aborts what the old one left
 * open) and the checkpoint is read again, which says whether the span was
 * committed.  Fatal errors (fenced, say) do the same.
 *
 * A topic Kafka refuses (an ACL: TOPIC_AUTHORIZATION_FAILED, or a topic
 * that does not exist; sg_send_holds; the checkpoint topic included) is
 * not a bad record: nothing is rejected.
 * The transaction cannot commit without it, so it is aborted and tried
 * again after a backoff (1 s doubling to 30 s) until the ACL is granted;
 * the events stay in the spool meanwhile, and the refusal shows in the
 * log (once per change), the metrics and /ready.  (at_least_once holds a
 * refused topic's records aside and lets the other topics flow; a
 * transaction spans topics, so exactly_once waits.)
 */
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/base/log.h"
#include "gateway/base/mem.h"
#include "producer_mode.h"
#include "producer_send.h"

/* How long retriable commit/abort errors are retried. */
#define TXN_RETRY_MS 60000
/* How long the checkpoint topic is read at most. */
#define TXN_CKPT_READ_MS 30000

struct txn {
	struct sg_prod_ctx *c;
	uint64_t committed; /* highest seq committed in a transaction */
	uint64_t *rejected; /* seqs refused for good: skipped on replay */
	size_t nrejected;
	bool open;     /* a transaction is begun */
	size_t n;      /* records in it */
	uint64_t *seq; /* their seqs (the delivery report's opaque is the index + 1) */
	int64_t *ts;   /* their event times */
	uint16_t *src; /* their sources (sg_prod_source) */
	struct sg_prod_refusal refusal; /* a topic Kafka refuses: transactions wait */
};

static bool txn_is_rejected(const struct txn *t, uint64_t seq)
{
	for (size_t i = 0; i < t->nrejected; i++)
		if (t->rejected[i] == seq)
			return true;
	return false;
}

static void txn_add_rejected(struct txn *t, uint64_t seq)
{
	uint64_t *r;

	if (txn_is_rejected(t, seq))
		return;
	r = realloc(t->rejected, (t->nrejected + 1) * sizeof(*r));
	if (!r)
		return; /* sent (and refused) again on the replay: no loss */
	t->rejected = r;
	t->rejected[t->nrejected++] = seq;
}

/* A replay never goes below the last commit: forget what it covers. */
static void txn_forget_rejected(struct txn *t, uint64_t committed)
{
	size_t k = 0;

	for (size_t i = 0; i < t->nrejected; i++)
		if (t->rejected[i] > committed)
			t->rejected[k++] = t->rejected[i];
	t->nrejected = k;
}

/* Success counts at the commit; a permanent refusal is kept and skipped. */
static void txn_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct txn *t = opaque;
	size_t idx = (size_t)(uintptr_t)m->_private;

	(void)rk;
	if (sg_send_holds(m->err)) {
		const char *topic = rd_kafka_topic_name(m->rkt);
		sg_prod_refusal_note(t->c, &t->refusal, topic, strlen(topic), m->err);
		return;
	}
	if (!m->err || idx == 0 || idx > t->n)
		return; /* index 0 is the checkpoint record */
	if (sg_send_permanent(m->err) && !txn_is_rejected(t, t->seq[idx - 1])) {
		txn_add_rejected(t, t->seq[idx - 1]);
		sg_send_reject_err(t->c, t->seq[idx - 1], m->payload, m->len,
				   rd_kafka_topic_name(m->rkt), m->err);
	}
}

static void txn_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct txn *t = opaque;
	sg_send_error(t->c, rk, err, reason);
}

static int txn_stats_cb(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
	struct txn *t = opaque;

	(void)rk;
	sg_prod_stats(t->c, json, len);
	return 0; /* librdkafka frees json */
}

/* --- start: the producer, init_transactions, the checkpoint ------------- */

static int txn_client(struct txn *t, struct sg_errbuf *eb)
{
	struct sg_prod_ctx *c = t->c;
	struct sg_kafka_opts o = sg_send_opts(c->conf, c->bootstrap, c->client_id);

	o.dr_msg_cb = txn_dr_cb;
	o.error_cb = txn_error_cb;
	o.stats_cb = txn_stats_cb;
	o.stats_interval_ms = SG_PROD_STATS_MS;
	o.opaque = t;
	c->fatal = false;
	return sg_kafka_new(&o, &c->rk, eb);
}

/* init_transactions, retried until it works or we are stopped.  The same
 * failure is logged once (and again when it changes or heals), not once a
 * retry; a fatal one recreates the producer, every 1 s at first and up to
 * every 30 s while it repeats (a missing TransactionalId ACL stays missing
 * until an operator adds it). */
static bool txn_init(struct txn *t)
{
	struct sg_prod_ctx *c = t->c;
	struct sg_errbuf eb;
	char last[640] = "", what[640];
	int wait_ms = 1000, failures = 0;

	while (!sg_prod_stopping(c)) {
		sg_prod_beat(c, 31000);
		if (!c->rk && txn_client(t, &eb) != SG_OK) {
			snprintf(what, sizeof(what), "%s", eb.msg);
			if (strcmp(what, last))
				sg_error("producer", "%s", eb.msg);
		} else {
			rd_kafka_error_t *e = rd_kafka_init_transactions(c->rk, 30000);
			bool fatal;
			if (!e) {
				if (failures)
					sg_info("producer",
						"init_transactions succeeded after %d failed "
						"attempt(s)",
						failures);
				return true;
			}
			fatal = rd_kafka_error_is_fatal(e);
			snprintf(what, sizeof(what), "init_transactions: %s: %s%s",
				 rd_kafka_error_name(e), rd_kafka_error_string(e),
				 fatal ? " (fatal: the producer is recreated until it works)" : "");
			if (strcmp(what, last))
				sg_warn("producer", "%s", what);
			if (fatal) {
				sg_prod_beat(c, 2000);
				sg_send_destroy(c);
				sg_counter_add(c->m.restarts, 1);
			}
			rd_kafka_error_destroy(e);
		}
		wait_ms = !strcmp(what, last) && wait_ms < 30000 ? wait_ms * 2 : 1000;
		if (wait_ms > 30000)
			wait_ms = 30000;
		snprintf(last, sizeof(last), "%s", what);
		failures++;
		for (int w = 0; w < wait_ms && !sg_prod_stopping(c); w += 250) {
			sg_prod_beat(c, 1000);
			poll(NULL, 0, 250);
		}
	}
	return false;
}

/* The seq in one checkpoint record of this gateway ("<seq> <epoch>"), or
 * 0.  A checkpoint of another spool epoch is not ours: the spool was lost
 * and seqs start again at 1 (one without an epoch is the previous
 * release's, of this spool). */
static uint64_t txn_ckpt_value(const struct sg_conf *conf, const char *epoch,
			       const rd_kafka_message_t *m)
{
	char num[64], *end;
	uint64_t seq;

	if (m->err || m->key_len != strlen(conf->gateway.id) ||
	    memcmp(m->key, conf->gateway.id, m->key_len) || m->len >= sizeof(num))
		return 0;
	snprintf(num, sizeof(num), "%.*s", (int)m->len, (const char *)m->payload);
	seq = strtoull(num, &end, 10);
	return *end == ' ' && strcmp(end + 1, epoch) ? 0 : seq;
}

/* Read every partition of the checkpoint topic to its end. */
static uint64_t txn_ckpt_scan(struct sg_prod_ctx *c, rd_kafka_t *rk, int nparts)
{
	const struct sg_conf *conf = c->conf;
	rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new(nparts);
	int64_t deadline = sg_now_mono_ns() + TXN_CKPT_READ_MS * SG_NS_PER_MS;
	uint64_t best = 0;
	int eofs = 0;

	for (int i = 0; i < nparts; i++)
		rd_kafka_topic_partition_list_add(tl, conf->kafka.checkpoint_topic, i)->offset =
		    RD_KAFKA_OFFSET_BEGINNING;
	rd_kafka_assign(rk, tl);
	rd_kafka_topic_partition_list_destroy(tl);
	while (eofs < nparts && sg_now_mono_ns() < deadline) {
		rd_kafka_message_t *m;
		sg_prod_beat(c, 1000);
		m = rd_kafka_consumer_poll(rk, 500);
		uint64_t v;
		if (!m)
			continue;
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
			eofs++;
		else if ((v = txn_ckpt_value(conf, sg_spool_epoch(c->sp), m)) > best)
			best = v;
		rd_kafka_message_destroy(m);
	}
	if (eofs < nparts)
		sg_warn("producer", "checkpoint topic %s not read to its end in %d s",
			conf->kafka.checkpoint_topic, TXN_CKPT_READ_MS / 1000);
	return best;
}

/* The seq of this gateway's last committed checkpoint, or 0. */
static uint64_t txn_read_checkpoint(struct txn *t)
{
	const struct sg_conf *conf = t->c->conf;
	char cid[200];
	struct sg_kafka_opts o = {
	    .kind = SG_KAFKA_CONSUMER,
	    .who = "checkpoint reader",
	    .bootstrap = t->c->bootstrap,
	    .client_id = cid,
	    .props = &conf->kafka.properties,
	    .security = &conf->kafka.security,
	    .group = "sensorgate-checkpoint-reader",
	    .partition_eof = true,
	};
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_topic_t *rkt;
	rd_kafka_t *rk;
	struct sg_errbuf eb;
	uint64_t best = 0;

	snprintf(cid, sizeof(cid), "%s-checkpoint", t->c->client_id);
	if (sg_kafka_new(&o, &rk, &eb) != SG_OK) {
		sg_error("producer", "checkpoint reader: %s", eb.msg);
		return 0;
	}
	rkt = rd_kafka_topic_new(rk, conf->kafka.checkpoint_topic, NULL);
	sg_prod_beat(t->c, 11000);
	if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR ||
	    md->topic_cnt != 1 || md->topics[0].err || md->topics[0].partition_cnt < 1)
		sg_info("producer", "no checkpoint topic %s yet: starting from the spool cursor",
			conf->kafka.checkpoint_topic);
	else
		best = txn_ckpt_scan(t->c, rk, md->topics[0].partition_cnt);
	if (md)
		rd_kafka_metadata_destroy(md);
	rd_kafka_topic_destroy(rkt);
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	return best;
}

/* Back to the last commit: the next transaction replays from there. */
static void txn_replay(struct txn *t)
{
	t->c->have_rec = false;
	t->open = false;
	t->n = 0;
	sg_spool_rewind(t->c->sp, t->committed);
}

/* A producer ready for transactions, and the spool positioned after what
 * Kafka holds committed.  False if stopped first. */
static bool txn_start(struct txn *t)
{
	struct sg_prod_ctx *c = t->c;
	struct sg_spool_stats st;
	uint64_t ckpt;

	if (!txn_init(t))
		return false;
	ckpt = txn_read_checkpoint(t);
	sg_spool_stats(c->sp, &st);
	t->committed = ckpt > st.acked_seq ? ckpt : st.acked_seq;
	if (ckpt > st.acked_seq)
		sg_info("producer",
			"checkpoint says seq %" PRIu64 " is committed (spool cursor %" PRIu64
			"): resuming after it, nothing is sent twice",
			ckpt, st.acked_seq);
	sg_spool_ack(c->sp, t->committed);
	txn_replay(t);
	return true;
}

/* --- one transaction ----------------------------------------------------- */

static bool txn_begin(struct txn *t)
{
	rd_kafka_error_t *e = rd_kafka_begin_transaction(t->c->rk);

	if (!e) {
		t->open = true;
		return true;
	}
	sg_error("producer", "begin_transaction: %s: %s", rd_kafka_error_name(e),
		 rd_kafka_error_string(e));
	rd_kafka_error_destroy(e);
	t->c->fatal = true;
	return false;
}

/* Read the next record that is not known to be refused.  False if none
 * came within the wait (ms), which polls the spool's fd. */
static bool txn_next(struct txn *t, int wait_ms)
{
	struct sg_prod_ctx *c = t->c;

	while (!c->have_rec) {
		if (sg_spool_read(c->sp, &c->rec_seq, &c->rec) != SG_OK) {
			struct pollfd pfd = {.fd = sg_spool_read_fd(c->sp), .events = POLLIN};
			sg_prod_beat(c, wait_ms);
			poll(&pfd, 1, wait_ms);
			rd_kafka_poll(c->rk, 0);
			return false;
		}
		c->have_rec = !txn_is_rejected(t, c->rec_seq);
	}
	return true;
}

/* Produce the current record into the open transaction.  SG_OK (taken or
 * refused for good), SG_EAGAIN (queue full), SG_EKAFKA (the transaction
 * cannot go on). */
static int txn_send(struct txn *t)
{
	struct sg_prod_ctx *c = t->c;
	struct sg_record r;
	rd_kafka_resp_err_t err;
	int rc = sg_send_prepare(c, &r);

	if (rc == SG_ECORRUPT) {
		txn_add_rejected(t, c->rec_seq);
		return SG_OK;
	}
	if (rc != SG_OK) {
		rd_kafka_poll(c->rk, 50); /* not a busy loop while the registry is away */
		return SG_EAGAIN;
	}
	if (!t->open && !txn_begin(t))
		return SG_EKAFKA;
	err = sg_send_produce(c->rk, &c->topics, &r, (void *)(uintptr_t)(t->n + 1));
	if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
		sg_prod_beat(c, 50);
		rd_kafka_poll(c->rk, 50);
		return SG_EAGAIN;
	}
	if (sg_send_holds(err)) {
		sg_prod_refusal_note(t->c, &t->refusal, r.topic, r.topic_len, err);
		return SG_EKAFKA; /* abort, wait, try again */
	}
	if (err && sg_send_permanent(err)) {
		char topic[256];
		snprintf(topic, sizeof(topic), "%.*s", (int)r.topic_len, r.topic);
		sg_send_reject_err(c, c->rec_seq, r.value, r.value_len, topic, err);
		txn_add_rejected(t, c->rec_seq);
		return SG_OK;
	}
	if (err) {
		if (!t->refusal.now) /* else the refusal said why */
			sg_error("producer", "produce of seq %" PRIu64 " failed: %s: %s",
				 c->rec_seq, rd_kafka_err2name(err), rd_kafka_err2str(err));
		return SG_EKAFKA;
	}
	t->seq[t->n] = c->rec_seq;
	t->ts[t->n] = r.ts_ns;
	t->src[t->n] = sg_prod_source(c, r.source, r.source_len);
	t->n++;
	sg_send_count(c);
	return SG_OK;
}

/* Fill one transaction.  Returns SG_OK (t->n records in it, maybe 0) or
 * SG_EKAFKA (abort it). */
static int txn_fill(struct txn *t)
{
	struct sg_prod_ctx *c = t->c;
	const struct sg_kafka_conf *kc = &c->conf->kafka;
	int64_t until = sg_now_mono_ns() + kc->txn_interval_ms * SG_NS_PER_MS;

	while (t->n < (size_t)kc->txn_max_records && sg_now_mono_ns() < until && !c->fatal) {
		int rc, ms = (int)((until - sg_now_mono_ns()) / SG_NS_PER_MS);
		if (!txn_next(t, t->n ? (ms > 0 ? ms : 0) : 250)) {
			if (!t->n) {
				if (sg_prod_stopping(c))
					break;
				/* The interval starts with the first record. */
				until = sg_now_mono_ns() + kc->txn_interval_ms * SG_NS_PER_MS;
			}
			continue;
		}
		rc = txn_send(t);
		if (rc == SG_EKAFKA)
			return rc;
		if (rc == SG_OK)
			c->have_rec = false;
	}
	return SG_OK;
}

/* commit_transaction or abort_transaction, retrying retriable errors up
 * to TXN_RETRY_MS and the stop deadline.  NULL when done. */
static rd_kafka_error_t *txn_call(struct txn *t, const char *what,
				  rd_kafka_error_t *(*fn)(rd_kafka_t *, int))
{
	struct sg_prod_ctx *c = t->c;
	int64_t bound = sg_now_mono_ns() + TXN_RETRY_MS * SG_NS_PER_MS;
	rd_kafka_error_t *e;

	for (int attempt = 1;; attempt++) {
		int64_t end = bound, left;
		if (sg_prod_stopping(c) && atomic_load(&c->stop_deadline) < end)
			end = atomic_load(&c->stop_deadline);
		left = (end - sg_now_mono_ns()) / SG_NS_PER_MS;
		sg_prod_beat(c, (left > 1000 ? left : 1000) + 1000);
		e = fn(c->rk, left > 1000 ? (int)left : 1000);
		if (!e || !rd_kafka_error_is_retriable(e))
			return e;
		if (sg_now_mono_ns() >= end) {
			sg_error("producer",
				 "%s: %s: %s, still after %d attempts: its outcome is unknown; "
				 "recreating the producer and resuming from the checkpoint",
				 what, rd_kafka_error_name(e), rd_kafka_error_string(e), attempt);
			c->fatal = true;
			return e;
		}
		sg_warn("producer", "%s: %s: %s; retrying", what, rd_kafka_error_name(e),
			rd_kafka_error_string(e));
		rd_kafka_error_destroy(e);
		poll(NULL, 0, 100);
	}
}

/* Abort the open transaction and replay from the last commit. */
static void txn_abort(struct txn *t)
{
	rd_kafka_error_t *e;

	sg_counter_add(t->c->m.retry, t->n);
	if (t->open)
		sg_counter_add(t->c->w.txn_aborted, 1);
	if (t->n) /* else it held only records refused for good */
		sg_warn("producer",
			"transaction up to seq %" PRIu64 " aborted: replaying from seq %" PRIu64,
			t->seq[t->n - 1], t->committed + 1);
	e = t->open ? txn_call(t, "abort_transaction", rd_kafka_abort_transaction) : NULL;
	if (e) {
		if (!t->c->fatal)
			sg_error("producer", "abort_transaction: %s: %s", rd_kafka_error_name(e),
				 rd_kafka_error_string(e));
		t->c->fatal = true;
		rd_kafka_error_destroy(e);
	}
	txn_replay(t);
}

static rd_kafka_resp_err_t txn_checkpoint(struct txn *t, uint64_t seq)
{
	const struct sg_conf *conf = t->c->conf;
	char v[64];
	int n = snprintf(v, sizeof(v), "%" PRIu64 " %s", seq, sg_spool_epoch(t->c->sp));
	rd_kafka_resp_err_t err;

	do {
		err = rd_kafka_producev(t->c->rk, RD_KAFKA_V_TOPIC(conf->kafka.checkpoint_topic),
					RD_KAFKA_V_KEY(conf->gateway.id, strlen(conf->gateway.id)),
					RD_KAFKA_V_VALUE(v, (size_t)n),
					RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
					RD_KAFKA_V_OPAQUE(NULL), RD_KAFKA_V_END);
	} while (err == RD_KAFKA_RESP_ERR__QUEUE_FULL && rd_kafka_poll(t->c->rk, 50) >= 0);
	return err;
}

static void txn_committed(struct txn *t, uint64_t last)
{
	int64_t now = sg_now_ns();

	t->committed = last;
	sg_spool_ack(t->c->sp, last);
	sg_counter_add(t->c->w.txn_committed, 1);
	for (size_t i = 0, run = 1; i < t->n; i += run) {
		for (run = 1; i + run < t->n && t->src[i + run] == t->src[i]; run++)
			;
		sg_prod_delivered(t->c, t->src[i], run);
	}
	for (size_t i = 0; i < t->n; i++)
		sg_hist_add(&sg_delivery_latency,
			    now > t->ts[i] ? (uint64_t)(now - t->ts[i]) / 1000 : 0);
	t->open = false;
	t->n = 0;
	txn_forget_rejected(t, last);
	sg_prod_refusal_over(t->c, &t->refusal);
}

/* Commit the open transaction (the checkpoint record first). */
static void txn_commit(struct txn *t)
{
	struct sg_prod_ctx *c = t->c;
	uint64_t last = t->seq[t->n - 1];
	rd_kafka_resp_err_t perr = txn_checkpoint(t, last);
	rd_kafka_error_t *e;

	if (sg_send_holds(perr))
		sg_prod_refusal_note(t->c, &t->refusal, c->conf->kafka.checkpoint_topic,
				     strlen(c->conf->kafka.checkpoint_topic), perr);
	else if (perr)
		sg_error("producer", "checkpoint record: %s: %s", rd_kafka_err2name(perr),
			 rd_kafka_err2str(perr));
	if (perr) {
		txn_abort(t);
		return;
	}
	e = txn_call(t, "commit_transaction", rd_kafka_commit_transaction);
	if (!e) {
		txn_committed(t, last);
		return;
	}
	if (!c->fatal && rd_kafka_error_txn_requires_abort(e)) {
		sg_warn("producer", "commit of the transaction up to seq %" PRIu64 ": %s: %s", last,
			rd_kafka_error_name(e), rd_kafka_error_string(e));
		txn_abort(t);
	} else {
		if (!c->fatal)
			sg_error("producer",
				 "commit of the transaction up to seq %" PRIu64 " failed: %s: %s",
				 last, rd_kafka_error_name(e), rd_kafka_error_string(e));
		c->fatal = true;
		sg_counter_add(c->m.retry, t->n);
		txn_replay(t);
	}
	rd_kafka_error_destroy(e);
}

/* --- the mode ------------------------------------------------------------- */

static bool txn_done(struct txn *t)
{
	struct sg_prod_ctx *c = t->c;
	struct sg_spool_stats st;

	if (!sg_prod_stopping(c))
		return false;
	sg_spool_stats(c->sp, &st);
	return st.acked_seq + 1 >= st.next_seq ||
	       sg_now_mono_ns() >= atomic_load(&c->stop_deadline);
}

static void txn_run(struct sg_prod_ctx *c, void *st)
{
	struct txn *t = st;
	int rc;

	if (!txn_start(t))
		return;
	while (!txn_done(t)) {
		if (c->fatal) {
			sg_counter_add(c->m.restarts, 1);
			sg_prod_beat(c, 2000);
			sg_send_destroy(c);
			if (!txn_start(t))
				break;
		}
		rc = txn_fill(t);
		if (c->fatal)
			continue; /* recreated above, then replayed from the checkpoint */
		if (rc != SG_OK || (t->open && !t->n))
			txn_abort(t);
		else if (t->n)
			txn_commit(t);
		if (t->refusal.now && !c->fatal)
			sg_prod_refusal_wait(c, &t->refusal);
		rd_kafka_poll(c->rk, 0);
	}
}

static void txn_settle(struct sg_prod_ctx *c, void *st)
{
	(void)st;
	if (c->rk)
		rd_kafka_poll(c->rk, 0);
}

static void txn_close(struct sg_prod_ctx *c, void *st)
{
	struct txn *t = st;

	sg_send_destroy(c);
	if (!t)
		return;
	free(t->rejected);
	free(t->seq);
	free(t->ts);
	free(t->src);
	free(t);
}

static int txn_open(struct sg_prod_ctx *c, void **st, struct sg_errbuf *eb)
{
	struct txn *t = sg_xcalloc(1, sizeof(*t));
	int rc;

	t->c = c;
	t->refusal.backoff_ms = 1000;
	t->seq = sg_xcalloc((size_t)c->conf->kafka.txn_max_records, sizeof(*t->seq));
	t->ts = sg_xcalloc((size_t)c->conf->kafka.txn_max_records, sizeof(*t->ts));
	t->src = sg_xcalloc((size_t)c->conf->kafka.txn_max_records, sizeof(*t->src));
	if ((rc = txn_client(t, eb)) != SG_OK) {
		txn_close(c, t);
		return rc;
	}
	*st = t;
	return SG_OK;
}

const struct sg_prod_mode sg_prod_exactly_once = {
    .name = "exactly_once",
    .open = txn_open,
    .run = txn_run,
    .settle = txn_settle,
    .close = txn_close,
};
