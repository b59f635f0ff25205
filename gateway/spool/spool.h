/*
 * spool.h - the durable, append-only disk spool between the drivers and
 * the producer.
 *
 * Layout of the directory:
 *   NNNNNNNNNNNNNNNNNNNN.seg   segments, named by their first seq
 *   ack                        the delivery cursor (atomically replaced)
 *   corrupt/                   segments moved aside by recovery
 *   rejected.log               records Kafka refused for good (dead letters)
 *
 * A segment starts with a header (magic "SGSEG", version, CRC) and holds
 * frames: magic u32 | length u32 | seq u64 | masked CRC32C u32 over
 * length, seq and payload | payload.  All little endian; sizes and layout
 * in frame.h.  A frame is written with one writev(2), so a process crash
 * leaves either the whole frame in the page cache or none of it; a power
 * cut may tear the tail, which recovery truncates.
 *
 * The payload is opaque here (gateway/core/event.h defines it).  It does
 * not contain its seq: the append assigns the seq under the lock and puts
 * it in the frame header, so nothing is encoded while the lock is held.
 *
 * Threads: any number of appenders (drivers), one reader (the producer),
 * and the spool's own flusher thread (group commit, cursor saving,
 * deletion of delivered segments).  All calls are thread-safe.
 *
 * The reader only sees durable records: with fsync `always` or an
 * interval, a record becomes visible to the producer after its fsync, so
 * Kafka never holds an event that a power cut could remove from the spool
 * (which would let a seq be reused).
 */
#ifndef SG_SPOOL_H
#define SG_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "gateway/config/conf.h"
#include "gateway/base/err.h"
#include "gateway/base/buf.h"
#include "gateway/base/clock.h"
#include "gateway/base/mem.h"
#include "frame.h"

struct sg_spool;

struct sg_spool_stats {
	uint64_t next_seq;    /* the seq the next append gets */
	uint64_t acked_seq;   /* every seq <= this is delivered or dropped */
	uint64_t durable_seq; /* highest seq known to be on disk */
	uint64_t bytes;       /* bytes of all segments */
	uint64_t segments;
	uint64_t pending; /* records appended and not yet acked */
	/* From recovery at open: */
	uint64_t recovered_records, truncated_bytes, corrupt_regions, corrupt_lost_records,
	    segments_moved_aside;
};

/* Open (create) the spool directory and recover it.  Recovery findings
 * are logged and counted in the stats.  Starts the flusher thread. */
int sg_spool_open(const struct sg_spool_conf *c, struct sg_spool **out, struct sg_errbuf *eb);
/* Flush (fsync), save the cursor, stop the flusher and free. */
void sg_spool_close(struct sg_spool *sp);

/*
 * Append one record: payload[0..len), borrowed for the call and finished
 * before it (the caller encodes it outside the lock).  The seq is
 * assigned under the lock, after any wait for room, so seqs are strictly
 * increasing in file order whatever the number of appenders.  Returns
 * SG_OK (*seq set), SG_EDROPPED (drop_newest), SG_ESTOPPING (woken by
 * sg_spool_shutdown while blocked on a full spool), SG_EINVAL (record
 * larger than max_record_bytes), SG_EIO/SG_ENOSPC (nothing stored).
 * With fsync `always`, SG_OK means the record is on disk.  Any thread.
 */
int sg_spool_append(struct sg_spool *sp, const void *payload, size_t len, uint64_t *seq);

/*
 * A batch: records appended together.  The caller lays out the frames in
 * one buffer: for each record sg_spool_batch_open() reserves the frame
 * header (returning where it is), the caller appends the payload to the
 * same buffer, and sg_spool_batch_close() records the length.  Encoding
 * stays outside the lock.  Pure functions on b; any thread.
 */
size_t sg_spool_batch_open(struct sg_buf *b);
void sg_spool_batch_close(struct sg_buf *b, size_t at);

/*
 * Append the n records framed in frames[0..len) together: consecutive
 * seqs from *first_seq in buffer order, all frames in one write(2) on the
 * O_APPEND segment, so a crash leaves all of them or none (recovery cuts a
 * torn batch like a torn frame).  The seqs and CRCs are filled into frames
 * under the lock.  All or none under every full-spool policy: `block`
 * waits for room for the whole batch, `drop_oldest` drops old segments
 * until it fits, `drop_newest` drops all n (each counted).  Returns SG_OK
 * (*first_seq set), SG_EDROPPED, SG_ESTOPPING, SG_EINVAL (len over
 * max_record_bytes, headers included, or frames not n well-formed frames;
 * counted), SG_EIO / SG_ENOSPC (nothing stored).  Any thread.
 */
int sg_spool_append_batch(struct sg_spool *sp, void *frames, size_t len, size_t n,
			  uint64_t *first_seq);

/*
 * Reader: copy the next durable record after the read position into buf
 * and advance.  SG_OK with *seq set, or SG_EAGAIN if there is none yet.
 */
int sg_spool_read(struct sg_spool *sp, uint64_t *seq, struct sg_buf *buf);
/* Move the read position back to the first record after `after_seq`. */
void sg_spool_rewind(struct sg_spool *sp, uint64_t after_seq);
/* A file descriptor that polls readable when new durable records may be
 * there; sg_spool_read() drains it. */
int sg_spool_read_fd(const struct sg_spool *sp);

/* Every seq <= seq is delivered.  Monotonic; saved by the flusher. */
void sg_spool_ack(struct sg_spool *sp, uint64_t seq);
/* Save the cursor and delete delivered segments now (shutdown, tests);
 * the flusher does it every ack_interval.  Any thread, one at a time
 * inside.  SG_OK, or SG_EIO if the cursor cannot be saved. */
int sg_spool_checkpoint(struct sg_spool *sp);
/* fsync everything written so far now. */
int sg_spool_sync(struct sg_spool *sp);

/* Wake appenders blocked on a full spool with SG_ESTOPPING; from now on
 * an append that would have to wait for room returns SG_ESTOPPING at once.
 * Appends that fit still succeed, so drivers can flush in stop(). */
void sg_spool_shutdown(struct sg_spool *sp);

void sg_spool_stats(struct sg_spool *sp, struct sg_spool_stats *st);

/* Append a refused record to rejected.log with the reason. */
int sg_spool_reject(struct sg_spool *sp, uint64_t seq, const void *payload, size_t len,
		    const char *reason);

/* Fault injection seam (tests): replaces writev/fdatasync of segments. */
struct sg_spool_io {
	ssize_t (*writev)(int fd, const struct iovec *iov, int iovcnt);
	int (*fdatasync)(int fd);
};
extern struct sg_spool_io sg_spool_io;

#endif
