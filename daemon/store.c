/* store.c: the RocksDB event store (see store.h for the layout and the
 * threading contract). Longer than 1,000 lines on purpose: everything that
 * touches the RocksDB handle and its column families is here, so that the
 * one-atomic-WriteBatch invariant below can be checked in one file (the
 * journal's own format is journal.c). Invariant: the log's head and its dedupe entries only
 * ever change inside one atomic WriteBatch, so after any crash the log is
 * gap-free and every logged event has its dedupe entry. A batch is durable
 * once RocksDB's WAL was synced after it, or once its WriteBatch is in the
 * ack journal (journal.h), which a read-write open writes back to RocksDB
 * before anything else. */
#include "store.h"
#include "cohort_grow.h"
#include "journal.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <rocksdb/c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FORMAT "cohortd-store-2"
#define LOG_DIR "/dev/shm" /* RocksDB's info log: see store_open */
/* CF_PKEYS comes last: a read-only open of a store made before it existed
 * opens the others only (see dbopen). */
enum { CF_DEFAULT, CF_LOG, CF_DEDUPE, CF_META, CF_PKEYS, CF_COUNT };
static const char *cf_names[CF_COUNT] = {"default", "log", "dedupe", "meta", "pkeys"};

struct store_t {
    rocksdb_t *db;                                /* the database */
    rocksdb_options_t *opts;                      /* DB options */
    rocksdb_options_t *cf_opts[CF_COUNT];         /* per column family */
    rocksdb_block_based_table_options_t *table;   /* bloom filter, cache */
    rocksdb_cache_t *cache;                       /* shared block cache */
    rocksdb_column_family_handle_t *cf[CF_COUNT]; /* handles */
    rocksdb_writeoptions_t *wsync;                /* sync=true writes */
    rocksdb_writeoptions_t *wlazy;                /* sync=false writes (store_append) */
    rocksdb_readoptions_t *ropts;                 /* default reads */
    rocksdb_writebatch_t *wb;                     /* reused per commit */
    uint64_t head;                                /* last durable seq */
    int readonly;                                 /* opened read-only */
    int lock_inited;                              /* lock must be destroyed */
    int log_elsewhere;                            /* RocksDB's info log is in LOG_DIR */
    char *dir;                                    /* the store's directory */
    journal_t *jn;                                /* the ack journal (read-write opens), or NULL */
    char jn_why[256];      /* why a read-write store has no journal ("" if it has one) */
    uint64_t recovered;    /* events written back from the journal by the last open */
    pthread_rwlock_t lock; /* db may be replaced (store_reopen: write lock) while
                              a thread outside the commit path reads it (read lock) */
};

/* One event of a batch; offsets index the batch's buffers. */
typedef struct {
    uint32_t key_off, key_len; /* dedupe key in keys */
    uint32_t val_off, val_len; /* packed event in vals */
    uint64_t seq;              /* result sequence */
    int result;                /* enum store_result */
    uint32_t first;            /* STORE_REPEAT: the item it repeats */
} item_t;

/* One side write of a batch (store_batch_side): a put or delete in the
 * pkeys or meta column family; offsets index the batch's side buffer. */
typedef struct {
    int cf;                    /* CF_PKEYS or CF_META */
    int del;                   /* 1 = delete, 0 = put */
    uint32_t key_off, key_len; /* the key in side */
    uint32_t val_off, val_len; /* the value in side (put) */
} side_t;

struct store_batch_t {
    item_t *items; /* events, in arrival order */
    size_t n, cap; /* count and capacity of items */
    uint8_t *keys; /* dedupe keys, back to back */
    size_t keys_len, keys_cap;
    uint8_t *vals; /* packed events, back to back */
    size_t vals_len, vals_cap;
    uint32_t *slots;                /* in-batch hash table: item index + 1, 0 = empty */
    size_t nslots;                  /* power of two */
    const char **kptr;              /* MultiGet scratch: key pointers */
    size_t *klen;                   /* MultiGet scratch: key lengths */
    rocksdb_pinnableslice_t **vptr; /* MultiGet scratch: values */
    char **errs;                    /* MultiGet scratch: errors */
    size_t scratch_cap;             /* capacity of the scratch arrays */
    size_t accepted;                /* accepted by the last commit */
    side_t *sides;                  /* side writes, in the order added */
    size_t nsides, capsides;        /* their count and capacity */
    uint8_t *side;                  /* their keys and values, back to back */
    size_t side_len, side_cap;      /* bytes used and allocated */
};

static void be64(uint8_t out[8], uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        out[i] = (uint8_t)v;
}

static uint64_t rd64(const void *p)
{
    const uint8_t *b = p;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | b[i];
    return v;
}

/* Copies RocksDB's error text into err and frees it. Returns -EIO. */
static int rerr(char *rocks, const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s: %s", what, rocks ? rocks : "unknown RocksDB error");
    free(rocks);
    return -EIO;
}

/* Ends a scan: destroys it and returns -EIO if the iterator met a read
 * error, else rc (the scan's own result). */
static int iter_end(rocksdb_iterator_t *it, int rc)
{
    char *e = NULL;
    rocksdb_iter_get_error(it, &e);
    rocksdb_iter_destroy(it);
    if (e) {
        free(e);
        return -EIO;
    }
    return rc;
}

static int load_head(store_t *self, char *err, size_t errlen)
{
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(self->db, self->ropts, self->cf[CF_LOG]);
    char *e = NULL;
    self->head = 0;
    rocksdb_iter_seek_to_last(it);
    if (rocksdb_iter_valid(it)) {
        size_t klen;
        const char *k = rocksdb_iter_key(it, &klen);
        if (klen != 8) {
            rocksdb_iter_destroy(it);
            snprintf(err, errlen, "log has a key of %zu bytes; not a cohortd store", klen);
            return -EINVAL;
        }
        self->head = rd64(k);
    }
    rocksdb_iter_get_error(it, &e);
    rocksdb_iter_destroy(it);
    return e ? rerr(e, "reading the log head", err, errlen) : 0;
}

static int check_format(store_t *self, char *err, size_t errlen)
{
    char *e = NULL;
    size_t len;
    char *v = rocksdb_get_cf(self->db, self->ropts, self->cf[CF_META], "format", 6, &len, &e);
    if (e)
        return rerr(e, "reading the store format", err, errlen);
    if (!v) {
        if (self->readonly) {
            snprintf(err, errlen, "not a cohortd store (no format record)");
            return -EINVAL;
        }
        rocksdb_put_cf(self->db, self->wsync, self->cf[CF_META], "format", 6, FORMAT,
                       strlen(FORMAT), &e);
        return e ? rerr(e, "writing the store format", err, errlen) : 0;
    }
    int same = len == strlen(FORMAT) && memcmp(v, FORMAT, len) == 0;
    free(v);
    if (!same) {
        snprintf(err, errlen, "store format is not %s", FORMAT);
        return -EINVAL;
    }
    return 0;
}

