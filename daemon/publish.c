/* publish.c: status publishing (see publish.h for its contracts).
 *
 * State: a hash (uthash) of topics by name, each with its last published
 * envelope (the snapshot copy; NULL once removed), rev, last send time and
 * an optional pending document. Topics sent within the last coalesce_ms sit
 * on the "recent" list in send order, so the head is always the next to
 * come due; one uv_timer is armed for it. A pending topic is always on that
 * list (it became pending because it was sent less than coalesce_ms ago).
 * Envelopes are built with jansson around a "doc":null placeholder that is
 * replaced by the document text, so documents go out byte for byte. */
#include "publish.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <zmq.h>

#include "auth.h"
#include "log.h"
#include "zbridge.h"
#include "zmonitor.h"

#define HASH_NONFATAL_OOM 1
#include <uthash.h>
#include <utlist.h>

#define PUB_HWM 10000       /* queued messages per subscriber; beyond, PUB drops */
#define SNAP_HWM 10000      /* queued reply messages per snapshot client */
#define SNAP_RCVHWM 1000    /* queued requests per snapshot client */
#define SNAP_MAX_MSG 65536  /* a request is small; bounds what a peer makes us allocate */
#define SNAP_CAP 8          /* requests per drain call: fairness to other handles */
#define PREFIX_MAX 256      /* bytes of a snapshot prefix */
#define LINGER_MS 500       /* time given to unsent messages at close */
#define BEAT_MS 1000        /* heartbeat interval */
#define SYSTEM "system"     /* the heartbeat topic */
#define SUB_CAP 64          /* subscription messages per drain call */
#define SUB_MAX 512         /* longest subscription message we act on */
#define REBIND_WAIT_MS 1000 /* publish_drop_subscribers: most time waited for the old port */

/* One status topic, current or removed. */
typedef struct topic_s {
    char *name;                  /* the topic (hash key), owned */
    char *env;                   /* last published envelope; NULL when removed */
    size_t env_len;              /* its length in bytes */
    uint64_t rev;                /* revision of the last message sent */
    uint64_t last_ms;            /* uv_now when it was sent */
    int recent;                  /* on the recent list */
    int has_pend;                /* a pending document waits (pend NULL = removal) */
    char *pend;                  /* the pending document, owned */
    uint64_t pend_seq;           /* the log sequence it reflects */
    uint64_t bound;              /* publish_set_seq value when it became pending */
    struct topic_s *prev, *next; /* recent list (utlist DL) */
    UT_hash_handle hh;           /* topics by name */
} topic_t;

struct publish_t {
    uv_loop_t *loop;      /* the daemon's loop */
    void *zctx;           /* the ZeroMQ context (borrowed) */
    void *pub;            /* XPUB socket (manual subscriptions), owned; NULL while rebinding */
    zbridge_t *sbridge;   /* readiness of pub (subscription messages) on loop */
    zmonitor_t *pmon;     /* pub's handshake failures (logged with CURVE) and subscribers */
    zmonitor_t *smon;     /* the same for router */
    char *pub_ep;         /* the endpoint pub is bound to (as resolved by libzmq) */
    void *router;         /* snapshot ROUTER socket, owned */
    zbridge_t *bridge;    /* readiness of router on loop */
    auth_t *auth;         /* the key table (borrowed), or NULL: plaintext, all topics to all */
    const char *secret;   /* the server secret key (Z85, borrowed) when auth is set */
    uv_timer_t beat;      /* the 1 s heartbeat */
    uv_timer_t due;       /* the next coalescing deadline */
    int handles;          /* uv handles initialised and not yet closed */
    char epoch[17];       /* 16 lowercase hex digits, this run */
    unsigned coalesce_ms; /* minimum interval per topic, 0 = none */
    topic_t *topics;      /* hash by name, current and removed */
    topic_t *recent;      /* sent within coalesce_ms, oldest first */
    size_t live;          /* topics with a document (not removed) */
    size_t npend;         /* topics with a pending document */
    uint64_t handed;      /* last publish_set_seq */
    uint64_t beat_rev;    /* the heartbeat's own revision */
    publish_stats_t st;   /* counters */
    topic_t **sel;        /* snapshot scratch: the matching topics */
    size_t sel_cap;       /* its capacity */
    int send_logged;      /* a PUB send failure was already logged */
};

