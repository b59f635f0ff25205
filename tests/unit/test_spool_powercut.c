/*
 * test_spool_powercut.c - power cuts simulated through the spool's I/O
 * seam, in the manner of SQLite's crash tests.  A workload runs against
 * a real directory while a recording seam logs every call that changes
 * it (writes with their bytes, truncations, fsyncs, creations, renames,
 * unlinks, directory syncs) together with what the spool promised
 * (appends returned, acks given).  Then, for thousands of random cut
 * points, the disk as a power cut could leave it is built in a fresh
 * directory: everything synced before the cut, plus, for what was not,
 * a random choice — lost, kept, or torn at a sector — of each write since
 * the file's last fsync, and a random prefix of the directory operations
 * since the last directory sync.  The spool is opened on it under another
 * boot id, and must:
 *   - open;
 *   - hold every record synced before the cut and not yet acked (it may
 *     lose only what the fsync window allows);
 *   - hold no record whose bytes differ from what was appended with its
 *     seq, and return records in increasing seq order;
 *   - never issue a seq again: the next append gets a seq above every seq
 *     an append returned before the cut (the producer may have sent it);
 *   - never claim more delivered than was acked.
 * A process crash (the page cache kept every call, same boot) is cut the
 * same way and must lose nothing appended and issue no seq twice, without
 * a gap.  SG_POWERCUTS sets the number of cuts per workload (default
 * 1000, two workloads; `make fuzz` runs 20,000 each).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "gateway/base/clock.h"
#include "gateway/spool/frame.h"
#include "gateway/spool/spool.h"
#include "t.h"

/* --- the log ------------------------------------------------------------ */

enum op_kind {
	OP_WRITE,   /* ino, off, data */
	OP_TRUNC,   /* ino, off = new size */
	OP_FSYNC,   /* ino */
	OP_CREATE,  /* name, ino (a new, empty file) */
	OP_RENAME,  /* name -> to */
	OP_UNLINK,  /* name */
	OP_DIRSYNC, /* the directory's entries are durable */
	OP_APPEND,  /* the spool returned seq (promise: no loss on a crash) */
	OP_ACK,     /* the producer acked seq */
};

struct op {
	enum op_kind kind;
	uint64_t ino;
	int64_t off;
	uint8_t *data;
	size_t len;
	char name[64], to[64];
	uint64_t seq;
	int64_t t; /* monotonic ns when logged */
};

static struct {
	pthread_mutex_t mu;
	const char *dir;
	size_t dirlen;
	struct op *v;
	size_t n, cap;
	bool on;
} lg = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* Payload of seq: its bytes are a function of the seq (checked after). */
static size_t payload_of(uint64_t seq, uint8_t *out)
{
	size_t n = 24 + (size_t)((seq * 2654435761u) % 300);

	for (size_t i = 0; i < n; i++)
		out[i] = (uint8_t)(seq * 31 + i * 7);
	memcpy(out, &seq, sizeof(seq));
	return n;
}

static struct op *log_add(enum op_kind k)
{
	struct op *o;

	if (lg.n == lg.cap) {
		lg.cap = lg.cap ? lg.cap * 2 : 4096;
		lg.v = realloc(lg.v, lg.cap * sizeof(*lg.v));
	}
	o = &lg.v[lg.n++];
	memset(o, 0, sizeof(*o));
	o->kind = k;
	o->t = sg_now_mono_ns();
	return o;
}

/* The name of path inside the spool directory, or NULL (elsewhere). */
static const char *rel(const char *path)
{
	if (strncmp(path, lg.dir, lg.dirlen) || path[lg.dirlen] != '/')
		return NULL;
	return path + lg.dirlen + 1;
}

static uint64_t ino_of_fd(int fd)
{
	struct stat st;
	return fstat(fd, &st) == 0 ? (uint64_t)st.st_ino : 0;
}

/* --- the recording seam --------------------------------------------------- */

