/*
 * test_mqtt_json.c - the MQTT driver's JSON parser, JSON pointers (RFC
 * 6901) and RFC 3339 time parsing.
 */
#include <stdlib.h>

#include "drivers/mqtt/mqtt.h"
#include "t.h"

static int find(const char *doc, const char *ptr, struct mq_jval *v)
{
	struct mq_jptr p;
	struct sg_errbuf eb;
	int rc;

	if (mq_jptr_parse(ptr, &p, &eb) != SG_OK)
		return -100;
	rc = mq_json_find(doc, strlen(doc), &p, v, &eb);
	mq_jptr_free(&p);
	return rc;
}

static int is_text(const struct mq_jval *v, const char *s)
{
	return v->len == strlen(s) && !memcmp(v->p, s, v->len);
}

TEST(pointer_parse)
{
	struct mq_jptr p;
	struct sg_errbuf eb;

	CHECK(mq_jptr_parse("", &p, &eb) == SG_OK);
	CHECK_EQ(p.n, 0);
	mq_jptr_free(&p);
	CHECK(mq_jptr_parse("/a~1b/~0c/", &p, &eb) == SG_OK);
	CHECK_EQ(p.n, 3);
	CHECK_STR(p.seg[0], "a/b");
	CHECK_STR(p.seg[1], "~c");
	CHECK_STR(p.seg[2], "");
	mq_jptr_free(&p);
	CHECK(mq_jptr_parse("a", &p, &eb) == SG_EINVAL);
	CHECK(mq_jptr_parse("/a~2", &p, &eb) == SG_EINVAL);
	CHECK(mq_jptr_parse("/a~", &p, &eb) == SG_EINVAL);
}

TEST(find_values)
{
	const char *doc = "{\"temperature\": 21.5, \"ok\": true, \"name\": \"k\\u00fcche\","
			  " \"arr\": [1, {\"x\": null}, [3]], \"a/b\": 1, \"m~n\": 2, \"\": 3,"
			  " \"nested\": {\"deep\": {\"v\": -1e3}}}";
	struct mq_jval v;

	CHECK(find(doc, "/temperature", &v) == SG_OK);
	CHECK(v.type == MQ_J_NUM && is_text(&v, "21.5"));
	CHECK(find(doc, "/ok", &v) == SG_OK && v.type == MQ_J_BOOL);
	CHECK(find(doc, "/name", &v) == SG_OK && v.type == MQ_J_STR);
	CHECK(find(doc, "/arr/0", &v) == SG_OK && is_text(&v, "1"));
	CHECK(find(doc, "/arr/1/x", &v) == SG_OK && v.type == MQ_J_NULL);
	CHECK(find(doc, "/arr/2", &v) == SG_OK && v.type == MQ_J_ARR && is_text(&v, "[3]"));
	CHECK(find(doc, "/arr/3", &v) == SG_ENOTFOUND);
	CHECK(find(doc, "/arr/01", &v) == SG_ENOTFOUND);
	CHECK(find(doc, "/a~1b", &v) == SG_OK && is_text(&v, "1"));
	CHECK(find(doc, "/m~0n", &v) == SG_OK && is_text(&v, "2"));
	CHECK(find(doc, "/", &v) == SG_OK && is_text(&v, "3"));
	CHECK(find(doc, "/nested/deep/v", &v) == SG_OK && is_text(&v, "-1e3"));
	CHECK(find(doc, "/nested/deep", &v) == SG_OK && v.type == MQ_J_OBJ);
	CHECK(find(doc, "", &v) == SG_OK && v.type == MQ_J_OBJ && v.len == strlen(doc));
	CHECK(find(doc, "/missing", &v) == SG_ENOTFOUND);
	CHECK(find(doc, "/temperature/x", &v) == SG_ENOTFOUND);
	CHECK(find("[10,20]", "/1", &v) == SG_OK && is_text(&v, "20"));
	CHECK(find("  42  ", "", &v) == SG_OK && is_text(&v, "42"));
}

TEST(escaped_keys_and_first_duplicate)
{
	struct mq_jval v;

	CHECK(find("{\"t\\u0065mp\": 5}", "/temp", &v) == SG_OK && is_text(&v, "5"));
	CHECK(find("{\"a\": 1, \"a\": 2}", "/a", &v) == SG_OK && is_text(&v, "1"));
}

