/*
 * event.c - the spool payload of an event: encoding a reading (version 2,
 * on the source's thread, before the append), decoding versions 1 and 2,
 * and rendering a decoded record for its seq (the Kafka value and the
 * header block, when the record leaves the spool).  The JSON envelope
 * itself is written by event_json.c.  Formats: event.h.
 */
#include "event.h"

#include <assert.h>
#include <string.h>

#include "gateway/config/conf.h"

enum { BODY_EVENT = 0, BODY_RAW = 1 };
enum { FLAG_UNIT = 1, FLAG_REASON = 2 };

/* --- encoding ---------------------------------------------------------- */

/* Length-prefixed strings; false if n does not fit the prefix (the
 * field is refused, never cut). */
static bool put16(struct sg_buf *b, const void *s, size_t n)
{
	if (n > UINT16_MAX)
		return false;
	sg_buf_add_u16(b, (uint16_t)n);
	sg_buf_add(b, s, n);
	return true;
}

static bool put32(struct sg_buf *b, const void *s, size_t n)
{
	if (n > UINT32_MAX)
		return false;
	sg_buf_add_u32(b, (uint32_t)n);
	sg_buf_add(b, s, n);
	return true;
}

static bool put_value(struct sg_buf *b, const struct sg_value *v)
{
	uint64_t bits;

	if ((unsigned)v->type > SG_VAL_BYTES)
		return false;
	sg_buf_addc(b, (char)v->type);
	switch (v->type) {
	case SG_VAL_NONE: break;
	case SG_VAL_DOUBLE:
		memcpy(&bits, &v->d, sizeof(bits));
		sg_buf_add_u64(b, bits);
		break;
	case SG_VAL_INT: sg_buf_add_u64(b, (uint64_t)v->i); break;
	case SG_VAL_UINT: sg_buf_add_u64(b, v->u); break;
	case SG_VAL_BOOL: sg_buf_addc(b, v->b ? 1 : 0); break;
	case SG_VAL_STR:
	case SG_VAL_BYTES: return put32(b, v->s.p, v->s.len);
	}
	return true;
}

static bool put_event(struct sg_buf *b, const struct sg_reading *rd)
{
	bool ok = put16(b, rd->sensor, strlen(rd->sensor)) && put_value(b, &rd->value);

	sg_buf_addc(b, (char)(rd->quality <= SG_Q_BAD ? rd->quality : SG_Q_BAD));
	sg_buf_addc(b, (char)((rd->unit ? FLAG_UNIT : 0) | (rd->reason ? FLAG_REASON : 0)));
	if (rd->unit)
		ok = ok && put16(b, rd->unit, strlen(rd->unit));
	if (rd->reason)
		ok = ok && put32(b, rd->reason, strlen(rd->reason));
	if (rd->nattrs > UINT16_MAX)
		return false;
	sg_buf_add_u16(b, (uint16_t)rd->nattrs);
	for (size_t i = 0; ok && i < rd->nattrs; i++)
		ok = put16(b, rd->attrs[i].key, strlen(rd->attrs[i].key)) &&
		     put32(b, rd->attrs[i].val, strlen(rd->attrs[i].val));
	return ok;
}

static bool put_raw(struct sg_buf *b, const struct sg_reading *rd)
{
	const char *ct = rd->content_type ? rd->content_type : SG_CONTENT_TYPE_RAW;

	return put16(b, ct, strlen(ct)) && put32(b, rd->value.s.p, rd->value.s.len);
}

static bool put_headers(struct sg_buf *b, const struct sg_header *h, size_t n)
{
	bool ok = true;

	if (n > UINT16_MAX - 4) /* render adds sg-id, sg-source, content-type, sg-epoch */
		return false;
	sg_buf_add_u16(b, (uint16_t)n);
	for (size_t i = 0; ok && i < n; i++)
		ok = put16(b, h[i].key, strlen(h[i].key)) && put32(b, h[i].val, h[i].len);
	return ok;
}

