/*
 * test_mqtt_batch.c - the messages of one read pass appended together
 * (drivers/mqtt/batch.c): their events in one emit, in order, each with
 * its own topic and headers although libmosquitto's copy is gone; a
 * message without events of its own (a dead letter) after the batch
 * before it; a batch refused whole appended message by message; the
 * bound on a batch; and the driver (mqtt.c) against a fake library that
 * holds acknowledgements: one emit per pass, the write after it, and no
 * write at all after a failed append.
 */
#include <errno.h>
#include <stdio.h>

#include "test_mqtt_capture.h"

static struct mq_rule_conf rules[4];
static struct mq_conf conf;
static struct mq_map map;

static void setup(const char *dlq)
{
	struct sg_errbuf eb;

	cap_reset();
	memset(rules, 0, sizeof(rules));
	rules[0] = (struct mq_rule_conf){.filter = "raw/#", .topic = "raw.{1}"};
	rules[1] = (struct mq_rule_conf){
	    .filter = "json/+", .topic = "json", .key = "{1}", .payload = MQ_PAYLOAD_JSON};
	memset(&conf, 0, sizeof(conf));
	conf.rules.items = rules;
	conf.rules.n = 2;
	conf.max_payload = 4096;
	conf.dead_letter_topic = (char *)dlq;
	if (mq_map_init(&map, NULL, "bat", &conf, &eb) != SG_OK)
		t_fail(__FILE__, __LINE__, "init: %s", eb.msg);
	map.emit = cap_emit;
	map.defer = true;
}

/* A message as libmosquitto hands it over: its buffers are overwritten
 * as soon as the callback returns, like the library's freed copy. */
static int pub(const char *topic, const char *payload, int qos)
{
	char t[128], p[512];
	struct mq_msg m = {t, p, strlen(payload), qos, false, NULL, NULL, 0};
	int rc;

	snprintf(t, sizeof(t), "%s", topic);
	snprintf(p, sizeof(p), "%s", payload);
	rc = mq_map_message(&map, &m);
	memset(t, 'X', sizeof(t) - 1);
	memset(p, 'Y', sizeof(p) - 1);
	return rc;
}

static uint64_t metric(const char *name)
{
	return cap_metric(name, "source=\"bat\"");
}

TEST(a_pass_is_one_emit_and_each_event_keeps_its_own_strings)
{
	uint64_t events;

	setup(NULL);
	events = metric("mqtt_events");
	CHECK_EQ(pub("raw/a", "one", 1), SG_OK);
	CHECK_EQ(pub("json/k1", "{\"value\": 21.5}", 1), SG_OK);
	CHECK_EQ(pub("raw/b/c", "three", 0), SG_OK);
	CHECK_EQ(cap.batches, 0); /* nothing appended before the pass ends */
	CHECK_EQ(mq_map_flush(&map), SG_OK);
	CHECK_EQ(cap.batches, 1);
	CHECK_EQ(cap.batch_n[0], 3);
	CHECK_STR(cap.ev[0].sensor, "raw/a");
	CHECK_STR(cap.ev[0].value, "one");
	CHECK_STR(cap.ev[0].topic, "raw.a");
	CHECK_STR(cap_hdr(0, "mqtt-topic"), "raw/a");
	CHECK_STR(cap_hdr(0, "mqtt-qos"), "1");
	CHECK_STR(cap.ev[1].sensor, "json/k1");
	CHECK_STR(cap.ev[1].key, "k1");
	CHECK(cap_num(1) == 21.5);
	CHECK_STR(cap_hdr(1, "mqtt-topic"), "json/k1");
	CHECK_STR(cap.ev[2].sensor, "raw/b/c");
	CHECK_STR(cap.ev[2].value, "three");
	CHECK_STR(cap.ev[2].topic, "raw.b");
	CHECK_STR(cap_hdr(2, "mqtt-topic"), "raw/b/c");
	CHECK_STR(cap_hdr(2, "mqtt-qos"), "0");
	CHECK_EQ(metric("mqtt_events"), events + 3);
	/* an empty pass appends nothing */
	CHECK_EQ(mq_map_flush(&map), SG_OK);
	CHECK_EQ(cap.batches, 1);
	mq_map_fini(&map);
}

TEST(a_dead_letter_comes_after_the_batch_before_it)
{
	setup("dead");
	CHECK_EQ(pub("raw/a", "one", 1), SG_OK);
	CHECK_EQ(pub("json/bad", "{not json", 1), SG_OK);
	CHECK_EQ(pub("raw/b", "two", 1), SG_OK);
	CHECK_EQ(mq_map_flush(&map), SG_OK);
	CHECK_EQ(cap.batches, 3);
	CHECK_EQ(cap.batch_n[0], 1);
	CHECK_STR(cap.ev[0].value, "one");
	CHECK_STR(cap.ev[1].topic, "dead");
	CHECK_STR(cap.ev[1].value, "{not json");
	CHECK_STR(cap_hdr(1, "mqtt-topic"), "json/bad");
	CHECK_STR(cap_hdr(1, "sg-error-reason"), "invalid_json");
	CHECK_STR(cap.ev[2].value, "two");
	mq_map_fini(&map);
}

