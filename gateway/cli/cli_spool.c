/*
 * cli_spool.c - `sensorgate spool stat|dump|verify DIR`: read-only looks
 * at a spool directory (they work while the gateway runs and never
 * modify it), all three on gateway/spool/inspect.h, so they see the
 * segments in seq order the way recovery will.
 *
 * stat: one line per segment (records, bytes, seqs, what is wrong), then
 * the totals.  dump: every record rendered the way the producer renders
 * it, with its event id, for records of both payload versions.  verify:
 * a check a script can run (fsck): every frame's CRC, seq order within
 * and across segments, gaps, the cursor, the epoch, what recovery moved
 * aside, space used; one line per finding with what to do, and an exit
 * code (docs/operations.md): 0 clean, 1 findings recovery repairs without
 * loss, 2 usage, 3 events lost or not deliverable, 4 cannot read DIR.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "gateway/base/parse.h"
#include "gateway/core/event.h"
#include "gateway/spool/frame.h"
#include "gateway/spool/inspect.h"

/* The largest frame the tools accept: above any max_record_bytes. */
#define DUMP_MAX_RECORD (256u << 20)

enum { VERIFY_CLEAN = 0, VERIFY_REPAIRABLE = 1, VERIFY_USAGE = 2, VERIFY_LOSS = 3, VERIFY_IO = 4 };

static const char usage[] =
    "usage: sensorgate spool stat DIR\n"
    "       sensorgate spool dump DIR [--all] [--limit N]\n"
    "       sensorgate spool verify DIR\n"
    "stat:   segments in seq order, records, bytes, delivery cursor, what is wrong.\n"
    "dump:   one line per undelivered record (--all: delivered ones too):\n"
    "        seq, event time, topic, key, payload version, event id and the\n"
    "        Kafka value as the producer renders it.\n"
    "verify: check every frame, the seq order, the cursor and the epoch; one line\n"
    "        per finding with what to do.  Exit 0 clean, 1 repairable without\n"
    "        loss (the gateway does it at start), 3 events lost or not deliverable,\n"
    "        4 DIR cannot be read.\n";

enum sub { SUB_STAT, SUB_DUMP, SUB_VERIFY };

struct dump_ctx {
	uint64_t after, limit, shown;
	bool all;
	struct sg_buf scratch;
	char epoch[SG_EPOCH_HEX + 1]; /* "" without an epoch file */
};

static void dump_frame(void *arg, uint64_t seq, const uint8_t *p, uint32_t len, size_t off)
{
	struct dump_ctx *d = arg;
	struct sg_record r;
	size_t pos = 0, nl, vl;
	const char *name;
	const void *val;

	if (seq <= d->after || (d->limit && d->shown >= d->limit))
		return;
	d->shown++;
	if (sg_record_decode(p, len, &r) != SG_OK) {
		printf("seq=%" PRIu64 " offset=%zu UNDECODABLE (%u bytes)\n", seq, off, len);
		return;
	}
	if (d->epoch[0]) { /* rendered as the producer does */
		r.epoch = d->epoch;
		r.epoch_len = SG_EPOCH_HEX;
	}
	if (sg_record_render(&r, seq, &d->scratch) != SG_OK) {
		printf("seq=%" PRIu64 " offset=%zu OUT OF MEMORY rendering it\n", seq, off);
		return;
	}
	printf("seq=%" PRIu64 " ts_ns=%" PRId64 " topic=%.*s key=%.*s rec=v%u", seq, r.ts_ns,
	       (int)r.topic_len, r.topic, (int)r.key_len, (const char *)r.key, r.version);
	if (r.version == SG_RECORD_V2 && r.epoch)
		printf(" epoch=%s", r.epoch);
	while (sg_record_header_next(&r, &pos, &name, &nl, &val, &vl))
		if (nl == 5 && !memcmp(name, "sg-id", 5))
			printf(" id=%.*s", (int)vl, (const char *)val);
	printf(" value=%.*s\n", (int)r.value_len, (const char *)r.value);
}

/* Parse `stat|dump|verify DIR [options]`.  Returns -1 to go on, or the
 * exit code (0 after --help, 2 on a usage error). */
