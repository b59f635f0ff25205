/*
 * test_gateway.c - a whole gateway started in this process: simulated
 * sensors -> spool -> the embedded mock cluster, stopped by a request from
 * another thread; the spool directory's lock against a second gateway;
 * reload of live and restart-only keys; a restart that resumes the seq.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway/base/clock.h"
#include "gateway/base/log.h"
#include "gateway/base/mem.h"
#include "gateway/core/gateway.h"
#include "gateway/core/metrics.h"
#include "gateway/spool/spool.h"
#include "t.h"

#define GW_YAML                                                                                    \
	"gateway: {id: unit-gw, log_level: %s, shutdown_timeout: 5s}\n"                            \
	"spool: {dir: %s/spool, fsync: 10ms, max_bytes: 1MiB, segment_bytes: 64KiB, "              \
	"max_record_bytes: 4KiB}\n"                                                                \
	"kafka: {bootstrap: embedded, topic: \"unit.{source}\", embedded_brokers: 1, "             \
	"embedded_partitions: 1}\n"                                                                \
	"view: {mode: off}\n"                                                                      \
	"http: {port: 0}\n"                                                                        \
	"sources:\n"                                                                               \
	"  - name: s1\n"                                                                           \
	"    driver: sim\n"                                                                        \
	"    sensors:\n"                                                                           \
	"      - {id: c1, kind: counter, rate: 500}\n"

/* Write the config with log level `lvl` to DIR/gw.yaml; returns the path. */
static char tdir[256]; /* this test's directory */

static void fresh_dir(void)
{
	snprintf(tdir, sizeof(tdir), "%s", t_tmpdir());
}

static const char *write_conf(const char *lvl, const char *extra)
{
	static char path[512];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/gw.yaml", tdir);
	fp = fopen(path, "w");
	fprintf(fp, GW_YAML, lvl, tdir);
	if (extra)
		fputs(extra, fp);
	fclose(fp);
	return path;
}

static struct sg_conf *load(const char *path)
{
	struct sg_conf *c = sg_xcalloc(1, sizeof(*c));
	char *errors = NULL;

	if (sg_conf_load(path, c, &errors) != SG_OK) {
		fprintf(stderr, "%s", errors ? errors : "?");
		free(errors);
		sg_conf_free(c);
		free(c);
		return NULL;
	}
	return c;
}

struct stopper {
	struct sg_gateway *gw;
	uint64_t want; /* delivered events before the stop request */
	bool reached;
};

static void *stopper_main(void *arg)
{
	struct stopper *st = arg;
	int64_t deadline = sg_now_mono_ns() + 30 * SG_NS_PER_S;

	while (sg_now_mono_ns() < deadline) {
		if (sg_metrics_sum("delivered", NULL) >= st->want) {
			st->reached = true;
			break;
		}
		usleep(10000);
	}
	sg_gateway_request_stop(st->gw);
	return NULL;
}

/* Open, run until `want` events are delivered, stop and close; returns
 * the spool's stats after a reopen. */
static void run_once(const char *path, uint64_t want, struct sg_spool_stats *after)
{
	struct sg_gateway *gw = NULL;
	struct sg_errbuf eb = {{0}};
	struct sg_conf *c = load(path);
	struct stopper st = {0};
	struct sg_spool_conf sc;
	struct sg_spool *sp;
	char dir[512];
	pthread_t thr;

	CHECK(c != NULL);
	if (!c)
		return;
	sg_metrics_reset();
	CHECK_EQ(sg_gateway_open(c, &gw, &eb), SG_OK);
	if (!gw) {
		fprintf(stderr, "open: %s\n", eb.msg);
		return;
	}
	CHECK(sg_gateway_embedded(gw));
	CHECK(strchr(sg_gateway_bootstrap(gw), ':') != NULL);
	st.gw = gw;
	st.want = want;
	pthread_create(&thr, NULL, stopper_main, &st);
	CHECK_EQ(sg_gateway_run(gw), SG_OK);
	pthread_join(thr, NULL);
	CHECK(st.reached);
	sc = sg_gateway_conf(gw)->spool;
	snprintf(dir, sizeof(dir), "%s", sc.dir);
	sc.dir = dir;
	sg_gateway_close(gw);
	/* Every event read was spooled, and the spool agrees with the counters. */
	CHECK_EQ(sg_metrics_sum("events_read", NULL), sg_metrics_sum("events_spooled", NULL));
	CHECK(sg_metrics_sum("delivered", NULL) >= want);
	CHECK_EQ(sg_spool_open(&sc, &sp, &eb), SG_OK);
	sg_spool_stats(sp, after);
	sg_spool_close(sp);
}

