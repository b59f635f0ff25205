/*
 * gpio.c - the gpio driver: GPIO input lines become events (edges with
 * their kernel timestamps, sampled levels, or pulse counts per interval),
 * and output lines are set through the driver's write callback, e.g. by
 * an actuator sink.
 *
 * The lifecycle is the core's: init checks the config and picks the
 * backend (`chip: sim` or the libgpiod this build uses), start opens the
 * chip and requests every line, step pumps each input port (line.c) and
 * turns its outputs into readings, stop releases everything.  The logic
 * of debounce, counting and overflow detection lives in line.c, where the
 * unit tests drive it through the fake backend.
 *
 * Threads: start/step/stop run on the source thread; write() may come
 * from any thread and touches only output lines, under `mu`, which also
 * guards the request and release of lines.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/base/log.h"
#include "gateway/base/buf.h"
#include "gateway/base/clock.h"
#include "gateway/base/mem.h"
#include "drivers/driver.h"
#include "gpio.h"

const struct gpio_backend *gpio_backend_override;

struct gpio_drv;

struct gpio_src_line {
	const struct gpio_line_conf *c;
	struct gpio_drv *d;
	struct gpio_line_cfg req;
	struct gpio_lsm_cfg lsm;
	struct gpio_port port;
	bool requested;
	uint64_t bounces_seen, repeats_seen, edges_seen;
};

struct gpio_drv {
	struct sg_source *src;
	const struct gpio_conf *c;
	const struct gpio_backend *be;
	struct gpio_chip *chip;
	struct gpio_src_line *l;
	size_t n;
	pthread_mutex_t mu;
	int64_t wall_off; /* wall - monotonic, sampled once per step */
	struct sg_log_rl rl_overflow, rl_emit;
	struct sg_counter *m_overflows, *m_lost, *m_bounces, *m_repeats, *m_edges;
};

static const char *gpio_name(const struct gpio_drv *d)
{
	return sg_source_name(d->src);
}

/* --- outputs of the line machines become readings --------------------- */

static void gpio_overflow(struct gpio_src_line *sl, const struct gpio_out *o)
{
	struct gpio_drv *d = sl->d;

	sg_source_error(d->src, "overflow");
	sg_counter_add(d->m_overflows, 1);
	sg_counter_add(d->m_lost, o->lost);
	if (o->lost)
		sg_log_rl(&d->rl_overflow, SG_LOG_WARN, gpio_name(d),
			  "line %s: kernel event queue overflowed, %llu events lost "
			  "(read faster, debounce, or raise queue_depth)",
			  sl->c->id, (unsigned long long)o->lost);
	else
		sg_log_rl(&d->rl_overflow, SG_LOG_WARN, gpio_name(d),
			  "line %s: kernel event queue was full when read; events may have "
			  "been lost (libgpiod 1 cannot count them)",
			  sl->c->id);
}

