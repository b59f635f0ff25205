/*
 * table.c - the generic table walker: YAML node -> C struct.
 *
 * One function per concern: scalar conversion (cfg_set_scalar), mapping
 * walk with unknown-key detection (sg_cfg_parse_map), lists, defaults,
 * freeing, dumping and Markdown generation.  Everything is driven by the
 * struct sg_cfg_key tables; no key is known here by name.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "table_internal.h"
#include "gateway/base/log.h"
#include "gateway/base/parse.h"
#include "gateway/base/fs.h"

#define FIELD(obj, k, T)  ((T *)((char *)(obj) + (k)->off))
#define CFIELD(obj, k, T) ((const T *)((const char *)(obj) + (k)->off))

void sg_cfg_error(struct sg_cfg_ctx *ctx, const struct sg_cfg_pos *pos, const char *path,
		  const char *fmt, ...)
{
	va_list ap;
	char msg[512];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (pos && pos->line)
		sg_buf_printf(&ctx->errors, "%s:%d:%d: %s: %s\n", ctx->file, pos->line, pos->col,
			      path, msg);
	else
		sg_buf_printf(&ctx->errors, "%s: %s: %s\n", ctx->file, path, msg);
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

/* Expand ${VAR} references.  Returns a heap string or NULL (error set). */
static char *cfg_expand(struct sg_cfg_ctx *ctx, const struct sg_cfg_pos *pos, const char *path,
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

static char *cfg_secret(struct sg_cfg_ctx *ctx, const struct sg_cfg_pos *pos, const char *path,
			char *s)
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
	return k->min > k->max || (v >= k->min && v <= k->max);
}

static int cfg_enum_index(const struct sg_cfg_key *k, const char *s)
{
	for (int i = 0; k->enums && k->enums[i]; i++)
		if (!strcmp(k->enums[i], s))
			return i;
	return -1;
}

static void cfg_enum_list(const struct sg_cfg_key *k, char *out, size_t n)
{
	size_t used = 0;

	out[0] = '\0';
	for (int i = 0; k->enums && k->enums[i]; i++)
		used += (size_t)snprintf(out + used, used < n ? n - used : 0, "%s%s", i ? ", " : "",
					 k->enums[i]);
}

