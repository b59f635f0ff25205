/*
 * poll.c - the Modbus poll engine (see poll.h): pick the earliest due
 * block, read it with retries, classify a failure, isolate rejected
 * addresses, decode the points and apply deadband and quality rules.
 */
#include "poll.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/base/log.h"
#include "gateway/base/buf.h"
#include "gateway/base/clock.h"
#include "gateway/base/mem.h"

int mb_poll_init(struct mb_poller *p, struct sg_errbuf *eb)
{
	p->sp = sg_xcalloc(p->npt ? p->npt : 1, sizeof(*p->sp));
	for (size_t i = 0; i < p->npt; i++) {
		struct mb_point *pt = &p->pt[i];

		p->sp[i] = (struct mb_span){.dev = pt->dev,
					    .area = pt->area,
					    .addr = pt->addr,
					    .count = pt->nregs,
					    .interval_ns = pt->interval_ns};
		if (pt->type == MB_T_STRING)
			pt->last_str = sg_xcalloc((size_t)pt->nregs * 2 + 1, 1);
	}
	if (mb_plan_build(&p->plan, p->sp, p->npt, p->max_gap) != SG_OK)
		return sg_errf(eb, SG_EINVAL,
			       "a point lies past address 65535 or is wider than one request");
	mb_sched_build(&p->sched, &p->plan);
	return SG_OK;
}

void mb_poll_free(struct mb_poller *p)
{
	for (size_t i = 0; i < p->npt; i++) {
		free(p->pt[i].last_str);
		p->pt[i].last_str = NULL;
	}
	mb_plan_free(&p->plan);
	mb_sched_free(&p->sched);
	free(p->sp);
	free(p->ran_gen);
	free(p->held);
	free(p->ord);
	free(p->opt);
	sg_buf_free(&p->ostr);
	p->ord = NULL;
	p->opt = NULL;
	p->on = p->ocap = 0;
	p->sp = NULL;
	p->ran_gen = NULL;
	p->held = NULL;
	p->ran_cap = 0;
}

void mb_poll_reset(struct mb_poller *p, int64_t now)
{
	for (size_t i = 0; i < p->plan.n; i++) {
		p->plan.b[i].start_ns = now;
		p->plan.b[i].tick = 0;
	}
	for (size_t i = 0; i < p->ndev; i++) {
		p->dev[i].offline = false;
		p->dev[i].next_probe_ns = 0;
	}
	p->bus_timeouts = 0;
	mb_sched_build(&p->sched, &p->plan);
}

static int64_t poll_now(struct mb_poller *p)
{
	return p->cb.now ? p->cb.now(p->cb.arg) : sg_now_mono_ns();
}

static int poll_emit(struct mb_poller *p, struct mb_point *pt, const struct sg_value *v,
		     enum sg_quality q, const char *reason, int64_t mono)
{
	struct sg_reading rd = {0};
	int rc;

	rd.sensor = pt->id;
	rd.ts_ns = mono + p->cb.wall_off;
	rd.value = *v;
	rd.unit = q == SG_Q_GOOD ? pt->unit : NULL;
	rd.quality = q;
	rd.reason = reason;
	rc = p->cb.emit(p->cb.arg, &rd);
	if (rc == SG_OK || rc == SG_EDROPPED)
		p->st.events++;
	return rc;
}

/* Is v within the deadband of the last emitted value? */
static bool point_unchanged(const struct mb_point *pt, const struct sg_value *v)
{
	double d;

	if (!pt->has_last)
		return false;
	if (v->type == SG_VAL_STR)
		return pt->last_str && strlen(pt->last_str) == v->s.len &&
		       !memcmp(pt->last_str, v->s.p, v->s.len);
	if (!mb_value_num(v, &d))
		return false;
	if (isnan(d) || isnan(pt->last_num))
		return isnan(d) && isnan(pt->last_num);
	if (pt->deadband > 0)
		return fabs(d - pt->last_num) <= pt->deadband;
	return d == pt->last_num;
}

/* A point's state once its event is stored: good with value v, or bad
 * with a reason. */
