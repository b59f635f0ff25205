/*
 * test_gpio_v2build.c - the libgpiod 2 backend compiles and links against
 * the real libgpiod 2 (Debian trixie's), while this machine builds with
 * libgpiod 1: runs tests/gpio_v2_compile_check.sh, which says how.  When
 * the header cannot be fetched (no mirror) the check is skipped LOUDLY,
 * and this test says so on its own line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "t.h"

TEST(libgpiod2_backend_compiles_and_links)
{
	const char *script = "tests/gpio_v2_compile_check.sh";
	const char *dir = t_tmpdir();
	char cmd[512];
	int st, rc;

	if (access(script, X_OK) != 0) {
		printf("    SKIPPED: %s not found (run from the repository root)\n", script);
		return;
	}
	snprintf(cmd, sizeof(cmd), "%s >'%s/log' 2>&1", script, dir);
	st = system(cmd);
	rc = WIFEXITED(st) ? WEXITSTATUS(st) : 1;
	snprintf(cmd, sizeof(cmd), "sed 's/^/    /' '%s/log'", dir);
	if (system(cmd) != 0)
		printf("    (could not show the log)\n");
	if (rc == 77) {
		printf("    SKIPPED: libgpiod 2 header not available; backend_v2.c NOT checked\n");
		return;
	}
	CHECK_EQ(rc, 0);
}
