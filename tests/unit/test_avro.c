/*
 * test_avro.c - the event in Avro (gateway/schema/): the built-in schema
 * is the text of sensorgate.avsc; an event's Avro binary is the bytes the
 * Avro specification gives (worked out by hand here, independently of
 * libavro); every kind of reading read back through the sink's reader is
 * the JSON envelope kafka.format json produces for it; evolved schemas
 * that add a nullable field are accepted and read back, the others are
 * refused with a reason; the Confluent wire header; malformed bodies are
 * refused.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/base/fs.h"
#include "gateway/core/event.h"
#include "gateway/schema/avro_codec.h"
#include "gateway/schema/wire.h"
#include "t.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
/* libavro 1.11 leaks a string's buffer when the read of its bytes fails
 * (read_string returns without freeing it): not ours to fix; the sink
 * stops at the first such record, so at most one block per process. */
#define LIBAVRO_LEAKS_BEGIN() __lsan_disable()
#define LIBAVRO_LEAKS_END()   __lsan_enable()
#else
#define LIBAVRO_LEAKS_BEGIN()
#define LIBAVRO_LEAKS_END()
#endif

static const struct sg_event_ctx ec = {"g", "s", "t.{source}"};

/* The decoded record of reading rd; enc holds the payload r points into. */
static void record_of(const struct sg_reading *rd, struct sg_buf *enc, struct sg_record *r)
{
	sg_buf_reset(enc);
	CHECK_EQ(sg_event_encode(&ec, rd, enc), SG_OK);
	CHECK_EQ(sg_record_decode(enc->p, enc->len, r), SG_OK);
}

static struct sg_avro *open_builtin(void)
{
	struct sg_avro *a = NULL;
	struct sg_errbuf eb;

	CHECK_EQ(sg_avro_open(sg_avro_event_schema, strlen(sg_avro_event_schema), &a, &eb), SG_OK);
	return a;
}

TEST(builtin_schema_is_the_avsc_file)
{
	char *text = NULL;
	size_t len = 0;

	CHECK_EQ(sg_read_file("gateway/schema/sensorgate.avsc", 1 << 20, &text, &len), SG_OK);
	CHECK(text && len == strlen(sg_avro_event_schema));
	CHECK(text && !strcmp(text, sg_avro_event_schema));
	free(text);
}

static void check_bytes(const struct sg_buf *b, const unsigned char *want, size_t n)
{
	CHECK_EQ(b->len, n);
	for (size_t i = 0; i < n && i < b->len; i++)
		if ((unsigned char)b->p[i] != want[i])
			t_fail(__FILE__, __LINE__, "byte %zu is 0x%02x, expected 0x%02x", i,
			       (unsigned char)b->p[i], want[i]);
}

/* Avro's binary encoding by hand: zigzag varints, length-prefixed
 * strings, union and enum indices, a map as counted blocks. */
TEST(binary_matches_the_specification)
{
	static const struct sg_attr at[] = {{"k", "v"}};
	struct sg_reading rd = {
	    .sensor = "x", .ts_ns = 1500, .value = {.type = SG_VAL_INT, .i = 3}};
	static const unsigned char plain[] = {
	    0x06, 'g',  ':', '7', /* id "g:7" */
	    0x0e,                 /* seq 7 */
	    0x02, 'g',            /* gateway */
	    0x02, 's',            /* source */
	    0x02, 'x',            /* sensor */
	    0x02,                 /* time: 1 us */
	    0xb8, 0x17,           /* time_ns 1500 */
	    0x04, 0x06,           /* value: branch 2 (long), 3 */
	    0x04,                 /* type: int */
	    0x00,                 /* unit: null */
	    0x00,                 /* quality: good */
	    0x00,                 /* reason: null */
	    0x00,                 /* attrs: no block */
	};
	static const unsigned char full[] = {
	    0x06, 'g',  ':', '7',  0x0e, 0x02, 'g', 0x02, 's', 0x02, 'x', 0x01, /* time -1 us */
	    0x03,                                                               /* time_ns -2 */
	    0x06, 0x01,                        /* value: branch 3, bool true */
	    0x08,                              /* type: bool */
	    0x02, 0x02, 'C',                   /* unit "C" */
	    0x04,                              /* quality: bad */
	    0x02, 0x02, 'r',                   /* reason "r" */
	    0x02, 0x02, 'k', 0x02, 'v',  0x00, /* attrs {k: v} */
	};
	struct sg_buf enc, out;
	struct sg_record r;
	struct sg_avro *a = open_builtin();

	sg_buf_init(&enc);
	sg_buf_init(&out);
	record_of(&rd, &enc, &r);
	CHECK_EQ(sg_avro_encode(a, &r, 7, &out), SG_OK);
	check_bytes(&out, plain, sizeof(plain));

	rd = (struct sg_reading){.sensor = "x",
				 .ts_ns = -2,
				 .value = {.type = SG_VAL_BOOL, .b = true},
				 .unit = "C",
				 .quality = SG_Q_BAD,
				 .reason = "r",
				 .attrs = at,
				 .nattrs = 1};
	record_of(&rd, &enc, &r);
	sg_buf_reset(&out);
	CHECK_EQ(sg_avro_encode(a, &r, 7, &out), SG_OK);
	check_bytes(&out, full, sizeof(full));

	sg_buf_reset(&out);
	CHECK_EQ(sg_avro_encode_key(a, "temp-1", 6, &out), SG_OK);
	check_bytes(&out, (const unsigned char *)"\x0ctemp-1", 7);
	sg_avro_close(a);
	sg_buf_free(&enc);
	sg_buf_free(&out);
}