static void point_commit(struct mb_point *pt, enum sg_quality q, const struct sg_value *v,
			 const char *reason)
{
	double d = 0;

	pt->q = q;
	if (q != SG_Q_GOOD) {
		snprintf(pt->reason, sizeof(pt->reason), "%s", reason);
		return;
	}
	pt->reason[0] = '\0';
	pt->has_last = true;
	if (v->type == SG_VAL_STR && pt->last_str) {
		memcpy(pt->last_str, v->s.p, v->s.len);
		pt->last_str[v->s.len] = '\0';
	} else if (mb_value_num(v, &d)) {
		pt->last_num = d;
	}
}

static void point_good(struct mb_poller *p, struct mb_point *pt, const struct sg_value *v,
		       int64_t mono)
{
	if (!pt->every_poll && pt->q == SG_Q_GOOD && point_unchanged(pt, v))
		return;
	if (poll_emit(p, pt, v, SG_Q_GOOD, NULL, mono) != SG_OK)
		return; /* not stored: the next poll tries again */
	point_commit(pt, SG_Q_GOOD, v, NULL);
}

static void point_bad(struct mb_poller *p, struct mb_point *pt, const char *reason, int64_t mono)
{
	struct sg_value none = {.type = SG_VAL_NONE};

	if (pt->q == SG_Q_BAD && !pt->every_poll && !strcmp(pt->reason, reason))
		return;
	if (p->bad_events && poll_emit(p, pt, &none, SG_Q_BAD, reason, mono) != SG_OK)
		return;
	point_commit(pt, SG_Q_BAD, NULL, reason);
}

/* --- the events of a step, appended together (cb.emit_batch) ---------- */

/* Room for npts more events in the batch. */
static void out_reserve(struct mb_poller *p, int npts)
{
	size_t need = p->on + (size_t)npts;

	if (need > p->ocap) {
		size_t cap = need > 2 * p->ocap ? need : 2 * p->ocap;
		struct sg_reading *rd = realloc(p->ord, cap * sizeof(*rd));
		struct mb_point **pt = rd ? realloc(p->opt, cap * sizeof(*pt)) : NULL;

		if (rd)
			p->ord = rd;
		if (!rd || !pt)
			abort(); /* MB_OUT_MAX plus the widest block */
		p->opt = pt;
		p->ocap = cap;
	}
}

/* A copy of n bytes of s in the batch's strings, as an offset (+1, so 0
 * stays "none") until out_flush turns it into a pointer. */
static const char *out_str(struct mb_poller *p, const char *s, size_t n)
{
	size_t at = p->ostr.len;

	sg_buf_add(&p->ostr, s, n);
	sg_buf_addc(&p->ostr, '\0');
	return (const char *)(uintptr_t)(at + 1);
}

static const char *out_ptr(const struct mb_poller *p, const char *off)
{
	return (p->ostr.p ? p->ostr.p : "") + ((uintptr_t)off - 1);
}

/* One more event; its string value and reason are copied, since a
 * block's buffers do not outlive it. */
static void out_add(struct mb_poller *p, struct mb_point *pt, const struct sg_value *v,
		    enum sg_quality q, const char *reason, int64_t mono)
{
	struct sg_reading *rd = &p->ord[p->on];

	assert(p->on < p->ocap);
	if (!p->on)
		p->out_t0 = mono;
	*rd = (struct sg_reading){.sensor = pt->id,
				  .ts_ns = mono + p->cb.wall_off,
				  .value = *v,
				  .unit = q == SG_Q_GOOD ? pt->unit : NULL,
				  .quality = q,
				  .reason = reason ? out_str(p, reason, strlen(reason)) : NULL};
	if (v->type == SG_VAL_STR)
		rd->value.s.p = out_str(p, v->s.p, v->s.len);
	p->opt[p->on++] = pt;
}

static void out_good(struct mb_poller *p, struct mb_point *pt, const struct sg_value *v,
		     int64_t mono)
{
	if (!pt->every_poll && pt->q == SG_Q_GOOD && point_unchanged(pt, v))
		return;
	out_add(p, pt, v, SG_Q_GOOD, NULL, mono);
}

static void out_bad(struct mb_poller *p, struct mb_point *pt, const char *reason, int64_t mono)
{
	struct sg_value none = {.type = SG_VAL_NONE};

	if (pt->q == SG_Q_BAD && !pt->every_poll && !strcmp(pt->reason, reason))
		return;
	if (!p->bad_events) {
		point_commit(pt, SG_Q_BAD, NULL, reason);
		return;
	}
	out_add(p, pt, &none, SG_Q_BAD, reason, mono);
}

