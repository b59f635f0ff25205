/*
 * gateway.c - the gateway object: opens its parts in the start order,
 * runs the main loop (view, status line, requests) and closes them in the
 * stop order of gateway.h.  Nothing here parses arguments or touches
 * signals: `sensorgate run` does that and turns signals into requests.
 *
 * Requests arrive as bits in an atomic word plus one write to an eventfd,
 * both async-signal-safe, so a signal handler or any thread can make the
 * loop stop or reload.
 */
#include "gateway.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "gateway/base/clock.h"
#include "gateway/base/log.h"
#include "gateway/base/mem.h"
#include "gateway/core/health.h"
#include "gateway/core/metrics.h"
#include "gateway/core/reload_plan.h"
#include "gateway/http/routes.h"
#include "gateway/http/server.h"
#include "gateway/kafka/embedded.h"
#include "gateway/kafka/producer.h"
#include "gateway/sink/actuator.h"
#include "gateway/view/view.h"
#include "sources.h"

#define GW_REQ_STOP   0x1u
#define GW_REQ_RELOAD 0x2u

enum gw_phase { GW_STARTING, GW_RUNNING, GW_STOPPING };

/* The longest the loop sleeps: the view's tail consumer is served at
 * least this often. */
#define GW_POLL_MAX_MS 100

struct sg_gateway {
	struct sg_conf *conf; /* owned; the running configuration */
	/* Configurations replaced by reloads: parts made from them still
	 * borrow from them (the spool, the producer, kept sources), so they
	 * live until close.  Their restart-only values equal conf's. */
	struct sg_conf **old_confs;
	size_t nold_confs;
	const char *file; /* re-read on a reload request */
	struct sg_spool *sp;
	struct sg_mock *mock;
	struct sg_producer *prod;
	struct sg_pipeline *pl;
	struct sg_actuator *act;
	struct sg_view *view;
	char *bootstrap;
	int ctlfd; /* eventfd: a request is pending */
	_Atomic unsigned requests;

	/* Read by the HTTP thread: atomics only. */
	_Atomic int phase;         /* enum gw_phase */
	_Atomic int64_t beat_main; /* the main loop's last pass (monotonic) */
	struct sg_http *http;
	struct sg_http_probes probes;
	int64_t start_ns;       /* monotonic */
	uint64_t watchdog_usec; /* systemd's WATCHDOG_USEC, 0: none */
	int64_t next_watchdog;
};

/* --- open ------------------------------------------------------------ */

/* Topics known without a sensor id are pre-created in the embedded
 * cluster with kafka.embedded_partitions partitions. */
static void gw_embedded_topics(struct sg_gateway *gw)
{
	const struct sg_conf *c = gw->conf;
	const struct sg_source_conf *scs = c->sources.items;
	char topic[256];

	for (size_t i = 0; i < c->sources.n; i++) {
		const char *t = scs[i].topic ? scs[i].topic : c->kafka.topic;
		if (strstr(t, "{sensor}"))
			continue;
		sg_topic_expand(t, c->gateway.id, scs[i].name, "", topic, sizeof(topic));
		sg_mock_create_topic(gw->mock, topic, (int)c->kafka.embedded_partitions);
	}
}

static int gw_open_embedded(struct sg_gateway *gw, struct sg_errbuf *eb)
{
	const struct sg_conf *c = gw->conf;
	const struct sg_source_conf *s0 = c->sources.items;
	char topic[256];
	int rc;

	if ((rc = sg_mock_start((int)c->kafka.embedded_brokers, &gw->mock, eb)) != SG_OK)
		return rc;
	gw->bootstrap = sg_strdup(sg_mock_bootstrap(gw->mock));
	gw_embedded_topics(gw);
	sg_topic_expand(c->sources.n && s0->topic ? s0->topic : c->kafka.topic, c->gateway.id,
			c->sources.n ? s0->name : "SOURCE", "SENSOR", topic, sizeof(topic));
	sg_info("main",
		"embedded Kafka cluster (%lld brokers) at %s  -- read it with: "
		"kcat -C -b %s -t %s -f '%%k %%s\\n'",
		(long long)c->kafka.embedded_brokers, gw->bootstrap, gw->bootstrap, topic);
	return SG_OK;
}

/* --- probes, metrics and systemd -------------------------------------- */

