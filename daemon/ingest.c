/* ingest.c: the ingest pipeline (see ingest.h for its contracts).
 *
 * Longer than 1,000 lines on purpose: the data path reads top to bottom in
 * this one file (frame, decode, validate, batch, commit, ack, project,
 * publish), with the batch structure all stages share; the decoding, the
 * rules, the store, the projections and the publisher are their own files.
 *
 * A batch goes through these stages (pipeline.h has the state machine,
 * with no I/O; this file performs its steps):
 *   open      fills on the loop thread;
 *   writing   a worker job (write_cb): dedupe, domain rules, an unsynced
 *             write (the events are in the log, not yet durable), render;
 *   written   waits for the sync in progress (at most one batch);
 *   syncing   a worker job (sync_cb): fdatasync of the WAL (store_sync);
 * and is answered and published on the loop only after its sync returns.
 * The next batch is written while the previous one syncs, so the write and
 * the render are off the critical path; four batches cover it all. Syncs
 * complete in batch order, and a sync covers every earlier write, so a
 * batch is durable when its own sync returns. At low load (a small batch,
 * nothing in flight) the batch is "inline" instead: write_inline writes and
 * syncs it on the loop and acks it, with no thread hand-off on the ack's
 * path; when status documents are due, a render job renders them on a
 * worker meanwhile, and they are published when it returns ("rendering"),
 * so rendering never delays an inline batch's ack. When status documents
 * are rendered is render_sched.c's business. Each batch owns the arena its events were
 * decoded into, so the worker reads the decoded events without copying. */
#include "ingest.h"
#include "cohort_grow.h"
#include "endpoint.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uthash.h>
#include <zmq.h>

#include "admit.h"
#include "checkpoint.h"
#include "codec.h"
#include "log.h"
#include "pipeline.h"
#include "render_sched.h"
#include "request.h"
#include "validate.h"
#include "vault.h"
#include "zbridge.h"
#include "zmonitor.h"

#define RECV_CAP 256                /* frames per drain call: fairness to other handles */
#define BATCH_MAX_EVENTS 16384      /* open batch is full at this many events ... */
#define BATCH_MAX_BYTES (16u << 20) /* ... or this many bytes of events */
#define BATCH_MAX_DECODED                                                                          \
    (64u << 20)               /* ... or its arena holds this much (plus one frame,                 \
                                 at most CODEC_MAX_DECODED) */
#define ZMQ_MAX_MSG (8 << 20) /* hard limit: larger frames drop the connection */
/* Frames ZeroMQ queues per agent (up to 8 MiB each), besides the one its
 * decoder holds when the queue is full: at most 3 frames per connection.
 * 1 would be less, but with libzmq 4.3.4 it stalls every CURVE connection
 * at its first frame (the ZAP credential is queued too): measured. */
#define RCV_HWM 2
#define SND_HWM 100 /* replies queued per agent; beyond, dropped and counted */
/* Bytes of replies handed to ZeroMQ and not yet written to (or dropped
 * with) their connection, all agents together. A reply that would go over
 * it is replaced by a short FRAME_UNAVAILABLE (the agent resends; dedupe
 * makes that safe), so a client that never reads its acks holds at most
 * SND_HWM short replies beyond this budget. */
#define REPLY_BUDGET (32u << 20)
/* A connection must finish its CURVE handshake within this (libzmq's
 * default is 30 s): an unauthenticated one holds a place under the
 * connection limits (admit.h) at most this long. */
#define HANDSHAKE_MS 10000
#define REPLY_SHORT 512 /* a reply this small is always sent, and not counted */
#define LINGER_MS 2000  /* time given to unsent acks at close */
#define INLINE_MAX                                                                                 \
    256                    /* a batch this small, with nothing in flight, is written and           \
                              synced on the loop (write_inline) */
#define ID_MAX 64          /* event_id bytes echoed in a rejection ack */
#define REOPEN_MIN_MS 100  /* store reopen retries back off from this ... */
#define REOPEN_MAX_MS 1000 /* ... doubling up to this */
/* After an erasure, deleted keys are purged at most this often. Together
 * with the purge's own time (flushing the memtables, up to 64 MiB each,
 * two compactions of small families, zeroing the 16 MiB journal; it is
 * logged) this keeps the documented bound of 10 s from a durable erasure
 * to its purge. */
#define PURGE_EVERY_MS 5000
#define PURGE_RETRY_MS 50 /* the purge timer found the write stage busy: look again */

/* One request (frame) in a batch. */
typedef struct {
    uint32_t rid_off, rid_len; /* the peer's ZeroMQ routing id, in bytes (peer_of) */
    uint32_t first, n;         /* its events: evs[first .. first+n) */
    uint64_t request_id;       /* the agent's request id */
    int delim;                 /* REQ-style empty delimiter frame present (peer_of) */
    char who[96];              /* the sending key for log lines: "FINGERPRINT (role[:agency])",
                                  "- (plaintext)" without CURVE */
} req_t;

/* One event of a request. */
typedef struct {
    const Cohort__V1__Event *ev; /* decoded, in the batch's arena */
    int32_t item;                /* index in the store batch, or -1 if refused */
    int32_t code;                /* RejectCode when refused (shape or domain) */
    uint32_t id_off, id_len;     /* event_id as received, in bytes */
    uint32_t why_off;            /* NUL-terminated reason, in bytes */
    int8_t redefines;            /* definitions: 1 changes an existing one, 0 a new one (decide) */
    uint8_t aims_added;          /* ProgrammeDefined: special-category aim groups it adds, as
                                    bits 1 << AimGroup (decide) */
} ev_t;

/* When an agency was last seen (loop thread; ingest_each_agency). */
typedef struct {
    UT_hash_handle hh; /* agencies by name */
    int64_t last_s;    /* wall clock of its last ACCEPTED or DUPLICATE ack, Unix seconds */
    char name[];       /* the agency id, the hash key */
} agency_t;

const double ingest_batch_bounds[INGEST_BATCH_BUCKETS] = {
    1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384};
const double ingest_latency_bounds[INGEST_LATENCY_BUCKETS] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};

/* A batch of requests on its way to the store; its stage is the
 * pipeline's (pipeline.h), batch i being pend[i]. */
typedef struct {
    ingest_t *owner;   /* the ingest it belongs to */
    uv_work_t job;     /* its write, sync or render job (data: the batch) */
    store_batch_t *sb; /* the events to store */
    codec_t *codec;    /* arena of the decoded events */
    uint32_t *item_ev; /* store item index -> index in evs */
    size_t cap_item_ev;
    rsched_list_t updates;  /* status documents to publish after the commit */
    uint64_t head;          /* log head after the commit */
    uint64_t render_due_ms; /* a held-back topic is due then (0 = none) */
    size_t pending;         /* topics still held back after this batch's render */
    uint64_t purge_at_ms;   /* after its write: a purge is owed, due then (0 = none) */
    req_t *reqs;            /* requests, in arrival order */
    size_t nreqs, capreqs;
    ev_t *evs; /* events of all requests */
    size_t nevs, capevs;
    uint8_t *bytes; /* routing ids, event ids and reasons */
    size_t nbytes, capbytes;
    int rc;         /* store_commit's result */
    char err[256];  /* its reason when rc < 0 */
    uint64_t io_ns; /* time in its store_append and store_sync (commit histogram) */
} pend_t;