static int spool_args(int argc, char **argv, enum sub *sub, struct dump_ctx *d, const char **dir)
{
	const char *s = argc > 1 ? argv[1] : NULL;

	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			fputs(usage, stdout);
			return 0;
		}
	if (!s || (strcmp(s, "stat") && strcmp(s, "dump") && strcmp(s, "verify")) || argc < 3 ||
	    argv[2][0] == '-') {
		fputs(usage, stderr);
		return VERIFY_USAGE;
	}
	*sub = !strcmp(s, "dump") ? SUB_DUMP : !strcmp(s, "verify") ? SUB_VERIFY : SUB_STAT;
	*dir = argv[2];
	for (int i = 3; i < argc; i++) {
		int64_t n;

		if (*sub == SUB_DUMP && !strcmp(argv[i], "--all")) {
			d->all = true;
		} else if (*sub == SUB_DUMP && !strcmp(argv[i], "--limit") && i + 1 < argc &&
			   sg_parse_i64(argv[i + 1], &n) == 0 && n >= 0) {
			d->limit = (uint64_t)n;
			i++;
		} else {
			fprintf(stderr, "spool %s: bad argument '%s'\n%s", s, argv[i], usage);
			return VERIFY_USAGE;
		}
	}
	return -1;
}

/* Undelivered records of the kept segments. */
static uint64_t pending(const struct sg_spool_inspect *in)
{
	uint64_t n = 0;

	for (size_t i = 0; i < in->nsegs; i++) {
		const struct sg_seg_info *s = &in->segs[i];

		if ((s->verdict != SG_SEG_KEEP && s->verdict != SG_SEG_RENAME) ||
		    s->sc.last_seq <= in->ack)
			continue;
		n += s->sc.first_seq > in->ack ? s->sc.records : s->sc.last_seq - in->ack;
	}
	return n;
}

/* What is wrong with one segment, for stat's notes column. */
static void seg_notes(const struct sg_seg_info *s, char *out, size_t n)
{
	size_t k = 0;

	out[0] = '\0';
#define NOTE(...) (k += (size_t)snprintf(out + k, k < n ? n - k : 0, __VA_ARGS__))
	if (s->unreadable)
		NOTE("UNREADABLE; ");
	if (s->sc.unknown_version)
		NOTE("UNKNOWN VERSION; ");
	if (s->sc.bad_header)
		NOTE("BAD HEADER%s; ", s->sc.records ? " (frames intact)" : "");
	if (s->verdict == SG_SEG_RENAME)
		NOTE("misnamed (holds %" PRIu64 "..); ", s->sc.first_seq);
	if (s->verdict == SG_SEG_OVERLAP)
		NOTE("OVERLAPS an earlier segment; ");
	if (s->sc.corrupt_regions || s->sc.torn_bytes)
		NOTE("%" PRIu64 " corrupt region(s), %zu torn tail bytes; ", s->sc.corrupt_regions,
		     s->sc.torn_bytes);
	if (s->gap_before)
		NOTE("%" PRIu64 " missing before it; ", s->gap_before);
	if (s->dropped_before)
		NOTE("%" PRIu64 " dropped by policy before it; ", s->dropped_before);
#undef NOTE
	if (k >= 2 && k < n)
		out[k - 2] = '\0';
}

static void stat_print(const struct sg_spool_inspect *in)
{
	char seqs[64], notes[300];
	uint64_t corrupt = 0, lost = 0, bytes = 0;

	printf("%-28s %10s %12s %22s %s\n", "segment", "records", "bytes", "seqs", "notes");
	for (size_t i = 0; i < in->nsegs; i++) {
		const struct sg_seg_info *s = &in->segs[i];

		snprintf(seqs, sizeof(seqs), "%" PRIu64 "..%" PRIu64, s->sc.first_seq,
			 s->sc.last_seq);
		seg_notes(s, notes, sizeof(notes));
		printf("%020" PRIu64 ".seg%-4s %10" PRIu64 " %12lld %22s %s\n", s->name,
		       s->tmp_name ? ".ren" : "", s->sc.records, (long long)s->size,
		       s->sc.records ? seqs : "-", notes);
		corrupt += s->sc.corrupt_regions;
		lost += s->sc.corrupt_lost;
		bytes += (uint64_t)s->size;
	}
	printf("\nsegments %zu, records %" PRIu64 ", bytes %" PRIu64 ", seqs %" PRIu64 "..%" PRIu64
	       ", delivered up to %" PRIu64 ", pending %" PRIu64 ", corrupt regions %" PRIu64
	       " (~%" PRIu64 " events lost), gaps %" PRIu64 " (%" PRIu64
	       " events missing), dropped by policy %" PRIu64 ", out of order %" PRIu64
	       ", in corrupt/ %" PRIu64 " (%" PRIu64 " intact events), epoch %016" PRIx64 "\n",
	       in->nsegs, in->lay.records, bytes, in->lay.first_seq, in->lay.last_seq, in->ack,
	       pending(in), corrupt, lost + in->lay.gap_records, in->lay.gaps, in->lay.gap_records,
	       in->lay.dropped_records, in->lay.misnamed + in->lay.overlapping, in->aside_files,
	       in->aside_records, in->epoch);
}

