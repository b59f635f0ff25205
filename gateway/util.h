/*
 * util.h - small helpers shared by the core and the drivers: clocks,
 * CRC32C, a growable byte buffer, number/duration/size parsing and
 * file-system primitives that never hide a short write or an fsync error.
 */
#ifndef SG_UTIL_H
#define SG_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SG_NS_PER_S     1000000000LL
#define SG_NS_PER_MS    1000000LL
#define SG_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

int64_t sg_now_ns(void);      /* CLOCK_REALTIME, ns since the epoch */
int64_t sg_now_mono_ns(void); /* CLOCK_MONOTONIC, ns */

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

/* Growable buffer.  On allocation failure `oom` latches and appends become
 * no-ops, so encoders check once at the end. */
struct sg_buf {
	char *p;
	size_t len, cap;
	bool oom;
};
void sg_buf_init(struct sg_buf *b);
void sg_buf_free(struct sg_buf *b);
void sg_buf_reset(struct sg_buf *b);
bool sg_buf_reserve(struct sg_buf *b, size_t extra);
void sg_buf_add(struct sg_buf *b, const void *p, size_t n);
void sg_buf_adds(struct sg_buf *b, const char *s);
void sg_buf_addc(struct sg_buf *b, char c);
void sg_buf_printf(struct sg_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sg_buf_add_u16(struct sg_buf *b, uint16_t v); /* little endian */
void sg_buf_add_u32(struct sg_buf *b, uint32_t v);
void sg_buf_add_u64(struct sg_buf *b, uint64_t v);
/* JSON string literal with quotes and escapes; invalid UTF-8 -> U+FFFD. */
void sg_buf_add_json_str(struct sg_buf *b, const char *s, size_t n);

static inline uint16_t sg_get_u16(const void *p)
{
	const uint8_t *b = p;
	return (uint16_t)(b[0] | b[1] << 8);
}
static inline uint32_t sg_get_u32(const void *p)
{
	const uint8_t *b = p;
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}
static inline uint64_t sg_get_u64(const void *p)
{
	const uint8_t *b = p;
	return (uint64_t)sg_get_u32(b) | (uint64_t)sg_get_u32(b + 4) << 32;
}

/* Strict parsers: the whole string must be consumed.  0 on success. */
int sg_parse_i64(const char *s, int64_t *out);
int sg_parse_double(const char *s, double *out);
int sg_parse_bool(const char *s, bool *out);
/* "250ms", "5s", "2m", "1h", or a bare number of milliseconds. */
int sg_parse_duration_ms(const char *s, int64_t *out);
/* "512", "64k", "16MiB", "1GB" (k/M/G are powers of 1024). */
int sg_parse_size(const char *s, int64_t *out);

/* File-system helpers.  All return SG_OK or SG_EIO/SG_ENOSPC with errno
 * preserved.  sg_write_all retries on EINTR and short writes only. */
int sg_write_all(int fd, const void *p, size_t n);
int sg_pread_all(int fd, void *p, size_t n, int64_t off); /* SG_ENOTFOUND at EOF */
int sg_fsync_dir(const char *dir);
/* Write a small file atomically: tmp, fsync, rename, fsync dir. */
int sg_write_file_atomic(const char *dir, const char *name, const void *p, size_t n, int mode);
int sg_mkdir_p(const char *path, int mode);
/* Read a whole small file (<= max bytes) into a NUL-terminated buffer. */
int sg_read_file(const char *path, size_t max, char **out, size_t *len);

char *sg_strdup(const char *s); /* aborts on OOM: for config-time use */
void *sg_xcalloc(size_t n, size_t sz);

#endif
