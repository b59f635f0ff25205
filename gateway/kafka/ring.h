/*
 * ring.h - the at-least-once bookkeeping: which spool records are in
 * flight, which are finished, how far the spool's ack cursor may move,
 * and what to skip when the stream is sent again.  Pure logic: it knows
 * neither librdkafka nor the spool, so the unit tests drive it with
 * delivery reports in any order (tests/unit/test_ring.c).
 *
 * The ring holds, in seq order, every record read from the spool after
 * the released seq.  A slot is SENT (produced, report pending), DONE
 * (delivered as PERSISTED, refused for good, finished without producing,
 * or skipped as delivered before a rewind) or RETRY (a report that
 * failed, or the producer died).  sg_ring_release() frees the contiguous
 * DONE prefix and returns its last seq: the only seq the caller may ack,
 * so the cursor never passes a record that is not finished (invariant 2
 * of docs/design.md).
 *
 * A RETRY stops the sending (sg_ring_rewinding()); once every report is
 * in (sg_ring_rewind_ready()), sg_ring_rewind() empties the ring and
 * returns the released seq, after which the caller re-reads the spool.
 * The records that were DONE then, and those of an earlier skip list not
 * reached yet, form the new skip list: sg_ring_skip() answers for each
 * record read during the resend, so nothing delivered is sent twice.
 *
 * Sequence of calls for one record: sg_ring_full() must be false, then
 * sg_ring_skip() (true: finished, read the next), else produce it with
 * sg_ring_token() as the opaque and call sg_ring_sent() if librdkafka
 * took it, or sg_ring_finished() if it was refused for good.  Records
 * are pushed in increasing seq order.
 *
 * Not thread-safe: the producer thread owns it (delivery reports run on
 * that thread, inside rd_kafka_poll()).
 */
#ifndef SG_KAFKA_RING_H
#define SG_KAFKA_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum sg_ring_state { SG_RING_FREE, SG_RING_SENT, SG_RING_DONE, SG_RING_RETRY };

/* What a delivery report said. */
enum sg_ring_outcome {
	SG_RING_PERSISTED, /* delivered: the record may be released */
	SG_RING_FAILED,    /* not persisted (timeout, purge, transport): send again */
	SG_RING_REJECTED,  /* refused for good (the caller keeps it in rejected.log) */
};

struct sg_ring_slot {
	uint64_t seq;
	int64_t ts_ns; /* event time, for delivery latency and age */
	enum sg_ring_state state;
};

struct sg_ring {
	struct sg_ring_slot *slot;
	size_t cap, head, count; /* count slots in use from head */
	size_t nsent;            /* slots in state SENT */
	uint64_t released;       /* every seq <= released is finished */
	uint64_t last_pushed;    /* highest seq pushed since the last rewind */
	bool rewinding;          /* a RETRY is in the ring */
	uint64_t *skip;          /* sorted seqs delivered before the last rewind */
	size_t nskip, skip_pos;
};

/* cap >= 1 slots; released is where the spool's cursor stands. */
void sg_ring_init(struct sg_ring *r, size_t cap, uint64_t released);
void sg_ring_fini(struct sg_ring *r);

static inline bool sg_ring_full(const struct sg_ring *r)
{
	return r->count == r->cap;
}
static inline size_t sg_ring_count(const struct sg_ring *r)
{
	return r->count;
}
static inline bool sg_ring_rewinding(const struct sg_ring *r)
{
	return r->rewinding;
}
/* A skip list is being used (a resend after a rewind). */
static inline bool sg_ring_skipping(const struct sg_ring *r)
{
	return r->skip_pos < r->nskip;
}
/* True when a rewind is due and no report is outstanding. */
static inline bool sg_ring_rewind_ready(const struct sg_ring *r)
{
	return r->rewinding && r->nsent == 0;
}

/* The opaque to produce the next record with (never 0). */
uintptr_t sg_ring_token(const struct sg_ring *r);
/* The next record was produced (state SENT). */
void sg_ring_sent(struct sg_ring *r, uint64_t seq, int64_t ts_ns);
/* The next record is finished without a report (refused locally,
 * undecodable): DONE at once, released in order. */
void sg_ring_finished(struct sg_ring *r, uint64_t seq, int64_t ts_ns);
/* Delivered before the last rewind?  If so it is pushed as DONE and the
 * caller must not send it. */
bool sg_ring_skip(struct sg_ring *r, uint64_t seq, int64_t ts_ns);

/* A delivery report for token.  Returns the slot it finished (seq, ts)
 * or NULL if the token is not a SENT slot (a stale report: ignored). */
const struct sg_ring_slot *sg_ring_report(struct sg_ring *r, uintptr_t token,
					  enum sg_ring_outcome what);
/* The producer died: every SENT slot becomes RETRY (no report will
 * come), and a rewind is due even if nothing was in flight. */
void sg_ring_fail_all(struct sg_ring *r);

/* Free the DONE prefix.  Returns the new released seq if it moved, else 0. */
uint64_t sg_ring_release(struct sg_ring *r);
/* Event time of the oldest unreleased slot, or 0 if the ring is empty. */
int64_t sg_ring_oldest_ts(const struct sg_ring *r);

/* Only when sg_ring_rewind_ready(): release the DONE prefix, empty the
 * ring, build the skip list.  Returns the released seq: the caller acks
 * it and re-reads the spool after it.  *nskip (may be NULL) is the
 * number of records that will be skipped. */
uint64_t sg_ring_rewind(struct sg_ring *r, size_t *nskip);

#endif
