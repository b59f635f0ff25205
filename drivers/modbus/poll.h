/*
 * poll.h - the Modbus poll engine: schedule, requests, retries, decoding,
 * deadband and the quality state machine, for one bus.
 *
 * It knows nothing of libmodbus (reads go through struct mb_io) nor of the
 * core (readings and error counts go through struct mb_poll_cb), so the
 * unit tests run it against a scripted fake with a fake clock.
 *
 * One step runs every block that is due, each at most once, blocks that
 * answered last time first (earliest due first), then the suspect ones
 * (that timed out last time), then reports the next due time.
 *
 * A device that times out before it has answered anything in this step is
 * offline, unless the block that timed out is a known silent one (it timed
 * out last time too) while other blocks of the device answer.  Its other due blocks are deferred to
 * the next step (run at once) when it has just gone offline, and fail without I/O when it was
 * offline already; an offline device gets one probe per step with no
 * retry.  So a dead slave costs at most one response timeout per step
 * (two, plus retries, when it dies) and the other devices on the bus keep
 * their schedule.  With offline_probe_ns, a device whose probe failed is
 * left alone (its points fail at once) until that much time has passed.  A
 * timeout after the device did answer in this step is blamed on the block
 * alone (some devices stay silent on addresses they do not serve): that
 * block alone turns bad, and is not retried while it keeps timing out.
 * A block rejected with ILLEGAL DATA ADDRESS is split into one block per
 * point (plan.h).
 *
 * Quality per point: good after a successful read; bad with a reason
 * ("timeout", "exception 2 (illegal data address)", "connection lost")
 * after a failed one.  With bad_events a transition to bad is an event
 * (value null); the next good read is an event whatever the deadband.
 *
 * Not thread-safe: the source thread owns the poller.
 */
#ifndef SG_MB_POLL_H
#define SG_MB_POLL_H

#include <stdbool.h>
#include <stdint.h>

#include "gateway/base/buf.h"
#include "gateway/base/log.h"
#include "drivers/driver.h"
#include "decode.h"
#include "plan.h"
#include "sched.h"
#include "seam.h"

struct mb_point {
	/* configuration (borrowed strings) */
	const char *id;
	const char *unit;
	int dev;
	enum mb_area area;
	int addr;
	enum mb_type type;
	enum mb_order order;
	int bit;   /* MB_T_BIT */
	int nregs; /* registers (1 for bit areas) */
	double scale, offset, deadband;
	bool every_poll;
	int64_t interval_ns;
	/* state */
	enum sg_quality q;
	bool has_last;
	double last_num;
	char *last_str; /* strings: last emitted text (2*nregs+1 bytes) */
	char reason[80];
};

#define MB_EXC_CODES 12

struct mb_device {
	const char *name;
	int unit_id;
	bool offline;
	uint64_t gen_failed;   /* step in which it last went silent */
	uint64_t gen_offline;  /* step in which it went offline */
	int64_t next_probe_ns; /* offline: no request before this (backoff) */
	uint64_t gen_answered; /* step in which it last answered */
	/* Every request to it (reads with their retries, and writes) by
	 * result, and the exceptions by code (1-11; 0: any other code).
	 * Updated with __atomic builtins: reads and writes run on different
	 * threads. */
	uint64_t results[MB_E_IO + 1];
	uint64_t exceptions[MB_EXC_CODES];
};

/* With emit_batch: the events of one step go to the spool in batches of at
 * most MB_OUT_MAX, none older than MB_OUT_AGE_NS when it is appended. */
#define MB_OUT_MAX    512
#define MB_OUT_AGE_NS (2 * 1000000LL)

struct mb_poll_cb {
	void *arg;
	/* Store one reading; SG_OK, SG_EDROPPED, or an error (the reading
	 * is then tried again at the next poll). */
	int (*emit)(void *arg, const struct sg_reading *rd);
	/* Optional: store n readings together, all or none (then none of
	 * their points changes state). */
	int (*emit_batch)(void *arg, const struct sg_reading *rd, size_t n);
	void (*error)(void *arg, const char *cls);
	bool (*stopping)(void *arg);
	int64_t (*now)(void *arg); /* monotonic ns */
	int64_t wall_off;          /* wall clock - monotonic clock */
};

struct mb_stats {
	uint64_t requests, failures, retries, skipped, late, isolated, events;
};

struct mb_poller {
	const char *who; /* log name: the source instance */
	struct mb_point *pt;
	size_t npt;
	struct mb_device *dev;
	size_t ndev;
	int retries;
	int max_gap;
	bool bad_events;
	int reconnect_after;      /* consecutive timeouts on the bus; 0 = never */
	int64_t drain_ms;         /* wait for a late answer after a garbled one */
	int64_t offline_probe_ns; /* least time between probes of a dead device */

	struct mb_io io;
	struct mb_poll_cb cb;
	struct mb_stats st;
	/* internal */
	struct mb_span *sp;
	struct mb_plan plan;
	struct mb_sched sched; /* the plan's blocks by due time */
	size_t *held;          /* popped in this step, back in at its end */
	/* The events of this step not yet appended (emitted together). */
	struct sg_reading *ord;
	struct mb_point **opt;
	size_t on, ocap;
	struct sg_buf ostr; /* their strings and reasons */
	int64_t out_t0;     /* when the first of them was read */
	uint64_t gen;
	int bus_timeouts;
	uint64_t *ran_gen;                           /* per block; grows with the plan */
	struct sg_log_rl rl_fail, rl_skip, rl_state; /* this bus's log limits */
	size_t ran_cap;
};

/* Plan the requests (points and devices already filled in).  SG_OK or
 * SG_EINVAL with a message in eb. */
int mb_poll_init(struct mb_poller *p, struct sg_errbuf *eb);
/* Restart the schedule at `now` (every block due at once). */
void mb_poll_reset(struct mb_poller *p, int64_t now);
/* Run what is due.  *next: the next due time (monotonic).  Returns SG_OK,
 * or SG_EIO when the connection is lost (all points turned bad). */
int mb_poll_step(struct mb_poller *p, int64_t *next);
/* Mark every point bad with reason (connection failed). */
void mb_poll_all_bad(struct mb_poller *p, const char *reason);
void mb_poll_free(struct mb_poller *p);

/*
 * Write v to the point with id `target` (actuation): a coil takes a bool
 * or a number (non-zero = on); a holding register takes a number (scale
 * and offset undone, rounded, range-checked for integer types), a bool,
 * or text for a string; a `bit` point is read, changed and written back.
 * Returns SG_OK, SG_ENOTFOUND (no such point), SG_EINVAL (read-only area
 * or a value that does not fit), SG_EIO (connection lost) or SG_EDRIVER
 * (timeout, exception; counted like a failed read).  Uses only the io and
 * the points' configuration, so the driver may call it from another
 * thread provided the io serialises access to the bus.
 */
int mb_poll_write(struct mb_poller *p, const char *target, const struct sg_value *v,
		  struct sg_errbuf *eb);

#endif
