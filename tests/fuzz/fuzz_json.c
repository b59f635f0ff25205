/*
 * fuzz_json.c - fuzz target: the MQTT driver's JSON tape parser (json.c)
 * and every question asked of a tape (jsonptr.c).
 *
 * For any input: no crash, no undefined behaviour, no leak (ASan, UBSan),
 * and these invariants, each of which aborts when broken:
 *   - every token lies inside the input, its subtree ends after it and
 *     within its parent, scalars and names have no subtree, an object's
 *     children alternate name, value;
 *   - a refused document leaves no tokens and says where it failed;
 *     refusing duplicates only refuses more, never differently otherwise;
 *   - every string the parser accepted decodes (escapes were checked) to
 *     valid UTF-8, every accepted number converts or is out of range;
 *   - a wildcard walk visits exactly the number and bool tokens;
 *   - pointers built from the document's own names find their token, and
 *     the one-shot mq_json_find agrees with the tape.
 */
#include <string.h>

#include "drivers/mqtt/mqtt.h"
#include "fuzz.h"

static bool utf8_ok(const unsigned char *p, size_t n)
{
	struct mq_jdoc d;
	struct sg_buf b;
	bool ok;

	/* Valid UTF-8 iff it parses as the body of a JSON string once quoted
	 * (control characters and quotes escaped away first). */
	sg_buf_init(&b);
	sg_buf_addc(&b, '"');
	for (size_t i = 0; i < n; i++)
		if (p[i] < 0x20 || p[i] == '"' || p[i] == '\\')
			sg_buf_adds(&b, "\\u0020");
		else
			sg_buf_addc(&b, (char)p[i]);
	sg_buf_addc(&b, '"');
	mq_jdoc_init(&d);
	ok = !b.oom && mq_jdoc_parse(&d, b.p, b.len, NULL) == SG_OK;
	mq_jdoc_free(&d);
	sg_buf_free(&b);
	return ok;
}

static void check_tape(const struct mq_jdoc *d, size_t size)
{
	for (size_t i = 0; i < d->n; i++) {
		const struct mq_jtok *t = &d->t[i];

		FZ_CHECK((size_t)t->off + t->len <= size);
		FZ_CHECK(t->next > i && t->next <= d->n);
		if (t->type != MQ_J_OBJ && t->type != MQ_J_ARR)
			FZ_CHECK(t->next == i + 1);
		if (t->type == MQ_J_OBJ)
			for (size_t k = i + 1; k < t->next; k = d->t[k + 1].next) {
				FZ_CHECK(d->t[k].flags & MQ_JT_KEY);
				FZ_CHECK(k + 1 < t->next && d->t[k + 1].next <= t->next);
			}
		if (t->type == MQ_J_ARR)
			for (size_t k = i + 1; k < t->next; k = d->t[k].next)
				FZ_CHECK(!(d->t[k].flags & MQ_JT_KEY) && d->t[k].next <= t->next);
	}
	FZ_CHECK(d->n == 0 || d->t[0].next == d->n);
}

static void check_values(const struct mq_jdoc *d)
{
	struct sg_buf b;

	sg_buf_init(&b);
	for (size_t i = 0; i < d->n; i++) {
		struct mq_jval v = mq_jdoc_val(d, i);
		struct sg_value num;

		if (v.type == MQ_J_STR) {
			sg_buf_reset(&b);
			FZ_CHECK(mq_json_str(&v, &b) == SG_OK);
			FZ_CHECK(utf8_ok((const unsigned char *)b.p, b.len));
		} else if (v.type == MQ_J_NUM) {
			int rc = mq_json_num(&v, &num);
			FZ_CHECK(rc == SG_OK || rc == SG_EINVAL);
			if (rc == SG_OK && num.type == SG_VAL_DOUBLE)
				FZ_CHECK(num.d == num.d && num.d - num.d == 0); /* finite */
		}
	}
	sg_buf_free(&b);
}

static int count_leaf(void *arg, const struct mq_leaf *lf)
{
	(*(size_t *)arg)++;
	FZ_CHECK(lf->last_len <= lf->name_len);
	return SG_OK;
}

