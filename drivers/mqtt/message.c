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
 * Runs inside libmosquitto's message callback on the source thread.
 * With m->defer (the driver holds acknowledgements back, batch.c) the
 * message is copied and its events join the read pass's batch, which is
 * appended before any acknowledgement leaves; without it the emit below
 * is the spool append that finishes before the callback returns (see
 * docs/mqtt.md for the acknowledgement window).
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
	m->batch_bytes = MQ_BATCH_BYTES;
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
	m->w.cap = m->w.n = m->w.r0 = 0;
	free(m->pend);
	m->pend = NULL;
	m->npend = m->pcap = 0;
}

/* Header values of the QoS and retain flags (static: they outlive any
 * one message in a batch). */
static const char *const hdr_digit[] = {"0", "1", "2"};

static void hdrs_init(struct mq_hdrs *hs, const struct mq_msg *msg, size_t topic_len)
{
	hs->n = 0;
	hs->hp = hs->h;
	hs->h[hs->n++] = (struct sg_header){"mqtt-topic", msg->topic, topic_len};
	hs->h[hs->n++] = (struct sg_header){
	    "mqtt-qos", hdr_digit[msg->qos >= 0 && msg->qos <= 2 ? msg->qos : 0], 1};
	hs->h[hs->n++] = (struct sg_header){"mqtt-retain", hdr_digit[msg->retain ? 1 : 0], 1};
	for (size_t i = 0; i < msg->nuprops && hs->n < MQ_MAX_HDRS - MQ_DEAD_HDRS; i++)
		hs->h[hs->n++] = msg->uprops[i];
}

/* Start on msg.  With batching, the message is copied into the arena
 * (its headers too) and its readings follow the batch's; when it cannot
 * be copied, the batch is emitted first and the message goes alone, as
 * without batching.  SG_OK, or the failure of that emit. */
static int work_begin(struct mq_map *m, const struct mq_msg *msg)
{
	struct mq_work *w = &m->w;
	struct mq_msg *kept = m->defer ? mq_batch_keep(m, msg) : NULL;
	struct sg_header *h;
	int rc = SG_OK;

	w->kept = kept != NULL;
	if (m->defer && !kept && m->npend)
		rc = mq_batch_emit(m);
	w->msg = kept ? kept : msg;
	w->topic_len = strlen(w->msg->topic);
	w->arrival_ns = sg_now_ns();
	w->doc_state = 0;
	if (!w->kept)
		w->n = 0;
	w->r0 = w->n;
	mq_levels_split(w->msg->topic, &w->lv);
	hdrs_init(&w->hs, w->msg, w->topic_len);
	if (kept && (h = mq_arena_alloc(&w->ar, w->hs.n * sizeof(*h)))) {
		memcpy(h, w->hs.h, w->hs.n * sizeof(*h));
		w->hs.hp = h;
	} else if (kept) {
		w->kept = false; /* no room for the headers: alone, after the batch */
		if (m->npend && (rc = mq_batch_emit(m)) == SG_OK)
			w->r0 = w->n = 0;
	}
	return rc;
}

/* Give back what one huge message made the scratch grow to; the arena
 * only once no batch needs it. */
static void work_end(struct mq_map *m)
{
	struct mq_work *w = &m->w;

	if (!m->npend) {
		mq_arena_reset(&w->ar);
		w->n = w->r0 = 0;
	}
	if (w->doc.cap > MQ_KEEP_TOKENS || w->doc.kcap > MQ_KEEP_TOKENS ||
	    w->doc.kbuf.cap > MQ_KEEP_BYTES) {
		mq_jdoc_free(&w->doc);
		mq_jdoc_init(&w->doc);
	}
	if (w->path.cap > MQ_KEEP_BYTES)
		sg_buf_free(&w->path);
	w->msg = NULL;
}

int mq_map_emitted(struct mq_map *m, const struct mq_msg *msg, size_t n, int rc, bool acked)
{
	switch (rc) {
	case SG_OK:
	case SG_EDROPPED: /* the spool policy dropped it; counted by the core */ return SG_OK;
	case SG_EIO:
	case SG_ENOSPC:
	case SG_ESTOPPING:
		if (msg->qos > 0 && acked) {
			sg_counter_add(m->m_lost, 1);
			sg_log_rl(
			    &m->rl_lost, SG_LOG_ERROR, m->name,
			    "message on \"%s\" (QoS %d, %zu event(s)) was acknowledged to the "
			    "broker but NOT stored (%s): LOST (mqtt_lost_after_ack)",
			    msg->topic, msg->qos, n, sg_strerror(rc));
		} else if (msg->qos > 0) {
			sg_log_rl(
			    &m->rl_lost, SG_LOG_ERROR, m->name,
			    "message on \"%s\" (QoS %d, %zu event(s)) NOT stored (%s) and not "
			    "acknowledged: the broker delivers it again to a persistent "
			    "session (clean_session: false)",
			    msg->topic, msg->qos, n, sg_strerror(rc));
		}
		m->last_rc = rc;
		return rc;
	default: map_error(m, "emit"); return SG_OK;
	}
}

