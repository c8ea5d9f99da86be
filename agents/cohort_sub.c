/* cohort_sub.c: libcohort's status subscriber (docs/protocol.md, "Status
 * publishing").
 *
 * Longer than 1,000 lines on purpose: the snapshot-then-updates handshake,
 * gap and restart detection are one state machine over one topic table.
 *
 * Contract: see cohort_sub.h. Inside:
 * - Three phases: WAIT (sockets connected, subscription requests not all
 *   answered yet; updates go to the queue), SNAP (asking for the snapshot
 *   of prefix k; updates go to the queue) and LIVE (updates are applied at
 *   once). "SUB" below is the subscription DEALER.
 * - The state and the snapshot being built are tables of entries sorted by
 *   topic (binary search; topics are few, updates many). An entry owns one
 *   reference to its document; NULL is a tombstone (removed topic).
 * - A resync that is not a reconnect keeps the SUB socket (it is live: the
 *   message that caused the resync came through it) and only replaces the
 *   DEALER, so that no reply to an older request can be taken for a new
 *   one. A heartbeat loss replaces both.
 * - The snapshot prefixes are the subscription prefixes minus those covered
 *   by another one, so every topic is covered by at most one of them; each
 *   keeps the end seq of its last snapshot for the unknown-topic rule. */
#include "cohort_sub.h"
#include "cohort_zmon.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RECV_CAP 4096    /* messages read per socket per pump */
#define RCV_HWM 100000   /* ZMQ_RCVHWM of both sockets */
#define MAX_EPOCH 32     /* longest epoch string accepted */
#define SEND_RETRY_MS 10 /* wait before trying a send that said EAGAIN again */
#define SYSTEM "system"

enum { P_WAIT, P_SNAP, P_LIVE };

/* One topic held. */
typedef struct {
    json_t *doc;  /* the document (one reference owned); NULL: removed */
    uint64_t rev; /* its revision */
    uint64_t seq; /* its log sequence */
    int snapshot; /* 1: last set from a snapshot */
    char topic[]; /* the topic, NUL-terminated */
} entry_t;

/* Entries sorted by topic. */
typedef struct {
    entry_t **v; /* the entries */
    size_t n;    /* how many */
    size_t cap;  /* room in v */
} table_t;

/* One parsed update (from the SUB or a snapshot reply). */
typedef struct {
    json_t *env;       /* the whole envelope (owned) */
    const char *topic; /* inside env */
    const char *epoch; /* inside env */
    json_t *doc;       /* inside env; NULL for a JSON null */
    uint64_t rev;      /* envelope rev */
    uint64_t seq;      /* envelope seq */
    size_t bytes;      /* size of the message on the wire */
} msg_t;

struct cohort_sub_t {
    cohort_sub_opts_t o;            /* options, defaults filled in (pointers below) */
    char *publish;                  /* copy of o.publish */
    char *snapshot;                 /* copy of o.snapshot */
    char **prefixes;                /* copies of o.prefixes (what is subscribed) */
    size_t nprefixes;               /* how many */
    char **snapp;                   /* snapshot prefixes: sorted, none covering another */
    uint64_t *snap_end;             /* per snapshot prefix: end seq of its last snapshot */
    uint64_t *snap_end_new;         /* the same, for the snapshot being built */
    size_t nsnap;                   /* how many snapshot prefixes */
    void *zctx;                     /* context in use */
    int own_ctx;                    /* 1 if zctx is ours to terminate */
    void *sub;                      /* subscription DEALER, connected to publish */
    void *dealer;                   /* DEALER socket, connected to snapshot */
    int phase;                      /* P_* */
    size_t k;                       /* SNAP: index of the prefix being asked for */
    int need_send;                  /* SNAP: the request for k is still to be sent */
    uint64_t send_at;               /* SNAP: not before this (ms) */
    int in_flight;                  /* SNAP: the request for k is sent, its $end not yet in */
    uint64_t snap_deadline;         /* SNAP: retry when no reply message came by then (ms) */
    uint64_t snap_got;              /* SNAP: topic messages received for prefix k */
    char epoch[MAX_EPOCH + 1];      /* epoch of the state held, "" if none */
    char snap_epoch[MAX_EPOCH + 1]; /* epoch of the snapshot being built, "" if none yet */
    table_t state;                  /* the state */
    table_t snap;                   /* the snapshot being built */
    msg_t *q;                       /* the pre-snapshot queue */
    size_t qn;                      /* updates in it */
    size_t qcap;                    /* room in q */
    size_t qbytes;                  /* bytes in it */
    uint64_t last_hb;               /* last heartbeat, or (re)connect time (ms) */
    size_t answers;                 /* WAIT: subscription requests answered on this socket */
    size_t granted;                 /* of those, the ones granted ($subscribed) */
    uint64_t drop_n;                /* topic updates seen, for drop_every */
    int stop;                       /* cohort_sub_stop was called */
    int denied;                     /* a DENIED event: stopped for good, sockets closed */
    void *mon;                      /* CURVE: PAIR reading sub's handshake refusals, or NULL */
    unsigned mon_n;                 /* monitors made, for unique inproc names */
    int more;                       /* a pump stopped at RECV_CAP: pump again at once */
    int delivered;                  /* update callbacks in this pump */
    cohort_sub_stats_t st;          /* counters */
    char why[256];                  /* reason for the event being reported */
    cohort_curve_t curve;           /* CURVE keys for every socket made (on = 0: plain);
                                       wiped at destroy */
};

/* ------------------------------------------------------------- helpers --- */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Formats a duration for reasons: "3 s" or "300 ms". */
static void fmt_ms(char *buf, size_t n, uint32_t ms)
{
    if (ms % 1000 == 0)
        snprintf(buf, n, "%u s", ms / 1000);
    else
        snprintf(buf, n, "%u ms", ms);
}

static void msg_free(msg_t *m)
{
    json_decref(m->env);
    m->env = NULL;
}

/* Index of the snapshot prefix covering topic, or -1. */
static long cover(const cohort_sub_t *self, const char *topic)
{
    for (size_t i = 0; i < self->nsnap; i++)
        if (starts_with(topic, self->snapp[i]))
            return (long)i;
    return -1;
}

