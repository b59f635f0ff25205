/*
 * simdevice.h - `sensorgate sim modbus`: a Modbus TCP / RTU server that serves
 * a register map from a YAML file, with values that change over time and
 * faults injected per address range.  simdevice_map.c holds the map (key tables,
 * loading, values over time); simdevice.c the server loops.
 */
#ifndef SG_MB_SIM_H
#define SG_MB_SIM_H

#include <modbus.h>
#include <stdbool.h>
#include <stdint.h>

#include "gateway/config/table.h"
#include "gateway/base/buf.h"
#include "gateway/base/clock.h"
#include "gateway/base/mem.h"
#include "decode.h"
#include "plan.h"

enum mbs_kind { MBS_CONSTANT, MBS_SINE, MBS_COUNTER, MBS_RAMP, MBS_TOGGLE };

struct mbs_reg {
	int64_t unit; /* 0 = every unit */
	int area;
	int64_t address;
	int type, order;
	int64_t bit, count;
	int kind;
	double value, min, max, step;
	int64_t period_ms;
	char *text;
};

struct mbs_fault {
	int64_t unit; /* 0 = every unit */
	int area;
	int64_t from, to; /* address range, inclusive */
	int64_t delay_ms;
	int64_t exception; /* 0 = none */
	bool no_answer;
};

struct mbs_conf {
	struct sg_cfg_strlist units;
	bool strict;
	struct sg_cfg_list registers;
	struct sg_cfg_list faults;
};

extern const struct sg_cfg_table mbs_table;

/* Load a standalone YAML file (or, when file is NULL, the text) against
 * table t into obj (zeroed by the caller).  SG_OK, or SG_ECONFIG with the
 * messages in *errors (caller frees). */
int mb_cfg_load(const struct sg_cfg_table *t, const char *file, const char *text, void *obj,
		char **errors);

/* One unit's tables (the full 0..65535 range of each area) and which
 * addresses the map defines (strict mode answers the rest with ILLEGAL
 * DATA ADDRESS). */
struct mbs_unit {
	int id;
	modbus_mapping_t *map;
	uint8_t *defined[4]; /* per area, one byte per address */
};

struct mbs {
	const struct mbs_conf *c;
	struct mbs_unit *u;
	size_t nu;
	int64_t t0_ns;
	uint64_t requests, answered;
};

int mbs_init(struct mbs *s, const struct mbs_conf *c, char *err, size_t n);
void mbs_free(struct mbs *s);
struct mbs_unit *mbs_unit_find(struct mbs *s, int id);
/* Refresh the time-varying values of unit u at monotonic time now. */
void mbs_update(struct mbs *s, struct mbs_unit *u, int64_t now_ns);
/* The first fault matching a request, or NULL. */
const struct mbs_fault *mbs_fault_find(const struct mbs *s, int unit, enum mb_area a, int addr,
				       int count);
/* True if every address in [addr, addr+count) is defined. */
bool mbs_defined(const struct mbs_unit *u, enum mb_area a, int addr, int count);

/* The default map served without --config: an energy meter and an I/O
 * module (docs/modbus.md walks through it). */
extern const char mbs_default_yaml[];

#endif
