/* t_ingest.c: unit tests for the daemon's ingest pipeline (daemon/ingest.h),
 * started in-process as main.c wires it: a ZeroMQ context, the key table
 * (auth.h: CURVE, an access file with one coordinator key), a real store in
 * a mkdtemp data directory, the projections restored from it
 * (checkpoint_restore), the status publisher and the ingest, on a libuv
 * loop of the test's own that the test turns between its socket reads. A
 * CURVE DEALER on ipc:// sends real IngestRequest frames (ProgrammeDefined
 * events built from examples/step-forward.jsonl). Checked against
 * docs/protocol.md:
 * - an ACCEPTED event is in the store when its ack arrives (read back with
 *   store_scan and store_lookup at that moment), at the acked seq;
 * - bad frames (garbage, a truncated request, over 4 MiB, two payload
 *   frames, over 4096 events) get their FrameError and request_id, and
 *   the next good event is still acked; a bad event in a frame gets its
 *   RejectCode and the good one beside it is stored;
 * - a repeated event id is DUPLICATE with the original seq, in a later
 *   frame and within one frame, and is stored once;
 * - pipelined frames of many events are acked one ack per event in request
 *   order, with sequences increasing in arrival order, all in the store;
 * - the counters (ingest_stats) move by exactly what was sent.
 * Every wait is bounded. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>
#include <zmq.h>

#include "auth.h"
#include "checkpoint.h"
#include "codec.h"
#include "cohort.pb-c.h"
#include "cohort_json.h"
#include "cohort_keys.h"
#include "ingest.h"
#include "log.h"
#include "publish.h"
#include "store.h"
#include "tap.h"

#define AGENCY "wmcjb" /* the coordinator key's agency */

static char dir[64];

static uint64_t ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ------------------------------------------------------------ daemon --- */

/* The daemon's parts, as main.c holds them, plus the test's DEALER. */
typedef struct {
    uv_loop_t loop;                 /* the loop everything runs on */
    void *zctx;                     /* the ZeroMQ context */
    auth_t *auth;                   /* key table and ZAP handler */
    store_t *store;                 /* the event store */
    proj_t *proj;                   /* the projections */
    proj_config_t cfg;              /* their config */
    publish_t *pub;                 /* status publisher */
    ingest_t *ing;                  /* the pipeline under test */
    char ingest_ep[128];            /* its endpoint */
    char pub_ep[128], snap_ep[128]; /* the publisher's */
    char spub[41], ssec[41];        /* the server keypair */
    void *dealer;                   /* the test's agent socket */
    int stopped;                    /* ingest_stop's callback ran */
} d_t;

