/*
 * test_mqtt_driver.c - the real MQTT driver (mqtt.c) against a fake
 * libmosquitto behind struct mq_lib: reconnect backoff with jitter,
 * refused CONNACKs, subscriptions, the poll seam (POLLOUT only when the
 * library wants to write), a lost connection, a missing CONNACK, and the
 * disconnect after the spool refuses an event.  Messages go to a fake
 * emit; no broker, no core.
 */
#include <errno.h>
#include <stdlib.h>

#include "drivers/mqtt/mqtt.h"
#include "t.h"

/* --- the fake library --------------------------------------------------- */

static struct {
	int connect_rc, connect_errno; /* what connect() returns */
	int connects, disconnects, subscribes, writes, miscs;
	char subs[8][64];
	int read_rc;           /* what loop_read() returns */
	int connack;           /* -1: none; else deliver this CONNACK on read */
	const char *msg_topic; /* deliver one message on read */
	bool want_write;
	int sock;
	struct mq *m;
} fk;

static int fk_connect(struct mosquitto *mosq, const char *host, int port, int keepalive,
		      const mosquitto_property *props)
{
	(void)mosq, (void)host, (void)port, (void)keepalive, (void)props;
	fk.connects++;
	errno = fk.connect_errno;
	if (fk.connect_rc == MOSQ_ERR_SUCCESS)
		fk.sock = 42;
	return fk.connect_rc;
}

static int fk_subscribe(struct mosquitto *mosq, int *mid, const char *sub, int qos, int opts)
{
	(void)mosq, (void)qos, (void)opts;
	if (fk.subscribes < 8)
		snprintf(fk.subs[fk.subscribes], 64, "%s", sub);
	*mid = 100 + fk.subscribes++;
	return MOSQ_ERR_SUCCESS;
}

static int fk_disconnect(struct mosquitto *mosq)
{
	(void)mosq;
	fk.disconnects++;
	fk.sock = -1;
	return MOSQ_ERR_SUCCESS;
}

static int fk_loop_read(struct mosquitto *mosq)
{
	if (fk.read_rc != MOSQ_ERR_SUCCESS) {
		fk.sock = -1;
		return fk.read_rc;
	}
	if (fk.connack >= 0) {
		int rc = fk.connack;
		fk.connack = -1;
		mq_cb_connect(mosq, fk.m, rc, 0, NULL);
	} else if (fk.msg_topic) {
		struct mosquitto_message mm = {.mid = 1,
					       .topic = (char *)fk.msg_topic,
					       .payload = "21.5",
					       .payloadlen = 4,
					       .qos = 1};
		fk.msg_topic = NULL;
		mq_cb_message(mosq, fk.m, &mm, NULL);
	}
	return MOSQ_ERR_SUCCESS;
}

static int fk_loop_write(struct mosquitto *mosq)
{
	(void)mosq;
	fk.writes++;
	fk.want_write = false;
	return MOSQ_ERR_SUCCESS;
}

static int fk_loop_misc(struct mosquitto *mosq)
{
	(void)mosq;
	fk.miscs++;
	return MOSQ_ERR_SUCCESS;
}

static int fk_socket(struct mosquitto *mosq)
{
	(void)mosq;
	return fk.sock;
}

static bool fk_want_write(struct mosquitto *mosq)
{
	(void)mosq;
	return fk.want_write;
}

static const struct mq_lib fake = {fk_connect,    fk_subscribe, fk_disconnect, fk_loop_read,
				   fk_loop_write, fk_loop_misc, fk_socket,     fk_want_write};

/* --- the fake emit ------------------------------------------------------- */

static int emit_rc, emitted;
static char emitted_sensor[256];

static int fake_emit(struct sg_source *src, const struct sg_reading *rd, size_t n)
{
	(void)src;
	emitted += (int)n;
	snprintf(emitted_sensor, sizeof(emitted_sensor), "%s", n ? rd[n - 1].sensor : "");
	return emit_rc;
}

/* --- harness --------------------------------------------------------------- */

static struct mq_rule_conf rules[2];
static struct mq_conf conf;

static struct mq *driver(void)
{
	struct sg_errbuf eb;
	struct mq *m = NULL;