/* Convert the text s for key k into obj.  SG_OK or SG_ECONFIG. */
static int cfg_set_scalar(struct sg_cfg_ctx *ctx, const struct sg_cfg_pos *pos, const char *path,
			  const struct sg_cfg_key *k, void *obj, const char *text)
{
	char *s = cfg_expand(ctx, pos, path, text), list[256];
	int64_t i64;
	double d;
	bool b;
	int idx, rc = SG_OK;

	if (!s)
		return SG_ECONFIG;
	switch (k->type) {
	case SG_CFG_STR:
	case SG_CFG_SECRET:
		if (k->type == SG_CFG_SECRET && !(s = cfg_secret(ctx, pos, path, s)))
			return SG_ECONFIG;
		free(*FIELD(obj, k, char *));
		*FIELD(obj, k, char *) = s;
		return SG_OK;
	case SG_CFG_ENUM:
		idx = cfg_enum_index(k, s);
		if (idx < 0) {
			cfg_enum_list(k, list, sizeof(list));
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
	case SG_CFG_SIZE:
		if ((k->flags & SG_CFG_SPECIAL) && (idx = cfg_enum_index(k, s)) >= 0) {
			*FIELD(obj, k, int64_t) = -1 - idx;
			break;
		}
		if (k->type == SG_CFG_INT        ? sg_parse_i64(s, &i64)
		    : k->type == SG_CFG_DURATION ? sg_parse_duration_ms(s, &i64)
						 : sg_parse_size(s, &i64)) {
			sg_cfg_error(ctx, pos, path, "'%s' is not %s", s,
				     k->type == SG_CFG_INT ? "an integer"
				     : k->type == SG_CFG_DURATION
					 ? "a duration (e.g. 250ms, 5s, 2m)"
					 : "a size (e.g. 512k, 16MiB)");
			rc = SG_ECONFIG;
		} else if (!cfg_in_range(k, (double)i64)) {
			sg_cfg_error(ctx, pos, path, "%s is out of range [%.17g, %.17g]%s", s,
				     k->min, k->max,
				     k->type == SG_CFG_DURATION ? " ms"
				     : k->type == SG_CFG_SIZE   ? " bytes"
								: "");
			rc = SG_ECONFIG;
		} else {
			*FIELD(obj, k, int64_t) = i64;
		}
		break;
	case SG_CFG_DOUBLE:
		if (sg_parse_double(s, &d)) {
			sg_cfg_error(ctx, pos, path, "'%s' is not a number", s);
			rc = SG_ECONFIG;
		} else if (!cfg_in_range(k, d)) {
			sg_cfg_error(ctx, pos, path, "%s is out of range [%.17g, %.17g]", s, k->min,
				     k->max);
			rc = SG_ECONFIG;
		} else {
			*FIELD(obj, k, double) = d;
		}
		break;
	default:
		sg_cfg_error(ctx, pos, path, "expected a %s, got a scalar",
			     k->type == SG_CFG_MAP ? "mapping" : "sequence");
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

static int cfg_parse_value(struct sg_cfg_ctx *ctx, struct fy_node *v, const struct sg_cfg_pos *pos,
			   const char *path, const struct sg_cfg_key *k, void *obj);

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

static int cfg_parse_value(struct sg_cfg_ctx *ctx, struct fy_node *v, const struct sg_cfg_pos *pos,
			   const char *path, const struct sg_cfg_key *k, void *obj)
{
	char buf[8192];
	struct sg_cfg_pos vpos = sg_cfg_node_pos(ctx, v);
	void *iter = NULL;

	if (!vpos.line)
		vpos = *pos;
	switch (k->type) {
	case SG_CFG_SECTION:
		if (!fy_node_is_mapping(v)) {
			sg_cfg_error(ctx, &vpos, path, "expected a mapping");
			return SG_ECONFIG;
		}
		return sg_cfg_parse_map(ctx, v, pos, path, k->sub, FIELD(obj, k, char), NULL, NULL);
	case SG_CFG_LIST:
	case SG_CFG_SOURCES:
		if (!fy_node_is_sequence(v)) {
			sg_cfg_error(ctx, &vpos, path, "expected a sequence");
			return SG_ECONFIG;
		}
		if (k->type == SG_CFG_SOURCES)
			return sg_cfg_parse_sources(ctx, v, pos, path, FIELD(obj, k, char));
		return cfg_parse_list(ctx, v, pos, path, k, obj);
	case SG_CFG_MAP: {
		struct sg_cfg_map *m = FIELD(obj, k, struct sg_cfg_map);
		struct fy_node_pair *p;
		int rc = SG_OK;

		if (!fy_node_is_mapping(v)) {
			sg_cfg_error(ctx, &vpos, path, "expected a mapping");
			return SG_ECONFIG;
		}
		m->kv = sg_xcalloc((size_t)fy_node_mapping_item_count(v), sizeof(*m->kv));
		while ((p = fy_node_mapping_iterate(v, &iter))) {
			struct fy_node *pk = fy_node_pair_key(p);
			struct fy_node *pv = fy_node_pair_value(p);
			struct sg_cfg_pos ppos = sg_cfg_node_pos(ctx, pk);
			char kb[256], sub[768];
			const char *ks = cfg_scalar(pk, kb, sizeof(kb));
			const char *vs = cfg_scalar(pv, buf, sizeof(buf));

			snprintf(sub, sizeof(sub), "%s.%s", path, ks ? ks : "?");
			if (!ks || !vs || !fy_node_is_scalar(pv)) {
				sg_cfg_error(ctx, &ppos, sub, "expected a scalar value");
				rc = SG_ECONFIG;
				continue;
			}
			char *e = cfg_expand(ctx, &ppos, sub, vs);
			if (!e) {
				rc = SG_ECONFIG;
				continue;
			}
			m->kv[m->n].key = sg_strdup(ks);
			m->kv[m->n++].val = e;
		}
		return rc;
	}
	case SG_CFG_STRLIST: {
		struct sg_cfg_strlist *sl = FIELD(obj, k, struct sg_cfg_strlist);
		struct fy_node *item;
		int rc = SG_OK;

		if (!fy_node_is_sequence(v)) {
			sg_cfg_error(ctx, &vpos, path, "expected a sequence");
			return SG_ECONFIG;
		}
		sl->v = sg_xcalloc((size_t)fy_node_sequence_item_count(v), sizeof(char *));
		while ((item = fy_node_sequence_iterate(v, &iter))) {
			struct sg_cfg_pos ip = sg_cfg_node_pos(ctx, item);
			const char *s =
			    fy_node_is_scalar(item) ? cfg_scalar(item, buf, sizeof(buf)) : NULL;
			char *e;

			if (!s) {
				sg_cfg_error(ctx, &ip, path, "expected a list of strings");
				rc = SG_ECONFIG;
				continue;
			}
			if (!(e = cfg_expand(ctx, &ip, path, s))) {
				rc = SG_ECONFIG;
				continue;
			}
			sl->v[sl->n++] = e;
		}
		return rc;
	}
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

int sg_cfg_parse_map(struct sg_cfg_ctx *ctx, struct fy_node *map, const struct sg_cfg_pos *mpos,
		     const char *path, const struct sg_cfg_table *t, void *obj,
		     const struct sg_cfg_table *extra, void *extra_obj)
{
	unsigned char seen[2][128] = {{0}};
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
		if (!name) {
			sg_cfg_error(ctx, &kpos, kpath, "bad key");
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
		if (idx < 128) {
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
	for (int w = 0; w < 2; w++) {
		const struct sg_cfg_table *tt = w ? extra : t;
		for (size_t i = 0; tt && i < tt->nkeys && i < 128; i++) {
			if (!(tt->keys[i].flags & SG_CFG_REQUIRED) || seen[w][i])
				continue;
			snprintf(kpath, sizeof(kpath), "%s%s%s", path, *path ? "." : "",
				 tt->keys[i].name);
			sg_cfg_error(ctx, &first, kpath, "required key is missing");
			rc = SG_ECONFIG;
		}
	}
	if (rc == SG_OK && t->check && t->check(ctx, obj, &first, path) != SG_OK)
		rc = SG_ECONFIG;
	if (rc == SG_OK && extra && extra->check &&
	    extra->check(ctx, extra_obj, &first, path) != SG_OK)
		rc = SG_ECONFIG;
	return rc;
}

int sg_cfg_defaults(const struct sg_cfg_table *t, void *obj)
{
	struct sg_cfg_ctx ctx = {.file = "<defaults>"};
	int rc = SG_OK;

	for (size_t i = 0; i < t->nkeys; i++) {
		const struct sg_cfg_key *k = &t->keys[i];

		if (k->type == SG_CFG_SECTION)
			rc |= sg_cfg_defaults(k->sub, FIELD(obj, k, char));
		else if (k->def)
			rc |= cfg_set_scalar(&ctx, NULL, k->name, k, obj, k->def);
	}
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
		case SG_CFG_SOURCES: sg_cfg_free_sources(FIELD(obj, k, char)); break;
		default: break;
		}
	}
}

static const char *cfg_type_name(const struct sg_cfg_key *k)
{
	switch (k->type) {
	case SG_CFG_STR: return "string";
	case SG_CFG_SECRET: return "secret";
	case SG_CFG_INT: return "integer";
	case SG_CFG_DOUBLE: return "number";
	case SG_CFG_BOOL: return "bool";
	case SG_CFG_DURATION: return "duration";
	case SG_CFG_SIZE: return "size";
	case SG_CFG_ENUM: return "enum";
	case SG_CFG_MAP: return "map";
	case SG_CFG_STRLIST: return "list of strings";
	case SG_CFG_SECTION: return "section";
	case SG_CFG_LIST: return "list";
	case SG_CFG_SOURCES: return "list of sources";
	}
	return "?";
}

void sg_cfg_dump(const struct sg_cfg_table *t, const void *obj, int indent, void *fpv)
{
	FILE *fp = fpv;

	for (size_t i = 0; i < t->nkeys; i++) {
		const struct sg_cfg_key *k = &t->keys[i];
		const char *s;
		int64_t v;

		fprintf(fp, "%*s%s:", indent, "", k->name);
		switch (k->type) {
		case SG_CFG_STR:
			s = *CFIELD(obj, k, char *);
			if (s)
				fprintf(fp, " \"%s\"\n", s);
			else
				fprintf(fp, " ~\n");
			break;
		case SG_CFG_SECRET:
			fprintf(fp, " %s\n", *CFIELD(obj, k, char *) ? "<secret>" : "~");
			break;
		case SG_CFG_INT:
		case SG_CFG_DURATION:
		case SG_CFG_SIZE:
			v = *CFIELD(obj, k, int64_t);
			if ((k->flags & SG_CFG_SPECIAL) && v < 0)
				fprintf(fp, " %s\n", k->enums[-1 - v]);
			else
				fprintf(fp, " %lld%s\n", (long long)v,
					k->type == SG_CFG_DURATION ? "ms" : "");
			break;
		case SG_CFG_DOUBLE: fprintf(fp, " %.17g\n", *CFIELD(obj, k, double)); break;
		case SG_CFG_BOOL:
			fprintf(fp, " %s\n", *CFIELD(obj, k, bool) ? "true" : "false");
			break;
		case SG_CFG_ENUM: fprintf(fp, " %s\n", k->enums[*CFIELD(obj, k, int)]); break;
		case SG_CFG_MAP: {
			const struct sg_cfg_map *m = CFIELD(obj, k, struct sg_cfg_map);
			fprintf(fp, m->n ? "\n" : " {}\n");
			for (size_t j = 0; j < m->n; j++) {
				bool secret = strstr(m->kv[j].key, "password") ||
					      strstr(m->kv[j].key, "secret") ||
					      strstr(m->kv[j].key, "key");
				fprintf(fp, "%*s\"%s\": \"%s\"\n", indent + 2, "", m->kv[j].key,
					secret ? "<secret>" : m->kv[j].val);
			}
			break;
		}
		case SG_CFG_STRLIST: {
			const struct sg_cfg_strlist *sl = CFIELD(obj, k, struct sg_cfg_strlist);
			fprintf(fp, sl->n ? "\n" : " []\n");
			for (size_t j = 0; j < sl->n; j++)
				fprintf(fp, "%*s- \"%s\"\n", indent + 2, "", sl->v[j]);
			break;
		}
		case SG_CFG_SECTION:
			fprintf(fp, "\n");
			sg_cfg_dump(k->sub, CFIELD(obj, k, char), indent + 2, fp);
			break;
		case SG_CFG_LIST: {
			const struct sg_cfg_list *l = CFIELD(obj, k, struct sg_cfg_list);
			fprintf(fp, l->n ? "\n" : " []\n");
			for (size_t j = 0; j < l->n; j++) {
				fprintf(fp, "%*s-\n", indent + 2, "");
				sg_cfg_dump(k->sub, (const char *)l->items + j * k->sub->size,
					    indent + 4, fp);
			}
			break;
		}
		case SG_CFG_SOURCES:
			fprintf(fp, "\n");
			sg_cfg_dump_sources(CFIELD(obj, k, char), indent + 2, fp);
			break;
		}
	}
}

static void cfg_doc_range(const struct sg_cfg_key *k, char *out, size_t n)
{
	out[0] = '\0';
	if (k->type == SG_CFG_ENUM || (k->flags & SG_CFG_SPECIAL)) {
		char list[256];
		cfg_enum_list(k, list, sizeof(list));
		snprintf(out, n, "%s%s", list, k->flags & SG_CFG_SPECIAL ? ", or a value" : "");
		if (k->min > k->max)
			return;
		size_t u = strlen(out);
		snprintf(out + u, n - u, " in %.17g..%.17g", k->min, k->max);
	} else if (k->min <= k->max) {
		snprintf(out, n, "%.17g..%.17g", k->min, k->max);
	}
}

void sg_cfg_doc(const struct sg_cfg_table *t, const char *prefix, void *fpv)
{
	FILE *fp = fpv;
	char range[300], sub[256];

	fprintf(fp, "\n### `%s`\n\n%s\n\n", *prefix ? prefix : "(top level)",
		t->help ? t->help : "");
	fprintf(fp, "| key | type | default | range | description |\n");
	fprintf(fp, "|---|---|---|---|---|\n");
	for (size_t i = 0; i < t->nkeys; i++) {
		const struct sg_cfg_key *k = &t->keys[i];

		cfg_doc_range(k, range, sizeof(range));
		fprintf(fp, "| `%s` | %s | %s%s%s | %s | %s |\n", k->name, cfg_type_name(k),
			k->def ? "`" : "",
			k->def ? k->def : (k->flags & SG_CFG_REQUIRED ? "required" : "—"),
			k->def ? "`" : "", range, k->help ? k->help : "");
	}
	for (size_t i = 0; i < t->nkeys; i++) {
		const struct sg_cfg_key *k = &t->keys[i];

		if (k->type != SG_CFG_SECTION && k->type != SG_CFG_LIST)
			continue;
		snprintf(sub, sizeof(sub), "%s%s%s%s", prefix, *prefix ? "." : "", k->name,
			 k->type == SG_CFG_LIST ? "[]" : "");
		sg_cfg_doc(k->sub, sub, fp);
	}
}
