/*
 * sources.h - the sources: one thread per driver instance, the emit path
 * into the spool, and their orderly start and stop.
 */
#ifndef SG_PIPELINE_H
#define SG_PIPELINE_H

#include <stdbool.h>
#include <stdint.h>

#include "gateway/config/conf.h"
#include "gateway/spool/spool.h"

struct sg_pipeline;

/* Init every enabled source (driver init); errors name the source. */
int sg_pipeline_new(const struct sg_conf *conf, struct sg_spool *sp, struct sg_pipeline **out,
		    struct sg_errbuf *eb);
int sg_pipeline_start(struct sg_pipeline *pl);
/* Tell every source to stop and wake it; returns at once.  Call before
 * sg_spool_shutdown(), so a source blocked on a full spool sees that it
 * is stopping when the spool wakes it, and stops reading input. */
void sg_pipeline_signal_stop(struct sg_pipeline *pl);
/* Signal (if not yet), call driver stop on each source's thread, join. */
void sg_pipeline_stop(struct sg_pipeline *pl);
void sg_pipeline_free(struct sg_pipeline *pl);

/* Reload (main thread): create and start one more source from sc (which
 * must outlive it); errors name the source.  Remove stops the source
 * named `name` (driver stop may still append), joins and frees it:
 * SG_OK or SG_ENOTFOUND. */
int sg_pipeline_add(struct sg_pipeline *pl, const struct sg_conf *conf,
		    const struct sg_source_conf *sc, struct sg_errbuf *eb);
int sg_pipeline_remove(struct sg_pipeline *pl, const char *name);
/* Restart source sc->name with new settings: the new instance is
 * initialised first (a refused setting leaves the old one running and
 * returns its error), then the old one is stopped and joined, then the
 * new one starts: never two instances at once. */
int sg_pipeline_replace(struct sg_pipeline *pl, const struct sg_conf *conf,
			const struct sg_source_conf *sc, struct sg_errbuf *eb);

/* Main thread (the set changes only there). */
size_t sg_pipeline_count(const struct sg_pipeline *pl);
const struct sg_source_conf *sg_pipeline_source_conf(const struct sg_pipeline *pl, size_t i);
const char *sg_pipeline_source_name(const struct sg_pipeline *pl, size_t i);
/* Events read by source i so far (for rates in the view). */
uint64_t sg_pipeline_source_read(const struct sg_pipeline *pl, size_t i);

/* A source's liveness and connection state, copied for the probes. */
struct sg_pipeline_health {
	char name[72];
	int64_t due_ns;        /* monotonic: the loop's last pass or the end of its wait */
	bool waiting;          /* inside a spool append: backpressure */
	bool up;               /* driver started and connected */
	int64_t down_since_ns; /* monotonic */
};
/* Copy up to max sources' states into h; returns how many.  Any thread. */
size_t sg_pipeline_health(struct sg_pipeline *pl, struct sg_pipeline_health *h, size_t max);

/* Apply a command to source `name`'s driver write(): SG_ENOTFOUND (no
 * such source), SG_EINVAL (its driver cannot write), or the driver's
 * result.  Any thread. */
struct sg_value;
int sg_pipeline_write(struct sg_pipeline *pl, const char *name, const char *target,
		      const struct sg_value *v, struct sg_errbuf *eb);

#endif
