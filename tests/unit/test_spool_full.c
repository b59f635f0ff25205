/*
 * test_spool_full.c - a full filesystem is a full spool (issue 11, defect
 * 1), through the I/O seam: a model filesystem of a given capacity
 * around the test directory (what its files occupy, st_blocks, is the
 * usage; preallocating or writing past the capacity fails with ENOSPC).
 * `when_full` applies (block waits and resumes, drop_newest and
 * drop_oldest drop and count), no append meets ENOSPC, delivered
 * segments are deleted when the cursor cannot be written, the spool
 * opens on a full disk and drains, a lone delivered segment is recycled,
 * and where the filesystem cannot preallocate a free-space reserve holds.
 * The same on a real tmpfs: tests/integration/test_spool_disk.py.
 */
#include <dirent.h>
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

#include "gateway/core/metrics.h"
#include "gateway/spool/spool.h"
#include "t.h"

/* --- the model filesystem -------------------------------------------- */

static const char *fs_dir;
static int64_t fs_cap = -1; /* bytes; -1: unlimited */
static bool fs_no_prealloc;
static int fs_writes_enospc; /* writes refused for lack of room */

static int64_t fs_used(void)
{
	char path[600];
	DIR *d = opendir(fs_dir);
	struct dirent *e;
	struct stat st;
	int64_t n = 0;

	while (d && (e = readdir(d))) {
		snprintf(path, sizeof(path), "%s/%s", fs_dir, e->d_name);
		if (e->d_name[0] != '.' && stat(path, &st) == 0 && S_ISREG(st.st_mode))
			n += (int64_t)st.st_blocks * 512;
	}
	if (d)
		closedir(d);
	return n;
}

/* Bytes fd would need beyond what it has allocated to hold [off, off+len). */
static int64_t fs_extra(int fd, int64_t end)
{
	struct stat st;

	if (fstat(fd, &st) != 0)
		return 0;
	int64_t have = (int64_t)st.st_blocks * 512;
	int64_t want = (end + 4095) / 4096 * 4096;
	return want > have ? want - have : 0;
}

static int fs_fallocate(int fd, int mode, off_t off, off_t len)
{
	if (fs_no_prealloc && !(mode & FALLOC_FL_PUNCH_HOLE)) {
		errno = EOPNOTSUPP;
		return -1;
	}
	if (fs_cap >= 0 && !(mode & FALLOC_FL_PUNCH_HOLE) &&
	    fs_used() + fs_extra(fd, off + len) > fs_cap) {
		errno = ENOSPC;
		return -1;
	}
	return fallocate(fd, mode, off, len);
}

static ssize_t fs_writev(int fd, const struct iovec *iov, int cnt)
{
	size_t n = 0;
	struct stat st;

	for (int i = 0; i < cnt; i++)
		n += iov[i].iov_len;
	if (fs_cap >= 0 && fstat(fd, &st) == 0 &&
	    fs_used() + fs_extra(fd, st.st_size + (int64_t)n) > fs_cap) {
		fs_writes_enospc++;
		errno = ENOSPC;
		return -1;
	}
	return writev(fd, iov, cnt);
}

static ssize_t fs_pwrite(int fd, const void *p, size_t n, off_t off)
{
	if (fs_cap >= 0 && fs_used() + fs_extra(fd, off + (int64_t)n) > fs_cap) {
		fs_writes_enospc++;
		errno = ENOSPC;
		return -1;
	}
	return pwrite(fd, p, n, off);
}

static int fs_free(int fd, uint64_t *out)
{
	int64_t f = fs_cap < 0 ? INT64_MAX : fs_cap - fs_used();

	(void)fd;
	*out = f > 0 ? (uint64_t)f : 0;
	return 0;
}

static void fs_mount(const char *dir, int64_t cap)
{
	fs_dir = dir;
	fs_cap = cap;
	fs_no_prealloc = false;
	fs_writes_enospc = 0;
	sg_spool_io = sg_spool_io_default;
	sg_spool_io.fallocate = fs_fallocate;
	sg_spool_io.writev = fs_writev;
	sg_spool_io.pwrite = fs_pwrite;
	sg_spool_io.free_bytes = fs_free;
}

static void fs_unmount(void)
{
	sg_spool_io = sg_spool_io_default;
	fs_cap = -1;
}

/* --- helpers ---------------------------------------------------------- */

static struct sg_spool_conf conf_for(const char *dir, int policy)
{
	struct sg_spool_conf c = {0};

