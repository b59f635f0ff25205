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
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "gateway/base/clock.h"
#include "gateway/base/log.h"
#include "gateway/base/mem.h"
#include "gateway/kafka/embedded.h"
#include "gateway/kafka/producer.h"
#include "gateway/sink/actuator.h"
#include "gateway/view/view.h"
#include "sources.h"

#define GW_REQ_STOP   0x1u
#define GW_REQ_RELOAD 0x2u

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
	sg_log_set_level((enum sg_log_level)conf->gateway.log_level);
	if ((rc = sg_producer_check_props(conf, eb)) != SG_OK)
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
	sg_info("main", "gateway %s running: %zu source(s), spool %s, kafka %s", conf->gateway.id,
		sg_pipeline_count(gw->pl), conf->spool.dir, gw->bootstrap);
	*out = gw;
	return SG_OK;
err:
	sg_gateway_close(gw);
	return rc;
}

/* --- requests and the loop ------------------------------------------- */

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
	int old_level = gw->conf->gateway.log_level, ndiff;
	char *a, *b;

	/* Live keys first, then compare everything else with them equal. */
	gw->conf->gateway.log_level = nc->gateway.log_level;
	a = gw_dump(gw->conf);
	b = gw_dump(nc);
	if (!a || !b) {
		gw->conf->gateway.log_level = old_level;
		free(a);
		free(b);
		sg_conf_free(nc);
		free(nc);
		return sg_errf(eb, SG_ENOMEM, "reload: out of memory");
	}
	ndiff = gw_diff(a, b);
	if (old_level != nc->gateway.log_level) {
		sg_log_set_level((enum sg_log_level)nc->gateway.log_level);
		sg_info("main", "reload: gateway.log_level applied");
	}
	if (!ndiff && old_level == nc->gateway.log_level)
		sg_info("main", "reload: the configuration has not changed");
	free(a);
	free(b);
	sg_conf_free(nc);
	free(nc);
	if (ndiff)
		return sg_errf(eb, SG_EAGAIN, "%d section(s) changed that need a restart", ndiff);
	return SG_OK;
}

/* --- close ------------------------------------------------------------- */

void sg_gateway_close(struct sg_gateway *gw)
{
	if (!gw)
		return;
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
