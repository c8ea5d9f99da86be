/* zflood: test tool for overload tests. Two modes, each bounded by time:
 *
 *   zflood ingest ENDPOINT [--conns N] [--seconds S] [--kind junk|reject]
 *                          [--size BYTES] [--sources K]
 *     N DEALER connections send request frames as fast as the daemon takes
 *     them and never read a reply (their receive queue is one message, so
 *     replies back up into the daemon). junk: frames of BYTES bytes of 0xff
 *     (refused as malformed, or as too large above 4 MiB; above 8 MiB
 *     ZeroMQ drops the connection). reject: well-formed batches of
 *     PromotionRecorded events for a participant no agency registered,
 *     about BYTES bytes and at most 4096 events per frame, with fresh
 *     event ids in every frame: each event is validated, looked up,
 *     refused by the domain rules (never stored) and answered with a
 *     REJECTED ack carrying a reason, so replies are large. --sources K
 *     (tcp://127.0.0.1 only): connection i connects from the source
 *     address 127.0.0.(2 + i % K), as K hosts would.
 *
 *   zflood slow PUBLISH SNAPSHOT [--conns N] [--seconds S] [--requests R]
 *     N subscription DEALERs subscribed to everything and N snapshot DEALERs that
 *     each send R snapshot requests for every topic; none of them ever
 *     reads.
 *
 * With --key FILE --server-key FILE the sockets are CURVE clients with
 * that key (as cohort-agent's --key); without, plain text.
 *
 * Both print "ready" on stdout once connected (a test can wait for it),
 * run until S seconds have passed or SIGTERM/SIGINT, then print one JSON
 * line {"frames":F,"bytes":B} (frames sent) and exit 0; 2 on a usage or
 * setup error. Linger is 0: nothing is flushed at exit. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "cohort.pb-c.h"
#include "cohort_keys.h"

#define MAX_CONNS 256
#define MAX_EVENTS 4096     /* the daemon's per-frame limit */
#define ID_MAGIC "zflood!!" /* first 8 bytes of every event id in a reject frame */
#define GRADE_MAX 64        /* the daemon's limit for a grade */
#define PAD_FIELD 99        /* padding: a field number no reader knows */

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(void)
{
    fprintf(stderr, "usage: zflood ingest ENDPOINT [--conns N] [--seconds S] [--kind junk|reject]"
                    " [--size BYTES] [--sources K] [--read] [--key FILE --server-key FILE]\n"
                    "       zflood slow PUBLISH SNAPSHOT [--conns N] [--seconds S]"
                    " [--requests R]\n");
    exit(2);
}

/* Builds a reject frame of about size bytes into *out; *ids gets the
 * offset of each event's 16-byte id and *n the event count. */
