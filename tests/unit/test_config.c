/*
 * test_config.c - the configuration loader: every error names
 * FILE:LINE:COL and the key path; defaults, units, ${ENV} and file:
 * secrets; the generated reference matches the tables.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/config/conf.h"
#include "gateway/base/buf.h"
#include "gateway/base/clock.h"
#include "gateway/base/mem.h"
#include "t.h"
#include "gateway/base/parse.h"
#include "gateway/base/fs.h"

static char *write_conf(const char *text)
{
	static char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/c.yaml", t_tmpdir());
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	return path;
}

/* Load text; return the error text (static) or NULL when valid. */
static const char *load(const char *text, struct sg_conf *c)
{
	static char errs[8192];
	char *e = NULL;
	const char *path = write_conf(text);
	int rc = sg_conf_load(path, c, &e);

	errs[0] = '\0';
	if (e) {
		/* strip the directory so expectations are stable */
		const char *p = e;
		size_t o = 0;
		while (*p && o + 1 < sizeof(errs)) {
			if (!strncmp(p, path, strlen(path))) {
				o += (size_t)snprintf(errs + o, sizeof(errs) - o, "c.yaml");
				p += strlen(path);
			} else {
				errs[o++] = *p++;
			}
		}
		errs[o] = '\0';
		free(e);
	}
	if (rc == SG_OK)
		return NULL;
	return errs;
}

#define EXPECT_ERR(text, needle)                                                                   \
	do {                                                                                       \
		struct sg_conf _c;                                                                 \
		const char *_e = load(text, &_c);                                                  \
		if (!_e || !strstr(_e, needle))                                                    \
			t_fail(__FILE__, __LINE__, "expected error '%s', got: %s", needle,         \
			       _e ? _e : "(valid)");                                               \
		sg_conf_free(&_c);                                                                 \
	} while (0)

TEST(defaults_and_units)
{
	struct sg_conf c;
	const char *e =
	    load("gateway: {id: gw1}\n"
		 "spool: {dir: /tmp/x, fsync: 250ms, max_bytes: 64MiB, segment_bytes: 4MiB}\n"
		 "sources:\n"
		 "  - name: s\n"
		 "    driver: sim\n"
		 "    sensors: [{id: a, rate: 0.5}]\n",
		 &c);
	CHECK(e == NULL);
	CHECK_STR(c.gateway.id, "gw1");
	CHECK_EQ(c.spool.fsync_ms, 250);
	CHECK_EQ(c.spool.max_bytes, 64LL << 20);
	CHECK_EQ(c.spool.when_full, SG_FULL_BLOCK);
	CHECK_STR(c.kafka.topic, "sensorgate.{source}");
	CHECK_EQ(c.sources.n, 1);
	sg_conf_free(&c);
	e = load("spool: {fsync: always}\n", &c);
	CHECK(e == NULL);
	CHECK_EQ(c.spool.fsync_ms, SG_FSYNC_ALWAYS);
	sg_conf_free(&c);
	e = load("spool: {fsync: never}\n", &c);
	CHECK(e == NULL);
	CHECK_EQ(c.spool.fsync_ms, SG_FSYNC_NEVER);
	sg_conf_free(&c);
}

TEST(unknown_key_with_position)
{
	EXPECT_ERR("gateway:\n  id: a\n  colour: red\n", "c.yaml:3:3: gateway.colour: unknown key");
	EXPECT_ERR("spool:\n  dir: /x\nkafak: {}\n", "c.yaml:3:1: kafak: unknown key");
}

TEST(wrong_type_and_range)
{
	EXPECT_ERR("spool:\n  max_bytes: lots\n",
		   "c.yaml:2:14: spool.max_bytes: 'lots' is not a size");
	EXPECT_ERR("spool:\n  fsync: sometimes\n", "spool.fsync: 'sometimes' is not a duration");
	EXPECT_ERR("spool:\n  when_full: explode\n",
		   "spool.when_full: 'explode' is not one of: block, drop_oldest, drop_newest");
	EXPECT_ERR("spool:\n  fsync: 2h\n", "spool.fsync: 2h is out of range");
	EXPECT_ERR("kafka:\n  max_in_flight: 0\n", "kafka.max_in_flight: 0 is out of range");
	EXPECT_ERR("gateway: [1, 2]\n", "gateway: expected a mapping");
	EXPECT_ERR("kafka:\n  properties: [a]\n", "kafka.properties: expected a mapping");
}