static int start(d_t *d)
{
    char err[512] = "", path[256], cpub[41], csec[41];
    checkpoint_info_t info;
    cohort_curve_t c = {.on = 1};
    int fd, zero = 0;

    memset(d, 0, sizeof *d);
    d->cfg = (proj_config_t){PROJ_DEFAULT_K, PROJ_DEFAULT_AT_RISK_RATIO, PROJ_DEFAULT_RELEASE_DAYS};
    snprintf(d->ingest_ep, sizeof d->ingest_ep, "ipc://%s/ingest", dir);
    snprintf(d->pub_ep, sizeof d->pub_ep, "ipc://%s/pub", dir);
    snprintf(d->snap_ep, sizeof d->snap_ep, "ipc://%s/snap", dir);
    if (zmq_curve_keypair(d->spub, d->ssec) != 0 || zmq_curve_keypair(cpub, csec) != 0) {
        diag("zmq_curve_keypair: %s", zmq_strerror(errno));
        return -1;
    }
    /* The access file: one coordinator key of agency wmcjb owning every programme. */
    snprintf(path, sizeof path, "%s/access", dir);
    if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) < 0 ||
        dprintf(fd, "# t_ingest\n%s coordinator %s programmes=*\n", cpub, AGENCY) < 0 ||
        close(fd) != 0) {
        diag("access file: %s", strerror(errno));
        return -1;
    }
    if (uv_loop_init(&d->loop) != 0 || !(d->zctx = zmq_ctx_new())) {
        diag("loop or context");
        return -1;
    }
    if (auth_new(&d->auth, &d->loop, d->zctx, path, err, sizeof err) < 0 ||
        store_open(&d->store, dir, 0, err, sizeof err) < 0 ||
        checkpoint_restore(d->store, &d->cfg, 1, 0, &d->proj, &info, err, sizeof err) < 0) {
        diag("start: %s", err);
        return -1;
    }
    publish_opts_t po = {
        .pub_ep = d->pub_ep, .snap_ep = d->snap_ep, .auth = d->auth, .curve_secret = d->ssec};
    if (publish_new(&d->pub, &d->loop, d->zctx, &po, err, sizeof err) < 0) {
        diag("publish_new: %s", err);
        return -1;
    }
    ingest_opts_t io = {.endpoint = d->ingest_ep,
                        .store = d->store,
                        .proj = &d->proj,
                        .proj_cfg = &d->cfg,
                        .pub = d->pub,
                        .auth = d->auth,
                        .curve_secret = d->ssec};
    if (ingest_new(&d->ing, &d->loop, d->zctx, &io, err, sizeof err) < 0) {
        diag("ingest_new: %s", err);
        return -1;
    }
    auth_set_before_answer(d->auth, ingest_settle_connections, d->ing);

    /* The agent: a CURVE client DEALER (ZAP serves only the server sockets). */
    memcpy(c.server_pub, d->spub, 41);
    memcpy(c.pub, cpub, 41);
    memcpy(c.sec, csec, 41);
    d->dealer = zmq_socket(d->zctx, ZMQ_DEALER);
    if (!d->dealer || zmq_setsockopt(d->dealer, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
        cohort_curve_apply(d->dealer, &c, err, sizeof err) < 0 ||
        zmq_connect(d->dealer, d->ingest_ep) != 0) {
        diag("dealer: %s %s", err, zmq_strerror(errno));
        return -1;
    }
    cohort_curve_clear(&c);
    explicit_bzero(csec, sizeof csec);
    return 0;
}

static void on_stopped(void *arg)
{
    ((d_t *)arg)->stopped = 1;
}

static void stop(d_t *d)
{
    uint64_t end = ms_now() + 5000;
    zmq_close(d->dealer);
    ingest_stop(d->ing, on_stopped, d);
    while (!d->stopped && ms_now() < end)
        uv_run(&d->loop, UV_RUN_NOWAIT), usleep(1000);
    ok(d->stopped, "ingest_stop calls back once what was received is answered");
    auth_set_before_answer(d->auth, NULL, NULL);
    ingest_destroy(&d->ing);
    publish_destroy(&d->pub);
    auth_destroy(&d->auth);
    for (int i = 0; i < 100 && uv_loop_alive(&d->loop); i++)
        uv_run(&d->loop, UV_RUN_NOWAIT), usleep(1000);
    ok(uv_loop_close(&d->loop) == 0, "every libuv handle closed");
    proj_destroy(&d->proj);
    store_close(&d->store);
    zmq_ctx_term(d->zctx);
}

/* Turns the loop and waits (at most ms) for a reply on the DEALER. Returns
 * it (free with cohort__v1__ingest_reply__free_unpacked) or NULL. */
static Cohort__V1__IngestReply *reply(d_t *d, long ms)
{
    uint64_t end = ms_now() + (uint64_t)ms;
    do {
        zmq_msg_t m;
        zmq_pollitem_t it = {d->dealer, 0, ZMQ_POLLIN, 0};
        uv_run(&d->loop, UV_RUN_NOWAIT);
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, d->dealer, ZMQ_DONTWAIT) >= 0) {
            Cohort__V1__IngestReply *r =
                cohort__v1__ingest_reply__unpack(NULL, zmq_msg_size(&m), zmq_msg_data(&m));
            if (!r)
                diag("a reply that does not decode");
            zmq_msg_close(&m);
            return r;
        }
        zmq_msg_close(&m);
        zmq_poll(&it, 1, 2);
    } while (ms_now() < end);
    return NULL;
}