TEST(invalid_json)
{
	static const char *bad[] = {
	    "",         "{",           "}",        "{\"a\":}",    "{\"a\" 1}", "{\"a\":1,}",
	    "[1,]",     "[1 2]",       "{a:1}",    "01",          "1.",        ".5",
	    "-",        "1e",          "+1",       "tru",         "nul",       "\"abc",
	    "\"a\\x\"", "\"\\u12g4\"", "\"a\nb\"", "{\"a\":1} x", "[1]]",      "{\"a\":1}}",
	    "NaN",      "'a'",
	};
	struct mq_jval v;
	struct sg_errbuf eb;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = find(bad[i], "/a", &v);
		if (rc != SG_EINVAL)
			t_fail(__FILE__, __LINE__, "\"%s\" accepted (rc %d)", bad[i], rc);
	}
	/* valid after the pointer matched, invalid later: still invalid */
	CHECK(find("{\"a\": 1, \"b\": [}", "/a", &v) == SG_EINVAL);
	CHECK(mq_json_valid("{\"a\":[1,2,{\"b\":\"c\"}],\"d\":-0.5e+2}", 33, &eb) == SG_OK);
	CHECK(mq_json_valid("{\"a\":1} x", 9, &eb) == SG_EINVAL);
	CHECK(strstr(eb.msg, "byte") != NULL);
}

TEST(depth_limit)
{
	char deep[400];
	struct mq_jval v;
	int n = 0;

	for (int i = 0; i < 150; i++)
		deep[n++] = '[';
	for (int i = 0; i < 150; i++)
		deep[n++] = ']';
	deep[n] = '\0';
	CHECK(find(deep, "/0", &v) == SG_EINVAL);
	n = 0;
	for (int i = 0; i < 10; i++)
		deep[n++] = '[';
	for (int i = 0; i < 10; i++)
		deep[n++] = ']';
	deep[n] = '\0';
	CHECK(find(deep, "/0/0", &v) == SG_OK);
}

TEST(not_nul_terminated)
{
	/* the parser must honour len, not a NUL */
	char *buf = malloc(7);
	struct mq_jval v;
	struct mq_jptr p;
	struct sg_errbuf eb;

	memcpy(buf, "{\"a\":1}", 7);
	mq_jptr_parse("/a", &p, &eb);
	CHECK(mq_json_find(buf, 7, &p, &v, &eb) == SG_OK);
	CHECK(mq_json_find(buf, 6, &p, &v, &eb) == SG_EINVAL);
	mq_jptr_free(&p);
	free(buf);
}

TEST(strings_decode)
{
	struct mq_jval v;
	struct sg_buf b;

	sg_buf_init(&b);
	CHECK(find("{\"s\":\"a\\\"b\\\\c\\/d\\n\\u00e9\\ud83d\\ude00\"}", "/s", &v) == SG_OK);
	CHECK(mq_json_str(&v, &b) == SG_OK);
	CHECK(b.len == strlen("a\"b\\c/d\n\xc3\xa9\xf0\x9f\x98\x80"));
	CHECK(!memcmp(b.p, "a\"b\\c/d\n\xc3\xa9\xf0\x9f\x98\x80", b.len));
	sg_buf_reset(&b);
	CHECK(find("[\"\\ud800x\"]", "/0", &v) == SG_OK); /* lone surrogate */
	CHECK(mq_json_str(&v, &b) == SG_OK);
	CHECK(b.len == 4 && !memcmp(b.p, "\xef\xbf\xbdx", 4));
	sg_buf_free(&b);
}

TEST(numbers)
{
	struct mq_jval v;
	struct sg_value val;

	CHECK(find("[42]", "/0", &v) == SG_OK && mq_json_num(&v, &val) == SG_OK);
	CHECK(val.type == SG_VAL_INT && val.i == 42);
	CHECK(find("[-7]", "/0", &v) == SG_OK && mq_json_num(&v, &val) == SG_OK);
	CHECK(val.type == SG_VAL_INT && val.i == -7);
	CHECK(find("[2.5]", "/0", &v) == SG_OK && mq_json_num(&v, &val) == SG_OK);
	CHECK(val.type == SG_VAL_DOUBLE && val.d == 2.5);
	CHECK(find("[1e2]", "/0", &v) == SG_OK && mq_json_num(&v, &val) == SG_OK);
	CHECK(val.type == SG_VAL_DOUBLE && val.d == 100);
	CHECK(find("[99999999999999999999]", "/0", &v) == SG_OK && mq_json_num(&v, &val) == SG_OK);
	CHECK(val.type == SG_VAL_DOUBLE && val.d > 9e19);
}

