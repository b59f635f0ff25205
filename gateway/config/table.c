/*
 * table.c - the generic table walker: YAML node -> C struct.
 *
 * One function per concern: scalar conversion (cfg_set_scalar), mapping
 * walk with unknown-key detection (sg_cfg_parse_map), lists, defaults and
 * freeing; table_doc.c prints, documents and verifies tables.  Everything
 * is driven by the struct sg_cfg_key rows; no key is known here by name,
 * and a custom key's value goes to its own callbacks.
 */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "table_internal.h"
#include "gateway/base/fs.h"
#include "gateway/base/mem.h"
#include "gateway/base/parse.h"

#define FIELD(obj, k, T) ((T *)((char *)(obj) + (k)->off))

/* One error is one line: control characters of a key or value from the
 * file (a key may hold a newline) are shown as '?'. */
static void cfg_one_line(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

void sg_cfg_error(struct sg_cfg_ctx *ctx, const struct sg_cfg_pos *pos, const char *path,
		  const char *fmt, ...)
{
	va_list ap;
	char msg[512], p[512];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(p, sizeof(p), "%s", path);
	cfg_one_line(msg);
	cfg_one_line(p);
	if (pos && pos->line)
		sg_buf_printf(&ctx->errors, "%s:%d:%d: %s: %s\n", ctx->file, pos->line, pos->col, p,
			      msg);
	else
		sg_buf_printf(&ctx->errors, "%s: %s: %s\n", ctx->file, p, msg);
	ctx->nerrors++;
}

struct sg_cfg_pos sg_cfg_node_pos(struct sg_cfg_ctx *ctx, struct fy_node *n)
{
	struct sg_cfg_pos pos = {.file = ctx->file};
	struct fy_token *t = n ? fy_node_get_scalar_token(n) : NULL;
	const struct fy_mark *m = t ? fy_token_start_mark(t) : NULL;

	if (m) {
		pos.line = m->line + 1;
		pos.col = m->column + 1;
	}
	return pos;
}

struct sg_cfg_pos sg_cfg_value_pos(struct sg_cfg_ctx *ctx, struct fy_node *v,
				   const struct sg_cfg_pos *kpos)
{
	struct sg_cfg_pos pos = sg_cfg_node_pos(ctx, v);

	return pos.line ? pos : *kpos;
}

/* Expand ${VAR} references.  Returns a heap string or NULL (error set). */
char *sg_cfg_expand(struct sg_cfg_ctx *ctx, const struct sg_cfg_pos *pos, const char *path,
		    const char *s)
{
	struct sg_buf b;

	sg_buf_init(&b);
	sg_buf_add(&b, "", 0);
	while (*s) {
		const char *start = strstr(s, "${"), *end;
		char name[128];
		const char *val;

		if (!start) {
			sg_buf_adds(&b, s);
			break;
		}
		sg_buf_add(&b, s, (size_t)(start - s));
		end = strchr(start, '}');
		if (!end || (size_t)(end - start - 2) >= sizeof(name) || end == start + 2) {
			sg_cfg_error(ctx, pos, path, "malformed ${NAME} reference");
			sg_buf_free(&b);
			return NULL;
		}
		memcpy(name, start + 2, (size_t)(end - start - 2));
		name[end - start - 2] = '\0';
		val = getenv(name);
		if (!val) {
			sg_cfg_error(ctx, pos, path, "environment variable %s is not set", name);
			sg_buf_free(&b);
			return NULL;
		}
		sg_buf_adds(&b, val);
		s = end + 1;
	}
	if (b.oom)
		abort();
	return b.p;
}

char *sg_cfg_secret(struct sg_cfg_ctx *ctx, const struct sg_cfg_pos *pos, const char *path, char *s)
{
	char *data = NULL;
	size_t len = 0;
	int rc;

	if (strncmp(s, "file:", 5) != 0)
		return s;
	rc = sg_read_file(s + 5, 64 * 1024, &data, &len);
	if (rc != SG_OK) {
		sg_cfg_error(ctx, pos, path, "cannot read secret file %s: %s", s + 5,
			     sg_strerror(rc));
		free(s);
		return NULL;
	}
	while (len && (data[len - 1] == '\n' || data[len - 1] == '\r'))
		data[--len] = '\0';
	free(s);
	return data;
}

static bool cfg_in_range(const struct sg_cfg_key *k, double v)
{
	return !k->ranged || (v >= k->min && v <= k->max);
}

static int cfg_word_index(const struct sg_cfg_key *k, const char *s)
{
	for (int i = 0; k->words && k->words[i]; i++)
		if (!strcmp(k->words[i], s))
			return i;
	return -1;
}

void sg_cfg_words(const struct sg_cfg_key *k, char *out, size_t n)
{
	size_t used = 0;

	out[0] = '\0';
	for (int i = 0; k->words && k->words[i]; i++)
		used += (size_t)snprintf(out + used, used < n ? n - used : 0, "%s%s", i ? ", " : "",
					 k->words[i]);
}

/* INT, DURATION, SIZE: a special word (SG_SPECIAL) or a number in range. */
static int cfg_set_i64(struct sg_cfg_ctx *ctx, const struct sg_cfg_pos *pos, const char *path,
		       const struct sg_cfg_key *k, void *obj, const char *s)
{
	int idx = cfg_word_index(k, s);
	int64_t v;

	if (idx >= 0) {
		*FIELD(obj, k, int64_t) = -1 - idx;
		return SG_OK;
	}
	if (k->type == SG_CFG_INT        ? sg_parse_i64(s, &v)
	    : k->type == SG_CFG_DURATION ? sg_parse_duration_ms(s, &v)
					 : sg_parse_size(s, &v)) {
		sg_cfg_error(ctx, pos, path, "'%s' is not %s", s,
			     k->type == SG_CFG_INT        ? "an integer"
			     : k->type == SG_CFG_DURATION ? "a duration (e.g. 250ms, 5s, 2m)"
							  : "a size (e.g. 512k, 16MiB)");
		return SG_ECONFIG;
	}
	if (!cfg_in_range(k, (double)v)) {
		sg_cfg_error(ctx, pos, path, "%s is out of range [%.17g, %.17g]%s", s, k->min,
			     k->max,
			     k->type == SG_CFG_DURATION ? " ms"
			     : k->type == SG_CFG_SIZE   ? " bytes"
							: "");
		return SG_ECONFIG;
	}
	*FIELD(obj, k, int64_t) = v;
	return SG_OK;
}

static int cfg_set_double(struct sg_cfg_ctx *ctx, const struct sg_cfg_pos *pos, const char *path,
			  const struct sg_cfg_key *k, void *obj, const char *s)
{
	double d;

	if (sg_parse_double(s, &d)) {
		sg_cfg_error(ctx, pos, path, "'%s' is not a number", s);
		return SG_ECONFIG;
	}
	if (!cfg_in_range(k, d)) {
		sg_cfg_error(ctx, pos, path, "%s is out of range [%.17g, %.17g]", s, k->min,
			     k->max);
		return SG_ECONFIG;
	}
	*FIELD(obj, k, double) = d;
	return SG_OK;
}

/* Convert the text s for scalar key k into obj.  SG_OK or SG_ECONFIG. */
static int cfg_set_scalar(struct sg_cfg_ctx *ctx, const struct sg_cfg_pos *pos, const char *path,
			  const struct sg_cfg_key *k, void *obj, const char *text)
{
	char *s = sg_cfg_expand(ctx, pos, path, text), list[256];
	bool b;
	int idx, rc = SG_OK;

	if (!s)
		return SG_ECONFIG;
	switch (k->type) {
	case SG_CFG_STR:
	case SG_CFG_SECRET:
		if (k->type == SG_CFG_SECRET && !(s = sg_cfg_secret(ctx, pos, path, s)))
			return SG_ECONFIG;
		free(*FIELD(obj, k, char *));
		*FIELD(obj, k, char *) = s;
		return SG_OK;
	case SG_CFG_ENUM:
		idx = cfg_word_index(k, s);
		if (idx < 0) {
			sg_cfg_words(k, list, sizeof(list));
			sg_cfg_error(ctx, pos, path, "'%s' is not one of: %s", s, list);
			rc = SG_ECONFIG;
		} else {
			*FIELD(obj, k, int) = idx;
		}
		break;
	case SG_CFG_BOOL:
		if (sg_parse_bool(s, &b) != 0) {
			sg_cfg_error(ctx, pos, path, "'%s' is not a boolean (true or false)", s);
			rc = SG_ECONFIG;
		} else {
			*FIELD(obj, k, bool) = b;
		}
		break;
	case SG_CFG_INT:
	case SG_CFG_DURATION:
	case SG_CFG_SIZE: rc = cfg_set_i64(ctx, pos, path, k, obj, s); break;
	case SG_CFG_DOUBLE: rc = cfg_set_double(ctx, pos, path, k, obj, s); break;
	default:
		/* Not a scalar kind: cfg_parse_value() never gets here, and
		 * sg_cfg_verify() refuses a default on such a key. */
		assert(!"scalar text for a non-scalar key");
		rc = SG_ECONFIG;
	}
	free(s);
	return rc;
}

static const char *cfg_scalar(struct fy_node *n, char *buf, size_t bufsz)
{
	size_t len;
	const char *s = fy_node_get_scalar(n, &len);

	if (!s || len >= bufsz)
		return NULL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	return buf;
}

static int cfg_parse_list(struct sg_cfg_ctx *ctx, struct fy_node *v, const struct sg_cfg_pos *pos,
			  const char *path, const struct sg_cfg_key *k, void *obj)
{
	struct sg_cfg_list *l = FIELD(obj, k, struct sg_cfg_list);
	const struct sg_cfg_table *t = k->sub;
	void *iter = NULL;
	struct fy_node *item;
	int n = fy_node_sequence_item_count(v), i = 0, rc = SG_OK;
	char ipath[512];

	l->items = sg_xcalloc((size_t)n, t->size);
	l->n = 0;
	while ((item = fy_node_sequence_iterate(v, &iter))) {
		void *it = (char *)l->items + (size_t)i * t->size;
		struct sg_cfg_pos ipos = *pos;

		if (snprintf(ipath, sizeof(ipath), "%s[%d]", path, i) >= (int)sizeof(ipath))
			ipath[sizeof(ipath) - 1] = '\0';
		sg_cfg_defaults(t, it);
		l->n = (size_t)++i;
		if (!fy_node_is_mapping(item)) {
			ipos = sg_cfg_node_pos(ctx, item);
			sg_cfg_error(ctx, &ipos, ipath, "expected a mapping");
			rc = SG_ECONFIG;
			continue;
		}
		if (sg_cfg_parse_map(ctx, item, &ipos, ipath, t, it, NULL, NULL) != SG_OK)
			rc = SG_ECONFIG;
	}
	return rc;
}

static int cmp_kv(const void *a, const void *b)
{
	const struct sg_cfg_kv *x = *(const struct sg_cfg_kv *const *)a;
	const struct sg_cfg_kv *y = *(const struct sg_cfg_kv *const *)b;
	int c = strcmp(x->key, y->key);

	return c ? c
		 : (x->pos.line != y->pos.line ? x->pos.line - y->pos.line
					       : x->pos.col - y->pos.col);
}

/* Keys given twice: sorted, so a mapping of 40,000 keys costs no more
 * than sorting them (libfyaml's own check is quadratic and is off,
 * yaml_load.c). */
static int cfg_kv_duplicates(struct sg_cfg_ctx *ctx, const char *path, const struct sg_cfg_map *m)
{
	const struct sg_cfg_kv **v = sg_xcalloc(m->n ? m->n : 1, sizeof(*v));
	char sub[768];
	int rc = SG_OK;

	for (size_t i = 0; i < m->n; i++)
		v[i] = &m->kv[i];
	qsort(v, m->n, sizeof(*v), cmp_kv);
	for (size_t i = 1; i < m->n; i++) {
		if (strcmp(v[i - 1]->key, v[i]->key))
			continue;
		snprintf(sub, sizeof(sub), "%s.%s", path, v[i]->key);
		sg_cfg_error(ctx, &v[i]->pos, sub, "duplicate key (first at line %d)",
			     v[i - 1]->pos.line);
		rc = SG_ECONFIG;
	}
	free(v);
	return rc;
}

const struct sg_cfg_pos *sg_cfg_map_pos(const struct sg_cfg_map *m, const char *key)
{
	for (size_t i = 0; i < m->n; i++)
		if (!strcmp(m->kv[i].key, key))
			return m->kv[i].pos.line ? &m->kv[i].pos : NULL;
	return NULL;
}

/* A mapping of strings (kafka.properties); values expand ${ENV}. */
static int cfg_parse_kv(struct sg_cfg_ctx *ctx, struct fy_node *v, const char *path,
			struct sg_cfg_map *m)
{
	struct fy_node_pair *p;
	void *iter = NULL;
	int rc = SG_OK;
	char buf[8192];

	m->kv = sg_xcalloc((size_t)fy_node_mapping_item_count(v), sizeof(*m->kv));
	while ((p = fy_node_mapping_iterate(v, &iter))) {
		struct fy_node *pk = fy_node_pair_key(p);
		struct fy_node *pv = fy_node_pair_value(p);
		struct sg_cfg_pos ppos = sg_cfg_node_pos(ctx, pk);
		char kb[256], sub[768], *e;
		const char *ks = cfg_scalar(pk, kb, sizeof(kb));
		const char *vs = cfg_scalar(pv, buf, sizeof(buf));

		snprintf(sub, sizeof(sub), "%s.%s", path, ks ? ks : "?");
		if (ks && !*ks) {
			sg_cfg_error(ctx, &ppos, path, "empty key name");
			rc = SG_ECONFIG;
			continue;
		}
		if (!ks || !vs || !fy_node_is_scalar(pv)) {
			sg_cfg_error(ctx, &ppos, sub, "expected a scalar value");
			rc = SG_ECONFIG;
			continue;
		}
		if (!(e = sg_cfg_expand(ctx, &ppos, sub, vs))) {
			rc = SG_ECONFIG;
			continue;
		}
		m->kv[m->n].key = sg_strdup(ks);
		m->kv[m->n].pos = ppos;
		m->kv[m->n++].val = e;
	}
	if (cfg_kv_duplicates(ctx, path, m) != SG_OK)
		rc = SG_ECONFIG;
	return rc;
}

/* A sequence of strings; each expands ${ENV}. */
static int cfg_parse_strlist(struct sg_cfg_ctx *ctx, struct fy_node *v, const char *path,
			     struct sg_cfg_strlist *sl)
{
	struct fy_node *item;
	void *iter = NULL;
	int rc = SG_OK;
	char buf[8192];

	sl->v = sg_xcalloc((size_t)fy_node_sequence_item_count(v), sizeof(char *));
	while ((item = fy_node_sequence_iterate(v, &iter))) {
		struct sg_cfg_pos ip = sg_cfg_node_pos(ctx, item);
		const char *s = fy_node_is_scalar(item) ? cfg_scalar(item, buf, sizeof(buf)) : NULL;
		char *e;

		if (!s) {
			sg_cfg_error(ctx, &ip, path, "expected a list of strings");
			rc = SG_ECONFIG;
			continue;
		}
		if (!(e = sg_cfg_expand(ctx, &ip, path, s))) {
			rc = SG_ECONFIG;
			continue;
		}
		sl->v[sl->n++] = e;
	}
	return rc;
}

/* The node v of key k (at pos), by kind.  SG_OK or SG_ECONFIG. */
static int cfg_parse_value(struct sg_cfg_ctx *ctx, struct fy_node *v, const struct sg_cfg_pos *pos,
			   const char *path, const struct sg_cfg_key *k, void *obj)
{
	struct sg_cfg_pos vpos = sg_cfg_value_pos(ctx, v, pos);
	bool mapping = k->type == SG_CFG_SECTION || k->type == SG_CFG_MAP;
	bool sequence = k->type == SG_CFG_LIST || k->type == SG_CFG_STRLIST;
	char buf[8192];

	if ((mapping && !fy_node_is_mapping(v)) || (sequence && !fy_node_is_sequence(v))) {
		sg_cfg_error(ctx, &vpos, path, "expected a %s", mapping ? "mapping" : "sequence");
		return SG_ECONFIG;
	}
	switch (k->type) {
	case SG_CFG_SECTION:
		assert(k->sub->size == k->size);
		return sg_cfg_parse_map(ctx, v, pos, path, k->sub, FIELD(obj, k, char), NULL, NULL);
	case SG_CFG_LIST: return cfg_parse_list(ctx, v, pos, path, k, obj);
	case SG_CFG_MAP: return cfg_parse_kv(ctx, v, path, FIELD(obj, k, struct sg_cfg_map));
	case SG_CFG_STRLIST:
		return cfg_parse_strlist(ctx, v, path, FIELD(obj, k, struct sg_cfg_strlist));
	case SG_CFG_CUSTOM:
		assert(k->custom->size == k->size);
		return k->custom->parse(ctx, v, pos, path, k, FIELD(obj, k, char));
	default:
		if (!fy_node_is_scalar(v) || fy_node_is_alias(v)) {
			sg_cfg_error(ctx, &vpos, path, "expected a scalar");
			return SG_ECONFIG;
		}
		if (!cfg_scalar(v, buf, sizeof(buf))) {
			sg_cfg_error(ctx, &vpos, path, "value too long");
			return SG_ECONFIG;
		}
		return cfg_set_scalar(ctx, &vpos, path, k, obj, buf);
	}
}

static const struct sg_cfg_key *cfg_find(const struct sg_cfg_table *t, const char *name)
{
	for (size_t i = 0; t && i < t->nkeys; i++)
		if (!strcmp(t->keys[i].name, name))
			return &t->keys[i];
	return NULL;
}

/* Report every required key of t (may be NULL) not seen, at pos.  The
 * number reported. */
static int cfg_missing(struct sg_cfg_ctx *ctx, const struct sg_cfg_pos *pos, const char *path,
		       const struct sg_cfg_table *t, const unsigned char *seen)
{
	char kpath[512];
	int n = 0;

	for (size_t i = 0; t && i < t->nkeys && i < SG_CFG_MAX_KEYS; i++) {
		if (!t->keys[i].required || seen[i])
			continue;
		snprintf(kpath, sizeof(kpath), "%s%s%s", path, *path ? "." : "", t->keys[i].name);
		sg_cfg_error(ctx, pos, kpath, "required key is missing");
		n++;
	}
	return n;
}

int sg_cfg_parse_map(struct sg_cfg_ctx *ctx, struct fy_node *map, const struct sg_cfg_pos *mpos,
		     const char *path, const struct sg_cfg_table *t, void *obj,
		     const struct sg_cfg_table *extra, void *extra_obj)
{
	unsigned char seen[2][SG_CFG_MAX_KEYS] = {{0}};
	struct fy_node_pair *p;
	void *iter = NULL;
	int rc = SG_OK;
	char kpath[512];
	struct sg_cfg_pos first = *mpos;
	bool have_first = false;

	while ((p = fy_node_mapping_iterate(map, &iter))) {
		struct fy_node *kn = fy_node_pair_key(p);
		struct fy_node *vn = fy_node_pair_value(p);
		struct sg_cfg_pos kpos = sg_cfg_node_pos(ctx, kn);
		const struct sg_cfg_key *k;
		char kb[128];
		const char *name = cfg_scalar(kn, kb, sizeof(kb));
		void *target = obj;
		int which = 0;

		if (!have_first && kpos.line) {
			first = kpos;
			have_first = true;
		}
		snprintf(kpath, sizeof(kpath), "%s%s%s", path, *path ? "." : "", name ? name : "?");
		if (!name || !*name) {
			sg_cfg_error(ctx, &kpos, name ? (*path ? path : "(top level)") : kpath,
				     name ? "empty key name" : "bad key");
			rc = SG_ECONFIG;
			continue;
		}
		k = cfg_find(t, name);
		if (!k && extra) {
			k = cfg_find(extra, name);
			target = extra_obj;
			which = 1;
		}
		if (!k) {
			sg_cfg_error(ctx, &kpos, kpath, "unknown key");
			rc = SG_ECONFIG;
			continue;
		}
		size_t idx = (size_t)(k - (which ? extra->keys : t->keys));
		if (idx < SG_CFG_MAX_KEYS) {
			if (seen[which][idx]) {
				sg_cfg_error(ctx, &kpos, kpath, "duplicate key");
				rc = SG_ECONFIG;
				continue;
			}
			seen[which][idx] = 1;
		}
		if (fy_node_is_null(vn) && k->type != SG_CFG_STR) {
			sg_cfg_error(ctx, &kpos, kpath, "missing value");
			rc = SG_ECONFIG;
			continue;
		}
		if (cfg_parse_value(ctx, vn, &kpos, kpath, k, target) != SG_OK)
			rc = SG_ECONFIG;
	}
	/* Both tables' missing keys are reported, the driver's too. */
	if (cfg_missing(ctx, &first, path, t, seen[0]) +
	    cfg_missing(ctx, &first, path, extra, seen[1]))
		rc = SG_ECONFIG;
	if (rc == SG_OK && t->check && t->check(ctx, obj, &first, path) != SG_OK)
		rc = SG_ECONFIG;
	if (rc == SG_OK && extra && extra->check &&
	    extra->check(ctx, extra_obj, &first, path) != SG_OK)
		rc = SG_ECONFIG;
	return rc;
}

/* Apply t's defaults to obj; a default that does not parse is reported
 * into ctx. */
static int cfg_defaults(struct sg_cfg_ctx *ctx, const struct sg_cfg_table *t, void *obj)
{
	int rc = SG_OK;

	for (size_t i = 0; i < t->nkeys; i++) {
		const struct sg_cfg_key *k = &t->keys[i];

		if (k->type == SG_CFG_SECTION) {
			assert(k->sub->size == k->size);
			rc |= cfg_defaults(ctx, k->sub, FIELD(obj, k, char));
		} else if (k->def) {
			rc |= cfg_set_scalar(ctx, NULL, k->name, k, obj, k->def);
		}
	}
	return rc;
}

int sg_cfg_defaults(const struct sg_cfg_table *t, void *obj)
{
	struct sg_cfg_ctx ctx = {.file = "<defaults>"};
	int rc = cfg_defaults(&ctx, t, obj);

	if (ctx.nerrors) {
		/* A bad default is a programming error in a table. */
		fprintf(stderr, "%s", ctx.errors.p);
		abort();
	}
	sg_buf_free(&ctx.errors);
	return rc;
}

void sg_cfg_free(const struct sg_cfg_table *t, void *obj)
{
	for (size_t i = 0; obj && i < t->nkeys; i++) {
		const struct sg_cfg_key *k = &t->keys[i];

		switch (k->type) {
		case SG_CFG_STR:
		case SG_CFG_SECRET:
			free(*FIELD(obj, k, char *));
			*FIELD(obj, k, char *) = NULL;
			break;
		case SG_CFG_MAP: {
			struct sg_cfg_map *m = FIELD(obj, k, struct sg_cfg_map);
			for (size_t j = 0; j < m->n; j++) {
				free(m->kv[j].key);
				free(m->kv[j].val);
			}
			free(m->kv);
			memset(m, 0, sizeof(*m));
			break;
		}
		case SG_CFG_STRLIST: {
			struct sg_cfg_strlist *sl = FIELD(obj, k, struct sg_cfg_strlist);
			for (size_t j = 0; j < sl->n; j++)
				free(sl->v[j]);
			free(sl->v);
			memset(sl, 0, sizeof(*sl));
			break;
		}
		case SG_CFG_SECTION: sg_cfg_free(k->sub, FIELD(obj, k, char)); break;
		case SG_CFG_LIST: {
			struct sg_cfg_list *l = FIELD(obj, k, struct sg_cfg_list);
			for (size_t j = 0; j < l->n; j++)
				sg_cfg_free(k->sub, (char *)l->items + j * k->sub->size);
			free(l->items);
			memset(l, 0, sizeof(*l));
			break;
		}
		case SG_CFG_CUSTOM: k->custom->free(k, FIELD(obj, k, char)); break;
		default: break;
		}
	}
}

/* What a row of kind k may carry. */
static bool verify_numeric(const struct sg_cfg_key *k)
{
	return k->type == SG_CFG_INT || k->type == SG_CFG_DURATION || k->type == SG_CFG_SIZE ||
	       k->type == SG_CFG_DOUBLE;
}

static bool verify_scalar(const struct sg_cfg_key *k)
{
	return verify_numeric(k) || k->type == SG_CFG_STR || k->type == SG_CFG_SECRET ||
	       k->type == SG_CFG_BOOL || k->type == SG_CFG_ENUM;
}

static int verify_key(const struct sg_cfg_table *t, const struct sg_cfg_key *k,
		      struct sg_errbuf *eb)
{
	const char *tn = t->name;

	if (!k->name || !k->help)
		return sg_errf(eb, SG_EINVAL, "%s: a key without name or help", tn);
	if (k->off + k->size > t->size)
		return sg_errf(eb, SG_EINVAL, "%s.%s: field outside the table's struct", tn,
			       k->name);
	if (k->required && k->def)
		return sg_errf(eb, SG_EINVAL, "%s.%s: required and a default", tn, k->name);
	if (k->def && !verify_scalar(k))
		return sg_errf(eb, SG_EINVAL, "%s.%s: a default on a non-scalar", tn, k->name);
	if (k->ranged && (!verify_numeric(k) || !(k->min <= k->max)))
		return sg_errf(eb, SG_EINVAL, "%s.%s: bad range", tn, k->name);
	if (k->type == SG_CFG_ENUM ? !k->words || !k->words[0]
				   : k->words && (!verify_numeric(k) || k->type == SG_CFG_DOUBLE))
		return sg_errf(eb, SG_EINVAL, "%s.%s: words where they do not apply", tn, k->name);
	if ((k->type == SG_CFG_SECTION || k->type == SG_CFG_LIST) != !!k->sub ||
	    (k->type == SG_CFG_SECTION && k->sub->size != k->size))
		return sg_errf(eb, SG_EINVAL, "%s.%s: bad sub-table", tn, k->name);
	if ((k->type == SG_CFG_CUSTOM) != !!k->custom ||
	    (k->custom && (k->custom->size != k->size || !k->custom->parse || !k->custom->free ||
			   !k->custom->dump || !k->custom->type_name)))
		return sg_errf(eb, SG_EINVAL, "%s.%s: bad custom key", tn, k->name);
	for (const struct sg_cfg_key *o = t->keys; o < k; o++)
		if (!strcmp(o->name, k->name))
			return sg_errf(eb, SG_EINVAL, "%s.%s: declared twice", tn, k->name);
	if (k->sub)
		return sg_cfg_verify(k->sub, eb);
	return k->custom && k->custom->sub ? sg_cfg_verify(k->custom->sub, eb) : SG_OK;
}

int sg_cfg_verify(const struct sg_cfg_table *t, struct sg_errbuf *eb)
{
	struct sg_cfg_ctx ctx = {.file = "<defaults>"};
	void *obj;
	int rc;

	if (t->nkeys > SG_CFG_MAX_KEYS || !t->size)
		return sg_errf(eb, SG_EINVAL, "%s: %zu keys in a struct of %zu bytes", t->name,
			       t->nkeys, t->size);
	for (size_t i = 0; i < t->nkeys; i++)
		if ((rc = verify_key(t, &t->keys[i], eb)) != SG_OK)
			return rc;
	obj = sg_xcalloc(1, t->size);
	cfg_defaults(&ctx, t, obj);
	sg_cfg_free(t, obj);
	free(obj);
	if (ctx.nerrors)
		sg_errf(eb, SG_EINVAL, "%s: bad default: %s", t->name, ctx.errors.p);
	sg_buf_free(&ctx.errors);
	return ctx.nerrors ? SG_EINVAL : SG_OK;
}
