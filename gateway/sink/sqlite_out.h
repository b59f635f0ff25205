/*
 * sqlite_out.h - the SQLite output of `sensorgate sink` (--to
 * sqlite:PATH), the loadable module sensorgate-sqlite.so
 * (gateway/base/module.h): sink.c loads it when the target is SQLite, so
 * no other command maps libsqlite3.  The table (events) is keyed by
 * (event id, spool epoch); a duplicate is ignored and reported as one.
 * The database and its -wal and -shm are created 0600.
 *
 * Ownership: an output owns its connection; rows are copied.  Threads:
 * one thread per output (the sink's).
 */
#ifndef SG_SINK_SQLITE_OUT_H
#define SG_SINK_SQLITE_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/base/err.h"
#include "gateway/base/module.h"

#define SG_SQLITE_MODULE_FILE  "sensorgate-sqlite.so"
#define SG_SQLITE_MODULE_TABLE "sg_sqlite_module"
/* Grows with every change to the table or to what it passes. */
#define SG_SQLITE_MODULE_ABI 1

/* One record as the sink stores it (every pointer borrowed for the call). */
struct sg_sink_row {
	const char *id;
	size_t id_len;
	const char *topic; /* NUL-terminated */
	int32_t partition;
	int64_t offset;
	const void *key;
	size_t key_len;
	int64_t ts_ms;
	const char *source;
	size_t source_len;
	const void *value;
	size_t value_len;
	const char *epoch;
	size_t epoch_len;
};

struct sg_sqlite_out;

struct sg_sqlite_module {
	struct sg_module_head head;
	/* Open or create the database at path, its events table made or
	 * converted from the previous release's.  SG_OK, or SG_EIO with eb. */
	int (*open)(const char *path, struct sg_sqlite_out **out, struct sg_errbuf *eb);
	/* A transaction: rows between begin and commit are durable together.
	 * SG_OK or SG_EIO. */
	int (*begin)(struct sg_sqlite_out *o);
	int (*commit)(struct sg_sqlite_out *o);
	/* Insert row; *dup when its (id, epoch) is there already.  SG_OK or SG_EIO. */
	int (*insert)(struct sg_sqlite_out *o, const struct sg_sink_row *row, bool *dup);
	void (*close)(struct sg_sqlite_out *o); /* NULL is fine */
};

/* The table, defined in the module (sqlite_out.c). */
extern const struct sg_sqlite_module sg_sqlite_module;

#endif
