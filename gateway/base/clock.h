/*
 * clock.h - wall and monotonic clocks in nanoseconds.
 */
#ifndef SG_CLOCK_H
#define SG_CLOCK_H

#include <stdint.h>

#define SG_NS_PER_S  1000000000LL
#define SG_NS_PER_MS 1000000LL

int64_t sg_now_ns(void);      /* CLOCK_REALTIME, ns since the epoch */
int64_t sg_now_mono_ns(void); /* CLOCK_MONOTONIC, ns */

#endif
