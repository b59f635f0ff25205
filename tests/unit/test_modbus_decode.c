/*
 * test_modbus_decode.c - the Modbus value codec: every type in every
 * byte/word order against hand-computed register vectors (negatives,
 * NaN, +-Inf, strings), encode as the exact inverse, scale and rounding.
 */
#include <math.h>
#include <stdint.h>

#include "drivers/modbus/decode.h"
#include "t.h"

enum kind { K_U, K_I, K_D, K_B, K_S };

struct vec {
	enum mb_type t;
	enum mb_order o;
	uint16_t w[8];
	int n;
	int bit;
	enum kind k;
	uint64_t u;
	int64_t i;
	double d;
	const char *s;
};

#define A MB_O_ABCD
#define C MB_O_CDAB
#define B MB_O_BADC
#define D MB_O_DCBA

static const struct vec vecs[] = {
    /* u16 0x1234 = 4660: only the byte swap matters */
    {MB_T_U16, A, {0x1234}, 1, 0, K_U, .u = 4660},
    {MB_T_U16, C, {0x1234}, 1, 0, K_U, .u = 4660},
    {MB_T_U16, B, {0x3412}, 1, 0, K_U, .u = 4660},
    {MB_T_U16, D, {0x3412}, 1, 0, K_U, .u = 4660},
    {MB_T_U16, A, {0xffff}, 1, 0, K_U, .u = 65535},
    /* i16 -2 = 0xfffe, -32768 = 0x8000, 300 = 0x012c */
    {MB_T_I16, A, {0xfffe}, 1, 0, K_I, .i = -2},
    {MB_T_I16, C, {0xfffe}, 1, 0, K_I, .i = -2},
    {MB_T_I16, B, {0xfeff}, 1, 0, K_I, .i = -2},
    {MB_T_I16, D, {0xfeff}, 1, 0, K_I, .i = -2},
    {MB_T_I16, B, {0x0080}, 1, 0, K_I, .i = -32768},
    {MB_T_I16, A, {0x012c}, 1, 0, K_I, .i = 300},
    /* u32 0x12345678 = 305419896 */
    {MB_T_U32, A, {0x1234, 0x5678}, 2, 0, K_U, .u = 305419896},
    {MB_T_U32, C, {0x5678, 0x1234}, 2, 0, K_U, .u = 305419896},
    {MB_T_U32, B, {0x3412, 0x7856}, 2, 0, K_U, .u = 305419896},
    {MB_T_U32, D, {0x7856, 0x3412}, 2, 0, K_U, .u = 305419896},
    {MB_T_U32, C, {0xffff, 0xffff}, 2, 0, K_U, .u = 4294967295u},
    /* i32 -123456789 = 0xf8a432eb */
    {MB_T_I32, A, {0xf8a4, 0x32eb}, 2, 0, K_I, .i = -123456789},
    {MB_T_I32, C, {0x32eb, 0xf8a4}, 2, 0, K_I, .i = -123456789},
    {MB_T_I32, B, {0xa4f8, 0xeb32}, 2, 0, K_I, .i = -123456789},
    {MB_T_I32, D, {0xeb32, 0xa4f8}, 2, 0, K_I, .i = -123456789},
    {MB_T_I32, A, {0x0001, 0x0000}, 2, 0, K_I, .i = 65536},
    {MB_T_I32, C, {0x0000, 0x0001}, 2, 0, K_I, .i = 65536},
    /* u64 0x0102030405060708 = 72623859790382856 */
    {MB_T_U64, A, {0x0102, 0x0304, 0x0506, 0x0708}, 4, 0, K_U, .u = 0x0102030405060708ull},
    {MB_T_U64, C, {0x0708, 0x0506, 0x0304, 0x0102}, 4, 0, K_U, .u = 0x0102030405060708ull},
    {MB_T_U64, B, {0x0201, 0x0403, 0x0605, 0x0807}, 4, 0, K_U, .u = 0x0102030405060708ull},
    {MB_T_U64, D, {0x0807, 0x0605, 0x0403, 0x0201}, 4, 0, K_U, .u = 0x0102030405060708ull},
    {MB_T_U64, A, {0xffff, 0xffff, 0xffff, 0xffff}, 4, 0, K_U, .u = UINT64_MAX},
    /* i64 -2 = 0xfffffffffffffffe; -1e15 = 0xfffc72815b398000 */
    {MB_T_I64, A, {0xffff, 0xffff, 0xffff, 0xfffe}, 4, 0, K_I, .i = -2},
    {MB_T_I64, C, {0xfffe, 0xffff, 0xffff, 0xffff}, 4, 0, K_I, .i = -2},
    {MB_T_I64, B, {0xffff, 0xffff, 0xffff, 0xfeff}, 4, 0, K_I, .i = -2},
    {MB_T_I64, D, {0xfeff, 0xffff, 0xffff, 0xffff}, 4, 0, K_I, .i = -2},
    {MB_T_I64, A, {0xfffc, 0x7281, 0x5b39, 0x8000}, 4, 0, K_I, .i = -1000000000000000LL},
    {MB_T_I64, C, {0x8000, 0x5b39, 0x7281, 0xfffc}, 4, 0, K_I, .i = -1000000000000000LL},
    {MB_T_I64, B, {0xfcff, 0x8172, 0x395b, 0x0080}, 4, 0, K_I, .i = -1000000000000000LL},
    {MB_T_I64, D, {0x0080, 0x395b, 0x8172, 0xfcff}, 4, 0, K_I, .i = -1000000000000000LL},
    /* f32 230.5 = 0x43668000, -1.5 = 0xbfc00000 */
    {MB_T_F32, A, {0x4366, 0x8000}, 2, 0, K_D, .d = 230.5},
    {MB_T_F32, C, {0x8000, 0x4366}, 2, 0, K_D, .d = 230.5},
    {MB_T_F32, B, {0x6643, 0x0080}, 2, 0, K_D, .d = 230.5},
    {MB_T_F32, D, {0x0080, 0x6643}, 2, 0, K_D, .d = 230.5},
    {MB_T_F32, A, {0xbfc0, 0x0000}, 2, 0, K_D, .d = -1.5},
    {MB_T_F32, C, {0x0000, 0xbfc0}, 2, 0, K_D, .d = -1.5},
    {MB_T_F32, B, {0xc0bf, 0x0000}, 2, 0, K_D, .d = -1.5},
    {MB_T_F32, D, {0x0000, 0xc0bf}, 2, 0, K_D, .d = -1.5},
    {MB_T_F32, A, {0x7fc0, 0x0000}, 2, 0, K_D, .d = NAN},
    {MB_T_F32, C, {0x0000, 0x7fc0}, 2, 0, K_D, .d = NAN},
    {MB_T_F32, B, {0xc07f, 0x0000}, 2, 0, K_D, .d = NAN},
    {MB_T_F32, D, {0x0000, 0xc07f}, 2, 0, K_D, .d = NAN},
    {MB_T_F32, A, {0x7f80, 0x0000}, 2, 0, K_D, .d = INFINITY},
    {MB_T_F32, C, {0x0000, 0x7f80}, 2, 0, K_D, .d = INFINITY},
    {MB_T_F32, B, {0x807f, 0x0000}, 2, 0, K_D, .d = INFINITY},
    {MB_T_F32, D, {0x0000, 0x807f}, 2, 0, K_D, .d = INFINITY},
    {MB_T_F32, A, {0xff80, 0x0000}, 2, 0, K_D, .d = -INFINITY},
    {MB_T_F32, C, {0x0000, 0xff80}, 2, 0, K_D, .d = -INFINITY},
    {MB_T_F32, B, {0x80ff, 0x0000}, 2, 0, K_D, .d = -INFINITY},
    {MB_T_F32, D, {0x0000, 0x80ff}, 2, 0, K_D, .d = -INFINITY},
    /* f64 pi = 0x400921fb54442d18, -2.5 = 0xc004000000000000 */
    {MB_T_F64, A, {0x4009, 0x21fb, 0x5444, 0x2d18}, 4, 0, K_D, .d = 3.141592653589793},
    {MB_T_F64, C, {0x2d18, 0x5444, 0x21fb, 0x4009}, 4, 0, K_D, .d = 3.141592653589793},
    {MB_T_F64, B, {0x0940, 0xfb21, 0x4454, 0x182d}, 4, 0, K_D, .d = 3.141592653589793},
    {MB_T_F64, D, {0x182d, 0x4454, 0xfb21, 0x0940}, 4, 0, K_D, .d = 3.141592653589793},
    {MB_T_F64, A, {0xc004, 0, 0, 0}, 4, 0, K_D, .d = -2.5},
    {MB_T_F64, C, {0, 0, 0, 0xc004}, 4, 0, K_D, .d = -2.5},
    {MB_T_F64, B, {0x04c0, 0, 0, 0}, 4, 0, K_D, .d = -2.5},
    {MB_T_F64, D, {0, 0, 0, 0x04c0}, 4, 0, K_D, .d = -2.5},
    {MB_T_F64, A, {0x7ff8, 0, 0, 0}, 4, 0, K_D, .d = NAN},
    {MB_T_F64, C, {0, 0, 0, 0x7ff8}, 4, 0, K_D, .d = NAN},
    {MB_T_F64, B, {0xf87f, 0, 0, 0}, 4, 0, K_D, .d = NAN},
    {MB_T_F64, D, {0, 0, 0, 0xf87f}, 4, 0, K_D, .d = NAN},
    {MB_T_F64, A, {0x7ff0, 0, 0, 0}, 4, 0, K_D, .d = INFINITY},
    {MB_T_F64, C, {0, 0, 0, 0x7ff0}, 4, 0, K_D, .d = INFINITY},
    {MB_T_F64, B, {0xf07f, 0, 0, 0}, 4, 0, K_D, .d = INFINITY},
    {MB_T_F64, D, {0, 0, 0, 0xf07f}, 4, 0, K_D, .d = INFINITY},
    {MB_T_F64, A, {0xfff0, 0, 0, 0}, 4, 0, K_D, .d = -INFINITY},
    {MB_T_F64, C, {0, 0, 0, 0xfff0}, 4, 0, K_D, .d = -INFINITY},
    {MB_T_F64, B, {0xf0ff, 0, 0, 0}, 4, 0, K_D, .d = -INFINITY},
    {MB_T_F64, D, {0, 0, 0, 0xf0ff}, 4, 0, K_D, .d = -INFINITY},
    /* bool: register != 0 */
    {MB_T_BOOL, A, {0x0000}, 1, 0, K_B, .u = 0},
    {MB_T_BOOL, A, {0x0001}, 1, 0, K_B, .u = 1},
    {MB_T_BOOL, C, {0x8000}, 1, 0, K_B, .u = 1},
    {MB_T_BOOL, B, {0x0100}, 1, 0, K_B, .u = 1},
    {MB_T_BOOL, D, {0x0001}, 1, 0, K_B, .u = 1},
    /* bit N of the register, after the byte swap */
    {MB_T_BIT, A, {0x0001}, 1, 0, K_B, .u = 1},
    {MB_T_BIT, A, {0x0001}, 1, 8, K_B, .u = 0},
    {MB_T_BIT, C, {0x8000}, 1, 15, K_B, .u = 1},
    {MB_T_BIT, B, {0x0100}, 1, 0, K_B, .u = 1},
    {MB_T_BIT, B, {0x0001}, 1, 8, K_B, .u = 1},
    {MB_T_BIT, D, {0x0100}, 1, 0, K_B, .u = 1},
    {MB_T_BIT, D, {0x0100}, 1, 8, K_B, .u = 0},
    /* strings: "ABCD", NUL- and space-padded */
    {MB_T_STRING, A, {0x4142, 0x4344}, 2, 0, K_S, .s = "ABCD"},
    {MB_T_STRING, C, {0x4344, 0x4142}, 2, 0, K_S, .s = "ABCD"},
    {MB_T_STRING, B, {0x4241, 0x4443}, 2, 0, K_S, .s = "ABCD"},
    {MB_T_STRING, D, {0x4443, 0x4241}, 2, 0, K_S, .s = "ABCD"},
    {MB_T_STRING, A, {0x4142, 0x0000, 0x4344}, 3, 0, K_S, .s = "AB"},
    {MB_T_STRING, A, {0x4142, 0x2020}, 2, 0, K_S, .s = "AB"},
    {MB_T_STRING, B, {0x4241, 0x0043}, 2, 0, K_S, .s = "ABC"},
};

