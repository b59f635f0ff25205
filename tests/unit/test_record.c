/*
 * test_record.c - the spool payload versions and their rendering: a
 * version 2 record renders byte for byte the JSON and headers the
 * previous release wrote for the same event and seq (golden values
 * produced by that release), a version 1 payload built here decodes and
 * renders exactly as before, and malformed payloads are refused.
 */
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway/core/event.h"
#include "t.h"

static const struct sg_event_ctx ec = {"gw", "src", "t.{source}.{sensor}"};

static const struct sg_attr g_at2[] = {{"room", "lab \"A\""}, {"line", "3\n\xc3\xa9"}};
static const struct sg_header g_h[] = {{"mqtt-topic", "a/b", 3}, {"mqtt-qos", "1", 1}};
static const struct sg_reading golden[] = {
    {.sensor = "temp-1",
     .ts_ns = 1700000000123456789LL,
     .value = {.type = SG_VAL_DOUBLE, .d = 21.5},
     .unit = "degC",
     .attrs = g_at2,
     .nattrs = 2},
    {.sensor = "c", .ts_ns = 1, .value = {.type = SG_VAL_UINT, .u = 18446744073709551615ULL}},
    {.sensor = "i", .ts_ns = -1, .value = {.type = SG_VAL_INT, .i = INT64_MIN}, .unit = ""},
    {.sensor = "i2", .ts_ns = INT64_MIN, .value = {.type = SG_VAL_INT, .i = 0}},
    {.sensor = "i3", .ts_ns = INT64_MAX, .value = {.type = SG_VAL_INT, .i = 42}},
    {.sensor = "b",
     .ts_ns = 951782400000000000LL,
     .value = {.type = SG_VAL_BOOL, .b = false},
     .quality = SG_Q_UNCERTAIN,
     .reason = ""},
    {.sensor = "s\"q",
     .ts_ns = 1234567890,
     .value = {.type = SG_VAL_STR, .s = {"a\nb\x01\xff\"\\\t\r", 10}}},
    {.sensor = "y",
     .ts_ns = 4102444800000000000LL,
     .value = {.type = SG_VAL_BYTES, .s = {"\x00\xff\x10\x20", 4}}},
    {.sensor = "n",
     .ts_ns = 5,
     .value = {.type = SG_VAL_NONE},
     .quality = SG_Q_BAD,
     .reason = "exception 2: illegal data address"},
    {.sensor = "d", .ts_ns = 7, .value = {.type = SG_VAL_DOUBLE, .d = 1e300}, .quality = 9},
    {.sensor = "d2", .ts_ns = 8, .value = {.type = SG_VAL_DOUBLE, .d = -0.0}},
    {.sensor = "d3", .ts_ns = 9, .value = {.type = SG_VAL_DOUBLE, .d = 0.1 + 0.2}},
    {.sensor = "d4", .ts_ns = -86400000000001LL, .value = {.type = SG_VAL_DOUBLE, .d = 5e-324}},
    {.sensor = "raw",
     .ts_ns = 10,
     .raw = true,
     .value = {.type = SG_VAL_BYTES, .s = {"\x01\x02", 2}},
     .headers = g_h,
     .nheaders = 2,
     .key = "k",
     .topic = "t.raw"},
    {.sensor = "raw2",
     .ts_ns = 11,
     .raw = true,
     .content_type = "application/json",
     .value = {.type = SG_VAL_STR, .s = {"{\"x\":1}", 7}}},
    {.sensor = "hdr",
     .ts_ns = 12,
     .value = {.type = SG_VAL_INT, .i = -7},
     .headers = g_h,
     .nheaders = 1},
};

/* What the previous release produced for golden[i] with that seq: the
 * Kafka value and the headers as "name=value;" pairs. */
