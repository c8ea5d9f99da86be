/* cohort_bench.c: cohort-bench, a load-generating agent for cohortd.
 *
 * Contract:
 * - Opens --agents DEALER connections (one libcohort client each, one
 *   agency each: bench-01, bench-02, ...), all driven by this one thread
 *   with zmq_poll, and sends --events events in total, each with a fresh
 *   UUIDv7 event_id, at most --window unacked per connection.
 * - Only durable acks count: an event is done when its ACCEPTED ack
 *   arrives. Ack latency is ack receive time minus first send time, or,
 *   with --rate, minus the intended send time of an open-loop schedule (so
 *   a stalled daemon shows up as latency, not as a slower offered load).
 *   Latencies go to a log-bucketed histogram (exact below 2048 us, then
 *   within 1/1024 relative), reported at p50, p99 and p99.9.
 * - Every loop is bounded by count and time: the run stops after
 *   --duration-s, or at the first rejected or undelivered event (in-flight
 *   events then get one ack timeout to finish). Each event is given up
 *   after 4 ack timeouts, so a dead daemon ends the run quickly.
 * - Exit 0 when no event was rejected or undelivered, 1 otherwise or when
 *   the daemon could not be reached, 2 for usage errors. A DUPLICATE (a
 *   resend after a lost ack) is counted apart, not as done, not as failed.
 *
 * Hot path: the library is used (submit_packed copies ~B bytes into a slot
 * that is reused, so there is no per-event allocation). Event bodies are
 * packed once per connection; per event only the 16-byte id at its fixed
 * offset is rewritten. Ids come from a local UUIDv7 generator (same layout
 * as uuid7.c) seeded once from getrandom, since uuid7_generate does a
 * getrandom system call and takes a lock per id, which at a million ids
 * costs CPU the daemon (sharing the cores) needs. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "cohort_client.h"

#define PROG "cohort-bench"
#define MAX_AGENTS 1024
#define NOTE_MAX 512         /* the daemon's limit on a note */
#define TICK_MIN_US 100      /* finest send-schedule tick with --rate */
#define CONNECT_WAIT_MS 5000 /* all connections must be up within this */
#define HIST_SUB 2048        /* exact below this many microseconds */
#define HIST_HALF 1024
#define HIST_SHIFTS 40 /* up to 2^51 us */
#define HIST_N (HIST_SUB + HIST_SHIFTS * HIST_HALF)

/* What the command line asked for. */
typedef struct {
    const char *endpoint;
    unsigned agents;     /* connections */
    unsigned window;     /* unacked events per connection */
    uint64_t events;     /* total events */
    unsigned size;       /* target packed Event size */
    double rate;         /* offered events/s, 0 = unlimited */
    unsigned duration_s; /* cap on the run */
    unsigned timeout_ms; /* per-attempt ack timeout */
    int json;
} args_t;

/* A latency histogram in microseconds. */
typedef struct {
    uint64_t count[HIST_N];
    uint64_t total;
    uint64_t max;
} hist_t;

/* A local UUIDv7 source: the layout of uuid7.c, with a xorshift generator
 * seeded from getrandom instead of a system call per id. */
typedef struct {
    uint64_t s[2];    /* xorshift128+ state */
    uint64_t last_ms; /* timestamp of the last id */
    uint16_t ctr;     /* its 12-bit rand_a counter */
} idgen_t;

struct bench;

/* One connection. */
typedef struct {
    struct bench *b;
    cohort_client_t *cl;
    uint8_t *tmpl; /* packed Event; id at tmpl + 2 */
    size_t tmpl_len;
    uint64_t total;    /* events this agent sends */
    uint64_t next;     /* events submitted so far */
    uint64_t timer_at; /* when its client has timer work (UINT64_MAX: none) */
    unsigned index;    /* agent number, 0-based */
} agent_t;

/* The run. */
typedef struct bench {
    const args_t *a;
    agent_t *ag;
    idgen_t ids;
    hist_t *hist;
    uint64_t start_us, last_ack_us;
    uint64_t accepted, duplicate, rejected, undelivered;
    int stop;            /* stop submitting (failure or cap) */
    int reported_reject; /* first rejection described on stderr */
} bench_t;

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