/* ------------------------------------------------------------ helpers --- */

/* The seq whose status has been published completely (see publish.h). */
static uint64_t done_seq(const publish_t *self)
{
    uint64_t s = self->handed;
    topic_t *t;
    if (self->npend)
        DL_FOREACH(self->recent, t)
        {
            if (t->has_pend && t->bound < s)
                s = t->bound;
        }
    return s;
}

/* Renders an envelope with doc (JSON text, NULL = null) into a malloc'd
 * string; *len gets its length. NULL on OOM. */
static char *envelope(const publish_t *self, const char *topic, uint64_t rev, uint64_t seq,
                      const char *doc, size_t *len)
{
    json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:n}", "topic", topic, "epoch", self->epoch, "rev",
                          (json_int_t)rev, "seq", (json_int_t)seq, "doc");
    char *head = o ? json_dumps(o, JSON_COMPACT) : NULL, *env = NULL;
    size_t hl, dl;
    json_decref(o);
    if (!head)
        return NULL;
    hl = strlen(head);
    if (!doc) {
        *len = hl;
        return head;
    }
    hl -= strlen("null}"); /* the placeholder ends the dump: keys keep insertion order */
    dl = strlen(doc);
    if ((env = malloc(hl + dl + 2))) {
        memcpy(env, head, hl);
        memcpy(env + hl, doc, dl);
        memcpy(env + hl + dl, "}", 2);
        *len = hl + dl + 1;
    }
    free(head);
    return env;
}

/* Sends [topic][env] on the PUB socket; counts a refusal. */
static void pub_send(publish_t *self, const char *topic, const char *env, size_t len)
{
    if (self->pub && zmq_send(self->pub, topic, strlen(topic), ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0 &&
        zmq_send(self->pub, env, len, ZMQ_DONTWAIT) >= 0)
        return;
    self->st.dropped++;
    if (!self->send_logged)
        cohort_log(LOG_WARNING, "publish: update not sent: %s", zmq_strerror(errno));
    self->send_logged = 1;
}

static void on_due(uv_timer_t *h);

/* Arms the coalescing timer for the head of the recent list. */
static void arm(publish_t *self)
{
    if (!self->recent || uv_is_active((uv_handle_t *)&self->due))
        return;
    uint64_t now = uv_now(self->loop), at = self->recent->last_ms + self->coalesce_ms;
    uv_timer_start(&self->due, on_due, at > now ? at - now : 0, 0);
}

/* Drops t's pending document, if any. */
static void unpend(publish_t *self, topic_t *t)
{
    if (!t->has_pend)
        return;
    free(t->pend);
    t->pend = NULL;
    t->has_pend = 0;
    self->npend--;
}

/* Sends doc (NULL = removal) for t now, as its next revision. Returns 0 or
 * -ENOMEM (nothing changed). */
static int emit(publish_t *self, topic_t *t, const char *doc, uint64_t seq)
{
    size_t len;
    char *env = envelope(self, t->name, t->rev + 1, seq, doc, &len);
    if (!env)
        return -ENOMEM;
    t->rev++;
    pub_send(self, t->name, env, len);
    self->st.published++;
    if (!t->env && doc)
        self->live++;
    else if (t->env && !doc)
        self->live--;
    free(t->env);
    t->env = doc ? env : NULL;
    t->env_len = doc ? len : 0;
    if (!doc)
        free(env);
    if (self->coalesce_ms) {
        if (t->recent)
            DL_DELETE(self->recent, t);
        DL_APPEND(self->recent, t);
        t->recent = 1;
        t->last_ms = uv_now(self->loop);
        arm(self);
    }
    return 0;
}

/* Sends t's pending document now. On OOM it stays pending. */
static int emit_pending(publish_t *self, topic_t *t)
{
    int rc = emit(self, t, t->pend, t->pend_seq);
    if (rc == 0)
        unpend(self, t);
    return rc;
}

/* Coalescing timer: sends what has come due, forgets what has aged out. */
static void on_due(uv_timer_t *h)
{
    publish_t *self = h->data;
    uint64_t now = uv_now(self->loop);
    topic_t *t;
    while ((t = self->recent) && t->last_ms + self->coalesce_ms <= now) {
        DL_DELETE(self->recent, t);
        t->recent = 0;
        if (t->has_pend && emit_pending(self, t) < 0) {
            /* out of memory: keep it pending and try again next interval */
            DL_APPEND(self->recent, t);
            t->recent = 1;
            t->last_ms = now;
        }
    }
    arm(self);
}

/* Heartbeat timer: publishes "system". */
static void on_beat(uv_timer_t *h)
{
    publish_t *self = h->data;
    uint64_t seq = done_seq(self);
    json_t *o =
        json_pack("{s:s, s:s, s:I, s:I, s:{s:I, s:I}}", "topic", SYSTEM, "epoch", self->epoch,
                  "rev", (json_int_t)(self->beat_rev + 1), "seq", (json_int_t)seq, "doc",
                  "head_seq", (json_int_t)seq, "topics", (json_int_t)self->live);
    char *env = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!env)
        return; /* out of memory: the next beat tries again */
    self->beat_rev++;
    pub_send(self, SYSTEM, env, strlen(env));
    self->st.heartbeats++;
    free(env);
}

