/* cohort_bench.c: cohort-bench, a load-generating agent for cohortd: main,
 * the fixtures (event templates and the setup events) and the measured run.
 * The command line and keys are in bench_args.c, the latency histogram and
 * the status probe in bench_status.c (cohort_bench.h: their private header).
 *
 * Contract:
 * - Opens --agents DEALER connections (one libcohort client each, one
 *   agency each: bench-01, bench-02, ...), all driven by this one thread
 *   from one epoll set, and sends --events events in total, each with a
 *   fresh UUIDv7 event_id, at most --window unacked per connection.
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
 * - The daemon applies the programme's domain rules, so before measuring
 *   the bench sets up what its events need (not measured): programme
 *   "bench", cohort "load-<agents>" with agencies bench-01..bench-NN, and one
 *   enrolled participant per connection. Setup event ids are derived from
 *   the run's shape, so a second run against the same daemon gets DUPLICATE
 *   for them. The measured events are AttendanceRecorded corrections of
 *   that participant's first coaching session: valid, applied and rendered
 *   like real traffic, with bounded state however long the run.
 * - With --status EP, a SUB socket on the daemon's publish endpoint is
 *   subscribed to the bench's topic cohort/bench/load-<agents> (and to
 *   "system", so that the first message, update or heartbeat, shows the
 *   subscription is live; at most STATUS_WAIT_MS is waited for it after
 *   setup, so slow-joiner loss does not bias the start). For every measured
 *   event it measures the time from its ACCEPTED ack arriving here to the
 *   arrival of the first update of that topic whose envelope "seq" is at
 *   least the event's acked seq (0 when the update came first). Times are
 *   kept in two arrays indexed by seq - base, where base is one past the
 *   highest seq seen before the measured phase; seqs outside the arrays
 *   (other traffic, gaps) are ignored. Only the envelope's "seq" is parsed.
 *   After the last ack the final updates get at most STATUS_TAIL_MS.
 * - Security: with CURVE (the default) every connection needs its own key:
 *   --keys DIR gives DIR/bench-NN.key for connection NN (agent role, agency
 *   bench-NN) and DIR/coordinator.key for the setup's definitions (an extra
 *   connection) and the --status subscription (--key FILE overrides that
 *   one); the server key is --server-key, else DIR/server.pub, else
 *   COHORT_SERVER_KEY. --plaintext (or COHORT_PLAINTEXT=1 with no keys
 *   given) for a development daemon, with a warning. `--make-keys DIR
 *   --agents N` writes those keys, the server keypair DIR/server.key and
 *   DIR/server.pub, and the daemon's access file DIR/access, then exits.
 *   Keys are only read at start: the hot path is the same in both modes.
 * - Exit 0 when no event was rejected or undelivered, 1 otherwise or when
 *   the daemon could not be reached, 2 for usage errors (also missing or
 *   unusable keys). A DUPLICATE (a
 *   resend after a lost ack) is counted apart, not as done, not as failed.
 *
 * Hot path: the library is used (submit_packed copies ~B bytes into a slot
 * that is reused, so there is no per-event allocation). Event bodies are
 * packed once per connection; per event only the 16-byte id at its fixed
 * offset is rewritten. Ids come from a local UUIDv7 generator (same layout
 * as uuid7.c) seeded once from getrandom, since uuid7_generate does a
 * getrandom system call and takes a lock per id, which at a million ids
 * costs CPU the daemon (sharing the cores) needs. For the same reason the
 * loop does not zmq_poll every socket on every tick (that reads ZMQ_EVENTS,
 * a system call or two, per socket per call): epoll watches the sockets'
 * ZMQ_FDs and the send-schedule timerfd, and only agents whose ZMQ_FD
 * fired, whose next event is due or whose client has a timer due are
 * serviced. The --status SUB socket's ZMQ_FD is in the same epoll set and is
 * drained (until EAGAIN and ZMQ_EVENTS says no input) at the top of the
 * pass after it fired, before the agents, so update times are fresh. */
#include "cohort_bench.h"

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

/* --------------------------------------------------------------- events --- */

/* Packs agent i's template: an EnrolmentChanged whose note pads the packed
 * Event to about size bytes. Returns 0, or -EINVAL if size is out of reach
 * (sets *lo_out, *hi_out to the range), or -ENOMEM. */
/* The participant ref of agent index for padding len, in the pseudonym form
 * the daemon requires by default (docs/protocol.md): "p1:bench", the index
 * and len as base32 digits, then 'a' up to REF_LEN characters. */
