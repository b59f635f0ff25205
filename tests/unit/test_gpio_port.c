/*
 * test_gpio_port.c - one GPIO port driven through the backend seam: the
 * scripted fake backend (kernel queue overflow as uAPI v1 and v2 behave,
 * clock conversion, read errors, sampling) and the simulated chip
 * (patterns, bounce through the software debounce, its own overflow).
 */
#include <stdlib.h>

#include "drivers/gpio/fake.h"
#include "drivers/gpio/line.h"
#include "drivers/gpio/simchip.h"
#include "gateway/base/buf.h"
#include "gateway/base/clock.h"
#include "gateway/base/mem.h"
#include "t.h"

#define MS 1000000LL

static struct gpio_out outs[4096];
static int nouts;

static void cap(void *arg, const struct gpio_out *o)
{
	(void)arg;
	if (nouts < (int)(sizeof(outs) / sizeof(outs[0])))
		outs[nouts++] = *o;
}

static int count_kind(enum gpio_out_kind k)
{
	int n = 0;
	for (int i = 0; i < nouts; i++)
		n += outs[i].kind == k;
	return n;
}

/* Open a port on a fake chip line 0 with the given request and machine. */
static void fake_port(struct gpio_port *p, const struct gpio_fake_opts *o, enum gpio_edge req_edge,
		      const struct gpio_lsm_cfg *lc, int64_t now)
{
	struct gpio_line_cfg req = {.offset = 0, .dir = GPIO_DIR_INPUT, .edge = req_edge};
	struct gpio_chip *chip;
	struct sg_errbuf eb;

	gpio_fake_reset(o);
	nouts = 0;
	p->be = &gpio_backend_fake;
	CHECK_EQ(p->be->chip_open("fake", &chip, &eb), SG_OK);
	CHECK_EQ(p->be->line_request(chip, &req, &p->line, &p->info, &eb), SG_OK);
	gpio_lsm_init(&p->lsm, lc);
	gpio_lsm_start(&p->lsm, 0, now, cap, NULL);
}

static const struct gpio_lsm_cfg edge_both = {
    .mode = GPIO_MODE_EDGE, .edge = GPIO_EDGE_BOTH, .raw_both = true};

TEST(v2_overflow_counts_exactly_the_dropped_oldest)
{
	struct gpio_fake_opts o = {.v2 = true, .depth = 16, .clock = GPIO_CLOCK_MONOTONIC};
	struct gpio_port p;

	fake_port(&p, &o, GPIO_EDGE_BOTH, &edge_both, 0);
	for (int i = 0; i < 20; i++)
		gpio_fake_edge(0, (1 + i) * MS, (i & 1) == 0);
	CHECK_EQ(gpio_fake_dropped(0), 4);
	CHECK_EQ(gpio_port_step(&p, 100 * MS, 0, cap, NULL), SG_OK);
	CHECK_EQ(count_kind(GPIO_OUT_OVERFLOW), 1);
	CHECK_EQ(outs[0].kind, GPIO_OUT_OVERFLOW);
	CHECK_EQ(outs[0].lost, 4);
	CHECK(!outs[0].suspect);
	CHECK_EQ(p.lsm.st.lost, 4);
	/* events 5..20 arrive; the first one after the gap carries the loss */
	CHECK_EQ(p.lsm.st.raw, 16);
	CHECK_EQ(outs[1].kind, GPIO_OUT_EDGE);
	CHECK_EQ(outs[1].t_mono, 5 * MS);
	CHECK_EQ(outs[1].lost, 4);
}

TEST(v1_full_queue_is_a_suspected_overflow)
{
	struct gpio_fake_opts o = {.v2 = false, .depth = 16, .clock = GPIO_CLOCK_MONOTONIC};
	struct gpio_port p;

	fake_port(&p, &o, GPIO_EDGE_BOTH, &edge_both, 0);
	CHECK(!p.info.has_seqno);
	for (int i = 0; i < 20; i++)
		gpio_fake_edge(0, (1 + i) * MS, (i & 1) == 0);
	CHECK_EQ(gpio_fake_dropped(0), 4); /* the newest four, silently */
	CHECK_EQ(gpio_port_step(&p, 100 * MS, 0, cap, NULL), SG_OK);
	CHECK_EQ(count_kind(GPIO_OUT_OVERFLOW), 1);
	CHECK_EQ(outs[0].lost, 0);
	CHECK(outs[0].suspect);
	CHECK_EQ(p.lsm.st.raw, 16);
	CHECK(outs[1].suspect);
	CHECK_EQ(outs[16].t_mono, 16 * MS); /* the last kept is the 16th */
}