/* Append the batch; its points change state only if it was stored (else
 * the next poll tries them all again). */
static void out_flush(struct mb_poller *p)
{
	int rc;

	if (!p->on)
		return;
	for (size_t i = 0; i < p->on; i++) {
		struct sg_reading *rd = &p->ord[i];

		if (rd->value.type == SG_VAL_STR)
			rd->value.s.p = out_ptr(p, rd->value.s.p);
		if (rd->reason)
			rd->reason = out_ptr(p, rd->reason);
	}
	rc = p->ostr.oom ? SG_ENOMEM : p->cb.emit_batch(p->cb.arg, p->ord, p->on);
	if (rc == SG_OK || rc == SG_EDROPPED)
		p->st.events += p->on;
	for (size_t i = 0; rc == SG_OK && i < p->on; i++)
		point_commit(p->opt[i], p->ord[i].quality, &p->ord[i].value, p->ord[i].reason);
	p->on = 0;
	sg_buf_reset(&p->ostr);
}

/* A batch is appended once it is large or old enough, and at the end of
 * every step: events wait at most MB_OUT_AGE_NS (plus one request). */
static void out_due(struct mb_poller *p, int64_t mono)
{
	if (p->on >= MB_OUT_MAX || (p->on && mono - p->out_t0 >= MB_OUT_AGE_NS))
		out_flush(p);
}

void mb_poll_all_bad(struct mb_poller *p, const char *reason)
{
	int64_t now = poll_now(p);

	for (size_t i = 0; i < p->npt; i++)
		point_bad(p, &p->pt[i], reason, now);
}

static void block_decode(struct mb_poller *p, const struct mb_block *b, const uint16_t *regs,
			 const uint8_t *bits, int64_t mono)
{
	char sbuf[2 * MB_STRING_MAX_REGS + 1];
	bool batch = p->cb.emit_batch != NULL;

	if (batch)
		out_reserve(p, b->npts);
	for (int i = 0; i < b->npts; i++) {
		struct mb_point *pt = &p->pt[b->pts[i]];
		int off = pt->addr - b->addr;
		struct sg_value v = {0};

		assert(off >= 0 && off + pt->nregs <= b->count);
		if (mb_area_is_bits(b->area)) {
			v.type = SG_VAL_BOOL;
			v.b = bits[off] != 0;
		} else if (mb_decode(pt->type, pt->order, regs + off, pt->nregs, pt->bit, sbuf,
				     sizeof(sbuf), &v) != SG_OK) {
			if (batch)
				out_bad(p, pt, "cannot decode", mono);
			else
				point_bad(p, pt, "cannot decode", mono);
			continue;
		}
		mb_scale(&v, pt->scale, pt->offset);
		if (batch)
			out_good(p, pt, &v, mono);
		else
			point_good(p, pt, &v, mono);
	}
	if (batch)
		out_due(p, mono);
}

static void block_bad(struct mb_poller *p, const struct mb_block *b, const char *reason,
		      int64_t mono)
{
	if (!p->cb.emit_batch) {
		for (int i = 0; i < b->npts; i++)
			point_bad(p, &p->pt[b->pts[i]], reason, mono);
		return;
	}
	out_reserve(p, b->npts);
	for (int i = 0; i < b->npts; i++)
		out_bad(p, &p->pt[b->pts[i]], reason, mono);
	out_due(p, mono);
}

/* Count one request's result against its device. */
static void dev_count(struct mb_device *d, enum mb_errclass cls, int exc)
{
	/* Atomic: writes come from the actuator thread, reads from the
	 * source thread, and the driver publishes from the source thread. */
	__atomic_fetch_add(&d->results[cls], 1, __ATOMIC_RELAXED);
	if (cls == MB_E_EXCEPTION)
		__atomic_fetch_add(&d->exceptions[exc > 0 && exc < MB_EXC_CODES ? exc : 0], 1,
				   __ATOMIC_RELAXED);
}

/* Read block bi with retries.  Returns the error class (MB_E_NONE on
 * success); *exc the exception code; *lost if the link is gone. */
