/*
 * fuzz_spool_open.c - fuzz target: spool recovery and the reader on any
 * directory.  The input is cut into files of a spool directory (segments
 * with names the input picks, the cursor, the epoch, tombstones; each
 * chunk: kind, a name number, a length, the bytes), written to a fresh
 * directory; then sg_spool_open() recovers it, the reader reads every
 * record, one record is appended, and the spool is closed and opened
 * again.  The offline inspection (spool stat/verify) runs on it too.
 *
 * Invariants (abort when broken): the spool always opens; records come in
 * strictly increasing seq order, none at or below the cursor; the next
 * seq is above every seq read and every seq a file name claims; a second
 * open finds nothing left to repair (no torn tail, damaged header or
 * misnamed segment), the same records plus the appended one, and a next
 * seq above that one.
 */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "gateway/base/log.h"
#include "gateway/spool/frame.h"
#include "gateway/spool/inspect.h"
#include "gateway/spool/spool.h"

#define MAXREC 2048

static char dir[128];

static int rm_one(const char *p, const struct stat *st, int f, struct FTW *ftw)
{
	(void)st, (void)f;
	return ftw->level ? remove(p) : 0;
}

static void cleanup(void)
{
	nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	rmdir(dir);
}

static void put(const char *name, const uint8_t *p, size_t n)
{
	char path[300];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return;
	if (n && write(fd, p, n) < 0)
		abort();
	close(fd);
}

/* Lay the input out as files; returns the highest seq a name claims. */
static uint64_t layout_files(const uint8_t *p, size_t n)
{
	uint64_t top = 0;
	size_t i = 0;

	while (i + 4 <= n) {
		uint8_t kind = p[i] % 6;
		uint64_t num = 1 + (uint64_t)p[i + 1] * 7;
		size_t len = (size_t)p[i + 2] << 8 | p[i + 3];
		char name[80];

		i += 4;
		if (len > n - i)
			len = n - i;
		if (kind <= 2) { /* a segment, often with a proper header */
			uint8_t *b = malloc(len + SG_SPOOL_SEG_HDR);
			size_t h = kind == 0 ? SG_SPOOL_SEG_HDR : 0;
			sg_seg_header(b);
			memcpy(b + h, p + i, len);
			snprintf(name, sizeof(name), "%020llu.seg%s", (unsigned long long)num,
				 kind == 2 && len % 3 == 0 ? ".ren" : "");
			put(name, b, len + h);
			free(b);
			top = num > top ? num : top;
		} else if (kind == 3) {
			put("ack", p + i, len);
		} else if (kind == 4) {
			put("epoch", p + i, len);
		} else {
			sg_tomb_name(num, num + (len % 50), name);
			put(name, NULL, 0);
		}
		i += len;
	}
	return top;
}

static struct sg_spool *open_or_die(void)
{
	struct sg_spool_conf c = {.dir = dir,
				  .fsync_ms = SG_FSYNC_NEVER,
				  .max_bytes = 1 << 20,
				  .segment_bytes = 16384,
				  .when_full = SG_FULL_DROP_NEWEST,
				  .ack_interval_ms = 1000,
				  .max_record_bytes = MAXREC};
	struct sg_spool *sp = NULL;
	struct sg_errbuf eb;

	if (sg_spool_open(&c, &sp, &eb) != SG_OK) {
		fprintf(stderr, "open: %s\n", eb.msg);
		abort();
	}
	return sp;
}

/* Read everything; returns the count, *last the highest seq. */
static uint64_t read_all(struct sg_spool *sp, uint64_t acked, uint64_t *last)
{
	struct sg_buf b;
	uint64_t seq, prev = 0, n = 0;

	sg_buf_init(&b);
	while (sg_spool_read(sp, &seq, &b) == SG_OK) {
		FZ_CHECK(seq > prev && seq > acked);
		prev = seq;
		n++;
	}
	sg_buf_free(&b);
	*last = prev;
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sg_spool_stats st, st2;
	struct sg_spool_inspect in;
	struct sg_spool *sp;
	uint64_t top, last, last2, n, n2, seq;

	if (!dir[0]) {
		sg_log_set_level(getenv("FZ_LOG") ? SG_LOG_DEBUG : SG_LOG_QUIET);
		snprintf(dir, sizeof(dir), "%s/sg-fuzz-spool.%d",
			 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", (int)getpid());
		atexit(cleanup);
	}
	nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	mkdir(dir, 0700);
	top = layout_files(data, size);

	if (sg_spool_inspect(dir, MAXREC, false, &in) == SG_OK)
		FZ_CHECK(in.lay.segments + in.lay.overlapping <= in.nsegs);
	sg_spool_inspect_free(&in);

	sp = open_or_die();
	sg_spool_stats(sp, &st);
	n = read_all(sp, st.acked_seq, &last);
	FZ_CHECK(st.next_seq > last && st.next_seq >= top && st.next_seq > st.acked_seq);
	FZ_CHECK(sg_spool_append(sp, "x", 1, &seq) == SG_OK && seq == st.next_seq);
	sg_spool_close(sp);

	sp = open_or_die(); /* recovery again: nothing left to repair */
	sg_spool_stats(sp, &st2);
	FZ_CHECK(!st2.truncated_bytes && !st2.headers_repaired && !st2.misordered);
	n2 = read_all(sp, st2.acked_seq, &last2);
	FZ_CHECK(last2 == seq && st2.acked_seq == st.acked_seq);
	FZ_CHECK(n2 == n + 1 && !st2.segments_moved_aside);
	FZ_CHECK(st2.next_seq > seq);
	sg_spool_close(sp);
	return 0;
}
