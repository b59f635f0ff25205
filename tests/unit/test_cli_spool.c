/*
 * test_cli_spool.c - `sensorgate spool stat|dump|verify`: dump renders
 * records of both payload versions (a version 1 record as the previous
 * release wrote it, a version 2 record as the gateway writes it now) with
 * their event ids, --help prints the usage and succeeds for every form,
 * and verify (issue 12) tells a clean spool, repairable findings and loss
 * apart by exit code, one line per finding.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway/cli/cli.h"
#include "gateway/core/event.h"
#include "gateway/spool/spool.h"
#include "t.h"

/* Run `spool ARGS...` with stdout and stderr captured; returns the exit
 * code, the output in out (static). */
static int spool_cli(const char **out, const char *a1, const char *a2, const char *a3)
{
	static char buf[16384];
	const char *argv[] = {"spool", a1, a2, a3, NULL};
	int argc = 1 + !!a1 + !!a2 + !!a3;
	FILE *f = tmpfile();
	int fd = fileno(f), so, se, rc;
	ssize_t n;

	fflush(stdout);
	fflush(stderr);
	so = dup(1);
	se = dup(2);
	dup2(fd, 1);
	dup2(fd, 2);
	rc = sg_cli_spool(argc, (char **)argv);
	fflush(stdout);
	fflush(stderr);
	dup2(so, 1);
	dup2(se, 2);
	close(so);
	close(se);
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	fclose(f);
	*out = buf;
	return rc;
}

TEST(help_for_every_form)
{
	const char *out;

	CHECK_EQ(spool_cli(&out, "--help", NULL, NULL), 0);
	CHECK(strstr(out, "usage: sensorgate spool stat DIR") == out);
	CHECK_EQ(spool_cli(&out, "stat", "--help", NULL), 0);
	CHECK(strstr(out, "usage:") == out);
	CHECK_EQ(spool_cli(&out, "dump", "--help", NULL), 0);
	CHECK(strstr(out, "usage:") == out);
	CHECK_EQ(spool_cli(&out, "dump", "/nonexistent", "--help"), 0);
	CHECK(strstr(out, "cannot open") == NULL);
	/* Usage errors: exit 2, and no directory is touched. */
	CHECK_EQ(spool_cli(&out, NULL, NULL, NULL), 2);
	CHECK_EQ(spool_cli(&out, "stat", NULL, NULL), 2);
	CHECK_EQ(spool_cli(&out, "nonsense", "/tmp", NULL), 2);
	CHECK_EQ(spool_cli(&out, "dump", "/tmp", "--bogus"), 2);
	CHECK_EQ(spool_cli(&out, "dump", "/tmp", "--limit"), 2);
	CHECK_EQ(spool_cli(&out, "verify", NULL, NULL), 2);
	CHECK_EQ(spool_cli(&out, "verify", "/tmp", "--all"), 2);
	CHECK_EQ(spool_cli(&out, "verify", "--help", NULL), 0);
}

/* A version 1 payload as the previous release wrote it (event.h). */
static void v1_payload(struct sg_buf *b)
{
	static const char value[] = "{\"v\":1,\"id\":\"old:1\",\"seq\":1}";

	sg_buf_addc(b, 1);
	sg_buf_add_u64(b, 1000);
	sg_buf_add_u16(b, 3);
	sg_buf_adds(b, "t.x");
	sg_buf_add_u32(b, 1);
	sg_buf_adds(b, "x");
	sg_buf_add_u32(b, sizeof(value) - 1);
	sg_buf_adds(b, value);
	sg_buf_add_u16(b, 1);
	sg_buf_add_u16(b, 5);
	sg_buf_adds(b, "sg-id");
	sg_buf_add_u32(b, 5);
	sg_buf_adds(b, "old:1");
}

TEST(dump_renders_both_versions)
{
	const char *dir = t_tmpdir();
	const struct sg_event_ctx ec = {"new", "src", "t.{sensor}"};
	const struct sg_reading rd = {
	    .sensor = "y", .ts_ns = 2000, .value = {.type = SG_VAL_UINT, .u = 42}};
	struct sg_spool_conf c = {.dir = (char *)dir,
				  .fsync_ms = SG_FSYNC_ALWAYS,
				  .max_bytes = 1 << 20,
				  .segment_bytes = 1 << 16,
				  .when_full = SG_FULL_BLOCK,
				  .ack_interval_ms = 100,
				  .max_record_bytes = 4096};
	struct sg_spool *sp = NULL;
	struct sg_errbuf eb;
	struct sg_buf b;
	uint64_t seq;
	const char *out;
	char epoch[32], want[512];

	CHECK_EQ(sg_spool_open(&c, &sp, &eb), SG_OK);
	sg_buf_init(&b);
	v1_payload(&b);
	CHECK_EQ(sg_spool_append(sp, b.p, b.len, &seq), SG_OK);
	sg_buf_reset(&b);
	CHECK_EQ(sg_event_encode(&ec, &rd, &b), SG_OK);
	CHECK_EQ(sg_spool_append(sp, b.p, b.len, &seq), SG_OK);
	CHECK_EQ(seq, 2);
	snprintf(epoch, sizeof(epoch), "%s", sg_spool_epoch(sp));
	sg_spool_close(sp);
	sg_buf_free(&b);

	CHECK_EQ(spool_cli(&out, "dump", dir, NULL), 0);
	CHECK(strstr(out, "seq=1 ts_ns=1000 topic=t.x key=x rec=v1 id=old:1 "
			  "value={\"v\":1,\"id\":\"old:1\",\"seq\":1}\n") == out);
	/* Version 2 as the producer renders it, with the spool's epoch. */
	snprintf(want, sizeof(want),
		 "seq=2 ts_ns=2000 topic=t.y key=y rec=v2 epoch=%s id=new:2 "
		 "value={\"v\":1,\"id\":\"new:2\",\"seq\":2,\"epoch\":\"%s\",\"gateway\":\"new\","
		 "\"source\":\"src\",\"sensor\":\"y\",",
		 epoch, epoch);
	CHECK(strstr(out, want) != NULL);
	CHECK(strstr(out, "\"value\":42,\"type\":\"uint\",\"quality\":\"good\"}\n") != NULL);
	CHECK_EQ(spool_cli(&out, "dump", dir, "--limit=1"), 2);
	CHECK_EQ(spool_cli(&out, "stat", dir, NULL), 0);
	CHECK(strstr(out, "records 2, ") != NULL);
	CHECK(strstr(out, "seqs 1..2, delivered up to 0, pending 2") != NULL);
}