/* Removes RocksDB's info log files for this store from LOG_DIR after a
 * clean close (after a crash they stay for diagnosis). RocksDB names them
 * after the absolute data path: its first "/" dropped, other characters
 * than [A-Za-z0-9.-] made "_", at most 255 bytes, then "_LOG" (and
 * "_LOG.old.<time>" for rotated ones). */
static void drop_info_log(const char *dir)
{
    char abs[PATH_MAX], prefix[300];
    size_t n = 0;
    DIR *d;
    struct dirent *de;
    if (!realpath(dir, abs) || !(d = opendir(LOG_DIR)))
        return;
    for (size_t i = 1; abs[i] && n < 255; i++)
        prefix[n++] =
            isalnum((unsigned char)abs[i]) || abs[i] == '.' || abs[i] == '-' ? abs[i] : '_';
    memcpy(prefix + n, "_LOG", 5);
    n += 4;
    while ((de = readdir(d)))
        if (strncmp(de->d_name, prefix, n) == 0 &&
            (de->d_name[n] == 0 || strncmp(de->d_name + n, ".old.", 5) == 0))
            unlinkat(dirfd(d), de->d_name, 0);
    closedir(d);
}

/* The journal's records, as recover reads them (journal_scan's payloads
 * live only during its callback). */
typedef struct {
    uint64_t first, last; /* log sequences of the batch */
    size_t off, len;      /* its WriteBatch in buf */
} jrec_t;

typedef struct {
    jrec_t *recs;      /* the records, in journal order */
    size_t n, cap;     /* their count and capacity */
    uint8_t *buf;      /* their payloads, back to back */
    size_t used, bcap; /* bytes used and allocated in buf */
} jrecs_t;

/* journal_scan callback: copies one record into the jrecs_t at arg. */
static int collect(void *arg, uint64_t first, uint64_t last, const void *payload, size_t len)
{
    jrecs_t *j = arg;
    if (cohort_grow((void **)&j->recs, &j->cap, j->n + 1, sizeof *j->recs) < 0 ||
        cohort_grow((void **)&j->buf, &j->bcap, j->used + len, 1) < 0)
        return -ENOMEM;
    memcpy(j->buf + j->used, payload, len);
    j->recs[j->n++] = (jrec_t){first, last, j->used, len};
    j->used += len;
    return 0;
}

/* Reads a varint32 at *p (before end); advances *p. Returns 0 or -1. */
static int varint32(const uint8_t **p, const uint8_t *end, uint32_t *v)
{
    *v = 0;
    for (int shift = 0; shift <= 28 && *p < end; shift += 7) {
        uint8_t c = *(*p)++;
        *v |= (uint32_t)(c & 0x7f) << shift;
        if (!(c & 0x80))
            return 0;
    }
    return -1;
}

/* Reads a length-prefixed slice at *p; advances *p. Returns 0 or -1. */
static int slice(const uint8_t **p, const uint8_t *end, const uint8_t **s, uint32_t *n)
{
    if (varint32(p, end, n) < 0 || *n > (size_t)(end - *p))
        return -1;
    *s = *p;
    *p += *n;
    return 0;
}

/* Whether RocksDB holds what the journal record's WriteBatch put in the log
 * and dedupe families: each log entry and each dedupe entry, with the same
 * value. The batch is parsed in RocksDB's WriteBatch format (a 12-byte
 * header, then tagged entries; the store writes only puts and deletes).
 * Returns 1 (all there), 0 (something missing or different), -1 (a read
 * failed or the batch is not one the store writes; RocksDB's error, if
 * any, in *e). */
static int batch_present(store_t *self, const jrec_t *r, const uint8_t *buf, char **e)
{
    const uint8_t *p = buf + r->off, *end = p + r->len;
    uint32_t log_id = rocksdb_column_family_handle_get_id(self->cf[CF_LOG]);
    uint32_t dd_id = rocksdb_column_family_handle_get_id(self->cf[CF_DEDUPE]);
    uint64_t logged = 0;
    if (r->len < 12)
        return -1;
    for (p += 12; p < end;) {
        uint8_t tag = *p++;
        uint32_t cf = 0, kl, vl = 0;
        const uint8_t *k, *v = NULL;
        int put;
        switch (tag) {
        case 0x1: /* kTypeValue */
        case 0x0: /* kTypeDeletion */
        case 0x7: /* kTypeSingleDeletion */
            break;
        case 0x5: /* kTypeColumnFamilyValue */
        case 0x4: /* kTypeColumnFamilyDeletion */
        case 0x8: /* kTypeColumnFamilySingleDeletion */
            if (varint32(&p, end, &cf) < 0)
                return -1;
            break;
        default:
            return -1;
        }
        put = tag == 0x1 || tag == 0x5;
        if (slice(&p, end, &k, &kl) < 0 || (put && slice(&p, end, &v, &vl) < 0))
            return -1;
        if (!put || (cf != log_id && cf != dd_id))
            continue;
        size_t got = 0;
        rocksdb_column_family_handle_t *h = self->cf[cf == log_id ? CF_LOG : CF_DEDUPE];
        rocksdb_pinnableslice_t *ps =
            rocksdb_get_pinned_cf(self->db, self->ropts, h, (const char *)k, kl, e);
        if (*e)
            return -1;
        const char *val = ps ? rocksdb_pinnableslice_value(ps, &got) : NULL;
        int same = val && got == vl && memcmp(val, v, vl) == 0;
        rocksdb_pinnableslice_destroy(ps);
        if (!same)
            return 0;
        logged += cf == log_id;
    }
    return logged == r->last - r->first + 1 ? 1 : -1;
}

/* Checks that the log holds every sequence from `from` to the head. Returns
 * 0, or -EUCLEAN with the first missing sequences in err, or -EIO. */
static int check_gapless(store_t *self, uint64_t from, const char *jtext, char *err, size_t errlen)
{
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(self->db, self->ropts, self->cf[CF_LOG]);
    uint64_t next = from, missing = 0, gap_from = 0, gap_to = 0;
    int ngaps = 0;
    uint8_t k[8];
    char *e = NULL;
    be64(k, from);
    for (rocksdb_iter_seek(it, (const char *)k, 8); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl;
        const char *key = rocksdb_iter_key(it, &kl);
        uint64_t seq = kl == 8 ? rd64(key) : 0;
        if (seq < next)
            continue; /* cannot happen: keys only grow */
        if (seq > next) {
            if (!ngaps++)
                gap_from = next, gap_to = seq - 1;
            missing += seq - next;
        }
        next = seq + 1;
    }
    rocksdb_iter_get_error(it, &e);
    rocksdb_iter_destroy(it);
    if (e)
        return rerr(e, "checking the log for gaps", err, errlen);
    if (!ngaps)
        return 0;
    snprintf(err, errlen,
             "the log has a gap the ack journal cannot fill: seqs %llu-%llu are missing (%llu "
             "missing in %d gap%s from seq %llu to the head %llu; %s); refusing to start: see "
             "\"A gap in the log\" in docs/operations.md",
             (unsigned long long)gap_from, (unsigned long long)gap_to, (unsigned long long)missing,
             ngaps, ngaps == 1 ? "" : "s", (unsigned long long)from, (unsigned long long)self->head,
             jtext);
    return -EUCLEAN;
}

