/*
 * test_kafka_security.c - kafka.security without a broker: the keys and
 * their rules (a literal secret is refused, a mechanism needs its
 * credentials, TLS keys need a TLS protocol), the librdkafka properties the
 * client layer makes of them and its refusals (the same property set twice,
 * a mechanism this librdkafka lacks), what `check --print` masks
 * (librdkafka's sensitive properties, credential-looking values), and the
 * error log that says a failing connection once per change.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway/base/log.h"
#include "gateway/config/conf.h"
#include "gateway/config/mask.h"
#include "gateway/core/metrics.h"
#include "gateway/kafka/client.h"
#include "gateway/kafka/security.h"
#include "t.h"

static char errs[8192];
static char tdir[256]; /* this test's directory (t_tmpdir() makes a new one each call) */

static void fresh(void)
{
	snprintf(tdir, sizeof(tdir), "%s", t_tmpdir());
}

/* Load text as a config file; the errors (or "") in errs. */
static int load(const char *text, struct sg_conf *c)
{
	char path[512], *e = NULL;
	FILE *f;
	int rc;

	if (!tdir[0] || access(tdir, F_OK) != 0)
		fresh();
	snprintf(path, sizeof(path), "%s/sec.yaml", tdir);
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	rc = sg_conf_load(path, c, &e);
	snprintf(errs, sizeof(errs), "%s", e ? e : "");
	free(e);
	return rc;
}

#define EXPECT_ERR(text, needle)                                                                   \
	do {                                                                                       \
		struct sg_conf _c;                                                                 \
		if (load(text, &_c) == SG_OK || !strstr(errs, needle))                             \
			t_fail(__FILE__, __LINE__, "expected '%s', got: %s", needle, errs);        \
		sg_conf_free(&_c);                                                                 \
	} while (0)

static const char *write_file(const char *name, const char *content)
{
	static char path[4][512];
	static int i;
	char *p = path[i++ % 4];
	FILE *f;

	snprintf(p, 512, "%s/%s", tdir, name);
	f = fopen(p, "w");
	fputs(content, f);
	fclose(f);
	return p;
}

TEST(secrets_come_from_files_or_the_environment_only)
{
	struct sg_conf c;
	char text[1024];

	fresh();
	EXPECT_ERR("kafka:\n  security: {sasl_mechanism: SCRAM-SHA-512, username: gw, password: "
		   "hunter2}\n",
		   "kafka.security.password: a secret is never written in the configuration");
	EXPECT_ERR("kafka:\n  security: {sasl_mechanism: PLAIN, username: gw, password: "
		   "\"x${SG_T_PW}\"}\n",
		   "a secret is never written");
	setenv("SG_T_PW", "pw-from-env", 1);
	CHECK(load("kafka:\n  security: {sasl_mechanism: SCRAM-SHA-512, username: gw, password: "
		   "\"${SG_T_PW}\"}\n",
		   &c) == SG_OK);
	CHECK_STR(c.kafka.security.password, "pw-from-env");
	sg_conf_free(&c);
	snprintf(text, sizeof(text),
		 "kafka:\n  security: {sasl_mechanism: SCRAM-SHA-256, username: gw, password: "
		 "\"file:%s\"}\n",
		 write_file("pw", "pw-from-file\n"));
	CHECK(load(text, &c) == SG_OK);
	CHECK_STR(c.kafka.security.password, "pw-from-file");
	sg_conf_free(&c);
	EXPECT_ERR("kafka:\n  security: {sasl_mechanism: PLAIN, username: gw, password: "
		   "\"file:/nonexistent/pw\"}\n",
		   "cannot read secret file /nonexistent/pw");
	snprintf(text, sizeof(text),
		 "kafka:\n  security: {sasl_mechanism: PLAIN, username: gw, password: "
		 "\"file:%s\"}\n",
		 write_file("empty", "\n"));
	EXPECT_ERR(text, "kafka.security.password: the secret is empty");
}

