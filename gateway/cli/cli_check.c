/*
 * cli_check.c - `sensorgate check -c FILE [--print]`: validate a
 * configuration offline, the same way `run` and a reload do, and the
 * Kafka TLS files as far as that is possible without a broker.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "gateway/config/conf.h"
#include "gateway/kafka/producer.h"
#include "gateway/kafka/security_check.h"
#include "gateway/schema/encoder.h"

/* One "FILE: line" per line of msg. */
/* One line per error, FILE: first; FILE:LINE:COL: where the line names a
 * kafka.properties key, found where the file has it. */
static void check_lines(FILE *fp, const char *file, const struct sg_conf *c, const char *msg)
{
	static const char pfx[] = "kafka.properties.";

	for (const char *l = msg, *nl; *l; l = nl ? nl + 1 : l + strlen(l)) {
		int n = (int)((nl = strchr(l, '\n')) ? (size_t)(nl - l) : strlen(l));
		const char *colon = memchr(l, ':', (size_t)n);
		const struct sg_cfg_pos *pos = NULL;
		char key[256];

		if (!strncmp(l, pfx, sizeof(pfx) - 1) && colon &&
		    (size_t)(colon - l) - (sizeof(pfx) - 1) < sizeof(key)) {
			snprintf(key, sizeof(key), "%.*s", (int)(colon - l - (sizeof(pfx) - 1)),
				 l + sizeof(pfx) - 1);
			pos = sg_cfg_map_pos(&c->kafka.properties, key);
		}
		if (pos)
			fprintf(fp, "%s:%d:%d: %.*s\n", file, pos->line, pos->col, n, l);
		else
			fprintf(fp, "%s: %.*s\n", file, n, l);
	}
}

static void check_usage(FILE *fp)
{
	fprintf(fp, "usage: sensorgate check -c FILE [--print]\n"
		    "Validates FILE: exit 0 if valid, 2 with one line per error\n"
		    "(FILE:LINE:COL: key.path: what is wrong).  --print shows the\n"
		    "effective configuration with defaults; secrets are never shown.\n");
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
	char *errors = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "c:ph", opts, NULL)) != -1) {
		if (c == 'c')
			file = optarg;
		else if (c == 'p')
			print = true;
		else {
			check_usage(c == 'h' ? stdout : stderr);
			return c == 'h' ? 0 : 2;
		}
	}
	if (!file || optind < argc) {
		check_usage(stderr);
		return 2;
	}
	if (sg_conf_load(file, &conf, &errors) != SG_OK) {
		fputs(errors ? errors : "configuration error\n", stderr);
		free(errors);
		sg_conf_free(&conf);
		return 2;
	}
	if (sg_producer_check_props(&conf, &eb) != SG_OK) {
		check_lines(stderr, file, &conf, eb.msg);
		sg_conf_free(&conf);
		return 2;
	}
	if (sg_kafka_security_check(&conf, file, stderr, &eb) != SG_OK) {
		check_lines(stderr, file, &conf, eb.msg);
		sg_conf_free(&conf);
		return 2;
	}
	/* kafka.format avro: its module (sensorgate-avro.so) must load. */
	if (sg_schema_enc_check(&conf, &eb) != SG_OK) {
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
