/*
 * test_config_table.c - the key-row macros and the generic walker on a
 * table of the test's own, without the gateway's tables: what each
 * SG_KEY_* row holds, ranges (and their absence), enum and special words,
 * required and unknown keys with FILE:LINE:COL, a custom key's parse /
 * free / dump / doc, sg_cfg_verify() over every table in the tree and on
 * broken ones, and that a row naming a field of the wrong type does not
 * compile.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/config/conf.h"
#include "gateway/config/table_internal.h"
#include "drivers/driver.h"
#include "drivers/modbus/simdevice.h"
#include "t.h"

/* --- a custom key: a comma-separated list of integers ------------------ */

struct ints {
	int64_t *v;
	size_t n;
};

static int n_parse, n_free, n_doc;

static int ints_parse(struct sg_cfg_ctx *ctx, struct fy_node *v, const struct sg_cfg_pos *pos,
		      const char *path, const struct sg_cfg_key *k, void *field)
{
	struct ints *in = field;
	struct sg_cfg_pos vpos = sg_cfg_value_pos(ctx, v, pos);
	const char *s;
	size_t len;
	char buf[128], *p, *end;

	(void)k;
	n_parse++;
	s = fy_node_is_scalar(v) ? fy_node_get_scalar(v, &len) : NULL;
	if (!s || len >= sizeof(buf)) {
		sg_cfg_error(ctx, &vpos, path, "expected integers separated by commas");
		return SG_ECONFIG;
	}
	memcpy(buf, s, len);
	buf[len] = '\0';
	in->v = sg_xcalloc(len + 1, sizeof(*in->v));
	for (p = buf; *p; p = *end ? end + 1 : end) {
		in->v[in->n] = strtoll(p, &end, 10);
		if (end == p || (*end && *end != ',')) {
			sg_cfg_error(ctx, &vpos, path, "'%s' is not an integer", p);
			return SG_ECONFIG;
		}
		in->n++;
	}
	return SG_OK;
}

static void ints_free(const struct sg_cfg_key *k, void *field)
{
	struct ints *in = field;

	(void)k;
	n_free++;
	free(in->v);
	memset(in, 0, sizeof(*in));
}

static void ints_dump(const struct sg_cfg_key *k, const void *field, int indent, FILE *fp)
{
	const struct ints *in = field;

	(void)k;
	(void)indent;
	fprintf(fp, " \"");
	for (size_t i = 0; i < in->n; i++)
		fprintf(fp, "%s%lld", i ? "," : "", (long long)in->v[i]);
	fprintf(fp, "\"\n");
}

static void ints_doc(const struct sg_cfg_key *k, const char *prefix, FILE *fp)
{
	n_doc++;
	fprintf(fp, "\n### `%s`\n\n%s: integers separated by commas.\n", prefix, k->name);
}

static const struct sg_cfg_custom ints_custom = {
    .type_name = "integers",
    .size = sizeof(struct ints),
    .parse = ints_parse,
    .free = ints_free,
    .dump = ints_dump,
    .doc = ints_doc,
};

/* --- the test's table --------------------------------------------------- */

struct tc_item {
	char *id;
	int64_t n;
};

struct tc_sub {
	bool on;
};

struct tc {
	char *name;
	char *pw;
	int64_t count;
	int64_t wait_ms;
	int64_t bytes;
	double ratio;
	double any;
	bool flag;
	int colour;
	struct sg_cfg_map props;
	struct sg_cfg_strlist tags;
	struct tc_sub sub;
	struct sg_cfg_list items;
	struct ints ints;
	int64_t level;
};

static const char *const colours[] = {"red", "green", "blue", NULL};
static const char *const levels[] = {"off", "max", NULL};

static const struct sg_cfg_key item_keys[] = {
    SG_KEY_STR("id", struct tc_item, id, NULL, "Item id.", SG_REQUIRED),
    SG_KEY_INT("n", struct tc_item, n, "7", -5, 5000000000.0, "A number."),
};
static const struct sg_cfg_table item_table =
    SG_CFG_TABLE("items[]", "One item.", struct tc_item, item_keys, NULL);