int sg_event_encode(const struct sg_event_ctx *ec, const struct sg_reading *rd, struct sg_buf *out)
{
	char expanded[SG_TOPIC_MAX + 1];
	const char *key = rd->key ? rd->key : rd->sensor, *topic = rd->topic;
	int64_t ts = rd->ts_ns ? rd->ts_ns : sg_now_ns();
	size_t start = out->len, tn;
	bool ok;

	/* A topic Kafka would refuse is refused here, never cut: a cut one
	 * would send the event to another topic.  The reading's own topic is
	 * used in place, the template expanded into `expanded`. */
	if (topic) {
		tn = strlen(topic);
	} else {
		tn = sg_topic_expand(ec->topic_tmpl, ec->gateway, ec->source, rd->sensor, expanded,
				     sizeof(expanded));
		topic = expanded;
	}
	if (tn > SG_TOPIC_MAX)
		return SG_EINVAL;
	sg_buf_addc(out, SG_RECORD_V2);
	sg_buf_add_u64(out, (uint64_t)ts);
	ok = put16(out, ec->gateway, strlen(ec->gateway)) &&
	     put16(out, ec->source, strlen(ec->source)) && put16(out, topic, tn) &&
	     put32(out, key, strlen(key));
	if (ok) {
		sg_buf_addc(out, rd->raw ? BODY_RAW : BODY_EVENT);
		ok = rd->raw ? put_raw(out, rd) : put_event(out, rd);
	}
	ok = ok && put_headers(out, rd->headers, rd->nheaders);
	if (out->oom)
		return SG_ENOMEM;
	if (!ok) {
		out->len = start;
		return SG_EINVAL;
	}
	return SG_OK;
}

/* --- decoding ---------------------------------------------------------- */

/* A bounds-checked reader: once a read falls off the end, `bad` latches
 * and every later read yields zero / NULL. */
struct cur {
	const uint8_t *p, *end;
	bool bad;
};

static const uint8_t *take(struct cur *c, size_t n)
{
	const uint8_t *q = c->p;

	if (c->bad || (size_t)(c->end - c->p) < n) {
		c->bad = true;
		return NULL;
	}
	c->p += n;
	return q;
}

static uint8_t take8(struct cur *c)
{
	const uint8_t *q = take(c, 1);
	return q ? q[0] : 0;
}
static uint16_t take16(struct cur *c)
{
	const uint8_t *q = take(c, 2);
	return q ? sg_get_u16(q) : 0;
}
static uint32_t take32(struct cur *c)
{
	const uint8_t *q = take(c, 4);
	return q ? sg_get_u32(q) : 0;
}
static uint64_t take64(struct cur *c)
{
	const uint8_t *q = take(c, 8);
	return q ? sg_get_u64(q) : 0;
}
static const char *take_str16(struct cur *c, uint16_t *len)
{
	*len = take16(c);
	return (const char *)take(c, *len);
}
static const char *take_str32(struct cur *c, uint32_t *len)
{
	*len = take32(c);
	return (const char *)take(c, *len);
}

/* n pairs of { u16 len | name | u32 len | bytes }; returns the block. */
static const uint8_t *take_pairs(struct cur *c, uint16_t n, size_t *len)
{
	const uint8_t *start = c->p;
	uint16_t l16;
	uint32_t l32;

	for (uint16_t i = 0; i < n && !c->bad; i++) {
		take_str16(c, &l16);
		take_str32(c, &l32);
	}
	*len = (size_t)(c->p - start);
	return start;
}

static void take_value(struct cur *c, struct sg_value *v)
{
	uint8_t t = take8(c);
	uint64_t bits;
	uint32_t n;

	memset(v, 0, sizeof(*v));
	v->type = (enum sg_vtype)t;
	switch (t) {
	case SG_VAL_NONE: break;
	case SG_VAL_DOUBLE:
		bits = take64(c);
		memcpy(&v->d, &bits, sizeof(bits));
		break;
	case SG_VAL_INT: v->i = (int64_t)take64(c); break;
	case SG_VAL_UINT: v->u = take64(c); break;
	case SG_VAL_BOOL: v->b = take8(c) != 0; break;
	case SG_VAL_STR:
	case SG_VAL_BYTES:
		v->s.p = take_str32(c, &n);
		v->s.len = n;
		break;
	default: c->bad = true;
	}
}

