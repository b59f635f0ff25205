/*
 * jsonptr.c - questions asked of a parsed JSON document (json.c): the
 * value at an RFC 6901 pointer, every number and bool leaf below a
 * pointer (the wildcard form of a rule), and the conversions of a value
 * to text and to a reading's number.
 *
 * A pointer segment names an object member (the first one with that name,
 * when the caller allowed duplicates) or an array index ("0", "12"; no
 * leading zeros, no "-").  Lookups cost the members they pass over; a
 * wildcard walk costs the subtree it visits and recurses at most
 * MQ_JSON_MAX_DEPTH deep, the parser's own bound.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt.h"

/* "0", "17": an array index; anything else: -1.  Nine digits at most (a
 * long of 32 bits; no payload holds a billion elements). */
static long seg_index(const char *s, size_t n)
{
	long v = 0;

	if (!n || n > 9 || (n > 1 && s[0] == '0'))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

static int jptr_add(struct mq_jptr *out, char *seg, size_t len)
{
	size_t n = out->n + 1;
	char **s = realloc(out->seg, n * sizeof(*s));
	size_t *l;
	long *x;

	if (s)
		out->seg = s;
	l = s ? realloc(out->len, n * sizeof(*l)) : NULL;
	if (l)
		out->len = l;
	x = l ? realloc(out->idx, n * sizeof(*x)) : NULL;
	if (!x)
		return SG_ENOMEM;
	out->idx = x;
	out->seg[out->n] = seg;
	out->len[out->n] = len;
	out->idx[out->n] = seg_index(seg, len);
	out->n = n;
	return SG_OK;
}

int mq_jptr_parse(const char *s, struct mq_jptr *out, struct sg_errbuf *eb)
{
	memset(out, 0, sizeof(*out));
	if (!*s)
		return SG_OK; /* "" is the whole document */
	if (*s != '/')
		return sg_errf(eb, SG_EINVAL, "JSON pointer \"%s\" must be empty or start with '/'",
			       s);
	for (const char *p = s; *p == '/';) {
		const char *e = strchr(p + 1, '/');
		size_t n = e ? (size_t)(e - p - 1) : strlen(p + 1), o = 0;
		char *seg = malloc(n + 1);

		if (!seg) {
			mq_jptr_free(out);
			return SG_ENOMEM;
		}
		for (size_t i = 1; i <= n; i++) {
			if (p[i] != '~') {
				seg[o++] = p[i];
				continue;
			}
			if (i + 1 > n || (p[i + 1] != '0' && p[i + 1] != '1')) {
				free(seg);
				mq_jptr_free(out);
				return sg_errf(
				    eb, SG_EINVAL,
				    "JSON pointer \"%s\": '~' must be followed by 0 or 1", s);
			}
			seg[o++] = p[++i] == '0' ? '~' : '/';
		}
		seg[o] = '\0';
		if (jptr_add(out, seg, o) != SG_OK) {
			free(seg);
			mq_jptr_free(out);
			return SG_ENOMEM;
		}
		p += n + 1;
	}
	return SG_OK;
}

void mq_jptr_free(struct mq_jptr *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->seg[i]);
	free(p->seg);
	free(p->len);
	free(p->idx);
	memset(p, 0, sizeof(*p));
}

struct mq_jval mq_jdoc_val(const struct mq_jdoc *d, size_t tok)
{
	const struct mq_jtok *t = &d->t[tok];

	return (struct mq_jval){(enum mq_jtype)t->type, d->s + t->off, t->len};
}

/* Is member name token k equal to seg (once unescaped)? */
static bool key_is(const struct mq_jdoc *d, size_t k, const char *seg, size_t n)
{
	const struct mq_jtok *t = &d->t[k];
	struct mq_jval v = {MQ_J_STR, d->s + t->off, t->len};
	struct sg_buf b;
	bool eq;

	if (!(t->flags & MQ_JT_ESC))
		return t->len - 2 == n && !memcmp(d->s + t->off + 1, seg, n);
	sg_buf_init(&b);
	eq = mq_json_str(&v, &b) == SG_OK && b.len == n && !memcmp(b.p, seg, n);
	sg_buf_free(&b);
	return eq;
}

