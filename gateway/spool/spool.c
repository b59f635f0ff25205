/*
 * spool.c - the live spool's write side: appends and batches, and the
 * full-spool policies, which apply alike at max_bytes and on a full
 * filesystem.  Segment files are made and deleted in segment.c, the
 * reader is in reader.c, the cursor, checkpoints and the flusher in
 * cursor.c, recovery of an existing directory in recover.c.  See spool.h
 * for the format and the guarantees.
 *
 * Locking: one mutex (mu) guards all state.  An append takes it with its
 * payload already encoded by the caller; under it, it waits or drops for
 * room, assigns the seq, computes the frame header and writes the frame
 * (one writev(2)); a batch does the same for all its frames at once.
 * Lock order: ck_mu (checkpoints), then mu, then cur_mu (the cursor file).
 */
#include "spool.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/base/log.h"
#include "gateway/core/metrics.h"
#include "frame.h"
#include "internal.h"

/* What spool_fits() found when the record does not fit. */
enum { FULL_BYTES = 1, FULL_DISK = 2 };

static int64_t now_ms(void)
{
	return sg_now_mono_ns() / SG_NS_PER_MS;
}

/* May segs[i] be dropped?  Sealed, and no record of it handed to the
 * producer: past the highest seq it read and past the segment it reads. */
static bool spool_droppable(struct sg_spool *sp, size_t i)
{
	const struct seg *s = &sp->segs[i];

	return i + 1 < sp->nsegs && s->records && s->first_seq > atomic_load(&sp->read_hi) &&
	       s->first_seq > sp->rpos_first;
}

/* Drop segs[i] under drop_oldest: its records are counted (none of them
 * was read).  Caller holds mu. */
static void spool_drop_seg(struct sg_spool *sp, size_t i)
{
	struct seg *s = &sp->segs[i];
	uint64_t lost = s->records, first = s->first_seq, last = s->last_seq;

	sg_counter_add(sp->m_dropped_oldest, lost);
	sp->dropped += lost;
	sg_log_rl(&sp->rl_full_oldest, SG_LOG_WARN, "spool",
		  "spool full (%s): dropped the oldest segment not yet sent, %" PRIu64
		  " events (seq %" PRIu64 "..%" PRIu64 ")",
		  sp->disk_full ? "filesystem full" : "max_bytes", lost, first, last);
	if (i == 0) {
		/* Everything before it is delivered: the cursor covers it. */
		if (last > sp->acked_seq)
			sp->acked_seq = last;
		spool_seg_delete(sp, 0);
	} else {
		spool_seg_bury(sp, i);
	}
}

/* One step of drop_oldest: delete a delivered segment, else drop the
 * oldest droppable one.  SG_OK if room was made, SG_EAGAIN if nothing
 * may go (every older record is with the producer).  Caller holds mu. */
static int spool_drop_one(struct sg_spool *sp)
{
	struct seg *act = spool_active(sp);

	if (sp->nsegs > 1 && sp->segs[0].last_seq <= sp->acked_seq) {
		spool_seg_delete(sp, 0);
		return SG_OK;
	}
	for (size_t i = 0; i + 1 < sp->nsegs; i++)
		if (spool_droppable(sp, i)) {
			spool_drop_seg(sp, i);
			return SG_OK;
		}
	/* The active segment itself, if nothing of it was read: seal it
	 * first (needs room for a new segment). */
	if (act && act->records && act->first_seq > atomic_load(&sp->read_hi) &&
	    act->first_seq > sp->rpos_first && spool_roll(sp) == SG_OK) {
		/* The reader may have come to it while the roll synced. */
		if (spool_droppable(sp, sp->nsegs - 2))
			spool_drop_seg(sp, sp->nsegs - 2);
		return SG_OK;
	}
	return SG_EAGAIN;
}

/*
 * The filesystem is full and the active segment is wholly delivered, so
 * nothing else can be freed: delete it and start again.  The cursor is
 * saved and synced first, so the seq survives without the segment's
 * name.  Returns what spool_seg_create() returns.  Caller holds mu.
 */