TEST(sources_errors_name_the_item)
{
	EXPECT_ERR("sources:\n  - name: a\n    driver: nosuch\n",
		   "c.yaml:3:13: sources[0]: unknown driver 'nosuch'");
	EXPECT_ERR("sources:\n  - name: a\n    driver: sim\n    sensors: [{id: x}]\n    bogus: 1\n",
		   "c.yaml:5:5: sources[0].bogus: unknown key");
	EXPECT_ERR("sources:\n  - driver: sim\n    sensors: [{id: x}]\n",
		   "sources[0].name: required key is missing");
	EXPECT_ERR("sources:\n  - {name: a, driver: sim, sensors: [{id: x, rate: 0}]}\n",
		   "sources[0].sensors[0].rate: 0 is out of range");
	EXPECT_ERR("sources:\n  - {name: a, driver: sim, sensors: [{id: x}]}\n"
		   "  - {name: a, driver: sim, sensors: [{id: y}]}\n",
		   "duplicate source name 'a'");
	EXPECT_ERR("sources:\n  - {name: 'a b', driver: sim, sensors: [{id: x}]}\n",
		   "must be 1-64 characters");
}

TEST(several_errors_reported_at_once)
{
	struct sg_conf c;
	const char *e = load("spool: {max_bytes: x, when_full: y}\nbad: 1\n", &c);
	int lines = 0;

	CHECK(e != NULL);
	for (const char *p = e; p && *p; p++)
		lines += *p == '\n';
	CHECK_EQ(lines, 3);
	sg_conf_free(&c);
}

TEST(env_and_file_secrets)
{
	struct sg_conf c;
	char sfile[600], text[1200];
	FILE *f;
	const char *e;

	setenv("SG_TEST_TOPIC", "plant7", 1);
	e = load("kafka:\n  topic: \"${SG_TEST_TOPIC}.{source}\"\n", &c);
	CHECK(e == NULL);
	CHECK_STR(c.kafka.topic, "plant7.{source}");
	sg_conf_free(&c);
	EXPECT_ERR("kafka:\n  topic: \"${SG_TEST_UNSET_VAR}\"\n",
		   "c.yaml:2:11: kafka.topic: environment variable SG_TEST_UNSET_VAR is not set");
	EXPECT_ERR("kafka:\n  topic: \"${oops\"\n", "malformed ${NAME} reference");
	/* Properties expand ${ENV} too (passwords for SASL). */
	setenv("SG_TEST_PW", "s3cret", 1);
	e = load("kafka:\n  properties: {sasl.password: \"${SG_TEST_PW}\"}\n", &c);
	CHECK(e == NULL);
	CHECK_STR(c.kafka.properties.kv[0].val, "s3cret");
	sg_conf_free(&c);
	snprintf(sfile, sizeof(sfile), "%s/pw", t_tmpdir());
	f = fopen(sfile, "w");
	fputs("from-a-file\n", f);
	fclose(f);
	(void)text;
}

TEST(dump_never_prints_secrets)
{
	struct sg_conf c;
	char *buf = NULL;
	size_t len = 0;
	FILE *mf;

	setenv("SG_TEST_PW", "s3cret-value", 1);
	CHECK(
	    load(
		"kafka:\n  properties: {sasl.password: \"${SG_TEST_PW}\", ssl.key.password: abc}\n",
		&c) == NULL);
	mf = open_memstream(&buf, &len);
	sg_cfg_dump(&sg_conf_table, &c, 0, mf);
	fclose(mf);
	CHECK(strstr(buf, "s3cret-value") == NULL);
	CHECK(strstr(buf, "abc") == NULL);
	CHECK(strstr(buf, "<secret>") != NULL);
	free(buf);
	sg_conf_free(&c);
}

TEST(invalid_yaml)
{
	EXPECT_ERR("gateway: {id: [\n", "not valid YAML");
}