static void gpio_on_out(void *arg, const struct gpio_out *o)
{
	struct gpio_src_line *sl = arg;
	struct gpio_drv *d = sl->d;
	struct sg_reading rd = {0};
	struct sg_attr attrs[3];
	char num[2][32], reason[128];
	int rc;

	if (o->kind == GPIO_OUT_OVERFLOW) {
		gpio_overflow(sl, o);
		return;
	}
	rd.sensor = sl->c->id;
	rd.ts_ns = o->t_mono + d->wall_off;
	rd.unit = sl->c->unit;
	rd.attrs = attrs;
	switch (o->kind) {
	case GPIO_OUT_EDGE:
		rd.value.type = SG_VAL_BOOL;
		rd.value.b = o->value;
		attrs[rd.nattrs++] = (struct sg_attr){"edge", o->value ? "rising" : "falling"};
		break;
	case GPIO_OUT_LEVEL:
		rd.value.type = SG_VAL_BOOL;
		rd.value.b = o->value;
		if (o->initial)
			attrs[rd.nattrs++] = (struct sg_attr){"edge", "initial"};
		break;
	case GPIO_OUT_COUNT:
		if (sl->c->scale == 1.0) {
			rd.value.type = SG_VAL_UINT;
			rd.value.u = o->count;
		} else {
			rd.value.type = SG_VAL_DOUBLE;
			rd.value.d = (double)o->count * sl->c->scale;
			snprintf(num[1], sizeof(num[1]), "%llu", (unsigned long long)o->count);
			attrs[rd.nattrs++] = (struct sg_attr){"count", num[1]};
		}
		snprintf(num[0], sizeof(num[0]), "%lld", (long long)(o->window_ns / SG_NS_PER_MS));
		attrs[rd.nattrs++] = (struct sg_attr){"window_ms", num[0]};
		if (o->partial)
			attrs[rd.nattrs++] = (struct sg_attr){"partial", "true"};
		break;
	default: return;
	}
	if (o->lost || o->suspect) {
		rd.quality = SG_Q_UNCERTAIN;
		if (o->lost)
			snprintf(reason, sizeof(reason),
				 "kernel event queue overflow: %llu events lost before this",
				 (unsigned long long)o->lost);
		else
			snprintf(reason, sizeof(reason),
				 "kernel event queue was full: events may have been lost");
		rd.reason = reason;
	}
	rc = sg_source_emit(d->src, &rd);
	if (rc == SG_EIO || rc == SG_ENOSPC)
		/* A kernel event cannot be read twice: this one is gone,
		 * and the core has counted it in emit_errors. */
		sg_log_rl(&d->rl_emit, SG_LOG_ERROR, gpio_name(d), "line %s: event not stored: %s",
			  sl->c->id, sg_strerror(rc));
}

/* --- lifecycle -------------------------------------------------------- */

static int gpio_init(struct sg_source *src, const void *conf, void **state, struct sg_errbuf *eb)
{
	const struct gpio_conf *c = conf;
	const struct gpio_line_conf *lcs = c->lines.items;
	struct gpio_drv *d;

	d = sg_xcalloc(1, sizeof(*d));
	d->src = src;
	d->c = c;
	d->be = gpio_backend_override ? gpio_backend_override
		: gpio_conf_is_sim(c) ? &gpio_backend_sim
				      : &gpio_backend_real;
	d->n = c->lines.n;
	d->l = sg_xcalloc(d->n, sizeof(*d->l));
	for (size_t i = 0; i < d->n; i++) {
		struct gpio_src_line *sl = &d->l[i];

		if (lcs[i].debounce_by == GPIO_DB_KERNEL && lcs[i].debounce_ms &&
		    !d->be->can_debounce) {
			int rc =
			    sg_errf(eb, SG_ECONFIG,
				    "line '%s': debounce_by: kernel needs libgpiod 2 (this is %s); "
				    "use auto or software",
				    lcs[i].id, d->be->name);
			free(d->l);
			free(d);
			return rc;
		}
		sl->c = &lcs[i];
		sl->d = d;
		gpio_conf_request(c, sl->c, d->be->can_debounce, &sl->req, &sl->lsm);
	}
	pthread_mutex_init(&d->mu, NULL);
	d->m_edges = sg_source_counter(src, "gpio_edges");
	d->m_overflows = sg_source_counter(src, "gpio_overflows");
	d->m_lost = sg_source_counter(src, "gpio_events_lost");
	d->m_bounces = sg_source_counter(src, "gpio_bounces");
	d->m_repeats = sg_source_counter(src, "gpio_repeated_edges");
	*state = d;
	return SG_OK;
}

static void gpio_release_all(struct gpio_drv *d)
{
	for (size_t i = 0; i < d->n; i++) {
		if (d->l[i].requested)
			d->be->line_release(d->l[i].port.line);
		d->l[i].requested = false;
		d->l[i].port.line = NULL;
	}
	if (d->chip)
		d->be->chip_close(d->chip);
	d->chip = NULL;
}

