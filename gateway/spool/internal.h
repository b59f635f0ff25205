/*
 * internal.h - the spool's private state, shared by spool.c (live
 * operation) and recover.c (opening an existing directory), and read by
 * the offline tools (gateway/cli/cli_spool.c) for the cursor loader.
 */
#ifndef SG_SPOOL_INTERNAL_H
#define SG_SPOOL_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "gateway/base/log.h"
#include "gateway/core/metrics.h"
#include "spool.h"

struct seg {
	uint64_t first_seq; /* from the file name */
	uint64_t last_seq;  /* 0 while empty */
	uint64_t records;
	int64_t size;
};

struct sg_spool {
	char *dir;
	int64_t fsync_ms, max_bytes, segment_bytes, ack_interval_ms, max_record;
	int when_full;

	pthread_mutex_t mu;
	pthread_mutex_t ck_mu; /* serialises checkpoints; guards saved_ack */
	pthread_cond_t space_cv, flush_cv;
	pthread_t flusher;
	bool flusher_running, stopping, closing;

	struct seg *segs; /* oldest first; the last one is active */
	size_t nsegs, capsegs;
	int wfd, lockfd;
	int64_t total_bytes;

	uint64_t next_seq, written_seq, durable_seq, acked_seq, saved_ack;
	uint64_t durable_first; /* durable position: segment and offset */
	int64_t durable_off;
	int64_t blocked_since;

	/* reader */
	uint64_t rpos_first, rfd_first, rseq, rewind_after;
	int64_t rpos_off, r_limit; /* r_limit: readable end in rpos_first */
	int rfd, evfd;

	struct sg_spool_stats rec; /* recovery findings */
	/* One limiter per log site of this spool (sg_log_rl locks them). */
	struct sg_log_rl rl_io, rl_big, rl_full_newest, rl_full_oldest, rl_cursor;
	struct sg_counter *m_appended, *m_dropped_oldest, *m_dropped_newest, *m_blocked,
	    *m_errors_io, *m_errors_fsync, *m_errors_toolarge, *m_bytes, *m_pending, *m_segments;
};

struct seg *spool_seg_find(struct sg_spool *sp, uint64_t first_seq);
void spool_seg_path(const struct sg_spool *sp, uint64_t first_seq, char *out, size_t n);
int spool_seg_create(struct sg_spool *sp);
int spool_save_cursor(struct sg_spool *sp, uint64_t seq);
int spool_start_flusher(struct sg_spool *sp);
/* Read the ack cursor file; SG_ENOTFOUND if absent, SG_ECORRUPT if bad. */
int spool_load_cursor(const char *dir, uint64_t *seq);

#endif
