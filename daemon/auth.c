/* auth.c: the ZAP handler and the access table (see auth.h for the file
 * format, the user id, the refusal log line and the contracts).
 *
 * State: one table (a sorted array of entries, searched by the raw key)
 * that auth_reload replaces as a whole after a complete parse, so a
 * handshake or auth_check always sees one consistent file. Everything runs
 * on the loop thread: no lock. */
#include "auth.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "log.h"
#include "zbridge.h"

#define CAP 16                /* ZAP requests per drain call: fairness to other handles */
#define MAX_FRAMES 12         /* rid, delimiter, 6 ZAP fields, credentials; more is malformed */
#define MAX_ZAP_FRAME 1024    /* bounds what one ZAP frame may be (credentials are 32 bytes) */
#define ZAP_ENFORCE_DOMAIN 93 /* ZMQ_ZAP_ENFORCE_DOMAIN (a draft option in zmq.h 4.3) */
#define QUIET_SLOTS 32        /* refused keys whose repeats are being counted, not logged */
#define QUIET_MS 60000        /* a refused key is logged at most once per this */

/* One access-file line. */
typedef struct {
    uint8_t key[32];                  /* raw public key: the sort key */
    auth_role_t role;                 /* its role */
    char agency[AUTH_AGENCY_MAX + 1]; /* its agency or "" */
    char *programmes;                 /* its programmes= list (malloc'd), or NULL: owns none */
    int line;                         /* line in the file, for duplicate errors */
} entry_t;

/* A whole access file. */
typedef struct {
    entry_t *e; /* sorted by key */
    size_t n;   /* entries */
} table_t;

/* Frees t's entries and empties it. */
static void table_free(table_t *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->e[i].programmes);
    free(t->e);
    t->e = NULL;
    t->n = 0;
}

/* A recently logged refusal: its repeats (clients retry every 100 ms) are
 * counted and reported with the next line logged for that key. */
typedef struct {
    char fp[COHORT_KEY_FP_LEN + 1]; /* the key's fingerprint, "" = free slot */
    uint64_t logged_ms;             /* when its last refusal was logged */
    uint64_t quiet;                 /* refusals since, not logged */
} quiet_t;

struct auth_t {
    uv_loop_t *loop;            /* the loop the handler runs on (for uv_now) */
    quiet_t quiet[QUIET_SLOTS]; /* refusal log rate limit */
    void *zap;                  /* ROUTER bound to AUTH_ZAP_ENDPOINT, owned */
    zbridge_t *bridge;          /* readiness of zap on the loop */
    char *path;                 /* access file, NULL for an always-empty table */
    table_t table;              /* the keys in force */
    int plaintext_dev;          /* accept NULL and PLAIN as "dev::" */
    auth_stats_t st;            /* counters */
    void (*before)(void *arg);  /* runs before every ZAP answer, or NULL */
    void *before_arg;           /* its argument */
};

/* What each role of the access file may carry after it (the names are
 * lib/cohort_scope.c's). */
static const struct {
    auth_role_t role;
    int agency; /* 1 required, 0 optional, -1 not allowed */
    int define; /* 1 if it may send definitions, so may own programmes (programmes=) */
} roles[] = {
    {AUTH_ROLE_AGENT, 1, 0},     {AUTH_ROLE_COORDINATOR, 0, 1}, {AUTH_ROLE_BOARD, -1, 1},
    {AUTH_ROLE_AGENCY_HR, 1, 0}, {AUTH_ROLE_OPERATOR, -1, 0},   {AUTH_ROLE_WEB, -1, 0},
};

#define PROGRAMMES_EQ "programmes="
#define PROGRAMMES_EQ_LEN (sizeof PROGRAMMES_EQ - 1)

const char *auth_role_name(auth_role_t role)
{
    return cohort_role_name(role);
}

/* 1 if s[0..len) is a programme id as events have them (validate.c): 1-64
 * characters of a-z 0-9 . - _, not starting with . - _. */
static int programme_ok(const char *s, size_t len)
{
    return cohort_id_ok(s, len) && s[0] != '.' && s[0] != '-' && s[0] != '_';
}

/* Checks a programmes= value l[0..len): "*" or programme ids separated by
 * single commas. Returns 0, or -EINVAL with "PATH:LINE: why" in err. */