static int rec_open(const char *path, int flags, mode_t mode)
{
	const char *r = rel(path);
	bool existed = access(path, F_OK) == 0;
	int fd = open(path, flags, mode);

	if (fd < 0 || !lg.on || !r)
		return fd;
	pthread_mutex_lock(&lg.mu);
	if (!existed) {
		struct op *o = log_add(OP_CREATE);
		snprintf(o->name, sizeof(o->name), "%s", r);
		o->ino = ino_of_fd(fd);
	} else if (flags & O_TRUNC) {
		struct op *o = log_add(OP_TRUNC);
		o->ino = ino_of_fd(fd);
	}
	pthread_mutex_unlock(&lg.mu);
	return fd;
}

static ssize_t rec_writev(int fd, const struct iovec *iov, int cnt)
{
	ssize_t w;
	struct stat st;
	int64_t off = fstat(fd, &st) == 0 ? st.st_size : 0; /* O_APPEND */

	pthread_mutex_lock(&lg.mu); /* the offset and the write, together */
	w = writev(fd, iov, cnt);
	if (w > 0 && lg.on) {
		struct op *o = log_add(OP_WRITE);
		size_t k = 0;
		o->ino = (uint64_t)st.st_ino;
		o->off = off;
		o->len = (size_t)w;
		o->data = malloc((size_t)w);
		for (int i = 0; i < cnt && k < (size_t)w; i++) {
			size_t c = iov[i].iov_len < (size_t)w - k ? iov[i].iov_len : (size_t)w - k;
			memcpy(o->data + k, iov[i].iov_base, c);
			k += c;
		}
	}
	pthread_mutex_unlock(&lg.mu);
	return w;
}

static ssize_t rec_pwrite(int fd, const void *p, size_t n, off_t off)
{
	ssize_t w;

	pthread_mutex_lock(&lg.mu);
	w = pwrite(fd, p, n, off);
	if (w > 0 && lg.on) {
		struct op *o = log_add(OP_WRITE);
		o->ino = ino_of_fd(fd);
		o->off = off;
		o->len = (size_t)w;
		o->data = malloc((size_t)w);
		memcpy(o->data, p, (size_t)w);
	}
	pthread_mutex_unlock(&lg.mu);
	return w;
}

static int rec_ftruncate(int fd, off_t len)
{
	int rc;

	pthread_mutex_lock(&lg.mu);
	rc = ftruncate(fd, len);
	if (rc == 0 && lg.on) {
		struct op *o = log_add(OP_TRUNC);
		o->ino = ino_of_fd(fd);
		o->off = len;
	}
	pthread_mutex_unlock(&lg.mu);
	return rc;
}

static int rec_fdatasync(int fd)
{
	/* Recorded before the call returns to the spool: what it covers is
	 * what was written before it. */
	pthread_mutex_lock(&lg.mu);
	if (lg.on)
		log_add(OP_FSYNC)->ino = ino_of_fd(fd);
	pthread_mutex_unlock(&lg.mu);
	return 0; /* the model decides what is durable; no real sync needed */
}

static int rec_fsync_dir(const char *dir)
{
	(void)dir;
	pthread_mutex_lock(&lg.mu);
	if (lg.on)
		log_add(OP_DIRSYNC);
	pthread_mutex_unlock(&lg.mu);
	return 0;
}

static int rec_rename(const char *from, const char *to)
{
	int rc;

	pthread_mutex_lock(&lg.mu);
	rc = rename(from, to);
	if (rc == 0 && lg.on && rel(from) && rel(to)) {
		struct op *o = log_add(OP_RENAME);
		snprintf(o->name, sizeof(o->name), "%s", rel(from));
		snprintf(o->to, sizeof(o->to), "%s", rel(to));
	}
	pthread_mutex_unlock(&lg.mu);
	return rc;
}

static int rec_unlink(const char *path)
{
	int rc;

	pthread_mutex_lock(&lg.mu);
	rc = unlink(path);
	if (rc == 0 && lg.on && rel(path))
		snprintf(log_add(OP_UNLINK)->name, sizeof(lg.v[0].name), "%s", rel(path));
	pthread_mutex_unlock(&lg.mu);
	return rc;
}

