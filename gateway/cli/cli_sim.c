/*
 * cli_sim.c - `sensorgate sim KIND ...`: the simulators that make the
 * learner stack self-contained.  Each simulator lives with its driver and
 * registers one line in the table below.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

struct sim_cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
};

int sg_mb_sim_main(int argc, char **argv); /* drivers/modbus/simdevice.c */

int sg_sim_mqtt(int argc, char **argv); /* drivers/mqtt/simpublisher.c */

static const struct sim_cmd sims[] = {
    {"mqtt", sg_sim_mqtt,
     "MQTT publisher: synthetic JSON or raw readings at a rate, QoS, topic pattern"},
    {"modbus", sg_mb_sim_main,
     "Modbus TCP/RTU server with a YAML register map and injected faults"},
    {NULL, NULL, NULL},
};

int sg_cli_sim(int argc, char **argv)
{
	if (argc >= 2)
		for (size_t i = 0; sims[i].name; i++)
			if (!strcmp(argv[1], sims[i].name))
				return sims[i].fn(argc - 1, argv + 1);
	printf("usage: sensorgate sim KIND [ARGS]   (KIND --help for more)\n");
	for (size_t i = 0; sims[i].name; i++)
		printf("  %-10s %s\n", sims[i].name, sims[i].help);
	if (!sims[0].name)
		printf("  (no simulators built in)\n");
	return argc >= 2 && strcmp(argv[1], "--help") ? 2 : 0;
}
