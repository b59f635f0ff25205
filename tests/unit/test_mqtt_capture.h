/*
 * test_mqtt_capture.h - a fake sg_source_emit_batch for the MQTT mapping
 * tests: it copies every reading of every batch (the strings too, since
 * they are only borrowed for the call) and remembers how the readings
 * were grouped, so a test can check that one message was one batch.  A
 * header of static functions, included by the test files that use it.
 */
#ifndef SG_TEST_MQTT_CAPTURE_H
#define SG_TEST_MQTT_CAPTURE_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/mqtt/mqtt.h"
#include "gateway/core/metrics.h"
#include "t.h"

/* Not every test file uses every helper. */
#define CAP_FN static __attribute__((unused))

#define CAP_EVENTS  256
#define CAP_BATCHES 64
#define CAP_HDRS    48

struct capev {
	char sensor[256], key[1024], topic[256], unit[64], reason[128], ctype[64];
	char value[512];
	size_t value_len;
	struct sg_value v; /* strings: see value */
	int64_t ts;
	enum sg_quality q;
	bool raw, has_key, has_topic, has_unit;
	char hdr[CAP_HDRS][2][256];
	size_t nh;
};

static struct {
	int rc; /* what the fake returns */
	size_t batches, n;
	size_t batch_n[CAP_BATCHES];
	struct capev ev[CAP_EVENTS];
} cap;

CAP_FN void cap_copy(char *dst, size_t n, const char *s, size_t len)
{
	if (!s)
		len = 0;
	if (len >= n)
		len = n - 1;
	if (len)
		memcpy(dst, s, len);
	dst[len] = '\0';
}

CAP_FN void cap_one(const struct sg_reading *rd)
{
	struct capev *e;

	if (cap.n >= CAP_EVENTS) {
		cap.n++;
		return;
	}
	e = &cap.ev[cap.n++];
	memset(e, 0, sizeof(*e));
	cap_copy(e->sensor, sizeof(e->sensor), rd->sensor, rd->sensor ? strlen(rd->sensor) : 0);
	e->has_key = rd->key != NULL;
	e->has_topic = rd->topic != NULL;
	e->has_unit = rd->unit != NULL;
	cap_copy(e->key, sizeof(e->key), rd->key, rd->key ? strlen(rd->key) : 0);
	cap_copy(e->topic, sizeof(e->topic), rd->topic, rd->topic ? strlen(rd->topic) : 0);
	cap_copy(e->unit, sizeof(e->unit), rd->unit, rd->unit ? strlen(rd->unit) : 0);
	cap_copy(e->reason, sizeof(e->reason), rd->reason, rd->reason ? strlen(rd->reason) : 0);
	cap_copy(e->ctype, sizeof(e->ctype), rd->content_type,
		 rd->content_type ? strlen(rd->content_type) : 0);
	e->v = rd->value;
	if (rd->value.type == SG_VAL_STR || rd->value.type == SG_VAL_BYTES) {
		cap_copy(e->value, sizeof(e->value), rd->value.s.p, rd->value.s.len);
		e->value_len = rd->value.s.len;
		e->v.s.p = NULL;
	}
	e->ts = rd->ts_ns;
	e->q = rd->quality;
	e->raw = rd->raw;
	e->nh = rd->nheaders < CAP_HDRS ? rd->nheaders : CAP_HDRS;
	for (size_t i = 0; i < e->nh; i++) {
		cap_copy(e->hdr[i][0], 256, rd->headers[i].key, strlen(rd->headers[i].key));
		cap_copy(e->hdr[i][1], 256, rd->headers[i].val, rd->headers[i].len);
	}
}

CAP_FN int cap_emit(struct sg_source *src, const struct sg_reading *rd, size_t n)
{
	(void)src;
	if (cap.batches < CAP_BATCHES)
		cap.batch_n[cap.batches] = n;
	cap.batches++;
	for (size_t i = 0; i < n; i++)
		cap_one(&rd[i]);
	return cap.rc;
}

CAP_FN void cap_reset(void)
{
	memset(&cap, 0, sizeof(cap));
}

/* Header k of event i, or NULL. */
CAP_FN const char *cap_hdr(size_t i, const char *k)
{
	for (size_t h = 0; i < cap.n && h < cap.ev[i].nh; h++)
		if (!strcmp(cap.ev[i].hdr[h][0], k))
			return cap.ev[i].hdr[h][1];
	return NULL;
}

/* The index of the event of sensor s, or -1. */
CAP_FN long cap_find(const char *s)
{
	for (size_t i = 0; i < cap.n && i < CAP_EVENTS; i++)
		if (!strcmp(cap.ev[i].sensor, s))
			return (long)i;
	return -1;
}

CAP_FN double cap_num(size_t i)
{
	const struct sg_value *v = &cap.ev[i].v;

	switch (v->type) {
	case SG_VAL_DOUBLE: return v->d;
	case SG_VAL_INT: return (double)v->i;
	case SG_VAL_UINT: return (double)v->u;
	case SG_VAL_BOOL: return v->b;
	default: return NAN;
	}
}

CAP_FN uint64_t cap_metric(const char *name, const char *labels)
{
	return sg_metrics_sum(name, labels);
}

#endif
