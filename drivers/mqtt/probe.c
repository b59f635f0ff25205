/*
 * probe.c - a non-blocking TCP connect to the broker, polled by the core,
 * before libmosquitto's blocking connect.
 *
 * libmosquitto only sends MQTT 5 CONNECT properties from its blocking
 * connect, which to an unreachable host blocks the source thread for the
 * kernel's SYN timeout (about two minutes) and holds up a shutdown for as
 * long.  The probe tries each address of the host with a non-blocking
 * connect and a deadline of `connect_timeout`; only when one answers does
 * the driver call the real connect, which then completes at once.  Name
 * resolution (getaddrinfo) still blocks, for the resolver's own timeout.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mqtt.h"

void mq_probe_close(struct mq_probe *p)
{
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
	if (p->ai)
		freeaddrinfo(p->ai);
	p->ai = p->cur = NULL;
}

/* Start connecting to p->cur or the addresses after it. */
static int probe_next(struct mq_probe *p, int64_t now, int64_t timeout_ns)
{
	for (; p->cur; p->cur = p->cur->ai_next) {
		int fd =
		    socket(p->cur->ai_family, p->cur->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			   p->cur->ai_protocol);

		if (fd < 0) {
			p->err = errno;
			continue;
		}
		if (connect(fd, p->cur->ai_addr, p->cur->ai_addrlen) == 0) {
			close(fd);
			return SG_OK;
		}
		if (errno == EINPROGRESS) {
			p->fd = fd;
			p->deadline_ns = now + timeout_ns;
			return SG_EAGAIN;
		}
		p->err = errno;
		close(fd);
	}
	return SG_ERR;
}

int mq_probe_start(struct mq_probe *p, const char *host, int port, int64_t now, int64_t timeout_ns)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	char service[16];
	int rc;

	p->fd = -1;
	p->ai = p->cur = NULL;
	p->err = 0;
	p->eai = 0;
	snprintf(service, sizeof(service), "%d", port);
	if ((rc = getaddrinfo(host, service, &hints, &p->ai)) != 0) {
		p->eai = rc;
		p->ai = NULL;
		return SG_ERR;
	}
	p->cur = p->ai;
	rc = probe_next(p, now, timeout_ns);
	if (rc != SG_EAGAIN) {
		int err = p->err;
		mq_probe_close(p);
		p->err = err;
	}
	return rc;
}

int mq_probe_check(struct mq_probe *p, short revents, int64_t now, int64_t timeout_ns)
{
	int err = 0, rc;
	socklen_t len = sizeof(err);

	if (revents & (POLLOUT | POLLERR | POLLHUP)) {
		if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
			err = errno;
		if (!err) {
			mq_probe_close(p);
			return SG_OK;
		}
	} else if (now >= p->deadline_ns) {
		err = ETIMEDOUT;
	} else {
		return SG_EAGAIN;
	}
	p->err = err;
	close(p->fd);
	p->fd = -1;
	p->cur = p->cur->ai_next;
	rc = probe_next(p, now, timeout_ns);
	if (rc != SG_EAGAIN) {
		err = p->err;
		mq_probe_close(p);
		p->err = err;
	}
	return rc;
}

const char *mq_probe_strerror(const struct mq_probe *p)
{
	if (p->eai)
		return gai_strerror(p->eai);
	return p->err == ETIMEDOUT ? "connect timed out (connect_timeout)" : strerror(p->err);
}
