/*
 * modbus.c - the Modbus driver: one source instance is one bus (a TCP
 * connection or a serial line) with several devices (unit ids) polled in
 * turn from the source's own thread.
 *
 * This file holds the configuration tables and the glue to the core:
 * init turns the config into points and devices for the poll engine
 * (poll.c), start opens the link (seam.c), step runs the due requests and
 * returns SG_EIO when the link is lost so the core reconnects with
 * backoff, stop closes it.
 */
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/base/log.h"
#include "gateway/base/buf.h"
#include "gateway/base/clock.h"
#include "gateway/base/mem.h"
#include "drivers/driver.h"
#include "decode.h"
#include "plan.h"
#include "poll.h"
#include "seam.h"

static const char *const mb_transports[] = {"tcp", "rtu", NULL};
static const char *const mb_parities[] = {"N", "E", "O", NULL};
static const char *const mb_emits[] = {"every_poll", "on_change", NULL};

struct mb_point_conf {
	char *id;
	int area;
	int64_t address;
	int type;
	int order;
	int64_t bit;
	int64_t count;
	double scale, offset, deadband;
	char *unit;
	int emit;
	int64_t interval_ms;
};

struct mb_dev_conf {
	char *name;
	int64_t unit_id;
	int64_t interval_ms;
	struct sg_cfg_list points;
};

struct mb_conf {
	int transport;
	char *host;
	int64_t port;
	char *device;
	int64_t baud;
	int parity;
	int64_t data_bits, stop_bits;
	bool rs485;
	int64_t response_timeout_ms, byte_timeout_ms;
	int64_t retries, reconnect_after, max_gap, offline_probe_ms;
	int64_t interval_ms;
	bool bad_events;
	struct sg_cfg_list devices;
};

static int mb_point_check(struct sg_cfg_ctx *ctx, void *obj, const struct sg_cfg_pos *pos,
			  const char *path)
{
	struct mb_point_conf *pc = obj;
	int n;

	if (mb_area_is_bits(pc->area)) {
		if (pc->type == MB_T_U16) /* the default: a bit area has bools */
			pc->type = MB_T_BOOL;
		if (pc->type != MB_T_BOOL) {
			sg_cfg_error(ctx, pos, path, "a %s holds bits: type must be bool",
				     mb_area_names[pc->area]);
			return SG_ECONFIG;
		}
	}
	n = mb_area_is_bits(pc->area) ? 1 : mb_type_regs(pc->type, (int)pc->count);
	if (pc->address + n > 65536) {
		sg_cfg_error(ctx, pos, path, "address %lld + %d registers runs past 65535",
			     (long long)pc->address, n);
		return SG_ECONFIG;
	}
	if (pc->deadband < 0) {
		sg_cfg_error(ctx, pos, path, "deadband must not be negative");
		return SG_ECONFIG;
	}
	return SG_OK;
}

static const struct sg_cfg_key mb_point_keys[] = {
    SG_KEY_STR("id", struct mb_point_conf, id, NULL,
	       "Sensor id: the Kafka key of this point's events. Unique within the source.",
	       SG_REQUIRED),
    SG_KEY_ENUM("area", struct mb_point_conf, area, "holding_register", mb_area_names,
		"Modbus table: `coil` (FC 1), `discrete_input` (FC 2), `input_register` (FC 4), "
		"`holding_register` (FC 3)."),
    SG_KEY_INT("address", struct mb_point_conf, address, NULL, 0, 65535,
	       "Zero-based address on the wire (register 40001 in the 1-based \"Modicon\" notation "
	       "is holding_register 0).",
	       SG_REQUIRED),
    SG_KEY_ENUM(
	"type", struct mb_point_conf, type, "u16", mb_type_names,
	"Value type: u16/i16 (1 register), u32/i32/f32 (2), u64/i64/f64 (4), `bool` (register != "
	"0, or a coil/input), `bit` (bit `bit` of one register), `string` (`count` registers, 2 "
	"characters each). Coils and discrete inputs are always bool."),
    SG_KEY_ENUM("order", struct mb_point_conf, order, "ABCD", mb_order_names,
		"Byte order of the value, most significant byte first as the device stores it: "
		"`ABCD` big endian (Modbus default), `CDAB` words swapped, `BADC` bytes swapped "
		"within each word, `DCBA` little endian. See docs/modbus.md."),
    SG_KEY_INT("bit", struct mb_point_conf, bit, "0", 0, 15,
	       "For type `bit`: the bit number, 0 = least significant (after byte order)."),
    SG_KEY_INT("count", struct mb_point_conf, count, "1", 1, MB_STRING_MAX_REGS,
	       "For type `string`: number of registers (2 characters each)."),
    SG_KEY_DOUBLE_ANY("scale", struct mb_point_conf, scale, "1",
		      "Multiply the raw value (value = raw * scale + offset); any scale or offset "
		      "makes the value a double."),
    SG_KEY_DOUBLE_ANY("offset", struct mb_point_conf, offset, "0", "Added after scaling."),
    SG_KEY_STR("unit", struct mb_point_conf, unit, NULL,
	       "Unit of the scaled value (free text, e.g. `V`, `kWh`)."),
    SG_KEY_DOUBLE("deadband", struct mb_point_conf, deadband, "0", 0, 1e300,
		  "With `emit: on_change`: a new value is an event only when it differs from the "
		  "last emitted one by more than this (scaled units). 0 = any change."),
    SG_KEY_ENUM("emit", struct mb_point_conf, emit, "every_poll", mb_emits,
		"`every_poll`: one event per successful read; `on_change`: only when the value "
		"moves past the deadband or the quality changes."),
    SG_KEY_DURATION("interval", struct mb_point_conf, interval_ms, "0", 0, 86400000,
		    "Poll interval of this point; 0 = the device's."),
};
static const struct sg_cfg_table mb_point_table =
    SG_CFG_TABLE("points[]", "One value read from a device.", struct mb_point_conf, mb_point_keys,
		 mb_point_check);

