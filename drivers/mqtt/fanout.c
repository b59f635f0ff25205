/*
 * fanout.c - one rule applied to one MQTT message: the readings it makes.
 *
 *   raw       the payload bytes as the Kafka value (one reading);
 *   value     one value found by JSON pointer, with unit, sensor id and
 *             time pointers (the original JSON mode);
 *   fields    an explicit list: one reading per field, in list order;
 *   wildcard  every number and bool leaf below a pointer, in document
 *             order, named by its path ({field} = "AM2301.Temperature").
 *
 * Every reading of a message shares the message's headers and its event
 * time: the device's (a JSON pointer or an MQTT 5 user property, checked
 * for plausibility and handled by the rule's `bad_time` policy) or, with
 * ts_ns 0, the arrival time the core takes once for the whole batch.
 * Strings are borrowed from the payload where they need no decoding, and
 * otherwise live in the message's arena until the batch is appended.
 *
 * Bounds per message: at most max_events readings; per reading three
 * template expansions (sensor <= 255, Kafka topic <= 249, key <= 1023
 * bytes) in the arena; decoded strings no longer than the payload.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt.h"

/* --- the arena ------------------------------------------------------------ */

#define ABLOCK 8192

struct mq_ablock {
	struct mq_ablock *next;
	size_t cap, used;
	_Alignas(16) char data[];
};

void *mq_arena_alloc(struct mq_arena *a, size_t n)
{
	struct mq_ablock *b = a->head;
	void *p;

	n = (n + 15) & ~(size_t)15;
	if (!b || b->cap - b->used < n) {
		size_t cap = n > ABLOCK ? n : ABLOCK;

		if (cap == ABLOCK && a->spare) {
			b = a->spare;
			a->spare = b->next;
			a->nspare--;
		} else if (!(b = malloc(sizeof(*b) + cap))) {
			return NULL;
		}
		b->cap = cap;
		b->used = 0;
		b->next = a->head;
		a->head = b;
	}
	p = b->data + b->used;
	b->used += n;
	return p;
}

void mq_arena_reset(struct mq_arena *a)
{
	struct mq_ablock *b = a->head;

	/* Ordinary blocks go to the spares (a few), the rest back. */
	while (b) {
		struct mq_ablock *next = b->next;

		if (b->cap == ABLOCK && a->nspare < MQ_ARENA_SPARE) {
			b->next = a->spare;
			a->spare = b;
			a->nspare++;
		} else {
			free(b);
		}
		b = next;
	}
	a->head = NULL;
}

static void arena_free_list(struct mq_ablock *b)
{
	while (b) {
		struct mq_ablock *next = b->next;
		free(b);
		b = next;
	}
}

void mq_arena_free(struct mq_arena *a)
{
	arena_free_list(a->head);
	arena_free_list(a->spare);
	a->head = a->spare = NULL;
	a->nspare = 0;
}

