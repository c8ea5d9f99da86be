/* cohortctl's control client: the requests to the running daemon over its
 * control endpoint (control.h) — status, stats, tail and the backup request —
 * with the store read directly when status or tail fall back offline, and
 * the printing of log entries. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <time.h>
#include <zmq.h>

#include "checkpoint.h"
#include "cohort.pb-c.h"
#include "cohort_cli.h"
#include "cohort_json.h"
#include "cohort_keys.h"
#include "audit.h"
#include "config.h"
#include "control.h"
#include "log.h"
#include "progress.h"
#include "store.h"
#include "uuid7.h"
#include "vault.h"

#include "cohortctl.h"

static const char *body_name(const Cohort__V1__Event *ev)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field(&cohort__v1__event__descriptor, ev->body_case);
    return f ? f->name : "unknown";
}

static int print_entry(void *arg, uint64_t seq, const void *val, size_t len)
{
    const args_t *a = arg;
    Cohort__V1__Event *ev = cohort__v1__event__unpack(NULL, len, val);
    if (!ev) {
        printf(a->json ? "{\"seq\":%llu,\"error\":\"undecodable\"}\n" : "%llu undecodable\n",
               (unsigned long long)seq);
        return 0;
    }
    if (a->unseal && ev->body_case == COHORT__V1__EVENT__BODY_PARTICIPANT_REGISTERED &&
        ev->participant_registered && ev->participant_registered->sealed.len &&
        vault_open_event(a->store, ev) == 0)
        ev->participant_registered->sealed.len = 0; /* opened: the event as it was sent */
    if (a->json) {
        char *j = cohort_json_from_message(&ev->base);
        printf("{\"seq\":%llu,\"event\":%s}\n", (unsigned long long)seq, j ? j : "null");
        free(j);
    } else {
        char id[37] = "(bad id)";
        if (ev->event_id.len == 16)
            uuid7_format(ev->event_id.data, id);
        int sealed = ev->body_case == COHORT__V1__EVENT__BODY_PARTICIPANT_REGISTERED &&
                     ev->participant_registered && ev->participant_registered->sealed.len;
        printf("%llu %s %s %s%s\n", (unsigned long long)seq, ev->agency, id, body_name(ev),
               sealed ? " (characteristics sealed)" : "");
    }
    cohort__v1__event__free_unpacked(ev, NULL);
    return ferror(stdout) ? -EIO : 0;
}

/* ------------------------------------------------------ control client --- */

/* Makes path absolute (against the working directory) into out. Returns 0
 * or -1 with a message printed. */
int absolute(const char *path, char *out, size_t len)
{
    char cwd[PATH_MAX];
    if (path[0] == '/') {
        if ((size_t)snprintf(out, len, "%s", path) < len)
            return 0;
    } else if (!getcwd(cwd, sizeof cwd)) {
        fprintf(stderr, "cohortctl: cannot tell the working directory: %s\n", strerror(errno));
        return -1;
    } else if ((size_t)snprintf(out, len, "%s/%s", cwd, path) < len) {
        return 0;
    }
    fprintf(stderr, "cohortctl: path too long: %s\n", path);
    return -1;
}

/* What the file at path says about a daemon's Unix socket, without
 * connecting to it (a connection of ours closed before its ZMTP handshake
 * would be logged by the daemon as a failed handshake): 1 a socket file
 * this user may connect to (whether a daemon still listens on it is found
 * by connecting: ctl_open); 0 no socket there (errno: ENOENT, ENOTSOCK,
 * ...); -1 this user may not connect (errno EACCES: not in the daemon's
 * group, or the file or a directory above it is closed to them). */
static int socket_file(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return errno == EACCES ? -1 : 0;
    if (!S_ISSOCK(st.st_mode)) {
        errno = ENOTSOCK;
        return 0;
    }
    if (access(path, W_OK) != 0 && errno == EACCES) /* connect(2) needs write permission */
        return -1;
    return 1;
}

