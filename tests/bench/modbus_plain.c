/*
 * modbus_plain.c - the baseline for the Modbus driver's poll rate: a plain
 * libmodbus loop reading holding registers as fast as the server answers,
 * over one connection, for a fixed time.  Compare its requests/s with the
 * driver's (the status line's read/s with one point per request) against
 * the same `sensorgate sim modbus`.
 *
 *   cc -O2 -o build/modbus_plain tests/bench/modbus_plain.c $(pkg-config --cflags --libs libmodbus)
 *   build/modbus_plain HOST PORT [SECONDS] [REGISTERS] [ADDRESSES]
 *
 * ADDRESSES > 1 walks addresses 0, 2, 4, ... like a driver with that many
 * separate one-point requests.
 */
#include <errno.h>
#include <modbus.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	uint16_t regs[125];
	modbus_t *mb;
	double secs, t0, t;
	int nregs, naddr;
	long ok = 0, fail = 0;

	if (argc < 3) {
		fprintf(stderr, "usage: %s HOST PORT [SECONDS] [REGISTERS] [ADDRESSES]\n", argv[0]);
		return 2;
	}
	secs = argc > 3 ? atof(argv[3]) : 3;
	nregs = argc > 4 ? atoi(argv[4]) : 1;
	naddr = argc > 5 ? atoi(argv[5]) : 1;
	if (nregs < 1 || nregs > 125 || naddr < 1) {
		fprintf(stderr, "REGISTERS must be 1..125, ADDRESSES >= 1\n");
		return 2;
	}
	mb = modbus_new_tcp(argv[1], atoi(argv[2]));
	if (!mb || modbus_connect(mb) != 0) {
		fprintf(stderr, "connect: %s\n", modbus_strerror(errno));
		return 1;
	}
	modbus_set_slave(mb, 1);
	t0 = now_s();
	do {
		for (int a = 0; a < naddr; a++) {
			if (modbus_read_registers(mb, 2 * a, nregs, regs) == nregs)
				ok++;
			else
				fail++;
		}
		t = now_s();
	} while (t - t0 < secs);
	printf("plain libmodbus: %ld requests in %.2f s = %.0f requests/s (%ld failed)\n", ok,
	       t - t0, (double)ok / (t - t0), fail);
	modbus_close(mb);
	modbus_free(mb);
	return 0;
}