static int gpio_request_line(struct gpio_drv *d, struct gpio_src_line *sl, int64_t now,
			     struct sg_errbuf *eb)
{
	struct sg_errbuf leb = {{0}};
	int rc, level;

	sl->port.be = d->be;
	rc = d->be->line_request(d->chip, &sl->req, &sl->port.line, &sl->port.info, &leb);
	if (rc != SG_OK)
		return sg_errf(eb, rc, "chip %s, line '%s' (%s): %s", d->c->chip, sl->c->id,
			       sl->c->line, leb.msg);
	sl->requested = true;
	if (sl->req.dir == GPIO_DIR_INPUT) {
		level = d->be->line_get(sl->port.line);
		gpio_lsm_init(&sl->port.lsm, &sl->lsm);
		gpio_lsm_start(&sl->port.lsm, level, now, gpio_on_out, sl);
	}
	return SG_OK;
}

static int gpio_start(void *state, struct sg_errbuf *eb)
{
	struct gpio_drv *d = state;
	int64_t now;
	int rc;

	pthread_mutex_lock(&d->mu);
	rc = d->be->chip_open(d->c->chip, &d->chip, eb);
	now = sg_now_mono_ns();
	d->wall_off = sg_now_ns() - now;
	for (size_t i = 0; rc == SG_OK && i < d->n; i++)
		rc = gpio_request_line(d, &d->l[i], now, eb);
	if (rc != SG_OK)
		gpio_release_all(d);
	pthread_mutex_unlock(&d->mu);
	if (rc == SG_OK)
		sg_info(gpio_name(d), "%zu lines on %s (%s)", d->n, d->c->chip, d->be->name);
	return rc;
}

static int gpio_step(void *state, struct sg_wait *w)
{
	struct gpio_drv *d = state;
	int64_t now = sg_now_mono_ns(), next = 0, off = sg_now_ns() - now;

	/* Follow wall-clock steps and slew, but not the jitter of reading
	 * two clocks, so events of one step (and count windows) keep exact
	 * spacing. */
	if (off - d->wall_off > SG_NS_PER_MS || d->wall_off - off > SG_NS_PER_MS)
		d->wall_off = off;
	w->nfds = 0;
	for (size_t i = 0; i < d->n; i++) {
		struct gpio_src_line *sl = &d->l[i];
		int64_t due;
		int fd, rc;

		if (!sl->requested || sl->req.dir != GPIO_DIR_INPUT)
			continue;
		rc = gpio_port_step(&sl->port, now, now + d->wall_off, gpio_on_out, sl);
		if (rc != SG_OK) {
			sg_error(gpio_name(d), "line '%s': read failed: %s", sl->c->id,
				 sg_strerror(rc));
			return SG_EIO; /* the core stops, backs off, starts again */
		}
		sg_counter_add(d->m_edges, sl->port.lsm.st.accepted - sl->edges_seen);
		sl->edges_seen = sl->port.lsm.st.accepted;
		sg_counter_add(d->m_bounces, sl->port.lsm.st.bounces - sl->bounces_seen);
		sl->bounces_seen = sl->port.lsm.st.bounces;
		sg_counter_add(d->m_repeats, sl->port.lsm.st.repeats - sl->repeats_seen);
		sl->repeats_seen = sl->port.lsm.st.repeats;
		fd = d->be->line_fd(sl->port.line);
		if (fd >= 0 && w->nfds < SG_WAIT_MAX_FDS)
			w->fds[w->nfds++] = (struct pollfd){.fd = fd, .events = POLLIN};
		due = gpio_port_deadline(&sl->port);
		if (due && (!next || due < next))
			next = due;
	}
	w->deadline_ns = next;
	return SG_OK;
}

