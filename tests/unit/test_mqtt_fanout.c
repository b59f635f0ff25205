/*
 * test_mqtt_fanout.c - one MQTT message, many events: explicit fields,
 * wildcards over nested objects and arrays, several rules per message
 * (`continue`), conditions, the empty policy, and the all-or-none batch:
 * every message is exactly one call of the emit seam (its events, or its
 * dead letter), and a failing rule or field leaves none of its events.
 * Runs the real mapper against a fake emit that captures the batches.
 */
#include <stdio.h>

#include "test_mqtt_capture.h"

static struct mq_rule_conf rules[6];
static struct mq_field_conf fl[6][8];
static struct mq_conf conf;
static struct mq_map map;

static void clear(void)
{
	memset(rules, 0, sizeof(rules));
	memset(fl, 0, sizeof(fl));
}

static void use_fields(size_t r, size_t n)
{
	rules[r].fields.items = fl[r];
	rules[r].fields.n = n;
}

static void setup(size_t nrules, const char *dlq)
{
	struct sg_errbuf eb;

	cap_reset();
	memset(&conf, 0, sizeof(conf));
	conf.rules.items = rules;
	conf.rules.n = nrules;
	conf.max_payload = 4096;
	conf.dead_letter_topic = (char *)dlq;
	if (mq_map_init(&map, NULL, "fan", &conf, &eb) != SG_OK)
		t_fail(__FILE__, __LINE__, "init: %s", eb.msg);
	map.emit = cap_emit;
}

static int pub(const char *topic, const char *payload)
{
	struct mq_msg m = {topic, payload, strlen(payload), 1, false, NULL, NULL, 0};
	return mq_map_message(&map, &m);
}

static uint64_t metric(const char *name)
{
	return cap_metric(name, "source=\"fan\"");
}

static uint64_t reason(const char *r)
{
	char l[96];

	snprintf(l, sizeof(l), "source=\"fan\",reason=\"%s\"", r);
	return cap_metric("mqtt_bad_input_by_reason", l);
}

#define Z2M "{\"battery\":97,\"humidity\":48.2,\"linkquality\":120,\"temperature\":21.5}"

static void zigbee_fields(void)
{
	clear();
	rules[0] = (struct mq_rule_conf){.filter = "zigbee2mqtt/+",
					 .topic = "zigbee",
					 .key = "{1}",
					 .sensor = "{1}/{field}",
					 .payload = MQ_PAYLOAD_JSON};
	fl[0][0] = (struct mq_field_conf){
	    .id = "temperature", .pointer = "/temperature", .unit = "degC", .type = MQ_FT_NUMBER};
	fl[0][1] = (struct mq_field_conf){.id = "humidity", .pointer = "/humidity", .unit = "%"};
	fl[0][2] = (struct mq_field_conf){.id = "battery", .pointer = "/battery", .unit = "%"};
	fl[0][3] = (struct mq_field_conf){
	    .id = "voltage", .pointer = "/voltage", .unit = "mV", .optional = true};
	use_fields(0, 4);
}

TEST(fields_one_batch_in_list_order)
{
	uint64_t ev = metric("mqtt_events"), fan = metric("mqtt_fanout_messages");

	zigbee_fields();
	setup(1, "dlq");
	CHECK_EQ(pub("zigbee2mqtt/kitchen", Z2M), SG_OK);
	CHECK_EQ(cap.batches, 1); /* one message, one append */
	CHECK_EQ(cap.batch_n[0], 3);
	CHECK_STR(cap.ev[0].sensor, "kitchen/temperature"); /* list order */
	CHECK_STR(cap.ev[1].sensor, "kitchen/humidity");
	CHECK_STR(cap.ev[2].sensor, "kitchen/battery");
	CHECK(cap.ev[0].v.type == SG_VAL_DOUBLE && cap.ev[0].v.d == 21.5);
	CHECK(cap.ev[2].v.type == SG_VAL_INT && cap.ev[2].v.i == 97);
	CHECK_STR(cap.ev[0].unit, "degC");
	CHECK_STR(cap.ev[1].unit, "%");
	for (size_t i = 0; i < 3; i++) {
		CHECK_STR(cap.ev[i].key, "kitchen");
		CHECK_STR(cap.ev[i].topic, "zigbee");
		CHECK_EQ(cap.ev[i].ts, 0); /* arrival time, taken once for the batch */
		CHECK(cap.ev[i].q == SG_Q_GOOD);
		CHECK_STR(cap_hdr(i, "mqtt-topic"), "zigbee2mqtt/kitchen");
	}
	CHECK_EQ(metric("mqtt_events"), ev + 3);
	CHECK_EQ(metric("mqtt_fanout_messages"), fan + 1);
	mq_map_fini(&map);
}

