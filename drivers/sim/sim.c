/*
 * sim.c - synthetic sensors: sine, random walk, counter, toggle and step
 * waveforms at per-sensor rates from 0.1 Hz to hundreds of thousands of
 * events per second.
 *
 * Each sensor runs on a drift-free schedule: tick k is due at
 * start + k * period, and its event time is that instant on the wall
 * clock, so the stream carries the exact rate even when a step() is late
 * (the due ticks are emitted in one burst, at most `max_burst` per sensor
 * per step so one fast sensor cannot starve the others or the stop check).
 * `limit` stops the source after that many events, which tests use to
 * audit exact counts.
 *
 * The events of one step are appended to the spool in batches of up to
 * SIM_BATCH (sg_source_emit_batch: one write each, all or none), so a
 * fast sensor costs one write(2) per batch, not per event; a tick counts
 * as done only once its batch is stored.
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/base/log.h"
#include "gateway/base/buf.h"
#include "gateway/base/clock.h"
#include "gateway/base/mem.h"
#include "drivers/driver.h"

enum sim_kind { SIM_SINE, SIM_WALK, SIM_COUNTER, SIM_TOGGLE, SIM_STEP };
static const char *const sim_kinds[] = {"sine", "random_walk", "counter", "toggle", "step", NULL};

struct sim_sensor_conf {
	char *id;
	int kind;
	double rate; /* Hz */
	double min, max;
	int64_t period_ms;
	char *unit;
	int64_t replicas;
};

struct sim_conf {
	struct sg_cfg_list sensors;
	int64_t limit;
	int64_t seed;
	int64_t max_burst;
};

static int sim_sensor_check(struct sg_cfg_ctx *ctx, void *obj, const struct sg_cfg_pos *pos,
			    const char *path)
{
	struct sim_sensor_conf *s = obj;

	if (s->min > s->max) {
		sg_cfg_error(ctx, pos, path, "min (%g) is greater than max (%g)", s->min, s->max);
		return SG_ECONFIG;
	}
	return SG_OK;
}

static const struct sg_cfg_key sim_sensor_keys[] = {
    SG_KEY_STR("id", struct sim_sensor_conf, id, NULL, "Sensor id: the Kafka key of its events.",
	       SG_REQUIRED),
    SG_KEY_ENUM(
	"kind", struct sim_sensor_conf, kind, "sine", sim_kinds,
	"Waveform: `sine` between min and max over `period`; `random_walk` within min..max; "
	"`counter` 0,1,2,...; `toggle` false/true; `step` min for half a period, then max."),
    SG_KEY_DOUBLE("rate", struct sim_sensor_conf, rate, "1", 0.01, 1000000,
		  "Events per second of this sensor (each replica)."),
    SG_KEY_DOUBLE_ANY("min", struct sim_sensor_conf, min, "0", "Lower bound of the value."),
    SG_KEY_DOUBLE_ANY("max", struct sim_sensor_conf, max, "100", "Upper bound of the value."),
    SG_KEY_DURATION("period", struct sim_sensor_conf, period_ms, "60s", 1, 86400000,
		    "Period of `sine` and `step`."),
    SG_KEY_STR("unit", struct sim_sensor_conf, unit, NULL,
	       "Unit of the value (free text, e.g. `degC`)."),
    SG_KEY_INT("replicas", struct sim_sensor_conf, replicas, "1", 1, 100000,
	       "Run N copies of this sensor, ids suffixed `-0` .. `-N-1` (load tests)."),
};
static const struct sg_cfg_table sim_sensor_table =
    SG_CFG_TABLE("sensors[]", "One simulated sensor.", struct sim_sensor_conf, sim_sensor_keys,
		 sim_sensor_check);

static const struct sg_cfg_key sim_keys[] = {
    SG_KEY_LIST("sensors", struct sim_conf, sensors, &sim_sensor_table, "The simulated sensors.",
		SG_REQUIRED),
    SG_KEY_INT("limit", struct sim_conf, limit, "0", 0, 1e15,
	       "Stop after this many events in total (0 = never)."),
    SG_KEY_INT("seed", struct sim_conf, seed, "1", 0, 4294967295.0,
	       "Seed of the random walks (same seed, same values)."),
    SG_KEY_INT("max_burst", struct sim_conf, max_burst, "1000", 1, 1000000,
	       "Most overdue ticks one sensor emits in one step before others get a turn."),
};
static const struct sg_cfg_table sim_table =
    SG_CFG_TABLE("sim", "Simulated sensors.", struct sim_conf, sim_keys, NULL);

