/*
 * log.c - leveled logging with a per-call-site rate limiter.
 */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "clock.h"
#include "mem.h"

static enum sg_log_level log_level = SG_LOG_INFO;
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

__attribute__((format(printf, 3, 0))) static void log_v(enum sg_log_level lvl, const char *who,
							const char *fmt, va_list ap)
{
	struct timespec ts;
	struct tm tm;
	char stamp[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	pthread_mutex_lock(&log_mu);
	fprintf(stderr, "%s.%03ldZ %-5s [%s] ", stamp, ts.tv_nsec / 1000000, log_names[lvl],
		who ? who : "-");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	pthread_mutex_unlock(&log_mu);
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
