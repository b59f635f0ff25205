/*
 * test_config_load.c - the guarded configuration loader (issue 11,
 * defects 4 and 8): bytes libfyaml would loop on or misreport are
 * refused first with FILE:LINE:COL, an empty or comment-only file means
 * all defaults like a bare `---`, a second document is an error, empty
 * key names and duplicate kafka.properties keys are named with their
 * position, checking is not quadratic in the number of keys, and a topic
 * template that cannot fit Kafka's 249 characters fails the check (and
 * is refused, never cut, at run time).  Each case runs in a child with an
 * alarm, so a loader that hangs fails the test instead of hanging it.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gateway/config/conf.h"
#include "gateway/core/event.h"
#include "t.h"

static const char *write_bytes(const char *p, size_t n)
{
	static char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/c.yaml", t_tmpdir());
	f = fopen(path, "w");
	fwrite(p, 1, n, f);
	fclose(f);
	return path;
}

/* Load bytes in a child (alarm: 10 s).  Returns the exit status: 0
 * valid, 2 errors (their text in out, the directory cut off), 3 hung. */
static int load_bytes(const char *p, size_t n, char *out, size_t outsz)
{
	const char *path = write_bytes(p, n);
	int fd[2], st;
	ssize_t got = 0, r;
	pid_t pid;

	if (pipe(fd) != 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		struct sg_conf c;
		char *e = NULL;
		int rc;

		close(fd[0]);
		alarm(10);
		rc = sg_conf_load(path, &c, &e);
		if (e && write(fd[1], e, strlen(e)) < 0)
			_exit(1);
		_exit(rc == SG_OK ? 0 : 2);
	}
	close(fd[1]);
	while (got + 1 < (ssize_t)outsz &&
	       (r = read(fd[0], out + got, outsz - 1 - (size_t)got)) > 0)
		got += r;
	out[got] = '\0';
	close(fd[0]);
	waitpid(pid, &st, 0);
	if (WIFSIGNALED(st))
		return WTERMSIG(st) == SIGALRM ? 3 : -WTERMSIG(st);
	/* "/tmp/sgtest.X/c.yaml:1:2: ..." -> "c.yaml:1:2: ..." */
	char *slash = strstr(out, "/c.yaml");
	if (slash)
		memmove(out, slash + 1, strlen(slash + 1) + 1);
	return WEXITSTATUS(st);
}

static int load_text(const char *text, char *out, size_t outsz)
{
	return load_bytes(text, strlen(text), out, outsz);
}

/* Regression: `%` then a byte that is not UTF-8 made libfyaml loop
 * forever (check never returned); other binary data got messages
 * without a position. */
TEST(bad_bytes_are_refused_with_a_position)
{
	char out[4096];

	CHECK_EQ(load_bytes("%\xcd", 2, out, sizeof(out)), 2);
	CHECK(strstr(out, "c.yaml:1:2: (file): byte 0xcd is not UTF-8") == out);
	CHECK_EQ(load_bytes("gateway: {id: a}\n  \x01x\n", 21, out, sizeof(out)), 2);
	CHECK(strstr(out, "c.yaml:2:3: (file): control character 0x01") == out);
	CHECK_EQ(load_bytes("a: b\n\0c: d\n", 11, out, sizeof(out)), 2);
	CHECK(strstr(out, "c.yaml:2:1: (file): control character 0x00") == out);
	/* An overlong encoding of '/' and a lone continuation byte. */
	CHECK_EQ(load_bytes("k: \xc0\xaf\n", 6, out, sizeof(out)), 2);
	CHECK(strstr(out, "c.yaml:1:4:") == out);
	CHECK_EQ(load_bytes("\x80", 1, out, sizeof(out)), 2);
	/* Valid UTF-8 text is fine. */
	CHECK_EQ(load_text("gateway: {id: caf\xc3\xa9-1}\n", out, sizeof(out)), 2);
	CHECK(strstr(out, "id 'caf\xc3\xa9-1' must be") != NULL); /* the id rule, not the bytes */
	CHECK_EQ(load_text("# caf\xc3\xa9\ngateway: {id: a}\n", out, sizeof(out)), 0);
}

