/*
 * fuzz.h - what the fuzz targets of tests/fuzz/ share: the libFuzzer entry
 * point they define, the invariant check that aborts (so libFuzzer, or the
 * standalone driver, saves the input), and the link stubs for the two
 * core functions the MQTT mapper names but the targets never reach.
 */
#ifndef SG_FUZZ_H
#define SG_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant that must hold for every input. */
#define FZ_CHECK(cond)                                                                             \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__,       \
				#cond);                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#endif