static const struct sg_cfg_key sub_keys[] = {
    SG_KEY_BOOL("on", struct tc_sub, on, "true", "A switch."),
};
static const struct sg_cfg_table sub_table =
    SG_CFG_TABLE("sub", "A section.", struct tc_sub, sub_keys, NULL);

static const struct sg_cfg_key tc_keys[] = {
    SG_KEY_STR("name", struct tc, name, NULL, "The name.", SG_REQUIRED),
    SG_KEY_SECRET("pw", struct tc, pw, "A secret."),
    SG_KEY_INT("count", struct tc, count, "3", 1, 10, "How many."),
    SG_KEY_DURATION("wait", struct tc, wait_ms, "1s", 0, 60000, "How long."),
    SG_KEY_SIZE("bytes", struct tc, bytes, "1k", 512, 65536, "How big."),
    SG_KEY_DOUBLE("ratio", struct tc, ratio, "0.5", 0, 1, "A fraction."),
    SG_KEY_DOUBLE_ANY("any", struct tc, any, "-2.5", "Any number."),
    SG_KEY_BOOL("flag", struct tc, flag, "false", "A flag."),
    SG_KEY_ENUM("colour", struct tc, colour, "green", colours, "A colour."),
    SG_KEY_MAP("props", struct tc, props, "Free properties."),
    SG_KEY_STRLIST("tags", struct tc, tags, "Tags."),
    SG_KEY_SECTION("sub", struct tc, sub, &sub_table, "A section."),
    SG_KEY_LIST("items", struct tc, items, &item_table, "Items."),
    SG_KEY_CUSTOM("ints", struct tc, ints, &ints_custom, "Integers."),
    SG_KEY_INT("level", struct tc, level, "max", 0, 100, "A level or a word.", SG_SPECIAL(levels)),
};
static const struct sg_cfg_table tc_table =
    SG_CFG_TABLE("tc", "The test's table.", struct tc, tc_keys, NULL);

static const struct sg_cfg_key *row(const char *name)
{
	for (size_t i = 0; i < tc_table.nkeys; i++)
		if (!strcmp(tc_keys[i].name, name))
			return &tc_keys[i];
	return NULL;
}

/* Parse text against tc_table into *c (defaults first).  Returns the
 * errors (static) or NULL when valid. */
static const char *parse(const char *text, struct tc *c)
{
	static char errs[4096];
	struct sg_cfg_ctx ctx = {.file = "t.yaml"};
	struct sg_cfg_pos pos = {.file = "t.yaml", .line = 1, .col = 1};
	struct fy_parse_cfg pcfg = {.flags = FYPCF_DEFAULT_DOC};
	struct fy_document *doc = fy_document_build_from_string(&pcfg, text, FY_NT);
	int rc;

	memset(c, 0, sizeof(*c));
	sg_cfg_defaults(&tc_table, c);
	errs[0] = '\0';
	if (!doc)
		return "not YAML";
	rc = sg_cfg_parse_map(&ctx, fy_document_root(doc), &pos, "", &tc_table, c, NULL, NULL);
	fy_document_destroy(doc);
	if (ctx.errors.p)
		snprintf(errs, sizeof(errs), "%s", ctx.errors.p);
	sg_buf_free(&ctx.errors);
	CHECK_EQ(rc != SG_OK, ctx.nerrors > 0);
	return rc == SG_OK ? NULL : errs;
}

#define EXPECT_ERR(text, needle)                                                                   \
	do {                                                                                       \
		struct tc _c;                                                                      \
		const char *_e = parse(text, &_c);                                                 \
		if (!_e || !strstr(_e, needle))                                                    \
			t_fail(__FILE__, __LINE__, "expected error '%s', got: %s", needle,         \
			       _e ? _e : "(valid)");                                               \
		sg_cfg_free(&tc_table, &_c);                                                       \
	} while (0)

