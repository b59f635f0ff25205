/*
 * test_avro_registry.c - the Schema Registry client and the producer's
 * Avro encoder against a fake registry on loopback (a thread that records
 * each HTTP request and answers what the test says): the requests the
 * client sends (paths, the schema in the body, basic auth), how each
 * answer is classified and worded, and the encoder's promise that a
 * registry that cannot help delays records (SG_EAGAIN, counted, backoff,
 * schema_registry_up 0) and never fails them; the readiness rule.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gateway/base/clock.h"
#include "gateway/config/conf.h"
#include "gateway/core/event.h"
#include "gateway/core/health.h"
#include "gateway/core/metrics.h"
#include "gateway/schema/encoder.h"
#include "gateway/schema/registry.h"
#include "gateway/schema/wire.h"
#include "t.h"

/* --- the fake registry ------------------------------------------------------ */

struct fake {
	int fd, port;
	pthread_t thr;
	pthread_mutex_t mu;
	int status; /* the answer */
	char body[512];
	bool down; /* close connections without answering */
	int requests;
	char last[8192]; /* the last request, head and body */
	_Atomic bool stop;
};

static void fake_serve(struct fake *f, int c)
{
	char req[8192], ans[1024];
	size_t n = 0;
	ssize_t k;
	const char *hend, *cl;
	long want = -1;

	while (n < sizeof(req) - 1 && (k = read(c, req + n, sizeof(req) - 1 - n)) > 0) {
		n += (size_t)k;
		req[n] = '\0';
		if ((hend = strstr(req, "\r\n\r\n"))) {
			cl = strcasestr(req, "content-length:");
			want = cl ? atol(cl + 15) : 0;
			if ((long)(n - (size_t)(hend + 4 - req)) >= want)
				break;
		}
	}
	pthread_mutex_lock(&f->mu);
	f->requests++;
	snprintf(f->last, sizeof(f->last), "%s", req);
	if (!f->down) {
		int m = snprintf(ans, sizeof(ans),
				 "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
				 "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
				 f->status, strlen(f->body), f->body);
		if (write(c, ans, (size_t)m) < 0)
			perror("fake registry: write");
	}
	pthread_mutex_unlock(&f->mu);
	close(c);
}

static void *fake_thread(void *arg)
{
	struct fake *f = arg;

	while (!atomic_load(&f->stop)) {
		struct pollfd p = {.fd = f->fd, .events = POLLIN};
		int c;

		if (poll(&p, 1, 50) <= 0)
			continue;
		if ((c = accept(f->fd, NULL, NULL)) >= 0)
			fake_serve(f, c);
	}
	return NULL;
}

