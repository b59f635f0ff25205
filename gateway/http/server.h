/*
 * server.h - the gateway's HTTP endpoint (libevent's evhttp): one
 * thread, a bounded number of connections, a timeout for idle or slow
 * clients, GET and HEAD only.  What a path returns is decided by a handler
 * function that knows nothing of HTTP's plumbing (gateway/http/routes.c),
 * so routes are tested without a socket.
 *
 * The data path never waits for this thread: handlers only read atomic
 * counters and snapshots.
 */
#ifndef SG_HTTP_SERVER_H
#define SG_HTTP_SERVER_H

#include <stdint.h>

#include "gateway/base/buf.h"
#include "gateway/base/err.h"

struct sg_http_request {
	const char *method; /* "GET" or "HEAD" */
	const char *path;   /* without the query string */
	const char *accept; /* the Accept header, or "" */
};

struct sg_http_response {
	int status;               /* 200, 404, 503 ... */
	const char *content_type; /* static string */
	struct sg_buf body;       /* owned by the server, reset per request */
};

/* Fill resp for req.  Runs on the HTTP thread; must not block. */
typedef void (*sg_http_handler_fn)(void *arg, const struct sg_http_request *req,
				   struct sg_http_response *resp);

struct sg_http_opts {
	const char *address;      /* numeric IPv4 or IPv6 address to bind */
	int port;                 /* 0: any free port (tests); see sg_http_port() */
	unsigned max_connections; /* open at once; more wait in the listen queue */
	unsigned timeout_s;       /* idle connection timeout */
	sg_http_handler_fn handler;
	void *arg;
};

struct sg_http;

/* Bind and start the thread.  SG_EIO with eb naming the address when the
 * port is in use or the address cannot be bound; SG_EINVAL for an
 * address that does not parse. */
int sg_http_start(const struct sg_http_opts *o, struct sg_http **out, struct sg_errbuf *eb);
/* The bound port (useful with port 0). */
int sg_http_port(const struct sg_http *h);
/* Connections open now (tests). */
unsigned sg_http_open_connections(const struct sg_http *h);
/* Stop the thread and close every connection.  NULL is a no-op. */
void sg_http_stop(struct sg_http *h);

#endif
