/*
 * simdevice_map.c - the Modbus simulator's register map: key tables, a loader
 * for a standalone YAML file (the same table walker as the gateway's own
 * config, so errors read FILE:LINE:COL: path: what), the per-unit tables
 * and the values over time (constant, sine, counter, ramp, toggle).
 */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway/config/table_internal.h"
#include "simdevice.h"
#include "gateway/base/parse.h"

static const char *const mbs_kinds[] = {"constant", "sine", "counter", "ramp", "toggle", NULL};

static int mbs_reg_check(struct sg_cfg_ctx *ctx, void *obj, const struct sg_cfg_pos *pos,
			 const char *path)
{
	struct mbs_reg *r = obj;
	int n;

	if (mb_area_is_bits(r->area)) {
		if (r->type == MB_T_U16)
			r->type = MB_T_BOOL;
		if (r->type != MB_T_BOOL) {
			sg_cfg_error(ctx, pos, path, "a %s holds bits: type must be bool",
				     mb_area_names[r->area]);
			return SG_ECONFIG;
		}
	}
	n = mb_area_is_bits(r->area) ? 1 : mb_type_regs(r->type, (int)r->count);
	if (r->address + n > 65536) {
		sg_cfg_error(ctx, pos, path, "runs past address 65535");
		return SG_ECONFIG;
	}
	return SG_OK;
}

static const struct sg_cfg_key mbs_reg_keys[] = {
    SG_KEY_INT("unit", struct mbs_reg, unit, "0", 0, 255,
	       "Unit id serving this value; 0 = every unit."),
    SG_KEY_ENUM("area", struct mbs_reg, area, "holding_register", mb_area_names, "Modbus table."),
    SG_KEY_INT("address", struct mbs_reg, address, NULL, 0, 65535, "Zero-based address.",
	       SG_REQUIRED),
    SG_KEY_ENUM("type", struct mbs_reg, type, "u16", mb_type_names,
		"Value type, as in the driver."),
    SG_KEY_ENUM("order", struct mbs_reg, order, "ABCD", mb_order_names,
		"Byte order, as in the driver."),
    SG_KEY_INT("bit", struct mbs_reg, bit, "0", 0, 15, "For type bit."),
    SG_KEY_INT("count", struct mbs_reg, count, "1", 1, MB_STRING_MAX_REGS,
	       "For type string: registers."),
    SG_KEY_ENUM("kind", struct mbs_reg, kind, "constant", mbs_kinds,
		"`constant` (value or text; clients may write it), `sine` (min..max over period), "
		"`counter` (value + step per period), `ramp` (min to max over period, then again), "
		"`toggle` (0/1 every half period)."),
    SG_KEY_DOUBLE_ANY("value", struct mbs_reg, value, "0", "Constant value; start of a counter."),
    SG_KEY_STR("text", struct mbs_reg, text, NULL, "Text of a string."),
    SG_KEY_DOUBLE_ANY("min", struct mbs_reg, min, "0", "Lower bound of sine and ramp."),
    SG_KEY_DOUBLE_ANY("max", struct mbs_reg, max, "100", "Upper bound of sine and ramp."),
    SG_KEY_DOUBLE_ANY("step", struct mbs_reg, step, "1", "Counter increment per period."),
    SG_KEY_DURATION("period", struct mbs_reg, period_ms, "10s", 1, 86400000,
		    "Period of sine, ramp, toggle; counter tick."),
};
static const struct sg_cfg_table mbs_reg_table = SG_CFG_TABLE(
    "registers[]", "One simulated value.", struct mbs_reg, mbs_reg_keys, mbs_reg_check);

static const struct sg_cfg_key mbs_fault_keys[] = {
    SG_KEY_INT("unit", struct mbs_fault, unit, "0", 0, 255, "Unit id; 0 = every unit."),
    SG_KEY_ENUM("area", struct mbs_fault, area, "holding_register", mb_area_names, "Modbus table."),
    SG_KEY_INT("from", struct mbs_fault, from, "0", 0, 65535, "First address of the range."),
    SG_KEY_INT("to", struct mbs_fault, to, "65535", 0, 65535,
	       "Last address of the range (inclusive)."),
    SG_KEY_DURATION("delay", struct mbs_fault, delay_ms, "0", 0, 60000, "Answer this much later."),
    SG_KEY_INT(
	"exception", struct mbs_fault, exception, "0", 0, 255,
	"Answer with this exception code (2 = illegal data address, 4 = server device failure)."),
    SG_KEY_BOOL("no_answer", struct mbs_fault, no_answer, "false",
		"Do not answer at all (a timeout for the client)."),
};
static const struct sg_cfg_table mbs_fault_table =
    SG_CFG_TABLE("faults[]", "A fault injected into requests that touch an address range.",
		 struct mbs_fault, mbs_fault_keys, NULL);