static void bench_ref(char *out, unsigned index, size_t len)
{
    static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";
    size_t o = 0;
    memcpy(out, "p1:bench", 8);
    o = 8;
    for (int sh = 15; sh >= 0; sh -= 5) /* 20 bits of index */
        out[o++] = b32[((index + 1) >> sh) & 31];
    for (int sh = 10; sh >= 0; sh -= 5) /* 15 bits of len */
        out[o++] = b32[(len >> sh) & 31];
    while (o < REF_LEN)
        out[o++] = 'a';
    out[o] = '\0';
}

/* Sets ev's padding: an unknown length-delimited field of len bytes 'x'
 * (none for 0), which the daemon stores with the event and otherwise
 * ignores, as it would a field from a newer proto. pad holds at least
 * len + 3 bytes: protobuf-c packs an unknown field's data as it is, so it
 * starts with the length varint. */
static void set_padding(Cohort__V1__Event *ev, ProtobufCMessageUnknownField *uf, uint8_t *pad,
                        size_t len)
{
    size_t o = 0, v = len;
    do {
        pad[o++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v > 0);
    memset(pad + o, 'x', len);
    uf->tag = PAD_FIELD;
    uf->wire_type = PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED;
    uf->len = o + len;
    uf->data = pad;
    ev->base.n_unknown_fields = len > 0;
    ev->base.unknown_fields = len > 0 ? uf : NULL;
}

/* Fills the measured event of agent ag (an attendance correction) around
 * ref; the caller owns the strings. */
static void attendance(Cohort__V1__Event *ev, Cohort__V1__AttendanceRecorded *at, char *agency,
                       char *cohort, char *ref, uint8_t *id)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ev->event_id.data = id;
    ev->event_id.len = 16;
    ev->agency = agency;
    ev->occurred_at = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    ev->body_case = COHORT__V1__EVENT__BODY_ATTENDANCE_RECORDED;
    ev->attendance_recorded = at;
    at->participant_ref = ref;
    at->programme_id = "bench";
    at->cohort_id = cohort;
    at->component = COHORT__V1__COMPONENT_KIND__COACHING;
    at->session_id = "coaching-1";
    at->session_date = "2026-01-05";
    at->status = COHORT__V1__ATTENDANCE_STATUS__PRESENT;
    at->minutes = 120;
}

/* Packs agent ag's measured event at about size bytes (padded, see
 * set_padding); records the padding used in ag->ref_len. -EINVAL (with the range in
 * lo/hi) if size cannot be reached. */
static int make_template(agent_t *ag, unsigned size, size_t *lo_out, size_t *hi_out)
{
    char agency[24], cohort[24], ref[REF_LEN + 1];
    static uint8_t pad[PAD_MAX + 3];
    ProtobufCMessageUnknownField uf;
    Cohort__V1__Event ev = COHORT__V1__EVENT__INIT;
    Cohort__V1__AttendanceRecorded at = COHORT__V1__ATTENDANCE_RECORDED__INIT;
    uint8_t id[16] = {1}; /* non-zero so the field is always packed */
    size_t lo, hi, k;

    snprintf(agency, sizeof agency, "bench-%02u", ag->index + 1);
    snprintf(cohort, sizeof cohort, "load-%u", ag->b->a->agents);
    attendance(&ev, &at, agency, cohort, ref, id);
    bench_ref(ref, ag->index, PAD_MIN);
    set_padding(&ev, &uf, pad, PAD_MIN);
    lo = protobuf_c_message_get_packed_size(&ev.base);
    set_padding(&ev, &uf, pad, PAD_MAX);
    hi = protobuf_c_message_get_packed_size(&ev.base);
    *lo_out = lo;
    *hi_out = hi;
    if (size < lo || size > hi)
        return -EINVAL;
    for (k = PAD_MAX; k > PAD_MIN; k--) { /* the most padding within size bytes */
        set_padding(&ev, &uf, pad, k);
        if (protobuf_c_message_get_packed_size(&ev.base) <= size)
            break;
    }
    set_padding(&ev, &uf, pad, k);
    bench_ref(ref, ag->index, k);
    ag->ref_len = k;
    ag->tmpl_len = protobuf_c_message_get_packed_size(&ev.base);
    if (!(ag->tmpl = malloc(ag->tmpl_len)))
        return -ENOMEM;
    protobuf_c_message_pack(&ev.base, ag->tmpl);
    if (ag->tmpl[0] != 0x0a || ag->tmpl[1] != 16) /* event_id is field 1, packed first */
        return -EPROTO;
    return 0;
}