const char *mq_arena_str(struct mq_arena *a, const char *s, size_t n)
{
	char *p = mq_arena_alloc(a, n + 1);

	if (p) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

/* --- rules compiled -------------------------------------------------------- */

static int ptr_opt(const char *s, struct mq_jptr *p, struct sg_errbuf *eb)
{
	return s ? mq_jptr_parse(s, p, eb) : SG_OK;
}

int mq_rule_compile(struct mq_rule *r, const struct mq_rule_conf *c, size_t index,
		    struct sg_errbuf *eb)
{
	const struct mq_field_conf *fc = c->fields.items;
	int rc;

	memset(r, 0, sizeof(*r));
	r->c = c;
	r->index = index;
	r->sep = c->field_separator && *c->field_separator ? c->field_separator[0] : '.';
	if (c->payload == MQ_PAYLOAD_RAW)
		r->mode = MQ_MODE_RAW;
	else if (c->fields.n)
		r->mode = MQ_MODE_FIELDS;
	else if (c->wildcard)
		r->mode = MQ_MODE_WILDCARD;
	else
		r->mode = MQ_MODE_VALUE;
	r->sensor = c->sensor ? c->sensor
			      : (r->mode == MQ_MODE_FIELDS || r->mode == MQ_MODE_WILDCARD
				     ? MQ_SENSOR_DEFAULT_FIELD
				     : MQ_SENSOR_DEFAULT);
	if (!(r->flv = malloc(sizeof(*r->flv))))
		return sg_errf(eb, SG_ENOMEM, "out of memory");
	mq_levels_split(c->filter, r->flv);
	mq_tmpl_compile(&r->t_sensor, r->sensor, MQ_TMPL_TEXT);
	mq_tmpl_compile(&r->t_topic, c->topic, MQ_TMPL_TOPIC);
	mq_tmpl_compile(&r->t_key, c->key, MQ_TMPL_TEXT);
	if (c->time_offset) {
		if (mq_offset_parse(c->time_offset, strlen(c->time_offset), &r->offset_s) !=
		    SG_OK) {
			rc = sg_errf(eb, SG_EINVAL, "time_offset \"%s\": use Z or +HH:MM",
				     c->time_offset);
			goto err;
		}
		r->has_offset = true;
	}
	if ((r->mode == MQ_MODE_VALUE &&
	     (rc = mq_jptr_parse(c->value ? c->value : MQ_VALUE_DEFAULT, &r->value, eb))) ||
	    (rc = ptr_opt(c->time, &r->time, eb)) || (rc = ptr_opt(c->unit, &r->unit, eb)) ||
	    (rc = ptr_opt(c->sensor_ptr, &r->sensor_ptr, eb)) ||
	    (rc = ptr_opt(c->if_pointer, &r->cond, eb)) ||
	    (rc = ptr_opt(c->wildcard, &r->wildcard, eb)))
		goto err;
	if (r->mode == MQ_MODE_FIELDS) {
		r->fields = calloc(c->fields.n, sizeof(*r->fields));
		if (!r->fields) {
			rc = SG_ENOMEM;
			goto err;
		}
		r->nfields = c->fields.n;
		for (size_t i = 0; i < c->fields.n; i++) {
			r->fields[i].c = &fc[i];
			if ((rc = mq_jptr_parse(fc[i].pointer, &r->fields[i].ptr, eb)) ||
			    (rc = ptr_opt(fc[i].unit_pointer, &r->fields[i].unit_ptr, eb)))
				goto err;
		}
	}
	return SG_OK;
err:
	mq_rule_free(r);
	return rc;
}

void mq_rule_free(struct mq_rule *r)
{
	free(r->flv);
	r->flv = NULL;
	mq_tmpl_free(&r->t_sensor);
	mq_tmpl_free(&r->t_topic);
	mq_tmpl_free(&r->t_key);
	mq_jptr_free(&r->value);
	mq_jptr_free(&r->time);
	mq_jptr_free(&r->unit);
	mq_jptr_free(&r->sensor_ptr);
	mq_jptr_free(&r->cond);
	mq_jptr_free(&r->wildcard);
	for (size_t i = 0; i < r->nfields; i++) {
		mq_jptr_free(&r->fields[i].ptr);
		mq_jptr_free(&r->fields[i].unit_ptr);
	}
	free(r->fields);
	r->fields = NULL;
	r->nfields = 0;
}

/* --- helpers ---------------------------------------------------------------- */

static int bad_set(struct mq_bad *bad, const struct mq_rule *r, const char *reason,
		   const char *field, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int bad_set(struct mq_bad *bad, const struct mq_rule *r, const char *reason,
		   const char *field, const char *fmt, ...)
{
	va_list ap;

	bad->reason = reason;
	bad->rule = r ? (long)r->index : -1;
	bad->field = field;
	va_start(ap, fmt);
	vsnprintf(bad->why, sizeof(bad->why), fmt, ap);
	va_end(ap);
	return SG_EINVAL;
}

int mq_work_doc(struct mq_work *w)
{
	struct sg_errbuf eb;

	if (w->doc_state == 0) {
		w->doc.allow_dups = false;
		if (mq_jdoc_parse(&w->doc, w->msg->payload, w->msg->len, &eb) == SG_OK) {
			w->doc_state = 1;
		} else {
			w->doc_state = -1;
			snprintf(w->doc_err, sizeof(w->doc_err), "%s", eb.msg);
		}
	}
	return w->doc_state == 1 ? SG_OK : SG_EINVAL;
}

/* A new reading at the end of the message's batch. */
static struct sg_reading *push(struct mq_map *m, const struct mq_rule *r, struct mq_bad *bad)
{
	struct mq_work *w = &m->w;

	if (w->n - w->r0 >= m->max_events) {
		bad_set(bad, r, "too_many_events", NULL,
			"more than %zu events from one message (max_events)", m->max_events);
		return NULL;
	}
	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 16;
		struct sg_reading *rd;

		if (cap > w->r0 + m->max_events)
			cap = w->r0 + m->max_events; /* this message's bound after the batch's */
		if (!(rd = realloc(w->rd, cap * sizeof(*rd)))) {
			bad_set(bad, r, "no_memory", NULL, "out of memory");
			return NULL;
		}
		w->rd = rd;
		w->cap = cap;
	}
	memset(&w->rd[w->n], 0, sizeof(w->rd[0]));
	return &w->rd[w->n++];
}

/* A template's result for this message: the compiled literal, the topic
 * itself, or an expansion into the arena.  NULL with eb set (the
 * template's error) or, eb->msg empty, out of memory. */
static const char *expand(struct mq_work *w, const struct mq_tmpl *tp, const char *field,
			  size_t outsz, struct sg_errbuf *eb)
{
	const char *topic = w->msg->topic;
	char buf[1024];

	eb->msg[0] = '\0';
	if (tp->plan == MQ_TP_LITERAL && tp->lit_len < outsz)
		return tp->lit;
	if (tp->plan == MQ_TP_TOPIC && w->topic_len < outsz)
		return topic;
	if (mq_tmpl_expand_field(tp->t, tp->kind, topic, &w->lv, field, buf, outsz, eb))
		return NULL;
	return mq_arena_str(&w->ar, buf, strlen(buf));
}

/* Sensor id, Kafka topic and key of a reading, with {field} = field. */
static int names(struct mq_map *m, const struct mq_rule *r, const char *field,
		 struct sg_reading *rd, struct mq_bad *bad)
{
	static const char *const what[] = {"sensor", "topic", "key"};
	const struct mq_tmpl *tp[] = {&r->t_sensor, &r->t_topic, &r->t_key};
	const char **out[] = {&rd->sensor, &rd->topic, &rd->key};
	static const size_t max[] = {256, 250, 1024};
	struct sg_errbuf eb;

	for (int i = 0; i < 3; i++) {
		if (!tp[i]->t)
			continue;
		if (!(*out[i] = expand(&m->w, tp[i], field, max[i], &eb)))
			return eb.msg[0]
				   ? bad_set(bad, r, "template", field, "%s: %s", what[i], eb.msg)
				   : bad_set(bad, r, "no_memory", field, "out of memory");
	}
	rd->headers = m->w.hs.hp;
	rd->nheaders = m->w.hs.n;
	return SG_OK;
}

/* The text of a string (decoded) or other scalar at tok, NUL-terminated
 * in the arena; NULL for null or on OOM. */
static const char *tok_text(struct mq_work *w, size_t tok)
{
	struct mq_jval v = mq_jdoc_val(&w->doc, tok);

	if (v.type == MQ_J_NULL)
		return NULL;
	if (v.type != MQ_J_STR)
		return mq_arena_str(&w->ar, v.p, v.len);
	if (!(w->doc.t[tok].flags & MQ_JT_ESC))
		return mq_arena_str(&w->ar, v.p + 1, v.len - 2);
	sg_buf_reset(&w->path);
	if (mq_json_str(&v, &w->path) != SG_OK)
		return NULL;
	return mq_arena_str(&w->ar, w->path.p ? w->path.p : "", w->path.len);
}

static const char *type_word(enum mq_jtype t)
{
	static const char *const w[] = {"null", "bool", "number", "string", "array", "object"};
	return w[t];
}

/* rd->value (and quality) from the value at tok, which must be of type
 * want (enum mq_ftype; null is always allowed and gives no value). */
static int set_value(struct mq_map *m, const struct mq_rule *r, const char *field, size_t tok,
		     int want, struct sg_reading *rd, struct mq_bad *bad)
{
	static const enum mq_jtype need[] = {MQ_J_NULL, MQ_J_NUM, MQ_J_BOOL, MQ_J_STR};
	struct mq_work *w = &m->w;
	struct mq_jval v = mq_jdoc_val(&w->doc, tok);

	if (want != MQ_FT_AUTO && v.type != MQ_J_NULL && v.type != need[want])
		return bad_set(bad, r, "wrong_type", field, "field \"%s\": expected a %s, found %s",
			       field ? field : "value", type_word(need[want]), type_word(v.type));
	switch (v.type) {
	case MQ_J_NUM:
		if (mq_json_num(&v, &rd->value) != SG_OK)
			return v.len > MQ_JSON_MAX_NUM
				   ? bad_set(bad, r, "bad_number", field,
					     "field \"%s\": number literal of %zu characters "
					     "(at most %d)",
					     field ? field : "value", v.len, MQ_JSON_MAX_NUM)
				   : bad_set(bad, r, "bad_number", field,
					     "field \"%s\": number %.*s is beyond the range of a "
					     "double",
					     field ? field : "value",
					     (int)(v.len > 40 ? 40 : v.len), v.p);
		break;
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
		rd->value.type = SG_VAL_STR;
		if (!(w->doc.t[tok].flags & MQ_JT_ESC)) {
			rd->value.s.p = v.p + 1;
			rd->value.s.len = v.len - 2;
		} else if (!(rd->value.s.p = tok_text(w, tok))) {
			return bad_set(bad, r, "no_memory", field, "out of memory");
		} else {
			rd->value.s.len = strlen(rd->value.s.p);
		}
		break;
	case MQ_J_ARR:
	case MQ_J_OBJ: /* nested JSON kept as its text */
		rd->value.type = SG_VAL_STR;
		rd->value.s.p = v.p;
		rd->value.s.len = v.len;
		break;
	}
	return SG_OK;
}

/* --- event time ---------------------------------------------------------------- */

/* The time of a rule's readings: ts 0 is the arrival time. */
struct rtime {
	int64_t ts;
	const char *reason; /* non-NULL: the device time was unusable */
};

static int prop_time(const struct mq_rule *r, const char *s, size_t n, int64_t *ns)
{
	if (n >= 19 && s[4] == '-')
		return mq_time_parse_off(s, n, r->has_offset ? &r->offset_s : NULL, ns);
	for (size_t i = 0; i < n; i++)
		if (!strchr("0123456789.eE+-", s[i]))
			return SG_EINVAL;
	return mq_time_from_text(s, n, r->c->time_unit, ns);
}

/* Where the device's time is, if anywhere: SG_OK (*ns), SG_ENOTFOUND or
 * SG_EINVAL (present but not a time). */
static int device_time(struct mq_map *m, const struct mq_rule *r, int64_t *ns)
{
	struct mq_work *w = &m->w;
	const char *prop = r->c->time_property;
	struct mq_jval v;
	size_t tok;

	for (size_t i = 0; prop && i < w->msg->nuprops; i++) {
		const struct sg_header *h = &w->msg->uprops[i];
		if (!strcmp(h->key, prop) ||
		    (!strncmp(h->key, "mqtt-user-", 10) && !strcmp(h->key + 10, prop)))
			return prop_time(r, h->val, h->len, ns);
	}
	if (!r->c->time)
		return SG_ENOTFOUND;
	if (mq_work_doc(w) != SG_OK)
		return SG_EINVAL; /* raw payload that is not JSON */
	if (mq_jdoc_get(&w->doc, 0, &r->time, &tok) != SG_OK)
		return SG_ENOTFOUND;
	v = mq_jdoc_val(&w->doc, tok);
	if (v.type == MQ_J_NULL)
		return SG_ENOTFOUND;
	if (v.type == MQ_J_NUM)
		return mq_time_from_text(v.p, v.len, r->c->time_unit, ns);
	if (v.type != MQ_J_STR || (w->doc.t[tok].flags & MQ_JT_ESC))
		return SG_EINVAL;
	return mq_time_parse_off(v.p + 1, v.len - 2, r->has_offset ? &r->offset_s : NULL, ns);
}

static int rule_time(struct mq_map *m, const struct mq_rule *r, struct rtime *t, struct mq_bad *bad)
{
	static const char *const why[] = {
	    [MQ_TF_UNPARSABLE] = "is not a time in the configured form",
	    [MQ_TF_FUTURE] = "lies further in the future than max_future",
	    [MQ_TF_PAST] = "is before 2000 (device clock not set?)",
	};
	static const char *const fallback[] = {
	    [MQ_TF_UNPARSABLE] = "device time unparsable: arrival time used",
	    [MQ_TF_FUTURE] = "device time in the future: arrival time used",
	    [MQ_TF_PAST] = "device time before 2000: arrival time used",
	};
	enum mq_tfail f;
	int64_t ns = 0;
	int rc;

	t->ts = 0;
	t->reason = NULL;
	if (!r->c->time && !r->c->time_property)
		return SG_OK;
	rc = device_time(m, r, &ns);
	if (rc == SG_ENOTFOUND)
		f = MQ_TF_MISSING;
	else if (rc != SG_OK)
		f = MQ_TF_UNPARSABLE;
	else
		f = mq_time_check(ns, m->w.arrival_ns, r->c->max_future_ms * SG_NS_PER_MS);
	if (f == MQ_TF_OK) {
		t->ts = ns;
		return SG_OK;
	}
	sg_counter_add(m->m_time[f], 1);
	if (f == MQ_TF_MISSING)
		return SG_OK; /* documented: no time given, arrival time */
	if (r->c->bad_time == MQ_BT_DEAD_LETTER)
		return bad_set(bad, r, "bad_time", NULL, "the time at \"%s\" %s",
			       r->c->time_property ? r->c->time_property : r->c->time, why[f]);
	t->reason = fallback[f];
	sg_log_rl(&m->rl_time, SG_LOG_WARN, m->name, "message on \"%s\": %s", m->w.msg->topic,
		  fallback[f]);
	return SG_OK;
}

static void apply_time(struct sg_reading *rd, const struct rtime *t)
{
	rd->ts_ns = t->ts;
	if (t->reason) {
		rd->quality = SG_Q_UNCERTAIN;
		if (!rd->reason)
			rd->reason = t->reason;
	}
}

/* --- the four forms ---------------------------------------------------------- */

static int map_raw(struct mq_map *m, const struct mq_rule *r, const struct rtime *t,
		   struct mq_bad *bad)
{
	struct mq_work *w = &m->w;
	const struct mq_msg *msg = w->msg;
	struct sg_reading *rd = push(m, r, bad);
	struct sg_header *h;

	if (!rd || names(m, r, NULL, rd, bad))
		return SG_EINVAL;
	rd->raw = true;
	rd->value.type = SG_VAL_BYTES;
	rd->value.s.p = msg->len ? msg->payload : "";
	rd->value.s.len = msg->len;
	rd->content_type = r->c->content_type ? r->c->content_type : msg->content_type;
	if (!t->reason)
		return SG_OK;
	/* No envelope to mark uncertain: say it in a header. */
	if (!(h = mq_arena_alloc(&w->ar, (w->hs.n + 1) * sizeof(*h))))
		return bad_set(bad, r, "no_memory", NULL, "out of memory");
	memcpy(h, w->hs.hp, w->hs.n * sizeof(*h));
	h[w->hs.n] = (struct sg_header){"sg-time-error", t->reason, strlen(t->reason)};
	rd->headers = h;
	rd->nheaders = w->hs.n + 1;
	return SG_OK;
}

/* The original JSON mode: one value, unit, sensor id by pointer. */
static int map_value(struct mq_map *m, const struct mq_rule *r, struct mq_bad *bad)
{
	struct mq_work *w = &m->w;
	struct sg_reading *rd;
	size_t tok;
	const char *s;

	if (mq_jdoc_get(&w->doc, 0, &r->value, &tok) != SG_OK)
		return bad_set(bad, r, "missing_field", NULL, "no value at JSON pointer \"%s\"",
			       r->c->value ? r->c->value : MQ_VALUE_DEFAULT);
	if (!(rd = push(m, r, bad)) || names(m, r, NULL, rd, bad) ||
	    set_value(m, r, NULL, tok, MQ_FT_AUTO, rd, bad))
		return SG_EINVAL;
	if (r->c->unit && mq_jdoc_get(&w->doc, 0, &r->unit, &tok) == SG_OK)
		rd->unit = tok_text(w, tok);
	if (r->c->sensor_ptr && mq_jdoc_get(&w->doc, 0, &r->sensor_ptr, &tok) == SG_OK &&
	    (s = tok_text(w, tok))) {
		if (!*s || strlen(s) > 255)
			return bad_set(bad, r, "template", NULL,
				       "sensor id at \"%s\" is empty or longer than 255 bytes",
				       r->c->sensor_ptr);
		rd->sensor = s;
	}
	return SG_OK;
}

static int map_fields(struct mq_map *m, const struct mq_rule *r, struct mq_bad *bad)
{
	struct mq_work *w = &m->w;

	for (size_t i = 0; i < r->nfields; i++) {
		const struct mq_field *f = &r->fields[i];
		const char *id = f->c->id;
		struct sg_reading *rd;
		size_t tok, ut;

		if (mq_jdoc_get(&w->doc, 0, &f->ptr, &tok) != SG_OK) {
			if (f->c->optional)
				continue;
			return bad_set(bad, r, "missing_field", id,
				       "field \"%s\": no value at JSON pointer \"%s\"", id,
				       f->c->pointer);
		}
		if (!(rd = push(m, r, bad)) || names(m, r, id, rd, bad) ||
		    set_value(m, r, id, tok, f->c->type, rd, bad))
			return SG_EINVAL;
		rd->unit = f->c->unit;
		if (f->c->unit_pointer && mq_jdoc_get(&w->doc, 0, &f->unit_ptr, &ut) == SG_OK)
			rd->unit = tok_text(w, ut);
	}
	return SG_OK;
}

struct leaf_ctx {
	struct mq_map *m;
	const struct mq_rule *r;
	struct mq_bad *bad;
	const char *root_name; /* for a wildcard that names a scalar itself */
};

static bool name_is(const char *s, const char *name, size_t n)
{
	return strlen(s) == n && !memcmp(s, name, n);
}

/* The entry of names (n entries stride bytes apart) that is the leaf's
 * full name or, failing that, its own member name; -1 if none. */
static long leaf_match(const struct mq_leaf *lf, const char *const *names, size_t n, size_t stride)
{
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < n; i++) {
			const char *k = *(const char *const *)((const char *)names + i * stride);
			if (pass ? name_is(k, lf->last, lf->last_len)
				 : name_is(k, lf->name, lf->name_len))
				return (long)i;
		}
	return -1;
}