TEST(rows_hold_what_the_macros_say)
{
	const struct sg_cfg_key *k = row("count");

	CHECK_EQ(k->type, SG_CFG_INT);
	CHECK_EQ(k->off, offsetof(struct tc, count));
	CHECK_EQ(k->size, sizeof(int64_t));
	CHECK_STR(k->def, "3");
	CHECK(k->ranged && k->min == 1 && k->max == 10);
	CHECK(!k->required && !k->words && !k->sub && !k->custom);
	CHECK_STR(k->help, "How many.");
	CHECK(row("name")->required && !row("name")->def && !row("name")->ranged);
	CHECK(!row("any")->ranged);
	CHECK(row("ratio")->ranged);
	CHECK(row("colour")->words == colours && !row("colour")->ranged);
	CHECK(row("level")->words == levels && row("level")->ranged);
	CHECK(row("sub")->sub == &sub_table && row("sub")->size == sizeof(struct tc_sub));
	CHECK(row("items")->sub == &item_table);
	CHECK(row("ints")->custom == &ints_custom && row("ints")->size == sizeof(struct ints));
	CHECK_EQ(row("pw")->type, SG_CFG_SECRET);
	CHECK(!row("pw")->def);
	CHECK_EQ(tc_table.nkeys, 15);
	CHECK_EQ(tc_table.size, sizeof(struct tc));
}

TEST(defaults_and_values)
{
	struct tc c;

	CHECK(parse("name: x\n", &c) == NULL);
	CHECK_EQ(c.count, 3);
	CHECK_EQ(c.wait_ms, 1000);
	CHECK_EQ(c.bytes, 1024);
	CHECK(c.ratio == 0.5 && c.any == -2.5);
	CHECK_EQ(c.colour, 1);
	CHECK_EQ(c.level, -2); /* "max": special word 1 */
	CHECK(c.sub.on);
	sg_cfg_free(&tc_table, &c);
	CHECK(parse("name: x\ncount: 10\nwait: 1m\nbytes: 64k\nratio: 1\nany: -1e300\n"
		    "colour: blue\nlevel: 0\nsub: {on: false}\ntags: [a, b]\nprops: {k: v}\n"
		    "items: [{id: a}, {id: b, n: 5000000000}]\n",
		    &c) == NULL);
	CHECK_EQ(c.count, 10);
	CHECK_EQ(c.wait_ms, 60000);
	CHECK_EQ(c.bytes, 65536);
	CHECK(c.ratio == 1 && c.any == -1e300);
	CHECK_EQ(c.colour, 2);
	CHECK_EQ(c.level, 0);
	CHECK(!c.sub.on);
	CHECK_EQ(c.tags.n, 2);
	CHECK_STR(c.tags.v[1], "b");
	CHECK_STR(c.props.kv[0].val, "v");
	CHECK_EQ(c.items.n, 2);
	CHECK_EQ(((struct tc_item *)c.items.items)[0].n, 7);
	CHECK_EQ(((struct tc_item *)c.items.items)[1].n, 5000000000LL);
	sg_cfg_free(&tc_table, &c);
	CHECK(c.name == NULL && c.items.items == NULL && c.tags.v == NULL);
}

TEST(range_violations)
{
	EXPECT_ERR("name: x\ncount: 11\n", "t.yaml:2:8: count: 11 is out of range [1, 10]");
	EXPECT_ERR("name: x\ncount: 0\n", "count: 0 is out of range [1, 10]");
	EXPECT_ERR("name: x\nwait: 2m\n", "wait: 2m is out of range [0, 60000] ms");
	EXPECT_ERR("name: x\nbytes: 1\n", "bytes: 1 is out of range [512, 65536] bytes");
	EXPECT_ERR("name: x\nratio: 1.01\n", "ratio: 1.01 is out of range [0, 1]");
	EXPECT_ERR("name: x\nlevel: 101\n", "level: 101 is out of range [0, 100]");
	EXPECT_ERR("name: x\nitems: [{id: a, n: -6}]\n", "items[0].n: -6 is out of range [-5, ");
	EXPECT_ERR("name: x\ncount: many\n", "t.yaml:2:8: count: 'many' is not an integer");
	EXPECT_ERR("name: x\nany: lots\n", "any: 'lots' is not a number");
}

