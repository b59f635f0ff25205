/*
 * test_log.c - the log line formats (text, journal, JSON), the choice of
 * the journal from JOURNAL_STREAM, and rate limiters per call site.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/base/err.h"
#include "gateway/base/fs.h"
#include "gateway/base/log.h"
#include "t.h"

/* Run fn with stderr captured; returns what it wrote (caller frees). */
static char *capture(void (*fn)(void))
{
	char path[512], *text = NULL;
	int saved = dup(2), fd;

	snprintf(path, sizeof(path), "%s/err.txt", t_tmpdir());
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	fflush(stderr);
	dup2(fd, 2);
	sg_log_set_level(SG_LOG_DEBUG);
	fn();
	fflush(stderr);
	sg_log_set_level(SG_LOG_QUIET);
	sg_log_set_format(SG_LOG_FORMAT_TEXT);
	dup2(saved, 2);
	close(saved);
	close(fd);
	if (sg_read_file(path, 1 << 20, &text, NULL) != SG_OK)
		return NULL;
	return text;
}

static void log_journal(void)
{
	sg_log_set_format(SG_LOG_FORMAT_JOURNAL);
	sg_error("spool", "disk %s", "full");
	sg_info("mqtt1", "two\nlines");
	sg_debug("x", "d");
}

static void log_json(void)
{
	sg_log_set_format(SG_LOG_FORMAT_JSON);
	sg_warn("src \"a\"", "quote \" backslash \\ tab \t end");
}

static void log_text(void)
{
	sg_log_set_format(SG_LOG_FORMAT_TEXT);
	sg_info("main", "hello");
}

TEST(journal_lines_have_priorities_and_no_time)
{
	char *t = capture(log_journal);

	CHECK(t != NULL);
	if (!t)
		return;
	CHECK_STR(t, "<3>[spool] disk full\n<6>[mqtt1] two\n<6>[mqtt1] lines\n<7>[x] d\n");
	free(t);
}

TEST(json_lines_escape_everything)
{
	char *t = capture(log_json);

	CHECK(t != NULL);
	if (!t)
		return;
	CHECK(!strncmp(t, "{\"time\":\"", 9));
	CHECK(strstr(t, "\",\"level\":\"warn\",\"component\":\"src \\\"a\\\"\","
			"\"message\":\"quote \\\" backslash \\\\ tab \\t end\"}\n") != NULL);
	CHECK_EQ(strchr(t, '\n') - t + 1, (long long)strlen(t)); /* one line */
	free(t);
}

TEST(text_lines)
{
	char *t = capture(log_text);

	CHECK(t && strstr(t, "Z info  [main] hello\n") != NULL);
	free(t);
}

TEST(journal_stream_detection)
{
	struct stat st;
	char v[64];

	unsetenv("JOURNAL_STREAM");
	CHECK_EQ(sg_log_format_auto(), SG_LOG_FORMAT_TEXT);
	CHECK_EQ(fstat(2, &st), 0);
	snprintf(v, sizeof(v), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", v, 1);
	CHECK_EQ(sg_log_format_auto(), SG_LOG_FORMAT_JOURNAL);
	/* stderr redirected elsewhere since: not the journal any more. */
	setenv("JOURNAL_STREAM", "1:1", 1);
	CHECK_EQ(sg_log_format_auto(), SG_LOG_FORMAT_TEXT);
	unsetenv("JOURNAL_STREAM");
}
