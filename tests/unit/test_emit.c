/*
 * test_emit.c - sg_source_emit() as drivers see it: a reading lands in
 * the spool as a version 2 record that renders to the envelope with the
 * seq the append returned, malformed readings are refused and counted,
 * and the rate-limited log of malformed readings is per source (one
 * noisy source does not mute another; it was one limiter for all).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "drivers/driver.h"
#include "gateway/base/log.h"
#include "gateway/core/event.h"
#include "gateway/core/metrics.h"
#include "gateway/core/sources.h"
#include "gateway/spool/spool.h"
#include "t.h"

/* A driver that only hands its source handle to the test. */
static struct sg_source *handles[2];
static int nhandles;

static int fake_init(struct sg_source *src, const void *conf, void **state, struct sg_errbuf *eb)
{
	(void)conf;
	(void)eb;
	handles[nhandles++] = src;
	*state = src;
	return SG_OK;
}
static int fake_start(void *state, struct sg_errbuf *eb)
{
	(void)state;
	(void)eb;
	return SG_OK;
}
static int fake_step(void *state, struct sg_wait *w)
{
	(void)state;
	(void)w;
	return SG_OK;
}
static void fake_stop(void *state)
{
	(void)state;
}

static const struct sg_driver fake = {
    .name = "fake",
    .init = fake_init,
    .start = fake_start,
    .step = fake_step,
    .stop = fake_stop,
    .fini = fake_stop,
};

struct rig {
	struct sg_conf conf;
	struct sg_source_conf sc[2];
	struct sg_spool *sp;
	struct sg_pipeline *pl;
};

static void rig_open(struct rig *r)
{
	struct sg_errbuf eb;

	memset(r, 0, sizeof(*r));
	nhandles = 0;
	r->conf.gateway.id = "gw";
	r->conf.kafka.topic = "t.{source}";
	r->sc[0] = (struct sg_source_conf){.name = "noisy", .enabled = true, .drv = &fake};
	r->sc[1] = (struct sg_source_conf){.name = "quiet", .enabled = true, .drv = &fake};
	r->conf.sources.items = r->sc;
	r->conf.sources.n = 2;
	r->conf.spool = (struct sg_spool_conf){.dir = (char *)t_tmpdir(),
					       .fsync_ms = SG_FSYNC_NEVER,
					       .max_bytes = 1 << 20,
					       .segment_bytes = 1 << 16,
					       .when_full = SG_FULL_BLOCK,
					       .ack_interval_ms = 100,
					       .max_record_bytes = 4096};
	CHECK_EQ(sg_spool_open(&r->conf.spool, &r->sp, &eb), SG_OK);
	CHECK_EQ(sg_pipeline_new(&r->conf, r->sp, &r->pl, &eb), SG_OK);
	CHECK_EQ(nhandles, 2);
}

static void rig_close(struct rig *r)
{
	sg_pipeline_free(r->pl);
	sg_spool_close(r->sp);
}

TEST(emit_spools_a_v2_record_that_renders_with_its_seq)
{
	struct rig r;
	struct sg_reading rd = {.sensor = "x", .ts_ns = 7, .value = {.type = SG_VAL_INT, .i = -3}};
	struct sg_buf b, scratch;
	struct sg_record rec;
	uint64_t seq;

	rig_open(&r);
	CHECK_EQ(sg_source_emit(handles[1], &rd), SG_OK);
	CHECK_EQ(sg_source_emit(handles[1], &rd), SG_OK);
	sg_buf_init(&b);
	sg_buf_init(&scratch);
	CHECK_EQ(sg_spool_read(r.sp, &seq, &b), SG_OK);
	CHECK_EQ(sg_spool_read(r.sp, &seq, &b), SG_OK);
	CHECK_EQ(seq, 2);
	CHECK_EQ(sg_record_decode(b.p, b.len, &rec), SG_OK);
	CHECK_EQ(rec.version, SG_RECORD_V2);
	CHECK_EQ(sg_record_render(&rec, seq, &scratch), SG_OK);
	CHECK(rec.topic_len == 7 && !memcmp(rec.topic, "t.quiet", 7));
	CHECK(strstr(rec.value, "{\"v\":1,\"id\":\"gw:2\",\"seq\":2,\"gateway\":\"gw\","
				"\"source\":\"quiet\",\"sensor\":\"x\",") == rec.value);
	sg_buf_free(&b);
	sg_buf_free(&scratch);
	rig_close(&r);
}

/* Run fn with stderr captured; returns what was logged (static). */
static const char *stderr_of(void (*fn)(void))
{
	static char out[65536];
	FILE *f = tmpfile();
	int fd = fileno(f), se;
	enum sg_log_level lvl = sg_log_get_level();
	ssize_t n;

	fflush(stderr);
	se = dup(2);
	dup2(fd, 2);
	sg_log_set_level(SG_LOG_ERROR);
	fn();
	sg_log_set_level(lvl);
	fflush(stderr);
	dup2(se, 2);
	close(se);
	n = pread(fd, out, sizeof(out) - 1, 0);
	out[n > 0 ? n : 0] = '\0';
	fclose(f);
	return out;
}

static void noisy_then_quiet(void)
{
	const struct sg_reading bad = {.sensor = ""}; /* no sensor id */

	for (int i = 0; i < 50; i++)
		CHECK_EQ(sg_source_emit(handles[0], &bad), SG_EINVAL);
	CHECK_EQ(sg_source_emit(handles[1], &bad), SG_EINVAL);
}

TEST(malformed_reading_log_is_per_source)
{
	uint64_t before = sg_metrics_sum("emit_errors", "noisy");
	struct rig r;
	const char *log;

	rig_open(&r);
	log = stderr_of(noisy_then_quiet);
	/* One line for the noisy source (49 suppressed for 5 s), and the
	 * quiet source's own line all the same. */
	const char *first = strstr(log, "[noisy] malformed reading");
	CHECK(first != NULL);
	CHECK(first && strstr(first + 1, "[noisy] malformed") == NULL);
	CHECK(strstr(log, "[quiet] malformed reading") != NULL);
	CHECK_EQ(sg_metrics_sum("emit_errors", "noisy") - before, 50);
	rig_close(&r);
}

TEST(too_long_a_field_is_refused_and_nothing_spooled)
{
	struct rig r;
	char *unit = malloc(70001);
	struct sg_reading rd = {.sensor = "x", .value = {.type = SG_VAL_BOOL, .b = true}};
	struct sg_spool_stats st;

	memset(unit, 'u', 70000);
	unit[70000] = '\0';
	rd.unit = unit;
	rig_open(&r);
	CHECK_EQ(sg_source_emit(handles[0], &rd), SG_EINVAL);
	sg_spool_stats(r.sp, &st);
	CHECK_EQ(st.next_seq, 1);
	free(unit);
	rig_close(&r);
}
