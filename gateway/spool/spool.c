/*
 * spool.c - the live spool: append, group commit, the reader, the ack
 * cursor and segment deletion.  Recovery of an existing directory is in
 * recover.c.  See spool.h for the format and the guarantees.
 *
 * Locking: one mutex (mu) guards all state.  An append takes it with its
 * payload already encoded by the caller; under it, it waits or drops for
 * room, assigns the seq, computes the frame header and writes the frame
 * (one writev(2)); a batch does the same for all its frames at once.
 * The flusher copies the position to sync under it, syncs outside it,
 * then publishes the durable position under it again.
 * The reader takes it briefly to learn its read limit, then preads
 * outside it.  Checkpoints (saving the cursor, deleting delivered
 * segments) run one at a time under ck_mu, which is taken before mu.
 */
#include "spool.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/base/log.h"
#include "gateway/core/metrics.h"
#include "frame.h"
#include "internal.h"
#include "gateway/base/crc32c.h"
#include "gateway/base/fs.h"

static ssize_t io_writev(int fd, const struct iovec *iov, int iovcnt)
{
	return writev(fd, iov, iovcnt);
}
static int io_fdatasync(int fd)
{
	return fdatasync(fd);
}
struct sg_spool_io sg_spool_io = {.writev = io_writev, .fdatasync = io_fdatasync};

static int64_t now_ms(void)
{
	return sg_now_mono_ns() / SG_NS_PER_MS;
}

struct seg *spool_seg_find(struct sg_spool *sp, uint64_t first_seq)
{
	for (size_t i = 0; i < sp->nsegs; i++)
		if (sp->segs[i].first_seq == first_seq)
			return &sp->segs[i];
	return NULL;
}

void spool_seg_path(const struct sg_spool *sp, uint64_t first_seq, char *out, size_t n)
{
	snprintf(out, n, "%s/%020" PRIu64 ".seg", sp->dir, first_seq);
}

static void spool_notify(struct sg_spool *sp)
{
	uint64_t one = 1;
	ssize_t r = write(sp->evfd, &one, sizeof(one));
	(void)r; /* EAGAIN: counter saturated, reader is awake anyway */
}

/* Create a new active segment starting at next_seq.  Caller holds mu. */
int spool_seg_create(struct sg_spool *sp)
{
	char path[4200];
	uint8_t h[SG_SPOOL_SEG_HDR];
	int fd, rc;

	/* Never two segments with one name: O_TRUNC would empty a listed one. */
	assert(!sp->nsegs || sp->segs[sp->nsegs - 1].first_seq < sp->next_seq);
	if (sp->nsegs == sp->capsegs) {
		size_t cap = sp->capsegs ? sp->capsegs * 2 : 16;
		struct seg *ns = realloc(sp->segs, cap * sizeof(*ns));
		if (!ns)
			return SG_ENOMEM;
		sp->segs = ns;
		sp->capsegs = cap;
	}
	spool_seg_path(sp, sp->next_seq, path, sizeof(path));
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return errno == ENOSPC ? SG_ENOSPC : SG_EIO;
	sg_seg_header(h);
	rc = sg_write_all(fd, h, sizeof(h));
	if (rc == SG_OK && sp->fsync_ms != SG_FSYNC_NEVER &&
	    (sg_spool_io.fdatasync(fd) != 0 || sg_fsync_dir(sp->dir) != SG_OK))
		rc = SG_EIO;
	if (rc != SG_OK) {
		close(fd);
		unlink(path);
		return rc;
	}
	if (sp->wfd >= 0)
		close(sp->wfd);
	sp->wfd = fd;
	sp->segs[sp->nsegs++] =
	    (struct seg){.first_seq = sp->next_seq, .last_seq = 0, .size = SG_SPOOL_SEG_HDR};
	sp->total_bytes += SG_SPOOL_SEG_HDR;
	return SG_OK;
}

/* Seal the active segment (synced unless fsync never) and start a new
 * one.  Caller holds mu. */
static int spool_roll(struct sg_spool *sp)
{
	if (sp->fsync_ms != SG_FSYNC_NEVER && sg_spool_io.fdatasync(sp->wfd) != 0) {
		sg_error("spool", "fsync of segment %020" PRIu64 " failed: %s",
			 sp->segs[sp->nsegs - 1].first_seq, strerror(errno));
		sg_counter_add(sp->m_errors_fsync, 1);
	}
	/* Everything written so far is now as durable as it gets. */
	sp->durable_seq = sp->written_seq;
	sp->durable_first = sp->segs[sp->nsegs - 1].first_seq;
	sp->durable_off = sp->segs[sp->nsegs - 1].size;
	return spool_seg_create(sp);
}

