/*
 * backend_v2.c - GPIO lines through libgpiod 2.x (Debian 13, Raspberry Pi
 * OS trixie), which speaks the kernel's GPIO character device uAPI v2.
 * Compiled only when SG_GPIOD_MAJOR == 2; uses the libgpiod 2.0 API only.
 *
 * What uAPI v2 gives over v1, and how we use it:
 * - the event clock is chosen per request: CLOCK_MONOTONIC (the default,
 *   immune to wall-clock steps) or CLOCK_REALTIME (`event_clock:
 *   realtime`, wall time straight from the kernel, Linux 5.11+).  The
 *   reader converts either to monotonic for debounce and counting and to
 *   wall time for the event.
 * - kernel debounce (debounce_period_us, in the GPIO hardware or in the
 *   kernel's own software debouncer).  The kernel stamps a debounced edge
 *   when it accepts it, i.e. once the line has been stable for the period.
 * - every event carries line_seqno (1, 2, ... per line) and seqno (per
 *   request; one line per request here, so the same).  A full kernel
 *   queue drops its OLDEST event, so a gap in line_seqno counts the loss
 *   exactly.
 * One line is one request so that each line has its own fd and queue.
 */
#if defined(SG_GPIOD_MAJOR) && (SG_GPIOD_MAJOR + 0) == 2

#include <dirent.h>
#include <errno.h>
#include <gpiod.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/base/buf.h"
#include "gateway/base/clock.h"
#include "gateway/base/mem.h"
#include "backend.h"

#define V2_DEFAULT_DEPTH 16 /* the kernel's default: 16 per line */
#define V2_BATCH         64

struct gpio_chip {
	struct gpiod_chip *c;
	char path[256];
};

struct gpio_line {
	struct gpiod_line_request *req;
	struct gpiod_edge_event_buffer *buf;
	unsigned offset;
	bool events;
};

/* Open the chip whose label is `label`, scanning /dev/gpiochip*. */
static struct gpiod_chip *v2_open_by_label(const char *label, char *path, size_t n)
{
	struct gpiod_chip *found = NULL;
	struct dirent *de;
	DIR *d = opendir("/dev");

	if (!d)
		return NULL;
	while (!found && (de = readdir(d))) {
		struct gpiod_chip_info *ci;
		struct gpiod_chip *gc;

		if (strncmp(de->d_name, "gpiochip", 8) != 0)
			continue;
		/* A name too long for path is no chip to open (and checking the
		 * result is what gcc 14's -Wformat-truncation asks for). */
		if ((size_t)snprintf(path, n, "/dev/%s", de->d_name) >= n)
			continue;
		if (!gpiod_is_gpiochip_device(path) || !(gc = gpiod_chip_open(path)))
			continue;
		ci = gpiod_chip_get_info(gc);
		if (ci && !strcmp(gpiod_chip_info_get_label(ci), label))
			found = gc;
		else
			gpiod_chip_close(gc);
		if (ci)
			gpiod_chip_info_free(ci);
	}
	closedir(d);
	if (!found)
		errno = ENOENT;
	return found;
}

static int v2_chip_open(const char *chip, struct gpio_chip **out, struct sg_errbuf *eb)
{
	struct gpiod_chip *gc = NULL;
	char path[256];
	unsigned num;

	if (chip[0] == '/')
		snprintf(path, sizeof(path), "%s", chip);
	else if (gpio_parse_offset(chip, &num))
		snprintf(path, sizeof(path), "/dev/gpiochip%u", num);
	else
		snprintf(path, sizeof(path), "/dev/%s", chip);
	if (chip[0] == '/' || gpiod_is_gpiochip_device(path))
		gc = gpiod_chip_open(path);
	else
		gc = v2_open_by_label(chip, path, sizeof(path));
	if (!gc)
		return sg_errf(eb, errno == ENOENT ? SG_ENOTFOUND : SG_EIO,
			       "cannot open GPIO chip '%s': %s%s", chip, strerror(errno),
			       errno == EACCES ? " (is the user in the gpio group?)" : "");
	*out = calloc(1, sizeof(**out));
	if (!*out) {
		gpiod_chip_close(gc);
		return sg_errf(eb, SG_ENOMEM, "out of memory");
	}
	(*out)->c = gc;
	snprintf((*out)->path, sizeof((*out)->path), "%s", path);
	return SG_OK;
}

