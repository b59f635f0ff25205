/*
 * crc32c.c - CRC32C (Castagnoli polynomial 0x82f63b78).  The CPU's own
 * instruction where there is one - SSE4.2 `crc32` on x86-64, the ARMv8
 * CRC extension on arm64 - chosen once at start-up from what the running
 * CPU reports; otherwise slicing-by-8 in portable C (32-bit armhf, older
 * x86).  Both give the same result on every input (tests/unit/test_crc.c
 * compares them).  Debian ships no CRC32C library, hence this file.
 */
#include "crc32c.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"

#if defined(__aarch64__)
#include <arm_acle.h>
#include <sys/auxv.h>
#ifndef HWCAP_CRC32
#define HWCAP_CRC32 (1 << 7)
#endif
#endif

static uint32_t crc_tab[8][256];
static uint32_t (*crc_impl)(uint32_t crc, const uint8_t *p, size_t len);

uint32_t sg_crc32c_soft(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	crc = ~crc;
	while (len >= 8) {
		uint32_t lo = crc ^ sg_get_u32(p);
		uint32_t hi = sg_get_u32(p + 4);
		crc = crc_tab[7][lo & 0xff] ^ crc_tab[6][(lo >> 8) & 0xff] ^
		      crc_tab[5][(lo >> 16) & 0xff] ^ crc_tab[4][lo >> 24] ^ crc_tab[3][hi & 0xff] ^
		      crc_tab[2][(hi >> 8) & 0xff] ^ crc_tab[1][(hi >> 16) & 0xff] ^
		      crc_tab[0][hi >> 24];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = (crc >> 8) ^ crc_tab[0][(crc ^ *p++) & 0xff];
	return ~crc;
}

static uint32_t crc_soft(uint32_t crc, const uint8_t *p, size_t len)
{
	return sg_crc32c_soft(crc, p, len);
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t crc, const uint8_t *p, size_t len)
{
	uint64_t c = ~crc;

	while (len >= 8) {
		uint64_t w;
		memcpy(&w, p, 8); /* little endian, unaligned */
		c = __builtin_ia32_crc32di(c, w);
		p += 8;
		len -= 8;
	}
	while (len--)
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
	return ~(uint32_t)c;
}

static bool crc_hw_present(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("sse4.2");
}
#elif defined(__aarch64__)
__attribute__((target("+crc"))) static uint32_t crc_hw(uint32_t crc, const uint8_t *p, size_t len)
{
	uint32_t c = ~crc;

	while (len >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		c = __crc32cd(c, w);
		p += 8;
		len -= 8;
	}
	while (len--)
		c = __crc32cb(c, *p++);
	return ~c;
}

static bool crc_hw_present(void)
{
	return (getauxval(AT_HWCAP) & HWCAP_CRC32) != 0;
}
#else
#define crc_hw crc_soft
static bool crc_hw_present(void)
{
	return false;
}
#endif

__attribute__((constructor)) static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		crc_tab[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc_tab[t][i] =
			    (crc_tab[t - 1][i] >> 8) ^ crc_tab[0][crc_tab[t - 1][i] & 0xff];
	crc_impl = crc_hw_present() ? crc_hw : crc_soft;
}

bool sg_crc32c_hw(void)
{
	return crc_impl == crc_hw && crc_hw_present();
}

uint32_t sg_crc32c_extend(uint32_t crc, const void *buf, size_t len)
{
	return crc_impl(crc, buf, len);
}
