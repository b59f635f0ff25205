/*
 * security_check.c - the offline checks of the Kafka TLS files (see
 * security_check.h), with OpenSSL's PEM readers: the same files, read the
 * same way, as librdkafka will read them when a client starts, so a
 * problem shows at `check` instead of as a failing connection.
 */
#include "security_check.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "security.h"

/* The files to look at, wherever they were given. */
struct ksc_files {
	const char *ca, *cert, *key, *key_pass;
	char ca_key[64], cert_key[64], key_key[64]; /* how the findings name them */
};

struct ksc {
	const char *file;
	FILE *warn;
	struct sg_errbuf *eb;
	size_t len;
	int nerr;
};

static void ksc_error(struct ksc *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ksc_error(struct ksc *k, const char *fmt, ...)
{
	va_list ap;
	int n;

	k->nerr++;
	if (k->len + 2 >= sizeof(k->eb->msg))
		return;
	if (k->len)
		k->eb->msg[k->len++] = '\n';
	va_start(ap, fmt);
	n = vsnprintf(k->eb->msg + k->len, sizeof(k->eb->msg) - k->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		k->len = strnlen(k->eb->msg, sizeof(k->eb->msg) - 1);
}

static void ksc_warn(struct ksc *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ksc_warn(struct ksc *k, const char *fmt, ...)
{
	va_list ap;

	if (!k->warn)
		return;
	fprintf(k->warn, "%s: warning: ", k->file);
	va_start(ap, fmt);
	vfprintf(k->warn, fmt, ap);
	va_end(ap);
	fputc('\n', k->warn);
}

/* The last OpenSSL error as text (the queue is emptied). */
static const char *ksc_ssl_err(char *buf, size_t n)
{
	unsigned long e = ERR_get_error(), last = e;

	while (e) {
		last = e;
		e = ERR_get_error();
	}
	if (!last)
		return "not PEM";
	ERR_error_string_n(last, buf, n);
	return buf;
}

/* Readable regular file?  Reports and returns false if not. */
static bool ksc_readable(struct ksc *k, const char *key, const char *path)
{
	struct stat st;

	if (stat(path, &st) != 0) {
		ksc_error(k, "%s: %s: %s", key, path, strerror(errno));
		return false;
	}
	if (S_ISDIR(st.st_mode))
		return false; /* a CA directory (hashed): librdkafka reads it itself */
	if (access(path, R_OK) != 0) {
		ksc_error(k, "%s: %s: %s (the gateway's user must read it)", key, path,
			  strerror(errno));
		return false;
	}
	return true;
}

static void ksc_date(const ASN1_TIME *t, char *out, size_t n)
{
	struct tm tm;

	if (ASN1_TIME_to_tm(t, &tm) == 1)
		strftime(out, n, "%Y-%m-%d %H:%M UTC", &tm);
	else
		snprintf(out, n, "(unreadable date)");
}

/* Expired, not yet valid, or close to its end? */
static void ksc_validity(struct ksc *k, const char *key, const char *path, X509 *x)
{
	const ASN1_TIME *before = X509_get0_notBefore(x), *after = X509_get0_notAfter(x);
	char when[64], subj[256];
	int days = 0, secs = 0;

	X509_NAME_oneline(X509_get_subject_name(x), subj, sizeof(subj));
	if (X509_cmp_current_time(before) > 0) {
		ksc_date(before, when, sizeof(when));
		ksc_error(k, "%s: %s: certificate %s is not valid before %s", key, path, subj,
			  when);
	}
	ksc_date(after, when, sizeof(when));
	if (X509_cmp_current_time(after) < 0) {
		ksc_error(k, "%s: %s: certificate %s expired on %s", key, path, subj, when);
		return;
	}
	if (ASN1_TIME_diff(&days, &secs, NULL, after) == 1 && days < SG_CERT_WARN_DAYS)
		ksc_warn(k, "%s: %s: certificate %s expires in %d day(s), on %s", key, path, subj,
			 days, when);
}

static void ksc_ca(struct ksc *k, const char *key, const char *path)
{
	BIO *b;
	X509 *x;
	int n = 0;
	char err[256];

	if (!ksc_readable(k, key, path) || !(b = BIO_new_file(path, "r")))
		return;
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL))) {
		ksc_validity(k, key, path, x);
		X509_free(x);
		n++;
	}
	ERR_clear_error(); /* the end of the file reads as an error */
	BIO_free(b);
	if (!n)
		ksc_error(k, "%s: %s: no PEM certificate in it (%s)", key, path,
			  ksc_ssl_err(err, sizeof(err)));
}

static X509 *ksc_cert(struct ksc *k, const char *key, const char *path)
{
	BIO *b;
	X509 *x;
	char err[256];

	if (!ksc_readable(k, key, path) || !(b = BIO_new_file(path, "r")))
		return NULL;
	x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	BIO_free(b);
	if (!x) {
		ksc_error(k, "%s: %s: not a PEM certificate (%s)", key, path,
			  ksc_ssl_err(err, sizeof(err)));
		return NULL;
	}
	ksc_validity(k, key, path, x);
	return x;
}

