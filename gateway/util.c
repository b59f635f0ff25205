/*
 * util.c - clocks, buffers, parsers and careful file-system primitives.
 */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "err.h"

int64_t sg_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * SG_NS_PER_S + ts.tv_nsec;
}

int64_t sg_now_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * SG_NS_PER_S + ts.tv_nsec;
}

/* --- buffer --------------------------------------------------------- */

void sg_buf_init(struct sg_buf *b)
{
	memset(b, 0, sizeof(*b));
}
void sg_buf_free(struct sg_buf *b)
{
	free(b->p);
	sg_buf_init(b);
}
void sg_buf_reset(struct sg_buf *b)
{
	b->len = 0;
	b->oom = false;
}

bool sg_buf_reserve(struct sg_buf *b, size_t extra)
{
	size_t need, cap;
	char *p;

	if (b->oom)
		return false;
	need = b->len + extra + 1;
	if (need <= b->cap)
		return true;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p) {
		b->oom = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

void sg_buf_add(struct sg_buf *b, const void *p, size_t n)
{
	if (!sg_buf_reserve(b, n))
		return;
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void sg_buf_adds(struct sg_buf *b, const char *s)
{
	sg_buf_add(b, s, strlen(s));
}
void sg_buf_addc(struct sg_buf *b, char c)
{
	sg_buf_add(b, &c, 1);
}

void sg_buf_printf(struct sg_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !sg_buf_reserve(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void sg_buf_add_u16(struct sg_buf *b, uint16_t v)
{
	uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
	sg_buf_add(b, x, 2);
}
void sg_buf_add_u32(struct sg_buf *b, uint32_t v)
{
	uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
	sg_buf_add(b, x, 4);
}
void sg_buf_add_u64(struct sg_buf *b, uint64_t v)
{
	sg_buf_add_u32(b, (uint32_t)v);
	sg_buf_add_u32(b, (uint32_t)(v >> 32));
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, cp = c & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

void sg_buf_add_json_str(struct sg_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, run = 0;

	sg_buf_addc(b, '"');
	while (i < n) {
		unsigned char c = u[i];
		size_t l;

		if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
			i++;
			run++;
			continue;
		}
		sg_buf_add(b, s + i - run, run);
		run = 0;
		if (c >= 0x80) {
			l = utf8_len(u + i, n - i);
			if (l)
				sg_buf_add(b, s + i, l);
			else
				sg_buf_adds(b, "\\ufffd");
			i += l ? l : 1;
			continue;
		}
		switch (c) {
		case '"': sg_buf_adds(b, "\\\""); break;
		case '\\': sg_buf_adds(b, "\\\\"); break;
		case '\n': sg_buf_adds(b, "\\n"); break;
		case '\r': sg_buf_adds(b, "\\r"); break;
		case '\t': sg_buf_adds(b, "\\t"); break;
		default: {
			char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
			sg_buf_add(b, e, 6);
		}
		}
		i++;
	}
	sg_buf_add(b, s + i - run, run);
	sg_buf_addc(b, '"');
}

/* --- parsers -------------------------------------------------------- */

int sg_parse_i64(const char *s, int64_t *out)
{
	char *end;
	long long v;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtoll(s, &end, 0);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

int sg_parse_double(const char *s, double *out)
{
	char *end;
	double v;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || !isfinite(v))
		return -1;
	*out = v;
	return 0;
}

int sg_parse_bool(const char *s, bool *out)
{
	if (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on")) {
		*out = true;
		return 0;
	}
	if (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off")) {
		*out = false;
		return 0;
	}
	return -1;
}

static int parse_scaled(const char *s, const char *const *units, const double *mult, size_t nunits,
			int64_t *out)
{
	char *end;
	double v;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || !isfinite(v) || v < 0)
		return -1;
	while (*end == ' ')
		end++;
	for (size_t i = 0; i < nunits; i++) {
		if (strcmp(end, units[i]) == 0) {
			v *= mult[i];
			if (v > 9.2e18)
				return -1;
			*out = (int64_t)llround(v);
			return 0;
		}
	}
	return -1;
}

int sg_parse_duration_ms(const char *s, int64_t *out)
{
	static const char *const u[] = {"", "ms", "s", "m", "h"};
	static const double m[] = {1, 1, 1000, 60000, 3600000};
	return parse_scaled(s, u, m, SG_ARRAY_LEN(u), out);
}

int sg_parse_size(const char *s, int64_t *out)
{
	static const char *const u[] = {"",  "B",  "k",   "K", "KB", "KiB",
					"M", "MB", "MiB", "G", "GB", "GiB"};
	static const double m[] = {
	    1,       1,       1024,    1024,         1024,         1024,
	    1048576, 1048576, 1048576, 1073741824.0, 1073741824.0, 1073741824.0};
	return parse_scaled(s, u, m, SG_ARRAY_LEN(u), out);
}

/* --- files ---------------------------------------------------------- */

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

char *sg_strdup(const char *s)
{
	char *d = strdup(s ? s : "");
	if (!d)
		abort();
	return d;
}

void *sg_xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n ? n : 1, sz ? sz : 1);
	if (!p)
		abort();
	return p;
}
