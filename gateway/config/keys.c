/*
 * keys.c - the gateway's key tables (gateway, spool, kafka, view,
 * sources) and the loader that validates a file against them.
 *
 * `sources` is a custom key (struct sg_cfg_custom, table_internal.h): each
 * item is parsed against two tables at once, the common source keys below
 * and the keys its driver declares.  A key in neither is an error.  The
 * walker in table.c knows nothing of sources or drivers.
 */
#include "conf.h"

#include <arpa/inet.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "drivers/driver.h"
#include "table_internal.h"
#include "gateway/base/mem.h"

static const char *const log_levels[] = {"error", "warn", "info", "debug", NULL};
static const char *const fsync_words[] = {"always", "never", NULL};
static const char *const full_words[] = {"block", "drop_oldest", "drop_newest", NULL};
static const char *const delivery_words[] = {"at_least_once", "exactly_once", NULL};
static const char *const view_words[] = {"auto", "live", "lines", "off", NULL};
static const char *const format_words[] = {"json", "avro", NULL};
static const char *const strategy_words[] = {"topic", "record", NULL};
static const char *const key_format_words[] = {"string", "avro", NULL};

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
    SG_KEY_STR("id", struct sg_gw_conf, id, NULL,
	       "Gateway id: the first half of every event id `<id>:<seq>`. Must stay the same "
	       "across restarts. Default: the host name."),
    SG_KEY_ENUM("log_level", struct sg_gw_conf, log_level, "info", log_levels, "Log verbosity."),
    SG_KEY_DURATION("shutdown_timeout", struct sg_gw_conf, shutdown_timeout_ms, "10s", 0, 600000,
		    "On SIGINT/SIGTERM, how long to wait for in-flight records to be acknowledged "
		    "before exiting. Unacknowledged records stay in the spool and are sent after "
		    "the next start."),
    SG_KEY_DURATION("status_interval", struct sg_gw_conf, status_interval_ms, "10s", 100, 3600000,
		    "Interval of the status line logged without a terminal."),
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
    SG_KEY_STR("dir", struct sg_spool_conf, dir, "/var/lib/sensorgate/spool",
	       "Spool directory (created with mode 0700). One gateway per directory."),
    SG_KEY_DURATION(
	"fsync", struct sg_spool_conf, fsync_ms, "100ms", 1, 60000,
	"When appended events reach the disk: `always` (fsync before the append "
	"returns), an interval (group commit: a power cut loses at most this window), "
	"or `never` (leave it to the kernel). A process crash loses nothing in any mode.",
	SG_SPECIAL(fsync_words)),
    SG_KEY_SIZE("max_bytes", struct sg_spool_conf, max_bytes, "256MiB", 65536, 1099511627776.0,
		"Upper bound of the spool on disk; `when_full` says what happens at the bound."),
    SG_KEY_SIZE("segment_bytes", struct sg_spool_conf, segment_bytes, "16MiB", 16384, 1073741824.0,
		"Size at which a segment file is closed and a new one started. Delivered segments "
		"are deleted whole."),
    SG_KEY_ENUM("when_full", struct sg_spool_conf, when_full, "block", full_words,
		"Policy at `max_bytes`: `block` (drivers wait: backpressure), `drop_oldest` "
		"(delete the oldest segment), `drop_newest` (refuse the new event). Every dropped "
		"event is counted and logged."),
    SG_KEY_DURATION("ack_interval", struct sg_spool_conf, ack_interval_ms, "200ms", 1, 60000,
		    "How often the delivery cursor is saved. After a crash, records delivered "
		    "within this window are sent again (duplicates with the same event id)."),
    SG_KEY_SIZE("max_record_bytes", struct sg_spool_conf, max_record_bytes, "1MiB", 1024,
		268435456.0,
		"Largest single record accepted into the spool; larger events are refused with an "
		"error."),
};
const struct sg_cfg_table sg_spool_table =
    SG_CFG_TABLE("spool", "The disk spool between the drivers and Kafka.", struct sg_spool_conf,
		 spool_keys, spool_check);

