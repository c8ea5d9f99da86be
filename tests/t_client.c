/* t_client.c: unit tests for libcohort's ingest client (agents/cohort_client.h;
 * over 1,000 lines on purpose: one TAP file per module, and the fake daemon
 * is shared by every case), against a fake daemon: a CURVE ROUTER (server keys from zmq_curve_keypair,
 * no ZAP) on ipc:// in a mkdtemp directory, driven from the test's own poll
 * loop as t_sub.c drives its fake publisher, so each test decides exactly
 * which frames are answered, held, dropped or refused, and when. The fake
 * keeps a dedupe table like the daemon's (an event id stored once, forever,
 * also across its restarts). Covered, from the header's contract:
 * - the report's fields (tag, event_id, result, seq, code, frame_error,
 *   reason, attempts, times) and the counters;
 * - the window (never more than opts.window unacked; the queue bound and
 *   -EAGAIN; new events only once max(1, window/4) slots are free);
 * - timeouts and back-off (first timeout resent at once, later ones and
 *   UNAVAILABLE after a doubling backoff up to backoff_max; max_attempts);
 * - order (no new event while a resend waits; resends in order);
 * - a daemon that goes away and comes back (events held while down and sent
 *   later in order, unacked ones resent with the same event_id and reported
 *   DUPLICATE when the daemon had stored them);
 * - defer_ms (order-dependent rejections retried, others final);
 * - frames within 4 MiB (large events split over frames);
 * - deadlines (queued, and in flight), give_up and destroy.
 * Where the header is silent the test name says "(code: ...)": it checks
 * what the code does. Every wait is bounded. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "cohort_client.h"
#include "tap.h"

static char dir[64];

static uint64_t ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ------------------------------------------------------- fake daemon --- */

#define MAXF 512   /* frames a fake records */
#define MAXFE 64   /* events recorded per frame */
#define MAXIDX 256 /* event indexes a test may use */

/* How the fake handles the frames it receives. */
enum {
    M_ANSWER,        /* answer at once, one ack per event (see fail_left) */
    M_HOLD,          /* keep unanswered; the test answers with fake_answer */
    M_DROP,          /* never answer */
    M_STORE_NOREPLY, /* store the events (dedupe table), but the reply is lost */
    M_FRAME_UNAVAIL, /* answer FRAME_UNAVAILABLE with the frame's request_id */
};

/* One frame the fake received. */
typedef struct {
    uint64_t at_ms;  /* when it was read */
    uint64_t req;    /* its request_id */
    int n;           /* events in it */
    int idx[MAXFE];  /* their indexes (event_id bytes 14-15) */
    uint8_t rid[16]; /* the sender's routing id */
    size_t rl;       /* its length */
    uint64_t done;   /* bit j: event j answered (or never will be) */
    size_t bytes;    /* the frame's size on the wire */
} frame_t;

static uint64_t all_of(const frame_t *fr)
{
    return fr->n >= 64 ? ~0ull : (1ull << fr->n) - 1;
}

/* Marks the events of mask in fr answered; returns how many were not. */
static int mark(frame_t *fr, uint64_t mask)
{
    int n = 0;
    mask &= all_of(fr) & ~fr->done;
    for (int j = 0; j < fr->n; j++)
        n += (int)(mask >> j & 1);
    fr->done |= mask;
    return n;
}

/* The fake daemon. */
typedef struct {
    void *ctx;               /* its own context */
    void *router;            /* the ingest ROUTER, NULL while down */
    char ep[128];            /* ipc endpoint */
    char pub[41], sec[41];   /* server keypair (Z85) */
    int mode;                /* M_* */
    frame_t fr[MAXF];        /* frames received */
    int nf;                  /* how many */
    uint64_t seq;            /* last stored sequence */
    uint64_t seq_of[MAXIDX]; /* dedupe table: stored seq of event idx, 0 = never */
    int fail_left[MAXIDX];   /* answer idx fail_result this many more times */
    int fail_result;         /* COHORT__V1__RESULT__REJECTED or _UNAVAILABLE */
    int fail_code;           /* its RejectCode */
    int outstanding;         /* events received and not answered */
    int max_outstanding;     /* its maximum */
    int events;              /* events received, all frames */
} fake_t;

