/*
 * conf.c - the gpio driver's config keys (one table per level, the single
 * source of docs/config.md for them), their cross-key checks, and the
 * mapping from a configured line to a backend request plus a line state
 * machine: which edges to ask the kernel for, who debounces, what to emit.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "gateway/base/buf.h"
#include "gateway/base/clock.h"
#include "gateway/base/mem.h"
#include "drivers/driver.h"
#include "gpio.h"
#include "simchip.h"

#define GPIO_MAX_LINES SG_WAIT_MAX_FDS /* one fd per line at most */

static const char *const dir_words[] = {"input", "output", NULL};
static const char *const mode_words[] = {"edge", "sample", "count", NULL};
static const char *const edge_words[] = {"auto", "rising", "falling", "both", NULL};
static const char *const bias_words[] = {"as_is", "disabled", "pull_up", "pull_down", NULL};
static const char *const dbby_words[] = {"auto", "kernel", "software", NULL};
static const char *const clock_words[] = {"monotonic", "realtime", NULL};

static int gpio_line_check(struct sg_cfg_ctx *ctx, void *obj, const struct sg_cfg_pos *pos,
			   const char *path)
{
	struct gpio_line_conf *l = obj;
	struct gpio_sim_pattern pat;
	struct sg_errbuf eb;
	int rc = SG_OK;

	if (l->direction == GPIO_DIR_OUTPUT &&
	    (l->pattern || l->mode != GPIO_MODE_EDGE || l->debounce_ms)) {
		sg_cfg_error(
		    ctx, pos, path,
		    "line '%s' is an output: mode, debounce and pattern apply to inputs only",
		    l->id);
		rc = SG_ECONFIG;
	}
	if (l->mode == GPIO_MODE_SAMPLE && l->debounce_ms) {
		sg_cfg_error(
		    ctx, pos, path,
		    "line '%s': debounce applies to edges (mode edge or count), not to sampling",
		    l->id);
		rc = SG_ECONFIG;
	}
	if (l->pattern && gpio_sim_pattern_parse(l->pattern, &pat, &eb) != SG_OK) {
		sg_cfg_error(ctx, pos, path, "line '%s': %s", l->id, eb.msg);
		rc = SG_ECONFIG;
	}
	return rc;
}