static const struct sg_cfg_key kafka_keys[] = {
    SG_KEY_STR("bootstrap", struct sg_kafka_conf, bootstrap, "localhost:9092",
	       "Broker list `host:port,...`, or `embedded` to run a mock Kafka cluster inside the "
	       "gateway (demo, no install needed)."),
    SG_KEY_ENUM("delivery", struct sg_kafka_conf, delivery, "at_least_once", delivery_words,
		"`at_least_once`: idempotent producer, acks=all; duplicates only for records in "
		"flight at a crash (same event id). `exactly_once`: transactions, each with a "
		"checkpoint record; read_committed consumers see every event once, also across "
		"crashes."),
    SG_KEY_ENUM("format", struct sg_kafka_conf, format, "json", format_words,
		"Record values: `json` (the JSON envelope v1) or `avro` (Confluent wire format: "
		"byte 0, the 4-byte schema id, the Avro binary of the event; needs "
		"`schema_registry`). See docs/events.md and docs/schemas.md."),
    SG_KEY_STR("topic", struct sg_kafka_conf, topic, "sensorgate.{source}",
	       "Default topic template; `{gateway}`, `{source}` and `{sensor}` are replaced."),
    SG_KEY_MAP("properties", struct sg_kafka_conf, properties,
	       "librdkafka properties passed through as is (for example `security.protocol`, "
	       "`sasl.password: ${KAFKA_PASSWORD}`). The gateway's own settings (idempotence, "
	       "acks) cannot be weakened here."),
    SG_KEY_INT("max_in_flight", struct sg_kafka_conf, max_in_flight, "8192", 1, 10000000,
	       "Most records handed to librdkafka and not yet acknowledged (one window slot of "
	       "32 bytes each; see also `max_in_flight_bytes`)."),
    SG_KEY_SIZE("max_in_flight_bytes", struct sg_kafka_conf, max_in_flight_bytes, "1MiB", 65536,
		1073741824.0,
		"Most bytes (value, key, headers and topic) of the records handed to librdkafka "
		"and not yet acknowledged; a record larger than this goes on its own. Bounds the "
		"producer's memory: at full rate each MiB of it adds about 3.5 MB to the peak RSS "
		"(librdkafka's copy of each record, its headers and its request buffers; its queue "
		"is capped at twice this plus 1 MiB). 1 MiB keeps 10 MB/s (80 Mbit/s) "
		"in flight over a 100 ms round trip, more than a Raspberry Pi's uplink usually "
		"carries; a larger window costs memory and, on a local broker, CPU (its data no "
		"longer stays in the caches)."),
    SG_KEY_DURATION(
	"batch_wait", struct sg_kafka_conf, batch_wait_ms, "5ms", 0, 1000,
	"at_least_once: while events flow, the producer reads the spool at most once "
	"per this interval and hands librdkafka what gathered, so a steady trickle "
	"costs one wake-up (and one broker request per partition) per interval, not "
	"per event. The first event after a quiet spell is read at once; others wait "
	"at most this long, then librdkafka's linger.ms (1 ms by default here). Delivery "
	"reports that come meanwhile are served at the interval's end too. 0: every "
	"event is read as soon as it is appended."),
    SG_KEY_STR("checkpoint_topic", struct sg_kafka_conf, checkpoint_topic, "sensorgate.checkpoints",
	       "exactly_once: compacted topic holding each gateway's last committed seq (key: "
	       "gateway id)."),
    SG_KEY_INT("transaction_records", struct sg_kafka_conf, txn_max_records, "10000", 1, 1000000,
	       "exactly_once: most records in one transaction."),
    SG_KEY_DURATION("transaction_interval", struct sg_kafka_conf, txn_interval_ms, "100ms", 1,
		    60000,
		    "exactly_once: longest time a transaction stays open collecting records "
		    "(bounds latency)."),
    SG_KEY_INT("embedded_brokers", struct sg_kafka_conf, embedded_brokers, "3", 1, 9,
	       "Brokers in the embedded mock cluster."),
    SG_KEY_INT("embedded_partitions", struct sg_kafka_conf, embedded_partitions, "3", 1, 64,
	       "Partitions of each topic auto-created in the embedded cluster."),
    SG_KEY_SECTION("security", struct sg_kafka_conf, security, &sg_kafka_security_table,
		   "TLS and SASL for every Kafka client (keys_security.c, docs/security.md)."),
};
static const struct sg_cfg_table kafka_table =
    SG_CFG_TABLE("kafka", "The Kafka producer.", struct sg_kafka_conf, kafka_keys, NULL);

