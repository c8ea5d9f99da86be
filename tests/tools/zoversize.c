/* zoversize: test tool for issue 13 item 4 (size limits before and after
 * authentication). It speaks ZMTP 3.0 over raw sockets, so it can declare a
 * frame far larger than it ever holds in memory:
 *
 *   zoversize ENDPOINT [--conns N] [--seconds S] [--size BYTES] [--body BYTES]
 *                      [--key FILE --server-key FILE] [--socket-type TYPE]
 *                      [--sources K]
 *
 * Each of N connections (tcp://IPV4:PORT or ipc://PATH):
 *   - without --key: sends the greeting (mechanism CURVE), then a command
 *     frame header declaring BYTES (the HELLO an unauthenticated peer
 *     would send), then up to --body bytes of zeros of it;
 *   - with --key: does the whole CURVE handshake as that client key
 *     (HELLO, WELCOME, INITIATE with Socket-Type TYPE, default DEALER, then
 *     READY), then sends a message frame header declaring BYTES and up to
 *     --body bytes of zeros of it.
 * A daemon with ZMQ_MAXMSGSIZE below BYTES drops the connection at the
 * header; one without it allocates BYTES and takes in what is sent. When
 * the daemon closes a connection it is made again after 100 ms, so the
 * pressure lasts S seconds. The tool's own memory is one 1 MiB buffer.
 *
 * Prints "ready" once the connections are started, then at the end one JSON
 * line: {"connects":C,"handshakes":H,"refused":R,"dropped":D,"bytes":B}
 * (handshakes: READY received; refused: the handshake failed; dropped:
 * closed by the daemon after the header; bytes: of declared frames sent).
 * Exit 0; 2 on a usage or setup error. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cohort_keys.h"

#define MAX_CONNS 256
#define CHUNK (1u << 20) /* bytes written at a time */
#define IN_MAX 1024      /* bytes of handshake input kept */
#define RECONNECT_MS 100 /* pause before connecting again */

enum { S_IDLE, S_GREET, S_WELCOME, S_READY, S_STREAM, S_HOLD };

/* One connection. */
typedef struct {
    int fd;             /* the socket, or -1 */
    int src;            /* --sources: the last byte of its source address; 0: any */
    int state;          /* S_* */
    double again;       /* S_IDLE: when to connect again */
    uint8_t in[IN_MAX]; /* handshake input not yet parsed */
    size_t in_len;      /* bytes in in */
    uint8_t out[512];   /* a handshake frame not yet written */
    size_t out_len;     /* bytes in out */
    size_t out_off;     /* bytes of out written */
    uint64_t left;      /* bytes of the declared frame still to send */
    uint8_t cn_pub[32]; /* transient client key C' */
    uint8_t cn_sec[32];
    uint8_t cn_server[32]; /* the server's transient key S' */
} conn_t;

static volatile sig_atomic_t stop;
static struct sockaddr_storage addr;
static socklen_t addr_len;
static int with_key;
static uint8_t server_pub[32], client_pub[32], client_sec[32];
static const char *socket_type = "DEALER";
static uint64_t declared = 300ull << 20, body;
static uint64_t n_connects, n_handshakes, n_refused, n_dropped, n_bytes;
static uint8_t zeros[CHUNK];

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

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static void usage(void)
{
    fprintf(stderr, "usage: zoversize ENDPOINT [--conns N] [--seconds S] [--size BYTES] "
                    "[--body BYTES] [--key FILE --server-key FILE] [--socket-type TYPE]\n"
                    "                 [--sources K]\n");
    exit(2);
}

/* Parses tcp://IPV4:PORT or ipc://PATH into addr. */
static int parse_endpoint(const char *ep)
{
    if (strncmp(ep, "ipc://", 6) == 0) {
        struct sockaddr_un *u = (struct sockaddr_un *)&addr;
        if (strlen(ep + 6) >= sizeof u->sun_path)
            return -1;
        u->sun_family = AF_UNIX;
        strcpy(u->sun_path, ep + 6);
        addr_len = sizeof *u;
        return 0;
    }
    if (strncmp(ep, "tcp://", 6) == 0) {
        struct sockaddr_in *in = (struct sockaddr_in *)&addr;
        char host[64];
        const char *colon = strrchr(ep + 6, ':');
        if (!colon || (size_t)(colon - ep - 6) >= sizeof host)
            return -1;
        memcpy(host, ep + 6, (size_t)(colon - ep - 6));
        host[colon - ep - 6] = '\0';
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)atoi(colon + 1));
        if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
            return -1;
        addr_len = sizeof *in;
        return 0;
    }
    return -1;
}