struct ingest_t {
    uv_loop_t *loop;               /* the daemon's loop */
    void *router;                  /* ROUTER socket, owned */
    zbridge_t *bridge;             /* readiness of router on loop */
    store_t *store;                /* borrowed */
    proj_t **proj;                 /* borrowed; a worker's while a write or render job runs */
    const proj_config_t *proj_cfg; /* for rebuilding the projections */
    publish_t *pub;                /* borrowed, or NULL */
    uint64_t checkpoint_every;     /* accepted events between checkpoints (0 = never) */
    validate_ref_form_t ref_form;  /* refs accepted (validate.h) */
    rsched_t *rs;                  /* when documents render (as the projections: a worker's
                                      while a write or render job runs, else the loop's) */
    uv_timer_t due;                /* runs a render-only job for held-back topics */
    uv_timer_t purge_timer;        /* runs a job for an owed purge when it is due (loop) */
    int handles;                   /* timers initialised and not yet closed (loop) */
    uint64_t since_checkpoint;     /* accepted since the last checkpoint (worker) */
    int proj_stale;                /* a write failed after the projections saw its batch (worker) */
    int store_down;                /* a write failed: reopen the store before writing (worker) */
    uint64_t retry_at_ms;          /* store_down: no reopen is tried before this (worker) */
    unsigned backoff_ms;           /* store_down: wait after the next failed reopen (worker) */
    char down_why[256];            /* store_down: the last failure's reason (worker) */
    pend_t pend[PIPELINE_BATCHES]; /* the batches */
    pipeline_t *pl;                /* their stages (loop) */
    uint64_t head;                 /* last durable sequence */
    ingest_stats_t st;             /* counters */
    int full;                      /* bridge paused because open is full */
    int stopping;                  /* ingest_stop was called */
    vault_t *vault;                /* seals registrations, destroys erased keys (worker) */
    int purge_owed;         /* an erasure's key awaits store_purge (worker; loop when idle) */
    uint64_t last_purge_ms; /* when the last purge ran (worker; loop when idle) */
    void (*done)(void *);   /* stop callback */
    void *done_arg;
    uint8_t *pack; /* scratch for re-encoding one event */
    size_t pack_cap;
    codec_span_t *spans; /* scratch: where a frame's events lie */
    size_t spans_cap;
    Cohort__V1__Ack *acks; /* scratch for one reply */
    Cohort__V1__Ack **ackp;
    size_t ack_cap, ackp_cap;
    int unavailable_logged; /* commit failure already logged */
    auth_t *auth;           /* key table for CURVE frames (borrowed), or NULL: plaintext */
    zmonitor_t *mon;        /* handshake failures (logged with CURVE), connected agents */
    admit_t *admit;         /* the connection limits mon applies, owned */
    ingest_hist_t hist;     /* commit histograms (loop) */
    agency_t *agencies;     /* last seen per agency, hash by name (loop) */
    agency_t *seen_last;    /* the agency seen last: consecutive events share it (loop) */
    uint64_t not_owned;     /* definitions refused for ownership in the frame being taken */
    char not_owned_first[VALIDATE_MAX_ID + 1]; /* the first one's programme id (loop) */
};

/* Appends len bytes (plus a NUL when nul) to p's byte store; returns the
 * offset, or -ENOMEM. */
static long put(pend_t *p, const void *data, size_t len, int nul)
{
    if (cohort_grow((void **)&p->bytes, &p->capbytes, p->nbytes + len + 1, 1) < 0)
        return -ENOMEM;
    size_t off = p->nbytes;
    if (len)
        memcpy(p->bytes + off, data, len);
    p->nbytes += len;
    if (nul)
        p->bytes[p->nbytes++] = 0;
    return (long)off;
}

static void pend_reset(pend_t *p)
{
    store_batch_reset(p->sb);
    codec_reset(p->codec);
    rsched_list_clear(&p->updates);
    p->nreqs = p->nevs = p->nbytes = 0;
    p->rc = 0;
    p->err[0] = 0;
    p->io_ns = 0;
    p->purge_at_ms = 0;
}

static void pend_free(pend_t *p)
{
    rsched_list_free(&p->updates);
    free(p->item_ev);
    codec_destroy(&p->codec);
    store_batch_destroy(&p->sb);
    free(p->reqs);
    free(p->evs);
    free(p->bytes);
    memset(p, 0, sizeof *p);
}

/* The batch filling on the loop. */
static pend_t *open_batch(ingest_t *self)
{
    return &self->pend[pipeline_open(self->pl)];
}

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Reply bytes ZeroMQ holds (REPLY_BUDGET). Process-wide, not per ingest:
 * libzmq's I/O threads release a reply (reply_free) whenever it is
 * written or dropped, possibly after the ingest is gone. */
static atomic_size_t reply_held;

/* zmq_msg_init_data free function: hint is the reply's size. */
static void reply_free(void *data, void *hint)
{
    atomic_fetch_sub(&reply_held, (size_t)(uintptr_t)hint);
    free(data);
}

/* Sends one reply frame to the peer `to`. Counts a reply that cannot be
 * sent (agent gone, or its queue at the high-water mark): the agent will
 * resend, and dedupe makes that safe. A reply that would take ZeroMQ's
 * held replies over REPLY_BUDGET is replaced by a short FRAME_UNAVAILABLE
 * for the same request (counted in replies_shed). */
static void send_reply(ingest_t *self, const request_peer_t *to,
                       const Cohort__V1__IngestReply *reply)
{
    zmq_msg_t m;
    Cohort__V1__IngestReply shed = COHORT__V1__INGEST_REPLY__INIT;
    size_t n = cohort__v1__ingest_reply__get_packed_size(reply);
    uint8_t *buf;
    if (n > REPLY_SHORT && atomic_load(&reply_held) + n > REPLY_BUDGET) {
        self->st.replies_shed++;
        shed.request_id = reply->request_id;
        shed.error = COHORT__V1__FRAME_ERROR__FRAME_UNAVAILABLE;
        shed.error_reason = "replies backed up (a client is not reading); resend";
        shed.head_seq = reply->head_seq;
        reply = &shed;
        n = cohort__v1__ingest_reply__get_packed_size(reply);
        cohort_log_limited(LOG_WARNING, "ingest-replies-shed",
                           "ingest: %zu bytes of replies wait for clients that do not read; "
                           "large replies are answered FRAME_UNAVAILABLE",
                           atomic_load(&reply_held));
    }
    if (n <= REPLY_SHORT) { /* short: copied, not counted (SND_HWM bounds them) */
        if (zmq_msg_init_size(&m, n) != 0) {
            self->st.replies_lost++;
            return;
        }
        cohort__v1__ingest_reply__pack(reply, zmq_msg_data(&m));
    } else {
        if (!(buf = malloc(n))) {
            self->st.replies_lost++;
            return;
        }
        cohort__v1__ingest_reply__pack(reply, buf);
        atomic_fetch_add(&reply_held, n);
        if (zmq_msg_init_data(&m, buf, n, reply_free, (void *)(uintptr_t)n) != 0) {
            atomic_fetch_sub(&reply_held, n);
            free(buf);
            self->st.replies_lost++;
            return;
        }
    }
    if (request_reply_msg(self->router, to, &m) < 0)
        self->st.replies_lost++;
}

/* Answers a frame at once with a frame-level result (error or ping). */
static void reply_now(ingest_t *self, const request_peer_t *to, uint64_t request_id, int error,
                      const char *reason)
{
    Cohort__V1__IngestReply r = COHORT__V1__INGEST_REPLY__INIT;
    if (error) { /* a refused frame */
        self->st.frames_refused++;
        self->st.refused_by[error > 0 && error < INGEST_FRAME_SLOTS ? error : 0]++;
    }
    r.request_id = request_id;
    r.error = error;
    r.error_reason = (char *)(reason ? reason : "");
    r.head_seq = self->head;
    send_reply(self, to, &r);
}

/* The programme id of a definition (ProgrammeDefined, CohortOpened), or
 * NULL for any other event. */
static const char *definition_of(const Cohort__V1__Event *ev)
{
    if (ev->body_case == COHORT__V1__EVENT__BODY_PROGRAMME_DEFINED && ev->programme_defined)
        return ev->programme_defined->programme_id ? ev->programme_defined->programme_id : "";
    if (ev->body_case == COHORT__V1__EVENT__BODY_COHORT_OPENED && ev->cohort_opened)
        return ev->cohort_opened->programme_id ? ev->cohort_opened->programme_id : "";
    return NULL;
}

/* The programme whose owner alone may send ev: a definition's, or a
 * BoardDecision's (a board's act, sent with a coordinator or board key that
 * owns the programme, like a definition); NULL for any other event. */
static const char *owned_by_board(const Cohort__V1__Event *ev)
{
    if (ev->body_case == COHORT__V1__EVENT__BODY_BOARD_DECISION && ev->board_decision)
        return ev->board_decision->programme_id ? ev->board_decision->programme_id : "";
    return definition_of(ev);
}

/* Adds one decoded, validated-or-refused event to batch p. raw holds the
 * event's bytes as sent, or NULL to re-encode it. */