static const struct {
	uint64_t seq;
	const char *value, *headers;
} want[] = {
    {1000,
     "{\"v\":1,\"id\":\"gw:1000\",\"seq\":1000,\"gateway\":\"gw\",\"source\":\"src\",\"sensor\":"
     "\"temp-1\",\"time\":\"2023-11-14T22:13:20.123456789Z\",\"time_ns\":1700000000123456789,"
     "\"value\":21.5,\"type\":\"double\",\"unit\":\"degC\",\"quality\":\"good\",\"attrs\":{"
     "\"room\":\"lab \\\"A\\\"\",\"line\":\"3\\n\xc3"
     "\xa9"
     "\"}}",
     "sg-id=gw:1000;sg-source=src;content-type=application/vnd.sensorgate.event.v1+json;"},
    {8919,
     "{\"v\":1,\"id\":\"gw:8919\",\"seq\":8919,\"gateway\":\"gw\",\"source\":\"src\",\"sensor\":"
     "\"c\",\"time\":\"1970-01-01T00:00:00.000000001Z\",\"time_ns\":1,\"value\":"
     "18446744073709551615,\"type\":\"uint\",\"quality\":\"good\"}",
     "sg-id=gw:8919;sg-source=src;content-type=application/vnd.sensorgate.event.v1+json;"},
    {16838,
     "{\"v\":1,\"id\":\"gw:16838\",\"seq\":16838,\"gateway\":\"gw\",\"source\":\"src\",\"sensor\":"
     "\"i\",\"time\":\"1969-12-31T23:59:59.999999999Z\",\"time_ns\":-1,\"value\":-"
     "9223372036854775808,\"type\":\"int\",\"unit\":\"\",\"quality\":\"good\"}",
     "sg-id=gw:16838;sg-source=src;content-type=application/vnd.sensorgate.event.v1+json;"},
    {24757,
     "{\"v\":1,\"id\":\"gw:24757\",\"seq\":24757,\"gateway\":\"gw\",\"source\":\"src\",\"sensor\":"
     "\"i2\",\"time\":\"1677-09-21T00:12:43.145224192Z\",\"time_ns\":-9223372036854775808,"
     "\"value\":0,\"type\":\"int\",\"quality\":\"good\"}",
     "sg-id=gw:24757;sg-source=src;content-type=application/vnd.sensorgate.event.v1+json;"},
    {32676,
     "{\"v\":1,\"id\":\"gw:32676\",\"seq\":32676,\"gateway\":\"gw\",\"source\":\"src\",\"sensor\":"
     "\"i3\",\"time\":\"2262-04-11T23:47:16.854775807Z\",\"time_ns\":9223372036854775807,\"value\":"
     "42,\"type\":\"int\",\"quality\":\"good\"}",
     "sg-id=gw:32676;sg-source=src;content-type=application/vnd.sensorgate.event.v1+json;"},
    {40595,
     "{\"v\":1,\"id\":\"gw:40595\",\"seq\":40595,\"gateway\":\"gw\",\"source\":\"src\",\"sensor\":"
     "\"b\",\"time\":\"2000-02-29T00:00:00.000000000Z\",\"time_ns\":951782400000000000,\"value\":"
     "false,\"type\":\"bool\",\"quality\":\"uncertain\",\"reason\":\"\"}",
     "sg-id=gw:40595;sg-source=src;content-type=application/vnd.sensorgate.event.v1+json;"},
    {48514,
     "{\"v\":1,\"id\":\"gw:48514\",\"seq\":48514,\"gateway\":\"gw\",\"source\":\"src\",\"sensor\":"
     "\"s\\\"q\",\"time\":\"1970-01-01T00:00:01.234567890Z\",\"time_ns\":1234567890,\"value\":"
     "\"a\\nb\\u0001\\ufffd\\\"\\\\\\t\\r\\u0000\",\"type\":\"string\",\"quality\":\"good\"}",
     "sg-id=gw:48514;sg-source=src;content-type=application/vnd.sensorgate.event.v1+json;"},
    {56433,
     "{\"v\":1,\"id\":\"gw:56433\",\"seq\":56433,\"gateway\":\"gw\",\"source\":\"src\",\"sensor\":"
     "\"y\",\"time\":\"2100-01-01T00:00:00.000000000Z\",\"time_ns\":4102444800000000000,\"value\":"
     "\"AP8QIA==\",\"type\":\"bytes\",\"quality\":\"good\"}",
     "sg-id=gw:56433;sg-source=src;content-type=application/vnd.sensorgate.event.v1+json;"},
    {64352,
     "{\"v\":1,\"id\":\"gw:64352\",\"seq\":64352,\"gateway\":\"gw\",\"source\":\"src\",\"sensor\":"
     "\"n\",\"time\":\"1970-01-01T00:00:00.000000005Z\",\"time_ns\":5,\"value\":null,\"type\":"
     "\"none\",\"quality\":\"bad\",\"reason\":\"exception 2: illegal data address\"}",
     "sg-id=gw:64352;sg-source=src;content-type=application/vnd.sensorgate.event.v1+json;"},
    {72271,
     "{\"v\":1,\"id\":\"gw:72271\",\"seq\":72271,\"gateway\":\"gw\",\"source\":\"src\",\"sensor\":"
     "\"d\",\"time\":\"1970-01-01T00:00:00.000000007Z\",\"time_ns\":7,\"value\":1e+300,\"type\":"
     "\"double\",\"quality\":\"bad\"}",
     "sg-id=gw:72271;sg-source=src;content-type=application/vnd.sensorgate.event.v1+json;"},
    {80190,
     "{\"v\":1,\"id\":\"gw:80190\",\"seq\":80190,\"gateway\":\"gw\",\"source\":\"src\",\"sensor\":"
     "\"d2\",\"time\":\"1970-01-01T00:00:00.000000008Z\",\"time_ns\":8,\"value\":-0,\"type\":"
     "\"double\",\"quality\":\"good\"}",
     "sg-id=gw:80190;sg-source=src;content-type=application/vnd.sensorgate.event.v1+json;"},
    {88109,
     "{\"v\":1,\"id\":\"gw:88109\",\"seq\":88109,\"gateway\":\"gw\",\"source\":\"src\",\"sensor\":"
     "\"d3\",\"time\":\"1970-01-01T00:00:00.000000009Z\",\"time_ns\":9,\"value\":0."
     "30000000000000004,\"type\":\"double\",\"quality\":\"good\"}",
     "sg-id=gw:88109;sg-source=src;content-type=application/vnd.sensorgate.event.v1+json;"},
    {96028,
     "{\"v\":1,\"id\":\"gw:96028\",\"seq\":96028,\"gateway\":\"gw\",\"source\":\"src\",\"sensor\":"
     "\"d4\",\"time\":\"1969-12-30T23:59:59.999999999Z\",\"time_ns\":-86400000000001,\"value\":4."
     "94065645841247e-324,\"type\":\"double\",\"quality\":\"good\"}",
     "sg-id=gw:96028;sg-source=src;content-type=application/vnd.sensorgate.event.v1+json;"},
    {103947,
     "\x01"
     "\x02"
     "",
     "sg-id=gw:103947;sg-source=src;content-type=application/octet-stream;mqtt-topic=a/"
     "b;mqtt-qos=1;"},
    {111866, "{\"x\":1}", "sg-id=gw:111866;sg-source=src;content-type=application/json;"},
    {119785,
     "{\"v\":1,\"id\":\"gw:119785\",\"seq\":119785,\"gateway\":\"gw\",\"source\":\"src\","
     "\"sensor\":\"hdr\",\"time\":\"1970-01-01T00:00:00.000000012Z\",\"time_ns\":12,\"value\":-7,"
     "\"type\":\"int\",\"quality\":\"good\"}",
     "sg-id=gw:119785;sg-source=src;content-type=application/"
     "vnd.sensorgate.event.v1+json;mqtt-topic=a/b;"},
};

