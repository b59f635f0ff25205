/*
 * mqtt_conf.c - the configuration of an MQTT source: broker connection,
 * session, TLS and authentication, subscriptions, and the mapping rules
 * from MQTT topics to Kafka records.  Every key is declared once here;
 * the checks below report cross-key problems at FILE:LINE before anything
 * connects (an invalid filter, a template naming a bad character, keys of
 * the one-value and fan-out forms mixed, TLS files without `tls: true`);
 * rules_check.c looks across the rules.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "mqtt.h"

static const char *const mq_protos[] = {"3.1.1", "5", NULL};
static const char *const mq_payloads[] = {"raw", "json", NULL};
static const char *const mq_retaineds[] = {"forward", "skip", NULL};
static const char *const mq_tunits[] = {"s", "ms", "us", "ns", "auto", NULL};

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

static const char *const mq_ftypes[] = {"auto", "number", "bool", "string", NULL};
static const char *const mq_badtimes[] = {"arrival", "dead_letter", NULL};
static const char *const mq_empties[] = {"dead_letter", "skip", NULL};

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
		      const char *key, const char *t, enum mq_tmpl_kind kind, bool fanout)
{
	struct sg_errbuf eb;

	if (t && mq_tmpl_valid(t, kind, &eb) != SG_OK) {
		sg_cfg_error(ctx, pos, path, "%s: %s", key, eb.msg);
		return SG_ECONFIG;
	}
	if (t && !fanout && mq_tmpl_uses_field(t)) {
		sg_cfg_error(ctx, pos, path, "%s: {field} needs `fields` or `wildcard`", key);
		return SG_ECONFIG;
	}
	return SG_OK;
}

static int field_check(struct sg_cfg_ctx *ctx, void *obj, const struct sg_cfg_pos *pos,
		       const char *path)
{
	struct mq_field_conf *f = obj;
	int rc = SG_OK;

	if (!*f->id || strlen(f->id) > 255 || strchr(f->id, '{') || strchr(f->id, '}')) {
		sg_cfg_error(ctx, pos, path, "id: 1 to 255 bytes, without braces");
		rc = SG_ECONFIG;
	}
	if (ptr_check(ctx, pos, path, "pointer", f->pointer) ||
	    ptr_check(ctx, pos, path, "unit_pointer", f->unit_pointer))
		rc = SG_ECONFIG;
	return rc;
}

static const struct sg_cfg_key field_keys[] = {
    SG_KEY_STR("id", struct mq_field_conf, id, NULL,
	       "The field's name: `{field}` in the rule's sensor, key and topic templates.",
	       SG_REQUIRED),
    SG_KEY_STR("pointer", struct mq_field_conf, pointer, NULL,
	       "JSON pointer (RFC 6901) to the value, e.g. `/AM2301/Temperature` or `/phases/0`.",
	       SG_REQUIRED),
    SG_KEY_STR("unit", struct mq_field_conf, unit, NULL, "Unit text of this field's events."),
    SG_KEY_STR("unit_pointer", struct mq_field_conf, unit_pointer, NULL,
	       "JSON pointer to the unit in the message; when present it wins over `unit`."),
    SG_KEY_ENUM("type", struct mq_field_conf, type, "auto", mq_ftypes,
		"Expected JSON type: `auto` (any), `number`, `bool` or `string`; another type "
		"makes the message bad input. `null` is always accepted: no value, quality "
		"uncertain."),
    SG_KEY_BOOL("optional", struct mq_field_conf, optional, "false",
		"Missing from a message: no event for this field. Default: the message is bad "
		"input."),
};
static const struct sg_cfg_table field_table =
    SG_CFG_TABLE("rules[].fields[]", "One field of a message: one event per message.",
		 struct mq_field_conf, field_keys, field_check);

/* Keys of the one-value form, the fan-out forms and raw mode that do not
 * mix. */