/* Turns the loop for ms. */
static void turn(d_t *d, long ms)
{
    uint64_t end = ms_now() + (uint64_t)ms;
    while (ms_now() < end)
        uv_run(&d->loop, UV_RUN_NOWAIT), usleep(1000);
}

/* ------------------------------------------------------------ events --- */

static Cohort__V1__Event *tmpl; /* examples/step-forward.jsonl line 1 */

static void make_id(uint8_t id[16], int n)
{
    memset(id, 0, 16);
    id[0] = 0xd0;
    id[1] = 0x1e;
    id[14] = (uint8_t)(n >> 8);
    id[15] = (uint8_t)n;
}

/* A request of n events: event k is a ProgrammeDefined of programme
 * "prog-<first+k>" with id make_id(first+k) and agency AGENCY, except
 * those bad[] changes. Returns the packed frame (caller frees). */
typedef struct {
    int bad_id;       /* event index with a 15-byte id, or -1 */
    int other_agency; /* event index with another agency, or -1 */
    int repeat;       /* event index that repeats the id (and body) of the one before, or -1 */
} shape_t;

static const shape_t PLAIN = {-1, -1, -1};

static uint8_t *request(uint64_t req_id, int first, int n, shape_t sh, size_t *len)
{
    Cohort__V1__Event *ev = calloc((size_t)n, sizeof *ev), **evp = calloc((size_t)n, sizeof *evp);
    Cohort__V1__ProgrammeDefined *pd = calloc((size_t)n, sizeof *pd);
    uint8_t(*ids)[16] = calloc((size_t)n, 16);
    char(*pids)[32] = calloc((size_t)n, 32);
    Cohort__V1__Batch b = COHORT__V1__BATCH__INIT;
    Cohort__V1__IngestRequest rq = COHORT__V1__INGEST_REQUEST__INIT;
    uint8_t *buf;

    for (int k = 0; k < n; k++) {
        int num = k == sh.repeat && k > 0 ? first + k - 1 : first + k;
        ev[k] = *tmpl;
        pd[k] = *tmpl->programme_defined;
        snprintf(pids[k], 32, "prog-%d", num);
        pd[k].programme_id = pids[k];
        ev[k].programme_defined = &pd[k];
        make_id(ids[k], num);
        ev[k].event_id.data = ids[k];
        ev[k].event_id.len = k == sh.bad_id ? 15 : 16;
        ev[k].agency = k == sh.other_agency ? "wm-police" : AGENCY;
        evp[k] = &ev[k];
    }
    b.n_events = (size_t)n;
    b.events = evp;
    rq.request_id = req_id;
    rq.body_case = COHORT__V1__INGEST_REQUEST__BODY_BATCH;
    rq.batch = &b;
    *len = cohort__v1__ingest_request__get_packed_size(&rq);
    buf = malloc(*len);
    cohort__v1__ingest_request__pack(&rq, buf);
    free(ev);
    free(evp);
    free(pd);
    free(ids);
    free(pids);
    return buf;
}

static void send_req(d_t *d, uint64_t req_id, int first, int n, shape_t sh)
{
    size_t len;
    uint8_t *buf = request(req_id, first, n, sh, &len);
    if (zmq_send(d->dealer, buf, len, 0) != (int)len)
        diag("send: %s", zmq_strerror(errno));
    free(buf);
}

/* What store_scan finds at one seq. */
typedef struct {
    int found;      /* 1 if an entry was visited */
    uint64_t seq;   /* its seq */
    uint8_t id[16]; /* its event_id */
    char pid[32];   /* its programme id */
} seen_t;

static int scan_one(void *arg, uint64_t seq, const void *val, size_t len)
{
    seen_t *s = arg;
    Cohort__V1__Event *ev = cohort__v1__event__unpack(NULL, len, val);
    s->found = 1;
    s->seq = seq;
    if (ev && ev->event_id.len == 16)
        memcpy(s->id, ev->event_id.data, 16);
    if (ev && ev->body_case == COHORT__V1__EVENT__BODY_PROGRAMME_DEFINED)
        snprintf(s->pid, sizeof s->pid, "%s", ev->programme_defined->programme_id);
    if (ev)
        cohort__v1__event__free_unpacked(ev, NULL);
    return 1;
}

