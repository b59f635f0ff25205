/*
 * plan.h - request planning and the drift-free schedule.
 *
 * Points of one device, one area (coils, discrete inputs, input or holding
 * registers) and one poll interval are coalesced into blocks: sorted by
 * address, a point joins the current block when the gap before it is at
 * most max_gap items and the block stays within one request (125
 * registers, 2000 bits).  A block the device rejects with ILLEGAL DATA
 * ADDRESS is isolated: split into one block per point, so one bad address
 * costs only its own point.
 *
 * The plan owns its blocks and their point-index arrays; the point spans
 * are the caller's.  Not thread-safe: one source thread owns a plan.
 */
#ifndef SG_MB_PLAN_H
#define SG_MB_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MB_MAX_REGS 125
#define MB_MAX_BITS 2000

enum mb_area { MB_A_COIL, MB_A_DISCRETE, MB_A_INPUT, MB_A_HOLDING };
extern const char *const mb_area_names[];

static inline bool mb_area_is_bits(enum mb_area a)
{
	return a == MB_A_COIL || a == MB_A_DISCRETE;
}

/* What a point needs read: the planner's whole view of a point. */
struct mb_span {
	int dev;
	enum mb_area area;
	int addr;  /* 0..65535 */
	int count; /* registers or bits, >= 1 */
	int64_t interval_ns;
};

struct mb_block {
	int dev;
	enum mb_area area;
	int addr, count;
	int64_t interval_ns;
	int *pts; /* indices into the span array */
	int npts;
	bool isolated;     /* result of a split: never merged again */
	uint32_t timeouts; /* consecutive timeouts (a suspect block) */
	/* schedule: tick k is due at start_ns + k * interval_ns */
	int64_t start_ns;
	uint64_t tick;
};

struct mb_plan {
	struct mb_block *b;
	size_t n, cap;
};

/* Build the blocks for n spans.  max_gap: items (registers or bits) that
 * may be read and discarded to join two points.  SG_OK or SG_EINVAL (a
 * span wider than one request or past address 65535). */
int mb_plan_build(struct mb_plan *pl, const struct mb_span *sp, size_t n, int max_gap);
/* Split block bi into one block per distinct point range, appended at the
 * end (bi keeps the first).  The schedule is copied.  Returns the number
 * of blocks that replace bi (1 if there was nothing to split). */
int mb_plan_isolate(struct mb_plan *pl, size_t bi, const struct mb_span *sp);
void mb_plan_free(struct mb_plan *pl);

/* Due time of a block's current tick. */
static inline int64_t mb_block_due(const struct mb_block *b)
{
	return b->start_ns + (int64_t)b->tick * b->interval_ns;
}
/* Advance a block past its current tick, run at `now`.  A tick overdue by
 * a whole interval or more is skipped (a late poll is not repeated in a
 * burst); returns how many were skipped. */
uint64_t mb_block_advance(struct mb_block *b, int64_t now);

#endif
