/*
 * test_mqtt_map.c - the MQTT driver's message mapping run against a fake
 * emit that captures readings: rule order, templates, raw and JSON modes,
 * retained handling, dead letters, and loss accounting when the spool
 * refuses an event.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "drivers/mqtt/mqtt.h"
#include "gateway/base/fs.h"
#include "gateway/core/metrics.h"
#include "t.h"

struct cap {
	int n;
	int rc; /* what the fake emit returns */
	char sensor[256], key[1024], topic[256], value[512], unit[64], ctype[64];
	char hdr[16][2][128];
	size_t nh;
	struct sg_reading rd;
} cap;

static void copy(char *dst, size_t n, const char *s, size_t len)
{
	if (!s) {
		dst[0] = '\0';
		return;
	}
	if (len >= n)
		len = n - 1;
	memcpy(dst, s, len);
	dst[len] = '\0';
}

/* Captures the last reading of each batch; every reading of every batch
 * is also kept (up to 64) for the fan-out tests. */
#define CAP_ALL 64
struct capall {
	size_t batches, n, last_n;
	char sensor[CAP_ALL][256], key[CAP_ALL][256], topic[CAP_ALL][256], unit[CAP_ALL][64];
	char value[CAP_ALL][128];
	struct sg_reading rd[CAP_ALL];
} all;

static void capture_one(const struct sg_reading *rd)
{
	cap.n++;
	cap.rd = *rd;
	copy(cap.sensor, sizeof(cap.sensor), rd->sensor, rd->sensor ? strlen(rd->sensor) : 0);
	copy(cap.key, sizeof(cap.key), rd->key, rd->key ? strlen(rd->key) : 0);
	copy(cap.topic, sizeof(cap.topic), rd->topic, rd->topic ? strlen(rd->topic) : 0);
	copy(cap.unit, sizeof(cap.unit), rd->unit, rd->unit ? strlen(rd->unit) : 0);
	copy(cap.ctype, sizeof(cap.ctype), rd->content_type,
	     rd->content_type ? strlen(rd->content_type) : 0);
	if (rd->value.type == SG_VAL_STR || rd->value.type == SG_VAL_BYTES)
		copy(cap.value, sizeof(cap.value), rd->value.s.p, rd->value.s.len);
	cap.nh = rd->nheaders < 16 ? rd->nheaders : 16;
	for (size_t i = 0; i < cap.nh; i++) {
		copy(cap.hdr[i][0], 128, rd->headers[i].key, strlen(rd->headers[i].key));
		copy(cap.hdr[i][1], 128, rd->headers[i].val, rd->headers[i].len);
	}
	if (all.n < CAP_ALL) {
		size_t k = all.n;
		all.rd[k] = *rd;
		copy(all.sensor[k], 256, rd->sensor, strlen(rd->sensor));
		copy(all.key[k], 256, rd->key, rd->key ? strlen(rd->key) : 0);
		copy(all.topic[k], 256, rd->topic, rd->topic ? strlen(rd->topic) : 0);
		copy(all.unit[k], 64, rd->unit, rd->unit ? strlen(rd->unit) : 0);
		if (rd->value.type == SG_VAL_STR || rd->value.type == SG_VAL_BYTES)
			copy(all.value[k], 128, rd->value.s.p, rd->value.s.len);
		else
			all.value[k][0] = '\0';
	}
	all.n++;
}

static int fake_emit(struct sg_source *src, const struct sg_reading *rd, size_t n)
{
	(void)src;
	all.batches++;
	all.last_n = n;
	for (size_t i = 0; i < n; i++)
		capture_one(&rd[i]);
	return cap.rc;
}

static const char *hdr(const char *k)
{
	for (size_t i = 0; i < cap.nh; i++)
		if (!strcmp(cap.hdr[i][0], k))
			return cap.hdr[i][1];
	return NULL;
}

static struct mq_rule_conf rules[4];
static struct mq_conf conf;
static struct mq_map map;