/* Log level and format: applied at open and by every reload. */
static void gw_apply_log(const struct sg_conf *c)
{
	static const enum sg_log_format fmt[] = {
	    [SG_LOGFMT_TEXT] = SG_LOG_FORMAT_TEXT,
	    [SG_LOGFMT_JOURNAL] = SG_LOG_FORMAT_JOURNAL,
	    [SG_LOGFMT_JSON] = SG_LOG_FORMAT_JSON,
	};

	sg_log_set_level((enum sg_log_level)c->gateway.log_level);
	sg_log_set_format(c->log.format == SG_LOGFMT_AUTO ? sg_log_format_auto()
							  : fmt[c->log.format]);
}

/* Metrics that describe the process rather than a part of it. */
static void gw_metrics_static(struct sg_gateway *gw)
{
	char labels[96];

	snprintf(labels, sizeof(labels), "version=\"%s\"", SG_VERSION);
	sg_gauge_set(sg_metric("build_info", labels, true), 1);
	sg_gauge_set(sg_metric("spool_max_bytes", "", true), (uint64_t)gw->conf->spool.max_bytes);
	sg_gauge_set(sg_metric("start_time_seconds", "", true),
		     (uint64_t)(sg_now_ns() / SG_NS_PER_S));
}

/* A gauge's value, or `missing` when nothing registered it. */
static uint64_t gw_gauge(const char *name, uint64_t missing)
{
	return sg_metric_exists(name, NULL) ? sg_metrics_sum(name, NULL) : missing;
}

/* The probes' view of the gateway, from atomics only (HTTP thread). */
#define GW_HEALTH_MAX 256 /* sources shown in the probes */

struct gw_health {
	struct sg_health_input in;
	struct sg_health_loop loops[GW_HEALTH_MAX + 2];
	struct sg_health_source srcs[GW_HEALTH_MAX];
	struct sg_pipeline_health ph[GW_HEALTH_MAX];
	struct sg_producer_health prod;
};

static void gw_health_input(struct sg_gateway *gw, struct sg_health_input *in,
			    struct sg_health_loop *loops)
{
	const struct sg_http_conf *h = &gw->conf->http;
	int phase = atomic_load(&gw->phase);

	*in = (struct sg_health_input){
	    .now_ns = sg_now_mono_ns(),
	    .stall_ns = h->stall_ms * SG_NS_PER_MS,
	    .grace_ns = h->stall_ms * SG_NS_PER_MS,
	    .loops = loops,
	    .spool_bytes = sg_metrics_sum("spool_bytes", NULL),
	    .spool_max_bytes = (uint64_t)gw->conf->spool.max_bytes,
	    .high_water_pct = (unsigned)h->ready_high_water,
	    .oldest_age_ns =
		(int64_t)sg_metrics_sum("oldest_undelivered_age_ms", NULL) * SG_NS_PER_MS,
	    .max_age_ns = h->ready_max_age_ms * SG_NS_PER_MS,
	    .delivery_stall_ns = h->delivery_stall_ms * SG_NS_PER_MS,
	    .brokers_up = (int)gw_gauge("kafka_brokers_up", (uint64_t)-1),
	    .registry_used = sg_metric_exists("schema_registry_up", NULL),
	    .registry_waiting = gw_gauge("schema_registry_up", 1) == 0,
	    .stopping = phase != GW_RUNNING,
	};
	loops[in->nloops++] = (struct sg_health_loop){"main", atomic_load(&gw->beat_main), false};
}

/* The snapshot with every source's loop and connection state.  The
 * pipeline exists from RUNNING on; before, only the main loop counts. */
static struct gw_health *gw_health(struct sg_gateway *gw)
{
	struct gw_health *h = calloc(1, sizeof(*h));
	size_t n;

