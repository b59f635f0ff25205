/*
 * producer_send.c - sending one spool record, shared by both delivery
 * modes (see producer_send.h).
 */
#include "producer_send.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "gateway/base/log.h"

struct sg_kafka_opts sg_send_opts(const struct sg_conf *conf, const char *bootstrap,
				  const char *client_id)
{
	bool txn = conf->kafka.delivery == SG_DELIVERY_EXACTLY_ONCE;

	return (struct sg_kafka_opts){
	    .kind = txn ? SG_KAFKA_PRODUCER_TXN : SG_KAFKA_PRODUCER,
	    .who = "producer",
	    .bootstrap = bootstrap,
	    .client_id = client_id,
	    .props = &conf->kafka.properties,
	    .security = &conf->kafka.security,
	    .transactional_id = txn ? client_id : NULL,
	    /* librdkafka's queue holds what is in flight, plus room for the
	     * checkpoint records and the resend after a rewind. */
	    .max_queued = conf->kafka.max_in_flight + 1000,
	    /* A backstop in bytes: the window (producer_alo.c) keeps what is
	     * in flight below max_in_flight_bytes already. */
	    .max_queued_kbytes = (2 * conf->kafka.max_in_flight_bytes + (1 << 20)) / 1024,
	};
}

bool sg_send_permanent(rd_kafka_resp_err_t e)
{
	switch (e) {
	case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
	case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
	case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
	case RD_KAFKA_RESP_ERR_INVALID_RECORD:
	case RD_KAFKA_RESP_ERR_INVALID_MSG:
	case RD_KAFKA_RESP_ERR__INVALID_ARG: return true;
	default: return false;
	}
}

bool sg_send_holds(rd_kafka_resp_err_t e)
{
	return e == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
	       e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
	       e == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
}

void sg_send_reject(struct sg_prod_ctx *c, uint64_t seq, const void *payload, size_t len,
		    const char *topic, const char *why)
{
	static struct sg_log_rl rl;
	char reason[512];

	snprintf(reason, sizeof(reason), "topic %s: %s", topic, why);
	sg_counter_add(c->m.rejected, 1);
	sg_log_rl(&rl, SG_LOG_ERROR, "producer",
		  "event %s:%" PRIu64 " refused by Kafka (%s): kept in %s/rejected.log",
		  c->conf->gateway.id, seq, reason, c->conf->spool.dir);
	if (sg_spool_reject(c->sp, seq, payload, len, reason) != SG_OK)
		sg_error("producer", "cannot write rejected.log: %s", strerror(errno));
}

void sg_send_reject_err(struct sg_prod_ctx *c, uint64_t seq, const void *payload, size_t len,
			const char *topic, rd_kafka_resp_err_t e)
{
	char why[300];

	snprintf(why, sizeof(why), "%s: %s", rd_kafka_err2name(e), rd_kafka_err2str(e));
	sg_send_reject(c, seq, payload, len, topic, why);
}

int sg_send_prepare(struct sg_prod_ctx *c, struct sg_record *r)
{
	int rc;

	if (sg_record_decode(c->rec.p, c->rec.len, r) != SG_OK) {
		sg_send_reject(c, c->rec_seq, c->rec.p, c->rec.len, "-",
			       "undecodable spool record");
		return SG_ECORRUPT;
	}
	r->epoch = sg_spool_epoch(c->sp); /* the id unique across spool loss */
	r->epoch_len = (uint16_t)strlen(r->epoch);
	rc = c->enc ? sg_schema_enc_render(c->enc, r, c->rec_seq, &c->scratch)
		    : sg_record_render(r, c->rec_seq, &c->scratch);
	if (rc == SG_EAGAIN)
		return rc; /* the schema registry: the encoder logged and counted it */
	if (rc == SG_ECORRUPT) {
		sg_send_reject(c, c->rec_seq, c->rec.p, c->rec.len, "-",
			       "spool record that cannot be encoded in Avro");
		return rc;
	}
	if (rc != SG_OK) {
		static struct sg_log_rl rl;
		sg_log_rl(&rl, SG_LOG_ERROR, "producer",
			  "out of memory rendering seq %" PRIu64 ": trying again", c->rec_seq);
		return SG_ENOMEM;
	}
	return SG_OK;
}

void sg_send_topics_clear(struct sg_send_topics *t)
{
	for (unsigned i = 0; i < t->n; i++)
		rd_kafka_topic_destroy(t->v[i].rkt);
	t->n = t->last = t->next = 0;
}

/* The handle of topic[0..len) (len < 256, no NUL in it), made on first
 * use; NULL if librdkafka cannot make one (then the name is used). */
