/* bench_status.c: cohort-bench's latency histogram and its status probe
 * (--status): the time from an event's ack to the status update that
 * shows it. */
#include "cohort_bench.h"
/* ---------------------------------------------------------- histogram --- */

static size_t h_index(uint64_t v)
{
    unsigned msb, shift;
    size_t i;

    if (v < HIST_SUB)
        return (size_t)v;
    msb = 63u - (unsigned)__builtin_clzll(v);
    shift = msb - 10; /* v >> shift is in [1024, 2048) */
    i = HIST_SUB + (size_t)(shift - 1) * HIST_HALF + (size_t)((v >> shift) - HIST_HALF);
    return i < HIST_N ? i : HIST_N - 1;
}

/* The highest value that maps to bucket i. */
static uint64_t h_value(size_t i)
{
    unsigned shift;
    uint64_t sub;

    if (i < HIST_SUB)
        return i;
    shift = (unsigned)((i - HIST_SUB) / HIST_HALF) + 1;
    sub = (i - HIST_SUB) % HIST_HALF + HIST_HALF;
    return ((sub + 1) << shift) - 1;
}

/* Counts one sample of v microseconds. */
void h_record(hist_t *h, uint64_t v)
{
    h->count[h_index(v)]++;
    h->total++;
    if (v > h->max)
        h->max = v;
}

/* The value at quantile q (0..1): the least value with at least q of the
 * samples at or below it (reported as its bucket's highest value, capped at
 * the maximum seen). */
uint64_t h_quantile(const hist_t *h, double q)
{
    uint64_t want, seen = 0;

    if (h->total == 0)
        return 0;
    want = (uint64_t)ceil(q * (double)h->total);
    if (want == 0)
        want = 1;
    for (size_t i = 0; i < HIST_N; i++) {
        seen += h->count[i];
        if (seen >= want) {
            uint64_t v = h_value(i);
            return v < h->max ? v : h->max;
        }
    }
    return h->max;
}

/* ------------------------------------------------------------- status --- */

/* The measured event at seq was acked at t: its slot gets the ack time, and
 * if its update came first, latency 0. Seqs outside the slots are ignored. */
void st_ack(bench_t *b, uint64_t seq, uint64_t t)
{
    uint64_t i;

    if (b->st_base == 0 || seq < b->st_base || (i = seq - b->st_base) >= b->st_n ||
        b->st_ack[i] != 0)
        return;
    b->st_ack[i] = t != 0 ? t : 1;
    b->st_acked++;
    if (b->st_upd[i] != 0) {
        h_record(b->shist, 0);
        b->st_matched++;
    }
}

/* An update of the bench's topic reflecting everything up to seq arrived at
 * t: it is the first covering update for every slot up to seq not covered
 * yet (each slot is visited once in the whole run). */
static void st_update(bench_t *b, uint64_t seq, uint64_t t)
{
    uint64_t end;

    if (b->st_base == 0 || seq < b->st_base)
        return;
    end = seq - b->st_base + 1;
    if (end > b->st_n)
        end = b->st_n;
    for (; b->st_next < end; b->st_next++) {
        uint64_t i = b->st_next, a = b->st_ack[i];
        b->st_upd[i] = t;
        if (a != 0) {
            h_record(b->shist, t > a ? t - a : 0);
            b->st_matched++;
        }
    }
}

/* The envelope's "seq" (the first one: it precedes "doc"); 0 or -1. The
 * message is not NUL-terminated, so digits are read within len. */
static int env_seq(const void *p, size_t len, uint64_t *out)
{
    static const char key[] = "\"seq\":";
    const char *s = memmem(p, len, key, sizeof key - 1), *e = (const char *)p + len;
    uint64_t v = 0;
    int nd = 0;

    if (!s)
        return -1;
    for (s += sizeof key - 1; s < e && *s == ' '; s++)
        ;
    for (; s < e && *s >= '0' && *s <= '9' && nd < 19; s++, nd++)
        v = v * 10 + (uint64_t)(*s - '0');
    if (nd == 0)
        return -1;
    *out = v;
    return 0;
}

