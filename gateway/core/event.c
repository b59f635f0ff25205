/*
 * event.c - the JSON envelope v1 and the spool payload of an event.
 *
 * Numbers are printed in the shortest form that reads back to the same
 * double; non-finite doubles (JSON has none) become the strings "NaN",
 * "Infinity" and "-Infinity".  Text is escaped, invalid UTF-8 replaced by
 * U+FFFD; bytes are base64.
 */
#include "event.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway/config/conf.h"

static const char *const quality_names[] = {"good", "uncertain", "bad"};

static void add_double(struct sg_buf *b, double d)
{
	char tmp[40];

	if (isnan(d)) {
		sg_buf_adds(b, "\"NaN\"");
		return;
	}
	if (isinf(d)) {
		sg_buf_adds(b, d > 0 ? "\"Infinity\"" : "\"-Infinity\"");
		return;
	}
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*g", prec, d);
		if (strtod(tmp, NULL) == d)
			break;
	}
	/* Keep it a JSON number: "1e+20" is fine, "inf" cannot occur. */
	sg_buf_adds(b, tmp);
}

static void add_base64(struct sg_buf *b, const uint8_t *p, size_t n)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	sg_buf_addc(b, '"');
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		char o[4] = {tab[v >> 18], tab[(v >> 12) & 63],
			     i + 1 < n ? tab[(v >> 6) & 63] : '=', i + 2 < n ? tab[v & 63] : '='};
		sg_buf_add(b, o, 4);
	}
	sg_buf_addc(b, '"');
}

static void add_time(struct sg_buf *b, int64_t ns)
{
	time_t s = (time_t)(ns / SG_NS_PER_S);
	long frac = (long)(ns % SG_NS_PER_S);
	struct tm tm;
	char tmp[40];

	if (frac < 0) {
		frac += SG_NS_PER_S;
		s--;
	}
	gmtime_r(&s, &tm);
	strftime(tmp, sizeof(tmp), "%Y-%m-%dT%H:%M:%S", &tm);
	sg_buf_printf(b, "\"%s.%09ldZ\"", tmp, frac);
}

static void add_value(struct sg_buf *b, const struct sg_value *v)
{
	static const char *const types[] = {"none", "double", "int",  "uint",
					    "bool", "string", "bytes"};

	sg_buf_adds(b, ",\"value\":");
	switch (v->type) {
	case SG_VAL_NONE: sg_buf_adds(b, "null"); break;
	case SG_VAL_DOUBLE: add_double(b, v->d); break;
	case SG_VAL_INT: sg_buf_printf(b, "%" PRId64, v->i); break;
	case SG_VAL_UINT: sg_buf_printf(b, "%" PRIu64, v->u); break;
	case SG_VAL_BOOL: sg_buf_adds(b, v->b ? "true" : "false"); break;
	case SG_VAL_STR: sg_buf_add_json_str(b, v->s.p, v->s.len); break;
	case SG_VAL_BYTES: add_base64(b, (const uint8_t *)v->s.p, v->s.len); break;
	}
	sg_buf_printf(b, ",\"type\":\"%s\"", types[v->type]);
}

void sg_event_json(const struct sg_event_ctx *ec, const struct sg_reading *rd, uint64_t seq,
		   int64_t ts_ns, struct sg_buf *b)
{
	sg_buf_adds(b, "{\"v\":1,\"id\":");
	{
		char id[128];
		int n = snprintf(id, sizeof(id), "%s:%" PRIu64, ec->gateway, seq);
		sg_buf_add_json_str(b, id, (size_t)n);
	}
	sg_buf_printf(b, ",\"seq\":%" PRIu64 ",\"gateway\":", seq);
	sg_buf_add_json_str(b, ec->gateway, strlen(ec->gateway));
	sg_buf_adds(b, ",\"source\":");
	sg_buf_add_json_str(b, ec->source, strlen(ec->source));
	sg_buf_adds(b, ",\"sensor\":");
	sg_buf_add_json_str(b, rd->sensor, strlen(rd->sensor));
	sg_buf_adds(b, ",\"time\":");
	add_time(b, ts_ns);
	sg_buf_printf(b, ",\"time_ns\":%" PRId64, ts_ns);
	add_value(b, &rd->value);
	if (rd->unit) {
		sg_buf_adds(b, ",\"unit\":");
		sg_buf_add_json_str(b, rd->unit, strlen(rd->unit));
	}
	sg_buf_printf(b, ",\"quality\":\"%s\"",
		      quality_names[rd->quality <= SG_Q_BAD ? rd->quality : SG_Q_BAD]);
	if (rd->reason) {
		sg_buf_adds(b, ",\"reason\":");
		sg_buf_add_json_str(b, rd->reason, strlen(rd->reason));
	}
	if (rd->nattrs) {
		sg_buf_adds(b, ",\"attrs\":{");
		for (size_t i = 0; i < rd->nattrs; i++) {
			if (i)
				sg_buf_addc(b, ',');
			sg_buf_add_json_str(b, rd->attrs[i].key, strlen(rd->attrs[i].key));
			sg_buf_addc(b, ':');
			sg_buf_add_json_str(b, rd->attrs[i].val, strlen(rd->attrs[i].val));
		}
		sg_buf_addc(b, '}');
	}
	sg_buf_addc(b, '}');
}

