/*
 * test_spool_batch.c - sg_spool_append_batch(): the records of one
 * upstream message appended together.  Consecutive seqs in buffer order,
 * one write(2) per batch, all or none under every full-spool policy and
 * under injected write and fsync errors, exact drop counts, and what
 * recovery makes of a batch torn by a crash mid-write (cut whole) or
 * damaged inside (its intact frames kept).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "gateway/base/crc32c.h"
#include "gateway/core/metrics.h"
#include "gateway/spool/frame.h"
#include "gateway/spool/spool.h"
#include "t.h"

static struct sg_spool_conf conf_for(const char *dir)
{
	struct sg_spool_conf c = {0};

	c.dir = (char *)dir;
	c.fsync_ms = SG_FSYNC_ALWAYS;
	c.max_bytes = 64 << 20;
	c.segment_bytes = 1 << 20;
	c.when_full = SG_FULL_BLOCK;
	c.ack_interval_ms = 10;
	c.max_record_bytes = 64 << 10;
	return c;
}

static struct sg_spool *open_ok(struct sg_spool_conf *c)
{
	struct sg_spool *sp = NULL;
	struct sg_errbuf eb;

	if (sg_spool_open(c, &sp, &eb) != SG_OK)
		t_fail(__FILE__, __LINE__, "open: %s", eb.msg);
	return sp;
}

/* A batch of n records "<tag>-<i>-" padded with pad bytes of 'p'. */
static void batch_build(struct sg_buf *b, const char *tag, size_t n, size_t pad)
{
	sg_buf_reset(b);
	for (size_t i = 0; i < n; i++) {
		size_t at = sg_spool_batch_open(b);

		sg_buf_printf(b, "%s-%zu-", tag, i);
		for (size_t k = 0; k < pad; k++)
			sg_buf_addc(b, 'p');
		sg_spool_batch_close(b, at);
	}
}

static int append_batch(struct sg_spool *sp, const char *tag, size_t n, size_t pad, uint64_t *first)
{
	struct sg_buf b;
	int rc;

	sg_buf_init(&b);
	batch_build(&b, tag, n, pad);
	rc = sg_spool_append_batch(sp, b.p, b.len, n, first);
	sg_buf_free(&b);
	return rc;
}

/* Read everything readable into seqs/tags (up to max); returns the count. */
static size_t read_all(struct sg_spool *sp, uint64_t *seqs, char (*tags)[32], size_t max)
{
	struct sg_buf b;
	uint64_t seq;
	size_t n = 0;

	sg_buf_init(&b);
	while (sg_spool_read(sp, &seq, &b) == SG_OK) {
		if (n < max) {
			seqs[n] = seq;
			snprintf(tags[n], 32, "%.*s", (int)(b.len < 31 ? b.len : 31), b.p);
			*strchr(strchr(tags[n], '-') + 1, '-') = '\0';
		}
		n++;
	}
	sg_buf_free(&b);
	return n;
}

TEST(consecutive_seqs_in_buffer_order_across_reopen)
{
	const char *dir = t_tmpdir();
	struct sg_spool_conf c = conf_for(dir);
	struct sg_spool *sp = open_ok(&c);
	uint64_t first, seqs[16];
	char tags[16][32];
	struct sg_buf one;

	CHECK_EQ(append_batch(sp, "a", 3, 0, &first), SG_OK);
	CHECK_EQ(first, 1);
	sg_buf_init(&one);
	sg_buf_adds(&one, "s-0-");
	CHECK_EQ(sg_spool_append(sp, one.p, one.len, &first), SG_OK);
	CHECK_EQ(first, 4);
	CHECK_EQ(append_batch(sp, "b", 4, 100, &first), SG_OK);
	CHECK_EQ(first, 5);
	sg_spool_close(sp);
	sp = open_ok(&c); /* recovery reads a batch like any frames */
	CHECK_EQ(read_all(sp, seqs, tags, 16), 8);
	for (size_t i = 0; i < 8; i++)
		CHECK_EQ(seqs[i], i + 1);
	CHECK_STR(tags[0], "a-0");
	CHECK_STR(tags[2], "a-2");
	CHECK_STR(tags[3], "s-0");
	CHECK_STR(tags[4], "b-0");
	CHECK_STR(tags[7], "b-3");
	CHECK_EQ(append_batch(sp, "c", 2, 0, &first), SG_OK);
	CHECK_EQ(first, 9);
	sg_buf_free(&one);
	sg_spool_close(sp);
}

