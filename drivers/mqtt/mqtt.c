/*
 * mqtt.c - the MQTT driver: a libmosquitto client run by the core's poll
 * loop on the source's own thread (no library thread, no
 * mosquitto_loop_start).  step() reads what the socket has, writes what
 * libmosquitto queued (POLLOUT only while it wants to write), runs the
 * keepalive once a second, and reconnects by itself.
 *
 * Reconnecting is the driver's job, not the core's: a lost connection or
 * a refused CONNACK puts the client in DOWN with the next attempt due
 * after reconnect_min doubling to reconnect_max, +-25% jitter so a fleet
 * of gateways does not reconnect in step; a CONNACK with success resets
 * the delay.  step() therefore never returns SG_EIO.  The connect itself
 * is libmosquitto's blocking connect (the only one that sends MQTT 5
 * CONNECT properties such as the session expiry): it blocks this source's
 * thread for at most the TCP connect time, nothing else.
 *
 * No loss at our end: libmosquitto runs in its threaded mode, where the
 * QoS 1 PUBACK it queues before the message callback is written only by
 * loop_write; the messages of one read pass are appended to the spool in
 * one batch (batch.c) and only then does step() write, so a QoS 1
 * message is acknowledged once its events are in the spool.  With
 * `when_full: block` the append blocks, we stop reading the socket and
 * TCP pushes back to the broker.  If the append fails nothing of the
 * pass is acknowledged and we disconnect, so a persistent session gets
 * those messages again; a QoS 2 message, released after its PUBREC, is
 * counted as mqtt_lost_after_ack.  docs/mqtt.md states the window.
 */
#include <errno.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway/base/log.h"
#include "mqtt.h"

#define MQ_MAX_UPROPS  32
#define MQ_READ_BUDGET 512 /* messages per step before others get a turn */

static pthread_once_t mq_lib_once = PTHREAD_ONCE_INIT;
static void mq_lib_init(void)
{
	mosquitto_lib_init();
}