/* ---------------------------------------------------------- snapshots --- */

/* Sends [rid]([""])[a][b] on the ROUTER. Returns 0, or -1 when the peer is
 * gone or its queue is full (with ROUTER_MANDATORY the first frame decides
 * for the whole message). */
static int reply(publish_t *self, const void *rid, size_t rid_len, int delim, const char *a,
                 const char *b, size_t blen)
{
    if (zmq_send(self->router, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return -1;
    if ((delim && zmq_send(self->router, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) ||
        zmq_send(self->router, a, strlen(a), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_send(self->router, b, blen, ZMQ_DONTWAIT) < 0)
        return -1;
    return 0;
}

/* Answers a request with ["$error"][{"error":why}]. */
static void refuse(publish_t *self, const void *rid, size_t rid_len, int delim, const char *why)
{
    json_t *o = json_pack("{s:s}", "error", why);
    char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    self->st.bad_requests++;
    if (!body || reply(self, rid, rid_len, delim, "$error", body, strlen(body)) < 0)
        self->st.snapshots_failed++;
    free(body);
}

static int by_name(const void *a, const void *b)
{
    return strcmp((*(topic_t *const *)a)->name, (*(topic_t *const *)b)->name);
}

/* Sends every current topic starting with prefix that who may read (who
 * NULL: every topic), sorted, then $end. */
static void serve(publish_t *self, const void *rid, size_t rid_len, int delim, const char *prefix,
                  const auth_identity_t *who)
{
    size_t plen = strlen(prefix), n = 0, len, i;
    topic_t *t, *tmp;
    char *end = NULL;
    json_t *o;
    if (self->sel_cap < self->live) {
        topic_t **p = realloc(self->sel, self->live * sizeof *p);
        if (!p)
            goto fail;
        self->sel = p;
        self->sel_cap = self->live;
    }
    HASH_ITER(hh, self->topics, t, tmp)
    {
        if (t->env && strncmp(t->name, prefix, plen) == 0 && (!who || auth_may_read(who, t->name)))
            self->sel[n++] = t;
    }
    if (n)
        qsort(self->sel, n, sizeof *self->sel, by_name);
    o = json_pack("{s:b, s:s, s:I, s:I}", "end", 1, "epoch", self->epoch, "seq",
                  (json_int_t)done_seq(self), "count", (json_int_t)n);
    end = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!end)
        goto fail;
    for (i = 0; i < n; i++)
        if (reply(self, rid, rid_len, delim, self->sel[i]->name, self->sel[i]->env,
                  self->sel[i]->env_len) < 0)
            goto fail;
    len = strlen(end);
    if (reply(self, rid, rid_len, delim, "$end", end, len) < 0)
        goto fail;
    self->st.snapshots++;
    cohort_log(LOG_DEBUG, "publish: snapshot of %zu topics served", n);
    free(end);
    return;
fail:
    self->st.snapshots_failed++;
    free(end);
}

/* 1 if some topic starting with prefix may be read by who: prefix lies
 * within one of its prefixes, or one of them lies within prefix. */
static int readable(const auth_identity_t *who, const char *prefix)
{
    auth_prefix_t a[AUTH_READ_MAX];
    size_t n = auth_read_prefixes(who, a), plen = strlen(prefix);
    for (size_t i = 0; i < n; i++)
        if (strncmp(prefix, a[i].p, a[i].len) == 0 ||
            (a[i].len > plen && memcmp(a[i].p, prefix, plen) == 0))
            return 1;
    return 0;
}

/* Handles one received message: [rid][payload] or [rid][""][payload]. */
static void handle(void *arg, zmq_msg_t *parts, int nparts)
{
    publish_t *self = arg;
    const void *rid = zmq_msg_data(&parts[0]);
    size_t rid_len = zmq_msg_size(&parts[0]);
    int delim = nparts == 3;
    json_t *req, *snap;
    self->st.snap_requests++;
    if (nparts < 2 || nparts > 3 || (delim && zmq_msg_size(&parts[1]) != 0)) {
        refuse(self, rid, rid_len, 0,
               "expected one payload frame, optionally after an empty delimiter");
        return;
    }
    zmq_msg_t *payload = &parts[nparts - 1];
    auth_identity_t who;
    if (self->auth && auth_check(self->auth, zmq_msg_gets(payload, "User-Id"), &who) < 0) {
        refuse(self, rid, rid_len, delim, "this connection's key is no longer allowed");
        return;
    }
    req = json_loadb(zmq_msg_data(payload), zmq_msg_size(payload), JSON_REJECT_DUPLICATES, NULL);
    snap = json_object_get(req, "snapshot"); /* NULL when req is */
    if (!req)
        refuse(self, rid, rid_len, delim, "request is not a valid JSON object");
    else if (!json_is_string(snap) || json_object_size(req) != 1)
        refuse(self, rid, rid_len, delim, "expected {\"snapshot\":\"<prefix>\"}");
    else if (json_string_length(snap) > PREFIX_MAX)
        refuse(self, rid, rid_len, delim, "prefix longer than 256 bytes");
    else if (self->auth && !readable(&who, json_string_value(snap)))
        refuse(self, rid, rid_len, delim, "this key's role may not read topics under that prefix");
    else
        serve(self, rid, rid_len, delim, json_string_value(snap), self->auth ? &who : NULL);
    json_decref(req);
}

/* zbridge handler: answers up to SNAP_CAP requests. */
static int on_input(void *arg)
{
    publish_t *self = arg;
    int rc = zbridge_serve(self->router, SNAP_CAP, handle, self);
    if (rc < 0)
        cohort_log(LOG_WARNING, "publish: snapshot receive failed: %s", zmq_strerror(-rc));
    return rc > 0;
}

/* ------------------------------------------------------ subscriptions --- */

/* Applies one subscription message m (1 = subscribe, 0 = unsubscribe, then
 * the prefix) to the pipe it came from, which stays libzmq's "last pipe"
 * until the next receive: with a key table, only the part of the prefix
 * the key's role may read (auth_read_prefixes: a prefix inside an allowed
 * one is kept, an allowed one inside the prefix replaces it, anything else
 * is dropped), so no topic outside the role ever reaches that pipe. */
static void subscription(publish_t *self, zmq_msg_t *m)
{
    const char *d = zmq_msg_data(m);
    size_t n = zmq_msg_size(m);
    int opt;
    if (n < 1 || n > SUB_MAX || (d[0] != 0 && d[0] != 1))
        return; /* not a subscription message: ignored */
    opt = d[0] ? ZMQ_SUBSCRIBE : ZMQ_UNSUBSCRIBE;
    d++, n--;
    if (!self->auth) {
        zmq_setsockopt(self->pub, opt, d, n);
        self->st.subscriptions++;
        return;
    }
    auth_identity_t who;
    auth_prefix_t a[AUTH_READ_MAX];
    size_t na, hits = 0;
    if (auth_check(self->auth, zmq_msg_gets(m, "User-Id"), &who) < 0) {
        self->st.subs_refused++;
        return; /* revoked since the handshake: publish_drop_subscribers drops it */
    }
    na = auth_read_prefixes(&who, a);
    for (size_t i = 0; i < na; i++) {
        if (n >= a[i].len && memcmp(d, a[i].p, a[i].len) == 0)
            hits += zmq_setsockopt(self->pub, opt, d, n) == 0;
        else if (a[i].len > n && memcmp(a[i].p, d, n) == 0)
            hits += zmq_setsockopt(self->pub, opt, a[i].p, a[i].len) == 0;
    }
    if (hits) {
        self->st.subscriptions++;
    } else {
        self->st.subs_refused++;
        if (opt == ZMQ_SUBSCRIBE)
            cohort_log(LOG_NOTICE,
                       "publish: key %s (%s%s%s) may not read topics under '%.*s': "
                       "subscription ignored",
                       who.fingerprint, auth_role_name(who.role), *who.agency ? ":" : "",
                       who.agency, (int)(n > 64 ? 64 : n), d);
    }
}

/* zbridge handler of the XPUB socket: applies up to SUB_CAP subscription
 * messages. */
static int on_subs(void *arg)
{
    publish_t *self = arg;
    for (int i = 0; i < SUB_CAP; i++) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, self->pub, ZMQ_DONTWAIT) < 0) {
            int e = errno;
            zmq_msg_close(&m);
            if (e != EAGAIN && e != EINTR)
                cohort_log(LOG_WARNING, "publish: subscription receive failed: %s",
                           zmq_strerror(e));
            return 0;
        }
        subscription(self, &m);
        zmq_msg_close(&m);
    }
    return 1;
}