static const struct sg_attr g_at[] = {{"room", "lab \"A\""}, {"line", "3\n\xc3\xa9"}};
static const struct sg_reading readings[] = {
    {.sensor = "temp-1",
     .ts_ns = 1700000000123456789LL,
     .value = {.type = SG_VAL_DOUBLE, .d = 21.5},
     .unit = "degC",
     .attrs = g_at,
     .nattrs = 2},
    {.sensor = "c", .ts_ns = 1, .value = {.type = SG_VAL_UINT, .u = 18446744073709551615ULL}},
    {.sensor = "c2", .ts_ns = 2, .value = {.type = SG_VAL_UINT, .u = 9223372036854775807ULL}},
    {.sensor = "i", .ts_ns = -1, .value = {.type = SG_VAL_INT, .i = INT64_MIN}, .unit = ""},
    {.sensor = "i3", .ts_ns = INT64_MAX, .value = {.type = SG_VAL_INT, .i = 42}},
    {.sensor = "b",
     .ts_ns = 951782400000000000LL,
     .value = {.type = SG_VAL_BOOL, .b = false},
     .quality = SG_Q_UNCERTAIN,
     .reason = ""},
    {.sensor = "s\"q", .ts_ns = 1234567890, .value = {.type = SG_VAL_STR, .s = {"a\nb\x01\"", 5}}},
    {.sensor = "y",
     .ts_ns = 4102444800000000000LL,
     .value = {.type = SG_VAL_BYTES, .s = {"\x00\xff\x10", 3}}},
    {.sensor = "n",
     .ts_ns = 5,
     .value = {.type = SG_VAL_NONE},
     .quality = SG_Q_BAD,
     .reason = "exception 2: illegal data address"},
    {.sensor = "d1", .ts_ns = 7, .value = {.type = SG_VAL_DOUBLE, .d = 1e300}},
    {.sensor = "d2", .ts_ns = 8, .value = {.type = SG_VAL_DOUBLE, .d = -0.0}},
    {.sensor = "d3", .ts_ns = 9, .value = {.type = SG_VAL_DOUBLE, .d = 0.1 + 0.2}},
};

/* Avro there and back is the JSON envelope of the same event and seq. */
TEST(read_back_is_the_json_envelope)
{
	struct sg_avro *a = open_builtin();
	struct sg_avro_reader *rd = NULL;
	struct sg_buf enc, bin, back, scratch;
	struct sg_record r;
	struct sg_errbuf eb;

	CHECK_EQ(sg_avro_reader_new(sg_avro_event_schema, strlen(sg_avro_event_schema), &rd, &eb),
		 SG_OK);
	sg_buf_init(&enc);
	sg_buf_init(&bin);
	sg_buf_init(&back);
	sg_buf_init(&scratch);
	for (size_t i = 0; i < sizeof(readings) / sizeof(readings[0]); i++) {
		uint64_t seq = 1000 + i;

		record_of(&readings[i], &enc, &r);
		sg_buf_reset(&bin);
		sg_buf_reset(&back);
		CHECK_EQ(sg_avro_encode(a, &r, seq, &bin), SG_OK);
		CHECK_EQ(sg_avro_reader_json(rd, bin.p, bin.len, &back), SG_OK);
		CHECK_EQ(sg_record_render(&r, seq, &scratch), SG_OK);
		if (back.len != r.value_len || memcmp(back.p, r.value, r.value_len))
			t_fail(__FILE__, __LINE__, "reading %zu:\n  avro %s\n  json %.*s", i,
			       back.p, (int)r.value_len, (const char *)r.value);
	}
	sg_avro_reader_free(rd);
	sg_avro_close(a);
	sg_buf_free(&enc);
	sg_buf_free(&bin);
	sg_buf_free(&back);
	sg_buf_free(&scratch);
}

