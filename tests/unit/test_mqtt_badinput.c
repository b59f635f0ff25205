/*
 * test_mqtt_badinput.c - hostile and broken payloads through the real
 * mapper: 10,000 levels of nesting, huge numbers, NaN and Infinity,
 * duplicate member names, invalid UTF-8, a 1 MB message with 100,000
 * fields.  Each must be dead-lettered with its reason, within a bounded
 * time and scratch memory, and leave the good messages around it alone.
 * The measured times are printed (they bound the CPU a message can cost).
 */
#include <stdio.h>
#include <time.h>

#include "test_mqtt_capture.h"

static struct mq_rule_conf rules[3];
static struct mq_field_conf fl[4];
static struct mq_conf conf;
static struct mq_map map;

/* Rule 0: fields /v (number) and /w (optional); rule 1: a wildcard. */
static void setup(int64_t max_payload)
{
	struct sg_errbuf eb;

	cap_reset();
	memset(rules, 0, sizeof(rules));
	memset(fl, 0, sizeof(fl));
	memset(&conf, 0, sizeof(conf));
	fl[0] = (struct mq_field_conf){.id = "v", .pointer = "/v", .type = MQ_FT_NUMBER};
	fl[1] = (struct mq_field_conf){.id = "w", .pointer = "/w", .optional = true};
	fl[2] = (struct mq_field_conf){.id = "mid", .pointer = "/a050000", .optional = true};
	fl[3] = (struct mq_field_conf){.id = "last", .pointer = "/a099999", .optional = true};
	rules[0] = (struct mq_rule_conf){.filter = "f/+",
					 .sensor = "{1}/{field}",
					 .payload = MQ_PAYLOAD_JSON,
					 .fields = {fl, 4}};
	rules[1] = (struct mq_rule_conf){
	    .filter = "w/+", .sensor = "{1}/{field}", .payload = MQ_PAYLOAD_JSON, .wildcard = ""};
	rules[2] =
	    (struct mq_rule_conf){.filter = "v/+", .payload = MQ_PAYLOAD_JSON, .value = "/v"};
	conf.rules.items = rules;
	conf.rules.n = 3;
	conf.max_payload = max_payload;
	conf.dead_letter_head = 1024;
	conf.dead_letter_topic = "dlq";
	if (mq_map_init(&map, NULL, "bad", &conf, &eb) != SG_OK)
		t_fail(__FILE__, __LINE__, "init: %s", eb.msg);
	map.emit = cap_emit;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Publish; returns the ms it took. */
static double pub_len(const char *topic, const char *p, size_t len)
{
	struct mq_msg m = {topic, p, len, 1, false, NULL, NULL, 0};
	int64_t t0 = now_ns();

	CHECK_EQ(mq_map_message(&map, &m), SG_OK);
	return (double)(now_ns() - t0) / 1e6;
}

static double pub(const char *topic, const char *p)
{
	return pub_len(topic, p, strlen(p));
}

/* The last capture is a dead letter of reason r. */
static void is_dead(const char *r, int line)
{
	const char *got = cap.n ? cap_hdr(cap.n - 1, "sg-error-reason") : NULL;

	if (!cap.n || strcmp(cap.ev[cap.n - 1].topic, "dlq") || !got || strcmp(got, r))
		t_fail(__FILE__, line, "expected a dead letter (%s), got %s", r,
		       got ? got : "none");
}
#define IS_DEAD(r) is_dead(r, __LINE__)

static void good_after(int line)
{
	size_t n = cap.n;

	pub("f/good", "{\"v\":42}");
	if (cap.n != n + 1 || cap.ev[n].v.i != 42)
		t_fail(__FILE__, line, "the good message after a bad one was not mapped");
}
#define GOOD_AFTER() good_after(__LINE__)

static char *nest(int levels, char open, char close, const char *inner)
{
	size_t il = strlen(inner), n = 0;
	char *p = malloc(6 * (size_t)levels + il + 16); /* {"a": and } per level */

	n += (size_t)sprintf(p, "{\"v\":");
	for (int i = 0; i < levels; i++)
		p[n++] = open, n += open == '{' ? (size_t)sprintf(p + n, "\"a\":") : 0;
	memcpy(p + n, inner, il);
	n += il;
	for (int i = 0; i < levels; i++)
		p[n++] = close;
	p[n++] = '}';
	p[n] = '\0';
	return p;
}

TEST(nesting_10000_levels)
{
	char *arr = nest(10000, '[', ']', "1"), *obj = nest(10000, '{', '}', "1");
	double ms;

	setup(1 << 20);
	ms = pub("f/deep", arr);
	IS_DEAD("too_deep");
	CHECK(strstr(cap_hdr(cap.n - 1, "sg-error"), "nesting too deep") != NULL);
	ms += pub("f/deep", obj);
	IS_DEAD("too_deep");
	GOOD_AFTER();
	printf("    10,000 levels: refused at level %d in %.3f ms (both)\n", MQ_JSON_MAX_DEPTH, ms);
	CHECK(ms < 200);
	free(arr);
	free(obj);
	mq_map_fini(&map);
}

TEST(huge_numbers)
{
	char *longnum = malloc(2100);

	setup(1 << 20);
	pub("f/n", "{\"v\":1e400}");
	IS_DEAD("bad_number");
	CHECK(strstr(cap_hdr(cap.n - 1, "sg-error"), "beyond the range of a double") != NULL);
	pub("f/n", "{\"v\":-1e400}");
	IS_DEAD("bad_number");
	memcpy(longnum, "{\"v\":", 5);
	memset(longnum + 5, '7', 2000);
	memcpy(longnum + 2005, "}", 2);
	pub("f/n", longnum);
	IS_DEAD("bad_number");
	CHECK(strstr(cap_hdr(cap.n - 1, "sg-error"), "literal of 2000 characters") != NULL);
	cap_reset();
	pub("f/n", "{\"v\":99999999999999999999}"); /* beyond 64 bits: a double */
	CHECK(cap.ev[0].v.type == SG_VAL_DOUBLE && cap.ev[0].v.d == 1e20);
	pub("f/n", "{\"v\":18446744073709551615}"); /* fits uint64 */
	CHECK(cap.ev[1].v.type == SG_VAL_UINT && cap.ev[1].v.u == UINT64_MAX);
	pub("f/n", "{\"v\":-9223372036854775808}");
	CHECK(cap.ev[2].v.type == SG_VAL_INT && cap.ev[2].v.i == INT64_MIN);
	pub("f/n", "{\"v\":1e-400}"); /* underflow is zero, not an error */
	CHECK(cap.ev[3].v.type == SG_VAL_DOUBLE && cap.ev[3].v.d == 0);
	GOOD_AFTER();
	free(longnum);
	mq_map_fini(&map);
}

TEST(nan_and_infinity_literals)
{
	static const char *lits[] = {"NaN", "nan", "Infinity", "-Infinity", "inf", "-inf", "+inf"};
	char doc[64];

	setup(1 << 20);
	for (size_t i = 0; i < sizeof(lits) / sizeof(lits[0]); i++) {
		snprintf(doc, sizeof(doc), "{\"v\":%s}", lits[i]);
		pub("f/n", doc);
		IS_DEAD("non_finite");
		CHECK(strstr(cap_hdr(cap.n - 1, "sg-error"), "NaN and Infinity are not JSON") !=
		      NULL);
	}
	pub("v/esphome", "nan"); /* what ESPHome sends for a sensor without a reading */
	IS_DEAD("non_finite");
	pub("f/n", "{\"v\":+1}");
	IS_DEAD("invalid_json");
	GOOD_AFTER();
	mq_map_fini(&map);
}

TEST(duplicate_member_names)
{
	setup(1 << 20);
	pub("f/d", "{\"v\":1,\"v\":2}");
	IS_DEAD("duplicate_key");
	CHECK(strstr(cap_hdr(cap.n - 1, "sg-error"), "duplicate member name \"v\"") != NULL);
	pub("f/d", "{\"temp\":1,\"v\":1,\"t\\u0065mp\":2}"); /* the same name, escaped */
	IS_DEAD("duplicate_key");
	pub("f/d", "{\"v\":1,\"x\":[{\"a\":1,\"a\":1}]}"); /* anywhere in the document */
	IS_DEAD("duplicate_key");
	cap_reset();
	pub("f/d",
	    "{\"v\":1,\"a\":{\"v\":2},\"b\":[{\"v\":3},{\"v\":4}]}"); /* same name, other objects */
	CHECK_EQ(cap.n, 1);
	CHECK(cap.ev[0].v.i == 1);
	GOOD_AFTER();
	mq_map_fini(&map);
}

TEST(invalid_utf8)
{
	static const char *bad[] = {
	    "\xc0\xaf",         /* overlong '/' */
	    "\xe0\x80\xaf",     /* overlong, 3 bytes */
	    "\xed\xa0\x80",     /* a surrogate */
	    "\xf4\x90\x80\x80", /* above U+10FFFF */
	    "\xf5\x80\x80\x80", /* no such lead byte */
	    "\x80",             /* a lone continuation */
	    "\xe2\x82",         /* cut short */
	    "\xff",
	};
	char doc[64];

	setup(1 << 20);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(doc, sizeof(doc), "{\"v\":1,\"s\":\"a%sb\"}", bad[i]);
		pub("f/u", doc);
		IS_DEAD("invalid_utf8");
		snprintf(doc, sizeof(doc), "{\"v\":1,\"k%s\":2}", bad[i]); /* in a name */
		pub("f/u", doc);
		IS_DEAD("invalid_utf8");
	}
	pub("f/u", "{\"v\":1,\"s\":\"x\"}\xff"); /* outside a string */
	IS_DEAD("invalid_json");
	cap_reset();
	pub("f/u", "{\"v\":1,\"w\":\"\xe2\x82\xac \xf0\x9d\x84\x9e \xc3\xa9\"}"); /* valid */
	CHECK_EQ(cap.n, 2);
	CHECK_STR(cap.ev[1].value, "\xe2\x82\xac \xf0\x9d\x84\x9e \xc3\xa9");
	GOOD_AFTER();
	mq_map_fini(&map);
}

