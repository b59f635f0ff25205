/*
 * keys_security.c - the `kafka.security` key table: how every Kafka client
 * of the gateway (producer, transactional producer, checkpoint reader,
 * actuators, live view, `sensorgate sink -c`) connects to a secured
 * cluster.  The client layer (gateway/kafka/security.c) turns the struct
 * into librdkafka properties; `check` validates the files offline
 * (gateway/kafka/security_check.c).
 *
 * Secrets are a key kind of their own here: a password or passphrase must
 * be a reference, `file:/path` (the file's content, trailing newline
 * removed; `${ENV}` may appear in the path, e.g. systemd's
 * `${CREDENTIALS_DIRECTORY}`) or exactly `${NAME}` (an environment
 * variable).  A literal secret in the YAML is an error, so a config file
 * copied to a ticket or a repository never carries one.  Secrets are
 * printed as <secret>.
 *
 * The cross-key rules (a mechanism needs its credentials, TLS keys need a
 * TLS protocol, a certificate needs its key) are checked here with the
 * file's positions; whether this librdkafka supports a mechanism is
 * checked by the client layer, which knows the library.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "table_internal.h"

static const char *const proto_words[] = {"auto",           "plaintext", "ssl",
					  "sasl_plaintext", "sasl_ssl",  NULL};
static const char *const sasl_words[] = {"none",          "PLAIN",       "SCRAM-SHA-256",
					 "SCRAM-SHA-512", "OAUTHBEARER", NULL};

/* --- secrets: file: or ${ENV}, never literal ---------------------------- */

static bool sec_is_env_ref(const char *s, size_t len)
{
	return len > 3 && s[0] == '$' && s[1] == '{' && s[len - 1] == '}' &&
	       !memchr(s + 2, '}', len - 3);
}

static int sec_parse(struct sg_cfg_ctx *ctx, struct fy_node *v, const struct sg_cfg_pos *pos,
		     const char *path, const struct sg_cfg_key *k, void *field)
{
	struct sg_cfg_pos vpos = sg_cfg_value_pos(ctx, v, pos);
	char **out = field, *text, *val;
	const char *s;
	size_t len;

	(void)k;
	if (!fy_node_is_scalar(v)) {
		sg_cfg_error(ctx, &vpos, path, "expected a scalar (file:/path or ${NAME})");
		return SG_ECONFIG;
	}
	s = fy_node_get_scalar(v, &len);
	if (!(len > 5 && !strncmp(s, "file:", 5)) && !sec_is_env_ref(s, len)) {
		sg_cfg_error(ctx, &vpos, path,
			     "a secret is never written in the configuration: give file:/path "
			     "(a file readable only by the gateway) or ${NAME} (an environment "
			     "variable)");
		return SG_ECONFIG;
	}
	text = strndup(s, len);
	if (!text)
		abort();
	val = sg_cfg_expand(ctx, &vpos, path, text);
	free(text);
	if (!val || !(val = sg_cfg_secret(ctx, &vpos, path, val)))
		return SG_ECONFIG;
	if (!*val) {
		sg_cfg_error(ctx, &vpos, path, "the secret is empty");
		free(val);
		return SG_ECONFIG;
	}
	free(*out);
	*out = val;
	return SG_OK;
}

static void sec_free(const struct sg_cfg_key *k, void *field)
{
	char **s = field;

	(void)k;
	if (*s)
		memset(*s, 0, strlen(*s)); /* not left in freed memory */
	free(*s);
	*s = NULL;
}

static void sec_dump(const struct sg_cfg_key *k, const void *field, int indent, FILE *fp)
{
	(void)k;
	(void)indent;
	fprintf(fp, " %s\n", *(char *const *)field ? "<secret>" : "~");
}

static const struct sg_cfg_custom sec_ref = {
    .type_name = "secret (file: or ${ENV})",
    .size = sizeof(char *),
    .parse = sec_parse,
    .free = sec_free,
    .dump = sec_dump,
};

/* --- the rules between keys ---------------------------------------------- */

