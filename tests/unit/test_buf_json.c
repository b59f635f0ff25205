/*
 * test_buf_json.c - sg_buf_add_json_str, which copies runs of plain bytes
 * eight at a time, writes exactly what the byte-by-byte escaper below
 * writes (the oracle, RFC 8259 escapes and U+FFFD for invalid UTF-8):
 * every byte value at every position of strings up to 24 bytes, every
 * escape next to runs of every length, and random mixes of ASCII, valid
 * and broken UTF-8.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/base/buf.h"
#include "t.h"

/* The length of a valid UTF-8 sequence at s (shortest form, no
 * surrogates, at most U+10FFFF), or 0. */
static size_t oracle_utf8(const unsigned char *s, size_t n)
{
	size_t len;
	unsigned cp;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
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

static size_t oracle(const unsigned char *s, size_t n, char *out)
{
	size_t o = 0;

	out[o++] = '"';
	for (size_t i = 0; i < n;) {
		unsigned char c = s[i];
		size_t l;

		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c == '\n' || c == '\r' || c == '\t') {
			out[o++] = '\\';
			out[o++] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
		} else if (c < 0x20) {
			o += (size_t)sprintf(out + o, "\\u%04x", c);
		} else if (c < 0x80) {
			out[o++] = (char)c;
		} else if ((l = oracle_utf8(s + i, n - i))) {
			memcpy(out + o, s + i, l);
			o += l;
			i += l;
			continue;
		} else {
			memcpy(out + o, "\\ufffd", 6);
			o += 6;
		}
		i++;
	}
	out[o++] = '"';
	return o;
}

static int mismatches;

static void same(const unsigned char *s, size_t n)
{
	char want[6 * 64 + 3];
	struct sg_buf b;
	size_t wn = oracle(s, n, want);

	sg_buf_init(&b);
	sg_buf_adds(&b, "x"); /* not at the start of the buffer */
	sg_buf_add_json_str(&b, (const char *)s, n);
	if (b.oom || b.len != wn + 1 || memcmp(b.p + 1, want, wn)) {
		if (mismatches++ < 5) {
			fprintf(stderr, "    input:");
			for (size_t i = 0; i < n; i++)
				fprintf(stderr, " %02x", s[i]);
			fprintf(stderr, "\n    want %.*s\n    got  %s\n", (int)wn, want, b.p + 1);
		}
	}
	sg_buf_free(&b);
}

TEST(every_byte_at_every_position)
{
	unsigned char s[24];

	mismatches = 0;
	for (size_t n = 1; n <= sizeof(s); n++)
		for (size_t at = 0; at < n; at++)
			for (int c = 0; c < 256; c++) {
				memset(s, 'a', n);
				s[at] = (unsigned char)c;
				same(s, n);
			}
	CHECK_EQ(mismatches, 0);
}

TEST(escapes_between_runs)
{
	static const char *const specials[] = {"\"",       "\\",           "\n",
					       "\x01",     "\x1f",         "\x7f",
					       "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
					       "\xc3",     "\xed\xa0\x80", "\xff"};
	unsigned char s[64];

	mismatches = 0;
	for (size_t k = 0; k < sizeof(specials) / sizeof(specials[0]); k++)
		for (size_t pre = 0; pre <= 17; pre++)
			for (size_t post = 0; post <= 17; post++) {
				size_t sl = strlen(specials[k]), n = 0;

				memset(s, 'p', pre);
				n = pre;
				memcpy(s + n, specials[k], sl);
				n += sl;
				memset(s + n, 'q', post);
				n += post;
				same(s, n);
			}
	CHECK_EQ(mismatches, 0);
}

TEST(random_mixes)
{
	static const unsigned char pool[] = "abcXYZ09 -_:/.{}~\"\\\n\t\x01\x7f\xc3\xa9\xe2\x82\xac"
					    "\xf0\x9f\x98\x80\x80\xbf\xc0\xf5\xff\xed\xa0";
	unsigned char s[64];
	unsigned seed = 12345;

	mismatches = 0;
	for (int iter = 0; iter < 200000; iter++) {
		size_t n = (size_t)(rand_r(&seed) % 64);

		for (size_t i = 0; i < n; i++)
			s[i] = pool[rand_r(&seed) % (sizeof(pool) - 1)];
		same(s, n);
	}
	CHECK_EQ(mismatches, 0);
}
