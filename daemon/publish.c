/* publish.c: status publishing (see publish.h for its contracts).
 *
 * State: a hash (uthash) of topics by name, each with its last published
 * envelope (the snapshot copy; NULL once removed) and rev; and a hash of
 * subscriber entries by routing id, each with the User-Id it subscribed
 * with, its identity and the prefixes it was granted. An update is built
 * once (topic and envelope as zmq messages) and each entitled entry gets a
 * zmq_msg_copy, which shares the bytes. Envelopes are built with jansson
 * around a "doc":null placeholder that is replaced by the document text,
 * so documents go out byte for byte. */
#include "publish.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <zmq.h>

#include "auth.h"
#include "endpoint.h"
#include "proj.h" /* PROJ_DUMP_FLAGS: versions re-dumped as the projection dumps them */
#include "log.h"
#include "request.h"
#include "zbridge.h"
#include "zmonitor.h"

#define HASH_NONFATAL_OOM 1
#include <uthash.h>

#define SUB_RCVHWM 100   /* queued subscription messages per subscriber connection */
#define SNAP_HWM 10000   /* queued reply messages per snapshot client */
#define SNAP_RCVHWM 1000 /* queued requests per snapshot client */
#define SNAP_CAP 8       /* snapshot requests per drain call: fairness to other handles */
#define SUB_CAP 64       /* subscription messages per drain call */
#define PREFIX_MAX 256   /* bytes of a snapshot or subscription prefix */
#define LINGER_MS 500    /* time given to unsent messages at close */
#define BEAT_MS 1000     /* heartbeat interval */
#define SYSTEM "system"  /* the heartbeat topic */
#define RID_LEN 5        /* a routing id libzmq generated: 0, then 4 bytes */

/* One status topic, current or removed. */
typedef struct topic_s {
    char *name;        /* the topic (hash key), owned */
    char *env;         /* last published envelope; NULL when removed */
    size_t env_len;    /* its length in bytes */
    uint64_t rev;      /* revision of the last message sent */
    char *versions;    /* a release/ topic: its published versions, a JSON array text
                        * bounded as publish_versions says; NULL: none known */
    size_t n_versions; /* how many versions that array holds */
    size_t omitted;    /* the older versions left out of it by the bound */
    UT_hash_handle hh; /* topics by name */
} topic_t;

/* One subscriber connection, known by its routing id. Invariant: npfx >= 1
 * (an entry left with no prefix is deleted), and every prefix lies within
 * one that who's role may read (or is "system"-free: see grant()). */
typedef struct sub_s {
    unsigned char rid[RID_LEN];      /* routing id (hash key) */
    char uid[AUTH_USER_ID_MAX];      /* the User-Id its subscriptions came with ("" plaintext) */
    auth_identity_t who;             /* that key's identity (unused in plaintext mode) */
    char *pfx[PUBLISH_SUB_PREFIXES]; /* granted prefixes, owned */
    size_t npfx;                     /* how many */
    UT_hash_handle hh;               /* entries by routing id */
} sub_t;

struct publish_t {
    uv_loop_t *loop;    /* the daemon's loop */
    void *zctx;         /* the ZeroMQ context (borrowed) */
    void *pub;          /* publish ROUTER, owned */
    zbridge_t *pbridge; /* readiness of pub (subscription messages) on loop */
    zmonitor_t *pmon;   /* pub's handshake failures (logged with CURVE) and peers */
    void *router;       /* snapshot ROUTER socket, owned */
    zbridge_t *bridge;  /* readiness of router on loop */
    zmonitor_t *smon;   /* the same for router */
    auth_t *auth;       /* the key table (borrowed), or NULL: plaintext, all topics to all */
    const char *secret; /* the server secret key (Z85, borrowed) when auth is set */
    uv_timer_t beat;    /* the 1 s heartbeat */
    int handles;        /* uv handles initialised and not yet closed */
    char epoch[17];     /* 16 lowercase hex digits, this run */
    topic_t *topics;    /* hash by name, current and removed */
    sub_t *subs;        /* subscriber entries by routing id */
    size_t live;        /* topics with a document (not removed) */
    uint64_t handed;    /* last publish_set_seq */
    size_t pending;     /* topics held back at that seq (publish_set_seq) */
    uint64_t beat_rev;  /* the heartbeat's own revision */
    publish_stats_t st; /* counters */
    topic_t **sel;      /* snapshot scratch: the matching topics */
    size_t sel_cap;     /* its capacity */
};

