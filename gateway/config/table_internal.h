/*
 * table_internal.h - the parse context shared by table.c (the generic table
 * walker) and keys.c (the gateway's own tables and the sources list).
 */
#ifndef SG_CFG_INTERNAL_H
#define SG_CFG_INTERNAL_H

#include <libfyaml.h>

#include "table.h"
#include "gateway/base/buf.h"
#include "gateway/base/clock.h"
#include "gateway/base/mem.h"

struct sg_cfg_ctx {
	const char *file;
	int nerrors;
	struct sg_buf errors; /* one line per error */
};

struct sg_cfg_pos sg_cfg_node_pos(struct sg_cfg_ctx *ctx, struct fy_node *n);
/* Parse mapping node `map` into obj (defaults already applied).  When
 * `extra` is non-NULL, keys unknown to `t` are tried against it (the
 * driver keys of a source) before being reported. */
int sg_cfg_parse_map(struct sg_cfg_ctx *ctx, struct fy_node *map, const struct sg_cfg_pos *mpos,
		     const char *path, const struct sg_cfg_table *t, void *obj,
		     const struct sg_cfg_table *extra, void *extra_obj);
/* Hook for SG_CFG_SOURCES, implemented in keys.c. */
int sg_cfg_parse_sources(struct sg_cfg_ctx *ctx, struct fy_node *seq, const struct sg_cfg_pos *pos,
			 const char *path, void *target);
void sg_cfg_free_sources(void *target);
void sg_cfg_dump_sources(const void *target, int indent, void *fp);

#endif
