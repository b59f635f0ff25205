/*
 * sources.h - the sources: one thread per driver instance, the emit path
 * into the spool, and their orderly start and stop.
 */
#ifndef SG_PIPELINE_H
#define SG_PIPELINE_H

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

size_t sg_pipeline_count(const struct sg_pipeline *pl);
const char *sg_pipeline_source_name(const struct sg_pipeline *pl, size_t i);
/* Events read by source i so far (for rates in the view). */
uint64_t sg_pipeline_source_read(const struct sg_pipeline *pl, size_t i);

/* Apply a command to source `name`'s driver write(): SG_ENOTFOUND (no
 * such source), SG_EINVAL (its driver cannot write), or the driver's
 * result.  Any thread. */
struct sg_value;
int sg_pipeline_write(struct sg_pipeline *pl, const char *name, const char *target,
		      const struct sg_value *v, struct sg_errbuf *eb);

#endif
