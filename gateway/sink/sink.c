/*
 * sink.c - `sensorgate sink`: the other half of Kafka.  A consumer in a
 * consumer group reads the gateway's topics and writes every record to a
 * file (JSON lines), a SQLite database or stdout.  The loop and the
 * writers live here; the arguments are parsed in gateway/cli/cli_sink.c.
 *
 * Delivery: offsets are committed only after the records up to them are
 * written (and, for files, fsynced; for SQLite, committed), so a crash
 * re-reads at most the uncommitted tail: at-least-once.  The SQLite sink
 * makes it effectively exactly-once: the event id (header sg-id) with the
 * spool epoch (header sg-epoch) is the primary key and duplicates are
 * ignored; the epoch keeps the events of a new spool (seqs from 1 again
 * after an SD card was reflashed) from being taken for old ones.  Records
 * without an event id (not from a sensorgate) are stored with their
 * topic/partition/offset.  The SQLite output is the loadable module
 * sensorgate-sqlite.so (sqlite_out.h), loaded when the target is SQLite;
 * Avro decoding loads sensorgate-avro.so (decoder.h).
 */
#include "sink.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "gateway/base/buf.h"
#include "gateway/base/clock.h"
#include "gateway/base/log.h"
#include "gateway/base/mem.h"
#include "gateway/kafka/client.h"
#include "gateway/schema/decoder.h"
#include "gateway/schema/encoder.h"
#include "sqlite_out.h"

/* Records per durable batch: written, flushed, then committed. */
#define SINK_BATCH 1000
/* Before the first record the group join and (for regexes) topic
 * discovery take a while: --idle-exit waits at least this long. */
#define SINK_FIRST_IDLE_S 30

enum sink_kind { SINK_STDOUT, SINK_FILE, SINK_SQLITE };

struct sink {
	enum sink_kind kind;
	const char *path;
	FILE *fp;
	const struct sg_sqlite_module *sq; /* SINK_SQLITE: the module, and its output */
	struct sg_sqlite_out *db;
	uint64_t written, duplicates;
	struct sg_buf line;
	struct sg_schema_dec *dec; /* Avro values and keys, or NULL */
	struct sg_buf key, val;    /* their text */
};

