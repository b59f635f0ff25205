/*
 * internal.h - the spool's private state, shared by its files: spool.c
 * (appends, full-spool policies), segment.c (segment files), reader.c (the producer's
 * reader), cursor.c (the ack cursor, checkpoints, the flusher thread),
 * recover.c (opening a directory), layout.c (the order of segments) and
 * io.c (the I/O seam).  The offline tools (gateway/cli/cli_spool.c) use
 * the cursor loader and the layout check.
 */
#ifndef SG_SPOOL_INTERNAL_H
#define SG_SPOOL_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "gateway/base/log.h"
#include "gateway/core/metrics.h"
#include "spool.h"

#define SPOOL_PATH_MAX 4200
/* What the reader reads with one pread(2) at most (records up to this
 * size come from it; larger ones are read on their own). */
#define SPOOL_READ_CHUNK (64 * 1024)

struct seg {
	uint64_t first_seq; /* from the file name */
	uint64_t last_seq;  /* 0 while empty */
	uint64_t records;
	int64_t size;
	bool batches; /* version 2: a batch's frames carry SG_FRAME_MORE */
};

/* A range of seqs dropped while older records were in flight (tombstone). */
struct tomb {
	uint64_t first, last;
};

struct sg_spool {
	char *dir;
	int64_t fsync_ms, max_bytes, segment_bytes, ack_interval_ms, max_record;
	int when_full;
	uint64_t epoch;
	char epoch_hex[SG_EPOCH_HEX + 1];
	bool epoch_unsaved; /* made, not yet on disk (full disk at open) */

	/* Serialises appenders (taken before mu): the writer (wfd, the
	 * active segment's file) changes only under it, so a roll can drop
	 * mu while it syncs (segment.c, spool_roll). */
	pthread_mutex_t ap_mu;
	pthread_mutex_t mu;
	pthread_mutex_t ck_mu;  /* serialises checkpoints; guards saved_ack */
	pthread_mutex_t cur_mu; /* the cursor file (innermost lock) */
	pthread_cond_t space_cv, flush_cv;
	pthread_t flusher;
	bool flusher_running, stopping, closing;
	/* The end of the flusher's wait (mono ns): INT64_MAX while it waits
	 * without a timeout (nothing to do), 0 while it works. */
	int64_t flusher_until;
	uint64_t appends;       /* calls that wrote frames, ever */
	int64_t unsynced_since; /* mono ns of the first append not yet fsynced */

	struct seg *segs; /* oldest first; the last one is active if wfd >= 0 */
	size_t nsegs, capsegs;
	int wfd, lockfd;
	int64_t total_bytes;
	bool prealloc;      /* the filesystem preallocates (else: free-space checks) */
	bool act_reserved;  /* the rest of the active segment is preallocated */
	bool disk_full;     /* the last try to make room on disk failed */
	bool ck_wanted;     /* an append waits for the next checkpoint */
	struct tomb *tombs; /* sorted, above the cursor */
	size_t ntombs, captombs;

	uint64_t next_seq, written_seq, durable_seq, acked_seq, saved_ack;
	uint64_t vis_first; /* what the reader may read: segment and offset */
	int64_t vis_off;
	int64_t blocked_since;
	uint64_t dropped; /* when_full drops in this run */

	/* cursor file (under cur_mu) */
	int cfd;
	int cslot;                        /* the slot the next write goes to */
	uint64_t cur_written, cur_synced; /* highest seq written / fsynced */
	uint64_t hw;                      /* seq_hw written to the slots */
	uint8_t boot[SG_BOOT_ID_LEN];     /* this boot's id */
	_Atomic uint64_t hw_durable;      /* seq_hw known fsynced (0: none) */

	/* reader */
	uint64_t rpos_first, rfd_first, rseq, rewind_after;
	int64_t rpos_off, r_limit; /* r_limit: readable end in rpos_first */
	int rfd, evfd;
	/* The reader found nothing and may be waiting on evfd: the next
	 * record made visible writes it (spool_notify), the others do not. */
	atomic_bool reader_waiting;
	/* Read-ahead: bytes [rchunk_off, rchunk_off + rchunk_len) of the
	 * reader's segment (below the limit when read: never rewritten). */
	int64_t rchunk_off;
	size_t rchunk_len;
	uint8_t rchunk[SPOOL_READ_CHUNK];
	_Atomic uint64_t read_hi; /* highest seq ever handed to the producer */