/* Refuses any batch of more than one event, as a spool whose
 * max_record_bytes is smaller than the batch would. */
static int small_spool(struct sg_source *src, const struct sg_reading *rd, size_t n)
{
	if (n > 1) {
		cap.batches++;
		return SG_EINVAL;
	}
	return cap_emit(src, rd, n);
}

TEST(a_batch_refused_whole_goes_message_by_message_and_shrinks)
{
	size_t bytes;
	uint64_t bad;

	setup(NULL);
	bad = metric("mqtt_bad_input");
	map.emit = small_spool;
	bytes = map.batch_bytes;
	for (int i = 0; i < 4; i++) {
		char t[24];
		snprintf(t, sizeof(t), "raw/m%d", i);
		CHECK_EQ(pub(t, "v", 1), SG_OK);
	}
	CHECK_EQ(mq_map_flush(&map), SG_OK);
	CHECK_EQ(cap.n, 4);
	CHECK_STR(cap.ev[0].sensor, "raw/m0");
	CHECK_STR(cap.ev[3].sensor, "raw/m3");
	CHECK_EQ(metric("mqtt_bad_input"), bad);
	CHECK(map.batch_bytes < bytes);
	mq_map_fini(&map);
}

TEST(a_batch_is_bounded)
{
	setup(NULL);
	for (int i = 0; i < MQ_BATCH_MSGS + 10; i++)
		CHECK_EQ(pub("raw/a", "v", 1), SG_OK);
	CHECK_EQ(cap.batches, 1); /* emitted when full, inside the pass */
	CHECK_EQ(cap.batch_n[0], MQ_BATCH_MSGS);
	CHECK_EQ(mq_map_flush(&map), SG_OK);
	CHECK_EQ(cap.batches, 2);
	CHECK_EQ(cap.batch_n[1], 10);
	mq_map_fini(&map);
}

TEST(a_failed_batch_is_not_lost_after_ack_for_qos1_but_stops_everything)
{
	uint64_t lost;

	setup(NULL);
	lost = metric("mqtt_lost_after_ack");
	cap.rc = SG_EIO;
	CHECK_EQ(pub("raw/a", "one", 1), SG_OK);
	CHECK_EQ(pub("raw/b", "two", 2), SG_OK);
	CHECK_EQ(mq_map_flush(&map), SG_EIO);
	CHECK_EQ(map.last_rc, SG_EIO);
	/* QoS 1 was never acknowledged; QoS 2 was (its PUBREC) */
	CHECK_EQ(metric("mqtt_lost_after_ack"), lost + 1);
	/* nothing more is taken until the driver reconnects */
	cap.rc = SG_OK;
	CHECK_EQ(pub("raw/c", "three", 1), SG_EIO);
	CHECK_EQ(mq_map_flush(&map), SG_EIO);
	CHECK_EQ(cap.batches, 1);
	mq_map_fini(&map);
}

TEST(without_batching_every_message_is_its_own_emit)
{
	setup(NULL);
	map.defer = false;
	CHECK_EQ(pub("raw/a", "one", 1), SG_OK);
	CHECK_EQ(cap.batches, 1);
	CHECK_EQ(pub("raw/b", "two", 1), SG_OK);
	CHECK_EQ(cap.batches, 2);
	CHECK_STR(cap_hdr(0, "mqtt-topic"), "raw/a");
	mq_map_fini(&map);
}

/* --- the driver against a library that holds acknowledgements -------- */

static struct {
	int queued, written, emits_at_write, reads, msgs, corked;
	bool want_write;
	struct mq *m;
} lib;
static int emits;

static int hl_connect(struct mosquitto *mosq, const char *host, int port, int keepalive,
		      const mosquitto_property *props)
{
	(void)mosq, (void)host, (void)port, (void)keepalive, (void)props;
	return MOSQ_ERR_SUCCESS;
}
static int hl_subscribe(struct mosquitto *mosq, int *mid, const char *sub, int qos, int opts)
{
	(void)mosq, (void)sub, (void)qos, (void)opts;
	*mid = 1;
	lib.queued++;
	return MOSQ_ERR_SUCCESS;
}
static int hl_disconnect(struct mosquitto *mosq)
{
	(void)mosq;
	lib.queued++;
	return MOSQ_ERR_SUCCESS;
}
/* The first read is the CONNACK; then lib.msgs messages, one per read,
 * each queueing its PUBACK as libmosquitto does before the callback. */
