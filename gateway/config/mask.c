/*
 * mask.c - what `check --print` masks in string maps (see mask.h).
 */
#include "mask.h"

#include <ctype.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

/* librdkafka's properties flagged _RK_SENSITIVE (its rdkafka_conf.c),
 * which it redacts itself, plus the OIDC client secret, which older
 * releases (Debian 12's 2.0.2) do not flag. */
static const char *const mask_known[] = {
    "sasl.username",
    "sasl.password",
    "sasl.oauthbearer.config",
    "sasl.oauthbearer.client.secret",
    "ssl.key.location",
    "ssl.key.password",
    "ssl.key.pem",
    "ssl_key",
    "ssl.ca.pem",
    "ssl.keystore.password",
};

/* Words that make a key, or a name in a value's name=value pairs, a
 * credential's (compared without case, anywhere in the name). */
static const char *const mask_words[] = {
    "password",   "passwd",  "passphrase", "secret",  "token",
    "credential", "private", "apikey",     "api_key", "api.key",
};

/* Endings of keys that name where a credential is, not the credential
 * (sasl.oauthbearer.token.endpoint.url): shown, unless librdkafka says
 * otherwise. */
static const char *const mask_places[] = {".url", ".location", ".method", ".endpoint"};

bool sg_mask_known_secret(const char *key)
{
	for (size_t i = 0; i < sizeof(mask_known) / sizeof(mask_known[0]); i++)
		if (!strcmp(mask_known[i], key))
			return true;
	return false;
}

static bool mask_credential_name(const char *s, size_t n)
{
	char name[128];

	if (n >= sizeof(name))
		n = sizeof(name) - 1;
	for (size_t i = 0; i < n; i++)
		name[i] = (char)tolower((unsigned char)s[i]);
	name[n] = '\0';
	for (size_t i = 0; i < sizeof(mask_words) / sizeof(mask_words[0]); i++)
		if (strstr(name, mask_words[i]))
			return true;
	return false;
}

/* `a=b c=d` (or comma, semicolon separated): true when a name before an
 * '=' is a credential's. */
static bool mask_pairs(const char *v)
{
	const char *p = v;

	while ((p = strchr(p, '='))) {
		const char *start = p;
		while (start > v && (isalnum((unsigned char)start[-1]) || start[-1] == '_' ||
				     start[-1] == '.' || start[-1] == '-'))
			start--;
		if (start < p && mask_credential_name(start, (size_t)(p - start)))
			return true;
		p++;
	}
	return false;
}

/* header.payload.signature, base64url, the header starting {"  (eyJ). */
static bool mask_jwt(const char *v)
{
	const char *p = strstr(v, "eyJ");
	int dots = 0;

	if (!p)
		return false;
	for (; *p && (isalnum((unsigned char)*p) || *p == '-' || *p == '_' || *p == '.'); p++)
		dots += *p == '.';
	return dots == 2;
}

static bool mask_key(const char *key)
{
	size_t n = strlen(key);

	for (size_t i = 0; i < sizeof(mask_places) / sizeof(mask_places[0]); i++) {
		size_t m = strlen(mask_places[i]);
		if (n >= m && !strcmp(key + n - m, mask_places[i]))
			return false;
	}
	return mask_credential_name(key, n);
}

bool sg_mask_value(const char *key, const char *val)
{
	if (sg_mask_known_secret(key) || mask_key(key))
		return true;
	if (!val)
		return false;
	return strstr(val, "PRIVATE KEY-----") || strcasestr(val, "bearer ") || mask_pairs(val) ||
	       mask_jwt(val);
}
