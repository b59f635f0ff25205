/*
 * test_ring.c - the at-least-once ring (gateway/kafka/ring.h) driven
 * without librdkafka: a fake spool of seqs and a fake Kafka that answers
 * delivery reports in any order with any outcome.
 *
 * What must hold (invariant 2 of docs/design.md and the resend rules):
 * the released seq never passes a record that is not finished, and it
 * catches up as soon as the finished prefix grows; after a rewind every
 * failed record is sent again and no delivered, refused or skipped one
 * is; every record ends delivered or refused exactly once.
 */
#include <stdlib.h>
#include <string.h>

#include "gateway/kafka/ring.h"
#include "t.h"

#define MAXN 64

/* --- the model: what really happened to each seq --------------------- */

enum fate { F_NONE, F_INFLIGHT, F_DELIVERED, F_REJECTED, F_FAILED };

struct model {
	struct sg_ring r;
	uint64_t seqs[MAXN]; /* the spool: increasing, maybe with gaps */
	size_t nseqs, rpos;  /* read position in seqs */
	enum fate fate[MAXN];
	int delivered[MAXN], rejected[MAXN], sent[MAXN];
	uintptr_t tok[MAXN]; /* token of each seq's current send */
	uint64_t acked;
	char err[200];
};

static bool m_finished(const struct model *m, size_t i)
{
	return m->fate[i] == F_DELIVERED || m->fate[i] == F_REJECTED;
}

/* The highest seq read so far whose every predecessor in the spool is
 * finished: where the ack must stand after a release. */
static uint64_t m_prefix(const struct model *m)
{
	uint64_t p = m->acked;

	for (size_t i = 0; i < m->rpos; i++) {
		if (m->seqs[i] <= m->acked)
			continue;
		if (!m_finished(m, i))
			break;
		p = m->seqs[i];
	}
	return p;
}

static void m_init(struct model *m, size_t cap, size_t n, unsigned gaps)
{
	uint64_t s = 0;

	memset(m, 0, sizeof(*m));
	for (size_t i = 0; i < n; i++) {
		s += 1 + (gaps && (i * 7 + 3) % gaps == 0); /* some seqs missing */
		m->seqs[i] = s;
	}
	m->nseqs = n;
	sg_ring_init(&m->r, cap, 0);
}

/* The ring's own invariants. */
static bool m_ring_ok(struct model *m)
{
	const struct sg_ring *r = &m->r;
	uint64_t prev = r->released;
	size_t nsent = 0;

	for (size_t i = 0; i < r->count; i++) {
		const struct sg_ring_slot *s = &r->slot[(r->head + i) % r->cap];
		if (s->seq <= prev) {
			snprintf(m->err, sizeof(m->err), "slot %zu seq %llu not above %llu", i,
				 (unsigned long long)s->seq, (unsigned long long)prev);
			return false;
		}
		prev = s->seq;
		nsent += s->state == SG_RING_SENT;
	}
	if (nsent != r->nsent) {
		snprintf(m->err, sizeof(m->err), "nsent %zu, counted %zu", r->nsent, nsent);
		return false;
	}
	return true;
}

/* Release, ack, and check the ack against the truth. */
static bool m_release(struct model *m)
{
	uint64_t last = sg_ring_release(&m->r);

	if (last)
		m->acked = last;
	for (size_t i = 0; i < m->nseqs && m->seqs[i] <= m->acked; i++)
		if (!m_finished(m, i)) {
			snprintf(m->err, sizeof(m->err), "acked %llu past unfinished seq %llu",
				 (unsigned long long)m->acked, (unsigned long long)m->seqs[i]);
			return false;
		}
	if (m_prefix(m) != m->acked) {
		snprintf(m->err, sizeof(m->err), "acked %llu, finished prefix ends at %llu",
			 (unsigned long long)m->acked, (unsigned long long)m_prefix(m));
		return false;
	}
	return m_ring_ok(m);
}

