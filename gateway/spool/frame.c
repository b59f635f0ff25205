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
	uint32_t v;

	if (memcmp(h, SG_SEG_MAGIC, SEG_VERSION) != 0)
		return SG_SEG_HDR_DAMAGED;
	if (sg_get_u32(h + SEG_CRC) != sg_crc_mask(sg_crc32c(h, SEG_CRC)))
		return SG_SEG_HDR_DAMAGED;
	v = sg_get_u32(h + SEG_VERSION);
	return v >= SG_SEG_VERSION_MIN && v <= SG_SEG_VERSION ? SG_SEG_HDR_OK : SG_SEG_HDR_VERSION;
}

bool sg_seg_name_ok(const char *name)
{
	for (int i = 0; i < SG_SEG_NAME_DIGITS; i++)
		if (name[i] < '0' || name[i] > '9')
			return false;
	return !strcmp(name + SG_SEG_NAME_DIGITS, ".seg");
}

static bool digits(const char *s, int n, uint64_t *v)
{
	uint64_t x = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9' || x > (UINT64_MAX - 9) / 10)
			return false;
		x = x * 10 + (uint64_t)(s[i] - '0');
	}
	*v = x;
	return true;
}

void sg_tomb_name(uint64_t first, uint64_t last, char *out)
{
	char d[2][SG_SEG_NAME_DIGITS + 1];
	uint64_t v[2] = {first, last};

	for (int k = 0; k < 2; k++) {
		for (int i = SG_SEG_NAME_DIGITS - 1; i >= 0; i--, v[k] /= 10)
			d[k][i] = (char)('0' + v[k] % 10);
		d[k][SG_SEG_NAME_DIGITS] = '\0';
	}
	memcpy(out, d[0], SG_SEG_NAME_DIGITS);
	out[SG_SEG_NAME_DIGITS] = '-';
	memcpy(out + SG_SEG_NAME_DIGITS + 1, d[1], SG_SEG_NAME_DIGITS);
	memcpy(out + 2 * SG_SEG_NAME_DIGITS + 1, ".dropped", 9);
}

bool sg_tomb_parse(const char *name, uint64_t *first, uint64_t *last)
{
	if (strlen(name) != SG_TOMB_NAME_LEN || name[SG_SEG_NAME_DIGITS] != '-' ||
	    strcmp(name + 2 * SG_SEG_NAME_DIGITS + 1, ".dropped") != 0)
		return false;
	return digits(name, SG_SEG_NAME_DIGITS, first) &&
	       digits(name + SG_SEG_NAME_DIGITS + 1, SG_SEG_NAME_DIGITS, last) && *first <= *last;
}

enum { ACK_ACKED = 8, ACK_HW = 16, ACK_BOOT = 24, ACK2_CRC = 40 };

void sg_ack_encode(uint8_t out[SG_ACK_SLOT_LEN], const struct sg_ack *a)
{
	memcpy(out, SG_ACK_MAGIC, ACK_ACKED);
	put32(out + ACK_ACKED, (uint32_t)a->acked);
	put32(out + ACK_ACKED + 4, (uint32_t)(a->acked >> 32));
	put32(out + ACK_HW, (uint32_t)a->seq_hw);
	put32(out + ACK_HW + 4, (uint32_t)(a->seq_hw >> 32));
	memcpy(out + ACK_BOOT, a->boot, SG_BOOT_ID_LEN);
	put32(out + ACK2_CRC, sg_crc_mask(sg_crc32c(out, ACK2_CRC)));
}

static bool ack_slot(const uint8_t *b, struct sg_ack *a)
{
	if (memcmp(b, SG_ACK_MAGIC, ACK_ACKED) != 0 ||
	    sg_get_u32(b + ACK2_CRC) != sg_crc_mask(sg_crc32c(b, ACK2_CRC)))
		return false;
	a->acked = sg_get_u64(b + ACK_ACKED);
	a->seq_hw = sg_get_u64(b + ACK_HW);
	memcpy(a->boot, b + ACK_BOOT, SG_BOOT_ID_LEN);
	return true;
}

/* The previous release's cursor: magic "SGACK1" | seq | CRC. */
static bool ack_v1(const uint8_t *b, struct sg_ack *a)
{
	if (memcmp(b, SG_ACK_MAGIC_V1, ACK_SEQ) != 0 ||
	    sg_get_u32(b + ACK_CRC) != sg_crc_mask(sg_crc32c(b, ACK_CRC)))
		return false;
	memset(a, 0, sizeof(*a));
	a->acked = sg_get_u64(b + ACK_SEQ);
	return true;
}

int sg_ack_slots(const void *p, size_t n, struct sg_ack s[2], bool valid[2])
{
	const uint8_t *b = p;

	memset(s, 0, 2 * sizeof(*s));
	valid[0] = valid[1] = false;
	if (n == SG_ACK_FILE_V1_LEN) {
		valid[0] = ack_v1(b, &s[0]);
		return 1;
	}
	if (n != SG_ACK_FILE_LEN)
		return 0;
	for (int i = 0; i < 2; i++)
		valid[i] = ack_slot(b + i * SG_ACK_SLOT_LEN, &s[i]);
	return 2;
}

int sg_ack_decode(const void *p, size_t n, struct sg_ack *a)
{
	struct sg_ack s[2];
	bool v[2];
	int k;

	if (!sg_ack_slots(p, n, s, v) || (!v[0] && !v[1]))
		return -1;
	k = !v[1] || (v[0] && s[0].acked > s[1].acked) ? 0 : 1;
	*a = s[k];
	if (v[!k] && s[!k].seq_hw > a->seq_hw)
		a->seq_hw = s[!k].seq_hw;
	return 0;
}