static int add_event(ingest_t *self, pend_t *p, const Cohort__V1__Event *ev,
                     const codec_span_t *raw, int64_t now, const auth_identity_t *who)
{
    char why[256];
    const char *denied;
    ev_t *e;
    long off;
    if (cohort_grow((void **)&p->evs, &p->capevs, p->nevs + 1, sizeof *p->evs) < 0)
        return -ENOMEM;
    e = &p->evs[p->nevs];
    memset(e, 0, sizeof *e);
    e->ev = ev;
    size_t idlen = ev->event_id.len < ID_MAX ? ev->event_id.len : ID_MAX;
    if ((off = put(p, ev->event_id.data, idlen, 0)) < 0)
        return -ENOMEM;
    e->id_off = (uint32_t)off;
    e->id_len = (uint32_t)idlen;
    e->item = -1;
    e->code = validate_event_form(ev, now, self->ref_form, why, sizeof why);
    const char *prog = owned_by_board(ev);
    if (e->code == 0 && who && auth_may_submit(who, ev->agency, prog != NULL, &denied) < 0) {
        e->code = COHORT__V1__REJECT_CODE__REJECT_UNAUTHORISED;
        if (ev->body_case == COHORT__V1__EVENT__BODY_BOARD_DECISION && prog)
            denied = "a board decision needs a coordinator or board key owning the programme";
        snprintf(why, sizeof why, "%s", denied);
        self->st.unauthorised++;
    }
    /* Ownership: only a key whose access-file line lists the programme may
     * define or change it or its cohorts. Checked here, at write time, so
     * the stored log replays without any key. */
    if (e->code == 0 && who && prog && auth_may_define(who, prog, &denied) < 0) {
        e->code = COHORT__V1__REJECT_CODE__REJECT_UNAUTHORISED;
        snprintf(why, sizeof why, "%s", denied);
        self->st.unauthorised++;
        if (!self->not_owned++)
            snprintf(self->not_owned_first, sizeof self->not_owned_first, "%s", prog);
    }
    if (e->code == 0) {
        const void *bytes = raw ? raw->data : NULL;
        size_t n = raw ? raw->len : cohort__v1__event__get_packed_size(ev);
        int idx;
        if (!raw) {
            if (cohort_grow((void **)&self->pack, &self->pack_cap, n, 1) < 0)
                return -ENOMEM;
            cohort__v1__event__pack(ev, self->pack);
            bytes = self->pack;
        }
        if ((idx = store_batch_add(p->sb, ev->agency, ev->event_id.data, bytes, n)) < 0 ||
            cohort_grow((void **)&p->item_ev, &p->cap_item_ev, (size_t)idx + 1,
                        sizeof *p->item_ev) < 0)
            return -ENOMEM;
        p->item_ev[idx] = (uint32_t)p->nevs;
        e->item = idx;
        why[0] = 0;
    }
    if ((off = put(p, why, strlen(why), 1)) < 0)
        return -ENOMEM;
    e->why_off = (uint32_t)off;
    p->nevs++;
    return 0;
}

/* Takes one decoded batch request into the open batch. On out-of-memory the
 * request's events are answered UNAVAILABLE rather than half-taken. */
static void take(ingest_t *self, const request_t *rq, const Cohort__V1__IngestRequest *req,
                 const auth_identity_t *who)
{
    const void *frame = zmq_msg_data(rq->body);
    size_t frame_len = zmq_msg_size(rq->body);
    pend_t *p = open_batch(self);
    const Cohort__V1__Batch *b = req->batch;
    size_t evs0 = p->nevs, bytes0 = p->nbytes, items0 = store_batch_count(p->sb);
    codec_span_t *raw = NULL;
    int64_t now = now_us();
    long off;
    req_t *r;
    if (cohort_grow((void **)&p->reqs, &p->capreqs, p->nreqs + 1, sizeof *p->reqs) < 0 ||
        (off = put(p, rq->peer.rid, rq->peer.rid_len, 0)) < 0)
        goto oom;
    r = &p->reqs[p->nreqs];
    r->rid_off = (uint32_t)off;
    r->rid_len = (uint32_t)rq->peer.rid_len;
    r->delim = rq->peer.delim;
    r->request_id = req->request_id;
    r->first = (uint32_t)p->nevs;
    if (who)
        snprintf(r->who, sizeof r->who, "%s (%s%s%s)", *who->fingerprint ? who->fingerprint : "-",
                 auth_role_name(who->role), *who->agency ? ":" : "", who->agency);
    else
        snprintf(r->who, sizeof r->who, "- (plaintext)");
    /* The events' bytes as sent; if the layout disagrees with protobuf-c
     * (it cannot for a well-formed frame), each event is re-encoded. */
    if (cohort_grow((void **)&self->spans, &self->spans_cap, b->n_events, sizeof *self->spans) ==
            0 &&
        codec_event_spans(frame, frame_len, self->spans, b->n_events) == 0)
        raw = self->spans;
    uint64_t denied0 = self->st.unauthorised;
    self->not_owned = 0;
    for (size_t i = 0; i < b->n_events; i++)
        if (add_event(self, p, b->events[i], raw ? &raw[i] : NULL, now, who) < 0)
            goto oom;
    /* One key's refusals are rate-limited together (log.h). Programme ids
     * passed validate_event: [a-z0-9._-] only, safe in a line. */
    if (self->st.unauthorised > denied0) {
        char key[48];
        snprintf(key, sizeof key, "ingest-unauthorised:%s", who ? who->fingerprint : "-");
        cohort_log_limited(LOG_WARNING, key, "ingest: key %s sent %llu events it may not write",
                           r->who, (unsigned long long)(self->st.unauthorised - denied0));
    }
    if (self->not_owned) {
        char key[48];
        snprintf(key, sizeof key, "ingest-not-owned:%s", who ? who->fingerprint : "-");
        cohort_log_limited(LOG_WARNING, key,
                           "ingest: key %s refused %llu definitions of programmes it does not own "
                           "(first: programme %s)",
                           r->who, (unsigned long long)self->not_owned, self->not_owned_first);
    }
    r->n = (uint32_t)(p->nevs - r->first);
    p->nreqs++;
    return;
oom:
    /* Nothing of the frame is kept: the agent retries on UNAVAILABLE. */
    p->nevs = evs0;
    p->nbytes = bytes0;
    store_batch_truncate(p->sb, items0);
    cohort_log(LOG_WARNING, "ingest: out of memory taking a frame; answered UNAVAILABLE");
    reply_now(self, &rq->peer, req->request_id, COHORT__V1__FRAME_ERROR__FRAME_UNAVAILABLE,
              "daemon out of memory; retry");
}

/* Handles one received message: [rid][payload] or [rid][""][payload]. */
static void handle(ingest_t *self, zmq_msg_t *parts, int nparts)
{
    request_t rq;
    Cohort__V1__IngestRequest *req = NULL;
    const char *reason = NULL;
    int rc;
    self->st.frames++;
    request_check(&rq, parts, nparts, self->auth, 0);
    if (rq.envelope_rc < 0) {
        reply_now(self, &rq.peer, 0, COHORT__V1__FRAME_ERROR__FRAME_BAD_ENVELOPE,
                  "expected one payload frame, optionally after an empty delimiter");
        return;
    }
    if (rq.auth_rc < 0) {
        /* Revoked or changed since the handshake (libzmq never re-checks). */
        char fp[COHORT_KEY_FP_LEN + 1], key[48];
        request_fingerprint(&rq, fp);
        snprintf(key, sizeof key, "ingest-revoked:%s", fp);
        cohort_log_limited(LOG_WARNING, key,
                           "ingest: refused a frame from key %s: no longer allowed (revoked or "
                           "changed since it connected)",
                           fp);
        reply_now(self, &rq.peer, 0, COHORT__V1__FRAME_ERROR__FRAME_UNAUTHORISED,
                  "this connection's key is no longer allowed (revoked or changed)");
        return;
    }
    rc = codec_decode(open_batch(self)->codec, zmq_msg_data(rq.body), zmq_msg_size(rq.body), &req,
                      &reason);
    if (rc != COHORT__V1__FRAME_ERROR__FRAME_OK) {
        reply_now(self, &rq.peer, req ? req->request_id : 0, rc, reason);
        return;
    }
    if (req->body_case == COHORT__V1__INGEST_REQUEST__BODY_PING) {
        reply_now(self, &rq.peer, req->request_id, 0, NULL);
        return;
    }
    take(self, &rq, req, self->auth ? &rq.who : NULL);
}

