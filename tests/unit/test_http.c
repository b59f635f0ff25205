/*
 * test_http.c - the metrics exposition, the liveness and readiness rules,
 * and the HTTP endpoint itself on a real loopback socket (libevent's
 * evhttp): routes, methods, HEAD, a port in use, clients that never
 * finish their request, the connection limit and its accounting.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "gateway/base/clock.h"
#include "gateway/base/err.h"
#include "gateway/base/fs.h"
#include "gateway/core/health.h"
#include "gateway/core/metrics.h"
#include "gateway/http/routes.h"
#include "gateway/http/server.h"
#include "gateway/metrics/families.h"
#include "gateway/metrics/prometheus.h"
#include "t.h"

static char *render(bool om)
{
	struct sg_buf b;

	sg_buf_init(&b);
	sg_prom_render(&b, om);
	sg_buf_addc(&b, '\0');
	return b.p;
}

TEST(prometheus_names_types_and_values)
{
	char *t;

	sg_metrics_reset();
	sg_hist_reset(&sg_delivery_latency);
	sg_counter_add(sg_metric("events_read", "source=\"s1\"", false), 5);
	sg_counter_add(sg_metric("events_read", "source=\"s2\"", false), 7);
	sg_gauge_set(sg_metric("oldest_undelivered_age_ms", "", true), 1500);
	sg_counter_add(sg_metric("dropped", "reason=\"spool_full_newest\"", false), 2);
	sg_counter_add(sg_metric("not_in_the_table", "", false), 3);
	sg_hist_add(&sg_delivery_latency, 800);     /* 0.8 ms */
	sg_hist_add(&sg_delivery_latency, 40000);   /* 40 ms */
	sg_hist_add(&sg_delivery_latency, 4000000); /* 4 s */
	t = render(false);
	/* One HELP/TYPE per family, counters with _total, base units. */
	CHECK(strstr(t, "# TYPE sensorgate_events_read_total counter\n"
			"sensorgate_events_read_total{source=\"s1\"} 5\n"
			"sensorgate_events_read_total{source=\"s2\"} 7\n") != NULL);
	CHECK(strstr(t, "# TYPE sensorgate_spool_oldest_undelivered_age_seconds gauge\n"
			"sensorgate_spool_oldest_undelivered_age_seconds 1.5\n") != NULL);
	CHECK(strstr(t, "sensorgate_events_dropped_total{reason=\"spool_full_newest\"} 2\n") !=
	      NULL);
	/* Nothing is hidden: an unknown name is exposed untyped. */
	CHECK(
	    strstr(t,
		   "# TYPE sensorgate_not_in_the_table untyped\nsensorgate_not_in_the_table 3\n") !=
	    NULL);
	/* The histogram is cumulative, in seconds, and agrees with its count. */
	CHECK(strstr(t, "sensorgate_delivery_latency_seconds_bucket{le=\"0.001\"} 1\n") != NULL);
	CHECK(strstr(t, "sensorgate_delivery_latency_seconds_bucket{le=\"0.05\"} 2\n") != NULL);
	CHECK(strstr(t, "sensorgate_delivery_latency_seconds_bucket{le=\"2.5\"} 2\n") != NULL);
	CHECK(strstr(t, "sensorgate_delivery_latency_seconds_bucket{le=\"5\"} 3\n") != NULL);
	CHECK(strstr(t, "sensorgate_delivery_latency_seconds_bucket{le=\"+Inf\"} 3\n") != NULL);
	CHECK(strstr(t, "sensorgate_delivery_latency_seconds_sum 4.0408\n") != NULL);
	CHECK(strstr(t, "sensorgate_delivery_latency_seconds_count 3\n") != NULL);
	CHECK(strstr(t, "# EOF") == NULL);
	free(t);
	/* OpenMetrics: counter families without _total, samples with it, EOF. */
	t = render(true);
	CHECK(strstr(t, "# TYPE sensorgate_events_read counter\n"
			"sensorgate_events_read_total{source=\"s1\"} 5\n") != NULL);
	CHECK(strstr(t, "# TYPE sensorgate_not_in_the_table unknown\n") != NULL);
	CHECK(strlen(t) > 6 && !strcmp(t + strlen(t) - 6, "# EOF\n"));
	free(t);
	CHECK(sg_prom_wants_openmetrics(
	    "application/openmetrics-text; version=1.0.0,text/plain;q=0.5"));
	CHECK(!sg_prom_wants_openmetrics("text/plain"));
	CHECK(!sg_prom_wants_openmetrics(""));
}

