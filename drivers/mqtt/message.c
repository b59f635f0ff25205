/*
 * message.c - one MQTT message to one reading: pick the first rule whose
 * filter matches, expand the topic, key and sensor templates, and build
 * the reading in raw mode (payload bytes as the Kafka value) or JSON mode
 * (value, time, unit and sensor id found by JSON pointer, emitted as an
 * event envelope).  Bad input - no rule, oversize, invalid JSON, a missing
 * value - goes to the dead-letter topic with an sg-error header when one
 * is configured, and is always counted and logged (rate-limited).
 *
 * Runs inside libmosquitto's message callback on the source thread: the
 * emit below is the spool append that must finish before the callback
 * returns (see docs/mqtt.md for the acknowledgement window).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/base/log.h"
#include "mqtt.h"

#define MQ_MAX_HDRS 40

static struct sg_counter *map_counter(struct mq_map *m, const char *name)
{
	char labels[96];

	snprintf(labels, sizeof(labels), "source=\"%s\"", m->name);
	return sg_metric(name, labels, false);
}

static void map_error(struct mq_map *m, const char *cls)
{
	char labels[160];

	if (m->src) {
		sg_source_error(m->src, cls);
		return;
	}
	snprintf(labels, sizeof(labels), "source=\"%s\",class=\"%s\"", m->name, cls);
	sg_counter_add(sg_metric("errors", labels, false), 1);
}

int mq_map_init(struct mq_map *m, struct sg_source *src, const char *name, const struct mq_conf *c,
		struct sg_errbuf *eb)
{
	const struct mq_rule_conf *rc = c->rules.items;

	memset(m, 0, sizeof(*m));
	m->src = src;
	m->c = c;
	m->name = name;
	m->emit = sg_source_emit;
	m->rules = sg_xcalloc(c->rules.n ? c->rules.n : 1, sizeof(*m->rules));
	m->nrules = c->rules.n;
	for (size_t i = 0; i < c->rules.n; i++) {
		struct mq_rule *r = &m->rules[i];
		int err = SG_OK;

		r->c = &rc[i];
		if (rc[i].payload != MQ_PAYLOAD_JSON)
			continue;
		if ((rc[i].value && (err = mq_jptr_parse(rc[i].value, &r->value, eb))) ||
		    (rc[i].time && (err = mq_jptr_parse(rc[i].time, &r->time, eb))) ||
		    (rc[i].unit && (err = mq_jptr_parse(rc[i].unit, &r->unit, eb))) ||
		    (rc[i].sensor_ptr && (err = mq_jptr_parse(rc[i].sensor_ptr, &r->sensor, eb)))) {
			mq_map_fini(m);
			return err;
		}
	}
	m->m_msgs = map_counter(m, "mqtt_messages");
	m->m_bad = map_counter(m, "mqtt_bad_input");
	m->m_dead = map_counter(m, "mqtt_dead_lettered");
	m->m_unmatched = map_counter(m, "mqtt_unmatched");
	m->m_skipped_retained = map_counter(m, "mqtt_retained_skipped");
	m->m_lost = map_counter(m, "mqtt_lost_after_ack");
	return SG_OK;
}

void mq_map_summary(const struct mq_map *m)
{
	sg_info(m->name,
		"mqtt: messages %llu, bad input %llu (dead-lettered %llu, no rule %llu), "
		"retained skipped %llu, lost after ack %llu",
		(unsigned long long)sg_counter_get(m->m_msgs),
		(unsigned long long)sg_counter_get(m->m_bad),
		(unsigned long long)sg_counter_get(m->m_dead),
		(unsigned long long)sg_counter_get(m->m_unmatched),
		(unsigned long long)sg_counter_get(m->m_skipped_retained),
		(unsigned long long)sg_counter_get(m->m_lost));
}

void mq_map_fini(struct mq_map *m)
{
	for (size_t i = 0; m->rules && i < m->nrules; i++) {
		mq_jptr_free(&m->rules[i].value);
		mq_jptr_free(&m->rules[i].time);
		mq_jptr_free(&m->rules[i].unit);
		mq_jptr_free(&m->rules[i].sensor);
	}
	free(m->rules);
	m->rules = NULL;
}

/* The mqtt-* headers every record of this driver carries. */
struct mq_hdrs {
	struct sg_header h[MQ_MAX_HDRS];
	size_t n;
	char qos[2], retain[2];
};

static void hdrs_init(struct mq_hdrs *hs, const struct mq_msg *msg, bool uprops)
{
	hs->n = 0;
	hs->qos[0] = (char)('0' + msg->qos);
	hs->qos[1] = '\0';
	hs->retain[0] = msg->retain ? '1' : '0';
	hs->retain[1] = '\0';
	hs->h[hs->n++] = (struct sg_header){"mqtt-topic", msg->topic, strlen(msg->topic)};
	hs->h[hs->n++] = (struct sg_header){"mqtt-qos", hs->qos, 1};
	hs->h[hs->n++] = (struct sg_header){"mqtt-retain", hs->retain, 1};
	for (size_t i = 0; uprops && i < msg->nuprops && hs->n < MQ_MAX_HDRS - 1; i++)
		hs->h[hs->n++] = msg->uprops[i];
}

