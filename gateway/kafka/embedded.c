/*
 * embedded.c - the embedded mock Kafka cluster and the `kafka-mock` command.
 *
 * The cluster lives inside a throw-away librdkafka handle of its own, so
 * producers and consumers (ours, kcat) connect to it over loopback like
 * to any broker.  `sensorgate kafka-mock` keeps one running in its own
 * process, prints `bootstrap=HOST:PORT,...` and then takes commands on
 * standard input, one per line, for fault-injection tests:
 *
 *     down [N]    take broker N (default: all) down
 *     up [N]      bring it back
 *     rtt N MS    add MS ms of round-trip time to broker N (0 = all)
 *     topic NAME P   create a topic with P partitions
 *     quit
 */
#include "embedded.h"

#include <getopt.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <poll.h>
#include <unistd.h>

#include "gateway/base/log.h"
#include "gateway/base/buf.h"
#include "gateway/base/clock.h"
#include "gateway/base/mem.h"

struct sg_mock {
	rd_kafka_t *rk;
	rd_kafka_mock_cluster_t *mc;
	int brokers;
	char *bootstrap;
};

int sg_mock_start(int brokers, struct sg_mock **out, struct sg_errbuf *eb)
{
	struct sg_mock *m = sg_xcalloc(1, sizeof(*m));
	rd_kafka_conf_t *kc = rd_kafka_conf_new();
	char err[256];

	rd_kafka_conf_set(kc, "log_level", "3", NULL, 0);
	m->rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, err, sizeof(err));
	if (!m->rk) {
		rd_kafka_conf_destroy(kc);
		free(m);
		return sg_errf(eb, SG_EKAFKA, "mock cluster handle: %s", err);
	}
	m->mc = rd_kafka_mock_cluster_new(m->rk, brokers);
	if (!m->mc) {
		rd_kafka_destroy(m->rk);
		free(m);
		return sg_errf(eb, SG_EKAFKA, "cannot start the mock cluster");
	}
	m->brokers = brokers;
	m->bootstrap = sg_strdup(rd_kafka_mock_cluster_bootstraps(m->mc));
	*out = m;
	return SG_OK;
}

const char *sg_mock_bootstrap(const struct sg_mock *m)
{
	return m->bootstrap;
}

int sg_mock_create_topic(struct sg_mock *m, const char *topic, int partitions)
{
	int rf = m->brokers < 3 ? m->brokers : 3;
	return rd_kafka_mock_topic_create(m->mc, topic, partitions, rf) ? SG_EKAFKA : SG_OK;
}

static int mock_each(struct sg_mock *m, int broker,
		     rd_kafka_resp_err_t (*fn)(rd_kafka_mock_cluster_t *, int32_t))
{
	for (int b = 1; b <= m->brokers; b++)
		if ((broker == 0 || broker == b) && fn(m->mc, b))
			return SG_EKAFKA;
	return SG_OK;
}

int sg_mock_broker_down(struct sg_mock *m, int broker)
{
	return mock_each(m, broker, rd_kafka_mock_broker_set_down);
}

int sg_mock_broker_up(struct sg_mock *m, int broker)
{
	return mock_each(m, broker, rd_kafka_mock_broker_set_up);
}

int sg_mock_broker_rtt(struct sg_mock *m, int broker, int ms)
{
	for (int b = 1; b <= m->brokers; b++)
		if ((broker == 0 || broker == b) && rd_kafka_mock_broker_set_rtt(m->mc, b, ms))
			return SG_EKAFKA;
	return SG_OK;
}

void sg_mock_stop(struct sg_mock *m)
{
	if (!m)
		return;
	rd_kafka_mock_cluster_destroy(m->mc);
	rd_kafka_destroy(m->rk);
	free(m->bootstrap);
	free(m);
}

static int mock_command(struct sg_mock *m, char *line)
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

int sg_mock_main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"brokers", required_argument, 0, 'b'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
	struct sg_mock *m;
	struct sg_errbuf eb;
	sigset_t ss;
	int brokers = 3, c, sfd;
	char line[512];
	size_t used = 0;
	bool in_open = true;

	while ((c = getopt_long(argc, argv, "b:h", opts, NULL)) != -1) {
		if (c == 'b')
			brokers = atoi(optarg);
		else {
			printf(
			    "usage: sensorgate kafka-mock [--brokers N]\n"
			    "Runs librdkafka's mock cluster; prints bootstrap=...; reads\n"
			    "commands on stdin: down [N], up [N], rtt N MS, topic NAME P, quit.\n");
			return c == 'h' ? 0 : 2;
		}
	}
	if (brokers < 1 || brokers > 9) {
		fprintf(stderr, "kafka-mock: --brokers must be 1..9\n");
		return 2;
	}
	sigemptyset(&ss);
	sigaddset(&ss, SIGINT);
	sigaddset(&ss, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &ss, NULL);
	sfd = signalfd(-1, &ss, SFD_CLOEXEC);
	if (sg_mock_start(brokers, &m, &eb) != SG_OK) {
		fprintf(stderr, "kafka-mock: %s\n", eb.msg);
		return 1;
	}
	printf("bootstrap=%s\n", sg_mock_bootstrap(m));
	fflush(stdout);
	for (;;) {
		struct pollfd fds[2] = {{.fd = sfd, .events = POLLIN},
					{.fd = 0, .events = in_open ? POLLIN : 0}};
		if (poll(fds, 2, -1) < 0)
			continue;
		if (fds[0].revents)
			break;
		if (fds[1].revents) {
			ssize_t r = read(0, line + used, sizeof(line) - 1 - used);
			if (r <= 0) {
				in_open = false; /* EOF: run until a signal */
				continue;
			}
			used += (size_t)r;
			line[used] = '\0';
			char *nl;
			bool quit = false;
			while ((nl = strchr(line, '\n'))) {
				*nl = '\0';
				if (mock_command(m, line) == SG_ESTOPPING)
					quit = true;
				used -= (size_t)(nl + 1 - line);
				memmove(line, nl + 1, used + 1);
			}
			if (used >= sizeof(line) - 1)
				used = 0;
			if (quit)
				break;
		}
	}
	sg_mock_stop(m);
	close(sfd);
	return 0;
}