static enum mb_errclass block_read(struct mb_poller *p, const struct mb_block *b, uint16_t *regs,
				   uint8_t *bits, int *exc, int *lost)
{
	struct mb_device *d = &p->dev[b->dev];
	int tries = d->offline || b->timeouts ? 1 : 1 + p->retries;
	enum mb_errclass cls = MB_E_NONE;
	bool timed_out = false;

	for (int t = 0; t < tries; t++) {
		int rc;

		if (t)
			p->st.retries++;
		p->st.requests++;
		errno = 0;
		rc = p->io.read(p->io.ctx, d->unit_id, b->area, b->addr, b->count, regs, bits);
		if (rc == b->count) {
			dev_count(d, MB_E_NONE, 0);
			return MB_E_NONE;
		}
		cls = rc < 0 ? mb_classify(errno, exc, lost) : MB_E_MALFORMED;
		dev_count(d, cls, *exc);
		if (*lost || cls == MB_E_EXCEPTION || cls == MB_E_IO)
			return cls; /* an answer, or no link: retrying is no use */
		timed_out |= cls == MB_E_TIMEOUT;
		if (cls != MB_E_TIMEOUT && p->io.drain)
			p->io.drain(p->io.ctx, p->drain_ms);
		else
			p->io.flush(p->io.ctx);
	}
	/* A retry after a timeout often reads the late answer to the first
	 * attempt (a garbled or mismatched reply): the timeout is the cause. */
	return timed_out ? MB_E_TIMEOUT : cls;
}

static void fail_reason(enum mb_errclass cls, int exc, char *out, size_t n)
{
	if (cls == MB_E_EXCEPTION)
		snprintf(out, n, "exception %d (%s)", exc, mb_exception_name(exc));
	else
		snprintf(out, n, "%s", mb_errclass_names[cls]);
}

/* Has device dev a block that answered last time? */
static bool dev_has_healthy(const struct mb_poller *p, int dev)
{
	for (size_t i = 0; i < p->plan.n; i++)
		if (p->plan.b[i].dev == dev && p->plan.b[i].timeouts == 0)
			return true;
	return false;
}

/* Poll block bi once.  Returns SG_OK, SG_EAGAIN (deferred to the next
 * step, not advanced) or SG_EIO (connection lost). */
static int block_run(struct mb_poller *p, size_t bi, int64_t now)
{
	uint16_t regs[MB_MAX_REGS];
	uint8_t bits[MB_MAX_BITS];
	struct mb_block *b = &p->plan.b[bi];
	struct mb_device *d = &p->dev[b->dev];
	enum mb_errclass cls;
	int exc = 0, lost = 0;
	char reason[80];

	bool was_offline = d->offline;

	if (d->offline && (d->gen_failed == p->gen || now < d->next_probe_ns)) {
		/* Already failed in this step (or its probe is backed off):
		 * do not pay its timeout twice.  If it only just went
		 * offline, give its other blocks a chance next step before
		 * calling them bad. */
		if (d->gen_offline == p->gen)
			return SG_EAGAIN;
		p->st.skipped++;
		block_bad(p, b, "timeout", now);
		sg_log_rl(&p->rl_skip, SG_LOG_DEBUG, p->who,
			  "device %s (unit %d) not answering: skipped %s %d..%d", d->name,
			  d->unit_id, mb_area_names[b->area], b->addr, b->addr + b->count - 1);
		return SG_OK;
	}
	cls = block_read(p, b, regs, bits, &exc, &lost);
	now = poll_now(p);
	if (cls == MB_E_NONE || cls == MB_E_EXCEPTION) {
		if (d->offline)
			sg_log_rl(&p->rl_state, SG_LOG_INFO, p->who,
				  "device %s (unit %d) answers again", d->name, d->unit_id);
		d->offline = false;
		d->gen_answered = p->gen;
		b->timeouts = 0;
		p->bus_timeouts = 0;
	}
	if (cls == MB_E_NONE) {
		block_decode(p, b, regs, bits, now);
		return SG_OK;
	}
	p->st.failures++;
	p->cb.error(p->cb.arg, mb_errclass_names[cls]);
	if (lost)
		return SG_EIO;
	fail_reason(cls, exc, reason, sizeof(reason));
	sg_log_rl(&p->rl_fail, SG_LOG_WARN, p->who, "device %s (unit %d) %s %d..%d: %s", d->name,
		  d->unit_id, mb_area_names[b->area], b->addr, b->addr + b->count - 1, reason);
	if (cls == MB_E_EXCEPTION && exc == 2 && !b->isolated && b->npts > 1) {
		int made = mb_plan_isolate(&p->plan, bi, p->sp);

		if (made > 1) {
			p->st.isolated++;
			sg_warn(p->who,
				"device %s (unit %d): %s block rejected; "
				"polling its %d point ranges one by one",
				d->name, d->unit_id, mb_area_names[p->plan.b[bi].area], made);
			return SG_OK; /* the new blocks are due: run at once */
		}
	}
	if (cls == MB_E_TIMEOUT) {
		/* Evidence that the device (not one address) is gone: a block
		 * that answered last time, or no such block left. */
		bool dead = b->timeouts == 0 || !dev_has_healthy(p, b->dev);

		b->timeouts++;
		/* A block that keeps timing out while others answer is an
		 * address the device does not serve: only it pays. */
		if (dead && d->gen_answered != p->gen) { /* silent all this step */
			if (!d->offline) {
				sg_log_rl(&p->rl_state, SG_LOG_WARN, p->who,
					  "device %s (unit %d) not answering", d->name, d->unit_id);
				d->gen_offline = p->gen;
			}
			d->offline = true;
			d->gen_failed = p->gen;
			/* back off only once a probe failed too: the first
			 * silence may be one address, not the device */
			if (was_offline)
				d->next_probe_ns = now + p->offline_probe_ns;
		}
		if (p->reconnect_after && ++p->bus_timeouts >= p->reconnect_after) {
			sg_warn(p->who, "%d timeouts in a row and no answer: reconnecting",
				p->bus_timeouts);
			return SG_EIO; /* the step marks every point bad */
		}
	}
	block_bad(p, &p->plan.b[bi], reason, now);
	return SG_OK;
}