static int spool_recycle(struct sg_spool *sp)
{
	struct seg *act = spool_active(sp);

	if (!act || !act->records || act->last_seq > sp->acked_seq)
		return SG_ENOSPC;
	if (spool_cursor_write(sp, sp->acked_seq) != SG_OK || spool_cursor_sync(sp) < act->last_seq)
		return SG_ENOSPC; /* the name may be the only record of the seq */
	sg_spool_io.close(sp->wfd);
	sp->wfd = -1;
	spool_seg_delete(sp, sp->nsegs - 1);
	sg_info("spool", "filesystem full: the delivered active segment was recycled");
	return spool_seg_create(sp);
}

/*
 * Does a record of need bytes fit now?  Makes the active segment (rolls)
 * if needed.  SG_OK, FULL_BYTES (max_bytes), FULL_DISK (the filesystem),
 * or a hard error (SG_EIO, SG_ENOMEM).  Caller holds mu.
 */
static int spool_fits(struct sg_spool *sp, size_t need)
{
	struct seg *act = spool_active(sp);
	int rc;

	if (sp->total_bytes + (int64_t)need > sp->max_bytes)
		return FULL_BYTES;
	if (!act || (act->size + (int64_t)need > sp->segment_bytes && act->records)) {
		rc = spool_roll(sp);
		if (rc == SG_ENOSPC)
			rc = spool_recycle(sp);
		if (rc == SG_ENOSPC) {
			sp->disk_full = true;
			return FULL_DISK;
		}
		if (rc != SG_OK)
			return rc;
	}
	if (!sp->act_reserved && !spool_free_ok(sp->wfd, need)) {
		sp->disk_full = true;
		return FULL_DISK;
	}
	sp->disk_full = false;
	return SG_OK;
}

/* Wait for a checkpoint to free room; on a full disk, look again after a
 * while in any case (something else may free space).  Caller holds mu. */
