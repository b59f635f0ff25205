/*
 * test_spool_threads.c - the spool's ordering promise with several
 * appenders at once: every frame's seq is strictly increasing in file
 * order (segment by segment), no seq is lost or doubled, and each payload
 * sits under the seq its own append returned.  Once with free room (and
 * many segment rolls), once on a small spool with `when_full: block`
 * where appenders wait for a reader that acknowledges as it goes.
 */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/core/metrics.h"
#include "gateway/spool/frame.h"
#include "gateway/spool/spool.h"
#include "t.h"

#define THREADS 4
#define PER     3000
#define TOTAL   (THREADS * PER)

struct appender {
	struct sg_spool *sp;
	int id;
	uint64_t seqs[PER]; /* what each append returned */
	int failures;
};

/* "t<id>-<i>" padded to a length that varies with i, so frames differ. */
static size_t payload(char *out, size_t n, int id, int i)
{
	int len = snprintf(out, n, "t%d-%d-", id, i);
	int pad = i % 37;

	memset(out + len, 'p', (size_t)pad);
	return (size_t)(len + pad);
}

static void *append_main(void *arg)
{
	struct appender *a = arg;
	char p[96];

	for (int i = 0; i < PER; i++)
		if (sg_spool_append(a->sp, p, payload(p, sizeof(p), a->id, i), &a->seqs[i]) !=
		    SG_OK)
			a->failures++;
	return NULL;
}

/* The seq -> (appender, index) table the appends returned; checks that
 * no seq came back twice and each appender's seqs grew. */
struct owner {
	int id, i; /* id < 0: no append returned this seq */
};

static struct owner *owners(struct appender *ap)
{
	struct owner *o = malloc((TOTAL + 1) * sizeof(*o));

	for (int s = 0; s <= TOTAL; s++)
		o[s].id = -1;
	for (int t = 0; t < THREADS; t++) {
		CHECK_EQ(ap[t].failures, 0);
		for (int i = 0; i < PER; i++) {
			uint64_t s = ap[t].seqs[i];
			CHECK(s >= 1 && s <= TOTAL);
			if (s < 1 || s > TOTAL)
				continue;
			CHECK_EQ(o[s].id, -1); /* not doubled */
			o[s] = (struct owner){t, i};
			if (i)
				CHECK(s > ap[t].seqs[i - 1]);
		}
	}
	return o;
}

static void run_appenders(struct sg_spool *sp, struct appender *ap)
{
	pthread_t th[THREADS];

	for (int t = 0; t < THREADS; t++) {
		ap[t] = (struct appender){.sp = sp, .id = t};
		CHECK(pthread_create(&th[t], NULL, append_main, &ap[t]) == 0);
	}
	for (int t = 0; t < THREADS; t++)
		pthread_join(th[t], NULL);
}

/* What the scan of the segments found, in file order. */
struct seen {
	const struct owner *o;
	uint64_t prev, count;
	int bad_payload;
};

static void seen_frame(struct seen *s, uint64_t seq, const uint8_t *p, uint32_t len)
{
	char want[96];

	CHECK(seq > s->prev);      /* strictly increasing in file order */
	CHECK(seq == s->prev + 1); /* and nothing lost in between */
	s->prev = seq;
	s->count++;
	if (seq > TOTAL || s->o[seq].id < 0) {
		s->bad_payload++;
		return;
	}
	size_t n = payload(want, sizeof(want), s->o[seq].id, s->o[seq].i);
	if (len != n || memcmp(p, want, n))
		s->bad_payload++;
}

static void scan_fn(void *arg, uint64_t seq, const uint8_t *p, uint32_t len, size_t off)
{
	(void)off;
	seen_frame(arg, seq, p, len);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Scan every segment of dir in name (= seq) order. */
static void scan_dir(const char *dir, struct seen *s)
{
	char *names[4096];
	size_t n = 0;
	DIR *d = opendir(dir);
	struct dirent *e;

	CHECK(d != NULL);
	while (d && (e = readdir(d)) && n < 4096)
		if (strlen(e->d_name) == SG_SEG_NAME_LEN && sg_seg_name_ok(e->d_name))
			names[n++] = strdup(e->d_name);
	if (d)
		closedir(d);
	qsort(names, n, sizeof(*names), cmp_str);
	CHECK(n > 3); /* the rolls happened */
	for (size_t i = 0; i < n; i++) {
		char path[600];
		struct stat st;
		struct sg_seg_scan sc;
		int fd;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		fd = open(path, O_RDONLY);
		CHECK(fd >= 0 && fstat(fd, &st) == 0);
		uint8_t *m = st.st_size
				 ? mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0)
				 : NULL;
		close(fd);
		CHECK(m != MAP_FAILED);
		sg_seg_scan(m, (size_t)st.st_size, 1 << 20, 0, scan_fn, s, &sc);
		CHECK(!sc.bad_header && sc.corrupt_regions == 0 && sc.torn_bytes == 0);
		/* The name is the first seq in it. */
		if (sc.records)
			CHECK_EQ(strtoull(names[i], NULL, 10), sc.first_seq);
		if (m)
			munmap(m, (size_t)st.st_size);
		free(names[i]);
	}
}

