/*
 * io.c - the spool's I/O seam (spool.h, struct sg_spool_io): the system
 * calls by default, and the small helpers built only on the seam, so a
 * test that replaces a member sees every write, sync and rename the spool
 * makes (fault injection, the power-loss simulation of
 * tests/unit/test_spool_powercut.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "gateway/base/err.h"
#include "internal.h"

static ssize_t sys_writev(int fd, const struct iovec *iov, int iovcnt)
{
	return writev(fd, iov, iovcnt);
}
static int sys_fdatasync(int fd)
{
	return fdatasync(fd);
}
static int sys_open(const char *path, int flags, mode_t mode)
{
	return open(path, flags, mode);
}
static int sys_close(int fd)
{
	return close(fd);
}
static ssize_t sys_pwrite(int fd, const void *p, size_t n, off_t off)
{
	return pwrite(fd, p, n, off);
}
static int sys_ftruncate(int fd, off_t len)
{
	return ftruncate(fd, len);
}
static int sys_fallocate(int fd, int mode, off_t off, off_t len)
{
	return fallocate(fd, mode, off, len);
}
static int sys_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc, e;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	e = errno;
	close(fd);
	errno = e;
	return rc;
}
static int sys_rename(const char *from, const char *to)
{
	return rename(from, to);
}
static int sys_unlink(const char *path)
{
	return unlink(path);
}
static int sys_mkdir(const char *path, mode_t mode)
{
	return mkdir(path, mode);
}
static int sys_free_bytes(int fd, uint64_t *out)
{
	struct statvfs v;

	if (fstatvfs(fd, &v) != 0)
		return -1;
	*out = (uint64_t)v.f_bavail * v.f_frsize;
	return 0;
}

static int sys_boot_id(uint8_t out[16])
{
	char text[64];
	int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC), k = 0;
	ssize_t n = fd >= 0 ? read(fd, text, sizeof(text) - 1) : -1;

	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return -1;
	text[n] = '\0';
	for (ssize_t i = 0; i < n && k < 32; i++) { /* hex digits of the UUID */
		char c = text[i];
		int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		if (v < 0)
			continue;
		out[k / 2] = (uint8_t)(k % 2 ? out[k / 2] | v : v << 4);
		k++;
	}
	return k == 32 ? 0 : -1;
}

#define SYSTEM_IO                                                                                  \
	{                                                                                          \
		.writev = sys_writev, .fdatasync = sys_fdatasync, .open = sys_open,                \
		.close = sys_close, .pwrite = sys_pwrite, .ftruncate = sys_ftruncate,              \
		.fallocate = sys_fallocate, .fsync_dir = sys_fsync_dir, .rename = sys_rename,      \
		.unlink = sys_unlink, .mkdir = sys_mkdir, .free_bytes = sys_free_bytes,            \
		.boot_id = sys_boot_id,                                                            \
	}
const struct sg_spool_io sg_spool_io_default = SYSTEM_IO;
struct sg_spool_io sg_spool_io = SYSTEM_IO;

int spool_io_err(void)
{
	return errno == ENOSPC || errno == EDQUOT ? SG_ENOSPC : SG_EIO;
}

int spool_io_write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n) {
		struct iovec iov = {(void *)c, n};
		ssize_t w = sg_spool_io.writev(fd, &iov, 1);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			return spool_io_err();
		}
		c += w;
		n -= (size_t)w;
	}
	return SG_OK;
}

int spool_io_write_atomic(const char *dir, const char *name, const void *p, size_t n)
{
	char tmp[SPOOL_PATH_MAX], dst[SPOOL_PATH_MAX];
	int fd, rc, e;

	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
	snprintf(dst, sizeof(dst), "%s/%s", dir, name);
	fd = sg_spool_io.open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return spool_io_err();
	rc = spool_io_write_all(fd, p, n);
	if (rc == SG_OK && sg_spool_io.fdatasync(fd) != 0)
		rc = spool_io_err();
	e = errno;
	sg_spool_io.close(fd);
	if (rc == SG_OK && sg_spool_io.rename(tmp, dst) != 0)
		rc = spool_io_err();
	if (rc == SG_OK && sg_spool_io.fsync_dir(dir) != 0)
		rc = spool_io_err();
	if (rc != SG_OK) {
		e = errno;
		sg_spool_io.unlink(tmp);
	}
	errno = e;
	return rc;
}