TEST(random_bytes_never_hang_the_loader)
{
	char buf[512], out[8192];
	unsigned seed = 11;

	for (int round = 0; round < 40; round++) {
		size_t n = 1 + (size_t)(rand_r(&seed) % (sizeof(buf) - 1));
		for (size_t i = 0; i < n; i++)
			buf[i] =
			    (char)(rand_r(&seed) % (round % 2 ? 256 : 96) + (round % 2 ? 0 : 32));
		if (round % 4 == 0)
			buf[0] = '%';
		int rc = load_bytes(buf, n, out, sizeof(out));
		CHECK(rc == 0 || rc == 2);
		if (rc == 2)
			CHECK(strstr(out, "c.yaml") == out);
	}
}

/* Regression: an empty or comment-only file was refused without a
 * position while a bare `---` was accepted.  All three mean defaults. */
TEST(no_document_means_defaults)
{
	char out[4096];

	CHECK_EQ(load_text("", out, sizeof(out)), 0);
	CHECK_EQ(load_text("# nothing here\n\n   # still nothing\n", out, sizeof(out)), 0);
	CHECK_EQ(load_text("---\n", out, sizeof(out)), 0);
	CHECK_EQ(load_text("--- # a comment\n...\n", out, sizeof(out)), 0);
	/* A stray directive with no document after it is an error. */
	CHECK_EQ(load_text("%FOO bar\n", out, sizeof(out)), 2);
	CHECK(strstr(out, "c.yaml:1:") == out);
}

/* Regression: a second YAML document was silently ignored. */
TEST(a_second_document_is_an_error)
{
	char out[4096];

	CHECK_EQ(load_text("gateway: {id: a}\n---\ngateway: {id: b}\n", out, sizeof(out)), 2);
	CHECK(strstr(out, "c.yaml:2:1: (yaml): a second YAML document") == out);
	CHECK_EQ(load_text("gateway: {id: a}\n...\nview: {mode: off}\n", out, sizeof(out)), 2);
	CHECK(strstr(out, "c.yaml:3:1: (yaml): a second YAML document") == out);
	CHECK_EQ(load_text("gateway: {id: a}\n...\n", out, sizeof(out)), 0);
}

/* Regression: empty key names carried no clear message; kafka.properties
 * keys had no position (libfyaml's duplicate check, now off, was the
 * only one). */
TEST(empty_and_duplicate_keys_are_named)
{
	char out[4096];

	CHECK_EQ(load_text("kafka:\n  \"\": 5\n", out, sizeof(out)), 2);
	CHECK(strstr(out, "c.yaml:2:4: kafka: empty key name") == out);
	CHECK_EQ(load_text("kafka:\n  properties:\n    \"\": x\n", out, sizeof(out)), 2);
	CHECK(strstr(out, "c.yaml:3:6: kafka.properties: empty key name") == out);
	CHECK_EQ(
	    load_text("kafka:\n  properties:\n    linger.ms: 5\n    acks.x: 1\n    linger.ms: 6\n",
		      out, sizeof(out)),
	    2);
	CHECK(strstr(out,
		     "c.yaml:5:5: kafka.properties.linger.ms: duplicate key (first at line 3)") ==
	      out);
	CHECK_EQ(load_text("gateway: {id: a, id: b}\n", out, sizeof(out)), 2);
	CHECK(strstr(out, "gateway.id: duplicate key") != NULL);
	/* Found by tests/fuzz/fuzz_config.c: a key that holds a newline made
	 * an error of two lines, the second without the file. */
	CHECK_EQ(load_text("gateway: {id\n\n  x: 1}\n", out, sizeof(out)), 2);
	CHECK(strstr(out, "c.yaml:1:11: gateway.id?x: unknown key\n") == out);
	CHECK(strchr(out, '\n') == out + strlen(out) - 1);
}