static int writes;
static ssize_t counting_writev(int fd, const struct iovec *iov, int cnt)
{
	writes++;
	return writev(fd, iov, cnt);
}
static ssize_t plain_writev(int fd, const struct iovec *iov, int cnt)
{
	return writev(fd, iov, cnt);
}
static int plain_sync(int fd)
{
	return fdatasync(fd);
}

TEST(one_write_per_batch)
{
	const char *dir = t_tmpdir();
	struct sg_spool_conf c = conf_for(dir);
	struct sg_spool *sp = open_ok(&c);
	uint64_t appended = sg_metrics_sum("spool_appended", NULL), first;

	sg_spool_io.writev = counting_writev;
	writes = 0;
	CHECK_EQ(append_batch(sp, "w", 1000, 10, &first), SG_OK);
	CHECK_EQ(writes, 1);
	CHECK_EQ(sg_metrics_sum("spool_appended", NULL) - appended, 1000);
	sg_spool_io.writev = plain_writev;
	sg_spool_close(sp);
}

TEST(refused_when_too_large_or_malformed)
{
	const char *dir = t_tmpdir();
	struct sg_spool_conf c = conf_for(dir);
	struct sg_spool *sp = open_ok(&c);
	uint64_t big = sg_metrics_sum("errors", "event_too_large"), first, seqs[4];
	char tags[4][32];
	struct sg_buf b;

	/* 64 KiB max_record_bytes: 10 records of 7 KiB are too much together */
	CHECK_EQ(append_batch(sp, "big", 10, 7000, &first), SG_EINVAL);
	CHECK_EQ(sg_metrics_sum("errors", "event_too_large") - big, 10);
	sg_buf_init(&b);
	batch_build(&b, "m", 3, 0);
	CHECK_EQ(sg_spool_append_batch(sp, b.p, b.len, 2, &first), SG_EINVAL); /* says 2, has 3 */
	CHECK_EQ(sg_spool_append_batch(sp, b.p, b.len - 1, 3, &first), SG_EINVAL);
	CHECK_EQ(sg_spool_append_batch(sp, b.p, b.len, 0, &first), SG_EINVAL);
	CHECK_EQ(sg_spool_append_batch(sp, b.p, b.len, 3, &first), SG_OK);
	CHECK_EQ(first, 1); /* nothing before took a seq */
	CHECK_EQ(read_all(sp, seqs, tags, 4), 3);
	sg_buf_free(&b);
	sg_spool_close(sp);
}

/* A small spool: 16 KiB segments, 64 KiB in all. */
static struct sg_spool *small(struct sg_spool_conf *c, int policy)
{
	*c = conf_for(t_tmpdir());
	c->fsync_ms = SG_FSYNC_NEVER;
	c->segment_bytes = 16384;
	c->max_bytes = 65536;
	c->max_record_bytes = 8192;
	c->when_full = policy;
	return open_ok(c);
}

TEST(drop_newest_drops_the_whole_batch_and_counts_each)
{
	struct sg_spool_conf c;
	struct sg_spool *sp = small(&c, SG_FULL_DROP_NEWEST);
	uint64_t before = sg_metrics_sum("dropped", "spool_full_newest"), first, seqs[1];
	struct sg_spool_stats st;
	char tags[1][32];
	size_t stored = 0, dropped = 0;

	for (int i = 0; i < 200; i++) {
		int rc = append_batch(sp, "n", 5, 100, &first);
		CHECK(rc == SG_OK || rc == SG_EDROPPED);
		stored += rc == SG_OK ? 5 : 0;
		dropped += rc == SG_EDROPPED ? 5 : 0;
	}
	CHECK(dropped > 0);
	CHECK_EQ(sg_metrics_sum("dropped", "spool_full_newest") - before, dropped);
	sg_spool_stats(sp, &st);
	CHECK_EQ(st.next_seq - 1, stored); /* no seq given to a dropped event */
	CHECK_EQ(read_all(sp, seqs, tags, 1), stored);
	CHECK(st.bytes <= 65536);
	sg_spool_close(sp);
}