/* ------------------------------------------------------------ helpers --- */

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

/* A zmq message holding a copy of len bytes at p. Returns 0 or -1. */
static int msg_of(zmq_msg_t *m, const void *p, size_t len)
{
    if (zmq_msg_init_size(m, len) != 0)
        return -1;
    memcpy(zmq_msg_data(m), p, len);
    return 0;
}

/* Sends a copy of m (sharing its bytes) with flags; 0 or -1. */
static int send_copy(void *sock, zmq_msg_t *m, int flags)
{
    zmq_msg_t c;
    zmq_msg_init(&c);
    if (zmq_msg_copy(&c, m) != 0 || zmq_msg_send(&c, sock, flags) < 0) {
        zmq_msg_close(&c);
        return -1;
    }
    return 0;
}

/* ---------------------------------------------------- subscriber table --- */

static void sub_free(sub_t *s)
{
    for (size_t i = 0; i < s->npfx; i++)
        free(s->pfx[i]);
    free(s);
}

/* Forgets entry s. */
static void forget(publish_t *self, sub_t *s)
{
    HASH_DEL(self->subs, s);
    sub_free(s);
}

/* 1 if s should get topic: it asked for a prefix of it, and (with a key
 * table) its key may read it. The heartbeat goes to every entry. */
static int wants(const publish_t *self, const sub_t *s, const char *topic, int system)
{
    if (system)
        return 1;
    if (self->auth && !auth_may_read(&s->who, topic))
        return 0;
    for (size_t i = 0; i < s->npfx; i++)
        if (strncmp(topic, s->pfx[i], strlen(s->pfx[i])) == 0)
            return 1;
    return 0;
}

/* Queues [rid][topic][env] for s. On EHOSTUNREACH (the peer is gone) the
 * entry is forgotten; on a full queue the subscriber misses this message.
 * Returns 0 when queued. */
static int send_to(publish_t *self, sub_t *s, zmq_msg_t *tm, zmq_msg_t *em)
{
    if (zmq_send(self->pub, s->rid, RID_LEN, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
        if (errno == EHOSTUNREACH) {
            self->st.gone++;
            forget(self, s);
        } else {
            self->st.dropped++;
        }
        return -1;
    }
    /* With ROUTER_MANDATORY the routing frame decides for the message:
     * once it is accepted the other frames are too. */
    if (send_copy(self->pub, tm, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        send_copy(self->pub, em, ZMQ_DONTWAIT) < 0) {
        self->st.dropped++;
        return -1;
    }
    self->st.sent++;
    return 0;
}

/* Sends [topic][env] to every entry entitled to it. */
static void fan_out(publish_t *self, const char *topic, const char *env, size_t len)
{
    zmq_msg_t tm, em;
    sub_t *s, *tmp;
    int system = strcmp(topic, SYSTEM) == 0;
    if (!self->subs)
        return;
    if (msg_of(&tm, topic, strlen(topic)) < 0)
        return;
    if (msg_of(&em, env, len) < 0) {
        zmq_msg_close(&tm);
        return;
    }
    HASH_ITER(hh, self->subs, s, tmp)
    {
        if (wants(self, s, topic, system))
            send_to(self, s, &tm, &em);
    }
    zmq_msg_close(&tm);
    zmq_msg_close(&em);
}

/* ------------------------------------------------------------ updates --- */

/* Sends doc (NULL = removal) for t now, as its next revision. Returns 0 or
 * -ENOMEM (nothing changed). */
static int emit(publish_t *self, topic_t *t, const char *doc, uint64_t seq)
{
    size_t len;
    char *env = envelope(self, t->name, t->rev + 1, seq, doc, &len);
    if (!env)
        return -ENOMEM;
    t->rev++;
    fan_out(self, t->name, env, len);
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
    return 0;
}

/* The heartbeat envelope, malloc'd; NULL on OOM. */
static char *beat_env(publish_t *self)
{
    json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:{s:I, s:I, s:I}}", "topic", SYSTEM, "epoch",
                          self->epoch, "rev", (json_int_t)(self->beat_rev + 1), "seq",
                          (json_int_t)self->handed, "doc", "head_seq", (json_int_t)self->handed,
                          "topics", (json_int_t)self->live, "pending", (json_int_t)self->pending);
    char *env = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (env)
        self->beat_rev++;
    return env;
}