static void headers_of(const struct sg_record *r, struct sg_buf *out)
{
	size_t pos = 0, nl, vl;
	const char *name;
	const void *val;

	sg_buf_reset(out);
	while (sg_record_header_next(r, &pos, &name, &nl, &val, &vl)) {
		sg_buf_add(out, name, nl);
		sg_buf_addc(out, '=');
		sg_buf_add(out, val, vl);
		sg_buf_addc(out, ';');
	}
}

/* Encode, decode and render golden[i] as want[i].seq into scratch. */
static void render_golden(size_t i, struct sg_buf *enc, struct sg_buf *scratch, struct sg_record *r)
{
	sg_buf_reset(enc);
	CHECK_EQ(sg_event_encode(&ec, &golden[i], enc), SG_OK);
	CHECK_EQ(sg_record_decode(enc->p, enc->len, r), SG_OK);
	CHECK_EQ(sg_record_render(r, want[i].seq, scratch), SG_OK);
}

TEST(v2_renders_what_the_previous_release_wrote)
{
	struct sg_buf enc, scratch, h;
	struct sg_record r;

	CHECK_EQ(sizeof(golden) / sizeof(golden[0]), sizeof(want) / sizeof(want[0]));
	sg_buf_init(&enc);
	sg_buf_init(&scratch);
	sg_buf_init(&h);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		size_t wl = golden[i].raw ? golden[i].value.s.len : strlen(want[i].value);

		render_golden(i, &enc, &scratch, &r);
		if (r.value_len != wl || memcmp(r.value, want[i].value, wl))
			t_fail(__FILE__, __LINE__, "golden %zu: value %.*s, expected %s", i,
			       (int)r.value_len, (const char *)r.value, want[i].value);
		headers_of(&r, &h);
		CHECK_STR(h.p, want[i].headers);
		CHECK_EQ(r.nheaders, 3 + golden[i].nheaders);
		CHECK_EQ(r.raw, golden[i].raw);
	}
	sg_buf_free(&enc);
	sg_buf_free(&scratch);
	sg_buf_free(&h);
}

