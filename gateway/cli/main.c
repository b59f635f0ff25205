/*
 * main.c - the sensorgate binary: dispatch to a subcommand.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

#ifndef SG_VERSION
#define SG_VERSION "0.1.0"
#endif

struct cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
};

static int cmd_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("sensorgate %s\n", SG_VERSION);
	return 0;
}

static const struct cmd cmds[] = {
    {"run", sg_cli_run, "run the gateway (-c FILE)"},
    {"check", sg_cli_check, "validate a configuration file (-c FILE)"},
    {"spool", sg_cli_spool, "inspect or check a spool directory (stat|dump|verify DIR)"},
    {"sink", sg_cli_sink, "consume topics into a file, SQLite or stdout"},
    {"sim", sg_cli_sim, "run a simulator (sensors for the learner stack)"},
    {"kafka-mock", sg_cli_kafka_mock, "run librdkafka's mock cluster (tests, demos)"},
    {"config-doc", sg_cli_config_doc, "print the configuration reference (Markdown)"},
    {"version", cmd_version, "print the version"},
};

static void usage(FILE *fp)
{
	fprintf(fp, "usage: sensorgate COMMAND [ARGS]   (COMMAND --help for more)\n\n");
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		fprintf(fp, "  %-12s %s\n", cmds[i].name, cmds[i].help);
	fprintf(fp, "\nexit codes: 0 ok, 1 runtime failure, 2 usage or configuration error\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version"))
		return cmd_version(0, NULL);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "sensorgate: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