/* Read-write opens: opens the journal (creating it on first use), writes
 * back every batch of it that RocksDB lost in a crash (from the middle of
 * the log too: a disk cache may write the WAL's pages back out of order),
 * checks that the log is gap-free from the journal's oldest record to the
 * head and that the dedupe index agrees with every record, and starts a
 * new epoch. Returns 0; -EUCLEAN (err says which seqs) when a gap or
 * disagreement remains that the journal cannot mend; or -errno. */
static int recover(store_t *self, char *err, size_t errlen)
{
    char path[PATH_MAX], jtext[96];
    jrecs_t j = {0};
    char *e = NULL;
    size_t bad = 0;
    int rc;
    self->recovered = 0;
    if (self->readonly)
        return 0;
    if (!self->jn) {
        if (snprintf(path, sizeof path, "%s/%s", self->dir, JOURNAL_NAME) >= (int)sizeof path) {
            snprintf(err, errlen, "data directory path too long");
            return -ENAMETOOLONG;
        }
        if ((rc = journal_open(&self->jn, path, self->jn_why, sizeof self->jn_why)) == -ENOSPC)
            return 0; /* commits sync RocksDB's WAL; the next open tries again */
        if (rc < 0) {
            snprintf(err, errlen, "%s", self->jn_why);
            return rc;
        }
        self->jn_why[0] = '\0';
    }
    if ((rc = journal_scan(self->jn, collect, &j)) < 0) {
        snprintf(err, errlen, "reading the journal: %s", strerror(-rc));
        goto out;
    }
    /* The first record RocksDB lacks, in whole or in part. From there on,
     * every record is written back, in order, present or not: writing a
     * present batch again changes nothing but its side writes, which then
     * end as the later records left them. (Every write outside the journal
     * is synced, so none follows a lost batch.) */
    size_t i = 0;
    for (; i < j.n; i++) {
        int have = batch_present(self, &j.recs[i], j.buf, &e);
        if (e) {
            rc = rerr(e, "reading the log for the journal", err, errlen);
            goto out;
        }
        if (have < 0 && j.recs[i].last <= self->head)
            have = 1; /* cannot be parsed: trust the head, as before */
        if (have != 1)
            break;
    }
    for (size_t k = i; k < j.n; k++) {
        const jrec_t *r = &j.recs[k];
        int have = batch_present(self, r, j.buf, &e);
        free(e);
        e = NULL;
        rocksdb_writebatch_t *wb =
            rocksdb_writebatch_create_from((const char *)j.buf + r->off, r->len);
        rocksdb_write(self->db, self->wlazy, wb, &e);
        rocksdb_writebatch_destroy(wb);
        if (e) {
            rc = rerr(e, "writing back a journal record", err, errlen);
            goto out;
        }
        if (have != 1)
            self->recovered += r->last - r->first + 1;
    }
    /* What RocksDB recovered from its WAL, and what was written back, may
     * not be on disk yet: the new epoch must start where RocksDB's durable
     * log ends. Batches added before a reopen are in RocksDB, so synced by
     * this too. */
    rocksdb_flush_wal(self->db, 1, &e);
    if (e) {
        rc = rerr(e, "WAL sync", err, errlen);
        goto out;
    }
    if ((rc = load_head(self, err, errlen)) < 0)
        goto out;
    /* Nothing may be missing from the journal's oldest record (and the one
     * before it, in RocksDB's synced WAL) to the head. */
    if (j.n) {
        for (size_t k = 0; k < j.n; k++) {
            int have = batch_present(self, &j.recs[k], j.buf, &e);
            if (e) {
                rc = rerr(e, "reading the log for the journal", err, errlen);
                goto out;
            }
            if (have == 0 && !bad++)
                snprintf(jtext, sizeof jtext, "seqs %llu-%llu", (unsigned long long)j.recs[k].first,
                         (unsigned long long)j.recs[k].last);
        }
        if (bad) {
            /* cannot happen unless a write back is not read back */
            snprintf(err, errlen,
                     "the log or its dedupe index disagrees with %zu ack journal record%s after "
                     "writing them back (first: %s); refusing to start",
                     bad, bad == 1 ? "" : "s", jtext);
            rc = -EUCLEAN;
            goto out;
        }
        snprintf(jtext, sizeof jtext, "the ack journal holds seqs %llu-%llu",
                 (unsigned long long)j.recs[0].first, (unsigned long long)j.recs[j.n - 1].last);
        uint64_t from = j.recs[0].first > 1 ? j.recs[0].first - 1 : 1;
        if ((rc = check_gapless(self, from, jtext, err, errlen)) < 0)
            goto out;
    }
    journal_reset(self->jn, 1);
    rc = 0;
out:
    if (j.buf)
        explicit_bzero(j.buf, j.bcap); /* side writes may hold participant keys */
    free(j.recs);
    free(j.buf);
    return rc;
}

/* Closes the database (not the options); db is NULL afterwards. */
static void dbclose(store_t *self)
{
    for (int i = 0; i < CF_COUNT; i++)
        if (self->cf[i])
            rocksdb_column_family_handle_destroy(self->cf[i]);
    memset(self->cf, 0, sizeof self->cf);
    if (self->db)
        rocksdb_close(self->db);
    self->db = NULL;
}

/* Opens the database in self->dir with self's options, checks its format and
 * reads the head. On failure db is NULL. */
static int dbopen(store_t *self, char *err, size_t errlen)
{
    char *e = NULL;
    int rc, ncf = CF_COUNT;
    if (self->readonly) {
        /* A store written before the pkeys family existed (or only read
         * since) lacks it, and a read-only open cannot create it: open the
         * others, and treat it as empty (cf[CF_PKEYS] stays NULL). */
        size_t n = 0;
        char **have = rocksdb_list_column_families(self->opts, self->dir, &n, &e);
        int found = 0;
        for (size_t i = 0; have && i < n; i++)
            found |= strcmp(have[i], cf_names[CF_PKEYS]) == 0;
        if (have)
            rocksdb_list_column_families_destroy(have, n);
        free(e); /* a store that cannot be listed fails to open below */
        e = NULL;
        if (!found)
            ncf = CF_PKEYS;
        self->db = rocksdb_open_for_read_only_column_families(
            self->opts, self->dir, ncf, cf_names, (const rocksdb_options_t *const *)self->cf_opts,
            self->cf, 0, &e);
    } else
        self->db = rocksdb_open_column_families(self->opts, self->dir, CF_COUNT, cf_names,
                                                (const rocksdb_options_t *const *)self->cf_opts,
                                                self->cf, &e);
    if (e) {
        self->db = NULL;
        memset(self->cf, 0, sizeof self->cf);
        return rerr(e, "opening RocksDB", err, errlen);
    }
    if ((rc = check_format(self, err, errlen)) < 0 || (rc = load_head(self, err, errlen)) < 0 ||
        (rc = recover(self, err, errlen)) < 0) {
        dbclose(self);
        return rc;
    }
    return 0;
}