static int programmes_check(const char *path, size_t lineno, const char *l, size_t len, char *err,
                            size_t errlen)
{
    if (len == 1 && l[0] == '*')
        return 0;
    for (size_t i = 0, start = 0; i <= len; i++) {
        if (i < len && l[i] != ',')
            continue;
        if (i == start) {
            snprintf(err, errlen,
                     "%s:%zu: programmes= needs programme ids separated by commas, or *", path,
                     lineno);
            return -EINVAL;
        }
        if (!programme_ok(l + start, i - start)) {
            snprintf(err, errlen,
                     "%s:%zu: programme id '%.*s' must be 1-%d characters of a-z 0-9 . - _ "
                     "(starting with a letter or digit)",
                     path, lineno, (int)(i - start > 70 ? 70 : i - start), l + start,
                     AUTH_AGENCY_MAX);
            return -EINVAL;
        }
        start = i + 1;
    }
    return 0;
}

static int cmp_entry(const void *a, const void *b)
{
    const entry_t *x = a, *y = b;
    int c = memcmp(x->key, y->key, 32);
    return c ? c : (x->line > y->line) - (x->line < y->line);
}

static int cmp_key(const void *key, const void *elem)
{
    return memcmp(key, ((const entry_t *)elem)->key, 32);
}

/* ------------------------------------------------------------ parsing --- */

/* Reads the whole file into *buf (NUL-ended, *len bytes) after checking it
 * is a regular file, not world-writable, at most AUTH_MAX_FILE bytes.
 * Returns 0 or a negative errno with a message. */
static int read_file(const char *path, char **buf, size_t *len, char *err, size_t errlen)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY), rc = 0;
    size_t got = 0;
    *buf = NULL;
    if (fd < 0) {
        rc = -errno;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return rc;
    }
    if (fstat(fd, &st) != 0) {
        rc = -errno;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = -EINVAL;
        snprintf(err, errlen, "%s: not a regular file", path);
        goto out;
    }
    if (st.st_mode & S_IWOTH) {
        rc = -EPERM;
        snprintf(err, errlen, "%s: is world-writable (mode %04o); refusing it (chmod o-w)", path,
                 (unsigned)(st.st_mode & 07777));
        goto out;
    }
    if (st.st_size > AUTH_MAX_FILE) {
        rc = -EFBIG;
        snprintf(err, errlen, "%s: larger than %d bytes", path, AUTH_MAX_FILE);
        goto out;
    }
    if (!(*buf = malloc((size_t)st.st_size + 2))) {
        rc = -ENOMEM;
        snprintf(err, errlen, "%s: out of memory", path);
        goto out;
    }
    /* Read one byte more than fstat said, to notice a file that grew. */
    while (got <= (size_t)st.st_size) {
        ssize_t n = read(fd, *buf + got, (size_t)st.st_size + 1 - got);
        if (n == 0)
            break;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            goto out;
        }
        got += (size_t)n;
    }
    if (got > (size_t)st.st_size) {
        rc = -EAGAIN;
        snprintf(err, errlen, "%s: changed while being read; replace it atomically (rename)", path);
        goto out;
    }
    (*buf)[got] = '\0';
    *len = got;
out:
    close(fd);
    if (rc < 0) {
        free(*buf);
        *buf = NULL;
    }
    return rc;
}

/* 1 if c separates fields. */
static int blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Splits line[0..len) into at most max fields, stopping at a comment.
 * Returns the number of fields (max + 1 if there were more). */
static int split(const char *line, size_t len, const char **f, size_t *flen, int max)
{
    size_t i = 0;
    int n = 0;
    for (;;) {
        while (i < len && blank(line[i]))
            i++;
        if (i == len)
            return n;
        /* A field starting with '#' starts a comment. No key starts with
         * '#': a Z85 group's first character encodes at most
         * (2^32 - 1) / 85^4 = 82, and '#' is character 84. */
        if (line[i] == '#')
            return n;
        size_t start = i;
        while (i < len && !blank(line[i]))
            i++;
        if (n == max)
            return max + 1;
        f[n] = line + start;
        flen[n] = i - start;
        n++;
    }
}

