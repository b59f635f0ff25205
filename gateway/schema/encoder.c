/*
 * encoder.c - the producer's Avro encoder (encoder.h), inside
 * sensorgate-avro.so (avro_module.h): subject names, the id cache, the
 * backoff while the registry cannot help, and the wire format of values
 * and keys.
 */
#include "encoder.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "avro_codec.h"
#include "avro_module.h"
#include "gateway/base/clock.h"
#include "gateway/base/fs.h"
#include "gateway/base/log.h"
#include "gateway/base/mem.h"
#include "gateway/core/metrics.h"
#include "registry.h"
#include "wire.h"

#define ENC_BUCKETS     256
#define ENC_BACKOFF_MIN (500 * SG_NS_PER_MS)
#define ENC_SCHEMA_MAX  (1024 * 1024)
#define ENC_SUBJECT_MAX 512
#define ENC_REASONS     (SG_REG_OTHER + 1)

/* One subject's schema id. */
struct subj {
	struct subj *next;
	uint32_t id;
	char name[];
};

struct sg_avro_enc {
	const struct sg_registry_conf *rc;
	struct sg_registry *reg;
	struct sg_avro *av;
	char *schema; /* the value schema as registered */
	struct subj *tab[ENC_BUCKETS];
	struct sg_buf val, key;
	int64_t next_try_ns, backoff_ns; /* monotonic; while the registry cannot help */
	uint64_t failures;               /* since the last id */
	struct sg_counter *up, *requests, *errors[ENC_REASONS];
	struct sg_log_rl rl;
};

/* --- the id cache --------------------------------------------------------- */

static unsigned enc_hash(const char *s)
{
	unsigned h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h % ENC_BUCKETS;
}

static struct subj *enc_find(struct sg_avro_enc *e, const char *name)
{
	for (struct subj *s = e->tab[enc_hash(name)]; s; s = s->next)
		if (!strcmp(s->name, name))
			return s;
	return NULL;
}

static void enc_put(struct sg_avro_enc *e, const char *name, uint32_t id)
{
	size_t n = strlen(name) + 1;
	struct subj *s = sg_xcalloc(1, sizeof(*s) + n);
	unsigned h = enc_hash(name);

	memcpy(s->name, name, n);
	s->id = id;
	s->next = e->tab[h];
	e->tab[h] = s;
}

/* --- asking the registry ------------------------------------------------- */

static void enc_subject(const struct sg_avro_enc *e, const char *topic, size_t tl, bool key,
			char *out, size_t n)
{
	if (e->rc->subject_strategy == SG_SUBJECT_RECORD)
		snprintf(out, n, "%s", key ? "string" : sg_avro_fullname(e->av));
	else
		snprintf(out, n, "%.*s-%s", (int)tl, topic, key ? "key" : "value");
}

static void enc_failed(struct sg_avro_enc *e, enum sg_reg_reason why, const char *msg)
{
	int64_t max = e->rc->retry_max_ms * SG_NS_PER_MS;

	e->failures++;
	sg_counter_add(e->errors[why < ENC_REASONS ? why : SG_REG_OTHER], 1);
	sg_gauge_set(e->up, 0);
	e->backoff_ns = e->backoff_ns ? e->backoff_ns * 2 : ENC_BACKOFF_MIN;
	if (e->backoff_ns > max)
		e->backoff_ns = max;
	e->next_try_ns = sg_now_mono_ns() + e->backoff_ns;
	sg_log_rl(&e->rl, why == SG_REG_UNREACHABLE ? SG_LOG_WARN : SG_LOG_ERROR, "producer",
		  "%s (next try in %lld ms)", msg, (long long)(e->backoff_ns / SG_NS_PER_MS));
}

/* Register or look up one subject.  SG_OK (cached), or SG_EAGAIN. */
static int enc_ask(struct sg_avro_enc *e, const char *subject, const char *schema)
{
	struct sg_errbuf eb;
	enum sg_reg_reason why;
	uint32_t id;
	int rc;

	sg_counter_add(e->requests, 1);
	rc = e->rc->auto_register ? sg_registry_register(e->reg, subject, schema, &id, &why, &eb)
				  : sg_registry_lookup(e->reg, subject, schema, &id, &why, &eb);
	if (rc != SG_OK) {
		enc_failed(e, why, eb.msg);
		return SG_EAGAIN;
	}
	enc_put(e, subject, id);
	if (e->failures)
		sg_info("producer",
			"schema registry answers again: subject '%s' has schema id %" PRIu32
			" after %" PRIu64 " failed request(s); the waiting events follow",
			subject, id, e->failures);
	else
		sg_info("producer", "schema registry: subject '%s' has schema id %" PRIu32, subject,
			id);
	e->failures = 0;
	e->backoff_ns = 0;
	sg_gauge_set(e->up, 1);
	return SG_OK;
}

/* The id of subject (topic, key or value), asking the registry when it
 * is not cached and the backoff allows.  SG_OK or SG_EAGAIN. */
static int enc_id(struct sg_avro_enc *e, const char *topic, size_t tl, bool key, uint32_t *id)
{
	char subject[ENC_SUBJECT_MAX];
	struct subj *s;

	enc_subject(e, topic, tl, key, subject, sizeof(subject));
	if (!(s = enc_find(e, subject))) {
		if (e->next_try_ns && sg_now_mono_ns() < e->next_try_ns)
			return SG_EAGAIN;
		if (enc_ask(e, subject, key ? SG_AVRO_KEY_SCHEMA : e->schema) != SG_OK)
			return SG_EAGAIN;
		s = enc_find(e, subject);
	}
	*id = s->id;
	return SG_OK;
}

