/*
 * families.c - the table of every metric the gateway exposes.  Adding a
 * metric to the code means adding a row here (tests/lint/metrics.py
 * fails otherwise); the docs are generated from these rows.
 */
#include "families.h"

#include <string.h>

#define C(n, e, l, h)                                                                              \
	{                                                                                          \
		n, e, SG_MF_COUNTER, 1, l, h                                                       \
	}
#define G(n, e, l, h)                                                                              \
	{                                                                                          \
		n, e, SG_MF_GAUGE, 1, l, h                                                         \
	}
#define GS(n, e, s, l, h)                                                                          \
	{                                                                                          \
		n, e, SG_MF_GAUGE, s, l, h                                                         \
	}

const struct sg_metric_family sg_metric_families[] = {
    G("build_info", "sensorgate_build_info", "version",
      "Always 1; the label carries the version of the running binary."),
    G("start_time_seconds", "sensorgate_start_time_seconds", "",
      "When the gateway started, in seconds since the Unix epoch."),

    /* sources */
    C("events_read", "sensorgate_events_read", "source",
      "Readings a source handed to the core (before the spool)."),
    C("events_spooled", "sensorgate_events_spooled", "source",
      "Events appended to the spool: from here on nothing is lost by a process crash."),
    C("events_delivered", "sensorgate_events_delivered", "source",
      "Events of this source Kafka acknowledged (the source the record carries; at most 256 "
      "names, the configured sources first, any other counts as `(other)`)."),
    C("events_dropped", "sensorgate_source_events_dropped", "source",
      "Events of this source refused at the spool by `when_full: drop_newest`."),
    C("emit_errors", "sensorgate_source_emit_errors", "source",
      "Readings a source could not store: malformed, too large, or a spool I/O error."),
    C("source_restarts", "sensorgate_source_restarts", "source",
      "Times a source's driver failed and was restarted (with backoff)."),
    G("source_up", "sensorgate_source_up", "source",
      "1 while the source's driver runs and is connected to its device or broker, else 0."),
    C("errors", "sensorgate_errors", "source, class",
      "Errors by class (timeout, bad_input, spool_io, kafka, ...); see the class label."),

    /* drops, by reason */
    C("dropped", "sensorgate_events_dropped", "reason",
      "Events that will never reach Kafka, by reason: `spool_full_oldest` and "
      "`spool_full_newest` (the full-spool policy), `rejected_by_kafka` (kept in "
      "rejected.log)."),

    /* spool */
    C("spool_appended", "sensorgate_spool_appended", "", "Records appended to the spool."),
    C("spool_full_waits", "sensorgate_spool_full_waits", "",
      "Appends that waited for room (`when_full: block`)."),
    G("spool_bytes", "sensorgate_spool_bytes", "", "Bytes of all spool segments on disk."),
    G("spool_max_bytes", "sensorgate_spool_max_bytes", "", "The configured `spool.max_bytes`."),
    G("spool_records", "sensorgate_spool_records", "",
      "Records in the spool not yet delivered (or dropped)."),
    G("spool_segments", "sensorgate_spool_segments", "", "Segment files in the spool."),
    GS("oldest_undelivered_age_ms", "sensorgate_spool_oldest_undelivered_age_seconds", 0.001, "",
       "Age of the oldest record handed to Kafka and not yet acknowledged (0 when none)."),
    C("spool_corrupt_regions", "sensorgate_spool_corrupt_regions", "",
      "Corrupt regions skipped by recovery at start."),
    C("spool_truncated_bytes", "sensorgate_spool_truncated_bytes", "",
      "Bytes of torn tails truncated by recovery at start."),
    C("spool_torn_batch_events", "sensorgate_spool_torn_batch_events", "",
      "Whole events recovery cut at start with a torn tail because their batch's last event "
      "was missing (a batch is stored whole or not at all; after a kill -9 its source was "
      "never told they were stored)."),
    C("spool_segments_moved_aside", "sensorgate_spool_segments_moved_aside", "",
      "Segments recovery moved to corrupt/ (a format version it does not read, no intact "
      "record, or seqs overlapping another segment)."),
    C("spool_headers_repaired", "sensorgate_spool_headers_repaired", "",
      "Damaged segment headers rewritten by recovery (the frames were intact and kept)."),
    C("spool_gap_records", "sensorgate_spool_gap_records", "",
      "Undelivered seqs missing between segments at start (a deleted segment): lost."),
    C("spool_misordered", "sensorgate_spool_misordered", "",
      "Segments out of seq order (renamed back by recovery, or overlapping: moved aside), and "
      "records found out of order at run time."),
    C("spool_disk_full", "sensorgate_spool_disk_full", "",
      "Times the spool's filesystem was found full: `when_full` applied, as at `max_bytes`."),

    /* Kafka */
    C("produced", "sensorgate_kafka_produced", "", "Records handed to librdkafka."),
    C("delivered", "sensorgate_kafka_delivered", "",
      "Records acknowledged by Kafka (delivery report PERSISTED, or a committed transaction)."),
    C("delivery_retries", "sensorgate_kafka_delivery_retries", "",
      "Records sent again after a failed or uncertain delivery (they stay in the spool)."),
    C("producer_restarts", "sensorgate_kafka_producer_restarts", "",
      "Times the producer was recreated after a fatal error."),
    G("in_flight", "sensorgate_kafka_in_flight_records", "",
      "Records handed to librdkafka and not yet acknowledged."),
    G("in_flight_bytes", "sensorgate_kafka_in_flight_bytes", "",
      "Bytes (value, key, headers, topic) of the records in flight, at_least_once; bounded "
      "by `kafka.max_in_flight_bytes` plus one record."),
    C("kafka_errors", "sensorgate_kafka_errors", "error",
      "Errors librdkafka reported, by error name (e.g. `_TRANSPORT`, `_ALL_BROKERS_DOWN`)."),
    G("kafka_brokers_up", "sensorgate_kafka_brokers_up", "",
      "Brokers the producer has a connection to (0: Kafka unreachable, or it refuses the "
      "credentials or the certificate: see `kafka_errors_total` and /ready)."),
    G("kafka_topics_refused", "sensorgate_kafka_topics_refused", "",
      "Topics Kafka refuses now (an ACL: `TOPIC_AUTHORIZATION_FAILED`); their events wait "
      "(held beside the spool in at_least_once) and the other topics go on."),
    G("kafka_held_records", "sensorgate_kafka_held_records", "",
      "at_least_once: events of refused topics kept in `<spool>/held/` until Kafka takes "
      "them."),
    C("transactions", "sensorgate_kafka_transactions", "result",
      "exactly_once: transactions by result (`committed`, `aborted`)."),
    {"delivery_latency", "sensorgate_delivery_latency_seconds", SG_MF_HISTOGRAM, 1e-6, "",
     "From the reading (event time) to Kafka's acknowledgement."},

    /* the Schema Registry (kafka.format avro) */
    G("schema_registry_up", "sensorgate_schema_registry_up", "",
      "kafka.format avro: 1 while the registry gave every schema id asked for, 0 while events "
      "wait in the spool for it (unreachable, or it refused the credentials or the schema)."),
    C("schema_registry_requests", "sensorgate_schema_registry_requests", "",
      "Requests to the registry (register or look up a subject's schema)."),
    C("schema_registry_errors", "sensorgate_schema_registry_errors", "reason",
      "Failed registry requests by reason: `unreachable`, `auth`, `incompatible`, "
      "`not_registered`, `invalid`, `other`; the events wait in the spool meanwhile."),

    /* actuators */
    C("actuations", "sensorgate_actuator_commands", "result",
      "Commands from Kafka by result: `ok`, `error`, `stale` (older than `actuators.max_age`), "
      "`malformed`."),

    /* MQTT */
    C("mqtt_connects", "sensorgate_mqtt_connects", "source",
      "Successful connections to the broker."),
    C("mqtt_connect_failures", "sensorgate_mqtt_connect_failures", "source",
      "Failed connection attempts (refused, unreachable, TLS or authentication errors)."),
    C("mqtt_messages", "sensorgate_mqtt_messages", "source", "Messages received."),
    C("mqtt_messages_by_qos", "sensorgate_mqtt_messages_by_qos", "source, qos",
      "Messages received, by the QoS they were delivered with."),
    C("mqtt_bad_input", "sensorgate_mqtt_bad_input", "source",
      "Messages that could not be mapped (malformed payload, missing field, bad time)."),
    C("mqtt_dead_lettered", "sensorgate_mqtt_dead_letters", "source",
      "Messages sent to the dead-letter topic with their original bytes."),
    C("mqtt_unmatched", "sensorgate_mqtt_unmatched", "source", "Messages no rule matched."),
    C("mqtt_retained_skipped", "sensorgate_mqtt_retained_skipped", "source",
      "Retained messages skipped by a rule's `retained: skip`."),
    C("mqtt_lost_after_ack", "sensorgate_mqtt_lost_after_ack", "source",
      "QoS 1/2 messages acknowledged to the broker but not stored (spool I/O error at "
      "shutdown): should stay 0."),
    C("mqtt_events", "sensorgate_mqtt_events", "source",
      "Events appended from MQTT messages; a rule with `fields` or `wildcard` makes several "
      "of one message, appended together."),
    C("mqtt_fanout_messages", "sensorgate_mqtt_fanout_messages", "source",
      "Messages that made more than one event."),
    C("mqtt_empty", "sensorgate_mqtt_empty", "source",
      "Messages the rules made no event of, skipped by `empty: skip`."),
    C("mqtt_bad_input_by_reason", "sensorgate_mqtt_bad_input_by_reason", "source, reason",
      "Bad messages by reason (`invalid_json`, `too_deep`, `invalid_utf8`, `duplicate_key`, "
      "`non_finite`, `missing_field`, `wrong_type`, `bad_number`, `bad_time`, `oversize`, "
      "`too_many_events`, `no_events`, `no_rule`, `template`, ...; docs/mqtt.md)."),
    C("mqtt_time_failures", "sensorgate_mqtt_time_failures", "source, reason",
      "Device times not used, by reason: `missing`, `unparsable`, `future`, `past` (the "
      "arrival time is used, or the message dead-lettered under `bad_time: dead_letter`)."),

    /* Modbus */
    C("modbus_requests", "sensorgate_modbus_requests", "source",
      "Modbus read requests sent (see `sensorgate_errors_total` for failures by class)."),
    C("modbus_retries", "sensorgate_modbus_retries", "source", "Requests retried after a failure."),
    C("modbus_skipped", "sensorgate_modbus_skipped", "source",
      "Polls skipped because the device was offline (backoff)."),
    C("modbus_late_ticks", "sensorgate_modbus_late_ticks", "source",
      "Polls that started later than their interval allowed."),
    C("modbus_isolated_blocks", "sensorgate_modbus_isolated_blocks", "source",
      "Coalesced reads split up to isolate an address the device refuses."),
    C("modbus_device_requests", "sensorgate_modbus_device_requests", "source, device, result",
      "Requests to each device (reads with their retries, and writes) by result: `ok`, "
      "`timeout`, `exception`, `crc`, `malformed`, `io`."),
    C("modbus_exceptions", "sensorgate_modbus_exceptions", "source, device, code",
      "Exception answers by Modbus exception code (2 illegal data address, 4 server device "
      "failure, ...; 0: a code outside 1-11)."),
    G("modbus_device_up", "sensorgate_modbus_device_up", "source, device",
      "1 while the device answers, 0 while it is offline or the link is down."),

    /* GPIO */
    C("gpio_edges", "sensorgate_gpio_edges", "source",
      "Edges accepted on input lines (after debounce)."),
    C("gpio_overflows", "sensorgate_gpio_overflows", "source",
      "Kernel edge-event queue overflows detected."),
    C("gpio_events_lost", "sensorgate_gpio_events_lost", "source",
      "Edge events known lost to overflows (from the kernel's sequence numbers)."),
    C("gpio_bounces", "sensorgate_gpio_bounces", "source", "Edges suppressed by debounce."),
    C("gpio_repeated_edges", "sensorgate_gpio_repeated_edges", "source",
      "Edges that repeated the previous level (a missed edge in between)."),

    /* simulated sensors */
    C("sim_late_ticks", "sensorgate_sim_late_ticks", "source",
      "Simulated readings produced later than their rate allowed."),
};
const size_t sg_metric_nfamilies = sizeof(sg_metric_families) / sizeof(sg_metric_families[0]);

