/*
 * recover.c - opening a spool directory: lock it, read the ack cursor
 * and the epoch, scan every segment, put the segments in seq order by
 * what their frames say (layout.c), and act: truncate torn tails, rewrite
 * damaged headers when the frames are intact, rename misnamed segments,
 * move aside what cannot be read in order (never delete it), report every
 * seq gap that no tombstone explains, and work out the next seq so ids
 * keep increasing across restarts.  Then reuse the last segment for
 * appends (no new file needed: a full disk still opens) or make one.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/base/fs.h"
#include "gateway/base/log.h"
#include "frame.h"
#include "inspect.h"
#include "internal.h"

static void info_path(const struct sg_spool *sp, const struct sg_seg_info *s, char *out, size_t n)
{
	sg_spool_seg_path(sp->dir, s, out, n);
}

static void recover_move_aside(struct sg_spool *sp, const struct sg_seg_info *s, const char *why)
{
	char from[SPOOL_PATH_MAX], to[SPOOL_PATH_MAX + 100], cdir[SPOOL_PATH_MAX];

	snprintf(cdir, sizeof(cdir), "%s/corrupt", sp->dir);
	info_path(sp, s, from, sizeof(from));
	snprintf(to, sizeof(to), "%s/%020" PRIu64 ".seg.%lld", cdir, s->name,
		 (long long)(sg_now_ns() / SG_NS_PER_S));
	if ((sg_spool_io.mkdir(cdir, 0700) != 0 && errno != EEXIST) ||
	    sg_spool_io.rename(from, to) != 0) {
		sg_error("spool", "segment %s is %s and cannot be moved aside: %s", from, why,
			 strerror(errno));
		return;
	}
	sg_error("spool", "segment %s is %s: moved to %s; its events are not sent", from, why, to);
	sp->rec.segments_moved_aside++;
}

/* Rewrite a damaged header and cut a torn tail: the frames are intact. */
static int recover_repair(struct sg_spool *sp, struct sg_seg_info *s)
{
	char path[SPOOL_PATH_MAX];
	uint8_t h[SG_SPOOL_SEG_HDR];
	int fd, rc = SG_OK;

	if (!s->sc.bad_header && !s->sc.torn_bytes)
		return SG_OK;
	info_path(sp, s, path, sizeof(path));
	fd = sg_spool_io.open(path, O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		return SG_EIO;
	if (s->sc.bad_header) {
		sg_seg_header(h);
		if (sg_spool_io.pwrite(fd, h, sizeof(h), 0) != (ssize_t)sizeof(h))
			rc = SG_EIO;
		else
			sp->rec.headers_repaired++;
		sg_error("spool",
			 "segment %s: damaged header rewritten; its %" PRIu64
			 " intact events are kept",
			 path, s->sc.records);
	}
	if (s->sc.torn_bytes && s->sc.torn_records)
		sg_warn("spool",
			"segment %s: torn tail of %zu bytes truncated at offset %zu: %" PRIu64
			" events of a batch whose append did not finish (a batch is stored whole "
			"or not at all; its source was not told it was stored)",
			path, s->sc.torn_bytes, s->sc.valid_end, s->sc.torn_records);
	else if (s->sc.torn_bytes)
		sg_warn("spool", "segment %s: torn tail of %zu bytes truncated at offset %zu", path,
			s->sc.torn_bytes, s->sc.valid_end);
	if (s->sc.torn_bytes) {
		if (sg_spool_io.ftruncate(fd, (off_t)s->sc.valid_end) != 0)
			rc = SG_EIO;
		sp->rec.truncated_bytes += s->sc.torn_bytes;
		sp->rec.torn_batch_records += s->sc.torn_records;
		s->size = (int64_t)s->sc.valid_end;
	}
	if (rc == SG_OK && sg_spool_io.fdatasync(fd) != 0)
		rc = SG_EIO;
	if (rc != SG_OK)
		sg_error("spool", "cannot repair %s: %s", path, strerror(errno));
	sg_spool_io.close(fd);
	return rc;
}

/* The last step of a rename: s, under its temporary name, to its first
 * seq, never over another file. */
static int recover_rename_final(struct sg_spool *sp, struct sg_seg_info *s)
{
	char from[SPOOL_PATH_MAX], tmp[SPOOL_PATH_MAX + 8], to[SPOOL_PATH_MAX];

	spool_seg_path(sp, s->name, from, sizeof(from));
	snprintf(tmp, sizeof(tmp), "%s.ren", from);
	spool_seg_path(sp, s->sc.first_seq, to, sizeof(to));
	if (access(to, F_OK) == 0) {
		sg_error("spool", "cannot rename %s: %s exists", tmp, to);
		return SG_EIO;
	}
	if (sg_spool_io.rename(tmp, to)) {
		sg_error("spool", "cannot rename %s: %s", tmp, strerror(errno));
		return SG_EIO;
	}
	sg_error("spool",
		 "segment %020" PRIu64 " held seqs %" PRIu64 "..%" PRIu64 ": renamed to %020" PRIu64
		 ".seg (out of order)",
		 s->name, s->sc.first_seq, s->sc.last_seq, s->sc.first_seq);
	s->name = s->sc.first_seq;
	s->tmp_name = false;
	s->verdict = SG_SEG_KEEP; /* done: phase 1 passes it by */
	sp->rec.misordered++;
	return SG_OK;
}

/* A segment left under the temporary name that s is about to take (a
 * crash between the two renames): it goes to its own name first, so
 * that rename(2) does not replace it with s. */
static int recover_free_tmp(struct sg_spool *sp, struct sg_spool_inspect *l,
			    const struct sg_seg_info *s, const char *tmp)
{
	if (access(tmp, F_OK) != 0)
		return SG_OK;
	for (size_t j = 0; j < l->nsegs; j++) {
		struct sg_seg_info *o = &l->segs[j];

		if (o->tmp_name && o->name == s->name && o->verdict == SG_SEG_RENAME)
			return recover_rename_final(sp, o);
	}
	sg_error("spool", "cannot rename segment %020" PRIu64 ": %s exists", s->name, tmp);
	return SG_EIO;
}

/* Rename the misnamed segments to their first seq, through temporary
 * names (two may have swapped names). */
static int recover_renames(struct sg_spool *sp, struct sg_spool_inspect *l)
{
	char from[SPOOL_PATH_MAX], tmp[SPOOL_PATH_MAX + 8];
	int rc;

	for (size_t i = 0; i < l->nsegs; i++) {
		struct sg_seg_info *s = &l->segs[i];

		if (s->verdict != SG_SEG_RENAME || s->tmp_name)
			continue;
		spool_seg_path(sp, s->name, from, sizeof(from));
		snprintf(tmp, sizeof(tmp), "%s.ren", from);
		if ((rc = recover_free_tmp(sp, l, s, tmp)) != SG_OK)
			return rc;
		if (sg_spool_io.rename(from, tmp)) {
			sg_error("spool", "cannot rename %s: %s", from, strerror(errno));
			return SG_EIO;
		}
		s->tmp_name = true;
	}
	for (size_t i = 0; i < l->nsegs; i++)
		if (l->segs[i].verdict == SG_SEG_RENAME &&
		    (rc = recover_rename_final(sp, &l->segs[i])) != SG_OK)
			return rc;
	return SG_OK;
}

static int recover_add(struct sg_spool *sp, const struct sg_seg_info *s)
{
	if (sp->nsegs == sp->capsegs) {
		size_t cap = sp->capsegs ? sp->capsegs * 2 : 16;
		struct seg *ns = realloc(sp->segs, cap * sizeof(*ns));
		if (!ns)
			return SG_ENOMEM;
		sp->segs = ns;
		sp->capsegs = cap;
	}
	sp->segs[sp->nsegs++] = (struct seg){.first_seq = s->name,
					     .last_seq = s->sc.last_seq,
					     .records = s->sc.records,
					     .size = s->size,
					     /* a damaged header is rewritten as ours */
					     .batches = s->sc.version != SG_SEG_VERSION_MIN};
	sp->total_bytes += s->size;
	return SG_OK;
}

/* Log what the layout found before a kept segment. */
static void recover_report_gap(struct sg_spool *sp, const struct sg_seg_info *s)
{
	if (s->dropped_before)
		sg_info("spool",
			"%" PRIu64 " events before seq %" PRIu64
			" were dropped by when_full: drop_oldest (counted then)",
			s->dropped_before, s->sc.first_seq);
	if (s->gap_before) {
		sg_error("spool",
			 "%" PRIu64 " undelivered events before seq %" PRIu64
			 " are missing (a deleted segment?): they are lost",
			 s->gap_before, s->sc.first_seq);
		sp->rec.gap_records += s->gap_before;
	}
}

/* Act on one judged segment; empty ones are handled by the caller. */
static int recover_one(struct sg_spool *sp, struct sg_seg_info *s)
{
	if (s->verdict == SG_SEG_ALIEN || s->verdict == SG_SEG_OVERLAP) {
		recover_move_aside(sp, s,
				   s->verdict == SG_SEG_ALIEN
				       ? "of a format version this release does not read"
				       : "overlapping the seqs of another segment (a copy?)");
		if (s->verdict == SG_SEG_OVERLAP)
			sp->rec.misordered++;
		return SG_OK;
	}
	if (s->sc.corrupt_regions) {
		sg_error("spool",
			 "segment %020" PRIu64 ": %" PRIu64 " corrupt region(s) skipped, %" PRIu64
			 " event(s) lost; %" PRIu64 " good events kept",
			 s->name, s->sc.corrupt_regions, s->sc.corrupt_lost, s->sc.records);
		sp->rec.corrupt_regions += s->sc.corrupt_regions;
		sp->rec.corrupt_lost_records += s->sc.corrupt_lost;
	}
	recover_report_gap(sp, s);
	sp->rec.recovered_records += s->sc.records;
	return recover_repair(sp, s);
}

/* An empty segment: the last one may be reused; others go (their name
 * is remembered in next_seq by the caller). */
static bool recover_empty(struct sg_spool *sp, struct sg_seg_info *s, bool last, uint64_t top)
{
	char path[SPOOL_PATH_MAX];

	if (s->sc.bad_header && !s->sc.torn_bytes && s->size >= SG_SPOOL_SEG_HDR) {
		recover_move_aside(sp, s, "unreadable (bad header, no intact event)");
		return false;
	}
	if (last && !s->sc.bad_header && !s->tmp_name && s->name > top)
		return true;
	info_path(sp, s, path, sizeof(path));
	if (sg_spool_io.unlink(path) != 0)
		sg_warn("spool", "cannot remove empty segment %s: %s", path, strerror(errno));
	return false;
}

/* Make the table from the judged listing, and next_seq. */
static int recover_segments(struct sg_spool *sp, struct sg_spool_inspect *l)
{
	int rc;

	for (size_t i = 0; i < l->nsegs; i++) {
		struct sg_seg_info *s = &l->segs[i];

		if (s->unreadable) {
			sg_error("spool", "cannot read segment %020" PRIu64 " in %s: %s", s->name,
				 sp->dir, strerror(errno));
			return SG_EIO;
		}
		/* Seqs never go back: not below any name or record. */
		if (s->name > sp->next_seq)
			sp->next_seq = s->name;
		if (s->sc.records && s->sc.last_seq >= sp->next_seq)
			sp->next_seq = s->sc.last_seq + 1;
		if (s->verdict != SG_SEG_EMPTY && (rc = recover_one(sp, s)) != SG_OK)
			return rc;
		/* Empty ones go (or stay, the last) before any rename: a rename
		 * may target an empty one's name. */
		s->keep = s->verdict == SG_SEG_KEEP || s->verdict == SG_SEG_RENAME;
		if (s->verdict == SG_SEG_EMPTY)
			s->keep = recover_empty(sp, s, i + 1 == l->nsegs, l->lay.last_seq);
	}
	if ((rc = recover_renames(sp, l)) != SG_OK)
		return rc;
	for (size_t i = 0; i < l->nsegs; i++)
		if (l->segs[i].keep && (rc = recover_add(sp, &l->segs[i])) != SG_OK)
			return rc;
	for (size_t i = 0; i < l->ntombs; i++)
		if (l->tombs[i].last + 1 > sp->next_seq)
			sp->next_seq = l->tombs[i].last + 1;
	return SG_OK;
}

/* Tombstones above the cursor stay (table); the others are removed. */
static void recover_tombs(struct sg_spool *sp, const struct sg_spool_inspect *l, uint64_t ack)
{
	char path[SPOOL_PATH_MAX], name[SG_TOMB_NAME_LEN + 1];

	for (size_t i = 0; i < l->ntombs; i++) {
		if (l->tombs[i].last > ack) {
			spool_tomb_add(sp, l->tombs[i].first, l->tombs[i].last);
			continue;
		}
		sg_tomb_name(l->tombs[i].first, l->tombs[i].last, name);
		snprintf(path, sizeof(path), "%s/%s", sp->dir, name);
		sg_spool_io.unlink(path);
	}
}

static void epoch_hex(struct sg_spool *sp)
{
	snprintf(sp->epoch_hex, sizeof(sp->epoch_hex), "%016" PRIx64, sp->epoch);
}

int spool_epoch_save(struct sg_spool *sp)
{
	uint8_t b[SG_EPOCH_FILE_LEN];
	int rc;

	sg_epoch_encode(b, sp->epoch);
	rc = spool_io_write_atomic(sp->dir, "epoch", b, sizeof(b));
	sp->epoch_unsaved = rc != SG_OK;
	return rc;
}

int spool_epoch_load(struct sg_spool *sp, bool fresh)
{
	char path[SPOOL_PATH_MAX], *data = NULL;
	size_t len = 0;
	int rc;

	snprintf(path, sizeof(path), "%s/epoch", sp->dir);
	rc = sg_read_file(path, 64, &data, &len);
	if (rc == SG_OK && sg_epoch_decode(data, len, &sp->epoch) == 0) {
		free(data);
		epoch_hex(sp);
		return SG_OK;
	}
	free(data);
	if (rc != SG_ENOTFOUND || !fresh)
		sg_warn("spool",
			"%s is %s: a new spool epoch is made (events sent again from this spool "
			"carry the new one)",
			path, rc == SG_ENOTFOUND ? "missing" : "unreadable");
	do {
		if (getrandom(&sp->epoch, sizeof(sp->epoch), 0) != (ssize_t)sizeof(sp->epoch))
			sp->epoch = (uint64_t)sg_now_ns() ^ ((uint64_t)getpid() << 40);
	} while (!sp->epoch);
	epoch_hex(sp);
	if (spool_epoch_save(sp) != SG_OK)
		sg_error("spool", "cannot save the spool epoch in %s: %s (tried again later)", path,
			 strerror(errno));
	return SG_OK;
}

static int recover_lock(struct sg_spool *sp, struct sg_errbuf *eb)
{
	char path[SPOOL_PATH_MAX];

	snprintf(path, sizeof(path), "%s/lock", sp->dir);
	sp->lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (sp->lockfd < 0)
		return sg_errf(eb, SG_EIO, "cannot create %s: %s", path, strerror(errno));
	if (flock(sp->lockfd, LOCK_EX | LOCK_NB) != 0)
		return sg_errf(eb, SG_EIO, "spool %s is in use by another process (%s)", sp->dir,
			       strerror(errno));
	return SG_OK;
}

static void recover_counters(struct sg_spool *sp)
{
	sp->m_appended = sg_metric("spool_appended", "", false);
	sp->m_dropped_oldest = sg_metric("dropped", "reason=\"spool_full_oldest\"", false);
	sp->m_dropped_newest = sg_metric("dropped", "reason=\"spool_full_newest\"", false);
	sp->m_blocked = sg_metric("spool_full_waits", "", false);
	sp->m_errors_io = sg_metric("errors", "class=\"spool_io\"", false);
	sp->m_errors_fsync = sg_metric("errors", "class=\"spool_fsync\"", false);
	sp->m_errors_toolarge = sg_metric("errors", "class=\"event_too_large\"", false);
	sp->m_bytes = sg_metric("spool_bytes", "", true);
	sp->m_pending = sg_metric("spool_records", "", true);
	sp->m_segments = sg_metric("spool_segments", "", true);
	sp->m_disk_full = sg_metric("spool_disk_full", "", false);
	sp->m_misordered = sg_metric("spool_misordered", "", false);
	sg_counter_add(sp->m_misordered, sp->rec.misordered);
	sg_counter_add(sg_metric("spool_corrupt_regions", "", false), sp->rec.corrupt_regions);
	sg_counter_add(sg_metric("spool_truncated_bytes", "", false), sp->rec.truncated_bytes);
	sg_counter_add(sg_metric("spool_segments_moved_aside", "", false),
		       sp->rec.segments_moved_aside);
	sg_counter_add(sg_metric("spool_gap_records", "", false), sp->rec.gap_records);
	sg_counter_add(sg_metric("spool_headers_repaired", "", false), sp->rec.headers_repaired);
	sg_counter_add(sg_metric("spool_torn_batch_events", "", false), sp->rec.torn_batch_records);
}

/* Appends go on in the last segment if it has room (no new file: this is
 * how a full disk still opens), else into a new one. */
static void recover_active(struct sg_spool *sp)
{
	char path[SPOOL_PATH_MAX];
	struct seg *last = sp->nsegs ? &sp->segs[sp->nsegs - 1] : NULL;
	int fd = -1, rc;

	/* An append that does not fit rolls as usual (spool_fits). */
	if (last && (last->size < sp->segment_bytes || !last->records)) {
		spool_seg_path(sp, last->first_seq, path, sizeof(path));
		fd = sg_spool_io.open(path, O_WRONLY | O_APPEND | O_CLOEXEC, 0600);
	}
	if (fd >= 0) {
		spool_seg_activate(sp, fd, last->size);
		sp->vis_first = last->first_seq;
		sp->vis_off = last->size;
		return;
	}
	rc = spool_seg_create(sp);
	if (rc == SG_OK)
		return;
	sp->disk_full = rc == SG_ENOSPC;
	sp->vis_first = last ? last->first_seq : sp->next_seq;
	sp->vis_off = last ? last->size : SG_SPOOL_SEG_HDR;
	sg_warn("spool", "cannot make a segment in %s: %s (%s); appends wait for room", sp->dir,
		sg_strerror(rc), strerror(errno));
}

static struct sg_ack recover_cursor(struct sg_spool *sp)
{
	struct sg_ack a = {0};
	int rc = spool_load_cursor(sp->dir, &a);

	if (rc == SG_ECORRUPT)
		sg_error("spool",
			 "%s/ack is corrupt: ignoring it; undelivered and "
			 "delivered events will be sent again (duplicates, no loss)",
			 sp->dir);
	if (rc != SG_OK)
		memset(&a, 0, sizeof(a));
	return a;
}

/* After another boot, seqs start above the reservation: records the
 * power cut took from the spool may be in Kafka already (spool.h).  After
 * a process crash in the same boot the page cache kept every append, and
 * the recovered seqs are exact. */
static void recover_boot(struct sg_spool *sp, const struct sg_ack *a)
{
	uint8_t boot[SG_BOOT_ID_LEN];

	if (sg_spool_io.boot_id(boot) != 0)
		memset(boot, 0, sizeof(boot));
	if (a->seq_hw <= sp->next_seq || !memcmp(boot, a->boot, sizeof(boot)))
		return;
	sg_warn("spool",
		"started after a reboot that the spool did not see coming: seqs %" PRIu64
		"..%" PRIu64 " are skipped (reserved before it; so no id is issued twice)",
		sp->next_seq, a->seq_hw - 1);
	sp->next_seq = a->seq_hw;
}

static void recover_init(struct sg_spool *sp, const struct sg_spool_conf *c)
{
	sp->dir = sg_strdup(c->dir);
	sp->fsync_ms = c->fsync_ms;
	sp->max_bytes = c->max_bytes;
	sp->segment_bytes = c->segment_bytes;
	sp->when_full = c->when_full;
	sp->ack_interval_ms = c->ack_interval_ms;
	sp->max_record = c->max_record_bytes;
	sp->wfd = sp->rfd = sp->lockfd = sp->cfd = -1;
	sp->prealloc = true;
	sp->next_seq = 1;
	pthread_mutex_init(&sp->ap_mu, NULL);
	pthread_mutex_init(&sp->mu, NULL);
	pthread_mutex_init(&sp->ck_mu, NULL);
	pthread_mutex_init(&sp->cur_mu, NULL);
	pthread_cond_init(&sp->space_cv, NULL);
}

/* Everything of open between the lock and the flusher. */
static int recover_dir(struct sg_spool *sp, struct sg_errbuf *eb)
{
	struct sg_spool_inspect l;
	struct sg_ack cur = recover_cursor(sp);
	uint64_t ack = cur.acked;
	int rc;

	sp->acked_seq = sp->saved_ack = ack;
	if (ack >= sp->next_seq)
		sp->next_seq = ack + 1;
	if ((rc = sg_spool_inspect(sp->dir, (uint32_t)sp->max_record, false, &l)) != SG_OK) {
		rc = sg_errf(eb, rc, "cannot list %s: %s", sp->dir, strerror(errno));
	} else if ((rc = recover_segments(sp, &l)) != SG_OK) {
		rc = sg_errf(eb, rc, "recovery of %s failed", sp->dir);
	} else {
		recover_tombs(sp, &l, ack);
		recover_boot(sp, &cur);
		spool_epoch_load(sp, !l.nsegs && !ack);
		if (spool_cursor_open(sp, ack) != SG_OK)
			sg_error("spool", "cannot make %s/ack: %s (tried again later)", sp->dir,
				 strerror(errno));
		sg_spool_io.fsync_dir(sp->dir);
		recover_active(sp);
		if (!sp->segs) /* no segment at all: an empty table */
			sp->segs = sg_xcalloc(1, sizeof(*sp->segs)), sp->capsegs = 1;
	}
	sg_spool_inspect_free(&l);
	return rc;
}

int sg_spool_open(const struct sg_spool_conf *c, struct sg_spool **out, struct sg_errbuf *eb)
{
	struct sg_spool *sp = sg_xcalloc(1, sizeof(*sp));
	int rc;

	recover_init(sp, c);
	sp->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (sp->evfd < 0) {
		rc = sg_errf(eb, SG_EIO, "eventfd: %s", strerror(errno));
		goto err;
	}
	if (sg_mkdir_p(sp->dir, 0700) != SG_OK) {
		rc = sg_errf(eb, SG_EIO, "cannot create spool directory %s: %s", sp->dir,
			     strerror(errno));
		goto err;
	}
	if ((rc = recover_lock(sp, eb)) != SG_OK || (rc = recover_dir(sp, eb)) != SG_OK)
		goto err;
	sp->written_seq = sp->durable_seq = sp->next_seq - 1;
	sp->rpos_first = sp->nsegs ? sp->segs[0].first_seq : sp->next_seq;
	sp->rpos_off = SG_SPOOL_SEG_HDR;
	sp->rewind_after = sp->acked_seq;
	atomic_store(&sp->read_hi, sp->acked_seq);
	recover_counters(sp);
	if (sp->rec.recovered_records)
		sg_info("spool",
			"recovered %s: %" PRIu64 " events on disk, delivered up to seq %" PRIu64
			", next seq %" PRIu64 ", epoch %s",
			sp->dir, sp->rec.recovered_records, sp->acked_seq, sp->next_seq,
			sp->epoch_hex);
	if ((rc = spool_start_flusher(sp)) != SG_OK) {
		sg_errf(eb, rc, "cannot start the spool flusher thread");
		goto err;
	}
	sg_spool_checkpoint(sp); /* drop segments already delivered */
	*out = sp;
	return SG_OK;
err:
	sg_spool_close(sp);
	return rc;
}
