/*
 * cli_run.c - `sensorgate run` and `sensorgate check`.
 *
 * run: load config -> open spool (recovery) -> embedded cluster if asked
 * -> producer -> sources -> view loop until SIGINT/SIGTERM -> stop
 * sources -> sync spool -> drain producer within gateway.shutdown_timeout
 * -> save cursor -> exit 0.
 */
#include <getopt.h>
#include <malloc.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "drivers/driver.h"
#include "gateway/sink/actuator.h"
#include "cli.h"
#include "gateway/config/conf.h"
#include "gateway/base/log.h"
#include "gateway/kafka/embedded.h"
#include "gateway/core/sources.h"
#include "gateway/kafka/producer.h"
#include "gateway/spool/spool.h"
#include "gateway/view/view.h"

static int load_conf(const char *file, struct sg_conf *conf)
{
	char *errors = NULL;

	if (sg_conf_load(file, conf, &errors) != SG_OK) {
		fputs(errors ? errors : "configuration error\n", stderr);
		free(errors);
		sg_conf_free(conf);
		return 2;
	}
	return 0;
}

static void usage_run(void)
{
	printf("usage: sensorgate run -c FILE\n"
	       "Runs the gateway: drivers -> spool -> Kafka, until SIGINT/SIGTERM.\n"
	       "  -c, --config FILE   configuration (YAML)\n"
	       "exit codes: 0 stopped cleanly, 1 runtime failure, 2 configuration error\n");
}

/* Topics known without a sensor id are pre-created in the embedded
 * cluster with kafka.embedded_partitions partitions. */
static void run_embedded_topics(const struct sg_conf *c, struct sg_mock *m)
{
	const struct sg_source_conf *scs = c->sources.items;
	char topic[256];

	for (size_t i = 0; i < c->sources.n; i++) {
		const char *t = scs[i].topic ? scs[i].topic : c->kafka.topic;
		if (strstr(t, "{sensor}"))
			continue;
		sg_topic_expand(t, c->gateway.id, scs[i].name, "", topic, sizeof(topic));
		sg_mock_create_topic(m, topic, (int)c->kafka.embedded_partitions);
	}
}

static int run_loop(const struct sg_conf *conf, struct sg_view *view)
{
	sigset_t ss;
	int sfd;
	int64_t next = sg_now_mono_ns();

	sigemptyset(&ss);
	sigaddset(&ss, SIGINT);
	sigaddset(&ss, SIGTERM);
	sfd = signalfd(-1, &ss, SFD_CLOEXEC);
	for (;;) {
		struct pollfd pfd = {.fd = sfd, .events = POLLIN};
		int64_t now = sg_now_mono_ns();
		int ms = (int)((next - now) / SG_NS_PER_MS);

		if (ms > 100)
			ms = 100; /* the tail consumer is polled often */
		if (ms < 0)
			ms = 0;
		if (poll(&pfd, 1, ms) > 0 && pfd.revents) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof(si)) > 0)
				sg_info("main",
					"signal %u: stopping (up to %lld ms to deliver what is in "
					"flight)",
					si.ssi_signo, (long long)conf->gateway.shutdown_timeout_ms);
			break;
		}
		sg_view_poll(view);
		if (sg_now_mono_ns() >= next) {
			sg_view_tick(view);
			next += sg_view_interval_ms(view) * SG_NS_PER_MS;
			if (next < sg_now_mono_ns())
				next = sg_now_mono_ns();
		}
	}
	close(sfd);
	return 0;
}

