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

/* Segment header: magic[8] | version u32 | masked CRC32C u32 of both. */
#define SG_SPOOL_SEG_HDR 16
#define SG_SEG_MAGIC     "SGSEG\0\0\0"
#define SG_SEG_VERSION   1u
/* Frame: magic u32 | length u32 | seq u64 | masked CRC32C u32 over length,
 * seq and payload | payload. */
#define SG_SPOOL_FRAME_HDR 20
#define SG_FRAME_MAGIC     0x31524753u /* "SGR1" little endian */
/* Segment file name: the first seq in 20 decimal digits, then ".seg". */
#define SG_SEG_NAME_DIGITS 20
#define SG_SEG_NAME_LEN    (SG_SEG_NAME_DIGITS + 4)
/* Ack cursor file: magic[8] | seq u64 | masked CRC32C u32 of both. */
#define SG_ACK_MAGIC    "SGACK1\0\0"
#define SG_ACK_FILE_LEN 20

/* Write the segment header into h. */
void sg_seg_header(uint8_t h[SG_SPOOL_SEG_HDR]);
/* 0 if h is a valid header of a version we read, -1 otherwise. */
int sg_seg_header_check(const uint8_t h[SG_SPOOL_SEG_HDR]);
/* True if name is a segment file name (the seq is not range-checked). */
bool sg_seg_name_ok(const char *name);

/* The ack cursor file's bytes for seq. */
void sg_ack_encode(uint8_t out[SG_ACK_FILE_LEN], uint64_t seq);
/* 0 with *seq set if p[0..n) is a valid cursor file, -1 otherwise. */
int sg_ack_decode(const void *p, size_t n, uint64_t *seq);

/* The payload length a frame header claims (not validated). */
uint32_t sg_frame_claimed_len(const uint8_t h[SG_SPOOL_FRAME_HDR]);
/* Fill the frame header at h for payload p[0..len). */
void sg_frame_header(uint8_t *h, uint64_t seq, const void *p, uint32_t len);
/*
 * Validate the frame at p (avail bytes readable).  Returns 1 with *seq,
 * *len set if a whole valid frame is there, 0 if it is invalid (bad
 * magic, length over maxlen, bad CRC), -1 if it is cut short by avail.
 */
int sg_frame_check(const uint8_t *p, size_t avail, uint32_t maxlen, uint64_t *seq, uint32_t *len);

struct sg_seg_scan {
	bool bad_header;
	uint64_t first_seq, last_seq, records;
	size_t valid_end;         /* offset after the last valid frame */
	uint64_t corrupt_regions; /* skipped stretches mid-segment */
	uint64_t corrupt_lost;    /* seqs missing around those stretches */
	size_t torn_bytes;        /* bytes after valid_end (torn tail) */
};

typedef void (*sg_frame_fn)(void *arg, uint64_t seq, const uint8_t *payload, uint32_t len,
			    size_t off);

/*
 * Scan a whole segment image.  Frames must have increasing seqs; invalid
 * bytes followed by a valid frame are a corrupt region (skipped and
 * counted); invalid bytes with no valid frame after them are a torn tail.
 * Calls fn (if non-NULL) for every valid frame.
 */
void sg_seg_scan(const uint8_t *p, size_t size, uint32_t maxlen, sg_frame_fn fn, void *arg,
		 struct sg_seg_scan *out);
/* Offset of the next valid frame at or after off with seq > after_seq,
 * or size if none. */
size_t sg_frame_resync(const uint8_t *p, size_t size, size_t off, uint32_t maxlen,
		       uint64_t after_seq);

#endif
