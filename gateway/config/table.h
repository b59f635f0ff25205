/*
 * config.h - declarative configuration: every key is declared once in a
 * table (name, type, target offset, default, range, help), and one generic
 * walker turns a YAML mapping into a C struct.
 *
 * Tables drive everything: parsing, defaults, range checks, unknown-key
 * errors, the masked dump printed by `sensorgate check --print`, and
 * docs/config.md (`sensorgate config-doc`).  Errors are collected, not
 * fatal on the first one, and read `FILE:LINE:COL: key.path: what`.
 *
 * Strings are heap copies owned by the struct; sg_cfg_free() releases
 * everything a table allocated.  `${NAME}` in any string is replaced by
 * the environment variable NAME (an unset variable is an error); a value
 * of a SECRET key may instead be `file:/path`, read from that file with the
 * trailing newline removed.  Secrets are never printed.
 *
 * Thread-safety: parsing happens once at start-up on the main thread.
 */
#ifndef SG_CONFIG_H
#define SG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gateway/base/err.h"

enum sg_cfg_type {
	SG_CFG_STR,      /* char * */
	SG_CFG_SECRET,   /* char *, never printed, may be file:PATH */
	SG_CFG_INT,      /* int64_t */
	SG_CFG_DOUBLE,   /* double */
	SG_CFG_BOOL,     /* bool */
	SG_CFG_DURATION, /* int64_t milliseconds ("250ms", "5s") */
	SG_CFG_SIZE,     /* int64_t bytes ("16MiB") */
	SG_CFG_ENUM,     /* int: index into .enums */
	SG_CFG_MAP,      /* struct sg_cfg_map: string -> string */
	SG_CFG_STRLIST,  /* struct sg_cfg_strlist */
	SG_CFG_SECTION,  /* nested struct described by .sub */
	SG_CFG_LIST,     /* struct sg_cfg_list of structs described by .sub */
	SG_CFG_SOURCES,  /* struct sg_cfg_list of sources (core only) */
};

#define SG_CFG_REQUIRED 0x1u /* key must be present */
#define SG_CFG_SPECIAL  0x2u /* non-numeric words also accepted: .enums */

struct sg_cfg_kv {
	char *key;
	char *val;
};
struct sg_cfg_map {
	struct sg_cfg_kv *kv;
	size_t n;
};
struct sg_cfg_strlist {
	char **v;
	size_t n;
};
struct sg_cfg_list {
	void *items; /* n structs of table->size bytes each */
	size_t n;
};

/* Where a value came from, for errors reported after parsing. */
struct sg_cfg_pos {
	const char *file;
	int line, col; /* 1-based; 0 if unknown */
};

struct sg_cfg_ctx;
struct sg_cfg_table;

struct sg_cfg_key {
	const char *name;
	enum sg_cfg_type type;
	size_t off;                     /* offsetof() into the table's struct */
	const char *def;                /* default as YAML text; NULL = none */
	double min, max;                /* numeric range; ignored when min > max */
	const char *const *enums;       /* NULL-terminated words for ENUM */
	const struct sg_cfg_table *sub; /* SECTION and LIST */
	unsigned flags;
	const char *help;
};

/* Cross-key validation for a struct after all keys are parsed: report with
 * sg_cfg_error() and return SG_ECONFIG. */
typedef int (*sg_cfg_check_fn)(struct sg_cfg_ctx *ctx, void *obj, const struct sg_cfg_pos *pos,
			       const char *path);

struct sg_cfg_table {
	const char *name; /* for docs: "spool", "sources[].sensors[]" */
	const char *help;
	const struct sg_cfg_key *keys;
	size_t nkeys;
	size_t size; /* sizeof the target struct (for LIST items) */
	sg_cfg_check_fn check;
};

#define SG_CFG_TABLE(nm, hlp, type, keyarr, chk)                                                   \
	{                                                                                          \
		.name = nm, .help = hlp, .keys = keyarr,                                           \
		.nkeys = sizeof(keyarr) / sizeof(keyarr[0]), .size = sizeof(type), .check = chk    \
	}

/* Report an error at pos (may be NULL) for key path `path`. */
void sg_cfg_error(struct sg_cfg_ctx *ctx, const struct sg_cfg_pos *pos, const char *path,
		  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Apply a table's defaults to obj (zeroed by the caller). */
int sg_cfg_defaults(const struct sg_cfg_table *t, void *obj);
void sg_cfg_free(const struct sg_cfg_table *t, void *obj);

/* Print the effective values of obj as YAML (secrets as "<secret>"). */
void sg_cfg_dump(const struct sg_cfg_table *t, const void *obj, int indent, void *fp);

/* Markdown for a table and its sub-tables (docs/config.md). */
void sg_cfg_doc(const struct sg_cfg_table *t, const char *prefix, void *fp);

#endif