TEST(gateway_in_process_delivers_and_resumes)
{
	const char *path;
	struct sg_spool_stats a, b;

	fresh_dir();
	path = write_conf("warn", NULL);
	run_once(path, 200, &a);
	/* Drained at close: everything spooled was delivered. */
	CHECK_EQ(a.acked_seq + 1, a.next_seq);
	CHECK(a.next_seq > 200);
	/* A second run on the same spool continues the seq, never reuses it. */
	run_once(path, 100, &b);
	CHECK(b.next_seq > a.next_seq + 100);
	CHECK_EQ(b.acked_seq + 1, b.next_seq);
}

TEST(gateway_spool_locked_by_another)
{
	const char *path;
	struct sg_gateway *g1 = NULL, *g2 = NULL;
	struct sg_errbuf eb = {{0}};

	fresh_dir();
	path = write_conf("error", NULL);
	CHECK_EQ(sg_gateway_open(load(path), &g1, &eb), SG_OK);
	CHECK(g1 != NULL);
	CHECK(sg_gateway_open(load(path), &g2, &eb) != SG_OK);
	CHECK(g2 == NULL);
	CHECK(strstr(eb.msg, "spool") != NULL);
	sg_gateway_close(g1);
}

TEST(gateway_refuses_reserved_kafka_property)
{
	struct sg_gateway *gw = NULL;
	struct sg_errbuf eb = {{0}};
	struct sg_conf *c;

	fresh_dir();
	c = load(write_conf("error", NULL));
	/* kafka.properties cannot weaken the delivery guarantees. */
	c->kafka.properties.kv = sg_xcalloc(1, sizeof(*c->kafka.properties.kv));
	c->kafka.properties.kv[0].key = sg_strdup("acks");
	c->kafka.properties.kv[0].val = sg_strdup("1");
	c->kafka.properties.n = 1;
	CHECK_EQ(sg_gateway_open(c, &gw, &eb), SG_ECONFIG);
	CHECK(gw == NULL);
	CHECK(strstr(eb.msg, "acks") != NULL);
}

TEST(gateway_reload)
{
	const char *path;
	struct sg_gateway *gw = NULL;
	struct sg_errbuf eb = {{0}};
	struct sg_conf *nc;

	fresh_dir();
	path = write_conf("warn", NULL);
	CHECK_EQ(sg_gateway_open(load(path), &gw, &eb), SG_OK);
	if (!gw)
		return;
	/* Nothing changed. */
	CHECK_EQ(sg_gateway_reload(gw, load(path), &eb), SG_OK);
	/* A live key is applied. */
	CHECK_EQ(sg_gateway_reload(gw, load(write_conf("error", NULL)), &eb), SG_OK);
	CHECK_EQ(sg_log_get_level(), SG_LOG_ERROR);
	CHECK_EQ(sg_gateway_conf(gw)->gateway.log_level, SG_LOG_ERROR);
	/* A restart-only key is refused and the running value kept. */
	nc = load(write_conf("error", NULL));
	nc->spool.max_bytes *= 2;
	CHECK_EQ(sg_gateway_reload(gw, nc, &eb), SG_EAGAIN);
	CHECK(strstr(eb.msg, "restart") != NULL);
	CHECK_EQ(sg_gateway_conf(gw)->spool.max_bytes, 1 << 20);
	sg_gateway_close(gw);
}