static int rule_check_forms(struct sg_cfg_ctx *ctx, const struct mq_rule_conf *r,
			    const struct sg_cfg_pos *pos, const char *path)
{
	bool fan = r->fields.n || r->wildcard;
	int rc = SG_OK;

	if (r->payload != MQ_PAYLOAD_JSON && (r->unit || r->sensor_ptr || r->value || fan)) {
		sg_cfg_error(
		    ctx, pos, path,
		    "value, unit, sensor_pointer, fields and wildcard need `payload: json`");
		rc = SG_ECONFIG;
	}
	if (r->fields.n && r->wildcard) {
		sg_cfg_error(ctx, pos, path, "fields and wildcard: choose one");
		rc = SG_ECONFIG;
	}
	if (fan && (r->value || r->unit || r->sensor_ptr)) {
		sg_cfg_error(
		    ctx, pos, path,
		    "value, unit and sensor_pointer are the one-value form: with fields or "
		    "wildcard, give units per field");
		rc = SG_ECONFIG;
	}
	if (!r->wildcard && (r->exclude.n || r->units.n)) {
		sg_cfg_error(ctx, pos, path, "exclude and units need `wildcard`");
		rc = SG_ECONFIG;
	}
	if (r->field_separator && strlen(r->field_separator) != 1) {
		sg_cfg_error(ctx, pos, path, "field_separator: one character");
		rc = SG_ECONFIG;
	}
	if (r->if_equals && !r->if_pointer) {
		sg_cfg_error(ctx, pos, path, "if_equals needs if_pointer");
		rc = SG_ECONFIG;
	}
	if (r->fields.n > MQ_MAX_FIELDS) {
		sg_cfg_error(ctx, pos, path, "more than %d fields", MQ_MAX_FIELDS);
		rc = SG_ECONFIG;
	}
	return rc;
}

static int rule_check_fields(struct sg_cfg_ctx *ctx, const struct mq_rule_conf *r,
			     const struct sg_cfg_pos *pos, const char *path)
{
	const struct mq_field_conf *f = r->fields.items;
	bool several = r->fields.n > 1 || r->wildcard;

	for (size_t i = 0; i < r->fields.n; i++)
		for (size_t k = i + 1; k < r->fields.n; k++)
			if (!strcmp(f[i].id, f[k].id)) {
				sg_cfg_error(ctx, pos, path,
					     "fields %zu and %zu have the same id \"%s\"", i, k,
					     f[i].id);
				return SG_ECONFIG;
			}
	if (several && r->sensor && !mq_tmpl_uses_field(r->sensor)) {
		sg_cfg_error(
		    ctx, pos, path,
		    "sensor: a rule that makes several events of a message needs {field} in "
		    "its sensor template (e.g. \"{1}/{field}\"), or they would share one "
		    "sensor id");
		return SG_ECONFIG;
	}
	return SG_OK;
}

static int rule_check(struct sg_cfg_ctx *ctx, void *obj, const struct sg_cfg_pos *pos,
		      const char *path)
{
	struct mq_rule_conf *r = obj;
	bool fan = r->fields.n || r->wildcard;
	struct sg_errbuf eb;
	int32_t off;
	int rc = SG_OK;

	r->line = pos ? pos->line : 0; /* for the cross-rule warnings */
	if (mq_filter_valid(r->filter, &eb) != SG_OK) {
		sg_cfg_error(ctx, pos, path, "filter: %s", eb.msg);
		rc = SG_ECONFIG;
	}
	if (tmpl_check(ctx, pos, path, "topic", r->topic, MQ_TMPL_TOPIC, fan) ||
	    tmpl_check(ctx, pos, path, "key", r->key, MQ_TMPL_TEXT, fan) ||
	    tmpl_check(ctx, pos, path, "sensor", r->sensor, MQ_TMPL_TEXT, fan))
		rc = SG_ECONFIG;
	if (ptr_check(ctx, pos, path, "value", r->value) ||
	    ptr_check(ctx, pos, path, "time", r->time) ||
	    ptr_check(ctx, pos, path, "unit", r->unit) ||
	    ptr_check(ctx, pos, path, "sensor_pointer", r->sensor_ptr) ||
	    ptr_check(ctx, pos, path, "wildcard", r->wildcard) ||
	    ptr_check(ctx, pos, path, "if_pointer", r->if_pointer))
		rc = SG_ECONFIG;
	if (r->time_offset &&
	    mq_offset_parse(r->time_offset, strlen(r->time_offset), &off) != SG_OK) {
		sg_cfg_error(ctx, pos, path, "time_offset: Z or +HH:MM / -HH:MM");
		rc = SG_ECONFIG;
	}
	if (rule_check_forms(ctx, r, pos, path) || rule_check_fields(ctx, r, pos, path))
		rc = SG_ECONFIG;
	return rc;
}