/* Parses buf (a whole access file named path) into *t. Returns 0, or
 * -EINVAL with "PATH:LINE: why" in err (-ENOMEM if out of memory). */
static int parse(const char *path, char *buf, size_t len, table_t *t, char *err, size_t errlen)
{
    size_t cap = 0, lineno = 0;
    const char *p = buf, *end = buf + len;
    t->e = NULL;
    t->n = 0;
    if (memchr(buf, '\0', len)) {
        snprintf(err, errlen, "%s: contains a NUL byte", path);
        return -EINVAL;
    }
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p)), *f[4];
        size_t ll = nl ? (size_t)(nl - p) : (size_t)(end - p), flen[4];
        int n, r = -1;
        lineno++;
        if (ll > AUTH_MAX_LINE) {
            snprintf(err, errlen, "%s:%zu: line longer than %d bytes", path, lineno, AUTH_MAX_LINE);
            goto fail;
        }
        if (ll && p[ll - 1] == '\r')
            ll--;
        for (size_t i = 0; i < ll; i++)
            if ((unsigned char)p[i] < 0x20 && p[i] != '\t') {
                snprintf(err, errlen, "%s:%zu: control character (byte %zu)", path, lineno, i + 1);
                goto fail;
            }
        n = split(p, ll, f, flen, 4);
        p = nl ? nl + 1 : end;
        if (n == 0)
            continue;
        if (cap == t->n) {
            entry_t *e = realloc(t->e, (cap ? cap * 2 : 64) * sizeof *e);
            if (!e) {
                snprintf(err, errlen, "%s: out of memory", path);
                table_free(t);
                return -ENOMEM;
            }
            t->e = e;
            cap = cap ? cap * 2 : 64;
        }
        entry_t *e = &t->e[t->n];
        memset(e, 0, sizeof *e);
        e->line = (int)lineno;
        if (cohort_keys_decode(f[0], flen[0], e->key) < 0) {
            /* At most 8 characters are echoed: the field might be a
             * mistyped secret key. */
            snprintf(err, errlen, "%s:%zu: '%.*s%s' is not a 40-character Z85 public key", path,
                     lineno, (int)(flen[0] > 8 ? 8 : flen[0]), f[0], flen[0] > 8 ? "..." : "");
            goto fail;
        }
        if (n < 2) {
            snprintf(err, errlen, "%s:%zu: missing the role after the key", path, lineno);
            goto fail;
        }
        cohort_role_t parsed;
        if (cohort_role_parse(f[1], flen[1], &parsed) == 0)
            for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
                if (roles[i].role == parsed)
                    r = (int)i;
        if (r < 0) {
            snprintf(err, errlen,
                     "%s:%zu: unknown role '%.*s' (agent, coordinator, board, agency-hr, "
                     "operator or web)",
                     path, lineno, (int)(flen[1] > 32 ? 32 : flen[1]), f[1]);
            goto fail;
        }
        e->role = roles[r].role;
        /* After the role: [agency] [programmes=LIST], in that order. */
        const char *ag = NULL, *pl = NULL;
        size_t agl = 0, pll = 0;
        for (int i = 2; i < n && i < 4; i++) {
            if (pl) {
                snprintf(err, errlen, "%s:%zu: unexpected field after programmes=", path, lineno);
                goto fail;
            }
            if (flen[i] >= PROGRAMMES_EQ_LEN &&
                memcmp(f[i], PROGRAMMES_EQ, PROGRAMMES_EQ_LEN) == 0) {
                pl = f[i] + PROGRAMMES_EQ_LEN;
                pll = flen[i] - PROGRAMMES_EQ_LEN;
            } else if (i == 2) {
                ag = f[i];
                agl = flen[i];
            } else {
                snprintf(err, errlen, "%s:%zu: unexpected field after the agency", path, lineno);
                goto fail;
            }
        }
        if (n > 4) {
            snprintf(err, errlen, "%s:%zu: unexpected field after %s", path, lineno,
                     pl ? "programmes=" : "the agency");
            goto fail;
        }
        if (!ag && roles[r].agency > 0) {
            snprintf(err, errlen, "%s:%zu: role %s needs an agency id", path, lineno,
                     cohort_role_name(roles[r].role));
            goto fail;
        }
        if (ag && roles[r].agency < 0) {
            snprintf(err, errlen, "%s:%zu: role %s takes no agency", path, lineno,
                     cohort_role_name(roles[r].role));
            goto fail;
        }
        if (ag) {
            if (!cohort_id_ok(ag, agl)) {
                snprintf(err, errlen,
                         "%s:%zu: agency '%.*s' must be 1-%d characters of a-z 0-9 . - _", path,
                         lineno, (int)(agl > 70 ? 70 : agl), ag, AUTH_AGENCY_MAX);
                goto fail;
            }
            memcpy(e->agency, ag, agl);
        }
        if (pl) {
            if (!roles[r].define) {
                snprintf(err, errlen,
                         "%s:%zu: role %s may not own programmes (coordinator and board only)",
                         path, lineno, cohort_role_name(roles[r].role));
                goto fail;
            }
            if (programmes_check(path, lineno, pl, pll, err, errlen) < 0)
                goto fail;
            if (!(e->programmes = strndup(pl, pll))) {
                snprintf(err, errlen, "%s: out of memory", path);
                table_free(t);
                return -ENOMEM;
            }
        }
        t->n++;
    }
    if (t->n) {
        qsort(t->e, t->n, sizeof *t->e, cmp_entry);
        /* Sorted by key, then line: the second entry of each run of equal
         * keys is that key's first duplicate in the file. Report the one
         * that comes first. */
        size_t dup = 0;
        for (size_t i = 1; i < t->n; i++)
            if (memcmp(t->e[i].key, t->e[i - 1].key, 32) == 0 &&
                (i < 2 || memcmp(t->e[i - 1].key, t->e[i - 2].key, 32) != 0) &&
                (!dup || t->e[i].line < t->e[dup].line))
                dup = i;
        if (dup) {
            snprintf(err, errlen, "%s:%d: key listed twice (first on line %d)", path,
                     t->e[dup].line, t->e[dup - 1].line);
            goto fail;
        }
    }
    return 0;
