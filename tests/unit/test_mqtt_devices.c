/*
 * test_mqtt_devices.c - the documented example configs in config/
 * against real payloads of zigbee2mqtt, Tasmota, Shelly Gen2, ESPHome and
 * a generic JSON device (the files in tests/fixtures/mqtt/).  Each config is
 * loaded by the real config loader, its MQTT source's rules run by the
 * real mapper against the fake emit, and every fixture message must give
 * exactly its expected records, in order, in one batch, or its dead
 * letter with the expected reason, rule and field.  The same fixtures run
 * end to end through mosquitto and Kafka in
 * tests/integration/test_mqtt_devices.py.
 *
 * The fixture files are read with the driver's own JSON parser (json.c,
 * tested on its own in test_mqtt_json.c).
 */
#include <math.h>
#include <stdio.h>

#include "gateway/base/fs.h"
#include "gateway/config/conf.h"
#include "test_mqtt_capture.h"

struct fixture {
	char *text;
	size_t len;
	struct mq_jdoc d;
	struct sg_buf s; /* decoded strings */
};

static const char *root(void)
{
	return getenv("SG_SRCDIR") ? getenv("SG_SRCDIR") : ".";
}

/* The token at pointer text p below tok, or SIZE_MAX. */
static size_t at(struct fixture *f, size_t tok, const char *p)
{
	struct mq_jptr ptr;
	struct sg_errbuf eb;
	size_t t = SIZE_MAX;

	if (mq_jptr_parse(p, &ptr, &eb) != SG_OK)
		return SIZE_MAX;
	if (mq_jdoc_get(&f->d, tok, &ptr, &t) != SG_OK)
		t = SIZE_MAX;
	mq_jptr_free(&ptr);
	return t;
}

/* A string member (decoded, NUL-terminated; valid until the next call). */
static const char *str(struct fixture *f, size_t tok, const char *p)
{
	size_t t = at(f, tok, p);
	struct mq_jval v;

	if (t == SIZE_MAX)
		return NULL;
	v = mq_jdoc_val(&f->d, t);
	if (v.type != MQ_J_STR)
		return NULL;
	sg_buf_reset(&f->s);
	mq_json_str(&v, &f->s);
	sg_buf_addc(&f->s, '\0');
	return f->s.p;
}

static bool load(struct fixture *f, const char *name)
{
	char path[600];
	struct sg_errbuf eb;

	snprintf(path, sizeof(path), "%s/tests/fixtures/mqtt/%s", root(), name);
	memset(f, 0, sizeof(*f));
	mq_jdoc_init(&f->d);
	sg_buf_init(&f->s);
	if (sg_read_file(path, 1 << 20, &f->text, &f->len) != SG_OK ||
	    mq_jdoc_parse(&f->d, f->text, f->len, &eb) != SG_OK) {
		t_fail(__FILE__, __LINE__, "fixture %s unreadable", path);
		return false;
	}
	return true;
}

static void unload(struct fixture *f)
{
	mq_jdoc_free(&f->d);
	sg_buf_free(&f->s);
	free(f->text);
}

/* Compare captured event i with expected record tok of fixture f. */
static void check_record(struct fixture *f, size_t tok, size_t i, const char *what)
{
	const struct capev *e = &cap.ev[i];
	const char *want;
	size_t v = at(f, tok, "/value"), tn = at(f, tok, "/time_ns");
	char buf[64];

#define FAIL_IF(cond, ...)                                                                         \
	do {                                                                                       \
		if (cond) {                                                                        \
			snprintf(buf, sizeof(buf), __VA_ARGS__);                                   \
			t_fail(__FILE__, __LINE__, "%s, record %zu: %s", what, i, buf);            \
		}                                                                                  \
	} while (0)
	FAIL_IF(strcmp(e->topic, str(f, tok, "/topic")), "topic %s", e->topic);
	FAIL_IF(strcmp(e->key, str(f, tok, "/key")), "key %s", e->key);
	if ((want = str(f, tok, "/raw"))) {
		FAIL_IF(!e->raw || strcmp(e->value, want), "raw value %s", e->value);
		want = str(f, tok, "/content_type");
		FAIL_IF(strcmp(want, "application/octet-stream") ? strcmp(e->ctype, want)
								 : e->ctype[0] != '\0',
			"content type %s", e->ctype);
		return;
	}
	FAIL_IF(strcmp(e->sensor, str(f, tok, "/sensor")), "sensor %s", e->sensor);
	want = str(f, tok, "/unit");
	FAIL_IF(want ? !e->has_unit || strcmp(e->unit, want) : e->has_unit, "unit %s", e->unit);
	want = str(f, tok, "/type");
	if (!strcmp(want, "string")) {
		FAIL_IF(e->v.type != SG_VAL_STR || strcmp(e->value, str(f, tok, "/value")),
			"value %s", e->value);
	} else if (!strcmp(want, "bool")) {
		FAIL_IF(e->v.type != SG_VAL_BOOL || e->v.b != (mq_jdoc_val(&f->d, v).p[0] == 't'),
			"bool");
	} else {
		struct mq_jval jv = mq_jdoc_val(&f->d, v);
		struct sg_value num;

		mq_json_num(&jv, &num);
		FAIL_IF(!strcmp(want, "int")
			    ? e->v.type != SG_VAL_INT || e->v.i != num.i
			    : e->v.type != SG_VAL_DOUBLE ||
				  e->v.d != (num.type == SG_VAL_INT ? (double)num.i : num.d),
			"value %g (type %d)", cap_num(i), e->v.type);
	}
	if (mq_jdoc_val(&f->d, tn).type == MQ_J_NULL) {
		FAIL_IF(e->ts != 0, "time %lld, want the arrival time", (long long)e->ts);
	} else {
		struct mq_jval jv = mq_jdoc_val(&f->d, tn);
		struct sg_value num;

		mq_json_num(&jv, &num);
		FAIL_IF(e->ts != num.i, "time %lld", (long long)e->ts);
	}
	want = str(f, tok, "/quality");
	FAIL_IF((e->q == SG_Q_GOOD) != !strcmp(want, "good"), "quality %d", e->q);
#undef FAIL_IF
}

