/*
 * test_modbus_poll.c - the Modbus poll engine against a scripted fake bus
 * with a fake clock: coalesced requests, exceptions, timeouts, garbled
 * and short answers, ILLEGAL DATA ADDRESS isolation, a dead slave on a
 * shared bus (the others keep their schedule), deadband, quality
 * transitions and connection loss.
 */
#include <errno.h>
#include <math.h>
#include <modbus.h>
#include <stdlib.h>

#include "drivers/modbus/poll.h"
#include "t.h"

#define MS     1000000LL
#define MAXREQ 4096
#define MAXEV  4096

struct req {
	int unit, area, addr, count;
	int64_t t;
};

struct ev {
	char sensor[32];
	enum sg_quality q;
	char reason[80];
	struct sg_value v;
};

/* The fake bus: up to 4 units, 256 registers/bits per area. */
struct fake {
	int64_t now;
	int64_t rtt, timeout;
	uint16_t regs[5][4][256];
	bool dead[5];
	bool bad_addr[5][4][256]; /* ILLEGAL DATA ADDRESS */
	bool silent[5][4][256];   /* no answer for these addresses */
	int script[16];           /* errors for the next reads (0 = normal) */
	int nscript, iscript;
	int flushes, drains;
	struct req req[MAXREQ];
	int nreq;
	struct ev ev[MAXEV];
	int nev;
	char errs[64][16];
	int nerr;
};

static int fake_read(void *ctx, int unit, enum mb_area area, int addr, int count, uint16_t *regs,
		     uint8_t *bits)
{
	struct fake *f = ctx;
	int e = f->iscript < f->nscript ? f->script[f->iscript++] : 0;

	if (f->nreq < MAXREQ)
		f->req[f->nreq++] = (struct req){unit, area, addr, count, f->now};
	if (f->dead[unit] || e == ETIMEDOUT || f->silent[unit][area][addr]) {
		f->now += f->timeout;
		errno = ETIMEDOUT;
		return -1;
	}
	f->now += f->rtt;
	if (e == -1)
		return count - 1; /* a short answer */
	if (e) {
		errno = e;
		return -1;
	}
	for (int i = 0; i < count; i++)
		if (f->bad_addr[unit][area][addr + i]) {
			errno = EMBXILADD;
			return -1;
		}
	for (int i = 0; i < count; i++) {
		if (mb_area_is_bits(area))
			bits[i] = f->regs[unit][area][addr + i] != 0;
		else
			regs[i] = f->regs[unit][area][addr + i];
	}
	return count;
}

static int fake_write(void *ctx, int unit, enum mb_area area, int addr, int count,
		      const uint16_t *regs, const uint8_t *bits)
{
	struct fake *f = ctx;
	int e = f->iscript < f->nscript ? f->script[f->iscript++] : 0;

	if (f->nreq < MAXREQ)
		f->req[f->nreq++] = (struct req){unit, area, addr, count, f->now};
	if (e) {
		errno = e;
		return -1;
	}
	for (int i = 0; i < count; i++)
		f->regs[unit][area][addr + i] = mb_area_is_bits(area) ? bits[i] : regs[i];
	return count;
}

static void fake_flush(void *ctx)
{
	((struct fake *)ctx)->flushes++;
}
static void fake_drain(void *ctx, int64_t ms)
{
	struct fake *f = ctx;

	f->drains++;
	f->now += ms / 10 * MS; /* the rest of a late answer arrives */
}

static int fake_emit(void *arg, const struct sg_reading *rd)
{
	struct fake *f = arg;
	struct ev *e = &f->ev[f->nev < MAXEV ? f->nev++ : MAXEV - 1];

	snprintf(e->sensor, sizeof(e->sensor), "%s", rd->sensor);
	snprintf(e->reason, sizeof(e->reason), "%s", rd->reason ? rd->reason : "");
	e->q = rd->quality;
	e->v = rd->value;
	if (e->v.type == SG_VAL_STR || e->v.type == SG_VAL_BYTES)
		e->v.s.p = NULL; /* borrowed: not kept */
	return SG_OK;
}

static void fake_error(void *arg, const char *cls)
{
	struct fake *f = arg;

	if (f->nerr < 64)
		snprintf(f->errs[f->nerr++], sizeof(f->errs[0]), "%s", cls);
}

static int64_t fake_now(void *arg)
{
	return ((struct fake *)arg)->now;
}

static int count_err(struct fake *f, const char *cls)
{
	int n = 0;

	for (int i = 0; i < f->nerr; i++)
		n += !strcmp(f->errs[i], cls);
	return n;
}

static int count_ev(struct fake *f, const char *sensor, enum sg_quality q)
{
	int n = 0;

	for (int i = 0; i < f->nev; i++)
		n += !strcmp(f->ev[i].sensor, sensor) && f->ev[i].q == q;
	return n;
}

static const struct ev *last_ev(struct fake *f, const char *sensor)
{
	for (int i = f->nev - 1; i >= 0; i--)
		if (!strcmp(f->ev[i].sensor, sensor))
			return &f->ev[i];
	return NULL;
}