int store_open(store_t **out, const char *dir, int flags, char *err, size_t errlen)
{
    store_t *self = calloc(1, sizeof *self);
    int rc = -ENOMEM;
    *out = NULL;
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    self->readonly = !!(flags & STORE_READONLY);
    self->opts = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(self->opts, !self->readonly);
    rocksdb_options_set_create_missing_column_families(self->opts, !self->readonly);
    rocksdb_options_increase_parallelism(self->opts, 2);
    rocksdb_options_set_max_background_jobs(self->opts, 2);
    rocksdb_options_set_bytes_per_sync(self->opts, 1 << 20);
    /* The WAL is synced only now and then (the ack journal makes small
     * commits durable): start its writeback every 512 KiB, so that neither
     * those syncs nor the kernel's own writeback meet megabytes of it. */
    rocksdb_options_set_wal_bytes_per_sync(self->opts, 512 << 10);
    /* No WAL recycling: a recycled WAL file keeps its old records (an
     * erased participant's key among them) until new ones overwrite them,
     * and erasure needs obsolete WAL files unlinked (store_purge). Debian's
     * RocksDB 7.8 ignored the setting anyway under the point-in-time
     * recovery we keep (docs/performance.md). No archive either: the WAL
     * TTL and size limit stay 0, so obsolete WAL files are deleted. */
    rocksdb_options_set_recycle_log_file_num(self->opts, 0);
    /* Flush and compaction write with O_DIRECT: no copy into the page cache
     * (a cost that grows as the cache fills) and no dirty-page writeback
     * queued in front of the WAL's fdatasync. */
    rocksdb_options_set_use_direct_io_for_flush_and_compaction(self->opts, 1);
    /* RocksDB's info log (diagnostics only) goes to RAM-backed /dev/shm,
     * named after the data directory, not into the data directory: on a
     * full disk its writer hits an assertion in Debian's librocksdb (built
     * with assertions) after a second failed append, which would abort the
     * daemon. The C API cannot install another logger or turn it off. It is
     * capped at 2 files of 1 MiB. Without a writable /dev/shm it stays in
     * the data directory (see docs/reliability.md). */
    if (!self->readonly && access(LOG_DIR, W_OK | X_OK) == 0) {
        rocksdb_options_set_db_log_dir(self->opts, LOG_DIR);
        self->log_elsewhere = 1;
    }
    rocksdb_options_set_max_log_file_size(self->opts, 1 << 20);
    rocksdb_options_set_keep_log_file_num(self->opts, 2);
    /* One writer thread, and the log's vector memtable needs this off. */
    rocksdb_options_set_allow_concurrent_memtable_write(self->opts, 0);

    self->cache = rocksdb_cache_create_lru(64 << 20);
    self->table = rocksdb_block_based_options_create();
    rocksdb_block_based_options_set_block_cache(self->table, self->cache);
    rocksdb_block_based_options_set_filter_policy(self->table,
                                                  rocksdb_filterpolicy_create_bloom_full(10));
    for (int i = 0; i < CF_COUNT; i++) {
        self->cf_opts[i] = rocksdb_options_create_copy(self->opts);
        rocksdb_options_set_write_buffer_size(self->cf_opts[i], 64 << 20);
        rocksdb_options_set_level_compaction_dynamic_level_bytes(self->cf_opts[i], 1);
        /* CPU is the scarce resource (flush and compaction share the cores
         * with ingest); disk is not. */
        rocksdb_options_set_compression(self->cf_opts[i], rocksdb_no_compression);
        if (i == CF_LOG) {
            /* Keys only ever grow and the daemon reads this family only at
             * start-up (head, replay): an append-only vector memtable,
             * sorted once at flush, instead of a skiplist insert per event. */
            rocksdb_options_set_memtable_vector_rep(self->cf_opts[i]);
        }
        if (i == CF_DEDUPE) {
            rocksdb_options_set_block_based_table_factory(self->cf_opts[i], self->table);
            rocksdb_options_set_memtable_whole_key_filtering(self->cf_opts[i], 1);
            rocksdb_options_set_memtable_prefix_bloom_size_ratio(self->cf_opts[i], 0.05);
        }
    }
    self->wsync = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(self->wsync, 1);
    self->wlazy = rocksdb_writeoptions_create();
    self->ropts = rocksdb_readoptions_create();
    self->wb = rocksdb_writebatch_create();
    /* Absolute: RocksDB names its info log in LOG_DIR after the absolute
     * path, and for a relative one takes only the working directory, so
     * drop_info_log would not find it, and two stores under one working
     * directory would share it. */
    if (dir[0] == '/') {
        self->dir = strdup(dir);
    } else {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof cwd)) {
            rc = -errno;
            snprintf(err, errlen, "cannot resolve the data directory %s: %s", dir, strerror(errno));
            goto fail;
        }
        if (asprintf(&self->dir, "%s/%s", cwd, dir) < 0)
            self->dir = NULL;
    }
    if (!self->dir) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (pthread_rwlock_init(&self->lock, NULL) != 0) {
        snprintf(err, errlen, "cannot create the store lock");
        goto fail;
    }
    self->lock_inited = 1;
    /* A read-only open beside a live daemon can read a MANIFEST listing
     * files its flush or compaction has just deleted: RocksDB then says
     * "Corruption ... No such file". A fresh look a moment later is
     * consistent, so such a failure is retried a few times. */
    for (int tries = 0;; tries++) {
        if ((rc = dbopen(self, err, errlen)) == 0)
            break;
        if (!self->readonly || tries >= 9 || !strstr(err, "Corruption") ||
            !strstr(err, "No such file"))
            goto fail;
        usleep(100 * 1000);
    }
    *out = self;
    return 0;
fail:
    store_close(&self);
    return rc;
}

void store_close(store_t **self_p)
{
    store_t *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    int clean = self->db && !self->readonly && self->log_elsewhere;
    dbclose(self);
    journal_close(&self->jn);
    if (clean)
        drop_info_log(self->dir);
    if (self->lock_inited)
        pthread_rwlock_destroy(&self->lock);
    free(self->dir);
    if (self->wb)
        rocksdb_writebatch_destroy(self->wb);
    if (self->wsync)
        rocksdb_writeoptions_destroy(self->wsync);
    if (self->wlazy)
        rocksdb_writeoptions_destroy(self->wlazy);
    if (self->ropts)
        rocksdb_readoptions_destroy(self->ropts);
    for (int i = 0; i < CF_COUNT; i++)
        if (self->cf_opts[i])
            rocksdb_options_destroy(self->cf_opts[i]);
    if (self->table)
        rocksdb_block_based_options_destroy(self->table);
    if (self->cache)
        rocksdb_cache_destroy(self->cache);
    if (self->opts)
        rocksdb_options_destroy(self->opts);
    free(self);
    *self_p = NULL;
}

