/* cohortctl restore: puts a backup in place, offline (the daemon stopped),
 * through a staging directory and one rename. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <time.h>
#include <zmq.h>

#include "checkpoint.h"
#include "cohort.pb-c.h"
#include "cohort_cli.h"
#include "cohort_json.h"
#include "cohort_keys.h"
#include "audit.h"
#include "config.h"
#include "control.h"
#include "log.h"
#include "progress.h"
#include "store.h"
#include "uuid7.h"
#include "vault.h"

#include "cohortctl.h"

/* ------------------------------------------------------------ restore --- */

/* 1 if dir/LOCK is locked by a process (a daemon has the store open), 0 if
 * not (or there is no LOCK file). RocksDB locks it with fcntl. */
static int store_in_use(const char *dir)
{
    char path[PATH_MAX + 8];
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    int fd, held = 0;
    snprintf(path, sizeof path, "%s/LOCK", dir);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return 0;
    if (fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK)
        held = 1;
    close(fd);
    return held;
}

/* 1 if path is missing, 0 if it exists as an empty directory, -1 (message
 * printed) otherwise. */
static int missing_or_empty(const char *path)
{
    struct stat st;
    DIR *d;
    struct dirent *e;
    int n = 0;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT)
            return 1;
        fprintf(stderr, "cohortctl: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode) || !(d = opendir(path))) {
        fprintf(stderr, "cohortctl: %s exists and is not a directory I can read\n", path);
        return -1;
    }
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    if (n) {
        fprintf(stderr,
                "cohortctl: %s exists and is not empty%s; restore only into a new or "
                "empty directory\n",
                path, store_in_use(path) ? " (a running cohortd has it open)" : "");
        return -1;
    }
    return 0;
}

/* Copies src to a new file dst (mode 0600) and syncs it, adding the bytes
 * copied to *done and reporting them to pr. Returns 0 or a negative errno. */
static int copy_file(const char *src, const char *dst, progress_t *pr, uint64_t *done)
{
    static char buf[1 << 20];
    int in = open(src, O_RDONLY | O_CLOEXEC), out = -1, rc = 0;
    ssize_t n;
    if (in < 0)
        return -errno;
    if ((out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
        rc = -errno;
        goto done;
    }
    while ((n = read(in, buf, sizeof buf)) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            goto done;
        }
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno != EINTR) {
                rc = -errno;
                goto done;
            }
            off += w > 0 ? w : 0;
        }
        *done += (uint64_t)n;
        progress_update(pr, *done);
    }
    if (fsync(out) != 0)
        rc = -errno;
done:
    if (out >= 0 && close(out) != 0 && rc == 0)
        rc = -errno;
    close(in);
    return rc;
}

/* Syncs a directory (its entries). Returns 0 or a negative errno. */
static int sync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;
    if (fd < 0)
        return -errno;
    if (fsync(fd) != 0)
        rc = -errno;
    close(fd);
    return rc;
}

/* Removes the staging directory and what we put in it. */
static void remove_staging(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[PATH_MAX * 2];
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
    if (d)
        closedir(d);
    rmdir(dir);
}

/* Table files are immutable once written, so a hard link is a copy; every
 * other file (manifest, WAL, CURRENT, OPTIONS) is copied, because RocksDB
 * appends to or recycles some of them in place. */
static int immutable(const char *name)
{
    size_t n = strlen(name);
    return (n > 4 && strcmp(name + n - 4, ".sst") == 0) ||
           (n > 5 && strcmp(name + n - 5, ".blob") == 0);
}

/* The bytes restore will take from src: its regular files but the lock
 * and info logs (as restore picks them). */
static uint64_t restore_bytes(const char *src)
{
    DIR *d = opendir(src);
    struct dirent *e;
    char path[PATH_MAX * 2];
    uint64_t total = 0;
    struct stat st;
    while (d && (e = readdir(d))) {
        snprintf(path, sizeof path, "%s/%s", src, e->d_name);
        if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) && strcmp(e->d_name, "LOCK") != 0 &&
            strncmp(e->d_name, "LOG", 3) != 0)
            total += (uint64_t)st.st_size;
    }
    if (d)
        closedir(d);
    return total;
}

