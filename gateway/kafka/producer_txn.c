/*
 * producer_txn.c - exactly_once delivery: Kafka transactions.
 *
 * Each transaction carries a span of spool records (at most
 * kafka.transaction_records, open at most kafka.transaction_interval)
 * plus one checkpoint record, key = gateway id, value = the span's last
 * seq, to kafka.checkpoint_topic (compacted).  The spool cursor moves only
 * after the commit succeeds.  On start, the last committed checkpoint is
 * read with read_committed and the spool resumes after it, so a crash
 * between the commit and saving the cursor sends nothing twice: a
 * read_committed consumer sees every event exactly once.  This is the
 * pattern of Kafka Connect's exactly-once source connectors.
 *
 * Errors: a record Kafka refuses for good fails the transaction, which is
 * aborted; the record goes to rejected.log and is skipped on the replay.
 * Abortable errors abort and replay from the last commit; fatal errors
 * (fenced, say) recreate the producer and start over from the checkpoint.
 */
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "gateway/base/log.h"
#include "producer_internal.h"

static bool txn_rejected(const struct sg_producer *p, uint64_t seq)
{
	for (size_t i = 0; i < p->nrejected; i++)
		if (p->rejected[i] == seq)
			return true;
	return false;
}

void prod_txn_dr(struct sg_producer *p, const rd_kafka_message_t *m)
{
	uint64_t seq = (uint64_t)(uintptr_t)m->_private;

	if (!m->err || !seq)
		return; /* success counts at commit; seq 0 is the checkpoint */
	if (prod_err_permanent(m->err) && !txn_rejected(p, seq)) {
		uint64_t *r = realloc(p->rejected, (p->nrejected + 1) * sizeof(*r));
		if (!r)
			return;
		p->rejected = r;
		p->rejected[p->nrejected++] = seq;
		prod_reject(p, seq, m->payload, m->len, rd_kafka_topic_name(m->rkt),
			    rd_kafka_err2str(m->err));
	}
}

/* The seq of this gateway's last committed checkpoint, or 0. */
static uint64_t txn_read_checkpoint(struct sg_producer *p)
{
	const struct sg_conf *c = p->conf;
	rd_kafka_conf_t *kc = rd_kafka_conf_new();
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_topic_partition_list_t *tl;
	rd_kafka_topic_t *rkt;
	rd_kafka_t *rk;
	char err[256];
	uint64_t best = 0;
	int eofs = 0, nparts;
	int64_t deadline = sg_now_mono_ns() + 30 * SG_NS_PER_S;

	rd_kafka_conf_set(kc, "bootstrap.servers", p->bootstrap, err, sizeof(err));
	rd_kafka_conf_set(kc, "group.id", "sensorgate-checkpoint-reader", err, sizeof(err));
	rd_kafka_conf_set(kc, "isolation.level", "read_committed", err, sizeof(err));
	rd_kafka_conf_set(kc, "enable.partition.eof", "true", err, sizeof(err));
	rd_kafka_conf_set(kc, "enable.auto.commit", "false", err, sizeof(err));
	sg_kafka_conf_security(kc, c);
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, err, sizeof(err));
	if (!rk) {
		rd_kafka_conf_destroy(kc);
		sg_error("producer", "checkpoint reader: %s", err);
		return 0;
	}
	rkt = rd_kafka_topic_new(rk, c->kafka.checkpoint_topic, NULL);
	if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR ||
	    md->topic_cnt != 1 || md->topics[0].err || md->topics[0].partition_cnt < 1) {
		sg_info("producer", "no checkpoint topic %s yet: starting from the spool cursor",
			c->kafka.checkpoint_topic);
		goto out;
	}
	nparts = md->topics[0].partition_cnt;
	tl = rd_kafka_topic_partition_list_new(nparts);
	for (int i = 0; i < nparts; i++)
		rd_kafka_topic_partition_list_add(tl, c->kafka.checkpoint_topic, i)->offset =
		    RD_KAFKA_OFFSET_BEGINNING;
	rd_kafka_assign(rk, tl);
	rd_kafka_topic_partition_list_destroy(tl);
	while (eofs < nparts && sg_now_mono_ns() < deadline) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 500);
		if (!m)
			continue;
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			eofs++;
		} else if (!m->err && m->key_len == strlen(c->gateway.id) &&
			   !memcmp(m->key, c->gateway.id, m->key_len) && m->len < 32) {
			char num[32];
			snprintf(num, sizeof(num), "%.*s", (int)m->len, (const char *)m->payload);
			uint64_t v = strtoull(num, NULL, 10);
			if (v > best)
				best = v;
		}
		rd_kafka_message_destroy(m);
	}
	if (eofs < nparts)
		sg_warn("producer", "checkpoint topic %s not read to its end in 30 s",
			c->kafka.checkpoint_topic);