static double mq_rand(struct mq *m) /* xorshift64*, uniform [0,1) */
{
	m->rng ^= m->rng >> 12;
	m->rng ^= m->rng << 25;
	m->rng ^= m->rng >> 27;
	return (double)((m->rng * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

static void mq_schedule(struct mq *m, int64_t now)
{
	double d = (double)m->c->reconnect_min_ms * SG_NS_PER_MS;

	for (int i = 0; i < m->attempts && d < (double)m->c->reconnect_max_ms * SG_NS_PER_MS; i++)
		d *= 2;
	if (d > (double)m->c->reconnect_max_ms * SG_NS_PER_MS)
		d = (double)m->c->reconnect_max_ms * SG_NS_PER_MS;
	d *= 0.75 + 0.5 * mq_rand(m);
	m->attempts++;
	m->next_try_ns = now + (int64_t)d;
}

static void on_log(struct mosquitto *mosq, void *ud, int level, const char *str)
{
	struct mq *m = ud;

	(void)mosq;
	if (level & (MOSQ_LOG_ERR | MOSQ_LOG_WARNING))
		sg_warn(m->name, "libmosquitto: %s", str);
}

/* libmosquitto 2.0 formats every log line (vsnprintf into a malloc'd
 * buffer) whenever a log callback is set, whatever its level: two lines
 * per QoS 1 message, about 5,000 instructions.  So the callback is set
 * only while connecting, where its warnings (TLS, refused connects) are
 * worth having; once connected, our own messages say what failed. */
static void mq_log_cb(struct mq *m, bool on)
{
	if (m->mosq)
		mosquitto_log_callback_set(m->mosq, on ? on_log : NULL);
}

/* Drop the connection (if any) and schedule the next attempt. */
static void mq_down(struct mq *m, int64_t now, const char *why)
{
	if (m->st == MQ_PROBING)
		mq_probe_close(&m->probe);
	else if (m->st != MQ_DOWN)
		m->lib->disconnect(m->mosq);
	m->st = MQ_DOWN;
	mq_log_cb(m, true);
	if (m->src)
		sg_source_set_up(m->src, false);
	mq_schedule(m, now);
	sg_warn(m->name, "%s; reconnecting to %s:%d in %lld ms", why, m->c->host, (int)m->c->port,
		(long long)((m->next_try_ns - now) / SG_NS_PER_MS));
}

/* --- libmosquitto callbacks (source thread, inside loop_read/write) ---- */

void mq_cb_connect(struct mosquitto *mosq, void *ud, int rc, int flags,
		   const mosquitto_property *props)
{
	struct mq *m = ud;
	const struct mq_sub_conf *subs = m->c->subscriptions.items;
	const struct mq_rule_conf *rules = m->c->rules.items;
	size_t n = m->c->subscriptions.n ? m->c->subscriptions.n : m->c->rules.n;
	int opts = m->c->protocol == MQ_PROTO_5 ? MQTT_SUB_OPT_SEND_RETAIN_NEW : 0;

	(void)props;
	if (rc != 0) {
		bool auth =
		    m->c->protocol == MQ_PROTO_5 ? (rc == 134 || rc == 135) : (rc == 4 || rc == 5);
		char why[300];

		sg_counter_add(m->m_conn_fail, 1);
		snprintf(why, sizeof(why), "broker refused the connection: %s%s",
			 m->c->protocol == MQ_PROTO_5 ? mosquitto_reason_string(rc)
						      : mosquitto_connack_string(rc),
			 auth ? " (check username and password)" : "");
		sg_error(m->name, "%s (user %s)", why, m->c->username ? m->c->username : "<none>");
		mq_down(m, m->now_ns, "not connected");
		return;
	}
	m->st = MQ_UP;
	mq_log_cb(m, false);
	m->attempts = 0;
	m->map.last_rc = SG_OK;
	if (m->src)
		sg_source_set_up(m->src, true);
	sg_counter_add(m->m_connects, 1);
	sg_info(m->name, "connected to %s:%d as %s (MQTT %s, session %s)", m->c->host,
		(int)m->c->port, m->client_id, m->c->protocol == MQ_PROTO_5 ? "5" : "3.1.1",
		(flags & 1) ? "resumed" : "new");
	for (size_t i = 0; i < n; i++) {
		const char *f = m->c->subscriptions.n ? subs[i].filter : rules[i].filter;
		int qos = (int)(m->c->subscriptions.n ? subs[i].qos : m->c->qos);
		bool dup = false;

		for (size_t k = 0; !m->c->subscriptions.n && k < i; k++)
			dup |= !strcmp(rules[k].filter, f);
		if (dup)
			continue;
		rc = m->lib->subscribe(mosq, &m->sub_mids[i], f, qos, opts);
		if (rc != MOSQ_ERR_SUCCESS)
			sg_error(m->name, "subscribe \"%s\": %s", f, mosquitto_strerror(rc));
	}
}

void mq_cb_subscribe(struct mosquitto *mosq, void *ud, int mid, int n, const int *granted,
		     const mosquitto_property *props)
{
	struct mq *m = ud;
	const struct mq_sub_conf *subs = m->c->subscriptions.items;
	const struct mq_rule_conf *rules = m->c->rules.items;
	size_t ns = m->c->subscriptions.n ? m->c->subscriptions.n : m->c->rules.n;

	(void)mosq;
	(void)props;
	for (size_t i = 0; i < ns; i++) {
		const char *f = m->c->subscriptions.n ? subs[i].filter : rules[i].filter;
		int want = (int)(m->c->subscriptions.n ? subs[i].qos : m->c->qos);

		if (m->sub_mids[i] != mid || n < 1)
			continue;
		if (granted[0] >= 0x80)
			sg_error(
			    m->name,
			    "broker refused the subscription \"%s\" (code %d: not authorised?)", f,
			    granted[0]);
		else if (granted[0] < want)
			sg_warn(m->name, "subscription \"%s\" granted QoS %d, not %d", f,
				granted[0], want);
		else
			sg_info(m->name, "subscribed \"%s\" QoS %d", f, granted[0]);
	}
}

/* MQTT 5 user properties -> Kafka headers; names that would pass for our
 * own headers get a `mqtt-user-` prefix. */
static size_t read_uprops(struct mq *m, const mosquitto_property *props, struct sg_header *h,
			  char **names, char **vals)
{
	const mosquitto_property *p;
	size_t n = 0;

	for (p = mosquitto_property_read_string_pair(props, MQTT_PROP_USER_PROPERTY, &names[0],
						     &vals[0], false);
	     p; p = mosquitto_property_read_string_pair(p, MQTT_PROP_USER_PROPERTY, &names[n],
							&vals[n], true)) {
		const char *k = names[n];

		if (!strncmp(k, "sg-", 3) || !strncmp(k, "mqtt-", 5) ||
		    !strcasecmp(k, "content-type")) {
			char *pk = NULL;
			if (asprintf(&pk, "mqtt-user-%s", k) < 0) {
				free(names[n]);
				free(vals[n]);
				continue;
			}
			free(names[n]);
			names[n] = pk;
		}
		h[n] = (struct sg_header){names[n], vals[n], strlen(vals[n])};
		if (++n == MQ_MAX_UPROPS) {
			sg_log_rl(&m->rl_uprops, SG_LOG_WARN, m->name,
				  "more than %d user properties: the rest are not forwarded",
				  MQ_MAX_UPROPS);
			break;
		}
	}
	return n;
}

void mq_cb_message(struct mosquitto *mosq, void *ud, const struct mosquitto_message *mm,
		   const mosquitto_property *props)
{
	struct mq *m = ud;
	struct sg_header h[MQ_MAX_UPROPS];
	char *names[MQ_MAX_UPROPS + 1], *vals[MQ_MAX_UPROPS + 1];
	char *ctype = NULL;
	struct mq_msg msg = {.topic = mm->topic,
			     .payload = mm->payload,
			     .len = mm->payloadlen > 0 ? (size_t)mm->payloadlen : 0,
			     .qos = mm->qos,
			     .retain = mm->retain};

	(void)mosq;
	m->delivered++;
	if (!props) { /* MQTT 3.1.1: nothing to read or free */
		mq_map_message(&m->map, &msg);
		return;
	}
	memset(names, 0, sizeof(names));
	memset(vals, 0, sizeof(vals));
	mosquitto_property_read_string(props, MQTT_PROP_CONTENT_TYPE, &ctype, false);
	msg.content_type = ctype;
	msg.nuprops = read_uprops(m, props, h, names, vals);
	msg.uprops = h;
	mq_map_message(&m->map, &msg);
	/* read_uprops may leave one pair past the last it kept */
	for (size_t i = 0; i <= msg.nuprops && i <= MQ_MAX_UPROPS; i++) {
		free(names[i]);
		free(vals[i]);
	}
	free(ctype);
}

/* --- driver callbacks --------------------------------------------------- */

static int mq_setup_tls(struct mq *m, struct sg_errbuf *eb)
{
	const struct mq_conf *c = m->c;
	const char *capath = c->ca_path ? c->ca_path : (c->ca_file ? NULL : "/etc/ssl/certs");
	int rc = mosquitto_tls_set(m->mosq, c->ca_file, capath, c->cert_file, c->key_file, NULL);

	if (rc != MOSQ_ERR_SUCCESS)
		return sg_errf(eb, SG_ECONFIG,
			       "TLS files (ca_file %s, cert_file %s, key_file %s): %s",
			       c->ca_file ? c->ca_file : "-", c->cert_file ? c->cert_file : "-",
			       c->key_file ? c->key_file : "-", mosquitto_strerror(rc));
	rc = mosquitto_tls_opts_set(m->mosq, 1 /* SSL_VERIFY_PEER */, NULL, NULL);
	if (rc == MOSQ_ERR_SUCCESS)
		rc = mosquitto_tls_insecure_set(m->mosq, c->tls_insecure);
	if (rc != MOSQ_ERR_SUCCESS)
		return sg_errf(eb, SG_ECONFIG, "TLS options: %s", mosquitto_strerror(rc));
	if (c->tls_insecure)
		sg_error(m->name,
			 "tls_insecure: true - the broker certificate's host name is NOT "
			 "verified; anyone holding a certificate from this CA can pose as %s",
			 c->host);
	return SG_OK;
}

static int mq_setup(struct mq *m, struct sg_errbuf *eb)
{
	const struct mq_conf *c = m->c;
	int rc;

	m->mosq = mosquitto_new(m->client_id, c->clean_session, m);
	if (!m->mosq)
		return sg_errf(eb, SG_ENOMEM, "mosquitto_new: %s", strerror(errno));
	mosquitto_int_option(m->mosq, MOSQ_OPT_PROTOCOL_VERSION,
			     c->protocol == MQ_PROTO_5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311);
	mosquitto_int_option(m->mosq, MOSQ_OPT_RECEIVE_MAXIMUM, (int)c->receive_maximum);
	mosquitto_connect_v5_callback_set(m->mosq, mq_cb_connect);
	mosquitto_subscribe_v5_callback_set(m->mosq, mq_cb_subscribe);
	mosquitto_message_v5_callback_set(m->mosq, mq_cb_message);
	mq_log_cb(m, true);
	if (m->lib->hold_acks) {
		m->lib->hold_acks(m->mosq);
		m->map.defer = true;
	}
	if (c->username &&
	    (rc = mosquitto_username_pw_set(m->mosq, c->username, c->password)) != MOSQ_ERR_SUCCESS)
		return sg_errf(eb, SG_ECONFIG, "username: %s", mosquitto_strerror(rc));
	if (c->password && !c->tls)
		sg_warn(m->name, "the password is sent in clear text (tls: false)");
	if (c->tls && (rc = mq_setup_tls(m, eb)) != SG_OK)
		return rc;
	if (c->protocol == MQ_PROTO_5 && !c->clean_session) {
		int64_t s = c->session_expiry_ms / 1000;
		rc = mosquitto_property_add_int32(&m->props, MQTT_PROP_SESSION_EXPIRY_INTERVAL,
						  (uint32_t)(s > 0xffffffffLL ? 0xffffffffLL : s));
		if (rc != MOSQ_ERR_SUCCESS)
			return sg_errf(eb, SG_ENOMEM, "session expiry: %s", mosquitto_strerror(rc));
	}
	return SG_OK;
}

/* The real library behind the seam. */
static int real_connect(struct mosquitto *mosq, const char *host, int port, int keepalive,
			const mosquitto_property *props)
{
	return mosquitto_connect_bind_v5(mosq, host, port, keepalive, NULL, props);
}
static int real_subscribe(struct mosquitto *mosq, int *mid, const char *sub, int qos, int opts)
{
	return mosquitto_subscribe_v5(mosq, mid, sub, qos, opts, NULL);
}
static int real_loop_read(struct mosquitto *mosq)
{
	return mosquitto_loop_read(mosq, 1);
}
static int real_loop_write(struct mosquitto *mosq)
{
	return mosquitto_loop_write(mosq, 1);
}
static void real_hold_acks(struct mosquitto *mosq)
{
	mosquitto_threaded_set(mosq, true);
}
static void real_cork(struct mosquitto *mosq, bool on)
{
	int fd = mosquitto_socket(mosq), v = on;

	if (fd >= 0)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_CORK, &v, sizeof(v));
}

const struct mq_lib mq_lib_real = {
    .connect = real_connect,
    .subscribe = real_subscribe,
    .disconnect = mosquitto_disconnect,
    .loop_read = real_loop_read,
    .loop_write = real_loop_write,
    .loop_misc = mosquitto_loop_misc,
    .socket = mosquitto_socket,
    .want_write = mosquitto_want_write,
    .hold_acks = real_hold_acks,
    .cork = real_cork,
};

int mq_new(struct sg_source *src, const char *name, const struct mq_conf *c,
	   const struct mq_lib *lib, struct mq **out, struct sg_errbuf *eb)
{
	struct mq *m = sg_xcalloc(1, sizeof(*m));
	char host[128] = "host", labels[96];
	int rc;

	pthread_once(&mq_lib_once, mq_lib_init);
	m->src = src;
	m->c = c;
	m->lib = lib;
	m->name = name;
	m->rng = (uint64_t)sg_now_ns() ^ ((uint64_t)getpid() << 32) ^ (uintptr_t)m;
	m->sub_mids = sg_xcalloc(c->rules.n + c->subscriptions.n + 1, sizeof(int));
	m->probe.fd = -1;
	if (c->client_id) {
		snprintf(m->client_id, sizeof(m->client_id), "%s", c->client_id);
	} else {
		gethostname(host, sizeof(host) - 1);
		snprintf(m->client_id, sizeof(m->client_id), "sensorgate-%s-%s", host, name);
	}
	snprintf(labels, sizeof(labels), "source=\"%s\"", name);
	m->m_connects = sg_metric("mqtt_connects", labels, false);
	m->m_conn_fail = sg_metric("mqtt_connect_failures", labels, false);
	if ((rc = mq_map_init(&m->map, src, name, c, eb)) != SG_OK) {
		free(m->sub_mids);
		free(m);
		return rc;
	}
	if ((rc = mq_setup(m, eb)) != SG_OK) {
		mq_fini(m);
		return rc;
	}
	*out = m;
	return SG_OK;
}

static int mq_init(struct sg_source *src, const void *conf, void **state, struct sg_errbuf *eb)
{
	struct mq *m;
	int rc = mq_new(src, sg_source_name(src), conf, &mq_lib_real, &m, eb);

	if (rc == SG_OK)
		*state = m;
	return rc;
}

int mq_start(void *state, struct sg_errbuf *eb)
{
	struct mq *m = state;

	(void)eb;
	m->st = MQ_DOWN;
	mq_log_cb(m, true);
	if (m->src)
		sg_source_set_up(m->src, false); /* up at CONNACK, not at start */
	m->attempts = 0;
	m->next_try_ns = 0;
	m->map.last_rc = SG_OK;
	return SG_OK;
}

static void mq_try_connect(struct mq *m, int64_t now)
{
	int rc;

	if (m->c->tls_insecure)
		sg_error(m->name, "connecting with tls_insecure: true (host name NOT verified)");
	m->map.last_rc = SG_OK;
	errno = 0;
	rc = m->lib->connect(m->mosq, m->c->host, (int)m->c->port, (int)(m->c->keepalive_ms / 1000),
			     m->props);
	if (rc != MOSQ_ERR_SUCCESS) {
		char why[300];

		sg_counter_add(m->m_conn_fail, 1);
		snprintf(why, sizeof(why), "cannot connect: %s",
			 rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
		m->st = MQ_CONNECTING; /* so mq_down closes what is half open */
		mq_down(m, now, why);
		return;
	}
	m->st = MQ_CONNECTING;
	m->connect_ns = now;
	m->next_misc_ns = now + SG_NS_PER_S;
}

/* A probe result: connect for real, keep polling, or give up. */
static void mq_probe_done(struct mq *m, int rc, int64_t now)
{
	char why[300];

	if (rc == SG_EAGAIN) {
		m->st = MQ_PROBING;
		return;
	}
	if (rc == SG_OK) {
		m->st = MQ_DOWN;
		mq_try_connect(m, now);
		return;
	}
	sg_counter_add(m->m_conn_fail, 1);
	snprintf(why, sizeof(why), "cannot connect: %s", mq_probe_strerror(&m->probe));
	m->st = MQ_DOWN;
	mq_down(m, now, why);
}

static void mq_begin_connect(struct mq *m, int64_t now)
{
	if (!m->c->connect_timeout_ms) {
		mq_try_connect(m, now);
		return;
	}
	mq_probe_done(m,
		      mq_probe_start(&m->probe, m->c->host, (int)m->c->port, now,
				     m->c->connect_timeout_ms * SG_NS_PER_MS),
		      now);
}

static void mq_probe_step(struct mq *m, struct sg_wait *w, int64_t now)
{
	short rev = 0;

	if (w->nfds == 1 && w->fds[0].fd == m->probe.fd)
		rev = w->fds[0].revents;
	mq_probe_done(
	    m, mq_probe_check(&m->probe, rev, now, m->c->connect_timeout_ms * SG_NS_PER_MS), now);
}

/* Read what is there and append its batch; returns a libmosquitto error
 * or success (a failed append is in m->map.last_rc). */
static int mq_read(struct mq *m)
{
	int rc = MOSQ_ERR_SUCCESS;

	for (int i = 0; i < MQ_READ_BUDGET; i++) {
		uint64_t before = m->delivered;

		if ((rc = m->lib->loop_read(m->mosq)) != MOSQ_ERR_SUCCESS)
			break;
		if (m->delivered == before || m->st == MQ_DOWN || m->map.last_rc != SG_OK ||
		    (m->src && sg_source_stopping(m->src)))
			break;
	}
	if (m->map.defer)
		mq_map_flush(&m->map);
	return rc;
}

/* Write what libmosquitto queued, the acknowledgements of a read pass
 * gathered into few TCP segments. */
static int mq_write(struct mq *m, uint64_t read)
{
	int rc;

	if (read < 2 || !m->lib->cork)
		return m->lib->loop_write(m->mosq);
	m->lib->cork(m->mosq, true);
	rc = m->lib->loop_write(m->mosq);
	m->lib->cork(m->mosq, false);
	return rc;
}

int mq_step(void *state, struct sg_wait *w)
{
	struct mq *m = state;
	int64_t now = m->now_ns = w->now_ns, limit;
	short rev = 0;
	int fd, rc = MOSQ_ERR_SUCCESS;

	if (m->st == MQ_DOWN && now >= m->next_try_ns && m->map.last_rc != SG_ESTOPPING)
		mq_begin_connect(m, now);
	else if (m->st == MQ_PROBING)
		mq_probe_step(m, w, now);
	if (m->st == MQ_PROBING) {
		w->nfds = 1;
		w->fds[0] = (struct pollfd){.fd = m->probe.fd, .events = POLLOUT};
		w->deadline_ns = m->probe.deadline_ns;
		return SG_OK;
	}
	fd = m->lib->socket(m->mosq);
	if (w->nfds == 1 && w->fds[0].fd == fd)
		rev = w->fds[0].revents;
	w->nfds = 0;
	if (m->st != MQ_DOWN && fd >= 0) {
		uint64_t before = m->delivered;

		/* After SG_ESTOPPING every append fails: read nothing more,
		 * so nothing acknowledged is lost at shutdown. */
		if ((rev & (POLLIN | POLLHUP | POLLERR)) && m->map.last_rc != SG_ESTOPPING)
			rc = mq_read(m);
		if (rc == MOSQ_ERR_SUCCESS && m->st != MQ_DOWN && now >= m->next_misc_ns) {
			rc = m->lib->loop_misc(m->mosq);
			m->next_misc_ns = now + SG_NS_PER_S;
		}
		/* Nothing is written after a failed append: those messages
		 * stay unacknowledged with the broker. */
		if (rc == MOSQ_ERR_SUCCESS && m->st != MQ_DOWN && m->map.last_rc == SG_OK &&
		    m->lib->want_write(m->mosq))
			rc = mq_write(m, m->delivered - before);
		limit = m->c->keepalive_ms * SG_NS_PER_MS;
		if (m->st == MQ_DOWN) {
			/* refused in on_connect: already scheduled */
		} else if (rc != MOSQ_ERR_SUCCESS) {
			char why[300];
			snprintf(why, sizeof(why), "connection lost: %s",
				 rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
			mq_down(m, now, why);
		} else if (m->st == MQ_CONNECTING && now - m->connect_ns > limit) {
			mq_down(m, now, "no CONNACK within the keepalive interval");
		} else if (m->map.last_rc == SG_EIO || m->map.last_rc == SG_ENOSPC) {
			sg_error(m->name,
				 "the spool cannot store events (%s): disconnecting so the "
				 "broker keeps the next messages",
				 sg_strerror(m->map.last_rc));
			mq_down(m, now, "spool write failed");
		}
	}
	fd = m->lib->socket(m->mosq);
	if (m->map.last_rc == SG_ESTOPPING) {
		w->deadline_ns = now + SG_NS_PER_S; /* idle until the core stops us */
	} else if (m->st != MQ_DOWN && fd >= 0) {
		w->fds[0] = (struct pollfd){.fd = fd, .events = POLLIN};
		if (m->lib->want_write(m->mosq))
			w->fds[0].events |= POLLOUT;
		w->nfds = 1;
		w->deadline_ns = m->next_misc_ns;
	} else {
		w->deadline_ns = m->next_try_ns;
	}
	return SG_OK;
}

void mq_stop(void *state)
{
	struct mq *m = state;

	if (m->st == MQ_PROBING) {
		mq_probe_close(&m->probe);
		m->st = MQ_DOWN;
	}
	if (m->st != MQ_DOWN) {
		m->lib->disconnect(m->mosq); /* the session stays on the broker */
		if (m->map.last_rc == SG_OK) /* else the queue holds unstored acks */
			m->lib->loop_write(m->mosq);
	}
	m->st = MQ_DOWN;
	mq_map_summary(&m->map);
}

void mq_fini(void *state)
{
	struct mq *m = state;

	if (!m)
		return;
	if (m->mosq)
		mosquitto_destroy(m->mosq);
	mosquitto_property_free_all(&m->props);
	mq_map_fini(&m->map);
	free(m->sub_mids);
	free(m);
}

const struct sg_driver sg_driver_mqtt = {
    .name = "mqtt",
    .help = "MQTT subscriber (3.1.1 and 5, TLS, persistent session) bridging topics to Kafka.",
    .conf = &mq_conf_table,
    .init = mq_init,
    .start = mq_start,
    .step = mq_step,
    .stop = mq_stop,
    .fini = mq_fini,
};
