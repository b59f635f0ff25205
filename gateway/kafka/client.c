/*
 * client.c - the one place where librdkafka configurations are built and
 * clients created (see client.h for the rules).  A build runs in three
 * passes over one rd_kafka_conf_t: our defaults for the kind, the user's
 * properties (filtered by librdkafka's own producer/consumer scope and
 * checked against the reserved keys), then the guarantees.  Every
 * rd_kafka_conf_set() result is looked at, and every refusal is one line
 * of the error buffer.
 */
#include "client.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "gateway/base/log.h"
#include "client_errors.h"
#include "gateway/base/mem.h"
#include "security.h"

/* --- librdkafka's property table: which side a key is for ------------ */

struct kc_scope {
	char *key;
	char scope;
};

static struct kc_scope *kc_scopes;
static size_t kc_nscopes;
static pthread_once_t kc_scopes_once = PTHREAD_ONCE_INIT;

static int kc_scope_cmp(const void *a, const void *b)
{
	return strcmp(((const struct kc_scope *)a)->key, ((const struct kc_scope *)b)->key);
}

/* One table row: "name   |  *  | range | default | ...". */
static void kc_scope_line(char *line, size_t *cap)
{
	char *bar = strchr(line, '|'), *end = line, *sc;

	if (!bar)
		return;
	while (end < bar && *end != ' ')
		end++;
	*end = '\0';
	sc = bar + 1;
	while (*sc == ' ')
		sc++;
	if (!*line || (*sc != '*' && *sc != 'C' && *sc != 'P') || sc[1] != ' ')
		return;
	if (!strcmp(line, "Property") || line[0] == '-')
		return;
	if (kc_nscopes == *cap) {
		size_t ncap = *cap ? *cap * 2 : 256;
		struct kc_scope *t = realloc(kc_scopes, ncap * sizeof(*t));
		if (!t)
			return; /* the key stays unknown: it reaches every client */
		kc_scopes = t;
		*cap = ncap;
	}
	kc_scopes[kc_nscopes++] = (struct kc_scope){sg_strdup(line), *sc};
}

static void kc_scopes_load(void)
{
	char *text = NULL, *line, *save = NULL;
	size_t len = 0, cap = 0;
	FILE *fp = open_memstream(&text, &len);

	if (!fp)
		return;
	rd_kafka_conf_properties_show(fp);
	fclose(fp);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		kc_scope_line(line, &cap);
	free(text);
	qsort(kc_scopes, kc_nscopes, sizeof(*kc_scopes), kc_scope_cmp);
}

char sg_kafka_prop_scope(const char *key)
{
	struct kc_scope k = {(char *)key, 0}, *f;

	pthread_once(&kc_scopes_once, kc_scopes_load);
	f = kc_nscopes ? bsearch(&k, kc_scopes, kc_nscopes, sizeof(k), kc_scope_cmp) : NULL;
	return f ? f->scope : 0;
}

/* --- logging ------------------------------------------------------------ */

int sg_kafka_log_level(int syslog_level)
{
	if (syslog_level <= 3)
		return SG_LOG_ERROR;
	if (syslog_level == 4)
		return SG_LOG_WARN;
	return syslog_level <= 6 ? SG_LOG_INFO : SG_LOG_DEBUG;
}

/* The only librdkafka log callback (librdkafka's threads call it).  A
 * broker connection failure (facility FAIL) also reaches the client's
 * error callback, which logs it once per change: here it is debug. */
static void kc_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
	int lvl = sg_kafka_log_level(level);

	if (!strcmp(fac, "FAIL") && lvl < SG_LOG_DEBUG)
		lvl = SG_LOG_DEBUG;
	sg_log((enum sg_log_level)lvl, "kafka", "%s: %s: %s", rd_kafka_name(rk), fac, buf);
}

/* librdkafka's log_level for ours, so it formats nothing we drop. */
static const char *kc_log_level(bool quiet)
{
	switch (quiet ? SG_LOG_ERROR : sg_log_get_level()) {
	case SG_LOG_QUIET:
	case SG_LOG_ERROR: return "3";
	case SG_LOG_WARN: return "4";
	case SG_LOG_INFO: return "6";
	default: return "7";
	}
}

/* --- building a configuration ------------------------------------------ */

