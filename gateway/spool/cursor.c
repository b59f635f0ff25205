/*
 * cursor.c - how far delivery has advanced, and what that frees: the ack
 * cursor file (two slots overwritten in place, frame.h), acks from the
 * producer, checkpoints (sync the cursor, delete delivered segments and
 * tombstones), group commit, the flusher thread and closing the spool.
 *
 * The cursor is written as acks arrive, with one pwrite(2) into the page
 * cache: a process crash (kill -9) then re-sends only what was in flight.
 * It is fsynced per the fsync policy by the flusher, which bounds what a
 * power cut re-sends.  Deleting delivered segments does not wait for the
 * cursor write to succeed: a full or failing disk must still be able to
 * free itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/base/fs.h"
#include "gateway/base/log.h"
#include "frame.h"
#include "internal.h"

int spool_load_cursor(const char *dir, struct sg_ack *a)
{
	char path[SPOOL_PATH_MAX], *data = NULL;
	size_t len = 0;
	int rc;

	snprintf(path, sizeof(path), "%s/ack", dir);
	rc = sg_read_file(path, 256, &data, &len);
	if (rc == SG_EINVAL)
		return SG_ECORRUPT; /* larger than any cursor file */
	if (rc != SG_OK)
		return rc;
	if (sg_ack_decode(data, len, a) != 0)
		rc = SG_ECORRUPT;
	free(data);
	return rc;
}

/* Slot bytes for acked with the current seq_hw and boot.  cur_mu. */
static void cursor_slot(const struct sg_spool *sp, uint64_t acked, uint8_t b[SG_ACK_SLOT_LEN])
{
	struct sg_ack a = {.acked = acked, .seq_hw = sp->hw};

	memcpy(a.boot, sp->boot, sizeof(a.boot));
	sg_ack_encode(b, &a);
}

/* Write slot cslot (and turn to the other).  cur_mu. */
static int cursor_put(struct sg_spool *sp, uint64_t acked)
{
	uint8_t b[SG_ACK_SLOT_LEN];

	cursor_slot(sp, acked, b);
	if (sg_spool_io.pwrite(sp->cfd, b, sizeof(b), (off_t)sp->cslot * SG_ACK_SLOT_LEN) !=
	    (ssize_t)sizeof(b))
		return spool_io_err();
	sp->cslot ^= 1;
	sp->cur_written = acked;
	return SG_OK;
}

/* Both slots = acked, as a new file (tmp, fsync, rename), then open it.
 * Durable when it returns SG_OK.  cur_mu. */
static int cursor_create(struct sg_spool *sp, uint64_t acked)
{
	uint8_t b[SG_ACK_FILE_LEN];
	char path[SPOOL_PATH_MAX];
	int rc;

	cursor_slot(sp, acked, b);
	cursor_slot(sp, acked, b + SG_ACK_SLOT_LEN);
	rc = spool_io_write_atomic(sp->dir, "ack", b, sizeof(b));
	if (rc != SG_OK)
		return rc;
	snprintf(path, sizeof(path), "%s/ack", sp->dir);
	sp->cfd = sg_spool_io.open(path, O_RDWR | O_CLOEXEC, 0600);
	if (sp->cfd < 0)
		return spool_io_err();
	sp->cslot = 0;
	sp->cur_written = sp->cur_synced = acked;
	atomic_store(&sp->hw_durable, sp->hw);
	return SG_OK;
}

/* Both slots = acked in the open file, synced.  cur_mu. */
static int cursor_put_both(struct sg_spool *sp, uint64_t acked)
{
	int rc = cursor_put(sp, acked);

	if (rc == SG_OK)
		rc = cursor_put(sp, acked);
	if (rc == SG_OK && sp->fsync_ms != SG_FSYNC_NEVER && sg_spool_io.fdatasync(sp->cfd) != 0)
		rc = spool_io_err();
	if (rc == SG_OK) {
		sp->cur_synced = acked;
		atomic_store(&sp->hw_durable, sp->hw);
	}
	return rc;
}

