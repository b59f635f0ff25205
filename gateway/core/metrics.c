/*
 * metrics.c - the fixed-capacity counter registry.
 */
#include "metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "gateway/base/log.h"

#define METRICS_MAX 2048

static struct sg_counter metrics[METRICS_MAX];
static struct sg_counter metrics_overflow = {.name = "metrics_overflow"};
static _Atomic int metrics_n;
static pthread_mutex_t metrics_mu = PTHREAD_MUTEX_INITIALIZER;

struct sg_counter *sg_metric(const char *name, const char *labels, bool gauge)
{
	struct sg_counter *c = NULL;
	int n;

	if (!labels)
		labels = "";
	pthread_mutex_lock(&metrics_mu);
	n = atomic_load(&metrics_n);
	for (int i = 0; i < n; i++) {
		if (!strcmp(metrics[i].name, name) && !strcmp(metrics[i].labels, labels)) {
			c = &metrics[i];
			break;
		}
	}
	if (!c && n < METRICS_MAX) {
		c = &metrics[n];
		snprintf(c->name, sizeof(c->name), "%s", name);
		snprintf(c->labels, sizeof(c->labels), "%s", labels);
		c->gauge = gauge;
		atomic_store(&c->v, 0);
		atomic_store(&metrics_n, n + 1);
	}
	pthread_mutex_unlock(&metrics_mu);
	if (!c) {
		static struct sg_log_rl rl;
		sg_log_rl(&rl, SG_LOG_WARN, "metrics", "registry full (%d): %s{%s} not tracked",
			  METRICS_MAX, name, labels);
		c = &metrics_overflow;
	}
	return c;
}

bool sg_metric_exists(const char *name, const char *substr)
{
	int n = atomic_load(&metrics_n);

	for (int i = 0; i < n; i++)
		if (!strcmp(metrics[i].name, name) &&
		    (!substr || strstr(metrics[i].labels, substr)))
			return true;
	return false;
}

uint64_t sg_metrics_sum(const char *name, const char *substr)
{
	int n = atomic_load(&metrics_n);
	uint64_t sum = 0;

	for (int i = 0; i < n; i++)
		if (!strcmp(metrics[i].name, name) &&
		    (!substr || strstr(metrics[i].labels, substr)))
			sum += sg_counter_get(&metrics[i]);
	return sum;
}

void sg_metrics_foreach(void (*fn)(const struct sg_counter *c, void *arg), void *arg)
{
	int n = atomic_load(&metrics_n);

	for (int i = 0; i < n; i++)
		fn(&metrics[i], arg);
}

void sg_metrics_reset(void)
{
	pthread_mutex_lock(&metrics_mu);
	atomic_store(&metrics_n, 0);
	memset(metrics, 0, sizeof(metrics));
	pthread_mutex_unlock(&metrics_mu);
}

struct sg_hist sg_delivery_latency;

const uint64_t sg_hist_le_us[SG_HIST_LE] = {
    1000,   2500,    5000,    10000,   25000,    50000,    100000,   250000,
    500000, 1000000, 2500000, 5000000, 10000000, 30000000, 60000000, 300000000,
};

static unsigned hist_index(uint64_t us)
{
	unsigned e, idx;

	if (us < 8)
		return (unsigned)us;
	e = 63u - (unsigned)__builtin_clzll(us); /* us in [2^e, 2^(e+1)) */
	idx = (e - 2) * 8 + (unsigned)((us >> (e - 3)) & 7);
	return idx < SG_HIST_BUCKETS ? idx : SG_HIST_BUCKETS - 1;
}

static uint64_t hist_value(unsigned idx)
{
	unsigned e;

	if (idx < 8)
		return idx;
	e = idx / 8 + 2;
	/* upper edge of the bucket */
	return ((8ull + (idx % 8) + 1) << (e - 3)) - 1;
}

void sg_hist_add(struct sg_hist *h, uint64_t us)
{
	unsigned le = 0;

	while (le < SG_HIST_LE && us > sg_hist_le_us[le])
		le++;
	atomic_fetch_add_explicit(&h->b[hist_index(us)], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->le[le], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_us, us, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->n, 1, memory_order_relaxed);
}

void sg_hist_snapshot(const struct sg_hist *h, struct sg_hist_snap *s)
{
	s->n = 0;
	for (unsigned i = 0; i < SG_HIST_BUCKETS; i++) {
		s->b[i] = atomic_load_explicit(&h->b[i], memory_order_relaxed);
		s->n += s->b[i];
	}
}

uint64_t sg_hist_quantile(const struct sg_hist_snap *now, const struct sg_hist_snap *prev, double q)
{
	uint64_t n = now->n - (prev ? prev->n : 0), want, seen = 0;

	if (!n)
		return 0;
	want = (uint64_t)(q * (double)n);
	if (want >= n)
		want = n - 1;
	for (unsigned i = 0; i < SG_HIST_BUCKETS; i++) {
		seen += now->b[i] - (prev ? prev->b[i] : 0);
		if (seen > want)
			return hist_value(i);
	}
	return hist_value(SG_HIST_BUCKETS - 1);
}

void sg_hist_reset(struct sg_hist *h)
{
	for (unsigned i = 0; i < SG_HIST_BUCKETS; i++)
		atomic_store(&h->b[i], 0);
	for (unsigned i = 0; i <= SG_HIST_LE; i++)
		atomic_store(&h->le[i], 0);
	atomic_store(&h->n, 0);
	atomic_store(&h->sum_us, 0);
}
