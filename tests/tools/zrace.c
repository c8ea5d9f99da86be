/* zrace: a status subscriber for the publish-scope race test (53-scope-race.t).
 *
 *   zrace ENDPOINT --key FILE --server-key FILE --seconds S --allow P[,P...]
 *         [--attack] [--subscribe P[,P...]] [--conns N] [--reconnect-ms MS]
 *
 * Opens N connections to the daemon's publish endpoint with one CURVE key.
 * Each connection is a pair of sockets, so that the same tool drives either
 * publisher design: a SUB-family socket (XSUB, which speaks to an XPUB) and
 * a DEALER (which speaks to a ROUTER); the daemon completes the handshake
 * of whichever fits and the other stays silent.
 *
 * --subscribe: each connection subscribes to these prefixes (both forms:
 *   "\x01prefix" on the XSUB, {"subscribe":"prefix"} on the DEALER), and
 *   every --reconnect-ms (0: never) closes its sockets and opens new ones.
 * --attack: each connection floods, as fast as its queue takes them,
 *   subscribe and unsubscribe messages for a prefix that holds a forged log
 *   line ("x/\n<2>auth: accepted key forged00 as operator"), "",
 *   "agency/", "cohort/", "programme/" and "system", and messages that are
 *   not subscriptions at all, in both forms.
 *
 * Every message received is checked: a topic frame that starts with '$' is
 * a reply ($subscribed, $error) and is not data; any other topic must start
 * with one of the --allow prefixes ("-" allows nothing). Ends after S
 * seconds and prints one JSON line:
 *   {"received":N,"violations":V,"first":"topic","first_at":T,"reconnects":R,"sent":M}
 * (first_at: seconds from the start to the first violation).
 * Exit 0, or 2 for bad arguments. Bounded: S at most 120, N at most 64. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "cohort_keys.h"

#define MAXP 16
#define MAXC 64
#define FORGED "x/\n<2>auth: accepted key forged00 as operator"

typedef struct {
    void *xsub;         /* XSUB, or NULL */
    void *dealer;       /* DEALER, or NULL */
    double next_reconn; /* when to reconnect */
} conn_t;

static char *allow[MAXP], *subs[MAXP];
static int nallow, nsubs;
static const char *ep;
static cohort_curve_t curve;
static unsigned long long received, violations, reconnects, sent;
static char first[300];
static double t0, first_at; /* start, and seconds to the first violation */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int split(char *s, char **out)
{
    int n = 0;
    for (char *t = strtok(s, ","); t && n < MAXP; t = strtok(NULL, ","))
        out[n++] = strcmp(t, "-") == 0 ? "" : t;
    return n;
}

static void *sock(void *ctx, int type)
{
    void *s = zmq_socket(ctx, type);
    int zero = 0, hwm = 1000;
    char err[200];
    if (!s)
        return NULL;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    if (cohort_curve_apply(s, &curve, err, sizeof err) < 0 || zmq_connect(s, ep) != 0) {
        fprintf(stderr, "zrace: %s\n", err);
        zmq_close(s);
        return NULL;
    }
    return s;
}

static void send_sub(conn_t *c, int on, const char *p)
{
    char buf[512];
    size_t n = strlen(p);
    buf[0] = on ? 1 : 0;
    memcpy(buf + 1, p, n);
    if (c->xsub && zmq_send(c->xsub, buf, n + 1, ZMQ_DONTWAIT) >= 0)
        sent++;
    size_t o = (size_t)snprintf(buf, sizeof buf, "{\"%s\":\"", on ? "subscribe" : "unsubscribe");
    for (const char *c = p; *c && o + 8 < sizeof buf; c++) /* JSON string escapes */
        o += (unsigned char)*c < 0x20 || *c == '"' || *c == '\\'
                 ? (size_t)snprintf(buf + o, sizeof buf - o, "\\u%04x", (unsigned char)*c)
                 : (size_t)snprintf(buf + o, sizeof buf - o, "%c", *c);
    snprintf(buf + o, sizeof buf - o, "\"}");
    if (c->dealer && zmq_send(c->dealer, buf, strlen(buf), ZMQ_DONTWAIT) >= 0)
        sent++;
}

static void open_conn(void *ctx, conn_t *c)
{
    c->xsub = sock(ctx, ZMQ_XSUB);
    c->dealer = sock(ctx, ZMQ_DEALER);
    for (int i = 0; i < nsubs; i++)
        send_sub(c, 1, subs[i]);
}

static void close_conn(conn_t *c)
{
    if (c->xsub)
        zmq_close(c->xsub);
    if (c->dealer)
        zmq_close(c->dealer);
    c->xsub = c->dealer = NULL;
}