	memset(&fk, 0, sizeof(fk));
	fk.connack = -1;
	fk.sock = -1;
	memset(rules, 0, sizeof(rules));
	rules[0] = (struct mq_rule_conf){.filter = "a/+"};
	rules[1] = (struct mq_rule_conf){.filter = "a/+"}; /* same filter: one subscription */
	memset(&conf, 0, sizeof(conf));
	conf.host = "broker";
	conf.port = 1883;
	conf.client_id = "test-client";
	conf.keepalive_ms = 10000;
	conf.qos = 1;
	conf.rules.items = rules;
	conf.rules.n = 2;
	conf.max_payload = 1024;
	conf.reconnect_min_ms = 100;
	conf.reconnect_max_ms = 1600;
	if (mq_new(NULL, "drv", &conf, &fake, &m, &eb) != SG_OK) {
		t_fail(__FILE__, __LINE__, "mq_new: %s", eb.msg);
		return NULL;
	}
	m->map.emit = fake_emit;
	fk.m = m;
	emit_rc = SG_OK;
	emitted = 0;
	mq_start(m, &eb);
	return m;
}

/* One step at `now` with `rev` as the poll result on the socket. */
static void step(struct mq *m, struct sg_wait *w, int64_t now, short rev)
{
	w->now_ns = now;
	if (w->nfds == 1)
		w->fds[0].revents = rev;
	CHECK(mq_step(m, w) == SG_OK);
}

static void connect_ok(struct mq *m, struct sg_wait *w, int64_t now)
{
	fk.connect_rc = MOSQ_ERR_SUCCESS;
	step(m, w, now, 0); /* connects */
	fk.connack = 0;
	step(m, w, now, POLLIN); /* CONNACK */
}

TEST(backoff_doubles_with_jitter_and_caps)
{
	struct mq *m = driver();
	struct sg_wait w = {0};
	int64_t now = 1000 * SG_NS_PER_MS, expect = 100;

	fk.connect_rc = MOSQ_ERR_ERRNO;
	fk.connect_errno = ECONNREFUSED;
	for (int i = 0; i < 8; i++) {
		int64_t d;

		step(m, &w, now, 0);
		CHECK_EQ(fk.connects, i + 1);
		CHECK_EQ(w.nfds, 0);
		d = (w.deadline_ns - now) / SG_NS_PER_MS;
		if (d < expect * 3 / 4 || d > expect * 5 / 4)
			t_fail(__FILE__, __LINE__,
			       "attempt %d: delay %lld ms, expected %lld +-25%%", i, (long long)d,
			       (long long)expect);
		/* not due yet: no attempt */
		step(m, &w, w.deadline_ns - SG_NS_PER_MS, 0);
		CHECK_EQ(fk.connects, i + 1);
		now = w.deadline_ns;
		expect = expect * 2 > 1600 ? 1600 : expect * 2;
	}
	mq_fini(m);
}

TEST(connack_ok_subscribes_once_per_filter_and_resets_backoff)
{
	struct mq *m = driver();
	struct sg_wait w = {0};

	fk.connect_rc = MOSQ_ERR_ERRNO;
	step(m, &w, SG_NS_PER_S, 0);
	step(m, &w, w.deadline_ns, 0);
	CHECK_EQ(m->attempts, 2);
	connect_ok(m, &w, w.deadline_ns);
	CHECK(m->st == MQ_UP);
	CHECK_EQ(m->attempts, 0);
	CHECK_EQ(fk.subscribes, 1);
	CHECK_STR(fk.subs[0], "a/+");
	CHECK_EQ(w.nfds, 1);
	CHECK_EQ(w.fds[0].fd, 42);
	mq_fini(m);
}

TEST(poll_asks_for_pollout_only_when_writing)
{
	struct mq *m = driver();
	struct sg_wait w = {0};
	int64_t now = SG_NS_PER_S;

	connect_ok(m, &w, now);
	CHECK(w.fds[0].events == POLLIN);
	CHECK(w.deadline_ns > now && w.deadline_ns <= now + SG_NS_PER_S); /* keepalive tick */
	fk.want_write = true;
	step(m, &w, now, 0);
	CHECK_EQ(fk.writes, 1); /* written at once */
	fk.want_write = true;
	fk.writes = 0;
	/* the write was partial: still wants to write -> POLLOUT */
	{
		const struct mq_lib *saved = m->lib;
		struct mq_lib partial = fake;
		partial.loop_write = fk_loop_misc; /* does not clear want_write */
		m->lib = &partial;
		step(m, &w, now, 0);
		CHECK(w.fds[0].events == (POLLIN | POLLOUT));
		m->lib = saved;
	}
	/* keepalive runs once a second */
	fk.miscs = 0;
	step(m, &w, now + 2 * SG_NS_PER_S, 0);
	CHECK_EQ(fk.miscs, 1);
	step(m, &w, now + 2 * SG_NS_PER_S + SG_NS_PER_MS, 0);
	CHECK_EQ(fk.miscs, 1);
	mq_fini(m);
}

