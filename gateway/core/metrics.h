/*
 * metrics.h - one registry of counters and gauges for the whole process.
 *
 * A metric is a name plus an optional label string such as
 * `source="sim1",class="timeout"`.  sg_metric() returns a stable pointer
 * (registering it on first use); updates are lock-free atomics, so hot
 * paths keep the pointer and call sg_counter_add().  The live view, the
 * status line and (later) the metrics endpoint read the same registry.
 * The registry has a fixed capacity; past it, sg_metric() returns a shared
 * overflow slot and logs once, it never fails.
 */
#ifndef SG_METRICS_H
#define SG_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct sg_counter {
	char name[48];
	char labels[96];
	bool gauge;
	_Atomic uint64_t v;
};

struct sg_counter *sg_metric(const char *name, const char *labels, bool gauge);

static inline void sg_counter_add(struct sg_counter *c, uint64_t n)
{
	atomic_fetch_add_explicit(&c->v, n, memory_order_relaxed);
}
static inline void sg_gauge_set(struct sg_counter *c, uint64_t v)
{
	atomic_store_explicit(&c->v, v, memory_order_relaxed);
}
static inline uint64_t sg_counter_get(const struct sg_counter *c)
{
	return atomic_load_explicit(&c->v, memory_order_relaxed);
}

/* True when a metric called NAME (with labels containing SUBSTR, or any)
 * is registered. */
bool sg_metric_exists(const char *name, const char *substr);
/* Sum of all metrics called NAME whose labels contain SUBSTR (or all). */
uint64_t sg_metrics_sum(const char *name, const char *substr);
/* Visit every metric in registration order. */
void sg_metrics_foreach(void (*fn)(const struct sg_counter *c, void *arg), void *arg);
/* Reset the registry (tests only). */
void sg_metrics_reset(void);

/*
 * A latency histogram over microseconds: log-linear buckets (8 per power
 * of two, about 9% relative error) for quantiles, plus the fixed
 * Prometheus buckets (SG_HIST_LE_US, exact) and the sum, for the metrics
 * endpoint.  Lock-free adds from any thread.  It is never reset: an
 * interval's quantiles come from the difference of two snapshots.
 */
#define SG_HIST_BUCKETS 320
#define SG_HIST_LE      16
/* Upper bounds of the Prometheus buckets, in microseconds (+Inf last). */
extern const uint64_t sg_hist_le_us[SG_HIST_LE];

struct sg_hist {
	_Atomic uint64_t b[SG_HIST_BUCKETS];
	_Atomic uint64_t le[SG_HIST_LE + 1]; /* per bound, not cumulative */
	_Atomic uint64_t n, sum_us;
};
struct sg_hist_snap {
	uint64_t b[SG_HIST_BUCKETS];
	uint64_t n;
};
void sg_hist_add(struct sg_hist *h, uint64_t us);
void sg_hist_snapshot(const struct sg_hist *h, struct sg_hist_snap *s);
/* The q-quantile (0..1) in microseconds of what was added between the
 * snapshots prev and now (prev may be NULL: since the start); 0 if
 * nothing was. */
uint64_t sg_hist_quantile(const struct sg_hist_snap *now, const struct sg_hist_snap *prev,
			  double q);
void sg_hist_reset(struct sg_hist *h); /* tests only */
/* The process-wide delivery latency: event time -> delivery report. */
extern struct sg_hist sg_delivery_latency;

#endif
