/*
 * gpio.h - the gpio driver's configuration (parsed by the core from the
 * key tables in conf.c) and the mapping from it to backend requests and
 * line state machines.  Internal to drivers/gpio/.
 */
#ifndef SG_GPIO_H
#define SG_GPIO_H

#include <stdbool.h>
#include <stdint.h>

#include "gateway/config/table.h"
#include "backend.h"
#include "line.h"

enum gpio_conf_edge { GPIO_CE_AUTO, GPIO_CE_RISING, GPIO_CE_FALLING, GPIO_CE_BOTH };
enum gpio_conf_debounce_by { GPIO_DB_AUTO, GPIO_DB_KERNEL, GPIO_DB_SOFTWARE };
enum gpio_conf_clock { GPIO_CC_MONOTONIC, GPIO_CC_REALTIME };

struct gpio_line_conf {
	char *id;      /* sensor id; the write() target of an output */
	char *line;    /* offset ("17") or line name ("GPIO17") */
	int direction; /* enum gpio_dir */
	int mode;      /* enum gpio_mode */
	int edge;      /* enum gpio_conf_edge */
	int bias;      /* enum gpio_bias */
	bool active_low;
	int64_t debounce_ms;
	int debounce_by; /* enum gpio_conf_debounce_by */
	int64_t interval_ms;
	bool emit_initial;
	double scale;
	char *unit;
	bool initial; /* outputs */
	/* chip: sim */
	char *pattern;
	int64_t bounce_ms;
	int64_t bounce_edges;
};

struct gpio_conf {
	char *chip;
	char *consumer;
	int event_clock; /* enum gpio_conf_clock */
	int64_t queue_depth;
	int64_t seed;
	struct sg_cfg_list lines; /* of struct gpio_line_conf */
};

extern const struct sg_cfg_table gpio_table;
/* Tests only: when set, sources initialised afterwards use this backend
 * whatever their `chip` says.  NULL in the gateway. */
extern const struct gpio_backend *gpio_backend_override;

bool gpio_conf_is_sim(const struct gpio_conf *c);
/* The backend request and the state-machine config for line lc, given
 * whether the backend can debounce in the kernel (uAPI v2). */
void gpio_conf_request(const struct gpio_conf *c, const struct gpio_line_conf *lc,
		       bool kernel_debounce_ok, struct gpio_line_cfg *req,
		       struct gpio_lsm_cfg *lsm);

#endif