TEST(string_where_a_number_was_expected)
{
	setup(1 << 20);
	pub("f/s", "{\"v\":\"21.5\"}");
	IS_DEAD("wrong_type");
	CHECK_STR(cap_hdr(cap.n - 1, "sg-error-field"), "v");
	pub("f/s", "{\"v\":[1]}");
	IS_DEAD("wrong_type");
	GOOD_AFTER();
	mq_map_fini(&map);
}

/* {"v":1,"a000000":0,...,"a099999":9} (values i % 10, about 1.2 MB) and
 * optionally a duplicate name at the end. */
static char *big_doc(size_t *len, bool dup)
{
	size_t n = 0;
	char *p = malloc(100002 * 16);

	n += (size_t)sprintf(p, "{\"v\":1");
	for (int i = 0; i < 100000; i++)
		n += (size_t)sprintf(p + n, ",\"a%06d\":%d", i, i % 10);
	if (dup)
		n += (size_t)sprintf(p + n, ",\"a000007\":0");
	p[n++] = '}';
	p[n] = '\0';
	*len = n;
	return p;
}

TEST(one_megabyte_with_100000_fields)
{
	size_t len, dlen;
	char *doc = big_doc(&len, false), *dup = big_doc(&dlen, true);
	double ms_over, ms_fields, ms_wild, ms_dup;

	CHECK(len > 1000000 && len < 1500000);
	/* the default bound: refused unparsed, head and size kept */
	setup(256 << 10);
	ms_over = pub_len("f/big", doc, len);
	IS_DEAD("oversize");
	CHECK_EQ(cap.ev[cap.n - 1].value_len, 1024);
	mq_map_fini(&map);

	/* accepted size: parsed once, four pointers answered */
	setup(2 << 20);
	ms_fields = pub_len("f/big", doc, len);
	CHECK_EQ(cap.n, 3); /* v, mid, last (w is optional and missing) */
	CHECK_STR(cap.ev[1].sensor, "big/mid");
	CHECK(cap.ev[1].v.i == 0 && cap.ev[2].v.i == 9);
	{
		/* The tape's bound: one 16-byte token per value or name. */
		struct mq_jdoc d;
		struct sg_errbuf eb;

		mq_jdoc_init(&d);
		CHECK_EQ(mq_jdoc_parse(&d, doc, len, &eb), SG_OK);
		CHECK_EQ(d.n, 1 + 2 * 100001);
		CHECK(d.cap * sizeof(struct mq_jtok) <= 8 * len);
		printf("    1 MB / 100,000 fields: tape of %zu tokens (%zu KiB) for %zu bytes\n",
		       d.n, d.cap * sizeof(struct mq_jtok) / 1024, len);
		mq_jdoc_free(&d);
	}
	/* the wildcard stops at max_events */
	ms_wild = pub_len("w/big", doc, len);
	IS_DEAD("too_many_events");
	ms_dup = pub_len("f/big", dup, dlen);
	IS_DEAD("duplicate_key");
	/* what the big message made the scratch grow to is given back */
	CHECK(map.w.doc.cap <= 65536);
	CHECK(map.w.cap <= MQ_MAX_EVENTS_DEFAULT);
	GOOD_AFTER();
	printf("    1 MB / 100,000 fields: oversize %.2f ms, 4 fields %.1f ms, wildcard %.1f ms, "
	       "duplicate found %.1f ms\n",
	       ms_over, ms_fields, ms_wild, ms_dup);
	CHECK(ms_fields < 3000 && ms_wild < 3000 && ms_dup < 3000); /* generous: ASan */
	free(doc);
	free(dup);
	mq_map_fini(&map);
}

