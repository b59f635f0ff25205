/*
 * cli.h - the subcommands of the sensorgate binary.  Each takes argc/argv
 * starting at its own name and returns the process exit code:
 *   0 success, 1 runtime failure, 2 usage or configuration error.
 */
#ifndef SG_CLI_H
#define SG_CLI_H

int sg_cli_run(int argc, char **argv);
int sg_cli_check(int argc, char **argv);
int sg_cli_spool(int argc, char **argv);
int sg_cli_config_doc(int argc, char **argv);
int sg_cli_sim(int argc, char **argv);
int sg_cli_sink(int argc, char **argv);
int sg_cli_kafka_mock(int argc, char **argv);

#endif
