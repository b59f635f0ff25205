/*
 * server.c - the HTTP endpoint on libevent's evhttp: one thread of our
 * own runs an event base that serves every connection; an idle or slow
 * connection is closed after the timeout; at most max_connections are
 * open at once (at the limit the listener stops accepting, so further
 * clients wait in the kernel's listen queue until one closes), so a
 * flood of scrapes or a client that holds a connection open costs one
 * bounded thread and nothing else.  Requests other than GET/HEAD are
 * answered 405; request bodies are read (up to SG_HTTP_MAX_BODY) and
 * ignored, larger ones refused with 413.
 *
 * Why evhttp and not libmicrohttpd: Debian's libmicrohttpd is built
 * with GnuTLS, whose chain (p11-kit, nettle, hogweed, gmp, idn2,
 * unistring, tasn1) and initialisation cost about 2.5 MB of RSS in
 * every gateway for an endpoint that never speaks TLS; libevent needs
 * libc alone (docs/benchmarks.md, memory).
 *
 * Connections are counted through two public hooks: the bufferevent
 * callback (evhttp_set_bevcb) runs once for each accepted connection,
 * and the connection's close callback (evhttp_connection_set_closecb)
 * once when it is freed.  libevent 2.1 gives a server connection to us
 * only through its requests, so the close callback is set from an
 * event that runs right after the accept, in the same loop pass, before
 * the connection can have read anything: it finds the connection as
 * the bufferevent's callback argument (what evhttp passes its own read
 * callback) and checks it by asking that connection for its
 * bufferevent.  tests/unit/test_http.c holds the count to account.
 */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gateway/base/log.h"
#include "gateway/base/mem.h"

/* The largest request body read (and ignored) before the request is
 * answered; a larger one is refused with 413. */
#define SG_HTTP_MAX_BODY 1024
/* The largest request line and headers, together. */
#define SG_HTTP_MAX_HEADERS 32768
/* A listener that cannot accept (out of descriptors) rests this long. */
#define SG_HTTP_ACCEPT_PAUSE_S 1

struct sg_http {
	struct sg_http_opts o;
	struct event_base *base;
	struct evhttp *http;
	struct evconnlistener *lev;
	struct event *stop_ev;   /* the eventfd sg_http_stop() writes */
	struct event *adopt_ev;  /* finds the connections just accepted */
	struct event *resume_ev; /* re-enables a listener paused by an error */
	int stop_fd;
	pthread_t thread;
	bool running;
	unsigned open;      /* connections open now (atomic: read by tests) */
	unsigned unadopted; /* accepted, close callback not yet set */
	unsigned pending_cap;
	struct bufferevent **pending; /* [pending_cap]: the unadopted */
	bool paused;                  /* listener off (at the limit, or resting) */
	bool stopping;                /* evhttp_free() is closing everything */
	struct sg_http_response resp; /* reused: one thread serves all */
	int port;
};

static void http_log(int severity, const char *msg)
{
	if (severity >= EVENT_LOG_WARN)
		sg_warn("http", "libevent: %s", msg);
	else
		sg_debug("http", "libevent: %s", msg);
}

/* Accept again when below the limit (and not resting after an error). */
static void http_listen_update(struct sg_http *h)
{
	bool full = __atomic_load_n(&h->open, __ATOMIC_RELAXED) >= h->o.max_connections;

	if (full && !h->paused) {
		evconnlistener_disable(h->lev);
		h->paused = true;
	} else if (!full && h->paused && !evtimer_pending(h->resume_ev, NULL)) {
		evconnlistener_enable(h->lev);
		h->paused = false;
	}
}

static void http_closed(struct evhttp_connection *evcon, void *arg)
{
	struct sg_http *h = arg;

	(void)evcon;
	__atomic_fetch_sub(&h->open, 1, __ATOMIC_RELAXED);
	if (!h->stopping) /* the listener is gone by then */
		http_listen_update(h);
}

static struct bufferevent *http_new_bev(struct event_base *base, void *arg)
{
	struct sg_http *h = arg;
	struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);

	if (!bev)
		return NULL; /* evhttp tries its own, which fails the same way */
	if (h->unadopted == h->pending_cap) {
		/* More accepts in one pass than the limit: the listener was
		 * not yet off.  Out of memory here: this one is not counted. */
		struct bufferevent **p = realloc(h->pending, 2 * h->pending_cap * sizeof(*p));
		if (!p)
			return bev;
		h->pending = p;
		h->pending_cap *= 2;
	}
	h->pending[h->unadopted++] = bev;
	__atomic_fetch_add(&h->open, 1, __ATOMIC_RELAXED);
	event_active(h->adopt_ev, EV_READ, 0);
	http_listen_update(h);
	return bev;
}