/* 1 if the log holds event num (id and programme) at seq. store_scan takes
 * the store's lock, so this may run beside a commit. */
static int stored_at(d_t *d, uint64_t seq, int num)
{
    seen_t s = {0};
    uint8_t id[16];
    char pid[32];
    make_id(id, num);
    snprintf(pid, sizeof pid, "prog-%d", num);
    if (seq == 0 || store_scan(d->store, seq, 1, scan_one, &s) < 0)
        return 0;
    return s.found && s.seq == seq && memcmp(s.id, id, 16) == 0 && strcmp(s.pid, pid) == 0;
}

/* ------------------------------------------------------------ tests --- */

static ingest_stats_t st0; /* counters at start */

static void t_accept(d_t *d)
{
    Cohort__V1__IngestReply *r;
    uint64_t seq = 0;
    uint8_t id[16];

    send_req(d, 7, 1, 1, PLAIN);
    r = reply(d, 5000);
    ok(r && r->request_id == 7 && r->error == COHORT__V1__FRAME_ERROR__FRAME_OK && r->n_acks == 1,
       "a good frame: FRAME_OK, its request_id, one ack");
    if (r && r->n_acks == 1) {
        Cohort__V1__Ack *a = r->acks[0];
        make_id(id, 1);
        ok(a->result == COHORT__V1__RESULT__ACCEPTED && a->seq == 1 && a->event_id.len == 16 &&
               memcmp(a->event_id.data, id, 16) == 0,
           "ACCEPTED at seq 1 (a new store), with its event_id");
        /* At the moment the ack is read, before the loop turns again. */
        ok(stored_at(d, a->seq, 1), "when the ack arrives the event is in the log at its seq");
        int lk = store_lookup(d->store, AGENCY, id, &seq);
        ok(lk == 0 && seq == a->seq, "and in the dedupe index (store_lookup: seq %llu)",
           (unsigned long long)seq);
        ok(r->head_seq >= a->seq && ingest_head(d->ing) >= a->seq && store_head(d->store) == 1,
           "head_seq %llu, ingest_head %llu, store_head %llu", (unsigned long long)r->head_seq,
           (unsigned long long)ingest_head(d->ing), (unsigned long long)store_head(d->store));
    } else {
        for (int i = 0; i < 4; i++)
            ok(0, "no ack");
    }
    if (r)
        cohort__v1__ingest_reply__free_unpacked(r, NULL);
}

/* Sends a good event (num) with req_id and checks it is acked and stored. */
static void still_works(d_t *d, uint64_t req_id, int num, const char *after)
{
    Cohort__V1__IngestReply *r;
    send_req(d, req_id, num, 1, PLAIN);
    r = reply(d, 5000);
    ok(r && r->request_id == req_id && r->error == 0 && r->n_acks == 1 &&
           r->acks[0]->result == COHORT__V1__RESULT__ACCEPTED && stored_at(d, r->acks[0]->seq, num),
       "after %s, a good event is ACCEPTED and stored", after);
    if (r)
        cohort__v1__ingest_reply__free_unpacked(r, NULL);
}

/* Sends raw bytes (parts: 1, or 2 for a bad envelope) and checks the frame
 * error and request_id of the reply. */
static void refused(d_t *d, const void *data, size_t len, int parts, int want, uint64_t want_req,
                    const char *what)
{
    Cohort__V1__IngestReply *r;
    if (parts == 2)
        zmq_send(d->dealer, "x", 1, ZMQ_SNDMORE);
    zmq_send(d->dealer, data, len, 0);
    r = reply(d, 5000);
    ok(r && (int)r->error == want && r->request_id == want_req && r->n_acks == 0,
       "%s: %s (error %d), request_id %llu, no acks", what,
       protobuf_c_enum_descriptor_get_value(&cohort__v1__frame_error__descriptor, want)->name,
       r ? (int)r->error : -1, r ? (unsigned long long)r->request_id : 0ull);
    if (r)
        cohort__v1__ingest_reply__free_unpacked(r, NULL);
}

