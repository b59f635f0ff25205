/*
 * event_json.c - the JSON envelope v1 (docs/events.md), written from a
 * decoded spool record when it leaves the spool.
 *
 * Numbers are printed in the shortest form that reads back to the same
 * double; non-finite doubles (JSON has none) become the strings "NaN",
 * "Infinity" and "-Infinity".  Text is escaped, invalid UTF-8 replaced by
 * U+FFFD; bytes are base64.  Integers, the RFC 3339 time and doubles with
 * up to 8 decimals (sensor readings) are written digit by digit, without
 * printf: this runs once per record on the producer's thread.
 */
#include "event.h"

#include <assert.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "00" "01" ... "99": two digits per division. */
static const char digits2[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233"
    "34353637383940414243444546474849505152535455565758596061626364656667"
    "6869707172737475767778798081828384858687888990919293949596979899";

/* The decimal digits of v (v < 10^width) in out[0..width), from the last. */
static inline void put_digits(char *out, uint64_t v, size_t width)
{
	char *p = out + width;

	while (p - out >= 2) {
		p -= 2;
		memcpy(p, digits2 + 2 * (v % 100), 2);
		v /= 100;
	}
	if (p > out)
		*--p = (char)('0' + v);
}

size_t sg_fmt_u64(char out[20], uint64_t v)
{
	static const uint64_t p10[20] = {1ULL,
					 10ULL,
					 100ULL,
					 1000ULL,
					 10000ULL,
					 100000ULL,
					 1000000ULL,
					 10000000ULL,
					 100000000ULL,
					 1000000000ULL,
					 10000000000ULL,
					 100000000000ULL,
					 1000000000000ULL,
					 10000000000000ULL,
					 100000000000000ULL,
					 1000000000000000ULL,
					 10000000000000000ULL,
					 100000000000000000ULL,
					 1000000000000000000ULL,
					 10000000000000000000ULL};
	/* floor(log10(2^bits)) by 1233/4096 ~ log10(2), then one compare. */
	unsigned t = (unsigned)(64 - __builtin_clzll(v | 1)) * 1233 >> 12;
	size_t n = t + (v >= p10[t]);

	n += !n; /* v == 0 */
	put_digits(out, v, n);
	return n;
}

/*
 * The fast path of sg_fmt_double(): |d| printed in fixed notation from an
 * integer m and a count k of decimals, without printf.
 *
 * We look for the decimal D = m * 10^-k (k = 0..FIXED_MAX_K, |m| < 10^15)
 * that reads back as d, i.e. (double)m / 10^k == d: m < 2^53 and 10^k
 * (k <= 22) are exact doubles and IEEE division rounds correctly, so the
 * quotient is the double nearest to the real D.  Such a D is what
 * "%.15g" prints, byte for byte, when 1e-4 <= |D| (checked on m and k):
 *   - D has at most 15 significant digits and d is within half an ulp of
 *     D, at most 2^-53 |d|, while 15-digit decimals of d's decade lie at
 *     least 10^-15 |d| apart (the DBL_DIG property), so D is the rounding
 *     of d to 15 digits (also when D is a power of ten and d just below
 *     it: the grid of d's decade holds D and is no coarser).  It is
 *     unique, whichever k found it, and strtod(D) == d, so the loop of
 *     sg_fmt_double() stops at precision 15.
 *   - %g's exponent X is that of D: -4 <= X < 15 (|D| < 10^15), so it
 *     prints fixed notation with 14 - X decimals, at least the k of D
 *     once m has no trailing zero, then removes trailing zeros and a
 *     bare point: the integer part (or "0"), and the k digits when k > 0.
 *   - A negative d prints "-", as for the positive |d| the same digits.
 * The candidate m is |d| * 10^k rounded; any rounding error in it only
 * makes the check fail and k grow, never a wrong text.  Zero is "0" or
 * "-0" (%g of -0.0).  Excess precision (x87, FLT_EVAL_METHOD != 0) would
 * break the exact division: there, every double takes the printf path.
 */
#define FIXED_MAX_K 8

size_t sg_fmt_double_fixed(char out[SG_FMT_DOUBLE_MAX], double d)
{
#if FLT_EVAL_METHOD == 0
	static const double p10[FIXED_MAX_K + 1] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8};
	static const uint64_t min_m[FIXED_MAX_K + 1] = {1, 1, 1, 1, 1, 10, 100, 1000, 10000};
	double a = fabs(d);
	char dig[20];
	size_t n = 0, nd;

	if (signbit(d))
		out[n++] = '-';
	if (a == 0) {
		out[n++] = '0';
		return n;
	}
	if (!(a >= 1e-4 && a < 1e15))
		return 0;
	for (int k = 0; k <= FIXED_MAX_K; k++) {
		double x = a * p10[k];
		uint64_t m;

		if (x >= 1e15)
			return 0;
		m = (uint64_t)(x + 0.5);
		if (m >= 1000000000000000ULL)
			return 0;
		if ((double)m / p10[k] != a)
			continue;
		if (m < min_m[k]) /* D < 1e-4: %g prints an exponent */
			return 0;
		while (k > 0 && m % 10 == 0) {
			m /= 10;
			k--;
		}
		nd = sg_fmt_u64(dig, m);
		if (nd <= (size_t)k) { /* 0.00ddd */
			out[n++] = '0';
			out[n++] = '.';
			memset(out + n, '0', (size_t)k - nd);
			n += (size_t)k - nd;
			memcpy(out + n, dig, nd);
			return n + nd;
		}
		memcpy(out + n, dig, nd - (size_t)k);
		n += nd - (size_t)k;
		if (k > 0) {
			out[n++] = '.';
			memcpy(out + n, dig + nd - (size_t)k, (size_t)k);
			n += (size_t)k;
		}
		return n;
	}
#else
	(void)out;
	(void)d;
#endif
	return 0;
}

