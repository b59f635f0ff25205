/*
 * fs.h - file-system helpers.  All return SG_OK or SG_EIO/SG_ENOSPC with
 * errno preserved.
 */
#ifndef SG_FS_H
#define SG_FS_H

#include <stddef.h>
#include <stdint.h>

/* sg_write_all retries on EINTR and short writes only. */
int sg_write_all(int fd, const void *p, size_t n);
int sg_pread_all(int fd, void *p, size_t n, int64_t off); /* SG_ENOTFOUND at EOF */
int sg_fsync_dir(const char *dir);
/* Write a small file atomically: tmp, fsync, rename, fsync dir. */
int sg_write_file_atomic(const char *dir, const char *name, const void *p, size_t n, int mode);
int sg_mkdir_p(const char *path, int mode);
/* Read a whole small file (<= max bytes) into a NUL-terminated buffer. */
int sg_read_file(const char *path, size_t max, char **out, size_t *len);

#endif