static void check_vec(const struct vec *x, int idx)
{
	struct sg_value v = {0};
	char sbuf[130];
	int rc = mb_decode(x->t, x->o, x->w, x->n, x->bit, sbuf, sizeof(sbuf), &v);

	if (rc != 0) {
		t_fail(__FILE__, __LINE__, "vector %d (%s %s): rc %d", idx, mb_type_names[x->t],
		       mb_order_names[x->o], rc);
		return;
	}
	switch (x->k) {
	case K_U:
		if (v.type != SG_VAL_UINT || v.u != x->u)
			t_fail(__FILE__, __LINE__, "vector %d (%s %s): got type %d %llu", idx,
			       mb_type_names[x->t], mb_order_names[x->o], v.type,
			       (unsigned long long)v.u);
		break;
	case K_I:
		if (v.type != SG_VAL_INT || v.i != x->i)
			t_fail(__FILE__, __LINE__, "vector %d (%s %s): got type %d %lld", idx,
			       mb_type_names[x->t], mb_order_names[x->o], v.type, (long long)v.i);
		break;
	case K_D:
		if (v.type != SG_VAL_DOUBLE || (isnan(x->d) ? !isnan(v.d) : v.d != x->d))
			t_fail(__FILE__, __LINE__, "vector %d (%s %s): got type %d %.17g", idx,
			       mb_type_names[x->t], mb_order_names[x->o], v.type, v.d);
		break;
	case K_B:
		if (v.type != SG_VAL_BOOL || v.b != (x->u != 0))
			t_fail(__FILE__, __LINE__, "vector %d (%s %s bit %d): got type %d %d", idx,
			       mb_type_names[x->t], mb_order_names[x->o], x->bit, v.type, v.b);
		break;
	case K_S:
		if (v.type != SG_VAL_STR || v.s.len != strlen(x->s) || memcmp(v.s.p, x->s, v.s.len))
			t_fail(__FILE__, __LINE__, "vector %d (string %s): got '%.*s'", idx,
			       mb_order_names[x->o], (int)v.s.len, v.s.p);
		break;
	}
}