static void add_header(struct sg_buf *b, const char *name, const void *v, size_t n)
{
	size_t nl = strlen(name);
	sg_buf_add_u16(b, (uint16_t)nl);
	sg_buf_add(b, name, nl);
	sg_buf_add_u32(b, (uint32_t)n);
	sg_buf_add(b, v, n);
}

int sg_event_encode(const struct sg_event_ctx *ec, const struct sg_reading *rd, uint64_t seq,
		    struct sg_buf *out)
{
	char topic[256], id[128];
	const char *key = rd->key ? rd->key : rd->sensor;
	int64_t ts = rd->ts_ns ? rd->ts_ns : sg_now_ns();
	size_t tl, kl = strlen(key), vlen_pos, vstart;
	const char *ctype;
	int idn;

	if (rd->topic)
		snprintf(topic, sizeof(topic), "%s", rd->topic);
	else
		sg_topic_expand(ec->topic_tmpl, ec->gateway, ec->source, rd->sensor, topic,
				sizeof(topic));
	tl = strlen(topic);
	sg_buf_addc(out, 1);
	sg_buf_add_u64(out, (uint64_t)ts);
	sg_buf_add_u16(out, (uint16_t)tl);
	sg_buf_add(out, topic, tl);
	sg_buf_add_u32(out, (uint32_t)kl);
	sg_buf_add(out, key, kl);
	vlen_pos = out->len;
	sg_buf_add_u32(out, 0);
	vstart = out->len;
	if (rd->raw) {
		sg_buf_add(out, rd->value.s.p, rd->value.s.len);
		ctype = rd->content_type ? rd->content_type : "application/octet-stream";
	} else {
		sg_event_json(ec, rd, seq, ts, out);
		ctype = SG_CONTENT_TYPE_JSON;
	}
	if (out->oom)
		return SG_ENOMEM;
	{
		uint32_t vl = (uint32_t)(out->len - vstart);
		uint8_t *p = (uint8_t *)out->p + vlen_pos;
		p[0] = (uint8_t)vl;
		p[1] = (uint8_t)(vl >> 8);
		p[2] = (uint8_t)(vl >> 16);
		p[3] = (uint8_t)(vl >> 24);
	}
	sg_buf_add_u16(out, (uint16_t)(3 + rd->nheaders));
	idn = snprintf(id, sizeof(id), "%s:%" PRIu64, ec->gateway, seq);
	add_header(out, "sg-id", id, (size_t)idn);
	add_header(out, "sg-source", ec->source, strlen(ec->source));
	add_header(out, "content-type", ctype, strlen(ctype));
	for (size_t i = 0; i < rd->nheaders; i++)
		add_header(out, rd->headers[i].key, rd->headers[i].val, rd->headers[i].len);
	return out->oom ? SG_ENOMEM : SG_OK;
}

int sg_record_decode(const void *pv, size_t n, struct sg_record *r)
{
	const uint8_t *p = pv, *end = p + n;

#define NEED(k)                                                                                    \
	do {                                                                                       \
		if ((size_t)(end - p) < (size_t)(k))                                               \
			return SG_ECORRUPT;                                                        \
	} while (0)
	NEED(1 + 8 + 2);
	if (p[0] != 1)
		return SG_ECORRUPT;
	r->ts_ns = (int64_t)sg_get_u64(p + 1);
	r->topic_len = sg_get_u16(p + 9);
	p += 11;
	NEED(r->topic_len + 4);
	r->topic = (const char *)p;
	p += r->topic_len;
	r->key_len = sg_get_u32(p);
	p += 4;
	NEED((size_t)r->key_len + 4);
	r->key = p;
	p += r->key_len;
	r->value_len = sg_get_u32(p);
	p += 4;
	NEED((size_t)r->value_len + 2);
	r->value = p;
	p += r->value_len;
	r->nheaders = sg_get_u16(p);
	p += 2;
	r->headers = p;
	r->headers_len = (size_t)(end - p);
	/* Validate the header block once so iteration cannot overrun. */
	for (uint16_t i = 0; i < r->nheaders; i++) {
		NEED(2);
		size_t nl = sg_get_u16(p);
		NEED(2 + nl + 4);
		size_t vl = sg_get_u32(p + 2 + nl);
		NEED(2 + nl + 4 + vl);
		p += 2 + nl + 4 + vl;
	}
#undef NEED
	return p == end ? SG_OK : SG_ECORRUPT;
}

int sg_record_render(struct sg_record *r, uint64_t seq, struct sg_buf *scratch)
{
	/* Version 1 records carry their id already. */
	(void)r;
	(void)seq;
	(void)scratch;
	return SG_OK;
}

int sg_record_header_next(const struct sg_record *r, size_t *pos, const char **name,
			  size_t *name_len, const void **val, size_t *val_len)
{
	const uint8_t *p = r->headers + *pos;

	if (*pos >= r->headers_len)
		return 0;
	*name_len = sg_get_u16(p);
	*name = (const char *)p + 2;
	*val_len = sg_get_u32(p + 2 + *name_len);
	*val = p + 2 + *name_len + 4;
	*pos += 2 + *name_len + 4 + *val_len;
	return 1;
}
