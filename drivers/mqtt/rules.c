/*
 * rules.c - MQTT topic filters and topic-level templates.
 *
 * Filters follow MQTT 3.1.1 section 4.7 (unchanged in MQTT 5): levels are
 * separated by '/', '+' matches exactly one level (which may be empty),
 * '#' matches the parent level and any number of levels below it and must
 * be last, and a topic starting with '$' is not matched by a filter whose
 * first level is a wildcard.  Templates name topic levels as {0}, {1}...,
 * the whole topic as {topic} and, in rules that make several events of a
 * message, the field as {field}; a Kafka topic template keeps only the
 * characters Kafka accepts in a topic name and turns the rest into '_'.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mqtt.h"

void mq_levels_split(const char *topic, struct mq_levels *out)
{
	const char *p = topic;

	out->n = 0;
	for (;;) {
		const char *e = strchr(p, '/');
		size_t l = e ? (size_t)(e - p) : strlen(p);

		if (out->n == MQ_MAX_LEVELS) {
			out->n = -1;
			return;
		}
		out->lv[out->n] = p;
		out->len[out->n++] = l;
		if (!e)
			return;
		p = e + 1;
	}
}

int mq_filter_valid(const char *f, struct sg_errbuf *eb)
{
	size_t n = strlen(f);

	if (!n)
		return sg_errf(eb, SG_EINVAL, "empty topic filter");
	if (n > 65535)
		return sg_errf(eb, SG_EINVAL, "topic filter longer than 65535 bytes");
	for (size_t i = 0; i < n; i++) {
		bool start = i == 0 || f[i - 1] == '/';
		bool end = i + 1 == n || f[i + 1] == '/';

		if (f[i] == '+' && !(start && end))
			return sg_errf(eb, SG_EINVAL,
				       "'+' must fill a whole level (at byte %zu of \"%s\")", i, f);
		if (f[i] == '#' && !(start && i + 1 == n))
			return sg_errf(eb, SG_EINVAL,
				       "'#' must be the last level, alone (in \"%s\")", f);
	}
	return SG_OK;
}

static bool level_eq(const char *a, size_t al, const char *b, size_t bl)
{
	return al == bl && !memcmp(a, b, al);
}

bool mq_filter_match_lv(const char *f, const struct mq_levels *fl, const char *topic,
			const struct mq_levels *tl)
{
	if (!*topic || fl->n < 0 || tl->n < 0)
		return false;
	if (topic[0] == '$' && (f[0] == '+' || f[0] == '#'))
		return false;
	for (int i = 0; i < fl->n; i++) {
		if (level_eq(fl->lv[i], fl->len[i], "#", 1))
			return true; /* also matches the parent: "a/#" ~ "a" */
		if (i >= tl->n)
			return false;
		if (level_eq(fl->lv[i], fl->len[i], "+", 1))
			continue;
		if (!level_eq(fl->lv[i], fl->len[i], tl->lv[i], tl->len[i]))
			return false;
	}
	return fl->n == tl->n;
}

bool mq_filter_match(const char *f, const char *topic)
{
	struct mq_levels fl, tl;

	if (!*topic)
		return false;
	mq_levels_split(f, &fl);
	mq_levels_split(topic, &tl);
	return mq_filter_match_lv(f, &fl, topic, &tl);
}

static bool is_wild(const char *l, size_t n, char c)
{
	return n == 1 && l[0] == c;
}

bool mq_filter_overlap(const char *a, const char *b)
{
	struct mq_levels al, bl;

	mq_levels_split(a, &al);
	mq_levels_split(b, &bl);
	if (al.n < 0 || bl.n < 0)
		return true; /* too deep to tell: assume the worst */
	/* A '$' first level only meets a literal '$' level. */
	if ((a[0] == '$' && (b[0] == '+' || b[0] == '#')) ||
	    (b[0] == '$' && (a[0] == '+' || a[0] == '#')))
		return false;
	for (int i = 0;; i++) {
		bool aend = i >= al.n, bend = i >= bl.n;

		if (!aend && is_wild(al.lv[i], al.len[i], '#'))
			return true;
		if (!bend && is_wild(bl.lv[i], bl.len[i], '#'))
			return true;
		if (aend || bend)
			return aend && bend;
		if (is_wild(al.lv[i], al.len[i], '+') || is_wild(bl.lv[i], bl.len[i], '+'))
			continue;
		if (!level_eq(al.lv[i], al.len[i], bl.lv[i], bl.len[i]))
			return false;
	}
}

