/*
 * mqtt.h - internals shared by the files of the MQTT driver:
 *
 *   mqtt.c       the driver: client lifecycle, reconnect, the poll seam;
 *   mqtt_conf.c  the config key tables and their cross-key checks;
 *   rules_check.c  checks across rules: shadowed rules, unsubscribed ones;
 *   message.c    one MQTT message -> the events of every rule that takes
 *                it, appended together, or one dead letter;
 *   batch.c      the messages of one read pass appended in one batch,
 *                their acknowledgements held until it is stored;
 *   fanout.c     one rule applied to one message: raw, one value, a list
 *                of fields or a wildcard over the JSON document;
 *   devtime.c    event time from the device (RFC 3339, epoch numbers);
 *   rules.c      MQTT topic filters and the {N}/{field} templates;
 *   json.c       a validating JSON parser that builds a token tape;
 *   jsonptr.c    RFC 6901 pointers, wildcard walks and values on the tape;
 *   probe.c      a non-blocking TCP connect that bounds the broker connect;
 *   simpublisher.c  `sensorgate sim mqtt`, the synthetic publisher.
 *
 * Nothing here is used outside drivers/mqtt/ except by the tests.
 * Threads: everything runs on the source's own thread, except the config
 * tables and checks (main thread, before the source starts).
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
/* The same with both already split (fl from f, tl from topic). */
bool mq_filter_match_lv(const char *f, const struct mq_levels *fl, const char *topic,
			const struct mq_levels *tl);
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

/* Like mq_tmpl_expand; `{field}` becomes field (NULL: a template that
 * names {field} is an error). */
int mq_tmpl_expand_field(const char *t, enum mq_tmpl_kind kind, const char *topic,
			 const struct mq_levels *lv, const char *field, char *out, size_t outsz,
			 struct sg_errbuf *eb);
/* A template compiled once per rule: a literal one is expanded at
 * compile time (plan LITERAL, the result in lit); a free-text "{topic}"
 * is the MQTT topic itself (plan TOPIC); the others are expanded for
 * every event (plan EXPAND).  t NULL: no template (plan EXPAND). */
enum mq_tplan { MQ_TP_EXPAND, MQ_TP_LITERAL, MQ_TP_TOPIC };
struct mq_tmpl {
	const char *t;
	enum mq_tmpl_kind kind;
	enum mq_tplan plan;
	char *lit;
	size_t lit_len;
};
void mq_tmpl_compile(struct mq_tmpl *c, const char *t, enum mq_tmpl_kind kind);
void mq_tmpl_free(struct mq_tmpl *c);
/* True if template t names {field}. */
bool mq_tmpl_uses_field(const char *t);
/* True if every topic that matches filter b also matches filter a. */
bool mq_filter_covers(const char *a, const char *b);

/* --- JSON: the tape parser (json.c) ---------------------------------- */

enum mq_jtype { MQ_J_NULL, MQ_J_BOOL, MQ_J_NUM, MQ_J_STR, MQ_J_ARR, MQ_J_OBJ };

/* A value's text in the document (a string with its quotes). */
struct mq_jval {
	enum mq_jtype type;
	const char *p;
	size_t len;
};

#define MQ_JSON_MAX_DEPTH 64
#define MQ_JSON_MAX_LEN   268435455 /* the largest max_payload */
#define MQ_JSON_MAX_NUM   512       /* longest number literal taken as a value */

/* Why a document was refused (a bounded label set for counters). */
enum mq_jerr {
	MQ_JERR_NONE,
	MQ_JERR_SYNTAX,
	MQ_JERR_DEPTH,
	MQ_JERR_UTF8,
	MQ_JERR_DUP,
	MQ_JERR_NONFINITE,
	MQ_JERR_NOMEM,
};
const char *mq_jerr_name(enum mq_jerr e);

#define MQ_JT_KEY 1 /* a member name */
#define MQ_JT_ESC 2 /* a string with backslash escapes */

/* One value or member name.  An object's tokens are: the object, then
 * for each member its name and its value's subtree; an array's: the array,
 * then each element's subtree.  `next` is the index after the subtree. */
struct mq_jtok {
	uint32_t off, len; /* the text, in bytes of the document */
	uint32_t next;
	uint8_t type; /* enum mq_jtype */
	uint8_t flags;
};

/* A parsed document: borrows the payload; tokens are reused from one
 * parse to the next.  Token 0 is the whole document. */