/* Excluded: by full name, by own member name, or below an excluded
 * object ("update" leaves out "update.state"). */
static bool excluded(const struct mq_leaf *lf, const struct sg_cfg_strlist *ex, char sep)
{
	for (size_t i = 0; i < ex->n; i++) {
		size_t n = strlen(ex->v[i]);

		if (name_is(ex->v[i], lf->last, lf->last_len) ||
		    (lf->name_len >= n && !memcmp(lf->name, ex->v[i], n) &&
		     (lf->name_len == n || lf->name[n] == sep)))
			return true;
	}
	return false;
}

static int on_leaf(void *arg, const struct mq_leaf *lf)
{
	struct leaf_ctx *x = arg;
	const struct sg_cfg_map *units = &x->r->c->units;
	const struct sg_cfg_strlist *ex = &x->r->c->exclude;
	struct mq_work *w = &x->m->w;
	const char *field;
	struct sg_reading *rd;
	long u;

	if (excluded(lf, ex, x->r->sep))
		return SG_OK;
	field = lf->name_len ? mq_arena_str(&w->ar, lf->name, lf->name_len) : x->root_name;
	if (!field)
		return bad_set(x->bad, x->r, "no_memory", NULL, "out of memory");
	if (!(rd = push(x->m, x->r, x->bad)) || names(x->m, x->r, field, rd, x->bad) ||
	    set_value(x->m, x->r, field, lf->tok, MQ_FT_AUTO, rd, x->bad))
		return SG_EINVAL;
	u = units->n ? leaf_match(lf, (const char *const *)&units->kv[0].key, units->n,
				  sizeof(units->kv[0]))
		     : -1;
	if (u >= 0)
		rd->unit = units->kv[u].val;
	return SG_OK;
}

