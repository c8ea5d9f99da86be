/* t_journal: unit tests for journal.c — the file is written in full at
 * creation, records round-trip through flush and scan (also after a
 * reopen), a torn record or one of an older epoch ends the scan, and the
 * flush refuses what is too large, does not fit, or has a gap; a reset
 * leaves an older epoch's bytes in the file, and journal_scrub zeroes every
 * record (also those of an earlier open), drops the pending ones, and the
 * records flushed after it are recovered as before. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal.h"
#include "tap.h"

typedef struct {
    int n;              /* records visited */
    uint64_t first[8];  /* their first sequences */
    uint64_t last[8];   /* their last sequences */
    char payload[8][8]; /* their payloads (short ones) */
} seen_t;

static int visit(void *arg, uint64_t first, uint64_t last, const void *payload, size_t len)
{
    seen_t *s = arg;
    if (s->n < 8) {
        s->first[s->n] = first;
        s->last[s->n] = last;
        snprintf(s->payload[s->n], sizeof s->payload[0], "%.*s", (int)len, (const char *)payload);
    }
    s->n++;
    return 0;
}

/* Scans the journal at path as a fresh open would see it. */
static seen_t rescan(const char *path)
{
    seen_t s = {0};
    char err[256];
    journal_t *j;
    if (journal_open(&j, path, err, sizeof err) < 0) {
        diag("reopen failed: %s", err);
        s.n = -1;
        return s;
    }
    if (journal_scan(j, visit, &s) < 0)
        s.n = -1;
    journal_close(&j);
    return s;
}

/* Counts the occurrences of the n bytes at pat in the file at path, and
 * sets *nonzero to the number of its bytes that are not zero. Returns -1
 * when the file cannot be read. */
static long count_in_file(const char *path, const uint8_t *pat, size_t n, long *nonzero)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = malloc(JOURNAL_SIZE);
    long hits = 0;
    size_t len;
    *nonzero = 0;
    if (!f || !buf) {
        if (f)
            fclose(f);
        free(buf);
        return -1;
    }
    len = fread(buf, 1, JOURNAL_SIZE, f);
    fclose(f);
    for (size_t i = 0; i < len; i++) {
        *nonzero += buf[i] != 0;
        if (i + n <= len && memcmp(buf + i, pat, n) == 0)
            hits++;
    }
    free(buf);
    return hits;
}

