/* journal.c: the ack journal (see journal.h for the format and contracts).
 *
 * Records are serialised into the pending buffer by journal_add (header
 * fields except epoch and hash); journal_flush swaps buffers under the
 * mutex, stamps epoch and hash, and writes them at the current offset. The
 * file was written in full at creation, so that write allocates nothing
 * and its fdatasync writes no metadata. The io mutex orders flushes,
 * resets and scrubs (the file offset, the epoch and the spare buffer);
 * journal_add takes only mu, so it never waits for a flush's I/O. */
#include "journal.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAGIC "CJR1"
#define HASHED 32 /* header bytes covered by the hash, before it */
#define FILL (1u << 20)

struct journal_t {
    int fd;             /* the file, O_RDWR */
    uint64_t size;      /* bytes of the file used: JOURNAL_SIZE (see journal_size) */
    pthread_mutex_t io; /* guards epoch, off, dirty and spare (flush, reset, scrub) */
    uint64_t epoch;     /* current epoch */
    uint64_t off;       /* where the next flush writes */
    uint64_t dirty;     /* bytes from offset 0 that may hold records (scrub zeroes them) */
    pthread_mutex_t mu; /* guards pending, npending, broken */
    uint8_t *pending;   /* records added since the last flush took them */
    size_t npending;    /* bytes in pending */
    size_t cap;         /* bytes allocated for pending */
    uint8_t *spare;     /* the other buffer: written by the flush (flush thread) */
    size_t spare_cap;   /* bytes allocated for spare */
    int broken;         /* an add failed or overflowed: the next flush refuses */
};

/* A record header's fields (journal.h gives their bytes, little-endian). */
typedef struct {
    uint32_t len;   /* payload bytes */
    uint64_t epoch; /* the epoch it was flushed in */
    uint64_t first; /* first log sequence of the batch */
    uint64_t last;  /* last log sequence of the batch */
} hdr_t;

/* Writes the magic and h's fields at p (not the hash). */
static void pack(uint8_t *p, const hdr_t *h)
{
    uint32_t len = htole32(h->len);
    uint64_t v[3] = {htole64(h->epoch), htole64(h->first), htole64(h->last)};
    memcpy(p, MAGIC, 4);
    memcpy(p + 4, &len, 4);
    memcpy(p + 8, v, sizeof v);
}

/* Reads the fields of the header at p. */
static hdr_t unpack(const uint8_t *p)
{
    uint32_t len;
    uint64_t v[3];
    memcpy(&len, p + 4, 4);
    memcpy(v, p + 8, sizeof v);
    return (hdr_t){le32toh(len), le64toh(v[0]), le64toh(v[1]), le64toh(v[2])};
}

/* The record hash: BLAKE2b-128 of the header's first HASHED bytes and the
 * payload. */
static void digest(uint8_t out[16], const uint8_t *hdr, const void *payload, size_t len)
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, 16);
    crypto_generichash_update(&st, hdr, HASHED);
    crypto_generichash_update(&st, payload, len);
    crypto_generichash_final(&st, out, 16);
}

static int flush_locked(journal_t *self);

static uint64_t new_epoch(void)
{
    uint64_t e;
    randombytes_buf(&e, sizeof e);
    return e;
}

/* The journal's size: JOURNAL_SIZE, or for tests only (so that a short
 * test wraps it many times), COHORT_TEST_JOURNAL_SIZE from the environment
 * when it is a multiple of 4096 from 256 KiB to JOURNAL_SIZE. */
static uint64_t journal_size(void)
{
    const char *e = getenv("COHORT_TEST_JOURNAL_SIZE");
    char *end;
    unsigned long long v = e ? strtoull(e, &end, 10) : 0;
    if (!e || *end || v % 4096 || v < (256u << 10) || v > JOURNAL_SIZE)
        return JOURNAL_SIZE;
    return v;
}

/* Writes zeros from the file's end up to size bytes and syncs it (and, for
 * a new file, its directory). Returns 0 or -errno. */
static int fill(int fd, const char *path, off_t from, off_t size)
{
    char *z = calloc(1, FILL), dir[PATH_MAX];
    int rc = 0;
    if (!z)
        return -ENOMEM;
    for (off_t o = from; o < size && rc == 0;) {
        size_t n = size - o < FILL ? (size_t)(size - o) : FILL;
        ssize_t w = pwrite(fd, z, n, o);
        if (w < 0)
            rc = -errno;
        else if (w == 0)
            rc = -EIO;
        else
            o += w; /* a short write is retried, to learn why (ENOSPC) */
    }
    free(z);
    if (rc == 0 && fsync(fd) != 0)
        rc = -errno;
    if (rc == 0 && from == 0 && snprintf(dir, sizeof dir, "%s", path) < (int)sizeof dir) {
        int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || fsync(dfd) != 0)
            rc = -errno;
        if (dfd >= 0)
            close(dfd);
    }
    return rc;
}