TEST(a_missing_field_leaves_no_event_of_the_message)
{
	uint64_t missing = reason("missing_field");

	zigbee_fields();
	setup(1, "dlq");
	CHECK_EQ(pub("zigbee2mqtt/kitchen", "{\"temperature\":21.5,\"humidity\":40}"), SG_OK);
	CHECK_EQ(cap.batches, 1); /* the dead letter only */
	CHECK_EQ(cap.n, 1);
	CHECK_STR(cap.ev[0].topic, "dlq");
	CHECK(cap.ev[0].raw);
	CHECK_STR(cap.ev[0].value, "{\"temperature\":21.5,\"humidity\":40}");
	CHECK_STR(cap_hdr(0, "sg-error-reason"), "missing_field");
	CHECK_STR(cap_hdr(0, "sg-error-field"), "battery");
	CHECK_STR(cap_hdr(0, "sg-error-rule"), "0");
	CHECK(strstr(cap_hdr(0, "sg-error"), "rules[0] (\"zigbee2mqtt/+\")") != NULL);
	CHECK(strstr(cap_hdr(0, "sg-error"), "no value at JSON pointer \"/battery\"") != NULL);
	CHECK_STR(cap_hdr(0, "mqtt-qos"), "1");
	CHECK_STR(cap_hdr(0, "mqtt-retain"), "0");
	CHECK_STR(cap_hdr(0, "mqtt-payload-size"), "34");
	CHECK_EQ(reason("missing_field"), missing + 1);
	/* the optional one missing is fine: three events */
	cap_reset();
	CHECK_EQ(pub("zigbee2mqtt/hall", Z2M), SG_OK);
	CHECK_EQ(cap.n, 3);
	mq_map_fini(&map);
}

TEST(field_types)
{
	zigbee_fields();
	setup(1, "dlq");
	pub("zigbee2mqtt/k", "{\"temperature\":\"21.5\",\"humidity\":1,\"battery\":2}");
	CHECK_EQ(cap.n, 1);
	CHECK_STR(cap_hdr(0, "sg-error-reason"), "wrong_type");
	CHECK_STR(cap_hdr(0, "sg-error-field"), "temperature");
	CHECK(strstr(cap_hdr(0, "sg-error"), "expected a number, found string") != NULL);
	/* null is accepted: no value, quality uncertain */
	cap_reset();
	pub("zigbee2mqtt/k", "{\"temperature\":null,\"humidity\":1,\"battery\":true}");
	CHECK_EQ(cap.n, 3);
	CHECK(cap.ev[0].v.type == SG_VAL_NONE && cap.ev[0].q == SG_Q_UNCERTAIN);
	CHECK_STR(cap.ev[0].reason, "value is null");
	CHECK(cap.ev[2].v.type == SG_VAL_BOOL && cap.ev[2].v.b); /* auto: any type */
	mq_map_fini(&map);
}

TEST(wildcard_nested_objects_in_document_order)
{
	struct sg_cfg_kv units[] = {{"Temperature", "degC"}, {"AM2301.Humidity", "%"}};
	char *exclude[] = {"DewPoint", "ENERGY"};

	clear();
	rules[0] = (struct mq_rule_conf){.filter = "tele/+/SENSOR",
					 .key = "{1}",
					 .sensor = "{1}/{field}",
					 .payload = MQ_PAYLOAD_JSON,
					 .wildcard = "",
					 .units = {units, 2},
					 .exclude = {exclude, 2}};
	setup(1, "dlq");
	CHECK_EQ(pub("tele/tasmota_1/SENSOR",
		     "{\"Time\":\"2024-05-01T14:00:00\",\"AM2301\":{\"Temperature\":21.3,"
		     "\"Humidity\":45.1,\"DewPoint\":9.1},\"DS18B20\":{\"Id\":\"01\","
		     "\"Temperature\":20},\"ENERGY\":{\"Power\":5},\"Relay\":[true,false],"
		     "\"TempUnit\":\"C\"}"),
		 SG_OK);
	CHECK_EQ(cap.batches, 1);
	CHECK_EQ(cap.n, 5); /* strings, excluded leaves and subtrees left out */
	CHECK_STR(cap.ev[0].sensor, "tasmota_1/AM2301.Temperature");
	CHECK_STR(cap.ev[1].sensor, "tasmota_1/AM2301.Humidity");
	CHECK_STR(cap.ev[2].sensor, "tasmota_1/DS18B20.Temperature");
	CHECK_STR(cap.ev[3].sensor, "tasmota_1/Relay.0"); /* array elements by index */
	CHECK_STR(cap.ev[4].sensor, "tasmota_1/Relay.1");
	CHECK_STR(cap.ev[0].unit, "degC"); /* by own member name */
	CHECK_STR(cap.ev[1].unit, "%");    /* by full name */
	CHECK_STR(cap.ev[2].unit, "degC");
	CHECK(!cap.ev[3].has_unit);
	CHECK(cap.ev[3].v.type == SG_VAL_BOOL && cap.ev[3].v.b);
	CHECK(cap.ev[2].v.type == SG_VAL_INT && cap.ev[2].v.i == 20);
	mq_map_fini(&map);
}

