/*
 * mqtt.h - internals shared by the files of the MQTT driver:
 *
 *   mqtt.c      the driver: client lifecycle, reconnect, the poll seam;
 *   mqtt_conf.c the config key tables and their cross-key checks;
 *   message.c   one MQTT message -> one reading (rules, payload modes,
 *               dead letters);
 *   rules.c     MQTT topic filters and the {N} topic-level templates;
 *   jsonptr.c   a small validating JSON parser with RFC 6901 pointers;
 *   probe.c     a non-blocking TCP connect that bounds the broker connect;
 *   simpublisher.c  `sensorgate sim mqtt`, the synthetic publisher.
 *
 * Nothing here is used outside drivers/mqtt/ except by the unit tests.
 */
#ifndef SG_MQTT_H
#define SG_MQTT_H

#include <mosquitto.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/base/buf.h"
#include "gateway/base/clock.h"
#include "gateway/base/log.h"
#include "gateway/base/mem.h"
#include "drivers/driver.h"

/* --- topic filters and templates (rules.c) ---------------------------- */

#define MQ_MAX_LEVELS 64

/* A topic split at '/': levels point into buf (not NUL-terminated). */
struct mq_levels {
	const char *lv[MQ_MAX_LEVELS];
	size_t len[MQ_MAX_LEVELS];
	int n; /* -1 if the topic has more than MQ_MAX_LEVELS levels */
};
void mq_levels_split(const char *topic, struct mq_levels *out);

/* SG_OK if F is a valid MQTT subscription filter, else SG_EINVAL with a
 * reason in eb. */
int mq_filter_valid(const char *f, struct sg_errbuf *eb);
/* True if TOPIC (a publish topic) matches filter F (MQTT 3.1.1 / 5 rules,
 * including "a/#" matching "a" and $-topics not matching leading
 * wildcards). */
bool mq_filter_match(const char *f, const char *topic);
/* True if some topic matches both filters. */
bool mq_filter_overlap(const char *a, const char *b);

/* Template flavours: a Kafka topic (only [A-Za-z0-9._-] survive, others
 * become '_') or free text (keys, sensor ids). */
enum mq_tmpl_kind { MQ_TMPL_TOPIC, MQ_TMPL_TEXT };
/* Validate a template: `{N}` (topic level N, 0 = first), `{topic}` (the
 * whole MQTT topic) and literal text; `{{` and `}}` are literal braces. */
int mq_tmpl_valid(const char *t, enum mq_tmpl_kind kind, struct sg_errbuf *eb);
/* Expand into out (NUL-terminated).  SG_EINVAL if a level is missing or
 * the result does not fit (or is empty); reason in eb. */
int mq_tmpl_expand(const char *t, enum mq_tmpl_kind kind, const char *topic,
		   const struct mq_levels *lv, char *out, size_t outsz, struct sg_errbuf *eb);

/* --- JSON (jsonptr.c) -------------------------------------------------- */

enum mq_jtype { MQ_J_NULL, MQ_J_BOOL, MQ_J_NUM, MQ_J_STR, MQ_J_ARR, MQ_J_OBJ };

struct mq_jval {
	enum mq_jtype type;
	const char *p; /* the value's text in the document */
	size_t len;
};

#define MQ_JSON_MAX_DEPTH 64

/* A parsed RFC 6901 pointer: decoded segments ("~1" -> "/", "~0" -> "~"). */
struct mq_jptr {
	char **seg;
	size_t n;
};
int mq_jptr_parse(const char *s, struct mq_jptr *out, struct sg_errbuf *eb);
void mq_jptr_free(struct mq_jptr *p);

/* Validate the whole document DOC and find the value at PTR.
 * SG_OK: *out is set.  SG_ENOTFOUND: valid JSON, no such value.
 * SG_EINVAL: not valid JSON (reason with byte offset in eb). */