static const struct sg_cfg_key view_keys[] = {
    SG_KEY_ENUM("mode", struct sg_view_conf, mode, "auto", view_words,
		"`live`: full-screen view refreshed every interval; `lines`: one status line per "
		"interval; `auto`: live on a terminal, else lines; `off`."),
    SG_KEY_DURATION("interval", struct sg_view_conf, interval_ms, "1s", 100, 3600000,
		    "Refresh interval of the live view."),
    SG_KEY_INT("tail", struct sg_view_conf, tail, "0", 0, 50,
	       "Latest records to read back from Kafka with a consumer and show in the live view "
	       "(0 = no consumer)."),
};
static const struct sg_cfg_table view_table = SG_CFG_TABLE(
    "view", "The status view of `sensorgate run`.", struct sg_view_conf, view_keys, NULL);

static const struct sg_cfg_key act_keys[] = {
    SG_KEY_STR("topic", struct sg_act_conf, topic, NULL,
	       "Topic of command records (key `SOURCE/TARGET`, value the new value); unset: no "
	       "commands are taken."),
    SG_KEY_DURATION(
	"max_age", struct sg_act_conf, max_age_ms, "60s", 1, 86400000,
	"Commands older than this (record timestamp) are not applied, for example after "
	"an outage."),
};
static const struct sg_cfg_table act_table = SG_CFG_TABLE(
    "actuators",
    "Commands from Kafka applied to drivers that can write (Modbus registers, GPIO outputs).",
    struct sg_act_conf, act_keys, NULL);

static int registry_check(struct sg_cfg_ctx *ctx, void *obj, const struct sg_cfg_pos *pos,
			  const char *path)
{
	struct sg_registry_conf *r = obj;

	if (r->url && strncmp(r->url, "http://", 7) && strncmp(r->url, "https://", 8)) {
		sg_cfg_error(ctx, pos, path, "url '%s' must start with http:// or https://",
			     r->url);
		return SG_ECONFIG;
	}
	if (!r->username != !r->password) {
		sg_cfg_error(ctx, pos, path, "username and password go together (basic auth)");
		return SG_ECONFIG;
	}
	return SG_OK;
}

static const struct sg_cfg_key registry_keys[] = {
    SG_KEY_STR("url", struct sg_registry_conf, url, NULL,
	       "Base URL of a Confluent-compatible Schema Registry (`http://host:8081`, or "
	       "Apicurio's `http://host:8080/apis/ccompat/v7`). Required with `kafka.format: "
	       "avro`."),
    SG_KEY_STR("username", struct sg_registry_conf, username, NULL,
	       "Basic auth user (Confluent Cloud: the API key)."),
    SG_KEY_SECRET("password", struct sg_registry_conf, password,
		  "Basic auth password (Confluent Cloud: the API secret): `${ENV}` or "
		  "`file:/path`."),
    SG_KEY_STR("ca_file", struct sg_registry_conf, ca_file, NULL,
	       "PEM file of the CA(s) that signed the registry's https certificate (default: "
	       "the system's CAs). The host name is always verified."),
    SG_KEY_ENUM("subject_strategy", struct sg_registry_conf, subject_strategy, "topic",
		strategy_words,
		"Subject names: `topic` (TopicNameStrategy: `<topic>-value`, `<topic>-key`) or "
		"`record` (RecordNameStrategy: the schema's full name, `sensorgate.Event`)."),
    SG_KEY_BOOL("auto_register", struct sg_registry_conf, auto_register, "true",
		"Register the schema under each subject once (the registry checks its "
		"compatibility); false: only look its id up (locked-down registries), and "
		"records wait until someone registers it."),
    SG_KEY_ENUM("key_format", struct sg_registry_conf, key_format, "string", key_format_words,
		"Record keys: `string` (the sensor id as is) or `avro` (an Avro string in the "
		"wire format, subject `<topic>-key`)."),
    SG_KEY_STR("schema_file", struct sg_registry_conf, schema_file, NULL,
	       "An evolved event schema (`.avsc`) to use instead of the built-in one: fields "
	       "of gateway/schema/sensorgate.avsc keep their types, added fields must be "
	       "nullable with default null (docs/schemas.md)."),
    SG_KEY_DURATION("timeout", struct sg_registry_conf, timeout_ms, "5s", 100, 300000,
		    "Bound of one registry request (connect and answer)."),
    SG_KEY_DURATION("retry_max", struct sg_registry_conf, retry_max_ms, "10s", 100, 3600000,
		    "While the registry is unreachable or refuses, records wait in the spool "
		    "and the request is retried after 0.5 s, doubling up to this."),
};
static const struct sg_cfg_table registry_table =
    SG_CFG_TABLE("schema_registry", "The Schema Registry of `kafka.format: avro`.",
		 struct sg_registry_conf, registry_keys, registry_check);