uint64_t store_head(const store_t *self)
{
    return self->head;
}

uint64_t store_recovered(const store_t *self)
{
    return self->recovered;
}

const char *store_no_journal(const store_t *self)
{
    return self->jn_why[0] ? self->jn_why : NULL;
}

int store_reopen(store_t *self, char *err, size_t errlen)
{
    pthread_rwlock_wrlock(&self->lock);
    dbclose(self);
    int rc = dbopen(self, err, errlen);
    pthread_rwlock_unlock(&self->lock);
    return rc;
}

/* The error of an operation on a store whose reopen failed. */
static int closed(char *err, size_t errlen)
{
    if (err)
        snprintf(err, errlen, "the store is closed after a failed reopen");
    return -EIO;
}

static uint64_t hash(const uint8_t *k, size_t n)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ k[i]) * 1099511628211ULL;
    return h;
}

/* Finds the earlier item with the same key as item i, inserting i if none.
 * Returns the earlier item's index, or -1. */
static long seen(store_batch_t *b, size_t i)
{
    const item_t *it = &b->items[i];
    const uint8_t *k = b->keys + it->key_off;
    size_t mask = b->nslots - 1, s = hash(k, it->key_len) & mask;
    for (;; s = (s + 1) & mask) {
        uint32_t v = b->slots[s];
        if (!v) {
            b->slots[s] = (uint32_t)i + 1;
            return -1;
        }
        const item_t *o = &b->items[v - 1];
        if (o->key_len == it->key_len && memcmp(b->keys + o->key_off, k, it->key_len) == 0)
            return (long)v - 1;
    }
}

static int prepare(store_batch_t *b)
{
    size_t want = 16;
    while (want < b->n * 2)
        want *= 2;
    if (want > b->nslots) {
        uint32_t *s = realloc(b->slots, want * sizeof *s);
        if (!s)
            return -ENOMEM;
        b->slots = s;
        b->nslots = want;
    }
    memset(b->slots, 0, b->nslots * sizeof *b->slots);
    if (b->n > b->scratch_cap) {
        size_t n = b->n;
        const char **kp = realloc(b->kptr, n * sizeof *kp);
        if (kp)
            b->kptr = kp;
        size_t *kl = realloc(b->klen, n * sizeof *kl);
        if (kl)
            b->klen = kl;
        rocksdb_pinnableslice_t **vp = realloc(b->vptr, n * sizeof *vp);
        if (vp)
            b->vptr = vp;
        char **er = realloc(b->errs, n * sizeof *er);
        if (er)
            b->errs = er;
        if (!kp || !kl || !vp || !er)
            return -ENOMEM;
        b->scratch_cap = n;
    }
    return 0;
}

static void fail_all(store_batch_t *b)
{
    for (size_t i = 0; i < b->n; i++)
        b->items[i].result = STORE_FAILED;
    b->accepted = 0;
}

void store_batch_fail(store_batch_t *b)
{
    fail_all(b);
}

/* RocksDB counts comparisons and the like per thread unless told not to
 * (perf level kEnableCount by default): a thread-local access per key
 * comparison on the write path. The daemon never reads those counters, so
 * each thread that writes turns them off, once. */
static void quiet_counters(void)
{
    static _Thread_local int done;
    if (!done) {
        rocksdb_set_perf_level(rocksdb_disable);
        done = 1;
    }
}

int store_dedupe(store_t *self, store_batch_t *b, char *err, size_t errlen)
{
    char *e = NULL;
    quiet_counters();
    b->accepted = 0;
    if (b->n == 0)
        return 0;
    if (!self->db) {
        fail_all(b);
        return closed(err, errlen);
    }
    if (prepare(b) < 0) {
        fail_all(b);
        snprintf(err, errlen, "out of memory preparing a batch of %zu events", b->n);
        return -ENOMEM;
    }
    for (size_t i = 0; i < b->n; i++) {
        b->kptr[i] = (const char *)b->keys + b->items[i].key_off;
        b->klen[i] = b->items[i].key_len;
    }
    rocksdb_batched_multi_get_cf(self->db, self->ropts, self->cf[CF_DEDUPE], b->n, b->kptr, b->klen,
                                 b->vptr, b->errs, 0);
    for (size_t i = 0; i < b->n; i++) {
        item_t *it = &b->items[i];
        long first;
        it->result = STORE_PENDING;
        if (b->errs[i]) {
            if (!e)
                e = b->errs[i];
            else
                free(b->errs[i]);
        }
        if (b->vptr[i]) {
            size_t vl;
            const char *v = rocksdb_pinnableslice_value(b->vptr[i], &vl);
            if (v && vl == 8) {
                it->result = STORE_DUPLICATE;
                it->seq = rd64(v);
            }
            rocksdb_pinnableslice_destroy(b->vptr[i]);
        }
        first = seen(b, i); /* later repeats in the batch find the first copy */
        if (it->result == STORE_PENDING && first >= 0) {
            it->result = STORE_REPEAT;
            it->first = (uint32_t)first;
        }
    }
    if (e) {
        int rc = rerr(e, "dedupe lookup", err, errlen);
        fail_all(b);
        return rc;
    }
    return 0;
}

static int write_batch(store_t *self, store_batch_t *b, const rocksdb_writeoptions_t *wo, char *err,
                       size_t errlen);

int store_write(store_t *self, store_batch_t *b, char *err, size_t errlen)
{
    return write_batch(self, b, self->wsync, err, errlen);
}

int store_append(store_t *self, store_batch_t *b, char *err, size_t errlen)
{
    return write_batch(self, b, self->wlazy, err, errlen);
}

int store_sync(store_t *self, char *err, size_t errlen)
{
    char *e = NULL;
    if (!self->db)
        return closed(err, errlen);
    if (self->jn) {
        int rc = journal_flush(self->jn);
        if (rc == 0 || rc == -EAGAIN)
            return 0;
        /* Too much for the journal, no room left in it, or its write
         * failed: RocksDB's own sync makes every record added so far
         * durable, and the journal starts afresh (journal.h). */
    }
    rocksdb_flush_wal(self->db, 1, &e);
    if (e)
        return rerr(e, "WAL sync", err, errlen);
    if (self->jn)
        journal_reset(self->jn, 0);
    return 0;
}