static uint8_t boot_now = 1;

static int rec_boot_id(uint8_t out[16])
{
	memset(out, boot_now, 16);
	return 0;
}

static void seam_record(void)
{
	sg_spool_io = sg_spool_io_default;
	sg_spool_io.open = rec_open;
	sg_spool_io.writev = rec_writev;
	sg_spool_io.pwrite = rec_pwrite;
	sg_spool_io.ftruncate = rec_ftruncate;
	sg_spool_io.fdatasync = rec_fdatasync;
	sg_spool_io.fsync_dir = rec_fsync_dir;
	sg_spool_io.rename = rec_rename;
	sg_spool_io.unlink = rec_unlink;
	sg_spool_io.boot_id = rec_boot_id;
}

static void log_promise(enum op_kind k, uint64_t seq)
{
	pthread_mutex_lock(&lg.mu);
	log_add(k)->seq = seq;
	pthread_mutex_unlock(&lg.mu);
}

/* --- the workload ----------------------------------------------------- */

static struct sg_spool_conf conf_for(const char *dir, int64_t fsync_ms)
{
	struct sg_spool_conf c = {0};

	c.dir = (char *)dir;
	c.fsync_ms = fsync_ms;
	c.max_bytes = 64 << 20;
	/* always: rolls often; an interval: the flusher alone syncs within
	 * the window (a roll, which syncs too, comes rarely). */
	c.segment_bytes = fsync_ms > 0 ? 1 << 20 : 16384;
	c.when_full = SG_FULL_BLOCK;
	c.ack_interval_ms = 3;
	c.max_record_bytes = 4096;
	return c;
}

static struct sg_spool *open_ok(struct sg_spool_conf *c)
{
	struct sg_spool *sp = NULL;
	struct sg_errbuf eb;

	if (sg_spool_open(c, &sp, &eb) != SG_OK) {
		t_fail(__FILE__, __LINE__, "open: %s", eb.msg);
		return NULL;
	}
	return sp;
}

/* Appends, reads, acks (some late), syncs, checkpoints, one reopen. */
static void workload(const char *dir, int64_t fsync_ms, int n)
{
	struct sg_spool_conf c = conf_for(dir, fsync_ms);
	struct sg_spool *sp;
	struct sg_spool_stats st;
	struct sg_buf b;
	uint8_t p[512];
	uint64_t seq, read_hi = 0;

	lg.dir = dir;
	lg.dirlen = strlen(dir);
	lg.on = true;
	seam_record();
	sg_buf_init(&b);
	sp = open_ok(&c);
	for (int i = 0; sp && i < n; i++) {
		sg_spool_stats(sp, &st);
		if (sg_spool_append(sp, p, payload_of(st.next_seq, p), &seq) == SG_OK)
			log_promise(OP_APPEND, seq);
		if (i % 37 == 0)
			while (sg_spool_read(sp, &seq, &b) == SG_OK)
				read_hi = seq;
		if (i % 53 == 0 && read_hi > 600) {
			/* Acks lag far behind (Kafka slow), so much of what the
			 * promises cover is not delivered yet when the power goes. */
			uint64_t a = read_hi - 600 + (uint64_t)(i % 5);
			log_promise(OP_ACK, a);
			sg_spool_ack(sp, a);
		}
		if (i % 211 == 0)
			sg_spool_checkpoint(sp);
		if (fsync_ms <= 0 && i % 97 == 0)
			sg_spool_sync(sp);
		if (fsync_ms > 0)
			usleep(600); /* long enough for the window to matter */
		if (i == n / 2) {    /* a clean restart, recovery in the log */
			sg_spool_close(sp);
			sp = open_ok(&c);
			read_hi = 0;
		}
	}
	if (sp)
		sg_spool_close(sp);
	sg_buf_free(&b);
	lg.on = false;
	sg_spool_io = sg_spool_io_default;
}

/* --- the model: what a cut at op k leaves -------------------------------- */

