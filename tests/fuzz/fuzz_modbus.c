/*
 * fuzz_modbus.c - fuzz target: the Modbus value codec (drivers/modbus/
 * decode.c) on any register words, type, order and bit.  The first bytes
 * pick type, order, word count and bit; the rest are the words.
 *
 * Invariants (abort when broken): decode accepts exactly the word counts
 * mb_type_regs() says and bits 0..15; byte/word reordering is undone by
 * its inverse; an integer decoded and encoded again gives the same words;
 * a float decoded from words gives the same words again (unless NaN,
 * whose payload may change); a string is at most 2n bytes, NUL-free and
 * without trailing spaces; scale with an identity keeps the value.
 */
#include <math.h>
#include <string.h>

#include "drivers/modbus/decode.h"
#include "fuzz.h"

static void orders(const uint16_t *w, int n)
{
	uint8_t be[2 * MB_STRING_MAX_REGS];
	uint16_t back[MB_STRING_MAX_REGS];

	for (int o = MB_O_ABCD; o <= MB_O_DCBA; o++) {
		mb_words_to_be(w, n, (enum mb_order)o, be);
		mb_be_to_words(be, n, (enum mb_order)o, back);
		FZ_CHECK(!memcmp(w, back, (size_t)n * 2));
	}
}

static void round_trip(enum mb_type t, enum mb_order o, const uint16_t *w, int n,
		       const struct sg_value *v)
{
	uint16_t again[4] = {0};
	double num;

	if (t == MB_T_STRING || t == MB_T_BOOL || t == MB_T_BIT || n > 4)
		return;
	if (v->type == SG_VAL_DOUBLE) {
		if (isnan(v->d))
			return;
		num = v->d;
	} else if (v->type == SG_VAL_INT) {
		if (v->i < -(1LL << 52) || v->i > (1LL << 52))
			return; /* a double holds it exactly only up to 2^53 */
		num = (double)v->i;
	} else if (v->type == SG_VAL_UINT) {
		if (v->u > (1ULL << 52))
			return;
		num = (double)v->u;
	} else {
		return;
	}
	FZ_CHECK(mb_encode(t, o, num, NULL, 0, again, n) == SG_OK);
	FZ_CHECK(!memcmp(again, w, (size_t)n * 2));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint16_t w[MB_STRING_MAX_REGS];
	char str[2 * MB_STRING_MAX_REGS + 1];
	struct sg_value v, s;
	enum mb_type t;
	enum mb_order o;
	int n, bit, need;

	if (size < 3)
		return 0;
	t = (enum mb_type)(data[0] % (MB_T_STRING + 1));
	o = (enum mb_order)(data[1] % 4);
	bit = data[2] % 20;
	n = (int)((size - 3) / 2);
	if (n > MB_STRING_MAX_REGS)
		n = MB_STRING_MAX_REGS;
	for (int i = 0; i < n; i++)
		w[i] = (uint16_t)(data[3 + 2 * i] << 8 | data[4 + 2 * i]);
	orders(w, n);
	need = mb_type_regs(t, n);
	memset(&v, 0, sizeof(v));
	if (mb_decode(t, o, w, n, bit, str, sizeof(str), &v) != SG_OK) {
		FZ_CHECK(n != need || (t == MB_T_BIT && bit > 15) || n == 0);
		return 0;
	}
	FZ_CHECK(n == need && !(t == MB_T_BIT && bit > 15));
	if (t == MB_T_STRING) {
		FZ_CHECK(v.type == SG_VAL_STR && v.s.len <= (size_t)2 * n);
		FZ_CHECK(!memchr(v.s.p, '\0', v.s.len));
		FZ_CHECK(!v.s.len || ((const char *)v.s.p)[v.s.len - 1] != ' ');
	}
	round_trip(t, o, w, n, &v);
	s = v;
	mb_scale(&s, 1, 0);
	FZ_CHECK(s.type == v.type);
	if (v.type == SG_VAL_UINT)
		FZ_CHECK(s.u == v.u);
	if (v.type == SG_VAL_INT)
		FZ_CHECK(s.i == v.i);
	return 0;
}