/* Worker: rebuilds the projections from the checkpoint and the log after a
 * failed write (they had seen events that were never stored). */
static int refresh(ingest_t *self, pend_t *p)
{
    checkpoint_info_t info;
    proj_t *fresh;
    int rc =
        checkpoint_restore(self->store, self->proj_cfg, 1, 0, &fresh, &info, p->err, sizeof p->err);
    if (rc < 0)
        return rc;
    /* fresh has every topic dirty: render() republishes them all, harmless
     * because documents are whole states. */
    proj_destroy(self->proj);
    *self->proj = fresh;
    self->proj_stale = 0;
    cohort_log(LOG_NOTICE, "projections rebuilt at seq %llu after a failed write",
               (unsigned long long)proj_seq(fresh));
    return 0;
}

/* Special-category aim groups (sexual orientation, disability: UK GDPR
 * art. 9), as bits 1 << AimGroup. */
#define SPECIAL_AIMS                                                                               \
    ((1u << COHORT__V1__AIM_GROUP__AIM_DISABLED) | (1u << COHORT__V1__AIM_GROUP__AIM_LGB))

/* Worker, before e's definition is applied: notes whether it changes an
 * existing definition and which special-category aims it adds, for the
 * line answer() logs once it is durable. */
static void note_definition(const proj_t *proj, ev_t *e)
{
    unsigned before = 0, after = 0;
    e->redefines = (int8_t)(proj_defined(proj, e->ev, &before) == 1);
    if (e->ev->body_case != COHORT__V1__EVENT__BODY_PROGRAMME_DEFINED)
        return;
    for (size_t i = 0; i < e->ev->programme_defined->n_aims; i++) {
        int g = e->ev->programme_defined->aims[i]->group;
        if (g > 0 && g < 32)
            after |= 1u << g;
    }
    e->aims_added = (uint8_t)(after & ~before & SPECIAL_AIMS);
}

/* Loop: logs an accepted (durable) definition with the key that sent it.
 * Ids only (programme and cohort ids passed validate_event). */
static void log_definition(const req_t *r, const ev_t *e, uint64_t seq)
{
    const Cohort__V1__Event *ev = e->ev;
    if (ev->body_case == COHORT__V1__EVENT__BODY_COHORT_OPENED) {
        cohort_log(LOG_NOTICE, "ingest: cohort %s/%s %s at seq %llu by key %s",
                   ev->cohort_opened->programme_id, ev->cohort_opened->cohort_id,
                   e->redefines ? "changed" : "opened", (unsigned long long)seq, r->who);
        return;
    }
    cohort_log(LOG_NOTICE, "ingest: programme %s %s at seq %llu by key %s",
               ev->programme_defined->programme_id, e->redefines ? "changed" : "defined",
               (unsigned long long)seq, r->who);
    if (e->aims_added) {
        int dis = !!(e->aims_added & (1u << COHORT__V1__AIM_GROUP__AIM_DISABLED)),
            lgb = !!(e->aims_added & (1u << COHORT__V1__AIM_GROUP__AIM_LGB));
        cohort_log(LOG_NOTICE,
                   "ingest: programme %s: positive-action aims over special-category strands "
                   "added at seq %llu (%s%s%s) by key %s",
                   ev->programme_defined->programme_id, (unsigned long long)seq,
                   dis ? "AIM_DISABLED" : "", dis && lgb ? ", " : "", lgb ? "AIM_LGB" : "", r->who);
    }
}

/* Worker: applies the domain rules in batch order. Events the rules refuse
 * are rejected (never stored); the rest are accepted at consecutive
 * sequences after the head, exactly as the projections applied them. */
static void decide(ingest_t *self, pend_t *p)
{
    uint64_t next = store_head(self->store);
    for (size_t k = 0; k < p->nevs; k++) {
        ev_t *e = &p->evs[k];
        uint64_t seq;
        char why[256];
        if (e->item < 0)
            continue;
        size_t i = (size_t)e->item;
        int r = store_batch_result(p->sb, i, &seq);
        if (r == STORE_REPEAT) {
            size_t j = store_batch_first(p->sb, i);
            const ev_t *orig = &p->evs[p->item_ev[j]];
            if (store_batch_result(p->sb, j, &seq) == STORE_ACCEPTED ||
                store_batch_result(p->sb, j, &seq) == STORE_DUPLICATE) {
                store_batch_duplicate(p->sb, i, seq);
            } else { /* the first copy was refused: so is this one */
                store_batch_reject(p->sb, i);
                e->code = orig->code;
                e->why_off = orig->why_off;
            }
            continue;
        }
        if (r != STORE_PENDING)
            continue;
        if (definition_of(e->ev))
            note_definition(*self->proj, e);
        int rc = proj_apply(*self->proj, e->ev, next + 1, why, sizeof why);
        if (rc == 0) {
            store_batch_accept(p->sb, i, ++next);
            continue;
        }
        long off;
        store_batch_reject(p->sb, i);
        e->code = rc > 0 ? rc : COHORT__V1__REJECT_CODE__REJECT_BAD_VALUE;
        if (rc < 0)
            snprintf(why, sizeof why, "the daemon could not apply the event (%s)", strerror(-rc));
        if ((off = put(p, why, strlen(why), 1)) >= 0)
            e->why_off = (uint32_t)off;
    }
}

static uint64_t mono_ms(void)
{
    return uv_hrtime() / 1000000;
}

/* Write stage (worker, or loop when no write job runs): renders into p
 * the status documents due (render_sched.h), or all held back (at start
 * and stop), and notes when the first one still held back is due. */
static void render(ingest_t *self, pend_t *p, int all)
{
    p->render_due_ms = rsched_render(self->rs, *self->proj, p->nevs, all, &p->updates);
    p->pending = rsched_pending(self->rs);
}

/* Worker, after a failed write: reopens the store (RocksDB stays read-only
 * after a write error until reopened), at most once per backoff_ms, which
 * doubles from REOPEN_MIN_MS up to REOPEN_MAX_MS. Returns 0 once the store is writable
 * again, or -EIO with the reason in p->err. */
static int recover(ingest_t *self, pend_t *p)
{
    uint64_t now = mono_ms();
    if (now < self->retry_at_ms) {
        snprintf(p->err, sizeof p->err, "store unavailable: %.200s", self->down_why);
        return -EIO;
    }
    if (store_reopen(self->store, self->down_why, sizeof self->down_why) < 0) {
        self->backoff_ms = self->backoff_ms ? self->backoff_ms * 2 : REOPEN_MIN_MS;
        if (self->backoff_ms > REOPEN_MAX_MS)
            self->backoff_ms = REOPEN_MAX_MS;
        self->retry_at_ms = now + self->backoff_ms;
        snprintf(p->err, sizeof p->err, "store unavailable: %.200s", self->down_why);
        return -EIO;
    }
    cohort_log(LOG_NOTICE, "store: reopened at seq %llu after a failed write",
               (unsigned long long)store_head(self->store));
    self->store_down = 0;
    self->backoff_ms = 0;
    self->proj_stale = 1; /* the projections saw the failed batch */
    return 0;
}

/* Worker: seals the accepted registrations of the batch and adds the key
 * writes and deletes of its registrations and erasures (vault.h), in
 * sequence order, before the batch is written. *erased is set if it
 * erases anyone. Returns 0, or a negative errno with the reason in p->err. */
