/* web_session.h: cohort-web's login sessions and login rate limits.
 *
 * A session is made at a successful login and named by 256 random bits
 * (randombytes_buf), sent as the cookie
 *   __Host-cohort=<64 hex digits>; Secure; HttpOnly; SameSite=Strict; Path=/
 * It carries the user (name, role, agency), a CSRF token of 256 random bits
 * that every POST must carry (checked in constant time), and the time of
 * its last use: unused for idle_s seconds, it is gone (an open page's event
 * stream looks its session up every second, so an open page counts as
 * use). Logout ends it.
 *
 * Rate limit: at most WEB_LOGIN_FAILS failed logins per user name and,
 * separately, per client address within WEB_LOGIN_WINDOW_S seconds; past
 * that, logins for that name or from that address are refused (without
 * checking the password) until the window since the first failure ends.
 * A successful login clears its name's count (not its address's).
 *
 * Bounded: at most max sessions (the oldest-used one is dropped to make
 * room) and WEB_RATE_SLOTS rate entries (the oldest is reused).
 * Thread-safe: every function takes the table's mutex. */
#ifndef WEB_SESSION_H
#define WEB_SESSION_H
#include <stddef.h>
#include <time.h>

#include "web_users.h"

#define WEB_SESSION_ID_HEX 64           /* hex digits of a session id or CSRF token */
#define WEB_COOKIE_NAME "__Host-cohort" /* the session cookie's name */
#define WEB_LOGIN_FAILS 5               /* failed logins allowed per window */
#define WEB_LOGIN_WINDOW_S 900          /* the window, seconds */
#define WEB_RATE_SLOTS 4096             /* rate-limit entries kept */

/* What a page needs to know about its session (a copy). */
typedef struct {
    web_user_t user;                   /* who is logged in */
    char csrf[WEB_SESSION_ID_HEX + 1]; /* the CSRF token its forms carry */
} web_session_t;

typedef struct web_sessions_t web_sessions_t;

/* A table of at most max sessions (>= 1) that expire after idle_s
 * seconds without use (>= 1). NULL on ENOMEM or EINVAL. */
web_sessions_t *web_sessions_new(size_t max, unsigned idle_s);

/* Frees it (ids and tokens wiped) and nulls *self_p. NULL is fine. */
void web_sessions_destroy(web_sessions_t **self_p);

/* Makes a session for user at now; writes its id (64 hex digits and a NUL)
 * into id and its copy into *out. Returns 0. */
int web_session_create(web_sessions_t *self, const web_user_t *user, time_t now,
                       char id[WEB_SESSION_ID_HEX + 1], web_session_t *out);

/* Looks id (the cookie's value, any string) up at now: 0 and *out (the
 * session's last use becomes now) if it names a live session; -ENOENT if
 * not (unknown, malformed, or idle too long: then it is removed). */
int web_session_find(web_sessions_t *self, const char *id, time_t now, web_session_t *out);

/* Ends the session id names (nothing if none). */
void web_session_end(web_sessions_t *self, const char *id);

/* 1 if token (any string, NULL too) equals the session's CSRF token, in
 * constant time; else 0. */
int web_session_csrf_ok(const web_session_t *s, const char *token);

/* Ends every session whose user keep(arg, user) refuses (returns 0); keep
 * runs under the table's mutex and must not call back into it. Returns
 * how many ended. (After a users file reload: users removed or changed.) */
size_t web_sessions_retain(web_sessions_t *self, int (*keep)(void *arg, const web_user_t *u),
                           void *arg);

/* Number of live sessions (expired ones not yet removed included). */
size_t web_session_count(web_sessions_t *self);

/* May a login for user from addr be tried at now? 0, or -EAGAIN when
 * either is over its limit. */
int web_login_allowed(web_sessions_t *self, const char *user, const char *addr, time_t now);

/* Records the outcome of a login tried for user from addr: a failure
 * counts against both; a success clears the user's count. */
void web_login_result(web_sessions_t *self, const char *user, const char *addr, int success,
                      time_t now);

/* Writes 256 random bits as 64 hex digits and a NUL into out. */
void web_random_hex(char out[WEB_SESSION_ID_HEX + 1]);

#endif