/* Read and send at most max records while the ring takes them (librdkafka's
 * queue may be full before the ring is).  local_reject(i) decides which
 * are refused before producing. */
static bool m_fill(struct model *m, size_t max, bool (*local_reject)(size_t i, void *arg),
		   void *arg)
{
	for (size_t k = 0;
	     k < max && !sg_ring_full(&m->r) && !sg_ring_rewinding(&m->r) && m->rpos < m->nseqs;
	     k++) {
		size_t i = m->rpos++;
		uint64_t seq = m->seqs[i];
		if (sg_ring_skip(&m->r, seq, 0)) {
			if (!m_finished(m, i)) {
				snprintf(m->err, sizeof(m->err), "unfinished seq %llu skipped",
					 (unsigned long long)seq);
				return false;
			}
			continue;
		}
		if (m_finished(m, i)) {
			snprintf(m->err, sizeof(m->err), "finished seq %llu sent again",
				 (unsigned long long)seq);
			return false;
		}
		if (local_reject && local_reject(i, arg)) {
			m->fate[i] = F_REJECTED;
			m->rejected[i]++;
			sg_ring_finished(&m->r, seq, 0);
			continue;
		}
		m->tok[i] = sg_ring_token(&m->r);
		sg_ring_sent(&m->r, seq, (int64_t)seq);
		m->fate[i] = F_INFLIGHT;
		m->sent[i]++;
	}
	return m_ring_ok(m);
}

static bool m_report(struct model *m, size_t i, enum sg_ring_outcome what)
{
	const struct sg_ring_slot *s = sg_ring_report(&m->r, m->tok[i], what);

	if (!s || s->seq != m->seqs[i]) {
		snprintf(m->err, sizeof(m->err), "report for seq %llu found %s",
			 (unsigned long long)m->seqs[i], s ? "another slot" : "no slot");
		return false;
	}
	if (what == SG_RING_PERSISTED) {
		m->fate[i] = F_DELIVERED;
		m->delivered[i]++;
	} else if (what == SG_RING_REJECTED) {
		m->fate[i] = F_REJECTED;
		m->rejected[i]++;
	} else {
		m->fate[i] = F_FAILED;
	}
	return m_release(m);
}

static bool m_rewind_if_ready(struct model *m)
{
	uint64_t after;

	if (!sg_ring_rewind_ready(&m->r))
		return true;
	after = sg_ring_rewind(&m->r, NULL);
	if (after < m->acked) {
		snprintf(m->err, sizeof(m->err), "rewind to %llu below the ack %llu",
			 (unsigned long long)after, (unsigned long long)m->acked);
		return false;
	}
	m->acked = after;
	m->rpos = 0;
	while (m->rpos < m->nseqs && m->seqs[m->rpos] <= after)
		m->rpos++;
	return m_release(m);
}

/* Every record delivered or refused exactly once, everything acked. */
static bool m_complete(struct model *m)
{
	for (size_t i = 0; i < m->nseqs; i++)
		if (m->delivered[i] + m->rejected[i] != 1) {
			snprintf(m->err, sizeof(m->err),
				 "seq %llu delivered %d times, refused %d times",
				 (unsigned long long)m->seqs[i], m->delivered[i], m->rejected[i]);
			return false;
		}
	if (m->acked != m->seqs[m->nseqs - 1] || sg_ring_count(&m->r)) {
		snprintf(m->err, sizeof(m->err), "acked %llu of %llu, %zu in the ring",
			 (unsigned long long)m->acked, (unsigned long long)m->seqs[m->nseqs - 1],
			 sg_ring_count(&m->r));
		return false;
	}
	return true;
}

/* Deliver everything in flight as PERSISTED, rewinding and refilling
 * until the spool is done. */
