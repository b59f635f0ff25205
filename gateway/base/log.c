/*
 * log.c - leveled logging with a per-call-site rate limiter, as text lines,
 * journald lines (<N> priority prefixes, no timestamp) or JSON lines.
 */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "buf.h"
#include "clock.h"
#include "mem.h"

static enum sg_log_level log_level = SG_LOG_INFO;
static enum sg_log_format log_format = SG_LOG_FORMAT_TEXT;
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static const char *const log_names[] = {"error", "warn", "info", "debug"};

void sg_log_set_level(enum sg_log_level lvl)
{
	log_level = lvl;
}
enum sg_log_level sg_log_get_level(void)
{
	return log_level;
}

int sg_log_level_parse(const char *s)
{
	for (int i = 0; i < 4; i++)
		if (strcmp(s, log_names[i]) == 0)
			return i;
	return -1;
}

/* syslog priorities of our levels, for the journal's <N> prefix. */
static const int log_prio[] = {3, 4, 6, 7};

void sg_log_set_format(enum sg_log_format f)
{
	log_format = f;
}

enum sg_log_format sg_log_format_auto(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	/* systemd sets JOURNAL_STREAM=DEV:INODE of the stream it connected;
	 * stderr is the journal only if it is still that stream. */
	if (js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && fstat(2, &st) == 0 &&
	    (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino)
		return SG_LOG_FORMAT_JOURNAL;
	return SG_LOG_FORMAT_TEXT;
}

static void log_stamp(char *out, size_t n)
{
	struct timespec ts;
	struct tm tm;
	char s[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, n, "%s.%03dZ", s, (int)(ts.tv_nsec / 1000000) % 1000);
}

__attribute__((format(printf, 3, 0))) static void log_v(enum sg_log_level lvl, const char *who,
							const char *fmt, va_list ap)
{
	char stamp[40], small[1024], *msg = small;
	va_list ap2;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	if (n >= (int)sizeof(small) && vasprintf(&msg, fmt, ap2) < 0)
		msg = small; /* out of memory: the truncated text */
	va_end(ap2);
	who = who ? who : "-";
	pthread_mutex_lock(&log_mu);
	switch (log_format) {
	case SG_LOG_FORMAT_JOURNAL:
		/* journald adds the time; one priority prefix per line. */
		for (const char *line = msg, *e; *line; line = *e ? e + 1 : e) {
			e = strchrnul(line, '\n');
			fprintf(stderr, "<%d>[%s] %.*s\n", log_prio[lvl], who, (int)(e - line),
				line);
		}
		break;
	case SG_LOG_FORMAT_JSON: {
		struct sg_buf b;
		log_stamp(stamp, sizeof(stamp));
		sg_buf_init(&b);
		sg_buf_adds(&b, "{\"time\":\"");
		sg_buf_adds(&b, stamp);
		sg_buf_adds(&b, "\",\"level\":\"");
		sg_buf_adds(&b, log_names[lvl]);
		sg_buf_adds(&b, "\",\"component\":");
		sg_buf_add_json_str(&b, who, strlen(who));
		sg_buf_adds(&b, ",\"message\":");
		sg_buf_add_json_str(&b, msg, strlen(msg));
		sg_buf_adds(&b, "}\n");
		if (!b.oom)
			fwrite(b.p, 1, b.len, stderr);
		sg_buf_free(&b);
		break;
	}
	default:
		log_stamp(stamp, sizeof(stamp));
		fprintf(stderr, "%s %-5s [%s] %s\n", stamp, log_names[lvl], who, msg);
	}
	pthread_mutex_unlock(&log_mu);
	if (msg != small)
		free(msg);
}

void sg_log(enum sg_log_level lvl, const char *who, const char *fmt, ...)
{
	va_list ap;

	if (lvl > log_level)
		return;
	va_start(ap, fmt);
	log_v(lvl, who, fmt, ap);
	va_end(ap);
}

void sg_log_rl(struct sg_log_rl *rl, enum sg_log_level lvl, const char *who, const char *fmt, ...)
{
	static pthread_mutex_t rl_mu = PTHREAD_MUTEX_INITIALIZER;
	int64_t now = sg_now_mono_ns();
	uint64_t suppressed;
	va_list ap;

	if (lvl > log_level)
		return;
	pthread_mutex_lock(&rl_mu);
	if (now < rl->next_ns) {
		rl->suppressed++;
		pthread_mutex_unlock(&rl_mu);
		return;
	}
	suppressed = rl->suppressed;
	rl->suppressed = 0;
	rl->next_ns = now + 5 * SG_NS_PER_S;
	pthread_mutex_unlock(&rl_mu);
	if (suppressed)
		sg_log(lvl, who, "(%llu similar messages suppressed in the last 5 s)",
		       (unsigned long long)suppressed);
	va_start(ap, fmt);
	log_v(lvl, who, fmt, ap);
	va_end(ap);
}