/* Heartbeat timer: "system" to every subscriber; finds the gone ones. */
static void on_beat(uv_timer_t *h)
{
    publish_t *self = h->data;
    char *env = beat_env(self);
    if (!env)
        return; /* out of memory: the next beat tries again */
    fan_out(self, SYSTEM, env, strlen(env));
    self->st.heartbeats++;
    free(env);
}

/* A prefix granted to a request: the requested one (up to PREFIX_MAX
 * bytes) or one of the role's. */
typedef struct {
    char p[PREFIX_MAX + 1]; /* NUL-ended */
    size_t len;             /* its length */
} grant_t;

/* ---------------------------------------------------------- snapshots --- */

/* Sends [a][b] to `to` on sock, in its envelope (request_send). Returns 0,
 * or -1 when the peer is gone or its queue is full. */
static int reply(void *sock, const request_peer_t *to, const char *a, const char *b, size_t blen)
{
    const void *data[2] = {a, b};
    const size_t len[2] = {strlen(a), blen};
    return request_send(sock, to, data, len, 2) < 0 ? -1 : 0;
}

/* Answers a request on sock with ["$error"][{"error":why}] (plus
 * "prefix" when not NULL). Returns 0 when queued. */
static int refuse_on(void *sock, const request_peer_t *to, const char *why, const char *prefix,
                     size_t plen)
{
    json_t *o = json_pack("{s:s}", "error", why);
    char *body = NULL;
    int rc = -1;
    if (o && prefix)
        json_object_set_new(o, "prefix", json_stringn(prefix, plen));
    body = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (body)
        rc = reply(sock, to, "$error", body, strlen(body));
    free(body);
    return rc;
}

/* A snapshot request refused. */
static void refuse(publish_t *self, const request_peer_t *to, const char *why)
{
    self->st.bad_requests++;
    if (refuse_on(self->router, to, why, NULL, 0) < 0)
        self->st.snapshots_failed++;
}

static int by_name(const void *a, const void *b)
{
    return strcmp((*(topic_t *const *)a)->name, (*(topic_t *const *)b)->name);
}

/* Sends every current topic starting with prefix that who may read (who
 * NULL: every topic), sorted, then $end, which also lists the prefixes who
 * may read ("readable"; [""] for every topic). */
static void serve(publish_t *self, const request_peer_t *to, const char *prefix,
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
    o = json_pack("{s:b, s:s, s:I, s:I, s:I, s:[]}", "end", 1, "epoch", self->epoch, "seq",
                  (json_int_t)self->handed, "pending", (json_int_t)self->pending, "count",
                  (json_int_t)n, "readable");
    if (o) { /* what this key may read at all: a client can tell "none" from "not allowed" */
        json_t *r = json_object_get(o, "readable");
        auth_prefix_t a[AUTH_READ_MAX];
        size_t na = who ? auth_read_prefixes(who, a) : 0;
        if (!who)
            json_array_append_new(r, json_string(""));
        for (i = 0; i < na; i++)
            json_array_append_new(r, json_string(a[i].p));
    }
    end = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!end)
        goto fail;
    for (i = 0; i < n; i++)
        if (reply(self->router, to, self->sel[i]->name, self->sel[i]->env, self->sel[i]->env_len) <
            0)
            goto fail;
    len = strlen(end);
    if (reply(self->router, to, "$end", end, len) < 0)
        goto fail;
    self->st.snapshots++;
    cohort_log(LOG_DEBUG, "publish: snapshot of %zu topics served", n);
    free(end);
    return;
fail:
    self->st.snapshots_failed++;
    free(end);
}

/* Answers {"releases": topic} (already scope-checked): one message
 * ["$releases"][{"releases":T,"count":n,"omitted":k,"versions":[...]}],
 * the versions as publish_versions last stored them ([] if none). */
