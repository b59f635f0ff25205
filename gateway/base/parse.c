/*
 * parse.c - strict parsers for numbers, booleans, durations and sizes: the whole string must be
 * consumed.
 */
#include "parse.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"

int sg_parse_i64(const char *s, int64_t *out)
{
	char *end;
	long long v;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtoll(s, &end, 0);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

int sg_parse_double(const char *s, double *out)
{
	char *end;
	double v;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || !isfinite(v))
		return -1;
	*out = v;
	return 0;
}

int sg_parse_bool(const char *s, bool *out)
{
	if (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on")) {
		*out = true;
		return 0;
	}
	if (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off")) {
		*out = false;
		return 0;
	}
	return -1;
}

static int parse_scaled(const char *s, const char *const *units, const double *mult, size_t nunits,
			int64_t *out)
{
	char *end;
	double v;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || !isfinite(v) || v < 0)
		return -1;
	while (*end == ' ')
		end++;
	for (size_t i = 0; i < nunits; i++) {
		if (strcmp(end, units[i]) == 0) {
			v *= mult[i];
			if (v > 9.2e18)
				return -1;
			*out = (int64_t)llround(v);
			return 0;
		}
	}
	return -1;
}

int sg_parse_duration_ms(const char *s, int64_t *out)
{
	static const char *const u[] = {"", "ms", "s", "m", "h"};
	static const double m[] = {1, 1, 1000, 60000, 3600000};
	return parse_scaled(s, u, m, SG_ARRAY_LEN(u), out);
}

int sg_parse_size(const char *s, int64_t *out)
{
	static const char *const u[] = {"",  "B",  "k",   "K", "KB", "KiB",
					"M", "MB", "MiB", "G", "GB", "GiB"};
	static const double m[] = {
	    1,       1,       1024,    1024,         1024,         1024,
	    1048576, 1048576, 1048576, 1073741824.0, 1073741824.0, 1073741824.0};
	return parse_scaled(s, u, m, SG_ARRAY_LEN(u), out);
}