TEST(v1_queue_below_depth_is_no_overflow)
{
	struct gpio_fake_opts o = {.v2 = false, .depth = 16, .clock = GPIO_CLOCK_MONOTONIC};
	struct gpio_port p;

	fake_port(&p, &o, GPIO_EDGE_BOTH, &edge_both, 0);
	for (int i = 0; i < 15; i++)
		gpio_fake_edge(0, (1 + i) * MS, (i & 1) == 0);
	CHECK_EQ(gpio_port_step(&p, 100 * MS, 0, cap, NULL), SG_OK);
	CHECK_EQ(count_kind(GPIO_OUT_OVERFLOW), 0);
	CHECK_EQ(count_kind(GPIO_OUT_EDGE), 15);
	CHECK_EQ(p.lsm.st.overflows, 0);
}

TEST(realtime_stamps_become_monotonic)
{
	struct gpio_fake_opts o = {.v2 = true, .clock = GPIO_CLOCK_REALTIME};
	int64_t mono = 1000 * MS, real = 1764000000LL * 1000 * MS;
	struct gpio_port p;

	fake_port(&p, &o, GPIO_EDGE_BOTH, &edge_both, mono - 500 * MS);
	gpio_fake_edge(0, real - 20 * MS, true);
	CHECK_EQ(gpio_port_step(&p, mono, real, cap, NULL), SG_OK);
	CHECK_EQ(nouts, 1);
	CHECK_EQ(outs[0].t_mono, mono - 20 * MS);
}

TEST(v1_stamps_of_either_clock_are_recognised)
{
	struct gpio_fake_opts o = {.v2 = false, .clock = GPIO_CLOCK_GUESS};
	int64_t mono = 1000 * MS, real = 1764000000LL * 1000 * MS;
	struct gpio_port p;

	fake_port(&p, &o, GPIO_EDGE_BOTH, &edge_both, mono - 500 * MS);
	gpio_fake_edge(0, mono - 30 * MS, true);  /* Linux >= 5.7 */
	gpio_fake_edge(0, real - 10 * MS, false); /* Linux < 5.7 */
	CHECK_EQ(gpio_port_step(&p, mono, real, cap, NULL), SG_OK);
	CHECK_EQ(nouts, 2);
	CHECK_EQ(outs[0].t_mono, mono - 30 * MS);
	CHECK_EQ(outs[1].t_mono, mono - 10 * MS);
}

TEST(read_error_is_returned)
{
	struct gpio_fake_opts o = {.fail_read = true};
	struct gpio_port p;

	fake_port(&p, &o, GPIO_EDGE_BOTH, &edge_both, 0);
	CHECK_EQ(gpio_port_step(&p, 100 * MS, 0, cap, NULL), SG_EIO);
}

TEST(port_debounces_by_event_time_and_waits_for_the_slack)
{
	struct gpio_lsm_cfg lc = edge_both;
	struct gpio_fake_opts o = {.v2 = true};
	struct gpio_port p;

	lc.debounce_ns = 10 * MS;
	fake_port(&p, &o, GPIO_EDGE_BOTH, &lc, 0);
	gpio_fake_edge(0, 100 * MS, true);
	gpio_fake_edge(0, 101 * MS, false);
	gpio_fake_edge(0, 102 * MS, true);
	/* At 114 ms the line has been quiet 12 ms, but the reader allows
	 * 5 ms for events still on their way: not yet. */
	CHECK_EQ(gpio_port_step(&p, 114 * MS, 0, cap, NULL), SG_OK);
	CHECK_EQ(nouts, 0);
	CHECK_EQ(gpio_port_deadline(&p), 112 * MS + GPIO_SLACK_NS);
	CHECK_EQ(gpio_port_step(&p, 117 * MS, 0, cap, NULL), SG_OK);
	CHECK_EQ(nouts, 1);
	CHECK_EQ(outs[0].t_mono, 100 * MS);
	CHECK_EQ(outs[0].value, 1);
}

