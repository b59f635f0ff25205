/*
 * mqtt_conf.c - the configuration of an MQTT source: broker connection,
 * session, TLS and authentication, subscriptions, and the mapping rules
 * from MQTT topics to Kafka records.  Every key is declared once here;
 * the checks below report cross-key problems at FILE:LINE before anything
 * connects (an invalid filter, a template naming a bad character, TLS
 * files without `tls: true`, overlapping implicit subscriptions).
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "mqtt.h"

static const char *const mq_protos[] = {"3.1.1", "5", NULL};
static const char *const mq_payloads[] = {"raw", "json", NULL};
static const char *const mq_retaineds[] = {"forward", "skip", NULL};
static const char *const mq_tunits[] = {"s", "ms", "us", "ns", NULL};

static int sub_check(struct sg_cfg_ctx *ctx, void *obj, const struct sg_cfg_pos *pos,
		     const char *path)
{
	struct mq_sub_conf *s = obj;
	struct sg_errbuf eb;

	if (mq_filter_valid(s->filter, &eb) != SG_OK) {
		sg_cfg_error(ctx, pos, path, "filter: %s", eb.msg);
		return SG_ECONFIG;
	}
	return SG_OK;
}

static const struct sg_cfg_key sub_keys[] = {
    SG_KEY_STR("filter", struct mq_sub_conf, filter, NULL,
	       "MQTT topic filter to subscribe to (`+` one level, `#` the rest).", SG_REQUIRED),
    SG_KEY_INT("qos", struct mq_sub_conf, qos, "1", 0, 2,
	       "Subscription QoS: 0 at most once, 1 at least once (recommended), 2 exactly once on "
	       "the MQTT hop."),
};
static const struct sg_cfg_table sub_table = SG_CFG_TABLE(
    "subscriptions[]", "One MQTT subscription.", struct mq_sub_conf, sub_keys, sub_check);

static int ptr_check(struct sg_cfg_ctx *ctx, const struct sg_cfg_pos *pos, const char *path,
		     const char *key, const char *ptr)
{
	struct mq_jptr p;
	struct sg_errbuf eb;

	if (!ptr)
		return SG_OK;
	if (mq_jptr_parse(ptr, &p, &eb) != SG_OK) {
		sg_cfg_error(ctx, pos, path, "%s: %s", key, eb.msg);
		return SG_ECONFIG;
	}
	mq_jptr_free(&p);
	return SG_OK;
}

static int tmpl_check(struct sg_cfg_ctx *ctx, const struct sg_cfg_pos *pos, const char *path,
		      const char *key, const char *t, enum mq_tmpl_kind kind)
{
	struct sg_errbuf eb;

	if (t && mq_tmpl_valid(t, kind, &eb) != SG_OK) {
		sg_cfg_error(ctx, pos, path, "%s: %s", key, eb.msg);
		return SG_ECONFIG;
	}
	return SG_OK;
}

static int rule_check(struct sg_cfg_ctx *ctx, void *obj, const struct sg_cfg_pos *pos,
		      const char *path)
{
	struct mq_rule_conf *r = obj;
	struct sg_errbuf eb;
	int rc = SG_OK;

	if (mq_filter_valid(r->filter, &eb) != SG_OK) {
		sg_cfg_error(ctx, pos, path, "filter: %s", eb.msg);
		rc = SG_ECONFIG;
	}
	if (tmpl_check(ctx, pos, path, "topic", r->topic, MQ_TMPL_TOPIC) ||
	    tmpl_check(ctx, pos, path, "key", r->key, MQ_TMPL_TEXT) ||
	    tmpl_check(ctx, pos, path, "sensor", r->sensor, MQ_TMPL_TEXT))
		rc = SG_ECONFIG;
	if (r->payload == MQ_PAYLOAD_JSON) {
		if (ptr_check(ctx, pos, path, "value", r->value) ||
		    ptr_check(ctx, pos, path, "time", r->time) ||
		    ptr_check(ctx, pos, path, "unit", r->unit) ||
		    ptr_check(ctx, pos, path, "sensor_pointer", r->sensor_ptr))
			rc = SG_ECONFIG;
	} else if (r->time || r->unit || r->sensor_ptr) {
		sg_cfg_error(ctx, pos, path, "time, unit and sensor_pointer need `payload: json`");
		rc = SG_ECONFIG;
	}
	return rc;
}

static const struct sg_cfg_key rule_keys[] = {
    SG_KEY_STR(
	"filter", struct mq_rule_conf, filter, NULL,
	"MQTT topic filter this rule applies to; rules are tried in order, the first match wins.",
	SG_REQUIRED),
    SG_KEY_STR("topic", struct mq_rule_conf, topic, NULL,
	       "Kafka topic template: `{0}` is the first MQTT topic level, `{1}` the second, "
	       "`{topic}` the whole MQTT topic with `/` as `.`; characters Kafka does not allow "
	       "become `_`. Default: the source's topic."),
    SG_KEY_STR(
	"key", struct mq_rule_conf, key, NULL,
	"Kafka key template (same fields as `topic`, text kept as is). Default: the sensor id."),
    SG_KEY_STR("sensor", struct mq_rule_conf, sensor, NULL,
	       "Sensor id template. Default: the MQTT topic."),
    SG_KEY_ENUM("payload", struct mq_rule_conf, payload, "raw", mq_payloads,
		"`raw`: the payload bytes are the Kafka value, with mqtt-* headers; `json`: parse "
		"the payload and emit an event envelope with the value found by `value`."),
    SG_KEY_ENUM(
	"retained", struct mq_rule_conf, retained, "forward", mq_retaineds,
	"Retained messages (sent by the broker on subscribe): `forward` or `skip` (counted)."),
    SG_KEY_STR("content_type", struct mq_rule_conf, content_type, NULL,
	       "Raw mode: the Kafka content-type header. Default: the MQTT 5 content type, else "
	       "application/octet-stream."),
    SG_KEY_STR("value", struct mq_rule_conf, value, "/value",
	       "JSON mode: JSON pointer (RFC 6901) to the value; \"\" is the whole document. "
	       "Missing = bad input."),
    SG_KEY_STR("time", struct mq_rule_conf, time, NULL,
	       "JSON mode: pointer to the event time, a number in `time_unit` since the epoch or "
	       "an RFC 3339 string. Default (or missing): the arrival time."),
    SG_KEY_ENUM("time_unit", struct mq_rule_conf, time_unit, "ms", mq_tunits,
		"JSON mode: unit of a numeric time."),
    SG_KEY_STR("unit", struct mq_rule_conf, unit, NULL,
	       "JSON mode: pointer to the unit string (optional)."),
    SG_KEY_STR("sensor_pointer", struct mq_rule_conf, sensor_ptr, NULL,
	       "JSON mode: pointer to the sensor id; if missing in a payload the `sensor` template "
	       "applies."),
};
static const struct sg_cfg_table rule_table =
    SG_CFG_TABLE("rules[]", "One mapping rule from MQTT messages to Kafka records.",
		 struct mq_rule_conf, rule_keys, rule_check);

static int conf_check_tls(struct sg_cfg_ctx *ctx, struct mq_conf *c, const struct sg_cfg_pos *pos,
			  const char *path)
{
	int rc = SG_OK;

	if (!c->tls &&
	    (c->ca_file || c->ca_path || c->cert_file || c->key_file || c->tls_insecure)) {
		sg_cfg_error(
		    ctx, pos, path,
		    "ca_file, ca_path, cert_file, key_file and tls_insecure need `tls: true`");
		rc = SG_ECONFIG;
	}
	if (!c->cert_file != !c->key_file) {
		sg_cfg_error(ctx, pos, path, "cert_file and key_file go together");
		rc = SG_ECONFIG;
	}
	if (c->password && !c->username) {
		sg_cfg_error(ctx, pos, path, "password without username");
		rc = SG_ECONFIG;
	}
	return rc;
}

static int conf_check(struct sg_cfg_ctx *ctx, void *obj, const struct sg_cfg_pos *pos,
		      const char *path)
{
	struct mq_conf *c = obj;
	const struct mq_rule_conf *r = c->rules.items;
	int rc = conf_check_tls(ctx, c, pos, path);

	if (c->reconnect_min_ms > c->reconnect_max_ms) {
		sg_cfg_error(ctx, pos, path, "reconnect_min is greater than reconnect_max");
		rc = SG_ECONFIG;
	}
	if (c->dead_letter_topic &&
	    (strchr(c->dead_letter_topic, '{') || strlen(c->dead_letter_topic) > 249 ||
	     mq_tmpl_valid(c->dead_letter_topic, MQ_TMPL_TOPIC, NULL) != SG_OK)) {
		sg_cfg_error(
		    ctx, pos, path,
		    "dead_letter_topic: not a Kafka topic name ([A-Za-z0-9._-], at most 249)");
		rc = SG_ECONFIG;
	}
	if (c->subscriptions.n)
		return rc;
	/* Implicit subscriptions (one per rule filter): overlapping filters
	 * would make the broker deliver a message once per subscription. */
	for (size_t i = 0; i < c->rules.n; i++)
		for (size_t k = i + 1; k < c->rules.n; k++)
			if (mq_filter_overlap(r[i].filter, r[k].filter) &&
			    strcmp(r[i].filter, r[k].filter)) {
				sg_cfg_error(
				    ctx, pos, path,
				    "rules %zu (\"%s\") and %zu (\"%s\") overlap: declare "
				    "`subscriptions` explicitly so no message arrives twice",
				    i, r[i].filter, k, r[k].filter);
				return SG_ECONFIG;
			}
	return rc;
}

