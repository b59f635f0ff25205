/*
 * frame.c - frame, segment-header and ack-cursor encoding and
 * validation, and the scanner that recovery and `sensorgate spool` share.
 */
#include "frame.h"

#include <string.h>

#include "gateway/base/buf.h"
#include "gateway/base/clock.h"
#include "gateway/base/mem.h"
#include "gateway/base/crc32c.h"

/* Field offsets in the frame header, the ack cursor and the segment
 * header (frame.h). */
enum { FR_LEN = 4, FR_SEQ = 8, FR_CRC = 16 };
enum { ACK_SEQ = 8, ACK_CRC = 16 };
enum { SEG_VERSION = 8, SEG_CRC = 12 };

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

void sg_seg_header(uint8_t h[SG_SPOOL_SEG_HDR])
{
	memcpy(h, SG_SEG_MAGIC, SEG_VERSION);
	put32(h + SEG_VERSION, SG_SEG_VERSION);
	put32(h + SEG_CRC, sg_crc_mask(sg_crc32c(h, SEG_CRC)));
}

int sg_seg_header_check(const uint8_t h[SG_SPOOL_SEG_HDR])
{
	if (memcmp(h, SG_SEG_MAGIC, SEG_VERSION) != 0)
		return -1;
	if (sg_get_u32(h + SEG_CRC) != sg_crc_mask(sg_crc32c(h, SEG_CRC)))
		return -1;
	return sg_get_u32(h + SEG_VERSION) == SG_SEG_VERSION ? 0 : -1;
}

bool sg_seg_name_ok(const char *name)
{
	for (int i = 0; i < SG_SEG_NAME_DIGITS; i++)
		if (name[i] < '0' || name[i] > '9')
			return false;
	return !strcmp(name + SG_SEG_NAME_DIGITS, ".seg");
}

void sg_ack_encode(uint8_t out[SG_ACK_FILE_LEN], uint64_t seq)
{
	memcpy(out, SG_ACK_MAGIC, ACK_SEQ);
	put32(out + ACK_SEQ, (uint32_t)seq);
	put32(out + ACK_SEQ + 4, (uint32_t)(seq >> 32));
	put32(out + ACK_CRC, sg_crc_mask(sg_crc32c(out, ACK_CRC)));
}

int sg_ack_decode(const void *p, size_t n, uint64_t *seq)
{
	const uint8_t *b = p;

	if (n != SG_ACK_FILE_LEN || memcmp(b, SG_ACK_MAGIC, ACK_SEQ) != 0 ||
	    sg_get_u32(b + ACK_CRC) != sg_crc_mask(sg_crc32c(b, ACK_CRC)))
		return -1;
	*seq = sg_get_u64(b + ACK_SEQ);
	return 0;
}

static uint32_t frame_crc(const uint8_t *h, const void *p, uint32_t len)
{
	uint32_t crc = sg_crc32c(h + FR_LEN, FR_CRC - FR_LEN); /* length and seq */
	return sg_crc_mask(sg_crc32c_extend(crc, p, len));
}

void sg_frame_header(uint8_t *h, uint64_t seq, const void *p, uint32_t len)
{
	put32(h, SG_FRAME_MAGIC);
	put32(h + FR_LEN, len);
	put32(h + FR_SEQ, (uint32_t)seq);
	put32(h + FR_SEQ + 4, (uint32_t)(seq >> 32));
	put32(h + FR_CRC, frame_crc(h, p, len));
}

uint32_t sg_frame_claimed_len(const uint8_t h[SG_SPOOL_FRAME_HDR])
{
	return sg_get_u32(h + FR_LEN);
}

int sg_frame_check(const uint8_t *p, size_t avail, uint32_t maxlen, uint64_t *seq, uint32_t *len)
{
	uint32_t l;

	if (avail < 4)
		return -1;
	if (sg_get_u32(p) != SG_FRAME_MAGIC)
		return 0;
	if (avail < SG_SPOOL_FRAME_HDR)
		return -1;
	l = sg_get_u32(p + FR_LEN);
	if (l > maxlen)
		return 0;
	if (avail - SG_SPOOL_FRAME_HDR < l)
		return -1;
	if (sg_get_u32(p + FR_CRC) != frame_crc(p, p + SG_SPOOL_FRAME_HDR, l))
		return 0;
	*seq = sg_get_u64(p + FR_SEQ);
	*len = l;
	return 1;
}

size_t sg_frame_resync(const uint8_t *p, size_t size, size_t off, uint32_t maxlen,
		       uint64_t after_seq)
{
	uint8_t magic[4];

	put32(magic, SG_FRAME_MAGIC);
	while (off + SG_SPOOL_FRAME_HDR <= size) {
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
	size_t off = SG_SPOOL_SEG_HDR;
	uint64_t prev = 0;

	memset(out, 0, sizeof(*out));
	if (size < SG_SPOOL_SEG_HDR || sg_seg_header_check(p) != 0) {
		out->bad_header = true;
		return;
	}
	out->valid_end = SG_SPOOL_SEG_HDR;
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
				fn(arg, seq, p + off + SG_SPOOL_FRAME_HDR, len, off);
			prev = seq;
			off += SG_SPOOL_FRAME_HDR + (size_t)len;
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
