/*
 * inspect.h - a read-only look at a spool directory, shared by recovery
 * (recover.c acts on it) and the offline tools (`sensorgate spool stat`,
 * `dump`, `verify`): the segments with what their frames say, judged in
 * seq order (layout.h), the tombstones, both cursor slots, the epoch,
 * what recovery moved aside, stray files, and the space used.  Nothing
 * here writes; it works while a gateway runs (the picture may then move).
 * Any thread; one inspection per struct.
 */
#ifndef SG_SPOOL_INSPECT_H
#define SG_SPOOL_INSPECT_H

#include <stdbool.h>
#include <stdint.h>

#include "frame.h"
#include "layout.h"

struct sg_spool_inspect {
	/* segments, in seq order after sg_spool_inspect(), and the verdicts */
	struct sg_seg_info *segs;
	size_t nsegs;
	struct sg_seq_range *tombs;
	size_t ntombs;
	struct sg_layout lay;

	int cursor_rc;      /* SG_OK, SG_ENOTFOUND, SG_ECORRUPT (no valid slot) */
	uint64_t ack;       /* the cursor (0 unless SG_OK) */
	struct sg_ack cur;  /* the cursor as decoded */
	int cursor_slots;   /* 2, 1 (the previous release's format) or 0 */
	bool slot_valid[2]; /* a torn slot is invalid, the other one holds */
	struct sg_ack slot[2];
	int epoch_rc; /* SG_OK, SG_ENOTFOUND, SG_ECORRUPT */
	uint64_t epoch;

	uint64_t aside_files, aside_records; /* in corrupt/: files, intact records */
	uint64_t stray;                      /* temporary files left by a crash */
	uint64_t disk_bytes;                 /* allocated by every file (st_blocks) */
	uint64_t fs_free;                    /* free bytes on the filesystem */
	long holder_pid;                     /* a gateway holding the lock, or 0 */
};

/*
 * Look at dir, with frames up to maxlen bytes.  A segment that cannot be
 * read is listed as unreadable; one deleted since the listing is left
 * out.  tools: also corrupt/, the lock holder and the free space, and a
 * message on stderr per unreadable segment (recovery needs none of it).
 * SG_OK, or SG_EIO if the directory cannot be listed, SG_ENOMEM.  Free
 * with sg_spool_inspect_free() in every case.
 */
int sg_spool_inspect(const char *dir, uint32_t maxlen, bool tools, struct sg_spool_inspect *in);
void sg_spool_inspect_free(struct sg_spool_inspect *in);

/* The path of segment s (with ".ren" when it has a temporary name). */
void sg_spool_seg_path(const char *dir, const struct sg_seg_info *s, char *out, size_t n);
/* Scan segment s of dir again, calling fn for every valid frame (dump).
 * SG_OK, or SG_EIO if it cannot be read now (deleted since: delivered). */
int sg_spool_seg_frames(const char *dir, const struct sg_seg_info *s, uint32_t maxlen,
			sg_frame_fn fn, void *arg);

#endif