TEST(port_samples_when_due)
{
	struct gpio_lsm_cfg lc = {.mode = GPIO_MODE_SAMPLE, .interval_ns = 100 * MS};
	struct gpio_fake_opts o = {0};
	struct gpio_port p;

	fake_port(&p, &o, GPIO_EDGE_NONE, &lc, 1000 * MS);
	gpio_fake_set_level(0, 1);
	CHECK_EQ(gpio_port_step(&p, 1000 * MS, 0, cap, NULL), SG_OK);
	CHECK_EQ(gpio_port_step(&p, 1050 * MS, 0, cap, NULL), SG_OK); /* not due */
	gpio_fake_set_level(0, 0);
	CHECK_EQ(gpio_port_step(&p, 1100 * MS, 0, cap, NULL), SG_OK);
	CHECK_EQ(nouts, 2);
	CHECK_EQ(outs[0].value, 1);
	CHECK_EQ(outs[1].value, 0);
	CHECK_EQ(outs[1].t_mono, 1100 * MS);
	CHECK_EQ(gpio_port_deadline(&p), 1200 * MS);
}

TEST(fake_honours_the_requested_edges)
{
	struct gpio_lsm_cfg lc = {
	    .mode = GPIO_MODE_COUNT, .edge = GPIO_EDGE_RISING, .interval_ns = 1000 * MS};
	struct gpio_fake_opts o = {.v2 = true};
	struct gpio_port p;

	fake_port(&p, &o, GPIO_EDGE_RISING, &lc, 0);
	for (int i = 0; i < 10; i++)
		gpio_fake_edge(0, (10 + i * 10) * MS, (i & 1) == 0);
	CHECK_EQ(gpio_port_step(&p, 1000 * MS + GPIO_SLACK_NS, 0, cap, NULL), SG_OK);
	CHECK_EQ(nouts, 1);
	CHECK_EQ(outs[0].kind, GPIO_OUT_COUNT);
	CHECK_EQ(outs[0].count, 5);
	CHECK_EQ(outs[0].lost, 0); /* seqno counts only requested edges */
}

/* --- the simulated chip ----------------------------------------------- */

TEST(sim_pattern_parses_and_rejects)
{
	struct gpio_sim_pattern pat;
	struct sg_errbuf eb;

	CHECK_EQ(gpio_sim_pattern_parse("1000ms high, 500ms low", &pat, &eb), SG_OK);
	CHECK_EQ(pat.nseg, 2);
	CHECK_EQ(pat.seg[0].dur_ns, 1000 * MS);
	CHECK_EQ(pat.seg[0].level, 1);
	CHECK_EQ(pat.seg[1].level, 0);
	CHECK_EQ(gpio_sim_pattern_parse("random 2s", &pat, &eb), SG_OK);
	CHECK(pat.random);
	CHECK_EQ(pat.mean_ns, 2000 * MS);
	CHECK_EQ(gpio_sim_pattern_parse(NULL, &pat, &eb), SG_OK);
	CHECK_EQ(pat.nseg, 2);
	CHECK_EQ(gpio_sim_pattern_parse("1s up", &pat, &eb), SG_EINVAL);
	CHECK(strstr(eb.msg, "1s up") != NULL);
	CHECK_EQ(gpio_sim_pattern_parse("fast high", &pat, &eb), SG_EINVAL);
	CHECK_EQ(gpio_sim_pattern_parse("random", &pat, &eb), SG_EINVAL);
	CHECK_EQ(gpio_sim_pattern_parse("1s high,", &pat, &eb), SG_OK);
}

/* Run a sim line through a port for `dur`, stepping every `step`. */
static void sim_run(struct gpio_port *p, const struct gpio_line_cfg *req,
		    const struct gpio_lsm_cfg *lc, int64_t dur, int64_t step)
{
	struct gpio_chip *chip;
	struct sg_errbuf eb;
	int64_t t0;

	nouts = 0;
	p->be = &gpio_backend_sim;
	CHECK_EQ(p->be->chip_open("sim", &chip, &eb), SG_OK);
	CHECK_EQ(p->be->line_request(chip, req, &p->line, &p->info, &eb), SG_OK);
	t0 = sg_now_mono_ns();
	gpio_lsm_init(&p->lsm, lc);
	gpio_lsm_start(&p->lsm, p->be->line_get(p->line), t0, cap, NULL);
	for (int64_t t = t0; t <= t0 + dur; t += step)
		CHECK_EQ(gpio_port_step(p, t, t, cap, NULL), SG_OK);
	p->be->line_release(p->line);
	p->be->chip_close(chip);
}