static int hl_loop_read(struct mosquitto *mosq)
{
	if (lib.reads++ == 0) {
		mq_cb_connect(mosq, lib.m, 0, 0, NULL);
	} else if (lib.msgs > 0) {
		struct mosquitto_message mm = {
		    .mid = lib.msgs, .topic = "raw/x", .payload = "v", .payloadlen = 1, .qos = 1};
		lib.msgs--;
		lib.queued++;
		mq_cb_message(mosq, lib.m, &mm, NULL);
	}
	return MOSQ_ERR_SUCCESS;
}
static int hl_loop_write(struct mosquitto *mosq)
{
	(void)mosq;
	lib.written += lib.queued;
	lib.queued = 0;
	lib.emits_at_write = emits;
	return MOSQ_ERR_SUCCESS;
}
static int hl_loop_misc(struct mosquitto *mosq)
{
	(void)mosq;
	return MOSQ_ERR_SUCCESS;
}
static int hl_socket(struct mosquitto *mosq)
{
	(void)mosq;
	return 7;
}
static bool hl_want_write(struct mosquitto *mosq)
{
	(void)mosq;
	return lib.queued > 0;
}
static void hl_hold(struct mosquitto *mosq)
{
	(void)mosq;
}
static void hl_cork(struct mosquitto *mosq, bool on)
{
	(void)mosq;
	lib.corked += on ? 1 : 0;
}

static const struct mq_lib holding = {hl_connect,    hl_subscribe, hl_disconnect, hl_loop_read,
				      hl_loop_write, hl_loop_misc, hl_socket,     hl_want_write,
				      hl_hold,       hl_cork};

static int counting_emit(struct sg_source *src, const struct sg_reading *rd, size_t n)
{
	emits++;
	return cap_emit(src, rd, n);
}

static struct mq *holding_driver(void)
{
	struct sg_errbuf eb;
	struct mq *m = NULL;
	struct sg_wait w = {0};

	memset(&lib, 0, sizeof(lib));
	emits = 0;
	cap_reset();
	memset(rules, 0, sizeof(rules));
	rules[0] = (struct mq_rule_conf){.filter = "raw/#"};
	memset(&conf, 0, sizeof(conf));
	conf.host = "broker";
	conf.port = 1883;
	conf.client_id = "t";
	conf.keepalive_ms = 10000;
	conf.qos = 1;
	conf.rules.items = rules;
	conf.rules.n = 1;
	conf.max_payload = 1024;
	conf.reconnect_min_ms = 100;
	conf.reconnect_max_ms = 1600;
	if (mq_new(NULL, "hold", &conf, &holding, &m, &eb) != SG_OK) {
		t_fail(__FILE__, __LINE__, "mq_new: %s", eb.msg);
		return NULL;
	}
	CHECK(m->map.defer);
	m->map.emit = counting_emit;
	lib.m = m;
	mq_start(m, &eb);
	w.now_ns = SG_NS_PER_S;
	mq_step(m, &w); /* connects: CONNECT written */
	w.fds[0].revents = POLLIN;
	mq_step(m, &w); /* CONNACK, subscribe written */
	CHECK(m->st == MQ_UP);
	lib.written = 0;
	return m;
}

static void pass(struct mq *m)
{
	struct sg_wait w = {.now_ns = SG_NS_PER_S, .nfds = 1};

	w.fds[0] = (struct pollfd){.fd = 7, .events = POLLIN, .revents = POLLIN};
	mq_step(m, &w);
}

TEST(the_driver_acknowledges_a_pass_only_after_appending_it)
{
	struct mq *m = holding_driver();

	lib.msgs = 5;
	pass(m);
	CHECK_EQ(emits, 1); /* one append for the five */
	CHECK_EQ(cap.batch_n[0], 5);
	CHECK_EQ(lib.written, 5);        /* their acknowledgements */
	CHECK_EQ(lib.emits_at_write, 1); /* written after the append */
	CHECK_EQ(lib.corked, 1);         /* gathered into few segments */
	mq_fini(m);
}

TEST(the_driver_writes_nothing_after_a_failed_append)
{
	struct mq *m = holding_driver();
	uint64_t lost = sg_metrics_sum("mqtt_lost_after_ack", "source=\"hold\"");

	cap.rc = SG_EIO;
	lib.msgs = 3;
	pass(m);
	CHECK_EQ(emits, 1);
	CHECK_EQ(lib.written, 0); /* the broker keeps the three */
	CHECK(m->st == MQ_DOWN);
	CHECK_EQ(sg_metrics_sum("mqtt_lost_after_ack", "source=\"hold\""), lost);
	mq_fini(m);
}

TEST(stopping_mid_pass_writes_no_acknowledgement_at_stop)
{
	struct mq *m = holding_driver();

	cap.rc = SG_ESTOPPING; /* the gateway stops while we deliver */
	lib.msgs = 2;
	pass(m);
	CHECK_EQ(lib.written, 0);
	CHECK(m->st == MQ_UP);
	mq_stop(m); /* DISCONNECT queued behind the held PUBACKs: not written */
	CHECK_EQ(lib.written, 0);
	mq_fini(m);
}