size_t sg_fmt_double(char out[SG_FMT_DOUBLE_MAX], double d)
{
	size_t n = sg_fmt_double_fixed(out, d);
	char tmp[40];

	if (n)
		return n;
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*g", prec, d);
		if (strtod(tmp, NULL) == d)
			break;
	}
	n = strlen(tmp);
	memcpy(out, tmp, n);
	return n;
}

/*
 * The envelope is written with a cursor into room reserved once for the
 * whole record (json_bound()): no bound check per piece.  PUT_LIT copies
 * a literal of known size, which the compiler turns into a few moves.
 */
#define PUT_LIT(o, s) (memcpy((o), (s), sizeof(s) - 1), (o) + sizeof(s) - 1)

static inline char *put(char *o, const void *p, size_t n)
{
	memcpy(o, p, n);
	return o + n;
}

static char *put_double(char *o, double d)
{
	if (isnan(d))
		return PUT_LIT(o, "\"NaN\"");
	if (isinf(d))
		return d > 0 ? PUT_LIT(o, "\"Infinity\"") : PUT_LIT(o, "\"-Infinity\"");
	/* Keep it a JSON number: "1e+20" is fine, "inf" cannot occur. */
	return o + sg_fmt_double(o, d);
}

static char *put_i64(char *o, int64_t v)
{
	if (v < 0) {
		*o++ = '-';
		return o + sg_fmt_u64(o, (uint64_t)0 - (uint64_t)v);
	}
	return o + sg_fmt_u64(o, (uint64_t)v);
}

#define BASE64_MAX(n) (((size_t)(n) + 2) / 3 * 4 + 2)

static char *put_base64(char *o, const uint8_t *p, size_t n)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	*o++ = '"';
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		o[0] = tab[v >> 18];
		o[1] = tab[(v >> 12) & 63];
		o[2] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		o[3] = i + 2 < n ? tab[v & 63] : '=';
		o += 4;
	}
	*o++ = '"';
	return o;
}

