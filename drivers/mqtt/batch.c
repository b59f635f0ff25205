/*
 * batch.c - the MQTT messages of one read pass appended to the spool
 * together, in one sg_source_emit_batch() (one write(2) for all their
 * events), with their acknowledgements held back until it is stored.
 *
 * The driver runs libmosquitto in its "threaded" mode (mqtt.c,
 * hold_acks), where the PUBACK of a QoS 1 message and the PUBCOMP of a
 * QoS 2 one wait in the library's queue until loop_write.  The driver
 * calls mq_map_flush() at the end of every read pass and writes only
 * when it succeeded, so a QoS 1 message is acknowledged only once its
 * events are in the spool file: a crash or a refused append leaves it
 * unacknowledged, and the broker delivers it again to a persistent
 * session.  (QoS 2 is released after its PUBREC, so there a failed
 * append still loses the message, as it would without batching.)
 *
 * A kept message is copied (topic, payload, content type, user
 * properties) into the map's arena, since libmosquitto frees its own
 * copy when the callback returns, and its readings follow the earlier
 * messages' in w->rd.  The batch is emitted at the end of the read pass,
 * when it holds MQ_BATCH_MSGS messages or batch_bytes bytes, and before
 * a message without events of its own (a dead letter, say), so the spool
 * keeps the order of arrival.  If the spool refuses the batch whole
 * (SG_EINVAL: larger than max_record_bytes together), its messages are
 * appended one by one, each as it would have been alone, and batch_bytes
 * is halved for the batches after it.
 *
 * Source thread only, like the rest of the mapping.
 */
#include <stdlib.h>
#include <string.h>

#include "mqtt.h"

/* Roughly what a message adds to the batch's bytes. */
static size_t pend_bytes(const struct mq_msg *msg, size_t n)
{
	size_t b = msg->len + 2 * strlen(msg->topic) + 64 * n;

	for (size_t i = 0; i < msg->nuprops; i++)
		b += strlen(msg->uprops[i].key) + msg->uprops[i].len;
	return b;
}

struct mq_msg *mq_batch_keep(struct mq_map *m, const struct mq_msg *msg)
{
	struct mq_arena *a = &m->w.ar;
	struct mq_msg *d;
	struct sg_header *h = NULL;
	char *payload;

	if (msg->len > (size_t)m->c->max_payload)
		return NULL; /* oversize: refused alone, never copied */
	if (!(d = mq_arena_alloc(a, sizeof(*d))))
		return NULL;
	*d = *msg;
	if (!(d->topic = mq_arena_str(a, msg->topic, strlen(msg->topic))))
		return NULL;
	if (msg->len) {
		if (!(payload = mq_arena_alloc(a, msg->len)))
			return NULL;
		memcpy(payload, msg->payload, msg->len);
		d->payload = payload;
	}
	if (msg->content_type &&
	    !(d->content_type = mq_arena_str(a, msg->content_type, strlen(msg->content_type))))
		return NULL;
	if (msg->nuprops && !(h = mq_arena_alloc(a, msg->nuprops * sizeof(*h))))
		return NULL;
	for (size_t i = 0; i < msg->nuprops; i++) {
		const struct sg_header *s = &msg->uprops[i];

		h[i].key = mq_arena_str(a, s->key, strlen(s->key));
		h[i].val = mq_arena_str(a, s->val, s->len);
		h[i].len = s->len;
		if (!h[i].key || !h[i].val)
			return NULL;
	}
	d->uprops = h;
	return d;
}

int mq_batch_add(struct mq_map *m)
{
	struct mq_work *w = &m->w;
	struct mq_pend *p;

	if (m->npend == m->pcap) {
		size_t cap = m->pcap ? m->pcap * 2 : 16;

		if (!(p = realloc(m->pend, cap * sizeof(*p)))) {
			/* Cannot remember it: the batch so far, then it alone. */
			size_t r0 = w->r0, n = w->n - r0;
			int rc;

			w->n = r0;
			if (m->npend && (rc = mq_batch_emit(m)) != SG_OK)
				return rc;
			memmove(w->rd, w->rd + r0, n * sizeof(*w->rd));
			w->r0 = 0;
			w->n = n;
			rc = m->emit(m->src, w->rd, n);
			if (rc == SG_OK)
				mq_map_stored(m, n);
			if (rc == SG_EINVAL)
				rc = mq_map_refused(m, w->msg, w->hs.hp, w->hs.n, n);
			else
				rc = mq_map_emitted(m, w->msg, n, rc, w->msg->qos == 2);
			w->n = w->r0 = 0;
			return rc;
		}
		m->pend = p;
		m->pcap = cap;
	}
	p = &m->pend[m->npend++];
	*p = (struct mq_pend){w->msg, w->hs.hp, w->hs.n, w->r0, w->n - w->r0};
	m->pbytes += pend_bytes(w->msg, p->n);
	if (m->npend >= MQ_BATCH_MSGS || m->pbytes >= m->batch_bytes)
		return mq_batch_emit(m);
	return SG_OK;
}

/* The outcome rc for the kept messages [i, npend), which were not
 * stored (or, rc SG_OK / SG_EDROPPED, were). */
static int pend_outcome(struct mq_map *m, size_t i, int rc)
{
	int ret = SG_OK;

	for (; i < m->npend; i++) {
		const struct mq_pend *p = &m->pend[i];
		int r;

		if (rc == SG_OK)
			mq_map_stored(m, p->n);
		r = mq_map_emitted(m, p->msg, p->n, rc, p->msg->qos == 2);
		if (r != SG_OK)
			ret = r;
	}
	return ret;
}

/* The batch was refused whole: each message as it would have been alone. */
static int pend_each(struct mq_map *m)
{
	const struct sg_reading *rd = m->w.rd;
	bool all_ok = true;

	for (size_t i = 0; i < m->npend; i++) {
		const struct mq_pend *p = &m->pend[i];
		int rc = m->emit(m->src, rd + p->r0, p->n);

		if (rc == SG_OK) {
			mq_map_stored(m, p->n);
		} else if (rc == SG_EINVAL) {
			all_ok = false;
			if ((rc = mq_map_refused(m, p->msg, p->h, p->nh, p->n)) != SG_OK)
				return pend_outcome(m, i + 1, rc);
		} else if ((rc = mq_map_emitted(m, p->msg, p->n, rc, p->msg->qos == 2)) != SG_OK) {
			return pend_outcome(m, i + 1, rc);
		}
	}
	if (all_ok) /* together too large for the spool: smaller batches */
		m->batch_bytes /= 2;
	return SG_OK;
}

int mq_batch_emit(struct mq_map *m)
{
	struct mq_work *w = &m->w;
	const struct mq_pend *last;
	int rc;

	if (!m->npend)
		return SG_OK;
	last = &m->pend[m->npend - 1];
	rc = m->emit(m->src, w->rd, last->r0 + last->n);
	if (rc == SG_EINVAL && m->npend > 1)
		rc = pend_each(m);
	else if (rc == SG_EINVAL)
		rc = mq_map_refused(m, last->msg, last->h, last->nh, last->n);
	else
		rc = pend_outcome(m, 0, rc);
	/* The readings are gone with the batch; the arena waits for the
	 * message in progress, if any (work_end). */
	w->n = w->r0 = 0;
	m->npend = 0;
	m->pbytes = 0;
	return rc;
}

int mq_map_flush(struct mq_map *m)
{
	int rc = mq_batch_emit(m);

	if (!m->w.msg) {
		mq_arena_reset(&m->w.ar);
		m->w.n = m->w.r0 = 0;
	}
	return rc != SG_OK ? rc : m->last_rc;
}
