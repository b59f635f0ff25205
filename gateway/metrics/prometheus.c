/*
 * prometheus.c - text exposition of the registry.  Samples are grouped by
 * family (HELP and TYPE once per family, as both formats require), in
 * table order, and within a family in registration order.
 */
#include "prometheus.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "families.h"
#include "gateway/base/mem.h"
#include "gateway/core/metrics.h"

struct prom_item {
	const struct sg_counter *c;
	const struct sg_metric_family *f; /* NULL: not in the table */
	size_t order;                     /* family index, then registration */
};

struct prom_collect {
	struct prom_item *items;
	size_t n, cap;
};

static void prom_collect_one(const struct sg_counter *c, void *arg)
{
	struct prom_collect *pc = arg;
	const struct sg_metric_family *f = sg_metric_family_find(c->name);

	if (pc->n == pc->cap) {
		size_t cap = pc->cap ? pc->cap * 2 : 256;
		struct prom_item *it = realloc(pc->items, cap * sizeof(*it));
		if (!it)
			return;
		pc->items = it;
		pc->cap = cap;
	}
	pc->items[pc->n] = (struct prom_item){
	    c, f, (f ? (size_t)(f - sg_metric_families) : sg_metric_nfamilies) << 16 | pc->n};
	pc->n++;
}

static int prom_cmp(const void *a, const void *b)
{
	const struct prom_item *x = a, *y = b;
	return x->order < y->order ? -1 : x->order > y->order;
}

bool sg_prom_wants_openmetrics(const char *accept)
{
	return accept && strstr(accept, "application/openmetrics-text") != NULL;
}

/* A number as Prometheus reads it: integers exactly, scaled values with
 * enough digits. */
static void prom_value(struct sg_buf *out, uint64_t v, double scale)
{
	if (scale == 1)
		sg_buf_printf(out, "%" PRIu64, v);
	else
		sg_buf_printf(out, "%.9g", (double)v * scale);
}

static void prom_head(struct sg_buf *out, const char *name, const char *type, const char *help,
		      bool om)
{
	sg_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
	(void)om;
}

static void prom_histogram(struct sg_buf *out, const struct sg_metric_family *f, bool om)
{
	const struct sg_hist *h = &sg_delivery_latency;
	uint64_t cum = 0;

	prom_head(out, f->exposed, "histogram", f->help, om);
	for (unsigned i = 0; i <= SG_HIST_LE; i++) {
		cum += atomic_load_explicit(&h->le[i], memory_order_relaxed);
		if (i < SG_HIST_LE)
			sg_buf_printf(out, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", f->exposed,
				      (double)sg_hist_le_us[i] * f->scale, cum);
		else
			sg_buf_printf(out, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", f->exposed, cum);
	}
	/* The count is the +Inf bucket, so the two always agree. */
	sg_buf_printf(out, "%s_sum %.9g\n%s_count %" PRIu64 "\n", f->exposed,
		      (double)atomic_load_explicit(&h->sum_us, memory_order_relaxed) * f->scale,
		      f->exposed, cum);
}

void sg_prom_render(struct sg_buf *out, bool om)
{
	struct prom_collect pc = {0};
	const struct sg_metric_family *last = NULL;
	const char *last_untyped = NULL;

	sg_metrics_foreach(prom_collect_one, &pc);
	qsort(pc.items, pc.n, sizeof(*pc.items), prom_cmp);
	for (size_t i = 0; i < pc.n; i++) {
		const struct prom_item *it = &pc.items[i];
		const struct sg_metric_family *f = it->f;
		const char *suffix = f && f->type == SG_MF_COUNTER ? "_total" : "";
		char name[128];

		if (f && f->type == SG_MF_HISTOGRAM)
			continue; /* rendered from the histogram itself below */
		if (f) {
			snprintf(name, sizeof(name), "%s", f->exposed);
			if (f != last) {
				/* OpenMetrics names the counter family without _total;
				 * the text format names it as the samples are named. */
				if (om || f->type != SG_MF_COUNTER)
					prom_head(out, name,
						  f->type == SG_MF_COUNTER ? "counter" : "gauge",
						  f->help, om);
				else {
					snprintf(name, sizeof(name), "%s_total", f->exposed);
					prom_head(out, name, "counter", f->help, om);
					snprintf(name, sizeof(name), "%s", f->exposed);
				}
				last = f;
			}
		} else {
			snprintf(name, sizeof(name), "sensorgate_%s", it->c->name);
			if (!last_untyped || strcmp(last_untyped, it->c->name)) {
				sg_buf_printf(out, "# HELP %s (not documented)\n# TYPE %s %s\n",
					      name, name, om ? "unknown" : "untyped");
				last_untyped = it->c->name;
			}
		}
		sg_buf_printf(out, "%s%s", name, suffix);
		if (it->c->labels[0])
			sg_buf_printf(out, "{%s}", it->c->labels);
		sg_buf_addc(out, ' ');
		prom_value(out, sg_counter_get(it->c), f ? f->scale : 1);
		sg_buf_addc(out, '\n');
	}
	free(pc.items);
	for (size_t i = 0; i < sg_metric_nfamilies; i++)
		if (sg_metric_families[i].type == SG_MF_HISTOGRAM)
			prom_histogram(out, &sg_metric_families[i], om);
	if (om)
		sg_buf_adds(out, "# EOF\n");
}
