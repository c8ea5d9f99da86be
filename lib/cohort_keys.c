/* cohort_keys.c: CURVE key files (see cohort_keys.h for the formats and
 * contracts). */
#include "cohort_keys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#define MAX_FILE 4096 /* a key file is about 150 bytes; bounds what we read */

int cohort_keys_decode(const char *z85, size_t len, uint8_t raw[32])
{
    char text[COHORT_KEY_Z85_LEN + 1], again[COHORT_KEY_Z85_LEN + 1];
    if (!z85 || len != COHORT_KEY_Z85_LEN)
        return -EINVAL;
    memcpy(text, z85, len);
    text[len] = '\0';
    if (strlen(text) != len || !zmq_z85_decode(raw, text) || !zmq_z85_encode(again, raw, 32) ||
        memcmp(again, text, len) != 0) {
        explicit_bzero(raw, 32);
        return -EINVAL;
    }
    return 0;
}

void cohort_keys_fingerprint(const char *z85, char out[COHORT_KEY_FP_LEN + 1])
{
    size_t n = strnlen(z85, COHORT_KEY_FP_LEN);
    memcpy(out, z85, n);
    out[n] = '\0';
}

/* Writes all of buf to fd. Returns 0 or a negative errno. */
static int write_all(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t w = write(fd, buf, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        buf += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Creates path (must not exist) with mode and contents text, synced.
 * Returns 0 or a negative errno; on failure the file is removed if we
 * created it. */
static int create_file(const char *path, mode_t mode, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode), rc;
    if (fd < 0)
        return -errno;
    /* Only ever narrower than mode (the umask may have narrowed it more). */
    rc = write_all(fd, text, strlen(text));
    if (rc == 0 && fsync(fd) != 0)
        rc = -errno;
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
    if (rc < 0)
        unlink(path);
    return rc;
}

int cohort_keys_generate(const char *name, char pub_out[COHORT_KEY_Z85_LEN + 1], char *err,
                         size_t errlen)
{
    char pub[COHORT_KEY_Z85_LEN + 1], sec[COHORT_KEY_Z85_LEN + 1];
    char keypath[4096], pubpath[4096], text[256];
    struct stat st;
    int rc;
    if (!name || !*name) {
        snprintf(err, errlen, "empty key name");
        return -EINVAL;
    }
    if ((size_t)snprintf(keypath, sizeof keypath, "%s.key", name) >= sizeof keypath ||
        (size_t)snprintf(pubpath, sizeof pubpath, "%s.pub", name) >= sizeof pubpath) {
        snprintf(err, errlen, "key name too long");
        return -ENAMETOOLONG;
    }
    /* Both are checked first so that neither is made when one exists; the
     * O_EXCL opens below close the race. */
    if (lstat(keypath, &st) == 0 || lstat(pubpath, &st) == 0) {
        snprintf(err, errlen, "%s exists; refusing to overwrite a key",
                 lstat(keypath, &st) == 0 ? keypath : pubpath);
        return -EEXIST;
    }
    if (zmq_curve_keypair(pub, sec) != 0) {
        rc = -errno;
        snprintf(err, errlen, "cannot make a CURVE keypair: %s", zmq_strerror(errno));
        return rc;
    }
    snprintf(text, sizeof text,
             "# cohortd CURVE secret key (Z85): keep it private\n"
             "public-key = %s\nsecret-key = %s\n",
             pub, sec);
    rc = create_file(keypath, 0600, text);
    explicit_bzero(text, sizeof text);
    explicit_bzero(sec, sizeof sec);
    if (rc < 0) {
        snprintf(err, errlen, "%s: %s", keypath, strerror(-rc));
        return rc;
    }
    snprintf(text, sizeof text, "# cohortd CURVE public key (Z85)\npublic-key = %s\n", pub);
    if ((rc = create_file(pubpath, 0644, text)) < 0) {
        snprintf(err, errlen, "%s: %s", pubpath, strerror(-rc));
        unlink(keypath);
        return rc;
    }
    if (pub_out)
        memcpy(pub_out, pub, sizeof pub);
    return 0;
}

/* Strips spaces and tabs from both ends of s[0..*len). Returns the start. */
static char *trim(char *s, size_t *len)
{
    while (*len && (*s == ' ' || *s == '\t'))
        s++, (*len)--;
    while (*len && (s[*len - 1] == ' ' || s[*len - 1] == '\t' || s[*len - 1] == '\r'))
        (*len)--;
    return s;
}

int cohort_keys_load(const char *path, char pub[COHORT_KEY_Z85_LEN + 1],
                     char sec[COHORT_KEY_Z85_LEN + 1], char *err, size_t errlen)
{
    char buf[MAX_FILE + 1], got_pub[COHORT_KEY_Z85_LEN + 1] = "",
                                                         got_sec[COHORT_KEY_Z85_LEN + 1] = "";
    char derived[COHORT_KEY_Z85_LEN + 1];
    uint8_t raw[32];
    struct stat st;
    ssize_t n;
    size_t len = 0;
    int fd, rc = -EINVAL, line = 0;
    memset(pub, 0, COHORT_KEY_Z85_LEN + 1);
    if (sec)
        memset(sec, 0, COHORT_KEY_Z85_LEN + 1);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0) {
        rc = -errno;
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return rc;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        close(fd);
        return -EINVAL;
    }
    while (len < sizeof buf && (n = read(fd, buf + len, sizeof buf - len)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            close(fd);
            goto out;
        }
        len += (size_t)n;
    }
    close(fd);
    if (len > MAX_FILE) {
        snprintf(err, errlen, "%s: larger than %d bytes: not a key file", path, MAX_FILE);
        goto out;
    }
    buf[len] = '\0';
    if (memchr(buf, '\0', len)) {
        snprintf(err, errlen, "%s: contains a NUL byte: not a key file", path);
        goto out;
    }
    for (char *p = buf, *nl; p < buf + len; p = nl + 1) {
        size_t ll, nlen, vlen;
        char *name, *eq, *val, *target;
        line++;
        if (!(nl = strchr(p, '\n')))
            nl = buf + len;
        ll = (size_t)(nl - p);
        p = trim(p, &ll);
        if (ll == 0 || p[0] == '#')
            continue;
        if (!(eq = memchr(p, '=', ll))) {
            snprintf(err, errlen, "%s:%d: expected 'public-key = KEY' or 'secret-key = KEY'", path,
                     line);
            goto out;
        }
        nlen = (size_t)(eq - p);
        name = trim(p, &nlen);
        vlen = ll - (size_t)(eq + 1 - p);
        val = trim(eq + 1, &vlen);
        if (nlen == 10 && memcmp(name, "public-key", 10) == 0)
            target = got_pub;
        else if (nlen == 10 && memcmp(name, "secret-key", 10) == 0)
            target = got_sec;
        else {
            snprintf(err, errlen, "%s:%d: unknown name '%.*s' (public-key or secret-key)", path,
                     line, (int)(nlen > 32 ? 32 : nlen), name);
            goto out;
        }
        if (*target) {
            snprintf(err, errlen, "%s:%d: %.10s given twice", path, line, name);
            goto out;
        }
        if (cohort_keys_decode(val, vlen, raw) < 0) {
            snprintf(err, errlen, "%s:%d: %.10s is not a 40-character Z85 key", path, line, name);
            goto out;
        }
        memcpy(target, val, COHORT_KEY_Z85_LEN);
        target[COHORT_KEY_Z85_LEN] = '\0';
    }
    if (sec) {
        if (!*got_sec) {
            snprintf(err, errlen, "%s: no secret-key line (is this a .pub file?)", path);
            goto out;
        }
        if (st.st_mode & 077) {
            snprintf(err, errlen,
                     "%s: holds a secret key but has mode %04o; it must not be readable by group "
                     "or others (chmod 600)",
                     path, (unsigned)(st.st_mode & 07777));
            rc = -EPERM;
            goto out;
        }
        if (zmq_curve_public(derived, got_sec) != 0) {
            snprintf(err, errlen, "%s: cannot derive the public key: %s", path,
                     zmq_strerror(errno));
            goto out;
        }
        if (*got_pub && strcmp(got_pub, derived) != 0) {
            snprintf(err, errlen, "%s: public-key does not match the secret key", path);
            goto out;
        }
        memcpy(pub, derived, sizeof derived);
        memcpy(sec, got_sec, sizeof got_sec);
    } else {
        if (!*got_pub && *got_sec) {
            if (zmq_curve_public(got_pub, got_sec) != 0) {
                snprintf(err, errlen, "%s: cannot derive the public key: %s", path,
                         zmq_strerror(errno));
                goto out;
            }
        }
        if (!*got_pub) {
            snprintf(err, errlen, "%s: no public-key line", path);
            goto out;
        }
        memcpy(pub, got_pub, sizeof got_pub);
    }
    rc = 0;
out:
    explicit_bzero(buf, sizeof buf);
    explicit_bzero(got_sec, sizeof got_sec);
    explicit_bzero(raw, sizeof raw);
    return rc;
}