int sg_cli_run(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, 0, 'c'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
	const char *file = NULL;
	struct sg_conf conf;
	struct sg_spool *sp = NULL;
	struct sg_mock *mock = NULL;
	struct sg_producer *prod = NULL;
	struct sg_pipeline *pl = NULL;
	struct sg_view *view = NULL;
	struct sg_actuator *act = NULL;
	struct sg_errbuf eb = {{0}};
	const char *bootstrap;
	sigset_t ss;
	int c, rc = 1;

	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		if (c == 'c')
			file = optarg;
		else {
			usage_run();
			return c == 'h' ? 0 : 2;
		}
	}
	if (!file) {
		usage_run();
		return 2;
	}
	/* glibc gives each thread that allocates its own malloc arena; with
	 * librdkafka's threads that costs megabytes of RSS on a small board
	 * for no gain at our allocation rates.  Two arenas are plenty. */
	mallopt(M_ARENA_MAX, 2);
	/* Signals go to the main loop's signalfd only. */
	sigemptyset(&ss);
	sigaddset(&ss, SIGINT);
	sigaddset(&ss, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &ss, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (load_conf(file, &conf) != 0)
		return 2;
	sg_log_set_level((enum sg_log_level)conf.gateway.log_level);
	if (sg_producer_check_props(&conf, &eb) != SG_OK) {
		fprintf(stderr, "%s: %s\n", file, eb.msg);
		sg_conf_free(&conf);
		return 2;
	}
	if (sg_spool_open(&conf.spool, &sp, &eb) != SG_OK) {
		sg_error("main", "spool: %s", eb.msg);
		goto out;
	}
	bootstrap = conf.kafka.bootstrap;
	if (!strcmp(bootstrap, "embedded")) {
		if (sg_mock_start((int)conf.kafka.embedded_brokers, &mock, &eb) != SG_OK) {
			sg_error("main", "%s", eb.msg);
			goto out;
		}
		bootstrap = sg_mock_bootstrap(mock);
		run_embedded_topics(&conf, mock);
		{
			const struct sg_source_conf *s0 = conf.sources.items;
			char topic[256];
			sg_topic_expand(conf.sources.n && s0->topic ? s0->topic : conf.kafka.topic,
					conf.gateway.id, conf.sources.n ? s0->name : "SOURCE",
					"SENSOR", topic, sizeof(topic));
			sg_info("main",
				"embedded Kafka cluster (%lld brokers) at %s  -- read it with: "
				"kcat -C -b %s -t %s -f '%%k %%s\\n'",
				(long long)conf.kafka.embedded_brokers, bootstrap, bootstrap,
				topic);
		}
		printf("embedded kafka bootstrap=%s\n", bootstrap);
		fflush(stdout);
	}
	if (sg_producer_new(&conf, bootstrap, sp, &prod, &eb) != SG_OK) {
		sg_error("main", "producer: %s", eb.msg);
		rc = 2;
		goto out;
	}
	if (sg_pipeline_new(&conf, sp, &pl, &eb) != SG_OK) {
		fprintf(stderr, "%s\n", eb.msg);
		rc = 2;
		goto out;
	}
	if (sg_producer_start(prod) != SG_OK || sg_pipeline_start(pl) != SG_OK) {
		sg_error("main", "cannot start threads");
		goto out;
	}
	if (sg_actuator_start(&conf, bootstrap, pl, &act, &eb) != SG_OK) {
		sg_error("main", "%s", eb.msg);
		goto out;
	}
	sg_info("main", "gateway %s running: %zu source(s), spool %s, kafka %s", conf.gateway.id,
		sg_pipeline_count(pl), conf.spool.dir, bootstrap);
	view = sg_view_new(&conf, pl, sp, bootstrap);
	run_loop(&conf, view);
	rc = 0;
out:
	sg_actuator_stop(act); /* no more writes into the drivers */
	/* Order matters: sources learn they are stopping first, then the
	 * spool wakes any that are blocked on it (when_full: block), then we
	 * wait for them. */
	if (pl)
		sg_pipeline_signal_stop(pl);
	if (sp)
		sg_spool_shutdown(sp);
	if (pl)
		sg_pipeline_stop(pl);
	if (sp)
		sg_spool_sync(sp);
	if (prod)
		sg_producer_stop(prod, conf.gateway.shutdown_timeout_ms);
	sg_view_free(view);
	sg_pipeline_free(pl);
	sg_producer_free(prod);
	sg_spool_close(sp);
	sg_mock_stop(mock);
	sg_conf_free(&conf);
	if (rc == 0)
		sg_info("main", "stopped");
	return rc;
}

int sg_cli_check(int argc, char **argv)
{
	static const struct option opts[] = {{"config", required_argument, 0, 'c'},
					     {"print", no_argument, 0, 'p'},
					     {"help", no_argument, 0, 'h'},
					     {0, 0, 0, 0}};
	const char *file = NULL;
	bool print = false;
	struct sg_conf conf;
	struct sg_errbuf eb;
	int c;

	while ((c = getopt_long(argc, argv, "c:ph", opts, NULL)) != -1) {
		if (c == 'c')
			file = optarg;
		else if (c == 'p')
			print = true;
		else {
			printf("usage: sensorgate check -c FILE [--print]\n"
			       "Validates FILE: exit 0 if valid, 2 with one line per error\n"
			       "(FILE:LINE:COL: key.path: what is wrong).  --print shows the\n"
			       "effective configuration with defaults; secrets are never shown.\n");
			return c == 'h' ? 0 : 2;
		}
	}
	if (!file) {
		fprintf(stderr, "check: -c FILE is required\n");
		return 2;
	}
	if (load_conf(file, &conf) != 0)
		return 2;
	if (sg_producer_check_props(&conf, &eb) != SG_OK) {
		fprintf(stderr, "%s: %s\n", file, eb.msg);
		sg_conf_free(&conf);
		return 2;
	}
	if (print)
		sg_cfg_dump(&sg_conf_table, &conf, 0, stdout);
	printf("%s: ok (%zu source(s))\n", file, conf.sources.n);
	sg_conf_free(&conf);
	return 0;
}

int sg_cli_config_doc(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	sg_conf_doc(stdout);
	return 0;
}