struct mq_jdoc {
	const char *s;
	size_t len;
	struct mq_jtok *t;
	size_t n, cap;
	bool allow_dups; /* false: a repeated member name is an error */
	enum mq_jerr err;
	size_t err_off;
	void *keys; /* scratch for the duplicate check */
	size_t kcap;
	struct sg_buf kbuf;
};
void mq_jdoc_init(struct mq_jdoc *d);
void mq_jdoc_free(struct mq_jdoc *d);
/* Parse and validate doc[0..len).  SG_OK; SG_EINVAL with d->err, d->err_off
 * and "invalid JSON at byte N: what" in eb; SG_ENOMEM. */
int mq_jdoc_parse(struct mq_jdoc *d, const char *doc, size_t len, struct sg_errbuf *eb);

/* --- JSON: pointers and values (jsonptr.c) ---------------------------- */

/* A parsed RFC 6901 pointer: decoded segments ("~1" -> "/", "~0" -> "~"),
 * their lengths, and each one's array index (-1 if it is not one). */
struct mq_jptr {
	char **seg;
	size_t *len;
	long *idx;
	size_t n;
};
int mq_jptr_parse(const char *s, struct mq_jptr *out, struct sg_errbuf *eb);
void mq_jptr_free(struct mq_jptr *p);

/* The token at pointer p below token root: SG_OK (*tok set) or
 * SG_ENOTFOUND. */
int mq_jdoc_get(const struct mq_jdoc *d, size_t root, const struct mq_jptr *p, size_t *tok);
struct mq_jval mq_jdoc_val(const struct mq_jdoc *d, size_t tok);

/* A number or bool leaf found by mq_jdoc_leaves(): name is its path below
 * the root (member names and indices joined by the separator), last its
 * own member name or index; both valid only during the callback. */
struct mq_leaf {
	size_t tok;
	const char *name;
	size_t name_len;
	const char *last;
	size_t last_len;
};
typedef int (*mq_leaf_fn)(void *arg, const struct mq_leaf *lf);
/* Call fn for every number and bool below root, in document order, until
 * it returns non-zero (returned).  path is scratch for the names. */
int mq_jdoc_leaves(const struct mq_jdoc *d, size_t root, char sep, struct sg_buf *path,
		   mq_leaf_fn fn, void *arg);

/* One-shot: validate the whole document DOC and find the value at PTR
 * (NULL: validate only); duplicate member names are allowed here and the
 * first one wins.  SG_OK: *out is set.  SG_ENOTFOUND: valid JSON, no such
 * value.  SG_EINVAL: not valid JSON (reason with byte offset in eb). */
int mq_json_find(const char *doc, size_t len, const struct mq_jptr *ptr, struct mq_jval *out,
		 struct sg_errbuf *eb);
/* Validate only. */
int mq_json_valid(const char *doc, size_t len, struct sg_errbuf *eb);
/* Decode a string value into b (appended, not NUL-terminated unless the
 * caller adds one).  SG_EINVAL on a bad escape. */
int mq_json_str(const struct mq_jval *v, struct sg_buf *b);
/* A number value as a reading value: INT when it is an integer literal
 * that fits int64, UINT when it fits uint64, DOUBLE otherwise.  SG_EINVAL
 * for a literal longer than MQ_JSON_MAX_NUM or beyond a double (1e400;
 * out->d is then infinite). */
int mq_json_num(const struct mq_jval *v, struct sg_value *out);

/* --- device time (devtime.c) ------------------------------------------ */

/* RFC 3339 date-time ("2024-05-01T12:00:00.5Z", "+02:00") to ns. */
int mq_time_parse(const char *s, size_t len, int64_t *ns);
/* The same; a date-time without an offset takes *naive_off seconds (east
 * of UTC) when naive_off is not NULL, else it is SG_EINVAL. */
int mq_time_parse_off(const char *s, size_t len, const int32_t *naive_off, int64_t *ns);
/* "Z", "+02:00", "-05:30" to seconds east of UTC. */
int mq_offset_parse(const char *s, size_t len, int32_t *sec);
/* A number of time units (enum mq_tunit) since the epoch to ns.  SG_EINVAL
 * unless positive and before 2262. */
int mq_time_from_num(const struct sg_value *v, int unit, int64_t *ns);
/* The same from a number's JSON text, plain decimals converted exactly
 * (no detour through a double). */
int mq_time_from_text(const char *p, size_t n, int unit, int64_t *ns);