fail:
    table_free(t);
    return -EINVAL;
}

/* Loads path into *t. Returns 0 or a negative errno with a message. */
static int load(const char *path, table_t *t, char *err, size_t errlen)
{
    char *buf;
    size_t len = 0;
    int rc;
    t->e = NULL;
    t->n = 0;
    if (!path)
        return 0;
    if ((rc = read_file(path, &buf, &len, err, errlen)) < 0)
        return rc;
    rc = parse(path, buf, len, t, err, errlen);
    free(buf);
    return rc;
}

/* ------------------------------------------------------------- lookup --- */

static const entry_t *find(const table_t *t, const uint8_t key[32])
{
    return t->n ? bsearch(key, t->e, t->n, sizeof *t->e, cmp_key) : NULL;
}

/* Fills out from e. */
static void identity(const entry_t *e, auth_identity_t *out)
{
    memset(out, 0, sizeof *out);
    out->role = e->role;
    memcpy(out->agency, e->agency, sizeof out->agency);
    if (e->programmes)
        snprintf(out->programmes, sizeof out->programmes, "%s", e->programmes);
    zmq_z85_encode(out->key, e->key, 32);
    cohort_keys_fingerprint(out->key, out->fingerprint);
}

int auth_lookup(const auth_t *self, const void *key, size_t len, auth_identity_t *out)
{
    uint8_t raw[32];
    const entry_t *e;
    if (len == 32)
        memcpy(raw, key, 32);
    else if (cohort_keys_decode(key, len, raw) < 0)
        return -EINVAL;
    if (!(e = find(&self->table, raw)))
        return -ENOENT;
    identity(e, out);
    return 0;
}

