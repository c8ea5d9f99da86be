/* auth.h: CURVE client authentication for the daemon's sockets: a ZAP
 * handler (ZeroMQ RFC 27) on inproc://zeromq.zap.01 that maps each client's
 * public key to a role and an agency through the access file.
 *
 * Access file (one key a line; UTF-8 text, at most 1 MiB, lines at most
 * 1024 bytes):
 *
 *   # comment
 *   <public key, 40 Z85 characters>  <role>  [<agency>]  [programmes=<list>]   # comment
 *
 *   role       agency      may (enforced by the sockets that use auth_check)
 *   agent      required    submit events for its own agency
 *   coordinator optional   send the definitions of the programmes it owns
 *   board      not allowed read the cohort/ and programme/ topics; send the
 *                          definitions of the programmes it owns
 *   agency-hr  required    read its own agency's topics
 *   operator   not allowed use cohortctl on the control endpoint; read every topic
 *   web        not allowed read every status topic (programme/, cohort/, release/,
 *                          agency/, system) and nothing else: no events, no
 *                          definitions, no control endpoint. For cohort-web's
 *                          own key, which applies each user's scope itself.
 *
 * Ownership: programmes=<list> (coordinator and board lines only; last
 * field) names the programmes whose definitions (ProgrammeDefined, and
 * CohortOpened of any of their cohorts) the key may send: programme ids
 * separated by single commas ("programmes=step-forward,lip"), or "*" for
 * every programme, including ones not defined yet. A coordinator or board
 * key without it owns nothing and may send no definition at all, a new
 * programme's first one included (auth_may_define). Ownership is checked
 * when an event is written, so the stored log needs no key to replay.
 *
 * Fields are separated by spaces or tabs. A field starting with '#' starts
 * a comment that runs to the end of the line (no Z85 key starts with '#',
 * though '#' may occur inside one). A trailing '\r'
 * is ignored. An agency is 1-64 characters of a-z 0-9 . - _ (as in events).
 * A key may appear once. Any error makes the whole file refused with
 * "PATH:LINE: why". The file must be a regular file that is not
 * world-writable. An empty file is valid (every key is refused).
 *
 * User id: a connection accepted through ZAP carries the ZMTP User-Id
 *   "<role>:<agency>:<Z85 public key>"   e.g. "agent:wm-police:rq:rM>}..."
 * with an empty agency for roles without one ("board::<key>"). Role and
 * agency contain no ':', so the key is everything after the second ':'.
 * Read it per message with zmq_msg_gets(msg, "User-Id") and pass it to
 * auth_check, which checks it against the CURRENT table.
 *
 * Refusals: the ZAP reply is 400 and one line is logged,
 *   <4>auth: refused key <fingerprint> (<reason>) from <address>
 * at most once a minute per key (a refused client retries every 100 ms);
 * the next line for that key ends "(and N times since the last line)".
 * fingerprint = the first 8 Z85 characters of the public key ("-" when the
 * mechanism has no key), address = the peer address as libzmq gives it to
 * ZAP (the IP address for tcp://; "localhost:UID:GID:PID" of the peer
 * process for ipc:// on Linux; "local" when empty). Accepted keys are logged at info.
 * No other client data is logged (PLAIN user names and passwords never).
 *
 * Mechanisms: CURVE is checked against the table. NULL and PLAIN are
 * refused, unless plaintext development mode is on (auth_set_plaintext_dev),
 * where they are accepted with user id "dev::" (role AUTH_ROLE_DEV, meant to
 * be treated as "everything allowed"): for tests and demos on loopback only.
 *
 * Reload: auth_reload re-reads the file (on SIGHUP, wired by the caller);
 * the new table replaces the old one only if the whole file is valid.
 * New handshakes use the new table at once. libzmq never re-authenticates a
 * connection that is already up: a revoked key's open connection keeps
 * delivering messages, so every message must be checked with auth_check,
 * which fails at once for a revoked key or a changed role or agency.
 *
 * Fail closed: libzmq only asks ZAP while a handler is bound, and without
 * ZMQ_ZAP_ENFORCE_DOMAIN it LETS IN any CURVE client when none is. So:
 * create the auth object before binding any CURVE socket, destroy it only
 * after they are closed, and set the sockets up with auth_curve_server,
 * which turns enforcement on (a handshake without a handler then fails).
 *
 * Threads: loop thread only (the handler runs on the loop through zbridge;
 * libzmq's I/O threads wait for its answers, so a handshake takes as long as
 * the loop needs to get to it, up to the socket's ZMQ_HANDSHAKE_IVL). */
