/*
 * clock.c - the two clocks: wall time for event times, monotonic time for deadlines.
 */
#include "clock.h"

#include <time.h>

int64_t sg_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * SG_NS_PER_S + ts.tv_nsec;
}

int64_t sg_now_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * SG_NS_PER_S + ts.tv_nsec;
}
