/*
 * health.c - liveness and readiness rules (health.h), each check one
 * entry of the JSON body: {"name":..., "ok":..., "detail":...}.
 */
#include "health.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "gateway/base/clock.h"

#define MS(ns) ((long long)((ns) / SG_NS_PER_MS))

static void check(struct sg_buf *json, bool *first, const char *name, bool ok, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void check(struct sg_buf *json, bool *first, const char *name, bool ok, const char *fmt, ...)
{
	char detail[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	if (!*first)
		sg_buf_addc(json, ',');
	*first = false;
	sg_buf_adds(json, "{\"name\":");
	sg_buf_add_json_str(json, name, strlen(name));
	sg_buf_adds(json, ok ? ",\"ok\":true,\"detail\":" : ",\"ok\":false,\"detail\":");
	sg_buf_add_json_str(json, detail, strlen(detail));
	sg_buf_addc(json, '}');
}

static bool loops_ok(const struct sg_health_input *in, struct sg_buf *json, bool *first)
{
	bool all = true;

	for (size_t i = 0; i < in->nloops; i++) {
		const struct sg_health_loop *l = &in->loops[i];
		int64_t quiet = l->beat_ns ? in->now_ns - l->beat_ns : 0;
		bool ok = l->waiting || quiet <= in->stall_ns;
		char name[96];

		snprintf(name, sizeof(name), "loop:%s", l->name);
		if (l->waiting)
			check(json, first, name, true, "waiting on backpressure (spool full)");
		else if (quiet <= 0) /* a loop about to wait says when it is due back */
			check(json, first, name, true, "next pass due in %lld ms (bound %lld ms)",
			      MS(-quiet), MS(in->stall_ns));
		else
			check(json, first, name, ok, "last progress %lld ms ago (bound %lld ms)",
			      MS(quiet), MS(in->stall_ns));
		all &= ok;
	}
	return all;
}

static bool delivery_live(const struct sg_health_input *in, struct sg_buf *json, bool *first)
{
	bool ok = in->oldest_age_ns <= in->delivery_stall_ns;

	check(json, first, "kafka:progress", ok,
	      "oldest record in flight %lld ms old (bound %lld ms)", MS(in->oldest_age_ns),
	      MS(in->delivery_stall_ns));
	return ok;
}

/* What the producer knows of Kafka refusing it: the connection (a wrong
 * password, an untrusted certificate) and topics an ACL denies. */
static bool kafka_refusals(const struct sg_health_input *in, struct sg_buf *json, bool *first)
{
	bool c = in->topics_refused == 0;

	if (in->brokers_up == 0 && in->kafka_conn && *in->kafka_conn)
		check(json, first, "kafka:connection", false, "%s", in->kafka_conn);
	if (c)
		check(json, first, "kafka:topics", true, "no topic refused");
	else
		check(json, first, "kafka:topics", false,
		      "%u topic(s) refused (%s); %" PRIu64 " event(s) held, sent once allowed",
		      in->topics_refused, in->refused ? in->refused : "?", in->held);
	return c && !(in->brokers_up == 0 && in->kafka_conn && *in->kafka_conn);
}

static void finish(struct sg_buf *json, bool ok)
{
	sg_buf_adds(json, ok ? "],\"status\":\"ok\"}\n" : "],\"status\":\"fail\"}\n");
}

bool sg_health_live(const struct sg_health_input *in, struct sg_buf *json)
{
	bool first = true, ok;

	sg_buf_adds(json, "{\"checks\":[");
	ok = loops_ok(in, json, &first);
	ok &= delivery_live(in, json, &first);
	finish(json, ok);
	return ok;
}

bool sg_health_ready(const struct sg_health_input *in, struct sg_buf *json)
{
	bool first = true, ok, c;
	uint64_t limit = in->spool_max_bytes / 100 * in->high_water_pct;

	sg_buf_adds(json, "{\"checks\":[");
	ok = loops_ok(in, json, &first);
	ok &= delivery_live(in, json, &first);
	c = !in->stopping;
	check(json, &first, "running", c, "%s", c ? "running" : "stopping: draining to Kafka");
	ok &= c;
	ok &= kafka_refusals(in, json, &first);
	c = in->spool_bytes <= limit;
	check(json, &first, "spool", c, "%" PRIu64 " of %" PRIu64 " bytes (high-water mark %u%%)",
	      in->spool_bytes, in->spool_max_bytes, in->high_water_pct);
	ok &= c;
	c = in->brokers_up != 0;
	if (in->brokers_up < 0)
		check(json, &first, "kafka:brokers", c, "not known yet");
	else
		check(json, &first, "kafka:brokers", c, "%d broker(s) connected", in->brokers_up);
	ok &= c;
	if (in->registry_used) {
		c = !in->registry_waiting;
		check(json, &first, "schema_registry", c, "%s",
		      c ? "schema ids at hand"
			: "no schema id: events wait in the spool (see the log)");
		ok &= c;
	}
	c = in->oldest_age_ns <= in->max_age_ns;
	check(json, &first, "kafka:delivery", c,
	      "oldest record in flight %lld ms old (bound %lld ms)", MS(in->oldest_age_ns),
	      MS(in->max_age_ns));
	ok &= c;
	for (size_t i = 0; i < in->nsources; i++) {
		const struct sg_health_source *s = &in->sources[i];
		int64_t down = s->up ? 0 : in->now_ns - s->down_since_ns;
		char name[96];

		snprintf(name, sizeof(name), "source:%s", s->name);
		c = s->up || down <= in->grace_ns;
		if (s->up)
			check(json, &first, name, true, "up");
		else
			check(json, &first, name, c, "down for %lld ms (retrying; grace %lld ms)",
			      MS(down), MS(in->grace_ns));
		ok &= c;
	}
	finish(json, ok);
	return ok;
}
