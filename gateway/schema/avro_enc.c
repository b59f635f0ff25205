/*
 * avro_enc.c - the Avro binary of an event (avro_codec.h): the schema is
 * parsed and checked once, the fields are found by name, and each record
 * fills one reused libavro generic value that libavro writes out.  Runs
 * on the producer thread for every record of kafka.format avro.
 */
#include <avro.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "avro_codec.h"
#include "gateway/base/mem.h"

/* The fields the gateway writes; names as in sensorgate.avsc. */
enum {
	F_ID,
	F_SEQ,
	F_GATEWAY,
	F_SOURCE,
	F_SENSOR,
	F_TIME,
	F_TIME_NS,
	F_VALUE,
	F_TYPE,
	F_UNIT,
	F_QUALITY,
	F_REASON,
	F_ATTRS,
	F_N
};
static const char *const fld_names[F_N] = {"id",      "seq",     "gateway", "source", "sensor",
					   "time",    "time_ns", "value",   "type",   "unit",
					   "quality", "reason",  "attrs"};

/* Branches of the value union ["null","double","long","boolean","string","bytes"]. */
enum { B_NULL, B_DOUBLE, B_LONG, B_BOOL, B_STRING, B_BYTES };

struct sg_avro {
	avro_schema_t schema, key_schema;
	avro_value_iface_t *iface, *key_iface;
	avro_value_t val, key_val;
	int idx[F_N]; /* the field's index in the record, or -1 */
	int *added;   /* indices of added (nullable) fields */
	size_t nadded;
	char fullname[256];
	struct sg_buf str; /* a NUL-terminated, valid UTF-8 copy of one string */
};

/* --- libavro's allocations -------------------------------------------------- */

/* libavro allocates a string's length as read from the data before it
 * reads the bytes, so a corrupt length would ask for gigabytes: refuse
 * any single block larger than the largest record there can be. */
static void *ae_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	(void)ud;
	(void)osize;
	if (!nsize) {
		free(ptr);
		return NULL;
	}
	return nsize > SG_AVRO_MAX_BLOCK ? NULL : realloc(ptr, nsize);
}

static void ae_guard_init(void)
{
	avro_set_allocator(ae_alloc, NULL);
}

void sg_avro_guard(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, ae_guard_init);
}

/* --- opening: parse and check the schema --------------------------------- */

/* Each field of the built-in schema that `s` has must have its type. */
static int ae_check_known(struct sg_avro *a, avro_schema_t builtin, struct sg_errbuf *eb)
{
	for (int f = 0; f < F_N; f++) {
		avro_schema_t want = avro_schema_record_field_get(builtin, fld_names[f]);
		avro_schema_t have = avro_schema_record_field_get(a->schema, fld_names[f]);

		a->idx[f] = have ? avro_schema_record_field_get_index(a->schema, fld_names[f]) : -1;
		if (have && !avro_schema_equal(want, have))
			return sg_errf(eb, SG_EINVAL,
				       "field '%s' must keep the type it has in sensorgate.avsc",
				       fld_names[f]);
	}
	return SG_OK;
}

static bool ae_is_known(const char *name)
{
	for (int f = 0; f < F_N; f++)
		if (!strcmp(name, fld_names[f]))
			return true;
	return false;
}

/* Added fields: unions whose first branch is null. */
static int ae_check_added(struct sg_avro *a, struct sg_errbuf *eb)
{
	size_t n = avro_schema_record_size(a->schema);

	a->added = sg_xcalloc(n ? n : 1, sizeof(*a->added));
	for (size_t i = 0; i < n; i++) {
		const char *name = avro_schema_record_field_name(a->schema, (int)i);
		avro_schema_t t = avro_schema_record_field_get_by_index(a->schema, (int)i);

		if (ae_is_known(name))
			continue;
		if (!is_avro_union(t) || avro_schema_union_size(t) < 1 ||
		    !is_avro_null(avro_schema_union_branch(t, 0)))
			return sg_errf(eb, SG_EINVAL,
				       "added field '%s' must be a union with \"null\" first and "
				       "default null (the gateway writes null there)",
				       name);
		a->added[a->nadded++] = (int)i;
	}
	return SG_OK;
}

static int ae_parse(struct sg_avro *a, const char *json, size_t len, struct sg_errbuf *eb)
{
	avro_schema_t builtin;
	const char *ns;
	int rc;

	if (avro_schema_from_json_length(sg_avro_event_schema, strlen(sg_avro_event_schema),
					 &builtin))
		return sg_errf(eb, SG_EINVAL, "built-in schema: %s", avro_strerror());
	if (avro_schema_from_json_length(json, len, &a->schema)) {
		rc = sg_errf(eb, SG_EINVAL, "not an Avro schema: %s", avro_strerror());
	} else if (!is_avro_record(a->schema)) {
		rc = sg_errf(eb, SG_EINVAL, "the event schema must be a record");
	} else {
		rc = ae_check_known(a, builtin, eb);
		if (rc == SG_OK)
			rc = ae_check_added(a, eb);
	}
	avro_schema_decref(builtin);
	if (rc != SG_OK)
		return rc;
	ns = avro_schema_namespace(a->schema);
	snprintf(a->fullname, sizeof(a->fullname), "%s%s%s", ns ? ns : "", ns && *ns ? "." : "",
		 avro_schema_name(a->schema));
	return SG_OK;
}