static void h_record(hist_t *h, uint64_t v)
{
    h->count[h_index(v)]++;
    h->total++;
    if (v > h->max)
        h->max = v;
}

/* The value at quantile q (0..1): the least value with at least q of the
 * samples at or below it (reported as its bucket's highest value, capped at
 * the maximum seen). */
static uint64_t h_quantile(const hist_t *h, double q)
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

/* ---------------------------------------------------------------- ids --- */

static int ids_init(idgen_t *g)
{
    ssize_t got;

    memset(g, 0, sizeof *g);
    do
        got = getrandom(g->s, sizeof g->s, 0);
    while (got < 0 && errno == EINTR);
    if (got != (ssize_t)sizeof g->s)
        return -EIO;
    if ((g->s[0] | g->s[1]) == 0)
        g->s[0] = 1;
    return 0;
}

static uint64_t ids_rand(idgen_t *g)
{
    uint64_t x = g->s[0], y = g->s[1];
    g->s[0] = y;
    x ^= x << 23;
    g->s[1] = x ^ y ^ (x >> 17) ^ (y >> 26);
    return g->s[1] + y;
}

/* Writes a new UUIDv7 (strictly increasing within this process) to out. */
static void ids_next(idgen_t *g, uint8_t out[16])
{
    struct timespec ts;
    uint64_t ms, r = ids_rand(g);

    clock_gettime(CLOCK_REALTIME, &ts);
    ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    if (ms > g->last_ms) {
        g->ctr = (uint16_t)(r & 0x07ff);
    } else {
        ms = g->last_ms;
        if (++g->ctr > 0x0fff) {
            ms++;
            g->ctr = (uint16_t)(r & 0x07ff);
        }
    }
    g->last_ms = ms;
    ms &= 0xffffffffffffull;
    for (int i = 0; i < 6; i++)
        out[i] = (uint8_t)(ms >> (40 - 8 * i));
    out[6] = (uint8_t)(0x70 | (g->ctr >> 8));
    out[7] = (uint8_t)(g->ctr & 0xff);
    r = ids_rand(g);
    memcpy(out + 8, &r, 8);
    out[8] = (uint8_t)(0x80 | (out[8] & 0x3f));
}

/* ---------------------------------------------------------------- args --- */

static void usage(FILE *out)
{
    fprintf(
        out,
        "Usage: " PROG " [OPTION]...\n"
        "Load generator for cohortd: sends events over many connections and reports\n"
        "throughput and durable-ack latency (p50, p99, p99.9).\n"
        "\n"
        "  -e, --endpoint ENDPOINT  daemon endpoint (default: $COHORT_ENDPOINT or %s)\n"
        "  -a, --agents N           concurrent connections, one agency each (default 16)\n"
        "  -w, --window W           unacked events per connection (default 64)\n"
        "  -n, --events E           events in total (default 1000000)\n"
        "  -s, --size B             approximate packed event size in bytes (default 200)\n"
        "  -r, --rate R             offered events/s in total, open loop (default: unlimited)\n"
        "  -D, --duration-s S       stop after at most S seconds (default 300)\n"
        "  -t, --timeout-ms MS      per-attempt ack timeout before a resend (default 5000)\n"
        "  -j, --json               print one JSON object (events, seconds, events_per_sec,\n"
        "                           ack_p50_us, ack_p99_us, ack_p999_us, ...)\n"
        "  -h, --help               show this help and exit\n"
        "  -V, --version            show the version and exit\n"
        "\n"
        "Latency is from the first send (or, with --rate, from the intended send time)\n"
        "to the ACCEPTED ack, which the daemon sends only once the event is durable.\n"
        "Exit status: 0 none rejected or undelivered, 1 otherwise or on failure, 2 usage error.\n",
        COHORT_CLIENT_DEFAULT_ENDPOINT);
}

static int unum(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (s == NULL || *s < '0' || *s > '9')
        return -EINVAL;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < lo || v > hi)
        return -EINVAL;
    *out = v;
    return 0;
}