int mq_json_find(const char *doc, size_t len, const struct mq_jptr *ptr, struct mq_jval *out,
		 struct sg_errbuf *eb);
/* Validate only. */
int mq_json_valid(const char *doc, size_t len, struct sg_errbuf *eb);
/* Decode a string value into b (appended, not NUL-terminated unless the
 * caller adds one).  SG_EINVAL on a bad escape. */
int mq_json_str(const struct mq_jval *v, struct sg_buf *b);
/* A number value as a reading value: INT when it is an integer literal
 * that fits, DOUBLE otherwise. */
int mq_json_num(const struct mq_jval *v, struct sg_value *out);
/* RFC 3339 date-time ("2024-05-01T12:00:00.5Z", "+02:00") to ns. */
int mq_time_parse(const char *s, size_t len, int64_t *ns);

/* --- configuration (mqtt_conf.c) --------------------------------------- */

enum mq_proto { MQ_PROTO_311, MQ_PROTO_5 };
enum mq_payload { MQ_PAYLOAD_RAW, MQ_PAYLOAD_JSON };
enum mq_retained { MQ_RET_FORWARD, MQ_RET_SKIP };
enum mq_tunit { MQ_TU_S, MQ_TU_MS, MQ_TU_US, MQ_TU_NS };

struct mq_sub_conf {
	char *filter;
	int64_t qos;
};

struct mq_rule_conf {
	char *filter;
	char *topic;  /* Kafka topic template; NULL = the source's topic */
	char *key;    /* key template; NULL = the sensor id */
	char *sensor; /* sensor id template; NULL = the MQTT topic */
	int payload;  /* enum mq_payload */
	int retained; /* enum mq_retained */
	char *content_type;
	char *value, *time, *unit, *sensor_ptr; /* JSON pointers */
	int time_unit;                          /* enum mq_tunit */
};

struct mq_conf {
	char *host;
	int64_t port;
	int protocol;
	char *client_id;
	bool clean_session;
	int64_t session_expiry_ms;
	int64_t keepalive_ms;
	char *username;
	char *password;
	bool tls;
	char *ca_file, *ca_path, *cert_file, *key_file;
	bool tls_insecure;
	int64_t qos;
	struct sg_cfg_list subscriptions; /* of struct mq_sub_conf */
	struct sg_cfg_list rules;         /* of struct mq_rule_conf */
	char *dead_letter_topic;
	int64_t max_payload;
	int64_t reconnect_min_ms, reconnect_max_ms, connect_timeout_ms;
	int64_t receive_maximum;
};

extern const struct sg_cfg_table mq_conf_table;

/* --- message mapping (message.c) --------------------------------------- */

/* What the mapper needs to know about one received message. */
struct mq_msg {
	const char *topic;
	const void *payload;
	size_t len;
	int qos;
	bool retain;
	const char *content_type;       /* v5 property, or NULL */
	const struct sg_header *uprops; /* v5 user properties as headers */
	size_t nuprops;
};

/* A rule with its JSON pointers parsed. */
struct mq_rule {
	const struct mq_rule_conf *c;
	struct mq_jptr value, time, unit, sensor;
};

/* Per-source mapping state, counters and the emit seam (tests replace
 * emit and leave src NULL). */
struct mq_map {
	struct sg_source *src;
	const struct mq_conf *c;
	struct mq_rule *rules;
	size_t nrules;
	const char *name;
	int (*emit)(struct sg_source *src, const struct sg_reading *rd);
	struct sg_counter *m_msgs, *m_bad, *m_dead, *m_unmatched, *m_skipped_retained, *m_lost;
	int last_rc; /* the last emit's result: SG_EIO etc. stop reading */
	/* Rate limiters per instance, so one noisy source mutes only itself. */
	struct sg_log_rl rl_lost, rl_bad, rl_map;
};

/* Compile the rules of c.  Main thread (driver init). */
int mq_map_init(struct mq_map *m, struct sg_source *src, const char *name, const struct mq_conf *c,
		struct sg_errbuf *eb);