static const struct sg_cfg_key mb_dev_keys[] = {
    SG_KEY_STR("name", struct mb_dev_conf, name, NULL, "Device name, used in log lines.",
	       SG_REQUIRED),
    SG_KEY_INT("unit_id", struct mb_dev_conf, unit_id, "1", 0, 255,
	       "Modbus unit (slave) id: 1-247 on a serial bus; TCP devices often ignore it (use 1 "
	       "or 255)."),
    SG_KEY_DURATION("interval", struct mb_dev_conf, interval_ms, "0", 0, 86400000,
		    "Poll interval of this device's points; 0 = the source's `interval`."),
    SG_KEY_LIST("points", struct mb_dev_conf, points, &mb_point_table, "The values to read.",
		SG_REQUIRED),
};
static const struct sg_cfg_table mb_dev_table = SG_CFG_TABLE(
    "devices[]", "One Modbus device (unit id) on the bus.", struct mb_dev_conf, mb_dev_keys, NULL);

static int mb_id_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A point id used twice on this bus, or NULL.  Sorted, not compared
 * pairwise: a bus of 400 devices with 100 points each took 7 s. */
static const char *mb_dup_id(const struct mb_conf *c)
{
	const struct mb_dev_conf *d = c->devices.items;
	const char **ids;
	const char *dup = NULL;
	size_t n = 0;

	for (size_t i = 0; i < c->devices.n; i++)
		n += d[i].points.n;
	ids = sg_xcalloc(n ? n : 1, sizeof(*ids));
	n = 0;
	for (size_t i = 0; i < c->devices.n; i++)
		for (size_t j = 0; j < d[i].points.n; j++) {
			const char *id = ((struct mb_point_conf *)d[i].points.items)[j].id;
			if (id)
				ids[n++] = id;
		}
	qsort(ids, n, sizeof(*ids), mb_id_cmp);
	for (size_t a = 1; a < n && !dup; a++)
		if (!strcmp(ids[a - 1], ids[a]))
			dup = ids[a];
	free(ids);
	return dup;
}

static int mb_check(struct sg_cfg_ctx *ctx, void *obj, const struct sg_cfg_pos *pos,
		    const char *path)
{
	struct mb_conf *c = obj;
	const struct mb_dev_conf *d = c->devices.items;
	const char *dup;

	if (c->transport == 1 && !c->device) {
		sg_cfg_error(ctx, pos, path,
			     "transport rtu needs `device` (a serial port such as /dev/ttyUSB0)");
		return SG_ECONFIG;
	}
	for (size_t i = 0; c->transport == 1 && i < c->devices.n; i++)
		if (d[i].unit_id < 1 || d[i].unit_id > 247) {
			sg_cfg_error(ctx, pos, path,
				     "device %s: unit_id %lld is not 1-247, as a serial bus needs",
				     d[i].name ? d[i].name : "?", (long long)d[i].unit_id);
			return SG_ECONFIG;
		}
	if ((dup = mb_dup_id(c))) {
		sg_cfg_error(ctx, pos, path,
			     "duplicate point id '%s' (ids are Kafka keys: one per value)", dup);
		return SG_ECONFIG;
	}
	return SG_OK;
}

