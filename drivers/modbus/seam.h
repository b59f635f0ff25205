/*
 * seam.h - the thin seam between the Modbus driver and libmodbus.
 *
 * The poll engine (poll.c) talks only to struct mb_io: read one block,
 * flush after a garbled answer.  seam.c fills it with libmodbus calls;
 * the unit tests fill it with a scripted fake (exceptions, timeouts,
 * malformed answers, dead slaves) without a socket.
 *
 * A read returns the number of items read, or -1 with errno set as
 * libmodbus sets it: ETIMEDOUT, EMBX* (an exception answer, code =
 * errno - MODBUS_ENOBASE), EMBBADCRC / EMBBADDATA / EMBMDATA / EMBBADSLAVE
 * (garbled), ECONNRESET / EPIPE / EBADF / EIO (the connection is gone).
 */
#ifndef SG_MB_SEAM_H
#define SG_MB_SEAM_H

#include <stdint.h>

#include "plan.h"

struct mb_io {
	void *ctx;
	/* Read `count` items at `addr` from `unit`: registers into regs,
	 * bits (one byte each, 0 or 1) into bits. */
	int (*read)(void *ctx, int unit, enum mb_area area, int addr, int count, uint16_t *regs,
		    uint8_t *bits);
	/* Discard whatever is pending on the line (after a timeout, so a
	 * late reply is not taken for the next one). */
	void (*flush)(void *ctx);
	/* After a garbled or mismatched answer: wait up to wait_ms for more
	 * to arrive (the real answer behind a late one), then flush.  NULL =
	 * flush only. */
	void (*drain)(void *ctx, int64_t wait_ms);
	/* Write `count` coils (bits) or holding registers (regs) at addr:
	 * the count written, or -1 with errno as for read. */
	int (*write)(void *ctx, int unit, enum mb_area area, int addr, int count,
		     const uint16_t *regs, const uint8_t *bits);
};

/* Error classes, as counted in errors{class=...}. */
enum mb_errclass {
	MB_E_NONE,
	MB_E_TIMEOUT,   /* no answer within the response timeout */
	MB_E_EXCEPTION, /* the device answered with an exception */
	MB_E_CRC,       /* RTU checksum mismatch */
	MB_E_MALFORMED, /* answer of the wrong length, slave or function */
	MB_E_IO,        /* the connection or the serial port failed */
};
extern const char *const mb_errclass_names[];

/* Classify errno after a failed read; *exc gets the exception code (or 0);
 * *lost is set when the connection is gone and must be reopened. */
enum mb_errclass mb_classify(int err, int *exc, int *lost);
/* "illegal data address" etc. for an exception code. */
const char *mb_exception_name(int code);

/* The real seam over libmodbus (seam.c).  ------------------------------ */

struct mb_link_conf {
	int rtu; /* 0 = TCP */
	const char *host;
	int port;
	const char *device;
	int baud;
	char parity; /* 'N', 'E', 'O' */
	int data_bits, stop_bits;
	int rs485;
	int64_t response_timeout_ms, byte_timeout_ms;
};

struct mb_link;
/* Create and connect.  NULL on failure with a message in err (size n). */
struct mb_link *mb_link_open(const struct mb_link_conf *c, char *err, size_t n);
void mb_link_close(struct mb_link *l);
/* An mb_io that reads through the link. */
struct mb_io mb_link_io(struct mb_link *l);

#endif