static int seal(ingest_t *self, pend_t *p, int *erased)
{
    int rc = 0;
    vault_forget(self->vault);
    for (size_t k = 0; k < p->nevs && rc == 0; k++) {
        const ev_t *e = &p->evs[k];
        uint64_t seq;
        if (e->item >= 0 && store_batch_result(p->sb, (size_t)e->item, &seq) == STORE_ACCEPTED &&
            (rc = vault_commit_event(self->vault, p->sb, (size_t)e->item, seq, e->ev, erased)) < 0)
            snprintf(p->err, sizeof p->err, "sealing the characteristics of entry %llu: %s",
                     (unsigned long long)seq, strerror(-rc));
    }
    vault_forget(self->vault); /* the keys are not kept beyond the batch */
    /* The projection checkpoint still describes the erased person (refs and
     * characteristics in clear): it goes in the same write as the erasure,
     * and the purge saves a new one (a restart before it replays the log). */
    if (rc == 0 && *erased &&
        (rc = store_batch_side(p->sb, STORE_CF_META, CHECKPOINT_KEY, strlen(CHECKPOINT_KEY), NULL,
                               0)) < 0)
        snprintf(p->err, sizeof p->err, "deleting the projection checkpoint: %s", strerror(-rc));
    return rc;
}

/* Whether a purge is owed and the rate limit allows it now. */
static int purge_due(const ingest_t *self)
{
    return self->purge_owed &&
           (!self->last_purge_ms || mono_ms() >= self->last_purge_ms + PURGE_EVERY_MS);
}

/* Worker, or loop when no commit can run: after an erasure, makes the
 * destroyed keys physically go from the live store (store_purge), after a
 * checkpoint so that the old one, which still describes the erased people,
 * is replaced before meta is compacted. The meta flag VAULT_PURGE_META,
 * written with the erasure, makes a restart finish a purge a crash cut
 * short. On failure it is tried again after PURGE_EVERY_MS. */
static void purge(ingest_t *self)
{
    char err[256];
    uint64_t t0 = mono_ms();
    self->last_purge_ms = t0;
    if (checkpoint_save(self->store, *self->proj, err, sizeof err) < 0 ||
        store_purge(self->store, err, sizeof err) < 0 ||
        store_put_meta(self->store, VAULT_PURGE_META, "0", 1, err, sizeof err) < 0) {
        cohort_log(LOG_WARNING, "erasure: purging destroyed keys failed (retried): %s", err);
        return;
    }
    self->since_checkpoint = 0;
    self->purge_owed = 0;
    cohort_log(LOG_INFO,
               "erasure: destroyed keys purged from the store's files and journal at seq %llu "
               "in %llu ms",
               (unsigned long long)store_head(self->store), (unsigned long long)(mono_ms() - t0));
}

/* The write stage (see the file comment): on_worker = 1 in the write job,
 * which renders the documents due and may run a purge; 0 inline on the
 * loop (write_inline), whose documents are rendered after its ack
 * (durable) and which leaves a purge to a job. */
static void write_stage(ingest_t *self, pend_t *p, int on_worker)
{
    if (self->store_down && (p->rc = recover(self, p)) < 0) {
        store_batch_fail(p->sb);
        return;
    }
    if (self->proj_stale && (p->rc = refresh(self, p)) < 0) {
        store_batch_fail(p->sb);
        p->rc = -EIO;
        snprintf(p->err, sizeof p->err, "projections could not be rebuilt");
        return;
    }
    if ((p->rc = store_dedupe(self->store, p->sb, p->err, sizeof p->err)) < 0) {
        self->store_down = 1;
        snprintf(self->down_why, sizeof self->down_why, "%.200s", p->err);
        return;
    }
    decide(self, p);
    int erased = 0;
    if ((p->rc = seal(self, p, &erased)) < 0) {
        /* Nothing written; the projections saw the batch: rebuild them. */
        store_batch_fail(p->sb);
        self->proj_stale = 1;
        return;
    }
    uint64_t t0 = uv_hrtime();
    p->rc = store_append(self->store, p->sb, p->err, sizeof p->err);
    p->io_ns += uv_hrtime() - t0;
    if (p->rc < 0) {
        /* Batches of the next REOPEN_MIN_MS are answered UNAVAILABLE without
         * a try: they hold frames agents sent before they saw this failure,
         * and agents resend in order only what was refused. */
        self->proj_stale = 1;
        self->store_down = 1;
        self->backoff_ms = REOPEN_MIN_MS;
        self->retry_at_ms = mono_ms() + REOPEN_MIN_MS;
        snprintf(self->down_why, sizeof self->down_why, "%.200s", p->err);
        return;
    }
    p->head = store_head(self->store);
    if (on_worker)
        render(self, p, 0);
    self->since_checkpoint += store_batch_accepted(p->sb);
    if (self->checkpoint_every && self->since_checkpoint >= self->checkpoint_every) {
        char err[256];
        if (checkpoint_save(self->store, *self->proj, err, sizeof err) < 0)
            cohort_log(LOG_WARNING, "checkpoint failed: %s", err);
        self->since_checkpoint = 0;
    }
    self->purge_owed |= erased;
    if (purge_due(self) && on_worker)
        purge(self);
}

/* Write stage, after the write: if a purge is still owed (the write
 * failed, it ran inline on the loop, the rate limit held it back, or it
 * failed), notes in p when it is due: the loop's purge timer comes back for
 * it once p is answered. */
static void note_purge(ingest_t *self, pend_t *p)
{
    p->purge_at_ms = 0;
    if (self->purge_owed) {
        uint64_t now = mono_ms(), at = self->last_purge_ms + PURGE_EVERY_MS;
        p->purge_at_ms = self->last_purge_ms && at > now ? at : now;
        if (p->rc < 0 && p->purge_at_ms < now + REOPEN_MIN_MS)
            p->purge_at_ms = now + REOPEN_MIN_MS; /* the store is failing: no busy retries */
    }
}

/* Worker: the write job of the WRITING stage. */
static void write_cb(uv_work_t *w)
{
    pend_t *p = w->data;
    write_stage(p->owner, p, 1);
    note_purge(p->owner, p);
}

/* Loop: notes that agency had an event acked ACCEPTED or DUPLICATE at now_s. */
static void seen(ingest_t *self, const char *agency, int64_t now_s)
{
    agency_t *a = self->seen_last;
    if (!a || strcmp(a->name, agency) != 0) {
        HASH_FIND_STR(self->agencies, agency, a);
        if (!a) {
            size_t n = strlen(agency);
            if (HASH_COUNT(self->agencies) >= INGEST_AGENCIES_MAX ||
                !(a = calloc(1, sizeof *a + n + 1)))
                return;
            memcpy(a->name, agency, n + 1);
            HASH_ADD_KEYPTR(hh, self->agencies, a->name, n, a);
        }
        self->seen_last = a;
    }
    a->last_s = now_s;
}

/* Counts a rejected event under its code. */
static void count_reject(ingest_t *self, int32_t code)
{
    self->st.rejected++;
    self->st.rejected_by[code > 0 && code < INGEST_REJECT_SLOTS ? code : 0]++;
}

/* Where request r of batch p is answered: its routing id in p's arena. */
static request_peer_t peer_of(const pend_t *p, const req_t *r)
{
    return (request_peer_t){p->bytes + r->rid_off, r->rid_len, r->delim};
}

/* Sends every reply of a committed batch. */
static void answer(ingest_t *self, pend_t *p)
{
    int64_t now_s = (int64_t)time(NULL);
    for (size_t i = 0; i < p->nreqs; i++) {
        req_t *r = &p->reqs[i];
        request_peer_t to = peer_of(p, r);
        Cohort__V1__IngestReply reply = COHORT__V1__INGEST_REPLY__INIT;
        if (cohort_grow((void **)&self->acks, &self->ack_cap, r->n, sizeof *self->acks) < 0 ||
            cohort_grow((void **)&self->ackp, &self->ackp_cap, r->n, sizeof *self->ackp) < 0) {
            reply_now(self, &to, r->request_id, COHORT__V1__FRAME_ERROR__FRAME_UNAVAILABLE,
                      "daemon out of memory; retry");
            continue;
        }
        for (uint32_t k = 0; k < r->n; k++) {
            const ev_t *e = &p->evs[r->first + k];
            Cohort__V1__Ack *a = &self->acks[k];
            cohort__v1__ack__init(a);
            a->event_id.data = p->bytes + e->id_off;
            a->event_id.len = e->id_len;
            a->reason = (char *)p->bytes + e->why_off;
            if (e->item >= 0) {
                switch (store_batch_result(p->sb, (size_t)e->item, &a->seq)) {
                case STORE_ACCEPTED:
                    a->result = COHORT__V1__RESULT__ACCEPTED;
                    self->st.accepted++;
                    seen(self, e->ev->agency, now_s);
                    if (definition_of(e->ev))
                        log_definition(r, e, a->seq);
                    break;
                case STORE_DUPLICATE:
                    a->result = COHORT__V1__RESULT__DUPLICATE;
                    self->st.duplicates++;
                    seen(self, e->ev->agency, now_s);
                    break;
                case STORE_REJECTED:
                    a->result = COHORT__V1__RESULT__REJECTED;
                    a->code = e->code;
                    a->seq = 0;
                    count_reject(self, e->code);
                    break;
                default:
                    a->result = COHORT__V1__RESULT__UNAVAILABLE;
                    a->seq = 0;
                    a->reason = "the daemon could not store the event; retry";
                    self->st.unavailable++;
                }
            } else {
                a->result = COHORT__V1__RESULT__REJECTED;
                a->code = e->code;
                count_reject(self, e->code);
            }
            self->ackp[k] = a;
        }
        reply.request_id = r->request_id;
        reply.n_acks = r->n;
        reply.acks = self->ackp;
        reply.head_seq = self->head;
        send_reply(self, &to, &reply);
    }
}

