/*
 * cli_sink.c - `sensorgate sink`'s command line: topics, group, target,
 * limits, and the Kafka connection, from -b and -X KEY=VALUE (like kcat)
 * or from a gateway config file (-c FILE: its kafka.bootstrap,
 * kafka.security and kafka.properties; -b and -X given as well win).  Everything is checked
 * before anything connects: a malformed number or option exits 2 with a
 * message naming it, and so does a Kafka property the client layer
 * refuses.  The consumer loop is gateway/sink/sink.c.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "gateway/base/log.h"
#include "gateway/base/mem.h"
#include "gateway/base/parse.h"
#include "gateway/config/conf.h"
#include "gateway/config/mask.h"
#include "gateway/sink/sink.h"

#define SINK_MAX_TOPICS 32
#define SINK_MAX_PROPS  64
#define SINK_MAX_IDLE_S (365LL * 24 * 3600)

struct sink_args {
	struct sg_sink_opts o;
	const char *topics[SINK_MAX_TOPICS];
	const char *conf_file;
	struct sg_cfg_kv kv[SINK_MAX_PROPS];
	struct sg_cfg_map x; /* -X, pointing into argv */
	struct sg_conf conf; /* from -c FILE */
	bool have_conf;
	char bootstrap_key[300];
	char security_key[300];
};

static void sink_usage(FILE *fp)
{
	fprintf(
	    fp,
	    "usage: sensorgate sink (-b BOOTSTRAP | -c FILE) -t TOPIC [-t TOPIC...] --to TARGET\n"
	    "                       [-g GROUP] [--from-beginning] [--count N] [--idle-exit SEC]\n"
	    "                       [-X KEY=VALUE...]\n"
	    "Reads TOPICs (a name, or a regex starting with ^) in consumer group GROUP\n"
	    "(default sensorgate-sink) and writes every record to TARGET:\n"
	    "  stdout           one JSON line per record\n"
	    "  file:PATH        JSON lines appended to PATH, fsynced before each commit\n"
	    "  sqlite:PATH      table events, event id as primary key (duplicates ignored)\n"
	    "Offsets are committed after the write: at-least-once, and with sqlite the\n"
	    "event id makes duplicates harmless.  --count N stops after N records;\n"
	    "--idle-exit SEC stops after SEC seconds without a record (at least 30 s\n"
	    "before the first one).\n"
	    "Kafka: -b BOOTSTRAP, and -X KEY=VALUE for librdkafka properties (security.protocol,\n"
	    "sasl.*, ssl.*, ...; repeatable); or -c FILE to take kafka.bootstrap,\n"
	    "kafka.security and kafka.properties from a gateway config file (-b and -X\n"
	    "still win); keep passwords in that file's kafka.security, not in -X.\n");
}

static int sink_bad(const char *opt, const char *val, const char *what)
{
	fprintf(stderr, "sink: %s '%s': %s\n", opt, val, what);
	return 2;
}

/* -X KEY=VALUE into a->x. */
static int sink_prop(struct sink_args *a, char *arg)
{
	char *eq = strchr(arg, '=');

	if (!eq || eq == arg)
		return sink_bad("-X", arg, "expected KEY=VALUE");
	if (a->x.n == SINK_MAX_PROPS)
		return sink_bad("-X", arg, "too many properties");
	*eq = '\0';
	a->kv[a->x.n++] = (struct sg_cfg_kv){.key = arg, .val = eq + 1};
	/* A name or a path is no secret, whatever librdkafka flags. */
	if (sg_mask_value(arg, eq + 1) && strcmp(arg, "sasl.username") &&
	    strcmp(arg, "ssl.key.location"))
		sg_warn("sink",
			"-X %s: a secret on the command line is visible to every user in "
			"/proc/PID/cmdline and ps; put it in a config file's kafka.security "
			"(file: or ${ENV}) and give -c FILE",
			arg);
	return 0;
}

