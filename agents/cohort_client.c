/* cohort_client.c: libcohort, the agent side of the ingest protocol.
 *
 * Longer than 1,000 lines on purpose: the window, the resend order, the
 * back-off and the deadlines are one state machine over one slot pool;
 * split, its invariants would be spread over files.
 *
 * Contract: see cohort_client.h. Inside:
 * - A fixed pool of window + queue_max slots, allocated once. A slot holds
 *   one packed Event in a buffer that is kept (and only grows) across uses,
 *   so the steady state makes no per-event allocation.
 * - Every slot is in exactly one list, by state: free, queued (FIFO by
 *   submit time), in flight (FIFO by send time, so the head is the next to
 *   time out) or retry (waiting to be resent; unordered, scanned; at most
 *   window long). In flight plus retry is what the window bounds.
 * - A hash table (open addressing, linear probing, backward-shift delete)
 *   maps event_id to slot for every pending event, to match acks.
 * - Request frames are encoded by hand from the packed events (an
 *   IngestRequest is field 1 varint request_id, field 2 Batch; a Batch is
 *   repeated field 1 Event), so events are never re-packed on resend.
 * - Replies are decoded by protobuf-c into an arena reset per reply:
 *   protobuf-c's default allocator (one malloc per message, string and
 *   repeated field) dominates the time of small decodes.
 * - Handshake events come from zmq_socket_monitor on a PAIR socket (only
 *   the HANDSHAKE_* events, so at most one per reconnect attempt, i.e. one
 *   a second when the daemon refuses us). pump reads it at most every
 *   MON_EVERY_MS, and at every ack timeout, so the hot path pays one
 *   comparison; cohort_client_timeout wakes the caller for it, so the
 *   monitor's queue never fills (libzmq would then block its I/O thread). */
#include "cohort_client.h"
#include "cohort_zmon.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NIL UINT32_MAX
#define FRAME_HEAD 20        /* room reserved before the batch body for the header */
#define EVENT_OVERHEAD 6     /* tag + up to 5 bytes of length, per event */
#define FRAME_OVERHEAD 17    /* tag + 10-byte request_id + tag + 5-byte length */
#define RECV_CAP 1024        /* replies handled per pump */
#define SEND_CAP 64          /* frames sent per pump */
#define KEEP_BUF (64u << 10) /* slot buffers above this are freed when the slot is */
#define ARENA_START (64u << 10)
#define ARENA_MAX (16u << 20)
#define MAX_REPLY (64 << 20) /* ZMQ_MAXMSGSIZE for replies */
#define MAX_WINDOW (1u << 20)
#define MAX_QUEUE (1u << 22)
#define MON_EVERY_MS 500 /* read handshake events at least this often */
#define MON_CAP 64       /* handshake events read per pump */

enum { S_FREE, S_QUEUED, S_INFLIGHT, S_RETRY };
enum { WHY_NONE, WHY_TIMEOUT, WHY_UNAVAIL, WHY_DEFER };

/* One pending event. */
typedef struct {
    uint8_t id[16];         /* event_id */
    uint8_t *buf;           /* packed Event */
    uint32_t len;           /* bytes used in buf */
    uint32_t cap;           /* bytes allocated in buf */
    void *tag;              /* caller's tag */
    uint64_t submitted_us;  /* submit time */
    uint64_t first_sent_us; /* first send, 0 if never */
    uint64_t sent_us;       /* last send */
    uint64_t due_us;        /* retry: not before this */
    uint64_t req_id;        /* request_id of the last send */
    uint32_t attempts;      /* sends so far */
    uint32_t prev, next;    /* list links (slot indexes, NIL at the ends) */
    uint8_t state;          /* S_* */
    uint8_t why;            /* WHY_*: why the last attempt failed */
} slot_t;

/* A doubly linked list of slots. */
typedef struct {
    uint32_t head, tail; /* NIL when empty */
    uint32_t n;          /* length */
} list_t;

/* A bump allocator for reply decoding; reset before each reply. */
typedef struct {
    uint8_t *base;   /* main block */
    size_t cap;      /* its size */
    size_t used;     /* bytes handed out from it */
    void **big;      /* overflow blocks, freed at reset */
    size_t nbig;     /* how many */
    size_t bigcap;   /* room in big[] */
    size_t bigbytes; /* bytes in overflow blocks (grows base next time) */
} arena_t;

struct cohort_client_t {
    cohort_client_opts_t o;               /* options with defaults filled in */
    char *endpoint;                       /* copy of o.endpoint */
    void *zctx;                           /* context in use */
    int own_ctx;                          /* 1 if we made zctx */
    void *sock;                           /* the DEALER */
    slot_t *slots;                        /* window + queue_max slots */
    uint32_t nslots;                      /* their number */
    uint32_t *hash;                       /* event_id -> slot, NIL = empty */
    uint32_t hmask;                       /* hash size - 1 */
    list_t freel, queue, inflight, retry; /* the slot lists */
    uint32_t *pick;                       /* scratch: slots in the frame being built */
    uint8_t *frame;                       /* frame buffer */
    size_t frame_cap;                     /* its size */
    uint64_t next_req;                    /* next request_id */
    int blocked;                          /* the last send attempt said EAGAIN */
    int closing;                          /* destroy is running */
    uint64_t rng;                         /* xorshift state for jitter */
    arena_t arena;                        /* reply decoding memory */
    ProtobufCAllocator alloc;             /* protobuf-c view of arena */
    cohort_client_stats_t st;             /* counters */
    char why_buf[320];                    /* reason text for UNDELIVERED */
    void *mon;                            /* PAIR receiving the DEALER's handshake events */
    uint64_t mon_due_us;                  /* read mon when the clock passes this */
    int hs_state;                         /* last handshake: 1 ok, 0 none yet, -1 failed */
    int hs_event;                         /* ZMQ_EVENT_HANDSHAKE_FAILED_* of the last failure */
    uint32_t hs_value;                    /* its value: errno, protocol error or ZAP status */
};

