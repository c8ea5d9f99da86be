/* t_store: unit tests for store.c — sequence assignment, the dedupe index
 * (in a batch, across batches, across a reopen), scans, read-only opens, and
 * the ack journal bringing back batches a power loss took from RocksDB, also
 * from the middle of the log (a hole in the WAL), and refusing to open when
 * a hole remains that the journal cannot fill. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"
#include "tap.h"

static void mkid(uint8_t id[16], unsigned n)
{
    memset(id, 0, 16);
    id[12] = (uint8_t)(n >> 24), id[13] = (uint8_t)(n >> 16), id[14] = (uint8_t)(n >> 8),
    id[15] = (uint8_t)n;
}

typedef struct {
    uint64_t next;  /* expected next seq */
    int in_order;   /* all seen seqs consecutive */
    int values_ok;  /* values are "ev<seq-1>" */
    uint64_t count; /* entries visited */
} scan_t;

static int visit(void *arg, uint64_t seq, const void *val, size_t len)
{
    scan_t *s = arg;
    char want[32];
    if (seq != s->next)
        s->in_order = 0;
    snprintf(want, sizeof want, "ev%llu", (unsigned long long)(seq - 1));
    if (len != strlen(want) || memcmp(val, want, len) != 0)
        s->values_ok = 0;
    s->next = seq + 1;
    s->count++;
    return 0;
}

/* RocksDB's WAL files (*.log) in dir and their sizes; returns how many. */
static int wal_sizes(const char *dir, char names[][64], off_t *sizes, int max)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;
    while (d && (de = readdir(d)) && n < max) {
        size_t l = strlen(de->d_name);
        char path[512];
        struct stat st;
        if (l < 5 || l >= 64 || strcmp(de->d_name + l - 4, ".log") != 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (stat(path, &st) != 0)
            continue;
        snprintf(names[n], 64, "%.63s", de->d_name);
        sizes[n++] = st.st_size;
    }
    if (d)
        closedir(d);
    return n;
}

/* A power loss after 20 synced batches: RocksDB's unsynced WAL tail is cut
 * back to what it was before them (as if never written back), and the
 * next read-write open restores every batch from the journal. */
static void power_loss(void)
{
    char dir[] = "/tmp/cohort-t-store-pl-XXXXXX", err[256], cmd[300], names[16][64];
    off_t before[16];
    store_t *s, *ro;
    store_batch_t *b = store_batch_new();
    uint8_t id[16];
    uint64_t seq;
    char val[32];
    int synced = 1;
    if (!mkdtemp(dir) || store_open(&s, dir, 0, err, sizeof err) < 0) {
        ok(0, "open a store for the power-loss test: %s", err);
        return;
    }
    int nwal = wal_sizes(dir, names, before, 16);
    ok(nwal >= 1, "the new store has a WAL file");
    for (unsigned k = 0; k < 20; k++) {
        store_batch_reset(b);
        for (unsigned i = 0; i < 5; i++) {
            mkid(id, 5000 + k * 5 + i);
            snprintf(val, sizeof val, "ev%u", k * 5 + i);
            store_batch_add(b, "wm-police", id, val, strlen(val));
        }
        uint64_t head = store_head(s);
        synced &= store_dedupe(s, b, err, sizeof err) == 0;
        for (unsigned i = 0; i < 5; i++)
            store_batch_accept(b, i, head + 1 + i);
        synced &= store_append(s, b, err, sizeof err) == 0;
        synced &= store_sync(s, err, sizeof err) == 0;
    }
    ok(synced, "20 batches of 5 appended and synced");
    is_int(store_head(s), 100, "head 100");
    store_close(&s);

    int cut = 1;
    for (int i = 0; i < nwal; i++) {
        char path[sizeof dir + 64];
        snprintf(path, sizeof path, "%s/%.63s", dir, names[i]);
        cut &= truncate(path, before[i]) == 0;
    }
    ok(cut, "RocksDB's WAL cut back to its size before the batches");
    if (store_open(&ro, dir, STORE_READONLY, err, sizeof err) == 0) {
        ok(store_head(ro) < 100, "RocksDB alone has lost batches (head %llu)",
           (unsigned long long)store_head(ro));
        store_close(&ro);
    } else {
        ok(0, "read-only open after the cut: %s", err);
    }
    is_int(store_open(&s, dir, 0, err, sizeof err), 0, "a read-write open after the cut");
    is_int(store_head(s), 100, "has every synced batch back: head 100");
    ok(store_recovered(s) > 0, "%llu events written back from the journal",
       (unsigned long long)store_recovered(s));
    scan_t sc = {1, 1, 1, 0};
    is_int(store_scan(s, 1, 0, visit, &sc), 0, "scan");
    ok(sc.count == 100 && sc.in_order && sc.values_ok, "100 entries, in order, with their values");
    mkid(id, 5000 + 99);
    ok(store_lookup(s, "wm-police", id, &seq) == 0 && seq == 100,
       "the dedupe index has the last event at seq 100");
    store_close(&s);
    is_int(store_open(&s, dir, 0, err, sizeof err), 0, "another open");
    ok(store_head(s) == 100 && store_recovered(s) == 0, "finds nothing more to write back");
    store_close(&s);
    store_batch_destroy(&b);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        diag("could not remove %s", dir);
}

