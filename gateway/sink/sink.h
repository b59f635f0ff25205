/*
 * sink.h - `sensorgate sink`'s engine: a consumer in a consumer group
 * that writes every record to a JSON-lines file, a SQLite database or
 * stdout, and commits offsets only after the write is durable.  The
 * command line is parsed in gateway/cli/cli_sink.c.
 *
 * The consumer is made by the client layer (gateway/kafka/client.h):
 * security (a gateway config's kafka.security), props (its
 * kafka.properties) and then overrides (-X) reach it like any other
 * consumer of the gateway.  Files the sink creates (file:, sqlite: and
 * SQLite's -wal and -shm) are mode 0600: they hold the events.
 *
 * Ownership: everything in opts is borrowed for the call.  Threads: the
 * calling thread runs the loop; SIGINT and SIGTERM are blocked in it and
 * end the loop (after a last durable commit).
 */
#ifndef SG_SINK_H
#define SG_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/base/err.h"
#include "gateway/config/conf.h"

struct sg_sink_opts {
	const char *bootstrap;
	const char *bootstrap_key; /* how errors name it ("-b", "FILE: kafka.bootstrap") */
	const char *group;         /* consumer group */
	bool from_beginning;       /* a new group starts at the earliest offset */
	const char *const *topics; /* names, or regexes starting with ^ */
	size_t ntopics;
	const char *to;      /* stdout, file:PATH or sqlite:PATH */
	uint64_t count;      /* stop after this many records; 0: no limit */
	int64_t idle_exit_s; /* stop after this many seconds without a record; 0: never */
	const struct sg_cfg_map *props;           /* or NULL */
	const struct sg_cfg_map *overrides;       /* or NULL */
	const struct sg_kafka_security *security; /* or NULL */
	const char *security_key;                 /* how errors name it ("FILE: kafka.security") */
	/* Avro in the Confluent wire format is decoded with this registry's
	 * schemas (a gateway config's schema_registry); NULL: written as is. */
	const struct sg_registry_conf *registry;
};

/*
 * Consume until a signal, opts->count or opts->idle_exit_s.  SG_OK;
 * SG_EINVAL (unknown target), SG_ECONFIG (refused properties: one line
 * each in eb), SG_EIO (the target cannot be opened or written: offsets
 * after the failed write are not committed), SG_EKAFKA.
 */
int sg_sink_run(const struct sg_sink_opts *opts, struct sg_errbuf *eb);

#endif
