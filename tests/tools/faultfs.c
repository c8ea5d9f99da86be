/* faultfs: test tool, an LD_PRELOAD shim that makes a directory's disk
 * "full" on demand, for tests that cannot fill a real file system.
 *
 * While the control file exists, write, pwrite, writev, pwritev(2), fsync,
 * fdatasync, fallocate and posix_fallocate on a regular file whose path
 * lies under the directory fail with ENOSPC (or the chosen errno) without
 * doing anything; otherwise, and for every other file, they behave as
 * usual. Deleting the control file "frees the space".
 *
 * Environment (read once, at load):
 *   FAULTFS_DIR      the directory (required; resolved with realpath)
 *   FAULTFS_CTL      the control file (required; should lie outside DIR)
 *   FAULTFS_ERRNO    errno to inject, a number (default 28, ENOSPC)
 *   FAULTFS_EXCLUDE  optional: paths containing this text are never failed
 *   FAULTFS_LOG      optional: one line "faultfs: OP PATH" is appended to
 *                    this file per injected failure (the first 1000 only)
 * Without FAULTFS_DIR or FAULTFS_CTL the shim does nothing.
 *
 * sync_file_range is left alone: RocksDB probes it on every new file with
 * flags 0 (a no-op that no real file system fails) and asserts on failure.
 *
 * Contracts: the shim never changes a call it does not fail; the checks
 * cost one access(2) per call while the control file is absent. Under
 * AddressSanitizer run the process with ASAN_OPTIONS=verify_asan_link_order=0
 * (the shim is then ahead of the ASan runtime). */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#define LOG_MAX 1000 /* injected failures logged at most */

static char dir[PATH_MAX];  /* FAULTFS_DIR, resolved, with no trailing '/' */
static size_t dir_len;      /* its length; 0 = shim disabled */
static char ctl[PATH_MAX];  /* FAULTFS_CTL */
static char excl[PATH_MAX]; /* FAULTFS_EXCLUDE, or "" */
static char logp[PATH_MAX]; /* FAULTFS_LOG, or "" */
static int err_no = ENOSPC; /* errno to inject */
static int logged;          /* failures logged so far (racy counter: a bound only) */

/* Reads the environment once, when the shim is loaded. */
__attribute__((constructor)) static void faultfs_init(void)
{
    const char *d = getenv("FAULTFS_DIR"), *c = getenv("FAULTFS_CTL");
    const char *x = getenv("FAULTFS_EXCLUDE"), *l = getenv("FAULTFS_LOG");
    const char *e = getenv("FAULTFS_ERRNO");
    if (!d || !c || !realpath(d, dir) || strlen(c) >= sizeof ctl)
        return;
    snprintf(ctl, sizeof ctl, "%s", c);
    if (x && strlen(x) < sizeof excl)
        snprintf(excl, sizeof excl, "%s", x);
    if (l && strlen(l) < sizeof logp)
        snprintf(logp, sizeof logp, "%s", l);
    if (e && atoi(e) > 0)
        err_no = atoi(e);
    dir_len = strlen(dir);
    while (dir_len > 1 && dir[dir_len - 1] == '/')
        dir[--dir_len] = 0;
}

/* Appends one line to FAULTFS_LOG with raw system calls (never through the
 * shim's own wrappers). */
static void note(const char *op, const char *path)
{
    char line[PATH_MAX + 64];
    int n, fd;
    if (!logp[0] || __atomic_fetch_add(&logged, 1, __ATOMIC_RELAXED) >= LOG_MAX)
        return;
    n = snprintf(line, sizeof line, "faultfs: %s %s\n", op, path);
    if (n <= 0 || (size_t)n >= sizeof line)
        return;
    fd = (int)syscall(SYS_openat, AT_FDCWD, logp, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    if (syscall(SYS_write, fd, line, (size_t)n) < 0) {
        /* nothing to do: the log is best effort */
    }
    syscall(SYS_close, fd);
}

/* Returns 1 (with errno set) when the call on fd must fail now. */
static int fail(int fd, const char *op)
{
    char link[64], path[PATH_MAX];
    struct stat st;
    ssize_t n;
    int saved = errno;
    if (!dir_len || access(ctl, F_OK) != 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        goto no;
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    if ((n = readlink(link, path, sizeof path - 1)) <= 0)
        goto no;
    path[n] = 0;
    if (strncmp(path, dir, dir_len) != 0 || (path[dir_len] != '/' && dir_len > 1))
        goto no;
    if (excl[0] && strstr(path, excl))
        goto no;
    note(op, path);
    errno = err_no;
    return 1;
no:
    errno = saved;
    return 0;
}

/* The next definition of a symbol (libc's, or a sanitizer's interceptor). */
static void *next(const char *name)
{
    void *p = dlsym(RTLD_NEXT, name);
    if (!p) {
        static const char msg[] = "faultfs: a wrapped symbol has no next definition\n";
        syscall(SYS_write, 2, msg, sizeof msg - 1);
        abort();
    }
    return p;
}

/* Declares a wrapper's pointer to the real function (typed from the libc
 * prototype), resolved on first use. */
#define REAL(name)                                                                                 \
    static __typeof__(name) *real_##name;                                                          \
    if (!__atomic_load_n(&real_##name, __ATOMIC_ACQUIRE))                                          \
    __atomic_store_n(&real_##name, (__typeof__(name) *)next(#name), __ATOMIC_RELEASE)

ssize_t write(int fd, const void *buf, size_t n)
{
    REAL(write);
    return fail(fd, "write") ? -1 : real_write(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    REAL(pwrite);
    return fail(fd, "pwrite") ? -1 : real_pwrite(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off)
{
    REAL(pwrite64);
    return fail(fd, "pwrite64") ? -1 : real_pwrite64(fd, buf, n, off);
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
    REAL(writev);
    return fail(fd, "writev") ? -1 : real_writev(fd, iov, cnt);
}

ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
    REAL(pwritev);
    return fail(fd, "pwritev") ? -1 : real_pwritev(fd, iov, cnt, off);
}

ssize_t pwritev64(int fd, const struct iovec *iov, int cnt, off64_t off)
{
    REAL(pwritev64);
    return fail(fd, "pwritev64") ? -1 : real_pwritev64(fd, iov, cnt, off);
}

ssize_t pwritev2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
    REAL(pwritev2);
    return fail(fd, "pwritev2") ? -1 : real_pwritev2(fd, iov, cnt, off, flags);
}

int fsync(int fd)
{
    REAL(fsync);
    return fail(fd, "fsync") ? -1 : real_fsync(fd);
}

int fdatasync(int fd)
{
    REAL(fdatasync);
    return fail(fd, "fdatasync") ? -1 : real_fdatasync(fd);
}

int fallocate(int fd, int mode, off_t off, off_t len)
{
    REAL(fallocate);
    return fail(fd, "fallocate") ? -1 : real_fallocate(fd, mode, off, len);
}

int fallocate64(int fd, int mode, off64_t off, off64_t len)
{
    REAL(fallocate64);
    return fail(fd, "fallocate64") ? -1 : real_fallocate64(fd, mode, off, len);
}

/* posix_fallocate returns the error instead of setting errno. */
int posix_fallocate(int fd, off_t off, off_t len)
{
    REAL(posix_fallocate);
    if (fail(fd, "posix_fallocate"))
        return err_no;
    return real_posix_fallocate(fd, off, len);
}

int posix_fallocate64(int fd, off64_t off, off64_t len)
{
    REAL(posix_fallocate64);
    if (fail(fd, "posix_fallocate64"))
        return err_no;
    return real_posix_fallocate64(fd, off, len);
}