static void t_bad_frames(d_t *d)
{
    static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x02, 0x03};
    size_t len;
    uint8_t *good = request(30, 30, 1, PLAIN, &len), *big;
    uint64_t head;

    refused(d, garbage, sizeof garbage, 1, COHORT__V1__FRAME_ERROR__FRAME_MALFORMED, 0,
            "garbage bytes");
    still_works(d, 11, 11, "garbage");
    refused(d, good, len / 2, 1, COHORT__V1__FRAME_ERROR__FRAME_MALFORMED, 0,
            "a request cut in half");
    still_works(d, 12, 12, "a truncated request");
    big = calloc(1, CODEC_MAX_FRAME + 1);
    memcpy(big, good, len); /* a good request, then zeros past 4 MiB */
    refused(d, big, CODEC_MAX_FRAME + 1, 1, COHORT__V1__FRAME_ERROR__FRAME_TOO_LARGE, 0,
            "a frame of 4 MiB + 1 byte");
    free(big);
    still_works(d, 13, 13, "an oversize frame");
    refused(d, good, len, 2, COHORT__V1__FRAME_ERROR__FRAME_BAD_ENVELOPE, 0, "two payload frames");
    still_works(d, 14, 14, "a bad envelope");
    free(good);
    head = store_head(d->store);
    good = request(15, 1000, 4097, PLAIN, &len);
    refused(d, good, len, 1, COHORT__V1__FRAME_ERROR__FRAME_TOO_MANY_EVENTS, 15,
            "4097 events in one frame");
    free(good);
    is_int(store_head(d->store), head, "nothing of a refused frame is stored");
    still_works(d, 16, 16, "too many events");
}

static void t_bad_events(d_t *d)
{
    Cohort__V1__IngestReply *r;
    uint64_t head = store_head(d->store), seq;
    uint8_t id[16];

    /* [good 20][15-byte id][good 22][agency not the key's] */
    send_req(d, 20, 20, 4, (shape_t){.bad_id = 1, .other_agency = 3, .repeat = -1});
    r = reply(d, 5000);
    ok(r && r->request_id == 20 && r->error == 0 && r->n_acks == 4,
       "a frame with two bad events: FRAME_OK, 4 acks");
    if (r && r->n_acks == 4) {
        ok(r->acks[0]->result == COHORT__V1__RESULT__ACCEPTED && stored_at(d, r->acks[0]->seq, 20),
           "event 1 (good): ACCEPTED and stored");
        ok(r->acks[1]->result == COHORT__V1__RESULT__REJECTED &&
               r->acks[1]->code == COHORT__V1__REJECT_CODE__REJECT_BAD_EVENT_ID &&
               r->acks[1]->seq == 0 && r->acks[1]->event_id.len == 15,
           "event 2 (15-byte id): REJECTED REJECT_BAD_EVENT_ID, its id echoed");
        ok(r->acks[2]->result == COHORT__V1__RESULT__ACCEPTED &&
               r->acks[2]->seq == r->acks[0]->seq + 1 && stored_at(d, r->acks[2]->seq, 22),
           "event 3 (good): ACCEPTED at the next seq and stored");
        make_id(id, 23);
        ok(r->acks[3]->result == COHORT__V1__RESULT__REJECTED &&
               r->acks[3]->code == COHORT__V1__REJECT_CODE__REJECT_UNAUTHORISED &&
               store_lookup(d->store, "wm-police", id, &seq) == -ENOENT,
           "event 4 (agency not the key's): REJECTED REJECT_UNAUTHORISED, not stored");
        ok(r->acks[1]->reason && *r->acks[1]->reason && r->acks[3]->reason && *r->acks[3]->reason,
           "rejections carry a reason");
    } else {
        for (int i = 0; i < 5; i++)
            ok(0, "no acks");
    }
    is_int(store_head(d->store), head + 2, "exactly the 2 good events stored");
    if (r)
        cohort__v1__ingest_reply__free_unpacked(r, NULL);
}

