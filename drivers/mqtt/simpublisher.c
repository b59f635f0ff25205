/*
 * simpublisher.c - `sensorgate sim mqtt`: publish synthetic readings to an MQTT
 * broker at a given rate, QoS, topic pattern and count, for demos and
 * benchmarks.  Each device publishes a JSON object
 *   {"device":"dev-3","seq":17,"value":21.4,"unit":"degC","time":<ms>}
 * (or, with --format raw, the text "dev-3 17 21.4"; with --format zigbee
 * a zigbee2mqtt-style state of several readings,
 *   {"battery":97,"humidity":48.2,"linkquality":120,"temperature":21.4,
 *    "voltage":2995,"seq":17,"last_seen":<ms>}) to the topic pattern
 * with {device} replaced.  `seq` counts per device from 0, so a consumer
 * can check order and completeness.  At most --window QoS>0 messages are
 * unacknowledged at a time; the tool ends with the line
 *   published N acknowledged M
 * and exits 0 only if every message was acknowledged.
 */
#include <errno.h>
#include <math.h>
#include <mosquitto.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mqtt.h"

struct simpub {
	const char *host, *topic, *format, *client_id, *user, *pwfile, *cafile;
	int port, qos, proto, devices, window;
	double rate;
	long long count;
	bool retain;
	long long published, acked;
	bool connected, failed;
};

static volatile sig_atomic_t simpub_stop;
static void simpub_sig(int sig)
{
	(void)sig;
	simpub_stop = 1;
}

static void simpub_usage(void)
{
	printf("usage: sensorgate sim mqtt [options]\n"
	       "  --host H          broker host (localhost)\n"
	       "  --port P          broker port (1883)\n"
	       "  --protocol V      3.1.1 or 5 (3.1.1)\n"
	       "  --qos Q           0, 1 or 2 (1)\n"
	       "  --rate R          messages per second in total, 0 = as fast as possible (10)\n"
	       "  --count N         stop after N messages, 0 = never (0)\n"
	       "  --topic PATTERN   topic, {device} is replaced (sim/{device}/reading)\n"
	       "  --devices N       number of devices, round robin (4)\n"
	       "  --format F        json, raw or zigbee (json)\n"
	       "  --retain          publish retained\n"
	       "  --window N        most unacknowledged QoS>0 messages (1000)\n"
	       "  --client-id ID    client id (random)\n"
	       "  --username U      user name; --password-file F reads the password\n"
	       "  --cafile F        TLS with this CA certificate\n");
}

static void on_connect(struct mosquitto *mosq, void *ud, int rc)
{
	struct simpub *s = ud;

	(void)mosq;
	if (rc) {
		fprintf(stderr, "sim mqtt: broker refused the connection: %s\n",
			mosquitto_connack_string(rc));
		s->failed = true;
		return;
	}
	s->connected = true;
}

static void on_publish(struct mosquitto *mosq, void *ud, int mid)
{
	struct simpub *s = ud;

	(void)mosq;
	(void)mid;
	s->acked++;
}