static bool m_drain(struct model *m)
{
	for (int round = 0; round < 100; round++) {
		if (!m_rewind_if_ready(m) || !m_fill(m, MAXN, NULL, NULL))
			return false;
		bool any = false;
		for (size_t i = 0; i < m->nseqs; i++)
			if (m->fate[i] == F_INFLIGHT) {
				any = true;
				if (!m_report(m, i, SG_RING_PERSISTED))
					return false;
			}
		if (!any && m->rpos == m->nseqs && !sg_ring_rewinding(&m->r))
			return m_release(m) && m_complete(m);
	}
	snprintf(m->err, sizeof(m->err), "did not drain");
	return false;
}

/* --- every ordering of 5 reports, every mix of outcomes -------------- */

static bool next_perm(int *a, int n)
{
	int i = n - 2, j = n - 1;

	while (i >= 0 && a[i] >= a[i + 1])
		i--;
	if (i < 0)
		return false;
	while (a[j] <= a[i])
		j--;
	int t = a[i];
	a[i] = a[j];
	a[j] = t;
	for (int l = i + 1, r = n - 1; l < r; l++, r--)
		t = a[l], a[l] = a[r], a[r] = t;
	return true;
}

/* The outcome of record i in mix: its base-3 digit. */
static int digit3(int mix, int i)
{
	while (i-- > 0)
		mix /= 3;
	return mix % 3;
}

TEST(every_order_and_outcome_of_five_reports)
{
	enum { N = 5 };
	static const enum sg_ring_outcome outs[3] = {SG_RING_PERSISTED, SG_RING_FAILED,
						     SG_RING_REJECTED};
	int order[N] = {0, 1, 2, 3, 4}, scenarios = 0, failures = 0;

	do {
		for (int mix = 0; mix < 243; mix++) { /* 3^5 outcome mixes */
			struct model m;
			bool ok = true;
			m_init(&m, N, N, mix % 2 ? 3 : 0);
			ok = m_fill(&m, MAXN, NULL, NULL) && sg_ring_full(&m.r);
			for (int k = 0; ok && k < N; k++)
				ok = m_report(&m, (size_t)order[k], outs[digit3(mix, order[k])]);
			ok = ok && m_drain(&m);
			scenarios++;
			if (!ok && failures++ < 5)
				t_fail(__FILE__, __LINE__, "order %d%d%d%d%d mix %d: %s", order[0],
				       order[1], order[2], order[3], order[4], mix, m.err);
			sg_ring_fini(&m.r);
		}
	} while (next_perm(order, N));
	CHECK_EQ(scenarios, 120 * 243);
	CHECK_EQ(failures, 0);
}

/* --- targeted cases ---------------------------------------------------- */

TEST(release_stops_at_the_first_unfinished_record)
{
	struct sg_ring r;
	uintptr_t t[4];

	sg_ring_init(&r, 8, 10);
	for (int i = 0; i < 4; i++) {
		t[i] = sg_ring_token(&r);
		sg_ring_sent(&r, 11 + (uint64_t)i, 0);
	}
	CHECK(sg_ring_report(&r, t[1], SG_RING_PERSISTED) != NULL);
	CHECK(sg_ring_report(&r, t[3], SG_RING_REJECTED) != NULL);
	CHECK_EQ(sg_ring_release(&r), 0); /* 11 still in flight */
	CHECK_EQ(r.released, 10);
	CHECK(sg_ring_report(&r, t[0], SG_RING_PERSISTED) != NULL);
	CHECK_EQ(sg_ring_release(&r), 12); /* 13 still in flight */
	CHECK_EQ(sg_ring_count(&r), 2);
	CHECK(sg_ring_report(&r, t[2], SG_RING_PERSISTED) != NULL);
	CHECK_EQ(sg_ring_release(&r), 14);
	CHECK_EQ(sg_ring_count(&r), 0);
	/* A second report for the same token is stale: ignored. */
	CHECK(sg_ring_report(&r, t[2], SG_RING_FAILED) == NULL);
	CHECK(!sg_ring_rewinding(&r));
	CHECK(sg_ring_report(&r, 0, SG_RING_PERSISTED) == NULL);
	CHECK(sg_ring_report(&r, 9, SG_RING_PERSISTED) == NULL);
	sg_ring_fini(&r);
}