int journal_open(journal_t **out, const char *path, char *err, size_t errlen)
{
    journal_t *self = calloc(1, sizeof *self);
    struct stat st;
    int rc;
    *out = NULL;
    if (!self || sodium_init() < 0) {
        free(self);
        snprintf(err, errlen, "journal: out of memory");
        return -ENOMEM;
    }
    self->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (self->fd < 0 || fstat(self->fd, &st) != 0) {
        rc = -errno;
        snprintf(err, errlen, "journal %s: %s", path, strerror(-rc));
        goto fail;
    }
    self->size = journal_size();
    if (st.st_size < (off_t)self->size &&
        (rc = fill(self->fd, path, st.st_size, (off_t)self->size)) < 0) {
        /* A short file holds no record (records are written only once it
         * is full size): leave it as it was. */
        snprintf(err, errlen, "journal %s: writing it in full: %s", path, strerror(-rc));
        if (st.st_size == 0 ? unlink(path) : ftruncate(self->fd, st.st_size)) {
            /* nothing more to do: the next open tries again */
        }
        goto fail;
    }
    if (pthread_mutex_init(&self->mu, NULL) != 0) {
        rc = -ENOMEM;
        snprintf(err, errlen, "journal: cannot create its mutex");
        close(self->fd);
        free(self);
        return rc;
    }
    if (pthread_mutex_init(&self->io, NULL) != 0) {
        rc = -ENOMEM;
        snprintf(err, errlen, "journal: cannot create its mutex");
        pthread_mutex_destroy(&self->mu);
        close(self->fd);
        free(self);
        return rc;
    }
    self->epoch = new_epoch();
    /* A new file is zeros; an old one may hold earlier runs' records anywhere. */
    self->dirty = st.st_size == 0 ? 0 : self->size;
    *out = self;
    return 0;
fail:
    if (self->fd >= 0)
        close(self->fd);
    free(self);
    return rc;
}

void journal_close(journal_t **self_p)
{
    journal_t *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    close(self->fd);
    pthread_mutex_destroy(&self->mu);
    pthread_mutex_destroy(&self->io);
    if (self->pending)
        sodium_memzero(self->pending, self->cap);
    if (self->spare)
        sodium_memzero(self->spare, self->spare_cap);
    free(self->pending);
    free(self->spare);
    free(self);
    *self_p = NULL;
}

int journal_scan(journal_t *self,
                 int (*fn)(void *arg, uint64_t first, uint64_t last, const void *payload,
                           size_t len),
                 void *arg)
{
    uint8_t hdr[JOURNAL_HEADER], sum[16], *buf = NULL;
    uint64_t off = 0, epoch = 0, expect = 0;
    size_t cap = 0;
    int rc = 0;
    while (off + JOURNAL_HEADER <= self->size) {
        ssize_t n = pread(self->fd, hdr, sizeof hdr, (off_t)off);
        if (n < 0) {
            rc = -EIO;
            break;
        }
        if (n != (ssize_t)sizeof hdr || memcmp(hdr, MAGIC, 4) != 0)
            break;
        hdr_t h = unpack(hdr);
        uint32_t len = h.len;
        uint64_t first = h.first, last = h.last;
        if (len > self->size - off - JOURNAL_HEADER || first == 0 || last < first ||
            (off > 0 && (h.epoch != epoch || first != expect)))
            break; /* not a record, another epoch's, or not the next batch */
        if (len > cap) {
            uint8_t *b = realloc(buf, len);
            if (!b) {
                rc = -ENOMEM;
                break;
            }
            buf = b;
            cap = len;
        }
        if (len && pread(self->fd, buf, len, (off_t)(off + JOURNAL_HEADER)) != (ssize_t)len) {
            rc = -EIO;
            break;
        }
        digest(sum, hdr, buf, len);
        if (memcmp(sum, hdr + HASHED, 16) != 0)
            break; /* torn */
        epoch = h.epoch;
        expect = last + 1;
        if ((rc = fn(arg, first, last, buf, len)) != 0)
            break;
        off += JOURNAL_HEADER + len;
    }
    free(buf);
    return rc;
}