TEST(time_rfc3339)
{
	int64_t ns;

	CHECK(mq_time_parse("1970-01-01T00:00:00Z", 20, &ns) == SG_OK && ns == 0);
	CHECK(mq_time_parse("2024-05-01T12:00:00.5Z", 22, &ns) == SG_OK);
	CHECK_EQ(ns, 1714564800LL * SG_NS_PER_S + 500000000);
	CHECK(mq_time_parse("2024-05-01T14:00:00+02:00", 25, &ns) == SG_OK);
	CHECK_EQ(ns, 1714564800LL * SG_NS_PER_S);
	CHECK(mq_time_parse("2024-05-01T11:30:00.123456789-00:30", 35, &ns) == SG_OK);
	CHECK_EQ(ns, 1714564800LL * SG_NS_PER_S + 123456789);
	CHECK(mq_time_parse("2024-05-01 12:00:00Z", 20, &ns) == SG_OK);
	CHECK(mq_time_parse("2024-05-01T12:00:00", 19, &ns) == SG_EINVAL);
	CHECK(mq_time_parse("2024-13-01T12:00:00Z", 20, &ns) == SG_EINVAL);
	CHECK(mq_time_parse("2024-05-01T12:00:00.Z", 21, &ns) == SG_EINVAL);
	CHECK(mq_time_parse("2024-05-01T12:00:00+0200", 24, &ns) == SG_EINVAL);
	CHECK(mq_time_parse("yesterday", 9, &ns) == SG_EINVAL);
}

/* --- the token tape (json.c) and its questions (jsonptr.c) ---------------- */

static int parse(struct mq_jdoc *d, const char *doc, struct sg_errbuf *eb)
{
	return mq_jdoc_parse(d, doc, strlen(doc), eb);
}

TEST(tape_layout)
{
	const char *doc = "{\"a\":[1,{\"b\":true}],\"c\":\"x\"}";
	struct mq_jdoc d;
	struct sg_errbuf eb;

	mq_jdoc_init(&d);
	CHECK_EQ(parse(&d, doc, &eb), SG_OK);
	/* {  "a"  [  1  {  "b"  true  "c"  "x" */
	CHECK_EQ(d.n, 9);
	CHECK(d.t[0].type == MQ_J_OBJ && d.t[0].next == 9 && d.t[0].len == strlen(doc));
	CHECK(d.t[1].type == MQ_J_STR && (d.t[1].flags & MQ_JT_KEY));
	CHECK(d.t[2].type == MQ_J_ARR && d.t[2].next == 7);
	CHECK(d.t[4].type == MQ_J_OBJ && d.t[4].next == 7);
	CHECK(d.t[6].type == MQ_J_BOOL);
	CHECK(d.t[8].type == MQ_J_STR && d.t[8].len == 3);
	/* reused for the next document */
	CHECK_EQ(parse(&d, "[]", &eb), SG_OK);
	CHECK_EQ(d.n, 1);
	CHECK(d.t[0].type == MQ_J_ARR && d.t[0].next == 1);
	mq_jdoc_free(&d);
}

TEST(tape_refusals_say_why)
{
	static const struct {
		const char *doc;
		enum mq_jerr err;
		size_t at;
	} cases[] = {
	    {"{\"a\":1,\"a\":2}", MQ_JERR_DUP, 7},
	    {"[NaN]", MQ_JERR_NONFINITE, 1},
	    {"{\"a\":-Infinity}", MQ_JERR_NONFINITE, 5},
	    {"[\"\xc3\x28\"]", MQ_JERR_UTF8, 2},
	    {"{\"a\" 1}", MQ_JERR_SYNTAX, 5},
	    {"[1,]", MQ_JERR_SYNTAX, 3},
	};
	struct mq_jdoc d;
	struct sg_errbuf eb;

	mq_jdoc_init(&d);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK_EQ(parse(&d, cases[i].doc, &eb), SG_EINVAL);
		if (d.err != cases[i].err || d.err_off != cases[i].at)
			t_fail(__FILE__, __LINE__, "case %zu: err %d at %zu (%s)", i, d.err,
			       d.err_off, eb.msg);
		CHECK_EQ(d.n, 0); /* nothing to ask of a refused document */
	}
	CHECK_STR(mq_jerr_name(MQ_JERR_DUP), "duplicate_key");
	d.allow_dups = true;
	CHECK_EQ(parse(&d, "{\"a\":1,\"a\":2}", &eb), SG_OK);
	mq_jdoc_free(&d);
}