/* Remove segs[i] from the table and the disk.  Caller holds mu. */
static void spool_seg_delete(struct sg_spool *sp, size_t i)
{
	char path[4200];
	struct seg *s = &sp->segs[i];

	spool_seg_path(sp, s->first_seq, path, sizeof(path));
	if (unlink(path) != 0 && errno != ENOENT)
		sg_warn("spool", "cannot delete %s: %s", path, strerror(errno));
	sp->total_bytes -= s->size;
	/* The reader's fd (if it is on this segment) stays open and valid:
	 * the reader owns it and moves on by itself. */
	memmove(s, s + 1, (sp->nsegs - i - 1) * sizeof(*s));
	sp->nsegs--;
}

/* drop_oldest: delete the oldest segment, counting its undelivered
 * records as dropped.  Caller holds mu. */
static int spool_drop_oldest(struct sg_spool *sp)
{
	struct seg *s;
	uint64_t lost = 0;

	if (sp->nsegs == 1) {
		int rc = spool_roll(sp);
		if (rc != SG_OK)
			return rc;
	}
	s = &sp->segs[0];
	if (s->records && s->last_seq > sp->acked_seq)
		lost = s->last_seq -
		       (sp->acked_seq >= s->first_seq ? sp->acked_seq : s->first_seq - 1);
	if (lost > s->records)
		lost = s->records;
	sg_counter_add(sp->m_dropped_oldest, lost);
	sg_log_rl(&sp->rl_full_oldest, SG_LOG_WARN, "spool",
		  "spool full (%lld bytes): dropped the oldest segment, %" PRIu64
		  " undelivered events (seq %" PRIu64 "..%" PRIu64 ")",
		  (long long)sp->max_bytes, lost, s->first_seq, s->last_seq);
	if (s->last_seq > sp->acked_seq)
		sp->acked_seq = s->last_seq;
	spool_seg_delete(sp, 0);
	return SG_OK;
}

/* Wait or drop until `need` more bytes (of `records` records, all or
 * none) fit.  Caller holds mu. */
static int spool_make_room(struct sg_spool *sp, size_t need, uint64_t records)
{
	while (sp->total_bytes + (int64_t)need > sp->max_bytes) {
		if (sp->stopping)
			return SG_ESTOPPING;
		switch (sp->when_full) {
		case SG_FULL_DROP_NEWEST:
			sg_counter_add(sp->m_dropped_newest, records);
			sg_log_rl(
			    &sp->rl_full_newest, SG_LOG_WARN, "spool",
			    "spool full (%lld bytes): dropping new events (when_full: drop_newest)",
			    (long long)sp->max_bytes);
			return SG_EDROPPED;
		case SG_FULL_DROP_OLDEST: {
			int rc = spool_drop_oldest(sp);
			if (rc != SG_OK)
				return rc;
			break;
		}
		default:
			if (!sp->blocked_since)
				sp->blocked_since = now_ms();
			sg_counter_add(sp->m_blocked, 1);
			pthread_cond_wait(&sp->space_cv, &sp->mu);
		}
	}
	sp->blocked_since = 0;
	return SG_OK;
}

/* Cut a failed append off the active segment again.  Caller holds mu. */
static void spool_cut(struct sg_spool *sp, struct seg *act)
{
	struct stat st;

	if (ftruncate(sp->wfd, act->size) == 0)
		return;
	sg_error("spool",
		 "cannot cut a failed append from segment %020" PRIu64
		 ": %s; readers will skip the partial frame",
		 act->first_seq, strerror(errno));
	if (fstat(sp->wfd, &st) == 0 && st.st_size > act->size) {
		sp->total_bytes += st.st_size - act->size;
		act->size = st.st_size;
	}
}

/* Account `records` frames (need bytes, the last one seq last) as
 * written.  Caller holds mu. */
static void spool_advance(struct sg_spool *sp, struct seg *act, uint64_t last, uint64_t records,
			  size_t need)
{
	act->size += (int64_t)need;
	act->last_seq = last;
	act->records += records;
	sp->total_bytes += (int64_t)need;
	sp->next_seq = last + 1;
	sp->written_seq = last;
}

