/*
 * layout.c - judging the order of a spool's segments (layout.h).
 */
#include "layout.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Where a segment sits in seq order: its first record, or its name. */
static uint64_t info_key(const struct sg_seg_info *s)
{
	return s->sc.records ? s->sc.first_seq : s->name;
}

static int cmp_info(const void *a, const void *b)
{
	const struct sg_seg_info *x = a, *y = b;
	uint64_t kx = info_key(x), ky = info_key(y);

	if (kx != ky)
		return kx < ky ? -1 : 1;
	/* Same first seq: the one named for it first (the other overlaps). */
	return (x->name != kx || x->tmp_name) - (y->name != ky || y->tmp_name);
}

/* Seqs of [lo, hi] covered by the tombstones. */
static uint64_t covered(const struct sg_seq_range *t, size_t nt, uint64_t lo, uint64_t hi)
{
	uint64_t n = 0;

	for (size_t i = 0; i < nt; i++) {
		uint64_t a = t[i].first > lo ? t[i].first : lo;
		uint64_t b = t[i].last < hi ? t[i].last : hi;
		if (a <= b)
			n += b - a + 1;
	}
	return n;
}

/* The missing seqs (prev, first) of a segment in order, above ack. */
static void judge_gap(struct sg_seg_info *s, uint64_t prev, uint64_t ack,
		      const struct sg_seq_range *t, size_t nt, struct sg_layout *out)
{
	uint64_t lo = (prev > ack ? prev : ack) + 1, hi = s->sc.first_seq - 1;
	uint64_t missing, dropped;

	if (s->sc.first_seq <= lo)
		return;
	/* A corrupt stretch at the start hid the seqs from its name on:
	 * the scan counted those. */
	if (s->sc.lead_corrupt && s->name > lo && s->name <= s->sc.first_seq)
		hi = s->name - 1;
	if (hi < lo)
		return;
	missing = hi - lo + 1;
	dropped = covered(t, nt, lo, hi);
	s->dropped_before = dropped;
	s->gap_before = missing - dropped;
	out->dropped_records += dropped;
	if (s->gap_before) {
		out->gaps++;
		out->gap_records += s->gap_before;
	}
}

/* Name agrees with the records: after the previous segment's last seq
 * and not after its own first. */
static bool name_agrees(const struct sg_seg_info *s, uint64_t prev)
{
	return s->name > prev && s->name <= s->sc.first_seq;
}

void sg_layout_check(struct sg_seg_info *v, size_t n, const struct sg_seq_range *t, size_t nt,
		     uint64_t ack, struct sg_layout *out)
{
	uint64_t prev = 0; /* last seq of the kept segments so far */

	memset(out, 0, sizeof(*out));
	if (n)
		qsort(v, n, sizeof(*v), cmp_info);
	for (size_t i = 0; i < n; i++) {
		struct sg_seg_info *s = &v[i];

		s->gap_before = s->dropped_before = 0;
		if (s->name > out->max_seq)
			out->max_seq = s->name;
		if (s->sc.records && s->sc.last_seq > out->max_seq)
			out->max_seq = s->sc.last_seq;
		if (s->sc.unknown_version || s->unreadable) {
			s->verdict = SG_SEG_ALIEN;
			continue;
		}
		if (!s->sc.records) {
			s->verdict = SG_SEG_EMPTY;
			continue;
		}
		if (s->sc.first_seq <= prev) {
			s->verdict = SG_SEG_OVERLAP;
			out->overlapping++;
			continue;
		}
		judge_gap(s, prev, ack, t, nt, out);
		s->verdict = name_agrees(s, prev) && !s->tmp_name ? SG_SEG_KEEP : SG_SEG_RENAME;
		out->misnamed += s->verdict == SG_SEG_RENAME;
		if (!out->first_seq)
			out->first_seq = s->sc.first_seq;
		out->last_seq = s->sc.last_seq;
		out->segments++;
		out->records += s->sc.records;
		prev = s->sc.last_seq;
	}
}
