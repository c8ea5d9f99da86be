/* spool.c: the watched spool directory (contract in spool.h). */
#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_IGNORED 1024 /* names remembered as already reported */

/* What was last seen of one ready file (spool_settle). */
typedef struct {
    char *name;        /* its name in SPOOL */
    dev_t dev;         /* identity: a replaced file starts again */
    ino_t ino;         /* ditto */
    off_t size;        /* size when last seen changed */
    struct timespec m; /* mtime when last seen changed */
    uint64_t since_ms; /* caller's clock when it was last seen change */
    int empty_said;    /* SPOOL_EMPTY_NEW was returned for it */
} seen_t;

struct spool_t {
    seen_t *seen;    /* ready files being watched settle */
    size_t nseen;    /* count */
    char *dir;       /* SPOOL */
    int dfd;         /* SPOOL, open */
    int done_fd;     /* SPOOL/done */
    int failed_fd;   /* SPOOL/failed */
    char **ignored;  /* names reported as ignored */
    size_t nignored; /* count (<= MAX_IGNORED) */
};

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n > m && strcasecmp(s + n - m, suffix) == 0;
}

static int open_sub(int dfd, const char *name, const char *dir, char *err, size_t errlen)
{
    int fd;
    if (mkdirat(dfd, name, 0700) != 0 && errno != EEXIST) {
        int e = errno;
        snprintf(err, errlen, "cannot create %s/%s: %s", dir, name, strerror(e));
        return -e;
    }
    if ((fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        int e = errno;
        snprintf(err, errlen, "cannot open %s/%s: %s", dir, name, strerror(e));
        return -e;
    }
    return fd;
}

int spool_open(spool_t **out, const char *dir, char *err, size_t errlen)
{
    spool_t *self = calloc(1, sizeof *self);
    int rc;

    *out = NULL;
    if (!self || !(self->dir = strdup(dir))) {
        free(self);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    self->dfd = self->done_fd = self->failed_fd = -1;
    if ((self->dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        rc = -errno;
        snprintf(err, errlen, "cannot open spool directory %s: %s", dir, strerror(-rc));
        goto fail;
    }
    if ((rc = self->done_fd = open_sub(self->dfd, "done", dir, err, errlen)) < 0 ||
        (rc = self->failed_fd = open_sub(self->dfd, "failed", dir, err, errlen)) < 0)
        goto fail;
    *out = self;
    return 0;
fail:
    spool_close(&self);
    return rc;
}

void spool_close(spool_t **self_p)
{
    spool_t *self;
    if (!self_p || !(self = *self_p))
        return;
    *self_p = NULL;
    if (self->dfd >= 0)
        close(self->dfd);
    if (self->done_fd >= 0)
        close(self->done_fd);
    if (self->failed_fd >= 0)
        close(self->failed_fd);
    spool_free_names(self->ignored, self->nignored);
    for (size_t i = 0; i < self->nseen; i++)
        free(self->seen[i].name);
    free(self->seen);
    free(self->dir);
    free(self);
}

const char *spool_dir(const spool_t *self)
{
    return self->dir;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void spool_free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

static int push(char ***v, size_t *n, size_t *cap, const char *s)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        char **nv = realloc(*v, nc * sizeof *nv);
        if (!nv)
            return -ENOMEM;
        *v = nv;
        *cap = nc;
    }
    if (!((*v)[*n] = strdup(s)))
        return -ENOMEM;
    (*n)++;
    return 0;
}

int spool_list(spool_t *self, char ***names, size_t *n, char ***ignored, size_t *nignored)
{
    DIR *d;
    struct dirent *de;
    size_t cap = 0, icap = 0;
    int fd, rc = 0;

    *names = *ignored = NULL;
    *n = *nignored = 0;
    if ((fd = openat(self->dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return -errno;
    if (!(d = fdopendir(fd))) {
        rc = -errno;
        close(fd);
        return rc;
    }
    while ((errno = 0, de = readdir(d))) {
        struct stat st;
        const char *nm = de->d_name;
        if (nm[0] == '.' || ends_with(nm, ".tmp"))
            continue;
        if (fstatat(self->dfd, nm, &st, AT_SYMLINK_NOFOLLOW) != 0 || S_ISDIR(st.st_mode))
            continue; /* gone already, or done/ failed/ */
        if (S_ISREG(st.st_mode) && (ends_with(nm, ".jsonl") || ends_with(nm, ".csv"))) {
            if ((rc = push(names, n, &cap, nm)) < 0)
                break;
            continue;
        }
        int seen = 0;
        for (size_t i = 0; i < self->nignored && !seen; i++)
            seen = strcmp(self->ignored[i], nm) == 0;
        if (seen)
            continue;
        if ((rc = push(ignored, nignored, &icap, nm)) < 0)
            break;
        if (self->nignored < MAX_IGNORED) {
            char **ni = realloc(self->ignored, (self->nignored + 1) * sizeof *ni);
            char *copy = strdup(nm);
            if (ni)
                self->ignored = ni;
            if (!ni || !copy) {
                free(copy);
                rc = -ENOMEM;
                break;
            }
            self->ignored[self->nignored++] = copy;
        }
    }
    if (rc == 0 && errno != 0)
        rc = -errno;
    closedir(d);
    if (rc < 0) {
        spool_free_names(*names, *n);
        spool_free_names(*ignored, *nignored);
        *names = *ignored = NULL;
        *n = *nignored = 0;
        return rc;
    }
    if (*n > 1)
        qsort(*names, *n, sizeof **names, cmp_names);
    /* forget files that are no longer ready (moved, removed, renamed) */
    for (size_t i = 0; i < self->nseen;) {
        if (*n > 0 && bsearch(&self->seen[i].name, *names, *n, sizeof **names, cmp_names)) {
            i++;
            continue;
        }
        free(self->seen[i].name);
        self->seen[i] = self->seen[--self->nseen];
    }
    return 0;
}

static seen_t *seen_find(spool_t *self, const char *name)
{
    for (size_t i = 0; i < self->nseen; i++)
        if (strcmp(self->seen[i].name, name) == 0)
            return &self->seen[i];
    return NULL;
}

int spool_settle(spool_t *self, const char *name, unsigned settle_ms, uint64_t now_ms,
                 unsigned *wait_ms)
{
    struct stat st;
    seen_t *e;

    *wait_ms = settle_ms;
    if (fstatat(self->dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return -errno;
    if (!(e = seen_find(self, name))) {
        seen_t *ns = realloc(self->seen, (self->nseen + 1) * sizeof *ns);
        char *copy = strdup(name);
        if (ns)
            self->seen = ns;
        if (!ns || !copy) {
            free(copy);
            return -ENOMEM;
        }
        e = &self->seen[self->nseen++];
        *e = (seen_t){.name = copy,
                      .dev = st.st_dev,
                      .ino = st.st_ino,
                      .size = st.st_size,
                      .m = st.st_mtim,
                      .since_ms = now_ms};
    } else if (e->dev != st.st_dev || e->ino != st.st_ino || e->size != st.st_size ||
               e->m.tv_sec != st.st_mtim.tv_sec || e->m.tv_nsec != st.st_mtim.tv_nsec) {
        e->dev = st.st_dev;
        e->ino = st.st_ino;
        e->size = st.st_size;
        e->m = st.st_mtim;
        e->since_ms = now_ms;
        e->empty_said = 0;
    }
    if (now_ms - e->since_ms < settle_ms) {
        *wait_ms = (unsigned)(settle_ms - (now_ms - e->since_ms));
        return SPOOL_CHANGING;
    }
    *wait_ms = 0;
    if (st.st_size == 0) {
        int first = !e->empty_said;
        e->empty_said = 1;
        return first ? SPOOL_EMPTY_NEW : SPOOL_EMPTY;
    }
    return SPOOL_SETTLED;
}

void spool_unsettle(spool_t *self, const char *name, uint64_t now_ms)
{
    seen_t *e = seen_find(self, name);
    if (e)
        e->since_ms = now_ms;
}

/* Renames name in the directory sfd (SPOOL or done/) into the directory
 * tfd without overwriting; the name used goes to used. Returns 0 or -errno. */
static int move_into(int sfd, int tfd, const char *name, char *used, size_t len)
{
    char buf[512];
    int rc;

    for (unsigned k = 0; k < 10000; k++) {
        if (k == 0)
            snprintf(buf, sizeof buf, "%s", name);
        else
            snprintf(buf, sizeof buf, "%s.%u", name, k);
        rc = renameat2(sfd, name, tfd, buf, RENAME_NOREPLACE);
        if (rc != 0 && errno == EINVAL) { /* file system without NOREPLACE */
            struct stat st;
            if (fstatat(tfd, buf, &st, AT_SYMLINK_NOFOLLOW) == 0)
                continue;
            rc = renameat(sfd, name, tfd, buf);
        }
        if (rc == 0) {
            if (used)
                snprintf(used, len, "%s", buf);
            /* retention counts from the move, not from when it was written */
            if (utimensat(tfd, buf, NULL, AT_SYMLINK_NOFOLLOW) != 0) {
                /* ignored: then it counts from its own mtime, which is older */
            }
            if (fsync(tfd) != 0 || fsync(sfd) != 0)
                return -errno;
            return 0;
        }
        if (errno != EEXIST)
            return -errno;
    }
    return -EEXIST;
}

int spool_done(spool_t *self, const char *name, char *moved, size_t len)
{
    return move_into(self->dfd, self->done_fd, name, moved, len);
}

/* Moves name from the directory sfd into failed/, with its reason file.
 * The reason is written under a dot name and renamed into place, so that
 * NAME.reason, once it exists, is whole (for a person or a script watching
 * failed/, and after a crash). */
static int fail_from(spool_t *self, int sfd, const char *name, const char *reason, char *moved,
                     size_t len)
{
    char used[512], rname[600], tname[640];
    int rc, fd;

    if ((rc = move_into(sfd, self->failed_fd, name, used, sizeof used)) < 0)
        return rc;
    if (moved)
        snprintf(moved, len, "%s", used);
    snprintf(rname, sizeof rname, "%s.reason", used);
    snprintf(tname, sizeof tname, ".%s.tmp", rname);
    fd = openat(self->failed_fd, tname, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd >= 0) {
        size_t n = strlen(reason);
        ssize_t w = write(fd, reason, n);
        int ok = w == (ssize_t)n;
        if (ok && (n == 0 || reason[n - 1] != '\n'))
            ok = write(fd, "\n", 1) == 1;
        ok = fsync(fd) == 0 && ok;
        close(fd);
        /* On failure the data file is in failed/ either way, without a reason. */
        if (!ok || renameat(self->failed_fd, tname, self->failed_fd, rname) != 0)
            (void)unlinkat(self->failed_fd, tname, 0);
    }
    return 0;
}

int spool_fail(spool_t *self, const char *name, const char *reason, char *moved, size_t len)
{
    return fail_from(self, self->dfd, name, reason, moved, len);
}

int spool_refail(spool_t *self, const char *done_name, const char *reason, char *moved, size_t len)
{
    return fail_from(self, self->done_fd, done_name, reason, moved, len);
}

/* Removes the regular files in the directory dfd (a subdirectory of the
 * spool) last modified before cutoff; adds their number to *removed. */
static int expire_dir(int dfd, int64_t cutoff, unsigned *removed)
{
    int fd = dup(dfd), rc = 0;
    unsigned n = 0;
    struct dirent *de;
    DIR *d;

    if (fd < 0)
        return -errno;
    if (!(d = fdopendir(fd))) {
        rc = -errno;
        close(fd);
        return rc;
    }
    rewinddir(d); /* the dup shares its offset with dfd: start from the top */
    while ((de = readdir(d))) {
        struct stat st;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) ||
            (int64_t)st.st_mtime >= cutoff)
            continue;
        if (unlinkat(dfd, de->d_name, 0) == 0)
            n++;
        else if (errno != ENOENT)
            rc = -errno;
    }
    closedir(d);
    if (n > 0 && fsync(dfd) != 0 && rc == 0)
        rc = -errno;
    *removed += n;
    return rc;
}

int spool_expire(spool_t *self, int64_t cutoff, unsigned *removed)
{
    int rc = expire_dir(self->done_fd, cutoff, removed);
    int rc2 = expire_dir(self->failed_fd, cutoff, removed);
    return rc < 0 ? rc : rc2;
}
