/*
 * recover.c - opening a spool directory: lock it, read the ack
 * cursor, scan every segment, truncate torn tails, skip and count corrupt
 * regions, move unreadable segments aside (never delete them), and work
 * out the next seq so ids keep increasing across restarts.
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
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/base/log.h"
#include "frame.h"
#include "internal.h"
#include "gateway/base/crc32c.h"
#include "gateway/base/fs.h"

int spool_load_cursor(const char *dir, uint64_t *seq)
{
	char path[4200], *data = NULL;
	size_t len = 0;
	int rc;

	snprintf(path, sizeof(path), "%s/ack", dir);
	rc = sg_read_file(path, 64, &data, &len);
	if (rc != SG_OK)
		return rc;
	if (sg_ack_decode(data, len, seq) != 0)
		rc = SG_ECORRUPT;
	free(data);
	return rc;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Sorted first seqs of the *.seg files in dir. */
static int recover_list(const char *dir, uint64_t **out, size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	uint64_t *v = NULL;
	size_t cnt = 0, cap = 0;

	if (!d)
		return SG_EIO;
	while ((e = readdir(d))) {
		char *end;
		unsigned long long s;

		if (strlen(e->d_name) != SG_SEG_NAME_LEN)
			continue;
		errno = 0;
		s = strtoull(e->d_name, &end, 10);
		if (errno || end != e->d_name + SG_SEG_NAME_DIGITS || strcmp(end, ".seg") != 0)
			continue;
		if (cnt == cap) {
			cap = cap ? cap * 2 : 64;
			uint64_t *nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				free(v);
				closedir(d);
				return SG_ENOMEM;
			}
			v = nv;
		}
		v[cnt++] = s;
	}
	closedir(d);
	if (cnt)
		qsort(v, cnt, sizeof(*v), cmp_u64);
	*out = v;
	*n = cnt;
	return SG_OK;
}

static void recover_move_aside(struct sg_spool *sp, uint64_t first, const char *why)
{
	char from[4200], to[4300], cdir[4200];

	snprintf(cdir, sizeof(cdir), "%s/corrupt", sp->dir);
	spool_seg_path(sp, first, from, sizeof(from));
	snprintf(to, sizeof(to), "%s/%020" PRIu64 ".seg.%lld", cdir, first,
		 (long long)(sg_now_ns() / SG_NS_PER_S));
	if (sg_mkdir_p(cdir, 0700) != SG_OK || rename(from, to) != 0) {
		sg_error("spool", "segment %s is %s and cannot be moved aside: %s", from, why,
			 strerror(errno));
		return;
	}
	sg_error("spool", "segment %s is %s: moved to %s; its events are not sent", from, why, to);
	sp->rec.segments_moved_aside++;
}

/* Scan one segment; add it to the table or move it aside. */
static int recover_segment(struct sg_spool *sp, uint64_t first, bool last)
{
	char path[4200];
	struct sg_seg_scan sc;
	struct stat st;
	uint8_t *map = NULL;
	int fd;

	spool_seg_path(sp, first, path, sizeof(path));
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0) {
		sg_error("spool", "cannot open %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return SG_EIO;
	}
	if (st.st_size > 0) {
		map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (map == MAP_FAILED) {
			sg_error("spool", "cannot map %s: %s", path, strerror(errno));
			close(fd);
			return SG_EIO;
		}
	}
	sg_seg_scan(map, (size_t)st.st_size, (uint32_t)sp->max_record, NULL, NULL, &sc);
	if (map)
		munmap(map, (size_t)st.st_size);
	if (sc.bad_header) {
		close(fd);
		if (st.st_size < SG_SPOOL_SEG_HDR && last) {
			/* Created but its header never reached the disk. */
			unlink(path);
			return SG_OK;
		}
		recover_move_aside(sp, first, "unreadable (bad header or version)");
		return SG_OK;
	}
	if (sc.corrupt_regions) {
		sg_error("spool",
			 "segment %s: %" PRIu64 " corrupt region(s) skipped, about %" PRIu64
			 " event(s) lost; %" PRIu64 " good events kept",
			 path, sc.corrupt_regions, sc.corrupt_lost, sc.records);
		sp->rec.corrupt_regions += sc.corrupt_regions;
		sp->rec.corrupt_lost_records += sc.corrupt_lost;
	}
	if (sc.torn_bytes) {
		sg_warn("spool", "segment %s: torn tail of %zu bytes truncated at offset %zu", path,
			sc.torn_bytes, sc.valid_end);
		if (ftruncate(fd, (off_t)sc.valid_end) != 0 || fsync(fd) != 0) {
			sg_error("spool", "cannot truncate %s: %s", path, strerror(errno));
			close(fd);
			return SG_EIO;
		}
		sp->rec.truncated_bytes += sc.torn_bytes;
	}
	close(fd);
	if (!sc.records) {
		/* Nothing in it (created, then nothing appended): drop it, but
		 * keep its name's seq so seqs never go back.  Reusing the name
		 * for the new segment would truncate a file still listed. */
		if (first > sp->next_seq)
			sp->next_seq = first;
		if (unlink(path) != 0)
			sg_warn("spool", "cannot remove empty segment %s: %s", path,
				strerror(errno));
		return SG_OK;
	}
	if (sp->nsegs == sp->capsegs) {
		size_t cap = sp->capsegs ? sp->capsegs * 2 : 16;
		struct seg *ns = realloc(sp->segs, cap * sizeof(*ns));
		if (!ns)
			return SG_ENOMEM;
		sp->segs = ns;
		sp->capsegs = cap;
	}
	sp->segs[sp->nsegs++] = (struct seg){.first_seq = first,
					     .last_seq = sc.last_seq,
					     .records = sc.records,
					     .size = (int64_t)sc.valid_end};
	sp->total_bytes += (int64_t)sc.valid_end;
	sp->rec.recovered_records += sc.records;
	if (sc.last_seq >= sp->next_seq)
		sp->next_seq = sc.last_seq + 1;
	if (first > sp->next_seq)
		sp->next_seq = first;
	return SG_OK;
}