static void fake_up(fake_t *f)
{
    int zero = 0, one = 1;
    f->router = zmq_socket(f->ctx, ZMQ_ROUTER);
    if (!f->router || zmq_setsockopt(f->router, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
        zmq_setsockopt(f->router, ZMQ_CURVE_SERVER, &one, sizeof one) != 0 ||
        zmq_setsockopt(f->router, ZMQ_CURVE_SECRETKEY, f->sec, 40) != 0 ||
        zmq_bind(f->router, f->ep) != 0) {
        printf("Bail out! fake daemon at %s: %s\n", f->ep, zmq_strerror(errno));
        exit(1);
    }
}

/* The daemon goes away: its socket closes and nothing it held is answered. */
static void fake_down(fake_t *f)
{
    zmq_close(f->router);
    f->router = NULL;
    for (int k = 0; k < f->nf; k++)
        f->outstanding -= mark(&f->fr[k], ~0ull);
}

static fake_t *fake_new(const char *name)
{
    fake_t *f = calloc(1, sizeof *f);
    f->ctx = zmq_ctx_new();
    snprintf(f->ep, sizeof f->ep, "ipc://%s/%s", dir, name);
    if (zmq_curve_keypair(f->pub, f->sec) != 0) {
        printf("Bail out! zmq_curve_keypair: %s\n", zmq_strerror(errno));
        exit(1);
    }
    fake_up(f);
    return f;
}

static void fake_free(fake_t *f)
{
    if (f->router)
        fake_down(f);
    zmq_ctx_term(f->ctx);
    unlink(f->ep + 6);
    free(f);
}

static int idx_of(const ProtobufCBinaryData *id)
{
    return id->len == 16 ? (id->data[14] << 8 | id->data[15]) % MAXIDX : 0;
}

static void fake_reply(fake_t *f, const frame_t *fr, const Cohort__V1__IngestReply *rep)
{
    size_t len = cohort__v1__ingest_reply__get_packed_size(rep);
    uint8_t *buf = malloc(len + 1);
    cohort__v1__ingest_reply__pack(rep, buf);
    zmq_send(f->router, fr->rid, fr->rl, ZMQ_SNDMORE | ZMQ_DONTWAIT);
    zmq_send(f->router, buf, len, ZMQ_DONTWAIT);
    free(buf);
}

/* Fills ack a for event idx as the daemon would: the failure the test set
 * up, else ACCEPTED at a new seq, or DUPLICATE of the stored one. */
static void fake_decide(fake_t *f, int idx, uint8_t *id, Cohort__V1__Ack *a)
{
    cohort__v1__ack__init(a);
    a->event_id.data = id;
    a->event_id.len = 16;
    if (f->fail_left[idx] > 0) {
        f->fail_left[idx]--;
        a->result = (Cohort__V1__Result)f->fail_result;
        if (f->fail_result == COHORT__V1__RESULT__REJECTED) {
            a->code = (Cohort__V1__RejectCode)f->fail_code;
            a->reason = "refused by the fake daemon";
        }
    } else if (f->seq_of[idx]) {
        a->result = COHORT__V1__RESULT__DUPLICATE;
        a->seq = f->seq_of[idx];
    } else {
        a->result = COHORT__V1__RESULT__ACCEPTED;
        a->seq = f->seq_of[idx] = ++f->seq;
    }
}

enum { A_REVERSE = 1, A_TWICE = 2, A_UNKNOWN = 4 };

/* Answers the events of mask (bit j: event j) of recorded frame k that are
 * not answered yet: acks in request order, or reversed; the reply sent
 * twice; with an extra ack for an event id never sent. */
static void fake_answer_some(fake_t *f, int k, int how, uint64_t mask)
{
    frame_t *fr = &f->fr[k];
    Cohort__V1__IngestReply rep = COHORT__V1__INGEST_REPLY__INIT;
    Cohort__V1__Ack acks[MAXFE + 1], *ap[MAXFE + 1];
    uint8_t ids[MAXFE + 1][16];
    int n = 0;

    mask &= all_of(fr) & ~fr->done;
    if (!mask || !f->router)
        return;
    for (int j = 0; j < fr->n; j++) {
        int e = (how & A_REVERSE) ? fr->n - 1 - j : j;
        if (!(mask >> e & 1))
            continue;
        memset(ids[n], 0, 16);
        ids[n][0] = 0xc0;
        ids[n][14] = (uint8_t)(fr->idx[e] >> 8);
        ids[n][15] = (uint8_t)fr->idx[e];
        fake_decide(f, fr->idx[e], ids[n], &acks[n]);
        ap[n] = &acks[n];
        n++;
    }
    if (how & A_UNKNOWN) {
        memset(ids[n], 0xee, 16);
        cohort__v1__ack__init(&acks[n]);
        acks[n].event_id.data = ids[n];
        acks[n].event_id.len = 16;
        acks[n].result = COHORT__V1__RESULT__ACCEPTED;
        acks[n].seq = 999;
        ap[n] = &acks[n];
        n++;
    }
    rep.request_id = fr->req;
    rep.n_acks = (size_t)n;
    rep.acks = ap;
    rep.head_seq = f->seq;
    fake_reply(f, fr, &rep);
    if (how & A_TWICE)
        fake_reply(f, fr, &rep);
    f->outstanding -= mark(fr, mask);
}

/* Answers every unanswered event of frame k. */
static void fake_answer(fake_t *f, int k, int how)
{
    fake_answer_some(f, k, how, ~0ull);
}

/* Reads every waiting frame and handles it by mode. */
static void fake_serve(fake_t *f)
{
    while (f->router && f->nf < MAXF) {
        zmq_msg_t id, body;
        Cohort__V1__IngestRequest *rq;
        frame_t *fr = &f->fr[f->nf];
        zmq_msg_init(&id);
        if (zmq_msg_recv(&id, f->router, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&id);
            return;
        }
        zmq_msg_init(&body);
        zmq_msg_recv(&body, f->router, 0);
        rq = cohort__v1__ingest_request__unpack(NULL, zmq_msg_size(&body), zmq_msg_data(&body));
        memset(fr, 0, sizeof *fr);
        fr->at_ms = ms_now();
        fr->bytes = zmq_msg_size(&body);
        fr->rl = zmq_msg_size(&id) < sizeof fr->rid ? zmq_msg_size(&id) : sizeof fr->rid;
        memcpy(fr->rid, zmq_msg_data(&id), fr->rl);
        if (rq && rq->body_case == COHORT__V1__INGEST_REQUEST__BODY_BATCH) {
            fr->req = rq->request_id;
            for (size_t j = 0; j < rq->batch->n_events && fr->n < MAXFE; j++)
                fr->idx[fr->n++] = idx_of(&rq->batch->events[j]->event_id);
            f->nf++;
            f->events += fr->n;
            f->outstanding += fr->n;
            if (f->outstanding > f->max_outstanding)
                f->max_outstanding = f->outstanding;
            if (f->mode == M_ANSWER) {
                fake_answer(f, f->nf - 1, 0);
            } else if (f->mode == M_STORE_NOREPLY) {
                for (int j = 0; j < fr->n; j++)
                    if (!f->seq_of[fr->idx[j]])
                        f->seq_of[fr->idx[j]] = ++f->seq;
                f->outstanding -= mark(fr, ~0ull);
            } else if (f->mode == M_FRAME_UNAVAIL) {
                Cohort__V1__IngestReply rep = COHORT__V1__INGEST_REPLY__INIT;
                rep.request_id = fr->req;
                rep.error = COHORT__V1__FRAME_ERROR__FRAME_UNAVAILABLE;
                rep.error_reason = "storage unavailable";
                fake_reply(f, fr, &rep);
                f->outstanding -= mark(fr, ~0ull);
            } else if (f->mode == M_DROP) {
                f->outstanding -= mark(fr, ~0ull); /* never will be */
            }
        } else {
            diag("fake daemon: a frame that is not a Batch");
        }
        if (rq)
            cohort__v1__ingest_request__free_unpacked(rq, NULL);
        zmq_msg_close(&id);
        zmq_msg_close(&body);
    }
}

/* Answers every held frame, in order. */
static void fake_answer_all(fake_t *f)
{
    for (int k = 0; k < f->nf; k++)
        fake_answer(f, k, 0);
}

/* The event indexes of frames from..nf-1, in arrival order, into out. */
static int fake_seq(const fake_t *f, int from, int *out, int max)
{
    int n = 0;
    for (int k = from; k < f->nf; k++)
        for (int j = 0; j < f->fr[k].n && n < max; j++)
            out[n++] = f->fr[k].idx[j];
    return n;
}

/* ------------------------------------------------------------ client --- */

/* One result, copied out of the callback. */
typedef struct {
    int idx;                  /* from the tag (tag = idx + 1) */
    cohort_client_report_t r; /* the report (pointers not valid after it) */
    uint8_t id[16];           /* r.event_id's bytes */
    char reason[320];         /* r.reason's text */
} got_t;

typedef struct {
    got_t g[1024]; /* results in the order the callbacks came */
    int n;         /* how many */
} rec_t;

static void on_result(void *arg, const cohort_client_report_t *r)
{
    rec_t *x = arg;
    if (x->n >= 1024)
        return;
    got_t *g = &x->g[x->n++];
    g->idx = (int)(uintptr_t)r->tag - 1;
    g->r = *r;
    memcpy(g->id, r->event_id, 16);
    snprintf(g->reason, sizeof g->reason, "%s", r->reason ? r->reason : "(null)");
}

/* CURVE keys for a client of f (a fresh client keypair). */
static cohort_curve_t keys_for(const fake_t *f)
{
    cohort_curve_t c = {.on = 1};
    if (zmq_curve_keypair(c.pub, c.sec) != 0) {
        printf("Bail out! zmq_curve_keypair: %s\n", zmq_strerror(errno));
        exit(1);
    }
    memcpy(c.server_pub, f->pub, 41);
    return c;
}

static cohort_client_t *client_new(const fake_t *f, cohort_client_opts_t o, cohort_curve_t *c,
                                   rec_t *x)
{
    *c = keys_for(f);
    o.endpoint = f->ep;
    o.curve = c;
    o.on_result = on_result;
    o.arg = x;
    memset(x, 0, sizeof *x);
    cohort_client_t *cl = cohort_client_new(&o);
    if (!cl) {
        printf("Bail out! cohort_client_new: %s\n", zmq_strerror(errno));
        exit(1);
    }
    return cl;
}

static void make_id(uint8_t id[16], int idx)
{
    memset(id, 0, 16);
    id[0] = 0xc0;
    id[14] = (uint8_t)(idx >> 8);
    id[15] = (uint8_t)idx;
}

/* Submits event idx (tag idx + 1). */
static int submit(cohort_client_t *cl, int idx)
{
    Cohort__V1__Event ev = COHORT__V1__EVENT__INIT;
    uint8_t id[16];
    make_id(id, idx);
    ev.event_id.data = id;
    ev.event_id.len = 16;
    ev.agency = "wm-police";
    ev.occurred_at = 1700000000000 + idx;
    return cohort_client_submit(cl, &ev, (void *)(uintptr_t)(idx + 1));
}

/* Submits from..to-1; returns how many submit took. */
static int submit_range(cohort_client_t *cl, int from, int to)
{
    int n = 0;
    for (int i = from; i < to; i++)
        n += submit(cl, i) == 0;
    return n;
}

typedef int(pred_fn)(void *arg);

/* Runs the client and the fake (fake may be NULL or down) until pred(arg)
 * holds, or for ms when pred is NULL. Returns 1 if pred held (or was NULL),
 * 0 on timeout. */
static int drive(fake_t *f, cohort_client_t *cl, long ms, pred_fn *pred, void *arg)
{
    uint64_t end = ms_now() + (uint64_t)ms;
    for (;;) {
        zmq_pollitem_t it[2];
        int n = 1;
        uint64_t now;
        long t;
        if (pred && pred(arg))
            return 1;
        now = ms_now();
        if (now >= end)
            return pred == NULL;
        cohort_client_pollitem(cl, &it[0]);
        if (f && f->router) {
            it[1] = (zmq_pollitem_t){f->router, 0, ZMQ_POLLIN, 0};
            n = 2;
        }
        t = cohort_client_timeout(cl);
        if (t < 0 || t > 10)
            t = 10;
        if (t > (long)(end - now))
            t = (long)(end - now);
        zmq_poll(it, n, t);
        if (f)
            fake_serve(f);
        cohort_client_pump(cl);
    }
}

typedef struct {
    rec_t *x; /* results */
    int n;    /* wanted */
} want_t;

static int p_results(void *arg)
{
    want_t *w = arg;
    return w->x->n >= w->n;
}

typedef struct {
    fake_t *f; /* the fake */
    int n;     /* events wanted */
} fwant_t;

static int p_events(void *arg)
{
    fwant_t *w = arg;
    return w->f->events >= w->n;
}

static int results(fake_t *f, cohort_client_t *cl, rec_t *x, int n, long ms)
{
    want_t w = {x, n};
    return drive(f, cl, ms, p_results, &w);
}

static int events(fake_t *f, cohort_client_t *cl, int n, long ms)
{
    fwant_t w = {f, n};
    return drive(f, cl, ms, p_events, &w);
}

/* ------------------------------------------------------------ tests --- */

/* The report's fields and the counters, for ACCEPTED, DUPLICATE and
 * REJECTED; submit's and new's argument checks. */
static void t_report(void)
{
    fake_t *f = fake_new("report");
    cohort_curve_t c;
    rec_t *x = calloc(1, sizeof *x);
    cohort_client_t *cl = client_new(f, (cohort_client_opts_t){.window = 16}, &c, x);
    cohort_client_stats_t st;
    uint64_t t0 = cohort_client_now_us();
    int good = 1;

    is_int(submit_range(cl, 0, 3), 3, "three events submitted");
    is_int(cohort_client_pending(cl), 3, "pending counts queued events");
    ok(results(f, cl, x, 3, 3000), "three results");
    for (int i = 0; i < 3 && i < x->n; i++) {
        got_t *g = &x->g[i];
        uint8_t id[16];
        make_id(id, i);
        good &= g->idx == i && g->r.result == COHORT_ACCEPTED && g->r.seq == (uint64_t)i + 1 &&
                memcmp(g->id, id, 16) == 0 && g->r.code == 0 && g->r.frame_error == 0 &&
                strcmp(g->reason, "") == 0 && g->r.attempts == 1 && g->r.submitted_us >= t0 &&
                g->r.first_sent_us >= g->r.submitted_us && g->r.done_us >= g->r.first_sent_us &&
                g->r.done_us <= cohort_client_now_us();
        if (!good)
            diag("result %d: idx %d %s seq %llu code %d fe %d reason '%s' attempts %u", i, g->idx,
                 cohort_result_name(g->r.result), (unsigned long long)g->r.seq, g->r.code,
                 g->r.frame_error, g->reason, g->r.attempts);
    }
    ok(good, "ACCEPTED reports: tag, event_id, seq 1..3 in submit order, code 0, no frame "
             "error, reason \"\", 1 attempt, submitted <= first sent <= done <= now");

    /* The same id again, after its result: the daemon has it. */
    is_int(submit(cl, 1), 0, "an event id submitted again after its result is taken");
    f->fail_left[5] = 1;
    f->fail_result = COHORT__V1__RESULT__REJECTED;
    f->fail_code = COHORT__V1__REJECT_CODE__REJECT_BAD_VALUE;
    is_int(submit(cl, 5), 0, "an event the daemon will reject");
    ok(results(f, cl, x, 5, 3000), "two more results");
    if (x->n == 5) {
        got_t *d = x->g[3].idx == 1 ? &x->g[3] : &x->g[4];
        got_t *r = x->g[3].idx == 5 ? &x->g[3] : &x->g[4];
        ok(d->idx == 1 && d->r.result == COHORT_DUPLICATE && d->r.seq == 2,
           "DUPLICATE reported with the original seq (%s seq %llu)",
           cohort_result_name(d->r.result), (unsigned long long)d->r.seq);
        ok(r->idx == 5 && r->r.result == COHORT_REJECTED &&
               r->r.code == COHORT__V1__REJECT_CODE__REJECT_BAD_VALUE && r->r.seq == 0 &&
               r->r.frame_error == 0 && r->r.attempts == 1,
           "REJECTED reported with its code, seq 0, 1 attempt (final: not retried)");
        is_str(r->reason, "refused by the fake daemon", "a REJECTED reason is the daemon's text");
    } else {
        ok(0, "DUPLICATE");
        ok(0, "REJECTED");
        ok(0, "reason");
    }
    cohort_client_stats(cl, &st);
    ok(st.submitted == 5 && st.accepted == 3 && st.duplicate == 1 && st.rejected == 1 &&
           st.undelivered == 0 && st.resends == 0 && st.timeouts == 0 &&
           st.replies == st.frames_sent && st.stale_acks == 0 && st.bad_replies == 0,
       "counters: submitted 5, accepted 3, duplicate 1, rejected 1, replies == frames sent (%llu)",
       (unsigned long long)st.frames_sent);
    is_int(cohort_client_handshake(cl, NULL, 0), 1, "the CURVE handshake is reported succeeded");
    cohort_client_stats(cl, &st);
    ok(st.handshakes >= 1 && st.handshake_failures == 0, "counters: %llu handshake(s), 0 failed",
       (unsigned long long)st.handshakes);

    /* submit's checks */
    {
        Cohort__V1__Event ev = COHORT__V1__EVENT__INIT;
        uint8_t id[16] = {1};
        static uint8_t big[COHORT_CLIENT_MAX_FRAME];
        ev.event_id.data = id;
        ev.event_id.len = 15;
        is_int(cohort_client_submit(cl, &ev, NULL), -EINVAL, "a 15-byte event_id: -EINVAL");
        is_int(submit(cl, 9), 0, "event 9 submitted");
        is_int(submit(cl, 9), -EEXIST, "event 9 again while it is pending: -EEXIST");
        is_int(cohort_client_submit_packed(cl, big, sizeof big, id, NULL), -EMSGSIZE,
               "an event that cannot fit a 4 MiB frame: -EMSGSIZE");
        ok(results(f, cl, x, 6, 3000) && x->g[5].idx == 9 && x->g[5].r.result == COHORT_ACCEPTED,
           "event 9 gets exactly one result");
    }
    cohort_client_destroy(&cl);
    ok(cl == NULL, "destroy nulls the pointer");
    cohort_client_destroy(&cl);
    {
        cohort_client_opts_t o = {.endpoint = f->ep, .on_result = on_result, .arg = x};
        cohort_client_opts_t none = {.endpoint = f->ep};
        errno = 0;
        o.window = (1u << 20) + 1;
        ok(cohort_client_new(&o) == NULL && errno == EINVAL, "a window over 2^20: NULL, EINVAL");
        errno = 0;
        ok(cohort_client_new(&none) == NULL && errno == EINVAL, "no on_result: NULL, EINVAL");
    }
    cohort_curve_clear(&c);
    free(x);
    fake_free(f);
}

/* The window: never more than opts.window unacked; the bounded queue; new
 * events only once max(1, window/4) slots are free. */
static void t_window(void)
{
    fake_t *f = fake_new("window");
    cohort_curve_t c;
    rec_t *x = calloc(1, sizeof *x);
    cohort_client_t *cl = client_new(
        f, (cohort_client_opts_t){.window = 8, .queue_max = 32, .timeout_ms = 5000}, &c, x);
    int got = 0, seqs[64], n, inorder = 1;

    f->mode = M_HOLD;
    is_int(submit_range(cl, 0, 32), 32, "32 events fill queue_max 32");
    is_int(submit(cl, 32), -EAGAIN, "the 33rd: -EAGAIN (queue full)");
    is_int(cohort_client_room(cl), 0, "room 0");
    drive(f, cl, 300, NULL, NULL);
    is_int(f->events, 8, "with no acks, the daemon receives exactly window = 8 events");
    is_int(f->max_outstanding, 8, "never more than 8 unacked");
    is_int(cohort_client_pending(cl), 32, "32 pending (8 unacked, 24 queued)");
    is_int(cohort_client_room(cl), 8, "room is queue_max minus queued: 8");
    is_int(submit_range(cl, 32, 40), 8, "8 more submitted");
    is_int(submit(cl, 40), -EAGAIN, "then -EAGAIN again");

    fake_answer_some(f, 0, 0, 1); /* event 0 only */
    drive(f, cl, 250, NULL, NULL);
    is_int(f->events, 8, "1 slot free (< window/4 = 2): nothing new sent");
    fake_answer_some(f, 0, 0, 2); /* event 1 */
    ok(events(f, cl, 10, 2000), "2 slots free: new events sent");
    drive(f, cl, 150, NULL, NULL);
    is_int(f->events, 10, "exactly 2 new events (the free slots)");
    ok(f->nf == 2 && f->fr[1].n == 2, "in one frame");
    is_int(f->max_outstanding, 8, "still never more than 8 unacked");

    /* Drain: the fake answers everything, held or new. */
    f->mode = M_ANSWER;
    fake_answer_all(f);
    ok(results(f, cl, x, 40, 5000), "all 40 results");
    is_int(f->max_outstanding, 8, "never more than 8 unacked, to the end");
    for (int i = 0; i < x->n; i++) {
        got += x->g[i].r.result == COHORT_ACCEPTED;
        inorder &= x->g[i].idx == i && x->g[i].r.seq == (uint64_t)i + 1;
    }
    is_int(got, 40, "40 ACCEPTED");
    ok(inorder, "reported in submit order with seqs 1..40 (the fake acks in arrival order)");
    n = fake_seq(f, 0, seqs, 64);
    inorder = n == 40;
    for (int i = 0; i < n; i++)
        inorder &= seqs[i] == i;
    ok(inorder, "the daemon received events 0..39 once each, in submit order");
    for (int k = 0; k < f->nf; k++)
        inorder &= f->fr[k].n <= 8;
    ok(inorder, "no frame over max_batch (default min(window, 4096) = 8)");
    cohort_client_destroy(&cl);
    cohort_curve_clear(&c);
    free(x);
    fake_free(f);
}

/* Acks are matched by event_id; acks for events not pending are ignored;
 * a reply that does not decode is counted. */
static void t_acks(void)
{
    fake_t *f = fake_new("acks");
    cohort_curve_t c;
    rec_t *x = calloc(1, sizeof *x);
    cohort_client_t *cl =
        client_new(f, (cohort_client_opts_t){.window = 16, .timeout_ms = 5000}, &c, x);
    cohort_client_stats_t st;
    int rev = 1;

    f->mode = M_HOLD;
    submit_range(cl, 0, 4);
    ok(events(f, cl, 4, 2000) && f->nf == 1, "4 events in one frame");
    fake_answer(f, 0, A_REVERSE | A_TWICE | A_UNKNOWN);
    {
        static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x12};
        zmq_send(f->router, f->fr[0].rid, f->fr[0].rl, ZMQ_SNDMORE);
        zmq_send(f->router, junk, sizeof junk, 0);
    }
    ok(results(f, cl, x, 4, 2000), "4 results");
    drive(f, cl, 100, NULL, NULL);
    is_int(x->n, 4, "exactly one result per event, though the reply came twice");
    for (int i = 0; i < 4 && i < x->n; i++)
        rev &= x->g[i].idx == 3 - i && x->g[i].r.result == COHORT_ACCEPTED &&
               x->g[i].r.seq == (uint64_t)i + 1;
    ok(rev, "acks matched by event_id: results in the reply's ack order (code: reversed here)");
    cohort_client_stats(cl, &st);
    is_int(st.stale_acks, 6, "stale acks counted: 4 repeated, 2 for an id never sent (1 per copy)");
    is_int(st.bad_replies, 1, "a reply that does not decode is counted");
    is_int(st.replies, 2, "two good replies counted");
    cohort_client_destroy(&cl);
    cohort_curve_clear(&c);
    free(x);
    fake_free(f);
}