static void ran_grow(struct mb_poller *p)
{
	if (p->ran_cap >= p->plan.n)
		return;
	uint64_t *r = realloc(p->ran_gen, p->plan.cap * sizeof(*r));
	size_t *h = realloc(p->held, p->plan.cap * sizeof(*h));
	if (!r || !h)
		abort();
	memset(r + p->ran_cap, 0, (p->plan.cap - p->ran_cap) * sizeof(*r));
	p->ran_gen = r;
	p->held = h;
	p->ran_cap = p->plan.cap;
}

/* Run every due block once, those that answered last time first, then
 * the suspect ones, each by due time (sched.h).  A block taken out of the
 * heaps goes back in once its key is final: after its run, or (run
 * already in this step, deferred) at the end of the step. */
int mb_poll_step(struct mb_poller *p, int64_t *next)
{
	int64_t now = poll_now(p);
	size_t nheld = 0;
	long bi;
	int rc = SG_OK;

	p->gen++;
	ran_grow(p);
	while ((bi = mb_sched_pop_due(&p->sched, &p->plan, now)) >= 0) {
		size_t n0 = p->plan.n;

		if (p->ran_gen[bi] == p->gen) { /* due again: the next step's */
			p->held[nheld++] = (size_t)bi;
			continue;
		}
		if (p->cb.stopping && p->cb.stopping(p->cb.arg)) {
			p->held[nheld++] = (size_t)bi;
			break;
		}
		rc = block_run(p, (size_t)bi, now);
		if (rc == SG_EAGAIN) {
			p->ran_gen[bi] = p->gen;
			p->held[nheld++] = (size_t)bi;
			rc = SG_OK;
			continue;
		}
		if (rc != SG_OK) {
			p->held[nheld++] = (size_t)bi;
			break;
		}
		ran_grow(p);
		now = poll_now(p);
		if (p->plan.n != n0) { /* split: bi and the new blocks run now */
			for (size_t i = n0; i < p->plan.n; i++)
				mb_sched_push(&p->sched, &p->plan, i);
			mb_sched_push(&p->sched, &p->plan, (size_t)bi);
			continue;
		}
		p->ran_gen[bi] = p->gen;
		p->st.late += mb_block_advance(&p->plan.b[bi], now);
		if (mb_block_due(&p->plan.b[bi]) <= now) /* late: due again, next step */
			p->held[nheld++] = (size_t)bi;
		else
			mb_sched_push(&p->sched, &p->plan, (size_t)bi);
	}
	for (size_t i = 0; i < nheld; i++)
		mb_sched_push(&p->sched, &p->plan, p->held[i]);
	out_flush(p);
	if (rc != SG_OK) {
		mb_poll_all_bad(p, "connection lost");
		return rc;
	}
	*next = mb_sched_next(&p->sched, &p->plan);
	return SG_OK;
}