/* Invalid UTF-8 becomes U+FFFD, one per bad byte, as in the envelope. */
TEST(strings_are_valid_utf8)
{
	struct sg_reading rd = {.sensor = "u\xff",
				.ts_ns = 1,
				.value = {.type = SG_VAL_STR, .s = {"\xc3\xa9\xed\xa0\x80z", 6}}};
	struct sg_avro *a = open_builtin();
	struct sg_avro_reader *rdr = NULL;
	struct sg_buf enc, bin, back;
	struct sg_record r;
	struct sg_errbuf eb;

	CHECK_EQ(sg_avro_reader_new(sg_avro_event_schema, strlen(sg_avro_event_schema), &rdr, &eb),
		 SG_OK);
	sg_buf_init(&enc);
	sg_buf_init(&bin);
	sg_buf_init(&back);
	record_of(&rd, &enc, &r);
	CHECK_EQ(sg_avro_encode(a, &r, 1, &bin), SG_OK);
	CHECK(memmem(bin.p, bin.len, "u\xef\xbf\xbd", 4) != NULL);
	/* é kept, the surrogate's three bytes replaced one by one, z kept */
	CHECK(memmem(bin.p, bin.len, "\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdz", 12) != NULL);
	CHECK_EQ(sg_avro_reader_json(rdr, bin.p, bin.len, &back), SG_OK);
	CHECK(strstr(back.p, "\"sensor\":\"u\xef\xbf\xbd\"") != NULL);
	sg_avro_reader_free(rdr);
	sg_avro_close(a);
	sg_buf_free(&enc);
	sg_buf_free(&bin);
	sg_buf_free(&back);
}

/* The built-in schema with one more field before "attrs". */
static char *evolved(const char *field)
{
	const char *at = strstr(sg_avro_event_schema, "    {\"name\": \"attrs\"");
	size_t head = (size_t)(at - sg_avro_event_schema);
	char *s = malloc(strlen(sg_avro_event_schema) + strlen(field) + 8);

	memcpy(s, sg_avro_event_schema, head);
	sprintf(s + head, "%s,\n%s", field, at);
	return s;
}

TEST(evolved_schema_adds_a_nullable_field)
{
	char *s = evolved(
	    "    {\"name\": \"site\", \"type\": [\"null\", \"string\"], \"default\": null}");
	struct sg_reading rd = {
	    .sensor = "x", .ts_ns = 9, .value = {.type = SG_VAL_DOUBLE, .d = 2}};
	struct sg_avro *a = NULL, *b = open_builtin();
	struct sg_avro_reader *rdr = NULL;
	struct sg_buf enc, bin, bin0, back, scratch;
	struct sg_record r;
	struct sg_errbuf eb;

	CHECK_EQ(sg_avro_open(s, strlen(s), &a, &eb), SG_OK);
	CHECK_STR(a ? sg_avro_fullname(a) : NULL, "sensorgate.Event");
	CHECK_EQ(sg_avro_reader_new(s, strlen(s), &rdr, &eb), SG_OK);
	sg_buf_init(&enc);
	sg_buf_init(&bin);
	sg_buf_init(&bin0);
	sg_buf_init(&back);
	sg_buf_init(&scratch);
	record_of(&rd, &enc, &r);
	CHECK_EQ(sg_avro_encode(a, &r, 5, &bin), SG_OK);
	CHECK_EQ(sg_avro_encode(b, &r, 5, &bin0), SG_OK);
	CHECK_EQ(bin.len, bin0.len + 1); /* the union index of null */
	/* Data of the evolved writer schema reads back into the envelope. */
	CHECK_EQ(sg_avro_reader_json(rdr, bin.p, bin.len, &back), SG_OK);
	CHECK_EQ(sg_record_render(&r, 5, &scratch), SG_OK);
	CHECK(back.len == r.value_len && !memcmp(back.p, r.value, r.value_len));
	sg_avro_reader_free(rdr);
	sg_avro_close(a);
	sg_avro_close(b);
	free(s);
	sg_buf_free(&enc);
	sg_buf_free(&bin);
	sg_buf_free(&bin0);
	sg_buf_free(&back);
	sg_buf_free(&scratch);
}

/* text with its first `old` replaced by `new` (caller frees). */
static char *replaced(const char *text, const char *old, const char *new)
{
	const char *at = strstr(text, old);
	char *s = malloc(strlen(text) + strlen(new) + 1);

	CHECK(at != NULL);
	if (!at) {
		strcpy(s, text);
		return s;
	}
	memcpy(s, text, (size_t)(at - text));
	sprintf(s + (at - text), "%s%s", new, at + strlen(old));
	return s;
}