/* ------------------------------------------------------------ helpers --- */

uint64_t cohort_client_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

const char *cohort_result_name(cohort_result_t result)
{
    switch (result) {
    case COHORT_ACCEPTED:
        return "ACCEPTED";
    case COHORT_DUPLICATE:
        return "DUPLICATE";
    case COHORT_REJECTED:
        return "REJECTED";
    case COHORT_UNDELIVERED:
        return "UNDELIVERED";
    }
    return "UNKNOWN";
}

static uint64_t rnd(cohort_client_t *self)
{
    uint64_t x = self->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    self->rng = x;
    return x;
}

static size_t put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

static size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* ------------------------------------------------------------ lists --- */

static void l_init(list_t *l)
{
    l->head = l->tail = NIL;
    l->n = 0;
}

static void l_push(cohort_client_t *self, list_t *l, uint32_t i)
{
    slot_t *s = &self->slots[i];
    s->prev = l->tail;
    s->next = NIL;
    if (l->tail != NIL)
        self->slots[l->tail].next = i;
    else
        l->head = i;
    l->tail = i;
    l->n++;
}

static void l_unlink(cohort_client_t *self, list_t *l, uint32_t i)
{
    slot_t *s = &self->slots[i];
    if (s->prev != NIL)
        self->slots[s->prev].next = s->next;
    else
        l->head = s->next;
    if (s->next != NIL)
        self->slots[s->next].prev = s->prev;
    else
        l->tail = s->prev;
    s->prev = s->next = NIL;
    l->n--;
}

/* The list a slot in state st lives in. */
static list_t *l_of(cohort_client_t *self, int st)
{
    switch (st) {
    case S_QUEUED:
        return &self->queue;
    case S_INFLIGHT:
        return &self->inflight;
    case S_RETRY:
        return &self->retry;
    default:
        return &self->freel;
    }
}

/* Moves slot i to state st (and its list's tail). */
static void move(cohort_client_t *self, uint32_t i, int st)
{
    l_unlink(self, l_of(self, self->slots[i].state), i);
    self->slots[i].state = (uint8_t)st;
    l_push(self, l_of(self, st), i);
}

/* ------------------------------------------------------------ hash --- */

static uint32_t h_of(const cohort_client_t *self, const uint8_t id[16])
{
    uint64_t a, b, h;
    memcpy(&a, id, 8);
    memcpy(&b, id + 8, 8);
    h = a ^ (b * 0x9e3779b97f4a7c15ull);
    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 29;
    return (uint32_t)h & self->hmask;
}

static uint32_t h_find(const cohort_client_t *self, const uint8_t id[16])
{
    for (uint32_t p = h_of(self, id);; p = (p + 1) & self->hmask) {
        uint32_t i = self->hash[p];
        if (i == NIL || memcmp(self->slots[i].id, id, 16) == 0)
            return i;
    }
}

static void h_put(cohort_client_t *self, uint32_t i)
{
    uint32_t p = h_of(self, self->slots[i].id);
    while (self->hash[p] != NIL)
        p = (p + 1) & self->hmask;
    self->hash[p] = i;
}

static void h_del(cohort_client_t *self, uint32_t i)
{
    uint32_t p = h_of(self, self->slots[i].id);
    while (self->hash[p] != i) {
        if (self->hash[p] == NIL)
            return;
        p = (p + 1) & self->hmask;
    }
    for (uint32_t j = p;;) {
        j = (j + 1) & self->hmask;
        if (self->hash[j] == NIL)
            break;
        uint32_t k = h_of(self, self->slots[self->hash[j]].id);
        /* Entry at j may move to the hole at p if its home k is not in (p, j]. */
        int stays = (p <= j) ? (p < k && k <= j) : (p < k || k <= j);
        if (!stays) {
            self->hash[p] = self->hash[j];
            p = j;
        }
    }
    self->hash[p] = NIL;
}

/* ------------------------------------------------------------ arena --- */

static void *a_alloc(void *data, size_t n)
{
    arena_t *a = data;
    void *p;

    n = (n + 15) & ~(size_t)15;
    if (n <= a->cap - a->used) {
        p = a->base + a->used;
        a->used += n;
        return p;
    }
    if (a->nbig == a->bigcap) {
        size_t nc = a->bigcap ? a->bigcap * 2 : 16;
        void **nb = realloc(a->big, nc * sizeof *nb);
        if (!nb)
            return NULL;
        a->big = nb;
        a->bigcap = nc;
    }
    p = malloc(n);
    if (!p)
        return NULL;
    a->big[a->nbig++] = p;
    a->bigbytes += n;
    return p;
}