TEST(rules_between_the_keys)
{
	EXPECT_ERR("kafka:\n  security: {sasl_mechanism: SCRAM-SHA-512}\n",
		   "kafka.security: sasl_mechanism SCRAM-SHA-512 needs username and password");
	EXPECT_ERR("kafka:\n  security: {sasl_mechanism: SCRAM-SHA-1}\n",
		   "'SCRAM-SHA-1' is not one of: none, PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, "
		   "OAUTHBEARER");
	EXPECT_ERR("kafka:\n  security: {protocol: sasl_ssl}\n",
		   "protocol sasl_ssl needs a sasl_mechanism");
	EXPECT_ERR("kafka:\n  security: {protocol: ssl, sasl_mechanism: PLAIN, username: u, "
		   "password: \"${SG_T_PW}\"}\n",
		   "sasl_mechanism PLAIN needs protocol sasl_ssl");
	EXPECT_ERR("kafka:\n  security: {protocol: sasl_plaintext, sasl_mechanism: PLAIN, "
		   "username: u, password: \"${SG_T_PW}\", ca_file: /x}\n",
		   "ca_file, certificate and key are for TLS, which protocol sasl_plaintext does "
		   "not use");
	EXPECT_ERR("kafka:\n  security: {certificate: /c.pem}\n",
		   "certificate and key go together");
	EXPECT_ERR("kafka:\n  security: {username: u}\n", "username and password are for PLAIN");
	EXPECT_ERR("kafka:\n  security: {sasl_mechanism: OAUTHBEARER}\n",
		   "OAUTHBEARER needs oauth_token_endpoint, oauth_client_id and "
		   "oauth_client_secret");
	EXPECT_ERR("kafka:\n  security: {oauth_client_id: x}\n",
		   "oauth_* keys need sasl_mechanism OAUTHBEARER");
}

static const char *prop(const struct sg_ksec_prop *p, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(p[i].key, key))
			return p[i].val;
	return NULL;
}

TEST(the_section_as_librdkafka_properties)
{
	struct sg_kafka_security s = {.sasl_mechanism = SG_KSASL_SCRAM_SHA_512,
				      .username = "gw",
				      .password = "pw",
				      .ca_file = "/ca.pem",
				      .verify_hostname = true};
	struct sg_ksec_prop p[SG_KSEC_MAX_PROPS];
	size_t n = sg_kafka_security_props(&s, p, SG_KSEC_MAX_PROPS);

	CHECK_STR(prop(p, n, "security.protocol"), "sasl_ssl"); /* auto */
	CHECK_STR(prop(p, n, "sasl.mechanisms"), "SCRAM-SHA-512");
	CHECK_STR(prop(p, n, "sasl.username"), "gw");
	CHECK_STR(prop(p, n, "sasl.password"), "pw");
	CHECK_STR(prop(p, n, "ssl.ca.location"), "/ca.pem");
	CHECK_STR(prop(p, n, "ssl.endpoint.identification.algorithm"), "https");
	/* mTLS: ssl, and hostname verification can be turned off. */
	s = (struct sg_kafka_security){.certificate = "/c.pem",
				       .key = "/c.key",
				       .key_password = "kp",
				       .verify_hostname = false};
	n = sg_kafka_security_props(&s, p, SG_KSEC_MAX_PROPS);
	CHECK_STR(prop(p, n, "security.protocol"), "ssl");
	CHECK_STR(prop(p, n, "ssl.key.password"), "kp");
	CHECK_STR(prop(p, n, "ssl.endpoint.identification.algorithm"), "none");
	CHECK(!prop(p, n, "sasl.mechanisms"));
	/* Nothing set: nothing applied, librdkafka's defaults and
	 * kafka.properties decide. */
	s = (struct sg_kafka_security){.verify_hostname = true};
	CHECK_EQ(sg_kafka_security_props(&s, p, SG_KSEC_MAX_PROPS), 0);
	/* OAUTHBEARER is OIDC. */
	s = (struct sg_kafka_security){.sasl_mechanism = SG_KSASL_OAUTHBEARER,
				       .oauth_token_endpoint = "https://idp/token",
				       .oauth_client_id = "id",
				       .oauth_client_secret = "cs"};
	n = sg_kafka_security_props(&s, p, SG_KSEC_MAX_PROPS);
	CHECK_STR(prop(p, n, "sasl.oauthbearer.method"), "oidc");
	CHECK_STR(prop(p, n, "sasl.oauthbearer.client.secret"), "cs");
}

static struct sg_kafka_opts consumer(const struct sg_kafka_security *s,
				     const struct sg_cfg_map *props,
				     const struct sg_cfg_map *overrides)
{
	return (struct sg_kafka_opts){.kind = SG_KAFKA_CONSUMER,
				      .who = "sink",
				      .bootstrap = "127.0.0.1:1",
				      .props = props,
				      .overrides = overrides,
				      .security = s,
				      .group = "g"};
}

