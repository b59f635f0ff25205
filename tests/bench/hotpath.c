/*
 * hotpath.c - the event path's per-event functions in a loop, for
 * instruction counts under callgrind (tests/bench/hotpath.sh runs it):
 *
 *   hotpath render N    sim-like double readings (0..3 decimals, as the sim
 *                       driver rounds them): sg_event_encode once each, then
 *                       sg_record_decode + sg_record_render N times
 *   hotpath topic N     sg_event_encode of N readings that carry their own
 *                       topic (an MQTT rule with `topic:`)
 *   hotpath produce N   sg_send_produce of N rendered records into a
 *                       producer whose broker is never reached (the records
 *                       stay queued and are purged at the end)
 *   hotpath read N DIR  sg_spool_read of N encoded sim readings appended
 *                       to a fresh spool under DIR (default /tmp; left
 *                       there) with fsync never, in batches of 256 as a
 *                       source thread does
 *
 * Nothing here is timed: the figures are callgrind's instructions per
 * call of the toggled function, which are repeatable on a shared machine.
 */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway/core/event.h"
#include "gateway/kafka/producer_send.h"
#include "gateway/spool/spool.h"

#define NSENSORS 10

static const struct sg_event_ctx ec = {"bench", "sim", "bench.{source}"};

static void sim_reading(struct sg_reading *rd, const char *sensor, long i)
{
	/* What the sim driver produces: round(v * 1000) / 1000 of a sine or a
	 * random walk; here a deterministic walk over 0..3 decimals. */
	long milli = (i * 7919) % 200000 - 50000;

	*rd = (struct sg_reading){.sensor = sensor,
				  .ts_ns = 1700000000000000000LL + i * 1000000LL,
				  .value = {.type = SG_VAL_DOUBLE, .d = (double)milli / 1000},
				  .unit = "degC"};
}

static int encode_all(long n, struct sg_buf *out, size_t *offs)
{
	static const char *const sensors[NSENSORS] = {"s0", "s1", "s2", "s3", "s4",
						      "s5", "s6", "s7", "s8", "s9"};
	struct sg_reading rd;

	for (long i = 0; i < n; i++) {
		offs[i] = out->len;
		sim_reading(&rd, sensors[i % NSENSORS], i);
		if (sg_event_encode(&ec, &rd, out) != SG_OK)
			return -1;
	}
	offs[n] = out->len;
	return 0;
}

static int run_render(long n, rd_kafka_t *rk)
{
	static struct sg_send_topics topics; /* as the producer keeps them */
	struct sg_buf pay, scratch;
	size_t *offs = calloc((size_t)n + 1, sizeof(*offs));
	struct sg_record r;
	size_t total = 0;
	int rc = 0;

	sg_buf_init(&pay);
	sg_buf_init(&scratch);
	if (!offs || encode_all(n, &pay, offs))
		rc = -1;
	for (long i = 0; !rc && i < n; i++) {
		if (sg_record_decode(pay.p + offs[i], offs[i + 1] - offs[i], &r) != SG_OK ||
		    sg_record_render(&r, (uint64_t)i + 1, &scratch) != SG_OK) {
			rc = -1;
			break;
		}
		total += r.value_len;
		if (rk && sg_send_produce(rk, &topics, &r, NULL) != RD_KAFKA_RESP_ERR_NO_ERROR) {
			fprintf(stderr, "hotpath: produce failed at %ld\n", i);
			rc = -1;
		}
	}
	printf("%ld records, %zu bytes of JSON\n", n, total);
	sg_send_topics_clear(&topics);
	sg_buf_free(&pay);
	sg_buf_free(&scratch);
	free(offs);
	return rc;
}

static int run_topic(long n)
{
	struct sg_buf out;
	struct sg_reading rd;

	sg_buf_init(&out);
	for (long i = 0; i < n; i++) {
		sim_reading(&rd, "dev-1", i);
		rd.topic = "zigbee.readings";
		sg_buf_reset(&out);
		if (sg_event_encode(&ec, &rd, &out) != SG_OK) {
			sg_buf_free(&out);
			return -1;
		}
	}
	printf("%ld readings encoded, %zu bytes each\n", n, out.len);
	sg_buf_free(&out);
	return 0;
}

