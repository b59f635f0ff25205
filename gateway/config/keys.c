/*
 * keys.c - the gateway's key tables (gateway, spool, kafka, view,
 * sources) and the loader that validates a file against them.
 *
 * A source item is parsed against two tables at once: the common source
 * keys below and the keys its driver declares.  A key in neither is an
 * error, with the driver named in the message.
 */
#include "conf.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "drivers/driver.h"
#include "table_internal.h"
#include "gateway/base/log.h"

static const char *const log_levels[] = {"error", "warn", "info", "debug", NULL};
static const char *const fsync_words[] = {"always", "never", NULL};
static const char *const full_words[] = {"block", "drop_oldest", "drop_newest", NULL};
static const char *const delivery_words[] = {"at_least_once", "exactly_once", NULL};
static const char *const view_words[] = {"auto", "live", "lines", "off", NULL};

static bool conf_id_ok(const char *s)
{
	if (!s || !*s || strlen(s) > 64)
		return false;
	for (; *s; s++)
		if (!(*s >= 'a' && *s <= 'z') && !(*s >= 'A' && *s <= 'Z') &&
		    !(*s >= '0' && *s <= '9') && *s != '-' && *s != '_' && *s != '.')
			return false;
	return true;
}

static int gw_check(struct sg_cfg_ctx *ctx, void *obj, const struct sg_cfg_pos *pos,
		    const char *path)
{
	struct sg_gw_conf *g = obj;
	char host[256] = "";

	if (!g->id) {
		if (gethostname(host, sizeof(host) - 1) != 0 || !conf_id_ok(host))
			snprintf(host, sizeof(host), "sensorgate");
		g->id = sg_strdup(host);
	}
	if (!conf_id_ok(g->id)) {
		sg_cfg_error(ctx, pos, path, "id '%s' must be 1-64 characters of A-Z a-z 0-9 . _ -",
			     g->id);
		return SG_ECONFIG;
	}
	return SG_OK;
}

static const struct sg_cfg_key gw_keys[] = {
    {"id", SG_CFG_STR, offsetof(struct sg_gw_conf, id), NULL, 1, 0, NULL, NULL, 0,
     "Gateway id: the first half of every event id `<id>:<seq>`. Must stay the same across "
     "restarts. Default: the host name."},
    {"log_level", SG_CFG_ENUM, offsetof(struct sg_gw_conf, log_level), "info", 1, 0, log_levels,
     NULL, 0, "Log verbosity."},
    {"shutdown_timeout", SG_CFG_DURATION, offsetof(struct sg_gw_conf, shutdown_timeout_ms), "10s",
     0, 600000, NULL, NULL, 0,
     "On SIGINT/SIGTERM, how long to wait for in-flight records to be acknowledged before exiting. "
     "Unacknowledged records stay in the spool and are sent after the next start."},
    {"status_interval", SG_CFG_DURATION, offsetof(struct sg_gw_conf, status_interval_ms), "10s",
     100, 3600000, NULL, NULL, 0, "Interval of the status line logged without a terminal."},
};
static const struct sg_cfg_table gw_table = SG_CFG_TABLE(
    "gateway", "Identity and process behaviour.", struct sg_gw_conf, gw_keys, gw_check);

static int spool_check(struct sg_cfg_ctx *ctx, void *obj, const struct sg_cfg_pos *pos,
		       const char *path)
{
	struct sg_spool_conf *s = obj;

	if (s->segment_bytes * 2 > s->max_bytes) {
		sg_cfg_error(ctx, pos, path,
			     "max_bytes (%lld) must be at least twice segment_bytes (%lld)",
			     (long long)s->max_bytes, (long long)s->segment_bytes);
		return SG_ECONFIG;
	}
	if (s->max_record_bytes + 64 > s->segment_bytes) {
		sg_cfg_error(ctx, pos, path,
			     "max_record_bytes (%lld) must be smaller than segment_bytes (%lld)",
			     (long long)s->max_record_bytes, (long long)s->segment_bytes);
		return SG_ECONFIG;
	}
	return SG_OK;
}