out:
	if (md)
		rd_kafka_metadata_destroy(md);
	rd_kafka_topic_destroy(rkt);
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	return best;
}

/* init_transactions, retried until it works or we are stopped. */
static bool txn_init(struct sg_producer *p)
{
	struct sg_errbuf eb;

	for (;;) {
		if (atomic_load(&p->stop))
			return false;
		if (!p->rk && prod_create(p, &eb) != SG_OK) {
			sg_error("producer", "%s", eb.msg);
		} else {
			rd_kafka_error_t *e = rd_kafka_init_transactions(p->rk, 30000);
			if (!e)
				return true;
			sg_warn("producer", "init_transactions: %s%s", rd_kafka_error_string(e),
				rd_kafka_error_is_fatal(e) ? " (fatal: recreating the producer)"
							   : "");
			if (rd_kafka_error_is_fatal(e)) {
				prod_destroy(p);
				sg_counter_add(p->m_restarts, 1);
			}
			rd_kafka_error_destroy(e);
		}
		poll(NULL, 0, 1000);
	}
}

/* Back to the last commit: the next transaction replays from there. */
static void txn_replay(struct sg_producer *p)
{
	p->have_rec = false;
	sg_spool_rewind(p->sp, p->committed);
}

static rd_kafka_resp_err_t txn_checkpoint(struct sg_producer *p, uint64_t seq)
{
	char v[32];
	int n = snprintf(v, sizeof(v), "%" PRIu64, seq);

	return rd_kafka_producev(p->rk, RD_KAFKA_V_TOPIC(p->conf->kafka.checkpoint_topic),
				 RD_KAFKA_V_KEY(p->conf->gateway.id, strlen(p->conf->gateway.id)),
				 RD_KAFKA_V_VALUE(v, (size_t)n),
				 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(NULL),
				 RD_KAFKA_V_END);
}

/* Fill one transaction.  Returns the number of records in it. */
static size_t txn_fill(struct sg_producer *p, uint64_t *last)
{
	const struct sg_kafka_conf *kc = &p->conf->kafka;
	int64_t until = sg_now_mono_ns() + kc->txn_interval_ms * SG_NS_PER_MS;
	size_t n = 0;
	struct sg_record r;

	while (n < (size_t)kc->txn_max_records && sg_now_mono_ns() < until) {
		if (!p->have_rec) {
			if (sg_spool_read(p->sp, &p->rec_seq, &p->rec) != SG_OK) {
				struct pollfd pfd = {.fd = sg_spool_read_fd(p->sp),
						     .events = POLLIN};
				if (!n && atomic_load(&p->stop))
					break;
				int ms = (int)((until - sg_now_mono_ns()) / SG_NS_PER_MS);
				poll(&pfd, 1, n ? (ms > 0 ? ms : 0) : 250);
				if (!n)
					until =
					    sg_now_mono_ns() + kc->txn_interval_ms * SG_NS_PER_MS;
				rd_kafka_poll(p->rk, 0);
				if (!n && atomic_load(&p->stop))
					break;
				continue;
			}
			if (txn_rejected(p, p->rec_seq))
				continue;
			p->have_rec = true;
		}
		if (sg_record_decode(p->rec.p, p->rec.len, &r) != SG_OK ||
		    sg_record_render(&r, p->rec_seq, &p->scratch) != SG_OK) {
			prod_reject(p, p->rec_seq, p->rec.p, p->rec.len, "-",
				    "undecodable spool record");
			p->have_rec = false;
			continue;
		}
		if (!n) {
			rd_kafka_error_t *e = rd_kafka_begin_transaction(p->rk);
			if (e) {
				sg_error("producer", "begin_transaction: %s",
					 rd_kafka_error_string(e));
				rd_kafka_error_destroy(e);
				p->fatal = true;
				return 0;
			}
		}
		rd_kafka_resp_err_t err = prod_produce(p, &r, (void *)(uintptr_t)p->rec_seq);
		if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
			rd_kafka_poll(p->rk, 50);
			continue;
		}
		if (err) {
			/* Refused locally (too large): reject it, keep going. */
			prod_reject(p, p->rec_seq, r.value, r.value_len, "-",
				    rd_kafka_err2str(err));
			uint64_t *rj = realloc(p->rejected, (p->nrejected + 1) * sizeof(*rj));
			if (rj) {
				p->rejected = rj;
				p->rejected[p->nrejected++] = p->rec_seq;
			}
			p->have_rec = false;
			continue;
		}
		p->txn_ts[n] = r.ts_ns;
		sg_counter_add(p->m_produced, 1);
		*last = p->rec_seq;
		p->have_rec = false;
		n++;
	}
	return n;
}

