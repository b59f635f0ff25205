/*
 * test_event.c - the JSON envelope v1 and the spool record format:
 * versions 2 (written) and 1 (the previous release's, still read), and
 * rendering for a seq when a record leaves the spool.
 * The spool epoch in the sg-epoch header and the envelope.
 */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway/config/conf.h"
#include "gateway/core/event.h"
#include "t.h"
#include "gateway/base/crc32c.h"

static const struct sg_event_ctx ec = {"gw", "src", "t.{source}.{sensor}"};

static char *json(const struct sg_reading *rd, uint64_t seq)
{
	static char out[4096];
	struct sg_buf b;

	sg_buf_init(&b);
	sg_event_json(&ec, rd, seq, rd->ts_ns, &b);
	snprintf(out, sizeof(out), "%s", b.p);
	sg_buf_free(&b);
	return out;
}

TEST(envelope_fields)
{
	struct sg_attr at[] = {{"room", "lab \"A\""}};
	struct sg_reading rd = {.sensor = "temp-1",
				.ts_ns = 1700000000123456789LL,
				.value = {.type = SG_VAL_DOUBLE, .d = 21.5},
				.unit = "degC",
				.attrs = at,
				.nattrs = 1};

	CHECK_STR(json(&rd, 42),
		  "{\"v\":1,\"id\":\"gw:42\",\"seq\":42,\"gateway\":\"gw\",\"source\":\"src\","
		  "\"sensor\":\"temp-1\",\"time\":\"2023-11-14T22:13:20.123456789Z\","
		  "\"time_ns\":1700000000123456789,\"value\":21.5,\"type\":\"double\","
		  "\"unit\":\"degC\",\"quality\":\"good\",\"attrs\":{\"room\":\"lab \\\"A\\\"\"}}");
}

TEST(values_of_every_type)
{
	struct sg_reading rd = {.sensor = "s", .ts_ns = 1};

	rd.value = (struct sg_value){.type = SG_VAL_DOUBLE, .d = 0.1};
	CHECK(strstr(json(&rd, 1), "\"value\":0.1,") != NULL);
	rd.value.d = 1.0 / 3;
	CHECK(strstr(json(&rd, 1), "\"value\":0.3333333333333333,") != NULL);
	rd.value.d = NAN;
	CHECK(strstr(json(&rd, 1), "\"value\":\"NaN\"") != NULL);
	rd.value.d = -INFINITY;
	CHECK(strstr(json(&rd, 1), "\"value\":\"-Infinity\"") != NULL);
	rd.value = (struct sg_value){.type = SG_VAL_INT, .i = -9007199254740993LL};
	CHECK(strstr(json(&rd, 1), "\"value\":-9007199254740993,\"type\":\"int\"") != NULL);
	rd.value = (struct sg_value){.type = SG_VAL_UINT, .u = 18446744073709551615ULL};
	CHECK(strstr(json(&rd, 1), "\"value\":18446744073709551615,") != NULL);
	rd.value = (struct sg_value){.type = SG_VAL_BOOL, .b = true};
	CHECK(strstr(json(&rd, 1), "\"value\":true,\"type\":\"bool\"") != NULL);
	rd.value = (struct sg_value){.type = SG_VAL_STR, .s = {"a\nb\x01\xff", 5}};
	CHECK(strstr(json(&rd, 1), "\"value\":\"a\\nb\\u0001\\ufffd\"") != NULL);
	rd.value = (struct sg_value){.type = SG_VAL_BYTES, .s = {"\x00\xff\x10", 3}};
	CHECK(strstr(json(&rd, 1), "\"value\":\"AP8Q\",\"type\":\"bytes\"") != NULL);
	rd.value = (struct sg_value){.type = SG_VAL_NONE};
	rd.quality = SG_Q_BAD;
	rd.reason = "timeout";
	CHECK(
	    strstr(json(&rd, 1),
		   "\"value\":null,\"type\":\"none\",\"quality\":\"bad\",\"reason\":\"timeout\"") !=
	    NULL);
}