enum kc_why { KC_DELIVERY, KC_BOOTSTRAP, KC_CONSUMER };

#define KC_PRODUCERS (1u << SG_KAFKA_PRODUCER | 1u << SG_KAFKA_PRODUCER_TXN)
#define KC_CONSUMERS (1u << SG_KAFKA_CONSUMER)

/* Keys a user may not set, for which kinds, and why. */
static const struct kc_reserved {
	const char *key;
	unsigned kinds;
	enum kc_why why;
} kc_reserved[] = {
    {.key = "enable.idempotence", .kinds = KC_PRODUCERS, .why = KC_DELIVERY},
    {.key = "acks", .kinds = KC_PRODUCERS, .why = KC_DELIVERY},
    {.key = "request.required.acks", .kinds = KC_PRODUCERS, .why = KC_DELIVERY},
    {.key = "transactional.id", .kinds = KC_PRODUCERS, .why = KC_DELIVERY},
    {.key = "dr_msg_cb", .kinds = KC_PRODUCERS, .why = KC_DELIVERY},
    {.key = "dr_cb", .kinds = KC_PRODUCERS, .why = KC_DELIVERY},
    {.key = "bootstrap.servers", .kinds = KC_PRODUCERS | KC_CONSUMERS, .why = KC_BOOTSTRAP},
    {.key = "metadata.broker.list", .kinds = KC_PRODUCERS | KC_CONSUMERS, .why = KC_BOOTSTRAP},
    {.key = "group.id", .kinds = KC_CONSUMERS, .why = KC_CONSUMER},
    {.key = "enable.auto.commit", .kinds = KC_CONSUMERS, .why = KC_CONSUMER},
    {.key = "auto.offset.reset", .kinds = KC_CONSUMERS, .why = KC_CONSUMER},
    {.key = "isolation.level", .kinds = KC_CONSUMERS, .why = KC_CONSUMER},
    {.key = "enable.partition.eof", .kinds = KC_CONSUMERS, .why = KC_CONSUMER},
};

struct kc_build {
	const struct sg_kafka_opts *o;
	rd_kafka_conf_t *kc;
	struct sg_errbuf *eb;
	size_t len; /* of eb->msg */
	int nrefused;
	struct sg_ksec_prop sec[SG_KSEC_MAX_PROPS]; /* what kafka.security set */
	size_t nsec;
};

static bool kc_producer(const struct sg_kafka_opts *o)
{
	return o->kind == SG_KAFKA_PRODUCER || o->kind == SG_KAFKA_PRODUCER_TXN;
}

