/*
 * err.c - error strings and the error-buffer helper.
 */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>

const char *sg_strerror(int err)
{
	switch (err) {
	case SG_OK: return "success";
	case SG_ERR: return "failure";
	case SG_ENOMEM: return "out of memory";
	case SG_EINVAL: return "invalid input";
	case SG_ECONFIG: return "configuration error";
	case SG_EIO: return "I/O error";
	case SG_ENOSPC: return "no space left";
	case SG_ECORRUPT: return "corrupt data";
	case SG_ESTOPPING: return "shutting down";
	case SG_ETIMEDOUT: return "timed out";
	case SG_EDROPPED: return "dropped (spool full)";
	case SG_EKAFKA: return "kafka error";
	case SG_EDRIVER: return "driver error";
	case SG_ENOTFOUND: return "not found";
	case SG_EAGAIN: return "try again";
	}
	return "unknown error";
}

int sg_errf(struct sg_errbuf *eb, int err, const char *fmt, ...)
{
	va_list ap;

	if (eb) {
		va_start(ap, fmt);
		vsnprintf(eb->msg, sizeof(eb->msg), fmt, ap);
		va_end(ap);
	}
	return err;
}
