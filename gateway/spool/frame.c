/*
 * frame.c - frame and segment-header encoding and validation, and
 * the scanner that recovery and `sensorgate spool` share.
 */
#include "frame.h"

#include <string.h>

#include "gateway/base/buf.h"
#include "gateway/base/clock.h"
#include "gateway/base/mem.h"
#include "gateway/base/crc32c.h"

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

void sg_seg_header(uint8_t h[16])
{
	memcpy(h, SG_SEG_MAGIC, 8);
	put32(h + 8, SG_SEG_VERSION);
	put32(h + 12, sg_crc_mask(sg_crc32c(h, 12)));
}

int sg_seg_header_check(const uint8_t h[16])
{
	if (memcmp(h, SG_SEG_MAGIC, 8) != 0)
		return -1;
	if (sg_get_u32(h + 12) != sg_crc_mask(sg_crc32c(h, 12)))
		return -1;
	return sg_get_u32(h + 8) == SG_SEG_VERSION ? 0 : -1;
}

static uint32_t frame_crc(const uint8_t *h, const void *p, uint32_t len)
{
	uint32_t crc = sg_crc32c(h + 4, 12); /* length and seq */
	return sg_crc_mask(sg_crc32c_extend(crc, p, len));
}

void sg_frame_header(uint8_t *h, uint64_t seq, const void *p, uint32_t len)
{
	put32(h, SG_FRAME_MAGIC);
	put32(h + 4, len);
	put32(h + 8, (uint32_t)seq);
	put32(h + 12, (uint32_t)(seq >> 32));
	put32(h + 16, frame_crc(h, p, len));
}

int sg_frame_check(const uint8_t *p, size_t avail, uint32_t maxlen, uint64_t *seq, uint32_t *len)
{
	uint32_t l;

	if (avail < 4)
		return -1;
	if (sg_get_u32(p) != SG_FRAME_MAGIC)
		return 0;
	if (avail < 20)
		return -1;
	l = sg_get_u32(p + 4);
	if (l > maxlen)
		return 0;
	if (avail - 20 < l)
		return -1;
	if (sg_get_u32(p + 16) != frame_crc(p, p + 20, l))
		return 0;
	*seq = sg_get_u64(p + 8);
	*len = l;
	return 1;
}

size_t sg_frame_resync(const uint8_t *p, size_t size, size_t off, uint32_t maxlen,
		       uint64_t after_seq)
{
	static const uint8_t magic[4] = {'S', 'G', 'R', '1'};

	while (off + 20 <= size) {
		const uint8_t *m = memmem(p + off, size - off, magic, 4);
		uint64_t seq;
		uint32_t len;

		if (!m)
			break;
		off = (size_t)(m - p);
		if (sg_frame_check(m, size - off, maxlen, &seq, &len) == 1 && seq > after_seq)
			return off;
		off++;
	}
	return size;
}

void sg_seg_scan(const uint8_t *p, size_t size, uint32_t maxlen, sg_frame_fn fn, void *arg,
		 struct sg_seg_scan *out)
{
	size_t off = 16;
	uint64_t prev = 0;

	memset(out, 0, sizeof(*out));
	if (size < 16 || sg_seg_header_check(p) != 0) {
		out->bad_header = true;
		return;
	}
	out->valid_end = 16;
	while (off < size) {
		uint64_t seq;
		uint32_t len;
		int r = sg_frame_check(p + off, size - off, maxlen, &seq, &len);

		if (r == 1 && seq > prev) {
			if (!out->records)
				out->first_seq = seq;
			out->last_seq = seq;
			out->records++;
			if (fn)
				fn(arg, seq, p + off + 20, len, off);
			prev = seq;
			off += 20 + (size_t)len;
			out->valid_end = off;
			continue;
		}
		/* Invalid here: a corrupt region if a valid frame follows. */
		size_t next = sg_frame_resync(p, size, off + 1, maxlen, prev);
		if (next >= size)
			break; /* torn tail */
		uint64_t nseq;
		uint32_t nlen;
		sg_frame_check(p + next, size - next, maxlen, &nseq, &nlen);
		out->corrupt_regions++;
		if (prev && nseq > prev + 1)
			out->corrupt_lost += nseq - prev - 1;
		else if (!prev)
			out->corrupt_lost++; /* at least the one at the start */
		off = next;
	}
	out->torn_bytes = size - out->valid_end;
}
