/*
 * cli_spool.c - `sensorgate spool stat|dump DIR`: read-only inspection of
 * a spool directory (works while the gateway runs; never modifies it).
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
#include "gateway/core/event.h"
#include "gateway/spool/frame.h"
#include "gateway/spool/internal.h"

struct dump_ctx {
	uint64_t after, limit, shown;
	bool dump;
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
	printf("seq=%" PRIu64 " ts_ns=%" PRId64 " topic=%.*s key=%.*s", seq, r.ts_ns,
	       (int)r.topic_len, r.topic, (int)r.key_len, (const char *)r.key);
	while (sg_record_header_next(&r, &pos, &name, &nl, &val, &vl))
		if (nl == 5 && !memcmp(name, "sg-id", 5))
			printf(" id=%.*s", (int)vl, (const char *)val);
	printf(" value=%.*s\n", (int)r.value_len, (const char *)r.value);
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int sg_cli_spool(int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : NULL, *dir = argc > 2 ? argv[2] : NULL;
	struct dump_ctx d = {0};
	uint64_t ack = 0, total = 0, bytes = 0, pending = 0, corrupt = 0, lost = 0;
	uint64_t first_seq = 0, last_seq = 0;
	char **names = NULL;
	size_t n = 0;
	DIR *dd;
	struct dirent *e;
	int rc;

	if (!sub || !strcmp(sub, "--help") || !dir ||
	    (strcmp(sub, "stat") && strcmp(sub, "dump"))) {
		printf("usage: sensorgate spool stat DIR\n"
		       "       sensorgate spool dump DIR [--all] [--limit N]\n"
		       "stat: segments, records, bytes, delivery cursor, corruption found.\n"
		       "dump: one line per undelivered record (--all: delivered ones too).\n");
		return sub && !strcmp(sub, "--help") ? 0 : 2;
	}
	d.dump = !strcmp(sub, "dump");
	rc = spool_load_cursor(dir, &ack);
	if (rc == SG_ECORRUPT)
		fprintf(stderr, "spool: %s/ack is corrupt\n", dir);
	else if (rc != SG_OK && rc != SG_ENOTFOUND) {
		fprintf(stderr, "spool: cannot read %s/ack\n", dir);
		return 1;
	}
	d.after = ack;
	for (int i = 3; i < argc; i++) {
		if (!strcmp(argv[i], "--all"))
			d.after = 0;
		else if (!strcmp(argv[i], "--limit") && i + 1 < argc)
			d.limit = strtoull(argv[++i], NULL, 10);
	}
	if (!(dd = opendir(dir))) {
		fprintf(stderr, "spool: cannot open %s\n", dir);
		return 1;
	}
	while ((e = readdir(dd)))
		if (strlen(e->d_name) == 24 && !strcmp(e->d_name + 20, ".seg")) {
			names = realloc(names, (n + 1) * sizeof(*names));
			names[n++] = strdup(e->d_name);
		}
	closedir(dd);
	if (n)
		qsort(names, n, sizeof(*names), cmp_name);
	if (!d.dump)
		printf("%-28s %10s %12s %22s %s\n", "segment", "records", "bytes", "seqs", "notes");
	for (size_t i = 0; i < n; i++) {
		char path[4400];
		struct stat st;
		struct sg_seg_scan sc;
		uint8_t *map = NULL;
		int fd;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		free(names[i]);
		names[i] = NULL;
		fd = open(path, O_RDONLY);
		if (fd < 0 || fstat(fd, &st) != 0) {
			/* Deleted since the listing: delivered meanwhile. */
			if (errno != ENOENT)
				fprintf(stderr, "spool: cannot open %s\n", path);
			if (fd >= 0)
				close(fd);
			continue;
		}
		if (st.st_size > 0)
			map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		close(fd);
		if (map == MAP_FAILED)
			continue;
		sg_seg_scan(map, (size_t)st.st_size, 268435456u, dump_frame, &d, &sc);
		if (map)
			munmap(map, (size_t)st.st_size);
		total += sc.records;
		bytes += (uint64_t)st.st_size;
		corrupt += sc.corrupt_regions;
		lost += sc.corrupt_lost;
		if (sc.records) {
			if (!first_seq)
				first_seq = sc.first_seq;
			last_seq = sc.last_seq;
			if (sc.last_seq > ack)
				pending += sc.first_seq > ack ? sc.records : sc.last_seq - ack;
		}
		if (!d.dump) {
			char seqs[64], notes[160] = "";
			snprintf(seqs, sizeof(seqs), "%" PRIu64 "..%" PRIu64, sc.first_seq,
				 sc.last_seq);
			if (sc.bad_header)
				snprintf(notes, sizeof(notes), "BAD HEADER");
			else if (sc.corrupt_regions || sc.torn_bytes)
				snprintf(notes, sizeof(notes),
					 "%" PRIu64 " corrupt region(s), %zu torn tail bytes",
					 sc.corrupt_regions, sc.torn_bytes);
			printf("%-28s %10" PRIu64 " %12lld %22s %s\n", path + strlen(dir) + 1,
			       sc.records, (long long)st.st_size, sc.records ? seqs : "-", notes);
		}
	}
	free(names);
	if (!d.dump)
		printf("\nsegments %zu, records %" PRIu64 ", bytes %" PRIu64 ", seqs %" PRIu64
		       "..%" PRIu64 ", delivered up to %" PRIu64 ", pending %" PRIu64
		       ", corrupt regions %" PRIu64 " (~%" PRIu64 " events lost)\n",
		       n, total, bytes, first_seq, last_seq, ack, pending, corrupt, lost);
	return 0;
}
