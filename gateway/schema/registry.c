/*
 * registry.c - the Schema Registry client (registry.h): one libcurl easy
 * handle per client, JSON in and out with jansson, and the one place that
 * turns an HTTP answer into a reason and a sentence.
 */
#include "registry.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/base/buf.h"
#include "gateway/base/mem.h"

/* An answer larger than this is not the registry's. */
#define REG_MAX_BODY (4 * 1024 * 1024)
#define REG_CT       "application/vnd.schemaregistry.v1+json"

struct sg_registry {
	const struct sg_registry_conf *rc;
	CURL *curl;
	struct curl_slist *hdrs;
	char base[1024]; /* url without the trailing slash */
	struct sg_buf body;
	char err[CURL_ERROR_SIZE];
};

/* --- classes and sentences ----------------------------------------------- */

const char *sg_registry_reason_name(enum sg_reg_reason why)
{
	static const char *const names[] = {
	    "ok", "unreachable", "auth", "incompatible", "not_registered", "invalid", "other"};
	return (unsigned)why < sizeof(names) / sizeof(names[0]) ? names[why] : "other";
}

enum sg_reg_reason sg_registry_classify(long http, long error_code)
{
	if (http >= 200 && http < 300)
		return SG_REG_OK;
	if (http == 0 || http >= 500 || http == 408 || http == 429)
		return SG_REG_UNREACHABLE;
	if (http == 401 || http == 403)
		return SG_REG_AUTH;
	if (http == 409)
		return SG_REG_INCOMPATIBLE;
	if (http == 404 &&
	    (error_code == 0 || error_code == 40401 || error_code == 40402 || error_code == 40403))
		return SG_REG_NOT_REGISTERED;
	if (http == 422 || http == 400)
		return SG_REG_INVALID;
	return SG_REG_OTHER;
}

int sg_registry_reason_err(enum sg_reg_reason why)
{
	switch (why) {
	case SG_REG_OK: return SG_OK;
	case SG_REG_UNREACHABLE: return SG_EAGAIN;
	case SG_REG_NOT_REGISTERED: return SG_ENOTFOUND;
	default: return SG_ECONFIG;
	}
}

/* What to do about a refusal, after the registry's own words. */
static const char *reg_advice(enum sg_reg_reason why, bool lookup)
{
	switch (why) {
	case SG_REG_UNREACHABLE: return "events wait in the spool; retrying";
	case SG_REG_AUTH: return "check schema_registry.username and password";
	case SG_REG_INCOMPATIBLE:
		return "the subject's compatibility level (GET /config/SUBJECT) refuses this "
		       "schema; docs/schemas.md says how to evolve it";
	case SG_REG_NOT_REGISTERED:
		return lookup ? "auto_register is off: register the schema under this subject "
				"first (docs/schemas.md)"
			      : "no such schema id";
	case SG_REG_INVALID: return "the registry refuses the schema as invalid";
	default: return "see the registry's log";
	}
}

/* --- the client ---------------------------------------------------------- */

static size_t reg_write(char *p, size_t size, size_t n, void *arg)
{
	struct sg_registry *reg = arg;

	if (reg->body.len + size * n > REG_MAX_BODY)
		return 0; /* curl: write error */
	sg_buf_add(&reg->body, p, size * n);
	return reg->body.oom ? 0 : size * n;
}

static int reg_setup(struct sg_registry *reg)
{
	const struct sg_registry_conf *rc = reg->rc;
	CURL *c = reg->curl;
	CURLcode e = CURLE_OK;

#define SET(opt, v)                                                                                \
	do {                                                                                       \
		if (e == CURLE_OK)                                                                 \
			e = curl_easy_setopt(c, opt, v);                                           \
	} while (0)
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_TIMEOUT_MS, (long)rc->timeout_ms);
	SET(CURLOPT_CONNECTTIMEOUT_MS, (long)rc->timeout_ms);
	SET(CURLOPT_ERRORBUFFER, reg->err);
	SET(CURLOPT_WRITEFUNCTION, reg_write);
	SET(CURLOPT_WRITEDATA, reg);
	SET(CURLOPT_HTTPHEADER, reg->hdrs);
	SET(CURLOPT_USERAGENT, "sensorgate");
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	if (rc->ca_file)
		SET(CURLOPT_CAINFO, rc->ca_file);
	if (rc->username) {
		SET(CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		SET(CURLOPT_USERNAME, rc->username);
		SET(CURLOPT_PASSWORD, rc->password);
	}
#undef SET
	return e == CURLE_OK ? SG_OK : (int)e;
}