static int write_batch(store_t *self, store_batch_t *b, const rocksdb_writeoptions_t *wo, char *err,
                       size_t errlen)
{
    uint64_t next = self->head;
    char *e = NULL;
    quiet_counters();
    if (self->readonly) {
        fail_all(b);
        snprintf(err, errlen, "store is read-only");
        return -EROFS;
    }
    if (!self->db) {
        fail_all(b);
        return closed(err, errlen);
    }
    rocksdb_writebatch_clear(self->wb);
    b->accepted = 0;
    for (size_t i = 0; i < b->nsides; i++) {
        const side_t *sd = &b->sides[i];
        rocksdb_column_family_handle_t *cf = self->cf[sd->cf];
        if (!cf) { /* cannot happen: only a read-only store lacks pkeys */
            fail_all(b);
            snprintf(err, errlen, "the store has no %s column family", cf_names[sd->cf]);
            return -EIO;
        }
        if (sd->del)
            rocksdb_writebatch_delete_cf(self->wb, cf, (const char *)b->side + sd->key_off,
                                         sd->key_len);
        else
            rocksdb_writebatch_put_cf(self->wb, cf, (const char *)b->side + sd->key_off,
                                      sd->key_len, (const char *)b->side + sd->val_off,
                                      sd->val_len);
    }
    for (size_t i = 0; i < b->n; i++) {
        item_t *it = &b->items[i];
        uint8_t k[8];
        if (it->result != STORE_ACCEPTED)
            continue;
        if (it->seq != next + 1) {
            fail_all(b);
            snprintf(err, errlen, "sequence %llu accepted where %llu was due",
                     (unsigned long long)it->seq, (unsigned long long)(next + 1));
            return -EINVAL;
        }
        next = it->seq;
        be64(k, it->seq);
        rocksdb_writebatch_put_cf(self->wb, self->cf[CF_LOG], (const char *)k, 8,
                                  (const char *)b->vals + it->val_off, it->val_len);
        rocksdb_writebatch_put_cf(self->wb, self->cf[CF_DEDUPE],
                                  (const char *)b->keys + it->key_off, it->key_len, (const char *)k,
                                  8);
        b->accepted++;
    }
    if (b->accepted) {
        rocksdb_write(self->db, (rocksdb_writeoptions_t *)wo, self->wb, &e);
        if (e) {
            int rc = rerr(e, wo == self->wsync ? "synced write" : "write", err, errlen);
            fail_all(b);
            return rc;
        }
        if (wo == self->wlazy && self->jn) {
            size_t len;
            const char *rep = rocksdb_writebatch_data(self->wb, &len);
            /* On failure the next store_sync syncs RocksDB instead. */
            (void)journal_add(self->jn, self->head + 1, next, rep, len);
        }
    }
    self->head = next;
    return 0;
}

int store_commit(store_t *self, store_batch_t *b, char *err, size_t errlen)
{
    uint64_t next = self->head;
    int rc;
    if (self->readonly) {
        fail_all(b);
        snprintf(err, errlen, "store is read-only");
        return -EROFS;
    }
    if ((rc = store_dedupe(self, b, err, errlen)) < 0)
        return rc;
    for (size_t i = 0; i < b->n; i++) {
        item_t *it = &b->items[i];
        if (it->result == STORE_PENDING) {
            it->result = STORE_ACCEPTED;
            it->seq = ++next;
        } else if (it->result == STORE_REPEAT) {
            it->result = STORE_DUPLICATE;
            it->seq = b->items[it->first].seq; /* the first copy comes earlier */
        }
    }
    return store_write(self, b, err, errlen);
}

int store_get_meta(store_t *self, const char *key, char **val, size_t *len)
{
    char *e = NULL;
    *val = NULL;
    if (!self->db)
        return -EIO;
    *val = rocksdb_get_cf(self->db, self->ropts, self->cf[CF_META], key, strlen(key), len, &e);
    if (e) {
        free(e);
        return -EIO;
    }
    return *val ? 0 : -ENOENT;
}

int store_put_meta(store_t *self, const char *key, const void *val, size_t len, char *err,
                   size_t errlen)
{
    char *e = NULL;
    if (self->readonly) {
        snprintf(err, errlen, "store is read-only");
        return -EROFS;
    }
    if (!self->db)
        return closed(err, errlen);
    rocksdb_put_cf(self->db, self->wsync, self->cf[CF_META], key, strlen(key), val, len, &e);
    return e ? rerr(e, "writing metadata", err, errlen) : 0;
}

/* The dedupe key: [event_id][agency]. The id comes first because agents'
 * UUIDv7 ids grow with time: new keys then land after every existing one,
 * so SST files do not overlap, compaction only moves files, and a lookup of
 * a new id is excluded from old files by their key range alone. */
static size_t mkkey(uint8_t *out, const char *agency, const uint8_t id[16])
{
    size_t n = strlen(agency);
    memcpy(out, id, 16);
    memcpy(out + 16, agency, n);
    return n + 16;
}

int store_lookup(store_t *self, const char *agency, const uint8_t id[16], uint64_t *seq)
{
    uint8_t key[1 + 255 + 16];
    char *e = NULL;
    size_t vl;
    if (strlen(agency) > 255)
        return -ENOENT;
    if (!self->db)
        return -EIO;
    size_t kl = mkkey(key, agency, id);
    char *v =
        rocksdb_get_cf(self->db, self->ropts, self->cf[CF_DEDUPE], (const char *)key, kl, &vl, &e);
    if (e) {
        free(e);
        return -EIO;
    }
    if (!v)
        return -ENOENT;
    int ok = vl == 8;
    if (ok)
        *seq = rd64(v);
    free(v);
    return ok ? 0 : -EIO;
}

int store_scan(store_t *self, uint64_t from, uint64_t limit,
               int (*fn)(void *arg, uint64_t seq, const void *val, size_t len), void *arg)
{
    /* The read lock keeps store_reopen from closing db under the scan (the
     * control endpoint's tail pages run on the thread pool). glibc's default
     * rwlock prefers readers, so fn may take it again (store_get_pkey). */
    pthread_rwlock_rdlock(&self->lock);
    if (!self->db) {
        pthread_rwlock_unlock(&self->lock);
        return -EIO;
    }
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(self->db, self->ropts, self->cf[CF_LOG]);
    uint8_t k[8];
    uint64_t n = 0;
    int rc = 0;
    be64(k, from);
    for (rocksdb_iter_seek(it, (const char *)k, 8); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl, vl;
        const char *key = rocksdb_iter_key(it, &kl);
        const char *val = rocksdb_iter_value(it, &vl);
        if (kl != 8) {
            rc = -EIO;
            break;
        }
        if ((rc = fn(arg, rd64(key), val, vl)) != 0)
            break;
        if (limit && ++n >= limit)
            break;
    }
    rc = iter_end(it, rc);
    pthread_rwlock_unlock(&self->lock);
    return rc;
}

store_batch_t *store_batch_new(void)
{
    return calloc(1, sizeof(store_batch_t));
}

void store_batch_destroy(store_batch_t **self_p)
{
    store_batch_t *b = self_p ? *self_p : NULL;
    if (!b)
        return;
    free(b->items);
    free(b->keys);
    free(b->vals);
    free(b->slots);
    free(b->kptr);
    free(b->klen);
    free(b->vptr);
    free(b->errs);
    free(b->sides);
    free(b->side);
    free(b);
    *self_p = NULL;
}