TEST(interval_quantiles_from_snapshots)
{
	struct sg_hist_snap *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));

	sg_hist_reset(&sg_delivery_latency);
	for (int i = 0; i < 100; i++)
		sg_hist_add(&sg_delivery_latency, 1000); /* 1 ms */
	sg_hist_snapshot(&sg_delivery_latency, a);
	for (int i = 0; i < 100; i++)
		sg_hist_add(&sg_delivery_latency, 100000); /* 100 ms */
	sg_hist_snapshot(&sg_delivery_latency, b);
	/* Since the start: half and half; the last interval: only 100 ms. */
	CHECK(sg_hist_quantile(b, NULL, 0.25) < 1200);
	CHECK(sg_hist_quantile(b, NULL, 0.75) > 90000);
	CHECK(sg_hist_quantile(b, a, 0.01) > 90000);
	CHECK(sg_hist_quantile(b, a, 0.01) < 110000);
	CHECK_EQ(sg_hist_quantile(a, a, 0.5), 0); /* nothing in between */
	free(a);
	free(b);
}

TEST(every_family_documented)
{
	for (size_t i = 0; i < sg_metric_nfamilies; i++) {
		const struct sg_metric_family *f = &sg_metric_families[i];
		CHECK(!strncmp(f->exposed, "sensorgate_", 11));
		CHECK(f->help && strlen(f->help) > 10);
		/* Prometheus conventions: no _total in the family, base units. */
		CHECK(!strstr(f->exposed, "_total"));
		CHECK(!strstr(f->exposed, "_ms") && !strstr(f->exposed, "_us"));
		CHECK(sg_metric_family_find(f->name) == f);
	}
}

/* docs/metrics.md is generated from the table: they must agree. */
TEST(metrics_doc_matches_table)
{
	char *buf = NULL, *doc = NULL;
	size_t len = 0, dlen = 0;
	FILE *mf = open_memstream(&buf, &len);
	const char *root = getenv("SG_SRCDIR") ? getenv("SG_SRCDIR") : ".";
	char path[600];

	sg_metric_families_doc(mf);
	fclose(mf);
	snprintf(path, sizeof(path), "%s/docs/metrics.md", root);
	if (sg_read_file(path, 1 << 22, &doc, &dlen) != SG_OK)
		t_fail(__FILE__, __LINE__, "cannot read %s", path);
	else if (dlen != len || memcmp(doc, buf, len))
		t_fail(__FILE__, __LINE__, "docs/metrics.md is out of date: run `make docs`");
	free(doc);
	free(buf);
}

static struct sg_health_loop loops[3];
static struct sg_health_source srcs[2];

static struct sg_health_input healthy(void)
{
	int64_t now = 1000 * SG_NS_PER_S;

	loops[0] = (struct sg_health_loop){"main", now - SG_NS_PER_MS, false};
	loops[1] = (struct sg_health_loop){"producer", now - 2 * SG_NS_PER_MS, false};
	loops[2] = (struct sg_health_loop){"s1", now - 3 * SG_NS_PER_MS, false};
	srcs[0] = (struct sg_health_source){"s1", true, 0};
	srcs[1] = (struct sg_health_source){"s2", true, 0};
	return (struct sg_health_input){.now_ns = now,
					.stall_ns = 30 * SG_NS_PER_S,
					.grace_ns = 30 * SG_NS_PER_S,
					.loops = loops,
					.nloops = 3,
					.sources = srcs,
					.nsources = 2,
					.spool_bytes = 100,
					.spool_max_bytes = 1000,
					.high_water_pct = 90,
					.oldest_age_ns = SG_NS_PER_S,
					.max_age_ns = 60 * SG_NS_PER_S,
					.delivery_stall_ns = 300 * SG_NS_PER_S,
					.brokers_up = 1};
}

static bool ready(const struct sg_health_input *in, const char *want)
{
	struct sg_buf b;
	bool ok;

	sg_buf_init(&b);
	ok = sg_health_ready(in, &b);
	sg_buf_addc(&b, '\0');
	if (want && !strstr(b.p, want))
		t_fail(__FILE__, __LINE__, "ready body %s lacks %s", b.p, want);
	sg_buf_free(&b);
	return ok;
}

static bool live(const struct sg_health_input *in)
{
	struct sg_buf b;
	bool ok;

	sg_buf_init(&b);
	ok = sg_health_live(in, &b);
	sg_buf_free(&b);
	return ok;
}