bool mq_filter_covers(const char *a, const char *b)
{
	struct mq_levels al, bl;

	mq_levels_split(a, &al);
	mq_levels_split(b, &bl);
	if (al.n < 0 || bl.n < 0)
		return false; /* too deep to tell: claim nothing */
	/* b reaches $-topics that a's leading wildcard does not. */
	if ((a[0] == '+' || a[0] == '#') && !(b[0] == '+' || b[0] == '#') && b[0] == '$')
		return false;
	for (int i = 0;; i++) {
		bool aend = i >= al.n, bend = i >= bl.n;

		if (!aend && is_wild(al.lv[i], al.len[i], '#'))
			return true; /* "x/#" also takes "x": b ending here is covered */
		if (aend || bend)
			return aend && bend;
		if (is_wild(bl.lv[i], bl.len[i], '#'))
			return false; /* b goes deeper than a literal or '+' level of a */
		if (is_wild(al.lv[i], al.len[i], '+'))
			continue;
		if (is_wild(bl.lv[i], bl.len[i], '+') ||
		    !level_eq(al.lv[i], al.len[i], bl.lv[i], bl.len[i]))
			return false;
	}
}

static bool kafka_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

#define TMPL_TOPIC (-1)
#define TMPL_FIELD (-2)

/* Parse "{...}" at t (t[0] == '{').  Returns the length consumed, 0 if
 * malformed; *level is the level index, TMPL_TOPIC or TMPL_FIELD. */
static size_t tmpl_field(const char *t, int *level)
{
	const char *e = strchr(t, '}');
	size_t n;

	if (!e)
		return 0;
	n = (size_t)(e - t - 1);
	if (n == 5 && !memcmp(t + 1, "topic", 5)) {
		*level = TMPL_TOPIC;
		return n + 2;
	}
	if (n == 5 && !memcmp(t + 1, "field", 5)) {
		*level = TMPL_FIELD;
		return n + 2;
	}
	if (n == 0 || n > 2)
		return 0;
	*level = 0;
	for (size_t i = 1; i <= n; i++) {
		if (t[i] < '0' || t[i] > '9')
			return 0;
		*level = *level * 10 + (t[i] - '0');
	}
	return *level < MQ_MAX_LEVELS ? n + 2 : 0;
}

int mq_tmpl_valid(const char *t, enum mq_tmpl_kind kind, struct sg_errbuf *eb)
{
	if (!*t)
		return sg_errf(eb, SG_EINVAL, "empty template");
	for (const char *p = t; *p;) {
		int level;
		size_t n;

		if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
			if (kind == MQ_TMPL_TOPIC)
				return sg_errf(eb, SG_EINVAL,
					       "braces are not allowed in a Kafka topic (\"%s\")",
					       t);
			p += 2;
			continue;
		}
		if (*p == '}')
			return sg_errf(eb, SG_EINVAL, "unmatched '}' in \"%s\"", t);
		if (*p == '{') {
			if (!(n = tmpl_field(p, &level)))
				return sg_errf(
				    eb, SG_EINVAL,
				    "bad field at \"%s\": use {0}..{63}, {topic} or {field}", p);
			p += n;
			continue;
		}
		if (kind == MQ_TMPL_TOPIC && !kafka_char(*p))
			return sg_errf(
			    eb, SG_EINVAL,
			    "'%c' is not allowed in a Kafka topic (\"%s\"): use [A-Za-z0-9._-]", *p,
			    t);
		p++;
	}
	return SG_OK;
}