/* A setup event id, fixed by the run's shape and the event's role, so a
 * repeated run is answered DUPLICATE instead of breaking the rules. */
static void setup_id(uint8_t id[16], const char *what, unsigned agents, unsigned index,
                     size_t ref_len)
{
    char key[96];
    uint64_t h1 = 1469598103934665603ULL, h2 = 0x9e3779b97f4a7c15ULL;
    int n = snprintf(key, sizeof key, "cohort-bench|%s|%u|%u|%zu", what, agents, index, ref_len);
    for (int i = 0; i < n; i++) {
        h1 = (h1 ^ (uint8_t)key[i]) * 1099511628211ULL;
        h2 = (h2 ^ (uint8_t)key[i]) * 0xff51afd7ed558ccdULL;
    }
    for (int i = 0; i < 8; i++) {
        id[i] = (uint8_t)(h1 >> (56 - 8 * i));
        id[8 + i] = (uint8_t)(h2 >> (56 - 8 * i));
    }
    id[6] = (uint8_t)((id[6] & 0x0f) | 0x80); /* UUIDv8: custom */
    id[8] = (uint8_t)((id[8] & 0x3f) | 0x80);
}

/* Submits one setup event on ag's client; 0 or a negative errno. */
static int setup_send(agent_t *ag, Cohort__V1__Event *ev, const char *what)
{
    uint8_t id[16];
    char agency[24];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    setup_id(id, what, ag->b->a->agents, ag->index, ag->ref_len);
    snprintf(agency, sizeof agency, "bench-%02u", ag->index + 1);
    ev->event_id.data = id;
    ev->event_id.len = 16;
    ev->agency = agency;
    ev->occurred_at = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    int rc = cohort_client_submit(ag->cl, ev, NULL); /* packs ev: it may change after */
    if (rc == -EAGAIN) { /* the window (queue) is full: let it drain, once */
        if (cohort_client_flush(ag->cl, SETUP_WAIT_MS) < 0)
            rc = -ETIMEDOUT;
        else
            rc = cohort_client_submit(ag->cl, ev, NULL);
    }
    /* id and agency are ours, on this stack: the caller's ev must not keep them */
    ev->event_id.data = NULL;
    ev->event_id.len = 0;
    ev->agency = (char *)protobuf_c_empty_string;
    return rc;
}

/* The unmeasured setup: programme and cohort (by agent 1), then every
 * agent's participant, registered and enrolled. Returns 0, or -1 after
 * saying what failed. */