static int http_check(struct sg_cfg_ctx *ctx, void *obj, const struct sg_cfg_pos *pos,
		      const char *path)
{
	struct sg_http_conf *h = obj;
	unsigned char addr[16];

	if (h->enabled && inet_pton(AF_INET, h->address, addr) != 1 &&
	    inet_pton(AF_INET6, h->address, addr) != 1) {
		sg_cfg_error(ctx, pos, path, "address '%s' is not a numeric IPv4 or IPv6 address",
			     h->address);
		return SG_ECONFIG;
	}
	return SG_OK;
}

static const struct sg_cfg_key http_keys[] = {
    SG_KEY_BOOL("enabled", struct sg_http_conf, enabled, "true",
		"Serve `/metrics` (Prometheus), `/health` and `/ready` over HTTP."),
    SG_KEY_STR("address", struct sg_http_conf, address, "127.0.0.1",
	       "Address to listen on (numeric IPv4 or IPv6). Loopback by default: expose it "
	       "further only behind a firewall or a reverse proxy."),
    SG_KEY_INT("port", struct sg_http_conf, port, "9780", 0, 65535,
	       "TCP port (0: any free port, logged at start). A port in use is a start-up error."),
    SG_KEY_INT("max_connections", struct sg_http_conf, max_connections, "16", 1, 1024,
	       "Most simultaneous HTTP connections; more wait in the kernel's listen queue until "
	       "one closes."),
    SG_KEY_DURATION("timeout", struct sg_http_conf, timeout_ms, "10s", 1000, 300000,
		    "An idle or slow HTTP connection is closed after this long."),
    SG_KEY_DURATION("stall_timeout", struct sg_http_conf, stall_ms, "30s", 1000, 3600000,
		    "`/health` fails (and the systemd watchdog stops) when the main loop, the "
		    "producer or a source thread has made no progress for this long."),
    SG_KEY_INT("ready_spool_percent", struct sg_http_conf, ready_high_water, "90", 1, 100,
	       "`/ready` fails while the spool holds more than this percentage of "
	       "`spool.max_bytes`."),
    SG_KEY_DURATION("ready_max_age", struct sg_http_conf, ready_max_age_ms, "60s", 1000, 86400000,
		    "`/ready` fails while the oldest record handed to Kafka has waited longer "
		    "than this for its acknowledgement, or no broker is connected."),
    SG_KEY_DURATION("delivery_stall_timeout", struct sg_http_conf, delivery_stall_ms, "5m", 1000,
		    86400000,
		    "`/health` fails and the systemd watchdog stops when records have waited this "
		    "long for an acknowledgement: a wedged producer or broker connection gets the "
		    "unit restarted, which resumes from the spool."),
};
static const struct sg_cfg_table http_table =
    SG_CFG_TABLE("http", "The metrics and health endpoint (see docs/operations.md).",
		 struct sg_http_conf, http_keys, http_check);

static const char *const logfmt_words[] = {"auto", "text", "journal", "json", NULL};