static const struct sg_cfg_key mb_keys[] = {
    SG_KEY_ENUM(
	"transport", struct mb_conf, transport, "tcp", mb_transports,
	"`tcp` (Modbus TCP: `host`, `port`) or `rtu` (serial line: `device`, `baud`, ...)."),
    SG_KEY_STR("host", struct mb_conf, host, "127.0.0.1", "TCP: host name or address."),
    SG_KEY_INT("port", struct mb_conf, port, "502", 1, 65535, "TCP: port."),
    SG_KEY_STR("device", struct mb_conf, device, NULL, "RTU: serial device, e.g. `/dev/ttyUSB0`."),
    SG_KEY_INT("baud", struct mb_conf, baud, "9600", 50, 4000000, "RTU: bits per second."),
    SG_KEY_ENUM("parity", struct mb_conf, parity, "N", mb_parities,
		"RTU: `N` none, `E` even, `O` odd."),
    SG_KEY_INT("data_bits", struct mb_conf, data_bits, "8", 5, 8, "RTU: data bits."),
    SG_KEY_INT("stop_bits", struct mb_conf, stop_bits, "1", 1, 2, "RTU: stop bits."),
    SG_KEY_BOOL("rs485", struct mb_conf, rs485, "false",
		"RTU: switch the port to RS-485 mode (TIOCSRS485); leave false for USB adapters "
		"that handle direction themselves."),
    SG_KEY_DURATION("response_timeout", struct mb_conf, response_timeout_ms, "500ms", 10, 60000,
		    "How long to wait for the first byte of an answer. A dead device costs this "
		    "much per poll cycle."),
    SG_KEY_DURATION("byte_timeout", struct mb_conf, byte_timeout_ms, "100ms", 1, 10000,
		    "Longest silence inside one answer."),
    SG_KEY_INT("retries", struct mb_conf, retries, "1", 0, 10,
	       "Extra attempts after a timeout or a garbled answer, while the device is known to "
	       "answer (a device that stopped answering gets one probe per cycle)."),
    SG_KEY_INT("reconnect_after", struct mb_conf, reconnect_after, "3", 0, 1000,
	       "TCP: reconnect after this many timeouts in a row with no answer from any device (a "
	       "half-open connection); 0 = never. Ignored on RTU."),
    SG_KEY_INT(
	"max_gap", struct mb_conf, max_gap, "0", 0, 124,
	"Unused registers (or bits) that may be read to join two points into one request. A device "
	"that rejects a gap with ILLEGAL DATA ADDRESS gets its points read one by one."),
    SG_KEY_DURATION(
	"interval", struct mb_conf, interval_ms, "1s", 10, 86400000,
	"Default poll interval. Polls are drift-free: tick k is due at start + k * interval."),
    SG_KEY_DURATION(
	"offline_probe", struct mb_conf, offline_probe_ms, "0", 0, 3600000,
	"While a device does not answer, probe it at most this often; its points fail at once in "
	"between. 0 = at every poll. Raise it when polls are fast and `response_timeout` long, so "
	"a dead device does not take the bus time of the others."),
    SG_KEY_BOOL("bad_events", struct mb_conf, bad_events, "true",
		"When a read fails, emit an event with quality `bad`, no value and a reason "
		"(`timeout`, `exception 2 (illegal data address)`, ...) once per transition. "
		"Errors are counted either way."),
    SG_KEY_LIST("devices", struct mb_conf, devices, &mb_dev_table,
		"The devices on this bus, polled in turn.", SG_REQUIRED),
};
static const struct sg_cfg_table mb_table =
    SG_CFG_TABLE("modbus", "One Modbus bus.", struct mb_conf, mb_keys, mb_check);

struct mbd {
	struct sg_source *src;
	const struct mb_conf *c;
	struct mb_link_conf lc;
	/* The link is used by the source thread (polls) and by write() from
	 * any thread: mu serialises every request and guards link itself
	 * (closed and reopened on reconnects). */
	pthread_mutex_t mu;
	struct mb_link *link;
	struct mb_io lio; /* the link's own io, called under mu */
	struct mb_poller p;
	struct mb_stats pub; /* what the counters already show */
	struct sg_counter *m_requests, *m_retries, *m_skipped, *m_late, *m_isolated;
	struct sg_counter **m_up; /* per device: 1 answering, 0 not */
	/* per device: requests by result, exceptions by code (made when first
	 * seen), and what they already show */
	struct mbd_dev_metrics {
		struct sg_counter *result[MB_E_IO + 1];
		struct sg_counter *exc[MB_EXC_CODES];
		uint64_t shown[MB_E_IO + 1], exc_shown[MB_EXC_CODES];
	} * m_dev;
};