static const struct sg_cfg_key spool_keys[] = {
    {"dir", SG_CFG_STR, offsetof(struct sg_spool_conf, dir), "/var/lib/sensorgate/spool", 1, 0,
     NULL, NULL, 0, "Spool directory (created with mode 0700). One gateway per directory."},
    {"fsync", SG_CFG_DURATION, offsetof(struct sg_spool_conf, fsync_ms), "100ms", 1, 60000,
     fsync_words, NULL, SG_CFG_SPECIAL,
     "When appended events reach the disk: `always` (fsync before the append returns), an interval "
     "(group commit: a power cut loses at most this window), or `never` (leave it to the kernel). "
     "A process crash loses nothing in any mode."},
    {"max_bytes", SG_CFG_SIZE, offsetof(struct sg_spool_conf, max_bytes), "256MiB", 65536,
     1099511627776.0, NULL, NULL, 0,
     "Upper bound of the spool on disk; `when_full` says what happens at the bound."},
    {"segment_bytes", SG_CFG_SIZE, offsetof(struct sg_spool_conf, segment_bytes), "16MiB", 16384,
     1073741824.0, NULL, NULL, 0,
     "Size at which a segment file is closed and a new one started. Delivered segments are deleted "
     "whole."},
    {"when_full", SG_CFG_ENUM, offsetof(struct sg_spool_conf, when_full), "block", 1, 0, full_words,
     NULL, 0,
     "Policy at `max_bytes`: `block` (drivers wait: backpressure), `drop_oldest` (delete the "
     "oldest segment), `drop_newest` (refuse the new event). Every dropped event is counted and "
     "logged."},
    {"ack_interval", SG_CFG_DURATION, offsetof(struct sg_spool_conf, ack_interval_ms), "200ms", 1,
     60000, NULL, NULL, 0,
     "How often the delivery cursor is saved. After a crash, records delivered within this window "
     "are sent again (duplicates with the same event id)."},
    {"max_record_bytes", SG_CFG_SIZE, offsetof(struct sg_spool_conf, max_record_bytes), "1MiB",
     1024, 268435456.0, NULL, NULL, 0,
     "Largest single record accepted into the spool; larger events are refused with an error."},
};
const struct sg_cfg_table sg_spool_table =
    SG_CFG_TABLE("spool", "The disk spool between the drivers and Kafka.", struct sg_spool_conf,
		 spool_keys, spool_check);

static const struct sg_cfg_key kafka_keys[] = {
    {"bootstrap", SG_CFG_STR, offsetof(struct sg_kafka_conf, bootstrap), "localhost:9092", 1, 0,
     NULL, NULL, 0,
     "Broker list `host:port,...`, or `embedded` to run a mock Kafka cluster inside the gateway "
     "(demo, no install needed)."},
    {"delivery", SG_CFG_ENUM, offsetof(struct sg_kafka_conf, delivery), "at_least_once", 1, 0,
     delivery_words, NULL, 0,
     "`at_least_once`: idempotent producer, acks=all; duplicates only for records in flight at a "
     "crash (same event id). `exactly_once`: transactions, each with a checkpoint record; "
     "read_committed consumers see every event once, also across crashes."},
    {"topic", SG_CFG_STR, offsetof(struct sg_kafka_conf, topic), "sensorgate.{source}", 1, 0, NULL,
     NULL, 0, "Default topic template; `{gateway}`, `{source}` and `{sensor}` are replaced."},
    {"properties", SG_CFG_MAP, offsetof(struct sg_kafka_conf, properties), NULL, 1, 0, NULL, NULL,
     0,
     "librdkafka properties passed through as is (for example `security.protocol`, `sasl.password: "
     "${KAFKA_PASSWORD}`). The gateway's own settings (idempotence, acks) cannot be weakened "
     "here."},
    {"max_in_flight", SG_CFG_INT, offsetof(struct sg_kafka_conf, max_in_flight), "100000", 1,
     10000000, NULL, NULL, 0,
     "Most records handed to librdkafka and not yet acknowledged (bounds memory)."},
    {"checkpoint_topic", SG_CFG_STR, offsetof(struct sg_kafka_conf, checkpoint_topic),
     "sensorgate.checkpoints", 1, 0, NULL, NULL, 0,
     "exactly_once: compacted topic holding each gateway's last committed seq (key: gateway id)."},
    {"transaction_records", SG_CFG_INT, offsetof(struct sg_kafka_conf, txn_max_records), "10000", 1,
     1000000, NULL, NULL, 0, "exactly_once: most records in one transaction."},
    {"transaction_interval", SG_CFG_DURATION, offsetof(struct sg_kafka_conf, txn_interval_ms),
     "100ms", 1, 60000, NULL, NULL, 0,
     "exactly_once: longest time a transaction stays open collecting records (bounds latency)."},
    {"embedded_brokers", SG_CFG_INT, offsetof(struct sg_kafka_conf, embedded_brokers), "3", 1, 9,
     NULL, NULL, 0, "Brokers in the embedded mock cluster."},
    {"embedded_partitions", SG_CFG_INT, offsetof(struct sg_kafka_conf, embedded_partitions), "3", 1,
     64, NULL, NULL, 0, "Partitions of each topic auto-created in the embedded cluster."},
};
static const struct sg_cfg_table kafka_table =
    SG_CFG_TABLE("kafka", "The Kafka producer.", struct sg_kafka_conf, kafka_keys, NULL);

