/*
 * test_gpio_line.c - the GPIO line state machine on scripted edges and
 * timestamps: edges, edge filters, software debounce (bursts, glitches,
 * settling by event time and by watermark), counting windows, sampling,
 * sequence gaps, and the mapping from config to request.
 */
#include <stdlib.h>

#include "drivers/gpio/gpio.h"
#include "drivers/gpio/line.h"
#include "t.h"

#define MS 1000000LL

static struct gpio_out outs[256];
static int nouts;

static void cap(void *arg, const struct gpio_out *o)
{
	(void)arg;
	if (nouts < (int)(sizeof(outs) / sizeof(outs[0])))
		outs[nouts++] = *o;
}

static void edge(struct gpio_lsm *m, int64_t t, bool rising)
{
	struct gpio_raw_event ev = {.ts_ns = t, .rising = rising};
	gpio_lsm_edge(m, &ev, t, cap, NULL);
}

static void setup(struct gpio_lsm *m, enum gpio_mode mode, enum gpio_edge e, bool both,
		  int64_t debounce, int64_t interval, int level)
{
	struct gpio_lsm_cfg c = {.mode = mode,
				 .edge = e,
				 .raw_both = both,
				 .debounce_ns = debounce,
				 .interval_ns = interval,
				 .emit_initial = true};
	nouts = 0;
	gpio_lsm_init(m, &c);
	gpio_lsm_start(m, level, 0, cap, NULL);
}

TEST(edges_pass_through_without_debounce)
{
	struct gpio_lsm m;

	setup(&m, GPIO_MODE_EDGE, GPIO_EDGE_BOTH, true, 0, 0, 0);
	CHECK_EQ(nouts, 1);
	CHECK_EQ(outs[0].kind, GPIO_OUT_LEVEL);
	CHECK(outs[0].initial);
	CHECK_EQ(outs[0].value, 0);
	edge(&m, 100 * MS, true);
	edge(&m, 200 * MS, false);
	CHECK_EQ(nouts, 3);
	CHECK_EQ(outs[1].kind, GPIO_OUT_EDGE);
	CHECK_EQ(outs[1].value, 1);
	CHECK_EQ(outs[1].t_mono, 100 * MS);
	CHECK_EQ(outs[2].value, 0);
	CHECK_EQ(outs[2].t_mono, 200 * MS);
	/* A repeated edge with both requested moves nothing. */
	edge(&m, 300 * MS, false);
	CHECK_EQ(nouts, 3);
	CHECK_EQ(m.st.repeats, 1);
}

TEST(edge_filter_keeps_only_rising)
{
	struct gpio_lsm m;

	setup(&m, GPIO_MODE_EDGE, GPIO_EDGE_RISING, true, 0, 0, 0);
	nouts = 0;
	edge(&m, 10 * MS, true);
	edge(&m, 20 * MS, false);
	edge(&m, 30 * MS, true);
	CHECK_EQ(nouts, 2);
	CHECK_EQ(outs[0].t_mono, 10 * MS);
	CHECK_EQ(outs[1].t_mono, 30 * MS);
	CHECK_EQ(outs[1].value, 1);
}

TEST(rising_only_from_kernel_is_each_an_edge)
{
	struct gpio_lsm m;

	setup(&m, GPIO_MODE_EDGE, GPIO_EDGE_RISING, false, 0, 0, -1);
	CHECK_EQ(nouts, 0); /* level unknown: no initial */
	edge(&m, 10 * MS, true);
	edge(&m, 20 * MS, true);
	edge(&m, 30 * MS, true);
	CHECK_EQ(nouts, 3);
	CHECK_EQ(outs[2].kind, GPIO_OUT_EDGE);
	CHECK_EQ(outs[2].t_mono, 30 * MS);
}

