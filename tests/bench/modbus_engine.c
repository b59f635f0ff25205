/*
 * modbus_engine.c - the cost of the Modbus poll engine itself (planning
 * order, decode, deadband, emit callback) per request, with a fake bus
 * that answers instantly and a fake clock, so nothing but our code is
 * measured.  Compare with the round trip of one real request (see
 * modbus_plain.c: ~30-50 us on loopback, milliseconds on a serial line).
 *
 *   make && cc -O2 -I. $(pkg-config --cflags libmodbus) -o build/modbus_engine \
 *      tests/bench/modbus_engine.c build/libsg.a \
 *      $(pkg-config --libs rdkafka libfyaml libmodbus libmosquitto libgpiod) -lpthread -lm
 *   build/modbus_engine [BLOCKS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "drivers/modbus/poll.h"

static int64_t bench_now_ns;
static long bench_reqs, bench_events;

static int bench_read(void *ctx, int unit, enum mb_area area, int addr, int n, uint16_t *regs,
		      uint8_t *bits)
{
	(void)ctx, (void)unit, (void)area, (void)bits;
	for (int i = 0; i < n; i++)
		regs[i] = (uint16_t)(addr + i + bench_reqs);
	bench_reqs++;
	bench_now_ns += 1000;
	return n;
}

static void bench_flush(void *ctx)
{
	(void)ctx;
}

static int bench_emit(void *arg, const struct sg_reading *rd)
{
	(void)arg, (void)rd;
	bench_events++;
	return 0;
}

static void bench_error(void *arg, const char *cls)
{
	(void)arg, (void)cls;
}
static int64_t bench_now(void *arg)
{
	(void)arg;
	return bench_now_ns;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 100;
	struct mb_point *pt = calloc((size_t)(n > 0 ? n : 1), sizeof(*pt));
	struct mb_device dev = {.name = "bench", .unit_id = 1};
	struct mb_poller p = {.who = "bench", .pt = pt, .npt = (size_t)n, .dev = &dev, .ndev = 1};
	struct timespec a, b;
	struct sg_errbuf eb;
	double s;

	if (n < 1 || n > 30000) {
		fprintf(stderr, "BLOCKS must be 1..30000\n");
		return 2;
	}
	for (int i = 0; i < n; i++) /* one point per request: gaps of one register */
		pt[i] = (struct mb_point){.id = "p",
					  .addr = 2 * i,
					  .type = MB_T_U16,
					  .nregs = 1,
					  .scale = 1,
					  .every_poll = true,
					  .interval_ns = 10000000};
	p.io = (struct mb_io){.read = bench_read, .flush = bench_flush};
	p.cb = (struct mb_poll_cb){.emit = bench_emit, .error = bench_error, .now = bench_now};
	if (mb_poll_init(&p, &eb) != 0) {
		fprintf(stderr, "%s\n", eb.msg);
		return 1;
	}
	mb_poll_reset(&p, 0);
	clock_gettime(CLOCK_MONOTONIC, &a);
	while (bench_reqs < 2000000) {
		int64_t next;

		mb_poll_step(&p, &next);
		if (next > bench_now_ns)
			bench_now_ns = next;
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
	printf("%d requests per cycle: %ld requests, %ld events in %.2f s = %.0f ns per request\n",
	       n, bench_reqs, bench_events, s, s * 1e9 / (double)bench_reqs);
	mb_poll_free(&p);
	free(pt);
	return 0;
}