/*
 * Write need bytes of frames (the last one seq last) to the active segment
 * with one writev(2) (and fdatasync it with fsync `always`).  On failure
 * nothing is left behind, except when a synced-but-failed write cannot be
 * cut off again: then it stays, unacknowledged, and a later restart may
 * send it (at-least-once).  Caller holds mu.  SG_OK, SG_EIO or SG_ENOSPC
 * (errno set).
 */
static int spool_write_iov(struct sg_spool *sp, struct seg *act, const struct iovec *iov, int cnt,
			   size_t need, uint64_t last, uint64_t records)
{
	ssize_t w = sg_spool_io.writev(sp->wfd, iov, cnt);
	int e;

	if (w != (ssize_t)need) {
		e = w < 0 ? errno : EIO;
		/* The kernel may have taken part of it even when write fails. */
		spool_cut(sp, act);
		errno = e;
		return e == ENOSPC || e == EDQUOT ? SG_ENOSPC : SG_EIO;
	}
	if (sp->fsync_ms == SG_FSYNC_ALWAYS && sg_spool_io.fdatasync(sp->wfd) != 0) {
		e = errno;
		sg_counter_add(sp->m_errors_fsync, 1);
		if (ftruncate(sp->wfd, act->size) != 0)
			spool_advance(sp, act, last, records, need);
		errno = e;
		return SG_EIO;
	}
	return SG_OK;
}

/* The frame of seq: header and payload in one writev.  Caller holds mu. */
static int spool_write_frame(struct sg_spool *sp, struct seg *act, uint64_t seq,
			     const void *payload, size_t len)
{
	uint8_t h[SG_SPOOL_FRAME_HDR];
	struct iovec iov[2] = {{h, sizeof(h)}, {(void *)payload, len}};

	sg_frame_header(h, seq, payload, (uint32_t)len);
	return spool_write_iov(sp, act, iov, len ? 2 : 1, sizeof(h) + len, seq, 1);
}

/* Records appended are readable at once with fsync always or never (else
 * when the flusher has synced them).  Caller holds mu. */
static void spool_visible(struct sg_spool *sp, struct seg *act, uint64_t last)
{
	if (sp->fsync_ms < 0) {
		sp->durable_seq = last;
		sp->durable_first = act->first_seq;
		sp->durable_off = act->size;
		spool_notify(sp);
	}
}