static void a_free(void *data, void *p)
{
    (void)data;
    (void)p; /* freed in bulk at reset */
}

static void a_reset(arena_t *a)
{
    for (size_t k = 0; k < a->nbig; k++)
        free(a->big[k]);
    if (a->bigbytes > 0 && a->cap < ARENA_MAX) {
        size_t want = (a->cap + a->bigbytes) * 2;
        uint8_t *nb = malloc(want < ARENA_MAX ? want : ARENA_MAX);
        if (nb) {
            free(a->base);
            a->base = nb;
            a->cap = want < ARENA_MAX ? want : ARENA_MAX;
        }
    }
    a->nbig = 0;
    a->bigbytes = 0;
    a->used = 0;
}

static void a_fini(arena_t *a)
{
    a_reset(a);
    free(a->big);
    free(a->base);
    memset(a, 0, sizeof *a);
}

/* ------------------------------------------------------------ monitor --- */

/* Reads up to MON_CAP handshake events from the monitor (never blocks). */
static void mon_read(cohort_client_t *self, uint64_t now)
{
    self->mon_due_us = now + MON_EVERY_MS * 1000u;
    for (int n = 0; n < MON_CAP; n++) {
        uint16_t ev;
        uint32_t val;
        if (!cohort_zmon_read(self->mon, &ev, &val))
            return;
        if (ev == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
            self->hs_state = 1;
            self->st.handshakes++;
        } else if (ev == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL ||
                   ev == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ||
                   ev == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
            self->hs_state = -1;
            self->hs_event = ev;
            self->hs_value = val;
            self->st.handshake_failures++;
        }
    }
}

/* Describes the last handshake failure in why. */
static void hs_describe(const cohort_client_t *self, char *why, size_t len)
{
    switch (self->hs_event) {
    case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
        snprintf(why, len,
                 "the daemon refused this client's key (ZAP status %u): is its public key in the "
                 "daemon's access file?",
                 (unsigned)self->hs_value);
        break;
    case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
        if (self->hs_value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)
            snprintf(why, len,
                     "security mechanism mismatch: one side uses CURVE, the other plain text");
        else
            snprintf(why, len, "handshake protocol error 0x%08x", (unsigned)self->hs_value);
        break;
    default:
        snprintf(why, len,
                 "the daemon closed the connection during the handshake (a wrong server key, "
                 "or the daemon's connection limit: its log says which)");
        break;
    }
}

int cohort_client_handshake(cohort_client_t *self, char *why, size_t len)
{
    if (self->mon)
        mon_read(self, cohort_client_now_us());
    if (self->hs_state < 0 && why && len > 0)
        hs_describe(self, why, len);
    return self->hs_state;
}

/* ------------------------------------------------------------ results --- */

/* Ends slot i with a result: frees the slot, then calls back. */
static void finish(cohort_client_t *self, uint32_t i, cohort_result_t res, uint64_t seq, int code,
                   int frame_error, const char *reason, uint64_t now)
{
    slot_t *s = &self->slots[i];
    uint8_t id[16];
    cohort_client_report_t r = {
        .tag = s->tag,
        .event_id = id,
        .result = res,
        .seq = seq,
        .code = code,
        .frame_error = frame_error,
        .reason = reason ? reason : "",
        .attempts = s->attempts,
        .submitted_us = s->submitted_us,
        .first_sent_us = s->first_sent_us,
        .done_us = now,
    };

    memcpy(id, s->id, 16);
    h_del(self, i);
    move(self, i, S_FREE);
    if (s->cap > KEEP_BUF) {
        free(s->buf);
        s->buf = NULL;
        s->cap = 0;
    }
    s->tag = NULL;
    switch (res) {
    case COHORT_ACCEPTED:
        self->st.accepted++;
        break;
    case COHORT_DUPLICATE:
        self->st.duplicate++;
        break;
    case COHORT_REJECTED:
        self->st.rejected++;
        break;
    default:
        self->st.undelivered++;
        break;
    }
    self->o.on_result(self->o.arg, &r);
}

/* Gives slot i up as UNDELIVERED, explaining why from its history. */
static void undeliver(cohort_client_t *self, uint32_t i, int by_deadline, uint64_t now)
{
    slot_t *s = &self->slots[i];
    const char *limit = by_deadline ? "deadline passed" : "attempt limit reached";
    const char *pl = s->attempts == 1 ? "" : "s";
    const char *conn = self->blocked ? "; no connection to the daemon" : "";
    char hs[200] = "";
    size_t l;

    if (self->mon)
        mon_read(self, now);
    if (self->hs_state < 0) {
        hs[0] = ';';
        hs[1] = ' ';
        hs_describe(self, hs + 2, sizeof hs - 2);
        conn = hs;
    }

    if (s->attempts == 0)
        snprintf(self->why_buf, sizeof self->why_buf,
                 "%s before it could be sent (no connection to the daemon, or window full)", limit);
    else if (s->why == WHY_UNAVAIL)
        snprintf(self->why_buf, sizeof self->why_buf, "%s after %u attempt%s: daemon unavailable%s",
                 limit, s->attempts, pl, conn);
    else
        snprintf(self->why_buf, sizeof self->why_buf,
                 "%s after %u attempt%s: no ack within %u ms%s", limit, s->attempts, pl,
                 self->o.timeout_ms, conn);
    if (s->attempts == 0 && self->hs_state < 0) {
        l = strlen(self->why_buf);
        snprintf(self->why_buf + l, sizeof self->why_buf - l, "%s", hs);
    }
    finish(self, i, COHORT_UNDELIVERED, 0, 0, 0, self->why_buf, now);
}

