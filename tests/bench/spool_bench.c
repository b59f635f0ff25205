/*
 * spool_bench.c - appends/s of the gateway's spool itself (build/libsg.a):
 * sg_spool_open + sg_spool_append in a loop from one thread, the way a
 * source thread appends, with the spool's own flusher doing the group
 * commit.  Compare with spool_ref (plain write + fdatasync, same sizes,
 * same disk).
 *
 *   spool_bench DIR always|MS SIZE COUNT SECONDS
 *
 * SIZE is the payload size (the frame on disk is SIZE + 20 bytes).  Stops
 * after COUNT appends or SECONDS, whichever comes first; the time includes
 * the final sg_spool_sync (so the last group is on disk too) and prints
 * "appends N seconds S rate R".  Nothing reads or acknowledges, so the
 * spool only grows: DIR must have room for COUNT * (SIZE + 20) bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway/spool/spool.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct payload {
	const char *p;
	size_t n;
};

static int enc(uint64_t seq, struct sg_buf *out, void *arg)
{
	const struct payload *pl = arg;

	(void)seq;
	sg_buf_add(out, pl->p, pl->n);
	return SG_OK;
}

int main(int argc, char **argv)
{
	struct sg_spool_conf c = {0};
	struct sg_spool *sp = NULL;
	struct sg_errbuf eb;
	struct payload pl;
	double secs, t0, t;
	long size, count, n = 0;
	char *buf;

	if (argc != 6) {
		fprintf(stderr, "usage: %s DIR always|MS SIZE COUNT SECONDS\n", argv[0]);
		return 2;
	}
	size = atol(argv[3]);
	count = atol(argv[4]);
	secs = atof(argv[5]);
	if (size < 1 || count < 1 || secs <= 0) {
		fprintf(stderr, "bad arguments\n");
		return 2;
	}
	c.dir = argv[1];
	c.fsync_ms = strcmp(argv[2], "always") == 0 ? SG_FSYNC_ALWAYS : atol(argv[2]);
	if (c.fsync_ms == 0) {
		fprintf(stderr, "fsync must be always or a number of milliseconds\n");
		return 2;
	}
	c.max_bytes = 1LL << 40;
	c.segment_bytes = 16 << 20; /* the gateway's default */
	c.when_full = SG_FULL_BLOCK;
	c.ack_interval_ms = 200;
	c.max_record_bytes = 1 << 20;
	if (sg_spool_open(&c, &sp, &eb) != SG_OK) {
		fprintf(stderr, "sg_spool_open: %s\n", eb.msg);
		return 1;
	}
	buf = malloc((size_t)size);
	if (!buf)
		return 1;
	memset(buf, 'x', (size_t)size);
	pl.p = buf;
	pl.n = (size_t)size;
	t0 = t = now_s();
	while (n < count && t - t0 < secs) {
		uint64_t seq;
		int rc = sg_spool_append(sp, enc, &pl, &seq);

		if (rc != SG_OK) {
			fprintf(stderr, "sg_spool_append: %s\n", sg_strerror(rc));
			return 1;
		}
		n++;
		if ((n & 63) == 0 || c.fsync_ms == SG_FSYNC_ALWAYS)
			t = now_s();
	}
	if (sg_spool_sync(sp) != SG_OK) {
		fprintf(stderr, "sg_spool_sync failed\n");
		return 1;
	}
	t = now_s();
	printf("appends %ld seconds %.4f rate %.1f\n", n, t - t0, (double)n / (t - t0));
	sg_spool_close(sp);
	free(buf);
	return 0;
}