static const struct sg_cfg_key mbs_keys[] = {
    SG_KEY_STRLIST("units", struct mbs_conf, units,
		   "Unit ids this server answers (default [1]); requests to others get no answer, "
		   "like a dead slave."),
    SG_KEY_BOOL("strict", struct mbs_conf, strict, "true",
		"Answer requests touching an address no register defines with exception 2 (illegal "
		"data address), as most devices do; false serves zeros."),
    SG_KEY_LIST("registers", struct mbs_conf, registers, &mbs_reg_table, "The register map."),
    SG_KEY_LIST("faults", struct mbs_conf, faults, &mbs_fault_table, "Injected faults."),
};
const struct sg_cfg_table mbs_table = SG_CFG_TABLE(
    "sim modbus", "The register map of `sensorgate sim modbus`.", struct mbs_conf, mbs_keys, NULL);

const char mbs_default_yaml[] =
    "units: [1, 2]\n"
    "registers:\n"
    "  # unit 1: an energy meter, floats in CDAB order\n"
    "  - {unit: 1, area: input_register, address: 0, type: f32, order: CDAB, kind: sine, min: 228, "
    "max: 232, period: 60s}\n"
    "  - {unit: 1, area: input_register, address: 2, type: f32, order: CDAB, kind: sine, min: 4, "
    "max: 6, period: 20s}\n"
    "  - {unit: 1, area: input_register, address: 4, type: f32, order: CDAB, kind: constant, "
    "value: 50}\n"
    "  - {unit: 1, area: input_register, address: 6, type: u32, kind: counter, value: 120000, "
    "step: 1, period: 1s}\n"
    "  - {unit: 1, area: holding_register, address: 0, type: string, count: 8, text: SG-METER-1}\n"
    "  # unit 2: an I/O module\n"
    "  - {unit: 2, area: coil, address: 0, kind: toggle, period: 10s}\n"
    "  - {unit: 2, area: discrete_input, address: 0, kind: toggle, period: 4s}\n"
    "  - {unit: 2, area: holding_register, address: 0, type: i16, kind: sine, min: -40, max: 85, "
    "period: 120s}\n"
    "  - {unit: 2, area: holding_register, address: 1, type: u16, kind: constant, value: 7}\n";

int mb_cfg_load(const struct sg_cfg_table *t, const char *file, const char *text, void *obj,
		char **errors)
{
	const char *name = file ? file : "<built-in>";
	struct sg_cfg_ctx ctx = {.file = name};
	struct fy_parse_cfg pcfg = {.flags = FYPCF_DEFAULT_DOC & ~FYPCF_QUIET};
	struct sg_cfg_pos pos = {.file = name, .line = 1, .col = 1};
	struct fy_document *doc;
	struct fy_node *root;
	int rc = SG_OK;

	sg_cfg_defaults(t, obj);
	*errors = NULL;
	if (file && access(file, R_OK) != 0) {
		sg_cfg_error(&ctx, NULL, "(file)", "cannot read the file");
		*errors = ctx.errors.p;
		return SG_ECONFIG;
	}
	doc = file ? fy_document_build_from_file(&pcfg, file)
		   : fy_document_build_from_string(&pcfg, text, FY_NT);
	if (!doc) {
		sg_cfg_error(&ctx, NULL, "(file)", "not valid YAML (see the parser message above)");
		*errors = ctx.errors.p;
		return SG_ECONFIG;
	}
	root = fy_document_root(doc);
	if (root && !fy_node_is_null(root)) {
		if (!fy_node_is_mapping(root)) {
			sg_cfg_error(&ctx, &pos, "(top level)", "expected a mapping");
			rc = SG_ECONFIG;
		} else {
			rc = sg_cfg_parse_map(&ctx, root, &pos, "", t, obj, NULL, NULL);
		}
	}
	fy_document_destroy(doc);
	if (ctx.nerrors) {
		*errors = ctx.errors.p;
		return SG_ECONFIG;
	}
	sg_buf_free(&ctx.errors);
	return rc;
}

static int mbs_add_unit(struct mbs *s, int id, char *err, size_t n)
{
	struct mbs_unit *u = &s->u[s->nu];

	u->id = id;
	u->map = modbus_mapping_new(65536, 65536, 65536, 65536);
	for (int a = 0; a < 4; a++)
		u->defined[a] = calloc(65536, 1);
	s->nu++;
	if (!u->map || !u->defined[0] || !u->defined[1] || !u->defined[2] || !u->defined[3]) {
		snprintf(err, n, "out of memory");
		return SG_ENOMEM;
	}
	return SG_OK;
}