/* What happened to an emit, for flow control and loss accounting. */
static int map_emitted(struct mq_map *m, const struct mq_msg *msg, int rc)
{
	switch (rc) {
	case SG_OK:
	case SG_EDROPPED: /* the spool policy dropped it; counted by the core */ return SG_OK;
	case SG_EIO:
	case SG_ENOSPC:
	case SG_ESTOPPING:
		if (msg->qos > 0) {
			sg_counter_add(m->m_lost, 1);
			sg_log_rl(&m->rl_lost, SG_LOG_ERROR, m->name,
				  "message on \"%s\" (QoS %d) was acknowledged to the broker "
				  "but NOT stored (%s): LOST (mqtt_lost_after_ack)",
				  msg->topic, msg->qos, sg_strerror(rc));
		}
		m->last_rc = rc;
		return rc;
	default: map_error(m, "emit"); return SG_OK;
	}
}

/* Bad input: dead letter it when configured, count and log always. */
static int map_bad(struct mq_map *m, const struct mq_msg *msg, bool keep_payload, const char *why)
{
	struct sg_reading rd = {0};
	struct mq_hdrs hs;
	char sensor[256];

	map_error(m, "bad_input");
	sg_counter_add(m->m_bad, 1);
	sg_log_rl(&m->rl_bad, SG_LOG_WARN, m->name, "bad message on \"%s\" (%zu bytes): %s%s",
		  msg->topic, msg->len, why,
		  m->c->dead_letter_topic ? "; sent to the dead-letter topic" : "; dropped");
	if (!m->c->dead_letter_topic)
		return SG_OK;
	snprintf(sensor, sizeof(sensor), "%s", msg->topic);
	hdrs_init(&hs, msg, true);
	hs.h[hs.n++] = (struct sg_header){"sg-error", why, strlen(why)};
	rd.sensor = sensor;
	rd.key = msg->topic;
	rd.topic = m->c->dead_letter_topic;
	rd.raw = true;
	rd.value.type = SG_VAL_BYTES;
	rd.value.s.p = keep_payload ? msg->payload : "";
	rd.value.s.len = keep_payload ? msg->len : 0;
	rd.content_type = msg->content_type;
	rd.headers = hs.h;
	rd.nheaders = hs.n;
	sg_counter_add(m->m_dead, 1);
	return map_emitted(m, msg, m->emit(m->src, &rd));
}

static const struct mq_rule *map_rule(const struct mq_map *m, const char *topic)
{
	for (size_t i = 0; i < m->nrules; i++)
		if (mq_filter_match(m->rules[i].c->filter, topic))
			return &m->rules[i];
	return NULL;
}

/* A JSON string or scalar at ptr, as NUL-terminated text in b. */
static int json_text(const struct mq_msg *msg, const struct mq_jptr *ptr, struct sg_buf *b,
		     bool *found)
{
	struct mq_jval v;
	int rc = mq_json_find(msg->payload, msg->len, ptr, &v, NULL);

	*found = rc == SG_OK && v.type != MQ_J_NULL;
	if (!*found)
		return SG_OK;
	sg_buf_reset(b);
	if (v.type == MQ_J_STR)
		rc = mq_json_str(&v, b);
	else
		sg_buf_add(b, v.p, v.len);
	sg_buf_addc(b, '\0');
	return b->oom ? SG_ENOMEM : rc;
}

static int64_t time_scale(int unit)
{
	static const int64_t s[] = {SG_NS_PER_S, SG_NS_PER_MS, 1000, 1};
	return s[unit];
}

/* Fill rd from a JSON payload.  NULL on success, else why it is bad. */
static const char *map_json(struct mq_map *m, const struct mq_rule *r, const struct mq_msg *msg,
			    struct sg_reading *rd, struct sg_buf *vb, struct sg_buf *ub,
			    struct sg_buf *sb, char *why, size_t whysz)
{
	struct sg_errbuf eb;
	struct mq_jval v;
	bool found;
	int rc = mq_json_find(msg->payload, msg->len, &r->value, &v, &eb);