static bool sec_tls_files(const struct sg_kafka_security *s)
{
	return s->ca_file || s->certificate || s->key;
}

static int sec_check_sasl(struct sg_cfg_ctx *ctx, const struct sg_kafka_security *s,
			  const struct sg_cfg_pos *pos, const char *path)
{
	const char *mech = sasl_words[s->sasl_mechanism];
	bool userpass =
	    s->sasl_mechanism != SG_KSASL_NONE && s->sasl_mechanism != SG_KSASL_OAUTHBEARER;
	int rc = SG_OK;

	if (userpass && (!s->username || !s->password)) {
		sg_cfg_error(ctx, pos, path, "sasl_mechanism %s needs username and password", mech);
		rc = SG_ECONFIG;
	}
	if (!userpass && (s->username || s->password)) {
		sg_cfg_error(ctx, pos, path,
			     "username and password are for PLAIN and SCRAM (sasl_mechanism is %s)",
			     mech);
		rc = SG_ECONFIG;
	}
	if (s->sasl_mechanism == SG_KSASL_OAUTHBEARER &&
	    (!s->oauth_token_endpoint || !s->oauth_client_id || !s->oauth_client_secret)) {
		sg_cfg_error(ctx, pos, path,
			     "sasl_mechanism OAUTHBEARER needs oauth_token_endpoint, "
			     "oauth_client_id and oauth_client_secret (OIDC client credentials)");
		rc = SG_ECONFIG;
	}
	if (s->sasl_mechanism != SG_KSASL_OAUTHBEARER &&
	    (s->oauth_token_endpoint || s->oauth_client_id || s->oauth_client_secret ||
	     s->oauth_scope)) {
		sg_cfg_error(ctx, pos, path, "oauth_* keys need sasl_mechanism OAUTHBEARER");
		rc = SG_ECONFIG;
	}
	return rc;
}

static int sec_check_proto(struct sg_cfg_ctx *ctx, const struct sg_kafka_security *s,
			   const struct sg_cfg_pos *pos, const char *path)
{
	bool sasl = s->protocol == SG_KPROTO_SASL_PLAINTEXT || s->protocol == SG_KPROTO_SASL_SSL;
	bool tls = s->protocol == SG_KPROTO_SSL || s->protocol == SG_KPROTO_SASL_SSL;
	int rc = SG_OK;

	if (s->protocol == SG_KPROTO_AUTO)
		return SG_OK;
	if (sasl && s->sasl_mechanism == SG_KSASL_NONE) {
		sg_cfg_error(ctx, pos, path, "protocol %s needs a sasl_mechanism",
			     proto_words[s->protocol]);
		rc = SG_ECONFIG;
	}
	if (!sasl && s->sasl_mechanism != SG_KSASL_NONE) {
		sg_cfg_error(ctx, pos, path,
			     "sasl_mechanism %s needs protocol sasl_ssl (or sasl_plaintext)",
			     sasl_words[s->sasl_mechanism]);
		rc = SG_ECONFIG;
	}
	if (!tls && sec_tls_files(s)) {
		sg_cfg_error(
		    ctx, pos, path,
		    "ca_file, certificate and key are for TLS, which protocol %s does not use",
		    proto_words[s->protocol]);
		rc = SG_ECONFIG;
	}
	return rc;
}

static int sec_check(struct sg_cfg_ctx *ctx, void *obj, const struct sg_cfg_pos *pos,
		     const char *path)
{
	struct sg_kafka_security *s = obj;
	int rc = SG_OK;

	if (sec_check_sasl(ctx, s, pos, path) != SG_OK)
		rc = SG_ECONFIG;
	if (sec_check_proto(ctx, s, pos, path) != SG_OK)
		rc = SG_ECONFIG;
	if (!s->certificate != !s->key) {
		sg_cfg_error(ctx, pos, path,
			     "certificate and key go together (a client certificate and its "
			     "private key)");
		rc = SG_ECONFIG;
	}
	if (s->key_password && !s->key) {
		sg_cfg_error(ctx, pos, path, "key_password without a key");
		rc = SG_ECONFIG;
	}
	return rc;
}