static int simpub_args(struct simpub *s, int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		bool flag = !strcmp(a, "--retain") || !strcmp(a, "--help") || !strcmp(a, "-h");

		if (!flag && !v) {
			fprintf(stderr, "sim mqtt: %s needs a value\n", a);
			return 2;
		}
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			simpub_usage();
			return 0;
		} else if (!strcmp(a, "--retain")) {
			s->retain = true;
			continue;
		} else if (!strcmp(a, "--host"))
			s->host = v;
		else if (!strcmp(a, "--port"))
			s->port = atoi(v);
		else if (!strcmp(a, "--protocol"))
			s->proto = !strcmp(v, "5") ? 5 : 4;
		else if (!strcmp(a, "--qos"))
			s->qos = atoi(v);
		else if (!strcmp(a, "--rate"))
			s->rate = atof(v);
		else if (!strcmp(a, "--count"))
			s->count = atoll(v);
		else if (!strcmp(a, "--topic"))
			s->topic = v;
		else if (!strcmp(a, "--devices"))
			s->devices = atoi(v);
		else if (!strcmp(a, "--format"))
			s->format = v;
		else if (!strcmp(a, "--window"))
			s->window = atoi(v);
		else if (!strcmp(a, "--client-id"))
			s->client_id = v;
		else if (!strcmp(a, "--username"))
			s->user = v;
		else if (!strcmp(a, "--password-file"))
			s->pwfile = v;
		else if (!strcmp(a, "--cafile"))
			s->cafile = v;
		else {
			fprintf(stderr, "sim mqtt: unknown option %s (--help)\n", a);
			return 2;
		}
		i++;
	}
	if (s->qos < 0 || s->qos > 2 || s->port < 1 || s->port > 65535 || s->devices < 1 ||
	    s->rate < 0 || s->count < 0 || s->window < 1 ||
	    (strcmp(s->format, "json") && strcmp(s->format, "raw") &&
	     strcmp(s->format, "zigbee"))) {
		fprintf(stderr, "sim mqtt: bad option value (--help)\n");
		return 2;
	}
	return -1;
}

static void simpub_topic(const struct simpub *s, int dev, char *out, size_t n)
{
	const char *p = strstr(s->topic, "{device}");

	if (!p)
		snprintf(out, n, "%s", s->topic);
	else
		snprintf(out, n, "%.*sdev-%d%s", (int)(p - s->topic), s->topic, dev, p + 8);
}

static int simpub_publish(struct simpub *s, struct mosquitto *mosq, long long *seqs)
{
	int dev = (int)(s->published % s->devices);
	long long seq = seqs[dev]++;
	double v = round((20 + 5 * sin((double)seq / 10.0)) * 100) / 100;
	char topic[512], payload[256];
	int n, rc;

	simpub_topic(s, dev, topic, sizeof(topic));
	if (!strcmp(s->format, "json"))
		n = snprintf(payload, sizeof(payload),
			     "{\"device\":\"dev-%d\",\"seq\":%lld,\"value\":%g,\"unit\":\"degC\","
			     "\"time\":%lld}",
			     dev, seq, v, (long long)(sg_now_ns() / SG_NS_PER_MS));
	else if (!strcmp(s->format, "zigbee"))
		n = snprintf(payload, sizeof(payload),
			     "{\"battery\":%lld,\"humidity\":%g,\"linkquality\":%lld,"
			     "\"temperature\":%g,\"voltage\":%lld,\"seq\":%lld,\"last_seen\":%lld}",
			     100 - seq % 50, round((45 + 10 * cos((double)seq / 7.0)) * 100) / 100,
			     60 + seq % 100, v, 3000 - seq % 200, seq,
			     (long long)(sg_now_ns() / SG_NS_PER_MS));
	else
		n = snprintf(payload, sizeof(payload), "dev-%d %lld %g", dev, seq, v);
	rc = mosquitto_publish(mosq, NULL, topic, n, payload, s->qos, s->retain);
	if (rc != MOSQ_ERR_SUCCESS) {
		seqs[dev]--;
		return rc;
	}
	s->published++;
	return MOSQ_ERR_SUCCESS;
}