#ifndef COHORT_AUTH_H
#define COHORT_AUTH_H
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "cohort_keys.h"
#include "cohort_scope.h"

#define AUTH_ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define AUTH_ZAP_DOMAIN "cohortd"               /* ZMQ_ZAP_DOMAIN set by auth_curve_server */
#define AUTH_AGENCY_MAX COHORT_SCOPE_AGENCY_MAX /* longest agency id */
#define AUTH_USER_ID_MAX 128                    /* longest user id, with its NUL */
#define AUTH_MAX_FILE (1 << 20)                 /* largest access file */
#define AUTH_MAX_LINE 1024                      /* longest access-file line */

typedef struct auth_t auth_t;

/* Roles: lib/cohort_scope.h's, under the daemon's names. AUTH_ROLE_DEV only
 * exists in plaintext development mode. */
typedef cohort_role_t auth_role_t;
#define AUTH_ROLE_AGENT COHORT_ROLE_AGENT
#define AUTH_ROLE_COORDINATOR COHORT_ROLE_COORDINATOR
#define AUTH_ROLE_BOARD COHORT_ROLE_BOARD
#define AUTH_ROLE_AGENCY_HR COHORT_ROLE_AGENCY_HR
#define AUTH_ROLE_OPERATOR COHORT_ROLE_OPERATOR
#define AUTH_ROLE_DEV COHORT_ROLE_DEV
#define AUTH_ROLE_WEB COHORT_ROLE_WEB

/* Who a key belongs to. */
typedef struct {
    auth_role_t role;                        /* the key's role */
    char agency[AUTH_AGENCY_MAX + 1];        /* its agency, "" for roles without one */
    char key[COHORT_KEY_Z85_LEN + 1];        /* the public key (Z85); "" for AUTH_ROLE_DEV */
    char programmes[AUTH_MAX_LINE];          /* programmes= list ("a,b" or "*"); "" = owns none */
    char fingerprint[COHORT_KEY_FP_LEN + 1]; /* its first 8 characters, for log lines */
} auth_identity_t;

/* Counters, monotonic since auth_new. */
typedef struct {
    uint64_t requests; /* ZAP requests answered */
    uint64_t accepted; /* answered 200 */
    uint64_t refused;  /* answered 400 (unknown key, mechanism not allowed) */
    uint64_t errors;   /* malformed requests (answered 500, or dropped) */
    uint64_t reloads;  /* successful auth_reload calls */
} auth_stats_t;

/* Loads access_file (NULL: an empty table) and binds the ZAP handler in
 * zctx, served on loop. Returns 0 and *out, or a negative errno with a
 * message in err ("PATH:LINE: why" for a bad file; EADDRINUSE if the
 * context already has a ZAP handler). Nothing is left open on failure. */
int auth_new(auth_t **out, uv_loop_t *loop, void *zctx, const char *access_file, char *err,
             size_t errlen);

/* fn(arg) runs before every ZAP answer (NULL: nothing). The daemon uses it
 * to apply the connection limits (zmonitor_limit) to every connection
 * accepted so far, so that a connection closed by them is closed before
 * its handshake can succeed. */
void auth_set_before_answer(auth_t *self, void (*fn)(void *arg), void *arg);

/* Turns plaintext development mode on (1) or off (0); see above. Logged. */
void auth_set_plaintext_dev(auth_t *self, int on);

/* Re-reads the access file. On success the new table is in use for every
 * later handshake and auth_check, and 0 is returned (the key count is
 * logged); if revoked is not NULL it is set to the number of keys of the
 * old table that are gone or whose role or agency changed (connections
 * made with them must be dropped). On any error the old table stays in use
 * and a negative errno is returned with "PATH:LINE: why" (or "PATH: why")
 * in err. */
