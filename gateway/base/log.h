/*
 * log.h - leveled, thread-safe logging to stderr.
 *
 * Every line carries a UTC timestamp, the level and the component that
 * speaks ("spool", "producer", a driver instance name).  sg_log_rl() is the
 * rate-limited form for per-event conditions (drops, bad payloads): it logs
 * at most one line per interval per call site and reports how many lines it
 * suppressed in between.  Safe to call from any thread.
 */
#ifndef SG_LOG_H
#define SG_LOG_H

#include <stdint.h>

enum sg_log_level { SG_LOG_QUIET = -1, SG_LOG_ERROR, SG_LOG_WARN, SG_LOG_INFO, SG_LOG_DEBUG };

/* Line formats: TEXT "TIME level [who] message"; JOURNAL "<N>[who]
 * message" for systemd's journal (it adds the time; N is the syslog
 * priority); JSON one object per line {time, level, component, message}
 * for log shippers. */
enum sg_log_format { SG_LOG_FORMAT_TEXT, SG_LOG_FORMAT_JOURNAL, SG_LOG_FORMAT_JSON };

void sg_log_set_level(enum sg_log_level lvl);
void sg_log_set_format(enum sg_log_format f);
/* JOURNAL when stderr is the stream systemd's JOURNAL_STREAM names,
 * else TEXT. */
enum sg_log_format sg_log_format_auto(void);
enum sg_log_level sg_log_get_level(void);
/* Parse "error", "warn", "info", "debug"; returns -1 if unknown. */
int sg_log_level_parse(const char *s);

void sg_log(enum sg_log_level lvl, const char *who, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Per-call-site limiter state; zero-initialise a static one. */
struct sg_log_rl {
	int64_t next_ns;
	uint64_t suppressed;
};

void sg_log_rl(struct sg_log_rl *rl, enum sg_log_level lvl, const char *who, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define sg_error(who, ...) sg_log(SG_LOG_ERROR, who, __VA_ARGS__)
#define sg_warn(who, ...)  sg_log(SG_LOG_WARN, who, __VA_ARGS__)
#define sg_info(who, ...)  sg_log(SG_LOG_INFO, who, __VA_ARGS__)
#define sg_debug(who, ...) sg_log(SG_LOG_DEBUG, who, __VA_ARGS__)

#endif
