/*
 * plan.c - coalescing points into requests, isolating rejected
 * addresses, and the per-block tick arithmetic (see plan.h).
 */
#include "plan.h"

#include <stdlib.h>
#include <string.h>

#include "gateway/base/err.h"
#include "gateway/base/buf.h"
#include "gateway/base/clock.h"
#include "gateway/base/mem.h"

const char *const mb_area_names[] = {"coil", "discrete_input", "input_register", "holding_register",
				     NULL};

static const struct mb_span *sort_sp; /* qsort has no context argument */

static int span_cmp(const void *a, const void *b)
{
	const struct mb_span *x = &sort_sp[*(const int *)a];
	const struct mb_span *y = &sort_sp[*(const int *)b];

	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	if (x->area != y->area)
		return x->area < y->area ? -1 : 1;
	if (x->interval_ns != y->interval_ns)
		return x->interval_ns < y->interval_ns ? -1 : 1;
	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	if (x->count != y->count)
		return x->count < y->count ? -1 : 1;
	return *(const int *)a < *(const int *)b ? -1 : 1;
}

static struct mb_block *plan_push(struct mb_plan *pl, const struct mb_span *s, int npts_cap)
{
	struct mb_block *b;

	if (pl->n == pl->cap) {
		size_t cap = pl->cap ? pl->cap * 2 : 16;
		struct mb_block *nb = realloc(pl->b, cap * sizeof(*nb));

		if (!nb)
			abort();
		pl->b = nb;
		pl->cap = cap;
	}
	b = &pl->b[pl->n++];
	memset(b, 0, sizeof(*b));
	b->dev = s->dev;
	b->area = s->area;
	b->addr = s->addr;
	b->count = s->count;
	b->interval_ns = s->interval_ns;
	b->pts = sg_xcalloc((size_t)npts_cap, sizeof(int));
	return b;
}

static bool same_group(const struct mb_span *a, const struct mb_span *b)
{
	return a->dev == b->dev && a->area == b->area && a->interval_ns == b->interval_ns;
}

int mb_plan_build(struct mb_plan *pl, const struct mb_span *sp, size_t n, int max_gap)
{
	int *idx = sg_xcalloc(n ? n : 1, sizeof(int));
	struct mb_block *cur = NULL;

	memset(pl, 0, sizeof(*pl));
	for (size_t i = 0; i < n; i++) {
		int lim = mb_area_is_bits(sp[i].area) ? MB_MAX_BITS : MB_MAX_REGS;

		if (sp[i].count < 1 || sp[i].count > lim || sp[i].addr < 0 ||
		    sp[i].addr + sp[i].count > 65536) {
			free(idx);
			return SG_EINVAL;
		}
		idx[i] = (int)i;
	}
	sort_sp = sp;
	qsort(idx, n, sizeof(int), span_cmp);
	for (size_t k = 0; k < n; k++) {
		const struct mb_span *s = &sp[idx[k]];
		int lim = mb_area_is_bits(s->area) ? MB_MAX_BITS : MB_MAX_REGS;

		if (cur && same_group(&sp[cur->pts[0]], s)) {
			int end = cur->addr + cur->count;
			int nend = s->addr + s->count > end ? s->addr + s->count : end;

			if (s->addr - end <= max_gap && nend - cur->addr <= lim) {
				cur->count = nend - cur->addr;
				cur->pts[cur->npts++] = idx[k];
				continue;
			}
		}
		cur = plan_push(pl, s, (int)n);
		cur->pts[cur->npts++] = idx[k];
	}
	/* Trim the point arrays to size. */
	for (size_t i = 0; i < pl->n; i++) {
		int *p = realloc(pl->b[i].pts, (size_t)pl->b[i].npts * sizeof(int));
		if (p)
			pl->b[i].pts = p;
	}
	free(idx);
	return SG_OK;
}

int mb_plan_isolate(struct mb_plan *pl, size_t bi, const struct mb_span *sp)
{
	struct mb_block orig = pl->b[bi];
	int made = 0;

	for (int i = 0; i < orig.npts; i++) {
		const struct mb_span *s = &sp[orig.pts[i]];
		struct mb_block *b = NULL;

		/* Points with the very same range share one block. */
		for (int j = 0; j < made && !b; j++) {
			struct mb_block *c =
			    j == 0 ? &pl->b[bi] : &pl->b[pl->n - (size_t)(made - j)];
			if (c->addr == s->addr && c->count == s->count)
				b = c;
		}
		if (!b) {
			if (made == 0) {
				b = &pl->b[bi];
				b->pts = sg_xcalloc((size_t)orig.npts, sizeof(int));
				b->npts = 0;
				b->addr = s->addr;
				b->count = s->count;
			} else {
				b = plan_push(pl, s, orig.npts);
				b->start_ns = orig.start_ns;
				b->tick = orig.tick;
			}
			b->isolated = true;
			made++;
		}
		b->pts[b->npts++] = orig.pts[i];
	}
	free(orig.pts);
	return made;
}

void mb_plan_free(struct mb_plan *pl)
{
	for (size_t i = 0; i < pl->n; i++)
		free(pl->b[i].pts);
	free(pl->b);
	memset(pl, 0, sizeof(*pl));
}

uint64_t mb_block_advance(struct mb_block *b, int64_t now)
{
	uint64_t next = b->tick + 1, behind;

	if (now > b->start_ns) {
		behind = (uint64_t)((now - b->start_ns) / b->interval_ns);
		if (behind > next) {
			uint64_t skipped = behind - next;
			b->tick = behind;
			return skipped;
		}
	}
	b->tick = next;
	return 0;
}