static void v2_chip_close(struct gpio_chip *c)
{
	if (!c)
		return;
	gpiod_chip_close(c->c);
	free(c);
}

static struct gpiod_line_settings *v2_settings(const struct gpio_line_cfg *cfg)
{
	static const enum gpiod_line_edge edges[] = {
	    [GPIO_EDGE_NONE] = GPIOD_LINE_EDGE_NONE,
	    [GPIO_EDGE_RISING] = GPIOD_LINE_EDGE_RISING,
	    [GPIO_EDGE_FALLING] = GPIOD_LINE_EDGE_FALLING,
	    [GPIO_EDGE_BOTH] = GPIOD_LINE_EDGE_BOTH,
	};
	static const enum gpiod_line_bias biases[] = {
	    [GPIO_BIAS_AS_IS] = GPIOD_LINE_BIAS_AS_IS,
	    [GPIO_BIAS_DISABLED] = GPIOD_LINE_BIAS_DISABLED,
	    [GPIO_BIAS_PULL_UP] = GPIOD_LINE_BIAS_PULL_UP,
	    [GPIO_BIAS_PULL_DOWN] = GPIOD_LINE_BIAS_PULL_DOWN,
	};
	struct gpiod_line_settings *s = gpiod_line_settings_new();
	int rc = 0;

	if (!s)
		return NULL;
	gpiod_line_settings_set_active_low(s, cfg->active_low);
	if (cfg->dir == GPIO_DIR_OUTPUT) {
		rc |= gpiod_line_settings_set_direction(s, GPIOD_LINE_DIRECTION_OUTPUT);
		rc |= gpiod_line_settings_set_output_value(
		    s, cfg->initial ? GPIOD_LINE_VALUE_ACTIVE : GPIOD_LINE_VALUE_INACTIVE);
	} else {
		rc |= gpiod_line_settings_set_direction(s, GPIOD_LINE_DIRECTION_INPUT);
		rc |= gpiod_line_settings_set_edge_detection(s, edges[cfg->edge]);
		rc |= gpiod_line_settings_set_bias(s, biases[cfg->bias]);
		if (cfg->debounce_us > 0)
			gpiod_line_settings_set_debounce_period_us(s,
								   (unsigned long)cfg->debounce_us);
		if (cfg->edge != GPIO_EDGE_NONE)
			rc |= gpiod_line_settings_set_event_clock(
			    s, cfg->clock == GPIO_CLOCK_REALTIME ? GPIOD_LINE_CLOCK_REALTIME
								 : GPIOD_LINE_CLOCK_MONOTONIC);
	}
	if (rc) {
		gpiod_line_settings_free(s);
		return NULL;
	}
	return s;
}

/* Build the request for one line; NULL with errno set on failure. */
static struct gpiod_line_request *v2_request(struct gpio_chip *c, const struct gpio_line_cfg *cfg,
					     unsigned offset)
{
	struct gpiod_line_settings *s = v2_settings(cfg);
	struct gpiod_line_config *lc = gpiod_line_config_new();
	struct gpiod_request_config *rc = gpiod_request_config_new();
	struct gpiod_line_request *req = NULL;
	int err = EINVAL;

	if (s && lc && rc && gpiod_line_config_add_line_settings(lc, &offset, 1, s) == 0) {
		gpiod_request_config_set_consumer(rc, cfg->consumer ? cfg->consumer : "sensorgate");
		if (cfg->queue_depth > 0)
			gpiod_request_config_set_event_buffer_size(rc, (size_t)cfg->queue_depth);
		req = gpiod_chip_request_lines(c->c, rc, lc);
		err = errno;
	}
	if (rc)
		gpiod_request_config_free(rc);
	if (lc)
		gpiod_line_config_free(lc);
	if (s)
		gpiod_line_settings_free(s);
	errno = err;
	return req;
}

static int v2_line_request(struct gpio_chip *c, const struct gpio_line_cfg *cfg,
			   struct gpio_line **out, struct gpio_line_info *info,
			   struct sg_errbuf *eb)
{
	struct gpio_line *l;
	unsigned offset = cfg->offset;

