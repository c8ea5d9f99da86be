/* cohort_scope.h: the roles of the access file and which status topics each
 * may read: the one rule shared by the daemon (daemon/auth.c, which enforces
 * it on the publish and snapshot sockets) and cohort-web (agents/web/, which
 * applies it to each logged-in user), so that a user sees exactly what a
 * CURVE key with the same role and agency would.
 *
 * Read scope (a topic may be read iff it starts with one of the prefixes):
 *   board, coordinator  "programme/", "cohort/", "release/", "system"
 *   agency-hr           "agency/<its agency>/", "system"
 *   web                 "programme/", "cohort/", "release/", "agency/", "system"
 *                       (every status topic; cohort-web's own key)
 *   operator, dev       "" (everything)
 *   agent               nothing
 * Pure functions, no state: any thread. */
#ifndef COHORT_SCOPE_H
#define COHORT_SCOPE_H
#include <stddef.h>

#define COHORT_SCOPE_AGENCY_MAX 64 /* longest agency id */
#define COHORT_SCOPE_MAX 5         /* most topic prefixes a role may read */
#define COHORT_SCOPE_PREFIX_MAX (COHORT_SCOPE_AGENCY_MAX + 9) /* "agency/" + agency + "/" + NUL */

/* Roles. COHORT_ROLE_DEV exists only in the daemon's plaintext development
 * mode and has no name in the access file. */
typedef enum {
    COHORT_ROLE_AGENT = 1,
    COHORT_ROLE_COORDINATOR,
    COHORT_ROLE_BOARD,
    COHORT_ROLE_AGENCY_HR,
    COHORT_ROLE_OPERATOR,
    COHORT_ROLE_DEV,
    COHORT_ROLE_WEB,
} cohort_role_t;

/* A topic prefix a role may read. */
typedef struct {
    char p[COHORT_SCOPE_PREFIX_MAX]; /* the prefix, NUL-ended */
    size_t len;                      /* its length */
} cohort_prefix_t;

/* The role's name in the access file ("agent", "board", ..., "web"; "dev"
 * for COHORT_ROLE_DEV; "?" for anything else). Static. */
const char *cohort_role_name(cohort_role_t role);

/* Parses an access-file role name (len bytes at s, not NUL-ended). Returns
 * 0 and *out, or -1 if s is not one of the names (dev is not accepted). */
int cohort_role_parse(const char *s, size_t len, cohort_role_t *out);

/* The status topic prefixes a key or user of role (with agency, "" or NULL
 * when the role has none) may read; returns how many (0..COHORT_SCOPE_MAX).
 * agency-hr without an agency gets only "system" (never "agency//"). */
size_t cohort_scope_prefixes(cohort_role_t role, const char *agency,
                             cohort_prefix_t out[COHORT_SCOPE_MAX]);

/* 1 if s[0..len) is an id as agencies and cohort-web's user names are:
 * 1-COHORT_SCOPE_AGENCY_MAX characters of a-z 0-9 . - _ ; else 0. */
int cohort_id_ok(const char *s, size_t len);

/* 1 if role (with agency) may read topic (NUL-ended), else 0. */
int cohort_scope_may_read(cohort_role_t role, const char *agency, const char *topic);

#endif
