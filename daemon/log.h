/* log.h: the daemon's log. Lines go to stderr with a syslog priority prefix
 * ("<3>", "<6>", ...) so journald records levels. Contract for callers: no
 * personal data in a log line (no participant refs, no event bodies); ids
 * of agencies, sequence numbers and counts are fine. */
#ifndef COHORT_LOG_H
#define COHORT_LOG_H
#include <syslog.h>

/* Sets the most verbose priority written (LOG_ERR .. LOG_DEBUG). */
void cohort_log_set_level(int prio);

/* Parses "error", "warning", "notice", "info" or "debug". Returns the
 * priority, or -EINVAL for anything else. */
int cohort_log_parse_level(const char *name);

/* Writes one line at priority prio (LOG_ERR, LOG_WARNING, ... LOG_DEBUG). */
void cohort_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Like cohort_log, but at most a few lines a minute per key. */
void cohort_log_limited(int prio, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