struct sim_sensor {
	const struct sim_sensor_conf *c;
	char id[160];
	int64_t period_ns;
	int64_t start_ns;
	uint64_t tick; /* next tick index not yet stored */
	uint64_t pend; /* ticks after it in the batch being built */
	double walk;
};

#define SIM_BATCH 256

struct sim {
	struct sg_source *src;
	const struct sim_conf *c;
	struct sim_sensor *s;
	size_t n;
	uint64_t emitted;
	int64_t wall_off; /* wall - mono at start */
	uint64_t rng;
	struct sg_counter *late;
	/* The batch being built: readings and the sensor of each. */
	struct sg_reading rd[SIM_BATCH];
	struct sim_sensor *who[SIM_BATCH];
	size_t nb;
};

static double sim_rand(struct sim *sim) /* xorshift64*, uniform [0,1) */
{
	sim->rng ^= sim->rng >> 12;
	sim->rng ^= sim->rng << 25;
	sim->rng ^= sim->rng >> 27;
	return (double)((sim->rng * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

static int sim_init(struct sg_source *src, const void *conf, void **state, struct sg_errbuf *eb)
{
	const struct sim_conf *c = conf;
	struct sim *sim;
	size_t n = 0, k = 0;

	(void)eb;
	for (size_t i = 0; i < c->sensors.n; i++)
		n += (size_t)((struct sim_sensor_conf *)c->sensors.items)[i].replicas;
	sim = sg_xcalloc(1, sizeof(*sim));
	sim->s = sg_xcalloc(n, sizeof(*sim->s));
	sim->src = src;
	sim->c = c;
	sim->n = n;
	sim->rng = (uint64_t)c->seed * 0x9e3779b97f4a7c15ull + 1;
	for (size_t i = 0; i < c->sensors.n; i++) {
		const struct sim_sensor_conf *sc = (struct sim_sensor_conf *)c->sensors.items + i;
		for (int64_t r = 0; r < sc->replicas; r++, k++) {
			struct sim_sensor *s = &sim->s[k];
			s->c = sc;
			if (sc->replicas > 1)
				snprintf(s->id, sizeof(s->id), "%s-%lld", sc->id, (long long)r);
			else
				snprintf(s->id, sizeof(s->id), "%s", sc->id);
			s->period_ns = (int64_t)(1e9 / sc->rate);
			if (s->period_ns < 1)
				s->period_ns = 1;
			s->walk = (sc->min + sc->max) / 2;
		}
	}
	sim->late = sg_source_counter(src, "sim_late_ticks");
	*state = sim;
	return SG_OK;
}

static int sim_start(void *state, struct sg_errbuf *eb)
{
	struct sim *sim = state;
	int64_t now = sg_now_mono_ns();

	(void)eb;
	sim->wall_off = sg_now_ns() - now;
	for (size_t i = 0; i < sim->n; i++) {
		/* Spread replicas over the first period so they do not all
		 * fire in the same instant. */
		sim->s[i].start_ns =
		    now + (int64_t)((double)sim->s[i].period_ns * ((double)i / (double)sim->n));
		sim->s[i].tick = 0;
	}
	return SG_OK;
}

static void sim_value(struct sim *sim, struct sim_sensor *s, int64_t t_ns, struct sg_value *v)
{
	const struct sim_sensor_conf *c = s->c;
	double period = (double)c->period_ms * 1e6, phase;

	switch (c->kind) {
	case SIM_SINE:
		phase = fmod((double)(t_ns - s->start_ns), period) / period;
		v->type = SG_VAL_DOUBLE;
		v->d = c->min + (c->max - c->min) * (0.5 + 0.5 * sin(2 * M_PI * phase));
		v->d = round(v->d * 1000) / 1000;
		break;
	case SIM_WALK:
		s->walk += (sim_rand(sim) - 0.5) * (c->max - c->min) / 50;
		if (s->walk < c->min)
			s->walk = c->min;
		if (s->walk > c->max)
			s->walk = c->max;
		v->type = SG_VAL_DOUBLE;
		v->d = round(s->walk * 1000) / 1000;
		break;
	case SIM_COUNTER:
		v->type = SG_VAL_UINT;
		v->u = s->tick + s->pend;
		break;
	case SIM_TOGGLE:
		v->type = SG_VAL_BOOL;
		v->b = (s->tick + s->pend) & 1;
		break;
	case SIM_STEP:
		phase = fmod((double)(t_ns - s->start_ns), period) / period;
		v->type = SG_VAL_DOUBLE;
		v->d = phase < 0.5 ? c->min : c->max;
		break;
	}
}

static bool sim_not_stored(int rc)
{
	return rc == SG_ESTOPPING || rc == SG_EIO || rc == SG_ENOSPC;
}

/* Readings [i, nb) of the batch are done (stored, or dropped by the
 * spool's policy and counted by the core): their ticks move on. */
static void sim_commit(struct sim *sim, size_t i)
{
	for (; i < sim->nb; i++) {
		sim->who[i]->tick++;
		sim->who[i]->pend--;
		sim->emitted++;
	}
}

/* Append the batch; SG_OK or a stop/err code (then none of its ticks is
 * done: they are tried again next step). */
static int sim_flush(struct sim *sim)
{
	int rc = sim->nb ? sg_source_emit_batch(sim->src, sim->rd, sim->nb) : SG_OK;

	if (rc == SG_EINVAL && sim->nb > 1) {
		/* Refused whole (larger than max_record_bytes together): one
		 * by one, as each would have been alone. */
		for (size_t i = 0; i < sim->nb; i++) {
			if (sim_not_stored(rc = sg_source_emit(sim->src, &sim->rd[i]))) {
				for (size_t k = i; k < sim->nb; k++)
					sim->who[k]->pend = 0;
				sim->nb = 0;
				return rc;
			}
			sim->who[i]->tick++;
			sim->who[i]->pend--;
			sim->emitted++;
		}
		sim->nb = 0;
		return SG_OK;
	}
	if (sim_not_stored(rc)) {
		for (size_t i = 0; i < sim->nb; i++)
			sim->who[i]->pend = 0;
		sim->nb = 0;
		return rc;
	}
	sim_commit(sim, 0);
	sim->nb = 0;
	return SG_OK;
}

/* Add the due ticks of one sensor to the batch; returns SG_OK or a
 * stop/err code. */
static int sim_sensor_run(struct sim *sim, struct sim_sensor *s, int64_t now)
{
	for (int64_t b = 0; b < sim->c->max_burst; b++) {
		int64_t due = s->start_ns + (int64_t)(s->tick + s->pend) * s->period_ns;
		struct sg_reading *rd = &sim->rd[sim->nb];
		int rc;

		if (due > now)
			return SG_OK;
		if (sim->c->limit && sim->emitted + sim->nb >= (uint64_t)sim->c->limit)
			return SG_OK;
		*rd = (struct sg_reading){
		    .sensor = s->id, .ts_ns = due + sim->wall_off, .unit = s->c->unit};
		sim_value(sim, s, due, &rd->value);
		sim->who[sim->nb++] = s;
		s->pend++;
		if (sim->nb == SIM_BATCH && (rc = sim_flush(sim)) != SG_OK)
			return rc;
	}
	sg_counter_add(sim->late, 1);
	return SG_OK;
}

static int sim_step(void *state, struct sg_wait *w)
{
	struct sim *sim = state;
	int64_t next = 0;

	int rc = SG_OK;

	for (size_t i = 0; i < sim->n && rc == SG_OK; i++)
		rc = sim_sensor_run(sim, &sim->s[i], w->now_ns);
	if (rc == SG_OK)
		rc = sim_flush(sim);
	if (rc != SG_OK)
		return rc == SG_ESTOPPING ? SG_OK : rc;
	for (size_t i = 0; i < sim->n; i++) {
		const struct sim_sensor *s = &sim->s[i];
		int64_t due = s->start_ns + (int64_t)s->tick * s->period_ns;

		if (!next || due < next)
			next = due;
	}
	w->nfds = 0;
	if (sim->c->limit && sim->emitted >= (uint64_t)sim->c->limit)
		next = w->now_ns + SG_NS_PER_S; /* done: idle */
	w->deadline_ns = next;
	return SG_OK;
}

static void sim_stop(void *state)
{
	(void)state;
}

static void sim_fini(void *state)
{
	struct sim *sim = state;

	if (!sim)
		return;
	free(sim->s);
	free(sim);
}

const struct sg_driver sg_driver_sim = {
    .name = "sim",
    .help = "Synthetic sensors for demos, tests and benchmarks.",
    .conf = &sim_table,
    .init = sim_init,
    .start = sim_start,
    .step = sim_step,
    .stop = sim_stop,
    .fini = sim_fini,
};
