/*
 * table_internal.h - the parse context, for code that extends the table
 * walker rather than only declaring tables: custom-key implementations
 * (the gateway's `sources` list in keys.c) and loaders that parse a YAML
 * document of their own against a table (the Modbus simulator's register
 * map, drivers/modbus/simdevice_map.c).  Plain key tables need table.h only.
 *
 * The context collects errors as text lines; nothing here is fatal.
 * Thread-safety: one context per parse, on one thread.
 */
#ifndef SG_CONFIG_TABLE_INTERNAL_H
#define SG_CONFIG_TABLE_INTERNAL_H

#include <libfyaml.h>

#include "table.h"
#include "gateway/base/buf.h"

/* One parse: the file named in errors, and the errors so far (one line
 * each; the caller owns errors.p). */
struct sg_cfg_ctx {
	const char *file;
	int nerrors;
	struct sg_buf errors;
};

/*
 * A key kind the walker does not know: the callbacks do all the work on
 * the key's field (size bytes at the key's offset).  The walker reports
 * unknown, duplicate and null-valued keys itself and then hands over the
 * value node.  A custom key has no default: its field starts zeroed.
 */
struct sg_cfg_custom {
	const char *type_name; /* docs' type column, e.g. "list of sources" */
	size_t size;           /* sizeof the field (checked by the walker) */
	/* Optional: a table the value is made of (each item of a list, say),
	 * checked by sg_cfg_verify() with the key's own table. */
	const struct sg_cfg_table *sub;
	/* Parse node v (never a YAML null) for the key at pos (the key's
	 * position), path its key path.  Report with sg_cfg_error() and
	 * return SG_ECONFIG, or return SG_OK.  free() runs either way. */
	int (*parse)(struct sg_cfg_ctx *ctx, struct fy_node *v, const struct sg_cfg_pos *pos,
		     const char *path, const struct sg_cfg_key *k, void *field);
	/* Release what parse() allocated; the field must end zeroed. */
	void (*free)(const struct sg_cfg_key *k, void *field);
	/* Print the value as YAML after the walker's "name:", ending with a
	 * newline; nested lines at indent.  Never print a secret. */
	void (*dump)(const struct sg_cfg_key *k, const void *field, int indent, FILE *fp);
	/* Optional: Markdown sections for what the key holds (after the
	 * table's own), prefix the key's path. */
	void (*doc)(const struct sg_cfg_key *k, const char *prefix, FILE *fp);
};

/*
 * The one YAML document of file, read with guards (yaml_load.c): the
 * bytes must be UTF-8 text without control characters, libfyaml's
 * messages become FILE:LINE:COL errors in ctx, a second document is an
 * error.  Returns the document (fy_document_destroy() it), or NULL: with
 * errors reported, or with *empty set when the file holds no document
 * (empty, only comments), which means all defaults.  Duplicate keys are
 * not checked here (the walker reports them).
 */
struct fy_document *sg_cfg_load_yaml(struct sg_cfg_ctx *ctx, const char *file, bool *empty);

/* The position of node n (its scalar token), or line 0 if it has none. */
struct sg_cfg_pos sg_cfg_node_pos(struct sg_cfg_ctx *ctx, struct fy_node *n);
/* Where to report a problem with value v of the key at kpos: the value's
 * own position when it has one, else the key's. */
struct sg_cfg_pos sg_cfg_value_pos(struct sg_cfg_ctx *ctx, struct fy_node *v,
				   const struct sg_cfg_pos *kpos);

/* A string value's text with every ${NAME} replaced by the environment
 * variable NAME: a heap string, or NULL with the error reported. */
char *sg_cfg_expand(struct sg_cfg_ctx *ctx, const struct sg_cfg_pos *pos, const char *path,
		    const char *s);
/* A SECRET value: s (heap, taken) itself, or for `file:PATH` the file's
 * content without its trailing newline (s freed).  NULL with the error
 * reported when the file cannot be read. */
char *sg_cfg_secret(struct sg_cfg_ctx *ctx, const struct sg_cfg_pos *pos, const char *path,
		    char *s);

/* The words of k (.words) as "a, b, c" into out (error messages, docs). */
void sg_cfg_words(const struct sg_cfg_key *k, char *out, size_t n);
/* For the references (table_doc.c, doc_man.c): the type column of k
 * ("duration", a custom key's type_name) and its range column ("1..60000",
 * "a, b, c", "" when unbounded) into out. */
const char *sg_cfg_doc_type(const struct sg_cfg_key *k);
void sg_cfg_doc_range(const struct sg_cfg_key *k, char *out, size_t n);

/* Parse mapping node `map` into obj (defaults already applied).  When
 * `extra` is non-NULL, keys unknown to `t` are tried against it, filling
 * extra_obj (a source's driver keys share the source's mapping) before
 * being reported.  Runs the tables' checks when every key parsed.
 * SG_OK or SG_ECONFIG. */
int sg_cfg_parse_map(struct sg_cfg_ctx *ctx, struct fy_node *map, const struct sg_cfg_pos *mpos,
		     const char *path, const struct sg_cfg_table *t, void *obj,
		     const struct sg_cfg_table *extra, void *extra_obj);

#endif