/* Receives what the status DEALER holds, at most max messages, until EAGAIN
 * and ZMQ_EVENTS shows no input (which re-arms its edge-triggered ZMQ_FD);
 * cut short at max, it leaves b->sub_ready set for the next pass. Before the
 * measured phase it only notes the highest seq seen. Returns 0 or -errno. */
int st_drain(bench_t *b, unsigned max)
{
    unsigned got = 0;

    b->sub_ready = 1;
    for (unsigned tries = 0; tries < 2 * max + 2; tries++) {
        zmq_msg_t m;
        int ours, sys, more;
        uint64_t seq, now;

        if (got == max)
            return 0;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, b->sub, ZMQ_DONTWAIT) < 0) {
            int e = errno, ev = 0;
            size_t len = sizeof ev;
            zmq_msg_close(&m);
            if (e == EINTR)
                continue;
            if (e != EAGAIN)
                return -e;
            if (zmq_getsockopt(b->sub, ZMQ_EVENTS, &ev, &len) < 0)
                return errno == EINTR ? 0 : -errno;
            if (ev & ZMQ_POLLIN)
                continue;
            b->sub_ready = 0;
            return 0;
        }
        ours = zmq_msg_size(&m) == b->topic_len &&
               memcmp(zmq_msg_data(&m), b->topic, b->topic_len) == 0;
        sys = zmq_msg_size(&m) == 6 && memcmp(zmq_msg_data(&m), "system", 6) == 0;
        more = zmq_msg_more(&m);
        zmq_msg_close(&m);
        got++;
        b->st_msgs++;
        /* the rest of the message (delivered whole): the envelope, and any
         * unexpected frames, skipped */
        for (int f = 0; more && f < 16; f++) {
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, b->sub, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&m);
                break;
            }
            now = cohort_client_now_us();
            more = zmq_msg_more(&m);
            if (f == 0 && (ours || sys) && env_seq(zmq_msg_data(&m), zmq_msg_size(&m), &seq) == 0) {
                if (b->st_base == 0) {
                    if (seq > b->st_seen)
                        b->st_seen = seq;
                } else if (ours) {
                    st_update(b, seq, now);
                }
            }
            zmq_msg_close(&m);
        }
    }
    return 0;
}

/* Before the measured phase: waits (at most ms) until a first update or
 * heartbeat has arrived, draining what is queued. 0, -ETIMEDOUT or -errno. */
static int st_wait(bench_t *b, unsigned ms)
{
    uint64_t end = cohort_client_now_us() + ms * 1000ull;

    for (;;) {
        zmq_pollitem_t it = {.socket = b->sub, .events = ZMQ_POLLIN};
        uint64_t now;
        int rc = st_drain(b, STATUS_DRAIN);
        if (rc < 0)
            return rc;
        if (!b->sub_ready && b->st_msgs > 0)
            return 0;
        if ((now = cohort_client_now_us()) >= end)
            return b->st_msgs > 0 ? 0 : -ETIMEDOUT;
        if (b->sub_ready)
            continue; /* more queued */
        if (zmq_poll(&it, 1, (long)((end - now + 999) / 1000)) < 0 && errno != EINTR)
            return -errno;
    }
}

/* After the last ack: waits at most STATUS_TAIL_MS for the updates of the
 * events acked but not matched yet. 0 or -errno. */
static int st_tail(bench_t *b)
{
    uint64_t end = cohort_client_now_us() + STATUS_TAIL_MS * 1000ull;

    for (;;) {
        zmq_pollitem_t it = {.socket = b->sub, .events = ZMQ_POLLIN};
        uint64_t now;
        int rc = st_drain(b, STATUS_DRAIN);
        if (rc < 0)
            return rc;
        if (b->st_matched >= b->st_acked || (now = cohort_client_now_us()) >= end)
            return 0;
        if (b->sub_ready)
            continue;
        if (zmq_poll(&it, 1, (long)((end - now + 999) / 1000)) < 0 && errno != EINTR)
            return -errno;
    }
}