/* The number in v (bools as 0/1), or false. */
static bool write_num(const struct sg_value *v, double *out)
{
	return v->type != SG_VAL_STR && v->type != SG_VAL_BYTES && mb_value_num(v, out);
}

/* Registers for a holding-register point.  SG_OK or SG_EINVAL. */
static int write_regs(struct mb_poller *p, const struct mb_point *pt, const struct sg_value *v,
		      uint16_t *w, struct sg_errbuf *eb)
{
	char text[2 * MB_STRING_MAX_REGS + 1];
	double d, raw;

	if (pt->type == MB_T_STRING) {
		if (v->type != SG_VAL_STR || v->s.len > (size_t)pt->nregs * 2)
			return sg_errf(eb, SG_EINVAL, "%s: needs text of at most %d bytes", pt->id,
				       pt->nregs * 2);
		memset(text, 0, sizeof(text));
		memcpy(text, v->s.p, v->s.len);
		return mb_encode(MB_T_STRING, pt->order, 0, text, 0, w, pt->nregs);
	}
	if (!write_num(v, &d))
		return sg_errf(eb, SG_EINVAL, "%s: needs a number or a bool", pt->id);
	raw = pt->type == MB_T_BOOL || pt->type == MB_T_BIT ? d : (d - pt->offset) / pt->scale;
	if (!mb_fits(pt->type, raw))
		return sg_errf(eb, SG_EINVAL, "%s: %g does not fit a %s register value", pt->id, d,
			       mb_type_names[pt->type]);
	if (pt->type == MB_T_BIT) { /* read, change one bit, write back */
		int exc, lost;

		if (p->io.read(p->io.ctx, p->dev[pt->dev].unit_id, MB_A_HOLDING, pt->addr, 1, w,
			       NULL) != 1) {
			enum mb_errclass cls = mb_classify(errno, &exc, &lost);
			return sg_errf(eb, lost ? SG_EIO : SG_EDRIVER,
				       "%s: reading before the write: %s", pt->id,
				       mb_errclass_names[cls]);
		}
	}
	return mb_encode(pt->type, pt->order, raw, NULL, pt->bit, w, pt->nregs);
}

int mb_poll_write(struct mb_poller *p, const char *target, const struct sg_value *v,
		  struct sg_errbuf *eb)
{
	const struct mb_point *pt = NULL;
	uint16_t w[MB_STRING_MAX_REGS];
	uint8_t bit = 0;
	double d;
	int rc, exc = 0, lost = 0;
	char reason[80];

	for (size_t i = 0; i < p->npt && !pt; i++)
		if (!strcmp(p->pt[i].id, target))
			pt = &p->pt[i];
	if (!pt)
		return sg_errf(eb, SG_ENOTFOUND, "no point '%s' on this bus", target);
	if (!p->io.write)
		return sg_errf(eb, SG_EINVAL, "this bus cannot write");
	if (pt->area == MB_A_COIL) {
		if (!write_num(v, &d))
			return sg_errf(eb, SG_EINVAL, "%s: a coil needs a bool or a number",
				       pt->id);
		bit = d != 0;
	} else if (pt->area == MB_A_HOLDING) {
		if ((rc = write_regs(p, pt, v, w, eb)) != SG_OK)
			return rc;
	} else {
		return sg_errf(eb, SG_EINVAL, "%s: a %s is read-only", pt->id,
			       mb_area_names[pt->area]);
	}
	rc =
	    p->io.write(p->io.ctx, p->dev[pt->dev].unit_id, pt->area, pt->addr, pt->nregs, w, &bit);
	if (rc == pt->nregs) {
		dev_count(&p->dev[pt->dev], MB_E_NONE, 0);
		return SG_OK;
	}
	enum mb_errclass cls = rc < 0 ? mb_classify(errno, &exc, &lost) : MB_E_MALFORMED;
	dev_count(&p->dev[pt->dev], cls, exc);
	p->cb.error(p->cb.arg, mb_errclass_names[cls]);
	fail_reason(cls, exc, reason, sizeof(reason));
	return sg_errf(eb, lost ? SG_EIO : SG_EDRIVER, "%s: write failed: %s", pt->id, reason);
}
