/*
 * test_mqtt_time.c - event time from the device: epoch numbers in every
 * unit (and `auto`), RFC 3339 with and without an offset, an MQTT 5 user
 * property, raw mode, and the `bad_time` policy for a time that cannot
 * be parsed, lies in the future or before 2000: arrival time with quality
 * uncertain (counted), or a dead letter.
 */
#include <stdio.h>

#include "test_mqtt_capture.h"

static struct mq_rule_conf rules[2];
static struct mq_field_conf fl[2];
static struct mq_conf conf;
static struct mq_map map;

#define T0 1714564800LL /* 2024-05-01T12:00:00Z */

/* A fields rule reading /v, with its time at /ts. */
static void setup(int unit, const char *offset, int policy, int64_t max_future_ms)
{
	struct sg_errbuf eb;

	cap_reset();
	memset(rules, 0, sizeof(rules));
	memset(fl, 0, sizeof(fl));
	memset(&conf, 0, sizeof(conf));
	fl[0] = (struct mq_field_conf){.id = "v", .pointer = "/v"};
	fl[1] = (struct mq_field_conf){.id = "w", .pointer = "/w", .optional = true};
	rules[0] = (struct mq_rule_conf){.filter = "j/#",
					 .sensor = "{1}/{field}",
					 .payload = MQ_PAYLOAD_JSON,
					 .fields = {fl, 2},
					 .time = "/ts",
					 .time_unit = unit,
					 .time_offset = (char *)offset,
					 .bad_time = policy,
					 .max_future_ms = max_future_ms};
	rules[1] = (struct mq_rule_conf){.filter = "r/#",
					 .time = "/ts",
					 .time_unit = unit,
					 .time_property = "ts",
					 .bad_time = policy,
					 .max_future_ms = max_future_ms};
	conf.rules.items = rules;
	conf.rules.n = 2;
	conf.max_payload = 4096;
	conf.dead_letter_topic = "dlq";
	if (mq_map_init(&map, NULL, "tm", &conf, &eb) != SG_OK)
		t_fail(__FILE__, __LINE__, "init: %s", eb.msg);
	map.emit = cap_emit;
}

static void pub(const char *topic, const char *payload)
{
	struct mq_msg m = {topic, payload, strlen(payload), 1, false, NULL, NULL, 0};
	mq_map_message(&map, &m);
}

static uint64_t tfail(const char *reason)
{
	char l[96];

	snprintf(l, sizeof(l), "source=\"tm\",reason=\"%s\"", reason);
	return cap_metric("mqtt_time_failures", l);
}

TEST(epoch_numbers_in_each_unit)
{
	static const struct {
		int unit;
		const char *ts;
		int64_t want;
	} cases[] = {
	    {MQ_TU_S, "1714564800", T0 * SG_NS_PER_S},
	    {MQ_TU_S, "1714564800.52", T0 * SG_NS_PER_S + 520000000},
	    {MQ_TU_MS, "1714564800123", T0 * SG_NS_PER_S + 123000000},
	    {MQ_TU_US, "1714564800123456", T0 * SG_NS_PER_S + 123456000},
	    {MQ_TU_NS, "1714564800123456789", T0 * SG_NS_PER_S + 123456789},
	    {MQ_TU_AUTO, "1714564800", T0 * SG_NS_PER_S},
	    {MQ_TU_AUTO, "1714564800.5", T0 * SG_NS_PER_S + 500000000},
	    {MQ_TU_AUTO, "1714564800123", T0 * SG_NS_PER_S + 123000000},
	    {MQ_TU_AUTO, "1714564800123456", T0 * SG_NS_PER_S + 123456000},
	    {MQ_TU_AUTO, "1714564800123456789", T0 * SG_NS_PER_S + 123456789},
	};
	char doc[128];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		setup(cases[i].unit, NULL, MQ_BT_ARRIVAL, 0);
		snprintf(doc, sizeof(doc), "{\"v\":1,\"w\":2,\"ts\":%s}", cases[i].ts);
		pub("j/d", doc);
		CHECK_EQ(cap.n, 2);
		if (cap.ev[0].ts != cases[i].want)
			t_fail(__FILE__, __LINE__, "case %zu (%s): ts %lld, want %lld", i,
			       cases[i].ts, (long long)cap.ev[0].ts, (long long)cases[i].want);
		CHECK_EQ(cap.ev[1].ts, cap.ev[0].ts); /* one time for the message */
		CHECK(cap.ev[0].q == SG_Q_GOOD);
		mq_map_fini(&map);
	}
}

