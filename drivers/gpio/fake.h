/*
 * fake.h - the scripted GPIO backend for tests (gpio_backend_fake): one
 * chip, named "fake", whose lines hold queues of edges that the test
 * pushes with exact timestamps.  It behaves like the kernel queue it
 * imitates: with `v2` set, each line numbers its events (line_seqno,
 * seqno) and a full queue drops its OLDEST event (uAPI v2); without,
 * events carry no numbers and a full queue drops the NEWEST (uAPI v1).
 *
 * Not thread-safe: tests only.  gpio_fake_reset() forgets everything.
 */
#ifndef SG_GPIO_FAKE_H
#define SG_GPIO_FAKE_H

#include <stdbool.h>
#include <stdint.h>

#include "backend.h"

struct gpio_fake_opts {
	bool v2;               /* seqnos, drop-oldest */
	int depth;             /* kernel queue depth; 0 = 16 */
	enum gpio_clock clock; /* clock reported in line info */
	bool kernel_debounce;  /* pretend the kernel debounces */
	bool fail_read;        /* line_read returns SG_EIO */
};

void gpio_fake_reset(const struct gpio_fake_opts *o);
/* Queue an edge on line `offset` as the kernel would. */
void gpio_fake_edge(unsigned offset, int64_t ts_ns, bool rising);
/* The level line_get reports for an input; the last value set on an
 * output. */
void gpio_fake_set_level(unsigned offset, int level);
int gpio_fake_level(unsigned offset);
/* Events the fake "kernel" dropped on that line so far. */
uint64_t gpio_fake_dropped(unsigned offset);
/* The config of the last request of that line (NULL if none). */
const struct gpio_line_cfg *gpio_fake_cfg(unsigned offset);

#endif