static void serve_releases(publish_t *self, const request_peer_t *to, const char *topic)
{
    topic_t *t;
    json_t *o;
    char *head, *body = NULL;
    size_t hl = 0, vl = 0;
    const char *versions;
    HASH_FIND_STR(self->topics, topic, t);
    versions = t && t->versions ? t->versions : "[]";
    o = json_pack("{s:s, s:I, s:I, s:n}", "releases", topic, "count",
                  (json_int_t)(t && t->versions ? t->n_versions : 0), "omitted",
                  (json_int_t)(t && t->versions ? t->omitted : 0), "versions");
    head = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (head) {
        hl = strlen(head) - strlen("null}"); /* the placeholder ends the dump */
        vl = strlen(versions);
        if ((body = malloc(hl + vl + 2))) {
            memcpy(body, head, hl);
            memcpy(body + hl, versions, vl);
            memcpy(body + hl + vl, "}", 2);
        }
    }
    if (!body || reply(self->router, to, "$releases", body, hl + vl + 1) < 0)
        self->st.snapshots_failed++;
    free(head);
    free(body);
}

/* Narrows the requested prefix (d, n bytes) to what who may read: out gets
 * the prefixes to grant (a prefix inside an allowed one is kept, an allowed
 * one inside the prefix replaces it, anything else is dropped); who NULL
 * (plaintext) grants the prefix as it is. Returns how many. */
static size_t grant(const auth_identity_t *who, const char *d, size_t n, grant_t out[AUTH_READ_MAX])
{
    auth_prefix_t a[AUTH_READ_MAX];
    size_t na, k = 0;
    if (!who) {
        memcpy(out[0].p, d, n);
        out[0].p[n] = '\0';
        out[0].len = n;
        return 1;
    }
    na = auth_read_prefixes(who, a);
    for (size_t i = 0; i < na; i++) {
        if (n >= a[i].len && memcmp(d, a[i].p, a[i].len) == 0) {
            memcpy(out[k].p, d, n);
            out[k].p[n] = '\0';
            out[k++].len = n;
        } else if (a[i].len > n && memcmp(a[i].p, d, n) == 0) {
            memcpy(out[k].p, a[i].p, a[i].len + 1);
            out[k++].len = a[i].len;
        }
    }
    return k;
}

/* Handles one snapshot request: [rid][payload] or [rid][""][payload]. */
static void handle_snap(void *arg, zmq_msg_t *parts, int nparts)
{
    publish_t *self = arg;
    request_t rq;
    const request_peer_t *to = &rq.peer;
    json_t *req, *snap, *rel = NULL;
    grant_t g[AUTH_READ_MAX];
    self->st.snap_requests++;
    request_check(&rq, parts, nparts, self->auth, 0);
    if (rq.envelope_rc < 0) {
        refuse(self, to, "expected one payload frame, optionally after an empty delimiter");
        return;
    }
    if (rq.auth_rc < 0) {
        refuse(self, to, "this connection's key is no longer allowed");
        return;
    }
    req = json_loadb(zmq_msg_data(rq.body), zmq_msg_size(rq.body), JSON_REJECT_DUPLICATES, NULL);
    snap = json_object_get(req, "snapshot"); /* NULL when req is */
    if (!snap && (rel = json_object_get(req, "releases")))
        snap = rel; /* scope-checked exactly as a snapshot of that prefix */
    if (!req)
        refuse(self, to, "request is not a valid JSON object");
    else if (rel && (!json_is_string(rel) || json_object_size(req) != 1))
        refuse(self, to, "expected {\"releases\":\"<release topic>\"}");
    else if (!json_is_string(snap) || json_object_size(req) != 1)
        refuse(self, to, "expected {\"snapshot\":\"<prefix>\"}");
    else if (json_string_length(snap) > PREFIX_MAX)
        refuse(self, to, "prefix longer than 256 bytes");
    else if (self->auth &&
             grant(&rq.who, json_string_value(snap), json_string_length(snap), g) == 0)
        refuse(self, to, "this key's role may not read topics under that prefix");
    else if (rel && strncmp(json_string_value(rel), "release/", 8) != 0)
        refuse(self, to, "expected {\"releases\":\"<release topic>\"}");
    else if (rel && self->auth && !auth_may_read(&rq.who, json_string_value(rel)))
        refuse(self, to, "this key's role may not read topics under that prefix");
    else if (rel)
        serve_releases(self, to, json_string_value(rel));
    else
        serve(self, to, json_string_value(snap), self->auth ? &rq.who : NULL);
    json_decref(req);
}