/* An attempt of slot i failed (why): schedule a resend, or give up. */
static void retry(cohort_client_t *self, uint32_t i, int why, uint64_t now)
{
    slot_t *s = &self->slots[i];
    uint64_t delay = 0;

    s->why = (uint8_t)why;
    if (now >= s->submitted_us + (uint64_t)self->o.deadline_ms * 1000u) {
        undeliver(self, i, 1, now);
        return;
    }
    if (self->o.max_attempts && s->attempts >= self->o.max_attempts) {
        undeliver(self, i, 0, now);
        return;
    }
    /* Back off after UNAVAILABLE, and after a timeout from the second
     * attempt on (a slow daemon should not get the window again at once). */
    if (why == WHY_UNAVAIL || why == WHY_DEFER || s->attempts >= 2) {
        unsigned shift = why != WHY_TIMEOUT ? s->attempts - 1 : s->attempts - 2;
        uint64_t base = (uint64_t)self->o.backoff_min_ms * 1000u;
        uint64_t max = (uint64_t)self->o.backoff_max_ms * 1000u;
        base = shift >= 20 ? max : base << shift;
        if (base > max)
            base = max;
        delay = base / 2 + rnd(self) % (base / 2 + 1); /* jitter: [base/2, base] */
    }
    s->due_us = now + delay;
    move(self, i, S_RETRY);
}

/* ------------------------------------------------------------ receive --- */

/* Whether a rejection code means the event arrived before what it depends
 * on (so a later attempt may succeed). */
static int depends(int code)
{
    switch (code) {
    case COHORT__V1__REJECT_CODE__REJECT_UNKNOWN_PROGRAMME:
    case COHORT__V1__REJECT_CODE__REJECT_UNKNOWN_COHORT:
    case COHORT__V1__REJECT_CODE__REJECT_UNKNOWN_PARTICIPANT:
    case COHORT__V1__REJECT_CODE__REJECT_BAD_TRANSITION:
    case COHORT__V1__REJECT_CODE__REJECT_NO_LINE_MANAGER_SUPPORT:
    case COHORT__V1__REJECT_CODE__REJECT_NOT_ENROLLED:
    case COHORT__V1__REJECT_CODE__REJECT_AGENCY_NOT_IN_COHORT:
        return 1;
    case COHORT__V1__REJECT_CODE__REJECT_UNAUTHORISED: /* the key's rights do not depend on
                                                          order: final */
    default:
        return 0;
    }
}

static void on_reply(cohort_client_t *self, const uint8_t *data, size_t len, uint64_t now)
{
    Cohort__V1__IngestReply *rep;

    a_reset(&self->arena);
    rep = cohort__v1__ingest_reply__unpack(&self->alloc, len, data);
    if (!rep) {
        self->st.bad_replies++;
        return;
    }
    self->st.replies++;
    if (rep->error != COHORT__V1__FRAME_ERROR__FRAME_OK) {
        /* The whole frame was refused: it concerns the events whose latest
         * send was this request. */
        list_t *ls[2] = {&self->inflight, &self->retry};
        const char *reason = rep->error_reason ? rep->error_reason : "";
        /* A refused key with no request_id refuses the whole connection:
         * every event in flight on it is answered. */
        int all = rep->request_id == 0 && rep->error == COHORT__V1__FRAME_ERROR__FRAME_UNAUTHORISED;
        for (int l = 0; l < 2; l++) {
            uint32_t n = ls[l]->n; /* bounded: retry() may append to retry */
            for (uint32_t i = ls[l]->head, nx; i != NIL && n > 0; i = nx, n--) {
                nx = self->slots[i].next;
                if (all ? self->slots[i].state != S_INFLIGHT
                        : (rep->request_id == 0 || self->slots[i].req_id != rep->request_id))
                    continue;
                if (rep->error == COHORT__V1__FRAME_ERROR__FRAME_UNAVAILABLE) {
                    if (self->slots[i].state == S_INFLIGHT) {
                        self->st.unavailable++;
                        retry(self, i, WHY_UNAVAIL, now);
                    }
                } else {
                    finish(self, i, COHORT_REJECTED, 0, 0, (int)rep->error, reason, now);
                }
            }
        }
        return;
    }
    for (size_t k = 0; k < rep->n_acks; k++) {
        const Cohort__V1__Ack *a = rep->acks[k];
        uint32_t i;
        if (a->event_id.len != 16 || (i = h_find(self, a->event_id.data)) == NIL ||
            (self->slots[i].state != S_INFLIGHT && self->slots[i].state != S_RETRY)) {
            self->st.stale_acks++;
            continue;
        }
        switch (a->result) {
        case COHORT__V1__RESULT__ACCEPTED:
            finish(self, i, COHORT_ACCEPTED, a->seq, 0, 0, "", now);
            break;
        case COHORT__V1__RESULT__DUPLICATE:
            finish(self, i, COHORT_DUPLICATE, a->seq, 0, 0, "", now);
            break;
        case COHORT__V1__RESULT__REJECTED:
            if (self->slots[i].state == S_INFLIGHT && self->slots[i].req_id == rep->request_id &&
                depends((int)a->code) &&
                now < self->slots[i].submitted_us + (uint64_t)self->o.defer_ms * 1000u &&
                /* never past the deadline: the answer is known, so it is
                 * reported REJECTED, not UNDELIVERED */
                now + (uint64_t)self->o.backoff_max_ms * 1000u <
                    self->slots[i].submitted_us + (uint64_t)self->o.deadline_ms * 1000u) {
                self->st.deferred++;
                retry(self, i, WHY_DEFER, now);
                break;
            }
            finish(self, i, COHORT_REJECTED, 0, (int)a->code, 0, a->reason, now);
            break;
        default: /* UNAVAILABLE, or a result this client does not know: retry */
            if (self->slots[i].state != S_INFLIGHT || self->slots[i].req_id != rep->request_id) {
                self->st.stale_acks++; /* a newer attempt is under way */
                break;
            }
            self->st.unavailable++;
            retry(self, i, WHY_UNAVAIL, now);
            break;
        }
    }
}