/* The proleptic Gregorian date of day z since 1970-01-01 (the algorithm
 * of H. Hinnant's "chrono-compatible low-level date algorithms"). */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;

	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* "YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ" in UTC, quoted (32 bytes).  Every
 * int64 ns falls in the years 1677..2262, so the year always has four
 * digits. */
#define TIME_LEN 32
static char *put_time(char *t, int64_t ns)
{
	int64_t s = ns / SG_NS_PER_S, frac = ns % SG_NS_PER_S, days, secs, y;
	unsigned mo, d;

	if (frac < 0) {
		frac += SG_NS_PER_S;
		s--;
	}
	days = s >= 0 ? s / 86400 : (s - 86399) / 86400;
	secs = s - days * 86400;
	civil_from_days(days, &y, &mo, &d);
	t[0] = '"';
	put_digits(t + 1, (unsigned)y, 4);
	t[5] = '-';
	put_digits(t + 6, mo, 2);
	t[8] = '-';
	put_digits(t + 9, d, 2);
	t[11] = 'T';
	put_digits(t + 12, (unsigned)(secs / 3600), 2);
	t[14] = ':';
	put_digits(t + 15, (unsigned)(secs / 60 % 60), 2);
	t[17] = ':';
	put_digits(t + 18, (unsigned)(secs % 60), 2);
	t[20] = '.';
	put_digits(t + 21, (unsigned)frac, 9);
	t[30] = 'Z';
	t[31] = '"';
	return t + TIME_LEN;
}

static char *put_value(char *o, const struct sg_value *v)
{
	o = PUT_LIT(o, ",\"value\":");
	switch (v->type) {
	case SG_VAL_NONE: o = PUT_LIT(o, "null"); break;
	case SG_VAL_DOUBLE: o = put_double(o, v->d); break;
	case SG_VAL_INT: o = put_i64(o, v->i); break;
	case SG_VAL_UINT: o += sg_fmt_u64(o, v->u); break;
	case SG_VAL_BOOL: o = v->b ? PUT_LIT(o, "true") : PUT_LIT(o, "false"); break;
	case SG_VAL_STR: o = sg_json_put_str(o, v->s.p, v->s.len); break;
	case SG_VAL_BYTES: o = put_base64(o, (const uint8_t *)v->s.p, v->s.len); break;
	}
	switch (v->type) {
	case SG_VAL_NONE: return PUT_LIT(o, ",\"type\":\"none\"");
	case SG_VAL_DOUBLE: return PUT_LIT(o, ",\"type\":\"double\"");
	case SG_VAL_INT: return PUT_LIT(o, ",\"type\":\"int\"");
	case SG_VAL_UINT: return PUT_LIT(o, ",\"type\":\"uint\"");
	case SG_VAL_BOOL: return PUT_LIT(o, ",\"type\":\"bool\"");
	case SG_VAL_STR: return PUT_LIT(o, ",\"type\":\"string\"");
	case SG_VAL_BYTES: return PUT_LIT(o, ",\"type\":\"bytes\"");
	}
	return o;
}

/* lit (a literal ending in ':'), then s as a JSON string. */
#define PUT_FIELD(o, lit, s, n) sg_json_put_str(PUT_LIT((o), lit), (s), (n))

static char *put_attrs(char *o, const struct sg_event_view *ev)
{
	size_t pos = 0, kl, vl;
	const char *k, *v;

	o = PUT_LIT(o, ",\"attrs\":{");
	for (bool first = true; sg_event_attr_next(ev, &pos, &k, &kl, &v, &vl); first = false) {
		if (!first)
			*o++ = ',';
		o = sg_json_put_str(o, k, kl);
		*o++ = ':';
		o = sg_json_put_str(o, v, vl);
	}
	*o++ = '}';
	return o;
}

/* The most sg_event_json_record() writes for r: every literal (under
 * 256 bytes together), the numbers at their widest, every string at six
 * bytes a byte; the attrs' key and value bytes lie within their encoded
 * block, each pair adding quotes, ':' and ','. */