/* Regression: checking was quadratic in the number of keys (40k keys
 * over 60 s, libfyaml's duplicate-key check).  40,000 now load in well
 * under a second on a loaded machine. */
TEST(forty_thousand_keys_load_in_linear_time)
{
	struct sg_buf b;
	char out[256];
	struct timespec t0, t1;

	sg_buf_init(&b);
	sg_buf_printf(&b, "kafka:\n  properties:\n");
	for (int i = 0; i < 40000; i++)
		sg_buf_printf(&b, "    k%d: v\n", i);
	sg_buf_printf(&b, "    k17: again\n");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK_EQ(load_bytes(b.p, b.len, out, sizeof(out)), 2); /* the duplicate, found */
	clock_gettime(CLOCK_MONOTONIC, &t1);
	CHECK(strstr(out, "kafka.properties.k17: duplicate key") != NULL);
	CHECK((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 < 5000);
	sg_buf_free(&b);
}

/* Regression (defect 8): a topic template that expands past 249
 * characters passed check and was cut at run time. */
TEST(topic_templates_must_fit_kafka)
{
	char out[4096], text[1024], tmpl[300];

	memset(tmpl, 'x', 240);
	tmpl[240] = '\0';
	snprintf(text, sizeof(text),
		 "gateway: {id: gw-1234567}\nsources:\n  - {name: src, driver: sim, topic: "
		 "\"%s.{gateway}\", sensors: [{id: a, kind: counter, rate: 1}]}\n",
		 tmpl);
	CHECK_EQ(load_text(text, out, sizeof(out)), 2);
	CHECK(strstr(out, "sources[0].topic: topic '") != NULL);
	CHECK(strstr(out, "expands to 251 characters with gateway 'gw-1234567'") != NULL);
	CHECK(strstr(out, "c.yaml:3:") == out);
	/* The default kafka.topic with {sensor}: no room left for a sensor. */
	memset(tmpl, 'y', 245);
	memcpy(tmpl + 245, "{source}{sensor}", 17);
	snprintf(
	    text, sizeof(text),
	    "kafka: {topic: \"%s\"}\nsources:\n  - {name: abcd, driver: sim, sensors: [{id: a, "
	    "kind: counter, rate: 1}]}\n",
	    tmpl);
	CHECK_EQ(load_text(text, out, sizeof(out)), 2);
	CHECK(strstr(out, "sources[0].(kafka.topic): ") != NULL);
	CHECK(strstr(out, "expands to 249 characters before {sensor}") != NULL);
	/* 249 exactly is fine. */
	memset(tmpl, 'z', 245);
	memcpy(tmpl + 245, "{source}", 9);
	snprintf(
	    text, sizeof(text),
	    "kafka: {topic: \"%s\"}\nsources:\n  - {name: abcd, driver: sim, sensors: [{id: a, "
	    "kind: counter, rate: 1}]}\n",
	    tmpl);
	CHECK_EQ(load_text(text, out, sizeof(out)), 0);
}

/* At run time a {sensor} that makes the topic too long refuses the event
 * (counted as malformed by the source), instead of cutting the topic. */
TEST(too_long_topics_are_refused_not_cut)
{
	char tmpl[300], sensor[64];
	struct sg_event_ctx ec = {"gw", "src", tmpl};
	struct sg_reading rd = {.sensor = sensor, .value = {.type = SG_VAL_UINT, .u = 1}};
	struct sg_buf b;

	memset(tmpl, 't', 240);
	memcpy(tmpl + 240, ".{sensor}", 10);
	memset(sensor, 's', 8);
	sensor[8] = '\0'; /* 240 + 1 + 8 = 249: fits */
	sg_buf_init(&b);
	CHECK_EQ(sg_event_encode(&ec, &rd, &b), SG_OK);
	sensor[8] = 's';
	sensor[9] = '\0'; /* 250 */
	sg_buf_reset(&b);
	CHECK_EQ(sg_event_encode(&ec, &rd, &b), SG_EINVAL);
	CHECK_EQ(b.len, 0);
	sg_buf_free(&b);
}
