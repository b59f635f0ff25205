/*
 * sources.c - runs the sources.  Each enabled source gets a thread that
 * calls its driver's start/step/stop, polls the file descriptors the
 * driver asks for plus a wake-up eventfd, restarts a failed driver with
 * exponential backoff (100 ms doubling to 30 s) and never lets one
 * source's failure touch another.
 *
 * sg_source_emit() is the single way into the spool for drivers.
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
};

struct sg_pipeline {
	struct sg_source *src;
	size_t n;
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

int sg_source_emit(struct sg_source *src, const struct sg_reading *rd)
{
	struct sg_buf *b;
	uint64_t seq;
	int rc;

	if (!rd->sensor || !*rd->sensor || strlen(rd->sensor) > 255 ||
	    (rd->topic && strlen(rd->topic) > 249) ||
	    (rd->raw && rd->value.type != SG_VAL_STR && rd->value.type != SG_VAL_BYTES)) {
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
	if (rc == SG_OK)
		rc = sg_spool_append(src->sp, b->p, b->len, &seq);
	if (rc == SG_OK)
		sg_counter_add(src->m_spooled, 1);
	else if (rc == SG_EDROPPED)
		sg_counter_add(src->m_dropped, 1);
	else if (rc != SG_ESTOPPING)
		sg_counter_add(src->m_errors_emit, 1);
	return rc;
}

/* --- source threads -------------------------------------------------- */

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
	if (ms > 0 || n > 0) {
		if (poll(fds, (nfds_t)n + 1, ms) < 0 && errno != EINTR)
			sg_warn(s->sc->name, "poll: %s", strerror(errno));
	}
	for (int i = 0; i < n; i++)
		w->fds[i].revents = fds[i].revents;
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
			int rc = s->drv->start(s->state, &eb);
			if (rc != SG_OK) {
				sg_error(s->sc->name, "start failed: %s; retrying in %lld ms",
					 eb.msg[0] ? eb.msg : sg_strerror(rc),
					 (long long)(backoff / SG_NS_PER_MS));
				sg_source_error(s, "start");
				src_wait(s, &w, backoff);
				backoff =
				    backoff * 2 > 30 * SG_NS_PER_S ? 30 * SG_NS_PER_S : backoff * 2;
				continue;
			}
			started = true;
			sg_info(s->sc->name, "started (driver %s)", s->drv->name);
		}
		for (;;) {
			w.now_ns = sg_now_mono_ns();
			int rc = s->drv->step(s->state, &w);
			if (atomic_load(&s->stopping))
				break;
			if (rc == SG_EIO) {
				sg_warn(s->sc->name, "connection lost; restarting in %lld ms",
					(long long)(backoff / SG_NS_PER_MS));
				sg_counter_add(s->m_restarts, 1);
				s->drv->stop(s->state);
				started = false;
				memset(&w, 0, sizeof(w));
				src_wait(s, &w, backoff);
				backoff =
				    backoff * 2 > 30 * SG_NS_PER_S ? 30 * SG_NS_PER_S : backoff * 2;
				break;
			}
			if (rc != SG_OK) {
				sg_source_error(s, "step");
				if (!w.deadline_ns || w.deadline_ns < w.now_ns + backoff)
					w.deadline_ns = w.now_ns + backoff;
			} else {
				backoff = 100 * SG_NS_PER_MS;
			}
			src_wait(s, &w, SG_NS_PER_S);
			if (atomic_load(&s->stopping))
				break;
		}
	}
	if (started)
		s->drv->stop(s->state);
	return NULL;
}

int sg_pipeline_new(const struct sg_conf *conf, struct sg_spool *sp, struct sg_pipeline **out,
		    struct sg_errbuf *eb)
{
	struct sg_pipeline *pl = sg_xcalloc(1, sizeof(*pl));
	const struct sg_source_conf *scs = conf->sources.items;

	pl->src = sg_xcalloc(conf->sources.n, sizeof(*pl->src));
	for (size_t i = 0; i < conf->sources.n; i++) {
		const struct sg_source_conf *sc = &scs[i];
		struct sg_source *s = &pl->src[pl->n];
		struct sg_errbuf deb = {{0}};
		int rc;

		if (!sc->enabled)
			continue;
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
		pl->n++;
		rc = s->drv->init(s, sc->dconf, &s->state, &deb);
		if (rc != SG_OK) {
			sg_errf(eb, rc, "%s:%d: sources.%s: %s", sc->pos.file ? sc->pos.file : "",
				sc->pos.line, sc->name, deb.msg[0] ? deb.msg : sg_strerror(rc));
			s->state = NULL;
			sg_pipeline_free(pl);
			return rc;
		}
	}
	*out = pl;
	return SG_OK;
}

int sg_pipeline_start(struct sg_pipeline *pl)
{
	for (size_t i = 0; i < pl->n; i++) {
		if (pthread_create(&pl->src[i].thr, NULL, src_main, &pl->src[i]) != 0)
			return SG_ERR;
		pl->src[i].running = true;
	}
	return SG_OK;
}

void sg_pipeline_signal_stop(struct sg_pipeline *pl)
{
	uint64_t one = 1;

	for (size_t i = 0; i < pl->n; i++) {
		atomic_store(&pl->src[i].stopping, true);
		if (write(pl->src[i].wakefd, &one, sizeof(one)) < 0)
			sg_debug("pipeline", "wake: %s", strerror(errno));
	}
}

void sg_pipeline_stop(struct sg_pipeline *pl)
{
	sg_pipeline_signal_stop(pl);
	for (size_t i = 0; i < pl->n; i++) {
		if (pl->src[i].running)
			pthread_join(pl->src[i].thr, NULL);
		pl->src[i].running = false;
	}
}

void sg_pipeline_free(struct sg_pipeline *pl)
{
	if (!pl)
		return;
	sg_pipeline_stop(pl);
	for (size_t i = 0; i < pl->n; i++) {
		if (pl->src[i].state)
			pl->src[i].drv->fini(pl->src[i].state);
		if (pl->src[i].wakefd >= 0)
			close(pl->src[i].wakefd);
	}
	free(pl->src);
	free(pl);
}

size_t sg_pipeline_count(const struct sg_pipeline *pl)
{
	return pl->n;
}
const char *sg_pipeline_source_name(const struct sg_pipeline *pl, size_t i)
{
	return pl->src[i].sc->name;
}
uint64_t sg_pipeline_source_read(const struct sg_pipeline *pl, size_t i)
{
	return sg_counter_get(pl->src[i].m_read);
}

int sg_pipeline_write(struct sg_pipeline *pl, const char *name, const char *target,
		      const struct sg_value *v, struct sg_errbuf *eb)
{
	for (size_t i = 0; i < pl->n; i++) {
		struct sg_source *s = &pl->src[i];

		if (strcmp(s->sc->name, name) != 0)
			continue;
		if (!s->drv->write)
			return sg_errf(eb, SG_EINVAL, "driver %s of source %s cannot write",
				       s->drv->name, name);
		return s->drv->write(s->state, target, v, eb);
	}
	return sg_errf(eb, SG_ENOTFOUND, "no running source named %s", name);
}