	if (!h)
		return NULL;
	gw_health_input(gw, &h->in, h->loops);
	if (atomic_load(&gw->phase) == GW_STARTING || !gw->pl)
		return h;
	if (gw->prod) { /* its thread's heartbeat, and what Kafka refuses */
		sg_producer_health(gw->prod, &h->prod);
		h->in.kafka_conn = h->prod.conn;
		h->in.topics_refused = h->prod.topics_refused;
		h->in.held = h->prod.held;
		h->in.refused = h->prod.refused;
		h->loops[h->in.nloops++] =
		    (struct sg_health_loop){"producer", sg_producer_due_ns(gw->prod), false};
	}
	n = sg_pipeline_health(gw->pl, h->ph, GW_HEALTH_MAX);
	for (size_t i = 0; i < n; i++) {
		h->loops[h->in.nloops++] =
		    (struct sg_health_loop){h->ph[i].name, h->ph[i].due_ns, h->ph[i].waiting};
		h->srcs[i] =
		    (struct sg_health_source){h->ph[i].name, h->ph[i].up, h->ph[i].down_since_ns};
	}
	h->in.sources = h->srcs;
	h->in.nsources = n;
	return h;
}

static bool gw_probe_health(void *arg, struct sg_buf *json)
{
	struct gw_health *h = gw_health(arg);
	bool ok;

	if (!h) {
		sg_buf_adds(json, "{\"status\":\"fail\",\"checks\":[]}\n");
		return false;
	}
	ok = sg_health_live(&h->in, json);
	free(h);
	return ok;
}

static bool gw_probe_ready(void *arg, struct sg_buf *json)
{
	struct sg_gateway *gw = arg;
	struct gw_health *h;
	bool ok;

	if (atomic_load(&gw->phase) == GW_STARTING) {
		sg_buf_adds(json,
			    "{\"checks\":[{\"name\":\"running\",\"ok\":false,\"detail\":"
			    "\"starting: spool recovery and sources\"}],\"status\":\"fail\"}\n");
		return false;
	}
	if (!(h = gw_health(gw))) {
		sg_buf_adds(json, "{\"status\":\"fail\",\"checks\":[]}\n");
		return false;
	}
	ok = sg_health_ready(&h->in, json);
	free(h);
	return ok;
}

static int gw_http_start(struct sg_gateway *gw, struct sg_errbuf *eb)
{
	const struct sg_http_conf *h = &gw->conf->http;
	struct sg_http_opts o = {
	    .address = h->address,
	    .port = (int)h->port,
	    .max_connections = (unsigned)h->max_connections,
	    .timeout_s = (unsigned)((h->timeout_ms + 999) / 1000),
	    .handler = sg_http_routes,
	    .arg = &gw->probes,
	};
	int rc;

	if (!h->enabled)
		return SG_OK;
	gw->probes = (struct sg_http_probes){gw_probe_health, gw_probe_ready, gw};
	if ((rc = sg_http_start(&o, &gw->http, eb)) != SG_OK)
		return rc;
	sg_info("main", "metrics and probes at http://%s%s%s:%d/metrics (/health, /ready)",
		strchr(h->address, ':') ? "[" : "", h->address, strchr(h->address, ':') ? "]" : "",
		sg_http_port(gw->http));
	return SG_OK;
}

/* systemd: READY once recovered and running; the watchdog is armed if
 * the unit asks for it (WatchdogSec=).  Without systemd these are
 * no-ops. */
static void gw_notify_ready(struct sg_gateway *gw)
{
	if (sd_watchdog_enabled(0, &gw->watchdog_usec) <= 0)
		gw->watchdog_usec = 0;
	gw->next_watchdog = sg_now_mono_ns();
	sd_notifyf(0, "READY=1\nSTATUS=running: %zu source(s), kafka %s", sg_pipeline_count(gw->pl),
		   gw->bootstrap);
}

/* Ping the watchdog at half its interval, but only while every loop
 * makes progress: a wedged producer or source gets the unit restarted. */
static void gw_watchdog(struct sg_gateway *gw, int64_t now)
{
	struct gw_health *h;
	struct sg_buf json;
	bool live;

	if (!gw->watchdog_usec || now < gw->next_watchdog)
		return;
	gw->next_watchdog = now + (int64_t)gw->watchdog_usec * 1000 / 2;
	sg_buf_init(&json);
	h = gw_health(gw);
	live = h && sg_health_live(&h->in, &json);
	free(h);
	if (live)
		sd_notify(0, "WATCHDOG=1");
	else
		sg_error("main", "not alive, watchdog not fed: %.*s", (int)json.len, json.p);
	sg_buf_free(&json);
}

/* Prefix eb's message with the part that failed; returns rc. */
static int gw_fail(struct sg_errbuf *eb, int rc, const char *part)
{
	char msg[sizeof(eb->msg)];

	snprintf(msg, sizeof(msg), "%s", eb->msg);
	return sg_errf(eb, rc, "%s: %s", part, msg);
}