/* ------------------------------------------------------------ the run --- */

/* --status: room for the sequence numbers of acks and updates, and the
 * topic to subscribe to. Returns 0, or 1 (reported). */
int status_alloc(bench_t *b)
{
    const args_t *a = b->a;
    /* slots for the measured events, the setup (at most 8 per agent)
     * and some other traffic */
    b->st_n = a->events + a->agents * 8ull + 4096;
    b->shist = calloc(1, sizeof *b->shist);
    b->st_ack = calloc(b->st_n, sizeof *b->st_ack);
    b->st_upd = calloc(b->st_n, sizeof *b->st_upd);
    if (!b->shist || !b->st_ack || !b->st_upd) {
        fprintf(stderr, PROG ": out of memory (--status keeps 16 bytes per event)\n");
        return 1;
    }
    b->topic_len = (size_t)snprintf(b->topic, sizeof b->topic, "cohort/bench/load-%u", a->agents);
    return 0;
}

/* The status probe (--status): subscribes to the bench's topic, before the
 * setup, with curve. Returns 0, or the exit status (reported). */
int status_open(bench_t *b, void *zctx, cohort_curve_t *curve)
{
    const args_t *a = b->a;

    /* Subscribed before the setup; the daemon's $subscribed answer
     * shows that the subscription is live. */
    int zero = 0;
    json_t *sr = json_pack("{s:s%}", "subscribe", b->topic, b->topic_len);
    char *req = sr ? json_dumps(sr, JSON_COMPACT) : NULL;
    json_decref(sr);
    if (!req || !(b->sub = zmq_socket(zctx, ZMQ_DEALER)) ||
        zmq_setsockopt(b->sub, ZMQ_LINGER, &zero, sizeof zero) < 0 ||
        cohort_curve_apply(b->sub, curve, NULL, 0) < 0 || zmq_connect(b->sub, a->status) < 0 ||
        zmq_send(b->sub, req, strlen(req), ZMQ_DONTWAIT) < 0) {
        free(req);
        int e = errno;
        fprintf(stderr, PROG ": --status: cannot connect to %s: %s\n", a->status, zmq_strerror(e));
        cohort_curve_clear(curve);
        return (e == EINVAL || e == EPROTONOSUPPORT) ? 2 : 1;
    }
    free(req);
    return 0;
}

/* The status probe, after the setup: waits until the subscription is live,
 * and counts only what comes after. Returns 0, or 1 (reported). */
int status_ready(bench_t *b)
{
    int rc;

    if ((rc = st_wait(b, STATUS_WAIT_MS)) < 0) {
        fprintf(stderr, PROG ": --status: %s\n",
                rc == -ETIMEDOUT ? "no update or heartbeat within 3 s (wrong endpoint?)"
                                 : zmq_strerror(-rc));
        return 1;
    }
    b->st_base = b->st_seen + 1; /* measured events come after what was seen */
    b->sub_ready = 1;
    return 0;
}

/* The status probe, at the end: collects the last updates and says how many
 * acked events saw none. Returns 0, or 1 (reported). */
int status_finish(bench_t *b)
{
    int rc;

    if ((rc = st_tail(b)) < 0) {
        fprintf(stderr, PROG ": --status: ZeroMQ failure: %s\n", zmq_strerror(-rc));
        return 1;
    }
    if (b->st_matched < b->st_acked)
        fprintf(stderr, PROG ": --status: %" PRIu64 " acked events saw no update within %u ms\n",
                b->st_acked - b->st_matched, STATUS_TAIL_MS);
    return 0;
}