/* Gaps between the times frames k and k+1 were received. The fake reads a
 * frame a little after it arrives when the test is descheduled, so a gap
 * may look up to EARLY ms shorter than the client's own. */
#define EARLY 25
/* Gaps between the times frames k and k+1 were received. */
static long gap(const fake_t *f, int k)
{
    return (long)(f->fr[k + 1].at_ms - f->fr[k].at_ms);
}

/* Timeouts: the first resent at once, later ones after a doubling backoff
 * capped at backoff_max; max_attempts ends it. */
static void t_timeout_backoff(void)
{
    enum { TMO = 150, BMIN = 100, BMAX = 400, SLACK = 250 };
    fake_t *f = fake_new("backoff");
    cohort_curve_t c;
    rec_t *x = calloc(1, sizeof *x);
    cohort_client_t *cl = client_new(f,
                                     (cohort_client_opts_t){.timeout_ms = TMO,
                                                            .backoff_min_ms = BMIN,
                                                            .backoff_max_ms = BMAX,
                                                            .max_attempts = 6,
                                                            .deadline_ms = 20000},
                                     &c, x);
    cohort_client_stats_t st;
    int same = 1;

    f->mode = M_DROP;
    submit(cl, 0);
    ok(results(f, cl, x, 1, 6000), "a result once the attempts are used up");
    is_int(f->nf, 6, "max_attempts 6: the daemon received the event 6 times");
    for (int k = 0; k < f->nf; k++)
        same &=
            f->fr[k].n == 1 && f->fr[k].idx[0] == 0 && (k == 0 || f->fr[k].req > f->fr[k - 1].req);
    ok(same, "every resend carries the same event_id, each frame a new (increasing) request_id");
    if (f->nf == 6) {
        ok(gap(f, 0) >= TMO - EARLY && gap(f, 0) <= TMO + SLACK / 2,
           "first timeout resent at once: %ld ms after the first send (timeout %d)", gap(f, 0),
           TMO);
        for (int k = 1; k < 5; k++) {
            long base = (long)BMIN << (k - 1);
            if (base > BMAX)
                base = BMAX;
            ok(gap(f, k) >= TMO + base / 2 - EARLY && gap(f, k) <= TMO + base + SLACK,
               "resend %d: %ld ms = timeout %d + backoff in [%ld, %ld] (min %d doubling, max %d; "
               "code: jitter [b/2, b])",
               k + 1, gap(f, k), TMO, base / 2, base, BMIN, BMAX);
        }
    } else {
        for (int k = 0; k < 5; k++)
            ok(0, "gap %d", k);
    }
    if (x->n == 1) {
        ok(x->g[0].r.result == COHORT_UNDELIVERED && x->g[0].r.attempts == 6 && x->g[0].r.seq == 0,
           "UNDELIVERED after 6 attempts");
        ok(strstr(x->g[0].reason, "attempt limit reached after 6 attempts: no ack within 150 ms"),
           "reason: %s", x->g[0].reason);
    } else {
        ok(0, "UNDELIVERED");
        ok(0, "reason");
    }
    cohort_client_stats(cl, &st);
    ok(st.timeouts == 6 && st.resends == 5 && st.frames_sent == 6 && st.undelivered == 1,
       "counters: 6 timeouts, 5 resends, 6 frames, 1 undelivered");
    cohort_client_destroy(&cl);
    cohort_curve_clear(&c);
    free(x);
    fake_free(f);
}

