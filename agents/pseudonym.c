/* pseudonym.c: staff numbers to participant refs with an agency secret
 * (contract in pseudonym.h). All cryptography is libsodium's. */
#include "pseudonym.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY_FILE_MAX 256 /* a key file is 64 hex digits and some whitespace */
#define REF_BYTES 20     /* HMAC output bytes kept in the ref */

/* The loaded secret, in sodium_malloc'd memory. */
struct pseudonym {
    crypto_auth_hmacsha256_state st; /* HMAC state with the key already absorbed */
};

static const char B32[] = "abcdefghijklmnopqrstuvwxyz234567"; /* RFC 4648, lower case */

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

int pseudonym_from_key(pseudonym_t **out, const uint8_t *key)
{
    pseudonym_t *p;

    *out = NULL;
    if (sodium_init() < 0)
        return -EIO;
    if (!(p = sodium_malloc(sizeof *p)))
        return -ENOMEM;
    crypto_auth_hmacsha256_init(&p->st, key, PSEUDONYM_KEY_BYTES);
    sodium_mprotect_readonly(p);
    *out = p;
    return 0;
}

void pseudonym_destroy(pseudonym_t **self)
{
    if (!self || !*self)
        return;
    sodium_free(*self); /* wipes it */
    *self = NULL;
}

int pseudonym_new(pseudonym_t **out, const char *path, char *err, size_t errlen)
{
    char text[KEY_FILE_MAX + 1];
    uint8_t key[PSEUDONYM_KEY_BYTES];
    size_t len = 0, binlen = 0, n;
    const char *end = NULL;
    struct stat st;
    int fd, rc;

    *out = NULL;
    if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0) {
        rc = -errno;
        snprintf(err, errlen, "cannot open the pseudonym key %s: %s", path, strerror(-rc));
        return rc;
    }
    if (fstat(fd, &st) != 0) {
        rc = -errno;
        snprintf(err, errlen, "cannot read the pseudonym key %s: %s", path, strerror(-rc));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = -EINVAL;
        snprintf(err, errlen, "the pseudonym key %s is not a regular file", path);
        goto out;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        rc = -EPERM;
        snprintf(err, errlen,
                 "the pseudonym key %s is accessible to group or others (mode %03o); "
                 "it must be 0600 or stricter (chmod 600)",
                 path, (unsigned)(st.st_mode & 0777));
        goto out;
    }
    while (len < sizeof text - 1) {
        ssize_t r = read(fd, text + len, sizeof text - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = -errno;
            snprintf(err, errlen, "cannot read the pseudonym key %s: %s", path, strerror(-rc));
            goto out;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    text[len] = 0;
    n = len;
    while (n > 0 && is_space(text[n - 1]))
        n--;
    rc = -EINVAL;
    if (len == sizeof text - 1 || n != 2 * PSEUDONYM_KEY_BYTES || sodium_init() < 0 ||
        sodium_hex2bin(key, sizeof key, text, n, NULL, &binlen, &end) != 0 ||
        binlen != sizeof key || end != text + n) {
        snprintf(err, errlen,
                 "the pseudonym key %s is not a key: expected %d hex digits (%d bytes), "
                 "as made by cohort-agent keygen-pseudonym",
                 path, 2 * PSEUDONYM_KEY_BYTES, PSEUDONYM_KEY_BYTES);
        goto out;
    }
    if ((rc = pseudonym_from_key(out, key)) < 0)
        snprintf(err, errlen, "cannot load the pseudonym key %s: %s", path,
                 rc == -ENOMEM ? "out of memory" : "libsodium failed to initialise");
out:
    sodium_memzero(key, sizeof key);
    sodium_memzero(text, sizeof text);
    close(fd);
    return rc;
}

int pseudonym_normalise(const char *staff, size_t len, char *out, size_t outlen)
{
    size_t a = 0, b = len;

    while (a < b && is_space(staff[a]))
        a++;
    while (b > a && is_space(staff[b - 1]))
        b--;
    if (b == a || b - a > PSEUDONYM_STAFF_MAX)
        return -EINVAL;
    if (outlen < b - a + 1)
        return -ENOSPC;
    for (size_t i = a; i < b; i++) {
        unsigned char c = (unsigned char)staff[i];
        if (c < 0x21 || c > 0x7e)
            return -EINVAL;
        out[i - a] = (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : (char)c;
    }
    out[b - a] = 0;
    return (int)(b - a);
}

int pseudonym_ref(const pseudonym_t *self, const char *staff_number, char *out, size_t outlen)
{
    crypto_auth_hmacsha256_state st;
    uint8_t mac[crypto_auth_hmacsha256_BYTES];
    char norm[PSEUDONYM_STAFF_MAX + 1];
    size_t o = sizeof PSEUDONYM_REF_PREFIX - 1;
    int n;

    if (outlen < PSEUDONYM_REF_LEN + 1)
        return -ENOSPC;
    if ((n = pseudonym_normalise(staff_number, strlen(staff_number), norm, sizeof norm)) < 0)
        return n;
    st = self->st;
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)norm, (unsigned long long)n);
    crypto_auth_hmacsha256_final(&st, mac);
    memcpy(out, PSEUDONYM_REF_PREFIX, o);
    /* base32: 20 bytes are 160 bits, exactly 32 digits of 5 bits */
    for (size_t bit = 0; bit < REF_BYTES * 8; bit += 5) {
        size_t i = bit / 8, sh = bit % 8;
        unsigned v = (unsigned)mac[i] << 8 | (i + 1 < REF_BYTES ? mac[i + 1] : 0);
        out[o++] = B32[(v >> (11 - sh)) & 31];
    }
    out[o] = 0;
    sodium_memzero(&st, sizeof st);
    sodium_memzero(norm, sizeof norm);
    return 0;
}

