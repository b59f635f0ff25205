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
	struct sg_conf *conf; /* owned; borrowed by every part below */
	const char *file;     /* re-read on a reload request */
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
	struct sg_counter *m_up;
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
	gw->m_up = sg_metric("up_seconds", "", true);
}

/* A gauge's value, or `missing` when nothing registered it. */
static uint64_t gw_gauge(const char *name, uint64_t missing)
{
	return sg_metric_exists(name, NULL) ? sg_metrics_sum(name, NULL) : missing;
}

/* The probes' view of the gateway, from atomics only (HTTP thread). */
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
	    .stopping = phase != GW_RUNNING,
	};
	loops[in->nloops++] = (struct sg_health_loop){"main", atomic_load(&gw->beat_main), false};
}

static bool gw_probe_health(void *arg, struct sg_buf *json)
{
	struct sg_health_loop loops[4];
	struct sg_health_input in;

	gw_health_input(arg, &in, loops);
	return sg_health_live(&in, json);
}

static bool gw_probe_ready(void *arg, struct sg_buf *json)
{
	struct sg_gateway *gw = arg;
	struct sg_health_loop loops[4];
	struct sg_health_input in;

	if (atomic_load(&gw->phase) == GW_STARTING) {
		sg_buf_adds(json,
			    "{\"checks\":[{\"name\":\"running\",\"ok\":false,\"detail\":"
			    "\"starting: spool recovery and sources\"}],\"status\":\"fail\"}\n");
		return false;
	}
	gw_health_input(gw, &in, loops);
	return sg_health_ready(&in, json);
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
	struct sg_health_loop loops[4];
	struct sg_health_input in;
	struct sg_buf json;
	bool live;

	sg_gauge_set(gw->m_up, (uint64_t)((now - gw->start_ns) / SG_NS_PER_S));
	if (!gw->watchdog_usec || now < gw->next_watchdog)
		return;
	gw->next_watchdog = now + (int64_t)gw->watchdog_usec * 1000 / 2;
	sg_buf_init(&json);
	gw_health_input(gw, &in, loops);
	live = sg_health_live(&in, &json);
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
		int64_t ms = (next - sg_now_mono_ns()) / SG_NS_PER_MS;
		unsigned req;
		uint64_t cnt;

		if (ms > GW_POLL_MAX_MS)
			ms = GW_POLL_MAX_MS;
		if (ms < 0)
			ms = 0;
		if (poll(&pfd, 1, (int)ms) > 0 && read(gw->ctlfd, &cnt, sizeof(cnt)) < 0 &&
		    errno != EAGAIN)
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

/* The effective configuration as YAML text (secrets masked). */
static char *gw_dump(const struct sg_conf *c)
{
	char *text = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&text, &len);

	if (!fp)
		return NULL;
	sg_cfg_dump(&sg_conf_table, c, 0, fp);
	fclose(fp);
	return text;
}

/* The top-level section starting at *p ("name:" at column 0 up to the
 * next such line); advances *p. */
static size_t gw_section(const char **p, const char **name, size_t *name_len)
{
	const char *s = *p, *e = s;

	*name = s;
	*name_len = strcspn(s, ":\n");
	do {
		e = strchr(e, '\n');
		e = e ? e + 1 : s + strlen(s);
	} while (*e == ' ' || *e == '-');
	*p = e;
	return (size_t)(e - s);
}

/* The key of the first line where sections a and b (la, lb bytes)
 * differ, as "name" (indentation and list dashes removed). */
static void gw_first_diff(const char *a, size_t la, const char *b, size_t lb, char *out, size_t n)
{
	size_t i = 0, start = 0;

	while (i < la && i < lb && a[i] == b[i])
		if (a[i++] == '\n')
			start = i;
	a += start;
	la -= start;
	while (la && (*a == ' ' || *a == '-')) {
		a++;
		la--;
	}
	snprintf(out, n, "%.*s", (int)strcspn(a, ":\n"), a);
}

/* Log every top-level section whose effective values differ, naming the
 * first key that differs; returns how many sections differ. */
static int gw_diff(const char *a, const char *b)
{
	int ndiff = 0;

	while (*a || *b) {
		const char *na = a, *nb = b;
		size_t nla, nlb, la = gw_section(&a, &na, &nla), lb = gw_section(&b, &nb, &nlb);
		char key[128];

		if (la == lb && !memcmp(na, nb, la))
			continue;
		gw_first_diff(na, la, nb, lb, key, sizeof(key));
		sg_warn("main", "reload: %.*s.%s changed; it takes effect after a restart",
			(int)(la ? nla : nlb), la ? na : nb, key);
		ndiff++;
	}
	return ndiff;
}

int sg_gateway_reload(struct sg_gateway *gw, struct sg_conf *nc, struct sg_errbuf *eb)
{
	struct sg_conf *c = gw->conf;
	bool live_changed =
	    c->gateway.log_level != nc->gateway.log_level || c->log.format != nc->log.format;
	int ndiff = -1;
	char *a, *b;

	/* Live keys first, then compare everything else with them equal. */
	c->gateway.log_level = nc->gateway.log_level;
	c->log.format = nc->log.format;
	a = gw_dump(c);
	b = gw_dump(nc);
	if (a && b)
		ndiff = gw_diff(a, b);
	free(a);
	free(b);
	sg_conf_free(nc);
	free(nc);
	if (live_changed) {
		gw_apply_log(c);
		sg_info("main", "reload: gateway.log_level and log.format applied");
	}
	if (ndiff < 0)
		return sg_errf(eb, SG_ENOMEM, "reload: out of memory");
	if (!ndiff && !live_changed)
		sg_info("main", "reload: the configuration has not changed");
	if (ndiff)
		return sg_errf(eb, SG_EAGAIN, "%d section(s) changed that need a restart", ndiff);
	return SG_OK;
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