/* sg_event_json (tests, tools) is the same renderer. */
TEST(event_json_is_the_rendered_value)
{
	struct sg_buf enc, scratch, js;
	struct sg_record r;

	sg_buf_init(&enc);
	sg_buf_init(&scratch);
	sg_buf_init(&js);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		if (golden[i].raw)
			continue;
		render_golden(i, &enc, &scratch, &r);
		sg_buf_reset(&js);
		sg_event_json(&ec, &golden[i], want[i].seq, golden[i].ts_ns, &js);
		CHECK(js.len == r.value_len && !memcmp(js.p, r.value, js.len));
	}
	sg_buf_free(&enc);
	sg_buf_free(&scratch);
	sg_buf_free(&js);
}

/* The record keeps the gateway id it was read under, and the rest of
 * the event: a renderer needs nothing but the payload and the seq. */
TEST(v2_record_carries_the_event)
{
	const struct sg_event_ctx old = {"plant-a", "line-1", "{gateway}.{sensor}"};
	struct sg_buf enc, scratch, h;
	struct sg_record r;
	size_t pos = 0, kl, vl;
	const char *k, *v;

	sg_buf_init(&enc);
	sg_buf_init(&scratch);
	sg_buf_init(&h);
	CHECK_EQ(sg_event_encode(&old, &golden[0], &enc), SG_OK);
	CHECK_EQ(sg_record_decode(enc.p, enc.len, &r), SG_OK);
	CHECK(r.gateway_len == 7 && !memcmp(r.gateway, "plant-a", 7));
	CHECK(r.source_len == 6 && !memcmp(r.source, "line-1", 6));
	CHECK(r.topic_len == 14 && !memcmp(r.topic, "plant-a.temp-1", 14));
	CHECK(r.ev.sensor_len == 6 && !memcmp(r.ev.sensor, "temp-1", 6));
	CHECK(r.ev.value.type == SG_VAL_DOUBLE && r.ev.value.d == 21.5);
	CHECK(r.ev.unit_len == 4 && !memcmp(r.ev.unit, "degC", 4));
	CHECK(r.ev.reason == NULL);
	CHECK_EQ(r.ev.nattrs, 2);
	CHECK(sg_event_attr_next(&r.ev, &pos, &k, &kl, &v, &vl) == 1);
	CHECK(kl == 4 && !memcmp(k, "room", 4) && vl == 7 && !memcmp(v, "lab \"A\"", 7));
	CHECK(sg_event_attr_next(&r.ev, &pos, &k, &kl, &v, &vl) == 1);
	CHECK(kl == 4 && !memcmp(k, "line", 4));
	CHECK(sg_event_attr_next(&r.ev, &pos, &k, &kl, &v, &vl) == 0);
	/* Before render: no value, only the extra headers (none here). */
	CHECK_EQ(r.value_len, 0);
	CHECK_EQ(r.nheaders, 0);
	CHECK_EQ(sg_record_render(&r, 18446744073709551615ULL, &scratch), SG_OK);
	CHECK(strstr(r.value, "{\"v\":1,\"id\":\"plant-a:18446744073709551615\","
			      "\"seq\":18446744073709551615,\"gateway\":\"plant-a\","
			      "\"source\":\"line-1\",") == r.value);
	headers_of(&r, &h);
	CHECK_STR(h.p, "sg-id=plant-a:18446744073709551615;sg-source=line-1;"
		       "content-type=application/vnd.sensorgate.event.v1+json;");
	sg_buf_free(&enc);
	sg_buf_free(&scratch);
	sg_buf_free(&h);
}