/* Creates the XPUB socket (CURVE server when there is a key table) bound at
 * ep and watched on the loop. Returns 0, or a negative errno with err. */
static int open_pub(publish_t *self, const char *ep, char *err, size_t errlen)
{
    int one = 1, hwm = PUB_HWM, rc;
    char last[1024];
    size_t ll = sizeof last;
    if (!(self->pub = zmq_socket(self->zctx, ZMQ_XPUB)) ||
        zmq_setsockopt(self->pub, ZMQ_SNDHWM, &hwm, sizeof hwm) != 0 ||
        zmq_setsockopt(self->pub, ZMQ_XPUB_MANUAL, &one, sizeof one) != 0) {
        rc = -errno;
        snprintf(err, errlen, "creating the publish socket: %s", zmq_strerror(errno));
        return rc;
    }
    if (self->auth && (rc = auth_curve_server(self->pub, self->secret, err, errlen)) < 0)
        return rc;
    /* before the bind: no subscriber's events are missed (peer count) */
    if ((rc = zmonitor_new(&self->pmon, self->loop, self->zctx, self->pub, "publish", err,
                           errlen)) < 0)
        return rc;
    if (zmq_bind(self->pub, ep) != 0) {
        rc = -errno;
        snprintf(err, errlen, "binding publish endpoint %s: %s", ep, zmq_strerror(errno));
        return rc;
    }
    if (!self->pub_ep &&
        !(self->pub_ep =
              strdup(zmq_getsockopt(self->pub, ZMQ_LAST_ENDPOINT, last, &ll) == 0 ? last : ep))) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    if ((rc = zbridge_new(&self->sbridge, self->loop, self->pub, on_subs, self)) < 0) {
        snprintf(err, errlen, "watching the publish socket: %s", uv_strerror(rc));
        return rc;
    }
    return 0;
}