TEST(depth_limit_is_exact)
{
	char doc[200];
	struct mq_jdoc d;
	struct sg_errbuf eb;

	mq_jdoc_init(&d);
	memset(doc, '[', MQ_JSON_MAX_DEPTH);
	memset(doc + MQ_JSON_MAX_DEPTH, ']', MQ_JSON_MAX_DEPTH);
	CHECK_EQ(mq_jdoc_parse(&d, doc, 2 * MQ_JSON_MAX_DEPTH, &eb), SG_OK);
	memset(doc, '[', MQ_JSON_MAX_DEPTH + 1);
	memset(doc + MQ_JSON_MAX_DEPTH + 1, ']', MQ_JSON_MAX_DEPTH + 1);
	CHECK_EQ(mq_jdoc_parse(&d, doc, 2 * MQ_JSON_MAX_DEPTH + 2, &eb), SG_EINVAL);
	CHECK(d.err == MQ_JERR_DEPTH && d.err_off == MQ_JSON_MAX_DEPTH);
	mq_jdoc_free(&d);
}

static int count_leaf(void *arg, const struct mq_leaf *lf)
{
	struct sg_buf *names = arg;

	sg_buf_add(names, lf->name, lf->name_len);
	sg_buf_addc(names, '=');
	sg_buf_add(names, lf->last, lf->last_len);
	sg_buf_addc(names, ';');
	return SG_OK;
}

static int stop_at_two(void *arg, const struct mq_leaf *lf)
{
	int *n = arg;

	(void)lf;
	return ++*n == 2 ? SG_ERR : SG_OK;
}

TEST(pointers_and_leaves_on_the_tape)
{
	const char *doc = "{\"x\":{\"a\\/b\":1,\"s\":\"t\",\"n\":null,\"l\":[false,[2]]},\"y\":3}";
	struct mq_jdoc d;
	struct mq_jptr p;
	struct sg_errbuf eb;
	struct sg_buf names, path;
	size_t tok;
	int n = 0;

	mq_jdoc_init(&d);
	sg_buf_init(&names);
	sg_buf_init(&path);
	CHECK_EQ(parse(&d, doc, &eb), SG_OK);
	CHECK_EQ(mq_jptr_parse("/x/a~1b", &p, &eb), SG_OK);
	CHECK_EQ(mq_jdoc_get(&d, 0, &p, &tok), SG_OK); /* an escaped name */
	CHECK(mq_jdoc_val(&d, tok).p[0] == '1');
	mq_jptr_free(&p);
	CHECK_EQ(mq_jptr_parse("/x/l/1/0", &p, &eb), SG_OK);
	CHECK_EQ(p.idx[2], 1);
	CHECK_EQ(mq_jdoc_get(&d, 0, &p, &tok), SG_OK);
	CHECK(mq_jdoc_val(&d, tok).p[0] == '2');
	mq_jptr_free(&p);
	CHECK_EQ(mq_jptr_parse("/x", &p, &eb), SG_OK);
	CHECK_EQ(mq_jdoc_get(&d, 0, &p, &tok), SG_OK);
	CHECK_EQ(mq_jdoc_leaves(&d, tok, '.', &path, count_leaf, &names), SG_OK);
	sg_buf_addc(&names, '\0');
	CHECK_STR(names.p, "a/b=a/b;l.0=0;l.1.0=0;"); /* strings and null are no leaves */
	CHECK_EQ(mq_jdoc_leaves(&d, 0, '.', &path, stop_at_two, &n), SG_ERR);
	CHECK_EQ(n, 2);
	mq_jptr_free(&p);
	sg_buf_free(&names);
	sg_buf_free(&path);
	mq_jdoc_free(&d);
}

TEST(numbers_beyond_64_bits_and_doubles)
{
	struct mq_jval v = {MQ_J_NUM, "18446744073709551615", 20};
	struct sg_value val;

	CHECK_EQ(mq_json_num(&v, &val), SG_OK);
	CHECK(val.type == SG_VAL_UINT && val.u == UINT64_MAX);
	v = (struct mq_jval){MQ_J_NUM, "18446744073709551616", 20};
	CHECK_EQ(mq_json_num(&v, &val), SG_OK);
	CHECK(val.type == SG_VAL_DOUBLE);
	v = (struct mq_jval){MQ_J_NUM, "1e309", 5};
	CHECK_EQ(mq_json_num(&v, &val), SG_EINVAL);
}