static off_t size_of(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

int main(void)
{
    char dir[] = "/tmp/cohort-t-journal-XXXXXX", path[300], err[256], cmd[320];
    journal_t *j;
    seen_t s;
    if (!mkdtemp(dir))
        return 1;
    snprintf(path, sizeof path, "%s/%s", dir, JOURNAL_NAME);

    is_int(journal_open(&j, path, err, sizeof err), 0, "creates a journal");
    is_int(size_of(path), JOURNAL_SIZE, "written in full to its fixed size");
    s = (seen_t){0};
    is_int(journal_scan(j, visit, &s), 0, "scan of a new journal");
    is_int(s.n, 0, "finds no record");
    is_int(journal_flush(j), -EAGAIN, "a flush with nothing added says so");

    /* three records, one flush */
    is_int(journal_add(j, 1, 2, "ab", 2), 0, "add 1-2");
    is_int(journal_add(j, 3, 5, "cde", 3), 0, "add 3-5");
    is_int(journal_add(j, 6, 6, "", 0), 0, "add 6 (empty payload)");
    is_int(journal_flush(j), 0, "flush writes them");
    is_int(journal_add(j, 7, 7, "g", 1), 0, "add 7");
    is_int(journal_flush(j), 0, "a second flush appends after them");
    s = rescan(path);
    is_int(s.n, 4, "a reopened journal scans all four records");
    ok(s.first[0] == 1 && s.last[0] == 2 && strcmp(s.payload[0], "ab") == 0 && s.first[1] == 3 &&
           s.last[1] == 5 && strcmp(s.payload[1], "cde") == 0 && s.first[2] == 6 &&
           s.payload[2][0] == 0 && s.first[3] == 7 && strcmp(s.payload[3], "g") == 0,
       "in order, with their sequences and payloads");

    /* a torn record ends the scan: flip a byte of record 2's payload */
    int fd = open(path, O_RDWR);
    char c;
    off_t at = JOURNAL_HEADER + 2 + JOURNAL_HEADER; /* record 2's payload */
    ok(fd >= 0 && pread(fd, &c, 1, at) == 1, "read a payload byte");
    c ^= 0x40;
    ok(pwrite(fd, &c, 1, at) == 1, "corrupt it");
    s = rescan(path);
    is_int(s.n, 1, "the scan stops before the torn record");
    c ^= 0x40;
    ok(pwrite(fd, &c, 1, at) == 1, "repair it");
    s = rescan(path);
    is_int(s.n, 4, "and finds all four again");

    /* a new epoch: a record of the same size at 0 is followed, at exactly
     * the next offset, by the old epoch's record 3-5 */
    journal_reset(j, 0);
    is_int(journal_add(j, 1, 2, "xy", 2), 0, "after a reset, add 1-2 again");
    is_int(journal_flush(j), 0, "flush it at offset 0");
    s = rescan(path);
    is_int(s.n, 1, "the scan stops at the older epoch's record");
    is_int(strcmp(s.payload[0], "xy"), 0, "and returns the new one");

    /* a gap ends the scan */
    is_int(journal_add(j, 4, 4, "q", 1), 0, "add 4 after 1-2 (a gap)");
    is_int(journal_flush(j), 0, "flush it");
    s = rescan(path);
    is_int(s.n, 1, "the scan stops at the gap");

    /* refusals: too large, then full */
    char *big = calloc(1, JOURNAL_FLUSH_MAX);
    journal_reset(j, 0);
    is_int(journal_add(j, 1, 1, big, JOURNAL_FLUSH_MAX), 0, "add a record over the flush limit");
    is_int(journal_flush(j), -ENOSPC, "the flush refuses it (the caller syncs RocksDB instead)");
    is_int(journal_flush(j), -EAGAIN, "and drops it");
    int flushes = 0, rc;
    uint64_t seq = 1;
    size_t chunk = JOURNAL_FLUSH_MAX / 2;
    while (flushes < 1000) {
        journal_add(j, seq, seq, big, chunk);
        seq++;
        if ((rc = journal_flush(j)) != 0)
            break;
        flushes++;
    }
    is_int(rc, -ENOSPC, "a full journal refuses the flush");
    is_int(flushes, (int)(JOURNAL_SIZE / (chunk + JOURNAL_HEADER)),
           "after exactly as many records as fit");
    journal_add(j, seq, seq, big, chunk); /* added after the refused flush */
    journal_reset(j, 0);
    journal_add(j, seq + 1, seq + 1, "w", 1);
    is_int(journal_flush(j), 0, "after a reset it takes records again");
    s = rescan(path);
    ok(s.n == 2 && s.first[0] == seq && s.first[1] == seq + 1,
       "a reset keeps the records added before it, first in the new epoch");
    journal_add(j, seq + 2, seq + 2, "z", 1);
    journal_reset(j, 1);
    is_int(journal_flush(j), -EAGAIN, "a reset with drop discards them");
    free(big);

    /* scrubbing: a reset leaves an older epoch's records (here one holding
     * a participant key) in the file; a scrub zeroes them */
    uint8_t secret[32];
    long nz;
    for (size_t i = 0; i < sizeof secret; i++)
        secret[i] = (uint8_t)(0xa5 ^ (i * 7));
    journal_close(&j);
    is_int(journal_open(&j, path, err, sizeof err), 0, "reopen for the scrub cases");
    journal_reset(j, 1);
    journal_add(j, 1, 1, "0123456789abcdef0123456789abcdef0123456789", 42);
    journal_add(j, 2, 2, secret, sizeof secret);
    is_int(journal_flush(j), 0, "a record holding a key is flushed after a longer one");
    journal_reset(j, 0); /* as after a WAL sync */
    journal_add(j, 3, 3, "short", 5);
    is_int(journal_flush(j), 0, "after a reset, a new epoch's record at offset 0");
    s = rescan(path);
    is_int(s.n, 1, "a scan sees only the new epoch's record");
    is_int(count_in_file(path, secret, sizeof secret, &nz), 1,
           "but the old epoch's key bytes are still in the file (a reset does no I/O)");
    journal_add(j, 4, 4, secret, sizeof secret); /* pending: durable elsewhere by contract */
    is_int(journal_scrub(j), 0, "scrub");
    is_int(count_in_file(path, secret, sizeof secret, &nz), 0, "no key bytes left in the file");
    is_int(nz, 0, "every byte of the file is zero (it held records of an earlier open)");
    is_int(size_of(path), JOURNAL_SIZE, "and it keeps its size");
    s = rescan(path);
    is_int(s.n, 0, "a scan finds no record after the scrub");
    is_int(journal_flush(j), -EAGAIN, "the records pending at the scrub were dropped");
    /* records not yet written back to RocksDB, flushed after the scrub,
     * are recovered as before */
    is_int(journal_add(j, 5, 5, "after", 5), 0, "add 5 after the scrub");
    is_int(journal_add(j, 6, 7, "more", 4), 0, "add 6-7");
    is_int(journal_flush(j), 0, "flush them");
    s = rescan(path);
    ok(s.n == 2 && s.first[0] == 5 && strcmp(s.payload[0], "after") == 0 && s.first[1] == 6 &&
           s.last[1] == 7 && strcmp(s.payload[1], "more") == 0,
       "a reopen after a crash recovers the records flushed after the scrub");
    journal_add(j, 8, 8, secret, sizeof secret);
    is_int(journal_flush(j), 0, "a key's record flushed in the same epoch");
    is_int(count_in_file(path, secret, sizeof secret, &nz), 1, "its bytes are in the file");
    is_int(journal_scrub(j), 0, "a second scrub (only the region written since the first)");
    is_int(count_in_file(path, secret, sizeof secret, &nz), 0, "erases them");
    is_int(nz, 0, "and every record with them");
    is_int(journal_add(j, 9, 9, "n", 1), 0, "add 9");
    is_int(journal_flush(j), 0, "flush it");
    s = rescan(path);
    ok(s.n == 1 && s.first[0] == 9, "the journal works on after a scrub");

    /* a file cut short (a crash while creating it) is filled up again */
    journal_close(&j);
    ok(j == NULL, "close nulls the pointer");
    journal_close(&j);
    journal_close(NULL);
    ok(j == NULL, "close is idempotent, and takes NULL");
    ok(truncate(path, 4096) == 0, "cut the file to 4 KiB");
    is_int(journal_open(&j, path, err, sizeof err), 0, "reopen");
    is_int(size_of(path), JOURNAL_SIZE, "the file has its full size again");
    journal_close(&j);
    if (fd >= 0)
        close(fd);

    /* an unwritable place fails with a reason */
    snprintf(cmd, sizeof cmd, "%s/missing/%s", dir, JOURNAL_NAME);
    ok(journal_open(&j, cmd, err, sizeof err) < 0 && strstr(err, "journal"),
       "open in a missing directory fails with a reason: %.60s", err);

    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        diag("could not remove %s", dir);
    return tap_done();
}
