/* store.h: the durable event store, in RocksDB.
 *
 * Column families:
 *   log     key = 8-byte big-endian sequence, value = the packed Event.
 *           Sequences start at 1 and are gap-free: a sequence and its event
 *           are written in the same atomic WriteBatch.
 *   dedupe  key = [16-byte event_id][agency], value = 8-byte big-endian
 *           sequence. Permanent: an (agency, event_id) pair is stored at
 *           most once, ever. (The agency is 1-64 characters of [a-z0-9._-],
 *           so the key is unambiguous.)
 *   meta    format version and other small facts.
 *   pkeys   key = agency NUL participant_ref, value = that participant's
 *           sealing key record (daemon/vault.h). Written and deleted only
 *           as side writes of a log append (store_batch_side), so a key and
 *           the log entry that needs or destroys it are one atomic write.
 *           Created when a store from before it is opened for writing; a
 *           read-only open of such a store sees it empty.
 *
 * Durability: a batch is durable once synced (store_write, store_commit,
 * store_sync after store_append). A small sync writes the appended batches
 * to the ack journal, the file "journal" beside RocksDB's (journal.h),
 * instead of syncing RocksDB's WAL; every read-write open first writes back
 * to RocksDB the journaled batches a crash took from it (from the middle of
 * the log too), then checks the log gap-free from the journal's oldest
 * record to the head, and refuses to open (-EUCLEAN, the missing seqs in
 * err) when a gap remains. A read-only open
 * does not: after a power loss, tools see those batches only once the
 * daemon (or another read-write open) has started.
 *
 * Threading: store_commit() runs on one worker thread at a time; every other
 * call is made while no commit is running (the ingest pipeline guarantees
 * that), except calls documented to take the store's lock, which may run
 * beside a commit but never beside store_reopen. store_open with STORE_READONLY may run beside a
 * live daemon. */
#ifndef COHORT_STORE_H
#define COHORT_STORE_H
#include <stddef.h>
#include <stdint.h>

typedef struct store_t store_t;
typedef struct store_batch_t store_batch_t;

enum {
    STORE_READONLY = 1 << 0, /* open without writing; no lock taken */
};

enum store_result {
    STORE_PENDING = 0,   /* not committed yet */
    STORE_ACCEPTED = 1,  /* appended at its seq by this commit */
    STORE_DUPLICATE = 2, /* stored earlier (or earlier in this batch) at seq */
    STORE_FAILED = 3,    /* the commit failed; nothing of the batch stored */
    STORE_REPEAT = 4,    /* after store_dedupe: repeats item store_batch_first() */
    STORE_REJECTED = 5,  /* refused by the caller between dedupe and write */
};

/* Opens (creating if missing, unless STORE_READONLY) the store in dir.
 * Returns 0 and *out, or a negative errno with the reason (RocksDB's text)
 * in err: -EUCLEAN for a read-write open that finds a gap in the log the
 * ack journal cannot fill (see Durability). */
int store_open(store_t **out, const char *dir, int flags, char *err, size_t errlen);

/* Flushes nothing extra (every commit is already synced), closes RocksDB and
 * frees; nulls *self_p. Idempotent. */
void store_close(store_t **self_p);

/* Closes and reopens the database, which is how RocksDB leaves the
 * read-only state it enters after a failed write (the C API has no
 * Resume). Runs where commits run, never beside one. An event whose write
 * failed may reappear if its WAL record reached the file; the head is
 * reread either way. Returns 0, or a negative errno with the reason in err:
 * the store is then closed, every operation fails with -EIO, and
 * store_reopen may be tried again. */
int store_reopen(store_t *self, char *err, size_t errlen);

/* Last sequence in the log (0 when empty). */
uint64_t store_head(const store_t *self);

/* Events the last open (or reopen) wrote back from the ack journal because
 * RocksDB had lost them in a crash (0 for read-only opens). */
uint64_t store_recovered(const store_t *self);

/* Why a read-write store works without its ack journal (it could not be
 * created: less than 16 MiB free), or NULL when it has one or is
 * read-only. Without it every sync is RocksDB's WAL sync; the next open or
 * reopen tries again. The text is the store's. */
const char *store_no_journal(const store_t *self);

/* Step 1 of a commit: marks each item found in the dedupe index
 * STORE_DUPLICATE (with its stored seq) and each repeat of an earlier item
 * of the same batch STORE_REPEAT; the rest stay STORE_PENDING. Returns 0, or
 * -EIO/-ENOMEM with the reason in err (every item then STORE_FAILED). */
int store_dedupe(store_t *self, store_batch_t *batch, char *err, size_t errlen);

