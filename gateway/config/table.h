/*
 * table.h - declarative configuration: every key is declared once in a
 * table of named rows (SG_KEY_* below: name, target field, default, range,
 * help), and one generic walker (table.c) turns a YAML mapping into a C
 * struct.  The walker knows no key by name and nothing of the gateway:
 * a key whose value is more than a scalar, a section or a list of one
 * table is an SG_KEY_CUSTOM with its own callbacks (table_internal.h).
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
 * Thread-safety: tables are const; parsing happens at start-up on the
 * main thread.
 */
#ifndef SG_CONFIG_TABLE_H
#define SG_CONFIG_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "gateway/base/err.h"

/* What a key's field holds, and so how its value is parsed. */
enum sg_cfg_type {
	SG_CFG_STR,      /* char * */
	SG_CFG_SECRET,   /* char *, never printed, may be file:PATH */
	SG_CFG_INT,      /* int64_t */
	SG_CFG_DOUBLE,   /* double */
	SG_CFG_BOOL,     /* bool */
	SG_CFG_DURATION, /* int64_t milliseconds ("250ms", "5s") */
	SG_CFG_SIZE,     /* int64_t bytes ("16MiB") */
	SG_CFG_ENUM,     /* int: index into .words */
	SG_CFG_MAP,      /* struct sg_cfg_map: string -> string */
	SG_CFG_STRLIST,  /* struct sg_cfg_strlist */
	SG_CFG_SECTION,  /* nested struct described by .sub */
	SG_CFG_LIST,     /* struct sg_cfg_list of structs described by .sub */
	SG_CFG_CUSTOM,   /* anything: parsed, freed, dumped by .custom */
};

/* Where a value came from, for errors reported after parsing. */
struct sg_cfg_pos {
	const char *file;
	int line, col; /* 1-based; 0 if unknown */
};

struct sg_cfg_kv {
	char *key;
	char *val;
	struct sg_cfg_pos pos; /* where the key is in the file (line 0: not from a file) */
};
struct sg_cfg_map {
	struct sg_cfg_kv *kv;
	size_t n;
};
/* The position of key in m, or NULL (not there, or not from a file). */
const struct sg_cfg_pos *sg_cfg_map_pos(const struct sg_cfg_map *m, const char *key);
struct sg_cfg_strlist {
	char **v;
	size_t n;
};
struct sg_cfg_list {
	void *items; /* n structs of table->size bytes each */
	size_t n;
};

struct sg_cfg_ctx;
struct sg_cfg_table;
struct sg_cfg_custom; /* table_internal.h */

/*
 * One key.  Write rows with the SG_KEY_* macros, never positionally: they
 * fill the fields that apply to the kind and check at compile time that
 * the target field has the C type the kind writes.
 */
struct sg_cfg_key {
	const char *name;
	enum sg_cfg_type type;
	size_t off;      /* offsetof() the field in the table's struct */
	size_t size;     /* sizeof the field (checked against .sub, .custom) */
	const char *def; /* default as YAML text; NULL = none (field zero) */
	bool required;   /* the key must be present (SG_REQUIRED) */
	bool ranged;     /* numeric kinds: the value must lie in [min, max] */
	double min, max;
	/* ENUM: the NULL-terminated words, stored as their index.
	 * INT, DURATION, SIZE: words also accepted (SG_SPECIAL), stored as
	 * -1 - index; NULL = numbers only. */
	const char *const *words;
	const struct sg_cfg_table *sub;     /* SECTION and LIST */
	const struct sg_cfg_custom *custom; /* CUSTOM */
	const char *help;
};

/* Options that follow a row's help text. */
#define SG_REQUIRED   .required = true
#define SG_SPECIAL(w) .words = (w)

/* Internals of the row macros: the field, and a zero that fails to
 * compile unless field f of struct T has type FT. */