static void commit_next(ingest_t *self, int force);

/* Loop: held-back topics are due and no commit is running. */
static void on_due(uv_timer_t *h)
{
    ingest_t *self = h->data;
    if (!self->stopping)
        commit_next(self, 1);
}

/* Loop: an owed purge is due. A job runs it (write_cb); while the write
 * stage is busy, this timer looks again every PURGE_RETRY_MS (a job that
 * starts meanwhile runs the purge itself). No other traffic is needed:
 * this is what bounds the erasure. */
static void on_purge(uv_timer_t *h)
{
    ingest_t *self = h->data;
    if (self->stopping)
        return; /* finish() purges */
    if (pipeline_write_busy(self->pl)) {
        uv_timer_start(&self->purge_timer, on_purge, PURGE_RETRY_MS, 0);
        return;
    }
    /* No write job runs: the worker's purge state may be read. */
    if (!self->purge_owed)
        return;
    if (!purge_due(self)) {
        /* Early: the loop's cached time, which timers count from, lags
         * mono_ms(). Come back when it is due. */
        uint64_t now = mono_ms(), at = self->last_purge_ms + PURGE_EVERY_MS;
        uv_update_time(self->loop);
        uv_timer_start(&self->purge_timer, on_purge, at > now ? at - now + 1 : 1, 0);
        return;
    }
    commit_next(self, 1);
    if (!pipeline_write_busy(self->pl)) /* not now (a failed sync in flight): look again */
        uv_timer_start(&self->purge_timer, on_purge, PURGE_RETRY_MS, 0);
}

/* Loop: arms the purge timer for a purge due at at_ms (0: none owed),
 * unless it is armed for earlier. */
static void arm_purge(ingest_t *self, uint64_t at_ms)
{
    uint64_t now = mono_ms(), delay = at_ms > now ? at_ms - now : 0;
    if (!at_ms || self->stopping)
        return;
    uv_update_time(self->loop); /* count the delay from now, not the iteration's start */
    if (uv_is_active((uv_handle_t *)&self->purge_timer) &&
        uv_timer_get_due_in(&self->purge_timer) <= delay)
        return;
    uv_timer_start(&self->purge_timer, on_purge, delay, 0);
}

/* Hands a committed batch's status documents to the publisher. */
static void publish(ingest_t *self, pend_t *p)
{
    if (!self->pub || p->rc < 0)
        return;
    for (size_t i = 0; i < p->updates.n; i++)
        if (publish_update(self->pub, p->updates.v[i].topic, p->updates.v[i].doc, p->head) < 0)
            cohort_log(LOG_WARNING, "publish: out of memory; a status update was dropped");
        else if (p->updates.v[i].versions &&
                 publish_versions(self->pub, p->updates.v[i].topic, p->updates.v[i].versions) < 0)
            cohort_log(LOG_WARNING, "publish: out of memory; a release history was not updated");
    publish_set_seq(self->pub, p->head, p->pending);
}

/* Loop, at stop, with no commit running: renders and publishes every
 * held-back topic, then reports the stop. */
static void finish(ingest_t *self)
{
    void (*done)(void *) = self->done;
    pend_t *p = open_batch(self);
    self->done = NULL;
    uv_timer_stop(&self->due);
    uv_timer_stop(&self->purge_timer);
    p->head = self->head;
    render(self, p, 1);
    publish(self, p);
    pend_reset(p);
    if (self->purge_owed) /* at stop the rate limit no longer matters */
        purge(self);
    done(self->done_arg);
}

/* Loop: whether no write job runs (so a render-only job could start). */
static int no_write_job(const ingest_t *self)
{
    return pipeline_find(self->pl, STAGE_WRITING) < 0;
}

/* Loop, after its answer: publishes a batch's documents (if it was durable),
 * arms what it leaves owed (a purge, held-back topics, a retry of a failed
 * store) and frees it. */
static void release(ingest_t *self, pend_t *p)
{
    int failed = p->rc < 0;
    uint64_t due = p->render_due_ms, now = mono_ms();
    publish(self, p);
    arm_purge(self, p->purge_at_ms);
    pend_reset(p);
    if (self->stopping || !no_write_job(self))
        return;
    if (failed) /* nothing else would retry the store or publish topics held back
                   by earlier, durable batches without further traffic: a
                   render-only job will */
        uv_timer_start(&self->due, on_due, REOPEN_MIN_MS, 0);
    else if (due)
        uv_timer_start(&self->due, on_due, due > now ? due - now : 0, 0);
}

/* Loop: answers a failed batch (nothing of it stored) and frees it, or,
 * while its render job is out, leaves that to PIPE_PUBLISH. why is the
 * reason if the batch itself did not fail (a sync before it did). */
static void fail_batch(ingest_t *self, pend_t *p, const char *why)
{
    if (p->rc == 0) {
        p->rc = -EIO;
        snprintf(p->err, sizeof p->err, "%s", why);
    }
    store_batch_fail(p->sb);
    if (!self->unavailable_logged)
        cohort_log(LOG_ERR, "store: commit of %zu events failed: %s", store_batch_count(p->sb),
                   p->err);
    self->unavailable_logged = 1;
    answer(self, p);
    if (pipeline_stage(self->pl, (int)(p - self->pend)) != STAGE_RENDERING)
        release(self, p);
}

/* Loop: adds v to histogram counts (n bounds, see ingest_hist_t) and to
 * its integer (isum) or real (dsum) sum. */
static void observe(uint64_t *counts, uint64_t *isum, double *dsum, const double *bounds, size_t n,
                    double v)
{
    size_t i = 0;
    while (i < n && v > bounds[i])
        i++;
    counts[i]++;
    if (isum)
        *isum += (uint64_t)v;
    if (dsum)
        *dsum += v;
}

/* Loop: a batch is durable (its sync returned, or it stored nothing and
 * nothing before it is pending): ack, then publish and free it, or, while
 * its render job is out, leave that to PIPE_PUBLISH. */
static void durable(ingest_t *self, pend_t *p)
{
    if (self->unavailable_logged)
        cohort_log(LOG_NOTICE, "store: commits succeed again at seq %llu",
                   (unsigned long long)p->head);
    self->unavailable_logged = 0;
    self->head = p->head;
    if (p->nevs)
        observe(self->hist.batch, &self->hist.batch_sum, NULL, ingest_batch_bounds,
                INGEST_BATCH_BUCKETS, (double)p->nevs);
    if (store_batch_accepted(p->sb) > 0) /* it was written and synced */
        observe(self->hist.latency, NULL, &self->hist.latency_sum, ingest_latency_bounds,
                INGEST_LATENCY_BUCKETS, (double)p->io_ns / 1e9);
    answer(self, p);
    if (pipeline_stage(self->pl, (int)(p - self->pend)) != STAGE_RENDERING)
        release(self, p);
}

/* Worker: the sync job of the SYNCING stage. */
static void sync_cb(uv_work_t *w)
{
    pend_t *p = w->data;
    uint64_t t0 = uv_hrtime();
    p->rc = store_sync(p->owner->store, p->err, sizeof p->err);
    p->io_ns += uv_hrtime() - t0;
}

