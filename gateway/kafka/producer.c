/*
 * producer.c - the producer's public face: it owns the shared context
 * (producer_mode.h) and the thread, picks the delivery mode from
 * kafka.delivery (producer_alo.c or producer_txn.c) and drives it; the
 * mode does the Kafka work.
 */
#include "producer.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "client.h"
#include "gateway/base/log.h"
#include "gateway/base/mem.h"
#include "hold.h"
#include "producer_mode.h"
#include "producer_send.h"

struct sg_producer {
	struct sg_prod_ctx c;
	const struct sg_prod_mode *mode;
	void *st; /* the mode's state */
	pthread_t thr;
	bool running;
};

/* Append the lines of more that are not in eb yet. */
static void prod_merge_errors(struct sg_errbuf *eb, const struct sg_errbuf *more)
{
	const char *line = more->msg;

	while (*line) {
		const char *nl = strchr(line, '\n');
		size_t n = nl ? (size_t)(nl - line) : strlen(line), len = strlen(eb->msg);
		char one[sizeof(more->msg)];

		snprintf(one, sizeof(one), "%.*s", (int)n, line);
		if (!strstr(eb->msg, one))
			snprintf(eb->msg + len, sizeof(eb->msg) - len, "%s%s", len ? "\n" : "",
				 one);
		line += nl ? n + 1 : n;
	}
}

/* The producer's configuration and a consumer's (actuators, view, the
 * checkpoint reader get the same kafka.properties). */
int sg_producer_check_props(const struct sg_conf *conf, struct sg_errbuf *eb)
{
	const char *bs =
	    strcmp(conf->kafka.bootstrap, "embedded") ? conf->kafka.bootstrap : "localhost:9092";
	struct sg_kafka_opts po = sg_send_opts(conf, bs, "sensorgate-check");
	struct sg_kafka_opts co = {
	    .kind = SG_KAFKA_CONSUMER,
	    .who = "gateway's consumers",
	    .bootstrap = bs,
	    .props = &conf->kafka.properties,
	    .security = &conf->kafka.security,
	    .group = "sensorgate-check",
	};
	struct sg_errbuf ceb;
	int prc = sg_kafka_check(&po, eb), crc = sg_kafka_check(&co, &ceb);

	if (crc == SG_OK)
		return prc;
	if (prc == SG_OK)
		eb->msg[0] = '\0';
	prod_merge_errors(eb, &ceb);
	return SG_ECONFIG;
}

int sg_producer_new(const struct sg_conf *conf, const char *bootstrap, struct sg_spool *sp,
		    struct sg_producer **out, struct sg_errbuf *eb)
{
	struct sg_producer *p = sg_xcalloc(1, sizeof(*p));
	struct sg_prod_ctx *c = &p->c;
	const char *fault = getenv("SENSORGATE_FAULT_FATAL_AFTER");
	int rc;

	c->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (c->stop_fd < 0) {
		rc = sg_errf(eb, SG_EIO, "producer: eventfd: %s", strerror(errno));
		free(p);
		return rc;
	}

	p->mode = conf->kafka.delivery == SG_DELIVERY_EXACTLY_ONCE ? &sg_prod_exactly_once
								   : &sg_prod_at_least_once;
	c->conf = conf;
	c->sp = sp;
	c->bootstrap = sg_strdup(bootstrap ? bootstrap : conf->kafka.bootstrap);
	snprintf(c->client_id, sizeof(c->client_id), "sensorgate-%s", conf->gateway.id);
	sg_buf_init(&c->rec);
	sg_buf_init(&c->scratch);
	sg_prod_watch_init(c);
	/* Fault injection for tests: raise a fatal producer error once after
	 * N records, to exercise the recreate-and-resume path. */
	if (fault)
		c->fault_fatal_after = strtoull(fault, NULL, 10);
	c->m = (struct sg_prod_metrics){
	    .produced = sg_metric("produced", "", false),
	    .delivered = sg_metric("delivered", "", false),
	    .retry = sg_metric("delivery_retries", "", false),
	    .rejected = sg_metric("dropped", "reason=\"rejected_by_kafka\"", false),
	    .restarts = sg_metric("producer_restarts", "", false),
	    .inflight = sg_metric("in_flight", "", true),
	    .inflight_bytes = sg_metric("in_flight_bytes", "", true),
	    .oldest_age = sg_metric("oldest_undelivered_age_ms", "", true),
	    .kafka_errors = sg_metric("errors", "class=\"kafka\"", false),
	};
	if ((rc = sg_schema_enc_new(conf, &c->enc, eb)) != SG_OK ||
	    (rc = p->mode->open(c, &p->st, eb)) != SG_OK) {
		sg_producer_free(p);
		return rc;
	}
	*out = p;
	return SG_OK;
}

int64_t sg_producer_due_ns(const struct sg_producer *p)
{
	return atomic_load(&p->c.due_ns);
}

void sg_producer_health(struct sg_producer *p, struct sg_producer_health *h)
{
	struct sg_prod_ctx *c = &p->c;

	memset(h, 0, sizeof(*h));
	h->brokers_up = (int)atomic_load(&c->brokers_up);
	pthread_mutex_lock(&c->problem.mu);
	snprintf(h->conn, sizeof(h->conn), "%s", c->problem.conn);
	snprintf(h->refused, sizeof(h->refused), "%s", c->problem.refused);
	h->topics_refused = c->problem.nrefused;
	pthread_mutex_unlock(&c->problem.mu);
	if (c->hold)
		sg_hold_counts(c->hold, &h->topics_refused, &h->held, h->refused,
			       sizeof(h->refused));
}

static void *prod_thread(void *arg)
{
	struct sg_producer *p = arg;

	p->mode->run(&p->c, p->st);
	return NULL;
}

int sg_producer_start(struct sg_producer *p)
{
	if (pthread_create(&p->thr, NULL, prod_thread, p) != 0)
		return SG_ERR;
	pthread_setname_np(p->thr, "sg-producer");
	p->running = true;
	sg_info("producer", "delivery %s to %s", p->mode->name, p->c.bootstrap);
	return SG_OK;
}

void sg_producer_stop(struct sg_producer *p, int64_t timeout_ms)
{
	uint64_t undelivered;
	struct sg_spool_stats st;

	if (!p || !p->running)
		return;
	atomic_store(&p->c.stop_deadline, sg_now_mono_ns() + timeout_ms * SG_NS_PER_MS);
	atomic_store(&p->c.stop, true);
	if (write(p->c.stop_fd, &(uint64_t){1}, sizeof(uint64_t)) < 0)
		sg_warn("producer", "cannot wake the producer thread: %s", strerror(errno));
	pthread_join(p->thr, NULL);
	p->running = false;
	p->mode->settle(&p->c, p->st);
	sg_spool_stats(p->c.sp, &st);
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
	p->mode->close(&p->c, p->st);
	sg_schema_enc_free(p->c.enc);
	close(p->c.stop_fd);
	sg_buf_free(&p->c.rec);
	sg_buf_free(&p->c.scratch);
	free(p->c.bootstrap);
	sg_prod_watch_fini(&p->c);
	free(p);
}