int mq_jdoc_get(const struct mq_jdoc *d, size_t root, const struct mq_jptr *p, size_t *out)
{
	size_t t = root;

	if (!d->n)
		return SG_ENOTFOUND;
	for (size_t i = 0; i < p->n; i++) {
		const struct mq_jtok *c = &d->t[t];
		size_t k = t + 1, hit = SIZE_MAX;

		if (c->type == MQ_J_OBJ) {
			for (; k < c->next; k = d->t[k + 1].next)
				if (key_is(d, k, p->seg[i], p->len[i])) {
					hit = k + 1;
					break;
				}
		} else if (c->type == MQ_J_ARR && p->idx[i] >= 0) {
			for (long n = 0; k < c->next; k = d->t[k].next, n++)
				if (n == p->idx[i]) {
					hit = k;
					break;
				}
		}
		if (hit == SIZE_MAX)
			return SG_ENOTFOUND;
		t = hit;
	}
	*out = t;
	return SG_OK;
}

/* --- wildcard leaves ---------------------------------------------------- */

struct walk {
	const struct mq_jdoc *d;
	char sep;
	struct sg_buf *path;
	mq_leaf_fn fn;
	void *arg;
};

static int walk_add_name(struct walk *w, size_t tok, long idx)
{
	char tmp[24];

	if (w->path->len)
		sg_buf_addc(w->path, w->sep);
	if (idx >= 0) {
		snprintf(tmp, sizeof(tmp), "%ld", idx);
		sg_buf_adds(w->path, tmp);
	} else {
		struct mq_jval v = mq_jdoc_val(w->d, tok);
		if (mq_json_str(&v, w->path) != SG_OK)
			return SG_ENOMEM;
	}
	return w->path->oom ? SG_ENOMEM : SG_OK;
}

static int walk(struct walk *w, size_t t, size_t leaf_at)
{
	const struct mq_jtok *c = &w->d->t[t];
	size_t base = w->path->len;
	int rc = SG_OK;

	if (c->type == MQ_J_NUM || c->type == MQ_J_BOOL) {
		struct mq_leaf lf = {t, w->path->p ? w->path->p : "", w->path->len,
				     w->path->p ? w->path->p + leaf_at : "",
				     w->path->len - leaf_at};
		return w->fn(w->arg, &lf);
	}
	if (c->type == MQ_J_OBJ) {
		for (size_t k = t + 1; k < c->next && rc == SG_OK; k = w->d->t[k + 1].next) {
			size_t at = base + (base ? 1 : 0);
			if ((rc = walk_add_name(w, k, -1)) == SG_OK)
				rc = walk(w, k + 1, at);
			w->path->len = base;
		}
	} else if (c->type == MQ_J_ARR) {
		long n = 0;
		for (size_t k = t + 1; k < c->next && rc == SG_OK; k = w->d->t[k].next, n++) {
			size_t at = base + (base ? 1 : 0);
			if ((rc = walk_add_name(w, k, n)) == SG_OK)
				rc = walk(w, k, at);
			w->path->len = base;
		}
	}
	return rc;
}

int mq_jdoc_leaves(const struct mq_jdoc *d, size_t root, char sep, struct sg_buf *path,
		   mq_leaf_fn fn, void *arg)
{
	struct walk w = {d, sep, path, fn, arg};

	sg_buf_reset(path);
	return d->n ? walk(&w, root, 0) : SG_OK;
}

/* --- the one-shot interface ---------------------------------------------- */

int mq_json_find(const char *doc, size_t len, const struct mq_jptr *ptr, struct mq_jval *out,
		 struct sg_errbuf *eb)
{
	struct mq_jdoc d;
	size_t tok;
	int rc;

	mq_jdoc_init(&d);
	d.allow_dups = true; /* the first of two members wins here */
	rc = mq_jdoc_parse(&d, doc, len, eb);
	if (rc == SG_OK)
		rc = ptr ? mq_jdoc_get(&d, 0, ptr, &tok) : SG_ENOTFOUND;
	if (rc == SG_OK && out)
		*out = mq_jdoc_val(&d, tok);
	mq_jdoc_free(&d);
	return rc;
}

