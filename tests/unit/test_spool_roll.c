/*
 * test_spool_roll.c - sealing a segment does not stop the producer.  The
 * append that fills a segment syncs it and makes, syncs and names the
 * next one, which on an SD card can take a second; meanwhile the reader,
 * the acknowledgements and the stats (the status line, /metrics) go on:
 * the roll holds only the appenders' lock while it waits for the disk.
 *
 * The roll's fdatasync is made to wait (sg_spool_io) until the test has
 * read, acknowledged and asked for the stats from another thread; were
 * the spool's lock held across it, those calls would wait for the roll
 * and the roll for them, and the injected wait would end on its 10 s
 * bound instead, which the test reports.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gateway/spool/spool.h"
#include "t.h"

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t appender; /* only its syncs wait */
	bool armed, entered, released, timed_out;
} gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER};

static int gated_fdatasync(int fd)
{
	struct timespec ts;

	pthread_mutex_lock(&gate.mu);
	if (pthread_equal(pthread_self(), gate.appender)) {
		if (gate.armed) {
			gate.armed = false;
			gate.entered = true;
			pthread_cond_broadcast(&gate.cv);
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 10;
			while (!gate.released && !gate.timed_out)
				if (pthread_cond_timedwait(&gate.cv, &gate.mu, &ts) == ETIMEDOUT)
					gate.timed_out = true;
		}
	}
	pthread_mutex_unlock(&gate.mu);
	return sg_spool_io_default.fdatasync(fd);
}

struct appender {
	struct sg_spool *sp;
	const char *rec;
	size_t len;
	int n, rc;
	uint64_t last;
};

static void *append_all(void *arg)
{
	struct appender *ap = arg;

	for (int i = 0; i < ap->n && ap->rc == SG_OK; i++)
		ap->rc = sg_spool_append(ap->sp, ap->rec, ap->len, &ap->last);
	return NULL;
}

TEST(a_roll_waiting_for_the_disk_lets_the_reader_acks_and_stats_through)
{
	const char *dir = t_tmpdir();
	struct sg_spool_conf c = {0};
	struct sg_spool *sp = NULL;
	struct sg_spool_stats st;
	struct sg_errbuf eb;
	struct sg_buf b;
	char rec[1000];
	uint64_t seq = 0, got = 0;
	struct appender ap = {0};
	pthread_t th;
	int per_seg;

	c.dir = (char *)dir;
	c.fsync_ms = 60000; /* the flusher stays out of the way */
	c.max_bytes = 64 << 20;
	c.segment_bytes = 64 << 10;
	c.when_full = SG_FULL_BLOCK;
	c.ack_interval_ms = 60000;
	c.max_record_bytes = 4096;
	memset(rec, 'r', sizeof(rec));
	sg_buf_init(&b);
	CHECK_EQ(sg_spool_open(&c, &sp, &eb), SG_OK);
	if (!sp)
		return;
	/* Records per segment: the append that rolls to segment 2 is the
	 * first one that did not fit. */
	for (per_seg = 0; sg_spool_stats(sp, &st), st.segments == 1; per_seg++)
		CHECK_EQ(sg_spool_append(sp, rec, sizeof(rec), &seq), SG_OK);
	per_seg--;
	CHECK(per_seg > 10);
	CHECK_EQ(seq, per_seg + 1);
	sg_spool_io.fdatasync = gated_fdatasync;

	/* From another thread, segment 2 filled and 5 more: the append that
	 * rolls to segment 3 waits at the gate, in the seal's fdatasync. */
	ap = (struct appender){.sp = sp, .rec = rec, .len = sizeof(rec), .n = per_seg + 5};
	pthread_mutex_lock(&gate.mu);
	gate.armed = true;
	CHECK_EQ(pthread_create(&th, NULL, append_all, &ap), 0);
	gate.appender = th;
	pthread_mutex_unlock(&gate.mu);
	pthread_mutex_lock(&gate.mu);
	while (!gate.entered && !gate.timed_out) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 10;
		if (pthread_cond_timedwait(&gate.cv, &gate.mu, &ts) == ETIMEDOUT)
			break;
	}
	CHECK(gate.entered);
	pthread_mutex_unlock(&gate.mu);

	/* The roll waits for the disk: the producer's calls go through. */
	while (sg_spool_read(sp, &seq, &b) == SG_OK)
		got = seq;
	CHECK_EQ(got, 2 * per_seg);
	sg_spool_ack(sp, got);
	sg_spool_stats(sp, &st);
	CHECK_EQ(st.acked_seq, got);
	CHECK_EQ(st.segments, 2);

	pthread_mutex_lock(&gate.mu);
	CHECK(!gate.timed_out); /* the calls above did not wait for the roll */
	gate.released = true;
	pthread_cond_broadcast(&gate.cv);
	pthread_mutex_unlock(&gate.mu);
	pthread_join(th, NULL);
	sg_spool_io = sg_spool_io_default;

	/* The roll finished: segment 3 holds the rest, in order. */
	CHECK_EQ(ap.rc, SG_OK);
	CHECK_EQ(ap.last, 2 * per_seg + 6);
	sg_spool_stats(sp, &st);
	CHECK_EQ(st.segments, 3);
	CHECK(st.durable_seq >= (uint64_t)(2 * per_seg)); /* the sealed ones */
	for (int i = 0; i < 1000 && sg_spool_read(sp, &seq, &b) != SG_OK; i++)
		usleep(1000);
	CHECK_EQ(seq, 2 * per_seg + 1);
	while (sg_spool_read(sp, &seq, &b) == SG_OK)
		got = seq;
	CHECK_EQ(got, 2 * per_seg + 6);
	sg_buf_free(&b);
	sg_spool_close(sp);
}
