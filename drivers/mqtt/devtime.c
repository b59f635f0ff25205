/*
 * devtime.c - the event time a device put in its message: RFC 3339
 * date-times, numbers of seconds / ms / us / ns since the epoch (or a unit
 * guessed from the magnitude), and the plausibility check behind a rule's
 * `bad_time` policy.
 *
 * Devices get time wrong in a few typical ways: no offset (Tasmota sends
 * local time unless SetOption52 is on), a clock never set (1970), a unit
 * other than the one configured (seconds vs milliseconds), a clock far in
 * the future.  Each of these is reported as one of enum mq_tfail so the
 * caller can count it and apply the rule's policy.
 */
#include <math.h>
#include <string.h>
#include <time.h>

#include "mqtt.h"

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

int mq_offset_parse(const char *s, size_t len, int32_t *sec)
{
	int oh, om;

	if (len == 1 && (s[0] == 'Z' || s[0] == 'z')) {
		*sec = 0;
		return SG_OK;
	}
	if (len != 6 || (s[0] != '+' && s[0] != '-') || digits(s + 1, 2, &oh) || s[3] != ':' ||
	    digits(s + 4, 2, &om) || oh > 23 || om > 59)
		return SG_EINVAL;
	*sec = (oh * 3600 + om * 60) * (s[0] == '+' ? 1 : -1);
	return SG_OK;
}

int mq_time_parse_off(const char *s, size_t len, const int32_t *naive_off, int64_t *ns)
{
	int y, mo, d, h, mi, sec;
	int64_t frac = 0, scale = SG_NS_PER_S, secs;
	int32_t off = 0;
	struct tm tm = {0};
	size_t i = 19;

	if (len < 19 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
	    digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
	    digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' ||
	    digits(s + 17, 2, &sec))
		return SG_EINVAL;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return SG_EINVAL;
	if (i < len && s[i] == '.') {
		if (++i >= len || s[i] < '0' || s[i] > '9')
			return SG_EINVAL;
		for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
			if (scale > 1) {
				scale /= 10;
				frac += (s[i] - '0') * scale;
			}
	}
	if (i == len) {
		if (!naive_off)
			return SG_EINVAL;
		off = *naive_off;
	} else if (mq_offset_parse(s + i, len - i, &off) != SG_OK) {
		return SG_EINVAL;
	}
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	secs = (int64_t)timegm(&tm) - off;
	/* int64 nanoseconds reach from 1677 to 2262 (found by fuzz_map). */
	if (secs < INT64_MIN / SG_NS_PER_S + 1 || secs > INT64_MAX / SG_NS_PER_S - 1)
		return SG_EINVAL;
	*ns = secs * SG_NS_PER_S + frac;
	return SG_OK;
}

int mq_time_parse(const char *s, size_t len, int64_t *ns)
{
	return mq_time_parse_off(s, len, NULL, ns);
}

/* Nanoseconds per unit; auto picks by magnitude (a seconds count stays
 * below 1e11 until the year 5138). */
static int64_t unit_scale(int unit, double mag)
{
	static const int64_t s[] = {SG_NS_PER_S, SG_NS_PER_MS, 1000, 1};

	if (unit != MQ_TU_AUTO)
		return s[unit];
	if (mag < 1e11)
		return SG_NS_PER_S;
	if (mag < 1e14)
		return SG_NS_PER_MS;
	return mag < 1e17 ? 1000 : 1;
}

int mq_time_from_num(const struct sg_value *v, int unit, int64_t *ns)
{
	int64_t scale;

	switch (v->type) {
	case SG_VAL_INT:
		scale = unit_scale(unit, (double)v->i);
		if (v->i <= 0 || v->i > INT64_MAX / scale)
			return SG_EINVAL;
		*ns = v->i * scale;
		return SG_OK;
	case SG_VAL_DOUBLE:
		scale = unit_scale(unit, v->d);
		/* Doubles lose below 1 ns anyway; 9.2e18 ns is the year 2262. */
		if (!isfinite(v->d) || v->d <= 0 || v->d * (double)scale >= 9.2e18)
			return SG_EINVAL;
		*ns = (int64_t)llround(v->d * (double)scale);
		return *ns > 0 ? SG_OK : SG_EINVAL; /* 1e-12 s rounds to 0 */
	default: return SG_EINVAL;                  /* UINT: beyond 2^63, far beyond 2262 */
	}
}

