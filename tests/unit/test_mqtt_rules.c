/*
 * test_mqtt_rules.c - MQTT topic filters (validity, matching, overlap) and
 * the {N}/{topic} templates of the MQTT driver's mapping rules.
 */
#include "drivers/mqtt/mqtt.h"
#include "t.h"

TEST(filter_valid)
{
	struct sg_errbuf eb;

	CHECK(mq_filter_valid("a/b/c", &eb) == SG_OK);
	CHECK(mq_filter_valid("#", &eb) == SG_OK);
	CHECK(mq_filter_valid("+", &eb) == SG_OK);
	CHECK(mq_filter_valid("a/+/c/#", &eb) == SG_OK);
	CHECK(mq_filter_valid("/", &eb) == SG_OK);
	CHECK(mq_filter_valid("+/+", &eb) == SG_OK);
	CHECK(mq_filter_valid("", &eb) == SG_EINVAL);
	CHECK(mq_filter_valid("a/#/c", &eb) == SG_EINVAL);
	CHECK(mq_filter_valid("a#", &eb) == SG_EINVAL);
	CHECK(mq_filter_valid("a/b+", &eb) == SG_EINVAL);
	CHECK(mq_filter_valid("+a/b", &eb) == SG_EINVAL);
	CHECK(mq_filter_valid("a/##", &eb) == SG_EINVAL);
	CHECK(strstr(eb.msg, "#") != NULL);
}

TEST(filter_match_literal_and_plus)
{
	CHECK(mq_filter_match("a/b", "a/b"));
	CHECK(!mq_filter_match("a/b", "a/b/c"));
	CHECK(!mq_filter_match("a/b", "a"));
	CHECK(!mq_filter_match("a/b", "A/b"));
	CHECK(mq_filter_match("a/+", "a/b"));
	CHECK(mq_filter_match("a/+", "a/")); /* empty level */
	CHECK(!mq_filter_match("a/+", "a"));
	CHECK(!mq_filter_match("a/+", "a/b/c"));
	CHECK(mq_filter_match("+/+", "/x"));
	CHECK(mq_filter_match("+", "x"));
	CHECK(!mq_filter_match("+", "/x"));
	CHECK(mq_filter_match("zigbee2mqtt/+", "zigbee2mqtt/kitchen"));
	CHECK(!mq_filter_match("zigbee2mqtt/+", "zigbee2mqtt/bridge/state"));
}

TEST(filter_match_hash)
{
	CHECK(mq_filter_match("#", "a"));
	CHECK(mq_filter_match("#", "a/b/c"));
	CHECK(mq_filter_match("#", "/"));
	CHECK(mq_filter_match("a/#", "a")); /* the parent level too */
	CHECK(mq_filter_match("a/#", "a/b"));
	CHECK(mq_filter_match("a/#", "a/b/c/d"));
	CHECK(!mq_filter_match("a/#", "b/a"));
	CHECK(mq_filter_match("a/+/#", "a/b"));
	CHECK(!mq_filter_match("a/+/#", "a"));
	CHECK(!mq_filter_match("a", ""));
}

TEST(filter_match_dollar)
{
	CHECK(!mq_filter_match("#", "$SYS/broker/uptime"));
	CHECK(!mq_filter_match("+/broker/uptime", "$SYS/broker/uptime"));
	CHECK(mq_filter_match("$SYS/#", "$SYS/broker/uptime"));
	CHECK(mq_filter_match("a/+", "a/$x")); /* only the first level counts */
}

TEST(filter_overlap)
{
	CHECK(mq_filter_overlap("a/b", "a/b"));
	CHECK(!mq_filter_overlap("a/b", "a/c"));
	CHECK(mq_filter_overlap("a/+", "a/b"));
	CHECK(mq_filter_overlap("a/#", "a"));
	CHECK(mq_filter_overlap("#", "x/y/z"));
	CHECK(mq_filter_overlap("+/b", "a/+"));
	CHECK(!mq_filter_overlap("+/b", "a/+/c"));
	CHECK(!mq_filter_overlap("a/+", "a/b/c"));
	CHECK(mq_filter_overlap("a/+/#", "a/b/c"));
	CHECK(!mq_filter_overlap("#", "$SYS/x"));
	CHECK(!mq_filter_overlap("zigbee2mqtt/+", "sensors/#"));
}

