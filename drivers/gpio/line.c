/*
 * line.c - the per-line state machine (debounce, counting, sampling,
 * overflow detection) and the port that pumps a backend line into it.
 * See line.h for the rules; this file only implements them.
 */
#include "line.h"

#include <assert.h>
#include <string.h>

static bool lsm_wants(const struct gpio_lsm *m, int level)
{
	switch (m->c.edge) {
	case GPIO_EDGE_RISING: return level == 1;
	case GPIO_EDGE_FALLING: return level == 0;
	case GPIO_EDGE_BOTH: return true;
	default: return false;
	}
}

/* Close the count windows that end at or before t. */
static void lsm_close_windows(struct gpio_lsm *m, int64_t t, gpio_out_fn fn, void *arg)
{
	if (m->c.mode != GPIO_MODE_COUNT || m->c.interval_ns <= 0)
		return;
	for (;;) {
		int64_t end = m->win_start + m->c.interval_ns;
		struct gpio_out o = {0};

		if (t < end)
			return;
		/* An unsettled burst that began in this window keeps it open
		 * for one debounce period more, so the edge lands where it
		 * happened. */
		if (m->pending && m->burst_start < end && t < end + m->c.debounce_ns)
			return;
		o.kind = GPIO_OUT_COUNT;
		o.t_mono = end;
		o.count = m->count;
		o.window_ns = m->c.interval_ns;
		o.lost = m->win_lost;
		o.suspect = m->win_suspect;
		fn(arg, &o);
		m->count = 0;
		m->win_lost = 0;
		m->win_suspect = false;
		m->win_start = end;
	}
}

/* A debounced (or undebounced) change of level to `level` at t. */
static void lsm_accept(struct gpio_lsm *m, int level, int64_t t, gpio_out_fn fn, void *arg)
{
	struct gpio_out o = {0};

	m->level = level;
	m->st.accepted++;
	if (!lsm_wants(m, level))
		return;
	switch (m->c.mode) {
	case GPIO_MODE_EDGE:
		o.kind = GPIO_OUT_EDGE;
		o.t_mono = t;
		o.value = level;
		o.lost = m->carry_lost;
		o.suspect = m->carry_suspect;
		m->carry_lost = 0;
		m->carry_suspect = false;
		fn(arg, &o);
		break;
	case GPIO_MODE_COUNT:
		if (t < m->win_start)
			m->st.late++;
		m->count++;
		break;
	case GPIO_MODE_SAMPLE: break;
	}
}

/* Settle a pending burst whose quiet period ended by t. */
static void lsm_settle(struct gpio_lsm *m, int64_t t, gpio_out_fn fn, void *arg)
{
	if (!m->pending || t < m->last_edge + m->c.debounce_ns)
		return;
	m->pending = false;
	if (m->cand != m->level)
		lsm_accept(m, m->cand, m->burst_start, fn, arg);
	else
		m->st.bounces++; /* a glitch: the first edge of it */
}

void gpio_lsm_init(struct gpio_lsm *m, const struct gpio_lsm_cfg *c)
{
	memset(m, 0, sizeof(*m));
	m->c = *c;
	m->level = -1;
}

void gpio_lsm_start(struct gpio_lsm *m, int level, int64_t now, gpio_out_fn fn, void *arg)
{
	struct gpio_out o = {0};

	m->level = level < 0 ? -1 : !!level;
	m->pending = false;
	m->win_start = now;
	m->next_sample = now;
	m->last_t = INT64_MIN; /* an edge may predate the start a little */
	m->last_line_seqno = 0;
	m->count = 0;
	if (m->c.mode == GPIO_MODE_EDGE && m->c.emit_initial && m->level >= 0) {
		o.kind = GPIO_OUT_LEVEL;
		o.t_mono = now;
		o.value = m->level;
		o.initial = true;
		fn(arg, &o);
	}
}