struct file {
	uint64_t ino;
	uint8_t *dur; /* synced content */
	size_t len, cap;
	size_t *pend; /* op indices written or truncated since its last fsync */
	size_t npend, cappend;
};

struct entry {
	char name[64];
	uint64_t ino;
};

struct model {
	struct file *f;
	size_t nf, capf;
	struct entry *ns; /* the durable directory */
	size_t nns, capns;
	size_t *nspend; /* directory op indices since the last dirsync */
	size_t nnspend, capnspend;
	uint64_t acked, max_appended, max_written;
};

#define GROW(v, n, cap)                                                                            \
	do {                                                                                       \
		if ((n) == (cap)) {                                                                \
			(cap) = (cap) ? (cap)*2 : 16;                                              \
			(v) = realloc((v), (cap) * sizeof(*(v)));                                  \
		}                                                                                  \
	} while (0)

static struct file *file_of(struct model *m, uint64_t ino)
{
	for (size_t i = 0; i < m->nf; i++)
		if (m->f[i].ino == ino)
			return &m->f[i];
	GROW(m->f, m->nf, m->capf);
	memset(&m->f[m->nf], 0, sizeof(m->f[0]));
	m->f[m->nf].ino = ino;
	return &m->f[m->nf++];
}

static void buf_put(uint8_t **b, size_t *len, size_t *cap, int64_t off, const uint8_t *p, size_t n)
{
	size_t end = (size_t)off + n;

	if (end > *cap) {
		*cap = end * 2;
		*b = realloc(*b, *cap);
	}
	if ((size_t)off > *len)
		memset(*b + *len, 0, (size_t)off - *len); /* a hole reads as zeros */
	memcpy(*b + off, p, n);
	if (end > *len)
		*len = end;
}

/* Apply data op o to (b, len); n bytes of a write (torn when < len). */
static void apply(const struct op *o, uint8_t **b, size_t *len, size_t *cap, size_t n)
{
	if (o->kind == OP_TRUNC) {
		if ((size_t)o->off > *cap) {
			*cap = (size_t)o->off * 2;
			*b = realloc(*b, *cap);
		}
		if ((size_t)o->off > *len)
			memset(*b + *len, 0, (size_t)o->off - *len);
		*len = (size_t)o->off;
		return;
	}
	buf_put(b, len, cap, o->off, o->data, n);
}

static void ns_set(struct entry **ns, size_t *n, size_t *cap, const char *name, uint64_t ino)
{
	for (size_t i = 0; i < *n; i++)
		if (!strcmp((*ns)[i].name, name)) {
			(*ns)[i].ino = ino;
			return;
		}
	GROW(*ns, *n, *cap);
	snprintf((*ns)[*n].name, sizeof((*ns)[0].name), "%s", name);
	(*ns)[(*n)++].ino = ino;
}

static void ns_del(struct entry *ns, size_t *n, const char *name)
{
	for (size_t i = 0; i < *n; i++)
		if (!strcmp(ns[i].name, name)) {
			ns[i] = ns[--*n];
			return;
		}
}

static uint64_t ns_get(const struct entry *ns, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(ns[i].name, name))
			return ns[i].ino;
	return 0;
}

static void ns_apply(struct entry **ns, size_t *n, size_t *cap, const struct op *o)
{
	if (o->kind == OP_CREATE) {
		ns_set(ns, n, cap, o->name, o->ino);
	} else if (o->kind == OP_RENAME) {
		uint64_t ino = ns_get(*ns, *n, o->name);
		if (ino) {
			ns_del(*ns, n, o->name);
			ns_set(ns, n, cap, o->to, ino);
		}
	} else if (o->kind == OP_UNLINK) {
		ns_del(*ns, n, o->name);
	}
}

/* The highest frame seq in a write (a segment's), or 0. */
static uint64_t write_max_seq(const struct op *o)
{
	uint64_t hi = 0, seq;
	uint32_t len;
	size_t off = 0;

	while (off + SG_SPOOL_FRAME_HDR <= o->len &&
	       sg_frame_check(o->data + off, o->len - off, 1 << 20, &seq, &len) == 1) {
		hi = seq > hi ? seq : hi;
		off += SG_SPOOL_FRAME_HDR + len;
	}
	return hi;
}