#define MQ_TIME_MIN_NS (946684800LL * SG_NS_PER_S) /* 2000-01-01: older is a clock not set */

enum mq_tfail { MQ_TF_OK, MQ_TF_MISSING, MQ_TF_UNPARSABLE, MQ_TF_FUTURE, MQ_TF_PAST };
#define MQ_TF_N 5
/* Plausible?  max_future_ns 0 = no bound on the future. */
enum mq_tfail mq_time_check(int64_t ns, int64_t now_ns, int64_t max_future_ns);
const char *mq_tfail_name(enum mq_tfail f);

/* --- configuration (mqtt_conf.c, rules_check.c) ------------------------ */

enum mq_proto { MQ_PROTO_311, MQ_PROTO_5 };
enum mq_payload { MQ_PAYLOAD_RAW, MQ_PAYLOAD_JSON };
enum mq_retained { MQ_RET_FORWARD, MQ_RET_SKIP };
enum mq_tunit { MQ_TU_S, MQ_TU_MS, MQ_TU_US, MQ_TU_NS, MQ_TU_AUTO };
enum mq_ftype { MQ_FT_AUTO, MQ_FT_NUMBER, MQ_FT_BOOL, MQ_FT_STRING };
enum mq_badtime { MQ_BT_ARRIVAL, MQ_BT_DEAD_LETTER };
enum mq_empty { MQ_EMPTY_DEAD_LETTER, MQ_EMPTY_SKIP };

struct mq_sub_conf {
	char *filter;
	int64_t qos;
};

/* One entry of a rule's `fields`: one event per message. */
struct mq_field_conf {
	char *id;           /* {field} in the templates */
	char *pointer;      /* where the value is */
	char *unit;         /* literal unit */
	char *unit_pointer; /* or where the unit is in the message */
	int type;           /* enum mq_ftype */
	bool optional;      /* missing: no event (else the message is bad) */
};

/* A rule.  Zero-initialised fields mean the defaults, so tests can write
 * rules as designated initialisers. */
struct mq_rule_conf {
	char *filter;
	bool cont;                    /* `continue`: later rules see the message too */
	char *if_pointer, *if_equals; /* a condition on the payload */
	char *topic;                  /* Kafka topic template; NULL = the source's topic */
	char *key;                    /* key template; NULL = the sensor id */
	char *sensor;                 /* sensor id template; NULL = MQ_SENSOR_DEFAULT(_FIELD) */
	int payload;                  /* enum mq_payload */
	int retained;                 /* enum mq_retained */
	char *content_type;
	char *value, *unit, *sensor_ptr; /* JSON pointers, one-value form (value NULL: /value) */
	struct sg_cfg_list fields;       /* of struct mq_field_conf */
	char *wildcard;                  /* JSON pointer: every number/bool below it */
	char *field_separator;           /* wildcard names; NULL = "." */
	struct sg_cfg_strlist exclude;   /* wildcard leaves left out */
	struct sg_cfg_map units;         /* wildcard leaf name -> unit */
	int empty;                       /* enum mq_empty */
	char *time;                      /* JSON pointer to the event time */
	int time_unit;                   /* enum mq_tunit */
	char *time_property;             /* MQTT 5 user property with the event time */
	char *time_offset;               /* for date-times without one */
	int bad_time;                    /* enum mq_badtime */
	int64_t max_future_ms;           /* 0 = unbounded */
	int line;                        /* where the rule starts in the config (0: unknown) */
};

#define MQ_SENSOR_DEFAULT       "{topic}"
#define MQ_SENSOR_DEFAULT_FIELD "{topic}/{field}"
#define MQ_VALUE_DEFAULT        "/value"
#define MQ_MAX_EVENTS_DEFAULT   1000

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
	int64_t dead_letter_head; /* bytes of an oversize payload kept in its dead letter */
	int64_t max_events;       /* per message; 0 = MQ_MAX_EVENTS_DEFAULT */
	int64_t reconnect_min_ms, reconnect_max_ms, connect_timeout_ms;
	int64_t receive_maximum;
};

extern const struct sg_cfg_table mq_conf_table;

/* Checks across the rules of one source (rules_check.c); main thread.
 * Problems that make the config invalid go to ctx as errors; rules that
 * can never match are logged as warnings naming the source. */
int mq_rules_check(struct sg_cfg_ctx *ctx, const struct mq_conf *c, const struct sg_cfg_pos *pos,
		   const char *path);