TEST(utf8_kept_and_invalid_replaced)
{
	struct sg_reading rd = {.sensor = "s", .ts_ns = 1};

	rd.value = (struct sg_value){.type = SG_VAL_STR, .s = {"\xc3\xa9\xe2\x82\xac", 5}};
	CHECK(strstr(json(&rd, 1), "\"value\":\"\xc3\xa9\xe2\x82\xac\"") != NULL);
	/* overlong encoding and a lone surrogate are invalid */
	rd.value.s.p = "\xc0\xaf\xed\xa0\x80";
	rd.value.s.len = 5;
	CHECK(strstr(json(&rd, 1), "\"value\":\"\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\"") != NULL);
}

TEST(record_round_trip)
{
	struct sg_header h[] = {{"mqtt-topic", "a/b", 3}};
	struct sg_reading rd = {.sensor = "dev1",
				.ts_ns = 5000000000LL,
				.raw = true,
				.value = {.type = SG_VAL_BYTES, .s = {"\x01\x02", 2}},
				.headers = h,
				.nheaders = 1};
	struct sg_record r;
	struct sg_buf b, scratch;
	size_t pos = 0, nl, vl;
	const char *name;
	const void *val;
	int n = 0;

	sg_buf_init(&b);
	sg_buf_init(&scratch);
	CHECK_EQ(sg_event_encode(&ec, &rd, &b), SG_OK);
	CHECK_EQ(sg_record_decode(b.p, b.len, &r), SG_OK);
	CHECK_EQ(r.version, SG_RECORD_V2);
	CHECK_EQ(sg_record_render(&r, 7, &scratch), SG_OK);
	CHECK_EQ(r.ts_ns, 5000000000LL);
	CHECK(r.topic_len == 10 && !memcmp(r.topic, "t.src.dev1", 10));
	CHECK(r.key_len == 4 && !memcmp(r.key, "dev1", 4));
	CHECK(r.value_len == 2 && !memcmp(r.value, "\x01\x02", 2));
	CHECK_EQ(r.nheaders, 4);
	while (sg_record_header_next(&r, &pos, &name, &nl, &val, &vl)) {
		if (n == 0)
			CHECK(nl == 5 && !memcmp(name, "sg-id", 5) && vl == 4 &&
			      !memcmp(val, "gw:7", 4));
		if (n == 2)
			CHECK(vl == 24 && !memcmp(val, "application/octet-stream", 24));
		if (n == 3)
			CHECK(nl == 10 && vl == 3 && !memcmp(val, "a/b", 3));
		n++;
	}
	CHECK_EQ(n, 4);
	/* Every truncation is refused, never read past the end. */
	for (size_t cut = 0; cut < b.len; cut++)
		CHECK_EQ(sg_record_decode(b.p, cut, &r), SG_ECORRUPT);
	sg_buf_free(&b);
	sg_buf_free(&scratch);
}

TEST(topic_templates)
{
	char out[64];

	sg_topic_expand("{gateway}.{source}.{sensor}", "g", "s", "x", out, sizeof(out));
	CHECK_STR(out, "g.s.x");
	sg_topic_expand("plain", "g", "s", "x", out, sizeof(out));
	CHECK_STR(out, "plain");
	sg_topic_expand("{unknown}.{sensor}", "g", "s", "x", out, sizeof(out));
	CHECK_STR(out, "{unknown}.x");
	sg_topic_expand("{sensor}{sensor}{sensor}", "g", "s", "0123456789", out, 16);
	CHECK_EQ(strlen(out), 15);
}

TEST(crc32c_vectors)
{
	/* Known answers for CRC32C. */
	CHECK_EQ(sg_crc32c("123456789", 9), 0xe3069283u);
	CHECK_EQ(sg_crc32c("", 0), 0);
	char zeros[32] = {0};
	CHECK_EQ(sg_crc32c(zeros, 32), 0x8a9136aau);
	/* extend == one shot */
	CHECK_EQ(sg_crc32c_extend(sg_crc32c("1234", 4), "56789", 5), 0xe3069283u);
}

/* Regression (issue 11, defect 9): seqs start again at 1 when the spool
 * is lost, and the id alone then repeats.  The spool's epoch travels as
 * the sg-epoch header and the envelope's "epoch": (id, epoch) is unique.
 * Without an epoch the record renders as before. */