/* Step 3 of a commit: appends every STORE_ACCEPTED item, and its dedupe
 * entry, in one synced write. Accepted items must carry the sequences
 * head+1, head+2, ... in batch order (-EINVAL otherwise: a programmer
 * error). Returns 0 when they are durable, or -EIO with RocksDB's reason in
 * err, in which case nothing is stored, the head is unchanged and every
 * item becomes STORE_FAILED. */
int store_write(store_t *self, store_batch_t *batch, char *err, size_t errlen);

/* store_write without the sync: the batch is in the log (readable, and
 * found by store_dedupe) but not durable until a store_sync() that starts
 * after this returns. Same results and errors as store_write. */
int store_append(store_t *self, store_batch_t *batch, char *err, size_t errlen);

/* Makes every write that returned before this call durable: writes them to
 * the ack journal and fdatasyncs it, or, when they are more than
 * JOURNAL_FLUSH_MAX bytes, do not fit in the journal or its write fails,
 * fdatasyncs RocksDB's WAL and starts the journal afresh. May run on
 * another thread beside one store_dedupe/store_append (never beside
 * store_reopen). Returns 0, or -EIO with RocksDB's reason: what was
 * appended since the last successful sync is then not known to be
 * durable, and RocksDB refuses writes until store_reopen. */
int store_sync(store_t *self, char *err, size_t errlen);

/* Dedupes and appends the batch in one synced write (store_dedupe, every
 * pending item accepted, store_write). Events new to the store
 * get consecutive sequences after the head; repeats, in the store or earlier
 * in the same batch, get their original sequence. Returns 0 when the batch
 * is durable, or -EIO with RocksDB's reason in err, in which case nothing of
 * the batch is stored, the head is unchanged and every item is
 * STORE_FAILED. */
int store_commit(store_t *self, store_batch_t *batch, char *err, size_t errlen);

/* Looks up the sequence stored for (agency, event_id). Returns 0 with *seq,
 * -ENOENT if never stored, or -EIO. */
int store_lookup(store_t *self, const char *agency, const uint8_t id[16], uint64_t *seq);

/* Calls fn for each log entry with from <= seq, in order, until fn returns
 * non-zero or limit entries were visited (0 = no limit). The value is valid
 * only during the call. Returns 0, fn's non-zero value, or -EIO. Takes the
 * store's lock (read), like store_checkpoint: may run on any thread beside
 * a commit, and a store_reopen waits for it. */
int store_scan(store_t *self, uint64_t from, uint64_t limit,
               int (*fn)(void *arg, uint64_t seq, const void *val, size_t len), void *arg);

/* Returns a new, empty batch, or NULL when out of memory. */
store_batch_t *store_batch_new(void);

/* Frees the batch; nulls *self_p. Idempotent. */
void store_batch_destroy(store_batch_t **self_p);

/* Empties the batch, keeping its memory for reuse. */
void store_batch_reset(store_batch_t *self);

/* Adds one event (agency: 1..255 bytes, NUL-terminated; id: 16 bytes; val:
 * the packed Event, copied). Returns the item's index, or -ENOMEM. */
int store_batch_add(store_batch_t *self, const char *agency, const uint8_t id[16], const void *val,
                    size_t len);

/* Drops the items from index n on (n <= count): an undo of the last adds. */
void store_batch_truncate(store_batch_t *self, size_t n);

/* Number of events in the batch. */
size_t store_batch_count(const store_batch_t *self);

/* Bytes of event data in the batch. */
size_t store_batch_bytes(const store_batch_t *self);

/* Result of item i after store_commit (enum store_result); *seq is set for
 * STORE_ACCEPTED and STORE_DUPLICATE. */
int store_batch_result(const store_batch_t *self, size_t i, uint64_t *seq);

/* For a STORE_REPEAT item: the index of the earlier item it repeats. */
size_t store_batch_first(const store_batch_t *self, size_t i);

/* Step 2 of a commit, per item: accept at seq, mark a duplicate of seq, or
 * reject (never stored). */
void store_batch_accept(store_batch_t *self, size_t i, uint64_t seq);
void store_batch_duplicate(store_batch_t *self, size_t i, uint64_t seq);
void store_batch_reject(store_batch_t *self, size_t i);

/* Reads a metadata value (e.g. the projection checkpoint). Returns 0 with a
 * malloc'd *val (caller frees) and *len, -ENOENT, or -EIO. */
int store_get_meta(store_t *self, const char *key, char **val, size_t *len);

/* Writes a metadata value with a synced write. Returns 0 or -EIO (reason in
 * err). Runs only where commits run (the worker), or when none can. */
int store_put_meta(store_t *self, const char *key, const void *val, size_t len, char *err,
                   size_t errlen);

/* Marks every item STORE_FAILED: the batch was not stored. */
void store_batch_fail(store_batch_t *self);