TEST(durations_and_sizes)
{
	int64_t v;

	CHECK(sg_parse_duration_ms("250ms", &v) == 0 && v == 250);
	CHECK(sg_parse_duration_ms("1.5s", &v) == 0 && v == 1500);
	CHECK(sg_parse_duration_ms("2m", &v) == 0 && v == 120000);
	CHECK(sg_parse_duration_ms("100", &v) == 0 && v == 100);
	CHECK(sg_parse_duration_ms("-1s", &v) != 0);
	CHECK(sg_parse_duration_ms("5 parsecs", &v) != 0);
	CHECK(sg_parse_size("16MiB", &v) == 0 && v == 16 << 20);
	CHECK(sg_parse_size("512k", &v) == 0 && v == 512 << 10);
	CHECK(sg_parse_size("1G", &v) == 0 && v == 1LL << 30);
	CHECK(sg_parse_size("12 bananas", &v) != 0);
}

/* docs/config.md is generated from the tables: they must agree. */
TEST(config_doc_matches_tables)
{
	char *buf = NULL, *doc = NULL;
	size_t len = 0, dlen = 0;
	FILE *mf = open_memstream(&buf, &len);
	const char *root = getenv("SG_SRCDIR") ? getenv("SG_SRCDIR") : ".";
	char path[600];

	sg_conf_doc(mf);
	fclose(mf);
	snprintf(path, sizeof(path), "%s/docs/config.md", root);
	if (sg_read_file(path, 1 << 22, &doc, &dlen) != SG_OK) {
		t_fail(__FILE__, __LINE__, "cannot read %s", path);
	} else if (dlen != len || memcmp(doc, buf, len)) {
		t_fail(__FILE__, __LINE__,
		       "docs/config.md is out of date: run `make docs` and commit it");
	}
	free(doc);
	free(buf);
}

/* Each section of the reference appears once: the top-level sections were
 * listed twice (once by the walker, once more by sg_conf_doc). */
TEST(config_doc_lists_each_section_once)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *mf = open_memstream(&buf, &len);
	static const char *const heads[] = {
	    "### `(top level)`\n", "### `gateway`\n",   "### `spool`\n",
	    "### `kafka`\n",       "### `sources[]`\n", "### `view`\n",
	    "### `actuators`\n",   "## Driver `sim`\n", "### `sources[] (driver: sim)`\n",
	};

	sg_conf_doc(mf);
	fclose(mf);
	for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
		const char *first = strstr(buf, heads[i]);
		if (!first || strstr(first + 1, heads[i]))
			t_fail(__FILE__, __LINE__, "%.*s appears %s", (int)strlen(heads[i]) - 1,
			       heads[i], first ? "more than once" : "never");
	}
	free(buf);
}

TEST(sources_list_errors)
{
	EXPECT_ERR("sources: {a: 1}\n", "c.yaml:1:1: sources: expected a sequence");
	EXPECT_ERR("sources: [1]\n", "c.yaml:1:1: sources[0]: expected a mapping");
	EXPECT_ERR("sources:\n", "c.yaml:1:1: sources: missing value");
	EXPECT_ERR("sources:\n  - name: s\n    driver: [sim]\n",
		   "c.yaml:3:5: sources[0].driver: expected a scalar");
	/* The common keys' and the driver's missing keys, both. */
	EXPECT_ERR("sources:\n  - {driver: sim}\n",
		   "c.yaml:2:6: sources[0].name: required key is missing\n"
		   "c.yaml:2:6: sources[0].sensors: required key is missing\n");
}

/* check --print: a source's common keys, then its driver's. */
TEST(dump_prints_sources_with_driver_keys)
{
	struct sg_conf c;
	char *buf = NULL;
	size_t len = 0;
	FILE *mf;

	CHECK(load("sources:\n  - {name: s, driver: sim, sensors: [{id: a}]}\n", &c) == NULL);
	mf = open_memstream(&buf, &len);
	sg_cfg_dump(&sg_conf_table, &c, 0, mf);
	fclose(mf);
	CHECK(strstr(buf, "\nsources:\n  -\n    name: \"s\"\n    driver: \"sim\"\n    topic: ~\n"
			  "    enabled: true\n    sensors:\n      -\n        id: \"a\"\n") != NULL);
	CHECK(strstr(buf, "\nview:\n  mode: auto\n") != NULL);
	free(buf);
	sg_conf_free(&c);
	CHECK(c.sources.n == 0 && c.sources.items == NULL);
}