TEST(debounce_takes_a_burst_as_one_edge_at_its_first_edge)
{
	struct gpio_lsm m;

	setup(&m, GPIO_MODE_EDGE, GPIO_EDGE_BOTH, true, 10 * MS, 0, 0);
	nouts = 0;
	edge(&m, 100 * MS, true);
	edge(&m, 100 * MS + 500000, false);
	edge(&m, 101 * MS, true);
	edge(&m, 101 * MS + 200000, false);
	edge(&m, 102 * MS, true);
	gpio_lsm_advance(&m, 111 * MS, cap, NULL);
	CHECK_EQ(nouts, 0); /* stable for 9 ms only */
	CHECK_EQ(gpio_lsm_deadline(&m), 112 * MS);
	gpio_lsm_advance(&m, 112 * MS, cap, NULL);
	CHECK_EQ(nouts, 1);
	CHECK_EQ(outs[0].kind, GPIO_OUT_EDGE);
	CHECK_EQ(outs[0].value, 1);
	CHECK_EQ(outs[0].t_mono, 100 * MS);
	CHECK_EQ(m.st.bounces, 4);
	CHECK_EQ(m.st.accepted, 1);
	CHECK_EQ(gpio_lsm_deadline(&m), 0);
}

TEST(debounce_drops_a_glitch)
{
	struct gpio_lsm m;

	setup(&m, GPIO_MODE_EDGE, GPIO_EDGE_BOTH, true, 10 * MS, 0, 0);
	nouts = 0;
	edge(&m, 100 * MS, true);
	edge(&m, 103 * MS, false);
	gpio_lsm_advance(&m, 500 * MS, cap, NULL);
	CHECK_EQ(nouts, 0);
	CHECK_EQ(m.level, 0);
	CHECK_EQ(m.st.bounces, 2);
}

TEST(debounce_settles_on_the_next_event_time_alone)
{
	/* No clock involved: the later event's timestamp proves the first
	 * level was stable, so the output does not depend on when the
	 * reader ran. */
	struct gpio_lsm m;

	setup(&m, GPIO_MODE_EDGE, GPIO_EDGE_BOTH, true, 10 * MS, 0, 0);
	nouts = 0;
	edge(&m, 100 * MS, true);
	edge(&m, 500 * MS, false);
	CHECK_EQ(nouts, 1);
	CHECK_EQ(outs[0].value, 1);
	CHECK_EQ(outs[0].t_mono, 100 * MS);
	gpio_lsm_advance(&m, 510 * MS, cap, NULL);
	CHECK_EQ(nouts, 2);
	CHECK_EQ(outs[1].value, 0);
	CHECK_EQ(outs[1].t_mono, 500 * MS);
}

TEST(debounce_with_falling_filter_emits_presses_not_bounces)
{
	struct gpio_lsm m;

	setup(&m, GPIO_MODE_EDGE, GPIO_EDGE_FALLING, true, 20 * MS, 0, 1);
	nouts = 0;
	for (int press = 0; press < 3; press++) {
		int64_t t0 = (int64_t)press * 1000 * MS;
		/* press: 1 -> 0 with chatter; release 300 ms later */
		edge(&m, t0 + 1 * MS, false);
		edge(&m, t0 + 2 * MS, true);
		edge(&m, t0 + 3 * MS, false);
		edge(&m, t0 + 300 * MS, true);
		edge(&m, t0 + 301 * MS, false);
		edge(&m, t0 + 302 * MS, true);
	}
	gpio_lsm_advance(&m, 5000 * MS, cap, NULL);
	CHECK_EQ(nouts, 3);
	CHECK_EQ(outs[0].t_mono, 1 * MS);
	CHECK_EQ(outs[1].t_mono, 1001 * MS);
	CHECK_EQ(outs[2].t_mono, 2001 * MS);
	CHECK_EQ(m.level, 1);
}

TEST(count_emits_each_window_even_when_empty)
{
	struct gpio_lsm m;

	setup(&m, GPIO_MODE_COUNT, GPIO_EDGE_RISING, false, 0, 1000 * MS, 0);
	CHECK_EQ(nouts, 0);
	edge(&m, 100 * MS, true);
	edge(&m, 200 * MS, true);
	edge(&m, 300 * MS, true);
	CHECK_EQ(gpio_lsm_deadline(&m), 1000 * MS);
	gpio_lsm_advance(&m, 999 * MS, cap, NULL);
	CHECK_EQ(nouts, 0);
	edge(&m, 1500 * MS, true); /* closes window 1 by its own time */
	CHECK_EQ(nouts, 1);
	CHECK_EQ(outs[0].kind, GPIO_OUT_COUNT);
	CHECK_EQ(outs[0].count, 3);
	CHECK_EQ(outs[0].t_mono, 1000 * MS);
	CHECK_EQ(outs[0].window_ns, 1000 * MS);
	gpio_lsm_advance(&m, 3000 * MS, cap, NULL);
	CHECK_EQ(nouts, 3);
	CHECK_EQ(outs[1].count, 1);
	CHECK_EQ(outs[1].t_mono, 2000 * MS);
	CHECK_EQ(outs[2].count, 0);
	CHECK_EQ(outs[2].t_mono, 3000 * MS);
}