/* zbridge handler of the snapshot socket: answers up to SNAP_CAP requests. */
static int on_snap_input(void *arg)
{
    publish_t *self = arg;
    int rc = zbridge_serve(self->router, SNAP_CAP, handle_snap, self);
    if (rc < 0)
        cohort_log(LOG_WARNING, "publish: snapshot receive failed: %s", zmq_strerror(-rc));
    return rc > 0;
}

/* ------------------------------------------------------ subscriptions --- */

/* A subscription message refused: answered $error (if the peer has room),
 * counted, and logged at most a few times a minute per key. */
static void sub_refuse(publish_t *self, const request_peer_t *to, const char *why, const char *fp,
                       const char *role, const char *prefix, size_t plen)
{
    self->st.subs_refused++;
    refuse_on(self->pub, to, why, prefix, prefix ? plen : 0);
    cohort_log_limited(LOG_NOTICE, fp, "publish: subscription from key %s (%s) refused: %s%s%.*s%s",
                       fp, role, why, prefix ? " ('" : "",
                       prefix ? (int)(plen > 64 ? 64 : plen) : 0, prefix ? prefix : "",
                       prefix ? "')" : "");
}

/* Adds prefix p to s unless it is there already. Returns 0, -ENOSPC or
 * -ENOMEM. */
static int add_prefix(sub_t *s, const grant_t *p)
{
    for (size_t i = 0; i < s->npfx; i++)
        if (strcmp(s->pfx[i], p->p) == 0)
            return 0;
    if (s->npfx == PUBLISH_SUB_PREFIXES)
        return -ENOSPC;
    if (!(s->pfx[s->npfx] = strdup(p->p)))
        return -ENOMEM;
    s->npfx++;
    return 0;
}

/* Removes prefix p from s if it is there. */
static void del_prefix(sub_t *s, const grant_t *p)
{
    for (size_t i = 0; i < s->npfx; i++)
        if (strcmp(s->pfx[i], p->p) == 0) {
            free(s->pfx[i]);
            s->pfx[i] = s->pfx[--s->npfx];
            return;
        }
}

/* Answers an applied (un)subscription: ["$subscribed"|"$unsubscribed"]
 * [{"prefix":P,"granted":[...]}]. */
static void sub_ack(publish_t *self, const request_peer_t *to, int on, const char *d, size_t n,
                    const grant_t *g, size_t ng)
{
    json_t *o = json_pack("{s:s%, s:[]}", "prefix", d, n, "granted"), *arr;
    char *body;
    if (!o)
        return;
    arr = json_object_get(o, "granted");
    for (size_t i = 0; i < ng; i++)
        json_array_append_new(arr, json_stringn(g[i].p, g[i].len));
    body = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (body)
        reply(self->pub, to, on ? "$subscribed" : "$unsubscribed", body, strlen(body));
    free(body);
}

/* Handles one message on the publish socket: [rid][payload], payload =
 * {"subscribe":P} or {"unsubscribe":P}. The User-Id and the routing id
 * are both those of the connection the message came from, so the entry
 * they update is that connection's own. */
