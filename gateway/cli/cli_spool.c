/*
 * cli_spool.c - `sensorgate spool stat|dump DIR`: read-only inspection of
 * a spool directory (works while the gateway runs; never modifies it).
 * dump renders every record the way the producer does when it leaves the
 * spool, so it shows the Kafka value with its event id for records of
 * both payload versions.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "gateway/base/parse.h"
#include "gateway/core/event.h"
#include "gateway/spool/frame.h"
#include "gateway/spool/internal.h"

/* The largest frame the tools accept: above any max_record_bytes. */
#define DUMP_MAX_RECORD (256u << 20)

static const char usage[] = "usage: sensorgate spool stat DIR\n"
			    "       sensorgate spool dump DIR [--all] [--limit N]\n"
			    "stat: segments, records, bytes, delivery cursor, corruption found.\n"
			    "dump: one line per undelivered record (--all: delivered ones too):\n"
			    "      seq, event time, topic, key, payload version, event id and the\n"
			    "      Kafka value as the producer renders it.\n";

struct dump_ctx {
	uint64_t after, limit, shown;
	bool dump, all;
	struct sg_buf scratch;
};

/* What stat sums over the segments. */
struct totals {
	uint64_t ack, records, bytes, pending, corrupt, lost, first_seq, last_seq;
};

static void dump_frame(void *arg, uint64_t seq, const uint8_t *p, uint32_t len, size_t off)
{
	struct dump_ctx *d = arg;
	struct sg_record r;
	size_t pos = 0, nl, vl;
	const char *name;
	const void *val;

	if (!d->dump || seq <= d->after || (d->limit && d->shown >= d->limit))
		return;
	d->shown++;
	if (sg_record_decode(p, len, &r) != SG_OK) {
		printf("seq=%" PRIu64 " offset=%zu UNDECODABLE (%u bytes)\n", seq, off, len);
		return;
	}
	if (sg_record_render(&r, seq, &d->scratch) != SG_OK) {
		printf("seq=%" PRIu64 " offset=%zu OUT OF MEMORY rendering it\n", seq, off);
		return;
	}
	printf("seq=%" PRIu64 " ts_ns=%" PRId64 " topic=%.*s key=%.*s rec=v%u", seq, r.ts_ns,
	       (int)r.topic_len, r.topic, (int)r.key_len, (const char *)r.key, r.version);
	while (sg_record_header_next(&r, &pos, &name, &nl, &val, &vl))
		if (nl == 5 && !memcmp(name, "sg-id", 5))
			printf(" id=%.*s", (int)vl, (const char *)val);
	printf(" value=%.*s\n", (int)r.value_len, (const char *)r.value);
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Parse `stat|dump DIR [options]` into d and *dir.  Returns -1 to go on,
 * or the exit code (0 after --help, 2 on a usage error). */
static int spool_args(int argc, char **argv, struct dump_ctx *d, const char **dir)
{
	const char *sub = argc > 1 ? argv[1] : NULL;

	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs(usage, stdout);
			return 0;
		}
	if (!sub || (strcmp(sub, "stat") && strcmp(sub, "dump")) || argc < 3 || argv[2][0] == '-') {
		fputs(usage, stderr);
		return 2;
	}
	d->dump = !strcmp(sub, "dump");
	*dir = argv[2];
	for (int i = 3; i < argc; i++) {
		int64_t n;

		if (d->dump && !strcmp(argv[i], "--all")) {
			d->all = true;
		} else if (d->dump && !strcmp(argv[i], "--limit") && i + 1 < argc &&
			   sg_parse_i64(argv[i + 1], &n) == 0 && n >= 0) {
			d->limit = (uint64_t)n;
			i++;
		} else {
			fprintf(stderr, "spool %s: bad argument '%s'\n%s", sub, argv[i], usage);
			return 2;
		}
	}
	return -1;
}

