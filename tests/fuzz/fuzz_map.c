/*
 * fuzz_map.c - fuzz target: one MQTT message through the whole mapper
 * (message.c, fanout.c: rules, conditions, continue, fields, wildcard,
 * device time, dead letters) against a checking fake of the core's batch
 * emit.  The first input byte picks the topic (so the payload meets each
 * rule), the rest is the payload.
 *
 * Invariants (abort when broken): one emit per message at most, plus the
 * retried dead letter; every batch within max_events; every reading has a
 * sensor id of 1..255 bytes, readable strings and headers (ASan checks
 * each byte), raw readings bytes, a time >= 0; a dead letter carries its
 * reason from the fixed set; mapping always returns SG_OK with an emit
 * that succeeds.
 */
#include <string.h>

#include "drivers/mqtt/mqtt.h"
#include "fuzz.h"

static struct mq_field_conf fields[] = {
    {.id = "v", .pointer = "/v", .type = MQ_FT_NUMBER},
    {.id = "s", .pointer = "/s", .type = MQ_FT_STRING, .optional = true},
    {.id = "b", .pointer = "/a/0/b", .unit_pointer = "/u", .optional = true},
    {.id = "any", .pointer = "", .unit = "x"},
};
static struct sg_cfg_kv units[] = {{"t", "degC"}, {"a.0.b", "%"}};
static char *exclude[] = {"skip", "a.1"};

static struct mq_rule_conf rules[] = {
    {.filter = "c/+",
     .cont = true,
     .if_pointer = "/method",
     .if_equals = "Notify",
     .sensor = "{1}/{field}",
     .payload = MQ_PAYLOAD_JSON,
     .wildcard = "/params",
     .units = {units, 2},
     .exclude = {exclude, 2},
     .time = "/ts",
     .time_unit = MQ_TU_AUTO,
     .max_future_ms = 60000},
    {.filter = "c/#",
     .topic = "t.{1}",
     .key = "{1}",
     .sensor = "{1}:{field}",
     .payload = MQ_PAYLOAD_JSON,
     .fields = {fields, 3},
     .time = "/ts",
     .time_offset = "+02:00",
     .bad_time = MQ_BT_DEAD_LETTER},
    {.filter = "w/+",
     .sensor = "{1}.{field}",
     .payload = MQ_PAYLOAD_JSON,
     .wildcard = "",
     .field_separator = "/",
     .empty = MQ_EMPTY_SKIP},
    {.filter = "v/+",
     .payload = MQ_PAYLOAD_JSON,
     .value = "/v",
     .unit = "/u",
     .sensor_ptr = "/id",
     .time = "/t",
     .time_unit = MQ_TU_S},
    {.filter = "f/+",
     .sensor = "{1}/{field}",
     .payload = MQ_PAYLOAD_JSON,
     .fields = {fields + 3, 1}},
    {.filter = "r/#", .time = "/ts", .time_property = "ts", .content_type = "text/plain"},
};
static const char *const topics[] = {"c/dev", "c/dev/x", "w/dev", "v/dev",
				     "f/dev", "r/a/b",   "none/x"};

static struct mq_conf conf;
static struct mq_map map;
static int batches;

static void touch(const void *p, size_t n, unsigned *sum)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		*sum += b[i];
}

static int check_emit(struct sg_source *src, const struct sg_reading *rd, size_t n)
{
	unsigned sum = 0;

	(void)src;
	batches++;
	FZ_CHECK(n >= 1 && n <= map.max_events);
	for (size_t i = 0; i < n; i++) {
		const struct sg_reading *r = &rd[i];
		size_t sl;

		FZ_CHECK(r->sensor && (sl = strlen(r->sensor)) >= 1 && sl <= 255);
		FZ_CHECK(!r->topic || strlen(r->topic) <= 249);
		FZ_CHECK(r->ts_ns >= 0);
		FZ_CHECK(!r->raw || r->value.type == SG_VAL_BYTES);
		if (r->value.type == SG_VAL_STR || r->value.type == SG_VAL_BYTES)
			touch(r->value.s.p, r->value.s.len, &sum);
		if (r->unit)
			touch(r->unit, strlen(r->unit), &sum);
		if (r->key)
			touch(r->key, strlen(r->key), &sum);
		for (size_t h = 0; h < r->nheaders; h++) {
			touch(r->headers[h].key, strlen(r->headers[h].key), &sum);
			touch(r->headers[h].val, r->headers[h].len, &sum);
			if (!strcmp(r->headers[h].key, "sg-error-reason")) {
				bool known = false;
				for (size_t k = 0; k < MQ_NREASONS; k++)
					known |= !strncmp(mq_bad_reasons[k], r->headers[h].val,
							  r->headers[h].len) &&
						 strlen(mq_bad_reasons[k]) == r->headers[h].len;
				FZ_CHECK(known);
			}
		}
	}
	return sum == 0xffffffffu ? SG_EIO : SG_OK; /* never: keeps sum alive */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	struct sg_header up[1] = {{"ts", NULL, 0}};
	struct mq_msg msg = {0};
	struct sg_errbuf eb;

	if (!ready) {
		conf.rules.items = rules;
		conf.rules.n = sizeof(rules) / sizeof(rules[0]);
		conf.max_payload = 64 << 10;
		conf.dead_letter_head = 64;
		conf.max_events = 200;
		conf.dead_letter_topic = "dlq";
		sg_log_set_level(SG_LOG_QUIET);
		FZ_CHECK(mq_map_init(&map, NULL, "fuzz", &conf, &eb) == SG_OK);
		map.emit = check_emit;
		ready = true;
	}
	if (!size)
		return 0;
	msg.topic = topics[data[0] % (sizeof(topics) / sizeof(topics[0]))];
	msg.payload = data + 1;
	msg.len = size - 1;
	msg.qos = data[0] >> 7;
	msg.retain = (data[0] >> 6) & 1;
	if (data[0] & 0x20) { /* the payload's head doubles as a time property */
		up[0].val = data + 1;
		up[0].len = size - 1 < 24 ? size - 1 : 24;
		msg.uprops = up;
		msg.nuprops = 1;
	}
	batches = 0;
	FZ_CHECK(mq_map_message(&map, &msg) == SG_OK);
	FZ_CHECK(batches <= 2);
	return 0;
}