/* --------------------------------------------------------------- tables --- */

/* Binary search: the entry for topic, or NULL with *at its insertion index. */
static entry_t *t_find(const table_t *t, const char *topic, size_t *at)
{
    size_t lo = 0, hi = t->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(t->v[mid]->topic, topic);
        if (c == 0) {
            if (at)
                *at = mid;
            return t->v[mid];
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (at)
        *at = lo;
    return NULL;
}

/* Inserts a new entry at index at (from t_find). Returns it, or NULL. */
static entry_t *t_insert(table_t *t, size_t at, const char *topic)
{
    size_t len = strlen(topic);
    entry_t *e;

    if (t->n == t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 16;
        entry_t **nv = realloc(t->v, nc * sizeof *nv);
        if (!nv)
            return NULL;
        t->v = nv;
        t->cap = nc;
    }
    if (!(e = calloc(1, sizeof *e + len + 1)))
        return NULL;
    memcpy(e->topic, topic, len + 1);
    memmove(t->v + at + 1, t->v + at, (t->n - at) * sizeof *t->v);
    t->v[at] = e;
    t->n++;
    return e;
}

static void t_clear(table_t *t)
{
    for (size_t i = 0; i < t->n; i++) {
        json_decref(t->v[i]->doc);
        free(t->v[i]);
    }
    t->n = 0;
}

static void t_fini(table_t *t)
{
    t_clear(t);
    free(t->v);
    t->v = NULL;
    t->cap = 0;
}

/* Sets e from m (takes a new reference to m's doc). */
static void e_set(entry_t *e, const msg_t *m, int snapshot)
{
    json_t *old = e->doc;
    e->doc = m->doc ? json_incref(m->doc) : NULL;
    json_decref(old);
    e->rev = m->rev;
    e->seq = m->seq;
    e->snapshot = snapshot;
}

static void e_view(const entry_t *e, const char *epoch, cohort_sub_doc_t *out)
{
    out->topic = e->topic;
    out->doc = e->doc;
    out->epoch = epoch;
    out->rev = e->rev;
    out->seq = e->seq;
    out->snapshot = e->snapshot;
}

/* ---------------------------------------------------------- callbacks --- */

static void deliver(cohort_sub_t *self, const entry_t *e)
{
    cohort_sub_doc_t d;

    self->delivered++;
    if (!self->o.on_update)
        return;
    e_view(e, self->epoch, &d);
    self->o.on_update(self->o.arg, &d);
}

static void event(cohort_sub_t *self, cohort_sub_event_t ev, const char *reason)
{
    if (self->o.on_event)
        self->o.on_event(self->o.arg, ev, reason ? reason : "");
}

/* ------------------------------------------------------------- sockets --- */

static void close_sock(void **s)
{
    if (*s) {
        zmq_close(*s);
        *s = NULL;
    }
}

/* Stops and closes the monitor of the subscription socket, if any. */
static void close_mon(cohort_sub_t *self)
{
    if (!self->mon)
        return;
    if (self->sub)
        zmq_socket_monitor(self->sub, NULL, 0);
    close_sock(&self->mon);
}

/* CURVE: watches the (new, not yet connected) subscription socket for
 * handshakes the daemon's ZAP handler refuses. Returns 0 or -errno. */
static int open_mon(cohort_sub_t *self)
{
    char ep[80];
    int zero = 0;

    snprintf(ep, sizeof ep, "inproc://cohort-sub-monitor-%p-%u", (void *)self, self->mon_n++);
    if (zmq_socket_monitor(self->sub, ep, ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) != 0)
        return -errno;
    if (!(self->mon = zmq_socket(self->zctx, ZMQ_PAIR)) ||
        zmq_setsockopt(self->mon, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
        zmq_connect(self->mon, ep) != 0)
        return -errno;
    return 0;
}

/* Common options: linger 0, bounded messages, a receive HWM, fast
 * reconnects, ZMTP heartbeats, and the CURVE keys if on. */
static int sock_opts(cohort_sub_t *self, void *s)
{
    int zero = 0, hwm = RCV_HWM, hb_ivl = 1000, hb_tmo = 3000, rivl = 100, rivl_max = 1000;
    int64_t maxmsg = self->o.max_msg_bytes;
    char err[256];

    if (zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
        zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm) != 0 ||
        zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) != 0 ||
        zmq_setsockopt(s, ZMQ_HEARTBEAT_IVL, &hb_ivl, sizeof hb_ivl) != 0 ||
        zmq_setsockopt(s, ZMQ_HEARTBEAT_TIMEOUT, &hb_tmo, sizeof hb_tmo) != 0 ||
        zmq_setsockopt(s, ZMQ_RECONNECT_IVL, &rivl, sizeof rivl) != 0 ||
        zmq_setsockopt(s, ZMQ_RECONNECT_IVL_MAX, &rivl_max, sizeof rivl_max) != 0)
        return -errno;
    return cohort_curve_apply(s, &self->curve, err, sizeof err);
}

/* A new DEALER for snapshot requests (the old one, if any, is closed). */
static int open_dealer(cohort_sub_t *self)
{
    int rc;

    close_sock(&self->dealer);
    if (!(self->dealer = zmq_socket(self->zctx, ZMQ_DEALER)))
        return -errno;
    if ((rc = sock_opts(self, self->dealer)) < 0)
        return rc;
    if (zmq_connect(self->dealer, self->snapshot) != 0)
        return -errno;
    return 0;
}

/* A new subscription DEALER: connected to the publish socket, with one
 * {"subscribe":P} request per prefix queued (libzmq sends them once the
 * connection is up). The daemon answers each with $subscribed or $error;
 * the snapshot is asked for once every one is answered, which proves the
 * subscriptions are live at the publisher. */
static int open_sub(cohort_sub_t *self)
{
    int rc;

    close_mon(self);
    close_sock(&self->sub);
    self->answers = 0;
    self->granted = 0;
    if (!(self->sub = zmq_socket(self->zctx, ZMQ_DEALER)))
        return -errno;
    if ((rc = sock_opts(self, self->sub)) < 0)
        return rc;
    if (self->curve.on && (rc = open_mon(self)) < 0)
        return rc;
    if (zmq_connect(self->sub, self->publish) != 0)
        return -errno;
    for (size_t i = 0; i < self->nprefixes; i++) {
        json_t *o = json_pack("{s:s}", "subscribe", self->prefixes[i]);
        char *req = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        if (!req)
            return -ENOMEM;
        rc = zmq_send(self->sub, req, strlen(req), ZMQ_DONTWAIT);
        free(req);
        if (rc < 0)
            return -errno;
    }
    return 0;
}

