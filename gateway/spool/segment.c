/*
 * segment.c - the spool's segment files: made preallocated (so an append
 * into the active segment never meets ENOSPC), sealed and trimmed,
 * deleted, and replaced by a tombstone when drop_oldest drops one that
 * is not the oldest.  The table of segments is in struct sg_spool
 * (internal.h); every function here runs with mu held (spool_roll drops
 * it while it syncs, holding ap_mu).
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway/base/log.h"
#include "frame.h"
#include "internal.h"

struct seg *spool_seg_find(struct sg_spool *sp, uint64_t first_seq)
{
	size_t lo = 0, hi = sp->nsegs;

	while (lo < hi) { /* the table is sorted by first_seq */
		size_t mid = lo + (hi - lo) / 2;
		if (sp->segs[mid].first_seq < first_seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < sp->nsegs && sp->segs[lo].first_seq == first_seq ? &sp->segs[lo] : NULL;
}

void spool_seg_path(const struct sg_spool *sp, uint64_t first_seq, char *out, size_t n)
{
	snprintf(out, n, "%s/%020" PRIu64 ".seg", sp->dir, first_seq);
}

/* Wake the reader if it said it may wait (reader.c, spool_reader_refresh):
 * one write(2) per time it caught up, not one per append. */
void spool_notify(struct sg_spool *sp)
{
	uint64_t one = 1;
	ssize_t r;

	if (!atomic_exchange(&sp->reader_waiting, false))
		return;
	r = write(sp->evfd, &one, sizeof(one));
	(void)r; /* EAGAIN: counter saturated, reader is awake anyway */
}

/* The segment appends go to, or NULL when there is none (full disk). */
struct seg *spool_active(struct sg_spool *sp)
{
	return sp->wfd >= 0 && sp->nsegs ? &sp->segs[sp->nsegs - 1] : NULL;
}

static bool errno_unsupported(void)
{
	return errno == EOPNOTSUPP || errno == ENOSYS || errno == EINVAL;
}

void spool_seg_activate(struct sg_spool *sp, int fd, int64_t size)
{
	sp->wfd = fd;
	sp->act_reserved = false;
	if (!sp->prealloc || size >= sp->segment_bytes)
		return;
	if (sg_spool_io.fallocate(fd, FALLOC_FL_KEEP_SIZE, size, sp->segment_bytes - size) == 0)
		sp->act_reserved = true;
	else if (errno_unsupported())
		sp->prealloc = false; /* free-space checks from now on */
}

/* Give back the preallocated blocks past the end of a sealed segment. */
static void spool_seg_trim(struct sg_spool *sp, int fd, int64_t size)
{
	if (sp->prealloc && size < sp->segment_bytes)
		(void)sg_spool_io.fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, size,
					    sp->segment_bytes - size);
}

/* Enough free space for need bytes plus the reserve?  Only where the
 * filesystem does not preallocate. */
bool spool_free_ok(int fd, size_t need)
{
	uint64_t avail;

	if (sg_spool_io.free_bytes(fd, &avail) != 0)
		return true; /* cannot tell: the write will say */
	return avail >= need + SG_SPOOL_RESERVE;
}

/* A new file for the segment named next_seq, preallocated, with its
 * header.  Returns the fd or -1 (errno set, nothing left behind). */
static int spool_seg_file(struct sg_spool *sp, const char *path)
{
	uint8_t h[SG_SPOOL_SEG_HDR];
	int fd = sg_spool_io.open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
	int e = 0;

	if (fd < 0)
		return -1;
	if (sp->prealloc &&
	    sg_spool_io.fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, sp->segment_bytes) != 0) {
		if (errno_unsupported())
			sp->prealloc = false;
		else
			e = errno;
	}
	if (!e && !sp->prealloc && !spool_free_ok(fd, SG_SPOOL_SEG_HDR))
		e = ENOSPC;
	sg_seg_header(h);
	if (!e && spool_io_write_all(fd, h, sizeof(h)) != SG_OK)
		e = errno;
	if (!e && sp->fsync_ms != SG_FSYNC_NEVER &&
	    (sg_spool_io.fdatasync(fd) != 0 || sg_spool_io.fsync_dir(sp->dir) != 0))
		e = errno ? errno : EIO;
	if (e) {
		sg_spool_io.close(fd);
		sg_spool_io.unlink(path);
		errno = e;
		return -1;
	}
	return fd;
}

/* Room in the table for one more segment.  Caller holds mu. */
static int spool_seg_room(struct sg_spool *sp)
{
	if (sp->nsegs == sp->capsegs) {
		size_t cap = sp->capsegs ? sp->capsegs * 2 : 16;
		struct seg *ns = realloc(sp->segs, cap * sizeof(*ns));
		if (!ns)
			return SG_ENOMEM;
		sp->segs = ns;
		sp->capsegs = cap;
	}
	return SG_OK;
}

/* Make fd, the new file for the segment named next_seq, the writer.
 * Caller holds mu and made room in the table. */
static void spool_seg_install(struct sg_spool *sp, int fd)
{
	const struct seg *prev = sp->nsegs ? &sp->segs[sp->nsegs - 1] : NULL;

	/* Never two segments with one name: O_TRUNC would empty a listed one. */
	assert(!prev || prev->first_seq < sp->next_seq);
	(void)prev;
	if (sp->wfd >= 0)
		sg_spool_io.close(sp->wfd);
	sp->wfd = fd;
	sp->act_reserved = sp->prealloc;
	sp->segs[sp->nsegs++] = (struct seg){
	    .first_seq = sp->next_seq, .last_seq = 0, .size = SG_SPOOL_SEG_HDR, .batches = true};
	sp->total_bytes += SG_SPOOL_SEG_HDR;
	/* Callers made everything before it durable (spool_roll syncs). */
	sp->vis_first = sp->next_seq;
	sp->vis_off = SG_SPOOL_SEG_HDR;
}