static const struct sg_cfg_key log_keys[] = {
    SG_KEY_ENUM("format", struct sg_log_conf, format, "auto", logfmt_words,
		"`text`: `TIME level [component] message`; `journal`: `<N>[component] message` "
		"for systemd's journal (it adds the time, N is the syslog priority); `json`: one "
		"object per line (time, level, component, message) for log shippers; `auto`: "
		"journal when stderr is the journal (JOURNAL_STREAM), else text. The level is "
		"`gateway.log_level`."),
};
static const struct sg_cfg_table log_table =
    SG_CFG_TABLE("log", "Log lines on stderr.", struct sg_log_conf, log_keys, NULL);

static const struct sg_cfg_key source_keys[] = {
    SG_KEY_STR("name", struct sg_source_conf, name, NULL,
	       "Instance name, unique: named in every log line and counter, and the `source` of "
	       "its events.",
	       SG_REQUIRED),
    SG_KEY_STR("driver", struct sg_source_conf, driver, NULL, "Driver: one of the drivers below.",
	       SG_REQUIRED),
    SG_KEY_STR("topic", struct sg_source_conf, topic, NULL,
	       "Topic template for this source (default `kafka.topic`)."),
    SG_KEY_BOOL("enabled", struct sg_source_conf, enabled, "true",
		"Set false to keep a source in the file without running it."),
};
static const struct sg_cfg_table source_table = SG_CFG_TABLE(
    "sources[]", "Common keys of every source; the driver's own keys follow in the same mapping.",
    struct sg_source_conf, source_keys, NULL);

/* --- the `sources` list: a custom key ------------------------------------ */

/* Find item's driver and give it its own defaulted struct.  SG_OK, or
 * SG_ECONFIG for an unknown driver (reported).  A missing or non-scalar
 * `driver` is left to the walker (required key, expected a scalar). */
static int src_attach_driver(struct sg_cfg_ctx *ctx, struct fy_node *item, const char *ipath,
			     struct sg_source_conf *sc)
{
	struct fy_node *dn = fy_node_mapping_lookup_value_by_simple_key(item, "driver", FY_NT);
	struct sg_cfg_pos dpos;
	struct sg_buf known;
	const char *s;
	char name[64];
	size_t len;

	if (!dn || !fy_node_is_scalar(dn))
		return SG_OK;
	s = fy_node_get_scalar(dn, &len);
	snprintf(name, sizeof(name), "%.*s", (int)len, s);
	sc->drv = sg_driver_find(name);
	if (sc->drv) {
		sc->dconf = sg_xcalloc(1, sc->drv->conf->size);
		sg_cfg_defaults(sc->drv->conf, sc->dconf);
		return SG_OK;
	}
	dpos = sg_cfg_node_pos(ctx, dn);
	sg_buf_init(&known);
	for (int d = 0; sg_drivers[d]; d++)
		sg_buf_printf(&known, "%s%s", d ? ", " : "", sg_drivers[d]->name);
	sg_cfg_error(ctx, &dpos, ipath, "unknown driver '%s' (known: %s)", name,
		     known.p ? known.p : "");
	sg_buf_free(&known);
	return SG_ECONFIG;
}

/* One item: the common keys and its driver's keys from one mapping. */
static int src_parse_item(struct sg_cfg_ctx *ctx, struct fy_node *item,
			  const struct sg_cfg_pos *pos, const char *ipath,
			  struct sg_source_conf *sc)
{
	struct sg_cfg_pos ipos = *pos;
	struct fy_node_pair *first;
	void *iter = NULL;

	sg_cfg_defaults(&source_table, sc);
	if (!fy_node_is_mapping(item)) {
		sg_cfg_error(ctx, &ipos, ipath, "expected a mapping");
		return SG_ECONFIG;
	}
	if (src_attach_driver(ctx, item, ipath, sc) != SG_OK)
		return SG_ECONFIG;
	if ((first = fy_node_mapping_iterate(item, &iter)))
		ipos = sg_cfg_node_pos(ctx, fy_node_pair_key(first));
	sc->pos = ipos;
	return sg_cfg_parse_map(ctx, item, &ipos, ipath, &source_table, sc,
				sc->drv ? sc->drv->conf : NULL, sc->dconf);
}