static void take_event(struct cur *c, struct sg_event_view *ev)
{
	uint8_t q, flags;

	memset(ev, 0, sizeof(*ev));
	ev->sensor = take_str16(c, &ev->sensor_len);
	take_value(c, &ev->value);
	q = take8(c);
	flags = take8(c);
	if (q > SG_Q_BAD || (flags & ~(FLAG_UNIT | FLAG_REASON)))
		c->bad = true;
	ev->quality = (enum sg_quality)q;
	if (flags & FLAG_UNIT)
		ev->unit = take_str16(c, &ev->unit_len);
	if (flags & FLAG_REASON)
		ev->reason = take_str32(c, &ev->reason_len);
	ev->nattrs = take16(c);
	ev->attrs = take_pairs(c, ev->nattrs, &ev->attrs_len);
}

static void decode_v1(struct cur *c, struct sg_record *r)
{
	r->ts_ns = (int64_t)take64(c);
	r->topic = take_str16(c, &r->topic_len);
	r->key = take_str32(c, &r->key_len);
	r->value = take_str32(c, &r->value_len);
	r->nheaders = take16(c);
	r->headers = take_pairs(c, r->nheaders, &r->headers_len);
}

static void decode_v2(struct cur *c, struct sg_record *r)
{
	uint8_t kind;

	r->ts_ns = (int64_t)take64(c);
	r->gateway = take_str16(c, &r->gateway_len);
	r->source = take_str16(c, &r->source_len);
	r->topic = take_str16(c, &r->topic_len);
	r->key = take_str32(c, &r->key_len);
	kind = take8(c);
	if (kind == BODY_RAW) {
		r->raw = true;
		r->content_type = take_str16(c, &r->content_type_len);
		r->value = take_str32(c, &r->value_len);
	} else if (kind == BODY_EVENT) {
		take_event(c, &r->ev);
	} else {
		c->bad = true;
	}
	r->nextra = take16(c);
	if (r->nextra > UINT16_MAX - 3)
		c->bad = true;
	r->extra = take_pairs(c, r->nextra, &r->extra_len);
	/* Until render: only the extra headers. */
	r->nheaders = r->nextra;
	r->headers = r->extra;
	r->headers_len = r->extra_len;
}

int sg_record_decode(const void *p, size_t n, struct sg_record *r)
{
	struct cur c = {.p = p, .end = (const uint8_t *)p + n};

	memset(r, 0, sizeof(*r));
	r->version = take8(&c);
	if (r->version == SG_RECORD_V1)
		decode_v1(&c, r);
	else if (r->version == SG_RECORD_V2)
		decode_v2(&c, r);
	else
		c.bad = true;
	return c.bad || c.p != c.end ? SG_ECORRUPT : SG_OK;
}

/* --- rendering and iteration ----------------------------------------- */

static char *put_u16(char *o, size_t v)
{
	o[0] = (char)v;
	o[1] = (char)(v >> 8);
	return o + 2;
}

static char *put_u32(char *o, size_t v)
{
	o[0] = (char)v;
	o[1] = (char)(v >> 8);
	o[2] = (char)(v >> 16);
	o[3] = (char)(v >> 24);
	return o + 4;
}

static char *put_bytes(char *o, const void *p, size_t n)
{
	if (n)
		memcpy(o, p, n);
	return o + n;
}

/* One { u16 len | name | u32 len | bytes } pair at o. */
static char *put_header(char *o, const char *name, size_t nl, const void *v, size_t n)
{
	o = put_bytes(put_u16(o, nl), name, nl);
	return put_bytes(put_u32(o, n), v, n);
}

/* Does the header block get sg-epoch?  (A record of the previous limit
 * of extra headers has no room for it.) */
static bool render_epoch(const struct sg_record *r)
{
	return r->epoch && r->nextra <= UINT16_MAX - 4;
}

/* The header block for seq with content type ct, appended to scratch:
 * sg-id "<gateway>:<seq>" (composed in place), sg-source, content-type,
 * sg-epoch, then the extra headers.  Returns the block's offset in
 * scratch.  Room for all of it is reserved first: 4 pairs of at most
 * 2 + 12 + 4 bytes besides their names' and values' own. */
