/*
 * backend.c - small helpers every backend shares: telling which clock a
 * uAPI v1 timestamp came from, and telling a line offset from a line name.
 */
#include "backend.h"

#include <stdlib.h>

enum gpio_clock gpio_clock_guess(int64_t ts_ns, int64_t now_mono, int64_t now_real)
{
	/* An event is at most seconds old when it is read, while the two
	 * clocks are decades apart (boot time versus 1970): the nearer one
	 * is the right one.  Kernels before 5.7 stamp v1 events with
	 * CLOCK_REALTIME, later ones with CLOCK_MONOTONIC. */
	int64_t dm = ts_ns - now_mono, dr = ts_ns - now_real;

	if (dm < 0)
		dm = -dm;
	if (dr < 0)
		dr = -dr;
	return dr < dm ? GPIO_CLOCK_REALTIME : GPIO_CLOCK_MONOTONIC;
}

bool gpio_parse_offset(const char *s, unsigned *offset)
{
	unsigned long v = 0;

	if (!s || !*s)
		return false;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return false;
		v = v * 10 + (unsigned long)(*p - '0');
		if (v > 65535)
			return false;
	}
	*offset = (unsigned)v;
	return true;
}

#if !defined(SG_GPIOD_MAJOR) || ((SG_GPIOD_MAJOR + 0) != 1 && (SG_GPIOD_MAJOR + 0) != 2)
/* Built without libgpiod: real chips report that, `chip: sim` works. */
static int none_chip_open(const char *chip, struct gpio_chip **out, struct sg_errbuf *eb)
{
	(void)out;
	return sg_errf(eb, SG_EDRIVER,
		       "cannot open GPIO chip '%s': sensorgate was built without libgpiod", chip);
}

const struct gpio_backend gpio_backend_real = {
    .name = "none",
    .chip_open = none_chip_open,
};
#endif