/* Take op i into the model. */
static void model_step(struct model *m, size_t i)
{
	const struct op *o = &lg.v[i];
	struct file *f;

	switch (o->kind) {
	case OP_WRITE:
	case OP_TRUNC:
		f = file_of(m, o->ino);
		GROW(f->pend, f->npend, f->cappend);
		f->pend[f->npend++] = i;
		if (o->kind == OP_WRITE) {
			uint64_t s = write_max_seq(o);
			m->max_written = s > m->max_written ? s : m->max_written;
		}
		break;
	case OP_FSYNC:
		f = file_of(m, o->ino);
		for (size_t k = 0; k < f->npend; k++) {
			const struct op *p = &lg.v[f->pend[k]];
			apply(p, &f->dur, &f->len, &f->cap, p->len);
		}
		f->npend = 0;
		break;
	case OP_CREATE:
	case OP_RENAME:
	case OP_UNLINK:
		GROW(m->nspend, m->nnspend, m->capnspend);
		m->nspend[m->nnspend++] = i;
		break;
	case OP_DIRSYNC:
		for (size_t k = 0; k < m->nnspend; k++)
			ns_apply(&m->ns, &m->nns, &m->capns, &lg.v[m->nspend[k]]);
		m->nnspend = 0;
		break;
	case OP_APPEND:
		m->max_appended = o->seq > m->max_appended ? o->seq : m->max_appended;
		break;
	case OP_ACK: m->acked = o->seq > m->acked ? o->seq : m->acked; break;
	}
}

/* --- one cut ------------------------------------------------------------ */

enum cut_kind { CUT_POWER, CUT_CRASH };

static unsigned rnd_state = 12345;

static unsigned rnd(unsigned n)
{
	rnd_state = rnd_state * 1103515245u + 12345u;
	return n ? (rnd_state >> 8) % n : 0;
}

#define SECTOR 512

/*
 * The content of f after the cut.  Crash: every write.  Power: what was
 * synced, then the writes since, as the disk may have them: each 512-byte
 * sector holds the file as it was after some number of those writes
 * (sectors are written whole).  In order: the same number for every
 * sector, but a write cut short leaves some of its sectors behind; out of
 * order: each sector its own number (writeback in any order), and the
 * length that of the latest.  Sectors past a version's length read zeros.
 */
static void cut_content(const struct file *f, enum cut_kind kind, uint8_t **b, size_t *len,
			size_t *cap)
{
	size_t np = f->npend, J = kind == CUT_CRASH ? np : rnd((unsigned)np + 1);
	bool in_order = rnd(2);
	uint8_t **ver = calloc(J + 1, sizeof(*ver));
	size_t *vlen = calloc(J + 1, sizeof(*vlen)), vcap = 0;

	/* versions 0..J: the synced content, then one more write each */
	for (size_t j = 0; j <= J; j++) {
		vcap = 0;
		vlen[j] = 0;
		if (j == 0) {
			if (f->len)
				buf_put(&ver[0], &vlen[0], &vcap, 0, f->dur, f->len);
		} else {
			if (vlen[j - 1])
				buf_put(&ver[j], &vlen[j], &vcap, 0, ver[j - 1], vlen[j - 1]);
			apply(&lg.v[f->pend[j - 1]], &ver[j], &vlen[j], &vcap,
			      lg.v[f->pend[j - 1]].len);
		}
	}
	*len = 0;
	if (vlen[J])
		buf_put(b, len, cap, 0, ver[J], vlen[J]);
	if (kind == CUT_POWER && J) {
		const struct op *last = &lg.v[f->pend[J - 1]];
		for (size_t sct = 0; sct * SECTOR < *len; sct++) {
			size_t at = sct * SECTOR, n = *len - at < SECTOR ? *len - at : SECTOR,
			       j = J;
			bool in_last = last->kind == OP_WRITE && (int64_t)(at + n) > last->off &&
				       (int64_t)at < last->off + (int64_t)last->len;

			if (!in_order)
				j = rnd((unsigned)J + 1);
			else if (in_last && rnd(4) == 0)
				j = J - 1; /* the last write cut short here */
			memset(*b + at, 0, n);
			if (vlen[j] > at)
				memcpy(*b + at, ver[j] + at, vlen[j] - at < n ? vlen[j] - at : n);
		}
	}
	for (size_t j = 0; j <= J; j++)
		free(ver[j]);
	free(ver);
	free(vlen);
}