static void t_duplicates(d_t *d)
{
    Cohort__V1__IngestReply *r;
    uint64_t head = store_head(d->store);

    send_req(d, 40, 1, 1, PLAIN); /* event 1 again (t_accept stored it at seq 1) */
    r = reply(d, 5000);
    ok(r && r->request_id == 40 && r->n_acks == 1 &&
           r->acks[0]->result == COHORT__V1__RESULT__DUPLICATE && r->acks[0]->seq == 1,
       "an event id stored earlier: DUPLICATE with the original seq 1");
    if (r)
        cohort__v1__ingest_reply__free_unpacked(r, NULL);
    /* [41][41 again] in one frame */
    send_req(d, 41, 41, 2, (shape_t){.bad_id = -1, .other_agency = -1, .repeat = 1});
    r = reply(d, 5000);
    ok(r && r->n_acks == 2 && r->acks[0]->result == COHORT__V1__RESULT__ACCEPTED &&
           r->acks[1]->result == COHORT__V1__RESULT__DUPLICATE &&
           r->acks[1]->seq == r->acks[0]->seq,
       "the same id twice in one frame: ACCEPTED, then DUPLICATE of that seq");
    if (r)
        cohort__v1__ingest_reply__free_unpacked(r, NULL);
    is_int(store_head(d->store), head + 1, "stored once");
}

static void t_batches(d_t *d)
{
    enum { NF = 3, PER = 300 };
    Cohort__V1__IngestReply *r[NF] = {0};
    uint64_t head = store_head(d->store), last = head;
    int good = 1, stored = 1, got = 0, at_arrival = 1;

    for (int f = 0; f < NF; f++) /* pipelined: all sent before any reply is read */
        send_req(d, 100 + (uint64_t)f, 100 + f * PER, PER, PLAIN);
    for (int f = 0; f < NF; f++) {
        Cohort__V1__IngestReply *x = reply(d, 8000);
        if (!x)
            break;
        got++;
        /* At arrival (commits of later frames may be running: store_scan
         * takes the store's lock): every ACCEPTED event of it is stored. */
        for (size_t k = 0; k < x->n_acks; k++)
            at_arrival &=
                x->acks[k]->result == COHORT__V1__RESULT__ACCEPTED && x->request_id >= 100 &&
                x->request_id < 100 + NF &&
                stored_at(d, x->acks[k]->seq, 100 + (int)(x->request_id - 100) * PER + (int)k);
        if (x->request_id >= 100 && x->request_id < 100 + NF && !r[x->request_id - 100])
            r[x->request_id - 100] = x;
        else
            cohort__v1__ingest_reply__free_unpacked(x, NULL), good = 0;
    }
    is_int(got, NF, "one reply per frame of %d events", PER);
    ok(at_arrival, "when each reply arrives, its events are in the log at their acked seqs "
                   "(frames over the inline size: written and synced on the worker threads)");
    for (int f = 0; f < NF && good; f++) {
        if (!r[f] || r[f]->error != 0 || r[f]->n_acks != PER) {
            good = 0;
            break;
        }
        for (int k = 0; k < PER; k++) {
            Cohort__V1__Ack *a = r[f]->acks[k];
            uint8_t id[16];
            make_id(id, 100 + f * PER + k);
            if (a->result != COHORT__V1__RESULT__ACCEPTED || a->seq != last + 1 ||
                a->event_id.len != 16 || memcmp(a->event_id.data, id, 16) != 0) {
                diag("frame %d ack %d: result %d seq %llu (want %llu)", f, k, a->result,
                     (unsigned long long)a->seq, (unsigned long long)last + 1);
                good = 0;
                break;
            }
            last = a->seq;
        }
    }
    ok(good,
       "every event ACCEPTED, acks in request order, seqs %llu..%llu gap-free in the "
       "order the frames were sent",
       (unsigned long long)head + 1, (unsigned long long)last);
    turn(d, 20); /* idle: store_lookup runs only while no commit does */
    for (int f = 0; f < NF && good; f++)
        for (int k = 0; k < PER && stored; k++) {
            uint8_t id[16];
            uint64_t seq = 0;
            make_id(id, 100 + f * PER + k);
            stored &= store_lookup(d->store, AGENCY, id, &seq) == 0 && seq == r[f]->acks[k]->seq &&
                      stored_at(d, seq, 100 + f * PER + k);
        }
    ok(good && stored, "all %d in the store at their acked seqs", NF * PER);
    is_int(store_head(d->store), head + NF * PER, "store head moved by %d", NF * PER);
    for (int f = 0; f < NF; f++)
        if (r[f])
            cohort__v1__ingest_reply__free_unpacked(r[f], NULL);
}

