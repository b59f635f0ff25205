/*
 * json.c - a validating JSON parser (RFC 8259) that turns a payload into a
 * flat tape of tokens, once per message, so any number of JSON pointers,
 * conditions and wildcard walks can then be answered without parsing again.
 *
 * Strict on purpose: the payload is untrusted device output and the bridge
 * must say why it refuses one.  Every byte is checked; strings must be
 * valid UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing above
 * U+10FFFF) with valid escapes; NaN and Infinity, which JSON lacks, are
 * refused by name; nesting deeper than MQ_JSON_MAX_DEPTH is refused as soon
 * as it is reached (the parser is iterative: no recursion on the document);
 * and, unless the caller allows them, duplicate member names in any object
 * are refused, since which of two values a device meant is unknowable.
 *
 * Bounds: time linear in the payload (duplicate checks add a sort of each
 * object's member names: O(n log n)); memory one 16-byte token per value
 * or member name, at most len/2 + 2 tokens, kept in d->t and reused by the
 * next message.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mqtt.h"

static const char *const jerr_names[] = {
    [MQ_JERR_NONE] = "none",         [MQ_JERR_SYNTAX] = "invalid_json",
    [MQ_JERR_DEPTH] = "too_deep",    [MQ_JERR_UTF8] = "invalid_utf8",
    [MQ_JERR_DUP] = "duplicate_key", [MQ_JERR_NONFINITE] = "non_finite",
    [MQ_JERR_NOMEM] = "no_memory",
};

const char *mq_jerr_name(enum mq_jerr e)
{
	return e < sizeof(jerr_names) / sizeof(jerr_names[0]) ? jerr_names[e] : "invalid_json";
}

void mq_jdoc_init(struct mq_jdoc *d)
{
	memset(d, 0, sizeof(*d));
	sg_buf_init(&d->kbuf);
}

void mq_jdoc_free(struct mq_jdoc *d)
{
	free(d->t);
	free(d->keys);
	sg_buf_free(&d->kbuf);
	memset(d, 0, sizeof(*d));
}

/* Parser state: d is filled, p walks the document. */
struct jd {
	struct mq_jdoc *d;
	const char *s, *p, *end;
	size_t stack[MQ_JSON_MAX_DEPTH]; /* token index of each open container */
	int depth;
	const char *what; /* first error */
	enum mq_jerr err;
	const char *err_at;
};

static int jd_fail(struct jd *j, enum mq_jerr e, const char *at, const char *what)
{
	if (!j->what) {
		j->what = what;
		j->err = e;
		j->err_at = at;
	}
	return -1;
}

