/*
 * cli_config_doc.c - `sensorgate config-doc`: the configuration reference
 * in Markdown, generated from the key tables (docs/config.md).
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "gateway/config/conf.h"

int sg_cli_config_doc(int argc, char **argv)
{
	if (argc > 1) {
		bool help = !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h");
		fprintf(help ? stdout : stderr,
			"usage: sensorgate config-doc\n"
			"Prints the reference of every configuration key (Markdown), generated\n"
			"from the key tables; docs/config.md is this output (make docs).\n");
		return help ? 0 : 2;
	}
	sg_conf_doc(stdout);
	return 0;
}