/* Closes the XPUB socket at once (linger 0) and its bridge. */
static void close_pub(publish_t *self, int linger)
{
    zbridge_close(&self->sbridge);
    zmonitor_destroy(&self->pmon);
    if (self->pub) {
        zmq_setsockopt(self->pub, ZMQ_LINGER, &linger, sizeof linger);
        zmq_close(self->pub);
        self->pub = NULL;
    }
}

/* ------------------------------------------------------------- public --- */

int publish_drop_subscribers(publish_t *self, char *err, size_t errlen)
{
    struct timespec nap = {0, 5 * 1000 * 1000};
    int rc = -EIO;
    close_pub(self, 0);
    /* libzmq closes the old listener on its own thread: a tcp:// port is
     * free a moment later (an ipc:// path is taken over at once), so retry
     * a refused bind, bounded. */
    for (int waited = 0; waited < REBIND_WAIT_MS; waited += 5) {
        if ((rc = open_pub(self, self->pub_ep, err, errlen)) == 0 || rc != -EADDRINUSE)
            break;
        close_pub(self, 0);
        nanosleep(&nap, NULL);
    }
    if (rc == 0) {
        cohort_log(LOG_NOTICE, "publish: every subscriber disconnected; they reconnect and are "
                               "authenticated again");
    } else {
        close_pub(self, 0);
        cohort_log(LOG_ERR, "publish: cannot bind %s again: %s; no status is published",
                   self->pub_ep, err);
    }
    return rc;
}