/* Reads one whole message: the first up to 3 frames into parts (the caller
 * closes *nparts of them; more are read and dropped). Returns the number of
 * frames (>= 1), 0 when none is waiting, or -errno. */
static int read_msg(void *s, zmq_msg_t parts[3], int *nparts)
{
    int n = 0, more;
    size_t ml = sizeof more;

    *nparts = 0;
    do {
        zmq_msg_t tmp, *m = n < 3 ? &parts[n] : &tmp;
        zmq_msg_init(m);
        if (zmq_msg_recv(m, s, n == 0 ? ZMQ_DONTWAIT : 0) < 0) {
            int e = errno;
            zmq_msg_close(m);
            if (n == 0 && e == EAGAIN)
                return 0;
            return -e;
        }
        if (zmq_getsockopt(s, ZMQ_RCVMORE, &more, &ml) != 0)
            more = 0;
        if (n < 3)
            (*nparts)++;
        else
            zmq_msg_close(m);
        n++;
    } while (more);
    return n;
}

static void close_parts(zmq_msg_t *parts, int n)
{
    for (int i = 0; i < n; i++)
        zmq_msg_close(&parts[i]);
}

/* Copies a topic frame into buf (NUL-terminated). Returns 0, or -1 if it
 * is too long or holds a NUL byte. */
static int frame_topic(zmq_msg_t *m, char *buf)
{
    size_t len = zmq_msg_size(m);

    if (len > COHORT_SUB_MAX_TOPIC || memchr(zmq_msg_data(m), '\0', len))
        return -1;
    memcpy(buf, zmq_msg_data(m), len);
    buf[len] = '\0';
    return 0;
}

/* Parses an envelope whose frame topic is topic. Returns 0 and m, or -1. */
static int parse_env(zmq_msg_t *body, const char *topic, msg_t *m)
{
    json_t *env, *t, *ep, *rev, *seq, *doc;

    memset(m, 0, sizeof *m);
    env = json_loadb(zmq_msg_data(body), zmq_msg_size(body), 0, NULL);
    if (!env)
        return -1;
    t = json_object_get(env, "topic");
    ep = json_object_get(env, "epoch");
    rev = json_object_get(env, "rev");
    seq = json_object_get(env, "seq");
    doc = json_object_get(env, "doc");
    if (!json_is_object(env) || !json_is_string(t) || strcmp(json_string_value(t), topic) != 0 ||
        !json_is_string(ep) || json_string_length(ep) == 0 || json_string_length(ep) > MAX_EPOCH ||
        strlen(json_string_value(ep)) != json_string_length(ep) || !json_is_integer(rev) ||
        json_integer_value(rev) < 1 || !json_is_integer(seq) || json_integer_value(seq) < 0 ||
        !doc || !(json_is_object(doc) || json_is_null(doc))) {
        json_decref(env);
        return -1;
    }
    m->env = env;
    m->topic = json_string_value(t);
    m->epoch = json_string_value(ep);
    m->doc = json_is_null(doc) ? NULL : doc;
    m->rev = (uint64_t)json_integer_value(rev);
    m->seq = (uint64_t)json_integer_value(seq);
    m->bytes = zmq_msg_size(body) + strlen(topic);
    return 0;
}

/* ------------------------------------------------------------- resync --- */

static void q_clear(cohort_sub_t *self)
{
    for (size_t i = 0; i < self->qn; i++)
        msg_free(&self->q[i]);
    self->qn = 0;
    self->qbytes = 0;
}

/* Starts over: drops the queue and any snapshot being built, replaces the
 * DEALER (and the SUB when reconnect), asks for the snapshot again, and
 * reports a RESYNC. The state held stays until the new snapshot is in. */
static int resync(cohort_sub_t *self, int reconnect, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    vsnprintf(self->why, sizeof self->why, fmt, ap);
    va_end(ap);
    self->st.resyncs++;
    q_clear(self);
    t_clear(&self->snap);
    self->snap_epoch[0] = '\0';
    self->in_flight = 0;
    self->k = 0;
    self->snap_got = 0;
    if (reconnect) {
        self->phase = P_WAIT;
        self->need_send = 0;
        self->last_hb = now_ms();
        close_sock(&self->dealer);
        if ((rc = open_sub(self)) < 0)
            return rc;
    } else {
        self->phase = P_SNAP;
        self->need_send = 1;
        self->send_at = now_ms();
    }
    if ((rc = open_dealer(self)) < 0)
        return rc;
    event(self, COHORT_SUB_RESYNC, self->why);
    return 0;
}

/* A failed snapshot request: report RETRY and ask again for the same
 * prefix on a fresh DEALER, at once or after the snapshot timeout. */
static int retry(cohort_sub_t *self, int later, const char *fmt, ...)
{
    va_list ap;
    entry_t *keep;
    int rc;

    va_start(ap, fmt);
    vsnprintf(self->why, sizeof self->why, fmt, ap);
    va_end(ap);
    self->st.snapshot_retries++;
    /* Drop what this prefix's partial reply added: it is asked for again. */
    for (size_t i = 0; i < self->snap.n;) {
        keep = self->snap.v[i];
        if (starts_with(keep->topic, self->snapp[self->k])) {
            json_decref(keep->doc);
            free(keep);
            memmove(self->snap.v + i, self->snap.v + i + 1,
                    (self->snap.n - i - 1) * sizeof *self->snap.v);
            self->snap.n--;
        } else {
            i++;
        }
    }
    if (self->k == 0)
        self->snap_epoch[0] = '\0';
    self->in_flight = 0;
    self->need_send = 1;
    self->snap_got = 0;
    self->send_at = now_ms() + (later ? self->o.snapshot_timeout_ms : 0);
    if ((rc = open_dealer(self)) < 0)
        return rc;
    event(self, COHORT_SUB_RETRY, self->why);
    return 0;
}

