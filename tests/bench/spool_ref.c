/*
 * spool_ref.c - the reference for the spool benchmark: what the disk
 * gives a plain append loop, with none of the spool's work (no CRC, no
 * lock, no flusher thread, no segment rotation).
 *
 * Each record is one write(2) of SIZE + 20 bytes (the size of a spool
 * frame with a SIZE-byte payload) on an O_APPEND file, and then:
 *   always  fdatasync after every write;
 *   MS      (a number, milliseconds) fdatasync when MS have passed since
 *           the last one, like the spool's group commit.
 * It stops after COUNT records or SECONDS, whichever comes first, and
 * prints one line: "appends N seconds S rate R".
 *
 *   spool_ref DIR always|MS SIZE COUNT SECONDS
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FRAME_HDR 20

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	char path[4096];
	double secs, t0, t, last_sync;
	long size, count, n = 0;
	int always, fd;
	double interval;
	char *rec;

	if (argc != 6) {
		fprintf(stderr, "usage: %s DIR always|MS SIZE COUNT SECONDS\n", argv[0]);
		return 2;
	}
	always = strcmp(argv[2], "always") == 0;
	interval = always ? 0 : atof(argv[2]) / 1000.0;
	size = atol(argv[3]);
	count = atol(argv[4]);
	secs = atof(argv[5]);
	if (size < 1 || count < 1 || secs <= 0 || (!always && interval <= 0)) {
		fprintf(stderr, "bad arguments\n");
		return 2;
	}
	snprintf(path, sizeof(path), "%s/ref.log", argv[1]);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return 1;
	}
	rec = malloc((size_t)size + FRAME_HDR);
	if (!rec)
		return 1;
	memset(rec, 'x', (size_t)size + FRAME_HDR);
	t0 = last_sync = t = now_s();
	while (n < count && t - t0 < secs) {
		if (write(fd, rec, (size_t)size + FRAME_HDR) != size + FRAME_HDR) {
			fprintf(stderr, "write: %s\n", strerror(errno));
			return 1;
		}
		n++;
		t = now_s();
		if (always || t - last_sync >= interval) {
			if (fdatasync(fd) != 0) {
				fprintf(stderr, "fdatasync: %s\n", strerror(errno));
				return 1;
			}
			last_sync = t = now_s();
		}
	}
	if (fdatasync(fd) != 0)
		return 1;
	t = now_s();
	printf("appends %ld seconds %.4f rate %.1f\n", n, t - t0, (double)n / (t - t0));
	close(fd);
	unlink(path);
	free(rec);
	return 0;
}