static int cmp_src_name(const void *a, const void *b)
{
	const struct sg_source_conf *x = *(const struct sg_source_conf *const *)a;
	const struct sg_source_conf *y = *(const struct sg_source_conf *const *)b;
	int c = strcmp(x->name, y->name);

	return c ? c : (x < y ? -1 : x > y);
}

/* Names must be unique and safe to use in file names and labels.
 * Duplicates found by sorting (many sources cost no more than that). */
static int src_check_names(struct sg_cfg_ctx *ctx, const struct sg_cfg_list *l, const char *path)
{
	const struct sg_source_conf *sv = l->items, **v = sg_xcalloc(l->n ? l->n : 1, sizeof(*v));
	char npath[256];
	size_t k = 0;
	int rc = SG_OK;

	for (size_t a = 0; a < l->n; a++) {
		if (!sv[a].name)
			continue;
		v[k++] = &sv[a];
		snprintf(npath, sizeof(npath), "%s[%zu].name", path, a);
		if (!conf_id_ok(sv[a].name)) {
			sg_cfg_error(ctx, &sv[a].pos, npath,
				     "'%s' must be 1-64 characters of A-Z a-z 0-9 . _ -",
				     sv[a].name);
			rc = SG_ECONFIG;
		}
	}
	qsort(v, k, sizeof(*v), cmp_src_name);
	for (size_t i = 1; i < k; i++) {
		if (strcmp(v[i - 1]->name, v[i]->name))
			continue;
		snprintf(npath, sizeof(npath), "%s[%zu].name", path, (size_t)(v[i] - sv));
		sg_cfg_error(ctx, &v[i]->pos, npath, "duplicate source name '%s'", v[i]->name);
		rc = SG_ECONFIG;
	}
	free(v);
	return rc;
}

static int src_parse(struct sg_cfg_ctx *ctx, struct fy_node *seq, const struct sg_cfg_pos *pos,
		     const char *path, const struct sg_cfg_key *k, void *field)
{
	struct sg_cfg_list *l = field;
	struct fy_node *item;
	void *iter = NULL;
	char ipath[256];
	int rc = SG_OK;

	(void)k;
	if (!fy_node_is_sequence(seq)) {
		struct sg_cfg_pos vpos = sg_cfg_value_pos(ctx, seq, pos);
		sg_cfg_error(ctx, &vpos, path, "expected a sequence");
		return SG_ECONFIG;
	}
	l->items =
	    sg_xcalloc((size_t)fy_node_sequence_item_count(seq), sizeof(struct sg_source_conf));
	l->n = 0;
	while ((item = fy_node_sequence_iterate(seq, &iter))) {
		struct sg_source_conf *sc = (struct sg_source_conf *)l->items + l->n;

		if (snprintf(ipath, sizeof(ipath), "%s[%zu]", path, l->n) >= (int)sizeof(ipath))
			ipath[sizeof(ipath) - 1] = '\0';
		l->n++;
		if (src_parse_item(ctx, item, pos, ipath, sc) != SG_OK)
			rc = SG_ECONFIG;
	}
	if (src_check_names(ctx, l, path) != SG_OK)
		rc = SG_ECONFIG;
	return rc;
}

static void src_free(const struct sg_cfg_key *k, void *field)
{
	struct sg_cfg_list *l = field;

	(void)k;
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

char *sg_conf_source_fingerprint(const struct sg_conf *c, const struct sg_source_conf *sc)
{
	char *text = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&text, &len);

	if (!fp)
		return NULL;
	sg_cfg_dump_digest(&source_table, sc, 0, fp);
	if (sc->drv)
		sg_cfg_dump_digest(sc->drv->conf, sc->dconf, 0, fp);
	/* What the source's events depend on beyond its own keys. */
	fprintf(fp, "effective_topic: %s\ngateway: %s\n", sc->topic ? sc->topic : c->kafka.topic,
		c->gateway.id);
	fclose(fp);
	return text;
}