struct rig {
	struct fake *f;
	struct mb_poller p;
	struct mb_point pt[16];
	struct mb_device dev[4];
};

static struct rig *rig_new(void)
{
	struct rig *r = calloc(1, sizeof(*r));

	r->f = calloc(1, sizeof(*r->f));
	r->f->now = 1000 * MS;
	r->f->rtt = 2 * MS;
	r->f->timeout = 100 * MS;
	r->p.who = "test";
	r->p.pt = r->pt;
	r->p.dev = r->dev;
	r->p.retries = 1;
	r->p.bad_events = true;
	r->p.io = (struct mb_io){.ctx = r->f,
				 .read = fake_read,
				 .flush = fake_flush,
				 .drain = fake_drain,
				 .write = fake_write};
	r->p.drain_ms = 100;
	r->p.cb = (struct mb_poll_cb){
	    .arg = r->f, .emit = fake_emit, .error = fake_error, .now = fake_now};
	for (int i = 0; i < 4; i++)
		r->dev[i] = (struct mb_device){.name = "dev", .unit_id = i + 1};
	return r;
}

static struct mb_point *rig_point(struct rig *r, const char *id, int dev, enum mb_area a, int addr,
				  enum mb_type t)
{
	struct mb_point *pt = &r->pt[r->p.npt++];

	*pt = (struct mb_point){.id = id,
				.dev = dev,
				.area = a,
				.addr = addr,
				.type = t,
				.nregs = mb_area_is_bits(a) ? 1 : mb_type_regs(t, 1),
				.scale = 1,
				.every_poll = true,
				.interval_ns = 1000 * MS,
				.q = SG_Q_UNCERTAIN};
	if ((size_t)dev + 1 > r->p.ndev)
		r->p.ndev = (size_t)dev + 1;
	return pt;
}

static void rig_start(struct rig *r)
{
	struct sg_errbuf eb;

	CHECK_EQ(mb_poll_init(&r->p, &eb), 0);
	mb_poll_reset(&r->p, r->f->now);
}

/* One core iteration: step, then sleep until the deadline it asked for. */
static int rig_step(struct rig *r)
{
	int64_t next = 0;
	int rc = mb_poll_step(&r->p, &next);

	if (rc == SG_OK && next > r->f->now)
		r->f->now = next;
	return rc;
}

static void rig_free(struct rig *r)
{
	mb_poll_free(&r->p);
	free(r->f);
	free(r);
}

TEST(reads_and_decodes_in_one_request)
{
	struct rig *r = rig_new();

	rig_point(r, "v", 0, MB_A_INPUT, 0, MB_T_F32)->order = MB_O_CDAB;
	rig_point(r, "n", 0, MB_A_INPUT, 2, MB_T_I16);
	rig_point(r, "c", 0, MB_A_COIL, 3, MB_T_BOOL);
	r->f->regs[1][MB_A_INPUT][0] = 0x8000; /* 230.5 in CDAB */
	r->f->regs[1][MB_A_INPUT][1] = 0x4366;
	r->f->regs[1][MB_A_INPUT][2] = 0xfff6; /* -10 */
	r->f->regs[1][MB_A_COIL][3] = 1;
	rig_start(r);
	CHECK_EQ(rig_step(r), 0);
	CHECK_EQ(r->f->nreq, 2); /* registers in one request, the coil in another */
	CHECK_EQ(r->f->nev, 3);
	CHECK(last_ev(r->f, "v")->v.d == 230.5);
	CHECK_EQ(last_ev(r->f, "n")->v.i, -10);
	CHECK(last_ev(r->f, "c")->v.b);
	CHECK_EQ(last_ev(r->f, "v")->q, SG_Q_GOOD);
	CHECK_EQ(r->f->nerr, 0);
	rig_free(r);
}

TEST(schedule_stays_on_the_grid)
{
	struct rig *r = rig_new();
	int64_t t0 = r->f->now;

	rig_point(r, "a", 0, MB_A_HOLDING, 0, MB_T_U16)->interval_ns = 100 * MS;
	rig_point(r, "b", 1, MB_A_HOLDING, 0, MB_T_U16)->interval_ns = 250 * MS;
	r->f->rtt = 7 * MS;
	rig_start(r);
	for (int i = 0; i < 200; i++)
		rig_step(r);
	for (int i = 0; i < r->f->nreq; i++) {
		const struct req *q = &r->f->req[i];
		int64_t iv = q->unit == 1 ? 100 * MS : 250 * MS;
		int64_t off = (q->t - t0) % iv;

		/* on the grid, at most one other request (7 ms) late */
		if (off > 7 * MS)
			t_fail(__FILE__, __LINE__,
			       "request %d (unit %d) at +%lld ms is off the grid", i, q->unit,
			       (long long)((q->t - t0) / MS));
	}
	rig_free(r);
}