TEST(enum_and_special_words)
{
	struct tc c;

	EXPECT_ERR("name: x\ncolour: pink\n",
		   "t.yaml:2:9: colour: 'pink' is not one of: red, green, blue");
	EXPECT_ERR("name: x\nlevel: high\n", "level: 'high' is not an integer");
	CHECK(parse("name: x\ncolour: red\nlevel: off\n", &c) == NULL);
	CHECK_EQ(c.colour, 0);
	CHECK_EQ(c.level, -1);
	sg_cfg_free(&tc_table, &c);
}

TEST(required_unknown_and_shape_errors)
{
	EXPECT_ERR("count: 2\n", "t.yaml:1:1: name: required key is missing");
	EXPECT_ERR("name: x\nitems:\n  - n: 1\n",
		   "t.yaml:3:5: items[0].id: required key is missing");
	EXPECT_ERR("name: x\ncolour2: red\n", "t.yaml:2:1: colour2: unknown key");
	EXPECT_ERR("name: x\nsub:\n  on: true\n  colour2: red\n",
		   "t.yaml:4:3: sub.colour2: unknown key");
	EXPECT_ERR("name: x\nsub: {on: true, off: 1}\n", "t.yaml:2:17: sub.off: unknown key");
	EXPECT_ERR("name: x\nsub: [1]\n", "sub: expected a mapping");
	EXPECT_ERR("name: x\nitems: {a: 1}\n", "items: expected a sequence");
	EXPECT_ERR("name: x\ncount:\n", "t.yaml:2:1: count: missing value");
	EXPECT_ERR("name: x\ncount: [1]\n", "count: expected a scalar");
}

static char *dump_of(const char *text, bool digest)
{
	struct tc c;
	char *buf = NULL;
	size_t len = 0;
	FILE *mf;

	CHECK(parse(text, &c) == NULL);
	mf = open_memstream(&buf, &len);
	if (digest)
		sg_cfg_dump_digest(&tc_table, &c, 0, mf);
	else
		sg_cfg_dump(&tc_table, &c, 0, mf);
	fclose(mf);
	sg_cfg_free(&tc_table, &c);
	return buf;
}

/* Reload compares digest dumps: a changed secret (or a masked property) is
 * a change there, equal ones are equal, and neither dump holds the value. */
TEST(dump_digest_sees_secrets_and_hides_them)
{
	const char *a = "name: x\npw: hunter2\nprops: {sasl.password: s3cret, acks: all}\n";
	const char *b = "name: x\npw: hunter3\nprops: {sasl.password: s3cret, acks: all}\n";
	const char *c = "name: x\npw: hunter2\nprops: {sasl.password: s3cre7, acks: all}\n";
	char *ma = dump_of(a, false), *mb = dump_of(b, false), *mc = dump_of(c, false);
	char *da = dump_of(a, true), *da2 = dump_of(a, true), *db = dump_of(b, true),
	     *dc = dump_of(c, true);

	/* the masked dump cannot tell them apart: that is why reload does not use it */
	CHECK_STR(ma, mb);
	CHECK_STR(ma, mc);
	CHECK(strstr(ma, "pw: <secret>\n") != NULL);
	CHECK_STR(da, da2);
	CHECK(strcmp(da, db) != 0);
	CHECK(strcmp(da, dc) != 0);
	CHECK(strstr(da, "pw: <secret ") != NULL);
	CHECK(strstr(da, "\"acks\": \"all\"") != NULL);
	const char *all[] = {ma, mb, mc, da, da2, db, dc};
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		CHECK(strstr(all[i], "hunter") == NULL);
		CHECK(strstr(all[i], "s3cre") == NULL);
	}
	/* the digest dump leaves the next plain dump masked */
	char *m2 = dump_of(a, false);
	CHECK_STR(m2, ma);
	free(m2);
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		free((void *)all[i]);
}