void store_batch_reset(store_batch_t *b)
{
    b->n = 0;
    b->keys_len = 0;
    b->vals_len = 0;
    b->accepted = 0;
    b->nsides = 0;
    b->side_len = 0;
}

int store_batch_add(store_batch_t *b, const char *agency, const uint8_t id[16], const void *val,
                    size_t len)
{
    size_t alen = strlen(agency);
    if (alen == 0 || alen > 255 || len > UINT32_MAX || b->n >= UINT32_MAX - 1)
        return -EINVAL;
    if (cohort_grow((void **)&b->items, &b->cap, b->n + 1, sizeof *b->items) < 0 ||
        cohort_grow((void **)&b->keys, &b->keys_cap, b->keys_len + alen + 16, 1) < 0 ||
        cohort_grow((void **)&b->vals, &b->vals_cap, b->vals_len + len, 1) < 0)
        return -ENOMEM;
    item_t *it = &b->items[b->n];
    it->key_off = (uint32_t)b->keys_len;
    it->key_len = (uint32_t)mkkey(b->keys + b->keys_len, agency, id);
    b->keys_len += it->key_len;
    it->val_off = (uint32_t)b->vals_len;
    it->val_len = (uint32_t)len;
    memcpy(b->vals + b->vals_len, val, len);
    b->vals_len += len;
    it->seq = 0;
    it->result = STORE_PENDING;
    return (int)b->n++;
}

void store_batch_truncate(store_batch_t *b, size_t n)
{
    if (n >= b->n)
        return;
    b->keys_len = b->items[n].key_off;
    b->vals_len = b->items[n].val_off;
    b->n = n;
}

size_t store_batch_count(const store_batch_t *b)
{
    return b->n;
}

size_t store_batch_bytes(const store_batch_t *b)
{
    return b->vals_len;
}

int store_batch_result(const store_batch_t *b, size_t i, uint64_t *seq)
{
    if (i >= b->n)
        return STORE_PENDING;
    *seq = b->items[i].seq;
    return b->items[i].result;
}

size_t store_batch_first(const store_batch_t *b, size_t i)
{
    return b->items[i].first;
}

void store_batch_accept(store_batch_t *b, size_t i, uint64_t seq)
{
    b->items[i].result = STORE_ACCEPTED;
    b->items[i].seq = seq;
}

void store_batch_duplicate(store_batch_t *b, size_t i, uint64_t seq)
{
    b->items[i].result = STORE_DUPLICATE;
    b->items[i].seq = seq;
}

void store_batch_reject(store_batch_t *b, size_t i)
{
    b->items[i].result = STORE_REJECTED;
    b->items[i].seq = 0;
}

size_t store_batch_accepted(const store_batch_t *b)
{
    return b->accepted;
}

/* ------------------------------------------------------------------------
 * Checkpoints (backups) and the dedupe scan. These includes belong at the
 * top; they sit here because this part was appended while the write path
 * above was being edited. */

/* fsyncs the directory that holds path (its last component's parent).
 * Returns 0 or a negative errno. */
