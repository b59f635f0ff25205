/*
 * sources.c - runs the sources.  Each enabled source gets a thread that
 * calls its driver's start/step/stop, polls the file descriptors the
 * driver asks for plus a wake-up eventfd, restarts a failed driver with
 * exponential backoff (100 ms doubling to 30 s) and never lets one
 * source's failure touch another.
 *
 * sg_source_emit() and sg_source_emit_batch() (the readings of one upstream
 * message, all or none) are the only ways into the spool for drivers.
 */
#include "sources.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "drivers/driver.h"
#include "event.h"
#include "gateway/base/log.h"
#include "gateway/base/mem.h"
#include "metrics.h"

struct sg_source {
	const struct sg_source_conf *sc;
	const struct sg_driver *drv;
	void *state;
	struct sg_spool *sp;
	struct sg_event_ctx ec;
	pthread_t thr;
	bool running;
	_Atomic bool stopping;
	int wakefd;
	char labels[96];
	struct sg_counter *m_read, *m_spooled, *m_dropped, *m_errors_emit, *m_restarts;
	struct sg_log_rl rl_emit; /* this source's malformed-reading log */
	/* Read by the HTTP thread (health snapshots): atomics. */
	_Atomic int64_t due_ns;        /* back by then: last pass or end of a wait */
	_Atomic bool in_append;        /* inside the spool append (may block) */
	_Atomic bool started, up;      /* driver started; and connected */
	_Atomic bool up_reported;      /* the driver said so itself since start */
	_Atomic int64_t down_since_ns; /* when it last stopped being up */
	struct sg_counter *m_up;
};

/* Sources by pointer: a reload adds and removes them while the actuator
 * thread writes through them and the HTTP thread takes health snapshots,
 * so the array is guarded by a rwlock (writers: the main thread only). */
struct sg_pipeline {
	pthread_rwlock_t mu;
	struct sg_source **src;
	size_t n, cap;
	struct sg_spool *sp;
	bool started;
};

/* --- the driver-facing API ------------------------------------------- */

const char *sg_source_name(const struct sg_source *src)
{
	return src->sc->name;
}

bool sg_source_stopping(const struct sg_source *src)
{
	return atomic_load(&src->stopping);
}

void sg_source_error(struct sg_source *src, const char *cls)
{
	char labels[160];

	snprintf(labels, sizeof(labels), "source=\"%s\",class=\"%s\"", src->sc->name, cls);
	sg_counter_add(sg_metric("errors", labels, false), 1);
}

struct sg_counter *sg_source_counter(struct sg_source *src, const char *name)
{
	return sg_metric(name, src->labels, false);
}

/* Each emitting thread's encode buffer, kept across emits and freed when
 * the thread exits: emit may run on any thread a driver owns. */
static pthread_key_t emit_key;
static pthread_once_t emit_once = PTHREAD_ONCE_INIT;

static void emit_buf_free(void *p)
{
	sg_buf_free(p);
	free(p);
}

static void emit_key_create(void)
{
	if (pthread_key_create(&emit_key, emit_buf_free) != 0)
		abort(); /* only when the process is out of keys at start-up */
}

static struct sg_buf *emit_buf(void)
{
	struct sg_buf *b;

	pthread_once(&emit_once, emit_key_create);
	b = pthread_getspecific(emit_key);
	if (!b && (b = calloc(1, sizeof(*b))) && pthread_setspecific(emit_key, b) != 0) {
		free(b);
		b = NULL;
	}
	if (b)
		sg_buf_reset(b);
	return b;
}

/* What every reading must have before it is encoded. */
static bool emit_valid(const struct sg_reading *rd)
{
	return rd->sensor && *rd->sensor && strlen(rd->sensor) <= 255 &&
	       (!rd->topic || strlen(rd->topic) <= 249) &&
	       (!rd->raw || rd->value.type == SG_VAL_STR || rd->value.type == SG_VAL_BYTES);
}

