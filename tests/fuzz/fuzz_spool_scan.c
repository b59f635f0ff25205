/*
 * fuzz_spool_scan.c - fuzz target: the spool's pure byte functions on any
 * bytes (gateway/spool/frame.c, layout.c): the segment scanner, frame
 * check and resynchronisation, the cursor, epoch and tombstone decoders,
 * and the layout judgement over segment descriptions made of the input.
 *
 * Invariants (abort when broken): the scanner reports frames in strictly
 * increasing seq order, each a valid frame within the image where it says,
 * its records and valid end agree with the frames, valid_end + torn_bytes
 * is the size (a batch's whole frames cut with a torn tail are in it); resync lands on a valid
 * frame or at the end; a decoded cursor is one of its valid slots; a tombstone name prints back the
 * same; the layout keeps segments in order with no overlap among kept ones and counts gaps no
 * larger than the seqs between them.
 */
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "gateway/spool/frame.h"
#include "gateway/spool/layout.h"

#define MAXLEN 4096

struct seen {
	const uint8_t *img;
	size_t size;
	uint64_t prev, records;
	size_t last_end;
};

static void on_frame(void *arg, uint64_t seq, const uint8_t *p, uint32_t len, size_t off)
{
	struct seen *s = arg;
	uint64_t seq2;
	uint32_t len2;

	FZ_CHECK(seq > s->prev);
	FZ_CHECK(off >= SG_SPOOL_SEG_HDR && off + SG_SPOOL_FRAME_HDR + len <= s->size);
	FZ_CHECK(p == s->img + off + SG_SPOOL_FRAME_HDR);
	FZ_CHECK(sg_frame_check(s->img + off, s->size - off, MAXLEN, &seq2, &len2) == 1);
	FZ_CHECK(seq2 == seq && len2 == len);
	FZ_CHECK(off >= s->last_end);
	s->prev = seq;
	s->records++;
	s->last_end = off + SG_SPOOL_FRAME_HDR + len;
}

static void scan(const uint8_t *p, size_t n)
{
	struct seen s = {.img = p, .size = n};
	struct sg_seg_scan sc;

	sg_seg_scan(p, n, MAXLEN, n > 8 ? p[7] : 0, on_frame, &s, &sc);
	FZ_CHECK(sc.records == s.records);
	if (sc.unknown_version || n < SG_SPOOL_SEG_HDR) {
		FZ_CHECK(!sc.records);
		return;
	}
	FZ_CHECK(sc.valid_end <= n && sc.valid_end + sc.torn_bytes == n);
	FZ_CHECK(sc.torn_bytes >= sc.torn_records * SG_SPOOL_FRAME_HDR);
	FZ_CHECK(sc.valid_end == (s.records ? s.last_end : SG_SPOOL_SEG_HDR));
	FZ_CHECK(!sc.records || (sc.first_seq <= sc.last_seq && sc.last_seq == s.prev));
	for (size_t off = SG_SPOOL_SEG_HDR; off < n && off < 64; off += 7) {
		size_t r = sg_frame_resync(p, n, off, MAXLEN, 0);
		uint64_t seq;
		uint32_t len;
		FZ_CHECK(r >= off && r <= n);
		FZ_CHECK(r == n || sg_frame_check(p + r, n - r, MAXLEN, &seq, &len) == 1);
	}
}

static void small_formats(const uint8_t *p, size_t n)
{
	struct sg_ack a, slot[2];
	bool valid[2];
	uint64_t epoch, first, last;
	char name[SG_TOMB_NAME_LEN + 1], text[SG_TOMB_NAME_LEN + 1];

	if (sg_ack_decode(p, n, &a) == 0) {
		int k = sg_ack_slots(p, n, slot, valid);
		FZ_CHECK(k == 1 || k == 2);
		FZ_CHECK((valid[0] && slot[0].acked == a.acked) ||
			 (k == 2 && valid[1] && slot[1].acked == a.acked));
	}
	(void)sg_epoch_decode(p, n, &epoch);
	if (n >= SG_TOMB_NAME_LEN) {
		memcpy(text, p, SG_TOMB_NAME_LEN);
		text[SG_TOMB_NAME_LEN] = '\0';
		if (sg_tomb_parse(text, &first, &last)) {
			FZ_CHECK(first <= last);
			sg_tomb_name(first, last, name);
			FZ_CHECK(!strcmp(name, text));
		}
	}
}

/* Segment descriptions from the input, 8 bytes each: name, first, count
 * (small numbers, so they collide and overlap), flags. */
static void layout(const uint8_t *p, size_t n)
{
	struct sg_seg_info v[32];
	struct sg_seq_range t[4] = {{5, 9}, {40, 60}, {61, 61}, {100, 130}};
	struct sg_layout lay;
	size_t k = 0;
	uint64_t prev = 0, ack = n ? p[0] % 50 : 0;

	for (size_t i = 1; i + 8 <= n && k < 32; i += 8, k++) {
		memset(&v[k], 0, sizeof(v[k]));
		v[k].name = p[i] + 1;
		v[k].sc.records = p[i + 2] % 20;
		v[k].sc.first_seq = v[k].sc.records ? p[i + 1] + 1u : 0;
		v[k].sc.last_seq = v[k].sc.records ? v[k].sc.first_seq + p[i + 3] % 30 : 0;
		v[k].sc.lead_corrupt = p[i + 4] & 1;
		v[k].sc.unknown_version = (p[i + 4] & 6) == 6;
		v[k].tmp_name = p[i + 4] & 8;
		v[k].size = p[i + 5];
	}
	sg_layout_check(v, k, t, 4, ack, &lay);
	for (size_t i = 0; i < k; i++) {
		const struct sg_seg_info *s = &v[i];
		if (s->verdict != SG_SEG_KEEP && s->verdict != SG_SEG_RENAME)
			continue;
		FZ_CHECK(s->sc.first_seq > prev); /* kept ones in order, no overlap */
		FZ_CHECK(s->gap_before + s->dropped_before < s->sc.first_seq - prev);
		FZ_CHECK(s->verdict == SG_SEG_RENAME || s->name == s->sc.first_seq ||
			 (s->name > prev && s->name <= s->sc.first_seq));
		prev = s->sc.last_seq;
	}
	FZ_CHECK(lay.segments + lay.overlapping <= k);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	scan(data, size);
	small_formats(data, size);
	layout(data, size);
	return 0;
}