int spool_cursor_open(struct sg_spool *sp, uint64_t ack)
{
	char path[SPOOL_PATH_MAX];
	struct stat st;
	int rc;

	snprintf(path, sizeof(path), "%s/ack", sp->dir);
	if (sg_spool_io.boot_id(sp->boot) != 0)
		memset(sp->boot, 0, sizeof(sp->boot)); /* unknown: every start is after a boot */
	pthread_mutex_lock(&sp->cur_mu);
	sp->hw = sp->next_seq + SPOOL_SEQ_RESERVE;
	sp->cfd = sg_spool_io.open(path, O_RDWR | O_CLOEXEC, 0600);
	if (sp->cfd >= 0 && fstat(sp->cfd, &st) == 0 && st.st_size == SG_ACK_FILE_LEN) {
		rc = cursor_put_both(sp, ack); /* this boot, the new reservation */
	} else {
		if (sp->cfd >= 0)
			sg_spool_io.close(sp->cfd);
		sp->cfd = -1;
		rc = cursor_create(sp, ack); /* absent, the previous release's, or corrupt */
	}
	pthread_mutex_unlock(&sp->cur_mu);
	return rc;
}

int spool_cursor_write(struct sg_spool *sp, uint64_t seq)
{
	int rc = SG_OK;

	pthread_mutex_lock(&sp->cur_mu);
	if (seq > sp->cur_written)
		rc = sp->cfd < 0 ? cursor_create(sp, seq) : cursor_put(sp, seq);
	pthread_mutex_unlock(&sp->cur_mu);
	return rc;
}

int spool_seq_reserve(struct sg_spool *sp, uint64_t upto)
{
	uint64_t hw = upto + SPOOL_SEQ_RESERVE;
	int rc = SG_OK;

	pthread_mutex_lock(&sp->cur_mu);
	if (hw > atomic_load(&sp->hw_durable)) {
		sp->hw = hw;
		if (sp->cfd < 0) {
			rc = cursor_create(sp, sp->cur_written);
		} else {
			rc = cursor_put(sp, sp->cur_written);
			if (rc == SG_OK && sp->fsync_ms != SG_FSYNC_NEVER &&
			    sg_spool_io.fdatasync(sp->cfd) != 0)
				rc = spool_io_err();
			if (rc == SG_OK)
				atomic_store(&sp->hw_durable, hw);
		}
	}
	pthread_mutex_unlock(&sp->cur_mu);
	return rc;
}

/* At close, after the last sync: the reservation shrinks to next_seq, so
 * a start after a reboot continues without a gap.  Takes cur_mu. */
static void cursor_close(struct sg_spool *sp, uint64_t next_seq, uint64_t acked)
{
	pthread_mutex_lock(&sp->cur_mu);
	if (sp->cfd >= 0) {
		sp->hw = next_seq;
		if (cursor_put_both(sp, acked > sp->cur_written ? acked : sp->cur_written) != SG_OK)
			sg_warn("spool", "cannot save the cursor at close: %s", strerror(errno));
		sg_spool_io.close(sp->cfd);
		sp->cfd = -1;
	}
	pthread_mutex_unlock(&sp->cur_mu);
}

uint64_t spool_cursor_sync(struct sg_spool *sp)
{
	uint64_t w, synced = 0;

	pthread_mutex_lock(&sp->cur_mu);
	w = sp->cur_written;
	if (sp->cfd >= 0 && (w == sp->cur_synced || sp->fsync_ms == SG_FSYNC_NEVER ||
			     sg_spool_io.fdatasync(sp->cfd) == 0)) {
		sp->cur_synced = w;
		synced = w;
	}
	pthread_mutex_unlock(&sp->cur_mu);
	return synced;
}

