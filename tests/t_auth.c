/* t_auth: unit tests for the key files (lib/cohort_keys.c) and the ZAP
 * handler (daemon/auth.c):
 * - keys: generate writes NAME.key 0600 and NAME.pub, never overwrites;
 *   load checks Z85, the key pair, the secret file's mode, names PATH:LINE;
 * - access file: a good file with comments, tabs, CRLF and a key starting
 *   inside; each kind of bad file is refused with its exact PATH:LINE
 *   message by auth_reload, which keeps the old table; lookup by Z85 and raw;
 * - ownership: programmes= lists (and "*") parsed on coordinator and board
 *   lines, refused elsewhere and in every malformed shape; auth_may_define
 *   allows exactly the listed programmes; a key without the field owns
 *   nothing; a reload changes ownership for open connections (auth_check);
 * - real sockets: a CURVE ROUTER set up with auth_curve_server; a listed
 *   key's messages arrive with User-Id "<role>:<agency>:<key>" and pass
 *   auth_check; an unknown key is refused (nothing arrives, log line with
 *   the fingerprint); after removing a key and auth_reload a new connection
 *   with it is refused while auth_check fails at once for the established
 *   one (whose messages libzmq still delivers); NULL clients are refused
 *   unless plaintext development mode is on; with the handler destroyed a
 *   listed key is refused too (fail closed). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>
#include <zmq.h>

#include "auth.h"
#include "cohort_keys.h"
#include "tap.h"

static char tmp[] = "/tmp/cohort-t-auth-XXXXXX";
static char access_path[PATH_MAX], log_path[PATH_MAX];

/* A test key pair. */
typedef struct {
    char pub[41], sec[41];
} kp_t;

/* Replaces the access file atomically with text, mode mode. */
static void write_access(const char *text, mode_t mode)
{
    char t[PATH_MAX + 8];
    snprintf(t, sizeof t, "%s.new", access_path);
    FILE *f = fopen(t, "w");
    fputs(text, f);
    fclose(f);
    chmod(t, mode);
    rename(t, access_path);
}

/* The captured log (stderr), NUL-ended, malloc'd. */
static char *read_log(void)
{
    FILE *f = fopen(log_path, "r");
    char *buf = calloc(1, 1 << 20);
    if (f) {
        size_t n = fread(buf, 1, (1 << 20) - 1, f);
        buf[n] = '\0';
        fclose(f);
    }
    return buf;
}

static int log_has(const char *needle)
{
    char *l = read_log();
    int found = strstr(l, needle) != NULL;
    free(l);
    return found;
}

/* ---------------------------------------------------------- key files --- */

