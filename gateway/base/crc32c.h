/*
 * crc32c.h - CRC32C (Castagnoli) and the masked form stored in spool frames.
 */
#ifndef SG_CRC32C_H
#define SG_CRC32C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* CRC32C (Castagnoli).  sg_crc32c_extend(0, ...) starts a new checksum.
 * Uses the CPU's CRC32C instruction when it has one.  Any thread. */
uint32_t sg_crc32c_extend(uint32_t crc, const void *buf, size_t len);
/* The portable implementation, always (tests compare the two). */
uint32_t sg_crc32c_soft(uint32_t crc, const void *buf, size_t len);
/* True when sg_crc32c_extend runs on the CPU's instruction. */
bool sg_crc32c_hw(void);
static inline uint32_t sg_crc32c(const void *buf, size_t len)
{
	return sg_crc32c_extend(0, buf, len);
}
/* Masked CRC, so a CRC stored inside checksummed data stays robust. */
static inline uint32_t sg_crc_mask(uint32_t crc)
{
	return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

#endif