TEST(finished_without_producing_keeps_the_order)
{
	struct sg_ring r;
	uintptr_t t1;

	sg_ring_init(&r, 4, 0);
	t1 = sg_ring_token(&r);
	sg_ring_sent(&r, 1, 0);
	sg_ring_finished(&r, 2, 0); /* undecodable, or refused locally */
	CHECK_EQ(sg_ring_release(&r), 0);
	CHECK(sg_ring_report(&r, t1, SG_RING_PERSISTED) != NULL);
	CHECK_EQ(sg_ring_release(&r), 2);
	sg_ring_fini(&r);
}

TEST(full_ring_wraps_around)
{
	struct sg_ring r;
	uintptr_t t[3];
	uint64_t seq = 0;

	sg_ring_init(&r, 3, 0);
	for (int i = 0; i < 3; i++) {
		t[i] = sg_ring_token(&r);
		sg_ring_sent(&r, ++seq, 0);
	}
	CHECK(sg_ring_full(&r));
	/* Round after round, the head's slot is reused by the newest seq. */
	for (int round = 0; round < 10; round++) {
		const struct sg_ring_slot *s = sg_ring_report(&r, t[round % 3], SG_RING_PERSISTED);
		CHECK(s && s->seq == seq - 2);
		CHECK_EQ(sg_ring_release(&r), seq - 2);
		CHECK(!sg_ring_full(&r));
		CHECK_EQ(sg_ring_token(&r), t[round % 3]);
		sg_ring_sent(&r, ++seq, 0);
		CHECK(sg_ring_full(&r));
	}
	CHECK_EQ(sg_ring_count(&r), 3);
	sg_ring_fini(&r);
}

TEST(rewind_waits_for_every_report)
{
	struct sg_ring r;
	uintptr_t t[3];
	size_t nskip;

	sg_ring_init(&r, 4, 0);
	for (int i = 0; i < 3; i++) {
		t[i] = sg_ring_token(&r);
		sg_ring_sent(&r, 1 + (uint64_t)i, 0);
	}
	CHECK(sg_ring_report(&r, t[0], SG_RING_FAILED) != NULL);
	CHECK(sg_ring_rewinding(&r));
	CHECK(!sg_ring_rewind_ready(&r)); /* 2 and 3 are still out */
	CHECK(sg_ring_report(&r, t[2], SG_RING_PERSISTED) != NULL);
	CHECK(!sg_ring_rewind_ready(&r));
	CHECK(sg_ring_report(&r, t[1], SG_RING_FAILED) != NULL);
	CHECK(sg_ring_rewind_ready(&r));
	CHECK_EQ(sg_ring_rewind(&r, &nskip), 0);
	CHECK_EQ(nskip, 1);
	CHECK(!sg_ring_rewinding(&r));
	CHECK(!sg_ring_skip(&r, 1, 0));
	sg_ring_sent(&r, 1, 0);
	CHECK(!sg_ring_skip(&r, 2, 0));
	sg_ring_sent(&r, 2, 0);
	CHECK(sg_ring_skip(&r, 3, 0)); /* delivered before the rewind */
	CHECK(!sg_ring_skip(&r, 4, 0));
	sg_ring_fini(&r);
}