/* ------------------------------------------------------------ applying --- */

/* Applies one update by the epoch and rev rules (LIVE only). Takes m. */
static int apply(cohort_sub_t *self, msg_t *m)
{
    entry_t *e;
    size_t at;
    long c;
    int rc = 0;

    if (strcmp(m->epoch, self->epoch) != 0) {
        rc = resync(self, 0, "epoch changed");
        goto out;
    }
    if (strcmp(m->topic, SYSTEM) == 0)
        goto out;
    e = t_find(&self->state, m->topic, &at);
    if (e) {
        if (m->rev <= e->rev) {
            self->st.stale++;
        } else if (m->rev == e->rev + 1) {
            e_set(e, m, 0);
            self->st.applied++;
            deliver(self, e);
        } else {
            rc = resync(self, 0, "gap on %.200s: rev %llu after %llu", m->topic,
                        (unsigned long long)m->rev, (unsigned long long)e->rev);
        }
        goto out;
    }
    c = cover(self, m->topic);
    if (c < 0 || m->seq <= self->snap_end[c]) {
        self->st.stale++; /* older than the snapshot, which did not have it */
    } else if (m->rev == 1) {
        if (!(e = t_insert(&self->state, at, m->topic))) {
            rc = -ENOMEM;
            goto out;
        }
        e_set(e, m, 0);
        self->st.applied++;
        if (e->doc)
            deliver(self, e);
    } else {
        rc = resync(self, 0, "gap on %.200s: rev %llu for a new topic", m->topic,
                    (unsigned long long)m->rev);
    }
out:
    msg_free(m);
    return rc;
}

/* The last prefix's $end is in: the snapshot replaces the state (callbacks
 * for what changed and what is gone), then the queue is applied. */
static int complete(cohort_sub_t *self)
{
    table_t old = self->state;
    int same_epoch = strcmp(self->epoch, self->snap_epoch) == 0;
    size_t i = 0, j = 0, qn = self->qn;
    msg_t *q = self->q;
    int rc = 0;

    self->state = self->snap;
    memset(&self->snap, 0, sizeof self->snap);
    memcpy(self->epoch, self->snap_epoch, sizeof self->epoch);
    memcpy(self->snap_end, self->snap_end_new, self->nsnap * sizeof *self->snap_end);
    self->phase = P_LIVE;
    self->in_flight = self->need_send = 0;
    self->q = NULL;
    self->qn = self->qcap = self->qbytes = 0;

    /* Merge the two sorted tables. */
    while (i < self->state.n || j < old.n) {
        entry_t *n = i < self->state.n ? self->state.v[i] : NULL;
        entry_t *o = j < old.n ? old.v[j] : NULL;
        int c = !n ? 1 : !o ? -1 : strcmp(n->topic, o->topic);
        if (c <= 0) {
            self->st.applied++;
            if (!(c == 0 && same_epoch && o->doc && o->rev == n->rev))
                deliver(self, n);
            i++;
            j += c == 0;
        } else {
            if (o->doc) {
                long cv = cover(self, o->topic);
                json_decref(o->doc);
                o->doc = NULL;
                o->seq = cv >= 0 ? self->snap_end[cv] : o->seq;
                o->snapshot = 1;
                deliver(self, o);
            }
            j++;
        }
    }
    t_fini(&old);

    /* The queue, by the same rules as live updates; a resync on the way
     * drops the rest (it is older than the snapshot to come). */
    for (size_t x = 0; x < qn; x++) {
        if (rc == 0 && self->phase == P_LIVE)
            rc = apply(self, &q[x]);
        else
            msg_free(&q[x]);
    }
    free(q);
    if (rc < 0)
        return rc;
    if (self->phase == P_LIVE) {
        self->st.syncs++;
        event(self, COHORT_SUB_SYNCED, "");
    }
    return 0;
}

/* --------------------------------------------------------------- input --- */

/* Queues m (SNAP and WAIT). Takes m. */
static int enqueue(cohort_sub_t *self, msg_t *m)
{
    if (self->qn >= self->o.queue_max || self->qbytes + m->bytes > self->o.queue_bytes_max) {
        msg_free(m);
        if (self->qn >= self->o.queue_max)
            return resync(self, 0, "pre-snapshot queue over %u updates", self->o.queue_max);
        return resync(self, 0, "pre-snapshot queue over %zu bytes", self->o.queue_bytes_max);
    }
    if (self->qn == self->qcap) {
        size_t nc = self->qcap ? self->qcap * 2 : 64;
        msg_t *nq;
        if (nc > self->o.queue_max)
            nc = self->o.queue_max;
        if (!(nq = realloc(self->q, nc * sizeof *nq))) {
            msg_free(m);
            return -ENOMEM;
        }
        self->q = nq;
        self->qcap = nc;
    }
    self->q[self->qn++] = *m;
    self->qbytes += m->bytes;
    self->st.queued++;
    return 0;
}

/* 1 if the daemon's $error reason (NULL: none given) can clear by itself,
 * so that the same request may succeed later; 0 if it would come again.
 * The daemon's refusals carry no code: only its capacity limit is
 * transient (daemon/publish.c, PUBLISH_MAX_SUBS). */
static int transient(const char *reason)
{
    return reason != NULL && strcmp(reason, "too many subscribers") == 0;
}

/* A refusal that would come again: stops the subscriber for good and
 * reports DENIED with self->why. Returns -EACCES. */
static int deny(cohort_sub_t *self)
{
    self->denied = 1;
    close_sock(&self->dealer);
    close_mon(self);
    close_sock(&self->sub);
    event(self, COHORT_SUB_DENIED, self->why);
    return -EACCES;
}

/* Handles an answer to a subscription request: $subscribed or $error.
 * Once every request is answered the subscriptions are live: ask for the
 * snapshot (or, if none was granted, wait for the heartbeat timeout to try
 * again). A refusal that would come again stops the subscriber (DENIED);
 * a transient one is reported REFUSED. */
