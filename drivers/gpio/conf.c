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

static const struct sg_cfg_key gpio_line_keys[] = {
    SG_KEY_STR(
	"id", struct gpio_line_conf, id, NULL,
	"Sensor id: the Kafka key of this line's events, and the `write` target of an output.",
	SG_REQUIRED),
    SG_KEY_STR("line", struct gpio_line_conf, line, NULL,
	       "The line: an offset on the chip (`17`) or a line name (`GPIO17`).", SG_REQUIRED),
    SG_KEY_ENUM("direction", struct gpio_line_conf, direction, "input", dir_words,
		"`input` (read) or `output` (set through the driver's write, e.g. by a sink)."),
    SG_KEY_ENUM("mode", struct gpio_line_conf, mode, "edge", mode_words,
		"Inputs: `edge` emits each (debounced) edge with its kernel timestamp; `sample` "
		"reads the level every `interval`; `count` emits the number of edges per "
		"`interval` (flow and energy meters)."),
    SG_KEY_ENUM("edge", struct gpio_line_conf, edge, "auto", edge_words,
		"Which edges to emit or count: `rising`, `falling`, `both`; `auto` is both for "
		"`edge`, rising for `count`."),
    SG_KEY_ENUM("bias", struct gpio_line_conf, bias, "as_is", bias_words,
		"Internal resistor: `pull_up`, `pull_down`, `disabled`, or `as_is` (leave it)."),
    SG_KEY_BOOL("active_low", struct gpio_line_conf, active_low, "false",
		"The line is active when low (a button to ground with a pull-up): values and edges "
		"are inverted."),
    SG_KEY_DURATION(
	"debounce", struct gpio_line_conf, debounce_ms, "0", 0, 10000,
	"Accept a change of level only after the line has been stable this long (0 = off)."),
    SG_KEY_ENUM("debounce_by", struct gpio_line_conf, debounce_by, "auto", dbby_words,
		"Who debounces: `kernel` (libgpiod 2 only), `software` (from the kernel "
		"timestamps), `auto` (kernel where available)."),
    SG_KEY_DURATION("interval", struct gpio_line_conf, interval_ms, "1s", 1, 86400000,
		    "Sampling period (`sample`) or counting window (`count`)."),
    SG_KEY_BOOL("emit_initial", struct gpio_line_conf, emit_initial, "true",
		"`edge` mode: emit the level found at start (attribute `initial`)."),
    SG_KEY_DOUBLE(
	"scale", struct gpio_line_conf, scale, "1", -1e12, 1e12,
	"`count` mode: value = count x scale (e.g. litres per pulse); 1 emits the plain count."),
    SG_KEY_STR("unit", struct gpio_line_conf, unit, NULL, "Unit of the value (free text)."),
    SG_KEY_BOOL("initial", struct gpio_line_conf, initial, "false",
		"Outputs: the (logical) value set when the line is requested."),
    SG_KEY_STR("pattern", struct gpio_line_conf, pattern, NULL,
	       "`chip: sim` only: the simulated level, `1000ms high, 500ms low` (cycled) or "
	       "`random 2s` (toggles, mean 2 s apart). Default `1s high, 1s low`."),
    SG_KEY_DURATION("bounce", struct gpio_line_conf, bounce_ms, "0", 0, 1000,
		    "`chip: sim` only: contact bounce after each transition lasts this long (0 = "
		    "clean edges)."),
    SG_KEY_INT("bounce_edges", struct gpio_line_conf, bounce_edges, "3", 0, 16,
	       "`chip: sim` only: bounce pairs (away and back) per transition."),
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

static const struct sg_cfg_key gpio_keys[] = {
    SG_KEY_STR("chip", struct gpio_conf, chip, "/dev/gpiochip0",
	       "The GPIO chip: a path (`/dev/gpiochip0`), name (`gpiochip0`), label "
	       "(`pinctrl-bcm2711`), number, or `sim` for the simulated chip."),
    SG_KEY_STR("consumer", struct gpio_conf, consumer, "sensorgate",
	       "Consumer name shown by `gpioinfo` for the requested lines."),
    SG_KEY_ENUM("event_clock", struct gpio_conf, event_clock, "monotonic", clock_words,
		"libgpiod 2: the kernel's clock for edge timestamps (`realtime` needs Linux 5.11). "
		"Event times are wall clock either way; see docs/gpio.md."),
    SG_KEY_INT("queue_depth", struct gpio_conf, queue_depth, "0", 0, 65536,
	       "libgpiod 2 and sim: the kernel event queue of each line, in events (0 = default: "
	       "16 in the kernel, 64 in the simulator)."),
    SG_KEY_INT("seed", struct gpio_conf, seed, "1", 0, 4294967295.0,
	       "`chip: sim`: seed of random patterns and bounce."),
    SG_KEY_LIST("lines", struct gpio_conf, lines, &gpio_line_table, "The lines of this chip.",
		SG_REQUIRED),
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