int spool_seg_create(struct sg_spool *sp)
{
	char path[SPOOL_PATH_MAX];
	int fd, rc;

	if ((rc = spool_seg_room(sp)) != SG_OK)
		return rc;
	spool_seg_path(sp, sp->next_seq, path, sizeof(path));
	fd = spool_seg_file(sp, path);
	if (fd < 0)
		return spool_io_err();
	spool_seg_install(sp, fd);
	return SG_OK;
}

/*
 * Seal the active segment (synced unless fsync never) and start a new
 * one.  On failure the sealed segment stays the writer, to be rolled
 * again by the next append.  Caller holds ap_mu and mu; mu is dropped
 * while the old segment is synced and the new file made, synced and
 * named in the directory (on an SD card that can be a second), so the
 * producer reads, acknowledges and reports meanwhile.  What could change
 * without mu is not the writer's: appends wait on ap_mu, the active
 * segment is never deleted, and the flusher only syncs the old fd.
 */
int spool_roll(struct sg_spool *sp)
{
	struct seg *act = spool_active(sp);
	char path[SPOOL_PATH_MAX];
	uint64_t first = act ? act->first_seq : 0, written = sp->written_seq;
	int64_t size = act ? act->size : 0;
	int wfd = sp->wfd, fd, rc, e = 0;

	if ((rc = spool_seg_room(sp)) != SG_OK)
		return rc;
	spool_seg_path(sp, sp->next_seq, path, sizeof(path));
	pthread_mutex_unlock(&sp->mu);
	if (act) {
		if (sp->fsync_ms != SG_FSYNC_NEVER && sg_spool_io.fdatasync(wfd) != 0) {
			sg_error("spool", "fsync of segment %020" PRIu64 " failed: %s", first,
				 strerror(errno));
			sg_counter_add(sp->m_errors_fsync, 1);
		}
		spool_seg_trim(sp, wfd, size);
	}
	fd = spool_seg_file(sp, path);
	if (fd < 0)
		e = errno;
	pthread_mutex_lock(&sp->mu);
	if (act) {
		/* Everything written so far is now as durable as it gets. */
		if (written > sp->durable_seq)
			sp->durable_seq = written;
		if (first > sp->vis_first || (first == sp->vis_first && size > sp->vis_off)) {
			sp->vis_first = first;
			sp->vis_off = size;
		}
	}
	if (fd < 0) {
		errno = e;
		return spool_io_err();
	}
	spool_seg_install(sp, fd);
	return SG_OK;
}

void spool_seg_delete(struct sg_spool *sp, size_t i)
{
	char path[SPOOL_PATH_MAX];
	struct seg *s = &sp->segs[i];

	spool_seg_path(sp, s->first_seq, path, sizeof(path));
	if (sg_spool_io.unlink(path) != 0 && errno != ENOENT)
		sg_warn("spool", "cannot delete %s: %s", path, strerror(errno));
	sp->total_bytes -= s->size;
	/* The reader's fd (if it is on this segment) stays open and valid:
	 * the reader owns it and moves on by itself. */
	memmove(s, s + 1, (sp->nsegs - i - 1) * sizeof(*s));
	sp->nsegs--;
}

void spool_tomb_add(struct sg_spool *sp, uint64_t first, uint64_t last)
{
	size_t i = sp->ntombs;

	if (sp->ntombs == sp->captombs) {
		size_t cap = sp->captombs ? sp->captombs * 2 : 8;
		struct tomb *nt = realloc(sp->tombs, cap * sizeof(*nt));
		if (!nt)
			return; /* only the gap report at the next start suffers */
		sp->tombs = nt;
		sp->captombs = cap;
	}
	while (i > 0 && sp->tombs[i - 1].first > first) {
		sp->tombs[i] = sp->tombs[i - 1];
		i--;
	}
	sp->tombs[i] = (struct tomb){first, last};
	sp->ntombs++;
}

/* Replace segs[i] (dropped, a seq gap from now on) by its tombstone:
 * renamed, then emptied, so no instant leaves the gap unexplained. */
void spool_seg_bury(struct sg_spool *sp, size_t i)
{
	char from[SPOOL_PATH_MAX], to[SPOOL_PATH_MAX], name[SG_TOMB_NAME_LEN + 1];
	struct seg *s = &sp->segs[i];
	uint64_t last = i + 1 < sp->nsegs ? sp->segs[i + 1].first_seq - 1 : s->last_seq;
	int fd;

	spool_seg_path(sp, s->first_seq, from, sizeof(from));
	sg_tomb_name(s->first_seq, last, name);
	snprintf(to, sizeof(to), "%s/%s", sp->dir, name);
	if (sg_spool_io.rename(from, to) == 0) {
		fd = sg_spool_io.open(to, O_WRONLY | O_TRUNC | O_CLOEXEC, 0600);
		if (fd >= 0)
			sg_spool_io.close(fd);
		spool_tomb_add(sp, s->first_seq, last);
	}
	spool_seg_delete(sp, i); /* unlinks what is left of the name */
}