/* Returns 0 to run, 1 to exit 0, 2 after a usage error. */
static int parse_args(args_t *a, int argc, char **argv)
{
    static const struct option lo[] = {{"endpoint", required_argument, 0, 'e'},
                                       {"agents", required_argument, 0, 'a'},
                                       {"window", required_argument, 0, 'w'},
                                       {"events", required_argument, 0, 'n'},
                                       {"size", required_argument, 0, 's'},
                                       {"rate", required_argument, 0, 'r'},
                                       {"duration-s", required_argument, 0, 'D'},
                                       {"timeout-ms", required_argument, 0, 't'},
                                       {"json", no_argument, 0, 'j'},
                                       {"help", no_argument, 0, 'h'},
                                       {"version", no_argument, 0, 'V'},
                                       {0, 0, 0, 0}};
    const char *env = getenv("COHORT_ENDPOINT");
    uint64_t v;
    int c;

    *a = (args_t){.endpoint = (env && *env) ? env : COHORT_CLIENT_DEFAULT_ENDPOINT,
                  .agents = 16,
                  .window = 64,
                  .events = 1000000,
                  .size = 200,
                  .duration_s = 300,
                  .timeout_ms = 5000};
    while ((c = getopt_long(argc, argv, "e:a:w:n:s:r:D:t:jhV", lo, NULL)) != -1) {
        const char *bad = NULL;
        switch (c) {
        case 'e':
            a->endpoint = optarg;
            break;
        case 'a':
            if (unum(optarg, 1, MAX_AGENTS, &v) < 0)
                bad = "--agents: expected a number from 1 to 1024";
            a->agents = (unsigned)v;
            break;
        case 'w':
            if (unum(optarg, 1, 65536, &v) < 0)
                bad = "--window: expected a number from 1 to 65536";
            a->window = (unsigned)v;
            break;
        case 'n':
            if (unum(optarg, 1, 1000000000000ull, &v) < 0)
                bad = "--events: expected a number from 1 to 10^12";
            a->events = v;
            break;
        case 's':
            if (unum(optarg, 1, 1u << 20, &v) < 0)
                bad = "--size: expected a number of bytes";
            a->size = (unsigned)v;
            break;
        case 'r': {
            char *end;
            errno = 0;
            a->rate = strtod(optarg, &end);
            if (errno != 0 || *end != '\0' || end == optarg || !(a->rate >= 1.0) || a->rate > 1e9)
                bad = "--rate: expected events per second from 1 to 10^9";
            break;
        }
        case 'D':
            if (unum(optarg, 1, 86400, &v) < 0)
                bad = "--duration-s: expected a number from 1 to 86400";
            a->duration_s = (unsigned)v;
            break;
        case 't':
            if (unum(optarg, 1, 600000, &v) < 0)
                bad = "--timeout-ms: expected a number from 1 to 600000";
            a->timeout_ms = (unsigned)v;
            break;
        case 'j':
            a->json = 1;
            break;
        case 'h':
            usage(stdout);
            return 1;
        case 'V':
            printf(PROG " %s\n", COHORT_VERSION);
            return 1;
        default:
            fprintf(stderr, "Try '" PROG " --help' for more information.\n");
            return 2;
        }
        if (bad != NULL) {
            fprintf(stderr, PROG ": %s\n", bad);
            return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr,
                PROG ": unexpected argument '%s'\nTry '" PROG " --help' for more information.\n",
                argv[optind]);
        return 2;
    }
    if (*a->endpoint == '\0') {
        fprintf(stderr, PROG ": --endpoint: empty endpoint\n");
        return 2;
    }
    return 0;
}

/* --------------------------------------------------------------- events --- */

/* Packs agent i's template: an EnrolmentChanged whose note pads the packed
 * Event to about size bytes. Returns 0, or -EINVAL if size is out of reach
 * (sets *lo_out, *hi_out to the range), or -ENOMEM. */