int sg_gateway_open(struct sg_conf *conf, struct sg_gateway **out, struct sg_errbuf *eb)
{
	struct sg_gateway *gw = sg_xcalloc(1, sizeof(*gw));
	int rc;

	gw->conf = conf;
	gw->ctlfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (gw->ctlfd < 0) {
		rc = sg_errf(eb, SG_EIO, "eventfd: %s", strerror(errno));
		goto err;
	}
	gw_apply_log(conf);
	gw->start_ns = sg_now_mono_ns();
	atomic_store(&gw->beat_main, gw->start_ns);
	if ((rc = sg_producer_check_props(conf, eb)) != SG_OK)
		goto err;
	gw_metrics_static(gw);
	/* First, so a port in use fails the start at once and the probes
	 * answer "starting" during a long spool recovery. */
	if ((rc = gw_http_start(gw, eb)) != SG_OK)
		goto err;
	if ((rc = sg_spool_open(&conf->spool, &gw->sp, eb)) != SG_OK) {
		gw_fail(eb, rc, "spool");
		goto err;
	}
	if (!strcmp(conf->kafka.bootstrap, "embedded")) {
		if ((rc = gw_open_embedded(gw, eb)) != SG_OK)
			goto err;
	} else {
		gw->bootstrap = sg_strdup(conf->kafka.bootstrap);
	}
	/* A producer or a driver that refuses its settings is a configuration
	 * that cannot work. */
	if (sg_producer_new(conf, gw->bootstrap, gw->sp, &gw->prod, eb) != SG_OK) {
		rc = gw_fail(eb, SG_ECONFIG, "producer");
		goto err;
	}
	if (sg_pipeline_new(conf, gw->sp, &gw->pl, eb) != SG_OK) {
		rc = SG_ECONFIG;
		goto err;
	}
	if (sg_producer_start(gw->prod) != SG_OK || sg_pipeline_start(gw->pl) != SG_OK) {
		rc = sg_errf(eb, SG_ERR, "cannot start the producer or source threads");
		goto err;
	}
	if ((rc = sg_actuator_start(conf, gw->bootstrap, gw->pl, &gw->act, eb)) != SG_OK)
		goto err;
	gw->view = sg_view_new(conf, gw->pl, gw->sp, gw->bootstrap);
	atomic_store(&gw->phase, GW_RUNNING);
	sg_info("main", "gateway %s running: %zu source(s), spool %s, kafka %s", conf->gateway.id,
		sg_pipeline_count(gw->pl), conf->spool.dir, gw->bootstrap);
	gw_notify_ready(gw);
	*out = gw;
	return SG_OK;
err:
	sg_gateway_close(gw);
	return rc;
}

/* --- requests and the loop ------------------------------------------- */

/* systemd's STATUS= line: what `systemctl status` shows. */
static void gw_notify_status(void)
{
	sd_notifyf(0,
		   "STATUS=delivered %" PRIu64 ", spool %" PRIu64 " records, in flight %" PRIu64
		   ", dropped %" PRIu64,
		   sg_metrics_sum("delivered", NULL), sg_metrics_sum("spool_records", NULL),
		   sg_metrics_sum("in_flight", NULL), sg_metrics_sum("dropped", NULL));
}

static void gw_request(struct sg_gateway *gw, unsigned bit)
{
	uint64_t one = 1;
	ssize_t n;

	atomic_fetch_or(&gw->requests, bit);
	n = write(gw->ctlfd, &one, sizeof(one)); /* async-signal-safe */
	(void)n; /* EAGAIN: the counter is saturated, a wake-up is pending */
}

void sg_gateway_request_stop(struct sg_gateway *gw)
{
	gw_request(gw, GW_REQ_STOP);
}

void sg_gateway_request_reload(struct sg_gateway *gw)
{
	gw_request(gw, GW_REQ_RELOAD);
}

void sg_gateway_set_config_file(struct sg_gateway *gw, const char *file)
{
	gw->file = file;
}

/* A reload request: read and check the file first; on any error keep
 * the running configuration. */