int auth_check(const auth_t *self, const char *user_id, auth_identity_t *out)
{
    const char *c1, *c2;
    auth_identity_t id;
    size_t rl, al;
    if (!user_id || !(c1 = strchr(user_id, ':')) || !(c2 = strchr(c1 + 1, ':')))
        return -EINVAL;
    rl = (size_t)(c1 - user_id);
    al = (size_t)(c2 - c1 - 1);
    if (rl == 3 && memcmp(user_id, "dev", 3) == 0 && al == 0 && c2[1] == '\0') {
        if (!self->plaintext_dev)
            return -EACCES;
        if (out) {
            memset(out, 0, sizeof *out);
            out->role = AUTH_ROLE_DEV;
        }
        return 0;
    }
    switch (auth_lookup(self, c2 + 1, strlen(c2 + 1), &id)) {
    case 0:
        break;
    case -ENOENT:
        return -EACCES;
    default:
        return -EINVAL;
    }
    if (strlen(auth_role_name(id.role)) != rl || memcmp(auth_role_name(id.role), user_id, rl) ||
        strlen(id.agency) != al || memcmp(id.agency, c1 + 1, al))
        return -EACCES;
    if (out)
        *out = id;
    return 0;
}

size_t auth_count(const auth_t *self)
{
    return self->table.n;
}

/* ---------------------------------------------------------------- ZAP --- */

/* Sends the ZAP reply [rid][""]["1.0"][reqid][code][text][user][""].
 * Returns 0 or -1 (not sent: the requester is gone). */
