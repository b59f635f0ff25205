/*
 * table_doc.c - tables read back out: the effective values of a parsed
 * struct as YAML (`sensorgate check --print`, secrets masked; mask.h says
 * which values of a map) and the Markdown reference of a table and
 * everything below it (docs/config.md).
 * Like the parser in table.c it knows no key by name; a custom key prints
 * and documents itself through its callbacks.
 */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "mask.h"
#include "table_internal.h"

#define CFIELD(obj, k, T) ((const T *)((const char *)(obj) + (k)->off))

const char *sg_cfg_doc_type(const struct sg_cfg_key *k)
{
	switch (k->type) {
	case SG_CFG_STR: return "string";
	case SG_CFG_SECRET: return "secret";
	case SG_CFG_INT: return "integer";
	case SG_CFG_DOUBLE: return "number";
	case SG_CFG_BOOL: return "bool";
	case SG_CFG_DURATION: return "duration";
	case SG_CFG_SIZE: return "size";
	case SG_CFG_ENUM: return "enum";
	case SG_CFG_MAP: return "map";
	case SG_CFG_STRLIST: return "list of strings";
	case SG_CFG_SECTION: return "section";
	case SG_CFG_LIST: return "list";
	case SG_CFG_CUSTOM: return k->custom->type_name;
	}
	return "?";
}

/* Set by sg_cfg_dump_digest for the dump it makes on this thread. */
static _Thread_local bool dump_digests;
static unsigned char digest_key[32];
static pthread_once_t digest_once = PTHREAD_ONCE_INIT;
static bool digest_key_ok;

static void digest_init(void)
{
	digest_key_ok = RAND_bytes(digest_key, sizeof(digest_key)) == 1;
}

/* A secret as the dump shows it: "<secret>", or in a digest dump the first
 * 128 bits of HMAC-SHA256(random key, value).  Without a key (the RNG
 * failed) every secret compares as changed rather than as unchanged. */
static void dump_secret(const char *v, FILE *fp)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (!dump_digests) {
		fputs("<secret>", fp);
		return;
	}
	pthread_once(&digest_once, digest_init);
	if (!digest_key_ok ||
	    !HMAC(EVP_sha256(), digest_key, sizeof(digest_key), (const unsigned char *)v, strlen(v),
		  md, &n) ||
	    n < 16) {
		static _Thread_local unsigned long long changed;
		fprintf(fp, "<secret changed %llu>", ++changed);
		return;
	}
	fputs("<secret ", fp);
	for (unsigned int i = 0; i < 16; i++)
		fprintf(fp, "%02x", md[i]);
	fputc('>', fp);
}

static void dump_map(const struct sg_cfg_map *m, int indent, FILE *fp)
{
	fprintf(fp, m->n ? "\n" : " {}\n");
	for (size_t j = 0; j < m->n; j++) {
		fprintf(fp, "%*s\"%s\": \"", indent + 2, "", m->kv[j].key);
		if (sg_mask_value(m->kv[j].key, m->kv[j].val))
			dump_secret(m->kv[j].val, fp);
		else
			fputs(m->kv[j].val, fp);
		fputs("\"\n", fp);
	}
}

static void dump_list(const struct sg_cfg_key *k, const struct sg_cfg_list *l, int indent, FILE *fp)
{
	fprintf(fp, l->n ? "\n" : " []\n");
	for (size_t j = 0; j < l->n; j++) {
		fprintf(fp, "%*s-\n", indent + 2, "");
		sg_cfg_dump(k->sub, (const char *)l->items + j * k->sub->size, indent + 4, fp);
	}
}

static void dump_number(const struct sg_cfg_key *k, int64_t v, FILE *fp)
{
	if (k->words && v < 0) /* SG_SPECIAL: a word, stored as -1 - index */
		fprintf(fp, " %s\n", k->words[-1 - v]);
	else
		fprintf(fp, " %lld%s\n", (long long)v, k->type == SG_CFG_DURATION ? "ms" : "");
}