static int setup(bench_t *b)
{
    unsigned n = b->a->agents;
    char cohort[24], ref[REF_LEN + 1];
    char **agencies = calloc(n, sizeof *agencies);
    int rc = -1;
    b->setup = 1;
    snprintf(cohort, sizeof cohort, "load-%u", n);
    for (unsigned i = 0; agencies && i < n; i++)
        if ((agencies[i] = malloc(24)))
            snprintf(agencies[i], 24, "bench-%02u", i + 1);
    if (!agencies)
        goto out;
    {
        Cohort__V1__Event ev = COHORT__V1__EVENT__INIT;
        Cohort__V1__Component c = COHORT__V1__COMPONENT__INIT, *cs[1] = {&c};
        Cohort__V1__ProgrammeDefined pd = COHORT__V1__PROGRAMME_DEFINED__INIT;
        Cohort__V1__CohortOpened co = COHORT__V1__COHORT_OPENED__INIT;
        c.kind = COHORT__V1__COMPONENT_KIND__COACHING;
        c.count = 6;
        c.minutes_each = 120;
        pd.programme_id = "bench";
        pd.name = "cohort-bench load";
        pd.n_participant_components = 1;
        pd.participant_components = cs;
        ev.body_case = COHORT__V1__EVENT__BODY_PROGRAMME_DEFINED;
        ev.programme_defined = &pd;
        agent_t *def = b->coord.cl ? &b->coord : &b->ag[0];
        if (setup_send(def, &ev, "programme") < 0)
            goto out;
        co.programme_id = "bench";
        co.cohort_id = cohort;
        co.places = n;
        co.starts_on = "2026-01-01";
        co.ends_on = "2026-12-31";
        co.n_agencies = n;
        co.agencies = agencies;
        ev.body_case = COHORT__V1__EVENT__BODY_COHORT_OPENED;
        ev.cohort_opened = &co;
        if (setup_send(def, &ev, "cohort") < 0 || cohort_client_flush(def->cl, SETUP_WAIT_MS) < 0 ||
            b->setup_failed)
            goto out;
    }
    for (unsigned i = 0; i < n; i++) {
        static const Cohort__V1__EnrolmentStage stages[] = {
            COHORT__V1__ENROLMENT_STAGE__APPLIED,
            COHORT__V1__ENROLMENT_STAGE__SHORTLISTED,
            COHORT__V1__ENROLMENT_STAGE__INTERVIEWED,
            COHORT__V1__ENROLMENT_STAGE__LINE_MANAGER_SUPPORTED,
            COHORT__V1__ENROLMENT_STAGE__OFFERED,
            COHORT__V1__ENROLMENT_STAGE__ENROLLED};
        Cohort__V1__Event ev = COHORT__V1__EVENT__INIT;
        Cohort__V1__ParticipantRegistered pr = COHORT__V1__PARTICIPANT_REGISTERED__INIT;
        Cohort__V1__EnrolmentChanged ec = COHORT__V1__ENROLMENT_CHANGED__INIT;
        char what[16];
        bench_ref(ref, i, b->ag[i].ref_len);
        pr.participant_ref = ref;
        pr.role = COHORT__V1__ROLE__PARTICIPANT;
        pr.ethnicity = COHORT__V1__ETHNICITY__NS;
        pr.gender = COHORT__V1__GENDER__GENDER_NOT_STATED;
        pr.disability = COHORT__V1__DISABILITY__DISABILITY_NOT_STATED;
        ev.body_case = COHORT__V1__EVENT__BODY_PARTICIPANT_REGISTERED;
        ev.participant_registered = &pr;
        if (setup_send(&b->ag[i], &ev, "person") < 0)
            goto out;
        ec.participant_ref = ref;
        ec.programme_id = "bench";
        ec.cohort_id = cohort;
        ev.body_case = COHORT__V1__EVENT__BODY_ENROLMENT_CHANGED;
        ev.enrolment_changed = &ec;
        for (unsigned k = 0; k < sizeof stages / sizeof stages[0]; k++) {
            ec.stage = stages[k];
            snprintf(what, sizeof what, "stage%u", k);
            if (setup_send(&b->ag[i], &ev, what) < 0)
                goto out;
        }
    }
    for (unsigned i = 0; i < n; i++)
        if (cohort_client_flush(b->ag[i].cl, SETUP_WAIT_MS) < 0)
            goto out;
    rc = b->setup_failed ? -1 : 0;
out:
    if (rc < 0 && !b->setup_failed)
        fprintf(stderr, PROG ": the setup phase could not be completed\n");
    for (unsigned i = 0; agencies && i < n; i++)
        free(agencies[i]);
    free(agencies);
    b->setup = 0;
    return rc;
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

    if (b->setup) {
        b->setup_stored += r->result == COHORT_ACCEPTED;
        if (r->result != COHORT_ACCEPTED && r->result != COHORT_DUPLICATE &&
            b->setup_failed++ == 0) {
            const ProtobufCEnumValue *v =
                protobuf_c_enum_descriptor_get_value(&cohort__v1__reject_code__descriptor, r->code);
            fprintf(stderr, PROG ": setup event refused: %s: %s\n", v ? v->name : "undelivered",
                    r->reason);
        }
        return;
    }
    switch (r->result) {
    case COHORT_ACCEPTED: {
        uint64_t t0 = b->a->rate > 0 ? (uint64_t)(uintptr_t)r->tag : r->first_sent_us;
        b->accepted++;
        h_record(b->hist, r->done_us > t0 ? r->done_us - t0 : 0);
        if (b->sub)
            st_ack(b, r->seq, r->done_us);
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

/* When agent ag next wants to submit: its next event's intended send time
 * (0 without --rate), or UINT64_MAX when it has nothing it may submit (all
 * submitted, stopped, or its queue full: acks, seen on its socket, free
 * room). */
static uint64_t next_due(const bench_t *b, const agent_t *ag)
{
    if (b->stop || ag->next >= ag->total || cohort_client_room(ag->cl) == 0)
        return UINT64_MAX;
    return b->a->rate > 0 ? intended_us(b, ag, ag->next) : 0;
}

/* Asks ZeroMQ (ZMQ_EVENTS) whether agent ag's socket has what its client
 * waits for: input, or output room while a send is blocked. Reading
 * ZMQ_EVENTS processes the socket's pending commands, so once it says no,
 * anything new signals ZMQ_FD afresh. Returns 1, 0 or a negative errno. */
static int has_io(agent_t *ag)
{
    zmq_pollitem_t want;
    int ev = 0;
    size_t len = sizeof ev;

    if (zmq_getsockopt(cohort_client_socket(ag->cl), ZMQ_EVENTS, &ev, &len) < 0)
        return errno == EINTR ? 1 : -errno;
    cohort_client_pollitem(ag->cl, &want);
    return (ev & want.events) != 0;
}

/* Services agent ag: submits what is due and pumps its client while it has
 * work (force, a timer due, new events, its ZMQ_FD fired, or ZMQ_EVENTS
 * says so); what is left after SERVICE_ROUNDS pumps sets ag->ready for the
 * next pass. An agent with nothing due and a quiet socket is not touched.
 *
 * ZMQ_FD is edge-triggered and zmq_send, zmq_recv and ZMQ_EVENTS all
 * consume its edge (zmq_getsockopt(3), ZMQ_FD), so after the last pump ZMQ_EVENTS is
 * read: input or wanted output there means another pump; only once it
 * says neither is the socket left to epoll. A fired ZMQ_FD goes straight
 * to pump, whose receive processes the socket's commands. Returns 0 or a
 * negative errno from ZeroMQ. */
static int service(bench_t *b, agent_t *ag, uint64_t now, int force)
{
    int work = force || ag->ready || now >= ag->timer_at, pumped = 0, rc;
    long t;

    ag->ready = 0;
    if (feed(b, ag, now) > 0)
        work = 1;
    for (int round = 0;; round++) {
        if (!work) {
            if (!pumped)
                break; /* ZeroMQ not called: no edge consumed */
            if ((work = has_io(ag)) < 0)
                return work;
            if (!work)
                break; /* quiet, and the edge is re-armed */
        }
        if (round == SERVICE_ROUNDS) {
            ag->ready = 1; /* more to do: next pass, without waiting */
            break;
        }
        if ((rc = cohort_client_pump(ag->cl)) < 0)
            return rc;
        pumped = 1;
        work = feed(b, ag, now) > 0; /* acks made room: send those too */
    }
    t = cohort_client_timeout(ag->cl);
    ag->timer_at = t < 0 ? UINT64_MAX : cohort_client_now_us() + (uint64_t)t * 1000u;
    ag->due = next_due(b, ag);
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
        if (!b->ag[i].cl)
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
        if (b->sub)
            printf("\"status_p50_us\":%" PRIu64 ",\"status_p99_us\":%" PRIu64
                   ",\"status_p999_us\":%" PRIu64 ",\"status_matched\":%" PRIu64 ",",
                   h_quantile(b->shist, 0.50), h_quantile(b->shist, 0.99),
                   h_quantile(b->shist, 0.999), b->st_matched);
        printf("\"setup_stored\":%" PRIu64 ",\"capped\":%s}\n", b->setup_stored,
               capped ? "true" : "false");
        return;
    }
    printf("%" PRIu64 " events acked durable in %.3f s: %.0f events/s\n", b->accepted, secs, eps);
    printf("ack latency: p50 %" PRIu64 " us, p99 %" PRIu64 " us, p99.9 %" PRIu64 " us, max %" PRIu64
           " us (from %s)\n",
           p50, p99, p999, b->hist->max, a->rate > 0 ? "intended send time" : "first send");
    if (b->sub)
        printf("status latency (ack -> update): p50 %" PRIu64 " us, p99 %" PRIu64
               " us, p99.9 %" PRIu64 " us, %" PRIu64 " events matched\n",
               h_quantile(b->shist, 0.50), h_quantile(b->shist, 0.99), h_quantile(b->shist, 0.999),
               b->st_matched);
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

/* The fixtures of the measured load: the id generator and each agent's
 * share of the events and event template. Returns 0, or the exit status
 * (reported). */
static int make_templates(bench_t *b)
{
    const args_t *a = b->a;
    int rc;

    if (ids_init(&b->ids) < 0) {
        fprintf(stderr, PROG ": cannot seed the id generator: %s\n", strerror(errno));
        return 1;
    }
    for (unsigned i = 0; i < a->agents; i++) {
        size_t lo, hi;
        b->ag[i].b = b;
        b->ag[i].index = i;
        b->ag[i].total = a->events / a->agents + (i < a->events % a->agents ? 1 : 0);
        rc = make_template(&b->ag[i], a->size, &lo, &hi);
        if (rc == -EINVAL) {
            fprintf(stderr, PROG ": --size: must be from %zu to %zu bytes for this event\n", lo,
                    hi);
            return 2;
        }
        if (rc < 0) {
            fprintf(stderr, PROG ": cannot make the event template: %s\n", strerror(-rc));
            return 1;
        }
    }
    return 0;
}

/* Connects every agent's client (keys from --keys) and, with CURVE, the
 * coordinator's, and waits until all are connected. curve is the
 * coordinator's keys on return. Returns 0, or the exit status (reported). */
static int connect_all(bench_t *b, void *zctx, const char *server_key, cohort_curve_t *curve,
                       zmq_pollitem_t *it)
{
    const args_t *a = b->a;
    int rc;

    for (unsigned i = 0; i < a->agents; i++) {
        if (load_keys(a, server_key, (int)i, curve) < 0)
            return 2;
        b->ag[i].cl = cohort_client_new(&(cohort_client_opts_t){
            .endpoint = a->endpoint,
            .zctx = zctx,
            .window = a->window,
            .queue_max = a->window,
            .timeout_ms = a->timeout_ms,
            .deadline_ms = a->timeout_ms * 4u, /* a few attempts, then fail fast */
            .curve = curve,
            .on_result = on_result,
            .arg = &b->ag[i]});
        cohort_curve_clear(curve);
        if (!b->ag[i].cl) {
            int e = errno;
            fprintf(stderr, PROG ": cannot connect to %s: %s\n", a->endpoint, zmq_strerror(e));
            return (e == EINVAL || e == EPROTONOSUPPORT) ? 2 : 1;
        }
    }
    if (server_key) {
        /* The coordinator's connection: definitions, and the --status key. */
        b->coord.b = b;
        b->coord.index = 0;
        b->coord.ref_len = b->ag[0].ref_len;
        if (load_keys(a, server_key, -1, curve) < 0)
            return 2;
        b->coord.cl = cohort_client_new(&(cohort_client_opts_t){.endpoint = a->endpoint,
                                                                .zctx = zctx,
                                                                .window = 16,
                                                                .timeout_ms = a->timeout_ms,
                                                                .deadline_ms = a->timeout_ms * 4u,
                                                                .curve = curve,
                                                                .on_result = on_result,
                                                                .arg = &b->coord});
        if (!b->coord.cl) {
            fprintf(stderr, PROG ": cannot connect to %s: %s\n", a->endpoint, zmq_strerror(errno));
            cohort_curve_clear(curve);
            return 1;
        }
    }
    if ((rc = wait_connected(b, it)) < 0) {
        char why[200];
        fprintf(stderr, PROG ": cannot connect to %s: %s\n", a->endpoint,
                rc == -ETIMEDOUT ? "no connection within 5 s (is cohortd running?)"
                                 : zmq_strerror(-rc));
        for (unsigned i = 0; i < a->agents; i++) {
            cohort_client_pump(b->ag[i].cl); /* reads its handshake events */
            if (cohort_client_handshake(b->ag[i].cl, why, sizeof why) < 0) {
                fprintf(stderr,
                        PROG ": agent %u: handshake refused by the server: check "
                             "--keys/--server-key (%s)\n",
                        i + 1, why);
                break;
            }
        }
        cohort_curve_clear(curve);
        return 1;
    }
    return 0;
}

/* Makes *epfd, the one epoll set of the run. Returns 0, or 1 (reported). */
static int watch_fds(bench_t *b, int tfd, int *epfd)
{
    const args_t *a = b->a;

    /* One epoll set: each socket's ZMQ_FD (edge-triggered, as ZeroMQ
     * signals it; see service) and the timerfd (level). */
    if ((*epfd = epoll_create1(EPOLL_CLOEXEC)) < 0) {
        fprintf(stderr, PROG ": epoll_create1: %s\n", strerror(errno));
        return 1;
    }
    for (unsigned i = 0; i <= a->agents; i++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = i};
        int fd = tfd;
        if (i < a->agents) {
            size_t len = sizeof fd;
            if (zmq_getsockopt(cohort_client_socket(b->ag[i].cl), ZMQ_FD, &fd, &len) < 0) {
                fprintf(stderr, PROG ": ZMQ_FD: %s\n", zmq_strerror(errno));
                return 1;
            }
            ev.events |= EPOLLET;
        } else if (tfd < 0) {
            break;
        }
        if (epoll_ctl(*epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
            fprintf(stderr, PROG ": epoll_ctl: %s\n", strerror(errno));
            return 1;
        }
    }
    if (b->sub) { /* the SUB's ZMQ_FD, edge-triggered like the others */
        struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.u32 = a->agents + 1};
        int fd;
        size_t len = sizeof fd;
        if (zmq_getsockopt(b->sub, ZMQ_FD, &fd, &len) < 0 ||
            epoll_ctl(*epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
            fprintf(stderr, PROG ": --status: cannot watch the SUB socket: %s\n",
                    zmq_strerror(errno));
            return 1;
        }
    }

    return 0;
}

/* The measured run: sends every agent's share, at --rate if set, until all
 * are answered, --duration is up (*capped) or the grace after it ends.
 * Returns 0, or 1 (reported). */
static int run(bench_t *b, int tfd, int epfd, struct epoll_event *evs, int *capped)
{
    const args_t *a = b->a;
    int rc, first = 1, ticking = 0;
    uint64_t cap_us, grace_end = 0;

    b->start_us = cohort_client_now_us();
    cap_us = b->start_us + a->duration_s * 1000000ull;
    if (a->rate > 0) {
        /* epoll_wait counts whole milliseconds; the open-loop schedule needs
         * microseconds (a late send would be charged to the daemon). A
         * periodic timerfd ticks at the intended send times (every 1/rate
         * s, but at most every TICK_MIN_US, so a high rate costs at most
         * that much lateness rather than a wake-up per event). */
        double iv = 1e9 / a->rate < TICK_MIN_US * 1e3 ? TICK_MIN_US * 1e3 : 1e9 / a->rate;
        struct itimerspec its = {
            .it_interval = {(time_t)(iv / 1e9), (long)fmod(iv, 1e9)},
            .it_value = {(time_t)(b->start_us / 1000000), (long)(b->start_us % 1000000) * 1000}};
        if (timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0) {
            fprintf(stderr, PROG ": cannot set a timer: %s\n", strerror(errno));
            return 1;
        }
        ticking = 1;
    }
    for (;;) {
        uint64_t now = cohort_client_now_us(), timer_at = UINT64_MAX;
        size_t pending = 0;
        int more = 0, again = 0, n;
        long tmo = -1;

        if (!b->stop && now >= cap_us) {
            b->stop = 1;
            *capped = 1;
        }
        if (b->stop && grace_end == 0)
            grace_end = now + a->timeout_ms * 1000ull;
        if (b->sub && b->sub_ready && (rc = st_drain(b, STATUS_DRAIN)) < 0) {
            fprintf(stderr, PROG ": --status: ZeroMQ failure: %s\n", zmq_strerror(-rc));
            return 1;
        }
        /* Only agents with something to do go into ZeroMQ: scanning a
         * few integers per agent is cheaper than asking every socket. */
        for (unsigned i = 0; i < a->agents; i++) {
            agent_t *ag = &b->ag[i];
            if (first || ag->ready || now >= ag->timer_at || (!b->stop && ag->due <= now)) {
                if ((rc = service(b, ag, now, first)) < 0) {
                    fprintf(stderr, PROG ": ZeroMQ failure: %s\n", zmq_strerror(-rc));
                    return 1;
                }
            }
            pending += cohort_client_pending(ag->cl);
            more |= ag->next < ag->total;
            again |= ag->ready;
            if (ag->timer_at < timer_at)
                timer_at = ag->timer_at;
        }
        first = 0;
        if (b->stop)
            more = 0;
        if (pending == 0 && !more)
            break;
        if (b->stop && grace_end != 0 && cohort_client_now_us() >= grace_end) {
            for (unsigned i = 0; i < a->agents; i++)
                cohort_client_give_up(b->ag[i].cl, "bench stopped: no ack in time");
            break;
        }
        if (ticking && !more) { /* nothing left to send: stop the ticks */
            struct itimerspec off = {0};
            if (timerfd_settime(tfd, 0, &off, NULL) == 0)
                ticking = 0;
        }
        now = cohort_client_now_us();
        if (timer_at != UINT64_MAX)
            tmo = timer_at <= now ? 0 : (long)((timer_at - now + 999) / 1000);
        if (b->stop && grace_end != 0) {
            long t = grace_end <= now ? 0 : (long)((grace_end - now + 999) / 1000);
            if (tmo < 0 || t < tmo)
                tmo = t;
        }
        if (!b->stop) {
            long t = cap_us <= now ? 0 : (long)((cap_us - now + 999) / 1000);
            if (tmo < 0 || t < tmo)
                tmo = t;
        }
        if (again || b->sub_ready)
            tmo = 0;
        /* Rated: the timerfd ticks for due sends. Unrated: feeding waits
         * for acks, which arrive through the sockets. */
        if ((n = epoll_wait(epfd, evs, (int)a->agents + 2, (int)tmo)) < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, PROG ": epoll_wait: %s\n", strerror(errno));
            return 1;
        }
        for (int k = 0; k < n; k++) {
            uint32_t i = evs[k].data.u32;
            if (i < a->agents) {
                b->ag[i].ready = 1;
            } else if (i > a->agents) {
                b->sub_ready = 1;
            } else {
                uint64_t ticks;
                if (read(tfd, &ticks, sizeof ticks) < 0 && errno != EAGAIN)
                    fprintf(stderr, PROG ": timerfd: %s\n", strerror(errno));
            }
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    args_t a;
    bench_t b = {0};
    void *zctx = NULL;
    zmq_pollitem_t *it = NULL;
    struct epoll_event *evs = NULL;
    int rc, ret = 1, capped = 0, tfd = -1, epfd = -1;
    char server_buf[4096];
    const char *server_key = NULL;
    cohort_curve_t curve = {0};

    rc = parse_args(&a, argc, argv);
    if (rc != 0)
        return rc == 1 ? 0 : 2;
    if (a.make_keys)
        return make_keys(&a);
    if (choose_server_key(&a, server_buf, sizeof server_buf, &server_key) < 0)
        return 2;
    b.a = &a;
    b.hist = calloc(1, sizeof *b.hist);
    b.ag = calloc(a.agents, sizeof *b.ag);
    it = calloc(a.agents + 1, sizeof *it);
    evs = calloc(a.agents + 2, sizeof *evs); /* sockets, timerfd, SUB */
    if (!b.hist || !b.ag || !it || !evs) {
        fprintf(stderr, PROG ": out of memory\n");
        goto cleanup;
    }
    if (a.status && status_alloc(&b) != 0)
        goto cleanup;
    if ((ret = make_templates(&b)) != 0)
        goto cleanup;
    ret = 1;
    if (a.rate > 0 && (tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)) < 0) {
        fprintf(stderr, PROG ": cannot create a timer: %s\n", strerror(errno));
        goto cleanup;
    }
    if (!(zctx = zmq_ctx_new())) {
        fprintf(stderr, PROG ": cannot create a ZeroMQ context: %s\n", zmq_strerror(errno));
        goto cleanup;
    }
    if ((ret = connect_all(&b, zctx, server_key, &curve, it)) != 0)
        goto cleanup;
    if (a.status && (ret = status_open(&b, zctx, &curve)) != 0)
        goto cleanup;
    ret = 1;
    cohort_curve_clear(&curve); /* the coordinator's: set on its sockets */
    if (setup(&b) < 0)
        goto cleanup;
    if (b.sub && status_ready(&b) != 0)
        goto cleanup;
    if (watch_fds(&b, tfd, &epfd) != 0 || run(&b, tfd, epfd, evs, &capped) != 0)
        goto cleanup;
    if (b.sub && status_finish(&b) != 0)
        goto cleanup;
    report(&b, capped);
    ret = (b.rejected || b.undelivered) ? 1 : 0;

cleanup:
    cohort_curve_clear(&curve);
    cohort_client_destroy(&b.coord.cl);
    for (unsigned i = 0; b.ag && i < a.agents; i++) {
        cohort_client_destroy(&b.ag[i].cl);
        free(b.ag[i].tmpl);
    }
    if (b.sub)
        zmq_close(b.sub);
    if (zctx)
        zmq_ctx_term(zctx);
    if (tfd >= 0)
        close(tfd);
    if (epfd >= 0)
        close(epfd);
    free(evs);
    free(it);
    free(b.ag);
    free(b.hist);
    free(b.shist);
    free(b.st_ack);
    free(b.st_upd);
    return ret;
}
