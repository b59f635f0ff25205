/*
 * spool_bench.c - appends/s of the gateway's spool itself (build/libsg.a):
 * sg_spool_open + sg_spool_append in a loop, the way source threads
 * append, with the spool's own flusher doing the group commit.  Compare
 * with spool_ref (plain write + fdatasync, same sizes, same disk).
 *
 *   spool_bench DIR always|MS SIZE COUNT SECONDS [raw|event [THREADS]]
 *
 * raw (the default): a fixed payload of SIZE bytes (the frame on disk is
 * SIZE + SG_SPOOL_FRAME_HDR bytes).  event: what sg_source_emit() does
 * per reading - encode a sensor reading (a double with unit, quality and
 * one attribute) with sg_event_encode(), then append it; SIZE is ignored.
 * THREADS appenders (default 1) share COUNT.
 *
 * Stops after COUNT appends or SECONDS, whichever comes first; the time
 * includes the final sg_spool_sync (so the last group is on disk too) and
 * prints "appends N seconds S rate R".  In event mode it then reads every
 * record back and renders it as the producer does (sg_spool_read,
 * sg_record_decode, sg_record_render) and prints "leave N seconds S rate
 * R".  Nothing acknowledges, so the spool only grows: DIR must have room
 * for COUNT frames.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway/core/event.h"
#include "gateway/spool/spool.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct job {
	struct sg_spool *sp;
	bool event, always;
	const char *raw;
	size_t size;
	long count, done;
	double secs;
	int rc;
};

/* One reading of a simulated sensor, different each time. */
static int append_event(struct sg_spool *sp, struct sg_buf *b, long i, uint64_t *seq)
{
	static const struct sg_event_ctx ec = {"bench-gw", "bench", "sensors.{source}"};
	static const struct sg_attr at[] = {{"site", "lab"}};
	struct sg_reading rd = {
	    .sensor = "temp-1",
	    .value = {.type = SG_VAL_DOUBLE, .d = 20.0 + (double)(i % 1000) / 8},
	    .unit = "degC",
	    .attrs = at,
	    .nattrs = 1};
	int rc;

	sg_buf_reset(b);
	rc = sg_event_encode(&ec, &rd, b);
	return rc == SG_OK ? sg_spool_append(sp, b->p, b->len, seq) : rc;
}

static void *job_main(void *arg)
{
	struct job *j = arg;
	struct sg_buf b;
	double t0 = now_s(), t = t0;

	sg_buf_init(&b);
	while (j->done < j->count && t - t0 < j->secs) {
		uint64_t seq;

		j->rc = j->event ? append_event(j->sp, &b, j->done, &seq)
				 : sg_spool_append(j->sp, j->raw, j->size, &seq);
		if (j->rc != SG_OK)
			break;
		j->done++;
		if ((j->done & 63) == 0 || j->always)
			t = now_s();
	}
	sg_buf_free(&b);
	return NULL;
}

/* Read back n records and render each; returns the seconds it took. */
static double leave_all(struct sg_spool *sp, long n)
{
	struct sg_buf rec, scratch;
	struct sg_record r;
	uint64_t seq;
	double t0 = now_s();
	long got = 0;

	sg_buf_init(&rec);
	sg_buf_init(&scratch);
	while (got < n && sg_spool_read(sp, &seq, &rec) == SG_OK) {
		if (sg_record_decode(rec.p, rec.len, &r) != SG_OK ||
		    sg_record_render(&r, seq, &scratch) != SG_OK) {
			fprintf(stderr, "record %llu does not decode\n", (unsigned long long)seq);
			exit(1);
		}
		got++;
	}
	sg_buf_free(&rec);
	sg_buf_free(&scratch);
	if (got != n) {
		fprintf(stderr, "read back %ld of %ld records\n", got, n);
		exit(1);
	}
	return now_s() - t0;
}

static int usage(const char *prog)
{
	fprintf(stderr, "usage: %s DIR always|MS SIZE COUNT SECONDS [raw|event [THREADS]]\n", prog);
	return 2;
}

int main(int argc, char **argv)
{
	struct sg_spool_conf c = {0};
	struct sg_spool *sp = NULL;
	struct sg_errbuf eb;
	struct job jobs[64];
	pthread_t th[64];
	long size, count, n = 0;
	int threads = argc > 7 ? atoi(argv[7]) : 1;
	bool event = argc > 6 && !strcmp(argv[6], "event");
	double secs, t0, t;
	char *buf;

	if (argc < 6 || argc > 8 || (argc > 6 && !event && strcmp(argv[6], "raw")))
		return usage(argv[0]);
	size = atol(argv[3]);
	count = atol(argv[4]);
	secs = atof(argv[5]);
	if (size < 1 || count < 1 || secs <= 0 || threads < 1 || threads > 64) {
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
	t0 = now_s();
	for (int i = 0; i < threads; i++) {
		jobs[i] = (struct job){.sp = sp,
				       .event = event,
				       .always = c.fsync_ms == SG_FSYNC_ALWAYS,
				       .raw = buf,
				       .size = (size_t)size,
				       .count = count / threads + (i < count % threads),
				       .secs = secs};
		if (pthread_create(&th[i], NULL, job_main, &jobs[i]) != 0)
			return 1;
	}
	for (int i = 0; i < threads; i++) {
		pthread_join(th[i], NULL);
		if (jobs[i].rc != SG_OK) {
			fprintf(stderr, "sg_spool_append: %s\n", sg_strerror(jobs[i].rc));
			return 1;
		}
		n += jobs[i].done;
	}
	if (sg_spool_sync(sp) != SG_OK) {
		fprintf(stderr, "sg_spool_sync failed\n");
		return 1;
	}
	t = now_s();
	printf("appends %ld seconds %.4f rate %.1f\n", n, t - t0, (double)n / (t - t0));
	if (event) {
		double dt = leave_all(sp, n);
		printf("leave %ld seconds %.4f rate %.1f\n", n, dt, (double)n / dt);
	}
	sg_spool_close(sp);
	free(buf);
	return 0;
}
