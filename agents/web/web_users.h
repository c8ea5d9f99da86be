/* web_users.h: cohort-web's users file, one user a line:
 *
 *   # comment
 *   <name> <role> [<agency>] <$argon2id$... hash>
 *
 * name: 1-64 characters of a-z 0-9 . - _ ; role: board, coordinator,
 * agency-hr or operator (the access file's roles that read status; a user
 * gets exactly the read scope of a CURVE key with that role and agency,
 * lib/cohort_scope.h); agency: required for agency-hr, optional for
 * coordinator, not allowed otherwise, same characters as a name; hash:
 * libsodium's crypto_pwhash_str (argon2id). The file must be a regular file
 * neither group- nor world-readable or -writable (mode 0600 or stricter);
 * any error refuses the whole file with "PATH:LINE: why". Passwords are
 * never stored, logged or kept after use. */
#ifndef WEB_USERS_H
#define WEB_USERS_H
#include <stddef.h>

#include "cohort_scope.h"

#define WEB_NAME_MAX 64       /* longest user name */
#define WEB_PASSWORD_MIN 10   /* shortest password adduser accepts */
#define WEB_PASSWORD_MAX 1024 /* longest password accepted anywhere */
#define WEB_USERS_MAX 10000   /* most users in a file */

/* One user, without the password hash. */
typedef struct {
    char name[WEB_NAME_MAX + 1];              /* the login name */
    cohort_role_t role;                       /* the role it reads as */
    char agency[COHORT_SCOPE_AGENCY_MAX + 1]; /* its agency, "" for none */
} web_user_t;

typedef struct web_users_t web_users_t;

/* Loads path. Returns 0 and *out, or a negative errno with "PATH:LINE: why"
 * or "PATH: why" in err (-EPERM for a file others may read). */
int web_users_load(web_users_t **out, const char *path, char *err, size_t errlen);

/* Frees the table and nulls *self_p. NULL is fine. */
void web_users_destroy(web_users_t **self_p);

/* Number of users. Thread-safe, as every call below but web_users_add. */
size_t web_users_count(web_users_t *self);

/* Reads path again and, if it is good, replaces the users with it (in
 * one step: a login sees the old table or the new one). Returns the new
 * number of users, or a negative errno with the reason in err; then the
 * old users stay. Sessions are not touched: see web_sessions_retain. */
int web_users_reload(web_users_t *self, const char *path, char *err, size_t errlen);

/* 1 if a user with u's name, role and agency is in the table, else 0. */
int web_users_has(web_users_t *self, const web_user_t *u);

/* Checks name and password (NUL-ended). Returns 0 and *out, or -EACCES for
 * an unknown name or a wrong password alike (an unknown name still costs a
 * hash verification, so the time does not tell which). Slow on purpose
 * (argon2id, interactive limits): call it off any shared lock. */
int web_users_verify(web_users_t *self, const char *name, const char *password, web_user_t *out);

/* Adds a user to path (made 0600 if missing): checks the fields, refuses a
 * name already there, hashes password, and replaces the file atomically
 * (a temporary file in the same directory, fsync, rename). Returns 0, or a
 * negative errno with a message in err. */
int web_users_add(const char *path, const char *name, const char *role, const char *agency,
                  const char *password, char *err, size_t errlen);

#endif
