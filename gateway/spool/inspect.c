/*
 * inspect.c - a read-only look at a spool directory (inspect.h).
 */
#include "inspect.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "gateway/base/err.h"
#include "gateway/base/fs.h"

#define PATH_LEN 4200

static void *grow(void *p, size_t *cap, size_t n, size_t size)
{
	void *np;

	if (n < *cap)
		return p;
	*cap = *cap ? *cap * 2 : 64;
	np = realloc(p, *cap * size);
	if (!np)
		free(p);
	return np;
}

/* A segment file, or one renamed to "<name>.seg.ren" by a rename that a
 * crash cut short (recovery renames through such names). */
static bool seg_file(const char *n, bool *tmp)
{
	size_t len = strlen(n);
	char base[SG_SEG_NAME_LEN + 1];

	*tmp = len == SG_SEG_NAME_LEN + 4 && !strcmp(n + SG_SEG_NAME_LEN, ".ren");
	if (len != SG_SEG_NAME_LEN && !*tmp)
		return false;
	memcpy(base, n, SG_SEG_NAME_LEN);
	base[SG_SEG_NAME_LEN] = '\0';
	return sg_seg_name_ok(base);
}

void sg_spool_seg_path(const char *dir, const struct sg_seg_info *s, char *out, size_t n)
{
	snprintf(out, n, "%s/%020" PRIu64 ".seg%s", dir, s->name, s->tmp_name ? ".ren" : "");
}

/* Map path read-only: *map (NULL for an empty file) and *size. */
static int map_file(const char *path, uint8_t **map, int64_t *size, int64_t *blocks)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	*map = NULL;
	if (fd < 0 || fstat(fd, &st) != 0) {
		if (fd >= 0)
			close(fd);
		return SG_EIO;
	}
	*size = st.st_size;
	if (blocks)
		*blocks = (int64_t)st.st_blocks * 512;
	if (st.st_size > 0)
		*map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (*map == MAP_FAILED) {
		*map = NULL;
		return SG_EIO;
	}
	return SG_OK;
}

/* Scan one segment into s.  An empty segment whose header never reached
 * the disk reads as zeros: marked by torn_bytes == size. */
static int scan_seg(const char *dir, struct sg_seg_info *s, uint32_t maxlen)
{
	char path[PATH_LEN];
	uint8_t *map;
	int rc;

	sg_spool_seg_path(dir, s, path, sizeof(path));
	if ((rc = map_file(path, &map, &s->size, NULL)) != SG_OK)
		return rc;
	sg_seg_scan(map, (size_t)s->size, maxlen, s->name, NULL, NULL, &s->sc);
	if (s->sc.bad_header && !s->sc.records) {
		int64_t i = 0;
		while (i < s->size && !map[i])
			i++;
		s->sc.torn_bytes = i == s->size ? (size_t)s->size : 0;
	}
	if (map)
		munmap(map, (size_t)s->size);
	return SG_OK;
}

int sg_spool_seg_frames(const char *dir, const struct sg_seg_info *s, uint32_t maxlen,
			sg_frame_fn fn, void *arg)
{
	char path[PATH_LEN];
	struct sg_seg_scan sc;
	uint8_t *map;
	int64_t size;
	int rc;

	sg_spool_seg_path(dir, s, path, sizeof(path));
	if ((rc = map_file(path, &map, &size, NULL)) != SG_OK)
		return rc;
	sg_seg_scan(map, (size_t)size, maxlen, s->name, fn, arg, &sc);
	if (map)
		munmap(map, (size_t)size);
	return SG_OK;
}

/* One directory entry: a segment, a tombstone, a stray temporary file. */
static int add_entry(struct sg_spool_inspect *in, const char *name, size_t *capsegs,
		     size_t *captombs)
{
	uint64_t a, b;
	bool tmp;

	if (seg_file(name, &tmp)) {
		if (!(in->segs = grow(in->segs, capsegs, in->nsegs, sizeof(*in->segs))))
			return SG_ENOMEM;
		memset(&in->segs[in->nsegs], 0, sizeof(*in->segs));
		in->segs[in->nsegs].tmp_name = tmp;
		in->segs[in->nsegs++].name = strtoull(name, NULL, 10);
	} else if (sg_tomb_parse(name, &a, &b)) {
		if (!(in->tombs = grow(in->tombs, captombs, in->ntombs, sizeof(*in->tombs))))
			return SG_ENOMEM;
		in->tombs[in->ntombs++] = (struct sg_seq_range){a, b};
	} else if (name[0] == '.' && strlen(name) > 4 && !strcmp(name + strlen(name) - 4, ".tmp")) {
		in->stray++;
	}
	return SG_OK;
}

