/*
 * jsonptr.c - a small validating JSON parser (RFC 8259) that finds one
 * value by JSON pointer (RFC 6901), plus RFC 3339 time parsing.
 *
 * The parser never builds a tree: it walks the document once, checks
 * every byte of it (a payload with trailing garbage or a bad escape is
 * invalid even if the pointer matched earlier), and remembers the span of
 * the value the pointer names.  Nesting is limited to MQ_JSON_MAX_DEPTH so
 * a hostile payload cannot exhaust the stack.  Strings are checked for
 * escapes and control characters; UTF-8 is passed through (the event
 * encoder replaces invalid sequences).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mqtt.h"

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
		char *seg = malloc(n + 1), **v;

		v = realloc(out->seg, (out->n + 1) * sizeof(*v));
		if (!seg || !v) {
			free(seg);
			if (v)
				out->seg = v;
			mq_jptr_free(out);
			return SG_ENOMEM;
		}
		out->seg = v;
		for (size_t i = 1; i <= n; i++) {
			if (p[i] == '~') {
				if (i + 1 > n || (p[i + 1] != '0' && p[i + 1] != '1')) {
					free(seg);
					mq_jptr_free(out);
					return sg_errf(
					    eb, SG_EINVAL,
					    "JSON pointer \"%s\": '~' must be followed by 0 or 1",
					    s);
				}
				seg[o++] = p[++i] == '0' ? '~' : '/';
			} else {
				seg[o++] = p[i];
			}
		}
		seg[o] = '\0';
		out->seg[out->n++] = seg;
		p += n + 1;
	}
	return SG_OK;
}

void mq_jptr_free(struct mq_jptr *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->seg[i]);
	free(p->seg);
	p->seg = NULL;
	p->n = 0;
}

struct jp {
	const char *s, *end, *p;
	const struct mq_jptr *ptr;
	struct mq_jval *hit;
	bool found;
	const char *err;
};

static void jp_ws(struct jp *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static int jp_fail(struct jp *j, const char *what)
{
	if (!j->err)
		j->err = what;
	return -1;
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

/* Scan a string at j->p ('"'); leave j->p after the closing quote. */
static int jp_string(struct jp *j)
{
	j->p++;
	while (j->p < j->end) {
		unsigned char c = (unsigned char)*j->p;

		if (c == '"') {
			j->p++;
			return 0;
		}
		if (c < 0x20)
			return jp_fail(j, "control character in string");
		if (c == '\\') {
			if (++j->p >= j->end)
				break;
			if (*j->p == 'u') {
				if (j->end - j->p < 5)
					break;
				for (int i = 1; i <= 4; i++)
					if (hexval(j->p[i]) < 0)
						return jp_fail(j, "bad \\u escape");
				j->p += 4;
			} else if (!strchr("\"\\/bfnrt", *j->p)) {
				return jp_fail(j, "bad escape in string");
			}
		}
		j->p++;
	}
	return jp_fail(j, "unterminated string");
}

static int jp_number(struct jp *j)
{
	const char *p = j->p;

	if (p < j->end && *p == '-')
		p++;
	if (p < j->end && *p == '0')
		p++;
	else if (p < j->end && *p >= '1' && *p <= '9')
		while (p < j->end && *p >= '0' && *p <= '9')
			p++;
	else
		return jp_fail(j, "bad number");
	if (p < j->end && *p == '.') {
		if (++p >= j->end || *p < '0' || *p > '9')
			return jp_fail(j, "bad number");
		while (p < j->end && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < j->end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < j->end && (*p == '+' || *p == '-'))
			p++;
		if (p >= j->end || *p < '0' || *p > '9')
			return jp_fail(j, "bad number");
		while (p < j->end && *p >= '0' && *p <= '9')
			p++;
	}
	j->p = p;
	return 0;
}

static int jp_word(struct jp *j, const char *w)
{
	size_t n = strlen(w);

	if ((size_t)(j->end - j->p) < n || memcmp(j->p, w, n))
		return jp_fail(j, "unexpected character");
	j->p += n;
	return 0;
}

