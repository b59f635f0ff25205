/*
 * fuzz_rules.c - fuzz target: the MQTT rule matcher (drivers/mqtt/
 * rules.c): topic filters against topics, filter overlap and cover, and
 * the topic-level templates.  The input is "filter\0filter\0topic\0
 * template", any part may be missing.
 *
 * Invariants (abort when broken): a valid filter matches a topic exactly
 * when a plain reference matcher written from MQTT 3.1.1 section 4.7 says
 * so ('+' one level, '#' the parent and everything below, no wildcard
 * first level for a $-topic); two filters that both match a topic
 * overlap; a filter that covers another matches every topic that one
 * does; a template expands into its buffer, NUL-terminated, or refuses.
 */
#include <stdbool.h>
#include <string.h>

#include "drivers/mqtt/mqtt.h"
#include "fuzz.h"

/* Level i of s ('/'-separated): its start and length; false past the end. */
static bool level(const char *s, int i, const char **p, size_t *n)
{
	const char *e;

	for (; i > 0; i--) {
		s = strchr(s, '/');
		if (!s)
			return false;
		s++;
	}
	e = strchr(s, '/');
	*p = s;
	*n = e ? (size_t)(e - s) : strlen(s);
	return true;
}

static bool ref_match(const char *f, const char *t)
{
	const char *fp, *tp;
	size_t fn, tn;

	if (t[0] == '$' && (f[0] == '+' || f[0] == '#'))
		return false;
	for (int i = 0;; i++) {
		bool hf = level(f, i, &fp, &fn), ht = level(t, i, &tp, &tn);

		if (hf && fn == 1 && fp[0] == '#')
			return true; /* the parent level too ("a/#" matches "a") */
		if (!hf || !ht)
			return hf == ht;
		if (!(fn == 1 && fp[0] == '+') && (fn != tn || memcmp(fp, tp, fn)))
			return false;
	}
}

static int levels_of(const char *s)
{
	int n = 1;

	for (; *s; s++)
		n += *s == '/';
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char buf[4096], out[256];
	const char *part[4] = {"", "", "", ""};
	struct sg_errbuf eb;
	struct mq_levels tl;
	int k = 0;

	if (size >= sizeof(buf))
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	for (size_t i = 0, start = 0; i <= size && k < 4; i++)
		if (buf[i] == '\0') {
			part[k++] = buf + start;
			start = i + 1;
		}
	const char *a = part[0], *b = part[1], *t = part[2], *tmpl = part[3];
	bool va = mq_filter_valid(a, &eb) == SG_OK, vb = mq_filter_valid(b, &eb) == SG_OK;
	bool topic_ok = *t && !strpbrk(t, "+#") && levels_of(t) <= MQ_MAX_LEVELS &&
			levels_of(a) <= MQ_MAX_LEVELS && levels_of(b) <= MQ_MAX_LEVELS;

	if (va && topic_ok)
		FZ_CHECK(mq_filter_match(a, t) == ref_match(a, t));
	if (va && vb && topic_ok) {
		bool ma = mq_filter_match(a, t), mb = mq_filter_match(b, t);
		if (ma && mb)
			FZ_CHECK(mq_filter_overlap(a, b));
		if (mq_filter_covers(a, b) && mb)
			FZ_CHECK(ma);
	}
	if (*t && mq_tmpl_valid(tmpl, MQ_TMPL_TOPIC, &eb) == SG_OK) {
		mq_levels_split(t, &tl);
		if (tl.n > 0 &&
		    mq_tmpl_expand(tmpl, MQ_TMPL_TOPIC, t, &tl, out, sizeof(out), &eb) == SG_OK)
			FZ_CHECK(strlen(out) < sizeof(out) && *out);
	}
	if (*t && mq_tmpl_valid(tmpl, MQ_TMPL_TEXT, &eb) == SG_OK) {
		mq_levels_split(t, &tl);
		if (tl.n > 0 && mq_tmpl_expand_field(tmpl, MQ_TMPL_TEXT, t, &tl, "f", out,
						     sizeof(out), &eb) == SG_OK)
			FZ_CHECK(strlen(out) < sizeof(out));
	}
	return 0;
}
