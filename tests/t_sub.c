/* t_sub.c: unit tests for the status subscriber (agents/cohort_sub.h)
 * against a fake publisher built to docs/protocol.md "Status publishing":
 * a PUB and a snapshot ROUTER on ipc:// in a mkdtemp directory, driven from
 * the test's own poll loop (so the test decides exactly what is published,
 * held back or forged, and when). Every wait is bounded. Longer than 1,000
 * lines on purpose: one TAP file per module, and the fake publisher is
 * shared by every case. */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "cohort_sub.h"
#include "tap.h"

#define MAXT 64

static char dir[64];

static uint64_t ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ------------------------------------------------------ fake publisher --- */

/* One topic of the fake daemon. */
typedef struct {
    char topic[128]; /* the topic */
    uint64_t rev;    /* its rev in this epoch */
    uint64_t seq;    /* its seq */
    char *doc;       /* JSON text; NULL: removed */
} ftopic_t;

/* One subscriber of the fake daemon's publish ROUTER. */
typedef struct {
    uint8_t rid[64];   /* its routing id */
    size_t rl;         /* its length */
    char p[8][256];    /* prefixes it subscribed to */
    int np;            /* how many */
} fsub_t;

/* The fake daemon: a publish ROUTER, a snapshot ROUTER and a topic table
 * (sorted). */
typedef struct {
    void *ctx;         /* its own context */
    void *pub;         /* publish ROUTER at pub_ep (subscribers are DEALERs) */
    fsub_t subs[64];   /* its subscribers */
    int nsubs;         /* how many */
    void *router;      /* ROUTER at snap_ep */
    char pub_ep[128];  /* ipc endpoint */
    char snap_ep[128]; /* ipc endpoint */
    char epoch[17];    /* this run */
    uint64_t seq;      /* log sequence */
    uint64_t hb_rev;   /* system rev */
    ftopic_t t[MAXT];  /* topics, sorted */
    size_t n;          /* how many */
    int hb_ms;         /* heartbeat period, 0: none */
    uint64_t next_hb;  /* next heartbeat (ms) */
    int hold;          /* keep snapshot requests instead of answering */
    int ignore;        /* drop this many requests unanswered */
    int error_next;    /* answer this many requests with $error */
    const char *ebody; /* the $error body (NULL: {"error":"bad request"}) */
    const char *sbody; /* non-NULL: answer subscriptions $error with this body */
    int lie_count;     /* add this to the next $end count */
    int snap_system;   /* include a "system" topic in snapshots it matches */
    int requests;      /* snapshot requests received */
    /* a held request */
    int pending;        /* 0 none, 1 received, 2 entries sent (end to come) */
    uint8_t ident[256]; /* its ROUTER identity */
    size_t identlen;    /* its length */
    char prefix[256];   /* its prefix */
    uint64_t pend_seq;  /* the seq its entries reflect */
    size_t pend_count;  /* entries sent */
} fake_t;

static int fake_id;

static void fake_epoch(fake_t *f)
{
    static unsigned salt = 0x5f2c9a31u;
    salt = salt * 1103515245u + 12345u;
    snprintf(f->epoch, sizeof f->epoch, "%08x%08x", salt, (unsigned)ms_now());
}