void journal_reset(journal_t *self, int drop)
{
    pthread_mutex_lock(&self->io);
    self->epoch = new_epoch();
    self->off = 0;
    pthread_mutex_unlock(&self->io);
    if (drop) {
        pthread_mutex_lock(&self->mu);
        self->npending = 0;
        self->broken = 0;
        pthread_mutex_unlock(&self->mu);
    }
}

int journal_add(journal_t *self, uint64_t first, uint64_t last, const void *payload, size_t len)
{
    int rc = 0;
    pthread_mutex_lock(&self->mu);
    size_t need = self->npending + JOURNAL_HEADER + len;
    if (self->broken || need > JOURNAL_FLUSH_MAX) {
        /* The next flush refuses the pending records: copy nothing more. */
        self->broken = 1;
        pthread_mutex_unlock(&self->mu);
        return 0;
    } else if (need > self->cap) {
        size_t n = self->cap ? self->cap : 64 << 10;
        while (n < need)
            n *= 2;
        uint8_t *p = realloc(self->pending, n);
        if (!p)
            rc = -ENOMEM;
        else
            self->pending = p, self->cap = n;
    }
    if (rc == 0) {
        uint8_t *h = self->pending + self->npending;
        pack(h, &(hdr_t){(uint32_t)len, 0, first, last}); /* epoch: at flush */
        memcpy(h + JOURNAL_HEADER, payload, len);
        self->npending = need;
    } else {
        self->broken = 1;
    }
    pthread_mutex_unlock(&self->mu);
    return rc;
}

int journal_flush(journal_t *self)
{
    int rc;
    pthread_mutex_lock(&self->io);
    rc = flush_locked(self);
    pthread_mutex_unlock(&self->io);
    return rc;
}

int journal_scrub(journal_t *self)
{
    uint8_t *z = NULL;
    int rc = 0;
    pthread_mutex_lock(&self->io);
    pthread_mutex_lock(&self->mu);
    if (self->pending)
        sodium_memzero(self->pending, self->cap);
    self->npending = 0;
    self->broken = 0;
    pthread_mutex_unlock(&self->mu);
    if (self->spare)
        sodium_memzero(self->spare, self->spare_cap);
    self->epoch = new_epoch();
    self->off = 0;
    if (self->dirty && !(z = calloc(1, FILL)))
        rc = -ENOMEM;
    /* From the end back to offset 0: until the first record's bytes are
     * gone, a scan still finds the old records, all durable in RocksDB. */
    for (uint64_t end = self->dirty; rc == 0 && end > 0;) {
        size_t n = end < FILL ? (size_t)end : FILL;
        ssize_t w = pwrite(self->fd, z, n, (off_t)(end - n));
        if (w != (ssize_t)n)
            rc = w < 0 ? -errno : -EIO;
        else
            end -= n;
    }
    free(z);
    if (rc == 0 && self->dirty && fdatasync(self->fd) != 0)
        rc = -errno;
    if (rc == 0)
        self->dirty = 0;
    pthread_mutex_unlock(&self->io);
    return rc;
}

/* journal_flush with the io mutex held. */
static int flush_locked(journal_t *self)
{
    uint8_t *buf;
    size_t n;
    int broken;
    pthread_mutex_lock(&self->mu);
    buf = self->pending;
    n = self->npending;
    broken = self->broken;
    size_t cap = self->cap;
    self->pending = self->spare;
    self->cap = self->spare_cap;
    self->spare = buf;
    self->spare_cap = cap;
    self->npending = 0;
    self->broken = 0;
    pthread_mutex_unlock(&self->mu);
    if (broken || n > JOURNAL_FLUSH_MAX || self->off + n > self->size)
        return -ENOSPC;
    if (n == 0)
        return -EAGAIN;
    for (size_t at = 0; at < n;) {
        uint8_t *h = buf + at;
        hdr_t f = unpack(h);
        f.epoch = self->epoch;
        pack(h, &f);
        digest(h + HASHED, h, h + JOURNAL_HEADER, f.len);
        at += JOURNAL_HEADER + f.len;
    }
    if (self->off + n > self->dirty)
        self->dirty = self->off + n; /* even a failed write may have written */
    ssize_t w = pwrite(self->fd, buf, n, (off_t)self->off);
    if (w != (ssize_t)n)
        return w < 0 ? -errno : -EIO;
    if (fdatasync(self->fd) != 0)
        return -errno;
    self->off += n;
    return 0;
}