void gpio_lsm_overflow(struct gpio_lsm *m, int64_t t, uint64_t lost, bool suspect, gpio_out_fn fn,
		       void *arg)
{
	struct gpio_out o = {0};

	m->st.overflows++;
	m->st.lost += lost;
	m->carry_lost += lost;
	m->carry_suspect |= suspect;
	m->win_lost += lost;
	m->win_suspect |= suspect;
	o.kind = GPIO_OUT_OVERFLOW;
	o.t_mono = t;
	o.lost = lost;
	o.suspect = suspect;
	fn(arg, &o);
}

static void lsm_check_seq(struct gpio_lsm *m, const struct gpio_raw_event *ev, int64_t t,
			  gpio_out_fn fn, void *arg)
{
	/* The kernel's counters are u32 and start at 1: compare them
	 * modulo 2^32, so a wrap after four billion events is no gap. */
	uint32_t step = ev->line_seqno - m->last_line_seqno;

	if (!ev->has_seq)
		return;
	if (step == 0 || step > 0x80000000u) {
		m->st.reorders++; /* a repeat or a step back: keep the newest */
		return;
	}
	if (step > 1)
		gpio_lsm_overflow(m, t, step - 1, false, fn, arg);
	m->last_line_seqno = ev->line_seqno;
}

void gpio_lsm_edge(struct gpio_lsm *m, const struct gpio_raw_event *ev, int64_t t, gpio_out_fn fn,
		   void *arg)
{
	int level = ev->rising ? 1 : 0;

	m->st.raw++;
	if (t < m->last_t) {
		/* The kernel queues in order; a step back is a clock step
		 * (realtime stamps) or a bug.  Keep time monotonic. */
		m->st.reorders++;
		t = m->last_t;
	}
	m->last_t = t;
	lsm_check_seq(m, ev, t, fn, arg);
	gpio_lsm_advance(m, t, fn, arg);
	if (m->c.raw_both && m->level == level && !m->pending)
		m->st.repeats++;
	if (m->c.mode == GPIO_MODE_SAMPLE)
		return;
	if (m->c.debounce_ns <= 0 || !m->c.raw_both) {
		/* Without both edges the level is unknown between events:
		 * every event is an edge of the kind it says. */
		if (!m->c.raw_both && m->level == level)
			m->level = !level;
		if (m->level != level)
			lsm_accept(m, level, t, fn, arg);
		return;
	}
	if (!m->pending) {
		if (level == m->level)
			return; /* a repeat at the settled level: nothing moved */
		m->pending = true;
		m->burst_start = t;
	} else {
		m->st.bounces++;
	}
	m->cand = level;
	m->last_edge = t;
}

void gpio_lsm_advance(struct gpio_lsm *m, int64_t watermark, gpio_out_fn fn, void *arg)
{
	if (m->c.mode == GPIO_MODE_COUNT && m->pending) {
		/* Windows that end before the burst settle first, then the
		 * burst, then the rest. */
		int64_t settle = m->last_edge + m->c.debounce_ns;
		if (settle <= watermark) {
			lsm_close_windows(m, settle, fn, arg);
			lsm_settle(m, watermark, fn, arg);
		}
	} else {
		lsm_settle(m, watermark, fn, arg);
	}
	lsm_close_windows(m, watermark, fn, arg);
}

void gpio_lsm_sample(struct gpio_lsm *m, int value, int64_t t, gpio_out_fn fn, void *arg)
{
	struct gpio_out o = {0};

	assert(m->c.mode == GPIO_MODE_SAMPLE);
	m->level = !!value;
	o.kind = GPIO_OUT_LEVEL;
	o.t_mono = t;
	o.value = m->level;
	fn(arg, &o);
	if (m->c.interval_ns > 0) {
		while (m->next_sample <= t)
			m->next_sample += m->c.interval_ns;
	}
}