/* ---- A hole in RocksDB's unsynced WAL (issue 15, item 2) ----
 * A disk with a volatile write cache writes pages back out of order: after
 * a power loss one 4 KiB page of the WAL's unsynced tail is zeros from a
 * record boundary to the page's end, while later pages survived. RocksDB
 * 7.8 reads the zero header as padding, skips the rest of its 32 KiB block
 * and recovers the records of the next block: the log has a hole in the
 * middle. */

#define WAL_BLOCK 32768
#define PAGE 4096

/* Appends one single-event batch (event n, value "h<n>:" padded with 'x' to
 * vlen bytes) and syncs it (the journal). Returns 0 when stored at seq. */
static int put_one(store_t *s, store_batch_t *b, unsigned n, size_t vlen)
{
    char err[256], val[160];
    uint8_t id[16];
    uint64_t seq;
    int k = snprintf(val, sizeof val, "h%u:", n);
    if (vlen < (size_t)k || vlen >= sizeof val)
        return -1;
    memset(val + k, 'x', vlen - (size_t)k);
    mkid(id, 90000 + n);
    store_batch_reset(b);
    store_batch_add(b, "wm-police", id, val, vlen);
    uint64_t head = store_head(s);
    if (store_dedupe(s, b, err, sizeof err) < 0 || store_batch_result(b, 0, &seq) != STORE_PENDING)
        return -1;
    store_batch_accept(b, 0, head + 1);
    if (store_append(s, b, err, sizeof err) < 0 || store_sync(s, err, sizeof err) < 0)
        return -1;
    return 0;
}

/* The value put_one stores for event n, into out; returns its length. */
static size_t hole_val(char *out, unsigned n, size_t vlen)
{
    int k = snprintf(out, 160, "h%u:", n);
    memset(out + k, 'x', vlen - (size_t)k);
    return vlen;
}

typedef struct {
    uint64_t n;    /* entries seen */
    uint64_t next; /* next expected seq */
    uint64_t gaps; /* seqs missing before an entry */
    size_t *vlens; /* value length of event seq-1 */
    uint64_t bad;  /* entries with a wrong value */
} hscan_t;

static int hvisit(void *arg, uint64_t seq, const void *val, size_t len)
{
    hscan_t *h = arg;
    char want[160];
    if (seq > h->next)
        h->gaps += seq - h->next;
    size_t wl = hole_val(want, (unsigned)(seq - 1), h->vlens[seq - 1]);
    if (len != wl || memcmp(val, want, wl) != 0)
        h->bad++;
    h->next = seq + 1;
    h->n++;
    return 0;
}

/* Makes a store whose WAL has a hole: single-event batches appended, each
 * synced through the journal, until a WAL record ends at a 32 KiB block
 * boundary (value sizes chosen to get there), then 20 more; then zeroes,
 * in the block before that boundary, from the start of the last record
 * that starts past the synced part and not in the block's last page, to
 * the end of its 4 KiB page. Fills vlens (value length per event) and *total. Returns 0,
 * or -1 (diagnosed). */