/* List dir: segments, tombstones, strays; add up the blocks in use. */
static int list_dir(const char *dir, struct sg_spool_inspect *in)
{
	char path[PATH_LEN];
	size_t capsegs = 0, captombs = 0;
	DIR *d = opendir(dir);
	struct dirent *e;
	struct stat st;
	int rc = SG_OK;

	if (!d)
		return SG_EIO;
	while (rc == SG_OK && (e = readdir(d))) {
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
			in->disk_bytes += (uint64_t)st.st_blocks * 512;
		rc = add_entry(in, e->d_name, &capsegs, &captombs);
	}
	closedir(d);
	return rc;
}

/* What recovery moved to corrupt/: files and the intact records in them. */
static void look_aside(const char *dir, uint32_t maxlen, struct sg_spool_inspect *in)
{
	char cdir[PATH_LEN], path[PATH_LEN + 300];
	DIR *d;
	struct dirent *e;

	snprintf(cdir, sizeof(cdir), "%s/corrupt", dir);
	if (!(d = opendir(cdir)))
		return;
	while ((e = readdir(d))) {
		struct sg_seg_scan sc;
		uint8_t *map;
		int64_t size, blocks = 0;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", cdir, e->d_name);
		if (map_file(path, &map, &size, &blocks) != SG_OK)
			continue;
		in->aside_files++;
		in->disk_bytes += (uint64_t)blocks;
		sg_seg_scan(map, (size_t)size, maxlen, 0, NULL, NULL, &sc);
		in->aside_records += sc.records;
		if (map)
			munmap(map, (size_t)size);
	}
	closedir(d);
}

/* The gateway holding dir/lock (flock), from /proc/locks; 0 if none. */
static long lock_holder(const char *dir)
{
	char path[PATH_LEN], line[256];
	struct stat st;
	long pid = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/lock", dir);
	if (stat(path, &st) != 0 || !(f = fopen("/proc/locks", "r")))
		return 0;
	while (!pid && fgets(line, sizeof(line), f)) {
		unsigned maj, min;
		unsigned long long ino;
		long p;
		char kind[16];

		if (sscanf(line, "%*s %15s %*s %*s %ld %x:%x:%llu", kind, &p, &maj, &min, &ino) ==
			5 &&
		    !strcmp(kind, "FLOCK") && ino == (unsigned long long)st.st_ino)
			pid = p;
	}
	fclose(f);
	return pid;
}

static void look_files(const char *dir, struct sg_spool_inspect *in)
{
	char path[PATH_LEN], *data = NULL;
	size_t len = 0;
	int rc;

	snprintf(path, sizeof(path), "%s/ack", dir);
	rc = sg_read_file(path, 256, &data, &len);
	in->cursor_rc = rc == SG_OK || rc == SG_ENOTFOUND ? rc : SG_ECORRUPT;
	if (rc == SG_OK) {
		in->cursor_slots = sg_ack_slots(data, len, in->slot, in->slot_valid);
		if (sg_ack_decode(data, len, &in->cur) != 0)
			in->cursor_rc = SG_ECORRUPT;
		else
			in->ack = in->cur.acked;
	}
	free(data);
	data = NULL;
	snprintf(path, sizeof(path), "%s/epoch", dir);
	rc = sg_read_file(path, 64, &data, &len);
	in->epoch_rc = rc == SG_OK || rc == SG_ENOTFOUND ? rc : SG_ECORRUPT;
	if (rc == SG_OK && sg_epoch_decode(data, len, &in->epoch) != 0)
		in->epoch_rc = SG_ECORRUPT;
	free(data);
}

int sg_spool_inspect(const char *dir, uint32_t maxlen, bool tools, struct sg_spool_inspect *in)
{
	struct statvfs v;
	size_t k = 0;
	int rc;

	memset(in, 0, sizeof(*in));
	if ((rc = list_dir(dir, in)) != SG_OK)
		return rc;
	look_files(dir, in);
	for (size_t i = 0; i < in->nsegs; i++) {
		struct sg_seg_info *s = &in->segs[i];

		if (scan_seg(dir, s, maxlen) != SG_OK) {
			if (errno == ENOENT)
				continue; /* deleted since the listing: delivered meanwhile */
			s->unreadable = true;
			if (tools)
				fprintf(stderr, "spool: cannot read segment %020" PRIu64 ": %s\n",
					s->name, strerror(errno));
		}
		in->segs[k++] = *s;
	}
	in->nsegs = k;
	sg_layout_check(in->segs, in->nsegs, in->tombs, in->ntombs, in->ack, &in->lay);
	if (!tools)
		return SG_OK;
	look_aside(dir, maxlen, in);
	if (statvfs(dir, &v) == 0)
		in->fs_free = (uint64_t)v.f_bavail * v.f_frsize;
	in->holder_pid = lock_holder(dir);
	return SG_OK;
}

void sg_spool_inspect_free(struct sg_spool_inspect *in)
{
	free(in->segs);
	free(in->tombs);
	in->segs = NULL;
	in->tombs = NULL;
}