static int on_answer(cohort_sub_t *self, const char *topic, zmq_msg_t *body)
{
    if (strcmp(topic, "$subscribed") == 0) {
        self->granted++;
    } else if (strcmp(topic, "$error") == 0) {
        json_t *o = json_loadb(zmq_msg_data(body), zmq_msg_size(body), 0, NULL);
        json_t *e = json_object_get(o, "error"), *p = json_object_get(o, "prefix");
        int again = transient(json_string_value(e));
        self->st.refused++;
        snprintf(self->why, sizeof self->why, "subscription%s%.100s%s refused: %.100s",
                 json_is_string(p) ? " to '" : "", json_is_string(p) ? json_string_value(p) : "",
                 json_is_string(p) ? "'" : "",
                 json_is_string(e) ? json_string_value(e) : "no reason given");
        json_decref(o);
        if (!again)
            return deny(self);
        event(self, COHORT_SUB_REFUSED, self->why);
    } else {
        return 0; /* $unsubscribed: nothing to do */
    }
    if (self->phase != P_WAIT || ++self->answers < self->nprefixes || self->granted == 0)
        return 0;
    /* The subscriptions are live: ask for the snapshot now. */
    self->phase = P_SNAP;
    self->k = 0;
    self->need_send = 1;
    self->send_at = now_ms();
    return 0;
}

/* CURVE: reads the handshake refusals the monitor saw (never blocks). ZAP
 * status 400 (the daemon does not know this key, or no longer) would come
 * again on every reconnect: DENIED. 300 and 500 are the daemon's
 * temporary and internal errors: the reconnects go on. Returns 0 or
 * -EACCES. */
static int read_mon(cohort_sub_t *self)
{
    for (int n = 0; self->mon && n < 64; n++) {
        uint16_t ev;
        uint32_t val;
        if (!cohort_zmon_read(self->mon, &ev, &val))
            return 0;
        if (ev == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH && val == 400) {
            self->st.refused++;
            snprintf(self->why, sizeof self->why,
                     "the daemon refused this key's handshake (ZAP status 400): is its public key "
                     "in the daemon's access file?");
            return deny(self);
        }
    }
    return 0;
}

/* Handles one message from the subscription socket. */
static int on_sub(cohort_sub_t *self, zmq_msg_t *parts, int nframes)
{
    char topic[COHORT_SUB_MAX_TOPIC + 1];
    int is_sys;
    msg_t m;

    self->st.received++;
    if (nframes != 2 || frame_topic(&parts[0], topic) < 0) {
        self->st.bad++;
        return 0;
    }
    if (topic[0] == '$')
        return on_answer(self, topic, &parts[1]);
    is_sys = strcmp(topic, SYSTEM) == 0;
    if (!is_sys && cover(self, topic) < 0)
        return 0; /* matched "system" as a prefix only, e.g. "systemd/..." */
    if (parse_env(&parts[1], topic, &m) < 0) {
        self->st.bad++;
        return 0;
    }
    if (is_sys) {
        json_t *h = m.doc ? json_object_get(m.doc, "head_seq") : NULL;
        json_t *t = m.doc ? json_object_get(m.doc, "topics") : NULL;
        self->st.heartbeats++;
        self->last_hb = now_ms();
        if (json_is_integer(h) && json_integer_value(h) >= 0)
            self->st.head_seq = (uint64_t)json_integer_value(h);
        if (json_is_integer(t) && json_integer_value(t) >= 0)
            self->st.topics = (uint64_t)json_integer_value(t);
    } else if (self->o.drop_every && ++self->drop_n % self->o.drop_every == 0) {
        self->st.dropped++;
        msg_free(&m);
        return 0;
    }
    switch (self->phase) {
    case P_WAIT:
        if (is_sys) {
            msg_free(&m);
            return 0;
        }
        return enqueue(self, &m);
    case P_SNAP:
        return enqueue(self, &m);
    default:
        return apply(self, &m);
    }
}

/* Handles one message from the DEALER (a snapshot reply part). */
static int on_dealer(cohort_sub_t *self, zmq_msg_t *parts, int nframes)
{
    char name[COHORT_SUB_MAX_TOPIC + 1];
    const char *prefix;
    zmq_msg_t *p = parts;
    msg_t m;
    entry_t *e;
    size_t at;

    if (self->phase != P_SNAP || !self->in_flight)
        return 0; /* not asked for (cannot happen: a new DEALER per request) */
    prefix = self->snapp[self->k];
    self->snap_deadline = now_ms() + self->o.snapshot_timeout_ms;
    if (nframes == 3 && zmq_msg_size(&parts[0]) == 0) { /* REQ-style delimiter */
        p++;
        nframes--;
    }
    if (nframes != 2 || frame_topic(&p[0], name) < 0) {
        self->st.bad++;
        return retry(self, 1, "bad snapshot reply from %s", self->snapshot);
    }
    if (strcmp(name, "$error") == 0) {
        json_t *j = json_loadb(zmq_msg_data(&p[1]), zmq_msg_size(&p[1]), 0, NULL);
        const char *r = json_string_value(json_object_get(j, "error"));
        int rc;
        if (transient(r)) {
            rc = retry(self, 1, "snapshot error from %s: %.160s", self->snapshot, r);
        } else {
            self->st.refused++;
            snprintf(self->why, sizeof self->why, "snapshot of '%.80s' refused: %.120s", prefix,
                     r ? r : "no reason given");
            rc = deny(self);
        }
        json_decref(j);
        return rc;
    }
    if (strcmp(name, "$end") == 0) {
        json_t *j = json_loadb(zmq_msg_data(&p[1]), zmq_msg_size(&p[1]), 0, NULL);
        json_t *ep = json_object_get(j, "epoch"), *seq = json_object_get(j, "seq");
        json_t *cnt = json_object_get(j, "count");
        const char *eps = json_string_value(ep);
        uint64_t s, n;
        if (!eps || *eps == '\0' || strlen(eps) > MAX_EPOCH || !json_is_integer(seq) ||
            json_integer_value(seq) < 0 || !json_is_integer(cnt) || json_integer_value(cnt) < 0) {
            json_decref(j);
            self->st.bad++;
            return retry(self, 1, "bad snapshot end marker from %s", self->snapshot);
        }
        s = (uint64_t)json_integer_value(seq);
        n = (uint64_t)json_integer_value(cnt);
        if (self->snap_epoch[0] != '\0' && strcmp(self->snap_epoch, eps) != 0) {
            json_decref(j);
            return resync(self, 0, "epoch changed");
        }
        snprintf(self->snap_epoch, sizeof self->snap_epoch, "%s", eps);
        json_decref(j);
        if (n != self->snap_got)
            return retry(self, 1, "snapshot of '%.200s' incomplete: %llu of %llu topics", prefix,
                         (unsigned long long)self->snap_got, (unsigned long long)n);
        self->snap_end_new[self->k] = s;
        self->in_flight = 0;
        self->snap_got = 0;
        if (++self->k < self->nsnap) {
            self->need_send = 1;
            self->send_at = now_ms();
            return 0;
        }
        return complete(self);
    }
    self->snap_got++;
    if (parse_env(&p[1], name, &m) < 0) {
        self->st.bad++;
        return retry(self, 1, "bad snapshot reply from %s", self->snapshot);
    }
    if (strcmp(name, SYSTEM) == 0 || !starts_with(name, prefix)) {
        msg_free(&m);
        return 0;
    }
    if (self->snap_epoch[0] == '\0') {
        snprintf(self->snap_epoch, sizeof self->snap_epoch, "%s", m.epoch);
    } else if (strcmp(self->snap_epoch, m.epoch) != 0) {
        msg_free(&m);
        return resync(self, 0, "epoch changed");
    }
    e = t_find(&self->snap, name, &at);
    if (!e && !(e = t_insert(&self->snap, at, name))) {
        msg_free(&m);
        return -ENOMEM;
    }
    if (e->rev < m.rev || !e->doc)
        e_set(e, &m, 1);
    msg_free(&m);
    return 0;
}