TEST(drop_oldest_makes_room_for_the_whole_batch)
{
	struct sg_spool_conf c;
	struct sg_spool *sp = small(&c, SG_FULL_DROP_OLDEST);
	uint64_t before = sg_metrics_sum("dropped", "spool_full_oldest"), first, seqs[2000];
	static char tags[2000][32];
	size_t n;

	for (int i = 0; i < 200; i++)
		CHECK_EQ(append_batch(sp, "o", 5, 100, &first), SG_OK);
	n = read_all(sp, seqs, tags, 2000);
	CHECK_EQ(sg_metrics_sum("dropped", "spool_full_oldest") - before + n, 1000);
	CHECK_EQ(seqs[n - 1], 1000);
	/* what is left holds whole batches: it starts at a batch boundary */
	CHECK_EQ((seqs[0] - 1) % 5, 0);
	CHECK_STR(tags[0], "o-0");
	sg_spool_close(sp);
}

struct blocked {
	struct sg_spool *sp;
	int rc;
	uint64_t first;
};

static void *append_main(void *arg)
{
	struct blocked *b = arg;

	b->rc = append_batch(b->sp, "late", 20, 300, &b->first);
	return NULL;
}

/* Fill a block-policy spool until the next batch of 20 cannot fit. */
static uint64_t fill(struct sg_spool *sp)
{
	struct sg_spool_stats st;
	uint64_t first;

	do {
		CHECK_EQ(append_batch(sp, "f", 1, 300, &first), SG_OK);
		sg_spool_stats(sp, &st);
	} while (st.bytes + 20 * 340 <= 65536);
	return first;
}

TEST(block_waits_for_room_for_the_whole_batch)
{
	struct sg_spool_conf c;
	struct sg_spool *sp = small(&c, SG_FULL_BLOCK);
	struct blocked b = {sp, 1, 0};
	uint64_t last = fill(sp), seqs[512];
	static char tags[512][32];
	struct sg_spool_stats st;
	pthread_t th;
	size_t n;

	pthread_create(&th, NULL, append_main, &b);
	usleep(100 * 1000);
	sg_spool_stats(sp, &st);
	CHECK_EQ(st.next_seq, last + 1); /* still waiting, nothing of it written */
	CHECK_EQ(b.rc, 1);
	sg_spool_ack(sp, last);
	sg_spool_checkpoint(sp); /* deletes the delivered segments: room */
	pthread_join(th, NULL);
	CHECK_EQ(b.rc, SG_OK);
	CHECK_EQ(b.first, last + 1);
	n = read_all(sp, seqs, tags, 512);
	CHECK(n >= 20);
	CHECK_EQ(seqs[n - 1], last + 20);
	CHECK_STR(tags[n - 20], "late-0");
	sg_spool_close(sp);
}

TEST(shutdown_while_blocked_stores_none)
{
	struct sg_spool_conf c;
	struct sg_spool *sp = small(&c, SG_FULL_BLOCK);
	struct blocked b = {sp, 1, 0};
	uint64_t last = fill(sp);
	struct sg_spool_stats st;
	pthread_t th;

	pthread_create(&th, NULL, append_main, &b);
	usleep(50 * 1000);
	sg_spool_shutdown(sp);
	pthread_join(th, NULL);
	CHECK_EQ(b.rc, SG_ESTOPPING);
	sg_spool_stats(sp, &st);
	CHECK_EQ(st.next_seq, last + 1);
	sg_spool_close(sp);
}

/* --- injected I/O errors ------------------------------------------------ */

static int fail_errno, fail_sync;