/* Handles up to RECV_CAP replies. Returns 0 or -errno. */
static int recv_all(cohort_client_t *self)
{
    for (int n = 0; n < RECV_CAP; n++) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, self->sock, ZMQ_DONTWAIT) < 0) {
            int e = errno;
            zmq_msg_close(&m);
            if (e == EAGAIN)
                return 0;
            if (e == EINTR)
                continue;
            return -e;
        }
        on_reply(self, zmq_msg_data(&m), zmq_msg_size(&m), cohort_client_now_us());
        zmq_msg_close(&m);
    }
    return 0;
}

/* ------------------------------------------------------------ timers --- */

static void timers(cohort_client_t *self, uint64_t now)
{
    uint64_t tmo = (uint64_t)self->o.timeout_ms * 1000u;
    uint64_t dl = (uint64_t)self->o.deadline_ms * 1000u;
    uint32_t i, nx, n;

    if (self->mon && (i = self->inflight.head) != NIL &&
        self->slots[i].sent_us + tmo <= now)
        mon_read(self, now); /* why there was no ack, for the reasons */
    while ((i = self->inflight.head) != NIL && self->slots[i].sent_us + tmo <= now) {
        self->st.timeouts++;
        retry(self, i, WHY_TIMEOUT, now);
    }
    n = self->queue.n; /* bounded: callbacks may submit */
    while (n-- > 0 && (i = self->queue.head) != NIL && self->slots[i].submitted_us + dl <= now)
        undeliver(self, i, 1, now);
    n = self->retry.n;
    for (i = self->retry.head; i != NIL && n > 0; i = nx, n--) {
        nx = self->slots[i].next;
        if (self->slots[i].submitted_us + dl <= now)
            undeliver(self, i, 1, now);
    }
}

/* ------------------------------------------------------------ send --- */

/* Sends the n picked slots as one frame of body bytes. Returns 0, -EAGAIN
 * or -errno. */
static int send_frame(cohort_client_t *self, uint32_t n, size_t body)
{
    uint8_t head[FRAME_HEAD];
    size_t hl = 0, p = FRAME_HEAD, need = FRAME_HEAD + body;
    uint64_t req = self->next_req;

    if (need > self->frame_cap) {
        size_t nc = self->frame_cap ? self->frame_cap : 4096;
        while (nc < need)
            nc *= 2;
        uint8_t *nb = realloc(self->frame, nc);
        if (!nb)
            return -ENOMEM;
        self->frame = nb;
        self->frame_cap = nc;
    }
    for (uint32_t k = 0; k < n; k++) {
        const slot_t *s = &self->slots[self->pick[k]];
        self->frame[p++] = 0x0a; /* Batch.events, length-delimited */
        p += put_varint(self->frame + p, s->len);
        memcpy(self->frame + p, s->buf, s->len);
        p += s->len;
    }
    head[hl++] = 0x08; /* IngestRequest.request_id, varint */
    hl += put_varint(head + hl, req);
    head[hl++] = 0x12; /* IngestRequest.batch, length-delimited */
    hl += put_varint(head + hl, body);
    memcpy(self->frame + FRAME_HEAD - hl, head, hl);
    if (zmq_send(self->sock, self->frame + FRAME_HEAD - hl, hl + body, ZMQ_DONTWAIT) < 0)
        return errno == EINTR ? -EAGAIN : -errno;
    self->next_req++;
    return 0;
}

/* Sends resends that are due, then new events the window has room for, in
 * frames. Returns 0 or -errno (not -EAGAIN: that sets blocked). */