static void setup(size_t nrules, const char *dlq)
{
	struct sg_errbuf eb;

	memset(&cap, 0, sizeof(cap));
	memset(&all, 0, sizeof(all));
	memset(&conf, 0, sizeof(conf));
	conf.rules.items = rules;
	conf.rules.n = nrules;
	conf.max_payload = 64;
	conf.dead_letter_topic = (char *)dlq;
	if (mq_map_init(&map, NULL, "mqtt", &conf, &eb) != SG_OK)
		t_fail(__FILE__, __LINE__, "init: %s", eb.msg);
	map.emit = fake_emit;
}

static int send(const char *topic, const char *payload, int qos, bool retain)
{
	struct mq_msg m = {topic, payload, strlen(payload), qos, retain, NULL, NULL, 0};
	return mq_map_message(&map, &m);
}

static uint64_t metric(const char *name)
{
	return sg_metrics_sum(name, "source=\"mqtt\"");
}

TEST(raw_mode_defaults_and_headers)
{
	memset(rules, 0, sizeof(rules));
	rules[0] = (struct mq_rule_conf){.filter = "raw/#", .payload = MQ_PAYLOAD_RAW};
	setup(1, NULL);
	CHECK(send("raw/a/b", "hello", 1, false) == SG_OK);
	CHECK_EQ(cap.n, 1);
	CHECK(cap.rd.raw);
	CHECK_STR(cap.sensor, "raw/a/b");
	CHECK(cap.rd.key == NULL);   /* key = sensor = the MQTT topic */
	CHECK(cap.rd.topic == NULL); /* the source's topic */
	CHECK_STR(cap.value, "hello");
	CHECK_STR(hdr("mqtt-topic"), "raw/a/b");
	CHECK_STR(hdr("mqtt-qos"), "1");
	CHECK_STR(hdr("mqtt-retain"), "0");
	mq_map_fini(&map);
}

TEST(raw_mode_templates_and_properties)
{
	struct sg_header up[2] = {{"site", "north", 5}, {"mqtt-user-x", "y", 1}};
	struct mq_msg m = {"plant/7/temp", "21", 2, 0, true, "text/plain", up, 2};

	memset(rules, 0, sizeof(rules));
	rules[0] = (struct mq_rule_conf){
	    .filter = "plant/+/+", .topic = "plant{1}.{2}", .key = "{1}/{2}", .sensor = "p{1}"};
	setup(1, NULL);
	CHECK(mq_map_message(&map, &m) == SG_OK);
	CHECK_STR(cap.topic, "plant7.temp");
	CHECK_STR(cap.key, "7/temp");
	CHECK_STR(cap.sensor, "p7");
	CHECK_STR(cap.ctype, "text/plain");
	CHECK_STR(hdr("mqtt-retain"), "1");
	CHECK_STR(hdr("mqtt-qos"), "0");
	CHECK_STR(hdr("site"), "north");
	rules[0].content_type = "application/json";
	CHECK(mq_map_message(&map, &m) == SG_OK);
	CHECK_STR(cap.ctype, "application/json");
	mq_map_fini(&map);
}

TEST(first_match_wins_and_retained_skip)
{
	uint64_t skipped = metric("mqtt_retained_skipped");

	memset(rules, 0, sizeof(rules));
	rules[0] =
	    (struct mq_rule_conf){.filter = "a/special", .topic = "first", .retained = MQ_RET_SKIP};
	rules[1] = (struct mq_rule_conf){.filter = "a/#", .topic = "second"};
	setup(2, NULL);
	send("a/special", "1", 1, false);
	CHECK_STR(cap.topic, "first");
	send("a/other", "1", 1, false);
	CHECK_STR(cap.topic, "second");
	send("a/special", "1", 1, true);
	CHECK_EQ(cap.n, 2);
	CHECK_EQ(metric("mqtt_retained_skipped"), skipped + 1);
	mq_map_fini(&map);
}