TEST(dead_slave_does_not_starve_the_bus)
{
	struct rig *r = rig_new();
	int64_t t0 = r->f->now;
	int reqs_dead = 0, alive = 0;

	/* unit 1 alive (two areas), unit 2 dead (three blocks) */
	rig_point(r, "a1", 0, MB_A_HOLDING, 0, MB_T_U16);
	rig_point(r, "a2", 0, MB_A_INPUT, 0, MB_T_U16);
	rig_point(r, "d1", 1, MB_A_HOLDING, 0, MB_T_U16)->every_poll = false;
	rig_point(r, "d2", 1, MB_A_HOLDING, 50, MB_T_U16)->every_poll = false;
	rig_point(r, "d3", 1, MB_A_COIL, 0, MB_T_BOOL)->every_poll = false;
	r->f->dead[2] = true;
	rig_start(r);
	for (int cycle = 0; cycle < 10; cycle++) {
		int n0 = r->f->nreq, dead_now = 0;

		while (r->f->now < t0 + (cycle + 1) * 1000 * MS)
			CHECK_EQ(rig_step(r), 0);
		for (int i = n0; i < r->f->nreq; i++) {
			const struct req *q = &r->f->req[i];
			int64_t late = q->t - (t0 + cycle * 1000 * MS);

			if (q->unit == 2) {
				dead_now++;
				continue;
			}
			alive++;
			/* unit 1 is read first: on time, every cycle */
			if (late > 4 * MS)
				t_fail(__FILE__, __LINE__, "cycle %d: unit 1 read %lld ms late",
				       cycle, (long long)(late / MS));
		}
		/* it dies: one request + retry, then one probe of a deferred
		 * block; afterwards one probe per cycle */
		CHECK_EQ(dead_now, cycle ? 1 : 3);
		reqs_dead += dead_now;
	}
	CHECK_EQ(alive, 20);
	CHECK_EQ(reqs_dead, 12);
	CHECK_EQ(count_ev(r->f, "a1", SG_Q_GOOD), 10);
	CHECK_EQ(count_ev(r->f, "d1", SG_Q_BAD), 1); /* on_change: once */
	CHECK_EQ(count_ev(r->f, "d2", SG_Q_BAD), 1);
	CHECK_EQ(count_ev(r->f, "d3", SG_Q_BAD), 1);
	CHECK_STR(last_ev(r->f, "d2")->reason, "timeout");
	CHECK_EQ(count_err(r->f, "timeout"), 11); /* one per failed block read */
	CHECK_EQ(r->p.st.skipped, 19);
	/* the slave comes back: good again, once per point */
	r->f->dead[2] = false;
	rig_step(r);
	rig_step(r);
	CHECK_EQ(last_ev(r->f, "d1")->q, SG_Q_GOOD);
	CHECK_EQ(last_ev(r->f, "d3")->q, SG_Q_GOOD);
	CHECK_EQ(count_ev(r->f, "d2", SG_Q_GOOD), 1);
	rig_free(r);
}

TEST(illegal_address_isolates_the_point)
{
	struct rig *r = rig_new();

	rig_point(r, "p0", 0, MB_A_HOLDING, 0, MB_T_U16);
	rig_point(r, "p1", 0, MB_A_HOLDING, 1, MB_T_U16);
	rig_point(r, "p2", 0, MB_A_HOLDING, 2, MB_T_U32);
	r->f->bad_addr[1][MB_A_HOLDING][1] = true;
	r->f->regs[1][MB_A_HOLDING][0] = 11;
	r->f->regs[1][MB_A_HOLDING][3] = 33;
	rig_start(r);
	CHECK_EQ(rig_step(r), 0);
	CHECK_EQ(r->p.plan.n, 3);
	CHECK_EQ(r->p.st.isolated, 1);
	CHECK_EQ(last_ev(r->f, "p0")->v.u, 11);
	CHECK_EQ(last_ev(r->f, "p2")->v.u, 33);
	CHECK_EQ(last_ev(r->f, "p1")->q, SG_Q_BAD);
	CHECK_STR(last_ev(r->f, "p1")->reason, "exception 2 (illegal data address)");
	CHECK_EQ(count_err(r->f, "exception"), 2); /* the block, then p1 alone */
	/* next cycle: three requests, only p1 fails */
	int n0 = r->f->nreq;
	CHECK_EQ(rig_step(r), 0);
	CHECK_EQ(r->f->nreq - n0, 3);
	CHECK_EQ(count_ev(r->f, "p0", SG_Q_GOOD), 2);
	CHECK_EQ(count_err(r->f, "exception"), 3);
	rig_free(r);
}