/* Sends the snapshot request for prefix k if due. */
static int send_request(cohort_sub_t *self, uint64_t now)
{
    json_t *j;
    char *s;
    int rc = 0;

    if (self->phase != P_SNAP || !self->need_send || now < self->send_at)
        return 0;
    j = json_pack("{s:s}", "snapshot", self->snapp[self->k]);
    s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!s)
        return -ENOMEM;
    if (zmq_send(self->dealer, s, strlen(s), ZMQ_DONTWAIT) < 0) {
        if (errno == EAGAIN)
            self->send_at = now + SEND_RETRY_MS;
        else
            rc = -errno;
    } else {
        self->need_send = 0;
        self->in_flight = 1;
        self->snap_got = 0;
        self->snap_deadline = now + self->o.snapshot_timeout_ms;
        self->st.snapshot_requests++;
    }
    free(s);
    return rc;
}

/* Reads up to RECV_CAP messages from a socket. which: 0 SUB, 1 DEALER. */
static int drain(cohort_sub_t *self, int which)
{
    zmq_msg_t parts[3];
    int np, n, rc;

    for (int i = 0; i < RECV_CAP; i++) {
        void *s = which ? self->dealer : self->sub; /* may change on resync */
        if (!s)
            return 0;
        if ((n = read_msg(s, parts, &np)) <= 0)
            return n;
        rc = which ? on_dealer(self, parts, n) : on_sub(self, parts, n);
        close_parts(parts, np);
        if (rc < 0)
            return rc;
    }
    self->more = 1;
    return 0;
}

/* ----------------------------------------------------------------- API --- */

/* Fills snapp: the prefixes sorted, without those another one covers. */
static int snap_prefixes(cohort_sub_t *self)
{
    size_t n = self->nprefixes;

    self->snapp = calloc(n, sizeof *self->snapp);
    self->snap_end = calloc(n, sizeof *self->snap_end);
    self->snap_end_new = calloc(n, sizeof *self->snap_end_new);
    if (!self->snapp || !self->snap_end || !self->snap_end_new)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const char *p = self->prefixes[i];
        int covered = 0;
        for (size_t j = 0; j < n && !covered; j++)
            if (j != i && starts_with(p, self->prefixes[j]) &&
                (strcmp(p, self->prefixes[j]) != 0 || j < i))
                covered = 1;
        if (covered)
            continue;
        /* insertion sort */
        size_t at = self->nsnap;
        while (at > 0 && strcmp(self->snapp[at - 1], p) > 0) {
            self->snapp[at] = self->snapp[at - 1];
            at--;
        }
        self->snapp[at] = self->prefixes[i];
        self->nsnap++;
    }
    return 0;
}

cohort_sub_t *cohort_sub_new(const cohort_sub_opts_t *opts)
{
    cohort_sub_t *self = NULL;
    int e = EINVAL, rc;

    if (!opts || !opts->prefixes || opts->nprefixes == 0 ||
        opts->nprefixes > COHORT_SUB_MAX_PREFIXES)
        goto fail;
    for (size_t i = 0; i < opts->nprefixes; i++)
        if (!opts->prefixes[i] || strlen(opts->prefixes[i]) > COHORT_SUB_MAX_TOPIC)
            goto fail;
    e = ENOMEM;
    if (!(self = calloc(1, sizeof *self)))
        goto fail;
    self->o = *opts;
    if (!self->o.heartbeat_timeout_ms)
        self->o.heartbeat_timeout_ms = 3000;
    if (!self->o.snapshot_timeout_ms)
        self->o.snapshot_timeout_ms = 2000;
    if (!self->o.queue_max)
        self->o.queue_max = 100000;
    if (!self->o.queue_bytes_max)
        self->o.queue_bytes_max = (size_t)64 << 20;
    if (!self->o.max_msg_bytes)
        self->o.max_msg_bytes = 16u << 20;
    self->publish = strdup(opts->publish ? opts->publish : COHORT_SUB_DEFAULT_PUBLISH);
    self->snapshot = strdup(opts->snapshot ? opts->snapshot : COHORT_SUB_DEFAULT_SNAPSHOT);
    self->prefixes = calloc(opts->nprefixes, sizeof *self->prefixes);
    if (!self->publish || !self->snapshot || !self->prefixes)
        goto fail;
    self->o.publish = self->publish;
    self->o.snapshot = self->snapshot;
    self->o.curve = NULL; /* the copy below is used */
    if (opts->curve && opts->curve->on)
        self->curve = *opts->curve;
    self->o.prefixes = NULL; /* the copies below are used */
    for (size_t i = 0; i < opts->nprefixes; i++) {
        if (!(self->prefixes[i] = strdup(opts->prefixes[i])))
            goto fail;
        self->nprefixes++;
    }
    if (snap_prefixes(self) < 0)
        goto fail;

    self->zctx = opts->zctx;
    if (!self->zctx) {
        if (!(self->zctx = zmq_ctx_new())) {
            e = errno;
            goto fail;
        }
        self->own_ctx = 1;
    }
    self->phase = P_WAIT;
    self->last_hb = now_ms();
    if ((rc = open_sub(self)) < 0 || (rc = open_dealer(self)) < 0) {
        e = -rc;
        goto fail;
    }
    return self;

fail:
    cohort_sub_destroy(&self);
    errno = e;
    return NULL;
}