/* A request-reply connection to the control endpoint. */
typedef struct {
    void *ctx;          /* ZeroMQ context */
    void *sock;         /* REQ socket */
    const char *ep;     /* the endpoint */
    unsigned timeout_s; /* per answer */
    zmq_msg_t *parts;   /* the last reply's frames */
    size_t nparts, cap; /* their count and room */
    json_t *hdr;        /* the last reply's first frame, parsed */
} ctl_t;

enum { REACH_DAEMON = 0, REACH_STORE = 1, REACH_FAIL = -1, REACH_USAGE = -2 };

/* Frees the last reply. */
static void ctl_drop(ctl_t *c)
{
    for (size_t i = 0; i < c->nparts; i++)
        zmq_msg_close(&c->parts[i]);
    c->nparts = 0;
    json_decref(c->hdr);
    c->hdr = NULL;
}

static void ctl_close(ctl_t *c)
{
    ctl_drop(c);
    free(c->parts);
    if (c->sock)
        zmq_close(c->sock);
    if (c->ctx)
        zmq_ctx_term(c->ctx);
    memset(c, 0, sizeof *c);
}

/* Makes c's REQ socket (with the CURVE keys) and connects it to ep. For an
 * ipc:// endpoint it then waits, up to PROBE_MS, for ZeroMQ's own connect
 * to succeed or be refused (a socket file left by a stopped daemon), as a
 * socket monitor reports it: this tells a live daemon from a stale socket
 * without a probe connection of our own, which the daemon would log as a
 * failed handshake. Returns 1 (connected, or cannot tell: the request's
 * timeout then decides), 0 (nothing listens on ep: c is closed, errno is
 * ECONNREFUSED) or -1 (message printed, c closed). */