void gpio_lsm_flush(struct gpio_lsm *m, int64_t t, gpio_out_fn fn, void *arg)
{
	struct gpio_out o = {0};

	gpio_lsm_advance(m, t, fn, arg);
	if (m->c.mode != GPIO_MODE_COUNT || t <= m->win_start)
		return;
	o.kind = GPIO_OUT_COUNT;
	o.t_mono = t;
	o.count = m->count;
	o.window_ns = t - m->win_start;
	o.lost = m->win_lost;
	o.suspect = m->win_suspect;
	o.partial = true;
	fn(arg, &o);
	m->count = 0;
	m->win_lost = 0;
	m->win_suspect = false;
	m->win_start = t;
}

int64_t gpio_lsm_deadline(const struct gpio_lsm *m)
{
	int64_t d = 0;

	if (m->pending)
		d = m->last_edge + m->c.debounce_ns;
	if (m->c.mode == GPIO_MODE_COUNT && m->c.interval_ns > 0) {
		/* A window held open by a burst (see lsm_close_windows) is
		 * due when the burst settles or its grace ends, not before:
		 * a deadline in the past would spin. */
		int64_t end = m->win_start + m->c.interval_ns, due = end;
		if (m->pending && m->burst_start < end) {
			int64_t grace = end + m->c.debounce_ns;
			due = d < grace ? d : grace;
			if (due < end)
				due = end;
		}
		if (!d || due < d)
			d = due;
	}
	if (m->c.mode == GPIO_MODE_SAMPLE && m->c.interval_ns > 0) {
		if (!d || m->next_sample < d)
			d = m->next_sample;
	}
	return d;
}

/* --- the port: one backend line into one machine --------------------- */

static int64_t port_to_mono(const struct gpio_port *p, int64_t ts, int64_t now_mono,
			    int64_t now_real)
{
	enum gpio_clock clk = p->info.clock;

	if (clk == GPIO_CLOCK_GUESS)
		clk = gpio_clock_guess(ts, now_mono, now_real);
	if (clk == GPIO_CLOCK_REALTIME)
		return ts - (now_real - now_mono);
	return ts;
}

int gpio_port_step(struct gpio_port *p, int64_t now_mono, int64_t now_real, gpio_out_fn fn,
		   void *arg)
{
	struct gpio_raw_event ev[GPIO_READ_BATCH];
	struct gpio_lsm *m = &p->lsm;
	int n;

	/* Bounded: a line that fires faster than we read cannot hold the
	 * thread; the rest waits for the next step (and the kernel queue
	 * tells us if it overflowed meanwhile). */
	for (int batch = 0; batch < 16; batch++) {
		n = p->be->line_read(p->line, ev, GPIO_READ_BATCH, now_mono);
		if (n < 0)
			return n;
		if (!p->info.has_seqno && p->info.queue_depth > 0 && n >= p->info.queue_depth) {
			int64_t t = port_to_mono(p, ev[0].ts_ns, now_mono, now_real);
			gpio_lsm_overflow(m, t, 0, true, fn, arg);
		}
		for (int i = 0; i < n; i++)
			gpio_lsm_edge(m, &ev[i], port_to_mono(p, ev[i].ts_ns, now_mono, now_real),
				      fn, arg);
		if (n < GPIO_READ_BATCH)
			break;
	}
	if (m->c.mode == GPIO_MODE_SAMPLE && now_mono >= m->next_sample) {
		int v = p->be->line_get(p->line);
		if (v < 0)
			return v;
		gpio_lsm_sample(m, v, now_mono, fn, arg);
	}
	gpio_lsm_advance(m, now_mono - GPIO_SLACK_NS, fn, arg);
	return SG_OK;
}

int64_t gpio_port_deadline(const struct gpio_port *p)
{
	int64_t d = gpio_lsm_deadline(&p->lsm), due = 0;

	if (d && p->lsm.c.mode != GPIO_MODE_SAMPLE)
		d += GPIO_SLACK_NS; /* advance() lags the clock by the slack */
	if (p->be->line_next_due)
		due = p->be->line_next_due(p->line);
	if (due && (!d || due < d))
		d = due;
	return d;
}
