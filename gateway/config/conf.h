/*
 * conf.h - the gateway's configuration: the structs filled from YAML by
 * the tables in keys.c, and the loader.
 *
 * sg_conf_load() parses FILE into *conf; on any error it returns
 * SG_ECONFIG and *errors holds one "FILE:LINE:COL: key.path: what" line
 * per problem (caller frees).  sg_conf_free() releases everything.
 */
#ifndef SG_CONF_H
#define SG_CONF_H

#include <stdbool.h>
#include <stdint.h>

#include "table.h"

struct sg_driver;

enum sg_when_full { SG_FULL_BLOCK, SG_FULL_DROP_OLDEST, SG_FULL_DROP_NEWEST };
enum sg_delivery { SG_DELIVERY_AT_LEAST_ONCE, SG_DELIVERY_EXACTLY_ONCE };
/* kafka.format, and schema_registry.{subject_strategy,key_format}. */
enum sg_kafka_format { SG_FORMAT_JSON, SG_FORMAT_AVRO };
enum sg_subject_strategy { SG_SUBJECT_TOPIC, SG_SUBJECT_RECORD };
enum sg_key_format { SG_KEY_STRING, SG_KEY_AVRO };
/* spool.fsync special values (stored as negative numbers). */
#define SG_FSYNC_ALWAYS (-1)
#define SG_FSYNC_NEVER  (-2)

struct sg_gw_conf {
	char *id;
	int log_level;
	int64_t shutdown_timeout_ms;
	int64_t status_interval_ms;
};

struct sg_spool_conf {
	char *dir;
	int64_t fsync_ms; /* > 0: group commit interval; or SG_FSYNC_* */
	int64_t max_bytes;
	int64_t segment_bytes;
	int when_full; /* enum sg_when_full */
	int64_t ack_interval_ms;
	int64_t max_record_bytes;
};

/* kafka.security: how every Kafka client of the gateway connects (the
 * client layer turns it into librdkafka properties, gateway/kafka/
 * security.h).  Secrets (password, key_password, oauth_client_secret)
 * come only from `file:` or `${ENV}` and are never printed. */
enum sg_kafka_proto {
	SG_KPROTO_AUTO, /* from the other keys: sasl_ssl, ssl, or librdkafka's */
	SG_KPROTO_PLAINTEXT,
	SG_KPROTO_SSL,
	SG_KPROTO_SASL_PLAINTEXT,
	SG_KPROTO_SASL_SSL,
};
enum sg_kafka_sasl {
	SG_KSASL_NONE,
	SG_KSASL_PLAIN,
	SG_KSASL_SCRAM_SHA_256,
	SG_KSASL_SCRAM_SHA_512,
	SG_KSASL_OAUTHBEARER, /* OIDC client credentials */
};
struct sg_kafka_security {
	int protocol;       /* enum sg_kafka_proto */
	int sasl_mechanism; /* enum sg_kafka_sasl */
	char *username;
	char *password; /* secret */
	char *ca_file;
	char *certificate;
	char *key;
	char *key_password; /* secret */
	bool verify_hostname;
	char *oauth_token_endpoint;
	char *oauth_client_id;
	char *oauth_client_secret; /* secret */
	char *oauth_scope;
};

struct sg_kafka_conf {
	char *bootstrap; /* "embedded" or host:port,... */
	int delivery;
	int format;  /* enum sg_kafka_format */
	char *topic; /* template: {gateway} {source} {sensor} */
	struct sg_cfg_map properties;
	int64_t max_in_flight;
	int64_t max_in_flight_bytes;
	int64_t batch_wait_ms;
	int64_t embedded_brokers;
	char *checkpoint_topic;
	int64_t txn_max_records;
	int64_t txn_interval_ms;
	int64_t embedded_partitions;
	struct sg_kafka_security security;
};

struct sg_view_conf {
	int mode; /* auto, live, lines, off */
	int64_t interval_ms;
	int64_t tail;
};

struct sg_act_conf {
	char *topic; /* NULL/empty: no command consumer */
	int64_t max_age_ms;
};

/* schema_registry: the Schema Registry of kafka.format avro (gateway/schema/). */
struct sg_registry_conf {
	char *url; /* base URL, e.g. http://host:8081 */
	char *username;
	char *password;       /* secret */
	char *ca_file;        /* PEM bundle for https; NULL: the system's */
	int subject_strategy; /* enum sg_subject_strategy */
	bool auto_register;
	int key_format;    /* enum sg_key_format */
	char *schema_file; /* NULL: the built-in event schema */
	int64_t timeout_ms;
	int64_t retry_max_ms;
};

enum sg_log_format_conf { SG_LOGFMT_AUTO, SG_LOGFMT_TEXT, SG_LOGFMT_JOURNAL, SG_LOGFMT_JSON };
struct sg_log_conf {
	int format; /* enum sg_log_format_conf */
};

struct sg_http_conf {
	bool enabled;
	char *address;
	int64_t port;
	int64_t max_connections;
	int64_t timeout_ms;
	int64_t stall_ms;          /* /health: a loop silent this long is stalled */
	int64_t ready_high_water;  /* /ready: spool fill in percent of max_bytes */
	int64_t ready_max_age_ms;  /* /ready: oldest undelivered record at most this old */
	int64_t delivery_stall_ms; /* /health: records in flight at most this old */
};

struct sg_source_conf {
	char *name;
	char *driver;
	char *topic; /* NULL: kafka.topic */
	bool enabled;
	const struct sg_driver *drv;
	void *dconf; /* the driver's struct, drv->conf->size bytes */
	struct sg_cfg_pos pos;
};

struct sg_conf {
	struct sg_gw_conf gateway;
	struct sg_spool_conf spool;
	struct sg_kafka_conf kafka;
	struct sg_cfg_list sources; /* of struct sg_source_conf */
	struct sg_view_conf view;
	struct sg_act_conf actuators;
	struct sg_http_conf http;
	struct sg_log_conf log;
	struct sg_registry_conf schema_registry;
};

extern const struct sg_cfg_table sg_conf_table;
extern const struct sg_cfg_table sg_spool_table;
extern const struct sg_cfg_table sg_kafka_security_table; /* keys_security.c */
/* The YAML words of enum sg_kafka_proto and enum sg_kafka_sasl values. */
const char *sg_kafka_proto_name(int protocol);
const char *sg_kafka_sasl_name(int mechanism);

int sg_conf_load(const char *file, struct sg_conf *conf, char **errors);
void sg_conf_free(struct sg_conf *conf);
/* A source's effective settings as text (its keys, its driver's keys, the
 * topic template it uses): two sources with equal fingerprints produce the
 * same events.  Caller frees; NULL when out of memory.  Reload compares
 * them to find the sources that changed; secrets are digests there, so a
 * changed password is a change. */
char *sg_conf_source_fingerprint(const struct sg_conf *c, const struct sg_source_conf *sc);
/* Markdown for every table, drivers included (docs/config.md). */
void sg_conf_doc(FILE *fp);
/* Kafka's longest topic name. */
#define SG_TOPIC_MAX 249
/* Expand a topic template into out (cut to outsz - 1 bytes).  Returns the
 * length of the whole expansion, like snprintf: more than SG_TOPIC_MAX
 * is a topic Kafka refuses, never to be cut. */
size_t sg_topic_expand(const char *tmpl, const char *gw, const char *source, const char *sensor,
		       char *out, size_t outsz);

#endif