static void handle_sub(void *arg, zmq_msg_t *parts, int nparts)
{
    publish_t *self = arg;
    request_t rq;
    const request_peer_t *to = &rq.peer; /* never a delimiter: DEALER peers only */
    const unsigned char *rid = zmq_msg_data(&parts[0]);
    const char *uid, *d;
    const auth_identity_t *who = &rq.who, *w = self->auth ? who : NULL;
    grant_t g[AUTH_READ_MAX];
    size_t n, ng;
    json_t *req = NULL, *v;
    sub_t *s;
    int on, rc = 0;
    /* Checked in this order: the key, the routing id, the envelope. */
    request_check(&rq, parts, nparts, self->auth, REQUEST_NO_DELIM);
    if (rq.auth_rc < 0) {
        /* revoked since the handshake (or no ZAP identity) */
        char fp[COHORT_KEY_FP_LEN + 1];
        request_fingerprint(&rq, fp);
        sub_refuse(self, to, "this connection's key is no longer allowed", fp, "revoked", NULL, 0);
        return;
    }
    uid = self->auth ? rq.user_id : "";
    const char *role = self->auth ? auth_role_name(who->role) : "plaintext";
    if (rq.peer.rid_len != RID_LEN || rid[0] != 0) {
        sub_refuse(self, to, "subscribers must not set a routing id", who->fingerprint, role, NULL,
                   0);
        return;
    }
    HASH_FIND(hh, self->subs, rid, RID_LEN, s);
    if (s && strcmp(s->uid, uid) != 0) {
        /* another connection holds this routing id now */
        self->st.gone++;
        forget(self, s);
        s = NULL;
    }
    if (rq.envelope_rc < 0) {
        sub_refuse(self, to, "expected one payload frame", who->fingerprint, role, NULL, 0);
        return;
    }
    req = json_loadb(zmq_msg_data(rq.body), zmq_msg_size(rq.body), JSON_REJECT_DUPLICATES, NULL);
    on = json_object_get(req, "subscribe") != NULL;
    v = json_object_get(req, on ? "subscribe" : "unsubscribe");
    if (!req) {
        sub_refuse(self, to, "request is not a valid JSON object", who->fingerprint, role, NULL, 0);
        goto out;
    }
    if (!json_is_string(v) || json_object_size(req) != 1) {
        sub_refuse(self, to,
                   "expected {\"subscribe\":\"<prefix>\"} or {\"unsubscribe\":\"<prefix>\"}",
                   who->fingerprint, role, NULL, 0);
        goto out;
    }
    d = json_string_value(v);
    n = json_string_length(v);
    if (n > PREFIX_MAX) {
        sub_refuse(self, to, "prefix longer than 256 bytes", who->fingerprint, role, NULL, 0);
        goto out;
    }
    if ((ng = grant(w, d, n, g)) == 0) {
        sub_refuse(self, to, "this key's role may not read topics under that prefix",
                   who->fingerprint, role, d, n);
        goto out;
    }
    if (!on) {
        if (s) {
            for (size_t i = 0; i < ng; i++)
                del_prefix(s, &g[i]);
            if (s->npfx == 0)
                forget(self, s);
        }
        self->st.subscriptions++;
        sub_ack(self, to, 0, d, n, g, ng);
        goto out;
    }
    if (!s) {
        if (HASH_COUNT(self->subs) >= PUBLISH_MAX_SUBS) {
            sub_refuse(self, to, "too many subscribers", who->fingerprint, role, NULL, 0);
            goto out;
        }
        if (!(s = calloc(1, sizeof *s))) {
            rc = -ENOMEM;
            goto out;
        }
        memcpy(s->rid, rid, RID_LEN);
        snprintf(s->uid, sizeof s->uid, "%s", uid);
        s->who = *who;
        HASH_ADD(hh, self->subs, rid, RID_LEN, s);
        if (!s->hh.tbl) {
            free(s);
            s = NULL;
            rc = -ENOMEM;
            goto out;
        }
    }
    for (size_t i = 0; i < ng && rc == 0; i++)
        rc = add_prefix(s, &g[i]);
    if (rc == -ENOSPC) {
        sub_refuse(self, to, "too many subscriptions on one connection", who->fingerprint, role,
                   NULL, 0);
    } else if (rc == 0) {
        self->st.subscriptions++;
        sub_ack(self, to, 1, d, n, g, ng);
    }
    if (s->npfx == 0)
        forget(self, s);
out:
    if (rc == -ENOMEM)
        cohort_log(LOG_WARNING, "publish: out of memory applying a subscription");
    json_decref(req);
}

/* zbridge handler of the publish socket: up to SUB_CAP messages. */
static int on_pub_input(void *arg)
{
    publish_t *self = arg;
    int rc = zbridge_serve(self->pub, SUB_CAP, handle_sub, self);
    if (rc < 0)
        cohort_log(LOG_WARNING, "publish: subscription receive failed: %s", zmq_strerror(-rc));
    return rc > 0;
}

/* --------------------------------------------------------------- setup --- */

/* Makes a ROUTER socket with the given limits, CURVE if there is a key
 * table, monitored (*mon) and bound at ep. what names it in messages.
 * Returns 0, or a negative errno with err. */
