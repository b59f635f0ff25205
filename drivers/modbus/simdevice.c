/*
 * simdevice.c - the server loops of `sensorgate sim modbus`: Modbus TCP
 * (several clients at once, poll()) and RTU on a serial port or pty.
 *
 * Every request goes through sim_handle(): find the unit (none: no
 * answer, a dead slave), apply an injected fault (delay, exception, no
 * answer), check strict addressing, refresh the time-varying values, and
 * let libmodbus build the reply from the unit's tables.  RTU frames are
 * read here rather than by modbus_receive(), which only accepts one slave
 * id per context; the reply is still libmodbus's.
 */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "simdevice.h"

#define SIM_MAX_CLIENTS 32

static volatile sig_atomic_t sim_stop;

static void sim_on_signal(int sig)
{
	(void)sig;
	sim_stop = 1;
}

static bool fc_area(int fc, enum mb_area *a)
{
	switch (fc) {
	case 1:
	case 5:
	case 15: *a = MB_A_COIL; return true;
	case 2: *a = MB_A_DISCRETE; return true;
	case 3:
	case 6:
	case 16: *a = MB_A_HOLDING; return true;
	case 4: *a = MB_A_INPUT; return true;
	default: return false;
	}
}

/* Answer one complete request (header included).  Returns 0 or -1 when
 * the connection failed while answering. */
static int sim_handle(struct mbs *s, modbus_t *ctx, const uint8_t *req, int len)
{
	int off = modbus_get_header_length(ctx);
	int unit = req[off - 1], fc = req[off], addr, count;
	struct mbs_unit *u = mbs_unit_find(s, unit);
	const struct mbs_fault *f;
	enum mb_area a;

	s->requests++;
	if (!u)
		return 0; /* nobody home */
	if (!fc_area(fc, &a) || len < off + 5)
		return modbus_reply(ctx, req, len, u->map) < 0 ? -1 : 0;
	addr = req[off + 1] << 8 | req[off + 2];
	count = fc == 5 || fc == 6 ? 1 : req[off + 3] << 8 | req[off + 4];
	f = mbs_fault_find(s, unit, a, addr, count);
	if (f && f->delay_ms)
		usleep((useconds_t)f->delay_ms * 1000);
	if (f && f->no_answer)
		return 0;
	s->answered++;
	if (f && f->exception)
		return modbus_reply_exception(ctx, req, (unsigned)f->exception) < 0 ? -1 : 0;
	if (s->c->strict && !mbs_defined(u, a, addr, count))
		return modbus_reply_exception(ctx, req, MODBUS_EXCEPTION_ILLEGAL_DATA_ADDRESS) < 0
			   ? -1
			   : 0;
	mbs_update(s, u, sg_now_mono_ns());
	return modbus_reply(ctx, req, len, u->map) < 0 ? -1 : 0;
}

static int sim_tcp(struct mbs *s, const char *host, int port)
{
	modbus_t *ctx = modbus_new_tcp(host, port);
	struct pollfd fds[SIM_MAX_CLIENTS + 1];
	uint8_t req[MODBUS_TCP_MAX_ADU_LENGTH];
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int nfds = 1, lfd;

	if (!ctx || (lfd = modbus_tcp_listen(ctx, 8)) < 0) {
		fprintf(stderr, "sim modbus: cannot listen on %s:%d: %s\n", host, port,
			modbus_strerror(errno));
		if (ctx)
			modbus_free(ctx);
		return 1;
	}
	if (getsockname(lfd, (struct sockaddr *)&sa, &sl) == 0)
		port = ntohs(sa.sin_port);
	printf("sim modbus: listening on %s:%d (tcp, %zu units)\n", host, port, s->nu);
	fflush(stdout);
	fds[0] = (struct pollfd){.fd = lfd, .events = POLLIN};
	while (!sim_stop) {
		if (poll(fds, (nfds_t)nfds, 1000) < 0 && errno != EINTR)
			break;
		if ((fds[0].revents & POLLIN)) {
			int c = accept(lfd, NULL, NULL);
			if (c >= 0 && nfds <= SIM_MAX_CLIENTS)
				fds[nfds++] = (struct pollfd){.fd = c, .events = POLLIN};
			else if (c >= 0)
				close(c);
		}
		for (int i = 1; i < nfds; i++) {
			int rc;

			if (!fds[i].revents)
				continue;
			modbus_set_socket(ctx, fds[i].fd);
			rc = modbus_receive(ctx, req);
			if (rc > 0)
				rc = sim_handle(s, ctx, req, rc);
			if (rc < 0) { /* closed or broken: drop the client */
				close(fds[i].fd);
				fds[i--] = fds[--nfds];
			}
		}
	}
	for (int i = 1; i < nfds; i++)
		close(fds[i].fd);
	close(lfd);
	modbus_free(ctx);
	return 0;
}

static uint16_t sim_crc16(const uint8_t *p, int n)
{
	uint16_t crc = 0xffff;

	for (int i = 0; i < n; i++) {
		crc ^= p[i];
		for (int b = 0; b < 8; b++)
			crc = crc & 1 ? (uint16_t)(crc >> 1) ^ 0xa001 : (uint16_t)(crc >> 1);
	}
	return crc;
}

/* Read exactly n more bytes into buf+have within gap_ms of silence each. */
static int sim_read_more(int fd, uint8_t *buf, int have, int want, int gap_ms)
{
	while (have < want) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t r;

		if (poll(&p, 1, gap_ms) <= 0)
			return -1;
		r = read(fd, buf + have, (size_t)(want - have));
		if (r <= 0)
			return -1;
		have += (int)r;
	}
	return have;
}

