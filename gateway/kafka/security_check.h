/*
 * security_check.h - what `sensorgate check` can tell about the Kafka
 * security settings without a broker: for kafka.security and for the
 * ssl.* file properties of kafka.properties, that the CA file, the client
 * certificate and its key exist and are readable, parse as PEM, that the
 * key is the certificate's (and decrypts with key_password), that no
 * certificate has expired or is not yet valid; a warning for one that
 * expires within SG_CERT_WARN_DAYS, for a key file other users can read,
 * for PLAIN over a connection without TLS, and for SCRAM with a
 * librdkafka that Kafka 4.x brokers refuse (sg_kafka_security_caveat).  Whether this librdkafka
 * supports the mechanism is the client layer's check (client.h), which
 * `check` runs too.
 *
 * Uses OpenSSL's libcrypto (the library librdkafka uses for TLS).
 * Threads: any; it only reads files.
 */
#ifndef SG_KAFKA_SECURITY_CHECK_H
#define SG_KAFKA_SECURITY_CHECK_H

#include <stdio.h>

#include "gateway/base/err.h"
#include "gateway/config/conf.h"

#define SG_CERT_WARN_DAYS 30

/*
 * Check conf's Kafka TLS files.  Errors are lines "KEY: PATH: what" in eb
 * (KEY like kafka.security.certificate); warnings are printed to warn
 * (may be NULL) as "FILE: warning: KEY: ...", file naming the config.
 * SG_OK (perhaps with warnings) or SG_ECONFIG.
 */
int sg_kafka_security_check(const struct sg_conf *conf, const char *file, FILE *warn,
			    struct sg_errbuf *eb);

#endif