static int mbd_emit(void *arg, const struct sg_reading *rd)
{
	return sg_source_emit(arg, rd);
}

/* The events of one request in one spool append (one write, all or none). */
static int mbd_emit_batch(void *arg, const struct sg_reading *rd, size_t n)
{
	return sg_source_emit_batch(arg, rd, n);
}

static void mbd_error(void *arg, const char *cls)
{
	sg_source_error(arg, cls);
}

static bool mbd_stopping(void *arg)
{
	return sg_source_stopping(arg);
}

/* The poller's io: the link's, one request at a time under mu. */
static int mbd_read(void *ctx, int unit, enum mb_area area, int addr, int count, uint16_t *regs,
		    uint8_t *bits)
{
	struct mbd *m = ctx;
	int rc = -1;

	pthread_mutex_lock(&m->mu);
	if (m->link)
		rc = m->lio.read(m->lio.ctx, unit, area, addr, count, regs, bits);
	else
		errno = ENOTCONN;
	pthread_mutex_unlock(&m->mu);
	return rc;
}

static int mbd_write_io(void *ctx, int unit, enum mb_area area, int addr, int count,
			const uint16_t *regs, const uint8_t *bits)
{
	struct mbd *m = ctx;
	int rc = -1;

	pthread_mutex_lock(&m->mu);
	if (m->link)
		rc = m->lio.write(m->lio.ctx, unit, area, addr, count, regs, bits);
	else
		errno = ENOTCONN;
	pthread_mutex_unlock(&m->mu);
	return rc;
}

static void mbd_flush(void *ctx)
{
	struct mbd *m = ctx;

	pthread_mutex_lock(&m->mu);
	if (m->link)
		m->lio.flush(m->lio.ctx);
	pthread_mutex_unlock(&m->mu);
}

static void mbd_drain(void *ctx, int64_t wait_ms)
{
	struct mbd *m = ctx;

	pthread_mutex_lock(&m->mu);
	if (m->link)
		m->lio.drain(m->lio.ctx, wait_ms);
	pthread_mutex_unlock(&m->mu);
}

/* Points and devices for the poll engine, from the config. */
static void mbd_build(struct mbd *m)
{
	const struct mb_conf *c = m->c;
	const struct mb_dev_conf *dc = c->devices.items;
	size_t n = 0, k = 0;

	for (size_t i = 0; i < c->devices.n; i++)
		n += dc[i].points.n;
	m->p.dev = sg_xcalloc(c->devices.n ? c->devices.n : 1, sizeof(*m->p.dev));
	m->p.pt = sg_xcalloc(n ? n : 1, sizeof(*m->p.pt));
	m->p.ndev = c->devices.n;
	m->p.npt = n;
	for (size_t i = 0; i < c->devices.n; i++) {
		int64_t dint = dc[i].interval_ms ? dc[i].interval_ms : c->interval_ms;

		m->p.dev[i].name = dc[i].name;
		m->p.dev[i].unit_id = (int)dc[i].unit_id;
		for (size_t j = 0; j < dc[i].points.n; j++, k++) {
			const struct mb_point_conf *pc =
			    (struct mb_point_conf *)dc[i].points.items + j;
			struct mb_point *pt = &m->p.pt[k];

			pt->id = pc->id;
			pt->unit = pc->unit;
			pt->dev = (int)i;
			pt->area = (enum mb_area)pc->area;
			pt->addr = (int)pc->address;
			pt->type = (enum mb_type)pc->type;
			pt->order = (enum mb_order)pc->order;
			pt->bit = (int)pc->bit;
			pt->nregs =
			    mb_area_is_bits(pt->area) ? 1 : mb_type_regs(pt->type, (int)pc->count);
			pt->scale = pc->scale;
			pt->offset = pc->offset;
			pt->deadband = pc->deadband;
			pt->every_poll = pc->emit == 0;
			pt->interval_ns = (pc->interval_ms ? pc->interval_ms : dint) * SG_NS_PER_MS;
			pt->q = SG_Q_UNCERTAIN; /* nothing read yet */
		}
	}
}