TEST(custom_key_parse_free_dump_doc)
{
	struct tc c;
	char *buf = NULL;
	size_t len = 0;
	FILE *mf;

	n_parse = n_free = n_doc = 0;
	CHECK(parse("name: x\nints: \"4,-2,9\"\n", &c) == NULL);
	CHECK_EQ(n_parse, 1);
	CHECK_EQ(c.ints.n, 3);
	CHECK_EQ(c.ints.v[1], -2);
	mf = open_memstream(&buf, &len);
	sg_cfg_dump(&tc_table, &c, 0, mf);
	fclose(mf);
	CHECK(strstr(buf, "\nints: \"4,-2,9\"\nlevel: max\n") != NULL);
	CHECK(strstr(buf, "pw: ~\n") != NULL);
	free(buf);
	sg_cfg_free(&tc_table, &c);
	CHECK_EQ(n_free, 1);
	CHECK(c.ints.v == NULL && c.ints.n == 0);

	/* An error inside the custom key names its value's position; the
	 * walker still frees what it allocated. */
	EXPECT_ERR("name: x\nints: \"1,x\"\n", "t.yaml:2:8: ints: 'x' is not an integer");
	EXPECT_ERR("name: x\nints:\n", "t.yaml:2:1: ints: missing value");
	CHECK_EQ(n_parse, 2);
	CHECK_EQ(n_free, 3);

	buf = NULL;
	mf = open_memstream(&buf, &len);
	sg_cfg_doc(&tc_table, "tc", mf);
	fclose(mf);
	CHECK_EQ(n_doc, 1);
	CHECK(strstr(buf, "| `ints` | integers | — |  | Integers. |\n") != NULL);
	CHECK(strstr(buf, "\n### `tc.ints`\n\nints: integers separated by commas.\n") != NULL);
	CHECK(strstr(buf, "| `count` | integer | `3` | 1..10 | How many. |\n") != NULL);
	CHECK(strstr(buf, "| `any` | number | `-2.5` |  | Any number. |\n") != NULL);
	CHECK(strstr(buf, "| `name` | string | required |  | The name. |\n") != NULL);
	CHECK(strstr(buf, "| `level` | integer | `max` | off, max, or a value in 0..100 |") !=
	      NULL);
	CHECK(strstr(buf, "\n### `tc.items[]`\n") != NULL);
	CHECK(strstr(buf, "\n### `tc.sub`\n") != NULL);
	free(buf);
}

/* Keys unknown to the first table are tried against a second one (a
 * source's driver keys); a key in neither is reported. */
TEST(extra_table_shares_the_mapping)
{
	struct sg_cfg_ctx ctx = {.file = "t.yaml"};
	struct sg_cfg_pos pos = {.file = "t.yaml", .line = 1, .col = 1};
	struct fy_parse_cfg pcfg = {.flags = FYPCF_DEFAULT_DOC};
	struct fy_document *doc =
	    fy_document_build_from_string(&pcfg, "name: x\non: false\nid: 1\n", FY_NT);
	struct tc c = {0};
	struct tc_sub s = {0};
	int rc;

	sg_cfg_defaults(&tc_table, &c);
	sg_cfg_defaults(&sub_table, &s);
	rc = sg_cfg_parse_map(&ctx, fy_document_root(doc), &pos, "src", &tc_table, &c, &sub_table,
			      &s);
	CHECK_EQ(rc, SG_ECONFIG);
	CHECK(!s.on);
	CHECK_STR(c.name, "x");
	CHECK(ctx.errors.p && strstr(ctx.errors.p, "t.yaml:3:1: src.id: unknown key"));
	CHECK_EQ(ctx.nerrors, 1);
	sg_buf_free(&ctx.errors);
	fy_document_destroy(doc);
	sg_cfg_free(&tc_table, &c);
}