int publish_new(publish_t **out, uv_loop_t *loop, void *zctx, const char *pub_ep,
                const char *snap_ep, unsigned coalesce_ms, auth_t *auth, const char *curve_secret,
                char *err, size_t errlen)
{
    publish_t *self = calloc(1, sizeof *self);
    int one = 1, snap_hwm = SNAP_HWM, rcv_hwm = SNAP_RCVHWM;
    int rc;
    int64_t maxmsg = SNAP_MAX_MSG;
    unsigned char rnd[8];
    *out = NULL;
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    self->loop = loop;
    self->zctx = zctx;
    self->auth = auth;
    self->secret = curve_secret;
    self->coalesce_ms = coalesce_ms;
    uv_timer_init(loop, &self->beat);
    uv_timer_init(loop, &self->due);
    self->beat.data = self->due.data = self;
    self->handles = 2;
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
        rc = errno ? -errno : -EIO;
        snprintf(err, errlen, "getrandom for the epoch: %s", strerror(-rc));
        goto fail;
    }
    for (size_t i = 0; i < sizeof rnd; i++)
        snprintf(self->epoch + 2 * i, 3, "%02x", rnd[i]);
    if ((rc = open_pub(self, pub_ep, err, errlen)) < 0)
        goto fail;
    if (!(self->router = zmq_socket(zctx, ZMQ_ROUTER)) ||
        zmq_setsockopt(self->router, ZMQ_ROUTER_MANDATORY, &one, sizeof one) != 0 ||
        zmq_setsockopt(self->router, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) != 0 ||
        zmq_setsockopt(self->router, ZMQ_SNDHWM, &snap_hwm, sizeof snap_hwm) != 0 ||
        zmq_setsockopt(self->router, ZMQ_RCVHWM, &rcv_hwm, sizeof rcv_hwm) != 0 ||
        /* No ZMTP heartbeat (libzmq#4364: see ingest.c); keepalive instead. */
        zmq_setsockopt(self->router, ZMQ_TCP_KEEPALIVE, &one, sizeof one) != 0) {
        rc = -errno;
        snprintf(err, errlen, "creating the snapshot socket: %s", zmq_strerror(errno));
        goto fail;
    }
    if (auth && (rc = auth_curve_server(self->router, curve_secret, err, errlen)) < 0)
        goto fail;
    if (zmq_bind(self->router, snap_ep) != 0) {
        rc = -errno;
        snprintf(err, errlen, "binding snapshot endpoint %s: %s", snap_ep, zmq_strerror(errno));
        goto fail;
    }
    if ((rc = zbridge_new(&self->bridge, loop, self->router, on_input, self)) < 0) {
        snprintf(err, errlen, "watching the snapshot socket: %s", uv_strerror(rc));
        goto fail;
    }
    if (auth &&
        (rc = zmonitor_new(&self->smon, loop, zctx, self->router, "snapshot", err, errlen)) < 0)
        goto fail;
    if ((rc = uv_timer_start(&self->beat, on_beat, BEAT_MS, BEAT_MS)) < 0) {
        snprintf(err, errlen, "starting the heartbeat: %s", uv_strerror(rc));
        goto fail;
    }
    cohort_log(LOG_INFO, "publish: updates on %s, snapshots on %s, epoch %s, coalescing %u ms",
               pub_ep, snap_ep, self->epoch, coalesce_ms);
    *out = self;
    return 0;