TEST(sim_bounce_goes_through_the_software_debounce)
{
	struct gpio_line_cfg req = {.dir = GPIO_DIR_INPUT,
				    .edge = GPIO_EDGE_BOTH,
				    .sim_pattern = "100ms high, 100ms low",
				    .sim_bounce_ns = 3 * MS,
				    .sim_bounce_edges = 3,
				    .seed = 7};
	struct gpio_lsm_cfg lc = {.mode = GPIO_MODE_EDGE,
				  .edge = GPIO_EDGE_RISING,
				  .raw_both = true,
				  .debounce_ns = 10 * MS};
	struct gpio_port p;

	sim_run(&p, &req, &lc, 2000 * MS, 7 * MS);
	/* 10 periods of 200 ms: 10 rising edges, each with 6 bounce edges */
	CHECK(count_kind(GPIO_OUT_EDGE) >= 9 && count_kind(GPIO_OUT_EDGE) <= 10);
	CHECK(p.lsm.st.bounces >= 100);
	CHECK_EQ(p.lsm.st.overflows, 0);
	for (int i = 1; i < nouts; i++) {
		int64_t d = outs[i].t_mono - outs[i - 1].t_mono;
		CHECK(d > 199 * MS && d < 201 * MS); /* the first edge of each burst */
	}
}

TEST(sim_counts_pulses_per_window)
{
	struct gpio_line_cfg req = {
	    .dir = GPIO_DIR_INPUT, .edge = GPIO_EDGE_RISING, .sim_pattern = "5ms high, 5ms low"};
	struct gpio_lsm_cfg lc = {
	    .mode = GPIO_MODE_COUNT, .edge = GPIO_EDGE_RISING, .interval_ns = 500 * MS};
	struct gpio_port p;
	uint64_t total = 0;

	sim_run(&p, &req, &lc, 2100 * MS, 3 * MS);
	CHECK_EQ(count_kind(GPIO_OUT_COUNT), 4);
	for (int i = 0; i < nouts; i++) {
		CHECK(outs[i].count >= 49 && outs[i].count <= 51);
		total += outs[i].count;
	}
	CHECK(total >= 199 && total <= 201);
}

TEST(sim_active_low_inverts)
{
	struct gpio_line_cfg req = {.dir = GPIO_DIR_INPUT,
				    .edge = GPIO_EDGE_NONE,
				    .sim_pattern = "10s high",
				    .active_low = true};
	struct gpio_chip *chip;
	struct gpio_line *l;
	struct gpio_line_info info;
	struct sg_errbuf eb;

	CHECK_EQ(gpio_backend_sim.chip_open("sim", &chip, &eb), SG_OK);
	CHECK_EQ(gpio_backend_sim.line_request(chip, &req, &l, &info, &eb), SG_OK);
	CHECK_EQ(gpio_backend_sim.line_get(l), 0);
	gpio_backend_sim.line_release(l);
	req.active_low = false;
	CHECK_EQ(gpio_backend_sim.line_request(chip, &req, &l, &info, &eb), SG_OK);
	CHECK_EQ(gpio_backend_sim.line_get(l), 1);
	gpio_backend_sim.line_release(l);
}

TEST(sim_queue_overflow_is_detected_by_seqno)
{
	struct gpio_line_cfg req = {.dir = GPIO_DIR_INPUT,
				    .edge = GPIO_EDGE_BOTH,
				    .sim_pattern = "1ms high, 1ms low",
				    .queue_depth = 8};
	struct gpio_port p;

	/* 200 edges pile up before the second read; the queue keeps 8. */
	sim_run(&p, &req, &edge_both, 200 * MS, 200 * MS);
	CHECK_EQ(p.lsm.st.overflows, 1);
	CHECK(p.lsm.st.lost >= 190);
	CHECK_EQ(p.lsm.st.raw, 8);
}

TEST(sim_outputs_keep_their_value)
{
	struct gpio_line_cfg req = {.dir = GPIO_DIR_OUTPUT, .initial = 1};
	struct gpio_chip *chip;
	struct gpio_line *l;
	struct gpio_line_info info;
	struct sg_errbuf eb;

	CHECK_EQ(gpio_backend_sim.chip_open("sim", &chip, &eb), SG_OK);
	CHECK_EQ(gpio_backend_sim.chip_open("gpiochip0", &chip, &eb), SG_ENOTFOUND);
	CHECK_EQ(gpio_backend_sim.chip_open("sim", &chip, &eb), SG_OK);
	CHECK_EQ(gpio_backend_sim.line_request(chip, &req, &l, &info, &eb), SG_OK);
	CHECK_EQ(gpio_backend_sim.line_get(l), 1);
	CHECK_EQ(gpio_backend_sim.line_set(l, 0), SG_OK);
	CHECK_EQ(gpio_backend_sim.line_get(l), 0);
	gpio_backend_sim.line_release(l);
}
