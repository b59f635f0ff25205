/*
 * backend_v1.c - GPIO lines through libgpiod 1.x (Debian 12, Raspberry Pi
 * OS bookworm), which speaks the kernel's GPIO character device uAPI v1.
 * Compiled only when SG_GPIOD_MAJOR == 1.
 *
 * What uAPI v1 gives and does not give, and what we do about it:
 * - event timestamps are CLOCK_REALTIME before Linux 5.7 and
 *   CLOCK_MONOTONIC since; libgpiod 1.x passes them on as a timespec
 *   without saying which.  We report GPIO_CLOCK_GUESS and the reader
 *   classifies each stamp by the clock it is nearest to
 *   (gpio_clock_guess()).
 * - no debounce: the driver debounces in software from the timestamps.
 * - no sequence numbers, and the kernel queue (16 events per line) drops
 *   the NEWEST event when full.  Loss is invisible in the stream; the
 *   honest signal is a read that finds the queue full (queue_depth = 16).
 * - events are read only after poll() says the fd is readable, because
 *   gpiod_line_event_read_multiple() blocks on an empty queue.
 */
#if defined(SG_GPIOD_MAJOR) && (SG_GPIOD_MAJOR + 0) == 1

#include <errno.h>
#include <gpiod.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/base/buf.h"
#include "gateway/base/clock.h"
#include "gateway/base/mem.h"
#include "backend.h"

#define V1_QUEUE_DEPTH 16 /* the kernel's lineevent kfifo */

struct gpio_chip {
	struct gpiod_chip *c;
};

struct gpio_line {
	struct gpiod_line *l;
	bool events;
};

static int v1_chip_open(const char *chip, struct gpio_chip **out, struct sg_errbuf *eb)
{
	struct gpio_chip *c;
	struct gpiod_chip *gc;

	/* Path, name (gpiochip0), label (pinctrl-bcm2711) or number. */
	gc = gpiod_chip_open_lookup(chip);
	if (!gc)
		return sg_errf(eb, errno == ENOENT ? SG_ENOTFOUND : SG_EIO,
			       "cannot open GPIO chip '%s': %s%s", chip, strerror(errno),
			       errno == EACCES ? " (is the user in the gpio group?)" : "");
	c = calloc(1, sizeof(*c));
	if (!c) {
		gpiod_chip_close(gc);
		return sg_errf(eb, SG_ENOMEM, "out of memory");
	}
	c->c = gc;
	*out = c;
	return SG_OK;
}

static void v1_chip_close(struct gpio_chip *c)
{
	if (!c)
		return;
	gpiod_chip_close(c->c);
	free(c);
}

static int v1_request_type(const struct gpio_line_cfg *cfg)
{
	if (cfg->dir == GPIO_DIR_OUTPUT)
		return GPIOD_LINE_REQUEST_DIRECTION_OUTPUT;
	switch (cfg->edge) {
	case GPIO_EDGE_RISING: return GPIOD_LINE_REQUEST_EVENT_RISING_EDGE;
	case GPIO_EDGE_FALLING: return GPIOD_LINE_REQUEST_EVENT_FALLING_EDGE;
	case GPIO_EDGE_BOTH: return GPIOD_LINE_REQUEST_EVENT_BOTH_EDGES;
	default: return GPIOD_LINE_REQUEST_DIRECTION_INPUT;
	}
}

static int v1_flags(const struct gpio_line_cfg *cfg)
{
	int f = cfg->active_low ? GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW : 0;

	switch (cfg->bias) {
	case GPIO_BIAS_DISABLED: f |= GPIOD_LINE_REQUEST_FLAG_BIAS_DISABLE; break;
	case GPIO_BIAS_PULL_UP: f |= GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP; break;
	case GPIO_BIAS_PULL_DOWN: f |= GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_DOWN; break;
	default: break;
	}
	return f;
}

static int v1_line_request(struct gpio_chip *c, const struct gpio_line_cfg *cfg,
			   struct gpio_line **out, struct gpio_line_info *info,
			   struct sg_errbuf *eb)
{
	struct gpiod_line_request_config rc = {0};
	struct gpiod_line *gl;
	struct gpio_line *l;

