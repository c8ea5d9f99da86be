/* spool.h: the watched spool directory of `cohort-agent watch`.
 *
 * Contract:
 * - A file is ready when it is a regular file in SPOOL (not in a
 *   subdirectory) whose name ends in .jsonl or .csv (any case) and does not
 *   start with '.'. Writers write elsewhere or under a name that is not
 *   ready (NAME.tmp, .NAME) and then rename it into place (the safe
 *   convention: a file is then never seen half-written). Ready files are listed in byte order of their
 *   names: name files so that this is the order they should be applied in.
 * - A ready file is taken only once it has settled (spool_settle): it is
 *   not empty, and its size and mtime (and inode) have not changed for the
 *   settle time. That guards writers that create the file in place (a
 *   shell redirect, cp, scp, an export job) as long as they never pause
 *   for longer than the settle time; the reader checks again after reading
 *   (intake.h: -EAGAIN). The safe convention is still tmp + rename.
 * - Other files in SPOOL are left alone; spool_list reports each such name
 *   once per run (unless it is a dotfile or ends in .tmp).
 * - A file leaves SPOOL by rename, into SPOOL/done/ or SPOOL/failed/ (made
 *   at open), under its own name, or NAME.1, NAME.2, ... if that is taken
 *   (never overwriting). A failed file gets a reason file beside it:
 *   failed/NAME.reason. Both directories are fsynced after the move.
 * - A file moved into done/ or failed/ gets the time of the move as its
 *   mtime, so that retention (spool_expire) counts from then.
 * - Nothing here logs. */
#ifndef COHORT_SPOOL_H
#define COHORT_SPOOL_H
#include <stddef.h>
#include <stdint.h>

typedef struct spool_t spool_t;

/* Opens the spool directory dir (which must exist) and makes done/ and
 * failed/ in it. Returns 0 and *out, or a negative errno with a message in
 * err. */
int spool_open(spool_t **out, const char *dir, char *err, size_t errlen);

/* Frees and nulls *self_p. Idempotent. */
void spool_close(spool_t **self_p);

/* The spool directory. */
const char *spool_dir(const spool_t *self);

/* Lists the ready files (sorted) into *names (*n of them) and the names of
 * other files not reported before into *ignored (*nignored); free both
 * with spool_free_names. Returns 0 or a negative errno. */
int spool_list(spool_t *self, char ***names, size_t *n, char ***ignored, size_t *nignored);

/* spool_settle's answers. */
enum {
    SPOOL_CHANGING = 0,  /* changed within the settle time (or first seen): wait */
    SPOOL_SETTLED = 1,   /* unchanged for the settle time and not empty: take it */
    SPOOL_EMPTY_NEW = 2, /* empty and unchanged for the settle time: never taken
                            (this answer once per such state, SPOOL_EMPTY after) */
    SPOOL_EMPTY = 3,     /* as SPOOL_EMPTY_NEW, already answered once */
};

/* Whether the ready file SPOOL/name has settled: compares what fstatat
 * says now (inode, size, mtime) with what the earlier calls saw; now_ms is
 * the caller's monotonic clock in ms. Returns a SPOOL_* answer above, with
 * *wait_ms the time until it can settle if nothing changes (0 unless
 * SPOOL_CHANGING), or a negative errno (-ENOENT: gone). What is noted of a
 * file is forgotten once spool_list no longer lists it as ready. */
int spool_settle(spool_t *self, const char *name, unsigned settle_ms, uint64_t now_ms,
                 unsigned *wait_ms);

/* Starts SPOOL/name's settle time again from now_ms (it changed while it
 * was read). */
void spool_unsettle(spool_t *self, const char *name, uint64_t now_ms);

/* Frees a list from spool_list. */
void spool_free_names(char **names, size_t n);

/* Moves SPOOL/name into done/. The name used there goes into moved
 * (len bytes, may be NULL). Returns 0 or a negative errno. */
int spool_done(spool_t *self, const char *name, char *moved, size_t len);

/* Moves SPOOL/name into failed/ and writes reason (text, a newline is
 * added if missing) to failed/<name used>.reason. Returns 0 or a negative
 * errno (the move failed; a failure to write the reason is ignored after
 * a successful move, as the file is out of the way either way). */
int spool_fail(spool_t *self, const char *name, const char *reason, char *moved, size_t len);

/* Moves done/done_name (where spool_done put a file) into failed/, as
 * spool_fail does: a file taken in whose every event was then rejected
 * (dead-lettered) does not stay in done/. Returns 0 or a negative errno
 * (-ENOENT: it is no longer in done/). */
int spool_refail(spool_t *self, const char *done_name, const char *reason, char *moved, size_t len);

/* Retention (cohort-agent --retention-days): removes the regular files in
 * done/ and failed/ (reason files too) last modified before cutoff (Unix
 * seconds); adds how many to *removed. Other entries are left alone.
 * Returns 0 or a negative errno (the first failure; the rest is still
 * tried). */
int spool_expire(spool_t *self, int64_t cutoff, unsigned *removed);

#endif