/* UNAVAILABLE acks: each resend after a doubling backoff, then ACCEPTED. */
static void t_unavailable(void)
{
    enum { BMIN = 100, BMAX = 1000, SLACK = 150 };
    fake_t *f = fake_new("unavail");
    cohort_curve_t c;
    rec_t *x = calloc(1, sizeof *x);
    cohort_client_t *cl = client_new(
        f,
        (cohort_client_opts_t){.timeout_ms = 5000, .backoff_min_ms = BMIN, .backoff_max_ms = BMAX},
        &c, x);
    cohort_client_stats_t st;

    f->fail_left[0] = 3;
    f->fail_result = COHORT__V1__RESULT__UNAVAILABLE;
    submit(cl, 0);
    ok(results(f, cl, x, 1, 5000), "a result");
    is_int(f->nf, 4, "3 UNAVAILABLE, then a 4th attempt");
    for (int k = 0; k < 3 && f->nf == 4; k++) {
        long base = (long)BMIN << k;
        ok(gap(f, k) >= base / 2 - EARLY && gap(f, k) <= base + SLACK,
           "resend %d after UNAVAILABLE: %ld ms, backoff in [%ld, %ld] (code: jitter [b/2, b])",
           k + 2, gap(f, k), base / 2, base);
    }
    ok(x->n == 1 && x->g[0].r.result == COHORT_ACCEPTED && x->g[0].r.attempts == 4,
       "then ACCEPTED, 4 attempts");
    cohort_client_stats(cl, &st);
    ok(st.unavailable == 3 && st.resends == 3 && st.timeouts == 0,
       "counters: 3 unavailable, 3 resends, no timeouts");
    cohort_client_destroy(&cl);
    cohort_curve_clear(&c);
    free(x);
    fake_free(f);
}

