/*
 * test_gpio_driver.c - the gpio driver (sg_driver_gpio) against a fake
 * core and the scripted fake backend: what it requests from the kernel,
 * the readings it emits (ids, times, values, attributes, quality), the
 * overflow accounting, read errors, and write() for outputs.
 *
 * The fake core replaces the five sg_source_* functions of the pipeline;
 * the linker then takes nothing of the real pipeline from libsg.a.
 */
#include <stdlib.h>
#include <string.h>

#include "drivers/driver.h"
#include "drivers/gpio/fake.h"
#include "drivers/gpio/gpio.h"
#include "gateway/base/buf.h"
#include "gateway/base/clock.h"
#include "gateway/base/mem.h"
#include "t.h"

#define MS 1000000LL

extern const struct sg_driver sg_driver_gpio;

/* --- the fake core ------------------------------------------------------ */

struct sg_source {
	int dummy;
};
static struct sg_source the_src;

static struct rec {
	char sensor[64];
	int64_t ts_ns;
	struct sg_value v;
	char edge[16], window[16], count[16], partial[16], unit[16], reason[128];
	enum sg_quality q;
} recs[256];
static int nrecs, overflow_errors, emit_rc;

int sg_source_emit(struct sg_source *src, const struct sg_reading *rd)
{
	struct rec *r = &recs[nrecs < 255 ? nrecs++ : 255];

	(void)src;
	memset(r, 0, sizeof(*r));
	snprintf(r->sensor, sizeof(r->sensor), "%s", rd->sensor);
	r->ts_ns = rd->ts_ns;
	r->v = rd->value;
	r->q = rd->quality;
	snprintf(r->unit, sizeof(r->unit), "%s", rd->unit ? rd->unit : "");
	snprintf(r->reason, sizeof(r->reason), "%s", rd->reason ? rd->reason : "");
	for (size_t i = 0; i < rd->nattrs; i++) {
		char *dst = !strcmp(rd->attrs[i].key, "edge")        ? r->edge
			    : !strcmp(rd->attrs[i].key, "window_ms") ? r->window
			    : !strcmp(rd->attrs[i].key, "count")     ? r->count
			    : !strcmp(rd->attrs[i].key, "partial")   ? r->partial
								     : NULL;
		if (dst)
			snprintf(dst, 16, "%s", rd->attrs[i].val);
	}
	return emit_rc;
}
const char *sg_source_name(const struct sg_source *src)
{
	(void)src;
	return "gpio-test";
}
bool sg_source_stopping(const struct sg_source *src)
{
	(void)src;
	return false;
}
void sg_source_error(struct sg_source *src, const char *cls)
{
	(void)src;
	if (!strcmp(cls, "overflow"))
		overflow_errors++;
}
struct sg_counter *sg_source_counter(struct sg_source *src, const char *name)
{
	(void)src;
	return sg_metric(name, "source=\"gpio-test\"", false);
}

/* --- helpers ------------------------------------------------------------ */

static struct gpio_line_conf lines[4];
static struct gpio_conf conf;

static struct gpio_line_conf *line(int i, const char *id, const char *ln)
{
	struct gpio_line_conf *l = &lines[i];

	memset(l, 0, sizeof(*l));
	l->id = (char *)id;
	l->line = (char *)ln;
	l->interval_ms = 1000;
	l->emit_initial = true;
	l->scale = 1;
	l->bounce_edges = 3;
	if ((size_t)i + 1 > conf.lines.n)
		conf.lines.n = (size_t)i + 1;
	return l;
}

static void reset(const struct gpio_fake_opts *o, const struct gpio_backend *be)
{
	memset(&conf, 0, sizeof(conf));
	conf.chip = "fake";
	conf.consumer = "test";
	conf.lines.items = lines;
	gpio_fake_reset(o);
	gpio_backend_override = be;
	nrecs = overflow_errors = 0;
	emit_rc = SG_OK;
}

static void *start(void)
{
	struct sg_errbuf eb = {{0}};
	void *st = NULL;

	CHECK_EQ(sg_driver_gpio.init(&the_src, &conf, &st, &eb), SG_OK);
	CHECK_EQ(sg_driver_gpio.start(st, &eb), SG_OK);
	return st;
}

static void finish(void *st)
{
	sg_driver_gpio.stop(st);
	sg_driver_gpio.fini(st);
}

static int step(void *st)
{
	struct sg_wait w;

	memset(&w, 0, sizeof(w));
	w.now_ns = sg_now_mono_ns();
	return sg_driver_gpio.step(st, &w);
}

/* --- tests -------------------------------------------------------------- */