TEST(rewind_after_a_fatal_error)
{
	struct sg_ring r;
	uintptr_t t[4];
	size_t nskip;

	sg_ring_init(&r, 8, 100);
	for (int i = 0; i < 4; i++) {
		t[i] = sg_ring_token(&r);
		sg_ring_sent(&r, 101 + (uint64_t)i, 0);
	}
	CHECK(sg_ring_report(&r, t[0], SG_RING_PERSISTED) != NULL);
	CHECK(sg_ring_report(&r, t[2], SG_RING_PERSISTED) != NULL);
	sg_ring_fail_all(&r); /* the producer is gone: no report comes for 102, 104 */
	CHECK(sg_ring_rewind_ready(&r));
	CHECK(sg_ring_report(&r, t[1], SG_RING_PERSISTED) == NULL); /* from the dead handle */
	CHECK_EQ(sg_ring_rewind(&r, &nskip), 101);                  /* 101 released, not skipped */
	CHECK_EQ(nskip, 1);
	CHECK(!sg_ring_skip(&r, 102, 0));
	sg_ring_sent(&r, 102, 0);
	CHECK(sg_ring_skip(&r, 103, 0));
	CHECK(!sg_ring_skip(&r, 104, 0));
	sg_ring_fini(&r);

	/* A fatal error with nothing in flight still asks for a rewind. */
	sg_ring_init(&r, 2, 5);
	sg_ring_fail_all(&r);
	CHECK(sg_ring_rewind_ready(&r));
	CHECK_EQ(sg_ring_rewind(&r, NULL), 5);
	sg_ring_fini(&r);
}

/* A second failure during the resend, before the skip list is used up:
 * what was delivered before the first rewind is still skipped. */
TEST(skip_list_survives_a_second_rewind)
{
	struct sg_ring r;
	uintptr_t t[6];
	size_t nskip;

	sg_ring_init(&r, 8, 0);
	for (int i = 0; i < 6; i++) {
		t[i] = sg_ring_token(&r);
		sg_ring_sent(&r, 1 + (uint64_t)i, 0);
	}
	/* 1 fails; 2, 4, 6 delivered; 3, 5 fail. */
	CHECK(sg_ring_report(&r, t[0], SG_RING_FAILED) != NULL);
	CHECK(sg_ring_report(&r, t[1], SG_RING_PERSISTED) != NULL);
	CHECK(sg_ring_report(&r, t[2], SG_RING_FAILED) != NULL);
	CHECK(sg_ring_report(&r, t[3], SG_RING_PERSISTED) != NULL);
	CHECK(sg_ring_report(&r, t[4], SG_RING_FAILED) != NULL);
	CHECK(sg_ring_report(&r, t[5], SG_RING_PERSISTED) != NULL);
	CHECK_EQ(sg_ring_rewind(&r, &nskip), 0);
	CHECK_EQ(nskip, 3);
	/* Resend 1 (fails again), skip 2, resend 3 (delivered). */
	CHECK(!sg_ring_skip(&r, 1, 0));
	t[0] = sg_ring_token(&r);
	sg_ring_sent(&r, 1, 0);
	CHECK(sg_ring_skip(&r, 2, 0));
	CHECK(!sg_ring_skip(&r, 3, 0));
	t[2] = sg_ring_token(&r);
	sg_ring_sent(&r, 3, 0);
	CHECK(sg_ring_report(&r, t[2], SG_RING_PERSISTED) != NULL);
	CHECK(sg_ring_report(&r, t[0], SG_RING_FAILED) != NULL);
	CHECK_EQ(sg_ring_rewind(&r, &nskip), 0);
	CHECK_EQ(nskip, 4); /* 2, 3 from this round; 4, 6 from the first */
	CHECK(!sg_ring_skip(&r, 1, 0));
	t[0] = sg_ring_token(&r);
	sg_ring_sent(&r, 1, 0);
	CHECK(sg_ring_skip(&r, 2, 0));
	CHECK(sg_ring_skip(&r, 3, 0));
	CHECK(sg_ring_skip(&r, 4, 0));
	CHECK(!sg_ring_skip(&r, 5, 0));
	t[4] = sg_ring_token(&r);
	sg_ring_sent(&r, 5, 0);
	CHECK(sg_ring_skip(&r, 6, 0));
	CHECK(!sg_ring_skip(&r, 7, 0));
	CHECK(sg_ring_report(&r, t[0], SG_RING_PERSISTED) != NULL);
	CHECK_EQ(sg_ring_release(&r), 4);
	CHECK(sg_ring_report(&r, t[4], SG_RING_PERSISTED) != NULL);
	CHECK_EQ(sg_ring_release(&r), 6);
	sg_ring_fini(&r);
}