TEST(epoch_in_header_and_envelope)
{
	const struct sg_reading rd = {
	    .sensor = "s", .ts_ns = 5, .value = {.type = SG_VAL_UINT, .u = 7}};
	struct sg_buf enc, scratch;
	struct sg_record r;
	size_t pos = 0, nl, vl;
	const char *name;
	const void *val;
	char names[256] = "";

	sg_buf_init(&enc);
	sg_buf_init(&scratch);
	CHECK_EQ(sg_event_encode(&ec, &rd, &enc), SG_OK);
	CHECK_EQ(sg_record_decode(enc.p, enc.len, &r), SG_OK);
	r.epoch = "00c0ffee00c0ffee";
	r.epoch_len = 16;
	CHECK_EQ(sg_record_render(&r, 9, &scratch), SG_OK);
	CHECK(strstr((const char *)r.value,
		     "\"id\":\"gw:9\",\"seq\":9,\"epoch\":\"00c0ffee00c0ffee\","
		     "\"gateway\":\"gw\"") != NULL);
	CHECK_EQ(r.nheaders, 4);
	while (sg_record_header_next(&r, &pos, &name, &nl, &val, &vl)) {
		strncat(names, name, nl);
		strcat(names, nl == 8 && !memcmp(name, "sg-epoch", 8) && vl == 16 &&
				      !memcmp(val, "00c0ffee00c0ffee", 16)
				  ? "=ok;"
				  : ";");
	}
	CHECK_STR(names, "sg-id;sg-source;content-type;sg-epoch=ok;");
	/* no epoch: as before */
	CHECK_EQ(sg_record_decode(enc.p, enc.len, &r), SG_OK);
	CHECK_EQ(sg_record_render(&r, 9, &scratch), SG_OK);
	CHECK(strstr((const char *)r.value, "\"epoch\"") == NULL);
	CHECK_EQ(r.nheaders, 3);
	sg_buf_free(&enc);
	sg_buf_free(&scratch);
}

/* A reading's own topic (an MQTT rule's `topic:`) is taken as it is up to
 * Kafka's 249 characters; a longer one is refused and leaves out as it
 * was, as is a template that expands past 249. */
TEST(own_topic_kept_or_refused)
{
	char topic[SG_TOPIC_MAX + 2];
	struct sg_reading rd = {.sensor = "s", .ts_ns = 5, .value = {.type = SG_VAL_INT, .i = 1}};
	const struct sg_event_ctx longer = {"gw", "src", "t.{sensor}"};
	char sensor[SG_TOPIC_MAX];
	struct sg_buf b;
	struct sg_record r;
	size_t len;

	sg_buf_init(&b);
	memset(topic, 'a', sizeof(topic) - 1);
	topic[SG_TOPIC_MAX] = '\0';
	rd.topic = topic;
	CHECK_EQ(sg_event_encode(&ec, &rd, &b), SG_OK);
	CHECK_EQ(sg_record_decode(b.p, b.len, &r), SG_OK);
	CHECK(r.topic_len == SG_TOPIC_MAX && !memcmp(r.topic, topic, SG_TOPIC_MAX));
	len = b.len;
	topic[SG_TOPIC_MAX] = 'a';
	topic[SG_TOPIC_MAX + 1] = '\0';
	CHECK_EQ(sg_event_encode(&ec, &rd, &b), SG_EINVAL);
	CHECK_EQ(b.len, len);
	rd.topic = "";
	sg_buf_reset(&b);
	CHECK_EQ(sg_event_encode(&ec, &rd, &b), SG_OK);
	CHECK_EQ(sg_record_decode(b.p, b.len, &r), SG_OK);
	CHECK_EQ(r.topic_len, 0);
	/* the template: "t." + 247 = 249 is kept, + 248 refused */
	rd.topic = NULL;
	memset(sensor, 'x', SG_TOPIC_MAX - 2);
	sensor[SG_TOPIC_MAX - 2] = '\0';
	rd.sensor = sensor;
	sg_buf_reset(&b);
	CHECK_EQ(sg_event_encode(&longer, &rd, &b), SG_OK);
	CHECK_EQ(sg_record_decode(b.p, b.len, &r), SG_OK);
	CHECK(r.topic_len == SG_TOPIC_MAX && !memcmp(r.topic, "t.xxx", 5));
	sensor[SG_TOPIC_MAX - 2] = 'x';
	sensor[SG_TOPIC_MAX - 1] = '\0';
	sg_buf_reset(&b);
	CHECK_EQ(sg_event_encode(&longer, &rd, &b), SG_EINVAL);
	CHECK_EQ(b.len, 0);
	sg_buf_free(&b);
}