	if (cfg->name) {
		int o = gpiod_chip_get_line_offset_from_name(c->c, cfg->name);
		if (o < 0)
			return sg_errf(eb, SG_ENOTFOUND, "no line named '%s' on %s", cfg->name,
				       c->path);
		offset = (unsigned)o;
	}
	l = calloc(1, sizeof(*l));
	if (!l)
		return sg_errf(eb, SG_ENOMEM, "out of memory");
	l->offset = offset;
	l->events = cfg->dir == GPIO_DIR_INPUT && cfg->edge != GPIO_EDGE_NONE;
	l->req = v2_request(c, cfg, offset);
	if (!l->req) {
		int e = errno;
		free(l);
		return sg_errf(eb, e == EBUSY ? SG_EDRIVER : SG_EIO,
			       "cannot request line %u on %s: %s%s", offset, c->path, strerror(e),
			       e == EBUSY ? " (used by another program)"
			       : e == EINVAL && cfg->clock == GPIO_CLOCK_REALTIME
				   ? " (event_clock: realtime needs Linux 5.11)"
				   : "");
	}
	if (l->events && !(l->buf = gpiod_edge_event_buffer_new(V2_BATCH))) {
		gpiod_line_request_release(l->req);
		free(l);
		return sg_errf(eb, SG_ENOMEM, "out of memory");
	}
	memset(info, 0, sizeof(*info));
	info->offset = offset;
	info->kernel_debounce = cfg->dir == GPIO_DIR_INPUT && cfg->debounce_us > 0;
	info->has_seqno = true;
	info->clock =
	    cfg->clock == GPIO_CLOCK_REALTIME ? GPIO_CLOCK_REALTIME : GPIO_CLOCK_MONOTONIC;
	info->queue_depth = cfg->queue_depth > 0 ? cfg->queue_depth : V2_DEFAULT_DEPTH;
	*out = l;
	return SG_OK;
}

static void v2_line_release(struct gpio_line *l)
{
	if (!l)
		return;
	if (l->buf)
		gpiod_edge_event_buffer_free(l->buf);
	gpiod_line_request_release(l->req);
	free(l);
}

static int v2_line_fd(struct gpio_line *l)
{
	return l->events ? gpiod_line_request_get_fd(l->req) : -1;
}

static int v2_line_read(struct gpio_line *l, struct gpio_raw_event *ev, size_t max,
			int64_t now_mono)
{
	int n;

	(void)now_mono;
	if (!l->events || !max)
		return 0;
	/* read_edge_events() blocks on an empty queue: look first. */
	n = gpiod_line_request_wait_edge_events(l->req, 0);
	if (n <= 0)
		return n < 0 && errno != EINTR ? SG_EIO : 0;
	if (max > V2_BATCH)
		max = V2_BATCH;
	n = gpiod_line_request_read_edge_events(l->req, l->buf, max);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : SG_EIO;
	for (int i = 0; i < n; i++) {
		struct gpiod_edge_event *e =
		    gpiod_edge_event_buffer_get_event(l->buf, (unsigned long)i);
		ev[i].ts_ns = (int64_t)gpiod_edge_event_get_timestamp_ns(e);
		ev[i].rising = gpiod_edge_event_get_event_type(e) == GPIOD_EDGE_EVENT_RISING_EDGE;
		ev[i].has_seq = true;
		ev[i].line_seqno = (uint32_t)gpiod_edge_event_get_line_seqno(e);
		ev[i].seqno = (uint32_t)gpiod_edge_event_get_global_seqno(e);
	}
	return n;
}

static int v2_line_get(struct gpio_line *l)
{
	enum gpiod_line_value v = gpiod_line_request_get_value(l->req, l->offset);
	return v == GPIOD_LINE_VALUE_ERROR ? SG_EIO : v == GPIOD_LINE_VALUE_ACTIVE;
}

static int v2_line_set(struct gpio_line *l, int value)
{
	return gpiod_line_request_set_value(l->req, l->offset,
					    value ? GPIOD_LINE_VALUE_ACTIVE
						  : GPIOD_LINE_VALUE_INACTIVE) < 0
		   ? SG_EIO
		   : SG_OK;
}

const struct gpio_backend gpio_backend_real = {
    .name = "libgpiod2",
    .can_debounce = true,
    .chip_open = v2_chip_open,
    .chip_close = v2_chip_close,
    .line_request = v2_line_request,
    .line_release = v2_line_release,
    .line_fd = v2_line_fd,
    .line_read = v2_line_read,
    .line_get = v2_line_get,
    .line_set = v2_line_set,
    .line_next_due = NULL,
};

#endif /* SG_GPIOD_MAJOR == 2 */