/* Sorted segment file names in dir (caller frees), or -1. */
static ssize_t list_segments(const char *dir, char ***out)
{
	char **names = NULL, **nn;
	size_t n = 0;
	DIR *dd = opendir(dir);
	struct dirent *e;

	if (!dd)
		return -1;
	while ((e = readdir(dd))) {
		if (strlen(e->d_name) != SG_SEG_NAME_LEN || !sg_seg_name_ok(e->d_name))
			continue;
		if (!(nn = realloc(names, (n + 1) * sizeof(*names))))
			break;
		names = nn;
		if ((names[n] = strdup(e->d_name)))
			n++;
	}
	closedir(dd);
	if (n)
		qsort(names, n, sizeof(*names), cmp_name);
	*out = names;
	return (ssize_t)n;
}

/* Scan one segment (dumping its records with d->dump) and add it up. */
static void scan_segment(const char *dir, const char *name, struct dump_ctx *d, struct totals *t)
{
	char path[4400], seqs[64], notes[160] = "";
	struct stat st;
	struct sg_seg_scan sc;
	uint8_t *map = NULL;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0) {
		/* Deleted since the listing: delivered meanwhile. */
		if (errno != ENOENT)
			fprintf(stderr, "spool: cannot open %s\n", path);
		if (fd >= 0)
			close(fd);
		return;
	}
	if (st.st_size > 0)
		map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return;
	sg_seg_scan(map, (size_t)st.st_size, DUMP_MAX_RECORD, dump_frame, d, &sc);
	if (map)
		munmap(map, (size_t)st.st_size);
	t->records += sc.records;
	t->bytes += (uint64_t)st.st_size;
	t->corrupt += sc.corrupt_regions;
	t->lost += sc.corrupt_lost;
	if (sc.records) {
		if (!t->first_seq)
			t->first_seq = sc.first_seq;
		t->last_seq = sc.last_seq;
		if (sc.last_seq > t->ack)
			t->pending += sc.first_seq > t->ack ? sc.records : sc.last_seq - t->ack;
	}
	if (d->dump)
		return;
	snprintf(seqs, sizeof(seqs), "%" PRIu64 "..%" PRIu64, sc.first_seq, sc.last_seq);
	if (sc.bad_header)
		snprintf(notes, sizeof(notes), "BAD HEADER");
	else if (sc.corrupt_regions || sc.torn_bytes)
		snprintf(notes, sizeof(notes), "%" PRIu64 " corrupt region(s), %zu torn tail bytes",
			 sc.corrupt_regions, sc.torn_bytes);
	printf("%-28s %10" PRIu64 " %12lld %22s %s\n", name, sc.records, (long long)st.st_size,
	       sc.records ? seqs : "-", notes);
}

int sg_cli_spool(int argc, char **argv)
{
	struct dump_ctx d = {0};
	struct totals t = {0};
	const char *dir = NULL;
	char **names = NULL;
	ssize_t n;
	int rc = spool_args(argc, argv, &d, &dir);

	if (rc >= 0)
		return rc;
	rc = spool_load_cursor(dir, &t.ack);
	if (rc == SG_ECORRUPT)
		fprintf(stderr, "spool: %s/ack is corrupt\n", dir);
	else if (rc != SG_OK && rc != SG_ENOTFOUND) {
		fprintf(stderr, "spool: cannot read %s/ack\n", dir);
		return 1;
	}
	d.after = d.all ? 0 : t.ack;
	if ((n = list_segments(dir, &names)) < 0) {
		fprintf(stderr, "spool: cannot open %s\n", dir);
		return 1;
	}
	if (!d.dump)
		printf("%-28s %10s %12s %22s %s\n", "segment", "records", "bytes", "seqs", "notes");
	sg_buf_init(&d.scratch);
	for (ssize_t i = 0; i < n; i++) {
		scan_segment(dir, names[i], &d, &t);
		free(names[i]);
	}
	free(names);
	sg_buf_free(&d.scratch);
	if (!d.dump)
		printf("\nsegments %zd, records %" PRIu64 ", bytes %" PRIu64 ", seqs %" PRIu64
		       "..%" PRIu64 ", delivered up to %" PRIu64 ", pending %" PRIu64
		       ", corrupt regions %" PRIu64 " (~%" PRIu64 " events lost)\n",
		       n, t.records, t.bytes, t.first_seq, t.last_seq, t.ack, t.pending, t.corrupt,
		       t.lost);
	return 0;
}
