/*
 * avro_read.c - from the Avro binary of a record back to JSON
 * (avro_codec.h), for `sensorgate sink`.  Data written with a
 * sensorgate.Event schema (the built-in one or an evolved one) is read
 * with libavro and rendered as the JSON envelope v1 by the event module, so a sink writes the same
 * text whichever kafka.format the gateway used; anything else becomes Avro's own JSON.
 */
#include <avro.h>
#include <stdlib.h>
#include <string.h>

#include "avro_codec.h"
#include "gateway/base/mem.h"

struct sg_avro_reader {
	avro_schema_t writer;
	avro_value_iface_t *w_iface;
	avro_value_t wval;
	bool event;          /* a sensorgate.Event: rendered as the envelope */
	struct sg_buf attrs; /* the attribute block of struct sg_event_view */
};

/* A sensorgate.Event: the built-in schema or one evolved from it, whose
 * fields keep their types (avro_codec.h).  Its fields are read by name
 * from the writer's own value: no schema resolution, which would turn a
 * long into the value union's double branch. */
static bool reader_is_event(const struct sg_avro_reader *rd)
{
	const char *ns = avro_schema_namespace(rd->writer);

	return is_avro_record(rd->writer) && ns && !strcmp(ns, "sensorgate") &&
	       !strcmp(avro_schema_name(rd->writer), "Event");
}

int sg_avro_reader_new(const char *writer_json, size_t len, struct sg_avro_reader **out,
		       struct sg_errbuf *eb)
{
	struct sg_avro_reader *rd = sg_xcalloc(1, sizeof(*rd));

	sg_avro_guard();
	sg_buf_init(&rd->attrs);
	if (avro_schema_from_json_length(writer_json, len, &rd->writer)) {
		sg_errf(eb, SG_EINVAL, "not an Avro schema: %s", avro_strerror());
		sg_avro_reader_free(rd);
		return SG_EINVAL;
	}
	rd->event = reader_is_event(rd);
	rd->w_iface = avro_generic_class_from_schema(rd->writer);
	if (!rd->w_iface || avro_generic_value_new(rd->w_iface, &rd->wval)) {
		sg_errf(eb, SG_ENOMEM, "libavro: %s", avro_strerror());
		sg_avro_reader_free(rd);
		return SG_ENOMEM;
	}
	*out = rd;
	return SG_OK;
}

void sg_avro_reader_free(struct sg_avro_reader *rd)
{
	if (!rd)
		return;
	if (rd->wval.self)
		avro_value_decref(&rd->wval);
	if (rd->w_iface)
		avro_value_iface_decref(rd->w_iface);
	if (rd->writer)
		avro_schema_decref(rd->writer);
	sg_buf_free(&rd->attrs);
	free(rd);
}

/* --- the envelope of an event ------------------------------------------- */

/* The string field `name` of v (NULL, 0 when absent or null). */
static const char *get_str(avro_value_t *v, const char *name, size_t *len)
{
	avro_value_t f, b;
	const char *s = NULL;
	size_t n = 0;

	*len = 0;
	if (avro_value_get_by_name(v, name, &f, NULL))
		return NULL;
	if (avro_value_get_type(&f) == AVRO_UNION) {
		if (avro_value_get_current_branch(&f, &b) || avro_value_get_type(&b) != AVRO_STRING)
			return NULL;
		f = b;
	}
	if (avro_value_get_string(&f, &s, &n) || !n)
		return NULL;
	*len = n - 1; /* libavro counts the NUL */
	return s;
}

static int64_t get_long(avro_value_t *v, const char *name)
{
	avro_value_t f;
	int64_t x = 0;

	if (!avro_value_get_by_name(v, name, &f, NULL))
		avro_value_get_long(&f, &x);
	return x;
}

static int get_enum(avro_value_t *v, const char *name)
{
	avro_value_t f;
	int x = 0;

	if (!avro_value_get_by_name(v, name, &f, NULL))
		avro_value_get_enum(&f, &x);
	return x;
}

/* The value union and the type enum back into a struct sg_value. */
static void get_value(avro_value_t *v, struct sg_value *x)
{
	avro_value_t f, b;
	const void *p = NULL;
	size_t n = 0;
	int t = get_enum(v, "type");

	memset(x, 0, sizeof(*x));
	x->type = t >= SG_VAL_NONE && t <= SG_VAL_BYTES ? (enum sg_vtype)t : SG_VAL_NONE;
	if (avro_value_get_by_name(v, "value", &f, NULL) || avro_value_get_current_branch(&f, &b))
		return;
	switch (avro_value_get_type(&b)) {
	case AVRO_DOUBLE: avro_value_get_double(&b, &x->d); break;
	case AVRO_INT64:
		avro_value_get_long(&b, &x->i);
		if (x->type == SG_VAL_UINT)
			x->u = (uint64_t)x->i;
		break;
	case AVRO_BOOLEAN: {
		int bv = 0;
		avro_value_get_boolean(&b, &bv);
		x->b = bv != 0;
		break;
	}
	case AVRO_STRING:
		avro_value_get_string(&b, (const char **)&p, &n);
		if (x->type == SG_VAL_UINT) { /* a uint beyond Avro's long */
			x->u = strtoull(p, NULL, 10);
			break;
		}
		x->s.p = p;
		x->s.len = n ? n - 1 : 0;
		break;
	case AVRO_BYTES:
		avro_value_get_bytes(&b, &p, &n);
		x->s.p = p;
		x->s.len = n;
		break;
	default: x->type = SG_VAL_NONE;
	}
}

