/*
 * backend.h - the seam between the gpio driver and whatever provides GPIO
 * lines: libgpiod v1 (backend_v1.c) or v2 (backend_v2.c), chosen at build
 * time by SG_GPIOD_MAJOR and exported as gpio_backend_real; the simulated
 * chip (`chip: sim`, simchip.c); and the scripted fake the unit tests
 * drive (backend_fake.c, fake.h).
 *
 * One line is one request.  An input line delivers edge events; each
 * carries the kernel's timestamp in the clock the backend says (see
 * gpio_line_info.clock) and, where the kernel provides them (uAPI v2), the
 * per-line and per-request sequence numbers that make kernel queue
 * overflow visible.  Events are logical: active-low is applied below the
 * seam (by the kernel, or by the simulator).
 *
 * Ownership: a chip owns nothing of the caller's; lines must be released
 * before their chip is closed.  Thread: all calls on one chip come from
 * one thread at a time (the driver serialises actuation with a mutex).
 * Errors: SG_OK or a negative enum sg_err with the details in eb.
 */
#ifndef SG_GPIO_BACKEND_H
#define SG_GPIO_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/base/err.h"

enum gpio_dir { GPIO_DIR_INPUT, GPIO_DIR_OUTPUT };
enum gpio_edge { GPIO_EDGE_NONE, GPIO_EDGE_RISING, GPIO_EDGE_FALLING, GPIO_EDGE_BOTH };
enum gpio_bias { GPIO_BIAS_AS_IS, GPIO_BIAS_DISABLED, GPIO_BIAS_PULL_UP, GPIO_BIAS_PULL_DOWN };
/* GPIO_CLOCK_GUESS: the backend cannot know (uAPI v1: realtime before
 * Linux 5.7, monotonic since); the reader classifies each timestamp with
 * gpio_clock_guess(). */
enum gpio_clock { GPIO_CLOCK_MONOTONIC, GPIO_CLOCK_REALTIME, GPIO_CLOCK_GUESS };

/* What to request for one line. */
struct gpio_line_cfg {
	const char *name; /* line name, or NULL to use offset */
	unsigned offset;
	enum gpio_dir dir;
	enum gpio_edge edge; /* inputs; NONE = no events (sampling) */
	enum gpio_bias bias;
	bool active_low;
	int64_t debounce_us;   /* > 0: ask for kernel debounce (v2 only) */
	enum gpio_clock clock; /* wanted event clock (v2 only) */
	int initial;           /* outputs: initial logical value */
	int64_t queue_depth;   /* kernel event buffer (v2); 0 = default */
	const char *consumer;
	/* Simulated chip only. */
	const char *sim_pattern;
	int64_t sim_bounce_ns;
	int64_t sim_bounce_edges;
	uint64_t seed;
};

/* What a request got. */
struct gpio_line_info {
	unsigned offset;
	bool kernel_debounce; /* debounce_us was applied below the seam */
	bool has_seqno;       /* events carry line_seqno/seqno */
	enum gpio_clock clock;
	int64_t queue_depth; /* events the kernel queue holds; 0 = unknown */
};

struct gpio_raw_event {
	int64_t ts_ns; /* kernel timestamp in the line's clock */
	bool rising;
	bool has_seq;        /* the numbers below are valid (uAPI v2) */
	uint32_t line_seqno; /* 1, 2, ... per line; the kernel's u32, wraps */
	uint32_t seqno;      /* per request (one line per request: the same) */
};

struct gpio_chip; /* backend-private */
struct gpio_line; /* backend-private */

struct gpio_backend {
	const char *name;
	bool can_debounce; /* debounce_us is honoured (uAPI v2) */
	/* chip: a path (/dev/gpiochip0), a name (gpiochip0), a label
	 * (pinctrl-bcm2711) or a number, as far as the backend can tell. */
	int (*chip_open)(const char *chip, struct gpio_chip **out, struct sg_errbuf *eb);
	void (*chip_close)(struct gpio_chip *c);
	int (*line_request)(struct gpio_chip *c, const struct gpio_line_cfg *cfg,
			    struct gpio_line **out, struct gpio_line_info *info,
			    struct sg_errbuf *eb);
	void (*line_release)(struct gpio_line *l);
	/* A file descriptor that polls readable when events wait; -1 if the
	 * backend has none (then next_due says when to come back). */
	int (*line_fd)(struct gpio_line *l);
	/* Read up to max pending events without blocking.  now_mono is the
	 * current CLOCK_MONOTONIC time (the simulator produces the edges due
	 * by then).  Returns the count (0: none), or a negative sg_err. */
	int (*line_read)(struct gpio_line *l, struct gpio_raw_event *ev, size_t max,
			 int64_t now_mono);
	/* Current logical value (0/1) or a negative sg_err. */
	int (*line_get)(struct gpio_line *l);
	int (*line_set)(struct gpio_line *l, int value);
	/* Monotonic time of the next event a backend without fd will
	 * produce; 0 = none or unknown. */
	int64_t (*line_next_due)(struct gpio_line *l);
};

/* The libgpiod backend this build was compiled against (v1 or v2). */
extern const struct gpio_backend gpio_backend_real;
extern const struct gpio_backend gpio_backend_sim;
extern const struct gpio_backend gpio_backend_fake;
extern const struct gpio_backend gpio_backend_fake_v2; /* can_debounce */

/* Classify a timestamp of unknown clock (uAPI v1) by which clock it is
 * nearest to now.  Pure, for tests. */
enum gpio_clock gpio_clock_guess(int64_t ts_ns, int64_t now_mono, int64_t now_real);

/* Parse "17" as an offset (true) or leave a name (false). */
bool gpio_parse_offset(const char *s, unsigned *offset);

#endif