TEST(decode_vectors)
{
	for (size_t i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++)
		check_vec(&vecs[i], (int)i);
}

/* Every (type, order) pair appears in the table at least once. */
TEST(decode_vectors_cover_every_type_and_order)
{
	for (int t = MB_T_U16; t <= MB_T_STRING; t++)
		for (int o = MB_O_ABCD; o <= MB_O_DCBA; o++) {
			int seen = 0;
			for (size_t i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++)
				seen +=
				    vecs[i].t == (enum mb_type)t && vecs[i].o == (enum mb_order)o;
			if (!seen)
				t_fail(__FILE__, __LINE__, "no vector for %s %s", mb_type_names[t],
				       mb_order_names[o]);
		}
}

/* Encoding the expected value gives back the vector's registers. */
TEST(encode_is_the_inverse)
{
	for (size_t i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++) {
		const struct vec *x = &vecs[i];
		uint16_t w[8] = {0};
		double num = x->k == K_U ? (double)x->u : x->k == K_I ? (double)x->i : x->d;

		/* Skip what a double cannot carry exactly or what decode
		 * normalises (bool from any non-zero, padded strings, NaN
		 * payloads are checked separately below). */
		if ((x->k == K_U && x->u > (1ull << 53)) || x->k == K_B ||
		    (x->k == K_S && x->n * 2 != (int)strlen(x->s)))
			continue;
		CHECK_EQ(mb_encode(x->t, x->o, num, x->s, x->bit, w, x->n), 0);
		if (memcmp(w, x->w, (size_t)x->n * 2))
			t_fail(__FILE__, __LINE__,
			       "vector %zu (%s %s): encode gave %04x %04x %04x %04x", i,
			       mb_type_names[x->t], mb_order_names[x->o], w[0], w[1], w[2], w[3]);
	}
}

