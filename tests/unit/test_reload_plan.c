/*
 * test_reload_plan.c - the reload planner: which sources to keep, remove,
 * restart or add, in which order, and which key changes need a restart.
 */
#include <string.h>

#include "gateway/core/reload_plan.h"
#include "t.h"

static size_t count(const struct sg_reload_step *st, size_t n, enum sg_reload_action a)
{
	size_t c = 0;
	for (size_t i = 0; i < n; i++)
		c += st[i].action == a;
	return c;
}

TEST(plan_sources)
{
	const struct sg_reload_src old[] = {{"a", "fa"}, {"b", "fb"}, {"c", "fc"}};
	const struct sg_reload_src nw[] = {{"d", "fd"}, {"c", "fc2"}, {"a", "fa"}};
	struct sg_reload_step st[6];
	size_t n = sg_reload_plan(old, 3, nw, 3, st);

	CHECK_EQ(n, 4);
	/* Removals first, then restarts, then additions, then keeps. */
	CHECK(st[0].action == SG_RELOAD_REMOVE && st[0].old_i == 1 &&
	      st[0].new_i == SG_RELOAD_NONE);
	CHECK(st[1].action == SG_RELOAD_RESTART && st[1].old_i == 2 && st[1].new_i == 1);
	CHECK(st[2].action == SG_RELOAD_ADD && st[2].new_i == 0 && st[2].old_i == SG_RELOAD_NONE);
	CHECK(st[3].action == SG_RELOAD_KEEP && st[3].old_i == 0 && st[3].new_i == 2);
}

TEST(plan_rename_is_remove_then_add)
{
	const struct sg_reload_src old[] = {{"x", "same"}};
	const struct sg_reload_src nw[] = {{"y", "same"}};
	struct sg_reload_step st[2];
	size_t n = sg_reload_plan(old, 1, nw, 1, st);

	CHECK_EQ(n, 2);
	CHECK(st[0].action == SG_RELOAD_REMOVE && st[1].action == SG_RELOAD_ADD);
}

TEST(plan_edges)
{
	const struct sg_reload_src some[] = {{"a", "1"}, {"b", "2"}};
	struct sg_reload_step st[4];

	CHECK_EQ(sg_reload_plan(NULL, 0, NULL, 0, st), 0);
	CHECK_EQ(sg_reload_plan(NULL, 0, some, 2, st), 2);
	CHECK_EQ(count(st, 2, SG_RELOAD_ADD), 2);
	CHECK_EQ(sg_reload_plan(some, 2, NULL, 0, st), 2);
	CHECK_EQ(count(st, 2, SG_RELOAD_REMOVE), 2);
	CHECK_EQ(sg_reload_plan(some, 2, some, 2, st), 2);
	CHECK_EQ(count(st, 2, SG_RELOAD_KEEP), 2);
}

static const char *base = "gateway:\n  id: \"g\"\n  log_level: info\n  status_interval: 10000ms\n"
			  "spool:\n  dir: \"/s\"\n  max_bytes: 100\n"
			  "kafka:\n  bootstrap: \"b:9092\"\n  topic: \"t.{source}\"\n"
			  "  properties:\n    linger.ms: \"5\"\n"
			  "sources:\n  -\n    name: \"a\"\n"
			  "view:\n  mode: auto\n"
			  "log:\n  format: auto\n";

static int restart_only(const char *from, const char *to, char *what)
{
	char a[1024], b[1024];

	snprintf(a, sizeof(a), "%s", base);
	snprintf(b, sizeof(b), "%s", base);
	if (from) {
		char *p = strstr(b, from);
		if (!p) {
			t_fail(__FILE__, __LINE__, "no %s", from);
			return -1;
		}
		memmove(p + strlen(to), p + strlen(from), strlen(p + strlen(from)) + 1);
		memcpy(p, to, strlen(to));
	}
	return sg_reload_restart_only(a, b, what, 160);
}

TEST(restart_only_keys)
{
	char what[160];

	CHECK_EQ(restart_only(NULL, NULL, what), 0);
	/* Live: log level, status interval, the default topic, sources, view, log. */
	CHECK_EQ(restart_only("log_level: info", "log_level: debug", what), 0);
	CHECK_EQ(restart_only("status_interval: 10000ms", "status_interval: 1000ms", what), 0);
	CHECK_EQ(restart_only("topic: \"t.{source}\"", "topic: \"u.{source}\"", what), 0);
	CHECK_EQ(restart_only("name: \"a\"", "name: \"b\"", what), 0);
	CHECK_EQ(restart_only("mode: auto", "mode: off", what), 0);
	CHECK_EQ(restart_only("format: auto", "format: json", what), 0);
	/* Restart-only: named exactly. */
	CHECK(restart_only("max_bytes: 100", "max_bytes: 200", what) > 0);
	CHECK_STR(what, "spool.max_bytes");
	CHECK(restart_only("id: \"g\"", "id: \"h\"", what) > 0);
	CHECK_STR(what, "gateway.id");
	CHECK(restart_only("bootstrap: \"b:9092\"", "bootstrap: \"c:9092\"", what) > 0);
	CHECK_STR(what, "kafka.bootstrap");
	/* A nested key names its section. */
	CHECK(restart_only("linger.ms: \"5\"", "linger.ms: \"50\"", what) > 0);
	CHECK_STR(what, "kafka");
	/* A section added (http: with a new port) is a restart-only change. */
	CHECK(restart_only("view:\n", "http:\n  port: 1\nview:\n", what) > 0);
	CHECK_STR(what, "http");
}
