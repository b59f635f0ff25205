/*
 * t.c - the unit-test runner behind t.h.
 */
#include "t.h"

#include "gateway/base/log.h"

#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

#define T_MAX 512

static struct {
	const char *name;
	void (*fn)(void);
} tests[T_MAX];
static int ntests, cur_failed;
static char tmpdir[256];

void t_register(const char *name, void (*fn)(void))
{
	if (ntests < T_MAX) {
		tests[ntests].name = name;
		tests[ntests++].fn = fn;
	}
}

void t_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stdout, "    %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	cur_failed++;
}

const char *t_tmpdir(void)
{
	char cmd[300];

	if (tmpdir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			abort();
	}
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/sgtest.XXXXXX");
	if (!mkdtemp(tmpdir))
		abort();
	return tmpdir;
}

static void t_cleanup(void)
{
	char cmd[300];

	if (!tmpdir[0])
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
	tmpdir[0] = '\0';
}

int main(int argc, char **argv)
{
	int passed = 0, failed = 0;

	/* The code under test logs what it finds (torn tails, ENOSPC...);
	 * T_VERBOSE=1 shows it. */
	if (!getenv("T_VERBOSE"))
		sg_log_set_level(SG_LOG_QUIET);

	for (int i = 0; i < ntests; i++) {
		int run = argc < 2;
		for (int a = 1; a < argc; a++)
			if (!strcmp(argv[a], tests[i].name))
				run = 1;
		if (!run)
			continue;
		cur_failed = 0;
		tests[i].fn();
		t_cleanup();
		printf("  %s %s\n", cur_failed ? "FAIL" : "ok  ", tests[i].name);
		fflush(stdout);
		if (cur_failed)
			failed++;
		else
			passed++;
	}
	printf("%s: %d passed, %d failed\n", argv[0], passed, failed);
	return failed ? 1 : 0;
}
