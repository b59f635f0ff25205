/*
 * frame.h - the on-disk formats of the spool, shared by the live spool,
 * recovery and the offline `sensorgate spool` tools: the segment header,
 * the frame, the segment file name and the ack cursor file.  Pure byte
 * functions; any thread.
 */
#ifndef SG_SPOOL_FRAME_H
#define SG_SPOOL_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Segment header: magic[8] | version u32 | masked CRC32C u32 of both.
 * Version 2 adds SG_FRAME_MORE; a version 1 segment (which never has it)
 * reads the same, and batches appended to one go without it, so the
 * release before, which moves version 2 segments aside unread, can
 * still read it. */
#define SG_SPOOL_SEG_HDR   16
#define SG_SEG_MAGIC       "SGSEG\0\0\0"
#define SG_SEG_VERSION     2u
#define SG_SEG_VERSION_MIN 1u
/* Frame: magic u32 | length u32 | seq u64 | masked CRC32C u32 over length,
 * seq and payload | payload.  The length's top bit (SG_FRAME_MORE, version
 * 2) says that the next frame belongs to the same batch (one append of
 * several events, sg_spool_append_batch); the batch's last frame has it
 * clear.  A batch whose last frame is missing at the end of a segment is
 * a torn append: recovery cuts all of it, so a batch is stored whole or
 * not at all. */
#define SG_SPOOL_FRAME_HDR 20
#define SG_FRAME_MAGIC     0x31524753u /* "SGR1" little endian */
#define SG_FRAME_MORE      0x80000000u
/* Segment file name: the first seq in 20 decimal digits, then ".seg". */
#define SG_SEG_NAME_DIGITS 20
#define SG_SEG_NAME_LEN    (SG_SEG_NAME_DIGITS + 4)
/*
 * Ack cursor file "ack": two slots, overwritten in place by turns (so
 * saving the cursor needs no new disk block and a full disk cannot stop
 * it; a slot torn by a power cut leaves the other).  A slot:
 *   magic[8] "SGACK2" | acked u64 | seq_hw u64 | boot id[16] |
 *   masked CRC32C u32 of the rest
 * acked: every seq <= it is delivered.  seq_hw: no seq >= it was issued
 * while the boot id was the one in the slot; after another boot (a power
 * cut may have taken appends not yet synced, whose records may already
 * be in Kafka) seqs start at seq_hw, so none is issued twice.  The
 * previous release's file (one slot: magic "SGACK1" | seq | CRC, 20
 * bytes) is still read.
 */
#define SG_ACK_MAGIC       "SGACK2\0\0"
#define SG_ACK_MAGIC_V1    "SGACK1\0\0"
#define SG_ACK_FILE_V1_LEN 20
#define SG_ACK_SLOT_LEN    44
#define SG_ACK_FILE_LEN    (2 * SG_ACK_SLOT_LEN)
#define SG_BOOT_ID_LEN     16

struct sg_ack {
	uint64_t acked;
	uint64_t seq_hw; /* 0: unknown (the previous release's file) */
	uint8_t boot[SG_BOOT_ID_LEN];
};

/* Spool epoch file "epoch": magic[8] | epoch u64 | masked CRC32C u32. */
#define SG_EPOCH_MAGIC    "SGEPOCH1"
#define SG_EPOCH_FILE_LEN 20
#define SG_EPOCH_HEX      16 /* the epoch as text: 16 lower-case hex digits */
/* Tombstone of a segment dropped by `when_full: drop_oldest` while older
 * records were in flight: an empty file "<first>-<last>.dropped" (both
 * 20 digits) that tells recovery the seq gap is a counted drop. */
#define SG_TOMB_NAME_LEN (2 * SG_SEG_NAME_DIGITS + 9)

/* Write the segment header into h. */
void sg_seg_header(uint8_t h[SG_SPOOL_SEG_HDR]);
/* What sg_seg_header_check() found. */
enum { SG_SEG_HDR_OK = 0, SG_SEG_HDR_DAMAGED = -1, SG_SEG_HDR_VERSION = -2 };
/* SG_SEG_HDR_OK for a valid header of a version we read; DAMAGED when
 * magic or CRC are wrong (the frames may still be intact); VERSION for a
 * well-formed header of a version we do not know. */
