/* crashrec: test tool, an LD_PRELOAD shim that records every write and
 * sync a process makes to the regular files under one directory, so that a
 * test can build the states a power loss may leave (tests/lib/CrashState.pm,
 * tests/integration/07-crash-states.t), as RocksDB's fault-injection tests
 * and SQLite's crash tests do.
 *
 * Each call is made as usual and then, if it succeeded on a regular file
 * under the directory, appended to the record file as one record:
 *   op      1 byte: 'W' write (data at off), 'S' fsync/fdatasync,
 *           'T' ftruncate to off, 'R' rename (path to data), 'U' unlink
 *   plen    u32 little-endian: bytes of path
 *   off     u64 LE
 *   len     u64 LE: bytes of data
 *   path    relative to the directory, then data.
 * A mutex orders the call and its record, so the records are in the order
 * the calls reached the page cache. write() at the file offset (or at the
 * end with O_APPEND), pwrite, writev and pwritev (all variants) are
 * recorded as writes; fsync and fdatasync as syncs of the file;
 * sync_file_range is no durability point and is not recorded. Not seen:
 * writes through mmap, and glibc-internal writes of stdio (the store writes
 * neither). Directory operations (create, rename, unlink) are modelled as
 * durable at once.
 *
 * Environment (read once, at load):
 *   CRASHREC_DIR  the directory (required; resolved with realpath)
 *   CRASHREC_LOG  the record file (required; should lie outside DIR)
 * Without both the shim does nothing. Under AddressSanitizer run with
 * ASAN_OPTIONS=verify_asan_link_order=0. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static char dir[PATH_MAX];                             /* CRASHREC_DIR, resolved, no trailing '/' */
static size_t dir_len;                                 /* its length; 0 = shim disabled */
static int logfd = -1;                                 /* the record file, O_APPEND */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER; /* orders calls and records */

