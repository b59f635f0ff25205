/*
 * simchip.c - the simulated chip (`chip: sim`): each input line plays
 * a level pattern ("1000ms high, 500ms low", cycled) or toggles at random
 * ("random 2s": exponentially distributed times with that mean), with an
 * optional contact bounce of a few extra edges after every transition.
 *
 * The simulator stands where the kernel stands: it stamps edges on
 * CLOCK_MONOTONIC, numbers them like uAPI v2 (line_seqno), queues them in
 * a bounded ring that drops the oldest when full, applies active-low and
 * the requested edge filter, and offers no debounce of its own, so the
 * driver's software debounce, counting and overflow detection see exactly
 * what they would see from a real line.  Time is the real monotonic
 * clock: edges become readable when they are due.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/base/buf.h"
#include "gateway/base/clock.h"
#include "gateway/base/mem.h"
#include "backend.h"
#include "simchip.h"
#include "gateway/base/parse.h"

#define SIM_RING 256

struct gpio_chip {
	int dummy;
};

struct gpio_line {
	struct gpio_line_cfg cfg;
	struct gpio_sim_pattern pat;
	int seg;        /* current pattern segment */
	int phys;       /* physical level now */
	int64_t next_t; /* next transition (monotonic) */
	int64_t bounce[2 * GPIO_SIM_MAX_BOUNCE];
	int nbounce, ibounce; /* pending bounce edges, next index */
	int out;              /* outputs: the level set */
	uint64_t rng, seq;
	struct gpio_raw_event q[SIM_RING];
	int head, n, depth;
};

static struct gpio_chip sim_chip;

/* --- pattern --------------------------------------------------------- */

static char *sim_trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		*--e = '\0';
	return s;
}

static int sim_level_word(const char *w)
{
	if (!strcmp(w, "high") || !strcmp(w, "1") || !strcmp(w, "on"))
		return 1;
	if (!strcmp(w, "low") || !strcmp(w, "0") || !strcmp(w, "off"))
		return 0;
	return -1;
}

int gpio_sim_pattern_parse(const char *text, struct gpio_sim_pattern *p, struct sg_errbuf *eb)
{
	char buf[512], *save = NULL, *tok;
	int64_t ms;

	memset(p, 0, sizeof(*p));
	if (!text || !*text)
		text = "1s high, 1s low";
	if (strlen(text) >= sizeof(buf))
		return sg_errf(eb, SG_EINVAL, "pattern too long");
	snprintf(buf, sizeof(buf), "%s", text);
	if (!strncmp(buf, "random", 6) && (buf[6] == ' ' || buf[6] == '\0')) {
		char *arg = sim_trim(buf + 6);
		if (sg_parse_duration_ms(arg, &ms) != 0 || ms < 1)
			return sg_errf(
			    eb, SG_EINVAL,
			    "pattern '%s': expected `random MEAN` with MEAN a duration such as 2s",
			    text);
		p->random = true;
		p->mean_ns = ms * SG_NS_PER_MS;
		return SG_OK;
	}
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *seg = sim_trim(tok), *sp = strchr(seg, ' ');
		int lvl;

		if (!sp)
			return sg_errf(eb, SG_EINVAL,
				       "pattern '%s': segment '%s' is not `DURATION high|low`",
				       text, seg);
		*sp = '\0';
		lvl = sim_level_word(sim_trim(sp + 1));
		if (sg_parse_duration_ms(seg, &ms) != 0 || ms < 1 || lvl < 0)
			return sg_errf(eb, SG_EINVAL,
				       "pattern '%s': segment '%s %s' is not `DURATION high|low`",
				       text, seg, sim_trim(sp + 1));
		if (p->nseg == GPIO_SIM_MAX_SEGS)
			return sg_errf(eb, SG_EINVAL, "pattern '%s': more than %d segments", text,
				       GPIO_SIM_MAX_SEGS);
		p->seg[p->nseg].dur_ns = ms * SG_NS_PER_MS;
		p->seg[p->nseg].level = lvl;
		p->nseg++;
	}
	if (!p->nseg)
		return sg_errf(eb, SG_EINVAL, "pattern '%s' is empty", text);
	return SG_OK;
}

