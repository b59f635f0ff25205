/*
 * client_errors.c - client errors logged once per change and counted by
 * name (client.h: sg_kafka_error_note), and the error callback of clients
 * whose caller has none (client_errors.h).
 *
 * librdkafka reports a failing connection on every reconnect attempt,
 * with a reason that ends in its own counters ("(after 5ms in state
 * AUTH_REQ, 4 identical error(s) suppressed)").  The counters are cut
 * before comparing, so a wrong password retried for an hour is one log
 * line with the broker's reason, and one more when it changes or heals.
 */
#include "client_errors.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "gateway/base/log.h"
#include "gateway/core/metrics.h"

bool sg_kafka_err_is_auth(int err)
{
	switch ((rd_kafka_resp_err_t)err) {
	case RD_KAFKA_RESP_ERR__AUTHENTICATION:
	case RD_KAFKA_RESP_ERR__SSL:
	case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
	case RD_KAFKA_RESP_ERR_UNSUPPORTED_SASL_MECHANISM:
	case RD_KAFKA_RESP_ERR_ILLEGAL_SASL_STATE:
	case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
	case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
	case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
	case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
	case RD_KAFKA_RESP_ERR_DELEGATION_TOKEN_AUTHORIZATION_FAILED: return true;
	default: return false;
	}
}

/* The reason without librdkafka's trailing "(after ...)" counters. */
static void kce_trim(const char *reason, char *out, size_t n)
{
	const char *cut = NULL;

	for (const char *p = reason; (p = strstr(p, " (after ")); p++)
		cut = p;
	snprintf(out, n, "%.*s", cut ? (int)(cut - reason) : (int)strlen(reason), reason);
}

static void kce_count(int err)
{
	char labels[96];

	snprintf(labels, sizeof(labels), "error=\"%s\"",
		 rd_kafka_err2name((rd_kafka_resp_err_t)err));
	sg_counter_add(sg_metric("kafka_errors", labels, false), 1);
}

void sg_kafka_error_note(struct sg_kafka_errlog *l, const rd_kafka_t *rk, int err,
			 const char *reason)
{
	char r[sizeof(l->reason)];
	bool auth = sg_kafka_err_is_auth(err);

	kce_count(err);
	kce_trim(reason ? reason : "", r, sizeof(r));
	if (l->err == err && !strcmp(l->reason, r))
		return;
	/* "All brokers are down" follows from the error already logged (a
	 * refused password): it does not replace it. */
	if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN && l->failing)
		return;
	l->err = err;
	snprintf(l->reason, sizeof(l->reason), "%s", r);
	snprintf(l->name, sizeof(l->name), "%s", rk ? rd_kafka_name(rk) : "kafka client");
	l->failing = true;
	sg_log(auth ? SG_LOG_ERROR : SG_LOG_WARN, "kafka", "%s: %s: %s%s", l->name,
	       rd_kafka_err2name((rd_kafka_resp_err_t)err), r,
	       auth ? " (a configuration or ACL problem: retried until fixed; docs/security.md)"
		    : "");
}

void sg_kafka_error_clear(struct sg_kafka_errlog *l)
{
	if (!l->failing)
		return;
	sg_info("kafka", "%s: connected (after %s)", l->name,
		rd_kafka_err2name((rd_kafka_resp_err_t)l->err));
	l->failing = false;
	l->err = 0;
	l->reason[0] = '\0';
}

/* --- clients without their own error callback ---------------------------- */

#define KCE_SLOTS 16

struct kce_slot {
	const char *who;
	struct sg_kafka_errlog log;
};

static struct kce_slot kce_slots[KCE_SLOTS];
static struct kce_slot kce_other = {.who = "kafka client"};
static pthread_mutex_t kce_mu = PTHREAD_MUTEX_INITIALIZER;

struct sg_kafka_errlog *sg_kafka_errlog_for(const char *who)
{
	struct kce_slot *s = &kce_other;

	pthread_mutex_lock(&kce_mu);
	for (size_t i = 0; i < KCE_SLOTS; i++) {
		if (kce_slots[i].who && strcmp(kce_slots[i].who, who))
			continue;
		s = &kce_slots[i];
		s->who = who;
		break;
	}
	pthread_mutex_unlock(&kce_mu);
	return &s->log;
}

void sg_kafka_default_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct kce_slot *s = (struct kce_slot *)((char *)opaque - offsetof(struct kce_slot, log));

	sg_kafka_error_note(&s->log, rk, err, reason);
}