TEST(tmpl_valid)
{
	struct sg_errbuf eb;

	CHECK(mq_tmpl_valid("sensors.{1}", MQ_TMPL_TOPIC, &eb) == SG_OK);
	CHECK(mq_tmpl_valid("{topic}", MQ_TMPL_TOPIC, &eb) == SG_OK);
	CHECK(mq_tmpl_valid("a-{0}_{12}", MQ_TMPL_TOPIC, &eb) == SG_OK);
	CHECK(mq_tmpl_valid("sensors/{1}", MQ_TMPL_TOPIC, &eb) == SG_EINVAL);
	CHECK(strstr(eb.msg, "'/'") != NULL);
	CHECK(mq_tmpl_valid("sensors/{1}", MQ_TMPL_TEXT, &eb) == SG_OK);
	CHECK(mq_tmpl_valid("{x}", MQ_TMPL_TEXT, &eb) == SG_EINVAL);
	CHECK(mq_tmpl_valid("{1", MQ_TMPL_TEXT, &eb) == SG_EINVAL);
	CHECK(mq_tmpl_valid("a}", MQ_TMPL_TEXT, &eb) == SG_EINVAL);
	CHECK(mq_tmpl_valid("{}", MQ_TMPL_TEXT, &eb) == SG_EINVAL);
	CHECK(mq_tmpl_valid("{64}", MQ_TMPL_TEXT, &eb) == SG_EINVAL);
	CHECK(mq_tmpl_valid("{{lit}}", MQ_TMPL_TEXT, &eb) == SG_OK);
	CHECK(mq_tmpl_valid("{{lit}}", MQ_TMPL_TOPIC, &eb) == SG_EINVAL);
	CHECK(mq_tmpl_valid("", MQ_TMPL_TEXT, &eb) == SG_EINVAL);
}

static int expand(const char *t, enum mq_tmpl_kind k, const char *topic, char *out, size_t n)
{
	struct mq_levels lv;
	struct sg_errbuf eb;

	mq_levels_split(topic, &lv);
	return mq_tmpl_expand(t, k, topic, &lv, out, n, &eb);
}

TEST(tmpl_expand)
{
	char out[64];

	CHECK(expand("sensors.{1}", MQ_TMPL_TOPIC, "zigbee2mqtt/kitchen", out, sizeof(out)) ==
	      SG_OK);
	CHECK_STR(out, "sensors.kitchen");
	CHECK(expand("{0}", MQ_TMPL_TEXT, "zigbee2mqtt/kitchen", out, sizeof(out)) == SG_OK);
	CHECK_STR(out, "zigbee2mqtt");
	CHECK(expand("{topic}", MQ_TMPL_TOPIC, "a/b c/d", out, sizeof(out)) == SG_OK);
	CHECK_STR(out, "a.b_c.d");
	CHECK(expand("{topic}", MQ_TMPL_TEXT, "a/b c/d", out, sizeof(out)) == SG_OK);
	CHECK_STR(out, "a/b c/d");
	CHECK(expand("t.{1}", MQ_TMPL_TOPIC,
		     "a/k\xc3\xbc"
		     "che",
		     out, sizeof(out)) == SG_OK);
	CHECK_STR(out, "t.k__che");
	CHECK(expand("{1}-{0}", MQ_TMPL_TEXT, "x/y", out, sizeof(out)) == SG_OK);
	CHECK_STR(out, "y-x");
	CHECK(expand("{{{0}}}", MQ_TMPL_TEXT, "x/y", out, sizeof(out)) == SG_OK);
	CHECK_STR(out, "{x}");
	/* a level the topic does not have */
	CHECK(expand("s.{2}", MQ_TMPL_TOPIC, "a/b", out, sizeof(out)) == SG_EINVAL);
	/* empty level expands to nothing: empty result is an error */
	CHECK(expand("{1}", MQ_TMPL_TEXT, "a/", out, sizeof(out)) == SG_EINVAL);
	/* too long */
	CHECK(expand("{0}{0}{0}", MQ_TMPL_TEXT, "abcdefghijklmnopqrstuvwxyz", out, 40) ==
	      SG_EINVAL);
}

TEST(levels_split)
{
	struct mq_levels lv;
	char deep[200];

	mq_levels_split("a//b/", &lv);
	CHECK_EQ(lv.n, 4);
	CHECK_EQ(lv.len[1], 0);
	CHECK_EQ(lv.len[3], 0);
	for (int i = 0; i < 65; i++) {
		deep[2 * i] = 'x';
		deep[2 * i + 1] = '/';
	}
	deep[129] = '\0';
	mq_levels_split(deep, &lv);
	CHECK_EQ(lv.n, -1);
}