int mbs_init(struct mbs *s, const struct mbs_conf *c, char *err, size_t n)
{
	const struct mbs_reg *r = c->registers.items;

	memset(s, 0, sizeof(*s));
	s->c = c;
	s->t0_ns = sg_now_mono_ns();
	s->u = sg_xcalloc(c->units.n ? c->units.n : 1, sizeof(*s->u));
	for (size_t i = 0; i < c->units.n; i++) {
		int64_t id;

		if (sg_parse_i64(c->units.v[i], &id) || id < 0 || id > 255) {
			snprintf(err, n, "units: '%s' is not a unit id 0-255", c->units.v[i]);
			return SG_ECONFIG;
		}
		if (mbs_add_unit(s, (int)id, err, n) != SG_OK)
			return SG_ENOMEM;
	}
	if (!c->units.n && mbs_add_unit(s, 1, err, n) != SG_OK)
		return SG_ENOMEM;
	for (size_t i = 0; i < c->registers.n; i++)
		for (size_t k = 0; k < s->nu; k++) {
			struct mbs_unit *u = &s->u[k];
			int cnt = mb_area_is_bits(r[i].area)
				      ? 1
				      : mb_type_regs(r[i].type, (int)r[i].count);

			if (r[i].unit && r[i].unit != u->id)
				continue;
			memset(u->defined[r[i].area] + r[i].address, 1, (size_t)cnt);
		}
	for (size_t k = 0; k < s->nu; k++)
		mbs_update(s, &s->u[k], -1); /* constants and initial values */
	return SG_OK;
}

void mbs_free(struct mbs *s)
{
	for (size_t k = 0; k < s->nu; k++) {
		if (s->u[k].map)
			modbus_mapping_free(s->u[k].map);
		for (int a = 0; a < 4; a++)
			free(s->u[k].defined[a]);
	}
	free(s->u);
	memset(s, 0, sizeof(*s));
}

struct mbs_unit *mbs_unit_find(struct mbs *s, int id)
{
	for (size_t k = 0; k < s->nu; k++)
		if (s->u[k].id == id)
			return &s->u[k];
	return NULL;
}

/* The value of r at t seconds after start. */
static double mbs_value(const struct mbs_reg *r, double t)
{
	double period = (double)r->period_ms / 1000.0;
	double phase = fmod(t, period) / period;

	switch (r->kind) {
	case MBS_SINE: return r->min + (r->max - r->min) * (0.5 + 0.5 * sin(2 * M_PI * phase));
	case MBS_COUNTER: return r->value + r->step * floor(t / period);
	case MBS_RAMP: return r->min + (r->max - r->min) * phase;
	case MBS_TOGGLE: return phase < 0.5 ? 0 : 1;
	default: return r->value;
	}
}

static void mbs_store(struct mbs_unit *u, const struct mbs_reg *r, double v)
{
	modbus_mapping_t *m = u->map;
	int a = (int)r->address;
	uint16_t *tab = r->area == MB_A_INPUT ? m->tab_input_registers : m->tab_registers;

	if (r->area == MB_A_COIL)
		m->tab_bits[a] = v != 0;
	else if (r->area == MB_A_DISCRETE)
		m->tab_input_bits[a] = v != 0;
	else
		mb_encode((enum mb_type)r->type, (enum mb_order)r->order, v, r->text, (int)r->bit,
			  tab + a, mb_type_regs((enum mb_type)r->type, (int)r->count));
}

void mbs_update(struct mbs *s, struct mbs_unit *u, int64_t now_ns)
{
	const struct mbs_reg *r = s->c->registers.items;
	double t = now_ns < 0 ? 0 : (double)(now_ns - s->t0_ns) / 1e9;

	for (size_t i = 0; i < s->c->registers.n; i++) {
		if (r[i].unit && r[i].unit != u->id)
			continue;
		/* Constants are set once, so clients can write them. */
		if (r[i].kind == MBS_CONSTANT && now_ns >= 0)
			continue;
		mbs_store(u, &r[i], mbs_value(&r[i], t));
	}
}

const struct mbs_fault *mbs_fault_find(const struct mbs *s, int unit, enum mb_area a, int addr,
				       int count)
{
	const struct mbs_fault *f = s->c->faults.items;

	for (size_t i = 0; i < s->c->faults.n; i++) {
		if (f[i].unit && f[i].unit != unit)
			continue;
		if (f[i].area != (int)a || f[i].to < addr || f[i].from > addr + count - 1)
			continue;
		return &f[i];
	}
	return NULL;
}

bool mbs_defined(const struct mbs_unit *u, enum mb_area a, int addr, int count)
{
	for (int i = 0; i < count; i++)
		if (addr + i > 65535 || !u->defined[a][addr + i])
			return false;
	return true;
}