TEST(rfc3339_with_and_without_offset)
{
	setup(MQ_TU_MS, NULL, MQ_BT_ARRIVAL, 0);
	pub("j/d", "{\"v\":1,\"ts\":\"2024-05-01T14:00:00.250+02:00\"}");
	CHECK_EQ(cap.ev[0].ts, T0 * SG_NS_PER_S + 250000000);
	cap_reset();
	pub("j/d", "{\"v\":1,\"ts\":\"2024-05-01T14:00:00\"}"); /* no offset: unusable */
	CHECK_EQ(cap.ev[0].ts, 0);
	CHECK(cap.ev[0].q == SG_Q_UNCERTAIN);
	mq_map_fini(&map);
	setup(MQ_TU_MS, "+02:00", MQ_BT_ARRIVAL, 0); /* Tasmota's local time */
	pub("j/d", "{\"v\":1,\"ts\":\"2024-05-01T14:00:00\"}");
	CHECK_EQ(cap.ev[0].ts, T0 * SG_NS_PER_S);
	CHECK(cap.ev[0].q == SG_Q_GOOD);
	mq_map_fini(&map);
}

TEST(unusable_time_arrival_and_uncertain)
{
	uint64_t unp = tfail("unparsable"), fut = tfail("future"), past = tfail("past"),
		 miss = tfail("missing");
	char doc[128];

	setup(MQ_TU_S, NULL, MQ_BT_ARRIVAL, 5 * 60 * 1000);
	pub("j/d", "{\"v\":1,\"ts\":\"yesterday\"}");
	pub("j/d", "{\"v\":1,\"ts\":true}");
	pub("j/d", "{\"v\":1,\"ts\":-5}");
	pub("j/d", "{\"v\":1,\"ts\":1e300}");
	snprintf(doc, sizeof(doc), "{\"v\":1,\"ts\":%lld}",
		 (long long)(sg_now_ns() / SG_NS_PER_S + 3600));
	pub("j/d", doc);
	pub("j/d", "{\"v\":1,\"ts\":312}"); /* a clock never set: 1970 */
	CHECK_EQ(cap.batches, 6);
	for (size_t i = 0; i < cap.n; i++) {
		CHECK_EQ(cap.ev[i].ts, 0);
		CHECK(cap.ev[i].q == SG_Q_UNCERTAIN);
		CHECK(strstr(cap.ev[i].reason, "arrival time used") != NULL);
		CHECK(!cap.ev[i].has_topic); /* not dead-lettered */
	}
	CHECK(strstr(cap.ev[4].reason, "future") != NULL);
	CHECK(strstr(cap.ev[5].reason, "before 2000") != NULL);
	CHECK_EQ(tfail("unparsable"), unp + 4);
	CHECK_EQ(tfail("future"), fut + 1);
	CHECK_EQ(tfail("past"), past + 1);
	/* a time within max_future is the device's */
	cap_reset();
	snprintf(doc, sizeof(doc), "{\"v\":1,\"ts\":%lld}",
		 (long long)(sg_now_ns() / SG_NS_PER_S + 60));
	pub("j/d", doc);
	CHECK(cap.ev[0].ts > 0 && cap.ev[0].q == SG_Q_GOOD);
	/* missing or null: the arrival time, counted, quality untouched */
	cap_reset();
	pub("j/d", "{\"v\":1}");
	pub("j/d", "{\"v\":1,\"ts\":null}");
	CHECK_EQ(cap.ev[0].ts, 0);
	CHECK(cap.ev[0].q == SG_Q_GOOD && cap.ev[1].q == SG_Q_GOOD);
	CHECK_EQ(tfail("missing"), miss + 2);
	mq_map_fini(&map);
}