static void fake_start(struct fake *f)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);

	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->mu, NULL);
	f->fd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(f->fd >= 0);
	CHECK(bind(f->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	CHECK(listen(f->fd, 16) == 0);
	CHECK(getsockname(f->fd, (struct sockaddr *)&sa, &sl) == 0);
	f->port = ntohs(sa.sin_port);
	pthread_create(&f->thr, NULL, fake_thread, f);
}

static void fake_stop(struct fake *f)
{
	atomic_store(&f->stop, true);
	pthread_join(f->thr, NULL);
	close(f->fd);
	pthread_mutex_destroy(&f->mu);
}

static void fake_answer(struct fake *f, int status, const char *body)
{
	pthread_mutex_lock(&f->mu);
	f->status = status;
	snprintf(f->body, sizeof(f->body), "%s", body);
	pthread_mutex_unlock(&f->mu);
}

static int fake_requests(struct fake *f)
{
	pthread_mutex_lock(&f->mu);
	int n = f->requests;
	pthread_mutex_unlock(&f->mu);
	return n;
}

static void rconf(struct sg_registry_conf *rc, char *url, size_t n, int port)
{
	snprintf(url, n, "http://127.0.0.1:%d/apis/ccompat/v7/", port);
	*rc = (struct sg_registry_conf){
	    .url = url, .timeout_ms = 2000, .retry_max_ms = 400, .auto_register = true};
}

static void says(const char *msg, const char *what)
{
	if (!strstr(msg, what))
		t_fail(__FILE__, __LINE__, "'%s' does not say '%s'", msg, what);
}

/* --- the client --------------------------------------------------------------- */

TEST(classify_answers)
{
	CHECK_EQ(sg_registry_classify(200, 0), SG_REG_OK);
	CHECK_EQ(sg_registry_classify(0, 0), SG_REG_UNREACHABLE);
	CHECK_EQ(sg_registry_classify(503, 50003), SG_REG_UNREACHABLE);
	CHECK_EQ(sg_registry_classify(429, 0), SG_REG_UNREACHABLE);
	CHECK_EQ(sg_registry_classify(401, 0), SG_REG_AUTH);
	CHECK_EQ(sg_registry_classify(403, 40301), SG_REG_AUTH);
	CHECK_EQ(sg_registry_classify(409, 409), SG_REG_INCOMPATIBLE);
	CHECK_EQ(sg_registry_classify(404, 40401), SG_REG_NOT_REGISTERED);
	CHECK_EQ(sg_registry_classify(404, 40403), SG_REG_NOT_REGISTERED);
	CHECK_EQ(sg_registry_classify(422, 42201), SG_REG_INVALID);
	CHECK_EQ(sg_registry_classify(418, 0), SG_REG_OTHER);
	CHECK_EQ(sg_registry_reason_err(SG_REG_UNREACHABLE), SG_EAGAIN);
	CHECK_EQ(sg_registry_reason_err(SG_REG_NOT_REGISTERED), SG_ENOTFOUND);
	CHECK_EQ(sg_registry_reason_err(SG_REG_INCOMPATIBLE), SG_ECONFIG);
	CHECK_STR(sg_registry_reason_name(SG_REG_AUTH), "auth");
}

TEST(register_lookup_and_fetch)
{
	struct fake f;
	struct sg_registry_conf rc;
	struct sg_registry *reg = NULL;
	struct sg_errbuf eb;
	enum sg_reg_reason why;
	char url[128], user[] = "user", pass[] = "pass", *schema = NULL;
	uint32_t id = 0;

	fake_start(&f);
	rconf(&rc, url, sizeof(url), f.port);
	rc.username = user;
	rc.password = pass;
	CHECK_EQ(sg_registry_new(&rc, &reg, &eb), SG_OK);

	fake_answer(&f, 200, "{\"id\":7}");
	CHECK_EQ(sg_registry_register(reg, "t.a-value", "\"string\"", &id, &why, &eb), SG_OK);
	CHECK_EQ(id, 7);
	CHECK_EQ(why, SG_REG_OK);
	says(f.last, "POST /apis/ccompat/v7/subjects/t.a-value/versions HTTP/1.1");
	says(f.last, "Authorization: Basic dXNlcjpwYXNz"); /* user:pass */
	says(f.last, "Content-Type: application/vnd.schemaregistry.v1+json");
	says(f.last, "{\"schema\":\"\\\"string\\\"\"}");

	fake_answer(&f, 200, "{\"subject\":\"s\",\"id\":9,\"version\":1,\"schema\":\"x\"}");
	CHECK_EQ(sg_registry_lookup(reg, "sensorgate.Event", "{}", &id, &why, &eb), SG_OK);
	CHECK_EQ(id, 9);
	says(f.last, "POST /apis/ccompat/v7/subjects/sensorgate.Event HTTP/1.1");

	fake_answer(&f, 200, "{\"schema\":\"{\\\"type\\\":\\\"string\\\"}\"}");
	CHECK_EQ(sg_registry_schema(reg, 9, &schema, &why, &eb), SG_OK);
	CHECK_STR(schema, "{\"type\":\"string\"}");
	says(f.last, "GET /apis/ccompat/v7/schemas/ids/9 HTTP/1.1");
	free(schema);
	sg_registry_free(reg);
	fake_stop(&f);
}

TEST(refusals_are_classified_and_explained)
{
	struct fake f;
	struct sg_registry_conf rc;
	struct sg_registry *reg = NULL;
	struct sg_errbuf eb;
	enum sg_reg_reason why;
	char url[128], *schema = NULL;
	uint32_t id = 0;

	fake_start(&f);
	rconf(&rc, url, sizeof(url), f.port);
	CHECK_EQ(sg_registry_new(&rc, &reg, &eb), SG_OK);

	fake_answer(&f, 409, "{\"error_code\":409,\"message\":\"Incompatible: b at /fields/1\"}");
	CHECK_EQ(sg_registry_register(reg, "t-value", "{}", &id, &why, &eb), SG_ECONFIG);
	CHECK_EQ(why, SG_REG_INCOMPATIBLE);
	says(eb.msg, "subject 't-value'");
	says(eb.msg, "HTTP 409");
	says(eb.msg, "Incompatible: b at /fields/1");
	says(eb.msg, "compatibility level");

	fake_answer(&f, 401, "{\"error_code\":401,\"message\":\"Unauthorized\"}");
	CHECK_EQ(sg_registry_register(reg, "t-value", "{}", &id, &why, &eb), SG_ECONFIG);
	CHECK_EQ(why, SG_REG_AUTH);
	says(eb.msg, "schema_registry.username and password");

	fake_answer(&f, 404, "{\"error_code\":40403,\"message\":\"no match\"}");
	CHECK_EQ(sg_registry_lookup(reg, "t-value", "{}", &id, &why, &eb), SG_ENOTFOUND);
	CHECK_EQ(why, SG_REG_NOT_REGISTERED);
	says(eb.msg, "auto_register is off");

	fake_answer(&f, 503, "down for maintenance");
	CHECK_EQ(sg_registry_register(reg, "t-value", "{}", &id, &why, &eb), SG_EAGAIN);
	CHECK_EQ(why, SG_REG_UNREACHABLE);

	fake_answer(&f, 200, "<html>not the registry</html>");
	CHECK_EQ(sg_registry_register(reg, "t-value", "{}", &id, &why, &eb), SG_ECONFIG);
	CHECK_EQ(why, SG_REG_INVALID);
	CHECK_EQ(sg_registry_schema(reg, 1, &schema, &why, &eb), SG_ECONFIG);
	CHECK(schema == NULL);
	sg_registry_free(reg);
	fake_stop(&f);

	/* Nobody listening any more: unreachable, with curl's reason. */
	rconf(&rc, url, sizeof(url), f.port);
	CHECK_EQ(sg_registry_new(&rc, &reg, &eb), SG_OK);
	CHECK_EQ(sg_registry_register(reg, "t-value", "{}", &id, &why, &eb), SG_EAGAIN);
	CHECK_EQ(why, SG_REG_UNREACHABLE);
	says(eb.msg, "unreachable");
	says(eb.msg, "events wait in the spool");
	sg_registry_free(reg);
}

/* --- the producer's encoder ------------------------------------------------ */

static void enc_conf(struct sg_conf *c, char *url, size_t n, int port)
{
	memset(c, 0, sizeof(*c));
	c->gateway.id = "gw";
	c->kafka.format = SG_FORMAT_AVRO;
	c->kafka.topic = "t.{source}";
	rconf(&c->schema_registry, url, n, port);
}

static void record_of(struct sg_buf *enc, struct sg_record *r)
{
	static const struct sg_event_ctx ec = {"gw", "src", "t.{source}"};
	struct sg_reading rd = {
	    .sensor = "temp-1", .ts_ns = 5000, .value = {.type = SG_VAL_INT, .i = 3}};

	sg_buf_reset(enc);
	CHECK_EQ(sg_event_encode(&ec, &rd, enc), SG_OK);
	CHECK_EQ(sg_record_decode(enc->p, enc->len, r), SG_OK);
}

/* The content-type header of a rendered record. */
static bool has_header(const struct sg_record *r, const char *name, const char *val)
{
	size_t pos = 0, nl, vl;
	const char *nm;
	const void *v;

	while (sg_record_header_next(r, &pos, &nm, &nl, &v, &vl))
		if (nl == strlen(name) && !memcmp(nm, name, nl))
			return vl == strlen(val) && !memcmp(v, val, vl);
	return false;
}

TEST(encoder_waits_for_the_registry_and_never_fails_a_record)
{
	struct fake f;
	struct sg_conf c;
	struct sg_schema_enc *e = NULL;
	struct sg_buf enc, scratch;
	struct sg_record r;
	struct sg_errbuf eb;
	char url[128];
	uint32_t id = 0;
	const uint8_t *body;
	size_t blen;
	int n0;

	sg_metrics_reset();
	fake_start(&f);
	enc_conf(&c, url, sizeof(url), f.port);
	c.schema_registry.key_format = SG_KEY_AVRO;
	sg_buf_init(&enc);
	sg_buf_init(&scratch);
	f.down = true; /* connections accepted and closed: no answer */
	CHECK_EQ(sg_schema_enc_new(&c, &e, &eb), SG_OK); /* no source: nothing asked yet */
	CHECK_EQ(fake_requests(&f), 0);
	record_of(&enc, &r);
	CHECK_EQ(sg_schema_enc_render(e, &r, 42, &scratch), SG_EAGAIN);
	CHECK_EQ(fake_requests(&f), 1);
	CHECK_EQ(sg_metrics_sum("schema_registry_up", NULL), 0);
	CHECK_EQ(sg_metrics_sum("schema_registry_errors", "unreachable"), 1);
	/* Within the backoff the registry is not asked again. */
	CHECK_EQ(sg_schema_enc_render(e, &r, 42, &scratch), SG_EAGAIN);
	CHECK_EQ(fake_requests(&f), 1);

	/* The credentials refused: still only a delay. */
	pthread_mutex_lock(&f.mu);
	f.down = false;
	pthread_mutex_unlock(&f.mu);
	fake_answer(&f, 401, "{\"error_code\":401,\"message\":\"no\"}");
	poll(NULL, 0, 600);
	CHECK_EQ(sg_schema_enc_render(e, &r, 42, &scratch), SG_EAGAIN);
	CHECK_EQ(sg_metrics_sum("schema_registry_errors", "auth"), 1);

	/* The registry answers: value and key in the wire format. */
	fake_answer(&f, 200, "{\"id\":21}");
	n0 = fake_requests(&f);
	poll(NULL, 0, 1100);
	CHECK_EQ(sg_schema_enc_render(e, &r, 42, &scratch), SG_OK);
	CHECK_EQ(fake_requests(&f), n0 + 2); /* t.src-value and t.src-key */
	says(f.last, "/subjects/t.src-key/versions");
	CHECK_EQ(sg_metrics_sum("schema_registry_up", NULL), 1);
	CHECK_EQ(sg_wire_parse(r.value, r.value_len, &id, &body, &blen), SG_OK);
	CHECK_EQ(id, 21);
	CHECK(blen > 10 && !memcmp(body, "\x0agw:42", 6)); /* the id field first */
	CHECK_EQ(sg_wire_parse(r.key, r.key_len, &id, &body, &blen), SG_OK);
	CHECK(blen == 7 && !memcmp(body, "\x0ctemp-1", 7));
	CHECK(has_header(&r, "content-type", SG_CONTENT_TYPE_AVRO));
	CHECK(has_header(&r, "sg-id", "gw:42"));
	CHECK(has_header(&r, "sg-source", "src"));
	/* Cached: no more requests. */
	record_of(&enc, &r);
	CHECK_EQ(sg_schema_enc_render(e, &r, 43, &scratch), SG_OK);
	CHECK_EQ(fake_requests(&f), n0 + 2);
	sg_schema_enc_free(e);
	fake_stop(&f);
	sg_buf_free(&enc);
	sg_buf_free(&scratch);
}

TEST(encoder_asks_for_configured_subjects_at_start)
{
	struct fake f;
	struct sg_conf c;
	struct sg_source_conf src[2] = {{.name = "a", .enabled = true},
					{.name = "b", .enabled = true, .topic = "x.{sensor}"}};
	struct sg_schema_enc *e = NULL;
	struct sg_errbuf eb;
	char url[128];

	fake_start(&f);
	enc_conf(&c, url, sizeof(url), f.port);
	c.schema_registry.subject_strategy = SG_SUBJECT_RECORD;
	c.schema_registry.auto_register = false;
	c.sources.items = src;
	c.sources.n = 2;
	fake_answer(&f, 200, "{\"id\":3,\"subject\":\"sensorgate.Event\",\"version\":1}");
	CHECK_EQ(sg_schema_enc_new(&c, &e, &eb), SG_OK);
	/* a's topic is known; b's has {sensor}, so waits for its records */
	CHECK_EQ(fake_requests(&f), 1);
	says(f.last, "POST /apis/ccompat/v7/subjects/sensorgate.Event HTTP/1.1"); /* lookup */
	sg_schema_enc_free(e);
	fake_stop(&f);

	c.kafka.format = SG_FORMAT_JSON;
	CHECK_EQ(sg_schema_enc_new(&c, &e, &eb), SG_OK);
	CHECK(e == NULL);
}

TEST(ready_fails_while_the_registry_cannot_help)
{
	struct sg_health_input in = {
	    .now_ns = 1,
	    .stall_ns = 1,
	    .spool_max_bytes = 100,
	    .high_water_pct = 90,
	    .max_age_ns = 1,
	    .delivery_stall_ns = 1,
	    .brokers_up = 1,
	};
	struct sg_buf b;

	sg_buf_init(&b);
	CHECK(sg_health_ready(&in, &b));
	CHECK(!strstr(b.p, "schema_registry"));
	sg_buf_reset(&b);
	in.registry_used = true;
	CHECK(sg_health_ready(&in, &b));
	says(b.p, "{\"name\":\"schema_registry\",\"ok\":true");
	sg_buf_reset(&b);
	in.registry_waiting = true;
	CHECK(!sg_health_ready(&in, &b));
	says(b.p, "{\"name\":\"schema_registry\",\"ok\":false");
	sg_buf_reset(&b);
	CHECK(sg_health_live(&in, &b)); /* a restart would not help: still live */
	sg_buf_free(&b);
}

/* --- the configuration keys --------------------------------------------------- */

/* Load text as a config: NULL when it is valid, else the errors. */
static char g_dir[400];

static char *load(const char *text, struct sg_conf *c)
{
	char path[512], *errs = NULL;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/avro.yaml", g_dir);
	fp = fopen(path, "w");
	fputs(text, fp);
	fclose(fp);
	if (sg_conf_load(path, c, &errs) == SG_OK) {
		free(errs);
		return NULL;
	}
	return errs ? errs : strdup("?");
}

TEST(config_keys)
{
	struct sg_conf c;
	char *e, pwfile[512], text[1024];
	FILE *fp;

	snprintf(g_dir, sizeof(g_dir), "%s", t_tmpdir());
	e = load("kafka: {format: avro}\n", &c);
	CHECK(e != NULL);
	if (e)
		says(e, "kafka.format: avro needs schema_registry.url");
	free(e);
	sg_conf_free(&c);
	e = load("schema_registry: {url: ftp://x}\n", &c);
	CHECK(e != NULL);
	if (e)
		says(e, "must start with http:// or https://");
	free(e);
	sg_conf_free(&c);
	e = load("schema_registry: {url: http://x, username: u}\n", &c);
	CHECK(e != NULL);
	if (e)
		says(e, "username and password go together");
	free(e);
	sg_conf_free(&c);
	e = load("kafka: {format: xml}\n", &c);
	CHECK(e != NULL);
	if (e)
		says(e, "'xml' is not one of: json, avro");
	free(e);
	sg_conf_free(&c);

	/* Defaults, and the secret from file: with the user from ${ENV}. */
	CHECK(load("gateway: {id: g}\n", &c) == NULL);
	CHECK_EQ(c.kafka.format, SG_FORMAT_JSON);
	CHECK_EQ(c.schema_registry.subject_strategy, SG_SUBJECT_TOPIC);
	CHECK_EQ(c.schema_registry.key_format, SG_KEY_STRING);
	CHECK(c.schema_registry.auto_register);
	CHECK_EQ(c.schema_registry.timeout_ms, 5000);
	CHECK_EQ(c.schema_registry.retry_max_ms, 10000);
	sg_conf_free(&c);
	snprintf(pwfile, sizeof(pwfile), "%s/pw", g_dir);
	fp = fopen(pwfile, "w");
	fputs("s3cret\n", fp);
	fclose(fp);
	setenv("SG_TEST_REG_USER", "api-key", 1);
	snprintf(
	    text, sizeof(text),
	    "kafka: {format: avro}\nschema_registry:\n  url: https://r:8081\n"
	    "  username: ${SG_TEST_REG_USER}\n  password: file:%s\n  subject_strategy: record\n"
	    "  key_format: avro\n  auto_register: false\n",
	    pwfile);
	e = load(text, &c);
	if (e)
		t_fail(__FILE__, __LINE__, "%s", e);
	free(e);
	CHECK_EQ(c.kafka.format, SG_FORMAT_AVRO);
	CHECK_STR(c.schema_registry.username, "api-key");
	CHECK_STR(c.schema_registry.password, "s3cret");
	CHECK_EQ(c.schema_registry.subject_strategy, SG_SUBJECT_RECORD);
	CHECK_EQ(c.schema_registry.key_format, SG_KEY_AVRO);
	CHECK(!c.schema_registry.auto_register);
	sg_conf_free(&c);
}