/* --- the line -------------------------------------------------------- */

static double sim_rand(struct gpio_line *l) /* xorshift64*, uniform (0,1) */
{
	l->rng ^= l->rng >> 12;
	l->rng ^= l->rng << 25;
	l->rng ^= l->rng >> 27;
	return ((double)((l->rng * 2685821657736338717ull) >> 11) + 0.5) / 9007199254740992.0;
}

static int64_t sim_random_gap(struct gpio_line *l)
{
	double u = sim_rand(l);
	int64_t gap = (int64_t)(-(double)l->pat.mean_ns * log(u));
	return gap < SG_NS_PER_MS ? SG_NS_PER_MS : gap;
}

/* Queue one physical edge at t, as the kernel would. */
static void sim_queue(struct gpio_line *l, int phys, int64_t t)
{
	int logical = phys ^ (int)l->cfg.active_low;
	enum gpio_edge e = l->cfg.edge;
	struct gpio_raw_event ev;

	if (l->cfg.dir != GPIO_DIR_INPUT || e == GPIO_EDGE_NONE ||
	    (e == GPIO_EDGE_RISING && !logical) || (e == GPIO_EDGE_FALLING && logical))
		return;
	ev.ts_ns = t;
	ev.rising = logical;
	ev.has_seq = true;
	ev.line_seqno = ev.seqno = (uint32_t)++l->seq;
	if (l->n == l->depth) { /* drop the oldest, like uAPI v2 */
		l->head = (l->head + 1) % SIM_RING;
		l->n--;
	}
	l->q[(l->head + l->n) % SIM_RING] = ev;
	l->n++;
}

/* The contact of a transition to `to` at t chatters: 2k edges spread over
 * the bounce time after it, ending at `to`. */
static void sim_plan_bounce(struct gpio_line *l, int64_t t)
{
	int k = (int)l->cfg.sim_bounce_edges;

	l->nbounce = l->ibounce = 0;
	if (l->cfg.sim_bounce_ns <= 0 || k <= 0)
		return;
	if (k > GPIO_SIM_MAX_BOUNCE)
		k = GPIO_SIM_MAX_BOUNCE;
	for (int j = 0; j < 2 * k; j++) {
		double pos = ((double)j + sim_rand(l)) / (double)(2 * k);
		l->bounce[l->nbounce++] = t + 1 + (int64_t)(pos * (double)l->cfg.sim_bounce_ns);
	}
}

static void sim_next_transition(struct gpio_line *l)
{
	if (l->pat.random) {
		l->next_t += sim_random_gap(l);
		return;
	}
	l->seg = (l->seg + 1) % l->pat.nseg;
	l->next_t += l->pat.seg[l->seg].dur_ns;
}

/* Play the line forward to now. */
static void sim_advance(struct gpio_line *l, int64_t now)
{
	for (;;) {
		bool bounce = l->ibounce < l->nbounce;
		int64_t tb = bounce ? l->bounce[l->ibounce] : 0;

		if (bounce && tb <= l->next_t) {
			if (tb > now)
				return;
			l->phys = !l->phys; /* chatter: away, back, away, ... */
			sim_queue(l, l->phys, tb);
			l->ibounce++;
			continue;
		}
		if (l->next_t > now)
			return;
		{
			int64_t t = l->next_t;
			int to =
			    l->pat.random ? !l->phys : l->pat.seg[(l->seg + 1) % l->pat.nseg].level;

			sim_next_transition(l);
			l->nbounce = l->ibounce = 0;
			if (to == l->phys)
				continue; /* two segments at the same level */
			l->phys = to;
			sim_queue(l, to, t);
			sim_plan_bounce(l, t);
		}
	}
}