void cohort_sub_destroy(cohort_sub_t **self_p)
{
    cohort_sub_t *self;

    if (!self_p || !*self_p)
        return;
    self = *self_p;
    *self_p = NULL;
    close_mon(self);
    close_sock(&self->sub);
    close_sock(&self->dealer);
    if (self->own_ctx)
        zmq_ctx_term(self->zctx);
    q_clear(self);
    free(self->q);
    t_fini(&self->state);
    t_fini(&self->snap);
    for (size_t i = 0; i < self->nprefixes; i++)
        free(self->prefixes[i]);
    free(self->prefixes);
    free(self->snapp);
    free(self->snap_end);
    free(self->snap_end_new);
    free(self->publish);
    free(self->snapshot);
    cohort_curve_clear(&self->curve);
    free(self);
}

int cohort_sub_pump(cohort_sub_t *self)
{
    uint64_t now;
    int rc;

    if (!self)
        return -EINVAL;
    if (self->denied)
        return -EACCES;
    self->more = 0;
    self->delivered = 0;
    /* The snapshot reply first: it ends the queueing sooner. The monitor
     * before the heartbeat check, which replaces the socket it watches. */
    if ((rc = drain(self, 1)) < 0 || (rc = drain(self, 0)) < 0 || (rc = read_mon(self)) < 0)
        return rc;
    now = now_ms();
    if (now - self->last_hb >= self->o.heartbeat_timeout_ms) {
        char d[32];
        fmt_ms(d, sizeof d, self->o.heartbeat_timeout_ms);
        if ((rc = resync(self, 1, "no heartbeat for %s", d)) < 0)
            return rc;
    }
    now = now_ms();
    if (self->phase == P_SNAP && self->in_flight && now >= self->snap_deadline) {
        char d[32];
        fmt_ms(d, sizeof d, self->o.snapshot_timeout_ms);
        if ((rc = retry(self, 0, "no snapshot of '%.200s' from %.200s in %s", self->snapp[self->k],
                        self->snapshot, d)) < 0)
            return rc;
    }
    if ((rc = send_request(self, now_ms())) < 0)
        return rc;
    return self->delivered;
}

int cohort_sub_pollitems(cohort_sub_t *self, zmq_pollitem_t *items)
{
    int n = 0;

    if (self->sub)
        items[n++] = (zmq_pollitem_t){.socket = self->sub, .fd = -1, .events = ZMQ_POLLIN};
    if (self->dealer)
        items[n++] = (zmq_pollitem_t){.socket = self->dealer, .fd = -1, .events = ZMQ_POLLIN};
    return n;
}

long cohort_sub_timeout(cohort_sub_t *self)
{
    uint64_t now = now_ms();
    uint64_t t = self->last_hb + self->o.heartbeat_timeout_ms;

    if (self->more)
        return 0;
    if (self->phase == P_SNAP) {
        if (self->in_flight && self->snap_deadline < t)
            t = self->snap_deadline;
        if (self->need_send && self->send_at < t)
            t = self->send_at;
    }
    return t <= now ? 0 : (long)(t - now);
}

int cohort_sub_run(cohort_sub_t *self, long timeout_ms)
{
    uint64_t end = now_ms() + (timeout_ms > 0 ? (uint64_t)timeout_ms : 0);
    zmq_pollitem_t items[COHORT_SUB_POLLITEMS];

    if (!self)
        return -EINVAL;
    self->stop = 0;
    for (;;) {
        long t = cohort_sub_timeout(self);
        int n, rc;
        if (timeout_ms >= 0) {
            uint64_t now = now_ms();
            long left = now >= end ? 0 : (long)(end - now);
            if (t > left)
                t = left;
        }
        n = cohort_sub_pollitems(self, items);
        if (zmq_poll(items, n, t) < 0)
            return -errno;
        if ((rc = cohort_sub_pump(self)) < 0)
            return rc;
        if (self->stop) {
            self->stop = 0;
            return 1;
        }
        if (timeout_ms >= 0 && now_ms() >= end)
            return 0;
    }
}

void cohort_sub_stop(cohort_sub_t *self)
{
    self->stop = 1;
}

int cohort_sub_synced(const cohort_sub_t *self)
{
    return self->phase == P_LIVE;
}

const char *cohort_sub_epoch(const cohort_sub_t *self)
{
    return self->epoch;
}

int cohort_sub_get(const cohort_sub_t *self, const char *topic, cohort_sub_doc_t *out)
{
    const entry_t *e = topic ? t_find(&self->state, topic, NULL) : NULL;

    if (!e || !e->doc)
        return -ENOENT;
    e_view(e, self->epoch, out);
    return 0;
}

size_t cohort_sub_each(const cohort_sub_t *self, const char *prefix, cohort_sub_each_fn *fn,
                       void *arg)
{
    size_t i = 0, calls = 0;
    cohort_sub_doc_t d;

    if (!prefix)
        prefix = "";
    t_find(&self->state, prefix, &i); /* first topic >= prefix */
    for (; i < self->state.n; i++) {
        const entry_t *e = self->state.v[i];
        if (!starts_with(e->topic, prefix))
            break;
        if (!e->doc)
            continue;
        e_view(e, self->epoch, &d);
        calls++;
        if (fn(arg, &d) != 0)
            break;
    }
    return calls;
}

size_t cohort_sub_count(const cohort_sub_t *self)
{
    size_t n = 0;

    for (size_t i = 0; i < self->state.n; i++)
        n += self->state.v[i]->doc != NULL;
    return n;
}