/* Runs in the loop pass of the accepts: give each new connection our
 * close callback (the header comment says how it is found). */
static void http_adopt(evutil_socket_t fd, short what, void *arg)
{
	struct sg_http *h = arg;

	(void)fd;
	(void)what;
	for (unsigned i = 0; i < h->unadopted; i++) {
		struct bufferevent *bev = h->pending[i];
		void *cbarg = NULL;
		struct evhttp_connection *evcon;

		bufferevent_getcb(bev, NULL, NULL, NULL, &cbarg);
		evcon = cbarg;
		if (evcon && evhttp_connection_get_bufferevent(evcon) == bev) {
			evhttp_connection_set_closecb(evcon, http_closed, h);
		} else {
			/* Not what this libevent does: never count it. */
			sg_warn("http", "libevent did not make the connection as expected; "
					"it is not counted against http.max_connections");
			__atomic_fetch_sub(&h->open, 1, __ATOMIC_RELAXED);
		}
	}
	h->unadopted = 0;
	http_listen_update(h);
}

static void http_resume(evutil_socket_t fd, short what, void *arg)
{
	struct sg_http *h = arg;

	(void)fd;
	(void)what;
	h->paused = true; /* http_listen_update() decides */
	http_listen_update(h);
}

/* accept(2) failed for a reason other than a transient one (EMFILE,
 * ENFILE, ENOBUFS...): the listener would be ready again at once, so
 * rest it instead of spinning. */
static void http_accept_error(struct evconnlistener *lev, void *arg)
{
	struct sg_http *h = arg;
	struct timeval tv = {.tv_sec = SG_HTTP_ACCEPT_PAUSE_S};
	int e = EVUTIL_SOCKET_ERROR();

	sg_warn("http", "cannot accept a connection: %s; not accepting for %d s", strerror(e),
		SG_HTTP_ACCEPT_PAUSE_S);
	evconnlistener_disable(lev);
	h->paused = true;
	evtimer_add(h->resume_ev, &tv);
}

static void http_reply(struct evhttp_request *req, int status, const char *ctype, const void *body,
		       size_t len)
{
	struct evkeyvalq *hdr = evhttp_request_get_output_headers(req);
	struct evbuffer *out = evhttp_request_get_output_buffer(req);
	char clen[24];
	const char *reason = status == 200   ? "OK"
			     : status == 404 ? "Not Found"
			     : status == 405 ? "Method Not Allowed"
			     : status == 500 ? "Internal Server Error"
			     : status == 503 ? "Service Unavailable"
					     : NULL;

	if (ctype)
		evhttp_add_header(hdr, "Content-Type", ctype);
	evhttp_add_header(hdr, "Cache-Control", "no-store");
	if (status == 405)
		evhttp_add_header(hdr, "Allow", "GET, HEAD");
	/* HEAD: the headers GET would have, Content-Length included, and no
	 * body (evhttp 2.1 would send one). */
	snprintf(clen, sizeof(clen), "%zu", len);
	evhttp_add_header(hdr, "Content-Length", clen);
	if (evhttp_request_get_command(req) != EVHTTP_REQ_HEAD && len &&
	    evbuffer_add(out, body, len) != 0) {
		evhttp_send_error(req, 500, NULL);
		return;
	}
	evhttp_send_reply(req, status, reason, NULL);
}

static void http_request(struct evhttp_request *req, void *arg)
{
	struct sg_http *h = arg;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	const char *accept;
	struct sg_http_request r;

	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		static const char msg[] = "only GET and HEAD\n";
		http_reply(req, 405, "text/plain; charset=utf-8", msg, sizeof(msg) - 1);
		return;
	}
	accept = evhttp_find_header(evhttp_request_get_input_headers(req), "Accept");
	r = (struct sg_http_request){.method = cmd == EVHTTP_REQ_HEAD ? "HEAD" : "GET",
				     .path = path && *path ? path : "/",
				     .accept = accept ? accept : ""};
	sg_buf_reset(&h->resp.body);
	h->resp.status = 404;
	h->resp.content_type = "text/plain; charset=utf-8";
	h->o.handler(h->o.arg, &r, &h->resp);
	if (h->resp.body.oom) {
		http_reply(req, 500, "text/plain", "out of memory\n", 14);
		return;
	}
	http_reply(req, h->resp.status, h->resp.content_type, h->resp.body.p, h->resp.body.len);
}

static void http_stop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sg_http *h = arg;

	(void)fd;
	(void)what;
	event_base_loopbreak(h->base);
}

static void *http_main(void *arg)
{
	struct sg_http *h = arg;

	event_base_dispatch(h->base);
	return NULL;
}