static uint8_t *reject_frame(size_t size, size_t *len, size_t **ids, size_t *n)
{
    static Cohort__V1__Event evs[MAX_EVENTS];
    static Cohort__V1__PromotionRecorded pr[MAX_EVENTS];
    static Cohort__V1__Event *evp[MAX_EVENTS];
    static uint8_t idb[MAX_EVENTS][16];
    char grade[GRADE_MAX + 1];
    static ProtobufCMessageUnknownField uf;
    static uint8_t *pad;
    Cohort__V1__Batch batch = COHORT__V1__BATCH__INIT;
    Cohort__V1__IngestRequest req = COHORT__V1__INGEST_REQUEST__INIT;
    struct timespec ts;
    size_t per, k = 0;
    uint8_t *buf;
    clock_gettime(CLOCK_REALTIME, &ts);
    memset(grade, 'g', GRADE_MAX);
    grade[GRADE_MAX] = 0;
    /* Well-formed events of the agency "zflood-agency", which no key
     * writes (REJECT_UNAUTHORISED once validated). Frames bigger than
     * MAX_EVENTS such events are padded with an unknown field, which the
     * daemon keeps and otherwise ignores, as it would a newer field. */
    for (size_t i = 0; i < MAX_EVENTS; i++) {
        cohort__v1__event__init(&evs[i]);
        cohort__v1__promotion_recorded__init(&pr[i]);
        memcpy(idb[i], ID_MAGIC, 8);
        idb[i][8] = (uint8_t)(i >> 8);
        idb[i][9] = (uint8_t)i;
        evs[i].event_id.data = idb[i];
        evs[i].event_id.len = 16;
        evs[i].agency = "zflood-agency";
        evs[i].occurred_at = (int64_t)ts.tv_sec * 1000000 - 86400000000LL;
        evs[i].body_case = COHORT__V1__EVENT__BODY_PROMOTION_RECORDED;
        evs[i].promotion_recorded = &pr[i];
        pr[i].participant_ref = "p1:zfloodzfloodzfloodzfloodzfloodzz"; /* pseudonym form */
        pr[i].kind = COHORT__V1__PROGRESSION_KIND__ACTING_UP;
        pr[i].from_grade = grade;
        pr[i].to_grade = grade;
        pr[i].effective_on = "2009-06-01";
        evp[i] = &evs[i];
    }
    per = cohort__v1__event__get_packed_size(&evs[0]) + 4;
    k = size / per > MAX_EVENTS ? MAX_EVENTS : (size / per ? size / per : 1);
    if (k == MAX_EVENTS && size / MAX_EVENTS > per + 8) {
        size_t plen = size / MAX_EVENTS - per - 8, o = 0, v = plen;
        free(pad);
        if (!(pad = malloc(plen + 10)))
            return NULL;
        do { /* the data of a length-delimited unknown field starts with its length */
            pad[o++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
            v >>= 7;
        } while (v > 0);
        memset(pad + o, 'x', plen);
        uf.tag = PAD_FIELD;
        uf.wire_type = PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED;
        uf.len = o + plen;
        uf.data = pad;
        for (size_t i = 0; i < MAX_EVENTS; i++) {
            evs[i].base.n_unknown_fields = 1;
            evs[i].base.unknown_fields = &uf;
        }
    }
    batch.n_events = k;
    batch.events = evp;
    req.request_id = 1;
    req.body_case = COHORT__V1__INGEST_REQUEST__BODY_BATCH;
    req.batch = &batch;
    *len = cohort__v1__ingest_request__get_packed_size(&req);
    if (!(buf = malloc(*len)) || !(*ids = malloc(k * sizeof **ids)))
        return NULL;
    cohort__v1__ingest_request__pack(&req, buf);
    *n = 0;
    for (size_t off = 0; off + 16 <= *len && *n < k; off++)
        if (memcmp(buf + off, ID_MAGIC, 8) == 0)
            (*ids)[(*n)++] = off;
    return *n == k ? buf : NULL;
}

/* CURVE client keys (--key, --server-key), or off: plain text. */
static cohort_curve_t curve;

static void *sock(void *ctx, int type, const char *ep, int sndhwm, int rcvhwm)
{
    void *s = zmq_socket(ctx, type);
    int zero = 0;
    int64_t maxmsg = -1;
    char err[256];
    if (s && cohort_curve_apply(s, &curve, err, sizeof err) < 0) {
        fprintf(stderr, "zflood: %s\n", err);
        exit(2);
    }
    if (!s || zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
        zmq_setsockopt(s, ZMQ_SNDHWM, &sndhwm, sizeof sndhwm) != 0 ||
        zmq_setsockopt(s, ZMQ_RCVHWM, &rcvhwm, sizeof rcvhwm) != 0 ||
        zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) != 0 || zmq_connect(s, ep) != 0) {
        fprintf(stderr, "zflood: socket for %s: %s\n", ep, zmq_strerror(errno));
        exit(2);
    }
    return s;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"conns", required_argument, NULL, 'c'},    {"seconds", required_argument, NULL, 's'},
        {"kind", required_argument, NULL, 'k'},     {"size", required_argument, NULL, 'b'},
        {"requests", required_argument, NULL, 'r'}, {"read", no_argument, NULL, 'R'},
        {"key", required_argument, NULL, 'K'},      {"server-key", required_argument, NULL, 'S'},
        {"sources", required_argument, NULL, 'A'},  {NULL, 0, NULL, 0}};
    int conns = 4, requests = 100, c, ingest, drain = 0, sources = 0;
    double seconds = 10;
    size_t size = 4u << 20;
    const char *kind = "junk", *key = NULL, *server_key = NULL;
    void *ctx, *socks[2 * MAX_CONNS];
    uint64_t frames = 0, bytes = 0, counter = 0, replies = 0;
    int nsocks = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            conns = atoi(optarg);
            break;
        case 's':
            seconds = atof(optarg);
            break;
        case 'k':
            kind = optarg;
            break;
        case 'b':
            size = strtoull(optarg, NULL, 10);
            break;
        case 'r':
            requests = atoi(optarg);
            break;
        case 'R':
            drain = 1;
            break;
        case 'K':
            key = optarg;
            break;
        case 'S':
            server_key = optarg;
            break;
        case 'A':
            sources = atoi(optarg);
            break;
        default:
            usage();
        }
    }
    if (argc - optind < 2 || conns < 1 || conns > MAX_CONNS || seconds <= 0 || seconds > 600 ||
        size < 1 || size > (16u << 20) || requests < 0 || sources < 0 || sources > 250)
        usage();
    ingest = strcmp(argv[optind], "ingest") == 0;
    if (!ingest && (strcmp(argv[optind], "slow") != 0 || argc - optind < 3))
        usage();
    if (ingest && strcmp(kind, "junk") != 0 && strcmp(kind, "reject") != 0)
        usage();
    if (key || server_key) {
        char err[512];
        if (cohort_curve_from(&curve, key, server_key, 0, err, sizeof err) < 0) {
            fprintf(stderr, "zflood: %s\n", err);
            return 2;
        }
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    ctx = zmq_ctx_new();
    /* Sending is what costs here: one I/O thread per two connections. */
    int io = conns / 2 > 1 ? conns / 2 : 1;
    zmq_ctx_set(ctx, ZMQ_IO_THREADS, io > 4 ? 4 : io);
    double end = now_s() + seconds;

    if (ingest) {
        size_t len = 0, n = 0, *ids = NULL;
        uint8_t *frame;
        if (strcmp(kind, "junk") == 0) {
            frame = malloc(size);
            if (frame)
                memset(frame, 0xff, size);
            len = size;
        } else {
            frame = reject_frame(size, &len, &ids, &n);
        }
        if (!frame) {
            fprintf(stderr, "zflood: cannot build the frame\n");
            return 2;
        }
        const char *ep = argv[optind + 1];
        if (sources && strncmp(ep, "tcp://127.0.0.1:", 16) != 0)
            usage();
        for (int i = 0; i < conns; i++) {
            char src[300];
            if (sources) /* "tcp://SOURCE:0;127.0.0.1:PORT": libzmq binds the source first */
                snprintf(src, sizeof src, "tcp://127.0.0.%d:0;%s", 2 + i % sources, ep + 6);
            socks[nsocks++] = sock(ctx, ZMQ_DEALER, sources ? src : ep, 4, drain ? 1000 : 1);
        }
        printf("ready\n");
        fflush(stdout);
        while (!stop && now_s() < end) {
            int sent = 0;
            for (int i = 0; i < nsocks && drain; i++) { /* --read: discard replies */
                zmq_msg_t m;
                zmq_msg_init(&m);
                while (zmq_msg_recv(&m, socks[i], ZMQ_DONTWAIT) >= 0)
                    replies++;
                zmq_msg_close(&m);
            }
            for (int i = 0; i < nsocks && !stop; i++) {
                zmq_msg_t m;
                if (zmq_msg_init_size(&m, len) != 0)
                    continue;
                memcpy(zmq_msg_data(&m), frame, len);
                counter++;
                for (size_t k = 0; k < n; k++) /* fresh ids: ID_MAGIC, index, counter */
                    memcpy((uint8_t *)zmq_msg_data(&m) + ids[k] + 10, &counter, 6);
                if (zmq_msg_send(&m, socks[i], ZMQ_DONTWAIT) < 0) {
                    zmq_msg_close(&m);
                    continue;
                }
                frames++;
                bytes += len;
                sent++;
            }
            if (!sent) { /* every queue full: wait until one has room */
                zmq_pollitem_t it[MAX_CONNS];
                for (int i = 0; i < nsocks; i++)
                    it[i] = (zmq_pollitem_t){socks[i], 0, ZMQ_POLLOUT, 0};
                for (int i = 0; i < nsocks; i++)
                    it[i].events |= drain ? ZMQ_POLLIN : 0;
                zmq_poll(it, nsocks, 10);
            }
        }
        free(frame);
        free(ids);
    } else {
        const char *req = "{\"snapshot\":\"\"}";
        for (int i = 0; i < conns; i++) {
            void *sub = sock(ctx, ZMQ_DEALER, argv[optind + 1], 1000, 1);
            const char *all = "{\"subscribe\":\"\"}"; /* every topic, never read */
            zmq_send(sub, all, strlen(all), ZMQ_DONTWAIT);
            socks[nsocks++] = sub;
            socks[nsocks++] = sock(ctx, ZMQ_DEALER, argv[optind + 2], requests + 1, 1);
        }
        printf("ready\n");
        fflush(stdout);
        for (int r = 0; r < requests && !stop; r++)
            for (int i = 1; i < nsocks; i += 2)
                if (zmq_send(socks[i], req, strlen(req), ZMQ_DONTWAIT) >= 0) {
                    frames++;
                    bytes += strlen(req);
                }
        while (!stop && now_s() < end) {
            struct timespec ts = {0, 20 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    printf("{\"frames\":%llu,\"bytes\":%llu,\"replies\":%llu}\n", (unsigned long long)frames,
           (unsigned long long)bytes, (unsigned long long)replies);
    fflush(stdout);
    for (int i = 0; i < nsocks; i++)
        zmq_close(socks[i]);
    zmq_ctx_term(ctx);
    cohort_curve_clear(&curve);
    return 0;
}