/* Loop: queues p's write or sync job. Returns 0, or -EIO once the job
 * could not be queued and p was answered by after_cb at once (cannot happen
 * with a valid loop; answer rather than strand). */
static int queue_job(ingest_t *self, pend_t *p, uv_work_cb work_cb, uv_after_work_cb after_cb)
{
    p->job.data = p;
    if (uv_queue_work(self->loop, &p->job, work_cb, after_cb) == 0)
        return 0;
    p->rc = -EIO;
    snprintf(p->err, sizeof p->err, "uv_queue_work failed");
    after_cb(&p->job, 0);
    return -EIO;
}

static void after_write_cb(uv_work_t *w, int status);
static void after_sync_cb(uv_work_t *w, int status);
static void after_render_cb(uv_work_t *w, int status);
static void write_inline(ingest_t *self, pend_t *p);

/* Loop: performs one step the pipeline asked for (pipeline.h). */
static void step(ingest_t *self, pipe_step_t s)
{
    pend_t *p = &self->pend[s.batch];
    switch (s.act) {
    case PIPE_WRITE_JOB:
        queue_job(self, p, write_cb, after_write_cb);
        break;
    case PIPE_WRITE_INLINE:
        write_inline(self, p);
        break;
    case PIPE_SYNC_JOB:
        queue_job(self, p, sync_cb, after_sync_cb);
        break;
    case PIPE_ACK:
        durable(self, p);
        break;
    case PIPE_FAIL:
        fail_batch(self, p, "an earlier write could not be synced");
        break;
    case PIPE_PUBLISH:
        release(self, p);
        break;
    case PIPE_WAIT:
    case PIPE_SYNC_INLINE: /* write_inline's own */
        break;
    }
}

/* Loop: after a job, what it unblocked, then the stop if it was the last. */
static void after_job(ingest_t *self)
{
    commit_next(self, 0);
    if (self->stopping && pipeline_idle(self->pl) && self->done)
        finish(self);
}

/* Loop: a sync job returned: SYNCING -> durable or failed, and the batch
 * WRITTEN after it to its sync. */
static void after_sync_cb(uv_work_t *w, int status)
{
    pend_t *p = w->data;
    ingest_t *self = p->owner;
    pipe_step_t s[2];
    (void)status;
    int n = pipeline_synced(self->pl, p->rc == 0, s);
    for (int i = 0; i < n; i++)
        step(self, s[i]);
    after_job(self);
}

/* Loop: a write job returned: WRITING -> SYNCING, WRITTEN, or failed. */
static void after_write_cb(uv_work_t *w, int status)
{
    pend_t *p = w->data;
    ingest_t *self = p->owner;
    pipe_step_t s;
    (void)status;
    self->st.commits++;
    pipeline_written(self->pl, p->rc == 0, store_batch_accepted(p->sb) > 0, &s);
    step(self, s);
    after_job(self);
}

/* Worker: the render job of an inline batch (the RENDERING stage). */
static void render_cb(uv_work_t *w)
{
    pend_t *p = w->data;
    render(p->owner, p, 0);
}

/* Loop: a render job returned: RENDERING -> published and free. */
static void after_render_cb(uv_work_t *w, int status)
{
    pend_t *p = w->data;
    ingest_t *self = p->owner;
    pipe_step_t s;
    (void)status;
    pipeline_rendered(self->pl, &s);
    step(self, s);
    after_job(self);
}

/* Loop, the INLINE stage (nothing in flight, p is small): writes and syncs
 * p right here and acks it. At low load this saves the four thread
 * hand-offs of the two worker jobs (about a third of the ack latency on 2
 * cores); the loop stops receiving for the fdatasync, and frames queue
 * meanwhile. When status documents are due, a render job renders them on a
 * worker while the loop syncs (rendering can take longer than the
 * fdatasync), and they are published when it returns; the ack does not
 * wait for it. The write stage's state may be touched here because no
 * write job runs (pipeline_take); the render job touches only the
 * projections and the scheduler, which the loop leaves alone until it
 * returns (the write stage is busy while the batch is RENDERING). */
static void write_inline(ingest_t *self, pend_t *p)
{
    pipe_step_t s;
    int ok, job = 0;
    write_stage(self, p, 0);
    note_purge(self, p);
    self->st.commits++;
    ok = p->rc == 0;
    if (ok && rsched_wanted(self->rs, *self->proj)) {
        p->job.data = p;
        job = uv_queue_work(self->loop, &p->job, render_cb, after_render_cb) == 0;
    }
    if (ok && !job)
        render(self, p, 0); /* nothing due: notes when a held-back topic is */
    pipeline_inline_written(self->pl, ok, ok && store_batch_accepted(p->sb) > 0, job, &s);
    if (s.act == PIPE_SYNC_INLINE) {
        uint64_t t0 = uv_hrtime();
        p->rc = store_sync(self->store, p->err, sizeof p->err);
        p->io_ns += uv_hrtime() - t0;
        pipeline_inline_synced(self->pl, p->rc == 0, &s);
    }
    step(self, s);
}

/* Loop: takes the open batch for writing if the pipeline can (see
 * pipeline_take): it is non-empty, or (force) even empty: a render-only or
 * purge job. */
static void commit_next(ingest_t *self, int force)
{
    pend_t *open = open_batch(self);
    pipe_take_t in = {.requests = open->nreqs,
                      .events = store_batch_count(open->sb),
                      .force = force,
                      .inline_max = INLINE_MAX};
    pipe_step_t s;
    int reopen;
    if (pipeline_write_busy(self->pl))
        return; /* and the worker's state below is the write job's */
    in.needs_worker = self->store_down || self->proj_stale || purge_due(self);
    if (!pipeline_take(self->pl, &in, &s, &reopen))
        return;
    if (reopen) {
        /* Worker state, set while no job runs (uv_queue_work orders it). */
        self->store_down = 1;
        self->proj_stale = 1;
        self->backoff_ms = REOPEN_MIN_MS;
        self->retry_at_ms = mono_ms() + REOPEN_MIN_MS;
        snprintf(self->down_why, sizeof self->down_why, "a WAL sync failed");
    }
    uv_timer_stop(&self->due);           /* every job renders what is due */
    if (self->full && !self->stopping) { /* the new open batch is empty */
        self->full = 0;
        zbridge_resume(self->bridge);
    }
    step(self, s);
}

static int is_full(const pend_t *p)
{
    return store_batch_count(p->sb) >= BATCH_MAX_EVENTS ||
           store_batch_bytes(p->sb) >= BATCH_MAX_BYTES ||
           codec_arena_bytes(p->codec) >= BATCH_MAX_DECODED;
}

/* zbridge handler: receives up to RECV_CAP messages into the open batch. */
static int on_input(void *arg)
{
    ingest_t *self = arg;
    int more = 1;
    for (int n = 0; n < RECV_CAP; n++) {
        zmq_msg_t parts[ZBRIDGE_MAX_PARTS];
        pend_t *open = open_batch(self);
        int nparts, rc;
        if (is_full(open) && open->nreqs == 0) {
            /* Only answered frames (pings, refusals) filled the arena:
             * nothing points into it, so it can simply be emptied. */
            pend_reset(open);
        }
        if (is_full(open)) {
            self->full = 1;
            zbridge_pause(self->bridge);
            more = 0;
            break;
        }
        if ((rc = zbridge_recv(self->router, parts, &nparts)) < 0) {
            if (rc != -EAGAIN && rc != -EINTR)
                cohort_log(LOG_WARNING, "ingest: receive failed: %s", zmq_strerror(-rc));
            more = 0;
            break;
        }
        handle(self, parts, rc);
        for (int i = 0; i < nparts; i++)
            zmq_msg_close(&parts[i]);
    }
    commit_next(self, 0);
    return more;
}