int pseudonym_is_ref(const char *s)
{
    const size_t pre = sizeof PSEUDONYM_REF_PREFIX - 1;

    if (strncmp(s, PSEUDONYM_REF_PREFIX, pre) != 0 || strlen(s) != PSEUDONYM_REF_LEN)
        return 0;
    for (size_t i = pre; i < PSEUDONYM_REF_LEN; i++)
        if (!strchr(B32, s[i]))
            return 0;
    return 1;
}

int pseudonym_keygen(const char *path, char *err, size_t errlen)
{
    uint8_t key[PSEUDONYM_KEY_BYTES];
    char hex[2 * PSEUDONYM_KEY_BYTES + 2], *dcopy = NULL;
    size_t len = 0;
    int fd = -1, dfd = -1, rc = 0;

    if (sodium_init() < 0) {
        snprintf(err, errlen, "libsodium failed to initialise");
        return -EIO;
    }
    if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0) {
        rc = -errno;
        snprintf(err, errlen, "cannot create %s: %s%s", path, strerror(-rc),
                 rc == -EEXIST ? " (a key is never overwritten)" : "");
        return rc;
    }
    randombytes_buf(key, sizeof key);
    sodium_bin2hex(hex, sizeof hex - 1, key, sizeof key);
    sodium_memzero(key, sizeof key);
    hex[2 * PSEUDONYM_KEY_BYTES] = '\n';
    while (len < 2 * PSEUDONYM_KEY_BYTES + 1) {
        ssize_t w = write(fd, hex + len, 2 * PSEUDONYM_KEY_BYTES + 1 - len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            rc = -errno;
            goto fail;
        }
        len += (size_t)w;
    }
    if (fchmod(fd, 0600) != 0 || fsync(fd) != 0) {
        rc = -errno;
        goto fail;
    }
    if (close(fd) != 0) {
        fd = -1;
        rc = -errno;
        goto fail;
    }
    fd = -1;
    /* make the new name durable too */
    if ((dcopy = strdup(path)) &&
        (dfd = open(dirname(dcopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
        fsync(dfd);
        close(dfd);
    }
    free(dcopy);
    sodium_memzero(hex, sizeof hex);
    return 0;

fail:
    snprintf(err, errlen, "cannot write %s: %s", path, strerror(-rc));
    if (fd >= 0)
        close(fd);
    unlink(path);
    sodium_memzero(hex, sizeof hex);
    return rc;
}
