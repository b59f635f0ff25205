/*
 * yaml_load.c - reading a configuration file into one YAML document,
 * guarded: the bytes are checked before libfyaml sees them (libfyaml
 * 0.7 loops forever on a `%` directive followed by a byte that is not
 * UTF-8, and accepts other binary data with messages that name no
 * file), its own quadratic duplicate-key check is off (the walker finds
 * duplicates itself, table.c), its diagnostics are collected and
 * reported as FILE:LINE:COL like every other error, a file without a
 * document (empty, comments only, a bare `---`) means all defaults, and
 * a second document is an error instead of being ignored.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/base/buf.h"
#include "table_internal.h"

/* Larger than any configuration: refused before it is read. */
#define CFG_MAX_FILE (16u << 20)

/* The file's bytes (NUL-terminated), or NULL with the error reported. */
static char *load_read(struct sg_cfg_ctx *ctx, const char *file, size_t *len)
{
	struct stat st;
	char *p = NULL;
	int fd = open(file, O_RDONLY | O_CLOEXEC);
	ssize_t n = 0;

	if (fd < 0 || fstat(fd, &st) != 0) {
		sg_cfg_error(ctx, NULL, "(file)", "cannot read the file: %s", strerror(errno));
	} else if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > CFG_MAX_FILE) {
		sg_cfg_error(ctx, NULL, "(file)", "not a regular file of at most %u MiB",
			     CFG_MAX_FILE >> 20);
	} else if ((p = malloc((size_t)st.st_size + 1))) {
		while ((size_t)n < (size_t)st.st_size) {
			ssize_t r = read(fd, p + n, (size_t)st.st_size - (size_t)n);
			if (r <= 0)
				break;
			n += r;
		}
		p[n] = '\0';
		*len = (size_t)n;
	}
	if (fd >= 0)
		close(fd);
	return p;
}

/* Text YAML can hold: UTF-8, no NUL and no control characters but tab,
 * newline and carriage return.  Reports the first offending byte at its
 * line and column and returns false. */
static bool load_bytes_ok(struct sg_cfg_ctx *ctx, const char *file, const unsigned char *p,
			  size_t n)
{
	struct sg_cfg_pos pos = {.file = file, .line = 1, .col = 1};
	size_t i = 0;

	while (i < n) {
		unsigned char c = p[i];
		size_t k = c < 0x80 ? 1 : sg_utf8_len(p + i, n - i);

		if (!k || (c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) {
			sg_cfg_error(ctx, &pos, "(file)",
				     !k ? "byte 0x%02x is not UTF-8: the file must be UTF-8 text"
					: "control character 0x%02x: binary data, not YAML text",
				     c);
			return false;
		}
		if (c == '\n') {
			pos.line++;
			pos.col = 1;
		} else {
			pos.col++;
		}
		i += k;
	}
	return true;
}

/* Nothing but blank lines and comments? */
static bool load_blank(const char *p)
{
	for (;;) {
		p += strspn(p, " \t\r");
		if (*p == '#')
			p += strcspn(p, "\n");
		if (!*p)
			return true;
		if (*p != '\n')
			return false;
		p++;
	}
}

/* Report libfyaml's collected messages of at least level min (at least
 * one line when always).  Returns how many. */
static int load_diag(struct sg_cfg_ctx *ctx, const char *file, struct fy_diag *diag,
		     enum fy_error_type min, bool always)
{
	struct fy_diag_error *e;
	void *iter = NULL;
	int n = 0;

	while ((e = fy_diag_errors_iterate(diag, &iter))) {
		struct sg_cfg_pos pos = {.file = file, .line = e->line, .col = e->column};

		if (e->type < min)
			continue;
		sg_cfg_error(ctx, &pos, "(yaml)", "not valid YAML: %s", e->msg ? e->msg : "?");
		n++;
	}
	if (!n && always)
		sg_cfg_error(ctx, NULL, "(yaml)", "not valid YAML");
	return n;
}

/* After the first document: another one, or the end of the stream. */
static bool load_one_document(struct sg_cfg_ctx *ctx, const char *file, struct fy_parser *fyp,
			      struct fy_diag *diag)
{
	struct fy_event *fye = fy_parser_parse(fyp);
	bool ok = true;

	if (!fye) {
		if (fy_parser_get_stream_error(fyp)) {
			load_diag(ctx, file, diag, FYET_ERROR, true);
			ok = false;
		}
		return ok;
	}
	if (fye->type == FYET_DOCUMENT_START) {
		const struct fy_mark *m = fy_event_start_mark(fye);
		struct fy_event *next = NULL;
		struct sg_cfg_pos pos = {.file = file};

		if (!m && (next = fy_parser_parse(fyp))) /* implicit start: its first node */
			m = fy_event_start_mark(next);
		if (m) {
			pos.line = m->line + 1;
			pos.col = m->column + 1;
		}
		if (!m && fy_parser_get_stream_error(fyp))
			load_diag(ctx, file, diag, FYET_ERROR, true);
		else
			sg_cfg_error(ctx, pos.line ? &pos : NULL, "(yaml)",
				     "a second YAML document: a configuration is one document");
		if (next)
			fy_parser_event_free(fyp, next);
		ok = false;
	}
	fy_parser_event_free(fyp, fye);
	return ok;
}

struct fy_document *sg_cfg_load_yaml(struct sg_cfg_ctx *ctx, const char *file, bool *empty)
{
	struct fy_parse_cfg pcfg = {.flags = (FYPCF_DEFAULT_DOC | FYPCF_ALLOW_DUPLICATE_KEYS) &
					     ~FYPCF_QUIET};
	struct fy_diag_cfg dcfg;
	struct fy_parser *fyp = NULL;
	struct fy_document *doc = NULL;
	size_t len = 0;
	char *text = load_read(ctx, file, &len);

	*empty = false;
	if (!text || !load_bytes_ok(ctx, file, (const unsigned char *)text, len))
		goto out;
	if (load_blank(text)) {
		*empty = true;
		goto out;
	}
	fy_diag_cfg_default(&dcfg);
	dcfg.fp = NULL;
	pcfg.diag = fy_diag_create(&dcfg);
	if (pcfg.diag)
		fy_diag_set_collect_errors(pcfg.diag, true);
	if (!pcfg.diag || !(fyp = fy_parser_create(&pcfg)) ||
	    fy_parser_set_malloc_string(fyp, text, len)) {
		sg_cfg_error(ctx, NULL, "(yaml)", "cannot set up the parser");
		goto out;
	}
	text = NULL; /* the parser's now: the document's tokens point into it */
	doc = fy_parse_load_document(fyp);
	if (!doc) {
		/* No document: an error, or a stray directive (a warning to
		 * libfyaml, for which a document must follow), or nothing. */
		if (fy_parser_get_stream_error(fyp))
			load_diag(ctx, file, pcfg.diag, FYET_ERROR, true);
		else if (!load_diag(ctx, file, pcfg.diag, FYET_WARNING, false))
			*empty = true;
	} else if (!load_one_document(ctx, file, fyp, pcfg.diag)) {
		fy_parse_document_destroy(fyp, doc);
		doc = NULL;
	}
out:
	if (fyp)
		fy_parser_destroy(fyp);
	if (pcfg.diag)
		fy_diag_destroy(pcfg.diag);
	free(text);
	return doc;
}