/* Order: after FRAME_UNAVAILABLE no new event overtakes the resends. */
static void t_resend_order(void)
{
    fake_t *f = fake_new("order");
    cohort_curve_t c;
    rec_t *x = calloc(1, sizeof *x);
    cohort_client_t *cl = client_new(
        f,
        (cohort_client_opts_t){
            .window = 16, .timeout_ms = 5000, .backoff_min_ms = 300, .backoff_max_ms = 300},
        &c, x);
    cohort_client_stats_t st = {0};
    int seqs[64], n, inorder, i;

    f->mode = M_FRAME_UNAVAIL;
    submit_range(cl, 0, 4);
    for (i = 0; i < 300 && st.unavailable < 4; i++) {
        drive(f, cl, 10, NULL, NULL);
        cohort_client_stats(cl, &st);
    }
    is_int(st.unavailable, 4, "FRAME_UNAVAILABLE counted for the frame's 4 events");
    f->mode = M_ANSWER;
    is_int(submit_range(cl, 4, 8), 4, "4 new events submitted while the resends back off");
    drive(f, cl, 60, NULL, NULL);
    is_int(f->nf, 1, "no new event goes out while a resend waits (window has room)");
    ok(results(f, cl, x, 8, 3000), "8 results");
    n = fake_seq(f, 1, seqs, 64);
    inorder = n == 8;
    for (int k = 0; k < n; k++)
        inorder &= seqs[k] == k;
    ok(inorder, "the daemon sees the resends 0-3, then the new 4-7, in submit order");
    ok(f->nf >= 2 && gap(f, 0) >= 150 - EARLY, "the resend came after the backoff (%ld ms >= 150)",
       f->nf >= 2 ? gap(f, 0) : -1);
    inorder = x->n == 8;
    for (int k = 0; k < x->n; k++)
        inorder &= x->g[k].idx == k && x->g[k].r.result == COHORT_ACCEPTED &&
                   x->g[k].r.seq == (uint64_t)k + 1 && x->g[k].r.attempts == (k < 4 ? 2u : 1u);
    ok(inorder, "all ACCEPTED in submit order, seqs 1..8; the refused ones in 2 attempts");
    cohort_client_destroy(&cl);
    cohort_curve_clear(&c);
    free(x);
    fake_free(f);
}