int mq_json_valid(const char *doc, size_t len, struct sg_errbuf *eb)
{
	int rc = mq_json_find(doc, len, NULL, NULL, eb);
	return rc == SG_ENOTFOUND ? SG_OK : rc;
}

/* --- values ------------------------------------------------------------- */

static void put_utf8(struct sg_buf *b, unsigned cp)
{
	char o[4];

	if (cp < 0x80) {
		sg_buf_addc(b, (char)cp);
		return;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3f));
		sg_buf_add(b, o, 2);
	} else if (cp < 0x10000) {
		o[0] = (char)(0xe0 | cp >> 12);
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		sg_buf_add(b, o, 3);
	} else {
		o[0] = (char)(0xf0 | cp >> 18);
		o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[3] = (char)(0x80 | (cp & 0x3f));
		sg_buf_add(b, o, 4);
	}
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int hex4(const char *p, unsigned *out)
{
	int a = hexval(p[0]), b = hexval(p[1]), c = hexval(p[2]), d = hexval(p[3]);

	if (a < 0 || b < 0 || c < 0 || d < 0)
		return -1;
	*out = (unsigned)(a << 12 | b << 8 | c << 4 | d);
	return 0;
}

int mq_json_str(const struct mq_jval *v, struct sg_buf *b)
{
	const char *p = v->p + 1, *e = v->p + v->len - 1;

	if (v->type != MQ_J_STR || v->len < 2)
		return SG_EINVAL;
	while (p < e) {
		const char *bs = memchr(p, '\\', (size_t)(e - p));
		unsigned cp, lo;

		if (!bs) {
			sg_buf_add(b, p, (size_t)(e - p));
			break;
		}
		sg_buf_add(b, p, (size_t)(bs - p));
		p = bs + 1;
		if (p >= e)
			return SG_EINVAL;
		switch (*p) {
		case 'b': sg_buf_addc(b, '\b'); break;
		case 'f': sg_buf_addc(b, '\f'); break;
		case 'n': sg_buf_addc(b, '\n'); break;
		case 'r': sg_buf_addc(b, '\r'); break;
		case 't': sg_buf_addc(b, '\t'); break;
		case 'u':
			if (e - p < 5 || hex4(p + 1, &cp))
				return SG_EINVAL;
			p += 4;
			if (cp >= 0xd800 && cp < 0xdc00 && e - p >= 7 && p[1] == '\\' &&
			    p[2] == 'u' && !hex4(p + 3, &lo) && lo >= 0xdc00 && lo < 0xe000) {
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				p += 6;
			}
			if (cp >= 0xd800 && cp < 0xe000)
				cp = 0xfffd; /* lone surrogate */
			put_utf8(b, cp);
			break;
		default: sg_buf_addc(b, *p); break; /* " \ / */
		}
		p++;
	}
	return b->oom ? SG_ENOMEM : SG_OK;
}

int mq_json_num(const struct mq_jval *v, struct sg_value *out)
{
	char tmp[MQ_JSON_MAX_NUM + 1], *end;

	if (v->type != MQ_J_NUM || v->len == 0 || v->len > MQ_JSON_MAX_NUM)
		return SG_EINVAL;
	memcpy(tmp, v->p, v->len);
	tmp[v->len] = '\0';
	if (!strpbrk(tmp, ".eE")) {
		long long i;
		unsigned long long u;

		errno = 0;
		i = strtoll(tmp, &end, 10);
		if (!errno && !*end) {
			out->type = SG_VAL_INT;
			out->i = i;
			return SG_OK;
		}
		errno = 0;
		u = tmp[0] == '-' ? 0 : strtoull(tmp, &end, 10);
		if (tmp[0] != '-' && !errno && !*end) {
			out->type = SG_VAL_UINT;
			out->u = u;
			return SG_OK;
		}
	}
	out->type = SG_VAL_DOUBLE;
	out->d = strtod(tmp, NULL);
	return isfinite(out->d) ? SG_OK : SG_EINVAL; /* 1e400 */
}