static int make_hole(const char *dir, size_t *vlens, size_t max, unsigned *total,
                     uint64_t *lost_from)
{
    char err[256], names[4][64], wal[600];
    off_t sz[4];
    store_t *s;
    store_batch_t *b = store_batch_new();
    unsigned n = 0;
    off_t synced, boundary = 0, starts[4096];
    unsigned starts_n[4096];
    int nstarts = 0;
    if (store_open(&s, dir, 0, err, sizeof err) < 0) {
        diag("open: %s", err);
        return -1;
    }
    if (wal_sizes(dir, names, sz, 4) != 1) {
        diag("expected one WAL file");
        store_close(&s);
        return -1;
    }
    snprintf(wal, sizeof wal, "%s/%s", dir, names[0]);
    synced = sz[0];
    /* the record overhead c: a record of an event with a vlen-byte value is
     * 7 (header) + c + vlen bytes */
    struct stat st;
    off_t before = synced;
    vlens[n] = 60;
    if (put_one(s, b, n, 60) < 0 || stat(wal, &st) != 0)
        goto fail;
    n++;
    off_t c = st.st_size - before - 7 - 60;
    before = st.st_size;
    while (n + 21 < max) {
        off_t rem = WAL_BLOCK - before % WAL_BLOCK, v = 60;
        if (before > synced + PAGE && (rem == WAL_BLOCK || rem < 7)) {
            boundary = rem == WAL_BLOCK ? before : before + rem; /* padded with zeros */
            break;
        }
        if (rem - 7 - c >= 8 && rem - 7 - c <= 120)
            v = rem - 7 - c; /* the record ends exactly at the boundary */
        else if (rem - 7 - c > 120 && rem - 7 - c - 60 - 7 - c < 8)
            v = 30; /* leaves room for an exact fit next */
        if (nstarts < 4096) {
            starts[nstarts] = before;
            starts_n[nstarts++] = n;
        }
        vlens[n] = (size_t)v;
        if (put_one(s, b, n, (size_t)v) < 0 || stat(wal, &st) != 0)
            goto fail;
        n++;
        before = st.st_size;
    }
    if (!boundary)
        goto fail;
    for (int i = 0; i < 20; i++) {
        vlens[n] = 60;
        if (put_one(s, b, n, 60) < 0)
            goto fail;
        n++;
    }
    store_close(&s);
    store_batch_destroy(&b);
    /* the hole: the last record that starts in the block's last-but-one
     * page or earlier, past the synced part, zeroed to its page's end */
    int pick = -1;
    for (int i = 0; i < nstarts; i++)
        if (starts[i] >= synced && starts[i] >= boundary - WAL_BLOCK &&
            (starts[i] / PAGE + 1) * PAGE < boundary)
            pick = i;
    if (pick < 0) {
        diag("no record start to make the hole at");
        return -1;
    }
    off_t from = starts[pick], to = (from / PAGE + 1) * PAGE;
    static const char zeros[PAGE];
    int fd = open(wal, O_WRONLY);
    if (fd < 0 || pwrite(fd, zeros, (size_t)(to - from), from) != to - from) {
        diag("zeroing the WAL: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    *total = n;
    *lost_from = starts_n[pick] + 1;
    diag("hole at WAL bytes %lld-%lld (synced to %lld, block ends %lld), from seq %llu",
         (long long)from, (long long)to, (long long)synced, (long long)boundary,
         (unsigned long long)*lost_from);
    return 0;
fail:
    diag("could not build the WAL for the hole");
    store_close(&s);
    store_batch_destroy(&b);
    return -1;
}

/* A read-write open fills the hole from the journal: every event back at
 * its own seq, the dedupe index agreeing, a resend a DUPLICATE. */
static void wal_hole_filled(void)
{
    char dir[] = "/tmp/cohort-t-store-hole-XXXXXX", err[256], cmd[300];
    static size_t vlens[3000];
    unsigned total = 0;
    uint64_t lost = 0, seq;
    store_t *s;
    if (!mkdtemp(dir) || make_hole(dir, vlens, 3000, &total, &lost) < 0) {
        ok(0, "make a WAL with a hole");
        return;
    }
    if (store_open(&s, dir, STORE_READONLY, err, sizeof err) == 0) {
        hscan_t h = {0, 1, 0, vlens, 0};
        store_scan(s, 1, 0, hvisit, &h);
        ok(store_head(s) == total && h.gaps > 0,
           "RocksDB alone recovers past the hole: head %llu of %u, %llu seqs missing",
           (unsigned long long)store_head(s), total, (unsigned long long)h.gaps);
        store_close(&s);
    } else {
        ok(0, "read-only open with the hole: %s", err);
    }
    is_int(store_open(&s, dir, 0, err, sizeof err), 0, "a read-write open after the hole");
    if (!s)
        return;
    hscan_t h = {0, 1, 0, vlens, 0};
    is_int(store_scan(s, 1, 0, hvisit, &h), 0, "scan");
    ok(h.n == total && h.gaps == 0 && h.bad == 0 && store_head(s) == total,
       "every event is back at its seq: %llu entries, %llu missing, %llu wrong, head %llu",
       (unsigned long long)h.n, (unsigned long long)h.gaps, (unsigned long long)h.bad,
       (unsigned long long)store_head(s));
    ok(store_recovered(s) > 0, "%llu events written back from the journal",
       (unsigned long long)store_recovered(s));
    uint8_t id[16];
    mkid(id, 90000 + (unsigned)(lost - 1));
    ok(store_lookup(s, "wm-police", id, &seq) == 0 && seq == lost,
       "the dedupe index has the first lost event at its seq %llu", (unsigned long long)lost);
    store_batch_t *b = store_batch_new();
    char val[160];
    store_batch_add(b, "wm-police", id, val, hole_val(val, (unsigned)(lost - 1), vlens[lost - 1]));
    is_int(store_commit(s, b, err, sizeof err), 0, "resend it");
    ok(store_batch_result(b, 0, &seq) == STORE_DUPLICATE && seq == lost,
       "it is a DUPLICATE of seq %llu, not stored again", (unsigned long long)lost);
    store_batch_destroy(&b);
    store_close(&s);
    is_int(store_open(&s, dir, 0, err, sizeof err), 0, "another open");
    ok(s && store_head(s) == total && store_recovered(s) == 0, "finds nothing more to write back");
    store_close(&s);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        diag("could not remove %s", dir);
}

/* The same hole, but the journal record of the first lost event is damaged
 * too (so is every later one, to a scan): the read-write open refuses, and
 * says which seqs are missing; a read-only open still works. */
static void wal_hole_unfillable(void)
{
    char dir[] = "/tmp/cohort-t-store-hole2-XXXXXX", err[512], cmd[300], path[600], want[64];
    static size_t vlens[3000];
    unsigned total = 0;
    uint64_t lost = 0;
    store_t *s = NULL;
    if (!mkdtemp(dir) || make_hole(dir, vlens, 3000, &total, &lost) < 0) {
        ok(0, "make a WAL with a hole");
        return;
    }
    /* walk the journal's records (journal.h) to the one of seq lost */
    snprintf(path, sizeof path, "%s/journal", dir);
    int fd = open(path, O_RDWR), damaged = 0;
    uint8_t hdr[48];
    for (off_t off = 0; fd >= 0 && pread(fd, hdr, 48, off) == 48 && !memcmp(hdr, "CJR1", 4);) {
        uint32_t len = (uint32_t)hdr[4] | (uint32_t)hdr[5] << 8 | (uint32_t)hdr[6] << 16 |
                       (uint32_t)hdr[7] << 24;
        uint64_t first = 0;
        for (int i = 7; i >= 0; i--)
            first = first << 8 | hdr[16 + i];
        if (first == lost) {
            uint8_t x = 0xff;
            damaged = pwrite(fd, &x, 1, off + 48 + len / 2) == 1;
            break;
        }
        off += 48 + len;
    }
    if (fd >= 0)
        close(fd);
    ok(damaged, "the journal record of seq %llu damaged", (unsigned long long)lost);
    int rc = store_open(&s, dir, 0, err, sizeof err);
    ok(rc < 0 && !s, "a read-write open refuses: %s", rc < 0 ? err : "(it opened)");
    snprintf(want, sizeof want, "%llu", (unsigned long long)lost);
    ok(rc < 0 && strstr(err, "gap") && strstr(err, want), "the reason names the gap at seq %s",
       want);
    store_close(&s);
    ok(store_open(&s, dir, STORE_READONLY, err, sizeof err) == 0 && store_head(s) == total,
       "a read-only open still works (for cohortctl)");
    store_close(&s);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        diag("could not remove %s", dir);
}

int main(void)
{
    char dir[] = "/tmp/cohort-t-store-XXXXXX", err[256], cmd[300];
    store_t *s;
    store_batch_t *b = store_batch_new();
    uint8_t id[16];
    uint64_t seq;
    char val[32];
    if (!mkdtemp(dir))
        return 1;

    is_int(store_open(&s, dir, 0, err, sizeof err), 0, "opens a new store");
    is_int(store_head(s), 0, "empty log has head 0");

    /* 100 new events: consecutive sequences from 1 */
    for (unsigned i = 0; i < 100; i++) {
        mkid(id, i);
        snprintf(val, sizeof val, "ev%u", i);
        store_batch_add(b, "wm-police", id, val, strlen(val));
    }
    is_int(store_commit(s, b, err, sizeof err), 0, "commit of 100 events");
    int all = 1;
    for (size_t i = 0; i < 100; i++)
        if (store_batch_result(b, i, &seq) != STORE_ACCEPTED || seq != i + 1)
            all = 0;
    ok(all, "each is ACCEPTED at seq 1..100 in order");
    is_int(store_head(s), 100, "head is 100");
    is_int(store_batch_accepted(b), 100, "100 accepted");

    /* repeats: in store, within the batch, other agency same id */
    store_batch_reset(b);
    mkid(id, 5);
    store_batch_add(b, "wm-police", id, "x", 1); /* dup of seq 6 */
    mkid(id, 1000);
    store_batch_add(b, "wm-police", id, "ev100", 5); /* new: 101 */
    store_batch_add(b, "wm-police", id, "y", 1);     /* dup in batch of 101 */
    mkid(id, 5);
    store_batch_add(b, "cps-wm", id, "ev101", 5); /* new: same id, other agency */
    store_batch_add(b, "wm-police", id, "z", 1);  /* dup of 6 again */
    is_int(store_commit(s, b, err, sizeof err), 0, "commit of mixed batch");
    is_int(store_batch_result(b, 0, &seq), STORE_DUPLICATE, "repeat of a stored event: DUPLICATE");
    is_int(seq, 6, "with its original seq");
    is_int(store_batch_result(b, 1, &seq), STORE_ACCEPTED, "new event ACCEPTED");
    is_int(seq, 101, "at the next seq");
    is_int(store_batch_result(b, 2, &seq), STORE_DUPLICATE, "repeat within the batch: DUPLICATE");
    is_int(seq, 101, "pointing at the first copy");
    is_int(store_batch_result(b, 3, &seq), STORE_ACCEPTED,
           "same event_id from another agency is a different event");
    is_int(seq, 102, "gets its own seq");
    is_int(store_batch_result(b, 4, &seq), STORE_DUPLICATE, "second repeat in batch: DUPLICATE");
    is_int(seq, 6, "original seq");
    is_int(store_head(s), 102, "head advanced by the two new events only");

    /* an all-duplicate batch writes nothing */
    store_batch_reset(b);
    mkid(id, 7);
    store_batch_add(b, "wm-police", id, "q", 1);
    is_int(store_commit(s, b, err, sizeof err), 0, "all-duplicate commit");
    is_int(store_batch_accepted(b), 0, "accepts nothing");
    is_int(store_head(s), 102, "head unchanged");

    /* lookup */
    mkid(id, 1000);
    ok(store_lookup(s, "wm-police", id, &seq) == 0 && seq == 101, "lookup finds seq 101");
    mkid(id, 9999);
    is_int(store_lookup(s, "wm-police", id, &seq), -2, "lookup of unknown id is -ENOENT");

    /* restart keeps log and dedupe index */
    store_close(&s);
    ok(s == NULL, "close nulls the pointer");
    is_int(store_open(&s, dir, 0, err, sizeof err), 0, "reopens");
    is_int(store_head(s), 102, "head survives the reopen");
    store_batch_reset(b);
    mkid(id, 42);
    store_batch_add(b, "wm-police", id, "again", 5);
    mkid(id, 2000);
    store_batch_add(b, "wm-police", id, "ev102", 5);
    store_commit(s, b, err, sizeof err);
    ok(store_batch_result(b, 0, &seq) == STORE_DUPLICATE && seq == 43,
       "dedupe index survives the reopen (seq 43)");
    ok(store_batch_result(b, 1, &seq) == STORE_ACCEPTED && seq == 103,
       "sequence continues gap-free after the reopen (103)");

    /* scan */
    scan_t sc = {1, 1, 1, 0};
    is_int(store_scan(s, 1, 0, visit, &sc), 0, "scan from 1");
    is_int(sc.count, 103, "visits all 103 entries");
    ok(sc.in_order && sc.values_ok, "in order, each with its own value");
    scan_t sc2 = {50, 1, 1, 0};
    store_scan(s, 50, 10, visit, &sc2);
    ok(sc2.count == 10 && sc2.in_order, "scan from 50 with limit 10");

    /* read-only open beside the writer */
    store_t *ro;
    is_int(store_open(&ro, dir, STORE_READONLY, err, sizeof err), 0, "read-only open works");
    is_int(store_head(ro), 103, "and sees the head");
    store_batch_reset(b);
    store_batch_add(b, "wm-police", id, "x", 1);
    ok(store_commit(ro, b, err, sizeof err) < 0, "a read-only store refuses commits");
    is_int(store_batch_result(b, 0, &seq), STORE_FAILED, "and marks the items failed");
    store_close(&ro);

    /* store_reopen: what a failed write recovers with */
    is_int(store_reopen(s, err, sizeof err), 0, "store_reopen succeeds");
    is_int(store_head(s), 103, "the head is reread");
    store_batch_reset(b);
    mkid(id, 3000);
    store_batch_add(b, "wm-police", id, "ev103", 5);
    mkid(id, 42);
    store_batch_add(b, "wm-police", id, "again", 5);
    is_int(store_commit(s, b, err, sizeof err), 0, "commits after the reopen");
    ok(store_batch_result(b, 0, &seq) == STORE_ACCEPTED && seq == 104, "at the next seq (104)");
    ok(store_batch_result(b, 1, &seq) == STORE_DUPLICATE && seq == 43, "dedupe intact (43)");
    /* A reopen that fails leaves a closed store that refuses everything. */
    char moved[300];
    snprintf(moved, sizeof moved, "%s.moved", dir);
    if (rename(dir, moved) == 0) {
        if (mkdir(dir, 0700) == 0 && chmod(dir, 0500) == 0 && geteuid() != 0) {
            ok(store_reopen(s, err, sizeof err) < 0, "reopen of an unusable directory fails: %.60s",
               err);
        } else {
            /* root ignores the mode: an empty dir opens as a new store, so
             * make the path a file instead */
            rmdir(dir);
            FILE *f = fopen(dir, "w");
            if (f)
                fclose(f);
            ok(store_reopen(s, err, sizeof err) < 0, "reopen of a non-directory fails: %.60s", err);
        }
        store_batch_reset(b);
        store_batch_add(b, "wm-police", id, "x", 1);
        ok(store_commit(s, b, err, sizeof err) < 0, "a closed store refuses commits");
        is_int(store_batch_result(b, 0, &seq), STORE_FAILED, "and marks the items failed");
        ok(store_lookup(s, "wm-police", id, &seq) < 0, "and lookups");
        scan_t sc3 = {1, 1, 1, 0};
        ok(store_scan(s, 1, 0, visit, &sc3) < 0, "and scans");
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (system(cmd) != 0)
            diag("could not remove %s", dir);
        ok(rename(moved, dir) == 0, "directory restored");
        is_int(store_reopen(s, err, sizeof err), 0, "a later reopen recovers");
        is_int(store_head(s), 104, "with the head as it was");
    } else {
        ok(0, "could not move the store directory aside");
    }

    /* a directory that is not a store */
    char bad[300];
    snprintf(bad, sizeof bad, "%s/nope", dir);
    ok(store_open(&ro, bad, STORE_READONLY, err, sizeof err) < 0 && *err,
       "read-only open of a missing store fails with a reason: %.60s", err);

    store_close(&s);
    ok(s == NULL, "close nulls the pointer");
    store_close(&s);
    store_close(NULL);
    ok(s == NULL, "close is idempotent, and takes NULL");
    store_batch_destroy(&b);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        diag("could not remove %s", dir);
    power_loss();
    wal_hole_filled();
    wal_hole_unfillable();
    return tap_done();
}