/* The JSON number grammar (RFC 8259 section 6), the whole of p[0..n). */
static bool number_syntax(const char *p, size_t n)
{
	size_t i = p[0] == '-';

	if (i < n && p[i] == '0')
		i++;
	else if (i < n && p[i] >= '1' && p[i] <= '9')
		while (i < n && p[i] >= '0' && p[i] <= '9')
			i++;
	else
		return false;
	if (i < n && p[i] == '.') {
		if (++i >= n || p[i] < '0' || p[i] > '9')
			return false;
		while (i < n && p[i] >= '0' && p[i] <= '9')
			i++;
	}
	if (i < n && (p[i] == 'e' || p[i] == 'E')) {
		if (++i < n && (p[i] == '+' || p[i] == '-'))
			i++;
		if (i >= n || p[i] < '0' || p[i] > '9')
			return false;
		while (i < n && p[i] >= '0' && p[i] <= '9')
			i++;
	}
	return i == n;
}

int mq_time_from_text(const char *p, size_t n, int unit, int64_t *ns)
{
	const char *dot = memchr(p, '.', n), *end = p + n;
	int64_t whole = 0, frac = 0, fscale = 1, scale;
	struct sg_value v;
	struct mq_jval jv = {MQ_J_NUM, p, n};

	/* Plain decimals exactly (1714564800.52 s is .52 s, not the double
	 * nearest to it); anything else through mq_json_num. */
	if (!n || !number_syntax(p, n))
		return SG_EINVAL; /* "1e", ".2false3" (found by fuzz_time) */
	if (n > 40 || p[0] == '-' || memchr(p, 'e', n) || memchr(p, 'E', n)) {
		if (mq_json_num(&jv, &v) != SG_OK)
			return SG_EINVAL;
		return mq_time_from_num(&v, unit, ns);
	}
	for (const char *q = p; q < (dot ? dot : end); q++) {
		if (*q < '0' || *q > '9' || whole > (INT64_MAX - (*q - '0')) / 10)
			return SG_EINVAL;
		whole = whole * 10 + (*q - '0');
	}
	for (const char *q = dot ? dot + 1 : end; q < end; q++) {
		if (*q < '0' || *q > '9')
			return SG_EINVAL;
		if (fscale < 1000000000000000000LL / 10) {
			frac = frac * 10 + (*q - '0');
			fscale *= 10;
		}
	}
	scale = unit_scale(unit, (double)whole);
	if (whole > INT64_MAX / scale || (!whole && !frac))
		return SG_EINVAL;
	/* frac / fscale of a unit, in ns: scale <= 1e9 and fscale <= 1e17, so
	 * split to stay in 64 bits. */
	*ns = whole * scale +
	      (int64_t)((long double)frac * (long double)scale / (long double)fscale + 0.5L);
	return *ns > 0 ? SG_OK : SG_EINVAL;
}

enum mq_tfail mq_time_check(int64_t ns, int64_t now_ns, int64_t max_future_ns)
{
	if (ns < MQ_TIME_MIN_NS)
		return MQ_TF_PAST;
	if (max_future_ns > 0 && ns > now_ns + max_future_ns)
		return MQ_TF_FUTURE;
	return MQ_TF_OK;
}

const char *mq_tfail_name(enum mq_tfail f)
{
	static const char *const names[] = {"ok", "missing", "unparsable", "future", "past"};
	return f < sizeof(names) / sizeof(names[0]) ? names[f] : "unparsable";
}