TEST(good_messages_around_bad_ones_all_mapped)
{
	static const char *bad[] = {"{\"v\":",           "{\"v\":NaN}",   "{\"v\":1,\"v\":1}",
				    "{\"v\":\"x\"}",     "{\"v\":1e999}", "{\"v\":\"\xc0\"}",
				    "[[[[[[[[[[[[[[[[[["};
	uint64_t before = cap_metric("mqtt_bad_input", "source=\"bad\"");
	char doc[64];
	int good = 0, dead = 0;

	setup(1 << 20);
	for (int i = 0; i < 700; i++) {
		if (i % 3 == 1) {
			pub("f/mix", bad[(i / 3) % 7]);
			dead++;
			continue;
		}
		snprintf(doc, sizeof(doc), "{\"v\":%d}", i);
		pub("f/mix", doc);
		good++;
	}
	CHECK_EQ(cap.n, (size_t)(good + dead));
	CHECK_EQ(cap.batches, (size_t)(good + dead)); /* one append per message */
	for (size_t i = 0, want = 0; i < cap.n && i < CAP_EVENTS; i++, want++) {
		if (want % 3 == 1) {
			CHECK_STR(cap.ev[i].topic, "dlq");
			continue;
		}
		CHECK_EQ(cap.ev[i].v.i, (int64_t)want);
	}
	CHECK_EQ(cap_metric("mqtt_bad_input", "source=\"bad\"") - before, (uint64_t)dead);
	mq_map_fini(&map);
}
