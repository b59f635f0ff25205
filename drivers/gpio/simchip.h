/*
 * simchip.h - the level patterns of the simulated chip, shared by the
 * simulator (simchip.c) and the config check that validates them.
 *
 *   "1000ms high, 500ms low"   segments played in a loop
 *   "random 2s"                toggles at random, mean 2 s apart
 */
#ifndef SG_GPIO_SIM_H
#define SG_GPIO_SIM_H

#include <stdbool.h>
#include <stdint.h>

#include "gateway/base/err.h"

#define GPIO_SIM_MAX_SEGS   16
#define GPIO_SIM_MAX_BOUNCE 16 /* bounce edge pairs per transition */

struct gpio_sim_pattern {
	bool random;
	int64_t mean_ns;
	struct {
		int64_t dur_ns;
		int level; /* physical */
	} seg[GPIO_SIM_MAX_SEGS];
	int nseg;
};

/* Parse text (NULL or "" = "1s high, 1s low"); SG_EINVAL with a message. */
int gpio_sim_pattern_parse(const char *text, struct gpio_sim_pattern *p, struct sg_errbuf *eb);

#endif
