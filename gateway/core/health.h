/*
 * health.h - the judgement behind /health, /ready and the systemd
 * watchdog, as pure functions over a snapshot (struct sg_health_input)
 * that the gateway object takes from its parts.  No clocks, threads or
 * I/O in here, so every rule is unit-tested with made-up inputs.
 * Kafka refusing the gateway makes it not ready (below): a topic an ACL
 * denies (its events wait, held), and while no broker is connected the
 * last connection error (a wrong password, an untrusted certificate).
 *
 * Live (/health, watchdog): every loop - the main loop, the producer, the
 * spool flusher, each source thread - made progress within stall_ns (a
 * loop that waits on backpressure, a source blocked on a full spool, is
 * alive), and records in flight got an acknowledgement within
 * delivery_stall_ns (a wedged producer or broker connection: a restart
 * resumes from the spool).
 * Ready (/ready): live, and the spool below its high-water mark, Kafka
 * delivering (a broker connected, the oldest record in flight younger
 * than max_age_ns), the schema registry giving ids (kafka.format avro),
 * every source up or down for less than the grace
 * (inside its retry budget), and not stopping.
 */
#ifndef SG_HEALTH_H
#define SG_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/base/buf.h"

struct sg_health_loop {
	const char *name;
	int64_t beat_ns; /* monotonic: its last pass, or (a loop about to wait)
			  * the time it is due back by; 0: not started */
	bool waiting;    /* blocked on backpressure: quiet but alive */
};

struct sg_health_source {
	const char *name;
	bool up;               /* its driver runs and is connected */
	int64_t down_since_ns; /* monotonic; when up turned false */
};

struct sg_health_input {
	int64_t now_ns, stall_ns, grace_ns;
	const struct sg_health_loop *loops;
	size_t nloops;
	const struct sg_health_source *sources;
	size_t nsources;
	uint64_t spool_bytes, spool_max_bytes;
	unsigned high_water_pct;
	/* Why Kafka does not take records (the producer's own account): */
	const char *kafka_conn;            /* no broker connected: the last error, or NULL */
	unsigned topics_refused;           /* topics an ACL refuses: their events wait */
	uint64_t held;                     /* events held for them */
	const char *refused;               /* "topic T: ERR_NAME" of the first, or NULL */
	int64_t oldest_age_ns, max_age_ns; /* the oldest record in flight */
	int64_t delivery_stall_ns;         /* liveness bound on oldest_age_ns */
	int brokers_up;                    /* -1: not known yet */
	bool registry_used;                /* kafka.format avro: the schema registry ... */
	bool registry_waiting;             /* ... gives no schema id: records wait */
	bool stopping;
};

/* Append {"status":"ok"|"fail","checks":[...]} to json; true when live. */
bool sg_health_live(const struct sg_health_input *in, struct sg_buf *json);
/* The same for readiness. */
bool sg_health_ready(const struct sg_health_input *in, struct sg_buf *json);

#endif
