/*
 * test_modbus_plan.c - Modbus request planning: coalescing, gaps, the
 * 125-register / 2000-bit limits, grouping by device, area and interval,
 * isolation of rejected blocks, and the drift-free tick arithmetic.
 */
#include <stdlib.h>

#include "drivers/modbus/plan.h"
#include "t.h"

#define MS 1000000LL

static struct mb_span span(int dev, enum mb_area a, int addr, int count)
{
	return (struct mb_span){
	    .dev = dev, .area = a, .addr = addr, .count = count, .interval_ns = 1000 * MS};
}

TEST(contiguous_points_make_one_request)
{
	struct mb_span sp[] = {span(0, MB_A_HOLDING, 4, 2), span(0, MB_A_HOLDING, 0, 2),
			       span(0, MB_A_HOLDING, 2, 2), span(0, MB_A_HOLDING, 6, 4)};
	struct mb_plan pl;

	CHECK_EQ(mb_plan_build(&pl, sp, 4, 0), 0);
	CHECK_EQ(pl.n, 1);
	CHECK_EQ(pl.b[0].addr, 0);
	CHECK_EQ(pl.b[0].count, 10);
	CHECK_EQ(pl.b[0].npts, 4);
	mb_plan_free(&pl);
}

TEST(gaps_split_unless_max_gap_bridges_them)
{
	struct mb_span sp[] = {span(0, MB_A_INPUT, 0, 2), span(0, MB_A_INPUT, 5, 1),
			       span(0, MB_A_INPUT, 20, 1)};
	struct mb_plan pl;

	CHECK_EQ(mb_plan_build(&pl, sp, 3, 0), 0);
	CHECK_EQ(pl.n, 3);
	mb_plan_free(&pl);
	CHECK_EQ(mb_plan_build(&pl, sp, 3, 3), 0); /* 2..4 bridged, 6..19 not */
	CHECK_EQ(pl.n, 2);
	CHECK_EQ(pl.b[0].addr, 0);
	CHECK_EQ(pl.b[0].count, 6);
	CHECK_EQ(pl.b[1].addr, 20);
	mb_plan_free(&pl);
	CHECK_EQ(mb_plan_build(&pl, sp, 3, 14), 0);
	CHECK_EQ(pl.n, 1);
	CHECK_EQ(pl.b[0].count, 21);
	mb_plan_free(&pl);
}

TEST(overlapping_points_share_a_block)
{
	/* the same registers read as f32 and as two u16 */
	struct mb_span sp[] = {span(0, MB_A_HOLDING, 10, 2), span(0, MB_A_HOLDING, 10, 1),
			       span(0, MB_A_HOLDING, 11, 1)};
	struct mb_plan pl;

	CHECK_EQ(mb_plan_build(&pl, sp, 3, 0), 0);
	CHECK_EQ(pl.n, 1);
	CHECK_EQ(pl.b[0].count, 2);
	CHECK_EQ(pl.b[0].npts, 3);
	mb_plan_free(&pl);
}

TEST(register_limit_is_125)
{
	struct mb_span sp[130];
	struct mb_plan pl;

	for (int i = 0; i < 130; i++)
		sp[i] = span(0, MB_A_HOLDING, i, 1);
	CHECK_EQ(mb_plan_build(&pl, sp, 130, 0), 0);
	CHECK_EQ(pl.n, 2);
	CHECK_EQ(pl.b[0].count, 125);
	CHECK_EQ(pl.b[1].addr, 125);
	CHECK_EQ(pl.b[1].count, 5);
	mb_plan_free(&pl);
	/* a 4-register value never straddles two requests */
	for (int i = 0; i < 32; i++)
		sp[i] = span(0, MB_A_HOLDING, i * 4, 4);
	CHECK_EQ(mb_plan_build(&pl, sp, 32, 0), 0);
	CHECK_EQ(pl.n, 2);
	CHECK_EQ(pl.b[0].count, 124);
	CHECK_EQ(pl.b[1].addr, 124);
	mb_plan_free(&pl);
}

TEST(bit_limit_is_2000)
{
	struct mb_span *sp = calloc(2100, sizeof(*sp));
	struct mb_plan pl;

	for (int i = 0; i < 2100; i++)
		sp[i] = span(0, MB_A_COIL, i, 1);
	CHECK_EQ(mb_plan_build(&pl, sp, 2100, 0), 0);
	CHECK_EQ(pl.n, 2);
	CHECK_EQ(pl.b[0].count, 2000);
	CHECK_EQ(pl.b[1].count, 100);
	mb_plan_free(&pl);
	free(sp);
}