static rd_kafka_topic_t *send_topic(rd_kafka_t *rk, struct sg_send_topics *t, const char *topic,
				    size_t len)
{
	unsigned i = t->last;
	rd_kafka_topic_t *rkt;
	char name[256];

	if (i < t->n && t->v[i].len == len && !memcmp(t->v[i].name, topic, len))
		return t->v[i].rkt;
	for (i = 0; i < t->n; i++)
		if (t->v[i].len == len && !memcmp(t->v[i].name, topic, len)) {
			t->last = i;
			return t->v[i].rkt;
		}
	memcpy(name, topic, len);
	name[len] = '\0';
	if (!(rkt = rd_kafka_topic_new(rk, name, NULL)))
		return NULL;
	if (t->n < SG_SEND_TOPICS) {
		i = t->n++;
	} else {
		i = t->next;
		t->next = (t->next + 1) % SG_SEND_TOPICS;
		rd_kafka_topic_destroy(t->v[i].rkt); /* records in flight keep theirs */
	}
	t->v[i].rkt = rkt;
	t->v[i].len = (uint16_t)len;
	memcpy(t->v[i].name, name, len + 1);
	t->last = i;
	return rkt;
}

rd_kafka_resp_err_t sg_send_produce(rd_kafka_t *rk, struct sg_send_topics *t,
				    const struct sg_record *r, void *opaque)
{
	rd_kafka_topic_t *rkt;
	rd_kafka_headers_t *hdrs = rd_kafka_headers_new(r->nheaders);
	rd_kafka_resp_err_t err;
	size_t pos = 0, nl, vl;
	const char *name;
	const void *val;
	char topic[256];
	/* What "%.*s" into topic[] made of it: cut at a NUL or at 255 bytes
	 * (decode passes up to 65535; Kafka refuses past 249 either way). */
	size_t tn =
	    strnlen(r->topic, r->topic_len < sizeof(topic) ? r->topic_len : sizeof(topic) - 1);

	while (sg_record_header_next(r, &pos, &name, &nl, &val, &vl))
		rd_kafka_header_add(hdrs, name, (ssize_t)nl, val, (ssize_t)vl);
	rkt = t ? send_topic(rk, t, r->topic, tn) : NULL;
	if (!rkt) {
		memcpy(topic, r->topic, tn);
		topic[tn] = '\0';
	}
	if (rkt)
		err = rd_kafka_producev(rk, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_KEY(r->key, r->key_len),
					RD_KAFKA_V_VALUE((void *)r->value, r->value_len),
					RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
					RD_KAFKA_V_TIMESTAMP(r->ts_ns / SG_NS_PER_MS),
					RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(opaque),
					RD_KAFKA_V_END);
	else
		err = rd_kafka_producev(
		    rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(r->key, r->key_len),
		    RD_KAFKA_V_VALUE((void *)r->value, r->value_len),
		    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
		    RD_KAFKA_V_TIMESTAMP(r->ts_ns / SG_NS_PER_MS), RD_KAFKA_V_HEADERS(hdrs),
		    RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
	if (err)
		rd_kafka_headers_destroy(hdrs); /* ownership passes only on success */
	return err;
}

void sg_send_count(struct sg_prod_ctx *c)
{
	sg_counter_add(c->m.produced, 1);
	if (++c->nproduced == c->fault_fatal_after)
		rd_kafka_test_fatal_error(c->rk, RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
					  "injected by SENSORGATE_FAULT_FATAL_AFTER");
}

void sg_send_error(struct sg_prod_ctx *c, rd_kafka_t *rk, int err, const char *reason)
{
	static struct sg_log_rl rl;
	char fatal[512];
	rd_kafka_resp_err_t orig;

	sg_counter_add(c->m.kafka_errors, 1);
	if (err == RD_KAFKA_RESP_ERR__FATAL) {
		orig = rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
		sg_log_rl(&rl, SG_LOG_ERROR, "producer",
			  "fatal producer error: %s: %s; recreating the producer",
			  rd_kafka_err2name(orig), fatal);
		sg_prod_conn_error(c, rk, orig, fatal);
		c->fatal = true;
		return;
	}
	if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
		sg_prod_all_brokers_down(c);
	sg_prod_conn_error(c, rk, err, reason);
}

void sg_send_destroy(struct sg_prod_ctx *c)
{
	if (!c->rk)
		return;
	rd_kafka_purge(c->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
	rd_kafka_poll(c->rk, 0);
	rd_kafka_flush(c->rk, 1000);
	sg_send_topics_clear(&c->topics);
	rd_kafka_destroy(c->rk);
	c->rk = NULL;
}
