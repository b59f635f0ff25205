/*
 * buf.h - a growable byte buffer with little-endian and JSON-string
 * appenders, and the matching little-endian readers.
 */
#ifndef SG_BUF_H
#define SG_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Growable buffer.  On allocation failure `oom` latches and appends become
 * no-ops, so encoders check once at the end. */
struct sg_buf {
	char *p;
	size_t len, cap;
	bool oom;
};
void sg_buf_init(struct sg_buf *b);
void sg_buf_free(struct sg_buf *b);
void sg_buf_reset(struct sg_buf *b);
/* Room for extra more bytes plus the terminating NUL; false once oom. */
bool sg_buf_reserve(struct sg_buf *b, size_t extra);
void sg_buf_printf(struct sg_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Length of the valid UTF-8 sequence at s (1..4, n bytes available), or
 * 0: no overlongs, surrogates or code points past U+10FFFF.  The one rule
 * every text encoder here uses (JSON, Avro strings). */
size_t sg_utf8_len(const unsigned char *s, size_t n);
/* JSON string literal with quotes and escapes; invalid UTF-8 -> U+FFFD. */
void sg_buf_add_json_str(struct sg_buf *b, const char *s, size_t n);
/* The same literal written at o, which has room for SG_JSON_STR_MAX(n)
 * bytes; returns the end of what was written (no NUL). */
#define SG_JSON_STR_MAX(n) ((size_t)(n)*6 + 2)
char *sg_json_put_str(char *o, const char *s, size_t n);

/* The appenders run for every field of every event: inline, with one
 * comparison on the path where the buffer has room.  The content stays
 * NUL-terminated. */
static inline void sg_buf_add(struct sg_buf *b, const void *p, size_t n)
{
	if (b->len + n >= b->cap && !sg_buf_reserve(b, n))
		return;
	if (n)
		__builtin_memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}
static inline void sg_buf_adds(struct sg_buf *b, const char *s)
{
	sg_buf_add(b, s, __builtin_strlen(s));
}
static inline void sg_buf_addc(struct sg_buf *b, char c)
{
	if (b->len + 1 >= b->cap && !sg_buf_reserve(b, 1))
		return;
	b->p[b->len++] = c;
	b->p[b->len] = '\0';
}
/* Little endian. */
static inline void sg_buf_add_u16(struct sg_buf *b, uint16_t v)
{
	uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
	sg_buf_add(b, x, 2);
}
static inline void sg_buf_add_u32(struct sg_buf *b, uint32_t v)
{
	uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
	sg_buf_add(b, x, 4);
}
static inline void sg_buf_add_u64(struct sg_buf *b, uint64_t v)
{
	uint8_t x[8];
	for (int i = 0; i < 8; i++)
		x[i] = (uint8_t)(v >> (8 * i));
	sg_buf_add(b, x, 8);
}
static inline uint16_t sg_get_u16(const void *p)
{
	const uint8_t *b = p;
	return (uint16_t)(b[0] | b[1] << 8);
}
static inline uint32_t sg_get_u32(const void *p)
{
	const uint8_t *b = p;
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}
static inline uint64_t sg_get_u64(const void *p)
{
	const uint8_t *b = p;
	return (uint64_t)sg_get_u32(b) | (uint64_t)sg_get_u32(b + 4) << 32;
}

#endif