TEST(exception_then_recovery_ignores_deadband)
{
	struct rig *r = rig_new();
	struct mb_point *pt = rig_point(r, "t", 0, MB_A_HOLDING, 0, MB_T_U16);

	pt->every_poll = false;
	pt->deadband = 100;
	r->f->regs[1][MB_A_HOLDING][0] = 500;
	rig_start(r);
	rig_step(r);
	r->f->script[0] = EMBXSFAIL;
	r->f->nscript = 1;
	rig_step(r);
	CHECK_EQ(count_err(r->f, "exception"), 1);
	CHECK_STR(last_ev(r->f, "t")->reason, "exception 4 (server device failure)");
	CHECK_EQ(r->f->nreq, 2); /* an exception is an answer: no retry */
	CHECK_EQ(r->p.dev[0].results[MB_E_EXCEPTION], 1);
	CHECK_EQ(r->p.dev[0].exceptions[4], 1);
	r->f->regs[1][MB_A_HOLDING][0] = 510; /* inside the deadband */
	rig_step(r);
	CHECK_EQ(last_ev(r->f, "t")->q, SG_Q_GOOD);
	CHECK_EQ(last_ev(r->f, "t")->v.u, 510);
	CHECK_EQ(r->f->nev, 3);
	rig_free(r);
}

TEST(deadband_and_on_change)
{
	struct rig *r = rig_new();
	struct mb_point *pt = rig_point(r, "t", 0, MB_A_HOLDING, 0, MB_T_U16);
	static const uint16_t seq[] = {100, 104, 106, 106, 101, 100, 99};

	pt->every_poll = false;
	pt->deadband = 5;
	rig_start(r);
	for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
		r->f->regs[1][MB_A_HOLDING][0] = seq[i];
		rig_step(r);
	}
	/* 100 emitted; 104 within 5; 106 moved 6; 101 within 5 of 106? no:
	 * 5 is not more than 5; 100 moved 6; 99 within 5 of 100 */
	CHECK_EQ(r->f->nev, 3);
	CHECK_EQ(r->f->ev[0].v.u, 100);
	CHECK_EQ(r->f->ev[1].v.u, 106);
	CHECK_EQ(r->f->ev[2].v.u, 100);
	rig_free(r);
}

TEST(garbled_and_short_answers_are_retried_and_counted)
{
	struct rig *r = rig_new();

	rig_point(r, "x", 0, MB_A_HOLDING, 0, MB_T_U32);
	r->f->regs[1][MB_A_HOLDING][1] = 7;
	rig_start(r);
	r->f->script[0] = EMBBADCRC; /* retried, then fine */
	r->f->script[1] = 0;
	r->f->script[2] = -1; /* short, then garbled: both tries fail */
	r->f->script[3] = EMBBADDATA;
	r->f->nscript = 4;
	rig_step(r);
	CHECK_EQ(last_ev(r->f, "x")->q, SG_Q_GOOD);
	CHECK_EQ(last_ev(r->f, "x")->v.u, 7);
	CHECK_EQ(r->p.st.retries, 1);
	CHECK_EQ(r->f->nerr, 0); /* the retry succeeded */
	rig_step(r);
	CHECK_EQ(last_ev(r->f, "x")->q, SG_Q_BAD);
	CHECK_STR(last_ev(r->f, "x")->reason, "malformed");
	CHECK_EQ(count_err(r->f, "malformed"), 1);
	/* garbled answers wait for the rest of the line, timeouts do not */
	CHECK_EQ(r->f->drains, 3);
	CHECK_EQ(r->f->flushes, 0);
	r->f->script[4] = ETIMEDOUT;
	r->f->script[5] = EMBBADDATA; /* the late answer to the first try */
	r->f->nscript = 6;
	rig_step(r);
	CHECK_STR(last_ev(r->f, "x")->reason, "timeout"); /* the cause wins */
	CHECK_EQ(r->f->flushes, 1);
	CHECK_EQ(r->f->drains, 4);
	CHECK_EQ(count_err(r->f, "timeout"), 1);
	rig_step(r);
	CHECK_EQ(last_ev(r->f, "x")->q, SG_Q_GOOD);
	/* Every request counted against the device by its own result. */
	CHECK_EQ(r->p.dev[0].results[MB_E_NONE], 2);
	CHECK_EQ(r->p.dev[0].results[MB_E_CRC], 1);
	CHECK_EQ(r->p.dev[0].results[MB_E_MALFORMED], 3);
	CHECK_EQ(r->p.dev[0].results[MB_E_TIMEOUT], 1);
	rig_free(r);
}

TEST(bad_events_off_counts_but_does_not_emit)
{
	struct rig *r = rig_new();

	r->p.bad_events = false;
	rig_point(r, "x", 0, MB_A_HOLDING, 0, MB_T_U16);
	r->f->dead[1] = true;
	rig_start(r);
	rig_step(r);
	rig_step(r);
	CHECK_EQ(r->f->nev, 0);
	CHECK_EQ(count_err(r->f, "timeout"), 2);
	CHECK_EQ(r->pt[0].q, SG_Q_BAD);
	rig_free(r);
}

