/*
 * producer_watch.c - what the producer shows of itself, for both delivery
 * modes: delivered events per source, the brokers it is connected to
 * (from librdkafka's statistics, every second), and the connection
 * problem /ready reports while no broker is up (a wrong password, an
 * untrusted certificate: the broker's reason, as the error callback gave
 * it), and exactly_once's refused topic.  See producer_mode.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/base/log.h"
#include "producer_mode.h"
#include "security.h"

void sg_prod_watch_init(struct sg_prod_ctx *c)
{
	const struct sg_source_conf *sc = c->conf->sources.items;

	pthread_mutex_init(&c->problem.mu, NULL);
	atomic_store(&c->brokers_up, -1);
	sg_prod_beat(c, 0);
	c->w.txn_committed = sg_metric("transactions", "result=\"committed\"", false);
	c->w.txn_aborted = sg_metric("transactions", "result=\"aborted\"", false);
	c->w.topics_refused = sg_metric("kafka_topics_refused", "", true);
	c->w.held = sg_metric("kafka_held_records", "", true);
	snprintf(c->src.v[SG_PROD_MAX_SOURCES].name, sizeof(c->src.v[0].name), "%s",
		 SG_PROD_OTHER_SOURCE);
	for (size_t i = 0; i < c->conf->sources.n; i++)
		if (sc[i].name)
			sg_prod_source(c, sc[i].name, strlen(sc[i].name));
}

void sg_prod_watch_fini(struct sg_prod_ctx *c)
{
	pthread_mutex_destroy(&c->problem.mu);
}

static struct sg_counter *watch_src_counter(const char *name)
{
	char labels[96];

	snprintf(labels, sizeof(labels), "source=\"%s\"", name);
	return sg_metric("events_delivered", labels, false);
}

/* A name fit for a label value (source names are, by the config's rules;
 * a record from an old spool might not be). */
static bool watch_name_ok(const char *s, size_t len)
{
	if (!len || len >= sizeof(((struct sg_prod_sources *)0)->v[0].name))
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] == '"' || s[i] == '\\' || s[i] == '\n' || (unsigned char)s[i] < 0x20)
			return false;
	return true;
}

uint16_t sg_prod_source(struct sg_prod_ctx *c, const char *s, size_t len)
{
	struct sg_prod_sources *t = &c->src;

	for (size_t i = 0; i < t->n; i++)
		if (!strncmp(t->v[i].name, s, len) && !t->v[i].name[len])
			return (uint16_t)i;
	if (!watch_name_ok(s, len) || t->n == SG_PROD_MAX_SOURCES)
		return SG_PROD_MAX_SOURCES;
	snprintf(t->v[t->n].name, sizeof(t->v[0].name), "%.*s", (int)len, s);
	t->v[t->n].delivered = watch_src_counter(t->v[t->n].name);
	return (uint16_t)t->n++;
}

/* The brokers the producer has a connection to, as far as it knows:
 * the gauge, what the probes read, and a connection clears the
 * connection problem. */
static void watch_brokers(struct sg_prod_ctx *c, int up)
{
	if (!c->w.brokers_up) /* from now on the probes know */
		c->w.brokers_up = sg_metric("kafka_brokers_up", "", true);
	sg_gauge_set(c->w.brokers_up, (uint64_t)up);
	atomic_store(&c->brokers_up, up);
	if (up > 0) {
		sg_kafka_error_clear(&c->errlog);
		pthread_mutex_lock(&c->problem.mu);
		c->problem.conn[0] = '\0';
		pthread_mutex_unlock(&c->problem.mu);
	}
}

void sg_prod_delivered(struct sg_prod_ctx *c, uint16_t idx, uint64_t n)
{
	struct sg_counter **d;

	/* An acknowledgement proves a broker is there, before the next
	 * statistics say how many. */
	if (atomic_load_explicit(&c->brokers_up, memory_order_relaxed) <= 0)
		watch_brokers(c, 1);

	if (idx > SG_PROD_MAX_SOURCES)
		idx = SG_PROD_MAX_SOURCES;
	d = &c->src.v[idx].delivered;
	if (!*d) /* the other-sources row is registered when first used */
		*d = watch_src_counter(c->src.v[idx].name);
	sg_counter_add(c->m.delivered, n);
	sg_counter_add(*d, n);
}

/* The string value of "key":"..." at or after p, before end (NULL if none). */
static const char *watch_str(const char *p, const char *end, const char *key, size_t *n)
{
	const char *k = memmem(p, (size_t)(end - p), key, strlen(key)), *q;

	if (!k)
		return NULL;
	k += strlen(key);
	q = memchr(k, '"', (size_t)(end - k));
	if (!q)
		return NULL;
	*n = (size_t)(q - k);
	return k;
}

/* Broker ids seen UP in one statistics JSON (distinct). */
#define WATCH_MAX_IDS 64

static bool watch_broker_counts(const char *src, size_t ns, const char *st, size_t nt)
{
	/* Brokers from bootstrap.servers ("configured", their id learned from
	 * the metadata) or from the metadata ("learned"); not the internal
	 * and logical (coordinator) handles. */
	bool real =
	    (ns == 7 && !memcmp(src, "learned", 7)) || (ns == 10 && !memcmp(src, "configured", 10));

	return real && nt == 2 && !memcmp(st, "UP", 2);
}