/* Rendering again, or another record into the same scratch, gives the
 * same bytes: nothing of an earlier render leaks into a later one. */
TEST(render_is_repeatable_and_scratch_reusable)
{
	struct sg_buf e1, e2, scratch, first;
	struct sg_record r1, r2;

	sg_buf_init(&e1);
	sg_buf_init(&e2);
	sg_buf_init(&scratch);
	sg_buf_init(&first);
	render_golden(0, &e1, &scratch, &r1);
	sg_buf_add(&first, r1.value, r1.value_len);
	render_golden(13, &e2, &scratch, &r2); /* raw, two extra headers */
	CHECK(r2.value_len == 2 && !memcmp(r2.value, "\x01\x02", 2));
	CHECK_EQ(sg_record_render(&r1, want[0].seq, &scratch), SG_OK);
	CHECK(r1.value_len == first.len && !memcmp(r1.value, first.p, first.len));
	CHECK_EQ(sg_record_render(&r1, 1, &scratch), SG_OK);
	CHECK(strstr(r1.value, "\"id\":\"gw:1\",\"seq\":1,") != NULL);
	sg_buf_free(&e1);
	sg_buf_free(&e2);
	sg_buf_free(&scratch);
	sg_buf_free(&first);
}

/* --- version 1: the previous release's spool --------------------------- */

static void v1_str16(struct sg_buf *b, const char *s)
{
	sg_buf_add_u16(b, (uint16_t)strlen(s));
	sg_buf_adds(b, s);
}
static void v1_str32(struct sg_buf *b, const char *s)
{
	sg_buf_add_u32(b, (uint32_t)strlen(s));
	sg_buf_adds(b, s);
}

/* A version 1 payload as that release wrote it (event.h). */
static void v1_payload(struct sg_buf *b, const char *value, const char *id)
{
	sg_buf_addc(b, 1);
	sg_buf_add_u64(b, 1700000000123456789ULL);
	v1_str16(b, "t.src.temp-1");
	v1_str32(b, "temp-1");
	v1_str32(b, value);
	sg_buf_add_u16(b, 4);
	v1_str16(b, "sg-id");
	v1_str32(b, id);
	v1_str16(b, "sg-source");
	v1_str32(b, "src");
	v1_str16(b, "content-type");
	v1_str32(b, SG_CONTENT_TYPE_JSON);
	v1_str16(b, "x-extra");
	v1_str32(b, "");
}