static int simpub_setup(struct simpub *s, struct mosquitto *mosq)
{
	char pw[256] = "";
	int rc;

	mosquitto_int_option(mosq, MOSQ_OPT_PROTOCOL_VERSION,
			     s->proto == 5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311);
	mosquitto_int_option(mosq, MOSQ_OPT_SEND_MAXIMUM, s->window < 65535 ? s->window : 65535);
	mosquitto_connect_callback_set(mosq, on_connect);
	mosquitto_publish_callback_set(mosq, on_publish);
	if (s->pwfile) {
		FILE *f = fopen(s->pwfile, "r");
		if (!f || !fgets(pw, sizeof(pw), f)) {
			fprintf(stderr, "sim mqtt: cannot read %s\n", s->pwfile);
			if (f)
				fclose(f);
			return 1;
		}
		fclose(f);
		pw[strcspn(pw, "\r\n")] = '\0';
	}
	if (s->user && mosquitto_username_pw_set(mosq, s->user, s->pwfile ? pw : NULL))
		return 1;
	if (s->cafile && mosquitto_tls_set(mosq, s->cafile, NULL, NULL, NULL, NULL))
		return 1;
	rc = mosquitto_connect(mosq, s->host, s->port, 30);
	if (rc != MOSQ_ERR_SUCCESS) {
		fprintf(stderr, "sim mqtt: cannot connect to %s:%d: %s\n", s->host, s->port,
			rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
		return 1;
	}
	return 0;
}

static int simpub_run(struct simpub *s, struct mosquitto *mosq)
{
	long long *seqs = calloc((size_t)s->devices, sizeof(*seqs));
	int64_t t0 = sg_now_mono_ns(), last_report = t0;
	int rc = MOSQ_ERR_SUCCESS;
	int64_t done_at = 0;

	if (!seqs)
		return 1;
	while (!simpub_stop && !s->failed) {
		bool done = s->count && s->published >= s->count;
		long long due =
		    s->rate > 0 ? (long long)((double)(sg_now_mono_ns() - t0) / 1e9 * s->rate) + 1
				: s->published + s->window;
		int burst = 0;

		/* Done when every message is acknowledged (QoS 1/2) or written to
		 * the socket (QoS 0: on_publish); at most 10 s of draining. */
		if (done && !done_at)
			done_at = sg_now_mono_ns();
		if (done &&
		    (s->acked >= s->published || sg_now_mono_ns() - done_at > 10 * SG_NS_PER_S))
			break;
		while (s->connected && !done && s->published < due && burst++ < 1000 &&
		       (s->qos == 0 || s->published - s->acked < s->window)) {
			if ((rc = simpub_publish(s, mosq, seqs)) != MOSQ_ERR_SUCCESS)
				break;
			done = s->count && s->published >= s->count;
		}
		rc = mosquitto_loop(mosq, s->rate > 0 || done || !s->connected ? 10 : 0, 1);
		if (rc != MOSQ_ERR_SUCCESS) {
			fprintf(stderr, "sim mqtt: connection: %s; reconnecting\n",
				mosquitto_strerror(rc));
			sleep(1);
			mosquitto_reconnect(mosq);
		}
		if (sg_now_mono_ns() - last_report > 5 * SG_NS_PER_S) {
			last_report = sg_now_mono_ns();
			fprintf(stderr, "sim mqtt: published %lld acknowledged %lld\n",
				s->published, s->acked);
		}
	}
	free(seqs);
	{
		double secs = (double)(sg_now_mono_ns() - t0) / 1e9;
		printf("published %lld acknowledged %lld in %.2f s (%.0f msg/s)\n", s->published,
		       s->acked, secs, secs > 0 ? (double)s->acked / secs : 0.0);
	}
	return s->failed ? 1 : (s->acked >= s->published ? 0 : 1);
}

int sg_sim_mqtt(int argc, char **argv)
{
	struct simpub s = {.host = "localhost",
			   .topic = "sim/{device}/reading",
			   .format = "json",
			   .port = 1883,
			   .qos = 1,
			   .proto = 4,
			   .devices = 4,
			   .window = 1000,
			   .rate = 10};
	struct mosquitto *mosq;
	int rc = simpub_args(&s, argc, argv);

	if (rc >= 0)
		return rc;
	mosquitto_lib_init();
	signal(SIGINT, simpub_sig);
	signal(SIGTERM, simpub_sig);
	mosq = mosquitto_new(s.client_id, true, &s);
	if (!mosq) {
		fprintf(stderr, "sim mqtt: mosquitto_new: %s\n", strerror(errno));
		return 1;
	}
	rc = simpub_setup(&s, mosq);
	if (!rc)
		rc = simpub_run(&s, mosq);
	mosquitto_disconnect(mosq);
	mosquitto_loop(mosq, 10, 1);
	mosquitto_destroy(mosq);
	mosquitto_lib_cleanup();
	return rc;
}
