/*
 * err.h - the one error enum of sensorgate.
 *
 * Every function that can fail returns SG_OK (0) or a negative enum sg_err.
 * sg_strerror() turns a code into a short, stable English phrase.  Details
 * (which file, which key, which device) travel in the log line or in a
 * struct sg_errbuf filled by the callee, never in the code itself.
 */
#ifndef SG_ERR_H
#define SG_ERR_H

#include <stddef.h>

enum sg_err {
	SG_OK = 0,
	SG_ERR = -1,        /* generic failure, details in errbuf/log */
	SG_ENOMEM = -2,     /* allocation failed */
	SG_EINVAL = -3,     /* invalid argument or input */
	SG_ECONFIG = -4,    /* configuration error */
	SG_EIO = -5,        /* read/write/fsync error */
	SG_ENOSPC = -6,     /* disk full or spool byte limit with drop_newest */
	SG_ECORRUPT = -7,   /* checksum or framing error */
	SG_ESTOPPING = -8,  /* the process is shutting down */
	SG_ETIMEDOUT = -9,  /* a bounded wait expired */
	SG_EDROPPED = -10,  /* the event was dropped by the full-spool policy */
	SG_EKAFKA = -11,    /* librdkafka reported an error */
	SG_EDRIVER = -12,   /* a driver or device failed */
	SG_ENOTFOUND = -13, /* no such file, key, driver or record */
	SG_EAGAIN = -14,    /* try again later (would block) */
};

/* A caller-owned buffer for a one-line error message. */
struct sg_errbuf {
	char msg[512];
};

const char *sg_strerror(int err);

/* printf into eb (if non-NULL); returns err so callers can `return
 * sg_errf(eb, SG_EINVAL, "...")`. */
int sg_errf(struct sg_errbuf *eb, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