/* restore: exit 0, or 1 if refused or failed. */
int cmd_restore(const args_t *a)
{
    const char *src = a->pos[0];
    char target[PATH_MAX], staging[PATH_MAX + 32], from[PATH_MAX * 2], to[PATH_MAX * 2], err[512];
    store_t *s = NULL;
    uint64_t head = 0, got = 0;
    unsigned linked = 0, copied = 0;
    uint64_t done = 0;
    progress_t *pr = NULL;
    DIR *d = NULL;
    struct dirent *e;
    int rc, tgt;
    if (absolute(a->pos[1], target, sizeof target) < 0)
        return 1;
    while (strlen(target) > 1 && target[strlen(target) - 1] == '/')
        target[strlen(target) - 1] = '\0';
    if (store_in_use(src)) {
        fprintf(stderr,
                "cohortctl: %s is in use by a running cohortd; take an online backup with "
                "'cohortctl backup' and restore that\n",
                src);
        return 1;
    }
    if ((tgt = missing_or_empty(target)) < 0)
        return 1;
    if (store_open(&s, src, STORE_READONLY, err, sizeof err) < 0) {
        fprintf(stderr, "cohortctl: %s is not a readable cohortd store: %s\n", src, err);
        return 1;
    }
    head = store_head(s);
    store_close(&s);
    /* Stage beside the target (same file system), then rename into place:
     * a failed restore leaves no half-filled data directory. */
    snprintf(staging, sizeof staging, "%s.restore-XXXXXX", target);
    if (!mkdtemp(staging)) {
        fprintf(stderr, "cohortctl: cannot create a staging directory beside %s: %s\n", target,
                strerror(errno));
        return 1;
    }
    if (!(d = opendir(src))) {
        fprintf(stderr, "cohortctl: cannot read %s: %s\n", src, strerror(errno));
        goto fail;
    }
    pr = progress_start(a, "restore", NULL, 1, 0);
    progress_set_total(pr, restore_bytes(src));
    while ((e = readdir(d))) {
        struct stat st;
        snprintf(from, sizeof from, "%s/%s", src, e->d_name);
        snprintf(to, sizeof to, "%s/%s", staging, e->d_name);
        /* Only RocksDB's regular files: not the lock, the info logs or a
         * socket left in a stopped daemon's directory. */
        if (lstat(from, &st) != 0 || !S_ISREG(st.st_mode) || strcmp(e->d_name, "LOCK") == 0 ||
            strncmp(e->d_name, "LOG", 3) == 0)
            continue;
        if (immutable(e->d_name) && link(from, to) == 0) {
            linked++;
            done += (uint64_t)st.st_size;
            progress_update(pr, done);
            continue;
        }
        if ((rc = copy_file(from, to, pr, &done)) < 0) {
            progress_clear(pr);
            fprintf(stderr, "cohortctl: copying %s: %s\n", from, strerror(-rc));
            goto fail;
        }
        copied++;
    }
    progress_done(pr);
    progress_destroy(&pr);
    closedir(d);
    d = NULL;
    if ((rc = sync_dir(staging)) < 0) {
        fprintf(stderr, "cohortctl: syncing %s: %s\n", staging, strerror(-rc));
        goto fail;
    }
    if (store_open(&s, staging, STORE_READONLY, err, sizeof err) < 0) {
        fprintf(stderr, "cohortctl: the restored copy does not open: %s\n", err);
        goto fail;
    }
    got = store_head(s);
    store_close(&s);
    if (got != head) {
        fprintf(stderr, "cohortctl: the restored copy has head %llu, the backup %llu\n",
                (unsigned long long)got, (unsigned long long)head);
        goto fail;
    }
    /* rename() refuses a non-empty target, so a daemon that started on it
     * meanwhile is not overwritten. */
    if ((tgt == 0 && rmdir(target) != 0) || rename(staging, target) != 0) {
        fprintf(stderr, "cohortctl: cannot move the restored store into %s: %s\n", target,
                strerror(errno));
        if (tgt == 0)
            mkdir(target, 0700); /* put the empty directory back */
        goto fail;
    }
    strcpy(staging, target);
    char *slash = strrchr(staging, '/');
    if (slash)
        *(slash == staging ? slash + 1 : slash) = '\0';
    if ((rc = sync_dir(staging)) < 0)
        fprintf(stderr, "cohortctl: warning: syncing %s: %s\n", staging, strerror(-rc));
    printf("restored %s into %s (%u files linked, %u copied)\nhead_seq %llu\n", src, target, linked,
           copied, (unsigned long long)head);
    return 0;
fail:
    progress_destroy(&pr);
    if (d)
        closedir(d);
    remove_staging(staging);
    return 1;
}