TEST(client_layer_applies_it_to_every_kind_and_refuses_doubles)
{
	struct sg_kafka_security s = {.sasl_mechanism = SG_KSASL_PLAIN,
				      .username = "gw",
				      .password = "pw",
				      .verify_hostname = true};
	struct sg_cfg_kv kv[] = {{.key = "sasl.password", .val = "other"},
				 {.key = "sasl.mechanism", .val = "PLAIN"}};
	struct sg_cfg_map twice = {kv, 2}, x = {kv, 1};
	struct sg_kafka_opts o = consumer(&s, NULL, NULL);
	struct sg_errbuf eb;

	CHECK_EQ(sg_kafka_check(&o, &eb), SG_OK);
	o.kind = SG_KAFKA_PRODUCER;
	CHECK_EQ(sg_kafka_check(&o, &eb), SG_OK);
	o.kind = SG_KAFKA_PRODUCER_TXN;
	o.transactional_id = "sensorgate-gw";
	CHECK_EQ(sg_kafka_check(&o, &eb), SG_OK);
	/* kafka.properties may not say it again (the alias too) ... */
	o = consumer(&s, &twice, NULL);
	CHECK_EQ(sg_kafka_check(&o, &eb), SG_ECONFIG);
	CHECK(strstr(eb.msg, "kafka.properties.sasl.password: also set by "
			     "kafka.security.password; keep one of them"));
	CHECK(strstr(eb.msg, "kafka.properties.sasl.mechanism: also set by "
			     "kafka.security.sasl_mechanism"));
	CHECK(!strstr(eb.msg, "other") && !strstr(eb.msg, ": pw")); /* never a value */
	/* ... but -X (the sink's command line) overrides it. */
	o = consumer(&s, NULL, &x);
	CHECK_EQ(sg_kafka_check(&o, &eb), SG_OK);
	/* The sink names the file it took the section from. */
	o = consumer(&s, &twice, NULL);
	o.security_key = "sink.yaml: kafka.security";
	CHECK_EQ(sg_kafka_check(&o, &eb), SG_ECONFIG);
	CHECK(strstr(eb.msg, "also set by sink.yaml: kafka.security.password"));
}

TEST(a_mechanism_this_build_lacks_is_named)
{
	struct sg_kafka_security s = {.sasl_mechanism = SG_KSASL_OAUTHBEARER,
				      .oauth_token_endpoint = "https://idp/token",
				      .oauth_client_id = "id",
				      .oauth_client_secret = "cs"};
	struct sg_kafka_opts o = consumer(&s, NULL, NULL);
	char feat[512] = "", why[600];
	size_t len = sizeof(feat);
	rd_kafka_conf_t *kc = rd_kafka_conf_new();
	struct sg_errbuf eb;
	bool oidc;

	rd_kafka_conf_get(kc, "builtin.features", feat, &len);
	rd_kafka_conf_destroy(kc);
	oidc = strstr(feat, "oidc") != NULL;
	CHECK_EQ(sg_kafka_security_supported(&s, why, sizeof(why)), oidc);
	CHECK_EQ(sg_kafka_check(&o, &eb), oidc ? SG_OK : SG_ECONFIG);
	if (!oidc) { /* Debian 12's librdkafka 2.0.2: say so, and what to do */
		CHECK(strstr(eb.msg, "kafka.security.sasl_mechanism: OAUTHBEARER needs OIDC"));
		CHECK(strstr(eb.msg, rd_kafka_version_str()));
		CHECK(strstr(eb.msg, "use SCRAM-SHA-512 or PLAIN"));
	}
	s = (struct sg_kafka_security){.sasl_mechanism = SG_KSASL_SCRAM_SHA_512};
	CHECK_EQ(sg_kafka_security_supported(&s, why, sizeof(why)),
		 strstr(feat, "sasl_scram") != NULL);
}