static void write_file(const char *root, const char *name, const uint8_t *p, size_t n)
{
	char path[700], *slash;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", root, name);
	if ((slash = strrchr(path, '/')) > path + strlen(root)) {
		*slash = '\0';
		mkdir(path, 0700);
		*slash = '/';
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd >= 0) {
		if (n && write(fd, p, n) != (ssize_t)n)
			t_fail(__FILE__, __LINE__, "write %s", path);
		close(fd);
	}
}

/* Build the disk after a cut into root. */
static void cut_image(struct model *m, enum cut_kind kind, const char *root)
{
	struct entry *ns = NULL;
	size_t nns = 0, capns = 0, keep;
	uint8_t *b = NULL;
	size_t len = 0, cap = 0;

	for (size_t i = 0; i < m->nns; i++)
		ns_set(&ns, &nns, &capns, m->ns[i].name, m->ns[i].ino);
	keep = kind == CUT_CRASH ? m->nnspend : rnd((unsigned)m->nnspend + 1);
	for (size_t k = 0; k < keep; k++)
		ns_apply(&ns, &nns, &capns, &lg.v[m->nspend[k]]);
	for (size_t i = 0; i < nns; i++) {
		struct file *f = file_of(m, ns[i].ino);
		cut_content(f, kind, &b, &len, &cap);
		write_file(root, ns[i].name, b, len);
	}
	free(ns);
	free(b);
}

/* The promises, checked on the spool opened on the image. */
static bool cut_check(struct model *m, enum cut_kind kind, const char *root, int64_t fsync_ms,
		      const uint64_t *durable, size_t ndurable)
{
	struct sg_spool_conf c = conf_for(root, fsync_ms);
	struct sg_spool *sp;
	struct sg_spool_stats st;
	struct sg_buf b;
	uint8_t want[512];
	uint64_t seq, prev = 0, got = 0, next;
	size_t d = 0;
	bool ok = true;

	boot_now = kind == CUT_POWER ? 2 : 1; /* a power cut reboots */
	sg_spool_io = sg_spool_io_default;
	sg_spool_io.boot_id = rec_boot_id;
	if (!(sp = open_ok(&c)))
		return false;
	sg_spool_stats(sp, &st);
	if (st.acked_seq > m->acked) {
		t_fail(__FILE__, __LINE__, "cursor %" PRIu64 " above the last ack %" PRIu64,
		       st.acked_seq, m->acked);
		ok = false;
	}
	sg_buf_init(&b);
	while (ok && sg_spool_read(sp, &seq, &b) == SG_OK) {
		size_t n = payload_of(seq, want);
		if (seq <= prev || b.len != n || memcmp(b.p, want, n)) {
			t_fail(__FILE__, __LINE__,
			       "record seq %" PRIu64 " out of order or not its own", seq);
			ok = false;
		}
		/* every durable seq above the ack is here, in order */
		while (d < ndurable && durable[d] < seq)
			if (durable[d++] > m->acked && durable[d - 1] > st.acked_seq) {
				t_fail(__FILE__, __LINE__, "durable seq %" PRIu64 " lost (cut %s)",
				       durable[d - 1], kind == CUT_POWER ? "power" : "crash");
				ok = false;
			}
		if (d < ndurable && durable[d] == seq)
			d++;
		prev = seq;
		got++;
	}
	for (; ok && d < ndurable; d++)
		if (durable[d] > m->acked && durable[d] > st.acked_seq) {
			t_fail(__FILE__, __LINE__, "durable seq %" PRIu64 " lost at the end",
			       durable[d]);
			ok = false;
		}
	/* No seq issued twice: the next one is above every seq written (the
	 * reader may have sent one whose append had not returned yet); after
	 * a crash, with no gap. */
	if (ok && sg_spool_append(sp, want, payload_of(st.next_seq, want), &next) == SG_OK &&
	    (next <= m->max_written || next <= m->max_appended ||
	     (kind == CUT_CRASH && next != m->max_written + 1))) {
		t_fail(__FILE__, __LINE__,
		       "next seq %" PRIu64 " after a %s cut; written up to %" PRIu64, next,
		       kind == CUT_POWER ? "power" : "crash", m->max_written);
		ok = false;
	}
	sg_buf_free(&b);
	sg_spool_close(sp);
	boot_now = 1;
	return ok;
}