TEST(wildcard_below_a_pointer_separator_and_scalar_root)
{
	clear();
	rules[0] = (struct mq_rule_conf){.filter = "m/+",
					 .sensor = "{1}:{field}",
					 .payload = MQ_PAYLOAD_JSON,
					 .wildcard = "/values",
					 .field_separator = "/"};
	rules[1] = (struct mq_rule_conf){
	    .filter = "e/+", .sensor = "{1}.{field}", .payload = MQ_PAYLOAD_JSON, .wildcard = ""};
	setup(2, "dlq");
	pub("m/meter", "{\"values\":{\"power\":1.5,\"energy\":{\"import\":2,\"export\":3}},"
		       "\"other\":4}");
	CHECK_EQ(cap.n, 3);
	CHECK_STR(cap.ev[0].sensor, "meter:power");
	CHECK_STR(cap.ev[1].sensor, "meter:energy/import");
	CHECK_STR(cap.ev[2].sensor, "meter:energy/export");
	cap_reset();
	pub("e/temp", "21.5"); /* a plain number: the root is the leaf */
	CHECK_EQ(cap.n, 1);
	CHECK_STR(cap.ev[0].sensor, "temp.value");
	CHECK(cap.ev[0].v.d == 21.5);
	mq_map_fini(&map);
}

TEST(continue_puts_every_rule_in_one_batch)
{
	clear();
	rules[0] = (struct mq_rule_conf){.filter = "f/+",
					 .cont = true,
					 .key = "{1}",
					 .sensor = "{1}/{field}",
					 .payload = MQ_PAYLOAD_JSON,
					 .wildcard = "/v"};
	rules[1] = (struct mq_rule_conf){
	    .filter = "f/#", .key = "{1}", .sensor = "{1}/{field}", .payload = MQ_PAYLOAD_JSON};
	fl[1][0] = (struct mq_field_conf){.id = "L1", .pointer = "/phases/0", .unit = "V"};
	fl[1][1] = (struct mq_field_conf){.id = "L2", .pointer = "/phases/1", .unit = "V"};
	use_fields(1, 2);
	rules[2] = (struct mq_rule_conf){.filter = "#", .topic = "never"};
	setup(3, "dlq");
	CHECK_EQ(pub("f/m7", "{\"v\":{\"p\":1,\"q\":2},\"phases\":[230.1,229.8]}"), SG_OK);
	CHECK_EQ(cap.batches, 1);
	CHECK_EQ(cap.batch_n[0], 4);
	CHECK_STR(cap.ev[0].sensor, "m7/p"); /* rule order, then field order */
	CHECK_STR(cap.ev[1].sensor, "m7/q");
	CHECK_STR(cap.ev[2].sensor, "m7/L1");
	CHECK_STR(cap.ev[3].sensor, "m7/L2");
	CHECK(cap.ev[3].v.d == 229.8);
	/* rule 1 has no continue: rule 2 never sees it */
	for (size_t i = 0; i < cap.n; i++)
		CHECK(!cap.ev[i].has_topic);
	/* the second rule fails: nothing of the first is kept */
	cap_reset();
	CHECK_EQ(pub("f/m7", "{\"v\":{\"p\":1,\"q\":2},\"phases\":[230.1]}"), SG_OK);
	CHECK_EQ(cap.batches, 1);
	CHECK_EQ(cap.n, 1);
	CHECK_STR(cap.ev[0].topic, "dlq");
	CHECK_STR(cap_hdr(0, "sg-error-rule"), "1");
	CHECK_STR(cap_hdr(0, "sg-error-field"), "L2");
	mq_map_fini(&map);
}