/* Seqs missing from the spool (dropped, corrupt) skip no one. */
TEST(skip_list_with_gaps_in_the_spool)
{
	struct sg_ring r;
	uintptr_t t[3];

	sg_ring_init(&r, 4, 0);
	t[0] = sg_ring_token(&r);
	sg_ring_sent(&r, 2, 0);
	t[1] = sg_ring_token(&r);
	sg_ring_sent(&r, 5, 0);
	t[2] = sg_ring_token(&r);
	sg_ring_sent(&r, 9, 0);
	CHECK(sg_ring_report(&r, t[0], SG_RING_FAILED) != NULL);
	CHECK(sg_ring_report(&r, t[1], SG_RING_PERSISTED) != NULL);
	CHECK(sg_ring_report(&r, t[2], SG_RING_PERSISTED) != NULL);
	sg_ring_rewind(&r, NULL);
	CHECK(!sg_ring_skip(&r, 2, 0));
	sg_ring_sent(&r, 2, 0);
	CHECK(!sg_ring_skip(&r, 7, 0)); /* 5 is gone from the spool now */
	sg_ring_sent(&r, 7, 0);
	CHECK(sg_ring_skip(&r, 9, 0));
	sg_ring_fini(&r);
}

/* --- a random walk through everything at once ------------------------ */

static uint64_t rng_state;

static uint32_t rnd(uint32_t n)
{
	rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (uint32_t)(rng_state >> 33) % n;
}

static bool rnd_local_reject(size_t i, void *arg)
{
	(void)i;
	(void)arg;
	return rnd(20) == 0;
}

static bool random_run(struct model *m)
{
	for (int step = 0; step < 100000; step++) {
		size_t inflight[MAXN], n = 0;
		if (!m_release(m) || !m_rewind_if_ready(m) ||
		    !m_fill(m, 1 + rnd(MAXN / 4), rnd_local_reject, NULL))
			return false;
		for (size_t i = 0; i < m->nseqs; i++)
			if (m->fate[i] == F_INFLIGHT)
				inflight[n++] = i;
		if (!n && m->rpos == m->nseqs && !sg_ring_rewinding(&m->r))
			return m_release(m) && m_complete(m);
		if (n && rnd(50) == 0) { /* fatal: the handle and its reports are gone */
			for (size_t k = 0; k < n; k++)
				m->fate[inflight[k]] = F_FAILED;
			sg_ring_fail_all(&m->r);
			if (!m_release(m))
				return false;
			continue;
		}
		if (!n)
			continue;
		uint32_t o = rnd(10);
		if (!m_report(m, inflight[rnd((uint32_t)n)],
			      o < 7   ? SG_RING_PERSISTED
			      : o < 9 ? SG_RING_FAILED
				      : SG_RING_REJECTED))
			return false;
	}
	snprintf(m->err, sizeof(m->err), "no progress: %zu in the ring, acked %llu, read %zu/%zu",
		 sg_ring_count(&m->r), (unsigned long long)m->acked, m->rpos, m->nseqs);
	return false;
}

TEST(random_reports_failures_and_fatal_errors)
{
	int failures = 0;

	for (uint64_t seed = 1; seed <= 3000; seed++) {
		struct model m;
		rng_state = seed;
		m_init(&m, 1 + rnd(12), 10 + rnd(MAXN - 10), seed % 3 ? 4 : 0);
		if (!random_run(&m) && failures++ < 5)
			t_fail(__FILE__, __LINE__, "seed %llu: %s", (unsigned long long)seed,
			       m.err);
		sg_ring_fini(&m.r);
	}
	CHECK_EQ(failures, 0);
}