int sg_source_emit(struct sg_source *src, const struct sg_reading *rd)
{
	struct sg_buf *b;
	uint64_t seq;
	int rc;

	if (!emit_valid(rd)) {
		sg_log_rl(&src->rl_emit, SG_LOG_ERROR, src->sc->name,
			  "malformed reading (sensor id missing or too long, topic too long, or "
			  "raw without bytes): not stored");
		sg_counter_add(src->m_errors_emit, 1);
		return SG_EINVAL;
	}
	sg_counter_add(src->m_read, 1);
	/* Encoded here, on the emitting thread, before the spool lock. */
	b = emit_buf();
	rc = b ? sg_event_encode(&src->ec, rd, b) : SG_ENOMEM;
	if (rc == SG_EINVAL)
		sg_log_rl(&src->rl_emit, SG_LOG_ERROR, src->sc->name,
			  "malformed reading of sensor %s (a field too long, or an unknown value "
			  "type): not stored",
			  rd->sensor);
	if (rc == SG_OK) {
		atomic_store(&src->in_append, true); /* blocked here = backpressure */
		rc = sg_spool_append(src->sp, b->p, b->len, &seq);
		atomic_store(&src->in_append, false);
	}
	if (rc == SG_OK)
		sg_counter_add(src->m_spooled, 1);
	else if (rc == SG_EDROPPED)
		sg_counter_add(src->m_dropped, 1);
	else if (rc != SG_ESTOPPING)
		sg_counter_add(src->m_errors_emit, 1);
	return rc;
}

/* Encode rd[0..n) as the frames of one spool batch into b, every reading
 * without a time taking now. */
static int emit_encode_batch(struct sg_source *src, const struct sg_reading *rd, size_t n,
			     struct sg_buf *b)
{
	int64_t now = sg_now_ns();
	int rc = SG_OK;

	for (size_t i = 0; i < n && rc == SG_OK; i++) {
		struct sg_reading r = rd[i];
		size_t at = sg_spool_batch_open(b);

		if (!r.ts_ns)
			r.ts_ns = now;
		rc = sg_event_encode(&src->ec, &r, b);
		sg_spool_batch_close(b, at);
		if (rc == SG_EINVAL)
			sg_log_rl(&src->rl_emit, SG_LOG_ERROR, src->sc->name,
				  "malformed reading of sensor %s (a field too long, or an unknown "
				  "value type): none of the %zu events of its batch stored",
				  r.sensor, n);
	}
	return rc == SG_OK && b->oom ? SG_ENOMEM : rc;
}

int sg_source_emit_batch(struct sg_source *src, const struct sg_reading *rd, size_t n)
{
	struct sg_buf *b;
	uint64_t seq;
	int rc;

	if (n <= 1)
		return n ? sg_source_emit(src, rd) : SG_OK;
	for (size_t i = 0; i < n; i++)
		if (!emit_valid(&rd[i])) {
			sg_log_rl(
			    &src->rl_emit, SG_LOG_ERROR, src->sc->name,
			    "malformed reading (sensor id missing or too long, topic too long, "
			    "or raw without bytes): none of the %zu events of its batch stored",
			    n);
			sg_counter_add(src->m_errors_emit, n);
			return SG_EINVAL;
		}
	sg_counter_add(src->m_read, n);
	/* Encoded here, on the emitting thread, before the spool lock. */
	b = emit_buf();
	rc = b ? emit_encode_batch(src, rd, n, b) : SG_ENOMEM;
	if (rc == SG_OK) {
		atomic_store(&src->in_append, true); /* blocked here = backpressure */
		rc = sg_spool_append_batch(src->sp, b->p, b->len, n, &seq);
		atomic_store(&src->in_append, false);
	}
	if (rc == SG_OK)
		sg_counter_add(src->m_spooled, n);
	else if (rc == SG_EDROPPED)
		sg_counter_add(src->m_dropped, n);
	else if (rc != SG_ESTOPPING)
		sg_counter_add(src->m_errors_emit, n);
	return rc;
}

/* --- source threads -------------------------------------------------- */

void sg_source_set_up(struct sg_source *src, bool up)
{
	bool was = atomic_exchange(&src->up, up);

	atomic_store(&src->up_reported, true);
	if (was && !up)
		atomic_store(&src->down_since_ns, sg_now_mono_ns());
	sg_gauge_set(src->m_up, up);
}

/* The longest a source sleeps when its driver named its next deadline
 * (a sensor read every 10 s sleeps 10 s, not ten times 1 s); with no
 * deadline it is woken every second.  Stop and reload wake it at once
 * (wakefd); a planned wait is not a stall (due_ns below). */
#define SRC_MAX_WAIT_NS (60 * SG_NS_PER_S)

