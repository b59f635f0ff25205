/*
 * security.c - kafka.security -> librdkafka properties, and whether this
 * librdkafka can do what the section asks (see security.h).
 */
#include "security.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <string.h>

int sg_kafka_security_protocol(const struct sg_kafka_security *s)
{
	if (s->protocol != SG_KPROTO_AUTO)
		return s->protocol;
	if (s->sasl_mechanism != SG_KSASL_NONE)
		return SG_KPROTO_SASL_SSL;
	if (s->ca_file || s->certificate || s->key)
		return SG_KPROTO_SSL;
	return SG_KPROTO_AUTO;
}

bool sg_kafka_security_tls(const struct sg_kafka_security *s)
{
	int p = sg_kafka_security_protocol(s);

	return p == SG_KPROTO_SSL || p == SG_KPROTO_SASL_SSL;
}

struct ksec_out {
	struct sg_ksec_prop *v;
	size_t n, max;
};

static void ksec_add(struct ksec_out *o, const char *key, const char *val, const char *name)
{
	if (val && o->n < o->max)
		o->v[o->n++] = (struct sg_ksec_prop){key, val, name};
}

size_t sg_kafka_security_props(const struct sg_kafka_security *s, struct sg_ksec_prop *out,
			       size_t max)
{
	struct ksec_out o = {out, 0, max};
	int proto = sg_kafka_security_protocol(s);

	if (proto != SG_KPROTO_AUTO)
		ksec_add(&o, "security.protocol", sg_kafka_proto_name(proto), "protocol");
	if (s->sasl_mechanism != SG_KSASL_NONE)
		ksec_add(&o, "sasl.mechanisms", sg_kafka_sasl_name(s->sasl_mechanism),
			 "sasl_mechanism");
	ksec_add(&o, "sasl.username", s->username, "username");
	ksec_add(&o, "sasl.password", s->password, "password");
	if (s->sasl_mechanism == SG_KSASL_OAUTHBEARER) {
		ksec_add(&o, "sasl.oauthbearer.method", "oidc", "sasl_mechanism");
		ksec_add(&o, "sasl.oauthbearer.token.endpoint.url", s->oauth_token_endpoint,
			 "oauth_token_endpoint");
		ksec_add(&o, "sasl.oauthbearer.client.id", s->oauth_client_id, "oauth_client_id");
		ksec_add(&o, "sasl.oauthbearer.client.secret", s->oauth_client_secret,
			 "oauth_client_secret");
		ksec_add(&o, "sasl.oauthbearer.scope", s->oauth_scope, "oauth_scope");
	}
	ksec_add(&o, "ssl.ca.location", s->ca_file, "ca_file");
	ksec_add(&o, "ssl.certificate.location", s->certificate, "certificate");
	ksec_add(&o, "ssl.key.location", s->key, "key");
	ksec_add(&o, "ssl.key.password", s->key_password, "key_password");
	if (sg_kafka_security_tls(s))
		ksec_add(&o, "ssl.endpoint.identification.algorithm",
			 s->verify_hostname ? "https" : "none", "verify_hostname");
	return o.n;
}

/* Is word in the comma-separated list? */
static bool ksec_has(const char *list, const char *word)
{
	size_t n = strlen(word);

	for (const char *p = list; (p = strstr(p, word)); p += n)
		if ((p == list || p[-1] == ',') && (p[n] == ',' || !p[n]))
			return true;
	return false;
}

bool sg_kafka_security_supported(const struct sg_kafka_security *s, char *why, size_t n)
{
	static const char *const need[] = {
	    [SG_KSASL_NONE] = NULL,
	    [SG_KSASL_PLAIN] = "sasl_plain",
	    [SG_KSASL_SCRAM_SHA_256] = "sasl_scram",
	    [SG_KSASL_SCRAM_SHA_512] = "sasl_scram",
	    [SG_KSASL_OAUTHBEARER] = "sasl_oauthbearer",
	};
	char feat[512] = "";
	size_t len = sizeof(feat);
	rd_kafka_conf_t *kc = rd_kafka_conf_new();
	const char *miss = NULL;

	rd_kafka_conf_get(kc, "builtin.features", feat, &len);
	rd_kafka_conf_destroy(kc);
	if (sg_kafka_security_tls(s) && !ksec_has(feat, "ssl"))
		miss = "ssl";
	else if (s->sasl_mechanism > SG_KSASL_NONE && s->sasl_mechanism <= SG_KSASL_OAUTHBEARER &&
		 !ksec_has(feat, need[s->sasl_mechanism]))
		miss = need[s->sasl_mechanism];
	else if (s->sasl_mechanism == SG_KSASL_OAUTHBEARER && !ksec_has(feat, "oidc"))
		miss = "oidc";
	if (!miss)
		return true;
	if (!strcmp(miss, "oidc"))
		snprintf(why, n,
			 "OAUTHBEARER needs OIDC (librdkafka's `oidc` feature, built with "
			 "libcurl), which this librdkafka %s lacks (it has: %s); use SCRAM-SHA-512 "
			 "or PLAIN, or a librdkafka built with libcurl",
			 rd_kafka_version_str(), feat);
	else
		snprintf(why, n,
			 "this librdkafka %s was built without `%s` (it has: %s), which %s needs",
			 rd_kafka_version_str(), miss, feat,
			 !strcmp(miss, "ssl") ? "TLS" : sg_kafka_sasl_name(s->sasl_mechanism));
	return false;
}

/* librdkafka before 2.6.1 sends a SCRAM client-final nonce that Kafka
 * 4.x brokers (which compare it strictly, as RFC 5802 says) refuse as
 * "invalid credentials" (librdkafka#4895, fixed in 2.6.1). */
#define KSEC_SCRAM_FIXED 0x020601ff

const char *sg_kafka_security_caveat(const struct sg_kafka_security *s)
{
	bool scram = s->sasl_mechanism == SG_KSASL_SCRAM_SHA_256 ||
		     s->sasl_mechanism == SG_KSASL_SCRAM_SHA_512;

	if (!scram || rd_kafka_version() >= KSEC_SCRAM_FIXED)
		return NULL;
	return "this librdkafka (before 2.6.1) cannot authenticate with SCRAM to Apache Kafka "
	       "4.0 and later, which refuse it as invalid credentials (librdkafka#4895); with "
	       "such a broker use PLAIN over TLS, mTLS, or librdkafka 2.6.1 or later; brokers "
	       "before 4.0 are fine";
}

const char *sg_kafka_prop_canonical(const char *key)
{
	return strcmp(key, "sasl.mechanism") ? key : "sasl.mechanisms";
}
