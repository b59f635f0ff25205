/*
 * actuator.c - the command consumer.  See actuator.h for the record
 * format and the delivery rules.  Runs on a thread of its own; driver
 * write() callbacks are documented as callable from any thread.
 */
#include "actuator.h"

#include <errno.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/driver.h"
#include "gateway/kafka/client.h"
#include "gateway/base/log.h"
#include "gateway/core/metrics.h"
#include "gateway/base/buf.h"
#include "gateway/base/clock.h"
#include "gateway/base/mem.h"

struct sg_actuator {
	const struct sg_conf *conf;
	struct sg_pipeline *pl;
	rd_kafka_t *rk;
	pthread_t thr;
	_Atomic bool stop;
	struct sg_counter *m_ok, *m_err, *m_stale, *m_bad;
};

void sg_actuator_parse_value(const char *s, size_t n, struct sg_value *v)
{
	char buf[64], *end;

	v->type = SG_VAL_STR;
	v->s.p = s;
	v->s.len = n;
	if (n == 4 && !memcmp(s, "true", 4)) {
		v->type = SG_VAL_BOOL;
		v->b = true;
		return;
	}
	if (n == 5 && !memcmp(s, "false", 5)) {
		v->type = SG_VAL_BOOL;
		v->b = false;
		return;
	}
	if (n == 0 || n >= sizeof(buf))
		return;
	memcpy(buf, s, n);
	buf[n] = '\0';
	errno = 0;
	long long i = strtoll(buf, &end, 10);
	if (!errno && !*end) {
		v->type = SG_VAL_INT;
		v->i = i;
		return;
	}
	errno = 0;
	double d = strtod(buf, &end);
	if (!errno && !*end && isfinite(d)) {
		v->type = SG_VAL_DOUBLE;
		v->d = d;
	}
}

static void act_apply(struct sg_actuator *a, rd_kafka_message_t *m)
{
	static struct sg_log_rl rl;
	char source[80], target[160];
	const char *key = m->key, *slash;
	rd_kafka_timestamp_type_t tst;
	int64_t ts = rd_kafka_message_timestamp(m, &tst);
	struct sg_value v;
	struct sg_errbuf eb = {{0}};
	int rc;

	slash = key ? memchr(key, '/', m->key_len) : NULL;
	if (!slash || slash == key || (size_t)(slash - key) >= sizeof(source) ||
	    m->key_len - (size_t)(slash - key) - 1 >= sizeof(target) ||
	    slash + 1 == key + m->key_len) {
		sg_counter_add(a->m_bad, 1);
		sg_log_rl(&rl, SG_LOG_WARN, "actuator",
			  "command at %s/%d/%" PRId64 " ignored: key must be SOURCE/TARGET",
			  rd_kafka_topic_name(m->rkt), (int)m->partition, m->offset);
		return;
	}
	snprintf(source, sizeof(source), "%.*s", (int)(slash - key), key);
	snprintf(target, sizeof(target), "%.*s", (int)(m->key_len - (size_t)(slash - key) - 1),
		 slash + 1);
	if (ts > 0 && sg_now_ns() / SG_NS_PER_MS - ts > a->conf->actuators.max_age_ms) {
		sg_counter_add(a->m_stale, 1);
		sg_warn("actuator",
			"command %s/%s from %lld ms ago is older than max_age: not applied", source,
			target, (long long)(sg_now_ns() / SG_NS_PER_MS - ts));
		return;
	}
	sg_actuator_parse_value(m->payload ? m->payload : "", m->len, &v);
	rc = sg_pipeline_write(a->pl, source, target, &v, &eb);
	if (rc == SG_OK) {
		sg_counter_add(a->m_ok, 1);
		sg_info("actuator", "%s/%s <- %.*s", source, target, (int)m->len,
			(const char *)m->payload);
	} else {
		sg_counter_add(a->m_err, 1);
		sg_error("actuator", "%s/%s <- %.*s failed: %s", source, target, (int)m->len,
			 (const char *)m->payload, eb.msg[0] ? eb.msg : sg_strerror(rc));
	}
}

static void *act_main(void *arg)
{
	struct sg_actuator *a = arg;

	while (!atomic_load(&a->stop)) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(a->rk, 200);
		if (!m)
			continue;
		if (m->err) {
			if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
				sg_warn("actuator", "consumer: %s", rd_kafka_message_errstr(m));
		} else {
			act_apply(a, m);
			rd_kafka_commit_message(a->rk, m, 1);
		}
		rd_kafka_message_destroy(m);
	}
	return NULL;
}

int sg_actuator_start(const struct sg_conf *c, const char *bootstrap, struct sg_pipeline *pl,
		      struct sg_actuator **out, struct sg_errbuf *eb)
{
	struct sg_actuator *a;
	char group[128], cid[160];
	const char *topic = c->actuators.topic;
	/* A new group starts at the earliest offset: a command sent just
	 * before the gateway (re)joined is applied if it is fresh. */
	const struct sg_kafka_opts o = {
	    .kind = SG_KAFKA_CONSUMER,
	    .who = "actuator consumer",
	    .bootstrap = bootstrap,
	    .client_id = cid,
	    .props = &c->kafka.properties,
	    .security = &c->kafka.security,
	    .group = group,
	    .from_beginning = true,
	    .session_timeout_ms = 10000,
	};
	int rc;

	*out = NULL;
	if (!topic || !*topic)
		return SG_OK;
	a = sg_xcalloc(1, sizeof(*a));
	a->conf = c;
	a->pl = pl;
	snprintf(group, sizeof(group), "sensorgate-actuator-%s", c->gateway.id);
	snprintf(cid, sizeof(cid), "sensorgate-%s-actuator", c->gateway.id);
	if ((rc = sg_kafka_new(&o, &a->rk, eb)) != SG_OK) {
		free(a);
		return rc;
	}
	if ((rc = sg_kafka_subscribe(a->rk, &topic, 1, eb)) != SG_OK) {
		rd_kafka_destroy(a->rk);
		free(a);
		return rc;
	}
	a->m_ok = sg_metric("actuations", "result=\"ok\"", false);
	a->m_err = sg_metric("actuations", "result=\"error\"", false);
	a->m_stale = sg_metric("actuations", "result=\"stale\"", false);
	a->m_bad = sg_metric("actuations", "result=\"malformed\"", false);
	if (pthread_create(&a->thr, NULL, act_main, a) != 0) {
		rd_kafka_consumer_close(a->rk);
		rd_kafka_destroy(a->rk);
		free(a);
		return sg_errf(eb, SG_ERR, "actuators: cannot start the thread");
	}
	sg_info("actuator", "applying commands from topic %s (group %s)", c->actuators.topic,
		group);
	*out = a;
	return SG_OK;
}

void sg_actuator_stop(struct sg_actuator *a)
{
	if (!a)
		return;
	atomic_store(&a->stop, true);
	pthread_join(a->thr, NULL);
	rd_kafka_consumer_close(a->rk);
	rd_kafka_destroy(a->rk);
	free(a);
}