void sg_spool_ack(struct sg_spool *sp, uint64_t seq)
{
	bool moved = false;

	pthread_mutex_lock(&sp->mu);
	if (seq > sp->acked_seq) {
		sp->acked_seq = seq;
		moved = true;
		if (sp->flusher_until == INT64_MAX) /* a checkpoint is due in ack_interval */
			pthread_cond_signal(&sp->flush_cv);
	}
	pthread_mutex_unlock(&sp->mu);
	/* Into the page cache now: a crash re-sends only what was in flight. */
	if (moved && spool_cursor_write(sp, seq) != SG_OK)
		sg_log_rl(&sp->rl_cursor, SG_LOG_ERROR, "spool", "cannot write the ack cursor: %s",
			  strerror(errno));
}

/* Delete what is wholly at or below seq: segments (never the active
 * one) and tombstones.  Caller holds mu.  Returns true if room was made. */
static bool spool_free_delivered(struct sg_spool *sp, uint64_t seq)
{
	char path[SPOOL_PATH_MAX], name[SG_TOMB_NAME_LEN + 1];
	bool freed = false;
	size_t k = 0;

	while (sp->nsegs > 1 && sp->segs[0].last_seq <= seq &&
	       (sp->segs[0].records || sp->segs[0].first_seq <= seq + 1)) {
		spool_seg_delete(sp, 0);
		freed = true;
	}
	while (k < sp->ntombs && sp->tombs[k].last <= seq) {
		sg_tomb_name(sp->tombs[k].first, sp->tombs[k].last, name);
		snprintf(path, sizeof(path), "%s/%s", sp->dir, name);
		sg_spool_io.unlink(path);
		k++;
	}
	if (k) {
		memmove(sp->tombs, sp->tombs + k, (sp->ntombs - k) * sizeof(*sp->tombs));
		sp->ntombs -= k;
	}
	return freed;
}

int sg_spool_checkpoint(struct sg_spool *sp)
{
	uint64_t acked, synced, limit;
	int rc;

	/* One checkpoint at a time (it owns saved_ack). */
	pthread_mutex_lock(&sp->ck_mu);
	pthread_mutex_lock(&sp->mu);
	acked = sp->acked_seq;
	sp->ck_wanted = false;
	pthread_mutex_unlock(&sp->mu);
	rc = spool_cursor_write(sp, acked);
	synced = rc == SG_OK ? spool_cursor_sync(sp) : 0;
	if (rc == SG_OK && synced < acked)
		rc = SG_EIO;
	if (rc != SG_OK) {
		sg_log_rl(&sp->rl_cursor, SG_LOG_ERROR, "spool",
			  "cannot save the ack cursor: %s (%s); delivered segments are deleted "
			  "anyway",
			  sg_strerror(rc), strerror(errno));
		sg_counter_add(sp->m_errors_io, 1);
	}
	/* Delete up to what the cursor file holds; when it cannot be
	 * written, up to what is delivered all the same. */
	limit = rc == SG_OK ? synced : acked;
	sp->saved_ack = limit;
	pthread_mutex_lock(&sp->mu);
	if (spool_free_delivered(sp, limit) || sp->disk_full)
		pthread_cond_broadcast(&sp->space_cv);
	pthread_mutex_unlock(&sp->mu);
	pthread_mutex_unlock(&sp->ck_mu);
	return rc;
}