static void spool_wait_room(struct sg_spool *sp, int full)
{
	struct timespec ts;

	if (!sp->blocked_since)
		sp->blocked_since = now_ms();
	sg_counter_add(sp->m_blocked, 1);
	sp->ck_wanted = true;
	if (sp->flusher_running)
		pthread_cond_signal(&sp->flush_cv);
	if (full != FULL_DISK) {
		pthread_cond_wait(&sp->space_cv, &sp->mu);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += 100 * SG_NS_PER_MS;
	if (ts.tv_nsec >= SG_NS_PER_S) {
		ts.tv_sec++;
		ts.tv_nsec -= SG_NS_PER_S;
	}
	pthread_cond_timedwait(&sp->space_cv, &sp->mu, &ts);
}

static void spool_count_full_disk(struct sg_spool *sp)
{
	if (!sp->disk_full)
		return;
	sg_counter_add(sp->m_disk_full, 1);
	sg_log_rl(&sp->rl_disk, SG_LOG_WARN, "spool",
		  "filesystem of %s is full: treated as a full spool (when_full applies)", sp->dir);
}

/* Wait or drop until `need` more bytes (of `records` records, all or
 * none) fit, on disk and within max_bytes.  Caller holds mu. */
static int spool_make_room(struct sg_spool *sp, size_t need, uint64_t records)
{
	for (;;) {
		int full = spool_fits(sp, need);

		if (full == SG_OK) {
			sp->blocked_since = 0;
			return SG_OK;
		}
		if (full != FULL_BYTES && full != FULL_DISK)
			return full;
		if (sp->stopping)
			return SG_ESTOPPING;
		spool_count_full_disk(sp);
		switch (sp->when_full) {
		case SG_FULL_DROP_NEWEST:
			sg_counter_add(sp->m_dropped_newest, records);
			sp->dropped += records;
			sg_log_rl(&sp->rl_full_newest, SG_LOG_WARN, "spool",
				  "spool full (%s): dropping new events (when_full: drop_newest)",
				  full == FULL_DISK ? "filesystem full" : "max_bytes");
			return SG_EDROPPED;
		case SG_FULL_DROP_OLDEST:
			if (spool_drop_one(sp) == SG_OK)
				break;
			/* Every older record is in flight: those are not dropped
			 * (they may well arrive); the new one is, and counted. */
			sg_counter_add(sp->m_dropped_oldest, records);
			sp->dropped += records;
			sg_log_rl(&sp->rl_full_oldest, SG_LOG_WARN, "spool",
				  "spool full and every older event is in flight to Kafka: "
				  "dropping the new one (when_full: drop_oldest)");
			return SG_EDROPPED;
		default: spool_wait_room(sp, full);
		}
	}
}

/* Cut a failed append off the active segment again.  Caller holds mu. */
static void spool_cut(struct sg_spool *sp, struct seg *act)
{
	struct stat st;
	int e = errno;

	if (sg_spool_io.ftruncate(sp->wfd, act->size) == 0) {
		spool_seg_activate(sp, sp->wfd, act->size); /* truncation may free the reserve */
		errno = e;
		return;
	}
	sg_error("spool",
		 "cannot cut a failed append from segment %020" PRIu64
		 ": %s; readers will skip the partial frame",
		 act->first_seq, strerror(errno));
	if (fstat(sp->wfd, &st) == 0 && st.st_size > act->size) {
		sp->total_bytes += st.st_size - act->size;
		act->size = st.st_size;
	}
	errno = e;
}

/* Account `records` frames (need bytes, the last one seq last) as
 * written.  Caller holds mu. */
static void spool_advance(struct sg_spool *sp, struct seg *act, uint64_t last, uint64_t records,
			  size_t need)
{
	bool wake = sp->flusher_until == INT64_MAX; /* idle: the gauges move */

	/* The first unsynced append starts the group-commit interval.  It
	 * wakes the flusher only if the flusher's wait would end after the
	 * fsync is due: while events flow, the flusher's pass already comes
	 * at most fsync_ms after the last one (cursor.c, flusher_due), so a
	 * steady trickle costs one wake-up per group commit. */
	if (sp->fsync_ms > 0 && sp->written_seq == sp->durable_seq) {
		sp->unsynced_since = sg_now_mono_ns();
		if (sp->unsynced_since + sp->fsync_ms * SG_NS_PER_MS < sp->flusher_until)
			wake = true;
	}
	sp->appends++;
	act->size += (int64_t)need;
	act->last_seq = last;
	act->records += records;
	sp->total_bytes += (int64_t)need;
	sp->next_seq = last + 1;
	sp->written_seq = last;
	if (wake && sp->flusher_running)
		pthread_cond_signal(&sp->flush_cv);
}

/*
 * Write need bytes of frames (the last one seq last) to the active segment
 * with one writev(2) (and fdatasync it with fsync `always`).  On failure
 * nothing is left behind, except when a synced-but-failed write cannot be
 * cut off again: then it stays, unacknowledged, and a later restart may
 * send it (at-least-once).  Caller holds mu.  SG_OK, SG_EIO or SG_ENOSPC
 * (errno set).  An ENOSPC here means preallocation did not hold: free
 * space is checked before the appends that follow.
 */
static int spool_write_iov(struct sg_spool *sp, struct seg *act, const struct iovec *iov, int cnt,
			   size_t need, uint64_t last, uint64_t records)
{
	ssize_t w = sg_spool_io.writev(sp->wfd, iov, cnt);
	int e;

	if (w != (ssize_t)need) {
		e = w < 0 ? errno : EIO;
		/* The kernel may have taken part of it even when write fails. */
		errno = e;
		spool_cut(sp, act);
		if (e == ENOSPC || e == EDQUOT)
			sp->act_reserved = false;
		errno = e;
		return e == ENOSPC || e == EDQUOT ? SG_ENOSPC : SG_EIO;
	}
	if (sp->fsync_ms == SG_FSYNC_ALWAYS && sg_spool_io.fdatasync(sp->wfd) != 0) {
		e = errno;
		sg_counter_add(sp->m_errors_fsync, 1);
		if (sg_spool_io.ftruncate(sp->wfd, act->size) != 0)
			spool_advance(sp, act, last, records, need);
		errno = e;
		return SG_EIO;
	}
	return SG_OK;
}

/* Records appended are readable at once while their seqs are reserved
 * durably (spool.h), with fsync always or never in any case; else when
 * the flusher has synced them.  Caller holds mu. */
static void spool_visible(struct sg_spool *sp, struct seg *act, uint64_t last)
{
	if (sp->fsync_ms < 0)
		sp->durable_seq = last; /* always: synced; never: as durable as it gets */
	if (sp->fsync_ms < 0 || last < atomic_load(&sp->hw_durable)) {
		sp->vis_first = act->first_seq;
		sp->vis_off = act->size;
		spool_notify(sp);
	}
}

static void spool_io_failed(struct sg_spool *sp, int rc, size_t n)
{
	sg_counter_add(sp->m_errors_io, 1);
	sg_log_rl(&sp->rl_io, SG_LOG_ERROR, "spool",
		  "append of seq %" PRIu64 "..%" PRIu64 " failed: %s (%s): none of the %zu "
		  "event(s) stored",
		  sp->next_seq, sp->next_seq + n - 1, sg_strerror(rc), strerror(errno), n);
}

int sg_spool_append(struct sg_spool *sp, const void *payload, size_t len, uint64_t *seq_out)
{
	size_t need = SG_SPOOL_FRAME_HDR + len;
	uint8_t h[SG_SPOOL_FRAME_HDR];
	struct iovec iov[2] = {{h, sizeof(h)}, {(void *)payload, len}};
	struct seg *act;
	uint64_t seq;
	int rc;

	if (len > (size_t)sp->max_record) {
		sg_log_rl(&sp->rl_big, SG_LOG_ERROR, "spool",
			  "event of %zu bytes exceeds spool.max_record_bytes (%lld): refused", len,
			  (long long)sp->max_record);
		sg_counter_add(sp->m_errors_toolarge, 1);
		return SG_EINVAL;
	}
	pthread_mutex_lock(&sp->ap_mu);
	pthread_mutex_lock(&sp->mu);
	/* After sg_spool_shutdown() an append that fits still lands (a
	 * driver's stop() may flush a last reading); only one that would
	 * wait for room returns SG_ESTOPPING (spool_make_room). */
	rc = spool_make_room(sp, need, 1);
	if (rc != SG_OK)
		goto out;
	act = spool_active(sp);
	/* The seq is taken only now, after any wait: file order is seq order. */
	seq = sp->next_seq;
	sg_frame_header(h, seq, payload, (uint32_t)len, false);
	rc = spool_write_iov(sp, act, iov, len ? 2 : 1, need, seq, 1);
	if (rc != SG_OK) {
		spool_io_failed(sp, rc, 1);
		goto out;
	}
	spool_advance(sp, act, seq, 1, need);
	spool_visible(sp, act, seq);
	*seq_out = seq;
	sg_counter_add(sp->m_appended, 1);
out:
	pthread_mutex_unlock(&sp->mu);
	pthread_mutex_unlock(&sp->ap_mu);
	return rc;
}

/* --- batches ------------------------------------------------------------ */

size_t sg_spool_batch_open(struct sg_buf *b)
{
	static const uint8_t zero[SG_SPOOL_FRAME_HDR];
	size_t at = b->len;

	sg_buf_add(b, zero, sizeof(zero));
	return at;
}

void sg_spool_batch_close(struct sg_buf *b, size_t at)
{
	uint8_t *h = (uint8_t *)b->p + at;

	if (b->oom || at + SG_SPOOL_FRAME_HDR > b->len)
		return;
	/* Magic and length now; seq and CRC under the lock, when the seq is
	 * known (the CRC covers it). */
	sg_frame_header(h, 0, h + SG_SPOOL_FRAME_HDR, (uint32_t)(b->len - at - SG_SPOOL_FRAME_HDR),
			false);
}

/* Are frames[0..len) exactly n frames laid out by sg_spool_batch_*? */
static bool batch_well_formed(const uint8_t *f, size_t len, size_t n)
{
	size_t off = 0, k = 0;

	while (off + SG_SPOOL_FRAME_HDR <= len && k < n) {
		off += SG_SPOOL_FRAME_HDR + sg_frame_claimed_len(f + off);
		k++;
	}
	return k == n && off == len;
}

/* Fill in the seqs from seq and the CRCs; with marks, SG_FRAME_MORE on
 * all frames but the last, so recovery keeps the batch whole or cuts all
 * of it (frame.h).  Caller holds mu. */
static void batch_seal(uint8_t *f, size_t n, uint64_t seq, bool marks)
{
	size_t off = 0;

	for (size_t i = 0; i < n; i++) {
		uint32_t l = sg_frame_claimed_len(f + off);

		sg_frame_header(f + off, seq + i, f + off + SG_SPOOL_FRAME_HDR, l,
				marks && i + 1 < n);
		off += SG_SPOOL_FRAME_HDR + l;
	}
}

int sg_spool_append_batch(struct sg_spool *sp, void *frames, size_t len, size_t n,
			  uint64_t *first_seq)
{
	struct iovec iov = {frames, len};
	struct seg *act;
	uint64_t seq;
	int rc;

	if (!n || len > (size_t)sp->max_record || !batch_well_formed(frames, len, n)) {
		sg_log_rl(&sp->rl_big, SG_LOG_ERROR, "spool",
			  "batch of %zu events (%zu bytes) exceeds spool.max_record_bytes (%lld) "
			  "or is malformed: refused",
			  n, len, (long long)sp->max_record);
		sg_counter_add(sp->m_errors_toolarge, n ? n : 1);
		return SG_EINVAL;
	}
	pthread_mutex_lock(&sp->ap_mu);
	pthread_mutex_lock(&sp->mu);
	rc = spool_make_room(sp, len, n); /* for all of it, or none */
	if (rc != SG_OK)
		goto out;
	act = spool_active(sp);
	seq = sp->next_seq;
	batch_seal(frames, n, seq, act->batches);
	rc = spool_write_iov(sp, act, &iov, 1, len, seq + n - 1, n);
	if (rc != SG_OK) {
		spool_io_failed(sp, rc, n);
		goto out;
	}
	spool_advance(sp, act, seq + n - 1, n, len);
	spool_visible(sp, act, seq + n - 1);
	*first_seq = seq;
	sg_counter_add(sp->m_appended, n);
out:
	pthread_mutex_unlock(&sp->mu);
	pthread_mutex_unlock(&sp->ap_mu);
	return rc;
}

/* --- state ------------------------------------------------------------- */

void sg_spool_shutdown(struct sg_spool *sp)
{
	pthread_mutex_lock(&sp->mu);
	sp->stopping = true;
	pthread_cond_broadcast(&sp->space_cv);
	pthread_mutex_unlock(&sp->mu);
}

void sg_spool_stats(struct sg_spool *sp, struct sg_spool_stats *st)
{
	pthread_mutex_lock(&sp->mu);
	*st = sp->rec;
	st->next_seq = sp->next_seq;
	st->acked_seq = sp->acked_seq;
	st->durable_seq = sp->durable_seq;
	st->bytes = (uint64_t)sp->total_bytes;
	st->segments = sp->nsegs;
	st->dropped = sp->dropped;
	st->disk_full = sp->disk_full;
	st->pending = 0;
	for (size_t i = 0; i < sp->nsegs; i++) {
		const struct seg *s = &sp->segs[i];
		if (!s->records || s->last_seq <= sp->acked_seq)
			continue;
		if (sp->acked_seq < s->first_seq)
			st->pending += s->records;
		else
			st->pending += s->last_seq - sp->acked_seq;
	}
	pthread_mutex_unlock(&sp->mu);
}

const char *sg_spool_epoch(const struct sg_spool *sp)
{
	return sp->epoch_hex;
}

int sg_spool_reject(struct sg_spool *sp, uint64_t seq, const void *payload, size_t len,
		    const char *reason)
{
	char path[SPOOL_PATH_MAX];
	struct sg_buf b;
	int fd, rc;

	snprintf(path, sizeof(path), "%s/rejected.log", sp->dir);
	sg_buf_init(&b);
	sg_buf_printf(&b, "seq=%" PRIu64 " time_ns=%lld reason=", seq, (long long)sg_now_ns());
	sg_buf_add_json_str(&b, reason, strlen(reason));
	sg_buf_printf(&b, " bytes=%zu\n", len);
	sg_buf_add(&b, payload, len);
	sg_buf_addc(&b, '\n');
	pthread_mutex_lock(&sp->mu);
	fd = sg_spool_io.open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	rc = fd < 0 ? SG_EIO : spool_io_write_all(fd, b.p, b.len);
	if (fd >= 0) {
		if (rc == SG_OK && sg_spool_io.fdatasync(fd) != 0)
			rc = SG_EIO;
		sg_spool_io.close(fd);
	}
	pthread_mutex_unlock(&sp->mu);
	sg_buf_free(&b);
	return rc;
}
