/*
 * test_spool_idle.c - the spool's flusher costs nothing while there is
 * nothing to do: with everything synced, checkpointed and counted it
 * sleeps without a timeout (no context switch at all over half a second),
 * and the append that leaves something unsynced, or the ack that moves
 * the cursor, wakes it: the record is fsynced and the delivered segments
 * are deleted although the flusher was asleep when they came.
 *
 * While appends flow faster than the fsync interval, the flusher wakes
 * once per group commit, on its own timer: the appends of an interval do
 * not wake it.
 *
 * The reader's eventfd, likewise, is written once per time the reader
 * caught up (sg_spool_read returned SG_EAGAIN), by the first record made
 * readable after that: appends to a reader that has not caught up cost
 * no system call, and none is lost.
 */
#include <dirent.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "gateway/spool/spool.h"
#include "t.h"

static struct sg_spool_conf conf_for(const char *dir)
{
	struct sg_spool_conf c = {0};

	c.dir = (char *)dir;
	c.fsync_ms = 10;
	c.max_bytes = 64 << 20;
	c.segment_bytes = 64 << 10;
	c.when_full = SG_FULL_BLOCK;
	c.ack_interval_ms = 10;
	c.max_record_bytes = 4096;
	return c;
}

/* Context switches of every thread of this process but the caller's (the
 * flusher is the only other one); all, or only the voluntary ones (a
 * wait), not a preemption by a busy machine. */
static long others_switches_of(bool waits_only)
{
	DIR *d = opendir("/proc/self/task");
	long self = (long)syscall(SYS_gettid), sum = 0;
	struct dirent *e;

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		char path[300], line[128];
		long v;
		FILE *fp;

		if (e->d_name[0] == '.' || atol(e->d_name) == self)
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/status", e->d_name);
		if (!(fp = fopen(path, "r")))
			continue;
		while (fgets(line, sizeof(line), fp))
			if (sscanf(line, "voluntary_ctxt_switches: %ld", &v) == 1 ||
			    (!waits_only &&
			     sscanf(line, "nonvoluntary_ctxt_switches: %ld", &v) == 1))
				sum += v;
		fclose(fp);
	}
	closedir(d);
	return sum;
}

static long others_switches(void)
{
	return others_switches_of(false);
}

static struct sg_spool_stats stats(struct sg_spool *sp)
{
	struct sg_spool_stats st;

	sg_spool_stats(sp, &st);
	return st;
}

/* Wait (up to 10 s) until the flusher has nothing left to do: everything
 * synced and delivered segments gone, then a few idle intervals more. */
static void settle(struct sg_spool *sp, uint64_t segments)
{
	for (int i = 0; i < 1000; i++) {
		struct sg_spool_stats st = stats(sp);

		if (st.durable_seq + 1 == st.next_seq && st.segments <= segments)
			break;
		usleep(10000);
	}
	usleep(100000);
}

TEST(idle_flusher_sleeps_until_an_append_or_ack)
{
	const char *dir = t_tmpdir();
	struct sg_spool_conf c = conf_for(dir);
	struct sg_spool *sp = NULL;
	struct sg_errbuf eb;
	char rec[1000];
	struct sg_buf b;
	uint64_t seq = 0, last = 0;
	long before;

	CHECK_EQ(sg_spool_open(&c, &sp, &eb), SG_OK);
	if (!sp)
		return;
	memset(rec, 'r', sizeof(rec));
	sg_buf_init(&b);

	/* Idle from the start: not one wake-up in 500 ms (a flusher on a
	 * 10 ms timer switches some 50 times). */
	settle(sp, 1);
	before = others_switches();
	usleep(500000);
	CHECK(before >= 0);
	CHECK(others_switches() - before <= 1);

	/* An append while it sleeps: fsynced all the same. */
	CHECK_EQ(sg_spool_append(sp, rec, sizeof(rec), &seq), SG_OK);
	for (int i = 0; i < 1000 && stats(sp).durable_seq < seq; i++)
		usleep(10000);
	CHECK_EQ(stats(sp).durable_seq, seq);

	/* Several segments' worth, read, then idle again. */
	for (int i = 0; i < 200; i++)
		CHECK_EQ(sg_spool_append(sp, rec, sizeof(rec), &seq), SG_OK);
	while (sg_spool_read(sp, &seq, &b) == SG_OK)
		last = seq;
	CHECK_EQ(last, 201);
	CHECK(stats(sp).segments > 2);
	settle(sp, UINT64_MAX); /* segments go only once acked */
	before = others_switches();
	usleep(500000);
	CHECK(others_switches() - before <= 1);

	/* An ack while it sleeps: the checkpoint deletes what was delivered. */
	sg_spool_ack(sp, last);
	for (int i = 0; i < 1000 && stats(sp).segments > 1; i++)
		usleep(10000);
	CHECK_EQ(stats(sp).segments, 1);
	CHECK_EQ(stats(sp).pending, 0);
	sg_buf_free(&b);
	sg_spool_close(sp);
}

