/*
 * test_crc.c - CRC32C: known vectors, and the CPU-instruction path equal
 * to the portable one for every length, alignment and starting value.
 */
#include <stdio.h>
#include <stdlib.h>

#include "gateway/base/crc32c.h"
#include "t.h"

TEST(crc32c_known_vectors_both_paths)
{
	static const char zeros[32];

	CHECK_EQ(sg_crc32c("123456789", 9), 0xe3069283u);
	CHECK_EQ(sg_crc32c_soft(0, "123456789", 9), 0xe3069283u);
	CHECK_EQ(sg_crc32c(zeros, 32), 0x8a9136aau);
	CHECK_EQ(sg_crc32c_soft(0, zeros, 32), 0x8a9136aau);
	CHECK_EQ(sg_crc32c("", 0), 0);
	fprintf(stderr, "    crc32c: %s\n", sg_crc32c_hw() ? "CPU instruction" : "portable");
}

TEST(crc32c_hw_equals_soft)
{
	unsigned char buf[4096 + 16];
	unsigned seed = 12345;

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)rand_r(&seed);
	for (int round = 0; round < 20000; round++) {
		size_t off = (size_t)rand_r(&seed) % 16, len = (size_t)rand_r(&seed) % 4096;
		uint32_t start = (uint32_t)rand_r(&seed);

		if (sg_crc32c_extend(start, buf + off, len) !=
		    sg_crc32c_soft(start, buf + off, len)) {
			t_fail(__FILE__, __LINE__, "mismatch at off %zu len %zu", off, len);
			return;
		}
	}
	/* Extending in pieces equals one pass. */
	CHECK_EQ(sg_crc32c_extend(sg_crc32c_extend(0, buf, 1000), buf + 1000, 3000),
		 sg_crc32c(buf, 4000));
}
