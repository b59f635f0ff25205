/*
 * test_spool_read.c - the reader's read-ahead chunk: records of every
 * size (1 byte to several times the 64 KiB chunk, frames across its end)
 * come back whole and in order, whether the reader trails the appender
 * (the readable limit moves while a chunk is held) or reads a full
 * spool; a rewind into the middle of a chunk reads the same bytes again,
 * and a new segment is never served from the last one's chunk.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/spool/spool.h"
#include "t.h"

static const size_t sizes[] = {1, 100, 4000, 30000, 65000, 65536, 70000, 200000, 17, 65500};
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

static size_t size_of(uint64_t seq)
{
	return sizes[(seq * 7) % NSIZES];
}

/* The payload of seq: its size, every byte a function of seq and place. */
static void fill(uint8_t *p, uint64_t seq)
{
	size_t n = size_of(seq);

	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seq * 31 + i * 7 + (i >> 9));
}

static struct sg_spool *open_spool(const char *dir, int64_t segment_bytes)
{
	struct sg_spool_conf c = {.dir = (char *)dir,
				  .fsync_ms = SG_FSYNC_NEVER,
				  .max_bytes = 256 << 20,
				  .segment_bytes = segment_bytes,
				  .when_full = SG_FULL_BLOCK,
				  .ack_interval_ms = 10,
				  .max_record_bytes = 256 << 10};
	struct sg_spool *sp = NULL;
	struct sg_errbuf eb;

	if (sg_spool_open(&c, &sp, &eb) != SG_OK)
		t_fail(__FILE__, __LINE__, "open: %s", eb.msg);
	return sp;
}

static uint8_t want[256 << 10];

/* Read one record; check it is seq with its own bytes. */
static int read_is(struct sg_spool *sp, struct sg_buf *b, uint64_t expect)
{
	uint64_t seq = 0;
	int rc = sg_spool_read(sp, &seq, b);

	if (rc != SG_OK)
		return rc;
	fill(want, expect);
	if (seq != expect || b->len != size_of(expect) || memcmp(b->p, want, b->len)) {
		t_fail(__FILE__, __LINE__,
		       "seq %" PRIu64 " (%zu bytes), expected %" PRIu64 " (%zu)", seq, b->len,
		       expect, size_of(expect));
		return SG_ECORRUPT;
	}
	return SG_OK;
}

TEST(every_size_back_whole_trailing_the_appender)
{
	struct sg_spool *sp = open_spool(t_tmpdir(), 1 << 20);
	uint8_t *p = malloc(256 << 10);
	struct sg_buf b;
	uint64_t seq, next = 1;

	sg_buf_init(&b);
	if (!sp || !p)
		goto out;
	/* Append a few, read all there is, repeat: the reader sits at the
	 * limit while the appender moves it. */
	for (uint64_t s = 1; s <= 600; s++) {
		fill(p, s);
		CHECK_EQ(sg_spool_append(sp, p, size_of(s), &seq), SG_OK);
		CHECK_EQ(seq, s);
		if (s % 3 == 0 || s % 7 == 0)
			while (next <= s && read_is(sp, &b, next) == SG_OK)
				next++;
	}
	while (next <= 600 && read_is(sp, &b, next) == SG_OK)
		next++;
	CHECK_EQ(next, 601);
	CHECK_EQ(sg_spool_read(sp, &seq, &b), SG_EAGAIN);
out:
	free(p);
	sg_buf_free(&b);
	sg_spool_close(sp);
}

TEST(full_spool_read_and_rewound_into_a_chunk)
{
	/* segments of 32 KiB: each is one chunk, at the offsets of the last */
	struct sg_spool *sp = open_spool(t_tmpdir(), 32 << 10);
	uint8_t small[200];
	struct sg_buf b;
	uint64_t seq, next = 1;

	sg_buf_init(&b);
	if (!sp)
		return;
	/* small records: many per chunk */
	for (uint64_t s = 1; s <= 3000; s++) {
		size_t n = 50 + s % 150;

		memset(small, (int)(s & 0xff), n);
		CHECK_EQ(sg_spool_append(sp, small, n, &seq), SG_OK);
	}
	for (int pass = 0; pass < 2; pass++) {
		while (sg_spool_read(sp, &seq, &b) == SG_OK) {
			CHECK_EQ(seq, next);
			CHECK(b.len == 50 + seq % 150 &&
			      ((uint8_t *)b.p)[b.len - 1] == (seq & 0xff) &&
			      ((uint8_t *)b.p)[0] == (seq & 0xff));
			next++;
			if (pass == 0 && seq == 1234)
				break;
		}
		if (pass == 0) {
			sg_spool_rewind(sp, 1000); /* back into bytes read ahead */
			next = 1001;
		}
	}
	CHECK_EQ(next, 3001);
	sg_buf_free(&b);
	sg_spool_close(sp);
}