static void test_key_files(void)
{
    char name[PATH_MAX], path[PATH_MAX + 8], pub[41], pub2[41], sec[41], got[41], err[8192];
    struct stat st;
    uint8_t raw[32];
    snprintf(name, sizeof name, "%s/agent1", tmp);
    is_int(cohort_keys_generate(name, got, err, sizeof err), 0, "generate writes a keypair");
    snprintf(path, sizeof path, "%s.key", name);
    memset(&st, 0, sizeof st);
    stat(path, &st);
    is_int(st.st_mode & 07777, 0600, "NAME.key has mode 0600");
    is_int(cohort_keys_load(path, pub, sec, err, sizeof err), 0, "NAME.key loads with its secret");
    is_str(pub, got, "its public key is the one generate returned");
    ok(zmq_curve_public(pub2, sec) == 0 && strcmp(pub2, pub) == 0,
       "and the secret key makes that public key (zmq_curve_public)");
    snprintf(path, sizeof path, "%s.pub", name);
    is_int(cohort_keys_load(path, pub2, NULL, err, sizeof err), 0, "NAME.pub loads");
    is_str(pub2, pub, "with the same public key");
    ok(cohort_keys_load(path, pub2, sec, err, sizeof err) < 0 && strstr(err, "no secret-key line"),
       "NAME.pub does not load as a secret key: %s", err);
    is_int(cohort_keys_generate(name, NULL, err, sizeof err), -EEXIST, "generate never overwrites");
    ok(strstr(err, "agent1.key exists"), "and says which file exists: %s", err);
    /* Only NAME.pub left: still refused, and no NAME.key made. */
    snprintf(path, sizeof path, "%s.key", name);
    unlink(path);
    is_int(cohort_keys_generate(name, NULL, err, sizeof err), -EEXIST,
           "generate refuses when NAME.pub exists");
    ok(access(path, F_OK) != 0, "and makes no NAME.key");
    /* A secret readable by the group is refused. */
    snprintf(name, sizeof name, "%s/agent2", tmp);
    cohort_keys_generate(name, NULL, err, sizeof err);
    snprintf(path, sizeof path, "%s.key", name);
    chmod(path, 0640);
    is_int(cohort_keys_load(path, pub, sec, err, sizeof err), -EPERM,
           "a secret key file with mode 0640 is refused");
    ok(strstr(err, "mode 0640"), "naming the mode: %s", err);
    ok(sec[0] == '\0' && pub[0] == '\0', "and nothing is returned");
    /* Mismatched pair, bad Z85, unknown names: with PATH:LINE. */
    kp_t a, b;
    zmq_curve_keypair(a.pub, a.sec);
    zmq_curve_keypair(b.pub, b.sec);
    snprintf(path, sizeof path, "%s/bad.key", tmp);
    FILE *f = fopen(path, "w");
    fprintf(f, "public-key = %s\nsecret-key = %s\n", b.pub, a.sec);
    fclose(f);
    chmod(path, 0600);
    ok(cohort_keys_load(path, pub, sec, err, sizeof err) < 0 && strstr(err, "does not match"),
       "a public key that is not the secret key's is refused: %s", err);
    f = fopen(path, "w");
    fprintf(f, "# c\n\npublic-key = %.39s~\n", a.pub);
    fclose(f);
    char want[PATH_MAX + 100];
    snprintf(want, sizeof want, "%s:3: public-key is not a 40-character Z85 key", path);
    ok(cohort_keys_load(path, pub, NULL, err, sizeof err) < 0 && strcmp(err, want) == 0,
       "a bad Z85 key is refused with PATH:LINE: %s", err);
    f = fopen(path, "w");
    fprintf(f, "public-key = %s\nsecret = x\n", a.pub);
    fclose(f);
    snprintf(want, sizeof want, "%s:2: unknown name 'secret' (public-key or secret-key)", path);
    ok(cohort_keys_load(path, pub, NULL, err, sizeof err) < 0 && strcmp(err, want) == 0,
       "an unknown name is refused with PATH:LINE: %s", err);
    ok(cohort_keys_decode(a.pub, 39, raw) == -EINVAL, "decode: 39 characters are not a key");
    ok(cohort_keys_decode("0000000000000000000000000000000000000 00", 40, raw) == -EINVAL,
       "decode: a space is not Z85");
    ok(cohort_keys_decode("%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%", 40, raw) == -EINVAL,
       "decode: a group above 2^32 is refused");
    ok(cohort_keys_decode(a.pub, 40, raw) == 0, "decode: a real key passes");
}

/* ------------------------------------------------------- access files --- */

static kp_t k_agent, k_board, k_coord, k_hr, k_hash, k_unknown, k_server;

/* One bad file: reload refused with exactly want (after the path), old
 * table kept. */
static void bad_file(auth_t *a, const char *text, mode_t mode, const char *want, const char *what)
{
    char err[2048], full[PATH_MAX + 512];
    auth_identity_t id;
    size_t before = auth_count(a);
    write_access(text, mode);
    snprintf(full, sizeof full, "%s%s", access_path, want);
    int rc = auth_reload(a, NULL, err, sizeof err);
    if (!ok(rc < 0 && strcmp(err, full) == 0, "bad file refused: %s", what))
        diag("rc %d, got '%s', want '%s'", rc, err, full);
    ok(auth_count(a) == before && auth_lookup(a, k_agent.pub, 40, &id) == 0 &&
           strcmp(id.agency, "wm-police") == 0,
       "  and the old table (%zu keys) stays in force", before);
}