/* --- the driver ---------------------------------------------------------- */

struct pre {
	size_t *appended;     /* per write: the op saying its last seq was appended */
	size_t *next_fsync;   /* per op: the next fsync of its file, or SIZE_MAX */
	uint64_t *lo, *hi;    /* per op: the frame seqs a write holds (0: none) */
	size_t *name_durable; /* per op: a write's file's name is durable from here */
};

static void precompute(struct pre *pr)
{
	size_t n = lg.n;

	pr->next_fsync = malloc(n * sizeof(size_t));
	pr->lo = calloc(n, sizeof(uint64_t));
	pr->hi = calloc(n, sizeof(uint64_t));
	pr->name_durable = malloc(n * sizeof(size_t));
	pr->appended = malloc(n * sizeof(size_t));
	for (size_t i = n; i-- > 0;) {
		const struct op *o = &lg.v[i];
		pr->next_fsync[i] = SIZE_MAX;
		if (o->kind != OP_WRITE)
			continue;
		for (size_t j = i + 1; j < n; j++)
			if (lg.v[j].kind == OP_FSYNC && lg.v[j].ino == o->ino) {
				pr->next_fsync[i] = j;
				break;
			}
	}
	for (size_t i = 0; i < n; i++) {
		const struct op *o = &lg.v[i];
		uint64_t seq;
		uint32_t len;
		size_t off = 0, created = SIZE_MAX;

		pr->name_durable[i] = SIZE_MAX;
		pr->appended[i] = SIZE_MAX;
		if (o->kind != OP_WRITE)
			continue;
		while (off + SG_SPOOL_FRAME_HDR <= o->len &&
		       sg_frame_check(o->data + off, o->len - off, 1 << 20, &seq, &len) == 1) {
			if (!pr->lo[i])
				pr->lo[i] = seq;
			pr->hi[i] = seq;
			off += SG_SPOOL_FRAME_HDR + len;
		}
		if (!pr->lo[i])
			continue;
		for (size_t j = i + 1; j < n; j++)
			if (lg.v[j].kind == OP_APPEND && lg.v[j].seq >= pr->hi[i]) {
				pr->appended[i] = j;
				break;
			}
		for (size_t j = i; j-- > 0;) /* its file's creation ... */
			if (lg.v[j].kind == OP_CREATE && lg.v[j].ino == o->ino) {
				created = j;
				break;
			}
		for (size_t j = created == SIZE_MAX ? 0 : created; j < n;
		     j++) /* ... made durable */
			if (lg.v[j].kind == OP_DIRSYNC) {
				pr->name_durable[i] = j;
				break;
			}
	}
}

/* How long after its append a record must have reached the disk: the
 * fsync window, plus room for a busy machine's scheduling. */
#define WINDOW_SLACK_NS (200 * SG_NS_PER_MS)

/* The seqs the cut at k must keep.  Crash: every one appended.  Power:
 * every one synced, and every one whose append returned with fsync
 * always, or longer than the fsync window (plus slack) before the cut. */