TEST(count_with_debounce_puts_a_burst_in_the_window_it_began)
{
	struct gpio_lsm m;

	setup(&m, GPIO_MODE_COUNT, GPIO_EDGE_RISING, true, 10 * MS, 1000 * MS, 0);
	edge(&m, 995 * MS, true);
	edge(&m, 996 * MS, false);
	edge(&m, 997 * MS, true);
	gpio_lsm_advance(&m, 1000 * MS, cap, NULL);
	CHECK_EQ(nouts, 0); /* window held: the burst has not settled */
	CHECK(gpio_lsm_deadline(&m) >= 1000 * MS);
	CHECK_EQ(gpio_lsm_deadline(&m), 1007 * MS);
	gpio_lsm_advance(&m, 1007 * MS, cap, NULL);
	CHECK_EQ(nouts, 1);
	CHECK_EQ(outs[0].count, 1);
	CHECK_EQ(outs[0].t_mono, 1000 * MS);
	CHECK_EQ(m.st.late, 0);
	/* the falling edge back is not counted (rising only) */
	edge(&m, 1500 * MS, false);
	gpio_lsm_advance(&m, 2000 * MS, cap, NULL);
	CHECK_EQ(nouts, 2);
	CHECK_EQ(outs[1].count, 0);
}

TEST(count_window_held_by_endless_chatter_closes_after_grace)
{
	struct gpio_lsm m;

	setup(&m, GPIO_MODE_COUNT, GPIO_EDGE_RISING, true, 10 * MS, 1000 * MS, 0);
	for (int64_t t = 990; t <= 1030; t += 2)
		edge(&m, t * MS, ((t / 2) & 1) == 1);
	/* the window closed at 1000 + 10 ms grace although chatter went on */
	CHECK_EQ(nouts, 1);
	CHECK_EQ(outs[0].count, 0);
	gpio_lsm_advance(&m, 1100 * MS, cap, NULL);
	CHECK_EQ(m.st.late, 1); /* counted in window 2, flagged late */
	gpio_lsm_advance(&m, 2000 * MS, cap, NULL);
	CHECK_EQ(nouts, 2);
	CHECK_EQ(outs[1].count, 1);
}

TEST(flush_emits_the_open_window_cut_short)
{
	struct gpio_lsm m;

	setup(&m, GPIO_MODE_COUNT, GPIO_EDGE_RISING, false, 0, 1000 * MS, 0);
	edge(&m, 100 * MS, true);
	edge(&m, 1200 * MS, true);
	edge(&m, 1300 * MS, true);
	CHECK_EQ(nouts, 1);
	CHECK(!outs[0].partial);
	gpio_lsm_flush(&m, 1400 * MS, cap, NULL);
	CHECK_EQ(nouts, 2);
	CHECK(outs[1].partial);
	CHECK_EQ(outs[1].count, 2);
	CHECK_EQ(outs[1].window_ns, 400 * MS);
	CHECK_EQ(outs[1].t_mono, 1400 * MS);
	gpio_lsm_flush(&m, 1400 * MS, cap, NULL); /* nothing open: nothing */
	CHECK_EQ(nouts, 2);
}

