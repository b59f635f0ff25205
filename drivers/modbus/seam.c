/*
 * seam.c - libmodbus behind struct mb_io: connect, set timeouts, read one
 * block, flush; plus the errno classification shared with the fakes.
 * Nothing here decides policy (retries, quality): that is poll.c.
 */
#include "seam.h"

#include <errno.h>
#include <modbus.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *const mb_errclass_names[] = {"none", "timeout", "exception", "crc", "malformed", "io"};

struct mb_link {
	modbus_t *mb;
};

enum mb_errclass mb_classify(int err, int *exc, int *lost)
{
	*exc = 0;
	*lost = 0;
	if (err == ETIMEDOUT)
		return MB_E_TIMEOUT;
	if (err > MODBUS_ENOBASE && err <= EMBXGTAR) {
		*exc = err - MODBUS_ENOBASE;
		return MB_E_EXCEPTION;
	}
	if (err == EMBBADCRC)
		return MB_E_CRC;
	if (err == EMBBADDATA || err == EMBMDATA || err == EMBBADSLAVE || err == EMBBADEXC ||
	    err == EMBUNKEXC)
		return MB_E_MALFORMED;
	if (err == ECONNRESET || err == EPIPE || err == EBADF || err == ENOTCONN ||
	    err == ECONNREFUSED || err == EIO || err == ENXIO || err == ENODEV)
		*lost = 1;
	return MB_E_IO;
}

const char *mb_exception_name(int code)
{
	static const char *const names[] = {"",
					    "illegal function",
					    "illegal data address",
					    "illegal data value",
					    "server device failure",
					    "acknowledge",
					    "server device busy",
					    "negative acknowledge",
					    "memory parity error",
					    "",
					    "gateway path unavailable",
					    "gateway target failed to respond"};

	if (code > 0 && code < (int)(sizeof(names) / sizeof(names[0])))
		return names[code];
	return "unknown exception";
}

static void set_timeout(modbus_t *mb, int64_t ms, int byte)
{
	uint32_t s = (uint32_t)(ms / 1000), us = (uint32_t)(ms % 1000) * 1000;

	if (byte)
		modbus_set_byte_timeout(mb, s, us);
	else
		modbus_set_response_timeout(mb, s, us);
}

struct mb_link *mb_link_open(const struct mb_link_conf *c, char *err, size_t n)
{
	struct mb_link *l = calloc(1, sizeof(*l));
	char port[16];

	if (!l) {
		snprintf(err, n, "out of memory");
		return NULL;
	}
	snprintf(port, sizeof(port), "%d", c->port);
	l->mb = c->rtu ? modbus_new_rtu(c->device, c->baud, c->parity, c->data_bits, c->stop_bits)
		       : modbus_new_tcp_pi(c->host, port);
	if (!l->mb) {
		snprintf(err, n, "cannot create the context: %s", modbus_strerror(errno));
		goto err;
	}
	modbus_set_error_recovery(l->mb, MODBUS_ERROR_RECOVERY_NONE);
	set_timeout(l->mb, c->response_timeout_ms, 0);
	set_timeout(l->mb, c->byte_timeout_ms, 1);
	if (modbus_connect(l->mb) != 0) {
		snprintf(err, n, "cannot connect to %s%s%s: %s", c->rtu ? c->device : c->host,
			 c->rtu ? "" : ":", c->rtu ? "" : port, modbus_strerror(errno));
		goto err;
	}
	if (c->rtu && c->rs485 && modbus_rtu_set_serial_mode(l->mb, MODBUS_RTU_RS485) != 0) {
		snprintf(err, n, "cannot switch %s to RS-485 mode: %s", c->device,
			 modbus_strerror(errno));
		goto err;
	}
	return l;
err:
	mb_link_close(l);
	return NULL;
}

void mb_link_close(struct mb_link *l)
{
	if (!l)
		return;
	if (l->mb) {
		modbus_close(l->mb);
		modbus_free(l->mb);
	}
	free(l);
}

static int link_read(void *ctx, int unit, enum mb_area area, int addr, int count, uint16_t *regs,
		     uint8_t *bits)
{
	struct mb_link *l = ctx;

	if (modbus_set_slave(l->mb, unit) != 0)
		return -1;
	switch (area) {
	case MB_A_COIL: return modbus_read_bits(l->mb, addr, count, bits);
	case MB_A_DISCRETE: return modbus_read_input_bits(l->mb, addr, count, bits);
	case MB_A_INPUT: return modbus_read_input_registers(l->mb, addr, count, regs);
	case MB_A_HOLDING: return modbus_read_registers(l->mb, addr, count, regs);
	}
	errno = EINVAL;
	return -1;
}

static int link_write(void *ctx, int unit, enum mb_area area, int addr, int count,
		      const uint16_t *regs, const uint8_t *bits)
{
	struct mb_link *l = ctx;
	int rc;

	if (modbus_set_slave(l->mb, unit) != 0)
		return -1;
	if (area == MB_A_COIL)
		rc = count == 1 ? modbus_write_bit(l->mb, addr, bits[0])
				: modbus_write_bits(l->mb, addr, count, bits);
	else if (area == MB_A_HOLDING)
		rc = count == 1 ? modbus_write_register(l->mb, addr, regs[0])
				: modbus_write_registers(l->mb, addr, count, regs);
	else
		return errno = EINVAL, -1;
	return rc < 0 ? -1 : count;
}

static void link_flush(void *ctx)
{
	struct mb_link *l = ctx;

	modbus_flush(l->mb);
}

static void link_drain(void *ctx, int64_t wait_ms)
{
	struct mb_link *l = ctx;
	struct pollfd p = {.fd = modbus_get_socket(l->mb), .events = POLLIN};

	/* A TCP answer with a stale transaction id means the reply to this
	 * request is still on its way: let it arrive, then drop both, so the
	 * line is in step again instead of every later request reading the
	 * previous one's answer. */
	if (p.fd >= 0 && poll(&p, 1, (int)wait_ms) > 0)
		usleep(2000); /* the rest of the frame */
	modbus_flush(l->mb);
}

struct mb_io mb_link_io(struct mb_link *l)
{
	return (struct mb_io){.ctx = l,
			      .read = link_read,
			      .flush = link_flush,
			      .drain = link_drain,
			      .write = link_write};
}