/* The warning for rule k, or false if nothing shadows it: an earlier rule
 * without `continue` or a condition takes every message rule k would see,
 * or (explicit subscriptions) no subscription delivers its topics. */
bool mq_rule_shadowed(const struct mq_conf *c, size_t k, char *why, size_t whysz);

/* --- message mapping (message.c, fanout.c) ------------------------------ */

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

enum mq_mode { MQ_MODE_RAW, MQ_MODE_VALUE, MQ_MODE_FIELDS, MQ_MODE_WILDCARD };

struct mq_field {
	const struct mq_field_conf *c;
	struct mq_jptr ptr, unit_ptr;
};

/* A rule compiled: pointers parsed, the mode and defaults resolved. */
struct mq_rule {
	const struct mq_rule_conf *c;
	size_t index;
	enum mq_mode mode;
	const char *sensor; /* the sensor template in effect */
	struct mq_tmpl t_sensor, t_topic, t_key;
	struct mq_levels *flv; /* the filter, split */
	struct mq_jptr value, time, unit, sensor_ptr, cond, wildcard;
	struct mq_field *fields;
	size_t nfields;
	char sep;
	bool has_offset;
	int32_t offset_s;
};

/* A bump allocator for the strings of a message (or of a batch); reset
 * after each, keeping up to MQ_ARENA_SPARE ordinary blocks. */
#define MQ_ARENA_SPARE 8
struct mq_ablock;
struct mq_arena {
	struct mq_ablock *head;
	struct mq_ablock *spare; /* ordinary blocks kept for the next message */
	int nspare;
};
void *mq_arena_alloc(struct mq_arena *a, size_t n);
/* A NUL-terminated copy of s[0..n) in the arena, or NULL. */
const char *mq_arena_str(struct mq_arena *a, const char *s, size_t n);
void mq_arena_reset(struct mq_arena *a);
void mq_arena_free(struct mq_arena *a);

#define MQ_MAX_HDRS   44
#define MQ_DEAD_HDRS  5 /* what a dead letter adds: payload size, sg-error* */
#define MQ_MAX_FIELDS 256

/* The mqtt-* headers every record of this driver carries: built in h,
 * used from hp (h itself, or a copy in the arena when the message is
 * kept for a batch). */
struct mq_hdrs {
	struct sg_header h[MQ_MAX_HDRS];
	const struct sg_header *hp;
	size_t n;
};

/* One message being mapped: the document (parsed on first need), the
 * readings so far and their strings.  Reused from message to message. */
struct mq_work {
	const struct mq_msg *msg;
	size_t topic_len;
	size_t r0; /* the message's first reading in rd (after a batch's) */
	bool kept; /* the message is copied into the arena for a batch */
	struct mq_levels lv;
	int64_t arrival_ns;
	struct mq_jdoc doc;
	int doc_state; /* 0: not parsed, 1: parsed, -1: invalid (doc_err) */
	char doc_err[sizeof(((struct sg_errbuf *)0)->msg)];
	struct sg_reading *rd;
	size_t n, cap;
	struct mq_arena ar;
	struct sg_buf path;
	struct mq_hdrs hs;
};

/* Why a message is bad input: the reason is one of mq_bad_reasons[] (a
 * counter label); rule and field say where, when it is known. */
struct mq_bad {
	const char *reason;
	long rule; /* index into the rules, -1 if none */
	const char *field;
	char why[600];
};
extern const char *const mq_bad_reasons[];
#define MQ_NREASONS 17

/* Per-source mapping state, counters and the emit seam (tests replace
 * emit and leave src NULL). */
struct mq_map {
	struct sg_source *src;
	const struct mq_conf *c;
	struct mq_rule *rules;
	size_t nrules;
	const char *name;
	size_t max_events;
	/* The spool append: sg_source_emit_batch (all n or none). */
	int (*emit)(struct sg_source *src, const struct sg_reading *rd, size_t n);
	struct sg_counter *m_msgs, *m_bad, *m_dead, *m_unmatched, *m_skipped_retained, *m_lost;
	struct sg_counter *m_msgs_qos[3]; /* messages by QoS 0, 1, 2 */
	struct sg_counter *m_events, *m_fanout, *m_empty;
	struct sg_counter *m_reason[MQ_NREASONS];
	struct sg_counter *m_time[MQ_TF_N];
	int last_rc; /* the last emit's result: SG_EIO etc. stop reading */
	struct mq_work w;
	/* Batching (batch.c): off unless the driver holds acknowledgements
	 * back (then set before the first message). */
	bool defer;
	struct mq_pend *pend;
	size_t npend, pcap, pbytes, batch_bytes;
	/* Rate limiters per instance, so one noisy source mutes only itself. */
	struct sg_log_rl rl_lost, rl_bad, rl_map, rl_time;
};