/* Does the JSON string s..e (quotes included) equal seg once unescaped? */
static bool key_eq(const char *s, const char *e, const char *seg)
{
	struct mq_jval v = {MQ_J_STR, s, (size_t)(e - s)};
	struct sg_buf b;
	bool eq;

	if (!memchr(s, '\\', (size_t)(e - s)))
		return (size_t)(e - s - 2) == strlen(seg) &&
		       !memcmp(s + 1, seg, (size_t)(e - s - 2));
	sg_buf_init(&b);
	eq = mq_json_str(&v, &b) == SG_OK && !b.oom && b.len == strlen(seg) &&
	     !memcmp(b.p, seg, b.len);
	sg_buf_free(&b);
	return eq;
}

/* Is the array index text seg equal to idx?  ("0", "12"; no leading 0s) */
static bool index_eq(const char *seg, size_t idx)
{
	char tmp[24];

	snprintf(tmp, sizeof(tmp), "%zu", idx);
	return !strcmp(seg, tmp);
}

/* Parse one value.  `at` is how many pointer segments matched on the way
 * here, or -1 when this subtree cannot hold the target. */
static int jp_value(struct jp *j, int depth, long at);

static int jp_container(struct jp *j, int depth, long at, bool obj)
{
	char close = obj ? '}' : ']';
	size_t idx = 0;

	if (depth >= MQ_JSON_MAX_DEPTH)
		return jp_fail(j, "nesting too deep");
	j->p++;
	jp_ws(j);
	if (j->p < j->end && *j->p == close) {
		j->p++;
		return 0;
	}
	for (;; idx++) {
		long sub = -1;

		jp_ws(j);
		if (obj) {
			const char *ks = j->p;

			if (j->p >= j->end || *j->p != '"')
				return jp_fail(j, "expected a member name");
			if (jp_string(j))
				return -1;
			if (at >= 0 && (size_t)at < j->ptr->n && !j->found &&
			    key_eq(ks, j->p, j->ptr->seg[at]))
				sub = at + 1;
			jp_ws(j);
			if (j->p >= j->end || *j->p != ':')
				return jp_fail(j, "expected ':'");
			j->p++;
		} else if (at >= 0 && (size_t)at < j->ptr->n && !j->found &&
			   index_eq(j->ptr->seg[at], idx)) {
			sub = at + 1;
		}
		if (jp_value(j, depth + 1, sub))
			return -1;
		jp_ws(j);
		if (j->p < j->end && *j->p == ',') {
			j->p++;
			continue;
		}
		if (j->p < j->end && *j->p == close) {
			j->p++;
			return 0;
		}
		return jp_fail(j, obj ? "expected ',' or '}'" : "expected ',' or ']'");
	}
}

static int jp_value(struct jp *j, int depth, long at)
{
	const char *start;
	enum mq_jtype t;
	int rc;

	jp_ws(j);
	if (j->p >= j->end)
		return jp_fail(j, "unexpected end of input");
	start = j->p;
	switch (*j->p) {
	case '{':
		t = MQ_J_OBJ;
		rc = jp_container(j, depth, at, true);
		break;
	case '[':
		t = MQ_J_ARR;
		rc = jp_container(j, depth, at, false);
		break;
	case '"':
		t = MQ_J_STR;
		rc = jp_string(j);
		break;
	case 't':
		t = MQ_J_BOOL;
		rc = jp_word(j, "true");
		break;
	case 'f':
		t = MQ_J_BOOL;
		rc = jp_word(j, "false");
		break;
	case 'n':
		t = MQ_J_NULL;
		rc = jp_word(j, "null");
		break;
	default:
		t = MQ_J_NUM;
		rc = jp_number(j);
		break;
	}
	if (rc)
		return rc;
	if (at >= 0 && (size_t)at == j->ptr->n && !j->found) {
		j->found = true;
		j->hit->type = t;
		j->hit->p = start;
		j->hit->len = (size_t)(j->p - start);
	}
	return 0;
}

int mq_json_find(const char *doc, size_t len, const struct mq_jptr *ptr, struct mq_jval *out,
		 struct sg_errbuf *eb)
{
	static const struct mq_jptr none = {NULL, 0};
	struct mq_jval dummy;
	struct jp j = {doc, doc + len, doc, ptr ? ptr : &none, out ? out : &dummy, false, NULL};