static int dump_print(const char *dir, struct sg_spool_inspect *in, struct dump_ctx *d)
{
	d->after = d->all ? 0 : in->ack;
	if (in->epoch_rc == SG_OK)
		snprintf(d->epoch, sizeof(d->epoch), "%016" PRIx64, in->epoch);
	sg_buf_init(&d->scratch);
	for (size_t i = 0; i < in->nsegs; i++)
		if (in->segs[i].verdict == SG_SEG_KEEP || in->segs[i].verdict == SG_SEG_RENAME)
			sg_spool_seg_frames(dir, &in->segs[i], DUMP_MAX_RECORD, dump_frame, d);
	sg_buf_free(&d->scratch);
	return 0;
}

/* --- verify ------------------------------------------------------------- */

struct verdict {
	int worst;
	unsigned findings;
};

static void finding(struct verdict *v, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void finding(struct verdict *v, int level, const char *fmt, ...)
{
	va_list ap;

	printf("%s ", level == VERIFY_LOSS         ? "LOSS"
		      : level == VERIFY_REPAIRABLE ? "REPAIR"
						   : "info");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	if (level > v->worst)
		v->worst = level;
	v->findings += level != VERIFY_CLEAN;
}

static void verify_segment(struct verdict *v, const struct sg_seg_info *s)
{
	uint64_t n = s->name;

	if (s->unreadable)
		finding(v, VERIFY_LOSS,
			"segment %020" PRIu64 ": cannot be read: fix its permissions or the disk; "
			"the gateway does not start until then",
			n);
	if (s->sc.unknown_version)
		finding(v, VERIFY_LOSS,
			"segment %020" PRIu64 ": written by another release (format version): "
			"deliver it with that release; this one moves it to corrupt/",
			n);
	if (s->verdict == SG_SEG_OVERLAP)
		finding(v, VERIFY_LOSS,
			"segment %020" PRIu64 ": its seqs %" PRIu64 "..%" PRIu64
			" overlap an earlier segment (a copy?): moved to corrupt/ at start, its "
			"events are not sent; compare the two and delete the copy",
			n, s->sc.first_seq, s->sc.last_seq);
	if (s->sc.corrupt_regions)
		finding(v, VERIFY_LOSS,
			"segment %020" PRIu64 ": %" PRIu64 " corrupt region(s), %" PRIu64
			" event(s) lost (CRC); the rest is kept and sent; check the storage",
			n, s->sc.corrupt_regions, s->sc.corrupt_lost);
	if (s->gap_before)
		finding(v, VERIFY_LOSS,
			"seqs before %" PRIu64 ": %" PRIu64
			" undelivered events missing (a deleted or lost segment); nothing to do "
			"but account for them",
			s->sc.first_seq, s->gap_before);
	if (s->dropped_before)
		finding(v, VERIFY_CLEAN,
			"seqs before %" PRIu64 ": %" PRIu64
			" events dropped by when_full: drop_oldest (counted when dropped)",
			s->sc.first_seq, s->dropped_before);
	if (s->sc.bad_header && s->sc.records)
		finding(v, VERIFY_REPAIRABLE,
			"segment %020" PRIu64 ": damaged header, its %" PRIu64
			" frames intact: the gateway rewrites the header at start",
			n, s->sc.records);
	if (s->sc.torn_bytes && s->verdict != SG_SEG_EMPTY && s->sc.torn_records)
		finding(v, VERIFY_REPAIRABLE,
			"segment %020" PRIu64 ": torn tail of %zu bytes (a write cut by a crash or "
			"power cut, never acknowledged as durable), %" PRIu64
			" whole events of an unfinished batch among them: truncated at start",
			n, s->sc.torn_bytes, s->sc.torn_records);
	else if (s->sc.torn_bytes && s->verdict != SG_SEG_EMPTY)
		finding(v, VERIFY_REPAIRABLE,
			"segment %020" PRIu64 ": torn tail of %zu bytes (a write cut by a crash or "
			"power cut, never acknowledged as durable): truncated at start",
			n, s->sc.torn_bytes);
	if (s->verdict == SG_SEG_RENAME)
		finding(v, VERIFY_REPAIRABLE,
			"segment %020" PRIu64 "%s holds seqs %" PRIu64 "..%" PRIu64
			": renamed to its first seq at start (out of order)",
			n, s->tmp_name ? ".seg.ren" : "", s->sc.first_seq, s->sc.last_seq);
}

static void verify_files(struct verdict *v, const struct sg_spool_inspect *in)
{
	bool data = in->lay.records > 0;

	if (in->cursor_rc == SG_ECORRUPT)
		finding(v, VERIFY_REPAIRABLE,
			"ack: no valid cursor slot: everything in the spool is sent again at start "
			"(duplicates with the same event ids, no loss)");
	else if (in->cursor_rc == SG_ENOTFOUND && data)
		finding(
		    v, VERIFY_REPAIRABLE,
		    "ack: missing: everything in the spool is sent again at start (duplicates)");
	else if (in->cursor_slots == 2 && in->slot_valid[0] != in->slot_valid[1])
		finding(v, VERIFY_CLEAN,
			"ack: one slot torn (a write cut by a power cut); the "
			"other holds, seq %" PRIu64,
			in->ack);
	if (in->cursor_rc == SG_OK && data && in->ack >= in->lay.last_seq)
		finding(v, VERIFY_CLEAN, "ack: everything on disk is delivered");
	if (in->epoch_rc != SG_OK && data)
		finding(v, VERIFY_REPAIRABLE,
			"epoch: %s: a new epoch is made at start; events sent again carry it, so "
			"consumers deduplicating by (id, epoch) may keep a few duplicates",
			in->epoch_rc == SG_ENOTFOUND ? "missing" : "corrupt");
	if (in->stray)
		finding(v, VERIFY_REPAIRABLE,
			"%" PRIu64 " temporary file(s) left by a crash during a cursor or epoch "
			"write: harmless, removed by the next write",
			in->stray);
	if (in->aside_files)
		finding(v, in->aside_records ? VERIFY_LOSS : VERIFY_CLEAN,
			"corrupt/: %" PRIu64 " segment(s) moved aside by recovery with %" PRIu64
			" intact event(s) not sent; inspect them, then delete corrupt/",
			in->aside_files, in->aside_records);
	if (in->holder_pid)
		finding(v, VERIFY_CLEAN,
			"in use by a running gateway (pid %ld): findings may move while it runs",
			in->holder_pid);
}

static int verify_print(const struct sg_spool_inspect *in)
{
	struct verdict v = {VERIFY_CLEAN, 0};
	uint64_t frames = 0;

	for (size_t i = 0; i < in->nsegs; i++) {
		verify_segment(&v, &in->segs[i]);
		frames += in->segs[i].sc.records;
	}
	verify_files(&v, in);
	printf("space: %zu segment(s), %" PRIu64 " bytes on disk (preallocation included), %" PRIu64
	       " bytes free on the filesystem\n",
	       in->nsegs, in->disk_bytes, in->fs_free);
	printf("verify: %" PRIu64 " frames checked, seqs %" PRIu64 "..%" PRIu64
	       ", delivered up to %" PRIu64 ", epoch %016" PRIx64 ": %u finding(s), %s (exit %d)\n",
	       frames, in->lay.first_seq, in->lay.last_seq, in->ack, in->epoch, v.findings,
	       v.worst == VERIFY_LOSS         ? "events lost or not deliverable"
	       : v.worst == VERIFY_REPAIRABLE ? "repairable without loss"
					      : "clean",
	       v.worst);
	return v.worst;
}

int sg_cli_spool(int argc, char **argv)
{
	struct dump_ctx d = {0};
	struct sg_spool_inspect in;
	const char *dir = NULL;
	enum sub sub = SUB_STAT;
	int rc = spool_args(argc, argv, &sub, &d, &dir);

	if (rc >= 0)
		return rc;
	if (sg_spool_inspect(dir, DUMP_MAX_RECORD, true, &in) != SG_OK) {
		fprintf(stderr, "spool: cannot open %s\n", dir);
		sg_spool_inspect_free(&in);
		return sub == SUB_VERIFY ? VERIFY_IO : 1;
	}
	if (in.cursor_rc == SG_ECORRUPT && sub != SUB_VERIFY)
		fprintf(stderr, "spool: %s/ack is corrupt\n", dir);
	if (sub == SUB_STAT)
		stat_print(&in);
	rc = sub == SUB_DUMP ? dump_print(dir, &in, &d) : sub == SUB_VERIFY ? verify_print(&in) : 0;
	sg_spool_inspect_free(&in);
	return rc;
}