int auth_reload(auth_t *self, size_t *revoked, char *err, size_t errlen);

/* ---- authorisation (pure functions of an identity; any thread) ---- */

/* May id submit an event whose agency field is agency? definition is 1 for
 * programme and cohort definitions (ProgrammeDefined, CohortOpened), 0 for
 * every other event. Rules: agent: non-definitions of its own agency only;
 * coordinator: definitions only, of its own agency if the key has one;
 * board: definitions only, any agency field; agency-hr, operator: nothing;
 * dev: everything. Returns 0, or -EACCES with a static reason in *why. */
int auth_may_submit(const auth_identity_t *id, const char *agency, int definition,
                    const char **why);

/* May id send a definition (ProgrammeDefined, CohortOpened) of programme?
 * Only if the key owns it (programmes= lists it, or is "*"); dev: always;
 * any other role: never. Checked in addition to auth_may_submit. Returns 0,
 * or -EACCES with a static reason in *why. */
int auth_may_define(const auth_identity_t *id, const char *programme, const char **why);

#define AUTH_READ_MAX COHORT_SCOPE_MAX          /* most topic prefixes a role may read */
#define AUTH_PREFIX_MAX COHORT_SCOPE_PREFIX_MAX /* "agency/" + agency + "/" + NUL */

/* A topic prefix a role may read. */
typedef cohort_prefix_t auth_prefix_t;

/* The status topic prefixes id may read; returns how many (0..AUTH_READ_MAX).
 * The rule is lib/cohort_scope.c's (cohort_scope_prefixes), shared with
 * cohort-web: board and coordinator: "programme/", "cohort/", "release/",
 * "system"; agency-hr: "agency/<its agency>/", "system"; web: "programme/",
 * "cohort/", "release/", "agency/", "system"; operator and dev: ""
 * (everything: an operator can read the store anyway); agent: none. A topic
 * may be read iff it starts with one of them. */
size_t auth_read_prefixes(const auth_identity_t *id, auth_prefix_t out[AUTH_READ_MAX]);

/* 1 if id may read topic (NUL-ended), else 0. */
int auth_may_read(const auth_identity_t *id, const char *topic);

/* Number of keys in the current table. */
size_t auth_count(const auth_t *self);

/* Looks up a public key given as 40 Z85 characters (len 40) or 32 raw bytes
 * (len 32). Returns 0 and *out, -ENOENT if the key is not listed, or
 * -EINVAL if it is not a key. */
int auth_lookup(const auth_t *self, const void *key, size_t len, auth_identity_t *out);

/* Checks a User-Id given by a ZAP-authenticated connection against the
 * current table: 0 (and *out if not NULL) when its key is still listed with
 * the same role and agency; -EACCES when not (revoked or changed since the
 * handshake; "dev::" when development mode is off); -EINVAL when user_id is
 * not of the form above (e.g. NULL: the connection had no ZAP handshake). */
int auth_check(const auth_t *self, const char *user_id, auth_identity_t *out);

/* The role's name in the access file ("agent", ...; "dev"). */
const char *auth_role_name(auth_role_t role);

/* Makes zsock (not yet bound) a CURVE server with the daemon's secret key
 * (Z85) whose clients are checked by the ZAP handler: sets ZMQ_CURVE_SERVER,
 * ZMQ_CURVE_SECRETKEY, ZMQ_ZAP_DOMAIN (AUTH_ZAP_DOMAIN) and
 * ZMQ_ZAP_ENFORCE_DOMAIN. Returns 0, or a negative errno with a message. */
int auth_curve_server(void *zsock, const char *secret_z85, char *err, size_t errlen);

/* Copies the counters. */
void auth_stats(const auth_t *self, auth_stats_t *out);

/* Unbinds the handler (later handshakes on sockets set up by
 * auth_curve_server fail), frees the table; the bridge's handles close on
 * the loop. Nulls *self_p. Idempotent. */
void auth_destroy(auth_t **self_p);

#endif