/* Compile the rules of c.  Main thread (driver init). */
int mq_map_init(struct mq_map *m, struct sg_source *src, const char *name, const struct mq_conf *c,
		struct sg_errbuf *eb);
void mq_map_fini(struct mq_map *m);
/* Log the counters in one line (at stop). */
void mq_map_summary(const struct mq_map *m);
/* Map one message and append its events together (or its dead letter).
 * Returns the emit result that matters for flow control: SG_OK (stored,
 * dropped by policy, dead-lettered or counted as bad; with m->defer also
 * kept for the batch), or SG_EIO / SG_ENOSPC / SG_ESTOPPING when it (or
 * the batch it closed) was not stored. */
int mq_map_message(struct mq_map *m, const struct mq_msg *msg);
/* Bad input: counted, logged, and dead-lettered when configured, with the
 * message's base headers h[0..nh).  Returns as mq_map_message. */
int mq_map_bad(struct mq_map *m, const struct mq_msg *msg, const struct sg_header *h, size_t nh,
	       const struct mq_bad *bad);
/* The outcome of appending the n events of msg (rc from the emit):
 * counted; returns rc where it stops reading, else SG_OK.  acked: the
 * broker already has the message's acknowledgement. */
int mq_map_emitted(struct mq_map *m, const struct mq_msg *msg, size_t n, int rc, bool acked);

/* n events of a message stored: counted. */
void mq_map_stored(struct mq_map *m, size_t n);
/* The spool refused the n events of msg (SG_EINVAL): its dead letter. */
int mq_map_refused(struct mq_map *m, const struct mq_msg *msg, const struct sg_header *h, size_t nh,
		   size_t n);

/* --- batches (batch.c) ----------------------------------------------------- */

#define MQ_BATCH_MSGS  256        /* messages per batch at most */
#define MQ_BATCH_BYTES (64 << 10) /* their payloads and topics, roughly */

/* One message kept in the batch: its copy, headers and readings. */
struct mq_pend {
	const struct mq_msg *msg;
	const struct sg_header *h;
	size_t nh, r0, n;
};
/* Copy msg (topic, payload, content type, user properties) into the
 * arena; NULL when out of memory. */
struct mq_msg *mq_batch_keep(struct mq_map *m, const struct mq_msg *msg);
/* Add the kept message whose readings are w->rd[r0..w->n) to the batch,
 * emitting the batch when it is full.  Returns as mq_map_message. */
int mq_batch_add(struct mq_map *m);
/* Emit the batch (the readings of every kept message); the arena is left
 * alone, since a message may be in progress. */
int mq_batch_emit(struct mq_map *m);
/* The end of a read pass: emit the batch and release its memory.  SG_OK,
 * or the failure (also in m->last_rc) after which nothing may be
 * acknowledged. */
int mq_map_flush(struct mq_map *m);

/* fanout.c: append the readings of rule r for the message in m->w (the
 * document parsed if the rule needs it).  SG_OK, or SG_EINVAL with *bad
 * filled (nothing of the rule is kept). */
int mq_fanout(struct mq_map *m, const struct mq_rule *r, struct mq_bad *bad);
/* The parsed document of the message (parsing it on first use): SG_OK or
 * SG_EINVAL with the parse error in w->doc_err. */
int mq_work_doc(struct mq_work *w);
/* Compile one rule (pointers, mode, defaults); mq_rule_free undoes it. */
int mq_rule_compile(struct mq_rule *r, const struct mq_rule_conf *c, size_t index,
		    struct sg_errbuf *eb);
void mq_rule_free(struct mq_rule *r);

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
	/* Optional.  hold_acks: acknowledgements wait in the library's queue
	 * until loop_write (libmosquitto's threaded mode), so the driver
	 * batches a read pass and writes only after it is stored.  cork:
	 * gather the writes of one loop_write into few TCP segments. */
	void (*hold_acks)(struct mosquitto *mosq);
	void (*cork)(struct mosquitto *mosq, bool on);
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