static int recover_lock(struct sg_spool *sp, struct sg_errbuf *eb)
{
	char path[4200];

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
	sg_counter_add(sg_metric("spool_corrupt_regions", "", false), sp->rec.corrupt_regions);
	sg_counter_add(sg_metric("spool_truncated_bytes", "", false), sp->rec.truncated_bytes);
	sg_counter_add(sg_metric("spool_segments_moved_aside", "", false),
		       sp->rec.segments_moved_aside);
}

int sg_spool_open(const struct sg_spool_conf *c, struct sg_spool **out, struct sg_errbuf *eb)
{
	struct sg_spool *sp = sg_xcalloc(1, sizeof(*sp));
	uint64_t *firsts = NULL, ack = 0;
	size_t n = 0;
	int rc;

	sp->dir = sg_strdup(c->dir);
	sp->fsync_ms = c->fsync_ms;
	sp->max_bytes = c->max_bytes;
	sp->segment_bytes = c->segment_bytes;
	sp->when_full = c->when_full;
	sp->ack_interval_ms = c->ack_interval_ms;
	sp->max_record = c->max_record_bytes;
	sp->wfd = sp->rfd = sp->lockfd = -1;
	sp->next_seq = 1;
	pthread_mutex_init(&sp->mu, NULL);
	pthread_mutex_init(&sp->ck_mu, NULL);
	pthread_cond_init(&sp->space_cv, NULL);
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
	if ((rc = recover_lock(sp, eb)) != SG_OK)
		goto err;
	rc = spool_load_cursor(sp->dir, &ack);
	if (rc == SG_ECORRUPT) {
		sg_error("spool",
			 "%s/ack is corrupt: ignoring it; undelivered and "
			 "delivered events will be sent again (duplicates, no loss)",
			 sp->dir);
		ack = 0;
	} else if (rc != SG_OK && rc != SG_ENOTFOUND) {
		rc = sg_errf(eb, rc, "cannot read %s/ack: %s", sp->dir, strerror(errno));
		goto err;
	}
	sp->acked_seq = sp->saved_ack = ack;
	if (ack >= sp->next_seq)
		sp->next_seq = ack + 1;
	if ((rc = recover_list(sp->dir, &firsts, &n)) != SG_OK) {
		sg_errf(eb, rc, "cannot list %s: %s", sp->dir, strerror(errno));
		goto err;
	}
	for (size_t i = 0; i < n; i++) {
		rc = recover_segment(sp, firsts[i], i + 1 == n);
		if (rc != SG_OK) {
			sg_errf(eb, rc, "recovery of %s failed", sp->dir);
			goto err;
		}
	}
	free(firsts);
	firsts = NULL;
	if ((rc = sg_fsync_dir(sp->dir)) != SG_OK || (rc = spool_seg_create(sp)) != SG_OK) {
		sg_errf(eb, rc, "cannot create a segment in %s: %s", sp->dir, strerror(errno));
		goto err;
	}
	sp->written_seq = sp->durable_seq = sp->next_seq - 1;
	sp->durable_first = sp->segs[sp->nsegs - 1].first_seq;
	sp->durable_off = SG_SPOOL_SEG_HDR;
	sp->rpos_first = sp->segs[0].first_seq;
	sp->rpos_off = SG_SPOOL_SEG_HDR;
	sp->rewind_after = ack;
	recover_counters(sp);
	if (sp->rec.recovered_records)
		sg_info("spool",
			"recovered %s: %" PRIu64 " events on disk, delivered up to seq %" PRIu64
			", next seq %" PRIu64,
			sp->dir, sp->rec.recovered_records, ack, sp->next_seq);
	if ((rc = spool_start_flusher(sp)) != SG_OK) {
		sg_errf(eb, rc, "cannot start the spool flusher thread");
		goto err;
	}
	sg_spool_checkpoint(sp); /* drop segments already delivered */
	*out = sp;
	return SG_OK;
err:
	free(firsts);
	sg_spool_close(sp);
	return rc;
}