/* Append n bytes of s to out at *o, mapping for the template kind. */
static bool tmpl_put(enum mq_tmpl_kind kind, const char *s, size_t n, bool slash_to_dot, char *out,
		     size_t outsz, size_t *o)
{
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (*o + 1 >= outsz)
			return false;
		if (kind == MQ_TMPL_TOPIC) {
			if (c == '/' && slash_to_dot)
				c = '.';
			else if (!kafka_char(c))
				c = '_';
		}
		out[(*o)++] = c;
	}
	return true;
}

int mq_tmpl_expand_field(const char *t, enum mq_tmpl_kind kind, const char *topic,
			 const struct mq_levels *lv, const char *field, char *out, size_t outsz,
			 struct sg_errbuf *eb)
{
	size_t o = 0;
	bool ok = true;

	for (const char *p = t; *p && ok;) {
		int level;
		size_t n;

		if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
			ok = tmpl_put(kind, p, 1, false, out, outsz, &o);
			p += 2;
		} else if (*p == '{' && (n = tmpl_field(p, &level))) {
			if (level == TMPL_TOPIC)
				ok = tmpl_put(kind, topic, strlen(topic), true, out, outsz, &o);
			else if (level == TMPL_FIELD && field)
				ok = tmpl_put(kind, field, strlen(field), false, out, outsz, &o);
			else if (level == TMPL_FIELD)
				return sg_errf(
				    eb, SG_EINVAL,
				    "template \"%s\": {field} only applies to rules with "
				    "`fields` or `wildcard`",
				    t);
			else if (level < lv->n)
				ok = tmpl_put(kind, lv->lv[level], lv->len[level], false, out,
					      outsz, &o);
			else
				return sg_errf(eb, SG_EINVAL,
					       "template \"%s\": topic \"%s\" has no level {%d}", t,
					       topic, level);
			p += n;
		} else {
			ok = tmpl_put(kind, p, 1, false, out, outsz, &o);
			p++;
		}
	}
	if (!ok)
		return sg_errf(eb, SG_EINVAL, "template \"%s\" expands to more than %zu bytes", t,
			       outsz - 1);
	out[o] = '\0';
	if (!o)
		return sg_errf(eb, SG_EINVAL, "template \"%s\" expands to an empty string", t);
	return SG_OK;
}

int mq_tmpl_expand(const char *t, enum mq_tmpl_kind kind, const char *topic,
		   const struct mq_levels *lv, char *out, size_t outsz, struct sg_errbuf *eb)
{
	return mq_tmpl_expand_field(t, kind, topic, lv, NULL, out, outsz, eb);
}

bool mq_tmpl_uses_field(const char *t)
{
	for (const char *p = t; p && *p;) {
		int level;
		size_t n;

		if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
			p += 2;
		} else if (*p == '{' && (n = tmpl_field(p, &level))) {
			if (level == TMPL_FIELD)
				return true;
			p += n;
		} else {
			p++;
		}
	}
	return false;
}

void mq_tmpl_compile(struct mq_tmpl *c, const char *t, enum mq_tmpl_kind kind)
{
	struct mq_levels none = {.n = 0};
	struct sg_errbuf eb;
	char out[1024];

	c->t = t;
	c->kind = kind;
	c->plan = MQ_TP_EXPAND;
	c->lit = NULL;
	if (!t)
		return;
	if (kind == MQ_TMPL_TEXT && !strcmp(t, "{topic}")) {
		c->plan = MQ_TP_TOPIC;
	} else if (!strpbrk(t, "{}") &&
		   mq_tmpl_expand(t, kind, "", &none, out, sizeof(out), &eb) == SG_OK &&
		   (c->lit = strdup(out))) {
		c->plan = MQ_TP_LITERAL;
		c->lit_len = strlen(out);
	}
}

void mq_tmpl_free(struct mq_tmpl *c)
{
	free(c->lit);
	c->lit = NULL;
	c->plan = MQ_TP_EXPAND;
}