/* The attribute map as the { u16 len | key | u32 len | value } block of
 * struct sg_event_view (event.h). */
static void get_attrs(struct sg_avro_reader *rd, avro_value_t *v, struct sg_event_view *ev)
{
	avro_value_t m, e;
	size_t n = 0;

	sg_buf_reset(&rd->attrs);
	if (avro_value_get_by_name(v, "attrs", &m, NULL) || avro_value_get_size(&m, &n))
		return;
	for (size_t i = 0; i < n && i < UINT16_MAX; i++) {
		const char *key = NULL, *s = NULL;
		size_t sl = 0, kl;

		if (avro_value_get_by_index(&m, i, &e, &key) || avro_value_get_string(&e, &s, &sl))
			continue;
		kl = strlen(key);
		sg_buf_add_u16(&rd->attrs, (uint16_t)(kl > UINT16_MAX ? UINT16_MAX : kl));
		sg_buf_add(&rd->attrs, key, kl > UINT16_MAX ? UINT16_MAX : kl);
		sg_buf_add_u32(&rd->attrs, (uint32_t)(sl ? sl - 1 : 0));
		sg_buf_add(&rd->attrs, s, sl ? sl - 1 : 0);
		ev->nattrs++;
	}
	ev->attrs = (const uint8_t *)rd->attrs.p;
	ev->attrs_len = rd->attrs.len;
}

static int reader_envelope(struct sg_avro_reader *rd, struct sg_buf *out)
{
	avro_value_t *v = &rd->wval;
	struct sg_record r = {.version = SG_RECORD_V2};
	struct sg_event_view *ev = &r.ev;
	size_t n, seq_len;
	int q = get_enum(v, "quality");
	char seq[20];

	r.gateway = get_str(v, "gateway", &n);
	r.gateway_len = (uint16_t)n;
	r.source = get_str(v, "source", &n);
	r.source_len = (uint16_t)n;
	r.ts_ns = get_long(v, "time_ns");
	ev->sensor = get_str(v, "sensor", &n);
	ev->sensor_len = (uint16_t)n;
	get_value(v, &ev->value);
	ev->quality = q >= SG_Q_GOOD && q <= SG_Q_BAD ? (enum sg_quality)q : SG_Q_BAD;
	ev->unit = get_str(v, "unit", &n);
	ev->unit_len = (uint16_t)n;
	ev->reason = get_str(v, "reason", &n);
	ev->reason_len = (uint32_t)n;
	get_attrs(rd, v, ev);
	seq_len = sg_fmt_u64(seq, (uint64_t)get_long(v, "seq"));
	if (rd->attrs.oom)
		return SG_ENOMEM;
	sg_event_json_record(out, &r, seq, seq_len);
	return out->oom ? SG_ENOMEM : SG_OK;
}

int sg_avro_reader_json(struct sg_avro_reader *rd, const void *body, size_t n, struct sg_buf *out)
{
	avro_reader_t in = avro_reader_memory(body, (int64_t)n);
	char *json = NULL;
	int rc;

	if (!in)
		return SG_ENOMEM;
	avro_value_reset(&rd->wval);
	if (rd->event) {
		rc = avro_value_read(in, &rd->wval) ? SG_ECORRUPT : reader_envelope(rd, out);
	} else if (is_avro_string(rd->writer)) { /* an Avro key: the text itself */
		const char *str = NULL;
		size_t sl = 0;

		rc = avro_value_read(in, &rd->wval) || avro_value_get_string(&rd->wval, &str, &sl)
			 ? SG_ECORRUPT
			 : SG_OK;
		if (rc == SG_OK)
			sg_buf_add(out, str, sl ? sl - 1 : 0);
	} else {
		rc = avro_value_read(in, &rd->wval) ? SG_ECORRUPT : SG_OK;
		if (rc == SG_OK && avro_value_to_json(&rd->wval, 1, &json))
			rc = SG_ENOMEM;
		if (json)
			sg_buf_adds(out, json);
		free(json);
	}
	avro_reader_free(in);
	return rc;
}