int sg_prod_stats_brokers_up(const char *json, size_t len)
{
	const char *end = json + len;
	const char *b = memmem(json, len, "\"brokers\":{", 11), *stop, *p;
	long ids[WATCH_MAX_IDS];
	int up = 0;

	if (!b)
		return -1;
	/* The brokers object ends where the topics begin. */
	stop = memmem(b, (size_t)(end - b), "\"topics\":{", 10);
	if (!stop)
		stop = end;
	for (p = b; (p = memmem(p, (size_t)(stop - p), "\"nodeid\":", 9)); p += 9) {
		const char *next = memmem(p + 9, (size_t)(stop - p - 9), "\"nodeid\":", 9);
		const char *lim = next ? next : stop, *src, *st;
		size_t ns = 0, nt = 0;
		long id = strtol(p + 9, NULL, 10);
		bool seen = false;

		src = watch_str(p, lim, "\"source\":\"", &ns);
		st = watch_str(p, lim, "\"state\":\"", &nt);
		if (id < 0 || !src || !st || !watch_broker_counts(src, ns, st, nt))
			continue;
		for (int i = 0; i < up; i++)
			seen |= ids[i] == id;
		if (!seen && up < WATCH_MAX_IDS)
			ids[up++] = id;
	}
	return up;
}

void sg_prod_stats(struct sg_prod_ctx *c, const char *json, size_t len)
{
	int up = sg_prod_stats_brokers_up(json, len);

	if (up >= 0)
		watch_brokers(c, up);
}

void sg_prod_all_brokers_down(struct sg_prod_ctx *c)
{
	watch_brokers(c, 0);
}

void sg_prod_refused(struct sg_prod_ctx *c, unsigned topics, uint64_t held)
{
	sg_gauge_set(c->w.topics_refused, topics);
	sg_gauge_set(c->w.held, held);
}

void sg_prod_conn_error(struct sg_prod_ctx *c, const rd_kafka_t *rk, int err, const char *reason)
{
	const char *caveat = sg_kafka_security_caveat(&c->conf->kafka.security);
	bool fresh = c->errlog.err != err;

	sg_kafka_error_note(&c->errlog, rk, err, reason);
	if (fresh && caveat && c->errlog.err == err && err == RD_KAFKA_RESP_ERR__AUTHENTICATION)
		sg_warn("kafka", "%s: if the password is right: %s", c->errlog.name, caveat);
	if (atomic_load(&c->brokers_up) > 0)
		return; /* one broker gone while others serve: not why /ready fails */
	if (c->errlog.err != err)
		return; /* a consequence of the error shown (all brokers down) */
	pthread_mutex_lock(&c->problem.mu);
	snprintf(c->problem.conn, sizeof(c->problem.conn), "%s: %.200s",
		 rd_kafka_err2name((rd_kafka_resp_err_t)err), c->errlog.reason);
	pthread_mutex_unlock(&c->problem.mu);
}

/* --- exactly_once: a refused topic makes transactions wait --------------- */

void sg_prod_refusal_note(struct sg_prod_ctx *c, struct sg_prod_refusal *r, const char *topic,
			  size_t len, int err)
{
	r->now = true;
	if (r->shown && r->err == err && !strncmp(r->topic, topic, len) && !r->topic[len])
		return;
	snprintf(r->topic, sizeof(r->topic), "%.*s", (int)len, topic);
	r->err = err;
	r->shown = true;
	sg_error("producer",
		 "topic %s refused by Kafka: %s: %s. exactly_once cannot commit without it: "
		 "transactions wait and are tried again (every 1 s up to 30 s); the events stay "
		 "in the spool (docs/security.md)",
		 r->topic, rd_kafka_err2name((rd_kafka_resp_err_t)err),
		 rd_kafka_err2str((rd_kafka_resp_err_t)err));
	pthread_mutex_lock(&c->problem.mu);
	snprintf(c->problem.refused, sizeof(c->problem.refused), "topic %.200s: %s", r->topic,
		 rd_kafka_err2name((rd_kafka_resp_err_t)err));
	c->problem.nrefused = 1;
	pthread_mutex_unlock(&c->problem.mu);
	sg_prod_refused(c, 1, 0);
}

void sg_prod_refusal_over(struct sg_prod_ctx *c, struct sg_prod_refusal *r)
{
	r->backoff_ms = 1000;
	if (!r->shown)
		return;
	r->shown = false;
	sg_info("producer", "topic %s is taken again: transactions commit", r->topic);
	pthread_mutex_lock(&c->problem.mu);
	c->problem.refused[0] = '\0';
	c->problem.nrefused = 0;
	pthread_mutex_unlock(&c->problem.mu);
	sg_prod_refused(c, 0, 0);
}

void sg_prod_refusal_wait(struct sg_prod_ctx *c, struct sg_prod_refusal *r)
{
	int64_t until = sg_now_mono_ns() + r->backoff_ms * SG_NS_PER_MS;

	r->now = false;
	r->backoff_ms = r->backoff_ms * 2 > 30000 ? 30000 : r->backoff_ms * 2;
	while (!sg_prod_stopping(c) && sg_now_mono_ns() < until) {
		sg_prod_beat(c, 200);
		rd_kafka_poll(c->rk, 100);
	}
}
