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
    {"filter", SG_CFG_STR, offsetof(struct mq_sub_conf, filter), NULL, 1, 0, NULL, NULL,
     SG_CFG_REQUIRED, "MQTT topic filter to subscribe to (`+` one level, `#` the rest)."},
    {"qos", SG_CFG_INT, offsetof(struct mq_sub_conf, qos), "1", 0, 2, NULL, NULL, 0,
     "Subscription QoS: 0 at most once, 1 at least once (recommended), 2 exactly once on the MQTT "
     "hop."},
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
    {"filter", SG_CFG_STR, offsetof(struct mq_rule_conf, filter), NULL, 1, 0, NULL, NULL,
     SG_CFG_REQUIRED,
     "MQTT topic filter this rule applies to; rules are tried in order, the first match wins."},
    {"topic", SG_CFG_STR, offsetof(struct mq_rule_conf, topic), NULL, 1, 0, NULL, NULL, 0,
     "Kafka topic template: `{0}` is the first MQTT topic level, `{1}` the second, `{topic}` the "
     "whole MQTT topic with `/` as `.`; characters Kafka does not allow become `_`. Default: the "
     "source's topic."},
    {"key", SG_CFG_STR, offsetof(struct mq_rule_conf, key), NULL, 1, 0, NULL, NULL, 0,
     "Kafka key template (same fields as `topic`, text kept as is). Default: the sensor id."},
    {"sensor", SG_CFG_STR, offsetof(struct mq_rule_conf, sensor), NULL, 1, 0, NULL, NULL, 0,
     "Sensor id template. Default: the MQTT topic."},
    {"payload", SG_CFG_ENUM, offsetof(struct mq_rule_conf, payload), "raw", 1, 0, mq_payloads, NULL,
     0,
     "`raw`: the payload bytes are the Kafka value, with mqtt-* headers; `json`: parse the payload "
     "and emit an event envelope with the value found by `value`."},
    {"retained", SG_CFG_ENUM, offsetof(struct mq_rule_conf, retained), "forward", 1, 0,
     mq_retaineds, NULL, 0,
     "Retained messages (sent by the broker on subscribe): `forward` or `skip` (counted)."},
    {"content_type", SG_CFG_STR, offsetof(struct mq_rule_conf, content_type), NULL, 1, 0, NULL,
     NULL, 0,
     "Raw mode: the Kafka content-type header. Default: the MQTT 5 content type, else "
     "application/octet-stream."},
    {"value", SG_CFG_STR, offsetof(struct mq_rule_conf, value), "/value", 1, 0, NULL, NULL, 0,
     "JSON mode: JSON pointer (RFC 6901) to the value; \"\" is the whole document. Missing = bad "
     "input."},
    {"time", SG_CFG_STR, offsetof(struct mq_rule_conf, time), NULL, 1, 0, NULL, NULL, 0,
     "JSON mode: pointer to the event time, a number in `time_unit` since the epoch or an RFC 3339 "
     "string. Default (or missing): the arrival time."},
    {"time_unit", SG_CFG_ENUM, offsetof(struct mq_rule_conf, time_unit), "ms", 1, 0, mq_tunits,
     NULL, 0, "JSON mode: unit of a numeric time."},
    {"unit", SG_CFG_STR, offsetof(struct mq_rule_conf, unit), NULL, 1, 0, NULL, NULL, 0,
     "JSON mode: pointer to the unit string (optional)."},
    {"sensor_pointer", SG_CFG_STR, offsetof(struct mq_rule_conf, sensor_ptr), NULL, 1, 0, NULL,
     NULL, 0,
     "JSON mode: pointer to the sensor id; if missing in a payload the `sensor` template applies."},
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
    {"host", SG_CFG_STR, offsetof(struct mq_conf, host), "localhost", 1, 0, NULL, NULL, 0,
     "Broker host name or address."},
    {"port", SG_CFG_INT, offsetof(struct mq_conf, port), "1883", 1, 65535, NULL, NULL, 0,
     "Broker port (8883 is the usual TLS port)."},
    {"protocol", SG_CFG_ENUM, offsetof(struct mq_conf, protocol), "3.1.1", 1, 0, mq_protos, NULL, 0,
     "MQTT protocol version: `3.1.1` or `5`."},
    {"client_id", SG_CFG_STR, offsetof(struct mq_conf, client_id), NULL, 1, 0, NULL, NULL, 0,
     "Client id; must be fixed and unique on the broker for the persistent session. Default: "
     "sensorgate-HOSTNAME-SOURCE."},
    {"clean_session", SG_CFG_BOOL, offsetof(struct mq_conf, clean_session), "false", 1, 0, NULL,
     NULL, 0,
     "Start a fresh session on every connect (loses what the broker kept while we were away). Keep "
     "false."},
    {"session_expiry", SG_CFG_DURATION, offsetof(struct mq_conf, session_expiry_ms), "168h", 0,
     4294967295000.0, NULL, NULL, 0,
     "MQTT 5: how long the broker keeps the session after a disconnect (3.1.1: the broker's "
     "persistent_client_expiration)."},
    {"keepalive", SG_CFG_DURATION, offsetof(struct mq_conf, keepalive_ms), "30s", 5000, 65535000,
     NULL, NULL, 0, "MQTT keepalive interval."},
    {"username", SG_CFG_STR, offsetof(struct mq_conf, username), NULL, 1, 0, NULL, NULL, 0,
     "User name."},
    {"password", SG_CFG_SECRET, offsetof(struct mq_conf, password), NULL, 1, 0, NULL, NULL, 0,
     "Password: `file:/path` or `${ENV}`; never logged."},
    {"tls", SG_CFG_BOOL, offsetof(struct mq_conf, tls), "false", 1, 0, NULL, NULL, 0,
     "Connect with TLS; the broker's certificate and host name are verified."},
    {"ca_file", SG_CFG_STR, offsetof(struct mq_conf, ca_file), NULL, 1, 0, NULL, NULL, 0,
     "CA certificate(s) (PEM) that sign the broker's certificate."},
    {"ca_path", SG_CFG_STR, offsetof(struct mq_conf, ca_path), NULL, 1, 0, NULL, NULL, 0,
     "Directory of CA certificates (default /etc/ssl/certs when no ca_file is given)."},
    {"cert_file", SG_CFG_STR, offsetof(struct mq_conf, cert_file), NULL, 1, 0, NULL, NULL, 0,
     "Client certificate (PEM) for mutual TLS."},
    {"key_file", SG_CFG_STR, offsetof(struct mq_conf, key_file), NULL, 1, 0, NULL, NULL, 0,
     "Client private key (PEM, unencrypted)."},
    {"tls_insecure", SG_CFG_BOOL, offsetof(struct mq_conf, tls_insecure), "false", 1, 0, NULL, NULL,
     0,
     "DANGEROUS: do not check that the certificate names the host. Logged as an error on every "
     "connect."},
    {"qos", SG_CFG_INT, offsetof(struct mq_conf, qos), "1", 0, 2, NULL, NULL, 0,
     "QoS of the implicit subscriptions (one per rule filter) when `subscriptions` is empty."},
    {"subscriptions", SG_CFG_LIST, offsetof(struct mq_conf, subscriptions), NULL, 1, 0, NULL,
     &sub_table, 0, "Explicit subscriptions; default: each rule's filter at `qos`."},
    {"rules", SG_CFG_LIST, offsetof(struct mq_conf, rules), NULL, 1, 0, NULL, &rule_table,
     SG_CFG_REQUIRED, "Mapping rules, first match wins. A message no rule matches is bad input."},
    {"dead_letter_topic", SG_CFG_STR, offsetof(struct mq_conf, dead_letter_topic), NULL, 1, 0, NULL,
     NULL, 0,
     "Kafka topic for bad input (invalid JSON, missing value, oversize, no rule): the raw payload "
     "with an sg-error header. Default: count and log only."},
    {"max_payload", SG_CFG_SIZE, offsetof(struct mq_conf, max_payload), "256KiB", 1, 268435455,
     NULL, NULL, 0,
     "Largest payload accepted; larger ones are bad input (dead-lettered without their payload)."},
    {"reconnect_min", SG_CFG_DURATION, offsetof(struct mq_conf, reconnect_min_ms), "500ms", 10,
     3600000, NULL, NULL, 0,
     "First reconnect delay; doubles per failed attempt, with +-25% jitter."},
    {"connect_timeout", SG_CFG_DURATION, offsetof(struct mq_conf, connect_timeout_ms), "10s", 0,
     300000, NULL, NULL, 0,
     "Bound on the TCP connect to the broker (a non-blocking probe polled by the core); 0 = none: "
     "the connect then blocks this source up to the kernel's TCP timeout."},
    {"reconnect_max", SG_CFG_DURATION, offsetof(struct mq_conf, reconnect_max_ms), "30s", 10,
     3600000, NULL, NULL, 0, "Longest reconnect delay."},
    {"receive_maximum", SG_CFG_INT, offsetof(struct mq_conf, receive_maximum), "100", 1, 65535,
     NULL, NULL, 0,
     "MQTT 5: QoS 1/2 messages the broker may have in flight to us (3.1.1: the broker's "
     "max_inflight_messages)."},
};
const struct sg_cfg_table mq_conf_table =
    SG_CFG_TABLE("mqtt", "MQTT subscriber (libmosquitto): MQTT topics to Kafka records.",
		 struct mq_conf, mq_keys, conf_check);
