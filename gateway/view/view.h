/*
 * view.h - what `sensorgate run` shows while it runs: a live full-screen
 * view on a terminal (events/s per source, spool depth, delivery, the
 * latest records read back from Kafka by a consumer), or one status line
 * per interval in the log otherwise.
 */
#ifndef SG_VIEW_H
#define SG_VIEW_H

#include <stdbool.h>

#include "gateway/config/conf.h"
#include "gateway/core/sources.h"
#include "gateway/spool/spool.h"

struct sg_view;

/* bootstrap: where the tail consumer connects (may be NULL: no tail). */
struct sg_view *sg_view_new(const struct sg_conf *conf, struct sg_pipeline *pl, struct sg_spool *sp,
			    const char *bootstrap);
/* Interval between sg_view_tick() calls, in ms. */
int64_t sg_view_interval_ms(const struct sg_view *v);
/* Redraw (live) or log a status line (lines).  Main thread. */
void sg_view_tick(struct sg_view *v);
/* True when the view has a tail consumer that sg_view_poll() must serve
 * often (every 100 ms); false: only ticks matter. */
bool sg_view_needs_poll(const struct sg_view *v);
/* Serve the tail consumer (non-blocking). */
void sg_view_poll(struct sg_view *v);
void sg_view_free(struct sg_view *v);

#endif
