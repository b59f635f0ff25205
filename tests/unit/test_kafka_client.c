/*
 * test_kafka_client.c - the one client constructor (gateway/kafka/client.h)
 * without a broker: which user properties reach which kind of client,
 * every refused key reported by name, our own key names for what the
 * gateway sets, the log level mapping.  sg_kafka_check() builds the
 * configuration exactly as sg_kafka_new() does, without connecting.
 */
#include <string.h>

#include "gateway/base/log.h"
#include "gateway/kafka/client.h"
#include "t.h"

#define KV(k, v)                                                                                   \
	{                                                                                          \
		.key = (char *)(k), .val = (char *)(v)                                             \
	}

static struct sg_kafka_opts producer(const struct sg_cfg_map *props)
{
	return (struct sg_kafka_opts){.kind = SG_KAFKA_PRODUCER,
				      .who = "producer",
				      .bootstrap = "127.0.0.1:1",
				      .props = props,
				      .max_queued = 11000};
}

static struct sg_kafka_opts consumer(const struct sg_cfg_map *props)
{
	return (struct sg_kafka_opts){.kind = SG_KAFKA_CONSUMER,
				      .who = "sink",
				      .bootstrap = "127.0.0.1:1",
				      .bootstrap_key = "-b",
				      .props = props,
				      .group = "g",
				      .group_key = "-g"};
}