	gl = cfg->name ? gpiod_chip_find_line(c->c, cfg->name)
		       : gpiod_chip_get_line(c->c, cfg->offset);
	if (!gl) {
		if (cfg->name)
			return sg_errf(eb, SG_ENOTFOUND, "no line named '%s' on %s", cfg->name,
				       gpiod_chip_name(c->c));
		return sg_errf(eb, SG_ENOTFOUND, "no line %u on %s (it has %u)", cfg->offset,
			       gpiod_chip_name(c->c), gpiod_chip_num_lines(c->c));
	}
	rc.consumer = cfg->consumer ? cfg->consumer : "sensorgate";
	rc.request_type = v1_request_type(cfg);
	rc.flags = v1_flags(cfg);
	if (gpiod_line_request(gl, &rc, cfg->initial ? 1 : 0) < 0)
		return sg_errf(eb, errno == EBUSY ? SG_EDRIVER : SG_EIO,
			       "cannot request line %u on %s: %s%s", gpiod_line_offset(gl),
			       gpiod_chip_name(c->c), strerror(errno),
			       errno == EBUSY ? " (used by another program)" : "");
	l = calloc(1, sizeof(*l));
	if (!l) {
		gpiod_line_release(gl);
		return sg_errf(eb, SG_ENOMEM, "out of memory");
	}
	l->l = gl;
	l->events = cfg->dir == GPIO_DIR_INPUT && cfg->edge != GPIO_EDGE_NONE;
	memset(info, 0, sizeof(*info));
	info->offset = gpiod_line_offset(gl);
	info->kernel_debounce = false;
	info->has_seqno = false;
	info->clock = GPIO_CLOCK_GUESS;
	info->queue_depth = l->events ? V1_QUEUE_DEPTH : 0;
	*out = l;
	return SG_OK;
}

static void v1_line_release(struct gpio_line *l)
{
	if (!l)
		return;
	gpiod_line_release(l->l);
	free(l);
}

static int v1_line_fd(struct gpio_line *l)
{
	return l->events ? gpiod_line_event_get_fd(l->l) : -1;
}

static int v1_line_read(struct gpio_line *l, struct gpio_raw_event *ev, size_t max,
			int64_t now_mono)
{
	struct gpiod_line_event buf[64];
	struct pollfd pfd;
	int n;

	(void)now_mono;
	if (!l->events || !max)
		return 0;
	pfd.fd = gpiod_line_event_get_fd(l->l);
	pfd.events = POLLIN;
	pfd.revents = 0;
	n = poll(&pfd, 1, 0);
	if (n < 0)
		return errno == EINTR ? 0 : SG_EIO;
	if (n == 0 || !(pfd.revents & POLLIN))
		return (pfd.revents & (POLLERR | POLLHUP | POLLNVAL)) ? SG_EIO : 0;
	if (max > SG_ARRAY_LEN(buf))
		max = SG_ARRAY_LEN(buf);
	n = gpiod_line_event_read_multiple(l->l, buf, (unsigned)max);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : SG_EIO;
	for (int i = 0; i < n; i++) {
		ev[i].ts_ns = (int64_t)buf[i].ts.tv_sec * SG_NS_PER_S + buf[i].ts.tv_nsec;
		ev[i].rising = buf[i].event_type == GPIOD_LINE_EVENT_RISING_EDGE;
		ev[i].has_seq = false;
		ev[i].line_seqno = ev[i].seqno = 0;
	}
	return n;
}

static int v1_line_get(struct gpio_line *l)
{
	int v = gpiod_line_get_value(l->l);
	return v < 0 ? SG_EIO : v;
}

static int v1_line_set(struct gpio_line *l, int value)
{
	return gpiod_line_set_value(l->l, value ? 1 : 0) < 0 ? SG_EIO : SG_OK;
}

const struct gpio_backend gpio_backend_real = {
    .name = "libgpiod1",
    .chip_open = v1_chip_open,
    .chip_close = v1_chip_close,
    .line_request = v1_line_request,
    .line_release = v1_line_release,
    .line_fd = v1_line_fd,
    .line_read = v1_line_read,
    .line_get = v1_line_get,
    .line_set = v1_line_set,
    .line_next_due = NULL,
};

#endif /* SG_GPIOD_MAJOR == 1 */
