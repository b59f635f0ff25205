/*
 * view.c - the live view and the status line.  Rates are differences of
 * the counters in the metrics registry between two ticks.  The tail is a
 * consumer in a throw-away group reading the gateway's topics from the
 * end, so what it shows has really made the round trip through Kafka.
 */
#include "view.h"

#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway/kafka/client.h"
#include "gateway/base/log.h"
#include "gateway/core/metrics.h"
#include "gateway/base/buf.h"
#include "gateway/base/clock.h"
#include "gateway/base/mem.h"

#define TAIL_MAX 50

struct sg_view {
	const struct sg_conf *conf;
	struct sg_pipeline *pl;
	struct sg_spool *sp;
	bool live;
	const char *bootstrap;
	int64_t interval_ms, last_ns, start_ns;
	uint64_t *last_read;
	uint64_t last_delivered;
	rd_kafka_t *tail;
	/* The tail consumer's last error (a missing ACL, a broker away),
	 * shown where its records would be; noted and cleared on the view's
	 * thread: its error_cb is served by rd_kafka_consumer_poll(). */
	struct sg_kafka_errlog tail_err;
	char *lines[TAIL_MAX];
	int nlines, next_line;
	uint64_t tail_count;
	struct sg_hist_snap *lat_prev, *lat_now; /* latency quantiles per interval */
};

/* "^sensorgate\..*" from the template "sensorgate.{source}". */
static void view_topic_regex(const char *tmpl, char *out, size_t n)
{
	size_t o = 0;

	out[o++] = '^';
	for (const char *p = tmpl; *p && o + 4 < n; p++) {
		if (*p == '{') {
			const char *e = strchr(p, '}');
			if (e) {
				out[o++] = '.';
				out[o++] = '*';
				p = e;
				continue;
			}
		}
		if (strchr(".[]()*+?^$|\\", *p))
			out[o++] = '\\';
		out[o++] = *p;
	}
	out[o++] = '$';
	out[o] = '\0';
}

static void view_tail_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	struct sg_view *v = opaque;

	sg_kafka_error_note(&v->tail_err, rk, err, reason);
}

static rd_kafka_t *view_tail_new(struct sg_view *v, const struct sg_conf *c, const char *bootstrap)
{
	char group[96], cid[160], (*rx)[300] = sg_xcalloc(1 + c->sources.n, sizeof(*rx));
	const char **topics = sg_xcalloc(1 + c->sources.n, sizeof(*topics));
	const struct sg_source_conf *scs = c->sources.items;
	/* A throw-away group reading from the end; quiet, the view owns
	 * the terminal. */
	const struct sg_kafka_opts o = {
	    .kind = SG_KAFKA_CONSUMER,
	    .who = "live view",
	    .bootstrap = bootstrap,
	    .client_id = cid,
	    .props = &c->kafka.properties,
	    .security = &c->kafka.security,
	    .group = group,
	    .metadata_refresh_ms = 1000,
	    .quiet = true,
	    .error_cb = view_tail_error_cb,
	    .opaque = v,
	};
	struct sg_errbuf eb;
	size_t n = 0;
	rd_kafka_t *rk = NULL;

	snprintf(group, sizeof(group), "sensorgate-view-%s-%d", c->gateway.id, (int)getpid());
	snprintf(cid, sizeof(cid), "sensorgate-%s-view", c->gateway.id);
	view_topic_regex(c->kafka.topic, rx[n], sizeof(rx[n]));
	topics[n] = rx[n];
	n++;
	for (size_t i = 0; i < c->sources.n; i++)
		if (scs[i].topic) {
			view_topic_regex(scs[i].topic, rx[n], sizeof(rx[n]));
			topics[n] = rx[n];
			n++;
		}
	if (sg_kafka_new(&o, &rk, &eb) != SG_OK) {
		sg_warn("view", "tail consumer: %s", eb.msg);
	} else if (sg_kafka_subscribe(rk, topics, n, &eb) != SG_OK) {
		sg_warn("view", "tail consumer: %s", eb.msg);
		rd_kafka_destroy(rk);
		rk = NULL;
	}
	free(topics);
	free(rx);
	return rk;
}