/* The subjects the configuration names, asked for once at start; the
 * first failure ends the round (records retry later with backoff). */
static void enc_warm(struct sg_avro_enc *e, const struct sg_conf *conf)
{
	const struct sg_source_conf *sv = conf->sources.items;
	char topic[256];
	uint32_t id;

	for (size_t i = 0; i < conf->sources.n; i++) {
		const char *tmpl = sv[i].topic ? sv[i].topic : conf->kafka.topic;

		if (!sv[i].enabled || strstr(tmpl, "{sensor}"))
			continue;
		sg_topic_expand(tmpl, conf->gateway.id, sv[i].name, "", topic, sizeof(topic));
		if (enc_id(e, topic, strlen(topic), false, &id) != SG_OK ||
		    (e->rc->key_format == SG_KEY_AVRO &&
		     enc_id(e, topic, strlen(topic), true, &id) != SG_OK))
			return;
	}
}

/* --- life ------------------------------------------------------------------ */

static int enc_schema(struct sg_avro_enc *e, struct sg_errbuf *eb)
{
	const char *file = e->rc->schema_file;
	size_t len;
	int rc;

	if (!file) {
		e->schema = sg_strdup(sg_avro_event_schema);
		len = strlen(e->schema);
	} else if (sg_read_file(file, ENC_SCHEMA_MAX, &e->schema, &len) != SG_OK) {
		return sg_errf(eb, SG_EIO, "schema_registry.schema_file %s: cannot read it", file);
	}
	rc = sg_avro_open(e->schema, len, &e->av, eb);
	if (rc != SG_OK && file) {
		struct sg_errbuf why = eb[0];
		return sg_errf(eb, SG_ECONFIG, "schema_registry.schema_file %s: %s", file, why.msg);
	}
	return rc;
}

static void enc_metrics(struct sg_avro_enc *e)
{
	char labels[64];

	e->up = sg_metric("schema_registry_up", "", true);
	e->requests = sg_metric("schema_registry_requests", "", false);
	for (int r = SG_REG_UNREACHABLE; r < ENC_REASONS; r++) {
		snprintf(labels, sizeof(labels), "reason=\"%s\"", sg_registry_reason_name(r));
		e->errors[r] = sg_metric("schema_registry_errors", labels, false);
	}
	e->errors[SG_REG_OK] = e->errors[SG_REG_OTHER];
}

int sg_avro_enc_new(const struct sg_conf *conf, struct sg_avro_enc **out, struct sg_errbuf *eb)
{
	struct sg_avro_enc *e;
	int rc;

	*out = NULL;
	if (conf->kafka.format != SG_FORMAT_AVRO)
		return SG_OK;
	e = sg_xcalloc(1, sizeof(*e));
	e->rc = &conf->schema_registry;
	sg_buf_init(&e->val);
	sg_buf_init(&e->key);
	if ((rc = enc_schema(e, eb)) != SG_OK ||
	    (rc = sg_registry_new(e->rc, &e->reg, eb)) != SG_OK) {
		sg_avro_enc_free(e);
		return rc;
	}
	enc_metrics(e);
	sg_info("producer", "values in Avro (%s), schema registry %s, subjects by %s name%s",
		sg_avro_fullname(e->av), e->rc->url,
		e->rc->subject_strategy == SG_SUBJECT_RECORD ? "record" : "topic",
		e->rc->auto_register ? "" : ", looked up only");
	enc_warm(e, conf);
	*out = e;
	return SG_OK;
}

void sg_avro_enc_free(struct sg_avro_enc *e)
{
	if (!e)
		return;
	for (int i = 0; i < ENC_BUCKETS; i++)
		for (struct subj *s = e->tab[i], *next; s; s = next) {
			next = s->next;
			free(s);
		}
	sg_registry_free(e->reg);
	sg_avro_close(e->av);
	free(e->schema);
	sg_buf_free(&e->val);
	sg_buf_free(&e->key);
	free(e);
}

/* --- rendering ------------------------------------------------------------- */

int sg_avro_enc_render(struct sg_avro_enc *e, struct sg_record *r, uint64_t seq,
		       struct sg_buf *scratch)
{
	bool avro_key = e->rc->key_format == SG_KEY_AVRO;
	uint32_t vid, kid = 0;
	int rc;

	if (r->version != SG_RECORD_V2 || r->raw)
		return sg_record_render(r, seq, scratch);
	if (enc_id(e, r->topic, r->topic_len, false, &vid) != SG_OK ||
	    (avro_key && enc_id(e, r->topic, r->topic_len, true, &kid) != SG_OK))
		return SG_EAGAIN;
	sg_buf_reset(&e->val);
	sg_wire_header(&e->val, vid);
	if ((rc = sg_avro_encode(e->av, r, seq, &e->val)) != SG_OK)
		return rc == SG_EINVAL ? SG_ECORRUPT : rc;
	if (avro_key) {
		sg_buf_reset(&e->key);
		sg_wire_header(&e->key, kid);
		if ((rc = sg_avro_encode_key(e->av, r->key, r->key_len, &e->key)) != SG_OK)
			return rc == SG_EINVAL ? SG_ECORRUPT : rc;
	}
	if ((rc = sg_record_render_headers(r, seq, SG_CONTENT_TYPE_AVRO, scratch)) != SG_OK)
		return rc;
	if (e->val.oom || e->key.oom)
		return SG_ENOMEM;
	r->value = e->val.p;
	r->value_len = (uint32_t)e->val.len;
	if (avro_key) {
		r->key = e->key.p;
		r->key_len = (uint32_t)e->key.len;
	}
	return SG_OK;
}