static void gpio_stop(void *state)
{
	struct gpio_drv *d = state;
	int64_t now = sg_now_mono_ns();

	/* Counting lines: read what is left and emit the open window cut
	 * short, so a restart or shutdown loses no counted pulse. */
	for (size_t i = 0; i < d->n; i++) {
		struct gpio_src_line *sl = &d->l[i];
		if (!sl->requested || sl->req.dir != GPIO_DIR_INPUT ||
		    sl->lsm.mode != GPIO_MODE_COUNT)
			continue;
		if (gpio_port_step(&sl->port, now, now + d->wall_off, gpio_on_out, sl) == SG_OK)
			gpio_lsm_flush(&sl->port.lsm, now, gpio_on_out, sl);
	}
	pthread_mutex_lock(&d->mu);
	gpio_release_all(d);
	pthread_mutex_unlock(&d->mu);
}

static void gpio_fini(void *state)
{
	struct gpio_drv *d = state;

	if (!d)
		return;
	pthread_mutex_destroy(&d->mu);
	free(d->l);
	free(d);
}

/* --- actuation --------------------------------------------------------- */

static int gpio_value_bit(const struct sg_value *v, int *bit)
{
	switch (v->type) {
	case SG_VAL_BOOL: *bit = v->b; return SG_OK;
	case SG_VAL_INT: *bit = v->i != 0; return SG_OK;
	case SG_VAL_UINT: *bit = v->u != 0; return SG_OK;
	case SG_VAL_DOUBLE: *bit = v->d != 0; return SG_OK;
	case SG_VAL_STR: {
		static const char *const on[] = {"1", "true", "on", "high"};
		static const char *const off[] = {"0", "false", "off", "low"};
		for (size_t i = 0; i < SG_ARRAY_LEN(on); i++) {
			if (strlen(on[i]) == v->s.len && !strncasecmp(v->s.p, on[i], v->s.len)) {
				*bit = 1;
				return SG_OK;
			}
			if (strlen(off[i]) == v->s.len && !strncasecmp(v->s.p, off[i], v->s.len)) {
				*bit = 0;
				return SG_OK;
			}
		}
		return SG_EINVAL;
	}
	default: return SG_EINVAL;
	}
}

static int gpio_write(void *state, const char *target, const struct sg_value *v,
		      struct sg_errbuf *eb)
{
	struct gpio_drv *d = state;
	struct gpio_src_line *sl = NULL;
	int bit, rc;

	for (size_t i = 0; i < d->n && !sl; i++)
		if (!strcmp(d->l[i].c->id, target))
			sl = &d->l[i];
	if (!sl)
		return sg_errf(eb, SG_ENOTFOUND, "%s: no line '%s'", gpio_name(d), target);
	if (sl->req.dir != GPIO_DIR_OUTPUT)
		return sg_errf(eb, SG_EINVAL, "%s: line '%s' is an input", gpio_name(d), target);
	if (gpio_value_bit(v, &bit) != SG_OK)
		return sg_errf(eb, SG_EINVAL,
			       "%s: line '%s': value must be a bool, a number, or "
			       "on/off/true/false/high/low/1/0",
			       gpio_name(d), target);
	pthread_mutex_lock(&d->mu);
	if (!sl->requested)
		rc = sg_errf(eb, SG_EAGAIN, "%s: line '%s' is not open (chip not started)",
			     gpio_name(d), target);
	else if ((rc = d->be->line_set(sl->port.line, bit)) != SG_OK)
		sg_errf(eb, rc, "%s: line '%s': setting it failed", gpio_name(d), target);
	pthread_mutex_unlock(&d->mu);
	if (rc == SG_OK)
		sg_debug(gpio_name(d), "line %s set to %d", target, bit);
	return rc;
}

const struct sg_driver sg_driver_gpio = {
    .name = "gpio",
    .help = "GPIO lines (libgpiod v1 or v2, or `chip: sim`): edges with kernel timestamps, "
	    "debounce, sampling, pulse counting, outputs.",
    .conf = &gpio_table,
    .init = gpio_init,
    .start = gpio_start,
    .step = gpio_step,
    .stop = gpio_stop,
    .fini = gpio_fini,
    .write = gpio_write,
};
