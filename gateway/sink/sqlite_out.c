/*
 * sqlite_out.c - sensorgate-sqlite.so (sqlite_out.h): the events table,
 * its conversion from the previous release, and the insert that ignores
 * duplicates (the event id with the spool epoch is the primary key).
 */
#include "sqlite_out.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway/base/log.h"
#include "gateway/base/mem.h"

struct sg_sqlite_out {
	sqlite3 *db;
	sqlite3_stmt *ins;
};

/* The events table, keyed by (id, epoch).  A database of the previous
 * release (keyed by id alone) is converted once, its rows with epoch ''. */
static int out_table(sqlite3 *db)
{
	static const char create[] =
	    "CREATE TABLE IF NOT EXISTS events ("
	    " id TEXT NOT NULL, topic TEXT, partition INTEGER, offset INTEGER,"
	    " key TEXT, ts_ms INTEGER, source TEXT, value BLOB, epoch TEXT NOT NULL DEFAULT '',"
	    " PRIMARY KEY (id, epoch));";
	sqlite3_stmt *st = NULL;
	bool old = false, has_epoch = false;
	int rc = sqlite3_exec(db, "PRAGMA journal_mode=WAL;", NULL, NULL, NULL);

	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, "SELECT name FROM pragma_table_info('events')", -1, &st,
					NULL);
	while (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
		old = true;
		has_epoch |= !strcmp((const char *)sqlite3_column_text(st, 0), "epoch");
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_OK)
		return rc;
	if (!old || has_epoch)
		return sqlite3_exec(db, create, NULL, NULL, NULL);
	sg_info("sink", "converting the events table: its key becomes (id, epoch)");
	rc = sqlite3_exec(db, "BEGIN; ALTER TABLE events RENAME TO events_v1;", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, create, NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(
		    db,
		    "INSERT INTO events SELECT id, topic, partition, offset, key, ts_ms,"
		    " source, value, '' FROM events_v1; DROP TABLE events_v1; COMMIT;",
		    NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

static void out_close(struct sg_sqlite_out *o)
{
	if (!o)
		return;
	sqlite3_finalize(o->ins);
	sqlite3_close(o->db);
	free(o);
}

static int out_open(const char *path, struct sg_sqlite_out **out, struct sg_errbuf *eb)
{
	struct sg_sqlite_out *o;
	int fd, rc = SG_OK;

	*out = NULL;
	/* SQLite creates the database with 0644 (and gives -wal and -shm
	 * the database's mode): make it 0600 first. */
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
		return sg_errf(eb, SG_EIO, "sqlite %s: %s", path, strerror(errno));
	close(fd);
	o = sg_xcalloc(1, sizeof(*o));
	if (sqlite3_open(path, &o->db) != SQLITE_OK || out_table(o->db) != SQLITE_OK ||
	    sqlite3_prepare_v2(o->db, "INSERT OR IGNORE INTO events VALUES (?,?,?,?,?,?,?,?,?)", -1,
			       &o->ins, NULL) != SQLITE_OK) {
		rc = sg_errf(eb, SG_EIO, "sqlite %s: %s", path,
			     o->db ? sqlite3_errmsg(o->db) : "out of memory");
		out_close(o);
		return rc;
	}
	*out = o;
	return SG_OK;
}

static int out_begin(struct sg_sqlite_out *o)
{
	return sqlite3_exec(o->db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK ? SG_OK : SG_EIO;
}

static int out_commit(struct sg_sqlite_out *o)
{
	return sqlite3_exec(o->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK ? SG_OK : SG_EIO;
}

static int out_insert(struct sg_sqlite_out *o, const struct sg_sink_row *r, bool *dup)
{
	sqlite3_stmt *st = o->ins;

	sqlite3_reset(st);
	sqlite3_bind_text(st, 1, r->id, (int)r->id_len, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, r->topic, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(st, 3, (int)r->partition);
	sqlite3_bind_int64(st, 4, r->offset);
	sqlite3_bind_text(st, 5, r->key ? r->key : "", (int)r->key_len, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 6, r->ts_ms);
	sqlite3_bind_text(st, 7, r->source ? r->source : "", (int)r->source_len, SQLITE_TRANSIENT);
	sqlite3_bind_blob(st, 8, r->value, (int)r->value_len, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 9, r->epoch ? r->epoch : "", (int)r->epoch_len, SQLITE_TRANSIENT);
	if (sqlite3_step(st) != SQLITE_DONE)
		return SG_EIO;
	*dup = sqlite3_changes(o->db) == 0;
	return SG_OK;
}

const struct sg_sqlite_module sg_sqlite_module = {
    .head = {.abi = SG_SQLITE_MODULE_ABI,
	     .size = sizeof(struct sg_sqlite_module),
	     .version = SG_VERSION},
    .open = out_open,
    .begin = out_begin,
    .commit = out_commit,
    .insert = out_insert,
    .close = out_close,
};
