/* redis_xadd_rate: an open-loop, rate-limited Redis Streams XADD load
 * generator for tests/perf/compare, the Redis counterpart of
 * `cohort-bench --rate` (redis-benchmark has no rate limit).
 *
 * It mirrors cohort-bench's schedule: events are dealt round-robin over C
 * connections, event i (global index) is due at start + i / RATE, each
 * connection has at most W commands unanswered, and an event's latency is
 * from its intended send time to its reply (so a late send counts as
 * latency). Without -r it sends as fast as the window allows and latency is
 * from the send. One thread, epoll, non-blocking sockets, hiredis's reply
 * parser only (Debian's libhiredis-dev). Loopback TCP only.
 *
 * Output: one JSON line (events, seconds, events_per_sec, p50_us, p99_us,
 * p999_us, max_us, errors). Exit status 0 all replied without error, 1
 * otherwise, 2 usage error. Every wait is bounded by -D seconds. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define TICK_MIN_US 100 /* finest schedule tick, as cohort-bench */

/* One connection: its socket, unsent bytes, and the intended send times of
 * its unanswered commands (a ring of window entries). */
typedef struct {
    int fd;          /* non-blocking TCP socket */
    redisReader *rd; /* reply parser */
    char *out;       /* bytes not yet written */
    size_t out_len, out_cap;
    uint64_t *t0; /* ring: intended (or first) send time, us */
    unsigned head, inflight;
    uint64_t next, total; /* next event of this connection's share; share */
    uint64_t done;        /* replies received */
    int want_out;         /* EPOLLOUT registered */
} conn_t;

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void usage(FILE *f)
{
    fprintf(f, "Usage: redis_xadd_rate -p PORT [-c CONNS] [-w WINDOW] [-n EVENTS] [-s BYTES]\n"
               "                       [-r RATE] [-D SECONDS] [-k KEY]\n"
               "XADD KEY * f <BYTES> to redis-server on 127.0.0.1:PORT over CONNS connections\n"
               "(default 16), WINDOW unanswered per connection (default 64), EVENTS in all\n"
               "(default 100000), at RATE/s in total, open loop (default: unlimited), for at\n"
               "most SECONDS (default 120). Prints one JSON line.\n");
}

