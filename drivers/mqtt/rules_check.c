/*
 * rules_check.c - checks across the rules of one MQTT source, run with the
 * config checks (so by `sensorgate check`, `run` and a reload alike).
 *
 * Errors: overlapping filters with implicit subscriptions (one per rule
 * filter), since the broker would deliver a message once per matching
 * subscription.  Warnings, which leave the config valid: a rule that can
 * never take a message, because an earlier rule without `continue` or a
 * condition takes every message it would see (the earlier filter covers
 * its filter), or because no explicit subscription delivers a topic it
 * matches.  The shadow check is sound but not complete: it compares the
 * rule with each earlier rule alone, not with several together.
 */
#include <stdio.h>
#include <string.h>

#include "gateway/base/log.h"
#include "mqtt.h"

bool mq_rule_shadowed(const struct mq_conf *c, size_t k, char *why, size_t whysz)
{
	const struct mq_rule_conf *r = c->rules.items;
	const struct mq_sub_conf *s = c->subscriptions.items;
	bool reached = !c->subscriptions.n;

	for (size_t i = 0; i < k; i++) {
		if (r[i].cont || r[i].if_pointer || !mq_filter_covers(r[i].filter, r[k].filter))
			continue;
		snprintf(why, whysz,
			 "rules[%zu] (\"%s\") can never match: rules[%zu] (\"%s\") takes every "
			 "message it would see (give rules[%zu] `continue: true`, or move "
			 "rules[%zu] before it)",
			 k, r[k].filter, i, r[i].filter, i, k);
		return true;
	}
	for (size_t i = 0; i < c->subscriptions.n && !reached; i++)
		reached = mq_filter_overlap(s[i].filter, r[k].filter);
	if (!reached) {
		snprintf(why, whysz,
			 "rules[%zu] (\"%s\") can never match: no subscription delivers its topics",
			 k, r[k].filter);
		return true;
	}
	return false;
}

int mq_rules_check(struct sg_cfg_ctx *ctx, const struct mq_conf *c, const struct sg_cfg_pos *pos,
		   const char *path)
{
	const struct mq_rule_conf *r = c->rules.items;
	char why[600];

	for (size_t k = 0; k < c->rules.n; k++) {
		if (!mq_rule_shadowed(c, k, why, sizeof(why)))
			continue;
		if (pos && pos->file && r[k].line)
			sg_warn("config", "%s:%d: %s: %s", pos->file, r[k].line, path, why);
		else
			sg_warn("config", "%s: %s", path, why);
	}
	if (c->subscriptions.n)
		return SG_OK;
	for (size_t i = 0; i < c->rules.n; i++)
		for (size_t k = i + 1; k < c->rules.n; k++)
			if (mq_filter_overlap(r[i].filter, r[k].filter) &&
			    strcmp(r[i].filter, r[k].filter)) {
				sg_cfg_error(
				    ctx, pos, path,
				    "rules %zu (\"%s\") and %zu (\"%s\") overlap: declare "
				    "`subscriptions` explicitly so no message arrives twice",
				    i, r[i].filter, k, r[k].filter);
				return SG_ECONFIG;
			}
	return SG_OK;
}