static void gw_reload_file(struct sg_gateway *gw)
{
	struct sg_conf *nc;
	struct sg_errbuf eb = {{0}};
	char *errors = NULL;

	if (!gw->file) {
		sg_warn("main", "reload requested, but no configuration file is known: ignored");
		return;
	}
	sg_info("main", "reload requested: reading %s", gw->file);
	nc = sg_xcalloc(1, sizeof(*nc));
	if (sg_conf_load(gw->file, nc, &errors) != SG_OK) {
		sg_error("main", "%s is not valid; keeping the running configuration:\n%s",
			 gw->file, errors ? errors : "");
		free(errors);
		sg_conf_free(nc);
		free(nc);
		return;
	}
	if (sg_producer_check_props(nc, &eb) != SG_OK) {
		sg_error("main", "%s: %s; keeping the running configuration", gw->file, eb.msg);
		sg_conf_free(nc);
		free(nc);
		return;
	}
	sg_gateway_reload(gw, nc, &eb);
}

int sg_gateway_run(struct sg_gateway *gw)
{
	int64_t next = sg_now_mono_ns() + sg_view_interval_ms(gw->view) * SG_NS_PER_MS;

	for (;;) {
		struct pollfd pfd = {.fd = gw->ctlfd, .events = POLLIN};
		int64_t now = sg_now_mono_ns(), wake = next;
		unsigned req;
		uint64_t cnt;

		/* Sleep until the next tick, watchdog ping or request; the view's
		 * tail consumer (if any) is served at least every 100 ms. */
		if (gw->watchdog_usec && gw->next_watchdog < wake)
			wake = gw->next_watchdog;
		if (sg_view_needs_poll(gw->view) && now + GW_POLL_MAX_MS * SG_NS_PER_MS < wake)
			wake = now + GW_POLL_MAX_MS * SG_NS_PER_MS;
		if (wake < now)
			wake = now;
		atomic_store(&gw->beat_main, wake); /* due back by then */
		if (poll(&pfd, 1, (int)((wake - now + SG_NS_PER_MS - 1) / SG_NS_PER_MS)) > 0 &&
		    read(gw->ctlfd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
			sg_warn("main", "control eventfd: %s", strerror(errno));
		atomic_store(&gw->beat_main, sg_now_mono_ns());
		gw_watchdog(gw, sg_now_mono_ns());
		req = atomic_exchange(&gw->requests, 0u);
		if (req & GW_REQ_STOP) {
			sg_info("main", "stopping (up to %lld ms to deliver what is in flight)",
				(long long)gw->conf->gateway.shutdown_timeout_ms);
			return SG_OK;
		}
		if (req & GW_REQ_RELOAD)
			gw_reload_file(gw);
		sg_view_poll(gw->view);
		if (sg_now_mono_ns() >= next) {
			sg_view_tick(gw->view);
			gw_notify_status();
			next += sg_view_interval_ms(gw->view) * SG_NS_PER_MS;
			if (next < sg_now_mono_ns())
				next = sg_now_mono_ns();
		}
	}
}

/* --- reload ------------------------------------------------------------ */

/* The effective configuration as YAML text, secrets as digests: a changed
 * password or key file is a change. */
static char *gw_dump(const struct sg_conf *c)
{
	char *text = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&text, &len);

	if (!fp)
		return NULL;
	sg_cfg_dump_digest(&sg_conf_table, c, 0, fp);
	fclose(fp);
	return text;
}

/* The text of top-level section `name` in dump d ("" if absent). */
static bool gw_section_equal(const char *a, const char *b, const char *name)
{
	char hdr[80];
	const char *pa, *pb, *ea, *eb;

	snprintf(hdr, sizeof(hdr), "\n%s:", name);
	pa = strstr(a, hdr);
	pb = strstr(b, hdr);
	if (!pa || !pb)
		return !pa && !pb;
	/* to the next line that starts a section */
	for (ea = pa + 1; (ea = strchr(ea, '\n')) && (ea[1] == ' ' || ea[1] == '-'); ea++)
		;
	for (eb = pb + 1; (eb = strchr(eb, '\n')) && (eb[1] == ' ' || eb[1] == '-'); eb++)
		;
	ea = ea ? ea : a + strlen(a);
	eb = eb ? eb : b + strlen(b);
	return ea - pa == eb - pb && !memcmp(pa, pb, (size_t)(ea - pa));
}

struct gw_plan {
	struct sg_reload_src *old, *nw;
	const struct sg_source_conf **nsc; /* nw[j]'s settings */
	struct sg_reload_step *steps;
	size_t nold, nnew, nsteps;
};

static void gw_plan_free(struct gw_plan *p)
{
	for (size_t i = 0; i < p->nold; i++)
		free((char *)p->old[i].fingerprint);
	for (size_t j = 0; j < p->nnew; j++)
		free((char *)p->nw[j].fingerprint);
	free(p->old);
	free(p->nw);
	free(p->nsc);
	free(p->steps);
}

/* Fingerprints of the running sources and of the new file's enabled ones,
 * and the plan between them.  SG_ENOMEM or SG_OK. */
static int gw_plan(struct sg_gateway *gw, const struct sg_conf *nc, struct gw_plan *p)
{
	const struct sg_source_conf *scs = nc->sources.items;
	size_t n = sg_pipeline_count(gw->pl);
	bool oom = false;

	memset(p, 0, sizeof(*p));
	p->old = sg_xcalloc(n, sizeof(*p->old));
	p->nw = sg_xcalloc(nc->sources.n, sizeof(*p->nw));
	p->nsc = sg_xcalloc(nc->sources.n, sizeof(*p->nsc));
	p->steps = sg_xcalloc(n + nc->sources.n, sizeof(*p->steps));
	for (size_t i = 0; i < n; i++, p->nold++) {
		const struct sg_source_conf *sc = sg_pipeline_source_conf(gw->pl, i);
		p->old[i] =
		    (struct sg_reload_src){sc->name, sg_conf_source_fingerprint(gw->conf, sc)};
		oom |= !p->old[i].fingerprint;
	}
	for (size_t j = 0; j < nc->sources.n; j++) {
		if (!scs[j].enabled)
			continue;
		p->nsc[p->nnew] = &scs[j];
		p->nw[p->nnew] =
		    (struct sg_reload_src){scs[j].name, sg_conf_source_fingerprint(nc, &scs[j])};
		oom |= !p->nw[p->nnew++].fingerprint;
	}
	if (oom)
		return SG_ENOMEM;
	p->nsteps = sg_reload_plan(p->old, p->nold, p->nw, p->nnew, p->steps);
	return SG_OK;
}

/* Carry out the source steps; returns how many failed (logged). */
static int gw_apply_sources(struct sg_gateway *gw, const struct sg_conf *nc,
			    const struct gw_plan *p, int counts[4])
{
	int failed = 0;

	for (size_t k = 0; k < p->nsteps; k++) {
		const struct sg_reload_step *st = &p->steps[k];
		struct sg_errbuf eb = {{0}};
		int rc = SG_OK;

		counts[st->action]++;
		switch (st->action) {
		case SG_RELOAD_KEEP: break;
		case SG_RELOAD_REMOVE:
			sg_info("main", "reload: stopping source %s (removed)",
				p->old[st->old_i].name);
			rc = sg_pipeline_remove(gw->pl, p->old[st->old_i].name);
			break;
		case SG_RELOAD_RESTART:
			sg_info("main", "reload: restarting source %s (changed)",
				p->nw[st->new_i].name);
			rc = sg_pipeline_replace(gw->pl, nc, p->nsc[st->new_i], &eb);
			break;
		case SG_RELOAD_ADD:
			sg_info("main", "reload: starting source %s (new)", p->nw[st->new_i].name);
			rc = sg_pipeline_add(gw->pl, nc, p->nsc[st->new_i], &eb);
			break;
		}
		if (rc != SG_OK) {
			sg_error("main", "reload: %s", eb.msg[0] ? eb.msg : sg_strerror(rc));
			failed++;
		}
	}
	return failed;
}

int sg_gateway_reload(struct sg_gateway *gw, struct sg_conf *nc, struct sg_errbuf *eb)
{
	char *a = gw_dump(gw->conf), *b = gw_dump(nc), what[160];
	int counts[4] = {0}, failed, rc = SG_OK;
	struct sg_conf **keep;
	struct gw_plan plan;
	bool act_changed;

	if (!a || !b) {
		rc = sg_errf(eb, SG_ENOMEM, "reload: out of memory");
		goto out;
	}
	if (sg_reload_restart_only(a, b, what, sizeof(what))) {
		sg_warn("main",
			"reload: %s changed, which takes effect only after a restart; nothing was "
			"applied, the running configuration stays",
			what);
		rc = sg_errf(eb, SG_EAGAIN, "%s changed: restart to apply", what);
		goto out;
	}
	if (!strcmp(a, b)) {
		sg_info("main", "reload: the configuration has not changed");
		goto out;
	}
	if (gw_plan(gw, nc, &plan) != SG_OK) {
		gw_plan_free(&plan);
		rc = sg_errf(eb, SG_ENOMEM, "reload: out of memory");
		goto out;
	}
	/* From here on nc is the running configuration. */
	keep = realloc(gw->old_confs, (gw->nold_confs + 1) * sizeof(*keep));
	if (!keep) {
		gw_plan_free(&plan);
		rc = sg_errf(eb, SG_ENOMEM, "reload: out of memory");
		goto out;
	}
	gw->old_confs = keep;
	gw->old_confs[gw->nold_confs++] = gw->conf;
	gw->conf = nc;
	nc = NULL;
	gw_apply_log(gw->conf);
	act_changed = !gw_section_equal(a, b, "actuators");
	if (act_changed) {
		sg_actuator_stop(gw->act);
		gw->act = NULL;
	}
	failed = gw_apply_sources(gw, gw->conf, &plan, counts);
	gw_plan_free(&plan);
	if (act_changed &&
	    sg_actuator_start(gw->conf, gw->bootstrap, gw->pl, &gw->act, eb) != SG_OK) {
		sg_error("main", "reload: actuators: %s", eb->msg);
		failed++;
	}
	/* The view counts sources and reads the intervals: a new one. */
	sg_view_free(gw->view);
	gw->view = sg_view_new(gw->conf, gw->pl, gw->sp, gw->bootstrap);
	sg_info("main",
		"reload applied: %d source(s) added, %d removed, %d restarted, %d unchanged%s",
		counts[SG_RELOAD_ADD], counts[SG_RELOAD_REMOVE], counts[SG_RELOAD_RESTART],
		counts[SG_RELOAD_KEEP], failed ? "; see the errors above" : "");
	if (failed)
		rc = sg_errf(eb, SG_ERR, "reload: %d step(s) failed (logged)", failed);
out:
	free(a);
	free(b);
	if (nc) {
		sg_conf_free(nc);
		free(nc);
	}
	return rc;
}

/* --- close ------------------------------------------------------------- */

void sg_gateway_close(struct sg_gateway *gw)
{
	if (!gw)
		return;
	if (atomic_exchange(&gw->phase, GW_STOPPING) == GW_RUNNING)
		sd_notify(0, "STOPPING=1\nSTATUS=stopping: delivering what is in flight");
	sg_actuator_stop(gw->act); /* no more writes into the drivers */
	/* Sources learn they are stopping first, then the spool wakes any
	 * that are blocked on it (when_full: block), then we wait for them. */
	if (gw->pl)
		sg_pipeline_signal_stop(gw->pl);
	if (gw->sp)
		sg_spool_shutdown(gw->sp);
	if (gw->pl)
		sg_pipeline_stop(gw->pl);
	if (gw->sp)
		sg_spool_sync(gw->sp);
	if (gw->prod)
		sg_producer_stop(gw->prod, gw->conf->gateway.shutdown_timeout_ms);
	/* The probes read the parts: stop answering before they are freed. */
	sg_http_stop(gw->http);
	sg_view_free(gw->view);
	sg_pipeline_free(gw->pl);
	sg_producer_free(gw->prod);
	sg_spool_close(gw->sp);
	sg_mock_stop(gw->mock);
	if (gw->ctlfd >= 0)
		close(gw->ctlfd);
	free(gw->bootstrap);
	sg_conf_free(gw->conf);
	free(gw->conf);
	for (size_t i = 0; i < gw->nold_confs; i++) {
		sg_conf_free(gw->old_confs[i]);
		free(gw->old_confs[i]);
	}
	free(gw->old_confs);
	free(gw);
}

const char *sg_gateway_bootstrap(const struct sg_gateway *gw)
{
	return gw->bootstrap;
}

bool sg_gateway_embedded(const struct sg_gateway *gw)
{
	return gw->mock != NULL;
}

const struct sg_conf *sg_gateway_conf(const struct sg_gateway *gw)
{
	return gw->conf;
}