#define LK(f) offsetof(struct gpio_line_conf, f)
static const struct sg_cfg_key gpio_line_keys[] = {
    {"id", SG_CFG_STR, LK(id), NULL, 1, 0, NULL, NULL, SG_CFG_REQUIRED,
     "Sensor id: the Kafka key of this line's events, and the `write` target of an output."},
    {"line", SG_CFG_STR, LK(line), NULL, 1, 0, NULL, NULL, SG_CFG_REQUIRED,
     "The line: an offset on the chip (`17`) or a line name (`GPIO17`)."},
    {"direction", SG_CFG_ENUM, LK(direction), "input", 1, 0, dir_words, NULL, 0,
     "`input` (read) or `output` (set through the driver's write, e.g. by a sink)."},
    {"mode", SG_CFG_ENUM, LK(mode), "edge", 1, 0, mode_words, NULL, 0,
     "Inputs: `edge` emits each (debounced) edge with its kernel timestamp; `sample` reads the "
     "level every `interval`; `count` emits the number of edges per `interval` (flow and energy "
     "meters)."},
    {"edge", SG_CFG_ENUM, LK(edge), "auto", 1, 0, edge_words, NULL, 0,
     "Which edges to emit or count: `rising`, `falling`, `both`; `auto` is both for `edge`, rising "
     "for `count`."},
    {"bias", SG_CFG_ENUM, LK(bias), "as_is", 1, 0, bias_words, NULL, 0,
     "Internal resistor: `pull_up`, `pull_down`, `disabled`, or `as_is` (leave it)."},
    {"active_low", SG_CFG_BOOL, LK(active_low), "false", 1, 0, NULL, NULL, 0,
     "The line is active when low (a button to ground with a pull-up): values and edges are "
     "inverted."},
    {"debounce", SG_CFG_DURATION, LK(debounce_ms), "0", 0, 10000, NULL, NULL, 0,
     "Accept a change of level only after the line has been stable this long (0 = off)."},
    {"debounce_by", SG_CFG_ENUM, LK(debounce_by), "auto", 1, 0, dbby_words, NULL, 0,
     "Who debounces: `kernel` (libgpiod 2 only), `software` (from the kernel timestamps), `auto` "
     "(kernel where available)."},
    {"interval", SG_CFG_DURATION, LK(interval_ms), "1s", 1, 86400000, NULL, NULL, 0,
     "Sampling period (`sample`) or counting window (`count`)."},
    {"emit_initial", SG_CFG_BOOL, LK(emit_initial), "true", 1, 0, NULL, NULL, 0,
     "`edge` mode: emit the level found at start (attribute `initial`)."},
    {"scale", SG_CFG_DOUBLE, LK(scale), "1", -1e12, 1e12, NULL, NULL, 0,
     "`count` mode: value = count x scale (e.g. litres per pulse); 1 emits the plain count."},
    {"unit", SG_CFG_STR, LK(unit), NULL, 1, 0, NULL, NULL, 0, "Unit of the value (free text)."},
    {"initial", SG_CFG_BOOL, LK(initial), "false", 1, 0, NULL, NULL, 0,
     "Outputs: the (logical) value set when the line is requested."},
    {"pattern", SG_CFG_STR, LK(pattern), NULL, 1, 0, NULL, NULL, 0,
     "`chip: sim` only: the simulated level, `1000ms high, 500ms low` (cycled) or `random 2s` "
     "(toggles, mean 2 s apart). Default `1s high, 1s low`."},
    {"bounce", SG_CFG_DURATION, LK(bounce_ms), "0", 0, 1000, NULL, NULL, 0,
     "`chip: sim` only: contact bounce after each transition lasts this long (0 = clean edges)."},
    {"bounce_edges", SG_CFG_INT, LK(bounce_edges), "3", 0, 16, NULL, NULL, 0,
     "`chip: sim` only: bounce pairs (away and back) per transition."},
};
static const struct sg_cfg_table gpio_line_table = SG_CFG_TABLE(
    "lines[]", "One GPIO line.", struct gpio_line_conf, gpio_line_keys, gpio_line_check);

bool gpio_conf_is_sim(const struct gpio_conf *c)
{
	return c->chip && !strcmp(c->chip, "sim");
}

static int gpio_check(struct sg_cfg_ctx *ctx, void *obj, const struct sg_cfg_pos *pos,
		      const char *path)
{
	struct gpio_conf *c = obj;
	struct gpio_line_conf *ls = c->lines.items;
	int rc = SG_OK;

	if (c->lines.n > GPIO_MAX_LINES) {
		sg_cfg_error(ctx, pos, path, "%zu lines: at most %d per source (split them)",
			     c->lines.n, GPIO_MAX_LINES);
		rc = SG_ECONFIG;
	}
	for (size_t i = 0; i < c->lines.n; i++) {
		if (!gpio_conf_is_sim(c) && (ls[i].pattern || ls[i].bounce_ms)) {
			sg_cfg_error(ctx, pos, path,
				     "lines[%zu] ('%s'): pattern and bounce need `chip: sim`", i,
				     ls[i].id);
			rc = SG_ECONFIG;
		}
		for (size_t j = 0; j < i; j++) {
			if (ls[i].id && ls[j].id && !strcmp(ls[i].id, ls[j].id)) {
				sg_cfg_error(ctx, pos, path, "lines[%zu]: id '%s' is used twice", i,
					     ls[i].id);
				rc = SG_ECONFIG;
			}
		}
	}
	return rc;
}

