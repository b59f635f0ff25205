/*
 * reload_plan.c - the reload planner (reload_plan.h).
 */
#include "reload_plan.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static const char *const live_sections[] = {"sources", "log", "view", "actuators", NULL};
static const char *const live_keys[] = {"gateway.log_level", "gateway.status_interval",
					"kafka.topic", NULL};

static size_t find(const struct sg_reload_src *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i].name, name))
			return i;
	return SG_RELOAD_NONE;
}

size_t sg_reload_plan(const struct sg_reload_src *old, size_t nold, const struct sg_reload_src *nw,
		      size_t nnew, struct sg_reload_step *steps)
{
	size_t k = 0;

	for (size_t i = 0; i < nold; i++)
		if (find(nw, nnew, old[i].name) == SG_RELOAD_NONE)
			steps[k++] = (struct sg_reload_step){SG_RELOAD_REMOVE, i, SG_RELOAD_NONE};
	for (size_t i = 0; i < nold; i++) {
		size_t j = find(nw, nnew, old[i].name);
		if (j != SG_RELOAD_NONE && strcmp(old[i].fingerprint, nw[j].fingerprint))
			steps[k++] = (struct sg_reload_step){SG_RELOAD_RESTART, i, j};
	}
	for (size_t j = 0; j < nnew; j++)
		if (find(old, nold, nw[j].name) == SG_RELOAD_NONE)
			steps[k++] = (struct sg_reload_step){SG_RELOAD_ADD, SG_RELOAD_NONE, j};
	for (size_t i = 0; i < nold; i++) {
		size_t j = find(nw, nnew, old[i].name);
		if (j != SG_RELOAD_NONE && !strcmp(old[i].fingerprint, nw[j].fingerprint))
			steps[k++] = (struct sg_reload_step){SG_RELOAD_KEEP, i, j};
	}
	return k;
}

/* One line of a dump, with the top-level section it belongs to. */
struct line {
	const char *p;
	size_t len;
	char section[64];
	char key[128]; /* "section.key" for a key line of depth 1, else "" */
};

/* Next line at *pos; false at the end.  Tracks the current section. */
static bool next_line(const char **pos, struct line *l, char *section)
{
	const char *s = *pos, *e;

	if (!*s)
		return false;
	e = strchr(s, '\n');
	e = e ? e + 1 : s + strlen(s);
	l->p = s;
	l->len = (size_t)(e - s);
	l->key[0] = '\0';
	if (*s != ' ' && *s != '-') {
		snprintf(section, 64, "%.*s", (int)strcspn(s, ":\n"), s);
	} else if (s[0] == ' ' && s[1] == ' ' && s[2] != ' ' && s[2] != '-') {
		snprintf(l->key, sizeof(l->key), "%s.%.*s", section, (int)strcspn(s + 2, ":\n"),
			 s + 2);
	}
	snprintf(l->section, sizeof(l->section), "%s", section);
	*pos = e;
	return true;
}

static bool is_live(const struct line *l)
{
	for (int i = 0; live_sections[i]; i++)
		if (!strcmp(l->section, live_sections[i]))
			return true;
	for (int i = 0; live_keys[i]; i++)
		if (!strcmp(l->key, live_keys[i]))
			return true;
	return false;
}

/* The next line that is not live; false at the end. */
static bool next_fixed(const char **pos, struct line *l, char *section)
{
	while (next_line(pos, l, section))
		if (!is_live(l))
			return true;
	return false;
}

int sg_reload_restart_only(const char *a, const char *b, char *what, size_t n)
{
	char sa[64] = "", sb[64] = "";
	struct line la, lb;
	int ndiff = 0;

	what[0] = '\0';
	for (;;) {
		bool ha = next_fixed(&a, &la, sa), hb = next_fixed(&b, &lb, sb);
		if (!ha && !hb)
			break;
		if (ha && hb && la.len == lb.len && !memcmp(la.p, lb.p, la.len))
			continue;
		if (!ndiff++) {
			const struct line *l = ha ? &la : &lb;
			snprintf(what, n, "%s", l->key[0] ? l->key : l->section);
		}
	}
	return ndiff;
}
