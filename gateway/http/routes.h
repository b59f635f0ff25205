/*
 * routes.h - what the gateway's HTTP endpoint answers:
 *   GET /metrics  Prometheus text (OpenMetrics when the Accept header asks)
 *   GET /health   liveness: 200 or 503 with a JSON body saying why
 *   GET /ready    readiness: 200 or 503 with a JSON body saying why
 *   GET /         a short index
 * The probes' findings come from callbacks (the gateway object builds
 * them from its parts), so this file knows neither threads nor Kafka.
 */
#ifndef SG_HTTP_ROUTES_H
#define SG_HTTP_ROUTES_H

#include <stdbool.h>

#include "gateway/base/buf.h"
#include "server.h"

struct sg_http_probes {
	/* Append a JSON object to json; return true when healthy / ready.
	 * Called on the HTTP thread: must only read atomics and snapshots. */
	bool (*health)(void *arg, struct sg_buf *json);
	bool (*ready)(void *arg, struct sg_buf *json);
	void *arg;
};

/* An sg_http_handler_fn; arg is a struct sg_http_probes *. */
void sg_http_routes(void *arg, const struct sg_http_request *req, struct sg_http_response *resp);

#endif