/* The daemon goes away with events unacked (it had stored them: the
 * replies were lost), events are submitted while it is away, and it comes
 * back at the same endpoint with the same keys. */
static void t_restart(void)
{
    fake_t *f = fake_new("restart");
    cohort_curve_t c;
    rec_t *x = calloc(1, sizeof *x);
    cohort_client_t *cl = client_new(f,
                                     (cohort_client_opts_t){.window = 16,
                                                            .timeout_ms = 200,
                                                            .backoff_min_ms = 50,
                                                            .backoff_max_ms = 200,
                                                            .deadline_ms = 8000},
                                     &c, x);
    cohort_client_stats_t st;
    int seqs[64], n, good, from;
    uint64_t up_us;

    submit_range(cl, 0, 4);
    ok(results(f, cl, x, 4, 3000), "4 events acked before the daemon goes away");
    f->mode = M_STORE_NOREPLY;
    submit_range(cl, 4, 8);
    ok(events(f, cl, 8, 2000), "4 more reach the daemon, which stores them (seq 5-8)");
    fake_down(f);
    drive(f, cl, 250, NULL, NULL); /* the client sees the connection go */
    is_int(submit_range(cl, 8, 12), 4, "4 events submitted while the daemon is away");
    drive(f, cl, 600, NULL, NULL);
    is_int(x->n, 4, "no result while it is away");
    is_int(cohort_client_pending(cl), 8, "8 pending");
    cohort_client_stats(cl, &st);
    ok(st.timeouts >= 4, "the unacked ones timed out (%llu timeouts)",
       (unsigned long long)st.timeouts);

    from = f->nf;
    f->mode = M_ANSWER;
    up_us = cohort_client_now_us();
    fake_up(f);
    ok(results(f, cl, x, 12, 5000), "after the restart, every event has a result");
    n = fake_seq(f, from, seqs, 64);
    good = n >= 8;
    for (int k = 0; k < 8 && k < n; k++)
        good &= seqs[k] == 4 + k;
    ok(good, "the restarted daemon receives 4-7 (resends) then 8-11 (held), in order");
    good = x->n == 12;
    for (int k = 4; k < x->n; k++)
        good &= x->g[k].idx == k &&
                x->g[k].r.result == (k < 8 ? COHORT_DUPLICATE : COHORT_ACCEPTED) &&
                x->g[k].r.seq == (uint64_t)k + 1;
    ok(good, "4-7 reported DUPLICATE with the seqs stored before the restart, 8-11 ACCEPTED "
             "(9-12), in order");
    good = x->n == 12;
    for (int k = 4; k < 8 && k < x->n; k++)
        good &= x->g[k].r.attempts >= 2;
    ok(good, "the unacked ones were resent (>= 2 attempts)");
    good = x->n == 12;
    for (int k = 8; k < 12 && k < x->n; k++)
        good &= x->g[k].r.attempts == 1 && x->g[k].r.first_sent_us >= up_us;
    ok(good, "the ones submitted while it was away were first sent after it came back, once");
    cohort_client_handshake(cl, NULL, 0);
    cohort_client_stats(cl, &st);
    ok(st.handshakes >= 2, "a new CURVE handshake after the restart (%llu handshakes)",
       (unsigned long long)st.handshakes);
    cohort_client_destroy(&cl);
    cohort_curve_clear(&c);
    free(x);
    fake_free(f);
}