TEST(refused_connack_backs_off)
{
	struct mq *m = driver();
	struct sg_wait w = {0};
	int64_t now = SG_NS_PER_S;

	fk.connect_rc = MOSQ_ERR_SUCCESS;
	step(m, &w, now, 0);
	fk.connack = 5; /* not authorised */
	step(m, &w, now, POLLIN);
	CHECK(m->st == MQ_DOWN);
	CHECK_EQ(w.nfds, 0);
	CHECK(w.deadline_ns >= now + 75 * SG_NS_PER_MS);
	CHECK_EQ(fk.subscribes, 0);
	/* the next refusal waits longer */
	{
		int64_t first = w.deadline_ns - now;
		now = w.deadline_ns;
		step(m, &w, now, 0);
		fk.connack = 5;
		step(m, &w, now, POLLIN);
		CHECK(w.deadline_ns - now > first * 3 / 2 * 3 / 4);
	}
	CHECK_EQ(fk.connects, 2);
	mq_fini(m);
}

TEST(message_emitted_then_connection_lost)
{
	struct mq *m = driver();
	struct sg_wait w = {0};
	int64_t now = SG_NS_PER_S;

	connect_ok(m, &w, now);
	fk.msg_topic = "a/kitchen";
	step(m, &w, now, POLLIN);
	CHECK_EQ(emitted, 1);
	CHECK_STR(emitted_sensor, "a/kitchen");
	fk.read_rc = MOSQ_ERR_CONN_LOST;
	step(m, &w, now, POLLIN);
	CHECK(m->st == MQ_DOWN);
	CHECK_EQ(w.nfds, 0);
	CHECK(w.deadline_ns > now);
	/* reconnects when due */
	fk.read_rc = MOSQ_ERR_SUCCESS;
	connect_ok(m, &w, w.deadline_ns);
	CHECK(m->st == MQ_UP);
	CHECK_EQ(fk.connects, 2);
	CHECK_EQ(fk.subscribes, 2);
	mq_fini(m);
}

TEST(no_connack_within_keepalive)
{
	struct mq *m = driver();
	struct sg_wait w = {0};
	int64_t now = SG_NS_PER_S;

	fk.connect_rc = MOSQ_ERR_SUCCESS;
	step(m, &w, now, 0);
	CHECK(m->st == MQ_CONNECTING);
	step(m, &w, now + 5 * SG_NS_PER_S, 0);
	CHECK(m->st == MQ_CONNECTING);
	step(m, &w, now + 11 * SG_NS_PER_S, 0);
	CHECK(m->st == MQ_DOWN);
	CHECK_EQ(fk.disconnects, 1);
	mq_fini(m);
}

TEST(spool_failure_disconnects_so_the_broker_keeps_the_rest)
{
	struct mq *m = driver();
	struct sg_wait w = {0};
	int64_t now = SG_NS_PER_S;
	uint64_t lost = sg_metrics_sum("mqtt_lost_after_ack", "source=\"drv\"");

	connect_ok(m, &w, now);
	emit_rc = SG_EIO;
	fk.msg_topic = "a/kitchen";
	step(m, &w, now, POLLIN);
	CHECK_EQ(emitted, 1);
	CHECK(m->st == MQ_DOWN);
	CHECK_EQ(fk.disconnects, 1);
	CHECK_EQ(sg_metrics_sum("mqtt_lost_after_ack", "source=\"drv\""), lost + 1);
	/* after the backoff it connects again and the flag is cleared */
	emit_rc = SG_OK;
	connect_ok(m, &w, w.deadline_ns);
	CHECK(m->st == MQ_UP);
	CHECK_EQ(m->map.last_rc, SG_OK);
	mq_fini(m);
}

TEST(stop_disconnects_keeping_the_session)
{
	struct mq *m = driver();
	struct sg_wait w = {0};

	connect_ok(m, &w, SG_NS_PER_S);
	mq_stop(m);
	CHECK_EQ(fk.disconnects, 1);
	CHECK(m->st == MQ_DOWN);
	mq_fini(m);
}

TEST(stopping_reads_nothing_more)
{
	struct mq *m = driver();
	struct sg_wait w = {0};
	int64_t now = SG_NS_PER_S;

	connect_ok(m, &w, now);
	emit_rc = SG_ESTOPPING; /* the gateway stops while we deliver */
	fk.msg_topic = "a/kitchen";
	step(m, &w, now, POLLIN);
	CHECK_EQ(emitted, 1);
	CHECK_EQ(w.nfds, 0); /* no longer polls the socket */
	fk.msg_topic = "a/hall";
	w.nfds = 1;
	w.fds[0].fd = 42;
	step(m, &w, now + SG_NS_PER_MS, POLLIN);
	CHECK_EQ(emitted, 1); /* not read: stays with the broker */
	CHECK_EQ(fk.connects, 1);
	mq_fini(m);
}