TEST(sample_emits_the_level_every_interval)
{
	struct gpio_lsm m;

	setup(&m, GPIO_MODE_SAMPLE, GPIO_EDGE_NONE, false, 0, 100 * MS, 0);
	CHECK_EQ(gpio_lsm_deadline(&m), 0 * MS);
	gpio_lsm_sample(&m, 1, 0, cap, NULL);
	CHECK_EQ(gpio_lsm_deadline(&m), 100 * MS);
	gpio_lsm_sample(&m, 0, 130 * MS, cap, NULL);
	CHECK_EQ(gpio_lsm_deadline(&m), 200 * MS);
	CHECK_EQ(nouts, 2);
	CHECK_EQ(outs[0].kind, GPIO_OUT_LEVEL);
	CHECK_EQ(outs[0].value, 1);
	CHECK_EQ(outs[1].value, 0);
	CHECK_EQ(outs[1].t_mono, 130 * MS);
}

TEST(seqno_gap_is_counted_and_marks_the_next_edge)
{
	struct gpio_lsm m;
	struct gpio_raw_event ev = {0};

	setup(&m, GPIO_MODE_EDGE, GPIO_EDGE_BOTH, true, 0, 0, 0);
	nouts = 0;
	for (uint64_t s = 1; s <= 2; s++) {
		ev.ts_ns = (int64_t)s * MS;
		ev.rising = s & 1;
		ev.has_seq = true;
		ev.line_seqno = ev.seqno = (uint32_t)s;
		gpio_lsm_edge(&m, &ev, ev.ts_ns, cap, NULL);
	}
	CHECK_EQ(nouts, 2);
	ev.ts_ns = 10 * MS;
	ev.rising = true;
	ev.line_seqno = ev.seqno = 5; /* 3 and 4 were dropped */
	gpio_lsm_edge(&m, &ev, ev.ts_ns, cap, NULL);
	CHECK_EQ(nouts, 4);
	CHECK_EQ(outs[2].kind, GPIO_OUT_OVERFLOW);
	CHECK_EQ(outs[2].lost, 2);
	CHECK(!outs[2].suspect);
	CHECK_EQ(outs[3].kind, GPIO_OUT_EDGE);
	CHECK_EQ(outs[3].lost, 2);
	CHECK_EQ(m.st.lost, 2);
	CHECK_EQ(m.st.overflows, 1);
	/* the mark is carried once */
	ev.ts_ns = 11 * MS;
	ev.rising = false;
	ev.line_seqno = ev.seqno = 6;
	gpio_lsm_edge(&m, &ev, ev.ts_ns, cap, NULL);
	CHECK_EQ(nouts, 5);
	CHECK_EQ(outs[4].lost, 0);
}

TEST(seqno_gap_before_the_first_read_counts_too)
{
	struct gpio_lsm m;
	struct gpio_raw_event ev = {
	    .ts_ns = MS, .rising = true, .has_seq = true, .line_seqno = 4, .seqno = 4};

	setup(&m, GPIO_MODE_COUNT, GPIO_EDGE_RISING, false, 0, 1000 * MS, 0);
	gpio_lsm_edge(&m, &ev, ev.ts_ns, cap, NULL);
	gpio_lsm_advance(&m, 1000 * MS, cap, NULL);
	CHECK_EQ(nouts, 2);
	CHECK_EQ(outs[0].kind, GPIO_OUT_OVERFLOW);
	CHECK_EQ(outs[0].lost, 3);
	CHECK_EQ(outs[1].kind, GPIO_OUT_COUNT);
	CHECK_EQ(outs[1].count, 1);
	CHECK_EQ(outs[1].lost, 3);
}

TEST(seqno_wraps_at_32_bits_without_a_false_gap)
{
	struct gpio_lsm m;
	struct gpio_raw_event ev = {.has_seq = true};
	const uint32_t seqs[] = {0xfffffffeu, 0xffffffffu, 0, 1, 4, 4};

	setup(&m, GPIO_MODE_COUNT, GPIO_EDGE_RISING, false, 0, 1000 * MS, 0);
	m.last_line_seqno = 0xfffffffdu; /* four billion events later */
	for (size_t i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++) {
		ev.ts_ns = (int64_t)(i + 1) * MS;
		ev.rising = true;
		ev.line_seqno = ev.seqno = seqs[i];
		gpio_lsm_edge(&m, &ev, ev.ts_ns, cap, NULL);
	}
	CHECK_EQ(m.st.lost, 2); /* 2 and 3 */
	CHECK_EQ(m.st.overflows, 1);
	CHECK_EQ(m.st.reorders, 1); /* the repeated 4 */
	CHECK_EQ(m.last_line_seqno, 4);
}