static const struct sg_cfg_key rule_keys[] = {
    SG_KEY_STR("filter", struct mq_rule_conf, filter, NULL,
	       "MQTT topic filter this rule applies to. Rules are tried in order; the first that "
	       "matches takes the message, unless it says `continue`.",
	       SG_REQUIRED),
    SG_KEY_BOOL("continue", struct mq_rule_conf, cont, "false",
		"After this rule, try the later rules too: the events of every rule that takes "
		"the message are appended together."),
    SG_KEY_STR("if_pointer", struct mq_rule_conf, if_pointer, NULL,
	       "A condition: the rule takes only JSON messages with a value at this pointer "
	       "(equal to `if_equals` when given)."),
    SG_KEY_STR("if_equals", struct mq_rule_conf, if_equals, NULL,
	       "With if_pointer: the value there (a string's text, or the JSON text of another "
	       "value) must be exactly this."),
    SG_KEY_STR("topic", struct mq_rule_conf, topic, NULL,
	       "Kafka topic template: `{0}` is the first MQTT topic level, `{1}` the second, "
	       "`{topic}` the whole MQTT topic with `/` as `.`, `{field}` the field (fields and "
	       "wildcard); characters Kafka does not allow become `_`. Default: the source's "
	       "topic."),
    SG_KEY_STR(
	"key", struct mq_rule_conf, key, NULL,
	"Kafka key template (same fields as `topic`, text kept as is). Default: the sensor id."),
    SG_KEY_STR("sensor", struct mq_rule_conf, sensor, NULL,
	       "Sensor id template. Default: `{topic}`, or `{topic}/{field}` with fields or "
	       "wildcard."),
    SG_KEY_ENUM("payload", struct mq_rule_conf, payload, "raw", mq_payloads,
		"`raw`: the payload bytes are the Kafka value, with mqtt-* headers; `json`: parse "
		"the payload and emit event envelopes (one value, `fields` or `wildcard`)."),
    SG_KEY_ENUM(
	"retained", struct mq_rule_conf, retained, "forward", mq_retaineds,
	"Retained messages (sent by the broker on subscribe): `forward` or `skip` (counted)."),
    SG_KEY_STR("content_type", struct mq_rule_conf, content_type, NULL,
	       "Raw mode: the Kafka content-type header. Default: the MQTT 5 content type, else "
	       "application/octet-stream."),
    SG_KEY_STR("value", struct mq_rule_conf, value, NULL,
	       "JSON mode, one value: JSON pointer (RFC 6901) to the value; \"\" is the whole "
	       "document. Default `/value`. Missing = bad input."),
    SG_KEY_STR("unit", struct mq_rule_conf, unit, NULL,
	       "JSON mode, one value: pointer to the unit string (optional)."),
    SG_KEY_STR("sensor_pointer", struct mq_rule_conf, sensor_ptr, NULL,
	       "JSON mode, one value: pointer to the sensor id; if missing in a payload the "
	       "`sensor` template applies."),
    SG_KEY_LIST("fields", struct mq_rule_conf, fields, &field_table,
		"JSON mode: one event per listed field, in this order, all appended together."),
    SG_KEY_STR("wildcard", struct mq_rule_conf, wildcard, NULL,
	       "JSON mode: one event per number and bool below this pointer (\"\" = the whole "
	       "document), in document order; `{field}` is the path below it, e.g. "
	       "`AM2301.Temperature`."),
    SG_KEY_STR("field_separator", struct mq_rule_conf, field_separator, ".",
	       "Wildcard: the character between the levels of `{field}`."),
    SG_KEY_STRLIST("exclude", struct mq_rule_conf, exclude,
		   "Wildcard: leaves to leave out, by full `{field}` name or by their own member "
		   "name (`linkquality`)."),
    SG_KEY_MAP("units", struct mq_rule_conf, units,
	       "Wildcard: unit per leaf, by full `{field}` name or own member name (`{Temperature: "
	       "degC}`)."),
    SG_KEY_ENUM("empty", struct mq_rule_conf, empty, "dead_letter", mq_empties,
		"A message the rules make no event of (optional fields all missing, no leaf): "
		"`dead_letter` (bad input) or `skip` (counted as mqtt_empty)."),
    SG_KEY_STR("time", struct mq_rule_conf, time, NULL,
	       "Pointer to the event time in the payload (also in raw mode, for JSON payloads): "
	       "a number in `time_unit` since the epoch or an RFC 3339 string. Default (or "
	       "missing): the arrival time."),
    SG_KEY_ENUM("time_unit", struct mq_rule_conf, time_unit, "ms", mq_tunits,
		"Unit of a numeric time: s, ms, us, ns, or `auto` (by magnitude)."),
    SG_KEY_STR("time_property", struct mq_rule_conf, time_property, NULL,
	       "MQTT 5 user property holding the event time (number in `time_unit` or RFC 3339); "
	       "used before `time` when present."),
    SG_KEY_STR("time_offset", struct mq_rule_conf, time_offset, NULL,
	       "Offset for date-times sent without one (`+02:00`, `Z`). Default: such a time "
	       "is unusable."),
    SG_KEY_ENUM("bad_time", struct mq_rule_conf, bad_time, "arrival", mq_badtimes,
		"A device time that cannot be parsed, lies further than `max_future` ahead or "
		"before 2000: `arrival` (arrival time, quality uncertain) or `dead_letter`."),
    SG_KEY_DURATION("max_future", struct mq_rule_conf, max_future_ms, "5m", 0, 31536000000.0,
		    "How far ahead of the gateway's clock a device time may be; 0 = no bound."),
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
	if (c->dead_letter_head > c->max_payload) {
		sg_cfg_error(ctx, pos, path, "dead_letter_head is larger than max_payload");
		rc = SG_ECONFIG;
	}
	if (mq_rules_check(ctx, c, pos, path) != SG_OK)
		rc = SG_ECONFIG;
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
		"Mapping rules, tried in order: the first match wins unless it says `continue`. "
		"A message no rule matches is bad input.",
		SG_REQUIRED),
    SG_KEY_STR("dead_letter_topic", struct mq_conf, dead_letter_topic, NULL,
	       "Kafka topic for bad input (invalid JSON, a missing or mistyped field, oversize, "
	       "no rule, ...): the original payload with mqtt-* headers and sg-error, "
	       "sg-error-reason, sg-error-rule, sg-error-field. Default: count and log only."),
    SG_KEY_SIZE("max_payload", struct mq_conf, max_payload, "256KiB", 1, 268435455,
		"Largest payload accepted; larger ones are bad input (dead-lettered with their "
		"first `dead_letter_head` bytes and the size)."),
    SG_KEY_SIZE("dead_letter_head", struct mq_conf, dead_letter_head, "1KiB", 0, 268435455,
		"Bytes of an oversize payload kept in its dead letter."),
    SG_KEY_INT("max_events", struct mq_conf, max_events, "1000", 1, 100000,
	       "Most events one message may make (fields, wildcard, `continue`); more is bad "
	       "input."),
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