int ingest_new(ingest_t **out, uv_loop_t *loop, void *zctx, const ingest_opts_t *o, char *err,
               size_t errlen)
{
    ingest_t *self = calloc(1, sizeof *self);
    int one = 1, rcv_hwm = RCV_HWM, snd_hwm = SND_HWM, hs_ms = HANDSHAKE_MS, rc;
    int64_t maxmsg = ZMQ_MAX_MSG;
    *out = NULL;
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    self->loop = loop;
    self->store = o->store;
    self->proj = o->proj;
    self->proj_cfg = o->proj_cfg;
    self->pub = o->pub;
    self->checkpoint_every = o->checkpoint_every;
    self->ref_form = o->ref_form;
    self->head = store_head(o->store);
    self->auth = o->auth;
    uv_timer_init(loop, &self->due);
    self->due.data = self;
    uv_timer_init(loop, &self->purge_timer);
    self->purge_timer.data = self;
    self->handles = 2;
    if ((rc = vault_new(&self->vault, o->store)) < 0) {
        snprintf(err, errlen, "initialising the key vault (libsodium): %s", strerror(-rc));
        goto fail;
    }
    { /* A purge owed when the daemon last stopped (or crashed): soon. */
        char *flag = NULL;
        size_t flen = 0;
        if (store_get_meta(o->store, VAULT_PURGE_META, &flag, &flen) == 0 && flen == 1 &&
            flag[0] == '1') {
            self->purge_owed = 1;
            uv_timer_start(&self->purge_timer, on_purge, 0, 0);
        }
        free(flag);
    }
    if (!(self->pl = pipeline_new()) || !(self->rs = rsched_new(o->coalesce_ms, NULL, NULL))) {
        snprintf(err, errlen, "out of memory");
        rc = -ENOMEM;
        goto fail;
    }
    for (int i = 0; i < PIPELINE_BATCHES; i++) {
        self->pend[i].owner = self;
        self->pend[i].sb = store_batch_new();
        self->pend[i].codec = codec_new();
        if (!self->pend[i].sb || !self->pend[i].codec) {
            snprintf(err, errlen, "out of memory");
            rc = -ENOMEM;
            goto fail;
        }
    }
    /* The current documents, before any agent can change them. */
    pend_t *p = open_batch(self);
    p->head = self->head;
    render(self, p, 1);
    publish(self, p);
    pend_reset(p);
    /* Memory per agent connection is bounded by RCV_HWM + 1 frames of at
     * most ZMQ_MAX_MSG (HWMs count messages, not bytes) plus SND_HWM short
     * replies; large replies share REPLY_BUDGET. No
     * ZMTP heartbeat here: libzmq 4.3.4 can abort (stream_engine_base.cpp
     * "!_io_error", zeromq/libzmq#4364) when one fires on a connection whose
     * queue is at its high-water mark, so a flood would become a crash.
     * Agents heartbeat themselves (ZeroMQ still answers their PINGs) and TCP
     * keepalive clears dead peers. */
    if (!(self->router = zmq_socket(zctx, ZMQ_ROUTER)) ||
        zmq_setsockopt(self->router, ZMQ_ROUTER_MANDATORY, &one, sizeof one) != 0 ||
        zmq_setsockopt(self->router, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) != 0 ||
        zmq_setsockopt(self->router, ZMQ_RCVHWM, &rcv_hwm, sizeof rcv_hwm) != 0 ||
        zmq_setsockopt(self->router, ZMQ_SNDHWM, &snd_hwm, sizeof snd_hwm) != 0 ||
        zmq_setsockopt(self->router, ZMQ_HANDSHAKE_IVL, &hs_ms, sizeof hs_ms) != 0 ||
        zmq_setsockopt(self->router, ZMQ_TCP_KEEPALIVE, &one, sizeof one) != 0) {
        rc = -errno;
        snprintf(err, errlen, "creating the ingest socket: %s", zmq_strerror(errno));
        goto fail;
    }
    if (o->auth && (rc = auth_curve_server(self->router, o->curve_secret, err, errlen)) < 0)
        goto fail;
    /* before the bind: no connection's events are missed (peer count) */
    if ((rc = zmonitor_new(&self->mon, loop, zctx, self->router, "ingest", err, errlen)) < 0)
        goto fail;
    /* One bound for the input held, whatever the number of connections
     * (docs/operations.md "Memory"): at most max_conns connections, each
     * holding at most RCV_HWM + 1 frames of ZMQ_MAX_MSG. */
    if (!(self->admit = admit_new(o->max_conns ? o->max_conns : INGEST_DEFAULT_MAX_CONNS,
                                  o->max_conns_per_addr ? o->max_conns_per_addr
                                                        : INGEST_DEFAULT_MAX_CONNS_PER_ADDR))) {
        rc = -ENOMEM;
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if ((rc = zmonitor_limit(self->mon, self->admit)) < 0) {
        snprintf(err, errlen, "starting the connection limits: %s", uv_strerror(rc));
        goto fail;
    }
    /* Strict parse (no tcp://SOURCE;DESTINATION); plaintext binds only
     * loopback or ipc://, checked again on what libzmq really bound. */
    if ((rc = endpoint_check(o->endpoint, o->auth == NULL, err, errlen)) < 0)
        goto fail;
    if (zmq_bind(self->router, o->endpoint) != 0) {
        rc = -errno;
        snprintf(err, errlen, "binding ingest endpoint %s: %s", o->endpoint, zmq_strerror(errno));
        goto fail;
    }
    if ((rc = endpoint_check_bound(self->router, o->auth == NULL, err, errlen)) < 0) {
        char why[512];
        snprintf(why, sizeof why, "%s", err);
        snprintf(err, errlen, "ingest endpoint %s: %s", o->endpoint, why);
        goto fail;
    }
    if ((rc = zbridge_new(&self->bridge, loop, self->router, on_input, self)) < 0) {
        snprintf(err, errlen, "watching the ingest socket: %s", uv_strerror(rc));
        goto fail;
    }
    *out = self;
    return 0;
fail:
    ingest_destroy(&self);
    return rc;
}

void ingest_stop(ingest_t *self, void (*done)(void *arg), void *arg)
{
    self->stopping = 1;
    self->done = done;
    self->done_arg = arg;
    if (self->bridge)
        zbridge_pause(self->bridge);
    commit_next(self, 0);
    if (pipeline_idle(self->pl) && self->done)
        finish(self);
}

static void on_closed(uv_handle_t *h)
{
    ingest_t *self = h->data;
    if (--self->handles == 0)
        free(self); /* memory goes only once both timers are closed */
}

void ingest_destroy(ingest_t **self_p)
{
    ingest_t *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    *self_p = NULL;
    zbridge_close(&self->bridge);
    zmonitor_destroy(&self->mon);
    admit_destroy(&self->admit);
    if (self->router) {
        int linger = LINGER_MS;
        zmq_setsockopt(self->router, ZMQ_LINGER, &linger, sizeof linger);
        zmq_close(self->router);
    }
    for (int i = 0; i < PIPELINE_BATCHES; i++)
        pend_free(&self->pend[i]);
    rsched_destroy(&self->rs);
    pipeline_destroy(&self->pl);
    agency_t *a, *atmp;
    HASH_ITER(hh, self->agencies, a, atmp)
    {
        HASH_DEL(self->agencies, a);
        free(a);
    }
    vault_destroy(&self->vault);
    free(self->pack);
    free(self->spans);
    free(self->acks);
    free(self->ackp);
    /* Both timers are initialised right after the allocation in ingest_new. */
    uv_close((uv_handle_t *)&self->due, on_closed);
    uv_close((uv_handle_t *)&self->purge_timer, on_closed);
}

void ingest_settle_connections(void *arg)
{
    ingest_t *self = arg;
    if (self->mon)
        zmonitor_drain(self->mon);
}

void ingest_stats(const ingest_t *self, ingest_stats_t *out)
{
    *out = self->st;
    out->peers = self->mon ? zmonitor_peers(self->mon) : 0;
    if (self->admit) {
        admit_stats_t a;
        admit_stats(self->admit, &a);
        out->conns_refused = a.refused_addr + a.refused_all;
    }
}

uint64_t ingest_head(const ingest_t *self)
{
    return self->head;
}

void ingest_histograms(const ingest_t *self, ingest_hist_t *out)
{
    *out = self->hist;
}

void ingest_each_agency(const ingest_t *self,
                        void (*fn)(void *arg, const char *agency, int64_t unix_s), void *arg)
{
    for (const agency_t *a = self->agencies; a; a = a->hh.next)
        fn(arg, a->name, a->last_s);
}
