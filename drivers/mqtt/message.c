/*
 * message.c - one MQTT message to the events of every rule that takes it,
 * appended to the spool together, or to one dead letter.
 *
 * Rules are tried in order.  A rule takes a message when its filter
 * matches the topic and its condition (`if_pointer`, `if_equals`) holds;
 * the first rule that takes it is the last one tried unless it says
 * `continue: true`.  Each rule that takes the message adds its readings
 * (fanout.c) to the message's batch, in rule order and, within a rule, in
 * field or document order; the batch is then handed to the core in one
 * sg_source_emit_batch(), which appends all of it or none of it.  So a
 * message is either mapped whole or not at all: when any rule fails (bad
 * JSON, a missing or mistyped field, a bad time under `bad_time:
 * dead_letter`, too many events) nothing of it is stored but its dead
 * letter: the original bytes (the first dead_letter_head bytes when it is
 * over max_payload, or when the spool refuses it whole), the mqtt-*
 * headers, and sg-error, sg-error-reason, sg-error-rule and sg-error-field
 * saying which rule and field failed and why.  Every bad message is
 * counted by reason and logged (rate-limited).
 *
 * Runs inside libmosquitto's message callback on the source thread: the
 * emit below is the spool append that must finish before the callback
 * returns (see docs/mqtt.md for the acknowledgement window, which stays
 * one message however many events it makes).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/base/log.h"
#include "mqtt.h"

const char *const mq_bad_reasons[MQ_NREASONS] = {
    "no_rule",       "oversize",     "topic_levels",  "template",        "invalid_json",
    "too_deep",      "invalid_utf8", "duplicate_key", "non_finite",      "missing_field",
    "wrong_type",    "bad_number",   "bad_time",      "too_many_events", "no_events",
    "spool_refused", "no_memory",
};

/* Keep at most this much scratch between messages. */
#define MQ_KEEP_TOKENS 65536
#define MQ_KEEP_BYTES  65536

static struct sg_counter *map_counter(struct mq_map *m, const char *name, const char *extra)
{
	char labels[96];

	snprintf(labels, sizeof(labels), "source=\"%s\"%s%s", m->name, extra ? "," : "",
		 extra ? extra : "");
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

static void map_counters(struct mq_map *m)
{
	char extra[64];

	m->m_msgs = map_counter(m, "mqtt_messages", NULL);
	for (int q = 0; q < 3; q++) {
		snprintf(extra, sizeof(extra), "qos=\"%d\"", q);
		m->m_msgs_qos[q] = map_counter(m, "mqtt_messages_by_qos", extra);
	}
	m->m_events = map_counter(m, "mqtt_events", NULL);
	m->m_fanout = map_counter(m, "mqtt_fanout_messages", NULL);
	m->m_bad = map_counter(m, "mqtt_bad_input", NULL);
	m->m_dead = map_counter(m, "mqtt_dead_lettered", NULL);
	m->m_unmatched = map_counter(m, "mqtt_unmatched", NULL);
	m->m_skipped_retained = map_counter(m, "mqtt_retained_skipped", NULL);
	m->m_empty = map_counter(m, "mqtt_empty", NULL);
	m->m_lost = map_counter(m, "mqtt_lost_after_ack", NULL);
	for (size_t i = 0; i < MQ_NREASONS; i++) {
		snprintf(extra, sizeof(extra), "reason=\"%s\"", mq_bad_reasons[i]);
		m->m_reason[i] = map_counter(m, "mqtt_bad_input_by_reason", extra);
	}
	for (int f = MQ_TF_MISSING; f < MQ_TF_N; f++) {
		snprintf(extra, sizeof(extra), "reason=\"%s\"", mq_tfail_name(f));
		m->m_time[f] = map_counter(m, "mqtt_time_failures", extra);
	}
	m->m_time[MQ_TF_OK] = m->m_time[MQ_TF_MISSING]; /* never counted */
}

int mq_map_init(struct mq_map *m, struct sg_source *src, const char *name, const struct mq_conf *c,
		struct sg_errbuf *eb)
{
	const struct mq_rule_conf *rc = c->rules.items;

