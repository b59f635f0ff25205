/*
 * registry.h - a client of a Confluent-compatible Schema Registry's REST
 * API (Confluent Schema Registry, Apicurio's /apis/ccompat/v7, Karapace,
 * Redpanda), with libcurl for HTTP(S) and jansson for JSON.  Three calls:
 *
 *   register  POST /subjects/S/versions {"schema": ...} -> {"id": N}
 *             (the same id again when S has the schema already; a new
 *             version when the schema is new and passes S's compatibility
 *             check; HTTP 409 when it does not)
 *   lookup    POST /subjects/S {"schema": ...} -> {"id": N, ...}
 *             (404 when S has no version with this schema)
 *   schema    GET /schemas/ids/N -> {"schema": ...}
 *
 * Every answer is classified (enum sg_reg_reason) and described in one
 * line that says what to do about it.  Basic auth and the CA file come
 * from struct sg_registry_conf; redirects are not followed (credentials
 * stay with the configured host); only http and https are spoken.
 *
 * Ownership: the client borrows rc, which must outlive it.  Threads: one
 * thread at a time per client (one libcurl handle, kept alive between
 * requests); sg_registry_new() and _free() on the main thread (they
 * initialise libcurl).  Every request blocks for at most
 * schema_registry.timeout.
 */
#ifndef SG_SCHEMA_REGISTRY_H
#define SG_SCHEMA_REGISTRY_H

#include <stdint.h>

#include "gateway/base/err.h"
#include "gateway/config/conf.h"

enum sg_reg_reason {
	SG_REG_OK,
	SG_REG_UNREACHABLE,    /* no answer, or 5xx/408/429: try again later */
	SG_REG_AUTH,           /* 401/403: the credentials */
	SG_REG_INCOMPATIBLE,   /* 409: the subject's compatibility check refused */
	SG_REG_NOT_REGISTERED, /* 404 on lookup: subject or schema not there */
	SG_REG_INVALID,        /* 422, or an answer that is not the API's */
	SG_REG_OTHER,          /* any other status */
};
/* "unreachable", "auth", ... (the `reason` label of the errors counter). */
const char *sg_registry_reason_name(enum sg_reg_reason why);
/* The class of an HTTP answer (status; the body's error_code or 0). */
enum sg_reg_reason sg_registry_classify(long http, long error_code);
/* The sg_err of a class: SG_OK, SG_EAGAIN (unreachable), SG_ENOTFOUND
 * (not registered) or SG_ECONFIG (refused: auth, incompatible, ...). */
int sg_registry_reason_err(enum sg_reg_reason why);

struct sg_registry;

/* SG_OK, or SG_ENOMEM / SG_ECONFIG (libcurl refused an option) with eb. */
int sg_registry_new(const struct sg_registry_conf *rc, struct sg_registry **out,
		    struct sg_errbuf *eb);
void sg_registry_free(struct sg_registry *reg);

/*
 * Register schema (Avro schema JSON text) under subject, or only look it
 * up: *id on SG_OK.  Otherwise sg_registry_reason_err(*why), with one line
 * in eb naming the registry, the subject, the HTTP status and the
 * registry's message, and saying what to check.
 */
int sg_registry_register(struct sg_registry *reg, const char *subject, const char *schema,
			 uint32_t *id, enum sg_reg_reason *why, struct sg_errbuf *eb);
int sg_registry_lookup(struct sg_registry *reg, const char *subject, const char *schema,
		       uint32_t *id, enum sg_reg_reason *why, struct sg_errbuf *eb);
/* The schema text of id (caller frees *schema); errors as above
 * (SG_ENOTFOUND: no such id). */
int sg_registry_schema(struct sg_registry *reg, uint32_t id, char **schema, enum sg_reg_reason *why,
		       struct sg_errbuf *eb);

#endif