static int reply(auth_t *self, zmq_msg_t *rid, zmq_msg_t *reqid, const char *code, const char *text,
                 const char *user)
{
    const char *tail[] = {code, text, user, ""};
    if (zmq_send(self->zap, zmq_msg_data(rid), zmq_msg_size(rid), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_send(self->zap, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_send(self->zap, "1.0", 3, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_send(self->zap, zmq_msg_data(reqid), zmq_msg_size(reqid), ZMQ_SNDMORE | ZMQ_DONTWAIT) <
            0)
        goto lost;
    for (int i = 0; i < 4; i++)
        if (zmq_send(self->zap, tail[i], strlen(tail[i]),
                     (i < 3 ? ZMQ_SNDMORE : 0) | ZMQ_DONTWAIT) < 0)
            goto lost;
    return 0;
lost:
    self->st.errors++;
    cohort_log(LOG_WARNING, "auth: ZAP reply not sent: %s", zmq_strerror(errno));
    return -1;
}

/* Copies the peer address frame into out for a log line: printable ASCII
 * only, "local" when empty (ipc://, inproc://). */
static void address(zmq_msg_t *m, char *out, size_t outlen)
{
    const char *s = zmq_msg_data(m);
    size_t n = zmq_msg_size(m), o = 0;
    for (size_t i = 0; i < n && o + 1 < outlen; i++)
        out[o++] = (s[i] > 0x20 && s[i] < 0x7f) ? s[i] : '?';
    out[o] = '\0';
    if (!o)
        snprintf(out, outlen, "local");
}

/* 1 if frame m holds exactly the string s. */
static int frame_is(zmq_msg_t *m, const char *s)
{
    return zmq_msg_size(m) == strlen(s) && memcmp(zmq_msg_data(m), s, strlen(s)) == 0;
}

/* Logs a refusal of the key with fingerprint fp, at most once per QUIET_MS
 * per key; the line logged says how many were not. */
static void log_refusal(auth_t *self, const char *fp, const char *why, const char *addr)
{
    uint64_t now = uv_now(self->loop);
    quiet_t *q = NULL, *oldest = &self->quiet[0];
    for (int i = 0; i < QUIET_SLOTS && !q; i++) {
        if (strcmp(self->quiet[i].fp, fp) == 0)
            q = &self->quiet[i];
        else if (self->quiet[i].logged_ms < oldest->logged_ms)
            oldest = &self->quiet[i];
    }
    if (q && now - q->logged_ms < QUIET_MS) {
        q->quiet++;
        return;
    }
    uint64_t quiet = q ? q->quiet : 0;
    if (!q) {
        q = oldest;
        snprintf(q->fp, sizeof q->fp, "%s", fp);
    }
    q->logged_ms = now;
    q->quiet = 0;
    if (quiet)
        cohort_log(LOG_WARNING,
                   "auth: refused key %s (%s) from %s (and %llu times since the last line)", fp,
                   why, addr, (unsigned long long)quiet);
    else
        cohort_log(LOG_WARNING, "auth: refused key %s (%s) from %s", fp, why, addr);
}

/* Answers one ZAP request of n frames (rid first). */
static void handle(auth_t *self, zmq_msg_t *f, int n)
{
    char addr[80], user[AUTH_USER_ID_MAX];
    auth_identity_t id;
    self->st.requests++;
    /* [rid][""][version][reqid][domain][address][identity][mechanism][creds...] */
    if (n < 8 || zmq_msg_size(&f[1]) != 0) {
        self->st.errors++;
        cohort_log(LOG_WARNING, "auth: malformed ZAP request (%d frames) dropped", n);
        return;
    }
    address(&f[5], addr, sizeof addr);
    if (self->before)
        self->before(self->before_arg);
    if (!frame_is(&f[2], "1.0")) {
        self->st.errors++;
        cohort_log(LOG_WARNING, "auth: ZAP request with an unknown version from %s", addr);
        reply(self, &f[0], &f[3], "500", "version 1.0 only", "");
        return;
    }
    if (frame_is(&f[7], "CURVE")) {
        uint8_t key[32];
        char z85[COHORT_KEY_Z85_LEN + 1], fp[COHORT_KEY_FP_LEN + 1];
        if (n != 9 || zmq_msg_size(&f[8]) != 32) {
            self->st.errors++;
            cohort_log(LOG_WARNING, "auth: malformed CURVE credentials from %s", addr);
            reply(self, &f[0], &f[3], "500", "malformed credentials", "");
            return;
        }
        memcpy(key, zmq_msg_data(&f[8]), 32);
        zmq_z85_encode(z85, key, 32);
        cohort_keys_fingerprint(z85, fp);
        if (auth_lookup(self, key, 32, &id) != 0) {
            self->st.refused++;
            log_refusal(self, fp, "unknown key", addr);
            reply(self, &f[0], &f[3], "400", "unknown key", "");
            return;
        }
        snprintf(user, sizeof user, "%s:%s:%s", auth_role_name(id.role), id.agency, id.key);
        if (reply(self, &f[0], &f[3], "200", "OK", user) == 0) {
            self->st.accepted++;
            cohort_log(LOG_INFO, "auth: accepted key %s as %s%s%s from %s", fp,
                       auth_role_name(id.role), *id.agency ? ":" : "", id.agency, addr);
        }
        return;
    }
    int null = frame_is(&f[7], "NULL"), plain = frame_is(&f[7], "PLAIN");
    if ((null || plain) && self->plaintext_dev) {
        if (reply(self, &f[0], &f[3], "200", "OK", "dev::") == 0) {
            self->st.accepted++;
            cohort_log(LOG_NOTICE,
                       "auth: accepted %s connection from %s (plaintext development "
                       "mode)",
                       null ? "NULL" : "PLAIN", addr);
        }
        return;
    }
    self->st.refused++;
    log_refusal(self, "-",
                null    ? "mechanism NULL not allowed: CURVE only"
                : plain ? "mechanism PLAIN not allowed: CURVE only"
                        : "unknown mechanism: CURVE only",
                addr);
    reply(self, &f[0], &f[3], "400", "CURVE only", "");
}

/* zbridge handler: answers up to CAP ZAP requests. */
static int on_input(void *arg)
{
    auth_t *self = arg;
    for (int r = 0; r < CAP; r++) {
        zmq_msg_t f[MAX_FRAMES];
        int n = 0, more = 1, too_big = 0;
        while (more) {
            zmq_msg_t spare, *m = n < MAX_FRAMES ? &f[n] : &spare;
            zmq_msg_init(m);
            if (zmq_msg_recv(m, self->zap, ZMQ_DONTWAIT) < 0) {
                int e = errno;
                zmq_msg_close(m);
                for (int i = 0; i < n; i++)
                    zmq_msg_close(&f[i]);
                if (n == 0 && (e == EAGAIN || e == EINTR))
                    return 0;
                cohort_log(LOG_WARNING, "auth: ZAP receive failed: %s", zmq_strerror(e));
                return 0;
            }
            more = zmq_msg_more(m);
            if (zmq_msg_size(m) > MAX_ZAP_FRAME || m == &spare)
                too_big = 1;
            if (m == &spare)
                zmq_msg_close(m);
            else
                n++;
        }
        if (too_big) {
            self->st.errors++;
            cohort_log(LOG_WARNING, "auth: oversized ZAP request dropped");
        } else {
            handle(self, f, n);
        }
        for (int i = 0; i < n; i++)
            zmq_msg_close(&f[i]);
    }
    return 1;
}

/* ------------------------------------------------------------- public --- */

/* Logs how many coordinator and board keys own no programme (after an
 * upgrade from a version without programmes=, they can no longer define). */
static void log_unowned(const table_t *t)
{
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++)
        n += (t->e[i].role == AUTH_ROLE_COORDINATOR || t->e[i].role == AUTH_ROLE_BOARD) &&
             !t->e[i].programmes;
    if (n)
        cohort_log(LOG_NOTICE,
                   "auth: %zu coordinator or board keys own no programme (no programmes= field): "
                   "they may send no definition",
                   n);
}

int auth_new(auth_t **out, uv_loop_t *loop, void *zctx, const char *access_file, char *err,
             size_t errlen)
{
    auth_t *self;
    int rc, linger = 0;
    *out = NULL;
    if (!(self = calloc(1, sizeof *self)) || (access_file && !(self->path = strdup(access_file)))) {
        free(self);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    self->loop = loop;
    if ((rc = load(self->path, &self->table, err, errlen)) < 0)
        goto fail;
    if (!(self->zap = zmq_socket(zctx, ZMQ_ROUTER))) {
        rc = -errno;
        snprintf(err, errlen, "creating the ZAP socket: %s", zmq_strerror(errno));
        goto fail;
    }
    zmq_setsockopt(self->zap, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_bind(self->zap, AUTH_ZAP_ENDPOINT) != 0) {
        rc = -errno;
        snprintf(err, errlen, "binding the ZAP handler %s: %s%s", AUTH_ZAP_ENDPOINT,
                 zmq_strerror(errno),
                 errno == EADDRINUSE ? " (this context already has a ZAP handler)" : "");
        goto fail;
    }
    if ((rc = zbridge_new(&self->bridge, loop, self->zap, on_input, self)) < 0) {
        snprintf(err, errlen, "watching the ZAP socket: %s", uv_strerror(rc));
        goto fail;
    }
    cohort_log(LOG_INFO, "auth: %zu keys from %s", self->table.n,
               self->path ? self->path : "(no access file)");
    if (!self->table.n)
        cohort_log(LOG_WARNING, "auth: the access table is empty: every CURVE client is refused");
    log_unowned(&self->table);
    *out = self;
    return 0;
fail:
    if (self->zap)
        zmq_close(self->zap);
    table_free(&self->table);
    free(self->path);
    free(self);
    return rc;
}

void auth_set_before_answer(auth_t *self, void (*fn)(void *arg), void *arg)
{
    self->before = fn;
    self->before_arg = arg;
}

void auth_set_plaintext_dev(auth_t *self, int on)
{
    self->plaintext_dev = !!on;
    if (on)
        cohort_log(LOG_WARNING, "auth: plaintext development mode: NULL and PLAIN clients are "
                                "accepted unauthenticated");
}

/* Keys of old that are missing from new or listed there with another role
 * or agency. Both tables are sorted by key. */
static size_t revoked_count(const table_t *old, const table_t *new)
{
    size_t n = 0;
    for (size_t i = 0; i < old->n; i++) {
        const entry_t *e = find(new, old->e[i].key);
        if (!e || e->role != old->e[i].role || strcmp(e->agency, old->e[i].agency) != 0)
            n++;
    }
    return n;
}

int auth_reload(auth_t *self, size_t *revoked, char *err, size_t errlen)
{
    table_t t;
    int rc;
    if (revoked)
        *revoked = 0;
    if (!self->path) {
        snprintf(err, errlen, "no access file to reload");
        return -ENOENT;
    }
    if ((rc = load(self->path, &t, err, errlen)) < 0) {
        cohort_log(LOG_ERR, "auth: reload refused, keeping the %zu keys in force: %s",
                   self->table.n, err);
        return rc;
    }
    size_t gone = revoked_count(&self->table, &t);
    table_free(&self->table);
    self->table = t;
    self->st.reloads++;
    if (revoked)
        *revoked = gone;
    cohort_log(LOG_NOTICE, "auth: reloaded %zu keys from %s (%zu revoked or changed)", t.n,
               self->path, gone);
    log_unowned(&self->table);
    return 0;
}

int auth_may_submit(const auth_identity_t *id, const char *agency, int definition, const char **why)
{
    switch (id->role) {
    case AUTH_ROLE_DEV:
        return 0;
    case AUTH_ROLE_AGENT:
        if (definition) {
            *why = "programme and cohort definitions need a coordinator or board key";
            return -EACCES;
        }
        if (strcmp(agency, id->agency) != 0) {
            *why = "the event's agency is not the sending key's agency";
            return -EACCES;
        }
        return 0;
    case AUTH_ROLE_COORDINATOR:
    case AUTH_ROLE_BOARD:
        if (!definition) {
            *why = "a coordinator or board key may send only programme and cohort definitions";
            return -EACCES;
        }
        if (*id->agency && strcmp(agency, id->agency) != 0) {
            *why = "the event's agency is not the sending key's agency";
            return -EACCES;
        }
        return 0;
    default:
        *why = "this key's role may not submit events";
        return -EACCES;
    }
}

/* 1 if the comma-separated list holds programme (or is "*"). */
static int listed(const char *list, const char *programme)
{
    size_t pl = strlen(programme);
    if (strcmp(list, "*") == 0)
        return 1;
    for (const char *p = list; *p;) {
        const char *c = strchr(p, ',');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        if (n == pl && memcmp(p, programme, n) == 0)
            return 1;
        p += n + (c ? 1 : 0);
    }
    return 0;
}

int auth_may_define(const auth_identity_t *id, const char *programme, const char **why)
{
    switch (id->role) {
    case AUTH_ROLE_DEV:
        return 0;
    case AUTH_ROLE_COORDINATOR:
    case AUTH_ROLE_BOARD:
        if (programme && listed(id->programmes, programme))
            return 0;
        *why = "this key does not own the programme (the access file's programmes= for the key "
               "does not list it)";
        return -EACCES;
    default:
        *why = "programme and cohort definitions need a coordinator or board key";
        return -EACCES;
    }
}

size_t auth_read_prefixes(const auth_identity_t *id, auth_prefix_t out[AUTH_READ_MAX])
{
    return cohort_scope_prefixes(id->role, id->agency, out);
}

int auth_may_read(const auth_identity_t *id, const char *topic)
{
    return cohort_scope_may_read(id->role, id->agency, topic);
}

int auth_curve_server(void *zsock, const char *secret_z85, char *err, size_t errlen)
{
    int one = 1;
    uint8_t raw[32];
    if (!secret_z85 || cohort_keys_decode(secret_z85, strlen(secret_z85), raw) < 0) {
        snprintf(err, errlen, "the server secret key is not a 40-character Z85 key");
        return -EINVAL;
    }
    explicit_bzero(raw, sizeof raw);
    if (zmq_setsockopt(zsock, ZMQ_CURVE_SERVER, &one, sizeof one) != 0 ||
        zmq_setsockopt(zsock, ZMQ_CURVE_SECRETKEY, secret_z85, COHORT_KEY_Z85_LEN) != 0 ||
        zmq_setsockopt(zsock, ZMQ_ZAP_DOMAIN, AUTH_ZAP_DOMAIN, strlen(AUTH_ZAP_DOMAIN)) != 0) {
        int e = errno;
        snprintf(err, errlen, "setting up CURVE: %s", zmq_strerror(e));
        return -e;
    }
    /* Without enforcement libzmq lets any client in when no handler is
     * bound; refuse to run without it. */
    if (zmq_setsockopt(zsock, ZAP_ENFORCE_DOMAIN, &one, sizeof one) != 0) {
        int e = errno;
        snprintf(err, errlen,
                 "this libzmq cannot enforce ZAP (ZMQ_ZAP_ENFORCE_DOMAIN: %s); CURVE would fail "
                 "open",
                 zmq_strerror(e));
        return -e;
    }
    return 0;
}

void auth_stats(const auth_t *self, auth_stats_t *out)
{
    *out = self->st;
}

void auth_destroy(auth_t **self_p)
{
    auth_t *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    *self_p = NULL;
    zbridge_close(&self->bridge);
    zmq_close(self->zap);
    table_free(&self->table);
    free(self->path);
    free(self);
}