TEST(filter_covers)
{
	CHECK(mq_filter_covers("#", "a/b"));
	CHECK(mq_filter_covers("a/#", "a"));
	CHECK(mq_filter_covers("a/#", "a/+/c"));
	CHECK(mq_filter_covers("a/+", "a/b"));
	CHECK(mq_filter_covers("a/+", "a/+"));
	CHECK(mq_filter_covers("+/sensor/+/state", "x/sensor/temperature/state"));
	CHECK(mq_filter_covers("a/+/#", "a/b"));
	CHECK(!mq_filter_covers("a/b", "a/+"));
	CHECK(!mq_filter_covers("a/+", "a/#"));
	CHECK(!mq_filter_covers("a/+", "a"));
	CHECK(!mq_filter_covers("a/b", "a/b/c"));
	CHECK(!mq_filter_covers("zigbee2mqtt/+", "zigbee2mqtt/bridge/#"));
	CHECK(!mq_filter_covers("#", "$SYS/x")); /* $-topics escape leading wildcards */
	CHECK(mq_filter_covers("$SYS/#", "$SYS/x"));
}

TEST(field_templates)
{
	struct mq_levels lv;
	struct sg_errbuf eb;
	char out[64];

	CHECK(mq_tmpl_valid("{1}/{field}", MQ_TMPL_TEXT, &eb) == SG_OK);
	CHECK(mq_tmpl_valid("t.{field}", MQ_TMPL_TOPIC, &eb) == SG_OK);
	CHECK(mq_tmpl_uses_field("a{field}"));
	CHECK(!mq_tmpl_uses_field("{{field}}"));
	CHECK(!mq_tmpl_uses_field("{topic}"));
	mq_levels_split("tele/dev/SENSOR", &lv);
	CHECK(mq_tmpl_expand_field("{1}/{field}", MQ_TMPL_TEXT, "tele/dev/SENSOR", &lv,
				   "AM2301.Temperature", out, sizeof(out), &eb) == SG_OK);
	CHECK_STR(out, "dev/AM2301.Temperature");
	CHECK(mq_tmpl_expand_field("t.{field}", MQ_TMPL_TOPIC, "tele/dev/SENSOR", &lv, "a/b c", out,
				   sizeof(out), &eb) == SG_OK);
	CHECK_STR(out, "t.a_b_c");
	CHECK(mq_tmpl_expand("{field}", MQ_TMPL_TEXT, "tele/dev/SENSOR", &lv, out, sizeof(out),
			     &eb) == SG_EINVAL);
	CHECK(strstr(eb.msg, "{field}") != NULL);
}

TEST(shadowed_rules)
{
	struct mq_rule_conf r[4] = {{.filter = "+/sensor/+/state"},
				    {.filter = "x/sensor/temperature/state"},
				    {.filter = "x/status"},
				    {.filter = "y/z"}};
	struct mq_sub_conf subs[2] = {{"+/sensor/#", 1}, {"+/status", 1}};
	struct mq_conf c = {0};
	char why[600];

	c.rules.items = r;
	c.rules.n = 4;
	CHECK(!mq_rule_shadowed(&c, 0, why, sizeof(why)));
	CHECK(mq_rule_shadowed(&c, 1, why, sizeof(why)));
	CHECK(strstr(why, "rules[1]") && strstr(why, "rules[0]") && strstr(why, "continue"));
	CHECK(!mq_rule_shadowed(&c, 2, why, sizeof(why)));
	r[0].cont = true; /* lets the later rules see its messages */
	CHECK(!mq_rule_shadowed(&c, 1, why, sizeof(why)));
	r[0].cont = false;
	r[0].if_pointer = "/method"; /* a condition: may let them through */
	CHECK(!mq_rule_shadowed(&c, 1, why, sizeof(why)));
	/* explicit subscriptions: a rule none of them delivers */
	c.subscriptions.items = subs;
	c.subscriptions.n = 2;
	CHECK(!mq_rule_shadowed(&c, 2, why, sizeof(why)));
	CHECK(mq_rule_shadowed(&c, 3, why, sizeof(why)));
	CHECK(strstr(why, "no subscription") != NULL);
}
