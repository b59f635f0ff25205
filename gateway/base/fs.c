/*
 * fs.c - file-system primitives that never hide a short write or an fsync error.
 */
#include "fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"

static int io_err(void)
{
	return errno == ENOSPC || errno == EDQUOT ? SG_ENOSPC : SG_EIO;
}

int sg_write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n) {
		ssize_t w = write(fd, c, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return io_err();
		}
		if (w == 0) {
			errno = EIO;
			return SG_EIO;
		}
		c += w;
		n -= (size_t)w;
	}
	return SG_OK;
}

int sg_pread_all(int fd, void *p, size_t n, int64_t off)
{
	char *c = p;

	while (n) {
		ssize_t r = pread(fd, c, n, off);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return SG_EIO;
		}
		if (r == 0)
			return SG_ENOTFOUND;
		c += r;
		n -= (size_t)r;
		off += r;
	}
	return SG_OK;
}

int sg_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = SG_OK;

	if (fd < 0)
		return SG_EIO;
	if (fsync(fd) != 0)
		rc = io_err();
	close(fd);
	return rc;
}

int sg_write_file_atomic(const char *dir, const char *name, const void *p, size_t n, int mode)
{
	char tmp[4096], dst[4096];
	int fd, rc;

	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
	snprintf(dst, sizeof(dst), "%s/%s", dir, name);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return io_err();
	rc = sg_write_all(fd, p, n);
	if (rc == SG_OK && fsync(fd) != 0)
		rc = io_err();
	if (close(fd) != 0 && rc == SG_OK)
		rc = io_err();
	if (rc == SG_OK && rename(tmp, dst) != 0)
		rc = io_err();
	if (rc == SG_OK)
		rc = sg_fsync_dir(dir);
	if (rc != SG_OK)
		unlink(tmp);
	return rc;
}

int sg_mkdir_p(const char *path, int mode)
{
	char buf[4096];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(buf))
		return SG_EINVAL;
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, (mode_t)mode) != 0 && errno != EEXIST)
			return SG_EIO;
		*p = '/';
	}
	if (mkdir(buf, (mode_t)mode) != 0 && errno != EEXIST)
		return SG_EIO;
	return SG_OK;
}

int sg_read_file(const char *path, size_t max, char **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct sg_buf b;
	char tmp[4096];
	ssize_t r;

	if (fd < 0)
		return errno == ENOENT ? SG_ENOTFOUND : SG_EIO;
	sg_buf_init(&b);
	sg_buf_reserve(&b, 0);
	while ((r = read(fd, tmp, sizeof(tmp))) != 0) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			close(fd);
			sg_buf_free(&b);
			return SG_EIO;
		}
		sg_buf_add(&b, tmp, (size_t)r);
		if (b.len > max || b.oom) {
			close(fd);
			sg_buf_free(&b);
			return b.oom ? SG_ENOMEM : SG_EINVAL;
		}
	}
	close(fd);
	if (b.oom) {
		sg_buf_free(&b);
		return SG_ENOMEM;
	}
	*out = b.p;
	if (len)
		*len = b.len;
	return SG_OK;
}