/* Half the batch reaches the file, then the error. */
static ssize_t half_writev(int fd, const struct iovec *iov, int cnt)
{
	struct iovec half = iov[0];

	(void)cnt;
	half.iov_len /= 2;
	if (writev(fd, &half, 1) < 0)
		return -1;
	errno = fail_errno;
	return -1;
}

static int bad_sync(int fd)
{
	(void)fd;
	errno = fail_sync;
	return -1;
}

static void io_case(int werr, int serr, int want)
{
	const char *dir = t_tmpdir();
	struct sg_spool_conf c = conf_for(dir);
	struct sg_spool *sp = open_ok(&c);
	struct sg_spool_stats st;
	uint64_t first, seqs[16];
	char tags[16][32];

	CHECK_EQ(append_batch(sp, "ok", 2, 0, &first), SG_OK);
	fail_errno = werr;
	fail_sync = serr;
	if (werr)
		sg_spool_io.writev = half_writev;
	if (serr)
		sg_spool_io.fdatasync = bad_sync;
	CHECK_EQ(append_batch(sp, "lost", 6, 50, &first), want);
	sg_spool_io.writev = plain_writev;
	sg_spool_io.fdatasync = plain_sync;
	/* none of it stayed: the next batch takes its seqs */
	CHECK_EQ(append_batch(sp, "next", 2, 0, &first), SG_OK);
	CHECK_EQ(first, 3);
	sg_spool_close(sp);
	sp = open_ok(&c);
	CHECK_EQ(read_all(sp, seqs, tags, 16), 4);
	CHECK_STR(tags[2], "next-0");
	sg_spool_stats(sp, &st);
	CHECK_EQ(st.corrupt_regions, 0);
	sg_spool_close(sp);
}

TEST(enospc_mid_batch_stores_none)
{
	io_case(ENOSPC, 0, SG_ENOSPC);
}

TEST(eio_mid_batch_stores_none)
{
	io_case(EIO, 0, SG_EIO);
}

TEST(fsync_failure_stores_none)
{
	io_case(0, EIO, SG_EIO);
}

/* Segment 1's file, opened with flags (the test fails if it cannot be). */
static int seg1_open(const char *dir, int flags)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%020d.seg", dir, 1);
	fd = open(path, flags);
	CHECK(fd >= 0);
	return fd;
}

/* Cut the last `cut` bytes off segment 1. */
static void cut_tail(const char *dir, off_t cut)
{
	int fd = seg1_open(dir, O_RDWR);
	struct stat stt;

	CHECK_EQ(fstat(fd, &stt), 0);
	CHECK_EQ(ftruncate(fd, stt.st_size - cut), 0);
	close(fd);
}

/* A crash inside the batch's write(2) (kill -9 between two pages of a
 * large write): recovery cuts all of the batch, its whole frames too, so
 * an upstream message whose events were not all stored (and so not
 * acknowledged) comes again without a duplicate.  The batch before it
 * stays.  The same when the cut falls between two frames. */
TEST(torn_batch_is_cut_whole)
{
	const off_t cuts[] = {60, 20 + 104}; /* into the last frame; just before it */

	for (size_t k = 0; k < 2; k++) {
		const char *dir = t_tmpdir();
		struct sg_spool_conf c = conf_for(dir);
		struct sg_spool *sp = open_ok(&c);
		uint64_t first, seqs[16];
		char tags[16][32];
		struct sg_spool_stats st;

		CHECK_EQ(append_batch(sp, "a", 2, 0, &first), SG_OK);
		CHECK_EQ(append_batch(sp, "t", 4, 100, &first), SG_OK); /* frames of 124 bytes */
		sg_spool_close(sp);
		cut_tail(dir, cuts[k]);
		sp = open_ok(&c);
		CHECK_EQ(read_all(sp, seqs, tags, 16), 2);
		CHECK_STR(tags[1], "a-1");
		sg_spool_stats(sp, &st);
		CHECK(st.truncated_bytes >= 3 * 124);
		CHECK_EQ(st.torn_batch_records, 3); /* its fourth frame torn or missing */
		CHECK_EQ(st.corrupt_regions, 0);
		CHECK_EQ(st.next_seq, 3);
		CHECK_EQ(append_batch(sp, "n", 2, 0, &first), SG_OK);
		CHECK_EQ(first, 3);
		sg_spool_close(sp);
	}
}

