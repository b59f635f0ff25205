/*
 * spool.h - the durable, append-only disk spool between the drivers and
 * the producer.
 *
 * Layout of the directory:
 *   NNNNNNNNNNNNNNNNNNNN.seg   segments, named by their first seq
 *   ack                        the delivery cursor (two slots, in place)
 *   epoch                      the spool's epoch, made with the spool
 *   F-L.dropped                empty: seqs F..L dropped by drop_oldest
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
 * The reader sees a record as soon as its append returned, in every
 * fsync mode (no group-commit burst: latency and the duplicates of a
 * kill -9 stay small).  A power cut may then take records from the spool
 * that Kafka already holds; their seqs are never issued again, because
 * seqs are reserved ahead durably (the cursor's seq_hw, frame.h) and a
 * start after another boot begins above the reservation.  Should the
 * reservation not be durable (the cursor cannot be written), records
 * become visible after their fsync, as a fallback.
 *
 * A full filesystem is a full spool.  The active segment is preallocated
 * (fallocate) when it is made, so an append into it never meets ENOSPC;
 * when the next segment cannot be made, `when_full` applies as at
 * max_bytes.  The cursor is overwritten in place (no new block), and
 * deleting delivered segments never waits for a write to succeed.
 * Where preallocation is not supported, free space is checked before
 * each append instead (a reserve of SG_SPOOL_RESERVE bytes).
 *
 * drop_oldest drops the oldest segment none of whose records the
 * producer has read, so a record handed to Kafka is never counted as
 * dropped (it may well arrive) and never exists only in memory; a gap it
 * leaves is marked by a tombstone.  If every older record is in flight,
 * the new event is dropped instead (and counted).
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
	uint64_t durable_seq; /* highest seq known to be on disk (fsynced) */
	uint64_t bytes;       /* bytes of all segments */
	uint64_t segments;
	uint64_t pending; /* records appended and not yet acked */
	uint64_t dropped; /* records dropped by when_full in this run */
	bool disk_full;   /* the filesystem is full (policy applies) */
	/* From recovery at open: */
	uint64_t recovered_records, truncated_bytes, corrupt_regions, corrupt_lost_records,
	    segments_moved_aside;
	uint64_t gap_records;        /* seqs missing between segments, not dropped by policy */
	uint64_t misordered;         /* segments whose name disagreed with their records */
	uint64_t headers_repaired;   /* damaged segment headers rewritten (frames intact) */
	uint64_t torn_batch_records; /* whole events of unfinished batches cut with torn tails */
};

/* Free space kept where the filesystem cannot preallocate. */
#define SG_SPOOL_RESERVE (256 * 1024)

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
 * there since sg_spool_read() last returned SG_EAGAIN (which drains it).
 * Only the first record after that writes it: appends to a reader that
 * is busy, or gathering (kafka.batch_wait), cost no system call. */
int sg_spool_read_fd(const struct sg_spool *sp);

/* Every seq <= seq is delivered.  Monotonic; saved by the flusher. */
void sg_spool_ack(struct sg_spool *sp, uint64_t seq);
/* Save the cursor and delete delivered segments now (shutdown, tests);
 * the flusher does it after an ack, at most once per ack_interval, and
 * not at all while nothing changed.  Any thread, one at a time
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

/* The spool's epoch: 16 hex digits, made with the spool directory and
 * kept with it, so `<gateway>:<seq>` plus the epoch stays unique when the
 * spool is lost and seqs start again at 1.  Valid until close. */
const char *sg_spool_epoch(const struct sg_spool *sp);

/*
 * The I/O seam: every call by which the spool changes its directory
 * (reads are plain).  The defaults are the system calls; tests replace
 * members to inject errors (ENOSPC, EIO, short writes) or to record what
 * was written since the last sync, for the power-loss simulation
 * (tests/unit/test_spool_powercut.c).  Same contracts as the system calls
 * (-1 and errno).
 * fallocate is fallocate(2): the spool reserves with FALLOC_FL_KEEP_SIZE
 * and gives back with FALLOC_FL_PUNCH_HOLE; fsync_dir syncs a directory
 * by path.  Set them
 * before sg_spool_open() and restore them after sg_spool_close().
 */
struct sg_spool_io {
	ssize_t (*writev)(int fd, const struct iovec *iov, int iovcnt);
	int (*fdatasync)(int fd);
	int (*open)(const char *path, int flags, mode_t mode);
	int (*close)(int fd);
	ssize_t (*pwrite)(int fd, const void *p, size_t n, off_t off);
	int (*ftruncate)(int fd, off_t len);
	int (*fallocate)(int fd, int mode, off_t off, off_t len);
	int (*fsync_dir)(const char *dir);
	int (*rename)(const char *from, const char *to);
	int (*unlink)(const char *path);
	int (*mkdir)(const char *path, mode_t mode);
	/* Free bytes for an unprivileged writer on the filesystem of fd. */
	int (*free_bytes)(int fd, uint64_t *out);
	/* This boot's id (Linux: /proc/sys/kernel/random/boot_id); the
	 * power-loss simulation gives each simulated boot its own. */
	int (*boot_id)(uint8_t out[16]);
};
extern struct sg_spool_io sg_spool_io;
/* The system calls (what sg_spool_io starts as). */
extern const struct sg_spool_io sg_spool_io_default;

#endif
