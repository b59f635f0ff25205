/*
 * prometheus.h - the registry as Prometheus text exposition format 0.0.4,
 * or OpenMetrics 1.0 when the scraper asks for it, with HELP and TYPE
 * from the families table and the delivery latency histogram.
 *
 * Pure with respect to I/O: it reads the registry (atomics) and appends
 * to a buffer, so it runs on the HTTP thread without touching the data
 * path, and tests call it directly.
 */
#ifndef SG_METRICS_PROMETHEUS_H
#define SG_METRICS_PROMETHEUS_H

#include <stdbool.h>

#include "gateway/base/buf.h"

#define SG_PROM_CONTENT_TYPE        "text/plain; version=0.0.4; charset=utf-8"
#define SG_OPENMETRICS_CONTENT_TYPE "application/openmetrics-text; version=1.0.0; charset=utf-8"

/* True when an Accept header asks for OpenMetrics. */
bool sg_prom_wants_openmetrics(const char *accept);

/* Append the exposition of every registered metric to out.  Metrics with
 * no family (a code path the table does not know) are exposed untyped
 * under `sensorgate_<name>`, so nothing is hidden. */
void sg_prom_render(struct sg_buf *out, bool openmetrics);

#endif