TEST(connection_loss_returns_eio_and_marks_bad)
{
	struct rig *r = rig_new();

	rig_point(r, "x", 0, MB_A_HOLDING, 0, MB_T_U16);
	rig_point(r, "y", 1, MB_A_HOLDING, 0, MB_T_U16);
	rig_start(r);
	rig_step(r);
	r->f->script[0] = ECONNRESET;
	r->f->nscript = 1;
	CHECK_EQ(rig_step(r), SG_EIO);
	CHECK_EQ(count_err(r->f, "io"), 1);
	CHECK_EQ(last_ev(r->f, "x")->q, SG_Q_BAD);
	CHECK_STR(last_ev(r->f, "y")->reason, "connection lost");
	/* after a reconnect the schedule restarts and quality recovers */
	mb_poll_reset(&r->p, r->f->now);
	CHECK_EQ(rig_step(r), 0);
	CHECK_EQ(last_ev(r->f, "x")->q, SG_Q_GOOD);
	CHECK_EQ(last_ev(r->f, "y")->q, SG_Q_GOOD);
	rig_free(r);
}

TEST(reconnect_after_consecutive_timeouts)
{
	struct rig *r = rig_new();
	int rc = 0, steps = 0;

	r->p.reconnect_after = 3;
	rig_point(r, "x", 0, MB_A_HOLDING, 0, MB_T_U16);
	r->f->dead[1] = true;
	rig_start(r);
	while (steps < 10 && (rc = rig_step(r)) == 0)
		steps++;
	CHECK_EQ(rc, SG_EIO);
	CHECK_EQ(steps, 2);
	CHECK_STR(last_ev(r->f, "x")->reason, "connection lost");
	rig_free(r);
}

TEST(strings_bits_and_scaling)
{
	struct rig *r = rig_new();
	struct mb_point *s = rig_point(r, "s", 0, MB_A_HOLDING, 0, MB_T_STRING);
	struct mb_point *b = rig_point(r, "b", 0, MB_A_HOLDING, 2, MB_T_BIT);
	struct mb_point *k = rig_point(r, "k", 0, MB_A_HOLDING, 3, MB_T_I16);

	s->nregs = 2;
	s->every_poll = false;
	b->bit = 3;
	k->scale = 0.1;
	k->offset = -1;
	r->f->regs[1][MB_A_HOLDING][0] = 0x4f4b; /* "OK" */
	r->f->regs[1][MB_A_HOLDING][1] = 0x0000;
	r->f->regs[1][MB_A_HOLDING][2] = 0x0008;
	r->f->regs[1][MB_A_HOLDING][3] = 0xffe2; /* -30 -> -4 */
	rig_start(r);
	rig_step(r);
	rig_step(r);
	CHECK_EQ(count_ev(r->f, "s", SG_Q_GOOD), 1); /* unchanged text: once */
	CHECK_EQ(last_ev(r->f, "s")->v.type, SG_VAL_STR);
	CHECK_EQ(last_ev(r->f, "s")->v.s.len, 2);
	CHECK(last_ev(r->f, "b")->v.b);
	CHECK_EQ(last_ev(r->f, "k")->v.type, SG_VAL_DOUBLE);
	CHECK(last_ev(r->f, "k")->v.d == -4);
	rig_free(r);
}

TEST(silent_address_on_a_live_device_costs_only_its_block)
{
	struct rig *r = rig_new();
	int64_t t0;

	/* the silent block comes first in address order and in due time */
	rig_point(r, "mute", 0, MB_A_HOLDING, 0, MB_T_U16)->every_poll = false;
	rig_point(r, "ok1", 0, MB_A_HOLDING, 10, MB_T_U16)->every_poll = false;
	rig_point(r, "ok2", 0, MB_A_HOLDING, 20, MB_T_U16);
	r->f->silent[1][MB_A_HOLDING][0] = true;
	r->f->regs[1][MB_A_HOLDING][10] = 5;
	rig_start(r);
	t0 = r->f->now;
	for (int i = 0; i < 6; i++)
		CHECK_EQ(rig_step(r), 0);
	/* step 1: mute times out (with its retry) before the device said
	 * anything: ok1/ok2 are deferred, not failed; step 2 runs them at
	 * once, then mute is only ever tried last, once per cycle */
	CHECK_EQ(count_ev(r->f, "ok1", SG_Q_BAD), 0);
	CHECK_EQ(count_ev(r->f, "ok1", SG_Q_GOOD), 1);
	CHECK_EQ(count_ev(r->f, "ok2", SG_Q_GOOD), 5);
	CHECK_EQ(count_ev(r->f, "mute", SG_Q_BAD), 1);
	CHECK_EQ(r->p.st.skipped, 0);
	CHECK_EQ(count_err(r->f, "timeout"), 5);
	CHECK_EQ(r->f->nreq, 2 + 2 + 4 * 3);
	for (int i = 0; i < r->f->nreq; i++) {
		const struct req *q = &r->f->req[i];
		if (q->t - t0 > 1000 * MS && q->addr == 10)
			CHECK((q->t - t0) % (1000 * MS) <= 4 * MS);
	}
	rig_free(r);
}