static size_t must_keep(const struct pre *pr, const struct model *m, size_t k, enum cut_kind kind,
			int64_t fsync_ms, uint64_t **out, size_t *cap)
{
	int64_t tk = lg.v[k < lg.n ? k : lg.n - 1].t;
	size_t n = 0;

	for (size_t i = 0; i < k; i++) {
		bool promised;

		if (!pr->lo[i])
			continue;
		/* the append's return, logged right after its write */
		promised =
		    pr->appended[i] < k &&
		    (fsync_ms == SG_FSYNC_ALWAYS ||
		     (fsync_ms > 0 &&
		      lg.v[pr->appended[i]].t + fsync_ms * SG_NS_PER_MS + WINDOW_SLACK_NS < tk));
		if (kind == CUT_POWER && !promised &&
		    (pr->next_fsync[i] >= k || pr->name_durable[i] >= k))
			continue;
		for (uint64_t s = pr->lo[i]; s <= pr->hi[i]; s++) {
			if (kind == CUT_CRASH && s > m->max_appended)
				continue;
			GROW(*out, n, *cap);
			(*out)[n++] = s;
		}
	}
	return n;
}

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	return x < y ? -1 : x > y;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static void rm_rf(const char *dir)
{
	if (nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
		t_fail(__FILE__, __LINE__, "cannot remove %s: %s", dir, strerror(errno));
}

static void run_cuts(int64_t fsync_ms, const char *what)
{
	char wdir[256], root[256];
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	int ncuts = getenv("SG_POWERCUTS") ? atoi(getenv("SG_POWERCUTS")) : 1000;
	struct model m = {0};
	struct pre pr;
	size_t *cuts = malloc((size_t)ncuts * sizeof(size_t)), i = 0, cap = 0;
	uint64_t *keep = NULL;
	int power = 0, crash = 0, failed = 0;

	snprintf(wdir, sizeof(wdir), "%s/sg-powercut-w.XXXXXX", base);
	if (!mkdtemp(wdir))
		abort();
	workload(wdir, fsync_ms, 2500);
	CHECK(lg.n > 1000);
	precompute(&pr);
	for (int c = 0; c < ncuts; c++)
		cuts[c] = 1 + rnd((unsigned)lg.n);
	qsort(cuts, (size_t)ncuts, sizeof(*cuts), cmp_size);
	for (int c = 0; c < ncuts && failed < 3; c++) {
		enum cut_kind kind = rnd(5) ? CUT_POWER : CUT_CRASH;
		size_t nk;

		while (i < cuts[c])
			model_step(&m, i++);
		nk = must_keep(&pr, &m, cuts[c], kind, fsync_ms, &keep, &cap);
		if (nk)
			qsort(keep, nk, sizeof(*keep), cmp_u64);
		snprintf(root, sizeof(root), "%s/sg-powercut-c.XXXXXX", base);
		if (!mkdtemp(root))
			abort();
		cut_image(&m, kind, root);
		if (cut_check(&m, kind, root, fsync_ms, keep, nk))
			kind == CUT_POWER ? power++ : crash++;
		else
			failed++, printf("    at op %zu of %zu (%s)\n", cuts[c], lg.n, what);
		rm_rf(root);
	}
	printf("    fsync %s: %d power cuts and %d crashes survived, %d failed (%zu ops)\n", what,
	       power, crash, failed, lg.n);
	CHECK_EQ(failed, 0);
	rm_rf(wdir);
	for (size_t k = 0; k < lg.n; k++)
		free(lg.v[k].data);
	lg.n = 0;
	free(keep);
	free(cuts);
	free(pr.next_fsync), free(pr.lo), free(pr.hi), free(pr.name_durable), free(pr.appended);
	for (size_t k = 0; k < m.nf; k++)
		free(m.f[k].dur), free(m.f[k].pend);
	free(m.f), free(m.ns), free(m.nspend);
}

TEST(power_cuts_with_group_commit)
{
	run_cuts(5, "5ms");
}

TEST(power_cuts_with_fsync_always)
{
	run_cuts(SG_FSYNC_ALWAYS, "always");
}
