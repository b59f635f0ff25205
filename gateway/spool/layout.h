/*
 * layout.h - the order of a spool's segments, judged from what their
 * frames say rather than from their names: which segments are in seq
 * order, which are misnamed (a rename, a copy), which overlap another,
 * and every seq gap above the cursor, told apart from the gaps that
 * `when_full: drop_oldest` left on purpose (tombstones).  Pure: recovery
 * acts on the verdicts, `sensorgate spool verify` prints them.  Any
 * thread.
 */
#ifndef SG_SPOOL_LAYOUT_H
#define SG_SPOOL_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frame.h"

enum sg_seg_verdict {
	SG_SEG_KEEP,    /* in order, name agrees with its records */
	SG_SEG_RENAME,  /* in order, but named after another seq: rename to first */
	SG_SEG_OVERLAP, /* its seqs overlap an earlier segment's: move aside */
	SG_SEG_EMPTY,   /* no record (delete, or reuse when last) */
	SG_SEG_ALIEN,   /* a header of another version, or unreadable */
};

/* One segment file: filled by the caller (name, size, scan), judged by
 * sg_layout_check(). */
struct sg_seg_info {
	uint64_t name;   /* the seq in its file name */
	bool tmp_name;   /* named "<name>.seg.ren": a rename cut short by a crash */
	bool unreadable; /* could not be opened or mapped (sc is empty) */
	int64_t size;
	struct sg_seg_scan sc;
	enum sg_seg_verdict verdict;
	uint64_t gap_before;     /* seqs missing just before it, unexplained */
	uint64_t dropped_before; /* of those gaps, covered by tombstones */
	bool keep;               /* recovery: in the table after it */
};

/* A seq range (tombstone: dropped by policy). */
struct sg_seq_range {
	uint64_t first, last;
};

struct sg_layout {
	uint64_t segments, records;
	uint64_t gaps, gap_records;     /* unexplained missing seqs above the cursor */
	uint64_t dropped_records;       /* missing seqs covered by tombstones */
	uint64_t misnamed, overlapping; /* segments */
	uint64_t first_seq, last_seq;   /* over the kept segments' records */
	uint64_t max_seq;               /* highest seq any name or record claims */
};

/*
 * Sort v[0..n) into seq order (by first record; empty ones by name) and
 * judge every segment against the cursor ack and the tombstones t[0..nt)
 * (sorted or not).  Gaps at or below ack are delivered and deleted, not
 * lost.  A corrupt stretch at a segment's start is counted by its scan,
 * not again as a gap.
 */
void sg_layout_check(struct sg_seg_info *v, size_t n, const struct sg_seq_range *t, size_t nt,
		     uint64_t ack, struct sg_layout *out);

#endif