/* Add one line to the error buffer. */
static void kc_refuse(struct kc_build *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void kc_refuse(struct kc_build *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	b->nrefused++;
	if (!b->eb || b->len + 2 >= sizeof(b->eb->msg))
		return;
	if (b->len)
		b->eb->msg[b->len++] = '\n';
	va_start(ap, fmt);
	n = vsnprintf(b->eb->msg + b->len, sizeof(b->eb->msg) - b->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		b->len += (size_t)n < sizeof(b->eb->msg) - b->len ? (size_t)n
								  : sizeof(b->eb->msg) - 1 - b->len;
}

/* Set key=val; `name` is how an error names it (NULL: the key itself). */
static void kc_set(struct kc_build *b, const char *key, const char *val, const char *name)
{
	char err[512];
	size_t n;

	if (rd_kafka_conf_set(b->kc, key, val, err, sizeof(err)) == RD_KAFKA_CONF_OK)
		return;
	for (n = strlen(err); n && (err[n - 1] == '\n' || err[n - 1] == ' '); n--)
		err[n - 1] = '\0'; /* some reasons end in a newline */
	/* Never the value: it may be a secret. */
	if (name)
		kc_refuse(b, "%s: %s", name, err);
	else
		kc_refuse(b, "%s: %s (a sensorgate default for the %s)", key, err, b->o->who);
}

static void kc_set_i64(struct kc_build *b, const char *key, int64_t v, const char *name)
{
	char num[32];

	snprintf(num, sizeof(num), "%" PRId64, v);
	kc_set(b, key, num, name);
}

static void kc_defaults(struct kc_build *b)
{
	const struct sg_kafka_opts *o = b->o;

	kc_set(b, "log_level", kc_log_level(o->quiet || o->kind == SG_KAFKA_MOCK_HOST), NULL);
	if (o->kind == SG_KAFKA_MOCK_HOST)
		return;
	kc_set(b, "client.id", o->client_id ? o->client_id : "sensorgate", NULL);
	if (o->stats_cb && o->stats_interval_ms > 0)
		kc_set_i64(b, "statistics.interval.ms", o->stats_interval_ms, NULL);
	if (kc_producer(o)) {
		kc_set(b, "linger.ms", "1", NULL);
		/* A transaction must finish within transaction.timeout.ms (60 s
		 * by default), and no message may outlive its transaction. */
		kc_set(b, "message.timeout.ms",
		       o->kind == SG_KAFKA_PRODUCER_TXN ? "55000" : "600000", NULL);
		/* The Java client's: a sensor's key maps to the same partition. */
		kc_set(b, "partitioner", "murmur2_random", NULL);
		if (o->max_queued > 0)
			kc_set_i64(b, "queue.buffering.max.messages", o->max_queued,
				   o->max_queued_key ? o->max_queued_key : "kafka.max_in_flight");
		if (o->max_queued_kbytes > 0)
			kc_set_i64(b, "queue.buffering.max.kbytes", o->max_queued_kbytes,
				   "kafka.max_in_flight_bytes");
	} else {
		if (o->session_timeout_ms > 0)
			kc_set_i64(b, "session.timeout.ms", o->session_timeout_ms, NULL);
		if (o->metadata_refresh_ms > 0)
			kc_set_i64(b, "topic.metadata.refresh.interval.ms", o->metadata_refresh_ms,
				   NULL);
	}
}

static const struct kc_reserved *kc_find_reserved(enum sg_kafka_kind kind, const char *key)
{
	for (size_t i = 0; i < sizeof(kc_reserved) / sizeof(kc_reserved[0]); i++)
		if ((kc_reserved[i].kinds & 1u << kind) && !strcmp(kc_reserved[i].key, key))
			return &kc_reserved[i];
	return NULL;
}

static void kc_refuse_reserved(struct kc_build *b, const char *label, const char *key,
			       enum kc_why why)
{
	const struct sg_kafka_opts *o = b->o;
	const char *bs = o->bootstrap_key ? o->bootstrap_key : "kafka.bootstrap";

	if (why == KC_DELIVERY)
		kc_refuse(b, "%s%s: set by the gateway (delivery guarantees); use kafka.delivery",
			  label, key);
	else if (why == KC_BOOTSTRAP && kc_producer(o))
		kc_refuse(b, "%s%s: set by the gateway (delivery guarantees); use %s", label, key,
			  bs);
	else if (why == KC_BOOTSTRAP)
		kc_refuse(b, "%s%s: set by sensorgate for the %s; use %s", label, key, o->who, bs);
	else if (!strcmp(key, "group.id") && o->group_key)
		kc_refuse(b, "%s%s: set by sensorgate for the %s; use %s", label, key, o->who,
			  o->group_key);
	else if (!strcmp(key, "group.id"))
		kc_refuse(b, "%s%s: set by sensorgate for the %s (each has its own group)", label,
			  key, o->who);
	else
		kc_refuse(b, "%s%s: set by sensorgate for the %s (offsets and isolation)", label,
			  key, o->who);
}

/* kafka.security's property that sets key (NULL if none). */
static const struct sg_ksec_prop *kc_security_sets(const struct kc_build *b, const char *key)
{
	const char *canon = sg_kafka_prop_canonical(key);

	for (size_t i = 0; i < b->nsec; i++)
		if (!strcmp(b->sec[i].key, canon))
			return &b->sec[i];
	return NULL;
}

/* The kafka.security section, unless this build cannot do it. */
static void kc_security(struct kc_build *b)
{
	const struct sg_kafka_opts *o = b->o;
	const char *label = o->security_key ? o->security_key : "kafka.security";
	char name[300], why[600];

	if (!o->security)
		return;
	if (!sg_kafka_security_supported(o->security, why, sizeof(why))) {
		kc_refuse(b, "%s.%s: %s", label,
			  o->security->sasl_mechanism != SG_KSASL_NONE ? "sasl_mechanism"
								       : "protocol",
			  why);
		return;
	}
	b->nsec = sg_kafka_security_props(o->security, b->sec, SG_KSEC_MAX_PROPS);
	for (size_t i = 0; i < b->nsec; i++) {
		snprintf(name, sizeof(name), "%s.%s", label, b->sec[i].name);
		kc_set(b, b->sec[i].key, b->sec[i].val, name);
	}
}

/* The user's properties that concern this kind of client. */
static void kc_user(struct kc_build *b, const struct sg_cfg_map *m, const char *label)
{
	const struct sg_kafka_opts *o = b->o;
	const struct sg_ksec_prop *sec;
	char name[300];

	for (size_t i = 0; m && i < m->n; i++) {
		const char *key = m->kv[i].key;
		const struct kc_reserved *r = kc_find_reserved(o->kind, key);
		char scope = sg_kafka_prop_scope(key);

		if (r) {
			kc_refuse_reserved(b, label, key, r->why);
			continue;
		}
		if (m == o->props && (sec = kc_security_sets(b, key))) {
			kc_refuse(b, "%s%s: also set by %s.%s; keep one of them", label, key,
				  o->security_key ? o->security_key : "kafka.security", sec->name);
			continue;
		}
		if ((scope == 'P' && !kc_producer(o)) || (scope == 'C' && kc_producer(o))) {
			sg_debug("kafka", "%s%s: a %s property, not applied to the %s", label, key,
				 scope == 'P' ? "producer" : "consumer", o->who);
			continue;
		}
		snprintf(name, sizeof(name), "%s%s", label, key);
		kc_set(b, key, m->kv[i].val, name);
	}
}

static void kc_guarantees(struct kc_build *b)
{
	const struct sg_kafka_opts *o = b->o;
	const char *bs = o->bootstrap_key ? o->bootstrap_key : "kafka.bootstrap";

	if (!o->bootstrap || !*o->bootstrap)
		kc_refuse(b, "%s: no bootstrap servers given", bs);
	else
		kc_set(b, "bootstrap.servers", o->bootstrap, bs);
	if (kc_producer(o)) {
		kc_set(b, "enable.idempotence", "true", NULL);
		kc_set(b, "acks", "all", NULL);
		/* Stable across restarts, so a restarted gateway fences its
		 * previous incarnation's open transaction. */
		if (o->kind == SG_KAFKA_PRODUCER_TXN && o->transactional_id && *o->transactional_id)
			kc_set(b, "transactional.id", o->transactional_id,
			       o->txn_id_key ? o->txn_id_key : "gateway.id");
		else if (o->kind == SG_KAFKA_PRODUCER_TXN)
			kc_refuse(b, "%s: no transactional id given",
				  o->txn_id_key ? o->txn_id_key : "gateway.id");
		if (o->dr_msg_cb)
			rd_kafka_conf_set_dr_msg_cb(b->kc, o->dr_msg_cb);
	} else {
		if (!o->group || !*o->group)
			kc_refuse(b, "%s: no consumer group given",
				  o->group_key ? o->group_key : "group.id");
		else
			kc_set(b, "group.id", o->group, o->group_key);
		kc_set(b, "enable.auto.commit", "false", NULL);
		kc_set(b, "auto.offset.reset", o->from_beginning ? "earliest" : "latest", NULL);
		kc_set(b, "isolation.level", "read_committed", NULL);
		kc_set(b, "enable.partition.eof", o->partition_eof ? "true" : "false", NULL);
	}
}

/* The configuration for o, or NULL with every refusal in eb. */
static rd_kafka_conf_t *kc_build(const struct sg_kafka_opts *o, struct sg_errbuf *eb)
{
	struct kc_build b = {.o = o, .kc = rd_kafka_conf_new(), .eb = eb};

	if (eb)
		eb->msg[0] = '\0';
	kc_defaults(&b);
	if (o->kind != SG_KAFKA_MOCK_HOST) {
		kc_security(&b);
		kc_user(&b, o->props, "kafka.properties.");
		kc_user(&b, o->overrides, "-X ");
		kc_guarantees(&b);
	}
	if (b.nrefused) {
		rd_kafka_conf_destroy(b.kc);
		return NULL;
	}
	rd_kafka_conf_set_log_cb(b.kc, kc_log_cb);
	if (o->kind == SG_KAFKA_MOCK_HOST) {
		rd_kafka_conf_set_opaque(b.kc, o->opaque);
		return b.kc;
	}
	if (o->stats_cb)
		rd_kafka_conf_set_stats_cb(b.kc, o->stats_cb);
	if (o->error_cb) {
		rd_kafka_conf_set_error_cb(b.kc, o->error_cb);
		rd_kafka_conf_set_opaque(b.kc, o->opaque);
	} else if (!o->opaque) {
		/* The layer's own: errors logged once per change, counted. */
		rd_kafka_conf_set_error_cb(b.kc, sg_kafka_default_error_cb);
		rd_kafka_conf_set_opaque(b.kc, sg_kafka_errlog_for(o->who));
	} else {
		rd_kafka_conf_set_opaque(b.kc, o->opaque);
	}
	return b.kc;
}

int sg_kafka_check(const struct sg_kafka_opts *o, struct sg_errbuf *eb)
{
	rd_kafka_conf_t *kc = kc_build(o, eb);

	if (!kc)
		return SG_ECONFIG;
	rd_kafka_conf_destroy(kc);
	return SG_OK;
}

/*
 * rd_kafka_new() with SG_KAFKA_TIMER_SLACK_NS of timer slack for the
 * threads it starts (they inherit it from this one, and the broker
 * threads made later inherit it from librdkafka's main thread); this
 * thread gets its own back.  librdkafka before 2.3.1 (Debian 12 has
 * 2.0.2) waits for its next timer with the timeout rounded down to the
 * millisecond and then serves its queue with a zero timeout until the
 * timer is due: a spin of up to 1 ms each time, about 0.08 % of a core
 * idle, most of what an idle client costs.  With the slack the kernel may
 * end such a wait up to that much later, which is after the timer is due,
 * so the spin goes; librdkafka's timers (linger.ms) fire up to that much
 * late.  Our own threads keep the default slack.
 */
static rd_kafka_t *kc_new_slack(rd_kafka_type_t type, rd_kafka_conf_t *kc, char *err, size_t n)
{
	int old = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
	rd_kafka_t *rk;

	if (old >= 0 && prctl(PR_SET_TIMERSLACK, SG_KAFKA_TIMER_SLACK_NS, 0, 0, 0) != 0)
		old = -1;
	rk = rd_kafka_new(type, kc, err, n);
	if (old >= 0)
		(void)prctl(PR_SET_TIMERSLACK, (unsigned long)old, 0, 0, 0);
	return rk;
}

int sg_kafka_new(const struct sg_kafka_opts *o, rd_kafka_t **out, struct sg_errbuf *eb)
{
	rd_kafka_conf_t *kc = kc_build(o, eb);
	rd_kafka_type_t type = o->kind == SG_KAFKA_CONSUMER ? RD_KAFKA_CONSUMER : RD_KAFKA_PRODUCER;
	char err[512];

	*out = NULL;
	if (!kc)
		return SG_ECONFIG;
	*out = kc_new_slack(type, kc, err, sizeof(err));
	if (!*out) {
		rd_kafka_conf_destroy(kc); /* not taken on failure */
		return sg_errf(eb, SG_EKAFKA, "%s: cannot create the Kafka client: %s", o->who,
			       err);
	}
	if (type == RD_KAFKA_CONSUMER)
		rd_kafka_poll_set_consumer(*out);
	return SG_OK;
}

int sg_kafka_subscribe(rd_kafka_t *rk, const char *const *topics, size_t n, struct sg_errbuf *eb)
{
	rd_kafka_topic_partition_list_t *tl = rd_kafka_topic_partition_list_new((int)n);
	rd_kafka_resp_err_t e;

	for (size_t i = 0; i < n; i++)
		rd_kafka_topic_partition_list_add(tl, topics[i], RD_KAFKA_PARTITION_UA);
	e = rd_kafka_subscribe(rk, tl);
	rd_kafka_topic_partition_list_destroy(tl);
	if (e)
		return sg_errf(eb, SG_EKAFKA, "subscribe: %s: %s", rd_kafka_err2name(e),
			       rd_kafka_err2str(e));
	return SG_OK;
}