TEST(conditions_select_the_rule)
{
	clear();
	rules[0] = (struct mq_rule_conf){.filter = "+/events/rpc",
					 .if_pointer = "/method",
					 .if_equals = "NotifyStatus",
					 .topic = "status",
					 .sensor = "{0}/{field}",
					 .payload = MQ_PAYLOAD_JSON};
	fl[0][0] = (struct mq_field_conf){
	    .id = "power", .pointer = "/params/switch:0/apower", .optional = true};
	use_fields(0, 1);
	rules[1] = (struct mq_rule_conf){.filter = "+/events/rpc", .topic = "events"};
	rules[2] = (struct mq_rule_conf){
	    .filter = "c/+", .if_pointer = "/ok", .if_equals = "true", .topic = "ok"};
	rules[3] = (struct mq_rule_conf){.filter = "c/+", .if_pointer = "/x", .topic = "has-x"};
	rules[4] = (struct mq_rule_conf){.filter = "c/+", .topic = "rest"};
	setup(5, "dlq");
	pub("sh1/events/rpc",
	    "{\"method\":\"NotifyStatus\",\"params\":{\"switch:0\":{\"apower\":72.4}}}");
	CHECK_EQ(cap.n, 1);
	CHECK_STR(cap.ev[0].topic, "status");
	CHECK_STR(cap.ev[0].sensor, "sh1/power");
	cap_reset();
	pub("sh1/events/rpc", "{\"method\":\"NotifyEvent\",\"params\":{}}");
	CHECK_STR(cap.ev[0].topic, "events");
	CHECK(cap.ev[0].raw);
	cap_reset();
	pub("sh1/events/rpc", "not json"); /* no condition holds on non-JSON */
	CHECK_STR(cap.ev[0].topic, "events");
	cap_reset();
	pub("c/1", "{\"ok\":true}"); /* JSON text of a non-string */
	pub("c/1", "{\"ok\":\"true\",\"x\":null}");
	pub("c/1", "{\"ok\":false}");
	CHECK_EQ(cap.n, 3);
	CHECK_STR(cap.ev[0].topic, "ok");
	CHECK_STR(cap.ev[1].topic, "ok"); /* a string compares by its text */
	CHECK_STR(cap.ev[2].topic, "rest");
	cap_reset();
	pub("c/1", "{\"x\":1}");
	CHECK_STR(cap.ev[0].topic, "has-x");
	mq_map_fini(&map);
}

TEST(a_message_of_no_event_is_bad_unless_skipped)
{
	uint64_t empty = metric("mqtt_empty"), noev = reason("no_events");

	clear();
	rules[0] = (struct mq_rule_conf){
	    .filter = "a/+", .sensor = "{1}/{field}", .payload = MQ_PAYLOAD_JSON};
	fl[0][0] = (struct mq_field_conf){.id = "t", .pointer = "/t", .optional = true};
	use_fields(0, 1);
	rules[1] = rules[0];
	rules[1].filter = "b/+";
	rules[1].empty = MQ_EMPTY_SKIP;
	rules[1].fields.items = fl[0];
	setup(2, "dlq");
	CHECK_EQ(pub("a/1", "{\"u\":1}"), SG_OK);
	CHECK_EQ(cap.n, 1);
	CHECK_STR(cap_hdr(0, "sg-error-reason"), "no_events");
	CHECK_EQ(reason("no_events"), noev + 1);
	cap_reset();
	CHECK_EQ(pub("b/1", "{\"u\":1}"), SG_OK);
	CHECK_EQ(cap.batches, 0);
	CHECK_EQ(metric("mqtt_empty"), empty + 1);
	mq_map_fini(&map);
}

TEST(max_events_bounds_a_message)
{
	zigbee_fields();
	setup(1, "dlq");
	conf.max_events = 2;
	map.max_events = 2;
	pub("zigbee2mqtt/k", Z2M);
	CHECK_EQ(cap.n, 1);
	CHECK_STR(cap_hdr(0, "sg-error-reason"), "too_many_events");
	CHECK(strstr(cap_hdr(0, "sg-error"), "more than 2 events") != NULL);
	mq_map_fini(&map);
}

