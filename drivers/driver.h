/*
 * driver.h - the contract between the core and a driver.
 *
 * A driver is one const struct sg_driver of named callbacks, registered
 * statically in drivers/registry.c.  The core owns threads, timers and
 * lifetimes: it parses the instance's config with the driver's key table,
 * then runs each instance (a "source") on a thread of its own:
 *
 *     init -> start -> step, step, ... -> stop -> fini
 *
 * step() is the whole driver loop body: it does the work that is due and
 * says what to wait for next (file descriptors and/or a deadline on the
 * monotonic clock).  The core polls, and calls step() again when an fd is
 * ready, the deadline passed, or at the latest after 1 s.  A blocking bus
 * (a Modbus RTU line) simply blocks inside step(): it is the instance's own
 * thread.  The core wakes the thread for shutdown; a driver never sleeps
 * on its own outside its I/O timeouts.
 *
 * Drivers know nothing about Kafka: they hand readings to
 * sg_source_emit(), which assigns the event id, encodes the record and
 * appends it to the disk spool before it returns.  Only after SG_OK may a
 * driver acknowledge anything upstream (an MQTT PUBACK, say).
 */
#ifndef SG_DRIVER_H
#define SG_DRIVER_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/config/table.h"
#include "gateway/base/err.h"
#include "gateway/core/metrics.h"

struct sg_source; /* the core's handle for one driver instance */

enum sg_vtype {
	SG_VAL_NONE, /* no value (for example quality bad, nothing read) */
	SG_VAL_DOUBLE,
	SG_VAL_INT,
	SG_VAL_UINT,
	SG_VAL_BOOL,
	SG_VAL_STR,   /* UTF-8 text (escaped on output) */
	SG_VAL_BYTES, /* arbitrary bytes (base64 in JSON) */
};

struct sg_value {
	enum sg_vtype type;
	union {
		double d;
		int64_t i;
		uint64_t u;
		bool b;
		struct {
			const char *p;
			size_t len;
		} s;
	};
};

enum sg_quality { SG_Q_GOOD, SG_Q_UNCERTAIN, SG_Q_BAD };

struct sg_attr {
	const char *key;
	const char *val;
};

/* An extra Kafka header (raw passthrough: MQTT topic, QoS, properties). */
struct sg_header {
	const char *key;
	const void *val;
	size_t len;
};

/* One reading, borrowed for the duration of sg_source_emit(). */
struct sg_reading {
	const char *sensor; /* required: sensor id; default Kafka key */
	int64_t ts_ns;      /* event time (wall clock ns); 0 = now */
	struct sg_value value;
	const char *unit; /* NULL if none */
	enum sg_quality quality;
	const char *reason; /* why quality is not good; NULL otherwise */
	const struct sg_attr *attrs;
	size_t nattrs;

	/* Optional overrides, used by passthrough drivers. */
	bool raw;                 /* value (STR/BYTES) is the Kafka value as is */
	const char *content_type; /* with raw; default application/octet-stream */
	const char *topic;        /* Kafka topic, NULL = the source's topic template */
	const char *key;          /* Kafka key, NULL = sensor */
	const struct sg_header *headers;
	size_t nheaders;
};

/*
 * Append one event to the spool.  Returns:
 *   SG_OK        the event is in the spool (survives kill -9);
 *   SG_EDROPPED  the spool is full and the policy dropped it (counted);
 *   SG_ESTOPPING the gateway is stopping while the emit was blocked on a
 *                full spool (policy block);
 *   SG_EIO / SG_ENOSPC  the write failed: the event is NOT stored and must
 *                not be acknowledged upstream;
 *   SG_EINVAL    the reading is malformed (no sensor id, say).
 * Thread: the source's own thread (or any thread the driver owns).
 */
int sg_source_emit(struct sg_source *src, const struct sg_reading *rd);

