/*
 * fuzz_time.c - fuzz target: the device-time parsers of the MQTT driver
 * (devtime.c): RFC 3339 with and without a default offset, offsets, and
 * epoch numbers from their text in every unit.
 *
 * Invariants (abort when broken): a date-time accepted without a default
 * offset is accepted the same with one; an accepted epoch number is a
 * positive time; an accepted offset lies within a day.
 */
#include <string.h>

#include "drivers/mqtt/mqtt.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	int32_t off = 7200, o;
	int64_t a, b;

	if (mq_time_parse(s, size, &a) == SG_OK) {
		FZ_CHECK(mq_time_parse_off(s, size, &off, &b) == SG_OK);
		FZ_CHECK(a == b);
	}
	(void)mq_time_parse_off(s, size, &off, &b);
	if (mq_offset_parse(s, size, &o) == SG_OK)
		FZ_CHECK(o > -86400 && o < 86400);
	for (int u = MQ_TU_S; u <= MQ_TU_AUTO; u++)
		if (mq_time_from_text(s, size, u, &a) == SG_OK)
			FZ_CHECK(a > 0);
	if (size) {
		enum mq_tfail f = mq_time_check((int64_t)((uint64_t)data[0] << 48), 0, data[0]);
		FZ_CHECK(f == MQ_TF_OK || f == MQ_TF_FUTURE || f == MQ_TF_PAST);
	}
	return 0;
}
