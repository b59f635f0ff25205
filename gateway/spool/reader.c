/*
 * reader.c - the producer's side of the spool: read the next durable
 * record, rewind after a failed delivery, and the wake-up eventfd.
 *
 * The reader takes the spool lock only to learn how far it may read
 * (spool_reader_limit); the records below that limit are complete and
 * never rewritten, so it preads them outside the lock, up to 64 KiB of
 * them with one pread(2) into its read-ahead chunk.  The highest seq
 * it ever handed out (read_hi) is what drop_oldest must not drop.
 *
 * Threads: one reader thread (the producer) calls read and rewind.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway/base/fs.h"
#include "gateway/base/log.h"
#include "frame.h"
#include "internal.h"

int sg_spool_read_fd(const struct sg_spool *sp)
{
	return sp->evfd;
}

/* Open the reader's fd on the segment starting at first.  Caller holds
 * mu (for the table); the fd is used outside it. */
static int spool_reader_open(struct sg_spool *sp, uint64_t first)
{
	char path[SPOOL_PATH_MAX];

	if (sp->rfd >= 0 && sp->rfd_first == first)
		return SG_OK;
	if (sp->rfd >= 0)
		close(sp->rfd);
	sp->rchunk_len = 0;
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

/* The reader's segment after it moved on or was deleted: the first one
 * starting after rpos_first, or NULL.  Caller holds mu. */
static struct seg *spool_seg_after(struct sg_spool *sp, uint64_t first)
{
	for (size_t i = 0; i < sp->nsegs; i++)
		if (sp->segs[i].first_seq > first)
			return &sp->segs[i];
	return NULL;
}

/* Under mu: find the reader's segment and how far it may read in it.
 * Returns SG_OK with sp->r_limit set, or SG_EAGAIN. */
static int spool_reader_limit(struct sg_spool *sp)
{
	struct seg *s;

	for (;;) {
		s = spool_seg_find(sp, sp->rpos_first);
		if (!s) { /* deleted (delivered, dropped, recycled): the next one */
			s = spool_seg_after(sp, sp->rpos_first);
			if (!s)
				return SG_EAGAIN;
			sp->rpos_first = s->first_seq;
			sp->rpos_off = SG_SPOOL_SEG_HDR;
		}
		if (s->first_seq > sp->vis_first)
			return SG_EAGAIN;
		sp->r_limit = s->first_seq == sp->vis_first ? sp->vis_off : s->size;
		if (sp->rpos_off < sp->r_limit)
			break;
		/* At the limit: a sealed segment moves on, the durable end waits. */
		size_t i = (size_t)(s - sp->segs);
		if (s->first_seq == sp->vis_first || i + 1 >= sp->nsegs)
			return SG_EAGAIN;
		sp->rpos_first = sp->segs[i + 1].first_seq;
		sp->rpos_off = SG_SPOOL_SEG_HDR;
	}
	return spool_reader_open(sp, s->first_seq);
}

/* Lock, find the limit; when caught up, say the reader may wait (so the
 * next record made visible writes the eventfd), drain the wake-up
 * counter and look once more under the lock: an append either is seen
 * by that look or sees the flag (both under mu), so no wake-up is lost.
 * Only here, not per record: no syscall on the hot path. */
static int spool_reader_refresh(struct sg_spool *sp)
{
	uint64_t drain;
	int rc;

	pthread_mutex_lock(&sp->mu);
	rc = spool_reader_limit(sp);
	pthread_mutex_unlock(&sp->mu);
	if (rc != SG_EAGAIN)
		return rc;
	atomic_store(&sp->reader_waiting, true);
	if (read(sp->evfd, &drain, sizeof(drain)) < 0 && errno != EAGAIN)
		sg_debug("spool", "eventfd read: %s", strerror(errno));
	pthread_mutex_lock(&sp->mu);
	rc = spool_reader_limit(sp);
	pthread_mutex_unlock(&sp->mu);
	return rc;
}

/* Bytes [off, off + n) of the reader's segment (n <= SPOOL_READ_CHUNK),
 * from the read-ahead chunk, which is refilled from off with one pread(2)
 * of up to SPOOL_READ_CHUNK bytes below the limit when it does not hold
 * them.  SG_OK with *p; SG_ENOTFOUND (short file), SG_EIO. */
static int spool_reader_bytes(struct sg_spool *sp, int64_t off, size_t n, const uint8_t **p)
{
	size_t want;
	int rc;

	if (off < sp->rchunk_off || off + (int64_t)n > sp->rchunk_off + (int64_t)sp->rchunk_len) {
		want = sp->r_limit - off < SPOOL_READ_CHUNK ? (size_t)(sp->r_limit - off)
							    : SPOOL_READ_CHUNK;
		if (want < n)
			want = n; /* past the limit (damage): read, not kept */
		sp->rchunk_len = 0;
		rc = sg_pread_all(sp->rfd, sp->rchunk, want, off);
		if (rc != SG_OK)
			return rc;
		sp->rchunk_off = off;
		if (off + (int64_t)want <= sp->r_limit)
			sp->rchunk_len = want;
		*p = sp->rchunk;
		return SG_OK;
	}
	*p = sp->rchunk + (off - sp->rchunk_off);
	return SG_OK;
}

/* Read the frame at the reader's position; its payload into buf.  SG_OK
 * with *seq, *len; SG_ECORRUPT; SG_EIO; SG_ENOMEM.  A frame that fits the
 * read-ahead chunk is checked there and its payload copied out; a larger
 * one is read into buf whole. */
static int spool_reader_frame(struct sg_spool *sp, struct sg_buf *buf, uint64_t *seq, uint32_t *len)
{
	const size_t fh = SG_SPOOL_FRAME_HDR;
	const uint8_t *f;
	int rc = spool_reader_bytes(sp, sp->rpos_off, fh, &f);

	if (rc != SG_OK)
		return rc == SG_ENOTFOUND ? SG_ECORRUPT : rc;
	*len = sg_frame_claimed_len(f);
	if (sg_get_u32(f) != SG_FRAME_MAGIC || *len > sp->max_record ||
	    sp->rpos_off + (int64_t)(fh + *len) > sp->r_limit)
		return SG_ECORRUPT;
	sg_buf_reset(buf);
	if (fh + *len <= SPOOL_READ_CHUNK) {
		rc = spool_reader_bytes(sp, sp->rpos_off, fh + *len, &f);
		if (rc != SG_OK)
			return rc == SG_ENOTFOUND ? SG_ECORRUPT : rc;
		if (sg_frame_check(f, fh + *len, (uint32_t)sp->max_record, seq, len) != 1)
			return SG_ECORRUPT;
		if (!sg_buf_reserve(buf, *len))
			return SG_ENOMEM;
		memcpy(buf->p, f + fh, *len);
		buf->len = *len;
		return SG_OK;
	}
	if (!sg_buf_reserve(buf, fh + *len))
		return SG_ENOMEM;
	memcpy(buf->p, f, fh);
	rc = sg_pread_all(sp->rfd, buf->p + fh, *len, sp->rpos_off + (int64_t)fh);
	buf->len = fh + *len;
	if (rc == SG_ENOTFOUND)
		return SG_ECORRUPT;
	if (rc == SG_OK &&
	    sg_frame_check((uint8_t *)buf->p, buf->len, (uint32_t)sp->max_record, seq, len) != 1)
		return SG_ECORRUPT;
	if (rc == SG_OK) {
		memmove(buf->p, buf->p + fh, *len);
		buf->len = *len;
	}
	return rc;
}

/* A valid frame whose seq is not above the last one read: recovery puts
 * segments in seq order, so this is damage found at run time.  Said, and
 * counted; the record cannot be sent without breaking the order. */
static void spool_reader_misordered(struct sg_spool *sp, uint64_t seq)
{
	sg_counter_add(sp->m_misordered, 1);
	sg_log_rl(&sp->rl_order, SG_LOG_ERROR, "spool",
		  "segment %020" PRIu64 " offset %lld: record seq %" PRIu64
		  " is not above the last one read (%" PRIu64 "): skipped; run `sensorgate spool "
		  "verify`",
		  sp->rpos_first, (long long)sp->rpos_off, seq, sp->rseq);
}

int sg_spool_read(struct sg_spool *sp, uint64_t *seq_out, struct sg_buf *buf)
{
	uint64_t seq = 0;
	uint32_t len;
	int rc;

	for (;;) {
		/* The lock is taken only when the cached limit is reached, so a
		 * busy appender cannot starve the reader. */
		if (sp->rpos_off >= sp->r_limit || sp->rfd < 0 || sp->rfd_first != sp->rpos_first) {
			rc = spool_reader_refresh(sp);
			if (rc != SG_OK)
				return rc;
		}
		rc = spool_reader_frame(sp, buf, &seq, &len);
		if (rc == SG_OK && seq <= sp->rseq && seq > sp->rewind_after) {
			spool_reader_misordered(sp, seq);
			rc = SG_ECORRUPT;
		}
		if (rc == SG_ECORRUPT) {
			sp->rpos_off = spool_reader_resync(sp, sp->rpos_off, sp->r_limit);
			continue;
		}
		if (rc != SG_OK)
			return rc;
		sp->rpos_off += (int64_t)(SG_SPOOL_FRAME_HDR + len);
		if (seq <= sp->rewind_after)
			continue; /* delivered before a rewind point */
		sp->rseq = seq;
		if (seq > atomic_load(&sp->read_hi))
			atomic_store(&sp->read_hi, seq);
		*seq_out = seq;
		return SG_OK;
	}
}

void sg_spool_rewind(struct sg_spool *sp, uint64_t after_seq)
{
	pthread_mutex_lock(&sp->mu);
	sp->rpos_first = sp->nsegs ? sp->segs[0].first_seq : sp->next_seq;
	for (size_t i = 0; i < sp->nsegs; i++)
		if (sp->segs[i].records && sp->segs[i].first_seq <= after_seq + 1)
			sp->rpos_first = sp->segs[i].first_seq;
	sp->rpos_off = SG_SPOOL_SEG_HDR;
	sp->r_limit = 0;
	sp->rchunk_len = 0;
	sp->rseq = 0;
	sp->rewind_after = after_seq;
	pthread_mutex_unlock(&sp->mu);
	atomic_store(&sp->reader_waiting, true); /* read again from there */
	spool_notify(sp);
}
