/* web_users.c: the users file of cohort-web (see web_users.h): parsing,
 * password verification with libsodium's argon2id, adding a user. */
#include "web_users.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

_Static_assert(WEB_NAME_MAX == COHORT_SCOPE_AGENCY_MAX, "names are checked by cohort_id_ok");

#define LINE_MAX_BYTES 512 /* longest line: a name, a role, an agency and a hash fit easily */

typedef struct {
    web_user_t u;                      /* the user */
    char hash[crypto_pwhash_STRBYTES]; /* its hash, NUL-ended */
} entry_t;

struct web_users_t {
    pthread_mutex_t mu;                 /* guards e and n (web_users_reload swaps them) */
    entry_t *e;                         /* the users, in file order */
    size_t n;                           /* how many */
    char dummy[crypto_pwhash_STRBYTES]; /* a hash checked for unknown names (same cost) */
};

/* Checks role and agency for a user; 0 or -1 with why. */
static int role_ok(const char *role, const char *agency, cohort_role_t *out, const char **why)
{
    if (cohort_role_parse(role, strlen(role), out) < 0 ||
        (*out != COHORT_ROLE_BOARD && *out != COHORT_ROLE_COORDINATOR &&
         *out != COHORT_ROLE_AGENCY_HR && *out != COHORT_ROLE_OPERATOR)) {
        *why = "the role must be board, coordinator, agency-hr or operator";
        return -1;
    }
    if (*agency && !cohort_id_ok(agency, strlen(agency))) {
        *why = "an agency is 1-64 characters of a-z 0-9 . - _";
        return -1;
    }
    if (*out == COHORT_ROLE_AGENCY_HR && !*agency) {
        *why = "role agency-hr needs an agency";
        return -1;
    }
    if ((*out == COHORT_ROLE_BOARD || *out == COHORT_ROLE_OPERATOR) && *agency) {
        *why = "this role takes no agency";
        return -1;
    }
    return 0;
}

/* Parses text (NUL-ended) into self; 0 or -EINVAL with "PATH:LINE: why". */
static int parse(web_users_t *self, const char *path, char *text, char *err, size_t errlen)
{
    size_t lineno = 0;
    for (char *line = text, *next; line && *line; line = next) {
        lineno++;
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        size_t ll = strlen(line);
        if (ll && line[ll - 1] == '\r')
            line[--ll] = '\0';
        if (ll > LINE_MAX_BYTES) {
            snprintf(err, errlen, "%s:%zu: line longer than %d bytes", path, lineno,
                     LINE_MAX_BYTES);
            return -EINVAL;
        }
        char *f[5];
        size_t nf = 0;
        for (char *save = NULL, *t = strtok_r(line, " \t", &save); t;
             t = strtok_r(NULL, " \t", &save)) {
            if (*t == '#')
                break;
            if (nf == 4) {
                snprintf(err, errlen, "%s:%zu: too many fields", path, lineno);
                return -EINVAL;
            }
            f[nf++] = t;
        }
        if (nf == 0)
            continue;
        if (nf < 3) {
            snprintf(err, errlen, "%s:%zu: expected NAME ROLE [AGENCY] HASH", path, lineno);
            return -EINVAL;
        }
        const char *hash = f[nf - 1], *agency = nf == 4 ? f[2] : "", *why = NULL;
        entry_t e;
        memset(&e, 0, sizeof e);
        if (!cohort_id_ok(f[0], strlen(f[0]))) {
            snprintf(err, errlen, "%s:%zu: a name is 1-64 characters of a-z 0-9 . - _", path,
                     lineno);
            return -EINVAL;
        }
        if (role_ok(f[1], agency, &e.u.role, &why) < 0) {
            snprintf(err, errlen, "%s:%zu: %s", path, lineno, why);
            return -EINVAL;
        }
        if (strncmp(hash, "$argon2id$", 10) != 0 || strlen(hash) >= sizeof e.hash) {
            snprintf(err, errlen, "%s:%zu: the last field is not an argon2id hash", path, lineno);
            return -EINVAL;
        }
        for (size_t i = 0; i < self->n; i++)
            if (strcmp(self->e[i].u.name, f[0]) == 0) {
                snprintf(err, errlen, "%s:%zu: user '%s' listed twice", path, lineno, f[0]);
                return -EINVAL;
            }
        if (self->n == WEB_USERS_MAX) {
            snprintf(err, errlen, "%s:%zu: more than %d users", path, lineno, WEB_USERS_MAX);
            return -EINVAL;
        }
        snprintf(e.u.name, sizeof e.u.name, "%s", f[0]);
        snprintf(e.u.agency, sizeof e.u.agency, "%s", agency);
        snprintf(e.hash, sizeof e.hash, "%s", hash);
        entry_t *ne = realloc(self->e, (self->n + 1) * sizeof *ne);
        if (!ne) {
            snprintf(err, errlen, "%s: out of memory", path);
            return -ENOMEM;
        }
        self->e = ne;
        self->e[self->n++] = e;
    }
    return 0;
}