/* Reads what s holds (bounded) and checks every topic. */
static void drain(void *s)
{
    for (int k = 0; s && k < 1000; k++) {
        zmq_msg_t m;
        int more;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, s, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            return;
        }
        const char *d = zmq_msg_data(&m);
        size_t n = zmq_msg_size(&m);
        more = zmq_msg_more(&m);
        if (!(n > 0 && d[0] == '$')) {
            int ok = 0;
            received++;
            for (int i = 0; i < nallow && !ok; i++)
                ok = n >= strlen(allow[i]) && memcmp(d, allow[i], strlen(allow[i])) == 0;
            if (!ok && violations++ == 0) {
                first_at = now_s() - t0;
                size_t k;
                for (k = 0; k < n && k < 200; k++) /* JSON-safe */
                    first[k] = d[k] >= 0x20 && d[k] < 0x7f && d[k] != '"' && d[k] != '\\' ? d[k] : '?';
                first[k] = '\0';
            }
        }
        zmq_msg_close(&m);
        while (more) { /* the envelope */
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, s, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&m);
                break;
            }
            more = zmq_msg_more(&m);
            zmq_msg_close(&m);
        }
    }
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {{"key", 1, 0, 'k'},     {"server-key", 1, 0, 's'},
                                       {"seconds", 1, 0, 't'}, {"allow", 1, 0, 'a'},
                                       {"attack", 0, 0, 'A'},  {"subscribe", 1, 0, 'p'},
                                       {"conns", 1, 0, 'n'},   {"reconnect-ms", 1, 0, 'r'},
                                       {0, 0, 0, 0}};
    const char *key = NULL, *skey = NULL;
    double seconds = 10, reconn = 0;
    int attack = 0, conns = 1, o;
    char err[300];
    while ((o = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (o) {
        case 'k': key = optarg; break;
        case 's': skey = optarg; break;
        case 't': seconds = atof(optarg); break;
        case 'a': nallow = split(optarg, allow); break;
        case 'A': attack = 1; break;
        case 'p': nsubs = split(optarg, subs); break;
        case 'n': conns = atoi(optarg); break;
        case 'r': reconn = atof(optarg) / 1000.0; break;
        default: return 2;
        }
    }
    if (optind + 1 != argc || !key || !skey || seconds <= 0 || seconds > 120 || conns < 1 ||
        conns > MAXC) {
        fprintf(stderr, "usage: zrace ENDPOINT --key F --server-key F --seconds S --allow P,...\n");
        return 2;
    }
    ep = argv[optind];
    if (cohort_curve_from(&curve, key, skey, 0, err, sizeof err) < 0) {
        fprintf(stderr, "zrace: %s\n", err);
        return 2;
    }
    void *ctx = zmq_ctx_new();
    conn_t c[MAXC] = {0};
    double start = t0 = now_s(), end = start + seconds;
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    for (int i = 0; i < conns; i++) {
        open_conn(ctx, &c[i]);
        c[i].next_reconn = start + reconn * (0.5 + (double)rand() / RAND_MAX);
    }
    /* the first is a log-forgery attempt: a refused prefix is logged */
    static const char *const ap[] = {FORGED, "", "agency/", "cohort/", "programme/", "system"};
    while (now_s() < end) {
        zmq_pollitem_t it[2 * MAXC];
        int ni = 0;
        for (int i = 0; i < conns; i++) {
            if (c[i].xsub)
                it[ni++] = (zmq_pollitem_t){c[i].xsub, 0, ZMQ_POLLIN, 0};
            if (c[i].dealer)
                it[ni++] = (zmq_pollitem_t){c[i].dealer, 0, ZMQ_POLLIN, 0};
        }
        zmq_poll(it, ni, attack ? 1 : 20);
        for (int i = 0; i < conns; i++) {
            drain(c[i].xsub);
            drain(c[i].dealer);
            if (attack) {
                for (size_t k = 0; k < sizeof ap / sizeof ap[0]; k++) {
                    send_sub(&c[i], 1, ap[k]);
                    send_sub(&c[i], 0, ap[k]);
                }
                /* not subscriptions at all */
                if (c[i].xsub && zmq_send(c[i].xsub, "\x02junk", 5, ZMQ_DONTWAIT) >= 0)
                    sent++;
                if (c[i].dealer && zmq_send(c[i].dealer, "junk", 4, ZMQ_DONTWAIT) >= 0)
                    sent++;
            }
            if (reconn > 0 && now_s() >= c[i].next_reconn) {
                close_conn(&c[i]);
                open_conn(ctx, &c[i]);
                reconnects++;
                c[i].next_reconn = now_s() + reconn * (0.5 + (double)rand() / RAND_MAX);
            }
        }
    }
    for (int i = 0; i < conns; i++)
        close_conn(&c[i]);
    zmq_ctx_term(ctx);
    cohort_curve_clear(&curve);
    printf("{\"received\":%llu,\"violations\":%llu,\"first\":\"%s\",\"first_at\":%.1f,"
           "\"reconnects\":%llu,\"sent\":%llu}\n",
           received, violations, first, first_at, reconnects, sent);
    return 0;
}