static const struct sg_cfg_key view_keys[] = {
    {"mode", SG_CFG_ENUM, offsetof(struct sg_view_conf, mode), "auto", 1, 0, view_words, NULL, 0,
     "`live`: full-screen view refreshed every interval; `lines`: one status line per interval; "
     "`auto`: live on a terminal, else lines; `off`."},
    {"interval", SG_CFG_DURATION, offsetof(struct sg_view_conf, interval_ms), "1s", 100, 3600000,
     NULL, NULL, 0, "Refresh interval of the live view."},
    {"tail", SG_CFG_INT, offsetof(struct sg_view_conf, tail), "0", 0, 50, NULL, NULL, 0,
     "Latest records to read back from Kafka with a consumer and show in the live view (0 = no "
     "consumer)."},
};
static const struct sg_cfg_table view_table = SG_CFG_TABLE(
    "view", "The status view of `sensorgate run`.", struct sg_view_conf, view_keys, NULL);

static const struct sg_cfg_key act_keys[] = {
    {"topic", SG_CFG_STR, offsetof(struct sg_act_conf, topic), NULL, 1, 0, NULL, NULL, 0,
     "Topic of command records (key `SOURCE/TARGET`, value the new value); unset: no commands are "
     "taken."},
    {"max_age", SG_CFG_DURATION, offsetof(struct sg_act_conf, max_age_ms), "60s", 1, 86400000, NULL,
     NULL, 0,
     "Commands older than this (record timestamp) are not applied, for example after an outage."},
};
static const struct sg_cfg_table act_table = SG_CFG_TABLE(
    "actuators",
    "Commands from Kafka applied to drivers that can write (Modbus registers, GPIO outputs).",
    struct sg_act_conf, act_keys, NULL);

static const struct sg_cfg_key source_keys[] = {
    {"name", SG_CFG_STR, offsetof(struct sg_source_conf, name), NULL, 1, 0, NULL, NULL,
     SG_CFG_REQUIRED,
     "Instance name, unique: named in every log line and counter, and the `source` of its events."},
    {"driver", SG_CFG_STR, offsetof(struct sg_source_conf, driver), NULL, 1, 0, NULL, NULL,
     SG_CFG_REQUIRED, "Driver: one of the drivers below."},
    {"topic", SG_CFG_STR, offsetof(struct sg_source_conf, topic), NULL, 1, 0, NULL, NULL, 0,
     "Topic template for this source (default `kafka.topic`)."},
    {"enabled", SG_CFG_BOOL, offsetof(struct sg_source_conf, enabled), "true", 1, 0, NULL, NULL, 0,
     "Set false to keep a source in the file without running it."},
};
static const struct sg_cfg_table source_table = SG_CFG_TABLE(
    "sources[]", "Common keys of every source; the driver's own keys follow in the same mapping.",
    struct sg_source_conf, source_keys, NULL);

static const struct sg_cfg_key top_keys[] = {
    {"gateway", SG_CFG_SECTION, offsetof(struct sg_conf, gateway), NULL, 1, 0, NULL, &gw_table, 0,
     "Identity and process behaviour."},
    {"spool", SG_CFG_SECTION, offsetof(struct sg_conf, spool), NULL, 1, 0, NULL, &sg_spool_table, 0,
     "The disk spool."},
    {"kafka", SG_CFG_SECTION, offsetof(struct sg_conf, kafka), NULL, 1, 0, NULL, &kafka_table, 0,
     "The Kafka producer."},
    {"sources", SG_CFG_SOURCES, offsetof(struct sg_conf, sources), NULL, 1, 0, NULL, &source_table,
     0, "Driver instances."},
    {"view", SG_CFG_SECTION, offsetof(struct sg_conf, view), NULL, 1, 0, NULL, &view_table, 0,
     "Status output."},
    {"actuators", SG_CFG_SECTION, offsetof(struct sg_conf, actuators), NULL, 1, 0, NULL, &act_table,
     0, "Commands from Kafka to drivers."},
};
const struct sg_cfg_table sg_conf_table = SG_CFG_TABLE(
    "", "The top-level sections of a sensorgate YAML file.", struct sg_conf, top_keys, NULL);