/* Reads path whole (a regular file of at most 4 MiB, mode without group or
 * world bits) into *out (NUL-ended, malloc'd). */
static int slurp(const char *path, char **out, char *err, size_t errlen)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 || fstat(fd, &st) != 0) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        if (fd >= 0)
            close(fd);
        return -e;
    }
    if (!S_ISREG(st.st_mode) || (st.st_mode & 077)) {
        snprintf(err, errlen,
                 "%s: %s (mode %04o); refusing it: the users file must be mode 0600 (chmod 600)",
                 path, S_ISREG(st.st_mode) ? "group or others may access it" : "not a regular file",
                 (unsigned)(st.st_mode & 07777));
        close(fd);
        return -EPERM;
    }
    if (st.st_size > (4 << 20)) {
        snprintf(err, errlen, "%s: larger than 4 MiB", path);
        close(fd);
        return -EFBIG;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (buf && got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (!buf) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -ENOMEM;
    }
    buf[got] = '\0';
    if (strlen(buf) != got) {
        snprintf(err, errlen, "%s: contains a NUL byte", path);
        free(buf);
        return -EINVAL;
    }
    *out = buf;
    return 0;
}

int web_users_load(web_users_t **out, const char *path, char *err, size_t errlen)
{
    char *text = NULL;
    *out = NULL;
    if (sodium_init() < 0) {
        snprintf(err, errlen, "libsodium failed to initialise");
        return -EIO;
    }
    int rc = slurp(path, &text, err, errlen);
    if (rc < 0)
        return rc;
    web_users_t *self = calloc(1, sizeof *self);
    if (!self) {
        free(text);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    pthread_mutex_init(&self->mu, NULL);
    rc = parse(self, path, text, err, errlen);
    free(text);
    if (rc == 0) {
        unsigned char pw[16];
        randombytes_buf(pw, sizeof pw);
        if (crypto_pwhash_str(self->dummy, (const char *)pw, sizeof pw,
                              crypto_pwhash_OPSLIMIT_INTERACTIVE,
                              crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
            snprintf(err, errlen, "out of memory hashing");
            rc = -ENOMEM;
        }
    }
    if (rc < 0) {
        web_users_destroy(&self);
        return rc;
    }
    *out = self;
    return 0;
}

void web_users_destroy(web_users_t **self_p)
{
    web_users_t *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    *self_p = NULL;
    if (self->e)
        sodium_memzero(self->e, self->n * sizeof *self->e);
    free(self->e);
    pthread_mutex_destroy(&self->mu);
    free(self);
}

size_t web_users_count(web_users_t *self)
{
    pthread_mutex_lock(&self->mu);
    size_t n = self->n;
    pthread_mutex_unlock(&self->mu);
    return n;
}

int web_users_reload(web_users_t *self, const char *path, char *err, size_t errlen)
{
    web_users_t *fresh = NULL;
    int rc = web_users_load(&fresh, path, err, errlen);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&self->mu);
    entry_t *old = self->e;
    size_t oldn = self->n;
    self->e = fresh->e;
    self->n = fresh->n;
    pthread_mutex_unlock(&self->mu);
    fresh->e = old;
    fresh->n = oldn;
    web_users_destroy(&fresh);
    return (int)web_users_count(self);
}

int web_users_has(web_users_t *self, const web_user_t *u)
{
    int found = 0;
    pthread_mutex_lock(&self->mu);
    for (size_t i = 0; i < self->n && !found; i++)
        found = strcmp(self->e[i].u.name, u->name) == 0 && self->e[i].u.role == u->role &&
                strcmp(self->e[i].u.agency, u->agency) == 0;
    pthread_mutex_unlock(&self->mu);
    return found;
}

int web_users_verify(web_users_t *self, const char *name, const char *password, web_user_t *out)
{
    entry_t e; /* a copy: the check runs off the lock (it is slow on purpose) */
    int found = 0;
    size_t pl = strlen(password);
    pthread_mutex_lock(&self->mu);
    for (size_t i = 0; i < self->n && name; i++)
        if (strcmp(self->e[i].u.name, name) == 0) {
            e = self->e[i];
            found = 1;
        }
    pthread_mutex_unlock(&self->mu);
    if (pl > WEB_PASSWORD_MAX) {
        if (found)
            sodium_memzero(&e, sizeof e);
        return -EACCES;
    }
    int rc = crypto_pwhash_str_verify(found ? e.hash : self->dummy, password, pl);
    if (found && rc == 0)
        *out = e.u;
    if (found)
        sodium_memzero(&e, sizeof e);
    return found && rc == 0 ? 0 : -EACCES;
}

int web_users_add(const char *path, const char *name, const char *role, const char *agency,
                  const char *password, char *err, size_t errlen)
{
    const char *why = NULL;
    cohort_role_t r;
    char hash[crypto_pwhash_STRBYTES], tmp[4096];
    char *text = NULL;
    agency = agency ? agency : "";
    if (sodium_init() < 0) {
        snprintf(err, errlen, "libsodium failed to initialise");
        return -EIO;
    }
    if (!cohort_id_ok(name, strlen(name))) {
        snprintf(err, errlen, "a name is 1-64 characters of a-z 0-9 . - _");
        return -EINVAL;
    }
    if (role_ok(role, agency, &r, &why) < 0) {
        snprintf(err, errlen, "%s", why);
        return -EINVAL;
    }
    size_t pl = strlen(password);
    if (pl < WEB_PASSWORD_MIN || pl > WEB_PASSWORD_MAX) {
        snprintf(err, errlen, "the password must be %d to %d characters", WEB_PASSWORD_MIN,
                 WEB_PASSWORD_MAX);
        return -EINVAL;
    }
    int rc = slurp(path, &text, err, errlen);
    if (rc == -ENOENT) {
        text = strdup("");
        rc = text ? 0 : -ENOMEM;
    }
    if (rc < 0)
        return rc;
    web_users_t check = {0};
    char *copy = strdup(text);
    rc = copy ? parse(&check, path, copy, err, errlen) : -ENOMEM;
    free(copy);
    for (size_t i = 0; rc == 0 && i < check.n; i++)
        if (strcmp(check.e[i].u.name, name) == 0) {
            snprintf(err, errlen, "%s: user '%s' already exists", path, name);
            rc = -EEXIST;
        }
    free(check.e);
    if (rc == 0 && crypto_pwhash_str(hash, password, pl, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                                     crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
        snprintf(err, errlen, "out of memory hashing the password");
        rc = -ENOMEM;
    }
    if (rc < 0) {
        free(text);
        return rc;
    }
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        rc = -errno;
        snprintf(err, errlen, "%s: %s", tmp, strerror(-rc));
        if (fd >= 0)
            close(fd);
        free(text);
        return rc;
    }
    size_t tl = strlen(text);
    fputs(text, f);
    if (tl && text[tl - 1] != '\n')
        fputc('\n', f);
    fprintf(f, "%s %s%s%s %s\n", name, cohort_role_name(r), *agency ? " " : "", agency, hash);
    free(text);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
        rc = -errno;
        fclose(f);
        unlink(tmp);
        snprintf(err, errlen, "%s: %s", tmp, strerror(-rc));
        return rc;
    }
    fclose(f);
    if (rename(tmp, path) != 0) {
        rc = -errno;
        unlink(tmp);
        snprintf(err, errlen, "%s: %s", path, strerror(-rc));
        return rc;
    }
    return 0;
}
