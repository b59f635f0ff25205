/*
 * hold.h - records of the topics Kafka refuses for now, kept on disk so
 * the other topics keep flowing and nothing is lost.
 *
 * A topic an ACL denies (TOPIC_AUTHORIZATION_FAILED) is not a bad record:
 * the fix is on the broker, and the records must reach Kafka once it is
 * made.  But the spool has one cursor, and it cannot pass a record that
 * was not delivered.  So the producer moves such records out of the way:
 * from the moment a topic is refused, every record of it that the spool
 * gives is appended to the topic's hold file, `<spool>/held/<topic>.held`
 * (the spool's own frame format: seq, length, CRC32C, the spool record as
 * it was), made durable (sg_hold_sync) before the spool's cursor passes
 * it.  Records reach the file in seq order (the producer rewinds first, so
 * the records of the topic in flight at the refusal come back and are
 * read again in order), which keeps the order per sensor.
 *
 * A held topic is tried again after a backoff (1 s doubling to 30 s): its
 * first record is produced once more (a probe).  When Kafka takes it, the
 * topic drains: its records in file order, at most SG_HOLD_WINDOW in
 * flight, while new records of the topic keep going to the file behind
 * them; when the last one is delivered the file is deleted and the topic
 * flows directly again.  A failure during the drain stops it, waits for
 * the reports in flight and resumes later from the first record not
 * delivered.  One topic drains at a time.
 *
 * After a crash the files are read again at open (a torn tail is cut):
 * their topics start held and drain when Kafka takes them.  Records of a
 * drain delivered before the crash are sent again (at-least-once; the
 * event id tells them apart), and a record the spool gives again after a
 * crash that is already in the file is not appended twice (seqs only
 * grow in a file).  The files together are bounded (max_bytes): past it
 * sg_hold_put() says so, and the producer keeps the record in the spool
 * and waits, so a refusal that lasts long enough ends in the spool's own
 * when_full policy.  Files are 0600 in a 0700 directory.
 *
 * Not thread-safe: the producer thread owns it.  The counts for the
 * metrics and probes are atomics any thread may read (sg_hold_counts).
 */
#ifndef SG_KAFKA_HOLD_H
#define SG_KAFKA_HOLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/base/buf.h"
#include "gateway/base/err.h"

#define SG_HOLD_MAX_TOPICS 64
#define SG_HOLD_WINDOW     512   /* records of a drain in flight at most */
#define SG_HOLD_RETRY_MS   1000  /* first retry of a refused topic */
#define SG_HOLD_BACKOFF_MS 30000 /* longest wait between retries */

struct sg_hold;

struct sg_hold_conf {
	const char *dir;     /* the hold directory, <spool>/held; made 0700 */
	uint64_t max_bytes;  /* all hold files together */
	uint32_t max_record; /* largest record (spool.max_record_bytes) */
};

/* Open (create) the directory and read the files there: their topics are
 * held, a retry due at once.  SG_OK, or SG_EIO with eb set. */
int sg_hold_open(const struct sg_hold_conf *hc, struct sg_hold **out, struct sg_errbuf *eb);
/* Close the files (their records stay for the next start). */
void sg_hold_close(struct sg_hold *h);

/* Is topic[0..len) held (its records must go to sg_hold_put)? */
bool sg_hold_is_held(const struct sg_hold *h, const char *topic, size_t len);
/*
 * Kafka refused topic[0..len) with err (a librdkafka error code): hold it
 * (logged once, with the reason).  Refused again while probing or
 * draining: back off.  SG_OK; SG_ENOSPC when SG_HOLD_MAX_TOPICS topics are
 * held already; SG_EIO (the file cannot be made); SG_EINVAL for a name
 * that cannot be a topic's.
 */
int sg_hold_refuse(struct sg_hold *h, const char *topic, size_t len, int err, int64_t now_ns);
/* Append spool record rec[0..len) of seq to the held topic's file.
 * SG_OK (also when seq is in the file already); SG_ENOSPC (max_bytes
 * reached: keep it in the spool); SG_EIO; SG_ENOTFOUND (not held). */
int sg_hold_put(struct sg_hold *h, const char *topic, size_t tlen, uint64_t seq, const void *rec,
		size_t len);
/* fdatasync every file appended to since the last call.  SG_OK or SG_EIO
 * (then the caller must not move the spool's cursor over held records). */
int sg_hold_sync(struct sg_hold *h);

/*
 * The next held record to send: a probe of a topic whose retry is due, or
 * the next of a draining topic, if the window has room.  True with *seq,
 * the record in rec and *token (nonzero, < 2^16) set; the caller produces
 * it and reports with sg_hold_result(), also when produce() fails.
 */
bool sg_hold_next(struct sg_hold *h, int64_t now_ns, uint64_t *seq, struct sg_buf *rec,
		  uint32_t *token);

enum sg_hold_outcome {
	SG_HOLD_DELIVERED, /* Kafka has it */
	SG_HOLD_DONE,      /* finished without delivery (refused for good: rejected.log) */
	SG_HOLD_FAILED,    /* not delivered; err says why (a refusal holds the topic again) */
};
/* The report for token. */
void sg_hold_result(struct sg_hold *h, uint32_t token, enum sg_hold_outcome what, int err,
		    int64_t now_ns);

/* Topics held and records in their files; first names the first held
 * topic and its last refusal ("" if none).  Any thread. */
void sg_hold_counts(const struct sg_hold *h, unsigned *topics, uint64_t *records, char *first,
		    size_t n);

#endif