#define CK(f) offsetof(struct gpio_conf, f)
static const struct sg_cfg_key gpio_keys[] = {
    {"chip", SG_CFG_STR, CK(chip), "/dev/gpiochip0", 1, 0, NULL, NULL, 0,
     "The GPIO chip: a path (`/dev/gpiochip0`), name (`gpiochip0`), label (`pinctrl-bcm2711`), "
     "number, or `sim` for the simulated chip."},
    {"consumer", SG_CFG_STR, CK(consumer), "sensorgate", 1, 0, NULL, NULL, 0,
     "Consumer name shown by `gpioinfo` for the requested lines."},
    {"event_clock", SG_CFG_ENUM, CK(event_clock), "monotonic", 1, 0, clock_words, NULL, 0,
     "libgpiod 2: the kernel's clock for edge timestamps (`realtime` needs Linux 5.11). Event "
     "times are wall clock either way; see docs/gpio.md."},
    {"queue_depth", SG_CFG_INT, CK(queue_depth), "0", 0, 65536, NULL, NULL, 0,
     "libgpiod 2 and sim: the kernel event queue of each line, in events (0 = default: 16 in the "
     "kernel, 64 in the simulator)."},
    {"seed", SG_CFG_INT, CK(seed), "1", 0, 4294967295.0, NULL, NULL, 0,
     "`chip: sim`: seed of random patterns and bounce."},
    {"lines", SG_CFG_LIST, CK(lines), NULL, 1, 0, NULL, &gpio_line_table, SG_CFG_REQUIRED,
     "The lines of this chip."},
};
const struct sg_cfg_table gpio_table =
    SG_CFG_TABLE("gpio", "GPIO lines through libgpiod, or a simulated chip.", struct gpio_conf,
		 gpio_keys, gpio_check);

void gpio_conf_request(const struct gpio_conf *c, const struct gpio_line_conf *lc,
		       bool kernel_debounce_ok, struct gpio_line_cfg *req, struct gpio_lsm_cfg *lsm)
{
	int64_t db_ns = lc->debounce_ms * SG_NS_PER_MS;
	bool kdb = false, sdb = false;
	enum gpio_edge want;

	memset(req, 0, sizeof(*req));
	memset(lsm, 0, sizeof(*lsm));
	if (!gpio_parse_offset(lc->line, &req->offset))
		req->name = lc->line;
	req->dir = (enum gpio_dir)lc->direction;
	req->bias = (enum gpio_bias)lc->bias;
	req->active_low = lc->active_low;
	req->initial = lc->initial;
	req->consumer = c->consumer;
	req->clock =
	    c->event_clock == GPIO_CC_REALTIME ? GPIO_CLOCK_REALTIME : GPIO_CLOCK_MONOTONIC;
	req->queue_depth = c->queue_depth;
	req->sim_pattern = lc->pattern;
	req->sim_bounce_ns = lc->bounce_ms * SG_NS_PER_MS;
	req->sim_bounce_edges = lc->bounce_edges;
	req->seed = (uint64_t)c->seed;

	switch (lc->edge) {
	case GPIO_CE_RISING: want = GPIO_EDGE_RISING; break;
	case GPIO_CE_FALLING: want = GPIO_EDGE_FALLING; break;
	case GPIO_CE_BOTH: want = GPIO_EDGE_BOTH; break;
	default: want = lc->mode == GPIO_MODE_COUNT ? GPIO_EDGE_RISING : GPIO_EDGE_BOTH; break;
	}
	if (db_ns > 0) {
		kdb = lc->debounce_by == GPIO_DB_KERNEL ||
		      (lc->debounce_by == GPIO_DB_AUTO && kernel_debounce_ok);
		sdb = !kdb;
	}
	if (req->dir == GPIO_DIR_OUTPUT || lc->mode == GPIO_MODE_SAMPLE)
		req->edge = GPIO_EDGE_NONE;
	else
		req->edge = sdb ? GPIO_EDGE_BOTH : want; /* software debounce needs both */
	req->debounce_us = kdb ? lc->debounce_ms * 1000 : 0;

	lsm->mode = (enum gpio_mode)lc->mode;
	lsm->edge = want;
	lsm->raw_both = req->edge == GPIO_EDGE_BOTH;
	lsm->debounce_ns = sdb ? db_ns : 0;
	lsm->interval_ns = lc->interval_ms * SG_NS_PER_MS;
	lsm->emit_initial = lc->emit_initial;
}