#define SG_CFG__FIELD(T, f) (((T *)0)->f)
#define SG_CFG__IS(T, f, FT)                                                                       \
	(0 * sizeof(struct {                                                                       \
		 _Static_assert(__builtin_types_compatible_p(__typeof__(SG_CFG__FIELD(T, f)), FT), \
				"config key: field " #f " of " #T " is not " #FT);                 \
		 int sg_ok;                                                                        \
	 }))
#define SG_CFG__AT(nm, kind, T, f, check, hlp)                                                     \
	.name = (nm), .type = (kind), .off = offsetof(T, f) + (check),                             \
	.size = sizeof(SG_CFG__FIELD(T, f)), .help = (hlp)
#define SG_CFG__ROW(nm, kind, T, f, hlp)       SG_CFG__AT(nm, kind, T, f, 0, hlp)
#define SG_CFG__TYPED(nm, kind, T, f, FT, hlp) SG_CFG__AT(nm, kind, T, f, SG_CFG__IS(T, f, FT), hlp)
#define SG_CFG__RANGE(lo, hi)                  .ranged = true, .min = (lo), .max = (hi)

/*
 * The rows.  nm is the YAML key, T the struct type the table fills, f the
 * field; dflt is the default as YAML text (NULL: none); lo..hi the
 * inclusive range; trailing options (SG_REQUIRED, SG_SPECIAL(words)) come
 * after the help text.
 */
#define SG_KEY_STR(nm, T, f, dflt, hlp, ...)                                                       \
	{                                                                                          \
		SG_CFG__TYPED(nm, SG_CFG_STR, T, f, char *, hlp), .def = (dflt), __VA_ARGS__       \
	}
/* A secret has no default: it never appears in source code. */
#define SG_KEY_SECRET(nm, T, f, hlp, ...)                                                          \
	{                                                                                          \
		SG_CFG__TYPED(nm, SG_CFG_SECRET, T, f, char *, hlp), __VA_ARGS__                   \
	}
#define SG_KEY_INT(nm, T, f, dflt, lo, hi, hlp, ...)                                               \
	{                                                                                          \
		SG_CFG__TYPED(nm, SG_CFG_INT, T, f, int64_t, hlp),                                 \
		    .def = (dflt), SG_CFG__RANGE(lo, hi), __VA_ARGS__                              \
	}
#define SG_KEY_DURATION(nm, T, f, dflt, lo, hi, hlp, ...)                                          \
	{                                                                                          \
		SG_CFG__TYPED(nm, SG_CFG_DURATION, T, f, int64_t, hlp),                            \
		    .def = (dflt), SG_CFG__RANGE(lo, hi), __VA_ARGS__                              \
	}
#define SG_KEY_SIZE(nm, T, f, dflt, lo, hi, hlp, ...)                                              \
	{                                                                                          \
		SG_CFG__TYPED(nm, SG_CFG_SIZE, T, f, int64_t, hlp),                                \
		    .def = (dflt), SG_CFG__RANGE(lo, hi), __VA_ARGS__                              \
	}
#define SG_KEY_DOUBLE(nm, T, f, dflt, lo, hi, hlp, ...)                                            \
	{                                                                                          \
		SG_CFG__TYPED(nm, SG_CFG_DOUBLE, T, f, double, hlp),                               \
		    .def = (dflt), SG_CFG__RANGE(lo, hi), __VA_ARGS__                              \
	}
/* A number with no range at all (any value sg_parse_double() accepts). */
#define SG_KEY_DOUBLE_ANY(nm, T, f, dflt, hlp, ...)                                                \
	{                                                                                          \
		SG_CFG__TYPED(nm, SG_CFG_DOUBLE, T, f, double, hlp), .def = (dflt), __VA_ARGS__    \
	}
#define SG_KEY_BOOL(nm, T, f, dflt, hlp, ...)                                                      \
	{                                                                                          \
		SG_CFG__TYPED(nm, SG_CFG_BOOL, T, f, bool, hlp), .def = (dflt), __VA_ARGS__        \
	}
#define SG_KEY_ENUM(nm, T, f, dflt, wds, hlp, ...)                                                 \
	{                                                                                          \
		SG_CFG__TYPED(nm, SG_CFG_ENUM, T, f, int, hlp), .def = (dflt), .words = (wds),     \
								__VA_ARGS__                        \
	}
#define SG_KEY_MAP(nm, T, f, hlp, ...)                                                             \
	{                                                                                          \
		SG_CFG__TYPED(nm, SG_CFG_MAP, T, f, struct sg_cfg_map, hlp), __VA_ARGS__           \
	}
#define SG_KEY_STRLIST(nm, T, f, hlp, ...)                                                         \
	{                                                                                          \
		SG_CFG__TYPED(nm, SG_CFG_STRLIST, T, f, struct sg_cfg_strlist, hlp), __VA_ARGS__   \
	}
/* The field is the sub-table's struct itself: the walker asserts that
 * sizes agree (the table's type is not known at compile time). */
#define SG_KEY_SECTION(nm, T, f, subtable, hlp, ...)                                               \
	{                                                                                          \
		SG_CFG__ROW(nm, SG_CFG_SECTION, T, f, hlp), .sub = (subtable), __VA_ARGS__         \
	}
#define SG_KEY_LIST(nm, T, f, subtable, hlp, ...)                                                  \
	{                                                                                          \
		SG_CFG__TYPED(nm, SG_CFG_LIST, T, f, struct sg_cfg_list, hlp), .sub = (subtable),  \
									       __VA_ARGS__         \
	}
/* The walker asserts that the field has the size cust->size. */
#define SG_KEY_CUSTOM(nm, T, f, cust, hlp, ...)                                                    \
	{                                                                                          \
		SG_CFG__ROW(nm, SG_CFG_CUSTOM, T, f, hlp), .custom = (cust), __VA_ARGS__           \
	}

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

/* Most keys in one table: the walker tracks duplicates and required keys
 * in a fixed bitmap. */
#define SG_CFG_MAX_KEYS 128

#define SG_CFG_TABLE(nm, hlp, type, keyarr, chk)                                                   \
	{                                                                                          \
		.name = nm, .help = hlp, .keys = keyarr,                                           \
		.nkeys = sizeof(keyarr) / sizeof(keyarr[0]), .size = sizeof(type), .check = chk    \
	}

/* Report an error at pos (may be NULL) for key path `path`. */
void sg_cfg_error(struct sg_cfg_ctx *ctx, const struct sg_cfg_pos *pos, const char *path,
		  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Apply a table's defaults to obj (zeroed by the caller).  A default the
 * table itself cannot parse is a programming error: abort(). */
int sg_cfg_defaults(const struct sg_cfg_table *t, void *obj);
/* Free everything the table allocated in obj (NULL is a no-op). */
void sg_cfg_free(const struct sg_cfg_table *t, void *obj);

/* Print the effective values of obj as YAML (secrets as "<secret>"). */
void sg_cfg_dump(const struct sg_cfg_table *t, const void *obj, int indent, FILE *fp);
/* The same for comparing two configurations (reload): each secret, and
 * each map value sg_mask_value() hides, is printed as a keyed digest of its
 * value ("<secret 1f0c...>"), so two dumps are equal exactly when the
 * values are, secrets included, and the text still holds none.  The key is
 * random per process: a digest means nothing outside it. */
void sg_cfg_dump_digest(const struct sg_cfg_table *t, const void *obj, int indent, FILE *fp);

/* Markdown for a table and its sub-tables (docs/config.md); prefix is the
 * key path of t ("" for the top level). */
void sg_cfg_doc(const struct sg_cfg_table *t, const char *prefix, FILE *fp);

/* Check that a table and everything below it is well formed (sizes of
 * sections and custom fields, ranges and words only where they apply, no
 * default on a required key, unique names, at most SG_CFG_MAX_KEYS keys).
 * SG_OK, or SG_EINVAL with the first problem in eb.  For tests. */
int sg_cfg_verify(const struct sg_cfg_table *t, struct sg_errbuf *eb);

#endif