/* Queues a frame (flags, body of len bytes) in c->out. */
static void queue_frame(conn_t *c, uint8_t flags, const uint8_t *data, size_t len)
{
    size_t o = 0;
    if (len > 255) {
        c->out[o++] = flags | 0x02;
        put_u64(c->out + o, len);
        o += 8;
    } else {
        c->out[o++] = flags;
        c->out[o++] = (uint8_t)len;
    }
    memcpy(c->out + o, data, len);
    c->out_len = o + len;
    c->out_off = 0;
}

/* Queues the header of the oversized frame (a command before the
 * handshake, a message after it) and starts streaming its body. */
static void start_stream(conn_t *c, int command)
{
    c->out[0] = (uint8_t)(0x02 | (command ? 0x04 : 0));
    put_u64(c->out + 1, declared);
    c->out_len = 9;
    c->out_off = 0;
    c->left = body;
    c->state = S_STREAM;
}

static void close_conn(conn_t *c, double now)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->state = S_IDLE;
    c->again = now + RECONNECT_MS / 1000.0;
}

static void open_conn(conn_t *c)
{
    uint8_t greet[64] = {0xff, 0, 0, 0, 0, 0, 0, 0, 1, 0x7f, 3, 0};
    memcpy(greet + 12, "CURVE", 5);
    struct sockaddr_in src = {.sin_family = AF_INET};
    src.sin_addr.s_addr = htonl(0x7f000000u | (uint32_t)c->src);
    c->fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0 || (c->src && bind(c->fd, (struct sockaddr *)&src, sizeof src) != 0) ||
        (connect(c->fd, (struct sockaddr *)&addr, addr_len) != 0 && errno != EINPROGRESS)) {
        close_conn(c, now_s());
        return;
    }
    n_connects++;
    c->in_len = 0;
    memcpy(c->out, greet, 64);
    c->out_len = 64;
    c->out_off = 0;
    c->state = S_GREET;
    if (!with_key) { /* greeting and the declared HELLO go together */
        c->out[64] = 0x06;
        put_u64(c->out + 65, declared);
        c->out_len = 73;
        c->left = body;
        c->state = S_STREAM;
    }
}

/* Takes the next whole frame from c->in: returns its body length and sets
 * *data, or -1 if incomplete. */
static long next_frame(conn_t *c, const uint8_t **data, size_t *used)
{
    if (c->in_len < 2)
        return -1;
    size_t hl = (c->in[0] & 0x02) ? 9 : 2, len = 0;
    if (c->in_len < hl)
        return -1;
    if (hl == 9)
        for (int i = 1; i < 9; i++)
            len = (len << 8) | c->in[i];
    else
        len = c->in[1];
    if (len > IN_MAX - hl || c->in_len < hl + len)
        return len > IN_MAX - hl ? -2 : -1;
    *data = c->in + hl;
    *used = hl + len;
    return (long)len;
}

static void consume(conn_t *c, size_t n)
{
    memmove(c->in, c->in + n, c->in_len - n);
    c->in_len -= n;
}

/* Queues HELLO (after the server's greeting). Returns 0, or -1. */
static int send_hello(conn_t *c)
{
    uint8_t hello[200] = {0}, nonce[24], plain[64] = {0};
    crypto_box_keypair(c->cn_pub, c->cn_sec);
    memcpy(nonce, "CurveZMQHELLO---", 16);
    put_u64(nonce + 16, 1);
    memcpy(hello, "\x05HELLO\x01\x00", 8);
    memcpy(hello + 80, c->cn_pub, 32);
    memcpy(hello + 112, nonce + 16, 8);
    if (crypto_box_easy(hello + 120, plain, 64, nonce, server_pub, c->cn_sec) != 0)
        return -1;
    queue_frame(c, 0x04, hello, sizeof hello);
    c->state = S_WELCOME;
    return 0;
}