int sg_avro_open(const char *json, size_t len, struct sg_avro **out, struct sg_errbuf *eb)
{
	struct sg_avro *a = sg_xcalloc(1, sizeof(*a));
	int rc;

	sg_avro_guard();
	sg_buf_init(&a->str);
	if ((rc = ae_parse(a, json, len, eb)) != SG_OK)
		goto err;
	a->key_schema = avro_schema_string();
	a->iface = avro_generic_class_from_schema(a->schema);
	a->key_iface = avro_generic_class_from_schema(a->key_schema);
	if (!a->iface || !a->key_iface || avro_generic_value_new(a->iface, &a->val) ||
	    avro_generic_value_new(a->key_iface, &a->key_val)) {
		rc = sg_errf(eb, SG_ENOMEM, "libavro: %s", avro_strerror());
		goto err;
	}
	*out = a;
	return SG_OK;
err:
	sg_avro_close(a);
	return rc;
}

void sg_avro_close(struct sg_avro *a)
{
	if (!a)
		return;
	if (a->val.self)
		avro_value_decref(&a->val);
	if (a->key_val.self)
		avro_value_decref(&a->key_val);
	if (a->iface)
		avro_value_iface_decref(a->iface);
	if (a->key_iface)
		avro_value_iface_decref(a->key_iface);
	if (a->schema)
		avro_schema_decref(a->schema);
	if (a->key_schema)
		avro_schema_decref(a->key_schema);
	free(a->added);
	sg_buf_free(&a->str);
	free(a);
}

const char *sg_avro_fullname(const struct sg_avro *a)
{
	return a->fullname;
}

/* --- encoding ------------------------------------------------------------ */

/* s[0..n) into a->str, NUL-terminated, each invalid byte as U+FFFD (the
 * rule of the JSON envelope, sg_utf8_len). */
static const char *ae_text(struct sg_avro *a, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;

	sg_buf_reset(&a->str);
	for (size_t i = 0; i < n;) {
		size_t run = i, l;

		while (run < n && (l = sg_utf8_len(u + run, n - run)))
			run += l;
		sg_buf_add(&a->str, s + i, run - i);
		if (run < n) {
			sg_buf_add(&a->str, "\xef\xbf\xbd", 3);
			run++;
		}
		i = run;
	}
	if (!a->str.p)
		sg_buf_add(&a->str, "", 0);
	return a->str.oom ? NULL : a->str.p;
}

static int set_str(struct sg_avro *a, avro_value_t *v, const char *s, size_t n)
{
	const char *t = ae_text(a, s, n);

	if (!t)
		return SG_ENOMEM;
	/* libavro's string sizes count the terminating NUL. */
	return avro_value_set_string_len(v, t, a->str.len + 1) ? SG_EINVAL : SG_OK;
}

/* Field f of the record, or false when the schema does not have it. */
static bool field(struct sg_avro *a, int f, avro_value_t *v)
{
	return a->idx[f] >= 0 && !avro_value_get_by_index(&a->val, (size_t)a->idx[f], v, NULL);
}

static int set_field_str(struct sg_avro *a, int f, const char *s, size_t n)
{
	avro_value_t v;
	return field(a, f, &v) ? set_str(a, &v, s, n) : SG_OK;
}

static int set_field_long(struct sg_avro *a, int f, int64_t x)
{
	avro_value_t v;
	return field(a, f, &v) && avro_value_set_long(&v, x) ? SG_EINVAL : SG_OK;
}

/* A ["null", "string"] field: null when s is NULL. */
static int set_field_opt(struct sg_avro *a, int f, const char *s, size_t n)
{
	avro_value_t v, b;

	if (!field(a, f, &v))
		return SG_OK;
	if (avro_value_set_branch(&v, s ? 1 : 0, &b))
		return SG_EINVAL;
	return s ? set_str(a, &b, s, n) : (avro_value_set_null(&b) ? SG_EINVAL : SG_OK);
}