static int run_read(long n, const char *base)
{
	char dir[512];
	struct sg_spool_conf c = {.fsync_ms = SG_FSYNC_NEVER,
				  .max_bytes = 1LL << 30,
				  .segment_bytes = 16 << 20,
				  .when_full = SG_FULL_BLOCK,
				  .ack_interval_ms = 200,
				  .max_record_bytes = 1 << 20};
	struct sg_buf pay, batch, rec;
	size_t *offs = calloc((size_t)n + 1, sizeof(*offs));
	struct sg_spool *sp = NULL;
	struct sg_errbuf eb;
	uint64_t seq, first;
	long got = 0;
	int rc = -1;

	snprintf(dir, sizeof(dir), "%s/hotpath-spool.%d", base, (int)getpid());
	c.dir = dir;
	sg_buf_init(&pay);
	sg_buf_init(&batch);
	sg_buf_init(&rec);
	if (!offs || encode_all(n, &pay, offs) || sg_spool_open(&c, &sp, &eb) != SG_OK)
		goto out;
	for (long i = 0; i < n; i += 256) {
		long k = n - i < 256 ? n - i : 256;

		sg_buf_reset(&batch);
		for (long j = i; j < i + k; j++) {
			size_t at = sg_spool_batch_open(&batch);

			sg_buf_add(&batch, pay.p + offs[j], offs[j + 1] - offs[j]);
			sg_spool_batch_close(&batch, at);
		}
		if (sg_spool_append_batch(sp, batch.p, batch.len, (size_t)k, &first) != SG_OK)
			goto out;
	}
	while (got < n && sg_spool_read(sp, &seq, &rec) == SG_OK)
		got++;
	printf("%ld records read\n", got);
	rc = got == n ? 0 : -1;
out:
	if (sp)
		sg_spool_close(sp);
	if (rc)
		fprintf(stderr, "hotpath: spool in %s failed\n", dir);
	sg_buf_free(&pay);
	sg_buf_free(&batch);
	sg_buf_free(&rec);
	free(offs);
	return rc;
}

static rd_kafka_t *queue_only_producer(long n)
{
	char err[256], q[32];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *rk;

	snprintf(q, sizeof(q), "%ld", n + 10);
	if (rd_kafka_conf_set(conf, "bootstrap.servers", "127.0.0.1:1", err, sizeof(err)) ||
	    rd_kafka_conf_set(conf, "queue.buffering.max.messages", q, err, sizeof(err)) ||
	    rd_kafka_conf_set(conf, "queue.buffering.max.kbytes", "2097151", err, sizeof(err)) ||
	    rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err))) {
		fprintf(stderr, "hotpath: %s\n", err);
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	if (!rk)
		fprintf(stderr, "hotpath: %s\n", err);
	return rk;
}

int main(int argc, char **argv)
{
	long n = argc > 2 ? atol(argv[2]) : 20000;
	rd_kafka_t *rk;
	int rc;

	if (argc < 2 || n <= 0) {
		fprintf(stderr, "usage: hotpath render|topic|produce|read [N [DIR]]\n");
		return 2;
	}
	if (!strcmp(argv[1], "render"))
		return run_render(n, NULL) ? 1 : 0;
	if (!strcmp(argv[1], "topic"))
		return run_topic(n) ? 1 : 0;
	if (!strcmp(argv[1], "read"))
		return run_read(n, argc > 3 ? argv[3] : "/tmp") ? 1 : 0;
	if (!strcmp(argv[1], "produce")) {
		rk = queue_only_producer(n);
		if (!rk)
			return 1;
		rc = run_render(n, rk);
		rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
		rd_kafka_poll(rk, 0);
		rd_kafka_destroy(rk);
		return rc ? 1 : 0;
	}
	fprintf(stderr, "hotpath: unknown case %s\n", argv[1]);
	return 2;
}