void cohort_sub_stats(const cohort_sub_t *self, cohort_sub_stats_t *out)
{
    *out = self->st;
}

const char *cohort_sub_event_name(cohort_sub_event_t ev)
{
    switch (ev) {
    case COHORT_SUB_SYNCED:
        return "SYNCED";
    case COHORT_SUB_RESYNC:
        return "RESYNC";
    case COHORT_SUB_RETRY:
        return "RETRY";
    case COHORT_SUB_REFUSED:
        return "REFUSED";
    case COHORT_SUB_DENIED:
        return "DENIED";
    }
    return "UNKNOWN";
}

/* ------------------------------------------------- release history --- */

/* Reads one whole message from s into parts (at most 2 frames kept; more
 * is malformed). Returns the frame count, or a negative errno. */
static int recv_parts(void *s, zmq_msg_t parts[2])
{
    int n = 0, more = 1;
    size_t ml = sizeof more;
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, s, 0) < 0) {
            int e = errno;
            zmq_msg_close(&m);
            for (int i = 0; i < n && i < 2; i++)
                zmq_msg_close(&parts[i]);
            return -e;
        }
        if (zmq_getsockopt(s, ZMQ_RCVMORE, &more, &ml) != 0)
            more = 0;
        if (n < 2)
            parts[n] = m;
        else
            zmq_msg_close(&m);
        n++;
    }
    return n;
}

/* Fails a cohort_sub_releases call: the message into err, *code. */
static json_t *rel_fail(int *code, int rc, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static json_t *rel_fail(int *code, int rc, char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (code)
        *code = rc;
    if (err && errlen) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return NULL;
}

json_t *cohort_sub_releases(void *zctx, const char *snapshot, const cohort_curve_t *curve,
                            const char *topic, long timeout_ms, size_t *omitted, int *code,
                            char *err, size_t errlen)
{
    void *ctx = zctx, *s = NULL;
    zmq_msg_t parts[2];
    json_t *req = NULL, *ans = NULL, *out = NULL;
    char *body = NULL, kerr[256];
    int zero = 0, n = 0, rc;
    int64_t maxmsg = 16 << 20; /* as a subscriber's default max_msg_bytes */
    if (omitted)
        *omitted = 0;
    if (code)
        *code = 0;
    if (!topic || strncmp(topic, "release/", 8) != 0 || strlen(topic) > COHORT_SUB_MAX_TOPIC)
        return rel_fail(code, -EINVAL, err, errlen, "not a release topic");
    if (timeout_ms <= 0)
        timeout_ms = 5000;
    if (!ctx && !(ctx = zmq_ctx_new()))
        return rel_fail(code, -errno, err, errlen, "zmq_ctx_new: %s", zmq_strerror(errno));
    if (!(s = zmq_socket(ctx, ZMQ_DEALER)) ||
        zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
        zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) != 0) {
        rel_fail(code, -errno, err, errlen, "socket: %s", zmq_strerror(errno));
        goto out;
    }
    if (curve && curve->on && (rc = cohort_curve_apply(s, curve, kerr, sizeof kerr)) < 0) {
        rel_fail(code, rc, err, errlen, "%s", kerr);
        goto out;
    }
    if (zmq_connect(s, snapshot ? snapshot : COHORT_SUB_DEFAULT_SNAPSHOT) != 0) {
        rel_fail(code, -errno, err, errlen, "cannot connect to %s: %s",
                 snapshot ? snapshot : COHORT_SUB_DEFAULT_SNAPSHOT, zmq_strerror(errno));
        goto out;
    }
    if (!(req = json_pack("{s:s}", "releases", topic)) || !(body = json_dumps(req, JSON_COMPACT))) {
        rel_fail(code, -ENOMEM, err, errlen, "out of memory");
        goto out;
    }
    if (zmq_send(s, body, strlen(body), 0) < 0) {
        rel_fail(code, -errno, err, errlen, "send: %s", zmq_strerror(errno));
        goto out;
    }
    {
        zmq_pollitem_t it = {.socket = s, .fd = -1, .events = ZMQ_POLLIN};
        rc = zmq_poll(&it, 1, timeout_ms);
        if (rc <= 0) {
            rel_fail(code, rc < 0 ? -errno : -ETIMEDOUT, err, errlen,
                     "no answer from %s within %ld ms",
                     snapshot ? snapshot : COHORT_SUB_DEFAULT_SNAPSHOT, timeout_ms);
            goto out;
        }
    }
    if ((n = recv_parts(s, parts)) < 0) {
        rel_fail(code, n, err, errlen, "receive: %s", zmq_strerror(-n));
        n = 0;
        goto out;
    }
    if (n != 2) {
        rel_fail(code, -EPROTO, err, errlen, "malformed answer (%d frames)", n);
        goto out;
    }
    ans = json_loadb(zmq_msg_data(&parts[1]), zmq_msg_size(&parts[1]), 0, NULL);
    if (zmq_msg_size(&parts[0]) == 6 && memcmp(zmq_msg_data(&parts[0]), "$error", 6) == 0) {
        const char *why = json_string_value(json_object_get(ans, "error"));
        rel_fail(code, -EACCES, err, errlen, "refused: %s", why ? why : "(no reason)");
        goto out;
    }
    if (zmq_msg_size(&parts[0]) != 9 || memcmp(zmq_msg_data(&parts[0]), "$releases", 9) != 0 ||
        !json_is_array(json_object_get(ans, "versions")) ||
        !json_is_string(json_object_get(ans, "releases")) ||
        strcmp(json_string_value(json_object_get(ans, "releases")), topic) != 0) {
        rel_fail(code, -EPROTO, err, errlen, "malformed answer");
        goto out;
    }
    out = json_incref(json_object_get(ans, "versions"));
    if (omitted && json_is_integer(json_object_get(ans, "omitted")))
        *omitted = (size_t)json_integer_value(json_object_get(ans, "omitted"));
out:
    for (int i = 0; i < n && i < 2; i++)
        zmq_msg_close(&parts[i]);
    json_decref(ans);
    json_decref(req);
    free(body);
    if (s)
        zmq_close(s);
    if (ctx && !zctx)
        zmq_ctx_term(ctx);
    return out;
}
