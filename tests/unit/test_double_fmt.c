/*
 * test_double_fmt.c - the envelope's doubles: sg_fmt_double_fixed(), the
 * printf-free path, writes byte for byte what the printf path writes (the
 * first of "%.15g".."%.17g" that reads back), over some millions of
 * values: sensor-like decimals, random doubles of every magnitude, floats
 * widened to double, neighbours one ulp away, integers up to 2^53 and the
 * edges of the fast path's range.  And it does take the fast path for
 * every reading it is meant for (up to 15 significant digits, 8 decimals,
 * 1e-4 <= |d| < 1e15), so a fast path that declines everything fails too.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/core/event.h"
#include "t.h"

/* The printf path, as the envelope wrote every double before the fast
 * path existed. */
static size_t ref_fmt(char out[SG_FMT_DOUBLE_MAX], double d)
{
	char tmp[40];
	size_t n;

	for (int prec = 15; prec <= 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*g", prec, d);
		if (strtod(tmp, NULL) == d)
			break;
	}
	n = strlen(tmp);
	memcpy(out, tmp, n);
	return n;
}

static long nfast, nchecked, nbad;

/* Compare both paths on d; true if the fast path took it. */
static int check(double d)
{
	char f[SG_FMT_DOUBLE_MAX], r[SG_FMT_DOUBLE_MAX], all[SG_FMT_DOUBLE_MAX];
	size_t fn = sg_fmt_double_fixed(f, d), rn, an;

	nchecked++;
	if (!fn) {
		an = sg_fmt_double(all, d);
		rn = ref_fmt(r, d);
		if (an != rn || memcmp(all, r, rn)) {
			if (nbad++ < 10)
				t_fail(__FILE__, __LINE__,
				       "%a: sg_fmt_double \"%.*s\", printf \"%.*s\"", d, (int)an,
				       all, (int)rn, r);
		}
		return 0;
	}
	nfast++;
	rn = ref_fmt(r, d);
	if (fn != rn || memcmp(f, r, rn)) {
		if (nbad++ < 10)
			t_fail(__FILE__, __LINE__, "%a (%.17g): fast \"%.*s\", printf \"%.*s\"", d,
			       d, (int)fn, f, (int)rn, r);
	}
	an = sg_fmt_double(all, d);
	if (an != fn || memcmp(all, f, fn)) {
		if (nbad++ < 10)
			t_fail(__FILE__, __LINE__, "%a: sg_fmt_double differs from its fast path",
			       d);
	}
	return 1;
}

/* xorshift64*: the same values on every run. */
static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t next(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dULL;
}

static const double p10[] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
			     1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};

static void reset(void)
{
	nfast = nchecked = nbad = 0;
}

/* Readings as drivers make them: an integer of 1..15 digits scaled by
 * 10^-k (a decimal register, a rounded sine), both signs.  Every one in
 * the fast path's range must take it. */
TEST(sensor_decimals_take_the_fast_path)
{
	long expect = 0;

	reset();
	for (long i = 0; i < 1200000; i++) {
		int digits = 1 + (int)(next() % 15), k = (int)(next() % 11);
		uint64_t m = next() % (uint64_t)p10[digits];
		double d = (double)m / p10[k];

		if (next() & 1)
			d = -d;
		/* In range: m < 10^15, k <= 8, and D = m / 10^k >= 1e-4. */
		if (m && k <= 8 && (double)m >= p10[k] / 1e4) {
			expect++;
			if (!check(d) && nbad++ < 10)
				t_fail(__FILE__, __LINE__,
				       "%.17g (m %llu, k %d) missed the fast path", d,
				       (unsigned long long)m, k);
		} else {
			check(d);
		}
	}
	CHECK_EQ(nbad, 0);
	CHECK(expect > 900000);
	CHECK(nfast >= expect);
}

/* Random bit patterns with exponents from 1e-6 to 1e17: mostly 17 digits,
 * which the fast path must decline (or print exactly). */
TEST(random_doubles_of_every_magnitude)
{
	reset();
	for (long i = 0; i < 600000; i++) {
		uint64_t bits = next();
		int e = -20 + (int)(next() % 78); /* 2^-20 .. 2^57 */
		double d = ldexp(1.0 + (double)(bits >> 12) / 4503599627370496.0, e);

		check(bits & 1 ? -d : d);
		/* short mantissas: 1..40 significant bits, often fewer digits */
		check(ldexp((double)(bits >> (24 + next() % 40)), e - 20));
	}
	CHECK_EQ(nbad, 0);
	CHECK(nfast > 1000);
}