static struct sg_spool_conf conf_for(const char *dir)
{
	struct sg_spool_conf c = {0};

	c.dir = (char *)dir;
	c.fsync_ms = SG_FSYNC_NEVER;
	c.max_bytes = 64 << 20;
	c.segment_bytes = 32 << 10; /* many rolls */
	c.when_full = SG_FULL_BLOCK;
	c.ack_interval_ms = 5;
	c.max_record_bytes = 4096;
	return c;
}

static struct appender ap[THREADS];

TEST(concurrent_appends_keep_file_order)
{
	const char *dir = t_tmpdir();
	struct sg_spool_conf c = conf_for(dir);
	struct sg_spool *sp = NULL;
	struct sg_errbuf eb;
	struct sg_spool_stats st;
	struct seen s = {0};

	CHECK_EQ(sg_spool_open(&c, &sp, &eb), SG_OK);
	run_appenders(sp, ap);
	sg_spool_stats(sp, &st);
	CHECK_EQ(st.next_seq, TOTAL + 1);
	sg_spool_close(sp);
	s.o = owners(ap);
	scan_dir(dir, &s);
	CHECK_EQ(s.count, TOTAL);
	CHECK_EQ(s.prev, TOTAL);
	CHECK_EQ(s.bad_payload, 0);
	free((void *)s.o);
}

/* The reader: records what it reads (seq and payload) and acks it. */
struct reader {
	struct sg_spool *sp;
	uint64_t n;
	uint64_t *seqs;
	char (*pl)[96];
	uint32_t *len;
};

static void *read_main(void *arg)
{
	struct reader *r = arg;
	struct sg_buf b;
	uint64_t seq;

	sg_buf_init(&b);
	while (r->n < TOTAL) {
		if (sg_spool_read(r->sp, &seq, &b) != SG_OK) {
			usleep(200);
			continue;
		}
		r->seqs[r->n] = seq;
		r->len[r->n] = (uint32_t)(b.len < 96 ? b.len : 96);
		memcpy(r->pl[r->n], b.p, r->len[r->n]);
		r->n++;
		sg_spool_ack(r->sp, seq); /* the flusher frees the segments */
	}
	sg_buf_free(&b);
	return NULL;
}

/* A spool of a few segments: appenders block for room over and over,
 * and a seq is taken only after the wait. */
TEST(concurrent_appends_blocked_on_a_full_spool)
{
	const char *dir = t_tmpdir();
	struct sg_spool_conf c = conf_for(dir);
	struct sg_spool *sp = NULL;
	struct sg_errbuf eb;
	struct reader r = {0};
	struct seen s = {0};
	pthread_t rt;

	c.segment_bytes = 8 << 10;
	c.max_bytes = 40 << 10;
	CHECK_EQ(sg_spool_open(&c, &sp, &eb), SG_OK);
	r.sp = sp;
	r.seqs = calloc(TOTAL, sizeof(*r.seqs));
	r.pl = calloc(TOTAL, sizeof(*r.pl));
	r.len = calloc(TOTAL, sizeof(*r.len));
	CHECK(pthread_create(&rt, NULL, read_main, &r) == 0);
	run_appenders(sp, ap);
	pthread_join(rt, NULL);
	CHECK(sg_metrics_sum("spool_full_waits", "") > 0);
	sg_spool_close(sp);
	s.o = owners(ap);
	for (uint64_t i = 0; i < r.n; i++)
		seen_frame(&s, r.seqs[i], (const uint8_t *)r.pl[i], r.len[i]);
	CHECK_EQ(s.count, TOTAL);
	CHECK_EQ(s.bad_payload, 0);
	free((void *)s.o);
	free(r.seqs);
	free(r.pl);
	free(r.len);
}