	memset(m, 0, sizeof(*m));
	m->src = src;
	m->c = c;
	m->name = name;
	m->emit = sg_source_emit_batch;
	m->max_events = c->max_events > 0 ? (size_t)c->max_events : MQ_MAX_EVENTS_DEFAULT;
	mq_jdoc_init(&m->w.doc);
	sg_buf_init(&m->w.path);
	m->rules = sg_xcalloc(c->rules.n ? c->rules.n : 1, sizeof(*m->rules));
	for (size_t i = 0; i < c->rules.n; i++) {
		int err = mq_rule_compile(&m->rules[i], &rc[i], i, eb);
		if (err != SG_OK) {
			mq_map_fini(m);
			return err;
		}
		m->nrules = i + 1;
	}
	map_counters(m);
	return SG_OK;
}

void mq_map_summary(const struct mq_map *m)
{
	uint64_t tf = 0;

	for (int f = MQ_TF_UNPARSABLE; f < MQ_TF_N; f++)
		tf += sg_counter_get(m->m_time[f]);
	sg_info(m->name,
		"mqtt: messages %llu, events %llu, bad input %llu (dead-lettered %llu, no rule "
		"%llu), retained skipped %llu, empty %llu, device time unusable %llu, lost after "
		"ack %llu",
		(unsigned long long)sg_counter_get(m->m_msgs),
		(unsigned long long)sg_counter_get(m->m_events),
		(unsigned long long)sg_counter_get(m->m_bad),
		(unsigned long long)sg_counter_get(m->m_dead),
		(unsigned long long)sg_counter_get(m->m_unmatched),
		(unsigned long long)sg_counter_get(m->m_skipped_retained),
		(unsigned long long)sg_counter_get(m->m_empty), (unsigned long long)tf,
		(unsigned long long)sg_counter_get(m->m_lost));
}

void mq_map_fini(struct mq_map *m)
{
	for (size_t i = 0; m->rules && i < m->nrules; i++)
		mq_rule_free(&m->rules[i]);
	free(m->rules);
	m->rules = NULL;
	m->nrules = 0;
	mq_jdoc_free(&m->w.doc);
	sg_buf_free(&m->w.path);
	mq_arena_free(&m->w.ar);
	free(m->w.rd);
	m->w.rd = NULL;
	m->w.cap = m->w.n = 0;
}

static void hdrs_init(struct mq_hdrs *hs, const struct mq_msg *msg)
{
	hs->n = 0;
	hs->qos[0] = (char)('0' + msg->qos);
	hs->qos[1] = '\0';
	hs->retain[0] = msg->retain ? '1' : '0';
	hs->retain[1] = '\0';
	hs->h[hs->n++] = (struct sg_header){"mqtt-topic", msg->topic, strlen(msg->topic)};
	hs->h[hs->n++] = (struct sg_header){"mqtt-qos", hs->qos, 1};
	hs->h[hs->n++] = (struct sg_header){"mqtt-retain", hs->retain, 1};
	for (size_t i = 0; i < msg->nuprops && hs->n < MQ_MAX_HDRS - MQ_DEAD_HDRS; i++)
		hs->h[hs->n++] = msg->uprops[i];
}

static void work_begin(struct mq_work *w, const struct mq_msg *msg)
{
	w->msg = msg;
	w->arrival_ns = sg_now_ns();
	w->doc_state = 0;
	w->n = 0;
	mq_levels_split(msg->topic, &w->lv);
	hdrs_init(&w->hs, msg);
}

/* Give back what one huge message made the scratch grow to. */
static void work_end(struct mq_work *w)
{
	mq_arena_reset(&w->ar);
	if (w->doc.cap > MQ_KEEP_TOKENS || w->doc.kcap > MQ_KEEP_TOKENS ||
	    w->doc.kbuf.cap > MQ_KEEP_BYTES) {
		mq_jdoc_free(&w->doc);
		mq_jdoc_init(&w->doc);
	}
	if (w->path.cap > MQ_KEEP_BYTES)
		sg_buf_free(&w->path);
	w->msg = NULL;
}

/* What happened to an emit, for flow control and loss accounting. */
static int map_emitted(struct mq_map *m, const struct mq_msg *msg, size_t n, int rc)
{
	switch (rc) {
	case SG_OK:
	case SG_EDROPPED: /* the spool policy dropped it; counted by the core */ return SG_OK;
	case SG_EIO:
	case SG_ENOSPC:
	case SG_ESTOPPING:
		if (msg->qos > 0) {
			sg_counter_add(m->m_lost, 1);
			sg_log_rl(
			    &m->rl_lost, SG_LOG_ERROR, m->name,
			    "message on \"%s\" (QoS %d, %zu event(s)) was acknowledged to the "
			    "broker but NOT stored (%s): LOST (mqtt_lost_after_ack)",
			    msg->topic, msg->qos, n, sg_strerror(rc));
		}
		m->last_rc = rc;
		return rc;
	default: map_error(m, "emit"); return SG_OK;
	}
}

static void count_reason(struct mq_map *m, const char *reason)
{
	for (size_t i = 0; i < MQ_NREASONS; i++)
		if (!strcmp(mq_bad_reasons[i], reason)) {
			sg_counter_add(m->m_reason[i], 1);
			return;
		}
	sg_counter_add(m->m_reason[MQ_NREASONS - 1], 1);
}

/* "rules[2] ("a/+"): field "t": why" into out. */
static void bad_text(const struct mq_map *m, const struct mq_bad *bad, char *out, size_t n)
{
	if (bad->rule >= 0)
		snprintf(out, n, "rules[%ld] (\"%s\"): %s", bad->rule,
			 m->rules[bad->rule].c->filter, bad->why);
	else
		snprintf(out, n, "%s", bad->why);
}

/* Bad input: dead letter it when configured, count and log always. */
static int map_bad(struct mq_map *m, const struct mq_msg *msg, const struct mq_bad *bad)
{
	struct sg_header h[MQ_MAX_HDRS];
	struct sg_reading rd = {0};
	struct mq_hdrs *hs = &m->w.hs;
	char sensor[256], text[800], rule[24], size[24];
	size_t n = hs->n, keep = msg->len;
	int rc;

	bad_text(m, bad, text, sizeof(text));
	map_error(m, "bad_input");
	sg_counter_add(m->m_bad, 1);
	count_reason(m, bad->reason);
	sg_log_rl(&m->rl_bad, SG_LOG_WARN, m->name, "bad message on \"%s\" (%zu bytes): %s%s",
		  msg->topic, msg->len, text,
		  m->c->dead_letter_topic ? "; sent to the dead-letter topic" : "; dropped");
	if (!m->c->dead_letter_topic)
		return SG_OK;
	if (keep > (size_t)m->c->max_payload)
		keep = m->c->dead_letter_head < (int64_t)msg->len ? (size_t)m->c->dead_letter_head
								  : msg->len;
	memcpy(h, hs->h, n * sizeof(h[0]));
	snprintf(size, sizeof(size), "%zu", msg->len);
	h[n++] = (struct sg_header){"mqtt-payload-size", size, strlen(size)};
	h[n++] = (struct sg_header){"sg-error", text, strlen(text)};
	h[n++] = (struct sg_header){"sg-error-reason", bad->reason, strlen(bad->reason)};
	if (bad->rule >= 0) {
		snprintf(rule, sizeof(rule), "%ld", bad->rule);
		h[n++] = (struct sg_header){"sg-error-rule", rule, strlen(rule)};
	}
	if (bad->field)
		h[n++] = (struct sg_header){"sg-error-field", bad->field, strlen(bad->field)};
	snprintf(sensor, sizeof(sensor), "%s", msg->topic);
	rd.sensor = sensor;
	rd.key = msg->topic;
	rd.topic = m->c->dead_letter_topic;
	rd.raw = true;
	rd.value.type = SG_VAL_BYTES;
	rd.value.s.p = keep ? msg->payload : "";
	rd.value.s.len = keep;
	rd.content_type = msg->content_type;
	rd.headers = h;
	rd.nheaders = n;
	sg_counter_add(m->m_dead, 1);
	rc = m->emit(m->src, &rd, 1);
	if (rc == SG_EINVAL && keep > (size_t)m->c->dead_letter_head) {
		/* Over the spool's max_record_bytes: the head and the size. */
		rd.value.s.len = (size_t)m->c->dead_letter_head;
		rc = m->emit(m->src, &rd, 1);
	}
	return map_emitted(m, msg, 1, rc);
}

/* Does the rule's condition hold for this message? */
static bool cond_holds(struct mq_map *m, const struct mq_rule *r)
{
	struct mq_work *w = &m->w;
	const char *want = r->c->if_equals;
	struct mq_jval v;
	size_t tok;

	if (mq_work_doc(w) != SG_OK || mq_jdoc_get(&w->doc, 0, &r->cond, &tok) != SG_OK)
		return false;
	if (!want)
		return true;
	v = mq_jdoc_val(&w->doc, tok);
	if (v.type != MQ_J_STR)
		return strlen(want) == v.len && !memcmp(v.p, want, v.len);
	sg_buf_reset(&w->path);
	return mq_json_str(&v, &w->path) == SG_OK && w->path.len == strlen(want) &&
	       !memcmp(w->path.p ? w->path.p : "", want, w->path.len);
}

/* What the rules made of the message, besides the readings in m->w. */
struct outcome {
	bool matched, skipped, empty_ok;
};

static int map_rules(struct mq_map *m, const struct mq_msg *msg, struct outcome *o,
		     struct mq_bad *bad)
{
	for (size_t i = 0; i < m->nrules; i++) {
		const struct mq_rule *r = &m->rules[i];

		if (!mq_filter_match(r->c->filter, msg->topic))
			continue;
		if (r->c->if_pointer && !cond_holds(m, r))
			continue;
		o->matched = true;
		if (msg->retain && r->c->retained == MQ_RET_SKIP) {
			o->skipped = true;
		} else if (msg->len > (size_t)m->c->max_payload) {
			bad->reason = "oversize";
			bad->rule = (long)i;
			snprintf(bad->why, sizeof(bad->why),
				 "payload of %zu bytes exceeds max_payload (%" PRId64 ")", msg->len,
				 m->c->max_payload);
			return SG_EINVAL;
		} else if (m->w.lv.n < 0) {
			bad->reason = "topic_levels";
			bad->rule = (long)i;
			snprintf(bad->why, sizeof(bad->why), "more than %d topic levels",
				 MQ_MAX_LEVELS);
			return SG_EINVAL;
		} else if (mq_fanout(m, r, bad) != SG_OK) {
			return SG_EINVAL;
		} else if (r->c->empty == MQ_EMPTY_SKIP) {
			o->empty_ok = true;
		}
		if (!r->c->cont)
			break;
	}
	return SG_OK;
}

static int map_nothing(struct mq_map *m, const struct mq_msg *msg, const struct outcome *o)
{
	struct mq_bad bad = {.reason = "no_events", .rule = -1};

	if (o->skipped) {
		sg_counter_add(m->m_skipped_retained, 1);
		sg_log_rl(&m->rl_map, SG_LOG_DEBUG, m->name, "retained message on \"%s\" skipped",
			  msg->topic);
		return SG_OK;
	}
	if (o->empty_ok) {
		sg_counter_add(m->m_empty, 1);
		return SG_OK;
	}
	snprintf(bad.why, sizeof(bad.why),
		 "no event: the rules that match found none of their fields");
	return map_bad(m, msg, &bad);
}

static int map_store(struct mq_map *m, const struct mq_msg *msg)
{
	struct mq_work *w = &m->w;
	struct mq_bad bad = {.reason = "spool_refused", .rule = -1};
	int rc = m->emit(m->src, w->rd, w->n);

	if (rc == SG_OK) {
		sg_counter_add(m->m_events, w->n);
		if (w->n > 1)
			sg_counter_add(m->m_fanout, 1);
	}
	if (rc != SG_EINVAL)
		return map_emitted(m, msg, w->n, rc);
	snprintf(bad.why, sizeof(bad.why),
		 "the spool refused the %zu event(s) of this message (larger than "
		 "spool.max_record_bytes together, or malformed)",
		 w->n);
	return map_bad(m, msg, &bad);
}

int mq_map_message(struct mq_map *m, const struct mq_msg *in)
{
	struct mq_msg msg = *in;
	struct mq_bad bad = {.rule = -1};
	struct outcome o = {0};
	int rc;

	if (!msg.payload)
		msg.payload = "";
	sg_counter_add(m->m_msgs, 1);
	sg_counter_add(m->m_msgs_qos[msg.qos >= 0 && msg.qos <= 2 ? msg.qos : 0], 1);
	work_begin(&m->w, &msg);
	rc = map_rules(m, &msg, &o, &bad);
	if (!o.matched) {
		sg_counter_add(m->m_unmatched, 1);
		bad = (struct mq_bad){.reason = "no_rule", .rule = -1};
		snprintf(bad.why, sizeof(bad.why), "no rule matches the topic");
		rc = map_bad(m, &msg, &bad);
	} else if (rc != SG_OK) {
		rc = map_bad(m, &msg, &bad);
	} else if (!m->w.n) {
		rc = map_nothing(m, &msg, &o);
	} else {
		rc = map_store(m, &msg);
	}
	work_end(&m->w);
	return rc;
}
