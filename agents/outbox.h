/* outbox.h: the agent's durable outbox (store-and-forward), one directory.
 *
 * Why an append-only file and not RocksDB: the agent only ever appends
 * events, marks them done, and rewrites the few still pending; a log file
 * with checksummed records, one fdatasync per batch and a rewrite-and-rename
 * compaction does exactly that, with recovery rules we can state (and test)
 * byte for byte, no background threads, no extra dependency in the agent
 * and a directory an operator can reason about. RocksDB would bring its own
 * WAL, compaction threads and tuning for a queue that is usually empty.
 *
 * The directory holds:
 *   outbox.log        the log: checksummed records (layout in outbox.c)
 *   dead-letter.jsonl events the daemon REJECTED (JSON Lines, for people)
 *   lock              flock()ed while an agent has the outbox open
 *
 * Contract:
 * - An event is in the outbox once outbox_add returned 0: its record was
 *   written and fdatasync()ed. A batch is atomic: after a crash at any
 *   point, either all of its events are there or none.
 * - An event leaves only by outbox_ack (the daemon said ACCEPTED or
 *   DUPLICATE) or outbox_reject (REJECTED: first written to the dead-letter
 *   file and synced, then marked done). Leave marks are buffered and
 *   written by outbox_commit as one synced record (every record is synced
 *   before the next is written, so after a power loss the log is a clean
 *   prefix); a mark lost in a crash only means the event is sent again, and
 *   the daemon answers DUPLICATE (it dedupes on event_id forever), so
 *   nothing is lost or stored twice. A failed append is cut off again.
 * - A torn tail (a crash in the middle of an append) is cut off at open:
 *   records are read up to the first one that is incomplete or fails its
 *   CRC, and the file is truncated there. If a valid record follows a bad
 *   one (not a torn append but damage), open fails with -EBADMSG instead
 *   of dropping data.
 * - Each event gets an entry number (the "ticket"), increasing, never
 *   reused in this outbox. Entries are handed out by outbox_next in the
 *   order they were added; a handed-out ("claimed") entry is not handed out
 *   again until released (outbox_release, outbox_release_all) or reopened.
 * - At most one event with a given event_id is pending: outbox_add skips
 *   (and flags) items whose id is already pending.
 * - Bounded growth: outbox_commit compacts (rewrites only what is pending
 *   into a new file, fsyncs it, renames it over the log, fsyncs the
 *   directory) once done entries make up at least half of a log of
 *   compact_min bytes or more, or the log holds nothing pending and is
 *   over 64 KiB. A crash during compaction leaves the old or the new log,
 *   both complete.
 * - A dead-letter line is written at most once per entry, also when a
 *   crash comes between the dead-letter write and the done mark (open
 *   reads the entry numbers at the end of the dead-letter file).
 * - "Taken" sources: outbox_add may record a source name with a content
 *   hash (a spool file); outbox_taken says whether that exact file was
 *   taken in and not yet cleared (outbox_clear_taken, once the file has
 *   been moved away). This closes the window between taking a file in and
 *   moving it out of the spool.
 * - One process at a time: open takes an exclusive flock on DIR/lock and
 *   fails with -EBUSY if another agent holds it.
 * - Nothing here logs. Not thread-safe. */
#ifndef COHORT_OUTBOX_H
#define COHORT_OUTBOX_H
#include <stddef.h>
#include <stdint.h>

#define OUTBOX_HASH_LEN 32 /* bytes of a source content hash */

typedef struct outbox_t outbox_t;

/* Options; zero-initialise. */
typedef struct {
    uint64_t compact_min; /* log size from which half-dead logs are compacted (default 4 MiB) */
} outbox_opts_t;

/* What open found. */
typedef struct {
    uint64_t pending;    /* events waiting for a final ack */
    uint64_t torn_bytes; /* bytes of a torn tail cut off */
    uint64_t log_bytes;  /* size of the log after recovery */
} outbox_info_t;

/* One event to add. */
typedef struct {
    uint8_t id[16];   /* event_id */
    const void *data; /* the packed Event */
    size_t len;       /* its length */
    uint32_t line;    /* line or row in the source (for reports) */
    int skipped;      /* out: 1 if not added (an event with this id is pending) */
} outbox_item_t;

/* A pending event as handed out by outbox_next. Pointers are valid until
 * the next call on the outbox. */
typedef struct {
    uint64_t ticket;     /* the entry number */
    uint8_t id[16];      /* event_id */
    const uint8_t *data; /* the packed Event */
    size_t len;          /* its length */
    const char *source;  /* where it came from (file name, "-") */
    uint32_t line;       /* line or row in the source */
} outbox_event_t;

