/* outbox.c: the agent's durable outbox (contract in outbox.h).
 *
 * Longer than 1,000 lines on purpose: the on-disk format, its recovery
 * (torn tails, damage) and the dead letters are one contract and are read
 * together when it changes.
 *
 * Log layout (little-endian). Every record is a 16-byte header and a
 * payload:
 *   u32 magic "COBX" | u8 type | 3 zero bytes | u32 payload length |
 *   u32 CRC-32C of bytes 4..11 of the header and of the payload
 * Types and payloads:
 *   HDR   (1) u32 version (1), u64 next ticket. Always the first record.
 *   ADD   (2) u32 count, u8 flags (1: has hash), u16 source length, source,
 *             [32-byte content hash], then count times:
 *             16-byte event_id, u64 ticket, u32 line, u32 length, packed Event
 *   DONE  (3) u32 count, then count times: u64 ticket, u8 how (1 acked, 2 dead)
 *   CLEAR (4) u16 source length, source, 32-byte content hash
 * In memory: every entry since the last compaction, in ticket order (so a
 * ticket is found by binary search), with its state; the packed event
 * stays on disk and is read back (pread) when handed out. A hash table maps
 * event_id to the latest entry with that id (stale slots are checked by
 * state). */
#include "outbox.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "cohort.pb-c.h"
#include "cohort_json.h"
#include "uuid7.h"

#define MAGIC 0x58424f43u /* "COBX" */
#define HDR_LEN 16
#define T_HDR 1
#define T_ADD 2
#define T_DONE 3
#define T_CLEAR 4
#define VERSION 1
#define MAX_RECORD (1u << 30)    /* largest payload accepted */
#define SPLIT_RECORD (64u << 20) /* compaction writes ADD records up to this */
#define EV_OVERHEAD 32           /* id + ticket + line + length, per event in an ADD */
#define EMPTY_COMPACT (64u << 10)
#define DEFAULT_COMPACT_MIN (4u << 20)
#define DL_TAIL (1u << 20) /* dead-letter bytes read at open for entry numbers */
#define MAX_TAKEN 1024
#define NIL UINT32_MAX

enum { E_PENDING, E_CLAIMED, E_DONE };

/* One event since the last compaction. */
typedef struct {
    uint8_t id[16];  /* event_id */
    uint64_t ticket; /* entry number */
    uint64_t off;    /* file offset of the packed event */
    uint32_t len;    /* its length */
    uint32_t line;   /* line in the source */
    uint32_t src;    /* index into srcs */
    uint8_t state;   /* E_* */
} entry_t;

/* A source taken in and not cleared. */
typedef struct {
    char *name;                    /* source name */
    uint8_t hash[OUTBOX_HASH_LEN]; /* content hash */
} taken_t;

/* A growable byte buffer. */
typedef struct {
    uint8_t *p;
    size_t len, cap;
} buf_t;

struct outbox_t {
    char *dir;            /* the directory */
    char *log_path;       /* dir/outbox.log */
    char *tmp_path;       /* dir/outbox.log.tmp (compaction) */
    char *dl_path;        /* dir/dead-letter.jsonl */
    int lock_fd;          /* dir/lock, flocked */
    int fd;               /* the log */
    int dl_fd;            /* dead-letter file, -1 until first needed */
    uint64_t size;        /* log bytes */
    uint64_t live;        /* bytes a compaction would write */
    uint64_t compact_min; /* option */
    uint64_t next_ticket; /* next entry number */
    entry_t *ents;        /* entries, ticket order */
    size_t nents, cap;    /* count, room */
    uint64_t pending;     /* entries not done */
    uint64_t claimed;     /* entries claimed */
    size_t cursor;        /* no unclaimed pending entry below this index */
    uint32_t *hash;       /* event_id -> entry index; NIL empty */
    uint32_t hmask;       /* hash size - 1 (0: no table) */
    char **srcs;          /* source names */
    size_t nsrcs, srccap; /* count, room */
    taken_t *taken;       /* uncleared taken sources */
    size_t ntaken;        /* count (<= MAX_TAKEN) */
    buf_t done;           /* buffered DONE items (ticket, how) */
    uint32_t ndone;       /* how many */
    buf_t rbuf;           /* read buffer for outbox_next / reject */
    uint64_t *dl_seen;    /* entry numbers found at the dead-letter tail, sorted */
    size_t ndl_seen;      /* count */
    uint64_t dl_written;  /* dead letters written since open */
};

/* ------------------------------------------------------------ helpers --- */

/* CRC-32C, written here on purpose (issue 16 asked): it is part of the
 * outbox's record format, so outboxes written by earlier agents, holding
 * events not yet delivered, must stay readable after an upgrade; libsodium
 * has no CRC (its hashes would be a new format, needing a format version
 * and a migration), and Debian's zlib has CRC-32, not CRC-32C. It guards
 * against torn and damaged records, not against tampering (the outbox
 * directory is the agency's own, mode 0700). */
static uint32_t crc_table[256];

static void crc_init(void)
{
    static int ready;
    if (ready)
        return;
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1; /* CRC-32C (Castagnoli) */
        crc_table[i] = c;
    }
    ready = 1;
}

static uint32_t crc_update(uint32_t c, const uint8_t *p, size_t n)
{
    c = ~c;
    while (n--)
        c = crc_table[(c ^ *p++) & 0xff] ^ (c >> 8);
    return ~c;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16),
    p[3] = (uint8_t)(v >> 24);
}

static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static int b_reserve(buf_t *b, size_t more)
{
    if (b->len + more <= b->cap)
        return 0;
    size_t nc = b->cap ? b->cap : 4096;
    while (nc < b->len + more)
        nc *= 2;
    uint8_t *np = realloc(b->p, nc);
    if (!np)
        return -ENOMEM;
    b->p = np;
    b->cap = nc;
    return 0;
}

static int b_put(buf_t *b, const void *p, size_t n)
{
    if (b_reserve(b, n) < 0)
        return -ENOMEM;
    if (n > 0)
        memcpy(b->p + b->len, p, n);
    b->len += n;
    return 0;
}

static void b_free(buf_t *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

static char *path_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = 0;
    if (fd < 0)
        return -errno;
    if (fsync(fd) != 0)
        rc = -errno;
    close(fd);
    return rc;
}