TEST(unusable_time_dead_letter_policy)
{
	setup(MQ_TU_S, NULL, MQ_BT_DEAD_LETTER, 60000);
	pub("j/d", "{\"v\":1,\"ts\":\"2024-13-01T00:00:00Z\"}");
	CHECK_EQ(cap.n, 1);
	CHECK_STR(cap.ev[0].topic, "dlq");
	CHECK_STR(cap_hdr(0, "sg-error-reason"), "bad_time");
	CHECK(strstr(cap_hdr(0, "sg-error"), "the time at \"/ts\"") != NULL);
	cap_reset();
	pub("j/d", "{\"v\":1,\"ts\":4102444800}"); /* 2100 */
	CHECK_STR(cap_hdr(0, "sg-error-reason"), "bad_time");
	CHECK(strstr(cap_hdr(0, "sg-error"), "future") != NULL);
	mq_map_fini(&map);
}

TEST(user_property_and_raw_mode)
{
	struct sg_header up[2] = {{"other", "x", 1}, {"ts", "1714564800123", 13}};
	struct mq_msg m = {"r/d", "raw bytes", 9, 1, false, NULL, up, 2};

	setup(MQ_TU_MS, NULL, MQ_BT_ARRIVAL, 0);
	mq_map_message(&map, &m); /* raw mode, time from the property */
	CHECK_EQ(cap.n, 1);
	CHECK(cap.ev[0].raw);
	CHECK_EQ(cap.ev[0].ts, T0 * SG_NS_PER_S + 123000000);
	/* a property named like ours arrives renamed, and still counts */
	up[1] = (struct sg_header){"mqtt-user-ts", "2024-05-01T12:00:00Z", 20};
	cap_reset();
	mq_map_message(&map, &m);
	CHECK_EQ(cap.ev[0].ts, T0 * SG_NS_PER_S);
	/* no property: the JSON payload's /ts, in raw mode too */
	cap_reset();
	pub("r/d", "{\"ts\":1714564800000}");
	CHECK(cap.ev[0].raw);
	CHECK_EQ(cap.ev[0].ts, T0 * SG_NS_PER_S);
	/* a payload that is not JSON: arrival time, said in a header */
	cap_reset();
	up[1] = (struct sg_header){"ts", "soon", 4};
	mq_map_message(&map, &m);
	CHECK_EQ(cap.ev[0].ts, 0);
	CHECK_STR(cap.ev[0].value, "raw bytes");
	CHECK(strstr(cap_hdr(0, "sg-time-error"), "unparsable") != NULL);
	CHECK_STR(cap_hdr(0, "mqtt-topic"), "r/d");
	mq_map_fini(&map);
}

TEST(time_helpers)
{
	struct sg_value v = {.type = SG_VAL_INT, .i = 0};
	int32_t off;
	int64_t ns;

	CHECK_EQ(mq_time_from_num(&v, MQ_TU_S, &ns), SG_EINVAL); /* 0: not a time */
	v.i = INT64_MAX / 10;
	CHECK_EQ(mq_time_from_num(&v, MQ_TU_S, &ns), SG_EINVAL); /* beyond 2262 */
	v = (struct sg_value){.type = SG_VAL_UINT, .u = UINT64_MAX};
	CHECK_EQ(mq_time_from_num(&v, MQ_TU_NS, &ns), SG_EINVAL);
	CHECK_EQ(mq_offset_parse("Z", 1, &off), SG_OK);
	CHECK_EQ(off, 0);
	CHECK_EQ(mq_offset_parse("-05:30", 6, &off), SG_OK);
	CHECK_EQ(off, -19800);
	CHECK_EQ(mq_offset_parse("+24:00", 6, &off), SG_EINVAL);
	CHECK_EQ(mq_offset_parse("0200", 4, &off), SG_EINVAL);
	CHECK(mq_time_check(MQ_TIME_MIN_NS - 1, 0, 0) == MQ_TF_PAST);
	CHECK(mq_time_check(T0 * SG_NS_PER_S, T0 * SG_NS_PER_S - 2 * SG_NS_PER_S, SG_NS_PER_S) ==
	      MQ_TF_FUTURE);
	CHECK(mq_time_check(T0 * SG_NS_PER_S, 0, 0) == MQ_TF_OK); /* 0: no bound */
}