static int sim_chip_open(const char *chip, struct gpio_chip **out, struct sg_errbuf *eb)
{
	if (strcmp(chip, "sim") != 0)
		return sg_errf(eb, SG_ENOTFOUND, "the simulator has no chip '%s'", chip);
	*out = &sim_chip;
	return SG_OK;
}

static void sim_chip_close(struct gpio_chip *c)
{
	(void)c;
}

static int sim_line_request(struct gpio_chip *c, const struct gpio_line_cfg *cfg,
			    struct gpio_line **out, struct gpio_line_info *info,
			    struct sg_errbuf *eb)
{
	struct gpio_line *l;
	int rc;

	(void)c;
	l = calloc(1, sizeof(*l));
	if (!l)
		return sg_errf(eb, SG_ENOMEM, "out of memory");
	l->cfg = *cfg;
	if (cfg->dir == GPIO_DIR_INPUT &&
	    (rc = gpio_sim_pattern_parse(cfg->sim_pattern, &l->pat, eb)) != SG_OK) {
		free(l);
		return rc;
	}
	l->rng = (cfg->seed + 1) * 0x9e3779b97f4a7c15ull + cfg->offset + 1;
	l->depth = cfg->queue_depth > 0 && cfg->queue_depth < SIM_RING ? (int)cfg->queue_depth : 64;
	l->next_t = sg_now_mono_ns();
	if (l->pat.random) {
		l->phys = 0;
		l->next_t += sim_random_gap(l);
	} else if (l->pat.nseg) {
		l->seg = 0; /* the line starts at the first segment's level */
		l->phys = l->pat.seg[0].level;
		l->next_t += l->pat.seg[0].dur_ns;
	}
	l->out = cfg->initial;
	memset(info, 0, sizeof(*info));
	info->offset = cfg->offset;
	info->has_seqno = true;
	info->clock = GPIO_CLOCK_MONOTONIC;
	info->queue_depth = l->depth;
	*out = l;
	return SG_OK;
}

static void sim_line_release(struct gpio_line *l)
{
	free(l);
}

static int sim_line_fd(struct gpio_line *l)
{
	(void)l;
	return -1;
}

static int sim_line_read(struct gpio_line *l, struct gpio_raw_event *ev, size_t max,
			 int64_t now_mono)
{
	int n = 0;

	if (l->cfg.dir != GPIO_DIR_INPUT)
		return 0;
	sim_advance(l, now_mono);
	while (l->n > 0 && (size_t)n < max) {
		ev[n++] = l->q[l->head];
		l->head = (l->head + 1) % SIM_RING;
		l->n--;
	}
	return n;
}

static int sim_line_get(struct gpio_line *l)
{
	if (l->cfg.dir == GPIO_DIR_OUTPUT)
		return l->out;
	sim_advance(l, sg_now_mono_ns());
	return l->phys ^ (int)l->cfg.active_low;
}

static int sim_line_set(struct gpio_line *l, int value)
{
	if (l->cfg.dir != GPIO_DIR_OUTPUT)
		return SG_EINVAL;
	l->out = !!value;
	return SG_OK;
}

static int64_t sim_line_next_due(struct gpio_line *l)
{
	if (l->cfg.dir != GPIO_DIR_INPUT || l->cfg.edge == GPIO_EDGE_NONE)
		return 0;
	if (l->n > 0)
		return 1; /* events wait: at once */
	if (l->ibounce < l->nbounce && l->bounce[l->ibounce] < l->next_t)
		return l->bounce[l->ibounce];
	return l->next_t;
}

const struct gpio_backend gpio_backend_sim = {
    .name = "sim",
    .chip_open = sim_chip_open,
    .chip_close = sim_chip_close,
    .line_request = sim_line_request,
    .line_release = sim_line_release,
    .line_fd = sim_line_fd,
    .line_read = sim_line_read,
    .line_get = sim_line_get,
    .line_set = sim_line_set,
    .line_next_due = sim_line_next_due,
};