static void test_access_files(auth_t *a)
{
    char text[8192], err[2048];
    auth_identity_t id;
    uint8_t raw[32];
    is_int(auth_count(a), 5, "the good file has 5 keys");
    is_int(auth_lookup(a, k_agent.pub, 40, &id), 0, "lookup by Z85 finds the agent key");
    ok(id.role == AUTH_ROLE_AGENT && strcmp(id.agency, "wm-police") == 0 &&
           strcmp(id.key, k_agent.pub) == 0 && strncmp(id.fingerprint, k_agent.pub, 8) == 0 &&
           strlen(id.fingerprint) == 8,
       "as agent of wm-police, with its key and 8-character fingerprint");
    zmq_z85_decode(raw, k_board.pub);
    ok(auth_lookup(a, raw, 32, &id) == 0 && id.role == AUTH_ROLE_BOARD && id.agency[0] == '\0',
       "lookup by raw key finds the board key (no agency)");
    ok(auth_lookup(a, k_coord.pub, 40, &id) == 0 && id.role == AUTH_ROLE_COORDINATOR &&
           id.agency[0] == '\0',
       "coordinator without an agency");
    ok(auth_lookup(a, k_hr.pub, 40, &id) == 0 && id.role == AUTH_ROLE_AGENCY_HR &&
           strcmp(id.agency, "wmfs") == 0,
       "agency-hr of wmfs (line with CRLF and tabs)");
    ok(auth_lookup(a, k_hash.pub, 40, &id) == 0 && id.role == AUTH_ROLE_OPERATOR,
       "a key with '#' inside is a key; '#comment' right after a field is a comment");
    is_int(auth_lookup(a, k_unknown.pub, 40, &id), -ENOENT, "an unlisted key is not found");
    is_int(auth_lookup(a, "short", 5, &id), -EINVAL, "a non-key is EINVAL");

    bad_file(a, "AAA agent x\n", 0600, ":1: 'AAA' is not a 40-character Z85 public key",
             "short key");
    snprintf(text, sizeof text, "\n# c\n%s agnt wm\n", k_agent.pub);
    bad_file(a, text, 0600,
             ":3: unknown role 'agnt' (agent, coordinator, board, agency-hr, operator or web)",
             "unknown role");
    snprintf(text, sizeof text, "%s agent\n", k_agent.pub);
    bad_file(a, text, 0600, ":1: role agent needs an agency id", "agent without agency");
    snprintf(text, sizeof text, "%s board\n%s agency-hr   # hr\n", k_board.pub, k_hr.pub);
    bad_file(a, text, 0600, ":2: role agency-hr needs an agency id", "agency-hr without agency");
    snprintf(text, sizeof text, "%s board wm-police\n", k_board.pub);
    bad_file(a, text, 0600, ":1: role board takes no agency", "board with an agency");
    snprintf(text, sizeof text, "%s operator x\n", k_board.pub);
    bad_file(a, text, 0600, ":1: role operator takes no agency", "operator with an agency");
    snprintf(text, sizeof text, "%s agent WM-Police\n", k_agent.pub);
    bad_file(a, text, 0600, ":1: agency 'WM-Police' must be 1-64 characters of a-z 0-9 . - _",
             "agency with capitals");
    snprintf(text, sizeof text, "%s agent a\n%s board\n%s operator\n%s board\n", k_agent.pub,
             k_board.pub, k_agent.pub, k_board.pub);
    bad_file(a, text, 0600, ":3: key listed twice (first on line 1)", "duplicate key");
    snprintf(text, sizeof text, "%s agent a extra\n", k_agent.pub);
    bad_file(a, text, 0600, ":1: unexpected field after the agency", "extra field");
    snprintf(text, sizeof text, "# ok\n%s\n", k_agent.pub);
    bad_file(a, text, 0600, ":2: missing the role after the key", "key alone");
    snprintf(text, sizeof text, "secret-key = %s\n", k_agent.sec);
    bad_file(a, text, 0600, ":1: 'secret-k...' is not a 40-character Z85 public key",
             "a pasted key-file line");
    snprintf(text, sizeof text, "%.39s~ agent a\n", k_agent.pub);
    char want[256];
    snprintf(want, sizeof want, ":1: '%.8s...' is not a 40-character Z85 public key", k_agent.pub);
    bad_file(a, text, 0600, want, "a non-Z85 character (only 8 characters echoed)");
    snprintf(text, sizeof text, "%s agent a\n\n%s\001 board\n", k_agent.pub, k_board.pub);
    bad_file(a, text, 0600, ":3: control character (byte 41)", "control character");
    memset(text, 'x', 1100);
    text[0] = '#', text[1] = ' ', text[1100] = '\n', text[1101] = '\0';
    bad_file(a, text, 0600, ":1: line longer than 1024 bytes", "long line");
    snprintf(text, sizeof text, "%s agent wm-police\n", k_agent.pub);
    bad_file(a, text, 0666, ": is world-writable (mode 0666); refusing it (chmod o-w)",
             "world-writable file");
    unlink(access_path);
    {
        char full[PATH_MAX + 64];
        snprintf(full, sizeof full, "%s: No such file or directory", access_path);
        size_t before = auth_count(a);
        ok(auth_reload(a, NULL, err, sizeof err) == -ENOENT && strcmp(err, full) == 0,
           "a missing file is refused: %s", err);
        is_int(auth_count(a), before, "  and the old table stays in force");
    }
    ok(log_has("auth: reload refused, keeping the"), "a refused reload is logged");
}

