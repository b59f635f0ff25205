/*
 * decode.c - the Modbus value codec (see decode.h for the order rules).
 *
 * Every type goes through one canonical form, the value's big-endian
 * bytes, so the order logic exists once (mb_words_to_be) and every type
 * reads its bits from the same place.  Floats are assembled bit for bit
 * through a union-free memcpy, so NaN payloads and infinities survive.
 */
#include "decode.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/base/err.h"

const char *const mb_type_names[] = {"u16", "i16", "u32",  "i32", "u64",    "i64",
				     "f32", "f64", "bool", "bit", "string", NULL};
const char *const mb_order_names[] = {"ABCD", "CDAB", "BADC", "DCBA", NULL};

int mb_type_regs(enum mb_type t, int string_regs)
{
	switch (t) {
	case MB_T_U32:
	case MB_T_I32:
	case MB_T_F32: return 2;
	case MB_T_U64:
	case MB_T_I64:
	case MB_T_F64: return 4;
	case MB_T_STRING: return string_regs;
	default: return 1;
	}
}

static bool order_word_swap(enum mb_order o)
{
	return o == MB_O_CDAB || o == MB_O_DCBA;
}

static bool order_byte_swap(enum mb_order o)
{
	return o == MB_O_BADC || o == MB_O_DCBA;
}

void mb_words_to_be(const uint16_t *w, int n, enum mb_order o, uint8_t *out)
{
	for (int i = 0; i < n; i++) {
		uint16_t x = w[order_word_swap(o) ? n - 1 - i : i];
		uint8_t hi = (uint8_t)(x >> 8), lo = (uint8_t)x;

		out[2 * i] = order_byte_swap(o) ? lo : hi;
		out[2 * i + 1] = order_byte_swap(o) ? hi : lo;
	}
}

void mb_be_to_words(const uint8_t *be, int n, enum mb_order o, uint16_t *w)
{
	for (int i = 0; i < n; i++) {
		uint8_t hi = be[2 * i], lo = be[2 * i + 1];
		uint16_t x =
		    order_byte_swap(o) ? (uint16_t)(lo << 8 | hi) : (uint16_t)(hi << 8 | lo);

		w[order_word_swap(o) ? n - 1 - i : i] = x;
	}
}

static uint64_t be_uint(const uint8_t *b, int nbytes)
{
	uint64_t v = 0;

	for (int i = 0; i < nbytes; i++)
		v = v << 8 | b[i];
	return v;
}

static void decode_string(const uint8_t *be, int n, char *buf, size_t cap, struct sg_value *v)
{
	size_t len = 0;

	while (len < (size_t)n * 2 && len + 1 < cap && be[len])
		len++;
	memcpy(buf, be, len);
	while (len && buf[len - 1] == ' ')
		len--;
	buf[len] = '\0';
	v->type = SG_VAL_STR;
	v->s.p = buf;
	v->s.len = len;
}

int mb_decode(enum mb_type t, enum mb_order o, const uint16_t *w, int n, int bit, char *strbuf,
	      size_t strcap, struct sg_value *v)
{
	uint8_t be[2 * MB_STRING_MAX_REGS];
	uint64_t u;

	if (n < 1 || n > MB_STRING_MAX_REGS || (t != MB_T_STRING && n != mb_type_regs(t, n)))
		return SG_EINVAL;
	mb_words_to_be(w, n, o, be);
	u = t == MB_T_STRING ? 0 : be_uint(be, 2 * n);
	switch (t) {
	case MB_T_U16:
	case MB_T_U32:
	case MB_T_U64:
		v->type = SG_VAL_UINT;
		v->u = u;
		break;
	case MB_T_I16:
		v->type = SG_VAL_INT;
		v->i = (int16_t)(uint16_t)u;
		break;
	case MB_T_I32:
		v->type = SG_VAL_INT;
		v->i = (int32_t)(uint32_t)u;
		break;
	case MB_T_I64:
		v->type = SG_VAL_INT;
		v->i = (int64_t)u;
		break;
	case MB_T_F32: {
		uint32_t x = (uint32_t)u;
		float f;

		memcpy(&f, &x, sizeof(f));
		v->type = SG_VAL_DOUBLE;
		v->d = f;
		break;
	}
	case MB_T_F64:
		v->type = SG_VAL_DOUBLE;
		memcpy(&v->d, &u, sizeof(v->d));
		break;
	case MB_T_BOOL:
		v->type = SG_VAL_BOOL;
		v->b = u != 0;
		break;
	case MB_T_BIT:
		if (bit < 0 || bit > 15)
			return SG_EINVAL;
		v->type = SG_VAL_BOOL;
		v->b = (u >> bit) & 1;
		break;
	case MB_T_STRING:
		if (!strbuf || strcap < 1)
			return SG_EINVAL;
		decode_string(be, n, strbuf, strcap, v);
		break;
	}
	return SG_OK;
}