/* Handles WELCOME; sends INITIATE. Returns 0, or -1 if it is not one. */
static int on_welcome(conn_t *c, const uint8_t *w, size_t len)
{
    uint8_t nonce[24], plain[128], vouch_plain[64], vouch_nonce[24], vouch[80];
    uint8_t init_plain[128 + 64], init[113 + sizeof init_plain + 16];
    size_t md = 0;
    if (len != 168 || memcmp(w, "\x07WELCOME", 8) != 0)
        return -1;
    memcpy(nonce, "WELCOME-", 8);
    memcpy(nonce + 8, w + 8, 16);
    if (crypto_box_open_easy(plain, w + 24, 144, nonce, server_pub, c->cn_sec) != 0)
        return -1;
    memcpy(c->cn_server, plain, 32);
    memcpy(vouch_plain, c->cn_pub, 32);
    memcpy(vouch_plain + 32, server_pub, 32);
    memcpy(vouch_nonce, "VOUCH---", 8);
    randombytes_buf(vouch_nonce + 8, 16);
    if (crypto_box_easy(vouch, vouch_plain, 64, vouch_nonce, c->cn_server, client_sec) != 0)
        return -1;
    memcpy(init_plain, client_pub, 32);
    memcpy(init_plain + 32, vouch_nonce + 8, 16);
    memcpy(init_plain + 48, vouch, 80);
    size_t tl = strlen(socket_type);
    init_plain[128 + md++] = 11;
    memcpy(init_plain + 128 + md, "Socket-Type", 11);
    md += 11;
    init_plain[128 + md++] = 0; /* the value's length: 4 bytes, big-endian */
    init_plain[128 + md++] = 0;
    init_plain[128 + md++] = 0;
    init_plain[128 + md++] = (uint8_t)tl;
    memcpy(init_plain + 128 + md, socket_type, tl);
    md += tl;
    memcpy(nonce, "CurveZMQINITIATE", 16);
    put_u64(nonce + 16, 2);
    memcpy(init, "\x08INITIATE", 9);
    memcpy(init + 9, plain + 32, 96); /* the cookie */
    memcpy(init + 105, nonce + 16, 8);
    if (crypto_box_easy(init + 113, init_plain, 128 + md, nonce, c->cn_server, c->cn_sec) != 0)
        return -1;
    queue_frame(c, 0x04, init, 113 + 128 + md + 16);
    c->state = S_READY;
    return 0;
}

/* Reads what the daemon sent; advances the handshake. Returns -1 when the
 * connection is over. */
static int on_readable(conn_t *c)
{
    uint8_t scratch[4096];
    uint8_t *dst = c->state == S_STREAM || c->state == S_HOLD ? scratch : c->in + c->in_len;
    size_t room = dst == scratch ? sizeof scratch : IN_MAX - c->in_len;
    ssize_t n = read(c->fd, dst, room);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
        return -1;
    if (n < 0 || dst == scratch)
        return 0;
    c->in_len += (size_t)n;
    if (c->state == S_GREET) {
        if (c->in_len < 64)
            return 0;
        consume(c, 64);
        if (c->out_off < c->out_len)
            return 0; /* our greeting first; hello is sent from on_writable */
        if (send_hello(c) < 0)
            return -1;
    }
    for (;;) {
        const uint8_t *data;
        size_t used;
        long len = next_frame(c, &data, &used);
        if (len == -2)
            return -1;
        if (len < 0)
            return 0;
        if (len >= 6 && memcmp(data,
                               "\x05"
                               "ERROR",
                               6) == 0)
            return -1;
        if (c->state == S_WELCOME) {
            if (on_welcome(c, data, (size_t)len) < 0)
                return -1;
        } else if (c->state == S_READY) {
            if (len < 6 || memcmp(data, "\x05READY", 6) != 0)
                return -1;
            n_handshakes++;
            consume(c, used);
            start_stream(c, 0);
            return 0;
        }
        consume(c, used);
    }
}