struct sg_view *sg_view_new(const struct sg_conf *conf, struct sg_pipeline *pl, struct sg_spool *sp,
			    const char *bootstrap)
{
	struct sg_view *v = sg_xcalloc(1, sizeof(*v));

	v->conf = conf;
	v->pl = pl;
	v->sp = sp;
	v->bootstrap = bootstrap ? bootstrap : conf->kafka.bootstrap;
	v->live = conf->view.mode == 1 || (conf->view.mode == 0 && isatty(1));
	v->interval_ms = v->live ? conf->view.interval_ms : conf->gateway.status_interval_ms;
	v->last_read = sg_xcalloc(sg_pipeline_count(pl) + 1, sizeof(uint64_t));
	/* Rates are differences from here: the sources may have read already
	 * (they start before the view), and the first tick comes one
	 * interval later, never after a few microseconds. */
	for (size_t i = 0; i < sg_pipeline_count(pl); i++)
		v->last_read[i] = sg_pipeline_source_read(pl, i);
	v->last_read[sg_pipeline_count(pl)] = sg_metrics_sum("events_read", NULL);
	v->last_delivered = sg_metrics_sum("delivered", NULL);
	v->lat_prev = sg_xcalloc(1, sizeof(*v->lat_prev));
	v->lat_now = sg_xcalloc(1, sizeof(*v->lat_now));
	sg_hist_snapshot(&sg_delivery_latency, v->lat_prev);
	v->start_ns = v->last_ns = sg_now_mono_ns();
	if (v->live && conf->view.tail > 0 && bootstrap)
		v->tail = view_tail_new(v, conf, bootstrap);
	return v;
}

int64_t sg_view_interval_ms(const struct sg_view *v)
{
	return v->interval_ms;
}

/* The text of a top-level field of an envelope (no full JSON parse:
 * the envelope is ours and flat), quotes removed, "" if absent. */
static void view_field(const void *p, size_t n, const char *name, char *out, size_t outsz)
{
	char pat[32];
	const char *s = p, *f, *end = s + n;
	size_t o = 0;

	out[0] = '\0';
	snprintf(pat, sizeof(pat), "\"%s\":", name);
	f = memmem(s, n, pat, strlen(pat));
	if (!f)
		return;
	f += strlen(pat);
	if (f < end && *f == '"')
		f++;
	while (f < end && *f != '"' && *f != ',' && *f != '}' && o + 1 < outsz)
		out[o++] = *f++;
	out[o] = '\0';
}

bool sg_view_needs_poll(const struct sg_view *v)
{
	return v && v->tail;
}