	c.dir = (char *)dir;
	c.fsync_ms = SG_FSYNC_NEVER;
	c.max_bytes = 64 << 20; /* far more than the filesystem */
	c.segment_bytes = 16384;
	c.when_full = policy;
	c.ack_interval_ms = 5;
	c.max_record_bytes = 4096;
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

static int append_one(struct sg_spool *sp, uint64_t *seq)
{
	char p[200];

	memset(p, 'e', sizeof(p));
	return sg_spool_append(sp, p, sizeof(p), seq);
}

/* Read every readable record and ack it; returns how many. */
static uint64_t drain(struct sg_spool *sp)
{
	struct sg_buf b;
	uint64_t seq, n = 0, last = 0;

	sg_buf_init(&b);
	while (sg_spool_read(sp, &seq, &b) == SG_OK) {
		CHECK(seq > last);
		last = seq;
		n++;
	}
	sg_buf_free(&b);
	if (last)
		sg_spool_ack(sp, last);
	return n;
}

static uint64_t io_errors(void)
{
	return sg_metrics_sum("errors", "spool_io");
}

/* The model filesystem for a test: the spool's own small files plus
 * room for `segments` preallocated segments. */
static int64_t cap_for(const char *dir, int segments)
{
	struct sg_spool_conf c = conf_for(dir, SG_FULL_BLOCK);
	struct sg_spool *sp;
	int64_t base;

	fs_mount(dir, -1);
	sp = open_ok(&c); /* lock, ack, epoch and the first segment */
	base = fs_used();
	sg_spool_close(sp);
	return base + (int64_t)(segments - 1) * 16384 + 2048;
}

/* --- block ----------------------------------------------------------- */

struct appender {
	struct sg_spool *sp;
	int total, ok, failed;
	uint64_t last;
};

static void *append_main(void *arg)
{
	struct appender *a = arg;

	for (int i = 0; i < a->total; i++) {
		if (append_one(a->sp, &a->last) == SG_OK)
			a->ok++;
		else
			a->failed++;
	}
	return NULL;
}

TEST(full_disk_blocks_then_resumes_without_loss)
{
	const char *dir = t_tmpdir();
	int64_t cap = cap_for(dir, 3);
	struct sg_spool_conf c = conf_for(dir, SG_FULL_BLOCK);
	uint64_t err0 = io_errors(), waits0 = sg_metrics_sum("spool_full_waits", NULL);
	uint64_t full0 = sg_metrics_sum("spool_disk_full", NULL), got = 0;
	struct appender a = {.total = 1000};
	struct sg_spool_stats st;
	pthread_t th;

	fs_mount(dir, cap);
	a.sp = open_ok(&c);
	pthread_create(&th, NULL, append_main, &a);
	/* 1000 records of 220 bytes do not fit in 3 segments: it blocks. */
	for (int i = 0; i < 200; i++) {
		sg_spool_stats(a.sp, &st);
		if (st.disk_full)
			break;
		usleep(5000);
	}
	CHECK(st.disk_full);
	CHECK(st.next_seq < 1000);
	CHECK(sg_metrics_sum("spool_full_waits", NULL) > waits0);
	CHECK(sg_metrics_sum("spool_disk_full", NULL) > full0);
	/* Deliver: delivered segments go, the appender goes on. */
	for (int i = 0; i < 2000 && got < 1000; i++) {
		got += drain(a.sp);
		sg_spool_checkpoint(a.sp);
		usleep(1000);
	}
	pthread_join(th, NULL);
	got += drain(a.sp);
	CHECK_EQ(a.ok, 1000);
	CHECK_EQ(a.failed, 0);
	CHECK_EQ(got, 1000);
	CHECK_EQ(io_errors(), err0); /* nothing met ENOSPC */
	CHECK_EQ(fs_writes_enospc, 0);
	CHECK(fs_used() <= cap);
	sg_spool_close(a.sp);
	fs_unmount();
}

/* --- drop policies --------------------------------------------------- */

TEST(full_disk_drop_newest_drops_and_counts)
{
	const char *dir = t_tmpdir();
	int64_t cap = cap_for(dir, 3);
	struct sg_spool_conf c = conf_for(dir, SG_FULL_DROP_NEWEST);
	uint64_t d0 = sg_metrics_sum("dropped", "spool_full_newest"), err0 = io_errors(), seq;
	struct sg_spool *sp;
	int ok = 0, dropped = 0;

	fs_mount(dir, cap);
	sp = open_ok(&c);
	for (int i = 0; i < 1000; i++) {
		int rc = append_one(sp, &seq);
		CHECK(rc == SG_OK || rc == SG_EDROPPED);
		ok += rc == SG_OK;
		dropped += rc == SG_EDROPPED;
	}
	CHECK(dropped > 0);
	CHECK_EQ(sg_metrics_sum("dropped", "spool_full_newest") - d0, (uint64_t)dropped);
	CHECK_EQ(drain(sp), (uint64_t)ok);
	CHECK_EQ(io_errors(), err0);
	CHECK_EQ(fs_writes_enospc, 0);
	sg_spool_close(sp);
	fs_unmount();
}

TEST(full_disk_drop_oldest_drops_and_counts)
{
	const char *dir = t_tmpdir();
	int64_t cap = cap_for(dir, 4);
	struct sg_spool_conf c = conf_for(dir, SG_FULL_DROP_OLDEST);
	uint64_t d0 = sg_metrics_sum("dropped", "spool_full_oldest"), err0 = io_errors(), seq;
	struct sg_spool *sp;
	uint64_t kept;

	fs_mount(dir, cap);
	sp = open_ok(&c);
	for (int i = 0; i < 1000; i++)
		CHECK_EQ(append_one(sp, &seq), SG_OK);
	CHECK_EQ(seq, 1000);
	kept = drain(sp);
	CHECK(kept < 1000);
	CHECK_EQ(sg_metrics_sum("dropped", "spool_full_oldest") - d0 + kept, 1000);
	CHECK_EQ(io_errors(), err0);
	CHECK_EQ(fs_writes_enospc, 0);
	sg_spool_close(sp);
	fs_unmount();
}

/* --- the cursor and deletion ------------------------------------------ */

static ssize_t fail_pwrite(int fd, const void *p, size_t n, off_t off)
{
	(void)fd, (void)p, (void)n, (void)off;
	errno = EIO;
	return -1;
}

static int fail_open_tmp(const char *path, int flags, mode_t mode)
{
	if (strstr(path, ".ack.tmp")) {
		errno = ENOSPC;
		return -1;
	}
	return open(path, flags, mode);
}

TEST(delivered_segments_go_when_the_cursor_cannot_be_written)
{
	const char *dir = t_tmpdir();
	struct sg_spool_conf c = conf_for(dir, SG_FULL_BLOCK);
	struct sg_spool_stats st;
	struct sg_spool *sp;
	uint64_t seq;

	fs_mount(dir, -1);
	sp = open_ok(&c);
	for (int i = 0; i < 500; i++)
		CHECK_EQ(append_one(sp, &seq), SG_OK);
	sg_spool_stats(sp, &st);
	CHECK(st.segments > 3);
	sg_spool_io.pwrite = fail_pwrite;
	sg_spool_io.open = fail_open_tmp;
	CHECK_EQ(drain(sp), 500);
	CHECK(sg_spool_checkpoint(sp) != SG_OK); /* said, and ... */
	sg_spool_stats(sp, &st);
	CHECK_EQ(st.segments, 1); /* ... deleted all the same */
	sg_spool_io = sg_spool_io_default;
	sg_spool_close(sp);
	fs_unmount();
}

/* --- restart on a full disk ------------------------------------------ */

TEST(opens_on_a_full_disk_and_drains)
{
	const char *dir = t_tmpdir();
	int64_t cap = cap_for(dir, 3);
	struct sg_spool_conf c = conf_for(dir, SG_FULL_DROP_NEWEST);
	struct sg_spool_stats st;
	struct sg_spool *sp;
	uint64_t seq, stored = 0;

	fs_mount(dir, cap);
	sp = open_ok(&c);
	for (int i = 0; i < 1000; i++)
		stored += append_one(sp, &seq) == SG_OK;
	sg_spool_close(sp);
	fs_cap = fs_used(); /* not one byte left */
	sp = open_ok(&c);
	sg_spool_stats(sp, &st);
	CHECK_EQ(st.next_seq, stored + 1);
	CHECK_EQ(drain(sp), stored);
	CHECK_EQ(sg_spool_checkpoint(sp), SG_OK);
	/* Delivered segments freed the disk: appends go on. */
	CHECK_EQ(append_one(sp, &seq), SG_OK);
	CHECK_EQ(seq, stored + 1);
	sg_spool_close(sp);
	sp = open_ok(&c);
	CHECK_EQ(drain(sp), 1);
	sg_spool_close(sp);
	fs_unmount();
}

/* Room for one segment only: when it is full and wholly delivered, it is
 * recycled (the cursor keeps the seq); block never waits forever. */
TEST(a_lone_delivered_segment_is_recycled)
{
	const char *dir = t_tmpdir();
	int64_t cap = cap_for(dir, 1);
	struct sg_spool_conf c = conf_for(dir, SG_FULL_BLOCK);
	struct appender a = {.total = 300};
	struct sg_spool_stats st;
	uint64_t got = 0;
	pthread_t th;

	fs_mount(dir, cap);
	a.sp = open_ok(&c);
	pthread_create(&th, NULL, append_main, &a);
	for (int i = 0; i < 3000 && got < 300; i++) {
		got += drain(a.sp);
		sg_spool_checkpoint(a.sp);
		usleep(1000);
	}
	pthread_join(th, NULL);
	got += drain(a.sp);
	CHECK_EQ(a.ok, 300);
	CHECK_EQ(got, 300);
	CHECK_EQ(fs_writes_enospc, 0);
	sg_spool_close(a.sp);
	a.sp = open_ok(&c);
	sg_spool_stats(a.sp, &st);
	CHECK_EQ(st.next_seq, 301); /* no seq issued twice */
	sg_spool_close(a.sp);
	fs_unmount();
}

/* --- without preallocation ------------------------------------------- */

TEST(without_preallocation_a_reserve_is_kept)
{
	const char *dir = t_tmpdir();
	int64_t cap = cap_for(dir, 3) + SG_SPOOL_RESERVE;
	struct sg_spool_conf c = conf_for(dir, SG_FULL_DROP_NEWEST);
	uint64_t err0 = io_errors(), seq;
	struct sg_spool *sp;
	int ok = 0, dropped = 0;

	fs_mount(dir, cap);
	fs_no_prealloc = true;
	sp = open_ok(&c);
	for (int i = 0; i < 3000; i++) {
		int rc = append_one(sp, &seq);
		CHECK(rc == SG_OK || rc == SG_EDROPPED);
		ok += rc == SG_OK;
		dropped += rc == SG_EDROPPED;
	}
	CHECK(ok > 100);
	CHECK(dropped > 0);
	CHECK_EQ(io_errors(), err0);
	CHECK_EQ(fs_writes_enospc, 0);
	CHECK(fs_used() <= cap);
	CHECK_EQ(drain(sp), (uint64_t)ok);
	sg_spool_close(sp);
	fs_unmount();
}

/* --- batches --------------------------------------------------------- */

/* A batch (sg_spool_append_batch, c2's) on a full disk: all or none, the
 * policy applied to the whole of it, never an ENOSPC. */
TEST(full_disk_batches_are_all_or_none)
{
	const char *dir = t_tmpdir();
	int64_t cap = cap_for(dir, 3);
	uint64_t err0 = io_errors(), first;
	struct sg_buf b;
	int stored = 0, dropped = 0;

	for (int policy = SG_FULL_DROP_OLDEST; policy <= SG_FULL_DROP_NEWEST; policy++) {
		struct sg_spool_conf c = conf_for(dir, policy);
		struct sg_spool *sp;
		uint64_t got;

		fs_mount(dir, cap);
		sp = open_ok(&c);
		sg_buf_init(&b);
		stored = dropped = 0;
		for (int i = 0; i < 300; i++) {
			sg_buf_reset(&b);
			for (int k = 0; k < 5; k++) {
				size_t at = sg_spool_batch_open(&b);
				for (int j = 0; j < 150; j++)
					sg_buf_addc(&b, 'b');
				sg_spool_batch_close(&b, at);
			}
			int rc = sg_spool_append_batch(sp, b.p, b.len, 5, &first);
			CHECK(rc == SG_OK || rc == SG_EDROPPED);
			stored += rc == SG_OK;
			dropped += rc == SG_EDROPPED;
		}
		got = drain(sp);
		CHECK_EQ(got % 5, 0); /* whole batches only */
		CHECK(got > 0);
		if (policy == SG_FULL_DROP_NEWEST)
			CHECK_EQ(got, (uint64_t)stored * 5);
		CHECK(dropped > 0 || policy == SG_FULL_DROP_OLDEST);
		CHECK_EQ(io_errors(), err0);
		CHECK_EQ(fs_writes_enospc, 0);
		sg_buf_free(&b);
		sg_spool_close(sp);
		fs_unmount();
		dir = t_tmpdir();
		cap = cap_for(dir, 3);
	}
}