int sg_registry_new(const struct sg_registry_conf *rc, struct sg_registry **out,
		    struct sg_errbuf *eb)
{
	struct sg_registry *reg;
	size_t n = rc->url ? strlen(rc->url) : 0;
	int e;

	if (!n || n >= sizeof(reg->base))
		return sg_errf(eb, SG_ECONFIG, "schema_registry.url is missing or too long");
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return sg_errf(eb, SG_ENOMEM, "libcurl cannot be initialised");
	reg = sg_xcalloc(1, sizeof(*reg));
	reg->rc = rc;
	while (n > 1 && rc->url[n - 1] == '/')
		n--;
	snprintf(reg->base, sizeof(reg->base), "%.*s", (int)n, rc->url);
	sg_buf_init(&reg->body);
	reg->hdrs = curl_slist_append(NULL, "Content-Type: " REG_CT);
	reg->hdrs =
	    reg->hdrs ? curl_slist_append(reg->hdrs, "Accept: " REG_CT ", application/json") : NULL;
	reg->curl = curl_easy_init();
	if (!reg->curl || !reg->hdrs) {
		sg_registry_free(reg);
		return sg_errf(eb, SG_ENOMEM, "libcurl: out of memory");
	}
	if ((e = reg_setup(reg)) != SG_OK) {
		sg_registry_free(reg);
		return sg_errf(eb, SG_ECONFIG, "libcurl refuses an option: %s",
			       curl_easy_strerror((CURLcode)e));
	}
	*out = reg;
	return SG_OK;
}

void sg_registry_free(struct sg_registry *reg)
{
	if (!reg)
		return;
	if (reg->curl)
		curl_easy_cleanup(reg->curl);
	curl_slist_free_all(reg->hdrs);
	sg_buf_free(&reg->body);
	free(reg);
	curl_global_cleanup();
}

/* One request: path under the base URL, a POST body or NULL for GET.
 * Returns the HTTP status, 0 when there was no answer (reg->err says
 * why); the answer is in reg->body. */
static long reg_call(struct sg_registry *reg, const char *path, const char *post)
{
	char url[2048];
	long status = 0;

	snprintf(url, sizeof(url), "%s%s", reg->base, path);
	sg_buf_reset(&reg->body);
	reg->err[0] = '\0';
	curl_easy_setopt(reg->curl, CURLOPT_URL, url);
	if (post) {
		curl_easy_setopt(reg->curl, CURLOPT_POSTFIELDS, post);
	} else {
		curl_easy_setopt(reg->curl, CURLOPT_HTTPGET, 1L);
	}
	CURLcode e = curl_easy_perform(reg->curl);
	if (e != CURLE_OK) {
		if (!reg->err[0])
			snprintf(reg->err, sizeof(reg->err), "%s", curl_easy_strerror(e));
		return 0;
	}
	curl_easy_getinfo(reg->curl, CURLINFO_RESPONSE_CODE, &status);
	return status;
}

/* The answer as JSON, or NULL. */
static json_t *reg_json(struct sg_registry *reg)
{
	return reg->body.len ? json_loadb(reg->body.p, reg->body.len, 0, NULL) : NULL;
}

/* Classify a finished call and describe it in eb. */
static enum sg_reg_reason reg_fail(struct sg_registry *reg, long http, const char *what,
				   bool lookup, struct sg_errbuf *eb)
{
	json_t *j = http ? reg_json(reg) : NULL;
	const char *msg = j ? json_string_value(json_object_get(j, "message")) : NULL;
	long code = j ? (long)json_integer_value(json_object_get(j, "error_code")) : 0;
	enum sg_reg_reason why = http ? sg_registry_classify(http, code) : SG_REG_UNREACHABLE;

	if (why == SG_REG_OK) /* a 2xx without the field we need */
		why = SG_REG_INVALID;
	if (!http)
		sg_errf(eb, SG_EAGAIN, "schema registry %s: %s: unreachable: %s; %s", reg->base,
			what, reg->err, reg_advice(why, lookup));
	else
		sg_errf(eb, sg_registry_reason_err(why),
			"schema registry %s: %s: HTTP %ld%s%.0ld%s%.300s; %s", reg->base, what,
			http, code ? ", error " : "", code, msg ? ": " : "", msg ? msg : "",
			reg_advice(why, lookup));
	json_decref(j);
	return why;
}

