/*
 * families.h - what every metric in the registry means: its exposed
 * Prometheus name, type, unit scale, labels and help text.  One table
 * (families.c) is the source of truth for the /metrics exposition and for
 * the metrics reference in docs/metrics.md (`sensorgate metrics-doc`);
 * tests/lint/metrics.py checks that every name the code registers is in
 * it.
 *
 * Internal names (the first argument of sg_metric()) are short and
 * unit-less where the unit is implied; exposed names follow Prometheus's
 * conventions: the `sensorgate_` prefix, base units (seconds, bytes),
 * `_total` on counters.
 */
#ifndef SG_METRICS_FAMILIES_H
#define SG_METRICS_FAMILIES_H

#include <stddef.h>
#include <stdio.h>

enum sg_mf_type { SG_MF_COUNTER, SG_MF_GAUGE, SG_MF_HISTOGRAM };

struct sg_metric_family {
	const char *name;    /* internal name, as registered */
	const char *exposed; /* Prometheus name without `_total` */
	enum sg_mf_type type;
	double scale;       /* exposed value = stored value * scale */
	const char *labels; /* the label names, for the docs */
	const char *help;
};

extern const struct sg_metric_family sg_metric_families[];
extern const size_t sg_metric_nfamilies;

/* The family of internal name `name`, or NULL. */
const struct sg_metric_family *sg_metric_family_find(const char *name);
/* The metrics reference (Markdown table). */
void sg_metric_families_doc(FILE *fp);

#endif