/* Did the broker get this message's acknowledgement before its append?
 * Without batching always (libmosquitto answers before the callback);
 * with it only QoS 2's PUBREC, sent before the message is released. */
static bool map_acked(const struct mq_map *m, const struct mq_msg *msg)
{
	return !m->defer || msg->qos == 2;
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

int mq_map_bad(struct mq_map *m, const struct mq_msg *msg, const struct sg_header *base,
	       size_t nbase, const struct mq_bad *bad)
{
	struct sg_header h[MQ_MAX_HDRS];
	struct sg_reading rd = {0};
	char sensor[256], text[800], rule[24], size[24];
	size_t n = nbase, keep = msg->len;
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
	memcpy(h, base, n * sizeof(h[0]));
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
	return mq_map_emitted(m, msg, 1, rc, map_acked(m, msg));
}

static int map_bad_now(struct mq_map *m, const struct mq_bad *bad)
{
	return mq_map_bad(m, m->w.msg, m->w.hs.hp, m->w.hs.n, bad);
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

		if (!mq_filter_match_lv(r->c->filter, r->flv, msg->topic, &m->w.lv))
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
	return map_bad_now(m, &bad);
}

void mq_map_stored(struct mq_map *m, size_t n)
{
	sg_counter_add(m->m_events, n);
	if (n > 1)
		sg_counter_add(m->m_fanout, 1);
}

int mq_map_refused(struct mq_map *m, const struct mq_msg *msg, const struct sg_header *h, size_t nh,
		   size_t n)
{
	struct mq_bad bad = {.reason = "spool_refused", .rule = -1, .field = NULL};

	snprintf(bad.why, sizeof(bad.why),
		 "the spool refused the %zu event(s) of this message (larger than "
		 "spool.max_record_bytes together, or malformed)",
		 n);
	return mq_map_bad(m, msg, h, nh, &bad);
}

/* The message's events: into the batch, or appended now. */
static int map_store(struct mq_map *m)
{
	struct mq_work *w = &m->w;
	size_t n = w->n - w->r0;
	int rc;

	if (w->kept)
		return mq_batch_add(m);
	rc = m->emit(m->src, w->rd + w->r0, n);
	if (rc == SG_OK)
		mq_map_stored(m, n);
	if (rc != SG_EINVAL)
		return mq_map_emitted(m, w->msg, n, rc, map_acked(m, w->msg));
	return mq_map_refused(m, w->msg, w->hs.hp, w->hs.n, n);
}

/* A message without events of its own (bad, unmatched, empty): the
 * batch before it is appended first, so the spool keeps the order. */
static int map_none(struct mq_map *m)
{
	m->w.n = m->w.r0;
	if (!m->npend)
		return SG_OK;
	return mq_batch_emit(m);
}

int mq_map_message(struct mq_map *m, const struct mq_msg *in)
{
	struct mq_msg msg = *in;
	struct mq_bad bad;
	struct outcome o = {0};
	int rc, mapped;

	/* After a failed append nothing more is stored or acknowledged: the
	 * driver disconnects and the broker keeps the rest. */
	if (m->defer && m->last_rc != SG_OK)
		return m->last_rc;
	if (!msg.payload)
		msg.payload = "";
	bad.rule = -1;
	bad.field = NULL;
	bad.reason = NULL;
	bad.why[0] = '\0';
	sg_counter_add(m->m_msgs, 1);
	sg_counter_add(m->m_msgs_qos[msg.qos >= 0 && msg.qos <= 2 ? msg.qos : 0], 1);
	if ((rc = work_begin(m, &msg)) != SG_OK) {
		work_end(m);
		return rc;
	}
	mapped = map_rules(m, m->w.msg, &o, &bad);
	if (o.matched && mapped == SG_OK && m->w.n > m->w.r0) {
		rc = map_store(m);
	} else if ((rc = map_none(m)) != SG_OK) {
		/* the batch before it failed: this one is not stored either */
	} else if (!o.matched) {
		sg_counter_add(m->m_unmatched, 1);
		bad = (struct mq_bad){.reason = "no_rule", .rule = -1};
		snprintf(bad.why, sizeof(bad.why), "no rule matches the topic");
		rc = map_bad_now(m, &bad);
	} else if (mapped != SG_OK) {
		rc = map_bad_now(m, &bad);
	} else {
		rc = map_nothing(m, m->w.msg, &o);
	}
	work_end(m);
	return rc;
}