static void src_dump(const struct sg_cfg_key *k, const void *field, int indent, FILE *fp)
{
	const struct sg_cfg_list *l = field;

	(void)k;
	fprintf(fp, "\n");
	for (size_t i = 0; i < l->n; i++) {
		const struct sg_source_conf *sc = (const struct sg_source_conf *)l->items + i;
		fprintf(fp, "%*s-\n", indent, "");
		sg_cfg_dump(&source_table, sc, indent + 2, fp);
		if (sc->drv)
			sg_cfg_dump(sc->drv->conf, sc->dconf, indent + 2, fp);
	}
}

/* The common keys; each driver's keys follow the top level (sg_conf_doc),
 * under headings of their own. */
static void src_doc(const struct sg_cfg_key *k, const char *prefix, FILE *fp)
{
	char items[128];

	(void)k;
	snprintf(items, sizeof(items), "%s[]", prefix);
	sg_cfg_doc(&source_table, items, fp);
}

static const struct sg_cfg_custom src_custom = {
    .type_name = "list of sources",
    .size = sizeof(struct sg_cfg_list),
    .sub = &source_table,
    .parse = src_parse,
    .free = src_free,
    .dump = src_dump,
    .doc = src_doc,
};

/* Every source's topic fits Kafka's limit with this gateway's id and
 * the source's name; a {sensor} needs room for at least one character
 * (an event whose expansion is too long is refused at run time, never
 * cut: sg_event_encode()). */
static int top_check_topics(struct sg_cfg_ctx *ctx, const struct sg_conf *c)
{
	const struct sg_source_conf *sv = c->sources.items;
	char topic[SG_TOPIC_MAX + 1], path[300];
	int rc = SG_OK;

	for (size_t i = 0; i < c->sources.n; i++) {
		const char *t = sv[i].topic ? sv[i].topic : c->kafka.topic;
		bool sensor = strstr(t, "{sensor}") != NULL;
		size_t n = sg_topic_expand(t, c->gateway.id, sv[i].name ? sv[i].name : "", "",
					   topic, sizeof(topic));

		if (n + sensor <= SG_TOPIC_MAX)
			continue;
		snprintf(path, sizeof(path), "sources[%zu].%s", i,
			 sv[i].topic ? "topic" : "(kafka.topic)");
		sg_cfg_error(ctx, &sv[i].pos, path,
			     "topic '%s' expands to %zu characters%s with gateway '%s' and source "
			     "'%s': Kafka allows %d",
			     t, n, sensor ? " before {sensor}" : "", c->gateway.id,
			     sv[i].name ? sv[i].name : "", SG_TOPIC_MAX);
		rc = SG_ECONFIG;
	}
	return rc;
}

/* Across sections: Avro values need a registry; topics fit. */
static int top_check(struct sg_cfg_ctx *ctx, void *obj, const struct sg_cfg_pos *pos,
		     const char *path)
{
	struct sg_conf *c = obj;

	(void)path;
	if (!c->gateway.id && gw_check(ctx, &c->gateway, pos, "gateway") != SG_OK)
		return SG_ECONFIG; /* no gateway section: its default id, for the topics */
	if (top_check_topics(ctx, c) != SG_OK)
		return SG_ECONFIG;
	if (c->kafka.format == SG_FORMAT_AVRO && !c->schema_registry.url) {
		sg_cfg_error(
		    ctx, pos, "kafka.format",
		    "avro needs schema_registry.url (the registry that hands out schema ids)");
		return SG_ECONFIG;
	}
	return SG_OK;
}