TEST(write_encodes_checks_and_reports)
{
	struct rig *r = rig_new();
	struct mb_point *sp = rig_point(r, "sp", 0, MB_A_HOLDING, 0, MB_T_F32);
	struct mb_point *lim = rig_point(r, "lim", 0, MB_A_HOLDING, 2, MB_T_I16);
	struct mb_point *b = rig_point(r, "flag", 0, MB_A_HOLDING, 3, MB_T_BIT);
	struct mb_point *s = rig_point(r, "label", 1, MB_A_HOLDING, 0, MB_T_STRING);
	struct sg_value v = {.type = SG_VAL_DOUBLE, .d = 230.5};
	struct sg_errbuf eb;

	sp->order = MB_O_CDAB;
	lim->scale = 0.1;
	b->bit = 2;
	s->nregs = 2;
	rig_point(r, "relay", 0, MB_A_COIL, 7, MB_T_BOOL);
	rig_point(r, "meter", 0, MB_A_INPUT, 0, MB_T_U16);
	rig_start(r);
	CHECK_EQ(mb_poll_write(&r->p, "sp", &v, &eb), 0);
	CHECK_EQ(r->f->regs[1][MB_A_HOLDING][0], 0x8000);
	CHECK_EQ(r->f->regs[1][MB_A_HOLDING][1], 0x4366);
	v.d = -12.34; /* scale 0.1: raw -123 */
	CHECK_EQ(mb_poll_write(&r->p, "lim", &v, &eb), 0);
	CHECK_EQ(r->f->regs[1][MB_A_HOLDING][2], (uint16_t)-123);
	v.d = 4000; /* raw 40000 does not fit an i16 */
	CHECK_EQ(mb_poll_write(&r->p, "lim", &v, &eb), SG_EINVAL);
	CHECK(strstr(eb.msg, "does not fit"));
	r->f->regs[1][MB_A_HOLDING][3] = 0x8001;
	v = (struct sg_value){.type = SG_VAL_BOOL, .b = true};
	CHECK_EQ(mb_poll_write(&r->p, "flag", &v, &eb), 0); /* read, set bit 2, write */
	CHECK_EQ(r->f->regs[1][MB_A_HOLDING][3], 0x8005);
	CHECK_EQ(mb_poll_write(&r->p, "relay", &v, &eb), 0);
	CHECK_EQ(r->f->regs[1][MB_A_COIL][7], 1);
	v = (struct sg_value){.type = SG_VAL_STR, .s = {"OK", 2}};
	CHECK_EQ(mb_poll_write(&r->p, "label", &v, &eb), 0);
	CHECK_EQ(r->f->regs[2][MB_A_HOLDING][0], 0x4f4b);
	CHECK_EQ(r->f->regs[2][MB_A_HOLDING][1], 0);
	v.s.p = "TOO LONG";
	v.s.len = 8;
	CHECK_EQ(mb_poll_write(&r->p, "label", &v, &eb), SG_EINVAL);
	CHECK_EQ(mb_poll_write(&r->p, "meter", &v, &eb), SG_EINVAL); /* read-only */
	CHECK_EQ(mb_poll_write(&r->p, "nope", &v, &eb), SG_ENOTFOUND);
	/* a device exception: reported and counted like a failed read */
	v = (struct sg_value){.type = SG_VAL_UINT, .u = 1};
	r->f->script[r->f->nscript++] = EMBXILVAL;
	CHECK_EQ(mb_poll_write(&r->p, "relay", &v, &eb), SG_EDRIVER);
	CHECK(strstr(eb.msg, "exception 3 (illegal data value)"));
	CHECK_EQ(count_err(r->f, "exception"), 1);
	r->f->script[r->f->nscript++] = ECONNRESET;
	CHECK_EQ(mb_poll_write(&r->p, "relay", &v, &eb), SG_EIO);
	rig_free(r);
}

TEST(offline_probe_backs_off_a_dead_device)
{
	struct rig *r = rig_new();
	int64_t t0 = r->f->now;
	int dead = 0;

	r->p.offline_probe_ns = 3000 * MS;
	rig_point(r, "a", 0, MB_A_HOLDING, 0, MB_T_U16);
	rig_point(r, "d1", 1, MB_A_HOLDING, 0, MB_T_U16);
	rig_point(r, "d2", 1, MB_A_COIL, 0, MB_T_BOOL);
	r->f->dead[2] = true;
	rig_start(r);
	while (r->f->now < t0 + 10000 * MS)
		CHECK_EQ(rig_step(r), 0);
	for (int i = 0; i < r->f->nreq; i++)
		dead += r->f->req[i].unit == 2;
	/* dies: request + retry, one probe of the deferred block; then one
	 * probe every 3 s (at 4 s and 8 s) instead of one per second */
	CHECK_EQ(dead, 5);
	CHECK_EQ(count_ev(r->f, "a", SG_Q_GOOD), 10);
	CHECK_EQ(count_ev(r->f, "d2", SG_Q_BAD), 10); /* every_poll: bad each poll */
	/* it comes back: found at the next probe */
	r->f->dead[2] = false;
	while (r->f->now < t0 + 13000 * MS)
		rig_step(r);
	CHECK_EQ(last_ev(r->f, "d1")->q, SG_Q_GOOD);
	CHECK_EQ(last_ev(r->f, "d2")->q, SG_Q_GOOD);
	rig_free(r);
}