TEST(encode_saturates_and_keeps_other_bits)
{
	uint16_t w[4] = {0};
	struct sg_value v;

	mb_encode(MB_T_U16, MB_O_ABCD, 70000, NULL, 0, w, 1);
	CHECK_EQ(w[0], 0xffff);
	mb_encode(MB_T_U16, MB_O_ABCD, -5, NULL, 0, w, 1);
	CHECK_EQ(w[0], 0);
	mb_encode(MB_T_I16, MB_O_ABCD, -40000, NULL, 0, w, 1);
	CHECK_EQ(w[0], 0x8000);
	mb_encode(MB_T_I32, MB_O_CDAB, 3e9, NULL, 0, w, 2);
	CHECK_EQ(w[0], 0xffff);
	CHECK_EQ(w[1], 0x7fff);
	mb_encode(MB_T_U64, MB_O_ABCD, 1e30, NULL, 0, w, 4);
	CHECK_EQ(w[0] & w[1] & w[2] & w[3], 0xffff);
	w[0] = 0x00f0;
	mb_encode(MB_T_BIT, MB_O_ABCD, 1, NULL, 0, w, 1);
	CHECK_EQ(w[0], 0x00f1);
	mb_encode(MB_T_BIT, MB_O_ABCD, 0, NULL, 4, w, 1);
	CHECK_EQ(w[0], 0x00e1);
	/* BADC: the value is 0xe100; bit 9 is bit 1 of the low wire byte */
	mb_encode(MB_T_BIT, MB_O_BADC, 1, NULL, 9, w, 1);
	CHECK_EQ(w[0], 0x00e3);
	CHECK_EQ(mb_decode(MB_T_BIT, MB_O_BADC, w, 1, 9, NULL, 0, &v), 0);
	CHECK(v.b);
}