int sg_cfg_parse_sources(struct sg_cfg_ctx *ctx, struct fy_node *seq, const struct sg_cfg_pos *pos,
			 const char *path, void *target)
{
	struct sg_cfg_list *l = target;
	int n = fy_node_sequence_item_count(seq), i = 0, rc = SG_OK;
	struct fy_node *item;
	void *iter = NULL;
	char ipath[256];

	l->items = sg_xcalloc((size_t)n, sizeof(struct sg_source_conf));
	l->n = 0;
	while ((item = fy_node_sequence_iterate(seq, &iter))) {
		struct sg_source_conf *sc = (struct sg_source_conf *)l->items + i;
		struct fy_node *dn = NULL;
		const struct sg_driver *drv = NULL;
		struct sg_cfg_pos ipos = *pos;

		if (snprintf(ipath, sizeof(ipath), "%s[%d]", path, i) >= (int)sizeof(ipath))
			ipath[sizeof(ipath) - 1] = '\0';
		sg_cfg_defaults(&source_table, sc);
		l->n = (size_t)++i;
		if (!fy_node_is_mapping(item)) {
			sg_cfg_error(ctx, &ipos, ipath, "expected a mapping");
			rc = SG_ECONFIG;
			continue;
		}
		dn = fy_node_mapping_lookup_value_by_simple_key(item, "driver", FY_NT);
		if (dn && fy_node_is_scalar(dn)) {
			size_t len;
			const char *s = fy_node_get_scalar(dn, &len);
			char name[64];
			struct sg_cfg_pos dpos = sg_cfg_node_pos(ctx, dn);

			snprintf(name, sizeof(name), "%.*s", (int)len, s);
			drv = sg_driver_find(name);
			if (!drv) {
				struct sg_buf known;
				sg_buf_init(&known);
				for (int d = 0; sg_drivers[d]; d++)
					sg_buf_printf(&known, "%s%s", d ? ", " : "",
						      sg_drivers[d]->name);
				sg_cfg_error(ctx, &dpos, ipath, "unknown driver '%s' (known: %s)",
					     name, known.p ? known.p : "");
				sg_buf_free(&known);
				rc = SG_ECONFIG;
				continue;
			}
			sc->drv = drv;
			sc->dconf = sg_xcalloc(1, drv->conf->size);
			sg_cfg_defaults(drv->conf, sc->dconf);
		}
		void *it0 = NULL;
		struct fy_node_pair *p0 = fy_node_mapping_iterate(item, &it0);
		if (p0)
			ipos = sg_cfg_node_pos(ctx, fy_node_pair_key(p0));
		sc->pos = ipos;
		if (sg_cfg_parse_map(ctx, item, &ipos, ipath, &source_table, sc,
				     drv ? drv->conf : NULL, sc->dconf) != SG_OK)
			rc = SG_ECONFIG;
	}
	/* Names must be unique and safe to use in file names and labels. */
	for (size_t a = 0; a < l->n; a++) {
		struct sg_source_conf *sa = (struct sg_source_conf *)l->items + a;

		if (!sa->name)
			continue;
		snprintf(ipath, sizeof(ipath), "%s[%zu].name", path, a);
		if (!conf_id_ok(sa->name)) {
			sg_cfg_error(ctx, &sa->pos, ipath,
				     "'%s' must be 1-64 characters of A-Z a-z 0-9 . _ -", sa->name);
			rc = SG_ECONFIG;
		}
		for (size_t b = 0; b < a; b++) {
			struct sg_source_conf *sb = (struct sg_source_conf *)l->items + b;
			if (sb->name && !strcmp(sa->name, sb->name)) {
				sg_cfg_error(ctx, &sa->pos, ipath, "duplicate source name '%s'",
					     sa->name);
				rc = SG_ECONFIG;
			}
		}
	}
	return rc;
}

void sg_cfg_free_sources(void *target)
{
	struct sg_cfg_list *l = target;

	for (size_t i = 0; i < l->n; i++) {
		struct sg_source_conf *sc = (struct sg_source_conf *)l->items + i;
		if (sc->drv && sc->dconf)
			sg_cfg_free(sc->drv->conf, sc->dconf);
		free(sc->dconf);
		sg_cfg_free(&source_table, sc);
	}
	free(l->items);
	memset(l, 0, sizeof(*l));
}

void sg_cfg_dump_sources(const void *target, int indent, void *fp)
{
	const struct sg_cfg_list *l = target;

	for (size_t i = 0; i < l->n; i++) {
		const struct sg_source_conf *sc = (const struct sg_source_conf *)l->items + i;
		fprintf(fp, "%*s-\n", indent, "");
		sg_cfg_dump(&source_table, sc, indent + 2, fp);
		if (sc->drv)
			sg_cfg_dump(sc->drv->conf, sc->dconf, indent + 2, fp);
	}
}