static int pread_all(int fd, void *p, size_t n, uint64_t off)
{
    uint8_t *q = p;
    while (n > 0) {
        ssize_t r = pread(fd, q, n, (off_t)off);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (r == 0)
            return -EIO; /* short file */
        q += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

/* Writes all of iov at the end of fd (which is at offset *size). On
 * failure the file is cut back to *size. Returns 0 or -errno. */
static int write_all(int fd, uint64_t *size, struct iovec *iov, int n)
{
    uint64_t total = 0;
    for (int i = 0; i < n; i++)
        total += iov[i].iov_len;
    uint64_t done = 0;
    while (done < total) {
        ssize_t w = pwritev(fd, iov, n, (off_t)(*size + done));
        if (w < 0) {
            int e = errno;
            if (e == EINTR)
                continue;
            if (ftruncate(fd, (off_t)*size) != 0) {
                /* nothing better to do: open cuts a torn tail anyway */
            }
            return -e;
        }
        done += (uint64_t)w;
        /* advance iov past w bytes */
        size_t left = (size_t)w;
        while (n > 0 && left >= iov[0].iov_len) {
            left -= iov[0].iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov[0].iov_base = (uint8_t *)iov[0].iov_base + left;
            iov[0].iov_len -= left;
        }
    }
    *size += total;
    return 0;
}

/* Fills a record header for type and payload (given in up to 3 parts). */
static void make_header(uint8_t h[HDR_LEN], int type, const struct iovec *parts, int nparts)
{
    uint32_t len = 0, crc;
    for (int i = 0; i < nparts; i++)
        len += (uint32_t)parts[i].iov_len;
    crc_init();
    put32(h, MAGIC);
    h[4] = (uint8_t)type;
    h[5] = h[6] = h[7] = 0;
    put32(h + 8, len);
    crc = crc_update(0, h + 4, 8);
    for (int i = 0; i < nparts; i++)
        crc = crc_update(crc, parts[i].iov_base, parts[i].iov_len);
    put32(h + 12, crc);
}

/* Appends a record (payload in up to 3 parts) to fd at *size; syncs if
 * asked. Returns 0 or -errno. */
static int append_record(int fd, uint64_t *size, int type, struct iovec *parts, int nparts,
                         int sync)
{
    uint8_t h[HDR_LEN];
    struct iovec iov[4];
    int rc;

    uint64_t old = *size;
    make_header(h, type, parts, nparts);
    iov[0] = (struct iovec){h, HDR_LEN};
    for (int i = 0; i < nparts; i++)
        iov[i + 1] = parts[i];
    if ((rc = write_all(fd, size, iov, nparts + 1)) < 0 || (sync && fdatasync(fd) != 0)) {
        /* Leave the log as it was: a half-written or unsynced record must
         * not be followed by later ones (replay would take it for damage). */
        if (rc == 0)
            rc = -errno;
        if (ftruncate(fd, (off_t)old) == 0)
            *size = old;
        return rc;
    }
    return 0;
}

static int write_hdr(int fd, uint64_t *size, uint64_t next_ticket)
{
    uint8_t p[12];
    put32(p, VERSION);
    put64(p + 4, next_ticket);
    struct iovec part = {p, sizeof p};
    return append_record(fd, size, T_HDR, &part, 1, 1);
}

/* ------------------------------------------------------------ tables --- */

static uint32_t h_of(const uint8_t id[16])
{
    uint64_t a, b, h;
    memcpy(&a, id, 8);
    memcpy(&b, id + 8, 8);
    h = a ^ (b * 0x9e3779b97f4a7c15ull);
    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 29;
    return (uint32_t)h;
}

/* The hash slot for id: the one holding an entry with id, or an empty one. */
static uint32_t h_slot(const outbox_t *self, const uint8_t id[16])
{
    for (uint32_t p = h_of(id) & self->hmask;; p = (p + 1) & self->hmask) {
        uint32_t i = self->hash[p];
        if (i == NIL || memcmp(self->ents[i].id, id, 16) == 0)
            return p;
    }
}

/* Rebuilds the hash table for all entries (room for twice as many). */
static int h_rebuild(outbox_t *self, size_t want)
{
    uint32_t size = 64;
    while (size < 2 * want + 2)
        size *= 2;
    uint32_t *nh = malloc((size_t)size * sizeof *nh);
    if (!nh)
        return -ENOMEM;
    memset(nh, 0xff, (size_t)size * sizeof *nh);
    free(self->hash);
    self->hash = nh;
    self->hmask = size - 1;
    for (size_t i = 0; i < self->nents; i++)
        self->hash[h_slot(self, self->ents[i].id)] = (uint32_t)i;
    return 0;
}

/* Index of the pending entry with id, or NIL. */
static uint32_t find_pending_id(const outbox_t *self, const uint8_t id[16])
{
    if (self->hmask == 0)
        return NIL;
    uint32_t i = self->hash[h_slot(self, id)];
    return (i != NIL && self->ents[i].state != E_DONE) ? i : NIL;
}

/* Index of the entry with ticket, or NIL. */
static uint32_t find_ticket(const outbox_t *self, uint64_t ticket)
{
    size_t lo = 0, hi = self->nents;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (self->ents[mid].ticket < ticket)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (lo < self->nents && self->ents[lo].ticket == ticket) ? (uint32_t)lo : NIL;
}

/* Index of source name in srcs, adding it. Returns the index or NIL. */
static uint32_t src_index(outbox_t *self, const char *name, size_t len)
{
    for (size_t i = self->nsrcs; i-- > 0;)
        if (strlen(self->srcs[i]) == len && memcmp(self->srcs[i], name, len) == 0)
            return (uint32_t)i;
    if (self->nsrcs == self->srccap) {
        size_t nc = self->srccap ? self->srccap * 2 : 16;
        char **ns = realloc(self->srcs, nc * sizeof *ns);
        if (!ns)
            return NIL;
        self->srcs = ns;
        self->srccap = nc;
    }
    char *s = malloc(len + 1);
    if (!s)
        return NIL;
    memcpy(s, name, len);
    s[len] = 0;
    self->srcs[self->nsrcs] = s;
    return (uint32_t)self->nsrcs++;
}

static int ents_reserve(outbox_t *self, size_t more)
{
    if (self->nents + more <= self->cap)
        return 0;
    size_t nc = self->cap ? self->cap : 256;
    while (nc < self->nents + more)
        nc *= 2;
    entry_t *ne = realloc(self->ents, nc * sizeof *ne);
    if (!ne)
        return -ENOMEM;
    self->ents = ne;
    self->cap = nc;
    return 0;
}

static int taken_add(outbox_t *self, const char *name, size_t len, const uint8_t *hash)
{
    char *s;
    if (!self->taken && !(self->taken = calloc(MAX_TAKEN, sizeof *self->taken)))
        return -ENOMEM;
    if (!(s = malloc(len + 1)))
        return -ENOMEM;
    memcpy(s, name, len);
    s[len] = 0;
    if (self->ntaken == MAX_TAKEN) { /* forget the oldest */
        free(self->taken[0].name);
        memmove(self->taken, self->taken + 1, (MAX_TAKEN - 1) * sizeof *self->taken);
        self->ntaken--;
    }
    self->taken[self->ntaken].name = s;
    memcpy(self->taken[self->ntaken].hash, hash, OUTBOX_HASH_LEN);
    self->ntaken++;
    return 0;
}

static void taken_del(outbox_t *self, const char *name, size_t len, const uint8_t *hash)
{
    for (size_t i = 0; i < self->ntaken; i++) {
        taken_t *t = &self->taken[i];
        if (strlen(t->name) == len && memcmp(t->name, name, len) == 0 &&
            memcmp(t->hash, hash, OUTBOX_HASH_LEN) == 0) {
            free(t->name);
            memmove(t, t + 1, (self->ntaken - i - 1) * sizeof *t);
            self->ntaken--;
            return;
        }
    }
}

/* Marks entry i done (not logged here). */
static void set_done(outbox_t *self, uint32_t i)
{
    entry_t *e = &self->ents[i];
    if (e->state == E_CLAIMED)
        self->claimed--;
    e->state = E_DONE;
    self->pending--;
    self->live -= (uint64_t)e->len + EV_OVERHEAD;
}

/* ------------------------------------------------------------ replay --- */

/* Applies one valid record read at file offset off. Returns 0, or -EBADMSG
 * when its payload does not parse, or -ENOMEM. */
static int apply(outbox_t *self, int type, const uint8_t *p, uint32_t len, uint64_t off)
{
    uint32_t n, pos;

    switch (type) {
    case T_HDR:
        if (len < 12 || get32(p) != VERSION)
            return -EBADMSG;
        if (get64(p + 4) > self->next_ticket)
            self->next_ticket = get64(p + 4);
        return 0;
    case T_ADD: {
        uint32_t srclen, src;
        int flags;
        if (len < 7)
            return -EBADMSG;
        n = get32(p);
        flags = p[4];
        srclen = (uint32_t)p[5] | (uint32_t)p[6] << 8;
        pos = 7;
        if (srclen > len - pos)
            return -EBADMSG;
        if ((src = src_index(self, (const char *)p + pos, srclen)) == NIL)
            return -ENOMEM;
        if (flags & 1) {
            if (len - pos - srclen < OUTBOX_HASH_LEN)
                return -EBADMSG;
            if (taken_add(self, (const char *)p + pos, srclen, p + pos + srclen) < 0)
                return -ENOMEM;
            pos += OUTBOX_HASH_LEN;
        }
        pos += srclen;
        if (ents_reserve(self, n) < 0)
            return -ENOMEM;
        for (uint32_t k = 0; k < n; k++) {
            entry_t *e;
            uint32_t evlen;
            if (len - pos < EV_OVERHEAD)
                return -EBADMSG;
            evlen = get32(p + pos + 28);
            if (len - pos - EV_OVERHEAD < evlen)
                return -EBADMSG;
            e = &self->ents[self->nents];
            memcpy(e->id, p + pos, 16);
            e->ticket = get64(p + pos + 16);
            e->line = get32(p + pos + 24);
            e->len = evlen;
            e->off = off + HDR_LEN + pos + EV_OVERHEAD;
            e->src = src;
            e->state = E_PENDING;
            if (self->nents > 0 && e->ticket <= self->ents[self->nents - 1].ticket)
                return -EBADMSG; /* tickets must increase */
            self->nents++;
            self->pending++;
            self->live += (uint64_t)evlen + EV_OVERHEAD;
            if (e->ticket >= self->next_ticket)
                self->next_ticket = e->ticket + 1;
            pos += EV_OVERHEAD + evlen;
        }
        return pos == len ? 0 : -EBADMSG;
    }
    case T_DONE:
        if (len < 4 || (len - 4) / 9 < get32(p) || (len - 4) % 9 != 0)
            return -EBADMSG;
        n = get32(p);
        for (uint32_t k = 0; k < n; k++) {
            uint32_t i = find_ticket(self, get64(p + 4 + 9 * k));
            if (i != NIL && self->ents[i].state != E_DONE)
                set_done(self, i);
        }
        return 0;
    case T_CLEAR: {
        uint32_t srclen;
        if (len < 2)
            return -EBADMSG;
        srclen = (uint32_t)p[0] | (uint32_t)p[1] << 8;
        if (len != 2 + srclen + OUTBOX_HASH_LEN)
            return -EBADMSG;
        taken_del(self, (const char *)p + 2, srclen, p + 2 + srclen);
        return 0;
    }
    default:
        return -EBADMSG;
    }
}

/* Reads the record at off. Returns 1 with its type, length and payload
 * (in b), 0 if no valid record is there (torn or damaged), or -errno. */
static int read_record(int fd, uint64_t fsize, uint64_t off, buf_t *b, int *type, uint32_t *len)
{
    uint8_t h[HDR_LEN];
    uint32_t crc;
    int rc;

    if (fsize - off < HDR_LEN)
        return 0;
    if ((rc = pread_all(fd, h, HDR_LEN, off)) < 0)
        return rc;
    *len = get32(h + 8);
    if (get32(h) != MAGIC || *len > MAX_RECORD || fsize - off - HDR_LEN < *len)
        return 0;
    b->len = 0;
    if (b_reserve(b, *len) < 0)
        return -ENOMEM;
    if ((rc = pread_all(fd, b->p, *len, off + HDR_LEN)) < 0)
        return rc;
    b->len = *len;
    crc_init();
    crc = crc_update(crc_update(0, h + 4, 8), b->p, *len);
    if (crc != get32(h + 12))
        return 0;
    *type = h[4];
    return 1;
}

/* Is there a valid record anywhere after off? 1 yes, 0 no, -errno. */
static int valid_after(int fd, uint64_t fsize, uint64_t off)
{
    uint8_t chunk[65536];
    buf_t b = {0};
    int rc = 0;

    for (uint64_t at = off + 1; at + HDR_LEN <= fsize && rc == 0;) {
        size_t n = fsize - at < sizeof chunk ? (size_t)(fsize - at) : sizeof chunk;
        if ((rc = pread_all(fd, chunk, n, at)) < 0)
            break;
        for (size_t i = 0; i + 4 <= n; i++) {
            int type;
            uint32_t len;
            if (get32(chunk + i) != MAGIC)
                continue;
            if ((rc = read_record(fd, fsize, at + i, &b, &type, &len)) != 0)
                break;
        }
        at += n > 3 ? n - 3 : n; /* overlap so a magic across chunks is seen */
    }
    b_free(&b);
    return rc;
}

/* Reads the whole log. Returns 0 or -errno with err set. */
static int replay(outbox_t *self, outbox_info_t *info, char *err, size_t errlen)
{
    struct stat st;
    buf_t b = {0};
    uint64_t off = 0;
    int rc = 0, first = 1;

    if (fstat(self->fd, &st) != 0) {
        rc = -errno;
        snprintf(err, errlen, "cannot stat %s: %s", self->log_path, strerror(-rc));
        return rc;
    }
    for (;;) {
        int type = 0;
        uint32_t len = 0;
        rc = read_record(self->fd, (uint64_t)st.st_size, off, &b, &type, &len);
        if (rc < 0) {
            snprintf(err, errlen, "cannot read %s: %s", self->log_path, strerror(-rc));
            goto out;
        }
        if (rc == 0)
            break;
        if (first && type != T_HDR) {
            rc = -EBADMSG;
            snprintf(err, errlen, "%s is not an outbox log (no header record)", self->log_path);
            goto out;
        }
        first = 0;
        if ((rc = apply(self, type, b.p, len, off)) < 0) {
            snprintf(err, errlen, "%s: bad record at offset %" PRIu64 ": %s", self->log_path, off,
                     rc == -ENOMEM ? "out of memory" : "payload does not parse");
            goto out;
        }
        off += HDR_LEN + len;
    }
    rc = 0;
    if (off < (uint64_t)st.st_size) {
        int later = valid_after(self->fd, (uint64_t)st.st_size, off);
        if (later != 0) {
            rc = later < 0 ? later : -EBADMSG;
            snprintf(err, errlen,
                     "%s is damaged at offset %" PRIu64
                     " (valid records follow; not cutting them off: move the outbox aside and "
                     "check it)",
                     self->log_path, off);
            goto out;
        }
        if (ftruncate(self->fd, (off_t)off) != 0 || fdatasync(self->fd) != 0) {
            rc = -errno;
            snprintf(err, errlen, "cannot cut the torn tail of %s: %s", self->log_path,
                     strerror(-rc));
            goto out;
        }
        if (info)
            info->torn_bytes = (uint64_t)st.st_size - off;
    }
    self->size = off;
    if (first) { /* empty, or only a torn header: start afresh */
        if (ftruncate(self->fd, 0) != 0) {
            rc = -errno;
            snprintf(err, errlen, "cannot reset %s: %s", self->log_path, strerror(-rc));
            goto out;
        }
        self->size = 0;
        if ((rc = write_hdr(self->fd, &self->size, self->next_ticket)) < 0 ||
            (rc = fsync_dir(self->dir)) < 0) {
            snprintf(err, errlen, "cannot write %s: %s", self->log_path, strerror(-rc));
            goto out;
        }
    }
out:
    b_free(&b);
    return rc;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Reads the entry numbers at the end of the dead-letter file. */
static void dl_load(outbox_t *self)
{
    int fd = open(self->dl_path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    char *text = NULL;
    size_t cap = 0;

    if (fd < 0)
        return;
    if (fstat(fd, &st) == 0 && st.st_size > 0) {
        uint64_t from = (uint64_t)st.st_size > DL_TAIL ? (uint64_t)st.st_size - DL_TAIL : 0;
        size_t n = (size_t)((uint64_t)st.st_size - from);
        if ((text = malloc(n + 1)) && pread_all(fd, text, n, from) == 0) {
            text[n] = 0;
            char *line = text, *nl;
            if (from > 0 && (nl = strchr(line, '\n')))
                line = nl + 1; /* skip a partial first line */
            for (; (nl = strchr(line, '\n')); line = nl + 1) {
                json_t *o = json_loadb(line, (size_t)(nl - line), 0, NULL);
                json_t *e = o ? json_object_get(o, "entry") : NULL;
                if (json_is_integer(e)) {
                    uint64_t t = (uint64_t)json_integer_value(e);
                    if (self->ndl_seen == cap) {
                        size_t nc = cap ? cap * 2 : 64;
                        uint64_t *ns = realloc(self->dl_seen, nc * sizeof *ns);
                        if (!ns) {
                            json_decref(o);
                            break;
                        }
                        self->dl_seen = ns;
                        cap = nc;
                    }
                    self->dl_seen[self->ndl_seen++] = t;
                    if (t >= self->next_ticket)
                        self->next_ticket = t + 1;
                }
                json_decref(o);
            }
        }
    }
    free(text);
    close(fd);
    if (self->ndl_seen > 1)
        qsort(self->dl_seen, self->ndl_seen, sizeof *self->dl_seen, cmp_u64);
}

static int dl_seen(const outbox_t *self, uint64_t t)
{
    return self->ndl_seen > 0 &&
           bsearch(&t, self->dl_seen, self->ndl_seen, sizeof t, cmp_u64) != NULL;
}

/* ------------------------------------------------------------ public --- */

int outbox_open(outbox_t **out, const char *dir, const outbox_opts_t *opts, outbox_info_t *info,
                char *err, size_t errlen)
{
    outbox_t *self = NULL;
    char dummy[1];
    char *lock_path = NULL;
    int rc;

    if (!err || errlen == 0) {
        err = dummy;
        errlen = sizeof dummy;
    }
    err[0] = 0;
    *out = NULL;
    if (info)
        memset(info, 0, sizeof *info);
    if (!(self = calloc(1, sizeof *self)))
        goto nomem;
    self->lock_fd = self->fd = self->dl_fd = -1;
    self->next_ticket = 1;
    self->compact_min = opts && opts->compact_min ? opts->compact_min : DEFAULT_COMPACT_MIN;
    if (!(self->dir = strdup(dir)) || !(self->log_path = path_join(dir, "outbox.log")) ||
        !(self->tmp_path = path_join(dir, "outbox.log.tmp")) ||
        !(self->dl_path = path_join(dir, "dead-letter.jsonl")) ||
        !(lock_path = path_join(dir, "lock")))
        goto nomem;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        rc = -errno;
        snprintf(err, errlen, "cannot create outbox directory %s: %s", dir, strerror(-rc));
        goto fail;
    }
    if ((self->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
        rc = -errno;
        snprintf(err, errlen, "cannot open %s: %s", lock_path, strerror(-rc));
        goto fail;
    }
    if (flock(self->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
        snprintf(err, errlen, "outbox %s is in use by another cohort-agent (%s)", dir,
                 strerror(errno));
        goto fail;
    }
    if (unlink(self->tmp_path) != 0 && errno != ENOENT) {
        rc = -errno;
        snprintf(err, errlen, "cannot remove %s: %s", self->tmp_path, strerror(-rc));
        goto fail;
    }
    if ((self->fd = open(self->log_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
        rc = -errno;
        snprintf(err, errlen, "cannot open %s: %s", self->log_path, strerror(-rc));
        goto fail;
    }
    dl_load(self); /* first: a fresh log starts after any entry number seen there */
    if ((rc = replay(self, info, err, errlen)) < 0)
        goto fail;
    if ((rc = h_rebuild(self, self->nents)) < 0)
        goto nomem;
    self->live += HDR_LEN + 12;
    if (info) {
        info->pending = self->pending;
        info->log_bytes = self->size;
    }
    free(lock_path);
    *out = self;
    return 0;

nomem:
    rc = -ENOMEM;
    snprintf(err, errlen, "out of memory opening the outbox");
fail:
    free(lock_path);
    outbox_close(&self);
    return rc;
}

void outbox_close(outbox_t **self_p)
{
    outbox_t *self;

    if (!self_p || !*self_p)
        return;
    self = *self_p;
    *self_p = NULL;
    if (self->fd >= 0) {
        outbox_commit(self);
        if (self->pending == 0 && self->size > HDR_LEN + 12 + 0)
            outbox_compact(self);
        if (fdatasync(self->fd) != 0) {
            /* the marks lost are resent (DUPLICATE): nothing to do */
        }
        close(self->fd);
    }
    if (self->dl_fd >= 0)
        close(self->dl_fd);
    if (self->lock_fd >= 0)
        close(self->lock_fd); /* releases the flock */
    for (size_t i = 0; i < self->nsrcs; i++)
        free(self->srcs[i]);
    for (size_t i = 0; i < self->ntaken; i++)
        free(self->taken[i].name);
    free(self->taken);
    free(self->srcs);
    free(self->ents);
    free(self->hash);
    free(self->dl_seen);
    b_free(&self->done);
    b_free(&self->rbuf);
    free(self->dir);
    free(self->log_path);
    free(self->tmp_path);
    free(self->dl_path);
    free(self);
}

/* Flags items whose id is pending or came earlier in the batch. Returns
 * how many are left, or -ENOMEM. */
static long mark_skips(const outbox_t *self, outbox_item_t *items, size_t n)
{
    uint32_t size = 16, mask;
    uint32_t *set;
    long added = 0;

    while (size < 2 * n + 2)
        size *= 2;
    mask = size - 1;
    if (!(set = malloc((size_t)size * sizeof *set)))
        return -ENOMEM;
    memset(set, 0xff, (size_t)size * sizeof *set);
    for (size_t k = 0; k < n; k++) {
        uint32_t p = h_of(items[k].id) & mask;
        items[k].skipped = find_pending_id(self, items[k].id) != NIL;
        while (!items[k].skipped && set[p] != NIL) {
            if (memcmp(items[set[p]].id, items[k].id, 16) == 0)
                items[k].skipped = 1;
            p = (p + 1) & mask;
        }
        if (!items[k].skipped) {
            set[p] = (uint32_t)k;
            added++;
        }
    }
    free(set);
    return added;
}

int outbox_add(outbox_t *self, const char *source, const uint8_t *src_hash, outbox_item_t *items,
               size_t n)
{
    buf_t b = {0};
    uint8_t head[7];
    size_t srclen, nents0 = self->nents;
    uint64_t base, t = self->next_ticket;
    long added;
    uint32_t src;
    int rc;

    if (!source)
        source = "";
    srclen = strlen(source);
    if (srclen > 65535)
        srclen = 65535;
    for (size_t k = 0; k < n; k++)
        if (items[k].len > MAX_RECORD)
            return -EMSGSIZE;
    if ((added = mark_skips(self, items, n)) < 0)
        return (int)added;
    if (added == 0 && !src_hash)
        return 0;
    /* Room in memory first, so that nothing can fail once it is durable. */
    if (ents_reserve(self, (size_t)added) < 0 || (src = src_index(self, source, srclen)) == NIL)
        return -ENOMEM;
    if (2 * (self->nents + (size_t)added) + 2 > (size_t)self->hmask + 1 &&
        h_rebuild(self, self->nents + (size_t)added) < 0)
        return -ENOMEM;
    if (src_hash && taken_add(self, source, srclen, src_hash) < 0)
        return -ENOMEM;
    put32(head, (uint32_t)added);
    head[4] = src_hash ? 1 : 0;
    head[5] = (uint8_t)srclen;
    head[6] = (uint8_t)(srclen >> 8);
    if (b_put(&b, head, sizeof head) < 0 || b_put(&b, source, srclen) < 0 ||
        (src_hash && b_put(&b, src_hash, OUTBOX_HASH_LEN) < 0)) {
        rc = -ENOMEM;
        goto fail;
    }
    base = self->size + HDR_LEN;
    t = self->next_ticket;
    for (size_t k = 0; k < n; k++) {
        uint8_t eh[EV_OVERHEAD];
        entry_t *e;
        if (items[k].skipped)
            continue;
        memcpy(eh, items[k].id, 16);
        put64(eh + 16, t);
        put32(eh + 24, items[k].line);
        put32(eh + 28, (uint32_t)items[k].len);
        if (b_put(&b, eh, sizeof eh) < 0) {
            rc = -ENOMEM;
            goto fail;
        }
        e = &self->ents[self->nents++];
        memcpy(e->id, items[k].id, 16);
        e->ticket = t++;
        e->off = base + b.len;
        e->len = (uint32_t)items[k].len;
        e->line = items[k].line;
        e->src = src;
        e->state = E_PENDING;
        if (b_put(&b, items[k].data, items[k].len) < 0) {
            rc = -ENOMEM;
            goto fail;
        }
    }
    if (b.len > MAX_RECORD) {
        rc = -EMSGSIZE;
        goto fail;
    }
    {
        struct iovec part = {b.p, b.len};
        if ((rc = append_record(self->fd, &self->size, T_ADD, &part, 1, 1)) < 0)
            goto fail;
    }
    /* Durable: publish the new entries. */
    self->next_ticket = t;
    for (size_t i = nents0; i < self->nents; i++) {
        self->hash[h_slot(self, self->ents[i].id)] = (uint32_t)i;
        self->pending++;
        self->live += (uint64_t)self->ents[i].len + EV_OVERHEAD;
    }
    b_free(&b);
    return (int)added;

fail:
    self->nents = nents0;
    if (t > self->next_ticket)
        self->next_ticket = t; /* never reuse a ticket that may be on disk */
    if (src_hash)
        taken_del(self, source, srclen, src_hash);
    b_free(&b);
    return rc;
}

int outbox_taken(const outbox_t *self, const char *source, const uint8_t hash[OUTBOX_HASH_LEN])
{
    for (size_t i = 0; i < self->ntaken; i++)
        if (strcmp(self->taken[i].name, source) == 0 &&
            memcmp(self->taken[i].hash, hash, OUTBOX_HASH_LEN) == 0)
            return 1;
    return 0;
}

int outbox_clear_taken(outbox_t *self, const char *source, const uint8_t hash[OUTBOX_HASH_LEN])
{
    size_t srclen = strlen(source);
    uint8_t h[2];
    int rc;

    if (!outbox_taken(self, source, hash))
        return 0;
    if (srclen > 65535)
        srclen = 65535;
    h[0] = (uint8_t)srclen;
    h[1] = (uint8_t)(srclen >> 8);
    struct iovec parts[3] = {{h, 2}, {(void *)source, srclen}, {(void *)hash, OUTBOX_HASH_LEN}};
    if ((rc = append_record(self->fd, &self->size, T_CLEAR, parts, 3, 1)) < 0)
        return rc;
    taken_del(self, source, srclen, hash);
    return 0;
}

int outbox_next(outbox_t *self, outbox_event_t *ev)
{
    while (self->cursor < self->nents && self->ents[self->cursor].state != E_PENDING)
        self->cursor++;
    if (self->cursor >= self->nents)
        return 0;
    entry_t *e = &self->ents[self->cursor];
    int rc;
    self->rbuf.len = 0;
    if (b_reserve(&self->rbuf, e->len ? e->len : 1) < 0)
        return -ENOMEM;
    if ((rc = pread_all(self->fd, self->rbuf.p, e->len, e->off)) < 0)
        return rc;
    e->state = E_CLAIMED;
    self->claimed++;
    ev->ticket = e->ticket;
    memcpy(ev->id, e->id, 16);
    ev->data = self->rbuf.p;
    ev->len = e->len;
    ev->source = self->srcs[e->src];
    ev->line = e->line;
    self->cursor++;
    return 1;
}

int outbox_where(const outbox_t *self, uint64_t ticket, const char **source, uint32_t *line)
{
    uint32_t i = find_ticket(self, ticket);
    if (i == NIL)
        return -ENOENT;
    *source = self->srcs[self->ents[i].src];
    *line = self->ents[i].line;
    return 0;
}

/* Buffers a DONE mark for entry i and marks it done. */
static int leave(outbox_t *self, uint32_t i, int how)
{
    uint8_t item[9];
    put64(item, self->ents[i].ticket);
    item[8] = (uint8_t)how;
    if (b_put(&self->done, item, sizeof item) < 0)
        return -ENOMEM;
    self->ndone++;
    set_done(self, i);
    return 0;
}

int outbox_ack(outbox_t *self, uint64_t ticket)
{
    uint32_t i = find_ticket(self, ticket);
    if (i == NIL)
        return -ENOENT;
    if (self->ents[i].state == E_DONE)
        return -EALREADY;
    return leave(self, i, 1);
}

static void now_rfc3339(char out[32])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* True if the dead-letter line (len bytes) has a deadLetteredAt before the
 * time cut ("YYYY-MM-DDTHH:MM:SS", UTC). */
static int dl_expired(const char *line, size_t len, const char *cut)
{
    json_t *o = json_loadb(line, len, 0, NULL);
    json_t *at = o ? json_object_get(o, "deadLetteredAt") : NULL;
    int old = json_is_string(at) && strlen(json_string_value(at)) >= 19 &&
              strncmp(json_string_value(at), cut, 19) < 0;
    json_decref(o);
    return old;
}

/* Drops the dead-letter lines older than cutoff (outbox_expire). */
static int dl_expire(outbox_t *self, int64_t cutoff, uint64_t *dropped)
{
    char cut[32], *tmp = NULL, *text = NULL;
    time_t t = (time_t)cutoff;
    struct stat st;
    struct tm tm;
    size_t kept = 0, o = 0;
    uint64_t gone = 0;
    int fd, out = -1, rc = 0;

    gmtime_r(&t, &tm);
    strftime(cut, sizeof cut, "%Y-%m-%dT%H:%M:%S", &tm);
    if ((fd = open(self->dl_path, O_RDONLY | O_CLOEXEC)) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (fstat(fd, &st) != 0) {
        rc = -errno;
        goto out;
    }
    if (!(text = malloc((size_t)st.st_size + 1))) {
        rc = -ENOMEM;
        goto out;
    }
    if ((rc = pread_all(fd, text, (size_t)st.st_size, 0)) < 0)
        goto out;
    text[st.st_size] = 0;
    /* Keep the young lines, moved down in place. */
    for (size_t i = 0; i < (size_t)st.st_size;) {
        char *nl = memchr(text + i, '\n', (size_t)st.st_size - i);
        size_t n = nl ? (size_t)(nl - (text + i)) + 1 : (size_t)st.st_size - i;
        if (dl_expired(text + i, n, cut)) {
            gone++;
        } else {
            memmove(text + o, text + i, n);
            o += n;
            kept++;
        }
        i += n;
    }
    if (gone == 0)
        goto out;
    if (self->dl_fd >= 0) { /* reopened (O_APPEND) on the next dead letter */
        close(self->dl_fd);
        self->dl_fd = -1;
    }
    if (kept == 0) {
        if (unlink(self->dl_path) != 0)
            rc = -errno;
        else
            rc = fsync_dir(self->dir);
        goto out;
    }
    if (!(tmp = path_join(self->dir, "dead-letter.jsonl.tmp"))) {
        rc = -ENOMEM;
        goto out;
    }
    if ((out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0) {
        rc = -errno;
        goto out;
    }
    for (size_t w = 0; w < o;) {
        ssize_t r = write(out, text + w, o - w);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = -errno;
            goto out;
        }
        w += (size_t)r;
    }
    if (fsync(out) != 0 || rename(tmp, self->dl_path) != 0) {
        rc = -errno;
        goto out;
    }
    rc = fsync_dir(self->dir);
out:
    if (out >= 0)
        close(out);
    if (rc < 0 && tmp)
        unlink(tmp);
    close(fd);
    free(tmp);
    free(text);
    if (rc == 0 && dropped)
        *dropped = gone;
    return rc;
}

int outbox_expire(outbox_t *self, int64_t cutoff, uint64_t *dropped)
{
    int rc;

    if (dropped)
        *dropped = 0;
    if ((rc = dl_expire(self, cutoff, dropped)) < 0)
        return rc;
    if ((rc = outbox_commit(self)) < 0)
        return rc;
    if (self->nents == self->pending)
        return 0; /* every entry in the log is still pending: none has left */
    return (rc = outbox_compact(self)) < 0 ? rc : 1;
}

/* Renders the dead-letter line for entry e (packed event in data/len).
 * Returns a malloc'd string ending in '\n', or NULL. */
static char *dl_line(const outbox_t *self, const entry_t *e, const uint8_t *data, const char *code,
                     const char *reason)
{
    json_t *o = json_object(), *evj = NULL;
    char uuid[37], at[32], *s = NULL, *out = NULL;
    Cohort__V1__Event *ev;

    if (!o)
        return NULL;
    uuid7_format(e->id, uuid);
    now_rfc3339(at);
    ev = cohort__v1__event__unpack(NULL, e->len, data);
    if (ev) {
        char *js = cohort_json_from_message(&ev->base);
        if (js)
            evj = json_loads(js, 0, NULL);
        free(js);
        cohort__v1__event__free_unpacked(ev, NULL);
    }
    json_t *r = json_string(reason ? reason : "");
    json_object_set_new(o, "eventId", json_string(uuid));
    json_object_set_new(o, "code", json_string(code ? code : "UNKNOWN"));
    json_object_set_new(o, "reason", r ? r : json_string("(reason not valid UTF-8)"));
    json_t *src = json_string(self->srcs[e->src]);
    json_object_set_new(o, "source", src ? src : json_string("(name not valid UTF-8)"));
    json_object_set_new(o, "line", json_integer((json_int_t)e->line));
    json_object_set_new(o, "entry", json_integer((json_int_t)e->ticket));
    json_object_set_new(o, "deadLetteredAt", json_string(at));
    json_object_set_new(o, "event", evj ? evj : json_null());
    s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (s) {
        size_t n = strlen(s);
        if ((out = malloc(n + 2))) {
            memcpy(out, s, n);
            out[n] = '\n';
            out[n + 1] = 0;
        }
        free(s);
    }
    return out;
}

int outbox_reject(outbox_t *self, uint64_t ticket, const char *code, const char *reason)
{
    uint32_t i = find_ticket(self, ticket);
    entry_t *e;
    int rc;

    if (i == NIL)
        return -ENOENT;
    e = &self->ents[i];
    if (e->state == E_DONE)
        return -EALREADY;
    if (!dl_seen(self, ticket)) {
        char *line;
        self->rbuf.len = 0;
        if (b_reserve(&self->rbuf, e->len ? e->len : 1) < 0)
            return -ENOMEM;
        if ((rc = pread_all(self->fd, self->rbuf.p, e->len, e->off)) < 0)
            return rc;
        if (!(line = dl_line(self, e, self->rbuf.p, code, reason)))
            return -ENOMEM;
        if (self->dl_fd < 0) {
            int created = access(self->dl_path, F_OK) != 0;
            self->dl_fd = open(self->dl_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
            if (self->dl_fd < 0) {
                rc = -errno;
                free(line);
                return rc;
            }
            if (created && (rc = fsync_dir(self->dir)) < 0) {
                free(line);
                return rc;
            }
        }
        size_t n = strlen(line), off = 0;
        while (off < n) {
            ssize_t w = write(self->dl_fd, line + off, n - off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                rc = -errno;
                free(line);
                return rc;
            }
            off += (size_t)w;
        }
        free(line);
        if (fdatasync(self->dl_fd) != 0)
            return -errno;
        self->dl_written++;
    }
    return leave(self, i, 2);
}

int outbox_release(outbox_t *self, uint64_t ticket)
{
    uint32_t i = find_ticket(self, ticket);
    if (i == NIL)
        return -ENOENT;
    if (self->ents[i].state == E_CLAIMED) {
        self->ents[i].state = E_PENDING;
        self->claimed--;
        if (i < self->cursor)
            self->cursor = i;
    }
    return 0;
}

void outbox_release_all(outbox_t *self)
{
    for (size_t i = 0; i < self->nents; i++)
        if (self->ents[i].state == E_CLAIMED)
            self->ents[i].state = E_PENDING;
    self->claimed = 0;
    self->cursor = 0;
}

/* Writes the buffered DONE marks as one synced record. Synced so that no
 * later record can reach the disk before it: after a power loss the log is
 * then a clean prefix, and a bad record followed by good ones really is
 * damage (replay refuses it). One fdatasync per commit, not per event. */
static int write_marks(outbox_t *self)
{
    int rc;

    if (self->ndone == 0)
        return 0;
    uint8_t cnt[4];
    put32(cnt, self->ndone);
    struct iovec parts[2] = {{cnt, 4}, {self->done.p, self->done.len}};
    if ((rc = append_record(self->fd, &self->size, T_DONE, parts, 2, 1)) < 0)
        return rc;
    self->done.len = 0;
    self->ndone = 0;
    return 0;
}

int outbox_commit(outbox_t *self)
{
    int rc;

    if ((rc = write_marks(self)) < 0)
        return rc;
    if ((self->pending == 0 && self->size > EMPTY_COMPACT) ||
        (self->size >= self->compact_min && 2 * self->live <= self->size))
        return outbox_compact(self);
    return 0;
}

int outbox_compact(outbox_t *self)
{
    int fd = -1, rc;
    uint64_t size = 0;
    buf_t b = {0}, data = {0};
    entry_t *ne = NULL;
    size_t nn = 0;
    char **nsrcs = NULL;
    size_t nnsrcs = 0;

    /* Marks first, so that a failed compaction loses none. */
    if ((rc = write_marks(self)) < 0)
        return rc;

    if (!(ne = malloc((self->pending ? self->pending : 1) * sizeof *ne)) ||
        !(nsrcs = calloc(self->nsrcs ? self->nsrcs : 1, sizeof *nsrcs))) {
        rc = -ENOMEM;
        goto fail;
    }
    if ((fd = open(self->tmp_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0) {
        rc = -errno;
        goto fail;
    }
    {
        uint8_t p[12];
        put32(p, VERSION);
        put64(p + 4, self->next_ticket);
        struct iovec part = {p, sizeof p};
        if ((rc = append_record(fd, &size, T_HDR, &part, 1, 0)) < 0)
            goto fail;
    }
    /* Taken sources not yet cleared, as ADD records with no events. */
    for (size_t k = 0; k < self->ntaken; k++) {
        size_t sl = strlen(self->taken[k].name);
        uint8_t head[7] = {0, 0, 0, 0, 1, (uint8_t)sl, (uint8_t)(sl >> 8)};
        struct iovec parts[3] = {
            {head, 7}, {self->taken[k].name, sl}, {self->taken[k].hash, OUTBOX_HASH_LEN}};
        if ((rc = append_record(fd, &size, T_ADD, parts, 3, 0)) < 0)
            goto fail;
    }
    /* Pending entries, in order, one ADD record per run of one source. */
    for (size_t i = 0; i < self->nents;) {
        const entry_t *e0 = &self->ents[i];
        if (e0->state == E_DONE) {
            i++;
            continue;
        }
        const char *src = self->srcs[e0->src];
        size_t sl = strlen(src);
        uint32_t count = 0, nsrc = NIL;
        uint64_t base = size + HDR_LEN;
        for (size_t s = 0; s < nnsrcs; s++)
            if (strcmp(nsrcs[s], src) == 0)
                nsrc = (uint32_t)s;
        if (nsrc == NIL) {
            if (!(nsrcs[nnsrcs] = strdup(src))) {
                rc = -ENOMEM;
                goto fail;
            }
            nsrc = (uint32_t)nnsrcs++;
        }
        b.len = 0;
        uint8_t head[7] = {0, 0, 0, 0, 0, (uint8_t)sl, (uint8_t)(sl >> 8)};
        if (b_put(&b, head, 7) < 0 || b_put(&b, src, sl) < 0) {
            rc = -ENOMEM;
            goto fail;
        }
        for (; i < self->nents && b.len < SPLIT_RECORD; i++) {
            const entry_t *e = &self->ents[i];
            uint8_t eh[EV_OVERHEAD];
            if (e->state == E_DONE)
                continue;
            if (e->src != e0->src)
                break;
            memcpy(eh, e->id, 16);
            put64(eh + 16, e->ticket);
            put32(eh + 24, e->line);
            put32(eh + 28, e->len);
            if (b_put(&b, eh, sizeof eh) < 0 || b_reserve(&b, e->len) < 0) {
                rc = -ENOMEM;
                goto fail;
            }
            ne[nn] = *e;
            ne[nn].off = base + b.len;
            ne[nn].src = nsrc;
            nn++;
            if ((rc = pread_all(self->fd, b.p + b.len, e->len, e->off)) < 0)
                goto fail;
            b.len += e->len;
            count++;
        }
        put32(b.p, count);
        struct iovec part = {b.p, b.len};
        if ((rc = append_record(fd, &size, T_ADD, &part, 1, 0)) < 0)
            goto fail;
    }
    if (fdatasync(fd) != 0 || rename(self->tmp_path, self->log_path) != 0) {
        rc = -errno;
        goto fail;
    }
    if ((rc = fsync_dir(self->dir)) < 0) {
        /* the rename happened; the new log is in use either way */
    }
    /* Switch over. */
    close(self->fd);
    self->fd = fd;
    self->size = size;
    free(self->ents);
    self->ents = ne;
    self->nents = nn;
    self->cap = self->pending ? self->pending : 1;
    for (size_t s = 0; s < self->nsrcs; s++)
        free(self->srcs[s]);
    free(self->srcs);
    self->srcs = nsrcs;
    self->nsrcs = nnsrcs;
    self->srccap = self->nsrcs ? self->nsrcs : 1;
    self->cursor = 0;
    self->live = HDR_LEN + 12;
    for (size_t i = 0; i < nn; i++)
        self->live += (uint64_t)ne[i].len + EV_OVERHEAD;
    b_free(&b);
    b_free(&data);
    if (h_rebuild(self, self->nents) < 0)
        return -ENOMEM;
    return 0;

fail:
    if (fd >= 0) {
        close(fd);
        unlink(self->tmp_path);
    }
    for (size_t s = 0; s < nnsrcs; s++)
        free(nsrcs[s]);
    free(nsrcs);
    free(ne);
    b_free(&b);
    b_free(&data);
    return rc;
}

uint64_t outbox_pending(const outbox_t *self)
{
    return self->pending;
}

uint64_t outbox_unclaimed(const outbox_t *self)
{
    return self->pending - self->claimed;
}

uint64_t outbox_log_bytes(const outbox_t *self)
{
    return self->size;
}

const char *outbox_dead_letter_path(const outbox_t *self)
{
    return self->dl_path;
}

uint64_t outbox_dead_letters(const outbox_t *self)
{
    return self->dl_written;
}