static int sync_parent(const char *path)
{
    char parent[PATH_MAX];
    const char *slash = strrchr(path, '/');
    int fd, rc = 0;
    if (!slash)
        snprintf(parent, sizeof parent, ".");
    else if (slash == path)
        snprintf(parent, sizeof parent, "/");
    else
        snprintf(parent, sizeof parent, "%.*s", (int)(slash - path), path);
    if ((fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return -errno;
    if (fsync(fd) != 0)
        rc = -errno;
    close(fd);
    return rc;
}

static char *purge_files(store_t *self);

int store_checkpoint(store_t *self, const char *dir, uint64_t *seq, char *err, size_t errlen)
{
    char path[PATH_MAX], staging[PATH_MAX + 8];
    rocksdb_checkpoint_t *cp = NULL;
    store_t *copy = NULL;
    struct stat st;
    char *e = NULL;
    size_t n = dir ? strlen(dir) : 0;
    int rc;
    if (self->readonly) {
        snprintf(err, errlen, "a read-only store cannot be checkpointed");
        return -EROFS;
    }
    while (n > 1 && dir[n - 1] == '/')
        n--; /* RocksDB names its staging directory after the path without them */
    if (n == 0 || n >= sizeof path) {
        snprintf(err, errlen, "checkpoint directory name is empty or too long");
        return -EINVAL;
    }
    memcpy(path, dir, n);
    path[n] = '\0';
    snprintf(staging, sizeof staging, "%s.tmp", path);
    if (lstat(path, &st) == 0) {
        snprintf(err, errlen, "%s already exists", path);
        return -EEXIST;
    }
    if (errno != ENOENT) {
        rc = -errno;
        snprintf(err, errlen, "%s: %s", path, strerror(-rc));
        return rc;
    }
    /* RocksDB empties and reuses a staging directory it finds: never let it
     * delete files that may not be its own. */
    if (lstat(staging, &st) == 0) {
        snprintf(err, errlen,
                 "%s exists (the staging directory of a failed checkpoint?); remove it first",
                 staging);
        return -EEXIST;
    }
    /* The read lock keeps store_reopen from replacing db meanwhile. */
    pthread_rwlock_rdlock(&self->lock);
    if (!self->db) {
        pthread_rwlock_unlock(&self->lock);
        return closed(err, errlen);
    }
    /* An erasure whose purge is still owed: its deleted key must not reach
     * the copy through an old SST or WAL file (the journal is not copied). */
    {
        size_t flen = 0;
        char *flag = rocksdb_get_cf(self->db, self->ropts, self->cf[CF_META], STORE_PURGE_META,
                                    strlen(STORE_PURGE_META), &flen, &e);
        if (!e && flag && flen == 1 && flag[0] == '1')
            e = purge_files(self);
        free(flag);
    }
    if (!e)
        cp = rocksdb_checkpoint_object_create(self->db, &e);
    if (!e) {
        /* log_size_for_flush 0: flush the memtables first, so the copy is
         * the SST files plus a short WAL tail (fast to open and restore). */
        rocksdb_checkpoint_create(cp, path, 0, &e);
        rocksdb_checkpoint_object_destroy(cp);
    }
    pthread_rwlock_unlock(&self->lock);
    if (e)
        return rerr(e, "creating the checkpoint", err, errlen);
    /* The copy holds the events (pseudonymous personal data): private. The
     * hard-linked SST files share the live store's inodes and modes. */
    if ((rc = chmod(path, 0700) != 0 ? -errno : sync_parent(path)) < 0) {
        snprintf(err, errlen, "checkpoint %s written, but securing it failed: %s", path,
                 strerror(-rc));
        return rc;
    }
    if ((rc = store_open(&copy, path, STORE_READONLY, err, errlen)) < 0) {
        char why[256];
        snprintf(why, sizeof why, "%s", err);
        snprintf(err, errlen, "checkpoint %s written but does not open: %s", path, why);
        return rc;
    }
    *seq = copy->head;
    store_close(&copy);
    return 0;
}

int store_scan_dedupe(store_t *self,
                      int (*fn)(void *arg, const char *agency, const uint8_t *id, uint64_t seq),
                      void *arg)
{
    if (!self->db)
        return -EIO;
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(self->db, self->ropts, self->cf[CF_DEDUPE]);
    char agency[256];
    int rc = 0;
    for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl, vl;
        const char *key = rocksdb_iter_key(it, &kl);
        const char *val = rocksdb_iter_value(it, &vl);
        uint64_t seq = vl == 8 ? rd64(val) : 0;
        if (kl < 17 || kl > 16 + 255 || memchr(key + 16, '\0', kl - 16)) {
            rc = fn(arg, NULL, NULL, seq);
        } else {
            memcpy(agency, key + 16, kl - 16);
            agency[kl - 16] = '\0';
            rc = fn(arg, agency, (const uint8_t *)key, seq);
        }
        if (rc != 0)
            break;
    }
    return iter_end(it, rc);
}

/* ------------------------------------------------------------------------
 * Side writes, item values, the pkeys family and purging (for vault.c). */

int store_batch_side(store_batch_t *b, int cf, const void *key, size_t klen, const void *val,
                     size_t vlen)
{
    int fam = cf == STORE_CF_PKEYS ? CF_PKEYS : cf == STORE_CF_META ? CF_META : -1;
    if (fam < 0 || klen == 0 || klen > UINT32_MAX || vlen > UINT32_MAX ||
        b->side_len + klen + vlen > UINT32_MAX)
        return -EINVAL;
    if (cohort_grow((void **)&b->sides, &b->capsides, b->nsides + 1, sizeof *b->sides) < 0 ||
        cohort_grow((void **)&b->side, &b->side_cap, b->side_len + klen + vlen, 1) < 0)
        return -ENOMEM;
    side_t *sd = &b->sides[b->nsides++];
    sd->cf = fam;
    sd->del = val == NULL;
    sd->key_off = (uint32_t)b->side_len;
    sd->key_len = (uint32_t)klen;
    memcpy(b->side + b->side_len, key, klen);
    b->side_len += klen;
    sd->val_off = (uint32_t)b->side_len;
    sd->val_len = val ? (uint32_t)vlen : 0;
    if (val && vlen)
        memcpy(b->side + b->side_len, val, vlen);
    b->side_len += sd->val_len;
    return 0;
}

int store_batch_set_value(store_batch_t *b, size_t i, const void *val, size_t len)
{
    if (i >= b->n || len > UINT32_MAX || b->vals_len + len > UINT32_MAX)
        return -EINVAL;
    if (cohort_grow((void **)&b->vals, &b->vals_cap, b->vals_len + len, 1) < 0)
        return -ENOMEM;
    memcpy(b->vals + b->vals_len, val, len);
    b->items[i].val_off = (uint32_t)b->vals_len;
    b->items[i].val_len = (uint32_t)len;
    b->vals_len += len;
    return 0;
}

int store_get_pkey(store_t *self, const void *key, size_t klen, void **val, size_t *len)
{
    char *e = NULL;
    *val = NULL;
    *len = 0;
    if (!self->db)
        return -EIO;
    if (!self->cf[CF_PKEYS])
        return -ENOENT; /* a store from before the family: no keys */
    char *v = rocksdb_get_cf(self->db, self->ropts, self->cf[CF_PKEYS], key, klen, len, &e);
    if (e) {
        free(e);
        return -EIO;
    }
    *val = v;
    return v ? 0 : -ENOENT;
}

int store_scan_pkeys(store_t *self,
                     int (*fn)(void *arg, const void *key, size_t klen, const void *val,
                               size_t vlen),
                     void *arg)
{
    if (!self->db)
        return -EIO;
    if (!self->cf[CF_PKEYS])
        return 0;
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(self->db, self->ropts, self->cf[CF_PKEYS]);
    int rc = 0;
    for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl, vl;
        const char *key = rocksdb_iter_key(it, &kl);
        const char *val = rocksdb_iter_value(it, &vl);
        if ((rc = fn(arg, key, kl, val, vl)) != 0)
            break;
    }
    return iter_end(it, rc);
}

/* With the store's lock held (read) and db open: flushes every family's
 * memtable, then force-compacts pkeys and meta (store_purge). Returns NULL,
 * or RocksDB's error (malloc'd). */
static char *purge_files(store_t *self)
{
    char *e = NULL;
    rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
    rocksdb_flushoptions_set_wait(fo, 1);
    /* Every family, so that no live WAL file still holds a deleted key. */
    for (int i = 0; i < CF_COUNT && !e; i++)
        if (self->cf[i])
            rocksdb_flush_cf(self->db, fo, self->cf[i], &e);
    rocksdb_flushoptions_destroy(fo);
    if (!e) {
        rocksdb_compactoptions_t *co = rocksdb_compactoptions_create();
        /* kForce (2): rewrite the bottommost level too, so that deleted
         * values and their tombstones are dropped, not just moved down. */
        rocksdb_compactoptions_set_bottommost_level_compaction(co, 2);
        rocksdb_compactoptions_set_exclusive_manual_compaction(co, 0);
        rocksdb_compact_range_cf_opt(self->db, self->cf[CF_PKEYS], co, NULL, 0, NULL, 0);
        rocksdb_compact_range_cf_opt(self->db, self->cf[CF_META], co, NULL, 0, NULL, 0);
        rocksdb_compactoptions_destroy(co);
    }
    if (!e) {
        /* The flush and compaction jobs unlink the files they made obsolete
         * (old WAL and SST files) after they report done. Re-enabling file
         * deletions does a full scan and unlinks every obsolete file on this
         * thread, unless a checkpoint holds deletions off meanwhile: that
         * one's re-enable does it then. */
        rocksdb_disable_file_deletions(self->db, &e);
        if (!e)
            rocksdb_enable_file_deletions(self->db, 0, &e);
    }
    return e;
}

int store_purge(store_t *self, char *err, size_t errlen)
{
    char *e;
    int rc = 0;
    if (self->readonly) {
        snprintf(err, errlen, "store is read-only");
        return -EROFS;
    }
    pthread_rwlock_rdlock(&self->lock);
    if (!self->db) {
        pthread_rwlock_unlock(&self->lock);
        return closed(err, errlen);
    }
    e = purge_files(self);
    /* Every batch appended so far is now in synced SST files: the journal's
     * records (which hold the keys they put) are needed no more. */
    if (!e && self->jn && (rc = journal_scrub(self->jn)) < 0)
        snprintf(err, errlen, "zeroing the journal: %s", strerror(-rc));
    pthread_rwlock_unlock(&self->lock);
    return e ? rerr(e, "flushing the memtables", err, errlen) : rc;
}