TEST(button_with_software_debounce_end_to_end)
{
	struct gpio_fake_opts o = {.v2 = false, .clock = GPIO_CLOCK_GUESS};
	struct gpio_line_conf *b;
	int64_t now, wall;
	void *st;

	reset(&o, &gpio_backend_fake);
	b = line(0, "button-1", "3");
	b->bias = GPIO_BIAS_PULL_UP;
	b->active_low = true;
	b->debounce_ms = 5;
	gpio_fake_set_level(3, 0);
	st = start();
	/* asked the kernel for both edges, pull-up, active-low, no kernel
	 * debounce (libgpiod 1) */
	CHECK_EQ(gpio_fake_cfg(3)->edge, GPIO_EDGE_BOTH);
	CHECK_EQ(gpio_fake_cfg(3)->bias, GPIO_BIAS_PULL_UP);
	CHECK(gpio_fake_cfg(3)->active_low);
	CHECK_EQ(gpio_fake_cfg(3)->debounce_us, 0);
	CHECK_STR(gpio_fake_cfg(3)->consumer, "test");
	CHECK_EQ(nrecs, 1);
	CHECK_STR(recs[0].edge, "initial");
	CHECK_EQ(recs[0].v.type, SG_VAL_BOOL);
	CHECK(!recs[0].v.b);

	while (sg_now_ns() < recs[0].ts_ns + 50 * MS)
		; /* the edges below come after the start */
	now = sg_now_mono_ns();
	wall = sg_now_ns();
	gpio_fake_edge(3, now - 40 * MS, true); /* pressed, with bounce */
	gpio_fake_edge(3, now - 39 * MS, false);
	gpio_fake_edge(3, now - 38 * MS, true);
	CHECK_EQ(step(st), SG_OK);
	CHECK_EQ(nrecs, 2);
	CHECK_STR(recs[1].sensor, "button-1");
	CHECK_STR(recs[1].edge, "rising");
	CHECK(recs[1].v.b);
	CHECK_EQ(recs[1].q, SG_Q_GOOD);
	/* event time: the kernel stamp of the first edge, on the wall clock */
	CHECK(llabs(recs[1].ts_ns - (wall - 40 * MS)) < 2 * MS);
	CHECK_EQ(sg_metrics_sum("gpio_bounces", "gpio-test") >= 2, 1);
	CHECK(sg_metrics_sum("gpio_edges", "gpio-test") >= 1); /* the press, once */
	finish(st);
}

TEST(v2_overflow_is_an_error_a_counter_and_uncertain_quality)
{
	struct gpio_fake_opts o = {.v2 = true, .depth = 4, .clock = GPIO_CLOCK_MONOTONIC};
	uint64_t lost0 = sg_metrics_sum("gpio_events_lost", "gpio-test");
	int64_t now;
	void *st;

	reset(&o, &gpio_backend_fake_v2);
	line(0, "door", "1");
	st = start();
	now = sg_now_mono_ns();
	for (int i = 0; i < 10; i++)
		gpio_fake_edge(1, now - (100 - i) * MS, (i & 1) == 0);
	CHECK_EQ(step(st), SG_OK);
	CHECK_EQ(overflow_errors, 1);
	CHECK_EQ(sg_metrics_sum("gpio_events_lost", "gpio-test") - lost0, 6);
	CHECK_EQ(nrecs, 1 + 4);
	CHECK_EQ(recs[1].q, SG_Q_UNCERTAIN);
	CHECK(strstr(recs[1].reason, "6 events lost") != NULL);
	CHECK_EQ(recs[2].q, SG_Q_GOOD);
	finish(st);
}

TEST(kernel_debounce_is_requested_with_libgpiod2)
{
	struct gpio_fake_opts o = {.v2 = true, .kernel_debounce = true};
	struct gpio_line_conf *l;
	void *st;

	reset(&o, &gpio_backend_fake_v2);
	l = line(0, "reed", "2");
	l->debounce_ms = 30;
	l->edge = GPIO_CE_FALLING;
	st = start();
	CHECK_EQ(gpio_fake_cfg(2)->debounce_us, 30000);
	CHECK_EQ(gpio_fake_cfg(2)->edge, GPIO_EDGE_FALLING);
	finish(st);
}

TEST(kernel_debounce_without_libgpiod2_is_a_config_error)
{
	struct gpio_fake_opts o = {0};
	struct gpio_line_conf *l;
	struct sg_errbuf eb = {{0}};
	void *st = NULL;

	reset(&o, &gpio_backend_fake);
	l = line(0, "reed", "2");
	l->debounce_ms = 30;
	l->debounce_by = GPIO_DB_KERNEL;
	CHECK_EQ(sg_driver_gpio.init(&the_src, &conf, &st, &eb), SG_ECONFIG);
	CHECK(strstr(eb.msg, "libgpiod 2") != NULL);
	CHECK(st == NULL);
}