void mq_map_fini(struct mq_map *m);
/* Log the counters in one line (at stop). */
void mq_map_summary(const struct mq_map *m);
/* Map and emit one message.  Returns the emit result that matters for
 * flow control: SG_OK (stored, dropped by policy, dead-lettered or counted
 * as bad), or SG_EIO / SG_ENOSPC / SG_ESTOPPING when it was not stored. */
int mq_map_message(struct mq_map *m, const struct mq_msg *msg);

/* --- the driver and its library seam (mqtt.c) ---------------------------- */

/* The libmosquitto calls that do I/O or change the connection, so driver
 * tests can run the real driver against a fake (tests/unit). */
struct mq_lib {
	int (*connect)(struct mosquitto *mosq, const char *host, int port, int keepalive,
		       const mosquitto_property *props);
	int (*subscribe)(struct mosquitto *mosq, int *mid, const char *sub, int qos, int opts);
	int (*disconnect)(struct mosquitto *mosq);
	int (*loop_read)(struct mosquitto *mosq);
	int (*loop_write)(struct mosquitto *mosq);
	int (*loop_misc)(struct mosquitto *mosq);
	int (*socket)(struct mosquitto *mosq);
	bool (*want_write)(struct mosquitto *mosq);
};
extern const struct mq_lib mq_lib_real;

/* A non-blocking TCP connect before libmosquitto's blocking one (probe.c).
 * start/check return SG_OK (reachable), SG_EAGAIN (poll fd for POLLOUT
 * until deadline_ns) or SG_ERR (mq_probe_strerror says why). */
struct addrinfo;
struct mq_probe {
	struct addrinfo *ai, *cur;
	int fd, err, eai;
	int64_t deadline_ns;
};
int mq_probe_start(struct mq_probe *p, const char *host, int port, int64_t now, int64_t timeout_ns);
int mq_probe_check(struct mq_probe *p, short revents, int64_t now, int64_t timeout_ns);
void mq_probe_close(struct mq_probe *p);
const char *mq_probe_strerror(const struct mq_probe *p);

enum mq_state { MQ_DOWN, MQ_PROBING, MQ_CONNECTING, MQ_UP };

struct mq {
	struct sg_source *src;
	const struct mq_conf *c;
	const char *name;
	const struct mq_lib *lib;
	struct mosquitto *mosq;
	mosquitto_property *props; /* CONNECT properties (MQTT 5) */
	char client_id[256];
	struct mq_map map;
	enum mq_state st;
	struct mq_probe probe;
	int64_t next_try_ns, connect_ns, next_misc_ns, now_ns;
	int attempts;
	uint64_t rng, delivered;
	int *sub_mids;
	struct sg_counter *m_connects, *m_conn_fail;
	struct sg_log_rl rl_uprops; /* per instance, like mq_map's */
};

/* The driver's constructor (init without the core: src may be NULL) and
 * callbacks; sg_driver_mqtt wraps them. */
int mq_new(struct sg_source *src, const char *name, const struct mq_conf *c,
	   const struct mq_lib *lib, struct mq **out, struct sg_errbuf *eb);
int mq_start(void *state, struct sg_errbuf *eb);
int mq_step(void *state, struct sg_wait *w);
void mq_stop(void *state);
void mq_fini(void *state);
/* libmosquitto callbacks (the fake calls them as the library would). */
void mq_cb_connect(struct mosquitto *mosq, void *ud, int rc, int flags,
		   const mosquitto_property *props);
void mq_cb_subscribe(struct mosquitto *mosq, void *ud, int mid, int n, const int *granted,
		     const mosquitto_property *props);
void mq_cb_message(struct mosquitto *mosq, void *ud, const struct mosquitto_message *mm,
		   const mosquitto_property *props);

/* `sensorgate sim mqtt` (simpublisher.c). */
int sg_sim_mqtt(int argc, char **argv);

#endif