static int nlines(const char *s)
{
	int n = *s ? 1 : 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

TEST(property_scopes_come_from_librdkafka)
{
	CHECK_EQ(sg_kafka_prop_scope("linger.ms"), 'P');
	CHECK_EQ(sg_kafka_prop_scope("enable.idempotence"), 'P');
	CHECK_EQ(sg_kafka_prop_scope("acks"), 'P'); /* a topic property */
	CHECK_EQ(sg_kafka_prop_scope("group.id"), 'C');
	CHECK_EQ(sg_kafka_prop_scope("fetch.wait.max.ms"), 'C');
	CHECK_EQ(sg_kafka_prop_scope("auto.offset.reset"), 'C');
	CHECK_EQ(sg_kafka_prop_scope("security.protocol"), '*');
	CHECK_EQ(sg_kafka_prop_scope("sasl.username"), '*');
	CHECK_EQ(sg_kafka_prop_scope("ssl.ca.location"), '*');
	CHECK_EQ(sg_kafka_prop_scope("client.id"), '*');
	CHECK_EQ(sg_kafka_prop_scope("no.such.property"), 0);
	CHECK_EQ(sg_kafka_prop_scope("Property"), 0); /* the table's header */
}

TEST(every_kind_builds_with_no_user_properties)
{
	struct sg_errbuf eb;
	struct sg_kafka_opts o = producer(NULL);

	CHECK_EQ(sg_kafka_check(&o, &eb), SG_OK);
	o.kind = SG_KAFKA_PRODUCER_TXN;
	o.transactional_id = "sensorgate-gw";
	CHECK_EQ(sg_kafka_check(&o, &eb), SG_OK);
	o = consumer(NULL);
	o.partition_eof = true;
	o.from_beginning = true;
	o.session_timeout_ms = 10000;
	o.metadata_refresh_ms = 1000;
	CHECK_EQ(sg_kafka_check(&o, &eb), SG_OK);
	o = (struct sg_kafka_opts){.kind = SG_KAFKA_MOCK_HOST, .who = "mock cluster"};
	CHECK_EQ(sg_kafka_check(&o, &eb), SG_OK);
}

TEST(connection_settings_reach_every_client_side_ones_only_theirs)
{
	/* A producer-only key with a bad value fails the producer only; a
	 * consumer-only one the consumers only; a connection key both. */
	struct sg_cfg_kv kv[] = {KV("linger.ms", "abc")};
	struct sg_cfg_map m = {kv, 1};
	struct sg_errbuf eb;
	struct sg_kafka_opts p = producer(&m), c = consumer(&m);

	CHECK_EQ(sg_kafka_check(&p, &eb), SG_ECONFIG);
	CHECK(strstr(eb.msg, "kafka.properties.linger.ms: ") == eb.msg);
	CHECK_EQ(sg_kafka_check(&c, &eb), SG_OK);
	kv[0] = (struct sg_cfg_kv)KV("fetch.wait.max.ms", "abc");
	CHECK_EQ(sg_kafka_check(&p, &eb), SG_OK);
	CHECK_EQ(sg_kafka_check(&c, &eb), SG_ECONFIG);
	CHECK(strstr(eb.msg, "kafka.properties.fetch.wait.max.ms: ") == eb.msg);
	kv[0] = (struct sg_cfg_kv)KV("security.protocol", "carrier-pigeon");
	CHECK_EQ(sg_kafka_check(&p, &eb), SG_ECONFIG);
	CHECK(strstr(eb.msg, "kafka.properties.security.protocol: "));
	CHECK_EQ(sg_kafka_check(&c, &eb), SG_ECONFIG);
	CHECK(strstr(eb.msg, "kafka.properties.security.protocol: "));
	kv[0] = (struct sg_cfg_kv)KV("socket.keepalive.enable", "true");
	CHECK_EQ(sg_kafka_check(&p, &eb), SG_OK);
	CHECK_EQ(sg_kafka_check(&c, &eb), SG_OK);
}

TEST(every_refused_key_is_named_on_its_own_line)
{
	struct sg_cfg_kv kv[] = {KV("no.such.property", "1"),
				 KV("enable.idempotence", "false"),
				 KV("acks", "1"),
				 KV("bootstrap.servers", "x:1"),
				 KV("transactional.id", "t"),
				 KV("sasl.username", "bob")};
	struct sg_cfg_map m = {kv, 6};
	struct sg_errbuf eb;
	struct sg_kafka_opts p = producer(&m);

	CHECK_EQ(sg_kafka_check(&p, &eb), SG_ECONFIG);
	CHECK_EQ(nlines(eb.msg), 5);
	CHECK(strstr(eb.msg, "kafka.properties.no.such.property: No such configuration property"));
	CHECK(strstr(eb.msg, "kafka.properties.enable.idempotence: set by the gateway (delivery "
			     "guarantees); use kafka.delivery"));
	CHECK(strstr(eb.msg, "kafka.properties.acks: set by the gateway"));
	CHECK(strstr(eb.msg, "kafka.properties.bootstrap.servers: set by the gateway (delivery "
			     "guarantees); use kafka.bootstrap"));
	CHECK(strstr(eb.msg, "kafka.properties.transactional.id: "));
	CHECK(!strstr(eb.msg, "sasl.username"));
}

TEST(consumers_refuse_what_they_set_themselves)
{
	struct sg_cfg_kv kv[] = {KV("group.id", "other"), KV("enable.auto.commit", "true"),
				 KV("bootstrap.servers", "x:1"), KV("enable.idempotence", "false")};
	struct sg_cfg_kv x[] = {KV("isolation.level", "read_uncommitted"), KV("nope", "1")};
	struct sg_cfg_map m = {kv, 4}, xm = {x, 2};
	struct sg_errbuf eb;
	struct sg_kafka_opts c = consumer(&m);

	c.overrides = &xm;
	CHECK_EQ(sg_kafka_check(&c, &eb), SG_ECONFIG);
	CHECK_EQ(nlines(eb.msg), 5); /* enable.idempotence is a producer key: left out */
	CHECK(strstr(eb.msg, "kafka.properties.group.id: set by sensorgate for the sink; use -g"));
	CHECK(strstr(eb.msg, "kafka.properties.enable.auto.commit: set by sensorgate"));
	CHECK(strstr(eb.msg, "kafka.properties.bootstrap.servers: set by sensorgate for the sink; "
			     "use -b"));
	CHECK(strstr(eb.msg, "-X isolation.level: set by sensorgate"));
	CHECK(strstr(eb.msg, "-X nope: No such configuration property"));
	CHECK(!strstr(eb.msg, "idempotence"));
}

TEST(what_the_gateway_sets_is_named_by_our_key)
{
	struct sg_errbuf eb;
	struct sg_kafka_opts o = producer(NULL);

	o.max_queued = (int64_t)1 << 31; /* just past librdkafka's range */
	/* librdkafka reads integers with strtol(): with a 32-bit long (armhf)
	 * 2^31 saturates to INT_MAX, which is in range, so nothing to see. */
	if (sizeof(long) < sizeof(int64_t))
		return;
	CHECK_EQ(sg_kafka_check(&o, &eb), SG_ECONFIG);
	CHECK(strstr(eb.msg, "kafka.max_in_flight: ") == eb.msg);
	CHECK(!strchr(eb.msg, '\n')); /* librdkafka's trailing newline is cut */
	o = producer(NULL);
	o.bootstrap = "";
	CHECK_EQ(sg_kafka_check(&o, &eb), SG_ECONFIG);
	CHECK(strstr(eb.msg, "kafka.bootstrap: ") == eb.msg);
	o = consumer(NULL);
	o.group = NULL;
	CHECK_EQ(sg_kafka_check(&o, &eb), SG_ECONFIG);
	CHECK(strstr(eb.msg, "-g: ") == eb.msg);
	o = producer(NULL);
	o.kind = SG_KAFKA_PRODUCER_TXN;
	o.transactional_id = ""; /* an empty id cannot be transactional */
	CHECK_EQ(sg_kafka_check(&o, &eb), SG_ECONFIG);
	CHECK(strstr(eb.msg, "gateway.id: ") == eb.msg);
}

TEST(log_levels_are_syslog_levels)
{
	for (int l = 0; l <= 3; l++)
		CHECK_EQ(sg_kafka_log_level(l), SG_LOG_ERROR);
	CHECK_EQ(sg_kafka_log_level(4), SG_LOG_WARN);
	CHECK_EQ(sg_kafka_log_level(5), SG_LOG_INFO);
	CHECK_EQ(sg_kafka_log_level(6), SG_LOG_INFO);
	CHECK_EQ(sg_kafka_log_level(7), SG_LOG_DEBUG);
}
