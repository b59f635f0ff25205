/*
 * module.h - the loadable modules of sensorgate: parts that link big
 * libraries only some configurations use (kafka.format avro: libavro,
 * libcurl, jansson; the sink's SQLite output: libsqlite3) are shared
 * objects, sensorgate-NAME.so, loaded the first time a configuration
 * needs them, so every other gateway neither maps nor relocates those
 * libraries.  A module exports one table (a const struct of function
 * pointers that starts with struct sg_module_head) under a known symbol;
 * the core reaches the module only through it.
 *
 * Where modules are looked for, first match wins:
 *   1. $SENSORGATE_MODULE_DIR, when set and not empty (tests, bench);
 *   2. <directory of the executable>/modules/, when that directory exists
 *      (the build tree: build/sensorgate finds build/modules/);
 *   3. SG_MODULE_DIR, fixed at build time (make: $(LIBDIR)/sensorgate,
 *      the Debian package: /usr/lib/<multiarch>/sensorgate).
 *
 * A module belongs to the build that made it: its head carries that
 * build's version string and table ABI, and one from another build is
 * refused (the tables pass the core's structs, whose layout may change
 * from one commit to the next).  Modules are opened RTLD_NOW | RTLD_LOCAL
 * (every symbol resolved at load; one module never sees another's) and
 * stay loaded until exit.  The symbols a module uses from the core are
 * the only ones the executable exports (Makefile: the dynamic list).
 *
 * Threads: any thread; loads are serialised.
 */
#ifndef SG_BASE_MODULE_H
#define SG_BASE_MODULE_H

#include <stddef.h>
#include <stdint.h>

#include "gateway/base/err.h"

/* Environment variable naming the module directory (1. above). */
#define SG_MODULE_DIR_ENV "SENSORGATE_MODULE_DIR"

/* The start of every module table. */
struct sg_module_head {
	uint32_t abi;        /* the table's own ABI number */
	uint32_t size;       /* sizeof the whole table */
	const char *version; /* SG_VERSION of the build that made the module */
};

/* The version string of this build, for module heads and the check. */
extern const char sg_module_build_version[];

/*
 * The table `symbol` of module file `file` (e.g. "sensorgate-avro.so"),
 * loaded on the first call and kept; later calls return the same table.
 * The table must have abi and size as given and this build's version.
 * NULL when it cannot be had, with one line in eb naming what needs it
 * (`who`, e.g. "kafka.format: avro"), the path tried and why (dlerror,
 * or the mismatch): "kafka.format: avro needs /usr/lib/.../x.so: ...".
 */
const void *sg_module_table(const char *file, const char *symbol, uint32_t abi, size_t size,
			    const char *who, struct sg_errbuf *eb);

/* The directory modules are loaded from now (the rules above), into
 * out[0..n).  SG_OK, or SG_EINVAL when it does not fit. */
int sg_module_dir(char *out, size_t n);

#endif
