/*
 * reload_plan.h - what a reload changes, decided from text alone: which
 * sources to keep, add, remove or restart, and whether a key that only a
 * restart can apply has changed.  Pure functions, so every case is tested
 * without threads or drivers (tests/unit/test_reload_plan.c); the gateway
 * object carries the plan out.
 *
 * Live on reload: the sources (added, removed, restarted when their
 * settings or their effective topic changed), kafka.topic (through the
 * sources that use it), gateway.log_level, gateway.status_interval, the
 * log, view and actuators sections.  Everything else (the gateway id, the
 * spool, the Kafka connection and delivery mode, the HTTP endpoint) needs
 * a restart; a reload that changes any of it applies nothing.
 */
#ifndef SG_RELOAD_PLAN_H
#define SG_RELOAD_PLAN_H

#include <stddef.h>

enum sg_reload_action { SG_RELOAD_KEEP, SG_RELOAD_REMOVE, SG_RELOAD_RESTART, SG_RELOAD_ADD };

/* A source as the planner sees it: its name and fingerprint
 * (sg_conf_source_fingerprint). */
struct sg_reload_src {
	const char *name;
	const char *fingerprint;
};

#define SG_RELOAD_NONE ((size_t)-1)

struct sg_reload_step {
	enum sg_reload_action action;
	size_t old_i, new_i; /* SG_RELOAD_NONE where it does not apply */
};

/*
 * Fill steps (room for nold + nnew) and return how many: removals first
 * (in running order), then restarts, then additions (in the new file's
 * order), then keeps; so a source renamed from A to B stops before B
 * starts.  A source is matched by name.
 */
size_t sg_reload_plan(const struct sg_reload_src *old, size_t nold, const struct sg_reload_src *nw,
		      size_t nnew, struct sg_reload_step *steps);

/*
 * Compare two effective configurations (`check --print` text, as
 * sg_cfg_dump writes it) outside the live keys.  Returns 0 when only live
 * keys differ; otherwise a positive count of differing lines, with the
 * first restart-only key that differs ("spool.max_bytes", or the section
 * for a nested key) in what.
 */
int sg_reload_restart_only(const char *old_dump, const char *new_dump, char *what, size_t n);

#endif