int sg_conf_load(const char *file, struct sg_conf *conf, char **errors)
{
	struct sg_cfg_ctx ctx = {.file = file};
	struct fy_parse_cfg pcfg = {.flags = FYPCF_DEFAULT_DOC};
	struct fy_document *doc;
	struct fy_node *root;
	struct sg_cfg_pos pos = {.file = file, .line = 1, .col = 1};
	int rc;

	memset(conf, 0, sizeof(*conf));
	sg_cfg_defaults(&sg_conf_table, conf);
	*errors = NULL;
	if (access(file, R_OK) != 0) {
		sg_cfg_error(&ctx, NULL, "(file)", "cannot read the file");
		*errors = ctx.errors.p;
		return SG_ECONFIG;
	}
	pcfg.flags &= ~FYPCF_QUIET;
	doc = fy_document_build_from_file(&pcfg, file);
	if (!doc) {
		sg_cfg_error(&ctx, NULL, "(file)", "not valid YAML (see the parser message above)");
		*errors = ctx.errors.p;
		return SG_ECONFIG;
	}
	root = fy_document_root(doc);
	if (!root || fy_node_is_null(root)) {
		rc = SG_OK; /* an empty file: all defaults */
		gw_check(&ctx, &conf->gateway, &pos, "gateway");
	} else if (!fy_node_is_mapping(root)) {
		sg_cfg_error(&ctx, &pos, "(top level)", "expected a mapping");
		rc = SG_ECONFIG;
	} else {
		rc = sg_cfg_parse_map(&ctx, root, &pos, "", &sg_conf_table, conf, NULL, NULL);
		if (!fy_node_mapping_lookup_value_by_simple_key(root, "gateway", FY_NT))
			gw_check(&ctx, &conf->gateway, &pos, "gateway");
	}
	fy_document_destroy(doc);
	if (ctx.nerrors) {
		*errors = ctx.errors.p;
		return SG_ECONFIG;
	}
	sg_buf_free(&ctx.errors);
	return rc;
}

void sg_conf_free(struct sg_conf *conf)
{
	sg_cfg_free(&sg_conf_table, conf);
}

void sg_conf_doc(void *fpv)
{
	FILE *fp = fpv;

	fprintf(fp, "# Configuration reference\n\n"
		    "Generated by `sensorgate config-doc` from the key tables in the "
		    "source; a test fails when this file and the tables disagree. "
		    "Durations take `ms`, `s`, `m`, `h` (a bare number is milliseconds); "
		    "sizes take `k`, `M`, `G` (powers of 1024). Any string may use "
		    "`${ENV_VAR}`; a secret may be `file:/path/to/file`. Unknown keys, "
		    "wrong types and out-of-range values are errors reported as "
		    "`FILE:LINE:COL: key.path: what is wrong`.\n");
	sg_cfg_doc(&sg_conf_table, "", fp);
	sg_cfg_doc(&gw_table, "gateway", fp);
	sg_cfg_doc(&sg_spool_table, "spool", fp);
	sg_cfg_doc(&kafka_table, "kafka", fp);
	sg_cfg_doc(&view_table, "view", fp);
	sg_cfg_doc(&act_table, "actuators", fp);
	sg_cfg_doc(&source_table, "sources[]", fp);
	for (int d = 0; sg_drivers[d]; d++) {
		char prefix[96];

		fprintf(fp, "\n## Driver `%s`\n\n%s\n", sg_drivers[d]->name, sg_drivers[d]->help);
		snprintf(prefix, sizeof(prefix), "sources[] (driver: %s)", sg_drivers[d]->name);
		sg_cfg_doc(sg_drivers[d]->conf, prefix, fp);
	}
}

void sg_topic_expand(const char *tmpl, const char *gw, const char *source, const char *sensor,
		     char *out, size_t outsz)
{
	size_t o = 0;

	for (const char *p = tmpl; *p && o + 1 < outsz;) {
		const char *val = NULL;
		size_t skip = 0;

		if (!strncmp(p, "{gateway}", 9))
			val = gw, skip = 9;
		else if (!strncmp(p, "{source}", 8))
			val = source, skip = 8;
		else if (!strncmp(p, "{sensor}", 8))
			val = sensor, skip = 8;
		if (val) {
			for (; *val && o + 1 < outsz; val++)
				out[o++] = *val;
			p += skip;
		} else {
			out[o++] = *p++;
		}
	}
	out[o] = '\0';
}