/* Device i's counter of requests with result r, made on first use. */
static struct sg_counter *mbd_dev_result(struct mbd *m, size_t i, int r)
{
	struct mbd_dev_metrics *dm = &m->m_dev[i];

	if (!dm->result[r]) {
		char labels[200];

		snprintf(labels, sizeof(labels), "source=\"%s\",device=\"%s\",result=\"%s\"",
			 m->p.who, m->p.dev[i].name, r == MB_E_NONE ? "ok" : mb_errclass_names[r]);
		dm->result[r] = sg_metric("modbus_device_requests", labels, false);
	}
	return dm->result[r];
}

static int mbd_init(struct sg_source *src, const void *conf, void **state, struct sg_errbuf *eb)
{
	const struct mb_conf *c = conf;
	struct mbd *m = sg_xcalloc(1, sizeof(*m));
	int rc;

	m->src = src;
	m->c = c;
	m->lc = (struct mb_link_conf){.rtu = c->transport == 1,
				      .host = c->host,
				      .port = (int)c->port,
				      .device = c->device,
				      .baud = (int)c->baud,
				      .parity = mb_parities[c->parity][0],
				      .data_bits = (int)c->data_bits,
				      .stop_bits = (int)c->stop_bits,
				      .rs485 = c->rs485,
				      .response_timeout_ms = c->response_timeout_ms,
				      .byte_timeout_ms = c->byte_timeout_ms};
	mbd_build(m);
	m->p.who = sg_source_name(src);
	m->p.retries = (int)c->retries;
	m->p.max_gap = (int)c->max_gap;
	m->p.bad_events = c->bad_events;
	m->p.reconnect_after = c->transport == 0 ? (int)c->reconnect_after : 0;
	m->p.drain_ms = c->response_timeout_ms;
	m->p.offline_probe_ns = c->offline_probe_ms * SG_NS_PER_MS;
	pthread_mutex_init(&m->mu, NULL);
	m->p.io = (struct mb_io){.ctx = m,
				 .read = mbd_read,
				 .flush = mbd_flush,
				 .drain = mbd_drain,
				 .write = mbd_write_io};
	m->p.cb = (struct mb_poll_cb){.arg = src,
				      .emit = mbd_emit,
				      .emit_batch = mbd_emit_batch,
				      .error = mbd_error,
				      .stopping = mbd_stopping};
	rc = mb_poll_init(&m->p, eb);
	if (rc != SG_OK) {
		pthread_mutex_destroy(&m->mu);
		mb_poll_free(&m->p);
		free(m->p.pt);
		free(m->p.dev);
		free(m);
		return rc;
	}
	m->m_requests = sg_source_counter(src, "modbus_requests");
	m->m_retries = sg_source_counter(src, "modbus_retries");
	m->m_skipped = sg_source_counter(src, "modbus_skipped");
	m->m_late = sg_source_counter(src, "modbus_late_ticks");
	m->m_isolated = sg_source_counter(src, "modbus_isolated_blocks");
	m->m_up = sg_xcalloc(m->p.ndev ? m->p.ndev : 1, sizeof(*m->m_up));
	for (size_t i = 0; i < m->p.ndev; i++) {
		char labels[160];

		snprintf(labels, sizeof(labels), "source=\"%s\",device=\"%s\"", sg_source_name(src),
			 m->p.dev[i].name);
		m->m_up[i] = sg_metric("modbus_device_up", labels, true);
		sg_gauge_set(m->m_up[i], 1);
	}
	/* A device's "ok" requests are counted from the start; the failures
	 * only once one happens (like its exceptions): six series per device
	 * for 400 devices filled the metrics registry with zeros. */
	m->m_dev = sg_xcalloc(m->p.ndev ? m->p.ndev : 1, sizeof(*m->m_dev));
	for (size_t i = 0; i < m->p.ndev; i++)
		mbd_dev_result(m, i, MB_E_NONE);
	sg_info(m->p.who, "%zu points on %zu devices in %zu requests per cycle", m->p.npt,
		m->p.ndev, m->p.plan.n);
	*state = m;
	return SG_OK;
}

static int mbd_start(void *state, struct sg_errbuf *eb)
{
	struct mbd *m = state;
	char err[256];

	struct mb_link *l;

	m->p.cb.wall_off = sg_now_ns() - sg_now_mono_ns();
	l = mb_link_open(&m->lc, err, sizeof(err)); /* may block: not under mu */
	if (!l) {
		for (size_t i = 0; i < m->p.ndev; i++)
			sg_gauge_set(m->m_up[i], 0);
		mb_poll_all_bad(&m->p, "cannot connect");
		return sg_errf(eb, SG_EIO, "%s", err);
	}
	pthread_mutex_lock(&m->mu);
	m->link = l;
	m->lio = mb_link_io(l);
	pthread_mutex_unlock(&m->mu);
	mb_poll_reset(&m->p, sg_now_mono_ns());
	return SG_OK;
}