TEST(decimal_times_are_exact)
{
	int64_t ns;

	CHECK_EQ(mq_time_from_text("1714564800.52", 13, MQ_TU_S, &ns), SG_OK);
	CHECK_EQ(ns, T0 * SG_NS_PER_S + 520000000);
	CHECK_EQ(mq_time_from_text("1714564800.123456789123", 23, MQ_TU_S, &ns), SG_OK);
	CHECK_EQ(ns, T0 * SG_NS_PER_S + 123456789);
	CHECK_EQ(mq_time_from_text("1714564800123.5", 15, MQ_TU_MS, &ns), SG_OK);
	CHECK_EQ(ns, T0 * SG_NS_PER_S + 123500000);
	CHECK_EQ(mq_time_from_text("1.7145648e9", 11, MQ_TU_S, &ns), SG_OK);
	CHECK_EQ(ns, T0 * SG_NS_PER_S);
	CHECK_EQ(mq_time_from_text("0.0", 3, MQ_TU_S, &ns), SG_EINVAL);
	CHECK_EQ(mq_time_from_text("-5", 2, MQ_TU_S, &ns), SG_EINVAL);
	CHECK_EQ(mq_time_from_text("99999999999999999999", 20, MQ_TU_S, &ns), SG_EINVAL);
}

/* Regression (found by tests/fuzz/fuzz_map.c): a date-time outside the
 * years an int64 of nanoseconds can hold overflowed (undefined behaviour)
 * instead of being refused. */
TEST(date_times_beyond_int64_nanoseconds)
{
	int64_t ns;

	CHECK_EQ(mq_time_parse("4048-05-01T12:00:00Z", 20, &ns), SG_EINVAL);
	CHECK_EQ(mq_time_parse("9999-12-31T23:59:59Z", 20, &ns), SG_EINVAL);
	CHECK_EQ(mq_time_parse("0001-01-01T00:00:00Z", 20, &ns), SG_EINVAL);
	CHECK_EQ(mq_time_parse("2262-04-11T23:47:15Z", 20, &ns), SG_OK);
	CHECK_EQ(ns, 9223372035LL * SG_NS_PER_S);
	CHECK_EQ(mq_time_parse("1677-09-21T00:12:45Z", 20, &ns), SG_OK);
	CHECK(ns < 0);
}

/* Regression (found by tests/fuzz/fuzz_time.c): text that is not a JSON
 * number passed through strtod's prefix, and a tiny time rounded to 0. */
TEST(epoch_text_must_be_a_number)
{
	struct sg_value v = {.type = SG_VAL_DOUBLE, .d = 1e-12};
	int64_t ns;

	CHECK_EQ(mq_time_from_text(".2false3", 8, MQ_TU_NS, &ns), SG_EINVAL);
	CHECK_EQ(mq_time_from_text("1e", 2, MQ_TU_S, &ns), SG_EINVAL);
	CHECK_EQ(mq_time_from_text("01", 2, MQ_TU_S, &ns), SG_EINVAL);
	CHECK_EQ(mq_time_from_text("1.", 2, MQ_TU_S, &ns), SG_EINVAL);
	CHECK_EQ(mq_time_from_num(&v, MQ_TU_S, &ns), SG_EINVAL);
	CHECK_EQ(mq_time_from_text("1.7e9", 5, MQ_TU_S, &ns), SG_OK);
	CHECK_EQ(ns, 1700000000LL * SG_NS_PER_S);
}