int sg_spool_sync(struct sg_spool *sp)
{
	uint64_t seq, first;
	int64_t off;
	int fd, rc = SG_OK;
	bool moved;

	pthread_mutex_lock(&sp->mu);
	if (sp->written_seq == sp->durable_seq || sp->wfd < 0 || !sp->nsegs) {
		pthread_mutex_unlock(&sp->mu);
		return SG_OK;
	}
	seq = sp->written_seq;
	first = sp->segs[sp->nsegs - 1].first_seq;
	off = sp->segs[sp->nsegs - 1].size;
	fd = dup(sp->wfd);
	pthread_mutex_unlock(&sp->mu);
	if (fd < 0)
		return SG_EIO;
	if (sp->fsync_ms != SG_FSYNC_NEVER && sg_spool_io.fdatasync(fd) != 0) {
		sg_error("spool",
			 "fsync of segment %020" PRIu64 " failed: %s; events up to seq %" PRIu64
			 " may not survive a power cut (they stay in memory and are sent)",
			 first, strerror(errno), seq);
		sg_counter_add(sp->m_errors_fsync, 1);
		rc = SG_EIO;
	}
	close(fd);
	pthread_mutex_lock(&sp->mu);
	if (rc == SG_OK && seq > sp->durable_seq)
		sp->durable_seq = seq;
	/* Visible from now on, if not already (the fallback: no durable
	 * reservation of seqs); never backwards. */
	moved = first > sp->vis_first || (first == sp->vis_first && off > sp->vis_off);
	if (moved) {
		sp->vis_first = first;
		sp->vis_off = off;
	}
	pthread_mutex_unlock(&sp->mu);
	if (moved)
		spool_notify(sp);
	return rc;
}

/* What the flusher's last pass saw, to tell whether anything is left. */
struct flush_seen {
	uint64_t next_seq, acked_seq; /* the gauges as last set */
	int64_t bytes;
	size_t nsegs;
	uint64_t ck_acked; /* acked_seq at the last checkpoint */
	uint64_t appends;  /* sp->appends at the last pass */
	bool ck_failed;    /* it could not save the cursor: try again */
};

/*
 * When the flusher's next pass is due (monotonic ns): at once when an
 * append waits for a checkpoint; fsync_ms after the first unsynced append
 * (group commit: the interval starts with it, so no append waits longer
 * than fsync_ms for its fsync); at linger, fsync_ms after a pass that
 * synced more than one append, while events flow faster than the
 * interval (appends until then need not wake the flusher:
 * spool_advance, so a steady flow costs one wake-up per group commit,
 * and a slower one no empty pass); at next_ack when acks moved, the last
 * checkpoint failed, the gauges are stale or seqs should be reserved
 * ahead.  INT64_MAX: nothing to do; the flusher then sleeps without a
 * timeout until an append (spool_advance), an ack or close wakes it, so
 * an idle spool costs no wake-ups.  Caller holds mu.
 */
static int64_t flusher_due(struct sg_spool *sp, const struct flush_seen *f, int64_t next_ack,
			   int64_t linger)
{
	int64_t due = INT64_MAX;

	if (sp->ck_wanted)
		return 0;
	if (sp->fsync_ms > 0 && sp->written_seq != sp->durable_seq)
		due = sp->unsynced_since + sp->fsync_ms * SG_NS_PER_MS;
	if (linger && linger < due)
		due = linger;
	if (next_ack < due && (sp->acked_seq != f->ck_acked || f->ck_failed ||
			       sp->next_seq != f->next_seq || sp->acked_seq != f->acked_seq ||
			       sp->total_bytes != f->bytes || sp->nsegs != f->nsegs ||
			       sp->next_seq + SPOOL_SEQ_RESERVE / 2 > atomic_load(&sp->hw_durable)))
		due = next_ack;
	return due;
}