void sg_cfg_dump(const struct sg_cfg_table *t, const void *obj, int indent, FILE *fp)
{
	for (size_t i = 0; i < t->nkeys; i++) {
		const struct sg_cfg_key *k = &t->keys[i];
		const char *s;

		fprintf(fp, "%*s%s:", indent, "", k->name);
		switch (k->type) {
		case SG_CFG_STR:
			s = *CFIELD(obj, k, char *);
			if (s)
				fprintf(fp, " \"%s\"\n", s);
			else
				fprintf(fp, " ~\n");
			break;
		case SG_CFG_SECRET:
			s = *CFIELD(obj, k, char *);
			if (s) {
				fputc(' ', fp);
				dump_secret(s, fp);
				fputc('\n', fp);
			} else {
				fprintf(fp, " ~\n");
			}
			break;
		case SG_CFG_INT:
		case SG_CFG_DURATION:
		case SG_CFG_SIZE: dump_number(k, *CFIELD(obj, k, int64_t), fp); break;
		case SG_CFG_DOUBLE: fprintf(fp, " %.17g\n", *CFIELD(obj, k, double)); break;
		case SG_CFG_BOOL:
			fprintf(fp, " %s\n", *CFIELD(obj, k, bool) ? "true" : "false");
			break;
		case SG_CFG_ENUM: fprintf(fp, " %s\n", k->words[*CFIELD(obj, k, int)]); break;
		case SG_CFG_MAP: dump_map(CFIELD(obj, k, struct sg_cfg_map), indent, fp); break;
		case SG_CFG_STRLIST: {
			const struct sg_cfg_strlist *sl = CFIELD(obj, k, struct sg_cfg_strlist);
			fprintf(fp, sl->n ? "\n" : " []\n");
			for (size_t j = 0; j < sl->n; j++)
				fprintf(fp, "%*s- \"%s\"\n", indent + 2, "", sl->v[j]);
			break;
		}
		case SG_CFG_SECTION:
			fprintf(fp, "\n");
			sg_cfg_dump(k->sub, CFIELD(obj, k, char), indent + 2, fp);
			break;
		case SG_CFG_LIST:
			dump_list(k, CFIELD(obj, k, struct sg_cfg_list), indent, fp);
			break;
		case SG_CFG_CUSTOM: k->custom->dump(k, CFIELD(obj, k, char), indent + 2, fp); break;
		}
	}
}

void sg_cfg_dump_digest(const struct sg_cfg_table *t, const void *obj, int indent, FILE *fp)
{
	bool was = dump_digests;

	dump_digests = true;
	sg_cfg_dump(t, obj, indent, fp);
	dump_digests = was;
}

void sg_cfg_doc_range(const struct sg_cfg_key *k, char *out, size_t n)
{
	bool special = k->type != SG_CFG_ENUM && k->words;

	out[0] = '\0';
	if (k->type == SG_CFG_ENUM || special) {
		char list[256];
		sg_cfg_words(k, list, sizeof(list));
		snprintf(out, n, "%s%s", list, special ? ", or a value" : "");
		if (!k->ranged)
			return;
		size_t u = strlen(out);
		snprintf(out + u, n - u, " in %.17g..%.17g", k->min, k->max);
	} else if (k->ranged) {
		snprintf(out, n, "%.17g..%.17g", k->min, k->max);
	}
}

void sg_cfg_doc(const struct sg_cfg_table *t, const char *prefix, FILE *fp)
{
	char range[300], sub[256];

	fprintf(fp, "\n### `%s`\n\n%s\n\n", *prefix ? prefix : "(top level)",
		t->help ? t->help : "");
	fprintf(fp, "| key | type | default | range | description |\n");
	fprintf(fp, "|---|---|---|---|---|\n");
	for (size_t i = 0; i < t->nkeys; i++) {
		const struct sg_cfg_key *k = &t->keys[i];

		sg_cfg_doc_range(k, range, sizeof(range));
		fprintf(fp, "| `%s` | %s | %s%s%s | %s | %s |\n", k->name, sg_cfg_doc_type(k),
			k->def ? "`" : "", k->def ? k->def : (k->required ? "required" : "—"),
			k->def ? "`" : "", range, k->help ? k->help : "");
	}
	for (size_t i = 0; i < t->nkeys; i++) {
		const struct sg_cfg_key *k = &t->keys[i];

		snprintf(sub, sizeof(sub), "%s%s%s%s", prefix, *prefix ? "." : "", k->name,
			 k->type == SG_CFG_LIST ? "[]" : "");
		if (k->type == SG_CFG_SECTION || k->type == SG_CFG_LIST)
			sg_cfg_doc(k->sub, sub, fp);
		else if (k->type == SG_CFG_CUSTOM && k->custom->doc)
			k->custom->doc(k, sub, fp);
	}
}