/* A listening socket on address:port, non-blocking; -errno on failure. */
static int http_listen_socket(const char *address, int port, int backlog)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
	socklen_t len;
	int fd, one = 1, e;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, address, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		len = sizeof(*a4);
	} else if (inet_pton(AF_INET6, address, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		len = sizeof(*a6);
	} else {
		return -EINVAL;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, backlog) != 0) {
		e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

static void http_free(struct sg_http *h)
{
	h->stopping = true;
	if (h->http)
		evhttp_free(h->http); /* closes the listener and every connection */
	if (h->stop_ev)
		event_free(h->stop_ev);
	if (h->adopt_ev)
		event_free(h->adopt_ev);
	if (h->resume_ev)
		event_free(h->resume_ev);
	if (h->base)
		event_base_free(h->base);
	if (h->stop_fd >= 0)
		close(h->stop_fd);
	free(h->pending);
	sg_buf_free(&h->resp.body);
	free(h);
}

int sg_http_start(const struct sg_http_opts *o, struct sg_http **out, struct sg_errbuf *eb)
{
	struct sg_http *h;
	struct event_config *cfg;
	struct evhttp_bound_socket *bound;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int fd, e;

	fd = http_listen_socket(o->address, o->port, (int)o->max_connections);
	if (fd == -EINVAL)
		return sg_errf(eb, SG_EINVAL,
			       "http.address '%s' is not a numeric IPv4 or IPv6 address",
			       o->address);
	if (fd < 0)
		return sg_errf(eb, SG_EIO, "http: cannot listen on %s port %d: %s", o->address,
			       o->port, strerror(-fd));
	event_set_log_callback(http_log);
	h = sg_xcalloc(1, sizeof(*h));
	h->o = *o;
	h->stop_fd = -1;
	h->pending_cap = o->max_connections ? o->max_connections : 1;
	h->pending = sg_xcalloc(h->pending_cap, sizeof(*h->pending));
	sg_buf_init(&h->resp.body);
	/* One thread uses the base: no locks. */
	cfg = event_config_new();
	if (cfg) {
		event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
		h->base = event_base_new_with_config(cfg);
		event_config_free(cfg);
	}
	h->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!h->base || h->stop_fd < 0 || !(h->http = evhttp_new(h->base)))
		goto fail;
	h->stop_ev = event_new(h->base, h->stop_fd, EV_READ, http_stop_cb, h);
	h->adopt_ev = event_new(h->base, -1, 0, http_adopt, h);
	h->resume_ev = evtimer_new(h->base, http_resume, h);
	if (!h->stop_ev || !h->adopt_ev || !h->resume_ev || event_add(h->stop_ev, NULL) != 0)
		goto fail;
	evhttp_set_timeout(h->http, (int)o->timeout_s);
	evhttp_set_max_headers_size(h->http, SG_HTTP_MAX_HEADERS);
	evhttp_set_max_body_size(h->http, SG_HTTP_MAX_BODY);
	evhttp_set_bevcb(h->http, http_new_bev, h);
	evhttp_set_gencb(h->http, http_request, h);
	bound = evhttp_accept_socket_with_handle(h->http, fd);
	if (!bound)
		goto fail;
	fd = -1; /* evhttp owns it */
	h->lev = evhttp_bound_socket_get_listener(bound);
	evconnlistener_set_error_cb(h->lev, http_accept_error);
	if (getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&ss, &sl) == 0)
		h->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
							 : ((struct sockaddr_in *)&ss)->sin_port);
	else
		h->port = o->port;
	e = pthread_create(&h->thread, NULL, http_main, h);
	if (e == 0)
		pthread_setname_np(h->thread, "sg-http");
	if (e != 0) {
		errno = e;
		goto fail;
	}
	h->running = true;
	*out = h;
	return SG_OK;
fail:
	e = errno;
	if (fd >= 0)
		close(fd);
	http_free(h);
	return sg_errf(eb, SG_EIO, "http: cannot start on %s port %d: %s", o->address, o->port,
		       e ? strerror(e) : "libevent refused");
}

int sg_http_port(const struct sg_http *h)
{
	return h->port;
}

unsigned sg_http_open_connections(const struct sg_http *h)
{
	return __atomic_load_n(&h->open, __ATOMIC_RELAXED);
}

void sg_http_stop(struct sg_http *h)
{
	uint64_t one = 1;

	if (!h)
		return;
	if (h->running) {
		if (write(h->stop_fd, &one, sizeof(one)) != (ssize_t)sizeof(one))
			sg_warn("http", "cannot wake the HTTP thread: %s", strerror(errno));
		pthread_join(h->thread, NULL);
	}
	http_free(h);
}