static void check_dead(struct fixture *f, size_t dead, const char *dlq, const char *what)
{
	const char *want;
	size_t rule = at(f, dead, "/rule");

	if (cap.n != 1 || cap.batches != 1 || strcmp(cap.ev[0].topic, dlq)) {
		t_fail(__FILE__, __LINE__, "%s: expected one dead letter, got %zu records", what,
		       cap.n);
		return;
	}
	want = str(f, dead, "/reason");
	if (strcmp(cap_hdr(0, "sg-error-reason"), want))
		t_fail(__FILE__, __LINE__, "%s: reason %s, want %s (%s)", what,
		       cap_hdr(0, "sg-error-reason"), want, cap_hdr(0, "sg-error"));
	if (rule != SIZE_MAX && (!cap_hdr(0, "sg-error-rule") ||
				 strncmp(cap_hdr(0, "sg-error-rule"), mq_jdoc_val(&f->d, rule).p,
					 mq_jdoc_val(&f->d, rule).len)))
		t_fail(__FILE__, __LINE__, "%s: rule %s", what, cap_hdr(0, "sg-error-rule"));
	want = str(f, dead, "/field");
	if (want && (!cap_hdr(0, "sg-error-field") || strcmp(cap_hdr(0, "sg-error-field"), want)))
		t_fail(__FILE__, __LINE__, "%s: field %s, want %s", what,
		       cap_hdr(0, "sg-error-field"), want);
}

static void run_fixture(const char *name)
{
	struct fixture f;
	struct sg_conf conf;
	struct mq_map map;
	struct sg_errbuf eb;
	char path[600], *errors = NULL, source[64], dlq[128];
	const struct sg_source_conf *sc = NULL;
	size_t msgs;

	if (!load(&f, name))
		return;
	snprintf(path, sizeof(path), "%s/%s", root(), str(&f, 0, "/config"));
	snprintf(source, sizeof(source), "%s", str(&f, 0, "/source"));
	snprintf(dlq, sizeof(dlq), "%s", str(&f, 0, "/dead_letter_topic"));
	if (sg_conf_load(path, &conf, &errors) != SG_OK) {
		t_fail(__FILE__, __LINE__, "%s: %s", path, errors ? errors : "?");
		free(errors);
		unload(&f);
		return;
	}
	for (size_t i = 0; i < conf.sources.n; i++)
		if (!strcmp(((struct sg_source_conf *)conf.sources.items)[i].name, source))
			sc = &((struct sg_source_conf *)conf.sources.items)[i];
	CHECK(sc != NULL);
	CHECK_EQ(mq_map_init(&map, NULL, source, sc->dconf, &eb), SG_OK);
	map.emit = cap_emit;
	msgs = at(&f, 0, "/messages");
	for (size_t m = msgs + 1, k = 0; m < f.d.t[msgs].next; m = f.d.t[m].next, k++) {
		char topic[256], what[320];
		const char *payload = str(&f, m, "/payload");
		size_t recs = at(&f, m, "/records"), dead = at(&f, m, "/dead"), n = 0;
		struct mq_msg msg = {topic, payload, strlen(payload), 1,
				     at(&f, m, "/retain") != SIZE_MAX};

		snprintf(topic, sizeof(topic), "%s", str(&f, m, "/topic"));
		payload = strdup(str(&f, m, "/payload"));
		msg.payload = payload;
		snprintf(what, sizeof(what), "%s message %zu (%s)", name, k, topic);
		cap_reset();
		CHECK_EQ(mq_map_message(&map, &msg), SG_OK);
		if (dead != SIZE_MAX) {
			check_dead(&f, dead, dlq, what);
		} else {
			for (size_t r = recs + 1; r < f.d.t[recs].next; r = f.d.t[r].next)
				n++;
			if (cap.n != n || (n && cap.batches != 1) || (!n && cap.batches))
				t_fail(__FILE__, __LINE__,
				       "%s: %zu records in %zu batches, want %zu", what, cap.n,
				       cap.batches, n);
			else
				for (size_t r = recs + 1, i = 0; r < f.d.t[recs].next;
				     r = f.d.t[r].next, i++)
					check_record(&f, r, i, what);
		}
		free((char *)payload);
	}
	mq_map_fini(&map);
	sg_conf_free(&conf);
	unload(&f);
}

TEST(zigbee2mqtt)
{
	run_fixture("zigbee2mqtt.json");
}

TEST(tasmota)
{
	run_fixture("tasmota.json");
}

TEST(shelly_gen2)
{
	run_fixture("shelly-gen2.json");
}

TEST(esphome)
{
	run_fixture("esphome.json");
}

TEST(generic_json)
{
	run_fixture("generic-json.json");
}