static const char *hdr(rd_kafka_message_t *m, const char *name, size_t *len)
{
	rd_kafka_headers_t *h = NULL;
	const void *v;

	if (rd_kafka_message_headers(m, &h) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return NULL;
	if (rd_kafka_header_get_last(h, name, &v, len) != RD_KAFKA_RESP_ERR_NO_ERROR)
		return NULL;
	return v;
}

static int sink_open(struct sink *s, const struct sg_registry_conf *rc, struct sg_errbuf *eb)
{
	sg_buf_init(&s->line);
	sg_buf_init(&s->key);
	sg_buf_init(&s->val);
	if (rc && rc->url && sg_schema_dec_new(rc, &s->dec, eb) != SG_OK)
		return SG_ECONFIG;
	if (s->kind == SINK_STDOUT) {
		s->fp = stdout;
		return SG_OK;
	}
	if (s->kind == SINK_FILE) {
		int fd = open(s->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		s->fp = fd >= 0 ? fdopen(fd, "a") : NULL;
		if (!s->fp && fd >= 0)
			close(fd);
		return s->fp ? SG_OK
			     : sg_errf(eb, SG_EIO, "cannot open %s: %s", s->path, strerror(errno));
	}
	return s->sq->open(s->path, &s->db, eb);
}

static int sink_begin(struct sink *s)
{
	return s->db ? s->sq->begin(s->db) : SG_OK;
}

/* Make everything written so far durable.  Only then are offsets committed. */
static int sink_flush(struct sink *s)
{
	if (s->db)
		return s->sq->commit(s->db);
	if (fflush(s->fp) != 0)
		return SG_EIO;
	if (s->kind == SINK_FILE && fsync(fileno(s->fp)) != 0)
		return SG_EIO;
	return SG_OK;
}

/* Avro (content-type Avro, or none at all as from other producers'
 * serializers) as text in s->key/s->val: *key, *val point at what to
 * write.  SG_OK, or SG_EIO when a record cannot be decoded (logged). */
/* The envelope rendered from an Avro event lacks the spool epoch, which
 * the Avro record carries in its sg-epoch header only: put it where the
 * JSON format has it, after "seq", so both formats sink to the same text. */
static void sink_add_epoch(struct sg_buf *env, const char *ep, size_t epl)
{
	const char *seq = memmem(env->p, env->len, ",\"seq\":", 7), *end;
	size_t at;

	if (!ep || !seq || memmem(env->p, env->len, ",\"epoch\":", 9))
		return;
	for (end = seq + 7; end < env->p + env->len && *end >= '0' && *end <= '9'; end++)
		;
	at = (size_t)(end - env->p);
	if (!sg_buf_reserve(env, epl + 11))
		return;
	memmove(env->p + at + epl + 11, env->p + at, env->len - at);
	memcpy(env->p + at, ",\"epoch\":\"", 10);
	memcpy(env->p + at + 10, ep, epl);
	env->p[at + 10 + epl] = '"';
	env->len += epl + 11;
}

static int sink_decode(struct sink *s, rd_kafka_message_t *m, const void **key, size_t *kl,
		       const void **val, size_t *vl)
{
	size_t ctl = 0;
	const char *ct = hdr(m, "content-type", &ctl);
	struct sg_errbuf eb;
	int rc;

	if (!s->dec ||
	    (ct && (ctl != strlen(SG_CONTENT_TYPE_AVRO) || memcmp(ct, SG_CONTENT_TYPE_AVRO, ctl))))
		return SG_OK;
	rc = sg_schema_dec_text(s->dec, *val, *vl, &s->val, &eb);
	if (rc == SG_OK) {
		size_t epl = 0;
		const char *ep = hdr(m, "sg-epoch", &epl);

		sink_add_epoch(&s->val, ep, epl);
		*val = s->val.p, *vl = s->val.len;
		rc = sg_schema_dec_text(s->dec, *key, *kl, &s->key, &eb);
		if (rc == SG_OK)
			*key = s->key.p, *kl = s->key.len;
	}
	if (rc == SG_OK || rc == SG_ENOTFOUND)
		return SG_OK;
	sg_error("sink", "%s/%d/%" PRId64 ": cannot decode the Avro record: %s",
		 rd_kafka_topic_name(m->rkt), (int)m->partition, m->offset, eb.msg);
	return SG_EIO;
}

static int sink_write(struct sink *s, rd_kafka_message_t *m)
{
	size_t idl = 0, srcl = 0, epl = 0;
	const char *id = hdr(m, "sg-id", &idl), *src = hdr(m, "sg-source", &srcl);
	const char *ep = hdr(m, "sg-epoch", &epl);
	char idbuf[160];
	rd_kafka_timestamp_type_t tst;
	int64_t ts = rd_kafka_message_timestamp(m, &tst);
	const void *key = m->key, *val = m->payload;
	size_t kl = m->key_len, vl = m->len;

	if (sink_decode(s, m, &key, &kl, &val, &vl) != SG_OK)
		return SG_EIO;

	if (!id) { /* not ours: identify it by its position */
		idl = (size_t)snprintf(idbuf, sizeof(idbuf), "%s/%d/%" PRId64,
				       rd_kafka_topic_name(m->rkt), (int)m->partition, m->offset);
		id = idbuf;
	}
	if (s->db) {
		const struct sg_sink_row row = {
		    .id = id,
		    .id_len = idl,
		    .topic = rd_kafka_topic_name(m->rkt),
		    .partition = m->partition,
		    .offset = m->offset,
		    .key = key,
		    .key_len = kl,
		    .ts_ms = ts,
		    .source = src,
		    .source_len = srcl,
		    .value = val,
		    .value_len = vl,
		    .epoch = ep,
		    .epoch_len = epl,
		};
		bool dup = false;

		if (s->sq->insert(s->db, &row, &dup) != SG_OK)
			return SG_EIO;
		if (dup)
			s->duplicates++;
		else
			s->written++;
		return SG_OK;
	}
	sg_buf_reset(&s->line);
	sg_buf_adds(&s->line, "{\"id\":");
	sg_buf_add_json_str(&s->line, id, idl);
	if (ep) {
		sg_buf_adds(&s->line, ",\"epoch\":");
		sg_buf_add_json_str(&s->line, ep, epl);
	}
	sg_buf_adds(&s->line, ",\"topic\":");
	sg_buf_add_json_str(&s->line, rd_kafka_topic_name(m->rkt),
			    strlen(rd_kafka_topic_name(m->rkt)));
	sg_buf_printf(&s->line,
		      ",\"partition\":%d,\"offset\":%" PRId64 ",\"ts_ms\":%" PRId64 ",\"key\":",
		      (int)m->partition, m->offset, ts);
	sg_buf_add_json_str(&s->line, key ? key : "", kl);
	sg_buf_adds(&s->line, ",\"value\":");
	sg_buf_add_json_str(&s->line, val ? val : "", vl);
	sg_buf_adds(&s->line, "}\n");
	if (s->line.oom || fwrite(s->line.p, 1, s->line.len, s->fp) != s->line.len)
		return SG_EIO;
	s->written++;
	return SG_OK;
}

static void sink_close(struct sink *s)
{
	if (s->db)
		s->sq->close(s->db);
	if (s->fp && s->fp != stdout)
		fclose(s->fp);
	sg_buf_free(&s->line);
	sg_buf_free(&s->key);
	sg_buf_free(&s->val);
	sg_schema_dec_free(s->dec);
}

static int sink_consumer(const struct sg_sink_opts *o, rd_kafka_t **rk, struct sg_errbuf *eb)
{
	const struct sg_kafka_opts ko = {
	    .kind = SG_KAFKA_CONSUMER,
	    .who = "sink",
	    .bootstrap = o->bootstrap,
	    .bootstrap_key = o->bootstrap_key ? o->bootstrap_key : "-b",
	    .client_id = "sensorgate-sink",
	    .props = o->props,
	    .overrides = o->overrides,
	    .security = o->security,
	    .security_key = o->security_key,
	    .group = o->group,
	    .group_key = "-g",
	    .from_beginning = o->from_beginning,
	    .metadata_refresh_ms = 5000,
	    /* A sink that died is noticed by the group in 10 s, not 45. */
	    .session_timeout_ms = 10000,
	};
	int rc;

	if ((rc = sg_kafka_new(&ko, rk, eb)) != SG_OK)
		return rc;
	if ((rc = sg_kafka_subscribe(*rk, o->topics, o->ntopics, eb)) != SG_OK) {
		rd_kafka_destroy(*rk);
		*rk = NULL;
	}
	return rc;
}

/* Idle: SEC after the last record, at least SINK_FIRST_IDLE_S before the first. */
static int64_t sink_idle_s(const struct sink *s, int64_t idle_exit)
{
	if (s->written + s->duplicates || idle_exit > SINK_FIRST_IDLE_S)
		return idle_exit;
	return SINK_FIRST_IDLE_S;
}

/* Consume until a signal, --count or --idle-exit.  Commits after each
 * durable batch. */
static int sink_loop(rd_kafka_t *rk, struct sink *s, uint64_t count, int64_t idle_exit)
{
	sigset_t ss;
	int sfd, rc = 0;
	int64_t last = sg_now_mono_ns();
	uint64_t batch = 0;

	sigemptyset(&ss);
	sigaddset(&ss, SIGINT);
	sigaddset(&ss, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &ss, NULL);
	sfd = signalfd(-1, &ss, SFD_CLOEXEC | SFD_NONBLOCK);
	sink_begin(s);
	for (;;) {
		struct signalfd_siginfo si;
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);

		if (read(sfd, &si, sizeof(si)) > 0) {
			/* Not written, so not committed: the group reads it again.
			 * A message kept past the consumer's close would make
			 * rd_kafka_destroy() wait for it for good. */
			if (m)
				rd_kafka_message_destroy(m);
			break;
		}
		if (m && m->err) {
			if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
				sg_warn("sink", "consumer: %s", rd_kafka_message_errstr(m));
			rd_kafka_message_destroy(m);
			m = NULL;
		}
		if (m) {
			if (sink_write(s, m) != SG_OK) {
				sg_error("sink",
					 "write failed at %s/%d/%" PRId64 ": offsets not committed",
					 rd_kafka_topic_name(m->rkt), (int)m->partition, m->offset);
				rd_kafka_message_destroy(m);
				rc = 1;
				break;
			}
			rd_kafka_message_destroy(m);
			batch++;
			last = sg_now_mono_ns();
		}
		/* Commit when idle or every 1000 records, after the write is durable. */
		if (batch && (!m || batch >= SINK_BATCH)) {
			if (sink_flush(s) != SG_OK) {
				sg_error("sink", "flush to %s failed: offsets not committed",
					 s->path);
				rc = 1;
				break;
			}
			rd_kafka_commit(rk, NULL, 0);
			batch = 0;
			sink_begin(s);
		}
		/* --count: stop at exactly count records; the batch is flushed
		 * and committed below. */
		if (count && s->written + s->duplicates >= count)
			break;
		if (idle_exit && sg_now_mono_ns() - last > sink_idle_s(s, idle_exit) * SG_NS_PER_S)
			break;
	}
	if (batch && sink_flush(s) == SG_OK)
		rd_kafka_commit(rk, NULL, 0);
	else if (s->db)
		s->sq->commit(s->db);
	close(sfd);
	return rc;
}

static int sink_target(struct sink *s, const char *to, struct sg_errbuf *eb)
{
	if (!strcmp(to, "stdout"))
		s->kind = SINK_STDOUT;
	else if (!strncmp(to, "file:", 5) && to[5])
		s->kind = SINK_FILE, s->path = to + 5;
	else if (!strncmp(to, "sqlite:", 7) && to[7])
		s->kind = SINK_SQLITE, s->path = to + 7;
	else
		return sg_errf(eb, SG_EINVAL,
			       "unknown target '%s' (stdout, file:PATH, sqlite:PATH)", to);
	if (s->kind == SINK_SQLITE &&
	    !(s->sq = sg_module_table(SG_SQLITE_MODULE_FILE, SG_SQLITE_MODULE_TABLE,
				      SG_SQLITE_MODULE_ABI, sizeof(struct sg_sqlite_module),
				      "--to sqlite:PATH", eb)))
		return SG_ECONFIG;
	return SG_OK;
}

int sg_sink_run(const struct sg_sink_opts *o, struct sg_errbuf *eb)
{
	struct sink s = {0};
	rd_kafka_t *rk;
	int rc;

	/* The arguments first (target, properties), then the file. */
	if ((rc = sink_target(&s, o->to, eb)) != SG_OK)
		return rc;
	if ((rc = sink_consumer(o, &rk, eb)) != SG_OK)
		return rc;
	if ((rc = sink_open(&s, o->registry, eb)) != SG_OK) {
		rd_kafka_destroy(rk);
		sink_close(&s);
		return rc;
	}
	rc = sink_loop(rk, &s, o->count, o->idle_exit_s) ? SG_EIO : SG_OK;
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	sg_info("sink", "%" PRIu64 " records written, %" PRIu64 " duplicates ignored", s.written,
		s.duplicates);
	sink_close(&s);
	return rc;
}