TEST(health_and_readiness_rules)
{
	struct sg_health_input in = healthy();

	CHECK(live(&in));
	CHECK(ready(&in, "\"status\":\"ok\""));
	/* A stalled producer: neither live nor ready; a waiting source is live. */
	loops[1].beat_ns = in.now_ns - 31 * SG_NS_PER_S;
	CHECK(!live(&in));
	CHECK(!ready(&in, "\"name\":\"loop:producer\",\"ok\":false"));
	/* A loop about to wait says when it is due back: not "-7519 ms ago". */
	loops[1].beat_ns = in.now_ns + 7519 * SG_NS_PER_MS;
	CHECK(live(&in));
	CHECK(ready(&in, "\"name\":\"loop:producer\",\"ok\":true,\"detail\":\"next pass due in "
			 "7519 ms (bound 30000 ms)\""));
	loops[1].beat_ns = in.now_ns;
	loops[2].beat_ns = in.now_ns - 3600 * SG_NS_PER_S;
	loops[2].waiting = true;
	CHECK(live(&in));
	/* Records in flight without an acknowledgement for too long: the
	 * producer is wedged, not alive (the watchdog restarts the unit). */
	in.oldest_age_ns = 301 * SG_NS_PER_S;
	CHECK(!live(&in));
	/* Spool over its high-water mark: live but not ready. */
	in = healthy();
	in.spool_bytes = 901;
	CHECK(live(&in));
	CHECK(!ready(&in, "\"name\":\"spool\",\"ok\":false"));
	/* Kafka: no broker, or deliveries waiting too long. */
	in = healthy();
	in.brokers_up = 0;
	CHECK(!ready(&in, "\"name\":\"kafka:brokers\",\"ok\":false"));
	in.brokers_up = -1; /* not known yet: not held against it */
	CHECK(ready(&in, NULL));
	in.oldest_age_ns = 61 * SG_NS_PER_S;
	CHECK(!ready(&in, "\"name\":\"kafka:delivery\",\"ok\":false"));
	/* A source down inside its grace is retrying; past it, not ready. */
	in = healthy();
	srcs[1].up = false;
	srcs[1].down_since_ns = in.now_ns - 10 * SG_NS_PER_S;
	CHECK(ready(&in, "retrying"));
	srcs[1].down_since_ns = in.now_ns - 40 * SG_NS_PER_S;
	CHECK(!ready(&in, "\"name\":\"source:s2\",\"ok\":false"));
	/* Stopping: not ready (drain), still live. */
	in = healthy();
	in.stopping = true;
	CHECK(live(&in));
	CHECK(!ready(&in, "stopping"));
}

/* --- the server on a real socket -------------------------------------- */

static bool probe_result = true;

static bool probe(void *arg, struct sg_buf *json)
{
	(void)arg;
	sg_buf_adds(json, probe_result ? "{\"status\":\"ok\"}" : "{\"status\":\"fail\"}");
	return probe_result;
}

static struct sg_http_probes probes = {probe, probe, NULL};

/* A loopback connection to port, reads timing out after 5 s (a server
 * that never answers fails the test instead of hanging it); -1 if the
 * connect fails. */