static void fake_open(fake_t *f)
{
    int hwm = 100000, zero = 0;
    f->pub = zmq_socket(f->ctx, ZMQ_ROUTER);
    f->nsubs = 0;
    f->router = zmq_socket(f->ctx, ZMQ_ROUTER);
    zmq_setsockopt(f->pub, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(f->pub, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(f->router, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(f->router, ZMQ_LINGER, &zero, sizeof zero);
    if (zmq_bind(f->pub, f->pub_ep) != 0 || zmq_bind(f->router, f->snap_ep) != 0) {
        diag("bind: %s", zmq_strerror(errno));
        exit(1);
    }
}

/* A fake daemon at the given endpoints, or at fresh ipc ones in dir. */
static fake_t *fake_new_at(const char *pub, const char *snap)
{
    fake_t *f = calloc(1, sizeof *f);
    f->ctx = zmq_ctx_new();
    fake_id++;
    if (pub) {
        snprintf(f->pub_ep, sizeof f->pub_ep, "%s", pub);
        snprintf(f->snap_ep, sizeof f->snap_ep, "%s", snap);
    } else {
        snprintf(f->pub_ep, sizeof f->pub_ep, "ipc://%s/pub%d", dir, fake_id);
        snprintf(f->snap_ep, sizeof f->snap_ep, "ipc://%s/snap%d", dir, fake_id);
    }
    fake_epoch(f);
    f->hb_ms = 50;
    fake_open(f);
    return f;
}

static fake_t *fake_new(void)
{
    return fake_new_at(NULL, NULL);
}

/* Closes the sockets (the daemon is down). */
static void fake_down(fake_t *f)
{
    zmq_close(f->pub);
    zmq_close(f->router);
    f->pub = f->router = NULL;
}

static void fake_free(fake_t *f)
{
    if (f->pub)
        fake_down(f);
    zmq_ctx_term(f->ctx);
    for (size_t i = 0; i < f->n; i++)
        free(f->t[i].doc);
    if (strncmp(f->pub_ep, "ipc://", 6) == 0)
        unlink(f->pub_ep + 6);
    if (strncmp(f->snap_ep, "ipc://", 6) == 0)
        unlink(f->snap_ep + 6);
    free(f);
}

static char *envelope(const char *topic, const char *epoch, uint64_t rev, uint64_t seq,
                      const char *doc)
{
    char *s = NULL;
    if (asprintf(&s,
                 "{\"topic\":\"%s\",\"epoch\":\"%s\",\"rev\":%" PRIu64 ",\"seq\":%" PRIu64
                 ",\"doc\":%s}",
                 topic, epoch, rev, seq, doc ? doc : "null") < 0)
        exit(1);
    return s;
}

static void send2(void *s, const void *a, size_t al, const char *b)
{
    zmq_send(s, a, al, ZMQ_SNDMORE | ZMQ_DONTWAIT);
    zmq_send(s, b, strlen(b), ZMQ_DONTWAIT);
}

/* Publishes [topic][b] to every subscriber whose prefixes match ("system"
 * goes to all with a granted prefix), as the daemon's publish ROUTER does. */
static void fake_pubsend(fake_t *f, const char *topic, size_t tl, const char *b)
{
    for (int i = 0; i < f->nsubs; i++) {
        int hit = f->subs[i].np > 0 && tl == 6 && memcmp(topic, "system", 6) == 0;
        for (int k = 0; k < f->subs[i].np && !hit; k++)
            hit = strlen(f->subs[i].p[k]) <= tl &&
                  memcmp(topic, f->subs[i].p[k], strlen(f->subs[i].p[k])) == 0;
        if (!hit)
            continue;
        zmq_send(f->pub, f->subs[i].rid, f->subs[i].rl, ZMQ_SNDMORE | ZMQ_DONTWAIT);
        send2(f->pub, topic, tl, b);
    }
}

/* Reads subscription requests [rid][{"subscribe":P}] and answers each with
 * $subscribed. */
static void fake_subs(fake_t *f)
{
    for (;;) {
        zmq_msg_t id, body;
        fsub_t *s = NULL;
        const char *p;
        json_t *j;
        zmq_msg_init(&id);
        if (zmq_msg_recv(&id, f->pub, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&id);
            return;
        }
        zmq_msg_init(&body);
        zmq_msg_recv(&body, f->pub, 0);
        j = json_loadb(zmq_msg_data(&body), zmq_msg_size(&body), 0, NULL);
        p = json_string_value(json_object_get(j, "subscribe"));
        for (int i = 0; i < f->nsubs && !s; i++)
            if (f->subs[i].rl == zmq_msg_size(&id) &&
                memcmp(f->subs[i].rid, zmq_msg_data(&id), f->subs[i].rl) == 0)
                s = &f->subs[i];
        if (!s && f->nsubs < 64 && zmq_msg_size(&id) <= sizeof s->rid) {
            s = &f->subs[f->nsubs++];
            memset(s, 0, sizeof *s);
            s->rl = zmq_msg_size(&id);
            memcpy(s->rid, zmq_msg_data(&id), s->rl);
        }
        if (p && s && f->sbody) {
            zmq_send(f->pub, s->rid, s->rl, ZMQ_SNDMORE | ZMQ_DONTWAIT);
            send2(f->pub, "$error", 6, f->sbody);
        } else if (p && s && s->np < 8) {
            snprintf(s->p[s->np++], sizeof s->p[0], "%s", p);
            zmq_send(f->pub, s->rid, s->rl, ZMQ_SNDMORE | ZMQ_DONTWAIT);
            send2(f->pub, "$subscribed", 11, "{}");
        }
        json_decref(j);
        zmq_msg_close(&id);
        zmq_msg_close(&body);
    }
}

/* Publishes a (possibly forged) envelope. */
static void fake_raw(fake_t *f, const char *topic, const char *epoch, uint64_t rev, uint64_t seq,
                     const char *doc)
{
    char *e = envelope(topic, epoch, rev, seq, doc);
    fake_pubsend(f, topic, strlen(topic), e);
    free(e);
}

static ftopic_t *fake_find(fake_t *f, const char *topic, int create)
{
    size_t i = 0;
    while (i < f->n && strcmp(f->t[i].topic, topic) < 0)
        i++;
    if (i < f->n && strcmp(f->t[i].topic, topic) == 0)
        return &f->t[i];
    if (!create || f->n == MAXT)
        return NULL;
    memmove(&f->t[i + 1], &f->t[i], (f->n - i) * sizeof f->t[0]);
    memset(&f->t[i], 0, sizeof f->t[i]);
    snprintf(f->t[i].topic, sizeof f->t[i].topic, "%s", topic);
    f->n++;
    return &f->t[i];
}

/* The daemon's next document for topic (NULL: removal): rev + 1, seq + 1,
 * published when publish is set. */
static void fake_set(fake_t *f, const char *topic, const char *doc, int publish)
{
    ftopic_t *t = fake_find(f, topic, 1);
    t->rev++;
    t->seq = ++f->seq;
    free(t->doc);
    t->doc = doc ? strdup(doc) : NULL;
    if (publish)
        fake_raw(f, topic, f->epoch, t->rev, t->seq, t->doc);
}

/* Sets topic to a small document holding n. */
static void fake_setn(fake_t *f, const char *topic, int n, int publish)
{
    char doc[160];
    snprintf(doc, sizeof doc, "{\"n\":%d,\"places\":%d,\"name\":\"%s\"}", n, n * 2, topic);
    fake_set(f, topic, doc, publish);
}

static void fake_heartbeat(fake_t *f)
{
    char doc[96];
    size_t live = 0;
    for (size_t i = 0; i < f->n; i++)
        live += f->t[i].doc != NULL;
    snprintf(doc, sizeof doc, "{\"head_seq\":%" PRIu64 ",\"topics\":%zu}", f->seq, live);
    fake_raw(f, "system", f->epoch, ++f->hb_rev, f->seq, doc);
}

/* A daemon restart: a new epoch, removed topics forgotten, every topic
 * published again at rev 1. With reopen, the sockets are closed and bound
 * again. */
static void fake_restart(fake_t *f, int reopen)
{
    size_t o = 0;
    if (reopen) {
        if (f->pub)
            fake_down(f);
        fake_open(f);
    }
    fake_epoch(f);
    f->hb_rev = 0;
    f->pending = 0;
    for (size_t i = 0; i < f->n; i++) {
        if (!f->t[i].doc)
            continue;
        f->t[o] = f->t[i];
        f->t[o].rev = 1;
        o++;
    }
    f->n = o;
    for (size_t i = 0; i < f->n; i++)
        fake_raw(f, f->t[i].topic, f->epoch, 1, f->t[i].seq, f->t[i].doc);
}

static int starts(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

/* Sends the entries for prefix to ident; returns how many. */
static size_t fake_entries(fake_t *f, const uint8_t *ident, size_t il, const char *prefix)
{
    size_t n = 0;
    if (f->snap_system && starts("system", prefix)) {
        char *e = envelope("system", f->epoch, f->hb_rev ? f->hb_rev : 1, f->seq, "{}");
        zmq_send(f->router, ident, il, ZMQ_SNDMORE | ZMQ_DONTWAIT);
        send2(f->router, "system", 6, e);
        free(e);
        n++;
    }
    for (size_t i = 0; i < f->n; i++) {
        ftopic_t *t = &f->t[i];
        char *e;
        if (!t->doc || !starts(t->topic, prefix))
            continue;
        e = envelope(t->topic, f->epoch, t->rev, t->seq, t->doc);
        zmq_send(f->router, ident, il, ZMQ_SNDMORE | ZMQ_DONTWAIT);
        send2(f->router, t->topic, strlen(t->topic), e);
        free(e);
        n++;
    }
    return n;
}

static void fake_end(fake_t *f, const uint8_t *ident, size_t il, uint64_t seq, size_t count)
{
    char end[160];
    snprintf(end, sizeof end, "{\"count\":%zu,\"end\":true,\"epoch\":\"%s\",\"seq\":%" PRIu64 "}",
             count + (size_t)f->lie_count, f->epoch, seq);
    f->lie_count = 0;
    zmq_send(f->router, ident, il, ZMQ_SNDMORE | ZMQ_DONTWAIT);
    send2(f->router, "$end", 4, end);
}

/* Held request: send its entries now (the $end comes with fake_release_end). */
static void fake_release_entries(fake_t *f)
{
    if (f->pending != 1)
        return;
    f->pend_seq = f->seq;
    f->pend_count = fake_entries(f, f->ident, f->identlen, f->prefix);
    f->pending = 2;
}

static void fake_release_end(fake_t *f)
{
    if (f->pending == 1)
        fake_release_entries(f);
    if (f->pending != 2)
        return;
    fake_end(f, f->ident, f->identlen, f->pend_seq, f->pend_count);
    f->pending = 0;
}

/* Answers (or holds, ignores, refuses) snapshot requests. */
static void fake_serve(fake_t *f)
{
    for (;;) {
        zmq_msg_t id, body;
        json_t *j;
        const char *p;
        int more = 0;
        size_t ml = sizeof more;
        zmq_msg_init(&id);
        if (zmq_msg_recv(&id, f->router, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&id);
            return;
        }
        zmq_msg_init(&body);
        zmq_msg_recv(&body, f->router, 0);
        zmq_getsockopt(f->router, ZMQ_RCVMORE, &more, &ml);
        while (more) { /* not expected from a DEALER */
            zmq_msg_t x;
            zmq_msg_init(&x);
            zmq_msg_recv(&x, f->router, 0);
            zmq_getsockopt(f->router, ZMQ_RCVMORE, &more, &ml);
            zmq_msg_close(&x);
        }
        f->requests++;
        j = json_loadb(zmq_msg_data(&body), zmq_msg_size(&body), 0, NULL);
        p = json_string_value(json_object_get(j, "snapshot"));
        if (f->ignore > 0) {
            f->ignore--;
        } else if (!p || f->error_next > 0) {
            if (f->error_next > 0)
                f->error_next--;
            zmq_send(f->router, zmq_msg_data(&id), zmq_msg_size(&id), ZMQ_SNDMORE);
            send2(f->router, "$error", 6, f->ebody ? f->ebody : "{\"error\":\"bad request\"}");
        } else if (f->hold) {
            f->pending = 1;
            f->identlen = zmq_msg_size(&id) < sizeof f->ident ? zmq_msg_size(&id) : sizeof f->ident;
            memcpy(f->ident, zmq_msg_data(&id), f->identlen);
            snprintf(f->prefix, sizeof f->prefix, "%s", p);
        } else {
            size_t n = fake_entries(f, zmq_msg_data(&id), zmq_msg_size(&id), p);
            fake_end(f, zmq_msg_data(&id), zmq_msg_size(&id), f->seq, n);
        }
        json_decref(j);
        zmq_msg_close(&id);
        zmq_msg_close(&body);
    }
}

static void fake_tick(fake_t *f)
{
    uint64_t now = ms_now();
    if (!f->pub)
        return;
    fake_subs(f);
    fake_serve(f);
    if (f->hb_ms > 0 && now >= f->next_hb) {
        fake_heartbeat(f);
        f->next_hb = now + (uint64_t)f->hb_ms;
    }
}

/* Runs the fake in a thread (for cohort_sub_run, which drives only the
 * subscriber) until *stop is set. */
typedef struct {
    fake_t *f;
    volatile int stop;
    pthread_t th;
} runner_t;

static void *runner(void *arg)
{
    runner_t *r = arg;
    while (!r->stop) {
        zmq_pollitem_t it[2] = {{.socket = r->f->router, .events = ZMQ_POLLIN},
                                {.socket = r->f->pub, .events = ZMQ_POLLIN}};
        zmq_poll(it, 2, 10);
        fake_tick(r->f);
    }
    return NULL;
}

static void runner_start(runner_t *r, fake_t *f)
{
    r->f = f;
    r->stop = 0;
    pthread_create(&r->th, NULL, runner, r);
}

static void runner_stop(runner_t *r)
{
    r->stop = 1;
    pthread_join(r->th, NULL);
}

/* ------------------------------------------------------------ recorder --- */

/* What the callbacks saw, per subscriber. */
typedef struct {
    cohort_sub_t *sub;     /* the subscriber */
    int updates;           /* update callbacks */
    int from_snapshot;     /* ... with snapshot = 1 */
    int removals;          /* ... with doc NULL */
    int synced;            /* SYNCED events */
    int resyncs;           /* RESYNC events */
    int retries;           /* RETRY events (and REFUSED) */
    int denied;            /* DENIED events */
    char reasons[16][256]; /* the first 16 RESYNC/RETRY reasons */
    int nreasons;          /* how many */
    char last[256];        /* the last reason */
    int stop_on_sync;      /* call cohort_sub_stop at SYNCED */
    int bad_doc;           /* a callback saw an inconsistent view */
} rec_t;

static void on_update(void *arg, const cohort_sub_doc_t *d)
{
    rec_t *r = arg;
    cohort_sub_doc_t g;
    r->updates++;
    r->from_snapshot += d->snapshot;
    if (!d->doc) {
        r->removals++;
        if (cohort_sub_get(r->sub, d->topic, &g) != -ENOENT)
            r->bad_doc++;
    } else if (cohort_sub_get(r->sub, d->topic, &g) != 0 || g.doc != d->doc || g.rev != d->rev) {
        r->bad_doc++; /* the state must already show what the callback gets */
    }
}

static void on_event(void *arg, cohort_sub_event_t ev, const char *reason)
{
    rec_t *r = arg;
    if (ev == COHORT_SUB_SYNCED) {
        r->synced++;
        if (r->stop_on_sync)
            cohort_sub_stop(r->sub);
        return;
    }
    if (ev == COHORT_SUB_RESYNC)
        r->resyncs++;
    else if (ev == COHORT_SUB_DENIED)
        r->denied++;
    else
        r->retries++;
    snprintf(r->last, sizeof r->last, "%s", reason);
    if (r->nreasons < 16)
        snprintf(r->reasons[r->nreasons++], sizeof r->reasons[0], "%s", reason);
}

static cohort_sub_t *sub_new(fake_t *f, rec_t *r, cohort_sub_opts_t *o, const char *p0,
                             const char *p1, const char *p2)
{
    const char *ps[3] = {p0, p1, p2};
    memset(r, 0, sizeof *r);
    o->publish = f->pub_ep;
    o->snapshot = f->snap_ep;
    o->prefixes = ps;
    o->nprefixes = p2 ? 3 : p1 ? 2 : 1;
    o->on_update = on_update;
    o->on_event = on_event;
    o->arg = r;
    r->sub = cohort_sub_new(o);
    if (!r->sub) {
        diag("cohort_sub_new: %s", strerror(errno));
        exit(1);
    }
    return r->sub;
}

/* ---------------------------------------------------------------- drive --- */

typedef int(pred_fn)(void *arg);

/* Runs the fake and the subscribers for up to ms, or until pred(arg) holds.
 * Returns 1 if pred held. */
static int drive(fake_t *f, rec_t **rs, int nr, long ms, pred_fn *pred, void *arg)
{
    uint64_t end = ms_now() + (uint64_t)ms;
    for (;;) {
        zmq_pollitem_t items[2 + 4 * COHORT_SUB_POLLITEMS];
        int n = 0;
        long t = 10;
        if (pred && pred(arg))
            return 1;
        if (ms_now() >= end)
            return 0;
        if (f && f->router) {
            items[n++] = (zmq_pollitem_t){.socket = f->router, .events = ZMQ_POLLIN};
            items[n++] = (zmq_pollitem_t){.socket = f->pub, .events = ZMQ_POLLIN};
        }
        for (int i = 0; i < nr; i++) {
            long st = cohort_sub_timeout(rs[i]->sub);
            n += cohort_sub_pollitems(rs[i]->sub, items + n);
            if (st < t)
                t = st;
        }
        zmq_poll(items, n, t);
        if (f)
            fake_tick(f);
        for (int i = 0; i < nr; i++) {
            int rc = cohort_sub_pump(rs[i]->sub);
            if (rc < 0)
                diag("pump: %s", strerror(-rc));
        }
    }
}

static int p_synced(void *arg)
{
    rec_t *r = arg;
    return cohort_sub_synced(r->sub) && r->synced > 0;
}

/* Waits for n syncs in total. */
typedef struct {
    rec_t *r;
    int n;
} nsync_t;

static int p_nsync(void *arg)
{
    nsync_t *w = arg;
    return w->r->synced >= w->n && cohort_sub_synced(w->r->sub);
}

static int p_resync(void *arg)
{
    return ((rec_t *)arg)->resyncs > 0;
}

typedef struct {
    rec_t *r;
    int n;
} nres_t;

static int p_nresync(void *arg)
{
    nres_t *w = arg;
    return w->r->resyncs >= w->n;
}

static int p_retry(void *arg)
{
    return ((rec_t *)arg)->retries > 0;
}

static int p_denied(void *arg)
{
    return ((rec_t *)arg)->denied > 0;
}

static int p_pending(void *arg)
{
    return ((fake_t *)arg)->pending == 1;
}

/* Waits until the subscriber has read `want` non-heartbeat messages. */
typedef struct {
    rec_t *r;
    uint64_t want;
} nrecv_t;

static int p_recv(void *arg)
{
    nrecv_t *w = arg;
    cohort_sub_stats_t st;
    cohort_sub_stats(w->r->sub, &st);
    return st.received - st.heartbeats >= w->want;
}

static uint64_t data_received(rec_t *r)
{
    cohort_sub_stats_t st;
    cohort_sub_stats(r->sub, &st);
    return st.received - st.heartbeats;
}

/* Waits (up to 2 s) until r has read n more non-heartbeat messages than
 * before (the caller has just published them). */
static int wait_more(fake_t *f, rec_t *r, uint64_t before, uint64_t n)
{
    nrecv_t w = {r, before + n};
    return drive(f, &r, 1, 2000, p_recv, &w);
}

/* Publishes nothing; lets a subscriber read what is in flight. */
static void settle(fake_t *f, rec_t *r, long ms)
{
    drive(f, &r, 1, ms, NULL, NULL);
}

/* 1 when sub holds exactly the fake's live topics under prefix, with the
 * same rev, seq, epoch and document. diag()s the first difference. */
static int same_as_fake(rec_t *r, fake_t *f, const char *prefix, int verbose)
{
    size_t live = 0;
    for (size_t i = 0; i < f->n; i++) {
        ftopic_t *t = &f->t[i];
        cohort_sub_doc_t d;
        json_t *want;
        int eq;
        if (!t->doc || !starts(t->topic, prefix))
            continue;
        live++;
        if (cohort_sub_get(r->sub, t->topic, &d) != 0) {
            if (verbose)
                diag("missing %s", t->topic);
            return 0;
        }
        want = json_loads(t->doc, 0, NULL);
        eq = json_equal(want, (json_t *)d.doc);
        json_decref(want);
        if (!eq || d.rev != t->rev || d.seq != t->seq || strcmp(d.epoch, f->epoch) != 0) {
            if (verbose)
                diag("%s: rev %" PRIu64 " want %" PRIu64 ", seq %" PRIu64 " want %" PRIu64
                     ", doc %s",
                     t->topic, d.rev, t->rev, d.seq, t->seq, eq ? "equal" : "differs");
            return 0;
        }
    }
    if (cohort_sub_count(r->sub) != live) {
        if (verbose)
            diag("count %zu want %zu", cohort_sub_count(r->sub), live);
        return 0;
    }
    return 1;
}

typedef struct {
    rec_t *r;
    fake_t *f;
    const char *prefix;
} conv_t;

static int p_converged(void *arg)
{
    conv_t *c = arg;
    return cohort_sub_synced(c->r->sub) && same_as_fake(c->r, c->f, c->prefix, 0);
}

/* ---------------------------------------------------------------- tests --- */

static void t_basic(void)
{
    fake_t *f = fake_new();
    rec_t r;
    cohort_sub_opts_t o = {0};
    cohort_sub_stats_t st;
    cohort_sub_doc_t d;
    uint64_t b;
    void *shared = zmq_ctx_new();

    diag("snapshot, then live updates");
    fake_setn(f, "cohort/sf/2009-1", 1, 0);
    fake_setn(f, "cohort/sf/2009-1", 2, 0);
    fake_setn(f, "cohort/sf/2010-1", 1, 0);
    fake_setn(f, "agency/police/sf/2009-1", 1, 0);
    fake_setn(f, "programme/sf", 1, 0);
    o.zctx = shared;
    sub_new(f, &r, &o, "cohort/sf/", NULL, NULL);
    ok(!cohort_sub_synced(r.sub) && cohort_sub_count(r.sub) == 0 && *cohort_sub_epoch(r.sub) == 0,
       "not synced before the snapshot");
    ok(drive(f, (rec_t *[]){&r}, 1, 3000, p_synced, &r), "synced");
    is_int(cohort_sub_count(r.sub), 2, "two topics under cohort/sf/");
    ok(same_as_fake(&r, f, "cohort/sf/", 1), "state is the publisher's");
    is_str(cohort_sub_epoch(r.sub), f->epoch, "epoch taken from the snapshot");
    is_int(r.updates, 2, "one callback per snapshot topic");
    is_int(r.from_snapshot, 2, "flagged as from the snapshot");
    is_int(r.synced, 1, "one SYNCED event");
    ok(cohort_sub_get(r.sub, "cohort/sf/2009-1", &d) == 0 && d.rev == 2 && d.snapshot == 1,
       "get: rev 2 from the snapshot");
    ok(cohort_sub_get(r.sub, "programme/sf", &d) == -ENOENT, "topics outside the prefix not held");

    b = data_received(&r);
    fake_setn(f, "cohort/sf/2009-1", 3, 1);
    ok(wait_more(f, &r, b, 1), "live update received");
    ok(same_as_fake(&r, f, "cohort/sf/", 1), "live update applied");
    ok(cohort_sub_get(r.sub, "cohort/sf/2009-1", &d) == 0 && d.rev == 3 && !d.snapshot &&
           json_integer_value(json_object_get(d.doc, "n")) == 3,
       "rev 3 live, doc n=3");
    is_int(r.updates, 3, "callback for it");

    b = data_received(&r);
    fake_setn(f, "programme/sf", 2, 1);              /* not subscribed: never arrives */
    fake_raw(f, "systemd/x", f->epoch, 1, 99, "{}"); /* not a prefix of it: never sent */
    fake_setn(f, "cohort/sf/2011-1", 1, 1);          /* a new topic, rev 1 */
    ok(wait_more(f, &r, b, 1), "one more received");
    is_int(cohort_sub_count(r.sub), 3, "new topic (rev 1) added");
    ok(same_as_fake(&r, f, "cohort/sf/", 1), "state is the publisher's");

    b = data_received(&r);
    fake_set(f, "cohort/sf/2010-1", NULL, 1); /* removal */
    wait_more(f, &r, b, 1);
    is_int(r.removals, 1, "removal reported with doc NULL");
    ok(cohort_sub_get(r.sub, "cohort/sf/2010-1", &d) == -ENOENT, "removed topic gone");
    is_int(cohort_sub_count(r.sub), 2, "count without it");
    b = data_received(&r);
    fake_setn(f, "cohort/sf/2010-1", 7, 1); /* back, rev continues */
    wait_more(f, &r, b, 1);
    ok(cohort_sub_get(r.sub, "cohort/sf/2010-1", &d) == 0 && d.rev == 3,
       "re-created topic applied at rev 3 (tombstone kept the rev)");

    /* Old news: the current rev again, and an older one. */
    cohort_sub_stats(r.sub, &st);
    {
        uint64_t stale = st.stale;
        ftopic_t *t = fake_find(f, "cohort/sf/2009-1", 0);
        b = data_received(&r);
        fake_raw(f, t->topic, f->epoch, t->rev, t->seq, t->doc);
        fake_raw(f, t->topic, f->epoch, t->rev - 1, t->seq - 1, "{\"n\":-1}");
        fake_raw(f, "cohort/sf/2009-1", f->epoch, 1, 1, "\"not an object\"");
        fake_pubsend(f, "cohort/sf/2009-1", 16, "{not json");
        wait_more(f, &r, b, 4);
        cohort_sub_stats(r.sub, &st);
        is_int(st.stale - stale, 2, "updates at or below the held rev ignored");
        is_int(st.bad, 2, "malformed envelopes counted as bad");
        ok(same_as_fake(&r, f, "cohort/sf/", 1), "state unchanged by them");
    }
    is_int(r.resyncs, 0, "no resync in all that");
    is_int(r.bad_doc, 0, "callbacks always saw the state they reported");
    cohort_sub_destroy(&r.sub);
    ok(r.sub == NULL, "destroy nulls the pointer");
    cohort_sub_destroy(&r.sub);
    cohort_sub_destroy(NULL);
    ok(r.sub == NULL, "destroy is idempotent, and takes NULL");
    zmq_ctx_term(shared);
    fake_free(f);
}

static int count_each(void *arg, const cohort_sub_doc_t *d)
{
    int *n = arg;
    (*n)++;
    return d->rev == 999; /* never stops */
}

static int stop_first(void *arg, const cohort_sub_doc_t *d)
{
    (void)d;
    (*(int *)arg)++;
    return 1;
}

static void t_queries_and_opts(void)
{
    fake_t *f = fake_new();
    rec_t r;
    cohort_sub_opts_t o = {0};
    const char *ps[] = {"x"};
    cohort_sub_opts_t bad = {.prefixes = ps, .nprefixes = 0};
    int n = 0;
    char longp[COHORT_SUB_MAX_TOPIC + 2];
    runner_t run;

    diag("queries, options, run/stop");
    errno = 0;
    ok(cohort_sub_new(NULL) == NULL && errno == EINVAL, "NULL opts: EINVAL");
    ok(cohort_sub_new(&bad) == NULL && errno == EINVAL, "no prefixes: EINVAL");
    memset(longp, 'a', sizeof longp - 1);
    longp[sizeof longp - 1] = 0;
    ps[0] = longp;
    bad.nprefixes = 1;
    ok(cohort_sub_new(&bad) == NULL && errno == EINVAL, "prefix too long: EINVAL");
    ps[0] = "x";
    bad.publish = "nonsense://x";
    ok(cohort_sub_new(&bad) == NULL && errno != 0, "bad endpoint refused");

    fake_setn(f, "cohort/a/1", 1, 0);
    fake_setn(f, "cohort/a/2", 1, 0);
    fake_setn(f, "cohort/b/1", 1, 0);
    fake_setn(f, "agency/p/a/1", 1, 0);
    /* Overlapping prefixes: "cohort/a/" is covered by "cohort/", asked once. */
    sub_new(f, &r, &o, "cohort/a/", "cohort/", "cohort/");
    r.stop_on_sync = 1;
    runner_start(&run, f);
    {
        uint64_t t0 = ms_now();
        int rc = cohort_sub_run(r.sub, 3000);
        is_int(rc, 1, "run returns 1 when a callback stops it");
        ok(ms_now() - t0 < 2500, "... well before its time limit");
    }
    runner_stop(&run);
    is_int(f->requests, 1, "one snapshot request for overlapping prefixes");
    is_int(cohort_sub_count(r.sub), 3, "three cohort topics");
    is_int(cohort_sub_each(r.sub, "cohort/a/", count_each, &n), 2, "each over a prefix");
    is_int(n, 2, "... called twice");
    n = 0;
    is_int(cohort_sub_each(r.sub, NULL, stop_first, &n), 1, "each stops on non-zero");
    is_int(cohort_sub_each(r.sub, "zzz", count_each, &n), 0, "each over nothing");
    is_int(cohort_sub_run(r.sub, 0), 0, "run(0) returns 0");
    {
        uint64_t t0 = ms_now();
        is_int(cohort_sub_run(r.sub, 120), 0, "run(120) returns 0 at its limit");
        ok(ms_now() - t0 >= 110 && ms_now() - t0 < 1000, "... after about 120 ms");
    }
    ok(cohort_sub_timeout(r.sub) >= 0 && cohort_sub_timeout(r.sub) <= 3000,
       "timeout bounded by the heartbeat timer");
    is_str(cohort_sub_event_name(COHORT_SUB_RESYNC), "RESYNC", "event names");
    cohort_sub_destroy(&r.sub);
    fake_free(f);
}

static void t_queued(void)
{
    fake_t *f = fake_new();
    rec_t r;
    cohort_sub_opts_t o = {0};
    cohort_sub_stats_t st;
    cohort_sub_doc_t d;
    nrecv_t w = {&r, 0};

    diag("updates queued during the snapshot: old ones ignored, newer applied");
    fake_setn(f, "cohort/sf/1", 1, 0);
    fake_setn(f, "cohort/sf/1", 2, 0);
    fake_setn(f, "cohort/sf/1", 3, 0); /* rev 3 */
    f->hold = 1;
    sub_new(f, &r, &o, "cohort/", NULL, NULL);
    ok(drive(f, (rec_t *[]){&r}, 1, 3000, p_pending, f), "snapshot request held");
    fake_setn(f, "cohort/sf/1", 4, 1);   /* rev 4: queued, older than the snapshot */
    fake_setn(f, "cohort/sf/2", 1, 1);   /* new topic, rev 1: queued ... */
    fake_set(f, "cohort/sf/2", NULL, 1); /* ... and removed before the snapshot */
    fake_setn(f, "cohort/sf/1", 5, 0);   /* rev 5: only in the snapshot */
    w.want = 3;
    ok(drive(f, (rec_t *[]){&r}, 1, 2000, p_recv, &w), "three updates queued");
    fake_release_entries(f);           /* snapshot reflects rev 5 */
    fake_setn(f, "cohort/sf/1", 6, 1); /* rev 6: after the snapshot */
    fake_setn(f, "cohort/sf/3", 1, 1); /* a new topic after the snapshot */
    w.want = 5;
    ok(drive(f, (rec_t *[]){&r}, 1, 2000, p_recv, &w), "two more queued");
    ok(!cohort_sub_synced(r.sub), "still waiting for the end marker");
    fake_release_end(f);
    ok(drive(f, (rec_t *[]){&r}, 1, 2000, p_synced, &r), "synced");
    cohort_sub_stats(r.sub, &st);
    ok(cohort_sub_get(r.sub, "cohort/sf/1", &d) == 0 && d.rev == 6,
       "queued rev 6 applied on top of snapshot rev 5");
    ok(cohort_sub_get(r.sub, "cohort/sf/2", &d) == -ENOENT,
       "a topic created and removed before the snapshot is not resurrected");
    ok(cohort_sub_get(r.sub, "cohort/sf/3", &d) == 0 && d.rev == 1, "queued new topic applied");
    ok(st.queued >= 5, "updates went through the queue (%" PRIu64 ")", st.queued);
    is_int(st.stale, 3, "rev 4 and the created/removed topic's two updates ignored");
    is_int(r.resyncs, 0, "no resync");
    ok(same_as_fake(&r, f, "cohort/", 1), "state is the publisher's");
    cohort_sub_destroy(&r.sub);
    fake_free(f);
}

static void t_gap(void)
{
    fake_t *f = fake_new();
    rec_t r;
    cohort_sub_opts_t o = {0};
    nsync_t ns = {&r, 2};
    conv_t cv = {&r, f, "cohort/"};

    diag("rev gap: resync with a reason");
    fake_setn(f, "cohort/sf/1", 1, 0);
    fake_setn(f, "cohort/sf/1", 2, 0);
    sub_new(f, &r, &o, "cohort/", NULL, NULL);
    ok(drive(f, (rec_t *[]){&r}, 1, 3000, p_synced, &r), "synced");
    fake_setn(f, "cohort/sf/1", 3, 0); /* lost */
    fake_setn(f, "cohort/sf/1", 4, 1);
    ok(drive(f, (rec_t *[]){&r}, 1, 2000, p_resync, &r), "resync");
    is_str(r.last, "gap on cohort/sf/1: rev 4 after 2", "reason names topic and revs");
    ok(!cohort_sub_synced(r.sub) || r.synced == 2, "not synced during the resync");
    ok(drive(f, (rec_t *[]){&r}, 1, 3000, p_nsync, &ns), "synced again");
    ok(same_as_fake(&r, f, "cohort/", 1), "state is the publisher's");
    is_int(r.updates, 2, "callback for the one topic that changed (snapshot), not the same again");

    fake_setn(f, "cohort/sf/9", 1, 0); /* a new topic whose rev 1 is lost */
    fake_setn(f, "cohort/sf/9", 2, 1);
    ns.n = 3;
    ok(drive(f, (rec_t *[]){&r}, 1, 2000, p_nsync, &ns) && r.resyncs == 2, "second resync");
    is_str(r.reasons[1], "gap on cohort/sf/9: rev 2 for a new topic", "reason for a new topic");
    ok(drive(f, (rec_t *[]){&r}, 1, 2000, p_converged, &cv), "converged");
    cohort_sub_destroy(&r.sub);
    fake_free(f);
}

static void t_epoch(void)
{
    fake_t *f = fake_new();
    rec_t r;
    cohort_sub_opts_t o = {0};
    nsync_t ns = {&r, 2};
    char old[17];

    diag("epoch change: resync");
    fake_setn(f, "cohort/sf/1", 1, 0);
    fake_setn(f, "cohort/sf/1", 2, 0);
    fake_setn(f, "cohort/sf/2", 1, 0);
    fake_set(f, "cohort/sf/3", "{}", 0);
    sub_new(f, &r, &o, "cohort/", NULL, NULL);
    ok(drive(f, (rec_t *[]){&r}, 1, 3000, p_synced, &r), "synced");
    memcpy(old, f->epoch, sizeof old);
    fake_set(f, "cohort/sf/3", NULL, 0); /* removed while down */
    fake_restart(f, 0);
    ok(strcmp(old, f->epoch) != 0, "new epoch");
    ok(drive(f, (rec_t *[]){&r}, 1, 2000, p_resync, &r), "resync");
    is_str(r.last, "epoch changed", "reason");
    ok(drive(f, (rec_t *[]){&r}, 1, 3000, p_nsync, &ns), "synced again");
    is_str(cohort_sub_epoch(r.sub), f->epoch, "new epoch held");
    ok(same_as_fake(&r, f, "cohort/", 1), "state is the publisher's (revs restarted)");
    is_int(r.removals, 1, "topic gone after the restart reported removed");
    is_int(r.resyncs, 1, "one resync");
    cohort_sub_destroy(&r.sub);
    fake_free(f);
}

static void t_drop_every(void)
{
    fake_t *f = fake_new();
    rec_t r;
    cohort_sub_opts_t o = {.drop_every = 5};
    conv_t cv = {&r, f, "cohort/"};
    cohort_sub_stats_t st;
    const char *topics[3] = {"cohort/p/0", "cohort/p/1", "cohort/p/2"};
    int gaps = 0;

    diag("drop_every: gaps detected, state converges");
    for (int i = 0; i < 3; i++)
        fake_setn(f, topics[i], 0, 0);
    sub_new(f, &r, &o, "cohort/", NULL, NULL);
    ok(drive(f, (rec_t *[]){&r}, 1, 3000, p_synced, &r), "synced");
    /* 28 updates round-robin: numbers 5, 10, ..., 25 are dropped, and the
     * last dropped one's topic (0) is updated again by number 28. */
    for (int i = 0; i < 28; i++) {
        nrecv_t w = {&r, data_received(&r) + 1};
        fake_setn(f, topics[i % 3], i + 1, 1);
        drive(f, (rec_t *[]){&r}, 1, 1000, p_recv, &w);
    }
    ok(drive(f, (rec_t *[]){&r}, 1, 5000, p_converged, &cv), "converged to the publisher's state");
    same_as_fake(&r, f, "cohort/", 1);
    cohort_sub_stats(r.sub, &st);
    is_int(st.dropped, 5, "five updates dropped on purpose");
    ok(r.resyncs >= 1 && r.resyncs <= 5, "resyncs: %d", r.resyncs);
    for (int i = 0; i < r.nreasons; i++)
        gaps += strncmp(r.reasons[i], "gap on cohort/p/", 16) == 0;
    is_int(gaps, r.nreasons, "every resync was a gap");
    cohort_sub_destroy(&r.sub);
    fake_free(f);
}

static int p_both(void *arg)
{
    conv_t *c = arg;
    return p_converged(&c[0]) && p_converged(&c[1]);
}

typedef struct {
    int n, bad;
    cohort_sub_t *other;
} cmp_t;

static int cmp_each(void *arg, const cohort_sub_doc_t *d)
{
    cmp_t *c = arg;
    cohort_sub_doc_t e;
    c->n++;
    if (cohort_sub_get(c->other, d->topic, &e) != 0 || e.rev != d->rev || e.seq != d->seq ||
        !json_equal((json_t *)e.doc, (json_t *)d->doc))
        c->bad++;
    return 0;
}

static void t_late_joiner(void)
{
    fake_t *f = fake_new();
    rec_t early, late;
    cohort_sub_opts_t o1 = {0}, o2 = {0};
    conv_t cv[2] = {{&early, f, ""}, {&late, f, ""}};
    rec_t *both[2] = {&early, &late};
    const char *topics[] = {"cohort/sf/1", "cohort/sf/2", "agency/a/sf/1", "agency/b/sf/1",
                            "programme/sf"};
    unsigned rnd = 12345;
    cmp_t c = {0};

    diag("late joiner converges to the early subscriber's state");
    f->snap_system = 1; /* the fake lists "system" in an all-topics snapshot */
    for (int i = 0; i < 5; i++)
        fake_setn(f, topics[i], 0, 0);
    sub_new(f, &early, &o1, "", NULL, NULL);
    ok(drive(f, both, 1, 3000, p_synced, &early), "early subscriber synced");
    late.sub = NULL;
    for (int i = 0; i < 200; i++) {
        rnd = rnd * 1103515245u + 12345u;
        const char *t = topics[(rnd >> 16) % 5];
        if ((rnd >> 8) % 11 == 0) {
            fake_set(f, t, NULL, 1); /* removals and re-creations too */
        } else {
            fake_setn(f, t, i, 1);
        }
        if (i == 20)
            sub_new(f, &late, &o2, "programme/", "cohort/", "agency/");
        if (i % 4 == 0) /* bursts of four, so some arrive during the handshake */
            drive(f, both, late.sub ? 2 : 1, 2, NULL, NULL);
    }
    ok(drive(f, both, 2, 5000, p_both, cv), "both converged to the publisher's state");
    same_as_fake(&early, f, "", 1);
    same_as_fake(&late, f, "", 1);
    is_int(cohort_sub_count(early.sub), cohort_sub_count(late.sub), "same number of topics");
    c.other = late.sub;
    cohort_sub_each(early.sub, NULL, cmp_each, &c);
    ok(c.n > 0 && c.bad == 0, "every topic the same (rev, seq, doc): %d compared", c.n);
    {
        cohort_sub_stats_t st;
        cohort_sub_stats(late.sub, &st);
        diag("late joiner: %" PRIu64 " queued during its handshake, %" PRIu64 " stale", st.queued,
             st.stale);
    }
    is_int(early.resyncs, 0, "early subscriber never resynced");
    is_int(late.resyncs, 0, "late joiner never resynced");
    ok(cohort_sub_get(early.sub, "system", &(cohort_sub_doc_t){0}) == -ENOENT,
       "\"system\" is not held as a topic");
    is_int(early.bad_doc + late.bad_doc, 0, "callbacks consistent with the state");
    cohort_sub_destroy(&early.sub);
    cohort_sub_destroy(&late.sub);
    fake_free(f);
}

static void t_heartbeat(void)
{
    fake_t *f = fake_new();
    rec_t r;
    cohort_sub_opts_t o = {.heartbeat_timeout_ms = 300};
    nsync_t ns = {&r, 2};
    conv_t cv = {&r, f, "cohort/"};
    uint64_t t0;
    cohort_sub_stats_t st;

    diag("heartbeat loss (300 ms in the test)");
    fake_setn(f, "cohort/sf/1", 1, 0);
    sub_new(f, &r, &o, "cohort/", NULL, NULL);
    ok(drive(f, (rec_t *[]){&r}, 1, 3000, p_synced, &r), "synced");
    cohort_sub_stats(r.sub, &st);
    ok(st.heartbeats > 0 && st.head_seq == f->seq && st.topics == 1,
       "heartbeat read: head_seq, topics");
    settle(f, &r, 400);
    is_int(r.resyncs, 0, "no resync while heartbeats flow");
    f->hb_ms = 0;
    t0 = ms_now();
    ok(drive(f, (rec_t *[]){&r}, 1, 2000, p_resync, &r), "resync without heartbeats");
    ok(ms_now() - t0 >= 250 && ms_now() - t0 < 1000, "after about 300 ms (%" PRIu64 " ms)",
       ms_now() - t0);
    is_str(r.last, "no heartbeat for 300 ms", "reason");
    ok(!cohort_sub_synced(r.sub), "not synced");
    ok(cohort_sub_count(r.sub) == 1, "stale state still readable");
    f->hb_ms = 50;
    fake_setn(f, "cohort/sf/1", 2, 1);
    ok(drive(f, (rec_t *[]){&r}, 1, 3000, p_nsync, &ns), "synced again once heartbeats resume");
    ok(drive(f, (rec_t *[]){&r}, 1, 1000, p_converged, &cv), "state is the publisher's");

    diag("daemon down and back with a new epoch");
    fake_down(f);
    ok(drive(f, (rec_t *[]){&r}, 1, 2000, p_nresync, &(nres_t){&r, 2}), "resync: daemon down");
    is_str(r.last, "no heartbeat for 300 ms", "reason");
    settle(f, &r, 400); /* stays down a while: more resyncs, bounded by the timer */
    ok(r.resyncs >= 2 && r.resyncs <= 5, "one resync per heartbeat timeout while down (%d)",
       r.resyncs);
    fake_setn(f, "cohort/sf/2", 1, 0);
    fake_restart(f, 1);
    ns.n = 3;
    ok(drive(f, (rec_t *[]){&r}, 1, 3000, p_nsync, &ns), "synced with the restarted daemon");
    ok(same_as_fake(&r, f, "cohort/", 1), "state is the publisher's");
    is_str(cohort_sub_epoch(r.sub), f->epoch, "new epoch");
    cohort_sub_destroy(&r.sub);
    fake_free(f);
}

static void t_snapshot_failures(void)
{
    fake_t *f = fake_new();
    rec_t r;
    cohort_sub_opts_t o = {.snapshot_timeout_ms = 200};
    conv_t cv = {&r, f, "cohort/"};
    cohort_sub_stats_t st;
    char want[256];

    diag("snapshot: no reply, $error, wrong count: retried");
    fake_setn(f, "cohort/sf/1", 1, 0);
    fake_setn(f, "cohort/sf/2", 1, 0);
    f->ignore = 1;
    sub_new(f, &r, &o, "cohort/", NULL, NULL);
    ok(drive(f, (rec_t *[]){&r}, 1, 3000, p_retry, &r), "retry after no reply");
    snprintf(want, sizeof want, "no snapshot of 'cohort/' from %s in 200 ms", f->snap_ep);
    is_str(r.last, want, "reason");
    ok(drive(f, (rec_t *[]){&r}, 1, 3000, p_converged, &cv), "then synced");
    is_int(r.resyncs, 0, "a retry is not a resync");
    cohort_sub_destroy(&r.sub);

    /* the daemon's only transient refusal: retried */
    f->error_next = 1;
    f->ebody = "{\"error\":\"too many subscribers\"}";
    sub_new(f, &r, &o, "cohort/", NULL, NULL);
    ok(drive(f, (rec_t *[]){&r}, 1, 3000, p_retry, &r), "retry after a transient $error");
    snprintf(want, sizeof want, "snapshot error from %s: too many subscribers", f->snap_ep);
    is_str(r.last, want, "reason");
    ok(drive(f, (rec_t *[]){&r}, 1, 3000, p_converged, &cv), "then synced");
    is_int(r.denied, 0, "not denied");
    cohort_sub_destroy(&r.sub);

    /* any other refusal would come again: DENIED, stopped for good */
    f->error_next = 1;
    f->ebody = NULL;
    sub_new(f, &r, &o, "cohort/", NULL, NULL);
    ok(drive(f, (rec_t *[]){&r}, 1, 3000, p_denied, &r), "denied after $error bad request");
    is_str(r.last, "snapshot of 'cohort/' refused: bad request", "reason");
    is_int(r.retries, 0, "not retried");
    is_int(cohort_sub_pump(r.sub), -EACCES, "pump says -EACCES");
    is_int(cohort_sub_run(r.sub, 50), -EACCES, "and so does run");
    is_int(r.synced, 0, "never synced");
    cohort_sub_destroy(&r.sub);

    f->lie_count = 1;
    sub_new(f, &r, &o, "cohort/", NULL, NULL);
    ok(drive(f, (rec_t *[]){&r}, 1, 3000, p_retry, &r), "retry after a wrong count");
    is_str(r.last, "snapshot of 'cohort/' incomplete: 2 of 3 topics", "reason");
    ok(drive(f, (rec_t *[]){&r}, 1, 3000, p_converged, &cv), "then synced");
    cohort_sub_stats(r.sub, &st);
    is_int(st.snapshot_requests, 2, "two requests");
    is_int(r.updates, 2, "the partial snapshot was not delivered");
    cohort_sub_destroy(&r.sub);
    fake_free(f);
}

/* Subscription refusals: "too many subscribers" is REFUSED and tried
 * again; any other reason is DENIED and stops the subscriber. */
static void t_sub_refused(void)
{
    fake_t *f = fake_new();
    rec_t r;
    cohort_sub_opts_t o = {.heartbeat_timeout_ms = 300};
    cohort_sub_stats_t st;

    diag("subscription refused: transient, then for good");
    fake_setn(f, "cohort/sf/1", 1, 0);
    f->sbody = "{\"error\":\"too many subscribers\"}";
    sub_new(f, &r, &o, "cohort/", NULL, NULL);
    ok(drive(f, (rec_t *[]){&r}, 1, 3000, p_retry, &r), "REFUSED reported");
    is_str(r.last, "subscription refused: too many subscribers", "reason");
    is_int(r.denied, 0, "not denied");
    f->sbody = NULL;
    ok(drive(f, (rec_t *[]){&r}, 1, 3000, p_synced, &r), "synced once the daemon has room");
    cohort_sub_destroy(&r.sub);

    f->sbody = "{\"error\":\"this key's role may not read topics under that prefix\","
               "\"prefix\":\"agency/x/\"}";
    sub_new(f, &r, &o, "agency/x/", NULL, NULL);
    ok(drive(f, (rec_t *[]){&r}, 1, 3000, p_denied, &r), "DENIED reported");
    is_str(r.last,
           "subscription to 'agency/x/' refused: this key's role may not read topics under that "
           "prefix",
           "reason");
    usleep(700 * 1000); /* past two heartbeat timeouts */
    is_int(cohort_sub_pump(r.sub), -EACCES, "pump says -EACCES, still");
    cohort_sub_stats(r.sub, &st);
    is_int(r.resyncs, 0, "no resync: it stopped trying");
    is_int(st.refused, 1, "one refusal");
    is_int(r.synced, 0, "never synced");
    cohort_sub_destroy(&r.sub);
    f->sbody = NULL;
    fake_free(f);
}

static void t_queue_cap(void)
{
    fake_t *f = fake_new();
    rec_t r;
    cohort_sub_opts_t o = {.queue_max = 4};
    conv_t cv = {&r, f, "cohort/"};

    diag("pre-snapshot queue over its cap: dropped, resync");
    fake_setn(f, "cohort/sf/1", 1, 0);
    f->hold = 1;
    f->hb_ms = 0; /* heartbeats would be queued too: keep the count exact */
    fake_heartbeat(f);
    sub_new(f, &r, &o, "cohort/", NULL, NULL);
    /* The first message (a heartbeat) starts the handshake. */
    for (int i = 0; i < 40 && f->pending != 1; i++) {
        fake_heartbeat(f);
        drive(f, (rec_t *[]){&r}, 1, 20, p_pending, f);
    }
    ok(f->pending == 1, "snapshot request held");
    for (int i = 0; i < 6; i++)
        fake_setn(f, "cohort/sf/1", i + 2, 1);
    ok(drive(f, (rec_t *[]){&r}, 1, 2000, p_resync, &r), "resync");
    is_str(r.last, "pre-snapshot queue over 4 updates", "reason");
    f->hold = 0;
    f->hb_ms = 50;
    ok(drive(f, (rec_t *[]){&r}, 1, 3000, p_converged, &cv), "then synced");
    cohort_sub_destroy(&r.sub);
    fake_free(f);
}

/* ------------------------------------------------ --fake-publisher mode --- */

/* The examples of docs/status.md (programme: with the cohort's funnel and
 * representation; agency: three people), for trying cohort-watch. */
static const char DOC_COHORT[] =
    "{\"agencies\":[\"police\",\"cps\"],\"cohort\":\"2009-1\",\"completion\":{\"mentors\""
    ":{\"at_risk\":0,\"complete\":0,\"enrolled\":1,\"mean_completion\":0.0,\"require"
    "d_minutes\":960},\"participants\":{\"at_risk\":1,\"complete\":0,\"enrolled\":6,"
    "\"mean_completion\":0.5227,\"required_minutes\":2640}},\"ends_on\":\"2009-09-"
    "30\",\"filled\":{\"mentors\":1,\"participants\":6,\"places\":8,\"vacant\":2},\"fun"
    "nel\":{\"mentors\":{\"by_agency\":{\"cps\":{\"APPLIED\":0,\"COMPLETED\":0,\"DECLIN"
    "ED\":0,\"ENROLLED\":1,\"INTERVIEWED\":0,\"LINE_MANAGER_SUPPORTED\":0,\"NOT_SEL"
    "ECTED\":0,\"OFFERED\":0,\"REMOVED_BY_BOARD\":0,\"SHORTLISTED\":0,\"WITHDRAWN\":"
    "0},\"police\":{\"APPLIED\":0,\"COMPLETED\":0,\"DECLINED\":0,\"ENROLLED\":0,\"INTE"
    "RVIEWED\":0,\"LINE_MANAGER_SUPPORTED\":0,\"NOT_SELECTED\":0,\"OFFERED\":0,\"RE"
    "MOVED_BY_BOARD\":0,\"SHORTLISTED\":0,\"WITHDRAWN\":0}},\"by_stage\":{\"APPLIED"
    "\":0,\"COMPLETED\":0,\"DECLINED\":0,\"ENROLLED\":1,\"INTERVIEWED\":0,\"LINE_MANA"
    "GER_SUPPORTED\":0,\"NOT_SELECTED\":0,\"OFFERED\":0,\"REMOVED_BY_BOARD\":0,\"SH"
    "ORTLISTED\":0,\"WITHDRAWN\":0},\"total\":1},\"participants\":{\"by_agency\":{\"c"
    "ps\":{\"APPLIED\":0,\"COMPLETED\":0,\"DECLINED\":0,\"ENROLLED\":1,\"INTERVIEWED\""
    ":0,\"LINE_MANAGER_SUPPORTED\":0,\"NOT_SELECTED\":1,\"OFFERED\":0,\"REMOVED_BY"
    "_BOARD\":0,\"SHORTLISTED\":0,\"WITHDRAWN\":0},\"police\":{\"APPLIED\":0,\"COMPLE"
    "TED\":0,\"DECLINED\":0,\"ENROLLED\":5,\"INTERVIEWED\":0,\"LINE_MANAGER_SUPPORT"
    "ED\":0,\"NOT_SELECTED\":0,\"OFFERED\":0,\"REMOVED_BY_BOARD\":0,\"SHORTLISTED\":"
    "0,\"WITHDRAWN\":0}},\"by_stage\":{\"APPLIED\":0,\"COMPLETED\":0,\"DECLINED\":0,\""
    "ENROLLED\":6,\"INTERVIEWED\":0,\"LINE_MANAGER_SUPPORTED\":0,\"NOT_SELECTED\":"
    "1,\"OFFERED\":0,\"REMOVED_BY_BOARD\":0,\"SHORTLISTED\":0,\"WITHDRAWN\":0},\"tot"
    "al\":7}},\"mentoring\":{\"assignments\":1,\"mentored\":1},\"places\":8,\"program"
    "me\":\"sf\",\"programme_name\":\"Step Forward\",\"progression\":{\"after\":{\"ACTI"
    "NG_UP\":0,\"ATTACHMENT_MOVE\":0,\"LATERAL_MOVE\":0,\"SECONDMENT\":0,\"SUBSTANT"
    "IVE_PROMOTION\":0,\"TEMPORARY_PROMOTION\":0},\"after_window_ends_on\":\"2010"
    "-09-30\",\"during\":{\"ACTING_UP\":0,\"ATTACHMENT_MOVE\":0,\"LATERAL_MOVE\":0,\""
    "SECONDMENT\":0,\"SUBSTANTIVE_PROMOTION\":1,\"TEMPORARY_PROMOTION\":0},\"medi"
    "an_days_to_substantive_promotion\":110,\"progressed\":{\"ethnic_group\":{\"A"
    "SIAN\":0,\"BLACK\":null,\"CHINESE_OR_OTHER\":0,\"MIXED\":0,\"NOT_STATED\":0,\"WH"
    "ITE\":0},\"suppressed\":[\"ethnic_group.BLACK\",\"total\"],\"total\":null},\"pro"
    "moted_substantively\":1},\"representation\":{\"aims\":[{\"actual_percent\":10"
    "0,\"group\":\"AIM_BME\",\"met\":true,\"min_percent\":100},{\"actual_percent\":nu"
    "ll,\"group\":\"AIM_FEMALE\",\"met\":null,\"min_percent\":40}],\"bme\":6,\"disabil"
    "ity\":{\"DISABILITY_NOT_STATED\":0,\"DISABLED\":0,\"NOT_DISABLED\":6},\"ethnic"
    "_group\":{\"ASIAN\":null,\"BLACK\":null,\"CHINESE_OR_OTHER\":0,\"MIXED\":null,\""
    "NOT_STATED\":0,\"WHITE\":0},\"ethnicity\":{\"A1\":null,\"A2\":null,\"A3\":0,\"A9\":"
    "0,\"B1\":null,\"B2\":0,\"B9\":0,\"M1\":null,\"M2\":0,\"M3\":0,\"M9\":0,\"NS\":0,\"O1\":0"
    ",\"O9\":0,\"W1\":0,\"W2\":0,\"W9\":0},\"gender\":{\"FEMALE\":null,\"GENDER_NOT_STAT"
    "ED\":0,\"GENDER_OTHER\":0,\"MALE\":null},\"suppressed\":[\"ethnic_group.ASIAN\""
    ",\"ethnic_group.BLACK\",\"ethnic_group.MIXED\",\"ethnicity.A1\",\"ethnicity.A"
    "2\",\"ethnicity.B1\",\"ethnicity.M1\",\"gender.FEMALE\",\"gender.MALE\"],\"thres"
    "hold\":5,\"total\":6},\"starts_on\":\"2009-04-01\"}";
static const char DOC_PROGRAMME[] =
    "{\"aims\":[{\"group\":\"AIM_BME\",\"min_percent\":100},{\"group\":\"AIM_FEMALE\",\""
    "min_percent\":40}],\"cohorts\":[\"2009-1\"],\"duration_months\":6,\"filled\":{\""
    "mentors\":1,\"participants\":6,\"places\":8,\"vacant\":2},\"funnel\":{\"mentors\""
    ":{\"by_agency\":{\"cps\":{\"APPLIED\":0,\"COMPLETED\":0,\"DECLINED\":0,\"ENROLLED"
    "\":1,\"INTERVIEWED\":0,\"LINE_MANAGER_SUPPORTED\":0,\"NOT_SELECTED\":0,\"OFFER"
    "ED\":0,\"REMOVED_BY_BOARD\":0,\"SHORTLISTED\":0,\"WITHDRAWN\":0},\"police\":{\"A"
    "PPLIED\":0,\"COMPLETED\":0,\"DECLINED\":0,\"ENROLLED\":0,\"INTERVIEWED\":0,\"LIN"
    "E_MANAGER_SUPPORTED\":0,\"NOT_SELECTED\":0,\"OFFERED\":0,\"REMOVED_BY_BOARD\""
    ":0,\"SHORTLISTED\":0,\"WITHDRAWN\":0}},\"by_stage\":{\"APPLIED\":0,\"COMPLETED\""
    ":0,\"DECLINED\":0,\"ENROLLED\":1,\"INTERVIEWED\":0,\"LINE_MANAGER_SUPPORTED\":"
    "0,\"NOT_SELECTED\":0,\"OFFERED\":0,\"REMOVED_BY_BOARD\":0,\"SHORTLISTED\":0,\"W"
    "ITHDRAWN\":0},\"total\":1},\"participants\":{\"by_agency\":{\"cps\":{\"APPLIED\":"
    "0,\"COMPLETED\":0,\"DECLINED\":0,\"ENROLLED\":1,\"INTERVIEWED\":0,\"LINE_MANAGE"
    "R_SUPPORTED\":0,\"NOT_SELECTED\":1,\"OFFERED\":0,\"REMOVED_BY_BOARD\":0,\"SHOR"
    "TLISTED\":0,\"WITHDRAWN\":0},\"police\":{\"APPLIED\":0,\"COMPLETED\":0,\"DECLINE"
    "D\":0,\"ENROLLED\":5,\"INTERVIEWED\":0,\"LINE_MANAGER_SUPPORTED\":0,\"NOT_SELE"
    "CTED\":0,\"OFFERED\":0,\"REMOVED_BY_BOARD\":0,\"SHORTLISTED\":0,\"WITHDRAWN\":0"
    "}},\"by_stage\":{\"APPLIED\":0,\"COMPLETED\":0,\"DECLINED\":0,\"ENROLLED\":6,\"IN"
    "TERVIEWED\":0,\"LINE_MANAGER_SUPPORTED\":0,\"NOT_SELECTED\":1,\"OFFERED\":0,\""
    "REMOVED_BY_BOARD\":0,\"SHORTLISTED\":0,\"WITHDRAWN\":0},\"total\":7}},\"name\":"
    "\"Step Forward\",\"programme\":\"sf\",\"progression\":{\"after\":{\"ACTING_UP\":0,"
    "\"ATTACHMENT_MOVE\":0,\"LATERAL_MOVE\":0,\"SECONDMENT\":0,\"SUBSTANTIVE_PROMO"
    "TION\":0,\"TEMPORARY_PROMOTION\":0},\"during\":{\"ACTING_UP\":0,\"ATTACHMENT_M"
    "OVE\":0,\"LATERAL_MOVE\":0,\"SECONDMENT\":0,\"SUBSTANTIVE_PROMOTION\":1,\"TEMP"
    "ORARY_PROMOTION\":0}},\"representation\":{\"aims\":[{\"actual_percent\":100,\""
    "group\":\"AIM_BME\",\"met\":true,\"min_percent\":100},{\"actual_percent\":null,"
    "\"group\":\"AIM_FEMALE\",\"met\":null,\"min_percent\":40}],\"bme\":6,\"disability"
    "\":{\"DISABILITY_NOT_STATED\":0,\"DISABLED\":0,\"NOT_DISABLED\":6},\"ethnic_gr"
    "oup\":{\"ASIAN\":null,\"BLACK\":null,\"CHINESE_OR_OTHER\":0,\"MIXED\":null,\"NOT"
    "_STATED\":0,\"WHITE\":0},\"ethnicity\":{\"A1\":null,\"A2\":null,\"A3\":0,\"A9\":0,\""
    "B1\":null,\"B2\":0,\"B9\":0,\"M1\":null,\"M2\":0,\"M3\":0,\"M9\":0,\"NS\":0,\"O1\":0,\"O"
    "9\":0,\"W1\":0,\"W2\":0,\"W9\":0},\"gender\":{\"FEMALE\":null,\"GENDER_NOT_STATED\""
    ":0,\"GENDER_OTHER\":0,\"MALE\":null},\"suppressed\":[\"ethnic_group.ASIAN\",\"e"
    "thnic_group.BLACK\",\"ethnic_group.MIXED\",\"ethnicity.A1\",\"ethnicity.A2\","
    "\"ethnicity.B1\",\"ethnicity.M1\",\"gender.FEMALE\",\"gender.MALE\"],\"threshol"
    "d\":5,\"total\":6},\"requirements\":{\"mentor_minutes\":960,\"mentors\":[{\"coun"
    "t\":1,\"kind\":\"TRAINING_COURSE\",\"label\":\"2-day course\",\"minutes_each\":96"
    "0}],\"participant_minutes\":2640,\"participants\":[{\"count\":1,\"kind\":\"TRAI"
    "NING_COURSE\",\"label\":\"3-day course\",\"minutes_each\":1440},{\"count\":2,\"k"
    "ind\":\"CALL_BACK\",\"label\":\"call-back\",\"minutes_each\":240},{\"count\":6,\"k"
    "ind\":\"COACHING\",\"label\":\"coaching\",\"minutes_each\":120}]}}";
static const char DOC_AGENCY[] =
    "{\"agency\":\"police\",\"cohort\":\"2009-1\",\"people\":[{\"at_risk\":false,\"compl"
    "etion\":0.5909,\"components\":{\"CALL_BACK\":{\"credited\":0,\"required\":480,\""
    "sessions\":0},\"COACHING\":{\"credited\":120,\"required\":720,\"sessions\":1},\""
    "TRAINING_COURSE\":{\"credited\":1440,\"required\":1440,\"sessions\":1}},\"cred"
    "ited_minutes\":1560,\"enrolled_on\":\"2009-04-01\",\"expected_minutes\":1560,"
    "\"mentees\":0,\"mentors\":1,\"promotions\":[{\"effective_on\":\"2009-07-20\",\"fr"
    "om\":\"police constable\",\"kind\":\"SUBSTANTIVE_PROMOTION\",\"to\":\"sergeant\"}"
    "],\"ref\":\"0101010101010101\",\"required_minutes\":2640,\"role\":\"PARTICIPANT"
    "\",\"stage\":\"ENROLLED\"},{\"at_risk\":true,\"completion\":0.3409,\"components\""
    ":{\"CALL_BACK\":{\"credited\":0,\"required\":480,\"sessions\":0},\"COACHING\":{\""
    "credited\":120,\"required\":720,\"sessions\":1},\"TRAINING_COURSE\":{\"credite"
    "d\":1440,\"required\":1440,\"sessions\":1}},\"credited_minutes\":900,\"enrolle"
    "d_on\":\"2009-04-01\",\"expected_minutes\":1560,\"mentees\":0,\"mentors\":0,\"pr"
    "omotions\":[],\"ref\":\"0202020202020202aa\",\"required_minutes\":2640,\"role\""
    ":\"PARTICIPANT\",\"stage\":\"ENROLLED\"},{\"at_risk\":false,\"completion\":0.0,\""
    "components\":{\"CALL_BACK\":{\"credited\":0,\"required\":480,\"sessions\":0},\"C"
    "OACHING\":{\"credited\":120,\"required\":720,\"sessions\":1},\"TRAINING_COURSE"
    "\":{\"credited\":1440,\"required\":1440,\"sessions\":1}},\"credited_minutes\":0"
    ",\"enrolled_on\":null,\"expected_minutes\":1560,\"mentees\":0,\"mentors\":1,\"p"
    "romotions\":[],\"ref\":\"0303\",\"required_minutes\":2640,\"role\":\"PARTICIPANT"
    "\",\"stage\":\"WITHDRAWN\"}],\"programme\":\"sf\"}";

/* Sets topic to doc with key replaced by val (the example plus a change). */
static void fake_set_with(fake_t *f, const char *topic, const char *doc, const char *key, long val)
{
    json_t *j = json_loads(doc, 0, NULL);
    char *s;
    json_object_set_new(j, key, json_integer(val));
    s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(10));
    fake_set(f, topic, s, 1);
    free(s);
    json_decref(j);
}

/* `sub.t --fake-publisher PUB SNAP SECONDS [EVENT@S,...]`: a fake daemon for
 * trying cohort-watch by hand: the status.md examples, the cohort and the
 * police agency updated every 500 ms; events: restart@S (new epoch, sockets
 * rebound), gap@S (one cohort update not published), quiet@S (no
 * heartbeats for 4 s). */
static int fake_publisher(int argc, char **argv)
{
    fake_t *f;
    uint64_t start = ms_now(), next = 0, end;
    long restart = -1, gap = -1, quiet = -1, tick = 0;

    if (argc < 5) {
        fprintf(stderr, "usage: %s --fake-publisher PUB SNAP SECONDS [EVENT@S,...]\n", argv[0]);
        return 2;
    }
    end = start + (uint64_t)atol(argv[4]) * 1000u;
    if (argc > 5) {
        char *ev = argv[5], *p;
        if ((p = strstr(ev, "restart@")))
            restart = atol(p + 8) * 1000;
        if ((p = strstr(ev, "gap@")))
            gap = atol(p + 4) * 1000;
        if ((p = strstr(ev, "quiet@")))
            quiet = atol(p + 6) * 1000;
    }
    f = fake_new_at(argv[2], argv[3]);
    f->hb_ms = 1000;
    fake_set(f, "programme/sf", DOC_PROGRAMME, 0);
    fake_set(f, "cohort/sf/2009-1", DOC_COHORT, 0);
    fake_set(f, "agency/police/sf/2009-1", DOC_AGENCY, 0);
    fake_set(f, "agency/cps/sf/2009-1",
             "{\"agency\":\"cps\",\"cohort\":\"2009-1\",\"people\":[],\"programme\":\"sf\"}", 0);
    while (ms_now() < end) {
        zmq_pollitem_t it[2] = {{.socket = f->router, .events = ZMQ_POLLIN},
                                {.socket = f->pub, .events = ZMQ_POLLIN}};
        long t = (long)(ms_now() - start);
        zmq_poll(it, 2, 20);
        if (quiet >= 0 && t >= quiet && t < quiet + 4000)
            f->hb_ms = 0;
        else
            f->hb_ms = 1000;
        fake_tick(f);
        if (restart >= 0 && t >= restart) {
            fake_restart(f, 1);
            restart = -1;
        }
        if (ms_now() >= next) {
            next = ms_now() + 500;
            tick++;
            if (gap >= 0 && t >= gap) {
                fake_setn(f, "cohort/sf/2009-1", 0, 0); /* unpublished: a gap */
                gap = -1;
            }
            fake_set_with(f, "cohort/sf/2009-1", DOC_COHORT, "places", 8 + tick % 5);
            fake_set_with(f, "agency/police/sf/2009-1", DOC_AGENCY, "tick", tick);
        }
    }
    fake_free(f);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--fake-publisher") == 0)
        return fake_publisher(argc, argv);
    snprintf(dir, sizeof dir, "/tmp/t_sub.XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    t_basic();
    t_queries_and_opts();
    t_queued();
    t_gap();
    t_epoch();
    t_drop_every();
    t_late_joiner();
    t_heartbeat();
    t_snapshot_failures();
    t_sub_refused();
    t_queue_cap();
    rmdir(dir);
    return tap_done();
}
