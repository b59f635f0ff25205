/*
 * ring.c - the at-least-once in-flight ring (see ring.h).  A circular
 * array of slots in seq order plus a sorted skip list; the invariants
 * (seqs increase from head, nsent counts the SENT slots, the released seq
 * is below every slot) are asserted where they could break.
 */
#include "ring.h"

#include <assert.h>
#include <stdlib.h>

#include "gateway/base/mem.h"

void sg_ring_init(struct sg_ring *r, size_t cap, uint64_t released)
{
	assert(cap >= 1);
	*r = (struct sg_ring){.slot = sg_xcalloc(cap, sizeof(*r->slot)),
			      .cap = cap,
			      .released = released,
			      .last_pushed = released};
}

void sg_ring_fini(struct sg_ring *r)
{
	free(r->slot);
	free(r->skip);
	*r = (struct sg_ring){0};
}

static struct sg_ring_slot *ring_at(const struct sg_ring *r, size_t i)
{
	return &r->slot[(r->head + i) % r->cap];
}

uintptr_t sg_ring_token(const struct sg_ring *r)
{
	assert(r->count < r->cap);
	return (uintptr_t)((r->head + r->count) % r->cap) + 1;
}

static void ring_push(struct sg_ring *r, uint64_t seq, int64_t ts_ns, enum sg_ring_state st)
{
	assert(r->count < r->cap);
	assert(seq > r->last_pushed && seq > r->released);
	*ring_at(r, r->count) = (struct sg_ring_slot){.seq = seq, .ts_ns = ts_ns, .state = st};
	r->count++;
	r->last_pushed = seq;
	if (st == SG_RING_SENT)
		r->nsent++;
}

void sg_ring_sent(struct sg_ring *r, uint64_t seq, int64_t ts_ns)
{
	ring_push(r, seq, ts_ns, SG_RING_SENT);
}

void sg_ring_finished(struct sg_ring *r, uint64_t seq, int64_t ts_ns)
{
	ring_push(r, seq, ts_ns, SG_RING_DONE);
}

bool sg_ring_skip(struct sg_ring *r, uint64_t seq, int64_t ts_ns)
{
	while (r->skip_pos < r->nskip && r->skip[r->skip_pos] < seq)
		r->skip_pos++;
	if (r->skip_pos == r->nskip || r->skip[r->skip_pos] != seq)
		return false;
	r->skip_pos++;
	ring_push(r, seq, ts_ns, SG_RING_DONE);
	return true;
}

const struct sg_ring_slot *sg_ring_report(struct sg_ring *r, uintptr_t token,
					  enum sg_ring_outcome what)
{
	struct sg_ring_slot *s;

	if (token == 0 || token > r->cap)
		return NULL;
	s = &r->slot[token - 1];
	if (s->state != SG_RING_SENT)
		return NULL;
	assert(r->nsent > 0);
	r->nsent--;
	if (what == SG_RING_FAILED) {
		s->state = SG_RING_RETRY;
		r->rewinding = true;
	} else {
		s->state = SG_RING_DONE;
	}
	return s;
}

void sg_ring_fail_all(struct sg_ring *r)
{
	for (size_t i = 0; i < r->count; i++) {
		struct sg_ring_slot *s = ring_at(r, i);
		if (s->state == SG_RING_SENT)
			s->state = SG_RING_RETRY;
	}
	r->nsent = 0;
	r->rewinding = true; /* the new producer starts from the released seq */
}

uint64_t sg_ring_release(struct sg_ring *r)
{
	uint64_t last = 0;

	while (r->count && r->slot[r->head].state == SG_RING_DONE) {
		last = r->slot[r->head].seq;
		r->slot[r->head].state = SG_RING_FREE;
		r->head = (r->head + 1) % r->cap;
		r->count--;
	}
	if (!last)
		return 0;
	assert(last > r->released);
	r->released = last;
	return last;
}

int64_t sg_ring_oldest_ts(const struct sg_ring *r)
{
	return r->count ? r->slot[r->head].ts_ns : 0;
}

uint64_t sg_ring_rewind(struct sg_ring *r, size_t *nskip)
{
	size_t rest, n = 0, need;
	uint64_t *skip;

	assert(sg_ring_rewind_ready(r));
	sg_ring_release(r); /* a finished prefix is released, not skipped */
	rest = r->nskip - r->skip_pos;
	need = r->count + rest;
	skip = need ? sg_xcalloc(need, sizeof(*skip)) : NULL;
	/* Delivered since the last rewind, in seq order ... */
	for (size_t i = 0; i < r->count; i++) {
		struct sg_ring_slot *s = ring_at(r, i);
		if (s->state == SG_RING_DONE)
			skip[n++] = s->seq;
		s->state = SG_RING_FREE;
	}
	/* ... then those delivered before it and not read again yet: all
	 * above the last record pushed, so the list stays sorted. */
	for (size_t i = r->skip_pos; i < r->nskip; i++) {
		assert(!n || r->skip[i] > skip[n - 1]);
		skip[n++] = r->skip[i];
	}
	free(r->skip);
	r->skip = skip;
	r->nskip = n;
	r->skip_pos = 0;
	r->head = r->count = 0;
	r->rewinding = false;
	r->last_pushed = r->released;
	if (nskip)
		*nskip = n;
	return r->released;
}
