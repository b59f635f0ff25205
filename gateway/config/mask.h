/*
 * mask.h - which values of a string map (`kafka.properties`, a driver's
 * pass-through options) `check --print` must not show.  A value is masked
 * when its key is one librdkafka itself treats as sensitive (it redacts
 * them in its own dumps: sasl.password, ssl.key.pem, ...), or the OIDC
 * client secret, or when the key or the value looks like a credential:
 * a key naming a password, secret, token, credential or private key, a
 * value holding `name=value` pairs with such a name (sasl.oauthbearer.config's
 * `clientSecret=...`), a PEM private key, or a JSON Web Token.  Erring on
 * the side of masking is the point: a masked path costs a look at the
 * file, a printed password costs a rotation.
 *
 * Pure functions; any thread.
 */
#ifndef SG_CONFIG_MASK_H
#define SG_CONFIG_MASK_H

#include <stdbool.h>

/* True when librdkafka marks property `key` sensitive (or it is the OIDC
 * client secret). */
bool sg_mask_known_secret(const char *key);
/* True when the value of key must not be printed. */
bool sg_mask_value(const char *key, const char *val);

#endif