/* Round to nearest and saturate at [0, maxu]; maxd is maxu + 1 as a
 * double, exact for every width. */
static uint64_t enc_uint(double x, double maxd, uint64_t maxu)
{
	if (!(x > 0))
		return 0;
	if (x >= maxd)
		return maxu;
	x = floor(x + 0.5);
	return x >= maxd ? maxu : (uint64_t)x;
}

/* Round and saturate at [-2^(bits-1), 2^(bits-1) - 1]. */
static int64_t enc_int(double x, int bits)
{
	double lim = ldexp(1.0, bits - 1);
	int64_t hi = (int64_t)((bits == 64) ? INT64_MAX : (1LL << (bits - 1)) - 1);

	if (isnan(x))
		return 0;
	if (x <= -lim)
		return -hi - 1;
	if (x >= lim)
		return hi;
	x = floor(x + 0.5);
	return x > (double)hi ? hi : (int64_t)x;
}

int mb_encode(enum mb_type t, enum mb_order o, double num, const char *text, int bit, uint16_t *w,
	      int n)
{
	uint8_t be[2 * MB_STRING_MAX_REGS] = {0};
	uint8_t cur[2 * MB_STRING_MAX_REGS];
	uint64_t u = 0;

	if (n < 1 || n > MB_STRING_MAX_REGS || (t != MB_T_STRING && n != mb_type_regs(t, n)))
		return SG_EINVAL;
	switch (t) {
	case MB_T_U16: u = enc_uint(num, 65536.0, UINT16_MAX); break;
	case MB_T_U32: u = enc_uint(num, 4294967296.0, UINT32_MAX); break;
	case MB_T_U64: u = enc_uint(num, 18446744073709551616.0, UINT64_MAX); break;
	case MB_T_I16: u = (uint16_t)enc_int(num, 16); break;
	case MB_T_I32: u = (uint32_t)enc_int(num, 32); break;
	case MB_T_I64: u = (uint64_t)enc_int(num, 64); break;
	case MB_T_F32: {
		float f = (float)num;
		uint32_t x;

		memcpy(&x, &f, sizeof(x));
		u = x;
		break;
	}
	case MB_T_F64: memcpy(&u, &num, sizeof(u)); break;
	case MB_T_BOOL: u = num != 0; break;
	case MB_T_BIT:
		if (bit < 0 || bit > 15)
			return SG_EINVAL;
		mb_words_to_be(w, 1, o, cur);
		u = (uint64_t)cur[0] << 8 | cur[1];
		u = num != 0 ? u | (1u << bit) : u & ~(1u << bit);
		break;
	case MB_T_STRING:
		if (text)
			memcpy(be, text, strnlen(text, (size_t)n * 2));
		break;
	}
	if (t != MB_T_STRING)
		for (int i = 2 * n - 1; i >= 0; i--, u >>= 8)
			be[i] = (uint8_t)u;
	mb_be_to_words(be, n, o, w);
	return SG_OK;
}

void mb_scale(struct sg_value *v, double scale, double offset)
{
	double d;

	if (scale == 1.0 && offset == 0.0)
		return;
	if (!mb_value_num(v, &d) || v->type == SG_VAL_BOOL)
		return;
	v->type = SG_VAL_DOUBLE;
	v->d = mb_round15(d * scale + offset);
}

double mb_round15(double d)
{
	char tmp[32];

	/* 24 * 0.1 is 2.4000000000000004 in binary: 15 significant digits
	 * are what a double holds for sure, so print the value people mean. */
	if (!isfinite(d))
		return d;
	snprintf(tmp, sizeof(tmp), "%.15g", d);
	return strtod(tmp, NULL);
}

bool mb_value_num(const struct sg_value *v, double *out)
{
	switch (v->type) {
	case SG_VAL_DOUBLE: *out = v->d; return true;
	case SG_VAL_INT: *out = (double)v->i; return true;
	case SG_VAL_UINT: *out = (double)v->u; return true;
	case SG_VAL_BOOL: *out = v->b ? 1 : 0; return true;
	default: return false;
	}
}

bool mb_fits(enum mb_type t, double raw)
{
	double r = floor(raw + 0.5);

	switch (t) {
	case MB_T_U16: return r >= 0 && r <= 65535;
	case MB_T_I16: return r >= -32768 && r <= 32767;
	case MB_T_U32: return r >= 0 && r <= 4294967295.0;
	case MB_T_I32: return r >= -2147483648.0 && r <= 2147483647.0;
	case MB_T_U64: return r >= 0 && r < 18446744073709551616.0;
	case MB_T_I64: return r >= -9223372036854775808.0 && r < 9223372036854775808.0;
	case MB_T_STRING: return false;
	default: return !isnan(raw) || t == MB_T_F32 || t == MB_T_F64;
	}
}