int sg_spool_append(struct sg_spool *sp, const void *payload, size_t len, uint64_t *seq_out)
{
	size_t need = SG_SPOOL_FRAME_HDR + len;
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
	pthread_mutex_lock(&sp->mu);
	/* After sg_spool_shutdown() an append that fits still lands (a
	 * driver's stop() may flush a last reading); only one that would
	 * wait for room returns SG_ESTOPPING (spool_make_room). */
	rc = spool_make_room(sp, need, 1);
	if (rc != SG_OK)
		goto out;
	act = &sp->segs[sp->nsegs - 1];
	if (act->size + (int64_t)need > sp->segment_bytes && act->records) {
		rc = spool_roll(sp);
		if (rc != SG_OK)
			goto io_fail;
		act = &sp->segs[sp->nsegs - 1];
	}
	/* The seq is taken only now, after any wait: file order is seq order. */
	seq = sp->next_seq;
	rc = spool_write_frame(sp, act, seq, payload, len);
	if (rc != SG_OK)
		goto io_fail;
	spool_advance(sp, act, seq, 1, need);
	spool_visible(sp, act, seq);
	*seq_out = seq;
	sg_counter_add(sp->m_appended, 1);
	pthread_mutex_unlock(&sp->mu);
	return SG_OK;

io_fail:
	sg_counter_add(sp->m_errors_io, 1);
	sg_log_rl(&sp->rl_io, SG_LOG_ERROR, "spool",
		  "append of seq %" PRIu64 " failed: %s (%s): event not stored", sp->next_seq,
		  sg_strerror(rc), strerror(errno));
out:
	pthread_mutex_unlock(&sp->mu);
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
	sg_frame_header(h, 0, h + SG_SPOOL_FRAME_HDR, (uint32_t)(b->len - at - SG_SPOOL_FRAME_HDR));
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

/* Fill in the seqs from seq and the CRCs.  Caller holds mu. */
static void batch_seal(uint8_t *f, size_t n, uint64_t seq)
{
	size_t off = 0;

	for (size_t i = 0; i < n; i++) {
		uint32_t l = sg_frame_claimed_len(f + off);

		sg_frame_header(f + off, seq + i, f + off + SG_SPOOL_FRAME_HDR, l);
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
	pthread_mutex_lock(&sp->mu);
	rc = spool_make_room(sp, len, n); /* for all of it, or none */
	if (rc != SG_OK)
		goto out;
	act = &sp->segs[sp->nsegs - 1];
	if (act->size + (int64_t)len > sp->segment_bytes && act->records) {
		rc = spool_roll(sp);
		if (rc != SG_OK)
			goto io_fail;
		act = &sp->segs[sp->nsegs - 1];
	}
	seq = sp->next_seq;
	batch_seal(frames, n, seq);
	rc = spool_write_iov(sp, act, &iov, 1, len, seq + n - 1, n);
	if (rc != SG_OK)
		goto io_fail;
	spool_advance(sp, act, seq + n - 1, n, len);
	spool_visible(sp, act, seq + n - 1);
	*first_seq = seq;
	sg_counter_add(sp->m_appended, n);
	pthread_mutex_unlock(&sp->mu);
	return SG_OK;

io_fail:
	sg_counter_add(sp->m_errors_io, 1);
	sg_log_rl(&sp->rl_io, SG_LOG_ERROR, "spool",
		  "append of seqs %" PRIu64 "..%" PRIu64 " failed: %s (%s): none of the %zu "
		  "events stored",
		  sp->next_seq, sp->next_seq + n - 1, sg_strerror(rc), strerror(errno), n);
out:
	pthread_mutex_unlock(&sp->mu);
	return rc;
}

/* --- reader ----------------------------------------------------------- */

int sg_spool_read_fd(const struct sg_spool *sp)
{
	return sp->evfd;
}

/* Open the reader's fd on the segment starting at first.  Caller holds
 * mu (for the table); the fd is used outside it. */
static int spool_reader_open(struct sg_spool *sp, uint64_t first)
{
	char path[4200];

	if (sp->rfd >= 0 && sp->rfd_first == first)
		return SG_OK;
	if (sp->rfd >= 0)
		close(sp->rfd);
	spool_seg_path(sp, first, path, sizeof(path));
	sp->rfd = open(path, O_RDONLY | O_CLOEXEC);
	sp->rfd_first = sp->rfd >= 0 ? first : 0;
	return sp->rfd >= 0 ? SG_OK : SG_EIO;
}

/* Find the first valid frame at or after off in the reader's segment
 * (corrupt region, already counted by recovery).  Returns the offset. */
static int64_t spool_reader_resync(struct sg_spool *sp, int64_t off, int64_t limit)
{
	size_t n = (size_t)(limit - off);
	uint8_t *p = malloc(n ? n : 1);
	int64_t res = limit;

	if (p && sg_pread_all(sp->rfd, p, n, off) == SG_OK)
		res = off + (int64_t)sg_frame_resync(p, n, 1, (uint32_t)sp->max_record, sp->rseq);
	free(p);
	return res;
}

/* Under mu: find the reader's segment and how far it may read in it.
 * Returns SG_OK with sp->r_limit set, or SG_EAGAIN. */
static int spool_reader_limit(struct sg_spool *sp)
{
	struct seg *s;

	for (;;) {
		s = spool_seg_find(sp, sp->rpos_first);
		if (!s) { /* segment gone (drop_oldest): move to the oldest */
			sp->rpos_first = sp->segs[0].first_seq;
			sp->rpos_off = SG_SPOOL_SEG_HDR;
			s = &sp->segs[0];
		}
		if (s->first_seq > sp->durable_first)
			return SG_EAGAIN;
		sp->r_limit = s->first_seq == sp->durable_first ? sp->durable_off : s->size;
		if (sp->rpos_off < sp->r_limit)
			break;
		/* At the limit: a sealed segment moves on, the durable end waits. */
		size_t i = (size_t)(s - sp->segs);
		if (s->first_seq == sp->durable_first || i + 1 >= sp->nsegs)
			return SG_EAGAIN;
		sp->rpos_first = sp->segs[i + 1].first_seq;
		sp->rpos_off = SG_SPOOL_SEG_HDR;
	}
	return spool_reader_open(sp, s->first_seq);
}

int sg_spool_read(struct sg_spool *sp, uint64_t *seq_out, struct sg_buf *buf)
{
	const size_t fh = SG_SPOOL_FRAME_HDR;
	uint8_t h[SG_SPOOL_FRAME_HDR];
	uint64_t seq;
	uint32_t len;
	int rc;
	uint64_t drain;

	for (;;) {
		/* The lock is taken only when the cached limit is reached, so a
		 * busy appender cannot starve the reader. */
		if (sp->rpos_off >= sp->r_limit || sp->rfd < 0 || sp->rfd_first != sp->rpos_first) {
			pthread_mutex_lock(&sp->mu);
			rc = spool_reader_limit(sp);
			pthread_mutex_unlock(&sp->mu);
			if (rc == SG_EAGAIN) {
				/* Caught up: drain the wake-up counter, then look once
				 * more, so a notify racing with the drain is not lost.
				 * Only here, not per record: no syscall on the hot path. */
				if (read(sp->evfd, &drain, sizeof(drain)) < 0 && errno != EAGAIN)
					sg_debug("spool", "eventfd read: %s", strerror(errno));
				pthread_mutex_lock(&sp->mu);
				rc = spool_reader_limit(sp);
				pthread_mutex_unlock(&sp->mu);
			}
			if (rc != SG_OK)
				return rc;
		}
		/* Bytes below the limit are complete and never rewritten. */
		rc = sg_pread_all(sp->rfd, h, sizeof(h), sp->rpos_off);
		if (rc == SG_OK) {
			len = sg_frame_claimed_len(h);
			if (sg_get_u32(h) != SG_FRAME_MAGIC || len > sp->max_record ||
			    sp->rpos_off + (int64_t)(fh + len) > sp->r_limit)
				rc = SG_ECORRUPT;
		}
		if (rc == SG_OK) {
			sg_buf_reset(buf);
			if (!sg_buf_reserve(buf, fh + len))
				return SG_ENOMEM;
			memcpy(buf->p, h, fh);
			rc = sg_pread_all(sp->rfd, buf->p + fh, len, sp->rpos_off + (int64_t)fh);
			buf->len = fh + len;
			if (rc == SG_OK &&
			    sg_frame_check((uint8_t *)buf->p, buf->len, (uint32_t)sp->max_record,
					   &seq, &len) != 1)
				rc = SG_ECORRUPT;
		}
		if (rc == SG_ECORRUPT || (rc == SG_OK && seq <= sp->rseq)) {
			sp->rpos_off = spool_reader_resync(sp, sp->rpos_off, sp->r_limit);
			continue;
		}
		if (rc != SG_OK)
			return rc;
		sp->rpos_off += (int64_t)(fh + len);
		if (seq <= sp->rewind_after)
			continue; /* delivered before a rewind point */
		sp->rseq = seq;
		memmove(buf->p, buf->p + fh, len);
		buf->len = len;
		*seq_out = seq;
		return SG_OK;
	}
}

void sg_spool_rewind(struct sg_spool *sp, uint64_t after_seq)
{
	pthread_mutex_lock(&sp->mu);
	sp->rpos_first = sp->segs[0].first_seq;
	for (size_t i = 0; i < sp->nsegs; i++)
		if (sp->segs[i].records && sp->segs[i].first_seq <= after_seq + 1)
			sp->rpos_first = sp->segs[i].first_seq;
	sp->rpos_off = SG_SPOOL_SEG_HDR;
	sp->r_limit = 0;
	sp->rseq = 0;
	sp->rewind_after = after_seq;
	pthread_mutex_unlock(&sp->mu);
	spool_notify(sp);
}

/* --- cursor, flusher ---------------------------------------------------- */

void sg_spool_ack(struct sg_spool *sp, uint64_t seq)
{
	pthread_mutex_lock(&sp->mu);
	if (seq > sp->acked_seq)
		sp->acked_seq = seq;
	pthread_mutex_unlock(&sp->mu);
}

int spool_save_cursor(struct sg_spool *sp, uint64_t seq)
{
	uint8_t b[SG_ACK_FILE_LEN];

	sg_ack_encode(b, seq);
	return sg_write_file_atomic(sp->dir, "ack", b, sizeof(b), 0600);
}

/* Save the cursor if acks moved on.  Caller holds ck_mu (not mu). */
static int spool_checkpoint_cursor(struct sg_spool *sp)
{
	uint64_t acked;
	int rc;

	pthread_mutex_lock(&sp->mu);
	acked = sp->acked_seq;
	pthread_mutex_unlock(&sp->mu);
	if (acked <= sp->saved_ack)
		return SG_OK;
	rc = spool_save_cursor(sp, acked);
	if (rc != SG_OK) {
		sg_log_rl(&sp->rl_cursor, SG_LOG_ERROR, "spool",
			  "cannot save the ack cursor: %s (%s)", sg_strerror(rc), strerror(errno));
		sg_counter_add(sp->m_errors_io, 1);
		return rc;
	}
	sp->saved_ack = acked;
	return SG_OK;
}

int sg_spool_checkpoint(struct sg_spool *sp)
{
	bool freed = false;
	int rc;

	/* One checkpoint at a time: two writers of the cursor's temporary
	 * file would publish each other's half-written file. */
	pthread_mutex_lock(&sp->ck_mu);
	rc = spool_checkpoint_cursor(sp);
	if (rc == SG_OK) {
		pthread_mutex_lock(&sp->mu);
		while (sp->nsegs > 1 && sp->segs[0].last_seq <= sp->saved_ack &&
		       (sp->segs[0].records || sp->segs[0].first_seq <= sp->saved_ack + 1)) {
			spool_seg_delete(sp, 0);
			freed = true;
		}
		if (freed)
			pthread_cond_broadcast(&sp->space_cv);
		pthread_mutex_unlock(&sp->mu);
	}
	pthread_mutex_unlock(&sp->ck_mu);
	return rc;
}

int sg_spool_sync(struct sg_spool *sp)
{
	uint64_t seq, first;
	int64_t off;
	int fd, rc = SG_OK;

	pthread_mutex_lock(&sp->mu);
	if (sp->written_seq == sp->durable_seq || sp->wfd < 0) {
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
	if (seq > sp->durable_seq) { /* no roll since the snapshot */
		sp->durable_seq = seq;
		sp->durable_first = first;
		sp->durable_off = off;
	}
	pthread_mutex_unlock(&sp->mu);
	spool_notify(sp);
	return rc;
}

static void *spool_flusher(void *arg)
{
	struct sg_spool *sp = arg;
	int64_t next_ack = now_ms() + sp->ack_interval_ms;
	int64_t period = sp->fsync_ms > 0 ? sp->fsync_ms : sp->ack_interval_ms;

	pthread_mutex_lock(&sp->mu);
	while (!sp->closing) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		int64_t ns = ts.tv_nsec + period * SG_NS_PER_MS;
		ts.tv_sec += ns / SG_NS_PER_S;
		ts.tv_nsec = ns % SG_NS_PER_S;
		pthread_cond_timedwait(&sp->flush_cv, &sp->mu, &ts);
		if (sp->closing)
			break;
		pthread_mutex_unlock(&sp->mu);
		if (sp->fsync_ms > 0)
			sg_spool_sync(sp);
		if (now_ms() >= next_ack) {
			sg_spool_checkpoint(sp);
			next_ack = now_ms() + sp->ack_interval_ms;
		}
		pthread_mutex_lock(&sp->mu);
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
	sp->flusher_running = true;
	return SG_OK;
}

void sg_spool_shutdown(struct sg_spool *sp)
{
	pthread_mutex_lock(&sp->mu);
	sp->stopping = true;
	pthread_cond_broadcast(&sp->space_cv);
	pthread_mutex_unlock(&sp->mu);
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
	sg_spool_sync(sp);
	sg_spool_checkpoint(sp);
	if (sp->wfd >= 0)
		close(sp->wfd);
	if (sp->rfd >= 0)
		close(sp->rfd);
	if (sp->evfd >= 0)
		close(sp->evfd);
	if (sp->lockfd >= 0)
		close(sp->lockfd);
	free(sp->segs);
	free(sp->dir);
	pthread_mutex_destroy(&sp->mu);
	pthread_mutex_destroy(&sp->ck_mu);
	pthread_cond_destroy(&sp->space_cv);
	if (sp->flusher_running)
		pthread_cond_destroy(&sp->flush_cv);
	free(sp);
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

int sg_spool_reject(struct sg_spool *sp, uint64_t seq, const void *payload, size_t len,
		    const char *reason)
{
	char path[4200];
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
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	rc = fd < 0 ? SG_EIO : sg_write_all(fd, b.p, b.len);
	if (fd >= 0) {
		if (rc == SG_OK && fdatasync(fd) != 0)
			rc = SG_EIO;
		close(fd);
	}
	pthread_mutex_unlock(&sp->mu);
	sg_buf_free(&b);
	return rc;
}