/* ------------------------------------------------------- client keys --- */

/* The value of environment variable name, or NULL when unset or empty. */
static const char *env_path(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

int cohort_curve_from(cohort_curve_t *out, const char *key_path, const char *server_key_path,
                      int plaintext, char *err, size_t errlen)
{
    const char *env_plain = getenv("COHORT_PLAINTEXT");
    char msg[512];
    int rc;

    memset(out, 0, sizeof *out);
    if (key_path && !*key_path)
        key_path = NULL;
    if (server_key_path && !*server_key_path)
        server_key_path = NULL;
    if (plaintext) {
        if (key_path || server_key_path) {
            snprintf(err, errlen, "--plaintext cannot be combined with --key or --server-key");
            return -EINVAL;
        }
        return 0;
    }
    if (env_plain && *env_plain && strcmp(env_plain, "0") != 0 && strcmp(env_plain, "1") != 0) {
        snprintf(err, errlen, "COHORT_PLAINTEXT must be 1 (plain text) or 0, not '%.32s'",
                 env_plain);
        return -EINVAL;
    }
    if (!key_path && !server_key_path && env_plain && strcmp(env_plain, "1") == 0)
        return 0;
    if (!key_path)
        key_path = env_path("COHORT_KEY");
    if (!server_key_path)
        server_key_path = env_path("COHORT_SERVER_KEY");
    if (!key_path) {
        snprintf(err, errlen,
                 "no client key: give --key FILE (or COHORT_KEY); --plaintext only for a "
                 "development daemon");
        return -ENOKEY;
    }
    if (!server_key_path) {
        snprintf(err, errlen,
                 "no server key: give --server-key FILE (or COHORT_SERVER_KEY); --plaintext only "
                 "for a development daemon");
        return -ENOKEY;
    }
    if ((rc = cohort_keys_load(key_path, out->pub, out->sec, msg, sizeof msg)) < 0) {
        snprintf(err, errlen, "client key %s", msg);
        goto fail;
    }
    if ((rc = cohort_keys_load(server_key_path, out->server_pub, NULL, msg, sizeof msg)) < 0) {
        snprintf(err, errlen, "server key %s", msg);
        goto fail;
    }
    out->on = 1;
    explicit_bzero(msg, sizeof msg);
    return 0;
fail:
    explicit_bzero(msg, sizeof msg);
    cohort_curve_clear(out);
    return rc;
}

int cohort_curve_apply(void *zsock, const cohort_curve_t *c, char *err, size_t errlen)
{
    int rc;

    if (!c || !c->on)
        return 0;
    if (zmq_setsockopt(zsock, ZMQ_CURVE_SERVERKEY, c->server_pub, COHORT_KEY_Z85_LEN) != 0 ||
        zmq_setsockopt(zsock, ZMQ_CURVE_PUBLICKEY, c->pub, COHORT_KEY_Z85_LEN) != 0 ||
        zmq_setsockopt(zsock, ZMQ_CURVE_SECRETKEY, c->sec, COHORT_KEY_Z85_LEN) != 0) {
        rc = -errno;
        snprintf(err, errlen, "cannot set the CURVE keys on the socket: %s%s", zmq_strerror(-rc),
                 zmq_has("curve") ? "" : " (this libzmq has no CURVE support)");
        return rc;
    }
    return 0;
}

void cohort_curve_clear(cohort_curve_t *c)
{
    if (c)
        explicit_bzero(c, sizeof *c);
}