/* Damage inside a batch with more appends after it is not a torn append:
 * the batch's intact frames are kept, as any intact frame is. */
TEST(damage_inside_a_batch_keeps_its_intact_frames)
{
	const char *dir = t_tmpdir();
	struct sg_spool_conf c = conf_for(dir);
	struct sg_spool *sp = open_ok(&c);
	uint64_t first, seqs[16];
	char tags[16][32];
	struct sg_spool_stats st;
	int fd;

	CHECK_EQ(append_batch(sp, "d", 4, 100, &first), SG_OK);
	CHECK_EQ(append_batch(sp, "e", 1, 0, &first), SG_OK);
	sg_spool_close(sp);
	fd = seg1_open(dir, O_WRONLY);
	/* a payload byte of the second frame (header 16, frames of 124) */
	CHECK_EQ(pwrite(fd, "X", 1, 16 + 124 + 20 + 50), 1);
	close(fd);
	sp = open_ok(&c);
	CHECK_EQ(read_all(sp, seqs, tags, 16), 4);
	CHECK_STR(tags[0], "d-0");
	CHECK_STR(tags[1], "d-2");
	CHECK_STR(tags[3], "e-0");
	sg_spool_stats(sp, &st);
	CHECK_EQ(st.corrupt_regions, 1);
	sg_spool_close(sp);
}

/* A segment of the release before (version 1) goes on taking appends
 * after an upgrade, and its batches are written as that release reads
 * them: no frame marked as continued.  (So a torn batch there keeps its
 * whole frames, as before.) */
TEST(batches_in_a_version_1_segment_are_unmarked)
{
	const char *dir = t_tmpdir();
	struct sg_spool_conf c = conf_for(dir);
	struct sg_spool *sp = open_ok(&c);
	uint64_t first, seqs[16];
	char tags[16][32];
	uint8_t h[16], f[20];
	uint32_t v1 = 1, crc;
	int fd;

	CHECK_EQ(append_batch(sp, "a", 1, 0, &first), SG_OK);
	sg_spool_close(sp);
	fd = seg1_open(dir, O_RDWR);
	CHECK_EQ(pread(fd, h, sizeof(h), 0), (ssize_t)sizeof(h));
	memcpy(h + 8, &v1, 4); /* little endian, as the format */
	crc = sg_crc_mask(sg_crc32c(h, 12));
	memcpy(h + 12, &crc, 4);
	CHECK_EQ(pwrite(fd, h, sizeof(h), 0), (ssize_t)sizeof(h));
	close(fd);

	sp = open_ok(&c);
	CHECK_EQ(append_batch(sp, "b", 3, 0, &first), SG_OK);
	CHECK_EQ(first, 2);
	sg_spool_close(sp);
	fd = seg1_open(dir, O_RDONLY);
	for (off_t off = 16; pread(fd, f, sizeof(f), off) == (ssize_t)sizeof(f);) {
		CHECK(!sg_frame_more(f));
		off += 20 + sg_frame_claimed_len(f);
	}
	close(fd);
	cut_tail(dir, 1);
	sp = open_ok(&c);
	CHECK_EQ(read_all(sp, seqs, tags, 16), 3);
	CHECK_STR(tags[2], "b-1");
	sg_spool_close(sp);

	/* A new segment is version 2: marked. */
	dir = t_tmpdir();
	c = conf_for(dir);
	sp = open_ok(&c);
	CHECK_EQ(append_batch(sp, "c", 3, 0, &first), SG_OK);
	sg_spool_close(sp);
	fd = seg1_open(dir, O_RDONLY);
	CHECK_EQ(pread(fd, f, sizeof(f), 16), (ssize_t)sizeof(f));
	CHECK(sg_frame_more(f));
	close(fd);
}