	if (jp_value(&j, 0, ptr ? 0 : -1) == 0) {
		jp_ws(&j);
		if (j.p != j.end)
			jp_fail(&j, "trailing characters after the value");
	}
	if (j.err)
		return sg_errf(eb, SG_EINVAL, "invalid JSON at byte %zu: %s", (size_t)(j.p - doc),
			       j.err);
	return j.found ? SG_OK : SG_ENOTFOUND;
}

int mq_json_valid(const char *doc, size_t len, struct sg_errbuf *eb)
{
	int rc = mq_json_find(doc, len, NULL, NULL, eb);
	return rc == SG_ENOTFOUND ? SG_OK : rc;
}

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

static unsigned hex4(const char *p)
{
	return (unsigned)(hexval(p[0]) << 12 | hexval(p[1]) << 8 | hexval(p[2]) << 4 |
			  hexval(p[3]));
}

int mq_json_str(const struct mq_jval *v, struct sg_buf *b)
{
	const char *p = v->p + 1, *e = v->p + v->len - 1;

	if (v->type != MQ_J_STR || v->len < 2)
		return SG_EINVAL;
	while (p < e) {
		const char *bs = memchr(p, '\\', (size_t)(e - p));
		unsigned cp;

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
			if (e - p < 5)
				return SG_EINVAL;
			cp = hex4(p + 1);
			p += 4;
			if (cp >= 0xd800 && cp < 0xdc00 && e - p >= 7 && p[1] == '\\' &&
			    p[2] == 'u') {
				unsigned lo = hex4(p + 3);
				if (lo >= 0xdc00 && lo < 0xe000) {
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
					p += 6;
				}
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
	char tmp[64], *end;

	if (v->type != MQ_J_NUM || v->len == 0)
		return SG_EINVAL;
	if (v->len >= sizeof(tmp)) {
		/* Absurdly long literal: still a number, parse via heap. */
		char *h = strndup(v->p, v->len);
		if (!h)
			return SG_ENOMEM;
		out->type = SG_VAL_DOUBLE;
		out->d = strtod(h, NULL);
		free(h);
		return SG_OK;
	}
	memcpy(tmp, v->p, v->len);
	tmp[v->len] = '\0';
	if (!strpbrk(tmp, ".eE")) {
		errno = 0;
		long long i = strtoll(tmp, &end, 10);
		if (!errno && !*end) {
			out->type = SG_VAL_INT;
			out->i = i;
			return SG_OK;
		}
	}
	out->type = SG_VAL_DOUBLE;
	out->d = strtod(tmp, NULL);
	return SG_OK;
}

static int digits(const char *s, size_t n, int *out)
{
	*out = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		*out = *out * 10 + (s[i] - '0');
	}
	return 0;
}

int mq_time_parse(const char *s, size_t len, int64_t *ns)
{
	int y, mo, d, h, mi, sec, oh = 0, om = 0;
	int64_t frac = 0, scale = SG_NS_PER_S, off = 0;
	struct tm tm = {0};
	size_t i = 19;

	if (len < 20 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
	    digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
	    digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' ||
	    digits(s + 17, 2, &sec))
		return SG_EINVAL;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return SG_EINVAL;
	if (s[i] == '.') {
		if (++i >= len || s[i] < '0' || s[i] > '9')
			return SG_EINVAL;
		for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
			if (scale > 1) {
				scale /= 10;
				frac += (s[i] - '0') * scale;
			}
	}
	if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
		i++;
	} else if (i + 6 == len && (s[i] == '+' || s[i] == '-') && !digits(s + i + 1, 2, &oh) &&
		   s[i + 3] == ':' && !digits(s + i + 4, 2, &om) && oh < 24 && om < 60) {
		off = (int64_t)(oh * 3600 + om * 60) * (s[i] == '+' ? 1 : -1);
		i += 6;
	} else {
		return SG_EINVAL;
	}
	if (i != len)
		return SG_EINVAL;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	*ns = ((int64_t)timegm(&tm) - off) * SG_NS_PER_S + frac;
	return SG_OK;
}