TEST(time_going_backwards_is_counted_and_clamped)
{
	struct gpio_lsm m;

	setup(&m, GPIO_MODE_EDGE, GPIO_EDGE_BOTH, true, 0, 0, 0);
	nouts = 0;
	edge(&m, 100 * MS, true);
	edge(&m, 50 * MS, false);
	CHECK_EQ(m.st.reorders, 1);
	CHECK_EQ(nouts, 2);
	CHECK_EQ(outs[1].t_mono, 100 * MS);
}

TEST(clock_guess_picks_the_nearer_clock)
{
	int64_t mono = 5000LL * 1000000000LL, real = 1764000000LL * 1000000000LL;

	CHECK_EQ(gpio_clock_guess(mono - 3 * MS, mono, real), GPIO_CLOCK_MONOTONIC);
	CHECK_EQ(gpio_clock_guess(real - 3 * MS, mono, real), GPIO_CLOCK_REALTIME);
	CHECK_EQ(gpio_clock_guess(real + 3 * MS, mono, real), GPIO_CLOCK_REALTIME);
}

TEST(parse_offset_or_name)
{
	unsigned o = 99;

	CHECK(gpio_parse_offset("17", &o));
	CHECK_EQ(o, 17);
	CHECK(!gpio_parse_offset("GPIO17", &o));
	CHECK(!gpio_parse_offset("", &o));
	CHECK(!gpio_parse_offset("99999", &o));
}

TEST(config_maps_software_and_kernel_debounce)
{
	struct gpio_conf c = {.chip = "/dev/gpiochip0", .consumer = "t"};
	struct gpio_line_conf lc = {.id = "b",
				    .line = "17",
				    .mode = GPIO_MODE_EDGE,
				    .edge = GPIO_CE_FALLING,
				    .debounce_ms = 20,
				    .debounce_by = GPIO_DB_AUTO,
				    .bias = GPIO_BIAS_PULL_UP,
				    .active_low = true,
				    .interval_ms = 1000};
	struct gpio_line_cfg req;
	struct gpio_lsm_cfg lsm;

	gpio_conf_request(&c, &lc, false, &req, &lsm); /* libgpiod 1 */
	CHECK(!req.name);
	CHECK_EQ(req.offset, 17);
	CHECK_EQ(req.edge, GPIO_EDGE_BOTH);
	CHECK_EQ(req.debounce_us, 0);
	CHECK_EQ(lsm.debounce_ns, 20 * MS);
	CHECK_EQ(lsm.edge, GPIO_EDGE_FALLING);
	CHECK(lsm.raw_both);
	CHECK(req.active_low);
	CHECK_EQ(req.bias, GPIO_BIAS_PULL_UP);

	gpio_conf_request(&c, &lc, true, &req, &lsm); /* libgpiod 2 */
	CHECK_EQ(req.edge, GPIO_EDGE_FALLING);
	CHECK_EQ(req.debounce_us, 20000);
	CHECK_EQ(lsm.debounce_ns, 0);
	CHECK(!lsm.raw_both);

	lc.debounce_by = GPIO_DB_SOFTWARE;
	gpio_conf_request(&c, &lc, true, &req, &lsm);
	CHECK_EQ(req.debounce_us, 0);
	CHECK_EQ(lsm.debounce_ns, 20 * MS);

	lc.line = "GPIO17";
	lc.mode = GPIO_MODE_COUNT;
	lc.edge = GPIO_CE_AUTO;
	lc.debounce_ms = 0;
	gpio_conf_request(&c, &lc, false, &req, &lsm);
	CHECK_STR(req.name, "GPIO17");
	CHECK_EQ(req.edge, GPIO_EDGE_RISING);
	CHECK_EQ(lsm.edge, GPIO_EDGE_RISING);
	CHECK_EQ(lsm.interval_ns, 1000 * MS);

	lc.mode = GPIO_MODE_SAMPLE;
	gpio_conf_request(&c, &lc, false, &req, &lsm);
	CHECK_EQ(req.edge, GPIO_EDGE_NONE);
}