TEST(field_in_the_topic_and_key_templates)
{
	clear();
	rules[0] = (struct mq_rule_conf){.filter = "d/+",
					 .topic = "t.{field}",
					 .key = "{1}-{field}",
					 .sensor = "{field}",
					 .payload = MQ_PAYLOAD_JSON,
					 .wildcard = ""};
	setup(1, "dlq");
	pub("d/x", "{\"a b\":{\"c\":1}}");
	CHECK_EQ(cap.n, 1);
	CHECK_STR(cap.ev[0].topic, "t.a_b.c"); /* Kafka topic characters only */
	CHECK_STR(cap.ev[0].key, "x-a b.c");
	CHECK_STR(cap.ev[0].sensor, "a b.c");
	mq_map_fini(&map);
}

TEST(spool_refusing_the_batch)
{
	uint64_t lost = metric("mqtt_lost_after_ack");

	zigbee_fields();
	setup(1, "dlq");
	cap.rc = SG_EIO; /* a write error: none stored, the message counted once */
	CHECK_EQ(pub("zigbee2mqtt/k", Z2M), SG_EIO);
	CHECK_EQ(cap.batches, 1);
	CHECK_EQ(metric("mqtt_lost_after_ack"), lost + 1);
	CHECK_EQ(map.last_rc, SG_EIO);
	/* SG_EINVAL (together over max_record_bytes): dead-lettered instead */
	cap_reset();
	map.last_rc = SG_OK;
	cap.rc = SG_EINVAL;
	CHECK_EQ(pub("zigbee2mqtt/k", Z2M), SG_OK);
	CHECK_EQ(cap.batches, 3); /* the batch, its dead letter, that again with its head */
	CHECK_EQ(cap.batch_n[1], 1);
	CHECK_STR(cap.ev[3].topic, "dlq");
	CHECK_STR(cap_hdr(3, "sg-error-reason"), "spool_refused");
	CHECK_EQ(cap.ev[4].value_len, 0); /* dead_letter_head is 0 here */
	mq_map_fini(&map);
}

TEST(oversize_dead_letter_keeps_the_head_and_the_size)
{
	char big[5000];

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	zigbee_fields();
	setup(1, "dlq");
	conf.dead_letter_head = 16;
	pub("zigbee2mqtt/k", big);
	CHECK_EQ(cap.n, 1);
	CHECK_EQ(cap.ev[0].value_len, 16);
	CHECK_STR(cap_hdr(0, "mqtt-payload-size"), "4999");
	CHECK_STR(cap_hdr(0, "sg-error-reason"), "oversize");
	mq_map_fini(&map);
}

TEST(user_properties_reach_every_event_and_the_dead_letter)
{
	struct sg_header up[1] = {{"site", "north", 5}};
	struct mq_msg m = {"zigbee2mqtt/k", Z2M, strlen(Z2M), 1, true, "application/json", up, 1};

	zigbee_fields();
	setup(1, "dlq");
	CHECK_EQ(mq_map_message(&map, &m), SG_OK);
	CHECK_EQ(cap.n, 3);
	for (size_t i = 0; i < 3; i++) {
		CHECK_STR(cap_hdr(i, "site"), "north");
		CHECK_STR(cap_hdr(i, "mqtt-retain"), "1");
	}
	m.payload = "{";
	m.len = 1;
	cap_reset();
	mq_map_message(&map, &m);
	CHECK_STR(cap_hdr(0, "site"), "north");
	CHECK_STR(cap.ev[0].ctype, "application/json");
	mq_map_fini(&map);
}

/* The spool refuses a dead letter over its max_record_bytes: it goes
 * again with the head of the payload only. */
static int refuse_big(struct sg_source *src, const struct sg_reading *rd, size_t n)
{
	if (n == 1 && rd->raw && rd->value.s.len > 100)
		return cap_emit(src, rd, n), SG_EINVAL;
	return cap_emit(src, rd, n);
}

TEST(dead_letter_too_large_for_the_spool_goes_with_its_head)
{
	char doc[3000];

	memset(doc, ' ', sizeof(doc) - 1);
	doc[0] = '{';
	doc[sizeof(doc) - 1] = '\0';
	zigbee_fields();
	setup(1, "dlq");
	conf.dead_letter_head = 64;
	map.emit = refuse_big;
	pub("zigbee2mqtt/k", doc);
	CHECK_EQ(cap.batches, 2);
	CHECK_EQ(cap.ev[1].value_len, 64);
	CHECK_STR(cap_hdr(1, "mqtt-payload-size"), "2999");
	CHECK_STR(cap_hdr(1, "sg-error-reason"), "invalid_json");
	mq_map_fini(&map);
}
