/*
 * cli_kafka_mock.c - `sensorgate kafka-mock`: librdkafka's mock cluster
 * (gateway/kafka/embedded.h) in a process of its own, for fault-injection
 * tests and demos.  It prints `bootstrap=HOST:PORT,...` and then takes
 * commands on standard input, one per line, each answered with
 * `ok CMD` or `error CMD`:
 *
 *     down [N]       take broker N (default: all) down
 *     up [N]         bring it back
 *     rtt N MS       add MS ms of round-trip time to broker N (0 = all)
 *     topic NAME P   create a topic with P partitions
 *     quit
 *
 * It runs until quit, SIGINT or SIGTERM (end of input alone does not
 * stop it).
 */
#include <getopt.h>
#include <poll.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "cli.h"
#include "gateway/base/err.h"
#include "gateway/base/parse.h"
#include "gateway/kafka/embedded.h"

#define KM_MAX_BROKERS 9

static int km_command(struct sg_mock *m, char *line)
{
	char cmd[32] = "", name[256] = "";
	int a = 0, b = 0, n = sscanf(line, "%31s %d %d", cmd, &a, &b), rc = SG_EINVAL;

	if (n < 1)
		return SG_OK;
	if (!strcmp(cmd, "quit"))
		return SG_ESTOPPING;
	if (!strcmp(cmd, "down"))
		rc = sg_mock_broker_down(m, n >= 2 ? a : 0);
	else if (!strcmp(cmd, "up"))
		rc = sg_mock_broker_up(m, n >= 2 ? a : 0);
	else if (!strcmp(cmd, "rtt") && n == 3)
		rc = sg_mock_broker_rtt(m, a, b);
	else if (!strcmp(cmd, "topic") && sscanf(line, "%*s %255s %d", name, &a) == 2)
		rc = sg_mock_create_topic(m, name, a);
	printf("%s %s\n", rc == SG_OK ? "ok" : "error", cmd);
	fflush(stdout);
	return SG_OK;
}

/* Serve standard input until quit or a signal. */
static void km_serve(struct sg_mock *m, int sfd)
{
	char line[512];
	size_t used = 0;
	bool in_open = true;

	for (;;) {
		/* A closed stdin goes out of the set: poll reports POLLHUP on it
		 * whatever the events asked, and would never sleep again. */
		struct pollfd fds[2] = {{.fd = sfd, .events = POLLIN},
					{.fd = in_open ? 0 : -1, .events = POLLIN}};
		char *nl;
		ssize_t r;

		if (poll(fds, 2, -1) < 0)
			continue;
		if (fds[0].revents)
			return;
		if (!fds[1].revents)
			continue;
		r = read(0, line + used, sizeof(line) - 1 - used);
		if (r <= 0) {
			in_open = false; /* EOF: run until a signal */
			continue;
		}
		used += (size_t)r;
		line[used] = '\0';
		while ((nl = strchr(line, '\n'))) {
			*nl = '\0';
			if (km_command(m, line) == SG_ESTOPPING)
				return;
			used -= (size_t)(nl + 1 - line);
			memmove(line, nl + 1, used + 1);
		}
		if (used >= sizeof(line) - 1)
			used = 0; /* a line too long for any command */
	}
}

static void km_usage(FILE *fp)
{
	fprintf(fp, "usage: sensorgate kafka-mock [--brokers N]\n"
		    "Runs librdkafka's mock cluster (N = 1..9 brokers, default 3); prints\n"
		    "bootstrap=...; reads commands on stdin: down [N], up [N], rtt N MS,\n"
		    "topic NAME P, quit.\n");
}

int sg_cli_kafka_mock(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"brokers", required_argument, 0, 'b'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
	struct sg_mock *m;
	struct sg_errbuf eb;
	sigset_t ss;
	int64_t brokers = 3;
	int c, sfd;

	while ((c = getopt_long(argc, argv, "b:h", opts, NULL)) != -1) {
		if (c == 'b' &&
		    (sg_parse_i64(optarg, &brokers) || brokers < 1 || brokers > KM_MAX_BROKERS)) {
			fprintf(stderr, "kafka-mock: --brokers '%s': expected 1..%d\n", optarg,
				KM_MAX_BROKERS);
			return 2;
		} else if (c != 'b') {
			km_usage(c == 'h' ? stdout : stderr);
			return c == 'h' ? 0 : 2;
		}
	}
	sigemptyset(&ss);
	sigaddset(&ss, SIGINT);
	sigaddset(&ss, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &ss, NULL);
	sfd = signalfd(-1, &ss, SFD_CLOEXEC);
	if (sg_mock_start((int)brokers, &m, &eb) != SG_OK) {
		fprintf(stderr, "kafka-mock: %s\n", eb.msg);
		close(sfd);
		return 1;
	}
	printf("bootstrap=%s\n", sg_mock_bootstrap(m));
	fflush(stdout);
	km_serve(m, sfd);
	sg_mock_stop(m);
	close(sfd);
	return 0;
}
