/*
 * client.h - the one constructor of every librdkafka client sensorgate
 * makes: the idempotent producer (at_least_once), the transactional
 * producer (exactly_once), the consumers (sink, actuator commands, the
 * live view's tail, the exactly_once checkpoint reader) and the handle
 * that hosts the embedded mock cluster.
 *
 * In one place it applies, in this order: our defaults for the kind, the
 * user's pass-through properties (kafka.properties, then the command
 * line's -X), and last what the kind guarantees (bootstrap, idempotence,
 * acks, transactional id, consumer group and offset handling), so nothing
 * the user writes can weaken a guarantee; keys that would are refused.
 * Logging goes through one callback into the gateway's log, at the
 * gateway's log level.
 *
 * Which user properties reach which client: librdkafka's own property
 * table (rd_kafka_conf_properties_show) says whether a key is for
 * producers (P), consumers (C) or both (*).  Every client gets the `*`
 * keys: the connection settings (security.protocol, sasl.*, ssl.*,
 * socket.*, client.id, broker.address.family, debug, ...), so a secured
 * or remote cluster is reached by every client the same way.  Producers
 * also get the P keys, consumers also the C keys; a key of the other
 * side is left out without a warning (linger.ms does not concern the
 * actuator consumer).  A key librdkafka does not know reaches every
 * client and is refused by it.  The mock host takes no user property.
 *
 * Refused keys (reserved ones, or values librdkafka rejects) are all
 * reported, one line each in eb: `kafka.properties.KEY: <reason>` (or
 * `-X KEY: ...` for overrides), and for what the gateway sets itself our
 * own key name (`kafka.bootstrap: ...`).  The return is then SG_ECONFIG.
 *
 * Ownership: sg_kafka_new() builds the rd_kafka_conf_t and hands it to
 * librdkafka (on failure it destroys it); the caller owns the returned
 * handle and destroys it (rd_kafka_consumer_close() first for a
 * consumer, then rd_kafka_destroy()).  Strings and maps in opts are
 * borrowed for the call only.  Thread-safe: any thread may call these.
 */
#ifndef SG_KAFKA_CLIENT_H
#define SG_KAFKA_CLIENT_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdint.h>

#include "gateway/base/err.h"
#include "gateway/config/table.h"

enum sg_kafka_kind {
	SG_KAFKA_PRODUCER,     /* at_least_once: idempotent, acks=all */
	SG_KAFKA_PRODUCER_TXN, /* exactly_once: idempotent + transactional.id */
	SG_KAFKA_CONSUMER,     /* read_committed, offsets committed by the caller */
	SG_KAFKA_MOCK_HOST,    /* hosts rd_kafka_mock_cluster_new(); connects nowhere */
};

struct sg_kafka_opts {
	enum sg_kafka_kind kind;
	const char *who;                /* names the client in errors: "producer", "sink" */
	const char *bootstrap;          /* host:port,...; required except for MOCK_HOST */
	const char *bootstrap_key;      /* our name for it in errors (default kafka.bootstrap) */
	const char *client_id;          /* client.id (default "sensorgate"); a user key wins */
	const struct sg_cfg_map *props; /* kafka.properties, or NULL */
	const struct sg_cfg_map *overrides; /* -X KEY=VALUE, applied after props, or NULL */
	bool quiet;                         /* librdkafka logs errors only (live view) */

	/* producers */
	const char *transactional_id; /* PRODUCER_TXN: required */
	const char *txn_id_key;       /* our name for it in errors (default gateway.id) */
	int64_t max_queued;           /* queue.buffering.max.messages; 0: librdkafka's */
	const char *max_queued_key;   /* our name for it (default kafka.max_in_flight) */
	void (*dr_msg_cb)(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque);

	/* consumers */
	const char *group;           /* group.id: required */
	const char *group_key;       /* the option that sets it (sink: "-g"), or NULL */
	bool from_beginning;         /* auto.offset.reset earliest (else latest) */
	bool partition_eof;          /* enable.partition.eof */
	int64_t session_timeout_ms;  /* 0: librdkafka's default */
	int64_t metadata_refresh_ms; /* topic.metadata.refresh.interval.ms; 0: default */

	/* every kind */
	void (*error_cb)(rd_kafka_t *rk, int err, const char *reason, void *opaque);
	void *opaque; /* for dr_msg_cb and error_cb */
};

/*
 * Build the configuration for o and create the client.  Consumers are
 * set up for rd_kafka_consumer_poll() (the main queue is redirected).
 * SG_OK with *out set; SG_ECONFIG (refused properties, every one in eb);
 * SG_EKAFKA (librdkafka could not create the client).
 */
int sg_kafka_new(const struct sg_kafka_opts *o, rd_kafka_t **out, struct sg_errbuf *eb);

/* Build the configuration for o and throw it away: what `check` runs.
 * SG_OK or SG_ECONFIG with every refused key in eb. */
int sg_kafka_check(const struct sg_kafka_opts *o, struct sg_errbuf *eb);

/* Consumer: subscribe to topics (names, or regexes starting with ^).
 * SG_OK or SG_EKAFKA with eb set. */
int sg_kafka_subscribe(rd_kafka_t *rk, const char *const *topics, size_t n, struct sg_errbuf *eb);

/* Which clients a librdkafka property is for: '*' (all), 'P'
 * (producers), 'C' (consumers), or 0 if librdkafka does not know it. */
char sg_kafka_prop_scope(const char *key);

/* The gateway log level for a librdkafka (syslog, 0-7) level: 0-3
 * error, 4 warning, 5 notice and 6 info are info, 7 debug. */
int sg_kafka_log_level(int syslog_level);

#endif