TEST(offline_probe_never_backs_off_a_device_that_answers)
{
	struct rig *r = rig_new();
	int64_t t0 = r->f->now;

	/* a silent address polled more often than the good one: it runs
	 * alone in most steps, and must not get the device backed off */
	r->p.offline_probe_ns = 5000 * MS;
	rig_point(r, "mute", 0, MB_A_HOLDING, 0, MB_T_U16)->interval_ns = 300 * MS;
	rig_point(r, "ok", 0, MB_A_HOLDING, 10, MB_T_U16)->every_poll = false;
	r->f->silent[1][MB_A_HOLDING][0] = true;
	rig_start(r);
	while (r->f->now < t0 + 10000 * MS)
		CHECK_EQ(rig_step(r), 0);
	CHECK_EQ(count_ev(r->f, "ok", SG_Q_BAD), 0);
	CHECK_EQ(count_ev(r->f, "ok", SG_Q_GOOD), 1);
	CHECK_EQ(r->p.st.skipped, 0);
	rig_free(r);
}

TEST(classify_errno)
{
	int exc, lost;

	CHECK_EQ(mb_classify(ETIMEDOUT, &exc, &lost), MB_E_TIMEOUT);
	CHECK_EQ(lost, 0);
	CHECK_EQ(mb_classify(EMBXILADD, &exc, &lost), MB_E_EXCEPTION);
	CHECK_EQ(exc, 2);
	CHECK_EQ(mb_classify(EMBXGTAR, &exc, &lost), MB_E_EXCEPTION);
	CHECK_EQ(exc, 11);
	CHECK_STR(mb_exception_name(11), "gateway target failed to respond");
	CHECK_STR(mb_exception_name(99), "unknown exception");
	CHECK_EQ(mb_classify(EMBBADCRC, &exc, &lost), MB_E_CRC);
	CHECK_EQ(exc, 0);
	CHECK_EQ(mb_classify(EMBBADDATA, &exc, &lost), MB_E_MALFORMED);
	CHECK_EQ(mb_classify(EMBBADSLAVE, &exc, &lost), MB_E_MALFORMED);
	CHECK_EQ(mb_classify(EMBMDATA, &exc, &lost), MB_E_MALFORMED);
	CHECK_EQ(mb_classify(ECONNRESET, &exc, &lost), MB_E_IO);
	CHECK_EQ(lost, 1);
	CHECK_EQ(mb_classify(EPIPE, &exc, &lost), MB_E_IO);
	CHECK_EQ(lost, 1);
	CHECK_EQ(mb_classify(EINVAL, &exc, &lost), MB_E_IO);
	CHECK_EQ(lost, 0); /* an odd error is counted, not a reconnect */
}

TEST(crc_error_reported_as_crc_and_every_poll_repeats_bad)
{
	struct rig *r = rig_new();

	rig_point(r, "x", 0, MB_A_HOLDING, 0, MB_T_U16); /* every_poll */
	rig_start(r);
	for (int i = 0; i < 3; i++) {
		r->f->script[r->f->nscript++] = EMBBADCRC;
		r->f->script[r->f->nscript++] = EMBBADCRC;
		rig_step(r);
	}
	CHECK_EQ(count_err(r->f, "crc"), 3);
	CHECK_EQ(count_ev(r->f, "x", SG_Q_BAD), 3);
	CHECK_STR(last_ev(r->f, "x")->reason, "crc");
	rig_free(r);
}

/* --- the events of one request in one append (cb.emit_batch) ---------- */

static int batches, batch_n[64], batch_rc;
static char batch_str[64];

static int fake_emit_batch(void *arg, const struct sg_reading *rd, size_t n)
{
	if (batches < 64)
		batch_n[batches] = (int)n;
	batches++;
	if (batch_rc != SG_OK)
		return batch_rc;
	for (size_t i = 0; i < n; i++) {
		if (rd[i].value.type == SG_VAL_STR)
			snprintf(batch_str, sizeof(batch_str), "%.*s", (int)rd[i].value.s.len,
				 rd[i].value.s.p);
		fake_emit(arg, &rd[i]);
	}
	return SG_OK;
}

static struct rig *batch_rig(void)
{
	struct rig *r = rig_new();

	batches = 0;
	batch_rc = SG_OK;
	batch_str[0] = '\0';
	r->p.cb.emit_batch = fake_emit_batch;
	return r;
}