static size_t render_headers(struct sg_record *r, const char *d, size_t nd, const char *ct,
			     size_t ctl, struct sg_buf *scratch)
{
	size_t hoff = scratch->len;
	bool epoch = render_epoch(r);
	char *o;

	if (!sg_buf_reserve(scratch, 4 * 18 + r->gateway_len + 1 + nd + r->source_len + ctl +
					 (epoch ? r->epoch_len : 0) + r->extra_len))
		return hoff;
	o = put_bytes(put_u16(scratch->p + hoff, 5), "sg-id", 5);
	o = put_bytes(put_u32(o, r->gateway_len + 1 + nd), r->gateway, r->gateway_len);
	*o++ = ':';
	o = put_bytes(o, d, nd);
	o = put_header(o, "sg-source", 9, r->source, r->source_len);
	o = put_header(o, "content-type", 12, ct, ctl);
	if (epoch)
		o = put_header(o, "sg-epoch", 8, r->epoch, r->epoch_len);
	o = put_bytes(o, r->extra, r->extra_len);
	scratch->len = (size_t)(o - scratch->p);
	scratch->p[scratch->len] = '\0';
	return hoff;
}

static void point_headers(struct sg_record *r, const struct sg_buf *scratch, size_t hoff)
{
	r->headers = (const uint8_t *)scratch->p + hoff;
	r->headers_len = scratch->len - hoff;
	r->nheaders = (uint16_t)(3 + render_epoch(r) + r->nextra);
}

int sg_record_render(struct sg_record *r, uint64_t seq, struct sg_buf *scratch)
{
	char d[20];
	size_t nd, hoff;
	const char *ct = SG_CONTENT_TYPE_JSON;
	size_t ctl = sizeof(SG_CONTENT_TYPE_JSON) - 1;

	if (r->version != SG_RECORD_V2)
		return SG_OK; /* version 1 carries its id already */
	nd = sg_fmt_u64(d, seq);
	sg_buf_reset(scratch);
	if (r->raw) {
		ct = r->content_type;
		ctl = r->content_type_len;
	} else {
		sg_event_json_record(scratch, r, d, nd);
	}
	hoff = render_headers(r, d, nd, ct, ctl, scratch);
	if (scratch->oom)
		return SG_ENOMEM;
	/* Pointers last: scratch may have moved while it grew. */
	if (!r->raw) {
		r->value = scratch->p;
		r->value_len = (uint32_t)hoff;
	}
	point_headers(r, scratch, hoff);
	return SG_OK;
}

int sg_record_render_headers(struct sg_record *r, uint64_t seq, const char *ct,
			     struct sg_buf *scratch)
{
	char d[20];
	size_t nd = sg_fmt_u64(d, seq), hoff;

	assert(r->version == SG_RECORD_V2);
	sg_buf_reset(scratch);
	hoff = render_headers(r, d, nd, ct, strlen(ct), scratch);
	if (scratch->oom)
		return SG_ENOMEM;
	point_headers(r, scratch, hoff);
	return SG_OK;
}

/* One { u16 len | name | u32 len | bytes } pair of a validated block. */
static int pair_next(const uint8_t *block, size_t block_len, size_t *pos, const char **name,
		     size_t *name_len, const void **val, size_t *val_len)
{
	const uint8_t *p = block + *pos;

	if (*pos >= block_len)
		return 0;
	*name_len = sg_get_u16(p);
	*name = (const char *)p + 2;
	*val_len = sg_get_u32(p + 2 + *name_len);
	*val = p + 2 + *name_len + 4;
	*pos += 2 + *name_len + 4 + *val_len;
	return 1;
}

int sg_record_header_next(const struct sg_record *r, size_t *pos, const char **name,
			  size_t *name_len, const void **val, size_t *val_len)
{
	return pair_next(r->headers, r->headers_len, pos, name, name_len, val, val_len);
}

int sg_event_attr_next(const struct sg_event_view *ev, size_t *pos, const char **key,
		       size_t *key_len, const char **val, size_t *val_len)
{
	const void *v;
	int more = pair_next(ev->attrs, ev->attrs_len, pos, key, key_len, &v, val_len);

	if (more)
		*val = v;
	return more;
}