TEST(v1_payload_decodes_and_renders_as_before)
{
	const char *value = want[0].value;
	struct sg_buf b, scratch, h;
	struct sg_record r;

	sg_buf_init(&b);
	sg_buf_init(&scratch);
	sg_buf_init(&h);
	v1_payload(&b, value, "gw:1000");
	CHECK_EQ(sg_record_decode(b.p, b.len, &r), SG_OK);
	CHECK_EQ(r.version, SG_RECORD_V1);
	CHECK_EQ(r.ts_ns, 1700000000123456789LL);
	CHECK(r.topic_len == 12 && !memcmp(r.topic, "t.src.temp-1", 12));
	CHECK(r.key_len == 6 && !memcmp(r.key, "temp-1", 6));
	/* The seq given to render changes nothing: the id is baked in. */
	CHECK_EQ(sg_record_render(&r, 99, &scratch), SG_OK);
	CHECK_EQ(scratch.len, 0);
	CHECK(r.value_len == strlen(value) && !memcmp(r.value, value, r.value_len));
	CHECK((const char *)r.value > b.p && (const char *)r.value < b.p + b.len);
	CHECK_EQ(r.nheaders, 4);
	headers_of(&r, &h);
	CHECK_STR(h.p, "sg-id=gw:1000;sg-source=src;"
		       "content-type=application/vnd.sensorgate.event.v1+json;x-extra=;");
	for (size_t cut = 0; cut < b.len; cut++)
		CHECK_EQ(sg_record_decode(b.p, cut, &r), SG_ECORRUPT);
	sg_buf_addc(&b, 0); /* trailing garbage */
	CHECK_EQ(sg_record_decode(b.p, b.len, &r), SG_ECORRUPT);
	sg_buf_free(&b);
	sg_buf_free(&scratch);
	sg_buf_free(&h);
}

/* --- malformed input ---------------------------------------------------- */

TEST(v2_truncations_and_bad_bytes_refused)
{
	struct sg_buf b;
	struct sg_record r;

	sg_buf_init(&b);
	for (size_t i = 0; i < sizeof(golden) / sizeof(golden[0]); i++) {
		sg_buf_reset(&b);
		CHECK_EQ(sg_event_encode(&ec, &golden[i], &b), SG_OK);
		for (size_t cut = 0; cut < b.len; cut++)
			CHECK_EQ(sg_record_decode(b.p, cut, &r), SG_ECORRUPT);
		sg_buf_addc(&b, 0);
		CHECK_EQ(sg_record_decode(b.p, b.len, &r), SG_ECORRUPT);
	}
	/* golden[1]: "gw", "src", "t.src.c", key "c", event "c" uint. */
	sg_buf_reset(&b);
	CHECK_EQ(sg_event_encode(&ec, &golden[1], &b), SG_OK);
	size_t kind = 1 + 8 + 4 + 5 + 9 + 5, type = kind + 1 + 3, quality = type + 1 + 8;
	CHECK_EQ(b.p[kind], 0);
	CHECK_EQ(b.p[type], SG_VAL_UINT);
	const struct {
		size_t off;
		char val;
	} bad[] = {{0, 3}, {kind, 2}, {type, 7}, {quality, 3}, {quality + 1, 4}};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char keep = b.p[bad[i].off];
		CHECK_EQ(sg_record_decode(b.p, b.len, &r), SG_OK);
		b.p[bad[i].off] = bad[i].val;
		CHECK_EQ(sg_record_decode(b.p, b.len, &r), SG_ECORRUPT);
		b.p[bad[i].off] = keep;
	}
	sg_buf_free(&b);
}