static const struct sg_cfg_key sec_keys[] = {
    SG_KEY_ENUM("protocol", struct sg_kafka_security, protocol, "auto", proto_words,
		"How clients reach the brokers. `auto`: `sasl_ssl` when `sasl_mechanism` is set, "
		"`ssl` when `ca_file` or `certificate` is, otherwise librdkafka's default "
		"(plaintext, or `kafka.properties.security.protocol`). `sasl_plaintext` sends "
		"credentials without TLS: only on a trusted network."),
    SG_KEY_ENUM("sasl_mechanism", struct sg_kafka_security, sasl_mechanism, "none", sasl_words,
		"SASL mechanism: `SCRAM-SHA-512` or `SCRAM-SHA-256` (a password the broker "
		"stores salted), `PLAIN` (the password itself, as managed platforms use it over "
		"TLS), `OAUTHBEARER` (OIDC client credentials; needs a librdkafka built with "
		"libcurl, which Debian 12's is not: `check` says so)."),
    SG_KEY_STR("username", struct sg_kafka_security, username, NULL,
	       "SASL user name (PLAIN, SCRAM); may be `${ENV}`."),
    SG_KEY_CUSTOM("password", struct sg_kafka_security, password, &sec_ref,
		  "SASL password: `file:/path` or `${NAME}` only, never written here."),
    SG_KEY_STR("ca_file", struct sg_kafka_security, ca_file, NULL,
	       "PEM file of the CA certificate(s) that signed the brokers' certificates (unset: "
	       "the system's CA store, right for managed platforms)."),
    SG_KEY_STR("certificate", struct sg_kafka_security, certificate, NULL,
	       "PEM file of the client certificate, for brokers that require client "
	       "authentication (mTLS)."),
    SG_KEY_STR("key", struct sg_kafka_security, key, NULL,
	       "PEM file of the client certificate's private key (mode 0600)."),
    SG_KEY_CUSTOM("key_password", struct sg_kafka_security, key_password, &sec_ref,
		  "Passphrase of an encrypted `key`: `file:/path` or `${NAME}` only."),
    SG_KEY_BOOL("verify_hostname", struct sg_kafka_security, verify_hostname, "true",
		"Check that the broker's certificate names the host connected to. Turn off only "
		"for test brokers whose certificates name no host."),
    SG_KEY_STR("oauth_token_endpoint", struct sg_kafka_security, oauth_token_endpoint, NULL,
	       "OAUTHBEARER: the OIDC token endpoint URL."),
    SG_KEY_STR("oauth_client_id", struct sg_kafka_security, oauth_client_id, NULL,
	       "OAUTHBEARER: the OIDC client id."),
    SG_KEY_CUSTOM("oauth_client_secret", struct sg_kafka_security, oauth_client_secret, &sec_ref,
		  "OAUTHBEARER: the OIDC client secret: `file:/path` or `${NAME}` only."),
    SG_KEY_STR("oauth_scope", struct sg_kafka_security, oauth_scope, NULL,
	       "OAUTHBEARER: the scope to request (optional)."),
};

const struct sg_cfg_table sg_kafka_security_table = SG_CFG_TABLE(
    "kafka.security",
    "TLS and SASL for every Kafka client of the gateway: the producer, the transactional "
    "producer, the checkpoint reader, the actuators' consumer, the live view, and `sensorgate "
    "sink -c`. See docs/security.md. `kafka.properties` stays the escape hatch for anything "
    "else; a librdkafka property set both here and there is an error.",
    struct sg_kafka_security, sec_keys, sec_check);

const char *sg_kafka_proto_name(int protocol)
{
	return protocol >= 0 && protocol <= SG_KPROTO_SASL_SSL ? proto_words[protocol] : "?";
}

const char *sg_kafka_sasl_name(int mechanism)
{
	return mechanism >= 0 && mechanism <= SG_KSASL_OAUTHBEARER ? sasl_words[mechanism] : "?";
}