/* Commit the open transaction; returns true when it is committed. */
static bool txn_commit(struct sg_producer *p, uint64_t last, size_t n)
{
	rd_kafka_resp_err_t perr = txn_checkpoint(p, last);
	rd_kafka_error_t *e = NULL;

	if (perr) {
		sg_error("producer", "checkpoint record: %s", rd_kafka_err2str(perr));
		e = rd_kafka_error_new(perr, "checkpoint not produced");
	}
	for (int attempt = 0; !e || attempt < 1; attempt++) {
		if (!e)
			e = rd_kafka_commit_transaction(p->rk, 60000);
		if (!e) {
			int64_t now = sg_now_ns();
			p->committed = last;
			sg_spool_ack(p->sp, last);
			sg_counter_add(p->m_delivered, n);
			for (size_t i = 0; i < n; i++)
				sg_hist_add(
				    &sg_delivery_latency,
				    now > p->txn_ts[i] ? (uint64_t)(now - p->txn_ts[i]) / 1000 : 0);
			return true;
		}
		if (rd_kafka_error_is_retriable(e) && !atomic_load(&p->stop)) {
			rd_kafka_error_destroy(e);
			e = NULL;
			continue;
		}
		break;
	}
	sg_counter_add(p->m_retry, n);
	if (rd_kafka_error_txn_requires_abort(e)) {
		sg_warn("producer",
			"transaction up to seq %" PRIu64
			" aborted: %s; replaying from seq %" PRIu64,
			last, rd_kafka_error_string(e), p->committed + 1);
		rd_kafka_error_t *ae = rd_kafka_abort_transaction(p->rk, 60000);
		if (ae) {
			sg_error("producer", "abort_transaction: %s", rd_kafka_error_string(ae));
			p->fatal = true;
			rd_kafka_error_destroy(ae);
		}
	} else {
		sg_error("producer", "commit of the transaction up to seq %" PRIu64 " failed: %s",
			 last, rd_kafka_error_string(e));
		p->fatal = true;
	}
	rd_kafka_error_destroy(e);
	txn_replay(p);
	return false;
}

void *prod_txn_main(void *arg)
{
	struct sg_producer *p = arg;
	struct sg_spool_stats st;
	uint64_t ckpt;

	p->txn_ts = sg_xcalloc((size_t)p->conf->kafka.txn_max_records, sizeof(*p->txn_ts));
	if (!txn_init(p))
		return NULL;
	ckpt = txn_read_checkpoint(p);
	sg_spool_stats(p->sp, &st);
	p->committed = ckpt > st.acked_seq ? ckpt : st.acked_seq;
	if (ckpt > st.acked_seq)
		sg_info("producer",
			"checkpoint says seq %" PRIu64 " is committed (spool cursor %" PRIu64
			"): resuming after it, nothing is sent twice",
			ckpt, st.acked_seq);
	sg_spool_ack(p->sp, p->committed);
	txn_replay(p);
	for (;;) {
		uint64_t last = 0;
		size_t n;

		if (p->fatal) {
			sg_counter_add(p->m_restarts, 1);
			prod_destroy(p);
			if (!txn_init(p))
				break;
			txn_replay(p);
		}
		n = txn_fill(p, &last);
		if (n)
			txn_commit(p, last, n);
		rd_kafka_poll(p->rk, 0);
		if (atomic_load(&p->stop)) {
			sg_spool_stats(p->sp, &st);
			if (st.acked_seq + 1 >= st.next_seq ||
			    sg_now_mono_ns() >= atomic_load(&p->stop_deadline))
				break;
		}
	}
	return NULL;
}