TEST(count_mode_emits_scaled_windows)
{
	struct gpio_fake_opts o = {.v2 = true};
	struct gpio_line_conf *l;
	int64_t t0;
	void *st;

	reset(&o, &gpio_backend_fake_v2);
	l = line(0, "water", "4");
	l->mode = GPIO_MODE_COUNT;
	l->interval_ms = 200;
	l->scale = 0.5;
	l->unit = "l";
	st = start();
	t0 = sg_now_mono_ns(); /* the first window began before t0 */
	CHECK_EQ(gpio_fake_cfg(4)->edge, GPIO_EDGE_RISING);
	for (int i = 0; i < 3; i++)
		gpio_fake_edge(4, t0 + i * MS, true);
	while (sg_now_mono_ns() < t0 + 200 * MS + GPIO_SLACK_NS)
		;
	CHECK_EQ(step(st), SG_OK);
	CHECK(nrecs >= 1); /* a second window only if this thread stalled */
	CHECK_STR(recs[0].sensor, "water");
	CHECK_EQ(recs[0].v.type, SG_VAL_DOUBLE);
	CHECK(recs[0].v.d == 1.5);
	CHECK_STR(recs[0].count, "3");
	CHECK_STR(recs[0].window, "200");
	CHECK_STR(recs[0].unit, "l");
	CHECK_STR(recs[0].partial, "");
	/* stopping emits the open window, cut short, with its pulses */
	gpio_fake_edge(4, sg_now_mono_ns() - 1 * MS, true);
	finish(st);
	CHECK_STR(recs[nrecs - 1].partial, "true");
	CHECK_STR(recs[nrecs - 1].count, "1");
	CHECK(atoi(recs[nrecs - 1].window) < 200);
}

TEST(read_error_asks_the_core_for_a_restart)
{
	struct gpio_fake_opts o = {.fail_read = true};
	void *st;

	reset(&o, &gpio_backend_fake);
	line(0, "x", "0");
	st = start();
	CHECK_EQ(step(st), SG_EIO);
	finish(st);
}

TEST(write_sets_outputs_only)
{
	struct gpio_fake_opts o = {0};
	struct gpio_line_conf *l;
	struct sg_errbuf eb;
	struct sg_value on = {.type = SG_VAL_STR, .s = {"ON", 2}};
	struct sg_value off = {.type = SG_VAL_BOOL, .b = false};
	struct sg_value bad = {.type = SG_VAL_STR, .s = {"maybe", 5}};
	void *st = NULL;

	reset(&o, &gpio_backend_fake);
	line(0, "in", "0");
	l = line(1, "relay-1", "5");
	l->direction = GPIO_DIR_OUTPUT;
	l->initial = true;
	CHECK_EQ(sg_driver_gpio.init(&the_src, &conf, &st, &eb), SG_OK);
	CHECK_EQ(sg_driver_gpio.write(st, "relay-1", &on, &eb), SG_EAGAIN); /* not started */
	CHECK_EQ(sg_driver_gpio.start(st, &eb), SG_OK);
	CHECK_EQ(gpio_fake_level(5), 1); /* initial */
	CHECK_EQ(sg_driver_gpio.write(st, "relay-1", &off, &eb), SG_OK);
	CHECK_EQ(gpio_fake_level(5), 0);
	CHECK_EQ(sg_driver_gpio.write(st, "relay-1", &on, &eb), SG_OK);
	CHECK_EQ(gpio_fake_level(5), 1);
	CHECK_EQ(sg_driver_gpio.write(st, "relay-1", &bad, &eb), SG_EINVAL);
	CHECK_EQ(sg_driver_gpio.write(st, "in", &on, &eb), SG_EINVAL);
	CHECK(strstr(eb.msg, "input") != NULL);
	CHECK_EQ(sg_driver_gpio.write(st, "nope", &on, &eb), SG_ENOTFOUND);
	finish(st);
}

TEST(a_busy_line_fails_start_and_releases_the_rest)
{
	struct gpio_fake_opts o = {0};
	struct sg_errbuf eb = {{0}};
	void *st = NULL, *st2 = NULL;

	reset(&o, &gpio_backend_fake);
	line(0, "a", "6");
	st = start();
	line(1, "b", "7");
	CHECK_EQ(sg_driver_gpio.init(&the_src, &conf, &st2, &eb), SG_OK);
	/* line 6 is held by the first instance */
	CHECK_EQ(sg_driver_gpio.start(st2, &eb), SG_EDRIVER);
	CHECK(strstr(eb.msg, "busy") != NULL);
	CHECK(strstr(eb.msg, "'a'") != NULL);
	sg_driver_gpio.fini(st2);
	finish(st);
}