TEST(json_mode)
{
	memset(rules, 0, sizeof(rules));
	rules[0] = (struct mq_rule_conf){.filter = "zigbee2mqtt/+",
					 .topic = "zigbee",
					 .key = "{1}",
					 .payload = MQ_PAYLOAD_JSON,
					 .value = "/temperature",
					 .unit = "/unit",
					 .time = "/ts",
					 .time_unit = MQ_TU_S};
	setup(1, NULL);
	CHECK(send("zigbee2mqtt/kitchen",
		   "{\"temperature\":21.5,\"unit\":\"degC\",\"ts\":1700000000}", 1,
		   false) == SG_OK);
	CHECK_EQ(cap.n, 1);
	CHECK(!cap.rd.raw);
	CHECK(cap.rd.value.type == SG_VAL_DOUBLE && cap.rd.value.d == 21.5);
	CHECK_STR(cap.unit, "degC");
	CHECK_EQ(cap.rd.ts_ns, 1700000000LL * SG_NS_PER_S);
	CHECK_STR(cap.key, "kitchen");
	CHECK_STR(cap.sensor, "zigbee2mqtt/kitchen");
	/* RFC 3339 time, integer and bool and string values */
	send("zigbee2mqtt/k", "{\"temperature\":3,\"ts\":\"2024-05-01T12:00:00Z\"}", 1, false);
	CHECK(cap.rd.value.type == SG_VAL_INT && cap.rd.value.i == 3);
	CHECK_EQ(cap.rd.ts_ns, 1714564800LL * SG_NS_PER_S);
	send("zigbee2mqtt/k", "{\"temperature\":true}", 1, false);
	CHECK(cap.rd.value.type == SG_VAL_BOOL && cap.rd.value.b);
	CHECK(cap.rd.ts_ns == 0); /* no time: arrival time */
	send("zigbee2mqtt/k", "{\"temperature\":\"hot\\n\"}", 1, false);
	CHECK(cap.rd.value.type == SG_VAL_STR && !strcmp(cap.value, "hot\n"));
	send("zigbee2mqtt/k", "{\"temperature\":null}", 1, false);
	CHECK(cap.rd.value.type == SG_VAL_NONE && cap.rd.quality == SG_Q_UNCERTAIN);
	CHECK_EQ(cap.n, 5);
	mq_map_fini(&map);
}

TEST(json_sensor_pointer)
{
	memset(rules, 0, sizeof(rules));
	rules[0] = (struct mq_rule_conf){
	    .filter = "#", .payload = MQ_PAYLOAD_JSON, .value = "/v", .sensor_ptr = "/id"};
	setup(1, NULL);
	send("x", "{\"id\":\"dev-9\",\"v\":1}", 1, false);
	CHECK_STR(cap.sensor, "dev-9");
	send("x", "{\"v\":1}", 1, false); /* missing: the sensor template */
	CHECK_STR(cap.sensor, "x");
	mq_map_fini(&map);
}

TEST(bad_input_dead_letter)
{
	uint64_t bad = metric("mqtt_bad_input"), dead = metric("mqtt_dead_lettered");
	char big[100];

	memset(rules, 0, sizeof(rules));
	rules[0] = (struct mq_rule_conf){
	    .filter = "j/+", .topic = "good", .payload = MQ_PAYLOAD_JSON, .value = "/v"};
	setup(1, "dlq");
	CHECK(send("j/1", "{\"v\": 1", 1, false) == SG_OK);
	CHECK_STR(cap.topic, "dlq");
	CHECK(cap.rd.raw);
	CHECK_STR(cap.value, "{\"v\": 1");
	CHECK(strstr(hdr("sg-error"), "invalid JSON") != NULL);
	CHECK_STR(hdr("mqtt-topic"), "j/1");
	send("j/1", "{\"w\": 1}", 1, false);
	CHECK_STR(cap.topic, "dlq");
	CHECK(strstr(hdr("sg-error"), "no value at JSON pointer \"/v\"") != NULL);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	send("j/1", big, 1, false);
	CHECK_STR(cap.topic, "dlq");
	CHECK(strstr(hdr("sg-error"), "exceeds max_payload") != NULL);
	CHECK_EQ(cap.rd.value.s.len, 0); /* oversize: without the payload */
	send("k/1", "x", 1, false);
	CHECK(strstr(hdr("sg-error"), "no rule") != NULL);
	send("j/1", "{\"v\": 2}", 1, false);
	CHECK_STR(cap.topic, "good");
	CHECK_EQ(cap.n, 5);
	CHECK_EQ(metric("mqtt_bad_input"), bad + 4);
	CHECK_EQ(metric("mqtt_dead_lettered"), dead + 4);
	mq_map_fini(&map);
}