TEST(verify_accepts_every_table_in_the_tree)
{
	struct sg_errbuf eb = {{0}};

	CHECK(sg_cfg_verify(&tc_table, &eb) == SG_OK);
	if (sg_cfg_verify(&sg_conf_table, &eb) != SG_OK)
		t_fail(__FILE__, __LINE__, "gateway tables: %s", eb.msg);
	for (int d = 0; sg_drivers[d]; d++)
		if (sg_cfg_verify(sg_drivers[d]->conf, &eb) != SG_OK)
			t_fail(__FILE__, __LINE__, "driver %s: %s", sg_drivers[d]->name, eb.msg);
	if (sg_cfg_verify(&mbs_table, &eb) != SG_OK)
		t_fail(__FILE__, __LINE__, "sim modbus map: %s", eb.msg);
}

/* Broken rows that compile: sg_cfg_verify() names each. */
static const struct sg_cfg_key bad_required[] = {
    SG_KEY_STR("a", struct tc, name, "x", "A.", SG_REQUIRED),
};
static const struct sg_cfg_key bad_range[] = {
    SG_KEY_INT("a", struct tc, count, "1", 10, 1, "A."),
};
static const struct sg_cfg_key bad_section[] = {
    SG_KEY_SECTION("a", struct tc, sub, &item_table, "A."),
};
static const struct sg_cfg_key bad_twice[] = {
    SG_KEY_INT("a", struct tc, count, "1", 1, 9, "A."),
    SG_KEY_DURATION("a", struct tc, wait_ms, "1", 1, 9, "B."),
};
static const struct sg_cfg_key bad_words[] = {
    SG_KEY_STR("a", struct tc, name, NULL, "A.", SG_SPECIAL(colours)),
};
static const struct sg_cfg_key bad_default[] = {
    SG_KEY_INT("a", struct tc, count, "12", 1, 9, "A."),
};
static const struct sg_cfg_key bad_custom[] = {
    /* name, a pointer: another size than struct ints on 32 and 64 bits
     * (an int64_t field has its size on armhf). */
    SG_KEY_CUSTOM("a", struct tc, name, &ints_custom, "A field of another size."),
};
static const struct sg_cfg_key bad_item_keys[] = {
    SG_KEY_INT("n", struct tc_item, n, "7", 1, 5, "Out of its own range."),
};
static const struct sg_cfg_table bad_item_table =
    SG_CFG_TABLE("items[]", "Bad items.", struct tc_item, bad_item_keys, NULL);
static const struct sg_cfg_key bad_nested[] = {
    SG_KEY_LIST("a", struct tc, items, &bad_item_table, "A."),
};
/* A row of struct tc in a table of the smaller struct tc_sub. */
static const struct sg_cfg_key bad_struct[] = {
    SG_KEY_INT("level", struct tc, level, "1", 0, 9, "A."),
};

#define BAD(keys, T, needle)                                                                       \
	do {                                                                                       \
		static const struct sg_cfg_table _t = SG_CFG_TABLE("bad", "", T, keys, NULL);      \
		struct sg_errbuf _eb = {{0}};                                                      \
		if (sg_cfg_verify(&_t, &_eb) != SG_EINVAL || !strstr(_eb.msg, needle))             \
			t_fail(__FILE__, __LINE__, "verify: expected '%s', got '%s'", needle,      \
			       _eb.msg);                                                           \
	} while (0)

TEST(verify_rejects_broken_tables)
{
	BAD(bad_required, struct tc, "bad.a: required and a default");
	BAD(bad_range, struct tc, "bad.a: bad range");
	BAD(bad_section, struct tc, "bad.a: bad sub-table");
	BAD(bad_twice, struct tc, "bad.a: declared twice");
	BAD(bad_words, struct tc, "bad.a: words where they do not apply");
	BAD(bad_default, struct tc, "bad: bad default: <defaults>: a: 12 is out of range [1, 9]");
	BAD(bad_custom, struct tc, "bad.a: bad custom key");
	BAD(bad_nested, struct tc, "items[]: bad default:");
	BAD(bad_struct, struct tc_sub, "bad.level: field outside the table's struct");
}