static const struct sg_cfg_key top_keys[] = {
    SG_KEY_SECTION("gateway", struct sg_conf, gateway, &gw_table,
		   "Identity and process behaviour."),
    SG_KEY_SECTION("spool", struct sg_conf, spool, &sg_spool_table, "The disk spool."),
    SG_KEY_SECTION("kafka", struct sg_conf, kafka, &kafka_table, "The Kafka producer."),
    SG_KEY_CUSTOM("sources", struct sg_conf, sources, &src_custom, "Driver instances."),
    SG_KEY_SECTION("view", struct sg_conf, view, &view_table, "Status output."),
    SG_KEY_SECTION("log", struct sg_conf, log, &log_table, "Log format."),
    SG_KEY_SECTION("http", struct sg_conf, http, &http_table, "Metrics and health endpoint."),
    SG_KEY_SECTION("actuators", struct sg_conf, actuators, &act_table,
		   "Commands from Kafka to drivers."),
    SG_KEY_SECTION("schema_registry", struct sg_conf, schema_registry, &registry_table,
		   "Schema Registry for Avro values."),
};
const struct sg_cfg_table sg_conf_table = SG_CFG_TABLE(
    "", "The top-level sections of a sensorgate YAML file.", struct sg_conf, top_keys, top_check);

int sg_conf_load(const char *file, struct sg_conf *conf, char **errors)
{
	struct sg_cfg_ctx ctx = {.file = file};
	struct fy_document *doc;
	struct fy_node *root;
	struct sg_cfg_pos pos = {.file = file, .line = 1, .col = 1};
	bool empty;
	int rc;

	memset(conf, 0, sizeof(*conf));
	sg_cfg_defaults(&sg_conf_table, conf);
	*errors = NULL;
	doc = sg_cfg_load_yaml(&ctx, file, &empty); /* guarded: yaml_load.c */
	if (!doc && !empty) {
		*errors = ctx.errors.p;
		return SG_ECONFIG;
	}
	root = doc ? fy_document_root(doc) : NULL;
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
	if (doc)
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

void sg_conf_doc(FILE *fp)
{
	fprintf(fp, "# Configuration reference\n\n"
		    "Generated by `sensorgate config-doc` from the key tables in the "
		    "source; a test fails when this file and the tables disagree. "
		    "Durations take `ms`, `s`, `m`, `h` (a bare number is milliseconds); "
		    "sizes take `k`, `M`, `G` (powers of 1024). Any string may use "
		    "`${ENV_VAR}`; a secret may be `file:/path/to/file`. Unknown keys, "
		    "wrong types and out-of-range values are errors reported as "
		    "`FILE:LINE:COL: key.path: what is wrong`.\n");
	sg_cfg_doc(&sg_conf_table, "", fp); /* every section, and sources[] */
	for (int d = 0; sg_drivers[d]; d++) {
		char prefix[96];

		fprintf(fp, "\n## Driver `%s`\n\n%s\n", sg_drivers[d]->name, sg_drivers[d]->help);
		snprintf(prefix, sizeof(prefix), "sources[] (driver: %s)", sg_drivers[d]->name);
		sg_cfg_doc(sg_drivers[d]->conf, prefix, fp);
	}
}

/* Append n bytes of s to out (capacity outsz, length *o), as far as they fit. */
static void topic_put(char *out, size_t outsz, size_t *o, size_t *len, const char *s, size_t n)
{
	*len += n;
	if (n > outsz - 1 - *o)
		n = outsz - 1 - *o;
	memcpy(out + *o, s, n);
	*o += n;
}

size_t sg_topic_expand(const char *tmpl, const char *gw, const char *source, const char *sensor,
		       char *out, size_t outsz)
{
	size_t o = 0, len = 0;
	const char *p = tmpl;

	if (!outsz)
		return 0;
	while (*p) {
		const char *brace = strchr(p, '{'), *val = NULL;
		size_t skip = 0;

		if (!brace) {
			topic_put(out, outsz, &o, &len, p, strlen(p));
			break;
		}
		topic_put(out, outsz, &o, &len, p, (size_t)(brace - p));
		if (!strncmp(brace, "{gateway}", 9))
			val = gw, skip = 9;
		else if (!strncmp(brace, "{source}", 8))
			val = source, skip = 8;
		else if (!strncmp(brace, "{sensor}", 8))
			val = sensor, skip = 8;
		if (val) {
			topic_put(out, outsz, &o, &len, val, strlen(val));
			p = brace + skip;
		} else {
			topic_put(out, outsz, &o, &len, brace, 1);
			p = brace + 1;
		}
	}
	out[o] = '\0';
	return len;
}