int sg_seg_header_check(const uint8_t h[SG_SPOOL_SEG_HDR]);
/* True if name is a segment file name (the seq is not range-checked). */
bool sg_seg_name_ok(const char *name);
/* Tombstone names: out holds SG_TOMB_NAME_LEN + 1 bytes.  parse returns
 * true with first <= last set for a well-formed name. */
void sg_tomb_name(uint64_t first, uint64_t last, char *out);
bool sg_tomb_parse(const char *name, uint64_t *first, uint64_t *last);

/* One cursor slot's bytes. */
void sg_ack_encode(uint8_t out[SG_ACK_SLOT_LEN], const struct sg_ack *a);
/* 0 with *a set if p[0..n) is a valid cursor file (of two slots at least
 * one valid: the one with the higher acked, and the higher seq_hw of
 * both; or the previous release's single slot), -1 otherwise. */
int sg_ack_decode(const void *p, size_t n, struct sg_ack *a);
/* The slots one by one (verify): returns the number of slots in the
 * file (2, 1 for the previous release's, 0 if neither), valid[i] and
 * s[i] set. */
int sg_ack_slots(const void *p, size_t n, struct sg_ack s[2], bool valid[2]);

/* The epoch file's bytes, and back (0, or -1 if not a valid file). */
void sg_epoch_encode(uint8_t out[SG_EPOCH_FILE_LEN], uint64_t epoch);
int sg_epoch_decode(const void *p, size_t n, uint64_t *epoch);

/* The payload length a frame header claims (not validated). */
uint32_t sg_frame_claimed_len(const uint8_t h[SG_SPOOL_FRAME_HDR]);
/* Does the frame header say the next frame is of the same batch? */
bool sg_frame_more(const uint8_t h[SG_SPOOL_FRAME_HDR]);
/* Fill the frame header at h for payload p[0..len) (len below
 * SG_FRAME_MORE); more: another frame of its batch follows. */
void sg_frame_header(uint8_t *h, uint64_t seq, const void *p, uint32_t len, bool more);
/*
 * Validate the frame at p (avail bytes readable).  Returns 1 with *seq,
 * *len set if a whole valid frame is there, 0 if it is invalid (bad
 * magic, length over maxlen, bad CRC), -1 if it is cut short by avail.
 */
int sg_frame_check(const uint8_t *p, size_t avail, uint32_t maxlen, uint64_t *seq, uint32_t *len);

struct sg_seg_scan {
	bool bad_header;      /* damaged header: frames scanned anyway */
	bool unknown_version; /* a header of another version: not scanned */
	uint32_t version;     /* the header's (0 if damaged) */
	uint64_t first_seq, last_seq, records;
	size_t valid_end;         /* offset after the last valid frame */
	uint64_t corrupt_regions; /* skipped stretches mid-segment */
	uint64_t corrupt_lost;    /* seqs missing around those stretches */
	bool lead_corrupt;        /* a corrupt stretch before the first valid frame */
	size_t torn_bytes;        /* bytes after valid_end (torn tail) */
	uint64_t torn_records;    /* whole frames in it: of a batch cut short */
};

typedef void (*sg_frame_fn)(void *arg, uint64_t seq, const uint8_t *payload, uint32_t len,
			    size_t off);

/*
 * Scan a whole segment image.  Frames must have increasing seqs; invalid
 * bytes followed by a valid frame are a corrupt region (skipped and
 * counted); invalid bytes with no valid frame after them are a torn tail.
 * A damaged header does not stop the scan (every frame has its own magic
 * and CRC); a header of an unknown version does (unknown_version).
 * Calls fn (if non-NULL) for every valid frame.
 */
/* name_seq: the first seq the segment's name promises (0: unknown); a
 * corrupt stretch at the start then counts exactly the seqs it hid. */
void sg_seg_scan(const uint8_t *p, size_t size, uint32_t maxlen, uint64_t name_seq, sg_frame_fn fn,
		 void *arg, struct sg_seg_scan *out);
/* Offset of the next valid frame at or after off with seq > after_seq,
 * or size if none. */
size_t sg_frame_resync(const uint8_t *p, size_t size, size_t off, uint32_t maxlen,
		       uint64_t after_seq);

#endif