static int connect_to(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	struct timeval tv = {.tv_sec = 5};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* One request; returns the whole response (caller frees). */
static char *request(int port, const char *req)
{
	int fd = connect_to(port);
	char *out = calloc(1, 1 << 20);
	size_t n = 0;
	ssize_t r;

	if (fd < 0)
		return out;
	if (write(fd, req, strlen(req)) < 0)
		t_fail(__FILE__, __LINE__, "write");
	while (n < (1 << 20) - 1 && (r = read(fd, out + n, (1 << 20) - 1 - n)) > 0)
		n += (size_t)r;
	close(fd);
	return out;
}

TEST(http_server_routes_and_methods)
{
	struct sg_http_opts o = {.address = "127.0.0.1",
				 .port = 0,
				 .max_connections = 4,
				 .timeout_s = 2,
				 .handler = sg_http_routes,
				 .arg = &probes};
	struct sg_http *h = NULL, *h2 = NULL;
	struct sg_errbuf eb = {{0}};
	char *r;
	int port;

	sg_metrics_reset();
	sg_counter_add(sg_metric("events_read", "source=\"s1\"", false), 42);
	CHECK_EQ(sg_http_start(&o, &h, &eb), SG_OK);
	if (!h)
		return;
	port = sg_http_port(h);
	CHECK(port > 0);
	r = request(port, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	CHECK(!strncmp(r, "HTTP/1.1 200", 12));
	CHECK(strstr(r, "text/plain; version=0.0.4") != NULL);
	CHECK(strstr(r, "sensorgate_events_read_total{source=\"s1\"} 42") != NULL);
	free(r);
	r = request(port, "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: "
			  "application/openmetrics-text\r\nConnection: close\r\n\r\n");
	CHECK(strstr(r, "application/openmetrics-text") != NULL && strstr(r, "# EOF") != NULL);
	free(r);
	r = request(port, "GET /ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	CHECK(!strncmp(r, "HTTP/1.1 200", 12) && strstr(r, "application/json") != NULL);
	free(r);
	probe_result = false;
	r = request(port, "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	CHECK(!strncmp(r, "HTTP/1.1 503", 12) && strstr(r, "\"fail\"") != NULL);
	free(r);
	probe_result = true;
	r = request(port, "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
			  "Connection: close\r\n\r\nabc");
	CHECK(!strncmp(r, "HTTP/1.1 405", 12) && strstr(r, "Allow: GET, HEAD") != NULL);
	free(r);
	r = request(port, "GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	CHECK(!strncmp(r, "HTTP/1.1 404", 12));
	free(r);
	r = request(port, "HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	CHECK(!strncmp(r, "HTTP/1.1 200", 12) && !strstr(r, "sensorgate_events_read_total"));
	free(r);
	r = request(port, "garbage\r\n\r\n");
	CHECK(!strncmp(r, "HTTP/1.1 400", 12) || r[0] == '\0');
	free(r);
	/* The same port again: a clear error naming the address. */
	o.port = port;
	CHECK_EQ(sg_http_start(&o, &h2, &eb), SG_EIO);
	CHECK(strstr(eb.msg, "127.0.0.1") != NULL && strstr(eb.msg, "in use") != NULL);
	o.address = "localhost"; /* names are not resolved */
	CHECK_EQ(sg_http_start(&o, &h2, &eb), SG_EINVAL);
	sg_http_stop(h);
}

TEST(http_slow_clients_do_not_block_scrapes)
{
	struct sg_http_opts o = {.address = "127.0.0.1",
				 .port = 0,
				 .max_connections = 8,
				 .timeout_s = 1,
				 .handler = sg_http_routes,
				 .arg = &probes};
	struct sg_http *h = NULL;
	struct sg_errbuf eb;
	int fds[4];
	char *r;

	CHECK_EQ(sg_http_start(&o, &h, &eb), SG_OK);
	if (!h)
		return;
	/* Four clients that send half a request and then nothing. */
	for (int i = 0; i < 4; i++) {
		CHECK((fds[i] = connect_to(sg_http_port(h))) >= 0);
		CHECK(write(fds[i], "GET /metr", 9) == 9);
	}
	r = request(sg_http_port(h),
		    "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	CHECK(!strncmp(r, "HTTP/1.1 200", 12));
	free(r);
	for (int i = 0; i < 4; i++)
		close(fds[i]);
	sg_http_stop(h);
}

/* Wait up to ms for the server to count n open connections. */
static bool open_becomes(const struct sg_http *h, unsigned n, int ms)
{
	for (int i = 0; i < ms / 10; i++) {
		if (sg_http_open_connections(h) == n)
			return true;
		usleep(10000);
	}
	return sg_http_open_connections(h) == n;
}

/* Whether fd has an answer (or EOF) within ms. */
static bool answered(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	return poll(&p, 1, ms) == 1;
}

TEST(http_connection_limit_queues_and_counts)
{
	static const char get[] = "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	struct sg_http_opts o = {.address = "127.0.0.1",
				 .port = 0,
				 .max_connections = 3,
				 .timeout_s = 1,
				 .handler = sg_http_routes,
				 .arg = &probes};
	struct sg_http *h = NULL;
	struct sg_errbuf eb;
	int idle[3], extra, port;
	char buf[256];
	ssize_t n;

	CHECK_EQ(sg_http_start(&o, &h, &eb), SG_OK);
	if (!h)
		return;
	port = sg_http_port(h);
	/* Three clients hold every slot and say nothing. */
	for (int i = 0; i < 3; i++)
		CHECK((idle[i] = connect_to(port)) >= 0);
	CHECK(open_becomes(h, 3, 2000));
	/* A fourth connects (the kernel queues it) but is not served... */
	extra = connect_to(port);
	CHECK(extra >= 0);
	CHECK(write(extra, get, sizeof(get) - 1) == (ssize_t)(sizeof(get) - 1));
	CHECK(!answered(extra, 300));
	CHECK_EQ(sg_http_open_connections(h), 3u);
	/* ...until one slot frees: then it is, in full. */
	close(idle[0]);
	CHECK(answered(extra, 2000));
	n = read(extra, buf, sizeof(buf) - 1);
	CHECK(n > 12 && !strncmp(buf, "HTTP/1.1 200", 12));
	close(extra);
	/* The idle ones are closed by the timeout, and the count with them. */
	CHECK(answered(idle[1], 3000) && answered(idle[2], 3000));
	CHECK(open_becomes(h, 0, 2000));
	close(idle[1]);
	close(idle[2]);
	/* Many short connections later the count is still exact. */
	for (int i = 0; i < 50; i++) {
		char *r = request(port, get);
		CHECK(!strncmp(r, "HTTP/1.1 200", 12));
		free(r);
	}
	CHECK(open_becomes(h, 0, 2000));
	sg_http_stop(h);
}