/* ---------------------------------------------------------- ownership --- */

/* An identity made by hand, for the pure functions. */
static auth_identity_t ident(auth_role_t role, const char *agency, const char *programmes)
{
    auth_identity_t id;
    memset(&id, 0, sizeof id);
    id.role = role;
    snprintf(id.agency, sizeof id.agency, "%s", agency);
    snprintf(id.programmes, sizeof id.programmes, "%s", programmes);
    return id;
}

static void test_ownership(auth_t *a, const char *good_file)
{
    char text[8192], err[2048], uid[AUTH_USER_ID_MAX];
    const char *why = NULL;
    auth_identity_t id;
    size_t revoked = 99;

    ok(auth_lookup(a, k_coord.pub, 40, &id) == 0 && strcmp(id.programmes, "step-forward,lip") == 0,
       "the coordinator owns step-forward and lip (programmes= on a CRLF line)");
    is_int(auth_may_define(&id, "step-forward", &why), 0, "  it may define step-forward");
    is_int(auth_may_define(&id, "lip", &why), 0, "  and lip");
    ok(auth_may_define(&id, "wmcjb-2", &why) == -EACCES && strstr(why, "does not own"),
       "  not another programme: %s", why);
    is_int(auth_may_define(&id, "step", &why), -EACCES, "  not a prefix of an owned one");
    is_int(auth_may_define(&id, "forward", &why), -EACCES, "  nor a suffix");
    is_int(auth_may_define(&id, "lip,step-forward", &why), -EACCES, "  nor the list itself");
    is_int(auth_may_define(&id, "", &why), -EACCES, "  nor an empty id");
    ok(auth_lookup(a, k_board.pub, 40, &id) == 0 && strcmp(id.programmes, "*") == 0 &&
           auth_may_define(&id, "anything-new", &why) == 0,
       "programmes=* owns every programme, new ones too");
    ok(auth_lookup(a, k_agent.pub, 40, &id) == 0 && id.programmes[0] == '\0' &&
           auth_may_define(&id, "step-forward", &why) == -EACCES,
       "an agent key owns nothing");
    id = ident(AUTH_ROLE_COORDINATOR, "", "");
    is_int(auth_may_define(&id, "step-forward", &why), -EACCES,
           "a coordinator without programmes= may define nothing, not even a new programme");
    id = ident(AUTH_ROLE_BOARD, "", "");
    is_int(auth_may_define(&id, "step-forward", &why), -EACCES, "nor may such a board key");
    id = ident(AUTH_ROLE_OPERATOR, "", "*");
    is_int(auth_may_define(&id, "step-forward", &why), -EACCES, "an operator never defines");
    id = ident(AUTH_ROLE_DEV, "", "");
    is_int(auth_may_define(&id, "step-forward", &why), 0, "dev (plaintext mode) defines anything");

    /* The web role (cohort-web's own key): reads every status topic, writes
     * nothing, takes no agency. */
    id = ident(AUTH_ROLE_WEB, "", "");
    is_int(auth_may_submit(&id, "wm-police", 0, &why), -EACCES, "a web key may not submit events");
    is_int(auth_may_submit(&id, "wmcjb", 1, &why), -EACCES, "  nor definitions");
    is_int(auth_may_define(&id, "step-forward", &why), -EACCES, "  nor own a programme");
    ok(auth_may_read(&id, "agency/wm-police/sf/c1") && auth_may_read(&id, "cohort/sf/c1") &&
           auth_may_read(&id, "release/cohort/sf/c1") && auth_may_read(&id, "system"),
       "a web key reads every status topic");
    ok(!auth_may_read(&id, "$control") && !auth_may_read(&id, "other/x"), "  and nothing else");
    snprintf(text, sizeof text, "%s web wm-police\n", k_board.pub);
    bad_file(a, text, 0600, ":1: role web takes no agency", "web with an agency");
    snprintf(text, sizeof text, "%s web programmes=*\n", k_board.pub);
    bad_file(a, text, 0600, ":1: role web may not own programmes (coordinator and board only)",
             "web owning programmes");

    /* Ownership changes on reload without revoking the key's connections:
     * auth_check reads the current table per message. */
    snprintf(text, sizeof text,
             "%s agent wm-police\n%s coordinator wmcjb programmes=wmcjb-2\n%s board\n", k_agent.pub,
             k_coord.pub, k_board.pub);
    write_access(text, 0600);
    ok(auth_reload(a, &revoked, err, sizeof err) == 0, "reload with new ownership");
    /* The coordinator got an agency: that is a change (revoked); the board
     * only lost its programmes=: not revoked. */
    is_int(revoked, 3, "  the coordinator (new agency), hr and operator count as revoked");
    snprintf(uid, sizeof uid, "board::%s", k_board.pub);
    ok(auth_check(a, uid, &id) == 0 && id.programmes[0] == '\0' &&
           auth_may_define(&id, "step-forward", &why) == -EACCES,
       "the board's open connection keeps working but owns nothing now");
    snprintf(uid, sizeof uid, "coordinator:wmcjb:%s", k_coord.pub);
    ok(auth_check(a, uid, &id) == 0 && strcmp(id.programmes, "wmcjb-2") == 0 &&
           auth_may_define(&id, "wmcjb-2", &why) == 0 &&
           auth_may_define(&id, "step-forward", &why) == -EACCES,
       "a coordinator with an agency and programmes=");
    ok(log_has("auth: 1 coordinator or board keys own no programme"),
       "keys that own no programme are counted in the log");

    write_access(good_file, 0600);
    is_int(auth_reload(a, NULL, err, sizeof err), 0, "good file back in force");
    snprintf(text, sizeof text, "%s agent wm programmes=x\n", k_agent.pub);
    bad_file(a, text, 0600, ":1: role agent may not own programmes (coordinator and board only)",
             "programmes= on an agent line");
    snprintf(text, sizeof text, "%s operator programmes=*\n", k_hash.pub);
    bad_file(a, text, 0600, ":1: role operator may not own programmes (coordinator and board only)",
             "programmes= on an operator line");
    snprintf(text, sizeof text, "%s coordinator programmes=\n", k_coord.pub);
    bad_file(a, text, 0600, ":1: programmes= needs programme ids separated by commas, or *",
             "an empty list");
    snprintf(text, sizeof text, "%s coordinator programmes=a,,b\n", k_coord.pub);
    bad_file(a, text, 0600, ":1: programmes= needs programme ids separated by commas, or *",
             "an empty item");
    snprintf(text, sizeof text, "%s coordinator programmes=a,\n", k_coord.pub);
    bad_file(a, text, 0600, ":1: programmes= needs programme ids separated by commas, or *",
             "a trailing comma");
    snprintf(text, sizeof text, "%s board programmes=Step-Forward\n", k_board.pub);
    bad_file(a, text, 0600,
             ":1: programme id 'Step-Forward' must be 1-64 characters of a-z 0-9 . - _ "
             "(starting with a letter or digit)",
             "a programme id with capitals");
    snprintf(text, sizeof text, "%s board programmes=a,-b\n", k_board.pub);
    bad_file(a, text, 0600,
             ":1: programme id '-b' must be 1-64 characters of a-z 0-9 . - _ "
             "(starting with a letter or digit)",
             "a programme id starting with '-'");
    snprintf(text, sizeof text, "%s board programmes=a,*\n", k_board.pub);
    bad_file(a, text, 0600,
             ":1: programme id '*' must be 1-64 characters of a-z 0-9 . - _ "
             "(starting with a letter or digit)",
             "'*' only alone");
    snprintf(text, sizeof text, "%s coordinator programmes=a wmcjb\n", k_coord.pub);
    bad_file(a, text, 0600,
             ":1: unexpected field after programmes=", "the agency after programmes=");
    snprintf(text, sizeof text, "%s coordinator wmcjb programmes=a x\n", k_coord.pub);
    bad_file(a, text, 0600, ":1: unexpected field after programmes=", "a field after the list");
    snprintf(text, sizeof text, "%s board wmcjb programmes=a\n", k_board.pub);
    bad_file(a, text, 0600, ":1: role board takes no agency", "board with an agency and a list");
    snprintf(text, sizeof text, "%s coordinator programmes=a programmes=b\n", k_coord.pub);
    bad_file(a, text, 0600, ":1: unexpected field after programmes=", "programmes= twice");
    write_access(good_file, 0600);
    is_int(auth_reload(a, NULL, err, sizeof err), 0, "good file back in force");
}