TEST(encode_refuses_what_does_not_fit)
{
	struct sg_reading rd = golden[0];
	struct sg_buf b;
	char *big = malloc(70001);

	memset(big, 'u', 70000);
	big[70000] = '\0';
	sg_buf_init(&b);
	sg_buf_adds(&b, "keep");
	rd.unit = big; /* more than a u16 length */
	CHECK_EQ(sg_event_encode(&ec, &rd, &b), SG_EINVAL);
	CHECK_EQ(b.len, 4);
	rd = golden[0];
	rd.value.type = (enum sg_vtype)42;
	CHECK_EQ(sg_event_encode(&ec, &rd, &b), SG_EINVAL);
	CHECK_EQ(b.len, 4);
	rd = golden[0];
	rd.reason = big; /* fits a u32: fine */
	CHECK_EQ(sg_event_encode(&ec, &rd, &b), SG_OK);
	free(big);
	sg_buf_free(&b);
}

/* --- the RFC 3339 time, against the C library --------------------------- */

/* The previous release's formatter: gmtime_r and strftime. */
static void ref_time(int64_t ns, char *out, size_t n)
{
	time_t s = (time_t)(ns / 1000000000);
	long frac = (long)(ns % 1000000000);
	struct tm tm;
	char tmp[40];

	if (frac < 0) {
		frac += 1000000000;
		s--;
	}
	gmtime_r(&s, &tm);
	strftime(tmp, sizeof(tmp), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, n, "\"%s.%09ldZ\"", tmp, frac);
}

TEST(time_matches_gmtime)
{
	struct sg_reading rd = {.sensor = "t", .value = {.type = SG_VAL_NONE}};
	uint64_t x = 88172645463325252ULL;
	struct sg_buf b;

	sg_buf_init(&b);
	for (int i = 0; i < 20000; i++) {
		char want_t[64], *p;
		int64_t ns;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		switch (i % 4) {
		case 0: ns = (int64_t)x; break;                                /* anywhere */
		case 1: ns = (int64_t)(x % 8000000000000000000ULL); break;     /* after 1970 */
		case 2: ns = -(int64_t)(x % 3000000000000000000ULL); break;    /* before */
		default: ns = (int64_t)(i - 10000) * 86400 * 1000000000LL + i; /* day edges */
		}
		if (i == 0)
			ns = INT64_MIN;
		if (i == 1)
			ns = INT64_MAX;
		/* gmtime's reference cannot hold it with a 32-bit time_t (armhf). */
		if ((int64_t)(time_t)(ns / 1000000000 - 1) != ns / 1000000000 - 1)
			continue;
		ref_time(ns, want_t, sizeof(want_t));
		sg_buf_reset(&b);
		sg_event_json(&ec, &rd, 1, ns, &b);
		p = strstr(b.p, ",\"time\":");
		if (!p || strncmp(p + 8, want_t, strlen(want_t)))
			t_fail(__FILE__, __LINE__, "ns %" PRId64 ": %s, expected %s", ns,
			       p ? p + 8 : b.p, want_t);
	}
	sg_buf_free(&b);
}

/* Text that grows most when escaped: control bytes (\u0001, six bytes
 * each) and bytes that are not UTF-8 (U+FFFD, six bytes each). */
static char *worst_text(size_t n)
{
	char *s = malloc(n + 1);

	for (size_t i = 0; i < n; i++)
		s[i] = i % 2 ? '\x01' : '\xff';
	s[n] = '\0';
	return s;
}

/* The envelope is written into room reserved once for the whole record:
 * with every string at its worst, the text is still exactly the pieces
 * escaped one by one (sg_buf_add_json_str, checked on its own in
 * test_buf_json), whatever the scratch buffer held before. */
