/*
 * cli_config_doc.c - `sensorgate config-doc [--metrics | --man]`: the
 * configuration reference (docs/config.md) or the metrics reference
 * (docs/metrics.md) in Markdown, generated from the key tables and the
 * metrics table; --man, the configuration reference as the man page
 * sensorgate.yaml(5).
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "gateway/config/conf.h"
#include "gateway/config/doc_man.h"
#include "gateway/metrics/families.h"

int sg_cli_config_doc(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "--metrics")) {
		sg_metric_families_doc(stdout);
		return 0;
	}
	if (argc == 2 && !strcmp(argv[1], "--man")) {
		sg_conf_doc_man(stdout);
		return 0;
	}
	if (argc > 1) {
		bool help = !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h");
		fprintf(help ? stdout : stderr,
			"usage: sensorgate config-doc [--metrics | --man]\n"
			"Prints the reference of every configuration key (Markdown), generated\n"
			"from the key tables; docs/config.md is this output (make docs).\n"
			"--metrics prints the metrics reference instead (docs/metrics.md),\n"
			"--man the configuration reference as man page sensorgate.yaml(5).\n");
		return help ? 0 : 2;
	}
	sg_conf_doc(stdout);
	return 0;
}