static int make_template(agent_t *ag, unsigned size, size_t *lo_out, size_t *hi_out)
{
    static char pad[NOTE_MAX + 1];
    char agency[16], ref[32];
    Cohort__V1__Event ev = COHORT__V1__EVENT__INIT;
    Cohort__V1__EnrolmentChanged ec = COHORT__V1__ENROLMENT_CHANGED__INIT;
    uint8_t zero_id[16] = {1}; /* non-zero so the field is always packed */
    struct timespec ts;
    size_t lo, hi, k = 0;

    memset(pad, 'x', NOTE_MAX);
    snprintf(agency, sizeof agency, "bench-%02u", ag->index + 1);
    snprintf(ref, sizeof ref, "bench-p-%06u", ag->index + 1);
    clock_gettime(CLOCK_REALTIME, &ts);
    ev.event_id.data = zero_id;
    ev.event_id.len = 16;
    ev.agency = agency;
    ev.occurred_at = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    ev.body_case = COHORT__V1__EVENT__BODY_ENROLMENT_CHANGED;
    ev.enrolment_changed = &ec;
    ec.participant_ref = ref;
    ec.programme_id = "bench";
    ec.cohort_id = "load";
    ec.stage = COHORT__V1__ENROLMENT_STAGE__ENROLLED;
    ec.note = pad + NOTE_MAX; /* "" */
    lo = protobuf_c_message_get_packed_size(&ev.base);
    ec.note = pad;
    hi = protobuf_c_message_get_packed_size(&ev.base);
    *lo_out = lo;
    *hi_out = hi;
    if (size < lo || size > hi)
        return -EINVAL;
    /* The largest note that keeps the event within size bytes. */
    for (k = NOTE_MAX; k > 0; k--) {
        ec.note = pad + NOTE_MAX - k;
        if (protobuf_c_message_get_packed_size(&ev.base) <= size)
            break;
    }
    ec.note = pad + NOTE_MAX - k;
    ag->tmpl_len = protobuf_c_message_get_packed_size(&ev.base);
    if ((ag->tmpl = malloc(ag->tmpl_len)) == NULL)
        return -ENOMEM;
    protobuf_c_message_pack(&ev.base, ag->tmpl);
    if (ag->tmpl[0] != 0x0a || ag->tmpl[1] != 16) /* event_id is field 1, packed first */
        return -EPROTO;
    return 0;
}

/* Intended send time of agent ag's k-th event (open loop, --rate). Events
 * are dealt round-robin, so the global index is index + k * agents. */
static uint64_t intended_us(const bench_t *b, const agent_t *ag, uint64_t k)
{
    double idx = (double)ag->index + (double)k * (double)b->a->agents;
    return b->start_us + (uint64_t)(idx * 1e6 / b->a->rate);
}

static void on_result(void *arg, const cohort_client_report_t *r)
{
    agent_t *ag = arg;
    bench_t *b = ag->b;

    switch (r->result) {
    case COHORT_ACCEPTED: {
        uint64_t t0 = b->a->rate > 0 ? (uint64_t)(uintptr_t)r->tag : r->first_sent_us;
        b->accepted++;
        h_record(b->hist, r->done_us > t0 ? r->done_us - t0 : 0);
        if (r->done_us > b->last_ack_us)
            b->last_ack_us = r->done_us;
        break;
    }
    case COHORT_DUPLICATE: /* stored by an earlier attempt whose ack was lost: not "done" */
        b->duplicate++;
        break;
    case COHORT_REJECTED:
        b->rejected++;
        b->stop = 1;
        if (!b->reported_reject++) {
            const ProtobufCEnumValue *v =
                r->frame_error
                    ? protobuf_c_enum_descriptor_get_value(&cohort__v1__frame_error__descriptor,
                                                           r->frame_error)
                    : protobuf_c_enum_descriptor_get_value(&cohort__v1__reject_code__descriptor,
                                                           r->code);
            fprintf(stderr, PROG ": agent %u: event rejected: %s: %s\n", ag->index + 1,
                    v ? v->name : "?", r->reason);
        }
        break;
    default:
        if (b->undelivered++ == 0)
            fprintf(stderr, PROG ": agent %u: event undelivered: %s\n", ag->index + 1, r->reason);
        b->stop = 1;
        break;
    }
}

/* Waits until every connection is up (POLLOUT under ZMQ_IMMEDIATE), at
 * most CONNECT_WAIT_MS. Returns 0, -ETIMEDOUT, or -errno. */
