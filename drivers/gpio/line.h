/*
 * line.h - the logic of one GPIO input, free of devices and of the core:
 * a state machine (struct gpio_lsm) that takes kernel edge events with
 * their timestamps and produces outputs (edges, levels, counts) into a
 * callback, and a port (struct gpio_port) that pumps one backend line
 * into it.  The unit tests drive both through the fake backend with
 * scripted edges and timestamps.
 *
 * Time: the machine runs on CLOCK_MONOTONIC nanoseconds.  Every decision
 * (debounce, count windows) is taken from event timestamps and from a
 * "watermark" the caller passes to gpio_lsm_advance(): the promise that
 * every event before it has been seen.  Same input, same output.
 *
 * Software debounce: a change of level is accepted once the line has
 * stayed at the new level for debounce_ns with no further edge; the
 * accepted edge carries the time of the first edge of its burst (when the
 * contact first moved).  A burst that returns to the old level is a
 * glitch and emits nothing.  Both edges are needed for this, so the port
 * requests both from the kernel and filters afterwards.
 *
 * Loss: a gap in the kernel's line_seqno (uAPI v2) is an exact count of
 * events the kernel dropped; a read that returns as many events as the
 * kernel queue holds (uAPI v1, which has no seqno) means the queue was
 * full and events may have been dropped.  Both produce a GPIO_OUT_OVERFLOW
 * output at once, and mark the next edge (or the current count window)
 * so its reading can carry quality "uncertain".
 *
 * Thread: a machine and a port belong to the thread that feeds them.
 */
#ifndef SG_GPIO_LINE_H
#define SG_GPIO_LINE_H

#include <stdbool.h>
#include <stdint.h>

#include "backend.h"

enum gpio_mode { GPIO_MODE_EDGE, GPIO_MODE_SAMPLE, GPIO_MODE_COUNT };

struct gpio_lsm_cfg {
	enum gpio_mode mode;
	enum gpio_edge edge; /* which (debounced) edges to emit or count */
	bool raw_both;       /* the kernel reports both edges (level known) */
	int64_t debounce_ns; /* software debounce; 0 = none */
	int64_t interval_ns; /* SAMPLE period, COUNT window */
	bool emit_initial;   /* EDGE: emit the level found at start */
};

enum gpio_out_kind {
	GPIO_OUT_EDGE,     /* value: the new level; t: first edge of burst */
	GPIO_OUT_LEVEL,    /* value: a sampled (or initial) level */
	GPIO_OUT_COUNT,    /* count edges in [t - window, t) */
	GPIO_OUT_OVERFLOW, /* the kernel queue overflowed: lost, suspect */
};

struct gpio_out {
	enum gpio_out_kind kind;
	int64_t t_mono;
	int value;
	bool initial;
	uint64_t count;
	int64_t window_ns;
	uint64_t lost; /* events known lost (since the last output) */
	bool suspect;  /* events may have been lost (count unknown) */
	bool partial;  /* COUNT: a window cut short at stop (window_ns says how long) */
};

struct gpio_lsm_stats {
	uint64_t raw;       /* kernel events taken */
	uint64_t accepted;  /* edges accepted after debounce */
	uint64_t bounces;   /* raw edges absorbed by debounce */
	uint64_t repeats;   /* same edge twice with both edges requested */
	uint64_t lost;      /* events known lost (seqno gaps) */
	uint64_t overflows; /* overflow detections (exact or suspected) */
	uint64_t reorders;  /* timestamps or seqnos that went backwards */
	uint64_t late;      /* edges counted after their window closed */
};

struct gpio_lsm {
	struct gpio_lsm_cfg c;
	int level; /* debounced logical level; -1 unknown */
	/* software debounce */
	bool pending;
	int cand;
	int64_t burst_start, last_edge;
	/* sequence and order tracking */
	uint32_t last_line_seqno; /* 0 before the first event */
	int64_t last_t;
	/* loss carried to the next EDGE output */
	uint64_t carry_lost;
	bool carry_suspect;
	/* counting */
	uint64_t count;
	int64_t win_start;
	uint64_t win_lost;
	bool win_suspect;
	/* sampling */
	int64_t next_sample;
	struct gpio_lsm_stats st;
};

typedef void (*gpio_out_fn)(void *arg, const struct gpio_out *o);

void gpio_lsm_init(struct gpio_lsm *m, const struct gpio_lsm_cfg *c);
/* Begin at now with the line at level (-1 if unknown). */
void gpio_lsm_start(struct gpio_lsm *m, int level, int64_t now, gpio_out_fn fn, void *arg);
/* One kernel event at monotonic time t (converted by the caller). */
void gpio_lsm_edge(struct gpio_lsm *m, const struct gpio_raw_event *ev, int64_t t, gpio_out_fn fn,
		   void *arg);
/* Loss detected outside the event stream (a full v1 read). */
void gpio_lsm_overflow(struct gpio_lsm *m, int64_t t, uint64_t lost, bool suspect, gpio_out_fn fn,
		       void *arg);
/* Every event before watermark has been seen: settle debounce, close
 * count windows, up to it. */
void gpio_lsm_advance(struct gpio_lsm *m, int64_t watermark, gpio_out_fn fn, void *arg);
/* A sampled level at t. */
void gpio_lsm_sample(struct gpio_lsm *m, int value, int64_t t, gpio_out_fn fn, void *arg);
/* When the machine next has something to do without new events (a
 * watermark at or past it makes progress); 0 = nothing pending. */
int64_t gpio_lsm_deadline(const struct gpio_lsm *m);
/* Stopping at t: emit the open count window, cut short, so no pulse
 * counted so far is lost (a burst still unsettled at t is not counted). */
void gpio_lsm_flush(struct gpio_lsm *m, int64_t t, gpio_out_fn fn, void *arg);

/* Events one read takes at most; a v1 read of queue_depth or more is a
 * full queue. */
#define GPIO_READ_BATCH 64
/* How long after "now" events may still be on their way from the IRQ
 * handler into the kernel queue: watermarks from the clock lag by this. */
#define GPIO_SLACK_NS (5 * 1000 * 1000LL)

struct gpio_port {
	const struct gpio_backend *be;
	struct gpio_line *line;
	struct gpio_line_info info;
	struct gpio_lsm lsm;
};

/* Do what is due on one port at (now_mono, now_real): read every waiting
 * event, take a sample if one is due, advance to now - GPIO_SLACK_NS.
 * Returns SG_OK or the backend's error (the caller restarts). */
int gpio_port_step(struct gpio_port *p, int64_t now_mono, int64_t now_real, gpio_out_fn fn,
		   void *arg);
/* Monotonic time this port next needs a step (0 = only on its fd). */
int64_t gpio_port_deadline(const struct gpio_port *p);

#endif
