/*
 * hold.c - the hold files of refused topics (see hold.h): one append-only
 * file of spool frames per topic, a window of the records a drain has in
 * flight, and the retry schedule.
 */
#include "hold.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "gateway/base/clock.h"
#include "gateway/base/log.h"
#include "gateway/base/mem.h"
#include "gateway/spool/frame.h"

#define HOLD_SUFFIX ".held"
#define HOLD_NAME   250 /* a topic name is at most 249 characters */

enum hold_state { HS_HELD, HS_PROBING, HS_DRAINING };
enum hold_slot { SLOT_SENT, SLOT_DONE, SLOT_FAILED };

struct hold_topic {
	char name[HOLD_NAME];
	int fd;
	uint64_t size;     /* bytes in the file */
	uint64_t last_seq; /* highest seq in the file */
	uint64_t records;  /* records after done_off */
	uint64_t done_off; /* the delivered prefix (bytes) */
	uint64_t read_off; /* the next record to send */
	uint64_t ndelivered;
	bool dirty, created;
	enum hold_state st;
	int64_t retry_at, backoff_ms;
	int err; /* the last refusal */
	struct {
		uint64_t end_off;
		uint8_t state; /* enum hold_slot */
	} win[SG_HOLD_WINDOW];
	size_t head, count, nsent;
	bool failed;
};

struct sg_hold {
	struct sg_hold_conf c;
	char dir[4096];
	struct hold_topic *t[SG_HOLD_MAX_TOPICS];
	size_t n;
	int active; /* the topic probing or draining, or -1 */
	uint64_t bytes;
	uint8_t *frame;     /* one frame: header + max_record */
	pthread_mutex_t mu; /* the summary below, for other threads */
	unsigned pub_topics;
	uint64_t pub_records;
	char pub_first[320];
};

static bool hold_name_ok(const char *s, size_t len)
{
	if (!len || len >= HOLD_NAME || (len <= 2 && s[0] == '.'))
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '_' || s[i] == '-'))
			return false;
	return true;
}

static void hold_publish(struct sg_hold *h)
{
	uint64_t records = 0;

	for (size_t i = 0; i < h->n; i++)
		records += h->t[i]->records;
	pthread_mutex_lock(&h->mu);
	h->pub_topics = (unsigned)h->n;
	h->pub_records = records;
	if (h->n)
		snprintf(h->pub_first, sizeof(h->pub_first), "topic %.250s: %s", h->t[0]->name,
			 h->t[0]->err ? rd_kafka_err2name((rd_kafka_resp_err_t)h->t[0]->err)
				      : "held since the last run");
	else
		h->pub_first[0] = '\0';
	pthread_mutex_unlock(&h->mu);
}