/* Float registers widened to double (Modbus float32), and every reading's
 * neighbours one and two ulps away. */
TEST(floats_and_neighbours)
{
	reset();
	for (long i = 0; i < 200000; i++) {
		float f = (float)((double)(next() % 2000000) / 1000 - 1000);
		double d = (double)(next() % 100000000) / p10[next() % 9];

		check((double)f);
		check(d);
		check(nextafter(d, 0));
		check(nextafter(d, INFINITY));
		check(nextafter(nextafter(d, INFINITY), INFINITY));
	}
	CHECK_EQ(nbad, 0);
	CHECK(nfast > 200000);
}

/* Integers up to and past 2^53 and 10^15. */
TEST(integers)
{
	reset();
	for (long i = 0; i < 200000; i++) {
		uint64_t m = next() >> (10 + next() % 54);

		check((double)m);
		check(-(double)m);
	}
	for (uint64_t m = 999999999999000ULL; m < 1000000000001000ULL; m++)
		check((double)m);
	CHECK_EQ(nbad, 0);
	CHECK(nfast > 100000);
}

/* The edges: zero and -0.0, 1e-4 and 1e15 and their neighbours, 2^53,
 * 8 and 9 decimals, the extremes of the double range. */
TEST(edges)
{
	static const double fixed[] = {
	    0.0,
	    -0.0,
	    1e-4,
	    -1e-4,
	    1.5e-4,
	    9.9999999e-5,
	    0.00012345678,
	    0.000123456789,
	    1e15,
	    -1e15,
	    1e14,
	    999999999999999.0,
	    99999999999999.9,
	    123456789012345.6,
	    9007199254740992.0,
	    9007199254740993.0,
	    0.1,
	    0.2,
	    0.1 + 0.2,
	    1.0 / 3,
	    2.0 / 3,
	    100,
	    1e8,
	    12345678.12345678,
	    0.12345678,
	    0.123456789,
	    21.5,
	    -40.25,
	    1e-5,
	    5e-324,
	    DBL_MIN,
	    DBL_MAX,
	    -DBL_MAX,
	    1e16,
	    1e21,
	    1e22,
	    4.35,
	    0.3,
	    2.675,
	    1.005,
	    1e-3,
	    123.456,
	};
	char f[SG_FMT_DOUBLE_MAX];
	double d;

	reset();
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		d = fixed[i];
		for (int j = 0; j < 40; j++)
			d = nextafter(d, -INFINITY);
		for (int j = 0; j < 80; j++) {
			check(d);
			check(-d);
			d = nextafter(d, INFINITY);
		}
	}
	CHECK_EQ(nbad, 0);
	CHECK_EQ(sg_fmt_double_fixed(f, -0.0), 2);
	CHECK(!memcmp(f, "-0", 2));
	CHECK_EQ(sg_fmt_double_fixed(f, 0.0), 1);
	CHECK_EQ(sg_fmt_double_fixed(f, 1e-4), 6);
	CHECK(!memcmp(f, "0.0001", 6));
	CHECK_EQ(sg_fmt_double_fixed(f, -21.5), 5);
	CHECK(!memcmp(f, "-21.5", 5));
	CHECK_EQ(sg_fmt_double_fixed(f, 1e14), 15);
	CHECK_EQ(sg_fmt_double_fixed(f, 1e15), 0);      /* %g: 1e+15 */
	CHECK_EQ(sg_fmt_double_fixed(f, 1e-5), 0);      /* %g: 1e-05 */
	CHECK_EQ(sg_fmt_double_fixed(f, 0.1 + 0.2), 0); /* 17 digits */
}

/* Integers are written without printf, two digits at a time: every
 * digit count, at both ends of it, reads as printf's %llu. */
TEST(u64_matches_printf_at_every_digit_count)
{
	char got[21], want[32];
	uint64_t p = 1;

	for (int k = 0; k < 20; k++, p *= 10) {
		uint64_t v[] = {p - 1, p, p + 1, p * 5 + 7};
		for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
			size_t n = sg_fmt_u64(got, v[i]);
			got[n] = '\0';
			snprintf(want, sizeof(want), "%llu", (unsigned long long)v[i]);
			CHECK_STR(got, want);
		}
	}
	snprintf(want, sizeof(want), "%llu", 18446744073709551615ULL);
	got[sg_fmt_u64(got, 18446744073709551615ULL)] = '\0';
	CHECK_STR(got, want);
}