static const struct sg_cfg_key mq_keys[] = {
    SG_KEY_STR("host", struct mq_conf, host, "localhost", "Broker host name or address."),
    SG_KEY_INT("port", struct mq_conf, port, "1883", 1, 65535,
	       "Broker port (8883 is the usual TLS port)."),
    SG_KEY_ENUM("protocol", struct mq_conf, protocol, "3.1.1", mq_protos,
		"MQTT protocol version: `3.1.1` or `5`."),
    SG_KEY_STR("client_id", struct mq_conf, client_id, NULL,
	       "Client id; must be fixed and unique on the broker for the persistent session. "
	       "Default: sensorgate-HOSTNAME-SOURCE."),
    SG_KEY_BOOL("clean_session", struct mq_conf, clean_session, "false",
		"Start a fresh session on every connect (loses what the broker kept while we were "
		"away). Keep false."),
    SG_KEY_DURATION("session_expiry", struct mq_conf, session_expiry_ms, "168h", 0, 4294967295000.0,
		    "MQTT 5: how long the broker keeps the session after a disconnect (3.1.1: the "
		    "broker's persistent_client_expiration)."),
    SG_KEY_DURATION("keepalive", struct mq_conf, keepalive_ms, "30s", 5000, 65535000,
		    "MQTT keepalive interval."),
    SG_KEY_STR("username", struct mq_conf, username, NULL, "User name."),
    SG_KEY_SECRET("password", struct mq_conf, password,
		  "Password: `file:/path` or `${ENV}`; never logged."),
    SG_KEY_BOOL("tls", struct mq_conf, tls, "false",
		"Connect with TLS; the broker's certificate and host name are verified."),
    SG_KEY_STR("ca_file", struct mq_conf, ca_file, NULL,
	       "CA certificate(s) (PEM) that sign the broker's certificate."),
    SG_KEY_STR("ca_path", struct mq_conf, ca_path, NULL,
	       "Directory of CA certificates (default /etc/ssl/certs when no ca_file is given)."),
    SG_KEY_STR("cert_file", struct mq_conf, cert_file, NULL,
	       "Client certificate (PEM) for mutual TLS."),
    SG_KEY_STR("key_file", struct mq_conf, key_file, NULL,
	       "Client private key (PEM, unencrypted)."),
    SG_KEY_BOOL("tls_insecure", struct mq_conf, tls_insecure, "false",
		"DANGEROUS: do not check that the certificate names the host. Logged as an error "
		"on every connect."),
    SG_KEY_INT(
	"qos", struct mq_conf, qos, "1", 0, 2,
	"QoS of the implicit subscriptions (one per rule filter) when `subscriptions` is empty."),
    SG_KEY_LIST("subscriptions", struct mq_conf, subscriptions, &sub_table,
		"Explicit subscriptions; default: each rule's filter at `qos`."),
    SG_KEY_LIST("rules", struct mq_conf, rules, &rule_table,
		"Mapping rules, first match wins. A message no rule matches is bad input.",
		SG_REQUIRED),
    SG_KEY_STR("dead_letter_topic", struct mq_conf, dead_letter_topic, NULL,
	       "Kafka topic for bad input (invalid JSON, missing value, oversize, no rule): the "
	       "raw payload with an sg-error header. Default: count and log only."),
    SG_KEY_SIZE("max_payload", struct mq_conf, max_payload, "256KiB", 1, 268435455,
		"Largest payload accepted; larger ones are bad input (dead-lettered without their "
		"payload)."),
    SG_KEY_DURATION("reconnect_min", struct mq_conf, reconnect_min_ms, "500ms", 10, 3600000,
		    "First reconnect delay; doubles per failed attempt, with +-25% jitter."),
    SG_KEY_DURATION(
	"connect_timeout", struct mq_conf, connect_timeout_ms, "10s", 0, 300000,
	"Bound on the TCP connect to the broker (a non-blocking probe polled by the core); 0 = "
	"none: the connect then blocks this source up to the kernel's TCP timeout."),
    SG_KEY_DURATION("reconnect_max", struct mq_conf, reconnect_max_ms, "30s", 10, 3600000,
		    "Longest reconnect delay."),
    SG_KEY_INT("receive_maximum", struct mq_conf, receive_maximum, "100", 1, 65535,
	       "MQTT 5: QoS 1/2 messages the broker may have in flight to us (3.1.1: the broker's "
	       "max_inflight_messages)."),
};
const struct sg_cfg_table mq_conf_table =
    SG_CFG_TABLE("mqtt", "MQTT subscriber (libmosquitto): MQTT topics to Kafka records.",
		 struct mq_conf, mq_keys, conf_check);