static void refused(const char *schema, const char *why)
{
	struct sg_avro *a = NULL;
	struct sg_errbuf eb = {{0}};

	CHECK_EQ(sg_avro_open(schema, strlen(schema), &a, &eb), SG_EINVAL);
	CHECK(a == NULL);
	if (!strstr(eb.msg, why))
		t_fail(__FILE__, __LINE__, "'%s' does not say '%s'", eb.msg, why);
}

TEST(schemas_that_break_the_event_are_refused)
{
	char *s = evolved("    {\"name\": \"site\", \"type\": \"string\"}");

	refused(s, "added field 'site'");
	free(s);
	s = replaced(sg_avro_event_schema, "\"time_ns\", \"type\": \"long\"",
		     "\"time_ns\", \"type\": \"int\"");
	refused(s, "field 'time_ns' must keep");
	free(s);
	refused("{\"type\": \"string\"}", "must be a record");
	refused("{not json", "not an Avro schema");
}

TEST(reader_of_other_schemas)
{
	static const char rec[] = "{\"type\":\"record\",\"name\":\"P\",\"fields\":[{\"name\":\"a\","
				  "\"type\":\"long\"}]}";
	struct sg_avro_reader *rd = NULL;
	struct sg_buf out;
	struct sg_errbuf eb;

	sg_buf_init(&out);
	CHECK_EQ(sg_avro_reader_new(rec, strlen(rec), &rd, &eb), SG_OK);
	CHECK_EQ(sg_avro_reader_json(rd, "\x54", 1, &out), SG_OK);
	CHECK_STR(out.p, "{\"a\": 42}");
	sg_avro_reader_free(rd);
	/* A string (an Avro key) is its text. */
	CHECK_EQ(sg_avro_reader_new(SG_AVRO_KEY_SCHEMA, strlen(SG_AVRO_KEY_SCHEMA), &rd, &eb),
		 SG_OK);
	sg_buf_reset(&out);
	CHECK_EQ(sg_avro_reader_json(rd, "\x0ctemp-1", 7, &out), SG_OK);
	CHECK_STR(out.p, "temp-1");
	sg_avro_reader_free(rd);
	sg_buf_free(&out);
}

/* Truncated or garbage bodies are refused, never read past. */
TEST(malformed_bodies_are_refused)
{
	struct sg_reading rd = {
	    .sensor = "temp", .ts_ns = 1, .value = {.type = SG_VAL_STR, .s = {"abc", 3}}};
	struct sg_avro *a = open_builtin();
	struct sg_avro_reader *rdr = NULL;
	struct sg_buf enc, bin, out;
	struct sg_record r;
	struct sg_errbuf eb;
	int refusals = 0;

	CHECK_EQ(sg_avro_reader_new(sg_avro_event_schema, strlen(sg_avro_event_schema), &rdr, &eb),
		 SG_OK);
	sg_buf_init(&enc);
	sg_buf_init(&bin);
	sg_buf_init(&out);
	record_of(&rd, &enc, &r);
	CHECK_EQ(sg_avro_encode(a, &r, 3, &bin), SG_OK);
	LIBAVRO_LEAKS_BEGIN();
	for (size_t n = 0; n < bin.len; n++) {
		sg_buf_reset(&out);
		refusals += sg_avro_reader_json(rdr, bin.p, n, &out) == SG_ECORRUPT;
	}
	CHECK_EQ(refusals, bin.len);
	/* A string length of 2 GiB: refused before libavro allocates it. */
	CHECK_EQ(sg_avro_reader_json(rdr, "\xfe\xff\xff\xff\x0f", 5, &out), SG_ECORRUPT);
	LIBAVRO_LEAKS_END();
	sg_avro_reader_free(rdr);
	sg_avro_close(a);
	sg_buf_free(&enc);
	sg_buf_free(&bin);
	sg_buf_free(&out);
}

TEST(wire_format_header)
{
	struct sg_buf b;
	uint32_t id = 0;
	const uint8_t *body;
	size_t n;

	sg_buf_init(&b);
	sg_wire_header(&b, 0x01020304);
	sg_buf_add(&b, "xy", 2);
	CHECK_EQ(b.len, 7);
	CHECK(!memcmp(b.p, "\x00\x01\x02\x03\x04xy", 7));
	CHECK_EQ(sg_wire_parse(b.p, b.len, &id, &body, &n), SG_OK);
	CHECK_EQ(id, 0x01020304);
	CHECK_EQ(n, 2);
	CHECK(body && body[0] == 'x');
	CHECK_EQ(sg_wire_parse(b.p, 4, &id, &body, &n), SG_EINVAL);
	CHECK_EQ(sg_wire_parse("{\"v\":1}", 7, &id, &body, &n), SG_EINVAL);
	CHECK_EQ(sg_wire_parse(NULL, 0, &id, &body, &n), SG_EINVAL);
	sg_buf_free(&b);
}