TEST(check_print_masks_secret_properties)
{
	/* librdkafka's sensitive properties, whatever their value. */
	CHECK(sg_mask_value("sasl.password", "x"));
	CHECK(sg_mask_value("sasl.oauthbearer.config", "principal=gw"));
	CHECK(sg_mask_value("ssl.key.pem", "x"));
	CHECK(sg_mask_value("ssl.keystore.password", "x"));
	CHECK(sg_mask_value("sasl.oauthbearer.client.secret", "x"));
	CHECK(sg_mask_known_secret("sasl.username"));
	/* Unknown keys that name a credential, and values that look like one. */
	CHECK(sg_mask_value("schema.registry.basic.auth.user.info.password", "x"));
	CHECK(sg_mask_value("my.api_key", "x"));
	CHECK(sg_mask_value("extension", "principal=gw clientSecret=s3cr3t"));
	CHECK(sg_mask_value("x", "-----BEGIN PRIVATE KEY-----\nMIIE"));
	CHECK(sg_mask_value("x", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJndyJ9.c2lnbmF0dXJl"));
	CHECK(sg_mask_value("header", "Bearer abc"));
	/* What is not a credential is shown. */
	CHECK(!sg_mask_value("linger.ms", "5"));
	CHECK(!sg_mask_value("security.protocol", "SASL_SSL"));
	CHECK(!sg_mask_value("sasl.oauthbearer.token.endpoint.url", "https://idp/oauth2/token"));
	CHECK(!sg_mask_value("ssl.ca.location", "/etc/ssl/ca.pem"));
	CHECK(!sg_mask_value("client.id", "gw.plant-7"));
}

TEST(check_print_dump_has_no_secret)
{
	struct sg_conf c;
	char *buf = NULL;
	size_t len = 0;
	FILE *mf;

	setenv("SG_T_PW", "pw-from-env", 1);
	CHECK(load("kafka:\n  security: {sasl_mechanism: SCRAM-SHA-512, username: gw, password: "
		   "\"${SG_T_PW}\"}\n  properties:\n    sasl.oauthbearer.config: \"principal=gw "
		   "clientSecret=oauth-s3cret\"\n    linger.ms: \"7\"\n",
		   &c) == SG_OK);
	mf = open_memstream(&buf, &len);
	sg_cfg_dump(&sg_conf_table, &c, 0, mf);
	fclose(mf);
	CHECK(!strstr(buf, "pw-from-env"));
	CHECK(!strstr(buf, "oauth-s3cret"));
	CHECK(strstr(buf, "password: <secret>"));
	CHECK(strstr(buf, "\"sasl.oauthbearer.config\": \"<secret>\""));
	CHECK(strstr(buf, "\"linger.ms\": \"7\""));
	CHECK(strstr(buf, "username: \"gw\""));
	free(buf);
	sg_conf_free(&c);
}

/* stderr of fn, captured (caller frees). */
static char *capture(void (*fn)(void))
{
	char path[512], *out = NULL;
	size_t len = 0;
	int fd, saved;
	FILE *f;

	fresh();
	snprintf(path, sizeof(path), "%s/stderr", tdir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	fflush(stderr);
	saved = dup(2);
	dup2(fd, 2);
	fn();
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	close(fd);
	f = fopen(path, "r");
	if (f) {
		out = calloc(1, 65536);
		len = fread(out, 1, 65535, f);
		out[len] = '\0';
		fclose(f);
	}
	return out;
}

static size_t count(const char *s, const char *needle)
{
	size_t n = 0;

	for (; (s = strstr(s, needle)); s++)
		n++;
	return n;
}

static void retries(void)
{
	struct sg_kafka_errlog l = {0};
	char reason[300];

	for (int i = 0; i < 20; i++) {
		snprintf(reason, sizeof(reason),
			 "sasl_ssl://b:9093/bootstrap: SASL authentication error: invalid "
			 "credentials (after %dms in state AUTH_REQ, %d identical error(s) "
			 "suppressed)",
			 300 + i, i);
		sg_kafka_error_note(&l, NULL, RD_KAFKA_RESP_ERR__AUTHENTICATION, reason);
		sg_kafka_error_note(&l, NULL, RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN,
				    "1/1 brokers are down");
	}
	sg_kafka_error_clear(&l);
	sg_kafka_error_clear(&l);
	sg_kafka_error_note(&l, NULL, RD_KAFKA_RESP_ERR__SSL, "certificate verify failed");
}

TEST(a_failing_connection_is_logged_once_per_change)
{
	char *out;

	sg_metrics_reset();
	sg_log_set_level(SG_LOG_INFO);
	out = capture(retries);
	CHECK(out);
	if (!out)
		return;
	CHECK_EQ(count(out, "SASL authentication error: invalid credentials"), 1);
	CHECK(!strstr(out, "identical error"));  /* librdkafka's counters cut */
	CHECK(!strstr(out, "brokers are down")); /* a consequence, not the cause */
	CHECK_EQ(count(out, "kafka client: connected (after _AUTHENTICATION)"), 1);
	CHECK_EQ(count(out, "_SSL: certificate verify failed"), 1);
	CHECK_EQ(sg_metrics_sum("kafka_errors", "error=\"_AUTHENTICATION\""), 20);
	CHECK_EQ(sg_metrics_sum("kafka_errors", "error=\"_ALL_BROKERS_DOWN\""), 20);
	free(out);
}