static unsigned long syncs;

static int counting_sync(int fd)
{
	(void)fd;
	__atomic_add_fetch(&syncs, 1, __ATOMIC_RELAXED);
	return 0; /* durability is not what this test is about */
}

TEST(flowing_appends_wake_the_flusher_once_per_group_commit)
{
	const char *dir = t_tmpdir();
	struct sg_spool_conf c = conf_for(dir);
	struct sg_spool *sp = NULL;
	struct sg_errbuf eb;
	char rec[100];
	uint64_t seq = 0;
	unsigned long n;
	long before, woken;

	c.ack_interval_ms = 60000; /* no checkpoint passes */
	sg_spool_io.fdatasync = counting_sync;
	CHECK_EQ(sg_spool_open(&c, &sp, &eb), SG_OK);
	if (!sp) {
		sg_spool_io.fdatasync = sg_spool_io_default.fdatasync;
		return;
	}
	memset(rec, 'r', sizeof(rec));
	settle(sp, 1);
	before = others_switches_of(true);
	n = __atomic_load_n(&syncs, __ATOMIC_RELAXED);

	/* An append about every millisecond for 300 ms: ten or so per group
	 * commit. */
	for (int i = 0; i < 300; i++) {
		CHECK_EQ(sg_spool_append(sp, rec, sizeof(rec), &seq), SG_OK);
		usleep(1000);
	}
	for (int i = 0; i < 1000 && stats(sp).durable_seq < seq; i++)
		usleep(1000);
	CHECK_EQ(stats(sp).durable_seq, seq);
	usleep(50000); /* the pass after the last one */
	woken = others_switches_of(true) - before;
	n = __atomic_load_n(&syncs, __ATOMIC_RELAXED) - n;
	sg_spool_close(sp);
	sg_spool_io.fdatasync = sg_spool_io_default.fdatasync;

	/* Group commit held: fewer fsyncs than appends by far. */
	CHECK(n >= 5);
	CHECK(n <= 100);
	/* One wake-up per commit, and a little slack for a contended lock
	 * and the last pass; an append waking the flusher early costs two. */
	if (woken > (long)(n + n / 2 + 3))
		fprintf(stderr, "  %ld wake-ups for %lu group commits\n", woken, n);
	CHECK(woken <= (long)(n + n / 2 + 3));
}

/* Readable now (no wait)? */
static bool fd_readable(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

TEST(reader_woken_once_per_catch_up)
{
	const char *dir = t_tmpdir();
	struct sg_spool_conf c = conf_for(dir);
	struct sg_spool *sp = NULL;
	struct sg_errbuf eb;
	char rec[100];
	struct sg_buf b;
	uint64_t seq = 0, got = 0;
	int fd;

	c.fsync_ms = SG_FSYNC_ALWAYS; /* readable when appended, whatever the cursor */
	CHECK_EQ(sg_spool_open(&c, &sp, &eb), SG_OK);
	if (!sp)
		return;
	memset(rec, 'r', sizeof(rec));
	sg_buf_init(&b);
	fd = sg_spool_read_fd(sp);

	/* Caught up: the first append wakes the reader. */
	while (sg_spool_read(sp, &seq, &b) == SG_OK)
		;
	CHECK(!fd_readable(fd));
	CHECK_EQ(sg_spool_append(sp, rec, sizeof(rec), &seq), SG_OK);
	CHECK(fd_readable(fd));

	{ /* what the reader's poll and read would do */
		uint64_t drain;
		CHECK(read(fd, &drain, sizeof(drain)) == (ssize_t)sizeof(drain));
	}

	/* Until it catches up again, appends do not write the eventfd. */
	for (int i = 0; i < 50; i++)
		CHECK_EQ(sg_spool_append(sp, rec, sizeof(rec), &seq), SG_OK);
	CHECK(!fd_readable(fd));
	for (int i = 0; i < 51; i++)
		CHECK_EQ(sg_spool_read(sp, &got, &b), SG_OK);
	CHECK_EQ(got, seq);

	/* Caught up again: the next append wakes it, once. */
	CHECK_EQ(sg_spool_read(sp, &got, &b), SG_EAGAIN);
	CHECK(!fd_readable(fd));
	CHECK_EQ(sg_spool_append(sp, rec, sizeof(rec), &seq), SG_OK);
	CHECK(fd_readable(fd));
	CHECK_EQ(sg_spool_read(sp, &got, &b), SG_OK);
	CHECK_EQ(got, seq);
	sg_buf_free(&b);
	sg_spool_close(sp);
}