TEST(a_step_is_one_append_with_every_point_of_it)
{
	struct rig *r = batch_rig();
	struct mb_point *s;

	rig_point(r, "a", 0, MB_A_HOLDING, 0, MB_T_U16);
	rig_point(r, "b", 0, MB_A_HOLDING, 1, MB_T_I16);
	s = rig_point(r, "s", 0, MB_A_HOLDING, 2, MB_T_STRING);
	s->nregs = 2;
	rig_point(r, "c", 0, MB_A_COIL, 0, MB_T_BOOL);
	r->f->regs[1][MB_A_HOLDING][0] = 7;
	r->f->regs[1][MB_A_HOLDING][1] = 0xffff;
	r->f->regs[1][MB_A_HOLDING][2] = ('o' << 8) | 'k';
	r->f->regs[1][MB_A_HOLDING][3] = ('!' << 8);
	r->f->regs[1][MB_A_COIL][0] = 1;
	r->f->rtt = MS / 2;
	rig_start(r);
	CHECK_EQ(rig_step(r), 0);
	CHECK_EQ(r->f->nreq, 2);
	CHECK_EQ(batches, 1); /* both requests of the step in one append */
	CHECK_EQ(batch_n[0], 4);
	CHECK_STR(batch_str, "ok!");
	CHECK_EQ(last_ev(r->f, "a")->v.u, 7);
	CHECK_EQ(last_ev(r->f, "b")->v.i, -1);
	CHECK(last_ev(r->f, "c")->v.b);
	CHECK_EQ(r->p.st.events, 4);
	rig_free(r);
}

TEST(no_event_waits_longer_than_the_batch_age)
{
	struct rig *r = batch_rig();

	rig_point(r, "a", 0, MB_A_HOLDING, 0, MB_T_U16);
	rig_point(r, "b", 1, MB_A_HOLDING, 0, MB_T_U16);
	rig_point(r, "c", 2, MB_A_HOLDING, 0, MB_T_U16);
	r->f->rtt = MB_OUT_AGE_NS; /* every answer takes the whole age */
	rig_start(r);
	CHECK_EQ(rig_step(r), 0);
	CHECK_EQ(r->f->nreq, 3);
	CHECK_EQ(batches, 2); /* a and b (b read one age after a), then c */
	CHECK_EQ(batch_n[0], 2);
	CHECK_EQ(batch_n[1], 1);
	rig_free(r);
}

TEST(a_refused_append_changes_no_point_and_is_tried_again)
{
	struct rig *r = batch_rig();

	rig_point(r, "a", 0, MB_A_HOLDING, 0, MB_T_U16)->every_poll = false;
	rig_point(r, "b", 0, MB_A_HOLDING, 1, MB_T_U16)->every_poll = false;
	rig_start(r);
	batch_rc = SG_EIO;
	rig_step(r);
	CHECK_EQ(batches, 1);
	CHECK_EQ(r->f->nev, 0);
	CHECK_EQ(r->pt[0].q, SG_Q_UNCERTAIN); /* not stored: nothing changed */
	CHECK(!r->pt[1].has_last);
	batch_rc = SG_OK;
	rig_step(r); /* unchanged values, but never stored: both again */
	CHECK_EQ(batches, 2);
	CHECK_EQ(batch_n[1], 2);
	CHECK_EQ(r->pt[0].q, SG_Q_GOOD);
	rig_step(r); /* now on_change holds them back */
	CHECK_EQ(batches, 2);
	rig_free(r);
}

TEST(a_dead_device_is_one_append_of_bad_events_per_transition)
{
	struct rig *r = batch_rig();

	for (int i = 0; i < 5; i++) {
		static const char *ids[] = {"p0", "p1", "p2", "p3", "p4"};
		rig_point(r, ids[i], 0, MB_A_HOLDING, i, MB_T_U16)->every_poll = false;
	}
	r->p.retries = 0;
	r->f->dead[1] = true;
	rig_start(r);
	for (int i = 0; i < 4; i++)
		rig_step(r);
	CHECK_EQ(batches, 1);
	CHECK_EQ(batch_n[0], 5);
	CHECK_EQ(count_ev(r->f, "p3", SG_Q_BAD), 1);
	CHECK_STR(last_ev(r->f, "p3")->reason, "timeout");
	rig_free(r);
}

TEST(due_blocks_run_once_per_step_earliest_first_ties_in_order)
{
	struct rig *r = rig_new();

	/* four devices; device 2 polled twice as often */
	rig_point(r, "a", 0, MB_A_HOLDING, 0, MB_T_U16);
	rig_point(r, "b", 1, MB_A_HOLDING, 0, MB_T_U16);
	rig_point(r, "c", 2, MB_A_HOLDING, 0, MB_T_U16)->interval_ns = 500 * MS;
	rig_point(r, "d", 3, MB_A_HOLDING, 0, MB_T_U16);
	r->f->rtt = 0;
	rig_start(r);
	rig_step(r); /* all due at once: in order, once each */
	CHECK_EQ(r->f->nreq, 4);
	for (int i = 0; i < 4; i++)
		CHECK_EQ(r->f->req[i].unit, i + 1);
	rig_step(r); /* +500 ms: only c */
	CHECK_EQ(r->f->nreq, 5);
	CHECK_EQ(r->f->req[4].unit, 3);
	rig_step(r); /* +1 s: all four again, in order */
	CHECK_EQ(r->f->nreq, 9);
	for (int i = 0; i < 4; i++)
		CHECK_EQ(r->f->req[5 + i].unit, i + 1);
	rig_free(r);
}
