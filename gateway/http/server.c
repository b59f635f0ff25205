/*
 * server.c - the HTTP endpoint on libmicrohttpd: its internal polling
 * thread (one thread, poll or epoll as the library picks), a connection
 * limit, a per-IP limit and an idle timeout, so a flood of scrapes or a
 * client that holds a connection open costs one bounded thread and
 * nothing else.  Requests other than GET/HEAD are answered 405; bodies
 * are refused.
 */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "gateway/base/log.h"
#include "gateway/base/mem.h"

struct sg_http {
	struct MHD_Daemon *d;
	struct sg_http_opts o;
	struct sg_http_response resp; /* reused: one thread serves all */
	int port;
};

__attribute__((format(printf, 2, 0))) static void http_log(void *arg, const char *fmt, va_list ap)
{
	char line[512];

	(void)arg;
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	sg_debug("http", "%s", line);
}

static enum MHD_Result http_reply(struct MHD_Connection *conn, int status, const char *ctype,
				  const void *body, size_t len, bool head)
{
	struct MHD_Response *r;
	enum MHD_Result rc;

	r = MHD_create_response_from_buffer(head ? 0 : len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	if (ctype)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	rc = MHD_queue_response(conn, (unsigned)status, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result http_access(void *cls, struct MHD_Connection *conn, const char *url,
				   const char *method, const char *version, const char *upload_data,
				   size_t *upload_size, void **con_cls)
{
	static int first_call;
	struct sg_http *h = cls;
	struct sg_http_request req;
	bool head = !strcmp(method, MHD_HTTP_METHOD_HEAD);
	const char *accept;

	(void)version;
	(void)upload_data;
	/* The first call sees only the headers; answer on the second. */
	if (!*con_cls) {
		*con_cls = &first_call;
		return MHD_YES;
	}
	if (*upload_size) {
		*upload_size = 0; /* a body we do not want: discard it */
		return MHD_YES;
	}
	if (!head && strcmp(method, MHD_HTTP_METHOD_GET)) {
		static const char msg[] = "only GET and HEAD\n";
		return http_reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain; charset=utf-8",
				  msg, sizeof(msg) - 1, false);
	}
	accept = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
	req =
	    (struct sg_http_request){.method = method, .path = url, .accept = accept ? accept : ""};
	sg_buf_reset(&h->resp.body);
	h->resp.status = 404;
	h->resp.content_type = "text/plain; charset=utf-8";
	h->o.handler(h->o.arg, &req, &h->resp);
	if (h->resp.body.oom)
		return http_reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain",
				  "out of memory\n", 14, head);
	return http_reply(conn, h->resp.status, h->resp.content_type, h->resp.body.p,
			  h->resp.body.len, head);
}

/* Parse address:port into a sockaddr. */
static int http_addr(const char *address, int port, struct sockaddr_storage *ss, int *flags)
{
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, address, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		*flags = 0;
		return SG_OK;
	}
	if (inet_pton(AF_INET6, address, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		*flags = MHD_USE_IPv6;
		return SG_OK;
	}
	return SG_EINVAL;
}

int sg_http_start(const struct sg_http_opts *o, struct sg_http **out, struct sg_errbuf *eb)
{
	struct sg_http *h;
	struct sockaddr_storage ss;
	const union MHD_DaemonInfo *di;
	int fam_flags;

	if (http_addr(o->address, o->port, &ss, &fam_flags) != SG_OK)
		return sg_errf(eb, SG_EINVAL,
			       "http.address '%s' is not a numeric IPv4 or IPv6 address",
			       o->address);
	h = sg_xcalloc(1, sizeof(*h));
	h->o = *o;
	sg_buf_init(&h->resp.body);
	errno = 0;
	h->d = MHD_start_daemon(
	    MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG | (unsigned)fam_flags,
	    (uint16_t)o->port, NULL, NULL, http_access, h, MHD_OPTION_SOCK_ADDR,
	    (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT, o->max_connections,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT, o->max_connections, MHD_OPTION_CONNECTION_TIMEOUT,
	    o->timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32768,
	    MHD_OPTION_EXTERNAL_LOGGER, http_log, NULL, MHD_OPTION_END);
	if (!h->d) {
		int e = errno;
		sg_buf_free(&h->resp.body);
		free(h);
		return sg_errf(eb, SG_EIO, "http: cannot listen on %s port %d: %s", o->address,
			       o->port, e ? strerror(e) : "libmicrohttpd refused to start");
	}
	di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
	h->port = di ? di->port : o->port;
	*out = h;
	return SG_OK;
}

int sg_http_port(const struct sg_http *h)
{
	return h->port;
}

void sg_http_stop(struct sg_http *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->d);
	sg_buf_free(&h->resp.body);
	free(h);
}