/* defer_ms: order-dependent rejections retried, others final. */
static void t_defer(void)
{
    fake_t *f = fake_new("defer");
    cohort_curve_t c;
    rec_t *x = calloc(1, sizeof *x);
    cohort_client_t *cl = client_new(
        f,
        (cohort_client_opts_t){
            .defer_ms = 3000, .backoff_min_ms = 50, .backoff_max_ms = 100, .deadline_ms = 8000},
        &c, x);
    cohort_client_stats_t st;

    f->fail_result = COHORT__V1__RESULT__REJECTED;
    f->fail_code = COHORT__V1__REJECT_CODE__REJECT_UNKNOWN_COHORT;
    f->fail_left[0] = 2;
    submit(cl, 0);
    ok(results(f, cl, x, 1, 3000), "a result");
    ok(x->n == 1 && x->g[0].r.result == COHORT_ACCEPTED && x->g[0].r.attempts == 3,
       "REJECT_UNKNOWN_COHORT twice, retried under defer_ms: ACCEPTED on the 3rd attempt");
    cohort_client_stats(cl, &st);
    ok(st.deferred == 2 && st.rejected == 0, "counters: 2 deferred, 0 rejected");

    f->fail_code = COHORT__V1__REJECT_CODE__REJECT_BAD_VALUE;
    f->fail_left[1] = 1;
    submit(cl, 1);
    ok(results(f, cl, x, 2, 3000) && x->g[1].r.result == COHORT_REJECTED &&
           x->g[1].r.attempts == 1 && x->g[1].r.code == COHORT__V1__REJECT_CODE__REJECT_BAD_VALUE,
       "REJECT_BAD_VALUE (not order-dependent) is final at once even with defer_ms");
    cohort_client_destroy(&cl);
    cohort_curve_clear(&c);

    cl = client_new(f, (cohort_client_opts_t){.window = 4}, &c, x);
    f->fail_code = COHORT__V1__REJECT_CODE__REJECT_UNKNOWN_COHORT;
    f->fail_left[2] = 1;
    submit(cl, 2);
    ok(results(f, cl, x, 1, 3000) && x->g[0].r.result == COHORT_REJECTED &&
           x->g[0].r.attempts == 1 &&
           x->g[0].r.code == COHORT__V1__REJECT_CODE__REJECT_UNKNOWN_COHORT,
       "without defer_ms, REJECT_UNKNOWN_COHORT is final at once");
    cohort_client_destroy(&cl);
    cohort_curve_clear(&c);
    free(x);
    fake_free(f);
}