/* POST {"schema": schema} to path; the "id" of the answer. */
static int reg_post_schema(struct sg_registry *reg, const char *path, const char *schema,
			   const char *what, bool lookup, uint32_t *id, enum sg_reg_reason *why,
			   struct sg_errbuf *eb)
{
	json_t *req = json_pack("{s:s}", "schema", schema), *ans = NULL;
	char *text = req ? json_dumps(req, JSON_COMPACT) : NULL;
	long http;
	json_int_t v = -1;

	json_decref(req);
	if (!text) {
		*why = SG_REG_OTHER;
		return sg_errf(eb, SG_ENOMEM, "schema registry: out of memory");
	}
	http = reg_call(reg, path, text);
	free(text);
	if (http >= 200 && http < 300 && (ans = reg_json(reg)) &&
	    json_is_integer(json_object_get(ans, "id")))
		v = json_integer_value(json_object_get(ans, "id"));
	json_decref(ans);
	if (v >= 0 && v <= UINT32_MAX) {
		*id = (uint32_t)v;
		*why = SG_REG_OK;
		return SG_OK;
	}
	*why = reg_fail(reg, http, what, lookup, eb);
	return sg_registry_reason_err(*why);
}

static int reg_subject_path(struct sg_registry *reg, const char *subject, const char *suffix,
			    char *path, size_t n)
{
	char *esc = curl_easy_escape(reg->curl, subject, 0);

	if (!esc)
		return SG_ENOMEM;
	snprintf(path, n, "/subjects/%s%s", esc, suffix);
	curl_free(esc);
	return SG_OK;
}

int sg_registry_register(struct sg_registry *reg, const char *subject, const char *schema,
			 uint32_t *id, enum sg_reg_reason *why, struct sg_errbuf *eb)
{
	char path[1200], what[400];

	*why = SG_REG_OTHER;
	if (reg_subject_path(reg, subject, "/versions", path, sizeof(path)) != SG_OK)
		return sg_errf(eb, SG_ENOMEM, "schema registry: out of memory");
	snprintf(what, sizeof(what), "registering the schema under subject '%s'", subject);
	return reg_post_schema(reg, path, schema, what, false, id, why, eb);
}

int sg_registry_lookup(struct sg_registry *reg, const char *subject, const char *schema,
		       uint32_t *id, enum sg_reg_reason *why, struct sg_errbuf *eb)
{
	char path[1200], what[400];

	*why = SG_REG_OTHER;
	if (reg_subject_path(reg, subject, "", path, sizeof(path)) != SG_OK)
		return sg_errf(eb, SG_ENOMEM, "schema registry: out of memory");
	snprintf(what, sizeof(what), "looking up the schema under subject '%s'", subject);
	return reg_post_schema(reg, path, schema, what, true, id, why, eb);
}

int sg_registry_schema(struct sg_registry *reg, uint32_t id, char **schema, enum sg_reg_reason *why,
		       struct sg_errbuf *eb)
{
	char path[64], what[64];
	long http;
	json_t *ans = NULL;
	const char *s = NULL;

	snprintf(path, sizeof(path), "/schemas/ids/%" PRIu32, id);
	snprintf(what, sizeof(what), "fetching schema id %" PRIu32, id);
	http = reg_call(reg, path, NULL);
	if (http >= 200 && http < 300 && (ans = reg_json(reg)))
		s = json_string_value(json_object_get(ans, "schema"));
	if (s) {
		*schema = sg_strdup(s);
		json_decref(ans);
		*why = SG_REG_OK;
		return SG_OK;
	}
	json_decref(ans);
	*why = reg_fail(reg, http, what, false, eb);
	return sg_registry_reason_err(*why);
}