static int open_router(publish_t *self, void **sock, zmonitor_t **mon, const char *what,
                       const char *ep, int64_t maxmsg, int sndhwm, int rcvhwm, char *err,
                       size_t errlen)
{
    int one = 1, rc;
    if (!(*sock = zmq_socket(self->zctx, ZMQ_ROUTER)) ||
        zmq_setsockopt(*sock, ZMQ_ROUTER_MANDATORY, &one, sizeof one) != 0 ||
        zmq_setsockopt(*sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) != 0 ||
        zmq_setsockopt(*sock, ZMQ_SNDHWM, &sndhwm, sizeof sndhwm) != 0 ||
        zmq_setsockopt(*sock, ZMQ_RCVHWM, &rcvhwm, sizeof rcvhwm) != 0 ||
        /* No ZMTP heartbeat (libzmq#4364: see ingest.c); keepalive instead. */
        zmq_setsockopt(*sock, ZMQ_TCP_KEEPALIVE, &one, sizeof one) != 0) {
        rc = -errno;
        snprintf(err, errlen, "creating the %s socket: %s", what, zmq_strerror(errno));
        return rc;
    }
    if (self->auth && (rc = auth_curve_server(*sock, self->secret, err, errlen)) < 0)
        return rc;
    /* before the bind: no peer's events are missed (peer count) */
    if ((rc = zmonitor_new(mon, self->loop, self->zctx, *sock, what, err, errlen)) < 0)
        return rc;
    /* plaintext mode (no key table) binds loopback or ipc:// only, and
     * what libzmq really bound is checked too */
    if ((rc = endpoint_check(ep, !self->auth, err, errlen)) < 0)
        return rc;
    if (zmq_bind(*sock, ep) != 0) {
        rc = -errno;
        snprintf(err, errlen, "binding %s endpoint %s: %s", what, ep, zmq_strerror(errno));
        return rc;
    }
    return endpoint_check_bound(*sock, !self->auth, err, errlen);
}

/* ------------------------------------------------------------- public --- */

int publish_new(publish_t **out, uv_loop_t *loop, void *zctx, const publish_opts_t *o, char *err,
                size_t errlen)
{
    publish_t *self = calloc(1, sizeof *self);
    int rc;
    unsigned char rnd[8];
    *out = NULL;
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    self->loop = loop;
    self->zctx = zctx;
    self->auth = o->auth;
    uv_timer_init(loop, &self->beat);
    self->beat.data = self;
    self->handles = 1;
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
        rc = errno ? -errno : -EIO;
        snprintf(err, errlen, "getrandom for the epoch: %s", strerror(-rc));
        goto fail;
    }
    for (size_t i = 0; i < sizeof rnd; i++)
        snprintf(self->epoch + 2 * i, 3, "%02x", rnd[i]);
    if (o->auth && !o->curve_secret) {
        rc = -EINVAL;
        snprintf(err, errlen, "publishing with a key table needs the server's secret key");
        goto fail;
    }
    self->secret = o->curve_secret;
    if ((rc = open_router(self, &self->pub, &self->pmon, "publish", o->pub_ep, PUBLISH_MAX_MSG,
                          PUBLISH_SNDHWM, SUB_RCVHWM, err, errlen)) < 0)
        goto fail;
    if ((rc = zbridge_new(&self->pbridge, loop, self->pub, on_pub_input, self)) < 0) {
        snprintf(err, errlen, "watching the publish socket: %s", uv_strerror(rc));
        goto fail;
    }
    if ((rc = open_router(self, &self->router, &self->smon, "snapshot", o->snap_ep,
                          PUBLISH_SNAP_MAX_MSG, SNAP_HWM, SNAP_RCVHWM, err, errlen)) < 0)
        goto fail;
    if ((rc = zbridge_new(&self->bridge, loop, self->router, on_snap_input, self)) < 0) {
        snprintf(err, errlen, "watching the snapshot socket: %s", uv_strerror(rc));
        goto fail;
    }
    if ((rc = uv_timer_start(&self->beat, on_beat, BEAT_MS, BEAT_MS)) < 0) {
        snprintf(err, errlen, "starting the heartbeat: %s", uv_strerror(rc));
        goto fail;
    }
    cohort_log(LOG_INFO, "publish: updates on %s, snapshots on %s, epoch %s", o->pub_ep, o->snap_ep,
               self->epoch);
    *out = self;
    return 0;
fail:
    publish_destroy(&self);
    return rc;
}