/* A device's requests by result and exceptions by code, as deltas. */
static void mbd_publish_dev(struct mbd *m, size_t i)
{
	const struct mb_device *d = &m->p.dev[i];
	struct mbd_dev_metrics *dm = &m->m_dev[i];

	for (int r = 0; r <= MB_E_IO; r++) {
		uint64_t v = __atomic_load_n(&d->results[r], __ATOMIC_RELAXED);
		if (v == dm->shown[r])
			continue;
		sg_counter_add(mbd_dev_result(m, i, r), v - dm->shown[r]);
		dm->shown[r] = v;
	}
	for (int c = 0; c < MB_EXC_CODES; c++) {
		uint64_t v = __atomic_load_n(&d->exceptions[c], __ATOMIC_RELAXED);
		if (v == dm->exc_shown[c])
			continue;
		if (!dm->exc[c]) {
			char labels[200];
			snprintf(labels, sizeof(labels), "source=\"%s\",device=\"%s\",code=\"%d\"",
				 m->p.who, d->name, c);
			dm->exc[c] = sg_metric("modbus_exceptions", labels, false);
		}
		sg_counter_add(dm->exc[c], v - dm->exc_shown[c]);
		dm->exc_shown[c] = v;
	}
}

static void mbd_publish(struct mbd *m)
{
	const struct mb_stats *s = &m->p.st;

	sg_counter_add(m->m_requests, s->requests - m->pub.requests);
	sg_counter_add(m->m_retries, s->retries - m->pub.retries);
	sg_counter_add(m->m_skipped, s->skipped - m->pub.skipped);
	sg_counter_add(m->m_late, s->late - m->pub.late);
	sg_counter_add(m->m_isolated, s->isolated - m->pub.isolated);
	for (size_t i = 0; i < m->p.ndev; i++) {
		sg_gauge_set(m->m_up[i], m->link && !m->p.dev[i].offline);
		mbd_publish_dev(m, i);
	}
	m->pub = *s;
}

static int mbd_step(void *state, struct sg_wait *w)
{
	struct mbd *m = state;
	int64_t next = 0;
	int rc;

	/* Event times are wall clock: follow clock steps (NTP) every step. */
	m->p.cb.wall_off = sg_now_ns() - sg_now_mono_ns();
	rc = mb_poll_step(&m->p, &next);

	mbd_publish(m);
	w->nfds = 0;
	w->deadline_ns = next;
	return rc;
}

static void mbd_stop(void *state)
{
	struct mbd *m = state;

	pthread_mutex_lock(&m->mu);
	mb_link_close(m->link);
	m->link = NULL;
	pthread_mutex_unlock(&m->mu);
	for (size_t i = 0; i < m->p.ndev; i++)
		sg_gauge_set(m->m_up[i], 0);
}

/* Actuation: set point `target` to v (any thread; waits for the request
 * on the bus, if any, to finish). */
static int mbd_write(void *state, const char *target, const struct sg_value *v,
		     struct sg_errbuf *eb)
{
	struct mbd *m = state;
	int rc = mb_poll_write(&m->p, target, v, eb);

	if (rc != SG_OK)
		sg_warn(m->p.who, "write %s: %s", target,
			eb && eb->msg[0] ? eb->msg : sg_strerror(rc));
	return rc;
}

static void mbd_fini(void *state)
{
	struct mbd *m = state;

	if (!m)
		return;
	mb_link_close(m->link);
	pthread_mutex_destroy(&m->mu);
	free(m->m_up);
	free(m->m_dev);
	mb_poll_free(&m->p);
	free(m->p.pt);
	free(m->p.dev);
	free(m);
}

const struct sg_driver sg_driver_modbus = {
    .name = "modbus",
    .help = "Modbus TCP and RTU master: several devices per bus, coalesced reads, "
	    "byte/word order decoding, deadband and quality. See docs/modbus.md.",
    .conf = &mb_table,
    .init = mbd_init,
    .start = mbd_start,
    .step = mbd_step,
    .stop = mbd_stop,
    .fini = mbd_fini,
    .write = mbd_write,
};