/* Sequences newly accepted by the last commit of this batch. */
size_t store_batch_accepted(const store_batch_t *self);

/* Writes a consistent point-in-time copy of the whole store into dir (a
 * checkpoint: every column family as of one commit boundary, so the copy's
 * log, dedupe index and metadata agree). dir must not exist, its parent
 * must, and "<dir>.tmp" (RocksDB's staging directory) must not exist either.
 * While an erasure's purge is owed (STORE_PURGE_META), the store's files
 * are first purged as store_purge does (not the journal), so the copy never
 * holds a deleted key. The memtables are flushed first; SST files are then
 * hard-linked when dir
 * is on the same file system (copied otherwise), the WAL tail and manifest
 * copied, everything synced, and dir made mode 0700. The copy is then
 * opened read-only and *seq set to its head.
 * Threading: takes the store's lock (read), so it may run on any thread
 * beside a commit (RocksDB's checkpoint is thread-safe), and a store_reopen
 * waits for it; at most one at a time, never overlapping store_close. It
 * may take long (flush, copies): never on the loop thread.
 * Returns 0, -EEXIST (dir or its staging directory exists), -EROFS (a
 * read-only store), -EINVAL, or -EIO/-errno with the reason in err. */
int store_checkpoint(store_t *self, const char *dir, uint64_t *seq, char *err, size_t errlen);

/* Calls fn for each dedupe entry, in key order, until fn returns non-zero:
 * agency (NUL-terminated) and id (16 bytes) are valid only during the call,
 * and both NULL for a malformed key; seq is the stored sequence, 0 for a
 * malformed value. Returns 0, fn's non-zero value, or -EIO. Same threading
 * as store_scan (for tools: cohortctl verify). */
int store_scan_dedupe(store_t *self,
                      int (*fn)(void *arg, const char *agency, const uint8_t *id, uint64_t seq),
                      void *arg);

/* Column families that take side writes. */
enum { STORE_CF_PKEYS = 1, STORE_CF_META = 2 };

/* Adds a side write to the batch: a put of val (vlen bytes, may be 0) at
 * key, or a delete of key when val is NULL, in family cf (STORE_CF_*).
 * store_write/store_append write the side writes, in the order added and
 * before the log entries, in the same WriteBatch as the batch's accepted
 * events, and only when at least one event is accepted (so a side write
 * must belong to an accepted event). store_batch_reset drops them.
 * Returns 0, -EINVAL, or -ENOMEM. */
int store_batch_side(store_batch_t *self, int cf, const void *key, size_t klen, const void *val,
                     size_t vlen);

/* Replaces the value (the packed event) of item i with a copy of val. The
 * old bytes stay in the batch's buffer until reset; store_batch_truncate
 * must not be used after this. Returns 0, -EINVAL, or -ENOMEM. */
int store_batch_set_value(store_batch_t *self, size_t i, const void *val, size_t len);

/* Reads the pkeys value at key. Returns 0 with a malloc'd *val (caller
 * frees) and *len, -ENOENT, or -EIO. Same threading as store_lookup. */
int store_get_pkey(store_t *self, const void *key, size_t klen, void **val, size_t *len);

/* Calls fn for each pkeys entry in key order until fn returns non-zero (key
 * and val valid only during the call). Returns 0, fn's value, or -EIO. Same
 * threading as store_scan (for tools and tests). */
int store_scan_pkeys(store_t *self,
                     int (*fn)(void *arg, const void *key, size_t klen, const void *val,
                               size_t vlen),
                     void *arg);

/* Makes deleted pkeys and replaced meta values physically go from the live
 * store's files: flushes the memtables of every family (so that no live WAL
 * file is still needed for them; RocksDB unlinks the obsolete ones, and
 * recycles none), then compacts all of pkeys and meta down to the
 * bottommost level, rewriting its files (deleted values and their
 * tombstones are dropped; the old files are unlinked), then zeroes the ack
 * journal (journal_scrub: every batch appended before the flush is in
 * synced SST files now). Not erased by this: copies made earlier (backups,
 * checkpoints that hard-link the old files) and freed blocks of the file
 * system. Runs where commits run, never beside store_append/store_commit
 * (the journal's contract); a store_sync may run beside it. Takes the
 * store's lock (read), like store_checkpoint; may take long, so never on
 * the loop thread while serving. Returns 0, -EROFS, or -EIO/-errno with
 * the reason in err. */
int store_purge(store_t *self, char *err, size_t errlen);

/* The meta key whose value is "1" while an erasure's purge is owed
 * (written with the erasure, cleared after store_purge; vault.h). While it
 * is set, store_checkpoint flushes and compacts as store_purge does (not
 * the journal, which it does not copy) before copying. */
#define STORE_PURGE_META "erase-pending"

#endif
