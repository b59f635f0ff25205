/*
 * backend_fake.c - the scripted backend the unit tests drive (see
 * fake.h).  A fixed table of lines, each a ring of events with the
 * overflow behaviour of the kernel uAPI it imitates.
 */
#include "fake.h"

#include <string.h>

#include "gateway/base/err.h"

#define FAKE_LINES 16
#define FAKE_RING  1024

struct gpio_line {
	bool used, requested;
	struct gpio_line_cfg cfg;
	struct gpio_raw_event q[FAKE_RING];
	int head, n;
	uint64_t seq, dropped;
	int level;
};

struct gpio_chip {
	int dummy;
};

static struct {
	struct gpio_fake_opts o;
	struct gpio_chip chip;
	struct gpio_line l[FAKE_LINES];
} fk;

void gpio_fake_reset(const struct gpio_fake_opts *o)
{
	memset(&fk, 0, sizeof(fk));
	if (o)
		fk.o = *o;
	if (fk.o.depth <= 0 || fk.o.depth > FAKE_RING)
		fk.o.depth = 16;
}

static struct gpio_line *fake_line(unsigned offset)
{
	return offset < FAKE_LINES ? &fk.l[offset] : NULL;
}

void gpio_fake_edge(unsigned offset, int64_t ts_ns, bool rising)
{
	struct gpio_line *l = fake_line(offset);
	struct gpio_raw_event ev = {.ts_ns = ts_ns, .rising = rising};

	if (!l)
		return;
	l->level = rising;
	if (l->requested) {
		enum gpio_edge e = l->cfg.edge;
		if (e == GPIO_EDGE_NONE || (e == GPIO_EDGE_RISING && !rising) ||
		    (e == GPIO_EDGE_FALLING && rising))
			return;
	}
	if (fk.o.v2) {
		ev.has_seq = true;
		ev.line_seqno = ev.seqno = (uint32_t)++l->seq;
		if (l->n == fk.o.depth) { /* drop the oldest */
			l->head = (l->head + 1) % FAKE_RING;
			l->n--;
			l->dropped++;
		}
	} else if (l->n == fk.o.depth) { /* drop the newest */
		l->dropped++;
		return;
	}
	l->q[(l->head + l->n) % FAKE_RING] = ev;
	l->n++;
}

void gpio_fake_set_level(unsigned offset, int level)
{
	struct gpio_line *l = fake_line(offset);
	if (l)
		l->level = level;
}

int gpio_fake_level(unsigned offset)
{
	struct gpio_line *l = fake_line(offset);
	return l ? l->level : -1;
}

uint64_t gpio_fake_dropped(unsigned offset)
{
	struct gpio_line *l = fake_line(offset);
	return l ? l->dropped : 0;
}

const struct gpio_line_cfg *gpio_fake_cfg(unsigned offset)
{
	struct gpio_line *l = fake_line(offset);
	return l && l->used ? &l->cfg : NULL;
}

static int fake_chip_open(const char *chip, struct gpio_chip **out, struct sg_errbuf *eb)
{
	if (strcmp(chip, "fake") != 0)
		return sg_errf(eb, SG_ENOTFOUND, "no fake chip '%s'", chip);
	*out = &fk.chip;
	return SG_OK;
}

static void fake_chip_close(struct gpio_chip *c)
{
	(void)c;
}

static int fake_line_request(struct gpio_chip *c, const struct gpio_line_cfg *cfg,
			     struct gpio_line **out, struct gpio_line_info *info,
			     struct sg_errbuf *eb)
{
	unsigned off = cfg->offset;
	struct gpio_line *l;

	(void)c;
	if (cfg->name && !gpio_parse_offset(cfg->name + (cfg->name[0] == 'L'), &off))
		return sg_errf(eb, SG_ENOTFOUND, "no line named '%s'", cfg->name);
	if (!(l = fake_line(off)))
		return sg_errf(eb, SG_ENOTFOUND, "no line %u", off);
	if (l->requested)
		return sg_errf(eb, SG_EDRIVER, "line %u is busy", off);
	l->used = l->requested = true;
	l->cfg = *cfg;
	l->head = l->n = 0;
	l->seq = 0;
	if (cfg->dir == GPIO_DIR_OUTPUT)
		l->level = cfg->initial;
	memset(info, 0, sizeof(*info));
	info->offset = off;
	info->kernel_debounce = fk.o.kernel_debounce && cfg->debounce_us > 0;
	info->has_seqno = fk.o.v2;
	info->clock = fk.o.clock;
	info->queue_depth = fk.o.depth;
	*out = l;
	return SG_OK;
}

static void fake_line_release(struct gpio_line *l)
{
	l->requested = false;
}

static int fake_line_fd(struct gpio_line *l)
{
	(void)l;
	return -1;
}

static int fake_line_read(struct gpio_line *l, struct gpio_raw_event *ev, size_t max,
			  int64_t now_mono)
{
	int n = 0;

	(void)now_mono;
	if (fk.o.fail_read)
		return SG_EIO;
	while (l->n > 0 && (size_t)n < max) {
		ev[n++] = l->q[l->head];
		l->head = (l->head + 1) % FAKE_RING;
		l->n--;
	}
	return n;
}

static int fake_line_get(struct gpio_line *l)
{
	return l->level;
}

static int fake_line_set(struct gpio_line *l, int value)
{
	if (l->cfg.dir != GPIO_DIR_OUTPUT)
		return SG_EINVAL;
	l->level = !!value;
	return SG_OK;
}

const struct gpio_backend gpio_backend_fake = {
    .name = "fake",
    .chip_open = fake_chip_open,
    .chip_close = fake_chip_close,
    .line_request = fake_line_request,
    .line_release = fake_line_release,
    .line_fd = fake_line_fd,
    .line_read = fake_line_read,
    .line_get = fake_line_get,
    .line_set = fake_line_set,
    .line_next_due = NULL,
};

/* The same, claiming kernel debounce like libgpiod 2. */
const struct gpio_backend gpio_backend_fake_v2 = {
    .name = "fake2",
    .can_debounce = true,
    .chip_open = fake_chip_open,
    .chip_close = fake_chip_close,
    .line_request = fake_line_request,
    .line_release = fake_line_release,
    .line_fd = fake_line_fd,
    .line_read = fake_line_read,
    .line_get = fake_line_get,
    .line_set = fake_line_set,
    .line_next_due = NULL,
};