/*
 * Append the n events rd[0..n) of one upstream message (an MQTT message
 * that holds several readings, say) to the spool together: all of them or
 * none of them, in this order, with consecutive seqs, in one write, so a
 * crash at any instant leaves either every event of the message in the
 * spool or none.  Readings with ts_ns 0 all get the same event time, taken
 * once for the batch.  Returns:
 *   SG_OK        all n events are in the spool (survive kill -9);
 *   SG_EDROPPED  the spool is full and the policy drop_newest dropped all n
 *                (each counted; drop_oldest makes room for the whole batch
 *                instead, so returns SG_OK);
 *   SG_ESTOPPING the gateway is stopping while the emit was blocked on a
 *                full spool (policy block): none stored;
 *   SG_EIO / SG_ENOSPC  the write failed: none stored, none may be
 *                acknowledged upstream;
 *   SG_EINVAL    a reading is malformed, or the batch's records together
 *                exceed spool.max_record_bytes (a batch is bounded like
 *                one record): none stored;
 *   SG_ENOMEM    out of memory encoding: none stored.
 * n == 0 is SG_OK and stores nothing.  rd and everything it points to is
 * borrowed for the call.  Thread: as sg_source_emit().
 */
int sg_source_emit_batch(struct sg_source *src, const struct sg_reading *rd, size_t n);

const char *sg_source_name(const struct sg_source *src);
bool sg_source_stopping(const struct sg_source *src);
/* Count an error of a class ("timeout", "exception", "parse") for this
 * source; shows as errors{source=NAME,class=CLS}. */
void sg_source_error(struct sg_source *src, const char *cls);
/* A counter private to this source: NAME{source=SRC}. */
struct sg_counter *sg_source_counter(struct sg_source *src, const char *name);
/* Say whether the source is connected to its device or broker (shown in
 * source_up and /ready).  The core sets it true after a successful
 * start() and false when the source stops or restarts; a driver that
 * stays started while its link is down (an MQTT client reconnecting)
 * calls it on each change.  Any thread. */
void sg_source_set_up(struct sg_source *src, bool up);

#define SG_WAIT_MAX_FDS 32

/* What step() waits for next.  On entry to step(), fds[].revents hold the
 * results of the last poll and now_ns the current monotonic time. */
struct sg_wait {
	struct pollfd fds[SG_WAIT_MAX_FDS];
	int nfds;
	int64_t deadline_ns; /* monotonic; 0 = none (woken within 1 s anyway); else
			      * the core sleeps until then (at most 60 s) unless
			      * an fd is ready or the source is stopped */
	int64_t now_ns;
};

struct sg_driver {
	const char *name;
	const char *help;
	/* The instance's keys, beside the common ones (name, driver, topic).
	 * conf->size bytes are allocated, defaulted and parsed by the core. */
	const struct sg_cfg_table *conf;

	/* Validate and allocate; no I/O that may block.  *state is passed to
	 * every later callback.  Main thread. */
	int (*init)(struct sg_source *src, const void *conf, void **state, struct sg_errbuf *eb);
	/* Open devices and sockets.  Source thread.  Failure is logged, and
	 * start is retried with backoff: a missing device does not stop the
	 * gateway. */
	int (*start)(void *state, struct sg_errbuf *eb);
	/* Do what is due, then fill *w.  Source thread.  A negative return is
	 * logged and counted; the core backs off, then calls start() again
	 * if step returns SG_EIO (connection lost) or step() otherwise. */
	int (*step)(void *state, struct sg_wait *w);
	/* Close devices.  Source thread, after the last step. */
	void (*stop)(void *state);
	/* Free state.  Main thread. */
	void (*fini)(void *state);
	/* Optional actuation (sinks): set TARGET to V.  Any thread. */
	int (*write)(void *state, const char *target, const struct sg_value *v,
		     struct sg_errbuf *eb);
};

/* The static registry (drivers/registry.c). */
extern const struct sg_driver *const sg_drivers[];
const struct sg_driver *sg_driver_find(const char *name);

#endif