static int hold_fsync_dir(const struct sg_hold *h)
{
	int fd = open(h->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

static void hold_path(const struct sg_hold *h, const char *name, char *out, size_t n)
{
	snprintf(out, n, "%s/%s" HOLD_SUFFIX, h->dir, name);
}

/* --- reading a file ------------------------------------------------------ */

/* The frame at off: 1 (seq, payload in h->frame + header, *len), 0 at the
 * end of the file, -1 for a torn or corrupt frame. */
static int hold_read_frame(struct sg_hold *h, struct hold_topic *t, uint64_t off, uint64_t *seq,
			   uint32_t *len)
{
	uint32_t claimed;
	ssize_t r = pread(t->fd, h->frame, SG_SPOOL_FRAME_HDR, (off_t)off);

	if (r == 0)
		return 0;
	if (r != SG_SPOOL_FRAME_HDR)
		return -1;
	claimed = sg_frame_claimed_len(h->frame);
	if (claimed > h->c.max_record ||
	    pread(t->fd, h->frame + SG_SPOOL_FRAME_HDR, claimed,
		  (off_t)(off + SG_SPOOL_FRAME_HDR)) != (ssize_t)claimed)
		return -1;
	return sg_frame_check(h->frame, SG_SPOOL_FRAME_HDR + (size_t)claimed, h->c.max_record, seq,
			      len) == 1
		   ? 1
		   : -1;
}

/* Count a file's records; cut a torn or corrupt tail. */
static int hold_scan(struct sg_hold *h, struct hold_topic *t)
{
	uint64_t off = 0, seq;
	uint32_t len;
	int r;

	while ((r = hold_read_frame(h, t, off, &seq, &len)) == 1 && seq > t->last_seq) {
		t->last_seq = seq;
		t->records++;
		off += SG_SPOOL_FRAME_HDR + len;
	}
	if (r != 0) {
		sg_warn("producer",
			"held records of topic %s: a torn or corrupt tail after %" PRIu64
			" bytes is cut (%" PRIu64 " records kept)",
			t->name, off, t->records);
		if (ftruncate(t->fd, (off_t)off) != 0)
			return SG_EIO;
	}
	t->size = off;
	return SG_OK;
}

static struct hold_topic *hold_new_topic(struct sg_hold *h, const char *name, size_t len)
{
	struct hold_topic *t = sg_xcalloc(1, sizeof(*t));

	memcpy(t->name, name, len);
	t->name[len] = '\0';
	t->fd = -1;
	t->backoff_ms = SG_HOLD_RETRY_MS;
	h->t[h->n++] = t;
	return t;
}

static void hold_drop_topic(struct sg_hold *h, size_t i)
{
	struct hold_topic *t = h->t[i];

	if (t->fd >= 0)
		close(t->fd);
	free(t);
	memmove(&h->t[i], &h->t[i + 1], (h->n - i - 1) * sizeof(h->t[0]));
	h->n--;
	if (h->active == (int)i)
		h->active = -1;
	else if (h->active > (int)i)
		h->active--;
}

static int hold_load(struct sg_hold *h, const char *file, struct sg_errbuf *eb)
{
	size_t len = strlen(file) - strlen(HOLD_SUFFIX);
	struct hold_topic *t;
	char path[4400];

	if (!hold_name_ok(file, len) || h->n == SG_HOLD_MAX_TOPICS)
		return SG_OK; /* not ours */
	t = hold_new_topic(h, file, len);
	hold_path(h, t->name, path, sizeof(path));
	t->fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC);
	if (t->fd < 0 || hold_scan(h, t) != SG_OK)
		return sg_errf(eb, SG_EIO, "%s: %s", path, strerror(errno));
	h->bytes += t->size;
	if (!t->records) {
		unlink(path); /* drained just before a crash */
		h->bytes -= t->size;
		hold_drop_topic(h, h->n - 1);
		return SG_OK;
	}
	sg_info("producer",
		"%" PRIu64 " held records of topic %s from the last run: sent again once Kafka "
		"takes them",
		t->records, t->name);
	return SG_OK;
}

int sg_hold_open(const struct sg_hold_conf *hc, struct sg_hold **out, struct sg_errbuf *eb)
{
	struct sg_hold *h = sg_xcalloc(1, sizeof(*h));
	struct dirent *e;
	DIR *d;
	int rc = SG_OK;

	h->c = *hc;
	h->active = -1;
	snprintf(h->dir, sizeof(h->dir), "%s", hc->dir);
	h->frame = sg_xcalloc(1, SG_SPOOL_FRAME_HDR + (size_t)hc->max_record);
	pthread_mutex_init(&h->mu, NULL);
	if (mkdir(h->dir, 0700) != 0 && errno != EEXIST) {
		rc = sg_errf(eb, SG_EIO, "cannot make %s: %s", h->dir, strerror(errno));
	} else if (!(d = opendir(h->dir))) {
		rc = sg_errf(eb, SG_EIO, "cannot read %s: %s", h->dir, strerror(errno));
	} else {
		while (rc == SG_OK && (e = readdir(d))) {
			size_t n = strlen(e->d_name);
			if (n > strlen(HOLD_SUFFIX) &&
			    !strcmp(e->d_name + n - strlen(HOLD_SUFFIX), HOLD_SUFFIX))
				rc = hold_load(h, e->d_name, eb);
		}
		closedir(d);
	}
	if (rc != SG_OK) {
		sg_hold_close(h);
		return rc;
	}
	hold_publish(h);
	*out = h;
	return SG_OK;
}

void sg_hold_close(struct sg_hold *h)
{
	if (!h)
		return;
	while (h->n)
		hold_drop_topic(h, h->n - 1);
	pthread_mutex_destroy(&h->mu);
	free(h->frame);
	free(h);
}

/* --- holding -------------------------------------------------------------- */

static int hold_find(const struct sg_hold *h, const char *topic, size_t len)
{
	for (size_t i = 0; i < h->n; i++)
		if (!strncmp(h->t[i]->name, topic, len) && !h->t[i]->name[len])
			return (int)i;
	return -1;
}

bool sg_hold_is_held(const struct sg_hold *h, const char *topic, size_t len)
{
	return hold_find(h, topic, len) >= 0;
}

/* Wait longer before the next try (1 s doubling to SG_HOLD_BACKOFF_MS). */
static void hold_backoff(struct hold_topic *t, int64_t now_ns)
{
	t->st = HS_HELD;
	t->retry_at = now_ns + t->backoff_ms * SG_NS_PER_MS;
	t->backoff_ms =
	    t->backoff_ms * 2 > SG_HOLD_BACKOFF_MS ? SG_HOLD_BACKOFF_MS : t->backoff_ms * 2;
}

int sg_hold_refuse(struct sg_hold *h, const char *topic, size_t len, int err, int64_t now_ns)
{
	int i = hold_find(h, topic, len);
	struct hold_topic *t;
	char path[4400];

	if (i >= 0) {
		t = h->t[i];
		if (t->err != err)
			sg_warn("producer", "topic %s still refused: %s", t->name,
				rd_kafka_err2str((rd_kafka_resp_err_t)err));
		t->err = err;
		if (t->st == HS_PROBING && !t->nsent)
			hold_backoff(t, now_ns);
		hold_publish(h);
		return SG_OK;
	}
	if (!hold_name_ok(topic, len))
		return SG_EINVAL;
	if (h->n == SG_HOLD_MAX_TOPICS)
		return SG_ENOSPC;
	t = hold_new_topic(h, topic, len);
	hold_path(h, t->name, path, sizeof(path));
	t->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (t->fd < 0 || hold_scan(h, t) != SG_OK) {
		sg_error("producer", "cannot hold the records of topic %s: %s: %s", t->name, path,
			 strerror(errno));
		hold_drop_topic(h, h->n - 1);
		return SG_EIO;
	}
	h->bytes += t->size;
	t->created = true;
	t->err = err;
	hold_backoff(t, now_ns);
	sg_error("producer",
		 "topic %s refused by Kafka: %s: %s. Its events are kept in %s and sent again, "
		 "in order, once Kafka takes them (tried again after 1 s, then up to every %d s); "
		 "other topics go on (docs/security.md)",
		 t->name, rd_kafka_err2name((rd_kafka_resp_err_t)err),
		 rd_kafka_err2str((rd_kafka_resp_err_t)err), path, SG_HOLD_BACKOFF_MS / 1000);
	hold_publish(h);
	return SG_OK;
}

int sg_hold_put(struct sg_hold *h, const char *topic, size_t tlen, uint64_t seq, const void *rec,
		size_t len)
{
	int i = hold_find(h, topic, tlen);
	uint8_t hdr[SG_SPOOL_FRAME_HDR];
	struct iovec iov[2];
	struct hold_topic *t;
	ssize_t w;

	if (i < 0)
		return SG_ENOTFOUND;
	t = h->t[i];
	if (seq <= t->last_seq)
		return SG_OK; /* given again after a restart: it is here */
	if (len > h->c.max_record)
		return SG_EINVAL;
	if (h->bytes + SG_SPOOL_FRAME_HDR + len > h->c.max_bytes)
		return SG_ENOSPC;
	sg_frame_header(hdr, seq, rec, (uint32_t)len, false);
	iov[0] = (struct iovec){hdr, sizeof(hdr)};
	iov[1] = (struct iovec){(void *)rec, len};
	w = writev(t->fd, iov, 2);
	if (w != (ssize_t)(sizeof(hdr) + len)) {
		int e = w < 0 ? errno : ENOSPC;
		if (w > 0 && ftruncate(t->fd, (off_t)t->size) != 0)
			sg_error("producer", "held records of topic %s: cannot cut a short write",
				 t->name);
		errno = e;
		return SG_EIO;
	}
	t->size += (uint64_t)w;
	h->bytes += (uint64_t)w;
	t->last_seq = seq;
	t->records++;
	t->dirty = true;
	return SG_OK;
}

int sg_hold_sync(struct sg_hold *h)
{
	bool created = false, wrote = false;

	for (size_t i = 0; i < h->n; i++) {
		struct hold_topic *t = h->t[i];
		if (t->dirty && fdatasync(t->fd) != 0)
			return SG_EIO;
		wrote |= t->dirty;
		t->dirty = false;
		created |= t->created;
		t->created = false;
	}
	if (created && hold_fsync_dir(h) != 0)
		return SG_EIO;
	if (wrote)
		hold_publish(h);
	return SG_OK;
}

/* --- sending again -------------------------------------------------------- */

/* The topic to probe now, or -1. */
static int hold_due(const struct sg_hold *h, int64_t now_ns)
{
	for (size_t i = 0; i < h->n; i++)
		if (h->t[i]->st == HS_HELD && h->t[i]->retry_at <= now_ns)
			return (int)i;
	return -1;
}

bool sg_hold_next(struct sg_hold *h, int64_t now_ns, uint64_t *seq, struct sg_buf *rec,
		  uint32_t *token)
{
	struct hold_topic *t;
	uint32_t len;
	int r;

	if (h->active < 0) {
		if ((h->active = hold_due(h, now_ns)) < 0)
			return false;
		t = h->t[h->active];
		t->st = HS_PROBING;
		t->read_off = t->done_off;
	}
	t = h->t[h->active];
	if (t->failed || t->count == SG_HOLD_WINDOW || (t->st == HS_PROBING && t->count))
		return false;
	r = hold_read_frame(h, t, t->read_off, seq, &len);
	if (r != 1) {
		if (r < 0)
			sg_error("producer", "held records of topic %s: unreadable at %" PRIu64,
				 t->name, t->read_off);
		return false;
	}
	sg_buf_reset(rec);
	sg_buf_add(rec, h->frame + SG_SPOOL_FRAME_HDR, len);
	if (rec->oom)
		return false;
	t->read_off += SG_SPOOL_FRAME_HDR + len;
	t->win[(t->head + t->count) % SG_HOLD_WINDOW].end_off = t->read_off;
	t->win[(t->head + t->count) % SG_HOLD_WINDOW].state = SLOT_SENT;
	*token = (uint32_t)((t->head + t->count) % SG_HOLD_WINDOW) + 1;
	t->count++;
	t->nsent++;
	return true;
}

/* Every record of the topic is delivered: delete its file. */
static void hold_drained(struct sg_hold *h)
{
	struct hold_topic *t = h->t[h->active];
	char path[4400];

	hold_path(h, t->name, path, sizeof(path));
	sg_info("producer", "topic %s is taken again: %" PRIu64 " held events delivered", t->name,
		t->ndelivered);
	if (unlink(path) != 0)
		sg_error("producer", "cannot delete %s: %s", path, strerror(errno));
	h->bytes -= t->size;
	hold_drop_topic(h, (size_t)h->active);
}

/* Move the delivered prefix; settle a failure once nothing is in flight. */
static void hold_advance(struct sg_hold *h, struct hold_topic *t, int64_t now_ns)
{
	while (t->count && t->win[t->head].state == SLOT_DONE) {
		t->done_off = t->win[t->head].end_off;
		t->records--;
		t->head = (t->head + 1) % SG_HOLD_WINDOW;
		t->count--;
	}
	if (t->nsent)
		return;
	if (t->failed) {
		t->failed = false;
		t->count = 0;
		t->read_off = t->done_off;
		hold_backoff(t, now_ns);
		h->active = -1;
	} else if (!t->count && t->done_off == t->size) {
		hold_drained(h);
	}
}

void sg_hold_result(struct sg_hold *h, uint32_t token, enum sg_hold_outcome what, int err,
		    int64_t now_ns)
{
	struct hold_topic *t;
	size_t slot = token - 1;

	if (h->active < 0 || !token || token > SG_HOLD_WINDOW)
		return;
	t = h->t[h->active];
	if (t->win[slot].state != SLOT_SENT)
		return;
	t->nsent--;
	if (what == SG_HOLD_FAILED) {
		t->win[slot].state = SLOT_FAILED;
		t->failed = true;
		if (err)
			t->err = err;
	} else {
		t->win[slot].state = SLOT_DONE;
		t->ndelivered += what == SG_HOLD_DELIVERED;
		if (t->st == HS_PROBING) {
			t->st = HS_DRAINING;
			t->backoff_ms = SG_HOLD_RETRY_MS;
			sg_info("producer",
				"topic %s: Kafka takes its records again; sending the "
				"%" PRIu64 " held",
				t->name, t->records);
		}
	}
	hold_advance(h, t, now_ns);
	hold_publish(h);
}

void sg_hold_counts(const struct sg_hold *h, unsigned *topics, uint64_t *records, char *first,
		    size_t n)
{
	struct sg_hold *m = (struct sg_hold *)h; /* the mutex only */

	pthread_mutex_lock(&m->mu);
	*topics = h->pub_topics;
	*records = h->pub_records;
	if (first && n)
		snprintf(first, n, "%s", h->pub_first);
	pthread_mutex_unlock(&m->mu);
}
