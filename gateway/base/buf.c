/*
 * buf.c - the growable byte buffer and its little-endian and JSON-string appenders.
 */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
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

void sg_buf_add(struct sg_buf *b, const void *p, size_t n)
{
	if (!sg_buf_reserve(b, n))
		return;
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void sg_buf_adds(struct sg_buf *b, const char *s)
{
	sg_buf_add(b, s, strlen(s));
}
void sg_buf_addc(struct sg_buf *b, char c)
{
	sg_buf_add(b, &c, 1);
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

void sg_buf_add_u16(struct sg_buf *b, uint16_t v)
{
	uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
	sg_buf_add(b, x, 2);
}
void sg_buf_add_u32(struct sg_buf *b, uint32_t v)
{
	uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
	sg_buf_add(b, x, 4);
}
void sg_buf_add_u64(struct sg_buf *b, uint64_t v)
{
	sg_buf_add_u32(b, (uint32_t)v);
	sg_buf_add_u32(b, (uint32_t)(v >> 32));
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
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

void sg_buf_add_json_str(struct sg_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, run = 0;

	sg_buf_addc(b, '"');
	while (i < n) {
		unsigned char c = u[i];
		size_t l;

		if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
			i++;
			run++;
			continue;
		}
		sg_buf_add(b, s + i - run, run);
		run = 0;
		if (c >= 0x80) {
			l = utf8_len(u + i, n - i);
			if (l)
				sg_buf_add(b, s + i, l);
			else
				sg_buf_adds(b, "\\ufffd");
			i += l ? l : 1;
			continue;
		}
		switch (c) {
		case '"': sg_buf_adds(b, "\\\""); break;
		case '\\': sg_buf_adds(b, "\\\\"); break;
		case '\n': sg_buf_adds(b, "\\n"); break;
		case '\r': sg_buf_adds(b, "\\r"); break;
		case '\t': sg_buf_adds(b, "\\t"); break;
		default: {
			char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
			sg_buf_add(b, e, 6);
		}
		}
		i++;
	}
	sg_buf_add(b, s + i - run, run);
	sg_buf_addc(b, '"');
}