	(void)m;
	if (rc == SG_EINVAL) {
		snprintf(why, whysz, "%s", eb.msg);
		return why;
	}
	if (rc == SG_ENOTFOUND) {
		snprintf(why, whysz, "no value at JSON pointer \"%s\"", r->c->value);
		return why;
	}
	switch (v.type) {
	case MQ_J_NUM: mq_json_num(&v, &rd->value); break;
	case MQ_J_BOOL:
		rd->value.type = SG_VAL_BOOL;
		rd->value.b = v.p[0] == 't';
		break;
	case MQ_J_NULL:
		rd->value.type = SG_VAL_NONE;
		rd->quality = SG_Q_UNCERTAIN;
		rd->reason = "value is null";
		break;
	case MQ_J_STR:
	case MQ_J_ARR:
	case MQ_J_OBJ:
		sg_buf_reset(vb);
		if (v.type == MQ_J_STR)
			mq_json_str(&v, vb);
		else
			sg_buf_add(vb, v.p, v.len); /* nested JSON kept as its text */
		if (vb->oom)
			return "out of memory";
		rd->value.type = SG_VAL_STR;
		rd->value.s.p = vb->p ? vb->p : "";
		rd->value.s.len = vb->len;
		break;
	}
	if (r->c->unit && json_text(msg, &r->unit, ub, &found) == SG_OK && found)
		rd->unit = ub->p;
	if (r->c->sensor_ptr && json_text(msg, &r->sensor, sb, &found) == SG_OK && found) {
		if (!sb->p[0] || strlen(sb->p) > 255) {
			snprintf(why, whysz,
				 "sensor id at \"%s\" is empty or longer than 255 bytes",
				 r->c->sensor_ptr);
			return why;
		}
		rd->sensor = sb->p;
	}
	if (r->c->time && mq_json_find(msg->payload, msg->len, &r->time, &v, NULL) == SG_OK) {
		struct sg_value t;

		int64_t scale = time_scale(r->c->time_unit);

		if (v.type == MQ_J_NUM && mq_json_num(&v, &t) == SG_OK) {
			/* Integers exactly (a double loses ns); 0 = arrival time. */
			if (t.type == SG_VAL_INT && t.i > 0 && t.i <= INT64_MAX / scale)
				rd->ts_ns = t.i * scale;
			else if (t.type == SG_VAL_DOUBLE && t.d > 0 && t.d * (double)scale < 9.2e18)
				rd->ts_ns = (int64_t)(t.d * (double)scale);
		} else if (v.type != MQ_J_STR ||
			   mq_time_parse(v.p + 1, v.len - 2, &rd->ts_ns) != SG_OK) {
			snprintf(why, whysz,
				 "time at \"%s\" is neither a number nor an RFC 3339 string",
				 r->c->time);
			return why;
		}
	}
	return NULL;
}

int mq_map_message(struct mq_map *m, const struct mq_msg *msg)
{
	const struct mq_rule *r;
	struct mq_levels lv;
	struct sg_reading rd = {0};
	struct sg_errbuf eb;
	struct mq_hdrs hs;
	char sensor[256], key[1024], topic[250], why[600];
	struct sg_buf vb, ub, sb;
	const char *bad = NULL;
	int rc;

	sg_counter_add(m->m_msgs, 1);
	if (!(r = map_rule(m, msg->topic))) {
		sg_counter_add(m->m_unmatched, 1);
		return map_bad(m, msg, msg->len <= (size_t)m->c->max_payload,
			       "no rule matches the topic");
	}
	if (msg->retain && r->c->retained == MQ_RET_SKIP) {
		sg_counter_add(m->m_skipped_retained, 1);
		sg_log_rl(&m->rl_map, SG_LOG_DEBUG, m->name, "retained message on \"%s\" skipped",
			  msg->topic);
		return SG_OK;
	}
	if (msg->len > (size_t)m->c->max_payload) {
		snprintf(why, sizeof(why), "payload of %zu bytes exceeds max_payload (%" PRId64 ")",
			 msg->len, m->c->max_payload);
		return map_bad(m, msg, false, why);
	}
	mq_levels_split(msg->topic, &lv);
	if (lv.n < 0)
		return map_bad(m, msg, true, "more than 64 topic levels");
	if (mq_tmpl_expand(r->c->sensor ? r->c->sensor : "{topic}", MQ_TMPL_TEXT, msg->topic, &lv,
			   sensor, sizeof(sensor), &eb) ||
	    (r->c->topic && mq_tmpl_expand(r->c->topic, MQ_TMPL_TOPIC, msg->topic, &lv, topic,
					   sizeof(topic), &eb)) ||
	    (r->c->key &&
	     mq_tmpl_expand(r->c->key, MQ_TMPL_TEXT, msg->topic, &lv, key, sizeof(key), &eb)))
		return map_bad(m, msg, true, eb.msg);
	rd.sensor = sensor;
	rd.topic = r->c->topic ? topic : NULL;
	rd.key = r->c->key ? key : NULL;
	hdrs_init(&hs, msg, true);
	rd.headers = hs.h;
	rd.nheaders = hs.n;
	if (r->c->payload == MQ_PAYLOAD_RAW) {
		rd.raw = true;
		rd.value.type = SG_VAL_BYTES;
		rd.value.s.p = msg->len ? msg->payload : "";
		rd.value.s.len = msg->len;
		rd.content_type = r->c->content_type ? r->c->content_type : msg->content_type;
		return map_emitted(m, msg, m->emit(m->src, &rd));
	}
	sg_buf_init(&vb);
	sg_buf_init(&ub);
	sg_buf_init(&sb);
	bad = map_json(m, r, msg, &rd, &vb, &ub, &sb, why, sizeof(why));
	rc = bad ? map_bad(m, msg, true, bad) : map_emitted(m, msg, m->emit(m->src, &rd));
	sg_buf_free(&vb);
	sg_buf_free(&ub);
	sg_buf_free(&sb);
	return rc;
}