int main(int argc, char **argv)
{
    unsigned conns = 16, window = 64, port = 0;
    uint64_t events = 100000;
    size_t size = 200;
    double rate = 0, limit_s = 120;
    const char *key = "cohortbench";
    int opt;
    while ((opt = getopt(argc, argv, "p:c:w:n:s:r:D:k:h")) != -1) {
        switch (opt) {
        case 'p':
            port = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'c':
            conns = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'w':
            window = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case 'n':
            events = strtoull(optarg, NULL, 10);
            break;
        case 's':
            size = strtoul(optarg, NULL, 10);
            break;
        case 'r':
            rate = strtod(optarg, NULL);
            break;
        case 'D':
            limit_s = strtod(optarg, NULL);
            break;
        case 'k':
            key = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (!port || port > 65535 || !conns || conns > 1024 || !window || window > 100000 || !events ||
        events > 100000000 || !size || size > 1000000 || rate < 0 || !(limit_s > 0)) {
        usage(stderr);
        return 2;
    }

    char *val = malloc(size);
    uint64_t *lat = malloc(events * sizeof *lat);
    conn_t *c = calloc(conns, sizeof *c);
    char *cmd = NULL, *buf = malloc(65536);
    int ep = epoll_create1(EPOLL_CLOEXEC), tfd = -1, rc = 1;
    if (!val || !lat || !c || !buf || ep < 0) {
        fprintf(stderr, "redis_xadd_rate: out of memory or epoll: %s\n", strerror(errno));
        return 1;
    }
    memset(val, 'x', size);
    int cmd_len = redisFormatCommand(&cmd, "XADD %s * f %b", key, val, size);
    if (cmd_len < 0) {
        fprintf(stderr, "redis_xadd_rate: cannot format the command\n");
        return 1;
    }

    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (unsigned i = 0; i < conns; i++) {
        conn_t *k = &c[i];
        k->total = events / conns + (i < events % conns);
        k->t0 = malloc(window * sizeof *k->t0);
        k->rd = redisReaderCreate();
        k->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1;
        if (!k->t0 || !k->rd || k->fd < 0 ||
            connect(k->fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
            fprintf(stderr, "redis_xadd_rate: cannot connect to 127.0.0.1:%u: %s\n", port,
                    strerror(errno));
            return 1;
        }
        setsockopt(k->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        fcntl(k->fd, F_SETFL, fcntl(k->fd, F_GETFL) | O_NONBLOCK);
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = i};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, k->fd, &ev) < 0) {
            fprintf(stderr, "redis_xadd_rate: epoll_ctl: %s\n", strerror(errno));
            return 1;
        }
    }
    if (rate > 0) {
        double iv = 1e9 / rate < TICK_MIN_US * 1e3 ? TICK_MIN_US * 1e3 : 1e9 / rate;
        struct itimerspec its = {
            .it_interval = {(time_t)(iv / 1e9), (long)((uint64_t)iv % 1000000000u)},
            .it_value = {0, 1000}};
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = UINT32_MAX};
        if ((tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)) < 0 ||
            timerfd_settime(tfd, 0, &its, NULL) < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev) < 0) {
            fprintf(stderr, "redis_xadd_rate: timer: %s\n", strerror(errno));
            return 1;
        }
    }

    uint64_t start = now_us(), deadline = start + (uint64_t)(limit_s * 1e6), nlat = 0, errors = 0,
             end = start;
    uint64_t done = 0;
    while (done < events) {
        uint64_t now = now_us();
        if (now >= deadline) {
            fprintf(stderr, "redis_xadd_rate: stopped after %.0f s with %llu of %llu replies\n",
                    limit_s, (unsigned long long)done, (unsigned long long)events);
            break;
        }
        /* Queue what is due and write what is queued. */
        for (unsigned i = 0; i < conns; i++) {
            conn_t *k = &c[i];
            while (k->next < k->total && k->inflight < window) {
                uint64_t t0 = now;
                if (rate > 0) {
                    double idx = (double)i + (double)k->next * (double)conns;
                    t0 = start + (uint64_t)(idx * 1e6 / rate);
                    if (t0 > now)
                        break;
                }
                if (k->out_len + (size_t)cmd_len > k->out_cap) {
                    size_t cap = k->out_cap ? k->out_cap * 2 : 4096;
                    while (cap < k->out_len + (size_t)cmd_len)
                        cap *= 2;
                    char *p = realloc(k->out, cap);
                    if (!p) {
                        fprintf(stderr, "redis_xadd_rate: out of memory\n");
                        return 1;
                    }
                    k->out = p;
                    k->out_cap = cap;
                }
                memcpy(k->out + k->out_len, cmd, (size_t)cmd_len);
                k->out_len += (size_t)cmd_len;
                k->t0[(k->head + k->inflight) % window] = t0;
                k->inflight++;
                k->next++;
            }
            if (k->out_len) {
                ssize_t w = write(k->fd, k->out, k->out_len);
                if (w < 0 && errno != EAGAIN && errno != EINTR) {
                    fprintf(stderr, "redis_xadd_rate: write: %s\n", strerror(errno));
                    goto out;
                }
                if (w > 0) {
                    memmove(k->out, k->out + w, k->out_len - (size_t)w);
                    k->out_len -= (size_t)w;
                }
            }
            int want = k->out_len > 0;
            if (want != k->want_out) {
                struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0u), .data.u32 = i};
                epoll_ctl(ep, EPOLL_CTL_MOD, k->fd, &ev);
                k->want_out = want;
            }
        }
        struct epoll_event evs[64];
        int n = epoll_wait(ep, evs, 64, 100);
        if (n < 0 && errno != EINTR) {
            fprintf(stderr, "redis_xadd_rate: epoll_wait: %s\n", strerror(errno));
            goto out;
        }
        for (int e = 0; e < n; e++) {
            if (evs[e].data.u32 == UINT32_MAX) {
                uint64_t ticks;
                if (read(tfd, &ticks, sizeof ticks) < 0 && errno != EAGAIN) {
                    fprintf(stderr, "redis_xadd_rate: timerfd: %s\n", strerror(errno));
                    goto out;
                }
                continue;
            }
            conn_t *k = &c[evs[e].data.u32];
            if (!(evs[e].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
                continue;
            ssize_t r = read(k->fd, buf, 65536);
            if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
                fprintf(stderr, "redis_xadd_rate: connection lost: %s\n",
                        r == 0 ? "closed by the server" : strerror(errno));
                goto out;
            }
            if (r < 0)
                continue;
            uint64_t t = now_us();
            void *reply;
            if (redisReaderFeed(k->rd, buf, (size_t)r) != REDIS_OK) {
                fprintf(stderr, "redis_xadd_rate: bad reply stream\n");
                goto out;
            }
            while (redisReaderGetReply(k->rd, &reply) == REDIS_OK && reply) {
                if (((redisReply *)reply)->type == REDIS_REPLY_ERROR) {
                    if (!errors)
                        fprintf(stderr, "redis_xadd_rate: %s\n", ((redisReply *)reply)->str);
                    errors++;
                }
                freeReplyObject(reply);
                if (!k->inflight) {
                    fprintf(stderr, "redis_xadd_rate: a reply to nothing sent\n");
                    goto out;
                }
                uint64_t t0 = k->t0[k->head];
                k->head = (k->head + 1) % window;
                k->inflight--;
                k->done++;
                done++;
                lat[nlat++] = t > t0 ? t - t0 : 0;
                end = t;
            }
        }
    }
    rc = done == events && !errors ? 0 : 1;
out:;
    double secs = (double)(end - start) / 1e6;
    qsort(lat, nlat, sizeof *lat, cmp_u64);
#define Q(p) (nlat ? lat[(size_t)((double)(nlat - 1) * (p))] : 0)
    printf("{\"events\":%llu,\"seconds\":%.6f,\"events_per_sec\":%.1f,\"p50_us\":%llu,"
           "\"p99_us\":%llu,\"p999_us\":%llu,\"max_us\":%llu,\"errors\":%llu,\"rate\":%.1f}\n",
           (unsigned long long)done, secs, secs > 0 ? (double)done / secs : 0.0,
           (unsigned long long)Q(0.50), (unsigned long long)Q(0.99), (unsigned long long)Q(0.999),
           (unsigned long long)(nlat ? lat[nlat - 1] : 0), (unsigned long long)errors, rate);
    for (unsigned i = 0; i < conns; i++) {
        close(c[i].fd);
        redisReaderFree(c[i].rd);
        free(c[i].t0);
        free(c[i].out);
    }
    if (tfd >= 0)
        close(tfd);
    close(ep);
    free(c);
    free(lat);
    free(val);
    free(buf);
    redisFreeCommand(cmd);
    return rc;
}