static void src_wait(struct sg_source *s, struct sg_wait *w, int64_t timeout_ns)
{
	struct pollfd fds[SG_WAIT_MAX_FDS + 1];
	int n = w->nfds < SG_WAIT_MAX_FDS ? w->nfds : SG_WAIT_MAX_FDS;
	int64_t now = sg_now_mono_ns();
	int ms;

	if (w->deadline_ns && w->deadline_ns - now < timeout_ns)
		timeout_ns = w->deadline_ns - now;
	if (timeout_ns < 0)
		timeout_ns = 0;
	/* Round up so we do not wake just before the deadline. */
	ms = (int)((timeout_ns + SG_NS_PER_MS - 1) / SG_NS_PER_MS);
	memcpy(fds, w->fds, (size_t)n * sizeof(fds[0]));
	fds[n] = (struct pollfd){.fd = s->wakefd, .events = POLLIN};
	/* A planned wait is progress: the loop is due back when it ends. */
	atomic_store(&s->due_ns, now + timeout_ns);
	if (ms > 0 || n > 0) {
		if (poll(fds, (nfds_t)n + 1, ms) < 0 && errno != EINTR)
			sg_warn(s->sc->name, "poll: %s", strerror(errno));
	}
	atomic_store(&s->due_ns, sg_now_mono_ns());
	for (int i = 0; i < n; i++)
		w->fds[i].revents = fds[i].revents;
}

/* A driver that reports its own link state (sg_source_set_up during or
 * after start) is believed; for the others, started means up. */
static void src_started(struct sg_source *s, bool started)
{
	atomic_store(&s->started, started);
	if (!started || !atomic_load(&s->up_reported))
		sg_source_set_up(s, started);
}

static int64_t src_backoff_next(int64_t b)
{
	return b * 2 > 30 * SG_NS_PER_S ? 30 * SG_NS_PER_S : b * 2;
}

static void *src_main(void *arg)
{
	struct sg_source *s = arg;
	struct sg_wait w;
	struct sg_errbuf eb;
	bool started = false;
	int64_t backoff = 100 * SG_NS_PER_MS;

	while (!atomic_load(&s->stopping)) {
		memset(&w, 0, sizeof(w));
		if (!started) {
			eb.msg[0] = '\0';
			atomic_store(&s->due_ns, sg_now_mono_ns());
			atomic_store(&s->up_reported, false);
			int rc = s->drv->start(s->state, &eb);
			if (rc != SG_OK) {
				sg_error(s->sc->name, "start failed: %s; retrying in %lld ms",
					 eb.msg[0] ? eb.msg : sg_strerror(rc),
					 (long long)(backoff / SG_NS_PER_MS));
				sg_source_error(s, "start");
				src_wait(s, &w, backoff);
				backoff = src_backoff_next(backoff);
				continue;
			}
			started = true;
			src_started(s, true);
			sg_info(s->sc->name, "started (driver %s)", s->drv->name);
		}
		for (;;) {
			w.now_ns = sg_now_mono_ns();
			atomic_store(&s->due_ns, w.now_ns);
			int rc = s->drv->step(s->state, &w);
			if (atomic_load(&s->stopping))
				break;
			if (rc == SG_EIO) {
				sg_warn(s->sc->name, "connection lost; restarting in %lld ms",
					(long long)(backoff / SG_NS_PER_MS));
				sg_counter_add(s->m_restarts, 1);
				s->drv->stop(s->state);
				started = false;
				src_started(s, false);
				memset(&w, 0, sizeof(w));
				src_wait(s, &w, backoff);
				backoff = src_backoff_next(backoff);
				break;
			}
			if (rc != SG_OK) {
				sg_source_error(s, "step");
				if (!w.deadline_ns || w.deadline_ns < w.now_ns + backoff)
					w.deadline_ns = w.now_ns + backoff;
			} else {
				backoff = 100 * SG_NS_PER_MS;
			}
			src_wait(s, &w, w.deadline_ns ? SRC_MAX_WAIT_NS : SG_NS_PER_S);
			if (atomic_load(&s->stopping))
				break;
		}
	}
	if (started)
		s->drv->stop(s->state);
	src_started(s, false);
	return NULL;
}

/* --- one source: create, start, stop, free ------------------------------ */

static void src_free(struct sg_source *s)
{
	if (s->state)
		s->drv->fini(s->state);
	if (s->wakefd >= 0)
		close(s->wakefd);
	free(s);
}

static int src_new(const struct sg_conf *conf, const struct sg_source_conf *sc, struct sg_spool *sp,
		   struct sg_source **out, struct sg_errbuf *eb)
{
	struct sg_source *s = sg_xcalloc(1, sizeof(*s));
	struct sg_errbuf deb = {{0}};
	int rc;