static int wait_connected(bench_t *b, zmq_pollitem_t *it)
{
    uint64_t end = cohort_client_now_us() + CONNECT_WAIT_MS * 1000ull;
    unsigned n = b->a->agents;

    for (;;) {
        unsigned up = 0;
        uint64_t now = cohort_client_now_us();
        for (unsigned i = 0; i < n; i++)
            it[i] = (zmq_pollitem_t){.socket = cohort_client_socket(b->ag[i].cl),
                                     .events = ZMQ_POLLOUT};
        if (zmq_poll(it, (int)n, 0) < 0 && errno != EINTR)
            return -errno;
        for (unsigned i = 0; i < n; i++)
            up += (it[i].revents & ZMQ_POLLOUT) != 0;
        if (up == n)
            return 0;
        if (now >= end)
            return -ETIMEDOUT;
        struct timespec ts = {0, 5 * 1000000};
        nanosleep(&ts, NULL);
    }
}

/* Submits what agent ag may send now. */
static int feed(bench_t *b, agent_t *ag, uint64_t now)
{
    uint8_t *id = ag->tmpl + 2;
    int n = 0;

    while (!b->stop && ag->next < ag->total && cohort_client_room(ag->cl) > 0) {
        uint64_t t0 = 0;
        if (b->a->rate > 0 && (t0 = intended_us(b, ag, ag->next)) > now)
            break;
        ids_next(&b->ids, id);
        if (cohort_client_submit_packed(ag->cl, ag->tmpl, ag->tmpl_len, id, (void *)(uintptr_t)t0) <
            0)
            break; /* -EAGAIN cannot happen with room; anything else: retry later */
        ag->next++;
        n++;
    }
    return n;
}

/* Feeds agent ag and, when it has work (input on its socket, new events,
 * a timer due), pumps its client. Skipping idle clients keeps a wake-up
 * for one event cheap. Returns 0 or a negative errno from ZeroMQ. */
static int service(bench_t *b, agent_t *ag, zmq_pollitem_t *item, uint64_t now, int force)
{
    int work = force || item->revents != 0 || now >= ag->timer_at;
    int rc;
    long t;

    if (feed(b, ag, now) > 0)
        work = 1;
    if (!work)
        return 0;
    for (int round = 0; round < 2; round++) { /* acks may make room for more */
        if ((rc = cohort_client_pump(ag->cl)) < 0)
            return rc;
        if (feed(b, ag, now) == 0)
            break;
    }
    t = cohort_client_timeout(ag->cl);
    ag->timer_at = t < 0 ? UINT64_MAX : cohort_client_now_us() + (uint64_t)t * 1000u;
    cohort_client_pollitem(ag->cl, item);
    return 0;
}

/* ----------------------------------------------------------------- main --- */

static void report(const bench_t *b, int capped)
{
    const args_t *a = b->a;
    double secs = b->last_ack_us > b->start_us ? (double)(b->last_ack_us - b->start_us) / 1e6 : 0;
    double eps = secs > 0 ? (double)b->accepted / secs : 0;
    uint64_t p50 = h_quantile(b->hist, 0.50), p99 = h_quantile(b->hist, 0.99),
             p999 = h_quantile(b->hist, 0.999);
    uint64_t resends = 0;

    for (unsigned i = 0; i < a->agents; i++) {
        cohort_client_stats_t st;
        if (b->ag[i].cl == NULL)
            continue;
        cohort_client_stats(b->ag[i].cl, &st);
        resends += st.resends;
    }
    if (a->json) {
        printf("{\"events\":%" PRIu64 ",\"seconds\":%.6f,\"events_per_sec\":%.1f,"
               "\"ack_p50_us\":%" PRIu64 ",\"ack_p99_us\":%" PRIu64 ",\"ack_p999_us\":%" PRIu64
               ",\"ack_max_us\":%" PRIu64 ",\"offered\":%" PRIu64 ",\"rejected\":%" PRIu64
               ",\"undelivered\":%" PRIu64 ",\"duplicate\":%" PRIu64 ",\"resends\":%" PRIu64
               ",\"agents\":%u,\"window\":%u,\"size\":%zu,",
               b->accepted, secs, eps, p50, p99, p999, b->hist->max, a->events, b->rejected,
               b->undelivered, b->duplicate, resends, a->agents, a->window, b->ag[0].tmpl_len);
        if (a->rate > 0)
            printf("\"rate\":%.1f,", a->rate);
        else
            printf("\"rate\":null,");
        printf("\"capped\":%s}\n", capped ? "true" : "false");
        return;
    }
    printf("%" PRIu64 " events acked durable in %.3f s: %.0f events/s\n", b->accepted, secs, eps);
    printf("ack latency: p50 %" PRIu64 " us, p99 %" PRIu64 " us, p99.9 %" PRIu64 " us, max %" PRIu64
           " us (from %s)\n",
           p50, p99, p999, b->hist->max, a->rate > 0 ? "intended send time" : "first send");
    printf("agents %u, window %u, event size %zu B, rate ", a->agents, a->window,
           b->ag[0].tmpl_len);
    if (a->rate > 0)
        printf("%.0f/s", a->rate);
    else
        printf("unlimited");
    printf("; offered %" PRIu64 ", rejected %" PRIu64 ", undelivered %" PRIu64
           ", duplicate %" PRIu64 ", resends %" PRIu64 "%s\n",
           a->events, b->rejected, b->undelivered, b->duplicate, resends,
           capped ? "; stopped by --duration-s" : "");
}

