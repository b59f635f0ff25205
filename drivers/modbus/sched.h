/*
 * sched.h - which Modbus block runs next: the blocks of a plan in two
 * binary heaps by due time (ties by index), the healthy ones (that
 * answered last time) and the suspect ones (that timed out), so picking
 * the next request costs O(log blocks) instead of a scan of every block
 * (a bus of 400 devices polled every 10 ms spent three quarters of its
 * CPU in that scan).
 *
 * A block's key (its due time, and the heap by its timeouts) is taken when
 * it goes in, so the poll engine pops a block, runs it, and pushes it back
 * once its schedule has moved.  Not thread-safe: the source thread owns it
 * with the plan.
 */
#ifndef SG_MB_SCHED_H
#define SG_MB_SCHED_H

#include <stddef.h>
#include <stdint.h>

#include "plan.h"

struct mb_sched_ent {
	int64_t due; /* the block's due time when it went in */
	size_t bi;
};

struct mb_sched {
	struct mb_sched_ent *h[2]; /* 0: healthy, 1: suspect */
	size_t n[2], cap;
};

/* Every block of pl, in its heap.  Aborts when out of memory. */
void mb_sched_build(struct mb_sched *s, const struct mb_plan *pl);
/* Block bi (not in a heap) back in, by its current key. */
void mb_sched_push(struct mb_sched *s, const struct mb_plan *pl, size_t bi);
/* Take out the block to run at now: the earliest due healthy block, else
 * the earliest due suspect one; -1 if none is due. */
long mb_sched_pop_due(struct mb_sched *s, const struct mb_plan *pl, int64_t now);
/* The earliest due time of any block in the heaps; 0 if they are empty. */
int64_t mb_sched_next(const struct mb_sched *s, const struct mb_plan *pl);
void mb_sched_free(struct mb_sched *s);

#endif