	struct sg_spool_stats rec; /* recovery findings */
	/* One limiter per log site of this spool (sg_log_rl locks them). */
	struct sg_log_rl rl_io, rl_big, rl_full_newest, rl_full_oldest, rl_cursor, rl_disk,
	    rl_order;
	struct sg_counter *m_appended, *m_dropped_oldest, *m_dropped_newest, *m_blocked,
	    *m_errors_io, *m_errors_fsync, *m_errors_toolarge, *m_bytes, *m_pending, *m_segments,
	    *m_disk_full, *m_misordered;
};

/* segment.c (caller holds mu) */
struct seg *spool_seg_find(struct sg_spool *sp, uint64_t first_seq);
/* The segment appends go to, or NULL when there is none (full disk). */
struct seg *spool_active(struct sg_spool *sp);
/* Enough free space for need bytes plus the reserve?  Where the
 * filesystem does not preallocate. */
bool spool_free_ok(int fd, size_t need);
/* Seal the active segment (synced unless fsync never) and start a new
 * one; on failure the sealed one stays the writer.  Caller holds ap_mu
 * and mu, which is dropped while it syncs.  SG_OK, SG_ENOSPC, SG_EIO,
 * SG_ENOMEM. */
int spool_roll(struct sg_spool *sp);
/* Replace segs[i] (dropped) by its tombstone. */
void spool_seg_bury(struct sg_spool *sp, size_t i);
void spool_seg_path(const struct sg_spool *sp, uint64_t first_seq, char *out, size_t n);
/* Create a new active segment named next_seq, preallocated.  Caller
 * holds mu.  SG_OK, SG_ENOSPC (nothing left behind), SG_EIO, SG_ENOMEM. */
int spool_seg_create(struct sg_spool *sp);
/* Make fd (the active segment, size bytes) the writer and reserve the
 * rest of segment_bytes.  Caller holds mu. */
void spool_seg_activate(struct sg_spool *sp, int fd, int64_t size);
/* Remove segs[i] from the table and the disk.  Caller holds mu. */
void spool_seg_delete(struct sg_spool *sp, size_t i);
void spool_notify(struct sg_spool *sp);
/* Add a tombstone to the table (sorted insert).  Caller holds mu. */
void spool_tomb_add(struct sg_spool *sp, uint64_t first, uint64_t last);

/* Seqs reserved ahead of next_seq (the cursor's seq_hw, frame.h). */
#define SPOOL_SEQ_RESERVE (1u << 20)

/* cursor.c */
/* Open (create, or convert from the previous release's) the cursor
 * file at open, and reserve seqs from next_seq. */
int spool_cursor_open(struct sg_spool *sp, uint64_t ack);
/* Write seq to the cursor file in place (no fsync).  Takes cur_mu. */
int spool_cursor_write(struct sg_spool *sp, uint64_t seq);
/* Reserve seqs up to upto + SPOOL_SEQ_RESERVE durably (write, fsync).
 * Takes cur_mu.  SG_OK or SG_EIO. */
int spool_seq_reserve(struct sg_spool *sp, uint64_t upto);
/* fsync the cursor file if it moved since the last sync (per the fsync
 * policy).  Returns the seq durable in it, or 0 on failure.  cur_mu. */
uint64_t spool_cursor_sync(struct sg_spool *sp);
int spool_start_flusher(struct sg_spool *sp);
/* Read the ack cursor file; SG_ENOTFOUND if absent, SG_ECORRUPT if bad. */
int spool_load_cursor(const char *dir, struct sg_ack *a);

/* io.c: helpers over sg_spool_io */
int spool_io_write_all(int fd, const void *p, size_t n);
/* A small file written as tmp, fsync, rename, fsync dir. */
int spool_io_write_atomic(const char *dir, const char *name, const void *p, size_t n);
/* Errno of the last failed call as SG_ENOSPC or SG_EIO. */
int spool_io_err(void);

/* recover.c */
/* Load or make the epoch (sp->epoch, sp->epoch_hex).  fresh: no
 * segment and no cursor were found. */
int spool_epoch_load(struct sg_spool *sp, bool fresh);
int spool_epoch_save(struct sg_spool *sp);

#endif