void sg_epoch_encode(uint8_t out[SG_EPOCH_FILE_LEN], uint64_t epoch)
{
	memcpy(out, SG_EPOCH_MAGIC, ACK_SEQ);
	put32(out + ACK_SEQ, (uint32_t)epoch);
	put32(out + ACK_SEQ + 4, (uint32_t)(epoch >> 32));
	put32(out + ACK_CRC, sg_crc_mask(sg_crc32c(out, ACK_CRC)));
}

int sg_epoch_decode(const void *p, size_t n, uint64_t *epoch)
{
	const uint8_t *b = p;

	if (n != SG_EPOCH_FILE_LEN || memcmp(b, SG_EPOCH_MAGIC, ACK_SEQ) != 0 ||
	    sg_get_u32(b + ACK_CRC) != sg_crc_mask(sg_crc32c(b, ACK_CRC)))
		return -1;
	*epoch = sg_get_u64(b + ACK_SEQ);
	return 0;
}

static uint32_t frame_crc(const uint8_t *h, const void *p, uint32_t len)
{
	uint32_t crc = sg_crc32c(h + FR_LEN, FR_CRC - FR_LEN); /* length and seq */
	return sg_crc_mask(sg_crc32c_extend(crc, p, len));
}

void sg_frame_header(uint8_t *h, uint64_t seq, const void *p, uint32_t len, bool more)
{
	put32(h, SG_FRAME_MAGIC);
	put32(h + FR_LEN, len | (more ? SG_FRAME_MORE : 0));
	put32(h + FR_SEQ, (uint32_t)seq);
	put32(h + FR_SEQ + 4, (uint32_t)(seq >> 32));
	put32(h + FR_CRC, frame_crc(h, p, len));
}

uint32_t sg_frame_claimed_len(const uint8_t h[SG_SPOOL_FRAME_HDR])
{
	return sg_get_u32(h + FR_LEN) & ~SG_FRAME_MORE;
}

bool sg_frame_more(const uint8_t h[SG_SPOOL_FRAME_HDR])
{
	return (sg_get_u32(h + FR_LEN) & SG_FRAME_MORE) != 0;
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
	l = sg_get_u32(p + FR_LEN) & ~SG_FRAME_MORE; /* the CRC covers the bit */
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

/* Take the frames from off up to end (all valid, in seq order) as
 * scanned: counted and passed to fn. */
static void scan_take(const uint8_t *p, size_t off, size_t end, uint32_t maxlen, sg_frame_fn fn,
		      void *arg, struct sg_seg_scan *out)
{
	while (off < end) {
		uint64_t seq = 0;
		uint32_t len = 0;

		sg_frame_check(p + off, end - off, maxlen, &seq, &len);
		if (!out->records)
			out->first_seq = seq;
		out->last_seq = seq;
		out->records++;
		if (fn)
			fn(arg, seq, p + off + SG_SPOOL_FRAME_HDR, len, off);
		off += SG_SPOOL_FRAME_HDR + (size_t)len;
	}
	out->valid_end = end;
}

void sg_seg_scan(const uint8_t *p, size_t size, uint32_t maxlen, uint64_t name_seq, sg_frame_fn fn,
		 void *arg, struct sg_seg_scan *out)
{
	size_t off = SG_SPOOL_SEG_HDR, batch = 0; /* batch: where an open batch began */
	uint64_t prev = 0, open = 0;              /* open: its frames so far */
	int hdr;

	memset(out, 0, sizeof(*out));
	hdr = size < SG_SPOOL_SEG_HDR ? SG_SEG_HDR_DAMAGED : sg_seg_header_check(p);
	if (hdr == SG_SEG_HDR_VERSION) {
		out->unknown_version = true;
		return;
	}
	out->bad_header = hdr != SG_SEG_HDR_OK;
	if (size < SG_SPOOL_SEG_HDR)
		return;
	if (!out->bad_header)
		out->version = sg_get_u32(p + SEG_VERSION);
	out->valid_end = SG_SPOOL_SEG_HDR;
	while (off < size) {
		uint64_t seq;
		uint32_t len;
		int r = sg_frame_check(p + off, size - off, maxlen, &seq, &len);

		if (r == 1 && seq > prev) {
			size_t end = off + SG_SPOOL_FRAME_HDR + (size_t)len;

			/* A batch's frames are taken when its last one is
			 * there: what a torn append left of one is cut. */
			if (!open)
				batch = off;
			open++;
			if (!sg_frame_more(p + off)) {
				scan_take(p, batch, end, maxlen, fn, arg, out);
				open = 0;
			}
			prev = seq;
			off = end;
			continue;
		}
		/* Invalid here: a corrupt region if a valid frame follows. */
		size_t next = sg_frame_resync(p, size, off + 1, maxlen, prev);
		if (next >= size)
			break; /* torn tail */
		uint64_t nseq;
		uint32_t nlen;
		sg_frame_check(p + next, size - next, maxlen, &nseq, &nlen);
		/* Damage inside a batch, not a torn append (appends go on
		 * after it): its intact frames are kept, as any. */
		if (open)
			scan_take(p, batch, off, maxlen, fn, arg, out);
		open = 0;
		out->corrupt_regions++;
		if (prev && nseq > prev + 1) {
			out->corrupt_lost += nseq - prev - 1;
		} else if (!prev) {
			out->lead_corrupt = true;
			/* The name says where it began; without it, at least one. */
			out->corrupt_lost += name_seq && nseq > name_seq ? nseq - name_seq : 1;
		}
		off = next;
	}
	out->torn_records = open;
	out->torn_bytes = size - out->valid_end;
}