static void *spool_flusher(void *arg)
{
	struct sg_spool *sp = arg;
	int64_t next_ack = sg_now_mono_ns() + sp->ack_interval_ms * SG_NS_PER_MS, linger = 0;
	struct flush_seen f = {.bytes = -1};

	pthread_mutex_lock(&sp->mu);
	f.ck_acked = sp->acked_seq; /* open checkpointed */
	while (!sp->closing) {
		int64_t due = flusher_due(sp, &f, next_ack, linger), now;
		uint64_t next, acked;
		bool wanted, flowing;

		if (due == INT64_MAX) {
			sp->flusher_until = INT64_MAX;
			pthread_cond_wait(&sp->flush_cv, &sp->mu);
			sp->flusher_until = 0;
			continue;
		}
		now = sg_now_mono_ns();
		if (due > now) {
			struct timespec ts = {.tv_sec = due / SG_NS_PER_S,
					      .tv_nsec = due % SG_NS_PER_S};
			sp->flusher_until = due;
			pthread_cond_timedwait(&sp->flush_cv, &sp->mu, &ts);
			sp->flusher_until = 0;
			continue; /* the deadline stays; woken early: look again */
		}
		wanted = sp->ck_wanted;
		next = sp->next_seq;
		acked = sp->acked_seq;
		flowing = sp->written_seq != sp->durable_seq && sp->appends - f.appends > 1;
		f.appends = sp->appends;
		pthread_mutex_unlock(&sp->mu);
		if (next + SPOOL_SEQ_RESERVE / 2 > atomic_load(&sp->hw_durable))
			spool_seq_reserve(sp, next); /* ahead of the appends */
		linger = 0;
		if (sp->fsync_ms > 0) {
			sg_spool_sync(sp);
			/* What was appended during the fsync (or all of it, if
			 * the fsync failed) waits from now at most: its interval
			 * starts no later than this pass did. */
			pthread_mutex_lock(&sp->mu);
			if (sp->written_seq != sp->durable_seq)
				sp->unsynced_since = now;
			pthread_mutex_unlock(&sp->mu);
			/* Events flow: look again one interval on, unasked. */
			if (flowing)
				linger = now + sp->fsync_ms * SG_NS_PER_MS;
		}
		if (wanted || now >= next_ack) {
			f.ck_failed = sg_spool_checkpoint(sp) != SG_OK;
			f.ck_acked = acked;
			next_ack = sg_now_mono_ns() + sp->ack_interval_ms * SG_NS_PER_MS;
		}
		pthread_mutex_lock(&sp->mu);
		f.next_seq = sp->next_seq;
		f.acked_seq = sp->acked_seq;
		f.bytes = sp->total_bytes;
		f.nsegs = sp->nsegs;
		sg_gauge_set(sp->m_bytes, (uint64_t)sp->total_bytes);
		sg_gauge_set(sp->m_pending, sp->next_seq - 1 - sp->acked_seq);
		sg_gauge_set(sp->m_segments, sp->nsegs);
	}
	pthread_mutex_unlock(&sp->mu);
	return NULL;
}

int spool_start_flusher(struct sg_spool *sp)
{
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&sp->flush_cv, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&sp->flusher, NULL, spool_flusher, sp) != 0)
		return SG_ERR;
	pthread_setname_np(sp->flusher, "sg-spool");
	sp->flusher_running = true;
	return SG_OK;
}

void sg_spool_close(struct sg_spool *sp)
{
	if (!sp)
		return;
	sg_spool_shutdown(sp);
	if (sp->flusher_running) {
		pthread_mutex_lock(&sp->mu);
		sp->closing = true;
		pthread_cond_broadcast(&sp->flush_cv);
		pthread_mutex_unlock(&sp->mu);
		pthread_join(sp->flusher, NULL);
	}
	if (sp->segs) { /* opened far enough to have a table */
		sg_spool_sync(sp);
		sg_spool_checkpoint(sp);
	}
	if (sp->segs && sp->durable_seq == sp->written_seq)
		cursor_close(sp, sp->next_seq, sp->acked_seq);
	if (sp->wfd >= 0)
		sg_spool_io.close(sp->wfd);
	if (sp->cfd >= 0)
		sg_spool_io.close(sp->cfd);
	if (sp->rfd >= 0)
		close(sp->rfd);
	if (sp->evfd >= 0)
		close(sp->evfd);
	if (sp->lockfd >= 0)
		close(sp->lockfd);
	free(sp->segs);
	free(sp->tombs);
	free(sp->dir);
	pthread_mutex_destroy(&sp->ap_mu);
	pthread_mutex_destroy(&sp->mu);
	pthread_mutex_destroy(&sp->ck_mu);
	pthread_mutex_destroy(&sp->cur_mu);
	pthread_cond_destroy(&sp->space_cv);
	if (sp->flusher_running)
		pthread_cond_destroy(&sp->flush_cv);
	free(sp);
}