TEST(devices_areas_and_intervals_never_mix)
{
	struct mb_span sp[] = {span(0, MB_A_HOLDING, 0, 1), span(1, MB_A_HOLDING, 1, 1),
			       span(0, MB_A_INPUT, 1, 1), span(0, MB_A_HOLDING, 1, 1),
			       span(0, MB_A_HOLDING, 2, 1)};
	struct mb_plan pl;

	sp[4].interval_ns = 5000 * MS;
	CHECK_EQ(mb_plan_build(&pl, sp, 5, 10), 0);
	CHECK_EQ(pl.n, 4);
	for (size_t i = 0; i < pl.n; i++)
		for (int j = 0; j < pl.b[i].npts; j++) {
			const struct mb_span *s = &sp[pl.b[i].pts[j]];
			CHECK_EQ(s->dev, pl.b[i].dev);
			CHECK_EQ(s->area, pl.b[i].area);
			CHECK_EQ(s->interval_ns, pl.b[i].interval_ns);
			CHECK(s->addr >= pl.b[i].addr &&
			      s->addr + s->count <= pl.b[i].addr + pl.b[i].count);
		}
	mb_plan_free(&pl);
}

TEST(invalid_spans_are_refused)
{
	struct mb_span sp[] = {span(0, MB_A_HOLDING, 65535, 2)};
	struct mb_plan pl;

	CHECK(mb_plan_build(&pl, sp, 1, 0) != 0);
	sp[0] = span(0, MB_A_HOLDING, 0, 126);
	CHECK(mb_plan_build(&pl, sp, 1, 0) != 0);
	CHECK_EQ(mb_plan_build(&pl, NULL, 0, 0), 0); /* nothing to read */
	CHECK_EQ(pl.n, 0);
	mb_plan_free(&pl);
}

TEST(isolate_splits_per_point_range)
{
	struct mb_span sp[] = {span(0, MB_A_HOLDING, 0, 2), span(0, MB_A_HOLDING, 2, 1),
			       span(0, MB_A_HOLDING, 0, 2), span(0, MB_A_HOLDING, 3, 1),
			       span(1, MB_A_HOLDING, 0, 1)};
	struct mb_plan pl;
	int seen[4] = {0};

	CHECK_EQ(mb_plan_build(&pl, sp, 5, 0), 0);
	CHECK_EQ(pl.n, 2);
	size_t bi = pl.b[0].dev == 0 ? 0 : 1;
	pl.b[bi].start_ns = 7;
	pl.b[bi].tick = 3;
	CHECK_EQ(mb_plan_isolate(&pl, bi, sp), 3); /* 0..1 (twice), 2, 3 */
	CHECK_EQ(pl.n, 4);
	for (size_t i = 0; i < pl.n; i++) {
		if (pl.b[i].dev != 0)
			continue;
		CHECK(pl.b[i].isolated);
		CHECK_EQ(pl.b[i].start_ns, 7);
		CHECK_EQ(pl.b[i].tick, 3);
		for (int j = 0; j < pl.b[i].npts; j++) {
			const struct mb_span *s = &sp[pl.b[i].pts[j]];
			CHECK_EQ(s->addr, pl.b[i].addr);
			CHECK_EQ(s->count, pl.b[i].count);
			seen[pl.b[i].pts[j]]++;
		}
	}
	for (int i = 0; i < 4; i++)
		CHECK_EQ(seen[i], 1);
	/* a block of one range cannot be split further */
	for (size_t i = 0; i < pl.n; i++)
		if (pl.b[i].dev == 0 && pl.b[i].npts == 2) {
			CHECK_EQ(mb_plan_isolate(&pl, i, sp), 1);
			CHECK_EQ(pl.n, 4);
		}
	mb_plan_free(&pl);
}

TEST(schedule_is_drift_free)
{
	struct mb_block b = {.interval_ns = 100 * MS, .start_ns = 1000 * MS};

	/* run each tick 30 ms late: the next stays on the grid */
	for (int k = 0; k < 50; k++) {
		CHECK_EQ(mb_block_due(&b), 1000 * MS + k * 100 * MS);
		CHECK_EQ(mb_block_advance(&b, mb_block_due(&b) + 30 * MS), 0);
	}
	CHECK_EQ(mb_block_due(&b), 1000 * MS + 50 * 100 * MS);
}

TEST(schedule_skips_ticks_missed_by_a_whole_interval)
{
	struct mb_block b = {.interval_ns = 100 * MS, .start_ns = 0};

	/* tick 0 run at 350 ms: ticks 1 and 2 are gone, 3 (300 ms) is due */
	CHECK_EQ(mb_block_advance(&b, 350 * MS), 2);
	CHECK_EQ(b.tick, 3);
	CHECK_EQ(mb_block_due(&b), 300 * MS);
	/* tick 3 run at 390 ms: on time, the next is 400 ms */
	CHECK_EQ(mb_block_advance(&b, 390 * MS), 0);
	CHECK_EQ(mb_block_due(&b), 400 * MS);
	/* late by less than an interval: not skipped */
	CHECK_EQ(mb_block_advance(&b, 480 * MS), 0);
	CHECK_EQ(mb_block_due(&b), 500 * MS);
}