/* OpenSSL's passphrase callback: the configured one, or none (never a
 * prompt on the terminal). */
static int ksc_pass_cb(char *buf, int size, int rwflag, void *u)
{
	const char *pass = u;
	size_t n = pass ? strlen(pass) : 0;

	(void)rwflag;
	if (!pass || n > (size_t)size)
		return -1;
	memcpy(buf, pass, n);
	return (int)n;
}

static bool ksc_encrypted(const char *path)
{
	char line[256];
	bool enc = false;
	FILE *fp = fopen(path, "r");

	while (fp && !enc && fgets(line, sizeof(line), fp))
		enc = strstr(line, "ENCRYPTED") != NULL;
	if (fp)
		fclose(fp);
	return enc;
}

static EVP_PKEY *ksc_key(struct ksc *k, const struct ksc_files *f)
{
	struct stat st;
	EVP_PKEY *pk;
	BIO *b;
	char err[256];

	if (!ksc_readable(k, f->key_key, f->key) || !(b = BIO_new_file(f->key, "r")))
		return NULL;
	if (stat(f->key, &st) == 0 && (st.st_mode & 077))
		ksc_warn(k, "%s: %s: mode %04o lets other users read the private key (chmod 600)",
			 f->key_key, f->key, (unsigned)(st.st_mode & 07777));
	pk = PEM_read_bio_PrivateKey(b, NULL, ksc_pass_cb, (void *)f->key_pass);
	BIO_free(b);
	if (pk)
		return pk;
	if (ksc_encrypted(f->key) && !f->key_pass)
		ksc_error(k, "%s: %s: the key is encrypted and no key_password is given",
			  f->key_key, f->key);
	else if (ksc_encrypted(f->key))
		ksc_error(k, "%s: %s: cannot decrypt the key (wrong key_password?): %s", f->key_key,
			  f->key, ksc_ssl_err(err, sizeof(err)));
	else
		ksc_error(k, "%s: %s: not a PEM private key (%s)", f->key_key, f->key,
			  ksc_ssl_err(err, sizeof(err)));
	ERR_clear_error();
	return NULL;
}

static void ksc_pair(struct ksc *k, const struct ksc_files *f)
{
	X509 *x = f->cert ? ksc_cert(k, f->cert_key, f->cert) : NULL;
	EVP_PKEY *pk = f->key ? ksc_key(k, f) : NULL;

	if (x && pk && X509_check_private_key(x, pk) != 1)
		ksc_error(k, "%s: %s: this key does not belong to the certificate %s", f->key_key,
			  f->key, f->cert);
	ERR_clear_error();
	X509_free(x);
	EVP_PKEY_free(pk);
}

static const char *ksc_prop(const struct sg_cfg_map *m, const char *key)
{
	for (size_t i = 0; i < m->n; i++)
		if (!strcmp(m->kv[i].key, key))
			return m->kv[i].val;
	return NULL;
}

/* One file: kafka.security's key sname if set, else property prop. */
static const char *ksc_pick(const char *sval, const char *sname, const struct sg_cfg_map *p,
			    const char *prop, char *name, size_t n)
{
	const char *v = sval ? sval : ksc_prop(p, prop);

	if (sval)
		snprintf(name, n, "kafka.security.%s", sname);
	else
		snprintf(name, n, "kafka.properties.%s", prop);
	return v;
}

static void ksc_gather(const struct sg_kafka_conf *kc, struct ksc_files *f)
{
	const struct sg_kafka_security *s = &kc->security;
	const struct sg_cfg_map *p = &kc->properties;

	memset(f, 0, sizeof(*f));
	f->ca = ksc_pick(s->ca_file, "ca_file", p, "ssl.ca.location", f->ca_key, sizeof(f->ca_key));
	f->cert = ksc_pick(s->certificate, "certificate", p, "ssl.certificate.location",
			   f->cert_key, sizeof(f->cert_key));
	f->key = ksc_pick(s->key, "key", p, "ssl.key.location", f->key_key, sizeof(f->key_key));
	f->key_pass = s->key_password ? s->key_password : ksc_prop(p, "ssl.key.password");
}

int sg_kafka_security_check(const struct sg_conf *conf, const char *file, FILE *warn,
			    struct sg_errbuf *eb)
{
	const struct sg_kafka_security *s = &conf->kafka.security;
	struct ksc k = {.file = file, .warn = warn, .eb = eb};
	struct ksc_files f;

	eb->msg[0] = '\0';
	ksc_gather(&conf->kafka, &f);
	if (f.ca && strcmp(f.ca, "probe"))
		ksc_ca(&k, f.ca_key, f.ca);
	ksc_pair(&k, &f);
	if (sg_kafka_security_caveat(s))
		ksc_warn(&k, "kafka.security.sasl_mechanism: %s", sg_kafka_security_caveat(s));
	if (s->sasl_mechanism == SG_KSASL_PLAIN && !sg_kafka_security_tls(s))
		ksc_warn(&k, "kafka.security: PLAIN sends the password itself; without TLS "
			     "(protocol sasl_ssl) anyone on the network can read it");
	return k.nerr ? SG_ECONFIG : SG_OK;
}