static int send_all(cohort_client_t *self, uint64_t now)
{
    uint32_t thresh = self->o.window / 4 ? self->o.window / 4 : 1;

    self->blocked = 0;
    for (int f = 0; f < SEND_CAP; f++) {
        uint32_t n = 0, nre, room;
        size_t body = 0;
        int rc;

        for (uint32_t i = self->retry.head; i != NIL && n < self->o.max_batch;
             i = self->slots[i].next) {
            const slot_t *s = &self->slots[i];
            size_t add = 1 + varint_len(s->len) + s->len;
            if (s->due_us > now)
                break; /* in order: nothing overtakes a resend still backing off */
            if (FRAME_OVERHEAD + body + add > COHORT_CLIENT_MAX_FRAME)
                break;
            self->pick[n++] = i;
            body += add;
        }
        nre = n;
        room = self->o.window - (self->inflight.n + self->retry.n);
        /* New events only once every resend has gone out. */
        if (self->retry.n == nre && self->queue.n > 0 && room > 0 &&
            (room >= thresh || room >= self->queue.n)) {
            for (uint32_t i = self->queue.head; i != NIL && n < self->o.max_batch && n - nre < room;
                 i = self->slots[i].next) {
                const slot_t *s = &self->slots[i];
                size_t add = 1 + varint_len(s->len) + s->len;
                if (FRAME_OVERHEAD + body + add > COHORT_CLIENT_MAX_FRAME)
                    break;
                self->pick[n++] = i;
                body += add;
            }
        }
        if (n == 0)
            return 0;
        rc = send_frame(self, n, body);
        if (rc == -EAGAIN) {
            self->blocked = 1;
            return 0;
        }
        if (rc < 0)
            return rc;
        self->st.frames_sent++;
        for (uint32_t k = 0; k < n; k++) {
            uint32_t i = self->pick[k];
            slot_t *s = &self->slots[i];
            if (s->attempts++ > 0)
                self->st.resends++;
            if (s->first_sent_us == 0)
                s->first_sent_us = now;
            s->sent_us = now;
            s->req_id = self->next_req - 1;
            move(self, i, S_INFLIGHT);
        }
    }
    return 0;
}

/* ------------------------------------------------------------ public --- */

