/* journal.h: the ack journal, a fixed-size file of write-batch records that
 * makes small commits durable with an fdatasync that overwrites blocks in
 * place, instead of one that appends to RocksDB's WAL.
 *
 * Why: on ext4 an fdatasync of an appending file must also write the inode
 * (its size changed), a second serial I/O before the cache flush; the
 * journal file is written in full once, at creation, so later writes
 * change no metadata. The store (store.c) writes every batch to RocksDB
 * unsynced, adds the batch's WriteBatch to the journal, and at sync time
 * either writes and syncs the journal records (small syncs) or syncs
 * RocksDB's WAL and starts the journal afresh (large syncs, or when the
 * records would not fit before the end of the file).
 *
 * File: "journal" in the data directory, JOURNAL_SIZE bytes, records packed
 * from offset 0, each a 48-byte header then len bytes of payload:
 *   0  magic "CJR1"
 *   4  len, u32 little-endian
 *   8  epoch, u64 LE: random, new at every journal_reset
 *   16 first, u64 LE: first log sequence of the batch
 *   24 last, u64 LE: last log sequence of the batch
 *   32 16-byte BLAKE2b of bytes 0-31 and the payload
 * The records of the current epoch run from offset 0 to the first record
 * that is torn, of another epoch, or not a record at all.
 *
 * Invariants (the store keeps them):
 *   - a record is added only after its batch was written to RocksDB, and
 *     the records of an epoch carry consecutive, gap-free sequences;
 *   - journal_reset is called only after a RocksDB WAL sync that started
 *     after every flushed or refused record was added, so the new epoch
 *     starts where RocksDB's durable log ends: the records still pending
 *     (added since) come first in it, or are dropped when they are in
 *     RocksDB's synced WAL too (a reopen);
 *   - journal_flush runs on one thread at a time; journal_add may run
 *     beside it on one other thread; journal_reset and journal_scrub may
 *     run beside a flush (they wait for it), never beside each other.
 * A reset leaves the bytes of older epochs in the file (only the next
 * flushes overwrite them); journal_scrub zeroes them, for erasure: an old
 * record may hold a destroyed participant key (daemon/vault.h).
 * After a crash, the records of the current epoch that RocksDB lost are
 * written back to it by the store (journal_scan), in order, each exactly
 * once. */
#ifndef COHORT_JOURNAL_H
#define COHORT_JOURNAL_H
#include <stddef.h>
#include <stdint.h>

#define JOURNAL_NAME "journal"
#define JOURNAL_SIZE (16u << 20)      /* bytes of the file (tests: see journal.c) */
#define JOURNAL_HEADER 48             /* bytes before each payload */
#define JOURNAL_FLUSH_MAX (64u << 10) /* larger syncs go to RocksDB's WAL instead */

typedef struct journal_t journal_t;

/* Opens (creating it, or extending it to JOURNAL_SIZE, with zeros written
 * and synced) the journal at path. The records it holds stay readable by
 * journal_scan until journal_reset. Returns 0 and *out, or a negative
 * errno with what failed in err: -ENOSPC when it cannot be written in full
 * (a short file holds no records; it is left as it was, a new one
 * removed). */
int journal_open(journal_t **out, const char *path, char *err, size_t errlen);

/* Closes the file and frees; nulls *self_p. Idempotent. */
void journal_close(journal_t **self_p);

/* Calls fn, in file order, for each record of the epoch found at offset 0,
 * until fn returns non-zero or the epoch ends. payload is valid only during
 * the call. Returns 0, fn's non-zero value, or -EIO (read error). */
int journal_scan(journal_t *self,
                 int (*fn)(void *arg, uint64_t first, uint64_t last, const void *payload,
                           size_t len),
                 void *arg);

/* Starts a new epoch at offset 0 (see the invariants). Records added but
 * not yet flushed are kept (they follow the durable ones) unless drop is
 * set. No I/O: the next flush overwrites the file, but only as far as it
 * writes (journal_scrub erases the rest). */
void journal_reset(journal_t *self, int drop);

/* Erases every record: drops the pending ones (wiping their memory),
 * overwrites with zeros every byte of the file a record may occupy (the
 * whole file at the first scrub after journal_open, then what flushes
 * wrote since the last scrub), fdatasyncs it, and starts a new epoch at
 * offset 0. Contract: every record added before the call is durable in
 * RocksDB without the journal (its memtables were flushed, or its WAL
 * synced, after the add), and no journal_add runs beside it; a
 * journal_flush beside it is waited for (or waits), and its records are
 * erased too. Returns 0, or -errno of a failed write or sync: the file is
 * then partly zeroed, its records (all durable) harmless to a scan, and the
 * next scrub zeroes the whole region again. */
int journal_scrub(journal_t *self);

/* Adds a record to the pending ones (copied; written by the next flush).
 * Pending records over JOURNAL_FLUSH_MAX bytes in all are not copied: the
 * next flush refuses them. Returns 0, or -ENOMEM (the next flush then
 * refuses too: journal_flush returns -ENOSPC). */
int journal_add(journal_t *self, uint64_t first, uint64_t last, const void *payload, size_t len);

/* Writes every record added before this call and fdatasyncs the file.
 * Returns 0 when they are durable; -ENOSPC when they do not fit before the
 * end of the file, are more than JOURNAL_FLUSH_MAX bytes, or an add failed
 * (nothing written: the caller makes them durable another way, then resets);
 * -EAGAIN when nothing was pending; or -errno of a failed write or sync. */
int journal_flush(journal_t *self);

#endif