size_t publish_revalidate(publish_t *self)
{
    sub_t *s, *tmp;
    size_t n = 0;
    if (!self || !self->auth)
        return 0;
    HASH_ITER(hh, self->subs, s, tmp)
    {
        if (auth_check(self->auth, s->uid, NULL) < 0) {
            forget(self, s);
            n++;
        }
    }
    self->st.revoked += n;
    if (n)
        cohort_log(LOG_NOTICE,
                   "publish: %zu subscriber connection%s of revoked or changed keys "
                   "get nothing more",
                   n, n == 1 ? "" : "s");
    return n;
}

int publish_update(publish_t *self, const char *topic, const char *doc, uint64_t seq)
{
    topic_t *t;
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
    if (!doc && !t->env)
        return 0; /* already removed */
    return emit(self, t, doc, seq);
oom:
    if (t)
        free(t->name);
    free(t);
    return -ENOMEM;
}

int publish_versions(publish_t *self, const char *topic, const char *versions)
{
    topic_t *t;
    json_t *v;
    char *text;
    size_t n, omitted = 0;
    if (!self || !topic || !versions || strncmp(topic, "release/", 8) != 0)
        return -EINVAL;
    HASH_FIND_STR(self->topics, topic, t);
    if (!t)
        return -ENOENT;
    if (!(v = json_loads(versions, 0, NULL)) || !json_is_array(v)) {
        json_decref(v);
        return -EINVAL;
    }
    if (json_array_size(v) <= PUBLISH_RELEASES_MAX &&
        strlen(versions) <= PUBLISH_RELEASES_MAX_BYTES) { /* kept byte for byte */
        n = json_array_size(v);
        json_decref(v);
        if (!(text = strdup(versions)))
            return -ENOMEM;
        goto store;
    }
    { /* the newest that fit the bounds, each measured once; the oldest are left out */
        size_t total = 2, start = json_array_size(v);
        while (start > 0 && json_array_size(v) - start < PUBLISH_RELEASES_MAX) {
            char *one = json_dumps(json_array_get(v, start - 1), PROJ_DUMP_FLAGS);
            size_t add = one ? strlen(one) + (total > 2) : 0;
            free(one);
            if (!add) {
                json_decref(v);
                return -ENOMEM;
            }
            if (total + add > PUBLISH_RELEASES_MAX_BYTES)
                break;
            total += add;
            start--;
        }
        for (omitted = 0; omitted < start; omitted++)
            json_array_remove(v, 0);
        n = json_array_size(v);
        text = json_dumps(v, PROJ_DUMP_FLAGS);
        json_decref(v);
        if (!text)
            return -ENOMEM;
    }
store:
    free(t->versions);
    t->versions = text;
    t->n_versions = n;
    t->omitted = omitted;
    return 0;
}

void publish_set_seq(publish_t *self, uint64_t seq, size_t pending)
{
    self->handed = seq;
    self->pending = pending;
}

void publish_stats(const publish_t *self, publish_stats_t *out)
{
    *out = self->st;
    out->subscribers = HASH_COUNT(self->subs);
    out->peers = self->pmon ? zmonitor_peers(self->pmon) : 0;
}

static void on_close(uv_handle_t *h)
{
    publish_t *self = h->data;
    if (--self->handles == 0)
        free(self);
}

/* Closes a socket, lingering up to LINGER_MS. */
static void close_sock(void **sock)
{
    int linger = LINGER_MS;
    if (*sock) {
        zmq_setsockopt(*sock, ZMQ_LINGER, &linger, sizeof linger);
        zmq_close(*sock);
        *sock = NULL;
    }
}

void publish_destroy(publish_t **self_p)
{
    publish_t *self = self_p ? *self_p : NULL;
    topic_t *t, *tmp;
    sub_t *s, *stmp;
    if (!self)
        return;
    *self_p = NULL;
    zbridge_close(&self->bridge);
    zbridge_close(&self->pbridge);
    zmonitor_destroy(&self->smon);
    zmonitor_destroy(&self->pmon);
    close_sock(&self->pub);
    close_sock(&self->router);
    HASH_ITER(hh, self->topics, t, tmp)
    {
        HASH_DEL(self->topics, t);
        free(t->name);
        free(t->env);
        free(t->versions);
        free(t);
    }
    HASH_ITER(hh, self->subs, s, stmp)
    {
        forget(self, s);
    }
    free(self->sel);
    self->sel = NULL;
    uv_close((uv_handle_t *)&self->beat, on_close);
}