fail:
    publish_destroy(&self);
    return rc;
}

int publish_update(publish_t *self, const char *topic, const char *doc, uint64_t seq)
{
    topic_t *t;
    char *copy = NULL;
    int rc;
    if (!self || !topic || strcmp(topic, SYSTEM) == 0)
        return -EINVAL;
    HASH_FIND_STR(self->topics, topic, t);
    if (!t) {
        json_t *s;
        if (!doc)
            return 0; /* never published: nothing to remove */
        if (!(s = json_string(topic)))
            return -EINVAL; /* not UTF-8 (or out of memory) */
        json_decref(s);
        if (!(t = calloc(1, sizeof *t)) || !(t->name = strdup(topic)))
            goto oom;
        HASH_ADD_KEYPTR(hh, self->topics, t->name, strlen(t->name), t);
        if (!t->hh.tbl)
            goto oom;
        if ((rc = emit(self, t, doc, seq)) < 0) {
            HASH_DEL(self->topics, t);
            free(t->name);
            free(t);
        }
        return rc;
    }
    if (!doc && !t->env) {
        /* already removed: a pending document is superseded, nothing to send */
        if (t->has_pend)
            self->st.coalesced++;
        unpend(self, t);
        return 0;
    }
    if (!self->coalesce_ms || uv_now(self->loop) - t->last_ms >= self->coalesce_ms) {
        if ((rc = emit(self, t, doc, seq)) < 0)
            return rc;
        if (t->has_pend)
            self->st.coalesced++;
        unpend(self, t);
        return 0;
    }
    if (doc && !(copy = strdup(doc)))
        return -ENOMEM;
    if (t->has_pend) {
        free(t->pend);
        self->st.coalesced++;
    } else {
        t->has_pend = 1;
        t->bound = self->handed;
        self->npend++;
    }
    t->pend = copy;
    t->pend_seq = seq;
    arm(self);
    return 0;
oom:
    if (t)
        free(t->name);
    free(t);
    return -ENOMEM;
}

void publish_set_seq(publish_t *self, uint64_t seq)
{
    self->handed = seq;
}

void publish_stats(const publish_t *self, publish_stats_t *out)
{
    *out = self->st;
    out->peers = self->pmon ? zmonitor_peers(self->pmon) : 0;
}

void publish_flush(publish_t *self)
{
    topic_t *t, *tmp;
    if (!self->npend)
        return;
    DL_FOREACH_SAFE(self->recent, t, tmp)
    {
        if (t->has_pend && emit_pending(self, t) < 0)
            cohort_log(LOG_WARNING, "publish: out of memory flushing a pending update");
    }
}

static void on_close(uv_handle_t *h)
{
    publish_t *self = h->data;
    if (--self->handles == 0)
        free(self);
}

void publish_destroy(publish_t **self_p)
{
    publish_t *self = self_p ? *self_p : NULL;
    topic_t *t, *tmp;
    if (!self)
        return;
    *self_p = NULL;
    zbridge_close(&self->bridge);
    zmonitor_destroy(&self->smon);
    close_pub(self, LINGER_MS);
    free(self->pub_ep);
    self->pub_ep = NULL;
    if (self->router) {
        int linger = LINGER_MS;
        zmq_setsockopt(self->router, ZMQ_LINGER, &linger, sizeof linger);
        zmq_close(self->router);
        self->router = NULL;
    }
    HASH_ITER(hh, self->topics, t, tmp)
    {
        HASH_DEL(self->topics, t);
        free(t->name);
        free(t->env);
        free(t->pend);
        free(t);
    }
    self->recent = NULL;
    free(self->sel);
    self->sel = NULL;
    uv_close((uv_handle_t *)&self->beat, on_close);
    uv_close((uv_handle_t *)&self->due, on_close);
}