const struct sg_metric_family *sg_metric_family_find(const char *name)
{
	for (size_t i = 0; i < sg_metric_nfamilies; i++)
		if (!strcmp(sg_metric_families[i].name, name))
			return &sg_metric_families[i];
	return NULL;
}

void sg_metric_families_doc(FILE *fp)
{
	static const char *const types[] = {"counter", "gauge", "histogram"};

	fprintf(fp, "# Metrics reference\n\n"
		    "Generated by `sensorgate config-doc --metrics` from the metrics table "
		    "(gateway/metrics/families.c); do not edit by hand.\n\n"
		    "Served at `http://127.0.0.1:9780/metrics` by default (`http:` in "
		    "docs/config.md), in the Prometheus text format, or OpenMetrics when the "
		    "scraper asks for it. Counters end in `_total`; times are in seconds, sizes "
		    "in bytes. Labels carry source and device names from the configuration, "
		    "never sensor ids, so their number is bounded by the configuration. "
		    "docs/operations.md has probe and alert examples.\n\n");
	fprintf(fp, "| metric | type | labels | meaning |\n|---|---|---|---|\n");
	for (size_t i = 0; i < sg_metric_nfamilies; i++) {
		const struct sg_metric_family *f = &sg_metric_families[i];
		fprintf(fp, "| `%s%s` | %s | %s | %s |\n", f->exposed,
			f->type == SG_MF_COUNTER ? "_total" : "", types[f->type],
			*f->labels ? f->labels : "—", f->help);
	}
}