TEST(bad_input_counted_without_dead_letter)
{
	uint64_t bad = metric("mqtt_bad_input");

	memset(rules, 0, sizeof(rules));
	rules[0] =
	    (struct mq_rule_conf){.filter = "j/+", .payload = MQ_PAYLOAD_JSON, .value = "/v"};
	setup(1, NULL);
	uint64_t q1 = sg_metrics_sum("mqtt_messages_by_qos", "source=\"mqtt\",qos=\"1\"");
	CHECK(send("j/1", "not json", 1, false) == SG_OK);
	CHECK(send("j/1/2", "x", 1, false) == SG_OK);
	CHECK_EQ(sg_metrics_sum("mqtt_messages_by_qos", "source=\"mqtt\",qos=\"1\""), q1 + 2);
	CHECK_EQ(cap.n, 0);
	CHECK_EQ(metric("mqtt_bad_input"), bad + 2);
	CHECK(sg_metrics_sum("errors", "class=\"bad_input\"") >= 2);
	mq_map_fini(&map);
}

TEST(missing_level_is_bad_input)
{
	memset(rules, 0, sizeof(rules));
	rules[0] = (struct mq_rule_conf){.filter = "a/#", .topic = "t.{2}"};
	setup(1, "dlq");
	send("a/b/c", "1", 1, false);
	CHECK_STR(cap.topic, "t.c");
	send("a/b", "1", 1, false);
	CHECK_STR(cap.topic, "dlq");
	CHECK(strstr(hdr("sg-error"), "no level {2}") != NULL);
	mq_map_fini(&map);
}

TEST(spool_failure_counts_lost_after_ack)
{
	uint64_t lost = metric("mqtt_lost_after_ack");

	memset(rules, 0, sizeof(rules));
	rules[0] = (struct mq_rule_conf){.filter = "#"};
	setup(1, NULL);
	cap.rc = SG_EIO;
	CHECK(send("x", "1", 1, false) == SG_EIO);
	CHECK_EQ(map.last_rc, SG_EIO);
	CHECK_EQ(metric("mqtt_lost_after_ack"), lost + 1);
	cap.rc = SG_ENOSPC;
	CHECK(send("x", "1", 0, false) == SG_ENOSPC); /* QoS 0 was never acked */
	CHECK_EQ(metric("mqtt_lost_after_ack"), lost + 1);
	cap.rc = SG_EDROPPED; /* the spool policy: counted by the core */
	map.last_rc = SG_OK;
	CHECK(send("x", "1", 1, false) == SG_OK);
	CHECK_EQ(map.last_rc, SG_OK);
	mq_map_fini(&map);
}

/* Each instance has its own log rate limiter: a bad message on one source
 * right after one on another is still logged (regression: the limiter was
 * one static shared by every instance, so a noisy source muted the rest). */
TEST(rate_limited_logs_per_instance)
{
	struct mq_map other;
	struct sg_errbuf eb;
	char path[512], *text = NULL;
	int saved = dup(2), fd;

	memset(rules, 0, sizeof(rules));
	rules[0] =
	    (struct mq_rule_conf){.filter = "j/+", .payload = MQ_PAYLOAD_JSON, .value = "/v"};
	setup(1, NULL);
	CHECK_EQ(mq_map_init(&other, NULL, "mqtt-other", &conf, &eb), SG_OK);
	other.emit = fake_emit;
	snprintf(path, sizeof(path), "%s/stderr.txt", t_tmpdir());
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	sg_log_set_level(SG_LOG_WARN); /* the harness runs quiet */
	fflush(stderr);
	dup2(fd, 2);
	send("j/1", "not json", 1, false);
	struct mq_msg m = {"j/2", "not json either", 15, 1, false, NULL, NULL, 0};
	mq_map_message(&other, &m);
	fflush(stderr);
	dup2(saved, 2);
	sg_log_set_level(SG_LOG_QUIET);
	close(saved);
	close(fd);
	CHECK_EQ(sg_read_file(path, 1 << 16, &text, NULL), SG_OK);
	CHECK(text && strstr(text, "[mqtt] bad message on \"j/1\"") != NULL);
	CHECK(text && strstr(text, "[mqtt-other] bad message on \"j/2\"") != NULL);
	free(text);
	mq_map_fini(&other);
	mq_map_fini(&map);
}
