/*
 * crc32c.h - CRC32C (Castagnoli) and the masked form stored in spool frames.
 */
#ifndef SG_CRC32C_H
#define SG_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* CRC32C (Castagnoli).  sg_crc32c_extend(0, ...) starts a new checksum. */
uint32_t sg_crc32c_extend(uint32_t crc, const void *buf, size_t len);
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