static int sink_option(struct sink_args *a, int c, char *arg)
{
	int64_t v;

	switch (c) {
	case 'b': a->o.bootstrap = arg; return 0;
	case 'c': a->conf_file = arg; return 0;
	case 'g': a->o.group = arg; return 0;
	case 'o': a->o.to = arg; return 0;
	case 'B': a->o.from_beginning = true; return 0;
	case 'X': return sink_prop(a, arg);
	case 't':
		if (a->o.ntopics == SINK_MAX_TOPICS)
			return sink_bad("-t", arg, "too many topics (at most 32)");
		a->topics[a->o.ntopics++] = arg;
		return 0;
	case 'n':
		if (sg_parse_i64(arg, &v) || v < 1)
			return sink_bad("--count", arg,
					"expected a whole number of records, at least 1");
		a->o.count = (uint64_t)v;
		return 0;
	case 'i':
		if (sg_parse_i64(arg, &v) || v < 1 || v > SINK_MAX_IDLE_S)
			return sink_bad("--idle-exit", arg,
					"expected a whole number of seconds, 1 to 31536000");
		a->o.idle_exit_s = v;
		return 0;
	}
	return -1;
}

/* kafka.bootstrap and kafka.properties from a gateway config file. */
static int sink_load_conf(struct sink_args *a)
{
	char *errors = NULL;

	if (sg_conf_load(a->conf_file, &a->conf, &errors) != SG_OK) {
		fprintf(stderr, "%s", errors ? errors : "sink: configuration error\n");
		free(errors);
		return 2;
	}
	a->have_conf = true;
	a->o.props = &a->conf.kafka.properties;
	a->o.registry = &a->conf.schema_registry;
	a->o.security = &a->conf.kafka.security;
	snprintf(a->security_key, sizeof(a->security_key), "%s: kafka.security", a->conf_file);
	a->o.security_key = a->security_key;
	if (a->o.bootstrap)
		return 0;
	if (!strcmp(a->conf.kafka.bootstrap, "embedded")) {
		fprintf(stderr,
			"sink: %s: kafka.bootstrap is embedded (inside the gateway's process): "
			"give -b with the address the gateway printed\n",
			a->conf_file);
		return 2;
	}
	a->o.bootstrap = a->conf.kafka.bootstrap;
	snprintf(a->bootstrap_key, sizeof(a->bootstrap_key), "%s: kafka.bootstrap", a->conf_file);
	a->o.bootstrap_key = a->bootstrap_key;
	return 0;
}

static int sink_parse(struct sink_args *a, int argc, char **argv)
{
	static const struct option opts[] = {{"bootstrap", required_argument, 0, 'b'},
					     {"config", required_argument, 0, 'c'},
					     {"topic", required_argument, 0, 't'},
					     {"group", required_argument, 0, 'g'},
					     {"to", required_argument, 0, 'o'},
					     {"from-beginning", no_argument, 0, 'B'},
					     {"count", required_argument, 0, 'n'},
					     {"idle-exit", required_argument, 0, 'i'},
					     {"property", required_argument, 0, 'X'},
					     {"help", no_argument, 0, 'h'},
					     {0, 0, 0, 0}};
	int c, rc;

	while ((c = getopt_long(argc, argv, "b:c:t:g:o:Bn:i:X:h", opts, NULL)) != -1) {
		if (c == 'h') {
			sink_usage(stdout);
			return 0;
		}
		if ((rc = sink_option(a, c, optarg)) != 0) {
			if (rc < 0)
				sink_usage(stderr);
			return 2;
		}
	}
	if (optind < argc)
		return sink_bad("argument", argv[optind], "unexpected (options only)");
	if (a->conf_file && (rc = sink_load_conf(a)) != 0)
		return rc;
	if (!a->o.bootstrap || !a->o.ntopics || !a->o.to) {
		sink_usage(stderr);
		return 2;
	}
	return -1; /* go on */
}

int sg_cli_sink(int argc, char **argv)
{
	struct sink_args *a = sg_xcalloc(1, sizeof(*a));
	struct sg_errbuf eb = {{0}};
	int rc;

	a->o.group = "sensorgate-sink";
	a->o.topics = a->topics;
	a->x.kv = a->kv;
	a->o.overrides = &a->x;
	rc = sink_parse(a, argc, argv);
	if (rc < 0) {
		rc = sg_sink_run(&a->o, &eb);
		if (rc != SG_OK) {
			/* One line per refused property. */
			for (char *line = eb.msg, *nl; line && *line; line = nl ? nl + 1 : NULL) {
				nl = strchr(line, '\n');
				fprintf(stderr, "sink: %.*s\n",
					(int)(nl ? (size_t)(nl - line) : strlen(line)), line);
			}
		}
		rc = rc == SG_OK ? 0 : rc == SG_EINVAL || rc == SG_ECONFIG ? 2 : 1;
	}
	if (a->have_conf)
		sg_conf_free(&a->conf);
	free(a);
	return rc;
}