static void t_stats(d_t *d)
{
    ingest_stats_t s;
    ingest_stats(d->ing, &s);
    /* Frames: accept 1, bad 5 + good 5, bad events 1, duplicates 2, batches 3. */
    is_int(s.frames - st0.frames, 17, "frames: 17 received");
    is_int(s.frames_refused - st0.frames_refused, 5, "frames_refused: 5");
    ok(s.refused_by[COHORT__V1__FRAME_ERROR__FRAME_MALFORMED] == 2 &&
           s.refused_by[COHORT__V1__FRAME_ERROR__FRAME_TOO_LARGE] == 1 &&
           s.refused_by[COHORT__V1__FRAME_ERROR__FRAME_BAD_ENVELOPE] == 1 &&
           s.refused_by[COHORT__V1__FRAME_ERROR__FRAME_TOO_MANY_EVENTS] == 1,
       "refused_by: MALFORMED 2, TOO_LARGE 1, BAD_ENVELOPE 1, TOO_MANY_EVENTS 1");
    is_int(s.accepted - st0.accepted, 1 + 5 + 2 + 1 + 900, "accepted: 909");
    is_int(s.duplicates - st0.duplicates, 2, "duplicates: 2");
    is_int(s.rejected - st0.rejected, 2, "rejected: 2");
    ok(s.rejected_by[COHORT__V1__REJECT_CODE__REJECT_BAD_EVENT_ID] == 1 &&
           s.rejected_by[COHORT__V1__REJECT_CODE__REJECT_UNAUTHORISED] == 1,
       "rejected_by: BAD_EVENT_ID 1, UNAUTHORISED 1");
    is_int(s.unauthorised - st0.unauthorised, 1, "unauthorised: 1");
    ok(s.commits > st0.commits && s.unavailable == 0 && s.replies_lost == 0,
       "commits %llu, nothing unavailable or lost", (unsigned long long)s.commits);
    is_int(s.peers, 1, "peers: the one agent connection");
    is_int(ingest_head(d->ing), store_head(d->store), "ingest_head is the store's head");
}

int main(void)
{
    char path[512], *line = NULL, err[256];
    size_t cap = 0;
    FILE *f;
    d_t d;

    cohort_log_set_level(LOG_ERR);
    snprintf(dir, sizeof dir, "/tmp/t_ingest.XXXXXX");
    snprintf(path, sizeof path, "%s/examples/step-forward.jsonl", COHORT_SOURCE_DIR);
    if (!mkdtemp(dir) || !(f = fopen(path, "r")) || getline(&line, &cap, f) < 0) {
        printf("Bail out! %s: %s\n", path, strerror(errno));
        return 1;
    }
    fclose(f);
    tmpl = cohort_json_to_event(line, strlen(line), err, sizeof err);
    free(line);
    if (!tmpl || tmpl->body_case != COHORT__V1__EVENT__BODY_PROGRAMME_DEFINED) {
        printf("Bail out! template event: %s\n", err);
        return 1;
    }
    if (start(&d) < 0) {
        printf("Bail out! cannot start the pipeline\n");
        return 1;
    }
    ingest_stats(d.ing, &st0);
    t_accept(&d);
    t_bad_frames(&d);
    t_bad_events(&d);
    t_duplicates(&d);
    t_batches(&d);
    t_stats(&d);
    stop(&d);
    cohort__v1__event__free_unpacked(tmpl, NULL);
    {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            diag("could not remove %s", dir);
    }
    return tap_done();
}