/* Opens (creating if needed: the directory itself, not its parents) the
 * outbox in dir, recovers the log and locks the directory. opts and info
 * may be NULL. Returns 0 and *out, or a negative errno with a message in
 * err: -EBUSY (in use), -EBADMSG (damaged log), or the failing call's. */
int outbox_open(outbox_t **out, const char *dir, const outbox_opts_t *opts, outbox_info_t *info,
                char *err, size_t errlen);

/* Writes buffered leave marks, compacts when nothing is pending, syncs,
 * unlocks, frees and nulls *self_p. Idempotent. */
void outbox_close(outbox_t **self_p);

/* Adds n events from source (a name for reports; may be "") as one
 * atomic, synced record; items whose id is already pending are skipped
 * and flagged. src_hash (OUTBOX_HASH_LEN bytes, or NULL) marks the source
 * as taken (see outbox_taken). Returns the number added (>= 0), or a
 * negative errno (nothing added, the log unchanged). */
int outbox_add(outbox_t *self, const char *source, const uint8_t *src_hash, outbox_item_t *items,
               size_t n);

/* 1 if a source with this name and content hash was taken in by
 * outbox_add and not cleared since, else 0. */
int outbox_taken(const outbox_t *self, const char *source, const uint8_t hash[OUTBOX_HASH_LEN]);

/* Forgets that source (name and hash) was taken (a small record, not
 * synced). Returns 0, or a negative errno. */
int outbox_clear_taken(outbox_t *self, const char *source, const uint8_t hash[OUTBOX_HASH_LEN]);

/* Hands out the next pending event that is not claimed, in add order, and
 * claims it. Returns 1 with *ev filled, 0 if there is none, or a negative
 * errno (reading the log failed). */
int outbox_next(outbox_t *self, outbox_event_t *ev);

/* Source and line of a pending entry. Returns 0, or -ENOENT. */
int outbox_where(const outbox_t *self, uint64_t ticket, const char **source, uint32_t *line);

/* The entry was ACCEPTED or DUPLICATE: it leaves the outbox (mark
 * buffered until outbox_commit). Returns 0, -ENOENT (no such entry) or
 * -EALREADY (already left). */
int outbox_ack(outbox_t *self, uint64_t ticket);

/* The entry was REJECTED with code (a name) and reason: it is appended to
 * the dead-letter file (the event as JSON with code, reason, source, line,
 * entry and time; synced), then leaves like outbox_ack. Returns 0,
 * -ENOENT, -EALREADY, or a negative errno from writing the dead letter
 * (then it stays pending and claimed). */
int outbox_reject(outbox_t *self, uint64_t ticket, const char *code, const char *reason);

/* Unclaims the entry (it was not delivered): outbox_next hands it out
 * again, before any later entry. Returns 0 or -ENOENT. */
int outbox_release(outbox_t *self, uint64_t ticket);

/* Unclaims every claimed entry. */
void outbox_release_all(outbox_t *self);

/* Writes buffered leave marks (one synced record), then compacts if due. Returns 0
 * or a negative errno. */
int outbox_commit(outbox_t *self);

/* Compacts now: the log is rewritten with only the pending entries (and
 * uncleared taken sources). Returns 0 or a negative errno (the old log
 * stays in use). */
int outbox_compact(outbox_t *self);

/* Retention (cohort-agent --retention-days): what the daemon has answered
 * is not kept. Rewrites the dead-letter file without its lines whose
 * deadLetteredAt is before cutoff (Unix seconds, UTC; lines without a
 * readable deadLetteredAt are kept), synced and renamed into place, or
 * removes it when no line is left; then, if the log holds entries that have
 * left (acked or dead-lettered), compacts it so that their packed events
 * are gone from the disk. *dropped (may be NULL) gets the number of
 * dead-letter lines removed. Returns 1 if the log was compacted, 0 if
 * not, or a negative errno (what was not done stays as it was). */
int outbox_expire(outbox_t *self, int64_t cutoff, uint64_t *dropped);

/* Events pending (claimed or not). */
uint64_t outbox_pending(const outbox_t *self);

/* Events pending and not claimed. */
uint64_t outbox_unclaimed(const outbox_t *self);

/* Current size of the log file in bytes. */
uint64_t outbox_log_bytes(const outbox_t *self);

/* Path of the dead-letter file (it may not exist yet). */
const char *outbox_dead_letter_path(const outbox_t *self);

/* Dead-letter lines written since open. */
uint64_t outbox_dead_letters(const outbox_t *self);

#endif
