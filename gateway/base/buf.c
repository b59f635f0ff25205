/*
 * buf.c - the growable byte buffer and its little-endian and JSON-string appenders.
 */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void sg_buf_init(struct sg_buf *b)
{
	memset(b, 0, sizeof(*b));
}
void sg_buf_free(struct sg_buf *b)
{
	free(b->p);
	sg_buf_init(b);
}
void sg_buf_reset(struct sg_buf *b)
{
	b->len = 0;
	b->oom = false;
}

bool sg_buf_reserve(struct sg_buf *b, size_t extra)
{
	size_t need, cap;
	char *p;

	if (b->oom)
		return false;
	need = b->len + extra + 1;
	if (need <= b->cap)
		return true;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p) {
		b->oom = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

void sg_buf_printf(struct sg_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !sg_buf_reserve(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

size_t sg_utf8_len(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, cp = c & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

/* True when none of the 8 bytes of w needs more than a copy: each is
 * 0x20..0x7f and neither '"' nor '\\'.  The classic word tests: a byte
 * below 0x20 sets its high bit in (w - 0x20..) & ~w; a byte equal to c
 * in ((w ^ c..) - 0x01..) & ~(w ^ c..); both exact for "any byte". */
static inline bool json_plain8(uint64_t w)
{
	const uint64_t ones = 0x0101010101010101u, high = 0x8080808080808080u;
	uint64_t q = w ^ (ones * '"'), bs = w ^ (ones * '\\');

	return !((((w - ones * 0x20) & ~w) | ((q - ones) & ~q) | ((bs - ones) & ~bs) | w) & high);
}

char *sg_json_put_str(char *o, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;

	*o++ = '"';
	/* Ids, names and units are mostly plain: eight bytes at a time up
	 * to the first that is not (or the last word), then byte by byte. */
	size_t i = 0;
	for (uint64_t w; n - i >= 8; i += 8) {
		memcpy(&w, u + i, 8);
		if (!json_plain8(w))
			break;
		memcpy(o, &w, 8);
		o += 8;
	}
	while (i < n) {
		unsigned char c = u[i];
		size_t l;

		if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
			*o++ = (char)c;
			i++;
			continue;
		}
		if (c >= 0x80) {
			l = sg_utf8_len(u + i, n - i);
			if (l) {
				memcpy(o, s + i, l);
				o += l;
				i += l;
			} else {
				memcpy(o, "\\ufffd", 6);
				o += 6;
				i++;
			}
			continue;
		}
		*o++ = '\\';
		switch (c) {
		case '"': *o++ = '"'; break;
		case '\\': *o++ = '\\'; break;
		case '\n': *o++ = 'n'; break;
		case '\r': *o++ = 'r'; break;
		case '\t': *o++ = 't'; break;
		default:
			memcpy(o, "u00", 3);
			o[3] = hex[c >> 4];
			o[4] = hex[c & 15];
			o += 5;
		}
		i++;
	}
	*o++ = '"';
	return o;
}

void sg_buf_add_json_str(struct sg_buf *b, const char *s, size_t n)
{
	/* Worst case: every byte becomes \u00XX (6) or U+FFFD (6), plus quotes. */
	if (n > (SIZE_MAX - 2) / 6 || !sg_buf_reserve(b, n * 6 + 2))
		return;
	b->len = (size_t)(sg_json_put_str(b->p + b->len, s, n) - b->p);
	b->p[b->len] = '\0';
}
