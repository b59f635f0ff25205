/*
 * cli_run.c - `sensorgate run -c FILE`: arguments, process tuning and
 * signals; the gateway itself is gateway/core/gateway.c.
 *
 * Signals are blocked in every thread and taken by one signal thread
 * (sigwaitinfo), which turns SIGINT/SIGTERM into a stop request and SIGHUP
 * into a reload request; the main thread runs the gateway's loop.
 */
#include <getopt.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "gateway/base/log.h"
#include "gateway/base/mem.h"
#include "gateway/core/gateway.h"

/* Sent by the main thread to end the signal thread. */
#define RUN_SIG_QUIT SIGUSR2

struct run_sig {
	pthread_t thr;
	sigset_t set;
	struct sg_gateway *gw;
};

static void run_usage(void)
{
	printf("usage: sensorgate run -c FILE\n"
	       "Runs the gateway: drivers -> spool -> Kafka, until SIGINT/SIGTERM.\n"
	       "SIGHUP re-reads FILE: an invalid file is reported and the running\n"
	       "configuration kept; gateway.log_level applies at once, other changes\n"
	       "are named in the log and take effect after a restart.\n"
	       "  -c, --config FILE   configuration (YAML)\n"
	       "exit codes: 0 stopped cleanly, 1 runtime failure, 2 configuration error\n");
}

static void *run_sig_main(void *arg)
{
	struct run_sig *rs = arg;
	siginfo_t si;

	for (;;) {
		int sig = sigwaitinfo(&rs->set, &si);
		if (sig == RUN_SIG_QUIT)
			return NULL;
		if (sig == SIGHUP) {
			sg_gateway_request_reload(rs->gw);
		} else if (sig == SIGINT || sig == SIGTERM) {
			sg_info("main", "signal %d (%s)", sig,
				sig == SIGINT ? "SIGINT" : "SIGTERM");
			sg_gateway_request_stop(rs->gw);
		}
	}
}

/* glibc gives each thread that allocates its own malloc arena; with
 * librdkafka's threads that costs megabytes of RSS on a small board for
 * no gain at our allocation rates.  Two arenas are plenty. */
static void run_tune_process(void)
{
	mallopt(M_ARENA_MAX, 2);
	signal(SIGPIPE, SIG_IGN);
}

int sg_cli_run(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, 0, 'c'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
	const char *file = NULL;
	struct sg_conf *conf;
	struct sg_gateway *gw = NULL;
	struct sg_errbuf eb = {{0}};
	struct run_sig rs = {0};
	char *errors = NULL;
	int c, rc;

	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		if (c == 'c')
			file = optarg;
		else {
			run_usage();
			return c == 'h' ? 0 : 2;
		}
	}
	if (!file || optind < argc) {
		run_usage();
		return 2;
	}
	run_tune_process();
	/* Signals keep their default action while the file is read, so a
	 * file that makes the parser hang can still be interrupted. */
	conf = sg_xcalloc(1, sizeof(*conf));
	if (sg_conf_load(file, conf, &errors) != SG_OK) {
		fputs(errors ? errors : "configuration error\n", stderr);
		free(errors);
		sg_conf_free(conf);
		free(conf);
		return 2;
	}
	/* Blocked before any thread exists, so every thread inherits the
	 * mask; a signal during start-up waits for the signal thread. */
	sigemptyset(&rs.set);
	sigaddset(&rs.set, SIGINT);
	sigaddset(&rs.set, SIGTERM);
	sigaddset(&rs.set, SIGHUP);
	sigaddset(&rs.set, RUN_SIG_QUIT);
	pthread_sigmask(SIG_BLOCK, &rs.set, NULL);
	rc = sg_gateway_open(conf, &gw, &eb);
	if (rc != SG_OK) {
		if (rc == SG_ECONFIG)
			fprintf(stderr, "%s: %s\n", file, eb.msg);
		else
			sg_error("main", "%s", eb.msg);
		return rc == SG_ECONFIG ? 2 : 1;
	}
	sg_gateway_set_config_file(gw, file);
	if (sg_gateway_embedded(gw)) {
		/* One machine-readable line for scripts and tests. */
		printf("embedded kafka bootstrap=%s\n", sg_gateway_bootstrap(gw));
		fflush(stdout);
	}
	rs.gw = gw;
	if (pthread_create(&rs.thr, NULL, run_sig_main, &rs) != 0) {
		sg_error("main", "cannot start the signal thread");
		sg_gateway_close(gw);
		return 1;
	}
	pthread_setname_np(rs.thr, "sg-signals");
	sg_gateway_run(gw);
	pthread_kill(rs.thr, RUN_SIG_QUIT);
	pthread_join(rs.thr, NULL);
	sg_gateway_close(gw);
	sg_info("main", "stopped");
	return 0;
}