static void jd_ws(struct jd *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

/* Append a token; its `next` is set to the token after it (containers fix
 * it when they close). */
static int jd_tok(struct jd *j, enum mq_jtype type, const char *at, size_t len, uint8_t flags)
{
	struct mq_jdoc *d = j->d;

	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 64;
		struct mq_jtok *t = realloc(d->t, cap * sizeof(*t));

		if (!t)
			return jd_fail(j, MQ_JERR_NOMEM, at, "out of memory");
		d->t = t;
		d->cap = cap;
	}
	d->t[d->n] = (struct mq_jtok){.off = (uint32_t)(at - j->s),
				      .len = (uint32_t)len,
				      .next = (uint32_t)(d->n + 1),
				      .type = (uint8_t)type,
				      .flags = flags};
	d->n++;
	return 0;
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

/* Length of the UTF-8 sequence at p (RFC 3629 table 4), 0 if invalid. */
static size_t utf8_seq(const unsigned char *p, const unsigned char *end)
{
	unsigned char c = p[0], lo = 0x80, hi = 0xbf;
	size_t n;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0; /* overlong */
	else if (c == 0xed)
		hi = 0x9f; /* surrogates */
	else if (c == 0xf0)
		lo = 0x90; /* overlong */
	else if (c == 0xf4)
		hi = 0x8f; /* above U+10FFFF */
	if ((size_t)(end - p) < n || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

/* A string at j->p ('"'): checked and appended as a token. */
static int jd_string(struct jd *j, uint8_t flags)
{
	const char *start = j->p++;

	while (j->p < j->end) {
		unsigned char c = (unsigned char)*j->p;
		size_t n;

		if (c == '"') {
			j->p++;
			return jd_tok(j, MQ_J_STR, start, (size_t)(j->p - start), flags);
		}
		if (c < 0x20)
			return jd_fail(j, MQ_JERR_SYNTAX, j->p, "control character in string");
		if (c == '\\') {
			flags |= MQ_JT_ESC;
			if (++j->p >= j->end)
				break;
			if (*j->p == 'u') {
				if (j->end - j->p < 5)
					break;
				for (int i = 1; i <= 4; i++)
					if (hexval(j->p[i]) < 0)
						return jd_fail(j, MQ_JERR_SYNTAX, j->p,
							       "bad \\u escape");
				j->p += 5;
			} else if (!*j->p || !strchr("\"\\/bfnrt", *j->p)) {
				return jd_fail(j, MQ_JERR_SYNTAX, j->p, "bad escape in string");
			} else {
				j->p++;
			}
			continue;
		}
		if (c < 0x80) {
			j->p++;
			continue;
		}
		if (!(n = utf8_seq((const unsigned char *)j->p, (const unsigned char *)j->end)))
			return jd_fail(j, MQ_JERR_UTF8, j->p, "invalid UTF-8 in string");
		j->p += n;
	}
	return jd_fail(j, MQ_JERR_SYNTAX, j->p, "unterminated string");
}

static bool is_digit(const char *p, const char *end)
{
	return p < end && *p >= '0' && *p <= '9';
}

static int jd_number(struct jd *j)
{
	const char *p = j->p, *start = j->p;

	if (p < j->end && *p == '-')
		p++;
	if (p < j->end && *p == '0')
		p++;
	else if (p < j->end && *p >= '1' && *p <= '9')
		while (is_digit(p, j->end))
			p++;
	else
		return jd_fail(j, MQ_JERR_SYNTAX, j->p, "unexpected character");
	if (p < j->end && *p == '.') {
		if (!is_digit(++p, j->end))
			return jd_fail(j, MQ_JERR_SYNTAX, p, "bad number");
		while (is_digit(p, j->end))
			p++;
	}
	if (p < j->end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < j->end && (*p == '+' || *p == '-'))
			p++;
		if (!is_digit(p, j->end))
			return jd_fail(j, MQ_JERR_SYNTAX, p, "bad number");
		while (is_digit(p, j->end))
			p++;
	}
	j->p = p;
	return jd_tok(j, MQ_J_NUM, start, (size_t)(p - start), 0);
}

static bool word_at(const struct jd *j, const char *p, const char *w, bool icase)
{
	size_t n = strlen(w);

	return (size_t)(j->end - p) >= n && !(icase ? strncasecmp(p, w, n) : memcmp(p, w, n));
}

/* true, false, null, or a named non-number (NaN, Infinity, nan, inf). */
static int jd_word(struct jd *j)
{
	static const char *const words[] = {"true", "false", "null"};
	static const enum mq_jtype types[] = {MQ_J_BOOL, MQ_J_BOOL, MQ_J_NULL};
	const char *p = j->p + (*j->p == '-' || *j->p == '+');

	for (int i = 0; i < 3; i++)
		if (word_at(j, j->p, words[i], false)) {
			size_t n = strlen(words[i]);
			j->p += n;
			return jd_tok(j, types[i], j->p - n, n, 0);
		}
	if (word_at(j, p, "nan", true) || word_at(j, p, "inf", true))
		return jd_fail(j, MQ_JERR_NONFINITE, j->p,
			       "NaN and Infinity are not JSON numbers (send null or a string)");
	if (*j->p == '-')
		return jd_number(j);
	return jd_fail(j, MQ_JERR_SYNTAX, j->p, "unexpected character");
}

/* --- duplicate member names -------------------------------------------- */

struct jkey {
	const char *p; /* the name as decoded bytes (no quotes) */
	size_t len;
	size_t kb;    /* escaped names: offset of the decoded bytes in kbuf */
	uint32_t off; /* where the name is in the document */
};

static int jkey_cmp(const void *a, const void *b)
{
	const struct jkey *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->p, y->p, n);

	if (c)
		return c;
	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return x->off < y->off ? -1 : x->off > y->off;
}

/* Collect the member names of object token `obj` into d->keys: escaped
 * names are decoded into kbuf first (which may move), then pointed at. */
static int keys_collect(struct jd *j, size_t obj, size_t *nk)
{
	struct mq_jdoc *d = j->d;
	struct jkey *k;
	size_t n = 0;

	sg_buf_reset(&d->kbuf);
	for (size_t i = obj + 1; i < d->t[obj].next; i = d->t[i + 1].next) {
		const struct mq_jtok *t = &d->t[i];
		struct mq_jval v = {MQ_J_STR, j->s + t->off, t->len};

		if (n == d->kcap) {
			size_t cap = d->kcap ? d->kcap * 2 : 16;
			void *nv = realloc(d->keys, cap * sizeof(struct jkey));
			if (!nv)
				return jd_fail(j, MQ_JERR_NOMEM, j->p, "out of memory");
			d->keys = nv;
			d->kcap = cap;
		}
		k = (struct jkey *)d->keys + n++;
		k->off = t->off;
		k->kb = SIZE_MAX;
		k->p = j->s + t->off + 1;
		k->len = t->len - 2;
		if (t->flags & MQ_JT_ESC) {
			k->kb = d->kbuf.len;
			if (mq_json_str(&v, &d->kbuf) != SG_OK)
				return jd_fail(j, MQ_JERR_NOMEM, j->p, "out of memory");
			k->len = d->kbuf.len - k->kb;
		}
	}
	k = d->keys;
	for (size_t i = 0; i < n; i++)
		if (k[i].kb != SIZE_MAX)
			k[i].p = d->kbuf.p + k[i].kb;
	*nk = n;
	return 0;
}

static int keys_check(struct jd *j, size_t obj)
{
	struct jkey *k;
	size_t n, dup = 0;
	bool found = false;

	if (j->d->allow_dups || obj + 1 == j->d->t[obj].next)
		return 0;
	if (keys_collect(j, obj, &n))
		return -1;
	k = j->d->keys;
	if (n <= 8) {
		for (size_t a = 0; a < n && !found; a++)
			for (size_t b = a + 1; b < n && !found; b++)
				if (k[a].len == k[b].len && !memcmp(k[a].p, k[b].p, k[a].len)) {
					found = true;
					dup = b;
				}
	} else {
		qsort(k, n, sizeof(*k), jkey_cmp);
		for (size_t a = 1; a < n && !found; a++)
			if (k[a].len == k[a - 1].len && !memcmp(k[a].p, k[a - 1].p, k[a].len)) {
				found = true;
				dup = a;
			}
	}
	if (!found)
		return 0;
	return jd_fail(j, MQ_JERR_DUP, j->s + k[dup].off, "duplicate member name");
}

/* --- the parser -------------------------------------------------------- */

/* Close the innermost container at j->p (its closing bracket). */
static int jd_close(struct jd *j)
{
	size_t c = j->stack[--j->depth];
	struct mq_jtok *t = &j->d->t[c];

	j->p++;
	t->len = (uint32_t)(j->p - (j->s + t->off));
	t->next = (uint32_t)j->d->n;
	return t->type == MQ_J_OBJ ? keys_check(j, c) : 0;
}

static bool in_object(const struct jd *j)
{
	return j->depth > 0 && j->d->t[j->stack[j->depth - 1]].type == MQ_J_OBJ;
}

/* One member name and ':' (in an object), then one value; containers are
 * opened here and closed by jd_after(). */
static int jd_item(struct jd *j)
{
	jd_ws(j);
	if (in_object(j)) {
		if (j->p >= j->end || *j->p != '"')
			return jd_fail(j, MQ_JERR_SYNTAX, j->p, "expected a member name");
		if (jd_string(j, MQ_JT_KEY))
			return -1;
		jd_ws(j);
		if (j->p >= j->end || *j->p != ':')
			return jd_fail(j, MQ_JERR_SYNTAX, j->p, "expected ':'");
		j->p++;
		jd_ws(j);
	}
	if (j->p >= j->end)
		return jd_fail(j, MQ_JERR_SYNTAX, j->p, "unexpected end of input");
	switch (*j->p) {
	case '{':
	case '[':
		if (j->depth == MQ_JSON_MAX_DEPTH)
			return jd_fail(j, MQ_JERR_DEPTH, j->p, "nesting too deep");
		if (jd_tok(j, *j->p == '{' ? MQ_J_OBJ : MQ_J_ARR, j->p, 1, 0))
			return -1;
		j->stack[j->depth++] = j->d->n - 1;
		j->p++;
		jd_ws(j);
		if (j->p < j->end && *j->p == (in_object(j) ? '}' : ']'))
			return jd_close(j);
		return 1; /* the first member follows */
	case '"': return jd_string(j, 0);
	case 't':
	case 'f':
	case 'n':
	case 'N':
	case 'i':
	case 'I':
	case '-':
	case '+': return jd_word(j);
	default: return jd_number(j);
	}
}

/* After a value: close what ends here.  1: another item follows, 0: the
 * document is complete, -1: error. */
static int jd_after(struct jd *j)
{
	for (;;) {
		jd_ws(j);
		if (!j->depth)
			return j->p == j->end ? 0
					      : jd_fail(j, MQ_JERR_SYNTAX, j->p,
							"trailing characters after the value");
		if (j->p < j->end && *j->p == ',') {
			j->p++;
			return 1;
		}
		if (j->p < j->end && *j->p == (in_object(j) ? '}' : ']')) {
			if (jd_close(j))
				return -1;
			continue;
		}
		return jd_fail(j, MQ_JERR_SYNTAX, j->p,
			       in_object(j) ? "expected ',' or '}'" : "expected ',' or ']'");
	}
}

static size_t name_len(const char *p, const char *end, size_t max)
{
	const char *q = p + 1;

	/* A member name is quoted: show it whole, up to max bytes. */
	while (q < end && (size_t)(q - p) < max && *q != '"')
		q += *q == '\\' && q + 1 < end ? 2 : 1;
	if (q < end && *q == '"')
		q++;
	return (size_t)(q - p);
}

int mq_jdoc_parse(struct mq_jdoc *d, const char *s, size_t len, struct sg_errbuf *eb)
{
	struct jd j = {.d = d, .s = s, .p = s, .end = s + len};
	int rc;

	d->s = s;
	d->len = len;
	d->n = 0;
	d->err = MQ_JERR_NONE;
	d->err_off = 0;
	if (len > MQ_JSON_MAX_LEN) {
		d->err = MQ_JERR_SYNTAX;
		return sg_errf(eb, SG_EINVAL, "JSON document of %zu bytes is too large", len);
	}
	do {
		rc = jd_item(&j);
		if (rc == 0)
			rc = jd_after(&j);
	} while (rc == 1);
	if (rc == 0)
		return SG_OK;
	d->err = j.err;
	d->err_off = (size_t)(j.err_at - s);
	d->n = 0;
	if (j.err == MQ_JERR_NOMEM)
		return sg_errf(eb, SG_ENOMEM, "out of memory parsing JSON");
	if (j.err == MQ_JERR_DUP)
		return sg_errf(eb, SG_EINVAL, "invalid JSON at byte %zu: %s %.*s", d->err_off,
			       j.what, (int)name_len(s + d->err_off, s + len, 64), s + d->err_off);
	return sg_errf(eb, SG_EINVAL, "invalid JSON at byte %zu: %s", d->err_off, j.what);
}