/* ------------------------------------------------------------ sockets --- */

static uv_loop_t loop;

/* Runs the loop and polls s for up to ms; returns 1 with the payload frame
 * (User-Id readable) in *payload when a message [rid][payload] arrives. */
static int pump(void *s, int ms, zmq_msg_t *payload)
{
    for (int waited = 0; waited < ms; waited += 5) {
        zmq_pollitem_t it = {s, 0, ZMQ_POLLIN, 0};
        uv_run(&loop, UV_RUN_NOWAIT);
        if (zmq_poll(&it, 1, 5) > 0) {
            zmq_msg_t rid;
            zmq_msg_init(&rid);
            zmq_msg_recv(&rid, s, 0);
            zmq_msg_close(&rid);
            zmq_msg_init(payload);
            zmq_msg_recv(payload, s, 0);
            return 1;
        }
    }
    return 0;
}

/* Runs the loop until the auth object has refused `refused` requests (or
 * 5 s), then 300 ms more; returns 1 if a message reached s meanwhile. */
static int refused_then_nothing(auth_t *a, void *s, uint64_t refused)
{
    auth_stats_t st;
    zmq_msg_t m;
    for (int i = 0; i < 1000; i++) {
        auth_stats(a, &st);
        if (st.refused >= refused)
            break;
        if (pump(s, 5, &m)) {
            zmq_msg_close(&m);
            return 1;
        }
    }
    if (pump(s, 300, &m)) {
        zmq_msg_close(&m);
        return 1;
    }
    return 0;
}