static void check_leaves(const struct mq_jdoc *d)
{
	struct sg_buf path;
	size_t want = 0, got = 0;

	for (size_t i = 0; i < d->n; i++)
		want += d->t[i].type == MQ_J_NUM || d->t[i].type == MQ_J_BOOL;
	sg_buf_init(&path);
	FZ_CHECK(mq_jdoc_leaves(d, 0, '.', &path, count_leaf, &got) == SG_OK);
	FZ_CHECK(got == want);
	sg_buf_free(&path);
}

/* Append member name token c to a pointer, escaped; false if it holds a
 * NUL, which a C string pointer cannot express. */
static bool add_name(const struct mq_jdoc *d, size_t c, struct sg_buf *out)
{
	struct mq_jval v = mq_jdoc_val(d, c);
	struct sg_buf name;
	bool ok = true;

	sg_buf_init(&name);
	mq_json_str(&v, &name);
	for (size_t i = 0; i < name.len && ok; i++) {
		if (!name.p[i])
			ok = false;
		else if (name.p[i] == '~')
			sg_buf_adds(out, "~0");
		else if (name.p[i] == '/')
			sg_buf_adds(out, "~1");
		else
			sg_buf_addc(out, name.p[i]);
	}
	sg_buf_free(&name);
	return ok;
}

/* The pointer to the value of member name token k: from the root down,
 * at each container the member or element whose subtree holds k. */
static bool pointer_to(const struct mq_jdoc *d, size_t k, struct sg_buf *out)
{
	size_t at = 0;

	sg_buf_reset(out);
	for (int depth = 0; depth <= MQ_JSON_MAX_DEPTH; depth++) {
		const struct mq_jtok *t = &d->t[at];
		bool obj = t->type == MQ_J_OBJ;
		size_t c = at + 1, idx = 0, end;

		if (!obj && t->type != MQ_J_ARR)
			return false;
		for (;; idx++, c = end) {
			if (c >= t->next)
				return false;
			end = obj ? d->t[c + 1].next : d->t[c].next;
			if (k < end)
				break;
		}
		sg_buf_addc(out, '/');
		if (!obj) {
			sg_buf_printf(out, "%zu", idx);
			at = c;
			continue;
		}
		if (!add_name(d, c, out))
			return false;
		if (c == k) {
			sg_buf_addc(out, '\0');
			return !out->oom;
		}
		at = c + 1;
	}
	return false;
}

static void check_pointers(const struct mq_jdoc *d, const uint8_t *data, size_t size)
{
	struct sg_buf p;
	int tried = 0;

	sg_buf_init(&p);
	for (size_t k = 0; k < d->n && tried < 8; k++) {
		struct mq_jptr ptr;
		struct mq_jval one;
		size_t tok;

		if (!(d->t[k].flags & MQ_JT_KEY) || !pointer_to(d, k, &p))
			continue;
		tried++;
		FZ_CHECK(mq_jptr_parse(p.p, &ptr, NULL) == SG_OK);
		/* First match wins and no name repeats: the very token. */
		FZ_CHECK(mq_jdoc_get(d, 0, &ptr, &tok) == SG_OK && tok == k + 1);
		FZ_CHECK(mq_json_find((const char *)data, size, &ptr, &one, NULL) == SG_OK);
		FZ_CHECK(one.p == d->s + d->t[tok].off && one.len == d->t[tok].len);
		mq_jptr_free(&ptr);
	}
	sg_buf_free(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mq_jdoc strict, lax;
	int rs, rl;

	mq_jdoc_init(&strict);
	mq_jdoc_init(&lax);
	lax.allow_dups = true;
	rs = mq_jdoc_parse(&strict, (const char *)data, size, NULL);
	rl = mq_jdoc_parse(&lax, (const char *)data, size, NULL);
	FZ_CHECK(rs == SG_OK || rs == SG_EINVAL);
	if (rs == SG_OK) {
		FZ_CHECK(rl == SG_OK && strict.n == lax.n);
		check_tape(&strict, size);
		check_values(&strict);
		check_leaves(&strict);
		check_pointers(&strict, data, size);
	} else {
		FZ_CHECK(strict.n == 0 && strict.err != MQ_JERR_NONE && strict.err_off <= size);
		if (strict.err != MQ_JERR_DUP) /* the same refusal either way */
			FZ_CHECK(rl == SG_EINVAL && lax.err == strict.err &&
				 lax.err_off == strict.err_off);
	}
	if (rl == SG_OK)
		check_tape(&lax, size);
	mq_jdoc_free(&strict);
	mq_jdoc_free(&lax);
	return 0;
}