/* Compile a row against struct tc_like; SG_OK when it compiled. */
static int try_compile(const char *field_type, const char *row_macro, char *out, size_t n)
{
	const char *cc = getenv("CC") && *getenv("CC") ? getenv("CC") : "cc";
	const char *root = getenv("SG_SRCDIR") ? getenv("SG_SRCDIR") : ".";
	char src[600], cmd[1600];
	FILE *f, *p;
	size_t used = 0;
	int st;

	snprintf(src, sizeof(src), "%s/rowtype.c", t_tmpdir());
	f = fopen(src, "w");
	if (!f)
		return SG_EIO;
	fprintf(f,
		"#include \"gateway/config/table.h\"\n"
		"struct tc_like { %s field; };\n"
		"static const struct sg_cfg_key k[] = {%s};\n"
		"const struct sg_cfg_key *row_of(void);\n"
		"const struct sg_cfg_key *row_of(void) { return k; }\n",
		field_type, row_macro);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "%s -std=gnu11 -Wall -Werror -fsyntax-only -I'%s' '%s' 2>&1", cc,
		 root, src);
	p = popen(cmd, "r");
	if (!p)
		return SG_ERR;
	out[0] = '\0';
	while (used + 1 < n && fgets(out + used, (int)(n - used), p))
		used += strlen(out + used);
	st = pclose(p);
	return st == 0 ? SG_OK : SG_ERR;
}

TEST(a_row_for_a_field_of_another_type_does_not_compile)
{
	char out[4096];
	static const struct {
		const char *type, *row;
	} ok[] =
	    {
		{"int64_t", "SG_KEY_INT(\"a\", struct tc_like, field, \"1\", 0, 9, \"A.\")"},
		{"char *", "SG_KEY_STR(\"a\", struct tc_like, field, NULL, \"A.\")"},
		{"int", "SG_KEY_ENUM(\"a\", struct tc_like, field, NULL, NULL, \"A.\")"},
	    },
	  bad[] = {
	      {"int", "SG_KEY_INT(\"a\", struct tc_like, field, \"1\", 0, 9, \"A.\")"},
	      {"int", "SG_KEY_DURATION(\"a\", struct tc_like, field, \"1\", 0, 9, \"A.\")"},
	      {"double", "SG_KEY_SIZE(\"a\", struct tc_like, field, \"1\", 0, 9, \"A.\")"},
	      {"int64_t", "SG_KEY_ENUM(\"a\", struct tc_like, field, NULL, NULL, \"A.\")"},
	      {"const char *", "SG_KEY_STR(\"a\", struct tc_like, field, NULL, \"A.\")"},
	      {"int", "SG_KEY_BOOL(\"a\", struct tc_like, field, NULL, \"A.\")"},
	      {"struct sg_cfg_map", "SG_KEY_LIST(\"a\", struct tc_like, field, NULL, \"A.\")"},
	  };

	/* The control rows must compile, so a failure below means the type
	 * check and not a missing compiler. */
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (try_compile(ok[i].type, ok[i].row, out, sizeof(out)) != SG_OK)
			t_fail(__FILE__, __LINE__, "control row %zu does not compile: %s", i, out);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (try_compile(bad[i].type, bad[i].row, out, sizeof(out)) == SG_OK)
			t_fail(__FILE__, __LINE__, "row %zu compiled: %s on a %s", i, bad[i].row,
			       bad[i].type);
		else if (!strstr(out, "config key: field field of struct tc_like is not"))
			t_fail(__FILE__, __LINE__, "row %zu failed for another reason: %s", i, out);
	}
}