static void *client(void *ctx, const kp_t *k, const char *ep)
{
    void *c = zmq_socket(ctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(c, ZMQ_LINGER, &linger, sizeof linger);
    if (k) {
        zmq_setsockopt(c, ZMQ_CURVE_SERVERKEY, k_server.pub, 40);
        zmq_setsockopt(c, ZMQ_CURVE_PUBLICKEY, k->pub, 40);
        zmq_setsockopt(c, ZMQ_CURVE_SECRETKEY, k->sec, 40);
    }
    zmq_connect(c, ep);
    zmq_send(c, "hello", 5, ZMQ_DONTWAIT);
    return c;
}

static void test_sockets(void *ctx, auth_t **ap, const char *good_file)
{
    auth_t *a = *ap;
    char ep[PATH_MAX + 16], nullep[PATH_MAX + 16], err[1024], want_uid[160], line[160];
    auth_identity_t id;
    auth_stats_t st;
    zmq_msg_t m;
    int linger = 0, one = 1;
    void *srv = zmq_socket(ctx, ZMQ_ROUTER), *nsrv = zmq_socket(ctx, ZMQ_ROUTER);
    snprintf(ep, sizeof ep, "ipc://%s/curve.sock", tmp);
    snprintf(nullep, sizeof nullep, "ipc://%s/null.sock", tmp);
    zmq_setsockopt(srv, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(nsrv, ZMQ_LINGER, &linger, sizeof linger);
    is_int(auth_curve_server(srv, k_server.sec, err, sizeof err), 0,
           "auth_curve_server sets up a CURVE server with enforced ZAP");
    ok(auth_curve_server(srv, "not a key", err, sizeof err) == -EINVAL,
       "and refuses a bad secret key");
    ok(zmq_bind(srv, ep) == 0, "CURVE server bound");
    zmq_setsockopt(nsrv, ZMQ_ZAP_DOMAIN, AUTH_ZAP_DOMAIN, strlen(AUTH_ZAP_DOMAIN));
    zmq_setsockopt(nsrv, 93, &one, sizeof one);
    ok(zmq_bind(nsrv, nullep) == 0, "NULL server (with a ZAP domain) bound");

    write_access(good_file, 0600);
    is_int(auth_reload(a, NULL, err, sizeof err), 0, "good file back in force");

    /* A listed key. */
    void *ca = client(ctx, &k_agent, ep);
    ok(pump(srv, 5000, &m), "the agent key's message arrives");
    snprintf(want_uid, sizeof want_uid, "agent:wm-police:%s", k_agent.pub);
    const char *uid = zmq_msg_gets(&m, "User-Id");
    is_str(uid, want_uid, "with User-Id agent:wm-police:<key>");
    char uid_copy[160];
    snprintf(uid_copy, sizeof uid_copy, "%s", uid ? uid : "");
    zmq_msg_close(&m);
    ok(auth_check(a, uid_copy, &id) == 0 && id.role == AUTH_ROLE_AGENT &&
           strcmp(id.agency, "wm-police") == 0,
       "auth_check accepts it: agent of wm-police");
    snprintf(line, sizeof line, "auth: accepted key %.8s as agent:wm-police from local",
             k_agent.pub);
    ok(log_has(line), "acceptance logged: %s", line);
    /* The board key. */
    void *cb = client(ctx, &k_board, ep);
    ok(pump(srv, 5000, &m), "the board key's message arrives");
    snprintf(want_uid, sizeof want_uid, "board::%s", k_board.pub);
    is_str(zmq_msg_gets(&m, "User-Id"), want_uid, "with User-Id board::<key>");
    zmq_msg_close(&m);
    ok(auth_check(a, want_uid, &id) == 0 && id.role == AUTH_ROLE_BOARD, "auth_check accepts it");
    snprintf(want_uid, sizeof want_uid, "agent:wm-police:%s", k_board.pub);
    is_int(auth_check(a, want_uid, NULL), -EACCES,
           "auth_check refuses a user id whose role does not match the key's");
    is_int(auth_check(a, "agent:wm-police", NULL), -EINVAL, "and a malformed user id");
    is_int(auth_check(a, NULL, NULL), -EINVAL, "and none (no ZAP handshake)");

    /* An unknown key: refused, nothing arrives, logged with its fingerprint. */
    auth_stats(a, &st);
    void *cu = client(ctx, &k_unknown, ep);
    ok(!refused_then_nothing(a, srv, st.refused + 1), "no message arrives from an unknown key");
    auth_stats(a, &st);
    ok(st.refused >= 1, "the handshake was refused (%llu refusals)",
       (unsigned long long)st.refused);
    snprintf(line, sizeof line, "<4>auth: refused key %.8s (unknown key) from local",
             k_unknown.pub);
    ok(log_has(line), "logged: %s", line);
    ok(!log_has(k_unknown.pub), "the log has the fingerprint only, not the whole key");

    /* Revocation: remove the agent key and reload. */
    char text[1024];
    snprintf(text, sizeof text, "%s board\n", k_board.pub);
    write_access(text, 0600);
    is_int(auth_reload(a, NULL, err, sizeof err), 0, "reload without the agent key");
    is_int(auth_check(a, uid_copy, NULL), -EACCES,
           "auth_check refuses the established agent connection's User-Id at once");
    zmq_send(ca, "after", 5, ZMQ_DONTWAIT);
    ok(pump(srv, 5000, &m), "libzmq still delivers the established connection's messages");
    is_str(zmq_msg_gets(&m, "User-Id"), uid_copy,
           "  with the old User-Id (so the daemon must auth_check every message)");
    zmq_msg_close(&m);
    auth_stats(a, &st);
    void *ca2 = client(ctx, &k_agent, ep);
    ok(!refused_then_nothing(a, srv, st.refused + 1),
       "a NEW connection with the revoked key gets nothing through");
    snprintf(line, sizeof line, "<4>auth: refused key %.8s (unknown key) from local", k_agent.pub);
    ok(log_has(line), "and is logged: %s", line);

    /* NULL mechanism. */
    auth_stats(a, &st);
    void *cn = client(ctx, NULL, nullep);
    ok(!refused_then_nothing(a, nsrv, st.refused + 1), "a NULL client is refused");
    ok(log_has("<4>auth: refused key - (mechanism NULL not allowed: CURVE only) from local"),
       "and logged");
    is_int(auth_check(a, "dev::", NULL), -EACCES, "auth_check refuses dev:: outside dev mode");
    auth_set_plaintext_dev(a, 1);
    void *cn2 = client(ctx, NULL, nullep);
    ok(pump(nsrv, 5000, &m), "in plaintext development mode a NULL client gets through");
    is_str(zmq_msg_gets(&m, "User-Id"), "dev::", "with User-Id dev::");
    zmq_msg_close(&m);
    ok(auth_check(a, "dev::", &id) == 0 && id.role == AUTH_ROLE_DEV,
       "and auth_check gives role dev");
    auth_set_plaintext_dev(a, 0);

    /* Fail closed: no handler, no entry, even for a listed key. */
    auth_destroy(ap);
    ok(*ap == NULL, "auth_destroy nulls the pointer");
    auth_destroy(ap); /* idempotent */
    uv_run(&loop, UV_RUN_NOWAIT);
    void *cb2 = client(ctx, &k_board, ep);
    ok(!pump(srv, 700, &m), "with the handler gone a listed key gets nothing through");

    void *all[] = {ca, cb, cu, ca2, cn, cn2, cb2, srv, nsrv};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        zmq_close(all[i]);
}

int main(void)
{
    char err[2048], good[4096];
    auth_t *a = NULL;
    void *ctx;
    int saved;
    if (!mkdtemp(tmp))
        return 1;
    snprintf(access_path, sizeof access_path, "%s/access", tmp);
    snprintf(log_path, sizeof log_path, "%s/log", tmp);
    /* Capture the log (stderr); diagnostics go to stdout. */
    saved = dup(2);
    int lfd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
    dup2(lfd, 2);
    close(lfd);

    test_key_files();

    kp_t *all[] = {&k_agent, &k_board, &k_coord, &k_hr, &k_unknown, &k_server};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        zmq_curve_keypair(all[i]->pub, all[i]->sec);
    /* A key with '#' inside (about 1 in 3 keys): bounded search. No key
     * begins with '#' (auth.c), checked on the way. */
    int hash_first = 0;
    for (int i = 0; i < 2000 && !strchr(k_hash.pub, '#'); i++) {
        zmq_curve_keypair(k_hash.pub, k_hash.sec);
        hash_first |= k_hash.pub[0] == '#';
    }
    ok(strchr(k_hash.pub, '#') && !hash_first, "found a key with '#' inside");
    snprintf(good, sizeof good,
             "# cohortd access file\n"
             "\n"
             "   # indented comment\n"
             "%s agent wm-police   # WMP's agent\n"
             "%s\tboard\tprogrammes=*\n"
             "%s coordinator programmes=step-forward,lip\r\n"
             "\t%s\tagency-hr\twmfs\t#\r\n"
             "%s operator #comment\n",
             k_agent.pub, k_board.pub, k_coord.pub, k_hr.pub, k_hash.pub);
    write_access(good, 0640);

    uv_loop_init(&loop);
    ctx = zmq_ctx_new();
    int rc = auth_new(&a, &loop, ctx, access_path, err, sizeof err);
    if (!ok(rc == 0, "auth_new loads a good file and binds the ZAP handler"))
        diag("%s", err);
    if (rc == 0) {
        auth_t *b = NULL;
        ok(auth_new(&b, &loop, ctx, NULL, err, sizeof err) == -EADDRINUSE && !b &&
               strstr(err, "already has a ZAP handler"),
           "a second handler in the same context is refused: %s", err);
        test_access_files(a);
        test_ownership(a, good);
        test_sockets(ctx, &a, good);
    }
    /* auth_new on a bad file fails with PATH:LINE. */
    {
        void *ctx2 = zmq_ctx_new();
        auth_t *c = NULL;
        char want[PATH_MAX + 64];
        write_access("# x\nnot-a-key board\n", 0600);
        snprintf(want, sizeof want, "%s:2: 'not-a-ke...' is not", access_path);
        ok(auth_new(&c, &loop, ctx2, access_path, err, sizeof err) == -EINVAL && !c &&
               strncmp(err, want, strlen(want)) == 0,
           "auth_new refuses a bad file with PATH:LINE: %s", err);
        zmq_ctx_term(ctx2);
    }
    auth_destroy(&a);
    uv_run(&loop, UV_RUN_DEFAULT);
    ok(uv_loop_close(&loop) == 0, "every handle closed");
    zmq_ctx_term(ctx);

    char *l = read_log();
    ok(!strstr(l, k_agent.sec) && !strstr(l, k_server.sec), "no secret key in the log");
    for (char *p = l, *nl; *p; p = nl + 1) { /* the log, as TAP comments */
        if (!(nl = strchr(p, '\n')))
            break;
        printf("# %.*s\n", (int)(nl - p), p);
    }
    free(l);
    dup2(saved, 2);
    close(saved);
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (system(cmd) != 0)
        diag("could not remove %s", tmp);
    return tap_done();
}