static size_t json_bound(const struct sg_record *r, size_t seq_len)
{
	const struct sg_event_view *ev = &r->ev;
	size_t n = 256 + 2 * seq_len + TIME_LEN + 21 + SG_FMT_DOUBLE_MAX;

	n += SG_JSON_STR_MAX(r->gateway_len) * 2 + SG_JSON_STR_MAX(r->source_len) +
	     SG_JSON_STR_MAX(ev->sensor_len);
	if (r->epoch)
		n += SG_JSON_STR_MAX(r->epoch_len);
	if (ev->unit)
		n += SG_JSON_STR_MAX(ev->unit_len);
	if (ev->reason)
		n += SG_JSON_STR_MAX(ev->reason_len);
	if (ev->value.type == SG_VAL_STR)
		n += SG_JSON_STR_MAX(ev->value.s.len);
	else if (ev->value.type == SG_VAL_BYTES)
		n += BASE64_MAX(ev->value.s.len);
	if (ev->nattrs)
		n += 6 * ev->attrs_len + 6 * (size_t)ev->nattrs;
	return n;
}

void sg_event_json_record(struct sg_buf *b, const struct sg_record *r, const char *seq,
			  size_t seq_len)
{
	const struct sg_event_view *ev = &r->ev;
	size_t bound = json_bound(r, seq_len), start = b->len;
	char *o;

	if (!sg_buf_reserve(b, bound))
		return;
	o = b->p + start;
	/* The id "<gateway>:<seq>" as one JSON string: the gateway escaped,
	 * then ':' and digits, which never need escaping. */
	o = PUT_FIELD(o, "{\"v\":1,\"id\":", r->gateway, r->gateway_len) - 1;
	*o++ = ':';
	o = put(o, seq, seq_len);
	o = PUT_LIT(o, "\",\"seq\":");
	o = put(o, seq, seq_len);
	if (r->epoch)
		o = PUT_FIELD(o, ",\"epoch\":", r->epoch, r->epoch_len);
	o = PUT_FIELD(o, ",\"gateway\":", r->gateway, r->gateway_len);
	o = PUT_FIELD(o, ",\"source\":", r->source, r->source_len);
	o = PUT_FIELD(o, ",\"sensor\":", ev->sensor, ev->sensor_len);
	o = put_time(PUT_LIT(o, ",\"time\":"), r->ts_ns);
	o = put_i64(PUT_LIT(o, ",\"time_ns\":"), r->ts_ns);
	o = put_value(o, &ev->value);
	if (ev->unit)
		o = PUT_FIELD(o, ",\"unit\":", ev->unit, ev->unit_len);
	switch (ev->quality) {
	case SG_Q_GOOD: o = PUT_LIT(o, ",\"quality\":\"good\""); break;
	case SG_Q_UNCERTAIN: o = PUT_LIT(o, ",\"quality\":\"uncertain\""); break;
	default: o = PUT_LIT(o, ",\"quality\":\"bad\""); break;
	}
	if (ev->reason)
		o = PUT_FIELD(o, ",\"reason\":", ev->reason, ev->reason_len);
	if (ev->nattrs)
		o = put_attrs(o, ev);
	*o++ = '}';
	b->len = (size_t)(o - b->p);
	assert(b->len - start <= bound);
	b->p[b->len] = '\0';
}

void sg_event_json(const struct sg_event_ctx *ec, const struct sg_reading *rd, uint64_t seq,
		   int64_t ts_ns, struct sg_buf *out)
{
	struct sg_reading at = *rd;
	struct sg_record r;
	struct sg_buf enc;
	char d[20];

	at.ts_ns = ts_ns;
	at.raw = false;
	sg_buf_init(&enc);
	if (sg_event_encode(ec, &at, &enc) == SG_OK &&
	    sg_record_decode(enc.p, enc.len, &r) == SG_OK) {
		r.ts_ns = ts_ns; /* as given, also 0 */
		sg_event_json_record(out, &r, d, sg_fmt_u64(d, seq));
	} else
		out->oom = true;
	sg_buf_free(&enc);
}
