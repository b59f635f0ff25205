/*
 * test_spool_cursor.c - fewer duplicates after a crash (issue 11): the
 * cursor reaches the page cache as each ack arrives (a kill -9 re-sends
 * only what was in flight), records are readable as soon as their append
 * returns also with an fsync interval (no group-commit burst in flight),
 * and seqs stay unique across a power cut all the same: after another
 * boot they start above the durable reservation, after a process crash
 * (same boot) and after a clean close they go on without a gap.  The
 * cursor's two slots: a torn one is covered by the other.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gateway/base/fs.h"
#include "gateway/spool/frame.h"
#include "gateway/spool/spool.h"
#include "t.h"

static uint8_t fake_boot = 1;

static int boot_id(uint8_t out[16])
{
	memset(out, fake_boot, 16);
	return 0;
}

static struct sg_spool_conf conf_for(const char *dir)
{
	struct sg_spool_conf c = {0};

	c.dir = (char *)dir;
	c.fsync_ms = 10000; /* an interval far longer than the test */
	c.max_bytes = 64 << 20;
	c.segment_bytes = 1 << 20;
	c.when_full = SG_FULL_BLOCK;
	c.ack_interval_ms = 10000;
	c.max_record_bytes = 4096;
	return c;
}

static struct sg_spool *open_ok(struct sg_spool_conf *c)
{
	struct sg_spool *sp = NULL;
	struct sg_errbuf eb;

	sg_spool_io = sg_spool_io_default;
	sg_spool_io.boot_id = boot_id;
	if (sg_spool_open(c, &sp, &eb) != SG_OK)
		t_fail(__FILE__, __LINE__, "open: %s", eb.msg);
	return sp;
}

static void append_n(struct sg_spool *sp, int n)
{
	uint64_t seq;

	for (int i = 0; i < n; i++)
		CHECK_EQ(sg_spool_append(sp, "x", 1, &seq), SG_OK);
}

/* The cursor file as the next start reads it. */
static struct sg_ack cursor_of(const char *dir)
{
	char path[512], *data = NULL;
	size_t len = 0;
	struct sg_ack a = {0};

	snprintf(path, sizeof(path), "%s/ack", dir);
	CHECK_EQ(sg_read_file(path, 256, &data, &len), SG_OK);
	CHECK_EQ(sg_ack_decode(data, len, &a), 0);
	free(data);
	return a;
}

/* A process that appends n, reads and acks all, then dies with
 * _exit(): no close, no checkpoint (a kill -9 as far as the files go). */
static void crash_after(struct sg_spool_conf *c, int n)
{
	pid_t pid = fork();

	if (pid == 0) {
		struct sg_spool *sp = open_ok(c);
		struct sg_buf b;
		uint64_t seq, last = 0;

		append_n(sp, n);
		sg_buf_init(&b);
		while (sg_spool_read(sp, &seq, &b) == SG_OK)
			last = seq;
		sg_spool_ack(sp, last);
		_exit(last == (uint64_t)n ? 0 : 1);
	}
	int st;
	CHECK(waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

TEST(records_are_readable_before_their_fsync)
{
	const char *dir = t_tmpdir();
	struct sg_spool_conf c = conf_for(dir);
	struct sg_spool *sp = open_ok(&c);
	struct sg_spool_stats st;
	struct sg_buf b;
	uint64_t seq;
	int got = 0;

	append_n(sp, 500);
	sg_buf_init(&b);
	while (sg_spool_read(sp, &seq, &b) == SG_OK)
		got++;
	CHECK_EQ(got, 500); /* no wait for the 10 s group commit */
	sg_spool_stats(sp, &st);
	CHECK(st.durable_seq < 500); /* and indeed not synced yet */
	sg_buf_free(&b);
	sg_spool_close(sp);
}

TEST(the_cursor_is_written_as_acks_arrive)
{
	const char *dir = t_tmpdir();
	struct sg_spool_conf c = conf_for(dir);
	struct sg_spool *sp;

	crash_after(&c, 300); /* acked 300, never checkpointed */
	CHECK_EQ(cursor_of(dir).acked, 300);
	sp = open_ok(&c);
	struct sg_buf b;
	uint64_t seq;
	sg_buf_init(&b);
	CHECK(sg_spool_read(sp, &seq, &b) == SG_EAGAIN); /* nothing sent again */
	sg_buf_free(&b);
	sg_spool_close(sp);
}

TEST(after_a_process_crash_seqs_go_on_without_a_gap)
{
	const char *dir = t_tmpdir();
	struct sg_spool_conf c = conf_for(dir);
	struct sg_spool_stats st;
	struct sg_spool *sp;

	fake_boot = 1;
	crash_after(&c, 100);
	sp = open_ok(&c); /* the same boot */
	sg_spool_stats(sp, &st);
	CHECK_EQ(st.next_seq, 101);
	sg_spool_close(sp);
}

TEST(after_a_power_cut_seqs_start_above_the_reservation)
{
	const char *dir = t_tmpdir();
	struct sg_spool_conf c = conf_for(dir);
	struct sg_spool_stats st;
	struct sg_spool *sp;
	struct sg_ack a;

	fake_boot = 1;
	crash_after(&c, 100);
	a = cursor_of(dir);
	CHECK(a.seq_hw > 100);
	fake_boot = 2; /* another boot: unsynced appends may be gone */
	sp = open_ok(&c);
	sg_spool_stats(sp, &st);
	CHECK_EQ(st.next_seq, a.seq_hw);
	sg_spool_close(sp);
	fake_boot = 1;
}

TEST(after_a_clean_close_a_reboot_leaves_no_gap)
{
	const char *dir = t_tmpdir();
	struct sg_spool_conf c = conf_for(dir);
	struct sg_spool_stats st;
	struct sg_spool *sp;

	fake_boot = 1;
	sp = open_ok(&c);
	append_n(sp, 50);
	sg_spool_close(sp); /* syncs: nothing can be lost */
	fake_boot = 3;
	sp = open_ok(&c);
	sg_spool_stats(sp, &st);
	CHECK_EQ(st.next_seq, 51);
	sg_spool_close(sp);
	fake_boot = 1;
}

TEST(a_torn_slot_is_covered_by_the_other)
{
	const char *dir = t_tmpdir();
	struct sg_spool_conf c = conf_for(dir);
	struct sg_spool *sp = open_ok(&c);
	char path[512];
	int fd;

	append_n(sp, 20);
	sg_spool_ack(sp, 10);
	sg_spool_ack(sp, 15); /* the two slots: 10 and 15 */
	snprintf(path, sizeof(path), "%s/ack", dir);
	CHECK_EQ(cursor_of(dir).acked, 15);
	for (int slot = 0; slot < 2; slot++) {
		struct sg_ack a;
		char b;
		fd = open(path, O_RDWR);
		CHECK(pread(fd, &b, 1, slot * SG_ACK_SLOT_LEN + 12) == 1);
		b ^= 1;
		CHECK(pwrite(fd, &b, 1, slot * SG_ACK_SLOT_LEN + 12) == 1);
		a = cursor_of(dir);
		CHECK(a.acked == 10 || a.acked == 15); /* never more than was acked */
		b ^= 1;
		CHECK(pwrite(fd, &b, 1, slot * SG_ACK_SLOT_LEN + 12) == 1);
		close(fd);
	}
	sg_spool_close(sp);
}
