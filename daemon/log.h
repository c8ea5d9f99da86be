/* log.h: the daemon's log. Lines go to stderr with a syslog priority prefix
 * ("<3>", "<6>", ...) so journald records levels. Contract for callers: no
 * personal data in a log line (no participant refs, no event bodies); ids
 * of agencies, sequence numbers and counts are fine.
 *
 * Forgery (issue 13 item 8): one call writes exactly one line. After
 * formatting, every control byte (0x00-0x1f, 0x7f), every byte of invalid
 * UTF-8 and the bytes of C1 controls (U+0080-U+009F) are written as \xNN,
 * so bytes a peer chose (a topic, a path) can never start a line of their
 * own, such as "<2>auth: accepted key ... as operator". A message longer
 * than COHORT_LOG_MAX bytes is cut there and ends with "...".
 *
 * Flooding: cohort_log_limited writes at most COHORT_LOG_BURST lines per
 * key in each COHORT_LOG_WINDOW_MS window; the rest are counted and the
 * count is logged (see there). Memory is a fixed table of
 * COHORT_LOG_KEYS keys. Every function here is thread-safe. */
#ifndef COHORT_LOG_H
#define COHORT_LOG_H
#include <stdint.h>
#include <stdio.h>
#include <syslog.h>

#define COHORT_LOG_MAX 1024        /* bytes of one formatted message, before escaping */
#define COHORT_LOG_BURST 5         /* lines per key per window */
#define COHORT_LOG_WINDOW_MS 60000 /* the rate limit's window */
#define COHORT_LOG_KEYS 256        /* keys tracked at once (then the least recent goes) */
#define COHORT_LOG_KEY_MAX 63      /* bytes of a key that count (longer ones are cut) */

/* Sets the most verbose priority written (LOG_ERR .. LOG_DEBUG). */
void cohort_log_set_level(int prio);

/* Parses "error", "warning", "notice", "info" or "debug". Returns the
 * priority, or -EINVAL for anything else. */
int cohort_log_parse_level(const char *name);

/* Writes one line at priority prio (LOG_ERR, LOG_WARNING, ... LOG_DEBUG),
 * escaped as above. */
void cohort_log(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* As cohort_log, for lines a peer can cause over and over (refusals):
 * key names the source (e.g. "ingest-unauth:" + a key's fingerprint).
 * Within a window that starts at the key's first line, the first
 * COHORT_LOG_BURST calls are written and later ones only counted. The
 * first line written for the key after its window ends with
 * " (N similar lines suppressed)"; cohort_log_limited_flush writes the
 * count of a key that falls silent. So lines written plus every N add up to
 * the calls made. A key evicted from the full table has its count written
 * first. A line below the log level is neither written nor counted. */
void cohort_log_limited(int prio, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes the pending count of every key whose window has ended (all: of
 * every key), as its last suppressed line followed by
 * " (N similar lines suppressed)", N counting the others. The daemon calls
 * it every few seconds and when it stops. */
void cohort_log_limited_flush(int all);

/* For tests: the clock of the rate limit (milliseconds, monotonic), NULL
 * for the real one; and where lines go (NULL: stderr). */
void cohort_log_set_clock(uint64_t (*now_ms)(void));
void cohort_log_set_output(FILE *f);

#endif