static int map_wildcard(struct mq_map *m, const struct mq_rule *r, struct mq_bad *bad)
{
	const struct mq_jptr *p = &r->wildcard;
	struct leaf_ctx x = {m, r, bad, p->n ? p->seg[p->n - 1] : "value"};
	size_t root;

	if (mq_jdoc_get(&m->w.doc, 0, p, &root) != SG_OK)
		return SG_OK; /* nothing there: no events from this rule */
	if (!*x.root_name)
		x.root_name = "value";
	return mq_jdoc_leaves(&m->w.doc, root, r->sep, &m->w.path, on_leaf, &x) == SG_OK
		   ? SG_OK
		   : SG_EINVAL;
}

int mq_fanout(struct mq_map *m, const struct mq_rule *r, struct mq_bad *bad)
{
	struct mq_work *w = &m->w;
	size_t n0 = w->n;
	struct rtime t;
	int rc;

	if (r->mode != MQ_MODE_RAW && mq_work_doc(w) != SG_OK)
		return bad_set(bad, r, mq_jerr_name(w->doc.err), NULL, "%s", w->doc_err);
	if ((rc = rule_time(m, r, &t, bad)) != SG_OK)
		return rc;
	switch (r->mode) {
	case MQ_MODE_RAW: rc = map_raw(m, r, &t, bad); break;
	case MQ_MODE_VALUE: rc = map_value(m, r, bad); break;
	case MQ_MODE_FIELDS: rc = map_fields(m, r, bad); break;
	case MQ_MODE_WILDCARD: rc = map_wildcard(m, r, bad); break;
	}
	if (rc != SG_OK) {
		w->n = n0;
		return SG_EINVAL;
	}
	for (size_t i = n0; i < w->n; i++)
		apply_time(&w->rd[i], &t);
	return SG_OK;
}