void sg_view_poll(struct sg_view *v)
{
	rd_kafka_message_t *m;

	if (!v->tail)
		return;
	while ((m = rd_kafka_consumer_poll(v->tail, 0))) {
		if (m->err && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
			sg_kafka_error_note(&v->tail_err, v->tail, m->err,
					    rd_kafka_message_errstr(m));
		if (!m->err) {
			char *line = NULL, id[64], val[48], unit[24], tm[40];

			sg_kafka_error_clear(&v->tail_err);
			view_field(m->payload, m->len, "id", id, sizeof(id));
			view_field(m->payload, m->len, "value", val, sizeof(val));
			view_field(m->payload, m->len, "unit", unit, sizeof(unit));
			view_field(m->payload, m->len, "time", tm, sizeof(tm));
			if (asprintf(&line,
				     "%-22s p%-2d @%-7" PRId64 " %-16.*s %-14s %-12s %-6s %s",
				     rd_kafka_topic_name(m->rkt), (int)m->partition, m->offset,
				     (int)m->key_len, (const char *)m->key, id, val, unit,
				     strlen(tm) > 11 ? tm + 11 : tm) > 0) {
				free(v->lines[v->next_line]);
				v->lines[v->next_line] = line;
				v->next_line = (v->next_line + 1) % (int)v->conf->view.tail;
				if (v->nlines < v->conf->view.tail)
					v->nlines++;
				v->tail_count++;
			}
		}
		rd_kafka_message_destroy(m);
	}
}

static void view_live(struct sg_view *v, double dt, const struct sg_spool_stats *st,
		      uint64_t delivered)
{
	size_t n = sg_pipeline_count(v->pl);

	printf("\033[H\033[2J");
	printf("sensorgate %s  gateway %s  kafka %s  up %llds   (Ctrl-C to stop)\n\n", SG_VERSION,
	       v->conf->gateway.id, v->bootstrap,
	       (long long)((sg_now_mono_ns() - v->start_ns) / SG_NS_PER_S));
	printf("%-24s %12s %14s\n", "source", "events/s", "events read");
	for (size_t i = 0; i < n; i++) {
		uint64_t r = sg_pipeline_source_read(v->pl, i);
		printf("%-24s %12.1f %14" PRIu64 "\n", sg_pipeline_source_name(v->pl, i),
		       (double)(r - v->last_read[i]) / dt, r);
		v->last_read[i] = r;
	}
	printf("\nspool     %8" PRIu64 " records  %10.1f KiB  %3" PRIu64
	       " segments  next seq %" PRIu64 "\n",
	       st->pending, (double)st->bytes / 1024, st->segments, st->next_seq);
	printf("kafka     %8" PRIu64 " delivered (%.1f/s)  %" PRIu64
	       " in flight  oldest undelivered %" PRIu64 " ms\n",
	       delivered, (double)(delivered - v->last_delivered) / dt,
	       sg_metrics_sum("in_flight", NULL),
	       sg_metrics_sum("oldest_undelivered_age_ms", NULL));
	printf("latency   reading -> Kafka ack (last interval)  p50 %.1f ms  p99 %.1f ms  p999 "
	       "%.1f ms\n",
	       (double)sg_hist_quantile(v->lat_now, v->lat_prev, 0.5) / 1000,
	       (double)sg_hist_quantile(v->lat_now, v->lat_prev, 0.99) / 1000,
	       (double)sg_hist_quantile(v->lat_now, v->lat_prev, 0.999) / 1000);
	printf("dropped   %8" PRIu64 "   errors %" PRIu64 "   retries %" PRIu64 "\n",
	       sg_metrics_sum("dropped", NULL), sg_metrics_sum("errors", NULL),
	       sg_metrics_sum("delivery_retries", NULL));
	if (v->tail) {
		printf("\nlatest records read back from Kafka by a consumer (%" PRIu64
		       " so far):\n",
		       v->tail_count);
		if (v->tail_err.failing)
			printf("  the consumer fails: %s: %s\n",
			       rd_kafka_err2name((rd_kafka_resp_err_t)v->tail_err.err),
			       v->tail_err.reason);
		printf("  %-22s %-3s %-8s %-16s %-14s %-12s %-6s %s\n", "topic", "p", "offset",
		       "key", "event id", "value", "unit", "time (UTC)");
		for (int i = 0; i < v->nlines; i++) {
			int k = (v->next_line - v->nlines + i + (int)v->conf->view.tail) %
				(int)v->conf->view.tail;
			printf("  %s\n", v->lines[k]);
		}
	}
	fflush(stdout);
}

void sg_view_tick(struct sg_view *v)
{
	struct sg_spool_stats st;
	int64_t now = sg_now_mono_ns();
	double dt = (double)(now - v->last_ns) / 1e9;
	uint64_t delivered = sg_metrics_sum("delivered", NULL);
	uint64_t read = sg_metrics_sum("events_read", NULL);

	if (dt <= 0)
		dt = 1e-3;
	sg_hist_snapshot(&sg_delivery_latency, v->lat_now);
	sg_spool_stats(v->sp, &st);
	if (v->live) {
		view_live(v, dt, &st, delivered);
	} else {
		uint64_t *lr = &v->last_read[sg_pipeline_count(v->pl)];
		sg_info("status",
			"read %.0f/s, delivered %.0f/s (total %" PRIu64 "), spool %" PRIu64
			" records / %" PRIu64 " bytes, in flight %" PRIu64 ", dropped %" PRIu64
			", errors %" PRIu64 ", latency p50 %.1f ms p99 %.1f ms p999 %.1f ms",
			(double)(read - *lr) / dt, (double)(delivered - v->last_delivered) / dt,
			delivered, st.pending, st.bytes, sg_metrics_sum("in_flight", NULL),
			sg_metrics_sum("dropped", NULL), sg_metrics_sum("errors", NULL),
			(double)sg_hist_quantile(v->lat_now, v->lat_prev, 0.5) / 1000,
			(double)sg_hist_quantile(v->lat_now, v->lat_prev, 0.99) / 1000,
			(double)sg_hist_quantile(v->lat_now, v->lat_prev, 0.999) / 1000);
		*lr = read;
	}
	{ /* this interval's snapshot is the next one's base */
		struct sg_hist_snap *t = v->lat_prev;
		v->lat_prev = v->lat_now;
		v->lat_now = t;
	}
	v->last_delivered = delivered;
	v->last_ns = now;
}

void sg_view_free(struct sg_view *v)
{
	if (!v)
		return;
	if (v->tail) {
		rd_kafka_consumer_close(v->tail);
		rd_kafka_destroy(v->tail);
	}
	for (int i = 0; i < TAIL_MAX; i++)
		free(v->lines[i]);
	free(v->last_read);
	free(v->lat_prev);
	free(v->lat_now);
	free(v);
}