	s->sc = sc;
	s->drv = sc->drv;
	s->sp = sp;
	s->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	s->ec.gateway = conf->gateway.id;
	s->ec.source = sc->name;
	s->ec.topic_tmpl = sc->topic ? sc->topic : conf->kafka.topic;
	snprintf(s->labels, sizeof(s->labels), "source=\"%s\"", sc->name);
	s->m_read = sg_metric("events_read", s->labels, false);
	s->m_spooled = sg_metric("events_spooled", s->labels, false);
	s->m_dropped = sg_metric("events_dropped", s->labels, false);
	s->m_errors_emit = sg_metric("emit_errors", s->labels, false);
	s->m_restarts = sg_metric("source_restarts", s->labels, false);
	s->m_up = sg_metric("source_up", s->labels, true);
	sg_gauge_set(s->m_up, 0);
	atomic_store(&s->down_since_ns, sg_now_mono_ns());
	rc = s->drv->init(s, sc->dconf, &s->state, &deb);
	if (rc != SG_OK) {
		sg_errf(eb, rc, "%s:%d: sources.%s: %s", sc->pos.file ? sc->pos.file : "",
			sc->pos.line, sc->name, deb.msg[0] ? deb.msg : sg_strerror(rc));
		s->state = NULL;
		src_free(s);
		return rc;
	}
	*out = s;
	return SG_OK;
}

/* "src:" and as much of the source's name as fits (15 bytes). */
static void src_name_thread(struct sg_source *s)
{
	char name[16];

	snprintf(name, sizeof(name), "src:%s", s->sc->name);
	pthread_setname_np(s->thr, name);
}

static int src_start(struct sg_source *s)
{
	atomic_store(&s->due_ns, sg_now_mono_ns());
	if (pthread_create(&s->thr, NULL, src_main, s) != 0)
		return SG_ERR;
	src_name_thread(s);
	s->running = true;
	return SG_OK;
}

static void src_signal_stop(struct sg_source *s)
{
	uint64_t one = 1;

	atomic_store(&s->stopping, true);
	if (write(s->wakefd, &one, sizeof(one)) < 0)
		sg_debug("sources", "wake: %s", strerror(errno));
}

static void src_join(struct sg_source *s)
{
	src_signal_stop(s);
	if (s->running)
		pthread_join(s->thr, NULL);
	s->running = false;
}

/* --- the set of sources ------------------------------------------------- */

static void pl_insert(struct sg_pipeline *pl, struct sg_source *s)
{
	pthread_rwlock_wrlock(&pl->mu);
	if (pl->n == pl->cap) {
		pl->cap = pl->cap ? pl->cap * 2 : 8;
		pl->src = realloc(pl->src, pl->cap * sizeof(*pl->src));
		if (!pl->src)
			abort(); /* a handful of pointers: only at exhaustion */
	}
	pl->src[pl->n++] = s;
	pthread_rwlock_unlock(&pl->mu);
}

int sg_pipeline_new(const struct sg_conf *conf, struct sg_spool *sp, struct sg_pipeline **out,
		    struct sg_errbuf *eb)
{
	struct sg_pipeline *pl = sg_xcalloc(1, sizeof(*pl));
	const struct sg_source_conf *scs = conf->sources.items;

	pthread_rwlock_init(&pl->mu, NULL);
	pl->sp = sp;
	for (size_t i = 0; i < conf->sources.n; i++) {
		struct sg_source *s;
		int rc;

		if (!scs[i].enabled)
			continue;
		if ((rc = src_new(conf, &scs[i], sp, &s, eb)) != SG_OK) {
			sg_pipeline_free(pl);
			return rc;
		}
		pl_insert(pl, s);
	}
	*out = pl;
	return SG_OK;
}

int sg_pipeline_start(struct sg_pipeline *pl)
{
	pl->started = true;
	for (size_t i = 0; i < pl->n; i++)
		if (src_start(pl->src[i]) != SG_OK)
			return SG_ERR;
	return SG_OK;
}

int sg_pipeline_add(struct sg_pipeline *pl, const struct sg_conf *conf,
		    const struct sg_source_conf *sc, struct sg_errbuf *eb)
{
	struct sg_source *s;
	int rc;

	if ((rc = src_new(conf, sc, pl->sp, &s, eb)) != SG_OK)
		return rc;
	if (pl->started && src_start(s) != SG_OK) {
		src_free(s);
		return sg_errf(eb, SG_ERR, "sources.%s: cannot start its thread", sc->name);
	}
	pl_insert(pl, s);
	return SG_OK;
}

static struct sg_source *pl_find(struct sg_pipeline *pl, const char *name, size_t *idx)
{
	for (size_t i = 0; i < pl->n; i++)
		if (!strcmp(pl->src[i]->sc->name, name)) {
			*idx = i;
			return pl->src[i];
		}
	return NULL;
}