/* One RTU frame: slave, function, body, CRC.  Returns its length, 0 when
 * nothing complete arrived (noise, a timeout, a bad CRC), -1 on error. */
static int sim_rtu_frame(int fd, uint8_t *buf)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	int want, n;

	if (poll(&p, 1, 1000) <= 0)
		return 0;
	if (p.revents & (POLLERR | POLLHUP | POLLNVAL))
		return -1;
	if ((n = sim_read_more(fd, buf, 0, 2, 50)) < 0)
		return 0;
	if (buf[1] >= 1 && buf[1] <= 6) {
		want = 8;
	} else if (buf[1] == 15 || buf[1] == 16) {
		if ((n = sim_read_more(fd, buf, n, 7, 50)) < 0)
			return 0;
		want = 9 + buf[6];
	} else {
		/* Unknown function: skip until the line is quiet. */
		while (sim_read_more(fd, buf, 0, 1, 20) > 0)
			;
		return 0;
	}
	if (want > MODBUS_RTU_MAX_ADU_LENGTH || (n = sim_read_more(fd, buf, n, want, 50)) < 0)
		return 0;
	if (sim_crc16(buf, want - 2) != (uint16_t)(buf[want - 2] | buf[want - 1] << 8))
		return 0; /* a device ignores a frame with a bad CRC */
	return want;
}

static int sim_rtu(struct mbs *s, const char *dev, int baud, char parity)
{
	modbus_t *ctx = modbus_new_rtu(dev, baud, parity, 8, 1);
	uint8_t req[MODBUS_RTU_MAX_ADU_LENGTH];
	int fd, n;

	if (!ctx || modbus_connect(ctx) != 0) {
		fprintf(stderr, "sim modbus: cannot open %s: %s\n", dev, modbus_strerror(errno));
		if (ctx)
			modbus_free(ctx);
		return 1;
	}
	fd = modbus_get_socket(ctx);
	printf("sim modbus: serving %s (rtu %d %c81, %zu units)\n", dev, baud, parity, s->nu);
	fflush(stdout);
	while (!sim_stop && (n = sim_rtu_frame(fd, req)) >= 0) {
		if (n > 0 && req[0] != 0)
			sim_handle(s, ctx, req, n);
	}
	modbus_close(ctx);
	modbus_free(ctx);
	return 0;
}

static void sim_usage(void)
{
	printf("usage: sensorgate sim modbus [--config FILE] [--port N | --device TTY]\n"
	       "A Modbus server serving the register map in FILE (default: a built-in\n"
	       "energy meter on unit 1 and an I/O module on unit 2).\n"
	       "  -c, --config FILE   register map (YAML; keys in docs/modbus.md)\n"
	       "  -p, --port N        Modbus TCP port (default 5020; 0 = any free port)\n"
	       "  -H, --host ADDR     address to listen on (default 127.0.0.1)\n"
	       "  -d, --device TTY    serve Modbus RTU on this serial port or pty instead\n"
	       "  -b, --baud N        RTU speed (default 9600)\n"
	       "  -P, --parity N|E|O  RTU parity (default N)\n"
	       "The first line printed says where it listens.\n");
}

int sg_mb_sim_main(int argc, char **argv);
int sg_mb_sim_main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'}, {"port", required_argument, NULL, 'p'},
	    {"host", required_argument, NULL, 'H'},   {"device", required_argument, NULL, 'd'},
	    {"baud", required_argument, NULL, 'b'},   {"parity", required_argument, NULL, 'P'},
	    {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
	const char *file = NULL, *host = "127.0.0.1", *dev = NULL;
	int port = 5020, baud = 9600, o, rc;
	char parity = 'N', *errors = NULL, err[256];
	struct mbs_conf c = {0};
	struct mbs s;
	struct sigaction sa = {.sa_handler = sim_on_signal};

	optind = 1;
	while ((o = getopt_long(argc, argv, "c:p:H:d:b:P:h", opts, NULL)) != -1) {
		switch (o) {
		case 'c': file = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'H': host = optarg; break;
		case 'd': dev = optarg; break;
		case 'b': baud = atoi(optarg); break;
		case 'P': parity = optarg[0]; break;
		case 'h': sim_usage(); return 0;
		default: sim_usage(); return 2;
		}
	}
	if (port < 0 || port > 65535 || baud <= 0 || !strchr("NEO", parity)) {
		sim_usage();
		return 2;
	}
	if (mb_cfg_load(&mbs_table, file, mbs_default_yaml, &c, &errors) != SG_OK) {
		fputs(errors ? errors : "configuration error\n", stderr);
		free(errors);
		sg_cfg_free(&mbs_table, &c);
		return 2;
	}
	if (mbs_init(&s, &c, err, sizeof(err)) != SG_OK) {
		fprintf(stderr, "sim modbus: %s\n", err);
		mbs_free(&s);
		sg_cfg_free(&mbs_table, &c);
		return 2;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	rc = dev ? sim_rtu(&s, dev, baud, parity) : sim_tcp(&s, host, port);
	fprintf(stderr, "sim modbus: %llu requests, %llu answered\n",
		(unsigned long long)s.requests, (unsigned long long)s.answered);
	mbs_free(&s);
	sg_cfg_free(&mbs_table, &c);
	return rc;
}