TEST(decode_rejects_bad_arguments)
{
	uint16_t w[4] = {0};
	struct sg_value v;
	char s[4];

	CHECK(mb_decode(MB_T_U32, MB_O_ABCD, w, 1, 0, NULL, 0, &v) != 0);
	CHECK(mb_decode(MB_T_F64, MB_O_ABCD, w, 2, 0, NULL, 0, &v) != 0);
	CHECK(mb_decode(MB_T_BIT, MB_O_ABCD, w, 1, 16, NULL, 0, &v) != 0);
	CHECK(mb_decode(MB_T_STRING, MB_O_ABCD, w, 0, 0, s, sizeof(s), &v) != 0);
	CHECK(mb_decode(MB_T_STRING, MB_O_ABCD, w, 65, 0, s, sizeof(s), &v) != 0);
	/* a string longer than the buffer is cut, never overrun */
	w[0] = 0x4142;
	w[1] = 0x4344;
	CHECK_EQ(mb_decode(MB_T_STRING, MB_O_ABCD, w, 2, 0, s, sizeof(s), &v), 0);
	CHECK_STR(v.s.p, "ABC");
}

TEST(scale_offset_and_rounding)
{
	struct sg_value v = {.type = SG_VAL_UINT, .u = 24};
	double d;

	mb_scale(&v, 1, 0);
	CHECK_EQ(v.type, SG_VAL_UINT); /* identity keeps integers exact */
	mb_scale(&v, 0.1, 0);
	CHECK_EQ(v.type, SG_VAL_DOUBLE);
	CHECK(v.d == 2.4); /* not 2.4000000000000004 */
	v = (struct sg_value){.type = SG_VAL_INT, .i = -400};
	mb_scale(&v, 0.1, 273.15);
	CHECK(v.d == 233.15);
	v = (struct sg_value){.type = SG_VAL_DOUBLE, .d = NAN};
	mb_scale(&v, 2, 1);
	CHECK(isnan(v.d));
	v = (struct sg_value){.type = SG_VAL_BOOL, .b = true};
	mb_scale(&v, 10, 0);
	CHECK_EQ(v.type, SG_VAL_BOOL);
	CHECK(mb_value_num(&v, &d) && d == 1);
	v = (struct sg_value){.type = SG_VAL_STR};
	CHECK(!mb_value_num(&v, &d));
}

TEST(fits_checks_integer_ranges_after_rounding)
{
	CHECK(mb_fits(MB_T_U16, 65535.4));
	CHECK(!mb_fits(MB_T_U16, 65535.5));
	CHECK(!mb_fits(MB_T_U16, -0.6));
	CHECK(mb_fits(MB_T_U16, -0.4));
	CHECK(mb_fits(MB_T_I16, -32768));
	CHECK(!mb_fits(MB_T_I16, 32768));
	CHECK(mb_fits(MB_T_U32, 4294967295.0));
	CHECK(!mb_fits(MB_T_I32, 2147483648.0));
	CHECK(mb_fits(MB_T_I64, -9223372036854775808.0));
	CHECK(!mb_fits(MB_T_I64, 9223372036854775808.0));
	CHECK(!mb_fits(MB_T_U64, 18446744073709551616.0));
	CHECK(!mb_fits(MB_T_U16, NAN));
	CHECK(mb_fits(MB_T_F32, 1e300)); /* saturates to infinity */
	CHECK(mb_fits(MB_T_F64, NAN));
	CHECK(!mb_fits(MB_T_STRING, 0));
}
