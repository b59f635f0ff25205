/*
 * sched.c - the due-time heaps of the Modbus poll engine (see sched.h).
 */
#include "sched.h"

#include <stdbool.h>
#include <stdlib.h>

static bool key_less(const struct mb_sched_ent *a, const struct mb_sched_ent *b)
{
	return a->due < b->due || (a->due == b->due && a->bi < b->bi);
}

static void sift_up(struct mb_sched_ent *h, size_t i)
{
	while (i > 0) {
		size_t up = (i - 1) / 2;
		struct mb_sched_ent t;

		if (!key_less(&h[i], &h[up]))
			return;
		t = h[i];
		h[i] = h[up];
		h[up] = t;
		i = up;
	}
}

static void sift_down(struct mb_sched_ent *h, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		struct mb_sched_ent t;

		if (l < n && key_less(&h[l], &h[m]))
			m = l;
		if (r < n && key_less(&h[r], &h[m]))
			m = r;
		if (m == i)
			return;
		t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

static void sched_room(struct mb_sched *s, size_t need)
{
	if (need <= s->cap)
		return;
	size_t cap = s->cap ? s->cap : 16;
	while (cap < need)
		cap *= 2;
	for (int k = 0; k < 2; k++) {
		struct mb_sched_ent *h = realloc(s->h[k], cap * sizeof(*h));
		if (!h)
			abort(); /* a few words per block, made at start and on splits */
		s->h[k] = h;
	}
	s->cap = cap;
}

void mb_sched_push(struct mb_sched *s, const struct mb_plan *pl, size_t bi)
{
	int k = pl->b[bi].timeouts > 0;

	sched_room(s, s->n[k] + 1);
	s->h[k][s->n[k]] = (struct mb_sched_ent){mb_block_due(&pl->b[bi]), bi};
	sift_up(s->h[k], s->n[k]++);
}

void mb_sched_build(struct mb_sched *s, const struct mb_plan *pl)
{
	s->n[0] = s->n[1] = 0;
	sched_room(s, pl->n);
	for (size_t i = 0; i < pl->n; i++)
		mb_sched_push(s, pl, i);
}

long mb_sched_pop_due(struct mb_sched *s, const struct mb_plan *pl, int64_t now)
{
	(void)pl;
	for (int k = 0; k < 2; k++) {
		size_t top;

		if (!s->n[k] || s->h[k][0].due > now)
			continue;
		top = s->h[k][0].bi;
		s->h[k][0] = s->h[k][--s->n[k]];
		sift_down(s->h[k], s->n[k], 0);
		return (long)top;
	}
	return -1;
}

int64_t mb_sched_next(const struct mb_sched *s, const struct mb_plan *pl)
{
	int64_t nx = 0;

	(void)pl;
	for (int k = 0; k < 2; k++)
		if (s->n[k] && (!nx || s->h[k][0].due < nx))
			nx = s->h[k][0].due;
	return nx;
}

void mb_sched_free(struct mb_sched *s)
{
	free(s->h[0]);
	free(s->h[1]);
	s->h[0] = s->h[1] = NULL;
	s->n[0] = s->n[1] = s->cap = 0;
}
