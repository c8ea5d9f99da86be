/* web_http.h: cohort-web's HTTPS server (libmicrohttpd with TLS through
 * GnuTLS, one thread per connection) and its routes:
 *
 *   GET  /login          the login form (sets a login CSRF cookie)
 *   POST /login          user, password, csrf: a session cookie and 303 to /;
 *                        401 wrong name or password, 429 rate-limited,
 *                        403 CSRF token missing or wrong
 *   POST /logout         csrf: ends the session; 403 without the token
 *   GET  /               the documents in the user's scope
 *   GET  /programme/ID, /cohort/PROG/COHORT, /agency/AGENCY/PROG/COHORT
 *                        one document's page; 404 when it is not in the
 *                        user's scope or not held (alike: an id's existence
 *                        is never confirmed)
 *   GET  /glossary       the terms
 *   GET  /events         Server-Sent Events: "update" events whose data is a
 *                        topic in the user's scope that changed; comments
 *                        as keep-alives every 15 s; ends with the session
 *   GET  /reports        the dated board reports in the user's scope (web_report.h)
 *   GET  /reports/PROG/YYYY-MM-DD/FILE  one of them (programme.html|pdf,
 *                        cohort-C.html|pdf, report.css), strictly parsed;
 *                        404 unless the user may read programme/PROG
 *                        (cohort/PROG/C for cohort-C.*)
 *   GET  /report/programme/PROG, /report/cohort/PROG/COHORT  the current
 *                        report, rendered on request (to print); 404 out of scope
 *   GET  /static/cohort-web.css, /static/cohort-web.js, /static/cohort-report.css
 * Without a session, pages redirect (303) to /login, /events answers 401
 * and a POST 403. Every response carries the Content-Security-Policy
 * (WEB_CSP), Strict-Transport-Security, X-Content-Type-Options nosniff,
 * Referrer-Policy no-referrer and X-Frame-Options DENY; pages and /events
 * Cache-Control no-store. Password checks run one at a time (each argon2id
 * verification takes 64 MiB), which bounds memory whatever the number of
 * connections. Nothing personal is logged: a line per login
 * (user name, outcome, client address) and per refusal. */
#ifndef WEB_HTTP_H
#define WEB_HTTP_H
#include <stddef.h>

#include "web_feed.h"
#include "web_session.h"
#include "web_users.h"

#define WEB_CSP                                                                                    \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "              \
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"

/* What the server serves from (all borrowed; they must outlive it). */
typedef struct {
    const char *listen;       /* "HOST:PORT" (lib/cohort_addr.h): IPv4, [IPv6] or localhost */
    const char *cert_file;    /* PEM certificate (chain) */
    const char *key_file;     /* its PEM private key */
    web_users_t *users;       /* who may log in */
    web_sessions_t *sessions; /* sessions and rate limits */
    web_feed_t *feed;         /* the documents */
    unsigned max_connections; /* most connections at once */
    const char *report_dir;   /* the board reports' archive, or NULL: none */
} web_http_opts_t;

typedef struct web_http_t web_http_t;

/* Reads the certificate and key and starts listening. Returns the server,
 * or NULL with a message in err. */
web_http_t *web_http_new(const web_http_opts_t *opts, char *err, size_t errlen);

/* Stops the server (call web_feed_shutdown first so that open event
 * streams end) and nulls *self_p. NULL is fine. */
void web_http_destroy(web_http_t **self_p);

/* The port it listens on (useful with port 0). */
unsigned web_http_port(const web_http_t *self);

#endif
