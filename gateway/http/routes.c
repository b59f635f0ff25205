/*
 * routes.c - the endpoint's paths (see routes.h).
 */
#include "routes.h"

#include <string.h>

#include "gateway/metrics/prometheus.h"

#define JSON_TYPE "application/json"

void sg_http_routes(void *arg, const struct sg_http_request *req, struct sg_http_response *resp)
{
	const struct sg_http_probes *p = arg;

	if (!strcmp(req->path, "/metrics")) {
		bool om = sg_prom_wants_openmetrics(req->accept);
		sg_prom_render(&resp->body, om);
		resp->status = 200;
		resp->content_type = om ? SG_OPENMETRICS_CONTENT_TYPE : SG_PROM_CONTENT_TYPE;
	} else if (!strcmp(req->path, "/health") || !strcmp(req->path, "/healthz")) {
		resp->status = p->health(p->arg, &resp->body) ? 200 : 503;
		resp->content_type = JSON_TYPE;
	} else if (!strcmp(req->path, "/ready") || !strcmp(req->path, "/readyz")) {
		resp->status = p->ready(p->arg, &resp->body) ? 200 : 503;
		resp->content_type = JSON_TYPE;
	} else if (!strcmp(req->path, "/")) {
		sg_buf_adds(&resp->body, "sensorgate: /metrics /health /ready\n");
		resp->status = 200;
	} else {
		sg_buf_adds(&resp->body, "not found: try /metrics, /health or /ready\n");
		resp->status = 404;
	}
}