int main(int argc, char **argv)
{
    args_t a;
    bench_t b = {0};
    void *zctx = NULL;
    zmq_pollitem_t *it = NULL;
    int rc, ret = 1, capped = 0, tfd = -1, first = 1;
    uint64_t cap_us, grace_end = 0;

    rc = parse_args(&a, argc, argv);
    if (rc != 0)
        return rc == 1 ? 0 : 2;
    b.a = &a;
    b.hist = calloc(1, sizeof *b.hist);
    b.ag = calloc(a.agents, sizeof *b.ag);
    it = calloc(a.agents + 1, sizeof *it);
    if (b.hist == NULL || b.ag == NULL || it == NULL) {
        fprintf(stderr, PROG ": out of memory\n");
        goto cleanup;
    }
    if (ids_init(&b.ids) < 0) {
        fprintf(stderr, PROG ": cannot seed the id generator: %s\n", strerror(errno));
        goto cleanup;
    }
    for (unsigned i = 0; i < a.agents; i++) {
        size_t lo, hi;
        b.ag[i].b = &b;
        b.ag[i].index = i;
        b.ag[i].total = a.events / a.agents + (i < a.events % a.agents ? 1 : 0);
        rc = make_template(&b.ag[i], a.size, &lo, &hi);
        if (rc == -EINVAL) {
            fprintf(stderr, PROG ": --size: must be from %zu to %zu bytes for this event\n", lo,
                    hi);
            ret = 2;
            goto cleanup;
        }
        if (rc < 0) {
            fprintf(stderr, PROG ": cannot make the event template: %s\n", strerror(-rc));
            goto cleanup;
        }
    }
    if (a.rate > 0 && (tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)) < 0) {
        fprintf(stderr, PROG ": cannot create a timer: %s\n", strerror(errno));
        goto cleanup;
    }
    if ((zctx = zmq_ctx_new()) == NULL) {
        fprintf(stderr, PROG ": cannot create a ZeroMQ context: %s\n", zmq_strerror(errno));
        goto cleanup;
    }
    for (unsigned i = 0; i < a.agents; i++) {
        b.ag[i].cl = cohort_client_new(&(cohort_client_opts_t){
            .endpoint = a.endpoint,
            .zctx = zctx,
            .window = a.window,
            .queue_max = a.window,
            .timeout_ms = a.timeout_ms,
            .deadline_ms = a.timeout_ms * 4u, /* a few attempts, then fail fast */
            .on_result = on_result,
            .arg = &b.ag[i]});
        if (b.ag[i].cl == NULL) {
            int e = errno;
            fprintf(stderr, PROG ": cannot connect to %s: %s\n", a.endpoint, zmq_strerror(e));
            ret = (e == EINVAL || e == EPROTONOSUPPORT) ? 2 : 1;
            goto cleanup;
        }
    }
    if ((rc = wait_connected(&b, it)) < 0) {
        fprintf(stderr, PROG ": cannot connect to %s: %s\n", a.endpoint,
                rc == -ETIMEDOUT ? "no connection within 5 s (is cohortd running?)"
                                 : zmq_strerror(-rc));
        goto cleanup;
    }

    b.start_us = cohort_client_now_us();
    cap_us = b.start_us + a.duration_s * 1000000ull;
    if (a.rate > 0) {
        /* zmq_poll counts whole milliseconds; the open-loop schedule needs
         * microseconds (a late send would be charged to the daemon). A
         * periodic timerfd ticks at the intended send times (every 1/rate
         * s, but at most every TICK_MIN_US, so a high rate costs at most
         * that much lateness rather than a wake-up per event). */
        double iv = 1e9 / a.rate < TICK_MIN_US * 1e3 ? TICK_MIN_US * 1e3 : 1e9 / a.rate;
        struct itimerspec its = {
            .it_interval = {(time_t)(iv / 1e9), (long)fmod(iv, 1e9)},
            .it_value = {(time_t)(b.start_us / 1000000), (long)(b.start_us % 1000000) * 1000}};
        if (timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0) {
            fprintf(stderr, PROG ": cannot set a timer: %s\n", strerror(errno));
            goto cleanup;
        }
    }
    for (;;) {
        uint64_t now = cohort_client_now_us(), next_due = UINT64_MAX;
        size_t pending = 0;
        long tmo = -1;

        if (!b.stop && now >= cap_us) {
            b.stop = 1;
            capped = 1;
        }
        if (b.stop && grace_end == 0)
            grace_end = now + a.timeout_ms * 1000ull;
        for (unsigned i = 0; i < a.agents; i++) {
            agent_t *ag = &b.ag[i];
            if ((rc = service(&b, ag, &it[i], now, first)) < 0) {
                fprintf(stderr, PROG ": ZeroMQ failure: %s\n", zmq_strerror(-rc));
                goto cleanup;
            }
            pending += cohort_client_pending(ag->cl);
            if (!b.stop && a.rate > 0 && ag->next < ag->total && cohort_client_room(ag->cl) > 0) {
                uint64_t due = intended_us(&b, ag, ag->next);
                if (due < next_due)
                    next_due = due;
            }
            if (ag->timer_at != UINT64_MAX) {
                uint64_t t2 = cohort_client_now_us();
                long t = ag->timer_at <= t2 ? 0 : (long)((ag->timer_at - t2 + 999) / 1000);
                if (tmo < 0 || t < tmo)
                    tmo = t;
            }
        }
        first = 0;
        if (pending == 0) {
            int more = 0;
            for (unsigned i = 0; i < a.agents && !b.stop; i++)
                more |= b.ag[i].next < b.ag[i].total;
            if (!more)
                break;
        }
        if (b.stop && grace_end != 0 && cohort_client_now_us() >= grace_end) {
            for (unsigned i = 0; i < a.agents; i++)
                cohort_client_give_up(b.ag[i].cl, "bench stopped: no ack in time");
            break;
        }
        if (b.stop && grace_end != 0) {
            long t = (long)((grace_end - cohort_client_now_us() + 999) / 1000);
            if (tmo < 0 || t < tmo)
                tmo = t < 0 ? 0 : t;
        }
        if (!b.stop) {
            long t = (long)((cap_us - cohort_client_now_us() + 999) / 1000);
            if (tmo < 0 || t < tmo)
                tmo = t < 0 ? 0 : t;
        }
        it[a.agents] = (zmq_pollitem_t){.socket = NULL, .fd = tfd, .events = ZMQ_POLLIN};
        if (zmq_poll(it, (int)a.agents + (next_due != UINT64_MAX), tmo) < 0 && errno != EINTR) {
            fprintf(stderr, PROG ": zmq_poll: %s\n", zmq_strerror(errno));
            goto cleanup;
        }
        if (next_due != UINT64_MAX && (it[a.agents].revents & ZMQ_POLLIN)) {
            uint64_t ticks;
            if (read(tfd, &ticks, sizeof ticks) < 0 && errno != EAGAIN)
                fprintf(stderr, PROG ": timerfd: %s\n", strerror(errno));
        }
    }
    report(&b, capped);
    ret = (b.rejected || b.undelivered) ? 1 : 0;

cleanup:
    for (unsigned i = 0; b.ag != NULL && i < a.agents; i++) {
        cohort_client_destroy(&b.ag[i].cl);
        free(b.ag[i].tmpl);
    }
    if (zctx != NULL)
        zmq_ctx_term(zctx);
    if (tfd >= 0)
        close(tfd);
    free(it);
    free(b.ag);
    free(b.hist);
    return ret;
}