static int set_value(struct sg_avro *a, const struct sg_value *x)
{
	avro_value_t v, b;
	char d[20];
	int rc = 0;

	if (!field(a, F_VALUE, &v))
		return SG_OK;
	switch (x->type) {
	case SG_VAL_NONE:
		rc = avro_value_set_branch(&v, B_NULL, &b) || avro_value_set_null(&b);
		break;
	case SG_VAL_DOUBLE:
		rc = avro_value_set_branch(&v, B_DOUBLE, &b) || avro_value_set_double(&b, x->d);
		break;
	case SG_VAL_INT:
		rc = avro_value_set_branch(&v, B_LONG, &b) || avro_value_set_long(&b, x->i);
		break;
	case SG_VAL_UINT:
		if (x->u <= INT64_MAX) {
			rc = avro_value_set_branch(&v, B_LONG, &b) ||
			     avro_value_set_long(&b, (int64_t)x->u);
		} else { /* beyond Avro's long: its decimal digits */
			rc = avro_value_set_branch(&v, B_STRING, &b) ||
			     set_str(a, &b, d, sg_fmt_u64(d, x->u));
		}
		break;
	case SG_VAL_BOOL:
		rc = avro_value_set_branch(&v, B_BOOL, &b) || avro_value_set_boolean(&b, x->b);
		break;
	case SG_VAL_STR:
		rc = avro_value_set_branch(&v, B_STRING, &b) || set_str(a, &b, x->s.p, x->s.len);
		break;
	case SG_VAL_BYTES:
		rc = avro_value_set_branch(&v, B_BYTES, &b) ||
		     avro_value_set_bytes(&b, (void *)x->s.p, x->s.len);
		break;
	}
	return rc ? SG_EINVAL : SG_OK;
}

static int set_enum(struct sg_avro *a, int f, int sym)
{
	avro_value_t v;
	return field(a, f, &v) && avro_value_set_enum(&v, sym) ? SG_EINVAL : SG_OK;
}

static int set_attrs(struct sg_avro *a, const struct sg_event_view *ev)
{
	size_t pos = 0, kl, vl, index;
	const char *k, *val, *key;
	avro_value_t m, e;
	int is_new;

	if (!field(a, F_ATTRS, &m))
		return SG_OK;
	while (sg_event_attr_next(ev, &pos, &k, &kl, &val, &vl)) {
		if (!(key = ae_text(a, k, kl)))
			return SG_ENOMEM;
		/* The map copies the key, so a->str may be reused for the value. */
		if (avro_value_add(&m, key, &e, &index, &is_new) ||
		    set_str(a, &e, val, vl) != SG_OK)
			return SG_EINVAL;
	}
	return SG_OK;
}

static int set_added(struct sg_avro *a)
{
	avro_value_t v, b;

	for (size_t i = 0; i < a->nadded; i++)
		if (avro_value_get_by_index(&a->val, (size_t)a->added[i], &v, NULL) ||
		    avro_value_set_branch(&v, 0, &b) || avro_value_set_null(&b))
			return SG_EINVAL;
	return SG_OK;
}

/* Append the binary of v to out. */
static int ae_write(avro_value_t *v, struct sg_buf *out)
{
	size_t n;
	avro_writer_t w;
	int rc;

	if (avro_value_sizeof(v, &n))
		return SG_EINVAL;
	if (!sg_buf_reserve(out, n))
		return SG_ENOMEM;
	w = avro_writer_memory(out->p + out->len, (int64_t)n);
	if (!w)
		return SG_ENOMEM;
	rc = avro_value_write(w, v) ? SG_EINVAL : SG_OK;
	avro_writer_free(w);
	if (rc == SG_OK) {
		out->len += n;
		out->p[out->len] = '\0';
	}
	return rc;
}

/* Floor division: event times before 1970 round down like a clock. */
static int64_t floor_div(int64_t x, int64_t d)
{
	return x / d - (x % d < 0);
}

int sg_avro_encode(struct sg_avro *a, const struct sg_record *r, uint64_t seq, struct sg_buf *out)
{
	const struct sg_event_view *ev = &r->ev;
	char d[20], id[200];
	size_t nd = sg_fmt_u64(d, seq);
	int idn =
	    snprintf(id, sizeof(id), "%.*s:%.*s", (int)r->gateway_len, r->gateway, (int)nd, d);
	int rc;

	avro_value_reset(&a->val);
	rc = set_field_str(a, F_ID, id, (size_t)idn);
	rc = rc ?: set_field_long(a, F_SEQ, (int64_t)seq);
	rc = rc ?: set_field_str(a, F_GATEWAY, r->gateway, r->gateway_len);
	rc = rc ?: set_field_str(a, F_SOURCE, r->source, r->source_len);
	rc = rc ?: set_field_str(a, F_SENSOR, ev->sensor, ev->sensor_len);
	rc = rc ?: set_field_long(a, F_TIME, floor_div(r->ts_ns, 1000));
	rc = rc ?: set_field_long(a, F_TIME_NS, r->ts_ns);
	rc = rc ?: set_value(a, &ev->value);
	rc = rc ?: set_enum(a, F_TYPE, (int)ev->value.type);
	rc = rc ?: set_field_opt(a, F_UNIT, ev->unit, ev->unit_len);
	rc = rc ?: set_enum(a, F_QUALITY, (int)ev->quality);
	rc = rc ?: set_field_opt(a, F_REASON, ev->reason, ev->reason_len);
	rc = rc ?: set_attrs(a, ev);
	rc = rc ?: set_added(a);
	return rc ?: ae_write(&a->val, out);
}

int sg_avro_encode_key(struct sg_avro *a, const void *key, size_t len, struct sg_buf *out)
{
	int rc;

	avro_value_reset(&a->key_val);
	if ((rc = set_str(a, &a->key_val, key, len)) != SG_OK)
		return rc;
	return ae_write(&a->key_val, out);
}