/* Writes what is queued. Returns -1 when the connection is over. */
static int on_writable(conn_t *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n < 0)
            return errno == EAGAIN ? 0 : -1;
        c->out_off += (size_t)n;
    }
    if (c->state == S_GREET && with_key && c->in_len >= 64) {
        consume(c, 64);
        if (send_hello(c) < 0)
            return -1;
        return on_writable(c);
    }
    while (c->state == S_STREAM && c->left > 0) {
        size_t k = c->left < CHUNK ? (size_t)c->left : CHUNK;
        ssize_t n = send(c->fd, zeros, k, MSG_NOSIGNAL);
        if (n < 0)
            return errno == EAGAIN ? 0 : -1;
        c->left -= (uint64_t)n;
        n_bytes += (uint64_t)n;
    }
    if (c->state == S_STREAM)
        c->state = S_HOLD;
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"conns", required_argument, NULL, 'c'},
                                         {"seconds", required_argument, NULL, 's'},
                                         {"size", required_argument, NULL, 'b'},
                                         {"body", required_argument, NULL, 'B'},
                                         {"key", required_argument, NULL, 'k'},
                                         {"server-key", required_argument, NULL, 'S'},
                                         {"socket-type", required_argument, NULL, 't'},
                                         {"sources", required_argument, NULL, 'A'},
                                         {NULL, 0, NULL, 0}};
    static conn_t conns[MAX_CONNS];
    const char *key = NULL, *skey = NULL;
    int nconns = 64, c, sources = 0;
    double seconds = 5;
    int body_set = 0;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            nconns = atoi(optarg);
            break;
        case 's':
            seconds = atof(optarg);
            break;
        case 'b':
            declared = strtoull(optarg, NULL, 10);
            break;
        case 'B':
            body = strtoull(optarg, NULL, 10);
            body_set = 1;
            break;
        case 'k':
            key = optarg;
            break;
        case 'S':
            skey = optarg;
            break;
        case 't':
            socket_type = optarg;
            break;
        case 'A':
            sources = atoi(optarg);
            break;
        default:
            usage();
        }
    }
    if (argc - optind != 1 || nconns < 1 || nconns > MAX_CONNS || seconds <= 0 || seconds > 120 ||
        !declared || (!key != !skey) || strlen(socket_type) > 16 || sources < 0 || sources > 250 ||
        parse_endpoint(argv[optind]) < 0 ||
        (sources && strncmp(argv[optind], "tcp://127.0.0.1:", 16) != 0))
        usage();
    if (!body_set || body > declared)
        body = declared;
    if (sodium_init() < 0)
        return 2;
    if (key) {
        char pub[COHORT_KEY_Z85_LEN + 1], sec[COHORT_KEY_Z85_LEN + 1], spub[COHORT_KEY_Z85_LEN + 1];
        char err[512];
        if (cohort_keys_load(key, pub, sec, err, sizeof err) < 0 ||
            cohort_keys_load(skey, spub, NULL, err, sizeof err) < 0) {
            fprintf(stderr, "zoversize: %s\n", err);
            return 2;
        }
        cohort_keys_decode(pub, COHORT_KEY_Z85_LEN, client_pub);
        cohort_keys_decode(sec, COHORT_KEY_Z85_LEN, client_sec);
        cohort_keys_decode(spub, COHORT_KEY_Z85_LEN, server_pub);
        with_key = 1;
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGPIPE, SIG_IGN);
    double end = now_s() + seconds;
    for (int i = 0; i < nconns; i++) {
        conns[i].fd = -1;
        conns[i].src = sources ? 2 + i % sources : 0;
        open_conn(&conns[i]);
    }
    printf("ready\n");
    fflush(stdout);
    while (!stop && now_s() < end) {
        struct pollfd p[MAX_CONNS];
        double now = now_s();
        for (int i = 0; i < nconns; i++) {
            conn_t *k = &conns[i];
            if (k->fd < 0 && now >= k->again)
                open_conn(k);
            p[i] = (struct pollfd){k->fd, POLLIN, 0};
            if (k->fd >= 0 && (k->out_off < k->out_len || k->state == S_STREAM))
                p[i].events |= POLLOUT;
        }
        poll(p, (nfds_t)nconns, 20);
        now = now_s();
        for (int i = 0; i < nconns; i++) {
            conn_t *k = &conns[i];
            if (k->fd < 0)
                continue;
            int over = 0;
            if (p[i].revents & (POLLIN | POLLHUP | POLLERR))
                over = on_readable(k) < 0;
            if (!over && (p[i].revents & POLLOUT))
                over = on_writable(k) < 0;
            if (over) {
                if (k->state == S_STREAM || k->state == S_HOLD)
                    n_dropped++;
                else
                    n_refused++;
                close_conn(k, now);
            }
        }
    }
    printf("{\"connects\":%llu,\"handshakes\":%llu,\"refused\":%llu,\"dropped\":%llu,"
           "\"bytes\":%llu}\n",
           (unsigned long long)n_connects, (unsigned long long)n_handshakes,
           (unsigned long long)n_refused, (unsigned long long)n_dropped,
           (unsigned long long)n_bytes);
    fflush(stdout);
    for (int i = 0; i < nconns; i++)
        if (conns[i].fd >= 0)
            close(conns[i].fd);
    sodium_memzero(client_sec, sizeof client_sec);
    return 0;
}
