/*
 * security.h - `kafka.security` as librdkafka properties: what the client
 * layer (client.c) applies to every client it builds, before the user's
 * kafka.properties, and what `check` validates (security_check.h).
 *
 * The mapping: protocol -> security.protocol (auto: sasl_ssl with a
 * mechanism, ssl with a CA or certificate, else nothing); sasl_mechanism
 * -> sasl.mechanisms, username/password -> sasl.username/sasl.password;
 * ca_file, certificate, key, key_password -> ssl.ca.location,
 * ssl.certificate.location, ssl.key.location, ssl.key.password;
 * verify_hostname -> ssl.endpoint.identification.algorithm (https|none)
 * whenever TLS is on; OAUTHBEARER -> sasl.oauthbearer.method=oidc with
 * client id, secret, token endpoint and scope.
 *
 * Ownership: values point into the section (or are string literals) and
 * live as long as it.  Pure except sg_kafka_security_supported(), which
 * asks librdkafka what this build has.  Any thread.
 */
#ifndef SG_KAFKA_SECURITY_H
#define SG_KAFKA_SECURITY_H

#include <stdbool.h>
#include <stddef.h>

#include "gateway/config/conf.h"

/* At most this many properties come out of one section. */
#define SG_KSEC_MAX_PROPS 16

struct sg_ksec_prop {
	const char *key;  /* the librdkafka property */
	const char *val;  /* borrowed */
	const char *name; /* our key: "protocol", "password", ... */
};

/* The effective protocol (auto resolved; SG_KPROTO_AUTO when the section
 * sets nothing and librdkafka's default applies). */
int sg_kafka_security_protocol(const struct sg_kafka_security *s);
/* True when TLS is on with the section's settings. */
bool sg_kafka_security_tls(const struct sg_kafka_security *s);

/* Fill out[] with the section's properties; returns how many. */
size_t sg_kafka_security_props(const struct sg_kafka_security *s, struct sg_ksec_prop *out,
			       size_t max);

/* Does this librdkafka build support what the section asks for (TLS, the
 * mechanism, OIDC)?  True, or false with one sentence in why naming the
 * missing feature and what this build has. */
bool sg_kafka_security_supported(const struct sg_kafka_security *s, char *why, size_t n);

/* A known problem of this librdkafka with what the section asks for, or
 * NULL: before 2.6.1 its SCRAM is refused by Apache Kafka 4.x brokers
 * (librdkafka#4895).  A sentence for a warning. */
const char *sg_kafka_security_caveat(const struct sg_kafka_security *s);

/* The librdkafka property the user's key is (sasl.mechanism is an alias
 * of sasl.mechanisms). */
const char *sg_kafka_prop_canonical(const char *key);

#endif
