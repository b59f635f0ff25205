/*
 * client.h - the one constructor of every librdkafka client sensorgate
 * makes: the idempotent producer (at_least_once), the transactional
 * producer (exactly_once), the consumers (sink, actuator commands, the
 * live view's tail, the exactly_once checkpoint reader) and the handle
 * that hosts the embedded mock cluster.
 *
 * In one place it applies, in this order: our defaults for the kind, the
 * kafka.security section (TLS, SASL, mTLS: security.h), the user's
 * pass-through properties (kafka.properties, then the command line's -X),
 * and last what the kind guarantees (bootstrap, idempotence, acks,
 * transactional id, consumer group and offset handling), so nothing the
 * user writes can weaken a guarantee; keys that would are refused.  A
 * property that kafka.security sets and kafka.properties sets again is
 * refused (which one meant it?); -X overrides both.  A mechanism or TLS
 * this librdkafka build lacks is refused with the feature it lacks.
 * Logging goes through one callback into the gateway's log, at the
 * gateway's log level.
 *
 * Errors: a client whose caller gives no error_cb gets the layer's own,
 * and a caller's error_cb may hand its errors to sg_kafka_error_note():
 * each error is counted in kafka_errors{error="NAME"} and logged once per
 * change with the broker's reason (a wrong password retried every few
 * seconds is one line, not one a retry); sg_kafka_error_clear() logs the
 * recovery once.
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
#include "gateway/config/conf.h"

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
	const struct sg_cfg_map *overrides;       /* -X KEY=VALUE, applied after props, or NULL */
	const struct sg_kafka_security *security; /* kafka.security, or NULL */
	const char *security_key; /* our name for it in errors (default kafka.security) */
	bool quiet;               /* librdkafka logs errors only (live view) */

	/* producers */
	const char *transactional_id; /* PRODUCER_TXN: required */
	const char *txn_id_key;       /* our name for it in errors (default gateway.id) */
	int64_t max_queued;           /* queue.buffering.max.messages; 0: librdkafka's */
	const char *max_queued_key;   /* our name for it (default kafka.max_in_flight) */
	int64_t max_queued_kbytes;    /* queue.buffering.max.kbytes; 0: librdkafka's */
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
	/* librdkafka's statistics (JSON) every stats_interval_ms; return 0. */
	int (*stats_cb)(rd_kafka_t *rk, char *json, size_t len, void *opaque);
	int64_t stats_interval_ms;
	void *opaque; /* for dr_msg_cb, error_cb and stats_cb */
};

/* One client's error state for sg_kafka_error_note(): zero it before use.
 * Used by one thread at a time (the one serving the client's callbacks). */
struct sg_kafka_errlog {
	int err;          /* the last error logged; 0: none */
	char reason[256]; /* and its reason, without librdkafka's counters */
	char name[128];   /* the client's name (rd_kafka_name: client.id#kind-N) */
	bool failing;     /* an error was logged and no recovery since */
};

/* The timer slack of librdkafka's threads (client.c, kc_new_slack). */
#define SG_KAFKA_TIMER_SLACK_NS 1000000UL

/*
 * Build the configuration for o and create the client.  Consumers are
 * set up for rd_kafka_consumer_poll() (the main queue is redirected).
 * SG_OK with *out set; SG_ECONFIG (refused properties, every one in eb);
 * SG_EKAFKA (librdkafka could not create the client).  librdkafka's
 * threads run with SG_KAFKA_TIMER_SLACK_NS of timer slack, the caller's
 * thread keeps its own.
 */
int sg_kafka_new(const struct sg_kafka_opts *o, rd_kafka_t **out, struct sg_errbuf *eb);

/* Build the configuration for o and throw it away: what `check` runs.
 * SG_OK or SG_ECONFIG with every refused key in eb. */
int sg_kafka_check(const struct sg_kafka_opts *o, struct sg_errbuf *eb);

/* Consumer: subscribe to topics (names, or regexes starting with ^).
 * SG_OK or SG_EKAFKA with eb set. */
int sg_kafka_subscribe(rd_kafka_t *rk, const char *const *topics, size_t n, struct sg_errbuf *eb);

/* An error from client rk's error callback: count it in
 * kafka_errors{error="NAME"} and log it, named by the client's name
 * (warning; error for authentication, TLS and authorization failures),
 * unless it repeats the last one logged for l. */
void sg_kafka_error_note(struct sg_kafka_errlog *l, const rd_kafka_t *rk, int err,
			 const char *reason);
/* The client works again (a broker is connected): one info line if an
 * error was logged since the last recovery. */
void sg_kafka_error_clear(struct sg_kafka_errlog *l);
/* True for errors that configuration (credentials, certificates, ACLs)
 * causes and only configuration fixes. */
bool sg_kafka_err_is_auth(int err);

/* Which clients a librdkafka property is for: '*' (all), 'P'
 * (producers), 'C' (consumers), or 0 if librdkafka does not know it. */
char sg_kafka_prop_scope(const char *key);

/* The gateway log level for a librdkafka (syslog, 0-7) level: 0-3
 * error, 4 warning, 5 notice and 6 info are info, 7 debug. */
int sg_kafka_log_level(int syslog_level);

#endif