TEST(worst_case_escaping_fits_the_reserved_room)
{
	char *gw = worst_text(200), *src = worst_text(300), *sensor = worst_text(1000),
	     *unit = worst_text(500), *reason = worst_text(2000), *val = worst_text(3000);
	char *keys[40], *vals[40], d[20];
	struct sg_attr at[40];
	struct sg_event_ctx wc = {gw, src, "t"};
	struct sg_buf enc, scratch, exp;
	struct sg_record r;

	for (int i = 0; i < 40; i++) {
		keys[i] = worst_text(10 + (size_t)i);
		vals[i] = worst_text(50 + 3 * (size_t)i);
		at[i] = (struct sg_attr){keys[i], vals[i]};
	}
	struct sg_reading rd = {.sensor = sensor,
				.ts_ns = 1700000000123456789LL,
				.value = {.type = SG_VAL_STR, .s = {val, 3000}},
				.unit = unit,
				.quality = SG_Q_BAD,
				.reason = reason,
				.attrs = at,
				.nattrs = 40};
	sg_buf_init(&enc);
	sg_buf_init(&scratch);
	sg_buf_init(&exp);
	CHECK_EQ(sg_event_encode(&wc, &rd, &enc), SG_OK);
	CHECK_EQ(sg_record_decode(enc.p, enc.len, &r), SG_OK);
	r.epoch = "\x01\xff\x01";
	r.epoch_len = 3;
	sg_buf_printf(&scratch, "%0999d", 7); /* render starts afresh */
	CHECK_EQ(sg_record_render(&r, 18446744073709551615ULL, &scratch), SG_OK);

	sg_buf_adds(&exp, "{\"v\":1,\"id\":");
	sg_buf_add_json_str(&exp, gw, 200);
	exp.len--;
	sg_buf_adds(&exp, ":18446744073709551615\",\"seq\":18446744073709551615,\"epoch\":");
	sg_buf_add_json_str(&exp, r.epoch, 3);
	sg_buf_adds(&exp, ",\"gateway\":");
	sg_buf_add_json_str(&exp, gw, 200);
	sg_buf_adds(&exp, ",\"source\":");
	sg_buf_add_json_str(&exp, src, 300);
	sg_buf_adds(&exp, ",\"sensor\":");
	sg_buf_add_json_str(&exp, sensor, 1000);
	sg_buf_adds(&exp, ",\"time\":\"2023-11-14T22:13:20.123456789Z\",\"time_ns\":"
			  "1700000000123456789,\"value\":");
	sg_buf_add_json_str(&exp, val, 3000);
	sg_buf_adds(&exp, ",\"type\":\"string\",\"unit\":");
	sg_buf_add_json_str(&exp, unit, 500);
	sg_buf_adds(&exp, ",\"quality\":\"bad\",\"reason\":");
	sg_buf_add_json_str(&exp, reason, 2000);
	sg_buf_adds(&exp, ",\"attrs\":{");
	for (int i = 0; i < 40; i++) {
		if (i)
			sg_buf_addc(&exp, ',');
		sg_buf_add_json_str(&exp, keys[i], strlen(keys[i]));
		sg_buf_addc(&exp, ':');
		sg_buf_add_json_str(&exp, vals[i], strlen(vals[i]));
	}
	sg_buf_adds(&exp, "}}");
	CHECK(!exp.oom);
	CHECK_EQ(r.value_len, exp.len);
	CHECK(r.value_len == exp.len && !memcmp(r.value, exp.p, exp.len));
	/* The headers follow the value in the same buffer. */
	CHECK_EQ(r.nheaders, 4);
	CHECK((const char *)r.headers == (const char *)r.value + r.value_len);
	CHECK_EQ(sg_fmt_u64(d, 18446744073709551615ULL), 20);

	for (int i = 0; i < 40; i++) {
		free(keys[i]);
		free(vals[i]);
	}
	free(gw);
	free(src);
	free(sensor);
	free(unit);
	free(reason);
	free(val);
	sg_buf_free(&enc);
	sg_buf_free(&scratch);
	sg_buf_free(&exp);
}