cohort_client_t *cohort_client_new(const cohort_client_opts_t *opts)
{
    cohort_client_t *self = NULL;
    int one = 1, zero = 0, hb_ivl = 1000, hb_tmo = 3000, hwm = 1000, rivl = 100, rivl_max = 1000;
    int64_t maxmsg = MAX_REPLY;
    uint32_t hsize = 16;
    int e = EINVAL;
    char mon_ep[64], err[256];

    if (!opts || !opts->on_result || opts->window > MAX_WINDOW ||
        opts->max_batch > COHORT_CLIENT_MAX_BATCH || opts->queue_max > MAX_QUEUE)
        goto fail;
    e = ENOMEM;
    if (!(self = calloc(1, sizeof *self)))
        goto fail;
    self->o = *opts;
    if (!self->o.endpoint)
        self->o.endpoint = COHORT_CLIENT_DEFAULT_ENDPOINT;
    if (!self->o.window)
        self->o.window = 256;
    if (!self->o.max_batch)
        self->o.max_batch =
            self->o.window < COHORT_CLIENT_MAX_BATCH ? self->o.window : COHORT_CLIENT_MAX_BATCH;
    if (!self->o.queue_max)
        self->o.queue_max = self->o.window;
    if (!self->o.timeout_ms)
        self->o.timeout_ms = 2000;
    if (!self->o.deadline_ms)
        self->o.deadline_ms = 60000;
    if (!self->o.backoff_min_ms)
        self->o.backoff_min_ms = 50;
    if (!self->o.backoff_max_ms)
        self->o.backoff_max_ms = 2000;
    if (self->o.backoff_max_ms < self->o.backoff_min_ms)
        self->o.backoff_max_ms = self->o.backoff_min_ms;
    self->endpoint = strdup(self->o.endpoint);
    self->o.endpoint = self->endpoint;
    self->nslots = self->o.window + self->o.queue_max;
    while (hsize < 2 * self->nslots)
        hsize *= 2;
    self->hmask = hsize - 1;
    self->slots = calloc(self->nslots, sizeof *self->slots);
    self->hash = malloc(hsize * sizeof *self->hash);
    self->pick = malloc(self->o.max_batch * sizeof *self->pick);
    self->arena.base = malloc(ARENA_START);
    self->arena.cap = ARENA_START;
    if (!self->endpoint || !self->slots || !self->hash || !self->pick || !self->arena.base)
        goto fail;
    memset(self->hash, 0xff, hsize * sizeof *self->hash);
    self->alloc =
        (ProtobufCAllocator){.alloc = a_alloc, .free = a_free, .allocator_data = &self->arena};
    l_init(&self->freel);
    l_init(&self->queue);
    l_init(&self->inflight);
    l_init(&self->retry);
    for (uint32_t i = 0; i < self->nslots; i++) {
        self->slots[i].state = S_FREE;
        l_push(self, &self->freel, i);
    }
    self->next_req = 1;
    self->rng = cohort_client_now_us() ^ (uint64_t)(uintptr_t)self ^ 0x2545f4914f6cdd1dull;
    if (self->rng == 0)
        self->rng = 1;

    self->zctx = opts->zctx;
    if (!self->zctx) {
        if (!(self->zctx = zmq_ctx_new())) {
            e = errno;
            goto fail;
        }
        self->own_ctx = 1;
    }
    if (!(self->sock = zmq_socket(self->zctx, ZMQ_DEALER)) ||
        zmq_setsockopt(self->sock, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
        zmq_setsockopt(self->sock, ZMQ_IMMEDIATE, &one, sizeof one) != 0 ||
        zmq_setsockopt(self->sock, ZMQ_HEARTBEAT_IVL, &hb_ivl, sizeof hb_ivl) != 0 ||
        zmq_setsockopt(self->sock, ZMQ_HEARTBEAT_TIMEOUT, &hb_tmo, sizeof hb_tmo) != 0 ||
        zmq_setsockopt(self->sock, ZMQ_SNDHWM, &hwm, sizeof hwm) != 0 ||
        zmq_setsockopt(self->sock, ZMQ_RCVHWM, &hwm, sizeof hwm) != 0 ||
        zmq_setsockopt(self->sock, ZMQ_RECONNECT_IVL, &rivl, sizeof rivl) != 0 ||
        zmq_setsockopt(self->sock, ZMQ_RECONNECT_IVL_MAX, &rivl_max, sizeof rivl_max) != 0 ||
        zmq_setsockopt(self->sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) != 0) {
        e = errno;
        goto fail;
    }
    if (opts->curve && opts->curve->on) {
        int rc = cohort_curve_apply(self->sock, opts->curve, err, sizeof err);
        if (rc < 0) {
            e = -rc;
            goto fail;
        }
    }
    /* The handshake monitor: unique inproc name per live client. */
    snprintf(mon_ep, sizeof mon_ep, "inproc://cohort-client-monitor-%p", (void *)self);
    if (zmq_socket_monitor(self->sock, mon_ep,
                           ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                               ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) != 0 ||
        !(self->mon = zmq_socket(self->zctx, ZMQ_PAIR)) ||
        zmq_setsockopt(self->mon, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
        zmq_connect(self->mon, mon_ep) != 0 || zmq_connect(self->sock, self->endpoint) != 0) {
        e = errno;
        goto fail;
    }
    self->mon_due_us = cohort_client_now_us() + MON_EVERY_MS * 1000u;
    return self;

fail:
    cohort_client_destroy(&self);
    errno = e;
    return NULL;
}

void cohort_client_destroy(cohort_client_t **self_p)
{
    cohort_client_t *self;

    if (!self_p || !*self_p)
        return;
    self = *self_p;
    *self_p = NULL;
    self->closing = 1;
    if (self->slots && self->o.on_result)
        cohort_client_give_up(self, "client destroyed");
    if (self->mon) {
        zmq_socket_monitor(self->sock, NULL, 0);
        zmq_close(self->mon);
    }
    if (self->sock)
        zmq_close(self->sock);
    if (self->own_ctx)
        zmq_ctx_term(self->zctx);
    if (self->slots)
        for (uint32_t i = 0; i < self->nslots; i++)
            free(self->slots[i].buf);
    free(self->slots);
    free(self->hash);
    free(self->pick);
    free(self->frame);
    free(self->endpoint);
    a_fini(&self->arena);
    free(self);
}

/* Takes a free slot for an event of len bytes with id. Returns 0 and *out,
 * or -errno. */
static int take(cohort_client_t *self, const uint8_t id[16], size_t len, void *tag, uint32_t *out)
{
    uint32_t i;
    slot_t *s;

    if (self->closing)
        return -ECANCELED;
    if (len + FRAME_OVERHEAD + EVENT_OVERHEAD > COHORT_CLIENT_MAX_FRAME)
        return -EMSGSIZE;
    if (self->queue.n >= self->o.queue_max || self->freel.head == NIL)
        return -EAGAIN;
    if (h_find(self, id) != NIL)
        return -EEXIST;
    i = self->freel.head;
    s = &self->slots[i];
    if (s->cap < len) {
        uint32_t nc = s->cap ? s->cap : 256;
        while (nc < len)
            nc *= 2;
        uint8_t *nb = realloc(s->buf, nc);
        if (!nb)
            return -ENOMEM;
        s->buf = nb;
        s->cap = nc;
    }
    memcpy(s->id, id, 16);
    s->len = (uint32_t)len;
    s->tag = tag;
    s->submitted_us = cohort_client_now_us();
    s->first_sent_us = s->sent_us = s->due_us = 0;
    s->req_id = 0;
    s->attempts = 0;
    s->why = WHY_NONE;
    move(self, i, S_QUEUED);
    h_put(self, i);
    self->st.submitted++;
    *out = i;
    return 0;
}

int cohort_client_submit(cohort_client_t *self, const Cohort__V1__Event *ev, void *tag)
{
    uint32_t i;
    size_t len;
    int rc;

    if (!self || !ev || ev->event_id.len != 16 || !ev->event_id.data)
        return -EINVAL;
    len = protobuf_c_message_get_packed_size(&ev->base);
    if ((rc = take(self, ev->event_id.data, len, tag, &i)) < 0)
        return rc;
    protobuf_c_message_pack(&ev->base, self->slots[i].buf);
    return 0;
}

int cohort_client_submit_packed(cohort_client_t *self, const void *data, size_t len,
                                const uint8_t event_id[16], void *tag)
{
    uint32_t i;
    int rc;

    if (!self || (!data && len > 0) || !event_id)
        return -EINVAL;
    if ((rc = take(self, event_id, len, tag, &i)) < 0)
        return rc;
    if (len > 0)
        memcpy(self->slots[i].buf, data, len);
    return 0;
}

int cohort_client_pump(cohort_client_t *self)
{
    uint64_t before, now;
    int rc;

    if (!self)
        return -EINVAL;
    before = self->st.accepted + self->st.duplicate + self->st.rejected + self->st.undelivered;
    rc = recv_all(self);
    if (rc < 0)
        return rc;
    now = cohort_client_now_us();
    if (self->mon && now >= self->mon_due_us)
        mon_read(self, now);
    timers(self, now);
    rc = send_all(self, cohort_client_now_us());
    if (rc < 0)
        return rc;
    return (int)(self->st.accepted + self->st.duplicate + self->st.rejected + self->st.undelivered -
                 before);
}

void cohort_client_pollitem(cohort_client_t *self, zmq_pollitem_t *item)
{
    item->socket = self->sock;
    item->fd = -1;
    item->events = ZMQ_POLLIN | (self->blocked ? ZMQ_POLLOUT : 0);
    item->revents = 0;
}

long cohort_client_timeout(cohort_client_t *self)
{
    uint64_t t = UINT64_MAX, now;
    uint64_t dl = (uint64_t)self->o.deadline_ms * 1000u;
    uint32_t i;

    if ((i = self->inflight.head) != NIL)
        t = self->slots[i].sent_us + (uint64_t)self->o.timeout_ms * 1000u;
    if ((i = self->queue.head) != NIL && self->slots[i].submitted_us + dl < t)
        t = self->slots[i].submitted_us + dl;
    for (i = self->retry.head; i != NIL; i = self->slots[i].next) {
        const slot_t *s = &self->slots[i];
        /* While a send is blocked, POLLOUT (not a timer) says when to resend. */
        if (!self->blocked && s->due_us < t)
            t = s->due_us;
        if (s->submitted_us + dl < t)
            t = s->submitted_us + dl;
    }
    if (self->mon && self->mon_due_us < t)
        t = self->mon_due_us;
    if (t == UINT64_MAX)
        return -1;
    now = cohort_client_now_us();
    if (t <= now)
        return 0;
    t = (t - now + 999) / 1000;
    return t > 86400000u ? 86400000L : (long)t;
}

int cohort_client_wait(cohort_client_t *self, long timeout_ms)
{
    zmq_pollitem_t it;
    long t;

    if (!self)
        return -EINVAL;
    t = cohort_client_timeout(self);
    if (timeout_ms >= 0 && (t < 0 || t > timeout_ms))
        t = timeout_ms;
    if (t < 0 && cohort_client_pending(self) == 0)
        t = 0;
    cohort_client_pollitem(self, &it);
    if (zmq_poll(&it, 1, t) < 0)
        return -errno;
    return cohort_client_pump(self);
}

int cohort_client_flush(cohort_client_t *self, long timeout_ms)
{
    uint64_t end;
    int rc;

    if (!self)
        return -EINVAL;
    end = cohort_client_now_us() + (timeout_ms > 0 ? (uint64_t)timeout_ms * 1000u : 0);
    if ((rc = cohort_client_pump(self)) < 0)
        return rc;
    while (cohort_client_pending(self) > 0) {
        long left = -1;
        if (timeout_ms >= 0) {
            uint64_t now = cohort_client_now_us();
            if (now >= end)
                return -ETIMEDOUT;
            left = (long)((end - now + 999) / 1000);
        }
        if ((rc = cohort_client_wait(self, left)) < 0)
            return rc;
    }
    return 0;
}

void cohort_client_give_up(cohort_client_t *self, const char *reason)
{
    list_t *ls[3] = {&self->inflight, &self->retry, &self->queue};
    char why[sizeof self->why_buf];
    uint64_t now = cohort_client_now_us();

    snprintf(why, sizeof why, "%s", reason ? reason : "given up");
    for (int l = 0; l < 3; l++) {
        uint32_t n = ls[l]->n; /* bounded: callbacks may submit */
        while (n-- > 0 && ls[l]->head != NIL)
            finish(self, ls[l]->head, COHORT_UNDELIVERED, 0, 0, 0, why, now);
    }
}

size_t cohort_client_pending(const cohort_client_t *self)
{
    return (size_t)self->queue.n + self->inflight.n + self->retry.n;
}

size_t cohort_client_room(const cohort_client_t *self)
{
    return self->queue.n >= self->o.queue_max ? 0 : self->o.queue_max - self->queue.n;
}

void *cohort_client_socket(cohort_client_t *self)
{
    return self->sock;
}

void cohort_client_stats(const cohort_client_t *self, cohort_client_stats_t *out)
{
    *out = self->st;
}