/* --- verify ------------------------------------------------------------- */

static void fill(const char *dir, int n)
{
	struct sg_spool_conf c = {.dir = (char *)dir,
				  .fsync_ms = SG_FSYNC_NEVER,
				  .max_bytes = 16 << 20,
				  .segment_bytes = 16384,
				  .when_full = SG_FULL_BLOCK,
				  .ack_interval_ms = 100,
				  .max_record_bytes = 4096};
	struct sg_spool *sp = NULL;
	struct sg_errbuf eb;
	uint64_t seq;
	char p[100];

	memset(p, 'v', sizeof(p));
	CHECK_EQ(sg_spool_open(&c, &sp, &eb), SG_OK);
	for (int i = 0; i < n; i++)
		CHECK_EQ(sg_spool_append(sp, p, sizeof(p), &seq), SG_OK);
	sg_spool_close(sp);
}

static const char *seg(const char *dir, unsigned long long first)
{
	static char p[512];
	snprintf(p, sizeof(p), "%s/%020llu.seg", dir, first);
	return p;
}

static void flip(const char *path, off_t off)
{
	int fd = open(path, O_RDWR);
	char b;

	CHECK(pread(fd, &b, 1, off) == 1);
	b ^= 0x04;
	CHECK(pwrite(fd, &b, 1, off) == 1);
	close(fd);
}

/* The first seqs of the segments (1, then every 136 records of 120 B). */
static unsigned long long nth_first(const char *dir, int k)
{
	int n = 0;

	for (unsigned long long s = 1; s < 100000; s++)
		if (access(seg(dir, s), F_OK) == 0 && n++ == k)
			return s;
	return 0;
}

TEST(verify_clean_repairable_and_loss)
{
	const char *dir = t_tmpdir();
	const char *out;
	unsigned long long s2, s3;
	char a[512], b[512], t[600];
	int fd;

	fill(dir, 600);
	CHECK_EQ(spool_cli(&out, "verify", dir, NULL), 0);
	CHECK(strstr(out, "verify: 600 frames checked, seqs 1..600") != NULL);
	CHECK(strstr(out, "clean (exit 0)") != NULL);
	/* A damaged header: repairable, every frame kept (defect 6). */
	flip(seg(dir, 1), 2);
	CHECK_EQ(spool_cli(&out, "verify", dir, NULL), 1);
	CHECK(strstr(out, "REPAIR segment 00000000000000000001: damaged header") != NULL);
	CHECK(strstr(out, "600 frames checked") != NULL);
	CHECK_EQ(spool_cli(&out, "stat", dir, NULL), 0);
	CHECK(strstr(out, "BAD HEADER (frames intact)") != NULL);
	CHECK(strstr(out, "records 600, ") != NULL);
	CHECK(strstr(out, "(~0 events lost), gaps 0") != NULL);
	flip(seg(dir, 1), 2);
	/* A torn tail: repairable. */
	s2 = nth_first(dir, 1);
	s3 = nth_first(dir, 2);
	CHECK(s2 > 1 && s3 > s2);
	fd = open(seg(dir, s3), O_WRONLY | O_APPEND);
	CHECK(write(fd, "SGR1\x10\0\0\0partial", 15) == 15);
	close(fd);
	CHECK_EQ(spool_cli(&out, "verify", dir, NULL), 1);
	CHECK(strstr(out, "torn tail of 15 bytes") != NULL);
	/* Swapped names: repairable, nothing lost (defect 5). */
	snprintf(a, sizeof(a), "%s", seg(dir, s2));
	snprintf(b, sizeof(b), "%s", seg(dir, s3));
	snprintf(t, sizeof(t), "%s.swap", a);
	CHECK(rename(a, t) == 0);
	CHECK(rename(b, a) == 0);
	CHECK(rename(t, b) == 0);
	CHECK_EQ(spool_cli(&out, "verify", dir, NULL), 1);
	CHECK(strstr(out, "out of order") != NULL);
	CHECK(strstr(out, "600 frames checked, seqs 1..600") != NULL);
	CHECK_EQ(spool_cli(&out, "stat", dir, NULL), 0);
	CHECK(strstr(out, "out of order 2") != NULL);
	/* A deleted middle segment: loss, with the count. */
	CHECK(unlink(seg(dir, s2)) == 0); /* now holds s3.. (the swapped one) */
	CHECK_EQ(spool_cli(&out, "verify", dir, NULL), 3);
	CHECK(strstr(out, "LOSS seqs before") != NULL);
	CHECK(strstr(out, "events lost or not deliverable (exit 3)") != NULL);
	CHECK_EQ(spool_cli(&out, "verify", "/nonexistent/spool", NULL), 4);
}