static int ctl_open(ctl_t *c, const char *ep, unsigned timeout_s)
{
    static const char mon[] = "inproc://cohortctl-connect-monitor";
    void *pair = NULL;
    int linger = 0, rc = 1, refused = 0, ipc = strncmp(ep, "ipc://", 6) == 0;
    struct timespec t0, t;
    memset(c, 0, sizeof *c);
    c->ep = ep;
    c->timeout_s = timeout_s;
    if (!(c->ctx = zmq_ctx_new()) || !(c->sock = zmq_socket(c->ctx, ZMQ_REQ))) {
        fprintf(stderr, "cohortctl: cannot set up the request: %s\n", zmq_strerror(errno));
        goto fail;
    }
    zmq_setsockopt(c->sock, ZMQ_LINGER, &linger, sizeof linger);
    if (ipc &&
        (zmq_socket_monitor(c->sock, mon, ZMQ_EVENT_CONNECTED | ZMQ_EVENT_CONNECT_RETRIED) != 0 ||
         !(pair = zmq_socket(c->ctx, ZMQ_PAIR)) ||
         zmq_setsockopt(pair, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
         zmq_connect(pair, mon) != 0)) {
        fprintf(stderr, "cohortctl: cannot set up the request: %s\n", zmq_strerror(errno));
        goto fail;
    }
    if (cohort_curve_apply(c->sock, &g_curve, NULL, 0) < 0 || zmq_connect(c->sock, ep) != 0) {
        fprintf(stderr, "cohortctl: cannot connect to %s: %s\n", ep, zmq_strerror(errno));
        goto fail;
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (pair) {
        zmq_pollitem_t it = {pair, 0, ZMQ_POLLIN, 0};
        zmq_msg_t head, addr;
        uint16_t ev = 0;
        clock_gettime(CLOCK_MONOTONIC, &t);
        long left = PROBE_MS - ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
        int n = left > 0 ? zmq_poll(&it, 1, left) : 0;
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* cannot tell */
        zmq_msg_init(&head);
        zmq_msg_init(&addr);
        if (zmq_msg_recv(&head, pair, 0) >= 0 && zmq_msg_size(&head) >= 2)
            memcpy(&ev, zmq_msg_data(&head), 2);
        while (zmq_msg_more(&head) && zmq_msg_recv(&addr, pair, 0) >= 0 && zmq_msg_more(&addr))
            ; /* the event's second frame (the endpoint) */
        zmq_msg_close(&head);
        zmq_msg_close(&addr);
        if (ev == ZMQ_EVENT_CONNECTED)
            break;
        /* A Unix socket is refused at once: nothing listens (a busy
         * daemon's full backlog is refused too, hence a few tries). */
        if (ev == ZMQ_EVENT_CONNECT_RETRIED && ++refused == PROBE_REFUSALS) {
            rc = 0;
            break;
        }
    }
    if (pair) {
        zmq_socket_monitor(c->sock, NULL, 0);
        zmq_close(pair);
    }
    if (rc == 0) {
        ctl_close(c);
        errno = ECONNREFUSED;
    }
    return rc;
fail:
    if (pair)
        zmq_close(pair);
    ctl_close(c);
    return -1;
}

/* Finds the daemon for what (a command name) and connects c to it.
 * Returns REACH_DAEMON (connected), REACH_STORE (no daemon listens, and
 * fallback is allowed and the data directory known: a note was printed),
 * REACH_FAIL (message printed; also when the socket is closed to this
 * user: then there is no fallback, which could only fail the same way) or
 * REACH_USAGE (bad keys: message printed). */
static int reach(const args_t *a, const char *what, int fallback, ctl_t *c, unsigned timeout_s)
{
    const char *ep = a->control, *cand[2] = {a->control, a->control_alt};
    int found[2] = {1, 0}, e = 0;
    memset(c, 0, sizeof *c);
    if (!ep) {
        if (fallback && a->data_dir_known) {
            fprintf(stderr,
                    "cohortctl: the daemon's control endpoint is off (control = none); "
                    "reading the store in %s directly\n",
                    a->data_dir);
            return REACH_STORE;
        }
        fprintf(stderr,
                "cohortctl: %s: the configuration turns the control endpoint off "
                "(control = none); give --control\n",
                what);
        return REACH_FAIL;
    }
    /* A REQ to a missing ipc socket, or to one left by a stopped daemon,
     * would wait for the whole timeout: look at the file first (and at the
     * packaged unit's socket, control_alt, if there is none), then let
     * ctl_open tell a live daemon from a stale socket. */
    if (strncmp(ep, "ipc://", 6) == 0) {
        found[0] = socket_file(ep + 6);
        e = errno;
        if (found[0] >= 0 && a->control_alt)
            found[1] = socket_file(a->control_alt + 6);
        if (found[0] < 0 || (found[0] == 0 && found[1] < 0)) {
            fprintf(stderr,
                    "cohortctl: cannot reach the daemon's control socket %s: %s (operators must "
                    "be in the daemon's group, e.g. cohortd, and log in again after joining "
                    "it)\n",
                    (found[0] < 0 ? ep : a->control_alt) + 6, strerror(EACCES));
            return REACH_FAIL;
        }
    }
    if (found[0] > 0 || found[1] > 0) {
        if (choose_keys(a) < 0)
            return REACH_USAGE;
        for (int i = 0; i < 2; i++) {
            int rc = found[i] > 0 ? ctl_open(c, cand[i], timeout_s) : 0;
            if (rc != 0)
                return rc > 0 ? REACH_DAEMON : REACH_FAIL;
        }
        if (found[0] > 0)
            e = ECONNREFUSED;
    }
    if (fallback && a->data_dir_known) {
        fprintf(stderr,
                "cohortctl: no daemon answers on %s; reading the store in %s directly "
                "(read-only)\n",
                ep, a->data_dir);
        return REACH_STORE;
    }
    fprintf(stderr,
            "cohortctl: cannot reach the daemon's control socket %s: %s (is cohortd "
            "running on this data directory? see --control)\n",
            ep + 6, strerror(e));
    return REACH_FAIL;
}

/* Sends req and takes the whole reply (c->parts, c->hdr), waiting up to
 * the timeout in steps of POLL_MS (updating pr, which may be NULL).
 * Returns 0 when the answer is {"ok":true,...}, or -1 after a message
 * ("what failed: why"). */
static int ctl_ask(ctl_t *c, const char *what, const char *req, progress_t *pr)
{
    uint64_t waited = 0;
    ctl_drop(c);
    if (zmq_send(c->sock, req, strlen(req), 0) < 0) {
        fprintf(stderr, "cohortctl: cannot send the %s request to %s: %s\n", what, c->ep,
                zmq_strerror(errno));
        return -1;
    }
    for (;;) {
        zmq_pollitem_t it = {c->sock, 0, ZMQ_POLLIN, 0};
        int n = zmq_poll(&it, 1, POLL_MS);
        if (n < 0 && errno != EINTR) {
            fprintf(stderr, "cohortctl: %s: %s\n", what, zmq_strerror(errno));
            return -1;
        }
        if (n > 0)
            break;
        waited += POLL_MS;
        progress_update(pr, 0);
        if (waited >= (uint64_t)c->timeout_s * 1000) {
            progress_clear(pr);
            fprintf(stderr, "cohortctl: no answer from %s within %u s%s\n", c->ep, c->timeout_s,
                    g_curve.on ? " (a refused key or a wrong server key looks the same: check "
                                 "--key/--server-key)"
                               : "");
            return -1;
        }
    }
    for (int more = 1; more;) {
        if (c->nparts == c->cap) {
            size_t nc = c->cap ? c->cap * 2 : 64;
            zmq_msg_t *np = realloc(c->parts, nc * sizeof *np);
            if (!np) {
                fprintf(stderr, "cohortctl: out of memory\n");
                return -1;
            }
            c->parts = np;
            c->cap = nc;
        }
        zmq_msg_t *m = &c->parts[c->nparts];
        zmq_msg_init(m);
        if (zmq_msg_recv(m, c->sock, 0) < 0) {
            zmq_msg_close(m);
            fprintf(stderr, "cohortctl: %s: receiving the answer: %s\n", what, zmq_strerror(errno));
            return -1;
        }
        c->nparts++;
        more = zmq_msg_more(m);
    }
    c->hdr = json_loadb(zmq_msg_data(&c->parts[0]), zmq_msg_size(&c->parts[0]), 0, NULL);
    if (!json_is_object(c->hdr)) {
        progress_clear(pr);
        fprintf(stderr, "cohortctl: the daemon's answer is not JSON\n");
        return -1;
    }
    if (!json_is_true(json_object_get(c->hdr, "ok"))) {
        const char *why = json_string_value(json_object_get(c->hdr, "error"));
        progress_clear(pr);
        fprintf(stderr, "cohortctl: %s refused or failed: %s\n", what, why ? why : "(no reason)");
        return -1;
    }
    return 0;
}

/* Prints a JSON scalar as status and stats show values. */
static void print_value(json_t *v)
{
    if (json_is_string(v))
        printf("%s", json_string_value(v));
    else if (json_is_integer(v))
        printf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else if (json_is_boolean(v))
        printf("%s", json_is_true(v) ? "true" : "false");
    else if (json_is_real(v))
        printf("%g", json_real_value(v));
    else
        printf("null");
}

/* Prints o without its "ok" member, as one compact JSON line. */
static void print_json_reply(json_t *o)
{
    json_t *copy = json_copy(o);
    json_object_del(copy, "ok");
    char *text = json_dumps(copy, JSON_COMPACT);
    printf("%s\n", text ? text : "{}");
    free(text);
    json_decref(copy);
}

/* Opens the store read-only (message printed on failure). */
static int open_store(const args_t *a, store_t **s)
{
    char err[512];
    if (store_open(s, a->data_dir, STORE_READONLY, err, sizeof err) < 0) {
        fprintf(stderr, "cohortctl: cannot open the store in %s: %s\n", a->data_dir, err);
        return -1;
    }
    return 0;
}

/* status: exit 0, 1 (unreachable, refused, store unreadable), 2 (usage). */
int cmd_status(const args_t *a)
{
    ctl_t c;
    int rc = a->offline
                 ? REACH_STORE
                 : reach(a, "status", 1, &c, a->timeout_s ? a->timeout_s : DEFAULT_TIMEOUT_S);
    if (rc == REACH_FAIL || rc == REACH_USAGE)
        return rc == REACH_FAIL ? 1 : 2;
    if (rc == REACH_STORE) {
        store_t *s = NULL;
        if (open_store(a, &s) < 0)
            return 1;
        if (a->json)
            printf("{\"head_seq\":%llu,\"offline\":true}\n", (unsigned long long)store_head(s));
        else
            printf("head_seq %llu\n", (unsigned long long)store_head(s));
        store_close(&s);
        return 0;
    }
    rc = ctl_ask(&c, "status", "{\"status\":{}}", NULL) < 0 ? 1 : 0;
    if (rc == 0 && a->json) {
        print_json_reply(c.hdr);
    } else if (rc == 0) {
        const char *key;
        json_t *v;
        printf("head_seq ");
        print_value(json_object_get(c.hdr, "head_seq"));
        printf("\n");
        json_object_foreach(c.hdr, key, v)
        {
            if (strcmp(key, "ok") == 0 || strcmp(key, "head_seq") == 0)
                continue;
            printf("%s ", key);
            print_value(v);
            printf("\n");
        }
    }
    ctl_close(&c);
    return rc;
}

/* Prints o's members as "prefix.key value" lines, nested objects flattened. */
static void print_flat(const char *prefix, json_t *o)
{
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        char name[256];
        snprintf(name, sizeof name, "%s%s%s", prefix, *prefix ? "." : "", key);
        if (json_is_object(v)) {
            print_flat(name, v);
        } else if (strcmp(name, "ok") != 0) {
            printf("%s ", name);
            print_value(v);
            printf("\n");
        }
    }
}

/* stats: exit 0, 1 (unreachable, refused), 2 (usage). */
int cmd_stats(const args_t *a)
{
    ctl_t c;
    int rc = reach(a, "stats", 0, &c, a->timeout_s ? a->timeout_s : DEFAULT_TIMEOUT_S);
    if (rc != REACH_DAEMON)
        return rc == REACH_USAGE ? 2 : 1;
    rc = ctl_ask(&c, "stats", "{\"stats\":{}}", NULL) < 0 ? 1 : 0;
    if (rc == 0 && a->json)
        print_json_reply(c.hdr);
    else if (rc == 0)
        print_flat("", c.hdr);
    ctl_close(&c);
    return rc;
}

/* tail over the control endpoint: pages until the head of the first page
 * (the log as it was when tail started; later pages may reach further), or
 * --limit. Exit 0 or 1. */
static int tail_daemon(args_t *a, ctl_t *c)
{
    uint64_t from = a->from, left = a->limit, stop_at = UINT64_MAX;
    char req[128];
    for (;;) {
        uint64_t n = a->page, count, next, prev = 0;
        if (left && left < n)
            n = left;
        if (stop_at != UINT64_MAX && stop_at - from + 1 < n)
            n = stop_at - from + 1;
        snprintf(req, sizeof req, "{\"tail\":{\"from\":%llu,\"limit\":%llu}}",
                 (unsigned long long)from, (unsigned long long)n);
        if (ctl_ask(c, "tail", req, NULL) < 0)
            return 1;
        count = (uint64_t)json_integer_value(json_object_get(c->hdr, "count"));
        next = (uint64_t)json_integer_value(json_object_get(c->hdr, "next"));
        if (stop_at == UINT64_MAX)
            stop_at = (uint64_t)json_integer_value(json_object_get(c->hdr, "head"));
        if (count != c->nparts - 1 || count > n) {
            fprintf(stderr, "cohortctl: tail: the daemon's page is malformed\n");
            return 1;
        }
        for (size_t i = 1; i < c->nparts; i++) {
            const uint8_t *d = zmq_msg_data(&c->parts[i]);
            size_t len = zmq_msg_size(&c->parts[i]);
            uint64_t seq = 0;
            for (int k = 0; k < 8 && len >= 8; k++)
                seq = seq << 8 | d[k];
            if (len < 8 || seq < from || seq <= prev) {
                fprintf(stderr, "cohortctl: tail: the daemon's page is malformed\n");
                return 1;
            }
            if (seq > stop_at)
                return 0; /* written since tail started */
            prev = seq;
            if (print_entry(a, seq, d + 8, len - 8) < 0) {
                fprintf(stderr, "cohortctl: writing the output failed: %s\n", strerror(EIO));
                return 1;
            }
        }
        if (count == 0 || next <= from)
            return 0;
        if (left && (left -= count) == 0)
            return 0;
        from = next;
        if (from > stop_at)
            return 0;
    }
}

/* tail: exit 0, 1 (unreachable, refused, unreadable), 2 (usage). */
int cmd_tail(args_t *a)
{
    ctl_t c;
    int rc = a->offline || a->unseal
                 ? REACH_STORE
                 : reach(a, "tail", 1, &c, a->timeout_s ? a->timeout_s : DEFAULT_TIMEOUT_S);
    if (rc == REACH_FAIL || rc == REACH_USAGE)
        return rc == REACH_FAIL ? 1 : 2;
    if (rc == REACH_DAEMON) {
        rc = tail_daemon(a, &c);
        ctl_close(&c);
    } else {
        store_t *s = NULL;
        if (open_store(a, &s) < 0)
            return 1;
        a->store = s;
        if ((rc = store_scan(s, a->from, a->limit, print_entry, a)) < 0) {
            fprintf(stderr, "cohortctl: reading the log failed: %s\n", strerror(-rc));
            rc = 1;
        }
        a->store = NULL;
        store_close(&s);
    }
    if (fflush(stdout) != 0 && rc == 0) {
        fprintf(stderr, "cohortctl: writing the output failed: %s\n", strerror(errno));
        rc = 1;
    }
    return rc;
}

/* backup: asks the daemon's control endpoint; exit 0, or 1 if refused,
 * failed or unanswered (2: usage). */
int cmd_backup(const args_t *a)
{
    char dir[PATH_MAX];
    ctl_t c;
    int rc;
    if (absolute(a->pos[0], dir, sizeof dir) < 0)
        return 1;
    rc = reach(a, "backup", 0, &c, a->timeout_s ? a->timeout_s : DEFAULT_BACKUP_TIMEOUT_S);
    if (rc != REACH_DAEMON)
        return rc == REACH_USAGE ? 2 : 1;
    json_t *rq = json_pack("{s:s}", "backup", dir);
    char *req = rq ? json_dumps(rq, JSON_COMPACT) : NULL;
    json_decref(rq);
    progress_t *pr = progress_start(a, "backup", "events", 0, 1);
    rc = 1;
    if (!req)
        fprintf(stderr, "cohortctl: out of memory\n");
    else if (ctl_ask(&c, "backup", req, pr) == 0) {
        json_int_t seq = json_integer_value(json_object_get(c.hdr, "seq"));
        progress_update(pr, (uint64_t)seq);
        progress_done(pr);
        printf("backup %s\nhead_seq %" JSON_INTEGER_FORMAT "\n",
               json_string_value(json_object_get(c.hdr, "backup")), seq);
        rc = 0;
    }
    progress_destroy(&pr);
    free(req);
    ctl_close(&c);
    return rc;
}