/* Deadlines with no daemon; give_up; destroy. */
static void t_deadline(void)
{
    fake_t *f = fake_new("deadline");
    cohort_curve_t c;
    rec_t *x = calloc(1, sizeof *x);
    cohort_client_t *cl;
    int good;

    fake_down(f); /* nobody at the endpoint */
    cl = client_new(f, (cohort_client_opts_t){.deadline_ms = 300, .timeout_ms = 100}, &c, x);
    submit_range(cl, 0, 2);
    ok(results(f, cl, x, 2, 3000), "two results with no daemon");
    good = x->n == 2;
    for (int k = 0; k < x->n; k++) {
        long took = (long)((x->g[k].r.done_us - x->g[k].r.submitted_us) / 1000);
        good &= x->g[k].idx == k && x->g[k].r.result == COHORT_UNDELIVERED &&
                x->g[k].r.attempts == 0 && x->g[k].r.first_sent_us == 0 && took >= 300 &&
                took < 300 + 400;
        if (!good)
            diag("idx %d took %ld ms, attempts %u", x->g[k].idx, took, x->g[k].r.attempts);
    }
    ok(good, "UNDELIVERED at the 300 ms deadline, never sent, in submit order");
    ok(x->n >= 1 && strstr(x->g[0].reason, "deadline passed before it could be sent"), "reason: %s",
       x->n >= 1 ? x->g[0].reason : "");
    submit_range(cl, 2, 4);
    cohort_client_give_up(cl, "operator stop");
    ok(x->n == 4 && x->g[2].r.result == COHORT_UNDELIVERED &&
           x->g[3].r.result == COHORT_UNDELIVERED && strcmp(x->g[2].reason, "operator stop") == 0 &&
           cohort_client_pending(cl) == 0,
       "give_up: every pending event UNDELIVERED with the given reason");
    submit_range(cl, 4, 6);
    cohort_client_destroy(&cl);
    ok(x->n == 6 && x->g[4].r.result == COHORT_UNDELIVERED &&
           x->g[5].r.result == COHORT_UNDELIVERED &&
           strcmp(x->g[5].reason, "client destroyed") == 0,
       "destroy: every pending event UNDELIVERED (\"client destroyed\")");
    cohort_curve_clear(&c);
    free(x);
    fake_free(f);
}

/* Frames stay within 4 MiB: large events are split over frames. */
static void t_frame_limit(void)
{
    enum { BIG = 1536 << 10 }; /* 1.5 MiB: two fit a frame, three do not */
    fake_t *f = fake_new("bigframes");
    cohort_curve_t c;
    rec_t *x = calloc(1, sizeof *x);
    cohort_client_t *cl = client_new(f, (cohort_client_opts_t){.timeout_ms = 5000}, &c, x);
    char *agency = malloc(BIG + 1);
    int good, n = 0;

    memset(agency, 'a', BIG);
    agency[BIG] = '\0';
    for (int i = 0; i < 3; i++) {
        Cohort__V1__Event ev = COHORT__V1__EVENT__INIT;
        uint8_t id[16];
        make_id(id, i);
        ev.event_id.data = id;
        ev.event_id.len = 16;
        ev.agency = agency; /* not a valid agency: the fake does not care */
        n += cohort_client_submit(cl, &ev, (void *)(uintptr_t)(i + 1)) == 0;
    }
    is_int(n, 3, "three 1.5 MiB events submitted");
    ok(results(f, cl, x, 3, 5000), "three results");
    good = f->nf >= 2 && f->events == 3;
    for (int k = 0; k < f->nf; k++)
        good &= f->fr[k].bytes <= COHORT_CLIENT_MAX_FRAME;
    ok(good, "split over %d frames, none over 4 MiB (first %zu bytes)", f->nf,
       f->nf ? f->fr[0].bytes : 0);
    good = x->n == 3;
    for (int k = 0; k < x->n; k++)
        good &= x->g[k].idx == k && x->g[k].r.result == COHORT_ACCEPTED;
    ok(good, "all ACCEPTED, in submit order");
    free(agency);
    cohort_client_destroy(&cl);
    cohort_curve_clear(&c);
    free(x);
    fake_free(f);
}

/* A deadline that passes while an attempt is in flight ends the event when
 * that attempt fails (up to one attempt timeout late). */
static void t_deadline_in_flight(void)
{
    fake_t *f = fake_new("late");
    cohort_curve_t c;
    rec_t *x = calloc(1, sizeof *x);
    cohort_client_t *cl =
        client_new(f, (cohort_client_opts_t){.deadline_ms = 300, .timeout_ms = 800}, &c, x);

    f->mode = M_DROP;
    submit(cl, 0);
    ok(results(f, cl, x, 1, 3000), "a result");
    if (x->n == 1) {
        long took = (long)((x->g[0].r.done_us - x->g[0].r.submitted_us) / 1000);
        ok(x->g[0].r.result == COHORT_UNDELIVERED && x->g[0].r.attempts == 1 && took >= 800 &&
               took < 800 + 400,
           "UNDELIVERED when its one attempt timed out (%ld ms), not at the 300 ms deadline", took);
        ok(strstr(x->g[0].reason, "deadline passed after 1 attempt: no ack within 800 ms"),
           "reason: %s", x->g[0].reason);
    } else {
        ok(0, "UNDELIVERED");
        ok(0, "reason");
    }
    is_int(f->nf, 1, "sent once");
    cohort_client_destroy(&cl);
    cohort_curve_clear(&c);
    free(x);
    fake_free(f);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/t_client.XXXXXX");
    if (!mkdtemp(dir)) {
        printf("Bail out! mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    t_report();
    t_window();
    t_acks();
    t_timeout_backoff();
    t_unavailable();
    t_resend_order();
    t_restart();
    t_defer();
    t_deadline();
    t_deadline_in_flight();
    t_frame_limit();
    rmdir(dir);
    return tap_done();
}