__attribute__((constructor)) static void crashrec_init(void)
{
    const char *d = getenv("CRASHREC_DIR"), *l = getenv("CRASHREC_LOG");
    if (!d || !l || !realpath(d, dir))
        return;
    logfd = (int)syscall(SYS_openat, AT_FDCWD, l, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (logfd < 0)
        return;
    dir_len = strlen(dir);
    while (dir_len > 1 && dir[dir_len - 1] == '/')
        dir[--dir_len] = 0;
}

/* The path of fd relative to the directory into rel, if fd is a regular
 * file under it. Returns 1 if so. */
static int watched(int fd, char *rel, size_t cap)
{
    char link[64], path[PATH_MAX];
    struct stat st;
    ssize_t n;
    if (!dir_len || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        return 0;
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    if ((n = readlink(link, path, sizeof path - 1)) <= 0)
        return 0;
    path[n] = 0;
    if (strncmp(path, dir, dir_len) != 0 || path[dir_len] != '/')
        return 0;
    snprintf(rel, cap, "%s", path + dir_len + 1);
    return 1;
}

/* Relative path of a path name under the directory (absolute, or relative
 * to the working directory), or 0. */
static int watched_name(const char *name, char *rel, size_t cap)
{
    char abs[PATH_MAX], parent[PATH_MAX];
    const char *slash;
    if (!dir_len || !name)
        return 0;
    /* the file may not exist (rename's target): resolve its directory */
    snprintf(parent, sizeof parent, "%s", name);
    char *s = strrchr(parent, '/');
    if (s)
        *s = 0;
    else
        snprintf(parent, sizeof parent, ".");
    if (!realpath(s == parent ? "/" : parent, abs))
        return 0;
    slash = strrchr(name, '/');
    size_t al = strlen(abs);
    if (strncmp(abs, dir, dir_len) != 0 || (abs[dir_len] != '/' && abs[dir_len] != 0))
        return 0;
    snprintf(rel, cap, "%s%s%s", al > dir_len ? abs + dir_len + 1 : "", al > dir_len ? "/" : "",
             slash ? slash + 1 : name);
    return 1;
}

/* Appends one record (raw system calls: never through the wrappers). */
static void record(char op, const char *rel, uint64_t off, const struct iovec *iov, int cnt)
{
    uint8_t hdr[21];
    uint32_t plen = (uint32_t)strlen(rel);
    uint64_t len = 0;
    for (int i = 0; i < cnt; i++)
        len += iov[i].iov_len;
    hdr[0] = (uint8_t)op;
    for (int i = 0; i < 4; i++)
        hdr[1 + i] = (uint8_t)(plen >> (8 * i));
    for (int i = 0; i < 8; i++) {
        hdr[5 + i] = (uint8_t)(off >> (8 * i));
        hdr[13 + i] = (uint8_t)(len >> (8 * i));
    }
    struct iovec v[66];
    int n = 0;
    v[n++] = (struct iovec){hdr, sizeof hdr};
    v[n++] = (struct iovec){(void *)rel, plen};
    for (int i = 0; i < cnt && n < 66; i++)
        v[n++] = iov[i];
    if (cnt > 64) { /* cannot happen for the store: records the first 64 only */
        static const char msg[] = "crashrec: writev of more than 64 buffers\n";
        syscall(SYS_write, 2, msg, sizeof msg - 1);
        abort();
    }
    size_t total = 0, done = 0;
    for (int i = 0; i < n; i++)
        total += v[i].iov_len;
    /* one writev per record on an O_APPEND file; retried when short */
    uint8_t *flat = NULL;
    ssize_t w = syscall(SYS_writev, logfd, v, n);
    if (w >= 0 && (size_t)w < total && (flat = malloc(total))) {
        for (int i = 0; i < n; i++)
            memcpy(flat + done, v[i].iov_base, v[i].iov_len), done += v[i].iov_len;
        for (done = (size_t)w; done < total && w > 0; done += (size_t)w)
            w = syscall(SYS_write, logfd, flat + done, total - done);
        free(flat);
    }
}

static void *next(const char *name)
{
    void *p = dlsym(RTLD_NEXT, name);
    if (!p) {
        static const char msg[] = "crashrec: a wrapped symbol has no next definition\n";
        syscall(SYS_write, 2, msg, sizeof msg - 1);
        abort();
    }
    return p;
}

#define REAL(name)                                                                                 \
    static __typeof__(name) *real_##name;                                                          \
    if (!__atomic_load_n(&real_##name, __ATOMIC_ACQUIRE))                                          \
    __atomic_store_n(&real_##name, (__typeof__(name) *)next(#name), __ATOMIC_RELEASE)

/* A write of the buffers iov at off (-1: at the file offset, or the end
 * with O_APPEND) by call(); records what it wrote. */
#define WRAP_WRITE(call, fd, iov, cnt, off_in)                                                     \
    do {                                                                                           \
        char rel[PATH_MAX];                                                                        \
        if (!dir_len || !watched(fd, rel, sizeof rel))                                             \
            return call;                                                                           \
        pthread_mutex_lock(&mu);                                                                   \
        off_t at = (off_in);                                                                       \
        if (at < 0) {                                                                              \
            struct stat st;                                                                        \
            int fl = fcntl(fd, F_GETFL);                                                           \
            at = fl >= 0 && (fl & O_APPEND) && fstat(fd, &st) == 0 ? st.st_size                    \
                                                                   : lseek(fd, 0, SEEK_CUR);       \
        }                                                                                          \
        ssize_t r = call;                                                                          \
        int saved = errno;                                                                         \
        if (r > 0 && at >= 0) {                                                                    \
            struct iovec part[64];                                                                 \
            int np = 0;                                                                            \
            size_t left = (size_t)r;                                                               \
            for (int i = 0; i < (cnt) && left && np < 64; i++) {                                   \
                size_t l = (iov)[i].iov_len < left ? (iov)[i].iov_len : left;                      \
                part[np++] = (struct iovec){(iov)[i].iov_base, l};                                 \
                left -= l;                                                                         \
            }                                                                                      \
            record('W', rel, (uint64_t)at, part, np);                                              \
        }                                                                                          \
        pthread_mutex_unlock(&mu);                                                                 \
        errno = saved;                                                                             \
        return r;                                                                                  \
    } while (0)

ssize_t write(int fd, const void *buf, size_t n)
{
    REAL(write);
    struct iovec v = {(void *)buf, n};
    WRAP_WRITE(real_write(fd, buf, n), fd, &v, 1, -1);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    REAL(pwrite);
    struct iovec v = {(void *)buf, n};
    WRAP_WRITE(real_pwrite(fd, buf, n, off), fd, &v, 1, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off)
{
    REAL(pwrite64);
    struct iovec v = {(void *)buf, n};
    WRAP_WRITE(real_pwrite64(fd, buf, n, off), fd, &v, 1, off);
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
    REAL(writev);
    WRAP_WRITE(real_writev(fd, iov, cnt), fd, iov, cnt, -1);
}

ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
    REAL(pwritev);
    WRAP_WRITE(real_pwritev(fd, iov, cnt, off), fd, iov, cnt, off);
}

ssize_t pwritev64(int fd, const struct iovec *iov, int cnt, off64_t off)
{
    REAL(pwritev64);
    WRAP_WRITE(real_pwritev64(fd, iov, cnt, off), fd, iov, cnt, off);
}

ssize_t pwritev2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
    REAL(pwritev2);
    WRAP_WRITE(real_pwritev2(fd, iov, cnt, off, flags), fd, iov, cnt, off);
}

/* A call on fd recorded as op (with off) once it succeeded. */
#define WRAP_FD(call, fd, op, off)                                                                 \
    do {                                                                                           \
        char rel[PATH_MAX];                                                                        \
        if (!dir_len || !watched(fd, rel, sizeof rel))                                             \
            return call;                                                                           \
        pthread_mutex_lock(&mu);                                                                   \
        int r = call;                                                                              \
        int saved = errno;                                                                         \
        if (r == 0)                                                                                \
            record(op, rel, (uint64_t)(off), NULL, 0);                                             \
        pthread_mutex_unlock(&mu);                                                                 \
        errno = saved;                                                                             \
        return r;                                                                                  \
    } while (0)

int fsync(int fd)
{
    REAL(fsync);
    WRAP_FD(real_fsync(fd), fd, 'S', 0);
}

int fdatasync(int fd)
{
    REAL(fdatasync);
    WRAP_FD(real_fdatasync(fd), fd, 'S', 0);
}

int ftruncate(int fd, off_t len)
{
    REAL(ftruncate);
    WRAP_FD(real_ftruncate(fd, len), fd, 'T', len);
}

int ftruncate64(int fd, off64_t len)
{
    REAL(ftruncate64);
    WRAP_FD(real_ftruncate64(fd, len), fd, 'T', len);
}

int rename(const char *from, const char *to)
{
    REAL(rename);
    char a[PATH_MAX], b[PATH_MAX];
    if (!dir_len || !watched_name(from, a, sizeof a) || !watched_name(to, b, sizeof b))
        return real_rename(from, to);
    pthread_mutex_lock(&mu);
    int r = real_rename(from, to), saved = errno;
    if (r == 0)
        record('R', a, 0, &(struct iovec){b, strlen(b)}, 1);
    pthread_mutex_unlock(&mu);
    errno = saved;
    return r;
}

int unlink(const char *name)
{
    REAL(unlink);
    char a[PATH_MAX];
    if (!dir_len || !watched_name(name, a, sizeof a))
        return real_unlink(name);
    pthread_mutex_lock(&mu);
    int r = real_unlink(name), saved = errno;
    if (r == 0)
        record('U', a, 0, NULL, 0);
    pthread_mutex_unlock(&mu);
    errno = saved;
    return r;
}