int sg_pipeline_remove(struct sg_pipeline *pl, const char *name)
{
	struct sg_source *s;
	size_t i;

	if (!(s = pl_find(pl, name, &i)))
		return SG_ENOTFOUND;
	/* Stop it first (driver stop may still append), then unlink. */
	src_join(s);
	pthread_rwlock_wrlock(&pl->mu);
	memmove(&pl->src[i], &pl->src[i + 1], (pl->n - i - 1) * sizeof(*pl->src));
	pl->n--;
	pthread_rwlock_unlock(&pl->mu);
	src_free(s);
	return SG_OK;
}

int sg_pipeline_replace(struct sg_pipeline *pl, const struct sg_conf *conf,
			const struct sg_source_conf *sc, struct sg_errbuf *eb)
{
	struct sg_source *old, *s;
	size_t i;
	int rc;

	if (!(old = pl_find(pl, sc->name, &i)))
		return sg_pipeline_add(pl, conf, sc, eb);
	/* init does no I/O: a refused setting leaves the old source running. */
	if ((rc = src_new(conf, sc, pl->sp, &s, eb)) != SG_OK)
		return rc;
	src_join(old); /* never two instances on one device or client id */
	if (pl->started && src_start(s) != SG_OK) {
		src_free(s);
		rc = sg_errf(eb, SG_ERR, "sources.%s: cannot start its thread", sc->name);
		s = NULL;
	}
	pthread_rwlock_wrlock(&pl->mu);
	if (s) {
		pl->src[i] = s;
	} else {
		memmove(&pl->src[i], &pl->src[i + 1], (pl->n - i - 1) * sizeof(*pl->src));
		pl->n--;
	}
	pthread_rwlock_unlock(&pl->mu);
	src_free(old);
	return rc;
}

void sg_pipeline_signal_stop(struct sg_pipeline *pl)
{
	for (size_t i = 0; i < pl->n; i++)
		src_signal_stop(pl->src[i]);
}

void sg_pipeline_stop(struct sg_pipeline *pl)
{
	sg_pipeline_signal_stop(pl);
	for (size_t i = 0; i < pl->n; i++)
		src_join(pl->src[i]);
}

void sg_pipeline_free(struct sg_pipeline *pl)
{
	if (!pl)
		return;
	sg_pipeline_stop(pl);
	for (size_t i = 0; i < pl->n; i++)
		src_free(pl->src[i]);
	free(pl->src);
	pthread_rwlock_destroy(&pl->mu);
	free(pl);
}

size_t sg_pipeline_count(const struct sg_pipeline *pl)
{
	return pl->n;
}
const char *sg_pipeline_source_name(const struct sg_pipeline *pl, size_t i)
{
	return pl->src[i]->sc->name;
}
const struct sg_source_conf *sg_pipeline_source_conf(const struct sg_pipeline *pl, size_t i)
{
	return pl->src[i]->sc;
}
uint64_t sg_pipeline_source_read(const struct sg_pipeline *pl, size_t i)
{
	return sg_counter_get(pl->src[i]->m_read);
}

size_t sg_pipeline_health(struct sg_pipeline *pl, struct sg_pipeline_health *h, size_t max)
{
	size_t n = 0;

	pthread_rwlock_rdlock(&pl->mu);
	for (size_t i = 0; i < pl->n && n < max; i++, n++) {
		const struct sg_source *s = pl->src[i];
		snprintf(h[n].name, sizeof(h[n].name), "%s", s->sc->name);
		h[n].due_ns = atomic_load(&s->due_ns);
		h[n].waiting = atomic_load(&s->in_append);
		h[n].up = atomic_load(&s->up);
		h[n].down_since_ns = atomic_load(&s->down_since_ns);
	}
	pthread_rwlock_unlock(&pl->mu);
	return n;
}

int sg_pipeline_write(struct sg_pipeline *pl, const char *name, const char *target,
		      const struct sg_value *v, struct sg_errbuf *eb)
{
	int rc = sg_errf(eb, SG_ENOTFOUND, "no running source named %s", name);

	pthread_rwlock_rdlock(&pl->mu);
	for (size_t i = 0; i < pl->n; i++) {
		struct sg_source *s = pl->src[i];

		if (strcmp(s->sc->name, name) != 0)
			continue;
		if (!s->drv->write)
			rc = sg_errf(eb, SG_EINVAL, "driver %s of source %s cannot write",
				     s->drv->name, name);
		else
			rc = s->drv->write(s->state, target, v, eb);
		break;
	}
	pthread_rwlock_unlock(&pl->mu);
	return rc;
}
